/* Tokens and ids from OpenSSL's RAND_bytes; comparisons with CRYPTO_memcmp so that the
 * time a refusal takes says nothing about how much of a guess was right. */
#include "server/auth.h"

#include "core/hash.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>

tt_status tt_token_new(uint8_t token[TT_WIRE_TOKEN_LEN])
{
    if (RAND_bytes(token, TT_WIRE_TOKEN_LEN) != 1)
        return tt_error(TETHER_ERR_INTERNAL, "the random number generator failed; no token was made");
    return TT_OK;
}

void tt_token_digest(const uint8_t token[TT_WIRE_TOKEN_LEN], uint8_t digest[TT_WIRE_HASH_LEN])
{
    tt_sha256(token, TT_WIRE_TOKEN_LEN, digest);
}

bool tt_token_matches(const uint8_t token[TT_WIRE_TOKEN_LEN], const uint8_t digest[TT_WIRE_HASH_LEN])
{
    uint8_t d[TT_WIRE_HASH_LEN];
    tt_token_digest(token, d);
    return CRYPTO_memcmp(d, digest, TT_WIRE_HASH_LEN) == 0;
}

tt_status tt_slot_id_new(char *out, size_t n)
{
    uint8_t r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        return tt_error(TETHER_ERR_INTERNAL, "the random number generator failed; no slot id was made");
    char hex[33];
    tt_hex(r, sizeof r, hex);
    snprintf(out, n, "eia-%s", hex);
    return TT_OK;
}
