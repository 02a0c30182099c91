/* Session preparation. First one pass over each graph in order: find each node's schema
 * (failing at load on an unknown op or opset), parse attributes, infer types and shapes,
 * and fold nodes whose inputs are all constants into new constants (with the reference
 * kernels). After passes and placement, each placed kernel prepares its node. */
#include "runtime/prepare.h"

#include "backends/backend.h"
#include "core/log.h"
#include "graph/graph.h"
#include "runtime/exec.h"

#include <limits.h>
#include <string.h>

#define TT_FOLD_MAX_BYTES ((size_t)64 << 20)

static bool node_has_subgraphs(const tt_node *n)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].type == TT_ATTR_GRAPH || n->attrs[i].type == TT_ATTR_GRAPHS)
            return true;
    return false;
}

/* Moves a folded tensor into the model's arena so it lives as long as the model. */
static tt_status persist(tt_model *m, const tt_tensor *src, tt_tensor **out)
{
    tt_tensor *t = tt_arena_alloc(&m->arena, sizeof *t);
    if (!t)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory folding constants");
    *t = *src;
    t->buf = NULL;
    size_t bytes = tt_tensor_nbytes(src);
    t->data = tt_arena_alloc_data(&m->arena, bytes ? bytes : 1);
    if (!t->data)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory folding constants");
    if (src->dtype == TETHER_DTYPE_STRING) {
        int64_t n = tt_tensor_numel(src);
        for (int64_t i = 0; i < n; i++) {
            char *s = tt_arena_strdup(&m->arena, ((char *const *)src->data)[i]);
            if (!s)
                return tt_error(TETHER_ERR_NO_MEMORY, "out of memory folding constants");
            ((char **)t->data)[i] = s;
        }
    } else if (bytes) {
        memcpy(t->data, src->data, bytes);
    }
    m->weight_bytes += bytes;
    *out = t;
    return TT_OK;
}

static bool foldable(const tt_graph *g, const tt_node *n)
{
    if (n->schema->flags & (TT_OP_RANDOM | TT_OP_NO_FOLD))
        return false;
    if (n->n_implicit || node_has_subgraphs(n))
        return false;
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && g->values[n->inputs[k]].origin != TT_VALUE_CONST)
            return false;
    for (int k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] >= 0 && g->values[n->outputs[k]].type.kind != TT_KIND_TENSOR)
            return false;
    return true;
}

static tt_status prepare_node(tt_graph *g, int i, bool fold)
{
    tt_node *n = &g->nodes[i];
    TT_TRY(tt_node_bind(n));
    for (int a = 0; a < n->n_attrs; a++) {
        tt_attr *at = &n->attrs[a];
        if (at->type == TT_ATTR_GRAPH)
            TT_TRY(tt_graph_prepare(at->g, fold));
        for (size_t j = 0; at->type == TT_ATTR_GRAPHS && j < at->n; j++)
            TT_TRY(tt_graph_prepare(at->graphs[j], fold));
    }
    return tt_node_infer(g, n);
}

/* Runs node i on constants and turns its outputs into constants. */
static tt_status fold_node(tt_graph *g, tt_frame *f, int i, bool *folded)
{
    tt_node *n = &g->nodes[i];
    *folded = false;
    /* folding runs the reference kernel; placement chooses the node's real one later */
    tt_kprep p;
    TT_TRY(tt_kprep_make(g, n, &p));
    const tt_kernel *ref = tt_backend_find_kernel(&tt_backend_ref, &p, p.in);
    tt_kprep_free(&p);
    if (!ref)
        return TT_OK; /* placement reports it */
    n->kernel = ref;
    n->backend = &tt_backend_ref;
    tt_status s = tt_exec_node(f, i);
    n->kernel = NULL;
    n->backend = NULL;
    if (s != TT_OK) {
        /* leave it to run time, where the same error will name the node if it recurs */
        TT_DEBUG("not folding node '%s' (%s): %s", n->name, n->op_type, tt_last_error());
        tt_error_clear();
        return TT_OK;
    }
    bool ok = true;
    for (int k = 0; k < n->n_outputs; k++) {
        int v = n->outputs[k];
        if (v >= 0 && (f->vals[v].kind != TT_KIND_TENSOR || tt_tensor_nbytes(&f->vals[v].t) > TT_FOLD_MAX_BYTES))
            ok = false;
    }
    for (int k = 0; k < n->n_outputs && ok; k++) {
        int v = n->outputs[k];
        if (v < 0)
            continue;
        tt_tensor *t = NULL;
        TT_TRY(persist(g->model, &f->vals[v].t, &t));
        tt_value_release(&f->vals[v]);
        f->vals[v].kind = TT_KIND_TENSOR;
        f->vals[v].t = *t;
        tt_value_decl *d = &g->values[v];
        d->origin = TT_VALUE_CONST;
        d->init = t;
        d->producer = -1;
        tt_type_tensor(&d->type, t->dtype, t->rank, t->dims);
    }
    if (ok) {
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                g->values[n->inputs[k]].n_consumers--;
        *folded = true;
    }
    return TT_OK;
}

tt_status tt_graph_prepare(tt_graph *g, bool fold)
{
    if (g->parent)
        for (int i = 0; i < g->n_outer; i++) {
            tt_value_decl *d = &g->values[g->outer[i]];
            d->type = g->parent->values[d->outer].type;
        }
    tt_frame f = {.g = g};
    bool *dead = tt_calloc((size_t)g->n_nodes + 1, sizeof *dead);
    f.vals = tt_calloc((size_t)g->n_values + 1, sizeof *f.vals);
    f.remaining = tt_calloc((size_t)g->n_values + 1, sizeof *f.remaining);
    tt_status s = TT_OK;
    if (!dead || !f.vals || !f.remaining) {
        s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing graph '%s'", g->name);
        goto done;
    }
    for (int v = 0; v < g->n_values; v++)
        f.remaining[v] = INT_MAX / 2; /* folding keeps every value it makes */
    tt_frame_bind_static(&f);
    int ndead = 0;
    for (int i = 0; i < g->n_nodes && s == TT_OK; i++) {
        s = prepare_node(g, i, fold);
        if (s == TT_OK && fold && foldable(g, &g->nodes[i])) {
            s = fold_node(g, &f, i, &dead[i]);
            ndead += dead[i];
        }
    }
    if (s == TT_OK && ndead) {
        int *newpos = tt_malloc(sizeof(int) * (size_t)g->n_nodes);
        if (!newpos) {
            s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing graph '%s'", g->name);
            goto done;
        }
        int j = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            newpos[i] = j;
            if (dead[i]) {
                tt_node_release(&g->nodes[i]);
                continue;
            }
            g->nodes[j++] = g->nodes[i];
        }
        /* a value of a node a pass dropped has no producer (-1) and keeps none */
        for (int v = 0; v < g->n_values; v++)
            if (g->values[v].origin == TT_VALUE_NODE && g->values[v].producer >= 0)
                g->values[v].producer = newpos[g->values[v].producer];
        g->n_nodes = j;
        tt_free(newpos);
    }
done:
    if (f.vals)
        for (int v = 0; v < g->n_values; v++)
            if (g->values[v].origin == TT_VALUE_NODE)
                tt_value_release(&f.vals[v]);
    tt_free(f.vals);
    tt_free(f.remaining);
    tt_free(dead);
    return s;
}

void tt_node_release(tt_node *n)
{
    if (n->kstate) {
        if (n->kernel && n->kernel->release)
            n->kernel->release(n->kstate);
        else
            tt_free(n->kstate);
        n->kstate = NULL;
    }
    if (n->state) {
        if (n->schema && n->schema->release)
            n->schema->release(n->state);
        else
            tt_free(n->state);
        n->state = NULL;
    }
}

void tt_graph_release(tt_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++) {
        tt_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].type == TT_ATTR_GRAPH)
                tt_graph_release(n->attrs[a].g);
            for (size_t j = 0; n->attrs[a].type == TT_ATTR_GRAPHS && j < n->attrs[a].n; j++)
                tt_graph_release(n->attrs[a].graphs[j]);
        }
        tt_node_release(n);
    }
    for (int i = 0; i < g->n_owned; i++)
        tt_buf_release(g->owned[i]);
    g->n_owned = 0;
}

tt_status tt_graph_compile(tt_graph *g, const tt_backend_list *bl, bool passes)
{
    TT_TRY(tt_graph_prepare(g, true));
    /* passes, then folding of what they made constant (which also sharpens inferred shapes),
     * again while something changes: shape arithmetic folds in steps */
    g->model->backends = bl;
    tt_status s = TT_OK;
    for (int round = 0; passes && round < 8 && s == TT_OK; round++) {
        bool changed;
        s = tt_graph_run_passes_changed(g, false, &changed);
        if (s != TT_OK || !changed)
            break;
        s = tt_graph_prepare(g, true);
    }
    if (passes && s == TT_OK) {
        bool changed;
        s = tt_graph_run_passes_changed(g, true, &changed); /* they type what they make */
    }
    g->model->backends = NULL;
    TT_TRY(s);
    TT_TRY(tt_graph_place(g, bl));
    return tt_graph_prepare_kernels(g);
}

/* Frees the data of constants every reader of which packed its own copy (tt_kernel.packed):
 * the weights are then held once, in the kernels' layout. */
static void release_packed(tt_graph *g)
{
    bool *keep = tt_calloc((size_t)g->n_values + 1, sizeof *keep);
    if (!keep)
        return; /* nothing freed: the weights stay twice */
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v >= 0 && !(n->kernel->packed && n->kstate && n->kernel->packed(n->kstate, k)))
                keep[v] = true;
        }
        for (int k = 0; k < n->n_implicit; k++)
            keep[n->implicit[k]] = true;
    }
    for (int i = 0; i < g->n_outputs; i++)
        keep[g->outputs[i]] = true;
    for (int v = 0; v < g->n_values; v++) {
        tt_value_decl *d = &g->values[v];
        if (keep[v] || d->origin != TT_VALUE_CONST || !d->n_consumers || !d->init || !d->init->data ||
            !tt_buft_is_host(d->buft) || d->init->dtype == TETHER_DTYPE_STRING)
            continue;
        if (tt_arena_release(&g->model->arena, d->init->data, tt_tensor_nbytes(d->init)))
            d->init->data = NULL;
    }
    tt_free(keep);
}

tt_status tt_graph_prepare_kernels(tt_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        tt_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].type == TT_ATTR_GRAPH)
                TT_TRY(tt_graph_prepare_kernels(n->attrs[a].g));
            for (size_t j = 0; n->attrs[a].type == TT_ATTR_GRAPHS && j < n->attrs[a].n; j++)
                TT_TRY(tt_graph_prepare_kernels(n->attrs[a].graphs[j]));
        }
        if (!n->kernel->prepare || n->kstate)
            continue;
        tt_kprep p;
        TT_TRY(tt_kprep_make(g, n, &p));
        tt_status s = n->kernel->prepare(&p, &n->kstate);
        tt_kprep_free(&p);
        if (s != TT_OK)
            return tt_error_prefix(s, "node '%s' (%s) on %s: ", n->name, n->op_type, n->backend->name);
    }
    release_packed(g);
    return TT_OK;
}
