/* A transformer encoder block as torch exports it (multi-head attention with a mask, post-
 * norm residuals, a GELU MLP, LayerNorm in its decomposed form), run on the cpu backend
 * with every pass: the graph fuses into the expected ops, the outputs match the reference
 * backend without passes, each sample of a batch is bit-identical to running it alone,
 * and a steady run allocates nothing but the outputs it returns. */
#include "check.h"
#include "graph_build.h"

#include "runtime/session.h"

#define S 8
#define E 32
#define H 4
#define D (E / H)

static void layernorm(mb *b, const char *x, const char *y, const char *tag)
{
    char m[32], d[32], p[32], v[32], e[32], s[32], n[32], g[32], in[64];
    snprintf(m, 32, "%s_m", tag), snprintf(d, 32, "%s_d", tag), snprintf(p, 32, "%s_p", tag);
    snprintf(v, 32, "%s_v", tag), snprintf(e, 32, "%s_e", tag), snprintf(s, 32, "%s_s", tag);
    snprintf(n, 32, "%s_n", tag), snprintf(g, 32, "%s_g", tag);
    nd(b, m, "ReduceMean", x, 1, (pbw[]){ob_attr_ints("axes", 1, (int64_t[]){-1})});
    snprintf(in, 64, "%s %s", x, m), nd(b, d, "Sub", in, 0, NULL);
    snprintf(in, 64, "%s two", d), nd(b, p, "Pow", in, 0, NULL);
    nd(b, v, "ReduceMean", p, 1, (pbw[]){ob_attr_ints("axes", 1, (int64_t[]){-1})});
    snprintf(in, 64, "%s eps", v), nd(b, e, "Add", in, 0, NULL);
    nd(b, s, "Sqrt", e, 0, NULL);
    snprintf(in, 64, "%s %s", d, s), nd(b, n, "Div", in, 0, NULL);
    snprintf(in, 64, "%s gamma", n), nd(b, g, "Mul", in, 0, NULL);
    snprintf(in, 64, "%s beta", g), nd(b, y, "Add", in, 0, NULL);
}

static pbw encoder_block(mb *b)
{
    in(b, "x", 3, (int64_t[]){-1, S, E});
    cf(b, "wqkv", 2, (int64_t[]){E, 3 * E}, NAN);
    cf(b, "bqkv", 1, (int64_t[]){3 * E}, NAN);
    cf(b, "wo", 2, (int64_t[]){E, E}, NAN);
    cf(b, "bo", 1, (int64_t[]){E}, NAN);
    cf(b, "w1", 2, (int64_t[]){E, 2 * E}, NAN);
    cf(b, "b1", 1, (int64_t[]){2 * E}, NAN);
    cf(b, "w2", 2, (int64_t[]){2 * E, E}, NAN);
    cf(b, "b2", 1, (int64_t[]){E}, NAN);
    cf(b, "gamma", 1, (int64_t[]){E}, NAN);
    cf(b, "beta", 1, (int64_t[]){E}, NAN);
    float mask[S * S];
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++)
            mask[i * S + j] = j > i ? -INFINITY : 0;
    b->inits[b->ni++] = ob_tensor("mask", TETHER_DTYPE_FLOAT, 2, (int64_t[]){S, S}, mask, sizeof mask);
    cs(b, "two", 2.0f);
    cs(b, "eps", 1e-5f);
    cs(b, "sqrtd", sqrtf((float)D));
    cs(b, "sqrt2", 1.4142135f);
    cs(b, "one", 1.0f);
    cs(b, "half", 0.5f);
    ci(b, "s0", 1, (int64_t[]){0}), ci(b, "s1", 1, (int64_t[]){E}), ci(b, "s2", 1, (int64_t[]){2 * E});
    ci(b, "s3", 1, (int64_t[]){3 * E}), ci(b, "ax", 1, (int64_t[]){-1});
    ci(b, "heads", 4, (int64_t[]){-1, S, H, D});
    ci(b, "merged", 3, (int64_t[]){-1, S, E});
    /* attention */
    nd(b, "qkv0", "MatMul", "x wqkv", 0, NULL);
    nd(b, "qkv", "Add", "qkv0 bqkv", 0, NULL);
    nd(b, "q", "Slice", "qkv s0 s1 ax", 0, NULL);
    nd(b, "k", "Slice", "qkv s1 s2 ax", 0, NULL);
    nd(b, "v", "Slice", "qkv s2 s3 ax", 0, NULL);
    nd(b, "q4", "Reshape", "q heads", 0, NULL);
    nd(b, "k4", "Reshape", "k heads", 0, NULL);
    nd(b, "v4", "Reshape", "v heads", 0, NULL);
    nd(b, "qt", "Transpose", "q4", 1, (pbw[]){ob_attr_ints("perm", 4, (int64_t[]){0, 2, 1, 3})});
    nd(b, "kt", "Transpose", "k4", 1, (pbw[]){ob_attr_ints("perm", 4, (int64_t[]){0, 2, 3, 1})});
    nd(b, "vt", "Transpose", "v4", 1, (pbw[]){ob_attr_ints("perm", 4, (int64_t[]){0, 2, 1, 3})});
    nd(b, "qs", "Div", "qt sqrtd", 0, NULL);
    nd(b, "sc", "MatMul", "qs kt", 0, NULL);
    nd(b, "scm", "Add", "sc mask", 0, NULL);
    nd(b, "p", "Softmax", "scm", 1, (pbw[]){ob_attr_int("axis", -1)});
    nd(b, "o", "MatMul", "p vt", 0, NULL);
    nd(b, "ot", "Transpose", "o", 1, (pbw[]){ob_attr_ints("perm", 4, (int64_t[]){0, 2, 1, 3})});
    nd(b, "om", "Reshape", "ot merged", 0, NULL);
    nd(b, "a0", "MatMul", "om wo", 0, NULL);
    nd(b, "a1", "Add", "a0 bo", 0, NULL);
    nd(b, "r1", "Add", "x a1", 0, NULL);
    layernorm(b, "r1", "n1", "ln1");
    /* MLP with the erf GELU */
    nd(b, "h0", "MatMul", "n1 w1", 0, NULL);
    nd(b, "h1", "Add", "b1 h0", 0, NULL);
    nd(b, "g0", "Div", "h1 sqrt2", 0, NULL);
    nd(b, "g1", "Erf", "g0", 0, NULL);
    nd(b, "g2", "Add", "g1 one", 0, NULL);
    nd(b, "g3", "Mul", "h1 g2", 0, NULL);
    nd(b, "g4", "Mul", "g3 half", 0, NULL);
    nd(b, "f0", "MatMul", "g4 w2", 0, NULL);
    nd(b, "f1", "Add", "b2 f0", 0, NULL);
    nd(b, "r2", "Add", "n1 f1", 0, NULL);
    layernorm(b, "r2", "y", "ln2");
    out(b, "y");
    return build(b, 13);
}

static tether_session *open_on(const pbw *m, const char *target, const char *passes)
{
    setenv("TETHER_PASSES", passes, 1);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = target;
    tether_session *s;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    unsetenv("TETHER_PASSES");
    return s;
}

static int count_op(const tt_graph *g, const char *op, const char *backend)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += strcmp(g->nodes[i].op_type, op) == 0 && strcmp(g->nodes[i].backend->name, backend) == 0;
    return n;
}

static float *input(int64_t n, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)(n * S * E));
    mb r = {.rng = seed};
    for (int64_t i = 0; i < n * S * E; i++)
        x[i] = rnd(&r) * 2;
    return x;
}

static tether_outputs *run(tether_session *s, const float *x, int64_t n)
{
    tether_tensor t = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {n, S, E}, .data = (void *)x,
                       .size = sizeof(float) * (size_t)(n * S * E)};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &t, 1, &o));
    return o;
}

TEST(encoder_block_fuses_and_matches_ref)
{
    mb b = {.rng = 42};
    pbw m = encoder_block(&b);
    tether_session *cpu = open_on(&m, "cpu", ""), *ref = open_on(&m, "ref", "none");
    const tt_graph *g = tt_session_local(cpu)->model->graph;
    /* what the passes leave: the block in 13 nodes, the heavy ones on the cpu backend */
    CHECK_EQ_INT(count_op(g, "FusedMatMul", "cpu"), 4);
    CHECK_EQ_INT(count_op(g, "Attention", "cpu"), 1);
    CHECK_EQ_INT(count_op(g, "LayerNorm", "cpu"), 2);
    CHECK_EQ_INT(count_op(g, "Slice", "cpu"), 3);
    CHECK_EQ_INT(count_op(g, "Reshape", "ref"), 4);
    CHECK_EQ_INT(g->n_nodes, 4 + 1 + 2 + 3 + 4);
    float *x = input(3, 7);
    tether_outputs *a = run(cpu, x, 3), *r = run(ref, x, 3);
    const tether_tensor *ya = tether_outputs_get(a, 0), *yr = tether_outputs_get(r, 0);
    CHECK_EQ_INT(ya->size, yr->size);
    const float *p = ya->data, *q = yr->data;
    for (size_t i = 0; i < ya->size / 4; i++)
        if (!(fabsf(p[i] - q[i]) <= 1e-4f + 1e-3f * fabsf(q[i])))
            CHECK_FAIL("y[%zu]: cpu %.9g, ref %.9g", i, p[i], q[i]);
    tether_outputs_free(a);
    tether_outputs_free(r);
    free(x);
    tether_session_free(cpu);
    tether_session_free(ref);
    ob_free(&m);
}

TEST(samples_are_batch_invariant)
{
    mb b = {.rng = 43};
    pbw m = encoder_block(&b);
    tether_session *s = open_on(&m, "cpu", "");
    for (int64_t n = 2; n <= 17; n += 5) {
        float *x = input(n, 100 + (uint64_t)n);
        tether_outputs *all = run(s, x, n);
        const float *ya = tether_outputs_get(all, 0)->data;
        for (int64_t i = 0; i < n; i++) {
            tether_outputs *one = run(s, x + i * S * E, 1);
            if (memcmp(tether_outputs_get(one, 0)->data, ya + i * S * E, sizeof(float) * S * E) != 0)
                CHECK_FAIL("sample %lld of a batch of %lld differs from running it alone", (long long)i, (long long)n);
            tether_outputs_free(one);
        }
        tether_outputs_free(all);
        free(x);
    }
    tether_session_free(s);
    ob_free(&m);
}

/* Allocations one run makes: the smallest n for which failing the n-th one still lets the
 * run succeed, less one. */
static long allocations(tether_session *s, const float *x, int64_t n)
{
    for (long k = 1; k < 1000; k++) {
        tt_mem_fail_after(k);
        tether_tensor t = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 3, .dims = {n, S, E},
                           .data = (void *)x, .size = sizeof(float) * (size_t)(n * S * E)};
        tether_outputs *o = NULL;
        tether_status st = tether_session_run(s, &t, 1, &o);
        tt_mem_fail_after(0);
        tether_outputs_free(o);
        if (st == TETHER_OK)
            return k - 1;
    }
    CHECK_FAIL("a run kept failing");
}

TEST(steady_runs_allocate_only_their_outputs)
{
    mb b = {.rng = 44};
    pbw m = encoder_block(&b);
    tether_session *s = open_on(&m, "cpu", "");
    /* a model that copies x to y: what returning one output costs */
    mb c = {.rng = 1};
    in(&c, "x", 3, (int64_t[]){-1, S, E});
    nd(&c, "y", "Identity", "x", 0, NULL);
    out(&c, "y");
    pbw id = build(&c, 13);
    tether_session *si = open_on(&id, "cpu", "none");
    for (int64_t n = 1; n <= 4; n *= 4) {
        float *x = input(n, 9);
        tether_outputs_free(run(s, x, n)); /* plans this shape */
        tether_outputs_free(run(si, x, n));
        long block = allocations(s, x, n), copy = allocations(si, x, n);
        if (block != copy)
            CHECK_FAIL("batch %lld: a steady run of the block makes %ld allocations, returning one output %ld",
                       (long long)n, block, copy);
        free(x);
    }
    tether_session_free(s);
    tether_session_free(si);
    ob_free(&m);
    ob_free(&id);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
