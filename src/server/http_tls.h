/* TLS for tetherd's HTTP ports (libmicrohttpd, whose TLS is GnuTLS): the same certificate
 * and key as the wire listener, under the same policy (--tls: on every port that is not
 * loopback). A port built on MHD_start_daemon passes the flag and the options made here. */
#ifndef TT_SERVER_HTTP_TLS_H
#define TT_SERVER_HTTP_TLS_H

#include "core/status.h"
#include "net/sock.h"

#include <stdbool.h>

typedef struct tt_server tt_server;

typedef struct tt_http_tls {
    bool on;
    char *cert, *key; /* PEM text, kept while the daemon runs */
} tt_http_tls;

/* Decides TLS for an HTTP port on ep (what: "--metrics", for messages) and loads the
 * certificate and key when it is on. Refuses a non-loopback port without certificates
 * unless --tls off. */
tt_status tt_http_tls_prepare(tt_server *srv, const tt_endpoint *ep, const char *what, tt_http_tls *t);
void tt_http_tls_free(tt_http_tls *t);

#ifdef TETHER_HAVE_MHD
#include <microhttpd.h>
/* The daemon flag (MHD_USE_TLS or 0) and an option array (ending in MHD_OPTION_END) for
 * MHD_OPTION_ARRAY. */
unsigned int tt_http_tls_flags(const tt_http_tls *t);
void tt_http_tls_options(const tt_http_tls *t, struct MHD_OptionItem opts[3]);
#endif

#endif
