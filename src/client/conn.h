/* A client connection to tetherd: connect, HELLO, AUTH, and calls that may be in flight
 * from several threads at once on one socket. Replies are matched to calls by request id;
 * whichever waiting thread finds the socket free reads for everyone (no reader thread, so
 * a lone caller reads its own reply directly). Every wait is bounded by a deadline. */
#ifndef TT_CLIENT_CONN_H
#define TT_CLIENT_CONN_H

#include "core/tensor.h"
#include "net/sock.h"
#include "net/wire.h"

typedef struct tt_rconn tt_rconn;

/* A reply: its payload sits in a refcounted, aligned buffer so that output tensors can
 * point into it without a copy. */
typedef struct tt_reply {
    tt_frame_hdr h;
    tt_buf *buf; /* NULL when the payload is empty */
    size_t len;
} tt_reply;

static inline const uint8_t *tt_reply_data(const tt_reply *r)
{
    return r->buf ? r->buf->data : (const uint8_t *)"";
}
void tt_reply_free(tt_reply *r);

/* Connect only (and the TLS handshake for a tls:// endpoint, with the certificate files of
 * TETHER_TLS_CA/_CERT/_KEY): doctor checks the steps one by one. */
tt_status tt_rconn_connect(const tt_endpoint *ep, int64_t deadline, tt_rconn **out);
struct tt_tls_files;
/* tt_rconn_connect with certificate files (NULL, or empty fields: from the environment). */
tt_status tt_rconn_connect_tls(const tt_endpoint *ep, const struct tt_tls_files *files, int64_t deadline,
                               tt_rconn **out);
tt_status tt_rconn_hello(tt_rconn *c, int64_t deadline, tt_msg_hello_reply *info);
tt_status tt_rconn_auth(tt_rconn *c, const char *slot_id, const uint8_t token[TT_WIRE_TOKEN_LEN], int64_t deadline,
                        tt_msg_slot *info);
/* connect + HELLO (+ AUTH when slot_id is not NULL). */
tt_status tt_rconn_open(const tt_endpoint *ep, const char *slot_id, const uint8_t *token, int64_t deadline,
                        tt_rconn **out);
/* tt_rconn_open with certificate files for a tls:// endpoint (NULL: from the environment). */
tt_status tt_rconn_open_tls(const tt_endpoint *ep, const struct tt_tls_files *files, const char *slot_id,
                            const uint8_t *token, int64_t deadline, tt_rconn **out);

/* One call. w holds the frame (it began with tt_wr_frame_begin) and is followed on the wire
 * by `extra` (extra_len bytes in n_extra iovecs; may be 0). The header is filled in here.
 * An error reply becomes the call's status, with a message naming the accelerator, the
 * request id and the server's reason. NETWORK: the connection broke (it stays broken). */
tt_status tt_rconn_call(tt_rconn *c, uint8_t cmd, tt_wr *w, struct iovec *extra, int n_extra, uint64_t extra_len,
                        int64_t deadline, tt_reply *rep);
/* Whether the connection has broken (a later call fails at once). */
bool tt_rconn_broken(tt_rconn *c);
/* Names the accelerator in error messages (slot id, else the endpoint). */
void tt_rconn_set_label(tt_rconn *c, const char *label);
void tt_rconn_close(tt_rconn *c);
/* The socket, for tests that must misbehave on a live connection. */
int tt_rconn_fd(const tt_rconn *c);

#endif
