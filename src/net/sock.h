/* Transports: endpoint strings ("host:port", "tcp://host:port", "tls://host:port",
 * "unix:/path"), TCP and
 * Unix-socket listen/connect, and whole-buffer reads and writes on non-blocking sockets
 * that never wait past a deadline. */
#ifndef TT_NET_SOCK_H
#define TT_NET_SOCK_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iovec;

typedef struct tt_endpoint {
    bool is_unix;
    bool tls;       /* "tls://": TCP with TLS (net/tls.h) */
    char host[256]; /* TCP: name or address (IPv6 without brackets) */
    char port[16];
    char path[108]; /* Unix socket path */
    char text[300]; /* canonical: "tcp://host:port", "tls://host:port" or "unix:/path" */
} tt_endpoint;

/* Parses "host:port", "tcp://host:port", "tls://host:port", "[v6]:port", "unix:/path" or
 * "unix:path". */
tt_status tt_endpoint_parse(const char *s, tt_endpoint *ep);

/* Whether ep stays on this host: a Unix socket, localhost, 127.0.0.0/8 or ::1. */
bool tt_endpoint_is_loopback(const tt_endpoint *ep);

/* Monotonic clock in nanoseconds, and a deadline timeout_ms from now (<= 0: none). */
int64_t tt_now_ns(void);
int64_t tt_deadline_ms(int timeout_ms);
#define TT_NO_DEADLINE INT64_MAX

/* Resolves a TCP endpoint's host (getaddrinfo); *addr_text gets the first address. */
tt_status tt_endpoint_resolve(const tt_endpoint *ep, char *addr_text, size_t n);
/* Connects (non-blocking, close-on-exec, TCP_NODELAY), waiting at most until deadline. */
tt_status tt_sock_connect(const tt_endpoint *ep, int64_t deadline, int *fd);
/* Listens on ep; TCP port 0 picks a free port. *bound gets the endpoint as bound. A stale
 * Unix socket file is replaced. The fd is non-blocking and close-on-exec. */
tt_status tt_sock_listen(const tt_endpoint *ep, int backlog, int *fd, tt_endpoint *bound);
/* TCP_NODELAY and keepalive on accepted or connected TCP sockets (no-op on Unix sockets). */
void tt_sock_tune(int fd);

/* Waits until fd is ready for events (POLLIN, POLLOUT); TIMEOUT naming `what` past the
 * deadline. */
tt_status tt_sock_wait(int fd, short events, int64_t deadline, const char *what);

/* Drops the first `written` bytes of the n-entry array *iov, as after a short writev or
 * sendmsg: entries written whole are skipped (*iov and *n advance), the next is trimmed. */
void tt_iov_advance(struct iovec **iov, int *n, size_t written);
/* Writes every byte of iov (modified: advanced past what was written) on a non-blocking
 * socket, polling until deadline. NETWORK on a reset or closed peer, TIMEOUT past it. */
tt_status tt_sock_writev_all(int fd, struct iovec *iov, int n, int64_t deadline);
/* Reads exactly n bytes, polling until deadline; NETWORK on EOF (naming how many of the n
 * bytes came), TIMEOUT past the deadline. *got (may be NULL) says how many arrived. */
tt_status tt_sock_read_all(int fd, void *buf, size_t n, int64_t deadline, size_t *got);

#endif
