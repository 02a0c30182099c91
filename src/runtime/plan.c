/* Memory planner over value lifetimes: one arena per buffer type the graph's values live
 * in, each laid out greedily (largest first, first gap that no live tensor overlaps). */
#include "runtime/plan.h"

#include <stdlib.h>
#include <string.h>

static int uf_find(int *parent, int v)
{
    while (parent[v] != v) {
        parent[v] = parent[parent[v]];
        v = parent[v];
    }
    return v;
}

typedef struct item {
    int v;
    int arena;
    int start, end;   /* node steps, inclusive */
    size_t size;
    int64_t offset;
} item;

static int by_size_desc(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->start - y->start;
}

static int by_offset(const void *a, const void *b)
{
    const item *const *x = a, *const *y = b;
    return (*x)->offset < (*y)->offset ? -1 : (*x)->offset > (*y)->offset;
}

void tt_plan_free(tt_plan *p)
{
    if (!p)
        return;
    tt_free(p->sig);
    tt_free(p->offset);
    tt_free(p->size);
    tt_free(p->arena_of);
    tt_free(p);
}

bool tt_plan_matches(const tt_plan *p, const tt_value *inputs)
{
    for (int i = 0; i < p->n_inputs; i++) {
        const tt_type *s = &p->sig[i];
        const tt_value *v = &inputs[i];
        if (v->kind != TT_KIND_TENSOR || s->kind != TT_KIND_TENSOR) {
            if ((int)v->kind != (int)s->kind)
                return false;
            continue;
        }
        if (v->t.dtype != s->dtype || v->t.rank != s->rank ||
            memcmp(v->t.dims, s->dims, sizeof(int64_t) * (size_t)s->rank) != 0)
            return false;
    }
    return true;
}

tt_status tt_plan_build(const tt_graph *g, const tt_run *r, const tt_value *inputs, tt_plan **out)
{
    int n = g->n_values;
    tt_plan *p = tt_calloc(1, sizeof *p);
    int *parent = tt_malloc(sizeof(int) * (size_t)(n + 1));
    int *last = tt_malloc(sizeof(int) * (size_t)(n + 1));
    bool *pinned = tt_calloc((size_t)n + 1, sizeof(bool));
    item *items = tt_malloc(sizeof(item) * (size_t)(n + 1));
    item **placed = tt_malloc(sizeof(item *) * (size_t)(2 * n + 2)); /* placed list + scratch */
    tt_status s = TT_OK;
    if (p) {
        p->n_values = n;
        p->n_inputs = g->n_inputs;
        p->offset = tt_malloc(sizeof(int64_t) * (size_t)(n + 1));
        p->size = tt_calloc((size_t)n + 1, sizeof(size_t));
        p->arena_of = tt_calloc((size_t)n + 1, 1);
        p->sig = tt_calloc((size_t)g->n_inputs + 1, sizeof(tt_type));
        p->n_arenas = 1; /* host */
    }
    if (!p || !parent || !last || !pinned || !items || !placed || !p->offset || !p->size || !p->sig ||
        !p->arena_of) {
        s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory planning memory");
        goto done;
    }
    for (int i = 0; i < g->n_inputs; i++)
        tt_value_type(&inputs[i], &g->values[g->inputs[i]].type, &p->sig[i]);
    for (int v = 0; v < n; v++) {
        parent[v] = v;
        last[v] = -1;
        p->offset[v] = -1;
    }
    /* last use of every value; views share their input's storage */
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs; k++)
            if (nd->inputs[k] >= 0)
                last[nd->inputs[k]] = i;
        for (int k = 0; k < nd->n_implicit; k++)
            last[nd->implicit[k]] = i;
        for (int k = 0; k < nd->n_outputs; k++)
            if (nd->outputs[k] >= 0 && last[nd->outputs[k]] < i)
                last[nd->outputs[k]] = i;
        if ((nd->kernel->flags & TT_KERNEL_VIEW) && nd->n_inputs > 0 && nd->inputs[0] >= 0 && nd->n_outputs > 0 &&
            nd->outputs[0] >= 0)
            parent[uf_find(parent, nd->outputs[0])] = uf_find(parent, nd->inputs[0]);
    }
    for (int i = 0; i < g->n_outputs; i++)
        pinned[uf_find(parent, g->outputs[i])] = true;
    for (int v = 0; v < n; v++) {
        int root = uf_find(parent, v);
        if (last[v] > last[root])
            last[root] = last[v];
        if (g->values[root].origin != TT_VALUE_NODE)
            pinned[root] = true;
    }
    int ni = 0;
    for (int v = 0; v < n; v++) {
        if (g->values[v].origin != TT_VALUE_NODE || !r->rec[v])
            continue;
        if (uf_find(parent, v) != v || pinned[v]) {
            if (uf_find(parent, v) == v)
                p->heap_bytes += r->rec[v];
            continue;
        }
        int a = 0;
        const tt_buft *bt = g->values[v].buft;
        if (!tt_buft_is_host(bt)) {
            while (a < p->n_arenas && p->arena_buft[a] != bt)
                a++;
            if (a == p->n_arenas) {
                if (a == TT_PLAN_MAX_ARENAS) {
                    p->heap_bytes += r->rec[v];
                    continue;
                }
                p->arena_buft[p->n_arenas++] = bt;
            }
        }
        items[ni++] = (item){.v = v,
                             .arena = a,
                             .start = g->values[v].producer,
                             .end = last[v] < g->values[v].producer ? g->values[v].producer : last[v],
                             .size = (r->rec[v] + TT_ALIGN - 1) & ~(size_t)(TT_ALIGN - 1)};
    }
    qsort(items, (size_t)ni, sizeof *items, by_size_desc);
    int np = 0;
    for (int i = 0; i < ni; i++) {
        item *it = &items[i];
        /* placed items alive at the same time, by offset: take the first gap that fits */
        int nc = 0;
        for (int j = 0; j < np; j++)
            if (placed[j]->arena == it->arena && placed[j]->start <= it->end && it->start <= placed[j]->end)
                placed[np + nc++] = placed[j]; /* scratch space after the placed list */
        item **conf = placed + np;
        qsort(conf, (size_t)nc, sizeof *conf, by_offset);
        int64_t off = 0;
        for (int j = 0; j < nc; j++) {
            if (conf[j]->offset - off >= (int64_t)it->size)
                break;
            int64_t e = conf[j]->offset + (int64_t)conf[j]->size;
            if (e > off)
                off = e;
        }
        it->offset = off;
        placed[np++] = it;
        if ((size_t)off + it->size > p->arena_size[it->arena])
            p->arena_size[it->arena] = (size_t)off + it->size;
        p->offset[it->v] = off;
        p->size[it->v] = it->size;
        p->arena_of[it->v] = (uint8_t)it->arena;
    }
    for (int a = 0; a < p->n_arenas; a++)
        p->total += p->arena_size[a];
    p->device_planned = true;
    for (int v = 0; v < n; v++)
        if (g->values[v].origin == TT_VALUE_NODE && !tt_buft_is_host(g->values[v].buft) && r->rec[v] &&
            p->offset[uf_find(parent, v)] < 0) /* a view lives in its root's place */
            p->device_planned = false;
    p->flops = r->flops;
done:
    tt_free(parent);
    tt_free(last);
    tt_free(pinned);
    tt_free(items);
    tt_free(placed);
    if (s != TT_OK) {
        tt_plan_free(p);
        return s;
    }
    *out = p;
    return TT_OK;
}
