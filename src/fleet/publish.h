/* A server's presence in the fleet: a thread that registers the server and its slots under
 * an etcd lease, keeps the lease alive, publishes each slot change, clears claims nobody
 * followed up, and registers again whenever etcd lost the lease (it expired while etcd or
 * the network was down, or etcd restarted without its data). A clean stop revokes the
 * lease, which deletes every record at once; a crash lets it expire. */
#ifndef TT_FLEET_PUBLISH_H
#define TT_FLEET_PUBLISH_H

#include "fleet/fleet.h"

typedef struct tt_fleet_pub tt_fleet_pub;

typedef struct tt_fleet_pub_config {
    const char *urls;     /* etcd://… */
    tt_tls_files tls;     /* for etcds:// */
    int ttl_s;            /* the lease's time to live */
    int claim_timeout_s;  /* a claim not followed by a reservation within this is cleared */
    tt_fleet_server server;
    const tt_fleet_slot *slots; /* the initial state of every slot (copied) */
    int n_slots;
} tt_fleet_pub_config;

/* Starts publishing; tries to register at once (waiting at most a few seconds) and goes on
 * trying in the background when etcd cannot be reached yet. */
tt_status tt_fleet_pub_start(const tt_fleet_pub_config *cfg, tt_fleet_pub **out);
/* A slot changed (any thread; does no I/O): its record is published soon after. */
void tt_fleet_pub_slot(tt_fleet_pub *p, const tt_fleet_slot *s);
/* Whether the server is registered now (tests, logs). */
bool tt_fleet_pub_registered(tt_fleet_pub *p);
/* Revokes the lease (bounded wait) and stops the thread. */
void tt_fleet_pub_stop(tt_fleet_pub *p);

#endif
