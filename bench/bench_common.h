/* Shared by the accelerator benchmarks: a tetherd child process (tests/integration's
 * tetherd_proc.h), a scratch directory removed at exit, latency percentiles, models built in
 * C (tests/unit/onnx_build.h) or exported by PyTorch (tests/integration/export_models.sh). */
#ifndef TT_BENCH_COMMON_H
#define TT_BENCH_COMMON_H

#include "onnx_build.h"
#include "tetherd_proc.h"

#include "client/attach.h"
#include "tether.h"

#include <ftw.h>
#include <math.h>
#include <stdlib.h>

#define BENCH_DIE(...)                                                                                                 \
    do {                                                                                                               \
        fprintf(stderr, "bench: " __VA_ARGS__);                                                                        \
        fputc('\n', stderr);                                                                                           \
        exit(1);                                                                                                       \
    } while (0)

static char bench_root[256];

static int bench_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void bench_cleanup(void)
{
    if (bench_root[0])
        nftw(bench_root, bench_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A scratch root (and TETHER_HOME inside it) for this run. */
static inline void bench_init(void)
{
    snprintf(bench_root, sizeof bench_root, "/tmp/tether-bench-XXXXXX");
    if (!mkdtemp(bench_root))
        BENCH_DIE("mkdtemp: %s", strerror(errno));
    atexit(bench_cleanup);
    char home[300];
    snprintf(home, sizeof home, "%s/home", bench_root);
    setenv("TETHER_HOME", home, 1);
    unsetenv("TETHER_VISIBLE_DEVICES");
}

static inline void bench_server(tp_server *s, const char *const *args)
{
    char err[512];
    if (tp_start(s, TETHERD_PATH, bench_root, args, false, "warn", err, sizeof err) != 0) {
        tp_dump_log(s, stderr);
        BENCH_DIE("%s", err);
    }
}

static inline double bench_now_us(void)
{
    return tp_now_s() * 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n samples (sorted in place). */
static inline double bench_pct(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)ceil(q * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* y = relu(x @ W + b), x float[N, k], W float[k, n] */
static inline pbw bench_dense(int k, int n)
{
    float *w = malloc(sizeof(float) * (size_t)k * (size_t)n), *b = calloc((size_t)n, sizeof(float));
    for (int i = 0; i < k * n; i++)
        w[i] = (float)((i * 7919) % 201 - 100) / 1000.0f;
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

/* ResNet-50's input and output sizes with next to no compute: x float[1,3,224,224] → the
 * first 1000 values, float[1,1000]. Measures what moving those bytes costs, alone. */
static inline pbw bench_io_model(void)
{
    int64_t shape[2] = {1, 3 * 224 * 224}, starts[1] = {0}, ends[1] = {1000}, axes[1] = {1};
    pbw inits[4] = {ob_tensor("shape", TETHER_DTYPE_INT64, 1, (int64_t[]){2}, shape, sizeof shape),
                    ob_tensor("starts", TETHER_DTYPE_INT64, 1, (int64_t[]){1}, starts, sizeof starts),
                    ob_tensor("ends", TETHER_DTYPE_INT64, 1, (int64_t[]){1}, ends, sizeof ends),
                    ob_tensor("axes", TETHER_DTYPE_INT64, 1, (int64_t[]){1}, axes, sizeof axes)};
    pbw x = ob_input("input", TETHER_DTYPE_FLOAT, 4, (int64_t[]){1, 3, 224, 224});
    pbw y = ob_output("output", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1000});
    pbw nodes[2] = {ob_node("Reshape", 2, (const char *[]){"input", "shape"}, 1, (const char *[]){"flat"}, 0, NULL),
                    ob_node("Slice", 4, (const char *[]){"flat", "starts", "ends", "axes"}, 1,
                            (const char *[]){"output"}, 0, NULL)};
    pbw g = ob_graph("io", 2, nodes, 4, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

static inline void bench_write(const char *path, const pbw *m)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(m->buf, 1, m->len, f) != m->len || fclose(f) != 0)
        BENCH_DIE("cannot write %s", path);
}

/* BENCH_MODELS_DIR/NAME.onnx, exported by PyTorch if missing; NULL where that cannot be. */
static inline const char *bench_torch_model(const char *name, char *path, size_t n)
{
    snprintf(path, n, "%s/%s.onnx", BENCH_MODELS_DIR, name);
    if (access(path, R_OK) == 0)
        return path;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s >&2", BENCH_EXPORT_SH, BENCH_EXPORT_PY, BENCH_MODELS_DIR, name);
    fprintf(stderr, "bench: exporting %s with PyTorch...\n", name);
    int rc = system(cmd);
    return rc == 0 && access(path, R_OK) == 0 ? path : NULL;
}

static inline tether_session *bench_open(const char *path, const char *target)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = target;
    cfg.quiet = 1;
    cfg.timeout_ms = 600000;
    tether_session *s;
    if (tether_session_open(&s, path, &cfg) != TETHER_OK)
        BENCH_DIE("opening %s on %s: %s", path, target, tether_last_error());
    return s;
}

/* Random inputs at the model's declared shapes (unnamed dims = 1); the names are copies,
 * so the inputs outlive the session they were made from. */
typedef struct bench_inputs {
    tether_tensor t[16];
    size_t n;
    size_t bytes;
} bench_inputs;

static inline void bench_make_inputs(tether_session *s, bench_inputs *in)
{
    memset(in, 0, sizeof *in);
    in->n = tether_session_input_count(s);
    if (in->n > 16)
        BENCH_DIE("more than 16 inputs");
    uint32_t seed = 1;
    for (size_t i = 0; i < in->n; i++) {
        tether_value_info info;
        tether_session_input_info(s, i, &info);
        tether_tensor *t = &in->t[i];
        t->name = strdup(info.name);
        t->dtype = info.dtype;
        t->rank = info.rank;
        size_t numel = 1;
        for (int d = 0; d < info.rank; d++) {
            t->dims[d] = info.dims[d] >= 0 ? info.dims[d] : 1;
            numel *= (size_t)t->dims[d];
        }
        t->size = numel * tether_dtype_size(info.dtype);
        t->data = calloc(1, t->size + 1);
        if (info.dtype == TETHER_DTYPE_FLOAT)
            for (size_t k = 0; k < numel; k++) {
                seed = seed * 1103515245u + 12345u;
                ((float *)t->data)[k] = (float)(seed >> 16 & 0x7fff) / 32768.0f;
            }
        in->bytes += t->size;
    }
}

static inline void bench_free_inputs(bench_inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->t[i].data);
        free((char *)in->t[i].name);
    }
}

#endif
