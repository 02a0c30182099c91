/* Sliding-window geometry for Conv, ConvTranspose and the pools, and the float detour for
 * narrow dtypes. The output-size rules follow the ONNX operator docs: explicit pads with
 * floor (or ceil_mode) division, VALID, SAME_UPPER / SAME_LOWER, and for ConvTranspose the
 * total-padding rule driven by output_shape. */
#include "ops/nnutil.h"

#include <inttypes.h>

/* Attribute values are bounded so that sums and products of them and of tensor dims stay
 * far from int64 overflow. */
#define WIN_ATTR_MAX ((int64_t)1 << 31)

static tt_status read_list(const tt_node *n, const char *name, int cap, int64_t lo, int64_t *dst, int *count)
{
    size_t len = 0;
    const int64_t *v = tt_attr_ints(n, name, &len);
    *count = 0;
    if (!v)
        return TT_OK;
    if (len > (size_t)cap)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "'%s' has %zu entries; at most %d spatial dims are supported", name,
                           len, TT_WIN_DIMS);
    for (size_t i = 0; i < len; i++) {
        if (v[i] < lo || v[i] > WIN_ATTR_MAX)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "'%s'[%zu] is %" PRId64 "; it must be %s", name, i, v[i],
                               lo > 0 ? "positive" : "non-negative");
        dst[i] = v[i];
    }
    *count = (int)len;
    return TT_OK;
}

tt_status tt_win_attrs_parse(const tt_node *n, tt_win_attrs *a)
{
    memset(a, 0, sizeof *a);
    TT_TRY(read_list(n, "kernel_shape", TT_WIN_DIMS, 1, a->kernel, &a->n_kernel));
    TT_TRY(read_list(n, "strides", TT_WIN_DIMS, 1, a->strides, &a->n_strides));
    TT_TRY(read_list(n, "dilations", TT_WIN_DIMS, 1, a->dilations, &a->n_dilations));
    TT_TRY(read_list(n, "pads", 2 * TT_WIN_DIMS, 0, a->pads, &a->n_pads));
    TT_TRY(read_list(n, "output_padding", TT_WIN_DIMS, 0, a->out_pad, &a->n_out_pad));
    TT_TRY(read_list(n, "output_shape", TT_WIN_DIMS + 2, 1, a->out_shape, &a->n_out_shape));
    if (a->n_pads % 2)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "'pads' has %d entries; it needs a begin and an end per spatial dim",
                           a->n_pads);
    const char *ap = tt_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0 || *ap == '\0')
        a->auto_pad = TT_AUTO_PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0)
        a->auto_pad = TT_AUTO_PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        a->auto_pad = TT_AUTO_PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0)
        a->auto_pad = TT_AUTO_PAD_VALID;
    else
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "unknown auto_pad '%s'", ap);
    a->ceil_mode = tt_attr_int(n, "ceil_mode", 0) != 0;
    a->group = tt_attr_int(n, "group", 1);
    if (a->group < 1 || a->group > WIN_ATTR_MAX)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "group is %" PRId64 "; it must be positive", a->group);
    return TT_OK;
}

tt_status tt_win_prepare(tt_node *node, void **state)
{
    tt_win_attrs *a = tt_calloc(1, sizeof *a);
    if (!a)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", node->name);
    tt_status s = tt_win_attrs_parse(node, a);
    if (s != TT_OK) {
        tt_free(a);
        return s;
    }
    *state = a;
    return TT_OK;
}

static tt_status check_len(const tt_node *n, const char *name, int have, int want)
{
    if (have && have != want)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "'%s' has %d entries but the input has %d spatial dims", name,
                           have, want / (strcmp(name, "pads") == 0 ? 2 : 1));
    return TT_OK;
}

/* Fills the parts common to both directions, padded in front to TT_WIN_DIMS. */
static tt_status win_common(const tt_node *n, const tt_win_attrs *a, int nsp, const int64_t *kernel, const int64_t *in,
                            tt_win *w)
{
    if (nsp < 1 || nsp > TT_WIN_DIMS)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "the input has %d spatial dims; 1 to %d are supported", nsp,
                           TT_WIN_DIMS);
    TT_TRY(check_len(n, "kernel_shape", a->n_kernel, nsp));
    TT_TRY(check_len(n, "strides", a->n_strides, nsp));
    TT_TRY(check_len(n, "dilations", a->n_dilations, nsp));
    TT_TRY(check_len(n, "pads", a->n_pads, 2 * nsp));
    TT_TRY(check_len(n, "output_padding", a->n_out_pad, nsp));
    if (!kernel && a->n_kernel == 0)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "the 'kernel_shape' attribute is required");
    w->nsp = nsp;
    int off = TT_WIN_DIMS - nsp;
    for (int i = 0; i < TT_WIN_DIMS; i++) {
        w->in[i] = w->out[i] = w->kernel[i] = w->stride[i] = w->dilation[i] = 1;
        w->pad_begin[i] = w->pad_end[i] = 0;
    }
    for (int i = 0; i < nsp; i++) {
        int d = off + i;
        w->in[d] = in[i];
        w->kernel[d] = kernel ? kernel[i] : a->kernel[i];
        if (w->kernel[d] == 0 || w->kernel[d] > WIN_ATTR_MAX)
            return tt_op_error(n, TETHER_ERR_SHAPE, "kernel spatial dim %d is %" PRId64, i, w->kernel[d]);
        w->stride[d] = a->n_strides ? a->strides[i] : 1;
        w->dilation[d] = a->n_dilations ? a->dilations[i] : 1;
        w->pad_begin[d] = a->n_pads ? a->pads[i] : 0;
        w->pad_end[d] = a->n_pads ? a->pads[nsp + i] : 0;
    }
    return TT_OK;
}

static int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

tt_status tt_win_forward(const tt_node *n, const tt_win_attrs *a, int nsp, const int64_t *kernel, const int64_t *in,
                         tt_win *w)
{
    TT_TRY(win_common(n, a, nsp, kernel, in, w));
    for (int i = 0; i < nsp; i++) {
        int d = TT_WIN_DIMS - nsp + i;
        int64_t x = w->in[d], k = w->kernel[d], s = w->stride[d];
        if (x < 0 || k < 0) {
            w->out[d] = TT_DIM_UNKNOWN;
            continue;
        }
        int64_t dk = (k - 1) * w->dilation[d] + 1; /* the dilated kernel's extent */
        int64_t out;
        switch (a->auto_pad) {
        case TT_AUTO_PAD_SAME_UPPER:
        case TT_AUTO_PAD_SAME_LOWER: {
            out = ceil_div(x, s);
            int64_t total = (out - 1) * s + dk - x;
            if (total < 0)
                total = 0;
            /* SAME_UPPER puts the odd pad at the end, SAME_LOWER at the beginning */
            w->pad_begin[d] = a->auto_pad == TT_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            w->pad_end[d] = total - w->pad_begin[d];
            break;
        }
        case TT_AUTO_PAD_VALID:
            w->pad_begin[d] = w->pad_end[d] = 0;
            out = x >= dk ? (x - dk) / s + 1 : 0;
            break;
        default: {
            int64_t span = x + w->pad_begin[d] + w->pad_end[d] - dk;
            if (span < 0) {
                out = 0;
                break;
            }
            out = (a->ceil_mode ? ceil_div(span, s) : span / s) + 1;
            /* ceil_mode must not start a window inside the end padding */
            if (a->ceil_mode && (out - 1) * s >= x + w->pad_begin[d])
                out--;
            break;
        }
        }
        if (out <= 0)
            return tt_op_error(n, TETHER_ERR_SHAPE,
                               "spatial dim %d: input size %" PRId64 " with pads %" PRId64 "+%" PRId64
                               " is smaller than the kernel's extent %" PRId64 " (kernel %" PRId64 ", dilation %" PRId64
                               "): the output would be empty",
                               i, x, w->pad_begin[d], w->pad_end[d], dk, k, w->dilation[d]);
        w->out[d] = out;
    }
    return TT_OK;
}

tt_status tt_win_transpose(const tt_node *n, const tt_win_attrs *a, int nsp, const int64_t *kernel, const int64_t *in,
                           tt_win *w)
{
    TT_TRY(win_common(n, a, nsp, kernel, in, w));
    /* output_shape may list the spatial dims only, or N and C too */
    const int64_t *oshape = NULL;
    if (a->n_out_shape == nsp)
        oshape = a->out_shape;
    else if (a->n_out_shape == nsp + 2)
        oshape = a->out_shape + 2;
    else if (a->n_out_shape)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "'output_shape' has %d entries but the input has %d spatial dims",
                           a->n_out_shape, nsp);
    for (int i = 0; i < nsp; i++) {
        int d = TT_WIN_DIMS - nsp + i;
        int64_t x = w->in[d], k = w->kernel[d], s = w->stride[d];
        int64_t opad = a->n_out_pad ? a->out_pad[i] : 0;
        if (x < 0 || k < 0) {
            w->out[d] = oshape ? oshape[i] : TT_DIM_UNKNOWN;
            continue;
        }
        if (x == 0)
            return tt_op_error(n, TETHER_ERR_SHAPE, "spatial dim %d of the input is empty", i);
        int64_t full = s * (x - 1) + opad + (k - 1) * w->dilation[d] + 1;
        int64_t out;
        if (oshape || a->auto_pad == TT_AUTO_PAD_SAME_UPPER || a->auto_pad == TT_AUTO_PAD_SAME_LOWER) {
            out = oshape ? oshape[i] : x * s;
            /* a requested output larger than the full result is zero-extended at the end */
            int64_t total = full > out ? full - out : 0;
            w->pad_begin[d] = a->auto_pad == TT_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            w->pad_end[d] = total - w->pad_begin[d];
        } else {
            if (a->auto_pad == TT_AUTO_PAD_VALID)
                w->pad_begin[d] = w->pad_end[d] = 0;
            out = full - w->pad_begin[d] - w->pad_end[d];
        }
        if (out <= 0)
            return tt_op_error(n, TETHER_ERR_SHAPE,
                               "spatial dim %d: the output size would be %" PRId64 " (input %" PRId64 ", stride %" PRId64
                               ", kernel %" PRId64 ", pads %" PRId64 "+%" PRId64 ")",
                               i, out, x, s, k, w->pad_begin[d], w->pad_end[d]);
        w->out[d] = out;
    }
    return TT_OK;
}

/* ---- narrow types ------------------------------------------------------------------ */

static void narrow_from_f32(const float *src, void *dst, tt_dtype t, int64_t n)
{
    if (!tt_dtype_is_int(t)) {
        tt_from_f32(src, dst, t, n);
        return;
    }
    double lo, hi;
    switch (t) {
    case TETHER_DTYPE_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
    case TETHER_DTYPE_UINT8: lo = 0, hi = UINT8_MAX; break;
    case TETHER_DTYPE_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
    case TETHER_DTYPE_UINT16: lo = 0, hi = UINT16_MAX; break;
    case TETHER_DTYPE_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case TETHER_DTYPE_UINT32: lo = 0, hi = UINT32_MAX; break;
    case TETHER_DTYPE_UINT64: lo = 0, hi = 18446744073709549568.0; break;
    default: lo = -9223372036854775808.0, hi = 9223372036854774784.0; break;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = nearbyint((double)src[i]);
        v = v != v ? 0 : v < lo ? lo : v > hi ? hi : v;
        tt_store_f64(dst, t, (size_t)i, v);
    }
}

tt_status tt_run_in_f32(tt_kctx *c, tt_dtype narrow, tt_status (*kernel)(tt_kctx *c))
{
    int n = c->n_in + c->n_out;
    tt_value *vals = tt_calloc((size_t)(n ? n : 1), sizeof *vals);
    tt_value **ptrs = tt_calloc((size_t)(n ? n : 1), sizeof *ptrs);
    if (!vals || !ptrs) {
        tt_free(vals);
        tt_free(ptrs);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory running node '%s'", c->node->name);
    }
    tt_status s = TT_OK;
    for (int i = 0; i < n && s == TT_OK; i++) {
        tt_value *orig = i < c->n_in ? c->in[i] : c->out[i - c->n_in];
        ptrs[i] = orig;
        if (!orig || orig->kind != TT_KIND_TENSOR || orig->t.dtype != narrow)
            continue;
        s = tt_tensor_alloc(&vals[i].t, TETHER_DTYPE_FLOAT, orig->t.rank, orig->t.dims);
        if (s != TT_OK)
            break;
        vals[i].kind = TT_KIND_TENSOR;
        if (i < c->n_in)
            tt_to_f32(orig->t.data, narrow, vals[i].t.data, tt_tensor_numel(&orig->t));
        ptrs[i] = &vals[i];
    }
    if (s == TT_OK) {
        tt_kctx k = *c;
        k.in = ptrs;
        k.out = ptrs + c->n_in;
        s = kernel(&k);
    }
    for (int i = 0; i < n; i++) {
        if (vals[i].kind != TT_KIND_TENSOR)
            continue;
        if (s == TT_OK && i >= c->n_in)
            narrow_from_f32(vals[i].t.data, c->out[i - c->n_in]->t.data, narrow, tt_tensor_numel(&vals[i].t));
        tt_value_release(&vals[i]);
    }
    tt_free(vals);
    tt_free(ptrs);
    return s;
}
