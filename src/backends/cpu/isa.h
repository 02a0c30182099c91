/* The cpu backend's vectorised primitives, built once per instruction set (isa_avx512.c,
 * isa_avx2.c, isa_scalar.c from one source, kern.inc) and chosen once at run time from
 * cpuid: the widest the CPU and OS support, or a narrower one named by TETHER_CPU_ISA
 * (avx512, avx2, scalar) for testing. One binary runs on any x86-64. */
#ifndef TT_CPU_ISA_H
#define TT_CPU_ISA_H

#include <stdbool.h>
#include <stdint.h>

/* Unary float maps (y may be x). */
enum {
    TT_U_RELU, TT_U_LEAKY_RELU, /* alpha */
    TT_U_SIGMOID, TT_U_TANH, TT_U_EXP, TT_U_ERF, TT_U_SQRT, TT_U_NEG, TT_U_ABS, TT_U_RECIP, TT_U_SQUARE,
    TT_U_CLIP,                  /* alpha = lo, beta = hi */
    TT_U_GELU,                  /* 0.5 x (1 + erf(x / sqrt 2)) */
    TT_U_GELU_TANH,             /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    TT_U_SILU,                  /* x sigmoid(x) */
    TT_U_SWISH,                 /* x sigmoid(alpha x) */
    TT_U_HARD_SIGMOID,          /* max(0, min(1, alpha x + beta)) */
    TT_U_COUNT
};

/* Binary float ops. */
enum { TT_B_ADD, TT_B_SUB, TT_B_MUL, TT_B_DIV, TT_B_MAX, TT_B_MIN, TT_B_COUNT };

/* Activations a GEMM can apply to its result (a subset of the unary maps). */
enum { TT_ACT_NONE = -1 };

/* What a GEMM does to each result before storing it:
 * y = act(alpha * acc + bias[j] + res[i, j]) with the sums left to right. */
typedef struct tt_gemm_epi {
    float alpha;
    const float *bias;      /* per column, or NULL */
    const float *res;       /* per element (row stride ldr), or NULL */
    int64_t ldr;
    int act;                /* TT_ACT_NONE or a TT_U_ op */
    float act_alpha, act_beta;
} tt_gemm_epi;

typedef struct tt_cpu_isa {
    const char *name;
    int vl;                 /* floats per vector */
    int mr, nr;             /* GEMM register tile: rows of A, columns of B (a multiple of vl) */
    void (*unary)(int op, const float *x, float *y, int64_t n, float alpha, float beta);
    /* y[i] = a[i*sa] op b[i*sb], sa and sb 0 (broadcast scalar) or 1 */
    void (*binary)(int op, const float *a, int sa, const float *b, int sb, float *y, int64_t n);
    /* rows of n: softmax (log = false) or log-softmax */
    void (*softmax)(const float *x, float *y, int64_t rows, int64_t n, bool log);
    /* rows of n normalised to mean 0, variance 1 (eps added), then * gamma + beta (either
     * may be NULL). mean and inv_std, when not NULL, receive each row's statistics. */
    void (*layernorm)(const float *x, float *y, int64_t rows, int64_t n, const float *gamma, const float *beta,
                      float eps, float *mean, float *inv_std);
    /* y = w0 x0 + w1 x1 over n floats */
    void (*blend)(const float *x0, const float *x1, float w0, float w1, float *y, int64_t n);
    /* sums of rows of n: y[r] = sum(x[r*n .. r*n+n)) * scale */
    void (*row_sum)(const float *x, float *y, int64_t rows, int64_t n, float scale);
    /* C[m x n] = epi(A[m x K] B[K x n]). B is packed (panels of nr columns, K x nr each,
     * zero-padded: packed = true, ldb ignored) or row-major with row stride ldb. Each row's
     * result depends on that row of A alone, whatever m is (batch invariance). */
    void (*gemm)(int64_t m, int64_t n, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                 bool packed, float *C, int64_t ldc, const tt_gemm_epi *e);
    /* Attention for one query block: for each of m query rows q (length d, row stride ldq),
     * s_j = scale * q.k_j (+ mask[i*ldm + j] when mask), p = softmax(s), out = sum_j p_j v_j.
     * K has sk rows of d (stride ldk), V sk rows of dv (stride ldv); out rows stride ldo.
     * work holds (d + m) * sk floats. */
    void (*attention)(int64_t m, int64_t sk, int64_t d, int64_t dv, float scale, const float *q, int64_t ldq,
                      const float *k, int64_t ldk, const float *v, int64_t ldv, const float *mask, int64_t ldm,
                      float *out, int64_t ldo, float *work);
} tt_cpu_isa;

extern const tt_cpu_isa tt_isa_scalar;
#if defined(__x86_64__)
extern const tt_cpu_isa tt_isa_avx2, tt_isa_avx512;
#endif

/* The ISA in use (chosen on first call). */
const tt_cpu_isa *tt_cpu_isa_get(void);

#endif
