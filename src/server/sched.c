/* The scheduler. Each inference is charged cost/rate seconds of its slot's time, where cost
 * is its FLOPs (or its device time scaled to the device's peak). Two clocks per slot:
 *  - vtag, a virtual finish tag (start-time fair queueing): among slots with work, the one
 *    with the smallest tag goes next, so busy slots share the device in proportion to their
 *    rates, and a slot returning from idle neither gets credit nor pays for lent time;
 *  - ready_at, real time (capped mode): a slot may not start before it has paid for what
 *    it already ran, so it never runs faster than its rate even on an idle device.
 * The charge is estimated at dispatch (the model's last run) and corrected after the run.
 *
 * Work goes to the idle worker with the lowest index. A thread that runs a model on several
 * threads keeps a team of OpenMP helpers for its next runs, and libgomp stops spinning at
 * its barriers (every wait becomes a sleep and a wake-up) once the process's teams together
 * outnumber the cores. Handing work to any idle worker would give each worker a team in
 * turn; this way the first worker runs whatever comes to an idle device, with the one team,
 * and the others run only beside it, on the threads it leaves (usually one: no team). */
#include "server/sched.h"

#include "core/cancel.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/tensor.h"
#include "core/threadpool.h"
#include "server/server.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#define CAPPED_SLACK_S 0.010
#define IDLE_GRACE_S 0.010

/* A worker's place to sleep. `waiting` is cleared by whoever wakes it (sched_lock held), so
 * two submits in a row wake two workers rather than the same one twice. */
typedef struct tt_waiter {
    tt_server *srv;
    bool waiting;
    bool running; /* from dispatch until its run has ended (replies not yet sent) */
    pthread_cond_t cond;
} tt_waiter;

static bool work_queued_locked(const tt_server *srv)
{
    for (int i = 0; i < srv->n_slots; i++)
        if (srv->slots[i].queued)
            return true;
    return false;
}

/* Wakes the idle worker with the lowest index (sched_lock held). A worker below it that is
 * between its run's end and its next pick (sending replies) is not idle but takes the work
 * itself in a moment: nobody is woken then. */
static void wake_one_locked(tt_server *srv)
{
    for (int i = 0; i < srv->n_workers; i++) {
        tt_waiter *w = &srv->waiters[i];
        if (w->waiting) {
            w->waiting = false;
            pthread_cond_signal(&w->cond);
            return;
        }
        if (!w->running)
            return;
    }
}

static _Thread_local tt_waiter *t_me; /* the worker this thread is, if it is one */

void tt_sched_long_work(void)
{
    tt_waiter *me = t_me;
    if (!me || me->running)
        return;
    tt_server *srv = me->srv;
    pthread_mutex_lock(&srv->sched_lock);
    me->running = true; /* not about to pick: nobody waits for it (reset at its next pick) */
    if (work_queued_locked(srv))
        wake_one_locked(srv);
    pthread_mutex_unlock(&srv->sched_lock);
}

static void wake_all_locked(tt_server *srv)
{
    for (int i = 0; i < srv->n_workers; i++) {
        srv->waiters[i].waiting = false;
        pthread_cond_signal(&srv->waiters[i].cond);
    }
}

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
        atomic_fetch_add(&c->srv->jobs, 1);
    }
    j->enqueued_ns = tt_now_ns();
    *out = j;
    return TT_OK;
}

void tt_job_free(tt_job *j)
{
    if (!j)
        return;
    tt_server *srv = j->srv;
    if (j->done) /* dropped unrun (the server is stopping): its requests still get an answer */
        j->done(j, tt_error(TETHER_ERR_BUSY, "the server is shutting down"), NULL, 0, 0);
    if (j->model)
        tt_cache_release(&srv->cache, j->model);
    if (j->payload) {
        tt_free_aligned(j->payload);
        tt_buffer_give(srv, j->len);
    }
    tt_arena_free(&j->arena);
    if (j->conn) {
        atomic_fetch_sub(&j->conn->inflight, 1);
        tt_conn_release(j->conn);
    }
    tt_free(j);
    atomic_fetch_sub(&srv->jobs, 1);
}

static bool conn_dead(tt_conn *c)
{
    return c && atomic_load(&c->gone);
}

/* The cancellation check runs poll (core/cancel.h): a job stops when nobody will take its
 * answer, its attachment ended, or the server is stopping. */
static tt_status job_check(void *ud)
{
    const tt_job *j = ud;
    const tt_server *srv = j->srv;
    if (atomic_load_explicit(&srv->cancel_all, memory_order_relaxed))
        return tt_error(TETHER_ERR_BUSY, "the server is shutting down");
    if (j->conn && atomic_load_explicit(&j->conn->gone, memory_order_relaxed))
        return tt_error(TETHER_ERR_NETWORK, "the client disconnected");
    if (j->slot && atomic_load_explicit(&j->slot->gen, memory_order_relaxed) != j->slot_gen)
        return tt_error(TETHER_ERR_AUTH, "the attachment was released or its lease expired");
    return TT_OK;
}

/* An allocation refused by a slot's budget, told as the quota it is. */
static tt_status quota_error(tt_server *srv, const tt_slot *s, const tt_mem_budget *b, const char *what)
{
    char id[TT_WIRE_MAX_ID + 1], why[512];
    pthread_mutex_lock(&srv->slots_lock);
    uint64_t quota = s->type.memory_bytes, used = s->mem_used;
    snprintf(id, sizeof id, "%s", s->id[0] ? s->id : s->repo_models ? "of the model repository" : "(released)");
    pthread_mutex_unlock(&srv->slots_lock);
    snprintf(why, sizeof why, "%s", tt_last_error());
    return tt_error(TETHER_ERR_QUOTA,
                    "%s needed more memory than slot %s (%s) allows: its %" PRIu64 "-byte (%.1f MiB) quota holds %" PRIu64
                    " bytes of loaded models, which leaves %" PRId64 " bytes for this work, and it asked for %" PRIu64
                    " more bytes with %" PRId64 " in use (%s)",
                    what, id, s->type.name, quota, quota / 1048576.0, used, b->cap, b->refused,
                    b->peak, why);
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
        if (tt_conn_send(j->conn, iov, k, false))
            *bytes_out = payload;
        else
            tt_conn_refuse_reply(j->conn, TT_CMD_RUN, j->req_id, TT_WIRE_HEADER + payload);
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
static void execute(tt_server *srv, tt_waiter *me, tt_slot *s, tt_job *j)
{
    tt_model_entry *m = j->model;
    uint64_t flops = 0, ns = 0, bytes_out = 0;
    int64_t started = tt_now_ns();
    tt_status st = TT_OK;
    tether_outputs *out = NULL;
    /* nobody is waiting for this answer; or it is for an attachment that has ended, or the
     * server is stopping: refused without running */
    bool skipped = conn_dead(j->conn);
    if (!skipped && (st = job_check(j)) != TT_OK) {
        if (!j->done)
            tt_conn_reply_error(j->conn, TT_CMD_RUN, j->req_id, st, NULL);
        skipped = true;
    }
    if (!skipped) {
        /* what the run allocates counts against the slot's quota, with the slot's other
         * runs; it stops when the check says so */
        tt_mem_budget b = {.shared = &s->run_bytes,
                           .cap = tt_slots_run_allowance(srv, s, j->run_own ? j->run_own : m->stats.activation_bytes)};
        tt_cancel_install(job_check, j);
        tt_mem_budget_begin(&b);
        int prev_cap = tt_threads_cap(j->threads); /* the client's num_threads, if it gave one */
        st = run_job(j, started, &flops, &ns, &out);
        tt_threads_cap(prev_cap);
        tt_mem_budget_end(&b);
        tt_cancel_install(NULL, NULL);
        if (st != TT_OK && b.refused)
            st = quota_error(srv, s, &b, "the run");
        if (st == TT_OK) {
            atomic_store(&m->last_flops, flops);
            atomic_store(&m->last_ns, ns);
            for (size_t i = 0; i < tether_outputs_count(out); i++)
                bytes_out += tether_outputs_get(out, i)->size;
        }
    }
    /* a failed or stopped run used the device too: it is charged its device time, so failing
     * on purpose cannot take more than the slot's rate */
    double actual = skipped ? 0 : st == TT_OK ? cost_s(srv, s, flops, ns) : cost_s(srv, s, 0, ns);
    uint64_t queue_ns = (uint64_t)(started - j->enqueued_ns), bytes_in = j->len;
    double charged = j->charged;
    /* an attachment that ended meanwhile: the slot's next tenant neither pays nor sees it */
    bool same_tenant = atomic_load(&s->gen) == j->slot_gen;

    /* the counters are settled before the reply leaves, so a client that asks for them
     * after its answer arrived sees its own run counted */
    pthread_mutex_lock(&srv->sched_lock);
    me->running = false;
    s->running--;
    srv->running--;
    if (same_tenant) {
        s->vtag += actual - charged;
        if (srv->cfg.sched == TT_SCHED_CAPPED)
            s->ready_at += actual - charged;
    }
    if (!skipped && same_tenant) {
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
        wake_one_locked(srv);
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
    tt_waiter *me = arg;
    tt_server *srv = me->srv;
    t_me = me;
    pthread_mutex_lock(&srv->sched_lock);
    while (!srv->sched_stop) {
        me->running = false; /* set again by a done hook's long work (tt_sched_long_work) */
        double now = tt_mono_s(), wake_at;
        tt_slot *s = pick_locked(srv, now, &wake_at);
        if (!s) {
            me->waiting = true;
            if (isinf(wake_at)) {
                pthread_cond_wait(&me->cond, &srv->sched_lock);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                double at = ts.tv_sec + ts.tv_nsec * 1e-9 + (wake_at - now);
                ts.tv_sec = (time_t)at;
                ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
                pthread_cond_timedwait(&me->cond, &srv->sched_lock, &ts);
            }
            me->waiting = false;
            continue;
        }
        tt_job *j = s->q_head;
        s->q_head = j->next;
        if (!s->q_head)
            s->q_tail = NULL;
        s->queued--;
        dispatch_locked(srv, s, j, now);
        me->running = true;
        /* more work waiting: the next worker up takes it beside this one */
        if (work_queued_locked(srv))
            wake_one_locked(srv);
        pthread_mutex_unlock(&srv->sched_lock);
        execute(srv, me, s, j);
        pthread_mutex_lock(&srv->sched_lock);
    }
    pthread_mutex_unlock(&srv->sched_lock);
    return NULL;
}

/* ---- background jobs: uploads and opens -------------------------------------------- */

static void open_job(tt_server *srv, tt_job *j)
{
    tt_model_entry *m;
    /* a model that cannot fit is refused before it is read; opening it (decoding, planning,
     * warming up) allocates in the slot's name, so one that grows past its file in memory
     * fails as it does rather than after the server has held it (the file's bytes are read
     * whole first, so they are allowed on top) */
    uint64_t stored = tt_cache_stored_size(&srv->cache, j->hash);
    char hex[2 * TT_WIRE_HASH_LEN + 1];
    tt_hex(j->hash, TT_WIRE_HASH_LEN, hex);
    tt_status pre = tt_slots_precheck(srv, j->slot, hex, stored);
    if (pre != TT_OK) {
        tt_conn_reply_error(j->conn, TT_CMD_OPEN, j->req_id, pre, NULL);
        return;
    }
    tt_mem_budget b = {.shared = &j->slot->run_bytes, .cap = tt_slots_run_allowance(srv, j->slot, stored)};
    tt_cancel_install(job_check, j);
    tt_mem_budget_begin(&b);
    tt_status st = tt_cache_acquire(&srv->cache, j->hash, &m);
    tt_mem_budget_end(&b);
    tt_cancel_install(NULL, NULL);
    if (st != TT_OK && b.refused)
        st = quota_error(srv, j->slot, &b, "opening the model");
    if (st != TT_OK) {
        tt_conn_reply_error(j->conn, TT_CMD_OPEN, j->req_id, st, NULL);
        return;
    }
    uint64_t used, quota;
    uint32_t handle;
    st = tt_slots_charge(srv, j->slot, j->slot_gen, m, &used, &quota);
    if (st != TT_OK) {
        tt_conn_reply_error(j->conn, TT_CMD_OPEN, j->req_id, st, NULL);
        tt_cache_release_drop(&srv->cache, m); /* refused: not kept in memory for no one */
        return;
    }
    st = tt_conn_handle_add(j->conn, m, &handle);
    if (st != TT_OK) {
        tt_slots_uncharge(srv, j->slot, j->slot_gen, m);
        tt_cache_release(&srv->cache, m);
        tt_conn_reply_error(j->conn, TT_CMD_OPEN, j->req_id, st, NULL);
        return;
    }
    /* the handle holds the model's reference from here */
    tt_conn_handle_set_threads(j->conn, handle, j->threads);
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
    wake_one_locked(srv);
    pthread_mutex_unlock(&srv->sched_lock);
}

tt_status tt_sched_start(tt_server *srv)
{
    pthread_cond_init(&srv->bg_cond, NULL);
    pthread_mutex_init(&srv->sched_lock, NULL);
    int n = srv->cfg.workers > 0 ? srv->cfg.workers : srv->dev.threads;
    if (n < 1)
        n = 1;
    srv->workers = tt_calloc((size_t)n, sizeof *srv->workers);
    srv->waiters = tt_calloc((size_t)n, sizeof *srv->waiters);
    if (!srv->workers || !srv->waiters)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for workers");
    /* capped slots sleep until a monotonic instant: the conditions must use that clock */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int i = 0; i < n; i++) {
        srv->waiters[i] = (tt_waiter){.srv = srv};
        pthread_cond_init(&srv->waiters[i].cond, &ca);
    }
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&srv->workers[i], NULL, worker_main, &srv->waiters[i]) != 0)
            return tt_error(TETHER_ERR_INTERNAL, "could not start worker %d of %d", i, n);
        pthread_mutex_lock(&srv->sched_lock); /* the wakers read it */
        srv->n_workers++;
        pthread_mutex_unlock(&srv->sched_lock);
    }
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&srv->bg_threads[i], NULL, bg_main, srv) != 0)
            return tt_error(TETHER_ERR_INTERNAL, "could not start the model loader threads");
        srv->n_bg++;
    }
    return TT_OK;
}

/* Joins a thread, waiting until `until` (CLOCK_REALTIME) at most. */
static bool join_until(pthread_t t, const struct timespec *until)
{
    return pthread_timedjoin_np(t, NULL, until) == 0;
}

static void refuse_all(tt_job *q, uint8_t cmd_run, tt_status st, const char *msg)
{
    while (q) {
        tt_job *next = q->next;
        uint8_t cmd = q->kind == TT_JOB_RUN ? cmd_run : q->kind == TT_JOB_OPEN ? TT_CMD_OPEN : TT_CMD_MODEL_PUT;
        if (q->conn) /* a job with a done hook is answered by tt_job_free */
            tt_conn_reply_error(q->conn, cmd, q->req_id, st, msg);
        tt_job_free(q);
        q = next;
    }
}

bool tt_sched_stop(tt_server *srv, double wait_s)
{
    atomic_store(&srv->cancel_all, true); /* what still runs stops at its next check */
    pthread_mutex_lock(&srv->sched_lock);
    srv->sched_stop = true;
    wake_all_locked(srv);
    pthread_cond_broadcast(&srv->bg_cond);
    pthread_mutex_unlock(&srv->sched_lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)wait_s;
    until.tv_nsec += (long)((wait_s - (double)(time_t)wait_s) * 1e9);
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    int left = 0;
    for (int i = 0; i < srv->n_workers; i++)
        left += !join_until(srv->workers[i], &until);
    for (int i = 0; i < srv->n_bg; i++)
        left += !join_until(srv->bg_threads[i], &until);
    if (left) {
        /* a kernel that never checks: its thread still uses the server's state */
        tt_log(TT_LOG_ERROR, "%d worker thread%s did not stop within %.0f s", left, left > 1 ? "s" : "", wait_s);
        return false;
    }
    for (int i = 0; i < srv->n_workers; i++)
        pthread_cond_destroy(&srv->waiters[i].cond);
    tt_free(srv->workers);
    tt_free(srv->waiters);
    srv->workers = NULL;
    srv->waiters = NULL;
    srv->n_workers = srv->n_bg = 0;
    /* what is still queued is answered, so clients do not wait for their timeouts */
    for (int i = 0; i < srv->n_slots; i++) {
        tt_slot *s = &srv->slots[i];
        tt_job *q = s->q_head;
        s->q_head = s->q_tail = NULL;
        s->queued = 0;
        refuse_all(q, TT_CMD_RUN, TETHER_ERR_BUSY, "the server is shutting down");
    }
    tt_job *q = srv->bg_head;
    srv->bg_head = srv->bg_tail = NULL;
    refuse_all(q, TT_CMD_RUN, TETHER_ERR_BUSY, "the server is shutting down");
    return true;
}

void tt_sched_slot_reset(tt_server *srv, tt_slot *s)
{
    pthread_mutex_lock(&srv->sched_lock);
    tt_job *q = s->q_head;
    s->q_head = s->q_tail = NULL;
    s->queued = 0;
    memset(&s->c, 0, sizeof s->c);
    /* the next tenant does not pay for the last one's runs */
    double now = tt_mono_s();
    if (s->ready_at > now)
        s->ready_at = now;
    if (!s->running)
        s->idle_since = now;
    pthread_mutex_unlock(&srv->sched_lock);
    refuse_all(q, TT_CMD_RUN, TETHER_ERR_AUTH, "the attachment was released or its lease expired");
}
