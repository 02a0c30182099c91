/* The device tetherd serves: its name and measured peak rate. The CPU backend is the one
 * device today; a CUDA device plugs in here the same way (name, peak, memory). */
#ifndef TT_SERVER_DEVICE_H
#define TT_SERVER_DEVICE_H

#include "core/status.h"

#include <stdint.h>

typedef struct tt_device {
    char name[32];         /* "cpu" */
    char desc[128];        /* "cpu: 2 threads, AVX-512" */
    double peak_flops;     /* FP32 FLOP/s the device reaches on sgemm */
    uint64_t memory_bytes; /* memory the device has (host RAM for the CPU) */
    int threads;
} tt_device;

/* Opens the device named `name`; peak_gflops > 0 skips the measurement. */
tt_status tt_device_open(tt_device *d, const char *name, double peak_gflops);

#endif
