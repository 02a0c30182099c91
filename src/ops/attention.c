/* Attention (opsets 23-25: scaled dot-product attention with multi-, grouped- and
 * multi-query heads, masks, causal and sliding-window bias, softcap, past/present caches and
 * an external cache's lengths), RotaryEmbedding (23) and FlexAttention (ai.onnx.preview 1:
 * attention with score and probability modifier subgraphs). The reference kernels compute in
 * double and round to the input type after each step where ONNX's reference does, so that
 * float16 and bfloat16 results match it to the last bit where possible. */
#include "ops/util.h"

#include <inttypes.h>
#include <stdatomic.h>

/* Rounds v to what dtype t holds (float16/bfloat16/float; double unchanged). */
static double rnd(double v, tt_dtype t)
{
    switch (t) {
    case TETHER_DTYPE_FLOAT: return (float)v;
    case TETHER_DTYPE_FLOAT16: return tt_f16_to_f32(tt_f32_to_f16((float)v));
    case TETHER_DTYPE_BFLOAT16: return tt_bf16_to_f32(tt_f32_to_bf16((float)v));
    default: return v;
    }
}

/* A tensor's elements as doubles (tt_free the result). */
static tt_status load_f64(const tt_node *n, const tt_tensor *t, double **out)
{
    int64_t k = tt_tensor_numel(t);
    double *p = tt_malloc((size_t)(k ? k : 1) * sizeof *p);
    if (!p)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", n->name);
    for (int64_t i = 0; i < k; i++)
        p[i] = tt_load_f64(t->data, t->dtype, (size_t)i);
    *out = p;
    return TT_OK;
}

/* ---- Attention ---------------------------------------------------------------------------- */

typedef struct attn_attrs {
    bool has_scale, causal;
    double scale, softcap;
    int64_t q_heads, kv_heads; /* 0: not given (4-D inputs) */
    int softmax_precision;     /* a dtype; 0: the input's */
    int mode;                  /* qk_matmul_output_mode */
    int64_t left, right;       /* sliding window sizes; -1: unbounded */
} attn_attrs;

static tt_status parse_attention(tt_node *n, void **state)
{
    attn_attrs *a = tt_calloc(1, sizeof *a);
    if (!a)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    *state = a;
    a->has_scale = tt_node_attr(n, "scale") != NULL;
    a->scale = tt_attr_float(n, "scale", 1.0f);
    a->causal = tt_attr_int(n, "is_causal", 0) != 0;
    a->softcap = tt_attr_float(n, "softcap", 0.0f);
    a->q_heads = tt_attr_int(n, "q_num_heads", 0);
    a->kv_heads = tt_attr_int(n, "kv_num_heads", 0);
    int64_t sp = tt_attr_int(n, "softmax_precision", 0);
    int64_t mode = tt_attr_int(n, "qk_matmul_output_mode", 0);
    a->left = tt_attr_int(n, "left_window_size", -1);
    a->right = tt_attr_int(n, "right_window_size", -1);
    if (sp != 0 && !((TT_DTS_FLOAT >> sp) & 1 && sp < 32))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "softmax_precision %" PRId64 " is not a float type", sp);
    if (mode < 0 || mode > 3)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "qk_matmul_output_mode %" PRId64 " is not 0..3", mode);
    if (a->q_heads < 0 || a->kv_heads < 0 || a->left < -1 || a->right < -1)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "negative head count or window size");
    if (a->has_scale && !(a->scale > 0))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "scale must be positive, got %g", a->scale);
    a->softmax_precision = (int)sp;
    a->mode = (int)mode;
    return TT_OK;
}

/* The sizes of one call, from the input shapes (dims may be symbolic at load: < 0). */
typedef struct attn_dims {
    int rank;                       /* 3 or 4 */
    int64_t B, Hq, Hkv, Sq, Skv, D, Dv, P; /* P: past sequence length */
} attn_dims;

static int64_t div_dim(int64_t a, int64_t b) { return a >= 0 && b > 0 ? a / b : TT_DIM_UNKNOWN; }
static int64_t add_dim(int64_t a, int64_t b) { return a >= 0 && b >= 0 ? a + b : TT_DIM_UNKNOWN; }

static tt_status attn_shape(const tt_node *n, const attn_attrs *a, const tt_type *q, const tt_type *k,
                            const tt_type *v, const tt_type *pk, attn_dims *d)
{
    d->rank = q->rank;
    if (q->rank != 3 && q->rank != 4)
        return tt_op_error(n, TETHER_ERR_SHAPE, "Q must be 3-D or 4-D, got rank %d", q->rank);
    if (k->rank != q->rank || v->rank != q->rank)
        return tt_op_error(n, TETHER_ERR_SHAPE, "Q, K and V must have the same rank (%d, %d, %d)", q->rank, k->rank,
                           v->rank);
    d->B = q->dims[0];
    if (q->rank == 4) {
        if (a->q_heads || a->kv_heads)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "q_num_heads and kv_num_heads are for 3-D inputs only");
        d->Hq = q->dims[1], d->Sq = q->dims[2], d->D = q->dims[3];
        d->Hkv = k->dims[1], d->Skv = k->dims[2], d->Dv = v->dims[3];
        if (k->dims[3] >= 0 && d->D >= 0 && k->dims[3] != d->D)
            return tt_op_error(n, TETHER_ERR_SHAPE, "K's head size %" PRId64 " differs from Q's %" PRId64, k->dims[3],
                               d->D);
    } else {
        if (!a->q_heads || !a->kv_heads)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "3-D inputs need q_num_heads and kv_num_heads");
        d->Hq = a->q_heads, d->Hkv = a->kv_heads, d->Sq = q->dims[1], d->Skv = k->dims[1];
        d->D = div_dim(q->dims[2], a->q_heads), d->Dv = div_dim(v->dims[2], a->kv_heads);
        if ((q->dims[2] >= 0 && q->dims[2] % a->q_heads) || (k->dims[2] >= 0 && k->dims[2] % a->kv_heads) ||
            (v->dims[2] >= 0 && v->dims[2] % a->kv_heads))
            return tt_op_error(n, TETHER_ERR_SHAPE, "hidden sizes must be multiples of the head counts");
        if (k->dims[2] >= 0 && d->D >= 0 && k->dims[2] / a->kv_heads != d->D)
            return tt_op_error(n, TETHER_ERR_SHAPE, "K's head size differs from Q's");
    }
    if (d->Hq > 0 && d->Hkv > 0 && d->Hq % d->Hkv)
        return tt_op_error(n, TETHER_ERR_SHAPE, "%" PRId64 " query heads are not a multiple of %" PRId64 " key heads",
                           d->Hq, d->Hkv);
    d->P = 0;
    if (pk) {
        if (pk->rank >= 0 && pk->rank != 4)
            return tt_op_error(n, TETHER_ERR_SHAPE, "past_key must be 4-D");
        d->P = pk->rank == 4 ? pk->dims[2] : TT_DIM_UNKNOWN;
    }
    return TT_OK;
}

static tt_status infer_attention(tt_ictx *c)
{
    const attn_attrs *a = c->node->state;
    const tt_type *q, *k, *v;
    TT_TRY(tt_infer_input(c, 0, &q));
    TT_TRY(tt_infer_input(c, 1, &k));
    TT_TRY(tt_infer_input(c, 2, &v));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    const tt_type *pk = tt_iin(c, 4), *pv = tt_iin(c, 5);
    if (!pk != !pv)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "past_key and past_value go together");
    if (pk && tt_iin(c, 6))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "nonpad_kv_seqlen cannot be used with past_key");
    TT_TRY(tt_infer_check_dtype(c, 6, TT_DT(TETHER_DTYPE_INT64)));
    if (q->rank < 0 || k->rank < 0 || v->rank < 0) {
        for (int o = 0; o < c->n_out; o++)
            tt_infer_tensor(c, o, q->dtype, -1, NULL);
        return TT_OK;
    }
    attn_dims d;
    TT_TRY(attn_shape(c->node, a, q, k, v, pk, &d));
    int64_t T = add_dim(d.P, d.Skv);
    if (d.rank == 4) {
        int64_t y[4] = {d.B, d.Hq, d.Sq, d.Dv};
        tt_infer_tensor(c, 0, q->dtype, 4, y);
    } else {
        int64_t y[3] = {d.B, d.Sq, d.Dv >= 0 ? d.Hq * d.Dv : TT_DIM_UNKNOWN};
        tt_infer_tensor(c, 0, q->dtype, 3, y);
    }
    int64_t pkd[4] = {d.B, d.Hkv, T, d.D}, pvd[4] = {d.B, d.Hkv, T, d.Dv}, qk[4] = {d.B, d.Hq, d.Sq, T};
    tt_infer_tensor(c, 1, q->dtype, 4, pkd);
    tt_infer_tensor(c, 2, q->dtype, 4, pvd);
    tt_infer_tensor(c, 3, q->dtype, 4, qk);
    return TT_OK;
}

static uint64_t flops_attention(const tt_ictx *c)
{
    const tt_type *y = &c->out[0], *qk = &c->out[3];
    if (y->rank < 0 || qk->rank != 4)
        return 0;
    int64_t per_row = qk->dims[3];
    int64_t rows = qk->dims[0] * qk->dims[1] * qk->dims[2];
    int64_t dv = y->rank == 4 ? y->dims[3] : (qk->dims[1] ? y->dims[2] / qk->dims[1] : 0);
    int64_t dq = c->in[0]->rank == 4 ? c->in[0]->dims[3] : (qk->dims[1] ? c->in[0]->dims[2] / qk->dims[1] : 0);
    return (uint64_t)(2 * rows * per_row * (dq + dv) + 5 * rows * per_row);
}

/* Element (b, h, s, e) of Q, K or V as 4-D (b, heads, seq, head_size) or 3-D (b, seq,
 * heads * head_size): the stride of each of the four. */
static void head_strides(int rank, int64_t H, int64_t S, int64_t E, int64_t st[4])
{
    if (rank == 4) {
        st[0] = H * S * E, st[1] = S * E, st[2] = E, st[3] = 1;
    } else {
        st[0] = S * H * E, st[1] = E, st[2] = H * E, st[3] = 1;
    }
}

/* The strides over (B, Hq, Sq, keys) of attn_mask, which broadcasts right-aligned to
 * (B, Hq, Sq, T) except along the keys: a shorter mask is padded with "masked". */
static tt_status mask_strides(const tt_node *n, const tt_tensor *m, const attn_dims *d, int64_t T, int64_t st[4],
                              int64_t *len)
{
    char b[160];
    if (m->rank < 1 || m->rank > 4)
        return tt_op_error(n, TETHER_ERR_SHAPE, "attn_mask must have rank 1 to 4, got %d", m->rank);
    int64_t want[4] = {d->B, d->Hq, d->Sq, T}, s = 1;
    for (int i = 3; i >= 0; i--) {
        int mi = i - (4 - m->rank);
        int64_t dim = mi >= 0 ? m->dims[mi] : 1;
        if (i == 3 ? dim > T : dim != 1 && dim != want[i])
            return tt_op_error(n, TETHER_ERR_SHAPE,
                               "attn_mask of shape %s does not fit (%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ")",
                               tt_dims_str(m->rank, m->dims, b, sizeof b), d->B, d->Hq, d->Sq, T);
        if (i == 3)
            *len = dim;
        st[i] = dim == 1 && i < 3 ? 0 : s;
        s *= dim;
    }
    return TT_OK;
}

/* One run's data, shared by the (batch, query head) tasks. Q and K are held scaled (by
 * sqrt(scale), rounded to the input type), K and V as the present (past + new) caches. */
typedef struct attn_job {
    const attn_attrs *a;
    attn_dims d;
    int64_t T, reps, mlen, mst[4], qst[4], yst[4];
    tt_dtype dt, pt;
    const double *Q, *K, *V;
    const tt_tensor *mask, *nonpad;
    tt_tensor *y, *oqk;
    bool has_past;
    atomic_bool nomem;
} attn_job;

static void attn_heads(void *arg, int64_t t0, int64_t t1)
{
    attn_job *j = arg;
    const attn_attrs *a = j->a;
    const attn_dims *d = &j->d;
    const int64_t T = j->T;
    tt_dtype dt = j->dt, pt = j->pt;
    double *row = tt_malloc((size_t)(3 * T + 1) * sizeof *row);
    if (!row) {
        atomic_store(&j->nomem, true);
        return;
    }
    double *bias = row + T, *p = row + 2 * T;
    for (int64_t task = t0; task < t1; task++) {
        int64_t b = task / d->Hq, h = task % d->Hq;
        /* the causal and window frontiers: key j is allowed for query i iff j <= i + off */
        int64_t off = j->has_past ? d->P : 0, valid = T;
        if (j->nonpad) {
            valid = ((const int64_t *)j->nonpad->data)[b];
            off = valid - d->Sq;
        }
        const double *Kh = j->K + (b * d->Hkv + h / j->reps) * T * d->D;
        const double *Vh = j->V + (b * d->Hkv + h / j->reps) * T * d->Dv;
        for (int64_t i = 0; i < d->Sq; i++) {
            const double *qr = j->Q + b * j->qst[0] + h * j->qst[1] + i * j->qst[2];
            size_t qk_row = (size_t)(((b * d->Hq + h) * d->Sq + i) * T);
            double bmax = -INFINITY;
            bool bnan = false;
            for (int64_t k = 0; k < T; k++) {
                /* the bias: the mask's value (padded with "masked" past its length), plus
                 * -inf where causality, the window or the external cache's length forbid */
                double bk = 0;
                if (j->mask) {
                    if (k < j->mlen) {
                        size_t mi = (size_t)(b * j->mst[0] + h * j->mst[1] + i * j->mst[2] + k * j->mst[3]);
                        bk = j->mask->dtype == TETHER_DTYPE_BOOL
                                 ? (((const uint8_t *)j->mask->data)[mi] ? 0 : -INFINITY)
                                 : rnd(tt_load_f64(j->mask->data, j->mask->dtype, mi), dt);
                    } else {
                        bk = -INFINITY;
                    }
                }
                int64_t diff = i + off - k;
                bool allowed = !(a->causal && diff < 0) && !(a->left >= 0 && diff > a->left) &&
                               !(a->right >= 0 && -diff > a->right) && !(j->nonpad && k >= valid);
                if (!allowed)
                    bk += -INFINITY;
                bias[k] = bk;
                if (bk != bk)
                    bnan = true;
                else if (bk > bmax)
                    bmax = bk;
                /* the product of the scaled Q and K, rounded to the input type */
                const double *kr = Kh + k * d->D;
                double acc = 0;
                for (int64_t e = 0; e < d->D; e++)
                    acc += qr[e] * kr[e];
                double x = rnd(acc, dt);
                if (a->softcap > 0)
                    x = rnd(rnd(tanh(rnd(x / a->softcap, dt)), dt) * a->softcap, dt);
                row[k] = x;
            }
            bool masked_row = !bnan && bmax == -INFINITY;
            /* softmax in the softmax precision, over the biased scores */
            double m = -INFINITY;
            bool mnan = false;
            for (int64_t k = 0; k < T; k++) {
                double x = rnd(rnd(row[k] + bias[k], dt), pt);
                p[k] = x;
                if (a->mode == 2 && j->oqk)
                    tt_store_f64(j->oqk->data, dt, qk_row + (size_t)k, rnd(x, dt));
                else if (a->mode < 2 && j->oqk)
                    tt_store_f64(j->oqk->data, dt, qk_row + (size_t)k, row[k]);
                if (x != x)
                    mnan = true;
                else if (x > m)
                    m = x;
            }
            if (mnan)
                m = NAN;
            double safe = m == -INFINITY ? 0 : m, sum = 0;
            for (int64_t k = 0; k < T; k++) {
                p[k] = rnd(exp(rnd(p[k] - safe, pt)), pt);
                /* numpy sums bfloat16 one rounded step at a time; other types wider */
                sum = pt == TETHER_DTYPE_BFLOAT16 ? rnd(sum + p[k], pt) : sum + p[k];
            }
            sum = rnd(sum, pt);
            if (sum == 0)
                sum = 1;
            for (int64_t k = 0; k < T; k++) {
                p[k] = masked_row ? 0 : rnd(rnd(p[k] / sum, pt), dt);
                if (a->mode == 3 && j->oqk)
                    tt_store_f64(j->oqk->data, dt, qk_row + (size_t)k, p[k]);
            }
            for (int64_t e = 0; e < d->Dv; e++) {
                double acc = 0;
                for (int64_t k = 0; k < T; k++)
                    acc += p[k] * Vh[k * d->Dv + e];
                tt_store_f64(j->y->data, dt, (size_t)(b * j->yst[0] + h * j->yst[1] + i * j->yst[2] + e), acc);
            }
        }
    }
    tt_free(row);
}

static tt_status run_attention(tt_kctx *c)
{
    const attn_attrs *a = c->state;
    const tt_tensor *q = tt_kin(c, 0), *k = tt_kin(c, 1), *v = tt_kin(c, 2), *mask = tt_kin(c, 3);
    const tt_tensor *pk = tt_kin(c, 4), *pv = tt_kin(c, 5), *nonpad = tt_kin(c, 6);
    tt_type tq, tk, tv, tpk;
    tt_type_tensor(&tq, q->dtype, q->rank, q->dims);
    tt_type_tensor(&tk, k->dtype, k->rank, k->dims);
    tt_type_tensor(&tv, v->dtype, v->rank, v->dims);
    if (pk)
        tt_type_tensor(&tpk, pk->dtype, pk->rank, pk->dims);
    attn_job j = {.a = a, .mask = mask, .nonpad = nonpad, .has_past = pk != NULL, .dt = q->dtype};
    attn_dims *d = &j.d;
    TT_TRY(attn_shape(c->node, a, &tq, &tk, &tv, pk ? &tpk : NULL, d));
    const int64_t T = j.T = d->P + d->Skv;
    j.reps = d->Hq / (d->Hkv ? d->Hkv : 1);
    tt_dtype dt = j.dt;
    j.pt = a->softmax_precision ? (tt_dtype)a->softmax_precision : dt;
    if (pk && (pk->dims[0] != d->B || pk->dims[1] != d->Hkv || pk->dims[3] != d->D || pv->rank != 4 ||
               pv->dims[0] != d->B || pv->dims[1] != d->Hkv || pv->dims[2] != d->P || pv->dims[3] != d->Dv))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "past_key/past_value do not match K and V");
    if (nonpad && (nonpad->rank != 1 || nonpad->dims[0] != d->B))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "nonpad_kv_seqlen must have shape (%" PRId64 ")", d->B);
    if (d->Hkv <= 0 || d->Hq <= 0)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "head counts must be positive");
    j.mlen = T;
    if (mask)
        TT_TRY(mask_strides(c->node, mask, d, T, j.mst, &j.mlen));

    /* present key and value (past, then the new tokens) as doubles, (B, Hkv, T, D) */
    int64_t kst[4], vst[4];
    head_strides(d->rank, d->Hq, d->Sq, d->D, j.qst);
    head_strides(d->rank, d->Hkv, d->Skv, d->D, kst);
    head_strides(d->rank, d->Hkv, d->Skv, d->Dv, vst);
    head_strides(d->rank, d->Hq, d->Sq, d->Dv, j.yst);
    double *Q = NULL, *Kp = NULL, *Vp = NULL;
    tt_status s = load_f64(c->node, q, &Q);
    size_t nk = (size_t)(d->B * d->Hkv * T * d->D), nv = (size_t)(d->B * d->Hkv * T * d->Dv);
    if (s == TT_OK && (!(Kp = tt_malloc((nk ? nk : 1) * sizeof *Kp)) || !(Vp = tt_malloc((nv ? nv : 1) * sizeof *Vp))))
        s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    if (s != TT_OK)
        goto out;
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t h = 0; h < d->Hkv; h++)
            for (int64_t t = 0; t < T; t++) {
                double *kr = Kp + ((b * d->Hkv + h) * T + t) * d->D, *vr = Vp + ((b * d->Hkv + h) * T + t) * d->Dv;
                for (int64_t e = 0; e < d->D; e++)
                    kr[e] = t < d->P ? tt_load_f64(pk->data, dt, (size_t)(((b * d->Hkv + h) * d->P + t) * d->D + e))
                                     : tt_load_f64(k->data, dt, (size_t)(b * kst[0] + h * kst[1] + (t - d->P) * kst[2] + e));
                for (int64_t e = 0; e < d->Dv; e++)
                    vr[e] = t < d->P ? tt_load_f64(pv->data, dt, (size_t)(((b * d->Hkv + h) * d->P + t) * d->Dv + e))
                                     : tt_load_f64(v->data, dt, (size_t)(b * vst[0] + h * vst[1] + (t - d->P) * vst[2] + e));
            }
    tt_tensor *ok = tt_kout(c, 1), *ov = tt_kout(c, 2);
    for (size_t i = 0; ok && i < nk; i++)
        tt_store_f64(ok->data, dt, i, Kp[i]);
    for (size_t i = 0; ov && i < nv; i++)
        tt_store_f64(ov->data, dt, i, Vp[i]);
    /* the scale is applied as sqrt(scale) to each of Q and K, rounded to the input type */
    double sc = rnd(sqrt(a->has_scale ? a->scale : 1.0 / sqrt((double)d->D)), dt);
    for (int64_t i = 0, n = tt_tensor_numel(q); i < n; i++)
        Q[i] = rnd(Q[i] * sc, dt);
    for (size_t i = 0; i < nk; i++)
        Kp[i] = rnd(Kp[i] * sc, dt);
    j.Q = Q, j.K = Kp, j.V = Vp;
    j.y = tt_kout(c, 0), j.oqk = tt_kout(c, 3);
    atomic_init(&j.nomem, false);
    int64_t per_task = d->Sq * T * (d->D + d->Dv + 8);
    tt_parallel_for(d->B * d->Hq, per_task ? (65536 + per_task - 1) / per_task : 1, attn_heads, &j);
    if (atomic_load(&j.nomem))
        s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    if (s == TT_OK)
        s = tt_kctx_check(c);
out:
    tt_free(Q);
    tt_free(Kp);
    tt_free(Vp);
    return s;
}

/* ---- RotaryEmbedding ------------------------------------------------------------------------ */

static tt_status infer_rotary(tt_ictx *c)
{
    const tt_type *x, *cs, *sn;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &cs));
    TT_TRY(tt_infer_input(c, 2, &sn));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    TT_TRY(tt_infer_check_dtype(c, 3, TT_DT(TETHER_DTYPE_INT64)));
    if (x->rank >= 0 && x->rank != 3 && x->rank != 4)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X must be 3-D or 4-D, got rank %d", x->rank);
    if (x->rank == 3 && tt_attr_int(c->node, "num_heads", 0) <= 0)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "a 3-D X needs the num_heads attribute");
    return tt_infer_same(c, 0, 0);
}

static tt_status run_rotary(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *cs = tt_kin(c, 1), *sn = tt_kin(c, 2), *pos = tt_kin(c, 3);
    tt_tensor *y = tt_kout(c, 0);
    const tt_node *n = c->node;
    int64_t B = x->dims[0], S, H, D, xst[4];
    if (x->rank == 4) { /* (B, H, S, D) */
        H = x->dims[1], S = x->dims[2], D = x->dims[3];
        xst[0] = H * S * D, xst[1] = S * D, xst[2] = D, xst[3] = 1;
    } else { /* (B, S, H * D) */
        H = tt_attr_int(n, "num_heads", 0), S = x->dims[1];
        if (H <= 0 || x->dims[2] % H)
            return tt_op_error(n, TETHER_ERR_SHAPE, "hidden size %" PRId64 " is not a multiple of num_heads %" PRId64,
                               x->dims[2], H);
        D = x->dims[2] / H;
        xst[0] = S * H * D, xst[1] = D, xst[2] = H * D, xst[3] = 1;
    }
    int64_t R = tt_attr_int(n, "rotary_embedding_dim", 0);
    if (R == 0)
        R = D;
    if (R < 0 || R > D || R % 2)
        return tt_op_error(n, TETHER_ERR_SHAPE, "rotary_embedding_dim %" PRId64 " must be even and at most %" PRId64,
                           R, D);
    bool inter = tt_attr_int(n, "interleaved", 0) != 0;
    int64_t half = R / 2;
    /* the caches: (max_pos, half) indexed by position_ids, or (B, S, half) */
    if (pos) {
        if (pos->rank != 2 || pos->dims[0] != B || pos->dims[1] != S || cs->rank != 2 || sn->rank != 2 ||
            cs->dims[1] != half || sn->dims[1] != half || sn->dims[0] != cs->dims[0])
            return tt_op_error(n, TETHER_ERR_SHAPE, "with position_ids (%" PRId64 ", %" PRId64 "), the caches must be "
                               "(positions, %" PRId64 ")", B, S, half);
    } else if (cs->rank != 3 || sn->rank != 3 || cs->dims[0] != B || cs->dims[1] != S || cs->dims[2] != half ||
               memcmp(cs->dims, sn->dims, sizeof cs->dims[0] * 3) != 0) {
        return tt_op_error(n, TETHER_ERR_SHAPE, "without position_ids the caches must be (%" PRId64 ", %" PRId64
                           ", %" PRId64 ")", B, S, half);
    }
    tt_dtype dt = x->dtype;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < S; t++) {
            int64_t crow = b * S + t;
            if (pos) {
                crow = ((const int64_t *)pos->data)[b * S + t];
                if (!tt_norm_index(&crow, cs->dims[0]) || crow < 0)
                    return tt_index_error(n, "position id", ((const int64_t *)pos->data)[b * S + t], cs->dims[0]);
            }
            for (int64_t h = 0; h < H; h++) {
                size_t base = (size_t)(b * xst[0] + h * xst[1] + t * xst[2]);
                for (int64_t k = 0; k < half; k++) {
                    double co = tt_load_f64(cs->data, dt, (size_t)(crow * half + k));
                    double si = tt_load_f64(sn->data, dt, (size_t)(crow * half + k));
                    size_t i1 = base + (size_t)(inter ? 2 * k : k), i2 = base + (size_t)(inter ? 2 * k + 1 : k + half);
                    double x1 = tt_load_f64(x->data, dt, i1), x2 = tt_load_f64(x->data, dt, i2);
                    tt_store_f64(y->data, dt, i1, rnd(rnd(co * x1, dt) - rnd(si * x2, dt), dt));
                    tt_store_f64(y->data, dt, i2, rnd(rnd(si * x1, dt) + rnd(co * x2, dt), dt));
                }
                for (int64_t e = R; e < D; e++)
                    tt_store_f64(y->data, dt, base + (size_t)e, tt_load_f64(x->data, dt, base + (size_t)e));
            }
        }
    return TT_OK;
}

/* ---- FlexAttention (ai.onnx.preview 1) ----------------------------------------------------- */

/* Scaled dot-product attention with optional score_mod and prob_mod subgraphs, each run once
 * over the whole (B, Hq, L, S) tensor in the softmax precision (float, or double for double
 * inputs). */

static const tt_graph *graph_attr(const tt_node *n, const char *name)
{
    const tt_attr *a = tt_node_attr(n, name);
    return a && a->type == TT_ATTR_GRAPH ? a->g : NULL;
}

static tt_dtype flex_precision(const tt_node *n, tt_dtype in)
{
    int64_t sp = tt_attr_int(n, "softmax_precision", 0);
    if (sp)
        return (tt_dtype)sp;
    return in == TETHER_DTYPE_DOUBLE ? TETHER_DTYPE_DOUBLE : TETHER_DTYPE_FLOAT;
}

static tt_status infer_flex(tt_ictx *c)
{
    const tt_type *q, *k, *v;
    TT_TRY(tt_infer_input(c, 0, &q));
    TT_TRY(tt_infer_input(c, 1, &k));
    TT_TRY(tt_infer_input(c, 2, &v));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    int64_t sp = tt_attr_int(c->node, "softmax_precision", 0);
    if (sp && (sp >= 32 || !((TT_DTS_FLOAT >> sp) & 1)))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "softmax_precision %" PRId64 " is not a float type", sp);
    for (int i = 0; i < 3; i++)
        if (c->in[i]->rank >= 0 && c->in[i]->rank != 4)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "Q, K and V must be 4-D");
    int64_t y[4] = {q->rank == 4 ? q->dims[0] : TT_DIM_UNKNOWN, q->rank == 4 ? q->dims[1] : TT_DIM_UNKNOWN,
                    q->rank == 4 ? q->dims[2] : TT_DIM_UNKNOWN, v->rank == 4 ? v->dims[3] : TT_DIM_UNKNOWN};
    tt_infer_tensor(c, 0, q->dtype, 4, y);
    return TT_OK;
}

/* Runs modifier subgraph g over *t (dtype pt), replacing it with the subgraph's output. */
static tt_status flex_mod(tt_kctx *c, const tt_graph *g, const char *what, tt_tensor *t)
{
    if (g->n_inputs != 1 || g->n_outputs != 1)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "%s must take one input and give one output", what);
    tt_value in = {.kind = TT_KIND_TENSOR, .t = *t}, out = {0};
    TT_TRY(tt_kctx_run_subgraph(c, g, &in, 1, &out));
    tt_status s = TT_OK;
    if (out.kind != TT_KIND_TENSOR || out.t.dtype != t->dtype || out.t.rank != 4 ||
        memcmp(out.t.dims, t->dims, sizeof t->dims[0] * 4) != 0)
        s = tt_op_error(c->node, TETHER_ERR_RUNTIME, "%s must keep its input's shape and type", what);
    else
        memcpy(t->data, out.t.data, tt_tensor_nbytes(t));
    tt_value_release(&out);
    return s;
}

static tt_status run_flex(tt_kctx *c)
{
    const tt_tensor *q = tt_kin(c, 0), *k = tt_kin(c, 1), *v = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    const tt_node *n = c->node;
    int64_t B = q->dims[0], Hq = q->dims[1], L = q->dims[2], E = q->dims[3];
    int64_t Hk = k->dims[1], S = k->dims[2], Ev = v->dims[3];
    if (k->dims[0] != B || v->dims[0] != B || k->dims[3] != E || v->dims[1] != Hk || v->dims[2] != S || Hk <= 0 ||
        Hq % Hk)
        return tt_op_error(n, TETHER_ERR_SHAPE, "Q, K and V do not fit together (query heads a multiple of KV heads)");
    tt_dtype dt = q->dtype, pt = flex_precision(n, dt);
    const tt_attr *sa = tt_node_attr(n, "scale");
    double scale = sa ? sa->f : 1.0 / sqrt((double)E);
    double ss = rnd((float)sqrt((float)scale), dt); /* sqrt(scale) on Q and K, in the input type */
    int64_t dims[4] = {B, Hq, L, S}, reps = Hq / Hk;
    tt_tensor p;
    TT_TRY(tt_tensor_alloc(&p, pt, 4, dims));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < L; i++)
                for (int64_t j = 0; j < S; j++) {
                    double acc = 0;
                    size_t qo = (size_t)(((b * Hq + h) * L + i) * E), ko = (size_t)(((b * Hk + h / reps) * S + j) * E);
                    for (int64_t e = 0; e < E; e++)
                        acc += rnd(tt_load_f64(q->data, dt, qo + (size_t)e) * ss, dt) *
                               rnd(tt_load_f64(k->data, dt, ko + (size_t)e) * ss, dt);
                    tt_store_f64(p.data, pt, (size_t)(((b * Hq + h) * L + i) * S + j), rnd(acc, dt));
                }
    const tt_graph *score_mod = graph_attr(n, "score_mod"), *prob_mod = graph_attr(n, "prob_mod");
    tt_status s = score_mod ? flex_mod(c, score_mod, "score_mod", &p) : TT_OK;
    for (int64_t r = 0; s == TT_OK && r < B * Hq * L; r++) { /* softmax over the keys */
        size_t o = (size_t)(r * S);
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < S; j++) {
            double x = tt_load_f64(p.data, pt, o + (size_t)j);
            m = x > m || x != x ? x : m;
        }
        for (int64_t j = 0; j < S; j++) {
            double e = rnd(exp(rnd(tt_load_f64(p.data, pt, o + (size_t)j) - m, pt)), pt);
            tt_store_f64(p.data, pt, o + (size_t)j, e);
            sum += e;
        }
        sum = rnd(sum, pt);
        for (int64_t j = 0; j < S; j++)
            tt_store_f64(p.data, pt, o + (size_t)j, tt_load_f64(p.data, pt, o + (size_t)j) / sum);
    }
    if (s == TT_OK && prob_mod)
        s = flex_mod(c, prob_mod, "prob_mod", &p);
    for (int64_t b = 0; s == TT_OK && b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < L; i++)
                for (int64_t e = 0; e < Ev; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < S; j++)
                        acc += tt_load_f64(p.data, pt, (size_t)(((b * Hq + h) * L + i) * S + j)) *
                               rnd(tt_load_f64(v->data, dt, (size_t)(((b * Hk + h / reps) * S + j) * Ev + e)), pt);
                    tt_store_f64(y->data, dt, (size_t)(((b * Hq + h) * L + i) * Ev + e), rnd(acc, pt));
                }
    tt_tensor_release(&p);
    return s;
}

const tt_op_schema tt_schemas_attention[] = {
    TT_SCHEMA("Attention", 23, 0, infer_attention, .parse = parse_attention, .flops = flops_attention),
    TT_SCHEMA("RotaryEmbedding", 23, 0, infer_rotary),
    {.domain = "ai.onnx.preview", .name = "FlexAttention", .since = 1, .infer = infer_flex, .flags = TT_OP_NO_FOLD},
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_attention[] = {
    TT_KERNEL("Attention", 23, 0, TT_DTS_FLOAT, run_attention),
    TT_KERNEL("RotaryEmbedding", 23, 0, TT_DTS_FLOAT, run_rotary),
    {.domain = "ai.onnx.preview", .name = "FlexAttention", .since = 1, .dtypes = TT_DTS_FLOAT, .run = run_flex},
    TT_KERNEL_END,
};
