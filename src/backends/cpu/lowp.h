/* Reduced-precision matrix products for the cpu backend (session precision bf16 or int8):
 * weights packed once at open, activations converted per run, products with AVX512-BF16
 * (vdpbf16ps) or AVX512-VNNI (vpdpbusd), and the epilogue in fp32. The kernels live in
 * lowp_avx512.c, compiled for those extensions; call them only when tt_cpu_has_bf16 /
 * tt_cpu_has_vnni say the CPU has them.
 *
 * Layouts. Weights B (K x N, or N x K transposed) go into panels of 16 columns. bf16: K is
 * padded to an even Kp and each panel holds Kp/2 rows of 32 values, column c's pair (k, k+1)
 * at 2c, 2c+1. int8: K is padded to a multiple of 4 and each panel holds Kp/4 rows of 64
 * bytes, column c's quad (k..k+3) at 4c..4c+3, quantised symmetrically per column (scale
 * max|W[:, j]| / 127). Activation rows are Kp long: bf16 rounded to nearest even, or u8
 * quantised per row (scale (max - min) / 255 over the row and 0, zero point -min / scale),
 * so a row's result depends on that row alone, whatever the batch. */
#ifndef TT_CPU_LOWP_H
#define TT_CPU_LOWP_H

#include "backends/cpu/isa.h"

#include <stddef.h>
#include <stdint.h>

#define TT_LOWP_NR 16
/* int8 products keep exact s32 sums up to this K (255 * 127 * K < 2^31). */
#define TT_LOWP_INT8_MAX_K 65536

/* Whether the CPU (and the ISA chosen, avx512) has AVX512-BF16 / AVX512-VNNI. */
bool tt_cpu_has_bf16(void);
bool tt_cpu_has_vnni(void);

/* Kp: K rounded up to 2 (bf16) or 4 (int8). */
static inline int64_t tt_lowp_kp(int64_t K, bool int8) { return int8 ? (K + 3) / 4 * 4 : (K + 1) / 2 * 2; }
static inline int64_t tt_lowp_panels(int64_t N) { return (N + TT_LOWP_NR - 1) / TT_LOWP_NR; }
/* Bytes of packed weights. */
static inline size_t tt_lowp_packed_bytes(int64_t K, int64_t N, bool int8)
{
    return (size_t)tt_lowp_panels(N) * (size_t)tt_lowp_kp(K, int8) * TT_LOWP_NR * (int8 ? 1 : 2);
}

/* Where a tile's results go: C = alpha * product (+ bias[j]) (+ res[i, j]), over N columns;
 * int8 products are first dequantised with the rows' scales and zero points (sa, za) and the
 * columns' scales and sums of quantised weights (sw, colsum). */
typedef struct tt_lowp_out {
    float *C;
    int64_t ldc, N;
    float alpha;
    const float *bias, *res;
    int64_t ldr;
    const float *sa, *sw;
    const int32_t *za, *colsum;
} tt_lowp_out;

void tt_lowp_bf16_pack(const float *B, int64_t K, int64_t N, bool trans, uint16_t *out);
/* rows of K floats (stride lda) into rows of Kp bf16 values */
void tt_lowp_bf16_rows(const float *A, int64_t lda, int64_t rows, int64_t K, uint16_t *out);
/* Rows [i0, i0 + m) and panels [p0, p0 + np) of the product of A (rows of Kp, from row 0)
 * and packed B, into o. */
void tt_lowp_bf16_gemm(int64_t i0, int64_t m, int64_t p0, int64_t np, int64_t K, const uint16_t *A,
                       const uint16_t *B, const tt_lowp_out *o);

/* scale: N per-column scales, colsum: N sums of the quantised column */
void tt_lowp_s8_pack(const float *B, int64_t K, int64_t N, bool trans, int8_t *out, float *scale, int32_t *colsum);
/* rows of K floats into rows of Kp u8 values, each row's scale and zero point */
void tt_lowp_u8_rows(const float *A, int64_t lda, int64_t rows, int64_t K, uint8_t *out, float *scale,
                     int32_t *zp);
void tt_lowp_s8_gemm(int64_t i0, int64_t m, int64_t p0, int64_t np, int64_t K, const uint8_t *A, const int8_t *B,
                     const tt_lowp_out *o);

#endif
