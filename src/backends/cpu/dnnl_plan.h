/* The cpu backend's use of oneDNN: the engine, one stream per thread, and *plans*: the
 * oneDNN primitives a kernel runs for one set of input shapes, made once and cached in the
 * kernel's state. A plan is a short list of steps (a reorder in, the primitive, a reorder
 * out), each binding its arguments to the kernel's inputs and outputs, to constants the
 * kernel prepared at open (packed weights), or to temporaries carved from the run's scratch
 * stack (reorder targets, the primitives' own scratchpads: oneDNN's scratchpad mode is
 * "user"), so a steady run allocates no memory of tether's.
 *
 * Plans are shared by concurrent runs of a session. oneDNN primitives are thread-safe; the
 * memory objects that point them at one run's buffers are not, so each run takes a set of
 * them (a slot) from the plan's free list and gives it back after. The thread count a plan
 * was made for is part of its key: oneDNN's jit kernels split work for the count they were
 * made with. */
#ifndef TT_CPU_DNNL_PLAN_H
#define TT_CPU_DNNL_PLAN_H

#ifdef TETHER_HAVE_DNNL

#include "ops/op.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>

/* The process's oneDNN CPU engine, made on first use; NULL (error set) if oneDNN fails. */
dnnl_engine_t tt_dnnl_engine(void);
/* TT_OK, or an error naming the node, what was attempted and oneDNN's status. */
tt_status tt_dnnl_check(dnnl_status_t st, const tt_node *n, const char *what);

/* The channel block oneDNN's fastest convolutions use on this CPU: 16 with AVX-512, 8 with
 * AVX2, 0 (plain layouts) without either. */
int tt_dnnl_block(void);
/* Whether this CPU has oneDNN's AVX-512 (core) kernels. */
bool tt_dnnl_has_avx512(void);

/* A plain tag for rank (ncw, nchw, ncdhw), or a blocked one of block b (nCw16c, ...);
 * dnnl_format_tag_undef when there is none. */
dnnl_format_tag_t tt_dnnl_plain_tag(int rank);
dnnl_format_tag_t tt_dnnl_blocked_tag(int rank, int64_t b);
/* A float32 memory descriptor of logical dims and tag, and one of data type dt. */
tt_status tt_dnnl_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims, dnnl_format_tag_t tag, const tt_node *n);
tt_status tt_dnnl_md_dt(dnnl_memory_desc_t *md, int rank, const int64_t *dims, dnnl_data_type_t dt,
                        dnnl_format_tag_t tag, const tt_node *n);

/* Where a step's argument lives. */
typedef enum tt_dnnl_buf_kind {
    TT_DNNL_NONE = 0,
    TT_DNNL_IN,    /* the kernel's input `index` */
    TT_DNNL_OUT,   /* its output `index` */
    TT_DNNL_CONST, /* plan->consts[index], made when the plan was */
    TT_DNNL_TMP,   /* temporary `index` of the run (scratch) */
} tt_dnnl_buf_kind;

/* The most work (multiply-adds, window taps) a kernel gives one primitive call: a primitive
 * runs to its end, so more than this (tens of milliseconds) goes to a reference kernel,
 * which polls the run's time limit as it goes. */
#define TT_DNNL_MAX_WORK 4e9

#define TT_DNNL_MAX_ARGS 8
#define TT_DNNL_MAX_STEPS 8
#define TT_DNNL_MAX_TMP 8
#define TT_DNNL_MAX_CONST 4
#define TT_DNNL_KEY 12

typedef struct tt_dnnl_arg {
    int id;                  /* DNNL_ARG_* */
    tt_dnnl_buf_kind kind;
    int index;
    dnnl_memory_desc_t md;
} tt_dnnl_arg;

struct tt_dnnl_step;
/* A step the CPU runs itself between primitives: data[i] is argument i's memory (for one
 * sample). */
typedef void (*tt_dnnl_host_fn)(const struct tt_dnnl_step *st, uint8_t *const *data, const void *ctx);

/* A primitive; or, without one, a host function; or, without either, a copy from
 * args[0] (FROM) to args[1] (TO). */
typedef struct tt_dnnl_step {
    dnnl_primitive_t prim;
    tt_dnnl_host_fn host;
    const void *host_ctx;
    int nargs;
    tt_dnnl_arg args[TT_DNNL_MAX_ARGS];
} tt_dnnl_step;

typedef struct tt_dnnl_slot tt_dnnl_slot;

typedef struct tt_dnnl_plan {
    int64_t key[TT_DNNL_KEY];
    int nsteps;
    tt_dnnl_step steps[TT_DNNL_MAX_STEPS];
    int ntmp;
    size_t tmp_bytes[TT_DNNL_MAX_TMP];
    int nconst;
    const void *consts[TT_DNNL_MAX_CONST];
    void *owned[TT_DNNL_MAX_CONST]; /* constants the plan allocated (tt_free_aligned) */
    int nowned;
    bool fallback;           /* oneDNN has no primitive for these shapes: the reference kernel runs */
    tt_dnnl_slot *free_slots;
    struct tt_dnnl_plan *next;
} tt_dnnl_plan;

/* A kernel's plans, keyed by shapes; the start of every oneDNN kernel's kstate. */
typedef struct tt_dnnl_cache {
    pthread_mutex_t lock;
    tt_dnnl_plan *plans;
    int nplans;
} tt_dnnl_cache;

void tt_dnnl_cache_init(tt_dnnl_cache *c);
void tt_dnnl_cache_free(tt_dnnl_cache *c);

/* Builds a plan for a key (the shapes it depends on, zero-padded); make fills it, with the
 * engine. Called with the cache's lock held. */
typedef tt_status (*tt_dnnl_make_fn)(tt_kctx *c, tt_dnnl_plan *p, dnnl_engine_t eng);

/* Finds or makes the plan for key and runs it on c's tensors, `samples` times over
 * consecutive samples (1: once over the whole tensors). A plan made for one sample and run
 * per sample computes each sample with the very same primitive whatever the batch, so a
 * sample's result is bit-identical in a batch and alone (dynamic batching relies on it),
 * and a new batch size needs no new primitive. The thread count is added to the key. When
 * make fails with UNSUPPORTED (oneDNN has no primitive for these shapes or attributes), the
 * plan is remembered as such and *fallback set instead of running: the caller runs the
 * reference kernel. */
tt_status tt_dnnl_run(tt_kctx *c, tt_dnnl_cache *cache, const int64_t *key, int nkey, int64_t samples,
                      tt_dnnl_make_fn make, bool *fallback);

/* Plan building helpers. */
/* Adds a temporary of md's size; returns its index. */
int tt_dnnl_plan_tmp(tt_dnnl_plan *p, const dnnl_memory_desc_t *md);
/* Adds a step running primitive descriptor pd (the plan owns the primitive made from it,
 * and adds a scratchpad temporary when pd wants one); the caller adds the arguments with
 * tt_dnnl_step_arg. Destroys pd. */
tt_status tt_dnnl_plan_step(tt_dnnl_plan *p, dnnl_primitive_desc_t pd, const tt_node *n, tt_dnnl_step **out);
void tt_dnnl_step_arg(tt_dnnl_step *s, int id, tt_dnnl_buf_kind kind, int index, const dnnl_memory_desc_t *md);
/* Adds a reorder step from (kind, index, src md) to (kind, index, dst md); with attr (NULL:
 * none), which the caller may have given runtime scales (an argument it then adds). */
tt_status tt_dnnl_plan_reorder_attr(tt_dnnl_plan *p, dnnl_engine_t eng, tt_dnnl_buf_kind sk, int si,
                                    const dnnl_memory_desc_t *smd, tt_dnnl_buf_kind dk, int di,
                                    const dnnl_memory_desc_t *dmd, const_dnnl_primitive_attr_t attr,
                                    const tt_node *n, tt_dnnl_step **out);
tt_status tt_dnnl_plan_reorder(tt_dnnl_plan *p, dnnl_engine_t eng, tt_dnnl_buf_kind sk, int si,
                               const dnnl_memory_desc_t *smd, tt_dnnl_buf_kind dk, int di,
                               const dnnl_memory_desc_t *dmd, const tt_node *n);
/* Adds a step running host function fn (ctx: its data, which must outlive the plan); the
 * caller adds the arguments it reads and writes. */
tt_status tt_dnnl_plan_host(tt_dnnl_plan *p, tt_dnnl_host_fn fn, const void *ctx, const tt_node *n,
                            tt_dnnl_step **out);
/* Reorders data of md `from` into newly allocated memory of md `to` (packing weights),
 * with attributes attr (NULL: none; output scales to quantise); *out is tt_free_aligned'ed
 * by the caller. */
tt_status tt_dnnl_pack(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const void *data,
                       const dnnl_memory_desc_t *to, const_dnnl_primitive_attr_t attr, void **out,
                       const tt_node *n);
/* Reorders data of md `from` into dst (of md `to`) now: the packed weights back to their
 * ONNX layout. */
tt_status tt_dnnl_unpack(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const void *data,
                         const dnnl_memory_desc_t *to, void *dst, const tt_node *n);
/* Whether this CPU has oneDNN's AVX-512 bfloat16 kernels. */
bool tt_dnnl_has_bf16(void);

/* Whether pd is one of oneDNN's reference implementations (correct, but far slower than its
 * jit kernels): a sign that another formulation is worth trying. */
bool tt_dnnl_pd_is_ref(const_dnnl_primitive_desc_t pd);

/* Primitive attributes every kernel starts from: user scratchpad. */
tt_status tt_dnnl_attr_new(dnnl_primitive_attr_t *attr, const tt_node *n);

#endif
#endif
