/* The device tetherd serves: its name, peak rate and memory, and the target its models'
 * sessions open on: the host's CPU (peak measured at start) or a GPU through the CUDA
 * plugin (device_cuda.c). */
#ifndef TT_SERVER_DEVICE_H
#define TT_SERVER_DEVICE_H

#include "core/status.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tt_device {
    char name[32];         /* "cpu" */
    char cpu[128];         /* the processor's model name, to tell a stored peak is this machine's */
    char desc[160];        /* "cpu (2 threads, 41.2 GFLOP/s peak measured)" */
    double peak_flops;     /* FP32 FLOP/s the device reaches on sgemm */
    uint64_t memory_bytes; /* memory the device has (host RAM for the CPU) */
    int threads;
    char target[32];       /* sessions' target: "cpu", "cuda:0" */
    bool gpu;              /* a CUDA device: memory quotas count device bytes, time is metered */
} tt_device;

/* Opens the device named `name` ("cpu", "cuda:N"). Its peak: peak_gflops when > 0; else,
 * for the CPU, the one kept in state_dir/device.json for this device (same processor and
 * thread count) unless remeasure; else measured (several rounds, the rate most rounds
 * reach, so that one noisy moment does not set the slots' rates for the server's life) and
 * kept there; for a GPU, from its properties. */
tt_status tt_device_open(tt_device *d, const char *name, double peak_gflops, const char *state_dir, bool remeasure);
/* Opens GPU `name` ("cuda:N"), or says why it is unavailable. */
tt_status tt_device_open_cuda(tt_device *d, const char *name, double peak_gflops);

#endif
