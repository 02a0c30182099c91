/* Helpers shared by operator definitions. */
#include "ops/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

tt_status tt_op_error(const tt_node *n, tt_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int len = vasprintf(&msg, fmt, ap);
    va_end(ap);
    tt_status s = tt_error(code, "node '%s' (%s): %s", n->name, n->op_type, len >= 0 ? msg : "(out of memory)");
    free(msg);
    return s;
}

tt_status tt_infer_input(const tt_ictx *c, int i, const tt_type **out)
{
    const tt_type *t = tt_iin(c, i);
    if (!t)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input %d is required", i);
    /* at load an input of unknown type (kind NONE, rank -1) passes as a tensor of unknown shape */
    if (t->kind != TT_KIND_TENSOR && (c->concrete || t->kind != TT_KIND_NONE || t->rank >= 0))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input %d must be a tensor", i);
    *out = t;
    return TT_OK;
}

tt_status tt_need_input(const tt_ictx *c, int i, const tt_type **t)
{
    *t = tt_iin(c, i);
    if (!*t)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input %d is required", i);
    if ((*t)->kind != TT_KIND_TENSOR && ((*t)->kind != TT_KIND_NONE || c->concrete))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input %d must be a tensor", i);
    return TT_OK;
}

tt_status tt_infer_same(tt_ictx *c, int i, int o)
{
    const tt_type *t = tt_iin(c, i);
    if (!t)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input %d is required", i);
    if (o < c->n_out)
        c->out[o] = *t;
    return TT_OK;
}

void tt_infer_tensor(tt_ictx *c, int o, tt_dtype dtype, int rank, const int64_t *dims)
{
    if (o >= c->n_out)
        return;
    if (rank < 0)
        tt_type_unknown_shape(&c->out[o], dtype);
    else
        tt_type_tensor(&c->out[o], dtype, rank, dims);
}

static int64_t bcast_dim(int64_t a, int64_t b, bool *ok)
{
    if (a == b)
        return a;
    if (a == 1)
        return b;
    if (b == 1)
        return a;
    if (a >= 0 && b >= 0) {
        *ok = false;
        return a;
    }
    /* a symbol against a known dim > 1: the symbol must equal it (or be 1, which the known
     * dim wins anyway) */
    if (a >= 0)
        return a;
    if (b >= 0)
        return b;
    return TT_DIM_UNKNOWN;
}

tt_status tt_broadcast_shapes(const tt_node *node, int ra, const int64_t *a, int rb, const int64_t *b, int *r,
                              int64_t *out)
{
    int rr = ra > rb ? ra : rb;
    int64_t tmp[TT_MAX_RANK];
    for (int i = 0; i < rr; i++) {
        int ia = i - (rr - ra), ib = i - (rr - rb);
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        bool ok = true;
        tmp[i] = bcast_dim(da, db, &ok);
        if (!ok) {
            char sa[160], sb[160];
            return tt_op_error(node, TETHER_ERR_SHAPE, "shapes %s and %s cannot be broadcast together",
                               tt_dims_str(ra, a, sa, sizeof sa), tt_dims_str(rb, b, sb, sizeof sb));
        }
    }
    memcpy(out, tmp, sizeof(int64_t) * (size_t)rr);
    *r = rr;
    return TT_OK;
}

tt_status tt_infer_broadcast(const tt_ictx *c, int first, int n, int *out_rank, int64_t *out_dims)
{
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    for (int i = first; i < first + n; i++) {
        const tt_type *t = tt_iin(c, i);
        if (!t)
            continue;
        if (t->rank < 0) {
            *out_rank = -1;
            return TT_OK;
        }
        TT_TRY(tt_broadcast_shapes(c->node, r, dims, t->rank, t->dims, &r, dims));
    }
    *out_rank = r;
    memcpy(out_dims, dims, sizeof(int64_t) * (size_t)r);
    return TT_OK;
}

tt_status tt_infer_check_dtype(const tt_ictx *c, int i, uint32_t mask)
{
    const tt_type *t = tt_iin(c, i);
    if (!t)
        return TT_OK;
    if (t->kind != TT_KIND_TENSOR)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input %d must be a tensor", i);
    if (!((mask >> t->dtype) & 1))
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "input %d has dtype %s, which this op does not support", i,
                           tt_dtype_name(t->dtype));
    return TT_OK;
}

tt_status tt_infer_same_dtype(const tt_ictx *c, int i, int j)
{
    const tt_type *a = tt_iin(c, i), *b = tt_iin(c, j);
    if (a && b && a->dtype != b->dtype)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "inputs %d and %d must have the same dtype (%s vs %s)", i, j,
                           tt_dtype_name(a->dtype), tt_dtype_name(b->dtype));
    return TT_OK;
}

bool tt_infer_ints(const tt_ictx *c, int i, int64_t *out, int64_t cap, int64_t *n, tt_status *s)
{
    const tt_tensor *v = tt_ival(c, i);
    *s = TT_OK;
    if (!v)
        return false;
    *s = tt_tensor_to_ints(c->node, v, out, cap, n);
    return *s == TT_OK;
}

tt_status tt_legacy_broadcast(const tt_node *n, bool broadcast, int64_t axis, int ra, const int64_t *a, int rb,
                              const int64_t *b, int64_t *b_dims)
{
    char sa[160], sb[160];
    if (!broadcast) {
        if (ra != rb)
            return tt_op_error(n, TETHER_ERR_SHAPE, "shapes %s and %s differ and attribute broadcast is not set",
                               tt_dims_str(ra, a, sa, sizeof sa), tt_dims_str(rb, b, sb, sizeof sb));
        memcpy(b_dims, b, sizeof(int64_t) * (size_t)rb);
        return TT_OK;
    }
    bool single = true; /* one element broadcasts whatever its rank */
    for (int i = 0; i < rb; i++)
        single = single && b[i] == 1;
    int64_t first = single ? 0 : axis < 0 ? ra - rb : axis;
    if (single)
        rb = 0;
    if (rb > ra || first < 0 || first + rb > ra)
        return tt_op_error(n, TETHER_ERR_SHAPE, "cannot broadcast %s onto %s at axis %" PRId64,
                           tt_dims_str(rb, b, sb, sizeof sb), tt_dims_str(ra, a, sa, sizeof sa), first);
    for (int i = 0; i < ra; i++)
        b_dims[i] = i >= first && i < first + rb ? b[i - first] : 1;
    return TT_OK;
}

static tt_status legacy_attrs(const tt_node *n, int ra, const int64_t *a, int rb, const int64_t *b, int64_t *b_dims)
{
    return tt_legacy_broadcast(n, tt_attr_int(n, "broadcast", 0) != 0, tt_attr_int(n, "axis", -1), ra, a, rb, b, b_dims);
}

tt_status tt_infer_binary(const tt_ictx *c, int *out_rank, int64_t *out_dims)
{
    const tt_type *a = tt_iin(c, 0), *b = tt_iin(c, 1);
    if (!a || !b)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs two inputs");
    if (c->node->opset >= 7)
        return tt_infer_broadcast(c, 0, 2, out_rank, out_dims);
    *out_rank = a->rank;
    if (a->rank < 0)
        return TT_OK;
    memcpy(out_dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
    if (b->rank < 0)
        return TT_OK;
    int64_t bd[TT_MAX_RANK];
    TT_TRY(legacy_attrs(c->node, a->rank, a->dims, b->rank, b->dims, bd));
    return tt_broadcast_shapes(c->node, a->rank, a->dims, a->rank, bd, out_rank, out_dims);
}

tt_status tt_binary_rhs(const tt_kctx *c, tt_tensor *b)
{
    const tt_tensor *a = tt_kin(c, 0), *in = tt_kin(c, 1);
    *b = *in;
    if (c->node->opset >= 7)
        return TT_OK;
    TT_TRY(legacy_attrs(c->node, a->rank, a->dims, in->rank, in->dims, b->dims));
    b->rank = a->rank;
    return TT_OK;
}

tt_status tt_norm_axis(const tt_node *n, int64_t axis, int rank, bool allow_end, int *out)
{
    int64_t lim = rank + (allow_end ? 1 : 0);
    int64_t a = axis < 0 ? axis + lim : axis;
    if (a < 0 || a >= lim || (lim == 0))
        return tt_op_error(n, TETHER_ERR_SHAPE, "axis %" PRId64 " is out of range for rank %d", axis, rank);
    *out = (int)a;
    return TT_OK;
}

tt_status tt_norm_axes(const tt_node *n, const int64_t *axes, int64_t count, int rank, int *out)
{
    for (int64_t i = 0; i < count; i++) {
        TT_TRY(tt_norm_axis(n, axes[i], rank, false, &out[i]));
        for (int64_t j = 0; j < i; j++)
            if (out[j] == out[i])
                return tt_op_error(n, TETHER_ERR_SHAPE, "axis %" PRId64 " is repeated (as %d)", axes[i], out[i]);
    }
    return TT_OK;
}

tt_status tt_index_error(const tt_node *n, const char *what, int64_t index, int64_t dim)
{
    if (dim == 0)
        return tt_op_error(n, TETHER_ERR_RUNTIME, "%s %" PRId64 " indexes an empty dimension", what, index);
    return tt_op_error(n, TETHER_ERR_RUNTIME, "%s %" PRId64 " is out of range [-%" PRId64 ", %" PRId64 ")", what, index,
                       dim, dim);
}

tt_status tt_load_indices(const tt_node *n, const char *what, const tt_tensor *t, const int64_t *dims, int ndims,
                          int64_t **out)
{
    if (t->dtype != TETHER_DTYPE_INT32 && t->dtype != TETHER_DTYPE_INT64)
        return tt_op_error(n, TETHER_ERR_SHAPE, "%s must be int32 or int64, got %s", what, tt_dtype_name(t->dtype));
    int64_t count = tt_tensor_numel(t);
    int64_t *idx = tt_malloc(sizeof *idx * (size_t)(count ? count : 1));
    if (!idx)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory reading %" PRId64 " indices", count);
    for (int64_t i = 0, k = 0; i < count; i++, k = k + 1 == ndims ? 0 : k + 1) {
        int64_t v = t->dtype == TETHER_DTYPE_INT64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
        idx[i] = v;
        if (!tt_norm_index(&idx[i], dims[k])) {
            tt_free(idx);
            return tt_index_error(n, what, v, dims[k]);
        }
    }
    *out = idx;
    return TT_OK;
}

tt_status tt_infer_elements_indices(const tt_ictx *c, const tt_type *x, const tt_type *ind)
{
    if (x->rank >= 0 && ind->rank >= 0) {
        if (x->rank != ind->rank)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "indices have rank %d, data rank %d", ind->rank, x->rank);
        int axis = 0; /* set by tt_norm_axis, which GCC cannot tell from inside this file */
        TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
        for (int d = 0; d < x->rank; d++)
            if (d != axis && x->dims[d] >= 0 && ind->dims[d] > x->dims[d])
                return tt_op_error(c->node, TETHER_ERR_SHAPE,
                                   "indices have size %" PRId64 " on axis %d, larger than the data's %" PRId64,
                                   ind->dims[d], d, x->dims[d]);
    }
    return TT_OK;
}

tt_status tt_check_size(const tt_node *n, tt_dtype dtype, int rank, const int64_t *dims, const char *what)
{
    int64_t numel;
    uint64_t bytes;
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0)
            return TT_OK;
    if (tt_shape_numel(rank, dims, &numel) != TT_OK || !tt_mul_ok((uint64_t)numel, tt_dtype_size(dtype), &bytes) ||
        bytes > tt_max_tensor_bytes()) {
        char s[160];
        return tt_op_error(n, TETHER_ERR_RUNTIME, "%s %s of %s is larger than the %" PRIu64 "-byte tensor limit", what,
                           tt_dims_str(rank, dims, s, sizeof s), tt_dtype_name(dtype), tt_max_tensor_bytes());
    }
    return TT_OK;
}

tt_status tt_tensor_to_ints(const tt_node *node, const tt_tensor *t, int64_t *out, int64_t cap, int64_t *n)
{
    if (!tt_dtype_is_int(t->dtype))
        return tt_op_error(node, TETHER_ERR_SHAPE, "expected an integer tensor, got %s", tt_dtype_name(t->dtype));
    int64_t k = tt_tensor_numel(t);
    if (k > cap)
        return tt_op_error(node, TETHER_ERR_SHAPE, "integer list of %" PRId64 " elements is longer than %" PRId64, k,
                           cap);
    for (int64_t i = 0; i < k; i++)
        out[i] = tt_load_i64(t->data, t->dtype, (size_t)i);
    *n = k;
    return TT_OK;
}

void tt_strides(int rank, const int64_t *dims, int64_t *strides)
{
    /* unsigned: an empty tensor may have other dimensions whose product overflows; its
     * strides are never used to address anything, and must not be undefined behaviour */
    uint64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = (int64_t)s;
        s *= (uint64_t)dims[i];
    }
}

int64_t tt_dims_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= dims[i];
    return p;
}

tt_status tt_param_f64(const tt_node *node, const tt_tensor *t, const char *what, int rank, const int64_t *dims,
                      double **out)
{
    int64_t n = tt_dims_prod(dims, 0, rank), st[TT_MAX_RANK], s = 1;
    char a[160], b[160];
    *out = NULL;
    for (int i = 0; i < t->rank - rank; i++)
        if (t->dims[i] != 1)
            return tt_op_error(node, TETHER_ERR_SHAPE, "%s of shape %s has a higher rank than the normalised shape %s",
                               what, tt_dims_str(t->rank, t->dims, a, 160), tt_dims_str(rank, dims, b, 160));
    for (int i = rank - 1; i >= 0; i--) {
        int ti = i - (rank - t->rank);
        int64_t d = ti >= 0 ? t->dims[ti] : 1;
        if (d != 1 && d != dims[i])
            return tt_op_error(node, TETHER_ERR_SHAPE, "%s of shape %s does not broadcast to the normalised shape %s",
                               what, tt_dims_str(t->rank, t->dims, a, 160), tt_dims_str(rank, dims, b, 160));
        st[i] = d == 1 ? 0 : s;
        s *= d;
    }
    double *p = tt_malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!p)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", node->name);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i, off = 0;
        for (int d = rank - 1; d >= 0; d--) {
            off += (r % dims[d]) * st[d];
            r /= dims[d];
        }
        p[i] = tt_load_f64(t->data, t->dtype, (size_t)off);
    }
    *out = p;
    return TT_OK;
}

/* ---- broadcasting ------------------------------------------------------------------ */

typedef struct bcast_job {
    int rank, np;                              /* dims after coalescing; pointers incl. output */
    int64_t dims[TT_MAX_RANK];
    int64_t st[TT_BCAST_MAX + 1][TT_MAX_RANK]; /* byte strides */
    char *base[TT_BCAST_MAX + 1];
    tt_bcast_fn fn;
    void *arg;
} bcast_job;

static void bcast_rows(void *arg, int64_t begin, int64_t end)
{
    bcast_job *j = arg;
    int R = j->rank;
    int64_t inner = j->dims[R - 1];
    int64_t idx[TT_MAX_RANK] = {0};
    /* position of row `begin` */
    int64_t r = begin;
    for (int d = R - 2; d >= 0; d--) {
        idx[d] = r % j->dims[d];
        r /= j->dims[d];
    }
    char *ptr[TT_BCAST_MAX + 1];
    int64_t step[TT_BCAST_MAX + 1];
    for (int p = 0; p < j->np; p++) {
        step[p] = j->st[p][R - 1];
        int64_t off = 0;
        for (int d = 0; d < R - 1; d++)
            off += idx[d] * j->st[p][d];
        ptr[p] = j->base[p] + off;
    }
    for (int64_t row = begin; row < end; row++) {
        j->fn(ptr, step, inner, j->arg);
        /* odometer over the outer dims */
        for (int d = R - 2; d >= 0; d--) {
            if (++idx[d] < j->dims[d]) {
                for (int p = 0; p < j->np; p++)
                    ptr[p] += j->st[p][d];
                break;
            }
            idx[d] = 0;
            for (int p = 0; p < j->np; p++)
                ptr[p] -= j->st[p][d] * (j->dims[d] - 1);
        }
    }
}

tt_status tt_bcast_apply(tt_tensor *out, int k, const tt_tensor *const *ins, tt_bcast_fn fn, void *arg)
{
    TT_ASSERT(k <= TT_BCAST_MAX);
    int64_t total = tt_tensor_numel(out);
    if (total == 0)
        return TT_OK;
    bcast_job j = {.np = k + 1, .fn = fn, .arg = arg};
    int R = out->rank;
    int64_t dims[TT_MAX_RANK], st[TT_BCAST_MAX + 1][TT_MAX_RANK];
    for (int d = 0; d < R; d++)
        dims[d] = out->dims[d];
    for (int p = 0; p <= k; p++) {
        const tt_tensor *t = p ? ins[p - 1] : out;
        size_t es = tt_dtype_size(t->dtype);
        int64_t s = (int64_t)es;
        for (int d = R - 1; d >= 0; d--) {
            int id = d - (R - t->rank);
            if (id < 0 || (t->dims[id] == 1 && dims[d] != 1)) {
                st[p][d] = 0;
            } else if (t->dims[id] != dims[d]) {
                char a[160], b[160];
                return tt_error(TETHER_ERR_SHAPE, "cannot broadcast %s to %s", tt_dims_str(t->rank, t->dims, a, 160),
                                tt_dims_str(R, dims, b, 160));
            } else {
                st[p][d] = s;
                s *= t->dims[id];
            }
        }
        j.base[p] = t->data;
    }
    /* Coalesce adjacent dims that every pointer walks contiguously, so the inner loop runs long. */
    int r = 0;
    for (int d = 0; d < R; d++) {
        if (dims[d] == 1)
            continue;
        if (r > 0) {
            bool merge = true;
            for (int p = 0; p <= k && merge; p++)
                merge = st[p][d] * dims[d] == j.st[p][r - 1];
            if (merge) {
                j.dims[r - 1] *= dims[d];
                for (int p = 0; p <= k; p++)
                    j.st[p][r - 1] = st[p][d];
                continue;
            }
        }
        j.dims[r] = dims[d];
        for (int p = 0; p <= k; p++)
            j.st[p][r] = st[p][d];
        r++;
    }
    if (r == 0) {
        j.dims[0] = 1;
        for (int p = 0; p <= k; p++)
            j.st[p][0] = 0;
        r = 1;
    }
    j.rank = r;
    int64_t rows = total / j.dims[r - 1];
    int64_t grain = (16384 + j.dims[r - 1] - 1) / j.dims[r - 1];
    /* a huge output (from a tiny shape input) stops with the run */
    tt_parallel_for_stoppable(rows, grain, (double)j.dims[r - 1], bcast_rows, &j);
    return TT_OK;
}

void tt_map(int64_t n, tt_map_fn fn, void *arg) { tt_parallel_for_stoppable(n, 16384, 1, fn, arg); }

void tt_to_f32(const void *src, tt_dtype t, float *dst, int64_t n)
{
    switch (t) {
    case TETHER_DTYPE_FLOAT: memcpy(dst, src, (size_t)n * 4); break;
    case TETHER_DTYPE_FLOAT16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = tt_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case TETHER_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = tt_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)tt_load_f64(src, t, (size_t)i);
        break;
    }
}

void tt_from_f32(const float *src, void *dst, tt_dtype t, int64_t n)
{
    switch (t) {
    case TETHER_DTYPE_FLOAT: memcpy(dst, src, (size_t)n * 4); break;
    case TETHER_DTYPE_FLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = tt_f32_to_f16(src[i]);
        break;
    case TETHER_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = tt_f32_to_bf16(src[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            tt_store_f64(dst, t, (size_t)i, src[i]);
        break;
    }
}
