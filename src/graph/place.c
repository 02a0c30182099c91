/* Placement: every node gets the kernel of the first backend in the session's list that
 * supports it (nodes with subgraphs, and everything inside subgraphs, stay on host
 * backends). Where a value is read in another buffer type than the one it is made in, a
 * copy node (TT_DOMAIN MemcpyToDevice / MemcpyToHost, run by the device's backend) is
 * inserted before its first such reader and shared by the later ones; constants a device
 * kernel reads are uploaded once here. Graph outputs always end on the host. */
#include "graph/graph.h"

#include "core/log.h"

#include <stdio.h>
#include <string.h>

static bool node_has_subgraphs(const tt_node *n)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].type == TT_ATTR_GRAPH || n->attrs[i].type == TT_ATTR_GRAPHS)
            return true;
    return false;
}

static tt_status no_kernel(const tt_graph *g, const tt_node *n, const tt_kprep *p, const tt_backend *const *bl,
                           int nb)
{
    const char *domain = *n->domain ? n->domain : "ai.onnx";
    char names[128] = "";
    size_t o = 0;
    for (int i = 0; i < nb && o < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", bl[i]->name);
    /* a kernel that matched all but its dtype names the dtype */
    for (int i = 0; i < nb; i++)
        for (const tt_kernel *const *t = bl[i]->tables; *t; t++)
            for (const tt_kernel *k = *t; k->name; k++) {
                if (strcmp(k->name, n->op_type) != 0 || !tt_domain_eq(k->domain, n->domain) ||
                    n->opset < k->since || (k->until && n->opset > k->until))
                    continue;
                const tt_type *ty = k->type_input < n->n_inputs ? p->in[k->type_input] : NULL;
                if (k->dtypes && ty && !((k->dtypes >> ty->dtype) & 1))
                    return tt_error(TETHER_ERR_UNSUPPORTED,
                                    "node '%s': op %s (domain %s, opset %d) does not support dtype %s (backends: %s)",
                                    n->name, n->op_type, domain, n->opset, tt_dtype_name(ty->dtype), names);
            }
    (void)g;
    return tt_error(TETHER_ERR_UNSUPPORTED,
                    "node '%s': op %s (domain %s, opset %d) has no kernel for these inputs in backends %s", n->name,
                    n->op_type, domain, n->opset, names);
}

/* Chooses node n's kernel among the backends bl[0..nb). */
static tt_status choose(tt_graph *g, tt_node *n, const tt_backend *const *bl, int nb)
{
    tt_kprep p;
    TT_TRY(tt_kprep_make(g, n, &p));
    tt_status s = TT_OK;
    n->kernel = NULL;
    for (int i = 0; i < nb && !n->kernel; i++) {
        const tt_kernel *k = tt_backend_find_kernel(bl[i], &p, p.in);
        if (k) {
            n->kernel = k;
            n->backend = bl[i];
        }
    }
    if (!n->kernel)
        s = no_kernel(g, n, &p, bl, nb);
    tt_kprep_free(&p);
    return s;
}

static tt_status place_graph(tt_graph *g, const tt_backend *const *bl, int nb, const tt_backend *const *hostb,
                             int nh);

static tt_status place_subgraphs(tt_node *n, const tt_backend *const *hostb, int nh)
{
    for (int a = 0; a < n->n_attrs; a++) {
        if (n->attrs[a].type == TT_ATTR_GRAPH)
            TT_TRY(place_graph(n->attrs[a].g, hostb, nh, hostb, nh));
        for (size_t j = 0; n->attrs[a].type == TT_ATTR_GRAPHS && j < n->attrs[a].n; j++)
            TT_TRY(place_graph(n->attrs[a].graphs[j], hostb, nh, hostb, nh));
    }
    return TT_OK;
}

/* ---- copies between buffer types --------------------------------------------------------- */

typedef struct placer {
    tt_graph *g;
    const tt_buft **loc;     /* per value: where it is made (NULL: host) */
    int *to_host;            /* per value: its host copy, or -1 */
    int *to_dev;             /* per value: its device copy (one device per session), or -1 */
    int nloc;
    tt_graph_edit e;
} placer;

static tt_status placer_grow(placer *pl)
{
    if (pl->g->n_values <= pl->nloc)
        return TT_OK;
    int n = pl->g->n_values * 2;
    const tt_buft **loc = tt_realloc(pl->loc, (size_t)n * sizeof *loc);
    if (loc)
        pl->loc = loc;
    int *th = tt_realloc(pl->to_host, (size_t)n * sizeof *th);
    if (th)
        pl->to_host = th;
    int *td = tt_realloc(pl->to_dev, (size_t)n * sizeof *td);
    if (td)
        pl->to_dev = td;
    if (!loc || !th || !td)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory placing the graph");
    for (int v = pl->nloc; v < n; v++) {
        pl->loc[v] = NULL;
        pl->to_host[v] = pl->to_dev[v] = -1;
    }
    pl->nloc = n;
    return TT_OK;
}

/* Uploads constant v to backend b's memory once; *out receives the device constant. */
static tt_status upload_const(placer *pl, int v, const tt_backend *b, int *out)
{
    tt_graph *g = pl->g;
    const tt_tensor *src = g->values[v].init;
    if (src->dtype == TETHER_DTYPE_STRING)
        return tt_error(TETHER_ERR_UNSUPPORTED, "constant '%s' holds strings, which %s cannot read",
                        g->values[v].name, b->name);
    size_t bytes = tt_tensor_nbytes(src);
    if (g->n_owned == g->owned_cap) {
        int cap = g->owned_cap ? g->owned_cap * 2 : 16;
        tt_buf **o = tt_arena_alloc(&g->model->arena, (size_t)cap * sizeof *o);
        if (!o)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory placing the graph");
        if (g->n_owned)
            memcpy(o, g->owned, (size_t)g->n_owned * sizeof *o);
        g->owned = o;
        g->owned_cap = cap;
    }
    tt_buf *buf;
    TT_TRY(tt_buf_new_typed(b->buft, bytes, &buf));
    g->owned[g->n_owned++] = buf;
    tt_status s = b->copy(b, buf->data, b->buft, src->data, &tt_buft_host, bytes);
    if (s != TT_OK)
        return tt_error_prefix(s, "uploading constant '%s' to %s: ", g->values[v].name, b->name);
    tt_tensor *t = tt_arena_alloc(&g->model->arena, sizeof *t);
    if (!t)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory placing the graph");
    *t = *src;
    t->buf = NULL; /* borrowed: the graph owns buf */
    t->data = buf->data;
    TT_TRY(tt_graph_new_value(g, g->values[v].name, &g->values[v].type, TT_VALUE_CONST, out));
    g->values[*out].init = t;
    g->values[*out].buft = b->buft;
    TT_TRY(placer_grow(pl));
    pl->loc[*out] = b->buft;
    return TT_OK;
}

/* Appends a copy of value v into buffer type `to` (made by backend b), returns its id. */
static tt_status add_copy(placer *pl, int v, const tt_backend *b, bool to_host, int *out)
{
    tt_graph *g = pl->g;
    int nv;
    TT_TRY(tt_graph_new_value(g, g->values[v].name, &g->values[v].type, TT_VALUE_NODE, &nv));
    TT_TRY(placer_grow(pl));
    const char *op = to_host ? "MemcpyToHost" : "MemcpyToDevice";
    tt_node n;
    tt_node_spec spec = {.name = op, .op_type = op, .domain = TT_DOMAIN, .n_inputs = 1, .n_outputs = 1,
                         .inputs = &v, .outputs = &nv};
    TT_TRY(tt_graph_make_node(g, &spec, &n));
    const tt_backend *one[1] = {b};
    tt_status s = choose(g, &n, one, 1);
    if (s != TT_OK)
        return tt_error_prefix(s, "backend %s copies no tensors: ", b->name);
    g->values[nv].buft = to_host ? NULL : b->buft;
    pl->loc[nv] = g->values[nv].buft;
    *out = nv;
    return tt_graph_edit_push(&pl->e, &n);
}

/* Makes value *v readable in buffer type `need` (NULL: host) for a node about to be
 * appended, rewriting *v to the copy. dev: the device backend involved. */
static tt_status ensure(placer *pl, int *v, const tt_buft *need, const tt_backend *dev)
{
    int id = *v;
    if (id < 0)
        return TT_OK;
    const tt_buft *have = pl->loc[id];
    if (tt_buft_is_host(have) && tt_buft_is_host(need))
        return TT_OK;
    if (have == need)
        return TT_OK;
    tt_graph *g = pl->g;
    if (tt_buft_is_host(need)) {
        if (pl->to_host[id] < 0) {
            int c;
            TT_TRY(add_copy(pl, id, dev, true, &c));
            pl->to_host[id] = c;
        }
        *v = pl->to_host[id];
        return TT_OK;
    }
    if (!tt_buft_is_host(have))
        return tt_error(TETHER_ERR_UNSUPPORTED, "value '%s' would move between two devices (%s to %s)",
                        g->values[id].name, have->name, need->name);
    if (pl->to_dev[id] < 0) {
        int c;
        if (g->values[id].origin == TT_VALUE_CONST)
            TT_TRY(upload_const(pl, id, dev, &c));
        else
            TT_TRY(add_copy(pl, id, dev, false, &c));
        pl->to_dev[id] = c;
    }
    *v = pl->to_dev[id];
    return TT_OK;
}

/* The backend that owns buffer type b among bl. */
static const tt_backend *owner(const tt_backend *const *bl, int nb, const tt_buft *b)
{
    for (int i = 0; i < nb; i++)
        if (bl[i]->buft == b)
            return bl[i];
    return NULL;
}

static tt_status insert_copies(tt_graph *g, const tt_backend *const *bl, int nb)
{
    placer pl = {.g = g};
    tt_status s = placer_grow(&pl);
    if (s == TT_OK)
        s = tt_graph_edit_begin(g, &pl.e);
    int n_nodes = g->n_nodes;
    tt_node *old = g->nodes;
    for (int i = 0; i < n_nodes && s == TT_OK; i++) {
        tt_node n = old[i];
        const tt_backend *b = n.backend;
        bool dev = !tt_buft_is_host(b->buft);
        /* inputs: arrays are copied so a shared array is never rewritten under another node */
        int *ins = tt_arena_alloc(&g->model->arena, ((size_t)n.n_inputs + 1) * sizeof *ins);
        if (!ins) {
            s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory placing the graph");
            break;
        }
        memcpy(ins, n.inputs, (size_t)n.n_inputs * sizeof *ins);
        for (int k = 0; k < n.n_inputs && s == TT_OK; k++) {
            if ((n.kernel->shape_inputs >> k) & 1)
                continue; /* only its shape is read: it stays where it is made */
            bool host = !dev || ((n.kernel->host_inputs >> k) & 1);
            const tt_buft *need = host ? NULL : b->buft;
            const tt_backend *d = host && ins[k] >= 0 ? owner(bl, nb, pl.loc[ins[k]]) : b;
            s = ensure(&pl, &ins[k], need, d ? d : b);
        }
        n.inputs = ins;
        for (int k = 0; k < n.n_implicit && s == TT_OK; k++) {
            int v = n.implicit[k];
            const tt_backend *d = owner(bl, nb, pl.loc[v]);
            if (d && !tt_buft_is_host(d->buft)) {
                int h = v;
                s = ensure(&pl, &h, NULL, d);
                if (s == TT_OK && h != v)
                    tt_node_replace_implicit(&n, v, h); /* the subgraphs read the host copy */
            }
        }
        for (int k = 0; k < n.n_outputs; k++) {
            int v = n.outputs[k];
            if (v < 0)
                continue;
            bool host = !dev || ((n.kernel->host_outputs >> k) & 1);
            g->values[v].buft = host ? NULL : b->buft;
            pl.loc[v] = g->values[v].buft;
        }
        if (s == TT_OK)
            s = tt_graph_edit_push(&pl.e, &n);
    }
    for (int i = 0; i < g->n_outputs && s == TT_OK; i++) {
        int v = g->outputs[i];
        const tt_backend *d = owner(bl, nb, pl.loc[v]);
        if (!d || tt_buft_is_host(d->buft))
            continue;
        int h = v;
        s = ensure(&pl, &h, NULL, d);
        if (s == TT_OK) {
            /* the host copy carries the output's name */
            const char *name = g->values[v].name;
            g->values[v].name = g->values[h].name;
            g->values[h].name = name;
            g->outputs[i] = h;
        }
    }
    if (s == TT_OK)
        s = tt_graph_edit_end(&pl.e);
    tt_free(pl.loc);
    tt_free(pl.to_host);
    tt_free(pl.to_dev);
    return s;
}

static tt_status place_graph(tt_graph *g, const tt_backend *const *bl, int nb, const tt_backend *const *hostb,
                             int nh)
{
    bool any_device = false;
    for (int i = 0; i < g->n_nodes; i++) {
        tt_node *n = &g->nodes[i];
        if (node_has_subgraphs(n)) {
            TT_TRY(place_subgraphs(n, hostb, nh));
            TT_TRY(choose(g, n, hostb, nh));
        } else {
            TT_TRY(choose(g, n, bl, nb));
        }
        any_device |= !tt_buft_is_host(n->backend->buft);
    }
    if (any_device)
        TT_TRY(insert_copies(g, bl, nb));
    return TT_OK;
}

tt_status tt_graph_place(tt_graph *g, const tt_backend_list *bl)
{
    const tt_backend *hostb[TT_MAX_BACKENDS];
    int nh = 0;
    for (int i = 0; i < bl->n; i++)
        if (tt_buft_is_host(bl->b[i]->buft))
            hostb[nh++] = bl->b[i];
    if (!nh)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "a session needs a host backend to fall back on");
    return place_graph(g, bl->b, bl->n, hostb, nh);
}
