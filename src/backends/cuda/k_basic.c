/* CUDA kernels for copies between host and device (through pinned staging), views
 * (Identity, Reshape, Flatten, Squeeze, Unsqueeze, Dropout), Shape and Size (which read no
 * data, so their input stays where it is), unary and binary elementwise ops, Clip, Where,
 * Cast and ConstantOfShape. Data ops take float32: integer tensors are shapes and indices,
 * computed on the host. */
#include "cu.h"

/* The preamble of every device kernel: its run context, and whether to launch now. */
#define CU_ENTER(c, x)                                                                             \
    cu_ctx *x;                                                                                     \
    do {                                                                                           \
        bool launch_;                                                                              \
        CU_TRY(cu_kctx(c, &x));                                                                    \
        CU_TRY(cu_gate(x, c, &launch_));                                                           \
        if (!launch_)                                                                              \
            return TT_OK;                                                                          \
    } while (0)

/* ---- copies ---------------------------------------------------------------------------------- */

static bool copy_supports(const tt_kprep *p)
{
    int dt = cu_pin_dtype(p, 0);
    return dt >= 0 && dt != TETHER_DTYPE_STRING && cu_dtype_size((tt_dtype)dt) > 0;
}

static tt_status run_to_device(tt_kctx *c)
{
    cu_ctx *x;
    CU_TRY(cu_kctx(c, &x));
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    size_t n = tt_tensor_nbytes(in);
    void *stage;
    CU_TRY(cu_staging(x, c->node, n, &stage));
    if (n)
        memcpy(stage, in->data, n); /* host work happens on every run, replays included */
    bool launch;
    CU_TRY(cu_gate(x, c, &launch));
    if (launch && n)
        CU_TRY(cu_rt(cudaMemcpyAsync(out->data, stage, n, cudaMemcpyHostToDevice, x->stream), c->node,
                     "copying to the device"));
    return TT_OK;
}

static tt_status run_to_host(tt_kctx *c)
{
    cu_ctx *x;
    CU_TRY(cu_kctx(c, &x));
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    bool launch;
    CU_TRY(cu_gate(x, c, &launch));
    return cu_sync_copy(x, c->node, out->data, in->data, tt_tensor_nbytes(in), launch);
}

/* ---- views and shapes ---------------------------------------------------------------------- */

static bool view_supports(const tt_kprep *p) { return cu_pin_dtype(p, 0) == TETHER_DTYPE_FLOAT; }

static bool dropout_supports(const tt_kprep *p)
{
    if (cu_pin_dtype(p, 0) != TETHER_DTYPE_FLOAT)
        return false;
    if (p->n_out > 1 && p->node->outputs[1] >= 0)
        return false; /* the mask is not made here */
    if (p->n_in > 2 && p->node->inputs[2] >= 0) {
        const tt_tensor *t = p->cst[2];
        if (!t || tt_tensor_numel(t) != 1 || t->dtype != TETHER_DTYPE_BOOL || *(const uint8_t *)t->data)
            return false; /* training mode: random, on the host */
    }
    return true;
}

static tt_status run_shape(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    int r = in->rank;
    int64_t start = cu_attr_int(c->node, "start", 0), end = cu_attr_int(c->node, "end", r);
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    if (tt_tensor_numel(out) != n)
        return cu_node_err(c->node, TETHER_ERR_INTERNAL, "output holds %lld dims, not %lld",
                           (long long)tt_tensor_numel(out), (long long)n);
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)out->data)[i] = in->dims[start + i];
    return TT_OK;
}

static tt_status run_size(tt_kctx *c)
{
    *(int64_t *)tt_kout(c, 0)->data = tt_tensor_numel(tt_kin(c, 0));
    return TT_OK;
}

/* ---- unary ----------------------------------------------------------------------------------- */

typedef struct unary_def {
    const char *name;
    int op;
    const char *attr_a, *attr_b;
    float def_a, def_b;
} unary_def;

static const unary_def g_unary[] = {
    {"Relu", CU_EW_RELU, NULL, NULL, 0, 0},
    {"Sigmoid", CU_EW_SIGMOID, NULL, NULL, 0, 0},
    {"Tanh", CU_EW_TANH, NULL, NULL, 0, 0},
    {"Exp", CU_EW_EXP, NULL, NULL, 0, 0},
    {"Log", CU_EW_LOG, NULL, NULL, 0, 0},
    {"Sqrt", CU_EW_SQRT, NULL, NULL, 0, 0},
    {"Neg", CU_EW_NEG, NULL, NULL, 0, 0},
    {"Abs", CU_EW_ABS, NULL, NULL, 0, 0},
    {"Erf", CU_EW_ERF, NULL, NULL, 0, 0},
    {"Reciprocal", CU_EW_RECIP, NULL, NULL, 0, 0},
    {"Floor", CU_EW_FLOOR, NULL, NULL, 0, 0},
    {"Ceil", CU_EW_CEIL, NULL, NULL, 0, 0},
    {"Round", CU_EW_ROUND, NULL, NULL, 0, 0},
    {"Sin", CU_EW_SIN, NULL, NULL, 0, 0},
    {"Cos", CU_EW_COS, NULL, NULL, 0, 0},
    {"Sign", CU_EW_SIGN, NULL, NULL, 0, 0},
    {"LeakyRelu", CU_EW_LEAKY_RELU, "alpha", NULL, 0.01f, 0},
    {"Elu", CU_EW_ELU, "alpha", NULL, 1.0f, 0},
    {"Selu", CU_EW_SELU, "alpha", "gamma", 1.67326319217681884765625f, 1.05070102214813232421875f},
    {"HardSigmoid", CU_EW_HARD_SIGMOID, "alpha", "beta", 0.2f, 0.5f},
    {"HardSwish", CU_EW_HARD_SWISH, NULL, NULL, 0, 0},
    {"Softplus", CU_EW_SOFTPLUS, NULL, NULL, 0, 0},
    {"Softsign", CU_EW_SOFTSIGN, NULL, NULL, 0, 0},
    {"Mish", CU_EW_MISH, NULL, NULL, 0, 0},
    {"Gelu", CU_EW_GELU, NULL, NULL, 0, 0},
    {NULL, 0, NULL, NULL, 0, 0},
};

static const unary_def *find_unary(const char *name)
{
    for (const unary_def *d = g_unary; d->name; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

static tt_status run_unary(tt_kctx *c)
{
    const unary_def *d = find_unary(c->node->op_type);
    if (!d)
        return cu_node_err(c->node, TETHER_ERR_INTERNAL, "no CUDA unary op of this name");
    CU_ENTER(c, x);
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    cu_ew_prog p = {.n = 1, .op = {d->op}};
    p.a[0] = d->attr_a ? cu_attr_float(c->node, d->attr_a, d->def_a) : d->def_a;
    p.b[0] = d->attr_b ? cu_attr_float(c->node, d->attr_b, d->def_b) : d->def_b;
    if (d->op == CU_EW_GELU && strcmp(cu_attr_str(c->node, "approximate", "none"), "tanh") == 0)
        p.op[0] = CU_EW_GELU_TANH;
    cu_ew_unary(x->stream, &p, in->data, out->data, tt_tensor_numel(out));
    return cu_launched(c->node, "launching an elementwise kernel");
}

/* Clip: bounds from attributes (before opset 11) or from scalar inputs read on the host. */
static tt_status clip_bounds(const tt_kctx *c, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    if (c->node->opset < 11) {
        *lo = cu_attr_float(c->node, "min", -INFINITY);
        *hi = cu_attr_float(c->node, "max", INFINITY);
        return TT_OK;
    }
    for (int i = 1; i <= 2; i++) {
        const tt_tensor *t = tt_kin(c, i);
        if (!t)
            continue;
        if (tt_tensor_numel(t) != 1 || t->dtype != TETHER_DTYPE_FLOAT)
            return cu_node_err(c->node, TETHER_ERR_SHAPE, "input %d must be one float", i);
        *(i == 1 ? lo : hi) = *(const float *)t->data;
    }
    return TT_OK;
}

static bool clip_supports(const tt_kprep *p) { return cu_pin_dtype(p, 0) == TETHER_DTYPE_FLOAT; }

static tt_status run_clip(tt_kctx *c)
{
    float lo, hi;
    CU_TRY(clip_bounds(c, &lo, &hi));
    CU_ENTER(c, x);
    cu_ew_prog p = {.n = 1, .op = {CU_EW_CLIP}, .a = {lo}, .b = {hi}};
    tt_tensor *out = tt_kout(c, 0);
    cu_ew_unary(x->stream, &p, tt_kin(c, 0)->data, out->data, tt_tensor_numel(out));
    return cu_launched(c->node, "launching Clip");
}

/* ---- binary ---------------------------------------------------------------------------------- */

/* Element strides of t broadcast into an output of rank r (right-aligned; 0 where t's dim is
 * 1 or missing). */
static void bcast_strides(const tt_tensor *t, int r, const int64_t *out_dims, int64_t *s)
{
    int64_t st = 1;
    for (int d = r - 1; d >= 0; d--) {
        int td = d - (r - t->rank);
        if (td < 0 || t->dims[td] == 1 || out_dims[d] == 1) {
            s[d] = 0;
        } else {
            s[d] = st;
        }
        if (td >= 0)
            st *= t->dims[td];
    }
}

static int bin_op(const char *name)
{
    static const char *const names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu", "Mod"};
    for (int i = 0; i < CU_BIN_COUNT; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static bool binary_supports(const tt_kprep *p)
{
    if (p->n_in != 2 || !cu_float_only(p))
        return false;
    if (p->node->opset < 7 && cu_attr_int(p->node, "broadcast", 0))
        return false; /* the legacy broadcast lines B up by axis: the host does it */
    if (strcmp(p->node->op_type, "Mod") == 0 && !cu_attr_int(p->node, "fmod", 0))
        return false;
    return cu_pin_rank(p, 0) <= CU_MAX_RANK && cu_pin_rank(p, 1) <= CU_MAX_RANK;
}

static tt_status run_binary(tt_kctx *c)
{
    int op = bin_op(c->node->op_type);
    if (op < 0)
        return cu_node_err(c->node, TETHER_ERR_INTERNAL, "no CUDA binary op of this name");
    CU_ENTER(c, x);
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *out = tt_kout(c, 0);
    int64_t as[CU_MAX_RANK], bs[CU_MAX_RANK];
    bcast_strides(a, out->rank, out->dims, as);
    bcast_strides(b, out->rank, out->dims, bs);
    cu_ew_binary(x->stream, op, out->rank, out->dims, as, bs, a->data, b->data, out->data, NULL);
    return cu_launched(c->node, "launching an elementwise kernel");
}

/* ---- Where, Cast, ConstantOfShape ------------------------------------------------------------ */

static bool where_supports(const tt_kprep *p)
{
    return cu_pin_dtype(p, 0) == TETHER_DTYPE_BOOL && cu_pin_dtype(p, 1) == TETHER_DTYPE_FLOAT &&
           cu_pin_dtype(p, 2) == TETHER_DTYPE_FLOAT;
}

static tt_status run_where(tt_kctx *c)
{
    CU_ENTER(c, x);
    const tt_tensor *cond = tt_kin(c, 0), *a = tt_kin(c, 1), *b = tt_kin(c, 2);
    tt_tensor *out = tt_kout(c, 0);
    int64_t cs[CU_MAX_RANK], as[CU_MAX_RANK], bs[CU_MAX_RANK];
    bcast_strides(cond, out->rank, out->dims, cs);
    bcast_strides(a, out->rank, out->dims, as);
    bcast_strides(b, out->rank, out->dims, bs);
    cu_where(x->stream, out->rank, out->dims, cs, as, bs, cond->data, a->data, b->data, out->data);
    return cu_launched(c->node, "launching Where");
}

static bool cast_supports(const tt_kprep *p)
{
    int from = cu_pin_dtype(p, 0);
    int to = (int)cu_attr_int(p->node, "to", -1);
    /* floating data only: integer casts are shape arithmetic, kept on the host */
    bool fl = from == TETHER_DTYPE_FLOAT || from == TETHER_DTYPE_FLOAT16 || from == TETHER_DTYPE_BFLOAT16 ||
              from == TETHER_DTYPE_DOUBLE;
    return fl && cu_cast_supported(from, to);
}

static tt_status run_cast(tt_kctx *c)
{
    CU_ENTER(c, x);
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    if (in->dtype == out->dtype) {
        CU_TRY(cu_rt(cudaMemcpyAsync(out->data, in->data, tt_tensor_nbytes(in), cudaMemcpyDeviceToDevice, x->stream),
                     c->node, "copying"));
        return TT_OK;
    }
    cu_cast(x->stream, in->dtype, out->dtype, in->data, out->data, tt_tensor_numel(in));
    return cu_launched(c->node, "launching Cast");
}

static bool cos_supports(const tt_kprep *p)
{
    return p->n_out > 0 && p->out[0].kind == TT_KIND_TENSOR && p->out[0].dtype == TETHER_DTYPE_FLOAT;
}

static tt_status run_constant_of_shape(tt_kctx *c)
{
    CU_ENTER(c, x);
    tt_tensor *out = tt_kout(c, 0);
    float v = 0;
    const tt_attr *a = cu_attr(c->node, "value");
    if (a && a->type == TT_ATTR_TENSOR && a->t && a->t->dtype == TETHER_DTYPE_FLOAT && tt_tensor_numel(a->t) == 1)
        v = *(const float *)a->t->data;
    cu_fill(x->stream, 4, &v, out->data, tt_tensor_numel(out));
    return cu_launched(c->node, "filling");
}

#define UNARY(name_, since_) TT_KERNEL(name_, since_, 0, TT_DT(TETHER_DTYPE_FLOAT), run_unary)
#define BINARY(name_, since_) TT_KERNEL(name_, since_, 0, TT_DT(TETHER_DTYPE_FLOAT), run_binary, .supports = binary_supports)
#define VIEW(name_, since_, until_, host_)                                                         \
    TT_KERNEL(name_, since_, until_, TT_DT(TETHER_DTYPE_FLOAT), NULL, .flags = TT_KERNEL_VIEW,     \
              .host_inputs = host_, .supports = view_supports)

const tt_kernel cu_kernels_basic[] = {
    {.domain = TT_DOMAIN, .name = "MemcpyToDevice", .since = 1, .run = run_to_device, .supports = copy_supports},
    {.domain = TT_DOMAIN, .name = "MemcpyToHost", .since = 1, .run = run_to_host, .supports = copy_supports,
     .host_outputs = 1},
    VIEW("Identity", 1, 0, 0),
    VIEW("Reshape", 1, 4, 0),
    VIEW("Reshape", 5, 0, 1u << 1),
    VIEW("Flatten", 1, 0, 0),
    VIEW("Squeeze", 1, 12, 0),
    VIEW("Squeeze", 13, 0, 1u << 1),
    VIEW("Unsqueeze", 1, 12, 0),
    VIEW("Unsqueeze", 13, 0, 1u << 1),
    TT_KERNEL("Dropout", 1, 0, TT_DT(TETHER_DTYPE_FLOAT), NULL, .flags = TT_KERNEL_VIEW, .host_inputs = 6u,
              .supports = dropout_supports),
    /* Shape and Size read only their input's dims: it stays wherever it was made */
    TT_KERNEL("Shape", 1, 0, 0, run_shape, .shape_inputs = 1, .host_outputs = 1),
    TT_KERNEL("Size", 1, 0, 0, run_size, .shape_inputs = 1, .host_outputs = 1),
    UNARY("Relu", 1), UNARY("Sigmoid", 1), UNARY("Tanh", 1), UNARY("Exp", 1), UNARY("Log", 1), UNARY("Sqrt", 1),
    UNARY("Neg", 1), UNARY("Abs", 1), UNARY("Erf", 9), UNARY("Reciprocal", 1), UNARY("Floor", 1), UNARY("Ceil", 1),
    UNARY("Round", 11), UNARY("Sin", 7), UNARY("Cos", 7), UNARY("Sign", 9), UNARY("LeakyRelu", 1), UNARY("Elu", 1),
    UNARY("Selu", 1), UNARY("HardSigmoid", 1), UNARY("HardSwish", 14), UNARY("Softplus", 1), UNARY("Softsign", 1),
    UNARY("Mish", 18), UNARY("Gelu", 20),
    TT_KERNEL("Clip", 1, 10, TT_DT(TETHER_DTYPE_FLOAT), run_clip, .supports = clip_supports),
    TT_KERNEL("Clip", 11, 0, TT_DT(TETHER_DTYPE_FLOAT), run_clip, .supports = clip_supports, .host_inputs = 6u),
    BINARY("Add", 1), BINARY("Sub", 1), BINARY("Mul", 1), BINARY("Div", 1), BINARY("Pow", 7), BINARY("Max", 8),
    BINARY("Min", 8), BINARY("PRelu", 7), BINARY("Mod", 10),
    TT_KERNEL("Where", 9, 0, 0, run_where, .supports = where_supports),
    TT_KERNEL("Cast", 6, 0, 0, run_cast, .supports = cast_supports),
    TT_KERNEL("ConstantOfShape", 9, 0, 0, run_constant_of_shape, .host_inputs = 1, .supports = cos_supports),
    TT_KERNEL_END,
};
