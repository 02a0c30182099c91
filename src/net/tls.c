/* TLS over OpenSSL. The client side serialises every SSL call on a connection with a mutex
 * held only for the call itself (never while polling), since one SSL object must not be
 * entered by a reader and a writer at once; the server side is driven by tetherd's loop,
 * which already serialises each connection. An end of stream without close_notify counts
 * as an ordinary end: frames carry their own lengths, so a cut cannot pass as complete. */
#include "net/tls.h"

#include "core/mem.h"
#include "net/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct tt_tls_ctx {
    SSL_CTX *ctx;
};

struct tt_tls {
    SSL *ssl;
    int fd;
    pthread_mutex_t lock;
};

void tt_tls_files_from_env(tt_tls_files *f)
{
    static const struct {
        const char *var;
        size_t off;
    } vars[] = {{"TETHER_TLS_CA", offsetof(tt_tls_files, ca)},
                {"TETHER_TLS_CERT", offsetof(tt_tls_files, cert)},
                {"TETHER_TLS_KEY", offsetof(tt_tls_files, key)}};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        char *field = (char *)f + vars[i].off;
        const char *v = getenv(vars[i].var);
        if (!field[0] && v && *v)
            snprintf(field, TT_TLS_PATH, "%s", v);
    }
}

/* OpenSSL's queued errors as one line (and the queue emptied). */
static const char *ssl_errors(char *buf, size_t n)
{
    buf[0] = 0;
    size_t o = 0;
    unsigned long e;
    while ((e = ERR_get_error()) != 0 && o + 8 < n) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? "; " : "", one);
    }
    if (!buf[0])
        snprintf(buf, n, "%s", errno ? strerror(errno) : "unknown TLS error");
    return buf;
}

static tt_status ctx_new(bool server, SSL_CTX **out)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        char e[512];
        return tt_error(TETHER_ERR_INTERNAL, "cannot make a TLS context: %s", ssl_errors(e, sizeof e));
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    *out = ctx;
    return TT_OK;
}

static tt_status load_own(SSL_CTX *ctx, const tt_tls_files *f, const char *who)
{
    char e[512];
    if (!f->cert[0] != !f->key[0])
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s TLS: a certificate needs its key and a key its certificate "
                        "(cert '%s', key '%s')", who, f->cert, f->key);
    if (!f->cert[0])
        return TT_OK;
    if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s TLS: cannot load the certificate '%s': %s", who, f->cert,
                        ssl_errors(e, sizeof e));
    if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "%s TLS: cannot load the key '%s', or it does not match the certificate '%s': %s", who, f->key,
                        f->cert, ssl_errors(e, sizeof e));
    if (SSL_CTX_check_private_key(ctx) != 1)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s TLS: the key '%s' does not match the certificate '%s'", who,
                        f->key, f->cert);
    return TT_OK;
}

/* OpenSSL works out a certificate's extensions (key identifiers, CA flag) the first time a
 * verification looks at it, and stores them in the certificate. In OpenSSL 3.0 the check
 * whether that was done is not synchronised with the write, so two handshakes on a shared
 * context, run at once by two threads, race on its certificates: one compares a key
 * identifier that the other is still writing (ThreadSanitizer saw it in concurrent TLS
 * attaches). X509_check_purpose with purpose -1 does only that caching; running it here, on
 * every certificate the context holds, before any thread can reach the context, leaves
 * handshakes only reading them. Certificates that a hashed directory of the system's
 * default paths lends at verification time are not covered; the explicit CA file of a
 * tether deployment, and the system's bundle file, are. */
static void certs_cache(SSL_CTX *ctx)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_OBJECT) *objs = store ? X509_STORE_get0_objects(store) : NULL;
    for (int i = 0; objs && i < sk_X509_OBJECT_num(objs); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        if (x)
            X509_check_purpose(x, -1, 0);
    }
    X509 *own = SSL_CTX_get0_certificate(ctx);
    if (own)
        X509_check_purpose(own, -1, 0);
    STACK_OF(X509) *chain = NULL;
    SSL_CTX_get0_chain_certs(ctx, &chain);
    for (int i = 0; chain && i < sk_X509_num(chain); i++)
        X509_check_purpose(sk_X509_value(chain, i), -1, 0);
    ERR_clear_error();
}

tt_status tt_tls_ctx_server(const tt_tls_files *f, tt_tls_ctx **out)
{
    if (!f->cert[0] || !f->key[0])
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "server TLS needs a certificate and a key (--tls-cert, --tls-key)");
    SSL_CTX *ctx;
    TT_TRY(ctx_new(true, &ctx));
    tt_status st = load_own(ctx, f, "server");
    if (st == TT_OK && f->ca[0]) {
        char e[512];
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "server TLS: cannot load the client CA '%s': %s", f->ca,
                          ssl_errors(e, sizeof e));
            sk_X509_NAME_pop_free(names, X509_NAME_free);
        } else {
            SSL_CTX_set_client_CA_list(ctx, names);
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        }
    }
    tt_tls_ctx *c = st == TT_OK ? tt_calloc(1, sizeof *c) : NULL;
    if (st == TT_OK && !c)
        st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    if (st != TT_OK) {
        SSL_CTX_free(ctx);
        return st;
    }
    certs_cache(ctx);
    c->ctx = ctx;
    *out = c;
    return TT_OK;
}

tt_status tt_tls_ctx_client(const tt_tls_files *f, tt_tls_ctx **out)
{
    SSL_CTX *ctx;
    TT_TRY(ctx_new(false, &ctx));
    char e[512];
    tt_status st = load_own(ctx, f, "client");
    if (st == TT_OK) {
        int ok = f->ca[0] ? SSL_CTX_load_verify_locations(ctx, f->ca, NULL) : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1)
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "client TLS: cannot load the CA '%s': %s",
                          f->ca[0] ? f->ca : "(system default)", ssl_errors(e, sizeof e));
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    tt_tls_ctx *c = st == TT_OK ? tt_calloc(1, sizeof *c) : NULL;
    if (st == TT_OK && !c)
        st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    if (st != TT_OK) {
        SSL_CTX_free(ctx);
        return st;
    }
    certs_cache(ctx);
    c->ctx = ctx;
    *out = c;
    return TT_OK;
}

void tt_tls_ctx_free(tt_tls_ctx *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    tt_free(c);
}

/* Shared client contexts: a short list, searched under a lock. They live until exit. */
typedef struct shared_ctx {
    tt_tls_files files;
    tt_tls_ctx *ctx;
    struct shared_ctx *next;
} shared_ctx;

static pthread_mutex_t g_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_ctx *g_shared;

tt_status tt_tls_ctx_client_shared(const tt_tls_files *f, tt_tls_ctx **out)
{
    pthread_mutex_lock(&g_shared_lock);
    for (shared_ctx *s = g_shared; s; s = s->next)
        if (memcmp(&s->files, f, sizeof *f) == 0) {
            *out = s->ctx;
            pthread_mutex_unlock(&g_shared_lock);
            return TT_OK;
        }
    shared_ctx *s = tt_calloc(1, sizeof *s);
    tt_status st = s ? tt_tls_ctx_client(f, &s->ctx) : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    if (st == TT_OK) {
        s->files = *f;
        s->next = g_shared;
        g_shared = s;
        *out = s->ctx;
    } else {
        tt_free(s);
    }
    pthread_mutex_unlock(&g_shared_lock);
    return st;
}

/* OpenSSL's socket BIO, except that it sends with MSG_NOSIGNAL: a peer gone must be an
 * error return, never a SIGPIPE in an application that did not ask for one. */
static int nosig_write(BIO *b, const char *p, int n)
{
    int fd = -1;
    BIO_get_fd(b, &fd);
    errno = 0;
    ssize_t k = send(fd, p, (size_t)n, MSG_NOSIGNAL);
    BIO_clear_retry_flags(b);
    if (k <= 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)k;
}

static BIO_METHOD *g_bio_method;

static void bio_method_make(void)
{
    const BIO_METHOD *sock = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "tether socket");
    if (!m)
        return;
    BIO_meth_set_write(m, nosig_write);
    BIO_meth_set_read(m, BIO_meth_get_read(sock));
    BIO_meth_set_puts(m, BIO_meth_get_puts(sock));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock));
    BIO_meth_set_create(m, BIO_meth_get_create(sock));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock));
    g_bio_method = m;
}

static tt_status tls_new(tt_tls_ctx *ctx, int fd, tt_tls **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, bio_method_make);
    tt_tls *t = tt_calloc(1, sizeof *t);
    if (!t)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a TLS connection");
    t->ssl = SSL_new(ctx->ctx);
    BIO *bio = t->ssl && g_bio_method ? BIO_new(g_bio_method) : NULL;
    if (bio) {
        BIO_set_fd(bio, fd, BIO_NOCLOSE);
        SSL_set_bio(t->ssl, bio, bio);
    }
    if (!t->ssl || !bio) {
        char e[512];
        tt_status st = tt_error(TETHER_ERR_INTERNAL, "cannot start TLS: %s", ssl_errors(e, sizeof e));
        SSL_free(t->ssl);
        tt_free(t);
        return st;
    }
    t->fd = fd;
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return TT_OK;
}

void tt_tls_free(tt_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    pthread_mutex_destroy(&t->lock);
    tt_free(t);
}

/* ---- client ------------------------------------------------------------------------ */

/* One SSL call under the lock: its result and SSL_get_error's verdict, with the error
 * queue read while it is still this call's. */
typedef struct step {
    int rc, err;
    char why[512];
} step;

static void step_done(tt_tls *t, int rc, step *s)
{
    s->rc = rc;
    s->err = rc > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, rc);
    s->why[0] = 0;
    if (s->err == SSL_ERROR_SSL || s->err == SSL_ERROR_SYSCALL)
        ssl_errors(s->why, sizeof s->why);
}

tt_status tt_tls_connect(tt_tls_ctx *ctx, int fd, const char *host, int64_t deadline, tt_tls **out)
{
    tt_tls *t;
    TT_TRY(tls_new(ctx, fd, &t));
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, host);
    } else {
        SSL_set_tlsext_host_name(t->ssl, host);
        SSL_set1_host(t->ssl, host);
    }
    SSL_set_connect_state(t->ssl);
    tt_status st = TT_OK;
    for (;;) {
        ERR_clear_error();
        int rc = SSL_do_handshake(t->ssl);
        step s;
        step_done(t, rc, &s);
        if (rc == 1)
            break;
        if (s.err == SSL_ERROR_WANT_READ || s.err == SSL_ERROR_WANT_WRITE) {
            st = tt_sock_wait(fd, s.err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, "in the TLS handshake");
            if (st != TT_OK)
                break;
            continue;
        }
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK)
            st = tt_error(TETHER_ERR_AUTH, "TLS: the server's certificate was not accepted for '%s': %s", host,
                          X509_verify_cert_error_string(v));
        else
            st = tt_error(TETHER_ERR_NETWORK, "TLS handshake with '%s' failed: %s", host,
                          s.why[0] ? s.why : "the server closed the connection (does it speak TLS?)");
        break;
    }
    if (st != TT_OK) {
        tt_tls_free(t);
        return st;
    }
    *out = t;
    return TT_OK;
}

/* Waits as a failed step asks; NETWORK for a broken connection. */
static tt_status step_wait(tt_tls *t, const step *s, int64_t deadline, const char *what, const char *verb)
{
    if (s->err == SSL_ERROR_WANT_READ)
        return tt_sock_wait(t->fd, POLLIN, deadline, what);
    if (s->err == SSL_ERROR_WANT_WRITE)
        return tt_sock_wait(t->fd, POLLOUT, deadline, what);
    if (s->err == SSL_ERROR_ZERO_RETURN || (s->err == SSL_ERROR_SYSCALL && !s->why[0]))
        return tt_error(TETHER_ERR_NETWORK, "connection closed by the server while %s", verb);
    return tt_error(TETHER_ERR_NETWORK, "connection lost while %s: TLS: %s", verb, s->why[0] ? s->why : "error");
}

tt_status tt_tls_writev_all(tt_tls *t, struct iovec *iov, int n, int64_t deadline)
{
    /* a small frame (a header and a short payload) goes as one record and one packet */
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    uint8_t small[4096];
    struct iovec one;
    if (n > 1 && total <= sizeof small) {
        size_t o = 0;
        for (int i = 0; i < n; i++) {
            if (iov[i].iov_len)
                memcpy(small + o, iov[i].iov_base, iov[i].iov_len);
            o += iov[i].iov_len;
        }
        one = (struct iovec){small, total};
        iov = &one;
        n = 1;
    }
    while (n > 0) {
        if (iov->iov_len == 0) {
            iov++, n--;
            continue;
        }
        size_t len = iov->iov_len > INT_MAX ? INT_MAX : iov->iov_len;
        pthread_mutex_lock(&t->lock);
        ERR_clear_error();
        step s;
        step_done(t, SSL_write(t->ssl, iov->iov_base, (int)len), &s);
        pthread_mutex_unlock(&t->lock);
        if (s.rc > 0) {
            tt_iov_advance(&iov, &n, (size_t)s.rc);
            continue;
        }
        TT_TRY(step_wait(t, &s, deadline, "sending a request", "sending"));
    }
    return TT_OK;
}

tt_status tt_tls_read_all(tt_tls *t, void *buf, size_t n, int64_t deadline, size_t *got_out)
{
    size_t got = 0;
    tt_status st = TT_OK;
    while (got < n) {
        size_t want = n - got > INT_MAX ? INT_MAX : n - got;
        pthread_mutex_lock(&t->lock);
        ERR_clear_error();
        step s;
        step_done(t, SSL_read(t->ssl, (char *)buf + got, (int)want), &s);
        pthread_mutex_unlock(&t->lock);
        if (s.rc > 0) {
            got += (size_t)s.rc;
            continue;
        }
        if (s.err == SSL_ERROR_ZERO_RETURN || (s.err == SSL_ERROR_SYSCALL && !s.why[0])) {
            st = tt_error(TETHER_ERR_NETWORK, "connection closed by the server (%zu of %zu bytes received)", got, n);
            break;
        }
        st = step_wait(t, &s, deadline, "waiting for the server's reply", "receiving");
        if (st != TT_OK)
            break;
    }
    if (got_out)
        *got_out = got;
    return st;
}

/* ---- server ------------------------------------------------------------------------ */

tt_status tt_tls_accept(tt_tls_ctx *ctx, int fd, tt_tls **out)
{
    TT_TRY(tls_new(ctx, fd, out));
    SSL_set_accept_state((*out)->ssl);
    return TT_OK;
}

/* The errno and message for a step that did not move bytes. */
static ssize_t step_fail(tt_tls *t, const step *s, bool *want_other, int other)
{
    *want_other = false;
    if (s->err == SSL_ERROR_WANT_READ || s->err == SSL_ERROR_WANT_WRITE) {
        *want_other = s->err == other;
        errno = EAGAIN;
        return -1;
    }
    if (s->err == SSL_ERROR_ZERO_RETURN || (s->err == SSL_ERROR_SYSCALL && !s->why[0] && errno == 0))
        return 0;
    if (s->err == SSL_ERROR_SSL) {
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK)
            tt_error(TETHER_ERR_AUTH, "TLS: the client's certificate was refused: %s", X509_verify_cert_error_string(v));
        else
            tt_error(TETHER_ERR_PROTOCOL, "TLS: %s", s->why);
        errno = EPROTO;
    } else {
        tt_error(TETHER_ERR_NETWORK, "TLS: %s", s->why[0] ? s->why : strerror(errno));
        errno = ECONNRESET;
    }
    return -1;
}

ssize_t tt_tls_read(tt_tls *t, void *buf, size_t n, bool *want_write)
{
    ERR_clear_error();
    errno = 0;
    step s;
    step_done(t, SSL_read(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n), &s);
    if (s.rc > 0) {
        *want_write = false;
        return s.rc;
    }
    return step_fail(t, &s, want_write, SSL_ERROR_WANT_WRITE);
}

ssize_t tt_tls_write(tt_tls *t, const void *buf, size_t n, bool *want_read)
{
    ERR_clear_error();
    errno = 0;
    step s;
    step_done(t, SSL_write(t->ssl, buf, n > INT_MAX ? INT_MAX : (int)n), &s);
    if (s.rc > 0) {
        *want_read = false;
        return s.rc;
    }
    ssize_t r = step_fail(t, &s, want_read, SSL_ERROR_WANT_READ);
    if (r == 0) {
        errno = EPIPE;
        r = -1;
    }
    return r;
}

bool tt_tls_pending(tt_tls *t)
{
    return SSL_pending(t->ssl) > 0;
}

void tt_tls_peer(tt_tls *t, char *out, size_t n)
{
    out[0] = 0;
    X509 *x = SSL_get1_peer_certificate(t->ssl);
    if (!x)
        return;
    X509_NAME_oneline(X509_get_subject_name(x), out, (int)n);
    X509_free(x);
}
