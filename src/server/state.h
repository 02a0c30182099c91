/* Persistent state in the state directory: the server's id and every reservation (id,
 * type, token digest — never the token —, holder, lease), written atomically on each
 * change so that attachments survive a restart of tetherd. */
#ifndef TT_SERVER_STATE_H
#define TT_SERVER_STATE_H

#include "core/status.h"

typedef struct tt_server tt_server;

#include <sys/types.h>

/* mkdir -p */
tt_status tt_mkdir_p(const char *dir, mode_t mode);
/* Creates the state directory if needed, reads the server id and restores reservations
 * into free slots of their type (expired ones are dropped). Call after tt_slots_init. */
tt_status tt_state_load(tt_server *srv);
/* Writes the state (call with slots_lock held). */
tt_status tt_state_save(tt_server *srv);

#endif
