/* The thread counts every build shares (the process's count, runs' shares of it), stoppable
 * loops, and the pthread pool used where tether is built without OpenMP: a fixed pool of
 * workers taking chunks of parallel_for jobs. Several threads may submit jobs at once
 * (concurrent session runs); the submitter works on its own job too, so a job always
 * completes even when every worker is busy elsewhere. A worker helping with a job works in
 * its submitter's name: the submitter's memory budget, cancellation check and stop scope are
 * its own while it does. Between jobs, the pthread pool's workers spin a short while
 * (TETHER_SPIN_US, default 200 us; 0 turns it off) before they sleep, and a submitter spins
 * for its job's last chunks: a model's nodes follow each other in microseconds, far less
 * than waking a sleeping thread takes. */
#include "core/threadpool.h"

#include "core/cancel.h"
#include "core/log.h"
#include "core/mem.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- thread counts ------------------------------------------------------------------- */

static atomic_int g_total;   /* the process's count; 0 until decided */
static atomic_int g_busy;    /* threads held by runs (tt_threads_begin) */
_Thread_local int tt_threads_share;

static int tt_default_threads(void)
{
    const char *env = getenv("TETHER_NUM_THREADS");
    if (env && atoi(env) > 0)
        return atoi(env) > 1024 ? 1024 : atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int tt_threads_total(void)
{
    int n = atomic_load(&g_total);
    if (n)
        return n;
    int want = tt_default_threads(), zero = 0;
    atomic_compare_exchange_strong(&g_total, &zero, want);
    return atomic_load(&g_total);
}

void tt_threads_set_total(int n) { atomic_store(&g_total, n); }

tt_threads_scope tt_threads_begin(int want)
{
    tt_threads_scope s = {.prev = tt_threads_share, .held = 0};
    if (s.prev > 0) {
        /* nested: a share of the enclosing share, taking nothing more from the process */
        tt_threads_share = want > 0 && want < s.prev ? want : s.prev;
        return s;
    }
    int total = tt_threads_total();
    if (want <= 0 || want > total)
        want = total;
    int busy = atomic_fetch_add(&g_busy, want);
    int grant = total - busy;
    if (grant > want)
        grant = want;
    if (grant < 1)
        grant = 1;
    atomic_fetch_sub(&g_busy, want - grant);
    s.held = grant;
    tt_threads_share = grant;
    return s;
}

int tt_threads_cap(int n)
{
    int prev = tt_threads_share;
    tt_threads_share = n > 0 ? n : 0;
    return prev;
}

void tt_threads_end(tt_threads_scope s)
{
    if (s.held)
        atomic_fetch_sub(&g_busy, s.held);
    tt_threads_share = s.prev;
}

tether_status tether_set_num_threads(int n) { return tt_threadpool_resize(n); }

#ifdef TETHER_HAVE_OPENMP
/* The work and the caller's context, which the other thread works in: its memory budget,
 * cancellation check, stop scope and thread share (as the pool's helpers do). */
typedef struct apart {
    tt_status (*fn)(void *);
    void *arg;
    tt_mem_budget *budget;
    tt_cancel_fn cancel;
    void *cancel_ud;
    tt_stop_scope *scope;
    int share;
    tt_status st;
    char *msg; /* the failure's message, carried back */
} apart;

static void *apart_main(void *arg)
{
    apart *a = arg;
    tt_mem_budget_swap(a->budget);
    tt_cancel_install(a->cancel, a->cancel_ud);
    tt_stop_set(a->scope);
    tt_threads_share = a->share;
    a->st = a->fn(a->arg);
    if (a->st != TT_OK)
        a->msg = strdup(tt_last_error());
    tt_threads_share = 0;
    tt_stop_set(NULL);
    tt_cancel_install(NULL, NULL);
    tt_mem_budget_swap(NULL);
    return NULL;
}
#endif

tt_status tt_threads_apart(tt_status (*fn)(void *arg), void *arg)
{
#ifdef TETHER_HAVE_OPENMP
    apart a = {.fn = fn, .arg = arg, .budget = tt_mem_budget_current(), .scope = tt_stop_current(),
               .share = tt_threads_share};
    tt_cancel_current(&a.cancel, &a.cancel_ud);
    pthread_t t;
    if (pthread_create(&t, NULL, apart_main, &a) != 0)
        return fn(arg);
    pthread_join(t, NULL);
    if (a.st != TT_OK) {
        tt_error(a.st, "%s", a.msg ? a.msg : "(out of memory for the message)");
        free(a.msg);
    }
    return a.st;
#else
    return fn(arg);
#endif
}

/* A stoppable loop's chunk, run in steps of about TT_STOP_QUANTUM units of work, polling
 * the stop scope (which the pool lends to its workers) after each. */
typedef struct stop_job {
    tt_range_fn fn;
    void *arg;
    int64_t step;
    double cost;
} stop_job;

static void stop_range(void *arg, int64_t b, int64_t e)
{
    const stop_job *s = arg;
    for (int64_t lo = b; lo < e && !tt_stopped(); lo += s->step) {
        int64_t hi = e - lo < s->step ? e : lo + s->step;
        s->fn(s->arg, lo, hi);
        double work = s->cost * (double)(hi - lo);
        if (!tt_stop_work(work >= (double)TT_STOP_QUANTUM ? TT_STOP_QUANTUM : (uint64_t)work))
            return;
    }
}

bool tt_parallel_for_stoppable(int64_t n, int64_t grain, double cost, tt_range_fn fn, void *arg)
{
    if (tt_stopped())
        return false;
    if (!tt_stop_current()) {
        tt_parallel_for(n, grain, fn, arg);
        return true;
    }
    if (!(cost >= 1))
        cost = 1;
    double step = (double)TT_STOP_QUANTUM / cost;
    stop_job s = {fn, arg, step >= (double)n ? (n > 0 ? n : 1) : step < 1 ? 1 : (int64_t)step, cost};
    tt_parallel_for(n, grain, stop_range, &s);
    return !tt_stopped();
}

#ifndef TETHER_HAVE_OPENMP

/* ---- the pthread pool ------------------------------------------------------------------ */

#ifdef TETHER_HAVE_DNNL
/* This build still links Debian's oneDNN, which threads itself with GCC's OpenMP, and libgomp
 * does not survive fork(): a child whose parent ran oneDNN on several threads hangs in its
 * first region of more than one. So such a child tells libgomp (found when the pool starts)
 * to use one thread, and plans oneDNN's primitives for one: tt_threads_for_omp is their key. */
static atomic_bool g_dnnl_threaded; /* oneDNN was asked for more than one thread */
static atomic_bool g_dnnl_forked;   /* ... and then this process was forked from it */
static void (*g_omp_set_num_threads)(int);
#endif

int tt_threads_for_omp(void)
{
    int n = tt_threads();
#ifdef TETHER_HAVE_DNNL
    if (atomic_load_explicit(&g_dnnl_forked, memory_order_relaxed))
        return 1;
    if (n > 1 && !atomic_load_explicit(&g_dnnl_threaded, memory_order_relaxed))
        atomic_store(&g_dnnl_threaded, true);
#endif
    return n;
}

typedef struct tt_job {
    tt_range_fn fn;
    void *arg;
    int64_t n, chunk, nchunks;
    atomic_llong next;   /* next chunk to claim */
    atomic_llong done;   /* chunks finished */
    int users;           /* workers inside tt_job_work (changed under the pool lock, atomically:
                            a spinning submitter reads it without) */
    int helpers;         /* workers that may join it (its submitter's thread cap, less one) */
    /* the submitter's context, lent to the workers that help */
    tt_mem_budget *budget;
    tt_cancel_fn cancel;
    void *cancel_ud;
    tt_stop_scope *scope;
    struct tt_job *prev, *nextjob;
} tt_job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a job was queued, or shutdown */
    pthread_cond_t finished; /* some job's last chunk completed */
    pthread_t *threads;
    int nthreads;            /* workers, not counting callers */
    int want;                /* configured total (0 = not yet decided) */
    bool stop;
    tt_job *jobs;            /* jobs with chunks left to claim */
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, false, NULL};

static _Thread_local bool tt_in_task;

/* Bumped whenever a job is queued: what spinning workers watch. */
static atomic_uint g_generation;
static int g_spin_us = -1;

static int spin_us(void)
{
    int s = __atomic_load_n(&g_spin_us, __ATOMIC_RELAXED);
    if (s < 0) {
        const char *env = getenv("TETHER_SPIN_US");
        s = env && *env ? atoi(env) : 200;
        s = s < 0 ? 0 : s > 100000 ? 100000 : s;
        __atomic_store_n(&g_spin_us, s, __ATOMIC_RELAXED);
    }
    return s;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static uint64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* Spins while cond(arg) holds, for at most the spin time; returns whether it still holds. */
static bool spin_while(bool (*cond)(const void *), const void *arg)
{
    int us = spin_us();
    uint64_t end = 0;
    for (unsigned i = 1; cond(arg); i++) {
        if (!us)
            return true;
        cpu_relax();
        if ((i & 255) == 0) {
            uint64_t t = now_us();
            if (!end)
                end = t + (uint64_t)us;
            else if (t >= end)
                return cond(arg);
        }
    }
    return false;
}

static bool generation_is(const void *old) { return atomic_load(&g_generation) == *(const unsigned *)old; }

static void tt_job_unlink(tt_job *j)
{
    if (j->prev)
        j->prev->nextjob = j->nextjob;
    else if (g_pool.jobs == j)
        g_pool.jobs = j->nextjob;
    if (j->nextjob)
        j->nextjob->prev = j->prev;
    j->prev = j->nextjob = NULL;
}

/* Claims and runs chunks of j until none are left. Returns after the last claim. */
static void tt_job_work(tt_job *j)
{
    for (;;) {
        long long c = atomic_fetch_add(&j->next, 1);
        if (c >= j->nchunks)
            return;
        int64_t b = c * j->chunk, e = b + j->chunk;
        if (e > j->n)
            e = j->n;
        j->fn(j->arg, b, e);
        if (atomic_fetch_add(&j->done, 1) + 1 == j->nchunks) {
            pthread_mutex_lock(&g_pool.lock);
            pthread_cond_broadcast(&g_pool.finished);
            pthread_mutex_unlock(&g_pool.lock);
        }
    }
}

static void *tt_worker(void *unused)
{
    (void)unused;
    pthread_setname_np(pthread_self(), "tether-pool"); /* for ps, top and debuggers */
    tt_in_task = true;
    pthread_mutex_lock(&g_pool.lock);
    for (;;) {
        /* the first job with chunks left and room for another helper; drained ones leave */
        tt_job *j = NULL;
        for (tt_job *k = g_pool.jobs, *nx; k && !j; k = nx) {
            nx = k->nextjob;
            if (atomic_load(&k->next) >= k->nchunks)
                tt_job_unlink(k);
            else if (k->users < k->helpers)
                j = k;
        }
        if (g_pool.stop)
            break;
        if (!j) {
            /* spin outside the lock for a new job; the check under it decides */
            unsigned gen = atomic_load(&g_generation);
            pthread_mutex_unlock(&g_pool.lock);
            bool idle = spin_while(generation_is, &gen);
            pthread_mutex_lock(&g_pool.lock);
            if (idle && !g_pool.stop && atomic_load(&g_generation) == gen)
                pthread_cond_wait(&g_pool.work, &g_pool.lock);
            continue;
        }
        /* users keeps j alive: its submitter waits for it to drop to zero */
        __atomic_add_fetch(&j->users, 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&g_pool.lock);
        tt_mem_budget_swap(j->budget);
        tt_cancel_install(j->cancel, j->cancel_ud);
        tt_stop_set(j->scope);
        tt_job_work(j);
        tt_stop_set(NULL);
        tt_cancel_install(NULL, NULL);
        tt_mem_budget_swap(NULL);
        pthread_mutex_lock(&g_pool.lock);
        if (__atomic_sub_fetch(&j->users, 1, __ATOMIC_RELEASE) == 0)
            pthread_cond_broadcast(&g_pool.finished);
    }
    pthread_mutex_unlock(&g_pool.lock);
    return NULL;
}

/* fork() copies only the calling thread: a child must not inherit a pool whose workers do
 * not exist, nor a lock one of them held. The lock is taken across the fork, and the child
 * starts from an empty pool that it fills lazily on its first parallel_for. */
static void tt_pool_prepare_fork(void) { pthread_mutex_lock(&g_pool.lock); }
static void tt_pool_parent_fork(void) { pthread_mutex_unlock(&g_pool.lock); }
static void tt_pool_child_fork(void)
{
    pthread_mutex_init(&g_pool.lock, NULL);
    pthread_cond_init(&g_pool.work, NULL);
    pthread_cond_init(&g_pool.finished, NULL);
    free(g_pool.threads); /* the parent's worker ids: none of them exist here */
    g_pool.threads = NULL;
    g_pool.nthreads = 0;
    g_pool.want = 0;
    g_pool.stop = false;
    g_pool.jobs = NULL;
    tt_in_task = false;
#ifdef TETHER_HAVE_DNNL
    if (atomic_load(&g_dnnl_threaded)) {
        atomic_store(&g_dnnl_forked, true);
        if (g_omp_set_num_threads)
            g_omp_set_num_threads(1);
    }
#endif
}

static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static void tt_pool_register_atfork(void)
{
#ifdef TETHER_HAVE_DNNL
    /* resolved here, not in the child: dlsym takes the loader's lock */
    *(void **)&g_omp_set_num_threads = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
#endif
    pthread_atfork(tt_pool_prepare_fork, tt_pool_parent_fork, tt_pool_child_fork);
}

/* Called with the lock held. `want` is published last, with release order: tt_pool_ensure's
 * unlocked fast path reads it with acquire and then reads nthreads, which must be final. */
static void tt_pool_start_locked(int total)
{
    pthread_once(&g_atfork_once, tt_pool_register_atfork);
    int workers = total - 1;
    tt_threads_set_total(total);
    if (workers > 0 && (g_pool.threads = calloc((size_t)workers, sizeof(pthread_t)))) {
        g_pool.stop = false;
        for (int i = 0; i < workers; i++) {
            if (pthread_create(&g_pool.threads[i], NULL, tt_worker, NULL) != 0) {
                tt_log(TT_LOG_WARN, "thread pool: could only start %d of %d workers", i, workers);
                break;
            }
            g_pool.nthreads++;
        }
    }
    __atomic_store_n(&g_pool.want, total, __ATOMIC_RELEASE);
}

static void tt_pool_ensure(void)
{
    if (__atomic_load_n(&g_pool.want, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&g_pool.lock);
    if (!g_pool.want)
        tt_pool_start_locked(tt_threads_total());
    pthread_mutex_unlock(&g_pool.lock);
}

int tt_threads(void)
{
    tt_pool_ensure();
    int all = g_pool.nthreads + 1;
    return tt_threads_share > 0 && tt_threads_share < all ? tt_threads_share : all;
}

void tt_threadpool_shutdown(void)
{
    pthread_mutex_lock(&g_pool.lock);
    g_pool.stop = true;
    pthread_cond_broadcast(&g_pool.work);
    int n = g_pool.nthreads;
    pthread_t *t = g_pool.threads;
    pthread_mutex_unlock(&g_pool.lock);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_lock(&g_pool.lock);
    free(t);
    g_pool.threads = NULL;
    g_pool.nthreads = 0;
    __atomic_store_n(&g_pool.want, 0, __ATOMIC_RELAXED);
    g_pool.stop = false;
    pthread_mutex_unlock(&g_pool.lock);
}

tt_status tt_threadpool_resize(int n)
{
    if (n < 1 || n > 1024)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "thread count %d is out of range 1..1024", n);
    tt_threadpool_shutdown();
    pthread_mutex_lock(&g_pool.lock);
    tt_pool_start_locked(n);
    pthread_mutex_unlock(&g_pool.lock);
    return TT_OK;
}

static bool job_busy(const void *p)
{
    const tt_job *j = p;
    return atomic_load(&j->done) < j->nchunks || __atomic_load_n(&j->users, __ATOMIC_ACQUIRE) > 0;
}

void tt_parallel_for(int64_t n, int64_t grain, tt_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int threads = tt_in_task ? 1 : tt_threads();
    if (threads <= 1 || n <= grain) {
        fn(arg, 0, n);
        return;
    }
    /* a few chunks per thread balance uneven chunks without much claiming overhead */
    int64_t nchunks = (n + grain - 1) / grain;
    if (nchunks > (int64_t)threads * 4)
        nchunks = (int64_t)threads * 4;
    int64_t chunk = (n + nchunks - 1) / nchunks;
    nchunks = (n + chunk - 1) / chunk;

    tt_job j = {.fn = fn, .arg = arg, .n = n, .chunk = chunk, .nchunks = nchunks, .helpers = threads - 1};
    j.budget = tt_mem_budget_current();
    tt_cancel_current(&j.cancel, &j.cancel_ud);
    j.scope = tt_stop_current();
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    pthread_mutex_lock(&g_pool.lock);
    j.nextjob = g_pool.jobs;
    if (g_pool.jobs)
        g_pool.jobs->prev = &j;
    g_pool.jobs = &j;
    atomic_fetch_add(&g_generation, 1);
    pthread_cond_broadcast(&g_pool.work);
    pthread_mutex_unlock(&g_pool.lock);

    tt_in_task = true;
    tt_job_work(&j);
    tt_in_task = false;

    /* the other chunks are running on workers: wait for them awake, a short while */
    spin_while(job_busy, &j);
    pthread_mutex_lock(&g_pool.lock);
    tt_job_unlink(&j);
    while (atomic_load(&j.done) < j.nchunks || j.users > 0)
        pthread_cond_wait(&g_pool.finished, &g_pool.lock);
    pthread_mutex_unlock(&g_pool.lock);
}

#endif /* !TETHER_HAVE_OPENMP */
