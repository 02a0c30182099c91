/* The fleet's two numbers, on loopback with a real etcd and three tetherd:
 *   attach   time of `tether attach TYPE --fleet` (read the servers and the free slots of the
 *            type, claim one with a compare-and-swap transaction, reserve it, record it)
 *            against a direct `tether attach TYPE --server` (reserve, record), with three
 *            servers of 16 slots, mostly free. Goal: fleet <= 2x direct.
 *   failover from a SIGKILL of the server under a stream of inferences to the first answer
 *            from the server the session failed over to, with the model already cached
 *            there (another session had used it) and not (uploaded on the way). Goal:
 *            <= 1 s with the model cached.
 *
 * usage: bench_fleet [--iterations N] [--model-mib M] */
#include "bench_common.h"
#include "etcd_proc.h"

#include "client/conn.h"
#include "core/log.h"
#include "fleet/fleet.h"

#include <pthread.h>
#include <stdatomic.h>

static te_etcd g_etcd;

/* y = x @ W, W float[k, n] from seed: models of different seeds have different hashes. */
static pbw model_dense(int k, int n, uint32_t seed)
{
    float *w = malloc(sizeof(float) * (size_t)k * (size_t)n);
    uint32_t st = seed * 2654435761u + 1;
    for (size_t i = 0; i < (size_t)k * (size_t)n; i++) {
        st = st * 1103515245u + 12345u;
        w[i] = (float)(st >> 16 & 0x7fff) / 32768.0f - 0.5f;
    }
    pbw init = ob_tensor("W", TETHER_DTYPE_FLOAT, 2, (int64_t[]){k, n}, w, sizeof(float) * (size_t)k * (size_t)n);
    free(w);
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, k});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, n});
    pbw node = ob_node("MatMul", 2, (const char *[]){"x", "W"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("dense", 1, &node, 1, &init, 1, &x, 1, &y);
    return ob_model(13, &g);
}

static tether_status run_f32(tether_session *s, const float *x, int k, tether_outputs **out)
{
    tether_tensor in = {.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {1, k}, .data = (void *)x,
                        .size = sizeof(float) * (size_t)k};
    return tether_session_run(s, &in, 1, out);
}

static void stop_etcd(void)
{
    te_stop(&g_etcd, SIGKILL);
}

static void start_fleet(tp_server *srv, int n)
{
    char err[512];
    if (te_init(&g_etcd, bench_root, "127.0.0.1", err, sizeof err) != 0 || te_start(&g_etcd, err, sizeof err) != 0)
        BENCH_DIE("%s", err);
    atexit(stop_etcd);
    for (int i = 0; i < n; i++) {
        const char *args[] = {"--peak-gflops", "20", "--slots", "cpu.small=16", "--fleet", g_etcd.url,
                              "--fleet-ttl", "2", "--warm-cache", "8", NULL};
        bench_server(&srv[i], args);
    }
    tt_etcd *e;
    if (tt_etcd_open(g_etcd.url, NULL, &e) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    for (double until = tp_now_s() + 20;; tp_sleep_ms(20)) {
        tt_fleet_view v;
        int k = tt_fleet_view_read(e, tt_deadline_ms(1000), &v) == TETHER_OK ? v.n_servers : -1;
        if (k >= 0)
            tt_fleet_view_free(&v);
        if (k == n)
            break;
        if (tp_now_s() > until)
            BENCH_DIE("the fleet did not register its %d servers", n);
    }
    tt_etcd_close(e);
}

static const char *server_id(const tp_server *s)
{
    static char id[64];
    tt_etcd *e;
    id[0] = 0;
    if (tt_etcd_open(g_etcd.url, NULL, &e) != TETHER_OK)
        return id;
    tt_fleet_view v;
    if (tt_fleet_view_read(e, tt_deadline_ms(2000), &v) == TETHER_OK) {
        for (int i = 0; i < v.n_servers; i++)
            if (strcmp(v.servers[i].endpoint, s->endpoint) == 0)
                snprintf(id, sizeof id, "%s", v.servers[i].id);
        tt_fleet_view_free(&v);
    }
    tt_etcd_close(e);
    return id;
}

static void fresh_home(int k)
{
    char home[400];
    snprintf(home, sizeof home, "%s/home%d", bench_root, k);
    setenv("TETHER_HOME", home, 1);
}

/* ---- attach ----------------------------------------------------------------------- */

static void bench_attach_times(tp_server *srv, int iterations)
{
    double *direct = calloc((size_t)iterations, sizeof *direct), *fleet = calloc((size_t)iterations, sizeof *fleet);
    fresh_home(1000);
    tt_attachment a;
    /* one of each first, so that neither pays for first use (connections, libraries) */
    if (tt_attach("cpu.small", srv[0].endpoint, &a) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    tt_attach_opts o;
    memset(&o, 0, sizeof o);
    o.fleet = g_etcd.url;
    if (tt_attach_with("cpu.small", &o, &a) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    /* each pair is detached again (not timed), so the fleet stays at the same occupancy */
    for (int i = 0; i < iterations; i++) {
        double t0 = bench_now_us();
        if (tt_attach("cpu.small", srv[i % 3].endpoint, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t1 = bench_now_us();
        if (tt_attach_with("cpu.small", &o, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t2 = bench_now_us();
        direct[i] = (t1 - t0) / 1000;
        fleet[i] = (t2 - t1) / 1000;
        if (tt_detach(a.ordinal) != TETHER_OK || tt_detach(a.ordinal - 1) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
    }
    double d50 = bench_pct(direct, iterations, 0.5), d90 = bench_pct(direct, iterations, 0.9);
    double f50 = bench_pct(fleet, iterations, 0.5), f90 = bench_pct(fleet, iterations, 0.9);
    printf("\n## attach (%d each, alternating)\n\n", iterations);
    printf("| attach | p50 | p90 |\n| --- | --- | --- |\n");
    printf("| direct (`--server`) | %.2f ms | %.2f ms |\n", d50, d90);
    printf("| fleet (`--fleet`) | %.2f ms | %.2f ms |\n", f50, f90);
    printf("\nfleet / direct at p50: %.2fx (goal <= 2x): %s\n", f50 / d50, f50 <= 2 * d50 ? "met" : "NOT met");
    free(direct);
    free(fleet);
}

/* ---- failover --------------------------------------------------------------------- */

typedef struct runner {
    tether_session *s;
    int k;
    char first_where[256];
    atomic_bool stop;
    atomic_llong last_answer_ns; /* when the latest successful run returned */
    atomic_llong moved_ns;       /* when the first answer from another slot returned */
    int errors;
} runner;

/* Runs back to back; an answer counts as the new server's when the session's place (its
 * slot) differs from where it started: runs are sequential, so that run went there. */
static void *runner_main(void *arg)
{
    runner *r = arg;
    float *x = calloc((size_t)r->k, sizeof *x);
    for (int i = 0; !atomic_load(&r->stop); i++) {
        x[i % r->k] = (float)i;
        tether_outputs *o;
        if (run_f32(r->s, x, r->k, &o) == TETHER_OK) {
            long long now = (long long)tt_now_ns();
            tether_outputs_free(o);
            atomic_store(&r->last_answer_ns, now);
            tether_session_stats st;
            tether_session_stats_get(r->s, &st);
            if (!atomic_load(&r->moved_ns) && strcmp(st.where, r->first_where) != 0)
                atomic_store(&r->moved_ns, now);
        } else {
            r->errors++;
        }
    }
    free(x);
    return NULL;
}

/* One failover: a session pinned to server 0 runs back to back; server 0 is killed; the
 * time to the first answer after the kill. Server 0 is started again afterwards. */
static double failover_once(tp_server *srv, const pbw *m, int k, int trial)
{
    fresh_home(trial);
    tt_attach_opts o;
    memset(&o, 0, sizeof o);
    o.fleet = g_etcd.url;
    o.server = server_id(&srv[0]);
    tt_attachment a;
    if (tt_attach_with("cpu.small", &o, &a) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:0";
    cfg.quiet = 1;
    cfg.timeout_ms = 30000;
    runner r = {.k = k};
    if (tether_session_open_bytes(&r.s, m->buf, m->len, &cfg) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    tether_session_stats st;
    tether_session_stats_get(r.s, &st);
    snprintf(r.first_where, sizeof r.first_where, "%s", st.where);
    pthread_t th;
    pthread_create(&th, NULL, runner_main, &r);
    tp_sleep_ms(300);
    long long before = atomic_load(&r.last_answer_ns);
    if (!before)
        BENCH_DIE("no answer before the kill");
    int64_t kill_ns = tt_now_ns();
    kill(srv[0].pid, SIGKILL);
    while (!atomic_load(&r.moved_ns) && tt_now_ns() - kill_ns < 30 * (int64_t)1000000000)
        tp_sleep_ms(1);
    long long after = atomic_load(&r.moved_ns);
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    tether_session_free(r.s);
    if (!after)
        BENCH_DIE("no answer from another server within 30 s of the kill (%d errors)", r.errors);
    if (r.errors)
        BENCH_DIE("%d runs failed across the failover", r.errors);
    int status;
    waitpid(srv[0].pid, &status, 0);
    char err[512];
    const char *args[] = {"--peak-gflops", "20", "--slots", "cpu.small=16", "--fleet", g_etcd.url,
                          "--fleet-ttl", "2", "--warm-cache", "8", NULL};
    if (tp_start(&srv[0], TETHERD_PATH, bench_root, args, true, "warn", err, sizeof err) != 0)
        BENCH_DIE("%s", err);
    tp_sleep_ms(200);
    return (double)(after - kill_ns) / 1e6;
}

/* Makes the other servers hold the model: a session on each, closed again (the model stays
 * in their caches, and open in their warm caches). */
static void warm_others(tp_server *srv, const pbw *m)
{
    fresh_home(999);
    for (int i = 1; i < 3; i++) {
        tt_attachment a;
        if (tt_attach("cpu.small", srv[i].endpoint, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        char target[16];
        snprintf(target, sizeof target, "eia:%d", a.ordinal);
        tether_session_config cfg;
        tether_session_config_init(&cfg);
        cfg.target = target;
        cfg.quiet = 1;
        tether_session *s;
        if (tether_session_open_bytes(&s, m->buf, m->len, &cfg) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        tether_session_free(s);
    }
}

int main(int argc, char **argv)
{
    int iterations = 20, mib = 16;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iterations = atoi(argv[++i]);
        else if (strcmp(argv[i], "--model-mib") == 0 && i + 1 < argc)
            mib = atoi(argv[++i]);
        else
            BENCH_DIE("usage: bench_fleet [--iterations N] [--model-mib M]");
    }
    if (iterations < 1 || mib < 1 || mib > 256)
        BENCH_DIE("--iterations >= 1, --model-mib in 1..256");
    if (!te_available())
        BENCH_DIE("etcd is not installed (Debian's etcd-server, see scripts/deps.sh)");
    bench_init();
    tt_log_set_level(TT_LOG_WARN);
    tp_server srv[3];
    start_fleet(srv, 3);
    printf("# fleet: etcd and 3 tetherd on loopback\n");
    bench_attach_times(srv, iterations);

    /* a model of `mib` MiB of weights: its upload is what a cache saves */
    int k = 256, n = mib * 1024 * 1024 / 4 / k;
    int trials = iterations < 5 ? iterations : 5;
    double cached[8], uncached[8];
    pbw warm = model_dense(k, n, 1);
    warm_others(srv, &warm);
    for (int t = 0; t < trials; t++)
        cached[t] = failover_once(srv, &warm, k, 10 + t);
    for (int t = 0; t < trials; t++) {
        pbw fresh = model_dense(k, n, 100 + (uint32_t)t); /* never seen by any server */
        uncached[t] = failover_once(srv, &fresh, k, 20 + t);
        ob_free(&fresh);
    }
    ob_free(&warm);
    double c50 = bench_pct(cached, trials, 0.5), cmax = bench_pct(cached, trials, 1.0);
    double u50 = bench_pct(uncached, trials, 0.5), umax = bench_pct(uncached, trials, 1.0);
    printf("\n## failover: SIGKILL of the server -> first answer from the next (%d trials each, %d MiB model)\n\n",
           trials, mib);
    printf("| model on the new server | median | worst |\n| --- | --- | --- |\n");
    printf("| cached | %.0f ms | %.0f ms |\n", c50, cmax);
    printf("| not cached (uploaded) | %.0f ms | %.0f ms |\n", u50, umax);
    printf("\ncached failover <= 1 s: %s\n", cmax <= 1000 ? "met" : "NOT met");
    for (int i = 0; i < 3; i++)
        tp_signal_wait(&srv[i], SIGTERM);
    return 0;
}
