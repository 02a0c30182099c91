/* The caller's input dimensions (tether_session_config.input_dims): set on the graph's
 * inputs before the session compiles the model, so shape inference, planning and the run-time
 * checks all start from them. A dimension the model fixes may be freed (a model exported with
 * batch 1 whose graph works for any batch); one it leaves free may be fixed. */
#include "model/model.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The id of symbol `name`, made when the model has none of that name. */
static tt_status symbol(tt_model *m, const char *name, int64_t *dim)
{
    for (int i = 0; i < m->n_symbols; i++)
        if (strcmp(m->symbols[i], name) == 0) {
            *dim = TT_DIM_SYM0 - i;
            return TT_OK;
        }
    const char **s = tt_arena_alloc(&m->arena, (size_t)(m->n_symbols + 1) * sizeof *s);
    char *copy = tt_arena_strdup(&m->arena, name);
    if (!s || !copy)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory setting input dimensions");
    if (m->n_symbols)
        memcpy(s, m->symbols, (size_t)m->n_symbols * sizeof *s);
    s[m->n_symbols] = copy;
    m->symbols = s;
    *dim = TT_DIM_SYM0 - m->n_symbols++;
    return TT_OK;
}

static void list_inputs(const tt_graph *g, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < g->n_inputs && o + 1 < cap; i++) {
        int k = snprintf(out + o, cap - o, "%s'%s'", i ? ", " : "", g->values[g->inputs[i]].name);
        if (k < 0)
            break;
        o += (size_t)k;
    }
    if (o >= cap && cap > 4)
        memcpy(out + cap - 4, "...", 4);
}

tt_status tt_model_set_input_dims(tt_model *m, const tether_input_dims *spec, size_t n)
{
    tt_graph *g = m->graph;
    if (n && !spec)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input_dims is NULL but n_input_dims is %zu", n);
    if (n > (size_t)g->n_inputs + 1024)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%zu input_dims for a model of %d inputs", n, g->n_inputs);
    bool freed = false;
    for (size_t k = 0; k < n; k++) {
        const tether_input_dims *d = &spec[k];
        if (!d->name)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input_dims[%zu] names no input", k);
        for (size_t j = 0; j < k; j++)
            if (strcmp(spec[j].name, d->name) == 0)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%.128s' has its dimensions given twice", d->name);
        tt_value_decl *v = NULL;
        for (int i = 0; i < g->n_inputs && !v; i++)
            if (strcmp(g->values[g->inputs[i]].name, d->name) == 0)
                v = &g->values[g->inputs[i]];
        if (!v) {
            char names[512];
            list_inputs(g, names, sizeof names);
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%.128s' is not an input of the model (its inputs: %s)",
                            d->name, names);
        }
        if (v->type.kind != TT_KIND_TENSOR)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' is not a tensor: its dimensions cannot be set",
                            v->name);
        if (d->rank < 0 || d->rank > TT_MAX_RANK)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s': rank %d is out of range 0..%d", v->name, d->rank,
                            TT_MAX_RANK);
        if (v->type.rank >= 0 && d->rank != v->type.rank) {
            char have[160];
            tt_dims_str(v->type.rank, v->type.dims, have, sizeof have);
            return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                            "input '%s' has rank %d (shape %s in the model); %d dimensions were given", v->name,
                            v->type.rank, have, d->rank);
        }
        for (int i = 0; i < d->rank; i++) {
            int64_t want = d->dims[i], have = v->type.rank >= 0 ? v->type.dims[i] : TT_DIM_UNKNOWN;
            if (want != -1 && want <= 0)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                                "input '%s' dimension %d: %" PRId64 " is neither -1 (free) nor a size > 0", v->name, i,
                                want);
            if (want > 0 && have >= 0 && have != want)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                                "input '%s' dimension %d is %" PRId64 " in the model, not %" PRId64
                                " (a fixed dimension may only be made free, -1)",
                                v->name, i, have, want);
        }
        /* checked: now set */
        bool had_rank = v->type.rank >= 0;
        v->type.rank = d->rank;
        for (int i = 0; i < d->rank; i++) {
            int64_t have = had_rank ? v->type.dims[i] : TT_DIM_UNKNOWN;
            if (d->dims[i] > 0) {
                v->type.dims[i] = d->dims[i];
            } else if (have >= 0 || have == TT_DIM_UNKNOWN) {
                /* freed: a symbol of its own, so that inference follows it through the graph */
                char name[300];
                snprintf(name, sizeof name, "%.200s:%d", v->name, i);
                TT_TRY(symbol(m, name, &v->type.dims[i]));
                if (v->dim_names)
                    ((const char **)v->dim_names)[i] = NULL;
                freed |= have >= 0;
            }
        }
        if (!had_rank && v->dim_names)
            v->dim_names = NULL;
    }
    /* the shapes the file declares for the values nodes make were the export's: with a dimension
     * freed they may no longer hold, so inference alone decides them (rank and type stay) */
    for (int i = 0; freed && i < g->n_values; i++) {
        tt_value_decl *v = &g->values[i];
        if (v->origin != TT_VALUE_NODE || v->type.kind == TT_KIND_NONE)
            continue;
        for (int k = 0; k < v->type.rank && k < TT_MAX_RANK; k++)
            v->type.dims[k] = TT_DIM_UNKNOWN;
    }
    return TT_OK;
}
