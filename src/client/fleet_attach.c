/* Attachments through a fleet, and the moves of an attachment between slots: failover (its
 * server died: a slot of the same type elsewhere) and resize (another type, live). Each
 * move rewrites the attachment's record in place, under the records lock, keeping its name
 * and ordinal; running sessions follow the record (client/remote.c). */
#include "client/attach.h"

#include "client/conn.h"
#include "client/orphans.h"
#include "client/records.h"
#include "core/log.h"
#include "core/mem.h"
#include "fleet/fleet.h"
#include "net/sock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PLACE_TIMEOUT_MS 15000   /* a whole placement, races and retries included */
#define RESERVE_TIMEOUT_MS 10000 /* one RESERVE on the chosen server */
#define GIVE_BACK_MS 5000        /* a loser's release of its early reservation */
#define MAX_EXCLUDE 8

/* The slot about to be claimed, reserved on its server (connect, TLS, HELLO, RESERVE) by a
 * thread of its own while the claim's transaction runs in etcd, so that the two waits
 * overlap. The server gives the slot to one client and etcd the claim to one; a client keeps
 * its early reservation when its claim wins, or when the claim lost to an attachment that no
 * claim covers (the server's publication of this very reservation landed first: then the
 * server's word decides). Otherwise it gives the reservation back at once, and the claim's
 * winner, finding the slot held, asks the server again for a moment (place()). So exactly
 * one client keeps a slot. Only a placement's first try reserves early, and only when no
 * other placement of this process is under way; after a lost race (many clients at once),
 * or beside other placements, the thread only connects and the RESERVE follows the claim:
 * a crowd of early reservations would mostly be given back. */
typedef struct early {
    bool started, joined, reserve; /* joined: st, a and conn are the thread's results */
    int tries;
    pthread_t th;
    char server[TT_FLEET_ID], endpoint[300];
    int index;
    const char *type, *key;
    uint32_t lease_s;
    tt_tls_files tls;
    tt_rconn *conn; /* when only connecting */
    tt_status st;
    char why[600];   /* st's message */
    tt_attachment a; /* the reservation, when reserving and st is OK */
} early;

static void *early_main(void *arg)
{
    early *p = arg;
    tt_endpoint ep;
    int64_t deadline = tt_deadline_ms(RESERVE_TIMEOUT_MS);
    p->st = tt_endpoint_parse(p->endpoint, &ep);
    if (p->st == TT_OK)
        p->st = tt_rconn_open_tls(&ep, &p->tls, NULL, NULL, deadline, &p->conn);
    if (p->st == TT_OK && p->reserve) {
        tt_rconn *c = p->conn;
        p->conn = NULL;
        p->st = tt_reserve_on(c, p->endpoint, &p->tls, p->type, p->lease_s, (uint32_t)p->index + 1, p->key,
                              RESERVE_TIMEOUT_MS, &p->a);
    }
    snprintf(p->why, sizeof p->why, "%s", p->st == TT_OK ? "" : tt_last_error());
    tt_error_clear();
    return NULL;
}

/* Waits for the thread; false when none was started for the slot last chosen. */
static bool early_join(early *p)
{
    if (p->started) {
        pthread_join(p->th, NULL);
        p->started = false;
        p->joined = true;
    }
    return p->joined;
}

/* Forgets the thread's results (given back, or handed over). */
static void early_clear(early *p)
{
    p->st = TETHER_ERR_INTERNAL;
    p->joined = false;
    memset(&p->a, 0, sizeof p->a);
}

/* Gives back what the thread made and will not be used: its connection, or its reservation
 * (released on the server; remembered as an orphan when the server cannot be told). */
static void early_discard(early *p)
{
    early_join(p);
    tt_rconn_close(p->conn);
    p->conn = NULL;
    if (p->reserve && p->st == TT_OK) {
        if (tt_release_at(&p->a, GIVE_BACK_MS) != TT_OK) {
            tt_log(TT_LOG_WARN, "fleet: could not give back slot %s on %s, reserved while its claim was lost: %s",
                   p->a.id, p->endpoint, tt_last_error());
            int lock;
            if (tt_records_lock(&lock) == TT_OK) {
                tt_orphans_add_locked(&p->a); /* released once its server answers again */
                tt_records_unlock(lock);
            }
        }
        tt_error_clear();
    }
    early_clear(p);
}

static atomic_int g_placing; /* placements of this process under way */

static void early_start(void *ud, const tt_fleet_server *srv, int index)
{
    early *p = ud;
    if ((p->started || p->joined) && p->index == index && strcmp(p->endpoint, srv->endpoint) == 0)
        return; /* already on its way */
    early_discard(p);
    snprintf(p->server, sizeof p->server, "%s", srv->id);
    snprintf(p->endpoint, sizeof p->endpoint, "%s", srv->endpoint);
    p->index = index;
    p->reserve = p->tries++ == 0 && atomic_load(&g_placing) == 1;
    p->started = pthread_create(&p->th, NULL, early_main, p) == 0;
}

/* The claim on a slot was lost. When the slot is taken (attached, claimed by nobody) and
 * its early reservation was made, that reservation is what took it: the slot is this
 * client's. Otherwise the early reservation is given back at once, so that the claim's
 * winner, asking the server again, gets the slot. */
static bool early_lost(void *ud, const char *server, int index, bool taken)
{
    early *p = ud;
    if (!early_join(p) || p->index != index || strcmp(p->server, server) != 0)
        return false;
    if (taken && p->reserve && p->st == TT_OK)
        return true;
    early_discard(p);
    return false;
}

/* The reservation of the slot claimed in c: the early one when it was of that slot, else
 * made now (over the early connection when there is one to that server). */
static tt_status early_take(early *p, const tt_fleet_claim *c, const tt_tls_files *tls, tt_attachment *a)
{
    bool same = early_join(p) && p->index == c->index && strcmp(p->endpoint, c->endpoint) == 0;
    if (same && p->reserve) {
        tt_status st = p->st;
        if (st == TT_OK)
            *a = p->a;
        else
            tt_error(st, "%s", p->why);
        early_clear(p); /* handed over */
        return st;
    }
    tt_rconn *conn = NULL;
    if (same && p->st == TT_OK) {
        conn = p->conn;
        p->conn = NULL;
    }
    early_discard(p);
    return tt_reserve_on(conn, c->endpoint, tls, p->type, p->lease_s, (uint32_t)c->index + 1, p->key,
                         RESERVE_TIMEOUT_MS, a);
}

/* Claims a slot of `type` in the fleet and reserves it on its server. A server that cannot
 * be reached is left out and another tried; a slot taken by a direct attach meanwhile is
 * claimed again elsewhere. a gets the slot's fields and its server's id. */
static tt_status place_on(tt_etcd *e, const char *type, const char *pin, const char *zone, const char *avoid,
                          uint32_t lease_s, const tt_tls_files *tls, const char *key, tt_attachment *a)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char excluded[MAX_EXCLUDE][TT_FLEET_ID];
    const char *ex[MAX_EXCLUDE];
    int n_ex = 0;
    if (avoid && *avoid) {
        snprintf(excluded[n_ex], sizeof excluded[0], "%s", avoid);
        ex[n_ex] = excluded[n_ex];
        n_ex++;
    }
    int64_t deadline = tt_deadline_ms(PLACE_TIMEOUT_MS);
    char last[600] = "";
    early ea = {.type = type, .key = key, .lease_s = lease_s, .st = TETHER_ERR_INTERNAL};
    if (tls)
        ea.tls = *tls;
    for (int attempt = 0;; attempt++) {
        tt_fleet_want w = {.type = type, .server = pin, .zone = zone, .exclude = ex, .n_exclude = n_ex,
                           .holder = host, .chosen = early_start, .lost = early_lost, .chosen_ud = &ea};
        tt_fleet_claim c;
        tt_status st = tt_fleet_claim_slot(e, &w, deadline, &c);
        if (st != TT_OK) {
            char why[700];
            snprintf(why, sizeof why, "%s", tt_last_error());
            early_discard(&ea);
            tt_error(st, "%s", why);
            if (last[0] && (st == TETHER_ERR_BUSY || st == TETHER_ERR_NOT_FOUND))
                return tt_error_prefix(st, "%s; before that: ", last);
            return st;
        }
        st = early_take(&ea, &c, tls, a);
        /* held: a client that lost this slot's claim may have reserved it early, and gives
         * it back as soon as it hears (within GIVE_BACK_MS); ask again until then (a direct
         * attach that took the slot meanwhile keeps it: then the claim is given back below) */
        int64_t until = tt_deadline_ms(GIVE_BACK_MS + 1000);
        for (int pause_ms = 1; st == TETHER_ERR_BUSY && tt_now_ns() < until && tt_now_ns() < deadline;
             pause_ms = pause_ms < 256 ? 2 * pause_ms : 256) {
            struct timespec ts = {0, (long)pause_ms * 1000000};
            nanosleep(&ts, NULL);
            st = tt_reserve_at(c.endpoint, tls, type, lease_s, (uint32_t)c.index + 1, key, RESERVE_TIMEOUT_MS, a);
        }
        if (st == TT_OK) {
            snprintf(a->server_id, sizeof a->server_id, "%s", c.server);
            return TT_OK;
        }
        snprintf(last, sizeof last, "%s", tt_last_error());
        tt_fleet_claim_drop(e, &c, tt_deadline_ms(1000));
        if ((attempt >= 16 || tt_now_ns() >= deadline) && st == TETHER_ERR_BUSY)
            return tt_error(st, "no free %s slot in fleet %s: the last one claimed (slot %d on %s) was taken "
                            "meanwhile: %s", type, tt_etcd_name(e), c.index, c.server, last);
        if (attempt >= 16 || tt_now_ns() >= deadline)
            return tt_error(st, "%s", last);
        if (st == TETHER_ERR_NETWORK || st == TETHER_ERR_TIMEOUT || st == TETHER_ERR_QUOTA) {
            /* unreachable, or this server's limit for the reservation key is reached */
            tt_log(TT_LOG_INFO, "fleet: server %s (%s) refused or cannot be reached; trying another: %s", c.server,
                   c.endpoint, last);
            if (n_ex < MAX_EXCLUDE) {
                snprintf(excluded[n_ex], sizeof excluded[0], "%s", c.server);
                ex[n_ex] = excluded[n_ex];
                n_ex++;
            }
        } else if (st != TETHER_ERR_BUSY && st != TETHER_ERR_NOT_FOUND) {
            /* BUSY: a direct attach took the slot; NOT_FOUND: a record left by an earlier run
             * of the server names a slot it no longer has. Either way, place again. */
            return tt_error(st, "%s", last);
        }
    }
}

/* place_on, counted among this process's placements under way */
static tt_status place(tt_etcd *e, const char *type, const char *pin, const char *zone, const char *avoid,
                       uint32_t lease_s, const tt_tls_files *tls, const char *key, tt_attachment *a)
{
    atomic_fetch_add(&g_placing, 1);
    tt_status st = place_on(e, type, pin, zone, avoid, lease_s, tls, key, a);
    atomic_fetch_sub(&g_placing, 1);
    return st;
}

static tt_status open_fleet(const char *fleet, const tt_tls_files *tls, tt_etcd **e)
{
    tt_tls_files f;
    memset(&f, 0, sizeof f);
    if (tls)
        f = *tls;
    /* etcd's certificates may also come from the environment, as the servers' do */
    const char *ca = getenv("TETHER_FLEET_CA"), *cert = getenv("TETHER_FLEET_CERT"), *key = getenv("TETHER_FLEET_KEY");
    if (!f.ca[0] && ca)
        snprintf(f.ca, sizeof f.ca, "%s", ca);
    if (!f.cert[0] && cert)
        snprintf(f.cert, sizeof f.cert, "%s", cert);
    if (!f.key[0] && key)
        snprintf(f.key, sizeof f.key, "%s", key);
    /* the last view of the fleet is kept beside the attachments, for the next process */
    char home[1024], view[1100] = "";
    if (tt_tether_home(home, sizeof home) == TT_OK)
        snprintf(view, sizeof view, "%s/fleet-view", home);
    tt_error_clear();
    tt_fleet_set_view_file(view);
    TT_TRY(tt_etcd_open(fleet, &f, e));
    /* a placement's read and claim are transactions: gRPC spares each the gateway's hop */
    tt_etcd_use_grpc(*e, true);
    return TT_OK;
}

tt_status tt_attachment_server_listed(const tt_attachment *a, int timeout_ms, bool *listed)
{
    *listed = true;
    if (!a->fleet[0] || !a->server_id[0])
        return TT_OK;
    tt_etcd *e;
    TT_TRY(open_fleet(a->fleet, &a->fleet_tls, &e));
    char key[300];
    tt_fleet_key_server(key, sizeof key, a->server_id);
    tt_etcd_kvs kvs;
    tt_status st = tt_etcd_get(e, key, tt_deadline_ms(timeout_ms), &kvs);
    tt_etcd_close(e);
    if (st == TT_OK) {
        *listed = kvs.n > 0;
        tt_etcd_kvs_free(&kvs);
    }
    return st;
}

tt_status tt_attach_fleet(const char *type, const tt_attach_opts *o, tt_attachment *out)
{
    tt_orphans_sweep();
    tt_etcd *e;
    TT_TRY(open_fleet(o->fleet, &o->fleet_tls, &e));
    tt_attachment a;
    memset(&a, 0, sizeof a);
    tt_status st = place(e, type, o->server, o->zone, NULL, o->lease_s, &o->tls, o->key, &a);
    tt_etcd_close(e);
    if (st != TT_OK)
        return tt_error_prefix(st, "attaching %s through fleet %s: ", type, o->fleet);
    snprintf(a.fleet, sizeof a.fleet, "%s", o->fleet);
    snprintf(a.zone, sizeof a.zone, "%s", o->zone ? o->zone : "");
    a.fleet_tls = o->fleet_tls;
    tt_attachment_new_name(a.name, sizeof a.name);
    st = tt_records_add(&a);
    if (st == TT_OK)
        *out = a;
    memset(&a, 0, sizeof a);
    return st;
}

tt_status tt_attachment_find(const char *name, tt_attachment *out)
{
    tt_attachment *all;
    int n;
    TT_TRY(tt_attachments_list(&all, &n));
    tt_status st = tt_error(TETHER_ERR_NOT_FOUND, "attachment %s is no longer recorded (detached)", name);
    for (int i = 0; i < n; i++)
        if (strcmp(all[i].name, name) == 0) {
            *out = all[i];
            st = TT_OK;
            tt_error_clear();
            break;
        }
    if (all)
        memset(all, 0, sizeof *all * (size_t)n);
    tt_free(all);
    return st;
}

/* Copies the slot of `from` (a fresh reservation) into record `to`, keeping the record's
 * name, fleet, zone and certificate settings. */
static void take_slot(tt_attachment *to, const tt_attachment *from)
{
    snprintf(to->id, sizeof to->id, "%s", from->id);
    snprintf(to->type, sizeof to->type, "%s", from->type);
    snprintf(to->endpoint, sizeof to->endpoint, "%s", from->endpoint);
    snprintf(to->token, sizeof to->token, "%s", from->token);
    snprintf(to->server_id, sizeof to->server_id, "%s", from->server_id);
    to->memory_bytes = from->memory_bytes;
    to->tflops = from->tflops;
}

/* Under the records lock: the position of the record named `name`, or -1. */
static int find_pos(const tt_attachment *all, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(all[i].name, name) == 0)
            return i;
    return -1;
}

tt_status tt_attachment_failover(const tt_attachment *cur, const char *why, tt_attachment *out)
{
    if (!cur->fleet[0])
        return tt_error(TETHER_ERR_UNSUPPORTED, "accelerator %s was attached directly to %s, not through a fleet: "
                        "there is no other server to fail over to", cur->id, cur->endpoint);
    int lock;
    TT_TRY(tt_records_lock(&lock));
    tt_attachment *all = NULL;
    int n = 0;
    tt_status st = tt_records_load(&all, &n);
    int pos = st == TT_OK ? find_pos(all, n, cur->name) : -1;
    if (st == TT_OK && pos < 0)
        st = tt_error(TETHER_ERR_NOT_FOUND, "accelerator %s (%s) was detached", cur->id, cur->type);
    bool moved = st == TT_OK && strcmp(all[pos].id, cur->id) != 0;
    tt_attachment fresh;
    memset(&fresh, 0, sizeof fresh);
    if (st == TT_OK && !moved) {
        /* this process is the first to see the failure: it finds the new slot */
        tt_etcd *e;
        st = open_fleet(cur->fleet, &cur->fleet_tls, &e);
        if (st == TT_OK) {
            st = place(e, cur->type, NULL, cur->zone, cur->server_id, 0, &cur->tls, all[pos].key, &fresh);
            tt_etcd_close(e);
        }
        if (st == TT_OK) {
            tt_attachment old = all[pos];
            take_slot(&all[pos], &fresh);
            st = tt_records_save(all, n);
            if (st != TT_OK)
                tt_release_at(&fresh, 2000);
            else
                tt_orphans_add_locked(&old); /* released once its server answers again */
            memset(&old, 0, sizeof old);
        } else {
            st = tt_error_prefix(st, "failing over accelerator %s (%s) after %s: ", cur->id, cur->type,
                                 why ? why : "a failure");
        }
    }
    tt_attachment rec;
    if (st == TT_OK)
        rec = all[pos];
    tt_records_unlock(lock);
    if (all)
        memset(all, 0, sizeof *all * (size_t)n);
    tt_free(all);
    memset(&fresh, 0, sizeof fresh);
    if (st != TT_OK)
        return st;
    /* the ordinal as this process sees it */
    st = tt_attachment_find(rec.name, out);
    memset(&rec, 0, sizeof rec);
    return st;
}

tt_status tt_attachment_resize(int ordinal, const char *type, int wait_ms, tt_attachment *out, char *note,
                               size_t note_cap)
{
    if (note && note_cap)
        note[0] = 0;
    tt_attachment old;
    TT_TRY(tt_attachment_get(ordinal, &old));
    tt_attachment fresh;
    memset(&fresh, 0, sizeof fresh);
    tt_status st;
    if (old.fleet[0]) {
        tt_etcd *e;
        st = open_fleet(old.fleet, &old.fleet_tls, &e);
        if (st == TT_OK) {
            st = place(e, type, NULL, old.zone, NULL, 0, &old.tls, old.key, &fresh);
            tt_etcd_close(e);
        }
    } else {
        st = tt_reserve_at(old.endpoint, &old.tls, type, 0, 0, old.key, RESERVE_TIMEOUT_MS, &fresh);
    }
    if (st != TT_OK) {
        memset(&old, 0, sizeof old);
        return tt_error_prefix(st, "resizing eia:%d to %s: ", ordinal, type);
    }
    /* the record now names the new slot: sessions switch at their next request */
    int lock;
    st = tt_records_lock(&lock);
    tt_attachment *all = NULL;
    int n = 0;
    if (st == TT_OK) {
        st = tt_records_load(&all, &n);
        int pos = st == TT_OK ? find_pos(all, n, old.name) : -1;
        if (st == TT_OK && (pos < 0 || strcmp(all[pos].id, old.id) != 0))
            st = tt_error(TETHER_ERR_BUSY, "eia:%d changed while it was being resized (detached, failed over or "
                          "resized elsewhere); try again", ordinal);
        if (st == TT_OK) {
            take_slot(&all[pos], &fresh);
            st = tt_records_save(all, n);
        }
        tt_records_unlock(lock);
        if (all)
            memset(all, 0, sizeof *all * (size_t)n);
        tt_free(all);
    }
    if (st != TT_OK) {
        tt_status keep = st;
        char msg[900];
        snprintf(msg, sizeof msg, "%s", tt_last_error());
        tt_release_at(&fresh, 2000);
        memset(&fresh, 0, sizeof fresh);
        memset(&old, 0, sizeof old);
        return tt_error(keep, "%s", msg);
    }
    /* the old slot goes once no session holds a model there any more (each switches at its
     * next request), or when the wait is over */
    int64_t until = tt_deadline_ms(wait_ms > 0 ? wait_ms : 1);
    bool idle = false;
    for (;;) {
        tt_accel_health h;
        tt_accel_probe(&old, 2000, &h);
        if (strcmp(h.status, "healthy") != 0 || h.models_loaded == 0) {
            idle = true;
            break;
        }
        if (tt_now_ns() >= until)
            break;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    st = tt_release_at(&old, 5000);
    if (note && !idle)
        snprintf(note, note_cap, "sessions still used %s after %d ms; it was released anyway (they move to the "
                 "new slot at their next request)", old.id, wait_ms);
    if (st != TT_OK && note)
        snprintf(note, note_cap, "the old slot %s could not be released (%s); its server frees it when the lease "
                 "ends", old.id, tt_last_error());
    tt_error_clear();
    st = tt_attachment_find(old.name, out);
    memset(&fresh, 0, sizeof fresh);
    memset(&old, 0, sizeof old);
    return st;
}
