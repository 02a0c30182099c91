/* Reservation keys (--reserve-keys FILE): who may reserve slots, how many and for how long.
 * The file holds one key per line, "NAME SHA256-HEX MAX-SLOTS MAX-LEASE-SECONDS", with only
 * the key's SHA-256, so reading the file does not give the keys away. A RESERVE carries the
 * key itself; the server hashes it and compares with every entry in constant time. */
#ifndef TT_SERVER_KEYS_H
#define TT_SERVER_KEYS_H

#include "core/status.h"
#include "net/wire.h"

#include <stdint.h>
#include <stdio.h>

#define TT_KEY_NAME_MAX 31

typedef struct tt_key {
    char name[TT_KEY_NAME_MAX + 1];
    uint8_t digest[TT_WIRE_HASH_LEN];
    int max_slots;
    uint32_t max_lease_s;
} tt_key;

typedef struct tt_keys {
    tt_key *v;
    int n;
} tt_keys;

/* Reads a keys file; errors name the file, the line and what is wrong with it. */
tt_status tt_keys_load(const char *path, tt_keys *out);
void tt_keys_free(tt_keys *k);
/* The entry whose digest the key hashes to, or NULL. */
const tt_key *tt_keys_match(const tt_keys *k, const char *key);
/* --new-key NAME: prints a fresh random key and its line for the keys file. */
tt_status tt_keys_print_new(const char *name, FILE *f);

#endif
