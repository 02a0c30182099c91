/* Preparing a loaded model to run: op selection, attribute parsing, type and shape
 * inference, constant folding. */
#ifndef TT_PREPARE_H
#define TT_PREPARE_H

#include "model/ir.h"

/* Prepares g and its subgraphs. With fold, nodes over constants become constants. */
tt_status tt_graph_prepare(tt_graph *g, bool fold);
/* Releases op-private node state of g and its subgraphs. */
void tt_graph_release(tt_graph *g);

#endif
