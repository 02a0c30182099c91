/* Reductions, softmax, TopK, CumSum, the losses, quantisation and the integer products: what
 * the ONNX backend suite does not check. Bad labels, K and axes fail with messages naming the
 * value; reductions over nothing give the fold's identity; long rows and large reductions
 * (split over threads) agree with double-precision sums. */
#include "check.h"
#include "onnx_build.h"

#include <stdbool.h>
#include <stdint.h>

/* A graph input or output. rank -1 declares no shape: scalars are declared so, as the builder
 * cannot write an empty shape; dims -1 are symbolic, all of them the same symbol "N". */
typedef struct io {
    const char *name;
    int dtype, rank;
    int64_t dims[4];
} io;

/* A one-node model with graph inputs ins and outputs outs (unknown shapes). */
static pbw model(const char *op, int64_t opset, int nin, const io *ins, int nout, const io *outs, int nattr, pbw *attrs)
{
    const char *in_names[8], *out_names[4];
    pbw vis[8], ovis[4];
    for (int i = 0; i < nin; i++) {
        in_names[i] = ins[i].name;
        vis[i] = ob_input(ins[i].name, ins[i].dtype, ins[i].rank, ins[i].dims);
    }
    for (int i = 0; i < nout; i++) {
        out_names[i] = outs[i].name;
        ovis[i] = ob_output(outs[i].name, outs[i].dtype, outs[i].rank, outs[i].dims);
    }
    pbw n = ob_node(op, nin, in_names, nout, out_names, nattr, attrs);
    pbw g = ob_graph("g", 1, &n, 0, NULL, nin, vis, nout, ovis);
    return ob_model(opset, &g);
}

static tether_status open_model(pbw *m, tether_session **s)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_status st = tether_session_open_bytes(s, m->buf, m->len, &cfg);
    ob_free(m);
    return st;
}

static tether_session *must_open(pbw m)
{
    tether_session *s = NULL;
    CHECK_OK(open_model(&m, &s));
    return s;
}

static tether_tensor tensor(const char *name, int dtype, int rank, const int64_t *dims, void *data)
{
    tether_tensor t = {.name = name, .dtype = dtype, .rank = rank, .data = data};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t.size = n * tether_dtype_size(dtype);
    return t;
}

/* A deterministic spread of values in [-scale, scale). */
static float value(uint64_t i, float scale)
{
    uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 31;
    return (float)((double)(h >> 11) / 9007199254740992.0 * 2 - 1) * scale;
}

/* ---- losses: labels are bounds-checked ---------------------------------------------------- */

static tether_session *loss_session(const char *op, int64_t ignore_index, bool with_ii)
{
    io ins[2] = {{"x", TETHER_DTYPE_FLOAT, 2, {2, 3}}, {"t", TETHER_DTYPE_INT64, 1, {2}}};
    io outs[1] = {{"loss", TETHER_DTYPE_FLOAT, -1, {0}}};
    pbw attrs[2] = {ob_attr_string("reduction", "mean")};
    if (with_ii)
        attrs[1] = ob_attr_int("ignore_index", ignore_index);
    return must_open(model(op, 13, 2, ins, 1, outs, with_ii ? 2 : 1, attrs));
}

static tether_status run_loss(tether_session *s, int64_t l0, int64_t l1, float *loss)
{
    float x[6] = {-1, -2, -3, -4, -5, -6};
    int64_t t[2] = {l0, l1};
    tether_tensor in[2] = {tensor("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 3}, x),
                           tensor("t", TETHER_DTYPE_INT64, 1, (int64_t[]){2}, t)};
    tether_outputs *out;
    tether_status st = tether_session_run(s, in, 2, &out);
    if (st == TETHER_OK) {
        *loss = *(const float *)tether_outputs_get(out, 0)->data;
        tether_outputs_free(out);
    }
    return st;
}

TEST(nll_rejects_labels_out_of_range)
{
    tether_session *s = loss_session("NegativeLogLikelihoodLoss", 0, false);
    float loss;
    CHECK_ERR(run_loss(s, 1, 3, &loss), TETHER_ERR_RUNTIME, "label 3 at position 1 is out of range [0, 3)");
    CHECK_ERR(run_loss(s, -1, 0, &loss), TETHER_ERR_RUNTIME, "label -1 at position 0 is out of range [0, 3)");
    CHECK_ERR(run_loss(s, INT64_MIN, 0, &loss), TETHER_ERR_RUNTIME, "label -9223372036854775808");
    CHECK_OK(run_loss(s, 2, 0, &loss));
    CHECK_NEAR(loss, (3 + 4) / 2.0, 1e-6);
    tether_session_free(s);
}

TEST(nll_ignore_index_may_lie_outside_the_classes)
{
    tether_session *s = loss_session("NegativeLogLikelihoodLoss", -100, true);
    float loss;
    CHECK_OK(run_loss(s, 1, -100, &loss)); /* the mean is over the counted label only */
    CHECK_NEAR(loss, 2, 1e-6);
    CHECK_ERR(run_loss(s, 1, -99, &loss), TETHER_ERR_RUNTIME,
              "label -99 at position 1 is out of range [0, 3) and is not the ignore_index");
    CHECK_OK(run_loss(s, -100, -100, &loss)); /* nothing counted: 0 / 0 */
    CHECK(isnan(loss));
    tether_session_free(s);
}

TEST(sce_rejects_labels_out_of_range)
{
    tether_session *s = loss_session("SoftmaxCrossEntropyLoss", 5, true);
    float loss;
    CHECK_ERR(run_loss(s, 0, 7, &loss), TETHER_ERR_RUNTIME, "label 7 at position 1");
    CHECK_OK(run_loss(s, 5, 0, &loss));
    /* row 1 = [-4, -5, -6]: -log_softmax at 0 */
    double want = log(1 + exp(-1.0) + exp(-2.0));
    CHECK_NEAR(loss, want, 1e-6);
    tether_session_free(s);
}

TEST(loss_rejects_mismatched_labels_shape)
{
    io ins[2] = {{"x", TETHER_DTYPE_FLOAT, 2, {2, 3}}, {"t", TETHER_DTYPE_INT64, 1, {-1}}};
    io outs[1] = {{"loss", TETHER_DTYPE_FLOAT, -1, {0}}};
    tether_session *s = must_open(model("NegativeLogLikelihoodLoss", 13, 2, ins, 1, outs, 0, NULL));
    float x[6] = {0};
    int64_t t[3] = {0, 1, 2};
    tether_tensor in[2] = {tensor("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 3}, x),
                           tensor("t", TETHER_DTYPE_INT64, 1, (int64_t[]){3}, t)};
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, in, 2, &out), TETHER_ERR_SHAPE, "labels [3] do not fit input [2,3]");
    tether_session_free(s);
}

/* ---- TopK ----------------------------------------------------------------------------------- */

static tether_session *topk_session(int largest)
{
    io ins[2] = {{"x", TETHER_DTYPE_FLOAT, 1, {-1}}, {"k", TETHER_DTYPE_INT64, 1, {1}}};
    io outs[2] = {{"v", TETHER_DTYPE_FLOAT, -1, {0}}, {"i", TETHER_DTYPE_INT64, -1, {0}}};
    pbw attrs[1] = {ob_attr_int("largest", largest)};
    return must_open(model("TopK", 11, 2, ins, 2, outs, 1, attrs));
}

static tether_status run_topk(tether_session *s, float *x, int64_t n, int64_t k, tether_outputs **out)
{
    tether_tensor in[2] = {tensor("x", TETHER_DTYPE_FLOAT, 1, &n, x),
                           tensor("k", TETHER_DTYPE_INT64, 1, (int64_t[]){1}, &k)};
    return tether_session_run(s, in, 2, out);
}

TEST(topk_rejects_k_outside_the_axis)
{
    tether_session *s = topk_session(1);
    float x[4] = {1, 2, 3, 4};
    tether_outputs *out;
    CHECK_ERR(run_topk(s, x, 4, 5, &out), TETHER_ERR_RUNTIME, "k = 5 is out of range [0, 4] for axis 0");
    CHECK_ERR(run_topk(s, x, 4, -1, &out), TETHER_ERR_RUNTIME, "k = -1 is out of range");
    CHECK_OK(run_topk(s, x, 4, 0, &out));
    CHECK_EQ_INT(tether_outputs_get(out, 0)->dims[0], 0);
    tether_outputs_free(out);
    tether_session_free(s);
}

TEST(topk_keeps_equal_values_in_index_order)
{
    float x[7] = {3, 1, 3, NAN, 2, 3, 1};
    for (int largest = 0; largest <= 1; largest++) {
        tether_session *s = topk_session(largest);
        tether_outputs *out;
        CHECK_OK(run_topk(s, x, 7, 5, &out));
        const int64_t *idx = tether_outputs_get(out, 1)->data;
        const float *v = tether_outputs_get(out, 0)->data;
        /* NaN ranks above every number, as in numpy; ties keep the lower index first */
        static const int64_t want_large[5] = {3, 0, 2, 5, 4}, want_small[5] = {1, 6, 4, 0, 2};
        for (int i = 0; i < 5; i++) {
            CHECK_EQ_INT(idx[i], largest ? want_large[i] : want_small[i]);
            CHECK(v[i] == x[idx[i]] || (isnan(v[i]) && isnan(x[idx[i]])));
        }
        tether_outputs_free(out);
        tether_session_free(s);
    }
}

TEST(topk_runs_when_the_model_takes_only_the_indices)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){5});
    pbw k = ob_input("k", TETHER_DTYPE_INT64, 1, (int64_t[]){1});
    pbw i = ob_output("i", TETHER_DTYPE_INT64, -1, NULL);
    pbw n = ob_node("TopK", 2, (const char *[]){"x", "k"}, 2, (const char *[]){"", "i"}, 0, NULL);
    pbw ins[2] = {x, k};
    pbw g = ob_graph("g", 1, &n, 0, NULL, 2, ins, 1, &i);
    tether_session *s = must_open(ob_model(11, &g));
    float xv[5] = {1, 5, 2, 4, 3};
    tether_outputs *out;
    CHECK_OK(run_topk(s, xv, 5, 2, &out));
    const int64_t *idx = tether_outputs_get(out, 0)->data;
    CHECK_EQ_INT(idx[0], 1);
    CHECK_EQ_INT(idx[1], 3);
    tether_outputs_free(out);
    tether_session_free(s);
}

/* ---- reductions ------------------------------------------------------------------------------ */

/* Reduces x [2, 0, 3] over axis 1: every output folds nothing. */
static void check_empty(const char *op, int dtype, double want)
{
    io ins[1] = {{"x", dtype, 3, {2, 0, 3}}};
    io outs[1] = {{"y", dtype, -1, {0}}};
    pbw attrs[2] = {ob_attr_ints("axes", 1, (int64_t[]){1}), ob_attr_int("keepdims", 0)};
    tether_session *s = must_open(model(op, 13, 1, ins, 1, outs, 2, attrs));
    char dummy[8];
    tether_tensor in = tensor("x", dtype, 3, (int64_t[]){2, 0, 3}, dummy);
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    const tether_tensor *y = tether_outputs_get(out, 0);
    CHECK_EQ_INT(y->rank, 2);
    CHECK_EQ_INT(y->dims[0] * y->dims[1], 6);
    for (int i = 0; i < 6; i++) {
        double v = ((int32_t *)y->data)[i]; /* not a ?: which would round it through float */
        if (dtype == TETHER_DTYPE_FLOAT)
            v = ((float *)y->data)[i];
        if (isnan(want) ? !isnan(v) : v != want)
            CHECK_FAIL("%s of nothing: got %.17g, expected %.17g", op, v, want);
    }
    tether_outputs_free(out);
    tether_session_free(s);
}

TEST(reductions_over_nothing_give_the_identity)
{
    check_empty("ReduceMean", TETHER_DTYPE_FLOAT, NAN);
    check_empty("ReduceMax", TETHER_DTYPE_FLOAT, -INFINITY);
    check_empty("ReduceMin", TETHER_DTYPE_FLOAT, INFINITY);
    check_empty("ReduceProd", TETHER_DTYPE_FLOAT, 1);
    check_empty("ReduceL2", TETHER_DTYPE_FLOAT, 0);
    check_empty("ReduceLogSumExp", TETHER_DTYPE_FLOAT, -INFINITY);
    check_empty("ReduceSumSquare", TETHER_DTYPE_FLOAT, 0);
    check_empty("ReduceMax", TETHER_DTYPE_INT32, INT32_MIN);
    check_empty("ReduceMin", TETHER_DTYPE_INT32, INT32_MAX);
    check_empty("ReduceLogSum", TETHER_DTYPE_INT32, INT32_MIN); /* log 0 = -inf, saturated */
    check_empty("ReduceMean", TETHER_DTYPE_INT32, 0);
}

/* x of unknown shape, or of shape [2, 3, 4] with known_x; axes of unknown length */
static tether_session *reduce_sum_session(int keepdims, int noop, bool known_x)
{
    io ins[2] = {{"x", TETHER_DTYPE_FLOAT, known_x ? 3 : -1, {2, 3, 4}}, {"axes", TETHER_DTYPE_INT64, 1, {-1}}};
    io outs[1] = {{"y", TETHER_DTYPE_FLOAT, -1, {0}}};
    pbw attrs[2] = {ob_attr_int("keepdims", keepdims), ob_attr_int("noop_with_empty_axes", noop)};
    return must_open(model("ReduceSum", 13, 2, ins, 1, outs, 2, attrs));
}

static tether_status run_reduce_sum(tether_session *s, float *x, int rank, const int64_t *dims, int64_t *axes,
                                    int64_t naxes, tether_outputs **out)
{
    tether_tensor in[2] = {tensor("x", TETHER_DTYPE_FLOAT, rank, dims, x),
                           tensor("axes", TETHER_DTYPE_INT64, 1, &naxes, axes)};
    return tether_session_run(s, in, 2, out);
}

TEST(reduce_axes_are_checked)
{
    tether_session *s = reduce_sum_session(1, 0, false);
    float x[6] = {1, 2, 3, 4, 5, 6};
    tether_outputs *out;
    CHECK_ERR(run_reduce_sum(s, x, 2, (int64_t[]){2, 3}, (int64_t[]){1, -1}, 2, &out), TETHER_ERR_SHAPE,
              "axis -1 is given twice");
    CHECK_ERR(run_reduce_sum(s, x, 2, (int64_t[]){2, 3}, (int64_t[]){2}, 1, &out), TETHER_ERR_SHAPE,
              "axis 2 is out of range for rank 2");
    CHECK_OK(run_reduce_sum(s, x, 2, (int64_t[]){2, 3}, (int64_t[]){-2}, 1, &out));
    const tether_tensor *y = tether_outputs_get(out, 0);
    CHECK_EQ_INT(y->rank, 2);
    CHECK_EQ_INT(y->dims[0], 1);
    CHECK_NEAR(((float *)y->data)[2], 9, 0);
    tether_outputs_free(out);
    tether_session_free(s);

    io ins[1] = {{"x", TETHER_DTYPE_FLOAT, 2, {2, 3}}};
    io outs[1] = {{"y", TETHER_DTYPE_FLOAT, -1, {0}}};
    pbw attrs[1] = {ob_attr_ints("axes", 2, (int64_t[]){0, 0})};
    pbw m = model("ReduceMean", 13, 1, ins, 1, outs, 1, attrs);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "axis 0 is given twice");
}

TEST(reduce_with_axes_unknown_at_load_still_knows_the_rank)
{
    tether_session *s = reduce_sum_session(1, 0, true);
    tether_value_info info;
    CHECK_OK(tether_session_output_info(s, 0, &info));
    CHECK_EQ_INT(info.dtype, TETHER_DTYPE_FLOAT);
    CHECK_EQ_INT(info.rank, 3);
    tether_session_free(s);
}

TEST(reduce_sum_empty_axes_reduce_all_or_nothing)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    tether_outputs *out;
    tether_session *s = reduce_sum_session(0, 0, false);
    CHECK_OK(run_reduce_sum(s, x, 2, (int64_t[]){2, 3}, NULL, 0, &out));
    CHECK_EQ_INT(tether_outputs_get(out, 0)->rank, 0);
    CHECK_NEAR(*(float *)tether_outputs_get(out, 0)->data, 21, 0);
    tether_outputs_free(out);
    tether_session_free(s);
    s = reduce_sum_session(0, 1, false);
    CHECK_OK(run_reduce_sum(s, x, 2, (int64_t[]){2, 3}, NULL, 0, &out));
    CHECK_EQ_INT(tether_outputs_get(out, 0)->rank, 2);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(((float *)tether_outputs_get(out, 0)->data)[i], x[i], 0);
    tether_outputs_free(out);
    tether_session_free(s);
}

/* Large reductions are split over threads (by outputs, or by chunks of the reduced dims whose
 * partial sums are merged); each result must match a double-precision sum. */
TEST(large_reductions_match_double_sums)
{
    enum { R = 1000, C = 3000 };
    float *x = malloc(sizeof(float) * R * C);
    for (int64_t i = 0; i < (int64_t)R * C; i++)
        x[i] = value((uint64_t)i, 4);
    tether_session *s = reduce_sum_session(0, 0, false);
    int64_t dims[2] = {R, C};
    double *rows = calloc(R, sizeof(double)), *cols = calloc(C, sizeof(double)), all = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            rows[r] += x[r * C + c];
            cols[c] += x[r * C + c];
            all += x[r * C + c];
        }
    for (int64_t axis = -1; axis <= 1; axis++) {
        tether_outputs *out;
        int64_t naxes = axis < 0 ? 0 : 1;
        CHECK_OK(run_reduce_sum(s, x, 2, dims, &axis, naxes, &out));
        const float *y = tether_outputs_get(out, 0)->data;
        const double *want = axis < 0 ? &all : axis == 0 ? cols : rows;
        int64_t n_out = axis < 0 ? 1 : axis == 0 ? C : R;
        for (int64_t o = 0; o < n_out; o++)
            CHECK_NEAR(y[o], want[o], 1e-5 * (R * C / (double)n_out));
        tether_outputs_free(out);
    }
    free(rows);
    free(cols);
    tether_session_free(s);
    free(x);
}

TEST(argmax_over_an_empty_axis_fails)
{
    io ins[1] = {{"x", TETHER_DTYPE_FLOAT, 2, {2, -1}}};
    io outs[1] = {{"y", TETHER_DTYPE_INT64, -1, {0}}};
    pbw attrs[1] = {ob_attr_int("axis", 1)};
    tether_session *s = must_open(model("ArgMax", 13, 1, ins, 1, outs, 1, attrs));
    float dummy;
    tether_tensor in = tensor("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 0}, &dummy);
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, &in, 1, &out), TETHER_ERR_RUNTIME, "cannot take ArgMax over axis 1 of size 0");
    tether_session_free(s);
}

/* ---- softmax ------------------------------------------------------------------------------------ */

static void check_softmax_row(const char *op, int64_t n)
{
    io ins[1] = {{"x", TETHER_DTYPE_FLOAT, 2, {1, n}}};
    io outs[1] = {{"y", TETHER_DTYPE_FLOAT, -1, {0}}};
    tether_session *s = must_open(model(op, 13, 1, ins, 1, outs, 0, NULL));
    float *x = malloc(sizeof(float) * (size_t)n);
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = value((uint64_t)i, 30);
        mx = x[i] > mx ? x[i] : mx;
    }
    for (int64_t i = 0; i < n; i++)
        sum += exp(x[i] - mx);
    tether_tensor in = tensor("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, n}, x);
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    const float *y = tether_outputs_get(out, 0)->data;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double lp = (x[i] - mx) - log(sum);
        if (op[0] == 'S') {
            /* float x - max carries a rounding error of up to |x - max| * 2^-24 */
            CHECK_NEAR(y[i], exp(lp), 1e-5 * exp(lp) + 1e-30);
            total += y[i];
        } else {
            CHECK_NEAR(y[i], lp, 2e-6 * fabs(lp) + 1e-6);
        }
    }
    if (op[0] == 'S')
        CHECK_NEAR(total, 1, 1e-5);
    tether_outputs_free(out);
    tether_session_free(s);
    free(x);
}

TEST(long_softmax_rows_match_double_precision)
{
    check_softmax_row("Softmax", 100003);
    check_softmax_row("LogSoftmax", 100003);
    check_softmax_row("Softmax", 7); /* shorter than one vector */
}

TEST(softmax_masked_entries_are_exactly_zero)
{
    io ins[1] = {{"x", TETHER_DTYPE_FLOAT, 2, {1, 9}}};
    io outs[1] = {{"y", TETHER_DTYPE_FLOAT, -1, {0}}};
    tether_session *s = must_open(model("Softmax", 13, 1, ins, 1, outs, 0, NULL));
    float x[9] = {0, -INFINITY, 1, -1e30f, -200, 88, -INFINITY, 2, 3};
    tether_tensor in = tensor("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 9}, x);
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    const float *y = tether_outputs_get(out, 0)->data;
    for (int i = 1; i < 7; i += 2 + (i == 3))
        if (y[i] != 0)
            CHECK_FAIL("y[%d] = %g for x = %g", i, y[i], x[i]);
    CHECK_NEAR(y[5], 1, 1e-6);
    tether_outputs_free(out);
    tether_session_free(s);
}

/* ---- CumSum, quantisation, products ------------------------------------------------------------ */

TEST(cumsum_checks_its_axis_and_wraps_integers)
{
    io ins[2] = {{"x", TETHER_DTYPE_INT32, 1, {3}}, {"axis", TETHER_DTYPE_INT64, -1, {0}}};
    io outs[1] = {{"y", TETHER_DTYPE_INT32, -1, {0}}};
    pbw attrs[1] = {ob_attr_int("reverse", 1)};
    tether_session *s = must_open(model("CumSum", 14, 2, ins, 1, outs, 1, attrs));
    int32_t x[3] = {INT32_MAX, 1, 5};
    int64_t axis = 1;
    tether_tensor in[2] = {tensor("x", TETHER_DTYPE_INT32, 1, (int64_t[]){3}, x),
                           tensor("axis", TETHER_DTYPE_INT64, 0, NULL, &axis)};
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, in, 2, &out), TETHER_ERR_SHAPE, "axis 1 is out of range for rank 1");
    axis = -1;
    CHECK_OK(tether_session_run(s, in, 2, &out));
    const int32_t *y = tether_outputs_get(out, 0)->data;
    CHECK_EQ_INT(y[0], INT32_MIN + 5); /* 5 + 1 + INT32_MAX wraps, as int32 arithmetic would */
    CHECK_EQ_INT(y[1], 6);
    CHECK_EQ_INT(y[2], 5);
    tether_outputs_free(out);
    tether_session_free(s);
}

TEST(quantize_rounds_half_to_even_and_saturates)
{
    io ins[3] = {
        {"x", TETHER_DTYPE_FLOAT, 1, {8}}, {"s", TETHER_DTYPE_FLOAT, -1, {0}}, {"z", TETHER_DTYPE_INT8, -1, {0}}};
    io outs[1] = {{"y", TETHER_DTYPE_INT8, -1, {0}}};
    tether_session *s = must_open(model("QuantizeLinear", 13, 3, ins, 1, outs, 0, NULL));
    float x[8] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1e9f, -1e9f, NAN}, scale = 1;
    int8_t zp = 1;
    tether_tensor in[3] = {tensor("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){8}, x),
                           tensor("s", TETHER_DTYPE_FLOAT, 0, NULL, &scale),
                           tensor("z", TETHER_DTYPE_INT8, 0, NULL, &zp)};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, in, 3, &out));
    const int8_t *y = tether_outputs_get(out, 0)->data;
    static const int8_t want[8] = {1, 3, 3, 1, -1, 127, -128, 1};
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(y[i], want[i]);
    tether_outputs_free(out);
    tether_session_free(s);
}

TEST(quantize_per_axis_scales_must_match_the_axis)
{
    io ins[2] = {{"x", TETHER_DTYPE_FLOAT, 2, {2, 3}}, {"s", TETHER_DTYPE_FLOAT, 1, {-1}}};
    io outs[1] = {{"y", TETHER_DTYPE_UINT8, -1, {0}}};
    tether_session *s = must_open(model("QuantizeLinear", 13, 2, ins, 1, outs, 0, NULL));
    float x[6] = {0}, scale[4] = {1, 1, 1, 1};
    tether_tensor in[2] = {tensor("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 3}, x),
                           tensor("s", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4}, scale)};
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, in, 2, &out), TETHER_ERR_SHAPE, "4 scales for axis 1 of size 3");
    tether_session_free(s);
}

TEST(dynamic_quantize_of_zeros_is_zero)
{
    io ins[1] = {{"x", TETHER_DTYPE_FLOAT, 1, {4}}};
    io outs[3] = {
        {"y", TETHER_DTYPE_UINT8, -1, {0}}, {"s", TETHER_DTYPE_FLOAT, -1, {0}}, {"z", TETHER_DTYPE_UINT8, -1, {0}}};
    tether_session *s = must_open(model("DynamicQuantizeLinear", 11, 1, ins, 3, outs, 0, NULL));
    float x[4] = {0, 0, 0, 0};
    tether_tensor in = tensor("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4}, x);
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(((uint8_t *)tether_outputs_get(out, 0)->data)[i], 0);
    CHECK_NEAR(*(float *)tether_outputs_get(out, 1)->data, 0, 0);
    CHECK_EQ_INT(*(uint8_t *)tether_outputs_get(out, 2)->data, 0);
    tether_outputs_free(out);
    tether_session_free(s);
}

TEST(matmul_integer_checks_zero_points)
{
    io ins[3] = {{"a", TETHER_DTYPE_UINT8, 2, {2, 3}},
                 {"b", TETHER_DTYPE_UINT8, 2, {3, 2}},
                 {"za", TETHER_DTYPE_UINT8, 1, {-1}}};
    io outs[1] = {{"y", TETHER_DTYPE_INT32, -1, {0}}};
    tether_session *s = must_open(model("MatMulInteger", 10, 3, ins, 1, outs, 0, NULL));
    uint8_t a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, za[3] = {1, 2, 3};
    tether_tensor in[3] = {tensor("a", TETHER_DTYPE_UINT8, 2, (int64_t[]){2, 3}, a),
                           tensor("b", TETHER_DTYPE_UINT8, 2, (int64_t[]){3, 2}, b),
                           tensor("za", TETHER_DTYPE_UINT8, 1, (int64_t[]){3}, za)};
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, in, 3, &out), TETHER_ERR_SHAPE, "a_zero_point has 3 values; expected 1, 2 or 2");
    in[2].dims[0] = 2, in[2].size = 2; /* per row: {1, 2} */
    CHECK_OK(tether_session_run(s, in, 3, &out));
    const int32_t *y = tether_outputs_get(out, 0)->data;
    /* (a - za) = [[0, 1, 2], [2, 3, 4]] times b */
    static const int32_t want[4] = {2, 3, 6, 7};
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(y[i], want[i]);
    tether_outputs_free(out);
    tether_session_free(s);
}

TEST(einsum_rejects_bad_equations_at_load)
{
    io ins[2] = {{"a", TETHER_DTYPE_FLOAT, 2, {2, 3}}, {"b", TETHER_DTYPE_FLOAT, 2, {3, 4}}};
    io outs[1] = {{"y", TETHER_DTYPE_FLOAT, -1, {0}}};
    static const struct {
        const char *eq, *msg;
    } bad[] = {
        {"ij,jk->iz", "output subscript 'z' is not in any input"},
        {"ij,j#->ik", "character '#' is not a subscript"},
        {"ij->ij", "fewer terms than the 2 operands"},
        {"ijk,jk->ik", "term 0 of 'ijk,jk->ik' has 3 subscripts for an operand of rank 2"},
        {"ij,ik->ij", "subscript sizes differ: 2 vs 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pbw attrs[1] = {ob_attr_string("equation", bad[i].eq)};
        pbw m = model("Einsum", 12, 2, ins, 1, outs, 1, attrs);
        tether_session *s;
        tether_status st = open_model(&m, &s);
        CHECK(st != TETHER_OK);
        CHECK_STR_CONTAINS(tether_last_error(), bad[i].msg);
    }
}

TEST(einsum_as_gemm_and_as_loop_agree)
{
    /* the first runs as a batched GEMM on transposed operands; the second (a diagonal) as the loop */
    static const char *const eqs[2] = {"bji,bkj->bki", "bii,bik->bk"};
    float a[2 * 3 * 3], b[2 * 3 * 3];
    for (int i = 0; i < 18; i++)
        a[i] = value((uint64_t)i, 2), b[i] = value((uint64_t)i + 100, 2);
    for (int e = 0; e < 2; e++) {
        io ins[2] = {{"a", TETHER_DTYPE_FLOAT, 3, {2, 3, 3}}, {"b", TETHER_DTYPE_FLOAT, 3, {2, 3, 3}}};
        io outs[1] = {{"y", TETHER_DTYPE_FLOAT, -1, {0}}};
        pbw attrs[1] = {ob_attr_string("equation", eqs[e])};
        tether_session *s = must_open(model("Einsum", 12, 2, ins, 1, outs, 1, attrs));
        tether_tensor in[2] = {tensor("a", TETHER_DTYPE_FLOAT, 3, (int64_t[]){2, 3, 3}, a),
                               tensor("b", TETHER_DTYPE_FLOAT, 3, (int64_t[]){2, 3, 3}, b)};
        tether_outputs *out;
        CHECK_OK(tether_session_run(s, in, 2, &out));
        const float *y = tether_outputs_get(out, 0)->data;
        for (int bb = 0; bb < 2; bb++)
            for (int k = 0; k < 3; k++)
                for (int i = 0; i < 3; i++) {
                    double want = 0;
                    for (int j = 0; j < 3; j++) {
                        if (e == 0)
                            want += a[bb * 9 + j * 3 + i] * b[bb * 9 + k * 3 + j];
                        else if (i == 0)
                            want += a[bb * 9 + j * 3 + j] * b[bb * 9 + j * 3 + k];
                    }
                    if (e == 0)
                        CHECK_NEAR(y[(bb * 3 + k) * 3 + i], want, 1e-5);
                    else if (i == 0)
                        CHECK_NEAR(y[bb * 3 + k], want, 1e-5);
                }
        tether_outputs_free(out);
        tether_session_free(s);
    }
}

int main(int argc, char **argv)
{
    /* more threads than most test machines have cores, so the split paths run */
    tether_set_num_threads(4);
    return check_main(argc, argv);
}
