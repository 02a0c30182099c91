/* When a run context records its steady path as CUDA graphs. A run is "steady" when the
 * executor says its memory plan fits and every device value has its place in the arenas
 * (tt_run_info.steady): then every kernel of the next run with the same plan and arenas
 * reads and writes the same addresses. The first steady run with a key runs normally
 * (paying any first-use cost: algorithm searches, workspace growth), the second is
 * captured, and the ones after replay the capture. A capture that fails, or a replay
 * whose kernels no longer match what was captured, breaks the key: it runs normally from
 * then on. Pure C, so the policy is unit-tested without a GPU. */
#ifndef TT_CUDA_POLICY_H
#define TT_CUDA_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cu_mode {
    CU_MODE_NORMAL = 0,           /* kernels launch as they run */
    CU_MODE_CAPTURE = 1,          /* kernels launch into a stream capture, replayed at sync points */
    CU_MODE_REPLAY = 2,           /* kernels check they match the capture; the graphs launch */
} cu_mode;

#define CU_KEY_ARENAS 4
typedef struct cu_gkey {
    const void *plan;
    const void *arena[CU_KEY_ARENAS];
} cu_gkey;

typedef struct cu_policy {
    cu_gkey key;
    int steady_runs;              /* steady runs with this key so far */
    bool captured;                /* graphs exist for this key */
    bool broken;                  /* this key never captures again */
} cu_policy;

/* The mode of a run about to start. *drop: graphs of an earlier key must be destroyed. */
cu_mode cu_policy_begin(cu_policy *p, const cu_gkey *k, bool steady, bool enabled, bool *drop);
/* After a run in mode m: ok false breaks the key (and drops its graphs, *drop). */
void cu_policy_end(cu_policy *p, cu_mode m, bool ok, bool *drop);

/* A launch signature: what a kernel launch depends on (its node, tensors' addresses and
 * shapes, host-read values), mixed into one 64-bit hash. */
static inline uint64_t cu_sig_mix(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define CU_SIG_INIT 0xcbf29ce484222325ull

#endif
