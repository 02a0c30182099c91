/* The compute-rate scheduler, measured from outside: a capped slot delivers its rate (not
 * more, on an idle device), capped slots deliver in proportion to their rates, and in lend
 * mode an idle device's capacity goes to the one busy slot. Rates are set well below what
 * the machine can do, so the scheduler — not the CPU — decides the numbers. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>

#define WINDOW_S 3.0

typedef struct load {
    tether_session *s;
    atomic_bool *stop;
    uint64_t flops, runs;
    int failures;
    char error[256]; /* the failed run's message */
} load;

/* lo <= v <= hi, or the test fails naming the value and the bounds */
#define CHECK_WITHIN(v, lo, hi)                                                                                        \
    do {                                                                                                               \
        double w_ = (v);                                                                                               \
        if (!(w_ >= (lo) && w_ <= (hi)))                                                                               \
            CHECK_FAIL("%s = %.4g, outside [%.4g, %.4g]", #v, w_, (double)(lo), (double)(hi));                         \
    } while (0)

static void *load_main(void *arg)
{
    load *l = arg;
    float x[16 * 256];
    for (int i = 0; i < 16 * 256; i++)
        x[i] = (float)(i % 13) / 13;
    while (!atomic_load(l->stop)) {
        tether_outputs *o;
        if (th_run_f32(l->s, x, 16, 256, &o) != TETHER_OK) {
            l->failures++;
            snprintf(l->error, sizeof l->error, "%s", tether_last_error());
            break;
        }
        l->flops += tether_outputs_flops(o);
        l->runs++;
        tether_outputs_free(o);
    }
    return NULL;
}

/* Saturates each target with 3 threads for WINDOW_S; returns the achieved FLOP/s of each. */
static void saturate(const pbw *m, int n, const char *const *targets, double *rate)
{
    atomic_bool stop = false;
    load l[8 * 3];
    pthread_t th[8 * 3];
    for (int t = 0; t < n; t++)
        for (int k = 0; k < 3; k++)
            l[3 * t + k] = (load){.s = th_open(m->buf, m->len, targets[t], 20000), .stop = &stop};
    double t0 = th_now_s();
    for (int i = 0; i < 3 * n; i++)
        pthread_create(&th[i], NULL, load_main, &l[i]);
    th_sleep_ms((int)(WINDOW_S * 1000));
    atomic_store(&stop, true);
    for (int i = 0; i < 3 * n; i++)
        pthread_join(th[i], NULL);
    double dt = th_now_s() - t0;
    for (int t = 0; t < n; t++) {
        uint64_t f = 0;
        for (int k = 0; k < 3; k++) {
            if (l[3 * t + k].failures)
                CHECK_FAIL("a run on %s failed: %s", targets[t], l[3 * t + k].error);
            f += l[3 * t + k].flops;
            tether_session_free(l[3 * t + k].s);
        }
        rate[t] = (double)f / dt;
        fprintf(stderr, "%s: %.3f GFLOP/s\n", targets[t], rate[t] / 1e9);
    }
}

/* low enough that a sanitizer build sharing two cores with other tests still keeps up */
static const char *const rate_types[] = {"--type", "r1=64MiB,0.05gflops", "--type", "r2=64MiB,0.1gflops",
                                         "--type", "r4=64MiB,0.2gflops"};

TEST(capped_slot_runs_at_its_rate)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){rate_types[2], rate_types[3], "--slots", "r2=1", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("r2", s.endpoint, &a));
    CHECK_NEAR(a.tflops, 0.0001, 1e-12);
    pbw m = th_model_dense(256, 256, 1); /* 2.1 MFLOP per 16-row run */
    double rate;
    saturate(&m, 1, (const char *const[]){"eia:0"}, &rate);
    CHECK_WITHIN(rate, 0.85 * 0.1e9, 1.1 * 0.1e9);
    tt_accel_health h;
    tt_accel_probe(&a, 10000, &h);
    if (strcmp(h.status, "healthy") != 0)
        CHECK_FAIL("the attachment is %s: %s", h.status, h.reason);
    CHECK_WITHIN(h.inferences, 100, 1e9); /* ~48 runs/s of 2.1 MFLOP for 3 s */
    th_server_stop(&s);
    ob_free(&m);
}

TEST(capped_slots_deliver_in_proportion_to_their_rates)
{
    th_fresh_home();
    th_server s;
    const char *args[16];
    int n = 0;
    for (int i = 0; i < 6; i++)
        args[n++] = rate_types[i];
    args[n++] = "--slots";
    args[n++] = "r1=1,r2=1,r4=1";
    args[n] = NULL;
    th_server_start(&s, args);
    tt_attachment a;
    CHECK_OK(tt_attach("r1", s.endpoint, &a));
    CHECK_OK(tt_attach("r2", s.endpoint, &a));
    CHECK_OK(tt_attach("r4", s.endpoint, &a));
    pbw m = th_model_dense(256, 256, 2);
    double rate[3];
    saturate(&m, 3, (const char *const[]){"eia:0", "eia:1", "eia:2"}, rate);
    CHECK_WITHIN(rate[1] / rate[0], 1.7, 2.3);
    CHECK_WITHIN(rate[2] / rate[0], 3.4, 4.6);
    CHECK_WITHIN(rate[2], 0, 1.1 * 0.2e9);
    th_server_stop(&s);
    ob_free(&m);
}

TEST(lend_mode_lends_idle_capacity)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s,
                    (const char *const[]){rate_types[0], rate_types[1], "--slots", "r1=1", "--sched", "lend", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("r1", s.endpoint, &a));
    pbw m = th_model_dense(256, 256, 3);
    double rate;
    saturate(&m, 1, (const char *const[]){"eia:0"}, &rate);
    CHECK_WITHIN(rate, 2 * 0.05e9, 1e15); /* alone on the device: well past its own 0.05 GFLOP/s */
    th_server_stop(&s);
    ob_free(&m);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
