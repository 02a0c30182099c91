/* Allocation wrappers and arenas. */
#include "core/mem.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long g_fail_after;
static atomic_ulong g_allocs;

void tt_mem_fail_after(long n) { atomic_store(&g_fail_after, n); }

unsigned long tt_mem_allocs(void) { return atomic_load_explicit(&g_allocs, memory_order_relaxed); }

/* Called on every allocation (a count for tests, and the failure injection). */
static bool tt_should_fail(void)
{
    atomic_fetch_add_explicit(&g_allocs, 1, memory_order_relaxed);
    long n = atomic_load_explicit(&g_fail_after, memory_order_relaxed);
    if (n <= 0)
        return false;
    return atomic_fetch_sub(&g_fail_after, 1) == 1;
}

/* ---- budgets ------------------------------------------------------------------------ */

static _Thread_local tt_mem_budget *t_budget;

void tt_mem_budget_begin(tt_mem_budget *b)
{
    atomic_store(&b->mine, 0);
    atomic_store(&b->peak, atomic_load(b->shared));
    atomic_store(&b->refused, 0);
    t_budget = b;
}

void tt_mem_budget_end(tt_mem_budget *b)
{
    if (t_budget == b)
        t_budget = NULL;
    atomic_fetch_sub(b->shared, atomic_exchange(&b->mine, 0));
}

tt_mem_budget *tt_mem_budget_current(void) { return t_budget; }

tt_mem_budget *tt_mem_budget_swap(tt_mem_budget *b)
{
    tt_mem_budget *prev = t_budget;
    t_budget = b;
    return prev;
}

/* Counts a new block p against this thread's budget; frees it and returns NULL when it
 * does not fit. Several threads may count in one budget at once (a job's workers). */
static void *budget_take(void *p)
{
    tt_mem_budget *b = t_budget;
    if (!b || !p)
        return p;
    int64_t n = (int64_t)malloc_usable_size(p);
    int64_t after = atomic_fetch_add(b->shared, n) + n;
    if (after > b->cap) {
        atomic_fetch_sub(b->shared, n);
        uint64_t none = 0;
        atomic_compare_exchange_strong(&b->refused, &none, (uint64_t)n);
        free(p);
        return NULL;
    }
    atomic_fetch_add(&b->mine, n);
    int64_t peak = atomic_load_explicit(&b->peak, memory_order_relaxed);
    while (after > peak && !atomic_compare_exchange_weak(&b->peak, &peak, after))
        ;
    return p;
}

static void budget_give(void *p)
{
    tt_mem_budget *b = t_budget;
    if (!b || !p)
        return;
    /* a block from before the budget began makes the count a little low, never high */
    int64_t n = (int64_t)malloc_usable_size(p);
    atomic_fetch_sub(&b->mine, n);
    atomic_fetch_sub(b->shared, n);
}

void *tt_malloc(size_t n)
{
    if (tt_should_fail())
        return NULL;
    return budget_take(malloc(n ? n : 1));
}

void *tt_calloc(size_t count, size_t size)
{
    if (tt_should_fail())
        return NULL;
    return budget_take(calloc(count ? count : 1, size ? size : 1));
}

void *tt_realloc(void *p, size_t n)
{
    if (tt_should_fail())
        return NULL;
    if (!t_budget)
        return realloc(p, n ? n : 1);
    /* a new block within the budget, then the copy: realloc in place cannot be undone */
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = tt_malloc(n);
    if (!q)
        return NULL;
    if (p) {
        memcpy(q, p, old < n ? old : n);
        tt_free(p);
    }
    return q;
}

void tt_free(void *p)
{
    budget_give(p);
    free(p);
}

char *tt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tt_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void *tt_malloc_aligned(size_t n)
{
    if (tt_should_fail())
        return NULL;
    void *p = NULL;
    size_t rounded = (n + TT_ALIGN - 1) & ~(size_t)(TT_ALIGN - 1);
    if (rounded < n || posix_memalign(&p, TT_ALIGN, rounded ? rounded : TT_ALIGN) != 0)
        return NULL;
    return budget_take(p);
}

void tt_free_aligned(void *p) { tt_free(p); }

struct tt_arena_chunk {
    tt_arena_chunk *next;
    size_t cap, used;
    _Alignas(TT_ALIGN) unsigned char data[];
};

#define TT_ARENA_CHUNK (64 * 1024)

void tt_arena_init(tt_arena *a)
{
    a->head = NULL;
    a->used_total = 0;
}

static void *tt_arena_alloc_al(tt_arena *a, size_t n, size_t align, bool zero)
{
    tt_arena_chunk *c = a->head;
    if (c) {
        size_t off = (c->used + align - 1) & ~(align - 1);
        if (off <= c->cap && n <= c->cap - off) {
            c->used = off + n;
            a->used_total += n;
            if (zero)
                memset(c->data + off, 0, n);
            return c->data + off;
        }
    }
    /* Large requests get a chunk of their own so small ones keep filling the current one. */
    size_t cap = n > TT_ARENA_CHUNK / 4 ? n : TT_ARENA_CHUNK;
    if (cap > SIZE_MAX - sizeof(tt_arena_chunk) - TT_ALIGN)
        return NULL;
    tt_arena_chunk *nc;
    if (tt_should_fail() || posix_memalign((void **)&nc, TT_ALIGN, sizeof(tt_arena_chunk) + cap) != 0 ||
        !budget_take(nc))
        return NULL;
    nc->cap = cap;
    nc->used = n;
    if (zero)
        memset(nc->data, 0, n);
    if (c && cap != TT_ARENA_CHUNK) {
        /* keep the partly used chunk at the head */
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        a->head = nc;
    }
    a->used_total += n;
    return nc->data;
}

void *tt_arena_alloc(tt_arena *a, size_t n) { return tt_arena_alloc_al(a, n, 16, true); }
void *tt_arena_alloc_aligned(tt_arena *a, size_t n) { return tt_arena_alloc_al(a, n, TT_ALIGN, true); }
void *tt_arena_alloc_data(tt_arena *a, size_t n) { return tt_arena_alloc_al(a, n, TT_ALIGN, false); }

char *tt_arena_strndup(tt_arena *a, const char *s, size_t n)
{
    char *d = tt_arena_alloc_al(a, n + 1, 1, false);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

char *tt_arena_strdup(tt_arena *a, const char *s) { return tt_arena_strndup(a, s, strlen(s)); }

bool tt_arena_release(tt_arena *a, void *p, size_t n)
{
    for (tt_arena_chunk **c = &a->head; *c; c = &(*c)->next) {
        tt_arena_chunk *k = *c;
        if ((void *)k->data != p)
            continue;
        if (k->used != n || k->cap != n)
            return false; /* shared with other allocations */
        *c = k->next;
        a->used_total -= n;
        free(k);
        return true;
    }
    return false;
}

void tt_arena_free(tt_arena *a)
{
    tt_arena_chunk *c = a->head;
    while (c) {
        tt_arena_chunk *n = c->next;
        tt_free(c);
        c = n;
    }
    a->head = NULL;
    a->used_total = 0;
}
