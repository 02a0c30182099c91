/* Attacks on tetherd's time: a request that freezes the I/O thread, runs that outlive the
 * run limit (an empty Loop body, a long NonMaxSuppression, a warm-up at open that never
 * ends), a worker held by a run nobody waits for, and compute taken through failing runs.
 * Each is reproduced against a real tetherd; the tests assert the server stays responsive,
 * stops what it must in bounded time, and charges what ran. */
#include "attack.h"

static const int64_t dims11[2] = {1, 1};

/* The Loop model's inputs: x = 0, n = trips. */
static void loop_inputs(tether_tensor t[2], const float *x, const int64_t *n)
{
    t[0] = at_f32("x", 2, dims11, x);
    t[1] = at_i64("n", 0, NULL, n);
}

/* Sends a run of the Loop model (opened as h) whose trip count never ends, without waiting. */
static void send_endless_run(tt_rconn *c, uint32_t h, uint32_t id)
{
    float x = 0;
    int64_t n = (int64_t)1 << 62;
    tether_tensor in[2];
    loop_inputs(in, &x, &n);
    size_t len;
    uint8_t *frame = at_run_frame(h, in, 2, id, &len);
    at_send_all(tt_rconn_fd(c), frame, len);
    free(frame);
}

TEST(one_request_cannot_freeze_the_server_and_sigterm_stops_it)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=2", "--workers", "2", "--run-limit", "0",
                                              "--drain-timeout", "1", NULL});
    tt_attachment a, b;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &b));
    pbw m = at_loop_model(true, 0, false), dense = th_model_dense(8, 4, 1);
    tt_rconn *c = at_conn(&s, &a);
    uint32_t h = at_open(c, &m);
    float x = 0;
    int64_t n = 3;
    tether_tensor in[2];
    loop_inputs(in, &x, &n);
    /* two fast runs: the model's last run took microseconds */
    for (int i = 0; i < 2; i++) {
        tt_reply rep;
        CHECK_OK(at_run(c, h, in, 2, 5000, &rep));
        tt_reply_free(&rep);
    }
    /* then the same model with a trip count that never ends, without waiting for it */
    send_endless_run(c, h, 77);
    th_sleep_ms(300);
    /* everyone else is still answered at once: a describe, and another tenant's inference */
    double t0 = th_now_s();
    tt_rconn *mine = at_conn(&s, &a);
    cJSON *doc = at_describe(mine);
    CHECK_EQ_INT(at_num(doc, "attached", "running"), 1);
    cJSON_Delete(doc);
    tt_rconn_close(mine);
    tether_session *g = th_open(dense.buf, dense.len, "eia:1", 5000);
    float gx[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    tether_outputs *o;
    CHECK_OK(th_run_f32(g, gx, 1, 8, &o));
    tether_outputs_free(o);
    CHECK(th_now_s() - t0 < 3.0);
    tether_session_free(g);
    /* SIGTERM ends the server in bounded time although the run would never end: the drain
     * (1 s) passes, the run is stopped, the server exits cleanly */
    t0 = th_now_s();
    int status = th_server_signal_wait(&s, SIGTERM);
    double took = th_now_s() - t0;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        tp_dump_log(&s, stderr);
        CHECK_FAIL("tetherd did not exit cleanly on SIGTERM (status 0x%x)", status);
    }
    CHECK(took < 6.0);
    CHECK(at_log_contains(&s, "after the drain timeout"));
    /* the stopped run's client heard of it, or saw the connection close: never a hang */
    CHECK(at_closed_within(tt_rconn_fd(c), 2000));
    tt_rconn_close(c);
    ob_free(&m);
    ob_free(&dense);
}

#ifdef TETHER_HAVE_MHD
/* 0 when a TCP connection to 127.0.0.1:port is accepted, else the connect's errno. */
static int tcp_connect_errno(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int e = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    close(fd);
    return e;
}

/* While a run holds the drain open, the native and the HTTP listener both refuse new
 * connections at once (nothing waits unanswered in a backlog), and the server still ends
 * cleanly when the drain passes. */
TEST(during_the_drain_every_listener_refuses_new_connections)
{
    th_fresh_home();
    char dir[300], port_file[360];
    th_mkdtemp("http", dir, sizeof dir);
    snprintf(port_file, sizeof port_file, "%s/http.port", dir);
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=1", "--workers", "1", "--run-limit", "0",
                                              "--drain-timeout", "2", "--http", "127.0.0.1:0", "--http-port-file",
                                              port_file, NULL});
    int http = th_read_port(port_file);
    CHECK_EQ_INT(tcp_connect_errno(http), 0);
    CHECK_EQ_INT(tcp_connect_errno(s.port), 0);
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    pbw m = at_loop_model(true, 0, false);
    tt_rconn *c = at_conn(&s, &a);
    uint32_t h = at_open(c, &m);
    send_endless_run(c, h, 78); /* the drain lasts its whole timeout */
    th_sleep_ms(200);
    CHECK(kill(s.pid, SIGTERM) == 0);
    th_sleep_ms(400);
    CHECK(th_server_alive(&s));
    CHECK_EQ_INT(tcp_connect_errno(http), ECONNREFUSED);
    CHECK_EQ_INT(tcp_connect_errno(s.port), ECONNREFUSED);
    int status = th_server_signal_wait(&s, 0); /* no second signal: the drain runs out */
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        tp_dump_log(&s, stderr);
        CHECK_FAIL("tetherd did not exit cleanly after the drain (status 0x%x)", status);
    }
    CHECK(at_log_contains(&s, "after the drain timeout"));
    tt_rconn_close(c);
    ob_free(&m);
}
#endif

/* y = NonMaxSuppression(boxes float[1, N, 4], scores float[1, 1, N]), every box kept. */
static pbw nms_model(int64_t keep)
{
    float iou = 0.5f;
    pbw inits[2] = {ob_tensor("max_out", TETHER_DTYPE_INT64, 1, (int64_t[]){1}, &keep, sizeof keep),
                    ob_tensor("iou", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1}, &iou, sizeof iou)};
    pbw ins[2] = {ob_input("boxes", TETHER_DTYPE_FLOAT, 3, (int64_t[]){1, -1, 4}),
                  ob_input("scores", TETHER_DTYPE_FLOAT, 3, (int64_t[]){1, 1, -1})};
    pbw y = ob_output("y", TETHER_DTYPE_INT64, 2, (int64_t[]){-1, 3});
    pbw node = ob_node("NonMaxSuppression", 4, (const char *[]){"boxes", "scores", "max_out", "iou"}, 1,
                       (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("nms", 1, &node, 2, inits, 2, ins, 1, &y);
    return ob_model(13, &g);
}

TEST(run_limit_holds_in_empty_loops_long_kernels_and_at_open)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=1", "--workers", "1", "--run-limit", "1", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    tt_rconn *c = at_conn(&s, &a);
    /* an empty body runs no node: the warm-up at open would never end, nor would a run */
    pbw loop = at_loop_model(false, (int64_t)1 << 62, true);
    double t0 = th_now_s();
    uint32_t h = at_open(c, &loop);
    CHECK(th_now_s() - t0 < 5.0);
    float x = 0;
    tether_tensor in = at_f32("x", 2, dims11, &x);
    tt_reply rep;
    t0 = th_now_s();
    CHECK_ERR(at_run(c, h, &in, 1, 20000, &rep), TETHER_ERR_TIMEOUT, "time limit");
    CHECK_STR_CONTAINS(tether_last_error(), "Loop");
    CHECK(th_now_s() - t0 < 4.0);
    /* one NonMaxSuppression of 60000 boxes that all survive: ~1.8e9 overlap tests */
    enum { N = 60000 };
    float *boxes = malloc(sizeof(float) * N * 4), *scores = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        float b[4] = {0, (float)(3 * i), 1, (float)(3 * i + 1)};
        memcpy(boxes + 4 * i, b, sizeof b);
        scores[i] = 1.0f - (float)i / N;
    }
    pbw nms = nms_model(N);
    uint32_t hn = at_open(c, &nms);
    tether_tensor t[2] = {at_f32("boxes", 3, (int64_t[]){1, N, 4}, boxes),
                          at_f32("scores", 3, (int64_t[]){1, 1, N}, scores)};
    t0 = th_now_s();
    CHECK_ERR(at_run(c, hn, t, 2, 60000, &rep), TETHER_ERR_TIMEOUT, "NonMaxSuppression");
    CHECK(th_now_s() - t0 < 4.0);
    /* the one worker is free again */
    pbw dense = th_model_dense(8, 4, 2);
    tether_session *g = th_open(dense.buf, dense.len, "eia:0", 5000);
    float gx[8] = {1};
    tether_outputs *o;
    CHECK_OK(th_run_f32(g, gx, 1, 8, &o));
    tether_outputs_free(o);
    tether_session_free(g);
    tt_rconn_close(c);
    free(boxes);
    free(scores);
    ob_free(&loop);
    ob_free(&nms);
    ob_free(&dense);
    th_server_stop(&s);
}

TEST(a_run_nobody_waits_for_is_stopped_and_charged)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s,
                    (const char *const[]){"--slots", "cpu.large=2", "--workers", "1", "--run-limit", "0", NULL});
    tt_attachment a, b;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &b));
    pbw m = at_loop_model(true, 0, false), dense = th_model_dense(8, 4, 3);
    tt_rconn *c = at_conn(&s, &a);
    uint32_t h = at_open(c, &m);
    send_endless_run(c, h, 5);
    th_sleep_ms(400);
    tt_rconn_close(c); /* the client goes away: no run limit would ever free the worker */
    /* the only worker serves the other attachment at once */
    double t0 = th_now_s();
    tether_session *g = th_open(dense.buf, dense.len, "eia:1", 10000);
    float gx[8] = {1};
    tether_outputs *o;
    CHECK_OK(th_run_f32(g, gx, 1, 8, &o));
    tether_outputs_free(o);
    CHECK(th_now_s() - t0 < 3.0);
    tether_session_free(g);
    /* and the stopped run was charged to its slot */
    tt_rconn *mine = at_conn(&s, &a);
    cJSON *doc = at_describe(mine);
    CHECK_EQ_INT(at_num(doc, "attached", "errors"), 1);
    CHECK_EQ_INT(at_num(doc, "attached", "running"), 0);
    CHECK(at_num(doc, "attached", "compute_ms_total") >= 300);
    cJSON_Delete(doc);
    tt_rconn_close(mine);
    ob_free(&m);
    ob_free(&dense);
    th_server_stop(&s);
}

/* y = Reshape(x @ W, shape): the MatMul runs, then a bad `shape` makes the run fail. */
static pbw failing_model(int k)
{
    float *w = malloc(sizeof(float) * (size_t)k * (size_t)k);
    for (int i = 0; i < k * k; i++)
        w[i] = (float)(i % 7) * 0.01f;
    pbw init = ob_tensor("W", TETHER_DTYPE_FLOAT, 2, (int64_t[]){k, k}, w, sizeof(float) * (size_t)k * (size_t)k);
    free(w);
    pbw ins[2] = {ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, k}),
                  ob_input("shape", TETHER_DTYPE_INT64, 1, (int64_t[]){2})};
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw nodes[2] = {ob_node("MatMul", 2, (const char *[]){"x", "W"}, 1, (const char *[]){"t"}, 0, NULL),
                    ob_node("Reshape", 2, (const char *[]){"t", "shape"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw g = ob_graph("failing", 2, nodes, 1, &init, 2, ins, 1, &y);
    return ob_model(13, &g);
}

TEST(failing_runs_are_charged_to_their_slot)
{
    th_fresh_home();
    th_server s;
    /* 5% of the configured 20 GFLOP/s peak, capped */
    th_server_start(&s, (const char *const[]){"--type", "slow=1GiB,5%", "--slots", "slow=1", "--sched", "capped",
                                              NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("slow", s.endpoint, &a));
    enum { K = 512, ROWS = 128 };
    pbw m = failing_model(K);
    tt_rconn *c = at_conn(&s, &a);
    uint32_t h = at_open(c, &m);
    float *x = calloc((size_t)ROWS * K, sizeof *x);
    int64_t shape[2] = {7, 7}; /* not ROWS * K elements: Reshape fails after the MatMul */
    tether_tensor in[2] = {at_f32("x", 2, (int64_t[]){ROWS, K}, x), at_i64("shape", 1, (int64_t[]){2}, shape)};
    int fails = 0;
    double t0 = th_now_s(), wall;
    while ((wall = th_now_s() - t0) < 1.5) {
        tt_reply rep;
        CHECK_ERR(at_run(c, h, in, 2, 20000, &rep), TETHER_ERR_SHAPE, "Reshape");
        fails++;
    }
    wall = th_now_s() - t0;
    cJSON *doc = at_describe(c);
    double compute_s = at_num(doc, "attached", "compute_ms_total") / 1e3;
    CHECK_EQ_INT(at_num(doc, "attached", "errors"), fails);
    cJSON_Delete(doc);
    fprintf(stderr, "%d failing runs used %.3f s of device time in %.2f s (slot: 5%%)\n", fails, compute_s, wall);
    /* failing runs got no more of the device than the slot's 5%, with slack for one run
     * (each is charged after it ran, and one run is long in a sanitizer build); uncharged,
     * they would have had nearly all of it */
    CHECK(fails >= 2);
    CHECK(compute_s * (fails - 1) / fails <= 0.15 * wall + 0.05);
    tt_rconn_close(c);
    free(x);
    ob_free(&m);
    th_server_stop(&s);
}

/* y = ReduceSum(MatMul(a, a)) with a = ConstantOfShape(shape): a 16-byte request makes one
 * MatMul of shape[0] x shape[1] by itself, a single node that runs for seconds. */
static pbw big_matmul_model(void)
{
    pbw in = ob_input("shape", TETHER_DTYPE_INT64, 1, (int64_t[]){2});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 0, NULL);
    pbw keep = ob_attr_int("keepdims", 0);
    pbw nodes[3] = {ob_node("ConstantOfShape", 1, (const char *[]){"shape"}, 1, (const char *[]){"a"}, 0, NULL),
                    ob_node("MatMul", 2, (const char *[]){"a", "a"}, 1, (const char *[]){"p"}, 0, NULL),
                    ob_node("ReduceSum", 1, (const char *[]){"p"}, 1, (const char *[]){"y"}, 1, &keep)};
    pbw g = ob_graph("big_matmul", 3, nodes, 0, NULL, 1, &in, 1, &y);
    return ob_model(13, &g);
}

TEST(one_long_matmul_stops_at_the_run_limit_and_a_cancelled_one_frees_its_worker)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=2", "--workers", "1", "--run-limit", "1", NULL});
    tt_attachment a, b;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &b));
    pbw m = big_matmul_model(), dense = th_model_dense(8, 4, 5);
    tt_rconn *c = at_conn(&s, &a);
    uint32_t h = at_open(c, &m);
    /* 4096 x 4096 by itself: ~137 GFLOP in one MatMul, many seconds on this server */
    int64_t shape[2] = {4096, 4096};
    tether_tensor in = at_i64("shape", 1, (int64_t[]){2}, shape);
    tt_reply rep;
    double t0 = th_now_s();
    CHECK_ERR(at_run(c, h, &in, 1, 60000, &rep), TETHER_ERR_TIMEOUT, "time limit in node");
    CHECK_STR_CONTAINS(tether_last_error(), "MatMul");
    double took = th_now_s() - t0;
    fprintf(stderr, "one MatMul against a 1 s run limit: stopped after %.2f s\n", took);
    CHECK(took < 2.5);
    /* the same run, sent by a client that then goes away: the one worker is free at once */
    size_t len;
    uint8_t *frame = at_run_frame(h, &in, 1, 9, &len);
    at_send_all(tt_rconn_fd(c), frame, len);
    free(frame);
    th_sleep_ms(300);
    tt_rconn_close(c);
    t0 = th_now_s();
    tether_session *g = th_open(dense.buf, dense.len, "eia:1", 10000);
    float gx[8] = {1};
    tether_outputs *o;
    CHECK_OK(th_run_f32(g, gx, 1, 8, &o));
    tether_outputs_free(o);
    took = th_now_s() - t0;
    fprintf(stderr, "another tenant served %.2f s after the client left\n", took);
    CHECK(took < 0.9); /* before the run limit could have freed the worker */
    tether_session_free(g);
    ob_free(&m);
    ob_free(&dense);
    th_server_stop(&s);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
