/* The pass pipeline: graph rewrites between load (types inferred, constants folded) and
 * placement. Each pass leaves outputs unchanged (tests/unit/test_passes*.c check each one
 * against the unrewritten graph). TETHER_PASSES=none, or -name,-name, turns passes off.
 * The session runs the list again after folding the constants a round made (see
 * tt_graph_compile), so a pass may leave to the next round what folding first has to fix. */
#include "graph/graph.h"

#include "core/log.h"

#include <stdlib.h>
#include <string.h>

extern const tt_pass tt_pass_identity, tt_pass_shapes, tt_pass_dead, tt_pass_layernorm, tt_pass_gelu,
    tt_pass_attention, tt_pass_matmul_epilogue;

const tt_pass *const tt_passes[] = {
    /* clean-up and shape arithmetic (pass_cleanup.c, pass_shapes.c) */
    &tt_pass_identity,
    &tt_pass_shapes,
    &tt_pass_dead,
    /* transformer patterns (pass_transformer.c), then products with their epilogues (pass_matmul.c) */
    &tt_pass_layernorm,
    &tt_pass_gelu,
    &tt_pass_attention,
    &tt_pass_matmul_epilogue,
    /* CNN patterns (pass_fold_bn.c, pass_conv.c) */
    &tt_pass_fold_bn,
    &tt_pass_fuse_conv,
    /* layouts last, once the graph has settled (pass_layout.c) */
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

tt_status tt_graph_run_passes_changed(tt_graph *g, bool final, bool *any)
{
    *any = false;
    for (const tt_pass *const *p = tt_passes; *p; p++) {
        if ((*p)->final != final || !pass_enabled((*p)->name))
            continue;
        bool changed = false;
        tt_status s = (*p)->run(g, &changed);
        if (s != TT_OK)
            return tt_error_prefix(s, "pass %s: ", (*p)->name);
        if (changed)
            TT_DEBUG("pass %s rewrote graph '%s' (%d nodes now)", (*p)->name, g->name, g->n_nodes);
        *any |= changed;
    }
    return TT_OK;
}

tt_status tt_graph_run_passes(tt_graph *g)
{
    bool changed;
    TT_TRY(tt_graph_run_passes_changed(g, false, &changed));
    return tt_graph_run_passes_changed(g, true, &changed);
}
