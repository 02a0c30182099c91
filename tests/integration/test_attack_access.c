/* Attacks on who may use tetherd: anyone who reaches the port taking every slot for a week,
 * idle connections (attached or not) filling --max-conns, and DESCRIBE telling anyone who
 * holds the other slots and what they do. */
#include "attack.h"

/* A keys file with one key: returns the key (static), writes the file at path. */
static const char *write_keys(const char *path, const char *name, int slots, int lease)
{
    static char key[80];
    snprintf(key, sizeof key, "tk-test-%s-0123456789abcdef", name);
    uint8_t d[32];
    char hex[65];
    tt_sha256(key, strlen(key), d);
    tt_hex(d, sizeof d, hex);
    char text[512];
    int n = snprintf(text, sizeof text, "# test keys\n%s %s %d %d\n", name, hex, slots, lease);
    th_write_file(path, text, (size_t)n);
    return key;
}

/* `tether attach TYPE --server S --key-file F` with TETHER_HOME set: its exit status. */
static int cli_attach(const char *type, const char *server, const char *key_file)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' attach %s --server %s --key-file '%s' >/dev/null 2>&1", TETHER_CLI_PATH, type,
             server, key_file);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(reservation_keys_bound_who_reserves_how_many_and_how_long)
{
    th_fresh_home();
    char dir[300], keys[400], keyfile[400];
    th_mkdtemp("keys", dir, sizeof dir);
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(keyfile, sizeof keyfile, "%s/my.key", dir);
    const char *key = write_keys(keys, "team-a", 2, 60);
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=4", "--reserve-keys", keys, NULL});
    /* the keys file keeps only the key's hash */
    FILE *f = fopen(keys, "r");
    char text[512] = "";
    CHECK(fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
    CHECK(strstr(text, key) == NULL);
    /* no key, a wrong key: refused, saying why */
    tt_attachment a;
    unsetenv("TETHER_RESERVE_KEY");
    CHECK_ERR(tt_attach("cpu.small", s.endpoint, &a), TETHER_ERR_AUTH, "--key");
    CHECK_ERR(tt_attach_key("cpu.small", s.endpoint, 0, "tk-guess", &a), TETHER_ERR_AUTH, "key");
    /* the key: its two slots, leases cut to its 60 s; a third is refused */
    CHECK_OK(tt_attach_key("cpu.small", s.endpoint, 3600, key, &a));
    th_write_file(keyfile, key, strlen(key));
    CHECK_EQ_INT(cli_attach("cpu.small", s.endpoint, keyfile), 0);
    tt_attachment c3;
    CHECK_ERR(tt_attach_key("cpu.small", s.endpoint, 0, key, &c3), TETHER_ERR_QUOTA, "2 of its 2");
    tt_rconn *c = at_conn(&s, &a);
    cJSON *doc = at_describe(c);
    CHECK(at_num(doc, "attached", "lease_expires_in_s") <= 60);
    CHECK_EQ_INT(at_num(doc, "server", "slots_free"), 2);
    cJSON_Delete(doc);
    tt_rconn_close(c);
    /* the limit holds across a restart (reservations remember their key) */
    th_server_stop(&s);
    th_server_restart(&s, (const char *const[]){"--slots", "cpu.small=4", "--reserve-keys", keys, NULL});
    CHECK_ERR(tt_attach_key("cpu.small", s.endpoint, 0, key, &c3), TETHER_ERR_QUOTA, "2 of its 2");
    /* a detach gives one back */
    CHECK_OK(tt_detach(0));
    setenv("TETHER_RESERVE_KEY", key, 1);
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &c3));
    unsetenv("TETHER_RESERVE_KEY");
    CHECK(!at_log_contains(&s, key));
    th_server_stop(&s);
}

TEST(listening_beyond_loopback_without_keys_warns_loudly)
{
    th_fresh_home();
    th_server s;
    /* plain TCP beyond loopback needs --tls off (TLS is on by default there) */
    th_server_start(&s, (const char *const[]){"--listen", "0.0.0.0:0", "--tls", "off", NULL});
    CHECK(at_log_contains(&s, "WARNING: listening on tcp://0.0.0.0"));
    CHECK(at_log_contains(&s, "--reserve-keys"));
    th_server_stop(&s);
    th_server t;
    th_server_start(&t, NULL);
    CHECK(!at_log_contains(&t, "WARNING"));
    th_server_stop(&t);
}

static void ping(tt_rconn *c)
{
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_reply rep;
    tt_status st = tt_rconn_call(c, TT_CMD_PING, &w, NULL, 0, 0, tt_deadline_ms(2000), &rep);
    tt_wr_free(&w);
    if (st == TT_OK)
        tt_reply_free(&rep);
}

TEST(idle_and_unattached_connections_cannot_hold_the_server)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=2", "--auth-timeout", "1",
                                              "--attached-idle-timeout", "1", "--max-conns-per-attachment", "3",
                                              NULL});
    tt_attachment a, b;
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &a));
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &b));
    /* never attaching, but busy: a PING every 300 ms does not keep it */
    tt_rconn *u = at_conn(&s, NULL);
    double t0 = th_now_s();
    while (!tt_rconn_broken(u) && th_now_s() - t0 < 5) {
        ping(u);
        th_sleep_ms(300);
    }
    CHECK(tt_rconn_broken(u));
    CHECK(th_now_s() - t0 < 3.0);
    tt_rconn_close(u);
    /* attached and idle: closed too; a session notices nothing, it reconnects */
    tt_rconn *idle = at_conn(&s, &a);
    CHECK(at_closed_within(tt_rconn_fd(idle), 4000));
    tt_rconn_close(idle);
    pbw m = th_model_dense(8, 4, 9);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 5000);
    th_sleep_ms(2000);
    float x[8] = {1};
    tether_outputs *o;
    CHECK_OK(th_run_f32(r, x, 1, 8, &o));
    tether_outputs_free(o);
    /* one attachment cannot take more than its share of connections */
    tt_rconn *held[3];
    held[0] = at_conn(&s, &a); /* with the session's own: 2 */
    held[1] = at_conn(&s, &a);
    tt_endpoint ep = at_ep(&s);
    uint8_t token[TT_WIRE_TOKEN_LEN];
    CHECK_OK(tt_attachment_token(&a, token));
    CHECK_ERR(tt_rconn_open(&ep, a.id, token, tt_deadline_ms(5000), &held[2]), TETHER_ERR_BUSY, "3 connections");
    /* another attachment is not affected */
    tt_rconn *other = at_conn(&s, &b);
    ping(other);
    CHECK(!tt_rconn_broken(other));
    tt_rconn_close(other);
    tt_rconn_close(held[0]);
    tt_rconn_close(held[1]);
    tether_session_free(r);
    ob_free(&m);
    th_server_stop(&s);
}

TEST(describe_shows_no_other_tenants_holder_host_or_activity)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.small=2", NULL});
    tt_attachment a, b;
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &a));
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &b));
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    pbw m = th_model_dense(8, 4, 10);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 5000);
    float x[8] = {1};
    tether_outputs *o;
    CHECK_OK(th_run_f32(r, x, 1, 8, &o));
    tether_outputs_free(o);
    /* without a token: the slots' types and states, nobody's id, holder or counters */
    tt_rconn *c = at_conn(&s, NULL);
    cJSON *doc = at_describe(c);
    char *text = cJSON_PrintUnformatted(doc);
    CHECK(strstr(text, a.id) == NULL && strstr(text, b.id) == NULL);
    CHECK(strstr(text, "\"holder\"") == NULL && strstr(text, "\"inferences\"") == NULL);
    CHECK(!host[0] || strstr(text, host) == NULL);
    CHECK(strstr(text, "\"attached\"") != NULL); /* the slots' state is public */
    free(text);
    cJSON_Delete(doc);
    tt_rconn_close(c);
    /* with b's token: b's own slot in full, a's as anyone sees it */
    c = at_conn(&s, &b);
    doc = at_describe(c);
    CHECK_EQ_INT(at_num(doc, "attached", "inferences"), 0);
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(doc, "attached");
    CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(me, "id")->valuestring, b.id) == 0);
    text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc, "slots"));
    CHECK(strstr(text, a.id) == NULL);
    CHECK(strstr(text, b.id) != NULL);
    free(text);
    cJSON_Delete(doc);
    tt_rconn_close(c);
    tether_session_free(r);
    ob_free(&m);
    th_server_stop(&s);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
