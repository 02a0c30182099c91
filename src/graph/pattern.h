/* What the rewriting passes share: looking at a node's neighbourhood (producers, sole
 * consumers, constants) and a rewrite that drops matched nodes and puts a fused node in the
 * place of a pattern's last node, in one edit of the node list. */
#ifndef TT_GRAPH_PATTERN_H
#define TT_GRAPH_PATTERN_H

#include "graph/graph.h"

/* Index of the node producing value v, or -1 (inputs, constants, outer values). */
int tt_pat_producer(const tt_graph *g, int v);
/* Whether node n is the default-domain op `op` (or the com.tether op "com.tether:Name"). */
bool tt_pat_is(const tt_node *n, const char *op);
/* Value v's tensor when v is a constant (on the host), else NULL. */
const tt_tensor *tt_pat_const(const tt_graph *g, int v);
/* Whether v is a constant with one element (any rank); its value as a double in *out. */
bool tt_pat_scalar(const tt_graph *g, int v, double *out);
/* Whether v is a constant with one element equal to want (relative tolerance tol). */
bool tt_pat_scalar_is(const tt_graph *g, int v, double want, double tol);
/* The other input of binary node n than value v, or -1 when v is not one of its two inputs
 * (both inputs being v gives v). */
int tt_pat_other(const tt_node *n, int v);
/* The node consuming value v as its only reader (not a graph output), or -1. Unlike
 * tt_graph_sole_consumer, v may be read twice by that one node. */
int tt_pat_only_reader(const tt_graph *g, int v);
/* Whether the known types of values a and b are the same tensor shape: equal ranks and, dim
 * by dim, the same known size or the same symbol. */
bool tt_pat_same_shape(const tt_graph *g, int a, int b);
/* The known rank of value v, or -1. */
int tt_pat_rank(const tt_graph *g, int v);
/* Value v's declared dtype (UNDEFINED when not a tensor of known type). */
tt_dtype tt_pat_dtype(const tt_graph *g, int v);

/* A rewrite of g's node list: nodes dropped, and fused nodes taking the place of others. */
typedef struct tt_rw {
    tt_graph *g;
    uint8_t *drop;      /* per node: 1 dropped, 2 replaced */
    tt_node *repl;      /* per node: its replacement when drop is 2 */
    int n_changes;
} tt_rw;

tt_status tt_rw_begin(tt_graph *g, tt_rw *rw);
/* Whether node i is already dropped or replaced by this rewrite. */
static inline bool tt_rw_taken(const tt_rw *rw, int i) { return rw->drop[i] != 0; }
void tt_rw_drop(tt_rw *rw, int i);
/* Makes the fused node spec describes and, when the backend that would run node `old` runs
 * it too (tt_pass_backend_keeps: a device without tether's fused ops keeps its own), puts
 * it in place of node `at`; *done tells whether it did (the caller then drops the rest of
 * the pattern). */
tt_status tt_rw_fuse(tt_rw *rw, int at, int old, const tt_node_spec *spec, bool *done);
/* Applies the rewrite (when anything changed) and frees it; *changed is set when it did. */
tt_status tt_rw_end(tt_rw *rw, bool *changed);
/* Frees a rewrite without applying it (on an error). */
void tt_rw_abort(tt_rw *rw);

/* Releases the parsed state of a node a pass removes. */
void tt_pat_release_node(tt_node *n);

#endif
