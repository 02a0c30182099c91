/* The fleet's records in etcd, and placement. Every tetherd in a fleet keeps, under one
 * lease of its own:
 *   /tether/servers/ID              {"id","endpoint","zone","device","tls","slots",
 *                                    "attached","types","free":{TYPE:[INDEX…]},"version",
 *                                    "claim_timeout"}
 *   /tether/slots/ID/INDEX          {"server","index","type","memory_bytes","tflops","state",
 *                                    "attachment","holder"}   state: "free" or "attached"
 *   /tether/free/TYPE/ID/INDEX      present while the slot is free
 * Placement reads only the server records (their free lists) and the claims, a few keys
 * however large the fleet. A client claims a free slot with a transaction that creates
 * /tether/claims/ID/INDEX only if that key does not exist and the slot's free key does
 * (compare-and-swap), so two clients never claim one slot, nor one that is attached.
 * The claim lives under the server's lease; the server deletes it when it publishes the
 * slot attached, or when nobody reserved it within its claim timeout (a few seconds). A
 * process remembers the last view it read and claims from it while it is recent (the
 * compare-and-swap checks the choice; a lost race brings back the fleet as it is). */
#ifndef TT_FLEET_FLEET_H
#define TT_FLEET_FLEET_H

#include "core/status.h"
#include "fleet/etcd.h"

#include <stdbool.h>
#include <stdint.h>

#define TT_FLEET_PREFIX "/tether/"
#define TT_FLEET_ID 64
#define TT_FLEET_MAX_COUNT 1000000 /* the most slots a server may count (of a type, or in all) */
#define TT_FLEET_TYPE 32

typedef struct tt_fleet_server {
    char id[TT_FLEET_ID];
    char endpoint[300]; /* where clients reach it: tcp://… or tls://… */
    char zone[64];
    char device[64];
    bool tls;
    char version[32];
    char types[256]; /* its slots by type: "eia2.medium=4,eia2.large=2" */
    int64_t lease;
    int slots, attached; /* the server's own counts, or counted from its slot records */
    int claim_timeout_s; /* how long its claims live unreserved (0: not published) */
    int claimed;         /* in a view: free slots being claimed */
} tt_fleet_server;

typedef struct tt_fleet_slot {
    char server[TT_FLEET_ID];
    int index;
    char type[TT_FLEET_TYPE];
    uint64_t memory_bytes;
    double tflops;
    bool attached;
    char attachment[TT_FLEET_ID]; /* the reservation's id when attached */
    char holder[TT_FLEET_ID];
    /* in a view: */
    int64_t mod_rev, lease;
    bool free;        /* free by the server's latest publication (placeable unless claimed) */
    bool claimed;     /* a claim key exists */
} tt_fleet_slot;

typedef struct tt_fleet_view {
    tt_fleet_server *servers;
    int n_servers;
    tt_fleet_slot *slots; /* sorted by server, then index */
    int n_slots;
    int64_t revision;
} tt_fleet_view;

/* Keys. */
void tt_fleet_key_server(char *out, size_t n, const char *server);
void tt_fleet_key_slot(char *out, size_t n, const char *server, int index);
void tt_fleet_key_claim(char *out, size_t n, const char *server, int index);
void tt_fleet_key_free(char *out, size_t n, const char *type, const char *server, int index);

/* Records as JSON text (malloc'ed; NULL when out of memory), and back. */
char *tt_fleet_server_json(const tt_fleet_server *s);
/* The server's record with the free list made from its slots (as the server publishes it). */
char *tt_fleet_server_json_with_free(const tt_fleet_server *s, const tt_fleet_slot *slots, int n);
char *tt_fleet_slot_json(const tt_fleet_slot *s);
tt_status tt_fleet_server_parse(const char *json, tt_fleet_server *s);
tt_status tt_fleet_slot_parse(const char *json, tt_fleet_slot *s);

/* Reads the whole fleet (one range over the prefix). Slots of servers whose record is gone,
 * and records that do not parse, are left out. */
tt_status tt_fleet_view_read(tt_etcd *e, int64_t deadline, tt_fleet_view *v);
/* What placement needs, in one round trip: the servers (their free slots from their free
 * lists, without memory and rate) and the claims. */
tt_status tt_fleet_view_read_free(tt_etcd *e, int64_t deadline, tt_fleet_view *v);
/* Builds a view from key-values (the part of tt_fleet_view_read that needs no etcd). */
tt_status tt_fleet_view_build(const tt_etcd_kvs *kvs, tt_fleet_view *v);
void tt_fleet_view_free(tt_fleet_view *v);
const tt_fleet_server *tt_fleet_view_server(const tt_fleet_view *v, const char *id);

/* What a placement asks for. */
typedef struct tt_fleet_want {
    const char *type;
    const char *server;  /* pin: a server id or endpoint (NULL: any) */
    const char *zone;    /* only servers in this zone (NULL: any) */
    const char *const *exclude; /* never these server ids (ones that failed) */
    int n_exclude;
    const char *holder;  /* the claiming host, recorded in the claim */
    /* may be NULL: told the slot about to be claimed (its server, its index there) before
     * each claim's transaction, so that the caller can reach the server while it runs */
    void (*chosen)(void *ud, const tt_fleet_server *server, int index);
    /* may be NULL: told when the claim on a slot (server id, index) was lost. taken: lost
     * to an attachment with no claim on the slot, which the caller's own reservation, made
     * while the claim ran, may explain. Returns true when the caller holds the slot: then it is
     * the caller's without a claim (claim_rev 0); false: the caller has given back what it
     * made of the slot. */
    bool (*lost)(void *ud, const char *server, int index, bool taken);
    void *chosen_ud; /* for both */
} tt_fleet_want;

/* Picks a free, unclaimed slot of w->type in v: on the least-loaded eligible server (the
 * smallest share of its slots attached or claimed; ties broken by seed), one of its free
 * slots (by seed). skip (n_slots flags, may be NULL) leaves slots out. *slot gets the
 * slot's index in v->slots; BUSY (all taken) or NOT_FOUND (none of the type) name the type,
 * the fleet and why none fits. */
tt_status tt_fleet_choose(const tt_fleet_view *v, const tt_fleet_want *w, uint32_t seed, const bool *skip,
                          const char *fleet_name, int *slot);

/* A slot claimed for this client. */
typedef struct tt_fleet_claim {
    char server[TT_FLEET_ID];
    char endpoint[300];
    char zone[64];
    int index;
    char type[TT_FLEET_TYPE];
    int64_t claim_rev; /* the claim key's revision, to delete it only if still ours (0: none) */
} tt_fleet_claim;

/* Reads the fleet and claims a slot for w (retrying on lost races until the deadline). BUSY
 * when every slot of the type is taken, NOT_FOUND when no eligible server offers the type;
 * the message names the type and the fleet. */
tt_status tt_fleet_claim_slot(tt_etcd *e, const tt_fleet_want *w, int64_t deadline, tt_fleet_claim *out);
/* Forgets the view this process remembers between placements, after saving it to the view
 * file as an exit would (benchmarks: a process's first placement). */
void tt_fleet_forget(void);
/* Where the last view of the fleet is kept for the next process (a cache file; NULL or ""
 * for none). A process that remembers no view chooses from this one while it is young. */
void tt_fleet_set_view_file(const char *path);
/* The view in a view file's bytes (data, n), when it is one of fleet (and, with check_age,
 * young enough to use); false for anything else: short, of another layout or fleet, out of
 * bounds. Strings, bools and counts are made safe and the slots sorted. Exposed for tests. */
bool tt_fleet_view_file_parse(const void *data, size_t n, const char *fleet, bool check_age, tt_fleet_view *out);
/* Writes the remembered view to that file if it changed (also done at exit). */
void tt_fleet_save_view(void);
/* Gives a claim back (the reservation it was for failed). Best effort. */
void tt_fleet_claim_drop(tt_etcd *e, const tt_fleet_claim *c, int64_t deadline);

#endif
