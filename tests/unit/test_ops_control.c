/* Control flow, sequences and recurrent layers beyond the ONNX suite: bodies reading
 * enclosing scopes, nested subgraphs, bounds errors that name positions, loops that stop
 * early or run away, values that outlive their arena slots, and RNN identities. */
#include "check.h"
#include "onnx_build.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#define NAMES(...) ((const char *[]){__VA_ARGS__})
#define NODE(op, ins, outs) ob_node(op, sizeof ins / sizeof *ins, ins, sizeof outs / sizeof *outs, outs, 0, NULL)

/* A value info with a name only: ONNX lets a subgraph leave its types to the node. */
static pbw untyped(const char *name)
{
    pbw vi = {0};
    pbw_str(&vi, 1, name);
    return vi;
}

static pbw constant(const char *out, int dtype, int rank, const int64_t *dims, const void *data, size_t nbytes)
{
    pbw t = ob_tensor(out, dtype, rank, dims, data, nbytes);
    pbw a = ob_attr_tensor("value", &t);
    return ob_node("Constant", 0, NULL, 1, NAMES(out), 1, &a);
}

static pbw bool_const(const char *out, uint8_t v)
{
    return constant(out, TETHER_DTYPE_BOOL, 0, NULL, &v, 1);
}
static pbw float_const(const char *out, float v)
{
    return constant(out, TETHER_DTYPE_FLOAT, 0, NULL, &v, 4);
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

static tether_tensor scalar_i64(const char *name, int64_t *v)
{
    return (tether_tensor){.name = name, .dtype = TETHER_DTYPE_INT64, .rank = 0, .data = v, .size = 8};
}

static tether_tensor floats(const char *name, int rank, const int64_t *dims, float *v)
{
    tether_tensor t = {.name = name, .dtype = TETHER_DTYPE_FLOAT, .rank = rank, .data = v};
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)(t.dims[i] = dims[i]);
    t.size = n * sizeof(float);
    return t;
}

static const float *out_floats(const tether_outputs *o, const char *name, int rank, const int64_t *dims)
{
    const tether_tensor *t = tether_outputs_find(o, name);
    CHECK(t != NULL);
    CHECK_EQ_INT(t->dtype, TETHER_DTYPE_FLOAT);
    CHECK_EQ_INT(t->rank, rank);
    for (int i = 0; i < rank; i++)
        CHECK_EQ_INT(t->dims[i], dims[i]);
    return t->data;
}

/* ---- Loop ------------------------------------------------------------------------------- */

/* y, ys = Loop(M, "", y0) with body y_out = y_in + x, where x is an input of the main graph
 * and the body's inputs are untyped. */
static pbw outer_scope_loop(void)
{
    pbw bin[3] = {ob_input("i", TETHER_DTYPE_INT64, 0, NULL), untyped("c"), untyped("y_in")};
    pbw bout[3] = {untyped("c_out"), untyped("y_out"), untyped("scan")};
    pbw bn[3] = {NODE("Identity", NAMES("c"), NAMES("c_out")), NODE("Add", NAMES("y_in", "x"), NAMES("y_out")),
                 NODE("Identity", NAMES("y_out"), NAMES("scan"))};
    pbw body = ob_graph("body", 3, bn, 0, NULL, 3, bin, 3, bout);
    pbw a = ob_attr_graph("body", &body);
    pbw loop = ob_node("Loop", 3, NAMES("M", "", "y0"), 2, NAMES("y", "ys"), 1, &a);
    pbw in[3] = {ob_input("M", TETHER_DTYPE_INT64, 0, NULL), ob_input("y0", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2}),
                 ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2})};
    pbw out[2] = {ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2}), ob_output("ys", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw g = ob_graph("outer_scope_loop", 1, &loop, 0, NULL, 3, in, 2, out);
    return ob_model(13, &g);
}

TEST(loop_reads_an_outer_scope_value)
{
    pbw m = outer_scope_loop();
    tether_session *s = open_model(&m);
    for (int64_t M = 0; M <= 5; M += 1) {
        float y0[2] = {1.0f, -2.0f}, x[2] = {0.5f, 3.0f};
        tether_tensor in[3] = {scalar_i64("M", &M), floats("y0", 1, (int64_t[]){2}, y0),
                               floats("x", 1, (int64_t[]){2}, x)};
        tether_outputs *o;
        CHECK_OK(tether_session_run(s, in, 3, &o));
        const float *y = out_floats(o, "y", 1, (int64_t[]){2});
        if (M == 0) {
            /* no iteration ran: the untyped body leaves only the step count known */
            const tether_tensor *ys = tether_outputs_find(o, "ys");
            CHECK(ys && ys->rank >= 1 && ys->dims[0] == 0);
        }
        const float *ys = M ? out_floats(o, "ys", 2, (int64_t[]){M, 2}) : NULL;
        for (int j = 0; j < 2; j++) {
            CHECK_NEAR(y[j], y0[j] + (float)M * x[j], 1e-6);
            for (int64_t k = 0; k < M; k++)
                CHECK_NEAR(ys[k * 2 + j], y0[j] + (float)(k + 1) * x[j], 1e-6);
        }
        tether_outputs_free(o);
    }
    tether_session_free(s);
}

/* flags = [true, false, true, false]; each iteration picks flags[i] and an If inside the
 * body adds 1 or subtracts 10, reading the body's acc_in and the main graph's constants. */
static pbw nested_if_loop(void)
{
    pbw then_n = NODE("Add", NAMES("acc_in", "one"), NAMES("o"));
    pbw else_n = NODE("Sub", NAMES("acc_in", "ten"), NAMES("o"));
    pbw then_out = untyped("o"), else_out = untyped("o");
    pbw then_g = ob_graph("then", 1, &then_n, 0, NULL, 0, NULL, 1, &then_out);
    pbw else_g = ob_graph("else", 1, &else_n, 0, NULL, 0, NULL, 1, &else_out);
    pbw branches[2] = {ob_attr_graph("then_branch", &then_g), ob_attr_graph("else_branch", &else_g)};
    pbw bn[4] = {NODE("SequenceAt", NAMES("flags", "i"), NAMES("b")),
                 ob_node("If", 1, NAMES("b"), 1, NAMES("v"), 2, branches), NODE("Identity", NAMES("c"), NAMES("c_out")),
                 NODE("Identity", NAMES("v"), NAMES("trace_v"))};
    pbw bin[3] = {ob_input("i", TETHER_DTYPE_INT64, 0, NULL), ob_input("c", TETHER_DTYPE_BOOL, 0, NULL),
                  ob_input("acc_in", TETHER_DTYPE_FLOAT, 0, NULL)};
    pbw bout[3] = {untyped("c_out"), untyped("v"), untyped("trace_v")};
    pbw body = ob_graph("body", 4, bn, 0, NULL, 3, bin, 3, bout);
    pbw a = ob_attr_graph("body", &body);
    pbw n[8] = {bool_const("t", 1),
                bool_const("f", 0),
                float_const("one", 1.0f),
                float_const("ten", 10.0f),
                float_const("acc0", 0.0f),
                NODE("SequenceConstruct", NAMES("t", "f", "t", "f"), NAMES("flags")),
                ob_node("Loop", 3, NAMES("M", "", "acc0"), 2, NAMES("acc", "trace"), 1, &a),
                NODE("Identity", NAMES("acc"), NAMES("acc_out"))};
    pbw in = ob_input("M", TETHER_DTYPE_INT64, 0, NULL);
    pbw out[2] = {ob_output("acc_out", TETHER_DTYPE_FLOAT, 0, NULL), ob_output("trace", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw g = ob_graph("nested_if_loop", 8, n, 0, NULL, 1, &in, 2, out);
    return ob_model(13, &g);
}

TEST(if_nested_inside_a_loop)
{
    pbw m = nested_if_loop();
    tether_session *s = open_model(&m);
    int64_t M = 4;
    tether_tensor in = scalar_i64("M", &M);
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    CHECK_NEAR(*out_floats(o, "acc_out", 0, NULL), -18.0f, 0);
    const float *trace = out_floats(o, "trace", 1, (int64_t[]){4});
    const float want[4] = {1, -9, -8, -18};
    for (int k = 0; k < 4; k++)
        CHECK_NEAR(trace[k], want[k], 0);
    tether_outputs_free(o);
    /* a fifth iteration reads flags[4]: the error names the position and the length */
    M = 5;
    CHECK_ERR(tether_session_run(s, &in, 1, &o), TETHER_ERR_RUNTIME,
              "position 4 is out of range for a sequence of length 4");
    tether_session_free(s);
}

/* The condition comes from flags[i] = [true, true, true, false]: iteration 3 says stop.
 * iters gathers the iteration numbers. */
static pbw early_exit_loop(void)
{
    pbw bn[3] = {NODE("SequenceAt", NAMES("flags", "i"), NAMES("c_out")),
                 NODE("Add", NAMES("y_in", "one"), NAMES("y_out")), NODE("Identity", NAMES("i"), NAMES("iters_i"))};
    pbw bin[3] = {ob_input("i", TETHER_DTYPE_INT64, 0, NULL), untyped("c"), untyped("y_in")};
    pbw bout[3] = {untyped("c_out"), untyped("y_out"), untyped("iters_i")};
    pbw body = ob_graph("body", 3, bn, 0, NULL, 3, bin, 3, bout);
    pbw a = ob_attr_graph("body", &body);
    pbw n[5] = {bool_const("t", 1), bool_const("f", 0), float_const("one", 1.0f),
                NODE("SequenceConstruct", NAMES("t", "t", "t", "f"), NAMES("flags")),
                ob_node("Loop", 3, NAMES("M", "", "y0"), 2, NAMES("y", "iters"), 1, &a)};
    pbw in[2] = {ob_input("M", TETHER_DTYPE_INT64, 0, NULL), ob_input("y0", TETHER_DTYPE_FLOAT, 0, NULL)};
    pbw out[2] = {ob_output("y", TETHER_DTYPE_FLOAT, 0, NULL), ob_output("iters", TETHER_DTYPE_INT64, -1, NULL)};
    pbw g = ob_graph("early_exit_loop", 5, n, 0, NULL, 2, in, 2, out);
    return ob_model(16, &g);
}

TEST(loop_with_a_huge_trip_count_exits_on_its_condition)
{
    pbw m = early_exit_loop();
    tether_session *s = open_model(&m);
    int64_t M = INT64_MAX;
    float y0 = 10.0f;
    tether_tensor in[2] = {scalar_i64("M", &M), floats("y0", 0, NULL, &y0)};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, in, 2, &o));
    CHECK_NEAR(*out_floats(o, "y", 0, NULL), 14.0f, 0);
    const tether_tensor *it = tether_outputs_find(o, "iters");
    CHECK(it && it->dtype == TETHER_DTYPE_INT64 && it->rank == 1 && it->dims[0] == 4);
    for (int k = 0; k < 4; k++)
        CHECK_EQ_INT(((const int64_t *)it->data)[k], k);
    tether_outputs_free(o);
    tether_session_free(s);
}

/* A loop whose condition never turns false, gathering a 4 KiB scan output per iteration. */
static pbw runaway_loop(void)
{
    pbw bn[2] = {NODE("Identity", NAMES("c"), NAMES("c_out")), NODE("Identity", NAMES("x"), NAMES("xs_i"))};
    pbw bin[2] = {ob_input("i", TETHER_DTYPE_INT64, 0, NULL), ob_input("c", TETHER_DTYPE_BOOL, 0, NULL)};
    pbw bout[2] = {untyped("c_out"), untyped("xs_i")};
    pbw body = ob_graph("body", 2, bn, 0, NULL, 2, bin, 2, bout);
    pbw a = ob_attr_graph("body", &body);
    pbw n[2] = {bool_const("t", 1), ob_node("Loop", 2, NAMES("M", "t"), 1, NAMES("xs"), 1, &a)};
    pbw in[2] = {ob_input("M", TETHER_DTYPE_INT64, 0, NULL), ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1024})};
    pbw out = ob_output("xs", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw g = ob_graph("runaway_loop", 2, n, 0, NULL, 2, in, 1, &out);
    return ob_model(13, &g);
}

TEST(runaway_loop_stops_at_the_tensor_size_limit)
{
    setenv("TETHER_MAX_TENSOR_BYTES", "1048576", 1); /* 256 iterations' worth */
    pbw m = runaway_loop();
    tether_session *s = open_model(&m);
    int64_t M = INT64_MAX;
    static float x[1024];
    tether_tensor in[2] = {scalar_i64("M", &M), floats("x", 1, (int64_t[]){1024}, x)};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, in, 2, &o), TETHER_ERR_SHAPE, "scan output 0 after 256 iterations");
    M = 100; /* within the limit, the same loop works */
    CHECK_OK(tether_session_run(s, in, 2, &o));
    out_floats(o, "xs", 2, (int64_t[]){100, 1024});
    tether_outputs_free(o);
    tether_session_free(s);
}

/* ---- If ------------------------------------------------------------------------------------ */

/* t = exp(x); y = If(c) { t } else { x }; u = y * y; z = y + u. The then-branch hands back
 * t, whose arena slot u takes once the If is done: y must not alias it. */
static pbw if_model(int cond_rank)
{
    pbw then_n = NODE("Identity", NAMES("t"), NAMES("o1")), else_n = NODE("Identity", NAMES("x"), NAMES("o2"));
    pbw then_out = untyped("o1"), else_out = untyped("o2");
    pbw then_g = ob_graph("then", 1, &then_n, 0, NULL, 0, NULL, 1, &then_out);
    pbw else_g = ob_graph("else", 1, &else_n, 0, NULL, 0, NULL, 1, &else_out);
    pbw br[2] = {ob_attr_graph("then_branch", &then_g), ob_attr_graph("else_branch", &else_g)};
    pbw n[4] = {NODE("Exp", NAMES("x"), NAMES("t")), ob_node("If", 1, NAMES("c"), 1, NAMES("y"), 2, br),
                NODE("Mul", NAMES("y", "y"), NAMES("u")), NODE("Add", NAMES("y", "u"), NAMES("z"))};
    pbw in[2] = {ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){8}),
                 ob_input("c", TETHER_DTYPE_BOOL, cond_rank, (int64_t[]){cond_rank ? 2 : 0})};
    pbw out = ob_output("z", TETHER_DTYPE_FLOAT, 1, (int64_t[]){8});
    pbw g = ob_graph("if_model", 4, n, 0, NULL, 2, in, 1, &out);
    return ob_model(13, &g);
}

TEST(if_result_outlives_the_arena_slot_of_its_source)
{
    pbw m = if_model(0);
    tether_session *s = open_model(&m);
    for (int run = 0; run < 4; run++) {
        float x[8];
        uint8_t c = run % 2 == 0;
        for (int i = 0; i < 8; i++)
            x[i] = 0.1f * (float)(i + run) - 0.3f;
        tether_tensor in[2] = {floats("x", 1, (int64_t[]){8}, x),
                               {.name = "c", .dtype = TETHER_DTYPE_BOOL, .rank = 0, .data = &c, .size = 1}};
        tether_outputs *o;
        CHECK_OK(tether_session_run(s, in, 2, &o));
        const float *z = out_floats(o, "z", 1, (int64_t[]){8});
        for (int i = 0; i < 8; i++) {
            float y = c ? expf(x[i]) : x[i];
            CHECK_NEAR(z[i], y + y * y, 1e-5);
        }
        tether_outputs_free(o);
    }
    tether_session_free(s);
}

TEST(if_condition_must_be_one_bool)
{
    pbw m = if_model(1);
    tether_session *s = open_model(&m);
    float x[8] = {0};
    uint8_t c[2] = {1, 0};
    tether_tensor in[2] = {floats("x", 1, (int64_t[]){8}, x),
                           {.name = "c", .dtype = TETHER_DTYPE_BOOL, .rank = 1, .dims = {2}, .data = c, .size = 2}};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, in, 2, &o), TETHER_ERR_RUNTIME,
              "the condition must be a tensor of one bool, got bool[2]");
    tether_session_free(s);
}

/* ---- sequences ------------------------------------------------------------------------------ */

/* s = [x, x + 1, x + 2]; y = op(s, p) (SequenceAt), or the length after SequenceErase /
 * SequenceInsert at p. */
static pbw seq_pos_model(const char *op)
{
    pbw n[6] = {float_const("one", 1.0f), NODE("Add", NAMES("x", "one"), NAMES("x1")),
                NODE("Add", NAMES("x1", "one"), NAMES("x2")),
                NODE("SequenceConstruct", NAMES("x", "x1", "x2"), NAMES("s"))};
    int nn = 5;
    bool at = strcmp(op, "SequenceAt") == 0;
    if (at)
        n[4] = NODE("SequenceAt", NAMES("s", "p"), NAMES("y"));
    else if (strcmp(op, "SequenceErase") == 0)
        n[4] = NODE("SequenceErase", NAMES("s", "p"), NAMES("e"));
    else
        n[4] = NODE("SequenceInsert", NAMES("s", "x", "p"), NAMES("e"));
    if (!at)
        n[nn++] = NODE("SequenceLength", NAMES("e"), NAMES("y"));
    pbw in[2] = {ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2}), ob_input("p", TETHER_DTYPE_INT64, 0, NULL)};
    pbw out = ob_output("y", at ? TETHER_DTYPE_FLOAT : TETHER_DTYPE_INT64, -1, NULL);
    pbw g = ob_graph("seq_pos", nn, n, 0, NULL, 2, in, 1, &out);
    return ob_model(13, &g);
}

static tether_status run_pos(tether_session *s, int64_t p, tether_outputs **o)
{
    static float x[2] = {5.0f, 7.0f};
    tether_tensor in[2] = {floats("x", 1, (int64_t[]){2}, x), scalar_i64("p", &p)};
    return tether_session_run(s, in, 2, o);
}

TEST(sequence_at_out_of_range_is_a_clear_error)
{
    pbw m = seq_pos_model("SequenceAt");
    tether_session *s = open_model(&m);
    tether_outputs *o;
    for (int64_t p = -3; p < 3; p++) {
        CHECK_OK(run_pos(s, p, &o));
        const float *y = out_floats(o, "y", 1, (int64_t[]){2});
        CHECK_NEAR(y[0], 5.0f + (float)(p < 0 ? p + 3 : p), 0);
        tether_outputs_free(o);
    }
    CHECK_ERR(run_pos(s, 3, &o), TETHER_ERR_RUNTIME, "position 3 is out of range for a sequence of length 3");
    CHECK_ERR(run_pos(s, -4, &o), TETHER_ERR_RUNTIME, "position -4 is out of range for a sequence of length 3");
    CHECK_ERR(run_pos(s, INT64_MIN, &o), TETHER_ERR_RUNTIME, "out of range for a sequence of length 3");
    tether_session_free(s);
}

TEST(sequence_erase_and_insert_check_positions)
{
    const char *ops[2] = {"SequenceErase", "SequenceInsert"};
    for (int k = 0; k < 2; k++) {
        pbw m = seq_pos_model(ops[k]);
        tether_session *s = open_model(&m);
        tether_outputs *o;
        int64_t hi = k ? 3 : 2; /* inserting may append */
        for (int64_t p = -3; p <= hi; p++) {
            CHECK_OK(run_pos(s, p, &o));
            const tether_tensor *y = tether_outputs_find(o, "y");
            CHECK(y && y->dtype == TETHER_DTYPE_INT64);
            CHECK_EQ_INT(*(const int64_t *)y->data, k ? 4 : 2);
            tether_outputs_free(o);
        }
        CHECK_ERR(run_pos(s, hi + 1, &o), TETHER_ERR_RUNTIME, "out of range for a sequence of length 3");
        CHECK_ERR(run_pos(s, -4, &o), TETHER_ERR_RUNTIME, "position -4 is out of range");
        tether_session_free(s);
    }
}

/* ---- Scan ---------------------------------------------------------------------------------- */

static pbw scan8_model(void)
{
    pbw bn[2] = {NODE("Add", NAMES("s_in", "x"), NAMES("s_out")), NODE("Identity", NAMES("s_out"), NAMES("o"))};
    pbw bin[2] = {ob_input("s_in", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2}),
                  ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2})};
    pbw bout[2] = {untyped("s_out"), untyped("o")};
    pbw body = ob_graph("body", 2, bn, 0, NULL, 2, bin, 2, bout);
    pbw a[2] = {ob_attr_graph("body", &body), ob_attr_int("num_scan_inputs", 1)};
    pbw n = ob_node("Scan", 3, NAMES("lens", "s0", "X"), 2, NAMES("S", "O"), 2, a);
    pbw in[3] = {ob_input("lens", TETHER_DTYPE_INT64, 1, (int64_t[]){2}),
                 ob_input("s0", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 2}),
                 ob_input("X", TETHER_DTYPE_FLOAT, 3, (int64_t[]){2, 3, 2})};
    pbw out[2] = {ob_output("S", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("O", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw g = ob_graph("scan8", 1, &n, 0, NULL, 3, in, 2, out);
    return ob_model(8, &g);
}

TEST(scan8_pads_short_sequences_and_checks_their_lengths)
{
    pbw m = scan8_model();
    tether_session *s = open_model(&m);
    int64_t lens[2] = {3, 1};
    float s0[4] = {0, 0, 100, 100}, X[12];
    for (int i = 0; i < 12; i++)
        X[i] = (float)i;
    tether_tensor in[3] = {
        {.name = "lens", .dtype = TETHER_DTYPE_INT64, .rank = 1, .dims = {2}, .data = lens, .size = 16},
        floats("s0", 2, (int64_t[]){2, 2}, s0),
        floats("X", 3, (int64_t[]){2, 3, 2}, X)};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, in, 3, &o));
    const float *S = out_floats(o, "S", 2, (int64_t[]){2, 2});
    const float *O = out_floats(o, "O", 3, (int64_t[]){2, 3, 2});
    const float wantS[4] = {0 + 2 + 4, 1 + 3 + 5, 106, 107};
    const float wantO[12] = {0, 1, 2, 4, 6, 9, 106, 107, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(S[i], wantS[i], 0);
    for (int i = 0; i < 12; i++)
        CHECK_NEAR(O[i], wantO[i], 0);
    tether_outputs_free(o);
    lens[1] = 4;
    CHECK_ERR(tether_session_run(s, in, 3, &o), TETHER_ERR_RUNTIME, "sequence_lens[1] = 4 is out of range [0, 3]");
    tether_session_free(s);
}

/* ---- recurrent layers -------------------------------------------------------------------------- */

/* A GRU (linear_before_reset) or LSTM over X [S, B, I] with fixed pseudo-random weights for
 * directions `dirs` of a bidirectional layer (dirs = 3: both, 1: the forward half, 2: the
 * backward half run as "reverse"), and optional sequence lengths. */
enum { HID = 3, IN = 2 };

static float weight(int d, int k)
{
    return sinf(0.7f * (float)(k + 1) + 1.3f * (float)d) * 0.6f;
}

static pbw rnn_model(const char *op, int S, int B, int dirs, bool lens)
{
    int G = strcmp(op, "GRU") == 0 ? 3 : 4, D = dirs == 3 ? 2 : 1;
    float W[2 * 4 * HID * IN], R[2 * 4 * HID * HID], Bi[2 * 8 * HID];
    for (int d = 0, o = 0; d < 2; d++) {
        if (!(dirs & (1 << d)))
            continue;
        for (int k = 0; k < G * HID * IN; k++)
            W[o * G * HID * IN + k] = weight(d, k);
        for (int k = 0; k < G * HID * HID; k++)
            R[o * G * HID * HID + k] = weight(d + 5, k);
        for (int k = 0; k < 2 * G * HID; k++)
            Bi[o * 2 * G * HID + k] = weight(d + 9, k);
        o++;
    }
    pbw init[3] = {
        ob_tensor("W", TETHER_DTYPE_FLOAT, 3, (int64_t[]){D, G * HID, IN}, W, sizeof(float) * D * G * HID * IN),
        ob_tensor("R", TETHER_DTYPE_FLOAT, 3, (int64_t[]){D, G * HID, HID}, R, sizeof(float) * D * G * HID * HID),
        ob_tensor("B", TETHER_DTYPE_FLOAT, 2, (int64_t[]){D, 2 * G * HID}, Bi, sizeof(float) * D * 2 * G * HID)};
    pbw a[3] = {ob_attr_int("hidden_size", HID),
                ob_attr_string("direction", dirs == 3   ? "bidirectional"
                                            : dirs == 2 ? "reverse"
                                                        : "forward"),
                ob_attr_int("linear_before_reset", 1)};
    if (G != 3)
        ob_free(&a[2]); /* linear_before_reset is GRU's */
    pbw n = ob_node(op, 5, NAMES("X", "W", "R", "B", lens ? "lens" : ""), 2, NAMES("Y", "Y_h"), G == 3 ? 3 : 2, a);
    pbw in[2] = {ob_input("X", TETHER_DTYPE_FLOAT, 3, (int64_t[]){S, B, IN}),
                 ob_input("lens", TETHER_DTYPE_INT32, 1, (int64_t[]){B})};
    pbw out[2] = {ob_output("Y", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("Y_h", TETHER_DTYPE_FLOAT, -1, NULL)};
    if (!lens)
        ob_free(&in[1]);
    pbw g = ob_graph("rnn", 1, &n, 3, init, lens ? 2 : 1, in, 2, out);
    return ob_model(14, &g);
}

static tether_outputs *run_rnn(const char *op, int S, int B, int dirs, const float *X, const int32_t *lens)
{
    pbw m = rnn_model(op, S, B, dirs, lens != NULL);
    tether_session *s = open_model(&m);
    tether_tensor in[2] = {floats("X", 3, (int64_t[]){S, B, IN}, (float *)X),
                           {.name = "lens",
                            .dtype = TETHER_DTYPE_INT32,
                            .rank = 1,
                            .dims = {B},
                            .data = (void *)lens,
                            .size = sizeof(int32_t) * (size_t)B}};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, in, lens ? 2 : 1, &o));
    tether_session_free(s);
    return o;
}

TEST(bidirectional_layers_are_a_forward_and_a_reverse_layer)
{
    const char *ops[2] = {"GRU", "LSTM"};
    enum { S = 4, B = 2 };
    float X[S * B * IN];
    for (int i = 0; i < S * B * IN; i++)
        X[i] = cosf(0.9f * (float)i);
    for (int k = 0; k < 2; k++) {
        tether_outputs *bi = run_rnn(ops[k], S, B, 3, X, NULL), *fw = run_rnn(ops[k], S, B, 1, X, NULL),
                       *bw = run_rnn(ops[k], S, B, 2, X, NULL);
        const float *Y = out_floats(bi, "Y", 4, (int64_t[]){S, 2, B, HID});
        const float *Yh = out_floats(bi, "Y_h", 3, (int64_t[]){2, B, HID});
        const float *half[2] = {out_floats(fw, "Y", 4, (int64_t[]){S, 1, B, HID}),
                                out_floats(bw, "Y", 4, (int64_t[]){S, 1, B, HID})};
        const float *half_h[2] = {out_floats(fw, "Y_h", 3, (int64_t[]){1, B, HID}),
                                  out_floats(bw, "Y_h", 3, (int64_t[]){1, B, HID})};
        for (int d = 0; d < 2; d++) {
            for (int t = 0; t < S; t++)
                for (int j = 0; j < B * HID; j++)
                    CHECK_NEAR(Y[(t * 2 + d) * B * HID + j], half[d][t * B * HID + j], 1e-6);
            for (int j = 0; j < B * HID; j++)
                CHECK_NEAR(Yh[d * B * HID + j], half_h[d][j], 1e-6);
        }
        /* the reverse half ends at t = 0 */
        for (int j = 0; j < B * HID; j++)
            CHECK_NEAR(Yh[B * HID + j], Y[(0 * 2 + 1) * B * HID + j], 1e-6);
        tether_outputs_free(bi);
        tether_outputs_free(fw);
        tether_outputs_free(bw);
    }
}

TEST(sequence_lens_stop_each_row_at_its_length)
{
    enum { S = 5, B = 2 };
    float X[S * B * IN];
    for (int i = 0; i < S * B * IN; i++)
        X[i] = sinf(0.37f * (float)i);
    const int32_t lens[B] = {5, 2};
    for (int dirs = 1; dirs <= 2; dirs++) {
        tether_outputs *o = run_rnn("LSTM", S, B, dirs, X, lens);
        /* row 1 alone over its first two steps */
        float X1[2 * IN];
        for (int t = 0; t < 2; t++)
            memcpy(X1 + t * IN, X + (t * B + 1) * IN, sizeof(float) * IN);
        tether_outputs *alone = run_rnn("LSTM", 2, 1, dirs, X1, NULL);
        const float *Y = out_floats(o, "Y", 4, (int64_t[]){S, 1, B, HID});
        const float *Yh = out_floats(o, "Y_h", 3, (int64_t[]){1, B, HID});
        const float *Ya = out_floats(alone, "Y", 4, (int64_t[]){2, 1, 1, HID});
        const float *Yha = out_floats(alone, "Y_h", 3, (int64_t[]){1, 1, HID});
        for (int j = 0; j < HID; j++) {
            CHECK_NEAR(Yh[HID + j], Yha[j], 1e-6);
            for (int t = 0; t < 2; t++)
                CHECK_NEAR(Y[(t * B + 1) * HID + j], Ya[t * HID + j], 1e-6);
            for (int t = 2; t < S; t++)
                CHECK_NEAR(Y[(t * B + 1) * HID + j], 0.0f, 0); /* past the row's end */
        }
        tether_outputs_free(o);
        tether_outputs_free(alone);
    }
    int32_t bad[B] = {5, 6};
    pbw m = rnn_model("GRU", S, B, 1, true);
    tether_session *s = open_model(&m);
    tether_tensor in[2] = {
        floats("X", 3, (int64_t[]){S, B, IN}, X),
        {.name = "lens", .dtype = TETHER_DTYPE_INT32, .rank = 1, .dims = {B}, .data = bad, .size = sizeof bad}};
    tether_outputs *o;
    CHECK_ERR(tether_session_run(s, in, 2, &o), TETHER_ERR_RUNTIME, "sequence_lens[1] = 6 is out of range [0, 5]");
    tether_session_free(s);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
