/* CUDA kernels for tether's own fused ops (domain com.tether, src/ops/fused.h) that the graph
 * passes make when the backend running the pattern has a kernel for them: Attention (the
 * fused attention kernel: scores, mask, softmax and the weighted sum of V in one launch),
 * LayerNorm (the LayerNormalization kernel) and Gelu (both forms, elementwise). FusedMatMul
 * is in k_blas.c, beside the cuBLASLt products it shares. Their host-side decisions are in
 * fuse_plan.c. */
#include "cu.h"

#include "fuse_plan.h"

#define CU_ENTER(c, x)                                                                             \
    cu_ctx *x;                                                                                     \
    do {                                                                                           \
        bool launch_;                                                                              \
        CU_TRY(cu_kctx(c, &x));                                                                    \
        CU_TRY(cu_gate(x, c, &launch_));                                                           \
        if (!launch_)                                                                              \
            return TT_OK;                                                                          \
    } while (0)

#define OWN_KERNEL(name_, run_, ...)                                                               \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .until = 0, .dtypes = TT_DT(TETHER_DTYPE_FLOAT), .run = run_, \
     __VA_ARGS__}

_Static_assert(CU_ATTN_HEAD_DIM_MAX == CU_ATTN_MAX_DIM, "fuse_plan.h and cu_kernels.h disagree on the head dim");

/* ---- Attention --------------------------------------------------------------------------------- */

static bool attn_supports(const tt_kprep *p)
{
    const tt_fused_attn *a = p->node->state;
    if (!a || p->n_in < 3)
        return false;
    const tt_type *in[4] = {p->in[0], p->in[1], p->in[2], p->n_in > 3 ? p->in[3] : NULL};
    char why[160];
    if (!cu_attn_fits(a, in, why, sizeof why)) {
        cu_log(0, "node '%s' (Attention) stays off the GPU: %s", p->node->name, why);
        return false;
    }
    return true;
}

static tt_status run_attn(tt_kctx *c)
{
    const tt_fused_attn *a = c->state;
    const tt_tensor *q = tt_kin(c, 0), *k = tt_kin(c, 1), *v = tt_kin(c, 2), *mask = tt_kin(c, 3);
    tt_tensor *y = tt_kout(c, 0);
    if (k->rank != q->rank || v->rank != q->rank || y->rank != q->rank)
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "Q, K, V and the output must have one rank");
    if (mask && mask->dtype != TETHER_DTYPE_FLOAT)
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "the mask must be float");
    const int64_t *dims[3] = {q->dims, k->dims, v->dims};
    cu_attn_shape s;
    char why[160];
    if (!cu_attn_shape_make(a, q->rank, dims, mask ? mask->rank : 0, mask ? mask->dims : NULL, y->dims, &s, why,
                            sizeof why))
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "%s", why);
    cu_attn_geom g = {.b = s.b, .h = s.h, .lq = s.lq, .lk = s.lk, .d = s.d, .dv = s.dv, .scale = a->scale};
    memcpy(g.qs, s.qs, sizeof g.qs);
    memcpy(g.ks, s.ks, sizeof g.ks);
    memcpy(g.vs, s.vs, sizeof g.vs);
    memcpy(g.ms, s.ms, sizeof g.ms);
    memcpy(g.os, s.os, sizeof g.os);
    CU_ENTER(c, x);
    cu_attention(x->stream, &g, q->data, k->data, v->data, s.has_mask ? mask->data : NULL, y->data);
    return cu_launched(c->node, "launching Attention");
}

/* ---- LayerNorm --------------------------------------------------------------------------------- */

static tt_status run_ln(tt_kctx *c)
{
    const tt_fused_ln *st = c->state;
    const tt_tensor *in = tt_kin(c, 0), *scale = tt_kin(c, 1), *bias = tt_kin(c, 2);
    int ax;
    if (!cu_axis(st->axis, in->rank, &ax))
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis %lld out of range for rank %d",
                           (long long)st->axis, in->rank);
    int64_t rows = cu_prod(in->dims, 0, ax), cols = cu_prod(in->dims, ax, in->rank);
    for (int i = 1; i <= 2; i++) {
        const tt_tensor *t = tt_kin(c, i);
        if (t && (t->dtype != TETHER_DTYPE_FLOAT || tt_tensor_numel(t) != cols))
            return cu_node_err(c->node, TETHER_ERR_SHAPE, "%s must be float with %lld values",
                               i == 1 ? "the scale" : "the bias", (long long)cols);
    }
    CU_ENTER(c, x);
    cu_layernorm(x->stream, in->data, scale ? scale->data : NULL, bias ? bias->data : NULL, tt_kout(c, 0)->data,
                 NULL, NULL, rows, cols, st->epsilon);
    return cu_launched(c->node, "launching LayerNorm");
}

/* ---- Gelu -------------------------------------------------------------------------------------- */

static tt_status run_gelu(tt_kctx *c)
{
    const tt_fused_gelu *st = c->state;
    CU_ENTER(c, x);
    tt_tensor *out = tt_kout(c, 0);
    cu_ew_prog p = {.n = 1, .op = {st->tanh ? CU_EW_GELU_TANH : CU_EW_GELU}};
    cu_ew_unary(x->stream, &p, tt_kin(c, 0)->data, out->data, tt_tensor_numel(out));
    return cu_launched(c->node, "launching Gelu");
}

const tt_kernel cu_kernels_fused[] = {
    OWN_KERNEL("Attention", run_attn, .supports = attn_supports),
    OWN_KERNEL("LayerNorm", run_ln, .supports = cu_float_only),
    OWN_KERNEL("Gelu", run_gelu, .supports = cu_float_only),
    TT_KERNEL_END,
};
