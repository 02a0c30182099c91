/* The kernel profile: a fixed table of counters keyed by kernel, updated with atomics so
 * concurrent runs can share it. */
#include "runtime/profile.h"

#include "backends/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TT_PROFILE_SLOTS 512

typedef struct prof_slot {
    _Atomic(const tt_kernel *) op;
    _Atomic(const tt_backend *) backend;
    atomic_ullong calls, ns;
} prof_slot;

static prof_slot g_slots[TT_PROFILE_SLOTS];
static int g_enabled = -1;

static int by_time(const void *a, const void *b)
{
    const prof_slot *x = a, *y = b;
    unsigned long long tx = atomic_load(&x->ns), ty = atomic_load(&y->ns);
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

static void dump(void)
{
    static prof_slot copy[TT_PROFILE_SLOTS];
    unsigned long long total = 0;
    int n = 0;
    for (int i = 0; i < TT_PROFILE_SLOTS; i++) {
        if (!atomic_load(&g_slots[i].op))
            continue;
        atomic_init(&copy[n].op, atomic_load(&g_slots[i].op));
        atomic_init(&copy[n].backend, atomic_load(&g_slots[i].backend));
        atomic_init(&copy[n].calls, atomic_load(&g_slots[i].calls));
        atomic_init(&copy[n].ns, atomic_load(&g_slots[i].ns));
        total += atomic_load(&copy[n].ns);
        n++;
    }
    qsort(copy, (size_t)n, sizeof copy[0], by_time);
    fprintf(stderr, "tether profile (TETHER_PROFILE): time per operator and backend over all runs\n");
    fprintf(stderr, "  %-28s %-8s %10s %12s %7s\n", "op", "backend", "calls", "total ms", "share");
    for (int i = 0; i < n; i++) {
        unsigned long long ns = atomic_load(&copy[i].ns);
        const tt_backend *b = atomic_load(&copy[i].backend);
        fprintf(stderr, "  %-28s %-8s %10llu %12.3f %6.1f%%\n", atomic_load(&copy[i].op)->name, b ? b->name : "?",
                atomic_load(&copy[i].calls), ns / 1e6, total ? 100.0 * ns / total : 0);
    }
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init(void)
{
    const char *e = getenv("TETHER_PROFILE");
    g_enabled = e && *e && *e != '0';
    if (g_enabled)
        atexit(dump);
}

bool tt_profile_enabled(void)
{
    pthread_once(&g_once, init);
    return g_enabled;
}

uint64_t tt_profile_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void tt_profile_add(const tt_node *n, uint64_t ns)
{
    const tt_kernel *op = n->kernel;
    size_t h = ((uintptr_t)op >> 4) % TT_PROFILE_SLOTS;
    for (size_t k = 0; k < TT_PROFILE_SLOTS; k++) {
        prof_slot *s = &g_slots[(h + k) % TT_PROFILE_SLOTS];
        const tt_kernel *cur = atomic_load(&s->op);
        if (!cur) {
            const tt_kernel *expected = NULL;
            if (!atomic_compare_exchange_strong(&s->op, &expected, op) && expected != op)
                continue;
            atomic_store(&s->backend, n->backend);
        } else if (cur != op) {
            continue;
        }
        atomic_fetch_add(&s->calls, 1);
        atomic_fetch_add(&s->ns, ns);
        return;
    }
}
