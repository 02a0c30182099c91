/* The fleet, end to end: a real etcd and three tetherd servers (on hosts of their own in
 * network namespaces where this machine allows, else on loopback), driven as a user would:
 * registration and listing, 200 attaches at once from several processes (no slot given
 * twice), a server killed with SIGKILL under a stream of inferences (every one answered,
 * right), a server's link cut (or the server stopped), etcd restarted (with and without its
 * data), a live resize under load — and most of them again with TLS everywhere. */
#include "fleet_fixture.h"

#include "client/conn.h"
#include "core/hash.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdatomic.h>

#ifndef TETHER_CLI_PATH
#error "TETHER_CLI_PATH must name the tether binary"
#endif

/* ---- a stream of inferences, each checked against the same model run locally ---------- */

typedef struct stream {
    tether_session *remote, *local;
    int n, pause_ms, k, cols;
    atomic_int done;
    int bad, errors;
    char first_error[1024];
    double longest_gap_s; /* the longest wait for one answer */
    double *began, *ended; /* each run's start and end (th_now_s) */
} stream;

/* The longest any run took that was still waiting at time t (after the join). */
static double stream_longest_after(const stream *s, double t)
{
    double longest = 0;
    for (int i = 0; i < s->n; i++)
        if (s->ended[i] > t && s->ended[i] - s->began[i] > longest)
            longest = s->ended[i] - s->began[i];
    return longest;
}

static void *stream_main(void *arg)
{
    stream *s = arg;
    float x[4 * 64];
    for (int i = 0; i < s->n; i++) {
        for (int k = 0; k < 4 * s->k; k++)
            x[k] = (float)sin(0.37 * i + 0.11 * k);
        tether_outputs *ro = NULL, *lo = NULL;
        double t0 = th_now_s();
        tether_status st = th_run_f32(s->remote, x, 4, s->k, &ro);
        double gap = th_now_s() - t0;
        s->began[i] = t0;
        s->ended[i] = t0 + gap;
        if (gap > s->longest_gap_s)
            s->longest_gap_s = gap;
        if (st != TETHER_OK) {
            if (!s->errors++)
                snprintf(s->first_error, sizeof s->first_error, "run %d: %s", i, tether_last_error());
        } else if (th_run_f32(s->local, x, 4, s->k, &lo) != TETHER_OK) {
            s->bad++;
        } else {
            const tether_tensor *a = tether_outputs_get(ro, 0), *b = tether_outputs_get(lo, 0);
            if (a->size != b->size || memcmp(a->data, b->data, a->size) != 0) {
                if (!s->bad++)
                    snprintf(s->first_error, sizeof s->first_error, "run %d: the output differs from the local one",
                             i);
            }
        }
        tether_outputs_free(ro);
        tether_outputs_free(lo);
        atomic_fetch_add(&s->done, 1);
        if (s->pause_ms)
            th_sleep_ms(s->pause_ms);
    }
    return NULL;
}

static void stream_start_on(stream *s, pthread_t *th, const pbw *m, const char *target, int timeout_ms, int n,
                            int pause_ms)
{
    memset(s, 0, sizeof *s);
    s->k = 32;
    s->n = n;
    s->pause_ms = pause_ms;
    s->began = calloc((size_t)n, sizeof(double));
    s->ended = calloc((size_t)n, sizeof(double));
    s->remote = th_open(m->buf, m->len, target, timeout_ms);
    s->local = th_open(m->buf, m->len, "cpu", 0);
    pthread_create(th, NULL, stream_main, s);
}

static void stream_start(stream *s, pthread_t *th, const pbw *m, int timeout_ms, int n, int pause_ms)
{
    stream_start_on(s, th, m, "eia:0", timeout_ms, n, pause_ms);
}

static void stream_wait_for(stream *s, int runs)
{
    double until = th_now_s() + 60;
    while (atomic_load(&s->done) < runs && th_now_s() < until)
        th_sleep_ms(5);
    CHECK(atomic_load(&s->done) >= runs);
}

static void stream_finish(stream *s, pthread_t th)
{
    pthread_join(th, NULL);
    if (s->errors || s->bad)
        CHECK_FAIL("%d of %d runs failed and %d answered wrong; first: %s", s->errors, s->n, s->bad, s->first_error);
    CHECK_EQ_INT(atomic_load(&s->done), s->n);
}

static void stream_close(stream *s)
{
    tether_session_free(s->remote);
    tether_session_free(s->local);
    free(s->began);
    free(s->ended);
}

static void where(tether_session *s, char *out, size_t n)
{
    tether_session_stats st;
    CHECK_OK(tether_session_stats_get(s, &st));
    snprintf(out, n, "%s", st.where);
}

/* ---- registration ----------------------------------------------------------------- */

/* Runs the tether command with args; its stdout (at most cap bytes) goes to out. */
static int cli(char *out, size_t cap, const char *const *args)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        const char *argv[32] = {TETHER_CLI_PATH};
        int n = 1;
        for (int i = 0; args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(TETHER_CLI_PATH, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t k;
    while ((k = read(p[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)k;
    out[len] = 0;
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void registration(bool tls)
{
    th_fresh_home();
    const char *slots[] = {"cpu.small=2,cpu.medium=1", "cpu.small=2", "cpu.medium=2"};
    tf_fleet f;
    tf_ttl = "2";
    tf_start(&f, 3, slots, tls, true);
    static char out[1 << 16];
    CHECK_EQ_INT(cli(out, sizeof out, (const char *const[]){"fleet", f.fleet, "--json", NULL}), 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL);
    const cJSON *servers = cJSON_GetObjectItemCaseSensitive(j, "servers");
    CHECK_EQ_INT(cJSON_GetArraySize(servers), 3);
    int slots_seen = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, servers)
    {
        const cJSON *sl = cJSON_GetObjectItemCaseSensitive(s, "slots");
        slots_seen += cJSON_GetArraySize(sl);
        CHECK(tf_server_of(&f, cJSON_GetObjectItemCaseSensitive(s, "id")->valuestring) >= 0);
    }
    CHECK_EQ_INT(slots_seen, 7);
    cJSON_Delete(j);
    /* an attach shows as attached, with its id */
    tt_attachment a;
    CHECK_OK(tf_attach(&f, "cpu.medium", NULL, &a));
    CHECK(a.fleet[0] && tf_server_of(&f, a.server_id) >= 0);
    CHECK_EQ_INT(cli(out, sizeof out, (const char *const[]){"fleet", f.fleet, NULL}), 0);
    CHECK_STR_CONTAINS(out, "3 servers, 7 slots, 1 attached");
    CHECK_STR_CONTAINS(out, a.id);
    /* named as for `tether attach --fleet` too */
    CHECK_EQ_INT(cli(out, sizeof out, (const char *const[]){"fleet", "--fleet", f.fleet, NULL}), 0);
    CHECK_STR_CONTAINS(out, "3 servers, 7 slots, 1 attached");
    /* a clean stop leaves at once; a crash leaves when the lease (2 s) runs out */
    th_server_stop(&f.srv[2]);
    double t0 = th_now_s();
    tf_wait_servers(&f, 2, 5, 1.5);
    th_server_signal_wait(&f.srv[1], SIGKILL);
    tf_wait_servers(&f, 1, 3, 6);
    double crash = th_now_s() - t0;
    CHECK(crash > 1.0); /* not before the lease expired */
    /* the crashed server comes back with its state: it registers again */
    tf_server_start(&f, 1, "cpu.small=2", NULL, true);
    tf_wait_servers(&f, 2, 5, 10);
    tf_stop(&f);
}

/* The same reads and compare-and-swap writes through etcd's gRPC API (what placement
 * sends) and through its JSON gateway give the same answers, byte for byte. */
static void same_kvs(const tt_etcd_kvs *a, const tt_etcd_kvs *b)
{
    CHECK_EQ_INT((int)a->n, (int)b->n);
    CHECK(a->revision > 0 && b->revision >= a->revision); /* the servers may write in between */
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        CHECK(strcmp(a->kv[i].key, b->kv[i].key) == 0);
        CHECK_EQ_INT((int)a->kv[i].value_len, (int)b->kv[i].value_len);
        CHECK(memcmp(a->kv[i].value, b->kv[i].value, a->kv[i].value_len) == 0);
        CHECK(a->kv[i].create_rev == b->kv[i].create_rev && a->kv[i].mod_rev == b->kv[i].mod_rev);
        CHECK(a->kv[i].version == b->kv[i].version && a->kv[i].lease == b->kv[i].lease);
    }
}

static void grpc_and_gateway(bool tls)
{
    th_fresh_home();
    const char *slots[] = {"cpu.small=2"};
    tf_fleet f;
    tf_start(&f, 1, slots, tls, false);
    tt_etcd *gw, *rpc;
    CHECK_OK(tt_etcd_open(f.fleet, &f.etcd.client, &gw));
    CHECK_OK(tt_etcd_clone(gw, &rpc));
    tt_etcd_use_grpc(rpc, true);
    uint64_t answers = tt_etcd_grpc_answers(), req0, conn0, req1, conn1;
    int64_t dl = tt_deadline_ms(30000); /* for every call below: generous, for sanitizers on a busy machine */
    /* keys of the test's own under two prefixes (one with a lease, one empty), read both ways */
    int64_t lease;
    CHECK_OK(tt_etcd_lease_grant(gw, 30, dl, &lease)); /* the gateway's connection is open from here */
    tt_etcd_stats(&req0, &conn0);
    CHECK_OK(tt_etcd_put(gw, "/test/grpc/r/1", "{\"x\": 1}", lease, dl));
    CHECK_OK(tt_etcd_put(gw, "/test/grpc/r/2", "", 0, dl));
    CHECK_OK(tt_etcd_put(gw, "/test/grpc/s/1", "y", 0, dl));
    CHECK_OK(tt_etcd_put(gw, "/test/grpc/s/1", "z", 0, dl)); /* version 2 */
    const char *mine[] = {"/test/grpc/s/", "/test/grpc/r/"};
    tt_etcd_kvs a, b;
    CHECK_OK(tt_etcd_get_prefixes(gw, mine, 2, dl, &a));
    CHECK_OK(tt_etcd_get_prefixes(rpc, mine, 2, dl, &b));
    CHECK_EQ_INT((int)b.n, 3);
    same_kvs(&a, &b);
    CHECK(strcmp(b.kv[0].key, "/test/grpc/s/1") == 0 && b.kv[0].version == 2 && strcmp(b.kv[0].value, "z") == 0);
    CHECK(b.kv[1].lease == lease && b.kv[2].value_len == 0);
    tt_etcd_kvs_free(&a);
    tt_etcd_kvs_free(&b);
    /* the servers' records, as placement reads them */
    const char *view[] = {TT_FLEET_PREFIX "servers/", TT_FLEET_PREFIX "claims/"};
    CHECK_OK(tt_etcd_get_prefixes(rpc, view, 2, dl, &b));
    CHECK(b.n >= 1 && strncmp(b.kv[0].key, TT_FLEET_PREFIX "servers/", strlen(TT_FLEET_PREFIX "servers/")) == 0);
    tt_etcd_kvs_free(&b);
    /* a claim: created only when absent, with a lease; the loser reads what won */
    const char *pre[] = {"/test/grpc/c/"};
    tt_etcd_cmp absent = {"/test/grpc/c/claim", TT_ETCD_CREATE, 0, false};
    tt_etcd_op put = {.key = "/test/grpc/c/claim", .value = "{\"holder\": \"a\"}", .lease = lease};
    bool won;
    int64_t rev, rev2;
    CHECK_OK(tt_etcd_txn_read(rpc, &absent, 1, &put, 1, pre, 1, false, dl, &won, &rev, &a));
    CHECK(won && rev > 0 && a.n == 0);
    tt_etcd_kvs_free(&a);
    put.value = "{\"holder\": \"b\"}";
    CHECK_OK(tt_etcd_txn_read(rpc, &absent, 1, &put, 1, pre, 1, false, dl, &won, &rev2, &a));
    CHECK(!won && rev2 >= rev); /* the store's revision: the servers may have written since */
    CHECK_OK(tt_etcd_txn_read(gw, &absent, 1, &put, 1, pre, 1, false, dl, &won, &rev2, &b));
    CHECK(!won);
    same_kvs(&a, &b);
    CHECK_EQ_INT((int)a.n, 1);
    CHECK(strcmp(a.kv[0].value, "{\"holder\": \"a\"}") == 0);
    CHECK(a.kv[0].lease == lease && a.kv[0].create_rev == rev);
    tt_etcd_kvs_free(&a);
    tt_etcd_kvs_free(&b);
    /* a compare on the modification, then a delete */
    tt_etcd_cmp same = {"/test/grpc/c/claim", TT_ETCD_MOD, rev, false};
    tt_etcd_op del = {.del = true, .key = "/test/grpc/c/claim"};
    CHECK_OK(tt_etcd_txn(rpc, &same, 1, &del, 1, dl, &won, &rev2));
    CHECK(won && rev2 > rev);
    CHECK_OK(tt_etcd_get(gw, "/test/grpc/c/claim", dl, &a));
    CHECK_EQ_INT((int)a.n, 0);
    tt_etcd_kvs_free(&a);
    /* etcd's own refusal comes back as an error naming it: a lease it does not have */
    put.lease = 12345;
    CHECK_ERR(tt_etcd_txn(rpc, NULL, 0, &put, 1, dl, &won, NULL), TETHER_ERR_NOT_FOUND, "lease not found");
    /* every call went as gRPC (the TLS fleet's too), none back to the gateway; over TLS on one
     * connection, in the clear on one each (the gateway's client keeps its own) */
    CHECK_EQ_INT((int)(tt_etcd_grpc_answers() - answers), 6);
    CHECK(!tf_log_has("but not gRPC"));
    tt_etcd_stats(&req1, &conn1);
    CHECK_EQ_INT((int)(conn1 - conn0), tls ? 1 : 6);
    tt_etcd_lease_revoke(gw, lease, dl);
    tt_etcd_close(rpc);
    tt_etcd_close(gw);
    tf_stop(&f);
}

TEST(grpc_and_the_gateway_give_the_same_answers)
{
    grpc_and_gateway(false);
}

TEST(grpc_and_the_gateway_give_the_same_answers_tls)
{
    grpc_and_gateway(true);
}

TEST(registration_listing_and_leaving)
{
    registration(false);
}

TEST(registration_listing_and_leaving_tls)
{
    registration(true);
}

/* ---- 200 attaches at once ------------------------------------------------------------ */

/* Counts the attached and claimed slots of the fleet (n servers) until they are as wanted
 * (publications and claim deletions land a moment after the attaches return), or 5 s have
 * passed. */
static void wait_fleet_counts(tf_fleet *f, int n, int want_attached, int *attached, int *claimed)
{
    for (double until = th_now_s() + 5;; th_sleep_ms(20)) {
        tt_fleet_view v;
        CHECK(tf_registered(f, &v) == n);
        *attached = *claimed = 0;
        for (int i = 0; i < v.n_slots; i++) {
            *attached += v.slots[i].attached;
            *claimed += v.slots[i].claimed;
        }
        tt_fleet_view_free(&v);
        if ((*attached == want_attached && *claimed == 0) || th_now_s() >= until)
            return;
    }
}


enum { ATT_PROCS = 8, ATT_THREADS = 25 };

typedef struct att_result {
    pthread_mutex_t *lock;
    char *buf;
    size_t *len, cap;
    tf_fleet *f;
} att_result;

static void *attach_main(void *arg)
{
    att_result *r = arg;
    tt_attachment a;
    char line[1400];
    tether_status st = tf_attach(r->f, "cpu.small", NULL, &a);
    if (st == TETHER_OK)
        snprintf(line, sizeof line, "ok %s %s\n", a.endpoint, a.id);
    else
        snprintf(line, sizeof line, "err %d %s\n", (int)st, tether_last_error());
    pthread_mutex_lock(r->lock);
    size_t n = strlen(line);
    if (*r->len + n < r->cap) {
        memcpy(r->buf + *r->len, line, n);
        *r->len += n;
    }
    pthread_mutex_unlock(r->lock);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void concurrent_attaches(bool tls)
{
    const char *slots[] = {"cpu.small=20", "cpu.small=20", "cpu.small=20"};
    tf_fleet f;
    tf_start(&f, 3, slots, tls, true);
    int fds[ATT_PROCS];
    pid_t pids[ATT_PROCS];
    for (int p = 0; p < ATT_PROCS; p++) {
        int pp[2];
        CHECK(pipe(pp) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(pp[0]);
            char home[400];
            snprintf(home, sizeof home, "%s/home-att-%d", th_root, p);
            setenv("TETHER_HOME", home, 1);
            static char buf[ATT_THREADS * 1400];
            size_t len = 0;
            pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
            pthread_t th[ATT_THREADS];
            att_result r = {.lock = &lock, .buf = buf, .len = &len, .cap = sizeof buf, .f = &f};
            for (int t = 0; t < ATT_THREADS; t++)
                pthread_create(&th[t], NULL, attach_main, &r);
            for (int t = 0; t < ATT_THREADS; t++)
                pthread_join(th[t], NULL);
            ssize_t w = write(pp[1], buf, len);
            _exit(w == (ssize_t)len ? 0 : 1); /* _exit: the fleet belongs to the parent */
        }
        close(pp[1]);
        fds[p] = pp[0];
        pids[p] = pid;
    }
    static char all[ATT_PROCS * ATT_THREADS * 1400];
    size_t len = 0;
    for (int p = 0; p < ATT_PROCS; p++) {
        ssize_t k;
        while ((k = read(fds[p], all + len, sizeof all - 1 - len)) > 0)
            len += (size_t)k;
        close(fds[p]);
        int status;
        waitpid(pids[p], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    all[len] = 0;
    char *ids[ATT_PROCS * ATT_THREADS];
    int ok = 0, busy = 0, lines = 0;
    char want[300];
    snprintf(want, sizeof want, "no free cpu.small slot in fleet %s", f.fleet);
    char *save;
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (strncmp(line, "ok ", 3) == 0) {
            ids[ok++] = line + 3;
        } else {
            int code = atoi(line + 4);
            if (code != TETHER_ERR_BUSY || !strstr(line, want))
                CHECK_FAIL("an attach failed otherwise than 'no free slot': %s", line);
            busy++;
        }
    }
    CHECK_EQ_INT(lines, ATT_PROCS * ATT_THREADS);
    CHECK_EQ_INT(ok, 60);
    CHECK_EQ_INT(busy, ATT_PROCS * ATT_THREADS - 60);
    qsort(ids, (size_t)ok, sizeof ids[0], cmp_str);
    for (int i = 1; i < ok; i++)
        if (strcmp(ids[i], ids[i - 1]) == 0)
            CHECK_FAIL("slot handed out twice: %s", ids[i]);
    /* and etcd agrees: every slot attached, none left claimed */
    int attached, claimed;
    wait_fleet_counts(&f, 3, 60, &attached, &claimed);
    CHECK_EQ_INT(attached, 60);
    CHECK_EQ_INT(claimed, 0);
    tf_check_leases_held(&f);
    tf_stop(&f);
}

TEST(concurrent_attaches_never_share_a_slot)
{
    concurrent_attaches(false);
}

TEST(concurrent_attaches_never_share_a_slot_tls)
{
    concurrent_attaches(true);
}

/* ---- the last slot, raced ----------------------------------------------------------- */

enum { RACE_PROCS = 4, RACE_ROUNDS = 12 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A fleet's only slot, attached by several processes released at the same moment, round
 * after round. Each reserves the slot on the server while its claim runs in etcd, so the
 * server and etcd each pick a winner, not always the same one: the claim's winner must get
 * the slot (asking the server again while a loser still holds it), every loser must hear
 * "no free slot" and give its early reservation back, and nothing may stay reserved or
 * claimed beyond the one attachment. */
TEST(last_slot_raced_goes_to_exactly_one)
{
    const char *slots[] = {"cpu.small=1"};
    tf_fleet f;
    tf_start(&f, 1, slots, false, false);
    char want[300];
    snprintf(want, sizeof want, "no free cpu.small slot in fleet %s", f.fleet);
    double won_s[RACE_ROUNDS];
    for (int round = 0; round < RACE_ROUNDS; round++) {
        int go[2], done[2], res[RACE_PROCS][2];
        CHECK(pipe(go) == 0 && pipe(done) == 0);
        pid_t pids[RACE_PROCS];
        for (int p = 0; p < RACE_PROCS; p++) {
            CHECK(pipe(res[p]) == 0);
            pid_t pid = fork();
            CHECK(pid >= 0);
            if (pid == 0) {
                char home[400], c, line[1200];
                snprintf(home, sizeof home, "%s/home-race-%d-%d", th_root, round, p);
                setenv("TETHER_HOME", home, 1);
                tt_fleet_forget(); /* a process of its own: nothing remembered from the test's */
                close(go[1]);
                close(done[1]);
                close(res[p][0]);
                if (read(go[0], &c, 1) != 1)
                    _exit(2);
                tt_attachment a;
                double t0 = th_now_s();
                tether_status st = tf_attach(&f, "cpu.small", NULL, &a);
                double took = th_now_s() - t0;
                if (st == TETHER_OK)
                    snprintf(line, sizeof line, "ok %.3f %s", took, a.id);
                else
                    snprintf(line, sizeof line, "err %d %.3f %s", (int)st, took, tether_last_error());
                ssize_t w = write(res[p][1], line, strlen(line));
                close(res[p][1]);
                /* the winner keeps the slot until the fleet has been checked */
                if (read(done[0], &c, 1) != 1 || (st == TETHER_OK && tt_detach(0) != TETHER_OK))
                    _exit(3);
                _exit(w == (ssize_t)strlen(line) ? 0 : 1); /* _exit: the fleet belongs to the parent */
            }
            close(res[p][1]);
            pids[p] = pid;
        }
        close(go[0]);
        close(done[0]);
        char gos[RACE_PROCS];
        memset(gos, 'g', sizeof gos);
        CHECK(write(go[1], gos, sizeof gos) == (ssize_t)sizeof gos);
        close(go[1]);
        int ok = 0;
        double slowest_ok = 0;
        char lines[RACE_PROCS][1200];
        for (int p = 0; p < RACE_PROCS; p++) {
            char *line = lines[p];
            ssize_t k = 0, r;
            while (k < (ssize_t)sizeof lines[p] - 1 &&
                   (r = read(res[p][0], line + k, sizeof lines[p] - 1 - (size_t)k)) > 0)
                k += r;
            close(res[p][0]);
            line[k > 0 ? k : 0] = 0;
            if (strncmp(line, "ok ", 3) == 0) {
                ok++;
                double t = atof(line + 3);
                slowest_ok = t > slowest_ok ? t : slowest_ok;
            } else if (atoi(line + 4) != TETHER_ERR_BUSY || !strstr(line, want)) {
                CHECK_FAIL("round %d: an attach failed otherwise than 'no free slot': %s", round, line);
            }
        }
        if (ok != 1) {
            for (int p = 0; p < RACE_PROCS; p++)
                tf_say("round %d, process %d: %s", round, p, lines[p]);
            CHECK_FAIL("round %d: %d of %d racing attaches got the only slot", round, ok, RACE_PROCS);
        }
        won_s[round] = slowest_ok;
        int attached, claimed;
        wait_fleet_counts(&f, 1, 1, &attached, &claimed);
        CHECK_EQ_INT(attached, 1);
        CHECK_EQ_INT(claimed, 0);
        CHECK(write(done[1], gos, sizeof gos) == (ssize_t)sizeof gos);
        close(done[1]);
        for (int p = 0; p < RACE_PROCS; p++) {
            int status;
            waitpid(pids[p], &status, 0);
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        wait_fleet_counts(&f, 1, 0, &attached, &claimed);
        CHECK_EQ_INT(attached, 0);
        CHECK_EQ_INT(claimed, 0);
    }
    qsort(won_s, RACE_ROUNDS, sizeof won_s[0], cmp_double);
    tf_say("the winners' attaches (a process's first: the fleet read, the claim and the reservation): median "
           "%.1f ms, longest %.1f ms",
           won_s[RACE_ROUNDS / 2] * 1e3, won_s[RACE_ROUNDS - 1] * 1e3);
    tf_check_leases_held(&f);
    tf_stop(&f);
}

/* ---- failover ------------------------------------------------------------------------ */

static void failover_under_load(bool tls)
{
    th_fresh_home();
    const char *slots[] = {"cpu.small=2", "cpu.small=2", "cpu.small=2"};
    tf_fleet f;
    tf_start(&f, 3, slots, tls, true);
    tt_attachment a;
    CHECK_OK(tf_attach(&f, "cpu.small", f.srv_id[0], &a));
    CHECK(strcmp(a.server_id, f.srv_id[0]) == 0);
    pbw m = th_model_dense(32, 16, 7);
    stream s;
    pthread_t th;
    stream_start(&s, &th, &m, 10000, 400, 2);
    stream_wait_for(&s, 60);
    th_server_signal_wait(&f.srv[0], SIGKILL);
    stream_finish(&s, th);
    TF_CHECK_LOG("failed over from");
    tt_attachment now;
    CHECK_OK(tt_attachment_get(0, &now));
    CHECK(strcmp(now.id, a.id) != 0);
    CHECK(tf_server_of(&f, now.server_id) > 0);
    char w[256];
    where(s.remote, w, sizeof w);
    CHECK_STR_CONTAINS(w, now.id);
    /* the killed server comes back with its state, the old slot still reserved there: the
     * next attach on this host releases it */
    tf_server_start(&f, 0, "cpu.small=2", NULL, true);
    tf_wait_servers(&f, 3, 6, 10);
    tt_fleet_view v;
    bool old_held = false;
    for (double until = th_now_s() + 5; th_now_s() < until && !old_held; th_sleep_ms(50)) {
        CHECK(tf_registered(&f, &v) == 3);
        for (int i = 0; i < v.n_slots; i++)
            old_held |= strcmp(v.slots[i].attachment, a.id) == 0;
        tt_fleet_view_free(&v);
    }
    CHECK(old_held);
    tt_attachment b;
    CHECK_OK(tf_attach(&f, "cpu.small", f.srv_id[1], &b));
    bool old_free = false;
    for (double until = th_now_s() + 5; th_now_s() < until && !old_free; th_sleep_ms(50)) {
        CHECK(tf_registered(&f, &v) == 3);
        old_free = true;
        for (int i = 0; i < v.n_slots; i++)
            if (strcmp(v.slots[i].attachment, a.id) == 0)
                old_free = false;
        tt_fleet_view_free(&v);
    }
    CHECK(old_free);
    stream_close(&s);
    ob_free(&m);
    tf_stop(&f);
}

TEST(server_killed_under_load_fails_over)
{
    failover_under_load(false);
}

TEST(server_killed_under_load_fails_over_tls)
{
    failover_under_load(true);
}

/* Two servers stop answering at once, each under a stream of inferences of its own: one's
 * link cut (its own host, netns; where there are no namespaces, it is stopped too), the
 * other stopped (SIGSTOP). Neither connection breaks at once, and the requests' timeout is
 * 30 s: what finds the stopped server is the session's check of its registration, which
 * ends with the server's lease (3 s here). Both sessions move to the third server. */
static void stops_answering(bool tls)
{
    th_fresh_home();
    const char *slots[] = {"cpu.small=1", "cpu.small=1", "cpu.small=2"};
    tf_fleet f;
    tf_ttl = "3";
    tf_start(&f, 3, slots, tls, true);
    tt_attachment a, b;
    CHECK_OK(tf_attach(&f, "cpu.small", f.srv_id[0], &a));
    CHECK_OK(tf_attach(&f, "cpu.small", f.srv_id[1], &b));
    pbw m = th_model_dense(32, 16, 11);
    stream s0, s1;
    pthread_t th0, th1;
    stream_start_on(&s0, &th0, &m, "eia:0", 30000, 200, 2);
    stream_start_on(&s1, &th1, &m, "eia:1", 30000, 200, 2);
    stream_wait_for(&s0, 40);
    stream_wait_for(&s1, 40);
    double t_stop = th_now_s();
    if (f.net.on)
        CHECK_EQ_INT(tn_link(&f.net, 0, false), 0);
    else
        kill(f.srv[0].pid, SIGSTOP);
    kill(f.srv[1].pid, SIGSTOP);
    stream_finish(&s0, th0);
    stream_finish(&s1, th1);
    TF_CHECK_LOG("failed over from");
    TF_CHECK_LOG("is no longer registered in fleet");
    tt_attachment now;
    for (int i = 0; i < 2; i++) {
        CHECK_OK(tt_attachment_get(i, &now));
        CHECK_EQ_INT(tf_server_of(&f, now.server_id), 2);
    }
    /* every request answered within the lease's TTL and a few seconds of the stop */
    double cut = stream_longest_after(&s0, t_stop), stopped = stream_longest_after(&s1, t_stop);
    tf_say("the longest request after the %s took %.1f s, after the SIGSTOP %.1f s (lease TTL %s s, request "
           "timeout 30 s)",
           f.net.on ? "cut link" : "SIGSTOP", cut, stopped, tf_ttl);
    CHECK(stopped < atoi(tf_ttl) + 5.0);
    CHECK(cut < 12);
    kill(f.srv[1].pid, SIGCONT);
    if (f.net.on) {
        /* the link back: the server, its lease lost meanwhile, registers again */
        CHECK_EQ_INT(tn_link(&f.net, 0, true), 0);
        tf_wait_servers(&f, 3, 4, 10);
    } else {
        kill(f.srv[0].pid, SIGCONT);
    }
    stream_close(&s0);
    stream_close(&s1);
    ob_free(&m);
    tf_stop(&f);
    tf_ttl = "10";
}

TEST(server_that_stops_answering_is_left)
{
    stops_answering(false);
}

TEST(server_that_stops_answering_is_left_tls)
{
    stops_answering(true);
}

/* A client that claimed a slot and died before reserving it: the server deletes the claim
 * after its claim timeout (5 s), and a placement waiting for that slot gets it then. */
static void claim_and_die(tf_fleet *f)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        tt_fleet_forget(); /* a process of its own: nothing remembered from the test's */
        tt_etcd *e;
        tt_fleet_want w = {.type = "cpu.small", .holder = "a client that dies"};
        tt_fleet_claim c;
        int ok = tt_etcd_open(f->fleet, NULL, &e) == TETHER_OK &&
                 tt_fleet_claim_slot(e, &w, tt_deadline_ms(5000), &c) == TETHER_OK;
        _exit(ok ? 0 : 1); /* never reserves: the claim stays behind */
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(no_free_slot_names_the_type_and_the_fleet)
{
    th_fresh_home();
    const char *slots[] = {"cpu.small=1", "cpu.small=1"};
    tf_fleet f;
    tf_start(&f, 2, slots, false, false);
    tt_attachment a, b, c;
    CHECK_OK(tf_attach(&f, "cpu.small", f.srv_id[0], &a));
    /* a process's next attach claims from the view it remembers: one request to etcd (the
     * claim's transaction, in gRPC over a connection of its own), no read */
    uint64_t req0, conn0, req1, conn1, grpc0 = tt_etcd_grpc_answers();
    tt_etcd_stats(&req0, &conn0);
    CHECK_OK(tf_attach(&f, "cpu.small", NULL, &b));
    tt_etcd_stats(&req1, &conn1);
    CHECK(strcmp(b.server_id, f.srv_id[1]) == 0);
    CHECK_EQ_INT((int)(req1 - req0), 1);
    CHECK_EQ_INT((int)(conn1 - conn0), 1);
    CHECK_EQ_INT((int)(tt_etcd_grpc_answers() - grpc0), 1);
    char want[300];
    snprintf(want, sizeof want, "no free cpu.small slot in fleet %s", f.fleet);
    /* nothing free, nothing being claimed: said at once */
    double t0 = th_now_s();
    CHECK_ERR(tf_attach(&f, "cpu.small", NULL, &c), TETHER_ERR_BUSY, want);
    CHECK(th_now_s() - t0 < 1.0);
    CHECK_ERR(tf_attach(&f, "eia2.xlarge", NULL, &c), TETHER_ERR_NOT_FOUND, "no server offers eia2.xlarge");
    /* the last free slot claimed by a client that died: placement waits for the server to
     * clear the claim (its claim timeout: 5 s, not 20 s as before) and gets the slot */
    CHECK_OK(tt_detach(1));
    tt_fleet_view v;
    bool free_again = false;
    for (double until = th_now_s() + 5; th_now_s() < until && !free_again; th_sleep_ms(20)) {
        CHECK(tf_registered(&f, &v) == 2);
        for (int i = 0; i < v.n_slots; i++)
            free_again |= strcmp(v.slots[i].server, f.srv_id[1]) == 0 && v.slots[i].free && !v.slots[i].attached;
        tt_fleet_view_free(&v);
    }
    CHECK(free_again);
    claim_and_die(&f);
    t0 = th_now_s();
    CHECK_OK(tf_attach(&f, "cpu.small", NULL, &b));
    double waited = th_now_s() - t0;
    tf_say("placement waited %.1f s for the claim of a client that died (claim timeout 5 s)", waited);
    CHECK(strcmp(b.server_id, f.srv_id[1]) == 0);
    CHECK(waited > 1.0 && waited < 9.0);
    /* with eia:0's server gone and nothing free, the session fails clearly, not forever */
    pbw m = th_model_dense(8, 8, 3);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 3000);
    th_server_signal_wait(&f.srv[0], SIGKILL);
    float x[8] = {1};
    tether_outputs *o;
    CHECK_ERR(th_run_f32(r, x, 1, 8, &o), TETHER_ERR_BUSY, want);
    CHECK_STR_CONTAINS(tether_last_error(), "failing over accelerator");
    tether_session_free(r);
    ob_free(&m);
    f.srv[0].pid = 0;
    tf_stop(&f);
}

/* Servers started with --reserve-keys: the fleet attaches with the key, records it, and
 * fails over with it; a key's slot limit on one server sends the next attach elsewhere. */
TEST(reservation_keys_work_through_the_fleet)
{
    th_fresh_home();
    unsetenv("TETHER_RESERVE_KEY");
    const char *key = "fleet-test-key-3f9a2c71";
    uint8_t d[32];
    char hex[65], keys[400];
    tt_sha256(key, strlen(key), d);
    tt_hex(d, sizeof d, hex);
    snprintf(keys, sizeof keys, "%s/keys", th_root);
    char line[200];
    int n = snprintf(line, sizeof line, "team-a %s 1 3600\n", hex); /* one slot per server */
    th_write_file(keys, line, (size_t)n);
    const char *slots[] = {"cpu.small=2", "cpu.small=2"};
    tf_fleet f;
    tf_extra = (const char *const[]){"--reserve-keys", keys, NULL};
    tf_start(&f, 2, slots, false, false);
    tf_extra = NULL;
    tt_attachment a, b;
    CHECK_ERR(tf_attach(&f, "cpu.small", NULL, &a), TETHER_ERR_AUTH, "reservation key");
    tt_attach_opts o;
    memset(&o, 0, sizeof o);
    o.fleet = f.fleet;
    o.key = "not-the-key";
    CHECK_ERR(tt_attach_with("cpu.small", &o, &a), TETHER_ERR_AUTH, "not one this server knows");
    o.key = key;
    o.server = f.srv_id[0];
    CHECK_OK(tt_attach_with("cpu.small", &o, &a));
    CHECK(strcmp(a.server_id, f.srv_id[0]) == 0);
    /* the key allows one slot per server: the next one goes to the other server */
    o.server = NULL;
    CHECK_OK(tt_attach_with("cpu.small", &o, &b));
    CHECK(strcmp(b.server_id, f.srv_id[1]) == 0);
    CHECK_OK(tt_detach(1));
    /* failover reserves with the recorded key, not the environment's */
    pbw m = th_model_dense(32, 16, 13);
    stream s;
    pthread_t th;
    stream_start(&s, &th, &m, 10000, 200, 2);
    stream_wait_for(&s, 30);
    th_server_signal_wait(&f.srv[0], SIGKILL);
    stream_finish(&s, th);
    TF_CHECK_LOG("failed over from");
    tt_attachment now;
    CHECK_OK(tt_attachment_get(0, &now));
    CHECK(strcmp(now.server_id, f.srv_id[1]) == 0);
    stream_close(&s);
    ob_free(&m);
    f.srv[0].pid = 0;
    tf_stop(&f);
}

/* ---- etcd restarts ------------------------------------------------------------------- */

static void etcd_restart(bool tls)
{
    th_fresh_home();
    const char *slots[] = {"cpu.small=2", "cpu.small=2", "cpu.small=2"};
    tf_fleet f;
    tf_start(&f, 3, slots, tls, true);
    tt_attachment a, b;
    CHECK_OK(tf_attach(&f, "cpu.small", NULL, &a));
    pbw m = th_model_dense(32, 16, 5);
    stream s;
    pthread_t th;
    stream_start(&s, &th, &m, 10000, 300, 5);
    stream_wait_for(&s, 20);
    /* etcd gone: running sessions go on; a new attach fails naming the fleet */
    te_stop(&f.etcd, SIGKILL);
    CHECK_ERR(tf_attach(&f, "cpu.small", NULL, &b), TETHER_ERR_NETWORK, f.fleet);
    th_sleep_ms(2500); /* the servers' renewals fail meanwhile */
    char err[512];
    if (te_start(&f.etcd, err, sizeof err) != 0)
        CHECK_FAIL("%s", err);
    tf_wait_servers(&f, 3, 6, 15);
    CHECK_OK(tf_attach(&f, "cpu.small", NULL, &b));
    /* etcd back without its data (a new cluster): the servers register again, with the
     * slots attached meanwhile still attached */
    te_stop(&f.etcd, SIGKILL);
    char cmd[500];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f.etcd.data);
    CHECK(system(cmd) == 0);
    if (te_start(&f.etcd, err, sizeof err) != 0)
        CHECK_FAIL("%s", err);
    tf_wait_servers(&f, 3, 6, 15);
    tt_fleet_view v;
    double until = th_now_s() + 5;
    int attached = 0;
    while (th_now_s() < until) {
        CHECK(tf_registered(&f, &v) == 3);
        attached = 0;
        for (int i = 0; i < v.n_slots; i++)
            attached += v.slots[i].attached;
        tt_fleet_view_free(&v);
        if (attached == 2)
            break;
        th_sleep_ms(50);
    }
    CHECK_EQ_INT(attached, 2);
    stream_finish(&s, th);
    stream_close(&s);
    ob_free(&m);
    tf_stop(&f);
}

TEST(etcd_restart_recovers)
{
    etcd_restart(false);
}

TEST(etcd_restart_recovers_tls)
{
    etcd_restart(true);
}

/* ---- live resize ---------------------------------------------------------------------- */

static void resize_under_load(bool tls)
{
    th_fresh_home();
    const char *slots[] = {"cpu.small=1,cpu.medium=1", "cpu.small=1,cpu.medium=1"};
    tf_fleet f;
    tf_start(&f, 2, slots, tls, true);
    tt_attachment a;
    CHECK_OK(tf_attach(&f, "cpu.small", NULL, &a));
    pbw m = th_model_dense(32, 16, 9);
    stream s;
    pthread_t th;
    stream_start(&s, &th, &m, 10000, 300, 3);
    stream_wait_for(&s, 50);
    static char out[8192];
    int rc = cli(out, sizeof out, (const char *const[]){"resize", "0", "cpu.medium", "--wait", "20", "--json", NULL});
    CHECK_EQ_INT(rc, 0);
    CHECK_STR_CONTAINS(out, "\"type\":\t\"cpu.medium\"");
    int at_resize = atomic_load(&s.done);
    CHECK(at_resize < s.n); /* it happened under load */
    stream_finish(&s, th);
    TF_CHECK_LOG("moved from");
    tt_attachment now;
    CHECK_OK(tt_attachment_get(0, &now));
    CHECK(strcmp(now.type, "cpu.medium") == 0 && strcmp(now.name, a.name) == 0);
    char w[256];
    where(s.remote, w, sizeof w);
    CHECK_STR_CONTAINS(w, "cpu.medium");
    /* the old slot is free again, in the server and in etcd */
    tt_fleet_view v;
    CHECK(tf_registered(&f, &v) == 2);
    int attached = 0;
    for (int i = 0; i < v.n_slots; i++) {
        attached += v.slots[i].attached;
        if (strcmp(v.slots[i].attachment, a.id) == 0)
            CHECK_FAIL("the old slot %s is still attached", a.id);
    }
    CHECK_EQ_INT(attached, 1);
    tt_fleet_view_free(&v);
    tf_check_leases_held(&f);
    stream_close(&s);
    ob_free(&m);
    tf_stop(&f);
}

TEST(resize_under_load)
{
    resize_under_load(false);
}

TEST(resize_under_load_tls)
{
    resize_under_load(true);
}

/* ---- TLS on a server of its own ------------------------------------------------------- */

#if defined(TETHER_HAVE_MHD) && __has_include(<curl/curl.h>)
#include <curl/curl.h>

static size_t http_body(char *p, size_t size, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = size * n;
    if (have + add < 65535) {
        memcpy(buf + have, p, add);
        buf[have + add] = 0;
    }
    return add;
}

/* GET url (https with ca, presenting cert and key when given); returns the HTTP status, or
 * -curl code on a failed transfer. */
static long http_get_as(const char *url, const char *ca, const char *cert, const char *key, char *body)
{
    body[0] = 0;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    if (cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? code : -(long)rc;
}

static long http_get(const char *url, const char *ca, char *body)
{
    return http_get_as(url, ca, NULL, NULL, body);
}

/* A free port below the kernel's ephemeral range, so that no connection is given it
 * meanwhile; not `avoid`. */
static int low_port(int avoid)
{
    for (int i = 0; i < 1000; i++) {
        int port = 20000 + (int)((getpid() * 7919 + i * 104729) % 10000);
        if (port == avoid)
            continue;
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

TEST(http_ports_speak_https)
{
    th_fresh_home();
    tf_fleet f;
    memset(&f, 0, sizeof f);
    tf_make_certs(&f);
    /* a client certificate from another CA, which the server does not trust */
    char other_ca[400], other_cert[400], other_key[400];
    snprintf(other_ca, sizeof other_ca, "%s/other-ca.pem", th_root);
    snprintf(other_cert, sizeof other_cert, "%s/other-client.pem", th_root);
    snprintf(other_key, sizeof other_key, "%s/other-client.key", th_root);
    tc_ca oca;
    CHECK(tc_ca_make(&oca, "another CA", other_ca));
    CHECK(tc_leaf(&oca, "tether client", NULL, false, other_cert, other_key));
    tc_ca_free(&oca);
    char metrics[32], http[32], url[80];
    int port = low_port(0), hport = low_port(port);
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", port);
    snprintf(http, sizeof http, "127.0.0.1:%d", hport);
    th_server s;
    tp_where lo = {.tls = true};
    th_server_launch_at(&s, &lo,
                        (const char *const[]){"--slots", "cpu.small=1", "--tls", "on", "--tls-cert", f.srv_cert,
                                              "--tls-key", f.srv_key, "--tls-client-ca", f.ca, "--metrics", metrics,
                                              "--http", http, NULL},
                        false);
    static char kbody[65536];
    /* the KServe port: HTTPS with the server's certificate, for clients with a certificate of
     * the server's CA (the HTTP ports open after the wire listener the harness waited for) */
    snprintf(url, sizeof url, "https://127.0.0.1:%d/v2/health/live", hport);
    long code = 0;
    for (double until = th_now_s() + 20; th_now_s() < until; th_sleep_ms(50))
        if ((code = http_get_as(url, f.ca, f.cli_cert, f.cli_key, kbody)) != -(long)CURLE_COULDNT_CONNECT)
            break;
    CHECK_EQ_INT(code, 200);
    /* no client certificate, or one of another CA: refused */
    CHECK_EQ_INT(http_get(url, f.ca, kbody), 403);
    CHECK_STR_CONTAINS(kbody, "none was presented");
    CHECK_EQ_INT(http_get_as(url, f.ca, other_cert, other_key, kbody), 403);
    CHECK_STR_CONTAINS(kbody, "not accepted");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/health/live", hport);
    CHECK(http_get(url, NULL, kbody) != 200);
    /* the metrics port: the same */
    static char body[65536];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", port);
    CHECK_EQ_INT(http_get_as(url, f.ca, f.cli_cert, f.cli_key, body), 200);
    CHECK_STR_CONTAINS(body, "tetherd_slot_attached{slot=\"0\",type=\"cpu.small\"} 0");
    CHECK_EQ_INT(http_get(url, f.ca, body), 403);
    CHECK(strstr(body, "tetherd_slot") == NULL);
    CHECK_EQ_INT(http_get_as(url, f.ca, other_cert, other_key, body), 403);
    /* the wrong CA for the server, or plain HTTP: no metrics */
    CHECK(http_get_as(url, f.cli_cert, f.cli_cert, f.cli_key, body) < 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    CHECK(http_get(url, NULL, body) != 200);
    th_server_stop(&s);
}
#endif

TEST(tls_listener_policy_and_client_certificates)
{
    th_fresh_home();
    tf_fleet f; /* only for its certificates */
    memset(&f, 0, sizeof f);
    tf_make_certs(&f);
    /* a non-loopback listener without certificates does not start */
    th_server s;
    char err[512];
    const char *args[] = {"--peak-gflops", "20", "--slots", "cpu.small=1", NULL};
    tp_where wild = {.host = "0.0.0.0"};
    CHECK(tp_start_at(&s, &wild, TETHERD_PATH, th_root, args, false, "info", err, sizeof err) != 0);
    FILE *lf = fopen(s.log, "r");
    char logtext[4096] = "";
    CHECK(lf != NULL);
    size_t ln = fread(logtext, 1, sizeof logtext - 1, lf);
    logtext[ln] = 0;
    fclose(lf);
    CHECK_STR_CONTAINS(logtext, "needs TLS");
    CHECK_STR_CONTAINS(logtext, "--tls-cert");
    /* --tls on, on loopback, with client certificates required */
    tp_where lo = {.tls = true};
    th_server_launch_at(&s, &lo,
                        (const char *const[]){"--slots", "cpu.small=2", "--tls", "on", "--tls-cert", f.srv_cert,
                                              "--tls-key", f.srv_key, "--tls-client-ca", f.ca, NULL},
                        false);
    CHECK(strncmp(s.endpoint, "tls://", 6) == 0);
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.small", s.endpoint, &a));
    pbw m = th_model_dense(16, 8, 2);
    tether_session *r = th_open(m.buf, m.len, "eia:0", 5000);
    float x[16] = {0.5f, -1};
    tether_outputs *o;
    CHECK_OK(th_run_f32(r, x, 1, 16, &o));
    tether_outputs_free(o);
    tether_session_free(r);
    /* plain TCP to a TLS port: a clear failure, not a hang */
    char plain[80];
    snprintf(plain, sizeof plain, "tcp://%s", s.endpoint + 6);
    tt_attachment b;
    CHECK(tt_attach("cpu.small", plain, &b) != TETHER_OK);
    /* no client certificate: refused */
    unsetenv("TETHER_TLS_CERT");
    unsetenv("TETHER_TLS_KEY");
    CHECK(tt_attach("cpu.small", s.endpoint, &b) != TETHER_OK);
    /* the wrong CA for the server: refused, naming the certificate */
    setenv("TETHER_TLS_CERT", f.cli_cert, 1);
    setenv("TETHER_TLS_KEY", f.cli_key, 1);
    setenv("TETHER_TLS_CA", f.cli_cert, 1); /* not a CA at all */
    CHECK_ERR(tt_attach("cpu.small", s.endpoint, &b), TETHER_ERR_AUTH, "certificate");
    /* files given at attach are recorded and used by later sessions without the environment */
    unsetenv("TETHER_TLS_CA");
    unsetenv("TETHER_TLS_CERT");
    unsetenv("TETHER_TLS_KEY");
    tt_attach_opts ao;
    memset(&ao, 0, sizeof ao);
    ao.server = s.endpoint;
    snprintf(ao.tls.ca, sizeof ao.tls.ca, "%s", f.ca);
    snprintf(ao.tls.cert, sizeof ao.tls.cert, "%s", f.cli_cert);
    snprintf(ao.tls.key, sizeof ao.tls.key, "%s", f.cli_key);
    CHECK_OK(tt_attach_with("cpu.small", &ao, &b));
    CHECK_EQ_INT(b.ordinal, 1);
    r = th_open(m.buf, m.len, "eia:1", 5000);
    CHECK_OK(th_run_f32(r, x, 1, 16, &o));
    tether_outputs_free(o);
    tether_session_free(r);
    th_server_stop(&s);
    ob_free(&m);
}

/* Removes the network namespaces of tests that were killed before cleaning up. */
static void sweep_netns(void)
{
    DIR *d = opendir(th_root);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "netns-", 6) == 0) {
            char path[600];
            snprintf(path, sizeof path, "%s/%s", th_root, e->d_name);
            tn_cleanup_file(path);
        }
    closedir(d);
}

int main(int argc, char **argv)
{
    snprintf(th_root, sizeof th_root, "/tmp/tether-it-XXXXXX");
    if (!mkdtemp(th_root)) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = check_main(argc, argv);
    sweep_netns();
    th_rm_tree(th_root);
    return rc;
}
