/* Clean-up passes. "identity": nodes that pass their input through unchanged go (Identity,
 * inference-mode Dropout, a Cast to the same type, x*1, x/1, x-0), and a Reshape of a
 * Reshape/Flatten/Squeeze/Unsqueeze reads the original tensor. "dead": nodes whose outputs
 * nobody reads go. */
#include "graph/pattern.h"

#include "core/log.h"

#include <string.h>

/* Whether node n passes input 0 through unchanged; *out is the value that goes. */
static bool passes_through(const tt_graph *g, const tt_node *n, int *out)
{
    if (n->n_outputs < 1 || n->outputs[0] < 0 || n->n_inputs < 1 || n->inputs[0] < 0)
        return false;
    *out = n->outputs[0];
    int x = n->inputs[0];
    if (tt_pat_is(n, "Identity"))
        return n->n_inputs == 1;
    if (tt_pat_is(n, "Dropout")) {
        if (n->opset < 7)
            return false;
        for (int k = 1; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0 && (g->values[n->outputs[k]].n_consumers || tt_graph_is_output(g, n->outputs[k])))
                return false; /* the mask is read */
        /* inference mode, or a ratio of 0 (what exporters write for dropout in train mode) */
        double training = 0, ratio = -1;
        if (n->n_inputs > 1 && n->inputs[1] >= 0 && tt_pat_scalar(g, n->inputs[1], &ratio) && ratio == 0)
            return true;
        if (n->n_inputs > 2 && n->inputs[2] >= 0 && (!tt_pat_scalar(g, n->inputs[2], &training) || training != 0))
            return false;
        return true;
    }
    if (tt_pat_is(n, "Cast")) {
        tt_dtype from = tt_pat_dtype(g, x);
        return from != TETHER_DTYPE_UNDEFINED && from != TETHER_DTYPE_STRING &&
               tt_attr_int(n, "to", -1) == (int64_t)from && tt_pat_dtype(g, *out) == from;
    }
    bool mul = tt_pat_is(n, "Mul"), div = tt_pat_is(n, "Div"), sub = tt_pat_is(n, "Sub");
    if ((mul || div || sub) && n->n_inputs == 2 && n->opset >= 7) {
        /* x op c with c a one-element constant of rank <= x's, so the shape stays x's */
        int c = n->inputs[1];
        if (mul && tt_pat_const(g, n->inputs[0]) && !tt_pat_const(g, n->inputs[1]))
            x = n->inputs[1], c = n->inputs[0];
        double v;
        int rx = tt_pat_rank(g, x), rc = tt_pat_rank(g, c);
        if (!tt_pat_scalar(g, c, &v) || rx < 0 || rc > rx || tt_pat_dtype(g, x) != tt_pat_dtype(g, c) ||
            !tt_dtype_is_float(tt_pat_dtype(g, x)))
            return false;
        if (!((mul && v == 1) || (div && v == 1) || (sub && v == 0)))
            return false;
        /* the value that stays is x, which may be either input of Mul */
        if (x != n->inputs[0])
            return false;
        return true;
    }
    return false;
}

/* Mul(1, x): the constant comes first. */
static bool mul_one_first(const tt_graph *g, const tt_node *n)
{
    if (!tt_pat_is(n, "Mul") || n->n_inputs != 2 || n->opset < 7 || n->outputs[0] < 0)
        return false;
    int c = n->inputs[0], x = n->inputs[1];
    double v;
    int rx = tt_pat_rank(g, x), rc = tt_pat_rank(g, c);
    return tt_pat_scalar(g, c, &v) && v == 1 && !tt_pat_const(g, x) && rx >= 0 && rc <= rx &&
           tt_pat_dtype(g, x) == tt_pat_dtype(g, c) && tt_dtype_is_float(tt_pat_dtype(g, x));
}

static bool is_view(const tt_node *n)
{
    return tt_pat_is(n, "Reshape") || tt_pat_is(n, "Flatten") || tt_pat_is(n, "Squeeze") || tt_pat_is(n, "Unsqueeze");
}

/* A constant Reshape target with no 0 (which would copy the intermediate's dims). */
static bool plain_target(const tt_graph *g, int v)
{
    const tt_tensor *t = tt_pat_const(g, v);
    if (!t || t->rank != 1 || t->dtype != TETHER_DTYPE_INT64)
        return false;
    for (int64_t i = 0; i < t->dims[0]; i++)
        if (((const int64_t *)t->data)[i] == 0)
            return false;
    return true;
}

static tt_status run_identity(tt_graph *g, bool *changed)
{
    tt_rw rw;
    TT_TRY(tt_rw_begin(g, &rw));
    for (int i = 0; i < g->n_nodes; i++) {
        tt_node *n = &g->nodes[i];
        int out, in;
        if (passes_through(g, n, &out))
            in = n->inputs[0];
        else if (mul_one_first(g, n))
            in = n->inputs[1], out = n->outputs[0];
        else
            in = -1;
        if (in >= 0) {
            /* an output keeps its name: its producer stays */
            if (tt_graph_is_output(g, out))
                continue;
            tt_graph_replace_uses(g, out, in);
            tt_rw_drop(&rw, i);
            tt_graph_recount(g);
            continue;
        }
        /* Reshape(view(x), s) = Reshape(x, s) when s is a plain constant */
        if (tt_pat_is(n, "Reshape") && n->n_inputs == 2 && plain_target(g, n->inputs[1])) {
            int p = tt_pat_producer(g, n->inputs[0]);
            if (p >= 0 && !tt_rw_taken(&rw, p) && is_view(&g->nodes[p]) && g->nodes[p].n_inputs >= 1 &&
                tt_pat_only_reader(g, n->inputs[0]) == i) {
                n->inputs[0] = g->nodes[p].inputs[0];
                tt_rw_drop(&rw, p);
                tt_graph_recount(g);
            }
        }
    }
    return tt_rw_end(&rw, changed);
}

static bool has_subgraphs(const tt_node *n)
{
    for (int a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].type == TT_ATTR_GRAPH || n->attrs[a].type == TT_ATTR_GRAPHS)
            return true;
    return false;
}

static tt_status run_dead(tt_graph *g, bool *changed)
{
    int *readers = tt_malloc(sizeof(int) * (size_t)(g->n_values + 1));
    if (!readers)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory in graph '%s'", g->name);
    for (int v = 0; v < g->n_values; v++)
        readers[v] = g->values[v].n_consumers;
    tt_rw rw;
    tt_status s = tt_rw_begin(g, &rw);
    for (int i = g->n_nodes - 1; i >= 0 && s == TT_OK; i--) {
        const tt_node *n = &g->nodes[i];
        bool used = n->n_outputs == 0 || has_subgraphs(n);
        for (int k = 0; k < n->n_outputs && !used; k++)
            used = n->outputs[k] >= 0 && readers[n->outputs[k]] > 0;
        if (used)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                readers[n->inputs[k]]--;
        for (int k = 0; k < n->n_implicit; k++)
            readers[n->implicit[k]]--;
        tt_rw_drop(&rw, i);
    }
    tt_free(readers);
    if (s != TT_OK)
        return s;
    return tt_rw_end(&rw, changed);
}

const tt_pass tt_pass_identity = {.name = "identity", .run = run_identity};
const tt_pass tt_pass_dead = {.name = "dead", .run = run_dead};
