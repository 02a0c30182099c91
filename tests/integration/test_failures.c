/* What goes wrong, and what the client hears: over-quota models, wrong or missing tokens,
 * expired leases, a server killed or hung mid-request, and a server restarted under an open
 * session. */
#include "harness.h"

#include "client/conn.h"

#include <pthread.h>

/* A model whose weights are `kib` KiB: y = x @ W, W float[256, kib]. */
static pbw weights_model(int kib, uint32_t seed)
{
    return th_model_dense(256, kib, seed);
}

TEST(over_quota_is_refused_naming_both_numbers)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--type", "tiny=1MiB,25%", "--slots", "tiny=1", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("tiny", s.endpoint, &a));
    CHECK_EQ_INT(a.memory_bytes, 1 << 20);
    /* 2 MiB of weights (+ bias) in a 1 MiB slot */
    pbw big = weights_model(2048, 1);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:0";
    cfg.quiet = 1;
    tether_session *r;
    CHECK_ERR(tether_session_open_bytes(&r, big.buf, big.len, &cfg), TETHER_ERR_QUOTA, "1048576");
    char size[32];
    snprintf(size, sizeof size, "%zu bytes", big.len); /* refused as stored, before it is loaded */
    CHECK_STR_CONTAINS(tether_last_error(), size);
    CHECK_STR_CONTAINS(tether_last_error(), a.id);
    /* two models that fit alone but not together: the second is refused, the first unharmed */
    pbw m1 = weights_model(600, 2), m2 = weights_model(600, 3);
    tether_session *r1 = th_open(m1.buf, m1.len, "eia:0", 5000);
    CHECK_ERR(tether_session_open_bytes(&r, m2.buf, m2.len, &cfg), TETHER_ERR_QUOTA, "memory quota");
    float x[256] = {1};
    tether_outputs *o;
    CHECK_OK(th_run_f32(r1, x, 1, 256, &o));
    tether_outputs_free(o);
    /* the same model twice is charged once */
    tether_session *r1b = th_open(m1.buf, m1.len, "eia:0", 5000);
    tether_session_free(r1b);
    /* closing the first frees its memory: the second fits now */
    tether_session_free(r1);
    th_sleep_ms(100); /* CLOSE is answered before the client returns, but allow the slot a moment */
    tether_session *r2 = th_open(m2.buf, m2.len, "eia:0", 5000);
    CHECK_OK(th_run_f32(r2, x, 1, 256, &o));
    tether_outputs_free(o);
    tether_session_free(r2);
    th_server_stop(&s);
    ob_free(&big);
    ob_free(&m1);
    ob_free(&m2);
}

static void rewrite_token(const char *new_token)
{
    char path[600];
    snprintf(path, sizeof path, "%s/attachments.json", getenv("TETHER_HOME"));
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *t = strstr(buf, "\"token\":");
    CHECK(t != NULL);
    char *q = strchr(t + 8, '"');
    CHECK(q && strlen(q) > 65);
    memcpy(q + 1, new_token, 64);
    th_write_file(path, buf, n);
}

TEST(wrong_or_missing_token_is_refused)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=1", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &a));
    pbw m = th_model_dense(4, 4, 1);
    /* a wrong token */
    char bad[65];
    memcpy(bad, a.token, 65);
    bad[10] = bad[10] == 'a' ? 'b' : 'a';
    rewrite_token(bad);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:0";
    cfg.quiet = 1;
    tether_session *r;
    CHECK_ERR(tether_session_open_bytes(&r, m.buf, m.len, &cfg), TETHER_ERR_AUTH, "bad token");
    CHECK_STR_CONTAINS(tether_last_error(), a.id);
    /* no token at all: a connection that never sent AUTH may do nothing with models */
    tt_endpoint ep;
    CHECK_OK(tt_endpoint_parse(s.endpoint, &ep));
    tt_rconn *c;
    CHECK_OK(tt_rconn_open(&ep, NULL, NULL, tt_deadline_ms(5000), &c));
    tt_reply rep;
    uint8_t cmds[] = {TT_CMD_OPEN, TT_CMD_RUN, TT_CMD_MODEL_PUT, TT_CMD_CLOSE, TT_CMD_RELEASE};
    for (size_t i = 0; i < sizeof cmds; i++) {
        tt_wr w = {0};
        tt_wr_frame_begin(&w);
        tt_wr_zeros(&w, 32);
        CHECK_ERR(tt_rconn_call(c, cmds[i], &w, NULL, 0, 0, tt_deadline_ms(5000), &rep), TETHER_ERR_AUTH,
                  "not attached");
        tt_wr_free(&w);
    }
    tt_rconn_close(c);
    /* the right token still works, and the server's log never shows a token */
    rewrite_token(a.token);
    r = th_open(m.buf, m.len, "eia:0", 5000);
    tether_session_free(r);
    th_server_stop(&s);
    FILE *f = fopen(s.log, "r");
    char line[2048];
    while (fgets(line, sizeof line, f))
        if (strstr(line, a.token) || strstr(line, bad))
            CHECK_FAIL("the server logged a token: %s", line);
    fclose(f);
    ob_free(&m);
}

TEST(expired_lease_frees_the_slot)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=1", "--lease-max", "1", NULL});
    tt_attachment a, b;
    CHECK_OK(tt_attach_ex("cpu.small", s.endpoint, 60, &a)); /* capped to the server's 1 s */
    CHECK_ERR(tt_attach("cpu.small", s.endpoint, &b), TETHER_ERR_BUSY, "attached");
    th_sleep_ms(2300);
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &b));
    tt_accel_health h;
    tt_accel_probe(&a, 3000, &h);
    CHECK(strcmp(h.status, "unhealthy") == 0);
    CHECK_STR_CONTAINS(h.reason, "lease expired");
    th_server_stop(&s);
}

typedef struct slow_run {
    tether_session *s;
    int rows, n;
    tether_status st;
    char msg[1024];
    double seconds;
} slow_run;

static void *slow_main(void *arg)
{
    slow_run *r = arg;
    int rows = r->rows ? r->rows : 1;
    float *x = calloc((size_t)r->n * (size_t)rows, sizeof *x);
    tether_outputs *o = NULL;
    double t0 = th_now_s();
    r->st = th_run_f32(r->s, x, rows, r->n, &o);
    r->seconds = th_now_s() - t0;
    snprintf(r->msg, sizeof r->msg, "%s", tether_last_error());
    tether_outputs_free(o);
    free(x);
    return NULL;
}

/* 256 rows through 24 layers of 1024x1024: 13 GFLOP, a second or so on a small machine */
#define SLOW_ROWS 256
#define SLOW_N 1024
#define SLOW_LAYERS 24

TEST(server_killed_mid_request_fails_fast)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=1", "--sched", "lend", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    pbw m = th_model_slow(SLOW_N, SLOW_LAYERS);
    slow_run r = {.s = th_open(m.buf, m.len, "eia:0", 8000), .rows = SLOW_ROWS, .n = SLOW_N};
    pthread_t th;
    pthread_create(&th, NULL, slow_main, &r);
    th_sleep_ms(100);
    th_server_signal_wait(&s, SIGKILL);
    pthread_join(th, NULL);
    CHECK_EQ_INT(r.st, TETHER_ERR_NETWORK);
    CHECK(r.seconds > 0.1 && r.seconds < 8.0);
    CHECK(strstr(r.msg, "gave up after") != NULL);
    CHECK(strstr(r.msg, a.id) != NULL);
    tether_session_free(r.s);
    ob_free(&m);
}

TEST(hung_server_times_out)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=1", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    pbw m = th_model_dense(8, 8, 1);
    slow_run r = {.s = th_open(m.buf, m.len, "eia:0", 700), .n = 8};
    kill(s.pid, SIGSTOP);
    slow_main(&r);
    kill(s.pid, SIGCONT);
    CHECK_EQ_INT(r.st, TETHER_ERR_TIMEOUT);
    CHECK(r.seconds >= 0.6 && r.seconds < 3.0);
    CHECK(strstr(r.msg, "within the timeout") != NULL);
    tether_session_free(r.s);
    th_server_stop(&s);
    ob_free(&m);
}

TEST(session_survives_restart_and_lost_cache)
{
    th_fresh_home();
    th_server s;
    const char *const args[] = {"--slots", "cpu.medium=1", NULL};
    th_server_start(&s, args);
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.medium", s.endpoint, &a));
    pbw m = th_model_dense(32, 8, 5);
    char path[400];
    snprintf(path, sizeof path, "%s/restart.onnx", s.dir);
    th_write_file(path, m.buf, m.len);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:0";
    cfg.quiet = 1;
    cfg.timeout_ms = 20000;
    tether_session *r, *local = th_open(m.buf, m.len, "cpu", 0);
    CHECK_OK(tether_session_open(&r, path, &cfg));
    float x[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)i / 7;
    tether_outputs *o, *lo;
    CHECK_OK(th_run_f32(local, x, 1, 32, &lo));
    CHECK_OK(th_run_f32(r, x, 1, 32, &o));
    th_check_same_outputs(o, lo);
    tether_outputs_free(o);

    /* restart: the reservation (token) and the model both come back from the state dir,
     * and the model is opened again before anyone asks */
    th_server_stop(&s);
    th_server_restart(&s, args);
    bool reopened = false;
    for (double until = th_now_s() + 20; !reopened && th_now_s() < until; th_sleep_ms(50)) {
        FILE *f = fopen(s.log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f))
            reopened |= strstr(line, "1 model open again") != NULL;
        if (f)
            fclose(f);
    }
    CHECK(reopened);
    CHECK_OK(th_run_f32(r, x, 1, 32, &o));
    th_check_same_outputs(o, lo);
    tether_outputs_free(o);
    tt_accel_health h;
    tt_accel_probe(&a, 3000, &h);
    CHECK(strcmp(h.status, "healthy") == 0);

    /* killed, and its model cache lost: the session uploads the model again */
    th_server_signal_wait(&s, SIGKILL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/models'", s.state);
    CHECK(system(cmd) == 0);
    th_server_restart(&s, args);
    CHECK_OK(th_run_f32(r, x, 1, 32, &o));
    th_check_same_outputs(o, lo);
    tether_outputs_free(o);
    tether_outputs_free(lo);
    tether_session_free(r);
    tether_session_free(local);
    th_server_stop(&s);
    ob_free(&m);
}

/* y = Loop(M = 2^62, cond = true) { v + 1 }: a model that never ends. */
static pbw endless_model(void)
{
    int64_t m = (int64_t)1 << 62;
    uint8_t t = 1;
    float one = 1;
    pbw body_in[3] = {ob_input("i", TETHER_DTYPE_INT64, 0, NULL), ob_input("c", TETHER_DTYPE_BOOL, 0, NULL),
                      ob_input("v", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1})};
    pbw body_out[2] = {ob_output("c_out", TETHER_DTYPE_BOOL, 0, NULL),
                       ob_output("v_out", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1})};
    pbw one_t = ob_tensor("one", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1}, &one, sizeof one);
    pbw body_nodes[2] = {ob_node("Identity", 1, (const char *[]){"c"}, 1, (const char *[]){"c_out"}, 0, NULL),
                         ob_node("Add", 2, (const char *[]){"v", "one"}, 1, (const char *[]){"v_out"}, 0, NULL)};
    pbw body = ob_graph("body", 2, body_nodes, 1, &one_t, 3, body_in, 2, body_out);
    pbw attr = ob_attr_graph("body", &body);
    pbw inits[2] = {ob_tensor("M", TETHER_DTYPE_INT64, 0, NULL, &m, sizeof m),
                    ob_tensor("cond", TETHER_DTYPE_BOOL, 0, NULL, &t, sizeof t)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1});
    pbw loop = ob_node("Loop", 3, (const char *[]){"M", "cond", "x"}, 1, (const char *[]){"y"}, 1, &attr);
    pbw g = ob_graph("endless", 1, &loop, 2, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

TEST(a_model_that_never_ends_is_stopped_and_others_go_on)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=2", "--workers", "1", "--run-limit", "1", NULL});
    tt_attachment a, b;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &b));
    pbw m = endless_model(), good = th_model_dense(4, 4, 1);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 20000);
    float x[4] = {0};
    tether_outputs *o;
    double t0 = th_now_s();
    CHECK_ERR(th_run_f32(r, x, 1, 1, &o), TETHER_ERR_TIMEOUT, a.id);
    CHECK(th_now_s() - t0 < 10);
    /* the one worker is free again for the other attachment */
    tether_session *g = th_open(good.buf, good.len, "eia:1", 20000);
    CHECK_OK(th_run_f32(g, x, 1, 4, &o));
    tether_outputs_free(o);
    tether_session_free(g);
    tether_session_free(r);
    th_server_stop(&s);
    ob_free(&m);
    ob_free(&good);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
