/* The cpu backend's internals: its kernel tables, one per source file, and what they share. */
#ifndef TT_CPU_H
#define TT_CPU_H

#include "backends/backend.h"
#include "backends/cpu/isa.h"
#include "ops/fused.h"
#include "ops/util.h"

extern const tt_kernel tt_cpu_gemm[];        /* cpu_gemm.c: MatMul, Gemm, FusedMatMul */
extern const tt_kernel tt_cpu_elementwise[]; /* cpu_elementwise.c: unary and binary maps */
extern const tt_kernel tt_cpu_nn[];          /* cpu_nn.c: Softmax, norms, Gelu, Attention, reductions */
extern const tt_kernel tt_cpu_resize[];      /* cpu_resize.c: bilinear Resize */
extern const tt_kernel tt_cpu_shape[];       /* cpu_shape.c: Slice, Transpose as row copies */

#define TT_CPU_FLOAT TT_DT(TETHER_DTYPE_FLOAT)

/* A com.tether kernel. */
#define TT_CPU_OWN(name_, dtypes_, run_, ...)                                                        \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .until = 0, .dtypes = dtypes_, .run = run_, __VA_ARGS__}

/* The input i's type at open, when it is a tensor of known rank; else NULL. */
static inline const tt_type *tt_cpu_ranked(const tt_kprep *p, int i)
{
    const tt_type *t = i < p->n_in ? p->in[i] : NULL;
    return t && t->kind == TT_KIND_TENSOR && t->rank >= 0 ? t : NULL;
}

/* The ISA op of a fused activation. */
int tt_cpu_act(tt_act a);

#endif
