/* Reduced precision for matrix products on the cpu backend: with a session's precision bf16
 * or int8, every MatMul / Gemm with constant weights (alone or fused with its bias, residual
 * and activation) becomes a FusedMatMul that says so and runs in that precision; its results
 * stay close to fp32's but are not fp32's, each sample of a batch is the same as alone, and
 * the default fp32 session is untouched. Tests skip where the CPU lacks AVX512-BF16 / VNNI. */
#include "check.h"
#include "graph_build.h"

#include "backends/cpu/lowp.h"
#include "runtime/session.h"

#define T 5  /* rows per sample of x */
#define K 70 /* odd sizes: tails of k quads, panels and row tiles */
#define N0 37
#define N3 20

/* y0 = x w0; y1 = Relu(x w1 + b1 + x); y2 = Gemm(x2, w2^T, c, alpha .5, beta 2); y3 = x2 w3 */
static pbw products(void)
{
    mb b = {.rng = 11};
    in(&b, "x", 3, I64(-1, T, K));
    in(&b, "x2", 2, I64(-1, K));
    cf(&b, "w0", 2, I64(K, N0), NAN);
    cf(&b, "w1", 2, I64(K, K), NAN);
    cf(&b, "b1", 1, I64(K), NAN);
    cf(&b, "w2", 2, I64(N0, K), NAN);
    cf(&b, "c", 1, I64(N0), NAN);
    cf(&b, "w3", 2, I64(K, N3), NAN);
    nd(&b, "y0", "MatMul", "x w0", 0, NULL);
    nd(&b, "a", "MatMul", "x w1", 0, NULL);
    nd(&b, "ab", "Add", "a b1", 0, NULL);
    nd(&b, "r", "Add", "ab x", 0, NULL);
    nd(&b, "y1", "Relu", "r", 0, NULL);
    nd(&b, "y2", "Gemm", "x2 w2 c", 3,
       ATTR(ob_attr_int("transB", 1), ob_attr_float("alpha", 0.5f), ob_attr_float("beta", 2.0f)));
    nd(&b, "y3", "Gemm", "x2 w3", 0, NULL);
    out(&b, "y0"), out(&b, "y1"), out(&b, "y2"), out(&b, "y3");
    return build(&b, 13);
}

static tether_session *open_prec(const pbw *m, const char *precision, const char *target)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.precision = precision;
    cfg.target = target;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    return s;
}

typedef struct inputs {
    int64_t n;
    float *x, *x2;
    tether_tensor t[2];
} inputs;

static inputs make_inputs(int64_t n, uint64_t seed)
{
    inputs in = {.n = n, .x = malloc(sizeof(float) * (size_t)(n * T * K)), .x2 = malloc(sizeof(float) * (size_t)(n * K))};
    mb r = {.rng = seed};
    for (int64_t i = 0; i < n * T * K; i++)
        in.x[i] = rnd(&r) * 3;
    for (int64_t i = 0; i < n * K; i++)
        in.x2[i] = rnd(&r) * 3;
    in.t[0] = (tether_tensor){.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {n, T, K}, .data = in.x,
                              .size = sizeof(float) * (size_t)(n * T * K)};
    in.t[1] = (tether_tensor){.name = "x2", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {n, K}, .data = in.x2,
                              .size = sizeof(float) * (size_t)(n * K)};
    return in;
}

static tether_outputs *run(tether_session *s, const inputs *in)
{
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, in->t, 2, &o));
    CHECK_EQ_INT(tether_outputs_count(o), 4);
    return o;
}

/* The FusedMatMul nodes carrying precision p, and the nodes still plain MatMul / Gemm. */
static void count_products(const tether_session *s, const char *p, int *fused, int *plain)
{
    const tt_graph *g = tt_session_local((tether_session *)s)->model->graph;
    *fused = *plain = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (strcmp(n->op_type, "FusedMatMul") == 0 && strcmp(tt_attr_string(n, "precision", ""), p) == 0) {
            CHECK(strcmp(n->backend->name, "cpu") == 0);
            (*fused)++;
        }
        *plain += strcmp(n->op_type, "MatMul") == 0 || strcmp(n->op_type, "Gemm") == 0;
    }
}

/* Outputs of s against fp32's: each within tol of the fp32 output's range, and (for a
 * reduced precision) not all identical. */
static void check_close(const tether_outputs *got, const tether_outputs *want, double tol, bool reduced,
                        const char *what)
{
    int differ = 0;
    for (int k = 0; k < 4; k++) {
        const tether_tensor *a = tether_outputs_get(got, k), *b = tether_outputs_get(want, k);
        CHECK_EQ_INT(a->size, b->size);
        const float *p = a->data, *q = b->data;
        size_t n = a->size / sizeof(float);
        double lo = INFINITY, hi = -INFINITY, err = 0;
        for (size_t i = 0; i < n; i++) {
            lo = fmin(lo, q[i]), hi = fmax(hi, q[i]);
            err = fmax(err, fabs((double)p[i] - q[i]));
        }
        differ += memcmp(p, q, a->size) != 0;
        printf("  %s y%d: max |error| %.3g, %.3g%% of the range %.3g\n", what, k, err, 100 * err / (hi - lo), hi - lo);
        CHECK(hi > lo);
        if (!(err <= tol * (hi - lo)))
            CHECK_FAIL("%s y%d: error %.3g over %.3g of the range %.3g", what, k, err, tol, hi - lo);
    }
    if (reduced)
        CHECK_EQ_INT(differ, 4); /* the option was not ignored: every product was computed reduced */
    else
        CHECK_EQ_INT(differ, 0);
}

/* Each sample of a batch of 6 gives what it gives alone, bit for bit. */
static void check_batch_invariant(tether_session *s)
{
    inputs all = make_inputs(6, 5);
    tether_outputs *o = run(s, &all);
    for (int64_t i = 0; i < all.n; i++) {
        inputs one = {.n = 1, .x = all.x + i * T * K, .x2 = all.x2 + i * K};
        one.t[0] = all.t[0], one.t[1] = all.t[1];
        one.t[0].dims[0] = one.t[1].dims[0] = 1;
        one.t[0].data = one.x, one.t[1].data = one.x2;
        one.t[0].size = sizeof(float) * T * K, one.t[1].size = sizeof(float) * K;
        tether_outputs *p = run(s, &one);
        for (int k = 0; k < 4; k++) {
            const tether_tensor *a = tether_outputs_get(o, k), *b = tether_outputs_get(p, k);
            size_t per = b->size;
            if (memcmp((const char *)a->data + (size_t)i * per, b->data, per) != 0)
                CHECK_FAIL("y%d of sample %lld differs in a batch of 6 from alone", k, (long long)i);
        }
        tether_outputs_free(p);
    }
    tether_outputs_free(o);
    free(all.x), free(all.x2);
}

static void check_precision(const char *p, double tol)
{
    pbw m = products();
    tether_session *f = open_prec(&m, NULL, "cpu"), *s = open_prec(&m, p, "cpu");
    int fused, plain;
    count_products(s, p, &fused, &plain);
    CHECK_EQ_INT(fused, 4);
    CHECK_EQ_INT(plain, 0);
    inputs in = make_inputs(3, 9);
    tether_outputs *want = run(f, &in), *got = run(s, &in);
    check_close(got, want, tol, true, p);
    check_batch_invariant(s);
    tether_outputs_free(want);
    tether_outputs_free(got);
    free(in.x), free(in.x2);
    tether_session_free(f);
    tether_session_free(s);
    ob_free(&m);
}

TEST(bf16_products_are_close_and_reduced)
{
    if (!tt_cpu_has_bf16())
        CHECK_SKIP("this CPU lacks AVX512-BF16 (or TETHER_CPU_ISA asks for less than avx512)");
    check_precision("bf16", 0.01);
}

TEST(int8_products_are_close_and_reduced)
{
    if (!tt_cpu_has_vnni())
        CHECK_SKIP("this CPU lacks AVX512-VNNI (or TETHER_CPU_ISA asks for less than avx512)");
    check_precision("int8", 0.02);
}

/* bf16 keeps 8 significant bits: 1 + 2^-10 times 1 is exactly 1 there. */
TEST(bf16_rounds_the_operands)
{
    if (!tt_cpu_has_bf16())
        CHECK_SKIP("this CPU lacks AVX512-BF16 (or TETHER_CPU_ISA asks for less than avx512)");
    mb b = {.rng = 1};
    in(&b, "x", 2, I64(-1, 1));
    cf(&b, "w", 2, I64(1, 1), 1.0f);
    nd(&b, "y", "MatMul", "x w", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    float x = 1.0f + 0x1p-10f;
    tether_tensor t = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {1, 1}, .data = &x,
                       .size = sizeof x};
    const char *precs[2] = {"fp32", "bf16"};
    float want[2] = {1.0f + 0x1p-10f, 1.0f};
    for (int k = 0; k < 2; k++) {
        tether_session *s = open_prec(&m, precs[k], "cpu");
        tether_outputs *o;
        CHECK_OK(tether_session_run(s, &t, 1, &o));
        float y = ((const float *)tether_outputs_get(o, 0)->data)[0];
        if (y != want[k])
            CHECK_FAIL("%s: y = %.9g, want %.9g", precs[k], y, want[k]);
        tether_outputs_free(o);
        tether_session_free(s);
    }
    ob_free(&m);
}

/* fp32, named or by default: products stay MatMul / Gemm unless something fuses with them,
 * and the results are the same bit for bit, and match the reference backend. */
TEST(fp32_is_unchanged)
{
    pbw m = products();
    tether_session *d = open_prec(&m, NULL, "cpu"), *f = open_prec(&m, "fp32", "cpu"), *r = open_prec(&m, NULL, "ref");
    int fused, plain;
    count_products(d, "", &fused, &plain);
    CHECK_EQ_INT(fused, 1); /* y1's chain */
    CHECK_EQ_INT(plain, 3); /* y0, y2, y3 alone */
    inputs in = make_inputs(3, 9);
    tether_outputs *a = run(d, &in), *b = run(f, &in), *c = run(r, &in);
    check_close(b, a, 0, false, "fp32");
    for (int k = 0; k < 4; k++) {
        const tether_tensor *p = tether_outputs_get(a, k), *q = tether_outputs_get(c, k);
        for (size_t i = 0; i < p->size / 4; i++) {
            float u = ((const float *)p->data)[i], v = ((const float *)q->data)[i];
            if (!(fabsf(u - v) <= 1e-4f + 1e-4f * fabsf(v)))
                CHECK_FAIL("y%d[%zu]: cpu %.9g, ref %.9g", k, i, u, v);
        }
    }
    tether_outputs_free(a), tether_outputs_free(b), tether_outputs_free(c);
    free(in.x), free(in.x2);
    tether_session_free(d), tether_session_free(f), tether_session_free(r);
    ob_free(&m);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
