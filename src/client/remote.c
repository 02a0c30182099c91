/* Remote sessions. A session holds a link (connection + server-side session handle) to
 * its attachment; runs from any number of threads share it. When the link breaks (server
 * restarted, connection reset), the run is retried a bounded number of times on a new
 * link, which re-finds the model on the server by its hash or uploads it again — runs are
 * idempotent, so retrying is safe. An attachment made through a fleet whose server is gone
 * (or stops answering) fails over to a slot of the same type on another server, and every
 * session follows its attachment's record: when `tether resize` (or another process's
 * failover) moves it, the session warms the model on the new slot and switches to it at its
 * next run. Every wait is bounded by the session's timeout. */
#include "client/remote.h"

#include "client/attach.h"
#include "client/conn.h"
#include "core/hash.h"
#include "core/log.h"
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_RETRIES 3
/* A request to a fleet server that has waited this long has the server's registration
 * checked, and again this often while it waits */
#define WATCH_FIRST_MS 1000
#define WATCH_EVERY_MS 1000
#define MAX_MODEL_BYTES ((size_t)1 << 36)

/* The slot a session runs on: its attachment's record as last read. */
typedef struct rtarget {
    tt_attachment att; /* the token field is cleared: the bytes live in token[] */
    tt_endpoint ep;
    uint8_t token[TT_WIRE_TOKEN_LEN];
} rtarget;

/* What a link to a fleet server checks while requests wait on it (link_check). */
typedef struct rwatch {
    rtarget tgt; /* its token cleared */
    char why[400];    /* why, when it did */
    atomic_bool dead; /* the check found the server gone: no quick retry on it */
} rwatch;

/* A connection and the session handle opened on it; shared by concurrent runs. */
typedef struct rlink {
    tt_rconn *conn;
    rwatch *watch; /* NULL unless its attachment was placed through a fleet */
    uint32_t handle;
    int refs; /* under the session's lock */
} rlink;

typedef struct tt_remote {
    rtarget tgt; /* under lock once open */
    int ordinal;
    uint8_t hash[TT_WIRE_HASH_LEN];
    char *path;  /* the model file, re-read to upload again; NULL when from memory */
    void *bytes; /* the model, when opened from memory */
    size_t size;
    int timeout_ms;
    int retries;
    int threads;       /* the session's num_threads: the most threads the server may give a run (0: its own) */
    bool old_server;   /* the server takes no thread cap in OPEN (an older tetherd): sent without it */
    bool quiet;
    pthread_mutex_t lock;
    rlink *link;  /* never NULL once open */
    uint64_t gen; /* counts links, so a broken one is replaced once */
    tether_session *session;

    /* following the records file (under lock) */
    char records[1100];
    struct stat rec_stat; /* as last seen: a change (a new inode) means a rewrite */
    bool switching;       /* one thread moves the session; the others keep running */
    /* "model:NAME[:VERSION]": a model of the server's repository, opened by name (no
     * attachment, no upload; the API key from $TETHER_API_KEY) */
    char named[160];
    uint64_t named_version;
} tt_remote;

bool tt_target_is_remote(const char *t)
{
    return t && (strncmp(t, "eia:", 4) == 0 || strncmp(t, "tcp://", 6) == 0 || strncmp(t, "tls://", 6) == 0 ||
                 strncmp(t, "unix:", 5) == 0);
}

/* ---- model bytes and their hash ---------------------------------------------------- */

/* Hashing a large model on every open would dominate the time to the first inference, so
 * the hash of a file is remembered in $TETHER_HOME/hashes/, under a digest of the file's
 * real path, device, inode, size and mtime: a changed file is hashed again. */
static bool hash_cache_file(const char *path, const struct stat *st, char *dir, size_t dn, char *out, size_t n)
{
    char home[1024], real[PATH_MAX], key[PATH_MAX + 128];
    if (tt_tether_home(home, sizeof home) != TT_OK || !realpath(path, real)) {
        tt_error_clear();
        return false;
    }
    int k = snprintf(key, sizeof key, "%s|%llu|%llu|%lld|%lld.%09ld", real, (unsigned long long)st->st_dev,
                     (unsigned long long)st->st_ino, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                     st->st_mtim.tv_nsec);
    uint8_t d[TT_SHA256_LEN];
    char hex[2 * TT_SHA256_LEN + 1];
    tt_sha256(key, (size_t)k, d);
    tt_hex(d, sizeof d, hex);
    snprintf(dir, dn, "%s/hashes", home);
    snprintf(out, n, "%s/%s", dir, hex);
    return true;
}

static bool hash_cache_get(const char *path, const struct stat *st, uint8_t hash[TT_WIRE_HASH_LEN])
{
    char dir[1100], file[1200], text[2 * TT_WIRE_HASH_LEN + 2] = "";
    if (!hash_cache_file(path, st, dir, sizeof dir, file, sizeof file))
        return false;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t k = read(fd, text, sizeof text - 1);
    close(fd);
    if (k < 2 * TT_WIRE_HASH_LEN)
        return false;
    for (int i = 0; i < TT_WIRE_HASH_LEN; i++) {
        unsigned v;
        if (sscanf(text + 2 * i, "%2x", &v) != 1)
            return false;
        hash[i] = (uint8_t)v;
    }
    return true;
}

/* Best effort: a hash that cannot be remembered is computed again next time. */
static void hash_cache_put(const char *path, const struct stat *st, const uint8_t hash[TT_WIRE_HASH_LEN])
{
    char dir[1100], file[1200], tmp[1230], hex[2 * TT_WIRE_HASH_LEN + 1];
    if (!hash_cache_file(path, st, dir, sizeof dir, file, sizeof file))
        return;
    char *slash = strrchr(dir, '/');
    *slash = 0;
    mkdir(dir, 0700); /* the home itself */
    *slash = '/';
    mkdir(dir, 0700);
    tt_hex(hash, TT_WIRE_HASH_LEN, hex);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    bool ok = fprintf(f, "%s\n", hex) > 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, file) != 0)
        unlink(tmp);
}

/* The model's bytes: the copy, or the file read again (checked against the hash the
 * session was opened with, so a file changed since is not silently uploaded). */
static tt_status model_bytes(tt_remote *r, void **data, size_t *n, bool *owned)
{
    if (r->bytes) {
        *data = r->bytes;
        *n = r->size;
        *owned = false;
        return TT_OK;
    }
    TT_TRY(tt_read_file(r->path, MAX_MODEL_BYTES, data, n));
    *owned = true;
    uint8_t h[TT_WIRE_HASH_LEN];
    tt_sha256(*data, *n, h);
    if (memcmp(h, r->hash, sizeof h) != 0) {
        tt_free(*data);
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "%s changed since the session was opened; open it again", r->path);
    }
    return TT_OK;
}

/* ---- links ----------------------------------------------------------------------- */

/* A target from a record (token parsed out of it). */
static tt_status target_from(const tt_attachment *a, rtarget *t)
{
    memset(t, 0, sizeof *t);
    t->att = *a;
    tt_status st = tt_endpoint_parse(a->endpoint, &t->ep);
    if (st == TT_OK)
        st = tt_attachment_token(a, t->token);
    memset(t->att.token, 0, sizeof t->att.token);
    return st;
}

static tt_status put_model(tt_remote *r, const rtarget *t, tt_rconn *c, int64_t deadline)
{
    void *data;
    size_t n;
    bool owned;
    TT_TRY(model_bytes(r, &data, &n, &owned));
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_wr_bytes(&w, r->hash, sizeof r->hash);
    struct iovec iov = {data, n};
    tt_reply rep;
    tt_log(TT_LOG_INFO, "uploading the model (%.1f MiB) to accelerator %s", n / 1048576.0, t->att.id);
    tt_status st = tt_rconn_call(c, TT_CMD_MODEL_PUT, &w, &iov, 1, n, deadline, &rep);
    tt_reply_free(&rep);
    tt_wr_free(&w);
    if (owned)
        tt_free(data);
    return st;
}

/* OPEN by hash, with the session's thread cap when it has one; on "unknown model hash",
 * upload and OPEN again. A server older than the cap refuses the longer OPEN as malformed:
 * the session then opens without it, and says so once. */
static tt_status open_handle(tt_remote *r, const rtarget *t, tt_rconn *c, int64_t deadline, tt_reply *rep)
{
    for (int attempt = 0;; attempt++) {
        tt_wr w = {0};
        tt_wr_frame_begin(&w);
        tt_wr_bytes(&w, r->hash, sizeof r->hash);
        bool capped = r->threads > 0 && !r->old_server;
        if (capped)
            tt_wr_u32(&w, (uint32_t)r->threads);
        tt_status st = tt_rconn_call(c, TT_CMD_OPEN, &w, NULL, 0, 0, deadline, rep);
        tt_wr_free(&w);
        if (st == TETHER_ERR_PROTOCOL && capped && strstr(tether_last_error(), "malformed OPEN")) {
            r->old_server = true;
            if (!r->quiet)
                tt_log(TT_LOG_WARN,
                       "accelerator %s: its server is older than the thread cap, so num_threads %d is not applied "
                       "there (it uses its own threads)",
                       t->att.id, r->threads);
            attempt--;
            continue;
        }
        if (st != TETHER_ERR_NOT_FOUND || attempt > 0)
            return st;
        TT_TRY(put_model(r, t, c, deadline));
    }
}

/* OPEN_MODEL: a repository model by name. */
static tt_status open_named(tt_remote *r, tt_rconn *c, int64_t deadline, tt_reply *rep)
{
    const char *key = getenv("TETHER_API_KEY");
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_wr_str(&w, r->named);
    tt_wr_u64(&w, r->named_version);
    tt_wr_str(&w, key ? key : "");
    tt_status st = tt_rconn_call(c, TT_CMD_OPEN_MODEL, &w, NULL, 0, 0, deadline, rep);
    memset(w.p, 0, w.n);
    tt_wr_free(&w);
    return st;
}

static tt_status link_check(void *ud);

/* A new link to target t: connect, HELLO, AUTH, OPEN (upload if needed), or HELLO and
 * OPEN_MODEL for a repository model. Fills *info from the OPEN reply when asked (at session
 * open). A link to a fleet server has its registration checked while requests wait. */
static tt_status link_new(tt_remote *r, const rtarget *t, int64_t deadline, tt_arena *a, tt_msg_open_reply *info,
                          rlink **out)
{
    tt_rconn *c;
    tt_status st = tt_rconn_connect_tls(&t->ep, &t->att.tls, deadline, &c);
    if (st != TT_OK)
        return tt_error_prefix(st, "accelerator %s: ", t->att.id);
    tt_rconn_set_label(c, t->att.id);
    rwatch *watch = NULL;
    if (!r->named[0] && t->att.fleet[0] && t->att.server_id[0] && (watch = tt_calloc(1, sizeof *watch))) {
        watch->tgt = *t;
        memset(watch->tgt.token, 0, sizeof watch->tgt.token);
        tt_rconn_set_check(c, link_check, watch, WATCH_FIRST_MS, WATCH_EVERY_MS);
    }
    st = tt_rconn_hello(c, deadline, NULL);
    if (st == TT_OK && !r->named[0])
        st = tt_rconn_auth(c, t->att.id, t->token, deadline, NULL);
    tt_reply rep = {0};
    if (st == TT_OK)
        st = r->named[0] ? open_named(r, c, deadline, &rep) : open_handle(r, t, c, deadline, &rep);
    tt_msg_open_reply m;
    tt_arena tmp;
    tt_arena_init(&tmp);
    if (st == TT_OK)
        st = tt_msg_open_reply_decode(tt_reply_data(&rep), rep.len, a ? a : &tmp, &m);
    tt_reply_free(&rep);
    tt_arena_free(&tmp);
    rlink *l = st == TT_OK ? tt_calloc(1, sizeof *l) : NULL;
    if (st == TT_OK && !l)
        st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    if (st != TT_OK) {
        tt_rconn_close(c);
        tt_free(watch);
        return st;
    }
    l->conn = c;
    l->watch = watch;
    l->handle = m.handle;
    l->refs = 1; /* the session's */
    if (info)
        *info = m;
    *out = l;
    return TT_OK;
}

static void link_put_locked(rlink *l)
{
    if (--l->refs > 0)
        return;
    tt_rconn_close(l->conn);
    tt_free(l->watch);
    tt_free(l);
}

/* The current link, retained; *gen identifies it for link_recover; *fleet says whether
 * its attachment was placed through a fleet. */
static rlink *link_get(tt_remote *r, uint64_t *gen, bool *fleet)
{
    pthread_mutex_lock(&r->lock);
    rlink *l = r->link;
    l->refs++;
    *gen = r->gen;
    *fleet = r->tgt.att.fleet[0] != 0;
    pthread_mutex_unlock(&r->lock);
    return l;
}

static void link_put(tt_remote *r, rlink *l)
{
    pthread_mutex_lock(&r->lock);
    link_put_locked(l);
    pthread_mutex_unlock(&r->lock);
}

static void set_where(tt_remote *r)
{
    if (r->named[0])
        snprintf(r->session->stats.where, sizeof r->session->stats.where, "model %s of %s", r->named,
                 r->tgt.ep.text);
    else
        snprintf(r->session->stats.where, sizeof r->session->stats.where, "eia:%d (%s, %s, %s)", r->ordinal,
                 r->tgt.att.id, r->tgt.att.type, r->tgt.ep.text);
}

/* Makes l (to target t) the session's link; called with the lock held. */
static void link_switch_locked(tt_remote *r, const rtarget *t, rlink *l)
{
    link_put_locked(r->link);
    r->link = l;
    r->tgt = *t;
    r->gen++;
    set_where(r);
}

/* The record as it is now, when it names another slot than t: resize, or a failover done
 * by another process. */
static bool record_moved(const tt_remote *r, const rtarget *t, rtarget *moved)
{
    tt_attachment a;
    if (tt_attachment_find(t->att.name, &a) != TT_OK) {
        tt_error_clear();
        return false;
    }
    bool differs = strcmp(a.id, t->att.id) != 0 && target_from(&a, moved) == TT_OK;
    memset(&a, 0, sizeof a);
    (void)r;
    tt_error_clear();
    return differs;
}

/* Whether the server of t answers a HELLO within a second (on a connection of its own). */
static bool server_answers(const rtarget *t)
{
    tt_rconn *c;
    int64_t deadline = tt_deadline_ms(1000);
    bool ok = tt_rconn_connect_tls(&t->ep, &t->att.tls, deadline, &c) == TT_OK;
    if (ok) {
        ok = tt_rconn_hello(c, deadline, NULL) == TT_OK;
        tt_rconn_close(c);
    }
    tt_error_clear();
    return ok;
}

/* While requests wait on a fleet server: is it still registered? A server that stopped
 * (SIGSTOP, a hang) keeps its connections open but no longer renews its lease, so its
 * record leaves the fleet after the lease's TTL. Gone, and no HELLO answered within a
 * second either (a server that lost its lease to an etcd outage still answers): the
 * connection is broken and the requests fail over. When etcd cannot be asked, nothing is
 * concluded; the request's own timeout still applies. */
static tt_status link_check(void *ud)
{
    rwatch *w = ud;
    bool listed;
    /* etcd is given 3 s: a loaded host's TLS handshake with it can take over a second, and
     * a check that cannot conclude leaves the request to its own (30 s) timeout */
    if (tt_attachment_server_listed(&w->tgt.att, 3000, &listed) != TT_OK) {
        tt_error_clear();
        return TT_OK;
    }
    if (listed || server_answers(&w->tgt))
        return TT_OK;
    snprintf(w->why, sizeof w->why,
             "its server %s at %s is no longer registered in fleet %s (it stopped renewing its lease) and does not "
             "answer",
             w->tgt.att.server_id, w->tgt.ep.text, w->tgt.att.fleet);
    atomic_store(&w->dead, true);
    return tt_error(TETHER_ERR_NETWORK, "%s", w->why);
}

/* Replaces link number `gen`, which broke, unless another thread already has: serially
 * under the lock, so that one failure makes one new connection. In order: the record moved
 * (follow it); the same slot again; for a fleet attachment whose server cannot be reached
 * or no longer knows the slot, failover to another server. *deadline is renewed after a
 * failover, so that the request has its whole timeout on the new server. */
static tt_status link_recover(tt_remote *r, uint64_t gen, int64_t *deadline)
{
    pthread_mutex_lock(&r->lock);
    if (r->gen != gen) {
        pthread_mutex_unlock(&r->lock);
        return TT_OK;
    }
    rtarget cur = r->tgt, next;
    bool fleet = cur.att.fleet[0] != 0;
    rlink *l;
    tt_status st;
    if (record_moved(r, &cur, &next)) {
        st = link_new(r, &next, *deadline, NULL, NULL, &l);
        if (st == TT_OK) {
            link_switch_locked(r, &next, l);
            tt_log(TT_LOG_NOTICE, "accelerator eia:%d now runs on %s (%s) at %s, where its record moved", r->ordinal,
                   next.att.id, next.att.type, next.ep.text);
        }
        pthread_mutex_unlock(&r->lock);
        memset(&next, 0, sizeof next);
        memset(&cur, 0, sizeof cur);
        return st;
    }
    /* a fleet attachment gives its server one quick try before moving on, unless the
     * server is known gone (left the fleet, and answered no HELLO) */
    bool gone = fleet && r->link->watch && atomic_load(&r->link->watch->dead);
    int64_t quick = tt_deadline_ms(1000);
    st = gone ? tt_error(TETHER_ERR_NETWORK, "accelerator %s: %s", cur.att.id, r->link->watch->why)
              : link_new(r, &cur, fleet && quick < *deadline ? quick : *deadline, NULL, NULL, &l);
    if (st == TT_OK) {
        link_switch_locked(r, &cur, l);
        tt_log(TT_LOG_INFO, "reconnected to accelerator %s at %s", cur.att.id, cur.ep.text);
    } else if (fleet && (st == TETHER_ERR_NETWORK || st == TETHER_ERR_TIMEOUT || st == TETHER_ERR_AUTH)) {
        char why[600];
        snprintf(why, sizeof why, "%s", tt_last_error());
        tt_attachment a;
        int64_t t0 = tt_now_ns();
        st = tt_attachment_failover(&cur.att, why, &a);
        if (st == TT_OK)
            st = target_from(&a, &next);
        memset(&a, 0, sizeof a);
        if (st == TT_OK) {
            *deadline = tt_deadline_ms(r->timeout_ms);
            st = link_new(r, &next, *deadline, NULL, NULL, &l);
        }
        if (st == TT_OK) {
            link_switch_locked(r, &next, l);
            tt_log(TT_LOG_NOTICE,
                   "accelerator eia:%d (%s) failed over from %s at %s to %s on server %s at %s in %.0f ms, after: %s",
                   r->ordinal, cur.att.type, cur.att.id, cur.ep.text, next.att.id, next.att.server_id, next.ep.text,
                   (tt_now_ns() - t0) / 1e6, why);
        }
    }
    pthread_mutex_unlock(&r->lock);
    memset(&next, 0, sizeof next);
    memset(&cur, 0, sizeof cur);
    return st;
}

/* Follows the attachment's record: when it names another slot (a resize, or a failover by
 * another process), opens the model there — the warm-up happens now, on this thread, while
 * other threads keep running on the old link — and switches. A stat() per run when nothing
 * changed. */
static void link_follow(tt_remote *r)
{
    struct stat st;
    if (!r->records[0] || stat(r->records, &st) != 0)
        return;
    pthread_mutex_lock(&r->lock);
    bool same = st.st_ino == r->rec_stat.st_ino && st.st_dev == r->rec_stat.st_dev &&
                st.st_size == r->rec_stat.st_size && st.st_mtim.tv_sec == r->rec_stat.st_mtim.tv_sec &&
                st.st_mtim.tv_nsec == r->rec_stat.st_mtim.tv_nsec;
    if (same || r->switching) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    r->rec_stat = st;
    r->switching = true;
    rtarget cur = r->tgt, next;
    uint64_t gen = r->gen;
    pthread_mutex_unlock(&r->lock);
    if (record_moved(r, &cur, &next)) {
        rlink *l;
        int64_t t0 = tt_now_ns();
        tt_status s = link_new(r, &next, tt_deadline_ms(r->timeout_ms), NULL, NULL, &l);
        pthread_mutex_lock(&r->lock);
        if (s == TT_OK && r->gen == gen) {
            link_switch_locked(r, &next, l);
            tt_log(TT_LOG_NOTICE, "accelerator eia:%d moved from %s (%s) to %s (%s) at %s; model ready there in %.0f ms",
                   r->ordinal, cur.att.id, cur.att.type, next.att.id, next.att.type, next.ep.text,
                   (tt_now_ns() - t0) / 1e6);
        } else if (s == TT_OK) {
            link_put_locked(l); /* a failover got there first */
        } else {
            tt_log(TT_LOG_WARN, "accelerator eia:%d: could not move to %s: %s (staying on %s for now)", r->ordinal,
                   next.att.id, tt_last_error(), cur.att.id);
            memset(&r->rec_stat, 0, sizeof r->rec_stat); /* try again at the next run */
        }
        pthread_mutex_unlock(&r->lock);
    }
    pthread_mutex_lock(&r->lock);
    r->switching = false;
    pthread_mutex_unlock(&r->lock);
    memset(&next, 0, sizeof next);
    memset(&cur, 0, sizeof cur);
}

/* ---- running ---------------------------------------------------------------------- */

static _Thread_local tt_remote_timing g_last_timing;

tt_remote_timing tt_remote_last_timing(void)
{
    return g_last_timing;
}

static tt_status decode_outputs(tether_session *s, tt_reply *rep, tether_outputs **out)
{
    tt_rd rd;
    tt_rd_init(&rd, tt_reply_data(rep), rep->len);
    uint64_t flops = tt_rd_u64(&rd, "flops");
    tt_remote_timing timing;
    timing.queue_ns = tt_rd_u64(&rd, "queue time");
    timing.compute_ns = tt_rd_u64(&rd, "compute time");
    TT_TRY(tt_rd_done(&rd, "RUN reply", false));
    g_last_timing = timing;
    tt_arena a;
    tt_arena_init(&a);
    tt_wire_tensor *t;
    size_t n;
    tt_status st = tt_wire_tensors_decode(&rd, tt_max_tensor_bytes(), &a, &t, &n);
    if (st == TT_OK && n != (size_t)s->n_outputs)
        st = tt_error(TETHER_ERR_PROTOCOL, "the accelerator returned %zu outputs, the model has %d", n, s->n_outputs);
    if (st == TT_OK)
        st = tt_outputs_new(n, out);
    for (size_t i = 0; i < n && st == TT_OK; i++) {
        /* each output points into the reply's buffer: the bytes are not copied again */
        tt_value v = {.kind = TT_KIND_TENSOR};
        v.t.dtype = t[i].dtype;
        v.t.rank = t[i].rank;
        memcpy(v.t.dims, t[i].dims, sizeof v.t.dims);
        v.t.data = rep->buf ? (uint8_t *)rep->buf->data + t[i].offset : NULL;
        v.t.buf = rep->buf;
        if (rep->buf)
            rep->buf->refs++;
        st = tt_outputs_set(*out, i, t[i].name, &v);
        tt_value_release(&v);
    }
    if (st == TT_OK)
        (*out)->flops = flops;
    else if (*out) {
        tether_outputs_free(*out);
        *out = NULL;
    }
    tt_arena_free(&a);
    return st;
}

static tt_status run_once(tether_session *s, rlink *l, const tether_tensor *t, int64_t deadline, tt_reply *rep)
{
    size_t n = (size_t)s->n_inputs;
    uint64_t stack_off[16];
    struct iovec stack_iov[1 + 2 * 16];
    uint64_t *off = n <= 16 ? stack_off : tt_calloc(n, sizeof *off);
    struct iovec *iov = n <= 16 ? stack_iov : tt_calloc(tt_wire_iov_count(n), sizeof *iov);
    tt_wr w = {0};
    tt_status st = off && iov ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    uint64_t payload = 0;
    if (st == TT_OK) {
        tt_wr_frame_begin(&w);
        tt_wr_u32(&w, l->handle);
        st = tt_wire_tensors_encode(&w, TT_WIRE_HEADER, t, n, off, &payload);
    }
    if (st == TT_OK) {
        int k = tt_wire_iov_fill(iov, &w, TT_WIRE_HEADER, t, n, off);
        uint64_t extra = payload - (w.n - TT_WIRE_HEADER);
        st = tt_rconn_call(l->conn, TT_CMD_RUN, &w, iov + 1, k - 1, extra, deadline, rep);
    }
    tt_wr_free(&w);
    if (off != stack_off)
        tt_free(off);
    if (iov != stack_iov)
        tt_free(iov);
    return st;
}

static void backoff(int attempt, int64_t deadline)
{
    static const int ms[] = {50, 200, 500, 1000};
    int64_t wait = (int64_t)ms[attempt < 4 ? attempt : 3] * 1000000, left = deadline - tt_now_ns();
    if (wait > left)
        wait = left > 0 ? left : 0;
    struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000), .tv_nsec = (long)(wait % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static tt_status remote_run(tether_session *s, const tether_tensor *inputs, size_t n, tether_outputs **out)
{
    tt_remote *r = s->impl;
    const tether_tensor *bound_stack[16], **bound = bound_stack;
    tether_tensor t_stack[16], *t = t_stack;
    if (s->n_inputs > 16) {
        bound = tt_calloc((size_t)s->n_inputs, sizeof *bound);
        t = tt_calloc((size_t)s->n_inputs, sizeof *t);
    }
    tt_status st = bound && t ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory binding inputs");
    /* checked here as the local engine would, so a mistake costs no round trip */
    if (st == TT_OK)
        st = tt_bind_inputs(s, inputs, n, bound);
    for (int i = 0; i < s->n_inputs && st == TT_OK; i++) {
        t[i] = *bound[i];
        t[i].name = s->inputs[i].name;
    }
    int64_t deadline = tt_deadline_ms(r->timeout_ms);
    uint64_t gen = 0;
    bool fleet = false, renewed = false;
    if (st == TT_OK)
        link_follow(r);
    /* only a broken connection is retried: a refusal, a timeout or a failing model would
     * fail the same way again (but see the fleet's timeout below) */
    for (int attempt = 0; st == TT_OK || st == TETHER_ERR_NETWORK; attempt++) {
        if (attempt > 0) {
            if (attempt > r->retries || tt_now_ns() >= deadline) {
                st = tt_error_prefix(st, "gave up after %d attempt%s: ", attempt, attempt > 1 ? "s" : "");
                break;
            }
            tt_log(TT_LOG_WARN, "%s; retrying (%d of %d)", tt_last_error(), attempt, r->retries);
            if (!fleet)
                backoff(attempt - 1, deadline);
            st = link_recover(r, gen, &deadline);
            if (st != TT_OK)
                continue;
        }
        rlink *l = link_get(r, &gen, &fleet);
        tt_reply rep;
        st = run_once(s, l, t, deadline, &rep);
        if (st == TT_OK) {
            st = decode_outputs(s, &rep, out);
            tt_reply_free(&rep);
            link_put(r, l);
            break;
        }
        link_put(r, l);
        /* a fleet server that lets a request time out and no longer answers a HELLO either
         * is taken for dead: the request goes elsewhere, with its whole timeout again */
        if (st == TETHER_ERR_TIMEOUT && fleet && !renewed) {
            pthread_mutex_lock(&r->lock);
            rtarget cur = r->tgt;
            pthread_mutex_unlock(&r->lock);
            if (!server_answers(&cur)) {
                renewed = true;
                deadline = tt_deadline_ms(r->timeout_ms);
                st = tt_error(TETHER_ERR_NETWORK, "accelerator %s: no reply within %d ms, and its server %s does "
                              "not answer", cur.att.id, r->timeout_ms, cur.ep.text);
            } else {
                tt_error(TETHER_ERR_TIMEOUT, "accelerator %s: no reply within %d ms (its server answers: the model "
                         "takes longer, or the slot is saturated)", cur.att.id, r->timeout_ms);
            }
            memset(&cur, 0, sizeof cur);
        }
    }
    if (bound != bound_stack)
        tt_free(bound);
    if (t != t_stack)
        tt_free(t);
    return st;
}

static void remote_free(tether_session *s)
{
    tt_remote *r = s->impl;
    if (!r)
        return;
    if (r->link) {
        /* best effort: the server also drops the handle when the connection closes */
        if (!tt_rconn_broken(r->link->conn)) {
            tt_wr w = {0};
            tt_wr_frame_begin(&w);
            tt_wr_u32(&w, r->link->handle);
            tt_reply rep;
            if (tt_rconn_call(r->link->conn, TT_CMD_CLOSE, &w, NULL, 0, 0, tt_deadline_ms(1000), &rep) == TT_OK)
                tt_reply_free(&rep);
            tt_wr_free(&w);
            tt_error_clear();
        }
        link_put_locked(r->link);
    }
    memset(&r->tgt, 0, sizeof r->tgt);
    tt_free(r->path);
    tt_free(r->bytes);
    pthread_mutex_destroy(&r->lock);
    tt_free(r);
}

static const tt_session_ops g_remote_ops = {.run = remote_run, .free = remote_free};

/* ---- opening ---------------------------------------------------------------------- */

static tt_status resolve_target(const char *target, tt_attachment *a)
{
    if (strncmp(target, "eia:", 4) == 0) {
        char *end;
        long n = strtol(target + 4, &end, 10);
        if (end == target + 4 || *end || n < 0 || n > INT_MAX)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "target '%s': expected eia:N with N an ordinal (0, 1, ...)",
                            target);
        return tt_attachment_get((int)n, a);
    }
    tt_endpoint want;
    TT_TRY(tt_endpoint_parse(target, &want));
    tt_attachment *all;
    int n;
    TT_TRY(tt_attachments_list(&all, &n));
    tt_status st = tt_error(TETHER_ERR_NOT_FOUND, "no attachment at %s: run 'tether attach TYPE --server %s' first",
                            want.text, want.text);
    for (int i = 0; i < n; i++) {
        tt_endpoint ep;
        if (tt_endpoint_parse(all[i].endpoint, &ep) == TT_OK && strcmp(ep.text, want.text) == 0) {
            *a = all[i];
            st = TT_OK;
            break;
        }
    }
    if (all)
        memset(all, 0, sizeof *all * (size_t)n);
    tt_free(all);
    return st;
}

static tt_status describe_session(tether_session *s, const tt_msg_open_reply *m)
{
    s->n_inputs = m->n_inputs;
    s->n_outputs = m->n_outputs;
    s->inputs = tt_arena_alloc(&s->info_arena, sizeof(tether_value_info) * ((size_t)m->n_inputs + 1));
    s->outputs = tt_arena_alloc(&s->info_arena, sizeof(tether_value_info) * ((size_t)m->n_outputs + 1));
    if (!s->inputs || !s->outputs)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory describing the model");
    for (int k = 0; k < 2; k++) {
        const tt_wire_info *src = k ? m->outputs : m->inputs;
        tether_value_info *dst = k ? s->outputs : s->inputs;
        for (int i = 0; i < (k ? m->n_outputs : m->n_inputs); i++) {
            dst[i].name = src[i].name;
            dst[i].dtype = (tether_dtype)src[i].dtype;
            dst[i].rank = src[i].rank;
            for (int d = 0; d < src[i].rank; d++) {
                dst[i].dims[d] = src[i].dims[d];
                dst[i].dim_names[d] = src[i].dim_names[d];
            }
        }
    }
    s->stats.weight_bytes = m->weight_bytes;
    s->stats.activation_bytes = m->activation_bytes;
    s->stats.flops = m->flops;
    s->stats.parameters = m->parameters;
    s->stats.nodes = (int)m->nodes;
    return TT_OK;
}

tt_status tt_remote_open(const char *path, const void *model, size_t size, const tether_session_config *cfg,
                         tether_session **out)
{
    tether_session *s = tt_calloc(1, sizeof *s);
    tt_remote *r = tt_calloc(1, sizeof *r);
    if (!s || !r) {
        tt_free(s);
        tt_free(r);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory opening a session");
    }
    tt_arena_init(&s->info_arena);
    pthread_mutex_init(&r->lock, NULL);
    s->ops = &g_remote_ops;
    s->impl = r;
    r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    r->threads = cfg->num_threads;
    r->quiet = cfg->quiet;
    const char *env = getenv("TETHER_RETRIES");
    r->retries = env && atoi(env) >= 0 ? atoi(env) : DEFAULT_RETRIES;
    int64_t deadline = tt_deadline_ms(r->timeout_ms);

    r->session = s;
    tt_status st = TT_OK;
    bool named = path && strncmp(path, "model:", 6) == 0;
    if (named) {
        /* "model:NAME[:VERSION]" on "tcp://HOST:PORT" or "unix:PATH" */
        const char *name = path + 6, *colon = strchr(name, ':');
        size_t len = colon ? (size_t)(colon - name) : strlen(name);
        char *end = NULL;
        if (colon)
            r->named_version = strtoull(colon + 1, &end, 10);
        if (!len || len >= sizeof r->named || (colon && (end == colon + 1 || *end)))
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "'%s': expected model:NAME or model:NAME:VERSION", path);
        else if (strncmp(cfg->target, "eia:", 4) == 0)
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT,
                          "'%s' names a model of a server's repository: give the server as tcp://HOST:PORT or "
                          "unix:PATH, not an attachment",
                          path);
        if (st == TT_OK) {
            snprintf(r->named, sizeof r->named, "%.*s", (int)len, name);
            st = tt_endpoint_parse(cfg->target, &r->tgt.ep);
            snprintf(r->tgt.att.id, sizeof r->tgt.att.id, "%s", r->tgt.ep.text);
            r->ordinal = -1;
        }
    } else {
        tt_attachment att;
        char home[1024];
        if (tt_tether_home(home, sizeof home) == TT_OK) {
            snprintf(r->records, sizeof r->records, "%s/attachments.json", home);
            stat(r->records, &r->rec_stat); /* before reading it: a change from now on is followed */
        }
        st = resolve_target(cfg->target, &att);
        if (st == TT_OK)
            st = target_from(&att, &r->tgt);
        memset(&att, 0, sizeof att);
        r->ordinal = r->tgt.att.ordinal;
    }

    /* the model's hash: remembered for a file unchanged since it was last hashed */
    if (st == TT_OK && named) {
        /* nothing to hash or upload: the server has the model */
    } else if (st == TT_OK && path) {
        struct stat sb;
        if (stat(path, &sb) != 0)
            st = tt_error(errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_IO, "cannot open '%s': %s", path,
                          strerror(errno));
        else if (!(r->path = tt_strdup(path)))
            st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
        if (st == TT_OK && !hash_cache_get(path, &sb, r->hash)) {
            void *data;
            size_t n;
            st = tt_read_file(path, MAX_MODEL_BYTES, &data, &n);
            if (st == TT_OK) {
                tt_sha256(data, n, r->hash);
                tt_free(data);
                hash_cache_put(path, &sb, r->hash);
            }
        }
    } else if (st == TT_OK) {
        r->bytes = tt_malloc(size ? size : 1);
        r->size = size;
        if (!r->bytes)
            st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory copying a %zu-byte model", size);
        else {
            memcpy(r->bytes, model, size);
            tt_sha256(model, size, r->hash);
        }
    }
    tt_msg_open_reply m;
    if (st == TT_OK)
        st = link_new(r, &r->tgt, deadline, &s->info_arena, &m, &r->link);
    if (st == TT_OK)
        st = describe_session(s, &m);
    if (st != TT_OK) {
        tether_session_free(s);
        return st;
    }
    set_where(r);
    if (!cfg->quiet)
        tt_log(TT_LOG_NOTICE, "session %s runs on accelerator %s", path ? path : "(from memory)", s->stats.where);
    *out = s;
    return TT_OK;
}
