/* The convolution algorithm cache: cuDNN's choice of algorithm and workspace for one
 * convolution shape is made once (at open, during the warm-up run) and kept per device,
 * keyed by everything that decides it: the input and filter shapes, pads, strides,
 * dilations, groups, the data type and the math mode. Also the device facts derived from
 * its properties (FP32 peak). Pure C, so the keys are unit-tested everywhere. */
#ifndef TT_CUDA_ALGO_H
#define TT_CUDA_ALGO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CU_CONV_MAX_SP 3

typedef struct cu_conv_key {
    int32_t nsp;                  /* spatial dims, 1..3 */
    int32_t dtype;                /* tether dtype of x, w and y */
    int32_t math;                 /* precision mode (cu_math) */
    int32_t groups;
    int64_t x[2 + CU_CONV_MAX_SP];  /* N, C, spatial (unused dims 0) */
    int64_t w[2 + CU_CONV_MAX_SP];  /* M, C/groups, kernel */
    int32_t pad[CU_CONV_MAX_SP], stride[CU_CONV_MAX_SP], dilation[CU_CONV_MAX_SP];
    int32_t fused;                /* epilogue: 0 none, else its activation code + 1 */
} cu_conv_key;

/* Fills a key (every byte defined, so keys compare and hash as bytes). False when a
 * size does not fit the key's fields or nsp is out of range. */
bool cu_conv_key_make(cu_conv_key *k, int nsp, int dtype, int math, int64_t groups, const int64_t *x,
                      const int64_t *w, const int64_t *pad, const int64_t *stride, const int64_t *dilation, int fused);
uint64_t cu_conv_key_hash(const cu_conv_key *k);
bool cu_conv_key_eq(const cu_conv_key *a, const cu_conv_key *b);
/* "x 1x64x56x56 w 64x64x3x3 pad 1,1 stride 1,1 dil 1,1 g 1 fp32" for logs and errors. */
void cu_conv_key_str(const cu_conv_key *k, char *buf, size_t cap);

typedef struct cu_algo_choice {
    int algo;                     /* cudnnConvolutionFwdAlgo_t */
    uint64_t workspace;           /* bytes it needs */
    int math;                     /* cudnnMathType_t it was measured with */
    float ms;                     /* its measured time (0: chosen by heuristics) */
} cu_algo_choice;

#define CU_ALGO_CACHE_CAP 1024
typedef struct cu_algo_entry {
    cu_conv_key key;
    cu_algo_choice choice;
    uint64_t hash;
    uint64_t stamp;               /* last use, for eviction */
    bool used;
} cu_algo_entry;

/* Bounded: past CU_ALGO_CACHE_CAP shapes, the least recently used is replaced. */
typedef struct cu_algo_cache {
    pthread_mutex_t lock;
    cu_algo_entry *e;             /* CU_ALGO_CACHE_CAP entries, allocated on first put */
    int n;
    uint64_t clock, hits, misses;
} cu_algo_cache;

void cu_algo_cache_init(cu_algo_cache *c);
void cu_algo_cache_free(cu_algo_cache *c);
bool cu_algo_cache_get(cu_algo_cache *c, const cu_conv_key *k, cu_algo_choice *out);
/* false: out of memory (the choice is simply not kept) */
bool cu_algo_cache_put(cu_algo_cache *c, const cu_conv_key *k, const cu_algo_choice *choice);

/* FP32 lanes per multiprocessor of compute capability major.minor (0 when unknown). */
int cu_fp32_lanes_per_sm(int major, int minor);
/* FP32 FLOP/s peak: multiprocessors x lanes x 2 (an FMA) x clock. */
double cu_fp32_peak(int major, int minor, int sms, int clock_khz);

#endif
