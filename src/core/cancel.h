/* Stopping engine work from outside. A program that runs the engine for someone else
 * (tetherd) installs a check on the thread that runs it; the executor polls the check
 * between nodes, and long kernels poll it inside their loops (tt_kctx_check), so a run whose
 * client went away, whose attachment ended or whose server is stopping ends promptly. */
#ifndef TT_CANCEL_H
#define TT_CANCEL_H

#include "core/status.h"

/* TT_OK to go on; an error (its message recorded with tt_error) to stop with. */
typedef tt_status (*tt_cancel_fn)(void *ud);

/* Installs fn for this thread (NULL removes it). */
void tt_cancel_install(tt_cancel_fn fn, void *ud);
/* The installed check's verdict (TT_OK when none is installed). */
tt_status tt_cancel_poll(void);

#endif
