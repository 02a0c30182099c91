/* TLS on the HTTP ports: the wire listener's policy and files, handed to libmicrohttpd as
 * PEM text. With --tls-client-ca, libmicrohttpd is given the CA as its trust list, which
 * makes GnuTLS ask each client for a certificate; checking it is left to the caller: here,
 * with GnuTLS, once per connection, before the first request on it is served. */
#include "server/http_tls.h"

#include "core/log.h"
#include "core/mem.h"
#include "model/model.h"
#include "server/server.h"

#include <string.h>

#ifdef TETHER_HAVE_GNUTLS
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#endif

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
    if (st == TT_OK && cfg->tls_client_ca[0]) {
#ifdef TETHER_HAVE_GNUTLS
        st = read_pem(cfg->tls_client_ca, &t->ca);
#else
        st = tt_error(TETHER_ERR_UNSUPPORTED, "--tls-client-ca: this tetherd was built without GnuTLS's headers, "
                      "so it cannot check client certificates on its HTTP port (rebuild after scripts/deps.sh)");
#endif
    }
    if (st != TT_OK) {
        tt_http_tls_free(t);
        return tt_error_prefix(st, "%s: ", what);
    }
    return TT_OK;
}

void tt_http_tls_free(tt_http_tls *t)
{
    if (t->key)
        memset(t->key, 0, strlen(t->key));
    tt_free(t->cert);
    tt_free(t->key);
    tt_free(t->ca);
    memset(t, 0, sizeof *t);
}

#ifdef TETHER_HAVE_MHD
unsigned int tt_http_tls_flags(const tt_http_tls *t)
{
    return t->on ? MHD_USE_TLS : 0;
}

/* Each connection's verdict on its client certificate: 0 not checked yet, 1 accepted, -1
 * refused. Allocated when the connection starts, freed when it ends. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls, (void)conn;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = tt_calloc(1, sizeof(int));
    } else {
        tt_free(*socket_context);
        *socket_context = NULL;
    }
}

void tt_http_tls_options(const tt_http_tls *t, struct MHD_OptionItem opts[TT_HTTP_TLS_OPTIONS])
{
    int n = 0;
    if (t->on) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->key};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert};
    }
    if (t->on && t->ca) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, t->ca};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

bool tt_http_tls_client_ok(const tt_http_tls *t, struct MHD_Connection *conn, char *why, size_t n)
{
    if (!t->on || !t->ca)
        return true;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    int *verdict = ci ? ci->socket_context : NULL;
    if (verdict && *verdict > 0)
        return true;
    snprintf(why, n, "this port requires a client certificate signed by the server's --tls-client-ca");
    if (verdict && *verdict < 0)
        return false;
    bool ok = false;
#ifdef TETHER_HAVE_GNUTLS
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t s = ci ? ci->tls_session : NULL;
    unsigned int certs = 0;
    if (!s || !gnutls_certificate_get_peers(s, &certs) || certs == 0) {
        snprintf(why, n, "this port requires a client certificate signed by the server's --tls-client-ca: none was "
                 "presented");
    } else {
        /* the chain up to the CA, the dates, and a key usage that allows a TLS client */
        gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT};
        unsigned int status = 0;
        int rc = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
        ok = rc == GNUTLS_E_SUCCESS && status == 0;
        if (!ok) {
            gnutls_datum_t text = {NULL, 0};
            if (rc == GNUTLS_E_SUCCESS)
                gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0);
            snprintf(why, n, "the client certificate is not accepted: %s",
                     rc != GNUTLS_E_SUCCESS ? gnutls_strerror(rc) : text.data ? (const char *)text.data : "not trusted");
            gnutls_free(text.data);
        }
    }
#endif
    if (verdict)
        *verdict = ok ? 1 : -1;
    if (!ok)
        tt_log(TT_LOG_INFO, "HTTPS: refused a client: %s", why);
    return ok;
}
#endif
