/* tether's own CNN ops (domain com.tether), made by graph passes and never read from a model
 * file, with their reference kernels:
 *
 *   FusedConv(X, W, B?, Z?)   act(Conv(X, W, B) + Z): Conv's attributes, plus `activation`
 *                             ("Relu", "Clip", ... or ""), `activation_alpha`/`_beta`,
 *                             `block`, the output's channel block (0: plain NCHW), and
 *                             `precision` ("bf16", "int8": what a backend may compute in).
 *                             X may be plain or blocked (told by its rank); Z has the
 *                             output's layout.
 *   ToBlocked(X)              plain [N, C, sp...] to blocked [N, ceil(C/b), sp..., b] (`block`)
 *   FromBlocked(X)            back to plain, keeping the first `channels` channels
 *   BlockedMaxPool, BlockedAveragePool, BlockedGlobalMaxPool, BlockedGlobalAveragePool
 *                             the ONNX pools (same attributes) on blocked tensors
 *
 * The layouts are described in ops/cnn.h. Shape inference and the reference kernels run the
 * plain ops' own (src/ops/conv.c, pool.c) on a plain view of the tensors, so each op's
 * arithmetic is written once. */
#include "ops/cnn.h"

#include <inttypes.h>

/* ---- activations ----------------------------------------------------------------------------- */

static const char *const g_act_names[] = {
    [TT_CONV_ACT_NONE] = "",
    [TT_CONV_ACT_RELU] = "Relu",
    [TT_CONV_ACT_LEAKY_RELU] = "LeakyRelu",
    [TT_CONV_ACT_CLIP] = "Clip",
    [TT_CONV_ACT_SIGMOID] = "Sigmoid",
    [TT_CONV_ACT_TANH] = "Tanh",
    [TT_CONV_ACT_HARD_SIGMOID] = "HardSigmoid",
    [TT_CONV_ACT_HARD_SWISH] = "HardSwish",
};

bool tt_conv_act_parse(const char *name, tt_conv_act *out)
{
    for (size_t i = 0; i < sizeof g_act_names / sizeof g_act_names[0]; i++)
        if (strcmp(name, g_act_names[i]) == 0) {
            *out = (tt_conv_act)i;
            return true;
        }
    return false;
}

const char *tt_conv_act_name(tt_conv_act a) { return g_act_names[a]; }

static float hard_sigmoid(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

void tt_conv_act_apply(tt_conv_act a, float alpha, float beta, float *x, int64_t n)
{
    switch (a) {
    case TT_CONV_ACT_NONE: break;
    case TT_CONV_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] < 0 ? 0 : x[i];
        break;
    case TT_CONV_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] < 0 ? alpha * x[i] : x[i];
        break;
    case TT_CONV_ACT_CLIP:
        /* as Clip: max first, then min, so alpha > beta gives beta everywhere */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < alpha ? alpha : x[i];
            x[i] = v > beta ? beta : v;
        }
        break;
    case TT_CONV_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            double v = x[i];
            x[i] = (float)(v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v)));
        }
        break;
    case TT_CONV_ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            x[i] = tanhf(x[i]);
        break;
    case TT_CONV_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            x[i] = hard_sigmoid(alpha * x[i] + beta);
        break;
    case TT_CONV_ACT_HARD_SWISH:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] * hard_sigmoid(x[i] / 6 + 0.5f);
        break;
    }
}

/* ---- layouts ------------------------------------------------------------------------------------ */

void tt_block_f32(const float *x, float *y, int64_t N, int64_t C, int64_t sp, int64_t b)
{
    int64_t cb = tt_blocks(C, b);
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < cb; k++) {
            float *yb = y + (n * cb + k) * sp * b;
            int64_t lanes = C - k * b < b ? C - k * b : b;
            for (int64_t p = 0; p < sp; p++)
                for (int64_t l = lanes; l < b; l++)
                    yb[p * b + l] = 0;
            for (int64_t l = 0; l < lanes; l++) {
                const float *xc = x + (n * C + k * b + l) * sp;
                for (int64_t p = 0; p < sp; p++)
                    yb[p * b + l] = xc[p];
            }
        }
}

void tt_unblock_f32(const float *x, float *y, int64_t N, int64_t C, int64_t sp, int64_t b)
{
    int64_t cb = tt_blocks(C, b);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *xb = x + ((n * cb + c / b) * sp) * b + c % b;
            float *yc = y + (n * C + c) * sp;
            for (int64_t p = 0; p < sp; p++)
                yc[p] = xb[p * b];
        }
}

/* The plain type of blocked type t ([N, Cb, sp..., b] as [N, Cb * b, sp...]); unknown
 * rank stays unknown. */
static void plain_view(const tt_type *t, tt_type *out)
{
    tt_type in = *t; /* out may be t */
    *out = in;
    if (in.rank < 3)
        return;
    int64_t cb = in.dims[1], b = in.dims[in.rank - 1];
    out->rank = in.rank - 1;
    out->dims[1] = cb >= 0 && b >= 0 ? cb * b : TT_DIM_UNKNOWN;
    out->dims[out->rank] = 0;
}

/* The blocked type of plain type t with channels in blocks of b. */
static void blocked_view(const tt_type *t, int64_t b, tt_type *out)
{
    tt_type in = *t; /* out may be t */
    *out = in;
    if (in.rank < 2)
        return;
    out->rank = in.rank + 1;
    out->dims[1] = in.dims[1] >= 0 ? tt_blocks(in.dims[1], b) : TT_DIM_UNKNOWN;
    out->dims[in.rank] = b;
}

/* Runs a plain op's inference on other types: in[0..n_in) as its inputs; its output 0
 * into *out. */
static tt_status infer_as(const tt_ictx *c, tt_status (*infer)(tt_ictx *), int n_in, const tt_type *const *in,
                          tt_type *out)
{
    const tt_tensor *val[4] = {NULL};
    tt_type outs[2];
    memset(outs, 0, sizeof outs);
    outs[0].rank = outs[1].rank = -1;
    for (int i = 0; i < n_in && i < 4; i++)
        val[i] = tt_ival(c, i);
    val[0] = NULL; /* the plain view's values are not the blocked input's */
    tt_ictx sub = {.node = c->node, .n_in = n_in, .n_out = 1, .in = in, .val = val, .out = outs, .concrete = c->concrete};
    TT_TRY(infer(&sub));
    *out = outs[0];
    return TT_OK;
}

/* A value holding a float tensor of the given shape over data (borrowed). */
static tt_value plain_value(float *data, int rank, const int64_t *dims)
{
    tt_value v = {.kind = TT_KIND_TENSOR};
    v.t.dtype = TETHER_DTYPE_FLOAT;
    v.t.rank = rank;
    memcpy(v.t.dims, dims, sizeof(int64_t) * (size_t)rank);
    v.t.data = data;
    return v;
}

/* Runs a plain op's reference kernel on other tensors, in the same node and context. */
static tt_status run_as(tt_kctx *c, tt_status (*ref)(tt_kctx *), int n_in, tt_value **in, tt_value *out)
{
    tt_value *outs[1] = {out};
    tt_kctx sub = {.node = c->node, .ops = c->ops, .exec = c->exec, .n_in = n_in, .n_out = 1, .in = in,
                   .out = outs, .state = c->state};
    return ref(&sub);
}

static float *scratch_f32(tt_kctx *c, int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return tt_kctx_scratch(c, (size_t)n * sizeof(float));
}

/* ---- FusedConv ----------------------------------------------------------------------------------- */

static tt_status parse_fused_conv(tt_node *node, void **state)
{
    tt_fused_conv_attrs *st = tt_calloc(1, sizeof *st);
    if (!st)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", node->name);
    tt_status s = tt_win_attrs_parse(node, &st->a);
    const char *act = tt_attr_string(node, "activation", "");
    if (s == TT_OK && !tt_conv_act_parse(act, &st->act))
        s = tt_op_error(node, TETHER_ERR_INVALID_MODEL, "activation '%s' is not one FusedConv applies", act);
    st->alpha = tt_attr_float(node, "activation_alpha", 0.0f);
    st->beta = tt_attr_float(node, "activation_beta", 0.0f);
    st->block = tt_attr_int(node, "block", 0);
    const char *prec = tt_attr_string(node, "precision", "");
    if (s == TT_OK && *prec && strcmp(prec, "fp32") != 0) {
        if (strcmp(prec, "bf16") == 0)
            st->precision = TT_PRECISION_BF16;
        else if (strcmp(prec, "int8") == 0)
            st->precision = TT_PRECISION_INT8;
        else
            s = tt_op_error(node, TETHER_ERR_INVALID_MODEL, "precision '%s' is not fp32, bf16 or int8", prec);
    }
    if (s == TT_OK && st->block && !tt_block_valid(st->block))
        s = tt_op_error(node, TETHER_ERR_INVALID_MODEL, "block %" PRId64 " is not 4, 8 or 16", st->block);
    if (s != TT_OK) {
        tt_free(st);
        return s;
    }
    *state = st;
    return TT_OK;
}

/* X's layout: plain (rank nsp + 2) or blocked (nsp + 3, its block in *b). */
static tt_status conv_input_layout(const tt_node *node, const tt_type *x, const tt_type *w, bool *blocked, int64_t *b)
{
    *blocked = false;
    *b = 0;
    if (x->rank < 0 || w->rank < 0)
        return TT_OK;
    if (x->rank == w->rank)
        return TT_OK;
    if (x->rank != w->rank + 1)
        return tt_op_error(node, TETHER_ERR_SHAPE, "X has rank %d; W of rank %d wants %d (plain) or %d (blocked)",
                           x->rank, w->rank, w->rank, w->rank + 1);
    *blocked = true;
    *b = x->dims[x->rank - 1];
    if (*b >= 0 && !tt_block_valid(*b))
        return tt_op_error(node, TETHER_ERR_SHAPE, "X's channel block is %" PRId64 ", not 4, 8 or 16", *b);
    return TT_OK;
}

static tt_status infer_fused_conv(tt_ictx *c)
{
    const tt_fused_conv_attrs *st = c->node->state;
    const tt_type *x, *w, *b = tt_iin(c, 2), *z = tt_iin(c, 3);
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &w));
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_FLOAT)));
    bool xb;
    int64_t bin;
    TT_TRY(conv_input_layout(c->node, x, w, &xb, &bin));
    tt_type xl = *x;
    if (xb) {
        plain_view(x, &xl);
        /* the logical channel count is W's; the padding lanes of X's last block are not channels */
        int64_t C = w->dims[1] >= 0 ? w->dims[1] * st->a.group : TT_DIM_UNKNOWN;
        if (C >= 0 && bin >= 0 && x->dims[1] >= 0 && x->dims[1] != tt_blocks(C, bin))
            return tt_op_error(c->node, TETHER_ERR_SHAPE,
                               "X holds %" PRId64 " blocks of %" PRId64 " channels but W reads %" PRId64 " channels",
                               x->dims[1], bin, C);
        xl.dims[1] = C;
    }
    const tt_type *in[3] = {&xl, w, b};
    tt_type y;
    TT_TRY(infer_as(c, tt_conv_infer, 3, in, &y));
    if (st->block && y.rank >= 0)
        blocked_view(&y, st->block, &y);
    if (z && z->rank >= 0 && y.rank >= 0) {
        bool same = z->rank == y.rank && z->dtype == y.dtype;
        for (int i = 0; same && i < y.rank; i++)
            same = z->dims[i] < 0 || y.dims[i] < 0 || z->dims[i] == y.dims[i];
        if (!same)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "the summand Z must have the output's shape and dtype");
    }
    c->out[0] = y;
    return TT_OK;
}

static uint64_t flops_fused_conv(const tt_ictx *c)
{
    const tt_fused_conv_attrs *st = c->node->state;
    const tt_type *w = tt_iin(c, 1), *y = &c->out[0];
    int nsp = w->rank - 2;
    uint64_t n = (uint64_t)y->dims[0] * (uint64_t)w->dims[0], k = 1;
    for (int i = 0; i < nsp; i++)
        n *= (uint64_t)y->dims[2 + i];
    for (int i = 1; i < w->rank; i++)
        k *= (uint64_t)w->dims[i];
    return 2 * n * k + (st->act ? n : 0) + (tt_iin(c, 3) ? n : 0);
}

static tt_status run_fused_conv(tt_kctx *c)
{
    const tt_fused_conv_attrs *st = c->state;
    const tt_tensor *x = tt_kin(c, 0), *w = tt_kin(c, 1), *z = tt_kin(c, 3);
    tt_tensor *y = tt_kout(c, 0);
    int nsp = w->rank - 2;
    int64_t N = x->dims[0], C = w->dims[1] * st->a.group, M = w->dims[0], isp = 1, osp = 1;
    for (int i = 0; i < nsp; i++) {
        isp *= x->dims[2 + i];
        osp *= y->dims[2 + i];
    }
    bool xb = x->rank == w->rank + 1;
    tt_value vx = {.kind = TT_KIND_TENSOR, .t = *x};
    if (xb) {
        int64_t dims[TT_MAX_RANK] = {N, C};
        memcpy(dims + 2, x->dims + 2, sizeof(int64_t) * (size_t)nsp);
        float *p = scratch_f32(c, nsp + 2, dims);
        if (!p)
            return TETHER_ERR_NO_MEMORY;
        tt_unblock_f32(x->data, p, N, C, isp, x->dims[x->rank - 1]);
        vx = plain_value(p, nsp + 2, dims);
    }
    int64_t ydims[TT_MAX_RANK] = {N, M};
    memcpy(ydims + 2, y->dims + 2, sizeof(int64_t) * (size_t)nsp);
    float *yp = y->data;
    if (st->block && !(yp = scratch_f32(c, nsp + 2, ydims)))
        return TETHER_ERR_NO_MEMORY;
    tt_value vy = plain_value(yp, nsp + 2, ydims);
    tt_value *ins[3] = {&vx, c->in[1], c->n_in > 2 ? c->in[2] : NULL};
    TT_TRY(run_as(c, tt_conv_ref, 3, ins, &vy));
    int64_t n = N * M * osp;
    if (z) {
        const float *zp = z->data;
        if (st->block) {
            float *u = scratch_f32(c, nsp + 2, ydims);
            if (!u)
                return TETHER_ERR_NO_MEMORY;
            tt_unblock_f32(z->data, u, N, M, osp, st->block);
            zp = u;
        }
        for (int64_t i = 0; i < n; i++)
            yp[i] += zp[i];
    }
    tt_conv_act_apply(st->act, st->alpha, st->beta, yp, n);
    if (st->block)
        tt_block_f32(yp, y->data, N, M, osp, st->block);
    return TT_OK;
}

/* ---- ToBlocked, FromBlocked ---------------------------------------------------------------------- */

static tt_status infer_to_blocked(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_FLOAT)));
    int64_t b = tt_attr_int(c->node, "block", 0);
    if (!tt_block_valid(b))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "block %" PRId64 " is not 4, 8 or 16", b);
    if (x->rank >= 0 && (x->rank < 2 || x->rank + 1 > TT_MAX_RANK))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X has rank %d; it needs (N, C, ...) of rank 2 to %d", x->rank,
                           TT_MAX_RANK - 1);
    tt_type y;
    blocked_view(x, b, &y);
    c->out[0] = y;
    return TT_OK;
}

static tt_status infer_from_blocked(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_FLOAT)));
    int64_t C = tt_attr_int(c->node, "channels", -1);
    if (C < 0)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "channels must be given and >= 0");
    if (x->rank >= 0 && x->rank < 3)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X has rank %d; a blocked tensor has rank >= 3", x->rank);
    tt_type y;
    plain_view(x, &y);
    if (x->rank >= 3) {
        int64_t cb = x->dims[1], b = x->dims[x->rank - 1];
        if (b >= 0 && !tt_block_valid(b))
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "X's channel block is %" PRId64 ", not 4, 8 or 16", b);
        if (cb >= 0 && b > 0 && cb != tt_blocks(C, b))
            return tt_op_error(c->node, TETHER_ERR_SHAPE,
                               "X holds %" PRId64 " blocks of %" PRId64 ", not the %" PRId64 " that %" PRId64
                               " channels take",
                               cb, b, tt_blocks(C, b), C);
        y.dims[1] = C;
    }
    c->out[0] = y;
    return TT_OK;
}

static tt_status run_to_blocked(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    tt_block_f32(x->data, y->data, x->dims[0], x->dims[1], tt_dims_prod(x->dims, 2, x->rank), y->dims[y->rank - 1]);
    return TT_OK;
}

static tt_status run_from_blocked(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    tt_unblock_f32(x->data, y->data, y->dims[0], y->dims[1], tt_dims_prod(y->dims, 2, y->rank), x->dims[x->rank - 1]);
    return TT_OK;
}

/* ---- blocked pools --------------------------------------------------------------------------------- */

static tt_status infer_blocked_with(tt_ictx *c, tt_status (*infer)(tt_ictx *))
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_FLOAT)));
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (x->rank < 4)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X has rank %d; a blocked image has rank >= 4", x->rank);
    int64_t b = x->dims[x->rank - 1];
    if (b >= 0 && !tt_block_valid(b))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X's channel block is %" PRId64 ", not 4, 8 or 16", b);
    tt_type xl, y;
    plain_view(x, &xl);
    const tt_type *in[1] = {&xl};
    TT_TRY(infer_as(c, infer, 1, in, &y));
    if (y.rank >= 0)
        blocked_view(&y, b, &y);
    c->out[0] = y;
    return TT_OK;
}

static tt_status infer_blocked_pool(tt_ictx *c) { return infer_blocked_with(c, tt_pool_infer); }
static tt_status infer_blocked_global(tt_ictx *c) { return infer_blocked_with(c, tt_global_pool_infer); }

static uint64_t flops_blocked_pool(const tt_ictx *c)
{
    const tt_pool_attrs *st = c->node->state;
    uint64_t n = 1;
    for (int i = 0; i < c->out[0].rank; i++)
        n *= (uint64_t)c->out[0].dims[i];
    for (int i = 0; i < st->a.n_kernel; i++)
        n *= (uint64_t)st->a.kernel[i];
    return n;
}

static uint64_t flops_blocked_global(const tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    uint64_t n = 1;
    for (int i = 0; i < x->rank; i++)
        n *= (uint64_t)x->dims[i];
    return n;
}

/* The plain op's kernel over every lane (padding included: pools keep zeros zero). */
static tt_status run_blocked_with(tt_kctx *c, tt_status (*ref)(tt_kctx *))
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t b = x->dims[x->rank - 1], N = x->dims[0], C = x->dims[1] * b;
    int64_t xd[TT_MAX_RANK] = {N, C}, yd[TT_MAX_RANK] = {N, C};
    for (int i = 2; i < x->rank - 1; i++) {
        xd[i] = x->dims[i];
        yd[i] = y->dims[i];
    }
    int rank = x->rank - 1;
    float *xp = scratch_f32(c, rank, xd), *yp = xp ? scratch_f32(c, rank, yd) : NULL;
    if (!yp)
        return TETHER_ERR_NO_MEMORY;
    int64_t isp = tt_dims_prod(xd, 2, rank), osp = tt_dims_prod(yd, 2, rank);
    tt_unblock_f32(x->data, xp, N, C, isp, b);
    tt_value vx = plain_value(xp, rank, xd), vy = plain_value(yp, rank, yd);
    tt_value *ins[1] = {&vx};
    TT_TRY(run_as(c, ref, 1, ins, &vy));
    tt_block_f32(yp, y->data, N, C, osp, b);
    return TT_OK;
}

static tt_status run_blocked_maxpool(tt_kctx *c) { return run_blocked_with(c, tt_maxpool_ref); }
static tt_status run_blocked_avgpool(tt_kctx *c) { return run_blocked_with(c, tt_avgpool_ref); }
static tt_status run_blocked_gmax(tt_kctx *c) { return run_blocked_with(c, tt_global_maxpool_ref); }
static tt_status run_blocked_gavg(tt_kctx *c) { return run_blocked_with(c, tt_global_avgpool_ref); }

static uint64_t flops_zero(const tt_ictx *c)
{
    (void)c;
    return 0;
}

#define TT_OWN_SCHEMA(name_, infer_, ...)                                                            \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .until = 0, .infer = infer_, __VA_ARGS__}
#define TT_OWN_KERNEL(name_, run_, ...)                                                              \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .until = 0, .dtypes = TT_DT(TETHER_DTYPE_FLOAT), .run = run_, \
     __VA_ARGS__}

const tt_op_schema tt_schemas_cnn[] = {
    TT_OWN_SCHEMA("FusedConv", infer_fused_conv, .parse = parse_fused_conv, .flops = flops_fused_conv),
    TT_OWN_SCHEMA("ToBlocked", infer_to_blocked, .flops = flops_zero),
    TT_OWN_SCHEMA("FromBlocked", infer_from_blocked, .flops = flops_zero),
    TT_OWN_SCHEMA("BlockedMaxPool", infer_blocked_pool, .parse = tt_pool_parse, .flops = flops_blocked_pool),
    TT_OWN_SCHEMA("BlockedAveragePool", infer_blocked_pool, .parse = tt_pool_parse, .flops = flops_blocked_pool),
    TT_OWN_SCHEMA("BlockedGlobalMaxPool", infer_blocked_global, .flops = flops_blocked_global),
    TT_OWN_SCHEMA("BlockedGlobalAveragePool", infer_blocked_global, .flops = flops_blocked_global),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_cnn[] = {
    TT_OWN_KERNEL("FusedConv", run_fused_conv),
    TT_OWN_KERNEL("ToBlocked", run_to_blocked),
    TT_OWN_KERNEL("FromBlocked", run_from_blocked),
    TT_OWN_KERNEL("BlockedMaxPool", run_blocked_maxpool),
    TT_OWN_KERNEL("BlockedAveragePool", run_blocked_avgpool),
    TT_OWN_KERNEL("BlockedGlobalMaxPool", run_blocked_gmax),
    TT_OWN_KERNEL("BlockedGlobalAveragePool", run_blocked_gavg),
    TT_KERNEL_END,
};
