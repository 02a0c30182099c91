/* Hostile and broken clients — random bytes, lengths past the end, absurd tensor sizes,
 * half-sent frames, idle connections, mutated frames — must leave tetherd alive and
 * serving everyone else correctly. */
#include "harness.h"

#include "client/conn.h"
#include "core/hash.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static int raw_connect(const th_server *s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return; /* the server may close on us: that is allowed */
        c += k, n -= (size_t)k;
    }
}

/* Reads whatever comes until EOF or timeout; returns bytes read, -1 on timeout. */
static long read_until_close(int fd, int timeout_ms, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    double until = th_now_s() + timeout_ms / 1e3;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)((until - th_now_s()) * 1e3);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return -1;
        uint8_t sink[4096];
        ssize_t k = recv(fd, got < cap ? buf + got : sink, got < cap ? cap - got : sizeof sink, 0);
        if (k <= 0)
            return (long)got;
        got += got < cap ? (size_t)k : 0;
    }
}

static size_t frame(uint8_t *out, uint8_t cmd, uint32_t id, const void *payload, uint64_t len, uint64_t claimed_len)
{
    tt_frame_hdr h = {.cmd = cmd, .req_id = id, .len = claimed_len};
    tt_frame_hdr_encode(&h, out);
    memcpy(out + TT_WIRE_HEADER, payload, (size_t)len);
    return TT_WIRE_HEADER + (size_t)len;
}

static size_t hello_frame(uint8_t *out)
{
    tt_wr w = {0};
    tt_msg_hello m = {.magic = TT_WIRE_MAGIC, .version = TT_WIRE_VERSION, .name = "hostile"};
    tt_msg_hello_encode(&w, &m);
    size_t n = frame(out, TT_CMD_HELLO, 1, w.p, w.n, w.n);
    tt_wr_free(&w);
    return n;
}

/* A well-behaved client on its own attachment: every answer right. */
typedef struct good {
    pbw model;
    tether_session *local, *remote;
} good;

static void good_open(good *g)
{
    g->model = th_model_dense(32, 16, 11);
    g->local = th_open(g->model.buf, g->model.len, "cpu", 0);
    g->remote = th_open(g->model.buf, g->model.len, "eia:0", 10000);
}

static void good_check(good *g, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        float x[32];
        uint32_t seed = (uint32_t)i * 7 + 3;
        for (int k = 0; k < 32; k++)
            x[k] = th_randf(&seed);
        tether_outputs *a, *b;
        CHECK_OK(th_run_f32(g->local, x, 1, 32, &a));
        CHECK_OK(th_run_f32(g->remote, x, 1, 32, &b));
        th_check_same_outputs(a, b);
        tether_outputs_free(a);
        tether_outputs_free(b);
    }
}

static void good_close(good *g)
{
    tether_session_free(g->remote);
    tether_session_free(g->local);
    ob_free(&g->model);
}

static const char *const hostile_args[] = {
    "--slots", "cpu.large=2", "--frame-timeout", "1", "--idle-timeout", "1", "--max-conns", "300", NULL};

TEST(garbage_and_truncated_frames)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, hostile_args);
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    good g;
    good_open(&g);
    uint32_t seed = 12345;
    uint8_t buf[70000], reply[4096];
    /* random bytes */
    for (int i = 0; i < 30; i++) {
        int fd = raw_connect(&s);
        size_t n = 1 + th_rand(&seed) % 5000;
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)th_rand(&seed);
        send_all(fd, buf, n);
        shutdown(fd, SHUT_WR);
        CHECK(read_until_close(fd, 5000, reply, sizeof reply) >= 0);
        close(fd);
    }
    good_check(&g, 5);
    /* a header promising more than is sent, then the client goes away */
    for (int i = 0; i < 10; i++) {
        int fd = raw_connect(&s);
        size_t n = hello_frame(buf);
        n += frame(buf + n, TT_CMD_DESCRIBE, 2, "0123456789", 10, 1000 + (uint64_t)i);
        send_all(fd, buf, n);
        close(fd);
    }
    /* a length past any limit, before attaching: an error reply naming the limit */
    int fd = raw_connect(&s);
    size_t n = hello_frame(buf);
    n += frame(buf + n, TT_CMD_RUN, 2, "", 0, (uint64_t)1 << 62);
    send_all(fd, buf, n);
    long got = read_until_close(fd, 5000, reply, sizeof reply);
    CHECK(got > TT_WIRE_HEADER);
    tt_frame_hdr h;
    size_t at = 0;
    bool saw_limit = false;
    while (at + TT_WIRE_HEADER <= (size_t)got && tt_frame_hdr_decode(reply + at, &h) == TT_OK) {
        if (h.status == TETHER_ERR_PROTOCOL) {
            tt_msg_error e;
            CHECK_OK(tt_msg_error_decode(reply + at + TT_WIRE_HEADER, (size_t)h.len, &e));
            CHECK_STR_CONTAINS(e.message, "limit");
            saw_limit = true;
        }
        at += TT_WIRE_HEADER + (size_t)h.len;
    }
    CHECK(saw_limit);
    close(fd);
    /* not HELLO first, wrong magic, wrong version: refused with a reason */
    const struct {
        uint32_t magic;
        uint16_t version;
        const char *why;
    } bad[] = {{0x12345678, TT_WIRE_VERSION, "not a tether HELLO"}, {TT_WIRE_MAGIC, 99, "protocol version 99"}};
    for (size_t i = 0; i < 2; i++) {
        fd = raw_connect(&s);
        tt_wr w = {0};
        tt_msg_hello m = {.magic = bad[i].magic, .version = bad[i].version};
        tt_msg_hello_encode(&w, &m);
        n = frame(buf, TT_CMD_HELLO, 1, w.p, w.n, w.n);
        tt_wr_free(&w);
        send_all(fd, buf, n);
        got = read_until_close(fd, 5000, reply, sizeof reply);
        CHECK(got > TT_WIRE_HEADER);
        CHECK_OK(tt_frame_hdr_decode(reply, &h));
        tt_msg_error e;
        CHECK_OK(tt_msg_error_decode(reply + TT_WIRE_HEADER, (size_t)h.len, &e));
        CHECK_STR_CONTAINS(e.message, bad[i].why);
        close(fd);
    }
    fd = raw_connect(&s);
    n = frame(buf, TT_CMD_PING, 1, "", 0, 0);
    send_all(fd, buf, n);
    got = read_until_close(fd, 5000, reply, sizeof reply);
    CHECK(got > TT_WIRE_HEADER);
    CHECK_OK(tt_frame_hdr_decode(reply, &h));
    CHECK_EQ_INT(h.status, TETHER_ERR_PROTOCOL);
    close(fd);
    good_check(&g, 5);
    CHECK(th_server_alive(&s));
    good_close(&g);
    th_server_stop(&s);
}

/* An attached raw connection with an open session handle, for malformed RUN frames. */
typedef struct attached {
    tt_rconn *c;
    uint32_t handle;
} attached;

static void attach_raw(const th_server *s, const tt_attachment *a, const pbw *m, attached *out)
{
    tt_endpoint ep;
    uint8_t token[32], hash[32];
    CHECK_OK(tt_endpoint_parse(s->endpoint, &ep));
    CHECK_OK(tt_attachment_token(a, token));
    CHECK_OK(tt_rconn_open(&ep, a->id, token, tt_deadline_ms(5000), &out->c));
    tt_sha256(m->buf, m->len, hash);
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_wr_bytes(&w, hash, 32);
    tt_reply rep;
    CHECK_OK(tt_rconn_call(out->c, TT_CMD_OPEN, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep));
    tt_wr_free(&w);
    tt_arena ar;
    tt_arena_init(&ar);
    tt_msg_open_reply om;
    CHECK_OK(tt_msg_open_reply_decode(tt_reply_data(&rep), rep.len, &ar, &om));
    out->handle = om.handle;
    tt_arena_free(&ar);
    tt_reply_free(&rep);
}

/* A RUN frame's payload for one float tensor with the given dims, nbytes and offset. */
static void run_payload(tt_wr *w, uint32_t handle, int rank, const int64_t *dims, uint64_t off, uint64_t nbytes)
{
    tt_wr_frame_begin(w);
    tt_wr_u32(w, handle);
    tt_wr_u32(w, 1);
    tt_wr_str(w, "x");
    tt_wr_u8(w, TETHER_DTYPE_FLOAT);
    tt_wr_u8(w, (uint8_t)rank);
    for (int d = 0; d < rank; d++)
        tt_wr_u64(w, (uint64_t)dims[d]);
    tt_wr_u64(w, off);
    tt_wr_u64(w, nbytes);
}

TEST(absurd_tensors_and_mutated_frames)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, hostile_args);
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    good g;
    good_open(&g); /* uploads the model the raw connection opens */
    attached r;
    attach_raw(&s, &a, &g.model, &r);
    tt_reply rep;
    const struct {
        int rank;
        int64_t dims[8];
        uint64_t off, nbytes;
        const char *why;
    } cases[] = {
        {3, {1ll << 31, 1ll << 31, 1ll << 31}, 64, 128, "overflows"},
        {2, {1, 32}, 64, 1ull << 60, "do not make"},
        {2, {1ll << 40, 1ll << 20}, 64, 1ull << 62, "limit"},
        {2, {-1, 32}, 64, 128, "negative"},
        {9, {1, 1, 1, 1, 1, 1, 1, 1}, 64, 4, "rank 9"},
        {2, {1, 32}, 64, 128, "outside"},         /* data promised past the payload */
        {2, {1, 32}, 3, 128, "unaligned"},        /* misaligned offset */
        {2, {1, 32}, 1ull << 63, 128, "outside"}, /* offset past everything */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tt_wr w = {0};
        run_payload(&w, r.handle, cases[i].rank, cases[i].dims, cases[i].off, cases[i].nbytes);
        tt_wr_zeros(&w, 64);
        CHECK_ERR(tt_rconn_call(r.c, TT_CMD_RUN, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep), TETHER_ERR_PROTOCOL,
                  cases[i].why);
        tt_wr_free(&w);
    }
    /* an unknown handle; a wrong tensor name */
    tt_wr w = {0};
    run_payload(&w, 999, 2, (int64_t[]){1, 32}, 64, 128);
    tt_wr_zeros(&w, 64 + 128 - (w.n - TT_WIRE_HEADER));
    CHECK_ERR(tt_rconn_call(r.c, TT_CMD_RUN, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep), TETHER_ERR_NOT_FOUND,
              "no session handle 999");
    tt_wr_free(&w);
    /* the connection survived every refusal: a correct frame on it still works */
    w = (tt_wr){0};
    run_payload(&w, r.handle, 2, (int64_t[]){1, 32}, 64, 128);
    tt_wr_zeros(&w, 64 + 128 - (w.n - TT_WIRE_HEADER));
    CHECK_OK(tt_rconn_call(r.c, TT_CMD_RUN, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep));
    tt_reply_free(&rep);
    /* mutations of that valid frame, each on a fresh attached connection: any answer or a
     * closed connection is fine; a crash or a hang is not */
    uint8_t *valid = malloc(w.n);
    size_t vn = w.n;
    memcpy(valid, w.p, w.n);
    tt_wr_free(&w);
    tt_rconn_close(r.c);
    uint32_t seed = 777;
    uint8_t *mut = malloc(vn + 64);
    for (int i = 0; i < 150; i++) {
        attached q;
        attach_raw(&s, &a, &g.model, &q);
        memcpy(mut, valid, vn);
        /* the frame header stays valid (except for a length flip now and then) so that
         * the payload decoders are what gets exercised */
        int flips = 1 + (int)(th_rand(&seed) % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (i % 10 == 0 ? 8 : TT_WIRE_HEADER) + th_rand(&seed) % (vn - TT_WIRE_HEADER);
            mut[at] ^= (uint8_t)(1u << (th_rand(&seed) % 8));
        }
        memcpy(mut + 4, &(uint32_t){99}, 4); /* a request id the client does not wait for */
        /* send it behind the client's back on the same socket, then make sure the
         * connection still answers a PING or is closed */
        send_all(tt_rconn_fd(q.c), mut, vn);
        tt_wr p = {0};
        tt_wr_frame_begin(&p);
        tt_status st = tt_rconn_call(q.c, TT_CMD_PING, &p, NULL, 0, 0, tt_deadline_ms(4000), &rep);
        tt_wr_free(&p);
        CHECK(st == TT_OK || st == TETHER_ERR_NETWORK || st == TETHER_ERR_PROTOCOL);
        if (st == TT_OK)
            tt_reply_free(&rep);
        tt_rconn_close(q.c);
    }
    free(mut);
    free(valid);
    good_check(&g, 10);
    CHECK(th_server_alive(&s));
    good_close(&g);
    th_server_stop(&s);
}

TEST(half_sent_frames_and_idle_connections)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, hostile_args);
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    good g;
    good_open(&g);
    uint8_t buf[256], reply[256];
    /* 100 connections that say nothing, 20 that stop halfway through a frame */
    int idle[100], half[20];
    for (int i = 0; i < 100; i++)
        idle[i] = raw_connect(&s);
    for (int i = 0; i < 20; i++) {
        half[i] = raw_connect(&s);
        size_t n = hello_frame(buf);
        send_all(half[i], buf, n / 2);
    }
    /* everyone else is served meanwhile, and promptly */
    double t0 = th_now_s();
    good_check(&g, 20);
    CHECK(th_now_s() - t0 < 5.0);
    /* the server closes them all after its 1 s timeouts */
    for (int i = 0; i < 100; i++) {
        CHECK(read_until_close(idle[i], 5000, reply, sizeof reply) >= 0);
        close(idle[i]);
    }
    for (int i = 0; i < 20; i++) {
        CHECK(read_until_close(half[i], 5000, reply, sizeof reply) >= 0);
        close(half[i]);
    }
    /* past the connection limit: refused with a reason, the others unharmed. Every one of
     * these ends soon: refused at once, or closed by the idle timeout. */
    int many[320], nmany = 0;
    for (; nmany < 320; nmany++)
        many[nmany] = raw_connect(&s);
    int refused = 0;
    for (int i = 0; i < nmany; i++) {
        long got = read_until_close(many[i], 8000, reply, sizeof reply);
        tt_frame_hdr h;
        if (got > TT_WIRE_HEADER && tt_frame_hdr_decode(reply, &h) == TT_OK && h.status == TETHER_ERR_BUSY)
            refused++;
    }
    CHECK(refused >= 15);
    for (int i = 0; i < nmany; i++)
        close(many[i]);
    th_sleep_ms(100);
    good_check(&g, 5);
    CHECK(th_server_alive(&s));
    good_close(&g);
    th_server_stop(&s);
}

/* Hundreds of requests written at once: every one answered, none left waiting for more
 * bytes from the client. */
TEST(pipelined_frames_all_answered)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, hostile_args);
    int fd = raw_connect(&s);
    enum { N = 700 };
    static uint8_t buf[64 + N * TT_WIRE_HEADER], reply[(N + 1) * 64];
    size_t n = hello_frame(buf);
    for (uint32_t i = 0; i < N; i++)
        n += frame(buf + n, TT_CMD_PING, 1000 + i, "", 0, 0);
    send_all(fd, buf, n);
    size_t got = 0;
    int frames = 0;
    uint32_t next = 1000;
    double until = th_now_s() + 10;
    while (frames < N + 1 && th_now_s() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        ssize_t k = recv(fd, reply + got, sizeof reply - got, 0);
        CHECK(k > 0);
        got += (size_t)k;
        size_t at = 0;
        tt_frame_hdr h;
        while (got - at >= TT_WIRE_HEADER && tt_frame_hdr_decode(reply + at, &h) == TT_OK &&
               got - at >= TT_WIRE_HEADER + h.len) {
            CHECK_EQ_INT(h.status, 0);
            if (h.cmd == (TT_CMD_PING | TT_CMD_REPLY))
                CHECK_EQ_INT(h.req_id, next++); /* in order, since the loop answers PING itself */
            at += TT_WIRE_HEADER + (size_t)h.len;
            frames++;
        }
        memmove(reply, reply + at, got - at);
        got -= at;
    }
    CHECK_EQ_INT(frames, N + 1);
    close(fd);
    th_server_stop(&s);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
