/* The native protocol's side of the model repository: OPEN_MODEL gives a connection a
 * handle on a repository model by name (with its API key when keys are configured, and no
 * attachment), and RUN on such a handle goes through the dynamic batcher like an HTTP
 * request, so requests of both protocols join the same batches. */
#ifndef TT_SERVER_NAMED_H
#define TT_SERVER_NAMED_H

#include "core/status.h"
#include "net/wire.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tt_conn tt_conn;

static inline bool tt_named_handle(uint32_t handle)
{
    return (handle & TT_WIRE_NAMED_HANDLE) != 0;
}

/* Loop thread: OPEN_MODEL (answered at once: only lookups). */
void tt_named_open(tt_conn *c, const tt_frame_hdr *h, const uint8_t *payload);
/* Loop thread: RUN on a named handle; takes ownership of payload. */
void tt_named_run(tt_conn *c, const tt_frame_hdr *h, uint8_t *payload);
tt_status tt_named_close(tt_conn *c, uint32_t handle);
/* When the connection is freed. */
void tt_named_release_all(tt_conn *c);

#endif
