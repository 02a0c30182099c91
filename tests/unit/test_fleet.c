/* fleet/: base64 as etcd's gateway writes it, etcd's gRPC transaction in protobuf (requests
 * byte for byte, replies read and hostile ones refused), the gateway taken when a member does
 * not speak gRPC, fleet records to JSON and back, a view built from key-values, and
 * placement — least loaded, zone, pin, exclusions, the errors that name the type and the
 * fleet — without an etcd (the integration tests have a real one). */
#include "check.h"

#include "core/mem.h"
#include "fleet/etcd.h"
#include "fleet/etcd_pb.h"
#include "fleet/fleet.h"
#include "net/sock.h"

#include <cjson/cJSON.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

TEST(base64_round_trips)
{
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "/tether/slots/srv-1/0"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b, *d;
        size_t n;
        CHECK_OK(tt_base64_encode(cases[i], strlen(cases[i]), &b));
        if (want[i] && strcmp(b, want[i]) != 0)
            CHECK_FAIL("base64('%s') = '%s', expected '%s'", cases[i], b, want[i]);
        CHECK_OK(tt_base64_decode(b, &d, &n));
        CHECK_EQ_INT(n, strlen(cases[i]));
        CHECK(memcmp(d, cases[i], n) == 0 && d[n] == 0);
        tt_free(b);
        tt_free(d);
    }
    char *d;
    size_t n;
    CHECK_ERR(tt_base64_decode("abc", &d, &n), TETHER_ERR_PROTOCOL, "multiple of 4");
    CHECK_ERR(tt_base64_decode("a*c=", &d, &n), TETHER_ERR_PROTOCOL, "malformed");
}

/* ---- etcd's gRPC transaction ----------------------------------------------------------- */

static void check_bytes(const uint8_t *got, size_t n, const uint8_t *want, size_t wn)
{
    if (n != wn || memcmp(got, want, n) != 0) {
        char g[400] = "", w[400] = "";
        for (size_t i = 0; i < n && i < 120; i++)
            snprintf(g + strlen(g), sizeof g - strlen(g), "%02x", got[i]);
        for (size_t i = 0; i < wn && i < 120; i++)
            snprintf(w + strlen(w), sizeof w - strlen(w), "%02x", want[i]);
        CHECK_FAIL("encoded %s, expected %s", g, w);
    }
}

TEST(etcd_grpc_requests_are_etcds_protobuf)
{
    uint8_t *p;
    size_t n;
    /* a serializable read of one prefix, in both branches: RangeRequest {key 1, range_end 2,
     * serializable 7} in RequestOp {request_range 1}, in TxnRequest {success 2, failure 3} */
    const char *pre[] = {"/a/"};
    CHECK_OK(tt_etcd_pb_txn_request(NULL, 0, NULL, 0, pre, 1, true, true, &p, &n));
    static const uint8_t range[] = {0x00, 0x00, 0x00, 0x00, 0x20,                                  /* gRPC: 32 bytes */
                                    0x12, 0x0e, 0x0a, 0x0c, 0x0a, 0x03, '/', 'a', '/', 0x12, 0x03, /* success */
                                    '/', 'a', '0', 0x38, 0x01,                                     /* */
                                    0x1a, 0x0e, 0x0a, 0x0c, 0x0a, 0x03, '/', 'a', '/', 0x12, 0x03, /* failure */
                                    '/', 'a', '0', 0x38, 0x01};
    check_bytes(p, n, range, sizeof range);
    tt_free(p);
    /* a claim: Compare {result EQUAL, target CREATE, key, create_revision 0 (written: a
     * oneof)}, then RequestOp {request_put 2: PutRequest {key, value, lease 300}} */
    tt_etcd_cmp absent = {"k", TT_ETCD_CREATE, 0, false};
    tt_etcd_op put = {.key = "k", .value = "v", .lease = 300};
    CHECK_OK(tt_etcd_pb_txn_request(&absent, 1, &put, 1, NULL, 0, false, false, &p, &n));
    static const uint8_t claim[] = {0x00, 0x00, 0x00, 0x00, 0x18,                                     /* 24 bytes */
                                    0x0a, 0x09, 0x08, 0x00, 0x10, 0x01, 0x1a, 0x01, 'k', 0x28, 0x00, /* compare */
                                    0x12, 0x0b, 0x12, 0x09, 0x0a, 0x01, 'k', 0x12, 0x01, 'v',       /* success */
                                    0x18, 0xac, 0x02};
    check_bytes(p, n, claim, sizeof claim);
    tt_free(p);
    /* a modification compared as GREATER, then a delete (RequestOp {request_delete_range 3}) */
    tt_etcd_cmp newer = {"k", TT_ETCD_MOD, 5, true};
    tt_etcd_op del = {.del = true, .key = "k"};
    CHECK_OK(tt_etcd_pb_txn_request(&newer, 1, &del, 1, NULL, 0, false, false, &p, &n));
    static const uint8_t drop[] = {0x00, 0x00, 0x00, 0x00, 0x12, 0x0a, 0x09, 0x08, 0x01, 0x10, 0x02, 0x1a,
                                   0x01, 'k',  0x30, 0x05, 0x12, 0x05, 0x1a, 0x03, 0x0a, 0x01, 'k'};
    check_bytes(p, n, drop, sizeof drop);
    tt_free(p);
    char longp[600];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    const char *too_long[] = {longp};
    CHECK_ERR(tt_etcd_pb_txn_request(NULL, 0, NULL, 0, too_long, 1, true, true, &p, &n), TETHER_ERR_INVALID_ARGUMENT,
              "too long");
}

/* A protobuf writer of the test's own, for replies. */
typedef struct pw {
    uint8_t b[512];
    size_t n;
} pw;

static void pw_varint(pw *w, uint64_t v)
{
    do {
        w->b[w->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void pw_int(pw *w, unsigned field, uint64_t v)
{
    pw_varint(w, field << 3);
    pw_varint(w, v);
}

static void pw_bytes(pw *w, unsigned field, const void *p, size_t n)
{
    pw_varint(w, field << 3 | 2);
    pw_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void pw_msg(pw *w, unsigned field, const pw *m)
{
    pw_bytes(w, field, m->b, m->n);
}

/* w as a gRPC reply body: the 5-byte prefix, then the message */
static size_t pw_frame(const pw *w, uint8_t *out)
{
    out[0] = 0;
    out[1] = (uint8_t)(w->n >> 24);
    out[2] = (uint8_t)(w->n >> 16);
    out[3] = (uint8_t)(w->n >> 8);
    out[4] = (uint8_t)w->n;
    memcpy(out + 5, w->b, w->n);
    return w->n + 5;
}

static tt_status read_reply(const pw *w, tt_etcd_kvs *kvs, bool *won, int64_t *rev)
{
    uint8_t body[600];
    size_t n = pw_frame(w, body);
    return tt_etcd_pb_txn_reply(body, n, won, rev, kvs);
}

TEST(etcd_grpc_replies_are_read_and_bad_ones_refused)
{
    /* TxnResponse {header {cluster_id, revision 42}, succeeded, responses: a put's (skipped),
     * a range's with two key-values (the second without a value), an unknown fixed32} */
    pw header = {0}, kv1 = {0}, kv2 = {0}, range = {0}, put = {0}, op1 = {0}, op2 = {0}, txn = {0};
    pw_int(&header, 1, 77);
    pw_int(&header, 3, 42);
    pw_bytes(&kv1, 1, "/a/1", 4);
    pw_int(&kv1, 2, 3);
    pw_int(&kv1, 3, 4);
    pw_int(&kv1, 4, 1);
    pw_bytes(&kv1, 5, "x", 1);
    pw_int(&kv1, 6, 7);
    pw_bytes(&kv2, 1, "/a/2", 4);
    pw_msg(&range, 1, &header);
    pw_msg(&range, 2, &kv1);
    pw_msg(&range, 2, &kv2);
    pw_int(&range, 4, 2);
    pw_msg(&put, 1, &header);
    pw_msg(&op1, 2, &put);
    pw_msg(&op2, 1, &range);
    pw_msg(&txn, 1, &header);
    pw_int(&txn, 2, 1);
    pw_msg(&txn, 3, &op1);
    pw_msg(&txn, 3, &op2);
    pw_varint(&txn, 15 << 3 | 5);
    memcpy(txn.b + txn.n, "\x01\x02\x03\x04", 4);
    txn.n += 4;
    tt_etcd_kvs kvs;
    bool won;
    int64_t rev;
    CHECK_OK(read_reply(&txn, &kvs, &won, &rev));
    CHECK(won && rev == 42 && kvs.revision == 42);
    CHECK_EQ_INT((int)kvs.n, 2);
    CHECK(strcmp(kvs.kv[0].key, "/a/1") == 0 && strcmp(kvs.kv[0].value, "x") == 0 && kvs.kv[0].value_len == 1);
    CHECK(kvs.kv[0].create_rev == 3 && kvs.kv[0].mod_rev == 4 && kvs.kv[0].version == 1 && kvs.kv[0].lease == 7);
    CHECK(strcmp(kvs.kv[1].key, "/a/2") == 0 && kvs.kv[1].value && kvs.kv[1].value_len == 0);
    tt_etcd_kvs_free(&kvs);
    /* without a read asked for: the outcome only */
    uint8_t body[600];
    size_t n = pw_frame(&txn, body);
    CHECK_OK(tt_etcd_pb_txn_reply(body, n, &won, &rev, NULL));
    CHECK(won && rev == 42);

    /* every cut of it (its prefix saying so) reads, or is refused, and nothing is left */
    for (size_t cut = 0; cut < txn.n; cut++) {
        pw part = txn;
        part.n = cut;
        tt_status st = read_reply(&part, &kvs, &won, &rev);
        CHECK(st == TETHER_OK || st == TETHER_ERR_PROTOCOL);
        if (st == TETHER_OK)
            tt_etcd_kvs_free(&kvs);
        else
            CHECK(kvs.n == 0 && kvs.kv == NULL);
    }
    tt_error_clear();
    /* the gRPC prefix: short, compressed, or a length that is not the body's */
    CHECK_ERR(tt_etcd_pb_txn_reply(body, 4, &won, &rev, &kvs), TETHER_ERR_PROTOCOL, "short of a message");
    body[0] = 1;
    CHECK_ERR(tt_etcd_pb_txn_reply(body, n, &won, &rev, &kvs), TETHER_ERR_PROTOCOL, "compressed");
    body[0] = 0;
    CHECK_ERR(tt_etcd_pb_txn_reply(body, n - 1, &won, &rev, &kvs), TETHER_ERR_PROTOCOL, "declares");
    /* a varint of eleven bytes; a length past the end; a group; a key-value with no key */
    pw bad = {0};
    bad.b[bad.n++] = 0x10;
    for (int i = 0; i < 10; i++)
        bad.b[bad.n++] = 0xff;
    bad.b[bad.n++] = 0x01;
    CHECK_ERR(read_reply(&bad, &kvs, &won, &rev), TETHER_ERR_PROTOCOL, "malformed");
    bad.n = 0;
    pw_varint(&bad, 3 << 3 | 2);
    pw_varint(&bad, UINT64_MAX >> 1);
    CHECK_ERR(read_reply(&bad, &kvs, &won, &rev), TETHER_ERR_PROTOCOL, "malformed");
    bad.n = 0;
    pw_varint(&bad, 9 << 3 | 3);
    CHECK_ERR(read_reply(&bad, &kvs, &won, &rev), TETHER_ERR_PROTOCOL, "malformed");
    pw nokey = {0}, r2 = {0}, o2 = {0};
    bad.n = 0;
    pw_bytes(&nokey, 5, "x", 1);
    pw_msg(&r2, 2, &nokey);
    pw_msg(&o2, 1, &r2);
    pw_msg(&bad, 3, &o2);
    CHECK_ERR(read_reply(&bad, &kvs, &won, &rev), TETHER_ERR_PROTOCOL, "without a key");
    /* a key given with the wrong wire type */
    pw wt = {0}, r3 = {0}, o3 = {0};
    bad.n = 0;
    pw_int(&wt, 1, 5);
    pw_msg(&r3, 2, &wt);
    pw_msg(&o3, 1, &r3);
    pw_msg(&bad, 3, &o3);
    CHECK_ERR(read_reply(&bad, &kvs, &won, &rev), TETHER_ERR_PROTOCOL, "malformed");
}

/* A member that speaks etcd's JSON gateway over HTTP/1.1 but not gRPC (as a proxy in front of
 * etcd may): it drops HTTP/2 connections and answers every JSON request with one key. When
 * silent, it reads HTTP/2 requests and never answers them (a member that hangs). */
typedef struct fake_member {
    int fd;
    bool silent;
    atomic_int h2, json;
    pthread_t th;
    int held[8], n_held;
} fake_member;

static void *fake_main(void *arg)
{
    fake_member *m = arg;
    for (;;) {
        int c = accept(m->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[8192];
        size_t n = 0;
        ssize_t k;
        char *end = NULL;
        while (n < sizeof req - 1 && (k = read(c, req + n, sizeof req - 1 - n)) > 0) {
            n += (size_t)k;
            req[n] = 0;
            if (n >= 3 && memcmp(req, "PRI", 3) == 0)
                break;
            if ((end = strstr(req, "\r\n\r\n")) != NULL) {
                const char *cl = strstr(req, "Content-Length: ");
                size_t want = (size_t)(end + 4 - req) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
                if (n >= want)
                    break;
            }
        }
        if (n >= 3 && memcmp(req, "PRI", 3) == 0) {
            atomic_fetch_add(&m->h2, 1);
            if (m->silent && m->n_held < 8) {
                m->held[m->n_held++] = c; /* closed by the test, after the join */
                continue;
            }
        } else if (end) {
            atomic_fetch_add(&m->json, 1);
            static const char body[] = "{\"header\":{\"revision\":\"9\"},\"succeeded\":true,\"responses\":[{"
                                       "\"response_range\":{\"kvs\":[{\"key\":\"L2EvMQ==\",\"value\":\"eA==\","
                                       "\"create_revision\":\"3\",\"mod_revision\":\"4\",\"version\":\"1\"}]}}]}";
            char head[200];
            int hn = snprintf(head, sizeof head,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n",
                              strlen(body));
            if (write(c, head, (size_t)hn) < 0 || write(c, body, strlen(body)) < 0)
                perror("fake member");
        }
        close(c);
    }
}

/* Starts m on a loopback port; *e: a gRPC client of it. */
static void fake_start(fake_member *m, tt_etcd **e)
{
    m->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(m->fd >= 0 && bind(m->fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(m->fd, 8) == 0);
    CHECK(getsockname(m->fd, (struct sockaddr *)&a, &al) == 0);
    CHECK(pthread_create(&m->th, NULL, fake_main, m) == 0);
    char url[64];
    snprintf(url, sizeof url, "etcd://127.0.0.1:%d", ntohs(a.sin_port));
    CHECK_OK(tt_etcd_open(url, NULL, e));
    tt_etcd_use_grpc(*e, true);
}

static void fake_stop(fake_member *m, tt_etcd *e)
{
    tt_etcd_pool_drain();
    tt_etcd_close(e);
    tt_etcd_pool_drain();
    shutdown(m->fd, SHUT_RDWR);
    close(m->fd);
    pthread_join(m->th, NULL);
    for (int i = 0; i < m->n_held; i++)
        close(m->held[i]);
}

TEST(etcd_takes_the_gateway_when_a_member_does_not_speak_grpc)
{
    fake_member m = {0};
    tt_etcd *e;
    fake_start(&m, &e);
    uint64_t answers = tt_etcd_grpc_answers();
    const char *pre[] = {"/a/"};
    tt_etcd_kvs kvs;
    for (int i = 1; i <= 2; i++) {
        CHECK_OK(tt_etcd_get_prefixes(e, pre, 1, tt_deadline_ms(5000), &kvs));
        CHECK(kvs.n == 1 && strcmp(kvs.kv[0].key, "/a/1") == 0 && strcmp(kvs.kv[0].value, "x") == 0);
        CHECK(kvs.revision == 9 && kvs.kv[0].mod_rev == 4);
        tt_etcd_kvs_free(&kvs);
        /* gRPC was tried once; after the gateway answered in its place, no more */
        CHECK_EQ_INT(atomic_load(&m.h2), 1);
        CHECK_EQ_INT(atomic_load(&m.json), i);
    }
    bool won;
    tt_etcd_op put = {.key = "/a/1", .value = "y"};
    CHECK_OK(tt_etcd_txn(e, NULL, 0, &put, 1, tt_deadline_ms(5000), &won, NULL));
    CHECK(won);
    CHECK_EQ_INT(atomic_load(&m.h2), 1);
    CHECK_EQ_INT(atomic_load(&m.json), 3);
    CHECK(tt_etcd_grpc_answers() == answers);
    fake_stop(&m, e);
}

TEST(etcd_grpc_that_never_answers_ends_at_the_deadline)
{
    fake_member m = {.silent = true};
    tt_etcd *e;
    fake_start(&m, &e);
    const char *pre[] = {"/a/"};
    tt_etcd_kvs kvs;
    double t0 = (tt_now_ns() / 1e9);
    CHECK_ERR(tt_etcd_get_prefixes(e, pre, 1, tt_deadline_ms(500), &kvs), TETHER_ERR_TIMEOUT,
              "did not answer a transaction in time");
    double took = (tt_now_ns() / 1e9) - t0;
    CHECK(took >= 0.45 && took < 2.0 * CHECK_SLOWDOWN);
    CHECK_EQ_INT(atomic_load(&m.h2), 1);
    CHECK_EQ_INT(atomic_load(&m.json), 0);
    fake_stop(&m, e);
}

TEST(records_round_trip_and_bad_ones_are_refused)
{
    tt_fleet_server s = {.id = "srv-a", .endpoint = "tls://10.0.0.1:7070", .zone = "z1", .device = "cpu",
                         .tls = true, .version = "0.1.0", .slots = 3, .claim_timeout_s = 5};
    char *j = tt_fleet_server_json(&s);
    tt_fleet_server s2;
    CHECK_OK(tt_fleet_server_parse(j, &s2));
    CHECK(strcmp(s2.id, "srv-a") == 0 && strcmp(s2.endpoint, s.endpoint) == 0 && strcmp(s2.zone, "z1") == 0);
    CHECK(s2.tls && s2.slots == 3);
    CHECK_EQ_INT(s2.claim_timeout_s, 5);
    cJSON_free(j);
    /* a record without a claim timeout (or an absurd one) says none */
    CHECK_OK(tt_fleet_server_parse("{\"id\":\"a\",\"endpoint\":\"tcp://h:1\",\"claim_timeout\":1e9}", &s2));
    CHECK_EQ_INT(s2.claim_timeout_s, 0);
    tt_fleet_slot sl = {.server = "srv-a", .index = 2, .type = "eia2.medium", .memory_bytes = 2147483648ull,
                        .tflops = 1, .attached = true, .attachment = "eia-x", .holder = "host1"};
    j = tt_fleet_slot_json(&sl);
    tt_fleet_slot sl2;
    CHECK_OK(tt_fleet_slot_parse(j, &sl2));
    CHECK(sl2.index == 2 && sl2.attached && sl2.memory_bytes == 2147483648ull);
    CHECK(strcmp(sl2.attachment, "eia-x") == 0 && strcmp(sl2.type, "eia2.medium") == 0);
    cJSON_free(j);
    const char *bad[] = {"", "[]", "{\"id\":\"x\"}", "{\"id\":5,\"endpoint\":\"e\"}",
                         "{\"server\":\"s\",\"type\":\"t\",\"state\":\"weird\",\"index\":0}",
                         "{\"server\":\"s\",\"type\":\"t\",\"state\":\"free\",\"index\":-1}",
                         "{\"server\":\"s\",\"type\":\"t\",\"state\":\"free\",\"index\":1e9}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tt_fleet_server x;
        tt_fleet_slot y;
        CHECK(tt_fleet_server_parse(bad[i], &x) != TETHER_OK || i >= 4);
        if (i >= 4)
            CHECK_ERR(tt_fleet_slot_parse(bad[i], &y), TETHER_ERR_PROTOCOL, "malformed slot");
    }
}

/* A synthetic fleet: servers with zones, their slots (type, attached), claims. */
typedef struct kvb {
    tt_etcd_kvs kvs;
    size_t cap;
} kvb;

static void put(kvb *b, const char *key, char *value /* cJSON-allocated */, int64_t lease)
{
    if (b->kvs.n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->kvs.kv = tt_realloc(b->kvs.kv, b->cap * sizeof *b->kvs.kv);
    }
    tt_etcd_kv *kv = &b->kvs.kv[b->kvs.n++];
    memset(kv, 0, sizeof *kv);
    kv->key = tt_strdup(key);
    kv->value = tt_strdup(value);
    kv->value_len = strlen(value);
    kv->mod_rev = (int64_t)b->kvs.n + 10;
    kv->lease = lease;
    cJSON_free(value);
}

/* A server as it publishes itself: its record (with its counts), and per slot its record
 * (unless records is false: what placement reads has none) and, while free, its free key.
 * types: one letter per slot, s = cpu.small, m = cpu.medium; attached: '1' per slot. */
static void add_server_as(kvb *b, const char *id, const char *zone, const char *types, const char *attached,
                          bool records)
{
    tt_fleet_server s = {.slots = (int)strlen(types)};
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.endpoint, sizeof s.endpoint, "tcp://%s.example:7070", id);
    snprintf(s.zone, sizeof s.zone, "%s", zone);
    int small = 0, medium = 0;
    for (int i = 0; types[i]; i++) {
        small += types[i] == 's';
        medium += types[i] == 'm';
        s.attached += attached[i] == '1';
    }
    snprintf(s.types, sizeof s.types, "cpu.small=%d,cpu.medium=%d", small, medium);
    char key[200];
    tt_fleet_slot all[16];
    int n = 0;
    for (int i = 0; types[i] && i < 16; i++, n++) {
        all[i] = (tt_fleet_slot){.index = i, .attached = attached[i] == '1'};
        snprintf(all[i].type, sizeof all[i].type, "%s", types[i] == 's' ? "cpu.small" : "cpu.medium");
    }
    tt_fleet_key_server(key, sizeof key, id);
    put(b, key, tt_fleet_server_json_with_free(&s, all, n), 77);
    for (int i = 0; types[i]; i++) {
        tt_fleet_slot sl = {.index = i, .attached = attached[i] == '1'};
        snprintf(sl.server, sizeof sl.server, "%s", id);
        snprintf(sl.type, sizeof sl.type, "%s", types[i] == 's' ? "cpu.small" : "cpu.medium");
        if (records) {
            tt_fleet_key_slot(key, sizeof key, id, i);
            put(b, key, tt_fleet_slot_json(&sl), 77);
        }
        if (!sl.attached) {
            tt_fleet_key_free(key, sizeof key, sl.type, id, i);
            char *one = malloc(2);
            strcpy(one, "1");
            put(b, key, one, 77);
        }
    }
}

static void add_server(kvb *b, const char *id, const char *zone, const char *types, const char *attached)
{
    add_server_as(b, id, zone, types, attached, true);
}

static void add_claim(kvb *b, const char *id, int index)
{
    char key[200];
    tt_fleet_key_claim(key, sizeof key, id, index);
    char *v = malloc(3);
    strcpy(v, "{}");
    put(b, key, v, 77);
}

static const tt_fleet_slot *chosen(const tt_fleet_view *v, const tt_fleet_want *w, uint32_t seed, int *k)
{
    CHECK_OK(tt_fleet_choose(v, w, seed, NULL, "etcd://f:1", k));
    return &v->slots[*k];
}

TEST(view_counts_and_least_loaded_placement)
{
    kvb b = {0};
    add_server(&b, "a", "z1", "ssss", "1100"); /* half used */
    add_server(&b, "b", "z1", "ssss", "1000"); /* a quarter */
    add_server(&b, "c", "z2", "ssmm", "0000"); /* empty, but a claim on slot 0 */
    add_claim(&b, "c", 0);
    /* a slot whose server has no record is left out; garbage keys are ignored */
    char key[200];
    tt_fleet_slot ghost = {.server = "gone", .index = 0, .type = "cpu.small"};
    tt_fleet_key_slot(key, sizeof key, "gone", 0);
    put(&b, key, tt_fleet_slot_json(&ghost), 5);
    char *junk = malloc(8);
    strcpy(junk, "not{js");
    put(&b, "/tether/slots/a/x", junk, 0);
    tt_fleet_view v;
    CHECK_OK(tt_fleet_view_build(&b.kvs, &v));
    CHECK_EQ_INT(v.n_servers, 3);
    CHECK_EQ_INT(v.n_slots, 12);
    CHECK(v.slots[0].attached && !v.slots[0].free && v.slots[2].free);
    const tt_fleet_server *c = tt_fleet_view_server(&v, "c");
    CHECK(c && c->slots == 4 && c->attached == 0 && c->claimed == 1);
    CHECK_EQ_INT(tt_fleet_view_server(&v, "a")->attached, 2);
    CHECK(v.slots[8].claimed && strcmp(v.slots[8].server, "c") == 0 && v.slots[8].lease == 77);

    tt_fleet_want w = {.type = "cpu.small"};
    int k;
    /* c: 1 of 4 claimed = b's load; ties are broken by the seed, so both appear */
    bool seen_b = false, seen_c = false;
    for (uint32_t seed = 0; seed < 64; seed++) {
        const tt_fleet_slot *s = chosen(&v, &w, seed, &k);
        CHECK(strcmp(s->server, "a") != 0);
        CHECK(!s->attached && !s->claimed);
        seen_b |= strcmp(s->server, "b") == 0;
        seen_c |= strcmp(s->server, "c") == 0;
    }
    CHECK(seen_b && seen_c);
    /* zone, pin (by id and by endpoint), exclusion */
    w.zone = "z2";
    CHECK(strcmp(chosen(&v, &w, 1, &k)->server, "c") == 0);
    CHECK_EQ_INT(v.slots[k].index, 1); /* slot 0 is claimed */
    w.zone = NULL;
    w.server = "a";
    CHECK(strcmp(chosen(&v, &w, 1, &k)->server, "a") == 0);
    w.server = "tcp://b.example:7070";
    CHECK(strcmp(chosen(&v, &w, 1, &k)->server, "b") == 0);
    w.server = NULL;
    const char *ex[] = {"b", "c"};
    w.exclude = ex;
    w.n_exclude = 2;
    CHECK(strcmp(chosen(&v, &w, 1, &k)->server, "a") == 0);
    /* skipped slots (lost races) are not chosen again */
    bool *skip = calloc((size_t)v.n_slots, 1);
    w.n_exclude = 0;
    w.zone = "z2";
    skip[9] = true;
    CHECK_ERR(tt_fleet_choose(&v, &w, 1, skip, "etcd://f:1", &k), TETHER_ERR_BUSY, "no free cpu.small slot");
    free(skip);
    tt_fleet_view_free(&v);
    tt_etcd_kvs_free(&b.kvs);
}

/* What placement reads: server records (with their free lists) and claims; no slot
 * records, no free keys. */
TEST(placement_view_from_free_lists)
{
    kvb b = {0};
    add_server_as(&b, "a", "z1", "ssss", "1110", false); /* 3 of 4 used */
    add_server_as(&b, "b", "z1", "ssmm", "0000", false); /* empty */
    add_claim(&b, "b", 1);
    tt_fleet_view v;
    CHECK_OK(tt_fleet_view_build(&b.kvs, &v));
    CHECK_EQ_INT(v.n_servers, 2);
    CHECK_EQ_INT(v.n_slots, 1 + 4); /* the free ones only */
    const tt_fleet_server *a = tt_fleet_view_server(&v, "a");
    CHECK(a->slots == 4 && a->attached == 3);
    CHECK_EQ_INT(tt_fleet_view_server(&v, "b")->claimed, 1);
    tt_fleet_want w = {.type = "cpu.small"};
    int k;
    for (uint32_t seed = 0; seed < 16; seed++) {
        CHECK_OK(tt_fleet_choose(&v, &w, seed, NULL, "etcd://f:1", &k));
        CHECK(strcmp(v.slots[k].server, "b") == 0 && v.slots[k].index == 0); /* 1 is claimed */
    }
    /* all taken: BUSY, counting the slots of the type from the servers' own lists */
    bool skip[8] = {0};
    for (int i = 0; i < v.n_slots; i++)
        skip[i] = true;
    CHECK_ERR(tt_fleet_choose(&v, &w, 0, skip, "etcd://f:1", &k), TETHER_ERR_BUSY, "all 6 cpu.small slots");
    tt_fleet_view_free(&v);
    tt_etcd_kvs_free(&b.kvs);
}

TEST(no_slot_errors_name_the_type_and_the_fleet)
{
    kvb b = {0};
    add_server(&b, "a", "z1", "ss", "11");
    add_server(&b, "b", "z1", "sm", "1"
                                    "0");
    tt_fleet_view v;
    CHECK_OK(tt_fleet_view_build(&b.kvs, &v));
    int k;
    tt_fleet_want w = {.type = "cpu.small"};
    CHECK_ERR(tt_fleet_choose(&v, &w, 0, NULL, "etcd://10.0.0.9:2379", &k), TETHER_ERR_BUSY,
              "no free cpu.small slot in fleet etcd://10.0.0.9:2379");
    CHECK_STR_CONTAINS(tether_last_error(), "all 3 cpu.small slots on 2 servers");
    w.type = "eia2.xlarge";
    CHECK_ERR(tt_fleet_choose(&v, &w, 0, NULL, "etcd://10.0.0.9:2379", &k), TETHER_ERR_NOT_FOUND,
              "no server offers eia2.xlarge");
    w.type = "cpu.medium";
    w.zone = "z9";
    CHECK_ERR(tt_fleet_choose(&v, &w, 0, NULL, "etcd://10.0.0.9:2379", &k), TETHER_ERR_NOT_FOUND, "in zone z9");
    w.zone = NULL;
    CHECK_OK(tt_fleet_choose(&v, &w, 0, NULL, "etcd://10.0.0.9:2379", &k));
    CHECK(strcmp(v.slots[k].server, "b") == 0 && v.slots[k].index == 1);
    tt_fleet_view_free(&v);
    tt_etcd_kvs_free(&b.kvs);
}

TEST(fleet_addresses_are_checked)
{
    tt_etcd *e;
    CHECK_ERR(tt_etcd_open("", NULL, &e), TETHER_ERR_INVALID_ARGUMENT, "etcd://");
    CHECK_ERR(tt_etcd_open("etcd://", NULL, &e), TETHER_ERR_INVALID_ARGUMENT, "names no etcd member");
    CHECK_ERR(tt_etcd_open("etcd://host", NULL, &e), TETHER_ERR_INVALID_ARGUMENT, "'host' is not HOST:PORT");
    CHECK_ERR(tt_etcd_open("etcd://h:1/path", NULL, &e), TETHER_ERR_INVALID_ARGUMENT, "not HOST:PORT");
    CHECK_OK(tt_etcd_open("etcd://h1:2379,h2:2379, h3:2379", NULL, &e));
    CHECK(strcmp(tt_etcd_name(e), "etcd://h1:2379,h2:2379, h3:2379") == 0);
    tt_etcd_close(e);
    CHECK_OK(tt_etcd_open("https://h1:2379", NULL, &e));
    tt_etcd_close(e);
    /* nothing listens there: a clear error naming the fleet, within the deadline */
    CHECK_OK(tt_etcd_open("etcd://127.0.0.1:1", NULL, &e));
    tt_etcd_kvs kvs;
    CHECK_ERR(tt_etcd_get_prefix(e, "/tether/", tt_deadline_ms(2000), &kvs), TETHER_ERR_NETWORK,
              "etcd (etcd://127.0.0.1:1) cannot be reached");
    tt_etcd_close(e);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
