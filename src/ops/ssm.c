/* The recurrent blocks of linear-attention and state-space models (opset 27):
 * LinearAttention (linear, gated, delta and gated-delta recurrences with grouped KV heads and
 * a carried state) and CausalConvWithState (a depthwise causal 1-D convolution whose last k-1
 * inputs carry over, with an optional fused SiLU). Reference kernels in double, rounding to
 * float where ONNX's reference does. */
#include "ops/util.h"

#include <inttypes.h>

static tt_status nomem(const tt_node *n) { return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", n->name); }

/* ---- LinearAttention ------------------------------------------------------------------------ */

typedef enum { LA_LINEAR, LA_GATED, LA_DELTA, LA_GATED_DELTA } la_rule;

typedef struct la_attrs {
    la_rule rule;
    int64_t qh, kvh;
    double scale; /* 0: 1 / sqrt(d_k) */
} la_attrs;

static tt_status parse_la(tt_node *n, void **state)
{
    la_attrs *a = tt_calloc(1, sizeof *a);
    if (!a)
        return nomem(n);
    *state = a;
    static const char *const rules[] = {"linear", "gated", "delta", "gated_delta"};
    const char *r = tt_attr_string(n, "update_rule", "gated_delta");
    int ri = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(r, rules[i]) == 0)
            ri = i;
    if (ri < 0)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "update_rule \"%.20s\" is not linear, gated, delta or "
                           "gated_delta", r);
    a->rule = (la_rule)ri;
    a->qh = tt_attr_int(n, "q_num_heads", 0);
    a->kvh = tt_attr_int(n, "kv_num_heads", 0);
    a->scale = tt_attr_float(n, "scale", 0.0f);
    if (a->qh <= 0 || a->kvh <= 0 || a->qh % a->kvh)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "q_num_heads (%" PRId64 ") must be a positive multiple of "
                           "kv_num_heads (%" PRId64 ")", a->qh, a->kvh);
    bool gating = a->rule == LA_GATED || a->rule == LA_GATED_DELTA, delta = a->rule >= LA_DELTA;
    bool has_decay = n->n_inputs > 4 && n->inputs[4] >= 0, has_beta = n->n_inputs > 5 && n->inputs[5] >= 0;
    if (gating != has_decay)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "update_rule %s %s the decay input", r,
                           gating ? "needs" : "forbids");
    if (delta != has_beta)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "update_rule %s %s the beta input", r,
                           delta ? "needs" : "forbids");
    return TT_OK;
}

static tt_status infer_la(tt_ictx *c)
{
    const la_attrs *a = c->node->state;
    const tt_type *q, *k, *v;
    TT_TRY(tt_infer_input(c, 0, &q));
    TT_TRY(tt_infer_input(c, 1, &k));
    TT_TRY(tt_infer_input(c, 2, &v));
    if ((q->rank >= 0 && q->rank != 3) || (k->rank >= 0 && k->rank != 3) || (v->rank >= 0 && v->rank != 3))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "query, key and value must be 3-D (B, T, heads * size)");
    int64_t dk = q->rank == 3 && q->dims[2] >= 0 ? q->dims[2] / a->qh : TT_DIM_UNKNOWN;
    int64_t dv = v->rank == 3 && v->dims[2] >= 0 ? v->dims[2] / a->kvh : TT_DIM_UNKNOWN;
    int64_t y[3] = {q->rank == 3 ? q->dims[0] : TT_DIM_UNKNOWN, q->rank == 3 ? q->dims[1] : TT_DIM_UNKNOWN,
                    dv >= 0 ? a->qh * dv : TT_DIM_UNKNOWN};
    tt_infer_tensor(c, 0, q->dtype, 3, y);
    const tt_type *ps = tt_iin(c, 3);
    int64_t st[4] = {y[0], a->kvh, dk, dv};
    tt_infer_tensor(c, 1, ps && ps->dtype ? ps->dtype : q->dtype, 4, st);
    return TT_OK;
}

static tt_status run_la(tt_kctx *c)
{
    const la_attrs *a = c->state;
    const tt_node *n = c->node;
    const tt_tensor *q = tt_kin(c, 0), *k = tt_kin(c, 1), *v = tt_kin(c, 2), *ps = tt_kin(c, 3);
    const tt_tensor *decay = tt_kin(c, 4), *beta = tt_kin(c, 5);
    tt_tensor *y = tt_kout(c, 0), *pso = tt_kout(c, 1);
    int64_t B = q->dims[0], T = q->dims[1], Hq = a->qh, Hk = a->kvh;
    if (q->dims[2] % Hq || k->dims[2] % Hk || v->dims[2] % Hk)
        return tt_op_error(n, TETHER_ERR_SHAPE, "hidden sizes must be multiples of the head counts");
    int64_t dk = q->dims[2] / Hq, dv = v->dims[2] / Hk, grp = Hq / Hk;
    if (k->dims[0] != B || k->dims[1] != T || k->dims[2] / Hk != dk || v->dims[0] != B || v->dims[1] != T)
        return tt_op_error(n, TETHER_ERR_SHAPE, "query, key and value disagree on (B, T) or the key size");
    if (ps && (ps->rank != 4 || ps->dims[0] != B || ps->dims[1] != Hk || ps->dims[2] != dk || ps->dims[3] != dv))
        return tt_op_error(n, TETHER_ERR_SHAPE, "past_state must be (%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ")",
                           B, Hk, dk, dv);
    int64_t dlast = decay ? decay->dims[decay->rank - 1] : 0, blast = beta ? beta->dims[beta->rank - 1] : 0;
    if (decay && (decay->rank != 3 || decay->dims[0] != B || decay->dims[1] != T || (dlast != Hk && dlast != Hk * dk)))
        return tt_op_error(n, TETHER_ERR_SHAPE, "decay must be (B, T, %" PRId64 ") or (B, T, %" PRId64 ")", Hk, Hk * dk);
    if (beta && (beta->rank != 3 || beta->dims[0] != B || beta->dims[1] != T || (blast != Hk && blast != 1)))
        return tt_op_error(n, TETHER_ERR_SHAPE, "beta must be (B, T, %" PRId64 ") or (B, T, 1)", Hk);
    double scale = a->scale != 0 ? a->scale : 1.0 / sqrt((double)dk);
    size_t ns = (size_t)(B * Hk * dk * dv);
    double *S = tt_malloc((ns ? ns : 1) * sizeof *S), *u = tt_malloc((size_t)(dv ? dv : 1) * sizeof *u);
    if (!S || !u) {
        tt_free(S);
        tt_free(u);
        return nomem(n);
    }
    /* the state in float32, as the reference keeps it */
    for (size_t i = 0; i < ns; i++)
        S[i] = ps ? (float)tt_load_f64(ps->data, ps->dtype, i) : 0;
    tt_dtype qt = q->dtype;
#define LD(t, i) ((double)(float)tt_load_f64((t)->data, (t)->dtype, (size_t)(i)))
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            for (int64_t h = 0; h < Hk; h++) {
                double *Sh = S + (b * Hk + h) * dk * dv;
                size_t kb = (size_t)((b * T + t) * Hk * dk + h * dk), vb = (size_t)((b * T + t) * Hk * dv + h * dv);
                if (decay) /* S *= exp(g): per head or per key dim */
                    for (int64_t d = 0; d < dk; d++) {
                        double g = (float)exp(LD(decay, (b * T + t) * dlast + (dlast == Hk ? h : h * dk + d)));
                        for (int64_t m = 0; m < dv; m++)
                            Sh[d * dv + m] = (float)(Sh[d * dv + m] * g);
                    }
                for (int64_t m = 0; m < dv; m++)
                    u[m] = LD(v, vb + (size_t)m);
                if (beta) { /* v <- beta (v - S^T k) */
                    double bt = LD(beta, (b * T + t) * blast + (blast == 1 ? 0 : h));
                    for (int64_t m = 0; m < dv; m++) {
                        double r = 0;
                        for (int64_t d = 0; d < dk; d++)
                            r += Sh[d * dv + m] * LD(k, kb + (size_t)d);
                        u[m] = (float)(bt * (float)(u[m] - (float)r));
                    }
                }
                for (int64_t d = 0; d < dk; d++) { /* S += k (x) v */
                    double kd = LD(k, kb + (size_t)d);
                    for (int64_t m = 0; m < dv; m++)
                        Sh[d * dv + m] = (float)(Sh[d * dv + m] + (float)(kd * u[m]));
                }
            }
            for (int64_t h = 0; h < Hq; h++) { /* o = scale q^T S, each KV head shared by grp query heads */
                const double *Sh = S + (b * Hk + h / grp) * dk * dv;
                size_t qb = (size_t)((b * T + t) * Hq * dk + h * dk);
                for (int64_t m = 0; m < dv; m++) {
                    double o = 0;
                    for (int64_t d = 0; d < dk; d++)
                        o += LD(q, qb + (size_t)d) * Sh[d * dv + m];
                    tt_store_f64(y->data, qt, (size_t)((b * T + t) * Hq * dv + h * dv + m), (float)(scale * (float)o));
                }
            }
        }
#undef LD
    for (size_t i = 0; pso && i < ns; i++)
        tt_store_f64(pso->data, pso->dtype, i, S[i]);
    tt_free(S);
    tt_free(u);
    return TT_OK;
}

/* ---- CausalConvWithState ---------------------------------------------------------------------- */

static tt_status infer_ccs(tt_ictx *c)
{
    const tt_type *x, *w;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &w));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    const char *act = tt_attr_string(c->node, "activation", "none");
    if (strcmp(act, "none") != 0 && strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "activation \"%.20s\" is not none, silu or swish", act);
    if ((x->rank >= 0 && x->rank != 3) || (w->rank >= 0 && w->rank != 3))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input and weight must be 3-D");
    TT_TRY(tt_infer_same(c, 0, 0));
    int64_t st[3] = {x->rank == 3 ? x->dims[0] : TT_DIM_UNKNOWN, x->rank == 3 ? x->dims[1] : TT_DIM_UNKNOWN,
                     w->rank == 3 && w->dims[2] > 0 ? w->dims[2] - 1 : TT_DIM_UNKNOWN};
    tt_infer_tensor(c, 1, x->dtype, 3, st);
    return TT_OK;
}

static double round_t(double v, tt_dtype t)
{
    switch (t) {
    case TETHER_DTYPE_FLOAT16: return tt_f16_to_f32(tt_f32_to_f16((float)v));
    case TETHER_DTYPE_BFLOAT16: return tt_bf16_to_f32(tt_f32_to_bf16((float)v));
    default: return (float)v;
    }
}

static tt_status run_ccs(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *w = tt_kin(c, 1), *bias = tt_kin(c, 2), *past = tt_kin(c, 3);
    tt_tensor *y = tt_kout(c, 0), *pst = tt_kout(c, 1);
    int64_t B = x->dims[0], C = x->dims[1], L = x->dims[2], K = w->dims[2], P = K - 1;
    if (w->dims[0] != C || w->dims[1] != 1 || K < 1)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "weight must be (%" PRId64 ", 1, k), k >= 1", C);
    if (bias && tt_tensor_numel(bias) != C)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "bias must have %" PRId64 " entries", C);
    if (past && (past->rank != 3 || past->dims[0] != B || past->dims[1] != C || past->dims[2] != P))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "past_state must be (%" PRId64 ", %" PRId64 ", %" PRId64 ")", B,
                           C, P);
    bool silu = strcmp(tt_attr_string(c->node, "activation", "none"), "none") != 0;
    tt_dtype dt = x->dtype;
    double *pad = tt_malloc((size_t)(L + P + 1) * sizeof *pad);
    if (!pad)
        return nomem(c->node);
    for (int64_t b = 0; b < B; b++)
        for (int64_t ch = 0; ch < C; ch++) {
            /* the past (or zeros), then the input */
            for (int64_t i = 0; i < P; i++)
                pad[i] = past ? tt_load_f64(past->data, dt, (size_t)((b * C + ch) * P + i)) : 0;
            for (int64_t i = 0; i < L; i++)
                pad[P + i] = tt_load_f64(x->data, dt, (size_t)((b * C + ch) * L + i));
            double bv = bias ? tt_load_f64(bias->data, bias->dtype, (size_t)ch) : 0;
            for (int64_t i = 0; i < L; i++) {
                double acc = bv;
                for (int64_t kk = 0; kk < K; kk++)
                    acc += pad[i + kk] * tt_load_f64(w->data, dt, (size_t)(ch * K + kk));
                double o = round_t(acc, dt);
                if (silu)
                    o = (float)(o * (float)(1.0 / (1.0 + exp(-o))));
                tt_store_f64(y->data, dt, (size_t)((b * C + ch) * L + i), o);
            }
            for (int64_t i = 0; pst && i < P; i++)
                tt_store_f64(pst->data, pst->dtype, (size_t)((b * C + ch) * P + i), pad[L + i]);
        }
    tt_free(pad);
    return TT_OK;
}

const tt_op_schema tt_schemas_ssm[] = {
    TT_SCHEMA("LinearAttention", 27, 0, infer_la, .parse = parse_la),
    TT_SCHEMA("CausalConvWithState", 27, 0, infer_ccs),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_ssm[] = {
    TT_KERNEL("LinearAttention", 27, 0, TT_DTS_FLOAT & ~TT_DT(TETHER_DTYPE_DOUBLE), run_la),
    TT_KERNEL("CausalConvWithState", 27, 0, TT_DTS_FLOAT & ~TT_DT(TETHER_DTYPE_DOUBLE), run_ccs),
    TT_KERNEL_END,
};
