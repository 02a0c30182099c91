/* Shape, index and scatter ops beyond what the ONNX suite checks: indices read from data
 * are bounds-checked with clear errors, sizes read from data are refused before anything
 * is allocated, string tensors are copied, views share storage, symbolic shapes survive
 * inference, and the strided-copy paths agree with naive indexing. */
#include "check.h"
#include "onnx_build.h"

#include "model/model.h"
#include "runtime/exec.h"
#include "graph/graph.h"
#include "runtime/prepare.h"

#include <stdint.h>

/* ---- helpers -------------------------------------------------------------------------------- */

typedef struct io {
    const char *name;
    int dtype, rank;
    int64_t dims[8];
} io;

/* One node over graph inputs; inits (may be 0) are initializers the node also reads. */
static pbw node_model(const char *op, int64_t opset, int nin, const io *in, int nout, const io *out, int nattr,
                      pbw *attrs, int ninit, pbw *inits)
{
    const char *in_names[8], *out_names[8];
    pbw ins[8], outs[8];
    int ngraph_in = 0;
    for (int i = 0; i < nin; i++) {
        in_names[i] = in[i].name;
        if (in[i].rank >= -1 && in[i].dtype)
            ins[ngraph_in++] = ob_input(in[i].name, in[i].dtype, in[i].rank, in[i].dims);
    }
    for (int i = 0; i < nout; i++) {
        out_names[i] = out[i].name;
        outs[i] = ob_output(out[i].name, out[i].dtype, out[i].rank, out[i].dims);
    }
    pbw n = ob_node(op, nin, in_names, nout, out_names, nattr, attrs);
    pbw g = ob_graph("g", 1, &n, ninit, inits, ngraph_in, ins, nout, outs);
    return ob_model(opset, &g);
}

static tether_session *open_model(pbw *m)
{
    tether_session *s = NULL;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    ob_free(m);
    return s;
}

static tether_tensor tensor(const char *name, int dtype, int rank, const int64_t *dims, const void *data)
{
    tether_tensor t = {.name = name, .dtype = dtype, .rank = rank, .data = (void *)data};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t.size = n * tether_dtype_size(dtype);
    return t;
}

/* Runs with the given inputs and returns output 0 (the outputs are kept in *out). */
static const tether_tensor *run_ok(tether_session *s, const tether_tensor *in, int n, tether_outputs **out)
{
    CHECK_OK(tether_session_run(s, in, (size_t)n, out));
    return tether_outputs_get(*out, 0);
}

#define I64(...) ((const int64_t[]){__VA_ARGS__})

/* ---- indices read from data are bounds-checked ------------------------------------------------- */

TEST(gather_rejects_out_of_range_indices)
{
    io in[2] = {{"data", TETHER_DTYPE_FLOAT, 2, {3, 2}}, {"idx", TETHER_DTYPE_INT64, 1, {2}}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw m = node_model("Gather", 13, 2, in, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    float data[6] = {0, 1, 10, 11, 20, 21};
    int64_t idx[2] = {0, 3};
    tether_tensor t[2] = {tensor("data", TETHER_DTYPE_FLOAT, 2, I64(3, 2), data),
                          tensor("idx", TETHER_DTYPE_INT64, 1, I64(2), idx)};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "index 3 is out of range [-3, 3)");
    idx[1] = -4;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "index -4 is out of range [-3, 3)");
    idx[0] = -1, idx[1] = 1; /* negative indices count from the end */
    const tether_tensor *y = run_ok(s, t, 2, &o);
    CHECK_EQ_INT(y->rank, 2);
    CHECK_EQ_INT(y->dims[0], 2);
    const float *v = y->data;
    CHECK(v[0] == 20 && v[1] == 21 && v[2] == 10 && v[3] == 11);
    tether_outputs_free(o);
    tether_session_free(s);
}

TEST(gather_from_an_empty_axis_names_it)
{
    io in[2] = {{"data", TETHER_DTYPE_FLOAT, 2, {0, 2}}, {"idx", TETHER_DTYPE_INT32, 1, {1}}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw m = node_model("Gather", 13, 2, in, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    float data[1];
    int32_t idx[1] = {0};
    tether_tensor t[2] = {tensor("data", TETHER_DTYPE_FLOAT, 2, I64(0, 2), data),
                          tensor("idx", TETHER_DTYPE_INT32, 1, I64(1), idx)};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "index 0 indexes an empty dimension");
    tether_session_free(s);
}

TEST(gather_elements_and_gather_nd_reject_out_of_range_indices)
{
    io in[2] = {{"data", TETHER_DTYPE_FLOAT, 2, {2, 3}}, {"idx", TETHER_DTYPE_INT64, 2, {2, 2}}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw ax = ob_attr_int("axis", 0);
    pbw m = node_model("GatherElements", 13, 2, in, 1, &out, 1, &ax, 0, NULL);
    tether_session *s = open_model(&m);
    float data[6] = {1, 2, 3, 4, 5, 6};
    int64_t idx[4] = {0, 1, 2, 0};
    tether_tensor t[2] = {tensor("data", TETHER_DTYPE_FLOAT, 2, I64(2, 3), data),
                          tensor("idx", TETHER_DTYPE_INT64, 2, I64(2, 2), idx)};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "index 2 is out of range [-2, 2)");
    idx[2] = -1;
    const float *y = run_ok(s, t, 2, &o)->data;
    CHECK(y[0] == 1 && y[1] == 5 && y[2] == 4 && y[3] == 2);
    tether_outputs_free(o);
    tether_session_free(s);

    /* GatherND: each tuple entry is checked against its own axis */
    io nd[2] = {{"data", TETHER_DTYPE_FLOAT, 2, {2, 3}}, {"idx", TETHER_DTYPE_INT64, 2, {1, 2}}};
    m = node_model("GatherND", 13, 2, nd, 1, &out, 0, NULL, 0, NULL);
    s = open_model(&m);
    int64_t tuple[2] = {1, 3};
    t[1] = tensor("idx", TETHER_DTYPE_INT64, 2, I64(1, 2), tuple);
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "index 3 is out of range [-3, 3)");
    tuple[0] = 2, tuple[1] = 0;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "index 2 is out of range [-2, 2)");
    tuple[0] = -1, tuple[1] = -1;
    CHECK(((const float *)run_ok(s, t, 2, &o)->data)[0] == 6);
    tether_outputs_free(o);
    tether_session_free(s);
}

static void check_scatter_range(const char *op, int64_t opset, int idx_rank)
{
    int64_t idims[2] = {1, 1};
    io in[3] = {{"data", TETHER_DTYPE_FLOAT, 1, {4}},
                {"idx", TETHER_DTYPE_INT64, idx_rank, {1, 1}},
                {"upd", TETHER_DTYPE_FLOAT, 1, {1}}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw m = node_model(op, opset, 3, in, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    float data[4] = {1, 2, 3, 4}, upd[1] = {9};
    int64_t idx[1] = {4};
    tether_tensor t[3] = {tensor("data", TETHER_DTYPE_FLOAT, 1, I64(4), data),
                          tensor("idx", TETHER_DTYPE_INT64, idx_rank, idims, idx),
                          tensor("upd", TETHER_DTYPE_FLOAT, 1, I64(1), upd)};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, t, 3, &o), TETHER_ERR_RUNTIME, "index 4 is out of range [-4, 4)");
    idx[0] = -5;
    CHECK_ERR(tether_session_run(s, t, 3, &o), TETHER_ERR_RUNTIME, "index -5 is out of range [-4, 4)");
    idx[0] = -1;
    const float *y = run_ok(s, t, 3, &o)->data;
    CHECK(y[0] == 1 && y[1] == 2 && y[2] == 3 && y[3] == 9);
    CHECK(data[3] == 4); /* the input is not written */
    tether_outputs_free(o);
    tether_session_free(s);
}

TEST(scatters_reject_out_of_range_indices)
{
    check_scatter_range("Scatter", 10, 1);
    check_scatter_range("ScatterElements", 16, 1);
    check_scatter_range("ScatterND", 16, 2);
}

TEST(scatter_reductions_combine_duplicates)
{
    io in[3] = {{"data", TETHER_DTYPE_INT32, 1, {3}}, {"idx", TETHER_DTYPE_INT64, 1, {3}},
                {"upd", TETHER_DTYPE_INT32, 1, {3}}};
    io out = {"y", TETHER_DTYPE_INT32, -1, {0}};
    const char *reds[4] = {"none", "add", "mul", "max"};
    const int32_t want[4][3] = {{1, 7, 3}, {1, 20, 3}, {1, 420, 3}, {1, 7, 3}};
    for (int r = 0; r < 4; r++) {
        pbw red = ob_attr_string("reduction", reds[r]);
        pbw m = node_model("ScatterElements", 18, 3, in, 1, &out, 1, &red, 0, NULL);
        tether_session *s = open_model(&m);
        int32_t data[3] = {1, 2, 3}, upd[3] = {5, 6, 7};
        int64_t idx[3] = {1, 1, -2};
        tether_tensor t[3] = {tensor("data", TETHER_DTYPE_INT32, 1, I64(3), data),
                              tensor("idx", TETHER_DTYPE_INT64, 1, I64(3), idx),
                              tensor("upd", TETHER_DTYPE_INT32, 1, I64(3), upd)};
        tether_outputs *o;
        const int32_t *y = run_ok(s, t, 3, &o)->data;
        for (int i = 0; i < 3; i++)
            CHECK_EQ_INT(y[i], want[r][i]);
        tether_outputs_free(o);
        tether_session_free(s);
    }
    /* max only exists from opset 18 */
    pbw red = ob_attr_string("reduction", "max");
    pbw m = node_model("ScatterElements", 16, 3, in, 1, &out, 1, &red, 0, NULL);
    tether_session *s;
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, NULL), TETHER_ERR_UNSUPPORTED,
              "reduction 'max' is not supported at opset 16");
    ob_free(&m);
}

TEST(onehot_leaves_out_of_range_rows_off_and_checks_depth)
{
    io in[3] = {{"idx", TETHER_DTYPE_INT64, 1, {4}}, {"depth", TETHER_DTYPE_INT64, 0, {0}},
                {"vals", TETHER_DTYPE_FLOAT, 1, {2}}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw m = node_model("OneHot", 11, 3, in, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    int64_t idx[4] = {0, 2, -1, 3}, depth = 3;
    float vals[2] = {-1, 5};
    tether_tensor t[3] = {tensor("idx", TETHER_DTYPE_INT64, 1, I64(4), idx),
                          tensor("depth", TETHER_DTYPE_INT64, 0, NULL, &depth),
                          tensor("vals", TETHER_DTYPE_FLOAT, 1, I64(2), vals)};
    tether_outputs *o;
    const tether_tensor *y = run_ok(s, t, 3, &o);
    CHECK_EQ_INT(y->dims[0], 4);
    CHECK_EQ_INT(y->dims[1], 3);
    const float want[12] = {5, -1, -1, -1, -1, 5, -1, -1, 5, -1, -1, -1};
    for (int i = 0; i < 12; i++)
        CHECK(((const float *)y->data)[i] == want[i]);
    tether_outputs_free(o);
    depth = 0;
    CHECK_ERR(tether_session_run(s, t, 3, &o), TETHER_ERR_RUNTIME, "depth 0 must be a positive count");
    depth = (int64_t)1 << 50;
    CHECK_ERR(tether_session_run(s, t, 3, &o), TETHER_ERR_RUNTIME, "larger than");
    tether_session_free(s);
}

TEST(reverse_sequence_and_compress_check_lengths)
{
    io in[2] = {{"x", TETHER_DTYPE_FLOAT, 2, {3, 2}}, {"lens", TETHER_DTYPE_INT64, 1, {2}}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw m = node_model("ReverseSequence", 10, 2, in, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    float x[6] = {0, 1, 2, 3, 4, 5};
    int64_t lens[2] = {3, 4};
    tether_tensor t[2] = {tensor("x", TETHER_DTYPE_FLOAT, 2, I64(3, 2), x),
                          tensor("lens", TETHER_DTYPE_INT64, 1, I64(2), lens)};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "sequence_lens[1] is 4; it must be in [0, 3]");
    lens[1] = 2;
    const float *y = run_ok(s, t, 2, &o)->data;
    const float want[6] = {4, 3, 2, 1, 0, 5};
    for (int i = 0; i < 6; i++)
        CHECK(y[i] == want[i]);
    tether_outputs_free(o);
    tether_session_free(s);

    io cin[2] = {{"x", TETHER_DTYPE_FLOAT, 1, {2}}, {"c", TETHER_DTYPE_BOOL, 1, {4}}};
    m = node_model("Compress", 11, 2, cin, 1, &out, 0, NULL, 0, NULL);
    s = open_model(&m);
    uint8_t cond[4] = {0, 1, 0, 1};
    tether_tensor ct[2] = {tensor("x", TETHER_DTYPE_FLOAT, 1, I64(2), x),
                           tensor("c", TETHER_DTYPE_BOOL, 1, I64(4), cond)};
    CHECK_ERR(tether_session_run(s, ct, 2, &o), TETHER_ERR_RUNTIME, "condition selects entry 3 of an axis of size 2");
    cond[3] = 0; /* false entries past the end are fine */
    const tether_tensor *yc = run_ok(s, ct, 2, &o);
    CHECK_EQ_INT(yc->dims[0], 1);
    CHECK(((const float *)yc->data)[0] == 1);
    tether_outputs_free(o);
    tether_session_free(s);
}

/* ---- sizes read from data are refused before allocating ---------------------------------------- */

TEST(absurd_constant_of_shape_and_expand_are_refused)
{
    io in = {"shape", TETHER_DTYPE_INT64, 1, {3}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw m = node_model("ConstantOfShape", 9, 1, &in, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    int64_t shape[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 1};
    tether_tensor t = tensor("shape", TETHER_DTYPE_INT64, 1, I64(3), shape);
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, &t, 1, &o), TETHER_ERR_RUNTIME,
              "shape [1099511627776,1099511627776,1] of float32 is larger than");
    shape[0] = 2, shape[1] = -3;
    CHECK_ERR(tether_session_run(s, &t, 1, &o), TETHER_ERR_RUNTIME, "shape[1] is -3; sizes must be >= 0");
    shape[1] = 2;
    const tether_tensor *y = run_ok(s, &t, 1, &o);
    CHECK_EQ_INT(y->rank, 3);
    for (int i = 0; i < 4; i++)
        CHECK(((const float *)y->data)[i] == 0);
    tether_outputs_free(o);
    tether_session_free(s);

    io ein[2] = {{"x", TETHER_DTYPE_FLOAT, 1, {1}}, {"shape", TETHER_DTYPE_INT64, 1, {3}}};
    m = node_model("Expand", 13, 2, ein, 1, &out, 0, NULL, 0, NULL);
    s = open_model(&m);
    float x[1] = {7};
    tether_tensor et[2] = {tensor("x", TETHER_DTYPE_FLOAT, 1, I64(1), x), t};
    shape[0] = shape[1] = shape[2] = (int64_t)1 << 22;
    CHECK_ERR(tether_session_run(s, et, 2, &o), TETHER_ERR_RUNTIME, "the expanded shape [4194304,4194304,4194304]");
    shape[0] = 3, shape[1] = 1, shape[2] = 2;
    y = run_ok(s, et, 2, &o);
    CHECK_EQ_INT(y->dims[0] * y->dims[1] * y->dims[2], 6);
    for (int i = 0; i < 6; i++)
        CHECK(((const float *)y->data)[i] == 7);
    tether_outputs_free(o);
    tether_session_free(s);
}

TEST(absurd_tile_range_and_pad_are_refused)
{
    io tin[2] = {{"x", TETHER_DTYPE_FLOAT, 2, {2, 2}}, {"r", TETHER_DTYPE_INT64, 1, {2}}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw m = node_model("Tile", 13, 2, tin, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    float x[4] = {1, 2, 3, 4};
    int64_t reps[2] = {INT64_MAX, 1};
    tether_tensor t[2] = {tensor("x", TETHER_DTYPE_FLOAT, 2, I64(2, 2), x),
                          tensor("r", TETHER_DTYPE_INT64, 1, I64(2), reps)};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "overflows");
    reps[0] = reps[1] = (int64_t)1 << 30;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "the tiled shape [2147483648,2147483648]");
    reps[0] = -1;
    CHECK_ERR(tether_session_run(s, t, 2, &o), TETHER_ERR_RUNTIME, "repeats[0] is -1");
    reps[0] = 2, reps[1] = 0;
    CHECK_EQ_INT(run_ok(s, t, 2, &o)->dims[1], 0);
    tether_outputs_free(o);
    tether_session_free(s);

    io rin[3] = {
        {"a", TETHER_DTYPE_INT64, 0, {0}}, {"b", TETHER_DTYPE_INT64, 0, {0}}, {"d", TETHER_DTYPE_INT64, 0, {0}}};
    io rout = {"y", TETHER_DTYPE_INT64, -1, {0}};
    m = node_model("Range", 11, 3, rin, 1, &rout, 0, NULL, 0, NULL);
    s = open_model(&m);
    int64_t a = 0, b = INT64_MAX, d = 1;
    tether_tensor rt[3] = {tensor("a", TETHER_DTYPE_INT64, 0, NULL, &a), tensor("b", TETHER_DTYPE_INT64, 0, NULL, &b),
                           tensor("d", TETHER_DTYPE_INT64, 0, NULL, &d)};
    CHECK_ERR(tether_session_run(s, rt, 3, &o), TETHER_ERR_RUNTIME, "the range's shape [9223372036854775807]");
    d = 0;
    CHECK_ERR(tether_session_run(s, rt, 3, &o), TETHER_ERR_RUNTIME, "delta is 0");
    /* the full int64 span in four steps: exact, though limit - start overflows int64 */
    a = INT64_MIN, d = (int64_t)1 << 62;
    const tether_tensor *y = run_ok(s, rt, 3, &o);
    CHECK_EQ_INT(y->dims[0], 4);
    const int64_t *v = y->data;
    CHECK(v[0] == INT64_MIN && v[1] == -((int64_t)1 << 62) && v[2] == 0 && v[3] == (int64_t)1 << 62);
    tether_outputs_free(o);
    tether_session_free(s);

    io pin[2] = {{"x", TETHER_DTYPE_FLOAT, 1, {2}}, {"pads", TETHER_DTYPE_INT64, 1, {2}}};
    m = node_model("Pad", 13, 2, pin, 1, &out, 0, NULL, 0, NULL);
    s = open_model(&m);
    int64_t pads[2] = {0, INT64_MAX};
    tether_tensor pt[2] = {tensor("x", TETHER_DTYPE_FLOAT, 1, I64(2), x),
                           tensor("pads", TETHER_DTYPE_INT64, 1, I64(2), pads)};
    CHECK_ERR(tether_session_run(s, pt, 2, &o), TETHER_ERR_RUNTIME,
              "pads 0 and 9223372036854775807 cannot apply to axis 0 of size 2");
    pads[0] = -3, pads[1] = 0;
    CHECK_ERR(tether_session_run(s, pt, 2, &o), TETHER_ERR_RUNTIME, "pads -3 and 0 cannot apply");
    pads[0] = (int64_t)1 << 40;
    CHECK_ERR(tether_session_run(s, pt, 2, &o), TETHER_ERR_RUNTIME, "the padded shape [1099511627778]");
    tether_session_free(s);
}

/* ---- strings ----------------------------------------------------------------------------------- */

static void check_strings(const tether_tensor *y, int n, const char *const *want)
{
    CHECK_EQ_INT(y->dtype, TETHER_DTYPE_STRING);
    CHECK_EQ_INT(y->size, (size_t)n * sizeof(char *));
    for (int i = 0; i < n; i++) {
        const char *got = ((char *const *)y->data)[i];
        if (strcmp(got, want[i]) != 0)
            CHECK_FAIL("element %d: got \"%s\", expected \"%s\"", i, got, want[i]);
    }
}

TEST(string_concat_and_transpose_copy_their_strings)
{
    io in[2] = {{"a", TETHER_DTYPE_STRING, 2, {2, 1}}, {"b", TETHER_DTYPE_STRING, 2, {2, 2}}};
    io out = {"y", TETHER_DTYPE_STRING, -1, {0}};
    pbw ax = ob_attr_int("axis", 1);
    pbw m = node_model("Concat", 13, 2, in, 1, &out, 1, &ax, 0, NULL);
    tether_session *s = open_model(&m);
    const char *a[2] = {"a0", "a1"}, *b[4] = {"b00", "b01", "b10", "b11"};
    tether_tensor t[2] = {tensor("a", TETHER_DTYPE_STRING, 2, I64(2, 1), a),
                          tensor("b", TETHER_DTYPE_STRING, 2, I64(2, 2), b)};
    tether_outputs *o;
    const tether_tensor *y = run_ok(s, t, 2, &o);
    CHECK_EQ_INT(y->dims[1], 3);
    check_strings(y, 6, (const char *[]){"a0", "b00", "b01", "a1", "b10", "b11"});
    for (int i = 0; i < 6; i++) /* copies, not the caller's pointers */
        CHECK(((char *const *)y->data)[i] != a[0] && ((char *const *)y->data)[i] != b[0]);
    tether_outputs_free(o);
    tether_session_free(s);

    io tin = {"x", TETHER_DTYPE_STRING, 2, {2, 3}};
    m = node_model("Transpose", 13, 1, &tin, 1, &out, 0, NULL, 0, NULL);
    s = open_model(&m);
    const char *x[6] = {"p", "q", "r", "s", "t", ""};
    tether_tensor tx = tensor("x", TETHER_DTYPE_STRING, 2, I64(2, 3), x);
    for (int k = 0; k < 2; k++) { /* twice: a second run reuses nothing it freed */
        y = run_ok(s, &tx, 1, &o);
        CHECK_EQ_INT(y->dims[0], 3);
        check_strings(y, 6, (const char *[]){"p", "s", "q", "t", "r", ""});
        tether_outputs_free(o);
    }
    tether_session_free(s);
}

TEST(string_gather_slice_pad_unique)
{
    io gin[2] = {{"x", TETHER_DTYPE_STRING, 1, {3}}, {"i", TETHER_DTYPE_INT64, 1, {4}}};
    io out = {"y", TETHER_DTYPE_STRING, -1, {0}};
    pbw m = node_model("Gather", 13, 2, gin, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    const char *x[3] = {"zero", "one", "two"};
    int64_t idx[4] = {2, 0, 2, -2};
    tether_tensor t[2] = {tensor("x", TETHER_DTYPE_STRING, 1, I64(3), x),
                          tensor("i", TETHER_DTYPE_INT64, 1, I64(4), idx)};
    tether_outputs *o;
    check_strings(run_ok(s, t, 2, &o), 4, (const char *[]){"two", "zero", "two", "one"});
    tether_outputs_free(o);
    tether_session_free(s);

    /* Slice with attributes (before opset 10), the end clamped */
    pbw sa[3] = {ob_attr_ints("starts", 1, I64(-2)), ob_attr_ints("ends", 1, I64(INT64_MAX)),
                 ob_attr_ints("axes", 1, I64(0))};
    io sin = {"x", TETHER_DTYPE_STRING, 1, {3}};
    m = node_model("Slice", 9, 1, &sin, 1, &out, 3, sa, 0, NULL);
    s = open_model(&m);
    check_strings(run_ok(s, t, 1, &o), 2, (const char *[]){"one", "two"});
    tether_outputs_free(o);
    tether_session_free(s);

    /* Pad with a string constant */
    const char *fill[1] = {"--"};
    pbw inits[2] = {ob_tensor("pads", TETHER_DTYPE_INT64, 1, I64(2), I64(1, 2), 16), {0}};
    io pin[3] = {{"x", TETHER_DTYPE_STRING, 1, {3}}, {"pads", 0, -2, {0}}, {"v", TETHER_DTYPE_STRING, 0, {0}}};
    m = node_model("Pad", 13, 3, pin, 1, &out, 0, NULL, 1, inits);
    s = open_model(&m);
    tether_tensor pt[2] = {t[0], tensor("v", TETHER_DTYPE_STRING, 0, NULL, fill)};
    check_strings(run_ok(s, pt, 2, &o), 6, (const char *[]){"--", "zero", "one", "two", "--", "--"});
    tether_outputs_free(o);
    tether_session_free(s);

    /* Unique keeps first occurrences; sorted by strcmp */
    io uin = {"x", TETHER_DTYPE_STRING, 1, {5}};
    io uout[4] = {{"y", TETHER_DTYPE_STRING, -1, {0}}, {"first", TETHER_DTYPE_INT64, -1, {0}},
                  {"inv", TETHER_DTYPE_INT64, -1, {0}}, {"count", TETHER_DTYPE_INT64, -1, {0}}};
    m = node_model("Unique", 11, 1, &uin, 4, uout, 0, NULL, 0, NULL);
    s = open_model(&m);
    const char *u[5] = {"b", "a", "b", "c", "a"};
    tether_tensor ut = tensor("x", TETHER_DTYPE_STRING, 1, I64(5), u);
    run_ok(s, &ut, 1, &o);
    check_strings(tether_outputs_get(o, 0), 3, (const char *[]){"a", "b", "c"});
    const int64_t *first = tether_outputs_get(o, 1)->data, *inv = tether_outputs_get(o, 2)->data,
                  *cnt = tether_outputs_get(o, 3)->data;
    CHECK(first[0] == 1 && first[1] == 0 && first[2] == 3);
    CHECK(inv[0] == 1 && inv[1] == 0 && inv[2] == 1 && inv[3] == 2 && inv[4] == 0);
    CHECK(cnt[0] == 2 && cnt[1] == 2 && cnt[2] == 1);
    tether_outputs_free(o);
    tether_session_free(s);
}

/* ---- views share storage ----------------------------------------------------------------------- */

/* Runs g once through the executor with x borrowed, returning the run for inspection. */
static tt_run *exec_once(tt_model **model, pbw *m, tt_tensor *x)
{
    CHECK_OK(tt_model_load(m->buf, m->len, NULL, model));
    ob_free(m);
    CHECK_OK(tt_graph_prepare((*model)->graph, false));
    tt_backend_list bl;
    CHECK_OK(tt_backend_list_for("ref", &bl));
    CHECK_OK(tt_graph_place((*model)->graph, &bl));
    tt_run *r;
    CHECK_OK(tt_run_new((*model)->graph, &r));
    tt_value in = {.kind = TT_KIND_TENSOR, .t = *x};
    CHECK_OK(tt_run_exec(r, &in));
    return r;
}

TEST(squeeze_and_unsqueeze_are_views_transpose_is_a_copy)
{
    for (int opset = 11; opset <= 13; opset += 2) {
        /* x[2,1,3] -Squeeze(1)-> a[2,3] -Unsqueeze(0)-> y[1,2,3]; x -Transpose-> z */
        pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 3, I64(2, 1, 3));
        pbw outs[2] = {ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("z", TETHER_DTYPE_FLOAT, -1, NULL)};
        pbw inits[2], n[3];
        int ninit = 0;
        if (opset >= 13) {
            inits[0] = ob_tensor("ax1", TETHER_DTYPE_INT64, 1, I64(1), I64(1), 8);
            inits[1] = ob_tensor("ax0", TETHER_DTYPE_INT64, 1, I64(1), I64(0), 8);
            ninit = 2;
            n[0] = ob_node("Squeeze", 2, (const char *[]){"x", "ax1"}, 1, (const char *[]){"a"}, 0, NULL);
            n[1] = ob_node("Unsqueeze", 2, (const char *[]){"a", "ax0"}, 1, (const char *[]){"y"}, 0, NULL);
        } else {
            pbw a1 = ob_attr_ints("axes", 1, I64(1)), a0 = ob_attr_ints("axes", 1, I64(0));
            n[0] = ob_node("Squeeze", 1, (const char *[]){"x"}, 1, (const char *[]){"a"}, 1, &a1);
            n[1] = ob_node("Unsqueeze", 1, (const char *[]){"a"}, 1, (const char *[]){"y"}, 1, &a0);
        }
        n[2] = ob_node("Transpose", 1, (const char *[]){"x"}, 1, (const char *[]){"z"}, 0, NULL);
        pbw g = ob_graph("views", 3, n, ninit, inits, 1, &x, 2, outs);
        pbw m = ob_model(opset, &g);
        float data[6] = {1, 2, 3, 4, 5, 6};
        tt_tensor xt = {.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {2, 1, 3}, .data = data};
        tt_model *model;
        tt_run *r = exec_once(&model, &m, &xt);
        const tt_graph *gr = model->graph;
        const tt_tensor *y = &r->vals[gr->outputs[0]].t, *z = &r->vals[gr->outputs[1]].t;
        CHECK_EQ_INT(y->rank, 3);
        CHECK(y->dims[0] == 1 && y->dims[1] == 2 && y->dims[2] == 3);
        CHECK(y->data == (void *)data); /* the same storage, no copy */
        CHECK(z->data != (void *)data);
        CHECK(z->dims[0] == 3 && z->dims[1] == 1 && z->dims[2] == 2);
        const float want[6] = {1, 4, 2, 5, 3, 6};
        for (int i = 0; i < 6; i++)
            CHECK(((const float *)z->data)[i] == want[i]);
        tt_run_reset(r);
        tt_run_free(r);
        tt_graph_release(model->graph);
        tt_model_free(model);
    }
}

/* ---- inference keeps symbols ------------------------------------------------------------------ */

TEST(inference_keeps_symbolic_dims)
{
    /* Concat [N,3] and [N,5] on axis 1 is [N,8]; Unsqueeze(axes=[0]) of that is [1,N,8];
     * slicing its last axis 2:6 gives [1,N,4]; Transpose is [4,N,1] */
    pbw ins[2] = {ob_input("a", TETHER_DTYPE_FLOAT, 2, I64(-1, 3)), ob_input("b", TETHER_DTYPE_FLOAT, 2, I64(-1, 5))};
    pbw outs[4] = {ob_output("c", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("u", TETHER_DTYPE_FLOAT, -1, NULL),
                   ob_output("s", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("t", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw inits[4] = {ob_tensor("ax0", TETHER_DTYPE_INT64, 1, I64(1), I64(0), 8),
                    ob_tensor("st", TETHER_DTYPE_INT64, 1, I64(1), I64(2), 8),
                    ob_tensor("en", TETHER_DTYPE_INT64, 1, I64(1), I64(6), 8),
                    ob_tensor("axl", TETHER_DTYPE_INT64, 1, I64(1), I64(-1), 8)};
    pbw ax = ob_attr_int("axis", 1);
    pbw n[4] = {ob_node("Concat", 2, (const char *[]){"a", "b"}, 1, (const char *[]){"c"}, 1, &ax),
                ob_node("Unsqueeze", 2, (const char *[]){"c", "ax0"}, 1, (const char *[]){"u"}, 0, NULL),
                ob_node("Slice", 4, (const char *[]){"u", "st", "en", "axl"}, 1, (const char *[]){"s"}, 0, NULL),
                ob_node("Transpose", 1, (const char *[]){"s"}, 1, (const char *[]){"t"}, 0, NULL)};
    pbw g = ob_graph("sym", 4, n, 4, inits, 2, ins, 4, outs);
    pbw m = ob_model(13, &g);
    tether_session *s = open_model(&m);
    const int64_t want[4][3] = {{-1, 8}, {1, -1, 8}, {1, -1, 4}, {4, -1, 1}};
    const int ranks[4] = {2, 3, 3, 3};
    for (int k = 0; k < 4; k++) {
        tether_value_info info;
        CHECK_OK(tether_session_output_info(s, (size_t)k, &info));
        CHECK_EQ_INT(info.rank, ranks[k]);
        for (int d = 0; d < info.rank; d++) {
            CHECK_EQ_INT(info.dims[d], want[k][d]);
            if (want[k][d] < 0)
                CHECK(info.dim_names[d] && strcmp(info.dim_names[d], "N") == 0);
        }
    }
    tether_session_free(s);
}

/* ---- the strided-copy paths agree with naive indexing -------------------------------------------- */

static uint64_t elem_value(int64_t i) { return (uint64_t)(i * 2654435761u) ^ 0x5bd1e995u; }

static void fill_elems(void *p, int64_t n, size_t es)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t v = elem_value(i);
        memcpy((char *)p + i * (int64_t)es, &v, es);
    }
}

TEST(transpose_matches_naive_indexing_for_every_perm_and_size)
{
    /* odd sizes so tiles have ragged edges; four element sizes */
    const int64_t dims[4] = {3, 5, 17, 19};
    const int dtypes[4] = {TETHER_DTYPE_UINT8, TETHER_DTYPE_INT16, TETHER_DTYPE_FLOAT, TETHER_DTYPE_DOUBLE};
    int64_t n = 3 * 5 * 17 * 19;
    for (int di = 0; di < 4; di++) {
        size_t es = tether_dtype_size(dtypes[di]);
        char *x = malloc((size_t)n * es);
        fill_elems(x, n, es);
        int p[4];
        for (p[0] = 0; p[0] < 4; p[0]++)
            for (p[1] = 0; p[1] < 4; p[1]++)
                for (p[2] = 0; p[2] < 4; p[2]++)
                    for (p[3] = 0; p[3] < 4; p[3]++) {
                        if (p[0] == p[1] || p[0] == p[2] || p[0] == p[3] || p[1] == p[2] || p[1] == p[3] ||
                            p[2] == p[3])
                            continue;
                        pbw perm = ob_attr_ints("perm", 4, I64(p[0], p[1], p[2], p[3]));
                        io in = {"x", dtypes[di], 4, {3, 5, 17, 19}};
                        io out = {"y", dtypes[di], -1, {0}};
                        pbw m = node_model("Transpose", 13, 1, &in, 1, &out, 1, &perm, 0, NULL);
                        tether_session *s = open_model(&m);
                        tether_tensor t = tensor("x", dtypes[di], 4, dims, x);
                        tether_outputs *o;
                        const tether_tensor *y = run_ok(s, &t, 1, &o);
                        int64_t yd[4] = {dims[p[0]], dims[p[1]], dims[p[2]], dims[p[3]]},
                                xs[4] = {5 * 17 * 19, 17 * 19, 19, 1};
                        int64_t i[4], k = 0;
                        for (i[0] = 0; i[0] < yd[0]; i[0]++)
                            for (i[1] = 0; i[1] < yd[1]; i[1]++)
                                for (i[2] = 0; i[2] < yd[2]; i[2]++)
                                    for (i[3] = 0; i[3] < yd[3]; i[3]++, k++) {
                                        int64_t src =
                                            i[0] * xs[p[0]] + i[1] * xs[p[1]] + i[2] * xs[p[2]] + i[3] * xs[p[3]];
                                        if (memcmp((const char *)y->data + k * (int64_t)es, x + src * (int64_t)es, es))
                                            CHECK_FAIL("perm %d%d%d%d, %d-byte elements: element %lld differs", p[0],
                                                       p[1], p[2], p[3], (int)es, (long long)k);
                                    }
                        tether_outputs_free(o);
                        tether_session_free(s);
                    }
        free(x);
    }
}

TEST(large_transpose_and_slice_split_over_threads)
{
    /* [64, 300, 257] floats: tiles and long runs, several tasks */
    const int64_t a = 64, b = 300, c = 257, n = a * b * c;
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)i;
    pbw perm = ob_attr_ints("perm", 3, I64(0, 2, 1));
    io in = {"x", TETHER_DTYPE_FLOAT, 3, {a, b, c}};
    io out = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    pbw m = node_model("Transpose", 13, 1, &in, 1, &out, 1, &perm, 0, NULL);
    tether_session *s = open_model(&m);
    tether_tensor t = tensor("x", TETHER_DTYPE_FLOAT, 3, I64(a, b, c), x);
    tether_outputs *o;
    const float *y = run_ok(s, &t, 1, &o)->data;
    for (int64_t i = 0; i < a; i++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t j = 0; j < b; j++)
                if (y[(i * c + k) * b + j] != x[(i * b + j) * c + k])
                    CHECK_FAIL("y[%lld,%lld,%lld] differs", (long long)i, (long long)k, (long long)j);
    tether_outputs_free(o);
    tether_session_free(s);

    /* Slice with negative and positive steps, clamped starts and ends */
    io sin[5] = {{"x", TETHER_DTYPE_FLOAT, 3, {a, b, c}}, {"st", 0, -2, {0}}, {"en", 0, -2, {0}},
                 {"ax", 0, -2, {0}}, {"sp", 0, -2, {0}}};
    pbw inits[4] = {ob_tensor("st", TETHER_DTYPE_INT64, 1, I64(3), I64(INT64_MAX, 1, -1), 24),
                    ob_tensor("en", TETHER_DTYPE_INT64, 1, I64(3), I64(INT64_MIN, INT64_MAX, -1000), 24),
                    ob_tensor("ax", TETHER_DTYPE_INT64, 1, I64(3), I64(0, 1, 2), 24),
                    ob_tensor("sp", TETHER_DTYPE_INT64, 1, I64(3), I64(-3, 7, -1), 24)};
    m = node_model("Slice", 13, 5, sin, 1, &out, 0, NULL, 4, inits);
    s = open_model(&m);
    const tether_tensor *ys = run_ok(s, &t, 1, &o);
    /* axis 0: 63, 60, ..., 0 (22); axis 1: 1, 8, ..., 295 (43); axis 2: 256 down to 0 (257) */
    CHECK_EQ_INT(ys->dims[0], 22);
    CHECK_EQ_INT(ys->dims[1], 43);
    CHECK_EQ_INT(ys->dims[2], 257);
    const float *v = ys->data;
    for (int64_t i = 0; i < 22; i++)
        for (int64_t j = 0; j < 43; j++)
            for (int64_t k = 0; k < 257; k++)
                if (v[(i * 43 + j) * 257 + k] != x[((63 - 3 * i) * b + 1 + 7 * j) * c + 256 - k])
                    CHECK_FAIL("slice element [%lld,%lld,%lld] differs", (long long)i, (long long)j, (long long)k);
    tether_outputs_free(o);
    tether_session_free(s);
    free(x);
}

TEST(slice_clamps_like_numpy_going_backwards)
{
    /* x[-4::-1] of 3 elements is empty (the start lies before the axis); x[5::-1] is all
     * of x reversed; x[1:-100:-1] is x[1], x[0] */
    const char *names[5] = {"x", "s", "e", "", "t"}; /* axes omitted */
    pbw ins[4] = {ob_input("x", TETHER_DTYPE_INT32, 1, I64(3)), ob_input("s", TETHER_DTYPE_INT64, 1, I64(1)),
                  ob_input("e", TETHER_DTYPE_INT64, 1, I64(1)), ob_input("t", TETHER_DTYPE_INT64, 1, I64(1))};
    pbw y = ob_output("y", TETHER_DTYPE_INT32, -1, NULL);
    pbw n = ob_node("Slice", 5, names, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("slice", 1, &n, 0, NULL, 4, ins, 1, &y);
    pbw m = ob_model(13, &g);
    tether_session *s = open_model(&m);
    int32_t x[3] = {10, 11, 12};
    int64_t st = -4, en = INT64_MIN, step = -1;
    tether_tensor t[4] = {
        tensor("x", TETHER_DTYPE_INT32, 1, I64(3), x), tensor("s", TETHER_DTYPE_INT64, 1, I64(1), &st),
        tensor("e", TETHER_DTYPE_INT64, 1, I64(1), &en), tensor("t", TETHER_DTYPE_INT64, 1, I64(1), &step)};
    tether_outputs *o;
    CHECK_EQ_INT(run_ok(s, t, 4, &o)->dims[0], 0);
    tether_outputs_free(o);
    st = 5;
    const tether_tensor *r = run_ok(s, t, 4, &o);
    CHECK_EQ_INT(r->dims[0], 3);
    CHECK(((const int32_t *)r->data)[0] == 12 && ((const int32_t *)r->data)[2] == 10);
    tether_outputs_free(o);
    st = 1, en = -100;
    r = run_ok(s, t, 4, &o);
    CHECK_EQ_INT(r->dims[0], 2);
    CHECK(((const int32_t *)r->data)[0] == 11 && ((const int32_t *)r->data)[1] == 10);
    tether_outputs_free(o);
    step = 0;
    CHECK_ERR(tether_session_run(s, t, 4, &o), TETHER_ERR_RUNTIME, "steps[0] is 0");
    tether_session_free(s);
}

TEST(split_tile_pad_and_depth_to_space_values)
{
    /* Split at opset 18 into 3 uneven parts with num_outputs: 3, 3, 1 */
    io in = {"x", TETHER_DTYPE_INT32, 1, {7}};
    io outs[3] = {
        {"p", TETHER_DTYPE_INT32, -1, {0}}, {"q", TETHER_DTYPE_INT32, -1, {0}}, {"r", TETHER_DTYPE_INT32, -1, {0}}};
    pbw num = ob_attr_int("num_outputs", 3);
    pbw m = node_model("Split", 18, 1, &in, 3, outs, 1, &num, 0, NULL);
    tether_session *s = open_model(&m);
    int32_t x[7] = {0, 1, 2, 3, 4, 5, 6};
    tether_tensor t = tensor("x", TETHER_DTYPE_INT32, 1, I64(7), x);
    tether_outputs *o;
    run_ok(s, &t, 1, &o);
    CHECK_EQ_INT(tether_outputs_get(o, 0)->dims[0], 3);
    CHECK_EQ_INT(tether_outputs_get(o, 1)->dims[0], 3);
    CHECK_EQ_INT(tether_outputs_get(o, 2)->dims[0], 1);
    CHECK_EQ_INT(((const int32_t *)tether_outputs_get(o, 1)->data)[2], 5);
    CHECK_EQ_INT(((const int32_t *)tether_outputs_get(o, 2)->data)[0], 6);
    tether_outputs_free(o);
    tether_session_free(s);
    /* before opset 18 an uneven split is an error naming the sizes */
    m = node_model("Split", 13, 1, &in, 3, outs, 0, NULL, 0, NULL);
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, NULL), TETHER_ERR_RUNTIME,
              "an axis of size 7 cannot be split into 3 equal parts");
    ob_free(&m);

    /* Pad reflect and wrap past the edge of a 3-element axis; edge; negative pads crop */
    const char *modes[3] = {"reflect", "wrap", "edge"};
    const int32_t want[3][9] = {{1, 2, 1, 0, 1, 2, 1, 0, 1}, {0, 1, 2, 0, 1, 2, 0, 1, 2}, {0, 0, 0, 0, 1, 2, 2, 2, 2}};
    io pin[2] = {{"x", TETHER_DTYPE_INT32, 1, {3}}, {"pads", 0, -2, {0}}};
    io pout = {"y", TETHER_DTYPE_INT32, -1, {0}};
    for (int k = 0; k < 3; k++) {
        pbw mode = ob_attr_string("mode", modes[k]);
        pbw pads = ob_tensor("pads", TETHER_DTYPE_INT64, 1, I64(2), I64(3, 3), 16);
        m = node_model("Pad", 18, 2, pin, 1, &pout, 1, &mode, 1, &pads);
        s = open_model(&m);
        tether_tensor pt = tensor("x", TETHER_DTYPE_INT32, 1, I64(3), x);
        const tether_tensor *y = run_ok(s, &pt, 1, &o);
        CHECK_EQ_INT(y->dims[0], 9);
        for (int i = 0; i < 9; i++)
            if (((const int32_t *)y->data)[i] != want[k][i])
                CHECK_FAIL("mode %s, element %d: %d != %d", modes[k], i, ((const int32_t *)y->data)[i], want[k][i]);
        tether_outputs_free(o);
        tether_session_free(s);
    }
    /* opset 2: pads and value as attributes; a negative pad crops */
    pbw pa[2] = {ob_attr_ints("pads", 2, I64(-2, 1)), ob_attr_float("value", 9.5f)};
    io cin = {"x", TETHER_DTYPE_FLOAT, 1, {5}};
    io cout = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    m = node_model("Pad", 2, 1, &cin, 1, &cout, 2, pa, 0, NULL);
    s = open_model(&m);
    float fx[5] = {0, 1, 2, 3, 4};
    tether_tensor ft = tensor("x", TETHER_DTYPE_FLOAT, 1, I64(5), fx);
    const tether_tensor *fy = run_ok(s, &ft, 1, &o);
    CHECK_EQ_INT(fy->dims[0], 4);
    const float fw[4] = {2, 3, 4, 9.5f};
    for (int i = 0; i < 4; i++)
        CHECK(((const float *)fy->data)[i] == fw[i]);
    tether_outputs_free(o);
    tether_session_free(s);

    /* DepthToSpace then SpaceToDepth is the identity, in both modes */
    for (int crd = 0; crd < 2; crd++) {
        pbw a[2] = {ob_attr_int("blocksize", 2), ob_attr_string("mode", crd ? "CRD" : "DCR")};
        pbw b = ob_attr_int("blocksize", 2);
        pbw xi = ob_input("x", TETHER_DTYPE_FLOAT, 4, I64(2, 8, 3, 5));
        pbw yo = ob_output("z", TETHER_DTYPE_FLOAT, -1, NULL);
        pbw n[2] = {ob_node("DepthToSpace", 1, (const char *[]){"x"}, 1, (const char *[]){"d"}, 2, a),
                    ob_node("SpaceToDepth", 1, (const char *[]){"d"}, 1, (const char *[]){"z"}, 1, &b)};
        pbw g = ob_graph("d2s", 2, n, 0, NULL, 1, &xi, 1, &yo);
        m = ob_model(13, &g);
        s = open_model(&m);
        float v[240];
        for (int i = 0; i < 240; i++)
            v[i] = (float)i;
        tether_tensor dt = tensor("x", TETHER_DTYPE_FLOAT, 4, I64(2, 8, 3, 5), v);
        const float *z = run_ok(s, &dt, 1, &o)->data;
        for (int i = 0; i < 240; i++)
            /* DCR round-trips exactly; CRD regroups channels as (c, b, b) -> (b, b, c) */
            if (!crd && z[i] != v[i])
                CHECK_FAIL("DCR round trip differs at %d", i);
        if (crd) { /* channel c*4 + k of x lands at channel k*2 + c of z */
            for (int nb = 0; nb < 2; nb++)
                for (int cc = 0; cc < 2; cc++)
                    for (int k = 0; k < 4; k++)
                        for (int hw = 0; hw < 15; hw++)
                            CHECK(z[(nb * 8 + k * 2 + cc) * 15 + hw] == v[(nb * 8 + cc * 4 + k) * 15 + hw]);
        }
        tether_outputs_free(o);
        tether_session_free(s);
    }
}

TEST(nonzero_unique_and_trilu_edge_cases)
{
    /* NonZero of a scalar has one coordinate row; -0.0 and NaN */
    io in = {"x", TETHER_DTYPE_FLOAT, 0, {0}};
    io out = {"y", TETHER_DTYPE_INT64, -1, {0}};
    pbw m = node_model("NonZero", 13, 1, &in, 1, &out, 0, NULL, 0, NULL);
    tether_session *s = open_model(&m);
    float v = 3;
    tether_tensor t = tensor("x", TETHER_DTYPE_FLOAT, 0, NULL, &v);
    tether_outputs *o;
    const tether_tensor *y = run_ok(s, &t, 1, &o);
    CHECK(y->rank == 2 && y->dims[0] == 1 && y->dims[1] == 1 && ((const int64_t *)y->data)[0] == 0);
    tether_outputs_free(o);
    tether_session_free(s);
    io in2 = {"x", TETHER_DTYPE_FLOAT, 2, {2, 2}};
    m = node_model("NonZero", 13, 1, &in2, 1, &out, 0, NULL, 0, NULL);
    s = open_model(&m);
    float w[4] = {-0.0f, NAN, 0, 1};
    t = tensor("x", TETHER_DTYPE_FLOAT, 2, I64(2, 2), w);
    y = run_ok(s, &t, 1, &o);
    CHECK(y->dims[0] == 2 && y->dims[1] == 2);
    const int64_t *c = y->data;
    CHECK(c[0] == 0 && c[1] == 1 && c[2] == 1 && c[3] == 1);
    tether_outputs_free(o);
    tether_session_free(s);

    /* Unique unsorted along axis 1, with only Y and counts wanted */
    pbw ua[2] = {ob_attr_int("axis", 1), ob_attr_int("sorted", 0)};
    pbw un = ob_node("Unique", 1, (const char *[]){"x"}, 4, (const char *[]){"y", "", "", "n"}, 2, ua);
    pbw ux = ob_input("x", TETHER_DTYPE_INT32, 2, I64(2, 4));
    pbw uo[2] = {ob_output("y", TETHER_DTYPE_INT32, -1, NULL), ob_output("n", TETHER_DTYPE_INT64, -1, NULL)};
    pbw g = ob_graph("u", 1, &un, 0, NULL, 1, &ux, 2, uo);
    m = ob_model(11, &g);
    s = open_model(&m);
    int32_t u[8] = {5, 1, 5, 0, /**/ 7, 2, 7, 0};
    t = tensor("x", TETHER_DTYPE_INT32, 2, I64(2, 4), u);
    y = run_ok(s, &t, 1, &o);
    CHECK(y->dims[0] == 2 && y->dims[1] == 3);
    const int32_t wy[6] = {5, 1, 0, 7, 2, 0};
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(((const int32_t *)y->data)[i], wy[i]);
    const int64_t *cnt = tether_outputs_get(o, 1)->data;
    CHECK(cnt[0] == 2 && cnt[1] == 1 && cnt[2] == 1);
    tether_outputs_free(o);
    tether_session_free(s);

    /* Trilu with a huge k keeps (upper) or clears (lower) everything */
    io tin[2] = {{"x", TETHER_DTYPE_FLOAT, 2, {2, 3}}, {"k", TETHER_DTYPE_INT64, 0, {0}}};
    io tout = {"y", TETHER_DTYPE_FLOAT, -1, {0}};
    for (int upper = 0; upper < 2; upper++) {
        pbw up = ob_attr_int("upper", upper);
        m = node_model("Trilu", 14, 2, tin, 1, &tout, 1, &up, 0, NULL);
        s = open_model(&m);
        float xv[6] = {1, 2, 3, 4, 5, 6};
        int64_t k = INT64_MIN;
        tether_tensor tt[2] = {tensor("x", TETHER_DTYPE_FLOAT, 2, I64(2, 3), xv),
                               tensor("k", TETHER_DTYPE_INT64, 0, NULL, &k)};
        const float *r = run_ok(s, tt, 2, &o)->data;
        for (int i = 0; i < 6; i++)
            CHECK(r[i] == (upper ? xv[i] : 0));
        tether_outputs_free(o);
        k = INT64_MAX;
        r = run_ok(s, tt, 2, &o)->data;
        for (int i = 0; i < 6; i++)
            CHECK(r[i] == (upper ? 0 : xv[i]));
        tether_outputs_free(o);
        tether_session_free(s);
    }
}

/* Index operands from the run's inputs at the edges of int64: each is an answer or an error
 * naming it, never undefined arithmetic (the sanitizer build aborts on signed overflow). */
TEST(slice_pad_reshape_take_int64_edge_values)
{
    static const int64_t edges[] = {INT64_MIN, INT64_MIN + 1, -((int64_t)1 << 62), INT32_MIN, -3, -1, 0,
                                    1, 3, INT32_MAX, (int64_t)1 << 62, INT64_MAX - 1, INT64_MAX};
    const int ne = (int)(sizeof edges / sizeof edges[0]);
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    tether_outputs *o;

    /* Slice: x[3, 4], every edge as start, end and step on axis 1 */
    const char *snames[5] = {"x", "s", "e", "a", "t"};
    pbw sins[5] = {ob_input("x", TETHER_DTYPE_FLOAT, 2, I64(3, 4)), ob_input("s", TETHER_DTYPE_INT64, 1, I64(1)),
                   ob_input("e", TETHER_DTYPE_INT64, 1, I64(1)), ob_input("a", TETHER_DTYPE_INT64, 1, I64(1)),
                   ob_input("t", TETHER_DTYPE_INT64, 1, I64(1))};
    pbw sy = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw sn = ob_node("Slice", 5, snames, 1, (const char *[]){"y"}, 0, NULL);
    pbw sg = ob_graph("slice", 1, &sn, 0, NULL, 5, sins, 1, &sy);
    pbw sm = ob_model(13, &sg);
    tether_session *s = open_model(&sm);
    int64_t st, en, ax = 1, step;
    tether_tensor t[5] = {tensor("x", TETHER_DTYPE_FLOAT, 2, I64(3, 4), x), tensor("s", TETHER_DTYPE_INT64, 1, I64(1), &st),
                          tensor("e", TETHER_DTYPE_INT64, 1, I64(1), &en), tensor("a", TETHER_DTYPE_INT64, 1, I64(1), &ax),
                          tensor("t", TETHER_DTYPE_INT64, 1, I64(1), &step)};
    int answered = 0;
    for (int a = 0; a < ne; a++)
        for (int b = 0; b < ne; b++)
            for (int c = 0; c < ne; c++) {
                st = edges[a], en = edges[b], step = edges[c];
                tether_status r = tether_session_run(s, t, 5, &o);
                if (step == 0) {
                    CHECK_EQ_INT(r, TETHER_ERR_RUNTIME);
                    continue;
                }
                CHECK_OK(r);
                const tether_tensor *y = tether_outputs_get(o, 0);
                CHECK(y->dims[0] == 3 && y->dims[1] >= 0 && y->dims[1] <= 4);
                answered++;
                tether_outputs_free(o);
            }
    CHECK_EQ_INT(answered, ne * ne * (ne - 1));
    /* x[:, INT64_MIN::INT64_MAX] is the first column only */
    st = INT64_MIN, en = INT64_MAX, step = INT64_MAX;
    const tether_tensor *y = run_ok(s, t, 5, &o);
    CHECK(y->dims[1] == 1 && ((const float *)y->data)[0] == 0 && ((const float *)y->data)[1] == 4);
    tether_outputs_free(o);
    tether_session_free(s);

    /* Pad: every pair of edges as the pads of axis 1, in every mode */
    static const char *modes[] = {"constant", "reflect", "edge", "wrap"};
    for (int md = 0; md < 4; md++) {
        const char *pnames[2] = {"x", "p"};
        pbw pins[2] = {ob_input("x", TETHER_DTYPE_FLOAT, 2, I64(3, 4)), ob_input("p", TETHER_DTYPE_INT64, 1, I64(4))};
        pbw py = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
        pbw attr = ob_attr_string("mode", modes[md]);
        pbw pn = ob_node("Pad", 2, pnames, 1, (const char *[]){"y"}, 1, &attr);
        pbw pg = ob_graph("pad", 1, &pn, 0, NULL, 2, pins, 1, &py);
        pbw pm = ob_model(13, &pg);
        s = open_model(&pm);
        int64_t pads[4] = {0, 0, 0, 0};
        tether_tensor pt[2] = {tensor("x", TETHER_DTYPE_FLOAT, 2, I64(3, 4), x),
                               tensor("p", TETHER_DTYPE_INT64, 1, I64(4), pads)};
        for (int a = 0; a < ne; a++)
            for (int b = 0; b < ne; b++) {
                pads[1] = edges[a], pads[3] = edges[b];
                tether_status r = tether_session_run(s, pt, 2, &o);
                int64_t w = 0;
                bool fits = !__builtin_add_overflow(4, edges[a], &w) && !__builtin_add_overflow(w, edges[b], &w) &&
                            w >= 0 && w <= 64 && edges[a] > INT64_MIN / 2 && edges[b] > INT64_MIN / 2;
                if (fits && !(md != 0 && w > 0 && (edges[a] <= -4 || edges[b] <= -4))) {
                    if (r != TETHER_OK)
                        CHECK_FAIL("Pad %s pads %lld, %lld: %s", modes[md], (long long)edges[a], (long long)edges[b],
                                   tether_last_error());
                    CHECK_EQ_INT(tether_outputs_get(o, 0)->dims[1], w);
                    tether_outputs_free(o);
                } else if (r == TETHER_OK) {
                    tether_outputs_free(o);
                } else {
                    CHECK(strstr(tether_last_error(), "Pad") != NULL);
                }
            }
        tether_session_free(s);
    }

    /* Reshape: edges in a 3-entry shape, with -1 and 0 among them */
    const char *rnames[2] = {"x", "sh"};
    pbw rins[2] = {ob_input("x", TETHER_DTYPE_FLOAT, 2, I64(3, 4)), ob_input("sh", TETHER_DTYPE_INT64, 1, I64(3))};
    pbw ry = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw rn = ob_node("Reshape", 2, rnames, 1, (const char *[]){"y"}, 0, NULL);
    pbw rg = ob_graph("reshape", 1, &rn, 0, NULL, 2, rins, 1, &ry);
    pbw rm = ob_model(14, &rg);
    s = open_model(&rm);
    int64_t shape[3];
    tether_tensor rt[2] = {tensor("x", TETHER_DTYPE_FLOAT, 2, I64(3, 4), x),
                           tensor("sh", TETHER_DTYPE_INT64, 1, I64(3), shape)};
    for (int a = 0; a < ne; a++)
        for (int b = 0; b < ne; b++) {
            shape[0] = edges[a], shape[1] = edges[b], shape[2] = -1;
            if (tether_session_run(s, rt, 2, &o) == TETHER_OK) {
                const tether_tensor *r = tether_outputs_get(o, 0);
                CHECK_EQ_INT(r->dims[0] * r->dims[1] * r->dims[2], 12);
                tether_outputs_free(o);
            }
        }
    shape[0] = (int64_t)1 << 40, shape[1] = (int64_t)1 << 40, shape[2] = -1;
    CHECK_ERR(tether_session_run(s, rt, 2, &o), TETHER_ERR_SHAPE, "overflows 64 bits");
    tether_session_free(s);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
