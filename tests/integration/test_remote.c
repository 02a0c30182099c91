/* Attach, run remotely, detach, describe — against real tetherd processes on loopback.
 * Remote outputs must be bit-identical to the same model run locally. */
#include "harness.h"

#include "client/conn.h"
#include "core/hash.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

static const char *const cpu_slots[] = {"--slots", "cpu.medium=2,cpu.large=1", NULL};

static void fill(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = th_randf(&seed);
}

TEST(attach_run_same_as_local_then_detach)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, cpu_slots);
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.medium", s.endpoint, &a));
    CHECK_EQ_INT(a.ordinal, 0);
    CHECK(strncmp(a.id, "eia-", 4) == 0);
    CHECK(strcmp(a.type, "cpu.medium") == 0);
    CHECK(strcmp(a.endpoint, s.endpoint) == 0);
    CHECK_EQ_INT(strlen(a.token), 64);
    CHECK_EQ_INT(a.memory_bytes, 1ull << 30);
    CHECK_NEAR(a.tflops, 0.25 * 20e9 / 1e12, 1e-9); /* a quarter of the configured 20 GFLOP/s */

    pbw m = th_model_dense(48, 24, 7);
    tether_session *local = th_open(m.buf, m.len, "cpu", 0);
    tether_session *remote = th_open(m.buf, m.len, "eia:0", 10000);
    tether_session_stats st;
    CHECK_OK(tether_session_stats_get(remote, &st));
    CHECK_STR_CONTAINS(st.where, "eia:0");
    CHECK_STR_CONTAINS(st.where, a.id);
    CHECK_STR_CONTAINS(st.where, "cpu.medium");
    CHECK_STR_CONTAINS(st.where, s.endpoint);
    tether_session_stats ls;
    CHECK_OK(tether_session_stats_get(local, &ls));
    CHECK_EQ_INT(st.weight_bytes, ls.weight_bytes);
    CHECK_EQ_INT(st.nodes, ls.nodes);
    CHECK_EQ_INT(st.flops, ls.flops);
    CHECK_EQ_INT(tether_session_input_count(remote), 1);
    tether_value_info info;
    CHECK_OK(tether_session_input_info(remote, 0, &info));
    CHECK(strcmp(info.name, "x") == 0);
    CHECK_EQ_INT(info.rank, 2);
    CHECK_EQ_INT(info.dims[0], -1);
    CHECK(info.dim_names[0] && strcmp(info.dim_names[0], "N") == 0);
    CHECK_EQ_INT(info.dims[1], 48);

    for (int rows = 1; rows <= 9; rows += 4) {
        float x[9 * 48];
        fill(x, (size_t)rows * 48, (uint32_t)rows);
        tether_outputs *lo, *ro;
        CHECK_OK(th_run_f32(local, x, rows, 48, &lo));
        CHECK_OK(th_run_f32(remote, x, rows, 48, &ro));
        th_check_same_outputs(lo, ro);
        CHECK(tether_outputs_flops(ro) > 0);
        CHECK_EQ_INT(tether_outputs_flops(ro), tether_outputs_flops(lo));
        tether_outputs_free(lo);
        tether_outputs_free(ro);
    }

    /* describe: healthy, the model counted in the slot's memory while the session is open */
    tt_accel_health h;
    tt_accel_probe(&a, 3000, &h);
    CHECK(strcmp(h.status, "healthy") == 0);
    CHECK(h.memory_used >= ls.weight_bytes);
    CHECK_EQ_INT(h.memory_quota, 1ull << 30);
    CHECK_EQ_INT(h.inferences, 3);
    CHECK_EQ_INT(h.models_loaded, 1);
    tether_session_free(remote);
    tether_session_free(local);

    CHECK_OK(tt_detach(0));
    tt_attachment *list;
    int n;
    CHECK_OK(tt_attachments_list(&list, &n));
    CHECK_EQ_INT(n, 0);
    free(list);
    /* the slot is free again, and the old token is refused */
    tt_accel_probe(&a, 3000, &h);
    CHECK(strcmp(h.status, "unhealthy") == 0);
    CHECK_STR_CONTAINS(h.reason, a.id);
    tt_attachment b;
    CHECK_OK(tt_attach("cpu.medium", s.endpoint, &b));
    CHECK_OK(tt_attach("cpu.medium", s.endpoint, &b));
    CHECK_ERR(tt_attach("cpu.medium", s.endpoint, &b), TETHER_ERR_BUSY, "all 2 cpu.medium slots");
    CHECK_ERR(tt_attach("eia9.huge", s.endpoint, &b), TETHER_ERR_NOT_FOUND, "eia9.huge");
    th_server_stop(&s);
    ob_free(&m);
}

TEST(five_attachments_and_visible_devices)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=6", NULL});
    tt_attachment a[5];
    for (int i = 0; i < 5; i++) {
        CHECK_OK(tt_attach("cpu.small", s.endpoint, &a[i]));
        CHECK_EQ_INT(a[i].ordinal, i);
    }
    pbw m = th_model_dense(8, 4, 1);
    /* every attachment runs, and each session says which one */
    for (int i = 0; i < 5; i++) {
        char target[16];
        snprintf(target, sizeof target, "eia:%d", i);
        tether_session *r = th_open(m.buf, m.len, target, 5000);
        tether_session_stats st;
        tether_session_stats_get(r, &st);
        CHECK_STR_CONTAINS(st.where, a[i].id);
        float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        tether_outputs *o;
        CHECK_OK(th_run_f32(r, x, 1, 8, &o));
        tether_outputs_free(o);
        tether_session_free(r);
    }
    /* TETHER_VISIBLE_DEVICES: limits and renumbers, by ordinal or id */
    char vis[200];
    snprintf(vis, sizeof vis, "3,%s", a[1].id);
    setenv("TETHER_VISIBLE_DEVICES", vis, 1);
    tt_attachment *list;
    int n;
    CHECK_OK(tt_attachments_list(&list, &n));
    CHECK_EQ_INT(n, 2);
    CHECK(strcmp(list[0].id, a[3].id) == 0 && list[0].ordinal == 0);
    CHECK(strcmp(list[1].id, a[1].id) == 0 && list[1].ordinal == 1);
    free(list);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 5000);
    tether_session_stats st;
    tether_session_stats_get(r, &st);
    CHECK_STR_CONTAINS(st.where, a[3].id);
    tether_session_free(r);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:2";
    cfg.quiet = 1;
    CHECK_ERR(tether_session_open_bytes(&r, m.buf, m.len, &cfg), TETHER_ERR_NOT_FOUND, "2 are visible");
    setenv("TETHER_VISIBLE_DEVICES", "eia-nonexistent", 1);
    CHECK_ERR(tt_attachments_list(&list, &n), TETHER_ERR_NOT_FOUND, "eia-nonexistent");
    setenv("TETHER_VISIBLE_DEVICES", "", 1);
    CHECK_OK(tt_attachments_list(&list, &n));
    CHECK_EQ_INT(n, 0);
    free(list);
    unsetenv("TETHER_VISIBLE_DEVICES");
    /* a target may also name the server directly */
    r = th_open(m.buf, m.len, s.endpoint, 5000);
    tether_session_stats_get(r, &st);
    CHECK_STR_CONTAINS(st.where, a[0].id);
    tether_session_free(r);
    th_server_stop(&s);
    ob_free(&m);
}

TEST(unix_socket_and_model_cache_across_hosts)
{
    th_fresh_home();
    th_server s;
    char sock[400], spec[420];
    snprintf(sock, sizeof sock, "%s/t.sock", th_root);
    th_server_start(&s, (const char *const[]){"--slots", "cpu.medium=2", "--unix", sock, NULL});
    snprintf(spec, sizeof spec, "unix:%s", sock);
    tt_attachment a, b;
    CHECK_OK(tt_attach("cpu.medium", spec, &a));
    CHECK(strcmp(a.endpoint, spec) == 0);
    pbw m = th_model_dense(16, 16, 3);
    char path[400];
    snprintf(path, sizeof path, "%s/dense.onnx", th_root);
    th_write_file(path, m.buf, m.len);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:0";
    cfg.quiet = 1;
    tether_session *r;
    CHECK_OK(tether_session_open(&r, path, &cfg));
    float x[16] = {0};
    tether_outputs *o;
    CHECK_OK(th_run_f32(r, x, 1, 16, &o));
    tether_outputs_free(o);
    tether_session_free(r);
    /* a second attachment (another "host", over TCP) finds the model by hash: no upload */
    CHECK_OK(tt_attach("cpu.medium", s.endpoint, &b));
    char home2[300];
    th_mkdtemp("home", home2, sizeof home2);
    FILE *log = fopen(s.log, "r");
    CHECK(log != NULL);
    fseek(log, 0, SEEK_END);
    long before = ftell(log);
    fclose(log);
    cfg.target = "eia:1";
    CHECK_OK(tether_session_open(&r, path, &cfg));
    CHECK_OK(th_run_f32(r, x, 1, 16, &o));
    tether_outputs_free(o);
    tether_session_free(r);
    th_server_stop(&s);
    /* the server logs each model it stores: exactly once */
    log = fopen(s.log, "r");
    char line[1024];
    int stored = 0, stored_after = 0;
    while (fgets(line, sizeof line, log)) {
        if (strstr(line, "stored (")) {
            stored++;
            stored_after += ftell(log) > before;
        }
    }
    fclose(log);
    CHECK_EQ_INT(stored, 1);
    CHECK_EQ_INT(stored_after, 0);
    ob_free(&m);
}

/* The config file takes the flags' keys; flags given too override it. */
TEST(config_file)
{
    th_fresh_home();
    char path[400];
    snprintf(path, sizeof path, "%s/tetherd.conf", th_root);
    const char *conf = "# a small server\n"
                       "type = tiny = 2MiB, 10%   # user-defined type\n"
                       "slots = tiny=2\n"
                       "sched = lend\n"
                       "lease = 120\n";
    th_write_file(path, conf, strlen(conf));
    th_server s;
    th_server_start(&s, (const char *const[]){"--config", path, NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("tiny", s.endpoint, &a));
    CHECK_EQ_INT(a.memory_bytes, 2 << 20);
    CHECK_NEAR(a.tflops, 0.1 * 20e9 / 1e12, 1e-9);
    tt_accel_health h;
    tt_accel_probe(&a, 3000, &h);
    CHECK(h.lease_expires_in_s > 100 && h.lease_expires_in_s <= 120);
    th_server_stop(&s);
    /* a bad line: tetherd refuses to start, naming the file, the line and the key */
    const char *bad = "slots = tiny=1\nspeed = fast\n";
    th_write_file(path, bad, strlen(bad));
    char cmd[800];
    snprintf(cmd, sizeof cmd, "'%s' --config '%s' --listen 127.0.0.1:0 2>&1", TETHERD_PATH, path);
    FILE *p = popen(cmd, "r");
    char out[1024] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    CHECK(WEXITSTATUS(pclose(p)) == 2);
    CHECK_STR_CONTAINS(out, "tetherd.conf:2: unknown setting 'speed'");
}

/* An error from the accelerator names its code, cause, request id and accelerator id. */
TEST(server_errors_name_cause_request_and_accelerator)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, cpu_slots);
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.medium", s.endpoint, &a));
    uint8_t token[TT_WIRE_TOKEN_LEN];
    CHECK_OK(tt_attachment_token(&a, token));
    tt_endpoint ep;
    CHECK_OK(tt_endpoint_parse(s.endpoint, &ep));
    tt_rconn *c;
    CHECK_OK(tt_rconn_open(&ep, a.id, token, tt_deadline_ms(5000), &c));
    /* OPEN of a hash never uploaded */
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    uint8_t hash[32];
    memset(hash, 0xab, sizeof hash);
    tt_wr_bytes(&w, hash, sizeof hash);
    tt_reply rep;
    CHECK_ERR(tt_rconn_call(c, TT_CMD_OPEN, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep), TETHER_ERR_NOT_FOUND,
              "unknown model hash abababab");
    CHECK_STR_CONTAINS(tether_last_error(), a.id);
    CHECK_STR_CONTAINS(tether_last_error(), "request ");
    tt_wr_free(&w);
    /* a run whose input has the wrong dtype reaches the server (raw protocol) and is refused there */
    pbw m = th_model_dense(4, 4, 2);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 5000);
    tt_rconn_close(c);
    CHECK_OK(tt_rconn_open(&ep, a.id, token, tt_deadline_ms(5000), &c));
    uint8_t mh[32];
    tt_sha256(m.buf, m.len, mh);
    w = (tt_wr){0};
    tt_wr_frame_begin(&w);
    tt_wr_bytes(&w, mh, sizeof mh);
    CHECK_OK(tt_rconn_call(c, TT_CMD_OPEN, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep));
    tt_msg_open_reply om;
    tt_arena ar;
    tt_arena_init(&ar);
    CHECK_OK(tt_msg_open_reply_decode(tt_reply_data(&rep), rep.len, &ar, &om));
    tt_reply_free(&rep);
    tt_wr_free(&w);
    int32_t xi[4] = {1, 2, 3, 4};
    tether_tensor t = {
        .name = "x", .dtype = TETHER_DTYPE_INT32, .rank = 2, .dims = {1, 4}, .data = xi, .size = sizeof xi};
    uint64_t off[1], plen;
    struct iovec iov[3];
    w = (tt_wr){0};
    tt_wr_frame_begin(&w);
    tt_wr_u32(&w, om.handle);
    CHECK_OK(tt_wire_tensors_encode(&w, TT_WIRE_HEADER, &t, 1, off, &plen));
    int k = tt_wire_iov_fill(iov, &w, TT_WIRE_HEADER, &t, 1, off);
    CHECK_ERR(
        tt_rconn_call(c, TT_CMD_RUN, &w, iov + 1, k - 1, plen - (w.n - TT_WIRE_HEADER), tt_deadline_ms(5000), &rep),
        TETHER_ERR_SHAPE, "input 'x' must be float32, got int32");
    CHECK_STR_CONTAINS(tether_last_error(), a.id);
    CHECK_STR_CONTAINS(tether_last_error(), "request ");
    tt_wr_free(&w);
    tt_arena_free(&ar);
    /* the connection is still good after an error */
    w = (tt_wr){0};
    tt_wr_frame_begin(&w);
    CHECK_OK(tt_rconn_call(c, TT_CMD_PING, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep));
    tt_reply_free(&rep);
    tt_wr_free(&w);
    tt_rconn_close(c);
    /* caught before sending, with the same words as a local session */
    float xf[5] = {0};
    tether_outputs *o;
    CHECK_ERR(th_run_f32(r, xf, 1, 5, &o), TETHER_ERR_SHAPE, "input 'x' dimension 1 must be 4");
    tether_session_free(r);
    th_server_stop(&s);
    ob_free(&m);
}

#ifdef TETHER_HAVE_MHD
/* A port for the metrics listener, below the kernel's ephemeral range (32768 and up) so
 * that connections other tests make at the same time cannot be given it meanwhile. */
static int free_port(void)
{
    for (int i = 0; i < 1000; i++) {
        int port = 20000 + (int)((getpid() * 7919 + i * 104729) % 10000);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return port;
    }
    CHECK_FAIL("no free port in 20000..29999");
}

TEST(prometheus_metrics_count_inferences)
{
    th_fresh_home();
    char metrics[32];
    int port = free_port();
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", port);
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.medium=1", "--metrics", metrics, NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.medium", s.endpoint, &a));
    pbw m = th_model_dense(4, 4, 1);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 5000);
    float x[4] = {1, 2, 3, 4};
    for (int i = 0; i < 3; i++) {
        tether_outputs *o;
        CHECK_OK(th_run_f32(r, x, 1, 4, &o));
        tether_outputs_free(o);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
    CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    static char body[1 << 16];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof body - 1 && (k = read(fd, body + n, sizeof body - 1 - n)) > 0)
        n += (size_t)k;
    body[n] = 0;
    close(fd);
    CHECK_STR_CONTAINS(body, "200 OK");
    CHECK_STR_CONTAINS(body, "tetherd_slot_inferences_total{slot=\"0\",type=\"cpu.medium\"} 3\n");
    CHECK_STR_CONTAINS(body, "tetherd_slot_attached{slot=\"0\",type=\"cpu.medium\"} 1\n");
    CHECK_STR_CONTAINS(body, "tetherd_slot_memory_quota_bytes{slot=\"0\",type=\"cpu.medium\"} 1073741824\n");
    tether_session_free(r);
    th_server_stop(&s);
    ob_free(&m);
}
#endif

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
