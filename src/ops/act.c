/* Activations added since opset 18: Gelu (20, exact or tanh approximation), Mish (18),
 * Swish (24) and SwiGLU (28). Elementwise in double, split over the thread pool; float16 and
 * bfloat16 round once at the end. */
#include "ops/util.h"

#include <inttypes.h>

typedef enum { ACT_GELU, ACT_GELU_TANH, ACT_MISH, ACT_SWISH } act_kind;

typedef struct act_attrs {
    act_kind kind;
    double alpha; /* Swish, SwiGLU */
} act_attrs;

static tt_status parse_act(tt_node *n, void **state)
{
    act_attrs *a = tt_calloc(1, sizeof *a);
    if (!a)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    *state = a;
    a->alpha = tt_attr_float(n, "alpha", 1.0f);
    if (strcmp(n->op_type, "Gelu") == 0) {
        const char *ap = tt_attr_string(n, "approximate", "none");
        if (strcmp(ap, "none") != 0 && strcmp(ap, "tanh") != 0)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "approximate is \"%.20s\"; it must be none or tanh", ap);
        a->kind = ap[0] == 't' ? ACT_GELU_TANH : ACT_GELU;
    } else {
        a->kind = strcmp(n->op_type, "Mish") == 0 ? ACT_MISH : ACT_SWISH;
    }
    return TT_OK;
}

static inline double act(act_kind k, double alpha, double x)
{
    switch (k) {
    case ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case ACT_MISH: return x * tanh(log1p(exp(x))); /* softplus overflows to inf, tanh(inf) = 1 */
    default: return x / (1 + exp(-alpha * x));
    }
}

typedef struct act_job {
    const act_attrs *a;
    const void *x, *b; /* b: SwiGLU's linear input, else NULL */
    void *y;
    tt_dtype dt;
} act_job;

static void act_range(void *arg, int64_t b, int64_t e)
{
    const act_job *j = arg;
    if (j->dt == TETHER_DTYPE_FLOAT && !j->b) {
        const float *x = j->x;
        float *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] = (float)act(j->a->kind, j->a->alpha, x[i]);
        return;
    }
    for (int64_t i = b; i < e; i++) {
        double v = act(j->a->kind, j->a->alpha, tt_load_f64(j->x, j->dt, (size_t)i));
        if (j->b)
            v *= tt_load_f64(j->b, j->dt, (size_t)i);
        tt_store_f64(j->y, j->dt, (size_t)i, v);
    }
}

static tt_status infer_act(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    return tt_infer_same(c, 0, 0);
}

static tt_status infer_swiglu(tt_ictx *c)
{
    const tt_type *a, *b;
    TT_TRY(tt_infer_input(c, 0, &a));
    TT_TRY(tt_infer_input(c, 1, &b));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    if (a->rank >= 0 && b->rank >= 0) {
        bool same = a->rank == b->rank;
        for (int i = 0; same && i < a->rank; i++)
            same = a->dims[i] < 0 || b->dims[i] < 0 || a->dims[i] == b->dims[i];
        if (!same)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "A and B must have the same shape (no broadcasting)");
    }
    return tt_infer_same(c, 0, 0);
}

static tt_status run_act(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *b = c->n_in > 1 ? tt_kin(c, 1) : NULL;
    if (b && (b->rank != x->rank || memcmp(b->dims, x->dims, sizeof x->dims[0] * (size_t)x->rank) != 0))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "A and B must have the same shape (no broadcasting)");
    act_job j = {.a = c->state, .x = x->data, .b = b ? b->data : NULL, .y = tt_kout(c, 0)->data, .dt = x->dtype};
    tt_map(tt_tensor_numel(x), act_range, &j);
    return TT_OK;
}

static uint64_t flops_act(const tt_ictx *c)
{
    const tt_type *y = &c->out[0];
    return y->rank >= 0 ? (uint64_t)(8 * tt_dims_prod(y->dims, 0, y->rank)) : 0;
}

const tt_op_schema tt_schemas_act[] = {
    TT_SCHEMA("Gelu", 20, 0, infer_act, .parse = parse_act, .flops = flops_act),
    TT_SCHEMA("Mish", 18, 0, infer_act, .parse = parse_act, .flops = flops_act),
    TT_SCHEMA("Swish", 24, 0, infer_act, .parse = parse_act, .flops = flops_act),
    TT_SCHEMA("SwiGLU", 28, 0, infer_swiglu, .parse = parse_act, .flops = flops_act),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_act[] = {
    TT_KERNEL("Gelu", 20, 0, TT_DTS_FLOAT, run_act),
    TT_KERNEL("Mish", 18, 0, TT_DTS_FLOAT, run_act),
    TT_KERNEL("Swish", 24, 0, TT_DTS_FLOAT, run_act),
    TT_KERNEL("SwiGLU", 28, 0, TT_DTS_FLOAT, run_act),
    TT_KERNEL_END,
};
