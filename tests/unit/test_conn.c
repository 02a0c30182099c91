/* The client connection's wait for a reply (client/conn.c) against a scripted server on
 * loopback: a reply that arrives in pieces, or stops after its header (a server stopped
 * while sending), must not hold back the connection's check, and a frame resumed across
 * the check's wake-ups must arrive whole. */
#include "check.h"

#include "client/conn.h"
#include "net/sock.h"
#include "net/wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct script {
    int listen_fd;
    int header_then_ms; /* after the reply's header: pause this long before its payload, -1: never send it */
    int payload_len;
    int served_fd; /* kept open until the test ends (a stopped server keeps its sockets) */
} script;

/* The scripted server's reads and writes, each given 10 s. */
static bool read_n(int fd, void *p, size_t n)
{
    return tt_sock_read_all(fd, p, n, tt_deadline_ms(10000), NULL) == TT_OK;
}

static bool write_n(int fd, const void *p, size_t n)
{
    struct iovec v = {(void *)p, n};
    return tt_sock_writev_all(fd, &v, 1, tt_deadline_ms(10000)) == TT_OK;
}

/* Accepts one connection, reads one request frame, answers it as scripted. */
static void *server_main(void *arg)
{
    script *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    s->served_fd = fd;
    uint8_t hb[TT_WIRE_HEADER];
    tt_frame_hdr h;
    if (fd < 0 || !read_n(fd, hb, sizeof hb) || tt_frame_hdr_decode(hb, &h) != TT_OK)
        return NULL;
    uint8_t body[256];
    if (h.len > sizeof body || !read_n(fd, body, (size_t)h.len))
        return NULL;
    tt_frame_hdr r = {.cmd = (uint8_t)(h.cmd | TT_CMD_REPLY), .req_id = h.req_id, .len = (uint64_t)s->payload_len};
    tt_frame_hdr_encode(&r, hb);
    /* the header and the payload's first byte: the reader has begun the frame */
    uint8_t payload[256];
    for (int i = 0; i < s->payload_len; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    if (!write_n(fd, hb, sizeof hb) || !write_n(fd, payload, 1))
        return NULL;
    if (s->header_then_ms < 0)
        return NULL;
    usleep((useconds_t)s->header_then_ms * 1000);
    write_n(fd, payload + 1, (size_t)s->payload_len - 1);
    return NULL;
}

/* Starts the scripted server and connects to it. */
static tt_rconn *start(script *s, pthread_t *th)
{
    tt_endpoint ep;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(s->listen_fd, 1) == 0);
    CHECK(getsockname(s->listen_fd, (struct sockaddr *)&a, &al) == 0);
    char text[64];
    snprintf(text, sizeof text, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    CHECK_OK(tt_endpoint_parse(text, &ep));
    s->served_fd = -1;
    CHECK(pthread_create(th, NULL, server_main, s) == 0);
    tt_rconn *c;
    CHECK_OK(tt_rconn_connect(&ep, tt_deadline_ms(2000), &c));
    return c;
}

static void finish(script *s, pthread_t th)
{
    pthread_join(th, NULL);
    if (s->served_fd >= 0)
        close(s->served_fd);
    close(s->listen_fd);
}

typedef struct counter {
    atomic_int calls;
    int fail_at; /* the call that reports the server gone (0: never) */
} counter;

static tt_status count_check(void *ud)
{
    counter *k = ud;
    int n = atomic_fetch_add(&k->calls, 1) + 1;
    if (k->fail_at && n >= k->fail_at)
        return tt_error(TETHER_ERR_NETWORK, "the scripted check found the server gone");
    return TT_OK;
}

static tt_status ping(tt_rconn *c, int timeout_ms, tt_reply *rep)
{
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_status st = tt_rconn_call(c, TT_CMD_PING, &w, NULL, 0, 0, tt_deadline_ms(timeout_ms), rep);
    tt_wr_free(&w);
    return st;
}

/* The reply stops after its header and first byte: the check still runs on schedule, and
 * its verdict ends the wait long before the call's own timeout. */
TEST(a_reply_stopped_midway_does_not_hold_back_the_check)
{
    script s = {.header_then_ms = -1, .payload_len = 64};
    pthread_t th;
    tt_rconn *c = start(&s, &th);
    counter k = {.fail_at = 3};
    tt_rconn_set_check(c, count_check, &k, 100, 100);
    double t0 = tt_now_ns() / 1e9;
    tt_reply rep;
    tt_status st = ping(c, 10000, &rep);
    double took = tt_now_ns() / 1e9 - t0;
    CHECK_EQ_INT(st, TETHER_ERR_NETWORK);
    CHECK(strstr(tt_last_error(), "the scripted check found the server gone") != NULL);
    CHECK_EQ_INT(atomic_load(&k.calls), 3);
    CHECK(took >= 0.25 && took < 5.0); /* the call's own timeout is 10 s */
    CHECK(tt_rconn_broken(c));
    tt_rconn_close(c);
    finish(&s, th);
}

/* The payload comes 800 ms after the header: the check runs meanwhile (and passes), and the
 * frame, read across its wake-ups, arrives whole. */
TEST(a_slow_reply_resumes_across_checks_and_arrives_whole)
{
    script s = {.header_then_ms = 800, .payload_len = 200};
    pthread_t th;
    tt_rconn *c = start(&s, &th);
    counter k = {.fail_at = 0};
    tt_rconn_set_check(c, count_check, &k, 100, 100);
    tt_reply rep;
    CHECK_OK(ping(c, 10000, &rep));
    CHECK(atomic_load(&k.calls) >= 2);
    CHECK_EQ_INT(rep.len, 200);
    const uint8_t *d = tt_reply_data(&rep);
    int wrong = 0;
    for (int i = 0; i < 200; i++)
        wrong += d[i] != (uint8_t)(i * 7 + 1);
    CHECK_EQ_INT(wrong, 0);
    tt_reply_free(&rep);
    CHECK(!tt_rconn_broken(c));
    tt_rconn_close(c);
    finish(&s, th);
}

/* A reply stopped midway and no check: the call ends at its own deadline, and the
 * connection, its stream cut inside a frame, is broken. */
TEST(a_reply_stopped_midway_breaks_the_connection_at_the_deadline)
{
    script s = {.header_then_ms = -1, .payload_len = 64};
    pthread_t th;
    tt_rconn *c = start(&s, &th);
    double t0 = tt_now_ns() / 1e9;
    tt_reply rep;
    tt_status st = ping(c, 400, &rep);
    double took = tt_now_ns() / 1e9 - t0;
    CHECK(st == TETHER_ERR_TIMEOUT || st == TETHER_ERR_NETWORK);
    CHECK(took >= 0.35 && took < 5.0);
    CHECK(tt_rconn_broken(c));
    tt_rconn_close(c);
    finish(&s, th);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
