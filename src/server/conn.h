/* Client connections: frames in (a staging buffer for small frames, the payload's own
 * buffer for large ones, so tensors are read once, into place), replies out (written at
 * once by whichever thread has them; only what the socket would not take is queued, and
 * only then does the loop watch for writability). A connection is freed when the loop and
 * every job holding it have let go. */
#ifndef TT_SERVER_CONN_H
#define TT_SERVER_CONN_H

#include "net/wire.h"
#include "server/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tt_server tt_server;
typedef struct tt_slot tt_slot;
typedef struct tt_model_entry tt_model_entry;
struct iovec;

#define TT_CONN_STAGE 16384

typedef struct tt_outbuf {
    struct tt_outbuf *next;
    size_t len, off;
    uint8_t data[];
} tt_outbuf;

typedef struct tt_conn {
    tt_io io;
    tt_server *srv;
    struct tt_tls *tls; /* NULL on a plain listener; used under lock (net/tls.h) */
    atomic_int refs;
    char peer[80];
    struct tt_conn *prev, *next; /* the server's list (loop thread) */

    /* input: loop thread only */
    uint8_t stage[TT_CONN_STAGE];
    size_t stage_len, stage_off;
    tt_frame_hdr hdr;
    uint8_t *payload; /* a large frame being read in place */
    size_t payload_got;
    int64_t frame_since_ns; /* when the frame now arriving began (0: none) */
    int64_t active_ns;      /* the last complete frame */
    int64_t connected_ns;
    uint64_t skip; /* bytes of a refused frame still to read and drop */
    bool hello;
    bool closed;   /* the loop let go: no more input */
    bool draining; /* a fatal error was sent: discard input until EOF */
    atomic_bool gone; /* closed or its socket failed: work for it may stop (any thread) */

    /* binding to a slot: set by AUTH on the loop thread, read by workers */
    tt_slot *slot;
    uint64_t slot_gen;
    char accel_id[TT_WIRE_MAX_ID + 1]; /* the slot's id when bound: error replies name it */
    atomic_int inflight;

    /* output and session handles: under lock */
    pthread_mutex_t lock;
    bool dead; /* the socket is gone: drop replies */
    unsigned interest;     /* the events the loop watches: no READ while replies pile up */
    bool tls_again;        /* TLS: read again at the next writability (a handshake step that
                            * must write, or bytes left decrypted inside TLS) */
    bool shut_after_flush; /* half-close once the queue is written (after a fatal error) */
    tt_outbuf *out_head, *out_tail;
    size_t out_bytes;      /* queued, counted in the server's buffer budget */
    int64_t write_ns;      /* the queue last moved (or began) */
    tt_model_entry **handles; /* handle h is handles[h - 1]; NULL when closed */
    int *handle_threads;      /* and the thread cap its runs have (0: none) */
    uint32_t n_handles;
    struct tt_repo_model **named; /* repository models by name (named.h) */
    uint32_t n_named;
} tt_conn;

/* Accepts what the listener has (loop thread). */
void tt_conn_accept(tt_loop *l, tt_io *listener, unsigned events);
void tt_conn_retain(tt_conn *c);
void tt_conn_release(tt_conn *c);
/* Loop thread: stop reading and drop the connection (freed once every job is done). */
void tt_conn_close(tt_conn *c, const char *why);
/* Loop thread: a fatal protocol error. Replies with it, then reads and discards input
 * until the peer closes (or a short while passes), so the peer can read the reply. */
void tt_conn_fail(tt_conn *c, uint8_t cmd, uint32_t req_id, tt_status st, const char *msg);
/* Loop thread: like tt_conn_fail without an error: the connection ends once what it was
 * sent has been read (after RELEASE). */
void tt_conn_end(tt_conn *c);
/* Loop thread: close connections idle, unattached, stuck mid-frame or not reading their
 * replies past their timeouts. */
void tt_conn_sweep(tt_server *srv);

/* Any thread: send a complete frame (header included). Written directly when nothing is
 * queued; the rest is copied to the queue, within the server's buffer budget. When it does
 * not fit and nothing of it was sent, returns false (the caller answers with a short error
 * instead), unless `must` (short error replies), which are queued regardless. */
bool tt_conn_send(tt_conn *c, struct iovec *iov, int n, bool must);
/* Any thread: the BUSY error sent instead of a reply of `bytes` that tt_conn_send refused. */
void tt_conn_refuse_reply(tt_conn *c, uint8_t cmd, uint32_t req_id, uint64_t bytes);
/* Any thread: a reply with a payload built in w (which began with tt_wr_frame_begin). */
void tt_conn_reply(tt_conn *c, uint8_t cmd, uint32_t req_id, tt_wr *w);
/* Any thread: an error reply naming the accelerator; the message is tt_last_error()'s
 * when msg is NULL. */
void tt_conn_reply_error(tt_conn *c, uint8_t cmd, uint32_t req_id, tt_status st, const char *msg);

/* Session handles on this connection. */
tt_status tt_conn_handle_add(tt_conn *c, tt_model_entry *m, uint32_t *handle);
/* Caps the threads of the runs on a handle (its client's num_threads; 0: none). */
void tt_conn_handle_set_threads(tt_conn *c, uint32_t handle, int threads);
/* The model behind a handle, retained for the caller (release with tt_cache_release), and
 * the handle's thread cap in *threads (may be NULL). */
tt_model_entry *tt_conn_handle_get(tt_conn *c, uint32_t handle, int *threads);
tt_status tt_conn_handle_close(tt_conn *c, uint32_t handle);

#endif
