/* Raw graph → IR graph: names become value ids, subgraphs see their enclosing graphs'
 * values through OUTER values (and their nodes get them as implicit inputs), model-local
 * functions are expanded into their callers, and nodes are sorted topologically. */
#include "model/raw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define NOMEM() tt_error(TETHER_ERR_NO_MEMORY, "out of memory building the graph")
#define TT_MAX_FUNCTION_DEPTH 16
/* Function calls may nest, so a small model can describe an enormous expansion: cap the
 * nodes expansion may make in the whole model. */
#define TT_MAX_EXPANDED_NODES (1u << 20)

/* Grows an arena array of n elements (capacity *cap) to hold one more, doubling. */
static tt_status grow(tt_arena *a, void **arr, int n, int *cap, size_t elem)
{
    if (n < *cap)
        return TT_OK;
    if (*cap > INT32_MAX / 2)
        return tt_error(TETHER_ERR_INVALID_MODEL, "a graph has more than %d values", INT32_MAX / 2);
    int nc = *cap ? *cap * 2 : 8;
    void *p = tt_arena_alloc(a, (size_t)nc * elem);
    if (!p)
        return NOMEM();
    if (n)
        memcpy(p, *arr, (size_t)n * elem);
    *arr = p;
    *cap = nc;
    return TT_OK;
}

static tt_status add_value(tt_graph *g, const char *name, tt_value_origin origin, int *id)
{
    if (tt_strmap_get(&g->names, name) >= 0)
        return tt_error(TETHER_ERR_INVALID_MODEL, "graph '%s': value '%s' is defined more than once", g->name, name);
    TT_TRY(grow(&g->model->arena, (void **)&g->values, g->n_values, &g->values_cap, sizeof *g->values));
    int i = g->n_values;
    tt_value_decl *v = &g->values[i];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->origin = origin;
    v->producer = -1;
    v->outer = -1;
    v->type.rank = -1;
    TT_TRY(tt_strmap_put(&g->names, name, i));
    g->n_values++;
    *id = i;
    return TT_OK;
}

/* Finds name in g, or in an enclosing graph, adding OUTER values along the way. */
static tt_status lookup(tt_graph *g, const char *name, int *id)
{
    int i = tt_strmap_get(&g->names, name);
    if (i >= 0) {
        *id = i;
        return TT_OK;
    }
    *id = -1;
    if (!g->parent)
        return TT_OK;
    int pid;
    TT_TRY(lookup(g->parent, name, &pid));
    if (pid < 0)
        return TT_OK;
    TT_TRY(grow(&g->model->arena, (void **)&g->outer, g->n_outer, &g->outer_cap, sizeof *g->outer));
    TT_TRY(add_value(g, g->parent->values[pid].name, TT_VALUE_OUTER, &i));
    g->values[i].outer = pid;
    g->values[i].type = g->parent->values[pid].type;
    g->outer[g->n_outer++] = i;
    *id = i;
    return TT_OK;
}

/* ---- model-local functions ------------------------------------------------------------ */

typedef struct expander {
    tt_model *m;
    tt_strmap by_name; /* function name -> index of the first function of that name */
    int *next_same;    /* the next function of the same name (another domain), or -1 */
    tt_raw_node *out;
    int n_out, cap;
} expander;

static const tt_function *find_function(const expander *x, const tt_raw_node *n)
{
    for (int i = tt_strmap_get(&x->by_name, n->op_type); i >= 0; i = x->next_same[i])
        if (strcmp(x->m->functions[i].domain, n->domain) == 0)
            return &x->m->functions[i];
    return NULL;
}

/* A name inside call number `call` of fn: formal inputs and outputs become the caller's
 * names, every other name gets a prefix unique to the call. NULL when out of memory. */
static const char *fn_rename(tt_model *m, const tt_function *fn, uint64_t call, const char **formal, int nformal,
                             const char **actual, int nactual, const char *name)
{
    if (!*name)
        return name;
    for (int i = 0; i < nformal; i++)
        if (strcmp(formal[i], name) == 0)
            return i < nactual ? actual[i] : "";
    int len = snprintf(NULL, 0, "%s__%" PRIu64 "__%s", fn->name, call, name);
    char *buf = len >= 0 ? tt_arena_alloc(&m->arena, (size_t)len + 1) : NULL;
    if (buf)
        snprintf(buf, (size_t)len + 1, "%s__%" PRIu64 "__%s", fn->name, call, name);
    return buf;
}

static tt_status expand_call(expander *x, const tt_raw_node *n, const tt_function *fn, int depth);

/* Appends n to the expansion, or its function's body when it calls one. */
static tt_status push_node(expander *x, const tt_raw_node *n, int depth)
{
    const tt_function *fn = find_function(x, n);
    if (fn)
        return expand_call(x, n, fn, depth);
    if (++x->m->n_expanded > TT_MAX_EXPANDED_NODES)
        return tt_error(TETHER_ERR_INVALID_MODEL,
                        "the model's functions expand to more than %u nodes (node '%s' of type %s at depth %d)",
                        TT_MAX_EXPANDED_NODES, n->name, n->op_type, depth);
    if (x->n_out == x->cap) {
        int nc = x->cap ? x->cap * 2 : 16;
        tt_raw_node *nn = tt_arena_alloc(&x->m->arena, (size_t)nc * sizeof *nn);
        if (!nn)
            return NOMEM();
        if (x->n_out)
            memcpy(nn, x->out, (size_t)x->n_out * sizeof *nn);
        x->out = nn;
        x->cap = nc;
    }
    x->out[x->n_out++] = *n;
    return TT_OK;
}

static tt_status expand_call(expander *x, const tt_raw_node *n, const tt_function *fn, int depth)
{
    tt_model *m = x->m;
    if (depth >= TT_MAX_FUNCTION_DEPTH)
        return tt_error(TETHER_ERR_INVALID_MODEL, "function '%s' calls itself (or nests deeper than %d)", fn->name,
                        TT_MAX_FUNCTION_DEPTH);
    uint64_t call = m->next_anon++; /* fixed for the whole body: nested calls take their own */
    for (int k = 0; k < fn->n_nodes; k++) {
        const tt_raw_node *b = &fn->nodes[k];
        tt_raw_node c = *b;
        c.in = tt_arena_alloc(&m->arena, (size_t)(b->n_in + 1) * sizeof *c.in);
        c.out = tt_arena_alloc(&m->arena, (size_t)(b->n_out + 1) * sizeof *c.out);
        c.attrs = tt_arena_alloc(&m->arena, (size_t)(b->n_attrs + 1) * sizeof *c.attrs);
        if (!c.in || !c.out || !c.attrs)
            return NOMEM();
        for (int i = 0; i < b->n_in; i++)
            if (!(c.in[i] = fn_rename(m, fn, call, fn->inputs, fn->n_inputs, n->in, n->n_in, b->in[i])))
                return NOMEM();
        for (int i = 0; i < b->n_out; i++)
            if (!(c.out[i] = fn_rename(m, fn, call, fn->outputs, fn->n_outputs, n->out, n->n_out, b->out[i])))
                return NOMEM();
        c.n_attrs = 0;
        for (int i = 0; i < b->n_attrs; i++) {
            const tt_attr *a = &b->attrs[i];
            if (!a->ref_attr_name) {
                c.attrs[c.n_attrs++] = *a;
                continue;
            }
            /* the caller's attribute of that name (its first, should it repeat); unset: none */
            for (int j = 0; j < n->n_attrs; j++) {
                if (strcmp(n->attrs[j].name, a->ref_attr_name) == 0) {
                    c.attrs[c.n_attrs] = n->attrs[j];
                    c.attrs[c.n_attrs++].name = a->name;
                    break;
                }
                }
        }
        if (!c.name || !*c.name)
            c.name = n->name;
        TT_TRY(push_node(x, &c, depth + 1));
    }
    return TT_OK;
}

static tt_status expand_functions(tt_model *m, tt_raw_graph *raw)
{
    if (!m->n_functions)
        return TT_OK;
    expander x = {.m = m};
    x.next_same = tt_arena_alloc(&m->arena, (size_t)m->n_functions * sizeof *x.next_same);
    if (!x.next_same)
        return NOMEM();
    tt_status s = tt_strmap_init(&x.by_name, (size_t)m->n_functions);
    /* walking backwards leaves the first function declared under a name first in its chain */
    for (int i = m->n_functions - 1; i >= 0 && s == TT_OK; i--) {
        x.next_same[i] = tt_strmap_get(&x.by_name, m->functions[i].name);
        s = tt_strmap_put(&x.by_name, m->functions[i].name, i);
    }
    for (int i = 0; i < raw->n_nodes && s == TT_OK; i++)
        s = push_node(&x, &raw->nodes[i], 0);
    tt_strmap_free(&x.by_name);
    if (s != TT_OK)
        return s;
    raw->nodes = x.out;
    raw->n_nodes = x.n_out;
    return TT_OK;
}

static tt_status topo_sort(tt_graph *g)
{
    int n = g->n_nodes;
    if (n == 0)
        return TT_OK;
    tt_arena *a = &g->model->arena;
    int *indeg = tt_arena_alloc(a, (size_t)n * sizeof *indeg);
    int *order = tt_arena_alloc(a, (size_t)n * sizeof *order);
    /* consumers of each node's outputs, as an adjacency list in CSR form */
    int *nconsumers = tt_arena_alloc(a, (size_t)(n + 1) * sizeof *nconsumers);
    if (!indeg || !order || !nconsumers)
        return NOMEM();
    size_t edges = 0;
    for (int i = 0; i < n; i++) {
        const tt_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs + nd->n_implicit; k++) {
            int v = k < nd->n_inputs ? nd->inputs[k] : nd->implicit[k - nd->n_inputs];
            if (v >= 0 && g->values[v].origin == TT_VALUE_NODE) {
                indeg[i]++;
                nconsumers[g->values[v].producer]++;
                edges++;
            }
        }
    }
    int *start = tt_arena_alloc(a, (size_t)(n + 1) * sizeof *start);
    int *adj = tt_arena_alloc(a, (edges + 1) * sizeof *adj);
    int *fill = tt_arena_alloc(a, (size_t)(n + 1) * sizeof *fill);
    if (!start || !adj || !fill)
        return NOMEM();
    for (int i = 0; i < n; i++)
        start[i + 1] = start[i] + nconsumers[i];
    for (int i = 0; i < n; i++) {
        const tt_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs + nd->n_implicit; k++) {
            int v = k < nd->n_inputs ? nd->inputs[k] : nd->implicit[k - nd->n_inputs];
            if (v >= 0 && g->values[v].origin == TT_VALUE_NODE) {
                int p = g->values[v].producer;
                adj[start[p] + fill[p]++] = i;
            }
        }
    }
    /* Kahn's algorithm; ties keep the model's order, so a sorted model stays as written */
    int head = 0, tail = 0;
    for (int i = 0; i < n; i++)
        if (!indeg[i])
            order[tail++] = i;
    while (head < tail) {
        int u = order[head++];
        for (int e = start[u]; e < start[u + 1]; e++)
            if (--indeg[adj[e]] == 0)
                order[tail++] = adj[e];
    }
    if (tail < n) {
        for (int i = 0; i < n; i++)
            if (indeg[i])
                return tt_error(TETHER_ERR_INVALID_MODEL, "graph '%s' has a cycle through node '%s' (%s)", g->name,
                                g->nodes[i].name, g->nodes[i].op_type);
    }
    tt_node *sorted = tt_arena_alloc(a, (size_t)n * sizeof *sorted);
    int *newpos = tt_arena_alloc(a, (size_t)n * sizeof *newpos);
    if (!sorted || !newpos)
        return NOMEM();
    for (int i = 0; i < n; i++) {
        sorted[i] = g->nodes[order[i]];
        newpos[order[i]] = i;
    }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].origin == TT_VALUE_NODE)
            g->values[v].producer = newpos[g->values[v].producer];
    g->nodes = sorted;
    return TT_OK;
}

static tt_status build_node(tt_graph *g, const tt_raw_node *rn, tt_node *nd);

tt_status tt_build_graph(tt_model *m, tt_raw_graph *raw, tt_graph *parent, tt_graph **out)
{
    tt_arena *a = &m->arena;
    TT_TRY(expand_functions(m, raw));
    tt_graph *g = tt_arena_alloc(a, sizeof *g);
    if (!g)
        return NOMEM();
    g->name = raw->name;
    g->parent = parent;
    g->model = m;
    size_t cap = (size_t)raw->n_inputs + (size_t)raw->n_inits;
    for (int i = 0; i < raw->n_nodes; i++)
        cap += (size_t)raw->nodes[i].n_out;
    if (cap > INT32_MAX / 4)
        return tt_error(TETHER_ERR_INVALID_MODEL, "graph '%s' has too many values", g->name);
    g->values = tt_arena_alloc(a, (cap + 1) * sizeof *g->values);
    g->values_cap = (int)cap + 1;
    g->nodes = tt_arena_alloc(a, ((size_t)raw->n_nodes + 1) * sizeof *g->nodes);
    g->inputs = tt_arena_alloc(a, ((size_t)raw->n_inputs + 1) * sizeof *g->inputs);
    g->outputs = tt_arena_alloc(a, ((size_t)raw->n_outputs + 1) * sizeof *g->outputs);
    if (!g->values || !g->nodes || !g->inputs || !g->outputs)
        return NOMEM();
    tt_status s = tt_strmap_init(&g->names, cap);
    if (s != TT_OK)
        return s;

    int id;
    for (int i = 0; i < raw->n_inits && s == TT_OK; i++) {
        s = add_value(g, raw->init_names[i], TT_VALUE_CONST, &id);
        if (s == TT_OK) {
            tt_tensor *t = raw->inits[i];
            g->values[id].init = t;
            tt_type_tensor(&g->values[id].type, t->dtype, t->rank, t->dims);
        }
    }
    /* An input that names an initializer (IR < 4 lists weights as inputs) is that constant. */
    for (int i = 0; i < raw->n_inputs && s == TT_OK; i++) {
        const tt_raw_vi *vi = &raw->inputs[i];
        int existing = tt_strmap_get(&g->names, vi->name);
        if (existing >= 0 && g->values[existing].origin == TT_VALUE_CONST)
            continue;
        if (!*vi->name) {
            s = tt_error(TETHER_ERR_INVALID_MODEL, "graph '%s': input %d has no name", g->name, i);
            break;
        }
        s = add_value(g, vi->name, TT_VALUE_INPUT, &id);
        if (s == TT_OK) {
            /* subgraph inputs may leave their type to the op that runs them */
            if (!vi->has_type && !parent)
                s = tt_error(TETHER_ERR_INVALID_MODEL, "graph '%s': input '%s' has no type", g->name, vi->name);
            g->values[id].type = vi->type;
            g->values[id].dim_names = vi->dim_names;
            g->inputs[g->n_inputs++] = id;
        }
    }
    for (int i = 0; i < raw->n_nodes && s == TT_OK; i++) {
        const tt_raw_node *rn = &raw->nodes[i];
        for (int k = 0; k < rn->n_out && s == TT_OK; k++) {
            if (!*rn->out[k])
                continue;
            s = add_value(g, rn->out[k], TT_VALUE_NODE, &id);
            if (s == TT_OK)
                g->values[id].producer = i;
            else
                s = tt_error_prefix(s, "node '%s' (%s): ", rn->name, rn->op_type);
        }
    }
    for (int i = 0; i < raw->n_nodes && s == TT_OK; i++) {
        s = build_node(g, &raw->nodes[i], &g->nodes[i]);
        g->n_nodes = i + 1;
    }
    for (int i = 0; i < raw->n_vis && s == TT_OK; i++) {
        int v = tt_strmap_get(&g->names, raw->vis[i].name);
        if (v >= 0 && raw->vis[i].has_type && g->values[v].origin == TT_VALUE_NODE)
            g->values[v].type = raw->vis[i].type;
    }
    for (int i = 0; i < raw->n_outputs && s == TT_OK; i++) {
        const tt_raw_vi *vi = &raw->outputs[i];
        s = lookup(g, vi->name, &id);
        if (s == TT_OK && id < 0)
            s = tt_error(TETHER_ERR_INVALID_MODEL, "graph '%s': output '%s' is not produced by anything", g->name,
                         vi->name);
        if (s == TT_OK) {
            g->outputs[g->n_outputs++] = id;
            g->values[id].n_consumers++;
            if (vi->has_type && g->values[id].origin == TT_VALUE_NODE) {
                g->values[id].type = vi->type;
                g->values[id].dim_names = vi->dim_names;
            }
        }
    }
    if (s == TT_OK)
        s = topo_sort(g);
    tt_strmap_free(&g->names);
    if (s != TT_OK)
        return s;
    *out = g;
    return TT_OK;
}

/* The values of g that nd's subgraphs read become nd's implicit inputs, each once, in
 * order of first use. */
static tt_status collect_implicit(tt_graph *g, tt_node *nd)
{
    size_t total = 0;
    for (int i = 0; i < nd->n_attrs; i++) {
        const tt_attr *at = &nd->attrs[i];
        if (at->type == TT_ATTR_GRAPH)
            total += (size_t)at->g->n_outer;
        for (size_t j = 0; at->type == TT_ATTR_GRAPHS && j < at->n; j++)
            total += (size_t)at->graphs[j]->n_outer;
    }
    if (!total)
            return TT_OK;
    nd->implicit = tt_arena_alloc(&g->model->arena, total * sizeof *nd->implicit);
    bool *seen = tt_calloc((size_t)g->n_values, sizeof *seen);
    if (!nd->implicit || !seen) {
        tt_free(seen);
        return NOMEM();
    }
    for (int i = 0; i < nd->n_attrs; i++) {
        const tt_attr *at = &nd->attrs[i];
        size_t ng = at->type == TT_ATTR_GRAPH ? 1 : at->type == TT_ATTR_GRAPHS ? at->n : 0;
        for (size_t j = 0; j < ng; j++) {
            const tt_graph *sg = at->type == TT_ATTR_GRAPH ? at->g : at->graphs[j];
            for (int k = 0; k < sg->n_outer; k++) {
                int v = sg->values[sg->outer[k]].outer;
                if (seen[v])
                    continue;
                seen[v] = true;
                nd->implicit[nd->n_implicit++] = v;
    g->values[v].n_consumers++;
            }
        }
    }
    tt_free(seen);
    return TT_OK;
}

static bool has_subgraphs(const tt_raw_node *rn)
{
    for (int i = 0; i < rn->n_attrs; i++)
        if (rn->attrs[i].type == TT_ATTR_GRAPH || rn->attrs[i].type == TT_ATTR_GRAPHS)
            return true;
    return false;
}

static tt_status build_node(tt_graph *g, const tt_raw_node *rn, tt_node *nd)
{
    tt_arena *a = &g->model->arena;
    memset(nd, 0, sizeof *nd);
    nd->name = rn->name;
    nd->op_type = rn->op_type;
    nd->domain = rn->domain;
    nd->opset = (int)tt_model_opset(g->model, rn->domain);
    TT_TRY(tt_check_arity(rn, nd->opset));
    nd->n_inputs = rn->n_in;
    nd->n_outputs = rn->n_out;
    nd->inputs = tt_arena_alloc(a, ((size_t)rn->n_in + 1) * sizeof *nd->inputs);
    nd->outputs = tt_arena_alloc(a, ((size_t)rn->n_out + 1) * sizeof *nd->outputs);
    if (!nd->inputs || !nd->outputs)
        return NOMEM();
    nd->n_attrs = rn->n_attrs;
    nd->attrs = rn->attrs;
    if (has_subgraphs(rn)) {
        /* a raw graph can be built more than once (a function body called twice): each
         * build gets its own attributes to hang its subgraphs on */
        nd->attrs = tt_arena_alloc(a, ((size_t)rn->n_attrs + 1) * sizeof *nd->attrs);
        if (!nd->attrs)
            return NOMEM();
        memcpy(nd->attrs, rn->attrs, (size_t)rn->n_attrs * sizeof *nd->attrs);
    }
    for (int k = 0; k < rn->n_in; k++) {
        if (!*rn->in[k]) {
            nd->inputs[k] = -1;
            continue;
        }
        TT_TRY(lookup(g, rn->in[k], &nd->inputs[k]));
        if (nd->inputs[k] < 0)
            return tt_error(TETHER_ERR_INVALID_MODEL, "node '%s' (%s): input '%s' is not defined", rn->name,
                            rn->op_type, rn->in[k]);
        g->values[nd->inputs[k]].n_consumers++;
    }
    for (int k = 0; k < rn->n_out; k++)
        nd->outputs[k] = *rn->out[k] ? tt_strmap_get(&g->names, rn->out[k]) : -1;
    for (int i = 0; i < nd->n_attrs; i++) {
        tt_attr *at = &nd->attrs[i];
        tt_status s = TT_OK;
        if (at->type == TT_ATTR_GRAPH) {
            s = tt_build_graph(g->model, at->rg, g, &at->g);
        } else if (at->type == TT_ATTR_GRAPHS) {
            at->graphs = tt_arena_alloc(a, (at->n + 1) * sizeof *at->graphs);
            if (!at->graphs)
                return NOMEM();
            for (size_t j = 0; j < at->n && s == TT_OK; j++)
                s = tt_build_graph(g->model, at->rgs[j], g, &at->graphs[j]);
        }
        if (s != TT_OK)
            return tt_error_prefix(s, "node '%s' (%s), attribute '%s': ", rn->name, rn->op_type, at->name);
    }
    return collect_implicit(g, nd);
}
