/* The device seam with a fake device backend (host memory posing as a device's): placement
 * copies values in and out once, uploads constants once and keeps inputs read on the host
 * there, leaves Shape's input where it is; the executor gives each run context the
 * backend's own context, tells it whether the run is steady (planned, same addresses),
 * repeats a run its backend voids, and the session reports the device bytes it holds. */
#include "check.h"
#include "onnx_build.h"

#include "backends/backend.h"
#include "graph/graph.h"
#include "runtime/session.h"

#include <stdatomic.h>

/* ---- the fake device ---------------------------------------------------------------------------- */

static atomic_long g_live_bytes, g_uploads, g_to_dev, g_to_host, g_ctx_new, g_ctx_free, g_begins, g_ends;
static atomic_long g_steady_runs, g_device_runs, g_again_requests;
static atomic_int g_void_next_run; /* run_end asks for the run again once */

typedef struct fake_hdr {
    size_t bytes;
    size_t pad[7];
} fake_hdr;

static void *fake_alloc(const tt_buft *b, size_t bytes)
{
    (void)b;
    fake_hdr *h = aligned_alloc(64, (sizeof *h + bytes + 63) & ~(size_t)63);
    if (!h)
        return NULL;
    h->bytes = bytes;
    g_live_bytes += (long)bytes;
    return h + 1;
}

static void fake_free(const tt_buft *b, void *p)
{
    (void)b;
    if (!p)
        return;
    fake_hdr *h = (fake_hdr *)p - 1;
    g_live_bytes -= (long)h->bytes;
    free(h);
}

static const tt_buft g_fake_buft = {.name = "fake:0", .host = false, .alloc = fake_alloc, .free = fake_free};
static const tt_backend g_fake;

static tt_status fake_copy(const tt_backend *b, void *dst, const tt_buft *dt, const void *src, const tt_buft *st,
                           size_t n)
{
    (void)b;
    (void)st;
    if (!tt_buft_is_host(dt))
        g_uploads++;
    memcpy(dst, src, n);
    return TT_OK;
}

typedef struct fake_ctx {
    long magic;
} fake_ctx;

static tt_status fake_ctx_new(const tt_backend *b, void **out)
{
    CHECK(b == &g_fake);
    fake_ctx *c = malloc(sizeof *c);
    c->magic = 0xfade;
    g_ctx_new++;
    *out = c;
    return TT_OK;
}

static void fake_ctx_free(const tt_backend *b, void *ctx)
{
    (void)b;
    g_ctx_free++;
    free(ctx);
}

static tt_status fake_run_begin(const tt_backend *b, void *ctx, const tt_run_info *ri)
{
    (void)b;
    CHECK(((fake_ctx *)ctx)->magic == 0xfade);
    g_begins++;
    if (ri->steady) {
        CHECK(ri->plan != NULL && ri->arena != NULL && ri->arena[1] != NULL); /* arena 1: the device's */
        g_steady_runs++;
    }
    return TT_OK;
}

static tt_status fake_run_end(const tt_backend *b, void *ctx, tt_status st, bool *again)
{
    (void)b;
    (void)ctx;
    g_ends++;
    if (st == TT_OK && atomic_exchange(&g_void_next_run, 0)) {
        *again = true;
        g_again_requests++;
        return tt_error(TETHER_ERR_INTERNAL, "this attempt is void");
    }
    return st;
}

static uint64_t fake_mem_used(const tt_backend *b)
{
    (void)b;
    return (uint64_t)g_live_bytes;
}

/* Kernels check they run on the fake device with its run context. */
static void expect_device(const tt_kctx *c)
{
    CHECK(c->backend == &g_fake);
    CHECK(c->bctx && ((fake_ctx *)c->bctx)->magic == 0xfade);
    for (int i = 0; i < c->n_in; i++) {
        const tt_tensor *t = tt_kin(c, i);
        if (t && !((c->node->kernel->host_inputs >> i) & 1) && !((c->node->kernel->shape_inputs >> i) & 1))
            CHECK(!tt_tensor_on_host(t) || !t->buf); /* device storage, or a borrowed device constant */
    }
}

static tt_status k_to_device(tt_kctx *c)
{
    CHECK(c->backend == &g_fake && c->bctx);
    CHECK(tt_tensor_on_host(tt_kin(c, 0)) && !tt_tensor_on_host(tt_kout(c, 0)));
    g_to_dev++;
    memcpy(tt_kout(c, 0)->data, tt_kin(c, 0)->data, tt_tensor_nbytes(tt_kin(c, 0)));
    return TT_OK;
}

static tt_status k_to_host(tt_kctx *c)
{
    g_to_host++;
    CHECK(tt_tensor_on_host(tt_kout(c, 0)));
    memcpy(tt_kout(c, 0)->data, tt_kin(c, 0)->data, tt_tensor_nbytes(tt_kin(c, 0)));
    return TT_OK;
}

static tt_status k_relu(tt_kctx *c)
{
    expect_device(c);
    g_device_runs++;
    const float *x = tt_kin(c, 0)->data;
    float *y = tt_kout(c, 0)->data;
    for (int64_t i = 0; i < tt_tensor_numel(tt_kout(c, 0)); i++)
        y[i] = x[i] > 0 ? x[i] : 0;
    return TT_OK;
}

static tt_status k_add_row(tt_kctx *c)
{
    expect_device(c);
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    int64_t n = tt_tensor_numel(y), m = tt_tensor_numel(b);
    for (int64_t i = 0; i < n; i++)
        ((float *)y->data)[i] = ((const float *)a->data)[i] + ((const float *)b->data)[i % m];
    return TT_OK;
}

static bool supports_float(const tt_kprep *p)
{
    CHECK(p->backend == &g_fake); /* supports sees the instance it is asked for */
    return p->in[0] && p->in[0]->dtype == TETHER_DTYPE_FLOAT;
}

static tt_status k_shape(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    CHECK(!tt_tensor_on_host(x)); /* its input stayed on the device */
    for (int i = 0; i < x->rank; i++)
        ((int64_t *)tt_kout(c, 0)->data)[i] = x->dims[i];
    return TT_OK;
}

static const tt_kernel g_fake_kernels[] = {
    {.domain = TT_DOMAIN, .name = "MemcpyToDevice", .since = 1, .run = k_to_device},
    {.domain = TT_DOMAIN, .name = "MemcpyToHost", .since = 1, .run = k_to_host, .host_outputs = 1},
    TT_KERNEL("Relu", 1, 0, TT_DT(TETHER_DTYPE_FLOAT), k_relu, .supports = supports_float),
    TT_KERNEL("Add", 7, 0, TT_DT(TETHER_DTYPE_FLOAT), k_add_row, .supports = supports_float),
    TT_KERNEL("Reshape", 5, 0, TT_DT(TETHER_DTYPE_FLOAT), NULL, .flags = TT_KERNEL_VIEW, .host_inputs = 2u),
    TT_KERNEL("Shape", 1, 0, 0, k_shape, .shape_inputs = 1, .host_outputs = 1),
    TT_KERNEL_END,
};
static const tt_kernel *const g_fake_tables[] = {g_fake_kernels, NULL};

static const tt_backend g_fake = {
    .name = "fake:0",
    .description = "host memory posing as a device's",
    .buft = &g_fake_buft,
    .tables = g_fake_tables,
    .copy = fake_copy,
    .ctx_new = fake_ctx_new,
    .ctx_free = fake_ctx_free,
    .run_begin = fake_run_begin,
    .run_end = fake_run_end,
    .mem_used = fake_mem_used,
};

/* ---- the model -------------------------------------------------------------------------------------- */

/* y = Relu(x); z = Add(y, w); r = Reshape(z, [-1]); s = Shape(z); q = Neg(z) (no fake kernel:
 * it runs on the host). Outputs r, s, q. */
static pbw model(void)
{
    float w[3] = {0.5f, -1.f, 2.f};
    int64_t flat[1] = {-1};
    pbw init[2] = {ob_tensor("w", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, w, sizeof w),
                   ob_tensor("flat", TETHER_DTYPE_INT64, 1, (int64_t[]){1}, flat, sizeof flat)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 3});
    pbw outs[3] = {ob_output("r", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("s", TETHER_DTYPE_INT64, -1, NULL),
                   ob_output("q", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw n[5] = {
        ob_node("Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL),
        ob_node("Add", 2, (const char *[]){"y", "w"}, 1, (const char *[]){"z"}, 0, NULL),
        ob_node("Reshape", 2, (const char *[]){"z", "flat"}, 1, (const char *[]){"r"}, 0, NULL),
        ob_node("Shape", 1, (const char *[]){"z"}, 1, (const char *[]){"s"}, 0, NULL),
        ob_node("Neg", 1, (const char *[]){"z"}, 1, (const char *[]){"q"}, 0, NULL),
    };
    pbw g = ob_graph("fake", 5, n, 2, init, 1, &x, 3, outs);
    return ob_model(14, &g);
}

static tether_session *open_fake(void)
{
    tt_error_clear();
    tt_status s = tt_backend_register(&g_fake);
    CHECK(s == TT_OK);
    pbw m = model();
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "fake:0";
    cfg.quiet = 1;
    tether_session *sess = NULL;
    CHECK_OK(tether_session_open_bytes(&sess, m.buf, m.len, &cfg));
    ob_free(&m);
    return sess;
}

static void run_and_check(tether_session *s, float bias)
{
    float x[6] = {-1, 2, -3, 4, -5, 6};
    for (int i = 0; i < 6; i++)
        x[i] += bias;
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {2, 3}, .data = x,
                        .size = sizeof x};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    const float w[3] = {0.5f, -1.f, 2.f};
    const tether_tensor *r = tether_outputs_find(o, "r"), *sh = tether_outputs_find(o, "s"),
                        *q = tether_outputs_find(o, "q");
    CHECK(r && sh && q);
    CHECK_EQ_INT(r->rank, 1);
    CHECK_EQ_INT(r->dims[0], 6);
    for (int i = 0; i < 6; i++) {
        float want = (x[i] > 0 ? x[i] : 0) + w[i % 3];
        CHECK_NEAR(((const float *)r->data)[i], want, 1e-6);
        CHECK_NEAR(((const float *)q->data)[i], -want, 1e-6);
    }
    CHECK_EQ_INT(sh->dims[0], 2);
    CHECK_EQ_INT(((const int64_t *)sh->data)[0], 2);
    CHECK_EQ_INT(((const int64_t *)sh->data)[1], 3);
    tether_outputs_free(o);
}

TEST(placement_copies_once_uploads_constants_once_and_keeps_shapes_where_they_are)
{
    tether_session *s = open_fake();
    tt_local *l = tt_session_local(s);
    const tt_graph *g = l->model->graph;
    int to_dev = 0, to_host = 0, on_fake = 0, on_host = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (strcmp(n->op_type, "MemcpyToDevice") == 0)
            to_dev++;
        else if (strcmp(n->op_type, "MemcpyToHost") == 0)
            to_host++;
        else if (n->backend == &g_fake)
            on_fake++;
        else
            on_host++;
        if (strcmp(n->op_type, "Reshape") == 0) /* its shape input is read on the host */
            CHECK(tt_buft_is_host(g->values[n->inputs[1]].buft));
    }
    CHECK_EQ_INT(on_fake, 4);  /* Relu, Add, Reshape, Shape */
    CHECK_EQ_INT(on_host, 1);  /* Neg */
    CHECK_EQ_INT(to_dev, 1);   /* x; w was uploaded, not copied at run time */
    CHECK_EQ_INT(to_host, 2);  /* z for Neg, and r for the output (Shape needs none) */
    CHECK_EQ_INT(g_uploads, 1);
    for (int i = 0; i < g->n_outputs; i++)
        CHECK(tt_buft_is_host(g->values[g->outputs[i]].buft));
    tether_session_stats st;
    CHECK_OK(tether_session_stats_get(s, &st));
    CHECK_STR_CONTAINS(st.where, "fake:0 7 nodes, ref 1 node"); /* copies run on the device backend */
    CHECK(st.device_bytes >= 12); /* the uploaded w, plus the planned device arena */
    CHECK_EQ_INT(st.device_bytes, (uint64_t)g_live_bytes);
    tether_session_free(s);
    CHECK_EQ_INT(g_live_bytes, 0); /* every device byte freed with the session */
}

TEST(run_contexts_hear_every_run_and_steady_runs_are_told_so)
{
    tether_session *s = open_fake(); /* the warm-up run plans memory */
    CHECK_EQ_INT(g_ctx_new, 1);
    CHECK_EQ_INT(g_begins, 1);
    CHECK_EQ_INT(g_steady_runs, 0); /* no plan yet while it recorded sizes */
    for (int i = 0; i < 3; i++)
        run_and_check(s, (float)i);
    CHECK_EQ_INT(g_begins, 4);
    CHECK_EQ_INT(g_ends, 4);
    CHECK_EQ_INT(g_steady_runs, 3); /* planned: every device value in its arena */
    CHECK_EQ_INT(g_ctx_new, 1);     /* one run context, reused */
    CHECK_EQ_INT(g_to_dev, 4);
    tether_session_free(s);
    CHECK_EQ_INT(g_ctx_free, 1);
}

TEST(a_run_its_backend_voids_is_repeated_once)
{
    tether_session *s = open_fake();
    run_and_check(s, 0);
    long begins = g_begins, relus = g_device_runs;
    g_void_next_run = 1;
    run_and_check(s, 1); /* the second attempt's outputs are right */
    CHECK_EQ_INT(g_again_requests, 1);
    CHECK_EQ_INT(g_begins, begins + 2);
    CHECK_EQ_INT(g_device_runs, relus + 2);
    run_and_check(s, 2);
    CHECK_EQ_INT(g_begins, begins + 3);
    tether_session_free(s);
}

TEST(registered_names_are_unique)
{
    CHECK_OK(tt_backend_register(&g_fake));
    CHECK_OK(tt_backend_register(&g_fake)); /* the same one again: nothing to do */
    const tt_backend other = {.name = "fake:0", .tables = g_fake_tables}, cpu2 = {.name = "cpu", .tables = g_fake_tables};
    CHECK_ERR(tt_backend_register(&other), TETHER_ERR_INVALID_ARGUMENT, "a backend named 'fake:0' exists");
    CHECK_ERR(tt_backend_register(&cpu2), TETHER_ERR_INVALID_ARGUMENT, "a backend named 'cpu' exists");
    const tt_backend *b;
    CHECK_OK(tt_backend_get("fake:0", &b));
    CHECK(b == &g_fake);
    tt_backend_list bl;
    CHECK_OK(tt_backend_list_for("fake:0", &bl));
    CHECK_EQ_INT(bl.n, 3); /* fake:0, then the host's cpu and ref for what it lacks */
    CHECK(bl.b[0] == &g_fake && strcmp(bl.b[1]->name, "cpu") == 0 && strcmp(bl.b[2]->name, "ref") == 0);
    tt_backend_list_release(&bl);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
