/* The accelerator type catalog: name → memory, FP32 (and FP16) compute rate, price per
 * hour. Defaults mirror Amazon Elastic Inference; servers and users may add types. */
#ifndef TT_CATALOG_H
#define TT_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tt_accel_type {
    char name[32];
    uint64_t memory_bytes;
    double fp32_tflops;      /* the compute rate a slot of this type is held to */
    double fp16_tflops;      /* 0 when not given */
    double price_per_hour;   /* USD, 0 when not given */
    double peak_fraction;    /* > 0: the rate is this fraction of the device's measured peak
                                (the CPU catalog), fp32_tflops filled in at server start */
} tt_accel_type;

/* The built-in types: eia1.*, eia2.* and the small-CPU-server catalog (cpu.*). */
const tt_accel_type *tt_catalog_builtin(int *n);
/* A built-in type by name, or NULL. */
const tt_accel_type *tt_catalog_find(const char *name);

#endif
