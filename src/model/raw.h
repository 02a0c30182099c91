/* The model as decoded, before names are resolved into value ids: the form the protobuf
 * decoder produces and the graph builder consumes. Lives in the model's arena. */
#ifndef TT_RAW_H
#define TT_RAW_H

#include "model/ir.h"
#include "model/pb.h"

typedef struct tt_raw_vi {
    const char *name;
    tt_type type;
    bool has_type;
    const char **dim_names; /* rank entries, NULL where the dim is not named */
} tt_raw_vi;

typedef struct tt_raw_node {
    const char *name, *op_type, *domain;
    int n_in, n_out, n_attrs;
    const char **in, **out; /* "" marks an omitted optional input or output */
    tt_attr *attrs;
} tt_raw_node;

typedef struct tt_raw_graph {
    const char *name;
    int n_nodes, n_inits, n_inputs, n_outputs, n_vis;
    tt_raw_node *nodes;
    const char **init_names;
    tt_tensor **inits;
    tt_raw_vi *inputs, *outputs, *vis;
} tt_raw_graph;

/* Decoding state shared by the model, graph and tensor decoders. */
typedef struct tt_decoder {
    tt_model *m;
    tt_arena *a;
    const char *dir;          /* for external data; NULL when opened from bytes */
    tt_strmap symbol_map;     /* dim_param → symbol index */
    int n_symbols, cap_symbols;
    const char **symbols;
} tt_decoder;

tt_status tt_decode_model(tt_decoder *d, const void *data, size_t n, tt_raw_graph **graph);
tt_status tt_decode_graph(tt_decoder *d, const tt_pb *parent, const tt_pb_field *f, tt_raw_graph **out);
tt_status tt_decode_type(tt_decoder *d, const tt_pb *parent, const tt_pb_field *f, tt_type *t, const char ***dim_names);

/* TensorProto → tensor. With an arena the data lives in it (borrowed storage); with
 * a == NULL the tensor gets heap storage the caller releases. */
tt_status tt_decode_tensor(tt_decoder *d, const tt_pb *parent, const tt_pb_field *f, tt_arena *a, tt_tensor *t,
                           const char **name);
tt_status tt_decode_sparse_tensor(tt_decoder *d, const tt_pb *parent, const tt_pb_field *f, tt_arena *a,
                                  tt_tensor *t, const char **name);

/* Checks a default-domain node's input and output counts, and that no required one is left
 * empty, against the ONNX schema of the op at opset (model/arity.c). */
tt_status tt_check_arity(const tt_raw_node *n, int64_t opset);

/* Raw graph → IR graph, resolving names against enclosing graphs. */
tt_status tt_build_graph(tt_model *m, tt_raw_graph *raw, tt_graph *parent, tt_graph **out);

#endif
