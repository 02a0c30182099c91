/* "matmul-epilogue": what follows a product with constant weights joins it in one
 * com.tether FusedMatMul (src/ops/fused.h): MatMul(A, W) or Gemm(A, W, C) (not transposing
 * A), then an Add of a bias row, an Add of anything else (a residual), and an activation
 * (Relu, LeakyRelu, Sigmoid, Tanh, Clip, Gelu: ONNX's or tether's), each when it is the only reader of what
 * comes before. The sums keep their order: ((A W + bias) + residual), then the activation.
 * When the session allows reduced precision (bf16, int8), every such product becomes a
 * FusedMatMul that says so (`precision`), fused with anything or not. */
#include "graph/pattern.h"

#include "core/log.h"
#include "ops/fused.h"

#include <math.h>
#include <string.h>

/* A float constant of n values laid along the last axis ([n], [1, n], ...; rank <= r). */
static bool is_row(const tt_graph *g, int v, int64_t n, int r)
{
    const tt_tensor *t = tt_pat_const(g, v);
    if (!t || t->dtype != TETHER_DTYPE_FLOAT || t->rank > r || tt_tensor_numel(t) != n)
        return false;
    for (int d = 0; d + 1 < t->rank; d++)
        if (t->dims[d] != 1)
            return false;
    return true;
}

/* The activation node n applies, with its parameters; false when it is none we fuse. */
static bool activation_of(const tt_graph *g, const tt_node *n, tt_act *act, float *alpha, float *beta)
{
    *alpha = 0, *beta = 0;
    if (n->n_outputs < 1 || n->n_inputs < 1)
        return false;
    if (tt_pat_is(n, "Relu") && n->opset >= 6) {
        *act = TT_ACT_ID_RELU;
    } else if (tt_pat_is(n, "Sigmoid") && n->opset >= 6) {
        *act = TT_ACT_ID_SIGMOID;
    } else if (tt_pat_is(n, "Tanh") && n->opset >= 6) {
        *act = TT_ACT_ID_TANH;
    } else if (tt_pat_is(n, "LeakyRelu") && n->opset >= 6) {
        *act = TT_ACT_ID_LEAKY_RELU;
        *alpha = tt_attr_float(n, "alpha", 0.01f);
    } else if (tt_pat_is(n, "com.tether:Gelu") || (tt_pat_is(n, "Gelu") && n->opset >= 20)) {
        *act = strcmp(tt_attr_string(n, "approximate", "none"), "tanh") == 0 ? TT_ACT_ID_GELU_TANH : TT_ACT_ID_GELU;
    } else if (tt_pat_is(n, "Clip")) {
        *act = TT_ACT_ID_CLIP;
        *alpha = -INFINITY, *beta = INFINITY;
        if (n->opset < 11) {
            *alpha = tt_attr_float(n, "min", -INFINITY);
            *beta = tt_attr_float(n, "max", INFINITY);
        } else {
            double v;
            for (int k = 1; k < n->n_inputs && k < 3; k++) {
                if (n->inputs[k] < 0)
                    continue;
                if (!tt_pat_scalar(g, n->inputs[k], &v))
                    return false;
                *(k == 1 ? alpha : beta) = (float)v;
            }
        }
        if (!(*alpha <= *beta))
            return false;
    } else {
        return false;
    }
    return true;
}

static tt_status fuse(tt_graph *g, tt_rw *rw, int i)
{
    const tt_node *n = &g->nodes[i];
    bool gemm = tt_pat_is(n, "Gemm");
    if ((!gemm && !tt_pat_is(n, "MatMul")) || n->n_inputs < 2 || n->outputs[0] < 0)
        return TT_OK;
    int a = n->inputs[0], w = n->inputs[1];
    const tt_tensor *wt = tt_pat_const(g, w);
    int ra = tt_pat_rank(g, a);
    if (!wt || wt->rank != 2 || wt->dtype != TETHER_DTYPE_FLOAT || tt_pat_dtype(g, a) != TETHER_DTYPE_FLOAT ||
        ra < 1)
        return TT_OK;
    bool tb = false;
    float alpha = 1.0f;
    int bias = -1;
    if (gemm) {
        if (tt_attr_int(n, "transA", 0) || ra != 2)
            return TT_OK;
        tb = tt_attr_int(n, "transB", 0) != 0;
        alpha = tt_attr_float(n, "alpha", 1.0f);
    }
    int64_t N = wt->dims[tb ? 0 : 1];
    int rout = ra;
    const tt_tensor *scaled_c = NULL; /* Gemm's C, to become beta * C as a row of N */
    float c_beta = 1.0f;
    if (gemm && n->n_inputs > 2 && n->inputs[2] >= 0) {
        /* C becomes the bias: beta * C as a row of N */
        float beta = tt_attr_float(n, "beta", 1.0f);
        const tt_tensor *ct = tt_pat_const(g, n->inputs[2]);
        if (!ct || ct->dtype != TETHER_DTYPE_FLOAT || ct->rank > 2 ||
            (tt_tensor_numel(ct) != N && tt_tensor_numel(ct) != 1) || (ct->rank == 2 && ct->dims[0] != 1))
            return TT_OK;
        if (beta != 0.0f) {
            if (beta == 1.0f && tt_tensor_numel(ct) == N)
                bias = n->inputs[2];
            else
                scaled_c = ct, c_beta = beta;
        }
    }
    int out = n->outputs[0], last = i, res = -1;
    tt_act act = TT_ACT_ID_NONE;
    float act_a = 0, act_b = 0;
    int dropped[3], nd = 0;
    for (int step = 0; step < 3; step++) {
        int r = tt_pat_only_reader(g, out);
        if (r < 0 || tt_rw_taken(rw, r))
            break;
        const tt_node *m = &g->nodes[r];
        if (tt_pat_is(m, "Add") && m->n_inputs == 2 && m->opset >= 7 && act == TT_ACT_ID_NONE) {
            int other = tt_pat_other(m, out);
            if (other < 0 || other == out || tt_pat_dtype(g, other) != TETHER_DTYPE_FLOAT)
                break;
            if (bias < 0 && !scaled_c && res < 0 && is_row(g, other, N, rout)) {
                bias = other;
            } else if (res < 0 && tt_pat_rank(g, other) >= 0) {
                res = other;
            } else {
                break;
            }
        } else if (act == TT_ACT_ID_NONE && activation_of(g, m, &act, &act_a, &act_b)) {
            /* nothing after the activation */
        } else {
            break;
        }
        dropped[nd++] = last;
        last = r;
        out = m->outputs[0];
        if (act != TT_ACT_ID_NONE)
            break;
    }
    /* a lone product carries the session's reduced precision as a FusedMatMul */
    if (last == i && g->model->precision == TT_PRECISION_FP32)
        return TT_OK;
    if (scaled_c) {
        float *row = tt_arena_alloc(&g->model->arena, sizeof(float) * (size_t)(N ? N : 1));
        if (!row)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory fusing node '%s'", n->name);
        for (int64_t j = 0; j < N; j++)
            row[j] = c_beta * ((const float *)scaled_c->data)[tt_tensor_numel(scaled_c) == 1 ? 0 : j];
        tt_tensor t = {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .data = row};
        t.dims[0] = N;
        TT_TRY(tt_graph_new_const(g, "bias", &t, &bias));
    }
    int ins[4] = {a, w, bias, res};
    tt_attr attrs[6];
    int na = 0;
    if (g->model->precision != TT_PRECISION_FP32) {
        const char *p = g->model->precision == TT_PRECISION_BF16 ? "bf16" : "int8";
        attrs[na++] = (tt_attr){.name = "precision", .type = TT_ATTR_STRING, .s = p, .s_len = strlen(p)};
    }
    if (tb)
        attrs[na++] = (tt_attr){.name = "transB", .type = TT_ATTR_INT, .i = 1};
    if (alpha != 1.0f)
        attrs[na++] = (tt_attr){.name = "alpha", .type = TT_ATTR_FLOAT, .f = alpha};
    if (act != TT_ACT_ID_NONE) {
        const char *name = tt_act_name(act);
        attrs[na++] = (tt_attr){.name = "activation", .type = TT_ATTR_STRING, .s = name, .s_len = strlen(name)};
        attrs[na++] = (tt_attr){.name = "activation_alpha", .type = TT_ATTR_FLOAT, .f = act_a};
        attrs[na++] = (tt_attr){.name = "activation_beta", .type = TT_ATTR_FLOAT, .f = act_b};
    }
    tt_node_spec spec = {.name = g->nodes[last].name, .op_type = "FusedMatMul", .domain = TT_DOMAIN,
                         .n_inputs = res >= 0 ? 4 : bias >= 0 ? 3 : 2, .inputs = ins, .n_outputs = 1,
                         .outputs = &out, .n_attrs = na, .attrs = attrs};
    bool done;
    TT_TRY(tt_rw_fuse(rw, last, i, &spec, &done));
    for (int k = 0; done && k < nd; k++)
        tt_rw_drop(rw, dropped[k]);
    return TT_OK;
}

static tt_status run_matmul_epilogue(tt_graph *g, bool *changed)
{
    tt_rw rw;
    TT_TRY(tt_rw_begin(g, &rw));
    tt_status s = TT_OK;
    for (int i = 0; i < g->n_nodes && s == TT_OK; i++)
        if (!tt_rw_taken(&rw, i))
            s = fuse(g, &rw, i);
    if (s != TT_OK) {
        tt_rw_abort(&rw);
        return s;
    }
    return tt_rw_end(&rw, changed);
}

const tt_pass tt_pass_matmul_epilogue = {.name = "matmul-epilogue", .run = run_matmul_epilogue};
