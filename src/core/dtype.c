/* Element type table and generic element access. */
#include "core/dtype.h"

#include <math.h>

static const struct {
    const char *name;
    size_t size;
} g_dtypes[TT_DTYPE_COUNT] = {
    [TETHER_DTYPE_UNDEFINED] = {"undefined", 0}, [TETHER_DTYPE_FLOAT] = {"float32", 4},
    [TETHER_DTYPE_UINT8] = {"uint8", 1},         [TETHER_DTYPE_INT8] = {"int8", 1},
    [TETHER_DTYPE_UINT16] = {"uint16", 2},       [TETHER_DTYPE_INT16] = {"int16", 2},
    [TETHER_DTYPE_INT32] = {"int32", 4},         [TETHER_DTYPE_INT64] = {"int64", 8},
    [TETHER_DTYPE_STRING] = {"string", sizeof(char *)}, [TETHER_DTYPE_BOOL] = {"bool", 1},
    [TETHER_DTYPE_FLOAT16] = {"float16", 2},     [TETHER_DTYPE_DOUBLE] = {"float64", 8},
    [TETHER_DTYPE_UINT32] = {"uint32", 4},       [TETHER_DTYPE_UINT64] = {"uint64", 8},
    [TETHER_DTYPE_COMPLEX64] = {"complex64", 8}, [TETHER_DTYPE_COMPLEX128] = {"complex128", 16},
    [TETHER_DTYPE_BFLOAT16] = {"bfloat16", 2},
    [TETHER_DTYPE_FLOAT8E4M3FN] = {"float8e4m3fn", 1}, [TETHER_DTYPE_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", 1},
    [TETHER_DTYPE_FLOAT8E5M2] = {"float8e5m2", 1},     [TETHER_DTYPE_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", 1},
    [TETHER_DTYPE_UINT4] = {"uint4", 1},               [TETHER_DTYPE_INT4] = {"int4", 1},
    [TETHER_DTYPE_FLOAT4E2M1] = {"float4e2m1", 1},     [TETHER_DTYPE_FLOAT8E8M0] = {"float8e8m0", 1},
    [TETHER_DTYPE_UINT2] = {"uint2", 1},               [TETHER_DTYPE_INT2] = {"int2", 1},
};

bool tt_dtype_valid(int t) { return t > 0 && t < TT_DTYPE_COUNT; }

size_t tt_dtype_size(tt_dtype t) { return tt_dtype_valid((int)t) ? g_dtypes[t].size : 0; }

const char *tt_dtype_name(tt_dtype t) { return (int)t >= 0 && (int)t < TT_DTYPE_COUNT ? g_dtypes[t].name : "invalid"; }

size_t tether_dtype_size(tether_dtype t) { return tt_dtype_size(t); }
const char *tether_dtype_name(tether_dtype t) { return tt_dtype_name(t); }

/* ---- the small types ---------------------------------------------------------------------- */

int tt_dtype_bits(tt_dtype t)
{
    switch (t) {
    case TETHER_DTYPE_UINT4:
    case TETHER_DTYPE_INT4:
    case TETHER_DTYPE_FLOAT4E2M1: return 4;
    case TETHER_DTYPE_UINT2:
    case TETHER_DTYPE_INT2: return 2;
    default: return (int)(8 * tt_dtype_size(t));
    }
}

uint64_t tt_dtype_packed_bytes(tt_dtype t, uint64_t n)
{
    int bits = tt_dtype_bits(t);
    if (bits >= 8)
        return n * (uint64_t)(bits / 8);
    uint64_t per = (uint64_t)(8 / bits);
    return n / per + (n % per != 0);
}

void tt_unpack_bits(const uint8_t *src, tt_dtype t, uint8_t *dst, size_t n)
{
    unsigned bits = (unsigned)tt_dtype_bits(t), per = 8 / bits, mask = (1u << bits) - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint8_t)((src[i / per] >> (bits * (i % per))) & mask);
}

void tt_pack_bits(const uint8_t *src, tt_dtype t, uint8_t *dst, size_t n)
{
    unsigned bits = (unsigned)tt_dtype_bits(t), per = 8 / bits, mask = (1u << bits) - 1;
    memset(dst, 0, (size_t)tt_dtype_packed_bytes(t, n));
    for (size_t i = 0; i < n; i++)
        dst[i / per] |= (uint8_t)((src[i] & mask) << (bits * (i % per)));
}

/* A small float format: exponent and mantissa widths, exponent bias, largest finite value,
 * and how it spells NaN and infinity. */
typedef enum { NAN_ALL_ONES, NAN_NEG_ZERO, NAN_IEEE, NAN_NONE } nan_style;
typedef struct {
    int ebits, mbits, bias;
    double max;
    uint8_t maxcode; /* the code of max */
    nan_style nan;
} minifloat;

static const minifloat *minifloat_of(tt_dtype t)
{
    static const minifloat e4m3fn = {4, 3, 7, 448.0, 0x7e, NAN_ALL_ONES},
                           e4m3fnuz = {4, 3, 8, 240.0, 0x7f, NAN_NEG_ZERO},
                           e5m2 = {5, 2, 15, 57344.0, 0x7b, NAN_IEEE},
                           e5m2fnuz = {5, 2, 16, 57344.0, 0x7f, NAN_NEG_ZERO}, e2m1 = {2, 1, 1, 6.0, 0x7, NAN_NONE};
    switch (t) {
    case TETHER_DTYPE_FLOAT8E4M3FN: return &e4m3fn;
    case TETHER_DTYPE_FLOAT8E4M3FNUZ: return &e4m3fnuz;
    case TETHER_DTYPE_FLOAT8E5M2: return &e5m2;
    case TETHER_DTYPE_FLOAT8E5M2FNUZ: return &e5m2fnuz;
    case TETHER_DTYPE_FLOAT4E2M1: return &e2m1;
    default: return NULL;
    }
}

double tt_small_to_f64(uint8_t code, tt_dtype t)
{
    switch (t) {
    case TETHER_DTYPE_INT4: return (double)((int8_t)(uint8_t)(code << 4) >> 4);
    case TETHER_DTYPE_UINT4: return code & 15;
    case TETHER_DTYPE_INT2: return (double)((int8_t)(uint8_t)(code << 6) >> 6);
    case TETHER_DTYPE_UINT2: return code & 3;
    case TETHER_DTYPE_FLOAT8E8M0: return code == 255 ? NAN : ldexp(1.0, (int)code - 127);
    default: break;
    }
    const minifloat *f = minifloat_of(t);
    if (!f)
        return NAN;
    int width = 1 + f->ebits + f->mbits;
    code &= (uint8_t)((1u << width) - 1);
    unsigned sign = code >> (width - 1), e = (code >> f->mbits) & ((1u << f->ebits) - 1),
             m = code & ((1u << f->mbits) - 1), emax = (1u << f->ebits) - 1;
    if (f->nan == NAN_NEG_ZERO && code == 1u << (width - 1))
        return NAN;
    if (f->nan == NAN_ALL_ONES && e == emax && m == (1u << f->mbits) - 1)
        return NAN;
    if (f->nan == NAN_IEEE && e == emax)
        return m ? NAN : (sign ? -INFINITY : INFINITY);
    double v = e == 0 ? ldexp((double)m, 1 - f->bias - f->mbits)
                      : ldexp((double)(m | (1u << f->mbits)), (int)e - f->bias - f->mbits);
    return sign ? -v : v;
}

/* Rounds x >= 0 to the nearest integer, ties to even. */
static double round_even(double x)
{
    double r = floor(x), d = x - r;
    if (d > 0.5 || (d == 0.5 && fmod(r, 2.0) != 0))
        r += 1;
    return r;
}

/* float8e8m0 from the float32 nearest v, bit by bit as ONNX's reference (numpy_helper.
 * to_float8e8m0) does it: the sign is ignored, zero is the smallest exponent. */
static uint8_t e8m0_from(double v, bool saturate, tt_round round)
{
    float f = (float)v;
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint32_t e = (bits >> 23) & 0xff;
    if (e == 0xff)
        return 0xff;
    bool up = false;
    if (round == TT_ROUND_NEAREST_EVEN) {
        bool g = bits & 0x400000, r = bits & 0x200000, st = bits & 0x1fffff, lsb = e > 0;
        up = g && (r || st || lsb);
    } else if (round == TT_ROUND_UP) {
        up = (bits & 0x7fffff) != 0;
    }
    if (up && !(saturate && e == 0xfe))
        e++;
    return (uint8_t)e;
}

uint8_t tt_small_from_f64(double v, tt_dtype t, bool saturate, tt_round round)
{
    double lo = 0, hi = 0;
    switch (t) {
    case TETHER_DTYPE_INT4: lo = -8, hi = 7; break;
    case TETHER_DTYPE_UINT4: lo = 0, hi = 15; break;
    case TETHER_DTYPE_INT2: lo = -2, hi = 1; break;
    case TETHER_DTYPE_UINT2: lo = 0, hi = 3; break;
    case TETHER_DTYPE_FLOAT8E8M0: return e8m0_from(v, saturate, round);
    default: break;
    }
    if (hi != 0) {
        if (v != v)
            return 0;
        double r = trunc(v);
        return r < lo || r > hi ? 0 : tt_small_from_i64((int64_t)r, t);
    }
    const minifloat *f = minifloat_of(t);
    if (!f)
        return 0;
    int width = 1 + f->ebits + f->mbits;
    uint8_t sign = signbit(v) ? (uint8_t)(1u << (width - 1)) : 0;
    uint8_t all = (uint8_t)((1u << (width - 1)) - 1); /* every bit but the sign */
    if (v != v) {
        switch (f->nan) {
        case NAN_ALL_ONES: return sign | all;
        case NAN_NEG_ZERO: return 0x80;
        case NAN_IEEE: return sign | (uint8_t)(all - 1); /* exponent all ones, mantissa 10... */
        default: return sign ? 0 : 0x8; /* no NaN in float4e2m1: ml_dtypes gives this */
        }
    }
    double a = fabs(v);
    int emin = 1 - f->bias, e;
    double val = a;
    if (a <= f->max * 2) {
        frexp(a, &e);
        int E = e - 1 < emin ? emin : e - 1;
        double q = ldexp(1.0, E - f->mbits);
        val = round_even(a / q) * q;
    }
    if (val > f->max) {
        if (saturate || f->nan == NAN_NONE)
            return sign | f->maxcode;
        if (f->nan == NAN_IEEE)
            return sign | (uint8_t)(((1u << f->ebits) - 1) << f->mbits);
        return f->nan == NAN_NEG_ZERO ? 0x80 : (sign | all);
    }
    if (val == 0)
        return f->nan == NAN_NEG_ZERO ? 0 : sign;
    unsigned ef, m;
    if (val < ldexp(1.0, emin)) {
        ef = 0;
        m = (unsigned)(val / ldexp(1.0, emin - f->mbits));
    } else {
        frexp(val, &e);
        ef = (unsigned)(e - 1 + f->bias);
        m = (unsigned)(val / ldexp(1.0, e - 1 - f->mbits)) - (1u << f->mbits);
    }
    return sign | (uint8_t)(ef << f->mbits) | (uint8_t)m;
}

double tt_load_f64(const void *p, tt_dtype t, size_t i)
{
    switch (t) {
    case TETHER_DTYPE_FLOAT: return ((const float *)p)[i];
    case TETHER_DTYPE_DOUBLE: return ((const double *)p)[i];
    case TETHER_DTYPE_FLOAT16: return tt_f16_to_f32(((const uint16_t *)p)[i]);
    case TETHER_DTYPE_BFLOAT16: return tt_bf16_to_f32(((const uint16_t *)p)[i]);
    case TETHER_DTYPE_INT8: return ((const int8_t *)p)[i];
    case TETHER_DTYPE_INT16: return ((const int16_t *)p)[i];
    case TETHER_DTYPE_INT32: return ((const int32_t *)p)[i];
    case TETHER_DTYPE_INT64: return (double)((const int64_t *)p)[i];
    case TETHER_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case TETHER_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case TETHER_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case TETHER_DTYPE_UINT64: return (double)((const uint64_t *)p)[i];
    case TETHER_DTYPE_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return tt_dtype_is_small(t) ? tt_small_to_f64(((const uint8_t *)p)[i], t) : NAN;
    }
}

/* double → int64 without undefined behaviour: NaN is 0, values past the range saturate.
 * Narrower integer types then wrap, as numpy's casts do. */
static int64_t f64_to_i64(double v)
{
    if (v != v)
        return 0;
    if (v >= 9223372036854775808.0)
        return INT64_MAX;
    if (v < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static uint64_t f64_to_u64(double v)
{
    if (v >= 18446744073709551616.0)
        return UINT64_MAX;
    if (v >= 9223372036854775808.0)
        return (uint64_t)v;
    return (uint64_t)f64_to_i64(v);
}

void tt_store_f64(void *p, tt_dtype t, size_t i, double v)
{
    switch (t) {
    case TETHER_DTYPE_FLOAT: ((float *)p)[i] = (float)v; break;
    case TETHER_DTYPE_DOUBLE: ((double *)p)[i] = v; break;
    case TETHER_DTYPE_FLOAT16: ((uint16_t *)p)[i] = tt_f32_to_f16((float)v); break;
    case TETHER_DTYPE_BFLOAT16: ((uint16_t *)p)[i] = tt_f32_to_bf16((float)v); break;
    case TETHER_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)f64_to_i64(v); break;
    case TETHER_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)f64_to_i64(v); break;
    case TETHER_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)f64_to_i64(v); break;
    case TETHER_DTYPE_INT64: ((int64_t *)p)[i] = f64_to_i64(v); break;
    case TETHER_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)f64_to_i64(v); break;
    case TETHER_DTYPE_UINT16: ((uint16_t *)p)[i] = (uint16_t)f64_to_i64(v); break;
    case TETHER_DTYPE_UINT32: ((uint32_t *)p)[i] = (uint32_t)f64_to_i64(v); break;
    case TETHER_DTYPE_UINT64: ((uint64_t *)p)[i] = f64_to_u64(v); break;
    case TETHER_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default:
        if (tt_dtype_is_small(t))
            ((uint8_t *)p)[i] = tt_small_from_f64(v, t, true, TT_ROUND_UP);
        break;
    }
}

int64_t tt_load_i64(const void *p, tt_dtype t, size_t i)
{
    switch (t) {
    case TETHER_DTYPE_INT8: return ((const int8_t *)p)[i];
    case TETHER_DTYPE_INT16: return ((const int16_t *)p)[i];
    case TETHER_DTYPE_INT32: return ((const int32_t *)p)[i];
    case TETHER_DTYPE_INT64: return ((const int64_t *)p)[i];
    case TETHER_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case TETHER_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case TETHER_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case TETHER_DTYPE_UINT64: return (int64_t)((const uint64_t *)p)[i];
    case TETHER_DTYPE_BOOL: return ((const uint8_t *)p)[i] != 0;
    case TETHER_DTYPE_INT4:
    case TETHER_DTYPE_UINT4:
    case TETHER_DTYPE_INT2:
    case TETHER_DTYPE_UINT2: return (int64_t)tt_small_to_f64(((const uint8_t *)p)[i], t);
    default: return f64_to_i64(tt_load_f64(p, t, i));
    }
}

void tt_store_i64(void *p, tt_dtype t, size_t i, int64_t v)
{
    switch (t) {
    case TETHER_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case TETHER_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case TETHER_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case TETHER_DTYPE_INT64: ((int64_t *)p)[i] = v; break;
    case TETHER_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case TETHER_DTYPE_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case TETHER_DTYPE_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case TETHER_DTYPE_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case TETHER_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case TETHER_DTYPE_INT4:
    case TETHER_DTYPE_UINT4:
    case TETHER_DTYPE_INT2:
    case TETHER_DTYPE_UINT2: ((uint8_t *)p)[i] = tt_small_from_i64(v, t); break;
    default: tt_store_f64(p, t, i, (double)v); break;
    }
}
