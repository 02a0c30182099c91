/* The process-wide thread pool: one per process, sized by the caller, shared by every
 * session. Kernels split work with tt_parallel_for; nested calls run inline. */
#ifndef TT_THREADPOOL_H
#define TT_THREADPOOL_H

#include "core/status.h"
#include <stdbool.h>
#include <stdint.h>

/* Runs fn(arg, begin, end) over disjoint ranges covering [0, n). Ranges hold at least
 * `grain` items (except the last). Returns when all ranges are done. */
typedef void (*tt_range_fn)(void *arg, int64_t begin, int64_t end);
void tt_parallel_for(int64_t n, int64_t grain, tt_range_fn fn, void *arg);
/* tt_parallel_for for long work that must stop close to a run's limit: every thread runs its
 * ranges in steps of about TT_STOP_QUANTUM units of work (`cost`: the units of one item, e.g.
 * the multiply-adds of one output row) and polls the current stop scope (core/cancel.h)
 * after each. Returns false, the rest left undone, once the scope is stopped. */
bool tt_parallel_for_stoppable(int64_t n, int64_t grain, double cost, tt_range_fn fn, void *arg);

/* Number of threads work is spread over (the caller included): the pool's size, or less
 * under a cap set on this thread. */
int tt_threads(void);
/* Caps the threads that parallel_for calls made by this thread use (n <= 0: no cap), e.g.
 * for one session's runs. Returns the previous cap, to restore. */
int tt_threads_cap(int n);
tt_status tt_threadpool_resize(int n);
/* Stops the workers (at exit, or in tests). */
void tt_threadpool_shutdown(void);

#endif
