/* The per-thread cancellation check and stop scopes (see cancel.h). */
#include "core/cancel.h"

#include <stddef.h>
#include <stdio.h>

static _Thread_local tt_cancel_fn t_fn;
static _Thread_local void *t_ud;
static _Thread_local tt_stop_scope *t_scope;
static _Thread_local uint64_t t_units; /* work reported since this thread's last poll */

void tt_cancel_install(tt_cancel_fn fn, void *ud)
{
    t_fn = fn;
    t_ud = fn ? ud : NULL;
}

tt_status tt_cancel_poll(void)
{
    return t_fn ? t_fn(t_ud) : TT_OK;
}

void tt_cancel_current(tt_cancel_fn *fn, void **ud)
{
    *fn = t_fn;
    *ud = t_ud;
}

void tt_stop_begin(tt_stop_scope *s, tt_status (*check)(const void *ud), const void *ud)
{
    s->check = check;
    s->ud = ud;
    atomic_init(&s->state, 0);
    s->code = TT_OK;
    s->msg[0] = 0;
    s->prev = t_scope;
    t_scope = s;
}

tt_status tt_stop_end(tt_stop_scope *s, tt_status st)
{
    if (t_scope == s)
        t_scope = s->prev;
    if (atomic_load(&s->state) == 2)
        return tt_error(s->code, "%s", s->msg);
    return st;
}

/* Polls the scope's check; records the first failure for every thread to see. */
static bool scope_poll(tt_stop_scope *s)
{
    if (atomic_load_explicit(&s->state, memory_order_acquire))
        return false;
    tt_status st = s->check ? s->check(s->ud) : TT_OK;
    if (st == TT_OK)
        return true;
    int going = 0;
    if (atomic_compare_exchange_strong(&s->state, &going, 1)) {
        s->code = st;
        snprintf(s->msg, sizeof s->msg, "%s", tt_last_error());
        atomic_store_explicit(&s->state, 2, memory_order_release);
    }
    return false;
}

bool tt_stop_work(uint64_t units)
{
    tt_stop_scope *s = t_scope;
    if (!s)
        return true;
    t_units += units;
    if (t_units < TT_STOP_QUANTUM)
        return !atomic_load_explicit(&s->state, memory_order_relaxed);
    t_units = 0;
    return scope_poll(s);
}

bool tt_stopped(void)
{
    tt_stop_scope *s = t_scope;
    return s && atomic_load_explicit(&s->state, memory_order_relaxed);
}

tt_stop_scope *tt_stop_current(void) { return t_scope; }
void tt_stop_set(tt_stop_scope *s) { t_scope = s; }
