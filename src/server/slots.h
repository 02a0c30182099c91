/* Slots: the device carved into typed accelerators. Each slot may hold one reservation (an
 * attachment: id, token digest, holder, lease), accounts the memory of every model loaded
 * in it against its quota, and keeps the counters `describe` and /metrics report. */
#ifndef TT_SERVER_SLOTS_H
#define TT_SERVER_SLOTS_H

#include "core/catalog.h"
#include "core/status.h"
#include "net/wire.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tt_server tt_server;
typedef struct tt_model_entry tt_model_entry;
typedef struct tt_job tt_job;

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
    int64_t created_s, expires_s, saved_expires_s; /* wall clock */
    uint32_t lease_s;
    uint64_t gen; /* changes at every reserve and release: stale bindings fail */

    /* memory: under srv->slots_lock */
    uint64_t mem_used;
    int repo_models; /* model repository versions served here: the slot is not attachable */
    tt_slot_model *models;

    /* counters and scheduling: under srv->sched_lock */
    tt_slot_counters c;
    tt_job *q_head, *q_tail;
    int queued, running;
    double vtag;       /* fair-share virtual finish tag, in seconds of this slot's rate */
    double ready_at;   /* capped mode: monotonic seconds before which the slot may not start */
    double idle_since; /* monotonic seconds when the slot last ran out of work */
} tt_slot;

/* Builds the slots from the configuration (types resolved, rates from the peak). */
tt_status tt_slots_init(tt_server *srv);
void tt_slots_free(tt_server *srv);

/* Reserves a free slot of `type`: fills the reply (id, token) and persists the state. */
tt_status tt_slots_reserve(tt_server *srv, const tt_msg_reserve *req, tt_msg_slot *reply);
/* Checks an AUTH: the slot holding reservation `id` if the token matches. */
tt_status tt_slots_auth(tt_server *srv, const tt_msg_auth *req, tt_slot **slot, uint64_t *gen, tt_msg_slot *reply);
/* Whether a binding (slot, gen) is still valid; renews the lease. Error: AUTH naming why. */
tt_status tt_slots_check(tt_server *srv, tt_slot *slot, uint64_t gen);
/* Ends a reservation (detach): the slot is free again. */
tt_status tt_slots_release(tt_server *srv, tt_slot *slot, uint64_t gen);
/* Frees slots whose lease has expired; returns how many. */
int tt_slots_expire(tt_server *srv);

/* Charges a model to a slot (once per distinct model): QUOTA naming both numbers when it
 * does not fit. *used and *quota report the slot's memory after the charge. */
tt_status tt_slots_charge(tt_server *srv, tt_slot *slot, tt_model_entry *m, uint64_t *used, uint64_t *quota);
/* The same with the bytes to charge given (a batching model's activations at its largest batch). */
tt_status tt_slots_charge_bytes(tt_server *srv, tt_slot *slot, tt_model_entry *m, uint64_t bytes, uint64_t *used,
                                uint64_t *quota);
void tt_slots_uncharge(tt_server *srv, tt_slot *slot, tt_model_entry *m);

#endif
