/* Layout propagation: where the backend that runs convolutions wants activations in
 * channel blocks between them (tt_backend.conv_block, e.g. 16 for oneDNN on AVX-512), the
 * convolutions and what lies between them run on blocked tensors (ops/cnn.h):
 *   Conv, FusedConv                 -> FusedConv with a blocked output (X plain or blocked)
 *   MaxPool, AveragePool, Global*   -> Blocked* pools, when their input is blocked
 *   elementwise ops of one tensor   -> the same op on the blocked tensor (lane by lane);
 *     Add, Sub, Mul, Max, Min of two   they keep padding lanes finite, which is all a
 *     blocked tensors of one shape     convolution needs (its padded weights are zero)
 *   Concat along channels of blocked tensors whose channels fill whole blocks
 * Each blocked value is a new value; the original value, with its name, is made from it by
 * a FromBlocked just before the first node that reads it plain (or at the end for a graph
 * output), once. A FusedConv whose summand Z is plain stays plain. */
#include "graph/graph.h"

#include "ops/cnn.h"

#include <inttypes.h>
#include <stdio.h>

typedef struct layout {
    tt_graph *g;
    const tt_backend *b;   /* the backend the convolutions run on */
    int64_t block;
    int *twin;             /* per value: its blocked twin, or -1 */
    bool *plain_made;      /* per value made blocked: its FromBlocked was pushed */
    int cap;
    tt_graph_edit e;
} layout;

static tt_status grow(layout *l)
{
    int n = l->g->n_values;
    if (n <= l->cap)
        return TT_OK;
    int cap = n * 2;
    int *t = tt_realloc(l->twin, sizeof(int) * (size_t)cap);
    if (t)
        l->twin = t;
    bool *p = tt_realloc(l->plain_made, sizeof(bool) * (size_t)cap);
    if (p)
        l->plain_made = p;
    if (!t || !p)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory choosing layouts");
    for (int v = l->cap; v < cap; v++) {
        l->twin[v] = -1;
        l->plain_made[v] = false;
    }
    l->cap = cap;
    return TT_OK;
}

static bool is_op(const tt_node *n, const char *op)
{
    return strcmp(n->op_type, op) == 0 && (!*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

static bool is_own(const tt_node *n, const char *op)
{
    return strcmp(n->op_type, op) == 0 && strcmp(n->domain, TT_DOMAIN) == 0;
}

static const tt_type *vtype(const layout *l, int v) { return v >= 0 ? &l->g->values[v].type : NULL; }

static bool blocked(const layout *l, int v) { return v >= 0 && v < l->cap && l->twin[v] >= 0; }

/* ---- what converts ------------------------------------------------------------------------------ */

/* Elementwise ops of one tensor that take blocked tensors lane by lane. */
static const char *const g_unary[] = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
                                      "Elu", "Selu", "Abs", "Neg", NULL};
static const char *const g_binary[] = {"Add", "Sub", "Mul", "Max", "Min", NULL};

static bool in_list(const tt_node *n, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (is_op(n, list[i]))
            return true;
    return false;
}

static bool image_type(const tt_type *t)
{
    return t && t->kind == TT_KIND_TENSOR && t->dtype == TETHER_DTYPE_FLOAT && t->rank >= 3 && t->rank <= 5 &&
           t->dims[1] >= 0;
}

/* Whether a convolution's groups suit blocks of b channels. */
static bool conv_groups_fit(const tt_node *n, const tt_type *w, int64_t b)
{
    int64_t G = tt_attr_int(n, "group", 1), Mg = w->dims[0] / G, Cg = w->dims[1];
    return G == 1 || (Cg == 1 && Mg == 1) || (Cg % b == 0 && Mg % b == 0);
}

static bool is_conv(const layout *l, const tt_node *n)
{
    bool conv = is_op(n, "Conv"), fused = is_own(n, "FusedConv");
    if ((!conv && !fused) || n->n_inputs < 2 || n->outputs[0] < 0)
        return false;
    if (fused && tt_attr_int(n, "block", 0) != 0)
        return false;
    const tt_type *x = vtype(l, n->inputs[0]), *w = vtype(l, n->inputs[1]);
    const tt_type *y = vtype(l, n->outputs[0]);
    if (!w || w->rank < 3 || w->dims[0] < 0 || w->dims[1] < 0 || !image_type(y))
        return false;
    if (!blocked(l, n->inputs[0]) && (!image_type(x) || x->rank != w->rank))
        return false;
    return l->g->values[n->inputs[1]].origin == TT_VALUE_CONST && conv_groups_fit(n, w, l->block);
}

static bool is_pool(const layout *l, const tt_node *n)
{
    if (!blocked(l, n->inputs[0]) || n->outputs[0] < 0)
        return false;
    if (is_op(n, "MaxPool"))
        return !(n->n_outputs > 1 && n->outputs[1] >= 0);
    return is_op(n, "AveragePool") || is_op(n, "GlobalAveragePool") || is_op(n, "GlobalMaxPool");
}

static bool is_unary(const layout *l, const tt_node *n)
{
    if (!in_list(n, g_unary) || n->n_outputs != 1 || n->outputs[0] < 0 || !blocked(l, n->inputs[0]))
        return false;
    /* Clip's bounds are scalars, read as they are */
    for (int k = 1; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && blocked(l, n->inputs[k]))
            return false;
    return true;
}

static bool same_shape(const tt_type *a, const tt_type *b)
{
    if (!a || !b || a->rank < 0 || a->rank != b->rank || a->dtype != b->dtype)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i] || a->dims[i] == TT_DIM_UNKNOWN)
            return false;
    return true;
}

static bool is_binary(const layout *l, const tt_node *n)
{
    if (!in_list(n, g_binary) || n->n_inputs != 2 || n->n_outputs != 1 || n->outputs[0] < 0 || n->opset < 7)
        return false;
    return blocked(l, n->inputs[0]) && blocked(l, n->inputs[1]) &&
           same_shape(vtype(l, n->inputs[0]), vtype(l, n->inputs[1])) &&
           same_shape(vtype(l, n->inputs[0]), vtype(l, n->outputs[0]));
}

/* Concat along the channels of blocked tensors whose channels fill whole blocks. */
static bool is_concat(const layout *l, const tt_node *n)
{
    if (!is_op(n, "Concat") || n->n_outputs != 1 || n->outputs[0] < 0 || n->n_inputs < 1)
        return false;
    const tt_type *y = vtype(l, n->outputs[0]);
    if (!image_type(y) || (tt_attr_int(n, "axis", 0) != 1 && tt_attr_int(n, "axis", 0) != 1 - y->rank))
        return false;
    for (int k = 0; k < n->n_inputs; k++) {
        const tt_type *x = vtype(l, n->inputs[k]);
        if (!blocked(l, n->inputs[k]) || !x || x->dims[1] < 0 || x->dims[1] % l->block)
            return false;
    }
    return true;
}

/* ---- rewriting ---------------------------------------------------------------------------------- */

static tt_status push_node(layout *l, const char *name, const char *op, const char *domain, int opset, int nin,
                           const int *ins, int out, int nattrs, const tt_attr *attrs, tt_node *made)
{
    int outs[1] = {out};
    tt_node_spec spec = {.name = name, .op_type = op, .domain = domain, .opset = opset, .n_inputs = nin,
                         .n_outputs = 1, .inputs = ins, .outputs = outs, .n_attrs = nattrs, .attrs = attrs};
    TT_TRY(tt_graph_make_node(l->g, &spec, made));
    return TT_OK;
}

/* A new value for the blocked twin of v. */
static tt_status new_twin(layout *l, int v, int *out)
{
    char name[256];
    snprintf(name, sizeof name, "%s.blocked", l->g->values[v].name);
    TT_TRY(tt_graph_new_value(l->g, name, NULL, TT_VALUE_NODE, out));
    return grow(l);
}

/* Makes v (made blocked) readable plain: its FromBlocked, pushed once. */
static tt_status ensure_plain(layout *l, int v)
{
    if (!blocked(l, v) || l->plain_made[v])
        return TT_OK;
    const tt_type *t = vtype(l, v);
    tt_attr a = {.name = "channels", .type = TT_ATTR_INT, .i = t->dims[1]};
    int in[1] = {l->twin[v]};
    tt_node n;
    TT_TRY(push_node(l, l->g->values[v].name, "FromBlocked", TT_DOMAIN, 0, 1, in, v, 1, &a, &n));
    l->plain_made[v] = true;
    return tt_graph_edit_push(&l->e, &n);
}

/* The blocked version of node n, into *made; *ok false where it is not to be made. */
static tt_status convert(layout *l, const tt_node *n, tt_node *made, int *twin, bool *ok)
{
    *ok = false;
    int ins[16];
    if (n->n_inputs > 16)
        return TT_OK;
    for (int k = 0; k < n->n_inputs; k++)
        ins[k] = n->inputs[k];
    int out = n->outputs[0];
    if (is_conv(l, n)) {
        if (blocked(l, ins[0]))
            ins[0] = l->twin[ins[0]];
        tt_attr attrs[40];
        int na = 0;
        if (n->n_attrs > 38)
            return TT_OK;
        for (int i = 0; i < n->n_attrs; i++)
            if (strcmp(n->attrs[i].name, "block") != 0)
                attrs[na++] = n->attrs[i];
        attrs[na++] = (tt_attr){.name = "block", .type = TT_ATTR_INT, .i = l->block};
        if (n->n_inputs > 3 && ins[3] >= 0) {
            /* the summand must be blocked too: only where it is already (a ToBlocked would
             * cost what the layout saves) */
            if (!blocked(l, ins[3]))
                return TT_OK;
            ins[3] = l->twin[ins[3]];
        }
        TT_TRY(new_twin(l, out, twin));
        TT_TRY(push_node(l, n->name, "FusedConv", TT_DOMAIN, 0, n->n_inputs, ins, *twin, na, attrs, made));
        if (tt_pass_backend(l->g, made) != l->b) {
            tt_graph_drop_node(made);
            return TT_OK;
        }
        *ok = true;
        return TT_OK;
    }
    const char *op = n->op_type, *domain = n->domain;
    int opset = n->opset;
    char pool_op[64];
    if (is_pool(l, n)) {
        snprintf(pool_op, sizeof pool_op, "Blocked%s", n->op_type);
        /* a node keeps its op_type pointer: the name must live as long as the model */
        if (!(op = tt_arena_strdup(&l->g->model->arena, pool_op)))
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory choosing layouts");
        domain = TT_DOMAIN, opset = 0;
        ins[0] = l->twin[ins[0]];
    } else if (is_unary(l, n)) {
        ins[0] = l->twin[ins[0]];
    } else if (is_binary(l, n) || is_concat(l, n)) {
        for (int k = 0; k < n->n_inputs; k++)
            ins[k] = l->twin[ins[k]];
    } else {
        return TT_OK;
    }
    TT_TRY(new_twin(l, out, twin));
    TT_TRY(push_node(l, n->name, op, domain, opset, n->n_inputs, ins, *twin, n->n_attrs, n->attrs, made));
    if (strcmp(domain, TT_DOMAIN) == 0 && tt_pass_backend(l->g, made) != l->b) {
        tt_graph_drop_node(made);
        return TT_OK;
    }
    *ok = true;
    return TT_OK;
}

static tt_status run_layout(tt_graph *g, bool *changed)
{
    const tt_backend_list *bl = g->model->backends;
    if (!bl || !bl->n || !bl->b[0]->conv_block)
        return TT_OK;
    layout l = {.g = g, .b = bl->b[0], .block = bl->b[0]->conv_block(bl->b[0])};
    if (!tt_block_valid(l.block))
        return TT_OK;
    /* nothing to do without a convolution the backend runs */
    bool any = false;
    for (int i = 0; i < g->n_nodes && !any; i++)
        any = is_op(&g->nodes[i], "Conv") || is_own(&g->nodes[i], "FusedConv");
    if (!any)
        return TT_OK;
    tt_status s = grow(&l);
    if (s == TT_OK)
        s = tt_graph_edit_begin(g, &l.e);
    int n_nodes = g->n_nodes, converted = 0;
    tt_node *old = g->nodes;
    for (int i = 0; i < n_nodes && s == TT_OK; i++) {
        tt_node *n = &old[i];
        tt_node made;
        int twin = -1;
        bool ok = false;
        s = convert(&l, n, &made, &twin, &ok);
        if (s != TT_OK)
            break;
        if (ok) {
            l.twin[n->outputs[0]] = twin;
            tt_graph_drop_node(n);
            s = tt_graph_edit_push(&l.e, &made);
            converted++;
            continue;
        }
        for (int k = 0; k < n->n_inputs && s == TT_OK; k++)
            s = ensure_plain(&l, n->inputs[k]);
        for (int k = 0; k < n->n_implicit && s == TT_OK; k++)
            s = ensure_plain(&l, n->implicit[k]);
        if (s == TT_OK)
            s = tt_graph_edit_push(&l.e, n);
    }
    for (int i = 0; i < g->n_outputs && s == TT_OK; i++)
        s = ensure_plain(&l, g->outputs[i]);
    if (s == TT_OK)
        s = tt_graph_edit_end(&l.e);
    *changed = converted > 0;
    tt_free(l.twin);
    tt_free(l.plain_made);
    return s;
}

const tt_pass tt_pass_layout = {.name = "layout", .run = run_layout, .final = true};
