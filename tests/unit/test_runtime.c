/* The executor and memory planner: planned runs give the same results as unplanned ones,
 * views keep their storage alive, outputs that alias inputs or constants are copied,
 * constants are folded at open. */
#include "check.h"
#include "onnx_build.h"

#include <math.h>

static tether_session *open_bytes(pbw *m, int warmup)
{
    tether_session *s = NULL;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.warmup = warmup;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    return s;
}

/* t = exp(x); r = reshape(t, [-1]); u = x * x; v = reshape(u, [-1]); y = r + v; z = relu(y)
 * If the planner freed t's storage when Reshape consumed it (ignoring the view r), u or
 * a later tensor would overwrite r before the Add. Outputs: z, x itself (through Identity)
 * and the initializer "flat" itself. */
static pbw views_model(void)
{
    int64_t flat[1] = {-1};
    pbw shape = ob_tensor("flat", TETHER_DTYPE_INT64, 1, (int64_t[]){1}, flat, sizeof flat);
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 4});
    pbw outs[3] = {ob_output("z", TETHER_DTYPE_FLOAT, -1, NULL), ob_output("x_again", TETHER_DTYPE_FLOAT, -1, NULL),
                   ob_output("flat", TETHER_DTYPE_INT64, -1, NULL)};
    pbw n[7] = {
        ob_node("Exp", 1, (const char *[]){"x"}, 1, (const char *[]){"t"}, 0, NULL),
        ob_node("Reshape", 2, (const char *[]){"t", "flat"}, 1, (const char *[]){"r"}, 0, NULL),
        ob_node("Mul", 2, (const char *[]){"x", "x"}, 1, (const char *[]){"u"}, 0, NULL),
        ob_node("Reshape", 2, (const char *[]){"u", "flat"}, 1, (const char *[]){"v"}, 0, NULL),
        ob_node("Add", 2, (const char *[]){"r", "v"}, 1, (const char *[]){"y"}, 0, NULL),
        ob_node("Relu", 1, (const char *[]){"y"}, 1, (const char *[]){"z"}, 0, NULL),
        ob_node("Identity", 1, (const char *[]){"x"}, 1, (const char *[]){"x_again"}, 0, NULL),
    };
    pbw g = ob_graph("views", 7, n, 1, &shape, 1, &x, 3, outs);
    return ob_model(13, &g);
}

static void run_views(tether_session *s, int64_t rows)
{
    float x[40];
    for (int i = 0; i < rows * 4; i++)
        x[i] = 0.25f * (float)i - 2.0f;
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {rows, 4}, .data = x,
                        .size = sizeof(float) * (size_t)(rows * 4)};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    const tether_tensor *z = tether_outputs_find(out, "z"), *xa = tether_outputs_find(out, "x_again");
    const tether_tensor *fo = tether_outputs_find(out, "flat");
    CHECK(z && xa && fo);
    CHECK_EQ_INT(z->rank, 1);
    CHECK_EQ_INT(z->dims[0], rows * 4);
    for (int i = 0; i < rows * 4; i++) {
        float want = expf(x[i]) + x[i] * x[i];
        CHECK_NEAR(((float *)z->data)[i], want, 1e-5 * want);
        CHECK(((float *)xa->data)[i] == x[i]);
    }
    CHECK(xa->data != (void *)x); /* an output aliasing the caller's input is a copy */
    CHECK_EQ_INT(((int64_t *)fo->data)[0], -1);
    tether_outputs_free(out);
}

TEST(planned_and_unplanned_runs_agree_and_views_survive)
{
    pbw m = views_model();
    for (int warm = 0; warm < 2; warm++) {
        tether_session *t = open_bytes(&m, warm);
        for (int k = 0; k < 3; k++) {
            run_views(t, 1);
            run_views(t, 10);
            run_views(t, 3);
        }
        tether_session_free(t);
    }
    ob_free(&m);
}

TEST(constants_fold_at_open)
{
    /* y = x + (c1 * c2): the product folds into one constant, leaving one node */
    float c1[2] = {2, 3}, c2[2] = {5, 7};
    pbw inits[2] = {ob_tensor("c1", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2}, c1, sizeof c1),
                    ob_tensor("c2", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2}, c2, sizeof c2)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2});
    pbw n[2] = {ob_node("Mul", 2, (const char *[]){"c1", "c2"}, 1, (const char *[]){"p"}, 0, NULL),
                ob_node("Add", 2, (const char *[]){"x", "p"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw g = ob_graph("fold", 2, n, 2, inits, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    tether_session *s = open_bytes(&m, 1);
    tether_session_stats st;
    CHECK_OK(tether_session_stats_get(s, &st));
    CHECK_EQ_INT(st.nodes, 1);
    float xv[2] = {1, 1};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {2}, .data = xv, .size = 8};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    CHECK_NEAR(((float *)tether_outputs_get(out, 0)->data)[0], 11, 0);
    CHECK_NEAR(((float *)tether_outputs_get(out, 0)->data)[1], 22, 0);
    CHECK(tether_outputs_flops(out) > 0);
    tether_outputs_free(out);
    tether_session_free(s);
    ob_free(&m);
}

TEST(warmup_plans_activation_memory)
{
    /* a chain of 6 Relu over [N, 1024]: at most a few tensors are alive at once, so the
     * plan needs far less than 6 buffers */
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 1024});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 1024});
    pbw n[6];
    const char *names[7] = {"x", "a", "b", "c", "d", "e", "y"};
    for (int i = 0; i < 6; i++)
        n[i] = ob_node(i % 2 ? "Relu" : "Sigmoid", 1, &names[i], 1, &names[i + 1], 0, NULL);
    pbw g = ob_graph("chain", 6, n, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    tether_session *s = open_bytes(&m, 1);
    tether_session_stats st;
    CHECK_OK(tether_session_stats_get(s, &st));
    /* 5 intermediates of 4 KiB; ping-pong needs 2 planned + the heap output */
    CHECK(st.activation_bytes >= 2 * 4096);
    CHECK(st.activation_bytes <= 3 * 4096 + 1024);
    tether_session_free(s);
    ob_free(&m);
}

TEST(runtime_errors_name_the_node_and_leave_the_session_usable)
{
    /* Reshape to a shape given at run time: a wrong element count is an error, then a
     * right one still works */
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){6});
    pbw sh = ob_input("shape", TETHER_DTYPE_INT64, 1, (int64_t[]){2});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw n = ob_node("Reshape", 2, (const char *[]){"x", "shape"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw ins[2] = {x, sh};
    pbw g = ob_graph("rt", 1, &n, 0, NULL, 2, ins, 1, &y);
    pbw m = ob_model(13, &g);
    tether_session *s = open_bytes(&m, 1);
    float xv[6] = {1, 2, 3, 4, 5, 6};
    int64_t bad[2] = {4, 2}, good[2] = {3, 2};
    tether_tensor in[2] = {{.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {6}, .data = xv, .size = 24},
                           {.name = "shape", .dtype = TETHER_DTYPE_INT64, .rank = 1, .dims = {2}, .data = bad, .size = 16}};
    tether_outputs *out;
    CHECK_ERR(tether_session_run(s, in, 2, &out), TETHER_ERR_SHAPE, "cannot reshape [6] into [4,2]");
    in[1].data = good;
    CHECK_OK(tether_session_run(s, in, 2, &out));
    CHECK_EQ_INT(tether_outputs_get(out, 0)->dims[0], 3);
    tether_outputs_free(out);
    tether_session_free(s);
    ob_free(&m);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
