/* Preparing a loaded model to run: op selection, attribute parsing, type and shape
 * inference, constant folding; kernel preparation after placement. */
#ifndef TT_PREPARE_H
#define TT_PREPARE_H

#include "model/ir.h"

/* Prepares g and its subgraphs. With fold, nodes over constants become constants. */
tt_status tt_graph_prepare(tt_graph *g, bool fold);
/* Everything between load and run, for sessions and tests: prepare (with folding), the
 * passes (when passes is true), placement on the backends of bl, and kernel preparation. */
struct tt_backend_list;
tt_status tt_graph_compile(tt_graph *g, const struct tt_backend_list *bl, bool passes);
/* After passes and placement: runs each placed kernel's prepare (weights packed once). */
tt_status tt_graph_prepare_kernels(tt_graph *g);
/* Releases node state (parsed attributes, kernel state) of g and its subgraphs, and the
 * storage placement made for it. */
void tt_graph_release(tt_graph *g);
void tt_node_release(tt_node *n);

#endif
