/* Scatter ops: a copy of the data with updates written (or combined by a reduction) at
 * positions read from an index tensor: Scatter (deprecated), ScatterElements, ScatterND, and
 * TensorScatter (a KV cache written at per-batch positions).
 * Every index is bounds-checked before the first update lands. */
#include "ops/copy.h"

#include <inttypes.h>

#define INDEX_TYPES (TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64))

/* ---- reductions ------------------------------------------------------------------------ */

typedef enum reduction { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } reduction;

/* 'reduction' exists from opset 16 (max and min from 18); strings can only be replaced. */
static tt_status reduction_of(const tt_node *n, tt_dtype dtype, reduction *r)
{
    static const char *names[] = {"none", "add", "mul", "max", "min"};
    const char *s = n->opset >= 16 ? tt_attr_string(n, "reduction", "none") : "none";
    int count = n->opset >= 18 ? 5 : 3;
    for (int i = 0; i < count; i++)
        if (strcmp(s, names[i]) == 0) {
            *r = (reduction)i;
            if (*r != RED_NONE && dtype == TETHER_DTYPE_STRING)
                return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "reduction '%s' does not apply to strings", s);
            return TT_OK;
        }
    return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "reduction '%s' is not supported at opset %d", s, n->opset);
}

#define REDUCE_LOOP(T, EXPR)                   \
    for (int64_t i = 0; i < n; i++) {          \
        T a = ((T *)dst)[i], b = ((const T *)src)[i]; \
        ((T *)dst)[i] = (T)(EXPR);             \
    }

#define REDUCE_TYPED(E, T)                                                    \
    case E:                                                                   \
        switch (r) {                                                          \
        case RED_ADD: REDUCE_LOOP(T, a + b) break;                            \
        case RED_MUL: REDUCE_LOOP(T, a * b) break;                            \
        case RED_MAX: REDUCE_LOOP(T, a > b ? a : b) break;                    \
        default: REDUCE_LOOP(T, a < b ? a : b) break;                         \
        }                                                                     \
        return;

/* dst[i] = dst[i] (op) src[i] for n elements; r is not RED_NONE. */
static void reduce_into(char *dst, const char *src, int64_t n, tt_dtype dt, reduction r)
{
    switch (dt) {
        TT_FOR_NATIVE(REDUCE_TYPED)
    case TETHER_DTYPE_BOOL: /* add and max are "or", mul and min "and" */
        for (int64_t i = 0; i < n; i++)
            dst[i] = r == RED_ADD || r == RED_MAX ? (dst[i] | src[i]) : (dst[i] & src[i]);
        return;
    default: /* float16, bfloat16: in float */
        for (int64_t i = 0; i < n; i++) {
            float a = (float)tt_load_f64(dst, dt, (size_t)i), b = (float)tt_load_f64(src, dt, (size_t)i);
            float v = r == RED_ADD ? a + b : r == RED_MUL ? a * b : r == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
            tt_store_f64(dst, dt, (size_t)i, v);
        }
        return;
    }
}

/* Writes n elements of src over dst (element offset at) of y, or combines them by r. */
static tt_status update(tt_tensor *y, int64_t at, const char *src, int64_t n, reduction r)
{
    size_t es = tt_dtype_size(y->dtype);
    char *dst = (char *)y->data + at * (int64_t)es;
    if (r != RED_NONE) {
        reduce_into(dst, src, n, y->dtype, r);
    } else if (y->dtype == TETHER_DTYPE_STRING) {
        for (int64_t i = 0; i < n; i++) {
            const char *s = ((char *const *)src)[i];
            TT_TRY(tt_tensor_set_string(y, at + i, s, strlen(s)));
        }
    } else if (n == 1) {
        tt_copy_elem(dst, src, es);
    } else {
        memcpy(dst, src, (size_t)n * es);
    }
    return TT_OK;
}

/* ---- Scatter, ScatterElements -------------------------------------------------------------- */

static tt_status infer_scatter_elements(tt_ictx *c)
{
    const tt_type *x, *ind, *upd;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &ind));
    TT_TRY(tt_infer_input(c, 2, &upd));
    TT_TRY(tt_infer_check_dtype(c, 1, INDEX_TYPES));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    reduction r;
    TT_TRY(reduction_of(c->node, x->dtype, &r));
    if (ind->rank >= 0 && upd->rank >= 0) {
        bool same = ind->rank == upd->rank;
        for (int d = 0; same && d < ind->rank; d++)
            same = ind->dims[d] < 0 || upd->dims[d] < 0 || ind->dims[d] == upd->dims[d];
        if (!same) {
            char a[160], b[160];
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "indices %s and updates %s must have the same shape",
                               tt_dims_str(ind->rank, ind->dims, a, 160), tt_dims_str(upd->rank, upd->dims, b, 160));
        }
    }
    TT_TRY(tt_infer_elements_indices(c, x, ind));
    return tt_infer_same(c, 0, 0);
}

static tt_status run_scatter_elements(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *ind = tt_kin(c, 1), *upd = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    int axis;
    reduction r;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    TT_TRY(reduction_of(c->node, x->dtype, &r));
    int64_t *idx;
    TT_TRY(tt_load_indices(c->node, "index", ind, &x->dims[axis], 1, &idx));
    tt_status s = tt_copy_tensor_data(y, x);
    size_t es = tt_dtype_size(x->dtype);
    int64_t xs[TT_MAX_RANK], pos[TT_MAX_RANK] = {0}, off = 0, n = tt_tensor_numel(ind);
    tt_strides(x->rank, x->dims, xs);
    /* in index order, so that with duplicates the last update wins */
    for (int64_t i = 0; i < n && s == TT_OK; i++) {
        s = update(y, off + idx[i] * xs[axis], (const char *)upd->data + i * (int64_t)es, 1, r);
        tt_index_next(ind->rank, ind->dims, xs, axis, pos, &off);
    }
    tt_free(idx);
    return s;
}

/* ---- ScatterND ------------------------------------------------------------------------------ */

static tt_status infer_scatter_nd(tt_ictx *c)
{
    const tt_type *x, *ind, *upd;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &ind));
    TT_TRY(tt_infer_input(c, 2, &upd));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT64)));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    reduction r;
    TT_TRY(reduction_of(c->node, x->dtype, &r));
    int rx = x->rank, q = ind->rank;
    if (rx >= 0 && q >= 0 && upd->rank >= 0) {
        if (rx < 1 || q < 1)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "data and indices must have rank >= 1 (got %d and %d)", rx,
                               q);
        int64_t k = ind->dims[q - 1];
        if (k >= 0 && (k < 1 || k > rx))
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "index tuples have %" PRId64 " entries; must be 1 to %d", k,
                               rx);
        /* updates: indices.shape[:-1] + data.shape[k:] */
        if (k >= 0) {
            int64_t want[2 * TT_MAX_RANK];
            int rw = q - 1 + rx - (int)k;
            memcpy(want, ind->dims, sizeof(int64_t) * (size_t)(q - 1));
            memcpy(want + q - 1, x->dims + k, sizeof(int64_t) * (size_t)(rx - k));
            bool ok = upd->rank == rw;
            for (int d = 0; ok && d < rw; d++)
                ok = want[d] < 0 || upd->dims[d] < 0 || want[d] == upd->dims[d];
            if (!ok) {
                char a[160], b[160];
                return tt_op_error(c->node, TETHER_ERR_SHAPE, "updates are %s; these indices and data need %s",
                                   tt_dims_str(upd->rank, upd->dims, a, 160), tt_dims_str(rw, want, b, 160));
            }
        }
    }
    return tt_infer_same(c, 0, 0);
}

static tt_status run_scatter_nd(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *ind = tt_kin(c, 1), *upd = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    reduction r;
    TT_TRY(reduction_of(c->node, x->dtype, &r));
    int k = (int)ind->dims[ind->rank - 1];
    int64_t *idx;
    TT_TRY(tt_load_indices(c->node, "index", ind, x->dims, k, &idx));
    tt_status s = tt_copy_tensor_data(y, x);
    int64_t xs[TT_MAX_RANK], tuples = k ? tt_tensor_numel(ind) / k : 0, slice = tt_dims_prod(x->dims, k, x->rank);
    size_t es = tt_dtype_size(x->dtype);
    tt_strides(x->rank, x->dims, xs);
    for (int64_t t = 0; t < tuples && s == TT_OK; t++) {
        int64_t off = 0;
        for (int i = 0; i < k; i++)
            off += idx[t * k + i] * xs[i];
        s = update(y, off, (const char *)upd->data + t * slice * (int64_t)es, slice, r);
    }
    tt_free(idx);
    return s;
}

/* ---- TensorScatter (24): a KV cache update -------------------------------------------------- */

static tt_status infer_tensor_scatter(tt_ictx *c)
{
    const tt_type *past, *upd;
    TT_TRY(tt_infer_input(c, 0, &past));
    TT_TRY(tt_infer_input(c, 1, &upd));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    TT_TRY(tt_infer_check_dtype(c, 2, TT_DT(TETHER_DTYPE_INT64)));
    const char *mode = tt_attr_string(c->node, "mode", "linear");
    if (strcmp(mode, "linear") != 0 && strcmp(mode, "circular") != 0)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "mode \"%.20s\" is not linear or circular", mode);
    if (past->rank >= 0) {
        int axis;
        TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -2), past->rank, false, &axis));
        if (axis == 0)
            return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "axis cannot be the batch dimension");
    }
    return tt_infer_same(c, 0, 0);
}

/* present = past with update's rows along `axis` written at write_indices[batch] on. */
static tt_status run_tensor_scatter(tt_kctx *c)
{
    const tt_tensor *past = tt_kin(c, 0), *upd = tt_kin(c, 1), *wi = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -2), past->rank, false, &axis));
    bool circular = strcmp(tt_attr_string(c->node, "mode", "linear"), "circular") == 0;
    bool ok = upd->rank == past->rank && axis > 0;
    for (int d = 0; ok && d < past->rank; d++)
        ok = d == axis ? upd->dims[d] <= past->dims[d] : upd->dims[d] == past->dims[d];
    if (!ok)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "update must have the cache's shape but for axis %d, at most as "
                           "long", axis);
    int64_t B = past->dims[0], max = past->dims[axis], S = upd->dims[axis];
    if (wi && (wi->rank != 1 || wi->dims[0] != B))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "write_indices must have shape (%" PRId64 ")", B);
    TT_TRY(tt_copy_tensor_data(y, past));
    /* rows: every index before the axis; each row holds S (or max) slices of `inner` */
    int64_t rows_per_b = tt_dims_prod(past->dims, 1, axis), inner = tt_dims_prod(past->dims, axis + 1, past->rank);
    for (int64_t b = 0; b < B; b++) {
        int64_t start = wi ? ((const int64_t *)wi->data)[b] : 0;
        if (start < 0 || (!circular && start + S > max) || (circular && max == 0 && S > 0))
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "write index %" PRId64 " with %" PRId64 " new entries does not fit a cache of %" PRId64,
                               start, S, max);
        for (int64_t r = 0; r < rows_per_b; r++)
            for (int64_t s = 0; s < S; s++) {
                int64_t pos = circular ? (start + s) % max : start + s;
                int64_t row = b * rows_per_b + r;
                TT_TRY(tt_copy_tensor_elems(y, (row * max + pos) * inner, upd, (row * S + s) * inner, inner));
            }
    }
    return TT_OK;
}

const tt_op_schema tt_schemas_scatter[] = {
    TT_SCHEMA("Scatter", 9, 10, infer_scatter_elements),
    TT_SCHEMA("ScatterElements", 11, 0, infer_scatter_elements),
    TT_SCHEMA("ScatterND", 11, 0, infer_scatter_nd),
    TT_SCHEMA("TensorScatter", 24, 0, infer_tensor_scatter),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_scatter[] = {
    TT_KERNEL("Scatter", 9, 10, TT_DTS_ALL, run_scatter_elements),
    TT_KERNEL("ScatterElements", 11, 0, TT_DTS_ALL, run_scatter_elements),
    TT_KERNEL("ScatterND", 11, 0, TT_DTS_ALL, run_scatter_nd),
    TT_KERNEL("TensorScatter", 24, 0, TT_DTS_ANY, run_tensor_scatter),
    TT_KERNEL_END,
};
