/* Reductions and the ops that work along an axis: the Reduce* family (one engine, parameterised
 * by the op), ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax, CumSum, CumProd and TopK. Inner loops run over
 * contiguous memory and independent outputs are split over the thread pool; float16 and
 * bfloat16 compute in float. */
#include "ops/util.h"

#include <float.h>
#include <inttypes.h>
#include <limits.h>

/* Elements below which a loop is not worth handing to other threads. */
#define PAR_GRAIN 32768

static int64_t grain_for(int64_t per_item)
{
    return per_item >= PAR_GRAIN ? 1 : PAR_GRAIN / (per_item > 0 ? per_item : 1);
}

/* Saturating store of v into element i of an integer (or float) buffer: NaN gives 0 and
 * out-of-range values the type's limits, where a plain C conversion would be undefined. */
static void store_saturate(void *y, tt_dtype t, int64_t i, double v)
{
    if (tt_dtype_is_float(t)) {
        tt_store_f64(y, t, (size_t)i, v);
        return;
    }
    int bits = (int)tt_dtype_size(t) * 8;
    if (isnan(v))
        v = 0;
    if (tt_dtype_is_signed(t)) {
        double lim = ldexp(1.0, bits - 1); /* exactly representable, unlike INT64_MAX */
        int64_t hi = (int64_t)(UINT64_MAX >> (65 - bits)), lo = -hi - 1;
        tt_store_i64(y, t, (size_t)i, v >= lim ? hi : v < -lim ? lo : (int64_t)v);
    } else {
        double lim = ldexp(1.0, bits);
        uint64_t r = v >= lim ? UINT64_MAX >> (64 - bits) : v <= 0 ? 0 : (uint64_t)v;
        tt_store_i64(y, t, (size_t)i, (int64_t)r);
    }
}

/* e^x for x <= 0 or NaN, which is all softmax needs once a row's max is subtracted: Cephes'
 * polynomial on a range-reduced argument (about 1 ulp), branch-free and without a libm call
 * so that the loops calling it vectorise. */
static inline float exp_le0(float x)
{
    float c = x > -87.33654f ? x : -87.33654f; /* also maps NaN somewhere the int conversion is defined */
    float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(c / ln 2) */
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23; /* n in [-126, 0] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = x < -87.33654f ? 0.0f : p * scale;
    return isnan(x) ? x : y;
}

/* Four floats as one value, with the GCC/Clang vector extensions: lowered to the target's SIMD
 * (SSE on x86-64, NEON on arm64). At -O2 GCC vectorises only loops of known trip count, so the
 * hot softmax row spells its SIMD out. 16 bytes keeps the values in registers across calls on
 * every x86-64 ABI. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32))); /* local only: wider than the baseline ABI */

static inline v4f v4f_load(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v4f_store(float *p, v4f v)
{
    memcpy(p, &v, sizeof v);
}
/* lanes where mask is set take a, the others b */
static inline v4f v4f_select(v4i mask, v4f a, v4f b)
{
    return (v4f)((mask & (v4i)a) | (~mask & (v4i)b));
}

/* exp_le0 on four lanes: the same operations, so every lane matches the scalar result */
static inline v4f exp4_le0(v4f x)
{
    const v4f zero = {0}, lo = zero - 87.33654f;
    v4i small = x < lo, nan = x != x;
    v4f c = v4f_select(small | nan, lo, x);
    v4f n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    v4f r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    v4f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    v4i e = (__builtin_convertvector(n, v4i) + 127) << 23;
    v4f y = v4f_select(small, zero, p * (v4f)e);
    return v4f_select(nan, x, y);
}

/* ==== the reduction engine ====================================================================
 *
 * A reduction folds every input element into the accumulator of its output element. The input
 * shape is coalesced into alternating runs of kept and reduced dims; the innermost run is
 * walked by a kernel, either folding a contiguous run into one accumulator ("inner": the last
 * dim is reduced) or folding a contiguous row elementwise into a row of accumulators ("rows":
 * the last dim is kept). An op is a fold (sum, prod, max, min), a map applied to each element
 * first (|x|, x^2, e^(x - shift)) and a finish applied to each accumulator (mean, sqrt, log). */

typedef enum red_fold { FOLD_SUM, FOLD_PROD, FOLD_MAX, FOLD_MIN } red_fold;
typedef enum red_map { MAP_ID, MAP_ABS, MAP_SQUARE, MAP_EXP } red_map;
typedef enum red_finish { FIN_NONE, FIN_MEAN, FIN_SQRT, FIN_LOG, FIN_LOGSUMEXP } red_finish;

typedef struct reduce_kind {
    const char *name;
    red_fold fold;
    red_map map;
    red_finish finish;
    int axes_input_since; /* the opset from which axes is an input instead of an attribute */
} reduce_kind;

static const reduce_kind g_reduce_kinds[] = {
    {"ReduceSum", FOLD_SUM, MAP_ID, FIN_NONE, 13},
    {"ReduceMean", FOLD_SUM, MAP_ID, FIN_MEAN, 18},
    {"ReduceMax", FOLD_MAX, MAP_ID, FIN_NONE, 18},
    {"ReduceMin", FOLD_MIN, MAP_ID, FIN_NONE, 18},
    {"ReduceProd", FOLD_PROD, MAP_ID, FIN_NONE, 18},
    {"ReduceL1", FOLD_SUM, MAP_ABS, FIN_NONE, 18},
    {"ReduceL2", FOLD_SUM, MAP_SQUARE, FIN_SQRT, 18},
    {"ReduceLogSum", FOLD_SUM, MAP_ID, FIN_LOG, 18},
    /* a max pass gives the shift, then a sum of e^(x - shift) */
    {"ReduceLogSumExp", FOLD_SUM, MAP_EXP, FIN_LOGSUMEXP, 18},
    {"ReduceSumSquare", FOLD_SUM, MAP_SQUARE, FIN_NONE, 18},
};

/* The value of a reduction over the empty set (ONNX: the fold's identity, -inf for a max). */
static double empty_value(const reduce_kind *k)
{
    switch (k->finish) {
    case FIN_MEAN: return NAN;
    case FIN_LOG:
    case FIN_LOGSUMEXP: return -INFINITY;
    default: break;
    }
    switch (k->fold) {
    case FOLD_PROD: return 1;
    case FOLD_MAX: return -INFINITY;
    case FOLD_MIN: return INFINITY;
    default: return 0;
    }
}

/* ---- kernels ---------------------------------------------------------------------------
 * Accumulators: float sums in double (a sum over a long row keeps its precision), max/min in
 * the input type; integer sums and products in uint64 (wrapping is defined there, and the low
 * bits equal those of the signed result), signed max/min in int64. */

typedef void (*red_fn)(void *acc, const void *shift, const void *x, int64_t n);
enum { K_SUM, K_L1, K_SQUARE, K_EXP, K_PROD, K_MAX, K_MIN, K_COUNT };
typedef struct red_kernels {
    red_fn inner[K_COUNT], rows[K_COUNT];
} red_kernels;

#define LANES 8

#define M_ID(A, v) ((A)(v))
#define M_ABS_F(A, v) ((A)fabs(v))
#define M_ABS_S(A, v) ((v) < 0 ? (A)0 - (A)(v) : (A)(v))
#define M_ABS_U(A, v) ((A)(v))
#define M_SQ(A, v) ((A)(v) * (A)(v))
#define F_SUM(a, b) ((a) + (b))
#define F_PROD(a, b) ((a) * (b))
/* NaN wins a float max/min, as in numpy */
#define F_MAX_F(a, b) ((b) > (a) || isnan(b) ? (b) : (a))
#define F_MIN_F(a, b) ((b) < (a) || isnan(b) ? (b) : (a))
#define F_MAX_I(a, b) ((b) > (a) ? (b) : (a))
#define F_MIN_I(a, b) ((b) < (a) ? (b) : (a))

/* Several partial accumulators break the loop-carried dependency, so the fold pipelines (and
 * vectorises where it needs no reassociation). */
#define DEF_INNER(NAME, T, A, INIT, MAP, FOLD)                                                                         \
    static void NAME(void *accp, const void *shp, const void *xp, int64_t n)                                           \
    {                                                                                                                  \
        const T *x = xp;                                                                                               \
        A *acc = accp, r = *acc;                                                                                       \
        if (n < LANES) { /* short runs (a small last axis) skip the lanes' set-up */                                   \
            for (int64_t i = 0; i < n; i++) {                                                                          \
                A v = MAP(A, x[i]);                                                                                    \
                r = FOLD(r, v);                                                                                        \
            }                                                                                                          \
            *acc = r;                                                                                                  \
            return;                                                                                                    \
        }                                                                                                              \
        A s[LANES];                                                                                                    \
        for (int k = 0; k < LANES; k++)                                                                                \
            s[k] = (A)(INIT);                                                                                          \
        int64_t i = 0;                                                                                                 \
        for (; i + LANES <= n; i += LANES)                                                                             \
            for (int k = 0; k < LANES; k++) {                                                                          \
                A v = MAP(A, x[i + k]);                                                                                \
                s[k] = FOLD(s[k], v);                                                                                  \
            }                                                                                                          \
        for (int k = 0; i < n; i++, k++) {                                                                             \
            A v = MAP(A, x[i]);                                                                                        \
            s[k] = FOLD(s[k], v);                                                                                      \
        }                                                                                                              \
        for (int k = 0; k < LANES; k++)                                                                                \
            r = FOLD(r, s[k]);                                                                                         \
        *acc = r;                                                                                                      \
    }

#define DEF_ROWS(NAME, T, A, MAP, FOLD)                                                                                \
    static void NAME(void *accp, const void *shp, const void *xp, int64_t n)                                           \
    {                                                                                                                  \
        const T *x = xp;                                                                                               \
        A *acc = accp;                                                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                                              \
            A v = MAP(A, x[i]);                                                                                        \
            acc[i] = FOLD(acc[i], v);                                                                                  \
        }                                                                                                              \
    }

/* sum of e^(x - shift): shift is one value (inner) or a row (rows), of the input type */
#define DEF_EXP(T, A, EXPF)                                                                                            \
    static void inner_exp_##T(void *accp, const void *shp, const void *xp, int64_t n)                                  \
    {                                                                                                                  \
        const T *x = xp;                                                                                               \
        const T m = *(const T *)shp;                                                                                   \
        A s = 0;                                                                                                       \
        for (int64_t i = 0; i < n; i++)                                                                                \
            s += EXPF(x[i] - m);                                                                                       \
        *(A *)accp += s;                                                                                               \
    }                                                                                                                  \
    static void rows_exp_##T(void *accp, const void *shp, const void *xp, int64_t n)                                   \
    {                                                                                                                  \
        const T *x = xp, *m = shp;                                                                                     \
        A *acc = accp;                                                                                                 \
        for (int64_t i = 0; i < n; i++)                                                                                \
            acc[i] += EXPF(x[i] - m[i]);                                                                               \
    }

#define DEF_RED_TYPE(T, AS, AC, MABS, FMAX, FMIN, LOWEST, HIGHEST)                                                     \
    DEF_INNER(inner_sum_##T, T, AS, 0, M_ID, F_SUM)                                                                    \
    DEF_ROWS(rows_sum_##T, T, AS, M_ID, F_SUM)                                                                         \
    DEF_INNER(inner_l1_##T, T, AS, 0, MABS, F_SUM)                                                                     \
    DEF_ROWS(rows_l1_##T, T, AS, MABS, F_SUM)                                                                          \
    DEF_INNER(inner_sq_##T, T, AS, 0, M_SQ, F_SUM)                                                                     \
    DEF_ROWS(rows_sq_##T, T, AS, M_SQ, F_SUM)                                                                          \
    DEF_INNER(inner_prod_##T, T, AS, 1, M_ID, F_PROD)                                                                  \
    DEF_ROWS(rows_prod_##T, T, AS, M_ID, F_PROD)                                                                       \
    DEF_INNER(inner_max_##T, T, AC, LOWEST, M_ID, FMAX)                                                                \
    DEF_ROWS(rows_max_##T, T, AC, M_ID, FMAX)                                                                          \
    DEF_INNER(inner_min_##T, T, AC, HIGHEST, M_ID, FMIN)                                                               \
    DEF_ROWS(rows_min_##T, T, AC, M_ID, FMIN)

DEF_RED_TYPE(float, double, float, M_ABS_F, F_MAX_F, F_MIN_F, -INFINITY, INFINITY)
DEF_RED_TYPE(double, double, double, M_ABS_F, F_MAX_F, F_MIN_F, -INFINITY, INFINITY)
DEF_RED_TYPE(int8_t, uint64_t, int64_t, M_ABS_S, F_MAX_I, F_MIN_I, INT64_MIN, INT64_MAX)
DEF_RED_TYPE(int32_t, uint64_t, int64_t, M_ABS_S, F_MAX_I, F_MIN_I, INT64_MIN, INT64_MAX)
DEF_RED_TYPE(int64_t, uint64_t, int64_t, M_ABS_S, F_MAX_I, F_MIN_I, INT64_MIN, INT64_MAX)
DEF_RED_TYPE(uint8_t, uint64_t, uint64_t, M_ABS_U, F_MAX_I, F_MIN_I, 0, UINT64_MAX)
DEF_RED_TYPE(uint32_t, uint64_t, uint64_t, M_ABS_U, F_MAX_I, F_MIN_I, 0, UINT64_MAX)
DEF_RED_TYPE(uint64_t, uint64_t, uint64_t, M_ABS_U, F_MAX_I, F_MIN_I, 0, UINT64_MAX)
DEF_EXP(float, double, expf)
DEF_EXP(double, double, exp)

#define RED_ENTRY(E, T, EXPI, EXPR)                                                                                    \
    [E] = {{inner_sum_##T, inner_l1_##T, inner_sq_##T, EXPI, inner_prod_##T, inner_max_##T, inner_min_##T},            \
           {rows_sum_##T, rows_l1_##T, rows_sq_##T, EXPR, rows_prod_##T, rows_max_##T, rows_min_##T}}
static const red_kernels g_red_kernels[TT_DTYPE_COUNT] = {
    RED_ENTRY(TETHER_DTYPE_FLOAT, float, inner_exp_float, rows_exp_float),
    RED_ENTRY(TETHER_DTYPE_DOUBLE, double, inner_exp_double, rows_exp_double),
    RED_ENTRY(TETHER_DTYPE_INT8, int8_t, NULL, NULL),
    RED_ENTRY(TETHER_DTYPE_INT32, int32_t, NULL, NULL),
    RED_ENTRY(TETHER_DTYPE_INT64, int64_t, NULL, NULL),
    RED_ENTRY(TETHER_DTYPE_UINT8, uint8_t, NULL, NULL),
    RED_ENTRY(TETHER_DTYPE_UINT32, uint32_t, NULL, NULL),
    RED_ENTRY(TETHER_DTYPE_UINT64, uint64_t, NULL, NULL),
};

static int kernel_index(red_fold fold, red_map map)
{
    switch (fold) {
    case FOLD_PROD: return K_PROD;
    case FOLD_MAX: return K_MAX;
    case FOLD_MIN: return K_MIN;
    default: break;
    }
    return map == MAP_ABS ? K_L1 : map == MAP_SQUARE ? K_SQUARE : map == MAP_EXP ? K_EXP : K_SUM;
}

/* The accumulator type of a fold over compute type ct. */
static tt_dtype acc_dtype(tt_dtype ct, red_fold fold)
{
    bool cmp = fold == FOLD_MAX || fold == FOLD_MIN;
    if (ct == TETHER_DTYPE_FLOAT)
        return cmp ? TETHER_DTYPE_FLOAT : TETHER_DTYPE_DOUBLE;
    if (ct == TETHER_DTYPE_DOUBLE)
        return TETHER_DTYPE_DOUBLE;
    return cmp && tt_dtype_is_signed(ct) ? TETHER_DTYPE_INT64 : TETHER_DTYPE_UINT64;
}

static void acc_fill_identity(void *acc, tt_dtype at, red_fold fold, int64_t n)
{
    if (fold == FOLD_SUM) {
        memset(acc, 0, (size_t)n * tt_dtype_size(at));
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        switch (at) {
        case TETHER_DTYPE_FLOAT:
            ((float *)acc)[i] = fold == FOLD_PROD ? 1.0f : fold == FOLD_MAX ? -INFINITY : INFINITY;
            break;
        case TETHER_DTYPE_DOUBLE:
            ((double *)acc)[i] = fold == FOLD_PROD ? 1.0 : fold == FOLD_MAX ? -INFINITY : INFINITY;
            break;
        case TETHER_DTYPE_INT64:
            ((int64_t *)acc)[i] = fold == FOLD_PROD ? 1 : fold == FOLD_MAX ? INT64_MIN : INT64_MAX;
            break;
        default: ((uint64_t *)acc)[i] = fold == FOLD_PROD ? 1 : fold == FOLD_MAX ? 0 : UINT64_MAX; break;
        }
    }
}

/* ---- walking the coalesced shape -------------------------------------------------------- */

typedef struct red_plan {
    int n; /* coalesced dims */
    int64_t dims[TT_MAX_RANK];
    bool red[TT_MAX_RANK];
    int64_t xst[TT_MAX_RANK]; /* input strides, elements */
    int64_t ast[TT_MAX_RANK]; /* accumulator strides: 0 along reduced dims */
    int64_t outs, count;      /* output elements; input elements folded into each */
} red_plan;

static void red_plan_init(red_plan *p, int rank, const int64_t *dims, const bool *red)
{
    p->n = 0;
    p->outs = p->count = 1;
    for (int d = 0; d < rank; d++) {
        if (red[d])
            p->count *= dims[d];
        else
            p->outs *= dims[d];
        if (dims[d] == 1)
            continue;
        if (p->n > 0 && p->red[p->n - 1] == red[d]) {
            p->dims[p->n - 1] *= dims[d];
        } else {
            p->dims[p->n] = dims[d];
            p->red[p->n++] = red[d];
        }
    }
    if (p->n == 0) {
        p->dims[0] = 1;
        p->red[0] = false;
        p->n = 1;
    }
    int64_t xs = 1, as = 1;
    for (int d = p->n - 1; d >= 0; d--) {
        p->xst[d] = xs;
        xs *= p->dims[d];
        p->ast[d] = p->red[d] ? 0 : as;
        if (!p->red[d])
            as *= p->dims[d];
    }
}

typedef struct red_job {
    const red_plan *p;
    red_fn fn;
    const char *x;
    size_t xsz;
    char *acc; /* accumulators; with partials, chunk k's copy at k * outs */
    size_t asz;
    const char *shift; /* per output, in the compute type (MAP_EXP) */
    int split;         /* the dim divided between tasks */
    int64_t chunks;    /* > 0: split is a reduced dim, each chunk folds into its own copy */
} red_job;

/* Folds the part of the input with index in [lo, hi) along the split dim into acc. */
static void red_walk(const red_job *j, int64_t lo, int64_t hi, char *acc)
{
    const red_plan *p = j->p;
    int last = p->n - 1;
    int64_t beg[TT_MAX_RANK], end[TT_MAX_RANK], idx[TT_MAX_RANK];
    int64_t xo = 0, ao = 0;
    for (int d = 0; d < p->n; d++) {
        beg[d] = d == j->split ? lo : 0;
        end[d] = d == j->split ? hi : p->dims[d];
        idx[d] = beg[d];
        xo += beg[d] * p->xst[d];
        ao += beg[d] * p->ast[d];
    }
    if (lo >= hi)
        return;
    int64_t len = end[last] - beg[last];
    for (;;) {
        j->fn(acc + ao * (int64_t)j->asz, j->shift ? j->shift + ao * (int64_t)j->xsz : NULL,
              j->x + xo * (int64_t)j->xsz, len);
        int d = last - 1;
        for (; d >= 0; d--) {
            xo += p->xst[d];
            ao += p->ast[d];
            if (++idx[d] < end[d])
                break;
            xo -= (end[d] - beg[d]) * p->xst[d];
            ao -= (end[d] - beg[d]) * p->ast[d];
            idx[d] = beg[d];
        }
        if (d < 0)
            return;
    }
}

static void red_task(void *arg, int64_t b, int64_t e)
{
    const red_job *j = arg;
    if (!j->chunks) {
        red_walk(j, b, e, j->acc);
        return;
    }
    int64_t d = j->p->dims[j->split];
    for (int64_t k = b; k < e; k++)
        red_walk(j, k * d / j->chunks, (k + 1) * d / j->chunks, j->acc + k * j->p->outs * (int64_t)j->asz);
}

/* One pass of fold `ki` over x (compute type ct) into acc (already holding the identity).
 * Independent outputs are split over the pool; when there are too few of them (a reduction to
 * a handful of values), the reduced dims are split instead into per-chunk partial results. */
static tt_status red_pass(const tt_node *node, const red_plan *p, tt_dtype ct, int ki, red_fold fold, const void *x,
                          void *acc, const void *shift)
{
    tt_dtype at = acc_dtype(ct, fold);
    const red_kernels *k = &g_red_kernels[ct];
    red_job j = {.p = p,
                 .fn = p->red[p->n - 1] ? k->inner[ki] : k->rows[ki],
                 .x = x,
                 .xsz = tt_dtype_size(ct),
                 .acc = acc,
                 .asz = tt_dtype_size(at),
                 .shift = shift};
    int64_t work = p->outs * p->count;
    int threads = tt_threads();
    int kd = -1, rd = -1;
    for (int d = 0; d < p->n; d++) {
        int *best = p->red[d] ? &rd : &kd;
        if (*best < 0 || p->dims[d] > p->dims[*best])
            *best = d;
    }
    /* the innermost kept dim is only cut into blocks of a few cache lines */
    int64_t kept_units = kd < 0 ? 0 : kd == p->n - 1 ? p->dims[kd] / 64 : p->dims[kd];
    if (work < PAR_GRAIN || threads <= 1) {
        red_walk(&j, 0, p->dims[0], acc);
        return TT_OK;
    }
    if (kd >= 0 && (kept_units >= threads || rd < 0 || p->outs > 65536 || p->dims[rd] <= kept_units)) {
        j.split = kd;
        int64_t g = grain_for(work / p->dims[kd]);
        tt_parallel_for(p->dims[kd], kd == p->n - 1 && g < 64 ? 64 : g, red_task, &j);
        return TT_OK;
    }
    int64_t chunks = p->dims[rd] < threads ? p->dims[rd] : threads;
    if (chunks > work / PAR_GRAIN)
        chunks = work / PAR_GRAIN;
    if (chunks < 2) {
        red_walk(&j, 0, p->dims[0], acc);
        return TT_OK;
    }
    char *parts = tt_malloc_aligned((size_t)(chunks * p->outs) * j.asz);
    if (!parts)
        return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory for %" PRId64 " partial results", chunks);
    memcpy(parts, acc, (size_t)p->outs * j.asz);
    for (int64_t c = 1; c < chunks; c++)
        acc_fill_identity(parts + c * p->outs * (int64_t)j.asz, at, fold, p->outs);
    j.split = rd;
    j.chunks = chunks;
    j.acc = parts;
    tt_parallel_for(chunks, 1, red_task, &j);
    /* partials merge with the rows kernel of the accumulator type: acc[i] = fold(acc[i], part[i]) */
    red_fn merge = g_red_kernels[at].rows[ki == K_PROD || ki == K_MAX || ki == K_MIN ? ki : K_SUM];
    memcpy(acc, parts, (size_t)p->outs * j.asz);
    for (int64_t c = 1; c < chunks; c++)
        merge(acc, NULL, parts + c * p->outs * (int64_t)j.asz, p->outs);
    tt_free_aligned(parts);
    return TT_OK;
}

/* ---- finishing: accumulator to output ---------------------------------------------------- */

typedef struct fin_job {
    const reduce_kind *k;
    tt_dtype ct, at;
    const void *acc, *shift;
    void *y; /* compute type ct */
    int64_t count;
} fin_job;

#define FIN_FLOAT(T)                                                                                                   \
    static void fin_##T(const fin_job *j, int64_t b, int64_t e)                                                        \
    {                                                                                                                  \
        T *y = j->y;                                                                                                   \
        if (j->at == TETHER_DTYPE_FLOAT) { /* a float max/min: the accumulator is the result */                        \
            memcpy(y + b, (const T *)j->acc + b, (size_t)(e - b) * sizeof(T));                                         \
            return;                                                                                                    \
        }                                                                                                              \
        const double *a = j->acc;                                                                                      \
        const T *sh = j->shift;                                                                                        \
        double n = (double)j->count;                                                                                   \
        for (int64_t i = b; i < e; i++) {                                                                              \
            switch (j->k->finish) {                                                                                    \
            case FIN_NONE: y[i] = (T)a[i]; break;                                                                      \
            case FIN_MEAN: y[i] = (T)(a[i] / n); break;                                                                \
            case FIN_SQRT: y[i] = (T)sqrt(a[i]); break;                                                                \
            case FIN_LOG: y[i] = (T)log(a[i]); break;                                                                  \
            case FIN_LOGSUMEXP: y[i] = (T)(log(a[i]) + sh[i]); break;                                                  \
            }                                                                                                          \
        }                                                                                                              \
    }
FIN_FLOAT(float)
FIN_FLOAT(double)

#define FIN_INT(E, T)                                                                                                  \
    case E: {                                                                                                          \
        T *y = j->y;                                                                                                   \
        if (j->at == TETHER_DTYPE_INT64) {                                                                             \
            for (int64_t i = b; i < e; i++)                                                                            \
                y[i] = (T)((const int64_t *)j->acc)[i];                                                                \
            break;                                                                                                     \
        }                                                                                                              \
        const uint64_t *a = j->acc;                                                                                    \
        bool sgn = tt_dtype_is_signed(E);                                                                              \
        for (int64_t i = b; i < e; i++) {                                                                              \
            /* a signed sum wrapped in uint64: reinterpret (two's complement) */                                       \
            double v = sgn ? (double)(int64_t)a[i] : (double)a[i];                                                     \
            switch (j->k->finish) {                                                                                    \
            case FIN_MEAN: y[i] = sgn ? (T)((int64_t)a[i] / j->count) : (T)(a[i] / (uint64_t)j->count); break;         \
            case FIN_SQRT: store_saturate(y, E, i, sqrt(v)); break;                                                    \
            case FIN_LOG: store_saturate(y, E, i, log(v)); break;                                                      \
            default: y[i] = (T)a[i]; break;                                                                            \
            }                                                                                                          \
        }                                                                                                              \
        break;                                                                                                         \
    }

static void fin_range(void *arg, int64_t b, int64_t e)
{
    const fin_job *j = arg;
    switch (j->ct) {
        TT_FOR_INT(FIN_INT)
    case TETHER_DTYPE_FLOAT: fin_float(j, b, e); break;
    case TETHER_DTYPE_DOUBLE: fin_double(j, b, e); break;
    default: break;
    }
}

/* ---- driving a reduction ---------------------------------------------------------------- */

/* Reduces x over the dims marked in red into y (whose element count is that of the kept dims). */
static tt_status reduce_tensor(const tt_node *node, const reduce_kind *k, const tt_tensor *x, const bool *red,
                               tt_tensor *y)
{
    red_plan p;
    red_plan_init(&p, x->rank, x->dims, red);
    if (p.outs == 0)
        return TT_OK;
    if (p.count == 0) {
        double v = empty_value(k);
        for (int64_t i = 0; i < p.outs; i++)
            store_saturate(y->data, y->dtype, i, v);
        return TT_OK;
    }
    /* compute type: float for the half types; double for an integer log-sum-exp */
    tt_dtype t = x->dtype, ct = t;
    if (t == TETHER_DTYPE_FLOAT16 || t == TETHER_DTYPE_BFLOAT16)
        ct = TETHER_DTYPE_FLOAT;
    else if (k->map == MAP_EXP && !tt_dtype_is_float(t))
        ct = TETHER_DTYPE_DOUBLE;
    if (!g_red_kernels[ct].inner[K_SUM])
        return tt_op_error(node, TETHER_ERR_UNSUPPORTED, "dtype %s is not supported", tt_dtype_name(t));
    int64_t n = tt_tensor_numel(x);
    size_t csz = tt_dtype_size(ct);
    tt_dtype at = acc_dtype(ct, k->fold);
    void *xc = NULL, *yc = NULL, *shift = NULL;
    void *acc = tt_malloc_aligned((size_t)p.outs * tt_dtype_size(at));
    bool ok = acc != NULL;
    if (ok && ct != t) {
        ok = (xc = tt_malloc_aligned((size_t)n * csz)) && (yc = tt_malloc_aligned((size_t)p.outs * csz));
        if (ok && ct == TETHER_DTYPE_FLOAT)
            tt_to_f32(x->data, t, xc, n);
        else if (ok)
            for (int64_t i = 0; i < n; i++)
                ((double *)xc)[i] = tt_load_f64(x->data, t, (size_t)i);
    }
    if (ok && k->map == MAP_EXP)
        ok = (shift = tt_malloc_aligned((size_t)p.outs * csz)) != NULL;
    tt_status s = ok ? TT_OK : tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory");
    const void *xin = xc ? xc : x->data;
    if (s == TT_OK && shift) {
        /* log-sum-exp: e^(x - max) cannot overflow; a non-finite max leaves x unshifted so that
         * the sum itself yields inf, -inf or NaN as it should */
        acc_fill_identity(shift, ct, FOLD_MAX, p.outs);
        s = red_pass(node, &p, ct, K_MAX, FOLD_MAX, xin, shift, NULL);
        for (int64_t i = 0; s == TT_OK && i < p.outs; i++) {
            if (ct == TETHER_DTYPE_FLOAT && !isfinite(((float *)shift)[i]))
                ((float *)shift)[i] = 0;
            else if (ct == TETHER_DTYPE_DOUBLE && !isfinite(((double *)shift)[i]))
                ((double *)shift)[i] = 0;
        }
    }
    if (s == TT_OK) {
        acc_fill_identity(acc, at, k->fold, p.outs);
        s = red_pass(node, &p, ct, kernel_index(k->fold, k->map), k->fold, xin, acc, shift);
    }
    if (s == TT_OK) {
        fin_job fj = {.k = k, .ct = ct, .at = at, .acc = acc, .shift = shift, .y = yc ? yc : y->data, .count = p.count};
        tt_parallel_for(p.outs, PAR_GRAIN, fin_range, &fj);
        if (yc && ct == TETHER_DTYPE_FLOAT)
            tt_from_f32(yc, y->data, t, p.outs);
        else if (yc)
            for (int64_t i = 0; i < p.outs; i++)
                store_saturate(y->data, t, i, ((double *)yc)[i]);
    }
    tt_free_aligned(acc);
    tt_free_aligned(xc);
    tt_free_aligned(yc);
    tt_free_aligned(shift);
    return s;
}

/* ---- the Reduce* ops ---------------------------------------------------------------------- */

typedef struct reduce_attrs {
    const reduce_kind *kind;
    bool keepdims, noop_with_empty_axes, axes_input;
    int64_t naxes; /* attribute axes; 0 when absent */
    int64_t axes[TT_MAX_RANK];
} reduce_attrs;

static tt_status prepare_reduce(tt_node *node, void **state)
{
    const reduce_kind *k = NULL;
    for (size_t i = 0; i < sizeof g_reduce_kinds / sizeof g_reduce_kinds[0]; i++)
        if (strcmp(node->op_type, g_reduce_kinds[i].name) == 0)
            k = &g_reduce_kinds[i];
    if (!k)
        return tt_op_error(node, TETHER_ERR_INTERNAL, "not a reduction");
    reduce_attrs *ra = tt_calloc(1, sizeof *ra);
    if (!ra)
        return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory");
    ra->kind = k;
    ra->keepdims = tt_attr_int(node, "keepdims", 1) != 0;
    ra->axes_input = node->opset >= k->axes_input_since;
    ra->noop_with_empty_axes = ra->axes_input && tt_attr_int(node, "noop_with_empty_axes", 0) != 0;
    size_t n = 0;
    const int64_t *axes = ra->axes_input ? NULL : tt_attr_ints(node, "axes", &n);
    if (n > TT_MAX_RANK) {
        tt_free(ra);
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "%zu axes given; at most %d can be distinct", n,
                           TT_MAX_RANK);
    }
    if (axes)
        memcpy(ra->axes, axes, n * sizeof *axes);
    ra->naxes = (int64_t)n;
    *state = ra;
    return TT_OK;
}

/* Marks the dims the axes select. No axes reduce every dim, or none with noop_with_empty_axes
 * (each output then folds a single element: the op's map and finish still apply). */
static tt_status reduce_mask(const tt_node *node, const int64_t *axes, int64_t n, bool noop, int rank, bool *red)
{
    for (int d = 0; d < rank; d++)
        red[d] = n == 0 && !noop;
    for (int64_t i = 0; i < n; i++) {
        int a;
        TT_TRY(tt_norm_axis(node, axes[i], rank, false, &a));
        if (red[a])
            return tt_op_error(node, TETHER_ERR_SHAPE, "axis %" PRId64 " is given twice", axes[i]);
        red[a] = true;
    }
    return TT_OK;
}

static void reduced_dims(int rank, const int64_t *dims, const bool *red, bool keepdims, int *out_rank, int64_t *out)
{
    int r = 0;
    for (int d = 0; d < rank; d++) {
        if (!red[d])
            out[r++] = dims[d];
        else if (keepdims)
            out[r++] = 1;
    }
    *out_rank = r;
}

static tt_status infer_reduce(tt_ictx *c)
{
    const reduce_attrs *ra = c->node->state;
    const tt_type *x;
    TT_TRY(tt_need_input(c, 0, &x));
    int64_t axes[TT_MAX_RANK], n = ra->naxes;
    bool known = true;
    memcpy(axes, ra->axes, sizeof axes);
    if (ra->axes_input && tt_iin(c, 1)) {
        tt_status s;
        if (!tt_infer_ints(c, 1, axes, TT_MAX_RANK, &n, &s)) {
            if (s != TT_OK)
                return s;
            known = false;
        }
    } else if (ra->axes_input) {
        n = 0;
    }
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (!known) {
        /* the values of axes come at run time, but the rank may be known already */
        const tt_type *at = tt_iin(c, 1);
        int64_t na = at->rank == 1 ? at->dims[0] : TT_DIM_UNKNOWN;
        int64_t dims[TT_MAX_RANK];
        for (int d = 0; d < x->rank; d++)
            dims[d] = TT_DIM_UNKNOWN;
        int r = -1;
        if (ra->keepdims)
            r = x->rank;
        else if (na > 0 && na <= x->rank)
            r = x->rank - (int)na;
        else if (na == 0)
            r = ra->noop_with_empty_axes ? x->rank : 0;
        if (na == 0 && ra->noop_with_empty_axes)
            memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
        tt_infer_tensor(c, 0, x->dtype, r, dims);
        return TT_OK;
    }
    bool red[TT_MAX_RANK];
    TT_TRY(reduce_mask(c->node, axes, n, ra->noop_with_empty_axes, x->rank, red));
    int r;
    int64_t dims[TT_MAX_RANK];
    reduced_dims(x->rank, x->dims, red, ra->keepdims, &r, dims);
    tt_infer_tensor(c, 0, x->dtype, r, dims);
    return TT_OK;
}

static tt_status run_reduce(tt_kctx *c)
{
    const reduce_attrs *ra = c->state;
    const tt_tensor *x = tt_kin(c, 0), *at = tt_kin(c, 1);
    int64_t axes[TT_MAX_RANK], n = ra->naxes;
    memcpy(axes, ra->axes, sizeof axes);
    if (ra->axes_input) {
        n = 0;
        if (at)
            TT_TRY(tt_tensor_to_ints(c->node, at, axes, TT_MAX_RANK, &n));
    }
    bool red[TT_MAX_RANK];
    TT_TRY(reduce_mask(c->node, axes, n, ra->noop_with_empty_axes, x->rank, red));
    if (x->dtype == TETHER_DTYPE_BOOL) { /* ReduceMax/Min (opset 20): bools are bytes 0 and 1 */
        tt_tensor xb = *x, yb = *tt_kout(c, 0);
        xb.dtype = yb.dtype = TETHER_DTYPE_UINT8;
        return reduce_tensor(c->node, ra->kind, &xb, red, &yb);
    }
    return reduce_tensor(c->node, ra->kind, x, red, tt_kout(c, 0));
}

static uint64_t flops_input(const tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    uint64_t n = 1;
    for (int i = 0; i < x->rank; i++)
        n *= (uint64_t)x->dims[i];
    return n;
}

/* ==== the ops along one axis ===================================================================
 * Each views its input as [outer, n, inner] around the axis. */

static void split_at_axis(const tt_tensor *x, int axis, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = tt_dims_prod(x->dims, 0, axis);
    *n = x->dims[axis];
    *inner = tt_dims_prod(x->dims, axis + 1, x->rank);
}

/* Inputs of the half types are widened to float for the kernel and the result narrowed back. */
static tt_status widen(const tt_node *node, const tt_tensor *x, void **buf)
{
    int64_t n = tt_tensor_numel(x);
    *buf = tt_malloc_aligned((size_t)n * sizeof(float));
    if (!*buf)
        return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory");
    tt_to_f32(x->data, x->dtype, *buf, n);
    return TT_OK;
}

static bool is_half(tt_dtype t)
{
    return t == TETHER_DTYPE_FLOAT16 || t == TETHER_DTYPE_BFLOAT16;
}

/* ---- ArgMax, ArgMin --------------------------------------------------------------------- */

typedef struct arg_job {
    const void *x;
    int64_t *y;
    int64_t n, inner;
    bool is_max, last;
    tt_dtype t;
} arg_job;

/* Candidate v beats the best b: the larger (smaller) one, NaN first as in numpy; on a tie the
 * later index wins only with select_last_index. */
#define ARG_BEATS_F(v, b, mx, last)                                                                                    \
    (isnan(b) ? (last) && isnan(v) : isnan(v) || ((mx) ? (v) > (b) : (v) < (b)) || ((last) && (v) == (b)))
#define ARG_BEATS_I(v, b, mx, last) (((mx) ? (v) > (b) : (v) < (b)) || ((last) && (v) == (b)))

#define ARG_KERNEL(T, BEATS)                                                                                           \
    static void arg_##T(const arg_job *j, int64_t o)                                                                   \
    {                                                                                                                  \
        const T *x = (const T *)j->x + o * j->n * j->inner;                                                            \
        int64_t *y = j->y + o * j->inner;                                                                              \
        bool mx = j->is_max, last = j->last;                                                                           \
        if (j->inner == 1) { /* one contiguous row: keep the best in a register */                                     \
            T b = x[0];                                                                                                \
            int64_t bi = 0;                                                                                            \
            for (int64_t k = 1; k < j->n; k++)                                                                         \
                if (BEATS(x[k], b, mx, last))                                                                          \
                    b = x[k], bi = k;                                                                                  \
            y[0] = bi;                                                                                                 \
            return;                                                                                                    \
        }                                                                                                              \
        for (int64_t i = 0; i < j->inner; i++)                                                                         \
            y[i] = 0;                                                                                                  \
        for (int64_t k = 1; k < j->n; k++)                                                                             \
            for (int64_t i = 0; i < j->inner; i++) {                                                                   \
                T v = x[k * j->inner + i], b = x[y[i] * j->inner + i];                                                 \
                if (BEATS(v, b, mx, last))                                                                             \
                    y[i] = k;                                                                                          \
            }                                                                                                          \
    }
ARG_KERNEL(float, ARG_BEATS_F)
ARG_KERNEL(double, ARG_BEATS_F)
#define ARG_KERNEL_INT(E, T) ARG_KERNEL(T, ARG_BEATS_I)
TT_FOR_INT(ARG_KERNEL_INT)

static void arg_range(void *arg, int64_t b, int64_t e)
{
    const arg_job *j = arg;
    for (int64_t o = b; o < e; o++) {
        switch (j->t) {
#define ARG_CASE(E, T)                                                                                                 \
    case E: arg_##T(j, o); break;
            TT_FOR_NATIVE(ARG_CASE)
#undef ARG_CASE
        default: break;
        }
    }
}

static tt_status infer_arg(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_need_input(c, 0, &x));
    bool keep = tt_attr_int(c->node, "keepdims", 1) != 0;
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, -1, NULL);
        return TT_OK;
    }
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    bool red[TT_MAX_RANK] = {false};
    red[axis] = true;
    int r;
    int64_t dims[TT_MAX_RANK];
    reduced_dims(x->rank, x->dims, red, keep, &r, dims);
    tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, r, dims);
    return TT_OK;
}

static tt_status run_arg(tt_kctx *c, bool is_max)
{
    const tt_tensor *x = tt_kin(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    arg_job j = {.x = x->data,
                 .y = tt_kout(c, 0)->data,
                 .is_max = is_max,
                 .t = x->dtype,
                 .last = tt_attr_int(c->node, "select_last_index", 0) != 0};
    int64_t outer;
    split_at_axis(x, axis, &outer, &j.n, &j.inner);
    if (outer * j.inner == 0)
        return TT_OK;
    if (j.n == 0)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "cannot take %s over axis %d of size 0", c->node->op_type,
                           axis);
    void *wide = NULL;
    if (is_half(x->dtype)) {
        TT_TRY(widen(c->node, x, &wide));
        j.x = wide;
        j.t = TETHER_DTYPE_FLOAT;
    }
    tt_parallel_for(outer, grain_for(j.n * j.inner), arg_range, &j);
    tt_free_aligned(wide);
    return TT_OK;
}

static tt_status run_argmax(tt_kctx *c)
{
    return run_arg(c, true);
}
static tt_status run_argmin(tt_kctx *c)
{
    return run_arg(c, false);
}

/* ---- Softmax, LogSoftmax, Hardmax ------------------------------------------------------- */

enum { SM_SOFTMAX, SM_LOG, SM_HARD };

typedef struct sm_job {
    const void *x;
    void *y; /* float, or double with dbl */
    bool dbl;
    int64_t outer, n, inner, blocks; /* inner is walked in blocks of SM_BLOCK columns */
    int kind;
} sm_job;

#define SM_BLOCK 256

/* Hardmax of a row: 1 at the first maximum (NaN counting as the largest, as in ArgMax). */
#define HARD_ROW(T)                                                                                                    \
    static void hard_row_##T(const T *x, T *y, int64_t n)                                                              \
    {                                                                                                                  \
        int64_t best = 0;                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                                              \
            y[i] = 0;                                                                                                  \
            if (ARG_BEATS_F(x[i], x[best], true, false))                                                               \
                best = i;                                                                                              \
        }                                                                                                              \
        y[best] = 1;                                                                                                   \
    }
HARD_ROW(float)
HARD_ROW(double)

/* One contiguous row: the max is subtracted before exponentiating, so no term overflows and
 * the largest is exactly 1. The sum is kept in double: log-softmax of the row's largest
 * entries is -log(sum), whose precision is that of sum - 1. */
static void sm_row_float(const float *x, float *y, int64_t n, int kind)
{
    if (kind == SM_HARD) {
        hard_row_float(x, y, n);
        return;
    }
    /* two vectors per step, so consecutive exponentials overlap in the pipeline */
    int64_t i = 0, n8 = n - n % 8;
    v4f m0 = (v4f){0} - INFINITY, m1 = m0;
    for (; i < n8; i += 8) {
        v4f a = v4f_load(x + i), b = v4f_load(x + i + 4);
        m0 = v4f_select(a > m0, a, m0);
        m1 = v4f_select(b > m1, b, m1);
    }
    m0 = v4f_select(m1 > m0, m1, m0);
    float m = -INFINITY;
    for (int k = 0; k < 4; k++)
        m = m0[k] > m ? m0[k] : m;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    v4d s0 = {0}, s1 = {0};
    double sum = 0;
    for (i = 0; i < n8; i += 8) {
        v4f a = exp4_le0(v4f_load(x + i) - m), b = exp4_le0(v4f_load(x + i + 4) - m);
        if (kind == SM_SOFTMAX) {
            v4f_store(y + i, a);
            v4f_store(y + i + 4, b);
        }
        s0 += __builtin_convertvector(a, v4d);
        s1 += __builtin_convertvector(b, v4d);
    }
    for (; i < n; i++) {
        float e = exp_le0(x[i] - m);
        if (kind == SM_SOFTMAX)
            y[i] = e;
        sum += e;
    }
    s0 += s1;
    for (int k = 0; k < 4; k++)
        sum += s0[k];
    int64_t n4 = n - n % 4;
    if (kind == SM_SOFTMAX) {
        float inv = (float)(1 / sum);
        for (i = 0; i < n4; i += 4)
            v4f_store(y + i, v4f_load(y + i) * inv);
        for (; i < n; i++)
            y[i] *= inv;
    } else {
        float ls = (float)log(sum);
        for (i = 0; i < n4; i += 4)
            v4f_store(y + i, (v4f_load(x + i) - m) - ls);
        for (; i < n; i++)
            y[i] = (x[i] - m) - ls;
    }
}

static void sm_row_double(const double *x, double *y, int64_t n, int kind)
{
    if (kind == SM_HARD) {
        hard_row_double(x, y, n);
        return;
    }
    double m = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    for (int64_t i = 0; i < n; i++) {
        double e = exp(x[i] - m);
        if (kind == SM_SOFTMAX)
            y[i] = e;
        sum += e;
    }
    double f = kind == SM_SOFTMAX ? 1 / sum : log(sum);
    for (int64_t i = 0; i < n; i++)
        y[i] = kind == SM_SOFTMAX ? y[i] * f : (x[i] - m) - f;
}

/* A block of w columns of an [n, inner] slice: the same steps with a running value per column. */
#define SM_COLS(T, ACC, EXPF)                                                                                          \
    static void sm_cols_##T(const T *x, T *y, int64_t n, int64_t inner, int64_t w, int kind)                           \
    {                                                                                                                  \
        T m[SM_BLOCK], f[SM_BLOCK];                                                                                    \
        ACC s[SM_BLOCK];                                                                                               \
        int64_t best[SM_BLOCK];                                                                                        \
        for (int64_t i = 0; i < w; i++)                                                                                \
            m[i] = -INFINITY, s[i] = 0, best[i] = 0;                                                                   \
        for (int64_t k = 0; k < n; k++)                                                                                \
            for (int64_t i = 0; i < w; i++) {                                                                          \
                T v = x[k * inner + i];                                                                                \
                if (kind == SM_HARD && ARG_BEATS_F(v, x[best[i] * inner + i], true, false))                            \
                    best[i] = k;                                                                                       \
                m[i] = v > m[i] ? v : m[i];                                                                            \
            }                                                                                                          \
        if (kind == SM_HARD) {                                                                                         \
            for (int64_t k = 0; k < n; k++)                                                                            \
                for (int64_t i = 0; i < w; i++)                                                                        \
                    y[k * inner + i] = best[i] == k;                                                                   \
            return;                                                                                                    \
        }                                                                                                              \
        for (int64_t k = 0; k < n; k++)                                                                                \
            for (int64_t i = 0; i < w; i++) {                                                                          \
                T e = EXPF(x[k * inner + i] - m[i]);                                                                   \
                if (kind == SM_SOFTMAX)                                                                                \
                    y[k * inner + i] = e;                                                                              \
                s[i] += e;                                                                                             \
            }                                                                                                          \
        for (int64_t i = 0; i < w; i++)                                                                                \
            f[i] = (T)(kind == SM_SOFTMAX ? 1 / s[i] : log(s[i]));                                                     \
        for (int64_t k = 0; k < n; k++)                                                                                \
            for (int64_t i = 0; i < w; i++) {                                                                          \
                if (kind == SM_SOFTMAX)                                                                                \
                    y[k * inner + i] *= f[i];                                                                          \
                else                                                                                                   \
                    y[k * inner + i] = (x[k * inner + i] - m[i]) - f[i];                                               \
            }                                                                                                          \
    }

#define SM_RANGE(T)                                                                                                    \
    static void sm_range_##T(const sm_job *j, int64_t b, int64_t e)                                                    \
    {                                                                                                                  \
        for (int64_t t = b; t < e; t++) {                                                                              \
            int64_t o = t / j->blocks, c0 = (t % j->blocks) * SM_BLOCK;                                                \
            const T *x = (const T *)j->x + o * j->n * j->inner + c0;                                                   \
            T *y = (T *)j->y + o * j->n * j->inner + c0;                                                               \
            if (j->inner == 1)                                                                                         \
                sm_row_##T(x, y, j->n, j->kind);                                                                       \
            else                                                                                                       \
                sm_cols_##T(x, y, j->n, j->inner, j->inner - c0 < SM_BLOCK ? j->inner - c0 : SM_BLOCK, j->kind);       \
        }                                                                                                              \
    }

SM_COLS(float, double, exp_le0)
SM_RANGE(float)
SM_COLS(double, double, exp)
SM_RANGE(double)

static void sm_task(void *arg, int64_t b, int64_t e)
{
    const sm_job *j = arg;
    if (j->dbl)
        sm_range_double(j, b, e);
    else
        sm_range_float(j, b, e);
}

/* Before opset 13 the input is coerced to 2-D at axis (default 1); from 13 the op runs along
 * one axis (default -1). */
static tt_status softmax_axis(const tt_node *node, int rank, int *axis)
{
    bool coerce = node->opset < 13;
    return tt_norm_axis(node, tt_attr_int(node, "axis", coerce ? 1 : -1), rank, false, axis);
}

static tt_status infer_softmax(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_need_input(c, 0, &x));
    if (x->rank >= 0) {
        int axis;
        TT_TRY(softmax_axis(c->node, x->rank, &axis));
    }
    return tt_infer_same(c, 0, 0);
}

static tt_status run_softmax_kind(tt_kctx *c, int kind)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int axis;
    TT_TRY(softmax_axis(c->node, x->rank, &axis));
    sm_job j = {.x = x->data, .y = y->data, .kind = kind, .dbl = x->dtype == TETHER_DTYPE_DOUBLE};
    if (c->node->opset < 13) {
        j.outer = tt_dims_prod(x->dims, 0, axis);
        j.n = tt_dims_prod(x->dims, axis, x->rank);
        j.inner = 1;
    } else {
        split_at_axis(x, axis, &j.outer, &j.n, &j.inner);
    }
    int64_t total = j.outer * j.n * j.inner;
    if (total == 0)
        return TT_OK;
    void *wx = NULL, *wy = NULL;
    if (is_half(x->dtype)) {
        TT_TRY(widen(c->node, x, &wx));
        wy = tt_malloc_aligned((size_t)total * sizeof(float));
        if (!wy) {
            tt_free_aligned(wx);
            return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
        }
        j.x = wx;
        j.y = wy;
    }
    j.blocks = (j.inner + SM_BLOCK - 1) / SM_BLOCK;
    int64_t per = j.n * (j.inner < SM_BLOCK ? j.inner : SM_BLOCK);
    tt_parallel_for(j.outer * j.blocks, grain_for(per), sm_task, &j);
    if (wy)
        tt_from_f32(wy, y->data, y->dtype, total);
    tt_free_aligned(wx);
    tt_free_aligned(wy);
    return TT_OK;
}

static tt_status run_softmax(tt_kctx *c)
{
    return run_softmax_kind(c, SM_SOFTMAX);
}
static tt_status run_logsoftmax(tt_kctx *c)
{
    return run_softmax_kind(c, SM_LOG);
}
static tt_status run_hardmax(tt_kctx *c)
{
    return run_softmax_kind(c, SM_HARD);
}

static uint64_t flops_softmax(const tt_ictx *c)
{
    return 4 * flops_input(c);
}

/* ---- CumSum --------------------------------------------------------------------------------- */

typedef struct cs_job {
    const void *x;
    void *y;
    int64_t n, inner, blocks;
    bool exclusive, reverse, prod; /* prod: CumProd */
    tt_dtype t;
} cs_job;

/* A block of w columns of one [n, inner] slice, with a running sum per column: floats sum in
 * double, integers in uint64 (wrapping as the C types would, without the undefined overflow). */
#define CS_KERNEL(T, A)                                                                                                \
    static void cs_##T(const cs_job *j, int64_t o, int64_t c0, int64_t w)                                              \
    {                                                                                                                  \
        const T *x = (const T *)j->x + o * j->n * j->inner + c0;                                                       \
        T *y = (T *)j->y + o * j->n * j->inner + c0;                                                                   \
        A acc[SM_BLOCK];                                                                                               \
        for (int64_t i = 0; i < w; i++)                                                                                \
            acc[i] = j->prod;                                                                                          \
        for (int64_t s = 0; s < j->n; s++) {                                                                           \
            int64_t k = j->reverse ? j->n - 1 - s : s;                                                                 \
            const T *xr = x + k * j->inner;                                                                            \
            T *yr = y + k * j->inner;                                                                                  \
            if (j->exclusive)                                                                                          \
                for (int64_t i = 0; i < w; i++) {                                                                      \
                    yr[i] = (T)acc[i];                                                                                 \
                    acc[i] = j->prod ? acc[i] * (A)xr[i] : acc[i] + (A)xr[i];                                          \
                }                                                                                                      \
            else                                                                                                       \
                for (int64_t i = 0; i < w; i++) {                                                                      \
                    acc[i] = j->prod ? acc[i] * (A)xr[i] : acc[i] + (A)xr[i];                                          \
                    yr[i] = (T)acc[i];                                                                                 \
                }                                                                                                      \
        }                                                                                                              \
    }
CS_KERNEL(float, double)
CS_KERNEL(double, double)
CS_KERNEL(int32_t, uint64_t)
CS_KERNEL(int64_t, uint64_t)
CS_KERNEL(uint32_t, uint64_t)
CS_KERNEL(uint64_t, uint64_t)

static void cs_range(void *arg, int64_t b, int64_t e)
{
    const cs_job *j = arg;
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / j->blocks, c0 = (t % j->blocks) * SM_BLOCK;
        int64_t w = j->inner - c0 < SM_BLOCK ? j->inner - c0 : SM_BLOCK;
        switch (j->t) {
        case TETHER_DTYPE_FLOAT: cs_float(j, o, c0, w); break;
        case TETHER_DTYPE_DOUBLE: cs_double(j, o, c0, w); break;
        case TETHER_DTYPE_INT32: cs_int32_t(j, o, c0, w); break;
        case TETHER_DTYPE_INT64: cs_int64_t(j, o, c0, w); break;
        case TETHER_DTYPE_UINT32: cs_uint32_t(j, o, c0, w); break;
        case TETHER_DTYPE_UINT64: cs_uint64_t(j, o, c0, w); break;
        default: break;
        }
    }
}

static tt_status infer_cumsum(tt_ictx *c)
{
    const tt_type *x, *axis;
    TT_TRY(tt_need_input(c, 0, &x));
    TT_TRY(tt_need_input(c, 1, &axis));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64)));
    return tt_infer_same(c, 0, 0);
}

static tt_status run_cumsum(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *at = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    if (!at || tt_tensor_numel(at) != 1 || at->rank > 1)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "axis must be a scalar");
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_load_i64(at->data, at->dtype, 0), x->rank, false, &axis));
    cs_job j = {.x = x->data,
                .y = y->data,
                .t = x->dtype,
                .exclusive = tt_attr_int(c->node, "exclusive", 0) != 0,
                .reverse = tt_attr_int(c->node, "reverse", 0) != 0,
                .prod = strcmp(c->node->op_type, "CumProd") == 0};
    int64_t outer, total = tt_tensor_numel(x);
    split_at_axis(x, axis, &outer, &j.n, &j.inner);
    if (total == 0)
        return TT_OK;
    void *wx = NULL, *wy = NULL;
    if (is_half(x->dtype)) {
        TT_TRY(widen(c->node, x, &wx));
        if (!(wy = tt_malloc_aligned((size_t)total * sizeof(float)))) {
            tt_free_aligned(wx);
            return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
        }
        j.x = wx, j.y = wy, j.t = TETHER_DTYPE_FLOAT;
    }
    j.blocks = (j.inner + SM_BLOCK - 1) / SM_BLOCK;
    tt_parallel_for(outer * j.blocks, grain_for(j.n * (j.inner < SM_BLOCK ? j.inner : SM_BLOCK)), cs_range, &j);
    if (wy)
        tt_from_f32(wy, y->data, y->dtype, total);
    tt_free_aligned(wx);
    tt_free_aligned(wy);
    return TT_OK;
}

/* ---- TopK ------------------------------------------------------------------------------------- */

typedef struct topk_job {
    const void *keys; /* the input, or its float copy for the half types */
    const char *x;    /* the input, whose elements are copied to the values */
    char *vals;       /* NULL when the model does not take the values */
    int64_t *idx;
    int64_t n, inner, k;
    size_t esz;
    bool largest;
    tt_dtype t;
} topk_job;

/* Elements are ranked by a strict total order: by value (NaN above everything, as in numpy),
 * then the lower index first, which is the order the spec asks for among equal values. The k
 * best are selected with a heap whose root is the worst kept so far (O(n log k)), and the heap
 * is then sorted in place. The heap lives in the slice's row of the index output. */
#define TOPK_GT_F(a, b) ((a) > (b) || (isnan(a) && !isnan(b)))
#define TOPK_EQ_F(a, b) ((a) == (b) || (isnan(a) && isnan(b)))
#define TOPK_GT_I(a, b) ((a) > (b))
#define TOPK_EQ_I(a, b) ((a) == (b))

#define TOPK_KERNEL(T, GT, EQ)                                                                                         \
    static bool topk_before_##T(const T *x, int64_t st, bool lg, int64_t a, int64_t b)                                 \
    {                                                                                                                  \
        T va = x[a * st], vb = x[b * st];                                                                              \
        if (EQ(va, vb))                                                                                                \
            return a < b;                                                                                              \
        return lg ? GT(va, vb) : GT(vb, va);                                                                           \
    }                                                                                                                  \
    static void topk_sift_##T(const T *x, int64_t st, bool lg, int64_t *h, int64_t hs, int64_t p, int64_t len)         \
    {                                                                                                                  \
        for (;;) {                                                                                                     \
            int64_t l = 2 * p + 1, w = l;                                                                              \
            if (l >= len)                                                                                              \
                return;                                                                                                \
            if (l + 1 < len && topk_before_##T(x, st, lg, h[l * hs], h[(l + 1) * hs]))                                 \
                w = l + 1;                                                                                             \
            if (!topk_before_##T(x, st, lg, h[p * hs], h[w * hs]))                                                     \
                return;                                                                                                \
            int64_t tmp = h[p * hs];                                                                                   \
            h[p * hs] = h[w * hs];                                                                                     \
            h[w * hs] = tmp;                                                                                           \
            p = w;                                                                                                     \
        }                                                                                                              \
    }                                                                                                                  \
    static void topk_##T(const topk_job *j, int64_t s)                                                                 \
    {                                                                                                                  \
        int64_t o = s / j->inner, i = s % j->inner, st = j->inner, k = j->k;                                           \
        const T *x = (const T *)j->keys + o * j->n * st + i;                                                           \
        int64_t *h = j->idx + o * k * st + i;                                                                          \
        bool lg = j->largest;                                                                                          \
        for (int64_t e = 0; e < j->n; e++) {                                                                           \
            if ((e & 65535) == 65535 && !tt_stop_work(65536u * 8))                                                     \
                return; /* a huge row stops with the run */                                                            \
            int64_t p;                                                                                                 \
            if (e < k) { /* fill: sift the new element up towards the root */                                          \
                for (p = e; p > 0 && topk_before_##T(x, st, lg, h[(p - 1) / 2 * st], e); p = (p - 1) / 2)              \
                    h[p * st] = h[(p - 1) / 2 * st];                                                                   \
                h[p * st] = e;                                                                                         \
            } else if (topk_before_##T(x, st, lg, e, h[0])) {                                                          \
                h[0] = e;                                                                                              \
                topk_sift_##T(x, st, lg, h, st, 0, k);                                                                 \
            }                                                                                                          \
        }                                                                                                              \
        for (int64_t end = k - 1; end > 0; end--) {                                                                    \
            if ((end & 65535) == 0 && !tt_stop_work(65536u * 8))                                                       \
                return;                                                                                                \
            int64_t tmp = h[0];                                                                                        \
            h[0] = h[end * st];                                                                                        \
            h[end * st] = tmp;                                                                                         \
            topk_sift_##T(x, st, lg, h, st, 0, end);                                                                   \
        }                                                                                                              \
        if (!j->vals)                                                                                                  \
            return;                                                                                                    \
        const char *xs = j->x + (size_t)(o * j->n * st + i) * j->esz;                                                  \
        char *v = j->vals + (size_t)(o * k * st + i) * j->esz;                                                         \
        for (int64_t r = 0; r < k; r++)                                                                                \
            memcpy(v + (size_t)(r * st) * j->esz, xs + (size_t)(h[r * st] * st) * j->esz, j->esz);                     \
    }
TOPK_KERNEL(float, TOPK_GT_F, TOPK_EQ_F)
TOPK_KERNEL(double, TOPK_GT_F, TOPK_EQ_F)
#define TOPK_KERNEL_INT(E, T) TOPK_KERNEL(T, TOPK_GT_I, TOPK_EQ_I)
TT_FOR_INT(TOPK_KERNEL_INT)

static void topk_range(void *arg, int64_t b, int64_t e)
{
    const topk_job *j = arg;
    for (int64_t s = b; s < e; s++) {
        switch (j->t) {
#define TOPK_CASE(E, T)                                                                                                \
    case E: topk_##T(j, s); break;
            TT_FOR_NATIVE(TOPK_CASE)
#undef TOPK_CASE
        default: break;
        }
    }
}

/* K: the attribute before opset 10, then a one-element input. false when not known yet. */
static bool topk_k(const tt_node *node, const tt_tensor *kt, int64_t *k, tt_status *s)
{
    *s = TT_OK;
    if (node->opset < 10) {
        *k = tt_attr_int(node, "k", -1);
        return true;
    }
    if (!kt)
        return false;
    if (tt_tensor_numel(kt) != 1 || kt->rank > 1 || !tt_dtype_is_int(kt->dtype)) {
        *s = tt_op_error(node, TETHER_ERR_SHAPE, "K must be a one-element integer tensor");
        return false;
    }
    *k = tt_load_i64(kt->data, kt->dtype, 0);
    return true;
}

static tt_status check_k(const tt_node *node, int64_t k, int64_t n, int axis)
{
    if (k < 0 || k > n)
        return tt_op_error(node, TETHER_ERR_RUNTIME, "k = %" PRId64 " is out of range [0, %" PRId64 "] for axis %d", k,
                           n, axis);
    return TT_OK;
}

static tt_status infer_topk(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_need_input(c, 0, &x));
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        tt_infer_tensor(c, 1, TETHER_DTYPE_INT64, -1, NULL);
        return TT_OK;
    }
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    int64_t k, dims[TT_MAX_RANK];
    tt_status s;
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    dims[axis] = TT_DIM_UNKNOWN;
    if (topk_k(c->node, tt_ival(c, 1), &k, &s)) {
        if (x->dims[axis] >= 0)
            TT_TRY(check_k(c->node, k, x->dims[axis], axis));
        else if (k < 0)
            return check_k(c->node, k, 0, axis);
        dims[axis] = k;
    }
    TT_TRY(s);
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    tt_infer_tensor(c, 1, TETHER_DTYPE_INT64, x->rank, dims);
    return TT_OK;
}

static tt_status run_topk(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    tt_tensor *vals = tt_kout(c, 0), *idx = tt_kout(c, 1);
    topk_job j = {.keys = x->data,
                  .x = x->data,
                  .vals = vals ? vals->data : NULL,
                  .idx = idx ? idx->data : NULL,
                  .esz = tt_dtype_size(x->dtype),
                  .t = x->dtype,
                  .largest = tt_attr_int(c->node, "largest", 1) != 0};
    tt_status s;
    int64_t outer;
    split_at_axis(x, axis, &outer, &j.n, &j.inner);
    if (!topk_k(c->node, tt_kin(c, 1), &j.k, &s))
        return s != TT_OK ? s : tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input K is required");
    TT_TRY(check_k(c->node, j.k, j.n, axis));
    if (outer * j.inner * j.k == 0)
        return TT_OK;
    void *wide = NULL, *scratch = NULL;
    if (!idx && !(j.idx = scratch = tt_malloc_aligned((size_t)(outer * j.inner * j.k) * sizeof(int64_t))))
        return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
    if (is_half(x->dtype)) {
        tt_status ws = widen(c->node, x, &wide);
        if (ws != TT_OK) {
            tt_free_aligned(scratch);
            return ws;
        }
        j.keys = wide;
        j.t = TETHER_DTYPE_FLOAT;
    }
    tt_parallel_for_stoppable(outer * j.inner, grain_for(j.n), (double)j.n * (log2((double)j.k + 1) + 1), topk_range,
                              &j);
    tt_free_aligned(wide);
    tt_free_aligned(scratch);
    return TT_OK;
}

/* ---- the table ---------------------------------------------------------------------------- */

#define RED_TYPES                                                                                                      \
    (TT_DTS_FLOAT | TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64) | TT_DT(TETHER_DTYPE_UINT32) |               \
     TT_DT(TETHER_DTYPE_UINT64))
#define RED_TYPES_CMP (RED_TYPES | TT_DT(TETHER_DTYPE_INT8) | TT_DT(TETHER_DTYPE_UINT8))
#define RED_TYPES_CMP20 (RED_TYPES_CMP | TT_DT(TETHER_DTYPE_BOOL)) /* ReduceMax/Min take bools from opset 20 */

const tt_op_schema tt_schemas_reduce[] = {
    TT_SCHEMA("ReduceSum", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceMean", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceMax", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceMin", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceProd", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceL1", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceL2", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceLogSum", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceLogSumExp", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ReduceSumSquare", 1, 0, infer_reduce, .parse = prepare_reduce, .flops = flops_input),
    TT_SCHEMA("ArgMax", 1, 0, infer_arg, .flops = flops_input),
    TT_SCHEMA("ArgMin", 1, 0, infer_arg, .flops = flops_input),
    TT_SCHEMA("Softmax", 1, 0, infer_softmax, .flops = flops_softmax),
    TT_SCHEMA("LogSoftmax", 1, 0, infer_softmax, .flops = flops_softmax),
    TT_SCHEMA("Hardmax", 1, 0, infer_softmax, .flops = flops_input),
    TT_SCHEMA("CumSum", 11, 0, infer_cumsum, .flops = flops_input),
    TT_SCHEMA("CumProd", 26, 0, infer_cumsum, .flops = flops_input),
    TT_SCHEMA("TopK", 1, 0, infer_topk, .flops = flops_input),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_reduce[] = {
    TT_KERNEL("ReduceSum", 1, 0, RED_TYPES, run_reduce),
    TT_KERNEL("ReduceMean", 1, 0, RED_TYPES, run_reduce),
    TT_KERNEL("ReduceMax", 1, 19, RED_TYPES_CMP, run_reduce),
    TT_KERNEL("ReduceMin", 1, 19, RED_TYPES_CMP, run_reduce),
    TT_KERNEL("ReduceMax", 20, 0, RED_TYPES_CMP20, run_reduce),
    TT_KERNEL("ReduceMin", 20, 0, RED_TYPES_CMP20, run_reduce),
    TT_KERNEL("ReduceProd", 1, 0, RED_TYPES, run_reduce),
    TT_KERNEL("ReduceL1", 1, 0, RED_TYPES, run_reduce),
    TT_KERNEL("ReduceL2", 1, 0, RED_TYPES, run_reduce),
    TT_KERNEL("ReduceLogSum", 1, 0, RED_TYPES, run_reduce),
    TT_KERNEL("ReduceLogSumExp", 1, 0, RED_TYPES, run_reduce),
    TT_KERNEL("ReduceSumSquare", 1, 0, RED_TYPES, run_reduce),
    TT_KERNEL("ArgMax", 1, 0, TT_DTS_NUMERIC, run_argmax),
    TT_KERNEL("ArgMin", 1, 0, TT_DTS_NUMERIC, run_argmin),
    TT_KERNEL("Softmax", 1, 0, TT_DTS_FLOAT, run_softmax),
    TT_KERNEL("LogSoftmax", 1, 0, TT_DTS_FLOAT, run_logsoftmax),
    TT_KERNEL("Hardmax", 1, 0, TT_DTS_FLOAT, run_hardmax),
    TT_KERNEL("CumSum", 11, 0, RED_TYPES, run_cumsum),
    TT_KERNEL("CumProd", 26, 0, RED_TYPES, run_cumsum),
    TT_KERNEL("TopK", 1, 0, TT_DTS_NUMERIC, run_topk),
    TT_KERNEL_END,
};
