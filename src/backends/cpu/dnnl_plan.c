/* oneDNN plumbing for the cpu backend: engine, per-thread streams, plans (see dnnl_plan.h). */
#ifdef TETHER_HAVE_DNNL

#include "backends/cpu/dnnl_plan.h"
#include "backends/cpu/dnnl_kernels.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/threadpool.h"

#include <oneapi/dnnl/dnnl_debug.h>
#include <stdatomic.h>
#include <string.h>

/* Past this many plans (input shapes) a kernel makes a plan per run and drops it after, so
 * a stream of ever-new shapes costs time, not memory. */
#define TT_DNNL_MAX_PLANS 32

tt_status tt_dnnl_check(dnnl_status_t st, const tt_node *n, const char *what)
{
    if (st == dnnl_success)
        return TT_OK;
    /* what oneDNN cannot do (or will not take, such as a padding it rejects) is left to
     * the reference kernels */
    tt_status code = st == dnnl_out_of_memory                                     ? TETHER_ERR_NO_MEMORY
                     : st == dnnl_unimplemented || st == dnnl_invalid_arguments ? TETHER_ERR_UNSUPPORTED
                                                                                 : TETHER_ERR_INTERNAL;
    if (n)
        return tt_op_error(n, code, "oneDNN: %s: %s", what, dnnl_status2str(st));
    return tt_error(code, "oneDNN: %s: %s", what, dnnl_status2str(st));
}

const tt_kernel *tt_cpu_ref_kernel(const tt_node *n)
{
    for (const tt_kernel *const *t = tt_backend_ref.tables; *t; t++)
        for (const tt_kernel *k = *t; k->name; k++)
            if (strcmp(k->name, n->op_type) == 0 && tt_domain_eq(k->domain, n->domain) && n->opset >= k->since &&
                (!k->until || n->opset <= k->until))
                return k;
    return NULL;
}

/* ---- engine, streams --------------------------------------------------------------------------- */

static dnnl_engine_t g_engine;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void)
{
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success)
        g_engine = NULL;
}

dnnl_engine_t tt_dnnl_engine(void)
{
    pthread_once(&g_engine_once, engine_init);
    if (!g_engine)
        tt_error(TETHER_ERR_INTERNAL, "oneDNN: could not create its CPU engine");
    return g_engine;
}

/* One stream per thread that runs oneDNN, kept for the process's life (listed so that they
 * stay reachable). */
typedef struct stream_rec {
    dnnl_stream_t s;
    struct stream_rec *next;
} stream_rec;

static stream_rec *g_streams;
static pthread_mutex_t g_streams_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local dnnl_stream_t t_stream;

static tt_status thread_stream(dnnl_engine_t eng, const tt_node *n, dnnl_stream_t *out)
{
    if (t_stream) {
        *out = t_stream;
        return TT_OK;
    }
    stream_rec *r = tt_calloc(1, sizeof *r);
    if (!r)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a oneDNN stream");
    tt_status s = tt_dnnl_check(dnnl_stream_create(&r->s, eng, dnnl_stream_default_flags), n, "creating a stream");
    if (s != TT_OK) {
        tt_free(r);
        return s;
    }
    pthread_mutex_lock(&g_streams_lock);
    r->next = g_streams;
    g_streams = r;
    pthread_mutex_unlock(&g_streams_lock);
    *out = t_stream = r->s;
    return TT_OK;
}

/* ---- the CPU ------------------------------------------------------------------------------------ */

static bool isa_has(dnnl_cpu_isa_t isa)
{
    dnnl_cpu_isa_t have = dnnl_get_effective_cpu_isa();
    return ((unsigned)have & (unsigned)isa) == (unsigned)isa;
}

bool tt_dnnl_has_avx512(void) { return isa_has(dnnl_cpu_isa_avx512_core); }
bool tt_dnnl_has_bf16(void) { return isa_has(dnnl_cpu_isa_avx512_core_bf16); }

int tt_dnnl_block(void)
{
    if (isa_has(dnnl_cpu_isa_avx512_core))
        return 16;
    if (isa_has(dnnl_cpu_isa_avx2))
        return 8;
    return 0;
}

dnnl_format_tag_t tt_dnnl_plain_tag(int rank)
{
    switch (rank) {
    case 1: return dnnl_a;
    case 2: return dnnl_ab;
    case 3: return dnnl_abc;
    case 4: return dnnl_abcd;
    case 5: return dnnl_abcde;
    case 6: return dnnl_abcdef;
    default: return dnnl_format_tag_undef;
    }
}

dnnl_format_tag_t tt_dnnl_blocked_tag(int rank, int64_t b)
{
    static const dnnl_format_tag_t tags[3][3] = {
        {dnnl_nCw4c, dnnl_nCw8c, dnnl_nCw16c},
        {dnnl_nChw4c, dnnl_nChw8c, dnnl_nChw16c},
        {dnnl_nCdhw4c, dnnl_nCdhw8c, dnnl_nCdhw16c},
    };
    int bi = b == 4 ? 0 : b == 8 ? 1 : b == 16 ? 2 : -1;
    if (rank < 3 || rank > 5 || bi < 0)
        return dnnl_format_tag_undef;
    return tags[rank - 3][bi];
}

tt_status tt_dnnl_md_dt(dnnl_memory_desc_t *md, int rank, const int64_t *dims, dnnl_data_type_t dt,
                        dnnl_format_tag_t tag, const tt_node *n)
{
    dnnl_dims_t d;
    for (int i = 0; i < rank; i++)
        d[i] = dims[i];
    return tt_dnnl_check(dnnl_memory_desc_init_by_tag(md, rank, d, dt, tag), n, "describing a tensor");
}

tt_status tt_dnnl_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims, dnnl_format_tag_t tag, const tt_node *n)
{
    return tt_dnnl_md_dt(md, rank, dims, dnnl_f32, tag, n);
}

tt_status tt_dnnl_attr_new(dnnl_primitive_attr_t *attr, const tt_node *n)
{
    TT_TRY(tt_dnnl_check(dnnl_primitive_attr_create(attr), n, "creating attributes"));
    tt_status s = tt_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user), n,
                                "setting the scratchpad mode");
    if (s != TT_OK)
        dnnl_primitive_attr_destroy(*attr);
    return s;
}

bool tt_dnnl_pd_is_ref(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return false;
    return strncmp(impl, "ref", 3) == 0;
}

/* ---- plans --------------------------------------------------------------------------------------- */

struct tt_dnnl_slot {
    tt_dnnl_slot *next;
    dnnl_memory_t mem[TT_DNNL_MAX_STEPS][TT_DNNL_MAX_ARGS];
};

static void slot_free(tt_dnnl_slot *s)
{
    for (int i = 0; i < TT_DNNL_MAX_STEPS; i++)
        for (int a = 0; a < TT_DNNL_MAX_ARGS; a++)
            if (s->mem[i][a])
                dnnl_memory_destroy(s->mem[i][a]);
    tt_free(s);
}

static void plan_free(tt_dnnl_plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nsteps; i++)
        if (p->steps[i].prim)
            dnnl_primitive_destroy(p->steps[i].prim);
    for (int i = 0; i < p->nowned; i++)
        tt_free_aligned(p->owned[i]);
    while (p->free_slots) {
        tt_dnnl_slot *s = p->free_slots;
        p->free_slots = s->next;
        slot_free(s);
    }
    tt_free(p);
}

void tt_dnnl_cache_init(tt_dnnl_cache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

void tt_dnnl_cache_free(tt_dnnl_cache *c)
{
    while (c->plans) {
        tt_dnnl_plan *p = c->plans;
        c->plans = p->next;
        plan_free(p);
    }
    pthread_mutex_destroy(&c->lock);
}

int tt_dnnl_plan_tmp(tt_dnnl_plan *p, const dnnl_memory_desc_t *md)
{
    if (p->ntmp == TT_DNNL_MAX_TMP)
        return -1;
    p->tmp_bytes[p->ntmp] = dnnl_memory_desc_get_size(md);
    return p->ntmp++;
}

void tt_dnnl_step_arg(tt_dnnl_step *s, int id, tt_dnnl_buf_kind kind, int index, const dnnl_memory_desc_t *md)
{
    TT_ASSERT(s->nargs < TT_DNNL_MAX_ARGS);
    s->args[s->nargs++] = (tt_dnnl_arg){.id = id, .kind = kind, .index = index, .md = *md};
}

tt_status tt_dnnl_plan_step(tt_dnnl_plan *p, dnnl_primitive_desc_t pd, const tt_node *n, tt_dnnl_step **out)
{
    tt_status s = TT_OK;
    if (p->nsteps == TT_DNNL_MAX_STEPS)
        s = tt_op_error(n, TETHER_ERR_INTERNAL, "a oneDNN plan of more than %d steps", TT_DNNL_MAX_STEPS);
    tt_dnnl_step *st = &p->steps[p->nsteps];
    memset(st, 0, sizeof *st);
    if (s == TT_OK)
        s = tt_dnnl_check(dnnl_primitive_create(&st->prim, pd), n, "creating a primitive");
    /* the descriptor's memory descriptors die with it: copied first */
    const dnnl_memory_desc_t *q = s == TT_OK ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) : NULL;
    dnnl_memory_desc_t sp;
    bool scratch = q && dnnl_memory_desc_get_size(q) > 0;
    if (scratch)
        sp = *q;
    dnnl_primitive_desc_destroy(pd);
    if (s != TT_OK)
        return s;
    p->nsteps++;
    if (scratch) {
        int t = tt_dnnl_plan_tmp(p, &sp);
        if (t < 0)
            return tt_op_error(n, TETHER_ERR_INTERNAL, "a oneDNN plan of more than %d temporaries", TT_DNNL_MAX_TMP);
        tt_dnnl_step_arg(st, DNNL_ARG_SCRATCHPAD, TT_DNNL_TMP, t, &sp);
    }
    *out = st;
    return TT_OK;
}

tt_status tt_dnnl_plan_host(tt_dnnl_plan *p, tt_dnnl_host_fn fn, const void *ctx, const tt_node *n,
                            tt_dnnl_step **out)
{
    if (p->nsteps == TT_DNNL_MAX_STEPS)
        return tt_op_error(n, TETHER_ERR_INTERNAL, "a oneDNN plan of more than %d steps", TT_DNNL_MAX_STEPS);
    tt_dnnl_step *st = &p->steps[p->nsteps++];
    memset(st, 0, sizeof *st);
    st->host = fn;
    st->host_ctx = ctx;
    *out = st;
    return TT_OK;
}

tt_status tt_dnnl_plan_reorder_attr(tt_dnnl_plan *p, dnnl_engine_t eng, tt_dnnl_buf_kind sk, int si,
                                    const dnnl_memory_desc_t *smd, tt_dnnl_buf_kind dk, int di,
                                    const dnnl_memory_desc_t *dmd, const_dnnl_primitive_attr_t attr,
                                    const tt_node *n, tt_dnnl_step **out)
{
    dnnl_primitive_desc_t pd;
    TT_TRY(tt_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, smd, eng, dmd, eng, attr), n,
                         "describing a reorder"));
    tt_dnnl_step *st;
    TT_TRY(tt_dnnl_plan_step(p, pd, n, &st));
    tt_dnnl_step_arg(st, DNNL_ARG_FROM, sk, si, smd);
    tt_dnnl_step_arg(st, DNNL_ARG_TO, dk, di, dmd);
    *out = st;
    return TT_OK;
}

tt_status tt_dnnl_plan_reorder(tt_dnnl_plan *p, dnnl_engine_t eng, tt_dnnl_buf_kind sk, int si,
                               const dnnl_memory_desc_t *smd, tt_dnnl_buf_kind dk, int di,
                               const dnnl_memory_desc_t *dmd, const tt_node *n)
{
    if (dnnl_memory_desc_equal(smd, dmd)) {
        /* the same layout: a copy (a step without a primitive) */
        if (p->nsteps == TT_DNNL_MAX_STEPS)
            return tt_op_error(n, TETHER_ERR_INTERNAL, "a oneDNN plan of more than %d steps", TT_DNNL_MAX_STEPS);
        tt_dnnl_step *st = &p->steps[p->nsteps++];
        memset(st, 0, sizeof *st);
        tt_dnnl_step_arg(st, DNNL_ARG_FROM, sk, si, smd);
        tt_dnnl_step_arg(st, DNNL_ARG_TO, dk, di, dmd);
        return TT_OK;
    }
    dnnl_primitive_attr_t attr;
    TT_TRY(tt_dnnl_attr_new(&attr, n));
    dnnl_primitive_desc_t pd;
    tt_status s = tt_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, smd, eng, dmd, eng, attr), n,
                                "describing a reorder");
    dnnl_primitive_attr_destroy(attr);
    tt_dnnl_step *st;
    if (s == TT_OK)
        s = tt_dnnl_plan_step(p, pd, n, &st);
    if (s == TT_OK) {
        tt_dnnl_step_arg(st, DNNL_ARG_FROM, sk, si, smd);
        tt_dnnl_step_arg(st, DNNL_ARG_TO, dk, di, dmd);
    }
    return s;
}

/* Reorders one tensor now, on this thread's stream. */
static tt_status reorder_now(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const void *src,
                             const dnnl_memory_desc_t *to, void *dst, const_dnnl_primitive_attr_t attr,
                             const tt_node *n)
{
    dnnl_stream_t stream;
    TT_TRY(thread_stream(eng, n, &stream));
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    tt_status s = tt_dnnl_check(dnnl_memory_create(&ms, from, eng, (void *)src), n, "wrapping a tensor");
    if (s == TT_OK)
        s = tt_dnnl_check(dnnl_memory_create(&md, to, eng, dst), n, "wrapping a tensor");
    if (s == TT_OK)
        s = tt_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, attr), n, "describing a reorder");
    if (s == TT_OK)
        s = tt_dnnl_check(dnnl_primitive_create(&prim, pd), n, "creating a reorder");
    if (s == TT_OK) {
        tt_threads_for_omp();
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
        s = tt_dnnl_check(dnnl_primitive_execute(prim, stream, 2, args), n, "reordering");
        if (s == TT_OK)
            s = tt_dnnl_check(dnnl_stream_wait(stream), n, "waiting for a reorder");
    }
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (ms)
        dnnl_memory_destroy(ms);
    if (md)
        dnnl_memory_destroy(md);
    return s;
}

tt_status tt_dnnl_unpack(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const void *data,
                         const dnnl_memory_desc_t *to, void *dst, const tt_node *n)
{
    return reorder_now(eng, from, data, to, dst, NULL, n);
}

tt_status tt_dnnl_pack(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const void *data,
                       const dnnl_memory_desc_t *to, const_dnnl_primitive_attr_t attr, void **out,
                       const tt_node *n)
{
    size_t bytes = dnnl_memory_desc_get_size(to);
    void *p = tt_malloc_aligned(bytes ? bytes : 1);
    if (!p)
        return tt_op_error(n, TETHER_ERR_NO_MEMORY, "out of memory packing %zu bytes of weights", bytes);
    tt_status s = reorder_now(eng, from, data, to, p, attr, n);
    if (s != TT_OK) {
        tt_free_aligned(p);
        return s;
    }
    *out = p;
    return TT_OK;
}

static tt_status slot_new(const tt_dnnl_plan *p, dnnl_engine_t eng, const tt_node *n, tt_dnnl_slot **out)
{
    tt_dnnl_slot *sl = tt_calloc(1, sizeof *sl);
    if (!sl)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for oneDNN memory objects");
    for (int i = 0; i < p->nsteps; i++)
        for (int a = 0; a < p->steps[i].nargs; a++) {
            tt_status s = tt_dnnl_check(dnnl_memory_create(&sl->mem[i][a], &p->steps[i].args[a].md, eng,
                                                           DNNL_MEMORY_NONE),
                                        n, "making a memory object");
            if (s != TT_OK) {
                slot_free(sl);
                return s;
            }
        }
    *out = sl;
    return TT_OK;
}

static uint8_t *arg_data(tt_kctx *c, const tt_dnnl_plan *p, const tt_dnnl_arg *a, uint8_t *const *tmp)
{
    switch (a->kind) {
    case TT_DNNL_IN: return tt_kin(c, a->index) ? tt_kin(c, a->index)->data : NULL;
    case TT_DNNL_OUT: return tt_kout(c, a->index) ? tt_kout(c, a->index)->data : NULL;
    case TT_DNNL_CONST: return (uint8_t *)p->consts[a->index];
    case TT_DNNL_TMP: return tmp[a->index];
    default: return NULL;
    }
}

/* A copy in chunks over the thread pool. */
#define COPY_CHUNK ((size_t)64 << 10)
typedef struct copy_job {
    uint8_t *dst;
    const uint8_t *src;
    size_t bytes;
} copy_job;

static void copy_chunks(void *arg, int64_t c0, int64_t c1)
{
    const copy_job *j = arg;
    size_t b0 = (size_t)c0 * COPY_CHUNK, b1 = (size_t)c1 * COPY_CHUNK;
    if (b1 > j->bytes)
        b1 = j->bytes;
    memcpy(j->dst + b0, j->src + b0, b1 - b0);
}

/* Runs the plan's steps `samples` times: the k-th time, the kernel's inputs and outputs are
 * read from k samples on (the plan's mds describe one sample). */
static tt_status plan_exec(tt_kctx *c, tt_dnnl_plan *p, tt_dnnl_slot *sl, dnnl_stream_t stream, int64_t samples)
{
    uint8_t *tmp[TT_DNNL_MAX_TMP] = {NULL};
    size_t total = 0;
    for (int i = 0; i < p->ntmp; i++)
        total += (p->tmp_bytes[i] + TT_ALIGN - 1) & ~(size_t)(TT_ALIGN - 1);
    if (p->ntmp) {
        uint8_t *base = tt_kctx_scratch(c, total);
        if (!base)
            return TETHER_ERR_NO_MEMORY;
        for (int i = 0; i < p->ntmp; i++) {
            tmp[i] = base;
            base += (p->tmp_bytes[i] + TT_ALIGN - 1) & ~(size_t)(TT_ALIGN - 1);
        }
    }
    for (int64_t k = 0; k < samples; k++) {
        if (k)
            TT_TRY(tt_kctx_check(c));
        for (int i = 0; i < p->nsteps; i++) {
            const tt_dnnl_step *st = &p->steps[i];
            if (st->host) {
                uint8_t *data[TT_DNNL_MAX_ARGS];
                for (int a = 0; a < st->nargs; a++) {
                    const tt_dnnl_arg *arg = &st->args[a];
                    if (!(data[a] = arg_data(c, p, arg, tmp)))
                        return tt_op_error(c->node, TETHER_ERR_INTERNAL, "a host step's argument has no tensor");
                    if (arg->kind == TT_DNNL_IN || arg->kind == TT_DNNL_OUT)
                        data[a] += (size_t)k * dnnl_memory_desc_get_size(&arg->md);
                }
                st->host(st, data, st->host_ctx);
                continue;
            }
            if (!st->prim) {
                /* args[0] is FROM, args[1] TO */
                size_t bytes = dnnl_memory_desc_get_size(&st->args[0].md);
                uint8_t *from = arg_data(c, p, &st->args[0], tmp), *to = arg_data(c, p, &st->args[1], tmp);
                if (!from || !to)
                    return tt_op_error(c->node, TETHER_ERR_INTERNAL, "a oneDNN argument has no tensor");
                if (st->args[0].kind == TT_DNNL_IN || st->args[0].kind == TT_DNNL_OUT)
                    from += (size_t)k * bytes;
                if (st->args[1].kind == TT_DNNL_IN || st->args[1].kind == TT_DNNL_OUT)
                    to += (size_t)k * bytes;
                copy_job j = {to, from, bytes};
                tt_parallel_for((int64_t)((bytes + COPY_CHUNK - 1) / COPY_CHUNK), 1, copy_chunks, &j);
                continue;
            }
            dnnl_exec_arg_t args[TT_DNNL_MAX_ARGS];
            for (int a = 0; a < st->nargs; a++) {
                const tt_dnnl_arg *arg = &st->args[a];
                uint8_t *d = arg_data(c, p, arg, tmp);
                if (!d)
                    return tt_op_error(c->node, TETHER_ERR_INTERNAL, "a oneDNN argument has no tensor");
                if (k && (arg->kind == TT_DNNL_IN || arg->kind == TT_DNNL_OUT))
                    d += (size_t)k * dnnl_memory_desc_get_size(&arg->md);
                TT_TRY(tt_dnnl_check(dnnl_memory_set_data_handle(sl->mem[i][a], d), c->node, "binding a tensor"));
                args[a] = (dnnl_exec_arg_t){arg->id, sl->mem[i][a]};
            }
            TT_TRY(tt_dnnl_check(dnnl_primitive_execute(st->prim, stream, st->nargs, args), c->node, "running"));
        }
    }
    return tt_dnnl_check(dnnl_stream_wait(stream), c->node, "waiting for the stream");
}

tt_status tt_dnnl_run(tt_kctx *c, tt_dnnl_cache *cache, const int64_t *key, int nkey, int64_t samples,
                      tt_dnnl_make_fn make, bool *fallback)
{
    *fallback = false;
    dnnl_engine_t eng = tt_dnnl_engine();
    if (!eng)
        return TETHER_ERR_INTERNAL;
    dnnl_stream_t stream;
    TT_TRY(thread_stream(eng, c->node, &stream));
    int64_t k[TT_DNNL_KEY] = {0};
    TT_ASSERT(nkey < TT_DNNL_KEY);
    memcpy(k, key, sizeof(int64_t) * (size_t)nkey);
    k[TT_DNNL_KEY - 1] = tt_threads_for_omp();

    pthread_mutex_lock(&cache->lock);
    tt_dnnl_plan *p = cache->plans;
    while (p && memcmp(p->key, k, sizeof k) != 0)
        p = p->next;
    bool transient = false;
    tt_status s = TT_OK;
    if (!p) {
        p = tt_calloc(1, sizeof *p);
        if (!p)
            s = tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a oneDNN plan");
        if (s == TT_OK) {
            memcpy(p->key, k, sizeof k);
            s = make(c, p, eng);
        }
        if (s == TETHER_ERR_UNSUPPORTED) {
            /* remembered, so later runs of these shapes go straight to the reference kernel */
            TT_DEBUG("node '%s' (%s): %s; the reference kernel runs it", c->node->name, c->node->op_type,
                     tt_last_error());
            tt_error_clear();
            for (int i = 0; i < p->nsteps; i++)
                dnnl_primitive_destroy(p->steps[i].prim);
            for (int i = 0; i < p->nowned; i++)
                tt_free_aligned(p->owned[i]);
            memset(p, 0, sizeof *p);
            memcpy(p->key, k, sizeof k);
            p->fallback = true;
            s = TT_OK;
        }
        if (s != TT_OK) {
            plan_free(p);
            pthread_mutex_unlock(&cache->lock);
            return s;
        }
        transient = cache->nplans >= TT_DNNL_MAX_PLANS;
        if (!transient) {
            p->next = cache->plans;
            cache->plans = p;
            cache->nplans++;
        }
    }
    if (p->fallback) {
        pthread_mutex_unlock(&cache->lock);
        if (transient)
            plan_free(p);
        *fallback = true;
        return TT_OK;
    }
    tt_dnnl_slot *sl = p->free_slots;
    if (sl)
        p->free_slots = sl->next;
    pthread_mutex_unlock(&cache->lock);
    if (!sl && (s = slot_new(p, eng, c->node, &sl)) != TT_OK) {
        if (transient)
            plan_free(p);
        return s;
    }
    s = plan_exec(c, p, sl, stream, samples);
    if (transient) {
        slot_free(sl);
        plan_free(p);
        return s;
    }
    pthread_mutex_lock(&cache->lock);
    sl->next = p->free_slots;
    p->free_slots = sl;
    pthread_mutex_unlock(&cache->lock);
    return s;
}

#endif
