/* Pooling: MaxPool (with its Indices output), AveragePool, LpPool, their global forms, and
 * MaxUnpool. One window loop serves the three windowed pools, over 1 to 3 spatial dims
 * (geometry from ops/nnutil.h), split over the thread pool by (image, channel) plane. */
#include "ops/nnutil.h"

#include <float.h>
#include <inttypes.h>

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP } pool_kind;

typedef struct pool_state {
    tt_win_attrs a;
    bool count_include_pad;
    bool col_major;        /* MaxPool storage_order 1: Indices count the spatial dims column-major */
    double p;              /* LpPool's exponent */
} pool_state;

static tt_status pool_prepare(tt_node *node, void **state)
{
    pool_state *st = tt_calloc(1, sizeof *st);
    if (!st)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", node->name);
    tt_status s = tt_win_attrs_parse(node, &st->a);
    st->count_include_pad = tt_attr_int(node, "count_include_pad", 0) != 0;
    st->col_major = tt_attr_int(node, "storage_order", 0) != 0;
    /* p is a float in opset 1 and an int after; tt_attr_float reads either */
    st->p = tt_attr_float(node, "p", 2.0f);
    if (s == TT_OK && !(st->p > 0) && strstr(node->op_type, "LpPool"))
        s = tt_op_error(node, TETHER_ERR_INVALID_MODEL, "p is %g; it must be positive", st->p);
    if (s != TT_OK) {
        tt_free(st);
        return s;
    }
    *state = st;
    return TT_OK;
}

/* ---- windowed pools ---------------------------------------------------------------------- */

static tt_status infer_pool(tt_ictx *c)
{
    const pool_state *st = c->node->state;
    const tt_type *x = tt_iin(c, 0);
    if (!x)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input X is required");
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        tt_infer_tensor(c, 1, TETHER_DTYPE_INT64, -1, NULL);
        return TT_OK;
    }
    if (x->rank < 3)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X needs rank >= 3 (N, C, spatial...), got %d", x->rank);
    int nsp = x->rank - 2;
    tt_win w;
    TT_TRY(tt_win_forward(c->node, &st->a, nsp, NULL, x->dims + 2, &w));
    int64_t dims[TT_MAX_RANK] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < nsp; i++)
        dims[2 + i] = w.out[TT_WIN_DIMS - nsp + i];
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    tt_infer_tensor(c, 1, TETHER_DTYPE_INT64, x->rank, dims);
    return TT_OK;
}

typedef struct pool_job {
    tt_win w;
    pool_kind kind;
    bool count_pad, col_major;
    double p;
    const void *x;
    void *y;
    int64_t *idx;          /* MaxPool's Indices, or NULL */
    int64_t in_size, out_size;
} pool_job;

/* The taps k of one window dim that land inside the input: [*lo, *hi), and for
 * count_include_pad how many land inside input + pads. */
static void window_taps(const tt_win *w, int d, int64_t o, int64_t *start, int64_t *lo, int64_t *hi, int64_t *padded)
{
    int64_t s = o * w->stride[d] - w->pad_begin[d], dl = w->dilation[d], k = w->kernel[d];
    tt_win_run(k, w->in[d], dl, s, lo, hi);
    int64_t plo, phi;
    tt_win_run(k, w->in[d] + w->pad_begin[d] + w->pad_end[d], dl, s + w->pad_begin[d], &plo, &phi);
    *start = s;
    *padded = phi - plo;
}

/* Reduces every window of planes [p0, p1). T is the element type, ACC the accumulator's. */
#define DEF_POOL(NAME, T, ACC, LOWEST)                                                                         \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                                        \
    {                                                                                                          \
        const pool_job *j = arg;                                                                               \
        const tt_win *w = &j->w;                                                                               \
        const int64_t *in = w->in, *out = w->out, *dl = w->dilation;                                           \
        for (int64_t p = p0; p < p1; p++) {                                                                    \
            const T *x = (const T *)j->x + p * j->in_size;                                                     \
            T *y = (T *)j->y + p * j->out_size;                                                                \
            int64_t *ix = j->idx ? j->idx + p * j->out_size : NULL;                                            \
            for (int64_t o0 = 0; o0 < out[0]; o0++) {                                                          \
                int64_t s0, a0, b0, n0;                                                                        \
                window_taps(w, 0, o0, &s0, &a0, &b0, &n0);                                                     \
                for (int64_t o1 = 0; o1 < out[1]; o1++) {                                                      \
                    int64_t s1, a1, b1, n1;                                                                    \
                    window_taps(w, 1, o1, &s1, &a1, &b1, &n1);                                                 \
                    for (int64_t o2 = 0; o2 < out[2]; o2++) {                                                  \
                        int64_t s2, a2, b2, n2;                                                                \
                        window_taps(w, 2, o2, &s2, &a2, &b2, &n2);                                             \
                        ACC acc = j->kind == POOL_MAX ? (ACC)(LOWEST) : 0;                                     \
                        int64_t best = -1;                                                                     \
                        for (int64_t k0 = a0; k0 < b0; k0++) {                                                 \
                            int64_t i0 = s0 + k0 * dl[0];                                                      \
                            for (int64_t k1 = a1; k1 < b1; k1++) {                                             \
                                int64_t i1 = s1 + k1 * dl[1];                                                  \
                                const T *row = x + (i0 * in[1] + i1) * in[2] + s2;                             \
                                for (int64_t k2 = a2; k2 < b2; k2++) {                                         \
                                    ACC v = row[k2 * dl[2]];                                                   \
                                    if (j->kind == POOL_MAX) {                                                 \
                                        if (v > acc || best < 0) {                                             \
                                            acc = v;                                                           \
                                            best = (i0 * in[1] + i1) * in[2] + s2 + k2 * dl[2];                \
                                        }                                                                      \
                                    } else if (j->kind == POOL_AVG) {                                          \
                                        acc += v;                                                              \
                                    } else {                                                                   \
                                        acc += j->p == 2 ? v * v : j->p == 1 ? (v < 0 ? -v : v)                \
                                                                             : (ACC)pow(v < 0 ? -v : v, j->p); \
                                    }                                                                          \
                                }                                                                              \
                            }                                                                                  \
                        }                                                                                      \
                        int64_t o = (o0 * out[1] + o1) * out[2] + o2;                                          \
                        if (j->kind == POOL_AVG) {                                                             \
                            int64_t cnt = j->count_pad ? n0 * n1 * n2 : (b0 - a0) * (b1 - a1) * (b2 - a2);     \
                            acc = cnt > 0 ? acc / (ACC)cnt : 0;                                                \
                        } else if (j->kind == POOL_LP) {                                                       \
                            acc = j->p == 2 ? (ACC)sqrt(acc) : j->p == 1 ? acc : (ACC)pow(acc, 1.0 / j->p);    \
                        }                                                                                      \
                        y[o] = (T)acc;                                                                         \
                        if (ix) {                                                                              \
                            int64_t i0 = best / (in[1] * in[2]), i1 = best / in[2] % in[1], i2 = best % in[2]; \
                            ix[o] = best < 0 ? -1                                                              \
                                    : p * j->in_size +                                                         \
                                          (j->col_major ? i0 + in[0] * (i1 + in[1] * i2) : best);              \
                        }                                                                                      \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }

DEF_POOL(pool_planes_f32, float, float, -INFINITY)
DEF_POOL(pool_planes_f64, double, double, -INFINITY)

static tt_status run_pool_native(tt_kctx *c, pool_kind kind)
{
    const pool_state *st = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0), *idx = kind == POOL_MAX ? tt_kout(c, 1) : NULL;
    pool_job j = {.kind = kind, .count_pad = st->count_include_pad, .col_major = st->col_major, .p = st->p,
                  .x = x->data, .y = y->data, .idx = idx ? idx->data : NULL};
    TT_TRY(tt_win_forward(c->node, &st->a, x->rank - 2, NULL, x->dims + 2, &j.w));
    j.in_size = tt_dims_prod(x->dims, 2, x->rank);
    j.out_size = tt_dims_prod(y->dims, 2, y->rank);
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t work = j.out_size * (j.w.kernel[0] * j.w.kernel[1] * j.w.kernel[2]);
    tt_parallel_for(planes, work > 0 ? (16384 + work - 1) / work : planes, x->dtype == TETHER_DTYPE_DOUBLE ? pool_planes_f64 : pool_planes_f32, &j);
    return TT_OK;
}

static tt_status run_maxpool_native(tt_kctx *c) { return run_pool_native(c, POOL_MAX); }
static tt_status run_avgpool_native(tt_kctx *c) { return run_pool_native(c, POOL_AVG); }
static tt_status run_lppool_native(tt_kctx *c) { return run_pool_native(c, POOL_LP); }

/* float and double run natively; narrower types through float, which holds them exactly */
static tt_status run_typed(tt_kctx *c, tt_status (*kernel)(tt_kctx *c))
{
    tt_dtype t = tt_kin(c, 0)->dtype;
    if (t == TETHER_DTYPE_FLOAT || t == TETHER_DTYPE_DOUBLE)
        return kernel(c);
    return tt_run_in_f32(c, t, kernel);
}

static tt_status run_maxpool(tt_kctx *c) { return run_typed(c, run_maxpool_native); }
static tt_status run_avgpool(tt_kctx *c) { return run_typed(c, run_avgpool_native); }
static tt_status run_lppool(tt_kctx *c) { return run_typed(c, run_lppool_native); }

static uint64_t flops_pool(const tt_ictx *c)
{
    const pool_state *st = c->node->state;
    const tt_type *y = &c->out[0];
    uint64_t n = 1;
    for (int i = 0; i < y->rank; i++)
        n *= (uint64_t)y->dims[i];
    for (int i = 0; i < st->a.n_kernel; i++)
        n *= (uint64_t)st->a.kernel[i];
    return n;
}

/* ---- global pools -------------------------------------------------------------------------- */

static tt_status infer_global(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X needs rank >= 2 (N, C, spatial...), got %d", x->rank);
    int64_t dims[TT_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        dims[i] = i < 2 ? x->dims[i] : 1;
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    return TT_OK;
}

typedef struct global_job {
    pool_kind kind;
    double p;
    const void *x;
    void *y;
    int64_t size;
} global_job;

#define DEF_GLOBAL(NAME, T)                                                                                    \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                                        \
    {                                                                                                          \
        const global_job *j = arg;                                                                             \
        for (int64_t p = p0; p < p1; p++) {                                                                    \
            const T *x = (const T *)j->x + p * j->size;                                                        \
            double acc = 0;                                                                                    \
            if (j->kind == POOL_MAX) {                                                                         \
                T m = j->size ? x[0] : (T)0;                                                                   \
                for (int64_t i = 1; i < j->size; i++)                                                          \
                    m = x[i] > m ? x[i] : m;                                                                   \
                acc = m;                                                                                       \
            } else if (j->kind == POOL_AVG) {                                                                  \
                for (int64_t i = 0; i < j->size; i++)                                                          \
                    acc += x[i];                                                                               \
                acc = j->size ? acc / (double)j->size : 0;                                                     \
            } else {                                                                                           \
                for (int64_t i = 0; i < j->size; i++)                                                          \
                    acc += j->p == 2 ? (double)x[i] * x[i] : pow(fabs((double)x[i]), j->p);                    \
                acc = j->p == 2 ? sqrt(acc) : pow(acc, 1.0 / j->p);                                            \
            }                                                                                                  \
            ((T *)j->y)[p] = (T)acc;                                                                           \
        }                                                                                                      \
    }

DEF_GLOBAL(global_planes_f32, float)
DEF_GLOBAL(global_planes_f64, double)

static tt_status run_global_native(tt_kctx *c, pool_kind kind)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    const pool_state *st = c->state;
    global_job j = {kind, st ? st->p : 2.0, x->data, y->data, tt_dims_prod(x->dims, 2, x->rank)};
    int64_t planes = tt_tensor_numel(y);
    tt_parallel_for(planes, j.size ? (16384 + j.size - 1) / j.size : planes,
                    x->dtype == TETHER_DTYPE_DOUBLE ? global_planes_f64 : global_planes_f32, &j);
    return TT_OK;
}

static tt_status run_gmax_native(tt_kctx *c) { return run_global_native(c, POOL_MAX); }
static tt_status run_gavg_native(tt_kctx *c) { return run_global_native(c, POOL_AVG); }
static tt_status run_glp_native(tt_kctx *c) { return run_global_native(c, POOL_LP); }
static tt_status run_gmax(tt_kctx *c) { return run_typed(c, run_gmax_native); }
static tt_status run_gavg(tt_kctx *c) { return run_typed(c, run_gavg_native); }
static tt_status run_glp(tt_kctx *c) { return run_typed(c, run_glp_native); }

static uint64_t flops_global(const tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    uint64_t n = 1;
    for (int i = 0; i < x->rank; i++)
        n *= (uint64_t)x->dims[i];
    return n;
}

/* ---- MaxUnpool ------------------------------------------------------------------------------- */

/* The unpooled shape implied by the attributes: the transpose of the pooling window. */
static tt_status unpool_window(const tt_node *node, const tt_type *x, tt_win *w)
{
    const pool_state *st = node->state;
    return tt_win_transpose(node, &st->a, x->rank - 2, NULL, x->dims + 2, w);
}

static tt_status infer_maxunpool(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0), *ind = tt_iin(c, 1);
    if (!x || !ind)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "inputs X and I are required");
    if (ind->dtype != TETHER_DTYPE_INT64)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "I must be int64, got %s", tt_dtype_name(ind->dtype));
    if (x->rank >= 0 && ind->rank >= 0) {
        bool same = x->rank == ind->rank;
        for (int i = 0; same && i < x->rank; i++)
            same = x->dims[i] < 0 || ind->dims[i] < 0 || x->dims[i] == ind->dims[i];
        if (!same) {
            char a[160], b[160];
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "X %s and I %s must have the same shape",
                               tt_dims_str(x->rank, x->dims, a, 160), tt_dims_str(ind->rank, ind->dims, b, 160));
        }
    }
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (x->rank < 3)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X needs rank >= 3 (N, C, spatial...), got %d", x->rank);
    int nsp = x->rank - 2;
    tt_win w;
    TT_TRY(unpool_window(c->node, x, &w));
    int64_t dims[TT_MAX_RANK] = {x->dims[0], x->dims[1]}, n;
    for (int i = 0; i < nsp; i++)
        dims[2 + i] = w.out[TT_WIN_DIMS - nsp + i];
    tt_status s;
    if (tt_iin(c, 2)) {
        int64_t want[TT_MAX_RANK];
        if (!tt_infer_ints(c, 2, want, TT_MAX_RANK, &n, &s)) {
            if (s != TT_OK)
                return s;
            tt_infer_tensor(c, 0, x->dtype, x->rank, NULL);
            return TT_OK;
        }
        if (n != x->rank)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "output_shape has %" PRId64 " entries for an input of rank %d", n,
                               x->rank);
        /* the unpooled result is zero-extended at the end of each dim to output_shape */
        for (int i = 0; i < x->rank; i++) {
            bool bad = i < 2 ? dims[i] >= 0 && want[i] != dims[i] : dims[i] >= 0 && want[i] < dims[i];
            if (bad || want[i] < 0)
                return tt_op_error(c->node, TETHER_ERR_SHAPE,
                                   "output_shape[%d] is %" PRId64 " but the unpooled size is %" PRId64, i, want[i],
                                   dims[i]);
            dims[i] = want[i];
        }
    }
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    return TT_OK;
}

/* Scatters X to where I points, I indexing the unpooled shape the attributes imply (as
 * MaxPool's Indices do) and flattened over N and C too; a larger output_shape extends
 * that result with zeros at the end of each dim. Everything else is zero. */
static tt_status run_maxunpool(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *ind = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    tt_type tx;
    tt_type_tensor(&tx, x->dtype, x->rank, x->dims);
    tt_win w;
    TT_TRY(unpool_window(c->node, &tx, &w));
    int64_t nsp = x->rank - 2, od[TT_WIN_DIMS] = {1, 1, 1};
    for (int i = 0; i < nsp; i++)
        od[TT_WIN_DIMS - nsp + i] = y->dims[2 + i];
    int64_t plane = w.out[0] * w.out[1] * w.out[2], out_plane = od[0] * od[1] * od[2];
    int64_t limit = x->dims[0] * x->dims[1] * plane, n = tt_tensor_numel(x);
    size_t es = tt_dtype_size(x->dtype);
    const int64_t *I = ind->data;
    memset(y->data, 0, tt_tensor_nbytes(y));
    for (int64_t i = 0; i < n; i++) {
        int64_t k = I[i];
        if (k < 0 || k >= limit)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "index %" PRId64 " at position %" PRId64 " is out of range [0, %" PRId64 ")", k, i, limit);
        int64_t p = k / plane, r = k % plane;
        int64_t c0 = r / (w.out[1] * w.out[2]), c1 = r / w.out[2] % w.out[1], c2 = r % w.out[2];
        int64_t o = p * out_plane + (c0 * od[1] + c1) * od[2] + c2;
        memcpy((char *)y->data + (size_t)o * es, (const char *)x->data + (size_t)i * es, es);
    }
    return TT_OK;
}

#define POOL_TYPES (TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_FLOAT16) | TT_DT(TETHER_DTYPE_BFLOAT16))
#define MAXPOOL_TYPES (POOL_TYPES | TT_DT(TETHER_DTYPE_INT8) | TT_DT(TETHER_DTYPE_UINT8))

const tt_op_def tt_ops_pool[] = {
    TT_OP("MaxPool", 1, 0, MAXPOOL_TYPES, infer_pool, run_maxpool, .prepare = pool_prepare, .flops = flops_pool),
    TT_OP("AveragePool", 1, 0, POOL_TYPES, infer_pool, run_avgpool, .prepare = pool_prepare, .flops = flops_pool),
    TT_OP("LpPool", 1, 0, POOL_TYPES, infer_pool, run_lppool, .prepare = pool_prepare, .flops = flops_pool),
    TT_OP("GlobalMaxPool", 1, 0, POOL_TYPES, infer_global, run_gmax, .flops = flops_global),
    TT_OP("GlobalAveragePool", 1, 0, POOL_TYPES, infer_global, run_gavg, .flops = flops_global),
    TT_OP("GlobalLpPool", 1, 0, POOL_TYPES, infer_global, run_glp, .prepare = pool_prepare, .flops = flops_global),
    TT_OP("MaxUnpool", 9, 0, POOL_TYPES, infer_maxunpool, run_maxunpool, .prepare = pool_prepare),
    TT_OP_END,
};
