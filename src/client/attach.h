/* Attachments: the records of accelerator slots this host holds, kept in the tether home
 * directory ($TETHER_HOME, default ~/.tether). Ordinals start at 0 in attach order;
 * TETHER_VISIBLE_DEVICES (ordinals or ids, comma-separated) limits and renumbers what a
 * process sees. The CLI (attach, detach, describe-accelerators, doctor, bench --sweep)
 * and the "eia:N" session target are built on these calls. */
#ifndef TT_ATTACH_H
#define TT_ATTACH_H

#include "core/status.h"
#include "net/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tt_attachment {
    int ordinal;           /* as this process sees it (after TETHER_VISIBLE_DEVICES) */
    char id[64];           /* the slot's id, unique on its server */
    char type[32];         /* accelerator type name, e.g. "eia2.medium" */
    char endpoint[256];    /* "tcp://host:port" or "unix:/path" */
    char token[80];        /* secret: never logged */
    uint64_t memory_bytes; /* the slot's memory quota */
    double tflops;         /* the slot's compute rate */
} tt_attachment;

/* Reserves a slot of `type` on `server` ("host:port", "tcp://…", "unix:…") and records it. */
tt_status tt_attach(const char *type, const char *server, tt_attachment *out);
/* Releases the slot and removes the record. */
tt_status tt_detach(int ordinal);
/* The attachments visible to this process; *out is malloc'ed (free it). */
tt_status tt_attachments_list(tt_attachment **out, int *n);
/* The visible attachment with this ordinal. */
tt_status tt_attachment_get(int ordinal, tt_attachment *out);

/* Extensions of the calls above. */
/* tt_attach with a lease (seconds; 0: the server's default), renewed by every use; the
 * reservation key (servers started with --reserve-keys) comes from $TETHER_RESERVE_KEY. */
tt_status tt_attach_ex(const char *type, const char *server, uint32_t lease_s, tt_attachment *out);
/* tt_attach_ex with the reservation key given (NULL or "": $TETHER_RESERVE_KEY, if set). */
tt_status tt_attach_key(const char *type, const char *server, uint32_t lease_s, const char *key, tt_attachment *out);
/* tt_detach; force: forget the record even when the server cannot be reached. note (may be
 * NULL) says what happened besides a plain release (e.g. the server had already let go). */
tt_status tt_detach_ex(int ordinal, bool force, char *note, size_t note_cap);
/* The attachment's token as bytes. */
tt_status tt_attachment_token(const tt_attachment *a, uint8_t token[TT_WIRE_TOKEN_LEN]);
/* The tether home directory: $TETHER_HOME, else ~/.tether. */
tt_status tt_tether_home(char *out, size_t n);

/* An attachment's health, as describe-accelerators and doctor report it. */
typedef struct tt_accel_health {
    const char *status; /* "healthy", "unhealthy" or "unreachable" */
    char reason[512];   /* why, when not healthy */
    double rtt_ms;      /* one PING round trip */
    char server_id[TT_WIRE_MAX_ID + 1];
    uint64_t memory_used, memory_quota;
    double tflops;
    uint64_t inferences, errors;
    int models_loaded;
    double lease_expires_in_s;
    double price_per_hour; /* the slot type's price as the server sets it; < 0: none set */
} tt_accel_health;

/* Connects, authenticates and asks the server about the attachment; never fails: the
 * answer is in h->status and h->reason. */
void tt_accel_probe(const tt_attachment *a, int timeout_ms, tt_accel_health *h);

#endif
