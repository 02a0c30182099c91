/* One small vector vocabulary over three instruction sets, so the cpu backend's kernels
 * (kern.inc) are written once: each isa_*.c file defines TT_SIMD_AVX512, TT_SIMD_AVX2 or
 * nothing (scalar), is compiled for that ISA, and includes this header and kern.inc. `vf`
 * holds VL floats; `vm` is a lane mask. Lane-wise results are the same on every ISA for
 * the element-wise operations (add, mul, fma, ...); reductions sum in VL-wide partials. */
#ifndef TT_CPU_SIMD_H
#define TT_CPU_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define TT_INLINE static inline __attribute__((always_inline))

#if defined(TT_SIMD_AVX512)
#include <immintrin.h>

#define VL 16
typedef __m512 vf;
typedef __mmask16 vm;

TT_INLINE vm v_first(int n) { return (vm)(n >= 16 ? 0xffffu : (1u << n) - 1u); }
TT_INLINE vf v_load(const float *p) { return _mm512_loadu_ps(p); }
TT_INLINE vf v_loadn(const float *p, int n) { return _mm512_maskz_loadu_ps(v_first(n), p); }
TT_INLINE void v_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
TT_INLINE void v_storen(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, v_first(n), v); }
/* v with lanes n.. set to 0 */
TT_INLINE vf v_keep(vf v, int n) { return _mm512_maskz_mov_ps(v_first(n), v); }
TT_INLINE vf v_set1(float x) { return _mm512_set1_ps(x); }
TT_INLINE vf v_zero(void) { return _mm512_setzero_ps(); }
TT_INLINE vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
TT_INLINE vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
TT_INLINE vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
TT_INLINE vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
/* Like maxps/minps: the second operand when either is NaN. */
TT_INLINE vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
TT_INLINE vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); }
TT_INLINE vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }   /* a*b + c */
TT_INLINE vf v_fnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); } /* c - a*b */
TT_INLINE vf v_sqrt(vf a) { return _mm512_sqrt_ps(a); }
TT_INLINE vf v_abs(vf a) { return _mm512_abs_ps(a); }
TT_INLINE vf v_xor(vf a, vf b) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
TT_INLINE vf v_and(vf a, vf b) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
TT_INLINE vf v_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
TT_INLINE vm v_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
TT_INLINE vm v_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
/* a where m, else b */
TT_INLINE vf v_sel(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
/* p * 2^n for integral n in [-252, 254] (n held as a float). */
TT_INLINE vf v_ldexp(vf p, vf n) { return _mm512_scalef_ps(p, n); }
TT_INLINE float v_hsum(vf v) { return _mm512_reduce_add_ps(v); }
TT_INLINE void v_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }
TT_INLINE float v_hmax(vf v) { return _mm512_reduce_max_ps(v); }

#elif defined(TT_SIMD_AVX2)
#include <immintrin.h>

#define VL 8
typedef __m256 vf;
typedef __m256 vm;

TT_INLINE __m256i v_first_i(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
TT_INLINE vf v_load(const float *p) { return _mm256_loadu_ps(p); }
TT_INLINE vf v_loadn(const float *p, int n) { return _mm256_maskload_ps(p, v_first_i(n)); }
TT_INLINE void v_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
TT_INLINE void v_storen(float *p, vf v, int n) { _mm256_maskstore_ps(p, v_first_i(n), v); }
TT_INLINE vf v_keep(vf v, int n) { return _mm256_and_ps(v, _mm256_castsi256_ps(v_first_i(n))); }
TT_INLINE vf v_set1(float x) { return _mm256_set1_ps(x); }
TT_INLINE vf v_zero(void) { return _mm256_setzero_ps(); }
TT_INLINE vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
TT_INLINE vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
TT_INLINE vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
TT_INLINE vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
TT_INLINE vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
TT_INLINE vf v_min(vf a, vf b) { return _mm256_min_ps(a, b); }
TT_INLINE vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
TT_INLINE vf v_fnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
TT_INLINE vf v_sqrt(vf a) { return _mm256_sqrt_ps(a); }
TT_INLINE vf v_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
TT_INLINE vf v_xor(vf a, vf b) { return _mm256_xor_ps(a, b); }
TT_INLINE vf v_and(vf a, vf b) { return _mm256_and_ps(a, b); }
TT_INLINE vf v_round(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
TT_INLINE vm v_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
TT_INLINE vm v_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
TT_INLINE vf v_sel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
/* 2^k for integral k in [-126, 127] (as a float), built in the exponent field. */
TT_INLINE vf v_pow2i(vf k)
{
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
/* p * 2^n for integral n in [-252, 254], in two steps so each power is a normal float. */
TT_INLINE vf v_ldexp(vf p, vf n)
{
    vf h = v_round(v_mul(n, v_set1(0.5f)));
    h = v_sel(v_gt(v_add(h, h), n), v_sub(h, v_set1(1.0f)), h); /* h = floor(n / 2) */
    return v_mul(v_mul(p, v_pow2i(h)), v_pow2i(v_sub(n, h)));
}
TT_INLINE void v_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }
TT_INLINE float v_hsum(vf v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
TT_INLINE float v_hmax(vf v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#else /* portable scalar: one lane */

#define VL 1
typedef float vf;
typedef int vm;

TT_INLINE vf v_load(const float *p) { return *p; }
TT_INLINE vf v_loadn(const float *p, int n) { return n > 0 ? *p : 0.0f; }
TT_INLINE void v_store(float *p, vf v) { *p = v; }
TT_INLINE void v_storen(float *p, vf v, int n)
{
    if (n > 0)
        *p = v;
}
TT_INLINE vf v_keep(vf v, int n) { return n > 0 ? v : 0.0f; }
TT_INLINE vf v_set1(float x) { return x; }
TT_INLINE vf v_zero(void) { return 0.0f; }
TT_INLINE vf v_add(vf a, vf b) { return a + b; }
TT_INLINE vf v_sub(vf a, vf b) { return a - b; }
TT_INLINE vf v_mul(vf a, vf b) { return a * b; }
TT_INLINE vf v_div(vf a, vf b) { return a / b; }
TT_INLINE vf v_max(vf a, vf b) { return a > b ? a : b; }
TT_INLINE vf v_min(vf a, vf b) { return a < b ? a : b; }
/* without an FMA unit: a multiply and an add (each rounded) */
TT_INLINE vf v_fma(vf a, vf b, vf c) { return a * b + c; }
TT_INLINE vf v_fnma(vf a, vf b, vf c) { return c - a * b; }
TT_INLINE vf v_sqrt(vf a) { return sqrtf(a); }
TT_INLINE vf v_abs(vf a) { return fabsf(a); }
TT_INLINE vf v_xor(vf a, vf b)
{
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    x ^= y;
    memcpy(&a, &x, 4);
    return a;
}
TT_INLINE vf v_and(vf a, vf b)
{
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    x &= y;
    memcpy(&a, &x, 4);
    return a;
}
TT_INLINE vf v_round(vf a) { return nearbyintf(a); }
TT_INLINE vm v_lt(vf a, vf b) { return a < b; }
TT_INLINE vm v_gt(vf a, vf b) { return a > b; }
TT_INLINE vf v_sel(vm m, vf a, vf b) { return m ? a : b; }
TT_INLINE vf v_ldexp(vf p, vf n) { return ldexpf(p, (int)n); }
TT_INLINE float v_hsum(vf v) { return v; }
TT_INLINE void v_prefetch(const void *p) { (void)p; }
TT_INLINE float v_hmax(vf v) { return v; }

#endif

#endif
