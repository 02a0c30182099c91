/* The fleet's two numbers, on loopback with a real etcd and three tetherd:
 *   attach   time of `tether attach TYPE --fleet` (read the servers and the free slots of the
 *            type, claim one with a compare-and-swap transaction, reserve it, record it)
 *            against a direct `tether attach TYPE --server` (reserve, record), with three
 *            servers of 16 slots, mostly free. Goal: fleet <= 2x direct.
 *   failover from a SIGKILL of the server under a stream of inferences to the first answer
 *            from the server the session failed over to, with the model already cached
 *            there (another session had used it) and not (uploaded on the way). Goal:
 *            <= 1 s with the model cached. And from a SIGSTOP (a hang: connections held,
 *            nothing answered), found through the server's registration (lease TTL 2 s).
 *
 * usage: bench_fleet [--iterations N] [--model-mib M]
 * (BENCH_FLEET_ATTACH_ONLY=1: the attach numbers only) */
#include "bench_common.h"
#include "etcd_proc.h"

#include "client/conn.h"
#include "client/records.h"
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

/* A process's first fleet attach: nothing remembered (view, claim lease), no connection to
 * etcd open. */
static void forget_fleet(void)
{
    tt_fleet_forget();
    tt_etcd_pool_drain();
}

static void print_row(const char *what, double *v, int n)
{
    printf("| %s | %.2f ms | %.2f ms |\n", what, bench_pct(v, n, 0.5), bench_pct(v, n, 0.9));
}

/* settled: each attach 20 ms after the last one (the servers' publications to etcd done, as
 * when attaches come one at a time); else back to back (everything warm, and the etcd writes
 * of the previous attach's reservation overlapping the next) */
static void bench_attach_times(tp_server *srv, int iterations, bool settled)
{
    int pause = settled ? 20 : 0;
    double *direct = calloc((size_t)iterations, sizeof *direct), *warm = calloc((size_t)iterations, sizeof *warm);
    double *cold = calloc((size_t)iterations, sizeof *cold), *first = calloc((size_t)iterations, sizeof *first);
    double *gateway = calloc((size_t)iterations, sizeof *gateway);
    fresh_home(1000);
    char view_file[600];
    snprintf(view_file, sizeof view_file, "%s/fleet-view", getenv("TETHER_HOME"));
    tt_attachment a;
    /* one of each first, so that neither pays for first use (libraries, TLS contexts) */
    if (tt_attach("cpu.small", srv[0].endpoint, &a) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    tt_attach_opts o;
    memset(&o, 0, sizeof o);
    o.fleet = g_etcd.url;
    if (tt_attach_with("cpu.small", &o, &a) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    /* each round's attachments are detached again (not timed), so the fleet stays at the
     * same occupancy */
    for (int i = 0; i < iterations; i++) {
        tp_sleep_ms(pause);
        double t0 = bench_now_us();
        if (tt_attach("cpu.small", srv[i % 3].endpoint, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t1 = bench_now_us();
        tp_sleep_ms(pause);
        double t1b = bench_now_us();
        if (tt_attach_with("cpu.small", &o, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t2 = bench_now_us();
        forget_fleet();
        tp_sleep_ms(pause);
        double t3 = bench_now_us();
        if (tt_attach_with("cpu.small", &o, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t4 = bench_now_us();
        /* a first placement with no recent view anywhere: the fleet is read first */
        forget_fleet();
        unlink(view_file);
        tp_sleep_ms(pause);
        double t5 = bench_now_us();
        if (tt_attach_with("cpu.small", &o, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t6 = bench_now_us();
        /* the same through etcd's JSON gateway, as before gRPC */
        if (tt_detach(a.ordinal) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        forget_fleet();
        unlink(view_file);
        setenv("TETHER_ETCD_GRPC", "0", 1);
        tp_sleep_ms(pause);
        double t7 = bench_now_us();
        if (tt_attach_with("cpu.small", &o, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t8 = bench_now_us();
        unsetenv("TETHER_ETCD_GRPC");
        gateway[i] = (t8 - t7) / 1000;
        direct[i] = (t1 - t0) / 1000;
        warm[i] = (t2 - t1b) / 1000;
        cold[i] = (t4 - t3) / 1000;
        first[i] = (t6 - t5) / 1000;
        for (int k = 0; k < 4; k++)
            if (tt_detach(a.ordinal - k) != TETHER_OK)
                BENCH_DIE("%s", tether_last_error());
    }
    double d50 = bench_pct(direct, iterations, 0.5);
    double w50 = bench_pct(warm, iterations, 0.5), c50 = bench_pct(cold, iterations, 0.5);
    double f50 = bench_pct(first, iterations, 0.5);
    printf("\n## attach, %s (%d each, interleaved)\n\n", settled ? "settled: 20 ms apart" : "back to back",
           iterations);
    printf("| attach | p50 | p90 |\n| --- | --- | --- |\n");
    print_row("direct (`--server`)", direct, iterations);
    print_row("fleet, warm (the same process again within 30 s: its view kept)", warm, iterations);
    print_row("fleet, cold (a process's first placement, the view the last process left in TETHER_HOME: a "
              "`tether attach` within 30 s of another)",
              cold, iterations);
    print_row("fleet, first (a process's first placement with no recent view: the fleet is read first)", first,
              iterations);
    print_row("fleet, first, through etcd's JSON gateway only (`TETHER_ETCD_GRPC=0`)", gateway, iterations);
    printf("\nfleet / direct at p50: warm %.2fx, cold %.2fx, first %.2fx (goal <= 2x); first through the gateway "
           "only %.2fx\n",
           w50 / d50, c50 / d50, f50 / d50, bench_pct(gateway, iterations, 0.5) / d50);
    free(direct);
    free(warm);
    free(cold);
    free(first);
    free(gateway);
}

/* `tether attach` itself, a process per attach as a user runs it: wall time from fork to
 * exit, each attachment detached again (not timed). */
static double cli_attach(const char *const *args)
{
    double t0 = bench_now_us();
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execv(TETHER_CLI_PATH, (char *const *)args);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    double t = (bench_now_us() - t0) / 1000;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        BENCH_DIE("%s %s %s failed", args[1], args[2], args[3]);
    return t;
}

static void bench_cli(tp_server *srv, int n)
{
    double *direct = calloc((size_t)n, sizeof(double)), *fleet = calloc((size_t)n, sizeof(double));
    fresh_home(1002);
    for (int i = 0; i < n; i++) {
        const char *d[] = {TETHER_CLI_PATH, "attach", "cpu.small", "--server", srv[i % 3].endpoint, NULL};
        const char *f[] = {TETHER_CLI_PATH, "attach", "cpu.small", "--fleet", g_etcd.url, NULL};
        tp_sleep_ms(20);
        direct[i] = cli_attach(d);
        tp_sleep_ms(20);
        fleet[i] = cli_attach(f);
        if (tt_detach(1) != TETHER_OK || tt_detach(0) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
    }
    printf("\n## `tether attach` as a command (%d each: process start, attach, exit)\n\n", n);
    printf("| command | p50 | p90 |\n| --- | --- | --- |\n");
    print_row("`tether attach cpu.small --server …`", direct, n);
    print_row("`tether attach cpu.small --fleet …`", fleet, n);
    printf("\nfleet / direct at p50: %.2fx\n", bench_pct(fleet, n, 0.5) / bench_pct(direct, n, 0.5));
    free(direct);
    free(fleet);
}

/* The steps of both attaches, each timed on its own (p50 of n). */
static void bench_attach_steps(tp_server *srv, int n)
{
    enum { CONNECT, RESERVE, RECORD, ETCD_FIRST, ETCD_READ, ETCD_TXN, GRPC_READ, GRPC_TXN, N_STEPS };
    static const char *names[N_STEPS] = {
        "tetherd: connect + HELLO (a direct attach's first step)",
        "tetherd: RESERVE (the server writes its state file, fsync)",
        "client: record the attachment (attachments.json, fsync)",
        "etcd: first request of a process (new connection + serializable read)",
        "etcd: serializable read of servers and claims (open connection)",
        "etcd: claim transaction (a write: raft + fsync)",
        "etcd in gRPC: serializable read of servers and claims (a connection of its own, as every gRPC call)",
        "etcd in gRPC: claim transaction",
    };
    double *t[N_STEPS];
    for (int k = 0; k < N_STEPS; k++)
        t[k] = calloc((size_t)n, sizeof(double));
    fresh_home(1001);
    tt_endpoint ep;
    if (tt_endpoint_parse(srv[0].endpoint, &ep) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    for (int i = 0; i < n; i++) {
        tt_rconn *c;
        double t0 = bench_now_us();
        if (tt_rconn_open_tls(&ep, NULL, NULL, NULL, tt_deadline_ms(5000), &c) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t1 = bench_now_us();
        tt_attachment a;
        memset(&a, 0, sizeof a);
        if (tt_reserve_on(c, srv[0].endpoint, NULL, "cpu.small", 0, 0, NULL, 5000, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t2 = bench_now_us();
        tt_attachment_new_name(a.name, sizeof a.name);
        if (tt_records_add(&a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        double t3 = bench_now_us();
        if (tt_detach(a.ordinal) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        t[CONNECT][i] = (t1 - t0) / 1000;
        t[RESERVE][i] = (t2 - t1) / 1000;
        t[RECORD][i] = (t3 - t2) / 1000;

        tt_etcd_pool_drain();
        tt_etcd *e;
        tt_fleet_view v;
        double e0 = bench_now_us();
        if (tt_etcd_open(g_etcd.url, NULL, &e) != TETHER_OK || tt_fleet_view_read_free(e, tt_deadline_ms(5000), &v))
            BENCH_DIE("%s", tether_last_error());
        double e1 = bench_now_us();
        tt_fleet_view_free(&v);
        if (tt_fleet_view_read_free(e, tt_deadline_ms(5000), &v))
            BENCH_DIE("%s", tether_last_error());
        double e2 = bench_now_us();
        tt_fleet_view_free(&v);
        /* a claim-like transaction on a key of the bench's own (the fleet comes back only
         * when it fails) */
        const char *prefixes[] = {TT_FLEET_PREFIX "servers/", TT_FLEET_PREFIX "claims/"};
        tt_etcd_cmp cmp = {"/tether-bench/claim", TT_ETCD_CREATE, 0, false};
        tt_etcd_op op = {.key = "/tether-bench/claim", .value = "{}"};
        bool won;
        tt_etcd_kvs kvs;
        double e3 = bench_now_us();
        if (tt_etcd_txn_read(e, &cmp, 1, &op, 1, prefixes, 2, false, tt_deadline_ms(5000), &won, NULL, &kvs) != TETHER_OK ||
            !won)
            BENCH_DIE("bench claim: %s", tether_last_error());
        double e4 = bench_now_us();
        tt_etcd_kvs_free(&kvs);
        if (tt_etcd_delete(e, "/tether-bench/claim", false, tt_deadline_ms(5000)) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        /* the same two in gRPC, as placement sends them */
        tt_etcd_use_grpc(e, true);
        double g0 = bench_now_us();
        if (tt_fleet_view_read_free(e, tt_deadline_ms(5000), &v))
            BENCH_DIE("%s", tether_last_error());
        double g1 = bench_now_us();
        tt_fleet_view_free(&v);
        if (tt_etcd_txn_read(e, &cmp, 1, &op, 1, prefixes, 2, false, tt_deadline_ms(5000), &won, NULL, &kvs) != TETHER_OK ||
            !won)
            BENCH_DIE("bench claim: %s", tether_last_error());
        double g2 = bench_now_us();
        tt_etcd_kvs_free(&kvs);
        tt_etcd_use_grpc(e, false);
        if (tt_etcd_delete(e, "/tether-bench/claim", false, tt_deadline_ms(5000)) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        tt_etcd_close(e);
        t[ETCD_FIRST][i] = (e1 - e0) / 1000;
        t[ETCD_READ][i] = (e2 - e1) / 1000;
        t[ETCD_TXN][i] = (e4 - e3) / 1000;
        t[GRPC_READ][i] = (g1 - g0) / 1000;
        t[GRPC_TXN][i] = (g2 - g1) / 1000;
    }
    printf("\n## attach, step by step (%d each; p50)\n\n| step | p50 | p90 |\n| --- | --- | --- |\n", n);
    for (int k = 0; k < N_STEPS; k++) {
        print_row(names[k], t[k], n);
        free(t[k]);
    }
    printf("\ndirect = connect + RESERVE + record. fleet, warm = the claim transaction (in gRPC) and, at the same "
           "time, connect + RESERVE (an early reservation), then record; cold claims from the view on disk; first "
           "reads the fleet (in gRPC) before it claims.\n");
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

/* One failover: a session pinned to server 0 runs back to back; server 0 is killed (sig:
 * SIGKILL), or stopped (SIGSTOP: it holds its connections and answers nothing); the time to
 * the first answer after it. Server 0 is started again afterwards. */
static double failover_once(tp_server *srv, const pbw *m, int k, int trial, int sig)
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
    kill(srv[0].pid, sig);
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
    if (sig != SIGKILL) {
        kill(srv[0].pid, SIGKILL);
        kill(srv[0].pid, SIGCONT);
    }
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
    bench_attach_times(srv, iterations, true);
    bench_attach_times(srv, iterations, false);
    bench_attach_steps(srv, iterations);
    bench_cli(srv, iterations < 10 ? iterations : 10);
    if (getenv("BENCH_FLEET_ATTACH_ONLY"))
        return 0;

    /* a model of `mib` MiB of weights: its upload is what a cache saves */
    int k = 256, n = mib * 1024 * 1024 / 4 / k;
    int trials = iterations < 5 ? iterations : 5;
    double cached[8], uncached[8];
    pbw warm = model_dense(k, n, 1);
    warm_others(srv, &warm);
    for (int t = 0; t < trials; t++)
        cached[t] = failover_once(srv, &warm, k, 10 + t, SIGKILL);
    for (int t = 0; t < trials; t++) {
        pbw fresh = model_dense(k, n, 100 + (uint32_t)t); /* never seen by any server */
        uncached[t] = failover_once(srv, &fresh, k, 20 + t, SIGKILL);
        ob_free(&fresh);
    }
    /* a hung server: found when its registration leaves the fleet (lease TTL 2 s here),
     * the requests' timeout being 30 s */
    double hung[8];
    int hung_trials = trials < 3 ? trials : 3;
    for (int t = 0; t < hung_trials; t++)
        hung[t] = failover_once(srv, &warm, k, 30 + t, SIGSTOP);
    ob_free(&warm);
    double c50 = bench_pct(cached, trials, 0.5), cmax = bench_pct(cached, trials, 1.0);
    double u50 = bench_pct(uncached, trials, 0.5), umax = bench_pct(uncached, trials, 1.0);
    printf("\n## failover: SIGKILL of the server -> first answer from the next (%d trials each, %d MiB model)\n\n",
           trials, mib);
    printf("| model on the new server | median | worst |\n| --- | --- | --- |\n");
    printf("| cached | %.0f ms | %.0f ms |\n", c50, cmax);
    printf("| not cached (uploaded) | %.0f ms | %.0f ms |\n", u50, umax);
    printf("\ncached failover <= 1 s: %s\n", cmax <= 1000 ? "met" : "NOT met");
    printf("\n## failover: SIGSTOP of the server (a hang) -> first answer from the next (%d trials, cached, lease "
           "TTL 2 s, request timeout 30 s)\n\n| median | worst |\n| --- | --- |\n| %.0f ms | %.0f ms |\n",
           hung_trials, bench_pct(hung, hung_trials, 0.5), bench_pct(hung, hung_trials, 1.0));
    for (int i = 0; i < 3; i++)
        tp_signal_wait(&srv[i], SIGTERM);
    return 0;
}
