/* Slots: the device carved into typed accelerators. Each slot may hold one reservation (an
 * attachment: id, token digest, holder, lease), accounts the memory of every model loaded
 * in it against its quota, and keeps the counters `describe` and /metrics report. */
#ifndef TT_SERVER_SLOTS_H
#define TT_SERVER_SLOTS_H

#include "core/catalog.h"
#include "core/status.h"
#include "net/wire.h"
#include "server/keys.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tt_server tt_server;
typedef struct tt_model_entry tt_model_entry;
typedef struct tt_job tt_job;
typedef struct tt_conn tt_conn;

/* A model loaded in a slot, counted once however many sessions use it. */
typedef struct tt_slot_model {
    tt_model_entry *model;
    int users;
    uint64_t bytes;
    struct tt_slot_model *next;
} tt_slot_model;

typedef struct tt_slot_counters {
    uint64_t inferences, errors, flops;
    uint64_t queue_ns, compute_ns;
    uint64_t bytes_in, bytes_out;
} tt_slot_counters;

typedef struct tt_slot {
    int index;
    tt_accel_type type; /* fp32_tflops filled in from the device's peak for cpu.* types */
    double rate;        /* FLOP/s the slot is held to */

    /* reservation: under srv->slots_lock */
    bool reserved;
    char id[TT_WIRE_MAX_ID + 1];
    uint8_t token_digest[TT_WIRE_HASH_LEN];
    char holder[TT_WIRE_MAX_ID + 1];
    char key[TT_KEY_NAME_MAX + 1]; /* the reservation key's name ("" without keys) */
    int64_t created_s, expires_s, saved_expires_s; /* wall clock */
    uint32_t lease_s;
    _Atomic uint64_t gen; /* changes at every reserve and release: stale bindings fail (read
                             without the lock by runs, to stop when their attachment ends) */

    /* memory: under srv->slots_lock */
    uint64_t mem_used;
    int repo_models; /* model repository versions served here: the slot is not attachable */
    tt_slot_model *models;
    _Atomic int64_t run_bytes; /* allocated by the slot's runs and opens now (tt_mem_budget) */

    /* counters and scheduling: under srv->sched_lock */
    tt_slot_counters c;
    tt_job *q_head, *q_tail;
    int queued, running;
    double vtag;       /* fair-share virtual finish tag, in seconds of this slot's rate */
    double ready_at;   /* capped mode: monotonic seconds before which the slot may not start */
    double idle_since; /* monotonic seconds when the slot last ran out of work */
} tt_slot;

/* Builds the slots from the configuration (types resolved, rates from the peak); refuses a
 * type faster than the device unless --overcommit. */
tt_status tt_slots_init(tt_server *srv);
/* The rate a slot can really deliver: its own, at most the device's peak. */
double tt_slot_delivered_rate(const tt_server *srv, const tt_slot *s);
void tt_slots_free(tt_server *srv);

/* Reserves a free slot of `type`: fills the reply (id, token) and persists the state. */
tt_status tt_slots_reserve(tt_server *srv, const tt_msg_reserve *req, tt_msg_slot *reply);
/* Checks an AUTH: the slot holding reservation `id` if the token matches. */
tt_status tt_slots_auth(tt_server *srv, const tt_msg_auth *req, tt_slot **slot, uint64_t *gen, tt_msg_slot *reply);
/* Whether a binding (slot, gen) is still valid; renews the lease. Error: AUTH naming why. */
tt_status tt_slots_check(tt_server *srv, tt_slot *slot, uint64_t gen);
/* Ends a reservation (detach; loop thread): the slot is free again, for a next tenant who
 * finds it as new — no models charged, counters at zero, the old tenant's queued work
 * dropped, its running work stopped and its connections closed (but `keep`, which the
 * caller ends once it has answered). */
tt_status tt_slots_release(tt_server *srv, tt_slot *slot, uint64_t gen, const tt_conn *keep);
/* Frees slots whose lease has expired, as a release does (loop thread); returns how many. */
int tt_slots_expire(tt_server *srv);

/* Charges a model to a slot (once per distinct model) for the attachment `gen`: QUOTA naming
 * both numbers when it does not fit, AUTH when the attachment ended. *used and *quota report
 * the slot's memory after the charge. */
tt_status tt_slots_charge(tt_server *srv, tt_slot *slot, uint64_t gen, tt_model_entry *m, uint64_t *used,
                          uint64_t *quota);
/* Gives a model's charge back; nothing when the attachment `gen` has ended (a release
 * already cleared the slot). */
void tt_slots_uncharge(tt_server *srv, tt_slot *slot, uint64_t gen, tt_model_entry *m);
/* Before a model is read from disk to be opened for a slot: QUOTA when its stored size
 * alone is more than the slot has free (so a model that cannot fit is never loaded). */
tt_status tt_slots_precheck(tt_server *srv, tt_slot *slot, const char *model_hex, uint64_t stored_bytes);
/* Bytes a run or open in the slot may have allocated at once (the slot's runs together):
 * the quota less the models charged, plus `own` (what the model being run was charged for
 * its activations, which the run itself uses). */
int64_t tt_slots_run_allowance(tt_server *srv, tt_slot *slot, uint64_t own);
/* Charges a model version of the model repository to `slot`, which the repository has
 * claimed (repo_models > 0), for `bytes` (a batching model's activations at its largest
 * batch): QUOTA when they do not fit. Given back with tt_slots_uncharge and the slot's gen. */
tt_status tt_slots_charge_bytes(tt_server *srv, tt_slot *slot, tt_model_entry *m, uint64_t bytes, uint64_t *used,
                                uint64_t *quota);

#endif
