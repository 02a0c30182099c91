/* Fairness of the compute-rate scheduler, on this machine's device:
 *  1. eia2.medium, eia2.large and eia2.xlarge slots (1, 2 and 4 TFLOPS: far more than a
 *     small CPU has, hence --overcommit) saturated at once: throughput must come out 1:2:4
 *     within ±10%;
 *  2. a cpu.medium slot (a quarter of the measured peak) alone in capped mode: it must run
 *     at its rate, not at the device's.
 *
 * usage: bench_fairness [--seconds S] [--device cpu|cuda:N] [--meter flops|time]
 * (on a GPU the model is larger, and part 2, which checks FLOP/s, runs with --meter flops) */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct load {
    tether_session *s;
    atomic_bool *stop;
    uint64_t runs, flops;
} load;

#define ROWS 128
#define K 512

static void *load_main(void *arg)
{
    load *l = arg;
    float *x = calloc(ROWS * K, sizeof *x);
    for (int i = 0; i < ROWS * K; i++)
        x[i] = (float)(i % 17) / 17;
    tether_tensor in = {.name = "x",
                        .dtype = TETHER_DTYPE_FLOAT,
                        .rank = 2,
                        .dims = {ROWS, K},
                        .data = x,
                        .size = sizeof(float) * ROWS * K};
    while (!atomic_load(l->stop)) {
        tether_outputs *o;
        if (tether_session_run(l->s, &in, 1, &o) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
        l->runs++;
        l->flops += tether_outputs_flops(o);
        tether_outputs_free(o);
    }
    free(x);
    return NULL;
}

/* Saturates n attachments with `clients` threads each; fills runs/s and FLOP/s. */
static void saturate(const char *model, int n, int clients, double seconds, double *rps, double *fps)
{
    atomic_bool stop = false;
    load *l = calloc((size_t)(n * clients), sizeof *l);
    pthread_t *th = calloc((size_t)(n * clients), sizeof *th);
    for (int i = 0; i < n * clients; i++) {
        char target[16];
        snprintf(target, sizeof target, "eia:%d", i % n);
        l[i] = (load){.s = bench_open(model, target), .stop = &stop};
    }
    double t0 = tp_now_s();
    for (int i = 0; i < n * clients; i++)
        pthread_create(&th[i], NULL, load_main, &l[i]);
    tp_sleep_ms((int)(seconds * 1000));
    atomic_store(&stop, true);
    for (int i = 0; i < n * clients; i++)
        pthread_join(th[i], NULL);
    double dt = tp_now_s() - t0;
    for (int k = 0; k < n; k++)
        rps[k] = fps[k] = 0;
    for (int i = 0; i < n * clients; i++) {
        rps[i % n] += l[i].runs / dt;
        fps[i % n] += l[i].flops / dt;
        tether_session_free(l[i].s);
    }
    free(l);
    free(th);
}

int main(int argc, char **argv)
{
    double seconds = 10;
    const char *device = "cpu", *meter = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--meter") == 0 && i + 1 < argc)
            meter = argv[++i];
        else
            BENCH_DIE("usage: bench_fairness [--seconds S] [--device cpu|cuda:N] [--meter flops|time]");
    }
    bool gpu = strncmp(device, "cuda", 4) == 0;
    const char *meter_args[2] = {meter ? "--meter" : NULL, meter};
    bench_init();
    char model[400];
    snprintf(model, sizeof model, "%s/dense.onnx", bench_root);
    pbw m = bench_dense(K, K);
    bench_write(model, &m);
    ob_free(&m);

    /* 1. oversubscribed: the three EI types share the device in proportion to their rates */
    tp_server s;
    bench_server(&s, (const char *const[]){"--device", device, "--slots", "eia2.medium=1,eia2.large=1,eia2.xlarge=1",
                                            "--overcommit", meter_args[0], meter_args[1], NULL});
    const char *types[3] = {"eia2.medium", "eia2.large", "eia2.xlarge"};
    for (int i = 0; i < 3; i++) {
        tt_attachment a;
        if (tt_attach(types[i], s.endpoint, &a) != TETHER_OK)
            BENCH_DIE("%s", tether_last_error());
    }
    double rps[3], fps[3];
    saturate(model, 3, 8, seconds, rps, fps);
    printf("\n1. three slots saturated at once (8 clients each, %.0f s, %d x %d dense, batch %d)\n", seconds, K, K,
           ROWS);
    printf("%-12s %12s %12s %14s %10s %s\n", "slot", "rate TFLOPS", "runs/s", "GFLOP/s got", "ratio", "goal");
    bool ok = true;
    for (int i = 0; i < 3; i++) {
        double ratio = rps[i] / rps[0], want = 1 << i;
        bool met = fabs(ratio - want) <= 0.1 * want;
        ok &= met;
        printf("%-12s %12.1f %12.1f %14.2f %10.3f %s\n", types[i], (double)(1 << i), rps[i], fps[i] / 1e9, ratio,
               i == 0 ? "1 (reference)"
               : met  ? "met (within 10%)"
                      : "NOT met");
    }
    printf("   device %s (%s metering), total: %.2f GFLOP/s\n", device, meter ? meter : gpu ? "time" : "flops",
           (fps[0] + fps[1] + fps[2]) / 1e9);
    for (int i = 0; i < 3; i++)
        tt_detach(0);
    tp_signal_wait(&s, SIGTERM);
    if (meter && strcmp(meter, "time") == 0) {
        printf("\n2. skipped: the capped check measures FLOP/s (run with --meter flops)\n");
        return ok ? 0 : 1;
    }

    /* 2. capped: a quarter of the measured peak, alone on an otherwise idle device */
    tp_server c;
    bench_server(&c, (const char *const[]){"--device", device, "--slots", "cpu.medium=1", "--sched", "capped",
                                            "--meter", "flops", NULL});
    tt_attachment a;
    if (tt_attach("cpu.medium", c.endpoint, &a) != TETHER_OK)
        BENCH_DIE("%s", tether_last_error());
    double r1, f1;
    saturate(model, 1, 4, seconds, &r1, &f1);
    double rate = a.tflops * 1e12;
    bool met = fabs(f1 / rate - 1) <= 0.1;
    printf("\n2. cpu.medium alone, capped (4 clients, %.0f s)\n", seconds);
    printf("   rate %.2f GFLOP/s (25%% of the measured peak), delivered %.2f GFLOP/s = %.3fx: %s\n", rate / 1e9,
           f1 / 1e9, f1 / rate, met ? "met (within 10%)" : "NOT met");
    tt_detach(0);
    tp_signal_wait(&c, SIGTERM);
    return ok && met ? 0 : 1;
}
