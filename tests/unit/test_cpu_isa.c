/* The cpu backend's vectorised primitives, on every instruction set this CPU supports:
 * the polynomial exp/tanh/erf/sigmoid/GELU against libm over dense ranges (special values
 * included), the GEMM against a plain loop with every epilogue, and its batch invariance
 * (a row's result bit-identical whatever the number of rows). */
#include "check.h"

#include "backends/cpu/isa.h"

#include <stdint.h>

static const tt_cpu_isa *g_isas[3];
static int g_n_isas;

static void collect(void)
{
    g_n_isas = 0;
    g_isas[g_n_isas++] = &tt_isa_scalar;
#if defined(__x86_64__)
    const tt_cpu_isa *best = tt_cpu_isa_get();
    if (best->vl >= 8)
        g_isas[g_n_isas++] = &tt_isa_avx2;
    if (best->vl >= 16)
        g_isas[g_n_isas++] = &tt_isa_avx512;
#endif
}

static double ref_unary(int op, double x)
{
    switch (op) {
    case TT_U_EXP: return exp(x);
    case TT_U_TANH: return tanh(x);
    case TT_U_ERF: return erf(x);
    case TT_U_SIGMOID: return 1 / (1 + exp(-x));
    case TT_U_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case TT_U_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case TT_U_SILU: return x / (1 + exp(-x));
    case TT_U_SWISH: return x / (1 + exp(-0.5 * x));
    }
    return NAN;
}

/* Checks op over [lo, hi] in n steps: |y - ref| <= abs_tol + rel_tol |ref|. */
static void check_map(const tt_cpu_isa *isa, int op, const char *name, double lo, double hi, double abs_tol,
                      double rel_tol)
{
    enum { N = 200003 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++)
        x[i] = (float)(lo + (hi - lo) * i / (N - 1));
    isa->unary(op, x, y, N, op == TT_U_SWISH ? 0.5f : 0, 0);
    double worst = 0;
    int at = 0;
    for (int i = 0; i < N; i++) {
        double r = ref_unary(op, x[i]), e = fabs(y[i] - r) / (abs_tol + rel_tol * fabs(r));
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    if (!(worst <= 1))
        CHECK_FAIL("%s %s(%.9g) = %.9g, libm %.9g", isa->name, name, x[at], y[at], ref_unary(op, x[at]));
    free(x);
    free(y);
}

TEST(math_matches_libm)
{
    collect();
    for (int k = 0; k < g_n_isas; k++) {
        const tt_cpu_isa *isa = g_isas[k];
        /* a few float ulps */
        check_map(isa, TT_U_EXP, "exp", -87, 88.5, 1e-37, 4e-7);
        check_map(isa, TT_U_TANH, "tanh", -10, 10, 1e-37, 4e-7);
        check_map(isa, TT_U_TANH, "tanh", -1e-3, 1e-3, 1e-37, 4e-7);
        check_map(isa, TT_U_ERF, "erf", -5, 5, 1.5e-7, 4e-7);
        check_map(isa, TT_U_ERF, "erf", -1e-3, 1e-3, 1e-37, 4e-7);
        check_map(isa, TT_U_SIGMOID, "sigmoid", -80, 80, 1e-37, 6e-7);
        check_map(isa, TT_U_GELU, "gelu", -8, 8, 2e-7, 6e-7);
        check_map(isa, TT_U_GELU_TANH, "gelu_tanh", -8, 8, 2e-7, 6e-7);
        check_map(isa, TT_U_SILU, "silu", -30, 30, 2e-7, 6e-7);
        check_map(isa, TT_U_SWISH, "swish", -30, 30, 2e-7, 6e-7);
    }
}

TEST(special_values)
{
    collect();
    float x[8] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 100.0f, -100.0f, 1e-30f}, y[8];
    for (int k = 0; k < g_n_isas; k++) {
        const tt_cpu_isa *isa = g_isas[k];
        isa->unary(TT_U_EXP, x, y, 8, 0, 0);
        CHECK(isnan(y[0]) && y[1] == INFINITY && y[2] == 0 && y[3] == 1 && y[4] == 1 && y[5] == INFINITY &&
              y[6] == 0 && y[7] == 1);
        isa->unary(TT_U_TANH, x, y, 8, 0, 0);
        CHECK(isnan(y[0]) && y[1] == 1 && y[2] == -1 && y[3] == 0 && signbit(y[4]) && y[5] == 1 && y[6] == -1 &&
              y[7] == 1e-30f);
        isa->unary(TT_U_ERF, x, y, 8, 0, 0);
        CHECK(isnan(y[0]) && y[1] == 1 && y[2] == -1 && y[3] == 0 && signbit(y[4]) && y[5] == 1 && y[6] == -1);
        isa->unary(TT_U_RELU, x, y, 8, 0, 0);
        CHECK(isnan(y[0]) && y[1] == INFINITY && y[2] == 0 && y[5] == 100 && y[6] == 0);
        isa->unary(TT_U_SIGMOID, x, y, 8, 0, 0);
        CHECK(isnan(y[0]) && y[1] == 1 && y[2] == 0 && y[3] == 0.5f);
    }
}

static uint64_t g_rng = 88172645463325252ull;
static float rnd(void)
{
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / (double)(1ull << 53)) * 2 - 1;
}

/* Packs B (K x N) as the ISA's GEMM wants it. */
static float *pack(const tt_cpu_isa *isa, const float *B, int K, int N)
{
    int nr = isa->nr, panels = (N + nr - 1) / nr;
    float *p = calloc((size_t)panels * K * nr + 1, sizeof(float));
    for (int j = 0; j < N; j++)
        for (int k = 0; k < K; k++)
            p[(size_t)(j / nr) * K * nr + (size_t)k * nr + j % nr] = B[k * N + j];
    return p;
}

TEST(gemm_matches_loops)
{
    collect();
    int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {8, 32, 16}, {17, 33, 65}, {9, 100, 3}, {64, 48, 256}, {5, 0, 9}};
    for (int k = 0; k < g_n_isas; k++) {
        const tt_cpu_isa *isa = g_isas[k];
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            float *A = malloc(sizeof(float) * (size_t)(M * K + 1)), *B = malloc(sizeof(float) * (size_t)(K * N + 1));
            float *bias = malloc(sizeof(float) * (size_t)N), *res = malloc(sizeof(float) * (size_t)(M * N));
            float *C = malloc(sizeof(float) * (size_t)(M * N)), *C2 = malloc(sizeof(float) * (size_t)(M * N));
            for (int i = 0; i < M * K; i++)
                A[i] = rnd();
            for (int i = 0; i < K * N; i++)
                B[i] = rnd();
            for (int i = 0; i < N; i++)
                bias[i] = rnd();
            for (int i = 0; i < M * N; i++)
                res[i] = rnd();
            float *P = pack(isa, B, K, N);
            for (int variant = 0; variant < 3; variant++) {
                tt_gemm_epi e = {.alpha = variant == 2 ? 0.5f : 1.0f, .act = variant == 1 ? TT_U_RELU : TT_ACT_NONE,
                                 .bias = variant ? bias : NULL, .res = variant == 2 ? res : NULL, .ldr = N};
                isa->gemm(M, N, K, A, K, P, 0, true, C, N, &e);
                isa->gemm(M, N, K, A, K, B, N, false, C2, N, &e);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double acc = 0;
                        for (int kk = 0; kk < K; kk++)
                            acc += (double)A[i * K + kk] * B[kk * N + j];
                        acc *= e.alpha;
                        if (e.bias)
                            acc += bias[j];
                        if (e.res)
                            acc += res[i * N + j];
                        if (e.act == TT_U_RELU && acc < 0)
                            acc = 0;
                        if (fabs(C[i * N + j] - acc) > 1e-4 * (1 + K))
                            CHECK_FAIL("%s gemm %dx%dx%d variant %d: C[%d,%d] = %g, want %g", isa->name, M, K, N,
                                       variant, i, j, C[i * N + j], acc);
                        /* packed and unpacked B: the same FMA chain */
                        CHECK(memcmp(&C[i * N + j], &C2[i * N + j], sizeof(float)) == 0);
                    }
            }
            free(A), free(B), free(bias), free(res), free(C), free(C2), free(P);
        }
    }
}

TEST(gemm_rows_are_batch_invariant)
{
    collect();
    int K = 96, N = 70, M = 37;
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
    float *bias = malloc(sizeof(float) * (size_t)N);
    for (int i = 0; i < M * K; i++)
        A[i] = rnd();
    for (int i = 0; i < K * N; i++)
        B[i] = rnd();
    for (int i = 0; i < N; i++)
        bias[i] = rnd();
    float *full = malloc(sizeof(float) * (size_t)(M * N)), *part = malloc(sizeof(float) * (size_t)(M * N));
    for (int k = 0; k < g_n_isas; k++) {
        const tt_cpu_isa *isa = g_isas[k];
        float *P = pack(isa, B, K, N);
        tt_gemm_epi e = {.alpha = 1, .act = TT_U_GELU, .bias = bias};
        isa->gemm(M, N, K, A, K, P, 0, true, full, N, &e);
        /* every row again, in blocks of every size starting at every row */
        for (int m = 1; m <= M; m++)
            for (int i0 = 0; i0 + m <= M; i0 += m) {
                isa->gemm(m, N, K, A + i0 * K, K, P, 0, true, part, N, &e);
                if (memcmp(part, full + i0 * N, sizeof(float) * (size_t)(m * N)) != 0)
                    CHECK_FAIL("%s: rows %d..%d computed %d at a time differ from all %d at once", isa->name, i0,
                               i0 + m, m, M);
            }
        free(P);
    }
    free(A), free(B), free(bias), free(full), free(part);
}

TEST(rows_softmax_layernorm)
{
    collect();
    enum { R = 5, N = 77 };
    float x[R * N], y[R * N];
    for (int i = 0; i < R * N; i++)
        x[i] = rnd() * 8;
    x[3] = -INFINITY; /* a masked entry */
    for (int k = 0; k < g_n_isas; k++) {
        const tt_cpu_isa *isa = g_isas[k];
        isa->softmax(x, y, R, N, false);
        for (int r = 0; r < R; r++) {
            double m = -INFINITY, s = 0;
            for (int j = 0; j < N; j++)
                m = fmax(m, x[r * N + j]);
            for (int j = 0; j < N; j++)
                s += exp(x[r * N + j] - m);
            for (int j = 0; j < N; j++)
                CHECK_NEAR(y[r * N + j], exp(x[r * N + j] - m) / s, 1e-6);
        }
        CHECK(y[3] == 0);
        float mean[R], inv[R];
        isa->layernorm(x + N, y, R - 1, N, NULL, NULL, 1e-5f, mean, inv);
        for (int r = 0; r < R - 1; r++) {
            const float *xr = x + N + r * N;
            double mu = 0, var = 0;
            for (int j = 0; j < N; j++)
                mu += xr[j];
            mu /= N;
            for (int j = 0; j < N; j++)
                var += (xr[j] - mu) * (xr[j] - mu);
            var /= N;
            CHECK_NEAR(mean[r], mu, 1e-5);
            for (int j = 0; j < N; j++)
                CHECK_NEAR(y[r * N + j], (xr[j] - mu) / sqrt(var + 1e-5), 2e-5);
        }
    }
}

TEST(isa_choice)
{
    const tt_cpu_isa *isa = tt_cpu_isa_get();
    CHECK(isa == tt_cpu_isa_get());
    CHECK(isa->vl == 1 || isa->vl == 8 || isa->vl == 16);
    CHECK(isa->nr % isa->vl == 0 && isa->mr >= 1);
    const char *env = getenv("TETHER_CPU_ISA");
    if (env && strcmp(env, "scalar") == 0)
        CHECK(isa == &tt_isa_scalar);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
