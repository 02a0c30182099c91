/* Measuring a model on one target through the public API: inputs from .npy files or made up
 * from the model's declared shapes, timed runs from `concurrency` threads sharing one session,
 * latencies summarised with numpy's percentile rule, a progress bar when asked. */
#include "bench.h"

#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t tt_bench_stop;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Records why the measurement failed, for the caller to print or tabulate. */
static tether_status fail(tt_bench_result *r, tether_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static tether_status fail(tt_bench_result *r, tether_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- statistics ---------------------------------------------------------------------------- */

double tt_bench_percentile(const double *sorted, int n, double q)
{
    if (n <= 0)
        return 0;
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    if (lo >= n - 1)
        return sorted[n - 1];
    double frac = pos - lo;
    return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void tt_bench_summarize(const double *ms, int n, tt_bench_summary *out)
{
    memset(out, 0, sizeof *out);
    if (n <= 0)
        return;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return;
    memcpy(s, ms, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += s[i];
    out->mean = sum / n;
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (s[i] - out->mean) * (s[i] - out->mean);
    out->stddev = n > 1 ? sqrt(ss / (n - 1)) : 0;
    out->min = s[0];
    out->max = s[n - 1];
    out->p50 = tt_bench_percentile(s, n, 0.50);
    out->p90 = tt_bench_percentile(s, n, 0.90);
    out->p95 = tt_bench_percentile(s, n, 0.95);
    out->p99 = tt_bench_percentile(s, n, 0.99);
    free(s);
}

/* ---- inputs -------------------------------------------------------------------------------- */

static const char g_empty[] = "";

/* Looks NAME up in "NAME=VALUE" dimension settings. */
static bool dim_setting(const tt_bench_opts *o, const char *name, int64_t *v)
{
    if (!name)
        return false;
    size_t len = strlen(name);
    for (int i = 0; i < o->n_dims; i++)
        if (strncmp(o->dims[i], name, len) == 0 && o->dims[i][len] == '=') {
            *v = strtoll(o->dims[i] + len + 1, NULL, 10);
            return true;
        }
    return false;
}

/* Cheap, deterministic values in [0, 1): the benchmark times the model, not the data. */
static float next_uniform(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / 16777216.0f;
}

static tether_status make_input(const tether_value_info *info, int index, const tt_bench_opts *o, tether_tensor *t,
                                tt_bench_result *r)
{
    memset(t, 0, sizeof *t);
    t->name = info->name;
    t->dtype = info->dtype;
    if (info->dtype == TETHER_DTYPE_UNDEFINED || info->rank < 0) {
        return fail(r, TETHER_ERR_INVALID_ARGUMENT,
                    "input '%s' is not a tensor of fixed rank: give it with --input %s=FILE.npy", info->name,
                    info->name);
    }
    t->rank = info->rank;
    size_t count = 1;
    for (int d = 0; d < info->rank; d++) {
        int64_t v = info->dims[d];
        if (v < 0) {
            v = 1;
            if (!dim_setting(o, info->dim_names[d], &v) && d == 0 && o->batch > 0)
                v = o->batch;
        } else if (d == 0 && o->batch > 1 && v != o->batch) {
            return fail(r, TETHER_ERR_INVALID_ARGUMENT,
                        "input '%s' has a fixed first dimension of %lld: --batch applies to models with a free batch "
                        "dimension",
                        info->name, (long long)v);
        }
        if (v < 0 || (v > 0 && count > ((size_t)1 << 40) / (size_t)v)) {
            return fail(r, TETHER_ERR_INVALID_ARGUMENT, "input '%s': dimension %d (%lld) is out of range", info->name,
                        d, (long long)v);
        }
        t->dims[d] = v;
        count *= (size_t)v;
    }
    size_t esize = info->dtype == TETHER_DTYPE_STRING ? sizeof(char *) : tether_dtype_size(info->dtype);
    t->size = count * esize;
    t->data = calloc(count ? count : 1, esize);
    if (!t->data) {
        return fail(r, TETHER_ERR_NO_MEMORY, "out of memory making input '%s' (%zu bytes)", info->name, t->size);
    }
    uint32_t seed = 12345u + (uint32_t)index;
    switch (info->dtype) {
    case TETHER_DTYPE_FLOAT:
        for (size_t i = 0; i < count; i++)
            ((float *)t->data)[i] = next_uniform(&seed);
        break;
    case TETHER_DTYPE_DOUBLE:
        for (size_t i = 0; i < count; i++)
            ((double *)t->data)[i] = next_uniform(&seed);
        break;
    case TETHER_DTYPE_FLOAT16:
        for (size_t i = 0; i < count; i++)
            ((uint16_t *)t->data)[i] = 0x3800; /* 0.5 */
        break;
    case TETHER_DTYPE_BFLOAT16:
        for (size_t i = 0; i < count; i++)
            ((uint16_t *)t->data)[i] = 0x3f00; /* 0.5 */
        break;
    case TETHER_DTYPE_STRING:
        for (size_t i = 0; i < count; i++)
            ((const char **)t->data)[i] = g_empty;
        break;
    default: break; /* integers and bools: zeros, valid as indices and as flags */
    }
    return TETHER_OK;
}

/* Inputs: the .npy files given (by name, or in the model's order), the rest made up. */
static tether_status prepare_inputs(tether_session *s, const tt_bench_opts *o, tether_tensor **out, size_t *n_out,
                                    bool **owned_out, tt_bench_result *r)
{
    size_t n = tether_session_input_count(s);
    tether_tensor *t = calloc(n ? n : 1, sizeof *t);
    bool *have = calloc(n ? n : 1, sizeof *have);
    if (!t || !have) {
        free(t);
        free(have);
        return fail(r, TETHER_ERR_NO_MEMORY, "out of memory");
    }
    tether_status st = tt_cli_read_inputs(s, o->inputs, o->n_inputs, t, have);
    if (st != TETHER_OK)
        fail(r, st, "%s", tether_last_error());
    for (size_t k = 0; k < n && st == TETHER_OK; k++) {
        if (have[k])
            continue;
        tether_value_info info;
        tether_session_input_info(s, k, &info);
        st = make_input(&info, (int)k, o, &t[k], r);
        have[k] = st == TETHER_OK;
    }
    *out = t;
    *n_out = n;
    *owned_out = have; /* every tensor whose data bench allocated */
    return st;
}

static void free_inputs(tether_tensor *t, size_t n, bool *owned)
{
    for (size_t i = 0; t && i < n; i++)
        if (owned[i])
            free(t[i].data);
    free(t);
    free(owned);
}

/* ---- timed runs ---------------------------------------------------------------------------- */

typedef struct run_ctx {
    tether_session *s;
    const tether_tensor *inputs;
    size_t n_inputs;
    int runs;
    atomic_int next; /* the next run to claim */
    atomic_int done; /* runs finished, for the progress bar */
    atomic_bool failed;
    double *lat; /* lat[i]: run i's latency */
    pthread_mutex_t err_lock;
    char err[512];
    tether_status err_status;
} run_ctx;

static void *worker(void *arg)
{
    run_ctx *c = arg;
    for (;;) {
        if (atomic_load(&c->failed) || tt_bench_stop)
            break;
        int i = atomic_fetch_add(&c->next, 1);
        if (i >= c->runs)
            break;
        tether_outputs *out = NULL;
        double t0 = now_ms();
        tether_status st = tether_session_run(c->s, c->inputs, c->n_inputs, &out);
        c->lat[i] = now_ms() - t0;
        tether_outputs_free(out);
        if (st != TETHER_OK) {
            pthread_mutex_lock(&c->err_lock);
            if (!atomic_load(&c->failed)) {
                snprintf(c->err, sizeof c->err, "%s", tether_last_error()); /* thread-local: copy it here */
                c->err_status = st;
                atomic_store(&c->failed, true);
            }
            pthread_mutex_unlock(&c->err_lock);
            break;
        }
        atomic_fetch_add(&c->done, 1);
    }
    return NULL;
}

typedef struct progress {
    run_ctx *c;
    const char *label;
    atomic_bool quit;
} progress;

static void draw_bar(const char *label, int done, int total)
{
    const int width = 30;
    int fill = total ? done * width / total : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r  %-24.24s [%s] %d/%d", label ? label : "", bar, done, total);
    fflush(stderr);
}

static void *progress_main(void *arg)
{
    progress *p = arg;
    while (!atomic_load(&p->quit)) {
        draw_bar(p->label, atomic_load(&p->c->done), p->c->runs);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    draw_bar(p->label, atomic_load(&p->c->done), p->c->runs); /* the final count, however fast it went */
    fprintf(stderr, "\r%*s\r", 72, "");                       /* then a clean line for what follows */
    fflush(stderr);
    return NULL;
}

static tether_status timed_runs(tether_session *s, const tether_tensor *in, size_t n_in, const tt_bench_opts *o,
                                tt_bench_result *r)
{
    run_ctx c = {.s = s, .inputs = in, .n_inputs = n_in, .runs = o->runs};
    atomic_init(&c.next, 0);
    atomic_init(&c.done, 0);
    atomic_init(&c.failed, false);
    pthread_mutex_init(&c.err_lock, NULL);
    c.lat = calloc((size_t)o->runs, sizeof *c.lat);
    int nt = o->concurrency < 1 ? 1 : o->concurrency;
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    if (!c.lat || !th) {
        free(c.lat);
        free(th);
        return fail(r, TETHER_ERR_NO_MEMORY, "out of memory");
    }
    progress p = {.c = &c, .label = o->label};
    atomic_init(&p.quit, false);
    pthread_t pt;
    bool have_progress = o->progress && pthread_create(&pt, NULL, progress_main, &p) == 0;

    double t0 = now_ms();
    int started = 0;
    /* one at a time: on this thread, which opened the session and ran the first inference,
     * as an application would (and as the peers' benchmarks do) */
    for (; nt > 1 && started < nt; started++)
        if (pthread_create(&th[started], NULL, worker, &c) != 0)
            break;
    if (started == 0)
        worker(&c); /* one at a time, or no thread could start: measure on this one */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double wall = now_ms() - t0;
    if (have_progress) {
        atomic_store(&p.quit, true);
        pthread_join(pt, NULL);
    }
    tether_status st = TETHER_OK;
    if (atomic_load(&c.failed)) {
        st = fail(r, c.err_status, "%s", c.err);
    } else if (tt_bench_stop) {
        st = fail(r, TETHER_ERR_RUNTIME, "interrupted");
    } else {
        tt_bench_summarize(c.lat, o->runs, &r->lat);
        r->wall_s = wall / 1e3;
        r->throughput = wall > 0 ? o->runs / (wall / 1e3) : 0;
        if (o->keep_latencies) {
            r->latencies = c.lat;
            r->n_latencies = o->runs;
            c.lat = NULL;
        }
    }
    free(c.lat);
    free(th);
    pthread_mutex_destroy(&c.err_lock);
    return st;
}

/* The accuracy of a reduced-precision session: its outputs `got` against an fp32 session's
 * on the same inputs. */
static tether_status compare_fp32(const char *model, const char *target, const tether_tensor *in, size_t n_in,
                                  const tether_outputs *got, tt_bench_result *r)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = target;
    cfg.quiet = 1;
    cfg.warmup = 0;
    tether_session *s;
    tether_status st = tether_session_open(&s, model, &cfg);
    if (st != TETHER_OK)
        return fail(r, st, "opening the fp32 session to compare with: %s", tether_last_error());
    tether_outputs *want = NULL;
    st = tether_session_run(s, in, n_in, &want);
    if (st != TETHER_OK) {
        tether_session_free(s);
        return fail(r, st, "the fp32 run to compare with: %s", tether_last_error());
    }
    double err = 0, peak = 0;
    long rows = 0, agree = 0;
    for (size_t k = 0; k < tether_outputs_count(want); k++) {
        const tether_tensor *a = tether_outputs_get(got, k), *b = tether_outputs_get(want, k);
        if (!a || a->dtype != TETHER_DTYPE_FLOAT || b->dtype != TETHER_DTYPE_FLOAT || a->size != b->size)
            continue;
        const float *x = a->data, *y = b->data;
        size_t n = b->size / sizeof(float);
        for (size_t i = 0; i < n; i++) {
            err = fmax(err, fabs((double)x[i] - y[i]));
            peak = fmax(peak, fabs((double)y[i]));
        }
        int64_t cols = b->rank >= 2 ? b->dims[b->rank - 1] : 0;
        for (size_t row = 0; cols > 0 && row < n / (size_t)cols; row++) {
            size_t bx = 0, by = 0;
            for (size_t j = 1; j < (size_t)cols; j++) {
                if (x[row * cols + j] > x[row * cols + bx])
                    bx = j;
                if (y[row * cols + j] > y[row * cols + by])
                    by = j;
            }
            rows++;
            agree += bx == by;
        }
    }
    r->compared = true;
    r->max_abs_err = err;
    r->rel_err = peak > 0 ? err / peak : err;
    r->top1_agreement = rows ? (double)agree / (double)rows : -1;
    tether_outputs_free(want);
    tether_session_free(s);
    return TETHER_OK;
}

tether_status tt_bench_measure(const char *model, const char *target, const tt_bench_opts *o, tt_bench_result *r)
{
    memset(r, 0, sizeof *r);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = target;
    cfg.quiet = 1;
    cfg.precision = o->precision;
    double t0 = now_ms();
    tether_session *s;
    tether_status st = tether_session_open(&s, model, &cfg);
    if (st != TETHER_OK)
        return fail(r, st, "%s", tether_last_error());
    r->load_ms = now_ms() - t0;
    tether_session_stats stats;
    if (tether_session_stats_get(s, &stats) == TETHER_OK) {
        r->memory_needed = stats.weight_bytes + stats.activation_bytes;
        r->flops = stats.flops;
        snprintf(r->where, sizeof r->where, "%s", stats.where);
    }
    tether_tensor *in = NULL;
    size_t n_in = 0;
    bool *owned = NULL;
    st = prepare_inputs(s, o, &in, &n_in, &owned, r);
    if (st == TETHER_OK) {
        /* First inference: what an application waits for on its first request. */
        tether_outputs *out = NULL;
        double f0 = now_ms();
        st = tether_session_run(s, in, n_in, &out);
        r->first_ms = now_ms() - f0;
        if (st != TETHER_OK)
            fail(r, st, "first run: %s", tether_last_error());
        else if (o->precision && strcmp(o->precision, "fp32") != 0)
            st = compare_fp32(model, target, in, n_in, out, r);
        tether_outputs_free(out);
    }
    for (int i = 0; i < o->warmup && st == TETHER_OK && !tt_bench_stop; i++) {
        tether_outputs *out = NULL;
        st = tether_session_run(s, in, n_in, &out);
        tether_outputs_free(out);
        if (st != TETHER_OK)
            fail(r, st, "warm-up run %d: %s", i + 1, tether_last_error());
    }
    if (st == TETHER_OK && tt_bench_stop)
        st = fail(r, TETHER_ERR_RUNTIME, "interrupted");
    if (st == TETHER_OK)
        st = timed_runs(s, in, n_in, o, r);
    free_inputs(in, n_in, owned);
    tether_session_free(s);
    return st;
}
