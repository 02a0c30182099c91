/* Control flow: If, Loop, Scan and SequenceMap. Bodies run through tt_kctx_run_subgraph,
 * which binds their inputs and lets them read values of the enclosing graphs; this file
 * moves values into and out of bodies and gathers what they produce step by step. */
#include "ops/copy.h"

#include <inttypes.h>

/* ---- shared plumbing ------------------------------------------------------------------ */

static tt_graph *graph_attr(const tt_node *n, const char *name)
{
    const tt_attr *a = tt_node_attr(n, name);
    return a && a->type == TT_ATTR_GRAPH ? a->g : NULL;
}

static tt_status need_graph(const tt_node *n, const char *name, tt_graph **g)
{
    *g = graph_attr(n, name);
    if (!*g)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute '%s' (a graph) is required", name);
    return TT_OK;
}

static const tt_type *body_out_type(const tt_graph *g, int i)
{
    return &g->values[g->outputs[i]].type;
}

/* The type of one element of a sequence (or of a tensor-typed optional). */
static tt_type elem_type(const tt_type *t)
{
    tt_type e = *t;
    if (t->kind == TT_KIND_SEQUENCE || (t->kind == TT_KIND_OPTIONAL && t->elem_kind == TT_KIND_TENSOR))
        e.kind = TT_KIND_TENSOR;
    e.elem_kind = TT_KIND_NONE;
    return e;
}

/* t without dimension `axis`; a type of unknown rank when t has no such axis (-1: not
 * known). */
static tt_type type_drop_axis(const tt_type *t, int axis)
{
    tt_type r = *t;
    if (r.kind == TT_KIND_TENSOR && axis >= 0 && axis < r.rank && r.rank <= TT_MAX_RANK) {
        memmove(r.dims + axis, r.dims + axis + 1, sizeof(int64_t) * (size_t)(r.rank - axis - 1));
        r.rank--;
    } else {
        r.rank = -1;
    }
    return r;
}

/* ONNX lets a body leave its input types to the node that runs it, but the body's ops are
 * chosen and inferred at load: untyped body inputs get the types the node will feed them.
 * Runs from the op's prepare hook, before the body itself is prepared. */
static void seed_body_input(tt_graph *body, int i, const tt_type *t)
{
    if (i >= body->n_inputs || !t || t->kind == TT_KIND_NONE)
        return;
    tt_type *d = &body->values[body->inputs[i]].type;
    if (d->kind == TT_KIND_NONE)
        *d = *t;
}

/* The type of node input i, read from the graph that holds the node (the body's parent). */
static const tt_type *node_in_type(const tt_graph *body, const tt_node *n, int i)
{
    return i < n->n_inputs && n->inputs[i] >= 0 ? &body->parent->values[n->inputs[i]].type : NULL;
}

/* Output k takes a body's output type; at run time a tensor's shape stays open, since only
 * running the body fixes it, and the kernel hands the body's value over. */
static void infer_from_body(tt_ictx *c, int k, const tt_type *t)
{
    if (k >= c->n_out)
        return;
    c->out[k] = *t;
    if (c->concrete && t->kind == TT_KIND_TENSOR)
        c->out[k].rank = -1;
}

/* Tensors that come typed must have dtype dt (untyped ones are checked at run time). */
static tt_status infer_check_if_typed(const tt_ictx *c, int i, tt_dtype dt)
{
    const tt_type *t = tt_iin(c, i);
    if (t && t->kind == TT_KIND_TENSOR && t->dtype != dt)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input %d must be %s, got %s", i, tt_dtype_name(dt),
                           tt_dtype_name(t->dtype));
    return TT_OK;
}

static tt_value *values_new(int n)
{
    tt_value *v = tt_calloc((size_t)n + 1, sizeof *v);
    if (!v)
        tt_error(TETHER_ERR_NO_MEMORY, "out of memory for %d values", n);
    return v;
}

static void values_free(tt_value *v, int n)
{
    for (int i = 0; v && i < n; i++)
        tt_value_release(&v[i]);
    tt_free(v);
}

static bool same_shape(const tt_tensor *a, const tt_tensor *b)
{
    return a->dtype == b->dtype && a->rank == b->rank &&
           memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) == 0;
}

/* Hands v (an owned reference) to output k. A tensor in an arena slot of the enclosing
 * graph is copied: that slot is reused once its own value's planned lifetime ends. */
static tt_status take_output(tt_kctx *c, int k, tt_value *v)
{
    tt_status s = TT_OK;
    if (!tt_kout_wanted(c, k)) {
        tt_value_release(v);
        return TT_OK;
    }
    tt_value *out = c->out[k];
    if (out->kind == TT_KIND_TENSOR) { /* the executor allocated it: copy into it */
        char a[200], b[200];
        if (v->kind != TT_KIND_TENSOR || !same_shape(&out->t, &v->t))
            s = tt_op_error(c->node, TETHER_ERR_RUNTIME, "output %d is %s, but was inferred as %s", k,
                            v->kind == TT_KIND_TENSOR ? tt_tensor_desc(&v->t, a, sizeof a) : "not a tensor",
                            tt_tensor_desc(&out->t, b, sizeof b));
        else
            s = tt_copy_tensor_elems(&out->t, 0, &v->t, 0, tt_tensor_numel(&v->t));
        tt_value_release(v);
        return s;
    }
    if (v->kind == TT_KIND_TENSOR && v->t.buf && v->t.buf->pooled) {
        tt_tensor copy;
        s = tt_tensor_clone(&v->t, &copy);
        tt_value_release(v);
        if (s != TT_OK)
            return s;
        v->kind = TT_KIND_TENSOR;
        v->t = copy;
    }
    tt_value_release(out);
    *out = *v;
    memset(v, 0, sizeof *v);
    return TT_OK;
}

/* Reads a condition: a tensor holding one bool. */
static tt_status read_cond(const tt_kctx *c, const tt_value *v, const char *what, bool *out)
{
    if (!v || v->kind != TT_KIND_TENSOR || v->t.dtype != TETHER_DTYPE_BOOL || tt_tensor_numel(&v->t) != 1) {
        char d[200];
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "%s must be a tensor of one bool, got %s", what,
                           !v || v->kind == TT_KIND_NONE ? "nothing"
                           : v->kind == TT_KIND_TENSOR   ? tt_tensor_desc(&v->t, d, sizeof d)
                                                         : "a sequence");
    }
    *out = *(const uint8_t *)v->t.data != 0;
    return TT_OK;
}

static tt_status scalar_value(tt_dtype dt, int64_t x, tt_value *v)
{
    memset(v, 0, sizeof *v);
    TT_TRY(tt_tensor_alloc(&v->t, dt, 0, (int64_t[1]){0}));
    tt_store_i64(v->t.data, dt, 0, x);
    v->kind = TT_KIND_TENSOR;
    return TT_OK;
}

/* Element i of x along axis, as a value the caller owns: a view of x's storage when the
 * element is contiguous (axis 0), else a copy. */
static tt_status slice_at(const tt_tensor *x, int axis, int64_t i, tt_value *v)
{
    int64_t dims[TT_MAX_RANK];
    int rank = x->rank - 1;
    for (int d = 0, j = 0; d < x->rank; d++)
        if (d != axis)
            dims[j++] = x->dims[d];
    int64_t outer = tt_dims_prod(x->dims, 0, axis), inner = tt_dims_prod(x->dims, axis + 1, x->rank);
    memset(v, 0, sizeof *v);
    if (axis == 0) {
        v->t = tt_tensor_share(x);
        v->t.data = (char *)x->data + (size_t)(i * inner) * tt_dtype_size(x->dtype);
        v->t.rank = rank;
        memcpy(v->t.dims, dims, sizeof(int64_t) * (size_t)rank);
    } else {
        TT_TRY(tt_tensor_alloc(&v->t, x->dtype, rank, dims));
        for (int64_t o = 0; o < outer; o++) {
            tt_status s = tt_copy_tensor_elems(&v->t, o * inner, x, (o * x->dims[axis] + i) * inner, inner);
            if (s != TT_OK) {
                tt_tensor_release(&v->t);
                return s;
            }
        }
    }
    v->kind = TT_KIND_TENSOR;
    return TT_OK;
}

/* A shape from a declared type, for outputs no step produced: unknown dims count as 0. */
static int declared_dims(const tt_type *t, int64_t *dims)
{
    if (t->kind != TT_KIND_TENSOR || t->rank < 0) {
        dims[0] = 0;
        return 1;
    }
    for (int i = 0; i < t->rank; i++)
        dims[i] = t->dims[i] >= 0 ? t->dims[i] : 0;
    return t->rank;
}

/* ---- If --------------------------------------------------------------------------------- */

/* Both branches' types, where they agree; an optional branch makes the output optional. */
static tt_status join_branch_types(const tt_node *n, int k, const tt_type *a, const tt_type *b, tt_type *out)
{
    if (a->kind == TT_KIND_NONE || b->kind == TT_KIND_NONE) {
        *out = a->kind == TT_KIND_NONE ? *b : *a;
        return TT_OK;
    }
    if (a->kind != b->kind) {
        if (a->kind != TT_KIND_OPTIONAL && b->kind != TT_KIND_OPTIONAL)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "the branches' output %d are of different kinds", k);
        *out = a->kind == TT_KIND_OPTIONAL ? *a : *b;
        return TT_OK;
    }
    if (a->dtype != b->dtype && a->dtype != TETHER_DTYPE_UNDEFINED && b->dtype != TETHER_DTYPE_UNDEFINED)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "the branches' output %d have different dtypes (%s, %s)", k,
                           tt_dtype_name(a->dtype), tt_dtype_name(b->dtype));
    *out = *a;
    if (a->rank != b->rank) {
        out->rank = -1;
    } else {
        for (int i = 0; i < a->rank; i++)
            if (a->dims[i] != b->dims[i])
                out->dims[i] = TT_DIM_UNKNOWN;
    }
    return TT_OK;
}

static tt_status infer_if(tt_ictx *c)
{
    tt_graph *then_g, *else_g;
    TT_TRY(need_graph(c->node, "then_branch", &then_g));
    TT_TRY(need_graph(c->node, "else_branch", &else_g));
    TT_TRY(infer_check_if_typed(c, 0, TETHER_DTYPE_BOOL));
    if (then_g->n_outputs < c->n_out || else_g->n_outputs < c->n_out)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "the node has %d outputs, its branches %d and %d",
                           c->n_out, then_g->n_outputs, else_g->n_outputs);
    for (int k = 0; k < c->n_out; k++) {
        tt_type t;
        TT_TRY(join_branch_types(c->node, k, body_out_type(then_g, k), body_out_type(else_g, k), &t));
        infer_from_body(c, k, &t);
    }
    return TT_OK;
}

static tt_status run_if(tt_kctx *c)
{
    bool cond;
    TT_TRY(read_cond(c, c->n_in > 0 ? c->in[0] : NULL, "the condition", &cond));
    const tt_graph *g = graph_attr(c->node, cond ? "then_branch" : "else_branch");
    tt_value *outs = values_new(g->n_outputs);
    if (!outs)
        return TETHER_ERR_NO_MEMORY;
    tt_status s = tt_kctx_run_subgraph(c, g, NULL, 0, outs);
    for (int k = 0; k < c->n_out && s == TT_OK; k++)
        s = take_output(c, k, &outs[k]);
    values_free(outs, g->n_outputs);
    return s;
}

/* ---- scan outputs of Loop ------------------------------------------------------------------ */

/* A scan output being gathered: elements are appended to a tensor whose first dim is its
 * capacity, grown by doubling, so memory follows what the loop produced rather than its
 * trip count, and the tensor size limit stops a runaway loop. */
typedef struct loop_acc {
    tt_tensor buf;
    int64_t n;     /* elements appended */
    int64_t numel; /* of one element */
} loop_acc;

static tt_status acc_push(const tt_kctx *c, int j, loop_acc *a, const tt_value *v)
{
    char d1[200], d2[200];
    if (v->kind != TT_KIND_TENSOR)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "scan output %d must be a tensor", j);
    const tt_tensor *t = &v->t;
    if (t->rank + 1 > TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "scan output %d has rank %d; stacking it needs one more", j,
                           t->rank);
    if (a->n > 0) {
        bool same = t->dtype == a->buf.dtype && t->rank + 1 == a->buf.rank &&
                    memcmp(t->dims, a->buf.dims + 1, sizeof(int64_t) * (size_t)t->rank) == 0;
        if (!same)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "scan output %d is %s in iteration %" PRId64 ", unlike in iteration 0 (%s%s)", j,
                               tt_tensor_desc(t, d1, sizeof d1), a->n, tt_dtype_name(a->buf.dtype),
                               tt_dims_str(a->buf.rank - 1, a->buf.dims + 1, d2, sizeof d2));
    }
    if (a->n == 0 || a->n == a->buf.dims[0]) {
        int64_t dims[TT_MAX_RANK];
        memcpy(dims + 1, t->dims, sizeof(int64_t) * (size_t)t->rank);
        dims[0] = a->n ? a->n * 2 : 4;
        tt_tensor grown;
        if (tt_tensor_init(&grown, t->dtype, t->rank + 1, dims) != TT_OK)
            dims[0] = a->n + 1; /* doubling would pass the size limit: grow exactly */
        tt_status s = tt_tensor_alloc(&grown, t->dtype, t->rank + 1, dims);
        if (s != TT_OK)
            return tt_error_prefix(s, "node '%s' (%s): scan output %d after %" PRId64 " iterations: ", c->node->name,
                                   c->node->op_type, j, a->n);
        if (a->n == 0)
            a->numel = tt_tensor_numel(t);
        s = tt_copy_tensor_elems(&grown, 0, &a->buf, 0, a->n * a->numel);
        if (s != TT_OK) {
            tt_tensor_release(&grown);
            return s;
        }
        tt_tensor_release(&a->buf);
        a->buf = grown;
    }
    TT_TRY(tt_copy_tensor_elems(&a->buf, a->n * a->numel, t, 0, a->numel));
    a->n++;
    return TT_OK;
}

static tt_status acc_finish(tt_kctx *c, int k, loop_acc *a, const tt_type *decl)
{
    if (!tt_kout_wanted(c, k))
        return TT_OK;
    tt_value v = {.kind = TT_KIND_TENSOR};
    if (a->n == 0) {
        /* no iteration ran: empty, with the body's declared element shape */
        int64_t dims[TT_MAX_RANK + 1];
        int rank = declared_dims(decl, dims + 1) + 1;
        dims[0] = 0;
        if (decl->dtype == TETHER_DTYPE_UNDEFINED || rank > TT_MAX_RANK)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "no iteration ran and scan output %d has no declared type",
                               k);
        TT_TRY(tt_tensor_alloc(&v.t, decl->dtype, rank, dims));
    } else {
        v.t = a->buf;
        v.t.dims[0] = a->n; /* the capacity past n stays allocated until the output is freed */
        memset(&a->buf, 0, sizeof a->buf);
    }
    return take_output(c, k, &v);
}

/* ---- Loop ------------------------------------------------------------------------------- */

static tt_status prepare_loop(tt_node *n, void **state)
{
    (void)state;
    tt_graph *body;
    TT_TRY(need_graph(n, "body", &body));
    tt_type t;
    tt_type_tensor(&t, TETHER_DTYPE_INT64, 0, NULL);
    seed_body_input(body, 0, &t);
    tt_type_tensor(&t, TETHER_DTYPE_BOOL, 0, NULL);
    seed_body_input(body, 1, &t);
    for (int k = 2; k < n->n_inputs; k++) {
        const tt_type *in = node_in_type(body, n, k);
        if (!in)
            continue;
        t = *in;
        t.rank = -1; /* a loop-carried value may change shape from one iteration to the next */
        seed_body_input(body, k, &t);
    }
    return TT_OK;
}

static tt_status infer_loop(tt_ictx *c)
{
    tt_graph *body;
    TT_TRY(need_graph(c->node, "body", &body));
    int N = c->n_in - 2;
    if (N < 0)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs inputs M and cond (either may be empty)");
    int K = body->n_outputs - 1 - N;
    if (body->n_inputs != N + 2 || K < 0)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL,
                           "the body takes %d inputs and has %d outputs; with %d loop-carried values it needs %d "
                           "inputs and at least %d outputs",
                           body->n_inputs, body->n_outputs, N, N + 2, N + 1);
    if (c->n_out > N + K)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "the node has %d outputs, its body gives %d", c->n_out,
                           N + K);
    TT_TRY(infer_check_if_typed(c, 0, TETHER_DTYPE_INT64));
    TT_TRY(infer_check_if_typed(c, 1, TETHER_DTYPE_BOOL));
    for (int k = 0; k < N; k++) {
        const tt_type *t = body_out_type(body, 1 + k), *init = tt_iin(c, 2 + k);
        /* an empty optional stays the output when no iteration runs */
        if (init && (t->kind == TT_KIND_NONE || (c->concrete && init->kind == TT_KIND_OPTIONAL)))
            t = init;
        infer_from_body(c, k, t);
    }
    for (int j = 0; j < K && N + j < c->n_out; j++) {
        const tt_type *t = body_out_type(body, 1 + N + j);
        if (t->kind == TT_KIND_NONE)
            continue;
        if (t->kind != TT_KIND_TENSOR)
            return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "scan output %d of the body must be a tensor", j);
        int64_t dims[TT_MAX_RANK];
        int rank = t->rank >= 0 && t->rank < TT_MAX_RANK && !c->concrete ? t->rank + 1 : -1;
        dims[0] = TT_DIM_UNKNOWN;
        if (rank > 0)
            memcpy(dims + 1, t->dims, sizeof(int64_t) * (size_t)t->rank);
        tt_infer_tensor(c, N + j, t->dtype, rank, dims);
    }
    return TT_OK;
}

static tt_status run_loop(tt_kctx *c)
{
    const tt_graph *body = graph_attr(c->node, "body");
    int N = c->n_in - 2, K = body->n_outputs - 1 - N;
    int64_t trips = INT64_MAX;
    bool go = true;
    const tt_tensor *m = tt_kin(c, 0);
    if (m) {
        char d[200];
        if (!tt_dtype_is_int(m->dtype) || tt_tensor_numel(m) != 1)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "the trip count M must be one integer, got %s",
                               tt_tensor_desc(m, d, sizeof d));
        trips = tt_load_i64(m->data, m->dtype, 0);
    }
    if (c->in[1])
        TT_TRY(read_cond(c, c->in[1], "input cond", &go));

    /* in: the body's inputs (iteration number, condition, loop-carried values), all owned */
    tt_value *in = values_new(N + 2), *out = values_new(body->n_outputs);
    loop_acc *acc = tt_calloc((size_t)K + 1, sizeof *acc);
    tt_status s = in && out && acc ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory running a loop");
    if (s == TT_OK)
        s = c->in[1] ? tt_value_share(c->in[1], &in[1]) : scalar_value(TETHER_DTYPE_BOOL, 1, &in[1]);
    for (int k = 0; k < N && s == TT_OK; k++)
        if (c->in[2 + k])
            s = tt_value_share(c->in[2 + k], &in[2 + k]);
    for (int64_t it = 0; s == TT_OK && go && it < trips; it++) {
        /* an empty body runs no node, where the executor would check: the loop checks */
        if ((s = tt_kctx_check(c)) != TT_OK)
            break;
        tt_value_release(&in[0]);
        s = scalar_value(TETHER_DTYPE_INT64, it, &in[0]);
        if (s == TT_OK)
            s = tt_kctx_run_subgraph(c, body, in, N + 2, out);
        if (s != TT_OK)
            break;
        s = read_cond(c, &out[0], "the body's condition output", &go);
        /* the body's outputs (condition, carried values) are the next iteration's inputs */
        for (int k = 0; k <= N; k++) {
            tt_value_release(&in[1 + k]);
            in[1 + k] = out[k];
        }
        memset(out, 0, sizeof *out * (size_t)(N + 1));
        for (int j = 0; j < K && s == TT_OK; j++)
            s = acc_push(c, j, &acc[j], &out[1 + N + j]);
        for (int j = 0; j < K; j++)
            tt_value_release(&out[1 + N + j]);
    }
    for (int k = 0; k < N && s == TT_OK; k++)
        s = take_output(c, k, &in[2 + k]);
    for (int j = 0; j < K && s == TT_OK; j++)
        s = acc_finish(c, N + j, &acc[j], body_out_type(body, 1 + N + j));
    for (int j = 0; acc && j < K; j++)
        tt_tensor_release(&acc[j].buf);
    tt_free(acc);
    values_free(in, N + 2);
    values_free(out, body->n_outputs);
    return s;
}

/* ---- Scan --------------------------------------------------------------------------------- */

/* One scan output of a Scan node: the step index goes at `axis` of each element, after the
 * batch axis in Scan-8; allocated (zeroed) when the first element shows its shape. */
typedef struct scan_out {
    tt_tensor *t;
    int axis;
    bool rev;
} scan_out;

/* A run of the body over `len` steps, from states to final states. */
typedef struct scan_job {
    tt_kctx *c;
    const tt_graph *body;
    int n_state, n_in, n_out;   /* N states, M scan inputs, K scan outputs */
    int first_out;              /* node output of scan output 0 */
    tt_value *state;            /* N owned values: the initial states, then the final ones */
    const tt_tensor *const *xs; /* the M scan inputs */
    const int *in_axis;
    const bool *in_rev;
    int64_t len;            /* steps this run */
    int64_t out_len;        /* the outputs' step extent (Scan-8 pads short sequences) */
    int64_t batch, n_batch; /* Scan-8: the batch run and the batch size; else 0 and -1 */
    scan_out *outs;
} scan_job;

/* The shape output k has when its elements are `elem`. */
static tt_status scan_out_dims(const scan_job *j, int k, const int64_t *edims, int erank, int64_t *dims, int *rank)
{
    int lead = j->n_batch >= 0, axis = j->outs[k].axis;
    *rank = erank + 1 + lead;
    if (*rank > TT_MAX_RANK)
        return tt_op_error(j->c->node, TETHER_ERR_RUNTIME, "scan output %d would have rank %d", k, *rank);
    if (axis > erank)
        return tt_op_error(j->c->node, TETHER_ERR_RUNTIME, "scan output %d: axis %d is out of range for rank %d", k,
                           axis, erank + 1);
    if (lead)
        dims[0] = j->n_batch;
    for (int i = 0, e = 0; i <= erank; i++)
        dims[lead + i] = i == axis ? j->out_len : edims[e++];
    return TT_OK;
}

static tt_status scan_out_alloc(scan_job *j, int k, tt_dtype dt, int rank, const int64_t *dims)
{
    tt_tensor *t;
    TT_TRY(tt_kctx_alloc(j->c, j->first_out + k, dt, rank, dims, &t));
    if (dt != TETHER_DTYPE_STRING && tt_tensor_nbytes(t))
        memset(t->data, 0, tt_tensor_nbytes(t)); /* Scan-8 leaves steps past a sequence's length as zeros */
    j->outs[k].t = t;
    return TT_OK;
}

static tt_status scan_place(scan_job *j, int k, int64_t step, const tt_value *v)
{
    char d1[200], d2[200];
    if (v->kind != TT_KIND_TENSOR)
        return tt_op_error(j->c->node, TETHER_ERR_RUNTIME, "scan output %d must be a tensor", k);
    const tt_tensor *e = &v->t;
    int64_t dims[TT_MAX_RANK];
    int rank;
    TT_TRY(scan_out_dims(j, k, e->dims, e->rank, dims, &rank));
    if (!tt_kout_wanted(j->c, j->first_out + k))
        return TT_OK;
    tt_tensor *t = j->outs[k].t;
    if (!t) {
        TT_TRY(scan_out_alloc(j, k, e->dtype, rank, dims));
        t = j->outs[k].t;
    } else if (t->dtype != e->dtype || t->rank != rank || memcmp(t->dims, dims, sizeof(int64_t) * (size_t)rank)) {
        return tt_op_error(j->c->node, TETHER_ERR_RUNTIME,
                           "scan output %d is %s at step %" PRId64 ", unlike before (%s)", k,
                           tt_tensor_desc(e, d1, sizeof d1), step, tt_tensor_desc(t, d2, sizeof d2));
    }
    int axis = j->outs[k].axis;
    int64_t pos = j->outs[k].rev ? j->len - 1 - step : step;
    int64_t outer = tt_dims_prod(e->dims, 0, axis), inner = tt_dims_prod(e->dims, axis, e->rank);
    int64_t base = j->n_batch >= 0 ? j->batch * outer : 0;
    for (int64_t o = 0; o < outer; o++)
        TT_TRY(tt_copy_tensor_elems(t, ((base + o) * j->out_len + pos) * inner, e, o * inner, inner));
    return TT_OK;
}

static tt_status scan_steps(scan_job *j)
{
    int nin = j->n_state + j->n_in, nout = j->body->n_outputs;
    tt_value *in = values_new(nin), *out = values_new(nout);
    tt_status s = in && out ? TT_OK : TETHER_ERR_NO_MEMORY;
    for (int64_t t = 0; t < j->len && s == TT_OK; t++) {
        if ((s = tt_kctx_check(j->c)) != TT_OK)
            break;
        for (int i = 0; i < j->n_state; i++) {
            in[i] = j->state[i];
            memset(&j->state[i], 0, sizeof j->state[i]);
        }
        for (int m = 0; m < j->n_in && s == TT_OK; m++) {
            int64_t idx = j->in_rev[m] ? j->len - 1 - t : t;
            s = slice_at(j->xs[m], j->in_axis[m], idx, &in[j->n_state + m]);
        }
        if (s == TT_OK)
            s = tt_kctx_run_subgraph(j->c, j->body, in, nin, out);
        for (int i = 0; i < nin; i++)
            tt_value_release(&in[i]);
        if (s != TT_OK)
            break;
        for (int i = 0; i < j->n_state; i++) {
            j->state[i] = out[i];
            memset(&out[i], 0, sizeof out[i]);
        }
        for (int k = 0; k < j->n_out && s == TT_OK; k++)
            s = scan_place(j, k, t, &out[j->n_state + k]);
        for (int k = 0; k < j->n_out; k++)
            tt_value_release(&out[j->n_state + k]);
    }
    values_free(in, nin);
    values_free(out, nout);
    return s;
}

/* Scan outputs no step produced: allocated from the body's declared element types. */
static tt_status scan_outs_finish(scan_job *j)
{
    for (int k = 0; k < j->n_out; k++) {
        if (j->outs[k].t || !tt_kout_wanted(j->c, j->first_out + k))
            continue;
        const tt_type *decl = body_out_type(j->body, j->n_state + k);
        int64_t edims[TT_MAX_RANK], dims[TT_MAX_RANK];
        int erank = declared_dims(decl, edims), rank;
        if (decl->dtype == TETHER_DTYPE_UNDEFINED)
            return tt_op_error(j->c->node, TETHER_ERR_RUNTIME, "no step ran and scan output %d has no declared type",
                               k);
        TT_TRY(scan_out_dims(j, k, edims, erank, dims, &rank));
        TT_TRY(scan_out_alloc(j, k, decl->dtype, rank, dims));
    }
    return TT_OK;
}

/* Reads per-input flags or axes from attribute `name`: absent means all 0. */
static tt_status scan_list(const tt_node *n, const char *name, int count, const int64_t **v)
{
    size_t len;
    *v = tt_attr_ints(n, name, &len);
    if (*v && len != (size_t)count)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute '%s' has %zu entries, expected %d", name, len,
                           count);
    return TT_OK;
}

/* Shapes of the body: N states, M scan inputs, K = outputs - N scan outputs. */
static tt_status scan_counts(const tt_node *n, const tt_graph *body, int n_in_node, int n_out_node, int lead, int *N,
                             int *M, int *K)
{
    int64_t m = tt_attr_int(n, "num_scan_inputs", -1);
    if (m < 1 || m > n_in_node - lead)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "num_scan_inputs %" PRId64 " must be in 1..%d", m,
                           n_in_node - lead);
    *M = (int)m;
    *N = n_in_node - lead - *M;
    *K = body->n_outputs - *N;
    if (body->n_inputs != *N + *M || *K < 0 || n_out_node > *N + *K)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL,
                           "the body takes %d inputs and has %d outputs; the node has %d states, %d scan inputs and "
                           "%d outputs",
                           body->n_inputs, body->n_outputs, *N, *M, n_out_node);
    return TT_OK;
}

static tt_status prepare_scan(tt_node *n, void **state)
{
    (void)state;
    tt_graph *body;
    TT_TRY(need_graph(n, "body", &body));
    bool v8 = n->opset < 9;
    int lead = v8, N, M, K;
    TT_TRY(scan_counts(n, body, n->n_inputs, n->n_outputs, lead, &N, &M, &K));
    const int64_t *axes = NULL;
    if (!v8)
        TT_TRY(scan_list(n, "scan_input_axes", M, &axes));
    for (int i = 0; i < N + M; i++) {
        const tt_type *in = node_in_type(body, n, lead + i);
        if (!in)
            continue;
        tt_type t = v8 ? type_drop_axis(in, 0) : *in; /* Scan-8 runs the body per batch */
        if (i >= N) {
            int64_t axis = v8 ? 0 : (axes ? axes[i - N] : 0);
            if (axis < 0 && t.rank >= 0)
                axis += t.rank;
            t = type_drop_axis(&t, axis >= 0 && axis < TT_MAX_RANK ? (int)axis : -1);
        }
        seed_body_input(body, i, &t);
    }
    return TT_OK;
}

static tt_status infer_scan(tt_ictx *c)
{
    tt_graph *body;
    TT_TRY(need_graph(c->node, "body", &body));
    bool v8 = c->node->opset < 9;
    int lead = v8, N, M, K;
    TT_TRY(scan_counts(c->node, body, c->n_in, c->n_out, lead, &N, &M, &K));
    const int64_t *in_axes = NULL, *out_axes = NULL, *flags = NULL;
    if (v8) {
        TT_TRY(scan_list(c->node, "directions", M, &flags));
        TT_TRY(infer_check_if_typed(c, 0, TETHER_DTYPE_INT64));
    } else {
        TT_TRY(scan_list(c->node, "scan_input_axes", M, &in_axes));
        TT_TRY(scan_list(c->node, "scan_input_directions", M, &flags));
        TT_TRY(scan_list(c->node, "scan_output_axes", K, &out_axes));
        TT_TRY(scan_list(c->node, "scan_output_directions", K, &flags));
    }
    /* the sequence length (and Scan-8's batch size), when the first scan input shows it */
    const tt_type *x0 = tt_iin(c, lead + N);
    int64_t len = TT_DIM_UNKNOWN, batch = TT_DIM_UNKNOWN;
    if (x0 && x0->kind == TT_KIND_TENSOR && x0->rank >= 1 + v8) {
        int axis = 0;
        if (!v8)
            TT_TRY(tt_norm_axis(c->node, in_axes ? in_axes[0] : 0, x0->rank, false, &axis));
        len = x0->dims[v8 ? 1 : axis];
        batch = x0->dims[0];
    }
    for (int k = 0; k < N + K && k < c->n_out; k++) {
        const tt_type *t = body_out_type(body, k);
        if (t->kind == TT_KIND_NONE && k < N && tt_iin(c, lead + k)) {
            infer_from_body(c, k, tt_iin(c, lead + k));
            continue;
        }
        if (t->kind != TT_KIND_TENSOR || c->concrete) {
            infer_from_body(c, k, t);
            continue;
        }
        int rank = t->rank < 0 ? -1 : t->rank + (k >= N) + v8;
        int64_t dims[TT_MAX_RANK];
        if (rank > TT_MAX_RANK)
            return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "output %d would have rank %d", k, rank);
        if (rank >= 0) {
            int axis = 0, lead_dims = v8;
            if (k >= N && !v8)
                TT_TRY(tt_norm_axis(c->node, out_axes ? out_axes[k - N] : 0, t->rank + 1, false, &axis));
            if (v8)
                dims[0] = batch;
            for (int i = 0, e = 0; i < rank - lead_dims; i++)
                dims[lead_dims + i] = k >= N && i == axis ? len : t->dims[e++];
        }
        tt_infer_tensor(c, k, t->dtype, rank, dims);
    }
    return TT_OK;
}

/* Reads the scan inputs (their axes, directions and common length) and the scan outputs'
 * axes and directions into j. Scan-8 inputs are [batch, sequence, ...]. */
static tt_status scan_setup(tt_kctx *c, bool v8, int lead, scan_job *j, int *axis, bool *rev, const tt_tensor **xs)
{
    int N = j->n_state, M = j->n_in, K = j->n_out;
    const int64_t *in_axes = NULL, *in_dirs = NULL, *out_axes = NULL, *out_dirs = NULL;
    TT_TRY(scan_list(c->node, v8 ? "directions" : "scan_input_directions", M, &in_dirs));
    if (!v8) {
        TT_TRY(scan_list(c->node, "scan_input_axes", M, &in_axes));
        TT_TRY(scan_list(c->node, "scan_output_axes", K, &out_axes));
        TT_TRY(scan_list(c->node, "scan_output_directions", K, &out_dirs));
    }
    int64_t len = -1, n_batch = -1;
    for (int m = 0; m < M; m++) {
        const tt_tensor *x = tt_kin(c, lead + N + m);
        char d[200];
        if (!x || x->rank < 1 + v8)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "scan input %d must be a tensor of rank %d or more", m,
                               1 + v8);
        TT_TRY(tt_norm_axis(c->node, v8 ? 1 : in_axes ? in_axes[m] : 0, x->rank, false, &axis[m]));
        if (m == 0) {
            len = x->dims[axis[m]];
            n_batch = v8 ? x->dims[0] : -1;
        }
        if (x->dims[axis[m]] != len || (v8 && x->dims[0] != n_batch))
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "scan input %d is %s, unlike scan input 0 (%s %" PRId64 ")",
                               m, tt_tensor_desc(x, d, sizeof d), v8 && x->dims[0] != n_batch ? "batch" : "length",
                               v8 && x->dims[0] != n_batch ? n_batch : len);
        rev[m] = in_dirs && in_dirs[m];
        xs[m] = x;
        if (v8)
            axis[m] = 0; /* the body runs per batch, where the sequence axis comes first */
    }
    for (int k = 0; k < K; k++) {
        int64_t a = out_axes ? out_axes[k] : 0;
        if (a < 0) { /* counts from the back of the output, whose rank the body's declared type tells */
            const tt_type *t = body_out_type(j->body, N + k);
            a += t->kind == TT_KIND_TENSOR && t->rank >= 0 ? t->rank + 1 : -TT_MAX_RANK;
        }
        if (a < 0 || a >= TT_MAX_RANK)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "scan_output_axes[%d] = %" PRId64 " is out of range", k,
                               out_axes[k]);
        j->outs[k].axis = (int)a;
        j->outs[k].rev = out_dirs && out_dirs[k];
    }
    j->xs = xs;
    j->in_axis = axis;
    j->in_rev = rev;
    j->len = j->out_len = len;
    j->n_batch = n_batch;
    return TT_OK;
}

/* Scan-8: the body runs over each batch in turn, up to that batch's sequence length, and
 * the final states and scan outputs of batch b land at index b of the outputs. */
static tt_status scan8_batches(tt_kctx *c, scan_job *j, tt_value *batch_x, const tt_tensor **bx)
{
    int N = j->n_state, M = j->n_in;
    int64_t B = j->n_batch, L = j->out_len;
    const tt_tensor *const *xs = j->xs;
    const tt_tensor *lens = tt_kin(c, 0);
    if (lens && (!tt_dtype_is_int(lens->dtype) || tt_tensor_numel(lens) != B))
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "sequence_lens must hold %" PRId64 " integers", B);
    for (int i = 0; i < N; i++) {
        const tt_tensor *init = tt_kin(c, 1 + i);
        tt_tensor *o;
        if (!init || init->rank < 1 || init->dims[0] != B)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "initial state %d must be a tensor with %" PRId64 " batches", i, B);
        if (tt_kout_wanted(c, i))
            TT_TRY(tt_kctx_alloc(c, i, init->dtype, init->rank, init->dims, &o));
    }
    j->xs = bx;
    tt_status s = TT_OK;
    for (int64_t b = 0; b < B && s == TT_OK; b++) {
        j->batch = b;
        j->len = lens ? tt_load_i64(lens->data, lens->dtype, (size_t)b) : L;
        if (j->len < 0 || j->len > L)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "sequence_lens[%" PRId64 "] = %" PRId64 " is out of range [0, %" PRId64 "]", b, j->len,
                               L);
        for (int i = 0; i < N && s == TT_OK; i++)
            s = slice_at(tt_kin(c, 1 + i), 0, b, &j->state[i]);
        for (int m = 0; m < M && s == TT_OK; m++) {
            tt_value_release(&batch_x[m]);
            s = slice_at(xs[m], 0, b, &batch_x[m]);
            bx[m] = &batch_x[m].t;
        }
        if (s == TT_OK)
            s = scan_steps(j);
        for (int i = 0; i < N && s == TT_OK; i++) {
            const tt_tensor *init = tt_kin(c, 1 + i);
            const tt_value *f = &j->state[i];
            if (f->kind != TT_KIND_TENSOR || f->t.dtype != init->dtype || f->t.rank != init->rank - 1 ||
                memcmp(f->t.dims, init->dims + 1, sizeof(int64_t) * (size_t)f->t.rank) != 0)
                s = tt_op_error(c->node, TETHER_ERR_RUNTIME, "state %d changed shape in batch %" PRId64, i, b);
            else if (tt_kout(c, i))
                s = tt_copy_tensor_elems(tt_kout(c, i), b * tt_tensor_numel(&f->t), &f->t, 0, tt_tensor_numel(&f->t));
        }
        for (int i = 0; i < N; i++)
            tt_value_release(&j->state[i]);
    }
    j->xs = xs;
    return s;
}

static tt_status run_scan(tt_kctx *c)
{
    const tt_graph *body = graph_attr(c->node, "body");
    bool v8 = c->node->opset < 9;
    int lead = v8, N, M, K;
    TT_TRY(scan_counts(c->node, body, c->n_in, c->n_out, lead, &N, &M, &K));
    const tt_tensor **xs = tt_calloc((size_t)M + 1, sizeof *xs), **bx = tt_calloc((size_t)M + 1, sizeof *bx);
    int *axis = tt_calloc((size_t)M + 1, sizeof *axis);
    bool *rev = tt_calloc((size_t)M + 1, sizeof *rev);
    scan_out *outs = tt_calloc((size_t)K + 1, sizeof *outs);
    tt_value *state = values_new(N), *batch_x = values_new(M);
    scan_job j = {
        .c = c, .body = body, .n_state = N, .n_in = M, .n_out = K, .first_out = N, .state = state, .outs = outs};
    tt_status s = xs && bx && axis && rev && outs && state && batch_x
                      ? scan_setup(c, v8, lead, &j, axis, rev, xs)
                      : tt_error(TETHER_ERR_NO_MEMORY, "out of memory running a scan");
    if (s == TT_OK && v8) {
        s = scan8_batches(c, &j, batch_x, bx);
    } else if (s == TT_OK) {
        for (int i = 0; i < N && s == TT_OK; i++)
            s = c->in[i] ? tt_value_share(c->in[i], &state[i]) : TT_OK;
        if (s == TT_OK)
            s = scan_steps(&j);
        for (int i = 0; i < N && s == TT_OK; i++)
            s = take_output(c, i, &state[i]);
    }
    if (s == TT_OK)
        s = scan_outs_finish(&j);
    values_free(state, N);
    values_free(batch_x, M);
    tt_free(xs);
    tt_free(bx);
    tt_free(axis);
    tt_free(rev);
    tt_free(outs);
    return s;
}

/* ---- SequenceMap -------------------------------------------------------------------------- */

static tt_status prepare_sequence_map(tt_node *n, void **state)
{
    (void)state;
    tt_graph *body;
    TT_TRY(need_graph(n, "body", &body));
    for (int i = 0; i < n->n_inputs; i++) {
        const tt_type *in = node_in_type(body, n, i);
        if (in) {
            tt_type t = elem_type(in);
            seed_body_input(body, i, &t);
        }
    }
    return TT_OK;
}

static tt_status infer_sequence_map(tt_ictx *c)
{
    tt_graph *body;
    TT_TRY(need_graph(c->node, "body", &body));
    const tt_type *s = tt_iin(c, 0);
    if (!s || s->kind == TT_KIND_TENSOR)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input 0 must be a sequence");
    if (body->n_inputs != c->n_in || body->n_outputs < c->n_out)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL,
                           "the body takes %d inputs and has %d outputs; the node has %d inputs and %d outputs",
                           body->n_inputs, body->n_outputs, c->n_in, c->n_out);
    for (int k = 0; k < c->n_out; k++) {
        tt_type t = *body_out_type(body, k);
        if (t.kind == TT_KIND_TENSOR || t.kind == TT_KIND_NONE)
            t.kind = TT_KIND_SEQUENCE;
        else
            return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "body output %d must be a tensor", k);
        c->out[k] = t;
    }
    return TT_OK;
}

static tt_status run_sequence_map(tt_kctx *c)
{
    const tt_graph *body = graph_attr(c->node, "body");
    int nin = c->n_in, nout = c->n_out;
    if (!c->in[0] || c->in[0]->kind != TT_KIND_SEQUENCE)
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "input 0 is not a sequence");
    int len = c->in[0]->seq->n;
    for (int i = 1; i < nin; i++) {
        const tt_value *v = c->in[i];
        if (!v || v->kind == TT_KIND_NONE)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "input %d is missing", i);
        if (v->kind == TT_KIND_SEQUENCE && v->seq->n != len)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME, "input %d is a sequence of %d, input 0 of %d", i, v->seq->n,
                               len);
    }
    tt_value *in = values_new(nin), *out = values_new(body->n_outputs);
    tt_seq **seqs = tt_calloc((size_t)nout + 1, sizeof *seqs);
    tt_status s = in && out && seqs ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    for (int k = 0; k < nout && s == TT_OK; k++)
        s = tt_seq_new(body_out_type(body, k)->dtype, len, &seqs[k]);
    for (int t = 0; t < len && s == TT_OK; t++) {
        if ((s = tt_kctx_check(c)) != TT_OK)
            break;
        /* the body borrows this step's elements: the inputs outlive the step */
        for (int i = 0; i < nin; i++) {
            const tt_value *v = c->in[i];
            in[i] = v->kind == TT_KIND_SEQUENCE ? (tt_value){.kind = TT_KIND_TENSOR, .t = v->seq->items[t]} : *v;
        }
        s = tt_kctx_run_subgraph(c, body, in, nin, out);
        for (int k = 0; k < nout && s == TT_OK; k++) {
            tt_tensor *e = &out[k].t;
            if (out[k].kind != TT_KIND_TENSOR)
                s = tt_op_error(c->node, TETHER_ERR_RUNTIME, "body output %d must be a tensor", k);
            else if (seqs[k]->n == 0 && body_out_type(body, k)->dtype == TETHER_DTYPE_UNDEFINED)
                seqs[k]->dtype = e->dtype; /* an untyped body output: the first element tells */
            if (s == TT_OK && e->dtype != seqs[k]->dtype)
                s = tt_op_error(c->node, TETHER_ERR_RUNTIME, "body output %d is %s, the sequence holds %s", k,
                                tt_dtype_name(e->dtype), tt_dtype_name(seqs[k]->dtype));
            /* a sequence keeps heap storage only (see ops/seq.c) */
            if (s == TT_OK && !(e->buf && e->buf->heap && !e->buf->pooled)) {
                tt_tensor copy;
                s = tt_tensor_clone(e, &copy);
                if (s == TT_OK) {
                    tt_tensor_release(e);
                    *e = copy;
                }
            }
            if (s == TT_OK && (s = tt_seq_insert(seqs[k], -1, e)) == TT_OK)
                memset(&out[k], 0, sizeof out[k]);
        }
        for (int k = 0; k < body->n_outputs; k++)
            tt_value_release(&out[k]);
    }
    for (int k = 0; k < nout; k++) {
        if (s == TT_OK && tt_kout_wanted(c, k)) {
            tt_value_release(c->out[k]);
            c->out[k]->kind = TT_KIND_SEQUENCE;
            c->out[k]->seq = seqs[k];
        } else if (seqs) {
            tt_seq_free(seqs[k]);
        }
    }
    tt_free(seqs);
    tt_free(in); /* borrowed values: nothing to release */
    values_free(out, body->n_outputs);
    return s;
}

const tt_op_schema tt_schemas_control[] = {
    TT_SCHEMA("If", 1, 0, infer_if, .flags = TT_OP_NO_FOLD),
    TT_SCHEMA("Loop", 1, 0, infer_loop, .parse = prepare_loop, .flags = TT_OP_NO_FOLD),
    TT_SCHEMA("Scan", 8, 8, infer_scan, .parse = prepare_scan, .flags = TT_OP_NO_FOLD),
    TT_SCHEMA("Scan", 9, 0, infer_scan, .parse = prepare_scan, .flags = TT_OP_NO_FOLD),
    TT_SCHEMA("SequenceMap", 17, 0, infer_sequence_map, .parse = prepare_sequence_map, .flags = TT_OP_NO_FOLD),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_control[] = {
    TT_KERNEL("If", 1, 0, 0, run_if),
    TT_KERNEL("Loop", 1, 0, 0, run_loop),
    TT_KERNEL("Scan", 8, 8, 0, run_scan),
    TT_KERNEL("Scan", 9, 0, 0, run_scan),
    TT_KERNEL("SequenceMap", 17, 0, 0, run_sequence_map),
    TT_KERNEL_END,
};
