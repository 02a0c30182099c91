/* Stopping engine work from outside. A program that runs the engine for someone else
 * (tetherd) installs a check on the thread that runs it; the executor polls the check
 * between nodes, and long kernels poll it inside their loops (tt_kctx_check, or the stop
 * scopes below), so a run whose client went away, whose attachment ended or whose server is
 * stopping ends promptly. */
#ifndef TT_CANCEL_H
#define TT_CANCEL_H

#include "core/status.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* TT_OK to go on; an error (its message recorded with tt_error) to stop with. */
typedef tt_status (*tt_cancel_fn)(void *ud);

/* Installs fn for this thread (NULL removes it). */
void tt_cancel_install(tt_cancel_fn fn, void *ud);
/* The installed check's verdict (TT_OK when none is installed). */
tt_status tt_cancel_poll(void);
/* This thread's check, as installed (for the thread pool, which lends it to the workers
 * that help this thread). */
void tt_cancel_current(tt_cancel_fn *fn, void **ud);

/* ---- stop scopes: one piece of work that several threads stop together ---------------- */

/* A stop scope covers one piece of work, e.g. one kernel call, that the calling thread and
 * the pool's workers helping it do together (the pool carries the scope to them). Long
 * loops report their work with tt_stop_work; every TT_STOP_QUANTUM units a thread polls the
 * scope's check, and once a poll fails the scope is stopped for every thread: each loop
 * leaves at its next report, and tt_stop_end turns the result into the check's error. */
#define TT_STOP_QUANTUM ((uint64_t)1 << 24) /* units (about a multiply-add each): milliseconds */

typedef struct tt_stop_scope {
    tt_status (*check)(const void *ud); /* TT_OK to go on; else an error, its message set */
    const void *ud;
    atomic_int state; /* 0 going, 1 a thread is recording why it stops, 2 stopped */
    tt_status code;   /* once stopped: the check's error and its message */
    char msg[512];
    struct tt_stop_scope *prev; /* the scope this thread was in before */
} tt_stop_scope;

/* Opens a scope on this thread (nested in the current one, if any). */
void tt_stop_begin(tt_stop_scope *s, tt_status (*check)(const void *ud), const void *ud);
/* Closes it, once every thread's part of the work is done: st, or the check's error (with
 * its message) when the work was stopped. */
tt_status tt_stop_end(tt_stop_scope *s, tt_status st);
/* Reports `units` of work done by this thread in the current scope. False once the scope is
 * stopped: the caller abandons its work (its result is discarded). Without a scope: true. */
bool tt_stop_work(uint64_t units);
/* Whether the current scope is stopped (no poll). */
bool tt_stopped(void);
/* The current scope of this thread, and setting it (for the thread pool). */
tt_stop_scope *tt_stop_current(void);
void tt_stop_set(tt_stop_scope *s);

#endif
