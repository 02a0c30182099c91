/* BatchNormalization folding: an inference BatchNormalization whose input is made only by a
 * Conv (or a Gemm) with constant weights becomes part of that node's weights and bias:
 *     a = scale / sqrt(var + epsilon),  W'[m] = W[m] a[m],  B'[m] = (B[m] - mean[m]) a[m] + bias[m]
 * computed in double and stored as float32. The rewritten Conv (Gemm) takes the
 * BatchNormalization's output value, so readers and names are unchanged. */
#include "graph/graph.h"

#include <math.h>
#include <string.h>

/* Value v as a constant float32 tensor of n elements, or NULL. */
static const float *const_f32(const tt_graph *g, int v, int64_t n)
{
    if (v < 0 || g->values[v].origin != TT_VALUE_CONST)
        return NULL;
    const tt_tensor *t = g->values[v].init;
    if (t->dtype != TETHER_DTYPE_FLOAT || (n >= 0 && tt_tensor_numel(t) != n))
        return NULL;
    return t->data;
}

static bool is_op(const tt_node *n, const char *op)
{
    return strcmp(n->op_type, op) == 0 && (!*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

/* Whether n is a BatchNormalization in inference mode with nothing but Y read. */
static bool inference_bn(const tt_node *n)
{
    if (!is_op(n, "BatchNormalization") || n->n_inputs < 5 || n->outputs[0] < 0)
        return false;
    for (int k = 1; k < n->n_outputs; k++)
        if (n->outputs[k] >= 0)
            return false;
    if (n->opset >= 14 && tt_attr_int(n, "training_mode", 0) != 0)
        return false;
    if (n->opset < 9 && tt_attr_int(n, "spatial", 1) == 0)
        return false;
    return true;
}

/* The per-channel affine form of BatchNormalization node bn over M channels: y = x a + c. */
static bool bn_affine(const tt_graph *g, const tt_node *bn, int64_t M, double *a, double *c)
{
    const float *scale = const_f32(g, bn->inputs[1], M), *bias = const_f32(g, bn->inputs[2], M),
                *mean = const_f32(g, bn->inputs[3], M), *var = const_f32(g, bn->inputs[4], M);
    if (!scale || !bias || !mean || !var)
        return false;
    double eps = tt_attr_float(bn, "epsilon", 1e-5f);
    for (int64_t m = 0; m < M; m++) {
        a[m] = scale[m] / sqrt((double)var[m] + eps);
        c[m] = bias[m] - mean[m] * a[m];
    }
    return true;
}

typedef struct fold {
    int producer;  /* the Conv or Gemm */
    int bn;        /* the BatchNormalization */
} fold;

/* The rewritten producer: new constants and the node, into *out. */
static tt_status fold_one(tt_graph *g, const tt_node *p, const tt_node *bn, tt_node *out, bool *ok)
{
    *ok = false;
    bool conv = is_op(p, "Conv");
    int wi = 1, bi = 2;
    const tt_value_decl *wd = &g->values[p->inputs[wi]];
    if (wd->origin != TT_VALUE_CONST || wd->init->dtype != TETHER_DTYPE_FLOAT)
        return TT_OK;
    const tt_tensor *w = wd->init;
    int64_t M;
    bool trans_b = false;
    if (conv) {
        if (w->rank < 3)
            return TT_OK;
        M = w->dims[0];
    } else {
        if (w->rank != 2 || tt_attr_int(p, "transA", 0) != 0)
            return TT_OK;
        trans_b = tt_attr_int(p, "transB", 0) != 0;
        M = trans_b ? w->dims[0] : w->dims[1];
        /* BatchNormalization over [N, M]: the Gemm's output must be 2-D */
        const tt_type *y = &g->values[p->outputs[0]].type;
        if (y->rank != 2)
            return TT_OK;
    }
    const float *b0 = NULL;
    int64_t bn_c = 0;
    if (p->n_inputs > bi && p->inputs[bi] >= 0) {
        /* a bias of M elements (Gemm: broadcast along the rows only) */
        const tt_value_decl *bd = &g->values[p->inputs[bi]];
        if (bd->origin != TT_VALUE_CONST || bd->init->dtype != TETHER_DTYPE_FLOAT)
            return TT_OK;
        bn_c = tt_tensor_numel(bd->init);
        if (bn_c != M && bn_c != 1)
            return TT_OK;
        if (!conv && bd->init->rank == 2 && bd->init->dims[0] != 1)
            return TT_OK;
        b0 = bd->init->data;
    }
    double *a = tt_malloc(sizeof(double) * (size_t)(2 * M + 1)), *c = a ? a + M : NULL;
    if (!a)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory folding a BatchNormalization");
    tt_status s = TT_OK;
    float *nw = NULL, *nb = NULL;
    if (p->n_attrs > 16 || !bn_affine(g, bn, M, a, c))
        goto done;
    /* Gemm: alpha A (B a) + (beta C a + c), so alpha stays and the bias takes beta */
    double beta = conv ? 1.0 : tt_attr_float(p, "beta", 1.0f);
    int64_t n = tt_tensor_numel(w);
    nw = tt_malloc(sizeof(float) * (size_t)(n + 1));
    nb = tt_malloc(sizeof(float) * (size_t)(M + 1));
    if (!nw || !nb) {
        s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory folding a BatchNormalization");
        goto done;
    }
    const float *w0 = w->data;
    for (int64_t i = 0; i < n; i++) {
        /* Conv: [M, ...]; Gemm: B is [K, M], or [M, K] with transB */
        int64_t m = conv || trans_b ? i / (n / M) : i % M;
        nw[i] = (float)(w0[i] * a[m]);
    }
    for (int64_t m = 0; m < M; m++) {
        double b = b0 ? b0[bn_c == 1 ? 0 : m] * beta : 0;
        nb[m] = (float)(b * a[m] + c[m]);
    }
    tt_tensor tw = *w, tb = {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {M}};
    tw.data = nw;
    tw.buf = NULL;
    tb.data = nb;
    int vw, vb;
    if ((s = tt_graph_new_const(g, g->values[p->inputs[wi]].name, &tw, &vw)) != TT_OK)
        goto done;
    if ((s = tt_graph_new_const(g, bn->name, &tb, &vb)) != TT_OK)
        goto done;
    int ins[3] = {p->inputs[0], vw, vb};
    int outs[1] = {bn->outputs[0]};
    /* Gemm: the bias now holds beta * C, so beta becomes 1 */
    tt_attr attrs[16];
    int na = 0;
    for (int i = 0; i < p->n_attrs; i++)
        if (conv || strcmp(p->attrs[i].name, "beta") != 0)
            attrs[na++] = p->attrs[i];
    tt_node_spec spec = {.name = p->name, .op_type = p->op_type, .domain = p->domain, .opset = p->opset,
                         .n_inputs = 3, .n_outputs = 1, .inputs = ins, .outputs = outs, .n_attrs = na,
                         .attrs = attrs};
    if ((s = tt_graph_make_node(g, &spec, out)) == TT_OK)
        *ok = true;
done:
    tt_free(a);
    tt_free(nw);
    tt_free(nb);
    return s;
}

static tt_status run_fold_bn(tt_graph *g, bool *changed)
{
    int *role = NULL; /* per node: 0 keep, 1 dropped, 2 + k: replaced by made[k] */
    tt_node *made = NULL;
    int nmade = 0;
    tt_status s = TT_OK;
    for (int j = 0; j < g->n_nodes && s == TT_OK; j++) {
        tt_node *bn = &g->nodes[j];
        if (!inference_bn(bn) || bn->inputs[0] < 0)
            continue;
        int x = bn->inputs[0], i = g->values[x].producer;
        if (g->values[x].origin != TT_VALUE_NODE || i < 0 || tt_graph_sole_consumer(g, x) != j)
            continue;
        tt_node *p = &g->nodes[i];
        if ((!is_op(p, "Conv") && !is_op(p, "Gemm")) || p->n_outputs != 1 || p->n_inputs < 2)
            continue;
        if (!role) {
            role = tt_calloc((size_t)g->n_nodes, sizeof *role);
            made = tt_calloc((size_t)g->n_nodes, sizeof *made);
            if (!role || !made) {
                s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory folding BatchNormalization");
                break;
            }
        }
        bool ok;
        s = fold_one(g, p, bn, &made[nmade], &ok);
        if (s == TT_OK && ok) {
            role[i] = 2 + nmade++;
            role[j] = 1;
        }
    }
    if (s == TT_OK && nmade) {
        tt_graph_edit e;
        s = tt_graph_edit_begin(g, &e);
        for (int i = 0; i < g->n_nodes && s == TT_OK; i++) {
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
    tt_free(role);
    tt_free(made);
    return s;
}

const tt_pass tt_pass_fold_bn = {.name = "fold_bn", .run = run_fold_bn};
