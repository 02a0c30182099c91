/* The cpu backend: fast kernels for the host CPU (oneDNN, vectorised C chosen at run time
 * by the CPU's ISA). It registers kernels only for the ops and shapes where it is faster
 * than the reference ones; placement gives everything else to ref. */
#include "backends/backend.h"

static const tt_kernel g_none[] = {TT_KERNEL_END};
static const tt_kernel *const g_tables[] = {g_none, NULL};

const tt_backend tt_backend_cpu = {
    .name = "cpu",
    .description = "fast CPU kernels",
    .tables = g_tables,
};
