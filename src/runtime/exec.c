/* The executor: runs nodes in topological order, infers each node's concrete output shapes,
 * allocates outputs (from the plan's arena of the value's buffer type where it fits, else
 * the heap), calls each node's placed kernel through a tt_kctx, and frees values after
 * their last consumer. */
#include "runtime/exec.h"

#include "core/cancel.h"
#include "core/log.h"
#include "runtime/profile.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* What a kctx's exec points at. */
typedef struct exec_ctx {
    tt_frame *f;
    tt_scratch *scratch;   /* the run's, or one for this call alone (constant folding) */
} exec_ctx;

/* The top frame's run context, where the deadline, scratch and plan live. */
static tt_run *frame_run(const tt_frame *f)
{
    while (f->parent)
        f = f->parent;
    return f->run;
}

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

/* Where output k of node n is stored: the value's placed buffer type, or (an output the
 * model leaves unnamed) the kernel's. */
static const tt_buft *output_buft(const tt_graph *g, const tt_node *n, int k)
{
    if (n->outputs[k] >= 0)
        return g->values[n->outputs[k]].buft;
    if (!n->backend || tt_buft_is_host(n->backend->buft) || ((n->kernel->host_outputs >> k) & 1))
        return NULL;
    return n->backend->buft;
}

/* Allocates tensor storage for value vid of frame f (of buffer type bt), shaped as t. */
static tt_status frame_alloc(tt_frame *f, int vid, const tt_buft *bt, tt_tensor *t)
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
        int a = r->plan->arena_of[vid];
        tt_buf *b = &r->bufs[vid];
        *b = (tt_buf){.refs = 1, .pooled = true, .type = bt, .nbytes = bytes, .data = r->arena[a] + r->plan->offset[vid]};
        t->buf = b;
        t->data = b->data;
        if (tt_buft_is_host(bt))
            poison(t->data, bytes);
        return TT_OK;
    }
    TT_TRY(tt_buf_new_typed(bt, bytes, &t->buf));
    t->data = t->buf->data;
    if (tt_buft_is_host(bt))
        poison(t->data, bytes);
    return TT_OK;
}

static tt_status kctx_alloc(tt_kctx *c, int i, tt_dtype dtype, int rank, const int64_t *dims, tt_tensor **out)
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
    tt_frame *f = ((exec_ctx *)c->exec)->f;
    TT_TRY(frame_alloc(f, c->node->outputs[i], output_buft(f->g, c->node, i), &v->t));
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

/* ---- what kernels call (tt_kctx_ops) ---------------------------------------------------------- */

/* The embedding program's own check on this thread (core/cancel.h: tetherd stops a run whose
 * client left, whose attachment ended, or whose server is stopping). */
static tt_status host_check(const tt_node *n, const char *where)
{
    tt_status s = tt_cancel_poll();
    if (s != TT_OK)
        return tt_error_prefix(s, "the run was stopped %s node '%s' (%s): ", where, n->name, n->op_type);
    return TT_OK;
}

static tt_status kctx_check(const tt_kctx *c)
{
    const tt_run *r = frame_run(((const exec_ctx *)c->exec)->f);
    if (!r)
        return host_check(c->node, "in");
    if (r->cancel && atomic_load(r->cancel))
        return tt_error(TETHER_ERR_TIMEOUT, "the run was cancelled in node '%s' (%s)", c->node->name,
                        c->node->op_type);
    if (r->deadline_ns && tt_profile_now_ns() > r->deadline_ns)
        return tt_error(TETHER_ERR_TIMEOUT, "the run passed its time limit in node '%s' (%s)", c->node->name,
                        c->node->op_type);
    return host_check(c->node, "in");
}

/* A kernel call's stop scope polls the same check (core/cancel.h), from whichever thread
 * works on the call. */
static tt_status kctx_stop_check(const void *ud) { return kctx_check(ud); }

static void *kctx_scratch(tt_kctx *c, size_t bytes)
{
    tt_scratch *sc = ((exec_ctx *)c->exec)->scratch;
    size_t size = (bytes + TT_ALIGN - 1) & ~(size_t)(TT_ALIGN - 1);
    if (bytes > tt_max_tensor_bytes() || size < bytes) {
        tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "wants %zu bytes of scratch, over the tensor size limit", bytes);
        return NULL;
    }
    if (!size)
        size = TT_ALIGN;
    void *p;
    if (sc->top == 0 && sc->n_extra == 0 && size > sc->cap) {
        /* nothing lives on the stack: grow it now rather than lend an overflow block, so a
         * first run does not allocate (and fault in) fresh memory call after call */
        uint8_t *nb = tt_malloc_aligned(size);
        if (nb) {
            tt_free_aligned(sc->base);
            sc->base = nb;
            sc->cap = size;
        }
    }
    if (sc->top + size <= sc->cap) {
        p = sc->base + sc->top;
        sc->top += size;
    } else {
        /* an overflow block for this call; the stack grows to fit when the run ends */
        if (sc->n_extra == sc->extra_cap) {
            int cap = sc->extra_cap ? sc->extra_cap * 2 : 8;
            void **e = tt_realloc(sc->extra, (size_t)cap * sizeof *e);
            if (!e) {
                tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory for scratch");
                return NULL;
            }
            sc->extra = e;
            sc->extra_cap = cap;
        }
        if (!(p = tt_malloc_aligned(size))) {
            tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory for %zu bytes of scratch", bytes);
            return NULL;
        }
        sc->extra[sc->n_extra++] = p;
        sc->extra_bytes += size;
    }
    if (sc->top + sc->extra_bytes > sc->high)
        sc->high = sc->top + sc->extra_bytes;
    return p;
}

static tt_status kctx_run_subgraph(tt_kctx *c, const tt_graph *g, tt_value *inputs, int n_inputs, tt_value *outputs);

static const tt_kctx_ops g_kctx_ops = {
    .alloc = kctx_alloc,
    .run_subgraph = kctx_run_subgraph,
    .check = kctx_check,
    .scratch = kctx_scratch,
};

/* A kernel call's mark on the scratch stack, to pop back to when it returns. */
typedef struct scratch_mark {
    size_t top, extra_bytes;
    int n_extra;
} scratch_mark;

static scratch_mark scratch_push(const tt_scratch *sc)
{
    return (scratch_mark){.top = sc->top, .extra_bytes = sc->extra_bytes, .n_extra = sc->n_extra};
}

static void scratch_pop(tt_scratch *sc, scratch_mark m)
{
    while (sc->n_extra > m.n_extra)
        tt_free_aligned(sc->extra[--sc->n_extra]);
    sc->extra_bytes = m.extra_bytes;
    sc->top = m.top;
}

/* At the end of a run: one block big enough for everything the run wanted at once. */
static void scratch_settle(tt_scratch *sc)
{
    if (sc->high > sc->cap) {
        uint8_t *nb = tt_malloc_aligned(sc->high);
        if (nb) {
            tt_free_aligned(sc->base);
            sc->base = nb;
            sc->cap = sc->high;
        }
    }
    sc->top = 0;
}

static void scratch_free(tt_scratch *sc)
{
    scratch_pop(sc, (scratch_mark){0});
    tt_free(sc->extra);
    tt_free_aligned(sc->base);
    memset(sc, 0, sizeof *sc);
}

tt_status tt_exec_node(tt_frame *f, int ni)
{
    const tt_graph *g = f->g;
    const tt_node *n = &g->nodes[ni];
    const tt_op_schema *op = n->schema;
    const tt_kernel *kern = n->kernel;
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
        /* infer reads values only where the CPU can: a device tensor's shape is known, its
         * data is not (kernels declare the inputs they need on the host) */
        val[k] = in[k]->kind == TT_KIND_TENSOR && tt_tensor_on_host(&in[k]->t) ? &in[k]->t : NULL;
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
        const tt_tensor *src = nin > 0 && in[0] && in[0]->kind == TT_KIND_TENSOR ? &in[0]->t : NULL;
        if (k == 0 && (kern->flags & TT_KERNEL_VIEW) && src) {
            if (tt_tensor_nbytes(t) != tt_tensor_nbytes(src) || t->dtype != src->dtype) {
                s = tt_op_error(n, TETHER_ERR_SHAPE, "cannot view %" PRId64 " elements as %" PRId64,
                                tt_tensor_numel(src), tt_tensor_numel(t));
                break;
            }
            tt_tensor view = tt_tensor_share(src);
            memcpy(view.dims, t->dims, sizeof view.dims);
            view.rank = t->rank;
            *t = view;
        } else {
            s = frame_alloc(f, n->outputs[k], output_buft(g, n, k), t);
        }
        if (s == TT_OK)
            outv[k]->kind = TT_KIND_TENSOR;
    }
    if (s == TT_OK && kern->run) {
        tt_run *r = frame_run(f);
        tt_scratch own = {0};
        exec_ctx ec = {.f = f, .scratch = r ? &r->scratch : &own};
        scratch_mark mark = scratch_push(ec.scratch);
        tt_kctx kc = {.node = n, .ops = &g_kctx_ops, .exec = &ec, .n_in = nin, .n_out = nout, .in = in,
                      .out = outv, .state = n->state, .kstate = n->kstate, .backend = n->backend};
        for (int b = 0; r && b < r->n_bctx; b++)
            if (r->bctx_backend[b] == n->backend)
                kc.bctx = r->bctx[b];
        uint64_t t0 = tt_profile_enabled() ? tt_profile_now_ns() : 0;
        /* long loops inside the kernel (and the helpers it calls) poll the run's limit and
         * stop early; a stopped call fails, whatever the kernel returned */
        tt_stop_scope stop;
        tt_stop_begin(&stop, kctx_stop_check, &kc);
        s = kern->run(&kc);
        s = tt_stop_end(&stop, s);
        if (t0)
            tt_profile_add(n, tt_profile_now_ns() - t0);
        scratch_pop(ec.scratch, mark);
        if (!r)
            scratch_free(&own);
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

tt_status tt_frame_exec(tt_frame *f)
{
    const tt_run *r = frame_run(f);
    for (int i = 0; i < f->g->n_nodes; i++) {
        if (r && r->cancel && atomic_load(r->cancel))
            return tt_error(TETHER_ERR_TIMEOUT, "the run was cancelled before node '%s' (%s)", f->g->nodes[i].name,
                            f->g->nodes[i].op_type);
        if (r && r->deadline_ns && tt_profile_now_ns() > r->deadline_ns)
            return tt_error(TETHER_ERR_TIMEOUT, "the run passed its time limit before node '%s' (%s)",
                            f->g->nodes[i].name, f->g->nodes[i].op_type);
        TT_TRY(host_check(&f->g->nodes[i], "before"));
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

static tt_status kctx_run_subgraph(tt_kctx *c, const tt_graph *g, tt_value *inputs, int n_inputs, tt_value *outputs)
{
    if (n_inputs != g->n_inputs)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "subgraph '%s' takes %d inputs, given %d", g->name,
                           g->n_inputs, n_inputs);
    tt_frame f = {.g = g, .parent = ((exec_ctx *)c->exec)->f};
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
    /* a context of each backend that keeps per-run state (subgraphs run on host backends) */
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_backend *b = g->nodes[i].backend;
        if (!b || !b->ctx_new)
            continue;
        bool have = false;
        for (int k = 0; k < r->n_bctx && !have; k++)
            have = r->bctx_backend[k] == b;
        if (have)
            continue;
        if (r->n_bctx == TT_MAX_BACKENDS) {
            tt_run_free(r);
            return tt_error(TETHER_ERR_INTERNAL, "more than %d backends with run contexts", TT_MAX_BACKENDS);
        }
        tt_status s = b->ctx_new(b, &r->bctx[r->n_bctx]);
        if (s != TT_OK) {
            tt_run_free(r);
            return tt_error_prefix(s, "a run context on %s: ", b->name);
        }
        r->bctx_backend[r->n_bctx++] = b;
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
    for (int a = 0; a < TT_PLAN_MAX_ARENAS; a++)
        if (r->arena[a])
            (r->arena_buft[a] ? r->arena_buft[a] : &tt_buft_host)->free(r->arena_buft[a], r->arena[a]);
    for (int b = 0; b < r->n_bctx; b++)
        r->bctx_backend[b]->ctx_free(r->bctx_backend[b], r->bctx[b]);
    scratch_free(&r->scratch);
    tt_free(r);
}

tt_status tt_run_use_plan(tt_run *r, const tt_plan *plan)
{
    r->plan = plan;
    for (int a = 0; plan && a < plan->n_arenas; a++) {
        const tt_buft *bt = plan->arena_buft[a] ? plan->arena_buft[a] : &tt_buft_host;
        if (r->arena[a] && r->arena_buft[a] == plan->arena_buft[a] && r->arena_cap[a] >= plan->arena_size[a])
            continue;
        if (r->arena[a])
            (r->arena_buft[a] ? r->arena_buft[a] : &tt_buft_host)->free(r->arena_buft[a], r->arena[a]);
        r->arena[a] = NULL;
        r->arena_cap[a] = 0;
        r->arena_buft[a] = plan->arena_buft[a];
        r->arena[a] = bt->alloc(bt, plan->arena_size[a] ? plan->arena_size[a] : 1);
        if (!r->arena[a]) {
            r->plan = NULL;
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a %zu-byte activation arena in %s",
                            plan->arena_size[a], bt->name);
        }
        r->arena_cap[a] = plan->arena_size[a];
    }
    return TT_OK;
}

static tt_status run_once(tt_run *r, const tt_value *inputs, bool *again)
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
    const void *arena[TT_PLAN_MAX_ARENAS];
    for (int a = 0; a < TT_PLAN_MAX_ARENAS; a++)
        arena[a] = r->plan ? r->arena[a] : NULL;
    tt_run_info ri = {.plan = r->plan, .arena = arena, .steady = r->plan && r->plan->device_planned};
    tt_status s = TT_OK;
    int begun = 0;
    for (; begun < r->n_bctx && s == TT_OK; begun++)
        if (r->bctx_backend[begun]->run_begin)
            s = r->bctx_backend[begun]->run_begin(r->bctx_backend[begun], r->bctx[begun], &ri);
    if (s == TT_OK)
        s = tt_frame_exec(&f);
    /* every backend that began hears the outcome, so none is left mid-run */
    for (int b = 0; b < begun; b++) {
        const tt_backend *be = r->bctx_backend[b];
        if (!be->run_end)
            continue;
        bool a = false;
        tt_status e = be->run_end(be, r->bctx[b], s, &a);
        if (s == TT_OK)
            s = e;
        *again |= a;
    }
    return s;
}

tt_status tt_run_exec(tt_run *r, const tt_value *inputs)
{
    bool again = false;
    tt_status s = run_once(r, inputs, &again);
    if (again) {
        /* a backend asked for the run again (its first attempt's work is void) */
        TT_DEBUG("repeating a run at its backend's request (%s)", s == TT_OK ? "ok" : tt_last_error());
        tt_error_clear();
        tt_frame f = {.g = r->g, .run = r, .vals = r->vals, .remaining = r->remaining};
        frame_release(&f);
        bool twice = false;
        s = run_once(r, inputs, &twice);
    }
    return s;
}

void tt_run_reset(tt_run *r)
{
    tt_frame f = {.g = r->g, .run = r, .vals = r->vals, .remaining = r->remaining};
    frame_release(&f);
    scratch_settle(&r->scratch);
}
