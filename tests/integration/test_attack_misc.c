/* More attacks on tetherd: a tampered model cache served silently, a cache that grows
 * without bound, SIGHUP killing the server, control characters from clients written raw
 * into its log, and slot rates set for the server's life by one noisy measurement. */
#include "attack.h"

#include <dirent.h>

static void model_path(const th_server *s, const pbw *m, char *out, size_t n)
{
    uint8_t h[32];
    char hex[65];
    tt_sha256(m->buf, m->len, h);
    tt_hex(h, sizeof h, hex);
    snprintf(out, n, "%s/models/%s.onnx", s->state, hex);
}

static bool file_equals(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    uint8_t *buf = malloc(n + 1);
    size_t got = fread(buf, 1, n + 1, f);
    fclose(f);
    bool eq = got == n && memcmp(buf, p, n) == 0;
    free(buf);
    return eq;
}

/* The same bytes with the last weight changed: a model that still loads, but lies. */
static void tamper(const char *path, const pbw *m)
{
    uint8_t *bad = malloc(m->len);
    memcpy(bad, m->buf, m->len);
    for (size_t i = m->len / 2; i < m->len / 2 + 16; i++)
        bad[i] ^= 0x40;
    th_write_file(path, bad, m->len);
    free(bad);
}

TEST(a_tampered_cache_is_detected_deleted_and_uploaded_again)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=1", "--warm-cache", "0", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &a));
    pbw m = th_model_dense(64, 64, 11);
    float x[64];
    uint32_t seed = 5;
    for (int i = 0; i < 64; i++)
        x[i] = th_randf(&seed);
    tether_session *local = th_open(m.buf, m.len, "cpu", 0);
    tether_outputs *want;
    CHECK_OK(th_run_f32(local, x, 1, 64, &want));
    tether_session *r = th_open(m.buf, m.len, "eia:0", 5000);
    tether_session_free(r); /* closed, and not kept warm: the next open reads the file */
    char path[600];
    model_path(&s, &m, path, sizeof path);
    CHECK(file_equals(path, m.buf, m.len));
    tamper(path, &m);
    /* the open finds the stored bytes no longer hash to the model: deleted, uploaded again,
     * and the answer is the real model's */
    r = th_open(m.buf, m.len, "eia:0", 5000);
    tether_outputs *got;
    CHECK_OK(th_run_f32(r, x, 1, 64, &got));
    th_check_same_outputs(want, got);
    tether_outputs_free(got);
    tether_session_free(r);
    CHECK(at_log_contains(&s, "corrupt"));
    CHECK(file_equals(path, m.buf, m.len));
    /* an upload over a damaged copy replaces it */
    tamper(path, &m);
    tt_rconn *c = at_conn(&s, &a);
    at_open(c, &m); /* MODEL_PUT, then OPEN */
    CHECK(file_equals(path, m.buf, m.len));
    tt_rconn_close(c);
    /* and a restart that opens the warm models again checks them too */
    r = th_open(m.buf, m.len, "eia:0", 5000);
    th_server_stop(&s);
    tamper(path, &m);
    th_server_restart(&s, (const char *const[]){"--slots", "cpu.small=1", NULL});
    CHECK_OK(th_run_f32(r, x, 1, 64, &got));
    th_check_same_outputs(want, got);
    tether_outputs_free(got);
    CHECK(file_equals(path, m.buf, m.len));
    tether_session_free(r);
    tether_outputs_free(want);
    tether_session_free(local);
    ob_free(&m);
    th_server_stop(&s);
}

static int count_models(const th_server *s)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/models", s->state);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, ".onnx") != NULL && !strstr(de->d_name, ".tmp");
    if (d)
        closedir(d);
    return n;
}

static bool stored(const th_server *s, const pbw *m)
{
    char path[600];
    model_path(s, m, path, sizeof path);
    return access(path, F_OK) == 0;
}

TEST(cache_max_evicts_the_least_recently_used_unused_models)
{
    th_fresh_home();
    pbw m[4];
    for (int i = 0; i < 4; i++)
        m[i] = th_model_dense(256, 64, 20 + (uint32_t)i); /* ~66 KB each */
    char max[32];
    snprintf(max, sizeof max, "%zu", m[0].len * 7 / 2); /* room for three and a half */
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=1", "--cache-max", max, NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &a));
    tether_session *r0 = th_open(m[0].buf, m[0].len, "eia:0", 5000); /* the oldest, but open throughout */
    tether_session *r;
    for (int i = 1; i <= 2; i++) {
        th_sleep_ms(20);
        r = th_open(m[i].buf, m[i].len, "eia:0", 5000);
        tether_session_free(r);
    }
    th_sleep_ms(20);
    r = th_open(m[1].buf, m[1].len, "eia:0", 5000); /* m[1] used again: m[2] is now the least recent */
    tether_session_free(r);
    th_sleep_ms(20);
    CHECK_EQ_INT(count_models(&s), 3);
    r = th_open(m[3].buf, m[3].len, "eia:0", 5000); /* one must go: m[2], not the first stored */
    CHECK(stored(&s, &m[0]) && stored(&s, &m[1]) && !stored(&s, &m[2]) && stored(&s, &m[3]));
    CHECK_EQ_INT(count_models(&s), 3);
    CHECK(at_log_contains(&s, "least recently used"));
    /* a model larger than the whole cache is refused */
    pbw huge = th_model_dense(256, 512, 30);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "eia:0";
    cfg.quiet = 1;
    tether_session *h;
    CHECK_ERR(tether_session_open_bytes(&h, huge.buf, huge.len, &cfg), TETHER_ERR_QUOTA, "--cache-max");
    CHECK_EQ_INT(count_models(&s), 3);
    tether_session_free(r);
    tether_session_free(r0);
    for (int i = 0; i < 4; i++)
        ob_free(&m[i]);
    ob_free(&huge);
    th_server_stop(&s);
}

TEST(sighup_reloads_the_settings_and_never_kills)
{
    th_fresh_home();
    char dir[300], conf[400], keys[400];
    th_mkdtemp("hup", dir, sizeof dir);
    snprintf(conf, sizeof conf, "%s/tetherd.conf", dir);
    snprintf(keys, sizeof keys, "%s/keys", dir);
    const char *plain = "slots = cpu.small=2\n";
    th_write_file(conf, plain, strlen(plain));
    th_server s;
    th_server_start(&s, (const char *const[]){"--config", conf, NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &a));
    /* a keys file appears in the config: after SIGHUP, attaching needs a key */
    uint8_t d[32];
    char hex[65], line[200], text[600];
    tt_sha256("tk-hup", 6, d);
    tt_hex(d, sizeof d, hex);
    snprintf(line, sizeof line, "ops %s 1 3600\n", hex);
    th_write_file(keys, line, strlen(line));
    int n = snprintf(text, sizeof text, "%sreserve-keys = %s\nworkers = 3\n", plain, keys);
    th_write_file(conf, text, (size_t)n);
    for (int i = 0; i < 3; i++) {
        kill(s.pid, SIGHUP);
        th_sleep_ms(300);
        CHECK(th_server_alive(&s));
    }
    CHECK(at_log_contains(&s, "SIGHUP: settings reloaded (1 reservation key)"));
    CHECK(at_log_contains(&s, "workers")); /* named as needing a restart */
    tt_attachment b;
    unsetenv("TETHER_RESERVE_KEY");
    CHECK_ERR(tt_attach("cpu.small", s.endpoint, &b), TETHER_ERR_AUTH, "key");
    CHECK_OK(tt_attach_key("cpu.small", s.endpoint, 0, "tk-hup", &b));
    /* a broken config file is reported and the running settings kept */
    th_write_file(conf, "slots = \n bogus\n", 16);
    kill(s.pid, SIGHUP);
    th_sleep_ms(300);
    CHECK(th_server_alive(&s));
    CHECK(at_log_contains(&s, "SIGHUP: the settings were not reloaded"));
    /* the attachment made before still works */
    pbw m = th_model_dense(8, 4, 12);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 5000);
    float x[8] = {1};
    tether_outputs *o;
    CHECK_OK(th_run_f32(r, x, 1, 8, &o));
    tether_outputs_free(o);
    tether_session_free(r);
    ob_free(&m);
    th_server_stop(&s);
}

TEST(control_characters_from_clients_are_escaped_in_the_log)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=1", NULL});
    tt_rconn *c = at_conn(&s, NULL);
    tt_msg_reserve req = {.type = "cpu.small"};
    snprintf(req.holder, sizeof req.holder, "evil\x1b[2J\r\nFAKE tetherd: root logged in\x07");
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_reserve_encode(&w, &req);
    tt_reply rep;
    CHECK_OK(tt_rconn_call(c, TT_CMD_RESERVE, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep));
    tt_reply_free(&rep);
    tt_wr_free(&w);
    tt_rconn_close(c);
    th_sleep_ms(100);
    char *log = at_log(&s);
    CHECK(strstr(log, "evil\\x1b[2J\\x0d\\x0aFAKE tetherd: root logged in\\x07") != NULL);
    for (const char *p = log; *p; p++)
        CHECK(*p == '\n' || (unsigned char)*p >= 0x20);
    CHECK(strstr(log, "\nFAKE") == NULL);
    free(log);
    th_server_stop(&s);
}

static double described_peak(const tp_server *t)
{
    th_server s = *t;
    tt_rconn *c = at_conn(&s, NULL);
    cJSON *doc = at_describe(c);
    double g = at_num(doc, "server", "device_peak_gflops");
    cJSON_Delete(doc);
    tt_rconn_close(c);
    return g;
}

static void start_plain(tp_server *s, const char *const *args, bool restart)
{
    char err[512];
    if (tp_start(s, TETHERD_PATH, th_root, args, restart, "info", err, sizeof err) != 0) {
        tp_dump_log(s, stderr);
        CHECK_FAIL("%s", err);
    }
}

TEST(the_device_peak_is_measured_robustly_kept_and_checked_against_the_slots)
{
    th_fresh_home();
    /* no --peak-gflops: measured in rounds, kept in the state directory */
    tp_server s;
    start_plain(&s, (const char *const[]){"--slots", "cpu.small=1", NULL}, false);
    char path[400];
    snprintf(path, sizeof path, "%s/device.json", s.state);
    CHECK(access(path, F_OK) == 0);
    CHECK(at_log_contains(&s, "device peak: rounds at"));
    double first = described_peak(&s);
    CHECK(first > 0);
    CHECK_EQ_INT(tp_signal_wait(&s, SIGTERM), 0);
    /* the next start takes the kept one, without measuring */
    unlink(s.log);
    start_plain(&s, (const char *const[]){"--slots", "cpu.small=1", NULL}, true);
    CHECK(at_log_contains(&s, "kept in the state directory"));
    CHECK(!at_log_contains(&s, "device peak: rounds at"));
    CHECK_NEAR(described_peak(&s), first, first * 1e-6);
    CHECK_EQ_INT(tp_signal_wait(&s, SIGTERM), 0);
    /* --peak-gflops overrides it */
    start_plain(&s, (const char *const[]){"--slots", "cpu.small=1", "--peak-gflops", "7", NULL}, true);
    CHECK_NEAR(described_peak(&s), 7, 1e-9);
    CHECK_EQ_INT(tp_signal_wait(&s, SIGTERM), 0);
    /* a slot type faster than the device is refused at start, with the numbers */
    tp_server t;
    char err[512];
    CHECK(tp_start(&t, TETHERD_PATH, th_root,
                   (const char *const[]){"--slots", "eia2.medium=1", "--peak-gflops", "20", NULL}, false, "info", err,
                   sizeof err) != 0);
    CHECK(at_log_contains(&t, "1000.0 GFLOP/s"));
    CHECK(at_log_contains(&t, "20.0 GFLOP/s"));
    CHECK(at_log_contains(&t, "--overcommit"));
    /* unless --overcommit: then describe says what it really delivers */
    start_plain(&t, (const char *const[]){"--slots", "eia2.medium=1", "--peak-gflops", "20", "--overcommit", NULL},
                false);
    th_server ts = t;
    tt_rconn *c = at_conn(&ts, NULL);
    cJSON *doc = at_describe(c);
    const cJSON *slot = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "slots"), 0);
    CHECK_NEAR(at_num(slot, NULL, "compute_tflops"), 1.0, 1e-9);
    CHECK_NEAR(at_num(slot, NULL, "delivered_tflops"), 0.02, 1e-9);
    cJSON_Delete(doc);
    tt_rconn_close(c);
    CHECK_EQ_INT(tp_signal_wait(&t, SIGTERM), 0);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
