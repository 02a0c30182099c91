/* The CPU device. Its peak is what sgemm reaches on every thread of the engine's pool at
 * once, since a slot's rate is a fraction of what this machine really does. One short
 * measurement is noisy (another process, frequency scaling, a cold cache: readings at start
 * once ranged from 1.4 to 80 GFLOP/s on one machine), and a low one would make every slot
 * slow for the server's life; so the rate is measured in several rounds, a high percentile
 * is kept, and the result is stored in the state directory for the next start. */
#include "server/device.h"

#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "model/model.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PEAK_N 256          /* sgemm size: in cache, large enough to reach peak */
#define PEAK_ROUNDS 7       /* all threads at once, this many times */
#define PEAK_ROUND_S 0.05   /* per round */
#define PEAK_RANK 1         /* keep the second best round: a high percentile, not an outlier */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct peak_job {
    double seconds;
    double flops[256];
} peak_job;

static void peak_range(void *arg, int64_t b, int64_t e)
{
    peak_job *j = arg;
    for (int64_t t = b; t < e; t++) {
        size_t n = PEAK_N;
        float *a = tt_malloc_aligned(sizeof(float) * n * n * 3);
        if (!a)
            continue;
        float *bm = a + n * n, *c = bm + n * n;
        for (size_t i = 0; i < n * n; i++)
            a[i] = bm[i] = (float)(i % 13) * 0.01f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, PEAK_N, PEAK_N, PEAK_N, 1.0f, a, PEAK_N, bm, PEAK_N,
                    0.0f, c, PEAK_N); /* warm */
        double t0 = now_s(), t1;
        long reps = 0;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, PEAK_N, PEAK_N, PEAK_N, 1.0f, a, PEAK_N, bm, PEAK_N,
                        0.0f, c, PEAK_N);
            reps++;
            t1 = now_s();
        } while (t1 - t0 < j->seconds);
        if (t < 256)
            j->flops[t] = 2.0 * PEAK_N * PEAK_N * PEAK_N * reps / (t1 - t0);
        tt_free_aligned(a);
    }
}

static int desc_order(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

/* Several rounds of one sgemm per pool thread at once; the PEAK_RANK-th best round. */
static double measure(int threads)
{
    int n = threads > 256 ? 256 : threads;
    double rounds[PEAK_ROUNDS];
    openblas_set_num_threads(1);
    for (int r = 0; r < PEAK_ROUNDS; r++) {
        peak_job j = {.seconds = PEAK_ROUND_S};
        tt_parallel_for(n, 1, peak_range, &j);
        rounds[r] = 0;
        for (int i = 0; i < n; i++)
            rounds[r] += j.flops[i];
    }
    qsort(rounds, PEAK_ROUNDS, sizeof rounds[0], desc_order);
    char list[PEAK_ROUNDS * 12 + 1] = "";
    size_t o = 0;
    for (int r = 0; r < PEAK_ROUNDS && o < sizeof list; r++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%.1f", r ? " " : "", rounds[r] / 1e9);
    tt_log(TT_LOG_INFO, "device peak: rounds at %s GFLOP/s; keeping %.1f", list, rounds[PEAK_RANK] / 1e9);
    return rounds[PEAK_RANK];
}

typedef struct measure_call {
    int threads;
    double peak;
} measure_call;

static tt_status measure_main(void *arg)
{
    measure_call *m = arg;
    m->peak = measure(m->threads);
    return TT_OK;
}

/* On a thread of its own: the OpenMP helpers the measurement starts end with it rather than
 * staying as a second team beside the scheduler's (core/threadpool.h) */
static double measure_apart(int threads)
{
    measure_call m = {.threads = threads};
    tt_threads_apart(measure_main, &m);
    return m.peak;
}

static void cpu_model(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            char *v = colon + 1;
            while (*v == ' ')
                v++;
            v[strcspn(v, "\n")] = 0;
            snprintf(out, n, "%s", v);
            break;
        }
    }
    if (f)
        fclose(f);
}

/* The stored peak when it was measured on this device; 0 otherwise. */
static double load_peak(const tt_device *d, const char *path, char *when, size_t when_cap)
{
    void *data;
    size_t n;
    if (tt_read_file(path, 1 << 16, &data, &n) != TT_OK) {
        tt_error_clear();
        return 0;
    }
    cJSON *root = cJSON_ParseWithLength(data, n);
    tt_free(data);
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(root, "device"),
                *cpu = cJSON_GetObjectItemCaseSensitive(root, "cpu"),
                *threads = cJSON_GetObjectItemCaseSensitive(root, "threads"),
                *peak = cJSON_GetObjectItemCaseSensitive(root, "peak_gflops"),
                *at = cJSON_GetObjectItemCaseSensitive(root, "measured_at");
    double g = 0;
    if (cJSON_IsString(dev) && strcmp(dev->valuestring, d->name) == 0 && cJSON_IsString(cpu) &&
        strcmp(cpu->valuestring, d->cpu) == 0 && cJSON_IsNumber(threads) && threads->valueint == d->threads &&
        cJSON_IsNumber(peak) && peak->valuedouble > 0 && peak->valuedouble < 1e9)
        g = peak->valuedouble;
    else if (root)
        tt_log(TT_LOG_INFO, "%s was measured on another device or thread count: measuring again", path);
    snprintf(when, when_cap, "%s", cJSON_IsString(at) ? at->valuestring : "?");
    cJSON_Delete(root);
    return g;
}

static void save_peak(const tt_device *d, const char *path)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "device", d->name);
    cJSON_AddStringToObject(root, "cpu", d->cpu);
    cJSON_AddNumberToObject(root, "threads", d->threads);
    cJSON_AddNumberToObject(root, "peak_gflops", d->peak_flops / 1e9);
    cJSON_AddStringToObject(root, "measured_at", when);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!text || tt_file_replace(path, tmp, text, strlen(text)) != TT_OK) {
        tt_log(TT_LOG_WARN, "could not keep the measured peak in %s: %s", path, text ? tt_last_error() : "no memory");
        tt_error_clear();
        unlink(tmp);
    }
    cJSON_free(text);
}

tt_status tt_device_open(tt_device *d, const char *name, double peak_gflops, const char *state_dir, bool remeasure)
{
    memset(d, 0, sizeof *d);
    if (strncmp(name, "cuda", 4) == 0)
        return tt_device_open_cuda(d, name, peak_gflops);
    if (strcmp(name, "cpu") != 0)
        return tt_error(TETHER_ERR_UNSUPPORTED, "device '%s' is not supported: use --device cpu or cuda:N", name);
    snprintf(d->name, sizeof d->name, "cpu");
    snprintf(d->target, sizeof d->target, "cpu");
    cpu_model(d->cpu, sizeof d->cpu);
    d->threads = tt_threads_total(); /* not tt_threads(): that starts this thread's team */
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    d->memory_bytes = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
    char path[1100], when[64] = "", how[96];
    snprintf(path, sizeof path, "%s/device.json", state_dir);
    if (peak_gflops > 0) {
        d->peak_flops = peak_gflops * 1e9;
        snprintf(how, sizeof how, "as configured");
    } else if (!remeasure && (d->peak_flops = load_peak(d, path, when, sizeof when) * 1e9) > 0) {
        snprintf(how, sizeof how, "measured %s, kept in the state directory", when);
    } else {
        d->peak_flops = measure_apart(d->threads);
        if (d->peak_flops <= 0)
            return tt_error(TETHER_ERR_INTERNAL, "could not measure the CPU's peak (sgemm did not run)");
        save_peak(d, path);
        snprintf(how, sizeof how, "measured now");
    }
    snprintf(d->desc, sizeof d->desc, "cpu (%d threads, %.1f GFLOP/s peak, %s)", d->threads, d->peak_flops / 1e9, how);
    return TT_OK;
}
