/* The in-memory model: graphs of nodes over values, decoded from ONNX. Everything of a
 * model lives in its arena and dies with it. */
#ifndef TT_IR_H
#define TT_IR_H

#include "core/hash.h"
#include "core/mem.h"
#include "core/tensor.h"

#include <stdbool.h>
#include <stdint.h>

/* A dimension in a type: >= 0 known, TT_DIM_UNKNOWN, or a named symbol (<= TT_DIM_SYM0). */
#define TT_DIM_UNKNOWN (-1)
#define TT_DIM_SYM0 (-2)
static inline bool tt_dim_known(int64_t d) { return d >= 0; }

/* The type of a value: a tensor (dtype + shape), a sequence of tensors, or an optional of
 * either. Shapes may be partly known (rank -1: unknown rank). */
typedef struct tt_type {
    tt_kind kind;      /* TENSOR, SEQUENCE, OPTIONAL, NONE (unknown) */
    tt_kind elem_kind; /* OPTIONAL: TENSOR or SEQUENCE */
    tt_dtype dtype;    /* of the tensor, or of the sequence's / optional's tensors */
    int rank;          /* of the tensor, or of the sequence's elements; -1 unknown */
    int64_t dims[TT_MAX_RANK];
} tt_type;

typedef enum tt_attr_type {
    TT_ATTR_UNDEFINED = 0,
    TT_ATTR_FLOAT = 1,
    TT_ATTR_INT = 2,
    TT_ATTR_STRING = 3,
    TT_ATTR_TENSOR = 4,
    TT_ATTR_GRAPH = 5,
    TT_ATTR_FLOATS = 6,
    TT_ATTR_INTS = 7,
    TT_ATTR_STRINGS = 8,
    TT_ATTR_TENSORS = 9,
    TT_ATTR_GRAPHS = 10,
    TT_ATTR_SPARSE_TENSOR = 11,
    TT_ATTR_SPARSE_TENSORS = 12,
    TT_ATTR_TYPE_PROTO = 13,
    TT_ATTR_TYPE_PROTOS = 14,
} tt_attr_type;

struct tt_graph;

typedef struct tt_attr {
    const char *name;
    tt_attr_type type;
    const char *ref_attr_name; /* inside functions: refers to the caller's attribute */
    float f;
    int64_t i;
    const char *s;             /* STRING: NUL-terminated copy; s_len excludes the NUL */
    size_t s_len;
    tt_tensor *t;              /* TENSOR, SPARSE_TENSOR (densified) */
    struct tt_graph *g;
    tt_type tp;                /* TYPE_PROTO */
    size_t n;                  /* list length for the *S kinds */
    float *floats;
    int64_t *ints;
    const char **strings;
    size_t *string_lens;
    tt_tensor **tensors;
    struct tt_graph **graphs;
    struct tt_raw_graph *rg;   /* while decoding: the undecoded subgraph(s) */
    struct tt_raw_graph **rgs;
} tt_attr;

struct tt_op_schema;
struct tt_kernel;
struct tt_backend;
struct tt_backend_list;
struct tt_buft;

typedef struct tt_node {
    const char *name;      /* never NULL: "" when the model gives none */
    const char *op_type;
    const char *domain;    /* "" for the default ONNX domain */
    int opset;             /* the model's opset version for domain */
    int n_inputs, n_outputs;
    int *inputs;           /* value ids in the node's graph; -1 for an omitted optional input */
    int *outputs;          /* value ids; -1 for an omitted optional output */
    int n_attrs;
    tt_attr *attrs;
    int n_implicit;        /* values of this graph that subgraphs of this node read */
    int *implicit;
    const struct tt_op_schema *schema; /* found at session open */
    void *state;           /* parsed attributes, from schema->parse; freed by schema->release */
    const struct tt_kernel *kernel;    /* chosen by placement */
    const struct tt_backend *backend;  /* the backend kernel belongs to */
    void *kstate;          /* from kernel->prepare; freed by kernel->release */
} tt_node;

typedef enum tt_value_origin {
    TT_VALUE_NODE = 0,     /* produced by a node */
    TT_VALUE_INPUT = 1,    /* a graph input */
    TT_VALUE_CONST = 2,    /* an initializer or folded constant */
    TT_VALUE_OUTER = 3,    /* a value of an enclosing graph, read by a subgraph */
} tt_value_origin;

typedef struct tt_value_decl {
    const char *name;
    tt_type type;          /* declared or inferred */
    tt_value_origin origin;
    int producer;          /* node index for NODE */
    int outer;             /* OUTER: value id in the parent graph */
    tt_tensor *init;       /* CONST: the data (borrowed storage owned by the model) */
    int n_consumers;       /* node inputs + implicit inputs + graph outputs reading it */
    const struct tt_buft *buft; /* where placement put its storage; NULL: host memory */
    const char **dim_names; /* declared symbolic dim names, may be NULL */
} tt_value_decl;

typedef struct tt_graph {
    const char *name;
    struct tt_graph *parent;
    struct tt_model *model;
    int n_values, values_cap; /* values grows while subgraphs are built (OUTER values) */
    tt_value_decl *values;
    int n_nodes;
    tt_node *nodes;        /* in topological order after tt_graph_resolve */
    int n_inputs, n_outputs;
    int *inputs, *outputs; /* value ids; inputs exclude initializers */
    int n_outer, outer_cap;
    int *outer;            /* value ids (origin OUTER) this graph or its subgraphs read */
    tt_strmap names;       /* name → value id, while decoding */
    int n_owned, owned_cap;
    tt_buf **owned;        /* storage placement made (constants uploaded to a device) */
} tt_graph;

/* The precision a session lets backends compute in (tether_session_config.precision). */
typedef enum tt_precision {
    TT_PRECISION_FP32 = 0,
    TT_PRECISION_BF16,
    TT_PRECISION_INT8,
} tt_precision;

typedef struct tt_opset {
    const char *domain;
    int64_t version;
} tt_opset;

/* A model-local function (FunctionProto), expanded into its callers at load. */
typedef struct tt_function {
    const char *name, *domain;
    int n_inputs, n_outputs, n_attrs, n_nodes;
    const char **inputs, **outputs, **attrs;
    struct tt_raw_node *nodes;
    int n_opsets;
    tt_opset *opsets;
} tt_function;

typedef struct tt_model {
    tt_arena arena;
    int64_t ir_version;
    const char *producer_name, *producer_version, *domain, *doc;
    int64_t model_version;
    int n_opsets;
    tt_opset *opsets;
    int n_functions;
    tt_function *functions;
    tt_graph *graph;
    int n_symbols;          /* named symbolic dims: TT_DIM_SYM0 - i is symbols[i] */
    const char **symbols;
    uint8_t hash[TT_SHA256_LEN]; /* of the model bytes */
    uint64_t weight_bytes;  /* bytes of initializer data held */
    uint64_t next_anon;     /* counter for generated value names */
    uint64_t n_expanded;    /* nodes made by expanding functions, over all graphs (bounded) */
    /* While a session compiles the model: the backends it places nodes on, which passes
     * consult (graph/graph.h, tt_pass_backend); NULL otherwise. */
    const struct tt_backend_list *backends;
    /* The session's precision for convolutions and products, which the passes write on the nodes. */
    tt_precision precision;
} tt_model;

/* The opset version the model imports for domain ("" and "ai.onnx" are the same); 0 if none. */
int64_t tt_model_opset(const tt_model *m, const char *domain);
const char *tt_model_symbol_name(const tt_model *m, int64_t dim);

const tt_attr *tt_node_attr(const tt_node *n, const char *name);
/* Typed attribute getters with defaults. */
int64_t tt_attr_int(const tt_node *n, const char *name, int64_t def);
float tt_attr_float(const tt_node *n, const char *name, float def);
const char *tt_attr_string(const tt_node *n, const char *name, const char *def);
/* Returns the list (NULL if absent) and its length in *len. */
const int64_t *tt_attr_ints(const tt_node *n, const char *name, size_t *len);
const float *tt_attr_floats(const tt_node *n, const char *name, size_t *len);

/* Types. */
void tt_type_tensor(tt_type *t, tt_dtype dtype, int rank, const int64_t *dims);
void tt_type_unknown_shape(tt_type *t, tt_dtype dtype);
bool tt_type_static(const tt_type *t); /* a tensor with every dim known */
const char *tt_type_str(const tt_model *m, const tt_type *t, char *buf, size_t n);

#endif
