/* etcd v3's KV.Txn call in its gRPC form: the request encoded and the reply decoded by hand
 * in protobuf's wire format (etcd's rpc.proto and kv.proto name the fields), with gRPC's
 * 5-byte message prefix. Only what a transaction of compares, puts, deletes and ranges
 * needs; every other field of a reply is skipped. The decoder takes any bytes: whatever
 * etcd (or whoever answers in its place) sends is checked against its own lengths. */
#ifndef TT_FLEET_ETCD_PB_H
#define TT_FLEET_ETCD_PB_H

#include "fleet/etcd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_ETCD_MAX_PREFIX 512 /* bytes, its NUL included */

/* The end of the range of keys that start with prefix: the prefix with its last byte + 1. */
void tt_etcd_prefix_end(const char *prefix, char *out, size_t n);

/* A gRPC message (prefix included) of a TxnRequest: cmp, then ops in the success branch,
 * then a range over each prefix in the failure branch (and in the success branch too, when
 * read_if_succeeded), serializable when asked. *out is malloc'ed. */
tt_status tt_etcd_pb_txn_request(const tt_etcd_cmp *cmp, size_t n_cmp, const tt_etcd_op *ops, size_t n_ops,
                                 const char *const *prefixes, size_t n_prefixes, bool read_if_succeeded,
                                 bool serializable, uint8_t **out, size_t *n);

/* Decodes a gRPC reply body holding one TxnResponse: *succeeded, *revision (the header's)
 * and, when read is not NULL, the key-values of every range response, in order (freed with
 * tt_etcd_kvs_free, also on error). */
tt_status tt_etcd_pb_txn_reply(const uint8_t *p, size_t n, bool *succeeded, int64_t *revision, tt_etcd_kvs *read);

#endif
