/* Sequence and optional operators: building, indexing, splitting and concatenating
 * sequences of tensors, and wrapping or unwrapping optional values.
 * Invariant: a sequence's tensors own heap storage (shared by reference count), never an
 * arena slot or borrowed memory, so sequences can be passed on without copying data. */
#include "ops/copy.h"

#include <inttypes.h>

/* ---- helpers ------------------------------------------------------------------------ */

static void type_seq(tt_type *t, tt_dtype dtype, int rank, const int64_t *dims)
{
    memset(t, 0, sizeof *t);
    t->kind = TT_KIND_SEQUENCE;
    t->dtype = dtype;
    t->rank = rank;
    if (rank > 0)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
}

/* Narrows an element shape to what it has in common with another: differing dims become
 * unknown, differing ranks an unknown rank. */
static void shape_join(int *rank, int64_t *dims, int r2, const int64_t *d2)
{
    if (*rank < 0)
        return;
    if (r2 != *rank) {
        *rank = -1;
        return;
    }
    for (int i = 0; i < r2; i++)
        if (dims[i] != d2[i])
            dims[i] = TT_DIM_UNKNOWN;
}

static tt_status infer_need_seq(const tt_ictx *c, int i)
{
    const tt_type *t = tt_iin(c, i);
    if (!t)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input %d is required", i);
    if (t->kind == TT_KIND_TENSOR)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input %d must be a sequence, got a tensor", i);
    return TT_OK;
}

static tt_status infer_need_tensor(const tt_ictx *c, int i)
{
    const tt_type *t = tt_iin(c, i);
    if (!t)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input %d is required", i);
    if (t->kind == TT_KIND_SEQUENCE)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input %d must be a tensor, got a sequence", i);
    return TT_OK;
}

static tt_status kin_seq(const tt_kctx *c, int i, const tt_seq **s)
{
    if (i >= c->n_in || !c->in[i] || c->in[i]->kind != TT_KIND_SEQUENCE)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "input %d is not a sequence", i);
    *s = c->in[i]->seq;
    return TT_OK;
}

/* A reference to t that a sequence may keep: shared when t owns heap storage, else copied
 * (see the invariant above). */
static tt_status seq_hold(const tt_tensor *t, tt_tensor *out)
{
    if (t->buf && t->buf->heap && !t->buf->pooled) {
        *out = tt_tensor_share(t);
        return TT_OK;
    }
    return tt_tensor_clone(t, out);
}

static void set_seq_out(tt_kctx *c, int k, tt_seq *s)
{
    if (!tt_kout_wanted(c, k)) {
        tt_seq_free(s);
        return;
    }
    tt_value_release(c->out[k]);
    c->out[k]->kind = TT_KIND_SEQUENCE;
    c->out[k]->seq = s;
}

/* Reads position input i (one integer; absent: def) and checks it indexes a sequence of
 * length n, or may point one past its end when inserting. */
static tt_status read_position(const tt_kctx *c, int i, int n, bool allow_end, int64_t def, int *pos)
{
    const tt_tensor *p = tt_kin(c, i);
    int64_t v = def;
    if (p) {
        char d[200];
        if (!tt_dtype_is_int(p->dtype) || tt_tensor_numel(p) != 1)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "position must be one integer, got %s",
                               tt_tensor_desc(p, d, sizeof d));
        v = tt_load_i64(p->data, p->dtype, 0);
    }
    int64_t hi = allow_end ? n : n - 1;
    if (v < -(int64_t)n || v > hi)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                           "position %" PRId64 " is out of range for a sequence of length %d (valid: %d to %" PRId64
                           ")",
                           v, n, -n, hi);
    *pos = (int)(v < 0 ? v + n : v);
    return TT_OK;
}

/* ---- SequenceEmpty, SequenceConstruct, SequenceLength ---------------------------------- */

static tt_status infer_seq_empty(tt_ictx *c)
{
    int64_t dt = tt_attr_int(c->node, "dtype", TETHER_DTYPE_FLOAT);
    if (!tt_dtype_valid((int)dt) || dt == TETHER_DTYPE_UNDEFINED)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "dtype %" PRId64 " is not a tensor element type", dt);
    type_seq(&c->out[0], (tt_dtype)dt, -1, NULL);
    return TT_OK;
}

static tt_status run_seq_empty(tt_kctx *c)
{
    tt_seq *s = NULL;
    TT_TRY(tt_seq_new((tt_dtype)tt_attr_int(c->node, "dtype", TETHER_DTYPE_FLOAT), 0, &s));
    set_seq_out(c, 0, s);
    return TT_OK;
}

static tt_status infer_seq_construct(tt_ictx *c)
{
    if (c->n_in < 1)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs at least one input");
    int rank = 0;
    int64_t dims[TT_MAX_RANK];
    for (int i = 0; i < c->n_in; i++) {
        TT_TRY(infer_need_tensor(c, i));
        TT_TRY(tt_infer_same_dtype(c, 0, i));
        const tt_type *t = tt_iin(c, i);
        if (i == 0) {
            rank = t->rank;
            if (rank > 0)
                memcpy(dims, t->dims, sizeof(int64_t) * (size_t)rank);
        } else {
            shape_join(&rank, dims, t->rank, t->dims);
        }
    }
    type_seq(&c->out[0], c->in[0]->dtype, rank, dims);
    return TT_OK;
}

static tt_status run_seq_construct(tt_kctx *c)
{
    const tt_tensor *first = tt_kin(c, 0);
    if (!first)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "input 0 is not a tensor");
    tt_seq *s = NULL;
    TT_TRY(tt_seq_new(first->dtype, c->n_in, &s));
    for (int i = 0; i < c->n_in; i++) {
        const tt_tensor *t = tt_kin(c, i);
        tt_status st = !t || t->dtype != first->dtype
                           ? tt_op_error(c->node, TETHER_ERR_RUNTIME, "input %d is not a %s tensor", i,
                                         tt_dtype_name(first->dtype))
                           : seq_hold(t, &s->items[i]);
        if (st != TT_OK) {
            tt_seq_free(s);
            return st;
        }
        s->n = i + 1;
    }
    set_seq_out(c, 0, s);
    return TT_OK;
}

static tt_status infer_seq_length(tt_ictx *c)
{
    TT_TRY(infer_need_seq(c, 0));
    tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, 0, NULL);
    return TT_OK;
}

static tt_status run_seq_length(tt_kctx *c)
{
    const tt_seq *s = NULL;
    TT_TRY(kin_seq(c, 0, &s));
    tt_tensor *y = tt_kout(c, 0);
    if (y)
        *(int64_t *)y->data = s->n;
    return TT_OK;
}

/* ---- SequenceAt, SequenceInsert, SequenceErase ------------------------------------------ */

static tt_status infer_seq_at(tt_ictx *c)
{
    TT_TRY(infer_need_seq(c, 0));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64)));
    const tt_type *s = tt_iin(c, 0);
    tt_infer_tensor(c, 0, s->dtype, s->rank, s->dims);
    return TT_OK;
}

static tt_status run_seq_at(tt_kctx *c)
{
    const tt_seq *s = NULL;
    int pos;
    TT_TRY(kin_seq(c, 0, &s));
    TT_TRY(read_position(c, 1, s->n, false, 0, &pos));
    if (tt_kout_wanted(c, 0)) {
        tt_value_release(c->out[0]); /* in case infer fixed the shape and it was allocated */
        c->out[0]->kind = TT_KIND_TENSOR;
        c->out[0]->t = tt_tensor_share(&s->items[pos]);
    }
    return TT_OK;
}

static tt_status infer_seq_insert(tt_ictx *c)
{
    TT_TRY(infer_need_seq(c, 0));
    TT_TRY(infer_need_tensor(c, 1));
    TT_TRY(tt_infer_check_dtype(c, 2, TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64)));
    const tt_type *s = tt_iin(c, 0), *t = tt_iin(c, 1);
    if (s->kind == TT_KIND_SEQUENCE && s->dtype != t->dtype)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "cannot insert a %s tensor into a sequence of %s",
                           tt_dtype_name(t->dtype), tt_dtype_name(s->dtype));
    int rank = s->rank;
    int64_t dims[TT_MAX_RANK];
    if (rank > 0)
        memcpy(dims, s->dims, sizeof(int64_t) * (size_t)rank);
    shape_join(&rank, dims, t->rank, t->dims);
    type_seq(&c->out[0], t->dtype, rank, dims);
    return TT_OK;
}

static tt_status run_seq_insert(tt_kctx *c)
{
    const tt_seq *in = NULL;
    int pos;
    TT_TRY(kin_seq(c, 0, &in));
    const tt_tensor *t = tt_kin(c, 1);
    if (!t || t->dtype != in->dtype)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "input 1 must be a %s tensor", tt_dtype_name(in->dtype));
    TT_TRY(read_position(c, 2, in->n, true, in->n, &pos));
    tt_value copy;
    TT_TRY(tt_value_share(c->in[0], &copy));
    tt_tensor held;
    tt_status st = seq_hold(t, &held);
    if (st == TT_OK && (st = tt_seq_insert(copy.seq, pos, &held)) != TT_OK)
        tt_tensor_release(&held);
    if (st != TT_OK) {
        tt_value_release(&copy);
        return st;
    }
    set_seq_out(c, 0, copy.seq);
    return TT_OK;
}

static tt_status infer_seq_erase(tt_ictx *c)
{
    TT_TRY(infer_need_seq(c, 0));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64)));
    return tt_infer_same(c, 0, 0);
}

static tt_status run_seq_erase(tt_kctx *c)
{
    const tt_seq *in = NULL;
    int pos;
    TT_TRY(kin_seq(c, 0, &in));
    TT_TRY(read_position(c, 1, in->n, false, -1, &pos));
    tt_value copy;
    TT_TRY(tt_value_share(c->in[0], &copy));
    tt_seq *s = copy.seq;
    tt_tensor_release(&s->items[pos]);
    memmove(s->items + pos, s->items + pos + 1, (size_t)(s->n - pos - 1) * sizeof *s->items);
    s->n--;
    set_seq_out(c, 0, s);
    return TT_OK;
}

/* ---- SplitToSequence ------------------------------------------------------------------ */

static tt_status infer_split_to_seq(tt_ictx *c)
{
    TT_TRY(infer_need_tensor(c, 0));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64)));
    const tt_type *x = tt_iin(c, 0);
    int rank = x->rank;
    int64_t dims[TT_MAX_RANK];
    if (rank >= 0) {
        int axis;
        TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), rank, false, &axis));
        memcpy(dims, x->dims, sizeof(int64_t) * (size_t)rank);
        if (tt_iin(c, 1)) {
            dims[axis] = TT_DIM_UNKNOWN; /* pieces may differ in length */
        } else if (tt_attr_int(c->node, "keepdims", 1)) {
            dims[axis] = 1;
        } else {
            memmove(dims + axis, dims + axis + 1, sizeof(int64_t) * (size_t)(rank - axis - 1));
            rank--;
        }
    }
    type_seq(&c->out[0], x->dtype, rank, dims);
    return TT_OK;
}

static tt_status run_split_to_seq(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *split = tt_kin(c, 1);
    char d[200];
    if (!x || x->rank < 1)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "input must be a tensor of rank 1 or more");
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), x->rank, false, &axis));
    int64_t len = x->dims[axis], chunk = 1, npieces = len;
    const int64_t *sizes = NULL;
    int64_t nsizes = 0;
    int64_t *buf = NULL;
    bool squeeze = !split && !tt_attr_int(c->node, "keepdims", 1);
    if (split && !tt_dtype_is_int(split->dtype))
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "split must be integers, got %s",
                           tt_tensor_desc(split, d, sizeof d));
    if (split && split->rank == 0) {
        chunk = tt_load_i64(split->data, split->dtype, 0);
        if (chunk <= 0)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "split size %" PRId64 " must be positive", chunk);
        npieces = len / chunk + (len % chunk != 0);
    } else if (split) {
        if (split->rank != 1)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "split must be a scalar or a 1-D tensor, got %s",
                               tt_tensor_desc(split, d, sizeof d));
        nsizes = split->dims[0];
        buf = tt_malloc(sizeof(int64_t) * (size_t)(nsizes + 1));
        if (!buf)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory splitting");
        int64_t sum = 0;
        for (int64_t i = 0; i < nsizes; i++) {
            buf[i] = tt_load_i64(split->data, split->dtype, (size_t)i);
            if (buf[i] < 0 || buf[i] > len - sum) {
                tt_free(buf);
                return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                                   "split sizes must be non-negative and sum to %" PRId64 " (the length of axis %d)",
                                   len, axis);
            }
            sum += buf[i];
        }
        if (sum != len) {
            tt_free(buf);
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "split sizes sum to %" PRId64 ", axis %d has length %" PRId64, sum, axis, len);
        }
        sizes = buf;
        npieces = nsizes;
    }
    if (npieces > INT32_MAX / 2) {
        tt_free(buf);
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "%" PRId64 " pieces are too many for a sequence", npieces);
    }
    int64_t outer = tt_dims_prod(x->dims, 0, axis), inner = tt_dims_prod(x->dims, axis + 1, x->rank);
    tt_seq *s = NULL;
    tt_status st = tt_seq_new(x->dtype, (int)npieces, &s);
    int64_t start = 0;
    for (int64_t p = 0; p < npieces && st == TT_OK; p++) {
        int64_t n = sizes ? sizes[p] : (len - start < chunk ? len - start : chunk);
        int64_t dims[TT_MAX_RANK];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = n;
        int rank = x->rank;
        if (squeeze) {
            memmove(dims + axis, dims + axis + 1, sizeof(int64_t) * (size_t)(rank - axis - 1));
            rank--;
        }
        tt_tensor *t = &s->items[p];
        st = tt_tensor_alloc(t, x->dtype, rank, dims);
        if (st != TT_OK)
            break;
        s->n = (int)p + 1;
        for (int64_t o = 0; o < outer && st == TT_OK; o++)
            st = tt_copy_tensor_elems(t, o * n * inner, x, (o * len + start) * inner, n * inner);
        start += n;
    }
    tt_free(buf);
    if (st != TT_OK) {
        tt_seq_free(s);
        return st;
    }
    set_seq_out(c, 0, s);
    return TT_OK;
}

/* ---- ConcatFromSequence --------------------------------------------------------------- */

static tt_status infer_concat_from_seq(tt_ictx *c)
{
    TT_TRY(infer_need_seq(c, 0));
    if (!tt_node_attr(c->node, "axis"))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "attribute 'axis' is required");
    const tt_type *s = tt_iin(c, 0);
    bool stack = tt_attr_int(c->node, "new_axis", 0) != 0;
    int rank = s->rank < 0 ? -1 : s->rank + stack;
    int64_t dims[TT_MAX_RANK];
    if (rank > TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the result would have rank %d", rank);
    if (rank >= 0) {
        int axis;
        TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), rank, false, &axis));
        for (int i = 0, j = 0; i < rank; i++)
            dims[i] = i == axis ? TT_DIM_UNKNOWN : s->dims[j++];
        if (!stack)
            dims[axis] = TT_DIM_UNKNOWN;
    }
    tt_infer_tensor(c, 0, s->dtype, rank, dims);
    return TT_OK;
}

static tt_status run_concat_from_seq(tt_kctx *c)
{
    const tt_seq *s = NULL;
    TT_TRY(kin_seq(c, 0, &s));
    if (s->n == 0)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "cannot concatenate an empty sequence");
    bool stack = tt_attr_int(c->node, "new_axis", 0) != 0;
    const tt_tensor *first = &s->items[0];
    int rank = first->rank + stack, axis;
    if (rank > TT_MAX_RANK || rank == 0)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "cannot concatenate tensors of rank %d", first->rank);
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", 0), rank, false, &axis));
    int64_t dims[TT_MAX_RANK];
    for (int i = 0, j = 0; i < rank; i++)
        dims[i] = stack && i == axis ? s->n : first->dims[j++];
    if (!stack)
        dims[axis] = 0;
    for (int k = 0; k < s->n; k++) {
        const tt_tensor *t = &s->items[k];
        bool ok = t->rank == first->rank && t->dtype == first->dtype;
        for (int i = 0; i < t->rank && ok; i++)
            ok = t->dims[i] == first->dims[i] || (!stack && i == axis);
        if (!ok) {
            char a[200], b[200];
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "element %d is %s, which does not fit element 0 (%s)", k,
                               tt_tensor_desc(t, a, sizeof a), tt_tensor_desc(first, b, sizeof b));
        }
        if (!stack && t->dims[axis] > INT64_MAX - dims[axis])
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "the concatenated axis is too long");
        if (!stack)
            dims[axis] += t->dims[axis];
    }
    tt_tensor *y;
    TT_TRY(tt_kctx_alloc(c, 0, first->dtype, rank, dims, &y));
    /* each element contributes one block of its axis extent per outer index */
    int64_t outer = tt_dims_prod(dims, 0, axis), inner = tt_dims_prod(dims, axis + 1, rank);
    int64_t row = dims[axis] * inner, off = 0;
    for (int k = 0; k < s->n; k++) {
        const tt_tensor *t = &s->items[k];
        int64_t block = (stack ? 1 : t->dims[axis]) * inner;
        for (int64_t o = 0; o < outer; o++)
            TT_TRY(tt_copy_tensor_elems(y, o * row + off, t, o * block, block));
        off += block;
    }
    return TT_OK;
}

/* ---- Optional, OptionalHasElement, OptionalGetElement ------------------------------------ */

/* The value of an optional is its element itself (or nothing), so at run time a present
 * tensor has its concrete type and these ops are views of their input. */

static tt_status infer_optional(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    const tt_attr *a = tt_node_attr(c->node, "type");
    tt_type t;
    if (x && c->concrete && x->kind == TT_KIND_TENSOR) {
        c->out[0] = *x;
        return TT_OK;
    }
    if (x && (x->kind == TT_KIND_TENSOR || x->kind == TT_KIND_SEQUENCE))
        t = *x;
    else if (a && a->type == TT_ATTR_TYPE_PROTO && (a->tp.kind == TT_KIND_TENSOR || a->tp.kind == TT_KIND_SEQUENCE))
        t = a->tp;
    else if (x && x->kind == TT_KIND_NONE)
        return TT_OK; /* an untyped input: nothing is known yet */
    else
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL,
                           "needs an input, or a 'type' attribute naming a tensor or sequence type");
    t.elem_kind = t.kind;
    t.kind = TT_KIND_OPTIONAL;
    c->out[0] = t;
    return TT_OK;
}

/* Tensors are views (TT_OP_VIEW); sequences are shared here; no input leaves the output empty. */
static tt_status run_optional_pass(tt_kctx *c)
{
    const tt_value *x = c->n_in > 0 ? c->in[0] : NULL;
    if (!x || x->kind != TT_KIND_SEQUENCE || !tt_kout_wanted(c, 0))
        return TT_OK;
    tt_value_release(c->out[0]);
    return tt_value_share(x, c->out[0]);
}

static tt_status infer_optional_has(tt_ictx *c)
{
    tt_infer_tensor(c, 0, TETHER_DTYPE_BOOL, 0, NULL);
    return TT_OK;
}

static tt_status run_optional_has(tt_kctx *c)
{
    const tt_value *x = c->n_in > 0 ? c->in[0] : NULL;
    tt_tensor *y = tt_kout(c, 0);
    if (y)
        *(bool *)y->data = x && x->kind != TT_KIND_NONE;
    return TT_OK;
}

static tt_status infer_optional_get(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (!x)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input 0 is required");
    if (c->concrete && x->kind == TT_KIND_OPTIONAL)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "the optional input is empty");
    c->out[0] = *x;
    if (x->kind == TT_KIND_OPTIONAL) {
        c->out[0].kind = x->elem_kind;
        c->out[0].elem_kind = TT_KIND_NONE;
    }
    return TT_OK;
}

const tt_op_schema tt_schemas_seq[] = {
    TT_SCHEMA("SequenceEmpty", 11, 0, infer_seq_empty, .flags = TT_OP_NO_FOLD),
    TT_SCHEMA("SequenceConstruct", 11, 0, infer_seq_construct),
    TT_SCHEMA("SequenceLength", 11, 0, infer_seq_length),
    TT_SCHEMA("SequenceAt", 11, 0, infer_seq_at),
    TT_SCHEMA("SequenceInsert", 11, 0, infer_seq_insert),
    TT_SCHEMA("SequenceErase", 11, 0, infer_seq_erase),
    TT_SCHEMA("SplitToSequence", 11, 0, infer_split_to_seq),
    TT_SCHEMA("ConcatFromSequence", 11, 0, infer_concat_from_seq),
    TT_SCHEMA("Optional", 15, 0, infer_optional, .flags = TT_OP_NO_FOLD),
    TT_SCHEMA("OptionalHasElement", 15, 0, infer_optional_has),
    TT_SCHEMA("OptionalGetElement", 15, 0, infer_optional_get),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_seq[] = {
    TT_KERNEL("SequenceEmpty", 11, 0, 0, run_seq_empty),
    TT_KERNEL("SequenceConstruct", 11, 0, 0, run_seq_construct),
    TT_KERNEL("SequenceLength", 11, 0, 0, run_seq_length),
    TT_KERNEL("SequenceAt", 11, 0, 0, run_seq_at),
    TT_KERNEL("SequenceInsert", 11, 0, 0, run_seq_insert),
    TT_KERNEL("SequenceErase", 11, 0, 0, run_seq_erase),
    TT_KERNEL("SplitToSequence", 11, 0, 0, run_split_to_seq),
    TT_KERNEL("ConcatFromSequence", 11, 0, 0, run_concat_from_seq),
    TT_KERNEL("Optional", 15, 0, 0, run_optional_pass, .flags = TT_KERNEL_VIEW),
    TT_KERNEL("OptionalHasElement", 15, 0, 0, run_optional_has),
    TT_KERNEL("OptionalGetElement", 15, 0, 0, run_optional_pass, .flags = TT_KERNEL_VIEW),
    TT_KERNEL_END,
};
