/* Element-wise float ops on the cpu backend: unary maps (activations and math, with the ISA's
 * polynomial exp/tanh/erf) and broadcasting binary arithmetic, split over the thread pool in
 * runs of contiguous elements. */
#include "backends/cpu/cpu.h"

#define GRAIN 16384

/* ---- unary ------------------------------------------------------------------------------------ */

typedef struct un_state {
    int op;
    float alpha, beta;
} un_state;

typedef struct un_job {
    const tt_cpu_isa *isa;
    const un_state *st;
    const float *x;
    float *y;
} un_job;

static void un_range(void *arg, int64_t b, int64_t e)
{
    const un_job *j = arg;
    j->isa->unary(j->st->op, j->x + b, j->y + b, e - b, j->st->alpha, j->st->beta);
}

static tt_status un_apply(const un_state *st, const tt_tensor *x, tt_tensor *y)
{
    un_job j = {.isa = tt_cpu_isa_get(), .st = st, .x = x->data, .y = y->data};
    tt_parallel_for_stoppable(tt_tensor_numel(x), GRAIN, 8, un_range, &j);
    return TT_OK;
}

static tt_status run_unary(tt_kctx *c) { return un_apply(c->kstate, tt_kin(c, 0), tt_kout(c, 0)); }

static tt_status un_new(const tt_kprep *p, int op, float alpha, float beta, void **ks)
{
    un_state *st = tt_calloc(1, sizeof *st);
    if (!st)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", p->node->name);
    *st = (un_state){.op = op, .alpha = alpha, .beta = beta};
    *ks = st;
    return TT_OK;
}

#define UNARY_PREP(fn, OP)                                                                           \
    static tt_status fn(const tt_kprep *p, void **ks) { return un_new(p, OP, 0, 0, ks); }
UNARY_PREP(prep_relu, TT_U_RELU)
UNARY_PREP(prep_sigmoid, TT_U_SIGMOID)
UNARY_PREP(prep_tanh, TT_U_TANH)
UNARY_PREP(prep_exp, TT_U_EXP)
UNARY_PREP(prep_erf, TT_U_ERF)
UNARY_PREP(prep_sqrt, TT_U_SQRT)
UNARY_PREP(prep_neg, TT_U_NEG)
UNARY_PREP(prep_abs, TT_U_ABS)
UNARY_PREP(prep_recip, TT_U_RECIP)

static tt_status prep_leaky(const tt_kprep *p, void **ks)
{
    return un_new(p, TT_U_LEAKY_RELU, tt_attr_float(p->node, "alpha", 0.01f), 0, ks);
}

static tt_status prep_hardsigmoid(const tt_kprep *p, void **ks)
{
    return un_new(p, TT_U_HARD_SIGMOID, tt_attr_float(p->node, "alpha", 0.2f), tt_attr_float(p->node, "beta", 0.5f),
                  ks);
}

static tt_status prep_gelu(const tt_kprep *p, void **ks)
{
    const tt_fused_gelu *g = p->node->state;
    return un_new(p, g->tanh ? TT_U_GELU_TANH : TT_U_GELU, 0, 0, ks);
}

/* ONNX's own Gelu (opset 20) and Swish (24) */
static tt_status prep_gelu20(const tt_kprep *p, void **ks)
{
    bool tanh_form = strcmp(tt_attr_string(p->node, "approximate", "none"), "tanh") == 0;
    return un_new(p, tanh_form ? TT_U_GELU_TANH : TT_U_GELU, 0, 0, ks);
}

static tt_status prep_swish(const tt_kprep *p, void **ks)
{
    return un_new(p, TT_U_SWISH, tt_attr_float(p->node, "alpha", 1.0f), 0, ks);
}

/* Pow with a constant exponent of 2 (x * x is what powf gives). */
static bool pow_supports(const tt_kprep *p)
{
    const tt_tensor *e = p->n_in > 1 ? p->cst[1] : NULL;
    if (!e || tt_tensor_numel(e) != 1 || p->node->opset < 7)
        return false;
    double v = tt_load_f64(e->data, e->dtype, 0);
    const tt_type *x = tt_cpu_ranked(p, 0);
    /* the output takes x's shape only when the exponent does not broadcast it wider */
    return v == 2.0 && x && x->rank >= e->rank;
}

static tt_status prep_pow(const tt_kprep *p, void **ks) { return un_new(p, TT_U_SQUARE, 0, 0, ks); }

/* Clip: bounds from attributes (before opset 11) or constant inputs; lo > hi is left to ref. */
static bool clip_bounds(const tt_kprep *p, float *lo, float *hi)
{
    *lo = -INFINITY, *hi = INFINITY;
    if (p->node->opset < 11) {
        *lo = tt_attr_float(p->node, "min", -INFINITY);
        *hi = tt_attr_float(p->node, "max", INFINITY);
        return *lo <= *hi;
    }
    for (int i = 1; i < p->n_in && i < 3; i++) {
        if (!p->in[i])
            continue;
        if (!p->cst[i] || tt_tensor_numel(p->cst[i]) != 1)
            return false;
        float v = (float)tt_load_f64(p->cst[i]->data, p->cst[i]->dtype, 0);
        *(i == 1 ? lo : hi) = v;
    }
    return *lo <= *hi;
}

static bool clip_supports(const tt_kprep *p)
{
    float lo, hi;
    return clip_bounds(p, &lo, &hi);
}

static tt_status prep_clip(const tt_kprep *p, void **ks)
{
    float lo, hi;
    clip_bounds(p, &lo, &hi);
    return un_new(p, TT_U_CLIP, lo, hi, ks);
}

/* ---- binary ------------------------------------------------------------------------------------ */

typedef struct bin_arg {
    const tt_cpu_isa *isa;
    int op;
} bin_arg;

static void bin_run(char *const *p, const int64_t *st, int64_t n, void *arg)
{
    const bin_arg *b = arg;
    b->isa->binary(b->op, (const float *)p[1], st[1] != 0, (const float *)p[2], st[2] != 0, (float *)p[0], n);
}

typedef struct bin_job {
    bin_arg a;
    const float *x, *w;
    float *y;
} bin_job;

static void bin_same(void *arg, int64_t b, int64_t e)
{
    const bin_job *j = arg;
    j->a.isa->binary(j->a.op, j->x + b, 1, j->w + b, 1, j->y + b, e - b);
}

static tt_status bin_apply(tt_kctx *c, int op)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    bin_arg arg = {.isa = tt_cpu_isa_get(), .op = op};
    if (a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) == 0) {
        bin_job j = {.a = arg, .x = a->data, .w = b->data, .y = y->data};
        tt_parallel_for_stoppable(tt_tensor_numel(y), GRAIN, 1, bin_same, &j);
        return TT_OK;
    }
    const tt_tensor *ins[2] = {a, b};
    return tt_bcast_apply(y, 2, ins, bin_run, &arg);
}

static bool bin_supports(const tt_kprep *p)
{
    /* numpy broadcasting (opset 7 on), two float operands */
    return p->node->opset >= 7 && p->n_in == 2 && p->in[1] && p->in[1]->dtype == TETHER_DTYPE_FLOAT;
}

static bool minmax_supports(const tt_kprep *p) { return p->node->opset >= 8 && bin_supports(p); }

static tt_status run_add(tt_kctx *c) { return bin_apply(c, TT_B_ADD); }
static tt_status run_sub(tt_kctx *c) { return bin_apply(c, TT_B_SUB); }
static tt_status run_mul(tt_kctx *c) { return bin_apply(c, TT_B_MUL); }
static tt_status run_div(tt_kctx *c) { return bin_apply(c, TT_B_DIV); }
static tt_status run_max(tt_kctx *c) { return bin_apply(c, TT_B_MAX); }
static tt_status run_min(tt_kctx *c) { return bin_apply(c, TT_B_MIN); }

#define UN(name, since, prep, ...) TT_KERNEL(name, since, 0, TT_CPU_FLOAT, run_unary, .prepare = prep, __VA_ARGS__)

const tt_kernel tt_cpu_elementwise[] = {
    UN("Relu", 6, prep_relu),
    UN("Sigmoid", 6, prep_sigmoid),
    UN("Tanh", 6, prep_tanh),
    UN("Exp", 6, prep_exp),
    UN("Erf", 9, prep_erf),
    UN("Sqrt", 6, prep_sqrt),
    UN("Neg", 6, prep_neg),
    UN("Abs", 6, prep_abs),
    UN("Reciprocal", 6, prep_recip),
    UN("LeakyRelu", 6, prep_leaky),
    UN("HardSigmoid", 6, prep_hardsigmoid),
    UN("Clip", 6, prep_clip, .supports = clip_supports),
    UN("Pow", 7, prep_pow, .supports = pow_supports),
    TT_CPU_OWN("Gelu", TT_CPU_FLOAT, run_unary, .prepare = prep_gelu),
    UN("Gelu", 20, prep_gelu20),
    UN("Swish", 24, prep_swish),
    TT_KERNEL("Add", 7, 0, TT_CPU_FLOAT, run_add, .supports = bin_supports),
    TT_KERNEL("Sub", 7, 0, TT_CPU_FLOAT, run_sub, .supports = bin_supports),
    TT_KERNEL("Mul", 7, 0, TT_CPU_FLOAT, run_mul, .supports = bin_supports),
    TT_KERNEL("Div", 7, 0, TT_CPU_FLOAT, run_div, .supports = bin_supports),
    TT_KERNEL("Max", 8, 0, TT_CPU_FLOAT, run_max, .supports = minmax_supports),
    TT_KERNEL("Min", 8, 0, TT_CPU_FLOAT, run_min, .supports = minmax_supports),
    TT_KERNEL_END,
};
