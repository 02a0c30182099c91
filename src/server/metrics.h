/* What tetherd reports about itself: the DESCRIBE document (server, types, slots with
 * their reservations, memory in use against quota, and counters) and the same numbers as
 * Prometheus text on an optional HTTP endpoint. */
#ifndef TT_SERVER_METRICS_H
#define TT_SERVER_METRICS_H

#include "core/status.h"

typedef struct tt_server tt_server;
typedef struct tt_slot tt_slot;

/* JSON; `mine` (may be NULL) is the asking connection's slot, described under "attached".
 * *out is tt_malloc'ed. Tokens and their digests never appear. */
tt_status tt_metrics_describe_json(tt_server *srv, const tt_slot *mine, char **out);
/* The same with every slot in detail (holders, memory used, activity): the operator's view,
 * for the status page, which is behind the tenants' API keys when there are keys. */
tt_status tt_metrics_describe_all_json(tt_server *srv, char **out);
/* Prometheus text exposition; *out is tt_malloc'ed. */
tt_status tt_metrics_prometheus(tt_server *srv, char **out);
/* Serves /metrics on cfg.metrics_listen when set (needs libmicrohttpd). */
tt_status tt_metrics_start(tt_server *srv);
void tt_metrics_stop(tt_server *srv);

#endif
