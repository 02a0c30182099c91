/* The process-wide thread pool: one per process, sized by the caller, shared by every
 * session. Kernels split work with tt_parallel_for; nested calls run inline.
 *
 * Where tether is built with oneDNN, whose Debian build threads itself with OpenMP, the
 * pool *is* OpenMP's (threadpool_omp.c): tether's kernels and oneDNN's run on the same
 * threads, so they never oversubscribe the cores. Elsewhere it is a pthread pool
 * (threadpool.c). OpenBLAS always runs single-threaded inside it. */
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

/* Number of threads work started on this thread is spread over (the caller included): its
 * run's share (tt_threads_begin) inside one, else the process's count. */
int tt_threads(void);
/* Sets the process's thread count (default: TETHER_NUM_THREADS, else every online core). */
/* Caps the threads that parallel work started by this thread uses (n <= 0: no cap), taking
 * nothing from other runs' shares (tt_threads_begin does). Returns the previous cap. */
int tt_threads_cap(int n);
tt_status tt_threadpool_resize(int n);
/* Stops the workers (at exit, or in tests). */
void tt_threadpool_shutdown(void);

/* A run's share of the process's threads. Concurrent runs divide the process's count
 * between them instead of each taking all of it: a run gets up to `want` threads (0: the
 * process's count), fewer while other runs hold them, never less than 1. Until the
 * matching tt_threads_end, tt_threads() on this thread returns the share and parallel work
 * started here (tt_parallel_for, oneDNN) uses that many threads. Scopes nest. */
typedef struct tt_threads_scope {
    int prev;   /* the thread's share before */
    int held;   /* threads taken from the process's count */
} tt_threads_scope;
tt_threads_scope tt_threads_begin(int want);
void tt_threads_end(tt_threads_scope s);

/* Before calling into a library that threads itself through OpenMP (oneDNN): makes its
 * thread count this thread's tt_threads() and returns that count. In a process forked after
 * OpenMP ran, whose OpenMP threads did not survive the fork, the count is 1. */
int tt_threads_for_omp(void);

/* Runs fn(arg) on a thread of its own and returns its status, with its message, here. A
 * thread that has run parallel work keeps a team of OpenMP helpers for as long as it lives,
 * and libgomp stops spinning at barriers (every wait becomes a sleep and a wake-up) once
 * the process's teams together outnumber the cores; work done apart (a server's model
 * loads, its peak measurement) takes its team with it when it ends. Without OpenMP, or
 * when no thread can be started, fn runs on this thread. */
tt_status tt_threads_apart(tt_status (*fn)(void *arg), void *arg);

/* ---- shared between threadpool.c and threadpool_omp.c ---------------------------------- */

/* The process's count, decided on first use, and setting it. */
int tt_threads_total(void);
void tt_threads_set_total(int n);
/* This thread's share inside tt_threads_begin, 0 outside. */
extern _Thread_local int tt_threads_share;

#endif
