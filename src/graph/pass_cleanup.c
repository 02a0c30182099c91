/* The clean-up pass: nodes that pass their input through unchanged at inference are
 * dropped and their readers read the input instead. Identity always; Dropout when its mask
 * is unused and it does not train (opset < 12, or training_mode absent or a constant
 * false). A node whose output is a graph output stays, so the output keeps its name. */
#include "graph/graph.h"

#include <string.h>

static bool is_passthrough(const tt_graph *g, const tt_node *n)
{
    if (*n->domain && strcmp(n->domain, "ai.onnx") != 0)
        return false;
    if (n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs < 1 || n->outputs[0] < 0)
        return false;
    if (tt_graph_is_output(g, n->outputs[0]))
        return false;
    if (strcmp(n->op_type, "Identity") == 0)
        return n->n_inputs == 1;
    if (strcmp(n->op_type, "Dropout") != 0)
        return false;
    for (int k = 1; k < n->n_outputs; k++)
        if (n->outputs[k] >= 0)
            return false;
    if (n->opset >= 12 && n->n_inputs > 2 && n->inputs[2] >= 0) {
        const tt_value_decl *t = &g->values[n->inputs[2]];
        if (t->origin != TT_VALUE_CONST || t->init->dtype != TETHER_DTYPE_BOOL || tt_tensor_numel(t->init) != 1 ||
            *(const uint8_t *)t->init->data)
            return false;
    }
    return true;
}

static tt_status run_cleanup(tt_graph *g, bool *changed)
{
    bool any = false;
    for (int i = 0; i < g->n_nodes; i++)
        any |= is_passthrough(g, &g->nodes[i]);
    if (!any)
        return TT_OK;
    tt_graph_edit e;
    TT_TRY(tt_graph_edit_begin(g, &e));
    for (int i = 0; i < g->n_nodes; i++) {
        tt_node *n = &g->nodes[i];
        if (!is_passthrough(g, n)) {
            TT_TRY(tt_graph_edit_push(&e, n));
            continue;
        }
        /* kept nodes share their input arrays with their copies in e */
        tt_graph_replace_uses(g, n->outputs[0], n->inputs[0]);
        tt_graph_drop_node(n);
        *changed = true;
    }
    return tt_graph_edit_end(&e);
}

const tt_pass tt_pass_cleanup = {.name = "cleanup", .run = run_cleanup};
