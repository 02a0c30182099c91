/* Integration-test harness: real tetherd processes on loopback, each in its own temporary
 * directory (state, port file, log) under one root that main removes at the end. A server
 * dies with its test (PR_SET_PDEATHSIG), and a test that fails while its server runs
 * prints the server's log. Builds on tests/unit/check.h (one forked process per test,
 * with a timeout) and onnx_build.h (models built in C).
 *
 *   th_server s; th_server_start(&s, (const char *[]){"--slots", "cpu.medium=2", NULL});
 *   tt_attachment a; CHECK_OK(tt_attach("cpu.medium", s.endpoint, &a));
 *   ... tether_session_open(..., target "eia:0") ...
 *   th_server_stop(&s); */
#ifndef TT_IT_HARNESS_H
#define TT_IT_HARNESS_H

#include "check.h"
#include "onnx_build.h"
#include "tetherd_proc.h"

#include "client/attach.h"
#include "net/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifndef TETHERD_PATH
#error "TETHERD_PATH must name the tetherd binary"
#endif

static char th_root[256]; /* this test program's temporary root */

typedef tp_server th_server;

static th_server *th_live; /* started and not stopped: dumped if the test dies */

#define th_now_s tp_now_s
#define th_sleep_ms tp_sleep_ms

static inline void th_mkdtemp(const char *prefix, char *out, size_t n)
{
    snprintf(out, n, "%s/%sXXXXXX", th_root, prefix);
    if (!mkdtemp(out))
        CHECK_FAIL("mkdtemp(%s): %s", out, strerror(errno));
}

/* The port in a file that tetherd writes once that listener is open (--http-port-file):
 * the harness waited only for the wire listener, and the HTTP one opens after it. */
static inline int th_read_port(const char *path)
{
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(path, "r");
        int port = 0;
        if (f) {
            bool ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port > 0)
                return port;
        }
        th_sleep_ms(50);
    }
    CHECK_FAIL("no port in %s after 20 s", path);
}

static int th_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Removes path and everything under it (a passed test's servers and etcd: etcd alone
 * preallocates 64 MB of log, and a program starts dozens). */
static inline void th_rm_tree(const char *path)
{
    if (path[0])
        nftw(path, th_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void th_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        CHECK_FAIL("cannot write %s", path);
}

static void th_atexit(void)
{
    for (th_server *s = th_live; s; s = s->next_live) {
        tp_dump_log(s, stderr);
        if (s->pid > 0)
            kill(s->pid, SIGKILL);
    }
}

static inline void th_unlive(th_server *s)
{
    for (th_server **p = &th_live; *p; p = &(*p)->next_live)
        if (*p == s) {
            *p = s->next_live;
            break;
        }
}

static inline void th_server_launch_at(th_server *s, const tp_where *where, const char *const *args, bool restart)
{
    static bool registered;
    if (!registered) {
        atexit(th_atexit);
        registered = true;
    }
    /* the configured peak skips the start-up measurement and makes rates predictable */
    const char *all[64] = {"--peak-gflops", "20"};
    int n = 2;
    for (int i = 0; args && args[i] && n < 63; i++)
        all[n++] = args[i];
    all[n] = NULL;
    char err[512];
    const char *level = getenv("TH_SERVER_LOG") ? getenv("TH_SERVER_LOG") : "info";
    if (tp_start_at(s, where, TETHERD_PATH, th_root, all, restart, level, err, sizeof err) != 0) {
        tp_dump_log(s, stderr);
        CHECK_FAIL("%s", err);
    }
    s->next_live = th_live;
    th_live = s;
}

static inline void th_server_launch(th_server *s, const char *const *args, bool restart)
{
    th_server_launch_at(s, NULL, args, restart);
}

/* Starts tetherd on a free loopback port; args (NULL-terminated, may be NULL) come after
 * the harness's own flags, so they may override them. */
static inline void th_server_start(th_server *s, const char *const *args)
{
    th_server_launch(s, args, false);
}
/* Starts a stopped server again: same port, same state directory. */
static inline void th_server_restart(th_server *s, const char *const *args)
{
    th_server_launch(s, args, true);
}

/* Sends sig and waits for the process to end (SIGKILL after 10 s). */
static inline int th_server_signal_wait(th_server *s, int sig)
{
    th_unlive(s);
    return tp_signal_wait(s, sig);
}

/* A clean stop: SIGTERM; the server must exit 0 (under ASan: and without leaks). */
static inline void th_server_stop(th_server *s)
{
    int status = th_server_signal_wait(s, SIGTERM);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        tp_dump_log(s, stderr);
        CHECK_FAIL("tetherd did not exit cleanly on SIGTERM (status 0x%x)", status);
    }
}

static inline bool th_server_alive(const th_server *s)
{
    int status;
    return s->pid > 0 && waitpid(s->pid, &status, WNOHANG) == 0;
}

/* A fresh TETHER_HOME for this test (attachments recorded there). */
static inline void th_fresh_home(void)
{
    char home[300];
    th_mkdtemp("home", home, sizeof home);
    setenv("TETHER_HOME", home, 1);
    unsetenv("TETHER_VISIBLE_DEVICES");
}

/* ---- models ------------------------------------------------------------------------ */

static inline uint32_t th_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static inline float th_randf(uint32_t *s)
{
    return (float)(th_rand(s) % 20001) / 10000.0f - 1.0f;
}

/* y = relu(x @ W + b): x float[N, k], W float[k, n], b float[n], weights from seed. Models
 * of different seeds compute different functions of the same input. */
static inline pbw th_model_dense(int k, int n, uint32_t seed)
{
    float *w = malloc(sizeof(float) * (size_t)k * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    uint32_t st = seed * 2654435761u + 1;
    for (int i = 0; i < k * n; i++)
        w[i] = th_randf(&st);
    for (int i = 0; i < n; i++)
        b[i] = th_randf(&st);
    pbw inits[2] = {ob_tensor("W", TETHER_DTYPE_FLOAT, 2, (int64_t[]){k, n}, w, sizeof(float) * (size_t)k * (size_t)n),
                    ob_tensor("b", TETHER_DTYPE_FLOAT, 1, (int64_t[]){n}, b, sizeof(float) * (size_t)n)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, k});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, n});
    pbw nodes[3] = {ob_node("MatMul", 2, (const char *[]){"x", "W"}, 1, (const char *[]){"t"}, 0, NULL),
                    ob_node("Add", 2, (const char *[]){"t", "b"}, 1, (const char *[]){"u"}, 0, NULL),
                    ob_node("Relu", 1, (const char *[]){"u"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw g = ob_graph("dense", 3, nodes, 2, inits, 1, &x, 1, &y);
    free(w);
    free(b);
    return ob_model(13, &g);
}

/* A model that takes a while: `layers` MatMuls of float[1, n] by float[n, n]. */
static inline pbw th_model_slow(int n, int layers)
{
    float *w = malloc(sizeof(float) * (size_t)n * (size_t)n);
    for (int i = 0; i < n * n; i++)
        w[i] = (i % (n + 1) == 0) ? 1.0f : 0.0f; /* identity: values stay bounded */
    pbw init = ob_tensor("W", TETHER_DTYPE_FLOAT, 2, (int64_t[]){n, n}, w, sizeof(float) * (size_t)n * (size_t)n);
    free(w);
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, n});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, n});
    pbw *nodes = calloc((size_t)layers, sizeof *nodes);
    char names[64][16];
    for (int i = 0; i < layers && i < 64; i++) {
        snprintf(names[i], sizeof names[i], i == layers - 1 ? "y" : "h%d", i);
        const char *in = i ? names[i - 1] : "x";
        nodes[i] = ob_node("MatMul", 2, (const char *[]){in, "W"}, 1, (const char *[]){names[i]}, 0, NULL);
    }
    pbw g = ob_graph("slow", layers, nodes, 1, &init, 1, &x, 1, &y);
    free(nodes);
    return ob_model(13, &g);
}

static inline tether_session *th_open(const void *m, size_t n, const char *target, int timeout_ms)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = target;
    cfg.quiet = 1;
    cfg.timeout_ms = timeout_ms;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m, n, &cfg));
    return s;
}

/* Runs a one-input float model on x[rows, cols]; returns its outputs (caller frees). */
static inline tether_status th_run_f32(tether_session *s, const float *x, int64_t rows, int64_t cols,
                                       tether_outputs **out)
{
    tether_tensor in = {.name = NULL,
                        .dtype = TETHER_DTYPE_FLOAT,
                        .rank = 2,
                        .dims = {rows, cols},
                        .data = (void *)x,
                        .size = sizeof(float) * (size_t)(rows * cols)};
    return tether_session_run(s, &in, 1, out);
}

/* Every output of a and b: same names, dtypes, shapes and bytes. */
static inline void th_check_same_outputs(const tether_outputs *a, const tether_outputs *b)
{
    CHECK_EQ_INT(tether_outputs_count(a), tether_outputs_count(b));
    for (size_t i = 0; i < tether_outputs_count(a); i++) {
        const tether_tensor *x = tether_outputs_get(a, i), *y = tether_outputs_get(b, i);
        CHECK(strcmp(x->name, y->name) == 0);
        CHECK_EQ_INT(x->dtype, y->dtype);
        CHECK_EQ_INT(x->rank, y->rank);
        for (int d = 0; d < x->rank; d++)
            CHECK_EQ_INT(x->dims[d], y->dims[d]);
        CHECK_EQ_INT(x->size, y->size);
        if (memcmp(x->data, y->data, x->size) != 0)
            CHECK_FAIL("output '%s' differs between the two runs (not bit-identical)", x->name);
    }
}

/* ---- main ------------------------------------------------------------------------ */

/* Runs the tests under a fresh temporary root, then removes it whatever happened. */
static inline int th_main(int argc, char **argv)
{
    snprintf(th_root, sizeof th_root, "/tmp/tether-it-XXXXXX");
    if (!mkdtemp(th_root)) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = check_main(argc, argv);
    th_rm_tree(th_root);
    return rc;
}

#endif
