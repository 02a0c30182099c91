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
};

bool tt_dtype_valid(int t) { return t > 0 && t < TT_DTYPE_COUNT; }

size_t tt_dtype_size(tt_dtype t) { return tt_dtype_valid((int)t) ? g_dtypes[t].size : 0; }

const char *tt_dtype_name(tt_dtype t) { return (int)t >= 0 && (int)t < TT_DTYPE_COUNT ? g_dtypes[t].name : "invalid"; }

size_t tether_dtype_size(tether_dtype t) { return tt_dtype_size(t); }
const char *tether_dtype_name(tether_dtype t) { return tt_dtype_name(t); }

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
    default: return NAN;
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
    default: break;
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
    default: return (int64_t)tt_load_f64(p, t, i);
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
    default: tt_store_f64(p, t, i, (double)v); break;
    }
}
