/* Transformer patterns as fused com.tether nodes (src/ops/fused.h):
 *   "layernorm": ReduceMean, Sub, Pow 2 (or Mul), ReduceMean, Add eps, Sqrt, Div, [Mul scale],
 *                [Add bias] over the last axis (what exporters write before opset 17);
 *   "gelu":      x * 0.5 * (1 + erf(x / sqrt 2)) and the tanh form
 *                0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in their usual orders;
 *   "attention": MatMul(Q, K^T) [Div|Mul scale] [Add mask] Softmax MatMul(V), with a scale on
 *                Q instead, and the Transposes around it read through as permutations.
 * Every intermediate must be read only inside the pattern. */
#include "graph/pattern.h"

#include "core/log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The node reading value v alone, when it is op (and not taken by this rewrite). */
static int reader_is(const tt_graph *g, const tt_rw *rw, int v, const char *op)
{
    int r = tt_pat_only_reader(g, v);
    return r >= 0 && !tt_rw_taken(rw, r) && tt_pat_is(&g->nodes[r], op) ? r : -1;
}

/* The producer of v, when it is op, read only by reader and not taken. */
static int producer_is(const tt_graph *g, const tt_rw *rw, int v, const char *op, int reader)
{
    int p = tt_pat_producer(g, v);
    if (p < 0 || tt_rw_taken(rw, p) || !tt_pat_is(&g->nodes[p], op))
        return -1;
    if (reader >= 0 && tt_pat_only_reader(g, v) != reader)
        return -1;
    return p;
}

static bool is_float32(const tt_graph *g, int v) { return tt_pat_dtype(g, v) == TETHER_DTYPE_FLOAT; }

/* ---- layernorm --------------------------------------------------------------------------- */

/* Whether ReduceMean node n averages over exactly the last axis of its rank-r input and
 * keeps the dims. */
static bool mean_over_last(const tt_graph *g, const tt_node *n)
{
    int r = tt_pat_rank(g, n->inputs[0]);
    if (r < 1 || tt_attr_int(n, "keepdims", 1) != 1)
        return false;
    int64_t axis;
    if (n->opset >= 18) {
        double a;
        if (n->n_inputs < 2 || !tt_pat_scalar(g, n->inputs[1], &a))
            return false;
        axis = (int64_t)a;
    } else {
        size_t len;
        const int64_t *axes = tt_attr_ints(n, "axes", &len);
        if (!axes || len != 1)
            return false;
        axis = axes[0];
    }
    return axis == -1 || axis == r - 1;
}

/* A float constant with c values laid along the last axis (shape [c], [1, c], ...), or one
 * value; *numel receives its size. */
static bool row_param(const tt_graph *g, int v, int64_t c, int r)
{
    const tt_tensor *t = tt_pat_const(g, v);
    if (!t || t->dtype != TETHER_DTYPE_FLOAT || t->rank > r)
        return false;
    int64_t n = tt_tensor_numel(t);
    if (n != c)
        return false;
    for (int d = 0; d + 1 < t->rank; d++)
        if (t->dims[d] != 1)
            return false;
    return true;
}

static tt_status fuse_layernorm(tt_graph *g, tt_rw *rw, int div)
{
    tt_node *nd = &g->nodes[div];
    if (!tt_pat_is(nd, "Div") || nd->n_inputs != 2)
        return TT_OK;
    int d = nd->inputs[0], sq = nd->inputs[1];
    int isq = producer_is(g, rw, sq, "Sqrt", div);
    if (isq < 0)
        return TT_OK;
    int iadd = producer_is(g, rw, g->nodes[isq].inputs[0], "Add", isq);
    if (iadd < 0)
        return TT_OK;
    const tt_node *na = &g->nodes[iadd];
    double eps;
    int var = -1;
    if (tt_pat_scalar(g, na->inputs[1], &eps))
        var = na->inputs[0];
    else if (tt_pat_scalar(g, na->inputs[0], &eps))
        var = na->inputs[1];
    if (var < 0 || !(eps >= 0))
        return TT_OK;
    int im2 = producer_is(g, rw, var, "ReduceMean", iadd);
    if (im2 < 0 || !mean_over_last(g, &g->nodes[im2]))
        return TT_OK;
    int ipow = tt_pat_producer(g, g->nodes[im2].inputs[0]);
    if (ipow < 0 || tt_rw_taken(rw, ipow) || tt_pat_only_reader(g, g->nodes[im2].inputs[0]) != im2)
        return TT_OK;
    const tt_node *np = &g->nodes[ipow];
    bool square = (tt_pat_is(np, "Pow") && np->inputs[0] == d && tt_pat_scalar_is(g, np->inputs[1], 2, 0)) ||
                  (tt_pat_is(np, "Mul") && np->inputs[0] == d && np->inputs[1] == d);
    if (!square)
        return TT_OK;
    /* d = x - mean(x), read by the square and the Div only */
    int isub = tt_pat_producer(g, d);
    if (isub < 0 || tt_rw_taken(rw, isub) || !tt_pat_is(&g->nodes[isub], "Sub") || tt_graph_is_output(g, d) ||
        g->values[d].n_consumers != (tt_pat_is(np, "Mul") ? 3 : 2))
        return TT_OK;
    int x = g->nodes[isub].inputs[0];
    int im1 = producer_is(g, rw, g->nodes[isub].inputs[1], "ReduceMean", isub);
    if (im1 < 0 || g->nodes[im1].inputs[0] != x || !mean_over_last(g, &g->nodes[im1]) || !is_float32(g, x))
        return TT_OK;
    int r = tt_pat_rank(g, x);
    int64_t c = g->values[x].type.dims[r - 1];
    if (!tt_dim_known(c))
        return TT_OK;
    /* then * scale and + bias, when they follow */
    int out = nd->outputs[0], last = div, scale = -1, bias = -1;
    int imul = reader_is(g, rw, out, "Mul");
    if (imul >= 0 && row_param(g, tt_pat_other(&g->nodes[imul], out), c, r)) {
        scale = tt_pat_other(&g->nodes[imul], out);
        out = g->nodes[imul].outputs[0];
        last = imul;
        int iab = reader_is(g, rw, out, "Add");
        if (iab >= 0 && row_param(g, tt_pat_other(&g->nodes[iab], out), c, r)) {
            bias = tt_pat_other(&g->nodes[iab], out);
            out = g->nodes[iab].outputs[0];
            last = iab;
        }
    }
    int ins[3] = {x, scale, bias};
    tt_attr attrs[2] = {{.name = "axis", .type = TT_ATTR_INT, .i = -1},
                        {.name = "epsilon", .type = TT_ATTR_FLOAT, .f = (float)eps}};
    tt_node_spec spec = {.name = g->nodes[last].name, .op_type = "LayerNorm", .domain = TT_DOMAIN,
                         .n_inputs = bias >= 0 ? 3 : scale >= 0 ? 2 : 1, .inputs = ins, .n_outputs = 1,
                         .outputs = &out, .n_attrs = 2, .attrs = attrs};
    bool done;
    TT_TRY(tt_rw_fuse(rw, last, div, &spec, &done));
    int drop[] = {im1, isub, ipow, im2, iadd, isq, div, imul, last};
    for (size_t k = 0; done && k < sizeof drop / sizeof drop[0]; k++)
        if (drop[k] >= 0 && drop[k] != last && (drop[k] != imul || scale >= 0))
            tt_rw_drop(rw, drop[k]);
    return TT_OK;
}

static tt_status run_layernorm(tt_graph *g, bool *changed)
{
    tt_rw rw;
    TT_TRY(tt_rw_begin(g, &rw));
    tt_status s = TT_OK;
    for (int i = 0; i < g->n_nodes && s == TT_OK; i++)
        if (!tt_rw_taken(&rw, i))
            s = fuse_layernorm(g, &rw, i);
    if (s != TT_OK) {
        tt_rw_abort(&rw);
        return s;
    }
    return tt_rw_end(&rw, changed);
}

/* ---- gelu ----------------------------------------------------------------------------------- */

/* From u = 1 + f(..) (value `one_plus`, made by node iadd) on: x * u * 0.5 in one of its
 * orders. Returns the last node and its output, or -1; the nodes it used go in used[]. */
static int gelu_tail(const tt_graph *g, const tt_rw *rw, int x, int one_plus, int *out, int used[2])
{
    int m1 = tt_pat_only_reader(g, one_plus);
    if (m1 < 0 || tt_rw_taken(rw, m1) || !tt_pat_is(&g->nodes[m1], "Mul"))
        return -1;
    int other = tt_pat_other(&g->nodes[m1], one_plus);
    int v1 = g->nodes[m1].outputs[0];
    used[0] = m1;
    if (other == x) {
        /* (x * u) * 0.5 */
        int m2 = reader_is(g, rw, v1, "Mul");
        if (m2 < 0 || !tt_pat_scalar_is(g, tt_pat_other(&g->nodes[m2], v1), 0.5, 0))
            return -1;
        used[1] = m2;
        *out = g->nodes[m2].outputs[0];
        return m2;
    }
    if (tt_pat_scalar_is(g, other, 0.5, 0)) {
        /* x * (u * 0.5) */
        int m2 = reader_is(g, rw, v1, "Mul");
        if (m2 < 0 || tt_pat_other(&g->nodes[m2], v1) != x)
            return -1;
        used[1] = m2;
        *out = g->nodes[m2].outputs[0];
        return m2;
    }
    /* (x * 0.5) * u */
    int h = tt_pat_producer(g, other);
    if (h < 0 || tt_rw_taken(rw, h) || !tt_pat_is(&g->nodes[h], "Mul") || tt_pat_only_reader(g, other) != m1 ||
        tt_pat_other(&g->nodes[h], x) < 0 || !tt_pat_scalar_is(g, tt_pat_other(&g->nodes[h], x), 0.5, 0))
        return -1;
    used[1] = h;
    *out = v1;
    return m1;
}

/* 1 + t (t read by the Add alone): the Add node, or -1. */
static int plus_one(const tt_graph *g, const tt_rw *rw, int t)
{
    int a = reader_is(g, rw, t, "Add");
    return a >= 0 && tt_pat_scalar_is(g, tt_pat_other(&g->nodes[a], t), 1, 0) ? a : -1;
}

static tt_status gelu_emit(tt_graph *g, tt_rw *rw, int x, int out, int last, int anchor, const int *drop, int ndrop,
                           bool tanh_form)
{
    if (!is_float32(g, x))
        return TT_OK;
    tt_attr attr = {.name = "approximate", .type = TT_ATTR_STRING, .s = tanh_form ? "tanh" : "none",
                    .s_len = tanh_form ? 4 : 4};
    tt_node_spec spec = {.name = g->nodes[last].name, .op_type = "Gelu", .domain = TT_DOMAIN, .n_inputs = 1,
                         .inputs = &x, .n_outputs = 1, .outputs = &out, .n_attrs = 1, .attrs = &attr};
    bool done;
    TT_TRY(tt_rw_fuse(rw, last, anchor, &spec, &done));
    for (int k = 0; done && k < ndrop; k++)
        if (drop[k] != last)
            tt_rw_drop(rw, drop[k]);
    return TT_OK;
}

/* erf form, anchored at the Erf node. */
static tt_status fuse_gelu_erf(tt_graph *g, tt_rw *rw, int ierf)
{
    int a = g->nodes[ierf].inputs[0];
    int idiv = tt_pat_producer(g, a);
    if (idiv < 0 || tt_rw_taken(rw, idiv) || tt_pat_only_reader(g, a) != ierf)
        return TT_OK;
    const tt_node *nd = &g->nodes[idiv];
    int x;
    if (tt_pat_is(nd, "Div") && tt_pat_scalar_is(g, nd->inputs[1], sqrt(2.0), 1e-4))
        x = nd->inputs[0];
    else if (tt_pat_is(nd, "Mul") && tt_pat_scalar_is(g, nd->inputs[1], sqrt(0.5), 1e-4))
        x = nd->inputs[0];
    else if (tt_pat_is(nd, "Mul") && tt_pat_scalar_is(g, nd->inputs[0], sqrt(0.5), 1e-4))
        x = nd->inputs[1];
    else
        return TT_OK;
    int iadd = plus_one(g, rw, g->nodes[ierf].outputs[0]);
    if (iadd < 0)
        return TT_OK;
    int out, used[2];
    int last = gelu_tail(g, rw, x, g->nodes[iadd].outputs[0], &out, used);
    if (last < 0)
        return TT_OK;
    int drop[] = {idiv, ierf, iadd, used[0], used[1]};
    return gelu_emit(g, rw, x, out, last, ierf, drop, 5, false);
}

/* tanh form, anchored at the Tanh node. */
static tt_status fuse_gelu_tanh(tt_graph *g, tt_rw *rw, int itanh)
{
    int s = g->nodes[itanh].inputs[0];
    int ik = producer_is(g, rw, s, "Mul", itanh);
    if (ik < 0)
        return TT_OK;
    const tt_node *nk = &g->nodes[ik];
    int r;
    if (tt_pat_scalar_is(g, nk->inputs[1], sqrt(2 / M_PI), 1e-4))
        r = nk->inputs[0];
    else if (tt_pat_scalar_is(g, nk->inputs[0], sqrt(2 / M_PI), 1e-4))
        r = nk->inputs[1];
    else
        return TT_OK;
    int ir = producer_is(g, rw, r, "Add", ik);
    if (ir < 0)
        return TT_OK;
    /* r = x + 0.044715 x^3: find which operand is the cube term */
    for (int side = 0; side < 2; side++) {
        int x = g->nodes[ir].inputs[side], q = g->nodes[ir].inputs[1 - side];
        int iq = producer_is(g, rw, q, "Mul", ir);
        if (iq < 0)
            continue;
        const tt_node *nq = &g->nodes[iq];
        int p;
        if (tt_pat_scalar_is(g, nq->inputs[1], 0.044715, 1e-4))
            p = nq->inputs[0];
        else if (tt_pat_scalar_is(g, nq->inputs[0], 0.044715, 1e-4))
            p = nq->inputs[1];
        else
            continue;
        int ip = producer_is(g, rw, p, "Pow", iq), ip2 = -1;
        if (ip >= 0) {
            if (g->nodes[ip].inputs[0] != x || !tt_pat_scalar_is(g, g->nodes[ip].inputs[1], 3, 0))
                continue;
        } else {
            /* x * x * x */
            ip = producer_is(g, rw, p, "Mul", iq);
            if (ip < 0)
                continue;
            int sqv = tt_pat_other(&g->nodes[ip], x);
            ip2 = sqv >= 0 ? producer_is(g, rw, sqv, "Mul", ip) : -1;
            if (ip2 < 0 || g->nodes[ip2].inputs[0] != x || g->nodes[ip2].inputs[1] != x)
                continue;
        }
        int iadd = plus_one(g, rw, g->nodes[itanh].outputs[0]);
        if (iadd < 0)
            return TT_OK;
        int out, used[2];
        int last = gelu_tail(g, rw, x, g->nodes[iadd].outputs[0], &out, used);
        if (last < 0)
            return TT_OK;
        int drop[] = {ip, ip2 >= 0 ? ip2 : ip, iq, ir, ik, itanh, iadd, used[0], used[1]};
        return gelu_emit(g, rw, x, out, last, itanh, drop, 9, true);
    }
    return TT_OK;
}

static tt_status run_gelu(tt_graph *g, bool *changed)
{
    tt_rw rw;
    TT_TRY(tt_rw_begin(g, &rw));
    tt_status s = TT_OK;
    for (int i = 0; i < g->n_nodes && s == TT_OK; i++) {
        if (tt_rw_taken(&rw, i))
            continue;
        if (tt_pat_is(&g->nodes[i], "Erf"))
            s = fuse_gelu_erf(g, &rw, i);
        else if (tt_pat_is(&g->nodes[i], "Tanh"))
            s = fuse_gelu_tanh(g, &rw, i);
    }
    if (s != TT_OK) {
        tt_rw_abort(&rw);
        return s;
    }
    return tt_rw_end(&rw, changed);
}

/* ---- attention -------------------------------------------------------------------------------- */

/* Operand v read by node `reader` alone through a Transpose: the Transpose's input and its
 * perm in p (returns the Transpose's index), or -1 when v is not such a Transpose. */
static int through_transpose(const tt_graph *g, const tt_rw *rw, int v, int reader, int rank, int64_t *p)
{
    int t = producer_is(g, rw, v, "Transpose", reader);
    if (t < 0)
        return -1;
    size_t len;
    const int64_t *perm = tt_attr_ints(&g->nodes[t], "perm", &len);
    if (!perm || (int)len != rank)
        return -1;
    memcpy(p, perm, sizeof(int64_t) * len);
    return t;
}

static bool is_identity(const int64_t *p, int r)
{
    for (int i = 0; i < r; i++)
        if (p[i] != i)
            return false;
    return true;
}

/* Node n = Div(s, c) or Mul(s, c) / Mul(c, s) with c a one-element constant that does not
 * widen s (rank r): multiplies *scale by what n does and returns s, else -1. */
static int scaled(const tt_graph *g, const tt_node *n, int r, float *scale)
{
    bool div = tt_pat_is(n, "Div"), mul = tt_pat_is(n, "Mul");
    if ((!div && !mul) || n->n_inputs != 2)
        return -1;
    for (int side = 1; side >= (mul ? 0 : 1); side--) {
        int c = n->inputs[side], s = n->inputs[1 - side];
        double v;
        if (!tt_pat_scalar(g, c, &v) || tt_pat_rank(g, c) > r || tt_pat_rank(g, s) != r || v == 0 || !isfinite(v))
            continue;
        *scale *= div ? (float)(1.0 / v) : (float)v;
        return s;
    }
    return -1;
}

static tt_status fuse_attention(tt_graph *g, tt_rw *rw, int ism)
{
    const tt_node *nsm = &g->nodes[ism];
    int sv = nsm->inputs[0];
    int r = tt_pat_rank(g, sv);
    if (r < 3 || !is_float32(g, sv))
        return TT_OK;
    int64_t axis = tt_attr_int(nsm, "axis", nsm->opset >= 13 ? -1 : 1);
    if (axis != -1 && axis != r - 1)
        return TT_OK;
    /* softmax(..) -> MatMul(., V) */
    int imm2 = reader_is(g, rw, nsm->outputs[0], "MatMul");
    if (imm2 < 0 || g->nodes[imm2].inputs[0] != nsm->outputs[0])
        return TT_OK;
    int vin = g->nodes[imm2].inputs[1];
    /* back from the softmax: [Add mask] [Div|Mul scale] MatMul(Q, K^T) */
    float scale = 1.0f;
    int cur = sv, mask = -1, iadd = -1, iscale = -1;
    int p = producer_is(g, rw, cur, "Add", ism);
    if (p >= 0) {
        const tt_node *na = &g->nodes[p];
        for (int side = 0; side < 2; side++) {
            int s = na->inputs[side], m = na->inputs[1 - side];
            int q = tt_pat_producer(g, s);
            if (q < 0 || tt_rw_taken(rw, q) || tt_pat_only_reader(g, s) != p)
                continue;
            if (!tt_pat_is(&g->nodes[q], "MatMul") && !tt_pat_is(&g->nodes[q], "Div") &&
                !tt_pat_is(&g->nodes[q], "Mul"))
                continue;
            int mr = tt_pat_rank(g, m);
            if (mr < 0 || mr > r || !is_float32(g, m))
                continue;
            /* the mask may not widen the scores: each of its dims is 1 or the scores' own */
            bool fits = true;
            for (int d = 0; d < mr && fits; d++) {
                int64_t md = g->values[m].type.dims[d], sd = g->values[s].type.dims[d + r - mr];
                fits = md == 1 || (md != TT_DIM_UNKNOWN && md == sd);
            }
            if (!fits)
                continue;
            mask = m, iadd = p, cur = s;
            break;
        }
        if (iadd < 0)
            return TT_OK;
    }
    int reader = iadd >= 0 ? iadd : ism;
    int q = tt_pat_producer(g, cur);
    int s0 = q >= 0 && !tt_rw_taken(rw, q) && tt_pat_only_reader(g, cur) == reader ? scaled(g, &g->nodes[q], r, &scale) : -1;
    if (s0 >= 0)
        iscale = q, reader = q, cur = s0;
    int imm1 = producer_is(g, rw, cur, "MatMul", reader);
    if (imm1 < 0)
        return TT_OK;
    int qin = g->nodes[imm1].inputs[0], ktin = g->nodes[imm1].inputs[1];
    if (tt_pat_rank(g, qin) != r || tt_pat_rank(g, ktin) != r || tt_pat_rank(g, vin) != r || !is_float32(g, qin) ||
        !is_float32(g, ktin) || !is_float32(g, vin))
        return TT_OK;
    /* a scale on Q: MatMul(Q / c, K^T) */
    int iqs = tt_pat_producer(g, qin);
    int s1 = iqs >= 0 && !tt_rw_taken(rw, iqs) && tt_pat_only_reader(g, qin) == imm1
                 ? scaled(g, &g->nodes[iqs], r, &scale)
                 : -1;
    if (s1 >= 0)
        qin = s1;
    else
        iqs = -1;
    /* permutations read through the Transposes that make the operands */
    int64_t perm[4][TT_MAX_RANK];
    bool has[4] = {false, true, false, false};
    int it[4] = {-1, -1, -1, -1};
    int qreader = iqs >= 0 ? iqs : imm1;
    it[0] = through_transpose(g, rw, qin, qreader, r, perm[0]);
    if (it[0] >= 0) {
        qin = g->nodes[it[0]].inputs[0];
        has[0] = true;
    }
    /* K = swap of the last two axes of K^T, itself maybe a Transpose of something */
    int64_t pk[TT_MAX_RANK];
    it[1] = through_transpose(g, rw, ktin, imm1, r, pk);
    if (it[1] >= 0) {
        ktin = g->nodes[it[1]].inputs[0];
    } else {
        for (int d = 0; d < r; d++)
            pk[d] = d;
    }
    for (int d = 0; d < r; d++)
        perm[1][d] = pk[d];
    perm[1][r - 2] = pk[r - 1];
    perm[1][r - 1] = pk[r - 2];
    it[2] = through_transpose(g, rw, vin, imm2, r, perm[2]);
    if (it[2] >= 0) {
        vin = g->nodes[it[2]].inputs[0];
        has[2] = true;
    }
    int out = g->nodes[imm2].outputs[0], last = imm2;
    int ito = reader_is(g, rw, out, "Transpose");
    if (ito >= 0) {
        size_t len;
        const int64_t *po = tt_attr_ints(&g->nodes[ito], "perm", &len);
        if (po && (int)len == r && po[r - 1] == r - 1) {
            memcpy(perm[3], po, sizeof(int64_t) * len);
            has[3] = true;
            out = g->nodes[ito].outputs[0];
            last = ito;
        } else {
            ito = -1;
        }
    }
    for (int i = 0; i < 4; i++)
        if (has[i] && is_identity(perm[i], r))
            has[i] = false;
    static const char *const names[4] = {"q_perm", "k_perm", "v_perm", "out_perm"};
    tt_attr attrs[5];
    int na = 0;
    attrs[na++] = (tt_attr){.name = "scale", .type = TT_ATTR_FLOAT, .f = scale};
    for (int i = 0; i < 4; i++) {
        if (!has[i])
            continue;
        int64_t *list = tt_arena_alloc(&g->model->arena, sizeof(int64_t) * (size_t)r);
        if (!list)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory fusing attention");
        memcpy(list, perm[i], sizeof(int64_t) * (size_t)r);
        attrs[na++] = (tt_attr){.name = names[i], .type = TT_ATTR_INTS, .ints = list, .n = (size_t)r};
    }
    int ins[4] = {qin, ktin, vin, mask};
    tt_node_spec spec = {.name = g->nodes[last].name, .op_type = "Attention", .domain = TT_DOMAIN,
                         .n_inputs = mask >= 0 ? 4 : 3, .inputs = ins, .n_outputs = 1, .outputs = &out,
                         .n_attrs = na, .attrs = attrs};
    int drop[] = {it[0], it[1], it[2], iqs, imm1, iscale, iadd, ism, imm2, ito};
    /* a pattern whose shapes do not fit the fused op leaves the graph alone */
    bool done;
    if (tt_rw_fuse(rw, last, imm1, &spec, &done) != TT_OK) {
        TT_DEBUG("attention at '%s' not fused: %s", nsm->name, tt_last_error());
        tt_error_clear();
        return TT_OK;
    }
    for (size_t k = 0; done && k < sizeof drop / sizeof drop[0]; k++)
        if (drop[k] >= 0 && drop[k] != last)
            tt_rw_drop(rw, drop[k]);
    return TT_OK;
}

static tt_status run_attention(tt_graph *g, bool *changed)
{
    tt_rw rw;
    TT_TRY(tt_rw_begin(g, &rw));
    tt_status s = TT_OK;
    for (int i = 0; i < g->n_nodes && s == TT_OK; i++)
        if (!tt_rw_taken(&rw, i) && tt_pat_is(&g->nodes[i], "Softmax"))
            s = fuse_attention(g, &rw, i);
    if (s != TT_OK) {
        tt_rw_abort(&rw);
        return s;
    }
    return tt_rw_end(&rw, changed);
}

const tt_pass tt_pass_layernorm = {.name = "layernorm", .run = run_layernorm};
const tt_pass tt_pass_gelu = {.name = "gelu", .run = run_gelu};
const tt_pass tt_pass_attention = {.name = "attention", .run = run_attention};
