/* Slots and reservations: reserve, authenticate, renew, release and expire; memory
 * accounting per slot. Every change to a reservation is persisted before it is answered. */
#include "server/slots.h"

#include "core/log.h"
#include "core/mem.h"
#include "server/auth.h"
#include "server/fleet_hook.h"
#include "server/server.h"
#include "server/state.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define GiB (1024.0 * 1024 * 1024)

int64_t tt_wall_s(void)
{
    return (int64_t)time(NULL);
}

double tt_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

tt_status tt_slots_init(tt_server *srv)
{
    const tt_server_config *cfg = &srv->cfg;
    int total = 0;
    for (int i = 0; i < cfg->n_slot_specs; i++) {
        if (!tt_config_find_type(cfg, cfg->slots[i].type)) {
            char known[1024] = "";
            size_t o = 0;
            int n;
            const tt_accel_type *b = tt_catalog_builtin(&n);
            for (int k = 0; k < n && o < sizeof known; k++)
                o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", k ? ", " : "", b[k].name);
            for (int k = 0; k < cfg->n_types && o < sizeof known; k++)
                o += (size_t)snprintf(known + o, sizeof known - o, ", %s", cfg->types[k].name);
            return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                            "--slots names type '%s', which is not defined (known: %s; "
                            "define one with --type NAME=MEMORY,RATE)",
                            cfg->slots[i].type, known);
        }
        total += cfg->slots[i].count;
    }
    if (total == 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "no slots configured: give --slots TYPE=COUNT");
    srv->slots = tt_calloc((size_t)total, sizeof *srv->slots);
    if (!srv->slots)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for %d slots", total);
    double rate_sum = 0;
    uint64_t mem_sum = 0;
    for (int i = 0; i < cfg->n_slot_specs; i++) {
        const tt_accel_type *t = tt_config_find_type(cfg, cfg->slots[i].type);
        for (int k = 0; k < cfg->slots[i].count; k++) {
            tt_slot *s = &srv->slots[srv->n_slots];
            s->index = srv->n_slots++;
            s->type = *t;
            if (t->peak_fraction > 0)
                s->type.fp32_tflops = t->peak_fraction * srv->dev.peak_flops / 1e12;
            s->rate = s->type.fp32_tflops * 1e12;
            rate_sum += s->rate;
            mem_sum += s->type.memory_bytes;
        }
    }
    for (int i = 0; i < srv->n_slots; i++) {
        const tt_slot *sl = &srv->slots[i];
        bool first = true;
        for (int k = 0; k < i && first; k++)
            first = strcmp(srv->slots[k].type.name, sl->type.name) != 0;
        if (!first || sl->rate <= srv->dev.peak_flops * 1.001)
            continue;
        if (!cfg->overcommit)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                            "slot type %s promises %.1f GFLOP/s, more than this device's peak of %.1f GFLOP/s "
                            "(%s): its slots could never deliver it. Use a type this device can serve (the cpu.* "
                            "types, or --type NAME=MEMORY,25%% for a fraction of the peak), give the device's real "
                            "peak with --peak-gflops, or start with --overcommit to accept slots that deliver at "
                            "most %.1f GFLOP/s",
                            sl->type.name, sl->rate / 1e9, srv->dev.peak_flops / 1e9, srv->dev.desc,
                            srv->dev.peak_flops / 1e9);
        tt_log(TT_LOG_WARN,
               "slot type %s promises %.1f GFLOP/s but this device peaks at %.1f GFLOP/s: its slots deliver at most "
               "that (--overcommit)",
               sl->type.name, sl->rate / 1e9, srv->dev.peak_flops / 1e9);
    }
    if (rate_sum > srv->dev.peak_flops * 1.01)
        tt_log(TT_LOG_INFO,
               "slots promise %.1f GFLOP/s in all, %.1fx the device's %.1f GFLOP/s: when all are busy "
               "they share the device in proportion to their rates",
               rate_sum / 1e9, rate_sum / srv->dev.peak_flops, srv->dev.peak_flops / 1e9);
    if (srv->dev.memory_bytes && mem_sum > srv->dev.memory_bytes)
        tt_log(TT_LOG_WARN, "slot memory quotas add up to %.2f GiB, more than the device's %.2f GiB", mem_sum / GiB,
               srv->dev.memory_bytes / GiB);
    return TT_OK;
}

double tt_slot_delivered_rate(const tt_server *srv, const tt_slot *s)
{
    return s->rate < srv->dev.peak_flops ? s->rate : srv->dev.peak_flops;
}

static void models_free(tt_slot *s)
{
    tt_slot_model *m = s->models;
    while (m) {
        tt_slot_model *next = m->next;
        tt_free(m);
        m = next;
    }
    s->models = NULL;
    s->mem_used = 0;
}

void tt_slots_free(tt_server *srv)
{
    for (int i = 0; i < srv->n_slots; i++)
        models_free(&srv->slots[i]);
    tt_free(srv->slots);
    srv->slots = NULL;
    srv->n_slots = 0;
}

static void slot_info(const tt_slot *s, tt_msg_slot *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", s->id);
    snprintf(out->type, sizeof out->type, "%s", s->type.name);
    out->memory_bytes = s->type.memory_bytes;
    out->flops_per_s = s->rate;
    out->lease_s = s->lease_s;
}

tt_status tt_slots_reserve(tt_server *srv, const tt_msg_reserve *req, tt_msg_slot *reply)
{
    const tt_key *key = NULL;
    if (srv->keys.n) {
        if (!req->key[0])
            return tt_error(TETHER_ERR_AUTH, "this server needs a reservation key to attach: ask its operator for "
                                             "one and give it with 'tether attach ... --key KEY'");
        key = tt_keys_match(&srv->keys, req->key);
        if (!key)
            return tt_error(TETHER_ERR_AUTH, "the reservation key is not one this server knows");
    }
    if (!tt_config_find_type(&srv->cfg, req->type))
        return tt_error(TETHER_ERR_NOT_FOUND, "unknown accelerator type '%s'", req->type);
    uint32_t lease = req->lease_s ? req->lease_s : srv->cfg.lease_s;
    if (lease > srv->cfg.lease_max_s)
        lease = srv->cfg.lease_max_s;
    if (key && lease > key->max_lease_s)
        lease = key->max_lease_s;
    pthread_mutex_lock(&srv->slots_lock);
    if (key) {
        int held = 0;
        for (int i = 0; i < srv->n_slots; i++)
            held += srv->slots[i].reserved && strcmp(srv->slots[i].key, key->name) == 0;
        if (held >= key->max_slots) {
            pthread_mutex_unlock(&srv->slots_lock);
            return tt_error(TETHER_ERR_QUOTA,
                            "reservation key '%s' already holds %d of its %d slot%s: detach one first", key->name,
                            held, key->max_slots, key->max_slots == 1 ? "" : "s");
        }
    }
    tt_slot *slot = NULL;
    int of_type = 0;
    char types[512] = "";
    size_t o = 0;
    for (int i = 0; i < srv->n_slots; i++) {
        tt_slot *s = &srv->slots[i];
        if (!s->reserved && !s->repo_models && !strstr(types, s->type.name) && o < sizeof types)
            o += (size_t)snprintf(types + o, sizeof types - o, "%s%s", o ? ", " : "", s->type.name);
        if (strcmp(s->type.name, req->type) != 0)
            continue;
        of_type++;
        /* not serving the model repository; a fleet client asks for the slot it claimed, and
         * no other */
        if (!s->reserved && !s->repo_models && !slot && (!req->slot_index1 || req->slot_index1 == (uint32_t)i + 1))
            slot = s;
    }
    if (!slot && req->slot_index1 && of_type) {
        uint32_t want = req->slot_index1 - 1;
        bool fits = want < (uint32_t)srv->n_slots && strcmp(srv->slots[want].type.name, req->type) == 0;
        pthread_mutex_unlock(&srv->slots_lock);
        if (!fits)
            return tt_error(TETHER_ERR_NOT_FOUND, "this server has no %s slot %u", req->type, want);
        return tt_error(TETHER_ERR_BUSY, "%s slot %u on this server is not free (attached, or serving the model "
                        "repository)", req->type, want);
    }
    if (!slot) {
        pthread_mutex_unlock(&srv->slots_lock);
        if (!of_type)
            return tt_error(TETHER_ERR_NOT_FOUND, "this server has no %s slots (free now: %s)", req->type,
                            *types ? types : "none");
        return tt_error(TETHER_ERR_BUSY, "all %d %s slot%s on this server are attached (free now: %s)", of_type,
                        req->type, of_type > 1 ? "s" : "", *types ? types : "none");
    }
    tt_status st = tt_slot_id_new(slot->id, sizeof slot->id);
    if (st == TT_OK)
        st = tt_token_new(reply->token);
    if (st != TT_OK) {
        pthread_mutex_unlock(&srv->slots_lock);
        return st;
    }
    tt_token_digest(reply->token, slot->token_digest);
    slot->reserved = true;
    snprintf(slot->holder, sizeof slot->holder, "%s", req->holder);
    snprintf(slot->key, sizeof slot->key, "%s", key ? key->name : "");
    slot->created_s = tt_wall_s();
    slot->lease_s = lease;
    slot->expires_s = slot->created_s + lease;
    slot->gen++;
    st = tt_state_save(srv);
    if (st != TT_OK) {
        slot->reserved = false;
        slot->gen++;
        pthread_mutex_unlock(&srv->slots_lock);
        return tt_error_prefix(st, "the reservation could not be recorded: ");
    }
    tt_server_fleet_slot(srv, slot);
    uint8_t token[TT_WIRE_TOKEN_LEN];
    memcpy(token, reply->token, sizeof token);
    slot_info(slot, reply);
    memcpy(reply->token, token, sizeof token);
    tt_log(TT_LOG_INFO, "reserved slot %d (%s) as %s for '%s'%s%s, lease %us", slot->index, slot->type.name,
           slot->id, slot->holder, key ? " with key " : "", key ? key->name : "", lease);
    pthread_mutex_unlock(&srv->slots_lock);
    return TT_OK;
}

tt_status tt_slots_auth(tt_server *srv, const tt_msg_auth *req, tt_slot **out, uint64_t *gen, tt_msg_slot *reply)
{
    pthread_mutex_lock(&srv->slots_lock);
    tt_slot *slot = NULL;
    for (int i = 0; i < srv->n_slots && !slot; i++)
        if (srv->slots[i].reserved && strcmp(srv->slots[i].id, req->slot_id) == 0)
            slot = &srv->slots[i];
    /* the digest is compared even for an unknown id, so timing does not tell ids apart */
    static const uint8_t nothing[TT_WIRE_HASH_LEN];
    bool ok = tt_token_matches(req->token, slot ? slot->token_digest : nothing) && slot;
    if (!slot) {
        pthread_mutex_unlock(&srv->slots_lock);
        return tt_error(TETHER_ERR_AUTH,
                        "no attachment '%s' on this server: it was detached, its lease expired, or "
                        "it belongs to another server; run 'tether attach' again",
                        req->slot_id);
    }
    if (!ok) {
        pthread_mutex_unlock(&srv->slots_lock);
        tt_log(TT_LOG_WARN, "refused a bad token for %s", req->slot_id);
        return tt_error(TETHER_ERR_AUTH, "bad token for attachment '%s'", req->slot_id);
    }
    slot->expires_s = tt_wall_s() + slot->lease_s;
    *out = slot;
    *gen = slot->gen;
    slot_info(slot, reply);
    pthread_mutex_unlock(&srv->slots_lock);
    return TT_OK;
}

tt_status tt_slots_check(tt_server *srv, tt_slot *slot, uint64_t gen)
{
    if (!slot)
        return tt_error(TETHER_ERR_AUTH,
                        "this connection is not attached: send AUTH with the attachment's token first");
    pthread_mutex_lock(&srv->slots_lock);
    if (!slot->reserved || slot->gen != gen) {
        pthread_mutex_unlock(&srv->slots_lock);
        return tt_error(TETHER_ERR_AUTH, "the attachment was released or its lease expired; run 'tether attach' again");
    }
    int64_t now = tt_wall_s();
    slot->expires_s = now + slot->lease_s;
    /* a renewal is written out only when it moves the expiry by a good part of the lease,
     * so that busy slots do not rewrite the state file at every request */
    if (slot->expires_s - slot->saved_expires_s > (int64_t)slot->lease_s / 4)
        tt_state_save(srv);
    pthread_mutex_unlock(&srv->slots_lock);
    return TT_OK;
}

/* The reservation ends; the models its sessions loaded stop counting against the slot (the
 * sessions' connections are closed next, and their handles then give nothing back). */
static void slot_free_locked(tt_server *srv, tt_slot *s, const char *why)
{
    tt_log(TT_LOG_INFO, "slot %d (%s): reservation %s %s; the slot is free", s->index, s->type.name, s->id, why);
    s->reserved = false;
    s->gen++;
    memset(s->token_digest, 0, sizeof s->token_digest);
    s->holder[0] = 0;
    s->id[0] = 0;
    s->key[0] = 0;
    models_free(s);
    tt_server_fleet_slot(srv, s);
}

/* After slot_free_locked, without the slots lock: the old tenant's work and connections. */
static void slot_cleared(tt_server *srv, tt_slot *s, uint64_t old_gen, const tt_conn *keep)
{
    tt_sched_slot_reset(srv, s);
    tt_conn *next;
    for (tt_conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (c != keep && c->slot == s && c->slot_gen == old_gen)
            tt_conn_close(c, "its attachment ended");
    }
}

tt_status tt_slots_release(tt_server *srv, tt_slot *slot, uint64_t gen, const tt_conn *keep)
{
    pthread_mutex_lock(&srv->slots_lock);
    if (!slot->reserved || slot->gen != gen) {
        pthread_mutex_unlock(&srv->slots_lock);
        return tt_error(TETHER_ERR_AUTH, "the attachment was already released or its lease expired");
    }
    slot_free_locked(srv, slot, "detached");
    tt_status st = tt_state_save(srv);
    pthread_mutex_unlock(&srv->slots_lock);
    /* the releasing connection gets its answer first (the caller ends it after) */
    slot_cleared(srv, slot, gen, keep);
    return st;
}

int tt_slots_expire(tt_server *srv)
{
    int n = 0;
    int64_t now = tt_wall_s();
    pthread_mutex_lock(&srv->slots_lock);
    for (int i = 0; i < srv->n_slots; i++) {
        tt_slot *s = &srv->slots[i];
        /* seconds are whole: a lease ends after its last full second, never before it has
         * lasted as long as granted */
        if (s->reserved && s->expires_s < now) {
            uint64_t gen = s->gen;
            slot_free_locked(srv, s, "expired (lease ran out)");
            pthread_mutex_unlock(&srv->slots_lock);
            slot_cleared(srv, s, gen, NULL);
            pthread_mutex_lock(&srv->slots_lock);
            n++;
        }
    }
    if (n)
        tt_state_save(srv);
    pthread_mutex_unlock(&srv->slots_lock);
    return n;
}

/* Charges m to the slot for `bytes` (slots_lock held). */
static tt_status charge_locked(tt_slot *slot, tt_model_entry *m, uint64_t bytes, uint64_t *used, uint64_t *quota)
{
    tt_slot_model *sm = slot->models;
    while (sm && sm->model != m)
        sm = sm->next;
    if (!sm) {
        uint64_t after = slot->mem_used + bytes;
        if (after > slot->type.memory_bytes || after < slot->mem_used)
            return tt_error(
                TETHER_ERR_QUOTA,
                "model %.12s needs %" PRIu64 " bytes (%.1f MiB: weights %" PRIu64 " + planned activations %" PRIu64
                "), but slot %s (%s) has %" PRIu64 " of its %" PRIu64 "-byte (%.1f MiB) memory quota free",
                m->hex, bytes, bytes / 1048576.0, m->stats.weight_bytes, bytes - m->stats.weight_bytes,
                slot->id[0] ? slot->id : "of the model repository", slot->type.name,
                slot->type.memory_bytes - slot->mem_used, slot->type.memory_bytes, slot->type.memory_bytes / 1048576.0);
        sm = tt_calloc(1, sizeof *sm);
        if (!sm)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
        sm->model = m;
        sm->bytes = bytes;
        sm->next = slot->models;
        slot->models = sm;
        slot->mem_used = after;
    }
    sm->users++;
    *used = slot->mem_used;
    *quota = slot->type.memory_bytes;
    return TT_OK;
}

tt_status tt_slots_charge(tt_server *srv, tt_slot *slot, uint64_t gen, tt_model_entry *m, uint64_t *used,
                          uint64_t *quota)
{
    pthread_mutex_lock(&srv->slots_lock);
    tt_status st = !slot->reserved || slot->gen != gen
                       ? tt_error(TETHER_ERR_AUTH,
                                  "the attachment was released or its lease expired; run 'tether attach' again")
                       : charge_locked(slot, m, m->bytes, used, quota);
    pthread_mutex_unlock(&srv->slots_lock);
    return st;
}

tt_status tt_slots_charge_bytes(tt_server *srv, tt_slot *slot, tt_model_entry *m, uint64_t bytes, uint64_t *used,
                                uint64_t *quota)
{
    pthread_mutex_lock(&srv->slots_lock);
    tt_status st = slot->reserved || !slot->repo_models
                       ? tt_error(TETHER_ERR_BUSY, "slot %d is not the model repository's", slot->index)
                       : charge_locked(slot, m, bytes, used, quota);
    pthread_mutex_unlock(&srv->slots_lock);
    return st;
}

void tt_slots_uncharge(tt_server *srv, tt_slot *slot, uint64_t gen, tt_model_entry *m)
{
    if (!slot)
        return;
    pthread_mutex_lock(&srv->slots_lock);
    for (tt_slot_model **p = &slot->models; slot->gen == gen && *p; p = &(*p)->next) {
        tt_slot_model *sm = *p;
        if (sm->model != m)
            continue;
        if (--sm->users == 0) {
            slot->mem_used -= sm->bytes;
            *p = sm->next;
            tt_free(sm);
        }
        break;
    }
    pthread_mutex_unlock(&srv->slots_lock);
}

int64_t tt_slots_run_allowance(tt_server *srv, tt_slot *slot, uint64_t own)
{
    pthread_mutex_lock(&srv->slots_lock);
    int64_t quota = (int64_t)slot->type.memory_bytes, used = (int64_t)slot->mem_used;
    pthread_mutex_unlock(&srv->slots_lock);
    int64_t allow = quota - used + (int64_t)own;
    return allow > 0 ? allow : 0;
}

tt_status tt_slots_precheck(tt_server *srv, tt_slot *slot, const char *model_hex, uint64_t stored_bytes)
{
    pthread_mutex_lock(&srv->slots_lock);
    uint64_t quota = slot->type.memory_bytes, free_bytes = quota - slot->mem_used;
    tt_status st = TT_OK;
    if (stored_bytes > free_bytes)
        st = tt_error(TETHER_ERR_QUOTA,
                      "model %.12s is %" PRIu64 " bytes (%.1f MiB) as stored, and its weights alone would need about "
                      "that, but slot %s (%s) has %" PRIu64 " of its %" PRIu64 "-byte (%.1f MiB) memory quota free",
                      model_hex, stored_bytes, stored_bytes / 1048576.0, slot->id, slot->type.name, free_bytes, quota,
                      quota / 1048576.0);
    pthread_mutex_unlock(&srv->slots_lock);
    return st;
}
