/* Repository models over the native protocol: named handles on a connection, and RUN
 * requests submitted to the batcher, answered from the worker that ran their batch. */
#include "server/named.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/tensor.h"
#include "server/batch.h"
#include "server/repo.h"
#include "server/server.h"

#include <string.h>
#include <sys/uio.h>

#define MAX_NAMED 1024   /* named handles per connection */
#define MAX_INFLIGHT 1024 /* as for attached sessions */

int tt_status_http_code(tt_status st);

void tt_named_open(tt_conn *c, const tt_frame_hdr *h, const uint8_t *p)
{
    tt_server *srv = c->srv;
    char name[TT_REPO_MAX_NAME + 1], key[512];
    tt_rd r;
    tt_rd_init(&r, p, h->len);
    tt_rd_str(&r, name, sizeof name, "model name");
    uint64_t version = tt_rd_u64(&r, "version");
    tt_rd_str(&r, key, sizeof key, "API key");
    tt_status st = tt_rd_done(&r, "OPEN_MODEL", true);
    tt_repo_model *m = NULL;
    if (st == TT_OK && version > INT64_MAX)
        st = tt_error(TETHER_ERR_PROTOCOL, "OPEN_MODEL: version %llu is out of range", (unsigned long long)version);
    if (st == TT_OK)
        st = tt_repo_find(srv->repo, name, (int64_t)version, &m);
    if (st == TT_OK)
        st = tt_repo_authorize(srv->repo, m, key);
    memset(key, 0, sizeof key);
    uint32_t handle = 0;
    if (st == TT_OK) {
        pthread_mutex_lock(&c->lock);
        uint32_t i = 0;
        while (i < c->n_named && c->named[i])
            i++;
        if (i == c->n_named) {
            uint32_t cap = c->n_named ? c->n_named * 2 : 4;
            tt_repo_model **n = cap <= MAX_NAMED ? tt_realloc(c->named, sizeof *n * cap) : NULL;
            if (!n) {
                st = cap > MAX_NAMED ? tt_error(TETHER_ERR_BUSY, "%d models are open on this connection", MAX_NAMED)
                                     : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
            } else {
                memset(n + c->n_named, 0, sizeof *n * (cap - c->n_named));
                c->named = n;
                c->n_named = cap;
            }
        }
        if (st == TT_OK) {
            c->named[i] = m;
            handle = TT_WIRE_NAMED_HANDLE | (i + 1);
        }
        pthread_mutex_unlock(&c->lock);
    }
    if (st != TT_OK) {
        tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
        if (m)
            tt_repo_release(srv->repo, m);
        return;
    }
    tether_session *s = m->entry->session;
    size_t ni = tether_session_input_count(s), no = tether_session_output_count(s);
    tether_value_info *info = tt_calloc(ni + no + 1, sizeof *info);
    if (!info) {
        tt_named_close(c, handle);
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_NO_MEMORY, "out of memory");
        return;
    }
    for (size_t i = 0; i < ni; i++)
        tether_session_input_info(s, i, &info[i]);
    for (size_t i = 0; i < no; i++)
        tether_session_output_info(s, i, &info[ni + i]);
    pthread_mutex_lock(&srv->slots_lock);
    uint64_t used = m->slot->mem_used, quota = m->slot->type.memory_bytes;
    pthread_mutex_unlock(&srv->slots_lock);
    tt_msg_open_reply rep = {.handle = handle,
                             .weight_bytes = m->entry->stats.weight_bytes,
                             .activation_bytes = m->entry->stats.activation_bytes,
                             .flops = m->entry->stats.flops,
                             .parameters = m->entry->stats.parameters,
                             .nodes = (uint32_t)m->entry->stats.nodes,
                             .memory_used = used,
                             .memory_quota = quota,
                             .n_inputs = (uint16_t)ni,
                             .n_outputs = (uint16_t)no};
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_open_reply_encode(&w, &rep, info, info + ni);
    tt_conn_reply(c, h->cmd, h->req_id, &w);
    tt_wr_free(&w);
    tt_free(info);
}

static tt_repo_model *named_get(tt_conn *c, uint32_t handle)
{
    uint32_t i = (handle & ~TT_WIRE_NAMED_HANDLE) - 1;
    pthread_mutex_lock(&c->lock);
    tt_repo_model *m = tt_named_handle(handle) && i < c->n_named ? c->named[i] : NULL;
    if (m)
        tt_repo_retain(c->srv->repo, m);
    pthread_mutex_unlock(&c->lock);
    return m;
}

tt_status tt_named_close(tt_conn *c, uint32_t handle)
{
    uint32_t i = (handle & ~TT_WIRE_NAMED_HANDLE) - 1;
    pthread_mutex_lock(&c->lock);
    tt_repo_model *m = tt_named_handle(handle) && i < c->n_named ? c->named[i] : NULL;
    if (m)
        c->named[i] = NULL;
    pthread_mutex_unlock(&c->lock);
    if (!m)
        return tt_error(TETHER_ERR_NOT_FOUND, "no model handle 0x%08x on this connection", handle);
    tt_repo_release(c->srv->repo, m);
    return TT_OK;
}

void tt_named_release_all(tt_conn *c)
{
    for (uint32_t i = 0; i < c->n_named; i++)
        if (c->named[i])
            tt_repo_release(c->srv->repo, c->named[i]);
    tt_free(c->named);
    c->named = NULL;
    c->n_named = 0;
}

/* ---- runs ----------------------------------------------------------------------------- */

typedef struct nrun {
    tt_infer_req ireq;
    tt_conn *conn; /* retained */
    uint32_t req_id;
    uint8_t *payload; /* charged to the server's buffer budget: len bytes */
    uint64_t len;
    tt_arena arena;
} nrun;

static void nrun_free(nrun *n)
{
    if (n->ireq.model)
        tt_repo_release(n->conn->srv->repo, n->ireq.model);
    tt_free_aligned(n->payload);
    tt_buffer_give(n->conn->srv, n->len);
    tt_arena_free(&n->arena);
    atomic_fetch_sub(&n->conn->inflight, 1);
    tt_conn_release(n->conn);
    tt_free(n);
}

static void reply_rows(nrun *n, const tether_outputs *out, int64_t row0, int64_t rows, int64_t total)
{
    size_t k = tether_outputs_count(out);
    tether_tensor *t = tt_calloc(k + 1, sizeof *t);
    uint64_t *off = tt_calloc(k + 1, sizeof *off);
    struct iovec *iov = tt_calloc(tt_wire_iov_count(k), sizeof *iov);
    tt_status st = t && off && iov ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory for %zu outputs", k);
    for (size_t i = 0; i < k && st == TT_OK; i++) {
        t[i] = *tether_outputs_get(out, i);
        if (total > 0) { /* this request's rows of the batch's output */
            size_t row_bytes = t[i].size / (size_t)total;
            t[i].data = (uint8_t *)t[i].data + (size_t)row0 * row_bytes;
            t[i].size = (size_t)rows * row_bytes;
            t[i].dims[0] = rows;
        }
    }
    tt_wr w = {0};
    uint64_t payload = 0;
    if (st == TT_OK) {
        tt_wr_frame_begin(&w);
        tt_wr_u64(&w, tether_outputs_flops(out));
        tt_wr_u64(&w, n->ireq.queue_ns);
        tt_wr_u64(&w, n->ireq.compute_ns);
        st = tt_wire_tensors_encode(&w, TT_WIRE_HEADER, t, k, off, &payload);
    }
    if (st == TT_OK) {
        tt_wr_frame_end(&w, TT_CMD_RUN | TT_CMD_REPLY, 0, n->req_id, payload - (w.n - TT_WIRE_HEADER));
        int cnt = tt_wire_iov_fill(iov, &w, TT_WIRE_HEADER, t, k, off);
        if (!tt_conn_send(n->conn, iov, cnt, false))
            tt_conn_refuse_reply(n->conn, TT_CMD_RUN, n->req_id, TT_WIRE_HEADER + payload);
    } else {
        tt_conn_reply_error(n->conn, TT_CMD_RUN, n->req_id, st, NULL);
    }
    tt_wr_free(&w);
    tt_free(t);
    tt_free(off);
    tt_free(iov);
}

static void on_done(tt_infer_req *r, tt_status st, const char *msg, const tether_outputs *out, int64_t row0,
                    int64_t total)
{
    nrun *n = r->ud;
    if (st != TT_OK)
        tt_conn_reply_error(n->conn, TT_CMD_RUN, n->req_id, st, msg);
    else
        reply_rows(n, out, row0, r->rows, total);
    nrun_free(n);
}

void tt_named_run(tt_conn *c, const tt_frame_hdr *h, uint8_t *payload)
{
    if (atomic_load(&c->inflight) >= MAX_INFLIGHT) {
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_BUSY,
                            "too many requests in flight on this connection (limit 1024); wait for replies");
        tt_free_aligned(payload);
        tt_buffer_give(c->srv, h->len);
        return;
    }
    nrun *n = tt_calloc(1, sizeof *n);
    if (!n) {
        tt_conn_reply_error(c, h->cmd, h->req_id, TETHER_ERR_NO_MEMORY, "out of memory");
        tt_free_aligned(payload);
        tt_buffer_give(c->srv, h->len);
        return;
    }
    tt_conn_retain(c);
    atomic_fetch_add(&c->inflight, 1);
    n->conn = c;
    n->req_id = h->req_id;
    n->payload = payload;
    n->len = h->len;
    tt_arena_init(&n->arena);
    tt_rd r;
    tt_rd_init(&r, payload, h->len);
    uint32_t handle = tt_rd_u32(&r, "handle");
    tt_status st = tt_rd_done(&r, "RUN", false);
    tt_wire_tensor *wt = NULL;
    size_t nt = 0;
    if (st == TT_OK)
        st = tt_wire_tensors_decode(&r, tt_max_tensor_bytes(), &n->arena, &wt, &nt);
    tether_tensor *in = NULL;
    if (st == TT_OK && !(in = tt_arena_alloc(&n->arena, sizeof *in * (nt ? nt : 1))))
        st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; st == TT_OK && i < nt; i++) {
        in[i] = (tether_tensor){.name = wt[i].name[0] ? wt[i].name : NULL,
                                .dtype = (tether_dtype)wt[i].dtype,
                                .rank = wt[i].rank,
                                .data = payload + wt[i].offset,
                                .size = (size_t)wt[i].nbytes};
        memcpy(in[i].dims, wt[i].dims, sizeof in[i].dims);
    }
    tt_repo_model *m = NULL;
    if (st == TT_OK && !(m = named_get(c, handle)))
        st = tt_error(TETHER_ERR_NOT_FOUND, "no model handle 0x%08x on this connection (closed?)", handle);
    if (st == TT_OK) {
        n->ireq = (tt_infer_req){.model = m, .inputs = in, .n_inputs = nt, .done = on_done, .ud = n};
        st = tt_batch_submit(c->srv->repo, &n->ireq);
        if (st != TT_OK)
            tt_repo_count(c->srv->repo, m, tt_status_http_code(st));
    }
    if (st != TT_OK) {
        tt_conn_reply_error(c, h->cmd, h->req_id, st, NULL);
        nrun_free(n);
    }
}
