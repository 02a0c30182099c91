/* Operators are data: a tt_op_def names an op (domain, type, opset range, dtypes) and gives
 * its shape/type inference and its kernel side by side. The runtime calls infer at load
 * (symbolic shapes, constant inputs only) and again before each run of the node (concrete
 * shapes, every input value known), then allocates the outputs whose shapes infer fixed
 * and calls run. */
#ifndef TT_OP_H
#define TT_OP_H

#include "model/ir.h"

/* Inference context. */
typedef struct tt_ictx {
    const tt_node *node;
    int n_in, n_out;
    const tt_type *const *in;     /* per input: its type; NULL when the input is omitted */
    const tt_tensor *const *val;  /* per input: its value when known (always at run time) */
    tt_type *out;                 /* per output: fill in; starts as kind NONE */
    bool concrete;                /* run time: every input's shape and value are known */
} tt_ictx;

struct tt_frame;

/* Kernel context. */
typedef struct tt_kctx {
    const tt_node *node;
    struct tt_frame *frame;       /* the executing graph, for subgraphs and allocation */
    int n_in, n_out;
    tt_value *const *in;          /* per input: NULL when omitted */
    tt_value *const *out;         /* per output: a tensor already allocated when infer fixed its
                                     shape, else kind NONE for the kernel to fill. Never NULL: an
                                     output the model omits gets a scratch value (tt_kout_wanted) */
    void *state;                  /* from prepare */
} tt_kctx;

enum {
    TT_OP_VIEW = 1u << 0,         /* output 0 is input 0's storage with the inferred shape; run may be NULL */
    TT_OP_RANDOM = 1u << 1,       /* results vary between runs: never constant-folded */
    TT_OP_NO_FOLD = 1u << 2,      /* never constant-folded (control flow, large outputs) */
};

typedef struct tt_op_def {
    const char *domain;           /* "" for the default ONNX domain */
    const char *name;
    int since, until;             /* opset versions covered; until 0: no upper bound */
    uint32_t dtypes;              /* TT_DT() mask of supported dtypes of input type_input; 0: any */
    int type_input;
    int priority;                 /* among defs that fit, the highest wins (reference kernels: 0) */
    uint32_t flags;
    /* May be NULL. Parses attributes once at load into op-private state. */
    tt_status (*prepare)(tt_node *node, void **state);
    /* May be NULL: the state is tt_free'd. */
    void (*release)(void *state);
    tt_status (*infer)(tt_ictx *c);
    tt_status (*run)(tt_kctx *c);
    /* May be NULL: one operation per output element. Called with concrete shapes. */
    uint64_t (*flops)(const tt_ictx *c);
} tt_op_def;

/* A default-domain op definition; extra designated fields (.flags, .prepare, .flops, ...)
 * may follow. */
#define TT_OP(name_, since_, until_, dtypes_, infer_, run_, ...)                                    \
    {.domain = "", .name = name_, .since = since_, .until = until_, .dtypes = dtypes_, .infer = infer_, \
     .run = run_, __VA_ARGS__}
#define TT_OP_END {.name = NULL}

/* Finds the def for a node: by domain, op type, the node's opset and the dtype of its
 * type input. On failure the message names the op, domain, opset and dtype. */
tt_status tt_op_find(const tt_node *node, const tt_type *const *in_types, const tt_op_def **out);
/* Calls fn for every registered def (for listings and tests). */
void tt_op_foreach(void (*fn)(const tt_op_def *def, void *arg), void *arg);

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
tt_status tt_kctx_alloc(tt_kctx *c, int i, tt_dtype dtype, int rank, const int64_t *dims, tt_tensor **t);
/* Runs subgraph g of this node: inputs bound to g's inputs in order (borrowed), outputs
 * receive new references the caller releases. */
tt_status tt_kctx_run_subgraph(tt_kctx *c, const tt_graph *g, tt_value *inputs, int n_inputs, tt_value *outputs);
/* Whether the run may go on (its time limit, a cancellation from the host): kernels whose
 * work depends on input values rather than sizes (loops, box suppression) call it every so
 * many iterations, on the kernel's own thread, and return its error. */
tt_status tt_kctx_check(const tt_kctx *c);

/* Inference-side accessors. */
static inline const tt_type *tt_iin(const tt_ictx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }
static inline const tt_tensor *tt_ival(const tt_ictx *c, int i) { return i < c->n_in ? c->val[i] : NULL; }

/* Error helpers that name the node. */
tt_status tt_op_error(const tt_node *n, tt_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
