/* tetherd's HTTP/REST endpoint (libmicrohttpd): the KServe v2 inference protocol over the
 * model repository, the repository extension (index, load, unload), Prometheus /metrics
 * and the status page at /. Requests are parsed on the HTTP threads; inferences go to
 * the batcher and the slot scheduler, and the connection is suspended until a worker has
 * the answer, so no HTTP thread ever runs a model. */
#ifndef TT_SERVER_HTTP_H
#define TT_SERVER_HTTP_H

#include "core/status.h"

typedef struct tt_server tt_server;

/* Serves cfg.http_listen when set (needs libmicrohttpd). */
tt_status tt_http_start(tt_server *srv);
/* Refuses new connections (the server is stopping). */
void tt_http_quiesce(tt_server *srv);
/* Waits for repository loads in progress, then stops the daemon (after the scheduler
 * stopped, so every suspended request has had its answer). */
void tt_http_stop(tt_server *srv);

/* The status page: one self-contained HTML document; *out tt_malloc'ed. */
tt_status tt_status_page_html(tt_server *srv, char **out);

#endif
