/* Shape ops that move no data or only copy it: Reshape, Flatten, Squeeze, Unsqueeze,
 * Identity (views of their input), Shape, Size, Constant. */
#include "ops/util.h"

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
        if (d >= 0)
            known *= d;
        else
            all_known = false;
    }
    if (neg >= 0) {
        int64_t total = 1;
        bool xk = true;
        for (int i = 0; i < rx; i++) {
            if (x[i] < 0)
                xk = false;
            else
                total *= x[i];
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
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 1), x->rank, true, &axis));
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

static uint64_t flops_zero(const tt_ictx *c)
{
    (void)c;
    return 0;
}

const tt_op_def tt_ops_shape[] = {
    TT_OP("Identity", 1, 0, 0, infer_identity, run_identity, .flags = TT_OP_VIEW, .flops = flops_zero),
    TT_OP("Reshape", 1, 0, 0, infer_reshape, NULL, .flags = TT_OP_VIEW, .flops = flops_zero),
    TT_OP("Flatten", 1, 0, 0, infer_flatten, NULL, .flags = TT_OP_VIEW, .flops = flops_zero),
    TT_OP("Shape", 1, 0, 0, infer_shape, run_shape, .flops = flops_zero),
    TT_OP("Size", 1, 0, 0, infer_size, run_size, .flops = flops_zero),
    TT_OP("Constant", 1, 0, 0, infer_constant, run_constant, .flops = flops_zero),
    TT_OP_END,
};
