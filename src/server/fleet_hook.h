/* tetherd's side of the fleet: registration of this server and its slots in etcd
 * (fleet/publish.h) when --fleet is set, and TLS on its listeners (net/tls.h). */
#ifndef TT_SERVER_FLEET_HOOK_H
#define TT_SERVER_FLEET_HOOK_H

#include "core/status.h"
#include "net/sock.h"

typedef struct tt_server tt_server;
typedef struct tt_slot tt_slot;
struct tt_tls_ctx;

/* Starts publishing (no-op without --fleet). Call once the listeners are up. */
tt_status tt_server_fleet_start(tt_server *srv);
/* A slot's reservation changed; call with slots_lock held (no I/O here). */
void tt_server_fleet_slot(tt_server *srv, const tt_slot *slot);
/* Leaves the fleet: the server's records are deleted. */
void tt_server_fleet_stop(tt_server *srv);

/* Whether a listener on ep gets TLS under the configuration: *ctx is the server's TLS
 * context (made once, shared by listeners) or NULL for plain TCP, and ep is marked tls.
 * Refuses a non-loopback listener without certificates unless --tls off. */
tt_status tt_server_listener_tls(tt_server *srv, tt_endpoint *ep, struct tt_tls_ctx **ctx);
/* Frees the TLS context at shutdown. */
void tt_server_tls_free(tt_server *srv);

#endif
