/* "shapes": folding of shape arithmetic. Exporters compute Reshape targets and Slice bounds
 * at run time from Shape(x) (Shape -> Gather -> Unsqueeze -> Concat -> Reshape). This pass
 * follows small integer vectors element by element from the dims inference knows: a vector
 * whose every element is known becomes a constant, and a Reshape target with a single
 * unknown element (the others known and positive) becomes a constant with -1 there, which
 * means the same thing. Constant folding and inference then fix the shapes downstream, and
 * "dead" removes the Shape nodes nobody reads any more. */
#include "graph/pattern.h"

#include "core/log.h"

#include <string.h>

#define PV_MAX 16

/* A partly known integer vector (rank 0 or 1). */
typedef struct pvec {
    bool tracked;
    int rank;             /* 0: a scalar (n is 1) */
    int n;
    uint32_t known;       /* bit i: v[i] is known */
    int64_t v[PV_MAX];
} pvec;

static bool all_known(const pvec *p) { return p->tracked && p->known == (p->n >= 32 ? ~0u : (1u << p->n) - 1u); }

static bool is_int(tt_dtype t) { return t == TETHER_DTYPE_INT64 || t == TETHER_DTYPE_INT32; }

/* A constant's elements, when it is a small integer vector or scalar. */
static bool from_const(const tt_tensor *t, pvec *p)
{
    if (!t || !is_int(t->dtype) || t->rank > 1)
        return false;
    int64_t n = tt_tensor_numel(t);
    if (n > PV_MAX)
        return false;
    memset(p, 0, sizeof *p);
    p->tracked = true;
    p->rank = t->rank;
    p->n = (int)n;
    for (int i = 0; i < p->n; i++) {
        p->v[i] = tt_load_i64(t->data, t->dtype, (size_t)i);
        p->known |= 1u << i;
    }
    return true;
}

/* The partly known vector of value v: computed (vals) or a constant. */
static const pvec *get(const tt_graph *g, pvec *vals, pvec *tmp, int v)
{
    if (v < 0)
        return NULL;
    if (vals[v].tracked)
        return &vals[v];
    if (from_const(tt_pat_const(g, v), tmp))
        return tmp;
    return NULL;
}

static void eval_shape(const tt_graph *g, const tt_node *n, pvec *out)
{
    const tt_type *t = &g->values[n->inputs[0]].type;
    if (t->kind != TT_KIND_TENSOR || t->rank < 0)
        return;
    int64_t start = tt_attr_int(n, "start", 0), end = tt_attr_int(n, "end", t->rank);
    if (start < 0)
        start += t->rank;
    if (end < 0)
        end += t->rank;
    start = start < 0 ? 0 : start > t->rank ? t->rank : start;
    end = end < 0 ? 0 : end > t->rank ? t->rank : end;
    if (end - start > PV_MAX)
        return;
    out->tracked = true;
    out->rank = 1;
    out->n = end > start ? (int)(end - start) : 0;
    for (int i = 0; i < out->n; i++) {
        int64_t d = t->dims[start + i];
        if (tt_dim_known(d)) {
            out->v[i] = d;
            out->known |= 1u << i;
        }
    }
}

static void eval_gather(const pvec *x, const pvec *idx, const tt_node *n, pvec *out)
{
    if (!x || !idx || !all_known(idx) || x->rank != 1 || tt_attr_int(n, "axis", 0) != 0)
        return;
    out->tracked = true;
    out->rank = idx->rank;
    out->n = idx->n;
    for (int i = 0; i < idx->n; i++) {
        int64_t k = idx->v[i] < 0 ? idx->v[i] + x->n : idx->v[i];
        if (k < 0 || k >= x->n) {
            out->tracked = false;
            return;
        }
        out->v[i] = x->v[k];
        if ((x->known >> k) & 1)
            out->known |= 1u << i;
    }
}

static void eval_concat(const tt_graph *g, const tt_node *n, pvec *vals, pvec *out)
{
    if (tt_attr_int(n, "axis", 0) != 0 && tt_attr_int(n, "axis", 0) != -1)
        return;
    out->rank = 1;
    for (int k = 0; k < n->n_inputs; k++) {
        pvec tmp;
        const pvec *p = get(g, vals, &tmp, n->inputs[k]);
        if (!p || p->rank != 1 || out->n + p->n > PV_MAX)
            return;
        for (int i = 0; i < p->n; i++) {
            out->v[out->n + i] = p->v[i];
            if ((p->known >> i) & 1)
                out->known |= 1u << (out->n + i);
        }
        out->n += p->n;
    }
    out->tracked = true;
}

static void eval_slice(const tt_graph *g, const tt_node *n, pvec *vals, pvec *out)
{
    pvec t1, t2, t3, t4, t5;
    const pvec *x = get(g, vals, &t1, n->inputs[0]);
    if (!x || x->rank != 1 || n->opset < 10)
        return;
    const pvec *st = get(g, vals, &t2, n->inputs[1]), *en = n->n_inputs > 2 ? get(g, vals, &t3, n->inputs[2]) : NULL;
    const pvec *ax = n->n_inputs > 3 && n->inputs[3] >= 0 ? get(g, vals, &t4, n->inputs[3]) : NULL;
    const pvec *sp = n->n_inputs > 4 && n->inputs[4] >= 0 ? get(g, vals, &t5, n->inputs[4]) : NULL;
    if (!st || !en || !all_known(st) || !all_known(en) || st->n != 1 || en->n != 1)
        return;
    if ((n->n_inputs > 3 && n->inputs[3] >= 0 && (!ax || !all_known(ax) || ax->n != 1 || (ax->v[0] != 0 && ax->v[0] != -1))) ||
        (n->n_inputs > 4 && n->inputs[4] >= 0 && (!sp || !all_known(sp) || sp->n != 1 || sp->v[0] != 1)))
        return;
    int64_t s = st->v[0], e = en->v[0], len = x->n;
    s = s < 0 ? s + len : s;
    e = e < 0 ? e + len : e;
    s = s < 0 ? 0 : s > len ? len : s;
    e = e < 0 ? 0 : e > len ? len : e;
    out->tracked = true;
    out->rank = 1;
    out->n = e > s ? (int)(e - s) : 0;
    for (int i = 0; i < out->n; i++) {
        out->v[i] = x->v[s + i];
        if ((x->known >> (s + i)) & 1)
            out->known |= 1u << i;
    }
}

static void eval_arith(const tt_node *n, const pvec *a, const pvec *b, pvec *out)
{
    if (!a || !b || (a->n != b->n && a->n != 1 && b->n != 1))
        return;
    out->tracked = true;
    out->n = a->n > b->n ? a->n : b->n;
    out->rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < out->n; i++) {
        int ia = a->n == 1 ? 0 : i, ib = b->n == 1 ? 0 : i;
        if (!((a->known >> ia) & 1) || !((b->known >> ib) & 1))
            continue;
        int64_t x = a->v[ia], y = b->v[ib], r;
        if (tt_pat_is(n, "Add")) {
            if (__builtin_add_overflow(x, y, &r))
                continue;
        } else if (tt_pat_is(n, "Sub")) {
            if (__builtin_sub_overflow(x, y, &r))
                continue;
        } else if (tt_pat_is(n, "Mul")) {
            if (__builtin_mul_overflow(x, y, &r))
                continue;
        } else {
            /* integer division: only where every convention agrees */
            if (x < 0 || y <= 0)
                continue;
            r = x / y;
        }
        out->v[i] = r;
        out->known |= 1u << i;
    }
}

/* The vector node n's output 0 holds, as far as it is known. */
static void eval(const tt_graph *g, const tt_node *n, pvec *vals, pvec *out)
{
    memset(out, 0, sizeof *out);
    if (n->n_outputs < 1 || n->outputs[0] < 0 || n->n_inputs < 1 || n->inputs[0] < 0 ||
        !is_int(tt_pat_dtype(g, n->outputs[0])))
        return;
    pvec t1, t2;
    if (tt_pat_is(n, "Shape")) {
        eval_shape(g, n, out);
    } else if (tt_pat_is(n, "Gather")) {
        eval_gather(get(g, vals, &t1, n->inputs[0]), n->n_inputs > 1 ? get(g, vals, &t2, n->inputs[1]) : NULL, n,
                    out);
    } else if (tt_pat_is(n, "Concat")) {
        eval_concat(g, n, vals, out);
    } else if (tt_pat_is(n, "Slice")) {
        eval_slice(g, n, vals, out);
    } else if (tt_pat_is(n, "Unsqueeze") || tt_pat_is(n, "Squeeze") || tt_pat_is(n, "Identity") ||
               tt_pat_is(n, "Cast")) {
        const pvec *x = get(g, vals, &t1, n->inputs[0]);
        const tt_type *ot = &g->values[n->outputs[0]].type;
        if (!x || ot->kind != TT_KIND_TENSOR || ot->rank < 0 || ot->rank > 1)
            return;
        if (tt_pat_is(n, "Cast") && !is_int(tt_pat_dtype(g, n->inputs[0])))
            return;
        *out = *x;
        out->rank = ot->rank;
        if (out->rank == 0 && out->n != 1)
            out->tracked = false;
    } else if ((tt_pat_is(n, "Add") || tt_pat_is(n, "Sub") || tt_pat_is(n, "Mul") || tt_pat_is(n, "Div")) &&
               n->n_inputs == 2 && n->opset >= 7) {
        eval_arith(n, get(g, vals, &t1, n->inputs[0]), get(g, vals, &t2, n->inputs[1]), out);
    }
}

/* A constant holding p's elements in dtype dt. */
static tt_status make_const(tt_graph *g, const char *name, const pvec *p, tt_dtype dt, int *id)
{
    int64_t v64[PV_MAX];
    int32_t v32[PV_MAX];
    for (int i = 0; i < p->n; i++) {
        v64[i] = p->v[i];
        v32[i] = (int32_t)p->v[i];
    }
    tt_tensor t = {.dtype = dt, .rank = p->rank, .data = dt == TETHER_DTYPE_INT64 ? (void *)v64 : (void *)v32};
    t.dims[0] = p->n;
    return tt_graph_new_const(g, name, &t, id);
}

/* Keeps vals as long as g's value list (passes add values as they go). */
static tt_status fit(const tt_graph *g, pvec **vals, int *cap)
{
    if (g->n_values <= *cap)
        return TT_OK;
    int nc = g->n_values + 64;
    pvec *nv = tt_realloc(*vals, sizeof *nv * (size_t)nc);
    if (!nv)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory in graph '%s'", g->name);
    memset(nv + *cap, 0, sizeof *nv * (size_t)(nc - *cap));
    *vals = nv;
    *cap = nc;
    return TT_OK;
}

static tt_status run_shapes(tt_graph *g, bool *changed)
{
    pvec *vals = NULL;
    int cap = 0;
    tt_status s = fit(g, &vals, &cap);
    int folded = 0, reshapes = 0;
    for (int i = 0; i < g->n_nodes && s == TT_OK; i++) {
        tt_node *n = &g->nodes[i];
        if (tt_pat_is(n, "Reshape") && n->n_inputs == 2 && !tt_pat_const(g, n->inputs[1]) &&
            vals[n->inputs[1]].tracked) {
            const pvec *p = &vals[n->inputs[1]];
            int unknown = -1, count = 0;
            for (int k = 0; k < p->n; k++) {
                if (!((p->known >> k) & 1)) {
                    unknown = k;
                    count++;
                } else if (p->v[k] <= 0) {
                    count = 99; /* 0 and -1 keep their own meanings */
                }
            }
            if (count == 1 && p->rank == 1) {
                pvec q = *p;
                q.v[unknown] = -1;
                int id;
                s = make_const(g, "shape", &q, TETHER_DTYPE_INT64, &id);
                if (s == TT_OK) {
                    n->inputs[1] = id;
                    reshapes++;
                    s = fit(g, &vals, &cap);
                }
            }
            continue;
        }
        pvec out;
        eval(g, n, vals, &out);
        if (!out.tracked)
            continue;
        int v = n->outputs[0];
        vals[v] = out;
        if (all_known(&out) && !tt_graph_is_output(g, v)) {
            int id;
            s = make_const(g, g->values[v].name, &out, tt_pat_dtype(g, v), &id);
            if (s == TT_OK) {
                tt_graph_replace_uses(g, v, id);
                folded++;
                s = fit(g, &vals, &cap);
            }
        }
    }
    tt_free(vals);
    if (s != TT_OK)
        return s;
    if (folded || reshapes) {
        tt_graph_recount(g);
        *changed = true;
        TT_DEBUG("shapes: %d shape values folded, %d reshape targets fixed in graph '%s'", folded, reshapes, g->name);
    }
    return TT_OK;
}

const tt_pass tt_pass_shapes = {.name = "shapes", .run = run_shapes};
