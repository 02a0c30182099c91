/* Placement over a device backend: a fake device ("fakedev") whose memory holds every byte
 * XOR 0x5A, so a host kernel reading device memory, or a device kernel reading host
 * memory, computes garbage and the outputs stop matching the reference run. Checks that
 * copies are inserted exactly where storage changes type and shared between readers,
 * constants are uploaded once, kernels' host inputs stay on the host, subgraphs read host
 * copies, graph outputs end on the host, and device values get their own arena. */
#include "check.h"
#include "onnx_build.h"

#include "backends/backend.h"
#include "runtime/session.h"

#include <math.h>
#include <stdatomic.h>

/* ---- the fake device -------------------------------------------------------------------- */

static atomic_int g_dev_allocs;

static void *fd_alloc(const tt_buft *b, size_t n)
{
    (void)b;
    atomic_fetch_add(&g_dev_allocs, 1);
    return tt_malloc_aligned(n ? n : 1);
}

static void fd_free(const tt_buft *b, void *p)
{
    (void)b;
    tt_free_aligned(p);
}

static const tt_buft g_fd_buft = {.name = "fakedev", .host = false, .alloc = fd_alloc, .free = fd_free};

static void xor_bytes(void *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i] ^ 0x5A;
}

static tt_status fd_copy(const tt_backend *b, void *dst, const tt_buft *dt, const void *src, const tt_buft *st,
                         size_t n)
{
    (void)b;
    CHECK(tt_buft_is_host(dt) != tt_buft_is_host(st)); /* exactly one side is the device */
    xor_bytes(dst, src, n);
    return TT_OK;
}

static float dev_get(const tt_tensor *t, int64_t i)
{
    float f;
    xor_bytes(&f, (const float *)t->data + i, sizeof f);
    return f;
}

static void dev_set(tt_tensor *t, int64_t i, float f) { xor_bytes((float *)t->data + i, &f, sizeof f); }

static tt_status run_copy(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    xor_bytes(tt_kout(c, 0)->data, x->data, tt_tensor_nbytes(x));
    return TT_OK;
}

static tt_status run_relu(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    CHECK(!tt_tensor_on_host(x) && !tt_tensor_on_host(y));
    for (int64_t i = 0; i < tt_tensor_numel(x); i++)
        dev_set(y, i, fmaxf(dev_get(x, i), 0));
    return TT_OK;
}

static tt_status run_add(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    for (int64_t i = 0; i < tt_tensor_numel(y); i++)
        dev_set(y, i, dev_get(a, i) + dev_get(b, i));
    return TT_OK;
}

/* Add without broadcasting: both inputs of one static shape. */
static bool supports_add(const tt_kprep *p)
{
    const tt_type *a = p->in[0], *b = p->in[1];
    return a && b && a->rank == b->rank && tt_type_static(a) && tt_type_static(b) &&
           memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) == 0;
}

#define F32 TT_DT(TETHER_DTYPE_FLOAT)
static const tt_kernel g_fd_kernels[] = {
    {.domain = TT_DOMAIN, .name = "MemcpyToDevice", .since = 1, .run = run_copy, .host_inputs = 1},
    {.domain = TT_DOMAIN, .name = "MemcpyToHost", .since = 1, .run = run_copy, .host_outputs = 1},
    TT_KERNEL("Relu", 6, 0, F32, run_relu),
    TT_KERNEL("Add", 7, 0, F32, run_add, .supports = supports_add),
    /* a view whose shape input is read on the host */
    TT_KERNEL("Reshape", 5, 0, 0, NULL, .flags = TT_KERNEL_VIEW, .host_inputs = 1u << 1),
    TT_KERNEL_END,
};
static const tt_kernel *const g_fd_tables[] = {g_fd_kernels, NULL};
static const tt_backend g_fakedev = {
    .name = "fakedev", .description = "test device", .buft = &g_fd_buft, .tables = g_fd_tables, .copy = fd_copy};

/* ---- helpers -------------------------------------------------------------------------- */

static tether_session *open_on(pbw *m, const char *target)
{
    CHECK_OK(tt_backend_register(&g_fakedev));
    tether_session *s = NULL;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = target;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    return s;
}

static int count_op(const tt_graph *g, const char *op, const char *backend)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += strcmp(g->nodes[i].op_type, op) == 0 && (!backend || strcmp(g->nodes[i].backend->name, backend) == 0);
    return n;
}

static void check_same_outputs(tether_session *a, tether_session *b, const tether_tensor *in, size_t nin)
{
    tether_outputs *oa, *ob;
    CHECK_OK(tether_session_run(a, in, nin, &oa));
    CHECK_OK(tether_session_run(b, in, nin, &ob));
    CHECK_EQ_INT(tether_outputs_count(oa), tether_outputs_count(ob));
    for (size_t i = 0; i < tether_outputs_count(oa); i++) {
        const tether_tensor *x = tether_outputs_get(oa, i), *y = tether_outputs_get(ob, i);
        CHECK(strcmp(x->name, y->name) == 0);
        CHECK_EQ_INT(x->size, y->size);
        CHECK(memcmp(x->data, y->data, x->size) == 0);
    }
    tether_outputs_free(oa);
    tether_outputs_free(ob);
}

/* x[2,3] -Relu-> a -Add(W)-> b -Sigmoid-> c -Relu-> d -Reshape([3,2])-> e; outputs e and b. */
static pbw chain_model(void)
{
    float w[6] = {0.5f, -1, 2, -3, 0.25f, 1};
    int64_t shape[2] = {3, 2};
    pbw inits[2] = {ob_tensor("W", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 3}, w, sizeof w),
                    ob_tensor("shape", TETHER_DTYPE_INT64, 1, (int64_t[]){2}, shape, sizeof shape)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 3});
    pbw outs[2] = {ob_output("e", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("b", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw n[5] = {ob_node("Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"a"}, 0, NULL),
                ob_node("Add", 2, (const char *[]){"a", "W"}, 1, (const char *[]){"b"}, 0, NULL),
                ob_node("Sigmoid", 1, (const char *[]){"b"}, 1, (const char *[]){"c"}, 0, NULL),
                ob_node("Relu", 1, (const char *[]){"c"}, 1, (const char *[]){"d"}, 0, NULL),
                ob_node("Reshape", 2, (const char *[]){"d", "shape"}, 1, (const char *[]){"e"}, 0, NULL)};
    pbw g = ob_graph("chain", 5, n, 2, inits, 1, &x, 2, outs);
    return ob_model(13, &g);
}

/* ---- tests ------------------------------------------------------------------------------ */

TEST(copies_where_storage_changes_type)
{
    pbw m = chain_model();
    tether_session *dev = open_on(&m, "fakedev"), *ref = open_on(&m, "ref");
    const tt_graph *g = tt_session_local(dev)->model->graph;
    /* device: both Relus, Add, Reshape and the four copies; a host backend runs Sigmoid */
    CHECK_EQ_INT(count_op(g, "Relu", "fakedev"), 2);
    CHECK_EQ_INT(count_op(g, "Add", "fakedev"), 1);
    CHECK_EQ_INT(count_op(g, "Reshape", "fakedev"), 1);
    CHECK_EQ_INT(count_op(g, "Sigmoid", "cpu") + count_op(g, "Sigmoid", "ref"), 1);
    /* x up; b down (shared by Sigmoid and the output b); c up; e down. W is uploaded as a
     * constant, Reshape's shape stays on the host */
    CHECK_EQ_INT(count_op(g, "MemcpyToDevice", "fakedev"), 2);
    CHECK_EQ_INT(count_op(g, "MemcpyToHost", "fakedev"), 2);
    CHECK_EQ_INT(g->n_owned, 1);
    CHECK_EQ_INT(g->n_nodes, 9);
    /* the graph outputs keep their names and live on the host */
    for (int i = 0; i < g->n_outputs; i++)
        CHECK(tt_buft_is_host(g->values[g->outputs[i]].buft));
    CHECK(strcmp(g->values[g->outputs[0]].name, "e") == 0);
    CHECK(strcmp(g->values[g->outputs[1]].name, "b") == 0);
    tether_session_stats st;
    CHECK_OK(tether_session_stats_get(dev, &st));
    CHECK_STR_CONTAINS(st.where, "fakedev 8 nodes");
    CHECK_STR_CONTAINS(st.where, count_op(g, "Sigmoid", "cpu") ? "cpu 1 node" : "ref 1 node");

    float x[6] = {-1, 2, -3, 4, 0.5f, -0.5f};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {2, 3}, .data = x,
                        .size = sizeof x};
    check_same_outputs(dev, ref, &in, 1);
    tether_session_free(dev);
    tether_session_free(ref);
    ob_free(&m);
}

TEST(device_values_get_an_arena_and_the_steady_path_allocates_nothing)
{
    pbw m = chain_model();
    tether_session *dev = open_on(&m, "fakedev");
    tt_local *l = tt_session_local(dev);
    CHECK_EQ_INT(l->n_plans, 1); /* from the warm-up at open */
    CHECK_EQ_INT(l->plans[0]->n_arenas, 2);
    CHECK(l->plans[0]->arena_buft[1] == &g_fd_buft);
    CHECK(l->plans[0]->arena_size[1] > 0);
    float x[6] = {1, 2, 3, 4, 5, 6};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {2, 3}, .data = x,
                        .size = sizeof x};
    tether_outputs *o;
    CHECK_OK(tether_session_run(dev, &in, 1, &o));
    tether_outputs_free(o);
    int before = atomic_load(&g_dev_allocs);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(tether_session_run(dev, &in, 1, &o));
        CHECK_NEAR(((const float *)tether_outputs_find(o, "b")->data)[1], 2 + -1, 0);
        tether_outputs_free(o);
    }
    CHECK_EQ_INT(atomic_load(&g_dev_allocs), before);
    tether_session_free(dev);
    ob_free(&m);
}

/* If(cond) reads a, which the device makes: the branches run on the host from a copy. */
TEST(subgraphs_read_host_copies_of_device_values)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4});
    pbw cond = ob_input("cond", TETHER_DTYPE_BOOL, 0, NULL);
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw then_out = ob_output("t", TETHER_DTYPE_FLOAT, -1, NULL), else_out = ob_output("u", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw tn = ob_node("Identity", 1, (const char *[]){"a"}, 1, (const char *[]){"t"}, 0, NULL);
    pbw en = ob_node("Neg", 1, (const char *[]){"a"}, 1, (const char *[]){"u"}, 0, NULL);
    pbw tg = ob_graph("then", 1, &tn, 0, NULL, 0, NULL, 1, &then_out);
    pbw eg = ob_graph("else", 1, &en, 0, NULL, 0, NULL, 1, &else_out);
    pbw attrs[2] = {ob_attr_graph("then_branch", &tg), ob_attr_graph("else_branch", &eg)};
    pbw n[2] = {ob_node("Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"a"}, 0, NULL),
                ob_node("If", 1, (const char *[]){"cond"}, 1, (const char *[]){"y"}, 2, attrs)};
    pbw ins[2] = {x, cond};
    pbw g = ob_graph("branchy", 2, n, 0, NULL, 2, ins, 1, &y);
    pbw m = ob_model(13, &g);
    tether_session *dev = open_on(&m, "fakedev"), *ref = open_on(&m, "ref");
    const tt_graph *gr = tt_session_local(dev)->model->graph;
    CHECK_EQ_INT(count_op(gr, "Relu", "fakedev"), 1);
    CHECK_EQ_INT(count_op(gr, "If", "fakedev"), 0);
    CHECK_EQ_INT(count_op(gr, "MemcpyToHost", "fakedev"), 1);
    float xv[4] = {-2, -1, 1, 2};
    for (int c = 0; c < 2; c++) {
        bool cv = c;
        tether_tensor in[2] = {{.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {4}, .data = xv,
                                .size = sizeof xv},
                               {.name = "cond", .dtype = TETHER_DTYPE_BOOL, .rank = 0, .data = &cv, .size = 1}};
        check_same_outputs(dev, ref, in, 2);
    }
    tether_session_free(dev);
    tether_session_free(ref);
    ob_free(&m);
}

TEST(a_node_no_backend_runs_names_op_opset_and_dtype)
{
    /* Sqrt of int32: no backend has a kernel for it */
    pbw m = ob_single_op("Sqrt", 13, 1, (int[]){TETHER_DTYPE_INT32}, (int[]){1}, (const int64_t *[]){(int64_t[]){3}},
                         0, NULL);
    tether_session *s = NULL;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, &cfg), TETHER_ERR_UNSUPPORTED, "does not support dtype int32");
    CHECK_STR_CONTAINS(tether_last_error(), "Sqrt");
    CHECK_STR_CONTAINS(tether_last_error(), "opset 13");
    ob_free(&m);
}

TEST(backend_lists_for_targets)
{
    tt_backend_list bl;
    CHECK_OK(tt_backend_list_for("cpu", &bl));
    CHECK_EQ_INT(bl.n, 2);
    CHECK(strcmp(bl.b[0]->name, "cpu") == 0 && strcmp(bl.b[1]->name, "ref") == 0);
    CHECK_OK(tt_backend_list_for("ref", &bl));
    CHECK_EQ_INT(bl.n, 1);
    CHECK_OK(tt_backend_register(&g_fakedev));
    CHECK_OK(tt_backend_list_for("fakedev", &bl));
    CHECK_EQ_INT(bl.n, 3);
    CHECK(bl.b[0] == &g_fakedev);
    CHECK_OK(tt_backend_list_for("fakedev,ref", &bl));
    CHECK_EQ_INT(bl.n, 2);
    CHECK_ERR(tt_backend_list_for("tpu:0", &bl), TETHER_ERR_UNSUPPORTED, "no backend named 'tpu:0'");
    /* the same name twice is refused */
    static const tt_backend other = {.name = "fakedev", .tables = g_fd_tables};
    CHECK_ERR(tt_backend_register(&other), TETHER_ERR_INVALID_ARGUMENT, "exists");
}

int main(int argc, char **argv) { return check_main(argc, argv); }
