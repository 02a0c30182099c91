/* TLS for the wire protocol (OpenSSL): contexts built from PEM files, and connections on
 * non-blocking sockets — whole-buffer I/O bounded by a deadline for the client, single
 * non-blocking steps for tetherd's event loop. TLS 1.2 at least; renegotiation off. */
#ifndef TT_NET_TLS_H
#define TT_NET_TLS_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct iovec;

#define TT_TLS_PATH 512

/* Certificate files (PEM). For a client: ca verifies the server ("" = the system's store),
 * cert + key are its own certificate, sent when the server asks ("" = none). For a server:
 * cert + key are required; ca, when set, makes a client certificate signed by it required. */
typedef struct tt_tls_files {
    char ca[TT_TLS_PATH];
    char cert[TT_TLS_PATH];
    char key[TT_TLS_PATH];
} tt_tls_files;

/* Fills the empty fields of f from TETHER_TLS_CA, TETHER_TLS_CERT and TETHER_TLS_KEY. */
void tt_tls_files_from_env(tt_tls_files *f);

typedef struct tt_tls_ctx tt_tls_ctx;

tt_status tt_tls_ctx_server(const tt_tls_files *f, tt_tls_ctx **out);
tt_status tt_tls_ctx_client(const tt_tls_files *f, tt_tls_ctx **out);
void tt_tls_ctx_free(tt_tls_ctx *c);
/* A client context for these files, made once per distinct set and kept for the life of the
 * process (connections are made often; loading certificates each time would cost more). */
tt_status tt_tls_ctx_client_shared(const tt_tls_files *f, tt_tls_ctx **out);

typedef struct tt_tls tt_tls;

/* ---- client: calls safe from several threads (one reader and one writer at a time) ---- */

/* Handshakes on a connected non-blocking socket, checking that the server's certificate
 * names host (a DNS name or an IP address). The fd stays the caller's. */
tt_status tt_tls_connect(tt_tls_ctx *ctx, int fd, const char *host, int64_t deadline, tt_tls **out);
/* As tt_sock_writev_all and tt_sock_read_all, through TLS. */
tt_status tt_tls_writev_all(tt_tls *t, struct iovec *iov, int n, int64_t deadline);
tt_status tt_tls_read_all(tt_tls *t, void *buf, size_t n, int64_t deadline, size_t *got);

/* ---- server: one non-blocking step at a time; the caller serialises calls ---------- */

/* A server-side connection on an accepted socket; the handshake happens in the first reads. */
tt_status tt_tls_accept(tt_tls_ctx *ctx, int fd, tt_tls **out);
/* Returns bytes read (> 0), 0 at the end of the stream, or -1 with errno EAGAIN (wait; when
 * *want_write TLS needs the socket writable first) or EPROTO/ECONNRESET (the message is in
 * tt_last_error()). */
ssize_t tt_tls_read(tt_tls *t, void *buf, size_t n, bool *want_write);
/* Returns bytes written (> 0; may be fewer than n), or -1 with errno as tt_tls_read. After
 * EAGAIN the same bytes must be offered again (at least n of them, from any address). */
ssize_t tt_tls_write(tt_tls *t, const void *buf, size_t n, bool *want_read);
/* Whether decrypted bytes wait inside TLS (a socket poll would not show them). */
bool tt_tls_pending(tt_tls *t);
/* The peer certificate's subject ("" when none), for logs. */
void tt_tls_peer(tt_tls *t, char *out, size_t n);

void tt_tls_free(tt_tls *t);

#endif
