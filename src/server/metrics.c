/* DESCRIBE as JSON (cJSON) and /metrics as Prometheus text. Both read a snapshot taken
 * under the slots and scheduler locks, so a report never mixes two moments of one slot. */
#include "server/metrics.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/strbuf.h"
#include "server/http_tls.h"
#include "server/repo.h"
#include "server/server.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef TETHER_HAVE_MHD
#include <microhttpd.h>
#endif

typedef struct slot_snap {
    const tt_slot *slot;
    bool reserved, repo; /* repo: serves the model repository (not attachable) */
    char id[TT_WIRE_MAX_ID + 1], holder[TT_WIRE_MAX_ID + 1];
    int64_t expires_s, created_s;
    uint64_t mem_used;
    int models;
    tt_slot_counters c;
    int queued, running;
} slot_snap;

static slot_snap *snapshot(tt_server *srv)
{
    slot_snap *sn = tt_calloc((size_t)srv->n_slots + 1, sizeof *sn);
    if (!sn)
        return NULL;
    pthread_mutex_lock(&srv->slots_lock);
    for (int i = 0; i < srv->n_slots; i++) {
        const tt_slot *s = &srv->slots[i];
        sn[i].slot = s;
        sn[i].reserved = s->reserved;
        sn[i].repo = s->repo_models > 0;
        memcpy(sn[i].id, s->id, sizeof sn[i].id);
        memcpy(sn[i].holder, s->holder, sizeof sn[i].holder);
        sn[i].expires_s = s->expires_s;
        sn[i].created_s = s->created_s;
        sn[i].mem_used = s->mem_used;
        for (const tt_slot_model *m = s->models; m; m = m->next)
            sn[i].models++;
    }
    pthread_mutex_unlock(&srv->slots_lock);
    pthread_mutex_lock(&srv->sched_lock);
    for (int i = 0; i < srv->n_slots; i++) {
        sn[i].c = srv->slots[i].c;
        sn[i].queued = srv->slots[i].queued;
        sn[i].running = srv->slots[i].running;
    }
    pthread_mutex_unlock(&srv->sched_lock);
    return sn;
}

/* A slot as anyone may see it (type, state, capacity), and, for the caller's own
 * attachment only (detail), who holds it and what it does: other tenants' holders, hosts
 * and activity are theirs. */
static cJSON *slot_json(const tt_server *srv, const slot_snap *s, int64_t now, bool detail)
{
    const tt_slot *slot = s->slot;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", slot->index);
    cJSON_AddStringToObject(o, "type", slot->type.name);
    cJSON_AddStringToObject(o, "state", s->reserved ? "attached" : s->repo ? "repository" : "free");
    cJSON_AddNumberToObject(o, "memory_quota_bytes", (double)slot->type.memory_bytes);
    cJSON_AddNumberToObject(o, "compute_tflops", slot->rate / 1e12);
    /* what it can really deliver: never more than the device */
    cJSON_AddNumberToObject(o, "delivered_tflops", tt_slot_delivered_rate(srv, slot) / 1e12);
    cJSON_AddNumberToObject(o, "price_per_hour", slot->type.price_per_hour);
    if (!detail)
        return o;
    if (s->reserved) {
        cJSON_AddStringToObject(o, "id", s->id);
        cJSON_AddStringToObject(o, "holder", s->holder);
        cJSON_AddNumberToObject(o, "lease_expires_in_s", (double)(s->expires_s - now));
    }
    cJSON_AddNumberToObject(o, "memory_used_bytes", (double)s->mem_used);
    cJSON_AddNumberToObject(o, "models_loaded", s->models);
    cJSON_AddNumberToObject(o, "inferences", (double)s->c.inferences);
    cJSON_AddNumberToObject(o, "errors", (double)s->c.errors);
    cJSON_AddNumberToObject(o, "queue_ms_total", s->c.queue_ns / 1e6);
    cJSON_AddNumberToObject(o, "compute_ms_total", s->c.compute_ns / 1e6);
    /* the share of time the slot's inferences held the device since the server started */
    double uptime_s = (tt_now_ns() - srv->started_ns) / 1e9;
    cJSON_AddNumberToObject(o, "device_utilisation", uptime_s > 0 ? s->c.compute_ns / 1e9 / uptime_s : 0);
    cJSON_AddNumberToObject(o, "gflop_total", s->c.flops / 1e9);
    cJSON_AddNumberToObject(o, "queued", s->queued);
    cJSON_AddNumberToObject(o, "running", s->running);
    /* the rate its runs got while they ran */
    cJSON_AddNumberToObject(o, "measured_tflops", s->c.compute_ns ? s->c.flops / (s->c.compute_ns * 1e-9) / 1e12 : 0);
    return o;
}

static tt_status describe(tt_server *srv, const tt_slot *mine, bool all, char **out);

tt_status tt_metrics_describe_json(tt_server *srv, const tt_slot *mine, char **out)
{
    return describe(srv, mine, false, out);
}

tt_status tt_metrics_describe_all_json(tt_server *srv, char **out)
{
    return describe(srv, NULL, true, out);
}

static tt_status describe(tt_server *srv, const tt_slot *mine, bool all, char **out)
{
    slot_snap *sn = snapshot(srv);
    if (!sn)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory describing the server");
    int64_t now = tt_wall_s();
    int stored, open;
    tt_cache_counts(&srv->cache, &stored, &open);
    cJSON *root = cJSON_CreateObject();
    cJSON *server = cJSON_AddObjectToObject(root, "server");
    cJSON_AddStringToObject(server, "id", srv->id);
    cJSON_AddStringToObject(server, "version", tether_version());
    cJSON_AddNumberToObject(server, "protocol", TT_WIRE_VERSION);
    cJSON_AddStringToObject(server, "device", srv->dev.desc);
    cJSON_AddNumberToObject(server, "device_peak_gflops", srv->dev.peak_flops / 1e9);
    cJSON_AddStringToObject(server, "sched", srv->cfg.sched == TT_SCHED_CAPPED ? "capped" : "lend");
    cJSON_AddStringToObject(server, "meter", srv->cfg.meter == TT_METER_FLOPS ? "flops" : "time");
    cJSON_AddNumberToObject(server, "uptime_s", (tt_now_ns() - srv->started_ns) / 1e9);
    cJSON_AddNumberToObject(server, "connections", srv->n_conns);
    cJSON_AddNumberToObject(server, "buffered_bytes", (double)atomic_load(&srv->buffered));
    cJSON_AddNumberToObject(server, "buffered_limit_bytes", (double)srv->max_buffered);
    cJSON_AddNumberToObject(server, "busy_refusals", (double)atomic_load(&srv->busy_refusals));
    cJSON_AddNumberToObject(server, "models_stored", stored);
    cJSON_AddNumberToObject(server, "models_open", open);
    int warm;
    uint64_t warm_bytes;
    tt_cache_warm(&srv->cache, &warm, &warm_bytes);
    cJSON_AddNumberToObject(server, "models_warm", warm);
    cJSON_AddNumberToObject(server, "models_warm_bytes", (double)warm_bytes);
    cJSON_AddNumberToObject(server, "models_warm_limit_bytes", (double)atomic_load(&srv->cache.keep_bytes));
    cJSON *types = cJSON_AddArrayToObject(root, "types");
    int free_total = 0;
    for (int i = 0; i < srv->n_slots; i++) {
        const tt_slot *s = sn[i].slot;
        free_total += !sn[i].reserved && !sn[i].repo;
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = strcmp(sn[k].slot->type.name, s->type.name) == 0;
        if (seen)
            continue;
        int total = 0, nfree = 0;
        for (int k = i; k < srv->n_slots; k++)
            if (strcmp(sn[k].slot->type.name, s->type.name) == 0)
                total++, nfree += !sn[k].reserved && !sn[k].repo;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", s->type.name);
        cJSON_AddNumberToObject(t, "memory_bytes", (double)s->type.memory_bytes);
        cJSON_AddNumberToObject(t, "compute_tflops", s->rate / 1e12);
        cJSON_AddNumberToObject(t, "delivered_tflops", tt_slot_delivered_rate(srv, s) / 1e12);
        cJSON_AddNumberToObject(t, "price_per_hour", s->type.price_per_hour);
        cJSON_AddNumberToObject(t, "slots", total);
        cJSON_AddNumberToObject(t, "free", nfree);
        cJSON_AddItemToArray(types, t);
    }
    cJSON_AddNumberToObject(server, "slots", srv->n_slots);
    cJSON_AddNumberToObject(server, "slots_free", free_total);
    cJSON *slots = cJSON_AddArrayToObject(root, "slots");
    for (int i = 0; i < srv->n_slots; i++) {
        cJSON_AddItemToArray(slots, slot_json(srv, &sn[i], now, all || mine == sn[i].slot));
        if (mine == sn[i].slot)
            cJSON_AddItemToObject(root, "attached", slot_json(srv, &sn[i], now, true));
    }
    tt_free(sn);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory describing the server");
    *out = tt_strdup(text);
    cJSON_free(text);
    return *out ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory describing the server");
}

tt_status tt_metrics_prometheus(tt_server *srv, char **out)
{
    slot_snap *sn = snapshot(srv);
    if (!sn)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    tt_strbuf b = {0};
    static const struct {
        const char *name, *help, *type;
    } m[] = {
        {"tetherd_slot_inferences_total", "Inferences completed", "counter"},
        {"tetherd_slot_errors_total", "Inferences that failed", "counter"},
        {"tetherd_slot_queue_seconds_total", "Time inferences waited for the scheduler", "counter"},
        {"tetherd_slot_compute_seconds_total", "Time inferences ran", "counter"},
        {"tetherd_slot_flops_total", "Floating-point operations run", "counter"},
        {"tetherd_slot_memory_used_bytes", "Memory of the models loaded in the slot (device memory on a GPU)", "gauge"},
        {"tetherd_slot_memory_quota_bytes", "The slot's memory quota", "gauge"},
        {"tetherd_slot_rate_flops", "The slot's compute rate", "gauge"},
        {"tetherd_slot_attached", "1 when the slot is attached", "gauge"},
        {"tetherd_slot_device_utilisation", "Share of the time since start the slot's inferences held the device",
         "gauge"},
    };
    double uptime_s = (tt_now_ns() - srv->started_ns) / 1e9;
    for (size_t k = 0; k < sizeof m / sizeof m[0]; k++) {
        tt_strbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name, m[k].type);
        for (int i = 0; i < srv->n_slots; i++) {
            const slot_snap *s = &sn[i];
            double v[] = {(double)s->c.inferences,
                          (double)s->c.errors,
                          s->c.queue_ns / 1e9,
                          s->c.compute_ns / 1e9,
                          (double)s->c.flops,
                          (double)s->mem_used,
                          (double)s->slot->type.memory_bytes,
                          s->slot->rate,
                          s->reserved,
                          uptime_s > 0 ? s->c.compute_ns / 1e9 / uptime_s : 0};
            tt_strbuf_printf(&b, "%s{slot=\"%d\",type=\"%s\"} %.17g\n", m[k].name, s->slot->index, s->slot->type.name, v[k]);
        }
    }
    tt_strbuf_printf(&b,
              "# HELP tetherd_connections Open connections\n# TYPE tetherd_connections gauge\n"
              "tetherd_connections %d\n",
              srv->n_conns);
    tt_strbuf_printf(&b,
              "# HELP tetherd_bad_frames_total Connections ended by a malformed frame\n"
              "# TYPE tetherd_bad_frames_total counter\ntetherd_bad_frames_total %llu\n",
              (unsigned long long)atomic_load(&srv->frames_bad));
    tt_strbuf_printf(&b,
              "# HELP tetherd_buffered_bytes Request and reply bytes held for clients\n"
              "# TYPE tetherd_buffered_bytes gauge\ntetherd_buffered_bytes %llu\n"
              "# HELP tetherd_buffered_limit_bytes The bound on them (--max-buffered)\n"
              "# TYPE tetherd_buffered_limit_bytes gauge\ntetherd_buffered_limit_bytes %llu\n"
              "# HELP tetherd_busy_refusals_total Requests and replies refused for want of buffer room\n"
              "# TYPE tetherd_busy_refusals_total counter\ntetherd_busy_refusals_total %llu\n",
              (unsigned long long)atomic_load(&srv->buffered), (unsigned long long)srv->max_buffered,
              (unsigned long long)atomic_load(&srv->busy_refusals));
    tt_free(sn);
    char *models = NULL; /* the model repository's per-model counters and histograms */
    if (tt_repo_prometheus(srv->repo, &models) != TT_OK)
        b.oom = true;
    else
        tt_strbuf_printf(&b, "%s", models);
    tt_free(models);
    if (b.oom) {
        tt_free(b.p);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    *out = b.p;
    return TT_OK;
}

#ifdef TETHER_HAVE_MHD
static enum MHD_Result on_http(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **ctx)
{
    (void)version, (void)data, (void)size, (void)ctx;
    tt_server *srv = cls;
    char *text = NULL, denied[300];
    unsigned code = MHD_HTTP_OK;
    if (!tt_http_tls_client_ok(&srv->metrics_tls, conn, denied, sizeof denied)) {
        code = MHD_HTTP_FORBIDDEN;
        text = tt_strdup(denied);
    } else if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
        code = MHD_HTTP_NOT_FOUND;
        text = tt_strdup("tetherd serves /metrics\n");
    } else if (tt_metrics_prometheus(srv, &text) != TT_OK) {
        code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        text = tt_strdup("out of memory\n");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(text ? strlen(text) : 0, text, MHD_RESPMEM_MUST_COPY);
    tt_free(text);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}
#endif

tt_status tt_metrics_start(tt_server *srv)
{
    if (!srv->cfg.metrics_listen[0])
        return TT_OK;
#ifdef TETHER_HAVE_MHD
    tt_endpoint ep;
    TT_TRY(tt_endpoint_parse(srv->cfg.metrics_listen, &ep));
    if (ep.is_unix)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "--metrics needs HOST:PORT");
    int fd;
    tt_endpoint bound;
    TT_TRY(tt_http_tls_prepare(srv, &ep, "--metrics", &srv->metrics_tls));
    tt_status st = tt_sock_listen(&ep, 64, &fd, &bound);
    if (st != TT_OK) {
        tt_http_tls_free(&srv->metrics_tls);
        return st;
    }
    struct MHD_OptionItem tls_opts[TT_HTTP_TLS_OPTIONS];
    tt_http_tls_options(&srv->metrics_tls, tls_opts);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | tt_http_tls_flags(&srv->metrics_tls), 0,
                                            NULL, NULL, on_http, srv, MHD_OPTION_LISTEN_SOCKET, fd,
                                            MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!d) {
        close(fd);
        tt_http_tls_free(&srv->metrics_tls);
        return tt_error(TETHER_ERR_INTERNAL, "could not start the metrics endpoint on %s%s", ep.text,
                        srv->metrics_tls.on ? " (is the certificate or key malformed?)" : "");
    }
    srv->metrics_daemon = d;
    tt_log(TT_LOG_INFO, "metrics on %s://%s:%s/metrics", srv->metrics_tls.on ? "https" : "http", bound.host,
           bound.port);
    return TT_OK;
#else
    return tt_error(TETHER_ERR_UNSUPPORTED, "--metrics needs libmicrohttpd, which this build was made without");
#endif
}

void tt_metrics_stop(tt_server *srv)
{
#ifdef TETHER_HAVE_MHD
    if (srv->metrics_daemon)
        MHD_stop_daemon(srv->metrics_daemon);
#endif
    srv->metrics_daemon = NULL;
    tt_http_tls_free(&srv->metrics_tls);
}
