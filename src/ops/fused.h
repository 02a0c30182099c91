/* tether's own fused ops (domain com.tether), made by the passes in src/graph/: their parsed
 * attributes, which the schema's parse fills and every backend's kernel reads.
 *
 *   FusedMatMul(A, B, [bias], [residual])   Y = act(alpha * A B' + bias + residual)
 *       A [..., M, K]; B [K, N] (transB = 0) or [N, K]; bias N values; the residual
 *       broadcasts against the product as Add does.
 *       attributes: transB, alpha, activation ("", Relu, LeakyRelu, Sigmoid, Tanh, Gelu,
 *       GeluTanh, Clip), activation_alpha / activation_beta (LeakyRelu's alpha; Clip's bounds),
 *       precision ("", "fp32", "bf16", "int8": what a backend may compute the product in)
 *   Attention(Q, K, V, [mask])   Y = softmax(scale * Q K^T + mask) V
 *       logical operands Q [..., Sq, D], K [..., Sk, D], V [..., Sk, Dv] (batch dims broadcast);
 *       the inputs are them transposed: operand = Transpose(input, q_perm / k_perm / v_perm)
 *       (identity when absent), and the output is Transpose(result, out_perm). The mask
 *       broadcasts to [..., Sq, Sk].
 *   LayerNorm(X, [scale], [bias])   normalised over the axes from `axis` on (epsilon added to
 *       the variance), then * scale + bias (each with that many elements)
 *   Gelu(X)   approximate = "none" (the erf form) or "tanh" */
#ifndef TT_OPS_FUSED_H
#define TT_OPS_FUSED_H

#include "ops/op.h"

/* Activations a fused op applies. */
typedef enum tt_act {
    TT_ACT_ID_NONE = 0,
    TT_ACT_ID_RELU,
    TT_ACT_ID_LEAKY_RELU,
    TT_ACT_ID_SIGMOID,
    TT_ACT_ID_TANH,
    TT_ACT_ID_GELU,
    TT_ACT_ID_GELU_TANH,
    TT_ACT_ID_CLIP,
} tt_act;

/* The activation named by s ("" for none); false when there is no such activation. */
bool tt_act_parse(const char *s, tt_act *out);
const char *tt_act_name(tt_act a);
/* The reference: act applied to one value in float. */
float tt_act_apply(tt_act a, float x, float alpha, float beta);

typedef struct tt_fused_mm {
    bool trans_b;
    float alpha;
    tt_act act;
    float act_alpha, act_beta;
    tt_precision precision;      /* what a backend may compute the product in ("precision") */
} tt_fused_mm;

typedef struct tt_fused_attn {
    float scale;
    int n_perm[4];                /* q, k, v, out: 0 when absent (identity) */
    int perm[4][TT_MAX_RANK];
} tt_fused_attn;

typedef struct tt_fused_ln {
    int64_t axis;
    float epsilon;
} tt_fused_ln;

typedef struct tt_fused_gelu {
    bool tanh;
} tt_fused_gelu;

/* FusedMatMul's operands checked: *mm gets the product's shape (A's dims with N last; no
 * data), *direct whether there is no residual or it has exactly that shape (else it
 * broadcasts, and the output may be wider than the product). */
tt_status tt_fused_mm_check(const tt_node *n, const tt_tensor *a, const tt_tensor *b, const tt_tensor *bias,
                            const tt_tensor *res, bool trans_b, tt_tensor *mm, bool *direct);
/* y = t + res, broadcasting (t holds the product plus bias). */
tt_status tt_fused_mm_residual(tt_tensor *y, const tt_tensor *t, const tt_tensor *res);

/* LayerNorm's rows and row length n (from its axis); its scale and bias must have n values. */
tt_status tt_fused_ln_rows(const tt_kctx *c, int64_t *rows, int64_t *n);

/* The shapes and strides of one Attention call, shared by every backend's kernel. Logical
 * dims (batch..., rows, cols) of q, k, v; strides in elements of each logical dim for q, k,
 * v, the output (over [batch..., sq, dv]) and the mask (over [batch..., sq, sk], 0 where it
 * broadcasts). */
typedef struct tt_attn_geom {
    int rank;
    int64_t dims[3][TT_MAX_RANK];
    int64_t bdims[TT_MAX_RANK];       /* the broadcast batch dims */
    int64_t strides[5][TT_MAX_RANK];
    int64_t batch, sq, sk, d, dv;
    bool has_mask;
} tt_attn_geom;

tt_status tt_attn_geom_init(const tt_kctx *c, tt_attn_geom *g);
/* Element offsets of batch entry b (row-major over the batch dims) in q, k, v, out, mask. */
void tt_attn_geom_offsets(const tt_attn_geom *g, int64_t b, int64_t off[5]);

/* Attention's operand shapes: the logical dims (rank r) of operand i (0 q, 1 k, 2 v) from
 * the input's dims, and the strides (elements) along each logical dim in the input. */
void tt_attn_operand(const tt_fused_attn *a, int i, int rank, const int64_t *in_dims, int64_t *dims,
                     int64_t *strides);

#endif
