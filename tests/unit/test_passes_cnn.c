/* The CNN passes (src/graph/pass_*.c), each on a small model: the graph before (the
 * model's nodes, TETHER_PASSES=none) and after (the session's nodes) as a list of op
 * types, and the outputs of both sessions on the same inputs, which must agree. */
#include "check.h"
#include "onnx_build.h"

#include "backends/backend.h"
#include "ops/nnutil.h"
#include "runtime/session.h"

#include <math.h>

/* ---- helpers ----------------------------------------------------------------------------- */

static pbw const_f32(const char *name, int rank, const int64_t *dims, uint32_t seed, float lo, float hi)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = lo + (hi - lo) * (float)(seed >> 8) / (float)(1u << 24);
    }
    pbw t = ob_tensor(name, TETHER_DTYPE_FLOAT, rank, dims, v, sizeof(float) * (size_t)n);
    free(v);
    return t;
}

static tether_session *open_with(const pbw *m, const char *target, const char *passes)
{
    if (passes)
        setenv("TETHER_PASSES", passes, 1);
    else
        unsetenv("TETHER_PASSES");
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = target;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    unsetenv("TETHER_PASSES");
    return s;
}

/* The session's nodes as "Op Op ...", and where each ran as "backend backend ...". */
static const char *ops_of(tether_session *s, char *buf, size_t n)
{
    const tt_graph *g = tt_session_local(s)->model->graph;
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < g->n_nodes && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? " " : "", g->nodes[i].op_type);
    return buf;
}

#define CHECK_OPS(s, want)                                                                                             \
    do {                                                                                                               \
        char ops_[1024];                                                                                               \
        ops_of((s), ops_, sizeof ops_);                                                                                \
        printf("  %s\n", ops_);                                                                                        \
        if (strcmp(ops_, (want)) != 0)                                                                                 \
            CHECK_FAIL("nodes are \"%s\", expected \"%s\"", ops_, (want));                                             \
    } while (0)

static int count_backend(tether_session *s, const char *backend)
{
    const tt_graph *g = tt_session_local(s)->model->graph;
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        k += strcmp(g->nodes[i].backend->name, backend) == 0;
    return k;
}

/* Runs both sessions on input x and checks every output agrees within atol + rtol |ref|. */
static void check_same(tether_session *got, tether_session *ref, const tether_tensor *x, int nx, double atol,
                       double rtol)
{
    tether_outputs *a, *b;
    CHECK_OK(tether_session_run(got, x, (size_t)nx, &a));
    CHECK_OK(tether_session_run(ref, x, (size_t)nx, &b));
    CHECK_EQ_INT(tether_outputs_count(a), tether_outputs_count(b));
    for (size_t k = 0; k < tether_outputs_count(a); k++) {
        const tether_tensor *u = tether_outputs_get(a, k), *v = tether_outputs_get(b, k);
        CHECK(strcmp(u->name, v->name) == 0);
        CHECK_EQ_INT(u->rank, v->rank);
        CHECK_EQ_INT(u->size, v->size);
        for (int d = 0; d < u->rank; d++)
            CHECK_EQ_INT(u->dims[d], v->dims[d]);
        const float *p = u->data, *q = v->data;
        for (size_t i = 0; i < u->size / sizeof(float); i++)
            if (!(fabs(p[i] - q[i]) <= atol + rtol * fabs(q[i])))
                CHECK_FAIL("output %s element %zu: %.9g after the passes, %.9g without", u->name, i, p[i], q[i]);
    }
    tether_outputs_free(a);
    tether_outputs_free(b);
}

static tether_tensor input_f32(const char *name, int rank, const int64_t *dims, uint32_t seed, float **keep)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)(seed >> 8) / (float)(1u << 24) * 2 - 1;
    }
    *keep = v;
    tether_tensor t = {.name = name, .dtype = TETHER_DTYPE_FLOAT, .rank = rank, .data = v,
                       .size = sizeof(float) * (size_t)n};
    memcpy(t.dims, dims, sizeof(int64_t) * (size_t)rank);
    return t;
}

/* A node whose inputs and outputs are given as space-separated names. */
static pbw NODE(const char *op, const char *ins, const char *outs, int na, pbw *attrs)
{
    char ib[256], ob[256];
    const char *in[16], *out[4];
    int ni = 0, no = 0;
    snprintf(ib, sizeof ib, "%s", ins);
    snprintf(ob, sizeof ob, "%s", outs);
    for (char *save = NULL, *t = strtok_r(ib, " ", &save); t && ni < 16; t = strtok_r(NULL, " ", &save))
        in[ni++] = t;
    for (char *save = NULL, *t = strtok_r(ob, " ", &save); t && no < 4; t = strtok_r(NULL, " ", &save))
        out[no++] = t;
    return ob_node(op, ni, in, no, out, na, attrs);
}

/* ---- BatchNormalization folding --------------------------------------------------------------- */

static void bn_inits(pbw *inits, const char *p, int64_t M, uint32_t seed)
{
    const char *what[4] = {"scale", "bias", "mean", "var"};
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s_%s", p, what[i]);
        inits[i] = const_f32(name, 1, &M, seed + (uint32_t)i, i == 3 ? 0.5f : -1.0f, i == 3 ? 2.0f : 1.0f);
    }
}

/* x -Conv(W, B)-> a -BatchNormalization-> b -Relu-> y; z = Gemm(x2, W2, C2) -BN-> out z */
TEST(fold_bn_into_conv_and_gemm)
{
    pbw inits[16];
    int ni = 0;
    inits[ni++] = const_f32("W", 4, (int64_t[]){8, 4, 3, 3}, 11, -0.5f, 0.5f);
    inits[ni++] = const_f32("B", 1, (int64_t[]){8}, 12, -0.5f, 0.5f);
    bn_inits(&inits[ni], "bn1", 8, 20);
    ni += 4;
    inits[ni++] = const_f32("W2", 2, (int64_t[]){6, 10}, 13, -0.5f, 0.5f); /* [M, K], transB */
    inits[ni++] = const_f32("C2", 1, (int64_t[]){6}, 14, -0.5f, 0.5f);
    bn_inits(&inits[ni], "bn2", 6, 30);
    ni += 4;
    pbw ins[2] = {ob_input("x", TETHER_DTYPE_FLOAT, 4, (int64_t[]){2, 4, 9, 9}),
                  ob_input("x2", TETHER_DTYPE_FLOAT, 2, (int64_t[]){3, 10})};
    pbw outs[2] = {ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("z", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw conv_attrs[1] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1})};
    pbw gemm_attrs[3] = {ob_attr_int("transB", 1), ob_attr_float("alpha", 0.5f), ob_attr_float("beta", 2.0f)};
    pbw bn_attrs[2][1] = {{ob_attr_float("epsilon", 1e-3f)}, {ob_attr_float("epsilon", 1e-3f)}};
    pbw n[5] = {NODE("Conv", "x W B", "a", 1, conv_attrs),
                NODE("BatchNormalization", "a bn1_scale bn1_bias bn1_mean bn1_var", "b", 1,
                     bn_attrs[0]),
                NODE("Relu", "b", "y", 0, NULL), NODE("Gemm", "x2 W2 C2", "g", 3, gemm_attrs),
                NODE("BatchNormalization", "g bn2_scale bn2_bias bn2_mean bn2_var", "z", 1,
                     bn_attrs[1])};
    pbw g = ob_graph("fold_bn", 5, n, ni, inits, 2, ins, 2, outs);
    pbw m = ob_model(15, &g);
    tether_session *before = open_with(&m, "ref", "none"), *after = open_with(&m, "ref", "-fuse_conv,-layout");
    CHECK_OPS(before, "Conv Gemm BatchNormalization BatchNormalization Relu");
    CHECK_OPS(after, "Conv Gemm Relu");
    float *xv, *x2v;
    tether_tensor in[2] = {input_f32("x", 4, (int64_t[]){2, 4, 9, 9}, 5, &xv),
                           input_f32("x2", 2, (int64_t[]){3, 10}, 6, &x2v)};
    check_same(after, before, in, 2, 1e-5, 1e-5);
    free(xv);
    free(x2v);
    tether_session_free(before);
    tether_session_free(after);
    ob_free(&m);
}

/* ---- convolution fusion ------------------------------------------------------------------------- */

/* a = ConvA(x); b = ConvB(x) + bias[1,8,1,1]; y = Relu(a + b); c = Clip(ConvC(y), 0, 6) is output 2 */
static pbw fuse_model(void)
{
    pbw inits[8];
    int ni = 0;
    inits[ni++] = const_f32("WA", 4, (int64_t[]){8, 4, 3, 3}, 41, -0.5f, 0.5f);
    inits[ni++] = const_f32("BA", 1, (int64_t[]){8}, 42, -0.5f, 0.5f);
    inits[ni++] = const_f32("WB", 4, (int64_t[]){8, 4, 1, 1}, 43, -0.5f, 0.5f);
    inits[ni++] = const_f32("bias", 4, (int64_t[]){1, 8, 1, 1}, 44, -0.5f, 0.5f);
    inits[ni++] = const_f32("WC", 4, (int64_t[]){16, 8, 3, 3}, 45, -0.5f, 0.5f);
    inits[ni++] = const_f32("lo", 0, NULL, 46, 0, 0);
    inits[ni++] = const_f32("hi", 0, NULL, 47, 6, 6);
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 4, (int64_t[]){-1, 4, 10, 10});
    pbw outs[2] = {ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("c", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw pads[2] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}), ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1})};
    pbw n[7] = {NODE("Conv", "x WA BA", "a", 1, &pads[0]),
                NODE("Conv", "x WB", "b0", 0, NULL),
                NODE("Add", "bias b0", "b", 0, NULL),
                NODE("Add", "a b", "s", 0, NULL),
                NODE("Relu", "s", "y", 0, NULL),
                NODE("Conv", "y WC", "c0", 1, &pads[1]),
                NODE("Clip", "c0 lo hi", "c", 0, NULL)};
    pbw g = ob_graph("fuse", 7, n, ni, inits, 1, &x, 2, outs);
    return ob_model(13, &g);
}

TEST(fuse_conv_bias_residual_and_activation)
{
    pbw m = fuse_model();
    tether_session *before = open_with(&m, "ref", "none"), *after = open_with(&m, "ref", "-layout");
    CHECK_OPS(before, "Conv Conv Add Add Relu Conv Clip");
    /* ConvA takes the residual (b) and Relu; ConvB the bias constant; ConvC the Clip. y
     * stays readable (an output) because ConvC reads it: FusedConv writes y itself. */
    CHECK_OPS(after, "FusedConv FusedConv FusedConv");
    const tt_graph *g = tt_session_local(after)->model->graph;
    CHECK_EQ_INT(g->nodes[0].n_inputs, 3);  /* ConvB: x, W, the bias constant */
    CHECK_EQ_INT(g->nodes[1].n_inputs, 4);  /* ConvA: x, W, B, Z = b */
    CHECK(strcmp(tt_attr_string(&g->nodes[1], "activation", ""), "Relu") == 0);
    CHECK(strcmp(tt_attr_string(&g->nodes[2], "activation", ""), "Clip") == 0);
    CHECK_NEAR(tt_attr_float(&g->nodes[2], "activation_beta", 0), 6, 0);
    float *xv;
    tether_tensor in = input_f32("x", 4, (int64_t[]){2, 4, 10, 10}, 9, &xv);
    check_same(after, before, &in, 1, 1e-5, 1e-5);
    free(xv);
    tether_session_free(before);
    tether_session_free(after);
    ob_free(&m);
}

/* A backend that runs Conv but not FusedConv keeps its Conv nodes: fusing would move them
 * to another backend. */
static const tt_kernel g_conv_only[] = {TT_KERNEL("Conv", 1, 0, TT_DT(TETHER_DTYPE_FLOAT), tt_conv_ref),
                                        TT_KERNEL_END};
static const tt_kernel *const g_conv_only_tables[] = {g_conv_only, NULL};
static const tt_backend g_convonly = {.name = "convonly", .description = "Conv alone", .tables = g_conv_only_tables};

TEST(fuse_conv_keeps_convs_where_their_backend_lacks_fused_conv)
{
    CHECK_OK(tt_backend_register(&g_convonly));
    pbw m = fuse_model();
    tether_session *s = open_with(&m, "convonly,ref", NULL);
    CHECK_OPS(s, "Conv Conv Add Add Relu Conv Clip");
    CHECK_EQ_INT(count_backend(s, "convonly"), 3);
    tether_session_free(s);
    ob_free(&m);
}

/* ---- layouts ------------------------------------------------------------------------------------ */

/* A backend whose convolutions want blocks of 8 and whose kernels are the reference ones:
 * the layout pass on any machine. */
static int block8(const tt_backend *b)
{
    (void)b;
    return 8;
}
static tt_backend g_blocky = {.name = "blocky", .description = "ref kernels, blocks of 8", .conv_block = block8};

/* x -Conv,Relu-> a -MaxPool-> p (also output 2) -Conv-> c; Relu(c + p) -> r; r -Conv-> d;
 * Add(d, r) -> e; GlobalAveragePool(e) -> Flatten -> y */
static pbw layout_model(int64_t C)
{
    pbw inits[3] = {const_f32("W1", 4, (int64_t[]){C, 3, 3, 3}, 51, -0.3f, 0.3f),
                    const_f32("W2", 4, (int64_t[]){C, C, 3, 3}, 52, -0.2f, 0.2f),
                    const_f32("W3", 4, (int64_t[]){C, 1, 3, 3}, 53, -0.3f, 0.3f)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 4, (int64_t[]){-1, 3, 16, 16});
    pbw outs[2] = {ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("p", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw a1[1] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1})};
    pbw a2[1] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1})};
    pbw a3[2] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}), ob_attr_int("group", C)};
    pbw mp[2] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){3, 3}), ob_attr_ints("strides", 2, (int64_t[]){2, 2})};
    pbw n[10] = {NODE("Conv", "x W1", "a0", 1, a1),
                 NODE("Relu", "a0", "a", 0, NULL),
                 NODE("MaxPool", "a", "p", 2, mp),
                 NODE("Conv", "p W2", "c", 1, a2),
                 NODE("Add", "c p", "s", 0, NULL),
                 NODE("Relu", "s", "r", 0, NULL),
                 NODE("Conv", "r W3", "d", 2, a3),
                 NODE("Add", "d r", "e", 0, NULL),
                 NODE("GlobalAveragePool", "e", "gp", 0, NULL),
                 NODE("Flatten", "gp", "y", 0, NULL)};
    pbw g = ob_graph("layout", 10, n, 3, inits, 1, &x, 2, outs);
    return ob_model(13, &g);
}

static void check_layout(const char *target, int64_t C)
{
    pbw m = layout_model(C);
    tether_session *before = open_with(&m, "ref", "none"), *after = open_with(&m, target, NULL);
    CHECK_OPS(before, "Conv Relu MaxPool Conv Add Relu Conv Add GlobalAveragePool Flatten");
    /* the convolutions (the residual Adds and Relus fused into them) and the pools run
     * blocked; Flatten reads a plain tensor, and the output p is made plain at the end */
    CHECK_OPS(after, "FusedConv BlockedMaxPool FusedConv FusedConv BlockedGlobalAveragePool FromBlocked Flatten "
                     "FromBlocked");
    float *xv;
    for (int64_t batch = 1; batch <= 3; batch += 2) {
        tether_tensor in = input_f32("x", 4, (int64_t[]){batch, 3, 16, 16}, 10 + (uint32_t)batch, &xv);
        check_same(after, before, &in, 1, 1e-4, 1e-4);
        free(xv);
    }
    tether_session_free(before);
    tether_session_free(after);
    ob_free(&m);
}

TEST(layout_keeps_blocks_between_convolutions)
{
    g_blocky.tables = tt_backend_ref.tables;
    CHECK_OK(tt_backend_register(&g_blocky));
    check_layout("blocky,ref", 16);
    /* channels that leave the last block part empty */
    check_layout("blocky,ref", 12);
}

TEST(layout_on_the_cpu_backend)
{
    if (!tt_backend_cpu.conv_block || !tt_backend_cpu.conv_block(&tt_backend_cpu)) {
        printf("  the cpu backend has no blocked convolutions on this machine (no oneDNN, or no AVX2)\n");
        return;
    }
    check_layout("cpu", 32);
    check_layout("cpu", 24);
    pbw m = layout_model(32);
    tether_session *s = open_with(&m, "cpu", NULL);
    const tt_graph *g = tt_session_local(s)->model->graph;
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].op_type, "Flatten") != 0)
            CHECK(strcmp(g->nodes[i].backend->name, "cpu") == 0);
    tether_session_free(s);
    ob_free(&m);
}

/* With no backend that wants blocks, nothing changes. */
TEST(layout_leaves_plain_backends_alone)
{
    pbw m = layout_model(16);
    tether_session *s = open_with(&m, "ref", NULL);
    CHECK_OPS(s, "FusedConv MaxPool FusedConv FusedConv GlobalAveragePool Flatten");
    tether_session_free(s);
    ob_free(&m);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
