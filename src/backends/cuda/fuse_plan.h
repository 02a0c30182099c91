/* The host-side decisions of the CUDA kernels for tether's fused ops (src/ops/fused.h), pure C
 * so they are unit-tested without a GPU:
 *
 *   Attention: whether the fused attention kernel takes a node (its `supports`), and the
 *     kernel's four-dim geometry ([batch, head, row, col] strides of Q, K, V, the output and
 *     the mask) from the node's perms and concrete shapes, mirroring tt_attn_geom_init.
 *   FusedMatMul: which parts of act(alpha * A B' + bias + residual) ride in cuBLASLt (alpha,
 *     the BIAS epilogue, a residual of the product's shape as C with beta 1, the RELU and
 *     tanh-GELU epilogues) and which in the elementwise kernels after it (a residual that
 *     broadcasts, every other activation, and everything when K is 0). */
#ifndef TT_CUDA_FUSE_PLAN_H
#define TT_CUDA_FUSE_PLAN_H

#include "ops/fused.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The attention kernel's limits: Q's and V's row lengths (head dims), held in shared memory
 * and in two accumulators per thread; the batch dims it walks (two: batch and head). Keys
 * are streamed in tiles, so their count has no limit. cu_kernels.h says the same. */
#define CU_ATTN_HEAD_DIM_MAX 256
#define CU_ATTN_RANK_MAX 4

typedef struct cu_attn_shape {
    int64_t b, h, lq, lk, d, dv;
    int64_t qs[4], ks[4], vs[4], ms[4], os[4]; /* element strides of [b, h, row, col]; 0 broadcasts */
    bool has_mask;
} cu_attn_shape;

/* Whether the kernel takes an Attention whose inputs (Q, K, V, mask; mask may be NULL) have
 * these types at open; false with the reason in why. */
bool cu_attn_fits(const tt_fused_attn *a, const tt_type *const in[4], char *why, size_t why_len);

/* The geometry from concrete shapes: dims[i] of input i (Q, K, V), each of rank `rank`; the
 * mask's (mask_dims NULL: none); the output's dims. False with the reason in why when the
 * shapes do not fit or pass the kernel's limits. */
bool cu_attn_shape_make(const tt_fused_attn *a, int rank, const int64_t *const dims[3], int mask_rank,
                        const int64_t *mask_dims, const int64_t *out_dims, cu_attn_shape *s, char *why,
                        size_t why_len);

/* cuBLASLt's activation epilogues. */
typedef enum cu_lt_act { CU_LT_ACT_NONE = 0, CU_LT_ACT_RELU, CU_LT_ACT_GELU_TANH } cu_lt_act;

typedef struct cu_fmm_plan {
    bool lt_bias;        /* the bias in cuBLASLt's BIAS epilogue */
    bool lt_residual;    /* the residual (the product's shape) as cuBLASLt's C, beta 1 */
    cu_lt_act lt_act;    /* cuBLASLt's activation epilogue */
    bool zero_product;   /* K is 0: the product is zeros (no cuBLASLt call) */
    bool ew_bias;        /* the bias added by an elementwise kernel (after the product) */
    bool ew_residual;    /* the residual added by the elementwise kernel (broadcasting when the
                            output is wider than the product, which then lives in the workspace) */
    tt_act ew_act;       /* the activation the elementwise kernels apply last (NONE: none) */
} cu_fmm_plan;

/* The plan for a FusedMatMul: has_bias / has_res whether those inputs are there, res_direct
 * whether the residual has the product's exact shape, k_zero whether K is 0, lt_epilogues
 * false to keep every epilogue out of cuBLASLt (its fallback when cuBLASLt has no algorithm
 * for an epilogue). An activation rides in cuBLASLt only without a residual, so the order
 * act(product + bias + residual) never depends on the epilogue's. */
void cu_fmm_plan_make(const tt_fused_mm *f, bool has_bias, bool has_res, bool res_direct, bool k_zero,
                      bool lt_epilogues, cu_fmm_plan *p);

#endif
