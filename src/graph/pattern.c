/* Pattern helpers and node-list rewrites for the graph passes (see pattern.h). */
#include "graph/pattern.h"

#include "core/log.h"
#include "ops/op.h"

#include <math.h>
#include <string.h>

int tt_pat_producer(const tt_graph *g, int v)
{
    if (v < 0 || v >= g->n_values || g->values[v].origin != TT_VALUE_NODE)
        return -1;
    return g->values[v].producer;
}

bool tt_pat_is(const tt_node *n, const char *op)
{
    if (strncmp(op, "com.tether:", 11) == 0)
        return strcmp(n->domain, TT_DOMAIN) == 0 && strcmp(n->op_type, op + 11) == 0;
    return tt_domain_eq(n->domain, "") && strcmp(n->op_type, op) == 0;
}

const tt_tensor *tt_pat_const(const tt_graph *g, int v)
{
    if (v < 0 || v >= g->n_values || g->values[v].origin != TT_VALUE_CONST || !tt_buft_is_host(g->values[v].buft))
        return NULL;
    return g->values[v].init;
}

bool tt_pat_scalar(const tt_graph *g, int v, double *out)
{
    const tt_tensor *t = tt_pat_const(g, v);
    if (!t || tt_tensor_numel(t) != 1 || t->dtype == TETHER_DTYPE_STRING)
        return false;
    *out = tt_load_f64(t->data, t->dtype, 0);
    return true;
}

bool tt_pat_scalar_is(const tt_graph *g, int v, double want, double tol)
{
    double x;
    return tt_pat_scalar(g, v, &x) && fabs(x - want) <= tol * fabs(want);
}

int tt_pat_other(const tt_node *n, int v)
{
    if (n->n_inputs != 2)
        return -1;
    if (n->inputs[0] == v)
        return n->inputs[1];
    if (n->inputs[1] == v)
        return n->inputs[0];
    return -1;
}

int tt_pat_only_reader(const tt_graph *g, int v)
{
    if (v < 0 || tt_graph_is_output(g, v))
        return -1;
    int found = -1, reads = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_implicit; k++)
            if (n->implicit[k] == v)
                return -1;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == v) {
                if (found >= 0 && found != i)
                    return -1;
                found = i;
                reads++;
            }
    }
    return reads == g->values[v].n_consumers ? found : -1;
}

bool tt_pat_same_shape(const tt_graph *g, int a, int b)
{
    const tt_type *x = &g->values[a].type, *y = &g->values[b].type;
    if (x->kind != TT_KIND_TENSOR || y->kind != TT_KIND_TENSOR || x->rank < 0 || x->rank != y->rank)
        return false;
    for (int d = 0; d < x->rank; d++)
        if (x->dims[d] == TT_DIM_UNKNOWN || x->dims[d] != y->dims[d])
            return false;
    return true;
}

int tt_pat_rank(const tt_graph *g, int v)
{
    const tt_type *t = &g->values[v].type;
    return t->kind == TT_KIND_TENSOR ? t->rank : -1;
}

tt_dtype tt_pat_dtype(const tt_graph *g, int v)
{
    const tt_type *t = &g->values[v].type;
    return t->kind == TT_KIND_TENSOR ? t->dtype : TETHER_DTYPE_UNDEFINED;
}

void tt_pat_release_node(tt_node *n)
{
    if (n->state) {
        if (n->schema && n->schema->release)
            n->schema->release(n->state);
        else
            tt_free(n->state);
        n->state = NULL;
    }
}

/* ---- rewrites -------------------------------------------------------------------------------- */

tt_status tt_rw_begin(tt_graph *g, tt_rw *rw)
{
    memset(rw, 0, sizeof *rw);
    rw->g = g;
    rw->drop = tt_calloc((size_t)g->n_nodes + 1, 1);
    rw->repl = tt_calloc((size_t)g->n_nodes + 1, sizeof *rw->repl);
    if (!rw->drop || !rw->repl) {
        tt_rw_abort(rw);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory rewriting graph '%s'", g->name);
    }
    return TT_OK;
}

void tt_rw_drop(tt_rw *rw, int i)
{
    rw->drop[i] = 1;
    rw->n_changes++;
}

tt_status tt_rw_fuse(tt_rw *rw, int at, int old, const tt_node_spec *spec, bool *done)
{
    *done = false;
    tt_node made;
    TT_TRY(tt_graph_make_node(rw->g, spec, &made));
    if (!tt_pass_backend_keeps(rw->g, &rw->g->nodes[old], &made)) {
        TT_DEBUG("not fusing '%s' into %s: its backend has no kernel for it", rw->g->nodes[old].name, spec->op_type);
        tt_pat_release_node(&made);
        return TT_OK;
    }
    rw->repl[at] = made;
    rw->drop[at] = 2;
    rw->n_changes++;
    *done = true;
    return TT_OK;
}

void tt_rw_abort(tt_rw *rw)
{
    for (int i = 0; rw->drop && rw->repl && i < rw->g->n_nodes; i++)
        if (rw->drop[i] == 2)
            tt_pat_release_node(&rw->repl[i]);
    tt_free(rw->drop);
    tt_free(rw->repl);
    memset(rw, 0, sizeof *rw);
}

tt_status tt_rw_end(tt_rw *rw, bool *changed)
{
    tt_graph *g = rw->g;
    if (!rw->n_changes) {
        tt_rw_abort(rw);
        return TT_OK;
    }
    tt_graph_edit e;
    tt_status s = tt_graph_edit_begin(g, &e);
    for (int i = 0; i < g->n_nodes && s == TT_OK; i++) {
        if (rw->drop[i] == 0)
            s = tt_graph_edit_push(&e, &g->nodes[i]);
        else if (rw->drop[i] == 2)
            s = tt_graph_edit_push(&e, &rw->repl[i]);
    }
    if (s != TT_OK) {
        tt_rw_abort(rw);
        return s;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (rw->drop[i])
            tt_pat_release_node(&g->nodes[i]);
    tt_graph_edit_end(&e);
    tt_free(rw->drop);
    tt_free(rw->repl);
    memset(rw, 0, sizeof *rw);
    *changed = true;
    return TT_OK;
}
