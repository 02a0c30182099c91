/* A small etcd v3 client over etcd's JSON gateway (HTTP POST /v3/..., keys and values in
 * base64, 64-bit numbers as strings), with libcurl: ranges, puts, deletes, transactions
 * with compare-and-swap, and leases. One client may name several etcd members; a member
 * that cannot be reached is skipped for the next. Calls on one client are serialised. */
#ifndef TT_FLEET_ETCD_H
#define TT_FLEET_ETCD_H

#include "core/status.h"
#include "net/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_ETCD_MAX_MEMBERS 8
#define TT_ETCD_MAX_REPLY (64u << 20) /* a reply larger than this is refused */

typedef struct tt_etcd tt_etcd;

/* urls: "etcd://HOST:PORT[,HOST:PORT...]" (HTTP), "etcds://..." (HTTPS), or a list of
 * "http://HOST:PORT" / "https://HOST:PORT". tls (may be NULL) holds the CA that verifies
 * etcd's certificate and the client certificate etcd may ask for (HTTPS only). A client
 * closed earlier in this process for the same urls and tls is reused, with its connection. */
tt_status tt_etcd_open(const char *urls, const tt_tls_files *tls, tt_etcd **out);
/* Another client of the same members (for a call on another thread). */
tt_status tt_etcd_clone(const tt_etcd *e, tt_etcd **out);
/* Puts the client in this process's pool of idle ones (a few; the oldest is freed), its
 * connection kept open. */
void tt_etcd_close(tt_etcd *e);
/* Frees the pooled clients and their connections (benchmarks: a process's first call). */
void tt_etcd_pool_drain(void);
/* Requests sent and connections made by this process's clients since it started. */
void tt_etcd_stats(uint64_t *requests, uint64_t *connects);
/* Sends this client's transactions (tt_etcd_txn*, tt_etcd_get_prefixes) as etcd's gRPC
 * KV.Txn (in the clear each over a connection of its own; over TLS on one kept open)
 * instead of through the JSON gateway: one hop less inside etcd (about 0.4 ms a call on an idle etcd on loopback). A member that answers
 * in anything but gRPC turns it off for this client; so does TETHER_ETCD_GRPC=0 in the
 * environment. */
void tt_etcd_use_grpc(tt_etcd *e, bool on);
/* Transactions etcd answered in gRPC, in this process. */
uint64_t tt_etcd_grpc_answers(void);
/* The URL list as given, for messages ("etcd://10.0.0.1:2379"). */
const char *tt_etcd_name(const tt_etcd *e);

typedef struct tt_etcd_kv {
    char *key;
    char *value; /* NUL-terminated (values here are JSON text) */
    size_t value_len;
    int64_t create_rev, mod_rev, version, lease;
} tt_etcd_kv;

typedef struct tt_etcd_kvs {
    tt_etcd_kv *kv;
    size_t n;
    int64_t revision; /* the store's revision when read */
} tt_etcd_kvs;

void tt_etcd_kvs_free(tt_etcd_kvs *k);

/* Every key starting with prefix, in key order. */
tt_status tt_etcd_get_prefix(tt_etcd *e, const char *prefix, int64_t deadline, tt_etcd_kvs *out);
/* Every key under each of n prefixes (n <= 8), read at one revision in one round trip (a
 * transaction of ranges), in one list: the first prefix's keys first. A serializable read:
 * the member asked answers from its own copy, which may be a moment behind the cluster;
 * writes that depend on it must compare revisions. */
tt_status tt_etcd_get_prefixes(tt_etcd *e, const char *const *prefixes, size_t n, int64_t deadline, tt_etcd_kvs *out);
/* The key itself (0 or 1 key-values), a serializable read. */
tt_status tt_etcd_get(tt_etcd *e, const char *key, int64_t deadline, tt_etcd_kvs *out);
/* Puts key = value, attached to lease (0: none). */
tt_status tt_etcd_put(tt_etcd *e, const char *key, const char *value, int64_t lease, int64_t deadline);
/* Deletes key, or every key under it when prefix. */
tt_status tt_etcd_delete(tt_etcd *e, const char *key, bool prefix, int64_t deadline);

typedef enum tt_etcd_target {
    TT_ETCD_CREATE = 0,  /* the key's create revision (0: the key does not exist) */
    TT_ETCD_MOD = 1,     /* its last modification's revision */
    TT_ETCD_VERSION = 2, /* how many times it was written since created */
} tt_etcd_target;

/* A comparison that must hold for the transaction's success branch: the key's target
 * equal to rev (or, when greater, above it: CREATE greater than 0 means "exists"). */
typedef struct tt_etcd_cmp {
    const char *key;
    tt_etcd_target target;
    int64_t rev;
    bool greater;
} tt_etcd_cmp;

typedef struct tt_etcd_op {
    bool del; /* false: put */
    const char *key;
    const char *value; /* put */
    int64_t lease;     /* put */
} tt_etcd_op;

/* If every comparison holds, applies ops atomically and sets *succeeded; otherwise changes
 * nothing and clears it. *revision (may be NULL) gets the store's revision after it (the
 * revision of the writes when it succeeded). */
tt_status tt_etcd_txn(tt_etcd *e, const tt_etcd_cmp *cmp, size_t n_cmp, const tt_etcd_op *ops, size_t n_ops,
                      int64_t deadline, bool *succeeded, int64_t *revision);
/* tt_etcd_txn that also reads, in the same round trip, every key under each of n_prefixes
 * prefixes (n_prefixes <= 8) into *read, when the comparisons fail (and when they hold, if
 * read_if_succeeded): as of the transaction, its own writes included (read->revision is the
 * store's revision after it). */
tt_status tt_etcd_txn_read(tt_etcd *e, const tt_etcd_cmp *cmp, size_t n_cmp, const tt_etcd_op *ops, size_t n_ops,
                           const char *const *prefixes, size_t n_prefixes, bool read_if_succeeded, int64_t deadline,
                           bool *succeeded, int64_t *revision, tt_etcd_kvs *read);

tt_status tt_etcd_lease_grant(tt_etcd *e, int ttl_s, int64_t deadline, int64_t *id);
/* Renews a lease; *ttl_s gets its TTL, 0 when etcd no longer has it (expired or revoked). */
tt_status tt_etcd_lease_keepalive(tt_etcd *e, int64_t id, int64_t deadline, int64_t *ttl_s);
/* Revokes a lease: every key attached to it is deleted. */
tt_status tt_etcd_lease_revoke(tt_etcd *e, int64_t id, int64_t deadline);

/* Base64 as etcd's gateway writes it (standard alphabet, padded); exposed for tests. The
 * output is malloc'ed and NUL-terminated. */
tt_status tt_base64_encode(const void *p, size_t n, char **out);
tt_status tt_base64_decode(const char *s, char **out, size_t *n);

#endif
