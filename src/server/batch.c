/* The dynamic batcher: one thread that forms batches from each repository model's queue and
 * submits them as jobs to the slot scheduler, and the job's completion, which splits the
 * outputs back into each request's rows. It never runs an inference itself. */
#include "server/batch.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/tensor.h"
#include "server/repo.h"
#include "server/sched.h"
#include "server/server.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_BATCH_REQS 4096 /* requests joined into one batch, whatever their rows */
#define LONG_ENCODE_BYTES (1u << 20) /* outputs whose answers take a while to encode (JSON) */

void tt_histo_add(tt_histo *h, double v);
void tt_repo_batch_add(tt_repo_model *m, int rows);

typedef struct batch {
    tt_repo *repo;
    tt_repo_model *m;
    tt_infer_req *reqs; /* in arrival order */
    int n;
    int64_t rows; /* total rows along dimension 0; 0: one request of a model run unbatched */
    int64_t submitted_ns;
} batch;

int tt_status_http_code(tt_status st);
int tt_status_http_code(tt_status st)
{
    switch (st) {
    case TETHER_OK: return 200;
    case TETHER_ERR_INVALID_ARGUMENT:
    case TETHER_ERR_SHAPE:
    case TETHER_ERR_RUNTIME:
    case TETHER_ERR_PROTOCOL: return 400;
    case TETHER_ERR_AUTH: return 401;
    case TETHER_ERR_NOT_FOUND: return 404;
    case TETHER_ERR_QUOTA:
    case TETHER_ERR_BUSY: return 503;
    case TETHER_ERR_TIMEOUT: return 504;
    case TETHER_ERR_UNSUPPORTED: return 501;
    default: return 500;
    }
}

static bool batching(const tt_repo_model *m)
{
    return m->batchable && m->cfg.max_batch_size > 1 && !m->batching_off;
}

/* ---- submit --------------------------------------------------------------------------- */

tt_status tt_batch_submit(tt_repo *repo, tt_infer_req *r)
{
    tt_repo_model *m = r->model;
    const tether_session *s = m->entry->session;
    size_t ni = tether_session_input_count(s);
    if (ni > TT_WIRE_MAX_TENSORS)
        return tt_error(TETHER_ERR_UNSUPPORTED, "model '%s' has too many inputs", m->name);
    tether_tensor *ordered = tt_calloc(ni, sizeof *ordered);
    if (!ordered)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    tt_status st = TT_OK;
    int64_t rows = -1;
    bool batch_on = batching(m);
    for (size_t i = 0; i < ni && st == TT_OK; i++) {
        tether_value_info info;
        tether_session_input_info(s, i, &info);
        const tether_tensor *t = NULL;
        for (size_t k = 0; k < r->n_inputs && !t; k++)
            if (r->inputs[k].name ? strcmp(r->inputs[k].name, info.name) == 0 : k == i)
                t = &r->inputs[k];
        if (!t) {
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "model '%s' input '%s' is missing", m->name, info.name);
            break;
        }
        if (t->dtype != info.dtype) {
            st = tt_error(TETHER_ERR_SHAPE, "model '%s' input '%s' must be %s, got %s", m->name, info.name,
                          tt_dtype_name(info.dtype), tt_dtype_name(t->dtype));
            break;
        }
        char got[160];
        tt_dims_str(t->rank, t->dims, got, sizeof got);
        if (info.rank >= 0 && t->rank != info.rank) {
            st = tt_error(TETHER_ERR_SHAPE, "model '%s' input '%s' must have rank %d, got shape %s", m->name,
                          info.name, info.rank, got);
            break;
        }
        for (int d = 0; d < info.rank && st == TT_OK; d++)
            if (info.dims[d] >= 0 && t->dims[d] != info.dims[d])
                st = tt_error(TETHER_ERR_SHAPE, "model '%s' input '%s' dimension %d must be %" PRId64 ", got shape %s",
                              m->name, info.name, d, info.dims[d], got);
        if (st != TT_OK)
            break;
        if (batch_on) {
            if (rows >= 0 && t->dims[0] != rows)
                st = tt_error(TETHER_ERR_SHAPE,
                              "model '%s' inputs disagree on dimension 0 (the batch): '%s' has %" PRId64
                              " rows, an earlier input %" PRId64,
                              m->name, info.name, t->dims[0], rows);
            rows = t->dims[0];
        }
        ordered[i] = *t;
        ordered[i].name = info.name;
    }
    if (st == TT_OK && r->n_inputs != ni) { /* every model input was found: the extra ones are unknown */
        const char *extra = NULL;
        for (size_t k = 0; k < r->n_inputs && !extra; k++) {
            bool known = false;
            for (size_t i = 0; i < ni && !known; i++)
                known = r->inputs[k].name && strcmp(r->inputs[k].name, ordered[i].name) == 0;
            if (!known)
                extra = r->inputs[k].name;
        }
        st = extra ? tt_error(TETHER_ERR_INVALID_ARGUMENT, "model '%s' has no input named '%.128s'", m->name, extra)
                   : tt_error(TETHER_ERR_INVALID_ARGUMENT, "model '%s' takes %zu inputs, %zu given", m->name, ni,
                              r->n_inputs);
    }
    if (st == TT_OK && batch_on && rows > m->cfg.max_batch_size)
        st = tt_error(TETHER_ERR_SHAPE, "model '%s': a request of %" PRId64 " rows is over its max_batch_size of %d",
                      m->name, rows, m->cfg.max_batch_size);
    if (st == TT_OK) {
        memcpy(r->inputs, ordered, sizeof *ordered * ni);
        r->rows = batch_on ? rows : 0;
    }
    tt_free(ordered);
    if (st != TT_OK)
        return st;

    r->enqueued_ns = tt_now_ns();
    r->next = NULL;
    pthread_mutex_lock(&repo->lock);
    if (m->state != TT_MODEL_READY) {
        pthread_mutex_unlock(&repo->lock);
        return tt_error(TETHER_ERR_NOT_FOUND, "model '%s' version %" PRId64 " was unloaded", m->name, m->version);
    }
    if (repo->stop || repo->refusing) {
        pthread_mutex_unlock(&repo->lock);
        return tt_error(TETHER_ERR_BUSY, "the server is stopping");
    }
    if (m->queued >= m->cfg.max_queue) {
        int q = m->queued;
        pthread_mutex_unlock(&repo->lock);
        return tt_error(TETHER_ERR_BUSY, "model '%s' has %d requests waiting, its max_queue_size: try again later",
                        m->name, q);
    }
    m->refs++;
    atomic_fetch_add(&repo->srv->jobs, 1); /* a draining server waits for queued requests too */
    if (m->q_tail)
        m->q_tail->next = r;
    else
        m->q_head = r;
    m->q_tail = r;
    m->queued++;
    pthread_cond_signal(&repo->wake);
    pthread_mutex_unlock(&repo->lock);
    return TT_OK;
}

/* ---- completion ----------------------------------------------------------------------- */

static void finish(tt_repo *repo, tt_infer_req *r, tt_status st, const char *msg, const tether_outputs *out,
                   int64_t row0, int64_t total)
{
    tt_repo_model *m = r->model;
    double total_s = (tt_now_ns() - r->enqueued_ns) * 1e-9;
    pthread_mutex_lock(&repo->lock);
    if (st == TT_OK) {
        tt_histo_add(&m->h_queue, r->queue_ns * 1e-9);
        tt_histo_add(&m->h_compute, r->compute_ns * 1e-9);
        tt_histo_add(&m->h_total, total_s);
        m->recent[m->recent_pos] = (float)total_s;
        m->recent_pos = (m->recent_pos + 1) % TT_REPO_RECENT;
        if (m->n_recent < TT_REPO_RECENT)
            m->n_recent++;
    }
    int code = tt_status_http_code(st);
    int i = 0;
    while (i < TT_REPO_MAX_CODES - 1 && m->codes[i] && m->codes[i] != code)
        i++;
    m->codes[i] = m->codes[i] ? m->codes[i] : code;
    m->code_counts[i]++;
    m->ok += st == TT_OK;
    pthread_mutex_unlock(&repo->lock);
    r->done(r, st, msg, out, row0, total);
    tt_repo_release(repo, m); /* the reference taken at submit */
    atomic_fetch_sub(&repo->srv->jobs, 1);
}

/* Runs one request alone, on this worker (a failed batch is retried this way so that one
 * bad request fails alone). */
static void run_alone(tt_repo *repo, tt_infer_req *r)
{
    tether_outputs *out = NULL;
    int64_t t0 = tt_now_ns();
    tt_status st = tether_session_run(r->model->entry->session, r->inputs, r->n_inputs, &out);
    char msg[768];
    snprintf(msg, sizeof msg, "%s", st == TT_OK ? "" : tt_last_error());
    r->compute_ns = (uint64_t)(tt_now_ns() - t0);
    r->batch_rows = 1;
    finish(repo, r, st, msg, out, 0, 0);
    tether_outputs_free(out);
}

static bool splits(const tether_outputs *out, int64_t rows)
{
    for (size_t i = 0; i < tether_outputs_count(out); i++) {
        const tether_tensor *t = tether_outputs_get(out, i);
        if (t->rank < 1 || t->dims[0] != rows)
            return false;
    }
    return true;
}

static void batch_done(tt_job *j, tt_status st, tether_outputs *out, uint64_t queue_ns, uint64_t compute_ns)
{
    batch *b = j->done_ud;
    tt_repo *repo = b->repo;
    tt_repo_model *m = b->m;
    char msg[768];
    snprintf(msg, sizeof msg, "%s", st == TT_OK ? "" : tt_last_error());
    int64_t started = b->submitted_ns + (int64_t)queue_ns;
    bool ran = out != NULL;
    bool retry = b->n > 1 && ((st != TT_OK && st != TETHER_ERR_BUSY && st != TETHER_ERR_TIMEOUT) ||
                              (st == TT_OK && b->rows > 0 && !splits(out, b->rows)));
    if (st == TT_OK && b->rows > 0 && !splits(out, b->rows)) {
        if (b->n > 1)
            tt_log(TT_LOG_WARN, "model %s: outputs of a batch of %" PRId64 " rows do not all have %" PRId64
                   " rows: dynamic batching is off for it from now",
                   m->name, b->rows, b->rows);
        pthread_mutex_lock(&repo->lock);
        m->batching_off = true;
        pthread_mutex_unlock(&repo->lock);
        b->rows = 0; /* a lone request gets its outputs whole */
    }
    pthread_mutex_lock(&repo->lock);
    if (ran)
        tt_repo_batch_add(m, b->rows > 0 ? (int)b->rows : 1);
    pthread_mutex_unlock(&repo->lock);
    /* runs again, or large answers to encode: the scheduler's other work does not wait */
    uint64_t out_bytes = 0;
    for (size_t i = 0; out && i < tether_outputs_count(out); i++)
        out_bytes += tether_outputs_get(out, i)->size;
    if (retry || out_bytes > LONG_ENCODE_BYTES)
        tt_sched_long_work();
    int64_t row0 = 0;
    tt_infer_req *r = b->reqs;
    while (r) {
        tt_infer_req *next = r->next;
        int64_t rows = r->rows; /* r may be freed by its done callback */
        r->queue_ns = (uint64_t)(started - r->enqueued_ns);
        r->compute_ns = compute_ns;
        r->batch_rows = (int)(b->rows > 0 ? b->rows : 1);
        if (retry)
            run_alone(repo, r);
        else
            finish(repo, r, st, msg, st == TT_OK ? out : NULL, row0, b->rows);
        row0 += rows;
        r = next;
    }
    pthread_mutex_lock(&repo->lock);
    m->inflight--;
    pthread_cond_signal(&repo->wake);
    pthread_mutex_unlock(&repo->lock);
    tt_repo_release(repo, m); /* the batch's reference */
    tt_free(b);
}

/* ---- forming batches ------------------------------------------------------------------ */

/* Whether b's inputs could be joined with a's: the same dtype, rank and trailing dims. */
static bool same_tail(const tt_infer_req *a, const tt_infer_req *b)
{
    for (size_t i = 0; i < a->n_inputs; i++) {
        const tether_tensor *x = &a->inputs[i], *y = &b->inputs[i];
        if (x->dtype != y->dtype || x->rank != y->rank)
            return false;
        for (int d = 1; d < x->rank; d++)
            if (x->dims[d] != y->dims[d])
                return false;
    }
    return true;
}

/* Takes the next batch off m's queue (repo->lock held), or returns NULL and the monotonic
 * ns at which one will be due. */
static tt_infer_req *take(tt_repo_model *m, int64_t now, int *n_out, int64_t *rows_out, int64_t *due)
{
    tt_infer_req *head = m->q_head;
    *due = INT64_MAX;
    if (!head)
        return NULL;
    if (!batching(m) || head->rows == 0) {
        m->q_head = head->next;
        if (!m->q_head)
            m->q_tail = NULL;
        m->queued--;
        head->next = NULL;
        *n_out = 1;
        *rows_out = head->rows;
        return head;
    }
    int max = m->cfg.max_batch_size, pref_max = 0;
    for (int i = 0; i < m->cfg.n_preferred; i++)
        if (m->cfg.preferred[i] > pref_max)
            pref_max = m->cfg.preferred[i];
    /* the rows available to join the head, in arrival order */
    int64_t avail = 0;
    int n = 0;
    for (tt_infer_req *r = head; r && n < MAX_BATCH_REQS; r = r->next) {
        if (r->rows == 0 || !same_tail(head, r))
            continue;
        if (avail + r->rows > max)
            break;
        avail += r->rows;
        n++;
    }
    bool full = avail >= max || (pref_max && avail >= pref_max) || n >= MAX_BATCH_REQS;
    bool late = now >= head->enqueued_ns + m->cfg.max_queue_delay_us * 1000;
    if (!full && !late) {
        *due = head->enqueued_ns + m->cfg.max_queue_delay_us * 1000;
        return NULL;
    }
    /* preferred sizes: the largest one the queue fills, else everything (late) */
    int64_t want = avail;
    if (m->cfg.n_preferred && avail < max) {
        int64_t best = 0;
        for (int i = 0; i < m->cfg.n_preferred; i++)
            if (m->cfg.preferred[i] <= avail && m->cfg.preferred[i] > best)
                best = m->cfg.preferred[i];
        if (best)
            want = best;
    }
    tt_infer_req *first = NULL, **tail = &first;
    int64_t rows = 0;
    int taken = 0;
    tt_infer_req *prev = NULL;
    for (tt_infer_req *r = m->q_head, *next; r && rows < want && taken < n; r = next) {
        next = r->next;
        if (r->rows == 0 || !same_tail(head, r) || rows + r->rows > want) {
            if (rows + r->rows > want && same_tail(head, r) && r->rows)
                break; /* keep arrival order: a later, smaller request does not jump it */
            prev = r;
            continue;
        }
        if (prev)
            prev->next = next;
        else
            m->q_head = next;
        if (m->q_tail == r)
            m->q_tail = prev;
        r->next = NULL;
        *tail = r;
        tail = &r->next;
        rows += r->rows;
        taken++;
        m->queued--;
    }
    *n_out = taken;
    *rows_out = rows;
    return first;
}

/* Builds the batch's job (inputs joined along dimension 0) and hands it to the scheduler. */
static void launch(tt_repo *repo, tt_repo_model *m, tt_infer_req *reqs, int n, int64_t rows)
{
    tt_server *srv = repo->srv;
    batch *b = tt_calloc(1, sizeof *b);
    tt_job *j = NULL;
    tt_status st = b ? tt_job_new(TT_JOB_RUN, NULL, 0, &j) : tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    size_t ni = reqs->n_inputs;
    if (st == TT_OK) {
        j->srv = srv;
        atomic_fetch_add(&srv->jobs, 1);
        j->slot = m->slot;
        j->slot_gen = m->slot_gen;
        /* the run may use the activations the model was charged for at its largest batch */
        j->run_own = m->charged - m->entry->stats.weight_bytes;
        j->n_tensors = ni;
        j->tensors = tt_arena_alloc(&j->arena, sizeof *j->tensors * (ni ? ni : 1));
        if (!j->tensors)
            st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    uint64_t total = 0;
    for (size_t i = 0; i < ni && st == TT_OK; i++) {
        uint64_t bytes = 0;
        for (tt_infer_req *r = reqs; r; r = r->next)
            bytes += r->inputs[i].size;
        const tether_tensor *t = &reqs->inputs[i];
        tt_wire_tensor *w = &j->tensors[i];
        w->name = (char *)t->name;
        w->dtype = (uint8_t)t->dtype;
        w->rank = (uint8_t)t->rank;
        memcpy(w->dims, t->dims, sizeof w->dims);
        if (rows > 0)
            w->dims[0] = rows;
        w->offset = total;
        w->nbytes = bytes;
        total = tt_wire_align(total + bytes);
    }
    /* the joined inputs count against the server's buffer budget, as request payloads do */
    if (st == TT_OK && !tt_buffer_take(srv, total))
        st = tt_error(TETHER_ERR_BUSY, "the server's buffers for requests are full (%" PRIu64 " bytes for a batch)",
                      total);
    else if (st == TT_OK && !(j->payload = tt_malloc_aligned(total))) {
        tt_buffer_give(srv, total);
        st = tt_error(TETHER_ERR_NO_MEMORY, "out of memory joining a batch of %" PRIu64 " bytes", total);
    }
    if (st == TT_OK)
        j->len = (size_t)total;
    if (st != TT_OK) {
        char msg[768];
        snprintf(msg, sizeof msg, "%s", tt_last_error());
        tt_job_free(j);
        for (tt_infer_req *r = reqs, *next; r; r = next) {
            next = r->next;
            finish(repo, r, st, msg, NULL, 0, 0);
        }
        pthread_mutex_lock(&repo->lock);
        m->inflight--;
        pthread_mutex_unlock(&repo->lock);
        tt_free(b);
        return;
    }
    for (size_t i = 0; i < ni; i++) {
        uint64_t o = j->tensors[i].offset;
        for (tt_infer_req *r = reqs; r; r = r->next) {
            if (r->inputs[i].size)
                memcpy(j->payload + o, r->inputs[i].data, r->inputs[i].size);
            o += r->inputs[i].size;
        }
    }
    j->model = m->entry;
    tt_cache_retain(&srv->cache, m->entry);
    tt_repo_retain(repo, m);
    *b = (batch){.repo = repo, .m = m, .reqs = reqs, .n = n, .rows = rows, .submitted_ns = j->enqueued_ns};
    j->done = batch_done;
    j->done_ud = b;
    tt_sched_submit(srv, j);
}

void *tt_batch_main(void *arg)
{
    tt_repo *repo = arg;
    pthread_mutex_lock(&repo->lock);
    while (!repo->stop) {
        int64_t now = tt_now_ns(), due = INT64_MAX;
        bool launched = false;
        for (tt_repo_model *m = repo->models; m && !launched; m = m->next) {
            if (!m->q_head || m->inflight >= m->cfg.instances)
                continue;
            int n;
            int64_t rows, d;
            tt_infer_req *reqs = take(m, now, &n, &rows, &d);
            if (!reqs) {
                if (d < due)
                    due = d;
                continue;
            }
            m->inflight++;
            pthread_mutex_unlock(&repo->lock);
            launch(repo, m, reqs, n, rows);
            pthread_mutex_lock(&repo->lock);
            launched = true; /* the list may have changed meanwhile: scan again */
        }
        if (launched)
            continue;
        if (due == INT64_MAX) {
            pthread_cond_wait(&repo->wake, &repo->lock);
        } else {
            /* tt_now_ns is CLOCK_MONOTONIC, the clock the condition was made with */
            struct timespec ts = {.tv_sec = (time_t)(due / 1000000000), .tv_nsec = (long)(due % 1000000000)};
            pthread_cond_timedwait(&repo->wake, &repo->lock, &ts);
        }
    }
    pthread_mutex_unlock(&repo->lock);
    return NULL;
}

void tt_batch_drain_locked(tt_repo *repo)
{
    tt_infer_req *all = NULL, **tail = &all;
    for (tt_repo_model *m = repo->models; m; m = m->next) {
        *tail = m->q_head;
        while (*tail)
            tail = &(*tail)->next;
        m->q_head = m->q_tail = NULL;
        m->queued = 0;
    }
    pthread_mutex_unlock(&repo->lock);
    for (tt_infer_req *r = all, *next; r; r = next) {
        next = r->next;
        finish(repo, r, TETHER_ERR_BUSY, "the server is shutting down", NULL, 0, 0);
    }
    pthread_mutex_lock(&repo->lock);
}
