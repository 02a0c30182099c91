/* The cpu backend's oneDNN kernels: their tables by family, and what they share. */
#ifndef TT_CPU_DNNL_KERNELS_H
#define TT_CPU_DNNL_KERNELS_H

#include "backends/backend.h"

/* oneDNN kernels: convolutions (cpu_conv.c), pools (cpu_pool.c), layout changes
 * (cpu_layout.c). Empty tables in builds without oneDNN. */
extern const tt_kernel tt_cpu_conv[];
extern const tt_kernel tt_cpu_pool[];
extern const tt_kernel tt_cpu_layout[];

/* The reference kernel of node n (the ref backend's for its domain, op and opset), which a
 * cpu kernel falls back on for shapes oneDNN has no primitive for; NULL if none. */
const tt_kernel *tt_cpu_ref_kernel(const tt_node *n);

#endif
