/* The scheduler: per-slot queues of inference jobs, a pool of workers that run them through
 * the engine, and the metering that holds each slot to its compute rate. Model uploads and
 * opens run on a separate small pool so they never hold inferences up. */
#ifndef TT_SERVER_SCHED_H
#define TT_SERVER_SCHED_H

#include "core/mem.h"
#include "core/status.h"
#include "net/wire.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tt_server tt_server;
typedef struct tt_conn tt_conn;
typedef struct tt_slot tt_slot;
typedef struct tt_model_entry tt_model_entry;

typedef enum tt_job_kind { TT_JOB_RUN, TT_JOB_OPEN, TT_JOB_PUT } tt_job_kind;

typedef struct tt_job {
    tt_job_kind kind;
    tt_conn *conn; /* retained; NULL for a job with a done hook */
    tt_server *srv;
    uint32_t req_id;
    tt_slot *slot;
    uint64_t slot_gen;
    uint8_t *payload; /* the request's payload, owned (tt_free_aligned) */
    size_t len;
    uint8_t hash[TT_WIRE_HASH_LEN]; /* OPEN, PUT */
    tt_model_entry *model;          /* RUN: retained */
    tt_wire_tensor *tensors;        /* RUN: decoded into arena, data in payload */
    size_t n_tensors;
    tt_arena arena;
    int64_t enqueued_ns;
    double charged; /* seconds of the slot's rate charged at dispatch */
    int threads;    /* OPEN: the handle's thread cap; RUN: the cap its handle was opened with (0: none) */
    /* RUN without a connection (the model repository's batches): called once, on the worker
     * with the run's result, or from tt_job_free with BUSY when the job never ran */
    void (*done)(struct tt_job *j, tt_status st, tether_outputs *out, uint64_t queue_ns, uint64_t compute_ns);
    void *done_ud;
    uint64_t run_own; /* the activations the run's model was charged (0: one request's) */
    struct tt_job *next;
} tt_job;

/* c may be NULL for a job whose result goes to its done hook. */
tt_status tt_job_new(tt_job_kind kind, tt_conn *c, uint32_t req_id, tt_job **out);
void tt_job_free(tt_job *j);

tt_status tt_sched_start(tt_server *srv);
/* Stops the workers: what runs is told to stop (srv->cancel_all), what is queued is refused.
 * Waits wait_s seconds at most; false when a thread is still busy then (the caller must
 * then leave the server's state alone, and exit). */
bool tt_sched_stop(tt_server *srv, double wait_s);
/* Every inference, upload and open runs on a worker or loader thread, never on the loop's. */
void tt_sched_submit(tt_server *srv, tt_job *j);
/* Called by a job's done hook on a worker before long work of its own (a failed batch's
 * requests run again one by one, large outputs encoded): queued work stops waiting for this
 * worker and goes to the next idle one. Does nothing on other threads. */
void tt_sched_long_work(void);
/* A slot's attachment ended: its queued runs are refused, its counters start again from zero
 * and it owes nothing (its running work stops by itself: see the cancellation check). */
void tt_sched_slot_reset(tt_server *srv, tt_slot *s);

#endif
