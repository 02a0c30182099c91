/* Attachments: the records of accelerator slots this host holds, kept in the tether home
 * directory ($TETHER_HOME, default ~/.tether). Ordinals start at 0 in attach order;
 * TETHER_VISIBLE_DEVICES (ordinals or ids, comma-separated) limits and renumbers what a
 * process sees. The CLI (attach, detach, describe-accelerators, doctor, bench --sweep)
 * and the "eia:N" session target are built on these calls. */
#ifndef TT_ATTACH_H
#define TT_ATTACH_H

#include "core/status.h"
#include "net/tls.h"
#include "net/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tt_attachment {
    int ordinal;           /* as this process sees it (after TETHER_VISIBLE_DEVICES) */
    char id[64];           /* the slot's id, unique on its server */
    char type[32];         /* accelerator type name, e.g. "eia2.medium" */
    char endpoint[256];    /* "tcp://host:port", "tls://host:port" or "unix:/path" */
    char token[80];        /* secret: never logged */
    uint64_t memory_bytes; /* the slot's memory quota */
    double tflops;         /* the slot's compute rate */
    /* The record's own name ("att-" and hex): it stays when failover or resize moves the
     * attachment to another slot, so a running session can find where it went. */
    char name[40];
    char fleet[256];       /* etcd://… when placed through a fleet; "" for a direct attach */
    char zone[64];         /* the zone asked for ("" any) */
    char server_id[64];    /* the fleet server holding the slot ("" for a direct attach) */
    tt_tls_files tls;      /* for a tls:// endpoint (empty fields: TETHER_TLS_* at use) */
    tt_tls_files fleet_tls; /* for an etcds:// fleet */
    char key[TT_WIRE_MAX_KEY + 1]; /* the reservation key it was made with (secret; "" none):
                                    * failover and resize reserve with it again */
} tt_attachment;

/* How to attach: directly to a server, or through a fleet. */
typedef struct tt_attach_opts {
    uint32_t lease_s;   /* 0: the server's default */
    const char *server; /* direct: the server's endpoint; with a fleet: pin to this server (id
                         * or endpoint), or NULL for any */
    const char *fleet;  /* etcd://HOST:PORT[,…] (NULL: attach directly to server) */
    const char *zone;   /* fleet: only servers labelled with this zone (NULL: any) */
    tt_tls_files tls;   /* certificate files for tls:// servers (recorded with the attachment) */
    tt_tls_files fleet_tls;
    const char *key;    /* reservation key (NULL: $TETHER_RESERVE_KEY, if set) */
} tt_attach_opts;

/* Reserves a slot as opts says and records it. Through a fleet: the least-loaded server
 * with a free slot of the type, claimed in etcd so that no two clients get one slot. */
tt_status tt_attach_with(const char *type, const tt_attach_opts *opts, tt_attachment *out);

/* The record named `name` as it is now (after failovers and resizes), ordinal included. */
tt_status tt_attachment_find(const char *name, tt_attachment *out);
/* Moves the attachment `cur` (whose server failed, or stopped answering) to a free slot of
 * the same type on another server of its fleet, and records it under the same name and
 * ordinal. When another process has already moved it, *out is simply where it is now.
 * Fails, naming the type and the fleet, when no slot is free. */
tt_status tt_attachment_failover(const tt_attachment *cur, const char *why, tt_attachment *out);
/* Moves attachment `ordinal` to a new slot of `type` (its fleet, else its server): the new
 * slot is reserved and recorded at once, so running sessions switch to it at their next
 * request; the old slot is released when no session uses it any more, or after wait_ms. */
tt_status tt_attachment_resize(int ordinal, const char *type, int wait_ms, tt_attachment *out, char *note,
                               size_t note_cap);

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
