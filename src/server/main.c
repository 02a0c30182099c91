/* tetherd's entry point: read the settings, measure the device, restore reservations,
 * listen, and run the event loop until SIGINT or SIGTERM; then stop in order (listeners,
 * workers, connections) so that nothing is freed under a thread still using it. */
#include "core/log.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/repo.h"
#include "server/server.h"
#include "server/state.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tt_loop *g_loop;

static void on_signal(int sig)
{
    (void)sig;
    if (g_loop)
        tt_loop_stop(g_loop); /* an eventfd write: async-signal-safe */
}

static void on_tick(void *ud)
{
    tt_server *srv = ud;
    tt_slots_expire(srv);
    tt_conn_sweep(srv);
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

static tt_status add_listener(tt_server *srv, const char *spec)
{
    tt_listener *l = &srv->listeners[srv->n_listeners];
    tt_endpoint ep;
    int fd;
    TT_TRY(tt_endpoint_parse(spec, &ep));
    TT_TRY(tt_sock_listen(&ep, 512, &fd, &l->ep));
    l->io = (tt_io){.fd = fd, .fn = tt_conn_accept, .owner = srv};
    tt_status s = tt_loop_add(srv->loop, &l->io, TT_EV_READ);
    if (s != TT_OK) {
        close(fd);
        return s;
    }
    srv->n_listeners++;
    tt_log(TT_LOG_INFO, "listening on %s", l->ep.text);
    if (!l->ep.is_unix && srv->cfg.port_file[0])
        TT_TRY(write_port_file(srv->cfg.port_file, &l->ep));
    return TT_OK;
}

static tt_status serve(tt_server *srv)
{
    const tt_server_config *cfg = &srv->cfg;
    TT_TRY(tt_device_open(&srv->dev, cfg->device, cfg->peak_gflops));
    tt_log(TT_LOG_INFO, "device %s", srv->dev.desc);
    TT_TRY(tt_slots_init(srv));
    TT_TRY(tt_state_load(srv));
    TT_TRY(tt_cache_init(&srv->cache, cfg->state_dir, cfg->warm_cache, cfg->run_limit_s * 1000));
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
    g_loop = srv->loop;
    tt_log(TT_LOG_INFO, "tetherd %s (%s) serving %d slots (%s scheduling, %s metering)", tether_version(), srv->id,
           srv->n_slots, cfg->sched == TT_SCHED_CAPPED ? "capped" : "lend",
           cfg->meter == TT_METER_FLOPS ? "FLOP" : "device-time");
    tt_loop_run(srv->loop, 100, on_tick, NULL, after_batch, srv);
    tt_log(TT_LOG_INFO, "shutting down");
    return TT_OK;
}

static void shutdown_server(tt_server *srv)
{
    g_loop = NULL;
    tt_metrics_stop(srv);
    for (int i = 0; i < srv->n_listeners; i++) {
        tt_loop_del(srv->loop, &srv->listeners[i].io);
        close(srv->listeners[i].io.fd);
        if (srv->listeners[i].ep.is_unix)
            unlink(srv->listeners[i].ep.path);
    }
    tt_cache_preload_stop(&srv->cache);
    tt_http_quiesce(srv);
    tt_repo_stop(srv); /* queued requests answered; batches in the scheduler end below */
    if (srv->workers || srv->n_bg)
        tt_sched_stop(srv);
    tt_http_stop(srv);
    while (srv->conns)
        tt_conn_close(srv->conns, "server shutting down");
    after_batch(srv);
    if (srv->slots) {
        pthread_mutex_lock(&srv->slots_lock);
        if (srv->id[0])
            tt_state_save(srv);
        pthread_mutex_unlock(&srv->slots_lock);
    }
    tt_repo_free(srv);
    if (srv->cache.dir[0])
        tt_cache_save_warm(&srv->cache);
    tt_cache_free(&srv->cache);
    tt_slots_free(srv);
    tt_loop_free(srv->loop);
}

int main(int argc, char **argv)
{
    static tt_server srv;
    tt_config_defaults(&srv.cfg);
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
    tt_log_set_level((tt_log_level)srv.cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_mutex_init(&srv.slots_lock, NULL);
    srv.started_ns = tt_now_ns();
    tt_status st = serve(&srv);
    if (st != TT_OK)
        fprintf(stderr, "tetherd: %s\n", tether_last_error());
    shutdown_server(&srv);
    return st == TT_OK ? 0 : 1;
}
