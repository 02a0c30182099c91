/* SHA-256 through OpenSSL; FNV-1a for callers that want a fixed hash; SipHash-2-4 under a
 * per-process random key for the name maps, so that a hostile model cannot pick names that
 * all fall into one probe chain and make loading quadratic. */
#include "core/hash.h"

#include "core/mem.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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

static uint64_t g_map_key[2];
static pthread_once_t g_map_key_once = PTHREAD_ONCE_INIT;

static void map_key_init(void)
{
    if (getrandom(g_map_key, sizeof g_map_key, GRND_NONBLOCK) != (ssize_t)sizeof g_map_key) {
        /* no entropy source: still unpredictable enough to defeat precomputed collisions */
        g_map_key[0] = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
        g_map_key[1] = (uint64_t)getpid() * 0xBF58476D1CE4E5B9ull ^ (uint64_t)(uintptr_t)&g_map_key;
    }
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                       \
    do {                                                                                                               \
        v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                                      \
        v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                                         \
        v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                                         \
        v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                                      \
    } while (0)

/* SipHash-2-4 of a NUL-terminated string under the process key. */
static uint64_t map_hash(const char *s)
{
    pthread_once(&g_map_key_once, map_key_init);
    uint64_t k0 = g_map_key[0], k1 = g_map_key[1];
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    size_t n = strlen(s), i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m;
        memcpy(&m, s + i, 8); /* little-endian hosts, as everywhere tether builds */
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)n << 56;
    for (size_t j = 0; i + j < n; j++)
        last |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
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
    size_t i = map_hash(key) & (m->cap - 1);
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
    size_t i = map_hash(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}
