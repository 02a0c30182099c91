/* The publisher thread. It owns a copy of every slot's record, marked dirty when the server
 * reports a change; all etcd I/O happens here, never under a server lock. One loop:
 * register when not registered; publish dirty slots (a slot published attached also drops
 * its claim, in the same transaction); renew the lease every third of its TTL; scan this
 * server's claims every second and delete those that waited past the claim timeout. */
#include "fleet/publish.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_MS 3000      /* one etcd call */
#define RETRY_MS 500      /* after a failure */
#define MAX_TXN_OPS 100   /* etcd's default limit is 128 operations per transaction */
#define CLAIM_SCAN_MS 1000

typedef struct pub_slot {
    tt_fleet_slot rec;
    bool dirty;
    /* a claim seen on this slot: its revision and when this server first saw it */
    int64_t claim_rev;
    int64_t claim_seen_ns;
} pub_slot;

struct tt_fleet_pub {
    tt_etcd *etcd;
    tt_fleet_server server;
    int ttl_s, claim_timeout_s;
    pub_slot *slots;
    int n_slots;

    pthread_mutex_t lock; /* slots' records and dirty flags, stop, registered */
    pthread_cond_t cond;
    bool stop, registered, wake;
    pthread_t thread;

    /* the thread's own */
    int64_t lease;
    int64_t last_keepalive_ns, last_scan_ns, last_warn_ns;
    bool down; /* the last attempt failed: the next success is logged */
};

static void pub_warn(tt_fleet_pub *p, const char *what)
{
    int64_t now = tt_now_ns();
    /* the first failure and then one line every 30 s, not one per retry */
    if (!p->down || now - p->last_warn_ns > 30 * (int64_t)1000000000) {
        tt_log(TT_LOG_WARN, "fleet: %s: %s (retrying)", what, tt_last_error());
        p->last_warn_ns = now;
    }
    p->down = true;
}

static void set_registered(tt_fleet_pub *p, bool r)
{
    pthread_mutex_lock(&p->lock);
    p->registered = r;
    if (!r)
        for (int i = 0; i < p->n_slots; i++)
            p->slots[i].dirty = true;
    pthread_mutex_unlock(&p->lock);
}

/* The server's record with its counts (attached slots, slots by type) and its free list;
 * with the lock held. NULL when out of memory. */
static char *server_json_locked(tt_fleet_pub *p)
{
    int attached = 0;
    size_t o = 0;
    p->server.types[0] = 0;
    for (int i = 0; i < p->n_slots; i++) {
        const tt_fleet_slot *r = &p->slots[i].rec;
        attached += r->attached;
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = strcmp(p->slots[k].rec.type, r->type) == 0;
        if (seen)
            continue;
        int count = 0;
        for (int k = i; k < p->n_slots; k++)
            count += strcmp(p->slots[k].rec.type, r->type) == 0;
        if (o < sizeof p->server.types)
            o += (size_t)snprintf(p->server.types + o, sizeof p->server.types - o, "%s%s=%d", o ? "," : "", r->type,
                                  count);
    }
    p->server.attached = attached;
    tt_fleet_slot *recs = tt_calloc((size_t)p->n_slots + 1, sizeof *recs);
    if (!recs)
        return NULL;
    for (int i = 0; i < p->n_slots; i++)
        recs[i] = p->slots[i].rec;
    char *json = tt_fleet_server_json_with_free(&p->server, recs, p->n_slots);
    tt_free(recs);
    return json;
}

/* The writes that publish slot i: its record, its free key (present or deleted), and the
 * deletion of its claim (a reservation or a release settles it). With the lock held. */
typedef struct slot_ops {
    char keys[3][200];
    char *val;
} slot_ops;

static bool slot_ops_make(tt_fleet_pub *p, int i, int64_t lease, slot_ops *so, tt_etcd_op *ops, size_t *n,
                          bool registering)
{
    const tt_fleet_slot *r = &p->slots[i].rec;
    so->val = tt_fleet_slot_json(r);
    if (!so->val)
        return false;
    tt_fleet_key_slot(so->keys[0], sizeof so->keys[0], p->server.id, i);
    tt_fleet_key_free(so->keys[1], sizeof so->keys[1], r->type, p->server.id, i);
    tt_fleet_key_claim(so->keys[2], sizeof so->keys[2], p->server.id, i);
    ops[(*n)++] = (tt_etcd_op){.key = so->keys[0], .value = so->val, .lease = lease};
    if (!r->attached)
        ops[(*n)++] = (tt_etcd_op){.key = so->keys[1], .value = "1", .lease = lease};
    else if (!registering)
        ops[(*n)++] = (tt_etcd_op){.del = true, .key = so->keys[1]};
    if (!registering)
        ops[(*n)++] = (tt_etcd_op){.del = true, .key = so->keys[2]};
    return true;
}

/* Grants a lease and writes every slot and then the server under it, in transactions of at
 * most MAX_TXN_OPS operations (the server's record last, so that clients never see the
 * server with only some of its slots). Records of an earlier run of this server (its lease
 * not yet expired) are replaced, and the slots (and free keys) it no longer has deleted. */
static tt_status do_register(tt_fleet_pub *p)
{
    int64_t deadline = tt_deadline_ms(CALL_MS);
    int64_t lease;
    TT_TRY(tt_etcd_lease_grant(p->etcd, p->ttl_s, deadline, &lease));
    char slot_prefix[200], id_part[100];
    snprintf(slot_prefix, sizeof slot_prefix, TT_FLEET_PREFIX "slots/%s/", p->server.id);
    snprintf(id_part, sizeof id_part, "/%s/", p->server.id);
    const char *prefixes[] = {slot_prefix, TT_FLEET_PREFIX "free/"};
    tt_etcd_kvs old;
    tt_status st = tt_etcd_get_prefixes(p->etcd, prefixes, 2, deadline, &old);
    if (st != TT_OK) {
        tt_etcd_lease_revoke(p->etcd, lease, tt_deadline_ms(500));
        return st;
    }
    size_t cap = 2 * (size_t)p->n_slots + old.n + 1;
    tt_etcd_op *ops = tt_calloc(cap, sizeof *ops);
    slot_ops *so = tt_calloc((size_t)p->n_slots + 1, sizeof *so);
    if (!ops || !so)
        st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    size_t k = 0;
    char *srv_json = NULL;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; st == TT_OK && i < p->n_slots; i++) {
        if (!slot_ops_make(p, i, lease, &so[i], ops, &k, true))
            st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
        p->slots[i].dirty = false; /* a change from now on is published after this */
    }
    if (st == TT_OK && !(srv_json = server_json_locked(p)))
        st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    /* what an earlier run left that this one does not write over */
    for (size_t i = 0; st == TT_OK && i < old.n; i++) {
        const char *key = old.kv[i].key;
        if (strncmp(key, slot_prefix, strlen(slot_prefix)) != 0 && !strstr(key, id_part))
            continue; /* another server's free key */
        bool current = false;
        for (int j = 0; j < p->n_slots && !current; j++)
            current = strcmp(key, so[j].keys[0]) == 0 || (!p->slots[j].rec.attached && strcmp(key, so[j].keys[1]) == 0);
        if (!current)
            ops[k++] = (tt_etcd_op){.del = true, .key = key};
    }
    pthread_mutex_unlock(&p->lock);
    char srv_key[300];
    tt_fleet_key_server(srv_key, sizeof srv_key, p->server.id);
    if (st == TT_OK)
        ops[k++] = (tt_etcd_op){.key = srv_key, .value = srv_json, .lease = lease};
    for (size_t at = 0; st == TT_OK && at < k; at += MAX_TXN_OPS) {
        size_t n = k - at < MAX_TXN_OPS ? k - at : MAX_TXN_OPS;
        bool ok;
        st = tt_etcd_txn(p->etcd, NULL, 0, ops + at, n, deadline, &ok, NULL);
    }
    cJSON_free(srv_json);
    for (int i = 0; so && i < p->n_slots; i++)
        cJSON_free(so[i].val);
    tt_free(so);
    tt_free(ops);
    tt_etcd_kvs_free(&old);
    if (st != TT_OK) {
        char why[600];
        snprintf(why, sizeof why, "%s", tt_last_error());
        set_registered(p, false);
        tt_etcd_lease_revoke(p->etcd, lease, tt_deadline_ms(500));
        return tt_error(st, "%s", why);
    }
    pthread_mutex_lock(&p->lock);
    p->registered = true;
    pthread_mutex_unlock(&p->lock);
    p->lease = lease;
    p->last_keepalive_ns = tt_now_ns();
    return TT_OK;
}

/* Publishes the dirty slots and the server's counts, a few slots per transaction. */
static tt_status publish_dirty(tt_fleet_pub *p)
{
    for (;;) {
        enum { N = (MAX_TXN_OPS - 1) / 3 };
        int idx[N], n = 0;
        slot_ops so[N];
        tt_etcd_op ops[3 * N + 1];
        size_t nops = 0;
        char srv_key[300], *srv_json = NULL;
        pthread_mutex_lock(&p->lock);
        for (int i = 0; i < p->n_slots && n < N; i++) {
            if (!p->slots[i].dirty)
                continue;
            if (!slot_ops_make(p, i, p->lease, &so[n], ops, &nops, false))
                break;
            p->slots[i].dirty = false;
            idx[n++] = i;
        }
        if (n > 0 && (srv_json = server_json_locked(p))) {
            tt_fleet_key_server(srv_key, sizeof srv_key, p->server.id);
            ops[nops++] = (tt_etcd_op){.key = srv_key, .value = srv_json, .lease = p->lease};
        }
        pthread_mutex_unlock(&p->lock);
        if (n == 0)
            return TT_OK;
        bool ok;
        tt_status st = tt_etcd_txn(p->etcd, NULL, 0, ops, nops, tt_deadline_ms(CALL_MS), &ok, NULL);
        for (int k = 0; k < n; k++)
            cJSON_free(so[k].val);
        cJSON_free(srv_json);
        if (st != TT_OK) {
            pthread_mutex_lock(&p->lock);
            for (int k = 0; k < n; k++)
                p->slots[idx[k]].dirty = true; /* unless changed again meanwhile, the same record */
            pthread_mutex_unlock(&p->lock);
            return st;
        }
    }
}

/* Claims on this server's slots: a claim on an attached slot is a leftover (deleted); one on
 * a free slot is deleted once it has waited past the claim timeout (by this server's clock,
 * from when it first saw that revision, so clocks need not agree). */
static tt_status scan_claims(tt_fleet_pub *p)
{
    char prefix[200];
    snprintf(prefix, sizeof prefix, TT_FLEET_PREFIX "claims/%s/", p->server.id);
    tt_etcd_kvs kvs;
    TT_TRY(tt_etcd_get_prefix(p->etcd, prefix, tt_deadline_ms(CALL_MS), &kvs));
    int64_t now = tt_now_ns();
    bool *seen = tt_calloc((size_t)p->n_slots + 1, sizeof *seen);
    tt_status st = seen ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < kvs.n && st == TT_OK; i++) {
        char *end;
        long index = strtol(kvs.kv[i].key + strlen(prefix), &end, 10);
        if (*end || index < 0 || index >= p->n_slots)
            continue;
        pub_slot *s = &p->slots[index];
        seen[index] = true;
        pthread_mutex_lock(&p->lock);
        bool attached = s->rec.attached && !s->dirty;
        pthread_mutex_unlock(&p->lock);
        if (s->claim_rev != kvs.kv[i].mod_rev) {
            s->claim_rev = kvs.kv[i].mod_rev;
            s->claim_seen_ns = now;
        }
        if (!attached && now - s->claim_seen_ns < (int64_t)p->claim_timeout_s * 1000000000)
            continue;
        tt_etcd_cmp cmp = {kvs.kv[i].key, TT_ETCD_MOD, kvs.kv[i].mod_rev, false};
        tt_etcd_op op = {.del = true, .key = kvs.kv[i].key};
        bool ok;
        st = tt_etcd_txn(p->etcd, &cmp, 1, &op, 1, tt_deadline_ms(CALL_MS), &ok, NULL);
        if (st == TT_OK && ok && !attached)
            tt_log(TT_LOG_INFO, "fleet: slot %ld was claimed but not reserved within %d s; it is free again", index,
                   p->claim_timeout_s);
    }
    for (int i = 0; seen && i < p->n_slots; i++)
        if (!seen[i])
            p->slots[i].claim_rev = 0;
    tt_free(seen);
    tt_etcd_kvs_free(&kvs);
    return st;
}

static void *pub_main(void *arg)
{
    tt_fleet_pub *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool stop = p->stop, registered = p->registered;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        int64_t now = tt_now_ns();
        int wait_ms = 250;
        if (!registered) {
            if (do_register(p) == TT_OK) {
                tt_log(TT_LOG_INFO, "fleet: registered in %s as %s (%s, lease ttl %d s)", tt_etcd_name(p->etcd),
                       p->server.id, p->server.endpoint, p->ttl_s);
                p->down = false;
            } else {
                pub_warn(p, "cannot register");
                wait_ms = RETRY_MS;
            }
        } else {
            tt_status st = publish_dirty(p);
            if (st == TETHER_ERR_NOT_FOUND) {
                tt_log(TT_LOG_WARN, "fleet: etcd no longer has this server's lease; registering again");
                set_registered(p, false);
                continue;
            }
            if (st == TT_OK && now - p->last_keepalive_ns >= (int64_t)p->ttl_s * 1000000000 / 3) {
                int64_t ttl = 0;
                /* a renewal later than half the TTL is worth little: try again instead */
                int ka_ms = p->ttl_s * 500 > CALL_MS ? CALL_MS : p->ttl_s * 500;
                st = tt_etcd_lease_keepalive(p->etcd, p->lease, tt_deadline_ms(ka_ms), &ttl);
                if (st == TT_OK && ttl <= 0) {
                    tt_log(TT_LOG_WARN, "fleet: the lease of %s expired in etcd; registering again", p->server.id);
                    set_registered(p, false);
                    continue;
                }
                if (st == TT_OK)
                    p->last_keepalive_ns = now;
            }
            if (st == TT_OK && now - p->last_scan_ns >= (int64_t)CLAIM_SCAN_MS * 1000000) {
                st = scan_claims(p);
                p->last_scan_ns = now;
            }
            if (st != TT_OK) {
                pub_warn(p, "cannot reach etcd");
                wait_ms = RETRY_MS;
            } else if (p->down) {
                tt_log(TT_LOG_INFO, "fleet: etcd (%s) answers again", tt_etcd_name(p->etcd));
                p->down = false;
            }
        }
        pthread_mutex_lock(&p->lock);
        if (!p->stop && !p->wake) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t until = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + (int64_t)wait_ms * 1000000;
            ts.tv_sec = (time_t)(until / 1000000000);
            ts.tv_nsec = (long)(until % 1000000000);
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        }
        p->wake = false;
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

tt_status tt_fleet_pub_start(const tt_fleet_pub_config *cfg, tt_fleet_pub **out)
{
    if (cfg->ttl_s < 2 || cfg->ttl_s > 3600)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "fleet lease ttl %d s: expected 2..3600", cfg->ttl_s);
    tt_fleet_pub *p = tt_calloc(1, sizeof *p);
    if (!p)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    p->slots = tt_calloc((size_t)cfg->n_slots + 1, sizeof *p->slots);
    tt_status st = p->slots ? tt_etcd_open(cfg->urls, &cfg->tls, &p->etcd) : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    if (st != TT_OK) {
        tt_free(p->slots);
        tt_free(p);
        return st;
    }
    p->server = cfg->server;
    p->server.slots = cfg->n_slots;
    p->ttl_s = cfg->ttl_s;
    p->claim_timeout_s = cfg->claim_timeout_s > 0 ? cfg->claim_timeout_s : 20;
    p->n_slots = cfg->n_slots;
    for (int i = 0; i < cfg->n_slots; i++)
        p->slots[i].rec = cfg->slots[i];
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    /* the first registration here, so that a wrong address shows at once in the log */
    if (do_register(p) == TT_OK) {
        tt_log(TT_LOG_INFO, "fleet: registered in %s as %s (%s, lease ttl %d s)", tt_etcd_name(p->etcd), p->server.id,
               p->server.endpoint, p->ttl_s);
    } else {
        pub_warn(p, "cannot register yet");
    }
    if (pthread_create(&p->thread, NULL, pub_main, p) != 0) {
        tt_etcd_close(p->etcd);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        tt_free(p->slots);
        tt_free(p);
        return tt_error(TETHER_ERR_INTERNAL, "cannot start the fleet thread");
    }
    *out = p;
    return TT_OK;
}

void tt_fleet_pub_slot(tt_fleet_pub *p, const tt_fleet_slot *s)
{
    if (!p || s->index < 0 || s->index >= p->n_slots)
        return;
    pthread_mutex_lock(&p->lock);
    p->slots[s->index].rec = *s;
    p->slots[s->index].dirty = true;
    p->wake = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

bool tt_fleet_pub_registered(tt_fleet_pub *p)
{
    pthread_mutex_lock(&p->lock);
    bool r = p->registered;
    pthread_mutex_unlock(&p->lock);
    return r;
}

void tt_fleet_pub_stop(tt_fleet_pub *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    if (p->lease) {
        if (tt_etcd_lease_revoke(p->etcd, p->lease, tt_deadline_ms(2000)) == TT_OK)
            tt_log(TT_LOG_INFO, "fleet: %s left %s", p->server.id, tt_etcd_name(p->etcd));
        else
            tt_log(TT_LOG_WARN, "fleet: could not leave %s (%s); the records go when the lease expires",
                   tt_etcd_name(p->etcd), tt_last_error());
    }
    tt_etcd_close(p->etcd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    tt_free(p->slots);
    tt_free(p);
}
