/* SHA-256 through OpenSSL, FNV-1a for in-memory maps. */
#include "core/hash.h"

#include "core/mem.h"

#include <openssl/evp.h>
#include <string.h>

void tt_sha256(const void *data, size_t n, uint8_t out[TT_SHA256_LEN])
{
    unsigned int len = TT_SHA256_LEN;
    EVP_Digest(data, n, out, &len, EVP_sha256(), NULL);
}

void tt_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

uint64_t tt_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

tt_status tt_strmap_init(tt_strmap *m, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2)
        cap *= 2;
    m->keys = tt_calloc(cap, sizeof *m->keys);
    m->vals = tt_calloc(cap, sizeof *m->vals);
    m->cap = cap;
    m->len = 0;
    if (!m->keys || !m->vals) {
        tt_strmap_free(m);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a name table of %zu entries", expected);
    }
    return TT_OK;
}

void tt_strmap_free(tt_strmap *m)
{
    tt_free(m->keys);
    tt_free(m->vals);
    memset(m, 0, sizeof *m);
}

static tt_status tt_strmap_grow(tt_strmap *m)
{
    tt_strmap n;
    TT_TRY(tt_strmap_init(&n, m->cap));
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            tt_strmap_put(&n, m->keys[i], m->vals[i]);
    tt_strmap_free(m);
    *m = n;
    return TT_OK;
}

tt_status tt_strmap_put(tt_strmap *m, const char *key, int val)
{
    if ((m->len + 1) * 2 > m->cap)
        TT_TRY(tt_strmap_grow(m));
    size_t i = tt_hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->len++;
    }
    m->vals[i] = val;
    return TT_OK;
}

int tt_strmap_get(const tt_strmap *m, const char *key)
{
    if (!m->cap)
        return -1;
    size_t i = tt_hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}
