/* The classic-ML domain (ai.onnx.ml) ops the ONNX suite exercises: LabelEncoder (2, 4),
 * TreeEnsemble (5), Binarizer (1) and ArrayFeatureExtractor (1). Tables given as attributes
 * are read and checked once at load. */
#include "ops/util.h"

#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define ML "ai.onnx.ml"
#define ML_SCHEMA(name_, since_, until_, infer_, ...)                                                                  \
    {.domain = ML, .name = name_, .since = since_, .until = until_, .infer = infer_, __VA_ARGS__}
#define ML_KERNEL(name_, since_, until_, dtypes_, run_, ...)                                                           \
    {.domain = ML, .name = name_, .since = since_, .until = until_, .dtypes = dtypes_, .run = run_, __VA_ARGS__}

static tt_status nomem(void) { return tt_error(TETHER_ERR_NO_MEMORY, "out of memory"); }

/* ---- LabelEncoder ----------------------------------------------------------------------------- */

/* A list of keys or values: strings, or numbers held as doubles, of a tensor dtype. */
typedef struct le_list {
    tt_dtype dtype;
    size_t n;
    const char **s;
    double *v;
} le_list;

typedef struct le_state {
    le_list keys, values;
    const char *def_s;
    double def_v;
    size_t *order, n_order; /* key positions sorted by key, one per distinct key (the last) */
} le_state;

static void le_release(void *p)
{
    le_state *st = p;
    if (!st)
        return;
    tt_free(st->keys.v);
    tt_free(st->values.v);
    tt_free(st->order);
    tt_free(st);
}

/* Reads the one of NAME_floats / NAME_int64s / NAME_strings / NAME_tensor the node sets. */
static tt_status le_read(const tt_node *n, const char *what, le_list *l)
{
    char name[32];
    const tt_attr *a, *found = NULL;
    int count = 0;
    static const char *const kinds[] = {"floats", "int64s", "strings", "tensor"};
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "%s_%s", what, kinds[k]);
        if ((a = tt_node_attr(n, name)))
            found = a, count++;
    }
    if (count != 1)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "exactly one of the %s_* attributes must be set", what);
    a = found;
    if (a->type == TT_ATTR_STRINGS) {
        l->dtype = TETHER_DTYPE_STRING, l->n = a->n, l->s = a->strings;
        return TT_OK;
    }
    if (a->type == TT_ATTR_TENSOR) {
        const tt_tensor *t = a->t;
        if (t->rank != 1 || (t->dtype != TETHER_DTYPE_STRING && !(((TT_DTS_FLOAT | TT_DTS_INT) >> t->dtype) & 1)))
            return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "%s_tensor must be a 1-D tensor of numbers or strings", what);
        l->dtype = t->dtype, l->n = (size_t)t->dims[0];
        if (t->dtype == TETHER_DTYPE_STRING) {
            l->s = (const char **)t->data;
            return TT_OK;
        }
        if (!(l->v = tt_malloc((l->n ? l->n : 1) * sizeof *l->v)))
            return nomem();
        for (size_t i = 0; i < l->n; i++)
            l->v[i] = tt_load_f64(t->data, t->dtype, i);
        return TT_OK;
    }
    l->n = a->n;
    if (!(l->v = tt_malloc((l->n ? l->n : 1) * sizeof *l->v)))
        return nomem();
    if (a->type == TT_ATTR_FLOATS) {
        l->dtype = TETHER_DTYPE_FLOAT;
        for (size_t i = 0; i < l->n; i++)
            l->v[i] = a->floats[i];
    } else if (a->type == TT_ATTR_INTS) {
        l->dtype = TETHER_DTYPE_INT64;
        for (size_t i = 0; i < l->n; i++)
            l->v[i] = (double)a->ints[i];
    } else {
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "%s attribute has the wrong type", what);
    }
    return TT_OK;
}

/* Orders key positions by key (NaN last), equal keys by position. */
/* qsort has no context argument: the keys being sorted, per thread (sessions open in parallel) */
static _Thread_local const le_list *g_sort_keys;
static int key_cmp_at(const le_list *k, size_t a, size_t b)
{
    if (k->dtype == TETHER_DTYPE_STRING)
        return strcmp(k->s[a] ? k->s[a] : "", k->s[b] ? k->s[b] : "");
    double x = k->v[a], y = k->v[b];
    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y);
    return (x > y) - (x < y);
}

static int le_order_cmp(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int c = key_cmp_at(g_sort_keys, a, b);
    return c ? c : (a > b) - (a < b);
}

static tt_status parse_le(tt_node *n, void **state)
{
    le_state *st = tt_calloc(1, sizeof *st);
    if (!st)
        return nomem();
    *state = st;
    TT_TRY(le_read(n, "keys", &st->keys));
    TT_TRY(le_read(n, "values", &st->values));
    if (st->keys.n != st->values.n)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "%zu keys but %zu values", st->keys.n, st->values.n);
    /* a sorted index for lookups; of equal keys the last one counts */
    if (!(st->order = tt_malloc((st->keys.n ? st->keys.n : 1) * sizeof *st->order)))
        return nomem();
    for (size_t i = 0; i < st->keys.n; i++)
        st->order[i] = i;
    g_sort_keys = &st->keys;
    qsort(st->order, st->keys.n, sizeof *st->order, le_order_cmp);
    g_sort_keys = NULL;
    for (size_t i = 0; i < st->keys.n; i++) {
        if (st->n_order && key_cmp_at(&st->keys, st->order[st->n_order - 1], st->order[i]) == 0)
            st->n_order--;
        st->order[st->n_order++] = st->order[i];
    }
    const tt_attr *dt = tt_node_attr(n, "default_tensor");
    bool str = st->values.dtype == TETHER_DTYPE_STRING;
    st->def_s = "_Unused";
    st->def_v = tt_dtype_is_float(st->values.dtype) ? -0.0 : -1;
    if (dt && dt->type == TT_ATTR_TENSOR && tt_tensor_numel(dt->t) == 1) {
        if (dt->t->dtype != st->values.dtype)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "default_tensor's type differs from the values'");
        if (str)
            st->def_s = ((const char **)dt->t->data)[0];
        else
            st->def_v = tt_load_f64(dt->t->data, dt->t->dtype, 0);
    } else if (str) {
        st->def_s = tt_attr_string(n, "default_string", "_Unused");
    } else if (st->values.dtype == TETHER_DTYPE_INT64 && !tt_node_attr(n, "values_tensor")) {
        st->def_v = (double)tt_attr_int(n, "default_int64", -1);
    } else if (!tt_node_attr(n, "values_tensor")) {
        st->def_v = tt_attr_float(n, "default_float", -0.0f);
    }
    return TT_OK;
}

static tt_status infer_le(tt_ictx *c)
{
    const le_state *st = c->node->state;
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (x->dtype && x->dtype != st->keys.dtype)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X is %s but the keys are %s", tt_dtype_name(x->dtype),
                           tt_dtype_name(st->keys.dtype));
    tt_infer_tensor(c, 0, st->values.dtype, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_le(tt_kctx *c)
{
    const le_state *st = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t n = tt_tensor_numel(x);
    bool skey = st->keys.dtype == TETHER_DTYPE_STRING, sval = st->values.dtype == TETHER_DTYPE_STRING;
    for (int64_t i = 0; i < n; i++) {
        const char *xs = NULL;
        double xv = 0;
        if (skey)
            xs = ((char *const *)x->data)[i] ? ((char *const *)x->data)[i] : "";
        else
            xv = tt_load_f64(x->data, x->dtype, (size_t)i);
        size_t lo = 0, hi = st->n_order, k = 0; /* binary search of the sorted keys */
        bool hit = false;
        while (lo < hi && !hit) {
            size_t mid = lo + (hi - lo) / 2;
            k = st->order[mid];
            int cmp;
            if (skey) {
                cmp = strcmp(st->keys.s[k] ? st->keys.s[k] : "", xs);
            } else {
                double kv = st->keys.v[k];
                cmp = isnan(kv) || isnan(xv) ? isnan(kv) - isnan(xv) : (kv > xv) - (kv < xv);
            }
            if (cmp == 0)
                hit = true;
            else if (cmp < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (sval) {
            const char *v = hit ? st->values.s[k] : st->def_s;
            TT_TRY(tt_tensor_set_string(y, i, v ? v : "", v ? strlen(v) : 0));
        } else {
            tt_store_f64(y->data, y->dtype, (size_t)i, hit ? st->values.v[k] : st->def_v);
        }
    }
    return TT_OK;
}

/* ---- TreeEnsemble ---------------------------------------------------------------------------------- */

enum { TE_LEQ, TE_LT, TE_GTE, TE_GT, TE_EQ, TE_NEQ, TE_MEMBER };
enum { AGG_AVERAGE, AGG_SUM, AGG_MIN, AGG_MAX };

typedef struct te_state {
    int64_t nodes, leaves, trees, targets, agg;
    int64_t *feature, *tnode, *fnode, *leaf_target, *roots;
    uint8_t *mode, *tleaf, *fleaf, *missing_true;
    double *split, *leaf_w;
    int64_t *mset_start, *mset_len; /* per node: its members in members[] */
    double *members;
} te_state;

static void te_release(void *p)
{
    te_state *s = p;
    if (!s)
        return;
    void *ptrs[] = {s->feature, s->tnode,  s->fnode,      s->leaf_target, s->roots,    s->mode,   s->tleaf,
                    s->fleaf,   s->missing_true, s->split, s->leaf_w, s->mset_start, s->mset_len, s->members};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        tt_free(ptrs[i]);
    tt_free(s);
}

/* Attribute `name` (ints or a tensor) as n int64s; *len gets its length. */
static tt_status te_ints(const tt_node *n, const char *name, bool required, int64_t **out, int64_t *len)
{
    const tt_attr *a = tt_node_attr(n, name);
    *out = NULL, *len = 0;
    if (!a)
        return required ? tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute %s is required", name) : TT_OK;
    size_t k = a->type == TT_ATTR_INTS ? a->n : a->type == TT_ATTR_TENSOR ? (size_t)tt_tensor_numel(a->t) : 0;
    if (a->type == TT_ATTR_TENSOR && !tt_dtype_is_int(a->t->dtype))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute %s must hold integers", name);
    if (a->type != TT_ATTR_INTS && a->type != TT_ATTR_TENSOR)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute %s must be ints or a tensor", name);
    if (!(*out = tt_malloc((k ? k : 1) * sizeof **out)))
        return nomem();
    for (size_t i = 0; i < k; i++)
        (*out)[i] = a->type == TT_ATTR_INTS ? a->ints[i] : tt_load_i64(a->t->data, a->t->dtype, i);
    *len = (int64_t)k;
    return TT_OK;
}

static tt_status te_floats(const tt_node *n, const char *name, bool required, double **out, int64_t *len)
{
    const tt_attr *a = tt_node_attr(n, name);
    *out = NULL, *len = 0;
    if (!a)
        return required ? tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute %s is required", name) : TT_OK;
    if (a->type != TT_ATTR_TENSOR || !tt_dtype_is_float(a->t->dtype))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute %s must be a float tensor", name);
    int64_t k = tt_tensor_numel(a->t);
    if (!(*out = tt_malloc((size_t)(k ? k : 1) * sizeof **out)))
        return nomem();
    for (int64_t i = 0; i < k; i++)
        (*out)[i] = tt_load_f64(a->t->data, a->t->dtype, (size_t)i);
    *len = k;
    return TT_OK;
}

static tt_status te_bytes(const tt_node *n, const char *name, bool required, int64_t want, uint8_t **out)
{
    int64_t *v, len;
    TT_TRY(te_ints(n, name, required, &v, &len));
    if (!v) {
        *out = tt_calloc((size_t)(want ? want : 1), 1);
        return *out ? TT_OK : nomem();
    }
    tt_status s = TT_OK;
    if (len != want)
        s = tt_op_error(n, TETHER_ERR_INVALID_MODEL, "%s has %" PRId64 " entries for %" PRId64, name, len, want);
    *out = tt_malloc((size_t)(len ? len : 1));
    if (s == TT_OK && !*out)
        s = nomem();
    for (int64_t i = 0; s == TT_OK && i < len; i++) {
        if (v[i] < 0 || v[i] > 255)
            s = tt_op_error(n, TETHER_ERR_INVALID_MODEL, "%s[%" PRId64 "] = %" PRId64 " is out of range", name, i, v[i]);
        else
            (*out)[i] = (uint8_t)v[i];
    }
    tt_free(v);
    return s;
}

static tt_status parse_te(tt_node *n, void **state)
{
    te_state *s = tt_calloc(1, sizeof *s);
    if (!s)
        return nomem();
    *state = s;
    int64_t len, l2;
    TT_TRY(te_floats(n, "nodes_splits", true, &s->split, &s->nodes));
    TT_TRY(te_ints(n, "nodes_featureids", true, &s->feature, &len));
    bool ok = len == s->nodes;
    TT_TRY(te_ints(n, "nodes_truenodeids", true, &s->tnode, &len));
    ok &= len == s->nodes;
    TT_TRY(te_ints(n, "nodes_falsenodeids", true, &s->fnode, &len));
    ok &= len == s->nodes;
    if (!ok)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "the nodes_* attributes differ in length");
    TT_TRY(te_bytes(n, "nodes_modes", true, s->nodes, &s->mode));
    TT_TRY(te_bytes(n, "nodes_trueleafs", true, s->nodes, &s->tleaf));
    TT_TRY(te_bytes(n, "nodes_falseleafs", true, s->nodes, &s->fleaf));
    TT_TRY(te_bytes(n, "nodes_missing_value_tracks_true", false, s->nodes, &s->missing_true));
    TT_TRY(te_floats(n, "leaf_weights", true, &s->leaf_w, &s->leaves));
    TT_TRY(te_ints(n, "leaf_targetids", true, &s->leaf_target, &len));
    TT_TRY(te_ints(n, "tree_roots", true, &s->roots, &s->trees));
    if (len != s->leaves)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "leaf_weights and leaf_targetids differ in length");
    s->targets = tt_attr_int(n, "n_targets", 0);
    s->agg = tt_attr_int(n, "aggregate_function", AGG_SUM);
    if (s->targets <= 0 || s->targets > (1 << 24))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "n_targets must be given and positive");
    if (s->agg < AGG_AVERAGE || s->agg > AGG_MAX)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "aggregate_function %" PRId64 " is not 0..3", s->agg);
    if (tt_attr_int(n, "post_transform", 0) != 0)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "post_transform other than NONE is not supported");
    for (int64_t i = 0; i < s->leaves; i++)
        if (s->leaf_target[i] < 0 || s->leaf_target[i] >= s->targets)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "leaf_targetids[%" PRId64 "] is out of range", i);
    for (int64_t i = 0; i < s->nodes; i++) {
        if (s->mode[i] > TE_MEMBER)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "nodes_modes[%" PRId64 "] = %d is not 0..6", i, s->mode[i]);
        if (s->tnode[i] < 0 || s->tnode[i] >= (s->tleaf[i] ? s->leaves : s->nodes) || s->fnode[i] < 0 ||
            s->fnode[i] >= (s->fleaf[i] ? s->leaves : s->nodes))
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "node %" PRId64 "'s branches are out of range", i);
    }
    for (int64_t t = 0; t < s->trees; t++)
        if (s->roots[t] < 0 || s->roots[t] >= s->nodes)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "tree_roots[%" PRId64 "] is out of range", t);
    /* set membership: NaN-separated lists, one per BRANCH_MEMBER node in node order */
    TT_TRY(te_floats(n, "membership_values", false, &s->members, &l2));
    if (!(s->mset_start = tt_calloc((size_t)(s->nodes ? s->nodes : 1), sizeof(int64_t))) ||
        !(s->mset_len = tt_calloc((size_t)(s->nodes ? s->nodes : 1), sizeof(int64_t))))
        return nomem();
    int64_t pos = 0;
    for (int64_t i = 0; i < s->nodes; i++) {
        if (s->mode[i] != TE_MEMBER)
            continue;
        s->mset_start[i] = pos;
        while (pos < l2 && !isnan(s->members[pos]))
            pos++;
        if (pos >= l2) /* each set ends with a NaN */
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "membership_values has no NaN-ended set for node %" PRId64,
                               i);
        s->mset_len[i] = pos - s->mset_start[i];
        pos++; /* the NaN */
    }
    return TT_OK;
}

static tt_status infer_te(tt_ictx *c)
{
    const te_state *s = c->node->state;
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    if (x->rank >= 0 && x->rank != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X must be 2-D (batch, features), got rank %d", x->rank);
    int64_t dims[2] = {x->rank == 2 ? x->dims[0] : TT_DIM_UNKNOWN, s->targets};
    tt_infer_tensor(c, 0, x->dtype, 2, dims);
    return TT_OK;
}

static bool te_true(const te_state *s, int64_t k, double v)
{
    if (isnan(v) && s->missing_true[k])
        return true;
    double t = s->split[k];
    switch (s->mode[k]) {
    case TE_LEQ: return v <= t;
    case TE_LT: return v < t;
    case TE_GTE: return v >= t;
    case TE_GT: return v > t;
    case TE_EQ: return v == t;
    case TE_NEQ: return v != t;
    default:
        for (int64_t i = 0; i < s->mset_len[k]; i++)
            if (s->members[s->mset_start[k] + i] == v)
                return true;
        return false;
    }
}

static tt_status run_te(tt_kctx *c)
{
    const te_state *s = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t N = x->dims[0], F = x->dims[1], T = s->targets;
    double *acc = tt_malloc((size_t)(T ? T : 1) * sizeof *acc);
    if (!acc)
        return nomem();
    tt_status st = TT_OK;
    for (int64_t r = 0; r < N && st == TT_OK; r++) {
        double init = s->agg == AGG_MIN ? DBL_MAX : s->agg == AGG_MAX ? -DBL_MAX : 0;
        if (x->dtype == TETHER_DTYPE_FLOAT && s->agg >= AGG_MIN)
            init = s->agg == AGG_MIN ? FLT_MAX : -FLT_MAX;
        for (int64_t t = 0; t < T; t++)
            acc[t] = init;
        for (int64_t tr = 0; tr < s->trees && st == TT_OK; tr++) {
            int64_t k = s->roots[tr], leaf = -1;
            /* a root whose two branches are the same leaf is a one-leaf tree */
            if (s->tleaf[k] && s->fleaf[k] && s->tnode[k] == s->fnode[k])
                leaf = s->tnode[k];
            for (int64_t steps = 0; leaf < 0; steps++) {
                if (steps > s->nodes) {
                    st = tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "tree %" PRId64 " has a cycle", tr);
                    break;
                }
                if (s->feature[k] < 0 || s->feature[k] >= F) {
                    st = tt_op_error(c->node, TETHER_ERR_RUNTIME, "feature %" PRId64 " is out of range [0, %" PRId64 ")",
                                     s->feature[k], F);
                    break;
                }
                bool t = te_true(s, k, tt_load_f64(x->data, x->dtype, (size_t)(r * F + s->feature[k])));
                int64_t next = t ? s->tnode[k] : s->fnode[k];
                if (t ? s->tleaf[k] : s->fleaf[k])
                    leaf = next;
                else
                    k = next;
            }
            if (leaf < 0)
                break;
            double w = s->leaf_w[leaf];
            double *a = &acc[s->leaf_target[leaf]];
            switch (s->agg) {
            case AGG_SUM: *a += w; break;
            case AGG_AVERAGE: *a += w / (double)s->trees; break;
            case AGG_MIN: *a = w < *a ? w : *a; break;
            default: *a = w > *a ? w : *a; break;
            }
        }
        for (int64_t t = 0; t < T; t++)
            tt_store_f64(y->data, y->dtype, (size_t)(r * T + t), acc[t]);
    }
    tt_free(acc);
    return st;
}

/* ---- Binarizer, ArrayFeatureExtractor -------------------------------------------------------------- */

static tt_status infer_binarizer(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    return tt_infer_same(c, 0, 0);
}

static tt_status run_binarizer(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    double th = tt_attr_float(c->node, "threshold", 0.0f);
    int64_t n = tt_tensor_numel(x);
    for (int64_t i = 0; i < n; i++)
        tt_store_f64(y->data, y->dtype, (size_t)i, tt_load_f64(x->data, x->dtype, (size_t)i) > th ? 1 : 0);
    return TT_OK;
}

static tt_status infer_afe(tt_ictx *c)
{
    const tt_type *x, *ind;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &ind));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT64)));
    if (x->rank < 0 || ind->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    int64_t k = tt_dims_prod(ind->dims, 0, ind->rank), dims[TT_MAX_RANK];
    for (int i = 0; i < ind->rank; i++)
        if (ind->dims[i] < 0)
            k = TT_DIM_UNKNOWN;
    if (x->rank <= 1) {
        dims[0] = 1, dims[1] = k;
        tt_infer_tensor(c, 0, x->dtype, 2, dims);
    } else {
        memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
        dims[x->rank - 1] = k;
        tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    }
    return TT_OK;
}

static tt_status run_afe(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *ind = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    int64_t last = x->rank ? x->dims[x->rank - 1] : 1, k = tt_tensor_numel(ind);
    int64_t rows = last ? tt_tensor_numel(x) / last : 0;
    int64_t *idx;
    TT_TRY(tt_load_indices(c->node, "index", ind, &last, 1, &idx));
    size_t es = tt_dtype_size(x->dtype);
    tt_status s = TT_OK;
    for (int64_t r = 0; r < rows && s == TT_OK; r++)
        for (int64_t j = 0; j < k && s == TT_OK; j++) {
            int64_t src = r * last + idx[j], dst = r * k + j;
            if (x->dtype == TETHER_DTYPE_STRING) {
                const char *v = ((char *const *)x->data)[src];
                s = tt_tensor_set_string(y, dst, v ? v : "", v ? strlen(v) : 0);
            } else {
                memcpy((char *)y->data + (size_t)dst * es, (const char *)x->data + (size_t)src * es, es);
            }
        }
    tt_free(idx);
    return s;
}

#define LE_TYPES                                                                                                       \
    (TT_DT(TETHER_DTYPE_STRING) | TT_DT(TETHER_DTYPE_INT64) | TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_INT32) |  \
     TT_DT(TETHER_DTYPE_INT16) | TT_DT(TETHER_DTYPE_DOUBLE))
#define BIN_TYPES                                                                                                      \
    (TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_INT64) | TT_DT(TETHER_DTYPE_INT32))

const tt_op_schema tt_schemas_ml[] = {
    ML_SCHEMA("LabelEncoder", 2, 0, infer_le, .parse = parse_le, .release = le_release),
    ML_SCHEMA("TreeEnsemble", 5, 0, infer_te, .parse = parse_te, .release = te_release),
    ML_SCHEMA("Binarizer", 1, 0, infer_binarizer),
    ML_SCHEMA("ArrayFeatureExtractor", 1, 0, infer_afe),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_ml[] = {
    ML_KERNEL("LabelEncoder", 2, 0, LE_TYPES, run_le),
    ML_KERNEL("TreeEnsemble", 5, 0, TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_FLOAT16),
              run_te),
    ML_KERNEL("Binarizer", 1, 0, BIN_TYPES, run_binarizer),
    ML_KERNEL("ArrayFeatureExtractor", 1, 0, BIN_TYPES | TT_DT(TETHER_DTYPE_STRING), run_afe),
    TT_KERNEL_END,
};
