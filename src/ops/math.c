/* Elementwise math: binary arithmetic (Add Sub Mul Div Mod Pow PRelu), the variadic Max Min
 * Sum Mean, Clip, and the unary functions and activations. Reference kernels: one plain loop
 * per (op, type) that the compiler vectorises, split over the thread pool. */
#include "ops/util.h"

#include <inttypes.h>
#include <tgmath.h> /* one expression serves float and double: sin(X) is sinf or sin by X's type */

/* Type lists that carry extra arguments through to X. */
#define REALS(X, ...) X(TETHER_DTYPE_FLOAT, float, __VA_ARGS__) X(TETHER_DTYPE_DOUBLE, double, __VA_ARGS__)
#define SINTS(X, ...)                                                                          \
    X(TETHER_DTYPE_INT8, int8_t, __VA_ARGS__) X(TETHER_DTYPE_INT16, int16_t, __VA_ARGS__)      \
    X(TETHER_DTYPE_INT32, int32_t, __VA_ARGS__) X(TETHER_DTYPE_INT64, int64_t, __VA_ARGS__)
#define UINTS(X, ...)                                                                          \
    X(TETHER_DTYPE_UINT8, uint8_t, __VA_ARGS__) X(TETHER_DTYPE_UINT16, uint16_t, __VA_ARGS__)  \
    X(TETHER_DTYPE_UINT32, uint32_t, __VA_ARGS__) X(TETHER_DTYPE_UINT64, uint64_t, __VA_ARGS__)
#define INT64_ONLY(X, ...) X(TETHER_DTYPE_INT64, int64_t, __VA_ARGS__)
#define NO_TYPES(X, ...)

/* Integer arithmetic wraps (two's complement) instead of overflowing, which C leaves undefined. */
#define WRAP(T, A, OP, B) ((T)((uint64_t)(A) OP (uint64_t)(B)))
/* x / 0 gives 0 and INT_MIN / -1 wraps, instead of trapping. */
#define SDIV(T, A, B) ((B) == 0 ? (T)0 : (B) == -1 ? WRAP(T, 0, -, A) : (T)((A) / (B)))
#define UDIV(T, A, B) ((B) == 0 ? (T)0 : (T)((A) / (B)))
/* Remainders: truncated (C's %, numpy.fmod) and floored (sign of the divisor, numpy.mod).
 * By zero they give 0, as numpy does for integers. */
#define STRUNC(T, A, B) ((B) == 0 || (B) == -1 ? (T)0 : (T)((A) % (B)))
#define UTRUNC(T, A, B) ((B) == 0 ? (T)0 : (T)((A) % (B)))
#define SFLOOR(T, A, B) ((T)floor_mod(A, B))
/* Max and Min propagate NaN, as numpy.maximum does. */
#define MAX_EXPR(A, B) ((A) > (B) || (A) != (A) ? (A) : (B))
#define MIN_EXPR(A, B) ((A) < (B) || (A) != (A) ? (A) : (B))

/* The floored remainder of floats, as numpy.mod: the sign of b; a zero takes b's sign. */
static inline double floor_fmod(double a, double b)
{
    double r = fmod(a, b);
    if (r == 0)
        return copysign(0.0, b);
    return (r < 0) != (b < 0) ? r + b : r;
}

static inline int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = STRUNC(int64_t, a, b);
    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
}

/* Integer power by squaring, wrapping like numpy's. A negative exponent leaves 1 and -1
 * exact and truncates every other base to 0. */
static inline int64_t ipow(int64_t x, int64_t e)
{
    if (e < 0)
        return x == 1 ? 1 : x == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)x;
    for (; e; e >>= 1, b *= b)
        if (e & 1)
            r *= b;
    return (int64_t)r;
}

/* ---- binary ops over broadcast inputs ------------------------------------------------------- */

#define BIN_LOOP(E, TYPE, NAME, EXPR) TT_BINARY_LOOP(NAME##_##TYPE, TYPE, TYPE, TT_AS_IS, TYPE, EXPR)
#define BIN_SLOT(E, TYPE, NAME, EXPR) [E] = NAME##_##TYPE,

/* A binary op: loops for float and double (FEXPR), for the signed types of SLIST (SEXPR)
 * and the unsigned ones of ULIST (UEXPR), and NAME_fns, its loops by dtype. Types without
 * a loop (float16, bfloat16) compute in a wider type; see binary_in. */
#define BINARY(NAME, FEXPR, SLIST, SEXPR, ULIST, UEXPR)                                        \
    REALS(BIN_LOOP, NAME, FEXPR) SLIST(BIN_LOOP, NAME, SEXPR) ULIST(BIN_LOOP, NAME, UEXPR)      \
    static const tt_bcast_fn NAME##_fns[TT_DTYPE_COUNT] = {                                    \
        REALS(BIN_SLOT, NAME, FEXPR) SLIST(BIN_SLOT, NAME, SEXPR) ULIST(BIN_SLOT, NAME, UEXPR)};

BINARY(add, A + B, SINTS, WRAP(T, A, +, B), UINTS, WRAP(T, A, +, B))
BINARY(sub, A - B, SINTS, WRAP(T, A, -, B), UINTS, WRAP(T, A, -, B))
BINARY(mul, A * B, SINTS, WRAP(T, A, *, B), UINTS, WRAP(T, A, *, B))
BINARY(div, A / B, SINTS, SDIV(T, A, B), UINTS, UDIV(T, A, B))
BINARY(fmod, fmod(A, B), SINTS, STRUNC(T, A, B), UINTS, UTRUNC(T, A, B))
/* floored remainders of floats: fmod=0 is allowed for them since opset 28 (infer_mod) */
BINARY(mod, (T)floor_fmod(A, B), SINTS, SFLOOR(T, A, B), UINTS, UTRUNC(T, A, B))
BINARY(max, MAX_EXPR(A, B), SINTS, MAX_EXPR(A, B), UINTS, MAX_EXPR(A, B))
BINARY(min, MIN_EXPR(A, B), SINTS, MIN_EXPR(A, B), UINTS, MIN_EXPR(A, B))
BINARY(pow, pow(A, B), INT64_ONLY, ipow(A, B), NO_TYPES, A)
BINARY(prelu, A < 0 ? A * B : A, SINTS, A < 0 ? WRAP(T, A, *, B) : A, UINTS, A)

/* The type float16 and bfloat16 compute in. */
static tt_dtype wide_type(tt_dtype t)
{
    return t == TETHER_DTYPE_FLOAT16 || t == TETHER_DTYPE_BFLOAT16 ? TETHER_DTYPE_FLOAT : t;
}

/* A loop of dtype ct run over an output and inputs of other dtypes, a block at a time
 * through buffers: how float16/bfloat16, and Pow's mixed types, compute without
 * whole-tensor temporaries. Inner steps from tt_bcast_apply are one element or 0. */
typedef struct widen {
    tt_bcast_fn fn;
    tt_dtype ct, dt[3]; /* dt[0]: the output's; dt[1], dt[2]: the inputs' */
} widen;

enum { WIDEN_BLOCK = 256 };

static void widen_loop(char *const *p, const int64_t *st, int64_t n, void *arg)
{
    const widen *w = arg;
    const int64_t cs = (int64_t)tt_dtype_size(w->ct);
    _Alignas(64) char buf[3][WIDEN_BLOCK * sizeof(double)];
    for (int64_t i = 0; i < n; i += WIDEN_BLOCK) {
        int64_t k = n - i < WIDEN_BLOCK ? n - i : WIDEN_BLOCK;
        char *q[3];
        int64_t qs[3] = {cs, cs, cs};
        for (int j = 1; j < 3; j++) {
            char *src = p[j] + i * st[j];
            if (w->dt[j] == w->ct) {
                q[j] = src, qs[j] = st[j];
            } else {
                tt_cast_elems(src, w->dt[j], buf[j], w->ct, st[j] ? k : 1);
                q[j] = buf[j], qs[j] = st[j] ? cs : 0;
            }
        }
        /* the output block is written after the inputs are read, so y may alias an input */
        q[0] = w->dt[0] == w->ct ? p[0] + i * st[0] : buf[0];
        w->fn(q, qs, k, NULL);
        if (w->dt[0] != w->ct)
            tt_cast_elems(buf[0], w->ct, p[0] + i * st[0], w->dt[0], k);
    }
}

/* y = fns(a, b) broadcast, computed in dtype ct. y may be a (same-shaped) input. */
static tt_status binary_in(const tt_node *node, const tt_bcast_fn *fns, tt_dtype ct, tt_tensor *y, const tt_tensor *a,
                           const tt_tensor *b)
{
    tt_bcast_fn fn = fns[ct];
    if (!fn)
        return tt_op_error(node, TETHER_ERR_UNSUPPORTED, "dtype %s is not supported", tt_dtype_name(ct));
    const tt_tensor *ins[2] = {a, b};
    if (a->dtype == ct && b->dtype == ct && y->dtype == ct)
        return tt_bcast_apply(y, 2, ins, fn, NULL);
    widen w = {.fn = fn, .ct = ct, .dt = {y->dtype, a->dtype, b->dtype}};
    return tt_bcast_apply(y, 2, ins, widen_loop, &w);
}

static tt_status run_binary(tt_kctx *c, const tt_bcast_fn *fns)
{
    tt_tensor b;
    TT_TRY(tt_binary_rhs(c, &b));
    const tt_tensor *a = tt_kin(c, 0);
    return binary_in(c->node, fns, wide_type(a->dtype), tt_kout(c, 0), a, &b);
}

static tt_status infer_binary(tt_ictx *c)
{
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    TT_TRY(tt_infer_binary(c, &r, dims));
    tt_infer_tensor(c, 0, c->in[0]->dtype, r, dims);
    return TT_OK;
}

#define RUN_BINARY(NAME) \
    static tt_status run_##NAME(tt_kctx *c) { return run_binary(c, NAME##_fns); }
RUN_BINARY(add)
RUN_BINARY(sub)
RUN_BINARY(mul)
RUN_BINARY(div)

/* ---- Mod ------------------------------------------------------------------------------------- */

static tt_status mod_attr(const tt_node *n, bool *fmod_out)
{
    int64_t f = tt_attr_int(n, "fmod", 0);
    if (f != 0 && f != 1)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute fmod must be 0 or 1, got %" PRId64, f);
    *fmod_out = f != 0;
    return TT_OK;
}

static tt_status infer_mod(tt_ictx *c)
{
    bool f = false;
    TT_TRY(mod_attr(c->node, &f));
    if (!f && tt_dtype_is_float(c->in[0]->dtype) && c->node->opset < 28)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "fmod must be 1 for floating-point inputs (%s) before opset 28",
                           tt_dtype_name(c->in[0]->dtype));
    return infer_binary(c);
}

static tt_status run_mod(tt_kctx *c)
{
    bool f = false;
    TT_TRY(mod_attr(c->node, &f));
    return run_binary(c, f ? fmod_fns : mod_fns);
}

/* ---- Pow: the exponent may have another type than the base --------------------------------- */

/* Integers raised to integers stay exact in int64; anything involving a float exponent goes
 * through double, as numpy promotes, and the result is converted to the base's type. */
static tt_dtype pow_type(tt_dtype base, tt_dtype ex)
{
    if (tt_dtype_is_int(base))
        return tt_dtype_is_int(ex) ? TETHER_DTYPE_INT64 : TETHER_DTYPE_DOUBLE;
    if (base == TETHER_DTYPE_DOUBLE || ex == TETHER_DTYPE_DOUBLE)
        return TETHER_DTYPE_DOUBLE;
    return TETHER_DTYPE_FLOAT;
}

static tt_status infer_pow(tt_ictx *c)
{
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_NUMERIC));
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    TT_TRY(tt_infer_binary(c, &r, dims));
    tt_infer_tensor(c, 0, c->in[0]->dtype, r, dims);
    return TT_OK;
}

static tt_status run_pow(tt_kctx *c)
{
    tt_tensor b;
    TT_TRY(tt_binary_rhs(c, &b));
    const tt_tensor *a = tt_kin(c, 0);
    return binary_in(c->node, pow_fns, pow_type(a->dtype, b.dtype), tt_kout(c, 0), a, &b);
}

/* ---- PRelu: the slope broadcasts to X ---------------------------------------------------------- */

/* Before opset 7 a slope of more than one element is per channel: it lines up with axis 1. */
static tt_status prelu_slope_dims(const tt_node *n, int rx, const int64_t *x, int rs, const int64_t *s, int *r,
                                  int64_t *dims)
{
    if (n->opset >= 7) {
        memcpy(dims, s, sizeof(int64_t) * (size_t)rs);
        *r = rs;
        return TT_OK;
    }
    *r = rx;
    return tt_legacy_broadcast(n, true, rx >= rs + 1 ? 1 : -1, rx, x, rs, s, dims);
}

static tt_status infer_prelu(tt_ictx *c)
{
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    const tt_type *x = tt_iin(c, 0), *s = tt_iin(c, 1);
    if (!x || !s)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs inputs X and slope");
    if (x->rank >= 0 && s->rank >= 0) {
        int rs, r;
        int64_t sd[TT_MAX_RANK], out[TT_MAX_RANK];
        TT_TRY(prelu_slope_dims(c->node, x->rank, x->dims, s->rank, s->dims, &rs, sd));
        TT_TRY(tt_broadcast_shapes(c->node, x->rank, x->dims, rs, sd, &r, out));
        bool grows = r != x->rank;
        for (int i = 0; i < r && !grows; i++)
            grows = x->dims[i] >= 0 && out[i] != x->dims[i];
        if (grows) {
            char a[160], b[160];
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "slope %s does not broadcast to X %s",
                               tt_dims_str(s->rank, s->dims, b, sizeof b), tt_dims_str(x->rank, x->dims, a, sizeof a));
        }
    }
    return tt_infer_same(c, 0, 0);
}

static tt_status run_prelu(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *s = tt_kin(c, 1);
    tt_tensor sv = *s;
    TT_TRY(prelu_slope_dims(c->node, x->rank, x->dims, s->rank, s->dims, &sv.rank, sv.dims));
    return binary_in(c->node, prelu_fns, wide_type(x->dtype), tt_kout(c, 0), x, &sv);
}

/* ---- variadic: Max Min Sum Mean ---------------------------------------------------------------- */

static tt_status infer_variadic(tt_ictx *c)
{
    if (c->n_in < 1)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs at least one input");
    for (int i = 0; i < c->n_in; i++) {
        if (!c->in[i])
            return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input %d is omitted", i);
        TT_TRY(tt_infer_same_dtype(c, 0, i));
    }
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    TT_TRY(tt_infer_broadcast(c, 0, c->n_in, &r, dims));
    tt_infer_tensor(c, 0, c->in[0]->dtype, r, dims);
    return TT_OK;
}

typedef struct scale_job {
    void *y;
    tt_dtype dt;
    double by;
} scale_job;

static void divide_range(void *arg, int64_t b, int64_t e)
{
    const scale_job *j = arg;
    if (j->dt == TETHER_DTYPE_DOUBLE) {
        double *y = j->y;
        for (int64_t i = b; i < e; i++)
            y[i] /= j->by;
    } else {
        float *y = j->y;
        const float by = (float)j->by;
        for (int64_t i = b; i < e; i++)
            y[i] /= by;
    }
}

/* Folds the inputs left to right into an accumulator of the compute type; Mean divides the
 * sum by the input count. */
static tt_status run_variadic(tt_kctx *c, const tt_bcast_fn *fns, bool mean)
{
    tt_tensor *y = tt_kout(c, 0);
    tt_dtype ct = wide_type(y->dtype);
    tt_tensor tmp = {0}, *acc = y;
    if (ct != y->dtype) {
        TT_TRY(tt_tensor_alloc(&tmp, ct, y->rank, y->dims));
        acc = &tmp;
    }
    tt_status s = TT_OK;
    const tt_tensor *x0 = tt_kin(c, 0);
    if (c->n_in == 1)
        tt_cast_elems(x0->data, x0->dtype, acc->data, ct, tt_tensor_numel(y));
    for (int i = 1; i < c->n_in && s == TT_OK; i++)
        s = binary_in(c->node, fns, ct, acc, i == 1 ? x0 : acc, tt_kin(c, i));
    if (s == TT_OK && mean) {
        scale_job j = {.y = acc->data, .dt = ct, .by = c->n_in};
        tt_map(tt_tensor_numel(y), divide_range, &j);
    }
    if (s == TT_OK && acc != y)
        tt_cast_elems(acc->data, ct, y->data, y->dtype, tt_tensor_numel(y));
    tt_tensor_release(&tmp);
    return s;
}

static tt_status run_max(tt_kctx *c) { return run_variadic(c, max_fns, false); }
static tt_status run_min(tt_kctx *c) { return run_variadic(c, min_fns, false); }
static tt_status run_sum(tt_kctx *c) { return run_variadic(c, add_fns, false); }
static tt_status run_mean(tt_kctx *c) { return run_variadic(c, add_fns, true); }

/* ---- Clip ------------------------------------------------------------------------------------ */

static tt_status infer_clip(tt_ictx *c)
{
    for (int i = 1; i < 3 && c->node->opset >= 11; i++) {
        const tt_type *t = tt_iin(c, i);
        if (!t)
            continue;
        TT_TRY(tt_infer_same_dtype(c, 0, i));
        int64_t n = 1;
        for (int d = 0; d < t->rank; d++)
            n = t->dims[d] >= 0 && n >= 0 ? n * t->dims[d] : -1;
        if (t->rank >= 0 && n >= 0 && n != 1)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "%s must be a scalar, got %" PRId64 " elements",
                               i == 1 ? "min" : "max", n);
    }
    return tt_infer_same(c, 0, 0);
}

/* y = min(max(x, lo), hi), so min > max gives max everywhere as the spec asks. Before
 * opset 11 the bounds are float attributes. */
static tt_status run_clip(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *lo = NULL, *hi = NULL;
    tt_tensor *y = tt_kout(c, 0);
    double bound[2];
    tt_tensor attr[2];
    if (c->node->opset < 11) {
        bound[0] = tt_attr_float(c->node, "min", -INFINITY);
        bound[1] = tt_attr_float(c->node, "max", INFINITY);
        for (int i = 0; i < 2; i++)
            attr[i] = (tt_tensor){.dtype = TETHER_DTYPE_DOUBLE, .rank = 0, .data = &bound[i]};
        lo = &attr[0], hi = &attr[1];
    } else {
        lo = tt_kin(c, 1), hi = tt_kin(c, 2);
        for (int i = 0; i < 2; i++) {
            const tt_tensor *t = i ? hi : lo;
            if (t && tt_tensor_numel(t) != 1)
                return tt_op_error(c->node, TETHER_ERR_SHAPE, "%s must be a scalar", i ? "max" : "min");
        }
    }
    tt_tensor b;
    tt_dtype ct = wide_type(x->dtype);
    if (lo) {
        b = *lo, b.rank = 0;
        TT_TRY(binary_in(c->node, max_fns, ct, y, x, &b));
    } else {
        tt_cast_elems(x->data, x->dtype, y->data, y->dtype, tt_tensor_numel(x));
    }
    if (hi) {
        b = *hi, b.rank = 0;
        TT_TRY(binary_in(c->node, min_fns, ct, y, y, &b));
    }
    return TT_OK;
}

/* ---- unary functions and activations ----------------------------------------------------------- */

typedef struct unary_params {
    double a, b; /* the op's attributes (alpha, beta, ...) */
} unary_params;

typedef struct unary_job {
    const void *x;
    void *y;
    tt_dtype dt;
    unary_params p;
} unary_job;

/* The loops of one op. EXPR computes from X (type T) and the attributes A, B. float16 and
 * bfloat16 compute in float a block at a time. */
#define UN_REAL(E, TYPE, EXPR)                                                                 \
    case E: {                                                                                  \
        typedef TYPE T;                                                                        \
        const T *xs = j->x, A = (T)j->p.a, B = (T)j->p.b;                                      \
        T *ys = j->y;                                                                          \
        (void)A, (void)B;                                                                      \
        for (int64_t i = begin; i < end; i++) {                                                \
            const T X = xs[i];                                                                 \
            ys[i] = (EXPR);                                                                    \
        }                                                                                      \
        return;                                                                                \
    }
#define UN_HALF(E, TO_F32, FROM_F32, EXPR)                                                     \
    case E: {                                                                                  \
        typedef float T;                                                                       \
        const uint16_t *xs = j->x;                                                             \
        uint16_t *ys = j->y;                                                                   \
        const T A = (T)j->p.a, B = (T)j->p.b;                                                  \
        (void)A, (void)B;                                                                      \
        float buf[256];                                                                        \
        for (int64_t i0 = begin; i0 < end; i0 += 256) {                                        \
            int64_t k = end - i0 < 256 ? end - i0 : 256;                                       \
            for (int64_t i = 0; i < k; i++)                                                    \
                buf[i] = TO_F32(xs[i0 + i]);                                                   \
            for (int64_t i = 0; i < k; i++) {                                                  \
                const T X = buf[i];                                                            \
                buf[i] = (EXPR);                                                               \
            }                                                                                  \
            for (int64_t i = 0; i < k; i++)                                                    \
                ys[i0 + i] = FROM_F32(buf[i]);                                                 \
        }                                                                                      \
        return;                                                                                \
    }
#define UN_INT(E, TYPE, EXPR)                                                                  \
    case E: {                                                                                  \
        typedef TYPE T;                                                                        \
        const T *xs = j->x;                                                                    \
        T *ys = j->y;                                                                          \
        for (int64_t i = begin; i < end; i++) {                                                \
            const T X = xs[i];                                                                 \
            ys[i] = (EXPR);                                                                    \
        }                                                                                      \
        return;                                                                                \
    }
#define UN_BIT(E, TYPE, EXPR) | TT_DT(E)

/* A unary op: NAME_range over every float type (FEXPR), the signed types of SLIST (SEXPR)
 * and the unsigned ones of ULIST (UEXPR); NAME_native, the dtypes it handles directly. */
#define UNARY(NAME, FEXPR, SLIST, SEXPR, ULIST, UEXPR)                                         \
    static void NAME##_range(void *arg, int64_t begin, int64_t end)                            \
    {                                                                                          \
        const unary_job *j = arg;                                                              \
        switch (j->dt) {                                                                       \
            REALS(UN_REAL, FEXPR)                                                              \
            UN_HALF(TETHER_DTYPE_FLOAT16, tt_f16_to_f32, tt_f32_to_f16, FEXPR)                 \
            UN_HALF(TETHER_DTYPE_BFLOAT16, tt_bf16_to_f32, tt_f32_to_bf16, FEXPR)              \
            SLIST(UN_INT, SEXPR)                                                               \
            ULIST(UN_INT, UEXPR)                                                               \
        default: return;                                                                       \
        }                                                                                      \
    }                                                                                          \
    enum { NAME##_native = TT_DTS_FLOAT SLIST(UN_BIT, _) ULIST(UN_BIT, _) };                  \
    static tt_status run_##NAME(tt_kctx *c) { return run_unary(c, NAME##_range, NAME##_native); }

typedef struct widened_unary {
    const unary_job *j;
    tt_map_fn range;
} widened_unary;

/* The op's double loop over blocks converted from and back to the tensor's type. */
static void widened_range(void *arg, int64_t begin, int64_t end)
{
    const widened_unary *w = arg;
    const unary_job *j = w->j;
    const int64_t es = (int64_t)tt_dtype_size(j->dt);
    double buf[256];
    for (int64_t i = begin; i < end; i += 256) {
        int64_t k = end - i < 256 ? end - i : 256;
        tt_cast_elems((const char *)j->x + i * es, j->dt, buf, TETHER_DTYPE_DOUBLE, k);
        unary_job dj = {.x = buf, .y = buf, .dt = TETHER_DTYPE_DOUBLE, .p = j->p};
        w->range(&dj, 0, k);
        tt_cast_elems(buf, TETHER_DTYPE_DOUBLE, (char *)j->y + i * es, j->dt, k);
    }
}

/* Runs a unary op; types it has no loop for (Shrink on integers) compute in double. */
static tt_status run_unary(tt_kctx *c, tt_map_fn range, uint32_t native)
{
    const tt_tensor *x = tt_kin(c, 0);
    unary_job j = {.x = x->data, .y = tt_kout(c, 0)->data, .dt = x->dtype};
    if (c->state)
        j.p = *(const unary_params *)c->state;
    if ((native >> x->dtype) & 1) {
        tt_map(tt_tensor_numel(x), range, &j);
    } else {
        widened_unary w = {.j = &j, .range = range};
        tt_map(tt_tensor_numel(x), widened_range, &w);
    }
    return TT_OK;
}

/* Attributes of the activations, read once at load. */
static tt_status prepare_params(tt_node *n, void **state, const char *a_name, float a_def, const char *b_name,
                                float b_def)
{
    unary_params *p = tt_malloc(sizeof *p);
    if (!p)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    p->a = tt_attr_float(n, a_name, a_def);
    p->b = b_name ? tt_attr_float(n, b_name, b_def) : 0;
    *state = p;
    return TT_OK;
}
#define PARAMS(NAME, A_NAME, A_DEF, B_NAME, B_DEF) \
    static tt_status prepare_##NAME(tt_node *n, void **s) { return prepare_params(n, s, A_NAME, A_DEF, B_NAME, B_DEF); }

#define NEG_WRAP(T, X) WRAP(T, 0, -, X)
#define SIGMOID(X) ((X) >= 0 ? 1 / (1 + exp(-(X))) : exp(X) / (1 + exp(X)))
#define HARD_SIGMOID(V) ((V) < 0 ? 0 : (V) > 1 ? 1 : (V)) /* NaN passes through */

UNARY(abs, fabs(X), SINTS, X < 0 ? NEG_WRAP(T, X) : X, UINTS, X)
UNARY(neg, -X, SINTS, NEG_WRAP(T, X), NO_TYPES, X)
UNARY(sign, X > 0 ? (T)1 : X < 0 ? (T)-1 : X, SINTS, (T)((X > 0) - (X < 0)), UINTS, (T)(X != 0))
UNARY(reciprocal, 1 / X, NO_TYPES, X, NO_TYPES, X)
UNARY(floor, floor(X), NO_TYPES, X, NO_TYPES, X)
UNARY(ceil, ceil(X), NO_TYPES, X, NO_TYPES, X)
UNARY(round, rint(X), NO_TYPES, X, NO_TYPES, X) /* halves to even in the default rounding mode */
UNARY(sqrt, sqrt(X), NO_TYPES, X, NO_TYPES, X)
UNARY(exp, exp(X), NO_TYPES, X, NO_TYPES, X)
UNARY(log, log(X), NO_TYPES, X, NO_TYPES, X)
UNARY(sin, sin(X), NO_TYPES, X, NO_TYPES, X)
UNARY(cos, cos(X), NO_TYPES, X, NO_TYPES, X)
UNARY(tan, tan(X), NO_TYPES, X, NO_TYPES, X)
UNARY(asin, asin(X), NO_TYPES, X, NO_TYPES, X)
UNARY(acos, acos(X), NO_TYPES, X, NO_TYPES, X)
UNARY(atan, atan(X), NO_TYPES, X, NO_TYPES, X)
UNARY(sinh, sinh(X), NO_TYPES, X, NO_TYPES, X)
UNARY(cosh, cosh(X), NO_TYPES, X, NO_TYPES, X)
UNARY(tanh, tanh(X), NO_TYPES, X, NO_TYPES, X)
UNARY(asinh, asinh(X), NO_TYPES, X, NO_TYPES, X)
UNARY(acosh, acosh(X), NO_TYPES, X, NO_TYPES, X)
UNARY(atanh, atanh(X), NO_TYPES, X, NO_TYPES, X)
UNARY(erf, erf(X), NO_TYPES, X, NO_TYPES, X)
UNARY(sigmoid, SIGMOID(X), NO_TYPES, X, NO_TYPES, X)
UNARY(relu, X < 0 ? 0 : X, SINTS, X < 0 ? 0 : X, NO_TYPES, X)
UNARY(softsign, X / (1 + fabs(X)), NO_TYPES, X, NO_TYPES, X)
/* log(1 + e^x) without overflow for large x */
UNARY(softplus, log1p(exp(-fabs(X))) + (X > 0 ? X : 0), NO_TYPES, X, NO_TYPES, X)
UNARY(hardswish, X * HARD_SIGMOID(X / 6 + (T)0.5), NO_TYPES, X, NO_TYPES, X)

UNARY(leakyrelu, X < 0 ? A * X : X, NO_TYPES, X, NO_TYPES, X)
PARAMS(leakyrelu, "alpha", 0.01f, NULL, 0)
UNARY(elu, X < 0 ? A * expm1(X) : X, NO_TYPES, X, NO_TYPES, X)
PARAMS(elu, "alpha", 1.0f, NULL, 0)
UNARY(selu, X <= 0 ? B * A * expm1(X) : B * X, NO_TYPES, X, NO_TYPES, X)
PARAMS(selu, "alpha", 1.67326319217681884765625f, "gamma", 1.05070102214813232421875f)
UNARY(celu, X < 0 ? A * expm1(X / A) : X, NO_TYPES, X, NO_TYPES, X)
PARAMS(celu, "alpha", 1.0f, NULL, 0)
UNARY(thresholdedrelu, X > A ? X : 0, NO_TYPES, X, NO_TYPES, X)
PARAMS(thresholdedrelu, "alpha", 1.0f, NULL, 0)
UNARY(hardsigmoid, HARD_SIGMOID(A * X + B), NO_TYPES, X, NO_TYPES, X)
PARAMS(hardsigmoid, "alpha", 0.2f, "beta", 0.5f)
/* Shrink on integers computes in double (run_unary) so a fractional bias rounds once. */
UNARY(shrink, X < -A ? X + B : X > A ? X - B : 0, NO_TYPES, X, NO_TYPES, X)
PARAMS(shrink, "lambd", 0.5f, "bias", 0.0f)

static tt_status infer_unary(tt_ictx *c) { return tt_infer_same(c, 0, 0); }

/* ---- the table --------------------------------------------------------------------------------- */

#define FLOATS TT_DTS_FLOAT
#define NUMERIC TT_DTS_NUMERIC
#define SIGNED (TT_DTS_FLOAT | TT_DTS_SINT)
/* Before opset 7 binary ops broadcast by attributes (tt_infer_binary); the same defs serve. */

const tt_op_schema tt_schemas_math[] = {
    TT_SCHEMA("Add", 1, 0, infer_binary),
    TT_SCHEMA("Sub", 1, 0, infer_binary),
    TT_SCHEMA("Mul", 1, 0, infer_binary),
    TT_SCHEMA("Div", 1, 0, infer_binary),
    TT_SCHEMA("Pow", 1, 0, infer_pow),
    TT_SCHEMA("Mod", 10, 0, infer_mod),
    TT_SCHEMA("PRelu", 1, 0, infer_prelu),
    TT_SCHEMA("Max", 1, 0, infer_variadic),
    TT_SCHEMA("Min", 1, 0, infer_variadic),
    TT_SCHEMA("Sum", 1, 0, infer_variadic),
    TT_SCHEMA("Mean", 1, 0, infer_variadic),
    TT_SCHEMA("Clip", 1, 10, infer_clip),
    TT_SCHEMA("Clip", 11, 0, infer_clip),
    TT_SCHEMA("Abs", 1, 0, infer_unary),
    TT_SCHEMA("Neg", 1, 0, infer_unary),
    TT_SCHEMA("Sign", 9, 0, infer_unary),
    TT_SCHEMA("Reciprocal", 1, 0, infer_unary),
    TT_SCHEMA("Floor", 1, 0, infer_unary),
    TT_SCHEMA("Ceil", 1, 0, infer_unary),
    TT_SCHEMA("Round", 11, 0, infer_unary),
    TT_SCHEMA("Sqrt", 1, 0, infer_unary),
    TT_SCHEMA("Exp", 1, 0, infer_unary),
    TT_SCHEMA("Log", 1, 0, infer_unary),
    TT_SCHEMA("Sin", 7, 0, infer_unary),
    TT_SCHEMA("Cos", 7, 0, infer_unary),
    TT_SCHEMA("Tan", 7, 0, infer_unary),
    TT_SCHEMA("Asin", 7, 0, infer_unary),
    TT_SCHEMA("Acos", 7, 0, infer_unary),
    TT_SCHEMA("Atan", 7, 0, infer_unary),
    TT_SCHEMA("Sinh", 9, 0, infer_unary),
    TT_SCHEMA("Cosh", 9, 0, infer_unary),
    TT_SCHEMA("Tanh", 1, 0, infer_unary),
    TT_SCHEMA("Asinh", 9, 0, infer_unary),
    TT_SCHEMA("Acosh", 9, 0, infer_unary),
    TT_SCHEMA("Atanh", 9, 0, infer_unary),
    TT_SCHEMA("Erf", 9, 0, infer_unary),
    TT_SCHEMA("Sigmoid", 1, 0, infer_unary),
    TT_SCHEMA("Relu", 1, 0, infer_unary),
    TT_SCHEMA("Softsign", 1, 0, infer_unary),
    TT_SCHEMA("Softplus", 1, 0, infer_unary),
    TT_SCHEMA("HardSwish", 14, 0, infer_unary),
    TT_SCHEMA("LeakyRelu", 1, 0, infer_unary, .parse = prepare_leakyrelu),
    TT_SCHEMA("Elu", 1, 0, infer_unary, .parse = prepare_elu),
    TT_SCHEMA("Selu", 1, 0, infer_unary, .parse = prepare_selu),
    TT_SCHEMA("Celu", 12, 0, infer_unary, .parse = prepare_celu),
    TT_SCHEMA("ThresholdedRelu", 10, 0, infer_unary, .parse = prepare_thresholdedrelu),
    TT_SCHEMA("HardSigmoid", 1, 0, infer_unary, .parse = prepare_hardsigmoid),
    TT_SCHEMA("Shrink", 9, 0, infer_unary, .parse = prepare_shrink),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_math[] = {
    TT_KERNEL("Add", 1, 0, NUMERIC, run_add),
    TT_KERNEL("Sub", 1, 0, NUMERIC, run_sub),
    TT_KERNEL("Mul", 1, 0, NUMERIC, run_mul),
    TT_KERNEL("Div", 1, 0, NUMERIC, run_div),
    TT_KERNEL("Pow", 1, 0, FLOATS | TT_DTS_SINT, run_pow),
    TT_KERNEL("Mod", 10, 0, NUMERIC, run_mod),
    TT_KERNEL("PRelu", 1, 0, FLOATS | TT_DTS_INT, run_prelu),
    TT_KERNEL("Max", 1, 0, NUMERIC, run_max),
    TT_KERNEL("Min", 1, 0, NUMERIC, run_min),
    TT_KERNEL("Sum", 1, 0, FLOATS, run_sum),
    TT_KERNEL("Mean", 1, 0, FLOATS, run_mean),
    TT_KERNEL("Clip", 1, 10, FLOATS, run_clip),
    TT_KERNEL("Clip", 11, 0, NUMERIC, run_clip),
    TT_KERNEL("Abs", 1, 0, NUMERIC, run_abs),
    TT_KERNEL("Neg", 1, 0, SIGNED, run_neg),
    TT_KERNEL("Sign", 9, 0, NUMERIC, run_sign),
    TT_KERNEL("Reciprocal", 1, 0, FLOATS, run_reciprocal),
    TT_KERNEL("Floor", 1, 0, FLOATS, run_floor),
    TT_KERNEL("Ceil", 1, 0, FLOATS, run_ceil),
    TT_KERNEL("Round", 11, 0, FLOATS, run_round),
    TT_KERNEL("Sqrt", 1, 0, FLOATS, run_sqrt),
    TT_KERNEL("Exp", 1, 0, FLOATS, run_exp),
    TT_KERNEL("Log", 1, 0, FLOATS, run_log),
    TT_KERNEL("Sin", 7, 0, FLOATS, run_sin),
    TT_KERNEL("Cos", 7, 0, FLOATS, run_cos),
    TT_KERNEL("Tan", 7, 0, FLOATS, run_tan),
    TT_KERNEL("Asin", 7, 0, FLOATS, run_asin),
    TT_KERNEL("Acos", 7, 0, FLOATS, run_acos),
    TT_KERNEL("Atan", 7, 0, FLOATS, run_atan),
    TT_KERNEL("Sinh", 9, 0, FLOATS, run_sinh),
    TT_KERNEL("Cosh", 9, 0, FLOATS, run_cosh),
    TT_KERNEL("Tanh", 1, 0, FLOATS, run_tanh),
    TT_KERNEL("Asinh", 9, 0, FLOATS, run_asinh),
    TT_KERNEL("Acosh", 9, 0, FLOATS, run_acosh),
    TT_KERNEL("Atanh", 9, 0, FLOATS, run_atanh),
    TT_KERNEL("Erf", 9, 0, FLOATS, run_erf),
    TT_KERNEL("Sigmoid", 1, 0, FLOATS, run_sigmoid),
    TT_KERNEL("Relu", 1, 0, SIGNED, run_relu),
    TT_KERNEL("Softsign", 1, 0, FLOATS, run_softsign),
    TT_KERNEL("Softplus", 1, 0, FLOATS, run_softplus),
    TT_KERNEL("HardSwish", 14, 0, FLOATS, run_hardswish),
    TT_KERNEL("LeakyRelu", 1, 0, FLOATS, run_leakyrelu),
    TT_KERNEL("Elu", 1, 0, FLOATS, run_elu),
    TT_KERNEL("Selu", 1, 0, FLOATS, run_selu),
    TT_KERNEL("Celu", 12, 0, FLOATS, run_celu),
    TT_KERNEL("ThresholdedRelu", 10, 0, FLOATS, run_thresholdedrelu),
    TT_KERNEL("HardSigmoid", 1, 0, FLOATS, run_hardsigmoid),
    TT_KERNEL("Shrink", 9, 0, NUMERIC, run_shrink),
    TT_KERNEL_END,
};
