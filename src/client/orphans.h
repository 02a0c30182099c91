/* Slots a failover left reserved on a server that was down (client/orphans.c). */
#ifndef TT_CLIENT_ORPHANS_H
#define TT_CLIENT_ORPHANS_H

#include "client/attach.h"

/* Remembers a's slot to release later; call with the records lock held. */
void tt_orphans_add_locked(const tt_attachment *a);
/* Tries to release every remembered slot (500 ms each); returns how many were released. */
int tt_orphans_sweep(void);

#endif
