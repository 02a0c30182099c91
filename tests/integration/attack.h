/* Helpers for the attack tests (test_attack_*.c): raw protocol calls on live connections
 * (describe as JSON, open, run, frames sent behind the client's back), the server's log and
 * memory, and the hostile models the attacks use. Each attack is reproduced against a real
 * tetherd and the test asserts the secure behaviour. */
#ifndef TT_IT_ATTACK_H
#define TT_IT_ATTACK_H

#include "harness.h"

#include "client/conn.h"
#include "core/hash.h"

#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

static inline tt_endpoint at_ep(const th_server *s)
{
    tt_endpoint ep;
    CHECK_OK(tt_endpoint_parse(s->endpoint, &ep));
    return ep;
}

/* A connection after HELLO, and AUTH as attachment a when a is not NULL. */
static inline tt_rconn *at_conn(const th_server *s, const tt_attachment *a)
{
    tt_endpoint ep = at_ep(s);
    tt_rconn *c;
    if (!a) {
        CHECK_OK(tt_rconn_open(&ep, NULL, NULL, tt_deadline_ms(5000), &c));
        return c;
    }
    uint8_t token[TT_WIRE_TOKEN_LEN];
    CHECK_OK(tt_attachment_token(a, token));
    CHECK_OK(tt_rconn_open(&ep, a->id, token, tt_deadline_ms(5000), &c));
    return c;
}

/* DESCRIBE on c, parsed (cJSON_Delete it). */
static inline cJSON *at_describe(tt_rconn *c)
{
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_reply rep;
    CHECK_OK(tt_rconn_call(c, TT_CMD_DESCRIBE, &w, NULL, 0, 0, tt_deadline_ms(5000), &rep));
    tt_wr_free(&w);
    char *json;
    CHECK_OK(tt_msg_text_decode(tt_reply_data(&rep), rep.len, &json));
    tt_reply_free(&rep);
    cJSON *doc = cJSON_Parse(json);
    free(json);
    CHECK(doc != NULL);
    return doc;
}

/* A number at "a.b" in o (fails the test when missing). */
static inline double at_num(const cJSON *o, const char *obj, const char *key)
{
    const cJSON *p = obj ? cJSON_GetObjectItemCaseSensitive(o, obj) : o;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
    if (!cJSON_IsNumber(v))
        CHECK_FAIL("describe has no number %s%s%s", obj ? obj : "", obj ? "." : "", key);
    return v->valuedouble;
}

/* OPEN the model on c (uploading it first); returns the session handle. */
static inline uint32_t at_open(tt_rconn *c, const pbw *m)
{
    uint8_t hash[TT_WIRE_HASH_LEN];
    tt_sha256(m->buf, m->len, hash);
    tt_reply rep;
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_wr_bytes(&w, hash, sizeof hash);
    struct iovec iov = {(void *)m->buf, m->len};
    CHECK_OK(tt_rconn_call(c, TT_CMD_MODEL_PUT, &w, &iov, 1, m->len, tt_deadline_ms(20000), &rep));
    tt_reply_free(&rep);
    tt_wr_free(&w);
    w = (tt_wr){0};
    tt_wr_frame_begin(&w);
    tt_wr_bytes(&w, hash, sizeof hash);
    CHECK_OK(tt_rconn_call(c, TT_CMD_OPEN, &w, NULL, 0, 0, tt_deadline_ms(20000), &rep));
    tt_wr_free(&w);
    tt_arena ar;
    tt_arena_init(&ar);
    tt_msg_open_reply om;
    CHECK_OK(tt_msg_open_reply_decode(tt_reply_data(&rep), rep.len, &ar, &om));
    tt_arena_free(&ar);
    tt_reply_free(&rep);
    return om.handle;
}

/* A whole RUN frame (header and payload) in one malloc'ed buffer. */
static inline uint8_t *at_run_frame(uint32_t handle, const tether_tensor *t, size_t n, uint32_t req_id, size_t *len)
{
    uint64_t off[8];
    struct iovec iov[1 + 2 * 8];
    CHECK(n <= 8);
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_wr_u32(&w, handle);
    uint64_t payload;
    CHECK_OK(tt_wire_tensors_encode(&w, TT_WIRE_HEADER, t, n, off, &payload));
    tt_wr_frame_end(&w, TT_CMD_RUN, 0, req_id, payload - (w.n - TT_WIRE_HEADER));
    int k = tt_wire_iov_fill(iov, &w, TT_WIRE_HEADER, t, n, off);
    uint8_t *buf = malloc(TT_WIRE_HEADER + payload);
    size_t o = 0;
    for (int i = 0; i < k; i++) {
        memcpy(buf + o, iov[i].iov_base, iov[i].iov_len);
        o += iov[i].iov_len;
    }
    CHECK_EQ_INT(o, TT_WIRE_HEADER + payload);
    tt_wr_free(&w);
    *len = o;
    return buf;
}

/* RUN through the client's call (waits for the reply). */
static inline tt_status at_run(tt_rconn *c, uint32_t handle, const tether_tensor *t, size_t n, int timeout_ms,
                               tt_reply *rep)
{
    size_t len;
    uint8_t *frame = at_run_frame(handle, t, n, 0, &len);
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    struct iovec iov = {frame + TT_WIRE_HEADER, len - TT_WIRE_HEADER};
    tt_status st = tt_rconn_call(c, TT_CMD_RUN, &w, &iov, 1, iov.iov_len, tt_deadline_ms(timeout_ms), rep);
    tt_wr_free(&w);
    free(frame);
    return st;
}

static inline void at_send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        c += k, n -= (size_t)k;
    }
}

static inline int at_raw_connect(const th_server *s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

/* Whether the peer closed fd within timeout_ms (reading and dropping what comes). */
static inline bool at_closed_within(int fd, int timeout_ms)
{
    double until = th_now_s() + timeout_ms / 1e3;
    for (;;) {
        int left = (int)((until - th_now_s()) * 1e3);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        char sink[4096];
        ssize_t k = recv(fd, sink, sizeof sink, 0);
        if (k <= 0)
            return true;
    }
}

/* The server's log as one string (free it). */
static inline char *at_log(const th_server *s)
{
    FILE *f = fopen(s->log, "rb");
    CHECK(f != NULL);
    static const size_t cap = 4 << 20;
    char *buf = malloc(cap + 1);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static inline bool at_log_contains(const th_server *s, const char *needle)
{
    char *log = at_log(s);
    bool yes = strstr(log, needle) != NULL;
    free(log);
    return yes;
}

/* Resident memory of a process, in KiB (-1 when unknown). */
static inline long at_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static inline tether_tensor at_f32(const char *name, int rank, const int64_t *dims, const float *data)
{
    tether_tensor t = {.name = name, .dtype = TETHER_DTYPE_FLOAT, .rank = rank, .data = (void *)data};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t.size = n * sizeof(float);
    return t;
}

static inline tether_tensor at_i64(const char *name, int rank, const int64_t *dims, const int64_t *data)
{
    tether_tensor t = {.name = name, .dtype = TETHER_DTYPE_INT64, .rank = rank, .data = (void *)data};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t.size = n * sizeof(int64_t);
    return t;
}

/* ---- hostile models -------------------------------------------------------------------- */

/* y = Loop(M, cond = true) over v = x (float[1, 1]). M comes from input "n" (int64 scalar)
 * when m_from_input, else is the constant m. An empty body passes (cond, v) through: it runs
 * no node at all. */
static inline pbw at_loop_model(bool m_from_input, int64_t m, bool empty_body)
{
    uint8_t t = 1;
    float one = 1;
    pbw body_in[3] = {ob_input("i", TETHER_DTYPE_INT64, 0, NULL), ob_input("c", TETHER_DTYPE_BOOL, 0, NULL),
                      ob_input("v", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1})};
    pbw body;
    if (empty_body) {
        pbw body_out[2] = {ob_output("c", TETHER_DTYPE_BOOL, 0, NULL),
                           ob_output("v", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1})};
        body = ob_graph("body", 0, NULL, 0, NULL, 3, body_in, 2, body_out);
    } else {
        pbw body_out[2] = {ob_output("c_out", TETHER_DTYPE_BOOL, 0, NULL),
                           ob_output("v_out", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1})};
        pbw one_t = ob_tensor("one", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1}, &one, sizeof one);
        pbw nodes[2] = {ob_node("Identity", 1, (const char *[]){"c"}, 1, (const char *[]){"c_out"}, 0, NULL),
                        ob_node("Add", 2, (const char *[]){"v", "one"}, 1, (const char *[]){"v_out"}, 0, NULL)};
        body = ob_graph("body", 2, nodes, 1, &one_t, 3, body_in, 2, body_out);
    }
    pbw attr = ob_attr_graph("body", &body);
    pbw inits[2] = {ob_tensor("cond", TETHER_DTYPE_BOOL, 0, NULL, &t, sizeof t),
                    ob_tensor("M", TETHER_DTYPE_INT64, 0, NULL, &m, sizeof m)};
    pbw ins[2] = {ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1}), ob_input("n", TETHER_DTYPE_INT64, 0, NULL)};
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1});
    pbw loop = ob_node("Loop", 3, (const char *[]){m_from_input ? "n" : "M", "cond", "x"}, 1, (const char *[]){"y"},
                       1, &attr);
    pbw g = ob_graph("loop", 1, &loop, m_from_input ? 1 : 2, inits, m_from_input ? 2 : 1, ins, 1, &y);
    for (int i = 0; i < 2; i++) {
        ob_free(&inits[i]); /* the ones the graph did not take */
        ob_free(&ins[i]);
    }
    return ob_model(13, &g);
}

#endif
