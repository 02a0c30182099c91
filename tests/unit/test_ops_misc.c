/* The signal, detection, random and text ops against independent references: a naive O(n²)
 * DFT, the window formulas, brute-force n-gram counting, sampling statistics, hand-worked
 * detection and text cases, and the errors bad attributes and data must give. */
#include "check.h"
#include "onnx_build.h"

#include <math.h>
#include <stdbool.h>

/* ---- building and running one-node models ---------------------------------------------------- */

/* An input of the node: a graph input, an initializer (init != NULL), or omitted (dtype 0). */
typedef struct tin {
    int dtype;
    int rank;
    int64_t dims[8];
    const void *init;
    size_t init_bytes;
} tin;

static pbw op_model(const char *op, int opset, int nin, const tin *ins, int out_dtype, int nattr, pbw *attrs)
{
    char names[8][8];
    const char *in[8];
    pbw vis[8], inits[8];
    int nvis = 0, ninit = 0;
    for (int i = 0; i < nin; i++) {
        snprintf(names[i], sizeof names[i], "x%d", i);
        in[i] = ins[i].dtype ? names[i] : "";
        if (!ins[i].dtype)
            continue;
        if (ins[i].init)
            inits[ninit++] =
                ob_tensor(names[i], ins[i].dtype, ins[i].rank, ins[i].dims, ins[i].init, ins[i].init_bytes);
        else
            vis[nvis++] = ob_input(names[i], ins[i].dtype, ins[i].rank, ins[i].dims);
    }
    pbw y = ob_output("y", out_dtype, -1, NULL);
    pbw n = ob_node(op, nin, in, 1, (const char *[]){"y"}, nattr, attrs);
    pbw g = ob_graph("g", 1, &n, ninit, inits, nvis, vis, 1, &y);
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

/* Opens the model, runs it once on the given inputs, and returns the status; *out holds
 * the outputs on success. */
static tether_status run_model(pbw *m, int nin, const tether_tensor *ins, tether_outputs **out)
{
    tether_session *s = NULL;
    tether_status st = open_model(m, &s);
    if (st != TETHER_OK)
        return st;
    st = tether_session_run(s, ins, (size_t)nin, out);
    tether_session_free(s);
    return st;
}

static tether_tensor tensor(int dtype, int rank, const int64_t *dims, const void *data)
{
    tether_tensor t = {.dtype = (tether_dtype)dtype, .rank = rank, .data = (void *)data};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t.size = n * tether_dtype_size((tether_dtype)dtype);
    return t;
}

static const tether_tensor *only_output(tether_outputs *o)
{
    CHECK_EQ_INT(tether_outputs_count(o), 1);
    return tether_outputs_get(o, 0);
}

/* Deterministic test data. */
static uint64_t g_lcg = 88172645463325252ull;
static double frand(void)
{
    g_lcg = g_lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_lcg >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

/* ---- DFT ------------------------------------------------------------------------------------ */

/* Naive DFT of one signal: in[j] (complex), n points, j >= len treated as zero. */
static void naive_dft(const double *re, const double *im, int64_t len, int64_t n, bool inverse, double *ore,
                      double *oim)
{
    for (int64_t k = 0; k < n; k++) {
        double sr = 0, si = 0;
        for (int64_t j = 0; j < n && j < len; j++) {
            double a = (inverse ? 2.0 : -2.0) * M_PI * (double)((j * k) % n) / (double)n;
            sr += re[j] * cos(a) - im[j] * sin(a);
            si += re[j] * sin(a) + im[j] * cos(a);
        }
        ore[k] = inverse ? sr / (double)n : sr;
        oim[k] = inverse ? si / (double)n : si;
    }
}

/* DFT over axis 1 or 2 of [2, A, B, c] against the naive transform of every signal. */
static void check_dft(int64_t L, int c, bool inverse, bool onesided, int axis, int64_t dft_len)
{
    int64_t other = 3, A = axis == 1 ? L : other, B = axis == 1 ? other : L;
    int64_t dims[4] = {2, A, B, c};
    int64_t total = 2 * A * B * c;
    float *x = malloc((size_t)total * sizeof *x);
    for (int64_t i = 0; i < total; i++)
        x[i] = (float)frand();
    pbw attrs[3] = {ob_attr_int("axis", axis), ob_attr_int("inverse", inverse), ob_attr_int("onesided", onesided)};
    int64_t n = dft_len > 0 ? dft_len : L;
    tin ins[2] = {{.dtype = TETHER_DTYPE_FLOAT, .rank = 4, .dims = {2, A, B, c}},
                  {.dtype = TETHER_DTYPE_INT64, .rank = 0, .dims = {0}, .init = &n, .init_bytes = sizeof n}};
    pbw m = op_model("DFT", 17, dft_len > 0 ? 2 : 1, ins, TETHER_DTYPE_FLOAT, 3, attrs);
    tether_tensor in = tensor(TETHER_DTYPE_FLOAT, 4, dims, x);
    tether_outputs *out;
    CHECK_OK(run_model(&m, 1, &in, &out));
    const tether_tensor *y = only_output(out);
    int64_t bins = onesided ? n / 2 + 1 : n;
    CHECK_EQ_INT(y->rank, 4);
    CHECK_EQ_INT(y->dims[axis], bins);
    CHECK_EQ_INT(y->dims[3], 2);
    const float *yd = y->data;
    double *re = calloc((size_t)(L + n), sizeof *re), *im = calloc((size_t)(L + n), sizeof *im);
    double *ore = malloc((size_t)n * sizeof *ore), *oim = malloc((size_t)n * sizeof *oim);
    int64_t YA = axis == 1 ? bins : A, YB = axis == 1 ? B : bins;
    for (int64_t b = 0; b < 2; b++) {
        for (int64_t o = 0; o < other; o++) {
            double mag = 1;
            for (int64_t j = 0; j < L; j++) {
                int64_t a = axis == 1 ? j : o, bb = axis == 1 ? o : j;
                const float *p = x + ((b * A + a) * B + bb) * c;
                re[j] = p[0];
                im[j] = c == 2 ? p[1] : 0;
                mag += fabs(re[j]) + fabs(im[j]);
            }
            naive_dft(re, im, L, n, inverse, ore, oim);
            double tol = 2e-6 * mag;
            for (int64_t k = 0; k < bins; k++) {
                int64_t a = axis == 1 ? k : o, bb = axis == 1 ? o : k;
                const float *q = yd + ((b * YA + a) * YB + bb) * 2;
                if (fabs(q[0] - ore[k]) > tol || fabs(q[1] - oim[k]) > tol)
                    CHECK_FAIL("L=%lld n=%lld c=%d inv=%d axis=%d bin %lld: got (%g, %g), want (%g, %g)", (long long)L,
                               (long long)n, c, inverse, axis, (long long)k, q[0], q[1], ore[k], oim[k]);
            }
        }
    }
    free(re), free(im), free(ore), free(oim), free(x);
    tether_outputs_free(out);
}

TEST(dft_matches_naive_transform_at_every_length)
{
    static const int64_t lengths[] = {1, 2, 3, 4, 5, 7, 8, 12, 16, 17, 31, 64, 100, 127, 128};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        for (int c = 1; c <= 2; c++)
            for (int inv = 0; inv <= 1; inv++)
                check_dft(lengths[i], c, inv, false, 1 + (int)(i % 2), 0);
}

TEST(dft_onesided_and_dft_length_pad_or_truncate)
{
    check_dft(10, 1, false, true, 1, 0);
    check_dft(9, 1, false, true, 2, 0);
    check_dft(10, 1, false, false, 1, 16); /* zero-padded */
    check_dft(10, 2, true, false, 2, 7);   /* truncated */
    check_dft(12, 1, false, true, 1, 5);
}

/* inverse(forward(x)) == x, at a length long enough for rounding to show. */
TEST(dft_round_trip_long_prime_length)
{
    int64_t L = 1009, dims[3] = {1, L, 2};
    float *x = malloc((size_t)L * 2 * sizeof *x);
    for (int64_t i = 0; i < 2 * L; i++)
        x[i] = (float)frand();
    pbw nodes[2] = {
        ob_node("DFT", 1, (const char *[]){"x"}, 1, (const char *[]){"f"}, 0, NULL),
        ob_node("DFT", 1, (const char *[]){"f"}, 1, (const char *[]){"y"}, 1, (pbw[]){ob_attr_int("inverse", 1)})};
    pbw xi = ob_input("x", TETHER_DTYPE_FLOAT, 3, dims), yo = ob_output("y", TETHER_DTYPE_FLOAT, 3, dims);
    pbw g = ob_graph("g", 2, nodes, 0, NULL, 1, &xi, 1, &yo);
    pbw m = ob_model(17, &g);
    tether_tensor in = tensor(TETHER_DTYPE_FLOAT, 3, dims, x);
    tether_outputs *out;
    CHECK_OK(run_model(&m, 1, &in, &out));
    const float *y = only_output(out)->data;
    for (int64_t i = 0; i < 2 * L; i++)
        CHECK_NEAR(y[i], x[i], 1e-5);
    tether_outputs_free(out);
    free(x);
}

TEST(dft_rejects_bad_shapes_and_attributes)
{
    tin cplx = {.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {1, 8, 2}};
    pbw m = op_model("DFT", 17, 1, &cplx, TETHER_DTYPE_FLOAT, 1, (pbw[]){ob_attr_int("onesided", 1)});
    tether_session *s;
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "onesided output needs a real input");
    tin real = {.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {1, 8, 1}};
    m = op_model("DFT", 17, 1, &real, TETHER_DTYPE_FLOAT, 1, (pbw[]){ob_attr_int("axis", 2)});
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "axis 2 is not a signal axis");
    tin three = {.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {1, 8, 3}};
    m = op_model("DFT", 17, 1, &three, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "must be 1 (real) or 2 (complex)");
    int64_t zero = 0;
    tin with_len[2] = {real,
                       {.dtype = TETHER_DTYPE_INT64, .rank = 0, .dims = {0}, .init = &zero, .init_bytes = sizeof zero}};
    m = op_model("DFT", 17, 2, with_len, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "dft_length must be positive");
    /* a runtime dft_length is checked at run time */
    tin rt_len[2] = {real, {.dtype = TETHER_DTYPE_INT64, .rank = 0, .dims = {0}}};
    m = op_model("DFT", 17, 2, rt_len, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_OK(open_model(&m, &s));
    float x[8] = {0};
    int64_t neg = -3;
    tether_tensor ins[2] = {tensor(TETHER_DTYPE_FLOAT, 3, (int64_t[]){1, 8, 1}, x),
                            tensor(TETHER_DTYPE_INT64, 0, NULL, &neg)};
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, ins, 2, &out), TETHER_ERR_SHAPE, "dft_length must be positive, got -3");
    tether_session_free(s);
}

/* ---- STFT ----------------------------------------------------------------------------------- */

static void check_stft(int64_t len, int c, int64_t step, int64_t frame, bool window, bool onesided)
{
    int64_t sd[3] = {2, len, c};
    float *x = malloc((size_t)(2 * len * c) * sizeof *x), *w = malloc((size_t)frame * sizeof *w);
    for (int64_t i = 0; i < 2 * len * c; i++)
        x[i] = (float)frand();
    for (int64_t i = 0; i < frame; i++)
        w[i] = window ? (float)(0.5 + 0.5 * frand()) : 1.0f;
    tin ins[4] = {{.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {2, len, c}},
                  {.dtype = TETHER_DTYPE_INT64, .rank = 0, .dims = {0}, .init = &step, .init_bytes = sizeof step},
                  {.dtype = window ? TETHER_DTYPE_FLOAT : 0,
                   .rank = 1,
                   .dims = {frame},
                   .init = w,
                   .init_bytes = (size_t)frame * sizeof *w},
                  {window ? 0 : TETHER_DTYPE_INT64, 0, {0}, &frame, sizeof frame}};
    pbw m =
        op_model("STFT", 17, window ? 3 : 4, ins, TETHER_DTYPE_FLOAT, 1, (pbw[]){ob_attr_int("onesided", onesided)});
    tether_tensor in = tensor(TETHER_DTYPE_FLOAT, 3, sd, x);
    tether_outputs *out;
    CHECK_OK(run_model(&m, 1, &in, &out));
    const tether_tensor *y = only_output(out);
    int64_t frames = 1 + (len - frame) / step, bins = onesided ? frame / 2 + 1 : frame;
    CHECK_EQ_INT(y->rank, 4);
    CHECK_EQ_INT(y->dims[0], 2);
    CHECK_EQ_INT(y->dims[1], frames);
    CHECK_EQ_INT(y->dims[2], bins);
    CHECK_EQ_INT(y->dims[3], 2);
    double *re = malloc((size_t)frame * sizeof *re), *im = malloc((size_t)frame * sizeof *im);
    double *ore = malloc((size_t)frame * sizeof *ore), *oim = malloc((size_t)frame * sizeof *oim);
    const float *yd = y->data;
    for (int64_t b = 0; b < 2; b++) {
        for (int64_t f = 0; f < frames; f++) {
            for (int64_t j = 0; j < frame; j++) {
                const float *p = x + (b * len + f * step + j) * c;
                re[j] = p[0] * w[j];
                im[j] = c == 2 ? p[1] * w[j] : 0;
            }
            naive_dft(re, im, frame, frame, false, ore, oim);
            for (int64_t k = 0; k < bins; k++) {
                const float *q = yd + ((b * frames + f) * bins + k) * 2;
                CHECK_NEAR(q[0], ore[k], 1e-4);
                CHECK_NEAR(q[1], oim[k], 1e-4);
            }
        }
    }
    free(re), free(im), free(ore), free(oim), free(x), free(w);
    tether_outputs_free(out);
}

TEST(stft_frames_match_naive_transforms)
{
    check_stft(128, 1, 8, 16, false, true);
    check_stft(100, 1, 7, 15, true, true);    /* odd frame, window, uneven last step */
    check_stft(50, 2, 5, 12, true, false);    /* complex signal, full spectrum */
    check_stft(20, 1, 100, 20, false, false); /* one frame */
}

TEST(stft_rejects_inconsistent_inputs)
{
    int64_t step = 4, frame = 8, zero = 0;
    float w[6] = {1, 1, 1, 1, 1, 1};
    tether_session *s;
    tin ins[4] = {{.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {1, 32, 1}},
                  {.dtype = TETHER_DTYPE_INT64, .rank = 0, .dims = {0}, .init = &step, .init_bytes = sizeof step},
                  {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {6}, .init = w, .init_bytes = sizeof w},
                  {.dtype = TETHER_DTYPE_INT64, .rank = 0, .dims = {0}, .init = &frame, .init_bytes = sizeof frame}};
    pbw m = op_model("STFT", 17, 4, ins, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "the window has 6 samples but frame_length is 8");
    ins[1].init = &zero;
    ins[2].dtype = 0;
    m = op_model("STFT", 17, 4, ins, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "frame_step must be positive");
    ins[1].init = &step;
    ins[0].dims[1] = 5;
    m = op_model("STFT", 17, 4, ins, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "do not fit a signal of 5");
    ins[0].dims[1] = 32;
    ins[0].dims[2] = 2;
    m = op_model("STFT", 17, 4, ins, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "onesided output needs a real signal");
    ins[0].dims[2] = 1;
    m = op_model("STFT", 17, 2, ins, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_INVALID_MODEL, "needs a window or a frame_length");
}

/* ---- windows and the mel matrix ------------------------------------------------------------------ */

static void check_window(const char *op, double a0, double a1, double a2)
{
    for (int periodic = 0; periodic <= 1; periodic++) {
        for (int64_t size = 0; size <= 33; size += 11) {
            int64_t sz = size ? size : 1;
            tin in = {.dtype = TETHER_DTYPE_INT64, .rank = 0, .dims = {0}};
            pbw m = op_model(
                op, 17, 1, &in, TETHER_DTYPE_DOUBLE, 2,
                (pbw[]){ob_attr_int("periodic", periodic), ob_attr_int("output_datatype", TETHER_DTYPE_DOUBLE)});
            tether_tensor t = tensor(TETHER_DTYPE_INT64, 0, NULL, &sz);
            tether_outputs *out;
            CHECK_OK(run_model(&m, 1, &t, &out));
            const tether_tensor *y = only_output(out);
            CHECK_EQ_INT(y->dtype, TETHER_DTYPE_DOUBLE);
            CHECK_EQ_INT(y->rank, 1);
            CHECK_EQ_INT(y->dims[0], sz);
            double N = periodic ? (double)sz : (double)(sz - 1);
            for (int64_t k = 0; k < sz; k++) {
                double want =
                    N > 0 ? a0 - a1 * cos(2 * M_PI * (double)k / N) + a2 * cos(4 * M_PI * (double)k / N) : 1.0;
                CHECK_NEAR(((const double *)y->data)[k], want, 1e-12);
            }
            if (!periodic && sz > 2) /* a symmetric window is symmetric */
                CHECK_NEAR(((const double *)y->data)[0], ((const double *)y->data)[sz - 1], 1e-12);
            tether_outputs_free(out);
        }
    }
}

TEST(windows_follow_their_formulas)
{
    check_window("HannWindow", 0.5, 0.5, 0);
    check_window("HammingWindow", 25.0 / 46, 21.0 / 46, 0);
    check_window("BlackmanWindow", 0.42, 0.5, 0.08);
}

TEST(window_sizes_zero_and_negative)
{
    int64_t zero = 0, neg = -1;
    tin in = {.dtype = TETHER_DTYPE_INT64, .rank = 0, .dims = {0}, .init = &zero, .init_bytes = sizeof zero};
    pbw m = op_model("HannWindow", 17, 1, &in, TETHER_DTYPE_FLOAT, 0, NULL);
    tether_outputs *out;
    CHECK_OK(run_model(&m, 0, NULL, &out));
    CHECK_EQ_INT(only_output(out)->dims[0], 0);
    tether_outputs_free(out);
    in.init = &neg;
    m = op_model("HannWindow", 17, 1, &in, TETHER_DTYPE_FLOAT, 0, NULL);
    tether_session *s;
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "size must not be negative");
    in.init = NULL;
    m = op_model("HannWindow", 17, 1, &in, TETHER_DTYPE_FLOAT, 1, (pbw[]){ob_attr_int("output_datatype", 8)});
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_INVALID_MODEL, "output_datatype 8 is not a numeric type");
}

static double mel(double hz)
{
    return 2595 * log10(1 + hz / 700);
}

TEST(mel_weight_matrix_triangles)
{
    int32_t bins = 10, dft = 64, rate = 16000;
    float lo = 100, hi = 7000;
    tin ins[5] = {{.dtype = TETHER_DTYPE_INT32, .rank = 0, .dims = {0}},
                  {.dtype = TETHER_DTYPE_INT32, .rank = 0, .dims = {0}},
                  {.dtype = TETHER_DTYPE_INT32, .rank = 0, .dims = {0}},
                  {.dtype = TETHER_DTYPE_FLOAT, .rank = 0, .dims = {0}},
                  {.dtype = TETHER_DTYPE_FLOAT, .rank = 0, .dims = {0}}};
    pbw m = op_model("MelWeightMatrix", 17, 5, ins, TETHER_DTYPE_FLOAT, 0, NULL);
    tether_tensor t[5] = {tensor(TETHER_DTYPE_INT32, 0, NULL, &bins), tensor(TETHER_DTYPE_INT32, 0, NULL, &dft),
                          tensor(TETHER_DTYPE_INT32, 0, NULL, &rate), tensor(TETHER_DTYPE_FLOAT, 0, NULL, &lo),
                          tensor(TETHER_DTYPE_FLOAT, 0, NULL, &hi)};
    tether_outputs *out;
    CHECK_OK(run_model(&m, 5, t, &out));
    const tether_tensor *y = only_output(out);
    int64_t nspec = dft / 2 + 1;
    CHECK_EQ_INT(y->rank, 2);
    CHECK_EQ_INT(y->dims[0], nspec);
    CHECK_EQ_INT(y->dims[1], bins);
    const float *w = y->data;
    /* each band's edges: equal steps on the mel scale (range split in bins + 2), snapped to bins */
    double step = (mel(hi) - mel(lo)) / (bins + 2);
    for (int i = 0; i < bins; i++) {
        int64_t e[3];
        for (int k = 0; k < 3; k++) {
            double hz = 700 * (pow(10, (mel(lo) + step * (i + k)) / 2595) - 1);
            e[k] = (int64_t)floor((dft + 1) * hz / rate);
        }
        for (int64_t j = 0; j < nspec; j++) {
            double want = 0;
            if (j >= e[0] && j <= e[1])
                want = e[1] == e[0] ? 1 : (double)(j - e[0]) / (double)(e[1] - e[0]);
            else if (j > e[1] && j < e[2])
                want = (double)(e[2] - j) / (double)(e[2] - e[1]);
            CHECK_NEAR(w[j * bins + i], want, 1e-6);
        }
        CHECK_NEAR(w[e[1] * bins + i], 1.0, 0); /* every triangle peaks at 1 */
    }
    tether_outputs_free(out);
    lo = 8000;
    m = op_model("MelWeightMatrix", 17, 5, ins, TETHER_DTYPE_FLOAT, 0, NULL);
    CHECK_ERR(run_model(&m, 5, t, &out), TETHER_ERR_RUNTIME, "lower_edge_hertz < upper_edge_hertz");
}

/* ---- NonMaxSuppression ------------------------------------------------------------------------- */

typedef struct nms_case {
    int64_t B, C, S;
    const float *boxes, *scores;
    int64_t max_out;
    float iou, score;
    bool center, no_score;
} nms_case;

/* Runs NMS and returns the selected triples (caller frees), their count in *n. */
static int64_t *run_nms(const nms_case *k, int64_t *n, tether_status *st)
{
    tin ins[5] = {{.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {k->B, k->S, 4}},
                  {.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {k->B, k->C, k->S}},
                  {.dtype = TETHER_DTYPE_INT64, .rank = 1, .dims = {1}},
                  {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {1}},
                  {.dtype = k->no_score ? 0 : TETHER_DTYPE_FLOAT, .rank = 1, .dims = {1}}};
    pbw m = op_model("NonMaxSuppression", 11, 5, ins, TETHER_DTYPE_INT64, 1,
                     (pbw[]){ob_attr_int("center_point_box", k->center)});
    tether_tensor t[5] = {tensor(TETHER_DTYPE_FLOAT, 3, ins[0].dims, k->boxes),
                          tensor(TETHER_DTYPE_FLOAT, 3, ins[1].dims, k->scores),
                          tensor(TETHER_DTYPE_INT64, 1, (int64_t[]){1}, &k->max_out),
                          tensor(TETHER_DTYPE_FLOAT, 1, (int64_t[]){1}, &k->iou),
                          tensor(TETHER_DTYPE_FLOAT, 1, (int64_t[]){1}, &k->score)};
    tether_outputs *out;
    *st = run_model(&m, k->no_score ? 4 : 5, t, &out);
    if (*st != TETHER_OK)
        return NULL;
    const tether_tensor *y = only_output(out);
    CHECK_EQ_INT(y->dtype, TETHER_DTYPE_INT64);
    CHECK_EQ_INT(y->rank, 2);
    CHECK_EQ_INT(y->dims[1], 3);
    *n = y->dims[0];
    int64_t *r = malloc((size_t)(*n * 3 + 1) * sizeof *r);
    memcpy(r, y->data, (size_t)*n * 3 * sizeof *r);
    tether_outputs_free(out);
    return r;
}

static void check_sel(const nms_case *k, int64_t n_want, const int64_t *want)
{
    int64_t n;
    tether_status st;
    int64_t *got = run_nms(k, &n, &st);
    CHECK_OK(st);
    CHECK_EQ_INT(n, n_want);
    for (int64_t i = 0; i < 3 * n; i++)
        CHECK_EQ_INT(got[i], want[i]);
    free(got);
}

/* Three clusters of overlapping unit boxes; scores rank them. Box 1 overlaps box 0 with IOU
 * 0.9/1.1 = 0.82, box 2 (0.3 apart) overlaps box 0 with 0.7/1.3 = 0.54. */
static const float g_boxes[] = {0, 0,  1, 1,  0, 0.1f,  1, 1.1f,  0, 0.3f, 1, 1.3f,
                                0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100,  1, 101};
static const float g_scores[] = {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f};

TEST(nms_greedy_selection_by_score_and_iou)
{
    nms_case k = {1, 1, 6, g_boxes, g_scores, 10, 0.5f, 0.0f, false, false};
    check_sel(&k, 3, (int64_t[]){0, 0, 3, 0, 0, 0, 0, 0, 5});
    k.iou = 0.6f; /* box 2's 0.54 overlap is now allowed */
    check_sel(&k, 4, (int64_t[]){0, 0, 3, 0, 0, 0, 0, 0, 2, 0, 0, 5});
    k.iou = 0.5f;
    k.max_out = 2;
    check_sel(&k, 2, (int64_t[]){0, 0, 3, 0, 0, 0});
    k.max_out = 10;
    k.score = 0.3f; /* strictly greater than the threshold: box 5 (0.3) goes */
    check_sel(&k, 2, (int64_t[]){0, 0, 3, 0, 0, 0});
    k.max_out = 0;
    check_sel(&k, 0, NULL);
    k.max_out = 10;
    k.no_score = true;
    check_sel(&k, 3, (int64_t[]){0, 0, 3, 0, 0, 0, 0, 0, 5});
}

TEST(nms_box_formats_and_flipped_corners_agree)
{
    float flipped[24], center[24];
    for (int i = 0; i < 6; i++) {
        const float *b = g_boxes + 4 * i;
        /* the other diagonal: (y2, x1) and (y1, x2) */
        flipped[4 * i] = b[2], flipped[4 * i + 1] = b[1], flipped[4 * i + 2] = b[0], flipped[4 * i + 3] = b[3];
        center[4 * i] = (b[1] + b[3]) / 2, center[4 * i + 1] = (b[0] + b[2]) / 2;
        center[4 * i + 2] = b[3] - b[1], center[4 * i + 3] = b[2] - b[0];
    }
    nms_case k = {1, 1, 6, flipped, g_scores, 10, 0.5f, 0.0f, false, false};
    check_sel(&k, 3, (int64_t[]){0, 0, 3, 0, 0, 0, 0, 0, 5});
    k.boxes = center;
    k.center = true;
    check_sel(&k, 3, (int64_t[]){0, 0, 3, 0, 0, 0, 0, 0, 5});
}

TEST(nms_batches_classes_ties_and_nan)
{
    /* two batches (the second with scores reversed), two classes */
    float boxes[48], scores[24];
    memcpy(boxes, g_boxes, sizeof g_boxes);
    memcpy(boxes + 24, g_boxes, sizeof g_boxes);
    for (int i = 0; i < 6; i++) {
        scores[i] = g_scores[i];                         /* batch 0, class 0 */
        scores[6 + i] = 0.5f;                            /* batch 0, class 1: all tied */
        scores[12 + i] = g_scores[5 - i];                /* batch 1, class 0 */
        scores[18 + i] = i == 3 ? NAN : 0.1f * (float)i; /* batch 1, class 1 */
    }
    nms_case k = {2, 2, 6, boxes, scores, 2, 0.5f, 0.0f, false, true};
    /* ties select the lower index first; the NaN-scored box 3 would otherwise win class 1 of
     * batch 1 over box 4, which it overlaps */
    check_sel(&k, 8, (int64_t[]){0, 0, 3, 0, 0, 0, 0, 1, 0, 0, 1, 3, 1, 0, 2, 1, 0, 5, 1, 1, 5, 1, 1, 4});
}

TEST(nms_rejects_bad_inputs)
{
    nms_case k = {1, 1, 6, g_boxes, g_scores, 10, 1.5f, 0.0f, false, false};
    int64_t n;
    tether_status st;
    CHECK(run_nms(&k, &n, &st) == NULL);
    CHECK_EQ_INT(st, TETHER_ERR_RUNTIME);
    CHECK_STR_CONTAINS(tether_last_error(), "iou_threshold must be in [0, 1]");
    tin ins[2] = {{.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {1, 6, 4}},
                  {.dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {1, 1, 5}}};
    pbw m = op_model("NonMaxSuppression", 11, 2, ins, TETHER_DTYPE_INT64, 0, NULL);
    tether_session *s;
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "there are 6 boxes but 5 scores per class");
    ins[0].dims[2] = 5;
    m = op_model("NonMaxSuppression", 11, 2, ins, TETHER_DTYPE_INT64, 0, NULL);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "4 coordinates");
}

/* ---- random --------------------------------------------------------------------------------- */

static double *random_values(const char *op, int nattr, pbw *attrs, int64_t n, int nin, const tether_tensor *in,
                             int want_dtype)
{
    tin ti = {0};
    if (nin)
        ti = (tin){.dtype = in->dtype, .rank = in->rank, .dims = {in->dims[0], in->dims[1]}};
    pbw m = op_model(op, 15, nin, &ti, want_dtype, nattr, attrs);
    tether_outputs *out;
    CHECK_OK(run_model(&m, nin, in, &out));
    const tether_tensor *y = only_output(out);
    CHECK_EQ_INT(y->dtype, want_dtype);
    int64_t numel = 1;
    for (int i = 0; i < y->rank; i++)
        numel *= y->dims[i];
    CHECK_EQ_INT(numel, n);
    double *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = want_dtype == TETHER_DTYPE_DOUBLE  ? ((const double *)y->data)[i]
               : want_dtype == TETHER_DTYPE_INT64 ? (double)((const int64_t *)y->data)[i]
               : want_dtype == TETHER_DTYPE_INT32 ? (double)((const int32_t *)y->data)[i]
               : want_dtype == TETHER_DTYPE_BOOL  ? (double)((const uint8_t *)y->data)[i]
                                                  : ((const float *)y->data)[i];
    tether_outputs_free(out);
    return v;
}

static void moments(const double *v, int64_t n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++)
        s += v[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    *sd = sqrt(s2 / (double)n);
}

TEST(random_uniform_and_normal_statistics)
{
    const int64_t n = 200000;
    int64_t shape[2] = {400, 500};
    pbw ua[4] = {ob_attr_ints("shape", 2, shape), ob_attr_float("low", -2), ob_attr_float("high", 6),
                 ob_attr_int("dtype", TETHER_DTYPE_DOUBLE)};
    double *u = random_values("RandomUniform", 4, ua, n, 0, NULL, TETHER_DTYPE_DOUBLE), mean, sd;
    for (int64_t i = 0; i < n; i++)
        CHECK(u[i] >= -2 && u[i] < 6);
    moments(u, n, &mean, &sd);
    CHECK_NEAR(mean, 2.0, 0.05);
    CHECK_NEAR(sd, 8 / sqrt(12), 0.05);
    free(u);
    pbw na[3] = {ob_attr_ints("shape", 2, shape), ob_attr_float("mean", 3), ob_attr_float("scale", 0.5f)};
    double *g = random_values("RandomNormal", 3, na, n, 0, NULL, TETHER_DTYPE_FLOAT);
    moments(g, n, &mean, &sd);
    CHECK_NEAR(mean, 3.0, 0.01);
    CHECK_NEAR(sd, 0.5, 0.01);
    int64_t within = 0;
    for (int64_t i = 0; i < n; i++)
        within += fabs(g[i] - 3.0) < 0.5;
    CHECK_NEAR((double)within / n, 0.6827, 0.01); /* one standard deviation */
    free(g);
}

TEST(random_seed_fixes_output_and_no_seed_varies)
{
    int64_t shape[1] = {1000};
    pbw a1[2] = {ob_attr_ints("shape", 1, shape), ob_attr_float("seed", 7)};
    pbw a2[2] = {ob_attr_ints("shape", 1, shape), ob_attr_float("seed", 7)};
    pbw a3[2] = {ob_attr_ints("shape", 1, shape), ob_attr_float("seed", 8)};
    double *x = random_values("RandomNormal", 2, a1, 1000, 0, NULL, TETHER_DTYPE_FLOAT);
    double *y = random_values("RandomNormal", 2, a2, 1000, 0, NULL, TETHER_DTYPE_FLOAT);
    double *z = random_values("RandomNormal", 2, a3, 1000, 0, NULL, TETHER_DTYPE_FLOAT);
    CHECK(memcmp(x, y, 1000 * sizeof *x) == 0);
    CHECK(memcmp(x, z, 1000 * sizeof *x) != 0);
    free(x), free(y), free(z);

    /* unseeded: two runs of one session differ */
    pbw m = op_model("RandomUniform", 15, 0, NULL, TETHER_DTYPE_FLOAT, 1, (pbw[]){ob_attr_ints("shape", 1, shape)});
    tether_session *s;
    CHECK_OK(open_model(&m, &s));
    tether_outputs *o1, *o2;
    CHECK_OK(tether_session_run(s, NULL, 0, &o1));
    CHECK_OK(tether_session_run(s, NULL, 0, &o2));
    CHECK(memcmp(tether_outputs_get(o1, 0)->data, tether_outputs_get(o2, 0)->data, 1000 * sizeof(float)) != 0);
    tether_outputs_free(o1);
    tether_outputs_free(o2);
    tether_session_free(s);
}

TEST(random_like_takes_shape_and_dtype)
{
    int32_t x[6] = {0};
    tether_tensor in = tensor(TETHER_DTYPE_INT32, 2, (int64_t[]){2, 3}, x);
    double *v = random_values("RandomUniformLike", 1, (pbw[]){ob_attr_int("dtype", TETHER_DTYPE_DOUBLE)}, 6, 1, &in,
                              TETHER_DTYPE_DOUBLE);
    for (int i = 0; i < 6; i++)
        CHECK(v[i] >= 0 && v[i] < 1);
    free(v);
    float f[6] = {0};
    tether_tensor fin = tensor(TETHER_DTYPE_FLOAT, 2, (int64_t[]){3, 2}, f);
    v = random_values("RandomNormalLike", 0, NULL, 6, 1, &fin, TETHER_DTYPE_FLOAT);
    free(v);
    /* an integer input without dtype has no floating-point type to give the output */
    tin ti = {.dtype = TETHER_DTYPE_INT32, .rank = 2, .dims = {2, 3}};
    pbw m = op_model("RandomNormalLike", 15, 1, &ti, TETHER_DTYPE_FLOAT, 0, NULL);
    tether_session *s;
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_UNSUPPORTED, "output dtype int32");
}

TEST(bernoulli_frequencies_and_range_check)
{
    const int64_t n = 100000;
    float *p = malloc(n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = i % 3 == 0 ? 0.0f : i % 3 == 1 ? 1.0f : 0.3f;
    tether_tensor in = tensor(TETHER_DTYPE_FLOAT, 1, (int64_t[]){n}, p);
    double *v =
        random_values("Bernoulli", 1, (pbw[]){ob_attr_int("dtype", TETHER_DTYPE_BOOL)}, n, 1, &in, TETHER_DTYPE_BOOL);
    int64_t ones = 0, draws = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i % 3 == 0)
            CHECK_EQ_INT(v[i], 0);
        else if (i % 3 == 1)
            CHECK_EQ_INT(v[i], 1);
        else
            ones += v[i] == 1, draws++;
    }
    CHECK_NEAR((double)ones / (double)draws, 0.3, 0.01);
    free(v);
    p[5] = 1.5f;
    tin ti = {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {n}};
    pbw m = op_model("Bernoulli", 15, 1, &ti, TETHER_DTYPE_FLOAT, 0, NULL);
    tether_outputs *out;
    CHECK_ERR(run_model(&m, 1, &in, &out), TETHER_ERR_RUNTIME, "probabilities must lie in [0, 1]");
    free(p);
}

TEST(multinomial_follows_softmax)
{
    float logits[2][4] = {{0, 1, 2, -INFINITY}, {5, 5, 5, 5}};
    tether_tensor in = tensor(TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 4}, logits);
    const int64_t samples = 40000;
    pbw attrs[2] = {ob_attr_int("sample_size", samples), ob_attr_int("dtype", TETHER_DTYPE_INT64)};
    double *v = random_values("Multinomial", 2, attrs, 2 * samples, 1, &in, TETHER_DTYPE_INT64);
    for (int row = 0; row < 2; row++) {
        double cnt[4] = {0}, z = 0;
        for (int64_t s = 0; s < samples; s++) {
            double k = v[row * samples + s];
            CHECK(k >= 0 && k < 4);
            cnt[(int)k]++;
        }
        for (int k = 0; k < 4; k++)
            z += exp(logits[row][k]);
        for (int k = 0; k < 4; k++)
            CHECK_NEAR(cnt[k] / (double)samples, exp(logits[row][k]) / z, 0.01);
    }
    free(v);
}

/* ---- StringNormalizer ---------------------------------------------------------------------------- */

static tether_status normalize(int rank, int64_t n, const char **in, int nattr, pbw *attrs, tether_outputs **out)
{
    int64_t dims[2] = {rank == 2 ? 1 : n, n};
    tin ti = {.dtype = TETHER_DTYPE_STRING, .rank = rank, .dims = {dims[0], dims[1]}};
    pbw m = op_model("StringNormalizer", 10, 1, &ti, TETHER_DTYPE_STRING, nattr, attrs);
    tether_tensor t = tensor(TETHER_DTYPE_STRING, rank, dims, in);
    return run_model(&m, 1, &t, out);
}

static void check_strings(const tether_tensor *y, int rank, int64_t n, const char *const *want)
{
    CHECK_EQ_INT(y->dtype, TETHER_DTYPE_STRING);
    CHECK_EQ_INT(y->rank, rank);
    CHECK_EQ_INT(y->dims[rank - 1], n);
    if (rank == 2)
        CHECK_EQ_INT(y->dims[0], 1);
    for (int64_t i = 0; i < n; i++)
        if (strcmp(((char *const *)y->data)[i], want[i]) != 0)
            CHECK_FAIL("string %lld: got \"%s\", want \"%s\"", (long long)i, ((char *const *)y->data)[i], want[i]);
}

TEST(string_normalizer_utf8_case_mapping)
{
    const char *in[4] = {"Émile", "straße", "αβγ ΔΕ", "MiXeD 123"};
    tether_outputs *out;
    CHECK_OK(normalize(1, 4, in, 1, (pbw[]){ob_attr_string("case_change_action", "UPPER")}, &out));
    check_strings(only_output(out), 1, 4, (const char *[]){"ÉMILE", "STRAßE", "ΑΒΓ ΔΕ", "MIXED 123"});
    tether_outputs_free(out);
    pbw attrs[2] = {ob_attr_string("case_change_action", "LOWER"), ob_attr_string("locale", "fr_FR")};
    CHECK_OK(normalize(2, 4, in, 2, attrs, &out));
    check_strings(only_output(out), 2, 4, (const char *[]){"émile", "straße", "αβγ δε", "mixed 123"});
    tether_outputs_free(out);
}

TEST(string_normalizer_stopwords)
{
    const char *in[5] = {"Monday", "tuesday", "MONDAY", "monday", "Éclair"};
    pbw sw = {0};
    pbw_str(&sw, 1, "stopwords");
    pbw_int(&sw, 20, 8);
    pbw_str(&sw, 9, "monday");
    pbw_str(&sw, 9, "éclair");
    pbw sw2 = {0};
    pbw_put(&sw2, sw.buf, sw.len);
    tether_outputs *out;
    /* case-insensitive (the default): every Monday goes, and É matches é */
    CHECK_OK(normalize(1, 5, in, 1, &sw, &out));
    check_strings(only_output(out), 1, 1, (const char *[]){"tuesday"});
    tether_outputs_free(out);
    pbw attrs[2] = {sw2, ob_attr_int("is_case_sensitive", 1)};
    CHECK_OK(normalize(2, 5, in, 2, attrs, &out));
    check_strings(only_output(out), 2, 4, (const char *[]){"Monday", "tuesday", "MONDAY", "Éclair"});
    tether_outputs_free(out);
}

TEST(string_normalizer_all_removed_and_errors)
{
    const char *in[2] = {"a", "A"};
    pbw sw = {0};
    pbw_str(&sw, 1, "stopwords");
    pbw_int(&sw, 20, 8);
    pbw_str(&sw, 9, "a");
    tether_outputs *out;
    CHECK_OK(normalize(2, 2, in, 1, &sw, &out));
    check_strings(only_output(out), 2, 1, (const char *[]){""});
    tether_outputs_free(out);
    const char *bad[1] = {"ok\xff"};
    CHECK_ERR(normalize(1, 1, bad, 1, (pbw[]){ob_attr_string("case_change_action", "LOWER")}, &out), TETHER_ERR_RUNTIME,
              "string 0 is not UTF-8");
    CHECK_ERR(normalize(1, 1, in, 1, (pbw[]){ob_attr_string("case_change_action", "TITLE")}, &out),
              TETHER_ERR_INVALID_MODEL, "case_change_action must be LOWER, UPPER or NONE");
    tin ti = {.dtype = TETHER_DTYPE_STRING, .rank = 2, .dims = {2, 2}};
    pbw m = op_model("StringNormalizer", 10, 1, &ti, TETHER_DTYPE_STRING, 0, NULL);
    tether_session *s;
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "must be [C] or [1, C]");
}

/* ---- TfIdfVectorizer ------------------------------------------------------------------------------- */

/* Counts, by brute force, the n-grams (min_n..max_n items at a constant gap of 1..skip+1,
 * 1-grams once) of x[0..C) equal to the pooled n-gram pool[0..n). */
static int64_t brute_count(const int64_t *x, int64_t C, const int64_t *pool, int n, int64_t skip)
{
    int64_t cnt = 0;
    for (int64_t gap = 1; gap <= (n == 1 ? 1 : skip + 1); gap++)
        for (int64_t s = 0; s + (n - 1) * gap < C; s++) {
            bool eq = true;
            for (int k = 0; k < n && eq; k++)
                eq = x[s + k * gap] == pool[k];
            cnt += eq;
        }
    return cnt;
}

static pbw attr_str(const char *name, const char *v)
{
    return ob_attr_string(name, v);
}

TEST(tfidf_counts_match_brute_force)
{
    /* pool: 1-grams {1,2,3}, 2-grams {(1,2),(2,1),(3,3)}, 3-grams {(1,2,3)}; output columns
     * shuffled and two n-grams sharing column 2 */
    int64_t pool[] = {1, 2, 3, 1, 2, 2, 1, 3, 3, 1, 2, 3};
    int64_t counts[] = {0, 3, 9};
    int64_t idx[] = {4, 0, 2, 1, 2, 5, 3};
    float weights[] = {0.5f, 1, 2, 3, 4, 5, 6};
    const int ngram_n[] = {1, 1, 1, 2, 2, 2, 3};
    const int64_t ngram_at[] = {0, 1, 2, 3, 5, 7, 9};
    const char *modes[] = {"TF", "IDF", "TFIDF"};
    for (int mode = 0; mode < 3; mode++) {
        for (int64_t skip = 0; skip <= 3; skip++) {
            for (int minn = 1; minn <= 3; minn++) {
                int64_t N = 3, C = 17;
                int64_t x[3 * 17];
                for (int64_t i = 0; i < N * C; i++)
                    x[i] = 1 + (int64_t)((frand() + 1) * 1.6); /* 1..4 */
                pbw attrs[8] = {attr_str("mode", modes[mode]),           ob_attr_int("min_gram_length", minn),
                                ob_attr_int("max_gram_length", 3),       ob_attr_int("max_skip_count", skip),
                                ob_attr_ints("ngram_counts", 3, counts), ob_attr_ints("ngram_indexes", 7, idx),
                                ob_attr_ints("pool_int64s", 12, pool),   ob_attr_floats("weights", 7, weights)};
                tin ti = {.dtype = TETHER_DTYPE_INT64, .rank = 2, .dims = {N, C}};
                pbw m = op_model("TfIdfVectorizer", 9, 1, &ti, TETHER_DTYPE_FLOAT, 8, attrs);
                tether_tensor t = tensor(TETHER_DTYPE_INT64, 2, (int64_t[]){N, C}, x);
                tether_outputs *out;
                CHECK_OK(run_model(&m, 1, &t, &out));
                const tether_tensor *y = only_output(out);
                CHECK_EQ_INT(y->rank, 2);
                CHECK_EQ_INT(y->dims[0], N);
                CHECK_EQ_INT(y->dims[1], 6);
                for (int64_t r = 0; r < N; r++) {
                    double want[6] = {0};
                    for (int g = 0; g < 7; g++) {
                        if (ngram_n[g] < minn)
                            continue;
                        int64_t cnt = brute_count(x + r * C, C, pool + ngram_at[g], ngram_n[g], skip);
                        want[idx[g]] += mode == 0 ? (double)cnt : mode == 1 ? (cnt ? weights[g] : 0) : cnt * weights[g];
                    }
                    for (int k = 0; k < 6; k++)
                        CHECK_NEAR(((const float *)y->data)[r * 6 + k], want[k], 1e-5);
                }
                tether_outputs_free(out);
            }
        }
    }
}

TEST(tfidf_string_pool)
{
    pbw ps = {0};
    pbw_str(&ps, 1, "pool_strings");
    pbw_int(&ps, 20, 8);
    const char *pool[] = {"the", "cat", "the", "cat", "cat", "sat"};
    for (int i = 0; i < 6; i++)
        pbw_str(&ps, 9, pool[i]);
    pbw attrs[7] = {attr_str("mode", "TF"),
                    ob_attr_int("min_gram_length", 1),
                    ob_attr_int("max_gram_length", 2),
                    ob_attr_int("max_skip_count", 1),
                    ob_attr_ints("ngram_counts", 2, (int64_t[]){0, 2}),
                    ob_attr_ints("ngram_indexes", 4, (int64_t[]){0, 1, 2, 3}),
                    ps};
    const char *x[6] = {"the", "cat", "sat", "on", "the", "cat"};
    tin ti = {.dtype = TETHER_DTYPE_STRING, .rank = 1, .dims = {6}};
    pbw m = op_model("TfIdfVectorizer", 9, 1, &ti, TETHER_DTYPE_FLOAT, 7, attrs);
    tether_tensor t = tensor(TETHER_DTYPE_STRING, 1, (int64_t[]){6}, x);
    tether_outputs *out;
    CHECK_OK(run_model(&m, 1, &t, &out));
    const tether_tensor *y = only_output(out);
    CHECK_EQ_INT(y->rank, 1);
    CHECK_EQ_INT(y->dims[0], 4);
    /* "the" and "cat" twice each; (the, cat) adjacent twice and never one word apart;
     * (cat, sat) adjacent once */
    const float *v = y->data;
    CHECK_NEAR(v[0], 2, 0);
    CHECK_NEAR(v[1], 2, 0);
    CHECK_NEAR(v[2], 2, 0);
    CHECK_NEAR(v[3], 1, 0);
    tether_outputs_free(out);
}

TEST(tfidf_rejects_bad_pools)
{
    tin ti = {.dtype = TETHER_DTYPE_INT64, .rank = 1, .dims = {4}};
    tether_session *s;
    pbw a1[6] = {attr_str("mode", "TF"),
                 ob_attr_int("min_gram_length", 1),
                 ob_attr_int("max_gram_length", 2),
                 ob_attr_ints("ngram_counts", 2, (int64_t[]){0, 2}),
                 ob_attr_ints("ngram_indexes", 2, (int64_t[]){0, 1}),
                 ob_attr_ints("pool_int64s", 5, (int64_t[]){1, 2, 3, 4, 5})};
    pbw m = op_model("TfIdfVectorizer", 9, 1, &ti, TETHER_DTYPE_FLOAT, 6, a1);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_INVALID_MODEL, "does not split a pool of 5 items into 2-grams");
    pbw a2[6] = {attr_str("mode", "TF"),
                 ob_attr_int("min_gram_length", 1),
                 ob_attr_int("max_gram_length", 2),
                 ob_attr_ints("ngram_counts", 2, (int64_t[]){0, 2}),
                 ob_attr_ints("ngram_indexes", 2, (int64_t[]){0, 1}),
                 ob_attr_ints("pool_int64s", 4, (int64_t[]){1, 2, 3, 4})};
    m = op_model("TfIdfVectorizer", 9, 1, &ti, TETHER_DTYPE_FLOAT, 6, a2);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_INVALID_MODEL, "the pool holds 3 n-grams but ngram_indexes has 2");
    pbw a3[6] = {attr_str("mode", "BM25"),
                 ob_attr_int("min_gram_length", 1),
                 ob_attr_int("max_gram_length", 1),
                 ob_attr_ints("ngram_counts", 1, (int64_t[]){0}),
                 ob_attr_ints("ngram_indexes", 1, (int64_t[]){0}),
                 ob_attr_ints("pool_int64s", 1, (int64_t[]){1})};
    m = op_model("TfIdfVectorizer", 9, 1, &ti, TETHER_DTYPE_FLOAT, 6, a3);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_INVALID_MODEL, "mode must be TF, IDF or TFIDF");
    pbw a4[6] = {attr_str("mode", "TF"),
                 ob_attr_int("min_gram_length", 1),
                 ob_attr_int("max_gram_length", 1),
                 ob_attr_ints("ngram_counts", 1, (int64_t[]){0}),
                 ob_attr_ints("ngram_indexes", 1, (int64_t[]){0}),
                 ob_attr_ints("pool_int64s", 1, (int64_t[]){1})};
    tin st = {.dtype = TETHER_DTYPE_STRING, .rank = 1, .dims = {4}};
    m = op_model("TfIdfVectorizer", 9, 1, &st, TETHER_DTYPE_FLOAT, 6, a4);
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "input is string but the pool holds integers");
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
