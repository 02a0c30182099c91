/* The normalisations added since opset 18: RMSNormalization (23) and GroupNormalization
 * (18: scale and bias per group; 21: per channel). Statistics are computed in double;
 * rows split over the thread pool. */
#include "ops/util.h"

#include <inttypes.h>

static tt_status check_stash(const tt_node *n)
{
    int64_t stash = tt_attr_int(n, "stash_type", 1);
    if (stash != TETHER_DTYPE_FLOAT && stash != TETHER_DTYPE_DOUBLE && stash != TETHER_DTYPE_BFLOAT16 &&
        stash != TETHER_DTYPE_FLOAT16)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "stash_type %" PRId64 " is not a float type", stash);
    return TT_OK;
}

/* ---- RMSNormalization ------------------------------------------------------------------------ */

static tt_status infer_rmsnorm(tt_ictx *c)
{
    const tt_type *x, *sc;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &sc));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    TT_TRY(check_stash(c->node));
    if (x->rank >= 0) {
        int axis;
        TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    }
    return tt_infer_same(c, 0, 0);
}

typedef struct rms_job {
    const void *x;
    void *y;
    tt_dtype dt;
    int64_t len;
    double eps;
    const double *scale;
} rms_job;

static void rms_rows(void *arg, int64_t r0, int64_t r1)
{
    const rms_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        size_t base = (size_t)(r * j->len);
        double ss = 0;
        if (j->dt == TETHER_DTYPE_FLOAT) {
            const float *x = (const float *)j->x + base;
            float *y = (float *)j->y + base;
            for (int64_t i = 0; i < j->len; i++)
                ss += (double)x[i] * x[i];
            double inv = 1.0 / sqrt(ss / (double)j->len + j->eps);
            for (int64_t i = 0; i < j->len; i++)
                y[i] = (float)(x[i] * inv * j->scale[i]);
            continue;
        }
        for (int64_t i = 0; i < j->len; i++) {
            double v = tt_load_f64(j->x, j->dt, base + (size_t)i);
            ss += v * v;
        }
        double inv = 1.0 / sqrt(ss / (double)j->len + j->eps);
        for (int64_t i = 0; i < j->len; i++)
            tt_store_f64(j->y, j->dt, base + (size_t)i, tt_load_f64(j->x, j->dt, base + (size_t)i) * inv * j->scale[i]);
    }
}

static tt_status run_rmsnorm(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *sc = tt_kin(c, 1);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    double *scale;
    TT_TRY(tt_param_f64(c->node, sc, "scale", x->rank - axis, x->dims + axis, &scale));
    rms_job j = {.x = x->data,
                 .y = tt_kout(c, 0)->data,
                 .dt = x->dtype,
                 .len = tt_dims_prod(x->dims, axis, x->rank),
                 .eps = tt_attr_float(c->node, "epsilon", 1e-5f),
                 .scale = scale};
    int64_t rows = tt_dims_prod(x->dims, 0, axis);
    if (j.len > 0)
        tt_parallel_for(rows, (16384 + j.len - 1) / j.len, rms_rows, &j);
    tt_free(scale);
    return TT_OK;
}

static uint64_t flops_rmsnorm(const tt_ictx *c)
{
    const tt_type *y = &c->out[0];
    return y->rank >= 0 ? (uint64_t)(4 * tt_dims_prod(y->dims, 0, y->rank)) : 0;
}

/* ---- GroupNormalization ------------------------------------------------------------------------ */

static tt_status infer_groupnorm(tt_ictx *c)
{
    const tt_type *x, *sc, *b;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &sc));
    TT_TRY(tt_infer_input(c, 2, &b));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    TT_TRY(tt_infer_check_dtype(c, 2, TT_DTS_FLOAT));
    TT_TRY(check_stash(c->node));
    int64_t g = tt_attr_int(c->node, "num_groups", 0);
    if (!tt_node_attr(c->node, "num_groups") || g <= 0)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "num_groups must be given and positive");
    if (x->rank >= 0 && x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X needs rank >= 2 (N, C, ...), got %d", x->rank);
    if (x->rank >= 2 && x->dims[1] >= 0 && x->dims[1] % g)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "%" PRId64 " channels do not split into %" PRId64 " groups",
                           x->dims[1], g);
    return tt_infer_same(c, 0, 0);
}

static tt_status run_groupnorm(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *sc = tt_kin(c, 1), *bi = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    int64_t G = tt_attr_int(c->node, "num_groups", 1), N = x->dims[0], C = x->dims[1];
    int64_t inner = tt_dims_prod(x->dims, 2, x->rank), per = G ? C / G : 0;
    /* opset 18 scales per group, 21 per channel */
    int64_t plen = c->node->opset < 21 ? G : C;
    if (sc->rank != 1 || bi->rank != 1 || sc->dims[0] != plen || bi->dims[0] != plen)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "scale and bias must be vectors of %" PRId64 " (%s)", plen,
                           c->node->opset < 21 ? "groups" : "channels");
    double eps = tt_attr_float(c->node, "epsilon", 1e-5f);
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            size_t base = (size_t)((n * C + g * per) * inner), len = (size_t)(per * inner);
            double s = 0, ss = 0;
            for (size_t i = 0; i < len; i++)
                s += tt_load_f64(x->data, x->dtype, base + i);
            double mean = len ? s / (double)len : 0;
            for (size_t i = 0; i < len; i++) {
                double d = tt_load_f64(x->data, x->dtype, base + i) - mean;
                ss += d * d;
            }
            double inv = 1.0 / sqrt((len ? ss / (double)len : 0) + eps);
            for (size_t i = 0; i < len; i++) {
                int64_t ch = g * per + (int64_t)(i / (size_t)(inner ? inner : 1)), p = plen == G ? g : ch;
                double v = (tt_load_f64(x->data, x->dtype, base + i) - mean) * inv;
                tt_store_f64(y->data, y->dtype, base + i,
                             v * tt_load_f64(sc->data, sc->dtype, (size_t)p) + tt_load_f64(bi->data, bi->dtype, (size_t)p));
            }
        }
    return TT_OK;
}

const tt_op_schema tt_schemas_norm[] = {
    TT_SCHEMA("RMSNormalization", 23, 0, infer_rmsnorm, .flops = flops_rmsnorm),
    TT_SCHEMA("GroupNormalization", 18, 0, infer_groupnorm),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_norm[] = {
    TT_KERNEL("RMSNormalization", 23, 0, TT_DTS_FLOAT, run_rmsnorm),
    TT_KERNEL("GroupNormalization", 18, 0, TT_DTS_FLOAT, run_groupnorm),
    TT_KERNEL_END,
};
