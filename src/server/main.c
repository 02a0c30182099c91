/* tetherd's entry point: read the settings, measure the device, restore reservations,
 * listen, and run the event loop. SIGTERM or SIGINT drain: the listeners close, new work is
 * refused, what runs gets --drain-timeout to finish and is then stopped, and the server
 * exits in bounded time whatever was running (a second signal stops at once). SIGHUP reads
 * the config file and the keys file again. Teardown goes in order (listeners, workers,
 * connections) so that nothing is freed under a thread still using it. */
#include "core/log.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/repo.h"
#include "server/server.h"
#include "server/state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define JOIN_WAIT_S 3.0 /* after the drain, for threads to notice they must stop */
#define FLUSH_WAIT_S 1.0 /* after the last job, for its reply to leave */

/* The loop a signal wakes. Atomic: the handler runs on whichever thread the signal lands
 * on, a scheduler worker included, while main sets and clears it. */
static _Atomic(tt_loop *) g_loop;
static atomic_int g_term, g_hup;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        atomic_store(&g_hup, 1);
    else
        atomic_fetch_add(&g_term, 1);
    tt_loop *loop = atomic_load(&g_loop);
    if (loop)
        tt_loop_wake(loop); /* an eventfd write: async-signal-safe */
}

static void close_listeners(tt_server *srv)
{
    for (int i = 0; i < srv->n_listeners; i++) {
        tt_loop_del(srv->loop, &srv->listeners[i].io);
        close(srv->listeners[i].io.fd);
        if (srv->listeners[i].ep.is_unix)
            unlink(srv->listeners[i].ep.path);
    }
    srv->n_listeners = 0;
}

/* ---- SIGHUP ------------------------------------------------------------------------- */

/* A quarter of the device's memory, at most 4 GiB, unless set. */
static uint64_t warm_cache_max(const tt_server *srv)
{
    if (srv->cfg.warm_cache_max != TT_WARM_CACHE_AUTO)
        return srv->cfg.warm_cache_max;
    uint64_t b = srv->dev.memory_bytes / 4;
    return b < (4ull << 30) ? b : 4ull << 30;
}

/* Settings read again at SIGHUP take effect at once; the others (what the server was built
 * from: listeners, device, slots, threads) need a restart, and the log says which. */
static void reload(tt_server *srv)
{
    tt_server_config fresh;
    tt_config_defaults(&fresh);
    int help;
    if (tt_config_parse_args(&fresh, srv->argc, srv->argv, &help) != TT_OK) {
        tt_log(TT_LOG_WARN, "SIGHUP: the settings were not reloaded: %s", tether_last_error());
        return;
    }
    tt_keys keys = {0};
    if (fresh.reserve_keys[0] && tt_keys_load(fresh.reserve_keys, &keys) != TT_OK) {
        tt_log(TT_LOG_WARN, "SIGHUP: the settings were not reloaded: %s", tether_last_error());
        return;
    }
    tt_server_config *c = &srv->cfg;
    char later[512] = "";
    size_t o = 0;
#define LATER(cond, name)                                                                       \
    if ((cond) && o < sizeof later)                                                             \
        o += (size_t)snprintf(later + o, sizeof later - o, "%s%s", o ? ", " : "", name);
    LATER(strcmp(fresh.listen, c->listen) || strcmp(fresh.unix_path, c->unix_path), "listen/unix")
    LATER(strcmp(fresh.device, c->device), "device")
    LATER(fresh.n_slot_specs != c->n_slot_specs || memcmp(fresh.slots, c->slots, sizeof fresh.slots), "slots")
    LATER(fresh.n_types != c->n_types || memcmp(fresh.types, c->types, sizeof fresh.types), "type")
    LATER(strcmp(fresh.state_dir, c->state_dir), "state-dir")
    LATER(fresh.sched != c->sched || fresh.meter != c->meter, "sched/meter")
    LATER(fresh.workers != c->workers, "workers")
    LATER(fresh.peak_gflops != c->peak_gflops, "peak-gflops")
    LATER(fresh.warm_cache != c->warm_cache || fresh.run_limit_s != c->run_limit_s, "warm-cache/run-limit")
    LATER(fresh.max_buffered != c->max_buffered, "max-buffered")
    LATER(strcmp(fresh.metrics_listen, c->metrics_listen), "metrics")
    LATER(fresh.tls != c->tls || strcmp(fresh.tls_cert, c->tls_cert) || strcmp(fresh.tls_key, c->tls_key) ||
              strcmp(fresh.tls_client_ca, c->tls_client_ca),
          "tls")
    LATER(strcmp(fresh.fleet, c->fleet) || strcmp(fresh.advertise, c->advertise) || strcmp(fresh.zone, c->zone),
          "fleet")
#undef LATER
    c->log_level = fresh.log_level;
    tt_log_set_level((tt_log_level)c->log_level);
    c->idle_timeout_s = fresh.idle_timeout_s;
    c->auth_timeout_s = fresh.auth_timeout_s;
    c->attached_idle_s = fresh.attached_idle_s;
    c->max_conns_per_attachment = fresh.max_conns_per_attachment;
    c->drain_timeout_s = fresh.drain_timeout_s;
    c->frame_timeout_s = fresh.frame_timeout_s;
    c->max_upload = fresh.max_upload;
    c->max_request = fresh.max_request;
    c->max_conns = fresh.max_conns;
    c->lease_s = fresh.lease_s;
    c->lease_max_s = fresh.lease_max_s;
    memcpy(c->reserve_keys, fresh.reserve_keys, sizeof c->reserve_keys);
    tt_keys_free(&srv->keys);
    srv->keys = keys;
    if (fresh.warm_cache_max != c->warm_cache_max) {
        c->warm_cache_max = fresh.warm_cache_max;
        atomic_store(&srv->cache.keep_bytes, warm_cache_max(srv));
        tt_cache_trim_warm(&srv->cache);
    }
    if (fresh.cache_max != c->cache_max) {
        c->cache_max = fresh.cache_max;
        atomic_store(&srv->cache.max_bytes, c->cache_max);
        tt_cache_trim(&srv->cache);
    }
    tt_log(TT_LOG_INFO, "SIGHUP: settings reloaded (%d reservation key%s)", srv->keys.n, srv->keys.n == 1 ? "" : "s");
    if (o)
        tt_log(TT_LOG_WARN, "SIGHUP: changes to %s take effect only when tetherd restarts", later);
}

/* ---- stopping ----------------------------------------------------------------------- */

static bool replies_flushed(tt_server *srv)
{
    for (tt_conn *c = srv->conns; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        bool queued = c->out_head != NULL && !c->dead;
        pthread_mutex_unlock(&c->lock);
        if (queued)
            return false;
    }
    return true;
}

static void check_signals(tt_server *srv)
{
    if (atomic_exchange(&g_hup, 0))
        reload(srv);
    int term = atomic_load(&g_term);
    double now = tt_mono_s();
    if (term && !srv->draining) {
        srv->draining = true;
        srv->drain_until = now + srv->cfg.drain_timeout_s;
        close_listeners(srv);
        tt_server_fleet_stop(srv); /* leaves the fleet: no client is sent here any more */
        tt_http_quiesce(srv); /* and repository requests are refused: the queued ones finish */
        tt_repo_drain(srv);
        tt_log(TT_LOG_INFO, "stopping: %d job%s in progress get %d s to finish", atomic_load(&srv->jobs),
               atomic_load(&srv->jobs) == 1 ? "" : "s", srv->cfg.drain_timeout_s);
    }
    if (!srv->draining)
        return;
    int jobs = atomic_load(&srv->jobs);
    if (!atomic_load(&srv->cancel_all) && jobs > 0 && (term > 1 || now >= srv->drain_until)) {
        tt_log(TT_LOG_WARN, "stopping %d job%s still in progress%s", jobs, jobs == 1 ? "" : "s",
               term > 1 ? " (second signal)" : " after the drain timeout");
        atomic_store(&srv->cancel_all, true);
        srv->stop_at = now + JOIN_WAIT_S;
    }
    if (jobs == 0 && !srv->stop_at)
        srv->stop_at = now + FLUSH_WAIT_S;
    if ((jobs == 0 && replies_flushed(srv)) || (srv->stop_at && now >= srv->stop_at))
        tt_loop_stop(srv->loop);
}

static void on_tick(void *ud)
{
    tt_server *srv = ud;
    check_signals(srv);
    tt_slots_expire(srv);
    tt_conn_sweep(srv);
}

static void on_wake(void *ud)
{
    check_signals(ud);
}

static void after_batch(void *ud)
{
    tt_server *srv = ud;
    while (srv->closing) {
        tt_conn *c = srv->closing;
        srv->closing = c->next;
        tt_conn_release(c);
    }
}

/* ---- starting ----------------------------------------------------------------------- */

static tt_status write_port_file(const char *path, const tt_endpoint *ep)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", ep->port) < 0 || fclose(f) != 0)
        return tt_error(TETHER_ERR_IO, "cannot write the port file '%s': %s", path, strerror(errno));
    if (rename(tmp, path) != 0)
        return tt_error(TETHER_ERR_IO, "cannot write the port file '%s': %s", path, strerror(errno));
    return TT_OK;
}

/* Whether a bound TCP socket can only be reached from this host. */
static bool loopback_only(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_UNIX)
        return true;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6)
        return memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0;
    return false;
}

static tt_status add_listener(tt_server *srv, const char *spec)
{
    tt_listener *l = &srv->listeners[srv->n_listeners];
    tt_endpoint ep;
    int fd;
    TT_TRY(tt_endpoint_parse(spec, &ep));
    TT_TRY(tt_server_listener_tls(srv, &ep, &l->tls));
    TT_TRY(tt_sock_listen(&ep, 512, &fd, &l->ep));
    l->io = (tt_io){.fd = fd, .fn = tt_conn_accept, .owner = srv};
    tt_status s = tt_loop_add(srv->loop, &l->io, TT_EV_READ);
    if (s != TT_OK) {
        close(fd);
        return s;
    }
    srv->n_listeners++;
    tt_log(TT_LOG_INFO, "listening on %s", l->ep.text);
    if (!l->ep.is_unix && !srv->keys.n && !loopback_only(fd)) {
        tt_log(TT_LOG_WARN, "WARNING: listening on %s, beyond this host, without --reserve-keys:", l->ep.text);
        tt_log(TT_LOG_WARN, "WARNING: anyone who can reach this port can attach, take every slot for %u s and run "
                            "any model on this machine.",
               srv->cfg.lease_max_s);
        tt_log(TT_LOG_WARN, "WARNING: give --reserve-keys FILE (tetherd --new-key NAME makes a key), or listen on "
                            "127.0.0.1 behind a tunnel.");
    }
    if (!l->ep.is_unix && srv->cfg.port_file[0])
        TT_TRY(write_port_file(srv->cfg.port_file, &l->ep));
    return TT_OK;
}

/* Half the memory, at most 8 GiB, at least 64 MiB; never below one largest request. */
static uint64_t buffer_budget(const tt_server *srv)
{
    const tt_server_config *cfg = &srv->cfg;
    if (cfg->max_buffered)
        return cfg->max_buffered;
    uint64_t b = srv->dev.memory_bytes / 2;
    if (b > (8ull << 30))
        b = 8ull << 30;
    if (b < (64ull << 20))
        b = 64ull << 20;
    return b;
}

static tt_status serve(tt_server *srv)
{
    const tt_server_config *cfg = &srv->cfg;
    TT_TRY(tt_mkdir_p(cfg->state_dir, 0700));
    TT_TRY(tt_device_open(&srv->dev, cfg->device, cfg->peak_gflops, cfg->state_dir, cfg->measure_peak));
    tt_log(TT_LOG_INFO, "device %s", srv->dev.desc);
    if (srv->dev.gpu && !cfg->meter_set) /* a GPU's slots are held to their share of its time */
        srv->cfg.meter = TT_METER_TIME;
    srv->max_buffered = buffer_budget(srv);
    if (cfg->reserve_keys[0]) {
        TT_TRY(tt_keys_load(cfg->reserve_keys, &srv->keys));
        tt_log(TT_LOG_INFO, "%d reservation key%s from %s", srv->keys.n, srv->keys.n == 1 ? "" : "s",
               cfg->reserve_keys);
    }
    TT_TRY(tt_slots_init(srv));
    TT_TRY(tt_state_load(srv));
    TT_TRY(tt_cache_init(&srv->cache, cfg->state_dir, cfg->warm_cache, cfg->run_limit_s * 1000));
    atomic_store(&srv->cache.keep_bytes, warm_cache_max(srv));
    atomic_store(&srv->cache.max_bytes, cfg->cache_max);
    tt_cache_trim(&srv->cache);
    snprintf(srv->cache.target, sizeof srv->cache.target, "%s", srv->dev.target);
    for (int i = 0; srv->dev.gpu && i < srv->n_slots; i++) /* no model may hold more than a slot's quota */
        if (srv->slots[i].type.memory_bytes > srv->cache.device_limit)
            srv->cache.device_limit = srv->slots[i].type.memory_bytes;
    tt_cache_preload_start(&srv->cache);
    for (int i = 0; i < srv->n_slots; i++)
        tt_log(TT_LOG_INFO, "slot %d: %s, %.2f GiB, %.3f TFLOPS%s%s", i, srv->slots[i].type.name,
               srv->slots[i].type.memory_bytes / 1073741824.0, srv->slots[i].rate / 1e12,
               srv->slots[i].reserved ? ", attached as " : "", srv->slots[i].reserved ? srv->slots[i].id : "");
    TT_TRY(tt_loop_new(&srv->loop));
    TT_TRY(tt_sched_start(srv));
    if (cfg->unix_path[0]) {
        char spec[200];
        snprintf(spec, sizeof spec, "unix:%s", cfg->unix_path);
        TT_TRY(add_listener(srv, spec));
    }
    if (cfg->listen[0])
        TT_TRY(add_listener(srv, cfg->listen));
    if (!srv->n_listeners)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "nothing to listen on: give --listen or --unix");
    TT_TRY(tt_metrics_start(srv));
    TT_TRY(tt_repo_start(srv));
    TT_TRY(tt_http_start(srv));
    TT_TRY(tt_server_fleet_start(srv));
    atomic_store(&g_loop, srv->loop);
    tt_log(TT_LOG_INFO, "tetherd %s (%s) serving %d slots (%s scheduling, %s metering, %.0f MiB of client buffers)",
           tether_version(), srv->id, srv->n_slots, cfg->sched == TT_SCHED_CAPPED ? "capped" : "lend",
           cfg->meter == TT_METER_FLOPS ? "FLOP" : "device-time", srv->max_buffered / 1048576.0);
    tt_loop_run(srv->loop, 100, on_tick, on_wake, after_batch, srv);
    tt_log(TT_LOG_INFO, "shutting down");
    return TT_OK;
}

static void save_state(tt_server *srv)
{
    if (!srv->slots)
        return;
    pthread_mutex_lock(&srv->slots_lock);
    if (srv->id[0])
        tt_state_save(srv);
    pthread_mutex_unlock(&srv->slots_lock);
}

static void shutdown_server(tt_server *srv)
{
    atomic_store(&g_loop, NULL);
    tt_server_fleet_stop(srv); /* first: no client is sent here any more */
    tt_metrics_stop(srv);
    close_listeners(srv);
    tt_cache_preload_stop(&srv->cache);
    tt_http_quiesce(srv);
    tt_repo_stop(srv); /* queued requests answered; batches in the scheduler end below */
    if ((srv->workers || srv->n_bg) && !tt_sched_stop(srv, JOIN_WAIT_S)) {
        /* a thread is still inside a kernel that does not check: what it uses cannot be
         * freed, but the reservations are kept and the process ends now */
        save_state(srv);
        tt_log(TT_LOG_ERROR, "exiting without waiting for them");
        _exit(1);
    }
    tt_http_stop(srv);
    while (srv->conns)
        tt_conn_close(srv->conns, "server shutting down");
    after_batch(srv);
    save_state(srv);
    tt_repo_free(srv);
    if (srv->cache.dir[0])
        tt_cache_save_warm(&srv->cache);
    tt_cache_free(&srv->cache);
    tt_slots_free(srv);
    tt_keys_free(&srv->keys);
    tt_loop_free(srv->loop);
    tt_server_tls_free(srv);
}

int main(int argc, char **argv)
{
    static tt_server srv;
    tt_config_defaults(&srv.cfg);
    srv.argc = argc;
    srv.argv = argv;
    int help;
    if (tt_config_parse_args(&srv.cfg, argc, argv, &help) != TT_OK) {
        fprintf(stderr, "tetherd: %s\n", tether_last_error());
        return 2;
    }
    if (help == 1) {
        tt_config_usage(stdout);
        return 0;
    }
    if (help == 2) {
        printf("tetherd %s (protocol %d)\n", tether_version(), TT_WIRE_VERSION);
        return 0;
    }
    if (help == 3) {
        if (tt_keys_print_new(srv.cfg.new_key, stdout) != TT_OK) {
            fprintf(stderr, "tetherd: %s\n", tether_last_error());
            return 2;
        }
        return 0;
    }
    tt_log_set_level((tt_log_level)srv.cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    pthread_mutex_init(&srv.slots_lock, NULL);
    srv.started_ns = tt_now_ns();
    tt_status st = atomic_load(&g_term) ? TT_OK : serve(&srv);
    if (st != TT_OK)
        fprintf(stderr, "tetherd: %s\n", tether_last_error());
    shutdown_server(&srv);
    return st == TT_OK ? 0 : 1;
}
