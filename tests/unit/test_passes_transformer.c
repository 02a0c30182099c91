/* The clean-up, shape-folding and transformer passes (src/graph/pass_cleanup.c,
 * pass_shapes.c, pass_transformer.c, pass_matmul.c): each test builds the pattern an
 * exporter writes, shows the graph's ops before and after the pass ("Mul Erf Add ..." ->
 * "Gelu"), and checks a session with every pass gives the outputs of one with none
 * (TETHER_PASSES=none). Patterns a pass must leave alone are checked too. */
#include "check.h"
#include "graph_build.h"

#include "graph/graph.h"
#include "graph/pattern.h"
#include "model/model.h"
#include "runtime/prepare.h"
#include "runtime/session.h"

#include <math.h>

extern const tt_pass tt_pass_identity, tt_pass_shapes, tt_pass_dead, tt_pass_layernorm, tt_pass_gelu,
    tt_pass_attention, tt_pass_matmul_epilogue;

/* ---- checks ------------------------------------------------------------------------------ */

/* The graph's ops in order, space-separated. */
static void ops(const tt_graph *g, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < g->n_nodes && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? " " : "", g->nodes[i].op_type);
}

/* Loads m, prepares it (constants folded), runs pass p and checks the ops before and after
 * (nodes in the loader's topological order) and whether the pass says it changed g. */
static void check_pass_changed(const pbw *m, const tt_pass *p, const char *before, const char *after, bool want)
{
    tt_model *model;
    CHECK_OK(tt_model_load(m->buf, m->len, NULL, &model));
    CHECK_OK(tt_graph_prepare(model->graph, true));
    char buf[1024];
    ops(model->graph, buf, sizeof buf);
    if (strcmp(buf, before) != 0)
        CHECK_FAIL("before %s: '%s', expected '%s'", p->name, buf, before);
    bool changed = false;
    CHECK_OK(p->run(model->graph, &changed));
    ops(model->graph, buf, sizeof buf);
    printf("  %s: %s  ->  %s\n", p->name, before, buf);
    if (strcmp(buf, after) != 0)
        CHECK_FAIL("after %s: '%s', expected '%s'", p->name, buf, after);
    CHECK(changed == want);
    tt_graph_release(model->graph);
    tt_model_free(model);
}

static void check_pass(const pbw *m, const tt_pass *p, const char *before, const char *after)
{
    check_pass_changed(m, p, before, after, strcmp(before, after) != 0);
}

/* The ops of the whole compiled graph (every pass, the session's rounds). */
static void check_compiled(const pbw *m, const char *want)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    char buf[1024];
    ops(tt_session_local(s)->model->graph, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        CHECK_FAIL("compiled: '%s', expected '%s'", buf, want);
    tether_session_free(s);
}

static tether_outputs *run_with(const pbw *m, const char *passes, mb *b, int64_t n_sym)
{
    setenv("TETHER_PASSES", passes, 1);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    unsetenv("TETHER_PASSES");
    tether_tensor t[8];
    float *data[8];
    uint64_t seed = b->rng;
    for (int i = 0; i < b->nin; i++) {
        t[i] = (tether_tensor){.name = b->in_name[i], .dtype = TETHER_DTYPE_FLOAT, .rank = b->in_rank[i]};
        int64_t n = 1;
        for (int d = 0; d < b->in_rank[i]; d++) {
            t[i].dims[d] = b->in_dims[i][d] < 0 ? n_sym : b->in_dims[i][d];
            n *= t[i].dims[d];
        }
        data[i] = malloc(sizeof(float) * (size_t)(n + 1));
        for (int64_t k = 0; k < n; k++)
            data[i][k] = rnd(b) * 3;
        t[i].data = data[i];
        t[i].size = sizeof(float) * (size_t)n;
    }
    b->rng = seed; /* the same inputs for the next session */
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, t, (size_t)b->nin, &o));
    for (int i = 0; i < b->nin; i++)
        free(data[i]);
    tether_session_free(s);
    return o;
}

/* Outputs with every pass equal those with none, within tol (0: bit for bit). */
static void check_outputs(const pbw *m, mb *b, int64_t n_sym, double tol)
{
    tether_outputs *x = run_with(m, "none", b, n_sym), *y = run_with(m, "", b, n_sym);
    CHECK_EQ_INT(tether_outputs_count(x), tether_outputs_count(y));
    for (size_t k = 0; k < tether_outputs_count(x); k++) {
        const tether_tensor *p = tether_outputs_get(x, k), *q = tether_outputs_get(y, k);
        CHECK(strcmp(p->name, q->name) == 0);
        CHECK_EQ_INT(p->rank, q->rank);
        CHECK(memcmp(p->dims, q->dims, sizeof(int64_t) * (size_t)p->rank) == 0);
        CHECK_EQ_INT(p->size, q->size);
        const float *u = p->data, *v = q->data;
        for (size_t i = 0; i < p->size / 4; i++)
            if (!(fabs(u[i] - v[i]) <= tol * (1 + fabs(u[i]))) && !(tol == 0 && memcmp(&u[i], &v[i], 4) == 0))
                CHECK_FAIL("output %s[%zu]: %.9g without passes, %.9g with", p->name, i, u[i], v[i]);
    }
    tether_outputs_free(x);
    tether_outputs_free(y);
}

/* ---- identity and dead ------------------------------------------------------------------- */

TEST(identity_drops_pass_through_nodes)
{
    mb b = {.rng = 1};
    in(&b, "x", 2, I64(-1, 6));
    cs(&b, "one", 1.0f);
    cs(&b, "zero", 0.0f);
    b.inits[b.ni++] = ob_tensor("yes", TETHER_DTYPE_BOOL, 0, NULL, (const uint8_t[]){1}, 1);
    ci(&b, "s1", 3, I64(-1, 3, 2));
    ci(&b, "s2", 2, I64(-1, 3));
    nd(&b, "a", "Identity", "x", 0, NULL);
    nd(&b, "c", "Dropout", "a", 0, NULL);
    nd(&b, "d", "Cast", "c", 1, ATTR(ob_attr_int("to", TETHER_DTYPE_FLOAT)));
    nd(&b, "e", "Mul", "one d", 0, NULL);
    nd(&b, "f", "Reshape", "e s1", 0, NULL);
    nd(&b, "g", "Reshape", "f s2", 0, NULL);
    nd(&b, "h", "Dropout", "g zero yes", 0, NULL); /* training, but a ratio of 0 */
    nd(&b, "y", "Relu", "h", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_identity, "Identity Dropout Cast Mul Reshape Reshape Dropout Relu", "Reshape Relu");
    check_outputs(&m, &b, 5, 0);
    ob_free(&m);
}

TEST(identity_keeps_what_changes_values_or_names)
{
    mb b = {.rng = 2};
    in(&b, "x", 2, I64(3, 4));
    cs(&b, "two", 2.0f);
    cs(&b, "zero", 0.0f);
    nd(&b, "a", "Mul", "x two", 0, NULL);            /* not a 1 */
    nd(&b, "c", "Add", "a zero", 0, NULL);           /* x + 0 turns -0 into +0: kept */
    nd(&b, "d", "Dropout", "c", 1, ATTR(ob_attr_float("ratio", 0.5f)));
    nd(&b, "y", "Identity", "d", 0, NULL);           /* a graph output keeps its producer */
    nd(&b, "z, mask", "Dropout", "x", 0, NULL);      /* its mask is read */
    nd(&b, "w", "Cast", "mask", 1, ATTR(ob_attr_int("to", TETHER_DTYPE_FLOAT)));
    out(&b, "y");
    out(&b, "w");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_identity, "Mul Dropout Add Cast Dropout Identity", "Mul Dropout Add Cast Identity");
    check_outputs(&m, &b, 1, 0);
    ob_free(&m);
}

TEST(dead_drops_unread_nodes)
{
    mb b = {.rng = 3};
    in(&b, "x", 2, I64(3, 4));
    nd(&b, "a", "Sigmoid", "x", 0, NULL);
    nd(&b, "c", "Tanh", "a", 0, NULL);
    nd(&b, "y", "Relu", "x", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_dead, "Sigmoid Relu Tanh", "Relu");
    check_outputs(&m, &b, 1, 0);
    ob_free(&m);
}

/* ---- shapes ------------------------------------------------------------------------------- */

TEST(shapes_fold_reshape_targets)
{
    /* y = x.reshape(N, C / 2, 2) written as exporters do: from Shape(x) */
    mb b = {.rng = 4};
    in(&b, "x", 2, I64(-1, 6));
    ci(&b, "i0", 1, I64(0));
    ci(&b, "i1", 1, I64(1));
    ci(&b, "two", 1, I64(2));
    nd(&b, "s", "Shape", "x", 0, NULL);
    nd(&b, "n", "Gather", "s i0", 1, ATTR(ob_attr_int("axis", 0)));
    nd(&b, "c", "Gather", "s i1", 1, ATTR(ob_attr_int("axis", 0)));
    nd(&b, "h", "Div", "c two", 0, NULL);
    nd(&b, "shape", "Concat", "n h two", 1, ATTR(ob_attr_int("axis", 0)));
    nd(&b, "r", "Reshape", "x shape", 0, NULL);
    nd(&b, "y", "Relu", "r", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass_changed(&m, &tt_pass_shapes, "Shape Gather Gather Div Concat Reshape Relu",
                       "Shape Gather Gather Div Concat Reshape Relu", true);
    /* the Reshape now reads a constant [-1, 3, 2]; dead then drops the shape arithmetic */
    tt_model *model;
    CHECK_OK(tt_model_load(m.buf, m.len, NULL, &model));
    CHECK_OK(tt_graph_prepare(model->graph, true));
    bool changed = false;
    CHECK_OK(tt_pass_shapes.run(model->graph, &changed));
    CHECK(changed);
    CHECK_OK(tt_pass_dead.run(model->graph, &changed));
    char buf[256];
    ops(model->graph, buf, sizeof buf);
    CHECK(strcmp(buf, "Reshape Relu") == 0);
    const tt_tensor *t = tt_pat_const(model->graph, model->graph->nodes[0].inputs[1]);
    CHECK(t && t->rank == 1 && t->dims[0] == 3);
    const int64_t *v = t->data;
    CHECK(v[0] == -1 && v[1] == 3 && v[2] == 2);
    tt_graph_release(model->graph);
    tt_model_free(model);
    check_compiled(&m, "Reshape Relu");
    for (int64_t n = 1; n <= 3; n++)
        check_outputs(&m, &b, n, 0);
    ob_free(&m);
}

TEST(shapes_slice_to_the_end)
{
    /* newer exporters: Slice(Shape(x), -1, INT64_MAX) for the last dim */
    mb b = {.rng = 18};
    in(&b, "x", 3, I64(-1, 4, 6));
    ci(&b, "m1", 1, I64(-1));
    ci(&b, "end", 1, I64(INT64_MAX));
    ci(&b, "m2", 1, I64(-2));
    nd(&b, "s", "Shape", "x", 0, NULL);
    nd(&b, "last", "Slice", "s m1 end", 0, NULL);
    nd(&b, "mid", "Slice", "s m2 m1", 0, NULL);
    nd(&b, "shape", "Concat", "m1 mid last", 1, ATTR(ob_attr_int("axis", 0)));
    nd(&b, "y", "Reshape", "x shape", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass_changed(&m, &tt_pass_shapes, "Shape Slice Slice Concat Reshape", "Shape Slice Slice Concat Reshape",
                       true);
    check_compiled(&m, "Reshape");
    check_outputs(&m, &b, 3, 0);
    ob_free(&m);
}

TEST(shapes_leave_two_unknowns)
{
    /* [N, N*6 / 6]: two unknown elements, so the target stays computed */
    mb b = {.rng = 5};
    in(&b, "x", 2, I64(-1, 6));
    ci(&b, "i0", 1, I64(0));
    nd(&b, "s", "Shape", "x", 0, NULL);
    nd(&b, "n", "Gather", "s i0", 1, ATTR(ob_attr_int("axis", 0)));
    nd(&b, "shape", "Concat", "n n", 1, ATTR(ob_attr_int("axis", 0)));
    nd(&b, "y", "Reshape", "x shape", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_shapes, "Shape Gather Concat Reshape", "Shape Gather Concat Reshape");
    check_outputs(&m, &b, 6, 0);
    ob_free(&m);
}

/* ---- layernorm ------------------------------------------------------------------------------ */

static void layernorm_pattern(mb *b, const char *x, const char *y, bool affine)
{
    nd(b, "m", "ReduceMean", x, 1, ATTR(ob_attr_ints("axes", 1, I64(-1))));
    nd(b, "d", "Sub", "x m", 0, NULL);
    nd(b, "p", "Pow", "d two", 0, NULL);
    nd(b, "v", "ReduceMean", "p", 1, ATTR(ob_attr_ints("axes", 1, I64(-1))));
    nd(b, "e", "Add", "v eps", 0, NULL);
    nd(b, "s", "Sqrt", "e", 0, NULL);
    if (!affine) {
        nd(b, y, "Div", "d s", 0, NULL);
        return;
    }
    nd(b, "n", "Div", "d s", 0, NULL);
    nd(b, "g", "Mul", "n gamma", 0, NULL);
    nd(b, y, "Add", "g beta", 0, NULL);
}

TEST(layernorm_fuses_the_decomposed_form)
{
    mb b = {.rng = 6};
    in(&b, "x", 3, I64(-1, 5, 32));
    cs(&b, "two", 2.0f);
    cs(&b, "eps", 1e-5f);
    cf(&b, "gamma", 1, I64(32), NAN);
    cf(&b, "beta", 1, I64(32), NAN);
    layernorm_pattern(&b, "x", "y", true);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_layernorm, "ReduceMean Sub Pow ReduceMean Add Sqrt Div Mul Add", "LayerNorm");
    check_compiled(&m, "LayerNorm");
    check_outputs(&m, &b, 3, 1e-5);
    ob_free(&m);
}

TEST(layernorm_without_affine_and_not_over_other_axes)
{
    mb b = {.rng = 7};
    in(&b, "x", 2, I64(4, 16));
    cs(&b, "two", 2.0f);
    cs(&b, "eps", 1e-3f);
    layernorm_pattern(&b, "x", "y", false);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_layernorm, "ReduceMean Sub Pow ReduceMean Add Sqrt Div", "LayerNorm");
    check_outputs(&m, &b, 1, 1e-5);
    ob_free(&m);
    /* over axis 0: not a layer norm of rows */
    mb c = {.rng = 8};
    in(&c, "x", 2, I64(4, 16));
    cs(&c, "two", 2.0f);
    cs(&c, "eps", 1e-3f);
    nd(&c, "m", "ReduceMean", "x", 1, ATTR(ob_attr_ints("axes", 1, I64(0))));
    nd(&c, "d", "Sub", "x m", 0, NULL);
    nd(&c, "p", "Pow", "d two", 0, NULL);
    nd(&c, "v", "ReduceMean", "p", 1, ATTR(ob_attr_ints("axes", 1, I64(0))));
    nd(&c, "e", "Add", "v eps", 0, NULL);
    nd(&c, "s", "Sqrt", "e", 0, NULL);
    nd(&c, "y", "Div", "d s", 0, NULL);
    out(&c, "y");
    m = build(&c, 13);
    check_pass(&m, &tt_pass_layernorm, "ReduceMean Sub Pow ReduceMean Add Sqrt Div",
               "ReduceMean Sub Pow ReduceMean Add Sqrt Div");
    ob_free(&m);
}

/* ---- gelu ------------------------------------------------------------------------------------- */

TEST(gelu_fuses_the_erf_form)
{
    mb b = {.rng = 9};
    in(&b, "x", 2, I64(-1, 37));
    cs(&b, "sqrt2", 1.4142135f);
    cs(&b, "one", 1.0f);
    cs(&b, "half", 0.5f);
    nd(&b, "a", "Div", "x sqrt2", 0, NULL);
    nd(&b, "e", "Erf", "a", 0, NULL);
    nd(&b, "u", "Add", "e one", 0, NULL);
    nd(&b, "m", "Mul", "x u", 0, NULL);
    nd(&b, "y", "Mul", "m half", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_gelu, "Div Erf Add Mul Mul", "Gelu");
    check_outputs(&m, &b, 4, 1e-6);
    ob_free(&m);
}

TEST(gelu_fuses_the_tanh_form)
{
    mb b = {.rng = 10};
    in(&b, "x", 2, I64(3, 37));
    cs(&b, "three", 3.0f);
    cs(&b, "c", 0.044715f);
    cs(&b, "k", 0.7978845608f);
    cs(&b, "one", 1.0f);
    cs(&b, "half", 0.5f);
    nd(&b, "p", "Pow", "x three", 0, NULL);
    nd(&b, "q", "Mul", "c p", 0, NULL);
    nd(&b, "r", "Add", "x q", 0, NULL);
    nd(&b, "s", "Mul", "r k", 0, NULL);
    nd(&b, "t", "Tanh", "s", 0, NULL);
    nd(&b, "u", "Add", "one t", 0, NULL);
    nd(&b, "h", "Mul", "half x", 0, NULL);
    nd(&b, "y", "Mul", "h u", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_gelu, "Pow Mul Mul Add Mul Tanh Add Mul", "Gelu");
    check_outputs(&m, &b, 1, 1e-5);
    ob_free(&m);
}

TEST(gelu_leaves_a_shared_intermediate)
{
    /* the erf is also an output: nothing fuses */
    mb b = {.rng = 11};
    in(&b, "x", 2, I64(2, 8));
    cs(&b, "sqrt2", 1.4142135f);
    cs(&b, "one", 1.0f);
    cs(&b, "half", 0.5f);
    nd(&b, "a", "Div", "x sqrt2", 0, NULL);
    nd(&b, "e", "Erf", "a", 0, NULL);
    nd(&b, "u", "Add", "e one", 0, NULL);
    nd(&b, "m", "Mul", "x u", 0, NULL);
    nd(&b, "y", "Mul", "m half", 0, NULL);
    out(&b, "y");
    out(&b, "e");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_gelu, "Div Erf Add Mul Mul", "Div Erf Add Mul Mul");
    ob_free(&m);
}

/* ---- attention --------------------------------------------------------------------------------- */

TEST(attention_fuses_with_scale_mask_and_transposes)
{
    /* q, k, v: [S, B*H, D] as torch's multi-head attention makes them */
    mb b = {.rng = 12};
    in(&b, "q", 3, I64(9, -1, 16));
    in(&b, "k", 3, I64(9, -1, 16));
    in(&b, "v", 3, I64(9, -1, 16));
    cs(&b, "c", 4.0f);
    cs(&b, "one", 1.0f);
    cf(&b, "mask", 2, I64(9, 9), NAN);
    nd(&b, "qt", "Transpose", "q", 1, ATTR(ob_attr_ints("perm", 3, I64(1, 0, 2))));
    nd(&b, "qs", "Div", "qt c", 0, NULL);
    nd(&b, "kt", "Transpose", "k", 1, ATTR(ob_attr_ints("perm", 3, I64(1, 2, 0))));
    nd(&b, "vt", "Transpose", "v", 1, ATTR(ob_attr_ints("perm", 3, I64(1, 0, 2))));
    nd(&b, "s", "MatMul", "qs kt", 0, NULL);
    nd(&b, "s1", "Mul", "s one", 0, NULL);
    nd(&b, "s2", "Add", "s1 mask", 0, NULL);
    nd(&b, "p", "Softmax", "s2", 1, ATTR(ob_attr_int("axis", -1)));
    nd(&b, "o", "MatMul", "p vt", 0, NULL);
    nd(&b, "y", "Transpose", "o", 1, ATTR(ob_attr_ints("perm", 3, I64(1, 0, 2))));
    out(&b, "y");
    pbw m = build(&b, 13);
    /* the Div on Q and the Mul on the scores are one scale; the Transposes become perms */
    check_pass(&m, &tt_pass_attention, "Transpose Transpose Transpose Div MatMul Mul Add Softmax MatMul Transpose",
               "Attention");
    check_compiled(&m, "Attention");
    check_outputs(&m, &b, 4, 1e-5);
    ob_free(&m);
}

TEST(attention_fuses_the_plain_form)
{
    mb b = {.rng = 13};
    in(&b, "q", 4, I64(-1, 2, 7, 8));
    in(&b, "kt", 4, I64(-1, 2, 8, 5));
    in(&b, "v", 4, I64(-1, 2, 5, 8));
    nd(&b, "s", "MatMul", "q kt", 0, NULL);
    nd(&b, "p", "Softmax", "s", 1, ATTR(ob_attr_int("axis", 3)));
    nd(&b, "y", "MatMul", "p v", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_attention, "MatMul Softmax MatMul", "Attention");
    check_outputs(&m, &b, 2, 1e-5);
    ob_free(&m);
}

TEST(attention_leaves_other_softmax_axes)
{
    mb b = {.rng = 14};
    in(&b, "q", 3, I64(2, 7, 8));
    in(&b, "kt", 3, I64(2, 8, 7));
    in(&b, "v", 3, I64(2, 7, 8));
    nd(&b, "s", "MatMul", "q kt", 0, NULL);
    nd(&b, "p", "Softmax", "s", 1, ATTR(ob_attr_int("axis", 1)));
    nd(&b, "y", "MatMul", "p v", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_attention, "MatMul Softmax MatMul", "MatMul Softmax MatMul");
    ob_free(&m);
}

/* ---- matmul-epilogue ------------------------------------------------------------------------- */

TEST(matmul_epilogue_fuses_bias_residual_activation)
{
    mb b = {.rng = 15};
    in(&b, "x", 3, I64(-1, 5, 16));
    in(&b, "r", 3, I64(-1, 5, 24));
    cf(&b, "w1", 2, I64(16, 24), NAN);
    cf(&b, "b1", 1, I64(24), NAN);
    cf(&b, "w2", 2, I64(24, 24), NAN);
    cf(&b, "b2", 1, I64(24), NAN);
    nd(&b, "h", "MatMul", "x w1", 0, NULL);
    nd(&b, "h1", "Add", "b1 h", 0, NULL);
    nd(&b, "h2", "Relu", "h1", 0, NULL);
    nd(&b, "g", "MatMul", "h2 w2", 0, NULL);
    nd(&b, "g1", "Add", "g b2", 0, NULL);
    nd(&b, "y", "Add", "r g1", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_matmul_epilogue, "MatMul Add Relu MatMul Add Add", "FusedMatMul FusedMatMul");
    check_outputs(&m, &b, 3, 1e-5);
    ob_free(&m);
}

TEST(matmul_epilogue_takes_gemm_and_broadcast_residuals)
{
    mb b = {.rng = 16};
    in(&b, "x", 2, I64(6, 16));
    in(&b, "r", 3, I64(2, 1, 8));
    cf(&b, "w", 2, I64(8, 16), NAN);
    cf(&b, "c", 1, I64(8), NAN);
    nd(&b, "h", "Gemm", "x w c", 3, ATTR(ob_attr_int("transB", 1), ob_attr_float("alpha", 0.5f), ob_attr_float("beta", 2.0f)));
    nd(&b, "s", "Sigmoid", "h", 0, NULL);
    nd(&b, "h2", "Gemm", "x w", 1, ATTR(ob_attr_int("transB", 1)));
    nd(&b, "y2", "Add", "h2 r", 0, NULL); /* widens to [2, 6, 8] */
    out(&b, "s");
    out(&b, "y2");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_matmul_epilogue, "Gemm Gemm Sigmoid Add", "FusedMatMul FusedMatMul");
    check_outputs(&m, &b, 1, 1e-5);
    ob_free(&m);
}

/* A backend that runs MatMul and Relu but none of tether's fused ops, like a GPU's. */
static tt_status no_run(tt_kctx *c)
{
    (void)c;
    return TT_OK;
}
static const tt_kernel g_plain_kernels[] = {
    TT_KERNEL("MatMul", 1, 0, 0, no_run),
    TT_KERNEL("Relu", 1, 0, 0, no_run),
    TT_KERNEL("Add", 1, 0, 0, no_run),
    TT_KERNEL_END,
};
static const tt_kernel *const g_plain_tables[] = {g_plain_kernels, NULL};
static const tt_backend g_plain = {.name = "plain", .tables = g_plain_tables};

TEST(fusions_keep_to_what_the_backend_runs)
{
    mb b = {.rng = 19};
    in(&b, "x", 2, I64(6, 16));
    cf(&b, "w", 2, I64(16, 8), NAN);
    cf(&b, "c", 1, I64(8), NAN);
    nd(&b, "h", "MatMul", "x w", 0, NULL);
    nd(&b, "h1", "Add", "h c", 0, NULL);
    nd(&b, "y", "Relu", "h1", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    for (int k = 0; k < 2; k++) {
        tt_model *model;
        CHECK_OK(tt_model_load(m.buf, m.len, NULL, &model));
        CHECK_OK(tt_graph_prepare(model->graph, true));
        tt_backend_list bl = {0};
        if (k == 0) {
            bl.n = 1, bl.b[0] = &g_plain; /* the MatMul's backend has no FusedMatMul: no fusion */
        } else {
            CHECK_OK(tt_backend_list_for("cpu", &bl));
        }
        model->backends = &bl;
        bool changed = false;
        CHECK_OK(tt_pass_matmul_epilogue.run(model->graph, &changed));
        model->backends = NULL;
        char buf[256];
        ops(model->graph, buf, sizeof buf);
        printf("  on %s: %s\n", bl.b[0]->name, buf);
        CHECK(strcmp(buf, k == 0 ? "MatMul Add Relu" : "FusedMatMul") == 0);
        CHECK(changed == (k == 1));
        tt_graph_release(model->graph);
        tt_model_free(model);
    }
    ob_free(&m);
}

TEST(matmul_epilogue_leaves_non_constant_weights)
{
    mb b = {.rng = 17};
    in(&b, "x", 2, I64(6, 16));
    in(&b, "w", 2, I64(16, 8));
    nd(&b, "h", "MatMul", "x w", 0, NULL);
    nd(&b, "y", "Relu", "h", 0, NULL);
    out(&b, "y");
    pbw m = build(&b, 13);
    check_pass(&m, &tt_pass_matmul_epilogue, "MatMul Relu", "MatMul Relu");
    ob_free(&m);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
