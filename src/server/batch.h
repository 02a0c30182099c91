/* Dynamic batching for repository models. Requests to one model version queue in the
 * repository; a batcher thread joins those whose inputs agree in everything but dimension 0
 * (dtype, rank and every trailing dimension) along dimension 0, up to max_batch_size rows,
 * once the batch is full, a preferred size is reached or the oldest request has waited
 * max_queue_delay_us, and while fewer than `instances` batches of the model are in flight.
 * The batch runs as one job through the slot scheduler (metered against the model's slot)
 * and its outputs are handed back row ranges. A batch that fails is run again request by
 * request, so a bad request fails alone. Both protocols submit here. */
#ifndef TT_SERVER_BATCH_H
#define TT_SERVER_BATCH_H

#include "core/status.h"
#include "tether.h"

#include <stdint.h>

typedef struct tt_repo tt_repo;
typedef struct tt_repo_model tt_repo_model;

/* One inference request. The submitter owns it and its input data, which must stay valid
 * until done has been called; done is called exactly once, on a worker thread (or on the
 * thread that stops the server), and the request is not touched by the batcher after. */
typedef struct tt_infer_req {
    tt_repo_model *model;  /* retained by the submitter; the batcher adds its own reference */
    tether_tensor *inputs; /* in the model's input order after tt_batch_submit */
    size_t n_inputs;
    int64_t rows;          /* dimension 0 of every input (batchable models), else 0 */
    int64_t enqueued_ns;
    /* st != OK: msg names the error. Otherwise the request's outputs are rows
     * [row0, row0 + rows) of each of out's tensors, whose dimension 0 is total (when
     * rows > 0), or the whole tensors (rows == 0). */
    void (*done)(struct tt_infer_req *r, tt_status st, const char *msg, const tether_outputs *out, int64_t row0,
                 int64_t total);
    void *ud;
    /* filled before done: for metrics */
    uint64_t queue_ns, compute_ns;
    int batch_rows;
    struct tt_infer_req *next;
} tt_infer_req;

/* Checks r's inputs against the model (names, dtypes, ranks, fixed dimensions, a common
 * dimension 0 within max_batch_size), orders them as the model declares them and queues
 * r. On error nothing is queued and done will not be called. */
tt_status tt_batch_submit(tt_repo *repo, tt_infer_req *r);

/* The batcher thread (started and stopped by the repository). */
void *tt_batch_main(void *arg);
/* Answers every queued request with BUSY (the server is stopping); repo->lock held. */
void tt_batch_drain_locked(tt_repo *repo);

#endif
