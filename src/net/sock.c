/* Sockets for the wire protocol: endpoint parsing, connect with a deadline, listeners,
 * and poll-driven whole-buffer I/O, so that no network wait in tether is unbounded. */
#include "net/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

int64_t tt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t tt_deadline_ms(int timeout_ms)
{
    return timeout_ms <= 0 ? TT_NO_DEADLINE : tt_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Milliseconds left until deadline for poll(): -1 for none, at least 1 while time is left
 * (so that a sub-millisecond remainder still polls once), 0 when past. */
static int poll_ms(int64_t deadline)
{
    if (deadline == TT_NO_DEADLINE)
        return -1;
    int64_t left = deadline - tt_now_ns();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

tt_status tt_endpoint_parse(const char *s, tt_endpoint *ep)
{
    memset(ep, 0, sizeof *ep);
    if (!s || !*s)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                        "empty endpoint: expected HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or unix:PATH");
    if (strncmp(s, "unix:", 5) == 0) {
        const char *path = s + 5;
        if (strncmp(path, "//", 2) == 0)
            path += 2;
        if (!*path || strlen(path) >= sizeof ep->path)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                            "endpoint '%s': the socket path is empty or longer than %zu bytes", s, sizeof ep->path - 1);
        ep->is_unix = true;
        snprintf(ep->path, sizeof ep->path, "%s", path);
        snprintf(ep->text, sizeof ep->text, "unix:%s", ep->path);
        return TT_OK;
    }
    if (strncmp(s, "tcp://", 6) == 0) {
        s += 6;
    } else if (strncmp(s, "tls://", 6) == 0) {
        s += 6;
        ep->tls = true;
    }
    const char *colon;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "endpoint '%s': expected [IPV6]:PORT", s);
        if ((size_t)(close - s - 1) >= sizeof ep->host)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "endpoint '%s': host too long", s);
        memcpy(ep->host, s + 1, (size_t)(close - s - 1));
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "endpoint '%s': expected HOST:PORT", s);
        if ((size_t)(colon - s) >= sizeof ep->host)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "endpoint '%s': host too long", s);
        memcpy(ep->host, s, (size_t)(colon - s));
    }
    const char *port = colon + 1;
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "endpoint '%s': port '%s' is not a number in 0..65535", s, port);
    snprintf(ep->port, sizeof ep->port, "%ld", p);
    bool v6 = strchr(ep->host, ':') != NULL;
    snprintf(ep->text, sizeof ep->text, "%s://%s%s%s:%s", ep->tls ? "tls" : "tcp", v6 ? "[" : "", ep->host,
             v6 ? "]" : "", ep->port);
    return TT_OK;
}

bool tt_endpoint_is_loopback(const tt_endpoint *ep)
{
    if (ep->is_unix || strcmp(ep->host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, ep->host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, ep->host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static tt_status resolve(const tt_endpoint *ep, bool passive, struct addrinfo **res)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
    int rc = getaddrinfo(ep->host[0] ? ep->host : NULL, ep->port, &hints, res);
    if (rc != 0)
        return tt_error(TETHER_ERR_NETWORK, "cannot resolve '%s': %s", ep->host, gai_strerror(rc));
    return TT_OK;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host);
    snprintf(out, n, "%s", host);
}

tt_status tt_endpoint_resolve(const tt_endpoint *ep, char *out, size_t n)
{
    if (ep->is_unix) {
        snprintf(out, n, "%s", ep->path);
        return TT_OK;
    }
    struct addrinfo *res;
    TT_TRY(resolve(ep, false, &res));
    addr_text(res->ai_addr, out, n);
    freeaddrinfo(res);
    return TT_OK;
}

void tt_sock_tune(int fd)
{
    int one = 1;
    /* fail silently on Unix sockets, which have neither option */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

static tt_status connect_one(int family, const struct sockaddr *sa, socklen_t len, const char *what, int64_t deadline,
                             int *out)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tt_error(TETHER_ERR_NETWORK, "socket(): %s", strerror(errno));
    if (connect(fd, sa, len) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            tt_status s = tt_error(TETHER_ERR_NETWORK, "cannot connect to %s: %s", what, strerror(errno));
            close(fd);
            return s;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int rc;
        do
            rc = poll(&p, 1, poll_ms(deadline));
        while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            close(fd);
            return tt_error(TETHER_ERR_TIMEOUT, "connecting to %s timed out", what);
        }
        int err = 0;
        socklen_t el = sizeof err;
        if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
            tt_status s = tt_error(TETHER_ERR_NETWORK, "cannot connect to %s: %s", what, strerror(err ? err : errno));
            close(fd);
            return s;
        }
    }
    tt_sock_tune(fd);
    *out = fd;
    return TT_OK;
}

/* A client notices a dead server, or a cut link, within seconds rather than the kernel's
 * default two hours: keepalive probes after 2 s idle, 1 s apart, and no sent byte left
 * unacknowledged for more than 5 s. */
static void tune_client(int fd)
{
    int idle = 2, intvl = 1, cnt = 3;
    unsigned user_timeout_ms = 5000;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

tt_status tt_sock_connect(const tt_endpoint *ep, int64_t deadline, int *fd)
{
    if (ep->is_unix) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        snprintf(un.sun_path, sizeof un.sun_path, "%s", ep->path);
        return connect_one(AF_UNIX, (struct sockaddr *)&un, sizeof un, ep->text, deadline, fd);
    }
    struct addrinfo *res;
    TT_TRY(resolve(ep, false, &res));
    tt_status s = TETHER_ERR_NETWORK;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        s = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen, ep->text, deadline, fd);
        if (s == TT_OK)
            tune_client(*fd);
        if (s == TT_OK || s == TETHER_ERR_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    return s;
}

tt_status tt_sock_listen(const tt_endpoint *ep, int backlog, int *out, tt_endpoint *bound)
{
    int fd;
    if (ep->is_unix) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        snprintf(un.sun_path, sizeof un.sun_path, "%s", ep->path);
        struct stat st;
        if (lstat(ep->path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                return tt_error(TETHER_ERR_IO, "'%s' exists and is not a socket", ep->path);
            /* a socket file nobody answers on is left over from a previous run */
            int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            bool live = probe >= 0 && connect(probe, (struct sockaddr *)&un, sizeof un) == 0;
            if (probe >= 0)
                close(probe);
            if (live)
                return tt_error(TETHER_ERR_BUSY, "another server is listening on %s", ep->text);
            unlink(ep->path);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return tt_error(TETHER_ERR_NETWORK, "socket(): %s", strerror(errno));
        if (bind(fd, (struct sockaddr *)&un, sizeof un) != 0 || listen(fd, backlog) != 0) {
            tt_status s = tt_error(TETHER_ERR_NETWORK, "cannot listen on %s: %s", ep->text, strerror(errno));
            close(fd);
            return s;
        }
        chmod(ep->path, 0660);
        *bound = *ep;
        *out = fd;
        return TT_OK;
    }
    struct addrinfo *res;
    TT_TRY(resolve(ep, true, &res));
    tt_status s = tt_error(TETHER_ERR_NETWORK, "cannot listen on %s: no address", ep->text);
    fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            s = tt_error(TETHER_ERR_NETWORK, "cannot listen on %s: %s", ep->text, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return s;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    char text[320];
    bool v6 = strchr(ep->host, ':') != NULL;
    snprintf(text, sizeof text, "%s://%s%s%s:%d", ep->tls ? "tls" : "tcp", v6 ? "[" : "",
             ep->host[0] ? ep->host : "0.0.0.0", v6 ? "]" : "", port);
    tt_endpoint_parse(text, bound);
    *out = fd;
    return TT_OK;
}

tt_status tt_sock_wait(int fd, short events, int64_t deadline, const char *what)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int rc = poll(&p, 1, poll_ms(deadline));
        if (rc > 0)
            return TT_OK;
        if (rc == 0)
            return tt_error(TETHER_ERR_TIMEOUT, "timed out %s", what);
        if (errno != EINTR)
            return tt_error(TETHER_ERR_NETWORK, "poll: %s", strerror(errno));
    }
}

void tt_iov_advance(struct iovec **iov, int *n, size_t written)
{
    while (*n > 0 && written >= (*iov)->iov_len) {
        written -= (*iov)->iov_len;
        (*iov)++, (*n)--;
    }
    if (*n > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + written;
        (*iov)->iov_len -= written;
    }
}

tt_status tt_sock_writev_all(int fd, struct iovec *iov, int n, int64_t deadline)
{
    while (n > 0) {
        ssize_t k = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                TT_TRY(tt_sock_wait(fd, POLLOUT, deadline, "sending a request"));
                continue;
            }
            return tt_error(TETHER_ERR_NETWORK, "connection lost while sending: %s", strerror(errno));
        }
        tt_iov_advance(&iov, &n, (size_t)k);
    }
    return TT_OK;
}

tt_status tt_sock_read_all(int fd, void *buf, size_t n, int64_t deadline, size_t *got_out)
{
    size_t got = 0;
    tt_status s = TT_OK;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        if (k == 0) {
            s = tt_error(TETHER_ERR_NETWORK, "connection closed by the server (%zu of %zu bytes received)", got, n);
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s = tt_sock_wait(fd, POLLIN, deadline, "waiting for the server's reply");
            if (s != TT_OK)
                break;
            continue;
        }
        s = tt_error(TETHER_ERR_NETWORK, "connection lost while receiving: %s", strerror(errno));
        break;
    }
    if (got_out)
        *got_out = got;
    return s;
}
