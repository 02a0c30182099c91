/* Normalisation and regularisation layers: BatchNormalization (inference, and the training
 * form's statistics outputs), InstanceNormalization, LayerNormalization, LRN,
 * MeanVarianceNormalization, LpNormalization and Dropout. Kernels exist for float and
 * double; float16/bfloat16 compute in float. Statistics accumulate in double. */
#include "ops/nnutil.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <time.h>

/* A small parameter tensor (scale, bias, statistics; any float dtype) as want doubles. */
static tt_status params_f64(const tt_node *node, const tt_tensor *t, const char *what, int64_t want, double **out)
{
    int64_t n = tt_tensor_numel(t);
    *out = NULL;
    if (n != want) {
        char s[160];
        return tt_op_error(node, TETHER_ERR_SHAPE, "%s has shape %s; expected %" PRId64 " elements", what,
                           tt_dims_str(t->rank, t->dims, s, sizeof s), want);
    }
    double *d = tt_malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!d)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", node->name);
    for (int64_t i = 0; i < n; i++)
        d[i] = tt_load_f64(t->data, t->dtype, (size_t)i);
    *out = d;
    return TT_OK;
}

/* ---- BatchNormalization ------------------------------------------------------------------ */

typedef struct bn_state {
    float epsilon, momentum;
    bool training; /* statistics come from the batch; running statistics are outputs */
} bn_state;

static tt_status bn_prepare(tt_node *node, void **state)
{
    bn_state *st = tt_calloc(1, sizeof *st);
    if (!st)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", node->name);
    st->epsilon = tt_attr_float(node, "epsilon", 1e-5f);
    st->momentum = tt_attr_float(node, "momentum", 0.9f);
    /* From opset 14 training_mode says it. Before, the batch statistics outputs exist only
     * in training, so asking for them (and, to opset 6, is_test = 0) means training. */
    bool extra = false;
    for (int i = 1; i < node->n_outputs; i++)
        extra |= node->outputs[i] >= 0;
    if (node->opset >= 14)
        st->training = tt_attr_int(node, "training_mode", 0) != 0;
    else
        st->training = extra && (node->opset > 6 || tt_attr_int(node, "is_test", 0) == 0);
    if (!(st->epsilon >= 0)) {
        tt_free(st);
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "epsilon is %g; it must be >= 0", st->epsilon);
    }
    *state = st;
    return TT_OK;
}

static tt_status infer_batchnorm(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    for (int i = 1; i < 5; i++) {
        if (!tt_iin(c, i))
            return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input %d is required", i);
        TT_TRY(tt_infer_check_dtype(c, i, TT_DTS_FLOAT));
    }
    if (x->rank >= 0 && x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X needs rank >= 2 (N, C, ...), got %d", x->rank);
    c->out[0] = *x;
    int64_t C = x->rank >= 2 ? x->dims[1] : TT_DIM_UNKNOWN;
    const tt_type *mean = tt_iin(c, 3);
    for (int k = 1; k < c->n_out; k++)
        tt_infer_tensor(c, k, mean->dtype, 1, &C);
    return TT_OK;
}

typedef struct affine_job {
    const void *x;
    void *y;
    const double *a, *b; /* y = x * a + b, per channel or (spatial = 0) per element */
    int64_t C, inner;
    bool per_element;
} affine_job;

#define DEF_AFFINE(NAME, T)                                                                                            \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                                                \
    {                                                                                                                  \
        const affine_job *j = arg;                                                                                     \
        for (int64_t p = p0; p < p1; p++) {                                                                            \
            int64_t ch = p % j->C;                                                                                     \
            const T *x = (const T *)j->x + p * j->inner;                                                               \
            T *y = (T *)j->y + p * j->inner;                                                                           \
            if (j->per_element) {                                                                                      \
                const double *a = j->a + ch * j->inner, *b = j->b + ch * j->inner;                                     \
                for (int64_t i = 0; i < j->inner; i++)                                                                 \
                    y[i] = (T)(x[i] * a[i] + b[i]);                                                                    \
            } else {                                                                                                   \
                T a = (T)j->a[ch], b = (T)j->b[ch];                                                                    \
                for (int64_t i = 0; i < j->inner; i++)                                                                 \
                    y[i] = x[i] * a + b;                                                                               \
            }                                                                                                          \
        }                                                                                                              \
    }

DEF_AFFINE(affine_f32, float)
DEF_AFFINE(affine_f64, double)

/* Per-channel mean and (population) variance over N and the spatial dims. */
static void batch_stats(const tt_tensor *x, int64_t C, int64_t inner, double *mean, double *var)
{
    int64_t N = x->dims[0], count = N * inner;
    bool dbl = x->dtype == TETHER_DTYPE_DOUBLE;
    for (int64_t ch = 0; ch < C; ch++) {
        double s = 0, ss = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t n = 0; n < N; n++) {
                int64_t base = (n * C + ch) * inner;
                for (int64_t i = 0; i < inner; i++) {
                    double v = dbl ? ((const double *)x->data)[base + i] : ((const float *)x->data)[base + i];
                    if (pass == 0)
                        s += v;
                    else
                        ss += (v - mean[ch]) * (v - mean[ch]);
                }
            }
            if (pass == 0)
                mean[ch] = count ? s / (double)count : 0;
        }
        var[ch] = count ? ss / (double)count : 0;
    }
}

static tt_status run_batchnorm_native(tt_kctx *c)
{
    const bn_state *st = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t C = x->dims[1], inner = tt_dims_prod(x->dims, 2, x->rank);
    /* spatial = 0 (to opset 8) gives every parameter one value per (channel, position) */
    int64_t pn = tt_tensor_numel(tt_kin(c, 1)) == C ? C : C * inner;
    double *scale = NULL, *bias = NULL, *mean = NULL, *var = NULL, *bmean = NULL, *bvar = NULL;
    tt_status s = params_f64(c->node, tt_kin(c, 1), "scale", pn, &scale);
    if (s == TT_OK)
        s = params_f64(c->node, tt_kin(c, 2), "B", pn, &bias);
    if (s == TT_OK)
        s = params_f64(c->node, tt_kin(c, 3), "mean", pn, &mean);
    if (s == TT_OK)
        s = params_f64(c->node, tt_kin(c, 4), "var", pn, &var);
    if (s == TT_OK && st->training) {
        if (pn != C) {
            s = tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "training mode needs per-channel parameters");
        } else {
            bmean = tt_malloc((size_t)(C ? C : 1) * sizeof(double));
            bvar = tt_malloc((size_t)(C ? C : 1) * sizeof(double));
            if (!bmean || !bvar)
                s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
            else
                batch_stats(x, C, inner, bmean, bvar);
        }
    }
    if (s == TT_OK) {
        const double *m = bmean ? bmean : mean, *v = bvar ? bvar : var;
        /* fold into y = x * a + b, reusing scale and bias for a and b */
        for (int64_t i = 0; i < pn; i++) {
            double a = scale[i] / sqrt(v[i] + st->epsilon);
            bias[i] -= m[i] * a;
            scale[i] = a;
        }
        affine_job j = {x->data, y->data, scale, bias, C, inner, pn != C};
        int64_t planes = x->dims[0] * C;
        tt_parallel_for(planes, inner ? (16384 + inner - 1) / inner : planes,
                        x->dtype == TETHER_DTYPE_DOUBLE ? affine_f64 : affine_f32, &j);
        if (st->training) {
            /* running statistics (outputs 1, 2) and, before opset 14, the batch's (3, 4) */
            float mo = st->momentum;
            for (int k = 1; k < c->n_out; k++) {
                tt_tensor *o = tt_kout(c, k);
                if (!o)
                    continue;
                for (int64_t ch = 0; ch < C; ch++) {
                    double val = k == 1   ? mean[ch] * mo + bmean[ch] * (1 - mo)
                                 : k == 2 ? var[ch] * mo + bvar[ch] * (1 - mo)
                                 : k == 3 ? bmean[ch]
                                          : bvar[ch];
                    tt_store_f64(o->data, o->dtype, (size_t)ch, val);
                }
            }
        } else {
            /* inference: the statistics outputs, if wanted at all, pass the inputs through */
            for (int k = 1; k < c->n_out; k++) {
                tt_tensor *o = tt_kout(c, k);
                for (int64_t ch = 0; o && ch < C; ch++)
                    tt_store_f64(o->data, o->dtype, (size_t)ch, k % 2 ? mean[ch] : var[ch]);
            }
        }
    }
    tt_free(scale);
    tt_free(bias);
    tt_free(mean);
    tt_free(var);
    tt_free(bmean);
    tt_free(bvar);
    return s;
}

static tt_status run_batchnorm(tt_kctx *c)
{
    return tt_run_real(c, run_batchnorm_native);
}

/* ---- InstanceNormalization, LayerNormalization -------------------------------------------------- */

/* Normalises rows of `len` elements: y = (x - mean) / sqrt(var + eps) * scale + bias, with
 * scale and bias per row (InstanceNormalization: per channel) or per column (LayerNorm).
 * Optionally records each row's mean and 1 / sqrt(var + eps). */
typedef struct rownorm_job {
    const void *x;
    void *y;
    int64_t len;
    double eps;
    const double *scale, *bias; /* bias may be NULL */
    int64_t param_rows;         /* > 0: parameters per row, index row % param_rows; 0: per column */
    double *mean, *inv_std;     /* per row, may be NULL */
} rownorm_job;

#define DEF_ROWNORM(NAME, T)                                                                                           \
    static void NAME(void *arg, int64_t r0, int64_t r1)                                                                \
    {                                                                                                                  \
        const rownorm_job *j = arg;                                                                                    \
        for (int64_t r = r0; r < r1; r++) {                                                                            \
            const T *x = (const T *)j->x + r * j->len;                                                                 \
            T *y = (T *)j->y + r * j->len;                                                                             \
            double s = 0, ss = 0;                                                                                      \
            for (int64_t i = 0; i < j->len; i++)                                                                       \
                s += x[i];                                                                                             \
            double mean = j->len ? s / (double)j->len : 0;                                                             \
            for (int64_t i = 0; i < j->len; i++)                                                                       \
                ss += (x[i] - mean) * (x[i] - mean);                                                                   \
            double inv = 1.0 / sqrt((j->len ? ss / (double)j->len : 0) + j->eps);                                      \
            if (j->mean)                                                                                               \
                j->mean[r] = mean, j->inv_std[r] = inv;                                                                \
            if (j->param_rows) {                                                                                       \
                int64_t pr = r % j->param_rows;                                                                        \
                double a = j->scale[pr] * inv, b = (j->bias ? j->bias[pr] : 0) - mean * a;                             \
                for (int64_t i = 0; i < j->len; i++)                                                                   \
                    y[i] = (T)(x[i] * a + b);                                                                          \
            } else {                                                                                                   \
                for (int64_t i = 0; i < j->len; i++)                                                                   \
                    y[i] = (T)((x[i] - mean) * inv * j->scale[i] + (j->bias ? j->bias[i] : 0));                        \
            }                                                                                                          \
        }                                                                                                              \
    }

DEF_ROWNORM(rownorm_f32, float)
DEF_ROWNORM(rownorm_f64, double)

static void rownorm(const rownorm_job *j, int64_t rows, bool dbl)
{
    tt_parallel_for(rows, j->len ? (16384 + j->len - 1) / j->len : rows, dbl ? rownorm_f64 : rownorm_f32, (void *)j);
}

static tt_status infer_instancenorm(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (!tt_iin(c, 1) || !tt_iin(c, 2))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "inputs scale and B are required");
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    TT_TRY(tt_infer_check_dtype(c, 2, TT_DTS_FLOAT));
    if (x->rank >= 0 && x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X needs rank >= 2 (N, C, ...), got %d", x->rank);
    for (int i = 1; i < 3; i++) {
        const tt_type *p = tt_iin(c, i);
        if (p->rank >= 0 && x->rank >= 2 &&
            (p->rank != 1 || (p->dims[0] >= 0 && x->dims[1] >= 0 && p->dims[0] != x->dims[1])))
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "input %d must be a vector of the %" PRId64 " channels", i,
                               x->dims[1]);
    }
    return tt_infer_same(c, 0, 0);
}

static tt_status run_instancenorm_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int64_t C = x->dims[1];
    double *scale = NULL, *bias = NULL;
    tt_status s = params_f64(c->node, tt_kin(c, 1), "scale", C, &scale);
    if (s == TT_OK)
        s = params_f64(c->node, tt_kin(c, 2), "B", C, &bias);
    if (s == TT_OK) {
        rownorm_job j = {.x = x->data,
                         .y = tt_kout(c, 0)->data,
                         .len = tt_dims_prod(x->dims, 2, x->rank),
                         .eps = tt_attr_float(c->node, "epsilon", 1e-5f),
                         .scale = scale,
                         .bias = bias,
                         .param_rows = C ? C : 1};
        rownorm(&j, x->dims[0] * C, x->dtype == TETHER_DTYPE_DOUBLE);
    }
    tt_free(scale);
    tt_free(bias);
    return s;
}

static tt_status run_instancenorm(tt_kctx *c)
{
    return tt_run_real(c, run_instancenorm_native);
}

static tt_status infer_layernorm(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (!tt_iin(c, 1))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input Scale is required");
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    TT_TRY(tt_infer_check_dtype(c, 2, TT_DTS_FLOAT));
    int64_t stash = tt_attr_int(c->node, "stash_type", 1);
    if (stash != TETHER_DTYPE_FLOAT && stash != TETHER_DTYPE_BFLOAT16)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "stash_type %" PRId64 " is not float or bfloat16", stash);
    c->out[0] = *x;
    if (x->rank < 0) {
        for (int k = 1; k < c->n_out; k++)
            tt_infer_tensor(c, k, (tt_dtype)stash, -1, NULL);
        return TT_OK;
    }
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    int64_t dims[TT_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        dims[i] = i < axis ? x->dims[i] : 1;
    for (int k = 1; k < c->n_out; k++)
        tt_infer_tensor(c, k, (tt_dtype)stash, x->rank, dims);
    return TT_OK;
}

static tt_status run_layernorm_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *sc = tt_kin(c, 1), *b = tt_kin(c, 2);
    tt_tensor *mo = tt_kout(c, 1), *io = tt_kout(c, 2);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    int64_t rows = tt_dims_prod(x->dims, 0, axis);
    double *scale = NULL, *bias = NULL, *stats = NULL;
    tt_status s = tt_param_f64(c->node, sc, "Scale", x->rank - axis, x->dims + axis, &scale);
    if (s == TT_OK && b)
        s = tt_param_f64(c->node, b, "B", x->rank - axis, x->dims + axis, &bias);
    if (s == TT_OK && (mo || io) && !(stats = tt_malloc((size_t)(rows ? 2 * rows : 1) * sizeof(double))))
        s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    if (s == TT_OK) {
        /* per-row statistics go to Mean and InvStdDev in the stash type */
        rownorm_job j = {.x = x->data,
                         .y = tt_kout(c, 0)->data,
                         .len = tt_dims_prod(x->dims, axis, x->rank),
                         .eps = tt_attr_float(c->node, "epsilon", 1e-5f),
                         .scale = scale,
                         .bias = bias,
                         .mean = stats,
                         .inv_std = stats ? stats + rows : NULL};
        rownorm(&j, rows, x->dtype == TETHER_DTYPE_DOUBLE);
        for (int64_t r = 0; stats && r < rows; r++) {
            if (mo)
                tt_store_f64(mo->data, mo->dtype, (size_t)r, stats[r]);
            if (io)
                tt_store_f64(io->data, io->dtype, (size_t)r, stats[rows + r]);
        }
    }
    tt_free(scale);
    tt_free(bias);
    tt_free(stats);
    return s;
}

static tt_status run_layernorm(tt_kctx *c)
{
    return tt_run_real(c, run_layernorm_native);
}

/* ---- LRN ------------------------------------------------------------------------------------------ */

typedef struct lrn_job {
    const void *x;
    void *y;
    int64_t C, inner, before, after; /* the channel window is [c - before, c + after] */
    double alpha_over_size, beta, bias;
} lrn_job;

/* y accumulates the window's sum of squares, then becomes x / (bias + alpha/size * sum)^beta */
#define DEF_LRN(NAME, T)                                                                                               \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                                                \
    {                                                                                                                  \
        const lrn_job *j = arg;                                                                                        \
        for (int64_t p = p0; p < p1; p++) {                                                                            \
            int64_t ch = p % j->C, lo = ch - j->before < 0 ? 0 : ch - j->before;                                       \
            int64_t hi = ch + j->after >= j->C ? j->C - 1 : ch + j->after;                                             \
            const T *x = (const T *)j->x + p * j->inner;                                                               \
            T *y = (T *)j->y + p * j->inner;                                                                           \
            for (int64_t i = 0; i < j->inner; i++)                                                                     \
                y[i] = 0;                                                                                              \
            for (int64_t k = lo; k <= hi; k++) {                                                                       \
                const T *xk = x + (k - ch) * j->inner;                                                                 \
                for (int64_t i = 0; i < j->inner; i++)                                                                 \
                    y[i] += xk[i] * xk[i];                                                                             \
            }                                                                                                          \
            for (int64_t i = 0; i < j->inner; i++)                                                                     \
                y[i] = (T)(x[i] / pow(j->bias + j->alpha_over_size * y[i], j->beta));                                  \
        }                                                                                                              \
    }

DEF_LRN(lrn_f32, float)
DEF_LRN(lrn_f64, double)

static tt_status infer_lrn(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    int64_t size = tt_attr_int(c->node, "size", 0);
    if (size < 1)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "size is %" PRId64 "; it must be positive", size);
    if (x->rank >= 0 && x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X needs rank >= 2 (N, C, ...), got %d", x->rank);
    return tt_infer_same(c, 0, 0);
}

static tt_status run_lrn_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int64_t size = tt_attr_int(c->node, "size", 1);
    /* the window around channel c: floor((size - 1) / 2) before, ceil((size - 1) / 2) after */
    lrn_job j = {.x = x->data,
                 .y = tt_kout(c, 0)->data,
                 .C = x->dims[1],
                 .inner = tt_dims_prod(x->dims, 2, x->rank),
                 .before = (size - 1) / 2,
                 .after = size / 2,
                 .alpha_over_size = tt_attr_float(c->node, "alpha", 1e-4f) / (double)size,
                 .beta = tt_attr_float(c->node, "beta", 0.75f),
                 .bias = tt_attr_float(c->node, "bias", 1.0f)};
    int64_t planes = x->dims[0] * x->dims[1];
    double window = (double)(size < j.C ? size : j.C) + 2;
    tt_parallel_for_stoppable(planes, j.inner ? (4096 + j.inner - 1) / j.inner : planes, (double)j.inner * window,
                              x->dtype == TETHER_DTYPE_DOUBLE ? lrn_f64 : lrn_f32, &j);
    return TT_OK;
}

static tt_status run_lrn(tt_kctx *c)
{
    return tt_run_real(c, run_lrn_native);
}

/* ---- MeanVarianceNormalization ------------------------------------------------------------------- */

/* Statistics over `axes` for every combination of the other dims: groups are numbered by
 * the kept dims, and an odometer walks x in memory order tracking each element's group. */
typedef struct group_walk {
    int rank;
    int64_t dims[TT_MAX_RANK], gstride[TT_MAX_RANK];
    int64_t groups, per_group;
} group_walk;

static tt_status group_walk_init(const tt_node *node, const tt_tensor *x, const int64_t *axes, size_t naxes,
                                 group_walk *w)
{
    bool red[TT_MAX_RANK] = {false};
    for (size_t i = 0; i < naxes; i++) {
        int a;
        TT_TRY(tt_norm_axis(node, axes[i], x->rank, false, &a));
        red[a] = true;
    }
    w->rank = x->rank;
    w->groups = w->per_group = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        w->dims[d] = x->dims[d];
        w->gstride[d] = red[d] ? 0 : w->groups;
        if (red[d])
            w->per_group *= x->dims[d];
        else
            w->groups *= x->dims[d];
    }
    return TT_OK;
}

/* pass 0 sums into acc, pass 1 sums squared deviations from mean, pass 2 writes y */
#define DEF_MVN_PASS(NAME, T)                                                                                          \
    static void NAME(const group_walk *w, int pass, const T *x, T *y, double *acc, const double *mean,                 \
                     const double *inv)                                                                                \
    {                                                                                                                  \
        int64_t idx[TT_MAX_RANK] = {0}, g = 0, n = w->groups * w->per_group;                                           \
        for (int64_t i = 0; i < n; i++) {                                                                              \
            double v = x[i];                                                                                           \
            if (pass == 0)                                                                                             \
                acc[g] += v;                                                                                           \
            else if (pass == 1)                                                                                        \
                acc[g] += (v - mean[g]) * (v - mean[g]);                                                               \
            else                                                                                                       \
                y[i] = (T)((v - mean[g]) * inv[g]);                                                                    \
            for (int d = w->rank - 1; d >= 0; d--) {                                                                   \
                g += w->gstride[d];                                                                                    \
                if (++idx[d] < w->dims[d])                                                                             \
                    break;                                                                                             \
                g -= w->gstride[d] * w->dims[d];                                                                       \
                idx[d] = 0;                                                                                            \
            }                                                                                                          \
        }                                                                                                              \
    }

DEF_MVN_PASS(mvn_pass_f32, float)
DEF_MVN_PASS(mvn_pass_f64, double)

static const int64_t *mvn_axes(const tt_node *node, size_t *n)
{
    static const int64_t def_axes[] = {0, 2, 3};
    const int64_t *axes = tt_attr_ints(node, "axes", n);
    if (!axes)
        axes = def_axes, *n = 3;
    return axes;
}

static tt_status infer_mvn(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    size_t n;
    const int64_t *axes = mvn_axes(c->node, &n);
    for (size_t i = 0; x->rank >= 0 && i < n; i++) {
        int a;
        TT_TRY(tt_norm_axis(c->node, axes[i], x->rank, false, &a));
    }
    return tt_infer_same(c, 0, 0);
}

static tt_status run_mvn_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    size_t naxes;
    const int64_t *axes = mvn_axes(c->node, &naxes);
    group_walk w;
    TT_TRY(group_walk_init(c->node, x, axes, naxes, &w));
    if (tt_tensor_numel(x) == 0)
        return TT_OK;
    double *mean = tt_calloc((size_t)w.groups, sizeof(double)), *inv = tt_calloc((size_t)w.groups, sizeof(double));
    if (!mean || !inv) {
        tt_free(mean);
        tt_free(inv);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    }
    bool dbl = x->dtype == TETHER_DTYPE_DOUBLE;
    for (int pass = 0; pass < 3; pass++) {
        if (dbl)
            mvn_pass_f64(&w, pass, x->data, y->data, pass == 0 ? mean : inv, mean, inv);
        else
            mvn_pass_f32(&w, pass, x->data, y->data, pass == 0 ? mean : inv, mean, inv);
        for (int64_t g = 0; g < w.groups && pass < 2; g++) {
            if (pass == 0)
                mean[g] /= (double)w.per_group;
            else /* as the op's function body: (x - mean) / (std + 1e-9) */
                inv[g] = 1.0 / (sqrt(inv[g] / (double)w.per_group) + 1e-9);
        }
    }
    tt_free(mean);
    tt_free(inv);
    return TT_OK;
}

static tt_status run_mvn(tt_kctx *c)
{
    return tt_run_real(c, run_mvn_native);
}

/* ---- LpNormalization ------------------------------------------------------------------------------- */

typedef struct lpnorm_job {
    const void *x;
    void *y;
    int64_t len, inner;
    int p;
} lpnorm_job;

/* one task per (outer, inner) line along the axis; a zero line stays zero */
#define DEF_LPNORM(NAME, T)                                                                                            \
    static void NAME(void *arg, int64_t l0, int64_t l1)                                                                \
    {                                                                                                                  \
        const lpnorm_job *j = arg;                                                                                     \
        for (int64_t l = l0; l < l1; l++) {                                                                            \
            int64_t base = l / j->inner * j->len * j->inner + l % j->inner;                                            \
            const T *x = (const T *)j->x + base;                                                                       \
            T *y = (T *)j->y + base;                                                                                   \
            double s = 0;                                                                                              \
            for (int64_t i = 0; i < j->len; i++) {                                                                     \
                double v = x[i * j->inner];                                                                            \
                s += j->p == 1 ? fabs(v) : v * v;                                                                      \
            }                                                                                                          \
            double norm = j->p == 1 ? s : sqrt(s);                                                                     \
            for (int64_t i = 0; i < j->len; i++)                                                                       \
                y[i * j->inner] = norm > 0 ? (T)(x[i * j->inner] / norm) : (T)0;                                       \
        }                                                                                                              \
    }

DEF_LPNORM(lpnorm_f32, float)
DEF_LPNORM(lpnorm_f64, double)

static tt_status infer_lpnorm(tt_ictx *c)
{
    int64_t p = tt_attr_int(c->node, "p", 2);
    if (p != 1 && p != 2)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "p is %" PRId64 "; only 1 and 2 are defined", p);
    const tt_type *x = tt_iin(c, 0);
    if (x->rank >= 0) {
        int axis;
        TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    }
    return tt_infer_same(c, 0, 0);
}

static tt_status run_lpnorm_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    lpnorm_job j = {x->data, tt_kout(c, 0)->data, x->dims[axis], tt_dims_prod(x->dims, axis + 1, x->rank),
                    (int)tt_attr_int(c->node, "p", 2)};
    int64_t lines = tt_dims_prod(x->dims, 0, axis) * j.inner;
    tt_parallel_for(lines, j.len ? (16384 + j.len - 1) / j.len : lines,
                    x->dtype == TETHER_DTYPE_DOUBLE ? lpnorm_f64 : lpnorm_f32, &j);
    return TT_OK;
}

static tt_status run_lpnorm(tt_kctx *c)
{
    return tt_run_real(c, run_lpnorm_native);
}

/* ---- Dropout ------------------------------------------------------------------------------------------ */

/* MT19937 drawing doubles as numpy's legacy RandomState does, so that a given seed drops
 * the same elements numpy's np.random.seed(seed); uniform(size) >= ratio would. */
typedef struct mt19937 {
    uint32_t s[624];
    int i;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed)
{
    m->s[0] = seed;
    for (int i = 1; i < 624; i++)
        m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}

static uint32_t mt_next(mt19937 *m)
{
    if (m->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7fffffffu);
            m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* uniform in [0, 1) with 53 random bits */
static double mt_double(mt19937 *m)
{
    uint32_t a = mt_next(m) >> 5, b = mt_next(m) >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

static tt_status infer_dropout(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0), *r = tt_iin(c, 1), *t = tt_iin(c, 2);
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    TT_TRY(tt_infer_check_dtype(c, 2, TT_DT(TETHER_DTYPE_BOOL)));
    if ((r && r->rank > 0) || (t && t->rank > 0))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "ratio and training_mode must be scalars");
    c->out[0] = *x;
    /* the mask is bool from opset 10, the data's type before */
    if (c->n_out > 1)
        tt_infer_tensor(c, 1, c->node->opset >= 10 ? TETHER_DTYPE_BOOL : x->dtype, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_dropout_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *rt = tt_kin(c, 1), *tm = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0), *mask = tt_kout(c, 1);
    int64_t n = tt_tensor_numel(x);
    /* Training exists from opset 12 (the training_mode input). Opsets 1-6 had is_test,
     * defaulting to training, but the models that carry it are inference graphs. */
    bool training = c->node->opset >= 12 && tm && *(const uint8_t *)tm->data;
    double ratio = tt_attr_float(c->node, "ratio", 0.5f);
    if (c->node->opset >= 12)
        ratio = rt ? tt_load_f64(rt->data, rt->dtype, 0) : 0.5;
    if (training && ratio == 0)
        training = false;
    if (training && !(ratio > 0 && ratio < 1))
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "ratio is %g; it must be in [0, 1)", ratio);
    if (!training) {
        memcpy(y->data, x->data, tt_tensor_nbytes(x));
        if (mask && mask->dtype == TETHER_DTYPE_BOOL)
            memset(mask->data, 1, (size_t)n);
        for (int64_t i = 0; mask && mask->dtype != TETHER_DTYPE_BOOL && i < n; i++)
            tt_store_f64(mask->data, mask->dtype, (size_t)i, 1.0);
        return TT_OK;
    }
    static atomic_uint_fast32_t counter;
    const tt_attr *seed = tt_node_attr(c->node, "seed");
    mt19937 *mt = tt_malloc(sizeof *mt);
    if (!mt)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    mt_seed(mt,
            seed ? (uint32_t)seed->i : (uint32_t)time(NULL) ^ (uint32_t)(atomic_fetch_add(&counter, 1) * 2654435761u));
    double scale = 1.0 / (1.0 - ratio);
    bool dbl = x->dtype == TETHER_DTYPE_DOUBLE;
    for (int64_t i = 0; i < n; i++) {
        bool keep = mt_double(mt) >= ratio;
        if (dbl)
            ((double *)y->data)[i] = keep ? ((const double *)x->data)[i] * scale : 0;
        else
            ((float *)y->data)[i] = keep ? (float)(((const float *)x->data)[i] * scale) : 0;
        if (mask)
            ((uint8_t *)mask->data)[i] = keep;
    }
    tt_free(mt);
    return TT_OK;
}

static tt_status run_dropout(tt_kctx *c)
{
    return tt_run_real(c, run_dropout_native);
}

const tt_op_schema tt_schemas_nn[] = {
    TT_SCHEMA("BatchNormalization", 1, 0, infer_batchnorm, .parse = bn_prepare),
    TT_SCHEMA("InstanceNormalization", 1, 0, infer_instancenorm),
    TT_SCHEMA("LayerNormalization", 17, 0, infer_layernorm),
    TT_SCHEMA("LRN", 1, 0, infer_lrn),
    TT_SCHEMA("MeanVarianceNormalization", 9, 0, infer_mvn),
    TT_SCHEMA("LpNormalization", 1, 0, infer_lpnorm),
    TT_SCHEMA("Dropout", 1, 0, infer_dropout, .flags = TT_OP_RANDOM),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_nn[] = {
    TT_KERNEL("BatchNormalization", 1, 0, TT_DTS_FLOAT, run_batchnorm),
    TT_KERNEL("InstanceNormalization", 1, 0, TT_DTS_FLOAT, run_instancenorm),
    TT_KERNEL("LayerNormalization", 17, 0, TT_DTS_FLOAT, run_layernorm),
    TT_KERNEL("LRN", 1, 0, TT_DTS_FLOAT, run_lrn),
    TT_KERNEL("MeanVarianceNormalization", 9, 0, TT_DTS_FLOAT, run_mvn),
    TT_KERNEL("LpNormalization", 1, 0, TT_DTS_FLOAT, run_lpnorm),
    TT_KERNEL("Dropout", 1, 0, TT_DTS_FLOAT, run_dropout),
    TT_KERNEL_END,
};
