/* Built-in accelerator types. Elastic Inference figures as AWS published them (us-east-1,
 * 2019-2020): memory, FP32/FP16 TFLOPS and on-demand price per hour. The cpu.* types let a
 * small CPU server carve its measured peak into slots the same way (1/8, 1/4, 1/2). */
#include "core/catalog.h"

#include <string.h>

#define GiB (1024ull * 1024 * 1024)

static const tt_accel_type g_builtin[] = {
    {"eia1.medium", 1 * GiB, 1.0, 8.0, 0.13, 0},
    {"eia1.large", 2 * GiB, 2.0, 16.0, 0.26, 0},
    {"eia1.xlarge", 4 * GiB, 4.0, 32.0, 0.52, 0},
    {"eia2.medium", 2 * GiB, 1.0, 8.0, 0.12, 0},
    {"eia2.large", 4 * GiB, 2.0, 16.0, 0.24, 0},
    {"eia2.xlarge", 8 * GiB, 4.0, 32.0, 0.34, 0},
    {"cpu.small", GiB / 2, 0, 0, 0.0, 0.125},
    {"cpu.medium", 1 * GiB, 0, 0, 0.0, 0.25},
    {"cpu.large", 2 * GiB, 0, 0, 0.0, 0.5},
};

const tt_accel_type *tt_catalog_builtin(int *n)
{
    *n = (int)(sizeof g_builtin / sizeof g_builtin[0]);
    return g_builtin;
}

const tt_accel_type *tt_catalog_find(const char *name)
{
    for (size_t i = 0; i < sizeof g_builtin / sizeof g_builtin[0]; i++)
        if (strcmp(g_builtin[i].name, name) == 0)
            return &g_builtin[i];
    return NULL;
}
