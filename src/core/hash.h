/* Hashing: SHA-256 for content addresses (model cache keys), and a small string → int map. */
#ifndef TT_HASH_H
#define TT_HASH_H

#include "core/status.h"
#include <stddef.h>
#include <stdint.h>

#define TT_SHA256_LEN 32
void tt_sha256(const void *data, size_t n, uint8_t out[TT_SHA256_LEN]);
/* 64 lowercase hex digits + NUL */
void tt_hex(const uint8_t *bytes, size_t n, char *out);
uint64_t tt_hash_str(const char *s);

/* Open-addressing map from NUL-terminated strings (not copied: they must outlive the map)
 * to non-negative ints. */
typedef struct tt_strmap {
    const char **keys;
    int *vals;
    size_t cap, len;
} tt_strmap;

tt_status tt_strmap_init(tt_strmap *m, size_t expected);
void tt_strmap_free(tt_strmap *m);
/* Sets key → val, replacing any earlier value. */
tt_status tt_strmap_put(tt_strmap *m, const char *key, int val);
/* The value for key, or -1. */
int tt_strmap_get(const tt_strmap *m, const char *key);

#endif
