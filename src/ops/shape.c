/* Shape ops: views of their input that move no data (Identity, Reshape, Flatten, Squeeze,
 * Unsqueeze), shape queries and constants (Shape, Size, Constant, ConstantOfShape, EyeLike,
 * Range), and rearranging copies built on ops/copy.h (Transpose, Concat, Split, Tile,
 * Expand, Pad, Trilu, DepthToSpace, SpaceToDepth). */
#include "ops/copy.h"

#include <inttypes.h>

/* ---- Identity ------------------------------------------------------------------------- */

static tt_status infer_identity(tt_ictx *c)
{
    const tt_type *t = tt_iin(c, 0);
    if (!t)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input 0 is required");
    c->out[0] = *t;
    return TT_OK;
}

/* Identity of a sequence or optional copies the reference; tensors are views (no run). */
static tt_status run_identity(tt_kctx *c)
{
    if (c->in[0]->kind == TT_KIND_TENSOR)
        return TT_OK; /* the executor already made output 0 a view */
    return tt_value_share(c->in[0], c->out[0]);
}

/* ---- Reshape ------------------------------------------------------------------------- */

/* Output shape of Reshape for input dims x (rank rx, maybe symbolic) and target shape s. */
static tt_status reshape_dims(const tt_node *n, int rx, const int64_t *x, const int64_t *s, int64_t ns, bool allowzero,
                              int64_t *out)
{
    if (ns > TT_MAX_RANK)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "target rank %" PRId64 " exceeds %d", ns, TT_MAX_RANK);
    int neg = -1;
    int64_t known = 1;
    bool all_known = true;
    for (int64_t i = 0; i < ns; i++) {
        int64_t d = s[i];
        if (d == 0 && !allowzero) {
            if (i >= rx)
                return tt_op_error(n, TETHER_ERR_SHAPE, "shape entry %" PRId64 " is 0 (copy) past the input's rank %d",
                                   i, rx);
            d = x[i];
        } else if (d == -1) {
            if (neg >= 0)
                return tt_op_error(n, TETHER_ERR_SHAPE, "the target shape has more than one -1");
            neg = (int)i;
            out[i] = TT_DIM_UNKNOWN;
            continue;
        } else if (d < -1) {
            return tt_op_error(n, TETHER_ERR_SHAPE, "invalid target dimension %" PRId64, d);
        }
        out[i] = d;
        if (d < 0)
            all_known = false;
        else if (__builtin_mul_overflow(known, d, &known))
            return tt_op_error(n, TETHER_ERR_SHAPE, "the target shape's size overflows 64 bits");
    }
    if (neg >= 0) {
        int64_t total = 1;
        bool xk = true;
        for (int i = 0; i < rx; i++) {
            if (x[i] < 0)
                xk = false;
            else if (__builtin_mul_overflow(total, x[i], &total))
                return tt_op_error(n, TETHER_ERR_SHAPE, "the input's size overflows 64 bits");
        }
        if (xk && all_known) {
            if (known == 0 || total % known)
                return tt_op_error(n, TETHER_ERR_SHAPE, "cannot reshape %" PRId64 " elements with -1 (other dims give %" PRId64 ")",
                                   total, known);
            out[neg] = total / known;
        }
    }
    return TT_OK;
}

static tt_status infer_reshape(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    int64_t s[TT_MAX_RANK + 1], ns;
    tt_status st;
    bool allowzero = tt_attr_int(c->node, "allowzero", 0) != 0;
    if (c->node->opset < 5) {
        size_t n;
        const int64_t *sh = tt_attr_ints(c->node, "shape", &n);
        if (!sh || n > TT_MAX_RANK)
            return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs a 'shape' attribute of rank <= %d", TT_MAX_RANK);
        memcpy(s, sh, n * sizeof *s);
        ns = (int64_t)n;
    } else if (!tt_infer_ints(c, 1, s, TT_MAX_RANK + 1, &ns, &st)) {
        if (st != TT_OK)
            return st;
        const tt_type *st1 = tt_iin(c, 1);
        int r = st1 && st1->rank == 1 && st1->dims[0] >= 0 ? (int)st1->dims[0] : -1;
        tt_infer_tensor(c, 0, x->dtype, r > TT_MAX_RANK ? -1 : r, NULL);
        return TT_OK;
    }
    int64_t out[TT_MAX_RANK];
    if (x->rank < 0) {
        for (int64_t i = 0; i < ns && i < TT_MAX_RANK; i++)
            out[i] = s[i] > 0 || (s[i] == 0 && allowzero) ? s[i] : TT_DIM_UNKNOWN;
        if (ns > TT_MAX_RANK)
            return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "target rank exceeds %d", TT_MAX_RANK);
    } else {
        TT_TRY(reshape_dims(c->node, x->rank, x->dims, s, ns, allowzero, out));
    }
    if (c->concrete) {
        int64_t a, b;
        TT_TRY(tt_shape_numel(x->rank, x->dims, &a));
        tt_status e = tt_shape_numel((int)ns, out, &b);
        if (e != TT_OK || a != b) {
            char xs[160], ss[160];
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "cannot reshape %s into %s", tt_dims_str(x->rank, x->dims, xs, 160),
                               tt_dims_str((int)ns, s, ss, 160));
        }
    }
    tt_infer_tensor(c, 0, x->dtype, (int)ns, out);
    return TT_OK;
}

/* ---- Flatten ---------------------------------------------------------------------------- */

static tt_status infer_flatten(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, 2, NULL);
        return TT_OK;
    }
    /* axis is in [-r, r]: a negative one counts from the end of the input's dims */
    int64_t a = tt_attr_int(c->node, "axis", 1);
    if (a < -x->rank || a > x->rank)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)a, x->rank);
    int axis = (int)(a < 0 ? a + x->rank : a);
    int64_t d[2] = {1, 1};
    for (int i = 0; i < x->rank; i++) {
        int64_t *p = i < axis ? &d[0] : &d[1];
        if (*p >= 0 && x->dims[i] >= 0)
            *p *= x->dims[i];
        else
            *p = TT_DIM_UNKNOWN;
    }
    tt_infer_tensor(c, 0, x->dtype, 2, d);
    return TT_OK;
}

/* ---- Shape, Size ----------------------------------------------------------------------------- */

static tt_status shape_range(const tt_ictx *c, int rank, int *start, int *end)
{
    int64_t s = tt_attr_int(c->node, "start", 0), e = tt_attr_int(c->node, "end", rank);
    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    *start = (int)(s < 0 ? 0 : s > rank ? rank : s);
    *end = (int)(e < 0 ? 0 : e > rank ? rank : e);
    if (*end < *start)
        *end = *start;
    return TT_OK;
}

static tt_status infer_shape(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, 1, NULL);
        return TT_OK;
    }
    int s, e;
    shape_range(c, x->rank, &s, &e);
    int64_t n = e - s;
    tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, 1, &n);
    return TT_OK;
}

static tt_status run_shape(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int s, e;
    tt_ictx ic = {.node = c->node};
    shape_range(&ic, x->rank, &s, &e);
    int64_t *y = tt_kout(c, 0)->data;
    for (int i = s; i < e; i++)
        y[i - s] = x->dims[i];
    return TT_OK;
}

static tt_status infer_size(tt_ictx *c)
{
    tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, 0, NULL);
    return TT_OK;
}

static tt_status run_size(tt_kctx *c)
{
    *(int64_t *)tt_kout(c, 0)->data = tt_tensor_numel(tt_kin(c, 0));
    return TT_OK;
}

/* ---- Constant ----------------------------------------------------------------------------- */

static tt_status constant_value(const tt_node *n, tt_tensor *t, const float **f, const int64_t **i, const char **s,
                                size_t *count, int *kind)
{
    static const char *names[] = {"value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
                                  "value_strings", "sparse_value"};
    for (int k = 0; k < 8; k++) {
        const tt_attr *a = tt_node_attr(n, names[k]);
        if (!a)
            continue;
        *kind = k;
        switch (k) {
        case 0:
        case 7:
            if (!a->t)
                break;
            *t = *a->t;
            return TT_OK;
        case 1: *f = &a->f, *count = 1; return TT_OK;
        case 2: *f = a->floats, *count = a->n; return TT_OK;
        case 3: *i = &a->i, *count = 1; return TT_OK;
        case 4: *i = a->ints, *count = a->n; return TT_OK;
        case 5: *s = a->s, *count = 1; return TT_OK;
        case 6: *count = a->n; return TT_OK;
        }
    }
    return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "has no value attribute");
}

static tt_status infer_constant(tt_ictx *c)
{
    tt_tensor t;
    const float *f = NULL;
    const int64_t *i = NULL;
    const char *s = NULL;
    size_t n = 0;
    int kind = -1;
    TT_TRY(constant_value(c->node, &t, &f, &i, &s, &n, &kind));
    int64_t len = (int64_t)n;
    switch (kind) {
    case 0:
    case 7: tt_infer_tensor(c, 0, t.dtype, t.rank, t.dims); break;
    case 1: tt_infer_tensor(c, 0, TETHER_DTYPE_FLOAT, 0, NULL); break;
    case 2: tt_infer_tensor(c, 0, TETHER_DTYPE_FLOAT, 1, &len); break;
    case 3: tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, 0, NULL); break;
    case 4: tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, 1, &len); break;
    case 5: tt_infer_tensor(c, 0, TETHER_DTYPE_STRING, 0, NULL); break;
    case 6: tt_infer_tensor(c, 0, TETHER_DTYPE_STRING, 1, &len); break;
    }
    return TT_OK;
}

static tt_status run_constant(tt_kctx *c)
{
    tt_tensor t;
    const float *f = NULL;
    const int64_t *iv = NULL;
    const char *s = NULL;
    size_t n = 0;
    int kind = -1;
    TT_TRY(constant_value(c->node, &t, &f, &iv, &s, &n, &kind));
    tt_tensor *y = tt_kout(c, 0);
    if (kind == 0 || kind == 7) {
        if (t.dtype == TETHER_DTYPE_STRING) {
            for (int64_t k = 0; k < tt_tensor_numel(&t); k++) {
                const char *str = ((char *const *)t.data)[k];
                TT_TRY(tt_tensor_set_string(y, k, str, strlen(str)));
            }
        } else {
            memcpy(y->data, t.data, tt_tensor_nbytes(&t));
        }
    } else if (f) {
        memcpy(y->data, f, n * sizeof *f);
    } else if (iv) {
        memcpy(y->data, iv, n * sizeof *iv);
    } else if (kind == 5) {
        TT_TRY(tt_tensor_set_string(y, 0, s, strlen(s)));
    } else {
        const tt_attr *a = tt_node_attr(c->node, "value_strings");
        for (size_t k = 0; k < a->n; k++)
            TT_TRY(tt_tensor_set_string(y, (int64_t)k, a->strings[k], a->string_lens[k]));
    }
    return TT_OK;
}

/* ---- arguments shared by several ops ------------------------------------------------------ */

/* An integer list given as attribute `name` (from_attr) or as an input tensor (NULL when
 * omitted). *present is false when neither is there. */
static tt_status int_list(const tt_node *n, bool from_attr, const char *name, const tt_tensor *input, int64_t *out,
                          int64_t cap, int64_t *count, bool *present)
{
    *present = false;
    *count = 0;
    if (from_attr) {
        size_t len;
        const int64_t *v = tt_attr_ints(n, name, &len);
        if (!v)
            return TT_OK;
        if ((int64_t)len > cap)
            return tt_op_error(n, TETHER_ERR_SHAPE, "'%s' has %zu entries; at most %" PRId64 " fit", name, len, cap);
        memcpy(out, v, len * sizeof *out);
        *count = (int64_t)len;
    } else {
        if (!input)
            return TT_OK;
        if (tt_tensor_numel(input) > cap)
            return tt_op_error(n, TETHER_ERR_SHAPE, "'%s' has %" PRId64 " entries; at most %" PRId64 " fit", name,
                               tt_tensor_numel(input), cap);
        TT_TRY(tt_tensor_to_ints(n, input, out, cap, count));
    }
    *present = true;
    return TT_OK;
}

/* An input is given but its value is not known yet (load time, not a constant). */
static bool value_pending(const tt_ictx *c, int i) { return tt_iin(c, i) && !tt_ival(c, i); }

/* The length of 1-D input i when its shape says, else -1. */
static int64_t input_len(const tt_ictx *c, int i)
{
    const tt_type *t = tt_iin(c, i);
    return t && t->kind == TT_KIND_TENSOR && t->rank == 1 && t->dims[0] >= 0 ? t->dims[0] : -1;
}

/* A target shape read from data (Expand, ConstantOfShape): a rank tether holds and no
 * negative sizes. */
static tt_status shape_arg(const tt_node *n, const char *what, const tt_tensor *t, int64_t *dims, int *rank)
{
    if (t->rank > 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "%s must be 1-D, got rank %d", what, t->rank);
    if (tt_tensor_numel(t) > TT_MAX_RANK)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "%s has %" PRId64 " entries; tether supports rank <= %d", what,
                           tt_tensor_numel(t), TT_MAX_RANK);
    int64_t k;
    TT_TRY(tt_tensor_to_ints(n, t, dims, TT_MAX_RANK, &k));
    for (int64_t i = 0; i < k; i++)
        if (dims[i] < 0)
            return tt_op_error(n, TETHER_ERR_RUNTIME, "%s[%" PRId64 "] is %" PRId64 "; sizes must be >= 0", what, i,
                               dims[i]);
    *rank = (int)k;
    return TT_OK;
}

/* y = x viewed with dims xd (row-major, `rank` of them) and transposed by perm. */
static tt_status copy_permuted(const tt_tensor *x, tt_tensor *y, int rank, const int64_t *xd, const int *perm)
{
    int64_t xs[TT_MAX_RANK], yd[TT_MAX_RANK], ys[TT_MAX_RANK];
    tt_strides(rank, xd, xs);
    for (int d = 0; d < rank; d++)
        yd[d] = xd[perm[d]];
    tt_strides(rank, yd, ys);
    tt_strings_clear(y);
    tt_copy c;
    tt_copy_init(&c, tt_dtype_size(x->dtype), y->data, x->data);
    for (int d = 0; d < rank; d++)
        tt_copy_dim(&c, yd[d], ys[d], xs[perm[d]]);
    tt_copy_run(&c);
    return tt_strings_own(y);
}

/* ---- Squeeze, Unsqueeze ----------------------------------------------------------------- */

/* Both take their axes as an attribute before opset 13 and as input 1 from then on; both
 * are views of their input. */
static bool axes_in_attr(const tt_node *n) { return n->opset < 13; }

static tt_status infer_squeeze(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (!axes_in_attr(c->node) && value_pending(c, 1)) {
        int64_t k = input_len(c, 1);
        tt_infer_tensor(c, 0, x->dtype, x->rank >= 0 && k >= 0 && k <= x->rank ? x->rank - (int)k : -1, NULL);
        return TT_OK;
    }
    int64_t axes[TT_MAX_RANK], n;
    bool present;
    TT_TRY(int_list(c->node, axes_in_attr(c->node), "axes", tt_ival(c, 1), axes, TT_MAX_RANK, &n, &present));
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    bool drop[TT_MAX_RANK] = {false};
    if (n > 0) { /* an empty list squeezes every unit dim, as if absent */
        int ax[TT_MAX_RANK];
        TT_TRY(tt_norm_axes(c->node, axes, n, x->rank, ax));
        for (int64_t i = 0; i < n; i++) {
            int64_t d = x->dims[ax[i]];
            if (d >= 0 && d != 1)
                return tt_op_error(c->node, TETHER_ERR_SHAPE, "cannot squeeze axis %d of size %" PRId64, ax[i], d);
            drop[ax[i]] = true;
        }
    } else {
        for (int d = 0; d < x->rank; d++) {
            if (x->dims[d] < 0) { /* a symbol may or may not be 1 */
                tt_infer_tensor(c, 0, x->dtype, -1, NULL);
                return TT_OK;
            }
            drop[d] = x->dims[d] == 1;
        }
    }
    int64_t dims[TT_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!drop[d])
            dims[r++] = x->dims[d];
    tt_infer_tensor(c, 0, x->dtype, r, dims);
    return TT_OK;
}

static tt_status infer_unsqueeze(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (!axes_in_attr(c->node) && value_pending(c, 1)) {
        int64_t k = input_len(c, 1);
        int64_t r = x->rank >= 0 && k >= 0 ? x->rank + k : -1;
        tt_infer_tensor(c, 0, x->dtype, r <= TT_MAX_RANK ? (int)r : -1, NULL);
        return TT_OK;
    }
    int64_t axes[TT_MAX_RANK], n;
    bool present;
    TT_TRY(int_list(c->node, axes_in_attr(c->node), "axes", tt_ival(c, 1), axes, TT_MAX_RANK, &n, &present));
    if (!present)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs 'axes'");
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (x->rank + n > TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "the result's rank %" PRId64 " exceeds %d", x->rank + n,
                           TT_MAX_RANK);
    int r = x->rank + (int)n, ax[TT_MAX_RANK];
    TT_TRY(tt_norm_axes(c->node, axes, n, r, ax));
    bool added[TT_MAX_RANK] = {false};
    for (int64_t i = 0; i < n; i++)
        added[ax[i]] = true;
    int64_t dims[TT_MAX_RANK];
    for (int d = 0, k = 0; d < r; d++)
        dims[d] = added[d] ? 1 : x->dims[k++];
    tt_infer_tensor(c, 0, x->dtype, r, dims);
    return TT_OK;
}

/* ---- Transpose ---------------------------------------------------------------------------- */

static tt_status transpose_perm(const tt_node *n, int rank, int *perm)
{
    size_t len;
    const int64_t *p = tt_attr_ints(n, "perm", &len);
    if (!p) {
        for (int d = 0; d < rank; d++)
            perm[d] = rank - 1 - d;
        return TT_OK;
    }
    if ((int64_t)len != rank)
        return tt_op_error(n, TETHER_ERR_SHAPE, "'perm' has %zu entries for an input of rank %d", len, rank);
    return tt_norm_axes(n, p, (int64_t)len, rank, perm);
}

static tt_status infer_transpose(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (x->rank < 0) {
        size_t len;
        bool has = tt_attr_ints(c->node, "perm", &len) != NULL;
        tt_infer_tensor(c, 0, x->dtype, has && len <= TT_MAX_RANK ? (int)len : -1, NULL);
        return TT_OK;
    }
    int perm[TT_MAX_RANK];
    TT_TRY(transpose_perm(c->node, x->rank, perm));
    int64_t dims[TT_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        dims[d] = x->dims[perm[d]];
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    return TT_OK;
}

static tt_status run_transpose(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int perm[TT_MAX_RANK];
    TT_TRY(transpose_perm(c->node, x->rank, perm));
    return copy_permuted(x, tt_kout(c, 0), x->rank, x->dims, perm);
}

/* ---- Concat --------------------------------------------------------------------------------- */

static tt_status concat_axis(const tt_node *n, int rank, int *axis)
{
    const tt_attr *a = tt_node_attr(n, "axis");
    if (!a && n->opset >= 4)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "needs an 'axis' attribute");
    return tt_norm_axis(n, a ? a->i : 1, rank, false, axis);
}

static tt_status infer_concat(tt_ictx *c)
{
    if (c->n_in < 1)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs at least one input");
    const tt_type *x0;
    TT_TRY(tt_infer_input(c, 0, &x0));
    int rank = -1;
    for (int i = 0; i < c->n_in; i++) {
        const tt_type *t;
        TT_TRY(tt_infer_input(c, i, &t));
        TT_TRY(tt_infer_same_dtype(c, 0, i));
        if (t->rank >= 0 && rank >= 0 && t->rank != rank)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "input %d has rank %d, another input rank %d", i, t->rank,
                               rank);
        if (t->rank >= 0)
            rank = t->rank;
    }
    if (rank < 0) {
        tt_infer_tensor(c, 0, x0->dtype, -1, NULL);
        return TT_OK;
    }
    if (rank == 0)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "cannot concatenate scalars");
    int axis;
    TT_TRY(concat_axis(c->node, rank, &axis));
    int64_t dims[TT_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        int64_t v = d == axis ? 0 : TT_DIM_UNKNOWN;
        for (int i = 0; i < c->n_in; i++) {
            const tt_type *t = c->in[i];
            int64_t td = t->rank < 0 ? TT_DIM_UNKNOWN : t->dims[d];
            if (d == axis) {
                /* the sum is known only when every part is */
                if (v >= 0 && td >= 0 && !__builtin_add_overflow(v, td, &v))
                    continue;
                v = TT_DIM_UNKNOWN;
            } else if (td >= 0) {
                if (v >= 0 && v != td)
                    return tt_op_error(c->node, TETHER_ERR_SHAPE,
                                       "input %d has size %" PRId64 " on axis %d where another input has %" PRId64, i,
                                       td, d, v);
                v = td;
            } else if (v == TT_DIM_UNKNOWN) {
                v = td; /* a symbol, kept unless a known size turns up */
            }
        }
        dims[d] = v;
    }
    tt_infer_tensor(c, 0, x0->dtype, rank, dims);
    return TT_OK;
}

static tt_status run_concat(tt_kctx *c)
{
    tt_tensor *y = tt_kout(c, 0);
    int axis;
    TT_TRY(concat_axis(c->node, y->rank, &axis));
    size_t es = tt_dtype_size(y->dtype);
    int64_t ys[TT_MAX_RANK], xs[TT_MAX_RANK], at = 0;
    tt_strides(y->rank, y->dims, ys);
    tt_strings_clear(y);
    for (int i = 0; i < c->n_in; i++) {
        const tt_tensor *x = tt_kin(c, i);
        tt_strides(x->rank, x->dims, xs);
        tt_copy cp;
        tt_copy_init(&cp, es, (char *)y->data + at * ys[axis] * (int64_t)es, x->data);
        for (int d = 0; d < x->rank; d++)
            tt_copy_dim(&cp, x->dims[d], ys[d], xs[d]);
        tt_copy_run(&cp);
        at += x->dims[axis];
    }
    return tt_strings_own(y);
}

/* ---- Split ---------------------------------------------------------------------------------- */

/* The size of each of Split's n parts along an axis of size dim (maybe unknown): from the
 * 'split' attribute (before opset 13; opset 1 also takes it as input 1), input 1, or an
 * even division (uneven with 'num_outputs' from opset 18: the last part is smaller).
 * *known is false when the sizes cannot be told yet. */
static tt_status split_parts(const tt_node *n, int nparts, const tt_tensor *split_in, bool split_pending, int64_t dim,
                             int64_t *parts, bool *known)
{
    *known = false;
    int64_t count;
    bool present;
    bool from_attr = n->opset < 13 && !(n->opset == 1 && (split_in || split_pending));
    if (!from_attr && split_pending)
        return TT_OK;
    TT_TRY(int_list(n, from_attr, "split", split_in, parts, nparts, &count, &present));
    if (present) {
        if (count != nparts)
            return tt_op_error(n, TETHER_ERR_SHAPE, "'split' has %" PRId64 " entries for %d outputs", count, nparts);
        int64_t sum = 0;
        for (int i = 0; i < nparts; i++) {
            if (parts[i] < 0)
                return tt_op_error(n, TETHER_ERR_RUNTIME, "split[%d] is %" PRId64 "; sizes must be >= 0", i,
                                   parts[i]);
            if (__builtin_add_overflow(sum, parts[i], &sum))
                return tt_op_error(n, TETHER_ERR_RUNTIME, "the split sizes overflow");
        }
        if (dim >= 0 && sum != dim)
            return tt_op_error(n, TETHER_ERR_RUNTIME,
                               "split sizes add up to %" PRId64 ", but the axis has size %" PRId64, sum, dim);
        *known = true;
        return TT_OK;
    }
    const tt_attr *num = n->opset >= 18 ? tt_node_attr(n, "num_outputs") : NULL;
    if (num && num->i != nparts)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "'num_outputs' is %" PRId64 ", but the node has %d outputs",
                           num->i, nparts);
    if (dim < 0)
        return TT_OK;
    int64_t chunk = dim / nparts;
    if (dim % nparts) {
        if (!num)
            return tt_op_error(n, TETHER_ERR_RUNTIME, "an axis of size %" PRId64 " cannot be split into %d equal parts",
                               dim, nparts);
        chunk++;
        if (chunk * (nparts - 1) > dim)
            return tt_op_error(n, TETHER_ERR_RUNTIME,
                               "an axis of size %" PRId64 " cannot be split into %d parts of %" PRId64, dim, nparts,
                               chunk);
    }
    for (int i = 0; i < nparts; i++)
        parts[i] = i < nparts - 1 ? chunk : dim - chunk * (nparts - 1);
    *known = true;
    return TT_OK;
}

static tt_status infer_split(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (c->n_out < 1)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs at least one output");
    if (x->rank < 0) {
        for (int k = 0; k < c->n_out; k++)
            tt_infer_tensor(c, k, x->dtype, -1, NULL);
        return TT_OK;
    }
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    int64_t *parts = tt_malloc(sizeof *parts * (size_t)c->n_out);
    if (!parts)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory inferring Split");
    bool known;
    tt_status s = split_parts(c->node, c->n_out, tt_ival(c, 1), value_pending(c, 1), x->dims[axis], parts, &known);
    if (s == TETHER_ERR_RUNTIME && !c->concrete && c->node->opset >= 18 && tt_node_attr(c->node, "num_outputs")) {
        /* num_outputs that cannot split this axis fail when the node runs: at load it may sit
         * in an If branch never taken for these shapes (AffineGrid's function body does this) */
        s = TT_OK;
        known = false;
    }
    for (int k = 0; k < c->n_out && s == TT_OK; k++) {
        int64_t dims[TT_MAX_RANK];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = known ? parts[k] : TT_DIM_UNKNOWN;
        tt_infer_tensor(c, k, x->dtype, x->rank, dims);
    }
    tt_free(parts);
    return s;
}

static tt_status run_split(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    int64_t *parts = tt_malloc(sizeof *parts * (size_t)c->n_out);
    if (!parts)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory running Split");
    bool known;
    tt_status s = split_parts(c->node, c->n_out, tt_kin(c, 1), false, x->dims[axis], parts, &known);
    int64_t xs[TT_MAX_RANK], ys[TT_MAX_RANK], at = 0;
    tt_strides(x->rank, x->dims, xs);
    size_t es = tt_dtype_size(x->dtype);
    for (int k = 0; k < c->n_out && s == TT_OK; k++) {
        tt_tensor *y = tt_kout(c, k);
        if (y) {
            tt_strides(y->rank, y->dims, ys);
            tt_strings_clear(y);
            tt_copy cp;
            tt_copy_init(&cp, es, y->data, (const char *)x->data + at * xs[axis] * (int64_t)es);
            for (int d = 0; d < y->rank; d++)
                tt_copy_dim(&cp, y->dims[d], ys[d], xs[d]);
            tt_copy_run(&cp);
            s = tt_strings_own(y);
        }
        at += parts[k];
    }
    tt_free(parts);
    return s;
}

/* ---- Tile ------------------------------------------------------------------------------------- */

/* Repeats per axis: input 1 (opset 6 on), or opset 1's pair of scalars (tiles, axis). */
static tt_status tile_repeats(const tt_node *n, int rank, const tt_tensor *r, const tt_tensor *axis_t, int64_t *reps)
{
    int64_t k;
    if (n->opset < 6) {
        int64_t tiles, axis;
        if (!axis_t || tt_tensor_numel(r) != 1 || tt_tensor_numel(axis_t) != 1)
            return tt_op_error(n, TETHER_ERR_SHAPE, "needs scalar 'tiles' and 'axis' inputs");
        TT_TRY(tt_tensor_to_ints(n, r, &tiles, 1, &k));
        TT_TRY(tt_tensor_to_ints(n, axis_t, &axis, 1, &k));
        int a;
        TT_TRY(tt_norm_axis(n, axis, rank, false, &a));
        for (int d = 0; d < rank; d++)
            reps[d] = d == a ? tiles : 1;
    } else {
        if (tt_tensor_numel(r) != rank)
            return tt_op_error(n, TETHER_ERR_SHAPE, "'repeats' has %" PRId64 " entries for an input of rank %d",
                               tt_tensor_numel(r), rank);
        TT_TRY(tt_tensor_to_ints(n, r, reps, TT_MAX_RANK, &k));
    }
    for (int d = 0; d < rank; d++)
        if (reps[d] < 0)
            return tt_op_error(n, TETHER_ERR_RUNTIME, "repeats[%d] is %" PRId64 "; repeats must be >= 0", d, reps[d]);
    return TT_OK;
}

static tt_status infer_tile(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (x->rank < 0 || !tt_ival(c, 1) || (c->node->opset < 6 && !tt_ival(c, 2))) {
        tt_infer_tensor(c, 0, x->dtype, x->rank, NULL);
        return TT_OK;
    }
    int64_t reps[TT_MAX_RANK], dims[TT_MAX_RANK];
    TT_TRY(tile_repeats(c->node, x->rank, tt_ival(c, 1), tt_ival(c, 2), reps));
    for (int d = 0; d < x->rank; d++) {
        if (x->dims[d] < 0)
            dims[d] = reps[d] == 1 ? x->dims[d] : reps[d] == 0 ? 0 : TT_DIM_UNKNOWN;
        else if (__builtin_mul_overflow(x->dims[d], reps[d], &dims[d]))
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "repeating axis %d of size %" PRId64 " %" PRId64
                               " times overflows", d, x->dims[d], reps[d]);
    }
    TT_TRY(tt_check_size(c->node, x->dtype, x->rank, dims, "the tiled shape"));
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    return TT_OK;
}

static tt_status run_tile(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t xs[TT_MAX_RANK], ys[TT_MAX_RANK];
    tt_strings_clear(y);
    if (tt_tensor_numel(y) == 0)
        return tt_strings_own(y); /* its other dimensions may be huge: nothing to address */
    tt_strides(x->rank, x->dims, xs);
    tt_strides(y->rank, y->dims, ys);
    /* output axis d is (repeat, position in x): a 2·rank strided copy reading x again per repeat */
    tt_copy cp;
    tt_copy_init(&cp, tt_dtype_size(x->dtype), y->data, x->data);
    for (int d = 0; d < x->rank; d++) {
        tt_copy_dim(&cp, x->dims[d] ? y->dims[d] / x->dims[d] : 0, x->dims[d] * ys[d], 0);
        tt_copy_dim(&cp, x->dims[d], ys[d], xs[d]);
    }
    tt_copy_run(&cp);
    return tt_strings_own(y);
}

/* ---- Expand ----------------------------------------------------------------------------------- */

static tt_status infer_expand(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    const tt_tensor *sv = tt_ival(c, 1);
    if (!sv) {
        int64_t k = input_len(c, 1);
        if (x->rank < 0 || k < 0 || k > TT_MAX_RANK) {
            tt_infer_tensor(c, 0, x->dtype, -1, NULL);
            return TT_OK;
        }
        /* the result's size is x's wherever x's is known and above 1 */
        int r = x->rank > k ? x->rank : (int)k;
        int64_t dims[TT_MAX_RANK];
        for (int d = 0; d < r; d++) {
            int xd = d - (r - x->rank);
            dims[d] = xd >= 0 && x->dims[xd] > 1 ? x->dims[xd] : TT_DIM_UNKNOWN;
        }
        tt_infer_tensor(c, 0, x->dtype, r, dims);
        return TT_OK;
    }
    int64_t shape[TT_MAX_RANK], dims[TT_MAX_RANK];
    int ns, r;
    TT_TRY(shape_arg(c->node, "shape", sv, shape, &ns));
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    TT_TRY(tt_broadcast_shapes(c->node, x->rank, x->dims, ns, shape, &r, dims));
    TT_TRY(tt_check_size(c->node, x->dtype, r, dims, "the expanded shape"));
    tt_infer_tensor(c, 0, x->dtype, r, dims);
    return TT_OK;
}

static tt_status run_expand(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t xs[TT_MAX_RANK], ys[TT_MAX_RANK];
    tt_strings_clear(y);
    if (tt_tensor_numel(y) == 0)
        return tt_strings_own(y); /* its other dimensions may be huge: nothing to address */
    tt_strides(x->rank, x->dims, xs);
    tt_strides(y->rank, y->dims, ys);
    tt_copy cp;
    tt_copy_init(&cp, tt_dtype_size(x->dtype), y->data, x->data);
    for (int d = 0; d < y->rank; d++) {
        int xd = d - (y->rank - x->rank);
        tt_copy_dim(&cp, y->dims[d], ys[d], xd < 0 || x->dims[xd] == 1 ? 0 : xs[xd]);
    }
    tt_copy_run(&cp);
    return tt_strings_own(y);
}

/* ---- Pad ---------------------------------------------------------------------------------------- */

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

static tt_status pad_mode_of(const tt_node *n, pad_mode *m)
{
    static const char *names[] = {"constant", "reflect", "edge", "wrap"};
    const char *s = tt_attr_string(n, "mode", "constant");
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *m = (pad_mode)i;
            return TT_OK;
        }
    return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "unknown mode '%s' (constant, reflect, edge or wrap)", s);
}

/* Pads before (b) and after (e) each axis: attribute 'paddings' (opset 1) or 'pads' (to
 * opset 10), else input 1, limited to the axes of input 3 from opset 18. Negative pads crop. */
static tt_status pad_amounts(const tt_node *n, int rank, const tt_tensor *pads_in, const tt_tensor *axes_in, int64_t *b,
                             int64_t *e)
{
    int64_t p[2 * TT_MAX_RANK], np, axes[TT_MAX_RANK], na = rank;
    bool present;
    int ax[TT_MAX_RANK];
    TT_TRY(int_list(n, n->opset < 11, n->opset < 2 ? "paddings" : "pads", pads_in, p, 2 * TT_MAX_RANK, &np, &present));
    if (!present)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "needs pads");
    if (axes_in && n->opset >= 18) {
        TT_TRY(int_list(n, false, "axes", axes_in, axes, TT_MAX_RANK, &na, &present));
        TT_TRY(tt_norm_axes(n, axes, na, rank, ax));
    } else {
        for (int d = 0; d < rank; d++)
            ax[d] = d;
    }
    if (np != 2 * na)
        return tt_op_error(n, TETHER_ERR_SHAPE, "pads has %" PRId64 " entries; %" PRId64 " axes need %" PRId64, np, na,
                           2 * na);
    for (int d = 0; d < rank; d++)
        b[d] = e[d] = 0;
    for (int64_t i = 0; i < na; i++) {
        b[ax[i]] = p[i];
        e[ax[i]] = p[na + i];
    }
    return TT_OK;
}

/* The padded size of an axis of size d, or an error naming the pads. */
static tt_status pad_dim(const tt_node *n, int axis, int64_t d, int64_t b, int64_t e, pad_mode m, int64_t *out)
{
    int64_t s;
    /* pads near INT64_MIN are refused too: an output position minus b would overflow */
    if (b < INT64_MIN / 2 || e < INT64_MIN / 2 || __builtin_add_overflow(d, b, &s) || __builtin_add_overflow(s, e, &s) ||
        s < 0)
        return tt_op_error(n, TETHER_ERR_RUNTIME,
                           "pads %" PRId64 " and %" PRId64 " cannot apply to axis %d of size %" PRId64, b, e, axis, d);
    if (d == 0 && s > 0 && m != PAD_CONSTANT)
        return tt_op_error(n, TETHER_ERR_RUNTIME, "axis %d is empty: there is nothing to pad it with", axis);
    *out = s;
    return TT_OK;
}

static tt_status infer_pad(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    pad_mode m;
    TT_TRY(pad_mode_of(c->node, &m));
    if (c->node->opset >= 11)
        TT_TRY(tt_infer_same_dtype(c, 0, 2));
    if (c->node->opset >= 11 && (value_pending(c, 1) || value_pending(c, 3) || x->rank < 0)) {
        tt_infer_tensor(c, 0, x->dtype, x->rank, NULL);
        return TT_OK;
    }
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    int64_t b[TT_MAX_RANK], e[TT_MAX_RANK], dims[TT_MAX_RANK];
    TT_TRY(pad_amounts(c->node, x->rank, tt_ival(c, 1), tt_ival(c, 3), b, e));
    for (int d = 0; d < x->rank; d++) {
        if (x->dims[d] < 0)
            dims[d] = b[d] == 0 && e[d] == 0 ? x->dims[d] : TT_DIM_UNKNOWN;
        else
            TT_TRY(pad_dim(c->node, d, x->dims[d], b[d], e[d], m, &dims[d]));
    }
    TT_TRY(tt_check_size(c->node, x->dtype, x->rank, dims, "the padded shape"));
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    return TT_OK;
}

typedef struct pad_job {
    int rank;
    size_t es;
    int64_t xs[TT_MAX_RANK];            /* x's strides in bytes */
    int64_t ydims[TT_MAX_RANK];
    const int64_t *map[TT_MAX_RANK];    /* per axis: output position → x position, -1 for the constant */
    int64_t mid0, mid1;                 /* output positions of the last axis copied as one run */
    const char *x;
    char *y;
    const void *value;
} pad_job;

static void pad_rows(void *arg, int64_t begin, int64_t end)
{
    const pad_job *j = arg;
    int last = j->rank - 1;
    int64_t inner = j->ydims[last], idx[TT_MAX_RANK];
    size_t es = j->es;
    int64_t r = begin;
    for (int d = last - 1; d >= 0; d--) {
        idx[d] = r % j->ydims[d];
        r /= j->ydims[d];
    }
    const int64_t *m = j->map[last];
    for (int64_t row = begin; row < end; row++) {
        char *dst = j->y + row * inner * (int64_t)es;
        int64_t off = 0;
        bool constant = false;
        for (int d = 0; d < last; d++) {
            int64_t i = j->map[d][idx[d]];
            constant |= i < 0;
            off += i * j->xs[d];
        }
        if (constant) {
            for (int64_t o = 0; o < inner; o++)
                tt_copy_elem(dst + o * (int64_t)es, j->value, es);
        } else {
            const char *src = j->x + off;
            for (int64_t o = 0; o < inner; o++) {
                if (o == j->mid0 && j->mid1 > j->mid0) {
                    memcpy(dst + o * (int64_t)es, src + m[o] * (int64_t)es, (size_t)(j->mid1 - j->mid0) * es);
                    o = j->mid1 - 1;
                    continue;
                }
                tt_copy_elem(dst + o * (int64_t)es, m[o] < 0 ? j->value : src + m[o] * (int64_t)es, es);
            }
        }
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < j->ydims[d])
                break;
            idx[d] = 0;
        }
    }
}

/* Where output position o of an axis of size d padded by b before reads from. */
static int64_t pad_source(int64_t o, int64_t d, int64_t b, pad_mode m)
{
    int64_t i = o - b;
    if (i >= 0 && i < d)
        return i;
    switch (m) {
    case PAD_EDGE: return i < 0 ? 0 : d - 1;
    case PAD_WRAP: return (i % d + d) % d;
    case PAD_REFLECT: {
        if (d == 1)
            return 0;
        int64_t period = 2 * (d - 1), t = (i % period + period) % period;
        return t < d ? t : period - t;
    }
    default: return -1;
    }
}

static tt_status run_pad(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    pad_mode m;
    TT_TRY(pad_mode_of(c->node, &m));
    int64_t b[TT_MAX_RANK], e[TT_MAX_RANK];
    TT_TRY(pad_amounts(c->node, x->rank, tt_kin(c, 1), tt_kin(c, 3), b, e));
    size_t es = tt_dtype_size(x->dtype);
    /* the constant, in x's dtype */
    union { double d; uint64_t u[2]; char *s; } value = {0};
    static char empty[] = "";
    if (x->dtype == TETHER_DTYPE_STRING)
        value.s = empty;
    if (c->node->opset < 11) {
        tt_store_f64(&value, x->dtype, 0, tt_attr_float(c->node, "value", 0.0f));
    } else if (tt_kin(c, 2) && tt_tensor_numel(tt_kin(c, 2)) > 0) {
        const tt_tensor *v = tt_kin(c, 2);
        if (v->dtype != x->dtype)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "constant_value is %s; it must be %s like the data",
                               tt_dtype_name(v->dtype), tt_dtype_name(x->dtype));
        memcpy(&value, v->data, es);
    }
    tt_strings_clear(y);
    int64_t total = tt_tensor_numel(y);
    if (x->rank == 0 || total == 0) {
        if (total)
            memcpy(y->data, x->data, es);
        return tt_strings_own(y);
    }
    /* every y dim is at most y's element count, so the maps are bounded by rank · total */
    int64_t mapn = 0;
    for (int d = 0; d < y->rank; d++)
        mapn += y->dims[d];
    int64_t *maps = tt_malloc(sizeof *maps * (size_t)mapn);
    if (!maps)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory running Pad");
    pad_job j = {.rank = x->rank, .es = es, .x = x->data, .y = y->data, .value = &value};
    int64_t xs[TT_MAX_RANK];
    tt_strides(x->rank, x->dims, xs);
    int64_t *p = maps;
    for (int d = 0; d < x->rank; d++) {
        j.xs[d] = xs[d] * (int64_t)es;
        j.ydims[d] = y->dims[d];
        j.map[d] = p;
        for (int64_t o = 0; o < y->dims[d]; o++)
            p[o] = pad_source(o, x->dims[d], b[d], m);
        p += y->dims[d];
    }
    int last = x->rank - 1;
    j.mid0 = b[last] > 0 ? b[last] : 0;
    j.mid1 = b[last] + x->dims[last] < y->dims[last] ? b[last] + x->dims[last] : y->dims[last];
    int64_t inner = y->dims[last], rows = total / inner;
    int64_t grain = (16384 + inner - 1) / inner;
    tt_parallel_for(rows, grain, pad_rows, &j);
    tt_free(maps);
    return tt_strings_own(y);
}

/* ---- ConstantOfShape ---------------------------------------------------------------------------------- */

static tt_status fill_value(const tt_node *n, tt_dtype *dtype, const void **value)
{
    static const float zero = 0.0f;
    const tt_attr *a = tt_node_attr(n, "value");
    if (!a) {
        *dtype = TETHER_DTYPE_FLOAT;
        *value = &zero;
        return TT_OK;
    }
    if (a->type != TT_ATTR_TENSOR || !a->t || tt_tensor_numel(a->t) != 1)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "'value' must be a tensor of one element");
    if (a->t->dtype == TETHER_DTYPE_STRING)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "'value' cannot be a string");
    *dtype = a->t->dtype;
    *value = a->t->data;
    return TT_OK;
}

static tt_status infer_constant_of_shape(tt_ictx *c)
{
    const tt_type *s;
    TT_TRY(tt_infer_input(c, 0, &s));
    tt_dtype dt;
    const void *value;
    TT_TRY(fill_value(c->node, &dt, &value));
    const tt_tensor *sv = tt_ival(c, 0);
    if (!sv) {
        int64_t k = input_len(c, 0);
        tt_infer_tensor(c, 0, dt, k >= 0 && k <= TT_MAX_RANK ? (int)k : -1, NULL);
        return TT_OK;
    }
    int64_t dims[TT_MAX_RANK];
    int r;
    TT_TRY(shape_arg(c->node, "shape", sv, dims, &r));
    TT_TRY(tt_check_size(c->node, dt, r, dims, "shape"));
    tt_infer_tensor(c, 0, dt, r, dims);
    return TT_OK;
}

static tt_status run_constant_of_shape(tt_kctx *c)
{
    tt_tensor *y = tt_kout(c, 0);
    tt_dtype dt;
    const void *value;
    TT_TRY(fill_value(c->node, &dt, &value));
    tt_copy_fill(y->data, value, tt_tensor_numel(y), tt_dtype_size(dt));
    return TT_OK;
}

/* ---- EyeLike --------------------------------------------------------------------------------------------- */

#define EYE_TYPES (TT_DTS_NUMERIC | TT_DT(TETHER_DTYPE_BOOL))

static tt_status infer_eye_like(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (x->rank >= 0 && x->rank != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the input must be 2-D, got rank %d", x->rank);
    int64_t dt = tt_attr_int(c->node, "dtype", x->dtype);
    if (!tt_dtype_valid((int)dt) || !((EYE_TYPES >> dt) & 1))
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "dtype %" PRId64 " is not a numeric or bool type", dt);
    tt_infer_tensor(c, 0, (tt_dtype)dt, 2, x->rank == 2 ? x->dims : NULL);
    return TT_OK;
}

static tt_status run_eye_like(tt_kctx *c)
{
    tt_tensor *y = tt_kout(c, 0);
    int64_t rows = y->dims[0], cols = y->dims[1], k = tt_attr_int(c->node, "k", 0);
    memset(y->data, 0, tt_tensor_nbytes(y)); /* zero bits are 0 in every numeric type */
    if (k >= cols || k <= -rows)
        return TT_OK;
    for (int64_t i = k < 0 ? -k : 0; i < rows && i + k < cols; i++)
        tt_store_f64(y->data, y->dtype, (size_t)(i * cols + i + k), 1.0);
    return TT_OK;
}

/* ---- Range ------------------------------------------------------------------------------------------------- */

static tt_status range_scalar(const tt_node *n, const tt_tensor *t, const char *what)
{
    if (tt_tensor_numel(t) != 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "%s must be a scalar, got %" PRId64 " elements", what,
                           tt_tensor_numel(t));
    return TT_OK;
}

/* The number of elements of Range(start, limit, delta): max(ceil((limit - start) / delta), 0). */
static tt_status range_count(const tt_node *n, const tt_tensor *s, const tt_tensor *l, const tt_tensor *d,
                             int64_t *count)
{
    TT_TRY(range_scalar(n, s, "start"));
    TT_TRY(range_scalar(n, l, "limit"));
    TT_TRY(range_scalar(n, d, "delta"));
    if (tt_dtype_is_float(s->dtype)) {
        double a = tt_load_f64(s->data, s->dtype, 0), b = tt_load_f64(l->data, l->dtype, 0);
        double dd = tt_load_f64(d->data, d->dtype, 0), q = ceil((b - a) / dd);
        if (dd == 0 || isnan(q))
            return tt_op_error(n, TETHER_ERR_RUNTIME, "cannot count from %g to %g by %g", a, b, dd);
        if (!(q < 9.0e18))
            return tt_op_error(n, TETHER_ERR_RUNTIME, "a range from %g to %g by %g has too many elements", a, b, dd);
        *count = q > 0 ? (int64_t)q : 0;
    } else {
        int64_t a = tt_load_i64(s->data, s->dtype, 0), b = tt_load_i64(l->data, l->dtype, 0);
        int64_t dd = tt_load_i64(d->data, d->dtype, 0);
        if (dd == 0)
            return tt_op_error(n, TETHER_ERR_RUNTIME, "delta is 0");
        /* in unsigned arithmetic: the distance may not fit int64 */
        uint64_t dist, step = dd > 0 ? (uint64_t)dd : 0 - (uint64_t)dd;
        if (dd > 0 ? b <= a : b >= a) {
            *count = 0;
            return TT_OK;
        }
        dist = dd > 0 ? (uint64_t)b - (uint64_t)a : (uint64_t)a - (uint64_t)b;
        uint64_t q = (dist - 1) / step + 1;
        if (q > (uint64_t)INT64_MAX)
            return tt_op_error(n, TETHER_ERR_RUNTIME, "a range from %" PRId64 " to %" PRId64 " by %" PRId64
                               " has too many elements", a, b, dd);
        *count = (int64_t)q;
    }
    return TT_OK;
}

#define RANGE_TYPES                                                                                \
    (TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_INT16) | TT_DT(TETHER_DTYPE_INT32) | \
     TT_DT(TETHER_DTYPE_INT64))
/* opset 27 adds float16 and bfloat16, computed in float (stash_type 1) */
#define RANGE_TYPES_27 (RANGE_TYPES | TT_DT(TETHER_DTYPE_FLOAT16) | TT_DT(TETHER_DTYPE_BFLOAT16))

static tt_status infer_range(tt_ictx *c)
{
    const tt_type *s, *l, *d;
    TT_TRY(tt_infer_input(c, 0, &s));
    TT_TRY(tt_infer_input(c, 1, &l));
    TT_TRY(tt_infer_input(c, 2, &d));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    int64_t n = TT_DIM_UNKNOWN;
    if (tt_ival(c, 0) && tt_ival(c, 1) && tt_ival(c, 2)) {
        TT_TRY(range_count(c->node, tt_ival(c, 0), tt_ival(c, 1), tt_ival(c, 2), &n));
        TT_TRY(tt_check_size(c->node, s->dtype, 1, &n, "the range's shape"));
    }
    tt_infer_tensor(c, 0, s->dtype, 1, &n);
    return TT_OK;
}

#define RANGE_INT(E, T)                                                                     \
    case E: {                                                                               \
        T *o = y->data;                                                                     \
        uint64_t a = (uint64_t)tt_load_i64(s->data, E, 0), dd = (uint64_t)tt_load_i64(d->data, E, 0); \
        for (int64_t i = 0; i < n; i++)                                                     \
            o[i] = (T)(int64_t)(a + (uint64_t)i * dd); /* exact: every value is in range */ \
        return TT_OK;                                                                       \
    }

static tt_status run_range(tt_kctx *c)
{
    const tt_tensor *s = tt_kin(c, 0), *d = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    int64_t n = y->dims[0];
    switch (y->dtype) {
        TT_FOR_SINT(RANGE_INT)
    case TETHER_DTYPE_FLOAT: {
        float *o = y->data, a = *(const float *)s->data, dd = *(const float *)d->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = a + (float)i * dd;
        return TT_OK;
    }
    default: {
        double a = tt_load_f64(s->data, s->dtype, 0), dd = tt_load_f64(d->data, d->dtype, 0);
        for (int64_t i = 0; i < n; i++)
            tt_store_f64(y->data, y->dtype, (size_t)i, a + (double)i * dd);
        return TT_OK;
    }
    }
}

/* ---- Trilu ---------------------------------------------------------------------------------------------------- */

static tt_status infer_trilu(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (x->rank >= 0 && x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the input must have rank >= 2, got %d", x->rank);
    if (tt_ival(c, 1))
        TT_TRY(range_scalar(c->node, tt_ival(c, 1), "k"));
    return tt_infer_same(c, 0, 0);
}

static tt_status run_trilu(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    bool upper = tt_attr_int(c->node, "upper", 1) != 0;
    int64_t k = 0, one;
    if (tt_kin(c, 1))
        TT_TRY(tt_tensor_to_ints(c->node, tt_kin(c, 1), &k, 1, &one));
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    /* beyond ±(rows + cols) every k gives the same result: clamping keeps i + k in range */
    int64_t lim = rows + cols;
    k = k > lim ? lim : k < -lim ? -lim : k;
    size_t es = tt_dtype_size(x->dtype);
    static char empty[] = "";
    union { uint64_t u[2]; char *s; } zero = {{0, 0}};
    if (x->dtype == TETHER_DTYPE_STRING)
        zero.s = empty;
    tt_strings_clear(y);
    int64_t mats = rows > 0 && cols > 0 ? tt_tensor_numel(x) / (rows * cols) : 0;
    for (int64_t mi = 0; mi < mats; mi++) {
        for (int64_t i = 0; i < rows; i++) {
            int64_t off = (mi * rows + i) * cols;
            char *dst = (char *)y->data + off * (int64_t)es;
            const char *src = (const char *)x->data + off * (int64_t)es;
            /* kept columns: j - i >= k (upper) or j - i <= k (lower) */
            int64_t lo = upper ? i + k : 0, hi = upper ? cols : i + k + 1;
            lo = lo < 0 ? 0 : lo > cols ? cols : lo;
            hi = hi < lo ? lo : hi > cols ? cols : hi;
            tt_copy_fill(dst, &zero, lo, es);
            memcpy(dst + lo * (int64_t)es, src + lo * (int64_t)es, (size_t)(hi - lo) * es);
            tt_copy_fill(dst + hi * (int64_t)es, &zero, cols - hi, es);
        }
    }
    return tt_strings_own(y);
}

/* ---- DepthToSpace, SpaceToDepth -------------------------------------------------------------------------------- */

/* Both are a reshape to rank 6, a transpose and a reshape back. */
static tt_status block_size(const tt_ictx *c, const tt_type *x, int64_t *b)
{
    *b = tt_attr_int(c->node, "blocksize", 0);
    if (*b <= 0 || *b > (int64_t)1 << 16)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "'blocksize' %" PRId64 " is out of range 1..65536", *b);
    if (x->rank >= 0 && x->rank != 4)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the input must be 4-D, got rank %d", x->rank);
    return TT_OK;
}

static bool depth_crd(const tt_node *n)
{
    return n->opset >= 11 && strcmp(tt_attr_string(n, "mode", "DCR"), "CRD") == 0;
}

static tt_status infer_depth_to_space(tt_ictx *c)
{
    const tt_type *x;
    int64_t b;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(block_size(c, x, &b));
    const char *mode = tt_attr_string(c->node, "mode", "DCR");
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "unknown mode '%s' (DCR or CRD)", mode);
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, 4, NULL);
        return TT_OK;
    }
    const int64_t *d = x->dims;
    if (d[1] >= 0 && d[1] % (b * b))
        return tt_op_error(c->node, TETHER_ERR_SHAPE,
                           "%" PRId64 " channels do not divide into blocks of %" PRId64 "x%" PRId64, d[1], b, b);
    int64_t y[4] = {d[0], d[1] >= 0 ? d[1] / (b * b) : TT_DIM_UNKNOWN, TT_DIM_UNKNOWN, TT_DIM_UNKNOWN};
    for (int i = 2; i < 4; i++)
        if (d[i] >= 0 && __builtin_mul_overflow(d[i], b, &y[i]))
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "axis %d of size %" PRId64 " overflows", i, d[i]);
    tt_infer_tensor(c, 0, x->dtype, 4, y);
    return TT_OK;
}

static tt_status run_depth_to_space(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int64_t b = tt_attr_int(c->node, "blocksize", 1), n = x->dims[0], ch = x->dims[1] / (b * b), h = x->dims[2],
            w = x->dims[3];
    if (depth_crd(c->node)) {
        const int64_t v[6] = {n, ch, b, b, h, w};
        static const int perm[6] = {0, 1, 4, 2, 5, 3};
        return copy_permuted(x, tt_kout(c, 0), 6, v, perm);
    }
    const int64_t v[6] = {n, b, b, ch, h, w};
    static const int perm[6] = {0, 3, 4, 1, 5, 2};
    return copy_permuted(x, tt_kout(c, 0), 6, v, perm);
}

static tt_status infer_space_to_depth(tt_ictx *c)
{
    const tt_type *x;
    int64_t b;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(block_size(c, x, &b));
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, 4, NULL);
        return TT_OK;
    }
    const int64_t *d = x->dims;
    for (int i = 2; i < 4; i++)
        if (d[i] >= 0 && d[i] % b)
            return tt_op_error(c->node, TETHER_ERR_SHAPE,
                               "axis %d of size %" PRId64 " does not divide into blocks of %" PRId64, i, d[i], b);
    int64_t y[4] = {d[0], TT_DIM_UNKNOWN, d[2] >= 0 ? d[2] / b : TT_DIM_UNKNOWN, d[3] >= 0 ? d[3] / b : TT_DIM_UNKNOWN};
    if (d[1] >= 0 && __builtin_mul_overflow(d[1], b * b, &y[1]))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the channel count overflows");
    tt_infer_tensor(c, 0, x->dtype, 4, y);
    return TT_OK;
}

static tt_status run_space_to_depth(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int64_t b = tt_attr_int(c->node, "blocksize", 1);
    const int64_t v[6] = {x->dims[0], x->dims[1], x->dims[2] / b, b, x->dims[3] / b, b};
    static const int perm[6] = {0, 3, 5, 1, 2, 4}, perm_crd[6] = {0, 1, 3, 5, 2, 4};
    /* opset 28's CRD mode: channel outermost, then the block row and column */
    bool crd = c->node->opset >= 28 && strcmp(tt_attr_string(c->node, "mode", "DCR"), "CRD") == 0;
    return copy_permuted(x, tt_kout(c, 0), 6, v, crd ? perm_crd : perm);
}

static uint64_t flops_zero(const tt_ictx *c)
{
    (void)c;
    return 0;
}

const tt_op_schema tt_schemas_shape[] = {
    TT_SCHEMA("Identity", 1, 0, infer_identity, .flops = flops_zero),
    TT_SCHEMA("Reshape", 1, 0, infer_reshape, .flops = flops_zero),
    TT_SCHEMA("Flatten", 1, 0, infer_flatten, .flops = flops_zero),
    TT_SCHEMA("Shape", 1, 0, infer_shape, .flops = flops_zero),
    TT_SCHEMA("Size", 1, 0, infer_size, .flops = flops_zero),
    TT_SCHEMA("Constant", 1, 0, infer_constant, .flops = flops_zero),
    TT_SCHEMA("Squeeze", 1, 0, infer_squeeze, .flops = flops_zero),
    TT_SCHEMA("Unsqueeze", 1, 0, infer_unsqueeze, .flops = flops_zero),
    TT_SCHEMA("Transpose", 1, 0, infer_transpose),
    TT_SCHEMA("Concat", 1, 0, infer_concat),
    TT_SCHEMA("Split", 1, 0, infer_split),
    TT_SCHEMA("Tile", 1, 0, infer_tile),
    TT_SCHEMA("Expand", 8, 0, infer_expand),
    TT_SCHEMA("Pad", 1, 10, infer_pad),
    TT_SCHEMA("Pad", 11, 0, infer_pad),
    TT_SCHEMA("ConstantOfShape", 9, 0, infer_constant_of_shape),
    TT_SCHEMA("EyeLike", 9, 0, infer_eye_like),
    TT_SCHEMA("Range", 11, 0, infer_range),
    TT_SCHEMA("Trilu", 14, 0, infer_trilu),
    TT_SCHEMA("DepthToSpace", 1, 0, infer_depth_to_space),
    TT_SCHEMA("SpaceToDepth", 1, 0, infer_space_to_depth),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_shape[] = {
    TT_KERNEL("Identity", 1, 0, 0, run_identity, .flags = TT_KERNEL_VIEW),
    TT_KERNEL("Reshape", 1, 0, 0, NULL, .flags = TT_KERNEL_VIEW),
    TT_KERNEL("Flatten", 1, 0, 0, NULL, .flags = TT_KERNEL_VIEW),
    TT_KERNEL("Shape", 1, 0, 0, run_shape),
    TT_KERNEL("Size", 1, 0, 0, run_size),
    TT_KERNEL("Constant", 1, 0, 0, run_constant),
    TT_KERNEL("Squeeze", 1, 0, TT_DTS_ANY, NULL, .flags = TT_KERNEL_VIEW),
    TT_KERNEL("Unsqueeze", 1, 0, TT_DTS_ANY, NULL, .flags = TT_KERNEL_VIEW),
    TT_KERNEL("Transpose", 1, 0, TT_DTS_ANY, run_transpose),
    TT_KERNEL("Concat", 1, 0, TT_DTS_ALL, run_concat),
    TT_KERNEL("Split", 1, 0, TT_DTS_ALL, run_split),
    TT_KERNEL("Tile", 1, 0, TT_DTS_ALL, run_tile),
    TT_KERNEL("Expand", 8, 0, TT_DTS_ALL, run_expand),
    TT_KERNEL("Pad", 1, 10, TT_DTS_FLOAT, run_pad),
    TT_KERNEL("Pad", 11, 0, TT_DTS_ANY, run_pad),
    TT_KERNEL("ConstantOfShape", 9, 0, TT_DT(TETHER_DTYPE_INT64), run_constant_of_shape),
    TT_KERNEL("EyeLike", 9, 0, EYE_TYPES, run_eye_like),
    TT_KERNEL("Range", 11, 26, RANGE_TYPES, run_range),
    TT_KERNEL("Range", 27, 0, RANGE_TYPES_27, run_range),
    TT_KERNEL("Trilu", 14, 0, TT_DTS_ALL, run_trilu),
    TT_KERNEL("DepthToSpace", 1, 0, TT_DTS_ALL, run_depth_to_space),
    TT_KERNEL("SpaceToDepth", 1, 0, TT_DTS_ALL, run_space_to_depth),
    TT_KERNEL_END,
};
