/* Remote sessions: a tether_session whose engine runs in tetherd on an attached slot. */
#ifndef TT_CLIENT_REMOTE_H
#define TT_CLIENT_REMOTE_H

#include "runtime/session.h"

/* Whether target names an accelerator ("eia:N", "tcp://…", "unix:…"). */
bool tt_target_is_remote(const char *target);
/* Opens a model on the accelerator named by cfg->target, from a file (path) or from
 * memory (model, size; copied, so the session can upload it again after a server loses
 * it). The model is uploaded only when the server does not already hold its hash. */
tt_status tt_remote_open(const char *path, const void *model, size_t size, const tether_session_config *cfg,
                         tether_session **out);

/* What the server said of this thread's latest successful remote run: time queued for the
 * scheduler and time computing. The rest of the run's latency is the transport's. */
typedef struct tt_remote_timing {
    uint64_t queue_ns, compute_ns;
} tt_remote_timing;
tt_remote_timing tt_remote_last_timing(void);

#endif
