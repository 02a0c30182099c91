/* The per-thread cancellation check (see cancel.h). */
#include "core/cancel.h"

#include <stddef.h>

static _Thread_local tt_cancel_fn t_fn;
static _Thread_local void *t_ud;

void tt_cancel_install(tt_cancel_fn fn, void *ud)
{
    t_fn = fn;
    t_ud = fn ? ud : NULL;
}

tt_status tt_cancel_poll(void)
{
    return t_fn ? t_fn(t_ud) : TT_OK;
}
