/* The protocol's commands, as tetherd answers them. Control requests (hello, ping, auth,
 * describe, reserve, release, close) are answered on the loop thread at once, in bounded
 * time; uploads and opens go to the background pool, and every inference to the scheduler's
 * workers, however fast it was last time (a model's run time depends on its inputs). */
#include "core/log.h"
#include "core/tensor.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/named.h"
#include "server/server.h"

#include <string.h>

#define SMALL_FRAME (64u << 10) /* control requests, and anything before AUTH */
#define MAX_INFLIGHT 1024       /* requests queued or running per connection */

uint64_t tt_request_max_len(const tt_conn *c, uint8_t cmd)
{
    uint64_t max = SMALL_FRAME;
    if (cmd == TT_CMD_RUN && c->n_named) /* runs of repository models need no attachment */
        max = c->srv->cfg.max_request;
    else if (c->slot && cmd == TT_CMD_MODEL_PUT)
        max = TT_WIRE_HASH_LEN + c->srv->cfg.max_upload;
    else if (c->slot && cmd == TT_CMD_RUN)
        max = c->srv->cfg.max_request;
    /* a frame larger than every client's buffers together could never be taken */
    return max < c->srv->max_buffered ? max : c->srv->max_buffered;
}

/* A request payload is charged to the server's buffer budget from its header on. */
static void payload_free(tt_conn *c, const tt_frame_hdr *h, uint8_t *payload)
{
    tt_free_aligned(payload);
    tt_buffer_give(c->srv, h->len);
}

static void reply_empty(tt_conn *c, const tt_frame_hdr *h)
{
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_conn_reply(c, h->cmd, h->req_id, &w);
    tt_wr_free(&w);
}

static void on_hello(tt_conn *c, const tt_frame_hdr *h, const uint8_t *p)
{
    tt_msg_hello m;
    if (tt_msg_hello_decode(p, h->len, &m) != TT_OK || m.magic != TT_WIRE_MAGIC) {
        tt_conn_fail(c, h->cmd, h->req_id, TETHER_ERR_PROTOCOL,
                     "this is a tetherd server and the first frame was not a tether HELLO");
        return;
    }
    if (m.version != TT_WIRE_VERSION) {
        char msg[160];
        snprintf(msg, sizeof msg, "the client speaks protocol version %u, this server speaks %u: upgrade the %s",
                 m.version, TT_WIRE_VERSION, m.version < TT_WIRE_VERSION ? "client" : "server");
        tt_conn_fail(c, h->cmd, h->req_id, TETHER_ERR_PROTOCOL, msg);
        return;
    }
    c->hello = true;
    tt_msg_hello_reply r = {.version = TT_WIRE_VERSION, .max_frame = c->srv->cfg.max_request};
    snprintf(r.server_id, sizeof r.server_id, "%s", c->srv->id);
    snprintf(r.device, sizeof r.device, "%s", c->srv->dev.name);
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_hello_reply_encode(&w, &r);
    tt_conn_reply(c, h->cmd, h->req_id, &w);
    tt_wr_free(&w);
}

static void on_auth(tt_conn *c, const tt_frame_hdr *h, const uint8_t *p)
{
    tt_msg_auth m;
    tt_msg_slot r;
    if (c->slot) {
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_INVALID_ARGUMENT,
                            "this connection is already attached; open another connection for another attachment");
        return;
    }
    tt_slot *slot;
    uint64_t gen;
    tt_status st = tt_msg_auth_decode(p, h->len, &m);
    if (st == TT_OK)
        st = tt_slots_auth(c->srv, &m, &slot, &gen, &r);
    memset(m.token, 0, sizeof m.token);
    if (st != TT_OK) {
        tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
        return;
    }
    /* one attachment cannot fill the server's connections */
    int held = 0;
    for (const tt_conn *o = c->srv->conns; o; o = o->next)
        held += o->slot == slot && o->slot_gen == gen;
    if (held >= c->srv->cfg.max_conns_per_attachment) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "attachment %s already has %d connections open, its limit on this server; close some first",
                 r.id, held);
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_BUSY, msg);
        return;
    }
    c->slot = slot;
    c->slot_gen = gen;
    snprintf(c->accel_id, sizeof c->accel_id, "%s", r.id);
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_slot_encode(&w, &r);
    tt_conn_reply(c, h->cmd, h->req_id, &w);
    tt_wr_free(&w);
}

static void on_reserve(tt_conn *c, const tt_frame_hdr *h, const uint8_t *p)
{
    tt_msg_reserve m;
    tt_msg_slot r;
    tt_status st = tt_msg_reserve_decode(p, h->len, &m);
    if (st == TT_OK)
        st = tt_slots_reserve(c->srv, &m, &r);
    memset(m.key, 0, sizeof m.key);
    if (st != TT_OK) {
        if (st == TETHER_ERR_AUTH)
            tt_log(TT_LOG_WARN, "refused a reservation from %s ('%s'): %s", c->peer, m.holder, tt_last_error());
        tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
        return;
    }
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_slot_encode(&w, &r);
    tt_conn_reply(c, h->cmd, h->req_id, &w);
    memset(w.p, 0, w.n); /* the token leaves only on the wire */
    memset(r.token, 0, sizeof r.token);
    tt_wr_free(&w);
}

static void on_release(tt_conn *c, const tt_frame_hdr *h)
{
    /* the attachment's other connections end now, this one once it has read the answer */
    tt_status st = tt_slots_release(c->srv, c->slot, c->slot_gen, c);
    if (st != TT_OK) {
        tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
        return;
    }
    reply_empty(c, h);
    tt_conn_end(c);
}

static void on_describe(tt_conn *c, const tt_frame_hdr *h)
{
    char *json = NULL;
    tt_slot *mine = c->slot && tt_slots_check(c->srv, c->slot, c->slot_gen) == TT_OK ? c->slot : NULL;
    tt_status st = tt_metrics_describe_json(c->srv, mine, &json);
    if (st != TT_OK) {
        tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
        return;
    }
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_wr_blob(&w, json, strlen(json));
    tt_conn_reply(c, h->cmd, h->req_id, &w);
    tt_wr_free(&w);
    tt_free(json);
}

static void on_close(tt_conn *c, const tt_frame_hdr *h, const uint8_t *p)
{
    tt_rd r;
    tt_rd_init(&r, p, h->len);
    uint32_t handle = tt_rd_u32(&r, "handle");
    tt_status st = tt_rd_done(&r, "CLOSE", true);
    if (st == TT_OK)
        st = tt_named_handle(handle) ? tt_named_close(c, handle) : tt_conn_handle_close(c, handle);
    if (st != TT_OK)
        tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
    else
        reply_empty(c, h);
}

/* Builds a job that keeps the payload; replies with the error on failure. */
static tt_job *make_job(tt_conn *c, const tt_frame_hdr *h, tt_job_kind kind, uint8_t *payload)
{
    if (atomic_load(&c->inflight) >= MAX_INFLIGHT) {
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_BUSY,
                            "too many requests in flight on this connection (limit 1024); wait for replies");
        payload_free(c, h, payload);
        return NULL;
    }
    tt_job *j;
    if (tt_job_new(kind, c, h->req_id, &j) != TT_OK) {
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_NO_MEMORY, NULL);
        payload_free(c, h, payload);
        return NULL;
    }
    j->slot = c->slot;
    j->slot_gen = c->slot_gen;
    j->payload = payload;
    j->len = (size_t)h->len;
    return j;
}

static void on_model(tt_conn *c, const tt_frame_hdr *h, uint8_t *payload)
{
    /* OPEN: the model's SHA-256, then optionally a u32 thread cap for the handle's runs (a
     * client's num_threads; older clients send the hash alone) */
    bool open_ok = h->len == TT_WIRE_HASH_LEN || h->len == TT_WIRE_HASH_LEN + 4;
    if (h->len < TT_WIRE_HASH_LEN || (h->cmd == TT_CMD_OPEN && !open_ok)) {
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_PROTOCOL,
                            h->cmd == TT_CMD_OPEN
                                ? "malformed OPEN: expected the model's 32-byte SHA-256 and an optional u32 thread cap"
                                : "malformed MODEL_PUT: expected a 32-byte SHA-256 and the model");
        payload_free(c, h, payload);
        return;
    }
    tt_job *j = make_job(c, h, h->cmd == TT_CMD_OPEN ? TT_JOB_OPEN : TT_JOB_PUT, payload);
    if (!j)
        return;
    memcpy(j->hash, payload, TT_WIRE_HASH_LEN);
    if (h->cmd == TT_CMD_OPEN && h->len == TT_WIRE_HASH_LEN + 4) {
        tt_rd r;
        tt_rd_init(&r, payload + TT_WIRE_HASH_LEN, 4);
        uint32_t t = tt_rd_u32(&r, "threads");
        j->threads = t > 1024 ? 1024 : (int)t; /* past the pool's size it caps nothing */
    }
    tt_sched_submit(c->srv, j);
}

static void on_run(tt_conn *c, const tt_frame_hdr *h, uint8_t *payload)
{
    tt_job *j = make_job(c, h, TT_JOB_RUN, payload);
    if (!j)
        return;
    tt_rd r;
    tt_rd_init(&r, payload, h->len);
    uint32_t handle = tt_rd_u32(&r, "handle");
    tt_status st = tt_rd_done(&r, "RUN", false);
    if (st == TT_OK)
        st = tt_wire_tensors_decode(&r, tt_max_tensor_bytes(), &j->arena, &j->tensors, &j->n_tensors);
    if (st == TT_OK && !(j->model = tt_conn_handle_get(c, handle, &j->threads)))
        st = tt_error(TETHER_ERR_NOT_FOUND,
                      "no session handle %u on this connection (closed, or opened on a "
                      "connection that has since gone)",
                      handle);
    if (st != TT_OK) {
        tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
        tt_job_free(j);
        return;
    }
    tt_sched_submit(c->srv, j);
}

void tt_request_dispatch(tt_conn *c, const tt_frame_hdr *h, uint8_t *payload)
{
    if (!c->hello && h->cmd != TT_CMD_HELLO) {
        tt_conn_fail(c, h->cmd, h->req_id, TETHER_ERR_PROTOCOL, "the first frame must be HELLO");
        payload_free(c, h, payload);
        return;
    }
    /* a handle on a repository model (OPEN_MODEL) needs no attachment */
    bool named = (h->cmd == TT_CMD_RUN || h->cmd == TT_CMD_CLOSE) && h->len >= 4 &&
                 tt_named_handle((uint32_t)payload[0] | (uint32_t)payload[1] << 8 | (uint32_t)payload[2] << 16 |
                                 (uint32_t)payload[3] << 24);
    bool needs_slot = !named && (h->cmd == TT_CMD_RELEASE || h->cmd == TT_CMD_MODEL_PUT || h->cmd == TT_CMD_OPEN ||
                                 h->cmd == TT_CMD_CLOSE || h->cmd == TT_CMD_RUN);
    if (needs_slot) {
        tt_status st = tt_slots_check(c->srv, c->slot, c->slot_gen);
        if (st != TT_OK) {
            tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
            payload_free(c, h, payload);
            return;
        }
    }
    /* stopping: what was accepted finishes, nothing new starts */
    bool new_work = h->cmd == TT_CMD_MODEL_PUT || h->cmd == TT_CMD_OPEN || h->cmd == TT_CMD_RUN ||
                    h->cmd == TT_CMD_RESERVE;
    if (new_work && c->srv->draining) {
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_BUSY, "the server is shutting down");
        payload_free(c, h, payload);
        return;
    }
    switch (h->cmd) {
    case TT_CMD_HELLO:
        if (c->hello)
            tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_PROTOCOL, "HELLO was already said");
        else
            on_hello(c, h, payload);
        break;
    case TT_CMD_PING: reply_empty(c, h); break;
    case TT_CMD_AUTH: on_auth(c, h, payload); break;
    case TT_CMD_DESCRIBE: on_describe(c, h); break;
    case TT_CMD_RESERVE: on_reserve(c, h, payload); break;
    case TT_CMD_RELEASE: on_release(c, h); break;
    case TT_CMD_CLOSE: on_close(c, h, payload); break;
    case TT_CMD_OPEN_MODEL: tt_named_open(c, h, payload); break;
    case TT_CMD_MODEL_PUT:
    case TT_CMD_OPEN: on_model(c, h, payload); return; /* the job owns the payload */
    case TT_CMD_RUN:
        if (named)
            tt_named_run(c, h, payload);
        else
            on_run(c, h, payload);
        return;
    default: tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_PROTOCOL, "unknown command"); break;
    }
    payload_free(c, h, payload);
}
