/* The CPU device: its peak is measured at start with a short sgemm on every thread of the
 * engine's pool, since a slot's rate is a fraction of what this machine really does. */
#include "server/device.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/threadpool.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PEAK_N 256        /* sgemm size: in cache, large enough to reach peak */
#define PEAK_SECONDS 0.15 /* per thread; all threads at once */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct peak_job {
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
        } while (t1 - t0 < PEAK_SECONDS);
        if (t < 256)
            j->flops[t] = 2.0 * PEAK_N * PEAK_N * PEAK_N * reps / (t1 - t0);
        tt_free_aligned(a);
    }
}

tt_status tt_device_open(tt_device *d, const char *name, double peak_gflops)
{
    memset(d, 0, sizeof *d);
    if (strncmp(name, "cuda", 4) == 0)
        return tt_device_open_cuda(d, name, peak_gflops);
    if (strcmp(name, "cpu") != 0)
        return tt_error(TETHER_ERR_UNSUPPORTED, "device '%s' is not supported: use --device cpu or cuda:N", name);
    snprintf(d->name, sizeof d->name, "cpu");
    snprintf(d->target, sizeof d->target, "cpu");
    d->threads = tt_threads();
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    d->memory_bytes = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
    if (peak_gflops > 0) {
        d->peak_flops = peak_gflops * 1e9;
    } else {
        /* one sgemm per pool thread at once: the rate all cores reach together */
        int n = d->threads > 256 ? 256 : d->threads;
        peak_job j = {{0}};
        openblas_set_num_threads(1);
        tt_parallel_for(n, 1, peak_range, &j);
        for (int i = 0; i < n; i++)
            d->peak_flops += j.flops[i];
        if (d->peak_flops <= 0)
            return tt_error(TETHER_ERR_INTERNAL, "could not measure the CPU's peak (sgemm did not run)");
    }
    snprintf(d->desc, sizeof d->desc, "cpu (%d threads, %.1f GFLOP/s peak%s)", d->threads, d->peak_flops / 1e9,
             peak_gflops > 0 ? ", as configured" : " measured");
    return TT_OK;
}
