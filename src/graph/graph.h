/* Graph rewriting between load and run: the editing helpers passes use, the passes
 * themselves (folding, fusion, clean-up) and placement (each node to a backend, copies
 * where storage changes buffer type). */
#ifndef TT_GRAPH_H
#define TT_GRAPH_H

#include "backends/backend.h"

/* ---- what a kernel sees of a node at open ----------------------------------------------- */

/* Fills p for node n of g: input types, constant values, output types (one allocation;
 * tt_kprep_free releases it). */
tt_status tt_kprep_make(const tt_graph *g, const tt_node *n, tt_kprep *p);
void tt_kprep_free(tt_kprep *p);

/* ---- schema binding and inference -------------------------------------------------------- */

/* Finds n's schema (failing on an unknown op or opset) and parses its attributes. */
tt_status tt_node_bind(tt_node *n);
/* Infers n's output types at load (symbolic shapes, constant values) and merges them into
 * the outputs' declarations. */
tt_status tt_node_infer(tt_graph *g, tt_node *n);

/* ---- editing ------------------------------------------------------------------------------ */

/* Adds a value to g (named name, or a fresh "name" + counter when name is taken or NULL)
 * of the given type and origin; *id receives its index. Storage: the model's arena. */
tt_status tt_graph_new_value(tt_graph *g, const char *name, const tt_type *type, tt_value_origin origin, int *id);
/* A constant value holding t (copied into the model's arena). */
tt_status tt_graph_new_const(tt_graph *g, const char *name, const tt_tensor *t, int *id);

/* A node under construction: passes fill it and hand it to tt_graph_rewrite. */
typedef struct tt_node_spec {
    const char *name, *op_type, *domain; /* domain "" or TT_DOMAIN */
    int opset;                           /* 0: the model's opset for domain, 1 for TT_DOMAIN */
    int n_inputs, n_outputs;
    const int *inputs, *outputs;         /* value ids, -1 for omitted */
    int n_attrs;
    const tt_attr *attrs;                /* copied (names and lists must live in the model's arena) */
} tt_node_spec;

/* Makes a new node from spec in the model's arena (schema found, attributes parsed, types
 * inferred into its outputs' declarations), not yet in any graph. */
tt_status tt_graph_make_node(tt_graph *g, const tt_node_spec *spec, tt_node *out);

/* An edit of a graph's node list: nodes kept, dropped or replaced, in one walk. */
typedef struct tt_graph_edit {
    tt_graph *g;
    tt_node *nodes;                      /* the new list, built in order */
    int n, cap;
    bool changed;
} tt_graph_edit;

tt_status tt_graph_edit_begin(tt_graph *g, tt_graph_edit *e);
/* Appends a node (a kept one, or one from tt_graph_make_node). */
tt_status tt_graph_edit_push(tt_graph_edit *e, const tt_node *n);
/* Installs the new list: producers and consumer counts are recomputed; dropped nodes'
 * state is released by the caller (tt_node_release) before or after. */
tt_status tt_graph_edit_end(tt_graph_edit *e);
/* Releases the parsed attributes of a node a pass dropped. */
void tt_graph_drop_node(tt_node *n);
/* Recomputes every value's producer and consumer count from the node list. */
void tt_graph_recount(tt_graph *g);
/* Makes every reader of value `from` (node inputs, implicit inputs of subgraph nodes
 * through their OUTER values, graph outputs) read `to` instead. */
void tt_graph_replace_uses(tt_graph *g, int from, int to);

/* Makes node n's subgraphs read value `to` of n's graph where they read `from`. */
void tt_node_replace_implicit(tt_node *n, int from, int to);
/* The index of the node consuming value v when there is exactly one consumer and v is
 * not a graph output, else -1. */
int tt_graph_sole_consumer(const tt_graph *g, int v);
/* Whether value v is a graph output. */
bool tt_graph_is_output(const tt_graph *g, int v);

/* ---- passes --------------------------------------------------------------------------- */

typedef struct tt_pass {
    const char *name;
    /* Rewrites g; *changed tells whether anything changed. */
    tt_status (*run)(tt_graph *g, bool *changed);
    /* Runs once, after the other passes have settled (a rewrite that must not see its
     * own output again, such as the layouts). */
    bool final;
} tt_pass;

/* Runs every pass (in order, over the top graph) unless disabled: TETHER_PASSES=none
 * turns them all off, TETHER_PASSES=-name,-name turns off those named. */
tt_status tt_graph_run_passes(tt_graph *g);
/* The passes that are final or not, telling whether any changed g. */
tt_status tt_graph_run_passes_changed(tt_graph *g, bool final, bool *changed);
/* The passes, in the order they run (NULL-terminated). */
extern const tt_pass *const tt_passes[];

/* What passes ask of the backends the graph will be placed on (g->model->backends, set
 * while a session compiles). A rewrite into tether's own ops is worth it only where the
 * backend that would run the original node runs the new one as well. */
/* The first backend of the list whose kernel supports node n (of g; its outputs' values
 * exist), or NULL: none does, or no list is known. */
const tt_backend *tt_pass_backend(const tt_graph *g, const tt_node *n);
/* Whether a fusion of `old` into `fused` may proceed: with no list known, yes; else the
 * backend that would run `old` must support `fused` (a node not yet in the graph). */
bool tt_pass_backend_keeps(const tt_graph *g, const tt_node *old, const tt_node *fused);
/* The passes over CNNs (src/graph/pass_*.c); each has a unit test in
 * tests/unit/test_passes_cnn.c. */
extern const tt_pass tt_pass_fold_bn;    /* BatchNormalization into the Conv or Gemm before it */
extern const tt_pass tt_pass_fuse_conv;  /* bias Add, residual Add, activation into FusedConv */
extern const tt_pass tt_pass_layout;     /* channel-blocked layouts between convolutions */

/* ---- placement ------------------------------------------------------------------------ */

/* Gives every node of g (and its subgraphs) the kernel of the first backend in bl that
 * supports it; nodes with subgraphs, and the nodes inside them, go to host backends.
 * Inserts copy nodes (TT_DOMAIN MemcpyToDevice / MemcpyToHost) where a value is read in
 * another buffer type than the one it is made in, uploads constants a device kernel
 * reads, and sets every value's buft. Fails naming the op, domain, opset and dtype when
 * no backend runs a node. */
tt_status tt_graph_place(tt_graph *g, const tt_backend_list *bl);

#endif
