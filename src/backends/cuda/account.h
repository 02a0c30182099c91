/* Device memory accounting for one CUDA backend instance (one session): the bytes it holds,
 * their peak, and the limit the session was opened with (a tetherd slot's quota). Every
 * device allocation of the instance (uploaded weights, activation arenas, workspace) is
 * charged here first, so an allocation past the limit fails before cudaMalloc is called.
 * Pure C, with no CUDA in it, so it is unit-tested everywhere. */
#ifndef TT_CUDA_ACCOUNT_H
#define TT_CUDA_ACCOUNT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cu_alloc_rec {
    uintptr_t ptr;     /* 0: empty slot; 1: a deleted one */
    uint64_t bytes;
} cu_alloc_rec;

typedef struct cu_account {
    pthread_mutex_t lock;
    uint64_t used, peak, limit; /* limit 0: none */
    /* live allocations by address, to uncharge the right size when one is freed */
    cu_alloc_rec *recs;
    size_t cap, n, deleted;
} cu_account;

void cu_account_init(cu_account *a, uint64_t limit);
void cu_account_free(cu_account *a);
/* Charges an allocation of `bytes` about to be made: false, with nothing charged, when it
 * would pass the limit; *in_use then receives what is held already. */
bool cu_account_reserve(cu_account *a, uint64_t bytes, uint64_t *in_use);
/* Undoes a reserve whose allocation failed. */
void cu_account_unreserve(cu_account *a, uint64_t bytes);
/* Records the address a reserved allocation got (false: out of host memory for the table;
 * the reservation is then undone). */
bool cu_account_track(cu_account *a, const void *ptr, uint64_t bytes);
/* Forgets the allocation at ptr and uncharges its size, returned (0 if unknown). */
uint64_t cu_account_release(cu_account *a, const void *ptr);
uint64_t cu_account_used(cu_account *a);
/* "device memory limit of this session: 104857600 bytes; 98566144 in use, 8388608 more
 * needed for <what>" into buf. */
void cu_account_explain(const cu_account *a, uint64_t in_use, uint64_t bytes, const char *what, char *buf,
                        size_t cap);

#endif
