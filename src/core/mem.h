/* Allocation: checked malloc wrappers with fault injection, 64-byte aligned buffers for
 * tensor data, overflow-checked size arithmetic, and arenas tied to an object's lifetime. */
#ifndef TT_MEM_H
#define TT_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_ALIGN 64

void *tt_malloc(size_t n);
void *tt_calloc(size_t count, size_t size);
void *tt_realloc(void *p, size_t n);
void tt_free(void *p);
char *tt_strdup(const char *s);
/* Aligned to TT_ALIGN; free with tt_free_aligned. n may be 0 (returns a valid pointer). */
void *tt_malloc_aligned(size_t n);
void tt_free_aligned(void *p);

/* Fault injection for tests: the n-th allocation from now fails (0 disables). */
void tt_mem_fail_after(long n);
/* Allocations made through these functions and arenas so far (tests check that a steady
 * run makes none). */
unsigned long tt_mem_allocs(void);

/* A memory budget for the work this thread does next (a server holding one tenant's run to
 * its slot's quota): every allocation through the wrappers above on this thread is counted
 * in *shared (which several threads' budgets may share) and fails, as out of memory, when
 * it would take *shared past cap; frees on this thread give the bytes back. What is still
 * allocated at tt_mem_budget_end is given back then (it outlives the work: outputs, caches).
 * The thread pool's workers count what they allocate for a job in its submitter's budget
 * (tt_mem_budget_swap), so a kernel's parallel helpers are held to it too. */
typedef struct tt_mem_budget {
    _Atomic int64_t *shared;  /* bytes counted by every budget on this account */
    int64_t cap;              /* *shared may not pass this */
    _Atomic int64_t mine;     /* this budget's share of *shared */
    _Atomic int64_t peak;     /* the most *shared reached while this budget was on */
    _Atomic uint64_t refused; /* the size of the first allocation refused (0: none) */
} tt_mem_budget;

/* b->shared and b->cap set by the caller; begin clears the rest and turns it on. */
void tt_mem_budget_begin(tt_mem_budget *b);
void tt_mem_budget_end(tt_mem_budget *b);
/* Makes b (NULL: none) the budget this thread's allocations count in, returning the one it
 * had: the thread pool lends a job's budget to the workers that help with it. */
tt_mem_budget *tt_mem_budget_swap(tt_mem_budget *b);
tt_mem_budget *tt_mem_budget_current(void);

static inline bool tt_mul_ok(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static inline bool tt_add_ok(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_add_overflow(a, b, r); }

/* An arena: bump allocation in chunks, freed all at once. Not thread-safe. */
typedef struct tt_arena_chunk tt_arena_chunk;
typedef struct tt_arena {
    tt_arena_chunk *head;
    size_t used_total;
} tt_arena;

void tt_arena_init(tt_arena *a);
void *tt_arena_alloc(tt_arena *a, size_t n);          /* zeroed, aligned to 16 */
void *tt_arena_alloc_aligned(tt_arena *a, size_t n);  /* zeroed, aligned to TT_ALIGN */
void *tt_arena_alloc_data(tt_arena *a, size_t n);     /* not zeroed, aligned to TT_ALIGN: bulk data */
char *tt_arena_strndup(tt_arena *a, const char *s, size_t n);
char *tt_arena_strdup(tt_arena *a, const char *s);
void tt_arena_free(tt_arena *a);
/* Frees the n bytes at p early when they fill a chunk of their own (large allocations get
 * one); returns whether it did. p must not be used after. */
bool tt_arena_release(tt_arena *a, void *p, size_t n);

#define TT_ARENA_NEW(a, T, n) ((T *)tt_arena_alloc((a), sizeof(T) * (size_t)(n)))

#endif
