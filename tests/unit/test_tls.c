/* net/tls: a client and a server end over a socket pair, with certificates made here —
 * an echo of a megabyte both ways, a server certificate from the wrong CA, a name that
 * does not match, and a client certificate required but missing or from the wrong CA. */
#include "certs.h"
#include "check.h"

#include "net/sock.h"
#include "net/tls.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

static char g_dir[128];

typedef struct pki {
    char ca[256], other_ca[256];
    char srv_cert[256], srv_key[256];
    char cli_cert[256], cli_key[256];
    char bad_cli_cert[256], bad_cli_key[256];
} pki;

static void make_pki(pki *p)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/tether-tls-XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
#define P(f, name) snprintf(p->f, sizeof p->f, "%s/%s", g_dir, name)
    P(ca, "ca.pem");
    P(other_ca, "other-ca.pem");
    P(srv_cert, "srv.pem");
    P(srv_key, "srv.key");
    P(cli_cert, "cli.pem");
    P(cli_key, "cli.key");
    P(bad_cli_cert, "badcli.pem");
    P(bad_cli_key, "badcli.key");
#undef P
    tc_ca ca, other;
    CHECK(tc_ca_make(&ca, "tether test CA", p->ca));
    CHECK(tc_ca_make(&other, "another CA", p->other_ca));
    CHECK(tc_leaf(&ca, "server", "IP:127.0.0.1,DNS:localhost", true, p->srv_cert, p->srv_key));
    CHECK(tc_leaf(&ca, "client", NULL, false, p->cli_cert, p->cli_key));
    CHECK(tc_leaf(&other, "intruder", NULL, false, p->bad_cli_cert, p->bad_cli_key));
    tc_ca_free(&ca);
    tc_ca_free(&other);
}

static void cleanup(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (g_dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
}

#define BIG (1 << 20)

typedef struct client_run {
    tt_tls_ctx *ctx;
    int fd;
    const char *host;
    tether_status connect_st, io_st;
    char msg[1024];
} client_run;

typedef struct writer {
    tt_tls *t;
    unsigned char *out;
    int64_t deadline;
    tether_status st;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    struct iovec iov[2] = {{w->out, 1000}, {w->out + 1000, BIG - 1000}};
    w->st = tt_tls_writev_all(w->t, iov, 2, w->deadline);
    return NULL;
}

/* The client: handshake, then send BIG bytes in two iovecs from one thread while another
 * reads the echo (one reader and one writer at once), and compare. */
static void *client_main(void *arg)
{
    client_run *c = arg;
    tt_tls *t;
    int64_t deadline = tt_deadline_ms(10000);
    c->connect_st = tt_tls_connect(c->ctx, c->fd, c->host, deadline, &t);
    if (c->connect_st != TETHER_OK) {
        snprintf(c->msg, sizeof c->msg, "%s", tether_last_error());
        shutdown(c->fd, SHUT_RDWR);
        return NULL;
    }
    unsigned char *out = malloc(BIG), *in = malloc(BIG);
    for (int i = 0; i < BIG; i++)
        out[i] = (unsigned char)(i * 7 + 3);
    writer w = {.t = t, .out = out, .deadline = deadline};
    pthread_t th;
    pthread_create(&th, NULL, writer_main, &w);
    c->io_st = tt_tls_read_all(t, in, BIG, deadline, NULL);
    pthread_join(th, NULL);
    if (c->io_st == TETHER_OK)
        c->io_st = w.st;
    if (c->io_st == TETHER_OK && memcmp(in, out, BIG) != 0)
        c->io_st = TETHER_ERR_INTERNAL;
    snprintf(c->msg, sizeof c->msg, "%s", c->io_st ? tether_last_error() : "");
    free(out);
    free(in);
    tt_tls_free(t);
    shutdown(c->fd, SHUT_RDWR);
    return NULL;
}

/* The server: echoes what it reads, in the event loop's style (non-blocking steps, the same
 * bytes offered again after EAGAIN). Returns bytes echoed, or -1 (errno set) on error. */
static long serve_echo(tt_tls *t, int fd)
{
    static char buf[65536];
    size_t have = 0, off = 0;
    long echoed = 0;
    for (;;) {
        bool want_other;
        if (off < have) {
            ssize_t k = tt_tls_write(t, buf + off, have - off, &want_other);
            if (k > 0) {
                off += (size_t)k;
                echoed += k;
                continue;
            }
            if (errno != EAGAIN)
                return -1;
            struct pollfd p = {fd, (short)(want_other ? POLLIN : POLLOUT), 0};
            poll(&p, 1, 5000);
            continue;
        }
        ssize_t k = tt_tls_read(t, buf, sizeof buf, &want_other);
        if (k > 0) {
            have = (size_t)k;
            off = 0;
            continue;
        }
        if (k == 0)
            return echoed;
        if (errno != EAGAIN)
            return -1;
        struct pollfd p = {fd, (short)(want_other ? POLLOUT : POLLIN), 0};
        if (poll(&p, 1, 5000) == 0)
            return echoed; /* the client gave up */
    }
}

typedef struct outcome {
    client_run c;
    long echoed;
    int server_errno;
    char server_msg[1024];
} outcome;

static void run_pair(const tt_tls_files *srv, const tt_tls_files *cli, const char *host, outcome *o)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    tt_tls_ctx *sctx, *cctx;
    CHECK_OK(tt_tls_ctx_server(srv, &sctx));
    CHECK_OK(tt_tls_ctx_client(cli, &cctx));
    memset(o, 0, sizeof *o);
    o->c = (client_run){.ctx = cctx, .fd = sv[0], .host = host};
    pthread_t th;
    pthread_create(&th, NULL, client_main, &o->c);
    tt_tls *t;
    CHECK_OK(tt_tls_accept(sctx, sv[1], &t));
    o->echoed = serve_echo(t, sv[1]);
    o->server_errno = o->echoed < 0 ? errno : 0;
    snprintf(o->server_msg, sizeof o->server_msg, "%s", o->echoed < 0 ? tether_last_error() : "");
    shutdown(sv[1], SHUT_RDWR);
    pthread_join(th, NULL);
    tt_tls_free(t);
    tt_tls_ctx_free(sctx);
    tt_tls_ctx_free(cctx);
    close(sv[0]);
    close(sv[1]);
}

static void files(tt_tls_files *f, const char *ca, const char *cert, const char *key)
{
    memset(f, 0, sizeof *f);
    snprintf(f->ca, sizeof f->ca, "%s", ca ? ca : "");
    snprintf(f->cert, sizeof f->cert, "%s", cert ? cert : "");
    snprintf(f->key, sizeof f->key, "%s", key ? key : "");
}

TEST(echo_a_megabyte_both_ways)
{
    pki p;
    make_pki(&p);
    tt_tls_files srv, cli;
    files(&srv, NULL, p.srv_cert, p.srv_key);
    files(&cli, p.ca, NULL, NULL);
    outcome o;
    run_pair(&srv, &cli, "127.0.0.1", &o);
    cleanup();
    if (o.c.connect_st || o.c.io_st)
        CHECK_FAIL("client: %s", o.c.msg);
    CHECK_EQ_INT(o.echoed, BIG);
    /* by name too */
    make_pki(&p);
    files(&srv, NULL, p.srv_cert, p.srv_key);
    files(&cli, p.ca, NULL, NULL);
    run_pair(&srv, &cli, "localhost", &o);
    cleanup();
    CHECK_EQ_INT(o.c.connect_st, TETHER_OK);
    CHECK_EQ_INT(o.echoed, BIG);
}

TEST(server_from_another_ca_is_refused)
{
    pki p;
    make_pki(&p);
    tt_tls_files srv, cli;
    files(&srv, NULL, p.srv_cert, p.srv_key);
    files(&cli, p.other_ca, NULL, NULL);
    outcome o;
    run_pair(&srv, &cli, "127.0.0.1", &o);
    cleanup();
    CHECK_EQ_INT(o.c.connect_st, TETHER_ERR_AUTH);
    CHECK_STR_CONTAINS(o.c.msg, "certificate");
    CHECK(o.echoed <= 0);
}

TEST(name_not_in_the_certificate_is_refused)
{
    pki p;
    make_pki(&p);
    tt_tls_files srv, cli;
    files(&srv, NULL, p.srv_cert, p.srv_key);
    files(&cli, p.ca, NULL, NULL);
    outcome o;
    run_pair(&srv, &cli, "10.9.9.9", &o);
    cleanup();
    CHECK_EQ_INT(o.c.connect_st, TETHER_ERR_AUTH);
    CHECK_STR_CONTAINS(o.c.msg, "10.9.9.9");
}

TEST(client_certificate_required)
{
    pki p;
    make_pki(&p);
    tt_tls_files srv, cli;
    files(&srv, p.ca, p.srv_cert, p.srv_key);
    /* none: the server refuses (in TLS 1.3 the client learns it at its first read) */
    files(&cli, p.ca, NULL, NULL);
    outcome o;
    run_pair(&srv, &cli, "127.0.0.1", &o);
    CHECK(o.c.connect_st != TETHER_OK || o.c.io_st != TETHER_OK);
    CHECK(o.echoed < 0);
    CHECK_EQ_INT(o.server_errno, EPROTO);
    CHECK_STR_CONTAINS(o.server_msg, "certificate");
    /* from another CA: refused, naming why */
    files(&cli, p.ca, p.bad_cli_cert, p.bad_cli_key);
    run_pair(&srv, &cli, "127.0.0.1", &o);
    CHECK(o.echoed < 0);
    CHECK_STR_CONTAINS(o.server_msg, "certificate");
    /* the right one: accepted */
    files(&cli, p.ca, p.cli_cert, p.cli_key);
    run_pair(&srv, &cli, "127.0.0.1", &o);
    cleanup();
    if (o.c.connect_st || o.c.io_st)
        CHECK_FAIL("client: %s", o.c.msg);
    CHECK_EQ_INT(o.echoed, BIG);
}

/* ---- many handshakes on one context at once ------------------------------------------ */

enum { PAR = 6, PAR_ROUNDS = 8 };

typedef struct par_end {
    tt_tls_ctx *ctx;
    int fd;
    pthread_barrier_t *go;
    tether_status st;
    char msg[512];
} par_end;

/* A client: handshake (the server checks its certificate too), one byte out, its echo back. */
static void *par_client(void *arg)
{
    par_end *e = arg;
    int64_t deadline = tt_deadline_ms(20000);
    pthread_barrier_wait(e->go);
    tt_tls *t;
    e->st = tt_tls_connect(e->ctx, e->fd, "127.0.0.1", deadline, &t);
    if (e->st == TETHER_OK) {
        unsigned char b = 42, back = 0;
        struct iovec iov = {&b, 1};
        e->st = tt_tls_writev_all(t, &iov, 1, deadline);
        if (e->st == TETHER_OK)
            e->st = tt_tls_read_all(t, &back, 1, deadline, NULL);
        if (e->st == TETHER_OK && back != 42)
            e->st = TETHER_ERR_INTERNAL;
        tt_tls_free(t);
    }
    snprintf(e->msg, sizeof e->msg, "%s", e->st ? tether_last_error() : "");
    return NULL;
}

/* A server end: handshake and one byte in, echoed. */
static void *par_server(void *arg)
{
    par_end *e = arg;
    pthread_barrier_wait(e->go);
    tt_tls *t;
    e->st = tt_tls_accept(e->ctx, e->fd, &t);
    if (e->st != TETHER_OK)
        return NULL;
    unsigned char b;
    bool other;
    ssize_t k;
    int64_t deadline = tt_deadline_ms(20000);
    while ((k = tt_tls_read(t, &b, 1, &other)) < 0 && errno == EAGAIN && tt_now_ns() < deadline) {
        struct pollfd p = {e->fd, (short)(other ? POLLOUT : POLLIN), 0};
        poll(&p, 1, 100);
    }
    while (k == 1 && (k = tt_tls_write(t, &b, 1, &other)) < 0 && errno == EAGAIN && tt_now_ns() < deadline) {
        struct pollfd p = {e->fd, (short)(other ? POLLIN : POLLOUT), 0};
        poll(&p, 1, 100);
    }
    e->st = k == 1 ? TETHER_OK : TETHER_ERR_INTERNAL;
    snprintf(e->msg, sizeof e->msg, "read/write gave %zd: %s", k, e->st ? tether_last_error() : "");
    tt_tls_free(t);
    return NULL;
}

/* Clients share one context, as tt_tls_ctx_client_shared hands one to every connection of a
 * process, and server ends share another, each handshake on a thread of its own, all
 * released at once; a fresh pair of contexts each round, so that every round's handshakes
 * are the first their certificates see. OpenSSL fills caches in certificates the first time
 * it verifies with them: this is the test that ThreadSanitizer (CI's TSan step) must find
 * free of races. Without TSan it checks that every handshake of the crowd succeeds. */
TEST(many_handshakes_on_one_context_at_once)
{
    pki p;
    make_pki(&p);
    tt_tls_files srv, cli;
    files(&srv, p.ca, p.srv_cert, p.srv_key); /* client certificates required */
    files(&cli, p.ca, p.cli_cert, p.cli_key);
    for (int round = 0; round < PAR_ROUNDS; round++) {
        tt_tls_ctx *sctx, *cctx;
        CHECK_OK(tt_tls_ctx_server(&srv, &sctx));
        CHECK_OK(tt_tls_ctx_client(&cli, &cctx));
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2 * PAR);
        par_end c[PAR], s[PAR];
        pthread_t ct[PAR], st[PAR];
        for (int i = 0; i < PAR; i++) {
            int sv[2];
            CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
            c[i] = (par_end){.ctx = cctx, .fd = sv[0], .go = &go};
            s[i] = (par_end){.ctx = sctx, .fd = sv[1], .go = &go};
            pthread_create(&ct[i], NULL, par_client, &c[i]);
            pthread_create(&st[i], NULL, par_server, &s[i]);
        }
        for (int i = 0; i < PAR; i++) {
            pthread_join(ct[i], NULL);
            pthread_join(st[i], NULL);
            close(c[i].fd);
            close(s[i].fd);
        }
        pthread_barrier_destroy(&go);
        tt_tls_ctx_free(sctx);
        tt_tls_ctx_free(cctx);
        for (int i = 0; i < PAR; i++) {
            if (c[i].st != TETHER_OK)
                CHECK_FAIL("round %d, client %d: %s", round, i, c[i].msg);
            if (s[i].st != TETHER_OK)
                CHECK_FAIL("round %d, server end %d: %s", round, i, s[i].msg);
        }
    }
    cleanup();
}

TEST(bad_files_are_named)
{
    tt_tls_files f;
    tt_tls_ctx *c;
    files(&f, NULL, "/nonexistent/cert.pem", "/nonexistent/key.pem");
    CHECK_ERR(tt_tls_ctx_server(&f, &c), TETHER_ERR_INVALID_ARGUMENT, "/nonexistent/cert.pem");
    files(&f, NULL, NULL, NULL);
    CHECK_ERR(tt_tls_ctx_server(&f, &c), TETHER_ERR_INVALID_ARGUMENT, "--tls-cert");
    files(&f, "/nonexistent/ca.pem", NULL, NULL);
    CHECK_ERR(tt_tls_ctx_client(&f, &c), TETHER_ERR_INVALID_ARGUMENT, "/nonexistent/ca.pem");
    pki p;
    make_pki(&p);
    files(&f, NULL, p.srv_cert, p.cli_key); /* a key of another certificate */
    CHECK_ERR(tt_tls_ctx_server(&f, &c), TETHER_ERR_INVALID_ARGUMENT, "does not match");
    cleanup();
}

TEST(tls_endpoints_parse)
{
    tt_endpoint ep;
    CHECK_OK(tt_endpoint_parse("tls://example.org:7443", &ep));
    CHECK(ep.tls && !ep.is_unix);
    CHECK(strcmp(ep.host, "example.org") == 0 && strcmp(ep.port, "7443") == 0);
    CHECK(strcmp(ep.text, "tls://example.org:7443") == 0);
    CHECK_OK(tt_endpoint_parse("tls://[::1]:9", &ep));
    CHECK(strcmp(ep.text, "tls://[::1]:9") == 0);
    CHECK_OK(tt_endpoint_parse("tcp://h:1", &ep));
    CHECK(!ep.tls);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}
