/* Elementwise arithmetic with multidirectional broadcasting: Add, Sub, Mul, Div, and the
 * unary float functions. Reference kernels: plain C loops the compiler vectorises, split
 * over the thread pool; float16/bfloat16 compute in float. */
#include "ops/util.h"

#include <inttypes.h>

/* ---- binary arithmetic --------------------------------------------------------------- */

/* One inner loop per (op, type): the unit-stride case is kept separate so it vectorises. */
#define BIN_LOOP(NAME, T, EXPR)                                                          \
    static void NAME(char *const *p, const int64_t *st, int64_t n, void *arg)            \
    {                                                                                    \
        (void)arg;                                                                       \
        T *o = (T *)p[0];                                                                \
        const char *pa = p[1], *pb = p[2];                                               \
        if (st[1] == (int64_t)sizeof(T) && st[2] == (int64_t)sizeof(T)) {                \
            const T *x = (const T *)pa, *y = (const T *)pb;                              \
            for (int64_t i = 0; i < n; i++) {                                            \
                T A = x[i], B = y[i];                                                    \
                o[i] = (EXPR);                                                           \
            }                                                                            \
        } else if (st[2] == 0 && st[1] == (int64_t)sizeof(T)) {                          \
            const T *x = (const T *)pa;                                                  \
            const T B = *(const T *)pb;                                                  \
            for (int64_t i = 0; i < n; i++) {                                            \
                T A = x[i];                                                              \
                o[i] = (EXPR);                                                           \
            }                                                                            \
        } else {                                                                         \
            for (int64_t i = 0; i < n; i++) {                                            \
                T A = *(const T *)(pa + i * st[1]), B = *(const T *)(pb + i * st[2]);    \
                o[i] = (EXPR);                                                           \
            }                                                                            \
        }                                                                                \
    }

/* Integer division: x / 0 gives 0 and INT_MIN / -1 wraps, rather than trapping. */
#define IDIV(T, A, B) ((B) == 0 ? (T)0 : (B) == (T)-1 ? (T)(0 - (A)) : (T)((A) / (B)))

#define DEF_ARITH(E, T)                               \
    BIN_LOOP(add_##T, T, (T)(A + B))                  \
    BIN_LOOP(sub_##T, T, (T)(A - B))                  \
    BIN_LOOP(mul_##T, T, (T)(A * B))
TT_FOR_NATIVE(DEF_ARITH)
BIN_LOOP(div_float, float, A / B)
BIN_LOOP(div_double, double, A / B)
#define DEF_IDIV(E, T) BIN_LOOP(div_##T, T, IDIV(T, A, B))
TT_FOR_INT(DEF_IDIV)

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

static tt_bcast_fn arith_fn(int op, tt_dtype t)
{
#define PICK(E, T)                                                                         \
    case E:                                                                                \
        return op == OP_ADD ? add_##T : op == OP_SUB ? sub_##T : op == OP_MUL ? mul_##T : div_##T;
    switch (t) {
        TT_FOR_NATIVE(PICK)
    default: return NULL;
    }
#undef PICK
}

static tt_status infer_broadcast_same(tt_ictx *c)
{
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    TT_TRY(tt_infer_broadcast(c, 0, 2, &r, dims));
    tt_infer_tensor(c, 0, c->in[0]->dtype, r, dims);
    return TT_OK;
}

/* float16 / bfloat16: widen both operands to float, run the float loop, narrow. */
static tt_status run_via_f32(tt_kctx *c, tt_bcast_fn fn)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    tt_tensor fa, fb, fy;
    TT_TRY(tt_tensor_alloc(&fa, TETHER_DTYPE_FLOAT, a->rank, a->dims));
    tt_status s = tt_tensor_alloc(&fb, TETHER_DTYPE_FLOAT, b->rank, b->dims);
    if (s == TT_OK)
        s = tt_tensor_alloc(&fy, TETHER_DTYPE_FLOAT, y->rank, y->dims);
    else
        fb.buf = NULL, fy.buf = NULL;
    if (s == TT_OK) {
        tt_to_f32(a->data, a->dtype, fa.data, tt_tensor_numel(a));
        tt_to_f32(b->data, b->dtype, fb.data, tt_tensor_numel(b));
        const tt_tensor *ins[2] = {&fa, &fb};
        s = tt_bcast_apply(&fy, 2, ins, fn, NULL);
        if (s == TT_OK)
            tt_from_f32(fy.data, y->data, y->dtype, tt_tensor_numel(y));
        tt_tensor_release(&fy);
    }
    tt_tensor_release(&fa);
    tt_tensor_release(&fb);
    return s;
}

static tt_status run_arith(tt_kctx *c, int op)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    if (a->dtype == TETHER_DTYPE_FLOAT16 || a->dtype == TETHER_DTYPE_BFLOAT16)
        return run_via_f32(c, arith_fn(op, TETHER_DTYPE_FLOAT));
    tt_bcast_fn fn = arith_fn(op, a->dtype);
    if (!fn)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "dtype %s is not supported", tt_dtype_name(a->dtype));
    const tt_tensor *ins[2] = {a, b};
    return tt_bcast_apply(y, 2, ins, fn, NULL);
}

static tt_status run_add(tt_kctx *c) { return run_arith(c, OP_ADD); }
static tt_status run_sub(tt_kctx *c) { return run_arith(c, OP_SUB); }
static tt_status run_mul(tt_kctx *c) { return run_arith(c, OP_MUL); }
static tt_status run_div(tt_kctx *c) { return run_arith(c, OP_DIV); }

#define ARITH_TYPES (TT_DTS_NUMERIC)

/* ---- unary float functions ------------------------------------------------------------- */

typedef struct unary_job {
    const void *x;
    void *y;
    tt_dtype dt;
    float (*f)(float);
    double (*d)(double);
} unary_job;

static void unary_range(void *arg, int64_t b, int64_t e)
{
    unary_job *j = arg;
    if (j->dt == TETHER_DTYPE_FLOAT) {
        const float *x = j->x;
        float *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] = j->f(x[i]);
    } else if (j->dt == TETHER_DTYPE_DOUBLE) {
        const double *x = j->x;
        double *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] = j->d(x[i]);
    } else if (j->dt == TETHER_DTYPE_FLOAT16) {
        const uint16_t *x = j->x;
        uint16_t *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] = tt_f32_to_f16(j->f(tt_f16_to_f32(x[i])));
    } else {
        const uint16_t *x = j->x;
        uint16_t *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] = tt_f32_to_bf16(j->f(tt_bf16_to_f32(x[i])));
    }
}

static tt_status run_unary(tt_kctx *c, float (*f)(float), double (*d)(double))
{
    const tt_tensor *x = tt_kin(c, 0);
    unary_job j = {.x = x->data, .y = tt_kout(c, 0)->data, .dt = x->dtype, .f = f, .d = d};
    tt_map(tt_tensor_numel(x), unary_range, &j);
    return TT_OK;
}

static tt_status infer_unary(tt_ictx *c) { return tt_infer_same(c, 0, 0); }

static float relu_f(float x) { return x > 0 ? x : 0.0f; }
static double relu_d(double x) { return x > 0 ? x : 0.0; }
static float sigmoid_f(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }
static double sigmoid_d(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

#define UNARY(NAME, F, D) \
    static tt_status run_##NAME(tt_kctx *c) { return run_unary(c, F, D); }
UNARY(exp, expf, exp)
UNARY(log, logf, log)
UNARY(sqrt, sqrtf, sqrt)
UNARY(tanh, tanhf, tanh)
UNARY(erf, erff, erf)
UNARY(sigmoid, sigmoid_f, sigmoid_d)

/* Relu also takes integers (opset 14). */
#define RELU_INT(E, T)                                         \
    case E: {                                                  \
        const T *xi = x->data;                                 \
        T *yi = y->data;                                       \
        for (int64_t i = 0; i < n; i++)                        \
            yi[i] = xi[i] > 0 ? xi[i] : 0;                     \
        return TT_OK;                                          \
    }
static tt_status run_relu(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t n = tt_tensor_numel(x);
    switch (x->dtype) {
        TT_FOR_SINT(RELU_INT)
    default: return run_unary(c, relu_f, relu_d);
    }
}

#define FLOAT_TYPES TT_DTS_FLOAT

const tt_op_def tt_ops_math[] = {
    TT_OP("Add", 7, 0, ARITH_TYPES, infer_broadcast_same, run_add),
    TT_OP("Sub", 7, 0, ARITH_TYPES, infer_broadcast_same, run_sub),
    TT_OP("Mul", 7, 0, ARITH_TYPES, infer_broadcast_same, run_mul),
    TT_OP("Div", 7, 0, ARITH_TYPES, infer_broadcast_same, run_div),
    TT_OP("Relu", 6, 0, FLOAT_TYPES | TT_DTS_SINT, infer_unary, run_relu),
    TT_OP("Exp", 6, 0, FLOAT_TYPES, infer_unary, run_exp),
    TT_OP("Log", 6, 0, FLOAT_TYPES, infer_unary, run_log),
    TT_OP("Sqrt", 6, 0, FLOAT_TYPES, infer_unary, run_sqrt),
    TT_OP("Tanh", 6, 0, FLOAT_TYPES, infer_unary, run_tanh),
    TT_OP("Erf", 9, 0, FLOAT_TYPES, infer_unary, run_erf),
    TT_OP("Sigmoid", 6, 0, FLOAT_TYPES, infer_unary, run_sigmoid),
    TT_OP_END,
};
