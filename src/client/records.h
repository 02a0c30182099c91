/* Inside client/: the attachment records file and the reservation steps that attach,
 * failover and resize share. Not part of any public interface. */
#ifndef TT_CLIENT_RECORDS_H
#define TT_CLIENT_RECORDS_H

#include "client/attach.h"

/* An exclusive lock over a read-modify-write of the records (an flock: across processes). */
tt_status tt_records_lock(int *fd);
void tt_records_unlock(int fd);
/* Every record in attach order (ordinal = position; TETHER_VISIBLE_DEVICES not applied). */
tt_status tt_records_load(tt_attachment **out, int *n);
tt_status tt_records_save(const tt_attachment *a, int n);
/* Writes root (freed here) to path as a whole: a temporary file beside it, fsync'ed, then
 * renamed over it; the text, which holds tokens, is wiped from memory after. */
struct cJSON;
tt_status tt_records_write_json(const char *path, struct cJSON *root);
/* Appends a (under the lock); a->ordinal gets its ordinal for this process. On failure the
 * slot is released again. */
tt_status tt_records_add(tt_attachment *a);
/* A fresh record name: "att-" and 24 hex digits. */
void tt_attachment_new_name(char *out, size_t n);

/* RESERVE on a server: fills a's slot fields (id, type, endpoint, token, memory, rate, TLS
 * files, key). slot_index1: 1 + the slot wanted, 0 for any free slot of the type; key: the
 * reservation key (NULL or "": $TETHER_RESERVE_KEY, if set). */
tt_status tt_reserve_at(const char *server, const tt_tls_files *tls, const char *type, uint32_t lease_s,
                        uint32_t slot_index1, const char *key, int timeout_ms, tt_attachment *a);
/* tt_reserve_at on a connection already open to the server (HELLO said; it is closed
 * here), or NULL to connect. */
struct tt_rconn;
tt_status tt_reserve_on(struct tt_rconn *conn, const char *server, const tt_tls_files *tls, const char *type,
                        uint32_t lease_s, uint32_t slot_index1, const char *key, int timeout_ms, tt_attachment *a);
/* RELEASE of a's slot on its server. */
tt_status tt_release_at(const tt_attachment *a, int timeout_ms);
/* tt_attach_with through a fleet (client/fleet_attach.c). */
tt_status tt_attach_fleet(const char *type, const tt_attach_opts *o, tt_attachment *out);

#endif
