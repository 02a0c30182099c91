/* Operators are data, in two halves. A schema (tt_op_schema) says what an op *is*: its
 * domain, type and opset range, attribute parsing, shape/type inference and FLOP count,
 * written once. A kernel (tt_kernel) says how one backend *runs* it: the dtypes it takes,
 * which nodes it supports, what it prepares from constant inputs at open, and run.
 * Backends (src/backends/) register kernels; the ref backend's are the reference
 * implementations that live beside each schema in src/ops/. The runtime calls infer at
 * load (symbolic shapes, constant inputs only) and again before each run of the node
 * (concrete shapes, the values of host-resident inputs), then allocates the outputs whose
 * shapes infer fixed and calls the placed kernel's run. */
#ifndef TT_OP_H
#define TT_OP_H

#include "model/ir.h"

/* Inference context. */
typedef struct tt_ictx {
    const tt_node *node;
    int n_in, n_out;
    const tt_type *const *in;     /* per input: its type; NULL when the input is omitted */
    const tt_tensor *const *val;  /* per input: its value when known on the host (constants at
                                     load; at run time every input a kernel reads on the host) */
    tt_type *out;                 /* per output: fill in; starts as kind NONE */
    bool concrete;                /* run time: every input's shape is known */
} tt_ictx;

enum {
    TT_OP_RANDOM = 1u << 1,       /* results vary between runs: never constant-folded */
    TT_OP_NO_FOLD = 1u << 2,      /* never constant-folded (control flow, large outputs) */
};

typedef struct tt_op_schema {
    const char *domain;           /* "" for the default ONNX domain */
    const char *name;
    int since, until;             /* opset versions covered; until 0: no upper bound */
    uint32_t flags;
    /* May be NULL. Parses attributes once at load into node->state, which infer and every
     * backend's kernel read. */
    tt_status (*parse)(tt_node *node, void **state);
    /* May be NULL: the state is tt_free'd. */
    void (*release)(void *state);
    tt_status (*infer)(tt_ictx *c);
    /* May be NULL: one operation per output element. Called with concrete shapes. */
    uint64_t (*flops)(const tt_ictx *c);
} tt_op_schema;

/* A default-domain schema; extra designated fields (.parse, .flops, .flags) may follow. */
#define TT_SCHEMA(name_, since_, until_, infer_, ...)                                                \
    {.domain = "", .name = name_, .since = since_, .until = until_, .infer = infer_, __VA_ARGS__}
#define TT_SCHEMA_END {.name = NULL}

/* Domain of the nodes tether's own passes make (fused ops, copies between buffer types). */
#define TT_DOMAIN "com.tether"

/* ---- kernels -------------------------------------------------------------------------- */

/* What a kernel's supports and prepare see of a node at open: its types (possibly symbolic)
 * and the values of its constant inputs (weights), so weights can be packed once. */
typedef struct tt_kprep {
    const tt_node *node;
    int n_in, n_out;
    const tt_type *const *in;     /* per input: NULL when omitted */
    const tt_tensor *const *cst;  /* per input: its value when it is a constant, else NULL; after
                                     placement, in the buffer type the kernel reads it in (a
                                     device kernel's prepare sees device constants) */
    const tt_type *out;           /* per output (kind NONE for an omitted output) */
    const struct tt_backend *backend; /* the backend instance the node is placed on (NULL
                                     before placement) */
} tt_kprep;

struct tt_kctx;

enum {
    TT_KERNEL_VIEW = 1u << 0,     /* output 0 is input 0's storage with the inferred shape; run may be NULL */
};

typedef struct tt_kernel {
    const char *domain;           /* "" for the default ONNX domain */
    const char *name;
    int since, until;             /* opset versions covered; until 0: no upper bound */
    uint32_t dtypes;              /* TT_DT() mask of supported dtypes of input type_input; 0: any */
    int type_input;
    uint32_t flags;
    /* Inputs (bit i) the kernel reads on the host at run time (shapes, indices, scalars),
     * and outputs it writes on the host, whatever its backend's buffer type: placement
     * keeps or copies them there. Unused by host backends. */
    uint32_t host_inputs, host_outputs;
    /* Inputs (bit i) whose data the kernel never reads, only their type and shape (Shape,
     * Size): placement leaves them wherever they are made. */
    uint32_t shape_inputs;
    /* May be NULL: every node whose dtype fits. */
    bool (*supports)(const tt_kprep *p);
    /* May be NULL. Runs once at open after placement: pack weights, cache descriptors. */
    tt_status (*prepare)(const tt_kprep *p, void **kstate);
    /* May be NULL: the state is tt_free'd. */
    void (*release)(void *kstate);
    /* May be NULL only for TT_KERNEL_VIEW kernels. */
    tt_status (*run)(struct tt_kctx *c);
    /* May be NULL: no. Whether prepare (state kstate) took its own copy of constant input i
     * (packed weights) and run never reads the original: once every node reading a constant
     * says so, the runtime frees the constant's data (its tensor keeps its shape, with data
     * NULL), so a session does not hold its weights twice. */
    bool (*packed)(const void *kstate, int i);
} tt_kernel;

/* A default-domain kernel; extra designated fields (.type_input, .flags, ...) may follow. */
#define TT_KERNEL(name_, since_, until_, dtypes_, run_, ...)                                         \
    {.domain = "", .name = name_, .since = since_, .until = until_, .dtypes = dtypes_, .run = run_, __VA_ARGS__}
#define TT_KERNEL_END {.name = NULL}

/* ---- the kernel context ---------------------------------------------------------------------- */

/* What the executor offers a running kernel: kernels never call the runtime directly. */
typedef struct tt_kctx_ops {
    /* Allocates output i (when infer could not fix its shape) in the node's buffer type. */
    tt_status (*alloc)(struct tt_kctx *c, int i, tt_dtype dtype, int rank, const int64_t *dims, tt_tensor **t);
    /* Runs a subgraph of the node (see tt_kctx_run_subgraph). */
    tt_status (*run_subgraph)(struct tt_kctx *c, const tt_graph *g, tt_value *inputs, int n_inputs,
                              tt_value *outputs);
    /* TT_OK, or TIMEOUT once the run has passed its time limit or was cancelled. */
    tt_status (*check)(const struct tt_kctx *c);
    /* Working memory valid until the kernel returns (aligned to TT_ALIGN), from the run's
     * reusable scratch stack: the steady path allocates nothing. NULL (error set) past
     * the tensor size limit or out of memory. */
    void *(*scratch)(struct tt_kctx *c, size_t bytes);
} tt_kctx_ops;

typedef struct tt_kctx {
    const tt_node *node;
    const tt_kctx_ops *ops;
    void *exec;                   /* the executor's own context: opaque to kernels */
    int n_in, n_out;
    tt_value *const *in;          /* per input: NULL when omitted */
    tt_value *const *out;         /* per output: a tensor already allocated when infer fixed its
                                     shape, else kind NONE for the kernel to fill. Never NULL: an
                                     output the model omits gets a scratch value (tt_kout_wanted) */
    void *state;                  /* parsed attributes (the schema's parse) */
    void *kstate;                 /* the kernel's own state (its prepare) */
    const struct tt_backend *backend; /* the backend instance running the node */
    void *bctx;                   /* that backend's context for this run (tt_backend.ctx_new),
                                     NULL when it keeps none or outside a session's run */
} tt_kctx;

/* Finds the schema for a node: by domain, op type and the node's opset. On failure the
 * message names the op, domain and opset. */
tt_status tt_op_find_schema(const tt_node *node, const tt_op_schema **out);
/* Calls fn for every registered schema (for listings and tests). */
void tt_op_foreach(void (*fn)(const tt_op_schema *s, void *arg), void *arg);
/* Whether kernel k covers the node's domain, op type and opset, and the dtype of its type
 * input (in_types as at load). */
bool tt_kernel_matches(const tt_kernel *k, const tt_node *node, const tt_type *const *in_types);
/* Whether domain names a and b are the same ("" and "ai.onnx" are). */
bool tt_domain_eq(const char *a, const char *b);

/* Kernel-side accessors. */
static inline const tt_tensor *tt_kin(const tt_kctx *c, int i)
{
    return i < c->n_in && c->in[i] && c->in[i]->kind == TT_KIND_TENSOR ? &c->in[i]->t : NULL;
}
static inline tt_tensor *tt_kout(const tt_kctx *c, int i)
{
    return i < c->n_out && c->out[i] && c->out[i]->kind == TT_KIND_TENSOR ? &c->out[i]->t : NULL;
}
/* Whether the model uses output i (an unused one still has a value to write into). */
static inline bool tt_kout_wanted(const tt_kctx *c, int i) { return i < c->n_out && c->node->outputs[i] >= 0; }
/* Allocates output i (when infer could not fix its shape) and returns it in *t. */
static inline tt_status tt_kctx_alloc(tt_kctx *c, int i, tt_dtype dtype, int rank, const int64_t *dims, tt_tensor **t)
{
    return c->ops->alloc(c, i, dtype, rank, dims, t);
}
/* Runs subgraph g of this node: inputs bound to g's inputs in order (borrowed), outputs
 * receive new references the caller releases. */
static inline tt_status tt_kctx_run_subgraph(tt_kctx *c, const tt_graph *g, tt_value *inputs, int n_inputs,
                                             tt_value *outputs)
{
    return c->ops->run_subgraph(c, g, inputs, n_inputs, outputs);
}
/* TT_OK while the run may go on; TIMEOUT (error set, naming the node) once it has passed its
 * time limit or was cancelled. Long kernels call it between chunks of work. */
static inline tt_status tt_kctx_check(const tt_kctx *c) { return c->ops->check(c); }
/* Scratch memory for the duration of this kernel call (see tt_kctx_ops.scratch). */
static inline void *tt_kctx_scratch(tt_kctx *c, size_t bytes) { return c->ops->scratch(c, bytes); }

/* Inference-side accessors. */
static inline const tt_type *tt_iin(const tt_ictx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }
static inline const tt_tensor *tt_ival(const tt_ictx *c, int i) { return i < c->n_in ? c->val[i] : NULL; }

/* Error helpers that name the node. */
tt_status tt_op_error(const tt_node *n, tt_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
