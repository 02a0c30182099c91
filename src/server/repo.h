/* The model repository: DIR/NAME/VERSION/model.onnx with an optional DIR/NAME/config
 * ("key = value": the slot type it runs in, instances, batching, API keys). Each loaded
 * version is opened through the model cache, charged to a slot of its type (which is then
 * kept from attachment) and served by name over HTTP (KServe v2) and the native protocol.
 * Requests reach the engine only through the dynamic batcher (batch.h) and the slot
 * scheduler, so the slot's memory quota and compute rate hold for them as for attachments. */
#ifndef TT_SERVER_REPO_H
#define TT_SERVER_REPO_H

#include "core/status.h"
#include "net/wire.h"
#include "tether.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tt_server tt_server;
typedef struct tt_slot tt_slot;
typedef struct tt_model_entry tt_model_entry;
typedef struct tt_infer_req tt_infer_req;

#define TT_REPO_MAX_NAME 128 /* model names: [A-Za-z0-9_.-], not starting with '.' */
#define TT_REPO_MAX_KEYS 16  /* API keys per model */
#define TT_REPO_MAX_PREFERRED 8
#define TT_REPO_MAX_MODELS 256 /* loaded versions at once */
#define TT_REPO_MAX_TENANTS 64
#define TT_REPO_LAT_BUCKETS 15
#define TT_REPO_BATCH_BUCKETS 9
#define TT_REPO_RECENT 1024 /* latencies kept for the status page's percentiles */
#define TT_REPO_MAX_CODES 12

#define TT_REPO_MAX_DIMS 16 /* inputs with configured dimensions */

/* "dims.INPUT = d0,d1,...": an input's dimensions (-1 free, > 0 fixed), set on the session. */
typedef struct tt_model_dims {
    char input[TT_REPO_MAX_NAME];
    int rank;
    int64_t dims[TETHER_MAX_RANK];
} tt_model_dims;

typedef struct tt_model_cfg {
    char slot_type[32];  /* "slot": the type of slot it runs in */
    int instances;       /* batches of this model in flight at once */
    int max_batch_size;  /* rows joined along dim 0 (0 or 1: no batching) */
    int64_t max_queue_delay_us;
    int preferred[TT_REPO_MAX_PREFERRED];
    int n_preferred;
    int max_queue;       /* requests waiting for this model; more are refused (BUSY) */
    uint8_t keys[TT_REPO_MAX_KEYS][TT_WIRE_HASH_LEN]; /* SHA-256 of the model's API keys */
    int n_keys;
    bool all_versions;   /* version_policy = all (default: the latest only) */
    tt_model_dims dims[TT_REPO_MAX_DIMS];
    int n_dims;
} tt_model_cfg;

typedef struct tt_histo {
    uint64_t count;
    double sum;
    uint64_t le[TT_REPO_LAT_BUCKETS]; /* non-cumulative; the last is +Inf */
} tt_histo;

typedef enum tt_model_state { TT_MODEL_READY, TT_MODEL_DRAINING } tt_model_state;

typedef struct tt_repo_model {
    char name[TT_REPO_MAX_NAME];
    int64_t version;
    tt_model_cfg cfg;
    tt_model_entry *entry; /* the cache's, retained */
    tt_slot *slot;
    uint64_t slot_gen;     /* the slot's gen when charged: its uncharge names it */
    uint64_t charged;      /* bytes charged to the slot */
    bool batchable;        /* every input and output has a dimension 0 not fixed by the model */
    int64_t loaded_s;

    /* under repo->lock */
    tt_model_state state;
    int refs; /* the repository's (while ready), and each request and batch holding it */
    tt_infer_req *q_head, *q_tail;
    int queued, inflight;
    bool batching_off; /* outputs that could not be split: batching turned off at run time */

    /* counters, under repo->lock */
    uint64_t ok, runs;
    int codes[TT_REPO_MAX_CODES];
    uint64_t code_counts[TT_REPO_MAX_CODES];
    tt_histo h_queue, h_compute, h_total;
    uint64_t batch_le[TT_REPO_BATCH_BUCKETS];
    uint64_t batch_count, batch_rows;
    float recent[TT_REPO_RECENT]; /* the latest total latencies, seconds */
    int n_recent, recent_pos;

    struct tt_repo_model *next;
} tt_repo_model;

/* What became of a model the repository tried to load (for the repository index). */
typedef struct tt_repo_status {
    char name[TT_REPO_MAX_NAME];
    char reason[512]; /* "" when ready */
    bool ready;
} tt_repo_status;

typedef struct tt_repo {
    tt_server *srv;
    char dir[1024];
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the batcher: a request arrived, a batch ended, or stop */
    tt_repo_model *models; /* ready and draining versions */
    int n_models;
    tt_repo_status *status;
    int n_status;
    pthread_mutex_t load_lock; /* one load or unload at a time */
    pthread_t batcher;
    bool batcher_running, stop;
    bool refusing; /* the server drains: new requests are refused, queued ones finish */
    /* tenants' API keys (--api-keys FILE: "NAME SHA256HEX" lines): every model */
    char tenant[TT_REPO_MAX_TENANTS][64];
    uint8_t tenant_key[TT_REPO_MAX_TENANTS][TT_WIRE_HASH_LEN];
    int n_tenants;
    bool any_keys; /* a tenant or a model has a key: requests without one are refused */
} tt_repo;

/* Reads the tenants' keys, loads every model of the repository (when one is configured)
 * and starts the batcher. A model that fails to load is logged and listed, not fatal. */
tt_status tt_repo_start(tt_server *srv);
/* The server drains (SIGTERM): new requests are refused (BUSY), queued ones still run. */
void tt_repo_drain(tt_server *srv);
/* Stops the batcher: requests still queued are answered BUSY. */
void tt_repo_stop(tt_server *srv);
/* Releases every model (after the scheduler stopped). */
void tt_repo_free(tt_server *srv);

/* The ready model `name`, version (<= 0: the latest), retained: NOT_FOUND naming what
 * the repository has. */
tt_status tt_repo_find(tt_repo *r, const char *name, int64_t version, tt_repo_model **out);
void tt_repo_retain(tt_repo *r, tt_repo_model *m);
void tt_repo_release(tt_repo *r, tt_repo_model *m);

/* Whether `key` (the request's API key, may be NULL) may use model m (NULL: any model, as
 * for the repository endpoints: a tenant key). AUTH error when not. */
tt_status tt_repo_authorize(tt_repo *r, const tt_repo_model *m, const char *key);

/* (Re)loads NAME from the repository directory: versions added or changed are opened and
 * served, versions gone or replaced drain (their requests finish) and are freed. Blocks
 * while models open: never call on an I/O thread. */
tt_status tt_repo_load(tt_repo *r, const char *name);
/* Stops serving NAME: new requests are refused, those in flight finish. */
tt_status tt_repo_unload(tt_repo *r, const char *name);

/* Counts a finished request (code: an HTTP status) in m's metrics. */
void tt_repo_count(tt_repo *r, tt_repo_model *m, int code);
/* The repository index as JSON (KServe's repository extension); *out tt_malloc'ed. */
tt_status tt_repo_index_json(tt_repo *r, char **out);
/* Per-model Prometheus text (requests by code, latency and batch-size histograms);
 * *out tt_malloc'ed ("" without a repository). */
tt_status tt_repo_prometheus(tt_repo *r, char **out);

/* Parses a model's config file into cfg (defaults first). */
tt_status tt_model_cfg_load(tt_model_cfg *cfg, const char *path, const char *default_slot);

#endif
