/* The cpu backend: fast kernels for the host CPU: oneDNN for convolutions, pools and
 * layout changes (dnnl_*.c), vectorised C chosen at run time by the CPU's instruction set
 * for the rest (isa.c, kern.inc). It registers kernels only for the ops and shapes where it
 * is faster than the reference ones; placement gives everything else to ref. Its
 * convolutions want their activations in channel blocks between them (ops/cnn.h):
 * conv_block tells the layout pass the block. */
#include "backends/cpu/cpu.h"
#include "backends/cpu/dnnl_kernels.h"

#include "backends/cpu/dnnl_plan.h"

static int cpu_conv_block(const tt_backend *b)
{
    (void)b;
#ifdef TETHER_HAVE_DNNL
    return tt_dnnl_block();
#else
    return 0;
#endif
}

static const tt_kernel *const g_tables[] = {tt_cpu_conv, tt_cpu_pool, tt_cpu_layout, tt_cpu_gemm, tt_cpu_nn,
                                            tt_cpu_elementwise, tt_cpu_resize, tt_cpu_shape, NULL};

const tt_backend tt_backend_cpu = {
    .name = "cpu",
    .description = "fast CPU kernels (oneDNN; AVX-512 / AVX2 / portable C chosen at run time)",
    .tables = g_tables,
    .conv_block = cpu_conv_block,
};
