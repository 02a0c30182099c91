/* The thread pool on OpenMP, for builds with oneDNN: oneDNN's Debian build threads itself
 * through OpenMP (libgomp), so tether's own parallel loops run on the same OpenMP threads
 * rather than on a second pool that would fight it for the cores. A thread that starts
 * parallel work owns a team of OpenMP threads, which wait (spinning briefly, then asleep)
 * for its next region; tt_threads_begin keeps concurrent runs' teams within the process's
 * count.
 *
 * A helper thread works in the submitter's name while in its region: the submitter's memory
 * budget, cancellation check and stop scope are its own, as in the pthread pool.
 *
 * libgomp does not survive fork(): a child whose parent ran OpenMP regions hangs in its
 * first region of more than one thread. So a process forked after OpenMP ran keeps working
 * on one thread (its kernels inline, oneDNN told so through tt_threads_for_omp). */
#ifdef TETHER_HAVE_OPENMP

#include "core/threadpool.h"

#include "core/cancel.h"
#include "core/mem.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

static atomic_bool g_omp_used;  /* this process started an OpenMP region of more than one thread */
static atomic_bool g_forked;    /* ... and then forked: this is the child */
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static _Thread_local bool t_named; /* a helper thread named tether-pool */
static _Thread_local bool t_team;  /* this thread started its team of helpers */

static void tt_omp_child_fork(void)
{
    if (atomic_load(&g_omp_used)) {
        atomic_store(&g_forked, true);
        omp_set_num_threads(1);
    }
    atomic_store(&g_omp_used, false);
}

static void tt_omp_register_atfork(void) { pthread_atfork(NULL, NULL, tt_omp_child_fork); }

static void tt_omp_mark_used(void)
{
    pthread_once(&g_atfork_once, tt_omp_register_atfork);
    if (!atomic_load_explicit(&g_omp_used, memory_order_relaxed))
        atomic_store(&g_omp_used, true);
}

static void name_helper(void)
{
    if (!t_named && omp_get_thread_num() != 0) {
        /* OpenMP's helper threads are the pool's: named so for ps, top and debuggers */
        pthread_setname_np(pthread_self(), "tether-pool");
        t_named = true;
    }
}

int tt_threads(void)
{
    if (atomic_load_explicit(&g_forked, memory_order_relaxed))
        return 1;
    int n = tt_threads_share > 0 ? tt_threads_share : tt_threads_total();
    if (!t_team && n > 1 && !omp_in_parallel()) {
        /* this thread's team of helpers, started now as the pthread pool's workers would be,
         * rather than at its first parallel loop */
        t_team = true;
        tt_omp_mark_used();
#pragma omp parallel num_threads(n)
        name_helper();
    }
    return n;
}

int tt_threads_for_omp(void)
{
    int n = tt_threads();
    if (n > 1)
        tt_omp_mark_used();
    if (omp_get_max_threads() != n)
        omp_set_num_threads(n);
    return n;
}

tt_status tt_threadpool_resize(int n)
{
    if (n < 1 || n > 1024)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "thread count %d is out of range 1..1024", n);
    tt_threads_set_total(n);
    return TT_OK;
}

/* OpenMP's threads live as long as the process; there is nothing to stop. */
void tt_threadpool_shutdown(void) {}

void tt_parallel_for(int64_t n, int64_t grain, tt_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int threads = omp_in_parallel() ? 1 : tt_threads();
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
    int team = nchunks < threads ? (int)nchunks : threads;
    tt_omp_mark_used();
    atomic_llong next = 0;
    tt_mem_budget *budget = tt_mem_budget_current();
    tt_cancel_fn cancel;
    void *cancel_ud;
    tt_cancel_current(&cancel, &cancel_ud);
    tt_stop_scope *scope = tt_stop_current();
#pragma omp parallel num_threads(team)
    {
        bool helper = omp_get_thread_num() != 0;
        if (helper) {
            name_helper();
            tt_mem_budget_swap(budget);
            tt_cancel_install(cancel, cancel_ud);
            tt_stop_set(scope);
        }
        for (;;) {
            long long c = atomic_fetch_add(&next, 1);
            if (c >= nchunks)
                break;
            int64_t b = c * chunk, e = b + chunk;
            fn(arg, b, e < n ? e : n);
        }
        if (helper) {
            tt_stop_set(NULL);
            tt_cancel_install(NULL, NULL);
            tt_mem_budget_swap(NULL);
        }
    }
}

#endif
