/* The executor: runs nodes in topological order, infers each node's concrete output shapes,
 * allocates outputs (from the plan's arena where it fits, else the heap), calls kernels,
 * and frees values after their last consumer. */
#include "runtime/exec.h"

#include "core/cancel.h"
#include "core/log.h"
#include "runtime/profile.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void tt_value_type(const tt_value *v, const tt_type *declared, tt_type *t)
{
    if (v->kind == TT_KIND_TENSOR) {
        tt_type_tensor(t, v->t.dtype, v->t.rank, v->t.dims);
    } else if (v->kind == TT_KIND_SEQUENCE) {
        memset(t, 0, sizeof *t);
        t->kind = TT_KIND_SEQUENCE;
        t->dtype = v->seq->dtype;
        t->rank = -1;
    } else if (declared) {
        *t = *declared; /* an empty optional keeps its declared type */
    } else {
        memset(t, 0, sizeof *t);
        t->rank = -1;
    }
}

static void poison(void *p, size_t n)
{
#ifdef TETHER_SANITIZE
    memset(p, 0xff, n); /* kernels must write every output element: make misses visible */
#else
    (void)p;
    (void)n;
#endif
}

/* Allocates tensor storage for value vid of frame f, shaped as t. */
static tt_status frame_alloc(tt_frame *f, int vid, tt_tensor *t)
{
    size_t bytes = tt_tensor_nbytes(t);
    tt_run *r = f->run;
    if (t->dtype == TETHER_DTYPE_STRING) {
        tt_tensor shaped = *t;
        TT_TRY(tt_tensor_alloc(t, shaped.dtype, shaped.rank, shaped.dims));
        return TT_OK;
    }
    if (r && r->recording && vid >= 0 && bytes > r->rec[vid])
        r->rec[vid] = bytes;
    if (r && r->plan && vid >= 0 && r->plan->offset[vid] >= 0 && bytes <= r->plan->size[vid]) {
        tt_buf *b = &r->bufs[vid];
        *b = (tt_buf){.refs = 1, .pooled = true, .nbytes = bytes, .data = r->arena + r->plan->offset[vid]};
        t->buf = b;
        t->data = b->data;
        poison(t->data, bytes);
        return TT_OK;
    }
    TT_TRY(tt_buf_new_raw(bytes, &t->buf));
    t->data = t->buf->data;
    poison(t->data, bytes);
    return TT_OK;
}

tt_status tt_kctx_alloc(tt_kctx *c, int i, tt_dtype dtype, int rank, const int64_t *dims, tt_tensor **out)
{
    if (i >= c->n_out || !c->out[i])
        return tt_op_error(c->node, TETHER_ERR_INTERNAL, "output %d is not wanted", i);
    tt_value *v = c->out[i];
    if (v->kind == TT_KIND_TENSOR) {
        /* already allocated from inferred shape; it must agree */
        if (v->t.dtype == dtype && v->t.rank == rank && memcmp(v->t.dims, dims, sizeof(int64_t) * (size_t)rank) == 0) {
            *out = &v->t;
            return TT_OK;
        }
        tt_value_release(v);
    }
    tt_status s = tt_tensor_init(&v->t, dtype, rank, dims);
    if (s != TT_OK)
        return tt_error_prefix(s, "node '%s' (%s): output %d: ", c->node->name, c->node->op_type, i);
    TT_TRY(frame_alloc(c->frame, c->node->outputs[i], &v->t));
    v->kind = TT_KIND_TENSOR;
    *out = &v->t;
    return TT_OK;
}

void tt_frame_bind_static(tt_frame *f)
{
    const tt_graph *g = f->g;
    for (int v = 0; v < g->n_values; v++) {
        const tt_value_decl *d = &g->values[v];
        if (d->origin == TT_VALUE_CONST) {
            f->vals[v].kind = TT_KIND_TENSOR;
            f->vals[v].t = *d->init;
            f->vals[v].t.buf = NULL;
        } else if (d->origin == TT_VALUE_OUTER && f->parent) {
            f->vals[v] = f->parent->vals[d->outer];
        }
    }
}

static void consume(tt_frame *f, int v)
{
    if (v < 0 || f->g->values[v].origin != TT_VALUE_NODE)
        return;
    if (--f->remaining[v] == 0)
        tt_value_release(&f->vals[v]);
}

#define TT_LOCAL_IO 16

tt_status tt_exec_node(tt_frame *f, int ni)
{
    const tt_graph *g = f->g;
    const tt_node *n = &g->nodes[ni];
    const tt_op_def *op = n->op;
    int nin = n->n_inputs, nout = n->n_outputs;
    tt_value *in_local[TT_LOCAL_IO], *out_local[TT_LOCAL_IO];
    tt_type tin_local[TT_LOCAL_IO], tout_local[TT_LOCAL_IO];
    const tt_type *tinp_local[TT_LOCAL_IO];
    const tt_tensor *val_local[TT_LOCAL_IO];
    tt_value **in = in_local, **outv = out_local;
    tt_type *tin = tin_local, *tout = tout_local;
    const tt_type **tinp = tinp_local;
    const tt_tensor **val = val_local;
    void *heap = NULL;
    if (nin > TT_LOCAL_IO || nout > TT_LOCAL_IO) {
        size_t a = (size_t)(nin > nout ? nin : nout);
        heap = tt_calloc(a, 2 * sizeof(tt_value *) + 2 * sizeof(tt_type) + sizeof(tt_type *) + sizeof(tt_tensor *));
        if (!heap)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory running node '%s'", n->name);
        char *p = heap;
        in = (tt_value **)p, p += a * sizeof(tt_value *);
        outv = (tt_value **)p, p += a * sizeof(tt_value *);
        tin = (tt_type *)p, p += a * sizeof(tt_type);
        tout = (tt_type *)p, p += a * sizeof(tt_type);
        tinp = (const tt_type **)p, p += a * sizeof(tt_type *);
        val = (const tt_tensor **)p;
    }
    tt_status s = TT_OK;
    for (int k = 0; k < nin; k++) {
        int v = n->inputs[k];
        if (v < 0) {
            in[k] = NULL;
            tinp[k] = NULL;
            val[k] = NULL;
            continue;
        }
        in[k] = &f->vals[v];
        tt_value_type(in[k], &g->values[v].type, &tin[k]);
        tinp[k] = &tin[k];
        val[k] = in[k]->kind == TT_KIND_TENSOR ? &in[k]->t : NULL;
    }
    for (int k = 0; k < nout; k++) {
        memset(&tout[k], 0, sizeof tout[k]);
        tout[k].rank = -1;
        outv[k] = n->outputs[k] >= 0 ? &f->vals[n->outputs[k]] : NULL;
    }
    /* an output the model leaves unnamed still gets a value to write into, so no kernel
     * has to guard against it; it is dropped after the run */
    tt_value *scratch = NULL;
    for (int k = 0; k < nout; k++) {
        if (outv[k])
            continue;
        if (!scratch && !(scratch = tt_calloc((size_t)nout, sizeof *scratch))) {
            tt_free(heap);
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory running node '%s'", n->name);
        }
        outv[k] = &scratch[k];
    }
    tt_ictx ic = {.node = n, .n_in = nin, .n_out = nout, .in = tinp, .val = val, .out = tout, .concrete = true};
    s = op->infer(&ic);

    /* outputs whose shapes are now fixed are allocated here; the rest by the kernel */
    for (int k = 0; k < nout && s == TT_OK; k++) {
        if (!tt_type_static(&tout[k]))
            continue;
        tt_tensor *t = &outv[k]->t;
        s = tt_tensor_init(t, tout[k].dtype, tout[k].rank, tout[k].dims);
        if (s != TT_OK) {
            s = tt_error_prefix(s, "node '%s' (%s): output %d: ", n->name, n->op_type, k);
            break;
        }
        if (k == 0 && (op->flags & TT_OP_VIEW) && val[0]) {
            if (tt_tensor_nbytes(t) != tt_tensor_nbytes(val[0]) || t->dtype != val[0]->dtype) {
                s = tt_op_error(n, TETHER_ERR_SHAPE, "cannot view %" PRId64 " elements as %" PRId64,
                                tt_tensor_numel(val[0]), tt_tensor_numel(t));
                break;
            }
            tt_tensor view = tt_tensor_share(val[0]);
            memcpy(view.dims, t->dims, sizeof view.dims);
            view.rank = t->rank;
            *t = view;
        } else {
            s = frame_alloc(f, n->outputs[k], t);
        }
        if (s == TT_OK)
            outv[k]->kind = TT_KIND_TENSOR;
    }
    if (s == TT_OK && op->run) {
        tt_kctx kc = {.node = n, .frame = f, .n_in = nin, .n_out = nout, .in = in, .out = outv, .state = n->state};
        uint64_t t0 = tt_profile_enabled() ? tt_profile_now_ns() : 0;
        s = op->run(&kc);
        if (t0)
            tt_profile_add(op, tt_profile_now_ns() - t0);
    }
    for (int k = 0; k < nout && s == TT_OK; k++) {
        if (n->outputs[k] >= 0 && outv[k]->kind == TT_KIND_NONE && tout[k].kind != TT_KIND_OPTIONAL &&
            g->values[n->outputs[k]].type.kind != TT_KIND_OPTIONAL)
            s = tt_op_error(n, TETHER_ERR_INTERNAL, "the kernel produced no value for output %d", k);
    }
    if (s == TT_OK && f->run && f->run->recording) {
        uint64_t fl = 0;
        if (op->flops) {
            fl = op->flops(&ic);
        } else {
            for (int k = 0; k < nout; k++)
                if (n->outputs[k] >= 0 && outv[k]->kind == TT_KIND_TENSOR)
                    fl += (uint64_t)tt_tensor_numel(&outv[k]->t);
        }
        f->run->flops += fl;
    }
    if (s != TT_OK) {
        for (int k = 0; k < nout; k++)
            tt_value_release(outv[k]);
    } else {
        for (int k = 0; k < nin; k++)
            consume(f, n->inputs[k]);
        for (int k = 0; k < n->n_implicit; k++)
            consume(f, n->implicit[k]);
        for (int k = 0; k < nout; k++)
            if (n->outputs[k] >= 0 && f->remaining[n->outputs[k]] == 0)
                tt_value_release(&f->vals[n->outputs[k]]);
    }
    if (scratch) {
        for (int k = 0; k < nout; k++)
            tt_value_release(&scratch[k]);
        tt_free(scratch);
    }
    tt_free(heap);
    return s;
}

/* The top frame's run context, where the deadline lives. */
static const tt_run *frame_run(const tt_frame *f)
{
    while (f->parent)
        f = f->parent;
    return f->run;
}

/* Whether the run may go on: its deadline, then the host's cancellation check. */
static tt_status run_check(const tt_run *r, const tt_node *n, const char *where)
{
    if (r && r->deadline_ns && tt_profile_now_ns() > r->deadline_ns)
        return tt_error(TETHER_ERR_TIMEOUT, "the run passed its time limit %s node '%s' (%s)", where, n->name,
                        n->op_type);
    tt_status s = tt_cancel_poll();
    if (s != TT_OK)
        return tt_error_prefix(s, "the run was stopped %s node '%s' (%s): ", where, n->name, n->op_type);
    return TT_OK;
}

tt_status tt_kctx_check(const tt_kctx *c)
{
    return run_check(frame_run(c->frame), c->node, "in");
}

tt_status tt_frame_exec(tt_frame *f)
{
    const tt_run *r = frame_run(f);
    for (int i = 0; i < f->g->n_nodes; i++) {
        TT_TRY(run_check(r, &f->g->nodes[i], "before"));
        TT_TRY(tt_exec_node(f, i));
    }
    return TT_OK;
}

static void frame_init_counts(tt_frame *f)
{
    for (int v = 0; v < f->g->n_values; v++)
        f->remaining[v] = f->g->values[v].n_consumers;
}

static void frame_release(tt_frame *f)
{
    for (int v = 0; v < f->g->n_values; v++) {
        if (f->g->values[v].origin == TT_VALUE_NODE)
            tt_value_release(&f->vals[v]);
        else
            memset(&f->vals[v], 0, sizeof f->vals[v]);
    }
}

tt_status tt_kctx_run_subgraph(tt_kctx *c, const tt_graph *g, tt_value *inputs, int n_inputs, tt_value *outputs)
{
    if (n_inputs != g->n_inputs)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "subgraph '%s' takes %d inputs, given %d", g->name,
                           g->n_inputs, n_inputs);
    tt_frame f = {.g = g, .parent = c->frame};
    f.vals = tt_calloc((size_t)g->n_values, sizeof *f.vals);
    f.remaining = tt_calloc((size_t)g->n_values, sizeof *f.remaining);
    if (!f.vals || !f.remaining) {
        tt_free(f.vals);
        tt_free(f.remaining);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory running subgraph '%s'", g->name);
    }
    frame_init_counts(&f);
    tt_frame_bind_static(&f);
    for (int i = 0; i < n_inputs; i++)
        f.vals[g->inputs[i]] = inputs[i];
    tt_status s = tt_frame_exec(&f);
    int done = 0;
    for (int i = 0; i < g->n_outputs && s == TT_OK; i++, done++)
        s = tt_value_share(&f.vals[g->outputs[i]], &outputs[i]);
    if (s != TT_OK)
        for (int i = 0; i < done; i++)
            tt_value_release(&outputs[i]);
    frame_release(&f);
    tt_free(f.vals);
    tt_free(f.remaining);
    return s;
}

tt_status tt_run_new(const tt_graph *g, tt_run **out)
{
    tt_run *r = tt_calloc(1, sizeof *r);
    if (!r)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a run context");
    size_t n = (size_t)g->n_values;
    r->g = g;
    r->vals = tt_calloc(n, sizeof *r->vals);
    r->remaining = tt_calloc(n, sizeof *r->remaining);
    r->bufs = tt_calloc(n, sizeof *r->bufs);
    r->rec = tt_calloc(n, sizeof *r->rec);
    if (!r->vals || !r->remaining || !r->bufs || !r->rec) {
        tt_run_free(r);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a run context");
    }
    *out = r;
    return TT_OK;
}

void tt_run_free(tt_run *r)
{
    if (!r)
        return;
    if (r->vals)
        tt_run_reset(r);
    tt_free(r->vals);
    tt_free(r->remaining);
    tt_free(r->bufs);
    tt_free(r->rec);
    tt_free_aligned(r->arena);
    tt_free(r);
}

tt_status tt_run_use_plan(tt_run *r, const tt_plan *plan)
{
    r->plan = plan;
    if (plan && plan->total > r->arena_cap) {
        tt_free_aligned(r->arena);
        r->arena_cap = 0;
        r->arena = tt_malloc_aligned(plan->total);
        if (!r->arena) {
            r->plan = NULL;
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a %zu-byte activation arena", plan->total);
        }
        r->arena_cap = plan->total;
    }
    return TT_OK;
}

tt_status tt_run_exec(tt_run *r, const tt_value *inputs)
{
    const tt_graph *g = r->g;
    tt_frame f = {.g = g, .run = r, .vals = r->vals, .remaining = r->remaining};
    frame_init_counts(&f);
    tt_frame_bind_static(&f);
    for (int i = 0; i < g->n_inputs; i++)
        f.vals[g->inputs[i]] = inputs[i];
    if (r->recording) {
        memset(r->rec, 0, (size_t)g->n_values * sizeof *r->rec);
        r->flops = 0;
    }
    return tt_frame_exec(&f);
}

void tt_run_reset(tt_run *r)
{
    tt_frame f = {.g = r->g, .run = r, .vals = r->vals, .remaining = r->remaining};
    frame_release(&f);
}
