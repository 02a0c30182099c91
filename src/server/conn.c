/* Connection I/O for tetherd. Input is parsed on the loop thread: every header is checked
 * (command, flags, and a length within what this connection may send now) before a byte of
 * payload is allocated. Output is written by whichever thread has a reply; what the socket
 * does not take is queued and the loop flushes it when the socket becomes writable. */
#include "server/conn.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"
#include "net/tls.h"
#include "server/cache.h"
#include "server/named.h"
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAMES_PER_WAKE 64      /* then let other connections have the loop */
#define MAX_QUEUED_OUT (256u << 20) /* one connection's share of the buffer budget, at most */
#define PAUSE_AT (256u << 10)       /* queued replies past this: no more requests are read */
#define ERROR_SLACK (16u << 20)     /* short error replies may pass the budget by this much */

static int64_t now_ns(void)
{
    return tt_now_ns();
}

/* ---- the server's buffer budget ---------------------------------------------------- */

bool tt_buffer_take(tt_server *srv, uint64_t n)
{
    uint64_t cur = atomic_load(&srv->buffered);
    do {
        if (n > srv->max_buffered || cur > srv->max_buffered - n)
            return false;
    } while (!atomic_compare_exchange_weak(&srv->buffered, &cur, cur + n));
    return true;
}

void tt_buffer_give(tt_server *srv, uint64_t n)
{
    atomic_fetch_sub(&srv->buffered, n);
}

/* The loop watches for input unless replies are piling up unread, and for writability while
 * any are queued. Called with c->lock held. */
static void update_interest_locked(tt_conn *c)
{
    unsigned want = (c->out_bytes >= PAUSE_AT ? 0 : TT_EV_READ) | (c->out_head || c->tls_again ? TT_EV_WRITE : 0);
    if (want != c->interest && !c->dead) {
        c->interest = want;
        tt_loop_mod(c->srv->loop, &c->io, want);
    }
}

/* ---- lifetime ------------------------------------------------------------------------ */

void tt_conn_retain(tt_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

static void conn_free(tt_conn *c)
{
    for (uint32_t h = 0; h < c->n_handles; h++) {
        if (!c->handles[h])
            continue;
        tt_slots_uncharge(c->srv, c->slot, c->slot_gen, c->handles[h]);
        tt_cache_release(&c->srv->cache, c->handles[h]);
    }
    tt_free(c->handles);
    tt_free(c->handle_threads);
    tt_named_release_all(c);
    while (c->out_head) {
        tt_outbuf *b = c->out_head;
        c->out_head = b->next;
        tt_buffer_give(c->srv, b->len);
        tt_free(b);
    }
    if (c->payload) {
        tt_free_aligned(c->payload);
        tt_buffer_give(c->srv, c->hdr.len);
    }
    tt_tls_free(c->tls);
    if (c->io.fd >= 0)
        close(c->io.fd);
    pthread_mutex_destroy(&c->lock);
    tt_free(c);
}

void tt_conn_release(tt_conn *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        conn_free(c);
}

void tt_conn_close(tt_conn *c, const char *why)
{
    if (c->closed)
        return;
    tt_server *srv = c->srv;
    tt_log(TT_LOG_DEBUG, "connection %s closed: %s", c->peer, why);
    c->closed = true;
    atomic_store(&c->gone, true);
    tt_loop_del(srv->loop, &c->io);
    pthread_mutex_lock(&c->lock);
    c->dead = true;
    pthread_mutex_unlock(&c->lock);
    /* the fd stays open until the last job lets go, so it can never be reused under a
     * worker still holding this connection; shutdown tells the peer now */
    shutdown(c->io.fd, SHUT_RDWR);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->n_conns--;
    /* events for c may still be pending in this batch: the loop's reference goes after it */
    c->next = srv->closing;
    c->prev = NULL;
    srv->closing = c;
}

/* One write to the socket, or through TLS; called with c->lock held. A TLS write that must
 * wait is offered the same bytes again later: the queue keeps them in order. */
static ssize_t send_locked(tt_conn *c, const void *p, size_t n)
{
    if (!c->tls)
        return send(c->io.fd, p, n, MSG_NOSIGNAL);
    bool want_read;
    return tt_tls_write(c->tls, p, n, &want_read);
}

/* Sends what is queued; called with c->lock held. Returns false on a dead socket. */
static bool flush_locked(tt_conn *c)
{
    while (c->out_head) {
        tt_outbuf *b = c->out_head;
        ssize_t k = send_locked(c, b->data + b->off, b->len - b->off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            return false;
        }
        b->off += (size_t)k;
        c->out_bytes -= (size_t)k;
        c->write_ns = now_ns();
        if (b->off == b->len) {
            c->out_head = b->next;
            if (!c->out_head)
                c->out_tail = NULL;
            tt_buffer_give(c->srv, b->len);
            tt_free(b);
        }
    }
    return true;
}

void tt_conn_end(tt_conn *c)
{
    c->draining = true;
    c->frame_since_ns = now_ns();
    pthread_mutex_lock(&c->lock);
    if (c->out_head)
        c->shut_after_flush = true;
    else
        shutdown(c->io.fd, SHUT_WR);
    pthread_mutex_unlock(&c->lock);
}

/* Fatal protocol error: reply, stop reading requests, and let the peer read the reply
 * before the connection goes (closing with unread input would reset it and lose it). */
void tt_conn_fail(tt_conn *c, uint8_t cmd, uint32_t req_id, tt_status st, const char *msg)
{
    atomic_fetch_add(&c->srv->frames_bad, 1);
    tt_log(TT_LOG_DEBUG, "connection %s: %s", c->peer, msg);
    tt_conn_reply_error(c, cmd, req_id, st, msg);
    c->draining = true;
    c->frame_since_ns = now_ns();
    pthread_mutex_lock(&c->lock);
    if (c->out_head)
        c->shut_after_flush = true;
    else
        shutdown(c->io.fd, SHUT_WR);
    pthread_mutex_unlock(&c->lock);
}

/* ---- input --------------------------------------------------------------------------- */

/* A complete frame: hand it over and reset for the next. */
static void frame_done(tt_conn *c, uint8_t *payload)
{
    tt_frame_hdr h = c->hdr;
    c->payload = NULL;
    c->payload_got = 0;
    c->frame_since_ns = 0;
    c->active_ns = now_ns();
    tt_request_dispatch(c, &h, payload);
}

/* Parses every frame out of the staging buffer (bounded by its size: the socket may hold
 * nothing more, so a frame left staged would wait for the client's next bytes). Returns
 * false when the connection failed. */
static bool parse_staged(tt_conn *c, int *frames)
{
    /* what is staged of a refused frame is dropped first */
    if (c->skip) {
        size_t drop = c->stage_len - c->stage_off < c->skip ? c->stage_len - c->stage_off : (size_t)c->skip;
        c->stage_off += drop;
        c->skip -= drop;
        if (!c->skip)
            c->frame_since_ns = 0;
    }
    while (!c->closed && !c->draining && !c->payload && !c->skip &&
           c->stage_len - c->stage_off >= TT_WIRE_HEADER) {
        const uint8_t *p = c->stage + c->stage_off;
        if (tt_frame_hdr_decode(p, &c->hdr) != TT_OK) {
            tt_conn_fail(c, p[0], 0, TETHER_ERR_PROTOCOL, tt_last_error());
            return false;
        }
        if (c->hdr.cmd & TT_CMD_REPLY) {
            tt_conn_fail(c, c->hdr.cmd & ~TT_CMD_REPLY, c->hdr.req_id, TETHER_ERR_PROTOCOL,
                         "a client sends requests, not replies");
            return false;
        }
        uint64_t max = tt_request_max_len(c, c->hdr.cmd);
        if (c->hdr.len > max) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s frame of %llu bytes is over the %llu-byte limit for this connection%s",
                     tt_cmd_name(c->hdr.cmd), (unsigned long long)c->hdr.len, (unsigned long long)max,
                     c->slot ? "" : " (attach with AUTH first)");
            tt_conn_fail(c, c->hdr.cmd, c->hdr.req_id, TETHER_ERR_PROTOCOL, msg);
            return false;
        }
        size_t avail = c->stage_len - c->stage_off - TT_WIRE_HEADER;
        size_t take = avail < c->hdr.len ? avail : (size_t)c->hdr.len;
        if (!tt_buffer_take(c->srv, c->hdr.len)) {
            /* every client's bytes together are bounded: this frame waits for room no more
             * than its sender does — it is refused, read and dropped */
            char msg[300];
            snprintf(msg, sizeof msg,
                     "the server is busy: it already holds %llu of its %llu bytes of requests and replies for its "
                     "clients, and this %s frame of %llu bytes does not fit; try again shortly",
                     (unsigned long long)atomic_load(&c->srv->buffered), (unsigned long long)c->srv->max_buffered,
                     tt_cmd_name(c->hdr.cmd), (unsigned long long)c->hdr.len);
            atomic_fetch_add(&c->srv->busy_refusals, 1);
            tt_conn_reply_error(c, c->hdr.cmd, c->hdr.req_id, TETHER_ERR_BUSY, msg);
            c->stage_off += TT_WIRE_HEADER + take;
            c->skip = c->hdr.len - take;
            if (c->skip && !c->frame_since_ns)
                c->frame_since_ns = now_ns();
            continue;
        }
        uint8_t *payload = tt_malloc_aligned((size_t)c->hdr.len);
        if (!payload) {
            tt_buffer_give(c->srv, c->hdr.len);
            tt_conn_fail(c, c->hdr.cmd, c->hdr.req_id, TETHER_ERR_NO_MEMORY, "out of memory for the request");
            return false;
        }
        memcpy(payload, p + TT_WIRE_HEADER, take);
        c->stage_off += TT_WIRE_HEADER + take;
        (*frames)++;
        if (take == c->hdr.len) {
            frame_done(c, payload);
        } else {
            /* the rest goes straight into the payload buffer, without staging */
            c->payload = payload;
            c->payload_got = take;
            if (!c->frame_since_ns)
                c->frame_since_ns = now_ns();
        }
    }
    if (c->stage_off == c->stage_len) {
        c->stage_off = c->stage_len = 0;
    } else if (c->stage_off > 0) {
        memmove(c->stage, c->stage + c->stage_off, c->stage_len - c->stage_off);
        c->stage_len -= c->stage_off;
        c->stage_off = 0;
    }
    if (c->stage_len && !c->frame_since_ns)
        c->frame_since_ns = now_ns();
    return true;
}

/* One read from the socket, or through TLS under the connection's lock (a worker may be
 * writing a reply through the same TLS state). A TLS handshake that must write and cannot
 * yet asks the loop for writability. */
static ssize_t conn_recv(tt_conn *c, void *buf, size_t n)
{
    if (!c->tls)
        return read(c->io.fd, buf, n);
    bool want_write;
    pthread_mutex_lock(&c->lock);
    ssize_t k = tt_tls_read(c->tls, buf, n, &want_write);
    int e = errno;
    if (k < 0 && e == EAGAIN && want_write) {
        c->tls_again = true;
        update_interest_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
    if (k < 0 && e != EAGAIN)
        tt_log(e == EPROTO ? TT_LOG_WARN : TT_LOG_DEBUG, "connection %s: %s", c->peer, tt_last_error());
    errno = e;
    return k;
}

/* Decrypted bytes left inside TLS when on_readable stopped for fairness: the socket may
 * show nothing more, so the loop is asked to call again (through writability, which a
 * connection has at once). */
static void tls_recall(tt_conn *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->dead && tt_tls_pending(c->tls)) {
        c->tls_again = true;
        update_interest_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
}

static void on_readable(tt_conn *c)
{
    int frames = 0;
    size_t budget = 8u << 20; /* bytes per wake-up, for fairness between connections */
    while (!c->closed && frames < MAX_FRAMES_PER_WAKE && budget > 0) {
        pthread_mutex_lock(&c->lock);
        bool paused = !(c->interest & TT_EV_READ);
        pthread_mutex_unlock(&c->lock);
        if (paused && !c->draining) {
            if (c->tls)
                tls_recall(c);
            return; /* replies are not being read: neither are requests, until they are */
        }
        ssize_t k;
        uint8_t sink[4096];
        if (c->draining) {
            k = conn_recv(c, sink, sizeof sink);
        } else if (c->skip) {
            k = conn_recv(c, sink, c->skip < sizeof sink ? (size_t)c->skip : sizeof sink);
            if (k > 0 && (c->skip -= (uint64_t)k) == 0)
                c->frame_since_ns = 0;
        } else if (c->payload) {
            size_t want = (size_t)c->hdr.len - c->payload_got;
            k = conn_recv(c, c->payload + c->payload_got, want < budget ? want : budget);
            if (k > 0) {
                c->payload_got += (size_t)k;
                if (c->payload_got == c->hdr.len)
                    frame_done(c, c->payload);
            }
        } else {
            k = conn_recv(c, c->stage + c->stage_len, sizeof c->stage - c->stage_len);
            if (k > 0) {
                c->stage_len += (size_t)k;
                if (!parse_staged(c, &frames))
                    continue; /* draining now */
            }
        }
        if (k == 0) {
            tt_conn_close(c, c->frame_since_ns ? "peer closed mid-frame" : "peer closed");
            return;
        }
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                tt_conn_close(c, c->tls ? "TLS error" : strerror(errno));
            return;
        }
        budget -= (size_t)k < budget ? (size_t)k : budget;
    }
    if (c->tls && !c->closed)
        tls_recall(c);
}

static void on_event(tt_loop *l, tt_io *io, unsigned events)
{
    (void)l;
    tt_conn *c = io->owner;
    if (c->closed)
        return;
    pthread_mutex_lock(&c->lock);
    bool again = c->tls_again && (events & TT_EV_WRITE);
    if (again)
        c->tls_again = false;
    /* writable, or a hang-up while reading is paused: either way the queue is flushed, which
     * tells a dead peer from a slow one */
    bool ok = true;
    if (c->out_head && ((events & TT_EV_WRITE) || !(c->interest & TT_EV_READ)))
        ok = flush_locked(c);
    if (ok && !c->out_head && c->shut_after_flush) {
        c->shut_after_flush = false;
        shutdown(c->io.fd, SHUT_WR);
    }
    if (ok)
        update_interest_locked(c);
    pthread_mutex_unlock(&c->lock);
    if (!ok) {
        tt_conn_close(c, "write failed");
        return;
    }
    /* TLS reads also after writability when it asked to: a handshake step, or bytes left
     * decrypted, wait on it */
    if ((events & TT_EV_READ) || again)
        on_readable(c);
}

static void peer_name(int fd, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, n, "fd %d", fd);
    } else if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, n, "%s:%d", host, ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(out, n, "[%s]:%d", host, ntohs(a->sin6_port));
    } else {
        snprintf(out, n, "unix fd %d", fd);
    }
}

void tt_conn_accept(tt_loop *l, tt_io *listener, unsigned events)
{
    (void)events;
    tt_server *srv = listener->owner;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                tt_log(TT_LOG_WARN, "accept: %s", strerror(errno));
            return;
        }
        tt_listener *from = (tt_listener *)listener; /* io is its first member */
        if (srv->n_conns >= srv->cfg.max_conns && from->tls) {
            close(fd); /* a plain-text refusal would only garble a TLS handshake */
            tt_log(TT_LOG_WARN, "refused a connection: at the limit of %d", srv->cfg.max_conns);
            continue;
        }
        if (srv->n_conns >= srv->cfg.max_conns) {
            /* a best-effort refusal: the socket is fresh, the few bytes fit its buffer */
            tt_wr w = {0};
            tt_wr_frame_begin(&w);
            char msg[160];
            snprintf(msg, sizeof msg, "the server is at its limit of %d connections; try again later",
                     srv->cfg.max_conns);
            tt_msg_error_encode(&w, msg, "");
            tt_wr_frame_end(&w, TT_CMD_HELLO | TT_CMD_REPLY, TETHER_ERR_BUSY, 0, 0);
            if (!w.oom && send(fd, w.p, w.n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                tt_log(TT_LOG_DEBUG, "refusing a connection: %s", strerror(errno));
            tt_wr_free(&w);
            close(fd);
            tt_log(TT_LOG_WARN, "refused a connection: at the limit of %d", srv->cfg.max_conns);
            continue;
        }
        tt_conn *c = tt_calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        if (from->tls && tt_tls_accept(from->tls, fd, &c->tls) != TT_OK) {
            tt_log(TT_LOG_WARN, "%s", tt_last_error());
            close(fd);
            tt_free(c);
            continue;
        }
        tt_sock_tune(fd);
        c->io = (tt_io){.fd = fd, .fn = on_event, .owner = c};
        c->srv = srv;
        atomic_init(&c->refs, 1);
        pthread_mutex_init(&c->lock, NULL);
        c->active_ns = c->connected_ns = now_ns();
        c->interest = TT_EV_READ;
        peer_name(fd, c->peer, sizeof c->peer);
        if (tt_loop_add(l, &c->io, TT_EV_READ) != TT_OK) {
            tt_log(TT_LOG_WARN, "%s", tt_last_error());
            conn_free(c);
            continue;
        }
        c->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = c;
        srv->conns = c;
        srv->n_conns++;
        atomic_fetch_add(&srv->conns_total, 1);
        tt_log(TT_LOG_DEBUG, "connection from %s", c->peer);
    }
}

void tt_conn_sweep(tt_server *srv)
{
    const int64_t s_ns = 1000000000;
    int64_t now = now_ns();
    int64_t frame_to = srv->cfg.frame_timeout_s * s_ns, idle_to = srv->cfg.idle_timeout_s * s_ns,
            auth_to = srv->cfg.auth_timeout_s * s_ns, attached_to = srv->cfg.attached_idle_s * s_ns;
    tt_conn *next;
    for (tt_conn *c = srv->conns; c; c = next) {
        next = c->next;
        pthread_mutex_lock(&c->lock);
        bool stalled = c->out_head && now - c->write_ns > frame_to, queued = c->out_head != NULL;
        pthread_mutex_unlock(&c->lock);
        bool busy = atomic_load(&c->inflight) > 0 || queued;
        bool bound = c->slot || c->n_named; /* attached, or holding repository models (named.h) */
        if (c->draining && now - c->frame_since_ns > 2 * s_ns)
            tt_conn_close(c, "error reply sent");
        else if (c->frame_since_ns && now - c->frame_since_ns > frame_to)
            tt_conn_close(c, "a frame did not arrive whole within the frame timeout");
        else if (stalled)
            tt_conn_close(c, "its replies were not read within the frame timeout");
        else if (!bound && now - c->connected_ns > auth_to)
            tt_conn_close(c, "not attached within the auth timeout");
        else if (!bound && now - c->active_ns > idle_to && !busy)
            tt_conn_close(c, "idle without attaching");
        else if (bound && now - c->active_ns > attached_to && !busy)
            tt_conn_close(c, "idle past the attached idle timeout");
    }
}

/* ---- output -------------------------------------------------------------------------- */

bool tt_conn_send(tt_conn *c, struct iovec *iov, int n, bool must)
{
    pthread_mutex_lock(&c->lock);
    if (c->dead) {
        pthread_mutex_unlock(&c->lock);
        return true;
    }
    bool sent_some = false;
    if (!c->out_head && c->tls) {
        /* TLS takes one buffer at a time; what it will not take now is queued below */
        while (n > 0) {
            if (iov->iov_len == 0) {
                iov++, n--;
                continue;
            }
            ssize_t k = send_locked(c, iov->iov_base, iov->iov_len);
            if (k < 0) {
                if (errno != EAGAIN) {
                    c->dead = true;
                    atomic_store(&c->gone, true);
                    pthread_mutex_unlock(&c->lock);
                    return true;
                }
                break;
            }
            sent_some = true;
            tt_iov_advance(&iov, &n, (size_t)k);
        }
    } else if (!c->out_head) {
        /* the common case: nothing queued, the socket takes it all now, no copy */
        while (n > 0) {
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)(n > 1024 ? 1024 : n)};
            ssize_t k = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    /* the loop sees the broken socket on its side and closes it */
                    c->dead = true;
                    atomic_store(&c->gone, true);
                    pthread_mutex_unlock(&c->lock);
                    return true;
                }
                break;
            }
            sent_some |= k > 0;
            tt_iov_advance(&iov, &n, (size_t)k);
        }
    }
    size_t rest = 0;
    for (int i = 0; i < n; i++)
        rest += iov[i].iov_len;
    if (rest == 0) {
        pthread_mutex_unlock(&c->lock);
        return true;
    }
    /* an error reply must reach its client even when the budget is spent, within a slack
     * that bounds them too (a connection that reads nothing stops being read, so it cannot
     * make many) */
    bool fits = c->out_bytes + rest <= MAX_QUEUED_OUT;
    if (fits && !tt_buffer_take(c->srv, rest)) {
        fits = false;
        if (must) {
            uint64_t after = atomic_fetch_add(&c->srv->buffered, rest) + rest;
            fits = after <= c->srv->max_buffered + ERROR_SLACK;
            if (!fits)
                tt_buffer_give(c->srv, rest);
        }
    }
    tt_outbuf *b = fits ? tt_malloc(sizeof *b + rest) : NULL;
    if (!b && fits)
        tt_buffer_give(c->srv, rest);
    if (!b && !sent_some && !must) {
        pthread_mutex_unlock(&c->lock);
        atomic_fetch_add(&c->srv->busy_refusals, 1);
        return false;
    }
    if (!b) {
        /* part of the frame is on the wire: the stream cannot go on without the rest */
        tt_log(TT_LOG_WARN, "connection %s: %zu reply bytes unread by the client; disconnecting it", c->peer,
               c->out_bytes + rest);
        c->dead = true;
        atomic_store(&c->gone, true);
        shutdown(c->io.fd, SHUT_RDWR);
        pthread_mutex_unlock(&c->lock);
        return true;
    }
    b->next = NULL;
    b->len = rest;
    b->off = 0;
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        memcpy(b->data + o, iov[i].iov_base, iov[i].iov_len);
        o += iov[i].iov_len;
    }
    if (c->out_tail)
        c->out_tail->next = b;
    else {
        c->out_head = b;
        c->write_ns = now_ns();
    }
    c->out_tail = b;
    c->out_bytes += rest;
    update_interest_locked(c);
    pthread_mutex_unlock(&c->lock);
    return true;
}

void tt_conn_refuse_reply(tt_conn *c, uint8_t cmd, uint32_t req_id, uint64_t bytes)
{
    char msg[300];
    snprintf(msg, sizeof msg,
             "the server is busy: the %llu-byte reply does not fit in its buffers for unread replies (%llu of %llu "
             "bytes in use); read replies sooner, or try again shortly",
             (unsigned long long)bytes, (unsigned long long)atomic_load(&c->srv->buffered),
             (unsigned long long)c->srv->max_buffered);
    tt_conn_reply_error(c, cmd, req_id, TETHER_ERR_BUSY, msg);
}

void tt_conn_reply(tt_conn *c, uint8_t cmd, uint32_t req_id, tt_wr *w)
{
    if (w->oom) {
        tt_conn_reply_error(c, cmd, req_id, TETHER_ERR_NO_MEMORY, "out of memory encoding the reply");
        return;
    }
    tt_wr_frame_end(w, cmd | TT_CMD_REPLY, 0, req_id, 0);
    struct iovec iov = {w->p, w->n};
    if (!tt_conn_send(c, &iov, 1, w->n <= 65536))
        tt_conn_refuse_reply(c, cmd, req_id, w->n);
}

void tt_conn_reply_error(tt_conn *c, uint8_t cmd, uint32_t req_id, tt_status st, const char *msg)
{
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    /* the copy made at AUTH: the slot's own id may change under its lock (a release) */
    tt_msg_error_encode(&w, msg ? msg : tt_last_error(), c->accel_id);
    tt_wr_frame_end(&w, (uint8_t)(cmd | TT_CMD_REPLY), (uint8_t)st, req_id, 0);
    if (!w.oom) {
        struct iovec iov = {w.p, w.n};
        tt_conn_send(c, &iov, 1, true);
    }
    tt_wr_free(&w);
}

/* ---- session handles ---------------------------------------------------------------- */

tt_status tt_conn_handle_add(tt_conn *c, tt_model_entry *m, uint32_t *handle)
{
    pthread_mutex_lock(&c->lock);
    if (c->dead) {
        pthread_mutex_unlock(&c->lock);
        return tt_error(TETHER_ERR_NETWORK, "the connection closed");
    }
    uint32_t h = 0;
    while (h < c->n_handles && c->handles[h])
        h++;
    if (h == c->n_handles) {
        if (c->n_handles >= 4096) {
            pthread_mutex_unlock(&c->lock);
            return tt_error(TETHER_ERR_BUSY, "4096 sessions are open on this connection; close some first");
        }
        uint32_t cap = c->n_handles ? c->n_handles * 2 : 8;
        tt_model_entry **nh = tt_realloc(c->handles, sizeof *nh * cap);
        if (nh)
            c->handles = nh;
        int *nt = nh ? tt_realloc(c->handle_threads, sizeof *nt * cap) : NULL;
        if (!nt) {
            pthread_mutex_unlock(&c->lock);
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a session handle");
        }
        c->handle_threads = nt;
        memset(nh + c->n_handles, 0, sizeof *nh * (cap - c->n_handles));
        c->n_handles = cap;
    }
    c->handles[h] = m;
    c->handle_threads[h] = 0;
    *handle = h + 1;
    pthread_mutex_unlock(&c->lock);
    return TT_OK;
}

void tt_conn_handle_set_threads(tt_conn *c, uint32_t handle, int threads)
{
    pthread_mutex_lock(&c->lock);
    if (handle >= 1 && handle <= c->n_handles && c->handles[handle - 1])
        c->handle_threads[handle - 1] = threads;
    pthread_mutex_unlock(&c->lock);
}

tt_model_entry *tt_conn_handle_get(tt_conn *c, uint32_t handle, int *threads)
{
    pthread_mutex_lock(&c->lock);
    tt_model_entry *m = handle >= 1 && handle <= c->n_handles ? c->handles[handle - 1] : NULL;
    if (m)
        tt_cache_retain(&c->srv->cache, m);
    if (threads)
        *threads = m ? c->handle_threads[handle - 1] : 0;
    pthread_mutex_unlock(&c->lock);
    return m;
}

tt_status tt_conn_handle_close(tt_conn *c, uint32_t handle)
{
    pthread_mutex_lock(&c->lock);
    tt_model_entry *m = handle >= 1 && handle <= c->n_handles ? c->handles[handle - 1] : NULL;
    if (m)
        c->handles[handle - 1] = NULL;
    pthread_mutex_unlock(&c->lock);
    if (!m)
        return tt_error(TETHER_ERR_NOT_FOUND, "no session handle %u on this connection", handle);
    tt_slots_uncharge(c->srv, c->slot, c->slot_gen, m);
    tt_cache_release(&c->srv->cache, m);
    return TT_OK;
}
