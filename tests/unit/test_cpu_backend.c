/* The cpu backend as a whole, on a small CNN (blocked convolutions, pools, residual sums):
 * steady runs allocate nothing beyond the outputs they hand back, concurrent runs of one
 * session share its plans and agree bit for bit, runs share the process's threads, and a
 * process forked after oneDNN ran still runs models. */
#include "check.h"
#include "onnx_build.h"

#include "backends/backend.h"
#include "backends/cpu/dnnl_plan.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "runtime/session.h"

#include <pthread.h>

/* ---- a small CNN ------------------------------------------------------------------------------ */

static pbw weights(const char *name, int rank, const int64_t *dims, uint32_t seed)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = ((float)(seed >> 8) / (float)(1u << 24) - 0.5f) * 0.4f;
    }
    pbw t = ob_tensor(name, TETHER_DTYPE_FLOAT, rank, dims, v, sizeof(float) * (size_t)n);
    free(v);
    return t;
}

/* x[N,3,20,20] -Conv 3x3 s2, Relu-> a -MaxPool-> p -Conv, +p, Relu-> r -Conv dw-> d
 * -GlobalAveragePool-> y[N,16,1,1]; also the plain Relu(y) -> z */
static pbw cnn_model(void)
{
    pbw inits[4] = {weights("W1", 4, (int64_t[]){16, 3, 3, 3}, 1), weights("B1", 1, (int64_t[]){16}, 2),
                    weights("W2", 4, (int64_t[]){16, 16, 3, 3}, 3), weights("W3", 4, (int64_t[]){16, 1, 3, 3}, 4)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 4, (int64_t[]){-1, 3, 20, 20});
    pbw outs[2] = {ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("z", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw c1[2] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}), ob_attr_ints("strides", 2, (int64_t[]){2, 2})};
    pbw c2[1] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1})};
    pbw c3[2] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}), ob_attr_int("group", 16)};
    pbw mp[3] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){2, 2}), ob_attr_ints("strides", 2, (int64_t[]){1, 1}),
                 ob_attr_ints("pads", 4, (int64_t[]){0, 0, 1, 1})};
    pbw n[9] = {
        ob_node("Conv", 3, (const char *[]){"x", "W1", "B1"}, 1, (const char *[]){"a0"}, 2, c1),
        ob_node("Relu", 1, (const char *[]){"a0"}, 1, (const char *[]){"a"}, 0, NULL),
        ob_node("MaxPool", 1, (const char *[]){"a"}, 1, (const char *[]){"p"}, 3, mp),
        ob_node("Conv", 2, (const char *[]){"p", "W2"}, 1, (const char *[]){"c"}, 1, c2),
        ob_node("Add", 2, (const char *[]){"c", "p"}, 1, (const char *[]){"s"}, 0, NULL),
        ob_node("Relu", 1, (const char *[]){"s"}, 1, (const char *[]){"r"}, 0, NULL),
        ob_node("Conv", 2, (const char *[]){"r", "W3"}, 1, (const char *[]){"d"}, 2, c3),
        ob_node("GlobalAveragePool", 1, (const char *[]){"d"}, 1, (const char *[]){"y"}, 0, NULL),
        ob_node("Relu", 1, (const char *[]){"y"}, 1, (const char *[]){"z"}, 0, NULL),
    };
    pbw g = ob_graph("cnn", 9, n, 4, inits, 1, &x, 2, outs);
    return ob_model(13, &g);
}

/* x -Relu-> y, z: the same two outputs handed back, nothing else */
static pbw trivial_model(void)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 4, (int64_t[]){-1, 3, 20, 20});
    pbw outs[2] = {ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("z", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw n[2] = {ob_node("Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL),
                ob_node("Relu", 1, (const char *[]){"y"}, 1, (const char *[]){"z"}, 0, NULL)};
    pbw g = ob_graph("trivial", 2, n, 0, NULL, 1, &x, 2, outs);
    return ob_model(13, &g);
}

static tether_session *open_model(const pbw *m, const char *target)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = target;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    return s;
}

static float g_x[4 * 3 * 20 * 20];

static tether_tensor input(int64_t batch)
{
    for (size_t i = 0; i < sizeof g_x / sizeof g_x[0]; i++)
        g_x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    return (tether_tensor){.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 4, .dims = {batch, 3, 20, 20},
                           .data = g_x, .size = sizeof(float) * (size_t)batch * 3 * 20 * 20};
}

static bool have_blocked_convs(void)
{
    if (tt_backend_cpu.conv_block && tt_backend_cpu.conv_block(&tt_backend_cpu))
        return true;
    printf("  the cpu backend has no oneDNN convolutions on this machine (no oneDNN, or no AVX2)\n");
    return false;
}

/* Allocations of one run after the first few. */
static unsigned long steady_allocs(tether_session *s, const tether_tensor *in)
{
    tether_outputs *o;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(tether_session_run(s, in, 1, &o));
        tether_outputs_free(o);
    }
    unsigned long a = tt_mem_allocs();
    CHECK_OK(tether_session_run(s, in, 1, &o));
    unsigned long b = tt_mem_allocs();
    tether_outputs_free(o);
    return b - a;
}

/* ---- tests ------------------------------------------------------------------------------------ */

TEST(steady_runs_allocate_only_the_outputs)
{
    if (!have_blocked_convs())
        return;
    pbw m = cnn_model(), t = trivial_model();
    tether_session *s = open_model(&m, "cpu"), *trivial = open_model(&t, "ref");
    const tt_graph *g = tt_session_local(s)->model->graph;
    int on_cpu = 0;
    for (int i = 0; i < g->n_nodes; i++)
        on_cpu += strcmp(g->nodes[i].backend->name, "cpu") == 0;
    CHECK(on_cpu >= 5);
    for (int64_t batch = 1; batch <= 4; batch *= 4) {
        tether_tensor in = input(batch);
        unsigned long cnn = steady_allocs(s, &in), handoff = steady_allocs(trivial, &in);
        printf("  batch %d: %lu allocations per run, %lu of them handing two outputs back\n", (int)batch, cnn,
               handoff);
        CHECK_EQ_INT(cnn, handoff);
    }
    tether_session_free(s);
    tether_session_free(trivial);
    ob_free(&m);
    ob_free(&t);
}

typedef struct runner {
    tether_session *s;
    tether_tensor in; /* shared, read only: the threads never write the input */
    const float *want;
    size_t n;
    int bad;
} runner;

static void *run_many(void *arg)
{
    runner *r = arg;
    for (int k = 0; k < 20; k++) {
        tether_outputs *o;
        if (tether_session_run(r->s, &r->in, 1, &o) != TETHER_OK) {
            r->bad++;
            continue;
        }
        const tether_tensor *y = tether_outputs_get(o, 0);
        if (y->size != r->n * sizeof(float) || memcmp(y->data, r->want, y->size) != 0)
            r->bad++;
        tether_outputs_free(o);
    }
    return NULL;
}

TEST(concurrent_runs_share_plans_and_agree)
{
    if (!have_blocked_convs())
        return;
    CHECK_OK(tt_threadpool_resize(2));
    pbw m = cnn_model();
    tether_session *s = open_model(&m, "cpu");
    tether_tensor in = input(2);
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    const tether_tensor *y = tether_outputs_get(o, 0);
    runner r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (runner){.s = s, .in = in, .want = y->data, .n = y->size / sizeof(float)};
        pthread_create(&t[i], NULL, run_many, &r[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(r[i].bad, 0);
    }
    tether_outputs_free(o);
    tether_session_free(s);
    ob_free(&m);
}

static void *other_run(void *arg)
{
    tt_threads_scope s = tt_threads_begin(0);
    *(int *)arg = tt_threads();
    tt_threads_end(s);
    return NULL;
}

static int threads_of_a_concurrent_run(void)
{
    int n = 0;
    pthread_t t;
    pthread_create(&t, NULL, other_run, &n);
    pthread_join(t, NULL);
    return n;
}

TEST(runs_divide_the_process_threads)
{
    CHECK_OK(tt_threadpool_resize(4));
    CHECK_EQ_INT(tt_threads(), 4);
    tt_threads_scope a = tt_threads_begin(3);
    CHECK_EQ_INT(tt_threads(), 3);
    /* another run while this one holds three threads gets the fourth */
    CHECK_EQ_INT(threads_of_a_concurrent_run(), 1);
    /* nested in a run: the run's share */
    tt_threads_scope d = tt_threads_begin(0);
    CHECK_EQ_INT(tt_threads(), 3);
    tt_threads_end(d);
    tt_threads_end(a);
    tt_threads_scope b = tt_threads_begin(2);
    CHECK_EQ_INT(threads_of_a_concurrent_run(), 2);
    tt_threads_end(b);
    tt_threads_scope c = tt_threads_begin(0);
    CHECK_EQ_INT(tt_threads(), 4);
    CHECK_EQ_INT(threads_of_a_concurrent_run(), 1); /* never fewer than one */
    tt_threads_end(c);
    tt_threads_scope f = tt_threads_begin(16); /* never more than the process has */
    CHECK_EQ_INT(tt_threads(), 4);
    tt_threads_end(f);
    CHECK_EQ_INT(threads_of_a_concurrent_run(), 4);
}

/* oneDNN's OpenMP threads do not survive fork(): a child of a process that ran them must
 * still run (on one thread) rather than hang. */
TEST(a_child_forked_after_onednn_ran_still_runs)
{
    if (!have_blocked_convs())
        return;
    CHECK_OK(tt_threadpool_resize(2));
    pbw m = cnn_model();
    tether_session *s = open_model(&m, "cpu");
    tether_tensor in = input(4);
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    const tether_tensor *y = tether_outputs_get(o, 0);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        /* oneDNN plans for one thread here, in either thread pool */
        int bad = tt_threads_for_omp() != 1;
        tether_outputs *oc;
        /* the parent's session (its plans were made for two threads) and a new one */
        bad |= tether_session_run(s, &in, 1, &oc) != TETHER_OK || memcmp(tether_outputs_get(oc, 0)->data, y->data,
                                                                           y->size) != 0;
        tether_session *s2 = open_model(&m, "cpu");
        tether_outputs *o2;
        bad |= tether_session_run(s2, &in, 1, &o2) != TETHER_OK;
        _exit(bad);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tether_outputs_free(o);
    tether_session_free(s);
    ob_free(&m);
}

static tether_session *open_precision(const pbw *m, const char *precision, int threads)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.precision = precision;
    cfg.num_threads = threads;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    return s;
}

/* bf16 and int8 sessions: every convolution says so, and the outputs stay close to fp32's. */
TEST(reduced_precision_is_a_session_option)
{
    if (!have_blocked_convs())
        return;
    pbw m = cnn_model();
    tether_session *f = open_precision(&m, "fp32", 1);
    CHECK_EQ_INT(tt_session_local(f)->num_threads, 1);
    tether_tensor in = input(4);
    tether_outputs *want;
    CHECK_OK(tether_session_run(f, &in, 1, &want));
    const tether_tensor *y = tether_outputs_get(want, 0);
    const char *precs[2] = {"bf16", "int8"};
    for (int k = 0; k < 2; k++) {
        tether_session *s = open_precision(&m, precs[k], 0);
        const tt_graph *g = tt_session_local(s)->model->graph;
        int convs = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (strcmp(g->nodes[i].op_type, "FusedConv") == 0) {
                CHECK(strcmp(tt_attr_string(&g->nodes[i], "precision", ""), precs[k]) == 0);
                convs++;
            }
        CHECK_EQ_INT(convs, 3);
        tether_outputs *o;
        CHECK_OK(tether_session_run(s, &in, 1, &o));
        const tether_tensor *x = tether_outputs_get(o, 0);
        CHECK_EQ_INT(x->size, y->size);
        double err = 0, peak = 0;
        for (size_t i = 0; i < y->size / sizeof(float); i++) {
            err = fmax(err, fabs(((const float *)x->data)[i] - ((const float *)y->data)[i]));
            peak = fmax(peak, fabs(((const float *)y->data)[i]));
        }
        printf("  %s: max |error| %.3g of outputs up to %.3g\n", precs[k], err, peak);
        CHECK(peak > 0 && err <= 0.05 * peak);
        tether_outputs_free(o);
        tether_session_free(s);
    }
    tether_outputs_free(want);
    tether_session_free(f);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.precision = "fp8";
    tether_session *s = NULL;
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, &cfg), TETHER_ERR_INVALID_ARGUMENT, "'fp8'");
    cfg.precision = "int8";
    cfg.target = "tcp://127.0.0.1:1";
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, &cfg), TETHER_ERR_UNSUPPORTED, "local sessions");
    cfg.precision = NULL;
    cfg.target = "cpu";
    cfg.num_threads = -2;
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, &cfg), TETHER_ERR_INVALID_ARGUMENT, "num_threads");
    ob_free(&m);
}

/* x[N,64,16,16] -Conv 3x3 s2-> a -Conv 3x3 s1-> b -Conv 1x1-> y (weights of 144, 144 and 16 KiB:
 * tensors over the arena's chunk get a chunk of their own, which can be freed) */
static pbw big_weights_model(void)
{
    pbw inits[4] = {weights("Ws2", 4, (int64_t[]){64, 64, 3, 3}, 5), weights("Bs2", 1, (int64_t[]){64}, 6),
                    weights("Wwino", 4, (int64_t[]){64, 64, 3, 3}, 7), weights("Wsmall", 4, (int64_t[]){64, 64, 1, 1}, 8)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 4, (int64_t[]){-1, 64, 16, 16});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw c1[2] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}), ob_attr_ints("strides", 2, (int64_t[]){2, 2})};
    pbw c2[1] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1})};
    pbw n[3] = {ob_node("Conv", 3, (const char *[]){"x", "Ws2", "Bs2"}, 1, (const char *[]){"a"}, 2, c1),
                ob_node("Conv", 2, (const char *[]){"a", "Wwino"}, 1, (const char *[]){"b"}, 1, c2),
                ob_node("Conv", 2, (const char *[]){"b", "Wsmall"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw g = ob_graph("weights", 3, n, 4, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

/* Whether oneDNN offers a Winograd convolution for Wwino's (64 -> 64 channels, 3x3, 8x8) on
 * this CPU: oneDNN 2.6 has Winograd kernels for AVX-512 only. */
static bool onednn_has_winograd(void)
{
#ifdef TETHER_HAVE_DNNL
    dnnl_memory_desc_t src, wts, dst;
    dnnl_dims_t sd = {1, 64, 8, 8}, wd = {64, 64, 3, 3}, one = {1, 1};
    dnnl_convolution_desc_t d;
    dnnl_primitive_desc_t pd;
    if (dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&dst, 4, sd, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&wts, 4, wd, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_convolution_forward_desc_init(&d, dnnl_forward_inference, dnnl_convolution_winograd, &src, &wts, NULL,
                                           &dst, one, one, one) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &d, NULL, tt_dnnl_engine(), NULL) != dnnl_success)
        return false;
    dnnl_primitive_desc_destroy(pd);
    return true;
#else
    return false;
#endif
}

/* Weights packed in a direct layout are freed from the model (the kernel can give them back
 * exactly); Winograd's transformed ones (where this CPU has Winograd), and weights too small
 * for an arena chunk of their own, are kept. */
TEST(packed_weights_are_held_once)
{
    if (!have_blocked_convs())
        return;
    bool wino = onednn_has_winograd();
    printf("  oneDNN %s Winograd convolutions on this CPU\n", wino ? "has" : "has no");
    pbw m = big_weights_model();
    tether_session *s = open_model(&m, "cpu"), *ref = open_model(&m, "ref");
    const tt_graph *g = tt_session_local(s)->model->graph;
    for (int v = 0; v < g->n_values; v++) {
        const tt_value_decl *d = &g->values[v];
        if (d->origin != TT_VALUE_CONST)
            continue;
        bool freed = d->init->data == NULL;
        printf("  %s: %s\n", d->name, freed ? "freed" : "kept");
        CHECK_EQ_INT(freed, strcmp(d->name, "Ws2") == 0 || (!wino && strcmp(d->name, "Wwino") == 0));
    }
    float *x = malloc(sizeof(float) * 2 * 64 * 16 * 16);
    for (int i = 0; i < 2 * 64 * 16 * 16; i++)
        x[i] = (float)(i % 17) / 8.0f - 1.0f;
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 4, .dims = {2, 64, 16, 16}, .data = x,
                        .size = sizeof(float) * 2 * 64 * 16 * 16};
    tether_outputs *a, *b;
    CHECK_OK(tether_session_run(s, &in, 1, &a));
    CHECK_OK(tether_session_run(ref, &in, 1, &b));
    const tether_tensor *ya = tether_outputs_get(a, 0), *yb = tether_outputs_get(b, 0);
    for (size_t i = 0; i < yb->size / sizeof(float); i++)
        CHECK_NEAR(((const float *)ya->data)[i], ((const float *)yb->data)[i],
                   1e-4 + 1e-3 * fabs(((const float *)yb->data)[i]));
    tether_outputs_free(a);
    tether_outputs_free(b);
    tether_session_free(s);
    tether_session_free(ref);
    free(x);
    ob_free(&m);
}

/* What a kernel relies on to give freed weights back: packing and unpacking round-trip
 * exactly through the blocked layouts. */
TEST(packed_weights_unpack_exactly)
{
#ifndef TETHER_HAVE_DNNL
    printf("  built without oneDNN\n");
#else
    if (!have_blocked_convs())
        return;
    int64_t dims[4] = {24, 40, 3, 3};
    size_t n = 24 * 40 * 9;
    float *w = malloc(n * sizeof *w), *back = malloc(n * sizeof *back);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((i * 2654435761u) % 10007) / 977.0f - 5.0f;
    dnnl_engine_t eng = tt_dnnl_engine();
    CHECK(eng != NULL);
    dnnl_memory_desc_t plain, blocked;
    CHECK_OK(tt_dnnl_md(&plain, 4, dims, dnnl_oihw, NULL));
    CHECK_OK(tt_dnnl_md(&blocked, 4, dims, tt_dnnl_block() == 16 ? dnnl_OIhw16i16o : dnnl_OIhw8i8o, NULL));
    void *packed = NULL;
    CHECK_OK(tt_dnnl_pack(eng, &plain, w, &blocked, NULL, &packed, NULL));
    CHECK_OK(tt_dnnl_unpack(eng, &blocked, packed, &plain, back, NULL));
    CHECK(memcmp(w, back, n * sizeof *w) == 0);
    tt_free_aligned(packed);
    free(w);
    free(back);
#endif
}

int main(int argc, char **argv) { return check_main(argc, argv); }
