/* Attachments: the records of accelerator slots this host holds, kept in the tether home
 * directory ($TETHER_HOME, default ~/.tether). Ordinals start at 0 in attach order;
 * TETHER_VISIBLE_DEVICES (ordinals or ids, comma-separated) limits and renumbers what a
 * process sees. The CLI (attach, detach, describe-accelerators, doctor, bench --sweep)
 * and the "eia:N" session target are built on these calls. */
#ifndef TT_ATTACH_H
#define TT_ATTACH_H

#include "core/status.h"

#include <stdint.h>

typedef struct tt_attachment {
    int ordinal;             /* as this process sees it (after TETHER_VISIBLE_DEVICES) */
    char id[64];             /* the slot's id, unique on its server */
    char type[32];           /* accelerator type name, e.g. "eia2.medium" */
    char endpoint[256];      /* "tcp://host:port" or "unix:/path" */
    char token[80];          /* secret: never logged */
    uint64_t memory_bytes;   /* the slot's memory quota */
    double tflops;           /* the slot's compute rate */
} tt_attachment;

/* Reserves a slot of `type` on `server` ("host:port", "tcp://…", "unix:…") and records it. */
tt_status tt_attach(const char *type, const char *server, tt_attachment *out);
/* Releases the slot and removes the record. */
tt_status tt_detach(int ordinal);
/* The attachments visible to this process; *out is malloc'ed (free it). */
tt_status tt_attachments_list(tt_attachment **out, int *n);
/* The visible attachment with this ordinal. */
tt_status tt_attachment_get(int ordinal, tt_attachment *out);

#endif
