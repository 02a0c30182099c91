/* The pass pipeline: graph rewrites between load (types inferred, constants folded) and
 * placement. Each pass leaves outputs unchanged (tests/unit/test_passes.c checks each one
 * against the unrewritten graph). TETHER_PASSES=none, or -name,-name, turns passes off. */
#include "graph/graph.h"

#include "core/log.h"

#include <stdlib.h>
#include <string.h>

const tt_pass *const tt_passes[] = {
    &tt_pass_fold_bn,
    &tt_pass_fuse_conv,
    &tt_pass_layout,
    NULL,
};

const tt_backend *tt_pass_backend(const tt_graph *g, const tt_node *n)
{
    const tt_backend_list *bl = g->model->backends;
    if (!bl)
        return NULL;
    tt_kprep p;
    if (tt_kprep_make(g, n, &p) != TT_OK) {
        tt_error_clear();
        return NULL;
    }
    const tt_backend *b = NULL;
    for (int i = 0; i < bl->n && !b; i++)
        if (tt_backend_find_kernel(bl->b[i], &p, p.in))
            b = bl->b[i];
    tt_kprep_free(&p);
    return b;
}

bool tt_pass_backend_keeps(const tt_graph *g, const tt_node *old, const tt_node *fused)
{
    if (!g->model->backends)
        return true;
    const tt_backend *b = tt_pass_backend(g, old);
    if (!b)
        return false;
    tt_kprep p;
    if (tt_kprep_make(g, fused, &p) != TT_OK) {
        tt_error_clear();
        return false;
    }
    bool ok = tt_backend_find_kernel(b, &p, p.in) != NULL;
    tt_kprep_free(&p);
    return ok;
}

static bool pass_enabled(const char *name)
{
    const char *env = getenv("TETHER_PASSES");
    if (!env || !*env)
        return true;
    if (strcmp(env, "none") == 0)
        return false;
    size_t n = strlen(name);
    for (const char *p = env; (p = strstr(p, name)) != NULL; p += n)
        if (p > env && p[-1] == '-' && (p[n] == 0 || p[n] == ','))
            return false;
    return true;
}

tt_status tt_graph_run_passes(tt_graph *g)
{
    for (const tt_pass *const *p = tt_passes; *p; p++) {
        if (!pass_enabled((*p)->name))
            continue;
        bool changed = false;
        tt_status s = (*p)->run(g, &changed);
        if (s != TT_OK)
            return tt_error_prefix(s, "pass %s: ", (*p)->name);
        if (changed)
            TT_DEBUG("pass %s rewrote graph '%s' (%d nodes now)", (*p)->name, g->name, g->n_nodes);
    }
    return TT_OK;
}
