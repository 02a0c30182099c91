/* Device memory accounting (see account.h): a limit check under a lock, and an
 * open-addressing table of live allocations by address. */
#include "account.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_EMPTY 0u
#define REC_DELETED 1u

void cu_account_init(cu_account *a, uint64_t limit)
{
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->lock, NULL);
    a->limit = limit;
}

void cu_account_free(cu_account *a)
{
    free(a->recs);
    pthread_mutex_destroy(&a->lock);
    memset(a, 0, sizeof *a);
}

bool cu_account_reserve(cu_account *a, uint64_t bytes, uint64_t *in_use)
{
    pthread_mutex_lock(&a->lock);
    uint64_t used = a->used;
    bool ok = !a->limit || (bytes <= a->limit && used <= a->limit - bytes);
    if (ok) {
        a->used += bytes;
        if (a->used > a->peak)
            a->peak = a->used;
    }
    pthread_mutex_unlock(&a->lock);
    if (in_use)
        *in_use = used;
    return ok;
}

void cu_account_unreserve(cu_account *a, uint64_t bytes)
{
    pthread_mutex_lock(&a->lock);
    a->used = bytes <= a->used ? a->used - bytes : 0;
    pthread_mutex_unlock(&a->lock);
}

static size_t slot_of(uintptr_t p, size_t cap)
{
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static void put_locked(cu_account *a, uintptr_t p, uint64_t bytes)
{
    size_t i = slot_of(p, a->cap);
    while (a->recs[i].ptr > REC_DELETED)
        i = (i + 1) & (a->cap - 1);
    if (a->recs[i].ptr == REC_DELETED)
        a->deleted--;
    a->recs[i] = (cu_alloc_rec){.ptr = p, .bytes = bytes};
    a->n++;
}

static bool grow_locked(cu_account *a)
{
    size_t cap = a->cap ? a->cap * 2 : 64;
    if (a->n * 4 < a->cap) /* mostly deleted slots: rehash at the same size */
        cap = a->cap;
    cu_alloc_rec *old = a->recs, *recs = calloc(cap, sizeof *recs);
    if (!recs)
        return false;
    size_t oldcap = a->cap;
    a->recs = recs;
    a->cap = cap;
    a->n = a->deleted = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].ptr > REC_DELETED)
            put_locked(a, old[i].ptr, old[i].bytes);
    free(old);
    return true;
}

bool cu_account_track(cu_account *a, const void *ptr, uint64_t bytes)
{
    uintptr_t p = (uintptr_t)ptr;
    pthread_mutex_lock(&a->lock);
    bool ok = true;
    if ((a->n + a->deleted + 1) * 4 > a->cap * 3)
        ok = grow_locked(a);
    if (ok && p > REC_DELETED)
        put_locked(a, p, bytes);
    if (!ok)
        a->used = bytes <= a->used ? a->used - bytes : 0;
    pthread_mutex_unlock(&a->lock);
    return ok;
}

uint64_t cu_account_release(cu_account *a, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    uint64_t bytes = 0;
    pthread_mutex_lock(&a->lock);
    if (a->cap && p > REC_DELETED) {
        size_t i = slot_of(p, a->cap);
        for (size_t probes = 0; probes < a->cap && a->recs[i].ptr != REC_EMPTY; probes++) {
            if (a->recs[i].ptr == p) {
                bytes = a->recs[i].bytes;
                a->recs[i].ptr = REC_DELETED;
                a->n--;
                a->deleted++;
                a->used = bytes <= a->used ? a->used - bytes : 0;
                break;
            }
            i = (i + 1) & (a->cap - 1);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return bytes;
}

uint64_t cu_account_used(cu_account *a)
{
    pthread_mutex_lock(&a->lock);
    uint64_t u = a->used;
    pthread_mutex_unlock(&a->lock);
    return u;
}

void cu_account_explain(const cu_account *a, uint64_t in_use, uint64_t bytes, const char *what, char *buf,
                        size_t cap)
{
    snprintf(buf, cap,
             "device memory quota exceeded: %s needs %" PRIu64 " bytes (%.1f MiB) with %" PRIu64
             " bytes (%.1f MiB) already in use, over the session's limit of %" PRIu64 " bytes (%.1f MiB)",
             what ? what : "an allocation", bytes, bytes / 1048576.0, in_use, in_use / 1048576.0, a->limit,
             a->limit / 1048576.0);
}
