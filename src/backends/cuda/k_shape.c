/* CUDA kernels that move data without arithmetic: Transpose, Slice and Expand (one strided
 * copy each), Concat and Split (2D memory copies, one per piece), Gather (embedding
 * lookups: float tables, int32/int64 indices on the device) and Pad. Their shape inputs
 * (starts, pads, ...) are read on the host. */
#include "cu.h"

#define CU_ENTER(c, x)                                                                             \
    cu_ctx *x;                                                                                     \
    do {                                                                                           \
        bool launch_;                                                                              \
        CU_TRY(cu_kctx(c, &x));                                                                    \
        CU_TRY(cu_gate(x, c, &launch_));                                                           \
        if (!launch_)                                                                              \
            return TT_OK;                                                                          \
    } while (0)

static void strides_of(const tt_tensor *t, int64_t *s)
{
    int64_t st = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        s[d] = st;
        st *= t->dims[d];
    }
}

static bool data_supports(const tt_kprep *p)
{
    return cu_pin_dtype(p, 0) == TETHER_DTYPE_FLOAT && cu_pin_rank(p, 0) <= CU_MAX_RANK;
}

/* ---- Transpose ------------------------------------------------------------------------------ */

static tt_status run_transpose(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    int r = in->rank;
    int64_t perm[CU_MAX_RANK], is[CU_MAX_RANK], xs[CU_MAX_RANK];
    int n = cu_attr_ints(c->node, "perm", perm, CU_MAX_RANK);
    if (n < 0) {
        for (int d = 0; d < r; d++)
            perm[d] = r - 1 - d;
    } else if (n != r) {
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "perm has %d entries for rank %d", n, r);
    }
    strides_of(in, is);
    for (int d = 0; d < r; d++) {
        if (perm[d] < 0 || perm[d] >= r)
            return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "perm[%d] = %lld is out of range", d,
                               (long long)perm[d]);
        xs[d] = is[perm[d]];
    }
    CU_ENTER(c, x);
    cu_strided_copy(x->stream, 4, r, out->dims, xs, 0, in->data, out->data);
    return cu_launched(c->node, "launching Transpose");
}

/* ---- Slice ---------------------------------------------------------------------------------- */

static tt_status run_slice(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    int r = in->rank;
    int64_t starts[CU_MAX_RANK], ends[CU_MAX_RANK], axes[CU_MAX_RANK], steps[CU_MAX_RANK];
    int ns, ne, na, nst;
    if (c->node->opset < 10) {
        ns = cu_attr_ints(c->node, "starts", starts, CU_MAX_RANK);
        ne = cu_attr_ints(c->node, "ends", ends, CU_MAX_RANK);
        na = cu_attr_ints(c->node, "axes", axes, CU_MAX_RANK);
        nst = -1;
    } else {
        ns = cu_tensor_ints(tt_kin(c, 1), starts, CU_MAX_RANK);
        ne = cu_tensor_ints(tt_kin(c, 2), ends, CU_MAX_RANK);
        na = cu_tensor_ints(tt_kin(c, 3), axes, CU_MAX_RANK);
        nst = cu_tensor_ints(tt_kin(c, 4), steps, CU_MAX_RANK);
    }
    if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "starts, ends, axes and steps disagree");
    int64_t is[CU_MAX_RANK], xs[CU_MAX_RANK], offset = 0;
    strides_of(in, is);
    for (int d = 0; d < r; d++)
        xs[d] = is[d];
    for (int i = 0; i < ns; i++) {
        int ax;
        if (!cu_axis(na >= 0 ? axes[i] : i, r, &ax))
            return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis out of range");
        int64_t dim = in->dims[ax], step = nst >= 0 ? steps[i] : 1, s = starts[i];
        if (step == 0)
            return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "a step is 0");
        if (s < 0)
            s += dim;
        if (step > 0)
            s = s < 0 ? 0 : s > dim ? dim : s;
        else
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
        if (out->dims[ax] > 0)
            offset += s * is[ax];
        xs[ax] = is[ax] * step;
    }
    CU_ENTER(c, x);
    cu_strided_copy(x->stream, 4, r, out->dims, xs, offset, in->data, out->data);
    return cu_launched(c->node, "launching Slice");
}

/* ---- Expand --------------------------------------------------------------------------------- */

static tt_status run_expand(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    int64_t is[CU_MAX_RANK], xs[CU_MAX_RANK];
    strides_of(in, is);
    for (int d = 0; d < out->rank; d++) {
        int id = d - (out->rank - in->rank);
        xs[d] = id < 0 || in->dims[id] == 1 ? 0 : is[id];
    }
    CU_ENTER(c, x);
    cu_strided_copy(x->stream, 4, out->rank, out->dims, xs, 0, in->data, out->data);
    return cu_launched(c->node, "launching Expand");
}

/* ---- Concat and Split ------------------------------------------------------------------------ */

static bool concat_supports(const tt_kprep *p)
{
    for (int i = 0; i < p->n_in; i++)
        if (cu_pin_dtype(p, i) != TETHER_DTYPE_FLOAT)
            return false;
    return p->n_in > 0;
}

static tt_status run_concat(tt_kctx *c)
{
    tt_tensor *out = tt_kout(c, 0);
    int ax;
    if (!cu_axis(cu_attr_int(c->node, "axis", 0), out->rank, &ax))
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis out of range");
    CU_ENTER(c, x);
    int64_t outer = cu_prod(out->dims, 0, ax), inner = cu_prod(out->dims, ax + 1, out->rank);
    size_t dpitch = (size_t)(out->dims[ax] * inner) * 4, off = 0;
    for (int i = 0; i < c->n_in; i++) {
        const tt_tensor *t = tt_kin(c, i);
        if (!t)
            continue;
        size_t width = (size_t)(t->dims[ax] * inner) * 4;
        if (width && outer)
            CU_TRY(cu_rt(cudaMemcpy2DAsync((char *)out->data + off, dpitch, t->data, width, width, (size_t)outer,
                                           cudaMemcpyDeviceToDevice, x->stream),
                         c->node, "copying a piece"));
        off += width;
    }
    return TT_OK;
}

static bool split_supports(const tt_kprep *p)
{
    if (cu_pin_dtype(p, 0) != TETHER_DTYPE_FLOAT)
        return false;
    for (int i = 0; i < p->n_out; i++)
        if (p->node->outputs[i] < 0)
            return false;
    return true;
}

static tt_status run_split(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    int ax;
    if (!cu_axis(cu_attr_int(c->node, "axis", 0), in->rank, &ax))
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis out of range");
    for (int i = 0; i < c->n_out; i++)
        if (!tt_kout(c, i))
            return cu_node_err(c->node, TETHER_ERR_INTERNAL, "output %d has no shape before the run", i);
    CU_ENTER(c, x);
    int64_t outer = cu_prod(in->dims, 0, ax), inner = cu_prod(in->dims, ax + 1, in->rank);
    size_t spitch = (size_t)(in->dims[ax] * inner) * 4, off = 0;
    for (int i = 0; i < c->n_out; i++) {
        tt_tensor *t = tt_kout(c, i);
        size_t width = (size_t)(t->dims[ax] * inner) * 4;
        if (width && outer)
            CU_TRY(cu_rt(cudaMemcpy2DAsync(t->data, width, (const char *)in->data + off, spitch, width, (size_t)outer,
                                           cudaMemcpyDeviceToDevice, x->stream),
                         c->node, "copying a piece"));
        off += width;
    }
    return TT_OK;
}

/* ---- Gather ---------------------------------------------------------------------------------- */

static bool gather_supports(const tt_kprep *p)
{
    int it = cu_pin_dtype(p, 1);
    return cu_pin_dtype(p, 0) == TETHER_DTYPE_FLOAT && (it == TETHER_DTYPE_INT64 || it == TETHER_DTYPE_INT32);
}

static tt_status run_gather(tt_kctx *c)
{
    const tt_tensor *data = tt_kin(c, 0), *idx = tt_kin(c, 1);
    tt_tensor *out = tt_kout(c, 0);
    int ax;
    if (!cu_axis(cu_attr_int(c->node, "axis", 0), data->rank, &ax))
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis out of range");
    CU_ENTER(c, x);
    int64_t outer = cu_prod(data->dims, 0, ax), inner = cu_prod(data->dims, ax + 1, data->rank);
    cu_gather(x->stream, 4, outer, data->dims[ax], inner, data->data, idx->data, idx->dtype == TETHER_DTYPE_INT64,
              tt_tensor_numel(idx), out->data, x->err_dev, cu_errcode(x));
    return cu_launched(c->node, "launching Gather");
}

/* ---- Pad ------------------------------------------------------------------------------------- */

static bool pad_supports(const tt_kprep *p)
{
    if (!data_supports(p))
        return false;
    const char *mode = cu_attr_str(p->node, "mode", "constant");
    return strcmp(mode, "constant") == 0 || strcmp(mode, "reflect") == 0 || strcmp(mode, "edge") == 0 ||
           strcmp(mode, "wrap") == 0;
}

static tt_status run_pad(tt_kctx *c)
{
    const tt_tensor *in = tt_kin(c, 0);
    tt_tensor *out = tt_kout(c, 0);
    int r = in->rank;
    int64_t pads[2 * CU_MAX_RANK], axes[CU_MAX_RANK], begin[CU_MAX_RANK] = {0};
    float value = 0;
    int np, na = -1;
    if (c->node->opset < 11) {
        np = cu_attr_ints(c->node, "pads", pads, 2 * CU_MAX_RANK);
        value = cu_attr_float(c->node, "value", 0);
    } else {
        np = cu_tensor_ints(tt_kin(c, 1), pads, 2 * CU_MAX_RANK);
        const tt_tensor *v = tt_kin(c, 2);
        if (v && tt_tensor_numel(v) == 1 && v->dtype == TETHER_DTYPE_FLOAT)
            value = *(const float *)v->data;
        if (tt_kin(c, 3))
            na = cu_tensor_ints(tt_kin(c, 3), axes, CU_MAX_RANK);
    }
    int nax = na >= 0 ? na : r;
    if (np != 2 * nax)
        return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "pads has %d entries for %d axes", np, nax);
    for (int i = 0; i < nax; i++) {
        int ax = i;
        if (na >= 0 && !cu_axis(axes[i], r, &ax))
            return cu_node_err(c->node, TETHER_ERR_INVALID_MODEL, "axis out of range");
        begin[ax] = pads[i];
    }
    const char *m = cu_attr_str(c->node, "mode", "constant");
    int mode = strcmp(m, "reflect") == 0 ? 1 : strcmp(m, "edge") == 0 ? 2 : strcmp(m, "wrap") == 0 ? 3 : 0;
    CU_ENTER(c, x);
    cu_pad(x->stream, mode, r, out->dims, in->dims, begin, in->data, out->data, value);
    return cu_launched(c->node, "launching Pad");
}

#define FLOAT TT_DT(TETHER_DTYPE_FLOAT)

const tt_kernel cu_kernels_shape[] = {
    TT_KERNEL("Transpose", 1, 0, FLOAT, run_transpose, .supports = data_supports),
    TT_KERNEL("Slice", 1, 9, FLOAT, run_slice, .supports = data_supports),
    TT_KERNEL("Slice", 10, 0, FLOAT, run_slice, .supports = data_supports, .host_inputs = 0x1eu),
    TT_KERNEL("Expand", 8, 0, FLOAT, run_expand, .supports = data_supports, .host_inputs = 2u),
    TT_KERNEL("Concat", 4, 0, FLOAT, run_concat, .supports = concat_supports),
    TT_KERNEL("Split", 1, 0, FLOAT, run_split, .supports = split_supports, .host_inputs = 2u),
    TT_KERNEL("Gather", 1, 0, FLOAT, run_gather, .supports = gather_supports),
    TT_KERNEL("Pad", 2, 10, FLOAT, run_pad, .supports = pad_supports),
    TT_KERNEL("Pad", 11, 0, FLOAT, run_pad, .supports = pad_supports, .host_inputs = 0xeu),
    TT_KERNEL_END,
};
