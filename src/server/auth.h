/* Attachment tokens: 256 random bits handed to the client once at RESERVE. The server keeps
 * only their SHA-256 (in memory and in the state directory) and compares in constant time;
 * a token is never logged. */
#ifndef TT_SERVER_AUTH_H
#define TT_SERVER_AUTH_H

#include "core/status.h"
#include "net/wire.h"

#include <stdbool.h>
#include <stdint.h>

/* A fresh token from the OS's CSPRNG. */
tt_status tt_token_new(uint8_t token[TT_WIRE_TOKEN_LEN]);
void tt_token_digest(const uint8_t token[TT_WIRE_TOKEN_LEN], uint8_t digest[TT_WIRE_HASH_LEN]);
/* Constant time in the token's bytes: whether token hashes to digest. */
bool tt_token_matches(const uint8_t token[TT_WIRE_TOKEN_LEN], const uint8_t digest[TT_WIRE_HASH_LEN]);
/* A new slot id: "eia-" and 32 hex digits of randomness (as Elastic Inference's were). */
tt_status tt_slot_id_new(char *out, size_t n);

#endif
