/* Linear quantisation: QuantizeLinear and DequantizeLinear (per tensor, per axis or blocked;
 * to and from 16-, 8-, 4- and 2-bit integers, float8 and float4e2m1) and DynamicQuantizeLinear. Quantising rounds half to even (rintf under the default rounding
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

static void quant_range(void *arg, int64_t b, int64_t e)
{
    const quant_job *j = arg;
    float xf[256];
    for (int64_t e0 = b, e1, k; e0 < e; e0 = e1) {
        e1 = qparams_run(j->q, e0, e, 256, &k);
        float s = j->q->scale[k];
        int32_t z = j->q->zp[k];
        tt_to_f32((const char *)j->x + (size_t)e0 * tt_dtype_size(j->xt), j->xt, xf, e1 - e0);
        for (int64_t i = e0; i < e1; i++)
            ((uint8_t *)j->y)[i] = (uint8_t)quantize(xf[i - e0], s, z, 0, 255);
    }
}

/* ---- QuantizeLinear, DequantizeLinear: every granularity and type ---------------------------
 * Per tensor (a scalar scale), per axis (a 1-D scale along `axis`) or, from opset 21, blocked
 * (a scale of x's rank whose `axis` dim is ceil(x's / block_size)). Targets: 8- and 16-bit
 * integers, int4/uint4/int2/uint2 (saturated), and float8 (saturate attribute) and float4e2m1,
 * rounded to nearest even. Following ONNX's reference, float8 ignores the zero point and
 * float4e2m1 adds it before rounding. */

#define Q_INT_TYPES (Q_TYPES | TT_DTS_MINIINT)
#define Q_OUT_TYPES (Q_INT_TYPES | TT_DTS_FLOAT8 | TT_DT(TETHER_DTYPE_FLOAT4E2M1))

typedef struct q_attrs {
    int64_t axis, block;
    int output_dtype, precision; /* 0: not given */
    bool saturate;
} q_attrs;

static tt_status parse_q(tt_node *n, void **state)
{
    q_attrs *a = tt_calloc(1, sizeof *a);
    if (!a)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    *state = a;
    a->axis = tt_attr_int(n, "axis", 1);
    a->block = tt_attr_int(n, "block_size", 0);
    a->saturate = tt_attr_int(n, "saturate", 1) != 0;
    int64_t od = tt_attr_int(n, "output_dtype", 0), pr = tt_attr_int(n, "precision", 0);
    if (a->block < 0)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "block_size %" PRId64 " is negative", a->block);
    bool quant = strcmp(n->op_type, "QuantizeLinear") == 0;
    uint32_t allowed = quant ? Q_OUT_TYPES : TT_DTS_FLOAT;
    if (od < 0 || od >= TT_DTYPE_COUNT || (od && !((allowed >> od) & 1)))
        return tt_op_error(n, od > 0 && od <= 28 ? TETHER_ERR_UNSUPPORTED : TETHER_ERR_INVALID_MODEL,
                           "output_dtype %" PRId64 " is not a type %s supports", od, n->op_type);
    if (pr < 0 || pr >= TT_DTYPE_COUNT || (pr && !((TT_DTS_FLOAT >> pr) & 1)))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "precision %" PRId64 " is not a float type", pr);
    a->output_dtype = (int)od;
    a->precision = (int)pr;
    return TT_OK;
}

/* Where element e of x finds its scale and zero point. */
typedef struct qmap {
    int64_t n;              /* parameters */
    int64_t inner, D, B, S; /* axis layout: elements after the axis, its size, block, scale's size */
    bool blocked;
} qmap;

static inline int64_t qmap_index(const qmap *m, int64_t e)
{
    if (m->n == 1)
        return 0;
    int64_t i = (e / m->inner) % m->D;
    if (!m->blocked)
        return i;
    int64_t pre = e / (m->inner * m->D), post = e % m->inner;
    return (pre * m->S + i / m->B) * m->inner + post;
}

static tt_status qmap_init(const tt_node *n, const q_attrs *a, const tt_tensor *x, const tt_tensor *scale,
                           const tt_tensor *zp, qmap *m)
{
    char b1[160], b2[160];
    memset(m, 0, sizeof *m);
    m->n = tt_tensor_numel(scale);
    /* a scalar may come as [1]: the counts must agree, and blocked shapes too */
    if (zp && (tt_tensor_numel(zp) != m->n ||
               (a->block && (zp->rank != scale->rank ||
                             memcmp(zp->dims, scale->dims, sizeof(int64_t) * (size_t)scale->rank)))))
        return tt_op_error(n, TETHER_ERR_SHAPE, "the zero point's shape %s differs from the scale's %s",
                           tt_dims_str(zp->rank, zp->dims, b1, 160), tt_dims_str(scale->rank, scale->dims, b2, 160));
    if (m->n == 1 && scale->rank <= 1 && !a->block)
        return TT_OK;
    int axis;
    TT_TRY(tt_norm_axis(n, a->axis, x->rank, false, &axis));
    m->inner = tt_dims_prod(x->dims, axis + 1, x->rank);
    m->D = x->dims[axis];
    if (!a->block) {
        if (scale->rank != 1)
            return tt_op_error(n, TETHER_ERR_SHAPE, "the scale must be a scalar or 1-D, got rank %d%s", scale->rank,
                               n->opset >= 21 ? " (blocked quantisation needs block_size)" : "");
        if (m->n != m->D)
            return tt_op_error(n, TETHER_ERR_SHAPE, "%" PRId64 " scales for axis %d of size %" PRId64 " (they must match)",
                               m->n, axis, m->D);
        return TT_OK;
    }
    m->blocked = true;
    m->B = a->block;
    m->S = (m->D + m->B - 1) / m->B;
    bool ok = scale->rank == x->rank;
    for (int d = 0; ok && d < x->rank; d++)
        ok = scale->dims[d] == (d == axis ? m->S : x->dims[d]);
    if (!ok)
        return tt_op_error(n, TETHER_ERR_SHAPE, "a blocked scale for x %s, axis %d and block_size %" PRId64
                           " must have shape like x with ceil(%" PRId64 " / %" PRId64 ") on the axis, got %s",
                           tt_dims_str(x->rank, x->dims, b1, 160), axis, m->B, m->D, m->B,
                           tt_dims_str(scale->rank, scale->dims, b2, 160));
    return TT_OK;
}

/* Rounds v to what dtype t holds (float32 when t is a narrower or an integer type). */
static double round_to(double v, tt_dtype t)
{
    switch (t) {
    case TETHER_DTYPE_DOUBLE: return v;
    case TETHER_DTYPE_FLOAT16: return tt_f16_to_f32(tt_f32_to_f16((float)v));
    case TETHER_DTYPE_BFLOAT16: return tt_bf16_to_f32(tt_f32_to_bf16((float)v));
    default: return (float)v;
    }
}

/* The type x / scale is computed in, as numpy promotes (precision overrides). */
static tt_dtype div_type(const q_attrs *a, tt_dtype xt, tt_dtype st)
{
    if (a->precision)
        return (tt_dtype)a->precision;
    if (xt == TETHER_DTYPE_DOUBLE || st == TETHER_DTYPE_DOUBLE || xt == TETHER_DTYPE_INT32)
        return TETHER_DTYPE_DOUBLE;
    return xt == st ? xt : TETHER_DTYPE_FLOAT;
}

static void q_range(int64_t *lo, int64_t *hi, tt_dtype t)
{
    switch (t) {
    case TETHER_DTYPE_UINT8: *lo = 0, *hi = 255; break;
    case TETHER_DTYPE_INT8: *lo = -128, *hi = 127; break;
    case TETHER_DTYPE_UINT16: *lo = 0, *hi = 65535; break;
    case TETHER_DTYPE_INT16: *lo = -32768, *hi = 32767; break;
    case TETHER_DTYPE_UINT4: *lo = 0, *hi = 15; break;
    case TETHER_DTYPE_INT4: *lo = -8, *hi = 7; break;
    case TETHER_DTYPE_UINT2: *lo = 0, *hi = 3; break;
    default: *lo = -2, *hi = 1; break; /* int2 */
    }
}

typedef struct q_job {
    const q_attrs *a;
    const qmap *m;
    const tt_tensor *x, *scale, *zp;
    tt_tensor *y;
    tt_dtype dt; /* the division's type */
} q_job;

static void q_run(void *arg, int64_t b, int64_t e)
{
    const q_job *j = arg;
    tt_dtype yt = j->y->dtype;
    bool to_int = (Q_INT_TYPES >> yt) & 1;
    int64_t lo = 0, hi = 0;
    if (to_int)
        q_range(&lo, &hi, yt);
    for (int64_t i = b; i < e; i++) {
        int64_t k = qmap_index(j->m, i);
        double s = tt_load_f64(j->scale->data, j->scale->dtype, (size_t)k);
        double zp = j->zp ? tt_load_f64(j->zp->data, j->zp->dtype, (size_t)k) : 0;
        double q = round_to(round_to(tt_load_f64(j->x->data, j->x->dtype, (size_t)i), j->dt) / round_to(s, j->dt), j->dt);
        if (to_int) {
            double r = nearbyint(q); /* halves to even */
            int64_t v = r != r ? (int64_t)zp : (int64_t)fmax(fmin(r + zp, (double)hi), (double)lo);
            tt_store_i64(j->y->data, yt, (size_t)i, v);
        } else if (yt == TETHER_DTYPE_FLOAT4E2M1) {
            ((uint8_t *)j->y->data)[i] = tt_small_from_f64((float)(q + zp), yt, true, TT_ROUND_NEAREST_EVEN);
        } else { /* float8: the zero point does not take part */
            ((uint8_t *)j->y->data)[i] = tt_small_from_f64(q, yt, j->a->saturate, TT_ROUND_NEAREST_EVEN);
        }
    }
}

static tt_status infer_quantize(tt_ictx *c)
{
    const q_attrs *a = c->node->state;
    const tt_type *x, *scale, *zp = tt_iin(c, 2);
    TT_TRY(tt_need_input(c, 0, &x));
    TT_TRY(tt_need_input(c, 1, &scale));
    uint32_t scale_types = TT_DTS_FLOAT | TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_FLOAT8E8M0);
    TT_TRY(tt_infer_check_dtype(c, 1, c->node->opset >= 19 ? scale_types : TT_DTS_FLOAT));
    TT_TRY(tt_infer_check_dtype(c, 2, c->node->opset >= 19 ? Q_OUT_TYPES : Q_TYPES));
    tt_dtype yt = zp && zp->dtype ? zp->dtype : a->output_dtype ? (tt_dtype)a->output_dtype : TETHER_DTYPE_UINT8;
    if (zp && zp->dtype && a->output_dtype && zp->dtype != (tt_dtype)a->output_dtype)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "output_dtype %s differs from the zero point's %s",
                           tt_dtype_name((tt_dtype)a->output_dtype), tt_dtype_name(zp->dtype));
    tt_infer_tensor(c, 0, yt, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_quantize(tt_kctx *c)
{
    const q_attrs *a = c->state;
    const tt_tensor *x = tt_kin(c, 0), *scale = tt_kin(c, 1), *zp = tt_kin(c, 2);
    qmap m;
    TT_TRY(qmap_init(c->node, a, x, scale, zp, &m));
    q_job j = {.a = a, .m = &m, .x = x, .scale = scale, .zp = zp, .y = tt_kout(c, 0),
               .dt = div_type(a, x->dtype, scale->dtype)};
    tt_map(tt_tensor_numel(x), q_run, &j);
    return TT_OK;
}

static void dq_run(void *arg, int64_t b, int64_t e)
{
    const q_job *j = arg;
    tt_dtype xt = j->x->dtype, yt = j->y->dtype;
    bool use_zp = j->zp && ((Q_INT_TYPES | TT_DT(TETHER_DTYPE_INT32)) >> xt & 1);
    bool dbl = j->scale->dtype == TETHER_DTYPE_DOUBLE;
    for (int64_t i = b; i < e; i++) {
        int64_t k = qmap_index(j->m, i);
        double s = tt_load_f64(j->scale->data, j->scale->dtype, (size_t)k);
        double d = (float)tt_load_f64(j->x->data, xt, (size_t)i);
        if (use_zp)
            d = (float)(d - tt_load_f64(j->zp->data, j->zp->dtype, (size_t)k));
        double v = d * s;
        tt_store_f64(j->y->data, yt, (size_t)i, dbl ? v : (double)(float)v);
    }
}

static tt_status infer_dequantize(tt_ictx *c)
{
    const q_attrs *a = c->node->state;
    const tt_type *x, *scale;
    TT_TRY(tt_need_input(c, 0, &x));
    TT_TRY(tt_need_input(c, 1, &scale));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT | TT_DT(TETHER_DTYPE_FLOAT8E8M0)));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    /* before opset 19 the output was float; then the scale's type, or output_dtype (23) */
    tt_dtype yt = a->output_dtype ? (tt_dtype)a->output_dtype
                  : c->node->opset >= 19 && scale->dtype ? scale->dtype
                                                         : TETHER_DTYPE_FLOAT;
    if (!((TT_DTS_FLOAT >> yt) & 1))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "the output type %s is not a float type; set output_dtype",
                           tt_dtype_name(yt));
    tt_infer_tensor(c, 0, yt, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_dequantize(tt_kctx *c)
{
    const q_attrs *a = c->state;
    const tt_tensor *x = tt_kin(c, 0), *scale = tt_kin(c, 1), *zp = tt_kin(c, 2);
    qmap m;
    TT_TRY(qmap_init(c->node, a, x, scale, zp, &m));
    q_job j = {.a = a, .m = &m, .x = x, .scale = scale, .zp = zp, .y = tt_kout(c, 0)};
    tt_map(tt_tensor_numel(x), dq_run, &j);
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
    TT_SCHEMA("QuantizeLinear", 10, 0, infer_quantize, .parse = parse_q),
    TT_SCHEMA("DequantizeLinear", 10, 0, infer_dequantize, .parse = parse_q),
    TT_SCHEMA("DynamicQuantizeLinear", 11, 0, infer_dynamic_quantize),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_quant[] = {
    TT_KERNEL("QuantizeLinear", 10, 0, TT_DTS_FLOAT | TT_DT(TETHER_DTYPE_INT32), run_quantize),
    TT_KERNEL("DequantizeLinear", 10, 18, Q_TYPES | TT_DT(TETHER_DTYPE_INT32), run_dequantize),
    TT_KERNEL("DequantizeLinear", 19, 0, Q_OUT_TYPES | TT_DT(TETHER_DTYPE_INT32), run_dequantize),
    TT_KERNEL("DynamicQuantizeLinear", 11, 0, TT_DT(TETHER_DTYPE_FLOAT), run_dynamic_quantize),
    TT_KERNEL_END,
};
