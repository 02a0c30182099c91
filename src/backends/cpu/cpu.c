/* The cpu backend: fast kernels for the host CPU, vectorised C chosen at run time by the
 * CPU's instruction set (isa.c, kern.inc). It registers kernels only for the ops and shapes
 * where it is faster than the reference ones; placement gives everything else to ref. */
#include "backends/cpu/cpu.h"

static const tt_kernel *const g_tables[] = {tt_cpu_gemm, tt_cpu_nn, tt_cpu_elementwise, tt_cpu_resize, tt_cpu_shape, NULL};

const tt_backend tt_backend_cpu = {
    .name = "cpu",
    .description = "fast CPU kernels (AVX-512 / AVX2 / portable, chosen at run time)",
    .tables = g_tables,
};
