/* Pooling: MaxPool (with its Indices output), AveragePool, LpPool, their global forms, and
 * MaxUnpool. One window loop serves the three windowed pools, over 1 to 3 spatial dims
 * (geometry from ops/nnutil.h), split over the thread pool by (image, channel) plane. */
#include "ops/nnutil.h"

#include <inttypes.h>

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP } pool_kind;

typedef tt_pool_attrs pool_state;

tt_status tt_pool_parse(tt_node *node, void **state)
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

tt_status tt_pool_infer(tt_ictx *c)
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

/* For one output coordinate of one dim: where its window starts in the input, the taps
 * [lo, hi) that land inside the input, and how many land inside input + pads (the
 * count_include_pad divisor). The same for every plane, so computed once per call. */
typedef struct win_taps {
    int64_t start, lo, hi, padded;
} win_taps;

typedef struct pool_job {
    tt_win w;
    bool count_pad, col_major;
    double p;
    const void *x;
    void *y;
    int64_t *idx; /* MaxPool's Indices, or NULL */
    int64_t in_size, out_size;
    const win_taps *taps[TT_WIN_DIMS]; /* per dim, per output coordinate */
    const win_taps *cols;              /* per tap k of the last dim: the output columns [lo, hi) it reads inside */
} pool_job;

/* Kernels longer than this in the last dim (only attributes make them; most of their taps
 * fall outside the input) get no per-tap column table and take the per-window path. */
#define POOL_MAX_COL_TAPS 4096

static win_taps *taps_tables(const tt_win *w, const win_taps **tabs, const win_taps **cols)
{
    int64_t ncols = w->kernel[2] <= POOL_MAX_COL_TAPS ? w->kernel[2] : 0;
    win_taps *t = tt_malloc((size_t)(w->out[0] + w->out[1] + w->out[2] + ncols) * sizeof *t), *p = t;
    if (!t)
        return NULL;
    *cols = ncols ? p : NULL;
    for (int64_t k = 0; k < ncols; k++, p++) {
        p->start = k * w->dilation[2] - w->pad_begin[2];
        tt_win_run(w->out[2], w->in[2], w->stride[2], p->start, &p->lo, &p->hi);
    }
    for (int d = 0; d < TT_WIN_DIMS; d++) {
        tabs[d] = p;
        for (int64_t o = 0; o < w->out[d]; o++, p++) {
            int64_t s = o * w->stride[d] - w->pad_begin[d], plo, phi;
            tt_win_run(w->kernel[d], w->in[d], w->dilation[d], s, &p->lo, &p->hi);
            tt_win_run(w->kernel[d], w->in[d] + w->pad_begin[d] + w->pad_end[d], w->dilation[d], s + w->pad_begin[d],
                       &plo, &phi);
            p->start = s;
            p->padded = phi - plo;
        }
    }
    return t;
}

/* Loops over every window of planes [p0, p1): INIT sets up `acc` (and `best`), STEP takes
 * one input value v at flat plane offset i, the rest (FINISH) writes output o. */
#define POOL_LOOP(T, INIT, STEP, ...)                                                                                  \
    const pool_job *j = arg;                                                                                           \
    const int64_t *in = j->w.in, *out = j->w.out, *dl = j->w.dilation;                                                 \
    const uint64_t taps = (uint64_t)j->w.kernel[0] * (uint64_t)j->w.kernel[1] * (uint64_t)j->w.kernel[2];             \
    const bool fine = taps >= 4096; /* huge windows poll per output, the others per row */                             \
    for (int64_t p = p0; p < p1; p++) {                                                                                \
        const T *x = (const T *)j->x + p * j->in_size;                                                                 \
        T *y = (T *)j->y + p * j->out_size;                                                                            \
        int64_t o = 0;                                                                                                 \
        for (int64_t o0 = 0; o0 < out[0]; o0++)                                                                        \
            for (int64_t o1 = 0; o1 < out[1]; o1++)                                                                    \
                for (int64_t o2 = 0; o2 < out[2]; o2++, o++) {                                                         \
                    if ((fine || o2 == 0) && !tt_stop_work(fine ? taps : taps * (uint64_t)out[2]))                    \
                        return; /* stopped with the run */                                                             \
                    const win_taps *t0 = &j->taps[0][o0], *t1 = &j->taps[1][o1], *t2 = &j->taps[2][o2];                \
                    INIT;                                                                                              \
                    for (int64_t k0 = t0->lo; k0 < t0->hi; k0++)                                                       \
                        for (int64_t k1 = t1->lo; k1 < t1->hi; k1++) {                                                 \
                            int64_t base =                                                                             \
                                ((t0->start + k0 * dl[0]) * in[1] + t1->start + k1 * dl[1]) * in[2] + t2->start;       \
                            for (int64_t k2 = t2->lo; k2 < t2->hi; k2++) {                                             \
                                int64_t i = base + k2 * dl[2];                                                         \
                                T v = x[i];                                                                            \
                                STEP;                                                                                  \
                            }                                                                                          \
                        }                                                                                              \
                    __VA_ARGS__;                                                                                       \
                }                                                                                                      \
    }

/* MaxPool; Indices flatten N, C and the spatial dims (column-major for storage_order 1). An
 * empty window (only possible with dilations) gives the lowest value and index -1. */
#define DEF_MAXPOOL(NAME, T)                                                                                           \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                                                \
    {                                                                                                                  \
        POOL_LOOP(                                                                                                     \
            T, T acc = -(T)INFINITY; int64_t best = -1,                                                                \
                                     if (v > acc || best < 0) {                                                        \
                                         acc = v;                                                                      \
                                         best = i;                                                                     \
                                     },                                                                                \
                                     y[o] = acc;                                                                       \
            if (j->idx) {                                                                                              \
                int64_t i0 = best / (in[1] * in[2]), i1 = best / in[2] % in[1], i2 = best % in[2];                     \
                j->idx[p * j->out_size + o] =                                                                          \
                    best < 0 ? -1 : p * j->in_size + (j->col_major ? i0 + in[0] * (i1 + in[1] * i2) : best);           \
            })                                                                                                         \
    }

#define DEF_AVGPOOL(NAME, T)                                                                                           \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                                                \
    {                                                                                                                  \
        POOL_LOOP(T, T acc = 0, (void)i;                                                                               \
                  acc += v, int64_t cnt = j->count_pad ? t0->padded * t1->padded * t2->padded                          \
                                                       : (t0->hi - t0->lo) * (t1->hi - t1->lo) * (t2->hi - t2->lo);    \
                  y[o] = cnt > 0 ? acc / (T)cnt : 0)                                                                   \
    }

#define DEF_LPPOOL(NAME, T)                                                                                            \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                                                \
    {                                                                                                                  \
        POOL_LOOP(T, double acc = 0, (void)i; acc += j->p == 2 ? (double)v * v : pow(fabs((double)v), j->p),           \
                                              y[o] = (T)(j->p == 2 ? sqrt(acc) : pow(acc, 1.0 / j->p)))                \
    }

/* MaxPool of float without Indices, a row of outputs at a time: each kernel row inside the
 * input and each tap update the output columns that tap reads inside, vectorised for stride 1. */
typedef int32_t i32x4 __attribute__((vector_size(16)));

static void maxpool_rows_f32(void *arg, int64_t p0, int64_t p1)
{
    const pool_job *j = arg;
    const int64_t *in = j->w.in, *out = j->w.out, *dl = j->w.dilation, s2 = j->w.stride[2];
    const uint64_t row_work = (uint64_t)out[2] * (uint64_t)j->w.kernel[0] * (uint64_t)j->w.kernel[1] *
                              (uint64_t)j->w.kernel[2];
    const bool fine = row_work > TT_STOP_QUANTUM; /* huge windows poll per kernel row too */
    for (int64_t p = p0; p < p1; p++) {
        const float *x = (const float *)j->x + p * j->in_size;
        float *y = (float *)j->y + p * j->out_size;
        for (int64_t o0 = 0; o0 < out[0]; o0++)
            for (int64_t o1 = 0; o1 < out[1]; o1++, y += out[2]) {
                if (!tt_stop_work(row_work))
                    return; /* huge windows stop with the run */
                const win_taps *t0 = &j->taps[0][o0], *t1 = &j->taps[1][o1];
                for (int64_t o = 0; o < out[2]; o++)
                    y[o] = -INFINITY;
                for (int64_t k0 = t0->lo; k0 < t0->hi; k0++)
                    for (int64_t k1 = t1->lo; k1 < t1->hi; k1++) {
                        if (fine && !tt_stop_work((uint64_t)out[2] * (uint64_t)j->w.kernel[2]))
                            return;
                        const float *row = x + ((t0->start + k0 * dl[0]) * in[1] + t1->start + k1 * dl[1]) * in[2];
                        for (int64_t k2 = 0; k2 < j->w.kernel[2]; k2++) {
                            const win_taps *c = &j->cols[k2];
                            int64_t o = c->lo;
                            if (s2 == 1)
                                for (; o + 4 <= c->hi; o += 4) {
                                    tt_f32x4 a = tt_f32x4_load(y + o), v = tt_f32x4_load(row + (o + c->start));
                                    i32x4 m = v > a;
                                    tt_f32x4_store(y + o, (tt_f32x4)((m & (i32x4)v) | (~m & (i32x4)a)));
                                }
                            for (; o < c->hi; o++) {
                                float v = row[o * s2 + c->start];
                                y[o] = v > y[o] ? v : y[o];
                            }
                        }
                    }
            }
    }
}

DEF_MAXPOOL(maxpool_f32, float)
DEF_MAXPOOL(maxpool_f64, double)
DEF_AVGPOOL(avgpool_f32, float)
DEF_AVGPOOL(avgpool_f64, double)
DEF_LPPOOL(lppool_f32, float)
DEF_LPPOOL(lppool_f64, double)

static tt_status run_pool_native(tt_kctx *c, pool_kind kind)
{
    const pool_state *st = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0), *idx = kind == POOL_MAX ? tt_kout(c, 1) : NULL;
    pool_job j = {.count_pad = st->count_include_pad,
                  .col_major = st->col_major,
                  .p = st->p,
                  .x = x->data,
                  .y = y->data,
                  .idx = idx ? idx->data : NULL};
    TT_TRY(tt_win_forward(c->node, &st->a, x->rank - 2, NULL, x->dims + 2, &j.w));
    j.in_size = tt_dims_prod(x->dims, 2, x->rank);
    j.out_size = tt_dims_prod(y->dims, 2, y->rank);
    win_taps *tables = taps_tables(&j.w, j.taps, &j.cols);
    if (!tables)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    bool dbl = x->dtype == TETHER_DTYPE_DOUBLE;
    tt_range_fn fn = kind == POOL_MAX   ? (dbl              ? maxpool_f64
                                           : idx || !j.cols ? maxpool_f32
                                                            : maxpool_rows_f32)
                     : kind == POOL_AVG ? (dbl ? avgpool_f64 : avgpool_f32)
                                        : (dbl ? lppool_f64 : lppool_f32);
    int64_t planes = x->dims[0] * x->dims[1];
    double work = (double)j.out_size * (double)j.w.kernel[0] * (double)j.w.kernel[1] * (double)j.w.kernel[2];
    tt_parallel_for_stoppable(planes, work >= 16384 ? 1 : work > 0 ? (int64_t)(16384 / work) : planes, work, fn, &j);
    tt_free(tables);
    return TT_OK;
}

static tt_status run_maxpool_native(tt_kctx *c)
{
    return run_pool_native(c, POOL_MAX);
}
static tt_status run_avgpool_native(tt_kctx *c)
{
    return run_pool_native(c, POOL_AVG);
}
static tt_status run_lppool_native(tt_kctx *c)
{
    return run_pool_native(c, POOL_LP);
}

tt_status tt_maxpool_ref(tt_kctx *c)
{
    return tt_run_real(c, run_maxpool_native);
}
tt_status tt_avgpool_ref(tt_kctx *c)
{
    return tt_run_real(c, run_avgpool_native);
}
static tt_status run_lppool(tt_kctx *c)
{
    return tt_run_real(c, run_lppool_native);
}

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

tt_status tt_global_pool_infer(tt_ictx *c)
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

#define DEF_GLOBAL(NAME, T)                                                                                            \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                                                \
    {                                                                                                                  \
        const global_job *j = arg;                                                                                     \
        for (int64_t p = p0; p < p1; p++) {                                                                            \
            const T *x = (const T *)j->x + p * j->size;                                                                \
            double acc = 0;                                                                                            \
            if (j->kind == POOL_MAX) {                                                                                 \
                T m = j->size ? x[0] : (T)0;                                                                           \
                for (int64_t i = 1; i < j->size; i++)                                                                  \
                    m = x[i] > m ? x[i] : m;                                                                           \
                acc = m;                                                                                               \
            } else if (j->kind == POOL_AVG) {                                                                          \
                for (int64_t i = 0; i < j->size; i++)                                                                  \
                    acc += x[i];                                                                                       \
                acc = j->size ? acc / (double)j->size : 0;                                                             \
            } else {                                                                                                   \
                for (int64_t i = 0; i < j->size; i++)                                                                  \
                    acc += j->p == 2 ? (double)x[i] * x[i] : pow(fabs((double)x[i]), j->p);                            \
                acc = j->p == 2 ? sqrt(acc) : pow(acc, 1.0 / j->p);                                                    \
            }                                                                                                          \
            ((T *)j->y)[p] = (T)acc;                                                                                   \
        }                                                                                                              \
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

static tt_status run_gmax_native(tt_kctx *c)
{
    return run_global_native(c, POOL_MAX);
}
static tt_status run_gavg_native(tt_kctx *c)
{
    return run_global_native(c, POOL_AVG);
}
static tt_status run_glp_native(tt_kctx *c)
{
    return run_global_native(c, POOL_LP);
}
tt_status tt_global_maxpool_ref(tt_kctx *c)
{
    return tt_run_real(c, run_gmax_native);
}
tt_status tt_global_avgpool_ref(tt_kctx *c)
{
    return tt_run_real(c, run_gavg_native);
}
static tt_status run_glp(tt_kctx *c)
{
    return tt_run_real(c, run_glp_native);
}

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
            return tt_op_error(c->node, TETHER_ERR_SHAPE,
                               "output_shape has %" PRId64 " entries for an input of rank %d", n, x->rank);
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
                               "index %" PRId64 " at position %" PRId64 " is out of range [0, %" PRId64 ")", k, i,
                               limit);
        int64_t p = k / plane, r = k % plane;
        int64_t c0 = r / (w.out[1] * w.out[2]), c1 = r / w.out[2] % w.out[1], c2 = r % w.out[2];
        int64_t o = p * out_plane + (c0 * od[1] + c1) * od[2] + c2;
        memcpy((char *)y->data + (size_t)o * es, (const char *)x->data + (size_t)i * es, es);
    }
    return TT_OK;
}

#define POOL_TYPES                                                                                                     \
    (TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_FLOAT16) |                            \
     TT_DT(TETHER_DTYPE_BFLOAT16))
#define MAXPOOL_TYPES (POOL_TYPES | TT_DT(TETHER_DTYPE_INT8) | TT_DT(TETHER_DTYPE_UINT8))

const tt_op_schema tt_schemas_pool[] = {
    TT_SCHEMA("MaxPool", 1, 0, tt_pool_infer, .parse = tt_pool_parse, .flops = flops_pool),
    TT_SCHEMA("AveragePool", 1, 0, tt_pool_infer, .parse = tt_pool_parse, .flops = flops_pool),
    TT_SCHEMA("LpPool", 1, 0, tt_pool_infer, .parse = tt_pool_parse, .flops = flops_pool),
    TT_SCHEMA("GlobalMaxPool", 1, 0, tt_global_pool_infer, .flops = flops_global),
    TT_SCHEMA("GlobalAveragePool", 1, 0, tt_global_pool_infer, .flops = flops_global),
    TT_SCHEMA("GlobalLpPool", 1, 0, tt_global_pool_infer, .parse = tt_pool_parse, .flops = flops_global),
    TT_SCHEMA("MaxUnpool", 9, 0, infer_maxunpool, .parse = tt_pool_parse),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_pool[] = {
    TT_KERNEL("MaxPool", 1, 0, MAXPOOL_TYPES, tt_maxpool_ref),
    TT_KERNEL("AveragePool", 1, 0, POOL_TYPES, tt_avgpool_ref),
    TT_KERNEL("LpPool", 1, 0, POOL_TYPES, run_lppool),
    TT_KERNEL("GlobalMaxPool", 1, 0, POOL_TYPES, tt_global_maxpool_ref),
    TT_KERNEL("GlobalAveragePool", 1, 0, POOL_TYPES, tt_global_avgpool_ref),
    TT_KERNEL("GlobalLpPool", 1, 0, POOL_TYPES, run_glp),
    TT_KERNEL("MaxUnpool", 9, 0, POOL_TYPES, run_maxunpool),
    TT_KERNEL_END,
};
