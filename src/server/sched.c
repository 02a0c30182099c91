/* The scheduler. Each inference is charged cost/rate seconds of its slot's time, where cost
 * is its FLOPs (or its device time scaled to the device's peak). Two clocks per slot:
 *  - vtag, a virtual finish tag (start-time fair queueing): among slots with work, the one
 *    with the smallest tag goes next, so busy slots share the device in proportion to their
 *    rates, and a slot returning from idle neither gets credit nor pays for lent time;
 *  - ready_at, real time (capped mode): a slot may not start before it has paid for what
 *    it already ran, so it never runs faster than its rate even on an idle device.
 * The charge is estimated at dispatch (the model's last run) and corrected after the run. */
#include "server/sched.h"

#include "core/log.h"
#include "core/tensor.h"
#include "server/server.h"

#include <math.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#define CAPPED_SLACK_S 0.010
#define IDLE_GRACE_S 0.010

tt_status tt_job_new(tt_job_kind kind, tt_conn *c, uint32_t req_id, tt_job **out)
{
    tt_job *j = tt_calloc(1, sizeof *j);
    if (!j)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a job");
    j->kind = kind;
    j->conn = c;
    j->req_id = req_id;
    tt_arena_init(&j->arena);
    if (c) {
        j->srv = c->srv;
        tt_conn_retain(c);
        atomic_fetch_add(&c->inflight, 1);
    }
    j->enqueued_ns = tt_now_ns();
    *out = j;
    return TT_OK;
}

void tt_job_free(tt_job *j)
{
    if (!j)
        return;
    if (j->done) /* dropped unrun (the server is stopping): its requests still get an answer */
        j->done(j, tt_error(TETHER_ERR_BUSY, "the server is shutting down"), NULL, 0, 0);
    if (j->model)
        tt_cache_release(&j->srv->cache, j->model);
    tt_free_aligned(j->payload);
    tt_arena_free(&j->arena);
    if (j->conn) {
        atomic_fetch_sub(&j->conn->inflight, 1);
        tt_conn_release(j->conn);
    }
    tt_free(j);
}

static bool conn_dead(tt_conn *c)
{
    if (!c)
        return false;
    pthread_mutex_lock(&c->lock);
    bool d = c->dead;
    pthread_mutex_unlock(&c->lock);
    return d;
}

/* ---- metering ---------------------------------------------------------------------- */

/* Seconds of the slot's rate that `flops` or `ns` of device time cost. */
static double cost_s(const tt_server *srv, const tt_slot *s, uint64_t flops, uint64_t ns)
{
    if (srv->cfg.meter == TT_METER_TIME || flops == 0)
        return ns * 1e-9 * srv->dev.peak_flops / s->rate;
    return (double)flops / s->rate;
}

static tt_slot *pick_locked(tt_server *srv, double now, double *wake_at)
{
    tt_slot *best = NULL;
    *wake_at = INFINITY;
    bool capped = srv->cfg.sched == TT_SCHED_CAPPED;
    for (int i = 0; i < srv->n_slots; i++) {
        tt_slot *s = &srv->slots[i];
        if (!s->queued)
            continue;
        if (capped && s->ready_at > now) {
            if (s->ready_at < *wake_at)
                *wake_at = s->ready_at;
            continue;
        }
        if (!best || s->vtag < best->vtag)
            best = s;
    }
    return best;
}

/* ---- jobs -------------------------------------------------------------------------- */

static void reply_run(tt_server *srv, tt_job *j, tether_outputs *out, uint64_t queue_ns, uint64_t compute_ns,
                      uint64_t *bytes_out)
{
    size_t n = tether_outputs_count(out);
    tether_tensor stack_t[16];
    uint64_t stack_off[16];
    struct iovec stack_iov[1 + 2 * 16];
    tether_tensor *t = n <= 16 ? stack_t : tt_calloc(n, sizeof *t);
    uint64_t *off = n <= 16 ? stack_off : tt_calloc(n, sizeof *off);
    struct iovec *iov = n <= 16 ? stack_iov : tt_calloc(tt_wire_iov_count(n), sizeof *iov);
    tt_wr w = {0};
    tt_status st = t && off && iov ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory for %zu outputs", n);
    for (size_t i = 0; i < n && st == TT_OK; i++)
        t[i] = *tether_outputs_get(out, i);
    uint64_t payload = 0;
    if (st == TT_OK) {
        tt_wr_frame_begin(&w);
        tt_wr_u64(&w, tether_outputs_flops(out));
        tt_wr_u64(&w, queue_ns);
        tt_wr_u64(&w, compute_ns);
        st = tt_wire_tensors_encode(&w, TT_WIRE_HEADER, t, n, off, &payload);
    }
    if (st == TT_OK) {
        tt_wr_frame_end(&w, TT_CMD_RUN | TT_CMD_REPLY, 0, j->req_id, payload - (w.n - TT_WIRE_HEADER));
        int k = tt_wire_iov_fill(iov, &w, TT_WIRE_HEADER, t, n, off);
        tt_conn_send(j->conn, iov, k);
        *bytes_out = payload;
    } else {
        tt_conn_reply_error(j->conn, TT_CMD_RUN, j->req_id, st, NULL);
    }
    tt_wr_free(&w);
    if (t != stack_t)
        tt_free(t);
    if (off != stack_off)
        tt_free(off);
    if (iov != stack_iov)
        tt_free(iov);
}

/* Runs one inference; returns its status (the message in tt_last_error), filling *flops and
 * *ns for the metering and *out with the outputs to send. */
static tt_status run_job(tt_job *j, int64_t started_ns, uint64_t *flops, uint64_t *ns, tether_outputs **out)
{
    tether_tensor stack_in[16];
    tether_tensor *in = j->n_tensors <= 16 ? stack_in : tt_arena_alloc(&j->arena, sizeof *in * j->n_tensors);
    *out = NULL;
    if (!in)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for inputs");
    for (size_t i = 0; i < j->n_tensors; i++) {
        const tt_wire_tensor *w = &j->tensors[i];
        in[i] = (tether_tensor){.name = w->name[0] ? w->name : NULL,
                                .dtype = w->dtype,
                                .rank = w->rank,
                                .data = j->payload + w->offset,
                                .size = (size_t)w->nbytes};
        memcpy(in[i].dims, w->dims, sizeof in[i].dims);
    }
    tt_status st = tether_session_run(j->model->session, in, j->n_tensors, out);
    *ns = (uint64_t)(tt_now_ns() - started_ns);
    *flops = st == TT_OK ? tether_outputs_flops(*out) : 0;
    return st;
}

/* Charges j to its slot as it starts (sched_lock held): the estimate from the model's
 * previous run moves the slot's fair-share tag and, capped, its earliest next start. */
static void dispatch_locked(tt_server *srv, tt_slot *s, tt_job *j, double now)
{
    s->running++;
    srv->running++;
    tt_model_entry *m = j->model;
    double est = cost_s(srv, s, atomic_load(&m->last_flops), atomic_load(&m->last_ns));
    srv->vtime = s->vtag;
    s->vtag += est;
    /* a dispatch that comes a little late (a worker waking up, a client between two
     * requests) keeps its place: losing that time at every run would hold the slot
     * below its rate, and the credit is too small to let a slot burst meaningfully */
    if (srv->cfg.sched == TT_SCHED_CAPPED)
        s->ready_at = fmax(s->ready_at, now - CAPPED_SLACK_S) + est;
    j->charged = est;
}

/* Runs a dispatched job (sched_lock not held), frees it, and settles the slot's account
 * and counters (taking sched_lock). */
static void execute(tt_server *srv, tt_slot *s, tt_job *j)
{
    tt_model_entry *m = j->model;
    uint64_t flops = 0, ns = 0, bytes_out = 0;
    int64_t started = tt_now_ns();
    tt_status st = TT_OK;
    tether_outputs *out = NULL;
    bool skipped = conn_dead(j->conn); /* nobody is waiting for this answer */
    if (!skipped) {
        st = run_job(j, started, &flops, &ns, &out);
        if (st == TT_OK) {
            atomic_store(&m->last_flops, flops);
            atomic_store(&m->last_ns, ns);
            atomic_store(&m->last_len, j->len);
            for (size_t i = 0; i < tether_outputs_count(out); i++)
                bytes_out += tether_outputs_get(out, i)->size;
        }
    }
    double actual = skipped || st != TT_OK ? 0 : cost_s(srv, s, flops, ns);
    uint64_t queue_ns = (uint64_t)(started - j->enqueued_ns), bytes_in = j->len;
    double charged = j->charged;

    /* the counters are settled before the reply leaves, so a client that asks for them
     * after its answer arrived sees its own run counted */
    pthread_mutex_lock(&srv->sched_lock);
    s->running--;
    srv->running--;
    s->vtag += actual - charged;
    if (srv->cfg.sched == TT_SCHED_CAPPED)
        s->ready_at += actual - charged;
    if (!skipped) {
        s->c.inferences += st == TT_OK;
        s->c.errors += st != TT_OK;
        s->c.flops += flops;
        s->c.queue_ns += queue_ns;
        s->c.compute_ns += ns;
        s->c.bytes_in += bytes_in;
        s->c.bytes_out += bytes_out;
    }
    if (!s->queued && !s->running)
        s->idle_since = tt_mono_s();
    /* the correction may have made a slot eligible sooner than a sleeper expects */
    if (actual < charged && s->queued)
        pthread_cond_broadcast(&srv->sched_cond);
    pthread_mutex_unlock(&srv->sched_lock);

    if (j->done) {
        void (*done)(tt_job *, tt_status, tether_outputs *, uint64_t, uint64_t) = j->done;
        j->done = NULL;
        done(j, st, out, queue_ns, ns);
    } else if (!skipped) {
        if (st == TT_OK)
            reply_run(srv, j, out, queue_ns, ns, &bytes_out);
        else
            tt_conn_reply_error(j->conn, TT_CMD_RUN, j->req_id, st, NULL);
    }
    tether_outputs_free(out);
    tt_job_free(j);
}

static void *worker_main(void *arg)
{
    tt_server *srv = arg;
    pthread_mutex_lock(&srv->sched_lock);
    while (!srv->sched_stop) {
        double now = tt_mono_s(), wake_at;
        tt_slot *s = pick_locked(srv, now, &wake_at);
        if (!s) {
            if (isinf(wake_at)) {
                pthread_cond_wait(&srv->sched_cond, &srv->sched_lock);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                double at = ts.tv_sec + ts.tv_nsec * 1e-9 + (wake_at - now);
                ts.tv_sec = (time_t)at;
                ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
                pthread_cond_timedwait(&srv->sched_cond, &srv->sched_lock, &ts);
            }
            continue;
        }
        tt_job *j = s->q_head;
        s->q_head = j->next;
        if (!s->q_head)
            s->q_tail = NULL;
        s->queued--;
        dispatch_locked(srv, s, j, now);
        pthread_mutex_unlock(&srv->sched_lock);
        execute(srv, s, j);
        pthread_mutex_lock(&srv->sched_lock);
    }
    pthread_mutex_unlock(&srv->sched_lock);
    return NULL;
}

bool tt_sched_run_inline(tt_server *srv, tt_job *j)
{
    tt_model_entry *m = j->model;
    uint64_t last_ns = atomic_load(&m->last_ns);
    /* a larger request than last time (a bigger batch) may take far longer: not inline */
    if (last_ns == 0 || last_ns > (uint64_t)srv->cfg.inline_us * 1000 || j->len > atomic_load(&m->last_len))
        return false;
    pthread_mutex_lock(&srv->sched_lock);
    tt_slot *s = j->slot;
    double now = tt_mono_s();
    /* exactly what an idle worker would do now: nothing is waiting anywhere (so no order
     * is at stake), the device has a free worker, and the slot may start */
    bool ok = srv->running < srv->n_workers && !(srv->cfg.sched == TT_SCHED_CAPPED && s->ready_at > now);
    for (int i = 0; i < srv->n_slots && ok; i++)
        ok = srv->slots[i].queued == 0;
    if (!ok) {
        pthread_mutex_unlock(&srv->sched_lock);
        return false;
    }
    if (!s->running && now - s->idle_since > IDLE_GRACE_S)
        s->vtag = fmax(s->vtag, srv->vtime);
    dispatch_locked(srv, s, j, now);
    pthread_mutex_unlock(&srv->sched_lock);
    execute(srv, s, j);
    return true;
}

/* ---- background jobs: uploads and opens -------------------------------------------- */

static void open_job(tt_server *srv, tt_job *j)
{
    tt_model_entry *m;
    tt_status st = tt_cache_acquire(&srv->cache, j->hash, &m);
    if (st != TT_OK) {
        tt_conn_reply_error(j->conn, TT_CMD_OPEN, j->req_id, st, NULL);
        return;
    }
    uint64_t used, quota;
    uint32_t handle;
    st = tt_slots_charge(srv, j->slot, m, &used, &quota);
    if (st != TT_OK) {
        tt_conn_reply_error(j->conn, TT_CMD_OPEN, j->req_id, st, NULL);
        tt_cache_release(&srv->cache, m);
        return;
    }
    st = tt_conn_handle_add(j->conn, m, &handle);
    if (st != TT_OK) {
        tt_slots_uncharge(srv, j->slot, m);
        tt_cache_release(&srv->cache, m);
        tt_conn_reply_error(j->conn, TT_CMD_OPEN, j->req_id, st, NULL);
        return;
    }
    /* the handle holds the model's reference from here */
    tether_session *s = m->session;
    size_t ni = tether_session_input_count(s), no = tether_session_output_count(s);
    tether_value_info *info = tt_calloc(ni + no + 1, sizeof *info);
    if (!info) {
        tt_conn_handle_close(j->conn, handle);
        tt_conn_reply_error(j->conn, TT_CMD_OPEN, j->req_id, TETHER_ERR_NO_MEMORY, "out of memory");
        return;
    }
    for (size_t i = 0; i < ni; i++)
        tether_session_input_info(s, i, &info[i]);
    for (size_t i = 0; i < no; i++)
        tether_session_output_info(s, i, &info[ni + i]);
    tt_msg_open_reply r = {.handle = handle,
                           .weight_bytes = m->stats.weight_bytes,
                           .activation_bytes = m->stats.activation_bytes,
                           .flops = m->stats.flops,
                           .parameters = m->stats.parameters,
                           .nodes = (uint32_t)m->stats.nodes,
                           .memory_used = used,
                           .memory_quota = quota,
                           .n_inputs = (uint16_t)ni,
                           .n_outputs = (uint16_t)no};
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_msg_open_reply_encode(&w, &r, info, info + ni);
    tt_conn_reply(j->conn, TT_CMD_OPEN, j->req_id, &w);
    tt_wr_free(&w);
    tt_free(info);
}

static void put_job(tt_server *srv, tt_job *j)
{
    tt_status st = tt_cache_put(&srv->cache, j->hash, j->payload + TT_WIRE_HASH_LEN, j->len - TT_WIRE_HASH_LEN);
    if (st != TT_OK) {
        tt_conn_reply_error(j->conn, TT_CMD_MODEL_PUT, j->req_id, st, NULL);
        return;
    }
    tt_wr w = {0};
    tt_wr_frame_begin(&w);
    tt_conn_reply(j->conn, TT_CMD_MODEL_PUT, j->req_id, &w);
    tt_wr_free(&w);
}

static void *bg_main(void *arg)
{
    tt_server *srv = arg;
    pthread_mutex_lock(&srv->sched_lock);
    while (!srv->sched_stop) {
        tt_job *j = srv->bg_head;
        if (!j) {
            pthread_cond_wait(&srv->bg_cond, &srv->sched_lock);
            continue;
        }
        srv->bg_head = j->next;
        if (!srv->bg_head)
            srv->bg_tail = NULL;
        pthread_mutex_unlock(&srv->sched_lock);
        if (!conn_dead(j->conn)) {
            if (j->kind == TT_JOB_OPEN)
                open_job(srv, j);
            else
                put_job(srv, j);
        }
        tt_job_free(j);
        pthread_mutex_lock(&srv->sched_lock);
    }
    pthread_mutex_unlock(&srv->sched_lock);
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------------------- */

void tt_sched_submit(tt_server *srv, tt_job *j)
{
    pthread_mutex_lock(&srv->sched_lock);
    if (j->kind != TT_JOB_RUN) {
        if (srv->bg_tail)
            srv->bg_tail->next = j;
        else
            srv->bg_head = j;
        srv->bg_tail = j;
        pthread_cond_signal(&srv->bg_cond);
        pthread_mutex_unlock(&srv->sched_lock);
        return;
    }
    tt_slot *s = j->slot;
    /* back from idle: no credit for the idle time. A pause shorter than the grace is not
     * idleness but a client turning a reply around, and keeps the slot's place. */
    if (!s->queued && !s->running && tt_mono_s() - s->idle_since > IDLE_GRACE_S)
        s->vtag = fmax(s->vtag, srv->vtime);
    if (s->q_tail)
        s->q_tail->next = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->queued++;
    pthread_cond_signal(&srv->sched_cond);
    pthread_mutex_unlock(&srv->sched_lock);
}

tt_status tt_sched_start(tt_server *srv)
{
    /* capped slots sleep until a monotonic instant: the condition must use that clock */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->sched_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&srv->bg_cond, NULL);
    pthread_mutex_init(&srv->sched_lock, NULL);
    int n = srv->cfg.workers > 0 ? srv->cfg.workers : srv->dev.threads;
    if (n < 1)
        n = 1;
    srv->workers = tt_calloc((size_t)n, sizeof *srv->workers);
    if (!srv->workers)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for workers");
    for (int i = 0; i < n; i++) {
        if (pthread_create(&srv->workers[i], NULL, worker_main, srv) != 0)
            return tt_error(TETHER_ERR_INTERNAL, "could not start worker %d of %d", i, n);
        srv->n_workers++;
    }
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&srv->bg_threads[i], NULL, bg_main, srv) != 0)
            return tt_error(TETHER_ERR_INTERNAL, "could not start the model loader threads");
        srv->n_bg++;
    }
    return TT_OK;
}

void tt_sched_stop(tt_server *srv)
{
    pthread_mutex_lock(&srv->sched_lock);
    srv->sched_stop = true;
    pthread_cond_broadcast(&srv->sched_cond);
    pthread_cond_broadcast(&srv->bg_cond);
    pthread_mutex_unlock(&srv->sched_lock);
    for (int i = 0; i < srv->n_workers; i++)
        pthread_join(srv->workers[i], NULL);
    for (int i = 0; i < srv->n_bg; i++)
        pthread_join(srv->bg_threads[i], NULL);
    tt_free(srv->workers);
    srv->workers = NULL;
    srv->n_workers = srv->n_bg = 0;
    /* what is still queued gets no answer: the connections are closing too */
    for (int i = 0; i < srv->n_slots; i++) {
        tt_slot *s = &srv->slots[i];
        while (s->q_head) {
            tt_job *j = s->q_head;
            s->q_head = j->next;
            tt_job_free(j);
        }
        s->q_tail = NULL;
        s->queued = 0;
    }
    while (srv->bg_head) {
        tt_job *j = srv->bg_head;
        srv->bg_head = j->next;
        tt_job_free(j);
    }
    srv->bg_tail = NULL;
}
