/* Local sessions: a prepared model, a pool of run contexts for concurrent runs, and a
 * small cache of memory plans keyed by input shapes. Also the public calls every session
 * shares (info, stats, outputs). */
#include "runtime/session.h"

#include "core/log.h"
#include "core/threadpool.h"
#include "graph/graph.h"
#include "model/model.h"
#include "runtime/plan.h"
#include "runtime/prepare.h"
#include "runtime/profile.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- outputs ---------------------------------------------------------------------- */

tt_status tt_outputs_new(size_t n, tether_outputs **out)
{
    tether_outputs *o = tt_calloc(1, sizeof *o);
    if (o) {
        o->t = tt_calloc(n + 1, sizeof *o->t);
        o->vals = tt_calloc(n + 1, sizeof *o->vals);
        o->names = tt_calloc(n + 1, sizeof *o->names);
    }
    if (!o || !o->t || !o->vals || !o->names) {
        tether_outputs_free(o);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for %zu outputs", n);
    }
    o->n = n;
    *out = o;
    return TT_OK;
}

tt_status tt_outputs_set(tether_outputs *o, size_t i, const char *name, tt_value *v)
{
    o->names[i] = tt_strdup(name);
    if (!o->names[i])
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for output names");
    o->vals[i] = *v;
    memset(v, 0, sizeof *v);
    tether_tensor *t = &o->t[i];
    t->name = o->names[i];
    if (o->vals[i].kind != TT_KIND_TENSOR) {
        t->dtype = TETHER_DTYPE_UNDEFINED;
        t->rank = 0;
        return TT_OK;
    }
    const tt_tensor *src = &o->vals[i].t;
    t->dtype = src->dtype;
    t->rank = src->rank;
    memcpy(t->dims, src->dims, sizeof t->dims);
    t->data = src->data;
    t->size = tt_tensor_nbytes(src);
    return TT_OK;
}

size_t tether_outputs_count(const tether_outputs *o) { return o ? o->n : 0; }
uint64_t tether_outputs_flops(const tether_outputs *o) { return o ? o->flops : 0; }

const tether_tensor *tether_outputs_get(const tether_outputs *o, size_t i)
{
    return o && i < o->n ? &o->t[i] : NULL;
}

const tether_tensor *tether_outputs_find(const tether_outputs *o, const char *name)
{
    for (size_t i = 0; o && name && i < o->n; i++)
        if (strcmp(o->t[i].name, name) == 0)
            return &o->t[i];
    return NULL;
}

void tether_outputs_free(tether_outputs *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        if (o->vals)
            tt_value_release(&o->vals[i]);
        if (o->names)
            tt_free(o->names[i]);
    }
    tt_free(o->t);
    tt_free(o->vals);
    tt_free(o->names);
    tt_free(o);
}

/* ---- session info ------------------------------------------------------------------- */

static void fill_info(const tt_model *m, const tt_value_decl *d, tether_value_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = d->name;
    info->rank = d->type.kind == TT_KIND_TENSOR ? d->type.rank : -1;
    info->dtype = d->type.kind == TT_KIND_TENSOR ? d->type.dtype : TETHER_DTYPE_UNDEFINED;
    for (int i = 0; i < info->rank; i++) {
        info->dims[i] = d->type.dims[i] >= 0 ? d->type.dims[i] : -1;
        info->dim_names[i] = d->dim_names && d->dim_names[i] ? d->dim_names[i] : tt_model_symbol_name(m, d->type.dims[i]);
    }
}

tt_status tt_session_describe_model(tether_session *s, const tt_model *m)
{
    const tt_graph *g = m->graph;
    s->n_inputs = g->n_inputs;
    s->n_outputs = g->n_outputs;
    s->inputs = tt_arena_alloc(&s->info_arena, sizeof(tether_value_info) * (size_t)(g->n_inputs + 1));
    s->outputs = tt_arena_alloc(&s->info_arena, sizeof(tether_value_info) * (size_t)(g->n_outputs + 1));
    if (!s->inputs || !s->outputs)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory describing the model");
    for (int i = 0; i < g->n_inputs; i++)
        fill_info(m, &g->values[g->inputs[i]], &s->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++)
        fill_info(m, &g->values[g->outputs[i]], &s->outputs[i]);
    return TT_OK;
}

size_t tether_session_input_count(const tether_session *s) { return s ? (size_t)s->n_inputs : 0; }
size_t tether_session_output_count(const tether_session *s) { return s ? (size_t)s->n_outputs : 0; }

tether_status tether_session_input_info(const tether_session *s, size_t i, tether_value_info *info)
{
    if (!s || !info || i >= (size_t)s->n_inputs)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input index %zu is out of range (the model has %d inputs)", i,
                        s ? s->n_inputs : 0);
    *info = s->inputs[i];
    return TT_OK;
}

tether_status tether_session_output_info(const tether_session *s, size_t i, tether_value_info *info)
{
    if (!s || !info || i >= (size_t)s->n_outputs)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "output index %zu is out of range (the model has %d outputs)", i,
                        s ? s->n_outputs : 0);
    *info = s->outputs[i];
    return TT_OK;
}

tether_status tether_session_stats_get(const tether_session *s, tether_session_stats *stats)
{
    if (!s || !stats)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "session and stats must not be NULL");
    *stats = s->stats;
    return TT_OK;
}

tether_status tether_session_run(tether_session *s, const tether_tensor *inputs, size_t n_inputs,
                                 tether_outputs **out)
{
    if (!s || !out || (n_inputs && !inputs))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "tether_session_run: session, inputs and out must not be NULL");
    *out = NULL;
    return s->ops->run(s, inputs, n_inputs, out);
}

void tether_session_free(tether_session *s)
{
    if (!s)
        return;
    s->ops->free(s);
    tt_arena_free(&s->info_arena);
    tt_free(s);
}

/* ---- input binding ------------------------------------------------------------------ */

tt_status tt_bind_inputs(const tether_session *s, const tether_tensor *in, size_t n, const tether_tensor **bound)
{
    for (int i = 0; i < s->n_inputs; i++)
        bound[i] = NULL;
    for (size_t j = 0; j < n; j++) {
        int slot = -1;
        if (in[j].name) {
            for (int i = 0; i < s->n_inputs; i++)
                if (strcmp(s->inputs[i].name, in[j].name) == 0)
                    slot = i;
            if (slot < 0) {
                size_t need = 1;
                for (int i = 0; i < s->n_inputs; i++)
                    need += strlen(s->inputs[i].name) + 4;
                char *names = tt_malloc(need);
                size_t o = 0;
                for (int i = 0; names && i < s->n_inputs; i++)
                    o += (size_t)snprintf(names + o, need - o, "%s'%s'", i ? ", " : "", s->inputs[i].name);
                tt_status st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "the model has no input named '%s' (its inputs: %s)",
                                        in[j].name, names ? names : "(out of memory listing them)");
                tt_free(names);
                return st;
            }
        } else {
            if (j >= (size_t)s->n_inputs)
                return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%zu inputs given, the model takes %d", n, s->n_inputs);
            slot = (int)j;
        }
        if (bound[slot])
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' is given twice", s->inputs[slot].name);
        bound[slot] = &in[j];
    }
    int64_t sym_val[64];
    const char *sym_name[64];
    int nsym = 0;
    for (int i = 0; i < s->n_inputs; i++) {
        const tether_value_info *info = &s->inputs[i];
        const tether_tensor *t = bound[i];
        if (!t)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' is missing", info->name);
        if (info->dtype == TETHER_DTYPE_UNDEFINED)
            return tt_error(TETHER_ERR_UNSUPPORTED, "input '%s' is not a tensor; the C API passes only tensors",
                            info->name);
        if (t->dtype != info->dtype)
            return tt_error(TETHER_ERR_SHAPE, "input '%s' must be %s, got %s", info->name, tt_dtype_name(info->dtype),
                            tt_dtype_name(t->dtype));
        if (t->rank < 0 || t->rank > TETHER_MAX_RANK)
            return tt_error(TETHER_ERR_SHAPE, "input '%s' has rank %d", info->name, t->rank);
        char got[160];
        tt_dims_str(t->rank, t->dims, got, sizeof got);
        if (info->rank >= 0 && t->rank != info->rank)
            return tt_error(TETHER_ERR_SHAPE, "input '%s' must have rank %d, got shape %s", info->name, info->rank, got);
        int64_t numel;
        tt_status st = tt_shape_numel(t->rank, t->dims, &numel);
        if (st != TT_OK)
            return tt_error_prefix(st, "input '%s': ", info->name);
        for (int d = 0; d < info->rank; d++) {
            if (info->dims[d] >= 0 && t->dims[d] != info->dims[d])
                return tt_error(TETHER_ERR_SHAPE, "input '%s' dimension %d must be %" PRId64 ", got shape %s",
                                info->name, d, info->dims[d], got);
            const char *sym = info->dim_names[d];
            if (info->dims[d] >= 0 || !sym)
                continue;
            int k = 0;
            while (k < nsym && strcmp(sym_name[k], sym) != 0)
                k++;
            if (k < nsym && sym_val[k] != t->dims[d])
                return tt_error(TETHER_ERR_SHAPE, "input '%s' dimension %d ('%s') is %" PRId64
                                ", but another input has '%s' = %" PRId64,
                                info->name, d, sym, t->dims[d], sym, sym_val[k]);
            if (k == nsym && nsym < 64) {
                sym_name[nsym] = sym;
                sym_val[nsym++] = t->dims[d];
            }
        }
        size_t need = (size_t)numel * tt_dtype_size(t->dtype);
        if (t->size < need)
            return tt_error(TETHER_ERR_SHAPE, "input '%s' of shape %s needs %zu bytes of %s, %zu given", info->name, got,
                            need, tt_dtype_name(t->dtype), t->size);
        if (need && !t->data)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' has no data", info->name);
    }
    return TT_OK;
}

/* ---- local engine ------------------------------------------------------------------- */

static tt_status local_get_run(tt_local *l, tt_run **out)
{
    pthread_mutex_lock(&l->lock);
    tt_run *r = l->free_runs;
    if (r)
        l->free_runs = r->next;
    pthread_mutex_unlock(&l->lock);
    if (r) {
        *out = r;
        return TT_OK;
    }
    return tt_run_new(l->model->graph, out);
}

static void local_put_run(tt_local *l, tt_run *r)
{
    tt_run_reset(r);
    pthread_mutex_lock(&l->lock);
    r->next = l->free_runs;
    l->free_runs = r;
    pthread_mutex_unlock(&l->lock);
}

/* Runs with already-bound values; on success outs[i] holds a reference to graph output i
 * that the caller releases (storage the run does not own outright is copied). */
static tt_status local_exec(tether_session *s, tt_local *l, const tt_value *vals, tt_value *outs, uint64_t *flops)
{
    const tt_graph *g = l->model->graph;
    tt_run *r;
    TT_TRY(local_get_run(l, &r));
    /* every parallel loop of the run (kernels, output copies) stays within the session's
     * threads and within a cap the caller's thread already has (tetherd: a remote client's
     * num_threads), and concurrent runs share the process's threads instead of each taking
     * all of them */
    tt_threads_scope threads = tt_threads_begin(l->num_threads);
    const tt_plan *plan = NULL;
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->n_plans && !plan; i++)
        if (tt_plan_matches(l->plans[i], vals))
            plan = l->plans[i];
    bool can_record = !plan && l->n_plans < TT_MAX_PLANS;
    pthread_mutex_unlock(&l->lock);
    tt_status st = tt_run_use_plan(r, plan);
    r->recording = can_record;
    r->deadline_ns = l->run_limit_ns ? tt_profile_now_ns() + l->run_limit_ns : 0;
    if (st == TT_OK)
        st = tt_run_exec(r, vals);
    if (st == TT_OK && can_record) {
        tt_plan *p;
        if (tt_plan_build(g, r, vals, &p) == TT_OK) {
            pthread_mutex_lock(&l->lock);
            bool dup = false;
            for (int i = 0; i < l->n_plans; i++)
                dup |= tt_plan_matches(l->plans[i], vals);
            if (!dup && l->n_plans < TT_MAX_PLANS) {
                l->plans[l->n_plans++] = p;
                if (l->n_plans == 1)
                    s->stats.flops = r->flops;
                p = NULL;
            }
            pthread_mutex_unlock(&l->lock);
            tt_plan_free(p);
        }
        tt_error_clear();
    }
    if (flops)
        *flops = plan ? plan->flops : can_record ? r->flops : 0;
    int done = 0;
    for (int i = 0; i < g->n_outputs && st == TT_OK; i++, done++) {
        const tt_value *v = &r->vals[g->outputs[i]];
        if (v->kind == TT_KIND_TENSOR && (!v->t.buf || v->t.buf->pooled)) {
            memset(&outs[i], 0, sizeof outs[i]);
            st = tt_tensor_clone(&v->t, &outs[i].t);
            if (st == TT_OK)
                outs[i].kind = TT_KIND_TENSOR;
        } else {
            st = tt_value_share(v, &outs[i]);
        }
    }
    if (st != TT_OK)
        for (int i = 0; i < done; i++)
            tt_value_release(&outs[i]);
    tt_threads_end(threads);
    local_put_run(l, r);
    return st;
}

tt_status tt_local_run_values(tether_session *s, const tt_value *inputs, tt_value *outputs, uint64_t *flops)
{
    tt_local *l = tt_session_local(s);
    if (!l)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "not a local session");
    const tt_graph *g = l->model->graph;
    for (int i = 0; i < g->n_inputs; i++) {
        const tt_type *t = &g->values[g->inputs[i]].type;
        const tt_value *v = &inputs[i];
        bool ok = t->kind == TT_KIND_OPTIONAL ? (v->kind == TT_KIND_NONE || (int)v->kind == (int)t->elem_kind)
                                              : (int)v->kind == (int)t->kind;
        if (!ok)
            return tt_error(TETHER_ERR_SHAPE, "input '%s' is of the wrong kind", g->values[g->inputs[i]].name);
        if (v->kind == TT_KIND_TENSOR && v->t.dtype != t->dtype)
            return tt_error(TETHER_ERR_SHAPE, "input '%s' must be %s, got %s", g->values[g->inputs[i]].name,
                            tt_dtype_name(t->dtype), tt_dtype_name(v->t.dtype));
    }
    return local_exec(s, l, inputs, outputs, flops);
}

static tt_status local_run(tether_session *s, const tether_tensor *inputs, size_t n, tether_outputs **out)
{
    tt_local *l = s->impl;
    const tt_graph *g = l->model->graph;
    const tether_tensor *bound_local[16];
    const tether_tensor **bound = bound_local;
    tt_value vals_local[16];
    tt_value *vals = vals_local;
    if (g->n_inputs > 16) {
        bound = tt_calloc((size_t)g->n_inputs, sizeof *bound);
        vals = tt_calloc((size_t)g->n_inputs, sizeof *vals);
        if (!bound || !vals) {
            tt_free(bound);
            tt_free(vals);
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory binding inputs");
        }
    }
    tt_status st = tt_bind_inputs(s, inputs, n, bound);
    for (int i = 0; i < g->n_inputs && st == TT_OK; i++) {
        memset(&vals[i], 0, sizeof vals[i]);
        vals[i].kind = TT_KIND_TENSOR;
        tt_tensor *t = &vals[i].t;
        t->dtype = bound[i]->dtype;
        t->rank = bound[i]->rank;
        memcpy(t->dims, bound[i]->dims, sizeof t->dims);
        t->data = bound[i]->data;
    }
    tt_value *outs = NULL;
    if (st == TT_OK && !(outs = tt_calloc((size_t)g->n_outputs + 1, sizeof *outs)))
        st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory for outputs");
    uint64_t flops = 0;
    if (st == TT_OK)
        st = local_exec(s, l, vals, outs, &flops);
    if (st == TT_OK) {
        st = tt_outputs_new((size_t)g->n_outputs, out);
        if (st == TT_OK)
            (*out)->flops = flops;
        for (int i = 0; i < g->n_outputs && st == TT_OK; i++)
            st = tt_outputs_set(*out, (size_t)i, g->values[g->outputs[i]].name, &outs[i]);
        if (st != TT_OK) {
            tether_outputs_free(*out);
            *out = NULL;
        }
    }
    for (int i = 0; outs && i < g->n_outputs; i++)
        tt_value_release(&outs[i]);
    tt_free(outs);
    if (bound != bound_local) {
        tt_free(bound);
        tt_free(vals);
    }
    return st;
}

static void local_free(tether_session *s)
{
    tt_local *l = s->impl;
    if (!l)
        return;
    while (l->free_runs) {
        tt_run *r = l->free_runs;
        l->free_runs = r->next;
        tt_run_free(r);
    }
    for (int i = 0; i < l->n_plans; i++)
        tt_plan_free(l->plans[i]);
    if (l->model) {
        tt_graph_release(l->model->graph);
        tt_model_free(l->model);
    }
    tt_backend_list_release(&l->backends); /* after everything its devices hold is freed */
    pthread_mutex_destroy(&l->lock);
    tt_free(l);
}

/* Device bytes the session's backends hold (uploaded constants, arenas, workspace). */
static uint64_t local_device_bytes(const tt_local *l)
{
    uint64_t n = 0;
    for (int b = 0; b < l->backends.n; b++)
        if (l->backends.b[b]->mem_used)
            n += l->backends.b[b]->mem_used(l->backends.b[b]);
    return n;
}

static const tt_session_ops g_local_ops = {.run = local_run, .free = local_free};

tt_status tt_precision_parse(const char *s, tt_precision *out)
{
    static const char *const names[] = {"fp32", "bf16", "int8"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (tt_precision)i;
            return TT_OK;
        }
    return tt_error(TETHER_ERR_INVALID_ARGUMENT, "precision '%.32s' is not one of fp32, bf16, int8", s);
}

tt_local *tt_session_local(tether_session *s) { return s && s->ops == &g_local_ops ? s->impl : NULL; }

#define TT_WARMUP_MAX_INPUT_BYTES (256 << 20)
#define TT_WARMUP_MAX_NS (10ull * 1000000000) /* past this, planning is left to the first run */

/* Runs once on zeros at the declared shapes (unnamed dims taken as 1) so that the memory
 * plan exists, and every lazy cost is paid, before the first real run. */
static void local_warmup(tether_session *s, tt_local *l)
{
    const tt_graph *g = l->model->graph;
    tt_value *vals = tt_calloc((size_t)g->n_inputs + 1, sizeof *vals);
    bool ok = vals != NULL;
    uint64_t total = 0;
    for (int i = 0; i < g->n_inputs && ok; i++) {
        const tt_type *t = &g->values[g->inputs[i]].type;
        if (t->kind != TT_KIND_TENSOR || t->rank < 0) {
            ok = false;
            break;
        }
        int64_t dims[TT_MAX_RANK], numel = 1;
        for (int d = 0; d < t->rank; d++) {
            dims[d] = t->dims[d] >= 0 ? t->dims[d] : 1;
            if (__builtin_mul_overflow(numel, dims[d], &numel))
                numel = INT64_MAX;
        }
        /* declared shapes are the model's word: don't let one make open allocate gigabytes */
        total += (uint64_t)numel * tt_dtype_size(t->dtype);
        if (numel == INT64_MAX || total > TT_WARMUP_MAX_INPUT_BYTES) {
            TT_DEBUG("no warm-up: the declared inputs are larger than %d MiB", TT_WARMUP_MAX_INPUT_BYTES >> 20);
            ok = false;
            break;
        }
        ok = tt_tensor_alloc(&vals[i].t, t->dtype, t->rank, dims) == TT_OK;
        if (ok)
            vals[i].kind = TT_KIND_TENSOR;
    }
    tt_value *outs = ok ? tt_calloc((size_t)g->n_outputs + 1, sizeof *outs) : NULL;
    if (outs) {
        /* open must end even for a model that never does: the warm-up has a limit of its own */
        uint64_t limit = l->run_limit_ns;
        if (!limit || limit > TT_WARMUP_MAX_NS)
            l->run_limit_ns = TT_WARMUP_MAX_NS;
        if (local_exec(s, l, vals, outs, NULL) != TT_OK)
            TT_DEBUG("warm-up run failed (planning is left to the first run): %s", tt_last_error());
        l->run_limit_ns = limit;
        for (int i = 0; i < g->n_outputs; i++)
            tt_value_release(&outs[i]);
        tt_free(outs);
    }
    for (int i = 0; vals && i < g->n_inputs; i++)
        tt_value_release(&vals[i]);
    tt_free(vals);
    tt_error_clear();
    pthread_mutex_lock(&l->lock);
    if (l->n_plans)
        s->stats.activation_bytes = l->plans[0]->total + l->plans[0]->heap_bytes;
    pthread_mutex_unlock(&l->lock);
    s->stats.device_bytes = local_device_bytes(l);
}

static void count_params(const tt_graph *g, uint64_t *params)
{
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].origin == TT_VALUE_CONST && tt_dtype_is_float(g->values[v].init->dtype))
            *params += (uint64_t)tt_tensor_numel(g->values[v].init);
}

/* "cpu (local: cpu 52 nodes, ref 3)": the target and how many top-level nodes each backend
 * runs. */
static void local_describe_where(tether_session *s, tt_local *l, const char *target)
{
    const tt_graph *g = l->model->graph;
    char *w = s->stats.where;
    size_t cap = sizeof s->stats.where, o = (size_t)snprintf(w, cap, "%s (local", target);
    const char *sep = ": ";
    for (int b = 0; b < l->backends.n && o < cap; b++) {
        int count = 0;
        for (int i = 0; i < g->n_nodes; i++)
            count += g->nodes[i].backend == l->backends.b[b];
        if (!count)
            continue;
        o += (size_t)snprintf(w + o, cap - o, "%s%s %d node%s", sep, l->backends.b[b]->name, count,
                              count == 1 ? "" : "s");
        sep = ", ";
    }
    if (o < cap)
        snprintf(w + o, cap - o, ")");
}

tt_status tt_local_open(tt_model *m, const tether_session_config *cfg, tether_session **out)
{
    tether_session *s = tt_calloc(1, sizeof *s);
    tt_local *l = tt_calloc(1, sizeof *l);
    if (!s || !l) {
        tt_free(s);
        tt_free(l);
        tt_graph_release(m->graph);
        tt_model_free(m);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory opening a session");
    }
    tt_arena_init(&s->info_arena);
    pthread_mutex_init(&l->lock, NULL);
    l->model = m;
    l->run_limit_ns = cfg && cfg->run_limit_ms > 0 ? (uint64_t)cfg->run_limit_ms * 1000000ull : 0;
    l->num_threads = cfg && cfg->num_threads > 0 ? cfg->num_threads : 0;
    s->ops = &g_local_ops;
    s->impl = l;
    const char *target = cfg && cfg->target && *cfg->target ? cfg->target : "cpu";
    tt_backend_opts opts = {.precision = cfg ? cfg->precision : NULL, .mem_limit = cfg ? cfg->device_memory_limit : 0};
    /* TETHER_PRECISION sets the precision of device sessions that name none */
    const char *env_precision = getenv("TETHER_PRECISION");
    const char *env_backends = getenv("TETHER_BACKENDS");
    const char *eff = strcmp(target, "cpu") == 0 && env_backends && *env_backends ? env_backends : target;
    bool from_env = !opts.precision && env_precision && *env_precision && strstr(eff, "cuda");
    if (from_env)
        opts.precision = env_precision;
    tt_status st = TT_OK;
    if (cfg && cfg->n_input_dims)
        st = tt_model_set_input_dims(m, cfg->input_dims, cfg->n_input_dims);
    if (st == TT_OK && !tt_precision_valid(opts.precision))
        st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "precision '%s' is not one of fp32, tf32, fp16, bf16, int8",
                      opts.precision);
    if (st == TT_OK)
        st = tt_backend_list_for_opts(target, &opts, &l->backends);
    if (st == TT_OK && opts.precision && *opts.precision && strcmp(opts.precision, "fp32") != 0) {
        /* tf32 and fp16 are a device's; bf16 and int8 the cpu backend's convolutions */
        bool device = false;
        for (int b = 0; b < l->backends.n; b++)
            device |= !tt_buft_is_host(l->backends.b[b]->buft);
        bool cpu = tt_precision_parse(opts.precision, &m->precision) == TT_OK;
        tt_error_clear();
        if (!cpu && !device)
            st = tt_error(TETHER_ERR_UNSUPPORTED, "precision %s needs a device target (cuda:N); target '%s' runs fp32",
                          opts.precision, target);
        else if (cpu && device)
            st = tt_error(TETHER_ERR_UNSUPPORTED, "precision %s is the cpu backend's; target '%s' has a device (use "
                          "fp32, tf32 or fp16)", opts.precision, target);
    }
    if (st == TT_OK)
        st = tt_graph_compile(m->graph, &l->backends, true);
    if (st == TT_OK)
        st = tt_session_describe_model(s, m);
    if (st != TT_OK) {
        tether_session_free(s);
        return st;
    }
    s->stats.weight_bytes = m->weight_bytes;
    s->stats.nodes = m->graph->n_nodes;
    count_params(m->graph, &s->stats.parameters);
    local_describe_where(s, l, target);
    if (!cfg || cfg->warmup)
        local_warmup(s, l);
    *out = s;
    return TT_OK;
}
