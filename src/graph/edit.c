/* Graph editing for passes and placement: new values and nodes in the model's arena,
 * per-node schema binding and type inference, node-list rewrites with consumer counts
 * kept right. */
#include "graph/graph.h"

#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define NOMEM(what) tt_error(TETHER_ERR_NO_MEMORY, "out of memory %s", what)

tt_status tt_kprep_make(const tt_graph *g, const tt_node *n, tt_kprep *p)
{
    memset(p, 0, sizeof *p);
    size_t nin = (size_t)n->n_inputs, nout = (size_t)n->n_outputs;
    char *mem = tt_calloc(1, (nin + 1) * (sizeof(tt_type *) + sizeof(tt_tensor *)) + (nout + 1) * sizeof(tt_type));
    if (!mem)
        return NOMEM("describing a node to its kernel");
    const tt_type **in = (const tt_type **)mem;
    const tt_tensor **cst = (const tt_tensor **)(mem + (nin + 1) * sizeof(tt_type *));
    tt_type *out = (tt_type *)(mem + (nin + 1) * (sizeof(tt_type *) + sizeof(tt_tensor *)));
    for (size_t k = 0; k < nin; k++) {
        int v = n->inputs[k];
        if (v < 0)
            continue;
        in[k] = &g->values[v].type;
        if (g->values[v].origin == TT_VALUE_CONST)
            cst[k] = g->values[v].init;
    }
    for (size_t k = 0; k < nout; k++) {
        if (n->outputs[k] >= 0)
            out[k] = g->values[n->outputs[k]].type;
        else
            out[k].rank = -1;
    }
    *p = (tt_kprep){.node = n, .n_in = n->n_inputs, .n_out = n->n_outputs, .in = in, .cst = cst, .out = out,
                    .backend = n->backend};
    return TT_OK;
}

void tt_kprep_free(tt_kprep *p)
{
    tt_free((void *)p->in);
    memset(p, 0, sizeof *p);
}

/* ---- schema binding and inference ----------------------------------------------------- */

tt_status tt_node_bind(tt_node *n)
{
    if (!n->schema)
        TT_TRY(tt_op_find_schema(n, &n->schema));
    if (n->schema->parse && !n->state)
        TT_TRY(n->schema->parse(n, &n->state));
    return TT_OK;
}

/* A declared type refines what inference could not fix; inference wins elsewhere. */
static void merge_type(tt_type *decl, const tt_type *inf)
{
    if (inf->kind == TT_KIND_NONE)
        return;
    if (decl->kind == TT_KIND_NONE) {
        *decl = *inf;
        return;
    }
    tt_type m = *inf;
    if (m.rank < 0) {
        m.rank = decl->rank;
        memcpy(m.dims, decl->dims, sizeof m.dims);
    } else if (decl->rank == m.rank) {
        for (int i = 0; i < m.rank; i++)
            if (m.dims[i] == TT_DIM_UNKNOWN)
                m.dims[i] = decl->dims[i];
    }
    if (m.dtype == TETHER_DTYPE_UNDEFINED)
        m.dtype = decl->dtype;
    *decl = m;
}

tt_status tt_node_infer(tt_graph *g, tt_node *n)
{
    int nin = n->n_inputs, nout = n->n_outputs;
    const tt_type **tin = tt_calloc((size_t)nin + 1, sizeof *tin);
    const tt_tensor **val = tt_calloc((size_t)nin + 1, sizeof *val);
    tt_type *tout = tt_calloc((size_t)nout + 1, sizeof *tout);
    tt_status s = TT_OK;
    if (!tin || !val || !tout) {
        s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", n->name);
        goto done;
    }
    for (int k = 0; k < nin; k++) {
        int v = n->inputs[k];
        if (v < 0)
            continue;
        tin[k] = &g->values[v].type;
        if (g->values[v].origin == TT_VALUE_CONST)
            val[k] = g->values[v].init;
    }
    for (int k = 0; k < nout; k++)
        tout[k].rank = -1;
    tt_ictx ic = {.node = n, .n_in = nin, .n_out = nout, .in = tin, .val = val, .out = tout, .concrete = false};
    if ((s = n->schema->infer(&ic)) != TT_OK)
        goto done;
    for (int k = 0; k < nout; k++)
        if (n->outputs[k] >= 0)
            merge_type(&g->values[n->outputs[k]].type, &tout[k]);
done:
    tt_free(tin);
    tt_free(val);
    tt_free(tout);
    return s;
}

/* ---- values ------------------------------------------------------------------------------ */

static tt_status grow(tt_arena *a, void **arr, int n, int *cap, size_t elem)
{
    if (n < *cap)
        return TT_OK;
    if (*cap > INT32_MAX / 2)
        return tt_error(TETHER_ERR_INVALID_MODEL, "a graph has more than %d values", INT32_MAX / 2);
    int nc = *cap ? *cap * 2 : 8;
    void *p = tt_arena_alloc(a, (size_t)nc * elem);
    if (!p)
        return NOMEM("editing the graph");
    if (n)
        memcpy(p, *arr, (size_t)n * elem);
    *arr = p;
    *cap = nc;
    return TT_OK;
}

tt_status tt_graph_new_value(tt_graph *g, const char *name, const tt_type *type, tt_value_origin origin, int *id)
{
    tt_model *m = g->model;
    TT_TRY(grow(&m->arena, (void **)&g->values, g->n_values, &g->values_cap, sizeof *g->values));
    char buf[256];
    snprintf(buf, sizeof buf, "%s#%" PRIu64, name && *name ? name : "tether", m->next_anon++);
    const char *nm = tt_arena_strdup(&m->arena, buf);
    if (!nm)
        return NOMEM("editing the graph");
    int i = g->n_values;
    tt_value_decl *v = &g->values[i];
    memset(v, 0, sizeof *v);
    v->name = nm;
    v->origin = origin;
    v->producer = -1;
    v->outer = -1;
    if (type)
        v->type = *type;
    else
        v->type.rank = -1;
    g->n_values++;
    *id = i;
    return TT_OK;
}

tt_status tt_graph_new_const(tt_graph *g, const char *name, const tt_tensor *t, int *id)
{
    tt_model *m = g->model;
    tt_tensor *c = tt_arena_alloc(&m->arena, sizeof *c);
    size_t bytes = tt_tensor_nbytes(t);
    if (!c || !(c->data = tt_arena_alloc_data(&m->arena, bytes ? bytes : 1)))
        return NOMEM("for a constant");
    if (t->dtype == TETHER_DTYPE_STRING)
        return tt_error(TETHER_ERR_INTERNAL, "passes make no string constants");
    void *data = c->data;
    *c = *t;
    c->buf = NULL;
    c->data = data;
    memcpy(c->data, t->data, bytes);
    m->weight_bytes += bytes;
    tt_type ty;
    tt_type_tensor(&ty, t->dtype, t->rank, t->dims);
    TT_TRY(tt_graph_new_value(g, name, &ty, TT_VALUE_CONST, id));
    g->values[*id].init = c;
    return TT_OK;
}

/* ---- nodes ------------------------------------------------------------------------------- */

tt_status tt_graph_make_node(tt_graph *g, const tt_node_spec *spec, tt_node *out)
{
    tt_arena *a = &g->model->arena;
    tt_node *n = out;
    memset(n, 0, sizeof *n);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec->name ? spec->name : spec->op_type);
    n->name = tt_arena_strdup(a, buf);
    n->op_type = spec->op_type;
    n->domain = spec->domain ? spec->domain : "";
    n->opset = spec->opset ? spec->opset
                           : strcmp(n->domain, TT_DOMAIN) == 0 ? 1 : (int)tt_model_opset(g->model, n->domain);
    n->n_inputs = spec->n_inputs;
    n->n_outputs = spec->n_outputs;
    n->inputs = tt_arena_alloc(a, ((size_t)spec->n_inputs + 1) * sizeof *n->inputs);
    n->outputs = tt_arena_alloc(a, ((size_t)spec->n_outputs + 1) * sizeof *n->outputs);
    n->n_attrs = spec->n_attrs;
    n->attrs = spec->n_attrs ? tt_arena_alloc(a, (size_t)spec->n_attrs * sizeof *n->attrs) : NULL;
    if (!n->name || !n->inputs || !n->outputs || (spec->n_attrs && !n->attrs))
        return NOMEM("making a node");
    memcpy(n->inputs, spec->inputs, (size_t)spec->n_inputs * sizeof *n->inputs);
    memcpy(n->outputs, spec->outputs, (size_t)spec->n_outputs * sizeof *n->outputs);
    if (spec->n_attrs)
        memcpy(n->attrs, spec->attrs, (size_t)spec->n_attrs * sizeof *n->attrs);
    tt_status s = tt_node_bind(n);
    if (s == TT_OK)
        s = tt_node_infer(g, n);
    if (s != TT_OK)
        return tt_error_prefix(s, "making node '%s' (%s): ", n->name, n->op_type);
    return TT_OK;
}

tt_status tt_graph_edit_begin(tt_graph *g, tt_graph_edit *e)
{
    memset(e, 0, sizeof *e);
    e->g = g;
    e->cap = g->n_nodes + 8;
    e->nodes = tt_arena_alloc(&g->model->arena, (size_t)e->cap * sizeof *e->nodes);
    return e->nodes ? TT_OK : NOMEM("editing the graph");
}

tt_status tt_graph_edit_push(tt_graph_edit *e, const tt_node *n)
{
    TT_TRY(grow(&e->g->model->arena, (void **)&e->nodes, e->n, &e->cap, sizeof *e->nodes));
    e->nodes[e->n++] = *n;
    return TT_OK;
}

tt_status tt_graph_edit_end(tt_graph_edit *e)
{
    e->g->nodes = e->nodes;
    e->g->n_nodes = e->n;
    tt_graph_recount(e->g);
    return TT_OK;
}

void tt_graph_drop_node(tt_node *n)
{
    if (n->state) {
        if (n->schema && n->schema->release)
            n->schema->release(n->state);
        else
            tt_free(n->state);
        n->state = NULL;
    }
}

void tt_graph_recount(tt_graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        g->values[v].n_consumers = 0;
        if (g->values[v].origin == TT_VALUE_NODE)
            g->values[v].producer = -1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                g->values[n->inputs[k]].n_consumers++;
        for (int k = 0; k < n->n_implicit; k++)
            g->values[n->implicit[k]].n_consumers++;
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0) {
                g->values[n->outputs[k]].producer = i;
                g->values[n->outputs[k]].origin = TT_VALUE_NODE;
            }
    }
    for (int i = 0; i < g->n_outputs; i++)
        g->values[g->outputs[i]].n_consumers++;
}

/* Subgraphs read values of g through OUTER values that name them. */
static void replace_outer(tt_graph *sg, int from, int to)
{
    for (int k = 0; k < sg->n_outer; k++)
        if (sg->values[sg->outer[k]].outer == from)
            sg->values[sg->outer[k]].outer = to;
}

void tt_node_replace_implicit(tt_node *n, int from, int to)
{
    bool implicit = false;
    for (int k = 0; k < n->n_implicit; k++)
        if (n->implicit[k] == from) {
            n->implicit[k] = to;
            implicit = true;
        }
    for (int a = 0; implicit && a < n->n_attrs; a++) {
        if (n->attrs[a].type == TT_ATTR_GRAPH)
            replace_outer(n->attrs[a].g, from, to);
        for (size_t j = 0; n->attrs[a].type == TT_ATTR_GRAPHS && j < n->attrs[a].n; j++)
            replace_outer(n->attrs[a].graphs[j], from, to);
    }
}

void tt_graph_replace_uses(tt_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        tt_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == from)
                n->inputs[k] = to;
        tt_node_replace_implicit(n, from, to);
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from)
            g->outputs[i] = to;
}

bool tt_graph_is_output(const tt_graph *g, int v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

int tt_graph_sole_consumer(const tt_graph *g, int v)
{
    if (v < 0 || g->values[v].n_consumers != 1 || tt_graph_is_output(g, v))
        return -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_implicit; k++)
            if (n->implicit[k] == v)
                return -1;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == v)
                return i;
    }
    return -1;
}
