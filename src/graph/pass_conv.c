/* Convolution fusion: a float32 Conv and the chain of nodes that alone read its output
 *     Conv -> [Add of a per-channel constant] -> [Add of a tensor of its shape] -> [activation]
 * (each step optional, in any order before the activation) become one com.tether FusedConv
 * (ops/cnn.h): the constant joins the bias, the tensor is the summand Z, the activation is
 * Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid or HardSwish. The fused node takes the
 * last node's place and output value, so its readers and name are unchanged. It is made
 * only where the backend that would run the Conv runs FusedConv too. When the session
 * allows reduced precision, every float Conv becomes a FusedConv that says so
 * (`precision`), fused or not. */
#include "graph/graph.h"

#include "ops/cnn.h"

#include <math.h>

static bool is_op(const tt_node *n, const char *op)
{
    return strcmp(n->op_type, op) == 0 && (!*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

/* Value v as a constant float scalar. */
static bool const_scalar(const tt_graph *g, int v, float *out)
{
    if (v < 0 || g->values[v].origin != TT_VALUE_CONST)
        return false;
    const tt_tensor *t = g->values[v].init;
    if (t->dtype != TETHER_DTYPE_FLOAT || tt_tensor_numel(t) != 1)
        return false;
    *out = *(const float *)t->data;
    return true;
}

/* Whether node n applies one of FusedConv's activations to input 0, and its parameters. */
static bool activation_of(const tt_graph *g, const tt_node *n, tt_conv_act *act, float *alpha, float *beta)
{
    *alpha = *beta = 0;
    if (n->n_outputs < 1 || n->outputs[0] < 0 || (n->n_outputs > 1 && n->outputs[1] >= 0))
        return false;
    if (is_op(n, "Clip")) {
        float lo = -INFINITY, hi = INFINITY;
        if (n->opset < 11) {
            lo = tt_attr_float(n, "min", -INFINITY);
            hi = tt_attr_float(n, "max", INFINITY);
        } else {
            if (n->n_inputs > 1 && n->inputs[1] >= 0 && !const_scalar(g, n->inputs[1], &lo))
                return false;
            if (n->n_inputs > 2 && n->inputs[2] >= 0 && !const_scalar(g, n->inputs[2], &hi))
                return false;
        }
        if (!(lo <= hi))
            return false;
        *act = TT_CONV_ACT_CLIP, *alpha = lo, *beta = hi;
        return true;
    }
    if (n->n_inputs != 1)
        return false;
    if (is_op(n, "Relu")) {
        *act = TT_CONV_ACT_RELU;
    } else if (is_op(n, "LeakyRelu")) {
        *act = TT_CONV_ACT_LEAKY_RELU, *alpha = tt_attr_float(n, "alpha", 0.01f);
    } else if (is_op(n, "Sigmoid")) {
        *act = TT_CONV_ACT_SIGMOID;
    } else if (is_op(n, "Tanh")) {
        *act = TT_CONV_ACT_TANH;
    } else if (is_op(n, "HardSigmoid")) {
        *act = TT_CONV_ACT_HARD_SIGMOID, *alpha = tt_attr_float(n, "alpha", 0.2f), *beta = tt_attr_float(n, "beta", 0.5f);
    } else if (is_op(n, "HardSwish")) {
        *act = TT_CONV_ACT_HARD_SWISH;
    } else {
        return false;
    }
    return true;
}

/* Whether constant v broadcasts against y (rank r, M channels) as one value per channel. */
static bool per_channel_const(const tt_graph *g, int v, int r, int64_t M)
{
    if (v < 0 || g->values[v].origin != TT_VALUE_CONST)
        return false;
    const tt_tensor *t = g->values[v].init;
    if (t->dtype != TETHER_DTYPE_FLOAT || t->rank > r || t->rank < r - 1 || tt_tensor_numel(t) != M)
        return false;
    for (int i = 0; i < t->rank; i++) {
        int axis = r - t->rank + i;
        if (t->dims[i] != (axis == 1 ? M : 1))
            return false;
    }
    return true;
}

static bool same_type(const tt_type *a, const tt_type *b)
{
    if (a->kind != TT_KIND_TENSOR || b->kind != TT_KIND_TENSOR || a->dtype != b->dtype || a->rank < 0 ||
        a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i] || a->dims[i] == TT_DIM_UNKNOWN)
            return false;
    return true;
}

/* One fusion found: the Conv, the nodes it swallows (the last one's place is the fused
 * node's), and what they add. */
typedef struct chain {
    int conv, last, n;
    int nodes[4];
    int bias_const;          /* the per-channel constant added, or -1 */
    int z;                   /* the summand, or -1 */
    tt_conv_act act;
    float alpha, beta;
    int out;                 /* the value the fused node makes */
} chain;

static bool find_chain(const tt_graph *g, int i, const bool *claimed, chain *c)
{
    const tt_node *conv = &g->nodes[i];
    if (!is_op(conv, "Conv") || conv->n_inputs < 2 || conv->n_outputs != 1 || conv->outputs[0] < 0)
        return false;
    const tt_value_decl *x = conv->inputs[0] >= 0 ? &g->values[conv->inputs[0]] : NULL;
    const tt_value_decl *w = conv->inputs[1] >= 0 ? &g->values[conv->inputs[1]] : NULL;
    if (!x || !w || x->type.dtype != TETHER_DTYPE_FLOAT || x->type.rank < 3 || w->type.rank != x->type.rank ||
        w->type.dims[0] < 0)
        return false;
    const tt_type *yt = &g->values[conv->outputs[0]].type;
    int r = x->type.rank;
    int64_t M = w->type.dims[0];
    *c = (chain){.conv = i, .last = i, .bias_const = -1, .z = -1, .out = conv->outputs[0]};
    while (c->n < 4 && !c->act) {
        int j = tt_graph_sole_consumer(g, c->out);
        if (j < 0 || claimed[j])
            break;
        const tt_node *n = &g->nodes[j];
        if (is_op(n, "Add") && n->opset >= 7 && n->n_inputs == 2 && n->inputs[0] != n->inputs[1] &&
            n->outputs[0] >= 0) {
            int other = n->inputs[0] == c->out ? n->inputs[1] : n->inputs[0];
            if (c->bias_const < 0 && per_channel_const(g, other, r, M))
                c->bias_const = other;
            else if (c->z < 0 && other >= 0 && same_type(&g->values[other].type, yt) &&
                     same_type(&g->values[n->outputs[0]].type, yt))
                c->z = other;
            else
                break;
        } else if (n->inputs[0] != c->out || !activation_of(g, n, &c->act, &c->alpha, &c->beta)) {
            break;
        }
        c->nodes[c->n++] = j;
        c->last = j;
        c->out = n->outputs[0];
    }
    /* a lone Conv carries the session's reduced precision as a FusedConv */
    return c->n > 0 || g->model->precision != TT_PRECISION_FP32;
}

/* The FusedConv of chain c, into *out (not yet in the graph). */
static tt_status make_fused(tt_graph *g, const chain *c, tt_node *out)
{
    const tt_node *conv = &g->nodes[c->conv];
    int b = conv->n_inputs > 2 ? conv->inputs[2] : -1;
    if (c->bias_const >= 0) {
        /* the constant joins the bias */
        const tt_tensor *add = g->values[c->bias_const].init;
        int64_t M = tt_tensor_numel(add);
        float *nb = tt_malloc(sizeof(float) * (size_t)(M + 1));
        if (!nb)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory fusing a convolution");
        const float *b0 = b >= 0 ? g->values[b].init->data : NULL;
        for (int64_t m = 0; m < M; m++)
            nb[m] = (b0 ? b0[m] : 0.0f) + ((const float *)add->data)[m];
        tt_tensor t = {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {M}, .data = nb};
        tt_status s = tt_graph_new_const(g, conv->name, &t, &b);
        tt_free(nb);
        TT_TRY(s);
    }
    int ins[4] = {conv->inputs[0], conv->inputs[1], b, c->z};
    int nin = c->z >= 0 ? 4 : b >= 0 ? 3 : 2;
    tt_attr attrs[32];
    int na = 0;
    if (conv->n_attrs > 27)
        return tt_error(TETHER_ERR_UNSUPPORTED, "Conv '%s' has too many attributes to fuse", conv->name);
    for (int i = 0; i < conv->n_attrs; i++)
        attrs[na++] = conv->attrs[i];
    if (g->model->precision != TT_PRECISION_FP32) {
        const char *p = g->model->precision == TT_PRECISION_BF16 ? "bf16" : "int8";
        attrs[na++] = (tt_attr){.name = "precision", .type = TT_ATTR_STRING, .s = p, .s_len = strlen(p)};
    }
    if (c->act) {
        const char *name = tt_conv_act_name(c->act);
        attrs[na++] = (tt_attr){.name = "activation", .type = TT_ATTR_STRING, .s = name, .s_len = strlen(name)};
        attrs[na++] = (tt_attr){.name = "activation_alpha", .type = TT_ATTR_FLOAT, .f = c->alpha};
        attrs[na++] = (tt_attr){.name = "activation_beta", .type = TT_ATTR_FLOAT, .f = c->beta};
    }
    int outs[1] = {c->out};
    tt_node_spec spec = {.name = conv->name, .op_type = "FusedConv", .domain = TT_DOMAIN, .n_inputs = nin,
                         .n_outputs = 1, .inputs = ins, .outputs = outs, .n_attrs = na, .attrs = attrs};
    return tt_graph_make_node(g, &spec, out);
}

static tt_status run_fuse_conv(tt_graph *g, bool *changed)
{
    int n = g->n_nodes;
    bool *claimed = tt_calloc((size_t)n + 1, sizeof *claimed);
    int *role = tt_calloc((size_t)n + 1, sizeof *role); /* 0 keep, 1 dropped, 2 + k: made[k] */
    tt_node *made = tt_calloc((size_t)n + 1, sizeof *made);
    tt_status s = claimed && role && made ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory fusing convolutions");
    int nmade = 0;
    for (int i = 0; i < n && s == TT_OK; i++) {
        chain c;
        if (claimed[i] || !find_chain(g, i, claimed, &c))
            continue;
        tt_node f;
        if ((s = make_fused(g, &c, &f)) != TT_OK)
            break;
        if (!tt_pass_backend_keeps(g, &g->nodes[i], &f)) {
            tt_graph_drop_node(&f);
            continue;
        }
        claimed[i] = true;
        role[i] = 1;
        for (int k = 0; k < c.n; k++) {
            claimed[c.nodes[k]] = true;
            role[c.nodes[k]] = 1;
        }
        made[nmade] = f;
        role[c.last] = 2 + nmade++;
    }
    if (s == TT_OK && nmade) {
        tt_graph_edit e;
        s = tt_graph_edit_begin(g, &e);
        for (int i = 0; i < n && s == TT_OK; i++) {
            if (role[i] == 0) {
                s = tt_graph_edit_push(&e, &g->nodes[i]);
                continue;
            }
            tt_graph_drop_node(&g->nodes[i]);
            if (role[i] >= 2)
                s = tt_graph_edit_push(&e, &made[role[i] - 2]);
        }
        if (s == TT_OK)
            s = tt_graph_edit_end(&e);
        *changed = true;
    }
    tt_free(claimed);
    tt_free(role);
    tt_free(made);
    return s;
}

const tt_pass tt_pass_fuse_conv = {.name = "fuse_conv", .run = run_fuse_conv};
