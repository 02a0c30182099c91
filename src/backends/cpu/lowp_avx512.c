/* The bf16 and int8 matrix-product kernels of lowp.h, compiled for AVX-512 with BF16 and VNNI
 * (CMakeLists.txt gives this file its -m flags): called only where the CPU has them. Register
 * tiles of 4 rows by 4 panels (64 columns); each result is one chain of dot products over k
 * in order, so a row's result never depends on the other rows. */
#include "backends/cpu/lowp.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__AVX512BF16__) && defined(__AVX512VNNI__)
#include <immintrin.h>

#define MR 4
#define NP 4

static uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40); /* a quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);         /* to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

static inline float b_at(const float *B, int64_t K, int64_t N, bool trans, int64_t k, int64_t j)
{
    return trans ? B[j * K + k] : B[k * N + j];
}

void tt_lowp_bf16_pack(const float *B, int64_t K, int64_t N, bool trans, uint16_t *out)
{
    int64_t kp = tt_lowp_kp(K, false);
    for (int64_t p = 0; p < tt_lowp_panels(N); p++)
        for (int64_t k = 0; k < kp; k += 2, out += 2 * TT_LOWP_NR)
            for (int c = 0; c < TT_LOWP_NR; c++) {
                int64_t j = p * TT_LOWP_NR + c;
                out[2 * c] = j < N ? bf16_of(b_at(B, K, N, trans, k, j)) : 0;
                out[2 * c + 1] = j < N && k + 1 < K ? bf16_of(b_at(B, K, N, trans, k + 1, j)) : 0;
            }
}

void tt_lowp_bf16_rows(const float *A, int64_t lda, int64_t rows, int64_t K, uint16_t *out)
{
    int64_t kp = tt_lowp_kp(K, false);
    for (int64_t i = 0; i < rows; i++) {
        const float *a = A + i * lda;
        uint16_t *o = out + i * kp;
        int64_t k = 0;
        for (; k + 16 <= K; k += 16)
            _mm256_storeu_si256((__m256i *)(o + k), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(a + k)));
        for (; k < K; k++)
            o[k] = bf16_of(a[k]);
        if (kp > K)
            o[K] = 0;
    }
}

/* One 16-column store of row i, columns j.. (fewer at the right edge), f the raw product. */
static inline __attribute__((always_inline)) void store16(const tt_lowp_out *o, int64_t i, int64_t j, __m512 f)
{
    __mmask16 mk = j + 16 <= o->N ? (__mmask16)0xffff : (__mmask16)((1u << (o->N - j)) - 1);
    if (o->bias)
        f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mk, o->bias + j));
    if (o->res)
        f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mk, o->res + i * o->ldr + j));
    _mm512_mask_storeu_ps(o->C + i * o->ldc + j, mk, f);
}

static inline __attribute__((always_inline)) void bf16_tile(int mr, int np, int64_t i, int64_t p, int64_t kp,
                                                             const uint16_t *A, const uint16_t *B,
                                                             const tt_lowp_out *o)
{
    __m512 acc[MR][NP];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
            acc[r][q] = _mm512_setzero_ps();
    const uint16_t *a = A + i * kp, *b = B + p * kp * TT_LOWP_NR;
    for (int64_t k = 0; k < kp; k += 2) {
        __m512i av[MR];
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int32_t v;
            memcpy(&v, a + r * kp + k, 4);
            av[r] = _mm512_set1_epi32(v);
        }
#pragma GCC unroll 4
        for (int q = 0; q < np; q++) {
            __m512i bv = _mm512_loadu_si512(b + q * kp * TT_LOWP_NR + k * TT_LOWP_NR);
#pragma GCC unroll 4
            for (int r = 0; r < mr; r++)
                acc[r][q] = _mm512_dpbf16_ps(acc[r][q], (__m512bh)av[r], (__m512bh)bv);
        }
    }
    __m512 alpha = _mm512_set1_ps(o->alpha);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
            if ((p + q) * TT_LOWP_NR < o->N)
                store16(o, i + r, (p + q) * TT_LOWP_NR, _mm512_mul_ps(acc[r][q], alpha));
}

void tt_lowp_bf16_gemm(int64_t i0, int64_t m, int64_t p0, int64_t np, int64_t K, const uint16_t *A,
                       const uint16_t *B, const tt_lowp_out *o)
{
    int64_t kp = tt_lowp_kp(K, false);
    int64_t p = p0;
    for (; p + NP <= p0 + np; p += NP) {
        int64_t i = i0;
        for (; i + MR <= i0 + m; i += MR)
            bf16_tile(MR, NP, i, p, kp, A, B, o);
        for (; i < i0 + m; i++)
            bf16_tile(1, NP, i, p, kp, A, B, o);
    }
    for (; p < p0 + np; p++) {
        int64_t i = i0;
        for (; i + MR <= i0 + m; i += MR)
            bf16_tile(MR, 1, i, p, kp, A, B, o);
        for (; i < i0 + m; i++)
            bf16_tile(1, 1, i, p, kp, A, B, o);
    }
}

/* ---- int8 ------------------------------------------------------------------------------- */

void tt_lowp_s8_pack(const float *B, int64_t K, int64_t N, bool trans, int8_t *out, float *scale, int32_t *colsum)
{
    for (int64_t j = 0; j < N; j++) {
        float mx = 0;
        for (int64_t k = 0; k < K; k++)
            mx = fmaxf(mx, fabsf(b_at(B, K, N, trans, k, j)));
        scale[j] = mx > 0 && isfinite(mx) ? mx / 127.0f : 1.0f;
        colsum[j] = 0;
    }
    int64_t kp = tt_lowp_kp(K, true);
    for (int64_t p = 0; p < tt_lowp_panels(N); p++)
        for (int64_t k = 0; k < kp; k += 4, out += 4 * TT_LOWP_NR)
            for (int c = 0; c < TT_LOWP_NR; c++)
                for (int t = 0; t < 4; t++) {
                    int64_t j = p * TT_LOWP_NR + c;
                    int8_t q = 0;
                    if (j < N && k + t < K) {
                        float v = fminf(fmaxf(b_at(B, K, N, trans, k + t, j) / scale[j], -127.0f), 127.0f);
                        q = (int8_t)nearbyintf(v);
                        colsum[j] += q;
                    }
                    out[4 * c + t] = q;
                }
}

void tt_lowp_u8_rows(const float *A, int64_t lda, int64_t rows, int64_t K, uint8_t *out, float *scale, int32_t *zp)
{
    int64_t kp = tt_lowp_kp(K, true);
    for (int64_t i = 0; i < rows; i++) {
        const float *a = A + i * lda;
        uint8_t *o = out + i * kp;
        __m512 vmn = _mm512_setzero_ps(), vmx = _mm512_setzero_ps();
        int64_t k = 0;
        for (; k + 16 <= K; k += 16) {
            __m512 v = _mm512_loadu_ps(a + k);
            vmn = _mm512_min_ps(vmn, v);
            vmx = _mm512_max_ps(vmx, v);
        }
        float mn = _mm512_reduce_min_ps(vmn), mx = _mm512_reduce_max_ps(vmx);
        for (; k < K; k++)
            mn = fminf(mn, a[k]), mx = fmaxf(mx, a[k]);
        float s = (mx - mn) / 255.0f;
        if (!(s > 0) || !isfinite(s))
            s = 1.0f;
        float z = fminf(fmaxf(nearbyintf(-mn / s), 0.0f), 255.0f);
        scale[i] = s;
        zp[i] = (int32_t)z;
        __m512 inv = _mm512_set1_ps(1.0f / s), vz = _mm512_set1_ps(z), lo = _mm512_setzero_ps(),
               hi = _mm512_set1_ps(255.0f);
        for (k = 0; k + 16 <= K; k += 16) {
            __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), inv, vz);
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi); /* max first: NaN becomes 0 */
            _mm_storeu_si128((__m128i *)(o + k), _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(v)));
        }
        for (; k < K; k++)
            o[k] = (uint8_t)nearbyintf(fminf(fmaxf(a[k] / s + z, 0.0f), 255.0f));
        for (; k < kp; k++)
            o[k] = 0;
    }
}

static inline __attribute__((always_inline)) void s8_tile(int mr, int np, int64_t i, int64_t p, int64_t kp,
                                                           const uint8_t *A, const int8_t *B, const tt_lowp_out *o)
{
    __m512i acc[MR][NP];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < np; q++)
            acc[r][q] = _mm512_setzero_si512();
    const uint8_t *a = A + i * kp;
    const int8_t *b = B + p * kp * TT_LOWP_NR;
    for (int64_t k = 0; k < kp; k += 4) {
        __m512i av[MR];
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int32_t v;
            memcpy(&v, a + r * kp + k, 4);
            av[r] = _mm512_set1_epi32(v);
        }
#pragma GCC unroll 4
        for (int q = 0; q < np; q++) {
            __m512i bv = _mm512_loadu_si512(b + q * kp * TT_LOWP_NR + k * TT_LOWP_NR);
#pragma GCC unroll 4
            for (int r = 0; r < mr; r++)
                acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], av[r], bv);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        __m512i z = _mm512_set1_epi32(o->za[i + r]);
        __m512 sa = _mm512_set1_ps(o->sa[i + r] * o->alpha);
#pragma GCC unroll 4
        for (int q = 0; q < np; q++) {
            int64_t j = (p + q) * TT_LOWP_NR;
            if (j >= o->N)
                continue;
            __mmask16 mk = j + 16 <= o->N ? (__mmask16)0xffff : (__mmask16)((1u << (o->N - j)) - 1);
            /* sum (a - z) w = sum a w - z sum w, exact in s32 (K is bounded) */
            __m512i t = _mm512_sub_epi32(acc[r][q], _mm512_mullo_epi32(z, _mm512_maskz_loadu_epi32(mk, o->colsum + j)));
            __m512 f = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(t), sa), _mm512_maskz_loadu_ps(mk, o->sw + j));
            store16(o, i + r, j, f);
        }
    }
}

void tt_lowp_s8_gemm(int64_t i0, int64_t m, int64_t p0, int64_t np, int64_t K, const uint8_t *A, const int8_t *B,
                     const tt_lowp_out *o)
{
    int64_t kp = tt_lowp_kp(K, true);
    int64_t p = p0;
    for (; p + NP <= p0 + np; p += NP) {
        int64_t i = i0;
        for (; i + MR <= i0 + m; i += MR)
            s8_tile(MR, NP, i, p, kp, A, B, o);
        for (; i < i0 + m; i++)
            s8_tile(1, NP, i, p, kp, A, B, o);
    }
    for (; p < p0 + np; p++) {
        int64_t i = i0;
        for (; i + MR <= i0 + m; i += MR)
            s8_tile(MR, 1, i, p, kp, A, B, o);
        for (; i < i0 + m; i++)
            s8_tile(1, 1, i, p, kp, A, B, o);
    }
}

#else
/* Built without the extensions (another architecture): tt_cpu_has_bf16 / _vnni say no, so
 * these are never called. */
void tt_lowp_bf16_pack(const float *B, int64_t K, int64_t N, bool trans, uint16_t *out)
{
    (void)B, (void)K, (void)N, (void)trans, (void)out;
}
void tt_lowp_bf16_rows(const float *A, int64_t lda, int64_t rows, int64_t K, uint16_t *out)
{
    (void)A, (void)lda, (void)rows, (void)K, (void)out;
}
void tt_lowp_bf16_gemm(int64_t i0, int64_t m, int64_t p0, int64_t np, int64_t K, const uint16_t *A,
                       const uint16_t *B, const tt_lowp_out *o)
{
    (void)i0, (void)m, (void)p0, (void)np, (void)K, (void)A, (void)B, (void)o;
}
void tt_lowp_s8_pack(const float *B, int64_t K, int64_t N, bool trans, int8_t *out, float *scale, int32_t *colsum)
{
    (void)B, (void)K, (void)N, (void)trans, (void)out, (void)scale, (void)colsum;
}
void tt_lowp_u8_rows(const float *A, int64_t lda, int64_t rows, int64_t K, uint8_t *out, float *scale, int32_t *zp)
{
    (void)A, (void)lda, (void)rows, (void)K, (void)out, (void)scale, (void)zp;
}
void tt_lowp_s8_gemm(int64_t i0, int64_t m, int64_t p0, int64_t np, int64_t K, const uint8_t *A, const int8_t *B,
                     const tt_lowp_out *o)
{
    (void)i0, (void)m, (void)p0, (void)np, (void)K, (void)A, (void)B, (void)o;
}
#endif
