/* CUDA kernels for layers: Softmax and LogSoftmax, LayerNormalization, BatchNormalization
 * (inference), window pools (Max, Average, Lp over 1-3 spatial dims), global pools,
 * reductions over one block of axes, and Resize / Upsample over the last two dims. */
#include "cu.h"

#include <math.h>

#define CU_ENTER(c, x)                                                                             \
    cu_ctx *x;                                                                                     \
    do {                                                                                           \
        bool launch_;                                                                              \
        CU_TRY(cu_kctx(c, &x));                                                                    \
        CU_TRY(cu_gate(x, c, &launch_));                                                           \
        if (!launch_)                                                                              \
            return TT_OK;                                                                          \
    } while (0)

#define FLOAT TT_DT(TETHER_DTYPE_FLOAT)

static bool float_in0(const tt_kprep *p) { return cu_pin_dtype(p, 0) == TETHER_DTYPE_FLOAT; }

/* ---- Softmax ------------------------------------------------------------------------------- */

static tt_status run_softmax(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    int r = in->rank, ax = 0;
    bool legacy = c->node->opset < 13;
    if (r > 0 && !cu_axis(cu_attr_int(c->node, "axis", legacy ? 1 : -1), r, &ax))
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis out of range");
    int64_t outer = cu_prod(in->dims, 0, ax);
    int64_t n = legacy ? cu_prod(in->dims, ax, r) : r ? in->dims[ax] : 1;
    int64_t inner = legacy ? 1 : cu_prod(in->dims, ax + 1, r);
    CU_ENTER(c, x);
    cu_softmax(x->stream, in->data, out->data, outer, n, inner, strcmp(c->node->op_type, "LogSoftmax") == 0);
    return cu_launched(c->node, "launching Softmax");
}

/* ---- LayerNormalization ---------------------------------------------------------------------- */

static bool layernorm_supports(const tt_kprep *p)
{
    if (!cu_float_only(p))
        return false;
    /* the scale and bias must cover the normalised dims exactly (no broadcasting within them) */
    const tt_type *x = p->in[0], *s = p->in[1];
    if (!x || !s || x->rank < 0 || s->rank < 0)
        return false;
    int ax;
    if (!cu_axis(cu_attr_int(p->node, "axis", -1), x->rank, &ax))
        return false;
    int64_t cols = 1, sn = 1;
    for (int d = ax; d < x->rank; d++) {
        if (x->dims[d] < 0)
            return false;
        cols *= x->dims[d];
    }
    for (int d = 0; d < s->rank; d++) {
        if (s->dims[d] < 0)
            return false;
        sn *= s->dims[d];
    }
    const tt_type *b = p->n_in > 2 ? p->in[2] : NULL;
    int64_t bn = 1;
    for (int d = 0; b && d < b->rank; d++)
        bn *= b->dims[d];
    return sn == cols && (!b || (b->rank >= 0 && bn == cols));
}

static tt_status run_layernorm(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0), *scale = tt_kin(c, 1), *bias = tt_kin(c, 2);
    int ax;
    if (!cu_axis(cu_attr_int(c->node, "axis", -1), in->rank, &ax))
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis out of range");
    int64_t rows = cu_prod(in->dims, 0, ax), cols = cu_prod(in->dims, ax, in->rank);
    if (tt_tensor_numel(scale) != cols || (bias && tt_tensor_numel(bias) != cols))
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "scale and bias must hold the %lld normalised elements",
                           (long long)cols);
    float eps = cu_attr_float(c->node, "epsilon", 1e-5f);
    CU_ENTER(c, x);
    tt_tensor *mean = tt_kout(c, 1), *inv = tt_kout(c, 2);
    cu_layernorm(x->stream, in->data, scale->data, bias ? bias->data : NULL, tt_kout(c, 0)->data,
                 mean ? mean->data : NULL, inv ? inv->data : NULL, rows, cols, eps);
    return cu_launched(c->node, "launching LayerNormalization");
}

/* ---- BatchNormalization ---------------------------------------------------------------------- */

static bool batchnorm_supports(const tt_kprep *p)
{
    if (!cu_float_only(p) || cu_pin_rank(p, 0) < 2 || cu_attr_int(p->node, "training_mode", 0))
        return false;
    for (int i = 1; i < p->n_out; i++)
        if (p->node->outputs[i] >= 0)
            return false;
    return p->node->opset >= 9 || cu_attr_int(p->node, "spatial", 1);
}

static tt_status run_batchnorm(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    for (int i = 1; i < 5; i++)
        if (!tt_kin(c, i) || tt_tensor_numel(tt_kin(c, i)) != in->dims[1])
            return cu_node_err(c->node, TETHER_ERR_SHAPE, "input %d must hold %lld channels", i,
                               (long long)in->dims[1]);
    float eps = cu_attr_float(c->node, "epsilon", 1e-5f);
    CU_ENTER(c, x);
    cu_batchnorm(x->stream, in->data, tt_kin(c, 1)->data, tt_kin(c, 2)->data, tt_kin(c, 3)->data, tt_kin(c, 4)->data,
                 tt_kout(c, 0)->data, in->dims[0], in->dims[1], cu_prod(in->dims, 2, in->rank), eps, NULL);
    return cu_launched(c->node, "launching BatchNormalization");
}

/* ---- pools ---------------------------------------------------------------------------------- */

/* Window geometry from the node's attributes and the concrete input and output shapes,
 * padded in front to 3 spatial dims. */
static tt_status pool_geom(const tt_kctx *c, cu_pool_geom *g)
{
    const tt_tensor *in = tt_kin(c, 0), *out = tt_kout(c, 0);
    int nsp = in->rank - 2;
    if (nsp < 1 || nsp > 3)
        return cu_node_err(c->node, TETHER_ERR_UNSUPPORTED, "pools over %d spatial dims", nsp);
    int64_t k[3], st[3], dil[3], pads[6];
    int nk = cu_attr_ints(c->node, "kernel_shape", k, 3), ns = cu_attr_ints(c->node, "strides", st, 3);
    int nd = cu_attr_ints(c->node, "dilations", dil, 3), np = cu_attr_ints(c->node, "pads", pads, 6);
    if (nk != nsp || (ns >= 0 && ns != nsp) || (nd >= 0 && nd != nsp) || (np >= 0 && np != 2 * nsp))
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "window attributes do not match %d spatial dims", nsp);
    const char *auto_pad = cu_attr_str(c->node, "auto_pad", "NOTSET");
    memset(g, 0, sizeof *g);
    g->n = in->dims[0];
    g->c = in->dims[1];
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->out[i] = g->kernel[i] = g->stride[i] = g->dilation[i] = 1;
        g->pad[i] = g->pad_end[i] = 0;
    }
    for (int i = 0; i < nsp; i++) {
        int j = 3 - nsp + i;
        g->in[j] = in->dims[2 + i];
        g->out[j] = out->dims[2 + i];
        g->kernel[j] = k[i];
        g->stride[j] = ns >= 0 ? st[i] : 1;
        g->dilation[j] = nd >= 0 ? dil[i] : 1;
        if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0) {
            int64_t total = (g->out[j] - 1) * g->stride[j] + (g->kernel[j] - 1) * g->dilation[j] + 1 - g->in[j];
            if (total < 0)
                total = 0;
            g->pad[j] = strcmp(auto_pad, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
            g->pad_end[j] = total - g->pad[j];
        } else if (strcmp(auto_pad, "VALID") != 0) {
            g->pad[j] = np >= 0 ? pads[i] : 0;
            g->pad_end[j] = np >= 0 ? pads[nsp + i] : 0;
        }
    }
    return TT_OK;
}

static bool pool_supports(const tt_kprep *p)
{
    if (!float_in0(p))
        return false;
    int r = cu_pin_rank(p, 0);
    if (r < 3 || r > 5)
        return false;
    if (p->n_out > 1 && p->node->outputs[1] >= 0)
        return false; /* MaxPool's Indices */
    return true;
}

static tt_status run_pool(tt_kctx *c)
{
    cu_pool_geom g;
    CU_TRY(pool_geom(c, &g));
    const char *op = c->node->op_type;
    g.kind = strcmp(op, "MaxPool") == 0 ? 0 : strcmp(op, "AveragePool") == 0 ? 1 : 2;
    g.count_include_pad = (int)cu_attr_int(c->node, "count_include_pad", 0);
    g.p = (float)cu_attr_int(c->node, "p", 2);
    CU_ENTER(c, x);
    cu_pool(x->stream, &g, tt_kin(c, 0)->data, tt_kout(c, 0)->data);
    return cu_launched(c->node, "launching a pool");
}

static tt_status run_global_pool(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    CU_ENTER(c, x);
    int kind = strcmp(c->node->op_type, "GlobalMaxPool") == 0 ? 0 : 1;
    cu_global_pool(x->stream, kind, in->data, tt_kout(c, 0)->data, cu_prod(in->dims, 0, 2),
                   cu_prod(in->dims, 2, in->rank));
    return cu_launched(c->node, "launching a global pool");
}

/* ---- reductions ------------------------------------------------------------------------------ */

static int red_op(const char *name)
{
    static const char *const names[] = {"ReduceSum",  "ReduceMean", "ReduceMax", "ReduceMin",    "ReduceProd",
                                        "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"};
    for (int i = 0; i < CU_RED_COUNT; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* Whether axes come from input 1 (ReduceSum from opset 13, the others from 18). */
static bool axes_from_input(const tt_node *n)
{
    return strcmp(n->op_type, "ReduceSum") == 0 ? n->opset >= 13 : n->opset >= 18;
}

static tt_status run_reduce(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    int op = red_op(c->node->op_type), r = in->rank;
    int64_t axes[CU_MAX_RANK];
    int na = axes_from_input(c->node) ? (tt_kin(c, 1) ? cu_tensor_ints(tt_kin(c, 1), axes, CU_MAX_RANK) : -1)
                                      : cu_attr_ints(c->node, "axes", axes, CU_MAX_RANK);
    bool noop = cu_attr_int(c->node, "noop_with_empty_axes", 0) != 0;
    bool red[CU_MAX_RANK] = {false};
    if (na <= 0) {
        if (noop) { /* no axes: nothing to reduce, a copy */
            CU_ENTER(c, x);
            return cu_rt(cudaMemcpyAsync(out->data, in->data, tt_tensor_nbytes(in), cudaMemcpyDeviceToDevice,
                                         x->stream),
                         c->node, "copying");
        }
        for (int d = 0; d < r; d++)
            red[d] = true;
    } else {
        for (int i = 0; i < na; i++) {
            int ax;
            if (!cu_axis(axes[i], r, &ax))
                return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis %lld out of range", (long long)axes[i]);
            red[ax] = true;
        }
    }
    /* one block of reduced axes (dims of size 1 between them do not break it) */
    int lo = -1, hi = -1;
    for (int d = 0; d < r; d++)
        if (red[d]) {
            if (lo < 0)
                lo = d;
            hi = d;
        }
    for (int d = lo; lo >= 0 && d <= hi; d++)
        if (!red[d] && in->dims[d] != 1)
            return cu_node_err(c->node, TETHER_ERR_UNSUPPORTED, "reduces axes that are not adjacent");
    int64_t outer = lo < 0 ? 1 : cu_prod(in->dims, 0, lo), n = lo < 0 ? 1 : cu_prod(in->dims, lo, hi + 1);
    int64_t inner = lo < 0 ? tt_tensor_numel(in) : cu_prod(in->dims, hi + 1, r);
    CU_ENTER(c, x);
    cu_reduce(x->stream, op, in->data, out->data, outer, n, inner);
    return cu_launched(c->node, "launching a reduction");
}

static bool reduce_supports(const tt_kprep *p)
{
    if (!float_in0(p) || red_op(p->node->op_type) < 0)
        return false;
    int r = cu_pin_rank(p, 0);
    if (r < 0 || r > CU_MAX_RANK)
        return false;
    /* the axes must be known at open to tell whether they are adjacent */
    int64_t axes[CU_MAX_RANK];
    int na;
    if (axes_from_input(p->node)) {
        if (p->n_in < 2 || p->node->inputs[1] < 0)
            return true; /* all axes, or none */
        if (!p->cst[1])
            return false;
        na = cu_tensor_ints(p->cst[1], axes, CU_MAX_RANK);
        if (na < 0)
            return false;
    } else {
        na = cu_attr_ints(p->node, "axes", axes, CU_MAX_RANK);
    }
    if (na <= 0)
        return true;
    bool red[CU_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int ax;
        if (!cu_axis(axes[i], r, &ax))
            return false;
        red[ax] = true;
    }
    int lo = -1, hi = -1;
    for (int d = 0; d < r; d++)
        if (red[d]) {
            if (lo < 0)
                lo = d;
            hi = d;
        }
    const tt_type *t = p->in[0];
    for (int d = lo; d <= hi; d++)
        if (!red[d] && t->dims[d] != 1)
            return false;
    return true;
}

/* ---- Resize / Upsample ----------------------------------------------------------------------- */

static bool resize_supports(const tt_kprep *p)
{
    if (!float_in0(p) || cu_pin_rank(p, 0) != 4)
        return false;
    const char *mode = cu_attr_str(p->node, "mode", "nearest");
    const char *coord = cu_attr_str(p->node, "coordinate_transformation_mode", "half_pixel");
    if (strcmp(mode, "nearest") != 0 && strcmp(mode, "linear") != 0 && strcmp(mode, "cubic") != 0)
        return false;
    if (strcmp(p->node->op_type, "Upsample") == 0 && strcmp(mode, "cubic") == 0)
        return false;
    return strcmp(coord, "tf_crop_and_resize") != 0 && cu_attr_int(p->node, "antialias", 0) == 0 &&
           cu_attr(p->node, "axes") == NULL;
}

static tt_status run_resize(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    if (in->dims[0] != out->dims[0] || in->dims[1] != out->dims[1])
        return cu_node_err(c->node, TETHER_ERR_UNSUPPORTED, "resizes the batch or channel dims");
    bool upsample = strcmp(c->node->op_type, "Upsample") == 0;
    float scales[4] = {1, 1, (float)out->dims[2] / (float)in->dims[2], (float)out->dims[3] / (float)in->dims[3]};
    const tt_tensor *st = NULL;
    if (upsample && c->node->opset < 9) {
        const tt_attr *a = cu_attr(c->node, "scales");
        if (a && a->type == TT_ATTR_FLOATS && a->n == 4)
            memcpy(scales, a->floats, sizeof scales);
    } else {
        st = tt_kin(c, upsample || c->node->opset < 11 ? 1 : 2);
    }
    if (st && tt_tensor_numel(st) == 4 && st->dtype == TETHER_DTYPE_FLOAT)
        memcpy(scales, st->data, sizeof scales);
    const char *mode = cu_attr_str(c->node, "mode", "nearest");
    const char *coord = upsample || c->node->opset < 11
                            ? "asymmetric"
                            : cu_attr_str(c->node, "coordinate_transformation_mode", "half_pixel");
    const char *nearest = cu_attr_str(c->node, "nearest_mode", "round_prefer_floor");
    cu_resize_geom g = {
        .nc = in->dims[0] * in->dims[1],
        .ih = in->dims[2],
        .iw = in->dims[3],
        .oh = out->dims[2],
        .ow = out->dims[3],
        .scale_h = scales[2],
        .scale_w = scales[3],
        .mode = strcmp(mode, "linear") == 0 ? 1 : strcmp(mode, "cubic") == 0 ? 2 : 0,
        .coord = strcmp(coord, "asymmetric") == 0             ? 1
                 : strcmp(coord, "align_corners") == 0        ? 2
                 : strcmp(coord, "pytorch_half_pixel") == 0   ? 3
                 : strcmp(coord, "tf_half_pixel_for_nn") == 0 ? 4
                                                               : 0,
        .nearest = strcmp(nearest, "round_prefer_ceil") == 0 ? 1
                   : strcmp(nearest, "floor") == 0           ? 2
                   : strcmp(nearest, "ceil") == 0            ? 3
                                                             : 0,
        .cubic_a = cu_attr_float(c->node, "cubic_coeff_a", -0.75f),
        .exclude_outside = (int)cu_attr_int(c->node, "exclude_outside", 0),
    };
    /* opset 10's Resize and Upsample used the older nearest rule: floor of the asymmetric coordinate */
    if (upsample || c->node->opset < 11)
        g.nearest = 2;
    if (g.scale_h <= 0 || g.scale_w <= 0)
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "scales must be positive");
    CU_ENTER(c, x);
    cu_resize(x->stream, &g, in->data, out->data);
    return cu_launched(c->node, "launching Resize");
}

#define REDUCE(name_, until_attr)                                                                          \
    TT_KERNEL(name_, 1, until_attr, FLOAT, run_reduce, .supports = reduce_supports),                       \
        TT_KERNEL(name_, (until_attr) + 1, 0, FLOAT, run_reduce, .supports = reduce_supports, .host_inputs = 2u)

const tt_kernel cu_kernels_nn[] = {
    TT_KERNEL("Softmax", 1, 0, FLOAT, run_softmax, .supports = float_in0),
    TT_KERNEL("LogSoftmax", 1, 0, FLOAT, run_softmax, .supports = float_in0),
    TT_KERNEL("LayerNormalization", 17, 0, FLOAT, run_layernorm, .supports = layernorm_supports),
    TT_KERNEL("BatchNormalization", 7, 0, FLOAT, run_batchnorm, .supports = batchnorm_supports),
    TT_KERNEL("MaxPool", 1, 0, FLOAT, run_pool, .supports = pool_supports),
    TT_KERNEL("AveragePool", 1, 0, FLOAT, run_pool, .supports = pool_supports),
    TT_KERNEL("LpPool", 11, 0, FLOAT, run_pool, .supports = pool_supports),
    TT_KERNEL("GlobalAveragePool", 1, 0, FLOAT, run_global_pool, .supports = float_in0),
    TT_KERNEL("GlobalMaxPool", 1, 0, FLOAT, run_global_pool, .supports = float_in0),
    REDUCE("ReduceSum", 12),
    REDUCE("ReduceMean", 17),
    REDUCE("ReduceMax", 17),
    REDUCE("ReduceMin", 17),
    REDUCE("ReduceProd", 17),
    REDUCE("ReduceSumSquare", 17),
    REDUCE("ReduceL1", 17),
    REDUCE("ReduceL2", 17),
    REDUCE("ReduceLogSum", 17),
    REDUCE("ReduceLogSumExp", 17),
    TT_KERNEL("Resize", 10, 10, FLOAT, run_resize, .supports = resize_supports, .host_inputs = 2u),
    TT_KERNEL("Resize", 11, 0, FLOAT, run_resize, .supports = resize_supports, .host_inputs = 0xeu),
    TT_KERNEL("Upsample", 7, 8, FLOAT, run_resize, .supports = resize_supports),
    TT_KERNEL("Upsample", 9, 9, FLOAT, run_resize, .supports = resize_supports, .host_inputs = 2u),
    TT_KERNEL_END,
};
