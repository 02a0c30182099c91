/* Convolution algorithm cache and device arithmetic (see algo.h). */
#include "algo.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cu_conv_key_make(cu_conv_key *k, int nsp, int dtype, int math, int64_t groups, const int64_t *x,
                      const int64_t *w, const int64_t *pad, const int64_t *stride, const int64_t *dilation, int fused)
{
    memset(k, 0, sizeof *k);
    if (nsp < 1 || nsp > CU_CONV_MAX_SP || groups < 1 || groups > INT32_MAX)
        return false;
    k->nsp = nsp;
    k->dtype = dtype;
    k->math = math;
    k->groups = (int32_t)groups;
    k->fused = fused;
    for (int i = 0; i < 2 + nsp; i++) {
        if (x[i] < 0 || w[i] < 0)
            return false;
        k->x[i] = x[i];
        k->w[i] = w[i];
    }
    for (int i = 0; i < nsp; i++) {
        if (pad[i] < 0 || pad[i] > INT32_MAX || stride[i] < 1 || stride[i] > INT32_MAX || dilation[i] < 1 ||
            dilation[i] > INT32_MAX)
            return false;
        k->pad[i] = (int32_t)pad[i];
        k->stride[i] = (int32_t)stride[i];
        k->dilation[i] = (int32_t)dilation[i];
    }
    return true;
}

uint64_t cu_conv_key_hash(const cu_conv_key *k)
{
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the key's bytes (all defined) */
    for (size_t i = 0; i < sizeof *k; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

bool cu_conv_key_eq(const cu_conv_key *a, const cu_conv_key *b) { return memcmp(a, b, sizeof *a) == 0; }

void cu_conv_key_str(const cu_conv_key *k, char *buf, size_t cap)
{
    static const char *const math[] = {"fp32", "tf32", "fp16"};
    size_t o = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (o < cap)                                                                               \
            o += (size_t)snprintf(buf + o, cap - o, __VA_ARGS__);                                  \
    } while (0)
    PUT("x ");
    for (int i = 0; i < 2 + k->nsp; i++)
        PUT("%s%" PRId64, i ? "x" : "", k->x[i]);
    PUT(" w ");
    for (int i = 0; i < 2 + k->nsp; i++)
        PUT("%s%" PRId64, i ? "x" : "", k->w[i]);
    PUT(" pad");
    for (int i = 0; i < k->nsp; i++)
        PUT("%s%d", i ? "," : " ", k->pad[i]);
    PUT(" stride");
    for (int i = 0; i < k->nsp; i++)
        PUT("%s%d", i ? "," : " ", k->stride[i]);
    PUT(" dil");
    for (int i = 0; i < k->nsp; i++)
        PUT("%s%d", i ? "," : " ", k->dilation[i]);
    PUT(" g %d %s", k->groups, k->math >= 0 && k->math < 3 ? math[k->math] : "?");
    if (k->fused)
        PUT(" fused %d", k->fused - 1);
#undef PUT
}

void cu_algo_cache_init(cu_algo_cache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

void cu_algo_cache_free(cu_algo_cache *c)
{
    free(c->e);
    pthread_mutex_destroy(&c->lock);
    memset(c, 0, sizeof *c);
}

bool cu_algo_cache_get(cu_algo_cache *c, const cu_conv_key *k, cu_algo_choice *out)
{
    uint64_t h = cu_conv_key_hash(k);
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n && !found; i++) {
        cu_algo_entry *e = &c->e[i];
        if (e->used && e->hash == h && cu_conv_key_eq(&e->key, k)) {
            *out = e->choice;
            e->stamp = ++c->clock;
            found = true;
        }
    }
    if (found)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    return found;
}

bool cu_algo_cache_put(cu_algo_cache *c, const cu_conv_key *k, const cu_algo_choice *choice)
{
    uint64_t h = cu_conv_key_hash(k);
    pthread_mutex_lock(&c->lock);
    if (!c->e && !(c->e = calloc(CU_ALGO_CACHE_CAP, sizeof *c->e))) {
        pthread_mutex_unlock(&c->lock);
        return false;
    }
    cu_algo_entry *slot = NULL;
    for (int i = 0; i < c->n && !slot; i++)
        if (c->e[i].used && c->e[i].hash == h && cu_conv_key_eq(&c->e[i].key, k))
            slot = &c->e[i];
    if (!slot && c->n < CU_ALGO_CACHE_CAP)
        slot = &c->e[c->n++];
    if (!slot) { /* full: replace the least recently used */
        slot = &c->e[0];
        for (int i = 1; i < c->n; i++)
            if (c->e[i].stamp < slot->stamp)
                slot = &c->e[i];
    }
    *slot = (cu_algo_entry){.key = *k, .choice = *choice, .hash = h, .stamp = ++c->clock, .used = true};
    pthread_mutex_unlock(&c->lock);
    return true;
}

int cu_fp32_lanes_per_sm(int major, int minor)
{
    switch (major) {
    case 5: /* Maxwell */
    case 6: return minor == 0 ? 64 : 128; /* GP100: 64; GP10x: 128 */
    case 7: return 64;                    /* Volta, Turing */
    case 8: return minor == 0 ? 64 : 128; /* A100: 64; GA10x, Ada: 128 */
    case 9: return 128;                   /* Hopper */
    case 10:
    case 11:
    case 12: return 128;                  /* Blackwell */
    default: return 0;
    }
}

double cu_fp32_peak(int major, int minor, int sms, int clock_khz)
{
    if (sms <= 0 || clock_khz <= 0)
        return 0;
    return (double)sms * cu_fp32_lanes_per_sm(major, minor) * 2.0 * clock_khz * 1e3;
}
