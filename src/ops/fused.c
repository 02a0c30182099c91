/* tether's own ops (domain com.tether), made by graph passes and placement, never read
 * from a model file: copies between buffer types, and the fused ops of src/ops/fused.h with
 * their reference kernels (plain loops; the fast ones are the cpu backend's). */
#include "ops/fused.h"

#include "ops/util.h"

#include <inttypes.h>

static tt_status infer_copy(tt_ictx *c) { return tt_infer_same(c, 0, 0); }

static uint64_t flops_zero(const tt_ictx *c)
{
    (void)c;
    return 0;
}

#define TT_OWN_SCHEMA(name_, infer_, ...)                                                            \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .until = 0, .infer = infer_, __VA_ARGS__}
#define TT_OWN_KERNEL(name_, dtypes_, run_, ...)                                                     \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .until = 0, .dtypes = dtypes_, .run = run_, __VA_ARGS__}

#define NOMEM(n) tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", (n)->name)

/* ---- activations ------------------------------------------------------------------------- */

static const char *const g_act_names[] = {"", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "GeluTanh", "Clip"};

bool tt_act_parse(const char *s, tt_act *out)
{
    for (size_t i = 0; i < sizeof g_act_names / sizeof g_act_names[0]; i++)
        if (strcmp(s, g_act_names[i]) == 0) {
            *out = (tt_act)i;
            return true;
        }
    return false;
}

const char *tt_act_name(tt_act a) { return g_act_names[a]; }

static float gelu_ref(float x) { return x * (erff(x / 1.41421356f) + 1.0f) * 0.5f; }

static float gelu_tanh_ref(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

float tt_act_apply(tt_act a, float x, float alpha, float beta)
{
    switch (a) {
    case TT_ACT_ID_NONE: return x;
    case TT_ACT_ID_RELU: return x < 0 ? 0 : x;
    case TT_ACT_ID_LEAKY_RELU: return x < 0 ? alpha * x : x;
    case TT_ACT_ID_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case TT_ACT_ID_TANH: return tanhf(x);
    case TT_ACT_ID_GELU: return gelu_ref(x);
    case TT_ACT_ID_GELU_TANH: return gelu_tanh_ref(x);
    case TT_ACT_ID_CLIP: return x < alpha ? alpha : x > beta ? beta : x;
    }
    return x;
}

/* ---- FusedMatMul ------------------------------------------------------------------------- */

static tt_status parse_fused_mm(tt_node *n, void **state)
{
    tt_fused_mm *st = tt_calloc(1, sizeof *st);
    if (!st)
        return NOMEM(n);
    *state = st;
    st->trans_b = tt_attr_int(n, "transB", 0) != 0;
    st->alpha = tt_attr_float(n, "alpha", 1.0f);
    const char *act = tt_attr_string(n, "activation", "");
    if (!tt_act_parse(act, &st->act))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "unknown activation '%s'", act);
    st->act_alpha = tt_attr_float(n, "activation_alpha", st->act == TT_ACT_ID_LEAKY_RELU ? 0.01f : 0.0f);
    st->act_beta = tt_attr_float(n, "activation_beta", 0.0f);
    const char *prec = tt_attr_string(n, "precision", "");
    if (strcmp(prec, "bf16") == 0)
        st->precision = TT_PRECISION_BF16;
    else if (strcmp(prec, "int8") == 0)
        st->precision = TT_PRECISION_INT8;
    else if (*prec && strcmp(prec, "fp32") != 0)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "precision '%s' is not fp32, bf16 or int8", prec);
    return TT_OK;
}

static tt_status infer_fused_mm(tt_ictx *c)
{
    const tt_type *a, *b;
    TT_TRY(tt_need_input(c, 0, &a));
    TT_TRY(tt_need_input(c, 1, &b));
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_FLOAT)));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    const tt_fused_mm *st = c->node->state;
    if (b->rank >= 0 && b->rank != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "B must be 2-D, got rank %d", b->rank);
    if (a->rank == 0)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "A must have rank >= 1");
    if (a->rank < 0 || b->rank < 0) {
        tt_infer_tensor(c, 0, a->dtype, -1, NULL);
        return TT_OK;
    }
    int64_t ka = a->dims[a->rank - 1], kb = b->dims[st->trans_b ? 1 : 0];
    if (tt_dim_known(ka) && tt_dim_known(kb) && ka != kb)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "inner dimensions differ (%" PRId64 " vs %" PRId64 ")", ka, kb);
    int64_t y[TT_MAX_RANK];
    int r = a->rank;
    memcpy(y, a->dims, sizeof(int64_t) * (size_t)r);
    y[r - 1] = b->dims[st->trans_b ? 0 : 1];
    /* a residual broadcasts as Add does */
    const tt_type *res = tt_iin(c, 3);
    if (res && res->kind == TT_KIND_TENSOR) {
        if (res->rank < 0) {
            tt_infer_tensor(c, 0, a->dtype, -1, NULL);
            return TT_OK;
        }
        int64_t w[TT_MAX_RANK];
        TT_TRY(tt_broadcast_shapes(c->node, r, y, res->rank, res->dims, &r, w));
        memcpy(y, w, sizeof w);
    }
    tt_infer_tensor(c, 0, a->dtype, r, y);
    return TT_OK;
}

static uint64_t flops_fused_mm(const tt_ictx *c)
{
    const tt_type *a = tt_iin(c, 0), *y = &c->out[0];
    int64_t n = 1;
    for (int i = 0; i < y->rank; i++)
        n *= y->dims[i];
    return (uint64_t)(2 * n * a->dims[a->rank - 1] + n);
}

tt_status tt_fused_mm_check(const tt_node *n, const tt_tensor *a, const tt_tensor *b, const tt_tensor *bias,
                            const tt_tensor *res, bool trans_b, tt_tensor *mm, bool *direct)
{
    int64_t K = a->dims[a->rank - 1], N = b->dims[trans_b ? 0 : 1];
    if (b->rank != 2 || b->dims[trans_b ? 1 : 0] != K)
        return tt_op_error(n, TETHER_ERR_SHAPE, "A and B do not multiply");
    memset(mm, 0, sizeof *mm);
    mm->dtype = TETHER_DTYPE_FLOAT;
    mm->rank = a->rank;
    memcpy(mm->dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
    mm->dims[a->rank - 1] = N;
    if (bias && (tt_tensor_numel(bias) != N || bias->dtype != TETHER_DTYPE_FLOAT))
        return tt_op_error(n, TETHER_ERR_SHAPE, "the bias must be float with %" PRId64 " values", N);
    if (res && res->dtype != TETHER_DTYPE_FLOAT)
        return tt_op_error(n, TETHER_ERR_SHAPE, "the residual must be float");
    *direct = !res || (res->rank == mm->rank && memcmp(res->dims, mm->dims, sizeof(int64_t) * (size_t)mm->rank) == 0);
    return TT_OK;
}

/* y = act(bcast(t, res)) for a residual that broadcasts (t has the product's shape). */
static void add_res(char *const *p, const int64_t *st, int64_t n, void *arg)
{
    (void)arg;
    float *o = (float *)p[0];
    for (int64_t i = 0; i < n; i++)
        o[i] = *(const float *)(p[1] + i * st[1]) + *(const float *)(p[2] + i * st[2]);
}

tt_status tt_fused_mm_residual(tt_tensor *y, const tt_tensor *t, const tt_tensor *res)
{
    const tt_tensor *ins[2] = {t, res};
    return tt_bcast_apply(y, 2, ins, add_res, NULL);
}

static tt_status run_fused_mm(tt_kctx *c)
{
    const tt_fused_mm *st = c->state;
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1), *bias = tt_kin(c, 2), *res = tt_kin(c, 3);
    tt_tensor *y = tt_kout(c, 0), mm;
    bool direct;
    TT_TRY(tt_fused_mm_check(c->node, a, b, bias, res, st->trans_b, &mm, &direct));
    int64_t K = a->dims[a->rank - 1], N = mm.dims[mm.rank - 1], rows = N ? tt_tensor_numel(&mm) / N : 0;
    mm.data = direct ? y->data : tt_kctx_scratch(c, (size_t)tt_tensor_numel(&mm) * sizeof(float));
    if (!mm.data)
        return TETHER_ERR_NO_MEMORY; /* scratch set the message */
    float *md = mm.data;
    if (K == 0)
        memset(md, 0, (size_t)(rows * N) * sizeof(float));
    else
        tt_sgemm_rows(false, st->trans_b, rows, N, K, st->alpha, a->data, K, 0, b->data, st->trans_b ? K : N, 0, 0.0f,
                      md, N, 0, 1);
    const float *bd = bias ? bias->data : NULL;
    for (int64_t i = 0; bd && i < rows; i++)
        for (int64_t j = 0; j < N; j++)
            md[i * N + j] += bd[j];
    if (res)
        TT_TRY(tt_fused_mm_residual(y, &mm, res));
    float *yd = y->data;
    int64_t n = tt_tensor_numel(y);
    for (int64_t i = 0; i < n; i++)
        yd[i] = tt_act_apply(st->act, yd[i], st->act_alpha, st->act_beta);
    return TT_OK;
}

/* ---- Attention ------------------------------------------------------------------------------ */

static const char *const g_perm_names[4] = {"q_perm", "k_perm", "v_perm", "out_perm"};

static tt_status parse_attn(tt_node *n, void **state)
{
    tt_fused_attn *st = tt_calloc(1, sizeof *st);
    if (!st)
        return NOMEM(n);
    *state = st;
    st->scale = tt_attr_float(n, "scale", 1.0f);
    for (int i = 0; i < 4; i++) {
        size_t len = 0;
        const int64_t *p = tt_attr_ints(n, g_perm_names[i], &len);
        if (!p)
            continue;
        if (len < 2 || len > TT_MAX_RANK)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "%s has %zu entries", g_perm_names[i], len);
        bool seen[TT_MAX_RANK] = {false};
        for (size_t k = 0; k < len; k++) {
            if (p[k] < 0 || p[k] >= (int64_t)len || seen[p[k]])
                return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "%s is not a permutation", g_perm_names[i]);
            seen[p[k]] = true;
            st->perm[i][k] = (int)p[k];
        }
        st->n_perm[i] = (int)len;
    }
    return TT_OK;
}

void tt_attn_operand(const tt_fused_attn *a, int i, int rank, const int64_t *in_dims, int64_t *dims, int64_t *strides)
{
    int64_t st[TT_MAX_RANK], s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        st[d] = s;
        s *= in_dims[d] > 0 ? in_dims[d] : 1;
    }
    for (int d = 0; d < rank; d++) {
        int p = a->n_perm[i] ? a->perm[i][d] : d;
        dims[d] = in_dims[p];
        if (strides)
            strides[d] = st[p];
    }
}

static tt_status infer_attn(tt_ictx *c)
{
    const tt_fused_attn *st = c->node->state;
    const tt_type *t[3];
    int64_t ld[3][TT_MAX_RANK];
    int r = -1;
    for (int i = 0; i < 3; i++) {
        TT_TRY(tt_need_input(c, i, &t[i]));
        TT_TRY(tt_infer_check_dtype(c, i, TT_DT(TETHER_DTYPE_FLOAT)));
        if (t[i]->rank < 0) {
            tt_infer_tensor(c, 0, TETHER_DTYPE_FLOAT, -1, NULL);
            return TT_OK;
        }
        if (r >= 0 && t[i]->rank != r)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "Q, K and V must have one rank (got %d and %d)", r,
                               t[i]->rank);
        r = t[i]->rank;
        if (r < 2 || (st->n_perm[i] && st->n_perm[i] != r))
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "operand %d has rank %d", i, r);
        tt_attn_operand(st, i, r, t[i]->dims, ld[i], NULL);
    }
    if (st->n_perm[3] && st->n_perm[3] != r)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "out_perm has %d entries for rank %d", st->n_perm[3], r);
    int64_t D = ld[0][r - 1], Dk = ld[1][r - 1], Sk = ld[1][r - 2], Sv = ld[2][r - 2];
    if ((tt_dim_known(D) && tt_dim_known(Dk) && D != Dk) || (tt_dim_known(Sk) && tt_dim_known(Sv) && Sk != Sv))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "Q, K and V do not fit: Q.., %" PRId64 "], K [.., %" PRId64
                           ", %" PRId64 "], V [.., %" PRId64 ", ..]", D, Sk, Dk, Sv);
    /* batch dims broadcast as MatMul's do */
    int64_t out[TT_MAX_RANK], phys[TT_MAX_RANK], qk[TT_MAX_RANK];
    int rb = 0;
    if (r > 2) {
        TT_TRY(tt_broadcast_shapes(c->node, r - 2, ld[0], r - 2, ld[1], &rb, qk));
        TT_TRY(tt_broadcast_shapes(c->node, r - 2, qk, r - 2, ld[2], &rb, out));
    }
    out[r - 2] = ld[0][r - 2];
    out[r - 1] = ld[2][r - 1];
    for (int d = 0; d < r; d++)
        phys[d] = out[st->n_perm[3] ? st->perm[3][d] : d];
    tt_infer_tensor(c, 0, TETHER_DTYPE_FLOAT, r, phys);
    return TT_OK;
}

static uint64_t flops_attn(const tt_ictx *c)
{
    const tt_fused_attn *st = c->node->state;
    const tt_type *k = tt_iin(c, 1), *y = &c->out[0];
    int r = y->rank;
    int64_t kd[TT_MAX_RANK];
    tt_attn_operand(st, 1, r, k->dims, kd, NULL);
    int64_t n = 1;
    for (int i = 0; i < r; i++)
        n *= y->dims[i];
    /* per output row: Sk dots of D, a softmax over Sk, and Sk axpys of Dv */
    int64_t dv = y->dims[st->n_perm[3] ? 0 : r - 1];
    for (int d = 0; d < r; d++)
        if ((st->n_perm[3] ? st->perm[3][d] : d) == r - 1)
            dv = y->dims[d];
    int64_t rows = dv ? n / dv : 0;
    return (uint64_t)(rows * kd[r - 2] * (2 * kd[r - 1] + 2 * dv + 4));
}

tt_status tt_attn_geom_init(const tt_kctx *c, tt_attn_geom *g)
{
    const tt_fused_attn *st = c->state;
    const tt_tensor *in[3] = {tt_kin(c, 0), tt_kin(c, 1), tt_kin(c, 2)}, *mask = tt_kin(c, 3);
    const tt_tensor *y = tt_kout(c, 0);
    int r = in[0]->rank;
    memset(g, 0, sizeof *g);
    g->rank = r;
    for (int i = 0; i < 3; i++) {
        if (in[i]->rank != r)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "Q, K and V must have one rank");
        tt_attn_operand(st, i, r, in[i]->dims, g->dims[i], g->strides[i]);
    }
    /* batch dims broadcast; an operand's dim of 1 repeats (stride 0) */
    for (int d = 0; d < r - 2; d++) {
        int64_t b = 1;
        for (int i = 0; i < 3; i++) {
            int64_t n = g->dims[i][d];
            if (n != 1 && b != 1 && n != b)
                return tt_op_error(c->node, TETHER_ERR_SHAPE, "Q, K and V batch dims do not broadcast");
            if (n != 1)
                b = n;
        }
        g->bdims[d] = b;
        for (int i = 0; i < 3; i++)
            if (g->dims[i][d] == 1 && b != 1)
                g->strides[i][d] = 0;
    }
    g->sq = g->dims[0][r - 2];
    g->d = g->dims[0][r - 1];
    g->sk = g->dims[1][r - 2];
    g->dv = g->dims[2][r - 1];
    if (g->dims[1][r - 1] != g->d || g->dims[2][r - 2] != g->sk)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "Q, K and V do not fit");
    g->batch = 1;
    for (int d = 0; d < r - 2; d++)
        g->batch *= g->bdims[d];
    /* the output: logical dim perm[k] is physical dim k */
    int64_t ps[TT_MAX_RANK], s = 1;
    for (int d = r - 1; d >= 0; d--) {
        ps[d] = s;
        s *= y->dims[d];
    }
    for (int k = 0; k < r; k++)
        g->strides[3][st->n_perm[3] ? st->perm[3][k] : k] = ps[k];
    /* the mask, broadcast to [..., sq, sk] */
    if (mask) {
        if (mask->dtype != TETHER_DTYPE_FLOAT)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "the mask must be float");
        if (mask->rank > r)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "the mask has rank %d over scores of rank %d", mask->rank, r);
        int64_t sd[TT_MAX_RANK];
        memcpy(sd, g->bdims, sizeof(int64_t) * (size_t)(r - 2));
        sd[r - 2] = g->sq;
        sd[r - 1] = g->sk;
        int64_t ms = 1;
        for (int d = r - 1; d >= 0; d--) {
            int md = d - (r - mask->rank);
            int64_t n = md >= 0 ? mask->dims[md] : 1;
            if (n != 1 && n != sd[d])
                return tt_op_error(c->node, TETHER_ERR_SHAPE, "the mask does not broadcast to the scores");
            g->strides[4][d] = n == 1 ? 0 : ms;
            ms *= n;
        }
        g->has_mask = true;
    }
    return TT_OK;
}

void tt_attn_geom_offsets(const tt_attn_geom *g, int64_t b, int64_t off[5])
{
    for (int i = 0; i < 5; i++)
        off[i] = 0;
    for (int d = g->rank - 3; d >= 0; d--) {
        int64_t n = g->bdims[d], x = b % n;
        b /= n;
        for (int i = 0; i < 5; i++)
            off[i] += x * g->strides[i][d];
    }
}

static tt_status run_attn(tt_kctx *c)
{
    const tt_fused_attn *st = c->state;
    tt_attn_geom g;
    TT_TRY(tt_attn_geom_init(c, &g));
    const float *q = tt_kin(c, 0)->data, *k = tt_kin(c, 1)->data, *v = tt_kin(c, 2)->data;
    const float *mask = g.has_mask ? tt_kin(c, 3)->data : NULL;
    float *y = tt_kout(c, 0)->data;
    int r = g.rank;
    double *s = tt_kctx_scratch(c, (size_t)(g.sk ? g.sk : 1) * sizeof(double));
    if (!s)
        return TETHER_ERR_NO_MEMORY; /* scratch set the message */
    for (int64_t b = 0; b < g.batch; b++) {
        int64_t o[5];
        tt_attn_geom_offsets(&g, b, o);
        for (int64_t i = 0; i < g.sq; i++) {
            double mx = -INFINITY;
            for (int64_t j = 0; j < g.sk; j++) {
                float dotf = 0;
                for (int64_t d = 0; d < g.d; d++)
                    dotf += q[o[0] + i * g.strides[0][r - 2] + d * g.strides[0][r - 1]] *
                            k[o[1] + j * g.strides[1][r - 2] + d * g.strides[1][r - 1]];
                float sc = dotf * st->scale;
                if (mask)
                    sc += mask[o[4] + i * g.strides[4][r - 2] + j * g.strides[4][r - 1]];
                s[j] = sc;
                mx = sc > mx ? sc : mx;
            }
            double sum = 0;
            for (int64_t j = 0; j < g.sk; j++) {
                s[j] = exp(s[j] - mx);
                sum += s[j];
            }
            for (int64_t e = 0; e < g.dv; e++) {
                double acc = 0;
                for (int64_t j = 0; j < g.sk; j++)
                    acc += s[j] * v[o[2] + j * g.strides[2][r - 2] + e * g.strides[2][r - 1]];
                y[o[3] + i * g.strides[3][r - 2] + e * g.strides[3][r - 1]] = (float)(acc / sum);
            }
        }
    }
    return TT_OK;
}

/* ---- LayerNorm ------------------------------------------------------------------------------ */

static tt_status parse_ln(tt_node *n, void **state)
{
    tt_fused_ln *st = tt_calloc(1, sizeof *st);
    if (!st)
        return NOMEM(n);
    *state = st;
    st->axis = tt_attr_int(n, "axis", -1);
    st->epsilon = tt_attr_float(n, "epsilon", 1e-5f);
    return TT_OK;
}

static tt_status infer_float_same(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_need_input(c, 0, &x));
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_FLOAT)));
    return tt_infer_same(c, 0, 0);
}

tt_status tt_fused_ln_rows(const tt_kctx *c, int64_t *rows, int64_t *n)
{
    const tt_fused_ln *st = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, st->axis, x->rank, false, &axis));
    *rows = tt_dims_prod(x->dims, 0, axis);
    *n = tt_dims_prod(x->dims, axis, x->rank);
    for (int i = 1; i <= 2; i++) {
        const tt_tensor *p = tt_kin(c, i);
        if (p && (p->dtype != TETHER_DTYPE_FLOAT || tt_tensor_numel(p) != *n))
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "%s must be float with %" PRId64 " values",
                               i == 1 ? "the scale" : "the bias", *n);
    }
    return TT_OK;
}

static tt_status run_ln(tt_kctx *c)
{
    const tt_fused_ln *st = c->state;
    int64_t rows, n;
    TT_TRY(tt_fused_ln_rows(c, &rows, &n));
    const float *x = tt_kin(c, 0)->data;
    const float *g = tt_kin(c, 1) ? tt_kin(c, 1)->data : NULL, *b = tt_kin(c, 2) ? tt_kin(c, 2)->data : NULL;
    float *y = tt_kout(c, 0)->data;
    for (int64_t r = 0; r < rows; r++, x += n, y += n) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++)
            mean += x[i];
        mean /= (double)(n ? n : 1);
        for (int64_t i = 0; i < n; i++)
            var += ((double)x[i] - mean) * ((double)x[i] - mean);
        var /= (double)(n ? n : 1);
        float sd = sqrtf((float)var + st->epsilon);
        for (int64_t i = 0; i < n; i++) {
            float v = ((float)((double)x[i] - mean)) / sd;
            if (g)
                v *= g[i];
            if (b)
                v += b[i];
            y[i] = v;
        }
    }
    return TT_OK;
}

/* ---- Gelu ------------------------------------------------------------------------------------ */

static tt_status parse_gelu(tt_node *n, void **state)
{
    tt_fused_gelu *st = tt_calloc(1, sizeof *st);
    if (!st)
        return NOMEM(n);
    *state = st;
    const char *a = tt_attr_string(n, "approximate", "none");
    if (strcmp(a, "none") != 0 && strcmp(a, "tanh") != 0)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "approximate is '%s'; it must be none or tanh", a);
    st->tanh = strcmp(a, "tanh") == 0;
    return TT_OK;
}

static tt_status run_gelu(tt_kctx *c)
{
    const tt_fused_gelu *st = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    const float *xd = x->data;
    float *y = tt_kout(c, 0)->data;
    int64_t n = tt_tensor_numel(x);
    for (int64_t i = 0; i < n; i++)
        y[i] = st->tanh ? gelu_tanh_ref(xd[i]) : gelu_ref(xd[i]);
    return TT_OK;
}

const tt_op_schema tt_schemas_fused[] = {
    /* copies; their kernels belong to device backends */
    TT_OWN_SCHEMA("MemcpyToDevice", infer_copy, .flops = flops_zero, .flags = TT_OP_NO_FOLD),
    TT_OWN_SCHEMA("MemcpyToHost", infer_copy, .flops = flops_zero, .flags = TT_OP_NO_FOLD),
    /* fusions */
    TT_OWN_SCHEMA("FusedMatMul", infer_fused_mm, .parse = parse_fused_mm, .flops = flops_fused_mm),
    TT_OWN_SCHEMA("Attention", infer_attn, .parse = parse_attn, .flops = flops_attn),
    TT_OWN_SCHEMA("LayerNorm", infer_float_same, .parse = parse_ln),
    TT_OWN_SCHEMA("Gelu", infer_float_same, .parse = parse_gelu),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_fused[] = {
    TT_OWN_KERNEL("FusedMatMul", TT_DT(TETHER_DTYPE_FLOAT), run_fused_mm),
    TT_OWN_KERNEL("Attention", TT_DT(TETHER_DTYPE_FLOAT), run_attn),
    TT_OWN_KERNEL("LayerNorm", TT_DT(TETHER_DTYPE_FLOAT), run_ln),
    TT_OWN_KERNEL("Gelu", TT_DT(TETHER_DTYPE_FLOAT), run_gelu),
    TT_KERNEL_END,
};
