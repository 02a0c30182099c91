/* Measuring a model on one target: open (load) time, first inference, then timed runs from
 * one or more threads, summarised as mean and percentiles; `tether bench` is built on it. */
#ifndef TT_CLI_BENCH_H
#define TT_CLI_BENCH_H

#include "tether.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tt_bench_opts {
    int runs;          /* timed runs, all threads together */
    int warmup;        /* untimed runs after the first, before the timed ones */
    int batch;         /* size of a free first dimension; 0: leave it at 1 (or --dim) */
    int concurrency;   /* threads running the session at once */
    bool progress;     /* draw a progress bar on stderr */
    const char *label; /* what the progress bar says it measures */
    char **inputs;     /* "NAME=FILE.npy" or "FILE.npy" (model order); n_inputs of them */
    int n_inputs;
    char **dims; /* "NAME=VALUE" for symbolic dimensions; n_dims of them */
    int n_dims;
    bool keep_latencies; /* return every timed run's latency */
    const char *precision; /* the session's precision (NULL: fp32); another is compared with fp32 */
} tt_bench_opts;

typedef struct tt_bench_summary {
    double mean, stddev, min, max, p50, p90, p95, p99; /* milliseconds */
} tt_bench_summary;

typedef struct tt_bench_result {
    double load_ms;         /* tether_session_open, including its warm-up run */
    double first_ms;        /* the first tether_session_run after opening */
    tt_bench_summary lat;   /* over the timed runs */
    double wall_s;          /* from the first timed run's start to the last one's end */
    double throughput;      /* timed runs per second of wall time */
    uint64_t memory_needed; /* weights + planned activations */
    uint64_t flops;         /* per run */
    char where[256];        /* where the session ran, as the library says */
    double *latencies;      /* keep_latencies: every timed run, in completion order; free() */
    int n_latencies;
    char error[512]; /* why tt_bench_measure failed */
    /* With a precision other than fp32: the first run's outputs against an fp32 session's
     * on the same inputs. */
    bool compared;
    double max_abs_err;     /* largest |reduced - fp32| over every output element */
    double rel_err;         /* that over the largest |fp32| */
    double top1_agreement;  /* outputs of rank >= 2: the fraction of rows whose argmax agrees */
} tt_bench_result;

/* Set from a signal handler to stop a measurement early; tt_bench_measure then fails with
 * TETHER_ERR_RUNTIME ("interrupted"). */
extern volatile sig_atomic_t tt_bench_stop;

/* Opens `model` on `target` and measures it; on failure out->error says why. */
tether_status tt_bench_measure(const char *model, const char *target, const tt_bench_opts *o, tt_bench_result *out);

/* The value below which a fraction q (0..1) of the sorted samples lie, interpolating
 * linearly between neighbours (numpy.percentile's default). */
double tt_bench_percentile(const double *sorted, int n, double q);
/* Mean, sample standard deviation, extremes and percentiles of n samples (not modified). */
void tt_bench_summarize(const double *ms, int n, tt_bench_summary *out);

#endif
