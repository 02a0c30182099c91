/* libFuzzer target for the model loader: arbitrary bytes as an ONNX model, first through the
 * loader alone (decode, names, functions, topological sort), then through a whole session
 * open (op lookup, inference, constant folding, warm-up run), and as the ONNX test-data files
 * (TensorProto, and SequenceProto and OptionalProto as tether-conformance reads them). Any
 * crash, leak, sanitizer report, timeout or outsized allocation is a finding. */
#include "model/model.h"
#include "tether.h"

#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A well-formed model may legitimately declare tensors of gigabytes; what matters here is
     * that sizes are checked, so keep the limit low enough for the fuzzer's memory cap. */
    setenv("TETHER_MAX_TENSOR_BYTES", "67108864", 1);
    tether_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_model *m = NULL;
    if (tt_model_load(data, size, NULL, &m) == TT_OK)
        tt_model_free(m);

    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s = NULL;
    if (tether_session_open_bytes(&s, data, size, &cfg) == TETHER_OK)
        tether_session_free(s);

    tt_tensor t;
    char name[64];
    if (tt_tensor_from_pb(data, size, &t, name, sizeof name) == TT_OK)
        tt_tensor_release(&t);

    static const tt_type types[] = {
        {.kind = TT_KIND_SEQUENCE, .dtype = TETHER_DTYPE_UNDEFINED, .rank = -1},
        {.kind = TT_KIND_SEQUENCE, .dtype = TETHER_DTYPE_FLOAT, .rank = -1},
        {.kind = TT_KIND_OPTIONAL, .elem_kind = TT_KIND_TENSOR, .dtype = TETHER_DTYPE_FLOAT, .rank = -1},
        {.kind = TT_KIND_OPTIONAL, .elem_kind = TT_KIND_SEQUENCE, .dtype = TETHER_DTYPE_INT64, .rank = -1},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        tt_value v;
        if (tt_value_from_pb(data, size, &types[i], &v) == TT_OK)
            tt_value_release(&v);
    }
    return 0;
}
