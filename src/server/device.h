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
    char desc[128];        /* "cpu: 2 threads, AVX-512" */
    double peak_flops;     /* FP32 FLOP/s the device reaches on sgemm */
    uint64_t memory_bytes; /* memory the device has (host RAM for the CPU) */
    int threads;
    char target[32];       /* sessions' target: "cpu", "cuda:0" */
    bool gpu;              /* a CUDA device: memory quotas count device bytes, time is metered */
} tt_device;

/* Opens the device named `name` ("cpu", "cuda:N"); peak_gflops > 0 skips the measurement. */
tt_status tt_device_open(tt_device *d, const char *name, double peak_gflops);
/* Opens GPU `name` ("cuda:N"), or says why it is unavailable. */
tt_status tt_device_open_cuda(tt_device *d, const char *name, double peak_gflops);

#endif
