/* The neural-network layer ops beyond what the ONNX suite checks: Conv and ConvTranspose
 * (grouped, depthwise, strided, dilated, padded, 1-D to 3-D) against a direct computation
 * on random data, attribute and shape errors that name the node and the numbers, symbolic
 * batch dims at load and several batch sizes at run, and bounds checks on data. */
#include "check.h"
#include "onnx_build.h"

#include <stdbool.h>

/* ---- building and running one-node models ------------------------------------------------- */

/* An input of the node: a graph input when data is NULL, else an initializer. dims[i] < 0
 * declares a symbolic dim. */
typedef struct spec {
    const char *name;
    int dtype, rank;
    int64_t dims[6];
    const void *data;
} spec;

static size_t spec_bytes(const spec *s)
{
    size_t n = tether_dtype_size((tether_dtype)s->dtype);
    for (int i = 0; i < s->rank; i++)
        n *= (size_t)s->dims[i];
    return n;
}

/* A model of one node `op` named "the_node" over ins, with outputs y0..y(nout-1). */
static pbw one_node(const char *op, int64_t opset, int nin, const spec *ins, int nout, int nattr, pbw *attrs)
{
    pbw vis[8], inits[8];
    int nvi = 0, ninit = 0;
    const char *names[8];
    for (int i = 0; i < nin; i++) {
        names[i] = ins[i].name;
        if (!*ins[i].name)
            continue;
        if (ins[i].data)
            inits[ninit++] =
                ob_tensor(ins[i].name, ins[i].dtype, ins[i].rank, ins[i].dims, ins[i].data, spec_bytes(&ins[i]));
        else
            vis[nvi++] = ob_input(ins[i].name, ins[i].dtype, ins[i].rank, ins[i].dims);
    }
    static const char *const out_names[] = {"y0", "y1", "y2", "y3", "y4"};
    pbw outs[5];
    for (int i = 0; i < nout; i++)
        outs[i] = ob_output(out_names[i], ins[0].dtype, -1, NULL);
    pbw n = ob_node(op, nin, names, nout, out_names, nattr, attrs);
    pbw_str(&n, 3, "the_node"); /* NodeProto.name (a later field wins) */
    pbw g = ob_graph("g", 1, &n, ninit, inits, nvi, vis, nout, outs);
    return ob_model(opset, &g);
}

static int open_model(pbw *m, tether_session **s)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    int rc = tether_session_open_bytes(s, m->buf, m->len, &cfg);
    ob_free(m);
    return rc;
}

/* Runs s on one float input x of the given dims; returns output 0 (caller frees out). */
static const tether_tensor *run1(tether_session *s, const char *name, int rank, const int64_t *dims, const float *x,
                                 tether_outputs **out)
{
    tether_tensor in = {.name = name, .dtype = TETHER_DTYPE_FLOAT, .rank = rank, .data = (void *)x};
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        in.dims[i] = dims[i], n *= (size_t)dims[i];
    in.size = n * sizeof(float);
    CHECK_OK(tether_session_run(s, &in, 1, out));
    return tether_outputs_get(*out, 0);
}

static uint64_t rng_state = 88172645463325252ull;
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) & 0xffff) / 32768.0f - 1.0f;
}
static float *rand_floats(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static void check_close(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= 1e-4 + 1e-4 * fabs(want[i])))
            CHECK_FAIL("element %zu: got %.7g, want %.7g", i, (double)got[i], (double)want[i]);
}

/* ---- direct convolution ------------------------------------------------------------------------ */

/* A conv's geometry over up to 3 spatial dims (unused leading dims: size 1, kernel 1). */
typedef struct geom {
    int nsp;
    int64_t N, C, M, G;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], op[3], out[3];
} geom;

static int64_t prod3(const int64_t *v)
{
    return v[0] * v[1] * v[2];
}

static void conv_out(geom *g)
{
    for (int i = 0; i < 3; i++)
        g->out[i] = (g->in[i] + g->pb[i] + g->pe[i] - g->d[i] * (g->k[i] - 1) - 1) / g->s[i] + 1;
}

static void convt_out(geom *g)
{
    for (int i = 0; i < 3; i++)
        g->out[i] = g->s[i] * (g->in[i] - 1) + g->op[i] + (g->k[i] - 1) * g->d[i] + 1 - g->pb[i] - g->pe[i];
}

/* y[n, m, o] = b[m] + sum over c of m's group and kernel taps of x[n, c, o*s + k*d - pb] * w[m, c', k] */
static void naive_conv(const geom *g, const float *x, const float *w, const float *b, float *y)
{
    int64_t Cg = g->C / g->G, Mg = g->M / g->G, isz = prod3(g->in), osz = prod3(g->out), kp = prod3(g->k);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t m = 0; m < g->M; m++)
            for (int64_t o = 0; o < osz; o++) {
                int64_t oc[3] = {o / (g->out[1] * g->out[2]), o / g->out[2] % g->out[1], o % g->out[2]};
                double acc = b ? b[m] : 0;
                for (int64_t c = 0; c < Cg; c++)
                    for (int64_t kk = 0; kk < kp; kk++) {
                        int64_t kc[3] = {kk / (g->k[1] * g->k[2]), kk / g->k[2] % g->k[1], kk % g->k[2]}, ic[3];
                        bool inside = true;
                        for (int d = 0; d < 3; d++) {
                            ic[d] = oc[d] * g->s[d] + kc[d] * g->d[d] - g->pb[d];
                            inside &= ic[d] >= 0 && ic[d] < g->in[d];
                        }
                        if (!inside)
                            continue;
                        int64_t ci = m / Mg * Cg + c;
                        acc += (double)x[(n * g->C + ci) * isz + (ic[0] * g->in[1] + ic[1]) * g->in[2] + ic[2]] *
                               w[(m * Cg + c) * kp + kk];
                    }
                y[(n * g->M + m) * osz + o] = (float)acc;
            }
}

/* ConvTranspose: every input element scatters x * w[c, m', k] to o = i*s + k*d - pb. */
static void naive_convt(const geom *g, const float *x, const float *w, const float *b, float *y)
{
    int64_t Cg = g->C / g->G, Mg = g->M / g->G, isz = prod3(g->in), osz = prod3(g->out), kp = prod3(g->k);
    double *acc = calloc((size_t)(g->N * g->M * osz), sizeof *acc);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t i = 0; i < isz; i++) {
                int64_t ic[3] = {i / (g->in[1] * g->in[2]), i / g->in[2] % g->in[1], i % g->in[2]};
                for (int64_t mm = 0; mm < Mg; mm++)
                    for (int64_t kk = 0; kk < kp; kk++) {
                        int64_t kc[3] = {kk / (g->k[1] * g->k[2]), kk / g->k[2] % g->k[1], kk % g->k[2]}, oc[3];
                        bool inside = true;
                        for (int d = 0; d < 3; d++) {
                            oc[d] = ic[d] * g->s[d] + kc[d] * g->d[d] - g->pb[d];
                            inside &= oc[d] >= 0 && oc[d] < g->out[d];
                        }
                        if (!inside)
                            continue;
                        int64_t m = c / Cg * Mg + mm;
                        acc[(n * g->M + m) * osz + (oc[0] * g->out[1] + oc[1]) * g->out[2] + oc[2]] +=
                            (double)x[(n * g->C + c) * isz + i] * w[(c * Mg + mm) * kp + kk];
                    }
            }
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t m = 0; m < g->M; m++)
            for (int64_t o = 0; o < osz; o++)
                y[(n * g->M + m) * osz + o] = (float)(acc[(n * g->M + m) * osz + o] + (b ? b[m] : 0));
    free(acc);
}

/* Builds the node for g (attributes spelled out for the real spatial dims), runs it on
 * random data and compares with the direct computation. */
static void check_conv(geom g, bool transpose, bool bias)
{
    int off = 3 - g.nsp;
    for (int i = 0; i < off; i++) {
        g.in[i] = g.k[i] = g.s[i] = g.d[i] = 1;
        g.pb[i] = g.pe[i] = g.op[i] = 0;
    }
    if (transpose)
        convt_out(&g);
    else
        conv_out(&g);
    int64_t isz = prod3(g.in), osz = prod3(g.out), kp = prod3(g.k);
    int64_t wn = transpose ? g.C * (g.M / g.G) * kp : g.M * (g.C / g.G) * kp;
    float *x = rand_floats((size_t)(g.N * g.C * isz)), *w = rand_floats((size_t)wn), *b = rand_floats((size_t)g.M);
    float *want = malloc((size_t)(g.N * g.M * osz) * sizeof *want);
    (transpose ? naive_convt : naive_conv)(&g, x, w, bias ? b : NULL, want);

    spec ins[3] = {{"x", TETHER_DTYPE_FLOAT, 2 + g.nsp, {g.N, g.C}, NULL},
                   {"w", TETHER_DTYPE_FLOAT, 2 + g.nsp, {transpose ? g.C : g.M, transpose ? g.M / g.G : g.C / g.G}, w},
                   {"b", TETHER_DTYPE_FLOAT, 1, {g.M}, b}};
    int64_t ks[3], ss[3], ds[3], ps[6], ops[3];
    for (int i = 0; i < g.nsp; i++) {
        ins[0].dims[2 + i] = g.in[off + i];
        ins[1].dims[2 + i] = g.k[off + i];
        ks[i] = g.k[off + i], ss[i] = g.s[off + i], ds[i] = g.d[off + i], ops[i] = g.op[off + i];
        ps[i] = g.pb[off + i], ps[g.nsp + i] = g.pe[off + i];
    }
    pbw attrs[6] = {ob_attr_ints("kernel_shape", g.nsp, ks),
                    ob_attr_ints("strides", g.nsp, ss),
                    ob_attr_ints("dilations", g.nsp, ds),
                    ob_attr_ints("pads", 2 * g.nsp, ps),
                    ob_attr_int("group", g.G),
                    ob_attr_ints("output_padding", g.nsp, ops)};
    if (!transpose)
        ob_free(&attrs[5]);
    pbw m = one_node(transpose ? "ConvTranspose" : "Conv", 13, bias ? 3 : 2, ins, 1, transpose ? 6 : 5, attrs);
    tether_session *s;
    CHECK_OK(open_model(&m, &s));
    tether_outputs *out;
    const tether_tensor *y = run1(s, "x", ins[0].rank, ins[0].dims, x, &out);
    CHECK_EQ_INT(y->rank, 2 + g.nsp);
    CHECK_EQ_INT(y->dims[1], g.M);
    for (int i = 0; i < g.nsp; i++)
        CHECK_EQ_INT(y->dims[2 + i], g.out[off + i]);
    check_close(y->data, want, (size_t)(g.N * g.M * osz));
    tether_outputs_free(out);
    tether_session_free(s);
    free(x), free(w), free(b), free(want);
}

TEST(conv_grouped_matches_direct)
{
    /* 3 groups, asymmetric pads, strides and dilations differing per dim */
    check_conv((geom){.nsp = 2,
                      .N = 2,
                      .C = 6,
                      .M = 9,
                      .G = 3,
                      .in = {1, 9, 11},
                      .k = {1, 3, 2},
                      .s = {1, 2, 1},
                      .d = {1, 1, 2},
                      .pb = {0, 1, 0},
                      .pe = {0, 2, 1}},
               false, true);
    /* no bias, 1-D and 3-D */
    check_conv((geom){.nsp = 1,
                      .N = 1,
                      .C = 4,
                      .M = 6,
                      .G = 2,
                      .in = {1, 1, 23},
                      .k = {1, 1, 5},
                      .s = {1, 1, 3},
                      .d = {1, 1, 1},
                      .pb = {0, 0, 2},
                      .pe = {0, 0, 1}},
               false, false);
    check_conv((geom){.nsp = 3,
                      .N = 2,
                      .C = 4,
                      .M = 4,
                      .G = 2,
                      .in = {5, 6, 7},
                      .k = {2, 3, 2},
                      .s = {1, 2, 1},
                      .d = {2, 1, 1},
                      .pb = {1, 0, 1},
                      .pe = {0, 1, 1}},
               false, true);
}

TEST(conv_depthwise_matches_direct)
{
    /* the direct depthwise kernel: vector interior and edge columns, strides 1, 2 and 3, a
     * channel multiplier, a kernel wider than the input */
    int64_t strides[] = {1, 2, 3};
    for (int i = 0; i < 3; i++) {
        int64_t st = strides[i];
        check_conv((geom){.nsp = 2,
                          .N = 2,
                          .C = 8,
                          .M = 8,
                          .G = 8,
                          .in = {1, 13, 37},
                          .k = {1, 3, 3},
                          .s = {1, st, st},
                          .d = {1, 1, 1},
                          .pb = {0, 1, 1},
                          .pe = {0, 1, 1}},
                   false, true);
        check_conv((geom){.nsp = 2,
                          .N = 1,
                          .C = 3,
                          .M = 6,
                          .G = 3,
                          .in = {1, 9, 19},
                          .k = {1, 5, 5},
                          .s = {1, st, st},
                          .d = {1, 2, 1},
                          .pb = {0, 4, 2},
                          .pe = {0, 3, 2}},
                   false, false);
    }
    /* 3x3 with dilation 2: the register-resident 3x3 path with spread taps */
    check_conv((geom){.nsp = 2,
                      .N = 1,
                      .C = 4,
                      .M = 4,
                      .G = 4,
                      .in = {1, 11, 26},
                      .k = {1, 3, 3},
                      .s = {1, 1, 1},
                      .d = {1, 2, 2},
                      .pb = {0, 2, 2},
                      .pe = {0, 1, 2}},
               false, true);
    check_conv((geom){.nsp = 2,
                      .N = 1,
                      .C = 2,
                      .M = 2,
                      .G = 2,
                      .in = {1, 4, 3},
                      .k = {1, 3, 7},
                      .s = {1, 1, 1},
                      .d = {1, 1, 1},
                      .pb = {0, 1, 3},
                      .pe = {0, 1, 3}},
               false, true);
}

TEST(conv_gemm_paths_match_direct)
{
    /* pointwise (no im2col) alone and batched, and an im2col conv wide enough for column tiles */
    check_conv((geom){.nsp = 2,
                      .N = 1,
                      .C = 16,
                      .M = 8,
                      .G = 1,
                      .in = {1, 20, 20},
                      .k = {1, 1, 1},
                      .s = {1, 1, 1},
                      .d = {1, 1, 1}},
               false, true);
    check_conv(
        (geom){
            .nsp = 2, .N = 3, .C = 16, .M = 8, .G = 1, .in = {1, 7, 9}, .k = {1, 1, 1}, .s = {1, 1, 1}, .d = {1, 1, 1}},
        false, true);
    check_conv((geom){.nsp = 2,
                      .N = 2,
                      .C = 16,
                      .M = 12,
                      .G = 2,
                      .in = {1, 33, 31},
                      .k = {1, 3, 3},
                      .s = {1, 1, 1},
                      .d = {1, 1, 1},
                      .pb = {0, 1, 1},
                      .pe = {0, 1, 1}},
               false, true);
    check_conv((geom){.nsp = 2,
                      .N = 1,
                      .C = 3,
                      .M = 8,
                      .G = 1,
                      .in = {1, 40, 45},
                      .k = {1, 7, 7},
                      .s = {1, 2, 2},
                      .d = {1, 1, 1},
                      .pb = {0, 3, 3},
                      .pe = {0, 3, 3}},
               false, false);
}

TEST(convtranspose_matches_direct)
{
    check_conv((geom){.nsp = 2,
                      .N = 2,
                      .C = 4,
                      .M = 6,
                      .G = 2,
                      .in = {1, 5, 4},
                      .k = {1, 3, 2},
                      .s = {1, 2, 3},
                      .d = {1, 1, 2},
                      .pb = {0, 1, 0},
                      .pe = {0, 0, 1},
                      .op = {0, 1, 2}},
               true, true);
    check_conv((geom){.nsp = 1,
                      .N = 1,
                      .C = 3,
                      .M = 2,
                      .G = 1,
                      .in = {1, 1, 7},
                      .k = {1, 1, 4},
                      .s = {1, 1, 2},
                      .d = {1, 1, 1},
                      .pb = {0, 0, 1},
                      .pe = {0, 0, 2}},
               true, false);
    check_conv((geom){.nsp = 3,
                      .N = 1,
                      .C = 2,
                      .M = 2,
                      .G = 2,
                      .in = {3, 2, 4},
                      .k = {2, 2, 3},
                      .s = {2, 1, 2},
                      .d = {1, 2, 1},
                      .pb = {1, 0, 0},
                      .pe = {0, 0, 1},
                      .op = {1, 0, 0}},
               true, true);
}

/* float16 values with at most 11 significant bits, exact in both directions */
static uint16_t f16_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) == 0)
        return (uint16_t)(x >> 16);
    return (uint16_t)(((x >> 16) & 0x8000) | ((((x >> 23) & 0xff) - 112) << 10) | ((x >> 13) & 0x3ff));
}
static float f16_value(uint16_t h)
{
    uint32_t x = (uint32_t)(h & 0x8000) << 16;
    if (h & 0x7fff)
        x |= ((uint32_t)((h >> 10) & 0x1f) + 112) << 23 | (uint32_t)(h & 0x3ff) << 13;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* double runs its own lowering (dgemm), float16 goes through float: both against the
 * direct computation, on values float16 holds exactly. */
TEST(conv_double_and_half)
{
    geom g = {.nsp = 2,
              .N = 2,
              .C = 4,
              .M = 6,
              .G = 2,
              .in = {1, 7, 6},
              .k = {1, 3, 2},
              .s = {1, 2, 1},
              .d = {1, 1, 2},
              .pb = {0, 1, 0},
              .pe = {0, 1, 1}};
    conv_out(&g);
    int64_t nx = g.N * g.C * 42, nw = 6 * 2 * 6, ny = g.N * g.M * prod3(g.out);
    float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), b[6], *want = malloc((size_t)ny * 4);
    for (int64_t i = 0; i < nx; i++)
        x[i] = (float)((int)(frand() * 16)) / 8;
    for (int64_t i = 0; i < nw; i++)
        w[i] = (float)((int)(frand() * 8)) / 4;
    for (int i = 0; i < 6; i++)
        b[i] = (float)i - 2.5f;
    naive_conv(&g, x, w, b, want);
    for (int half = 0; half < 2; half++) {
        int dt = half ? TETHER_DTYPE_FLOAT16 : TETHER_DTYPE_DOUBLE;
        size_t es = half ? 2 : 8;
        char *xd = malloc((size_t)nx * es), *wd = malloc((size_t)nw * es), bd[6 * 8];
        for (int64_t i = 0; i < nx + nw + 6; i++) {
            float v = i < nx ? x[i] : i < nx + nw ? w[i - nx] : b[i - nx - nw];
            char *dst = i < nx ? xd + i * es : i < nx + nw ? wd + (i - nx) * es : bd + (i - nx - nw) * es;
            if (half) {
                uint16_t h = f16_bits(v);
                memcpy(dst, &h, 2);
            } else {
                double d = v;
                memcpy(dst, &d, 8);
            }
        }
        spec ins[3] = {{"x", dt, 4, {g.N, g.C, 7, 6}, NULL}, {"w", dt, 4, {6, 2, 3, 2}, wd}, {"b", dt, 1, {6}, bd}};
        pbw attrs[4] = {ob_attr_ints("strides", 2, (int64_t[]){2, 1}), ob_attr_ints("dilations", 2, (int64_t[]){1, 2}),
                        ob_attr_ints("pads", 4, (int64_t[]){1, 0, 1, 1}), ob_attr_int("group", 2)};
        pbw m = one_node("Conv", 13, 3, ins, 1, 4, attrs);
        tether_session *s;
        CHECK_OK(open_model(&m, &s));
        tether_tensor in = {.name = "x",
                            .dtype = (tether_dtype)dt,
                            .rank = 4,
                            .dims = {g.N, g.C, 7, 6},
                            .data = xd,
                            .size = (size_t)nx * es};
        tether_outputs *out;
        CHECK_OK(tether_session_run(s, &in, 1, &out));
        const tether_tensor *y = tether_outputs_get(out, 0);
        CHECK_EQ_INT(y->dtype, dt);
        CHECK_EQ_INT(y->size, (size_t)ny * es);
        for (int64_t i = 0; i < ny; i++) {
            double v = half ? f16_value(((const uint16_t *)y->data)[i]) : ((const double *)y->data)[i];
            CHECK_NEAR(v, want[i], half ? 1e-3 * fabs(want[i]) + 1e-3 : 1e-9);
        }
        tether_outputs_free(out);
        tether_session_free(s);
        free(xd), free(wd);
    }
    free(x), free(w), free(want);
}

/* ---- symbolic and changing batch ------------------------------------------------------------------ */

TEST(conv_dynamic_batch)
{
    geom g = {.nsp = 2,
              .C = 3,
              .M = 4,
              .G = 1,
              .in = {1, 8, 8},
              .k = {1, 3, 3},
              .s = {1, 1, 1},
              .d = {1, 1, 1},
              .pb = {0, 1, 1},
              .pe = {0, 1, 1}};
    conv_out(&g);
    float *w = rand_floats(4 * 3 * 9), *b = rand_floats(4);
    spec ins[3] = {{"x", TETHER_DTYPE_FLOAT, 4, {-1, 3, 8, 8}, NULL},
                   {"w", TETHER_DTYPE_FLOAT, 4, {4, 3, 3, 3}, w},
                   {"b", TETHER_DTYPE_FLOAT, 1, {4}, b}};
    pbw attrs[1] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1})};
    pbw m = one_node("Conv", 13, 3, ins, 1, 1, attrs);
    tether_session *s;
    CHECK_OK(open_model(&m, &s));
    /* inference at load kept the batch symbolic and fixed the rest */
    tether_value_info info;
    CHECK_OK(tether_session_output_info(s, 0, &info));
    CHECK_EQ_INT(info.dtype, TETHER_DTYPE_FLOAT);
    CHECK_EQ_INT(info.rank, 4);
    CHECK(info.dims[0] < 0);
    CHECK_EQ_INT(info.dims[1], 4);
    CHECK_EQ_INT(info.dims[2], 8);
    CHECK_EQ_INT(info.dims[3], 8);
    int64_t batches[] = {1, 5, 2, 5};
    for (int i = 0; i < 4; i++) {
        g.N = batches[i];
        float *x = rand_floats((size_t)(g.N * 3 * 64)), *want = malloc((size_t)(g.N * 4 * 64) * sizeof *want);
        naive_conv(&g, x, w, b, want);
        tether_outputs *out;
        const tether_tensor *y = run1(s, "x", 4, (int64_t[]){g.N, 3, 8, 8}, x, &out);
        CHECK_EQ_INT(y->dims[0], g.N);
        check_close(y->data, want, (size_t)(g.N * 4 * 64));
        tether_outputs_free(out);
        free(x), free(want);
    }
    tether_session_free(s);
    free(w), free(b);
}

/* Every window op opens with a symbolic batch and an unknown-rank input, keeping the dtype. */
TEST(window_ops_infer_symbolic_shapes)
{
    static const char *const ops[] = {"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool"};
    for (int i = 0; i < 5; i++) {
        for (int known = 0; known < 2; known++) {
            spec ins[1] = {{"x", TETHER_DTYPE_FLOAT, known ? 4 : -1, {-1, 3, 10, 10}, NULL}};
            pbw attrs[2] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){3, 3}),
                            ob_attr_ints("strides", 2, (int64_t[]){2, 2})};
            bool global = strncmp(ops[i], "Global", 6) == 0;
            if (global)
                ob_free(&attrs[0]), ob_free(&attrs[1]);
            pbw m = one_node(ops[i], 13, 1, ins, 1, global ? 0 : 2, attrs);
            tether_session *s;
            CHECK_OK(open_model(&m, &s));
            tether_value_info info;
            CHECK_OK(tether_session_output_info(s, 0, &info));
            CHECK_EQ_INT(info.dtype, TETHER_DTYPE_FLOAT);
            CHECK_EQ_INT(info.rank, known ? 4 : -1);
            if (known) {
                CHECK(info.dims[0] < 0);
                CHECK_EQ_INT(info.dims[2], global ? 1 : 4);
            }
            tether_session_free(s);
        }
    }
}

/* Group normalisation as exporters write it: Reshape to [N, G, -1], InstanceNormalization
 * with unit scale, Reshape back, then the per-channel affine with Mul and Add. */
TEST(group_norm_through_instance_norm)
{
    const int64_t C = 6, G = 3, H = 4, W = 5, per = C / G * H * W;
    float ones[3] = {1, 1, 1}, zeros[3] = {0, 0, 0}, gamma[6], beta[6];
    for (int i = 0; i < 6; i++)
        gamma[i] = frand() + 1.5f, beta[i] = frand();
    int64_t grouped[3] = {0, G, -1};
    pbw inits[5] = {ob_tensor("ones", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, ones, sizeof ones),
                    ob_tensor("zeros", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, zeros, sizeof zeros),
                    ob_tensor("grouped", TETHER_DTYPE_INT64, 1, (int64_t[]){3}, grouped, sizeof grouped),
                    ob_tensor("gamma", TETHER_DTYPE_FLOAT, 3, (int64_t[]){6, 1, 1}, gamma, sizeof gamma),
                    ob_tensor("beta", TETHER_DTYPE_FLOAT, 3, (int64_t[]){6, 1, 1}, beta, sizeof beta)};
    pbw eps[1] = {ob_attr_float("epsilon", 1e-3f)};
    pbw nodes[6] = {
        ob_node("Reshape", 2, (const char *[]){"x", "grouped"}, 1, (const char *[]){"r"}, 0, NULL),
        ob_node("InstanceNormalization", 3, (const char *[]){"r", "ones", "zeros"}, 1, (const char *[]){"n"}, 1, eps),
        ob_node("Shape", 1, (const char *[]){"x"}, 1, (const char *[]){"s"}, 0, NULL),
        ob_node("Reshape", 2, (const char *[]){"n", "s"}, 1, (const char *[]){"b"}, 0, NULL),
        ob_node("Mul", 2, (const char *[]){"b", "gamma"}, 1, (const char *[]){"m"}, 0, NULL),
        ob_node("Add", 2, (const char *[]){"m", "beta"}, 1, (const char *[]){"y0"}, 0, NULL)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 4, (int64_t[]){-1, C, H, W});
    pbw y = ob_output("y0", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw g = ob_graph("g", 6, nodes, 5, inits, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    tether_session *s;
    CHECK_OK(open_model(&m, &s));
    for (int64_t N = 1; N <= 3; N += 2) {
        float *xv = rand_floats((size_t)(N * C * H * W)), *want = malloc((size_t)(N * C * H * W) * sizeof *want);
        for (int64_t n = 0; n < N; n++)
            for (int64_t gi = 0; gi < G; gi++) {
                const float *xs = xv + (n * G + gi) * per;
                double mean = 0, var = 0;
                for (int64_t i = 0; i < per; i++)
                    mean += xs[i] / (double)per;
                for (int64_t i = 0; i < per; i++)
                    var += (xs[i] - mean) * (xs[i] - mean) / (double)per;
                for (int64_t i = 0; i < per; i++) {
                    int64_t ch = gi * (C / G) + i / (H * W);
                    want[(n * G + gi) * per + i] = (float)((xs[i] - mean) / sqrt(var + 1e-3) * gamma[ch] + beta[ch]);
                }
            }
        tether_outputs *out;
        const tether_tensor *yt = run1(s, "x", 4, (int64_t[]){N, C, H, W}, xv, &out);
        CHECK_EQ_INT(yt->dims[0], N);
        check_close(yt->data, want, (size_t)(N * C * H * W));
        tether_outputs_free(out);
        free(xv), free(want);
    }
    tether_session_free(s);
}

/* ---- errors ---------------------------------------------------------------------------------------- */

static int conv_open(const int64_t *xdims, const int64_t *wdims, int nattr, pbw *attrs)
{
    static float w[4096];
    spec ins[2] = {{"x", TETHER_DTYPE_FLOAT, 4, {xdims[0], xdims[1], xdims[2], xdims[3]}, NULL},
                   {"w", TETHER_DTYPE_FLOAT, 4, {wdims[0], wdims[1], wdims[2], wdims[3]}, w}};
    pbw m = one_node("Conv", 13, 2, ins, 1, nattr, attrs);
    tether_session *s = NULL;
    int rc = open_model(&m, &s);
    tether_session_free(s);
    return rc;
}

TEST(conv_bad_attributes_are_named)
{
    int64_t x[4] = {1, 4, 8, 8}, w[4] = {2, 4, 3, 3};
    pbw a1[1] = {ob_attr_ints("strides", 2, (int64_t[]){0, 1})};
    CHECK_ERR(conv_open(x, w, 1, a1), TETHER_ERR_INVALID_MODEL,
              "node 'the_node' (Conv): 'strides'[0] is 0; it must be positive");
    pbw a2[1] = {ob_attr_ints("dilations", 2, (int64_t[]){1, -2})};
    CHECK_ERR(conv_open(x, w, 1, a2), TETHER_ERR_INVALID_MODEL, "'dilations'[1] is -2; it must be positive");
    pbw a3[1] = {ob_attr_ints("pads", 4, (int64_t[]){1, -1, 1, 1})};
    CHECK_ERR(conv_open(x, w, 1, a3), TETHER_ERR_INVALID_MODEL, "'pads'[1] is -1; it must be non-negative");
    pbw a4[1] = {ob_attr_ints("pads", 3, (int64_t[]){1, 1, 1})};
    CHECK_ERR(conv_open(x, w, 1, a4), TETHER_ERR_INVALID_MODEL, "'pads' has 3 entries");
    pbw a5[1] = {ob_attr_ints("strides", 3, (int64_t[]){1, 1, 1})};
    CHECK_ERR(conv_open(x, w, 1, a5), TETHER_ERR_INVALID_MODEL,
              "'strides' has 3 entries but the input has 2 spatial dims");
    pbw a6[1] = {ob_attr_string("auto_pad", "SAME_MIDDLE")};
    CHECK_ERR(conv_open(x, w, 1, a6), TETHER_ERR_INVALID_MODEL, "unknown auto_pad 'SAME_MIDDLE'");
    pbw a7[1] = {ob_attr_int("group", 0)};
    CHECK_ERR(conv_open(x, w, 1, a7), TETHER_ERR_INVALID_MODEL, "group is 0");
    pbw a8[1] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){3, 5})};
    CHECK_ERR(conv_open(x, w, 1, a8), TETHER_ERR_SHAPE, "kernel_shape[1] is 5 but W's spatial dim 1 is 3");
}

TEST(conv_shape_mismatches_are_named)
{
    /* W expects 3 input channels, X has 4 */
    CHECK_ERR(conv_open((int64_t[]){1, 4, 8, 8}, (int64_t[]){2, 3, 3, 3}, 0, NULL), TETHER_ERR_SHAPE,
              "X has 4 channels but W expects 3 per group x 1 groups");
    /* 3 output channels cannot split into 2 groups */
    pbw g2[1] = {ob_attr_int("group", 2)};
    CHECK_ERR(conv_open((int64_t[]){1, 4, 8, 8}, (int64_t[]){3, 2, 3, 3}, 1, g2), TETHER_ERR_SHAPE,
              "W has 3 output channels, not divisible by group 2");
    /* a 5x5 kernel does not fit a 4x4 input */
    CHECK_ERR(conv_open((int64_t[]){1, 1, 4, 4}, (int64_t[]){1, 1, 5, 5}, 0, NULL), TETHER_ERR_SHAPE,
              "input size 4 with pads 0+0 is smaller than the kernel's extent 5");
    /* dilation makes a 3-tap kernel span 7 */
    pbw d3[1] = {ob_attr_ints("dilations", 2, (int64_t[]){1, 3})};
    CHECK_ERR(conv_open((int64_t[]){1, 1, 8, 6}, (int64_t[]){1, 1, 3, 3}, 1, d3), TETHER_ERR_SHAPE,
              "kernel's extent 7 (kernel 3, dilation 3)");
    /* X of rank 2 */
    static float w[9];
    spec ins[2] = {{"x", TETHER_DTYPE_FLOAT, 2, {1, 4}, NULL}, {"w", TETHER_DTYPE_FLOAT, 2, {1, 4}, w}};
    pbw m = one_node("Conv", 13, 2, ins, 1, 0, NULL);
    tether_session *s;
    CHECK_ERR(open_model(&m, &s), TETHER_ERR_SHAPE, "X and W need rank >= 3");
}

TEST(conv_too_small_input_fails_at_run_when_dims_were_symbolic)
{
    float w[25] = {0};
    spec ins[2] = {{"x", TETHER_DTYPE_FLOAT, 4, {1, 1, -1, -1}, NULL}, {"w", TETHER_DTYPE_FLOAT, 4, {1, 1, 5, 5}, w}};
    pbw m = one_node("Conv", 13, 2, ins, 1, 0, NULL);
    tether_session *s;
    CHECK_OK(open_model(&m, &s));
    float x[9] = {0};
    tether_tensor in = {
        .name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 4, .dims = {1, 1, 3, 3}, .data = x, .size = sizeof x};
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, &in, 1, &out), TETHER_ERR_SHAPE, "the_node");
    CHECK_STR_CONTAINS(tether_last_error(), "input size 3 with pads 0+0 is smaller than the kernel's extent 5");
    /* a big enough input still runs */
    float x6[36] = {0};
    in.dims[2] = in.dims[3] = 6, in.data = x6, in.size = sizeof x6;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    CHECK_EQ_INT(tether_outputs_get(out, 0)->dims[3], 2);
    tether_outputs_free(out);
    tether_session_free(s);
}

TEST(pool_bad_attributes_are_named)
{
    spec ins[1] = {{"x", TETHER_DTYPE_FLOAT, 4, {1, 1, 6, 6}, NULL}};
    tether_session *s;
    pbw m1 = one_node("MaxPool", 12, 1, ins, 1, 0, NULL);
    CHECK_ERR(open_model(&m1, &s), TETHER_ERR_INVALID_MODEL, "the 'kernel_shape' attribute is required");
    pbw a2[2] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){2, 2}), ob_attr_ints("strides", 2, (int64_t[]){1, 0})};
    pbw m2 = one_node("AveragePool", 11, 1, ins, 1, 2, a2);
    CHECK_ERR(open_model(&m2, &s), TETHER_ERR_INVALID_MODEL, "'strides'[1] is 0");
    pbw a3[1] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){0, 2})};
    pbw m3 = one_node("MaxPool", 12, 1, ins, 1, 1, a3);
    CHECK_ERR(open_model(&m3, &s), TETHER_ERR_INVALID_MODEL, "'kernel_shape'[0] is 0");
    pbw a4[1] = {ob_attr_ints("kernel_shape", 4, (int64_t[]){2, 2, 2, 2})};
    spec ins6[1] = {{"x", TETHER_DTYPE_FLOAT, 6, {1, 1, 3, 3, 3, 3}, NULL}};
    pbw m4 = one_node("MaxPool", 12, 1, ins6, 1, 1, a4);
    CHECK_ERR(open_model(&m4, &s), TETHER_ERR_UNSUPPORTED, "at most 3 spatial dims");
    pbw a5[1] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){7, 2})};
    pbw m5 = one_node("MaxPool", 12, 1, ins, 1, 1, a5);
    CHECK_ERR(open_model(&m5, &s), TETHER_ERR_SHAPE, "smaller than the kernel's extent 7");
}

TEST(maxunpool_rejects_out_of_range_indices)
{
    spec ins[2] = {{"x", TETHER_DTYPE_FLOAT, 4, {1, 1, 2, 2}, NULL}, {"i", TETHER_DTYPE_INT64, 4, {1, 1, 2, 2}, NULL}};
    pbw attrs[2] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){2, 2}), ob_attr_ints("strides", 2, (int64_t[]){2, 2})};
    pbw m = one_node("MaxUnpool", 11, 2, ins, 1, 2, attrs);
    tether_session *s;
    CHECK_OK(open_model(&m, &s));
    float x[4] = {1, 2, 3, 4};
    int64_t idx[4] = {0, 5, 10, 15};
    tether_tensor in[2] = {
        {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 4, .dims = {1, 1, 2, 2}, .data = x, .size = sizeof x},
        {.name = "i", .dtype = TETHER_DTYPE_INT64, .rank = 4, .dims = {1, 1, 2, 2}, .data = idx, .size = sizeof idx}};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, in, 2, &out));
    const tether_tensor *y = tether_outputs_get(out, 0);
    CHECK_EQ_INT(y->dims[2], 4);
    float want[16] = {1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 4};
    check_close(y->data, want, 16);
    tether_outputs_free(out);
    idx[2] = 16;
    CHECK_ERR(tether_session_run(s, in, 2, &out), TETHER_ERR_RUNTIME, "index 16 at position 2 is out of range [0, 16)");
    idx[2] = -1;
    CHECK_ERR(tether_session_run(s, in, 2, &out), TETHER_ERR_RUNTIME, "index -1");
    tether_session_free(s);
}

TEST(roialign_rejects_bad_batch_index)
{
    float rois[4] = {0, 0, 2, 2};
    spec ins[3] = {{"x", TETHER_DTYPE_FLOAT, 4, {2, 1, 4, 4}, NULL},
                   {"r", TETHER_DTYPE_FLOAT, 2, {1, 4}, rois},
                   {"b", TETHER_DTYPE_INT64, 1, {1}, NULL}};
    pbw m = one_node("RoiAlign", 16, 3, ins, 1, 0, NULL);
    tether_session *s;
    CHECK_OK(open_model(&m, &s));
    float x[32] = {0};
    int64_t b = 2;
    tether_tensor in[2] = {
        {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 4, .dims = {2, 1, 4, 4}, .data = x, .size = sizeof x},
        {.name = "b", .dtype = TETHER_DTYPE_INT64, .rank = 1, .dims = {1}, .data = &b, .size = 8}};
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, in, 2, &out), TETHER_ERR_RUNTIME, "batch index 2 of roi 0 is out of range [0, 2)");
    b = 1;
    CHECK_OK(tether_session_run(s, in, 2, &out));
    tether_outputs_free(out);
    tether_session_free(s);
}

/* ---- resize on integers ---------------------------------------------------------------------------- */

TEST(resize_uint8_rounds_and_saturates)
{
    /* cubic overshoots past 0 and 255 next to a step; uint8 output must clamp, not wrap */
    uint8_t x[8] = {0, 0, 0, 0, 255, 255, 255, 255};
    float scales[4] = {1, 1, 1, 4};
    spec ins[3] = {{"x", TETHER_DTYPE_UINT8, 4, {1, 1, 1, 8}, NULL},
                   {"", 0, 0, {0}, NULL},
                   {"s", TETHER_DTYPE_FLOAT, 1, {4}, scales}};
    pbw attrs[1] = {ob_attr_string("mode", "cubic")};
    pbw m = one_node("Resize", 13, 3, ins, 1, 1, attrs);
    tether_session *s;
    CHECK_OK(open_model(&m, &s));
    tether_tensor in = {
        .name = "x", .dtype = TETHER_DTYPE_UINT8, .rank = 4, .dims = {1, 1, 1, 8}, .data = x, .size = sizeof x};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    const tether_tensor *y = tether_outputs_get(out, 0);
    CHECK_EQ_INT(y->dims[3], 32);
    const uint8_t *v = y->data;
    for (int i = 0; i < 32; i++) {
        /* monotone across the step apart from the clamped overshoot */
        if (i < 12)
            CHECK_EQ_INT(v[i], 0);
        if (i >= 20)
            CHECK_EQ_INT(v[i], 255);
    }
    CHECK(v[15] > 0 && v[15] < 128 && v[16] > 128 && v[16] < 255);
    tether_outputs_free(out);
    tether_session_free(s);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
