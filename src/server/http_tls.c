/* TLS on the HTTP ports: the wire listener's policy and files, handed to libmicrohttpd as
 * PEM text. Client certificates (--tls-client-ca) are checked on the wire listener only:
 * libmicrohttpd leaves checking them to GnuTLS calls of the caller's, which tether does not
 * make; such a port says so in the log. */
#include "server/http_tls.h"

#include "core/log.h"
#include "core/mem.h"
#include "model/model.h"
#include "server/server.h"

#include <string.h>

static tt_status read_pem(const char *path, char **out)
{
    void *data;
    size_t n;
    TT_TRY(tt_read_file(path, 1u << 20, &data, &n));
    char *s = tt_malloc(n + 1);
    if (!s) {
        tt_free(data);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(s, data, n);
    s[n] = 0;
    tt_free(data);
    *out = s;
    return TT_OK;
}

tt_status tt_http_tls_prepare(tt_server *srv, const tt_endpoint *ep, const char *what, tt_http_tls *t)
{
    const tt_server_config *cfg = &srv->cfg;
    memset(t, 0, sizeof *t);
    bool lo = tt_endpoint_is_loopback(ep);
    t->on = cfg->tls == TT_TLS_ON || (cfg->tls == TT_TLS_AUTO && !lo);
    if (!t->on) {
        if (!lo)
            tt_log(TT_LOG_WARN, "%s on %s:%s serves plain HTTP (--tls off)", what, ep->host, ep->port);
        return TT_OK;
    }
#ifndef TETHER_HAVE_MHD
    return tt_error(TETHER_ERR_UNSUPPORTED, "%s: built without libmicrohttpd", what);
#else
    if (!(MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES))
        return tt_error(TETHER_ERR_UNSUPPORTED, "%s on %s:%s needs TLS, and this libmicrohttpd has none (--tls off "
                        "serves plain HTTP)", what, ep->host, ep->port);
#endif
    if (!cfg->tls_cert[0] || !cfg->tls_key[0])
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "%s on %s:%s needs TLS%s: give --tls-cert FILE and --tls-key FILE, or --tls off to serve "
                        "plain HTTP",
                        what, ep->host, ep->port, lo ? " (--tls on)" : ", as it is not a loopback address");
    tt_status st = read_pem(cfg->tls_cert, &t->cert);
    if (st == TT_OK)
        st = read_pem(cfg->tls_key, &t->key);
    if (st != TT_OK) {
        tt_http_tls_free(t);
        return tt_error_prefix(st, "%s: ", what);
    }
    if (cfg->tls_client_ca[0])
        tt_log(TT_LOG_WARN, "%s: HTTPS without client certificates (--tls-client-ca applies to the wire listener)",
               what);
    return TT_OK;
}

void tt_http_tls_free(tt_http_tls *t)
{
    if (t->key)
        memset(t->key, 0, strlen(t->key));
    tt_free(t->cert);
    tt_free(t->key);
    memset(t, 0, sizeof *t);
}

#ifdef TETHER_HAVE_MHD
unsigned int tt_http_tls_flags(const tt_http_tls *t)
{
    return t->on ? MHD_USE_TLS : 0;
}

void tt_http_tls_options(const tt_http_tls *t, struct MHD_OptionItem opts[3])
{
    int n = 0;
    if (t->on) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->key};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}
#endif
