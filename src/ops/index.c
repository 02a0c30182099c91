/* Indexing ops: selecting by indices read from data (Gather, GatherElements, GatherND,
 * OneHot), by ranges (Slice, ReverseSequence), by masks (Compress, NonZero) and by value
 * (Unique). Every index read from a tensor is bounds-checked before any element moves. */
#include "ops/copy.h"

#include <inttypes.h>

#define INDEX_TYPES (TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64))

/* Work per task worth handing to another thread. */
#define TASK_BYTES ((int64_t)64 << 10)

/* ---- Gather ------------------------------------------------------------------------------ */

static tt_status infer_gather(tt_ictx *c)
{
    const tt_type *x, *ind;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &ind));
    TT_TRY(tt_infer_check_dtype(c, 1, INDEX_TYPES));
    if (x->rank < 0 || ind->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    int r = x->rank - 1 + ind->rank;
    if (r > TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "the result's rank %d exceeds %d", r, TT_MAX_RANK);
    int64_t dims[TT_MAX_RANK];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)axis);
    memcpy(dims + axis, ind->dims, sizeof(int64_t) * (size_t)ind->rank);
    memcpy(dims + axis + ind->rank, x->dims + axis + 1, sizeof(int64_t) * (size_t)(x->rank - axis - 1));
    tt_infer_tensor(c, 0, x->dtype, r, dims);
    return TT_OK;
}

/* y is [outer, n, block] and x [outer, axis_dim, block]: one block copy per index. */
typedef struct gather_job {
    const char *x;
    char *y;
    const int64_t *ind;
    int64_t n, axis_dim, block; /* block in bytes */
} gather_job;

static void gather_blocks(void *arg, int64_t begin, int64_t end)
{
    const gather_job *j = arg;
    int64_t o = begin / j->n, k = begin % j->n, b = j->block;
    for (int64_t t = begin; t < end; t++) {
        const char *src = j->x + (o * j->axis_dim + j->ind[k]) * b;
        if (b == 4)
            *(uint32_t *)(j->y + t * b) = *(const uint32_t *)src;
        else if (b == 8)
            *(uint64_t *)(j->y + t * b) = *(const uint64_t *)src;
        else
            memcpy(j->y + t * b, src, (size_t)b);
        if (++k == j->n)
            k = 0, o++;
    }
}

static tt_status run_gather(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *ind = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    int64_t *idx;
    TT_TRY(tt_load_indices(c->node, "index", ind, &x->dims[axis], 1, &idx));
    gather_job j = {.x = x->data, .y = y->data, .ind = idx, .n = tt_tensor_numel(ind), .axis_dim = x->dims[axis]};
    j.block = tt_dims_prod(x->dims, axis + 1, x->rank) * (int64_t)tt_dtype_size(x->dtype);
    int64_t tasks = tt_dims_prod(x->dims, 0, axis) * j.n;
    tt_strings_clear(y);
    if (j.block > 0)
        tt_parallel_for(tasks, TASK_BYTES / j.block + 1, gather_blocks, &j);
    tt_free(idx);
    return tt_strings_own(y);
}

/* ---- GatherElements ------------------------------------------------------------------------ */

static tt_status infer_gather_elements(tt_ictx *c)
{
    const tt_type *x, *ind;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &ind));
    TT_TRY(tt_infer_check_dtype(c, 1, INDEX_TYPES));
    TT_TRY(tt_infer_elements_indices(c, x, ind));
    tt_infer_tensor(c, 0, x->dtype, ind->rank, ind->rank >= 0 ? ind->dims : NULL);
    return TT_OK;
}

static tt_status run_gather_elements(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *ind = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    int64_t *idx;
    TT_TRY(tt_load_indices(c->node, "index", ind, &x->dims[axis], 1, &idx));
    size_t es = tt_dtype_size(x->dtype);
    int64_t xs[TT_MAX_RANK], pos[TT_MAX_RANK] = {0}, off = 0, n = tt_tensor_numel(ind);
    tt_strides(x->rank, x->dims, xs);
    tt_strings_clear(y);
    /* off tracks the data offset of every coordinate but the axis, odometer-style */
    for (int64_t i = 0; i < n; i++) {
        tt_copy_elem((char *)y->data + i * (int64_t)es, (const char *)x->data + (off + idx[i] * xs[axis]) * (int64_t)es,
                     es);
        tt_index_next(ind->rank, ind->dims, xs, axis, pos, &off);
    }
    tt_free(idx);
    return tt_strings_own(y);
}

/* ---- GatherND --------------------------------------------------------------------------------- */

static tt_status infer_gather_nd(tt_ictx *c)
{
    const tt_type *x, *ind;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &ind));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT64)));
    int64_t b = tt_attr_int(c->node, "batch_dims", 0);
    int r = x->rank, q = ind->rank;
    if (r < 0 || q < 0 || ind->dims[q - 1] < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (r < 1 || q < 1)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "data and indices must have rank >= 1 (got %d and %d)", r, q);
    if (b < 0 || b >= (r < q ? r : q))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "batch_dims %" PRId64 " must be in [0, %d)", b, r < q ? r : q);
    int64_t k = ind->dims[q - 1];
    if (k < 1 || k > r - b)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "index tuples have %" PRId64 " entries; must be 1 to %" PRId64, k,
                           r - b);
    for (int d = 0; d < b; d++)
        if (x->dims[d] >= 0 && ind->dims[d] >= 0 && x->dims[d] != ind->dims[d])
            return tt_op_error(c->node, TETHER_ERR_SHAPE,
                               "batch axis %d has size %" PRId64 " in data but %" PRId64 " in indices", d, x->dims[d],
                               ind->dims[d]);
    int64_t yr = q - 1 + r - b - k;
    if (yr > TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "the result's rank %" PRId64 " exceeds %d", yr,
                           TT_MAX_RANK);
    int64_t dims[TT_MAX_RANK];
    memcpy(dims, ind->dims, sizeof(int64_t) * (size_t)(q - 1));
    memcpy(dims + q - 1, x->dims + b + k, sizeof(int64_t) * (size_t)(r - b - k));
    tt_infer_tensor(c, 0, x->dtype, (int)yr, dims);
    return TT_OK;
}

static tt_status run_gather_nd(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *ind = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    int b = (int)tt_attr_int(c->node, "batch_dims", 0), k = (int)ind->dims[ind->rank - 1];
    int64_t *idx;
    TT_TRY(tt_load_indices(c->node, "index", ind, &x->dims[b], k, &idx));
    size_t es = tt_dtype_size(x->dtype);
    int64_t xs[TT_MAX_RANK];
    tt_strides(x->rank, x->dims, xs);
    int64_t batches = tt_dims_prod(x->dims, 0, b), per_batch = tt_dims_prod(ind->dims, b, ind->rank - 1);
    int64_t slice = tt_dims_prod(x->dims, b + k, x->rank) * (int64_t)es, batch_size = b ? xs[b - 1] : 0;
    tt_strings_clear(y);
    char *dst = y->data;
    const int64_t *tuple = idx;
    for (int64_t bi = 0; bi < batches; bi++)
        for (int64_t t = 0; t < per_batch; t++, tuple += k, dst += slice) {
            int64_t off = bi * batch_size;
            for (int i = 0; i < k; i++)
                off += tuple[i] * xs[b + i];
            memcpy(dst, (const char *)x->data + off * (int64_t)es, (size_t)slice);
        }
    tt_free(idx);
    return tt_strings_own(y);
}

/* ---- Slice --------------------------------------------------------------------------------- */

/* Where Slice starts, how many elements it takes and its step, per axis of dims (which
 * may hold symbols: their counts are unknown unless the slice keeps the whole axis).
 * Parameters come from attributes before opset 10 and from inputs 1-4 after. */
static tt_status slice_params(const tt_node *n, const tt_tensor *const *in, int rank, const int64_t *dims,
                              int64_t *start, int64_t *count, int64_t *step)
{
    int64_t starts[TT_MAX_RANK], ends[TT_MAX_RANK], axes[TT_MAX_RANK], steps[TT_MAX_RANK];
    int64_t ns, ne, na, nst;
    int ax[TT_MAX_RANK];
    static const char *names[] = {"starts", "ends", "axes", "steps"};
    int64_t *lists[] = {starts, ends, axes, steps}, *lens[] = {&ns, &ne, &na, &nst};
    for (int i = 0; i < 4; i++) {
        *lens[i] = -1;
        size_t len;
        const int64_t *v = n->opset < 10 ? tt_attr_ints(n, names[i], &len) : NULL;
        const tt_tensor *t = n->opset < 10 ? NULL : in[i];
        if (v && (int64_t)len > rank)
            return tt_op_error(n, TETHER_ERR_SHAPE, "'%s' has %zu entries for rank %d", names[i], len, rank);
        if (v) {
            memcpy(lists[i], v, len * sizeof *v);
            *lens[i] = (int64_t)len;
        } else if (t) {
            if (tt_tensor_numel(t) > rank)
                return tt_op_error(n, TETHER_ERR_SHAPE, "%s has %" PRId64 " entries for rank %d", names[i],
                                   tt_tensor_numel(t), rank);
            TT_TRY(tt_tensor_to_ints(n, t, lists[i], rank, lens[i]));
        }
    }
    if (ns < 0 || ne < 0)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "needs starts and ends");
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return tt_op_error(n, TETHER_ERR_SHAPE, "starts, ends, axes and steps have different lengths");
    if (na < 0)
        for (int64_t i = 0; i < ns; i++)
            axes[i] = i;
    TT_TRY(tt_norm_axes(n, axes, ns, rank, ax));
    for (int d = 0; d < rank; d++) {
        start[d] = 0;
        count[d] = dims[d];
        step[d] = 1;
    }
    for (int64_t i = 0; i < ns; i++) {
        int a = ax[i];
        int64_t st = nst < 0 ? 1 : steps[i], s = starts[i], e = ends[i], d = dims[a];
        if (st == 0)
            return tt_op_error(n, TETHER_ERR_RUNTIME, "steps[%" PRId64 "] is 0", i);
        step[a] = st;
        if (d < 0) { /* a symbol: only [0, end of axis) by 1 is known to keep it */
            count[a] = s == 0 && st == 1 && e >= INT32_MAX ? d : TT_DIM_UNKNOWN;
            continue;
        }
        if (d == 0) {
            count[a] = 0;
            step[a] = 1;
            continue;
        }
        if (s < 0)
            s += d;
        if (e < 0)
            e += d;
        /* clamped as numpy does (the spec's reference): into [0, d] going forward and
         * [-1, d - 1] going backward, so a start before the axis selects nothing */
        if (st > 0) {
            s = s < 0 ? 0 : s > d ? d : s;
            e = e < 0 ? 0 : e > d ? d : e;
            count[a] = e > s ? (int64_t)((uint64_t)(e - s - 1) / (uint64_t)st + 1) : 0;
        } else {
            s = s < -1 ? -1 : s > d - 1 ? d - 1 : s;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            count[a] = s > e ? (int64_t)((uint64_t)(s - e - 1) / (0 - (uint64_t)st) + 1) : 0;
        }
        start[a] = count[a] ? s : 0;
        if (count[a] <= 1)
            step[a] = 1; /* one element or none: the step moves nowhere (and step * stride could overflow) */
    }
    return TT_OK;
}

static tt_status infer_slice(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    const tt_tensor *in[4] = {NULL};
    for (int i = 0; i < 4 && c->node->opset >= 10; i++) {
        if (tt_iin(c, i + 1) && !tt_ival(c, i + 1)) {
            tt_infer_tensor(c, 0, x->dtype, x->rank, NULL);
            return TT_OK;
        }
        in[i] = tt_ival(c, i + 1);
    }
    if (c->node->opset >= 10) {
        TT_TRY(tt_infer_check_dtype(c, 1, INDEX_TYPES));
        TT_TRY(tt_infer_check_dtype(c, 2, INDEX_TYPES));
    }
    int64_t start[TT_MAX_RANK], count[TT_MAX_RANK], step[TT_MAX_RANK];
    TT_TRY(slice_params(c->node, in, x->rank, x->dims, start, count, step));
    tt_infer_tensor(c, 0, x->dtype, x->rank, count);
    return TT_OK;
}

static tt_status run_slice(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    const tt_tensor *in[4] = {tt_kin(c, 1), tt_kin(c, 2), tt_kin(c, 3), tt_kin(c, 4)};
    int64_t start[TT_MAX_RANK], count[TT_MAX_RANK], step[TT_MAX_RANK], xs[TT_MAX_RANK], ys[TT_MAX_RANK], off = 0;
    TT_TRY(slice_params(c->node, in, x->rank, x->dims, start, count, step));
    tt_strides(x->rank, x->dims, xs);
    tt_strides(y->rank, y->dims, ys);
    for (int d = 0; d < x->rank; d++)
        off += start[d] * xs[d];
    size_t es = tt_dtype_size(x->dtype);
    tt_strings_clear(y);
    tt_copy cp;
    tt_copy_init(&cp, es, y->data, (const char *)x->data + off * (int64_t)es);
    for (int d = 0; d < x->rank; d++)
        tt_copy_dim(&cp, y->dims[d], ys[d], xs[d] * step[d]);
    tt_copy_run(&cp);
    return tt_strings_own(y);
}

/* ---- OneHot ----------------------------------------------------------------------------------- */

/* depth: a positive number of classes in a one-element tensor of any numeric type. */
static tt_status onehot_depth(const tt_node *n, const tt_tensor *t, int64_t *depth)
{
    if (tt_tensor_numel(t) != 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "depth must have one element, got %" PRId64, tt_tensor_numel(t));
    if (tt_dtype_is_float(t->dtype)) {
        double v = tt_load_f64(t->data, t->dtype, 0);
        if (!(v >= 1 && v < 9.0e18))
            return tt_op_error(n, TETHER_ERR_RUNTIME, "depth %g must be a positive count", v);
        *depth = (int64_t)v;
    } else {
        *depth = tt_load_i64(t->data, t->dtype, 0);
        if (*depth < 1)
            return tt_op_error(n, TETHER_ERR_RUNTIME, "depth %" PRId64 " must be a positive count", *depth);
    }
    return TT_OK;
}

static tt_status infer_onehot(tt_ictx *c)
{
    const tt_type *ind, *dep, *val;
    TT_TRY(tt_infer_input(c, 0, &ind));
    TT_TRY(tt_infer_input(c, 1, &dep));
    TT_TRY(tt_infer_input(c, 2, &val));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_NUMERIC));
    if (val->rank >= 0 && (val->rank != 1 || (val->dims[0] >= 0 && val->dims[0] != 2)))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "values must be [off, on]");
    if (ind->rank < 0) {
        tt_infer_tensor(c, 0, val->dtype, -1, NULL);
        return TT_OK;
    }
    if (ind->rank + 1 > TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "the result's rank %d exceeds %d", ind->rank + 1,
                           TT_MAX_RANK);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), ind->rank + 1, false, &axis));
    int64_t depth = TT_DIM_UNKNOWN, dims[TT_MAX_RANK];
    if (tt_ival(c, 1))
        TT_TRY(onehot_depth(c->node, tt_ival(c, 1), &depth));
    for (int d = 0, k = 0; d <= ind->rank; d++)
        dims[d] = d == axis ? depth : ind->dims[k++];
    TT_TRY(tt_check_size(c->node, val->dtype, ind->rank + 1, dims, "the one-hot shape"));
    tt_infer_tensor(c, 0, val->dtype, ind->rank + 1, dims);
    return TT_OK;
}

static tt_status run_onehot(tt_kctx *c)
{
    const tt_tensor *ind = tt_kin(c, 0), *val = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    int axis;
    int64_t depth;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), y->rank, false, &axis));
    TT_TRY(onehot_depth(c->node, tt_kin(c, 1), &depth));
    if (tt_tensor_numel(val) != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "values must be [off, on], got %" PRId64 " elements",
                           tt_tensor_numel(val));
    size_t es = tt_dtype_size(val->dtype);
    const char *off = val->data, *on = off + es;
    /* y is [outer, depth, inner] over the indices' [outer, inner] */
    int64_t inner = tt_dims_prod(ind->dims, axis, ind->rank), n = tt_tensor_numel(ind);
    bool fl = tt_dtype_is_float(ind->dtype);
    tt_strings_clear(y);
    tt_copy_fill(y->data, off, tt_tensor_numel(y), es);
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        if (fl) { /* fractions truncate; values beyond any depth select nothing */
            double f = tt_load_f64(ind->data, ind->dtype, (size_t)i);
            if (!(f > -9.0e18 && f < 9.0e18))
                continue;
            v = (int64_t)f;
        } else {
            v = tt_load_i64(ind->data, ind->dtype, (size_t)i);
        }
        /* out-of-range indices leave their row all off, as the spec says */
        if (!tt_norm_index(&v, depth))
            continue;
        int64_t o = i / inner, k = i % inner;
        tt_copy_elem((char *)y->data + ((o * depth + v) * inner + k) * (int64_t)es, on, es);
    }
    return tt_strings_own(y);
}

/* ---- NonZero, Compress ---------------------------------------------------------------------- */

#define MASK_NATIVE(E, T)                                          \
    case E:                                                        \
        for (int64_t i = 0; i < n; i++)                            \
            mask[i] = ((const T *)x->data)[i] != 0;                \
        break;

/* mask[i]: whether element i of x is not zero (NaN is not zero; "" is). */
static void nonzero_mask(const tt_tensor *x, uint8_t *mask)
{
    int64_t n = tt_tensor_numel(x);
    switch (x->dtype) {
        TT_FOR_NATIVE(MASK_NATIVE)
    case TETHER_DTYPE_BOOL:
        memcpy(mask, x->data, (size_t)n);
        break;
    case TETHER_DTYPE_FLOAT16:
    case TETHER_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < n; i++)
            mask[i] = (((const uint16_t *)x->data)[i] & 0x7fff) != 0;
        break;
    case TETHER_DTYPE_STRING:
        for (int64_t i = 0; i < n; i++)
            mask[i] = ((char *const *)x->data)[i][0] != 0;
        break;
    default:
        memset(mask, 1, (size_t)n);
        break;
    }
}

static tt_status infer_nonzero(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    /* a scalar counts as one coordinate, as in ONNX Runtime */
    int64_t dims[2] = {x->rank < 0 ? TT_DIM_UNKNOWN : x->rank ? x->rank : 1, TT_DIM_UNKNOWN};
    tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, 2, dims);
    return TT_OK;
}

static tt_status run_nonzero(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int64_t n = tt_tensor_numel(x), nnz = 0;
    uint8_t *mask = tt_malloc((size_t)n + 1);
    if (!mask)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory running NonZero");
    nonzero_mask(x, mask);
    for (int64_t i = 0; i < n; i++)
        nnz += mask[i];
    int rows = x->rank ? x->rank : 1;
    tt_tensor *y;
    tt_status s = tt_kctx_alloc(c, 0, TETHER_DTYPE_INT64, 2, (int64_t[]){rows, nnz}, &y);
    if (s == TT_OK) {
        int64_t *out = y->data, pos[TT_MAX_RANK] = {0}, k = 0;
        if (x->rank == 0 && nnz)
            out[0] = 0;
        for (int64_t i = 0; i < n && x->rank; i++) {
            if (mask[i]) {
                for (int d = 0; d < x->rank; d++)
                    out[d * nnz + k] = pos[d];
                k++;
            }
            for (int d = x->rank - 1; d >= 0 && ++pos[d] == x->dims[d]; d--)
                pos[d] = 0;
        }
    }
    tt_free(mask);
    return s;
}

static tt_status infer_compress(tt_ictx *c)
{
    const tt_type *x, *cond;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &cond));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_BOOL)));
    if (cond->rank >= 0 && cond->rank != 1)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "condition must be 1-D, got rank %d", cond->rank);
    if (!tt_node_attr(c->node, "axis")) {
        tt_infer_tensor(c, 0, x->dtype, 1, NULL);
        return TT_OK;
    }
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    int64_t dims[TT_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = TT_DIM_UNKNOWN;
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    return TT_OK;
}

static tt_status run_compress(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *cond = tt_kin(c, 1);
    bool flat = !tt_node_attr(c->node, "axis");
    int axis = 0;
    if (!flat)
        TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    int64_t n = flat ? tt_tensor_numel(x) : x->dims[axis], len = tt_tensor_numel(cond), kept = 0;
    const uint8_t *m = cond->data;
    for (int64_t i = 0; i < len; i++) {
        if (!m[i])
            continue;
        if (i >= n)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "condition selects entry %" PRId64 " of an axis of size %" PRId64, i, n);
        kept++;
    }
    int64_t dims[TT_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = kept;
    tt_tensor *y;
    TT_TRY(tt_kctx_alloc(c, 0, x->dtype, flat ? 1 : x->rank, dims, &y));
    size_t es = tt_dtype_size(x->dtype);
    int64_t outer = flat ? 1 : tt_dims_prod(x->dims, 0, axis);
    int64_t block = (flat ? 1 : tt_dims_prod(x->dims, axis + 1, x->rank)) * (int64_t)es;
    const char *src = x->data;
    char *dst = y->data;
    tt_strings_clear(y);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < len && i < n; i++)
            if (m[i]) {
                memcpy(dst, src + (o * n + i) * block, (size_t)block);
                dst += block;
            }
    return tt_strings_own(y);
}

/* ---- ReverseSequence ----------------------------------------------------------------------------- */

static tt_status sequence_axes(const tt_node *n, int *batch, int *time)
{
    int64_t b = tt_attr_int(n, "batch_axis", 1), t = tt_attr_int(n, "time_axis", 0);
    if ((b != 0 && b != 1) || (t != 0 && t != 1) || b == t)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL,
                           "batch_axis %" PRId64 " and time_axis %" PRId64 " must be 0 and 1, in either order", b, t);
    *batch = (int)b;
    *time = (int)t;
    return TT_OK;
}

static tt_status infer_reverse_sequence(tt_ictx *c)
{
    const tt_type *x, *lens;
    int batch, time;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &lens));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT64)));
    TT_TRY(sequence_axes(c->node, &batch, &time));
    if (x->rank >= 0 && x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the input must have rank >= 2, got %d", x->rank);
    if (x->rank >= 0 && lens->rank >= 0 &&
        (lens->rank != 1 || (lens->dims[0] >= 0 && x->dims[batch] >= 0 && lens->dims[0] != x->dims[batch])))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "sequence_lens must have one entry per batch (%" PRId64 ")",
                           x->dims[batch]);
    return tt_infer_same(c, 0, 0);
}

static tt_status run_reverse_sequence(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *lens = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    int batch, time;
    TT_TRY(sequence_axes(c->node, &batch, &time));
    int64_t nb = x->dims[batch], nt = x->dims[time];
    const int64_t *len = lens->data;
    for (int64_t b = 0; b < nb; b++)
        if (len[b] < 0 || len[b] > nt)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "sequence_lens[%" PRId64 "] is %" PRId64 "; it must be in [0, %" PRId64 "]", b, len[b],
                               nt);
    int64_t block = tt_dims_prod(x->dims, 2, x->rank) * (int64_t)tt_dtype_size(x->dtype);
    int64_t bstride = batch == 0 ? nt : 1, tstride = time == 0 ? nb : 1;
    tt_strings_clear(y);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t t = 0; t < nt; t++) {
            int64_t from = t < len[b] ? len[b] - 1 - t : t;
            memcpy((char *)y->data + (b * bstride + t * tstride) * block,
                   (const char *)x->data + (b * bstride + from * tstride) * block, (size_t)block);
        }
    return tt_strings_own(y);
}

/* ---- Unique ------------------------------------------------------------------------------------ */

/* Slices compared as rows of len elements: lexicographically, NaN equal to NaN and above
 * every number, so the order is total and equal rows group together. */
typedef struct rows_ctx {
    const char *data;
    int64_t len;
    size_t es;
    tt_dtype dtype;
} rows_ctx;

#define CMP_NUM(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)
#define CMP_FLOAT(a, b) (isnan(a) ? (isnan(b) ? 0 : 1) : isnan(b) ? -1 : CMP_NUM(a, b))

#define CMP_ROWS_NATIVE(E, T)                                             \
    case E:                                                               \
        for (int64_t i = 0; i < x->len; i++) {                            \
            T u = ((const T *)a)[i], v = ((const T *)b)[i];               \
            if (u != v)                                                   \
                return u < v ? -1 : 1;                                    \
        }                                                                 \
        return 0;

static int cmp_rows(const rows_ctx *x, int64_t ra, int64_t rb)
{
    const char *a = x->data + ra * x->len * (int64_t)x->es, *b = x->data + rb * x->len * (int64_t)x->es;
    switch (x->dtype) {
        TT_FOR_INT(CMP_ROWS_NATIVE)
        CMP_ROWS_NATIVE(TETHER_DTYPE_BOOL, uint8_t)
    case TETHER_DTYPE_STRING:
        for (int64_t i = 0; i < x->len; i++) {
            int r = strcmp(((char *const *)a)[i], ((char *const *)b)[i]);
            if (r)
                return r < 0 ? -1 : 1;
        }
        return 0;
    case TETHER_DTYPE_DOUBLE:
        for (int64_t i = 0; i < x->len; i++) {
            int r = CMP_FLOAT(((const double *)a)[i], ((const double *)b)[i]);
            if (r)
                return r;
        }
        return 0;
    default:
        for (int64_t i = 0; i < x->len; i++) {
            float u = (float)tt_load_f64(a, x->dtype, (size_t)i), v = (float)tt_load_f64(b, x->dtype, (size_t)i);
            int r = CMP_FLOAT(u, v);
            if (r)
                return r;
        }
        return 0;
    }
}

/* A stable merge sort of row numbers, bottom-up: equal rows keep their first occurrence first. */
static void sort_rows(const rows_ctx *x, int64_t *a, int64_t *tmp, int64_t n)
{
    int64_t done = 0;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            /* a huge input stops with the run, leaving a the permutation of the last pass */
            if ((done += hi - lo) >= 65536) {
                if (!tt_stop_work((uint64_t)done * (uint64_t)x->len))
                    return;
                done = 0;
            }
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp_rows(x, a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, sizeof *a * (size_t)n);
    }
}

/* Unique works on slices along 'axis' when given, else on the flattened elements. */
static tt_status unique_axis(const tt_node *n, int rank, bool *has, int *axis)
{
    *has = tt_node_attr(n, "axis") != NULL;
    *axis = 0;
    return *has ? tt_norm_axis(n, tt_attr_int(n, "axis", 0), rank, false, axis) : TT_OK;
}

static tt_status infer_unique(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    bool has_axis;
    int axis;
    int64_t n = TT_DIM_UNKNOWN, dims[TT_MAX_RANK];
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, tt_node_attr(c->node, "axis") ? -1 : 1, NULL);
    } else {
        TT_TRY(unique_axis(c->node, x->rank, &has_axis, &axis));
        if (has_axis) {
            memcpy(dims, x->dims, sizeof dims);
            dims[axis] = TT_DIM_UNKNOWN;
            n = x->dims[axis];
            tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
        } else {
            n = 1;
            for (int d = 0; d < x->rank && n >= 0; d++)
                n = x->dims[d] < 0 ? TT_DIM_UNKNOWN : n * x->dims[d];
            tt_infer_tensor(c, 0, x->dtype, 1, NULL);
        }
    }
    tt_infer_tensor(c, 1, TETHER_DTYPE_INT64, 1, NULL);
    tt_infer_tensor(c, 2, TETHER_DTYPE_INT64, 1, &n);
    tt_infer_tensor(c, 3, TETHER_DTYPE_INT64, 1, NULL);
    return TT_OK;
}

/* The scratch of one Unique run, all sized by the input. */
typedef struct unique_work {
    int64_t *order, *tmp, *group, *first, *count, *rank_of;
    char *rows;
} unique_work;

static void unique_work_free(unique_work *w)
{
    tt_free(w->order);
    tt_free(w->tmp);
    tt_free(w->group);
    tt_free(w->first);
    tt_free(w->count);
    tt_free(w->rank_of);
    tt_free_aligned(w->rows);
}

static tt_status run_unique(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int axis;
    bool has_axis;
    TT_TRY(unique_axis(c->node, x->rank, &has_axis, &axis));
    size_t es = tt_dtype_size(x->dtype);
    /* rows: x as [n, len] with the axis first (x itself when it already is) */
    int64_t n = has_axis ? x->dims[axis] : tt_tensor_numel(x), numel = tt_tensor_numel(x);
    int64_t outer = has_axis ? tt_dims_prod(x->dims, 0, axis) : 1;
    int64_t inner = has_axis ? tt_dims_prod(x->dims, axis + 1, x->rank) : 1;
    rows_ctx rc = {.data = x->data, .len = outer * inner, .es = es, .dtype = x->dtype};
    size_t nb = sizeof(int64_t) * (size_t)(n + 1);
    unique_work w = {tt_malloc(nb), tt_malloc(nb), tt_malloc(nb), tt_malloc(nb), tt_malloc(nb), tt_malloc(nb), NULL};
    if (outer > 1)
        w.rows = tt_malloc_aligned((size_t)numel * es);
    if (!w.order || !w.tmp || !w.group || !w.first || !w.count || !w.rank_of || (outer > 1 && !w.rows)) {
        unique_work_free(&w);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory running Unique on %" PRId64 " elements", numel);
    }
    if (outer > 1) {
        tt_copy cp;
        tt_copy_init(&cp, es, w.rows, x->data);
        tt_copy_dim(&cp, n, outer * inner, inner);
        tt_copy_dim(&cp, outer, inner, n * inner);
        tt_copy_dim(&cp, inner, 1, 1);
        tt_copy_run(&cp);
        rc.data = w.rows;
    }
    for (int64_t i = 0; i < n; i++)
        w.order[i] = i;
    sort_rows(&rc, w.order, w.tmp, n);
    /* groups of equal rows in sorted order; stability makes each group's head its first occurrence */
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || cmp_rows(&rc, w.order[i - 1], w.order[i]) != 0) {
            w.first[u] = w.order[i];
            w.count[u++] = 0;
        }
        w.group[w.order[i]] = u - 1;
        w.count[u - 1]++;
    }
    /* output position of each group: sorted order, or order of first occurrence */
    int64_t *pos = w.tmp;
    for (int64_t g = 0; g < u; g++)
        pos[g] = g;
    if (!tt_attr_int(c->node, "sorted", 1)) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) /* groups met in input order */
            if (w.first[w.group[i]] == i)
                w.rank_of[m++] = w.group[i];
        for (int64_t k = 0; k < u; k++)
            pos[w.rank_of[k]] = k;
    }
    int64_t dims[TT_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = u;
    tt_tensor *y = NULL, *t;
    tt_status s = TT_OK;
    if (tt_kout_wanted(c, 0) &&
        (s = tt_kctx_alloc(c, 0, x->dtype, has_axis ? x->rank : 1, has_axis ? dims : &u, &y)) == TT_OK) {
        tt_strings_clear(y);
        int64_t block = inner * (int64_t)es;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t g = 0; g < u; g++)
                memcpy((char *)y->data + (o * u + pos[g]) * block,
                       (const char *)x->data + (o * n + w.first[g]) * block, (size_t)block);
        s = tt_strings_own(y);
    }
    if (s == TT_OK && tt_kout_wanted(c, 1) && (s = tt_kctx_alloc(c, 1, TETHER_DTYPE_INT64, 1, &u, &t)) == TT_OK)
        for (int64_t g = 0; g < u; g++)
            ((int64_t *)t->data)[pos[g]] = w.first[g];
    if (s == TT_OK && tt_kout_wanted(c, 2) && (s = tt_kctx_alloc(c, 2, TETHER_DTYPE_INT64, 1, &n, &t)) == TT_OK)
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)t->data)[i] = pos[w.group[i]];
    if (s == TT_OK && tt_kout_wanted(c, 3) && (s = tt_kctx_alloc(c, 3, TETHER_DTYPE_INT64, 1, &u, &t)) == TT_OK)
        for (int64_t g = 0; g < u; g++)
            ((int64_t *)t->data)[pos[g]] = w.count[g];
    unique_work_free(&w);
    return s;
}

const tt_op_schema tt_schemas_index[] = {
    TT_SCHEMA("Gather", 1, 0, infer_gather),
    TT_SCHEMA("GatherElements", 11, 0, infer_gather_elements),
    TT_SCHEMA("GatherND", 11, 0, infer_gather_nd),
    TT_SCHEMA("Slice", 1, 0, infer_slice),
    TT_SCHEMA("OneHot", 9, 0, infer_onehot),
    TT_SCHEMA("NonZero", 9, 0, infer_nonzero),
    TT_SCHEMA("Compress", 9, 0, infer_compress),
    TT_SCHEMA("ReverseSequence", 10, 0, infer_reverse_sequence),
    TT_SCHEMA("Unique", 11, 0, infer_unique),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_index[] = {
    TT_KERNEL("Gather", 1, 0, TT_DTS_ALL, run_gather),
    TT_KERNEL("GatherElements", 11, 0, TT_DTS_ALL, run_gather_elements),
    TT_KERNEL("GatherND", 11, 0, TT_DTS_ALL, run_gather_nd),
    TT_KERNEL("Slice", 1, 0, TT_DTS_ALL, run_slice),
    TT_KERNEL("OneHot", 9, 0, TT_DTS_NUMERIC, run_onehot),
    TT_KERNEL("NonZero", 9, 0, TT_DTS_ALL, run_nonzero),
    TT_KERNEL("Compress", 9, 0, TT_DTS_ALL, run_compress),
    TT_KERNEL("ReverseSequence", 10, 0, TT_DTS_ALL, run_reverse_sequence),
    TT_KERNEL("Unique", 11, 0, TT_DTS_ALL, run_unique),
    TT_KERNEL_END,
};
