/* Linear quantisation: QuantizeLinear and DequantizeLinear (per tensor or per axis) and
 * DynamicQuantizeLinear. Quantising rounds half to even (rintf under the default rounding
 * mode) and saturates to the target type; NaN quantises to the zero point. */
#include "ops/util.h"

#include <inttypes.h>

#define Q_TYPES                                                                                                        \
    (TT_DT(TETHER_DTYPE_INT8) | TT_DT(TETHER_DTYPE_UINT8) | TT_DT(TETHER_DTYPE_INT16) | TT_DT(TETHER_DTYPE_UINT16))

/* One (scale, zero point) for the whole tensor, or one per index along an axis: element e
 * uses entry (e / inner) % n. */
typedef struct qparams {
    float *scale;
    int32_t *zp;
    int64_t n, inner;
} qparams;

static void qparams_free(qparams *q)
{
    tt_free(q->scale);
    tt_free(q->zp);
}

static tt_status qparams_load(const tt_node *node, const tt_tensor *x, const tt_tensor *scale, const tt_tensor *zp,
                              qparams *q)
{
    memset(q, 0, sizeof *q);
    int64_t n = tt_tensor_numel(scale);
    q->n = 1;
    q->inner = tt_tensor_numel(x);
    if (n != 1 || scale->rank > 1) {
        int axis;
        if (scale->rank != 1)
            return tt_op_error(node, TETHER_ERR_SHAPE, "the scale must be a scalar or 1-D, got rank %d", scale->rank);
        TT_TRY(tt_norm_axis(node, tt_attr_int(node, "axis", 1), x->rank, false, &axis));
        if (x->dims[axis] != n)
            return tt_op_error(node, TETHER_ERR_SHAPE,
                               "%" PRId64 " scales for axis %d of size %" PRId64 " (they must match)", n, axis,
                               x->dims[axis]);
        q->n = n;
        q->inner = tt_dims_prod(x->dims, axis + 1, x->rank);
    }
    if (zp && tt_tensor_numel(zp) != n)
        return tt_op_error(node, TETHER_ERR_SHAPE, "%" PRId64 " zero points for %" PRId64 " scales",
                           tt_tensor_numel(zp), n);
    q->scale = tt_malloc((size_t)n * sizeof *q->scale);
    q->zp = tt_malloc((size_t)n * sizeof *q->zp);
    if (!q->scale || !q->zp) {
        qparams_free(q);
        return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        q->scale[i] = (float)tt_load_f64(scale->data, scale->dtype, (size_t)i);
        q->zp[i] = zp ? (int32_t)tt_load_i64(zp->data, zp->dtype, (size_t)i) : 0;
    }
    return TT_OK;
}

/* The end of the run of elements from e0 (before `end`, at most cap long) that share one
 * (scale, zero point); *k is its index. */
static int64_t qparams_run(const qparams *q, int64_t e0, int64_t end, int64_t cap, int64_t *k)
{
    int64_t row = e0 / q->inner, e1 = (row + 1) * q->inner;
    *k = row % q->n;
    if (e1 > end)
        e1 = end;
    return e1 - e0 > cap ? e0 + cap : e1;
}

/* ---- QuantizeLinear ----------------------------------------------------------------------- */

typedef struct quant_job {
    const qparams *q;
    const void *x;
    tt_dtype xt, yt;
    void *y;
} quant_job;

static inline int32_t quantize(float v, float scale, int32_t zp, int32_t lo, int32_t hi)
{
    float r = rintf(v / scale);
    if (isnan(r))
        return zp;
    r += (float)zp;
    return r <= (float)lo ? lo : r >= (float)hi ? hi : (int32_t)r;
}

#define Q_STORE(E, T, LO, HI)                                                                                          \
    case E:                                                                                                            \
        for (int64_t i = e0; i < e1; i++)                                                                              \
            ((T *)j->y)[i] = (T)quantize(xf[i - e0], s, z, LO, HI);                                                    \
        break;

static void quant_range(void *arg, int64_t b, int64_t e)
{
    const quant_job *j = arg;
    float xf[256];
    for (int64_t e0 = b, e1, k; e0 < e; e0 = e1) {
        e1 = qparams_run(j->q, e0, e, 256, &k);
        float s = j->q->scale[k];
        int32_t z = j->q->zp[k];
        if (j->xt == TETHER_DTYPE_INT32)
            for (int64_t i = e0; i < e1; i++)
                xf[i - e0] = (float)((const int32_t *)j->x)[i];
        else
            tt_to_f32((const char *)j->x + (size_t)e0 * tt_dtype_size(j->xt), j->xt, xf, e1 - e0);
        switch (j->yt) {
            Q_STORE(TETHER_DTYPE_UINT8, uint8_t, 0, 255)
            Q_STORE(TETHER_DTYPE_INT8, int8_t, -128, 127)
            Q_STORE(TETHER_DTYPE_UINT16, uint16_t, 0, 65535)
            Q_STORE(TETHER_DTYPE_INT16, int16_t, -32768, 32767)
        default: break;
        }
    }
}

static tt_status infer_quantize(tt_ictx *c)
{
    const tt_type *x, *scale, *zp = tt_iin(c, 2);
    TT_TRY(tt_need_input(c, 0, &x));
    TT_TRY(tt_need_input(c, 1, &scale));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    TT_TRY(tt_infer_check_dtype(c, 2, Q_TYPES));
    tt_infer_tensor(c, 0, zp ? zp->dtype : TETHER_DTYPE_UINT8, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_quantize(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    qparams q;
    TT_TRY(qparams_load(c->node, x, tt_kin(c, 1), tt_kin(c, 2), &q));
    quant_job j = {.q = &q, .x = x->data, .xt = x->dtype, .yt = y->dtype, .y = y->data};
    tt_map(tt_tensor_numel(x), quant_range, &j);
    qparams_free(&q);
    return TT_OK;
}

/* ---- DequantizeLinear ------------------------------------------------------------------------ */

typedef struct dequant_job {
    const qparams *q;
    const void *x;
    tt_dtype xt;
    float *y;
} dequant_job;

#define DQ_CASE(E, T)                                                                                                  \
    case E:                                                                                                            \
        for (int64_t i = e0; i < e1; i++)                                                                              \
            j->y[i] = (float)((int64_t)((const T *)j->x)[i] - z) * s;                                                  \
        break;

static void dequant_range(void *arg, int64_t b, int64_t e)
{
    const dequant_job *j = arg;
    for (int64_t e0 = b, e1, k; e0 < e; e0 = e1) {
        e1 = qparams_run(j->q, e0, e, e - e0, &k);
        float s = j->q->scale[k];
        int64_t z = j->q->zp[k];
        switch (j->xt) {
            DQ_CASE(TETHER_DTYPE_UINT8, uint8_t)
            DQ_CASE(TETHER_DTYPE_INT8, int8_t)
            DQ_CASE(TETHER_DTYPE_UINT16, uint16_t)
            DQ_CASE(TETHER_DTYPE_INT16, int16_t)
            DQ_CASE(TETHER_DTYPE_INT32, int32_t)
        default: break;
        }
    }
}

static tt_status infer_dequantize(tt_ictx *c)
{
    const tt_type *x, *scale;
    TT_TRY(tt_need_input(c, 0, &x));
    TT_TRY(tt_need_input(c, 1, &scale));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    tt_infer_tensor(c, 0, TETHER_DTYPE_FLOAT, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_dequantize(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    qparams q;
    TT_TRY(qparams_load(c->node, x, tt_kin(c, 1), tt_kin(c, 2), &q));
    dequant_job j = {.q = &q, .x = x->data, .xt = x->dtype, .y = tt_kout(c, 0)->data};
    tt_map(tt_tensor_numel(x), dequant_range, &j);
    qparams_free(&q);
    return TT_OK;
}

/* ---- DynamicQuantizeLinear: uint8 with the scale and zero point that map [min(x, 0),
 * max(x, 0)] onto [0, 255] ------------------------------------------------------------------ */

static tt_status infer_dynamic_quantize(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_need_input(c, 0, &x));
    tt_infer_tensor(c, 0, TETHER_DTYPE_UINT8, x->rank, x->dims);
    tt_infer_tensor(c, 1, TETHER_DTYPE_FLOAT, 0, NULL);
    tt_infer_tensor(c, 2, TETHER_DTYPE_UINT8, 0, NULL);
    return TT_OK;
}

static tt_status run_dynamic_quantize(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    const float *xf = x->data;
    int64_t n = tt_tensor_numel(x);
    float lo = 0, hi = 0; /* the range always holds 0, so that 0 is exact; NaN is skipped */
    for (int64_t i = 0; i < n; i++) {
        lo = xf[i] < lo ? xf[i] : lo;
        hi = xf[i] > hi ? xf[i] : hi;
    }
    float scale = (hi - lo) / 255.0f;
    /* all zeros give scale 0: every value is then exactly the zero point 0 */
    int32_t zp = scale == 0 ? 0 : quantize(0.0f - lo, scale, 0, 0, 255);
    qparams q = {.scale = &scale, .zp = &zp, .n = 1, .inner = n};
    tt_tensor *y = tt_kout(c, 0);
    quant_job j = {.q = &q, .x = xf, .xt = TETHER_DTYPE_FLOAT, .yt = TETHER_DTYPE_UINT8, .y = y ? y->data : NULL};
    if (y && scale != 0)
        tt_map(n, quant_range, &j);
    else if (y)
        memset(j.y, 0, (size_t)n);
    if (tt_kout(c, 1))
        *(float *)tt_kout(c, 1)->data = scale;
    if (tt_kout(c, 2))
        *(uint8_t *)tt_kout(c, 2)->data = (uint8_t)zp;
    return TT_OK;
}

const tt_op_schema tt_schemas_quant[] = {
    TT_SCHEMA("QuantizeLinear", 10, 0, infer_quantize),
    TT_SCHEMA("DequantizeLinear", 10, 0, infer_dequantize),
    TT_SCHEMA("DynamicQuantizeLinear", 11, 0, infer_dynamic_quantize),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_quant[] = {
    TT_KERNEL("QuantizeLinear", 10, 0, TT_DTS_FLOAT | TT_DT(TETHER_DTYPE_INT32), run_quantize),
    TT_KERNEL("DequantizeLinear", 10, 0, Q_TYPES | TT_DT(TETHER_DTYPE_INT32), run_dequantize),
    TT_KERNEL("DynamicQuantizeLinear", 11, 0, TT_DT(TETHER_DTYPE_FLOAT), run_dynamic_quantize),
    TT_KERNEL_END,
};
