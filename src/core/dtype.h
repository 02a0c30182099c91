/* Element types: sizes, names, and half-precision conversions. */
#ifndef TT_DTYPE_H
#define TT_DTYPE_H

#include "tether.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef tether_dtype tt_dtype;

#define TT_DTYPE_COUNT 27
#define TT_DT(x) (1u << (x))
#define TT_DTS_FLOAT (TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_FLOAT16) | TT_DT(TETHER_DTYPE_BFLOAT16))
#define TT_DTS_SINT (TT_DT(TETHER_DTYPE_INT8) | TT_DT(TETHER_DTYPE_INT16) | TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64))
#define TT_DTS_UINT (TT_DT(TETHER_DTYPE_UINT8) | TT_DT(TETHER_DTYPE_UINT16) | TT_DT(TETHER_DTYPE_UINT32) | TT_DT(TETHER_DTYPE_UINT64))
#define TT_DTS_INT (TT_DTS_SINT | TT_DTS_UINT)
#define TT_DTS_NUMERIC (TT_DTS_FLOAT | TT_DTS_INT)
#define TT_DTS_ALL (TT_DTS_NUMERIC | TT_DT(TETHER_DTYPE_BOOL) | TT_DT(TETHER_DTYPE_STRING))
/* The small types (tether.h): 8-, 4- and 2-bit floats and integers, one byte per element in
 * memory. Few ops compute on them (Cast, QuantizeLinear, DequantizeLinear); data movement
 * ops take TT_DTS_ANY. */
#define TT_DTS_FLOAT8                                                                                         \
    (TT_DT(TETHER_DTYPE_FLOAT8E4M3FN) | TT_DT(TETHER_DTYPE_FLOAT8E4M3FNUZ) | TT_DT(TETHER_DTYPE_FLOAT8E5M2) | \
     TT_DT(TETHER_DTYPE_FLOAT8E5M2FNUZ))
#define TT_DTS_MINIFLOAT (TT_DTS_FLOAT8 | TT_DT(TETHER_DTYPE_FLOAT8E8M0) | TT_DT(TETHER_DTYPE_FLOAT4E2M1))
#define TT_DTS_MINIINT                                                                                        \
    (TT_DT(TETHER_DTYPE_INT4) | TT_DT(TETHER_DTYPE_UINT4) | TT_DT(TETHER_DTYPE_INT2) | TT_DT(TETHER_DTYPE_UINT2))
#define TT_DTS_SMALL (TT_DTS_MINIFLOAT | TT_DTS_MINIINT)
#define TT_DTS_ANY (TT_DTS_ALL | TT_DTS_SMALL)

size_t tt_dtype_size(tt_dtype t);         /* 0 for undefined / unknown */
const char *tt_dtype_name(tt_dtype t);    /* "float32", "int64", ... */
bool tt_dtype_valid(int t);               /* a type tether can hold in a tensor */
static inline bool tt_dtype_is_float(tt_dtype t) { return (TT_DTS_FLOAT >> t) & 1; }
static inline bool tt_dtype_is_int(tt_dtype t) { return (TT_DTS_INT >> t) & 1; }
static inline bool tt_dtype_is_signed(tt_dtype t) { return ((TT_DTS_SINT | TT_DTS_FLOAT) >> t) & 1; }
static inline bool tt_dtype_is_small(tt_dtype t) { return (int)t < 32 && ((TT_DTS_SMALL >> t) & 1); }
/* Bits per element as a model stores it: 4 or 2 for the packed types, else 8 * size. */
int tt_dtype_bits(tt_dtype t);
/* Bytes n elements take packed (raw_data of a TensorProto): ceil(n * bits / 8). */
uint64_t tt_dtype_packed_bytes(tt_dtype t, uint64_t n);
/* Unpacks n elements of a packed 4- or 2-bit type (first element in the low bits of each
 * byte) into one byte each, and packs them back. */
void tt_unpack_bits(const uint8_t *src, tt_dtype t, uint8_t *dst, size_t n);
void tt_pack_bits(const uint8_t *src, tt_dtype t, uint8_t *dst, size_t n);

typedef uint16_t tt_f16;
typedef uint16_t tt_bf16;

static inline float tt_f16_to_f32(tt_f16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even, as IEEE 754 and numpy do. */
static inline tt_f16 tt_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (tt_f16)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (tt_f16)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (ax < 0x33000000u)
            return (tt_f16)sign;
        uint32_t e = ax >> 23, man = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (tt_f16)(sign | half);
    }
    uint32_t h = ((ax - 0x38000000u) >> 13);
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++;
    return (tt_f16)(sign | h);
}

static inline float tt_bf16_to_f32(tt_bf16 h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline tt_bf16 tt_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (tt_bf16)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (tt_bf16)(x >> 16);
}

/* ---- the small types ---------------------------------------------------------------- */

/* How a value out of a small float type's range converts (Cast's saturate and round_mode). */
typedef enum tt_round {
    TT_ROUND_NEAREST_EVEN = 0, /* every type but float8e8m0; for e8m0, ONNX's "nearest" */
    TT_ROUND_UP,               /* float8e8m0 only: away from zero (ONNX's default) */
    TT_ROUND_DOWN,             /* float8e8m0 only: toward zero */
} tt_round;

/* The value of small-type element code (a byte as tether.h lays it out). */
double tt_small_to_f64(uint8_t code, tt_dtype t);
/* The small-type element nearest to v. saturate: values past the type's range (infinities
 * included) become its largest finite value, as Cast's default; otherwise NaN, or infinity
 * where the type has one. Float types round to nearest even (e8m0 by `round`); integer types
 * truncate toward zero, and a value out of their range gives 0, as ml_dtypes (whose numbers
 * the ONNX suite holds) converts. float4e2m1 always saturates. */
uint8_t tt_small_from_f64(double v, tt_dtype t, bool saturate, tt_round round);
/* An integer into int4/uint4/int2/uint2: keeps the low bits (two's complement wrap). */
static inline uint8_t tt_small_from_i64(int64_t v, tt_dtype t)
{
    return (uint8_t)((uint64_t)v & ((t == TETHER_DTYPE_INT2 || t == TETHER_DTYPE_UINT2) ? 3u : 15u));
}

/* Read element i of a buffer of type t as double / write it from double. Slow, generic:
 * for reference paths and tests, not inner loops of hot kernels. Strings not allowed. */
double tt_load_f64(const void *data, tt_dtype t, size_t i);
void tt_store_f64(void *data, tt_dtype t, size_t i, double v);
int64_t tt_load_i64(const void *data, tt_dtype t, size_t i);
void tt_store_i64(void *data, tt_dtype t, size_t i, int64_t v);

#endif
