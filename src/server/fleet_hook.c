/* tetherd in a fleet: the slots as fleet records, the advertised endpoint, and the choice
 * of TLS per listener. The publisher (fleet/publish.c) does all etcd I/O on its own
 * thread; this file only hands it copies of slot state. */
#include "server/fleet_hook.h"

#include "core/log.h"
#include "fleet/publish.h"
#include "net/tls.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

static void slot_record(const tt_server *srv, const tt_slot *s, tt_fleet_slot *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->server, sizeof r->server, "%s", srv->id);
    r->index = s->index;
    snprintf(r->type, sizeof r->type, "%s", s->type.name);
    r->memory_bytes = s->type.memory_bytes;
    r->tflops = s->rate / 1e12;
    /* a slot serving the model repository is not attachable: not free for the fleet either */
    r->attached = s->reserved || s->repo_models > 0;
    if (s->reserved) {
        snprintf(r->attachment, sizeof r->attachment, "%s", s->id);
        snprintf(r->holder, sizeof r->holder, "%s", s->holder);
    } else if (s->repo_models > 0) {
        snprintf(r->holder, sizeof r->holder, "(model repository)");
    }
}

void tt_server_fleet_slot(tt_server *srv, const tt_slot *slot)
{
    if (!srv->fleet)
        return;
    tt_fleet_slot r;
    slot_record(srv, slot, &r);
    tt_fleet_pub_slot(srv->fleet, &r);
}

/* The endpoint clients are told: --advertise, else the first TCP listener's address when it
 * is not a wildcard; tls:// when that listener speaks TLS. */
static tt_status advertised(const tt_server *srv, char *out, size_t n, bool *tls)
{
    const tt_listener *tcp = NULL;
    for (int i = 0; i < srv->n_listeners && !tcp; i++)
        if (!srv->listeners[i].ep.is_unix)
            tcp = &srv->listeners[i];
    if (!tcp)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "--fleet needs a TCP listener (--listen HOST:PORT)");
    *tls = tcp->tls != NULL;
    if (srv->cfg.advertise[0]) {
        tt_endpoint ep;
        TT_TRY(tt_endpoint_parse(srv->cfg.advertise, &ep));
        if (ep.is_unix)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "--advertise '%s': expected HOST:PORT", srv->cfg.advertise);
        bool v6 = strchr(ep.host, ':') != NULL;
        snprintf(out, n, "%s://%s%s%s:%s", *tls ? "tls" : "tcp", v6 ? "[" : "", ep.host, v6 ? "]" : "", ep.port);
        return TT_OK;
    }
    const char *h = tcp->ep.host;
    if (!h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "--fleet: the listener %s is a wildcard address, which clients cannot reach: give "
                        "--advertise HOST:PORT",
                        tcp->ep.text);
    snprintf(out, n, "%s", tcp->ep.text);
    return TT_OK;
}

tt_status tt_server_fleet_start(tt_server *srv)
{
    const tt_server_config *cfg = &srv->cfg;
    if (!cfg->fleet[0])
        return TT_OK;
    tt_fleet_pub_config pc;
    memset(&pc, 0, sizeof pc);
    pc.urls = cfg->fleet;
    snprintf(pc.tls.ca, sizeof pc.tls.ca, "%s", cfg->fleet_ca);
    snprintf(pc.tls.cert, sizeof pc.tls.cert, "%s", cfg->fleet_cert);
    snprintf(pc.tls.key, sizeof pc.tls.key, "%s", cfg->fleet_key);
    pc.ttl_s = cfg->fleet_ttl_s;
    pc.claim_timeout_s = cfg->claim_timeout_s;
    snprintf(pc.server.id, sizeof pc.server.id, "%s", srv->id);
    TT_TRY(advertised(srv, pc.server.endpoint, sizeof pc.server.endpoint, &pc.server.tls));
    snprintf(pc.server.zone, sizeof pc.server.zone, "%s", cfg->zone);
    snprintf(pc.server.device, sizeof pc.server.device, "%s", srv->dev.name);
    snprintf(pc.server.version, sizeof pc.server.version, "%s", tether_version());
    tt_fleet_slot *slots = tt_calloc((size_t)srv->n_slots + 1, sizeof *slots);
    if (!slots)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    pthread_mutex_lock(&srv->slots_lock);
    for (int i = 0; i < srv->n_slots; i++)
        slot_record(srv, &srv->slots[i], &slots[i]);
    pthread_mutex_unlock(&srv->slots_lock);
    pc.slots = slots;
    pc.n_slots = srv->n_slots;
    tt_fleet_pub *pub;
    tt_status st = tt_fleet_pub_start(&pc, &pub);
    tt_free(slots);
    if (st != TT_OK)
        return tt_error_prefix(st, "--fleet: ");
    /* published under the lock, so that no change made meanwhile is lost */
    pthread_mutex_lock(&srv->slots_lock);
    srv->fleet = pub;
    for (int i = 0; i < srv->n_slots; i++)
        tt_server_fleet_slot(srv, &srv->slots[i]);
    pthread_mutex_unlock(&srv->slots_lock);
    return TT_OK;
}

void tt_server_fleet_stop(tt_server *srv)
{
    if (!srv->fleet)
        return;
    pthread_mutex_lock(&srv->slots_lock);
    tt_fleet_pub *pub = srv->fleet;
    srv->fleet = NULL;
    pthread_mutex_unlock(&srv->slots_lock);
    tt_fleet_pub_stop(pub);
}

/* ---- TLS on the listeners -------------------------------------------------------------- */

tt_status tt_server_listener_tls(tt_server *srv, tt_endpoint *ep, struct tt_tls_ctx **ctx)
{
    const tt_server_config *cfg = &srv->cfg;
    *ctx = NULL;
    if (ep->is_unix)
        return TT_OK; /* a Unix socket never leaves the host; its file mode guards it */
    bool loopback = tt_endpoint_is_loopback(ep);
    bool want = cfg->tls == TT_TLS_ON || (cfg->tls == TT_TLS_AUTO && !loopback) || ep->tls;
    if (!want) {
        if (!loopback)
            tt_log(TT_LOG_WARN, "serving plain TCP on %s, which is not loopback (--tls off): tokens and tensors "
                                "cross the network unencrypted",
                   ep->text);
        return TT_OK;
    }
    if (!cfg->tls_cert[0] || !cfg->tls_key[0])
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "listening on %s:%s needs TLS%s: give --tls-cert FILE and --tls-key FILE (and --tls-client-ca "
                        "FILE to require client certificates), or --tls off to serve plain TCP",
                        ep->host, ep->port, loopback ? " (--tls on)" : ", as it is not a loopback address");
    if (!srv->tls_ctx) {
        tt_tls_files f;
        memset(&f, 0, sizeof f);
        snprintf(f.cert, sizeof f.cert, "%s", cfg->tls_cert);
        snprintf(f.key, sizeof f.key, "%s", cfg->tls_key);
        snprintf(f.ca, sizeof f.ca, "%s", cfg->tls_client_ca);
        TT_TRY(tt_tls_ctx_server(&f, &srv->tls_ctx));
    }
    ep->tls = true;
    *ctx = srv->tls_ctx;
    return TT_OK;
}

void tt_server_tls_free(tt_server *srv)
{
    tt_tls_ctx_free(srv->tls_ctx);
    srv->tls_ctx = NULL;
}
