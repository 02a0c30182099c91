/* The model cache, keyed by content (SHA-256): uploaded models are stored once in the state
 * directory (so they survive restarts and a second host skips the upload), and each model in
 * use is opened once — loaded, planned and warmed — and shared by every session and slot
 * that names it. Unused models stay warm up to a bound. */
#ifndef TT_SERVER_CACHE_H
#define TT_SERVER_CACHE_H

#include "core/status.h"
#include "net/wire.h"
#include "tether.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tt_model_entry {
    uint8_t hash[TT_WIRE_HASH_LEN];
    char hex[2 * TT_WIRE_HASH_LEN + 1];
    uint8_t variant[TT_WIRE_HASH_LEN]; /* SHA-256 of the input dims it was opened with; zero: none */
    bool custom;             /* opened with input dims: only an acquire with the same ones shares it */
    int refs;                /* under the cache lock: handles and jobs using it */
    bool loading;            /* being opened by one thread; others wait */
    tether_session *session; /* NULL while loading */
    tether_session_stats stats;
    uint64_t bytes;                           /* weights + planned activations: what a slot is charged */
    atomic_uint_fast64_t last_flops, last_ns; /* the latest run's cost, to estimate the next */
    int64_t idle_since_ns;
    struct tt_model_entry *next;
} tt_model_entry;

typedef struct tt_cache {
    pthread_mutex_t lock;
    pthread_mutex_t put_lock; /* one upload at a time makes room and writes */
    _Atomic uint64_t max_bytes; /* stored models at most (0: no limit); SIGHUP may change it */
    pthread_cond_t loaded;
    char dir[1100]; /* <state-dir>/models */
    tt_model_entry *entries;
    int keep_idle;
    _Atomic uint64_t keep_bytes; /* and their bytes (entries' `bytes`) at most; SIGHUP may change it */
    int run_limit_ms; /* given to every session opened (0: none) */
    char target[32];  /* where models open: the served device ("" or "cpu": this host's CPU) */
    uint64_t device_limit; /* a GPU: device bytes each model's session may hold (the largest quota) */
    pthread_t preloader;
    bool preloading;
    atomic_bool stop_preload;
} tt_cache;

tt_status tt_cache_init(tt_cache *c, const char *state_dir, int keep_idle, int run_limit_ms);
void tt_cache_free(tt_cache *c);
/* Whether the model's bytes are stored. */
bool tt_cache_has(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN]);
/* The stored file's size when opening the model would read it (0 when it is open already,
 * or not stored). */
uint64_t tt_cache_stored_size(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN]);
/* Stores a model after checking that its bytes hash to `hash`. A stored copy that is intact
 * is kept; a damaged one is replaced. With a size limit (max_bytes), the least recently
 * used models nobody has open are deleted to make room; BUSY when the models in use leave
 * none, QUOTA when the model alone is larger than the limit. */
tt_status tt_cache_put(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN], const void *data, size_t n);
/* Deletes least recently used unused models until the stored ones fit max_bytes (at start,
 * and when the limit changes). */
void tt_cache_trim(tt_cache *c);
/* The opened model for hash (opening it on first use, after checking that the stored bytes
 * still hash to it: a damaged copy is deleted and reported as NOT_FOUND, so the client
 * uploads it again); NOT_FOUND when it was never uploaded. Release with tt_cache_release. */
tt_status tt_cache_acquire(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN], tt_model_entry **out);
/* The same, opened with graph inputs' dimensions set (tether_session_config.input_dims): an
 * entry of its own, shared only with acquires that give the same dims (n == 0: the plain one). */
tt_status tt_cache_acquire_dims(tt_cache *c, const uint8_t hash[TT_WIRE_HASH_LEN], const tether_input_dims *dims,
                                size_t n, tt_model_entry **out);
void tt_cache_retain(tt_cache *c, tt_model_entry *e);
void tt_cache_release(tt_cache *c, tt_model_entry *e);
/* Releases, and drops the model from memory at once when nobody else uses it (it was
 * refused: keeping it warm would hold memory for no one). */
void tt_cache_release_drop(tt_cache *c, tt_model_entry *e);
/* At a clean stop: remembers which models were open (warm.txt). At start: opens them
 * again in the background, so the first inference after a restart is not a cold one. */
void tt_cache_save_warm(tt_cache *c);
void tt_cache_preload_start(tt_cache *c);
void tt_cache_preload_stop(tt_cache *c);
/* Drops the longest unused opened models until at most keep_idle of them, holding at most
 * keep_bytes together, stay warm (after each release, and when the limit changes). */
void tt_cache_trim_warm(tt_cache *c);
/* Models stored on disk and opened in memory. */
void tt_cache_counts(tt_cache *c, int *stored, int *open);
/* Opened models nobody uses (kept warm), and the bytes they hold. */
void tt_cache_warm(tt_cache *c, int *n, uint64_t *bytes);

#endif
