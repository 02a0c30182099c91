/* Client connections. Writers take turns on the socket (one frame at a time, header,
 * metadata and tensor bytes in one writev); readers take turns too: the first waiting
 * caller to find nobody reading reads one frame, hands it to whichever call it answers,
 * and steps aside. A frame that breaks off, or a malformed one, breaks the connection for
 * every call on it, each of which then gets the same clear error. */
#include "client/conn.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLY ((uint64_t)1 << 38) /* well past any output a slot could hold */

typedef struct pending {
    uint32_t id;
    bool done;
    int64_t since; /* when the call began waiting for its reply */
    tt_reply rep;
    struct pending *next;
} pending;

struct tt_rconn {
    int fd;
    tt_tls *tls; /* NULL for plain TCP and Unix sockets */
    char label[128];       /* names the accelerator in errors: its slot id, or the endpoint */
    pthread_mutex_t wlock; /* one frame on the wire at a time */
    pthread_mutex_t lock;  /* the fields below */
    pthread_cond_t cond;
    bool reading;
    bool broken;
    tt_status broken_st;
    char broken_msg[300];
    pending *pending;
    uint32_t next_id;
    /* the check run while replies are awaited (tt_rconn_set_check) */
    tt_rconn_check check;
    void *check_ud;
    int64_t check_first_ns, check_every_ns, last_check_ns;
    bool checking;
    /* the reply frame being read, kept across a reader's wake-ups (for the check, or to hand
     * the reading to another waiter): touched only by the thread that has `reading` */
    uint8_t rd_hb[TT_WIRE_HEADER];
    size_t rd_hgot, rd_bgot;
    tt_frame_hdr rd_h;
    tt_buf *rd_buf;
};

void tt_reply_free(tt_reply *r)
{
    if (r->buf)
        tt_buf_release(r->buf);
    memset(r, 0, sizeof *r);
}

tt_status tt_rconn_connect(const tt_endpoint *ep, int64_t deadline, tt_rconn **out)
{
    return tt_rconn_connect_tls(ep, NULL, deadline, out);
}

tt_status tt_rconn_connect_tls(const tt_endpoint *ep, const tt_tls_files *files, int64_t deadline, tt_rconn **out)
{
    int fd;
    tt_tls *tls = NULL;
    if (ep->tls) {
        tt_tls_files f;
        memset(&f, 0, sizeof f);
        if (files)
            f = *files;
        tt_tls_files_from_env(&f);
        tt_tls_ctx *ctx;
        TT_TRY(tt_tls_ctx_client_shared(&f, &ctx));
        TT_TRY(tt_sock_connect(ep, deadline, &fd));
        tt_status st = tt_tls_connect(ctx, fd, ep->host, deadline, &tls);
        if (st != TT_OK) {
            close(fd);
            return tt_error_prefix(st, "%s: ", ep->text);
        }
    } else {
        TT_TRY(tt_sock_connect(ep, deadline, &fd));
    }
    tt_rconn *c = tt_calloc(1, sizeof *c);
    if (!c) {
        tt_tls_free(tls);
        close(fd);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a connection");
    }
    c->fd = fd;
    c->tls = tls;
    snprintf(c->label, sizeof c->label, "%s", ep->text);
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = c;
    return TT_OK;
}

void tt_rconn_close(tt_rconn *c)
{
    if (!c)
        return;
    if (c->rd_buf)
        tt_buf_release(c->rd_buf);
    tt_tls_free(c->tls);
    close(c->fd);
    pthread_mutex_destroy(&c->wlock);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    tt_free(c);
}

bool tt_rconn_broken(tt_rconn *c)
{
    pthread_mutex_lock(&c->lock);
    bool b = c->broken;
    pthread_mutex_unlock(&c->lock);
    return b;
}

int tt_rconn_fd(const tt_rconn *c)
{
    return c->fd;
}

void tt_rconn_set_label(tt_rconn *c, const char *label)
{
    snprintf(c->label, sizeof c->label, "%s", label);
}

void tt_rconn_set_check(tt_rconn *c, tt_rconn_check fn, void *ud, int first_ms, int every_ms)
{
    pthread_mutex_lock(&c->lock);
    c->check = fn;
    c->check_ud = ud;
    c->check_first_ns = (int64_t)first_ms * 1000000;
    c->check_every_ns = (int64_t)every_ms * 1000000;
    pthread_mutex_unlock(&c->lock);
}

/* When the check is next due (under c->lock): once the oldest waiting call has waited
 * check_first_ns, and check_every_ns after the last check; TT_NO_DEADLINE when none is set. */
static int64_t check_due_locked(const tt_rconn *c)
{
    if (!c->check || !c->pending)
        return TT_NO_DEADLINE;
    int64_t oldest = c->pending->since;
    for (const pending *q = c->pending; q; q = q->next)
        if (q->since < oldest)
            oldest = q->since;
    int64_t due = oldest + c->check_first_ns, again = c->last_check_ns + c->check_every_ns;
    return due > again ? due : again;
}

/* Called with c->lock held. Wakes every waiter; the socket is shut so a reader blocked in
 * poll returns at once. */
static void break_locked(tt_rconn *c, tt_status st, const char *msg)
{
    if (c->broken)
        return;
    c->broken = true;
    c->broken_st = st;
    snprintf(c->broken_msg, sizeof c->broken_msg, "accelerator %s: %s", c->label, msg);
    shutdown(c->fd, SHUT_RDWR);
    pthread_cond_broadcast(&c->cond);
}

static tt_status read_bytes(tt_rconn *c, void *p, size_t n, int64_t deadline, size_t *got)
{
    return c->tls ? tt_tls_read_all(c->tls, p, n, deadline, got) : tt_sock_read_all(c->fd, p, n, deadline, got);
}

/* Reads one frame, or what more of it arrives until `wake` (then TIMEOUT). What was read
 * is kept in c, so that a frame that arrives slowly, or stops midway (a server stopped
 * while sending), does not hold back the check: the next read, by this waiter or another,
 * goes on from there. */
static tt_status read_frame(tt_rconn *c, int64_t wake, tt_frame_hdr *h, tt_buf **buf)
{
    *buf = NULL;
    if (c->rd_hgot < sizeof c->rd_hb) {
        size_t got = 0;
        tt_status st = read_bytes(c, c->rd_hb + c->rd_hgot, sizeof c->rd_hb - c->rd_hgot, wake, &got);
        c->rd_hgot += got;
        if (st != TT_OK)
            return st;
        TT_TRY(tt_frame_hdr_decode(c->rd_hb, &c->rd_h));
        if (!(c->rd_h.cmd & TT_CMD_REPLY))
            return tt_error(TETHER_ERR_PROTOCOL, "the server sent a request (%s), not a reply",
                            tt_cmd_name(c->rd_h.cmd));
        if (c->rd_h.len > MAX_REPLY)
            return tt_error(TETHER_ERR_PROTOCOL, "the server announced a %llu-byte reply",
                            (unsigned long long)c->rd_h.len);
        c->rd_bgot = 0;
        if (c->rd_h.len > 0)
            TT_TRY(tt_buf_new_raw((size_t)c->rd_h.len, &c->rd_buf));
    }
    if (c->rd_bgot < c->rd_h.len) {
        size_t got = 0;
        tt_status st = read_bytes(c, c->rd_buf->data + c->rd_bgot, (size_t)c->rd_h.len - c->rd_bgot, wake, &got);
        c->rd_bgot += got;
        if (st != TT_OK)
            return st;
    }
    *h = c->rd_h;
    *buf = c->rd_buf;
    c->rd_buf = NULL;
    c->rd_hgot = c->rd_bgot = 0;
    return TT_OK;
}

static void unlink_pending_locked(tt_rconn *c, pending *p)
{
    for (pending **q = &c->pending; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            return;
        }
}

static void cond_wait_until(tt_rconn *c, int64_t deadline)
{
    if (deadline == TT_NO_DEADLINE) {
        pthread_cond_wait(&c->cond, &c->lock);
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000), .tv_nsec = (long)(deadline % 1000000000)};
    pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

/* The error a call returns for an error reply: code, the accelerator, request id, reason. */
static tt_status reply_error(tt_rconn *c, uint8_t cmd, tt_reply *r)
{
    tt_msg_error e;
    tt_status st = (tt_status)r->h.status;
    if (tt_msg_error_decode(tt_reply_data(r), r->len, &e) != TT_OK)
        snprintf(e.message, sizeof e.message, "(the error reply was malformed)");
    tt_error(st, "accelerator %s: request %u (%s) failed: %s", e.accel_id[0] ? e.accel_id : c->label, r->h.req_id,
             tt_cmd_name(cmd), e.message);
    tt_reply_free(r);
    return st;
}

tt_status tt_rconn_call(tt_rconn *c, uint8_t cmd, tt_wr *w, struct iovec *extra, int n_extra, uint64_t extra_len,
                        int64_t deadline, tt_reply *rep)
{
    memset(rep, 0, sizeof *rep);
    TT_TRY(tt_wr_status(w));
    pending p = {0};
    pthread_mutex_lock(&c->lock);
    if (c->broken) {
        tt_status st = tt_error(c->broken_st, "%s", c->broken_msg);
        pthread_mutex_unlock(&c->lock);
        return st;
    }
    if (++c->next_id == 0)
        c->next_id = 1;
    p.id = c->next_id;
    p.since = tt_now_ns();
    p.next = c->pending;
    c->pending = &p;
    pthread_mutex_unlock(&c->lock);

    tt_wr_frame_end(w, cmd, 0, p.id, extra_len);
    struct iovec stack[8], *iov = n_extra + 1 <= 8 ? stack : tt_calloc((size_t)n_extra + 1, sizeof *iov);
    tt_status st = iov ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory sending a request");
    if (st == TT_OK) {
        iov[0] = (struct iovec){w->p, w->n};
        for (int i = 0; i < n_extra; i++)
            iov[i + 1] = extra[i];
        pthread_mutex_lock(&c->wlock);
        st = c->tls ? tt_tls_writev_all(c->tls, iov, n_extra + 1, deadline)
                    : tt_sock_writev_all(c->fd, iov, n_extra + 1, deadline);
        pthread_mutex_unlock(&c->wlock);
    }
    if (iov && iov != stack)
        tt_free(iov);

    pthread_mutex_lock(&c->lock);
    if (st != TT_OK)
        break_locked(c, st, tt_last_error()); /* part of a frame may be out: the stream is unusable */
    bool timed_out = false;
    while (!p.done && !c->broken && !timed_out) {
        int64_t due = check_due_locked(c), wake = due < deadline ? due : deadline;
        if (due <= tt_now_ns() && due < deadline && !c->checking) {
            /* the check runs unlocked, on one waiting thread; the others go on waiting */
            c->checking = true;
            tt_rconn_check fn = c->check;
            void *ud = c->check_ud;
            pthread_mutex_unlock(&c->lock);
            tt_status cs = fn(ud);
            char why[300] = "";
            if (cs != TT_OK)
                snprintf(why, sizeof why, "%s", tt_last_error());
            pthread_mutex_lock(&c->lock);
            c->checking = false;
            c->last_check_ns = tt_now_ns();
            if (cs != TT_OK)
                break_locked(c, cs, why);
            continue;
        }
        if (c->checking && wake < deadline)
            wake = deadline < tt_now_ns() + c->check_every_ns ? deadline : tt_now_ns() + c->check_every_ns;
        if (!c->reading) {
            c->reading = true;
            pthread_mutex_unlock(&c->lock);
            tt_frame_hdr h;
            tt_buf *buf;
            tt_status rs = read_frame(c, wake, &h, &buf);
            bool midway = c->rd_hgot > 0;
            pthread_mutex_lock(&c->lock);
            c->reading = false;
            if (rs == TT_OK) {
                pending *q = c->pending;
                while (q && q->id != h.req_id)
                    q = q->next;
                if (q) {
                    q->rep = (tt_reply){.h = h, .buf = buf, .len = (size_t)h.len};
                    q->done = true;
                } else if (buf) {
                    tt_buf_release(buf); /* the answer to a call that timed out */
                }
            } else if (rs == TETHER_ERR_TIMEOUT && tt_now_ns() < deadline) {
                tt_error_clear(); /* woken for the check; a frame begun is kept for the next read */
            } else if (rs == TETHER_ERR_TIMEOUT && !midway) {
                timed_out = true;
            } else {
                /* a broken stream, or a reply stopped midway at a caller's deadline: unusable */
                break_locked(c, rs, tt_last_error());
            }
            pthread_cond_broadcast(&c->cond);
        } else {
            cond_wait_until(c, wake);
            timed_out = !p.done && tt_now_ns() >= deadline;
        }
    }
    unlink_pending_locked(c, &p);
    if (p.done) {
        pthread_mutex_unlock(&c->lock);
        *rep = p.rep;
        if (rep->h.status != 0)
            return reply_error(c, cmd, rep);
        if ((rep->h.cmd & ~TT_CMD_REPLY) != cmd) {
            tt_reply_free(rep);
            return tt_error(TETHER_ERR_PROTOCOL, "accelerator %s answered request %u (%s) with a %s reply", c->label,
                            p.id, tt_cmd_name(cmd), tt_cmd_name(rep->h.cmd));
        }
        return TT_OK;
    }
    if (c->broken) {
        st = tt_error(c->broken_st, "%s", c->broken_msg);
    } else {
        st = tt_error(TETHER_ERR_TIMEOUT, "accelerator %s: no reply to request %u (%s) within the timeout", c->label,
                      p.id, tt_cmd_name(cmd));
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

tt_status tt_rconn_hello(tt_rconn *c, int64_t deadline, tt_msg_hello_reply *info)
{
    tt_msg_hello m = {.magic = TT_WIRE_MAGIC, .version = TT_WIRE_VERSION};
    snprintf(m.name, sizeof m.name, "%s", program_invocation_short_name);
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_hello_encode(&w, &m);
    tt_reply r;
    tt_status st = tt_rconn_call(c, TT_CMD_HELLO, &w, NULL, 0, 0, deadline, &r);
    tt_wr_free(&w);
    if (st != TT_OK)
        return st;
    tt_msg_hello_reply hr;
    st = tt_msg_hello_reply_decode(tt_reply_data(&r), r.len, &hr);
    tt_reply_free(&r);
    if (st != TT_OK)
        return tt_error_prefix(st, "%s: ", c->label);
    if (hr.version != TT_WIRE_VERSION)
        return tt_error(TETHER_ERR_PROTOCOL, "%s speaks protocol version %u, this client %u", c->label, hr.version,
                        TT_WIRE_VERSION);
    if (info)
        *info = hr;
    return TT_OK;
}

tt_status tt_rconn_auth(tt_rconn *c, const char *slot_id, const uint8_t token[TT_WIRE_TOKEN_LEN], int64_t deadline,
                        tt_msg_slot *info)
{
    tt_msg_auth m;
    memset(&m, 0, sizeof m);
    snprintf(m.slot_id, sizeof m.slot_id, "%s", slot_id);
    memcpy(m.token, token, TT_WIRE_TOKEN_LEN);
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_auth_encode(&w, &m);
    memset(m.token, 0, sizeof m.token);
    tt_reply r;
    tt_status st = tt_rconn_call(c, TT_CMD_AUTH, &w, NULL, 0, 0, deadline, &r);
    memset(w.p, 0, w.n);
    tt_wr_free(&w);
    if (st != TT_OK)
        return st;
    tt_msg_slot s;
    st = tt_msg_slot_decode(tt_reply_data(&r), r.len, &s);
    tt_reply_free(&r);
    if (st != TT_OK)
        return st;
    tt_rconn_set_label(c, slot_id);
    if (info)
        *info = s;
    return TT_OK;
}

tt_status tt_rconn_open(const tt_endpoint *ep, const char *slot_id, const uint8_t *token, int64_t deadline,
                        tt_rconn **out)
{
    return tt_rconn_open_tls(ep, NULL, slot_id, token, deadline, out);
}

tt_status tt_rconn_open_tls(const tt_endpoint *ep, const tt_tls_files *files, const char *slot_id,
                            const uint8_t *token, int64_t deadline, tt_rconn **out)
{
    tt_rconn *c;
    TT_TRY(tt_rconn_connect_tls(ep, files, deadline, &c));
    tt_status st = tt_rconn_hello(c, deadline, NULL);
    if (st == TT_OK && slot_id)
        st = tt_rconn_auth(c, slot_id, token, deadline, NULL);
    if (st != TT_OK) {
        tt_rconn_close(c);
        return st;
    }
    *out = c;
    return TT_OK;
}
