/* tetherd: the server object every subsystem shares — configuration, device, slots,
 * scheduler, model cache, connections and listeners. Locks: slots_lock and sched_lock are
 * never held while taking another; a connection's lock may be held while taking the cache
 * lock (to retain a handle's model), never the reverse. Only a connection's own lock is
 * held across a (non-blocking) write to its socket. */
#ifndef TT_SERVER_SERVER_H
#define TT_SERVER_SERVER_H

#include "net/sock.h"
#include "server/cache.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/device.h"
#include "server/fleet_hook.h"
#include "server/http_tls.h"
#include "server/keys.h"
#include "server/loop.h"
#include "server/sched.h"
#include "server/slots.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct tt_listener {
    tt_io io; /* first: the accept handler finds its listener from the io */
    tt_endpoint ep;
    struct tt_tls_ctx *tls; /* TLS on this listener (NULL: plain) */
} tt_listener;

struct tt_server {
    tt_server_config cfg;
    int argc; /* the command line, read again at SIGHUP */
    char **argv;
    tt_keys keys; /* --reserve-keys (loop thread) */
    tt_device dev;
    char id[TT_WIRE_MAX_ID + 1]; /* this server's id, kept in the state directory */
    int64_t started_ns;

    tt_loop *loop;
    tt_listener listeners[2];
    int n_listeners;
    tt_conn *conns; /* loop thread */
    atomic_int n_conns; /* changed by the loop thread; the metrics endpoints read it */
    tt_conn *closing; /* closed this batch: the loop's reference is dropped after it */

    pthread_mutex_t slots_lock;
    tt_slot *slots;
    int n_slots;

    pthread_mutex_t sched_lock;
    struct tt_waiter *waiters; /* one per worker: where it sleeps (sched.c) */
    pthread_t *workers;
    int n_workers;
    tt_job *bg_head, *bg_tail;
    pthread_cond_t bg_cond;
    pthread_t bg_threads[2];
    int n_bg;
    bool sched_stop;
    int running;  /* inferences running, all slots */
    double vtime; /* fair-share virtual time: the tag of the latest dispatch */

    tt_cache cache;
    atomic_uint_fast64_t conns_total, frames_bad, busy_refusals;
    void *metrics_daemon; /* MHD, when --metrics is on */
    tt_http_tls metrics_tls;

    struct tt_tls_ctx *tls_ctx; /* TLS listeners' context (server/fleet_hook.c) */
    struct tt_fleet_pub *fleet; /* registration in a fleet; set under slots_lock */
    struct tt_repo *repo; /* the model repository and batcher (repo.h) */
    void *http;           /* the KServe endpoint (http.c), when --http is on */

    /* every byte held for clients: request payloads (from their header until their job
     * ends) and queued replies, all connections together, bounded by max_buffered */
    atomic_uint_fast64_t buffered;
    uint64_t max_buffered;

    /* stopping: SIGTERM drains (no new work, what runs gets drain_timeout_s), then
     * cancel_all stops what is left */
    atomic_int jobs; /* inference, upload and open jobs alive */
    atomic_bool cancel_all;
    bool draining;
    double drain_until, stop_at; /* monotonic seconds */
};

/* Any thread: reserves n bytes of the server's buffer budget; false (nothing taken) when
 * they do not fit. */
bool tt_buffer_take(tt_server *srv, uint64_t n);
void tt_buffer_give(tt_server *srv, uint64_t n);

/* Seconds on the wall clock (leases), and on the monotonic clock (scheduling). */
int64_t tt_wall_s(void);
double tt_mono_s(void);

/* Dispatches one complete frame (loop thread); takes ownership of payload. */
void tt_request_dispatch(tt_conn *c, const tt_frame_hdr *h, uint8_t *payload);
/* The largest payload accepted for cmd on this connection now. */
uint64_t tt_request_max_len(const tt_conn *c, uint8_t cmd);

#endif
