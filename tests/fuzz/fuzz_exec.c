/* libFuzzer target for the executor's index arithmetic: one-node models whose shape and index
 * operands (Slice's starts/ends/axes/steps, Pad's pads and axes, Reshape's shape, Tile's
 * repeats, Gather's indices, ...) are run-time int64 inputs, fed values drawn mostly from the
 * edges of int64 (INT64_MIN, INT64_MAX, +-2^31, +-2^62, -1, 0, the data's own dimensions).
 * Built with UBSan, any signed overflow in shape inference or a kernel is a finding, as is a
 * crash, a leak, or an output whose byte size disagrees with its shape. */
#include "onnx_build.h"
#include "tether.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t next_u8(reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static const int64_t g_edges[] = {
    0, 1, -1, 2, -2, 3, -3, 4, 5, 7,
    INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, INT32_MAX, INT32_MIN,
    (int64_t)1 << 31, -((int64_t)1 << 31), (int64_t)1 << 32, (int64_t)1 << 62, -((int64_t)1 << 62),
    (int64_t)1 << 40, 1000, -1000,
};
#define N_EDGES (int)(sizeof g_edges / sizeof g_edges[0])

/* An int64 operand: an edge value, a dimension of the data (or its negation), or raw bytes. */
static int64_t next_i64(reader *r, const int64_t *dims, int rank)
{
    uint8_t b = next_u8(r);
    if (b < 0xc0)
        return g_edges[b % N_EDGES];
    if (b < 0xe0 && rank > 0) {
        int64_t d = dims[b % rank];
        return b & 1 ? -d : d;
    }
    int64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (int64_t)((uint64_t)v << 8 | next_u8(r));
    return v;
}

typedef struct op_spec {
    const char *op;
    int opset;
    /* operands after the data: their ranks (0 scalar, 1 vector) */
    int n_ops;
    int op_rank[4];
} op_spec;

static const op_spec g_ops[] = {
    {"Slice", 13, 4, {1, 1, 1, 1}},  {"Pad", 18, 3, {1, -1, 1}}, /* pads, (no constant), axes */
    {"Reshape", 14, 1, {1}},          {"Tile", 13, 1, {1}},
    {"Expand", 13, 1, {1}},           {"Range", 11, 3, {0, 0, 0}},
    {"ConstantOfShape", 9, 1, {1}},   {"Gather", 13, 1, {1}},
    {"Unsqueeze", 13, 1, {1}},        {"Squeeze", 13, 1, {1}},
    {"Split", 13, 1, {1}},            {"TopK", 11, 1, {1}},
    {"CumSum", 14, 1, {0}},           {"Trilu", 14, 1, {0}},
    {"OneHot", 11, 2, {0, 1}}, /* depth, values (float) */
};
#define N_OPS (int)(sizeof g_ops / sizeof g_ops[0])

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("TETHER_MAX_TENSOR_BYTES", "16777216", 1);
    tether_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    const op_spec *spec = &g_ops[next_u8(&r) % N_OPS];
    bool range = strcmp(spec->op, "Range") == 0, onehot = strcmp(spec->op, "OneHot") == 0;
    bool no_data = range || strcmp(spec->op, "ConstantOfShape") == 0; /* operands only */
    int rank = 1 + next_u8(&r) % 4;
    int64_t dims[4], numel = 1;
    for (int i = 0; i < rank; i++)
        numel *= dims[i] = next_u8(&r) % 5;
    float xdata[256];
    int64_t xidx[256];
    for (int i = 0; i < 256; i++) {
        xdata[i] = (float)i;
        xidx[i] = i % 3 - 1;
    }

    /* operands: int64 values, their counts drawn from the input */
    int64_t vals[4][8];
    int64_t lens[4];
    for (int k = 0; k < spec->n_ops; k++) {
        lens[k] = spec->op_rank[k] == 0 ? 1 : spec->op_rank[k] < 0 ? 0 : next_u8(&r) % 9;
        for (int i = 0; i < lens[k]; i++)
            vals[k][i] = next_i64(&r, dims, rank);
    }
    uint8_t attr = next_u8(&r);

    /* the model: x (float, or int64 for Range/OneHot indices), the operands, output y */
    const char *in_names[5] = {"x", "a", "b", "c", "d"};
    pbw vis[5];
    int nin = 0;
    int x_type = range ? TETHER_DTYPE_INT64 : onehot ? TETHER_DTYPE_INT64 : TETHER_DTYPE_FLOAT;
    if (!no_data)
        vis[nin++] = ob_input("x", x_type, -1, NULL);
    const char *node_in[5];
    int n_node_in = 0;
    if (!no_data)
        node_in[n_node_in++] = "x";
    for (int k = 0; k < spec->n_ops; k++) {
        if (spec->op_rank[k] < 0) {
            node_in[n_node_in++] = ""; /* an optional operand left out */
            continue;
        }
        int t = onehot && k == 1 ? TETHER_DTYPE_FLOAT : TETHER_DTYPE_INT64;
        vis[nin++] = ob_input(in_names[k + 1], t, -1, NULL);
        node_in[n_node_in++] = in_names[k + 1];
    }
    pbw attrs[2];
    int nattr = 0;
    if (!strcmp(spec->op, "Pad")) {
        static const char *modes[] = {"constant", "reflect", "edge", "wrap"};
        attrs[nattr++] = ob_attr_string("mode", modes[attr % 4]);
    } else if (!strcmp(spec->op, "Reshape")) {
        attrs[nattr++] = ob_attr_int("allowzero", attr & 1);
    } else if (!strcmp(spec->op, "Gather") || !strcmp(spec->op, "Split") || !strcmp(spec->op, "TopK") ||
               !strcmp(spec->op, "OneHot")) {
        attrs[nattr++] = ob_attr_int("axis", (int64_t)(attr % 9) - 4);
    } else if (!strcmp(spec->op, "Trilu")) {
        attrs[nattr++] = ob_attr_int("upper", attr & 1);
    } else if (!strcmp(spec->op, "CumSum")) {
        attrs[nattr++] = ob_attr_int("reverse", attr & 1);
    }
    const char *outs[2] = {"y", "z"};
    int nout = !strcmp(spec->op, "TopK") ? 2 : 1;
    pbw ovis[2];
    for (int i = 0; i < nout; i++)
        ovis[i] = ob_output(outs[i], (!strcmp(spec->op, "TopK") && i == 1) || range ? TETHER_DTYPE_INT64
                                                                                     : TETHER_DTYPE_FLOAT,
                            -1, NULL);
    pbw node = ob_node(spec->op, n_node_in, node_in, nout, outs, nattr, attrs);
    pbw g = ob_graph("fuzz", 1, &node, 0, NULL, nin, vis, nout, ovis);
    pbw m = ob_model(spec->opset, &g);

    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.warmup = 0;
    cfg.run_limit_ms = 2000;
    tether_session *s = NULL;
    if (tether_session_open_bytes(&s, m.buf, m.len, &cfg) == TETHER_OK) {
        tether_tensor in[5];
        int n = 0;
        memset(in, 0, sizeof in);
        if (!no_data) {
            in[n] = (tether_tensor){.name = "x", .dtype = x_type, .rank = rank, .data = onehot ? (void *)xidx
                                                                                                : (void *)xdata,
                                    .size = (size_t)numel * (onehot ? 8 : 4)};
            memcpy(in[n].dims, dims, sizeof dims);
            n++;
        }
        float fvals[8];
        for (int k = 0; k < spec->n_ops; k++) {
            if (spec->op_rank[k] < 0)
                continue;
            bool is_float = onehot && k == 1;
            for (int i = 0; i < lens[k]; i++)
                fvals[i] = (float)(vals[k][i] % 1000);
            in[n] = (tether_tensor){.name = in_names[k + 1], .dtype = is_float ? TETHER_DTYPE_FLOAT : TETHER_DTYPE_INT64,
                                    .rank = spec->op_rank[k], .data = is_float ? (void *)fvals : (void *)vals[k],
                                    .size = (size_t)lens[k] * (is_float ? 4 : 8)};
            if (spec->op_rank[k] == 1)
                in[n].dims[0] = lens[k];
            n++;
        }
        tether_outputs *o = NULL;
        if (tether_session_run(s, in, (size_t)n, &o) == TETHER_OK) {
            for (size_t i = 0; i < tether_outputs_count(o); i++) {
                const tether_tensor *t = tether_outputs_get(o, i);
                uint64_t count = 1;
                for (int d = 0; d < t->rank; d++) {
                    if (t->dims[d] < 0)
                        abort();
                    count *= (uint64_t)t->dims[d];
                }
                if (t->dtype != TETHER_DTYPE_UNDEFINED && count * tether_dtype_size(t->dtype) != t->size)
                    abort(); /* an output's bytes disagree with its shape */
                volatile uint8_t sink = 0;
                for (size_t b = 0; b < t->size; b += 64)
                    sink ^= ((const uint8_t *)t->data)[b]; /* ASan checks the output is really there */
                (void)sink;
            }
            tether_outputs_free(o);
        }
        tether_session_free(s);
    }
    ob_free(&m);
    return 0;
}
