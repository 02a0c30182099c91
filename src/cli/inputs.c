/* The --input arguments of tether run and tether bench: .npy and .npz files matched to the
 * model's inputs, and conversions to the input's dtype that keep every value exactly (an
 * int64 3,000,000,000 is never fed to an int32 input as -1,294,967,296). */
#include "cli.h"

#include "core/dtype.h"
#include "core/status.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One element as an exact number: an integer (signed or not) or a double. */
typedef struct num {
    enum { NUM_INT, NUM_UINT, NUM_FLOAT } kind;
    int64_t i;
    uint64_t u;
    double f;
} num;

static bool load(tether_dtype t, const unsigned char *p, num *v)
{
    switch (t) {
#define INT_CASE(DT, T) \
    case DT: {          \
        T x;            \
        memcpy(&x, p, sizeof x); \
        v->kind = NUM_INT, v->i = x; \
        return true;    \
    }
        INT_CASE(TETHER_DTYPE_INT8, int8_t)
        INT_CASE(TETHER_DTYPE_INT16, int16_t)
        INT_CASE(TETHER_DTYPE_INT32, int32_t)
        INT_CASE(TETHER_DTYPE_INT64, int64_t)
#undef INT_CASE
#define UINT_CASE(DT, T) \
    case DT: {           \
        T x;             \
        memcpy(&x, p, sizeof x); \
        v->kind = NUM_UINT, v->u = x; \
        return true;     \
    }
        UINT_CASE(TETHER_DTYPE_UINT8, uint8_t)
        UINT_CASE(TETHER_DTYPE_UINT16, uint16_t)
        UINT_CASE(TETHER_DTYPE_UINT32, uint32_t)
        UINT_CASE(TETHER_DTYPE_UINT64, uint64_t)
        UINT_CASE(TETHER_DTYPE_BOOL, uint8_t)
#undef UINT_CASE
    case TETHER_DTYPE_FLOAT: {
        float x;
        memcpy(&x, p, 4);
        v->kind = NUM_FLOAT, v->f = x;
        return true;
    }
    case TETHER_DTYPE_DOUBLE: memcpy(&v->f, p, 8), v->kind = NUM_FLOAT; return true;
    case TETHER_DTYPE_FLOAT16: {
        tt_f16 h;
        memcpy(&h, p, 2);
        v->kind = NUM_FLOAT, v->f = tt_f16_to_f32(h);
        return true;
    }
    case TETHER_DTYPE_BFLOAT16: {
        tt_bf16 h;
        memcpy(&h, p, 2);
        v->kind = NUM_FLOAT, v->f = tt_bf16_to_f32(h);
        return true;
    }
    default: return false;
    }
}

/* The integer range of an integer dtype (bool: 0..1). */
static void int_range(tether_dtype t, int64_t *lo, uint64_t *hi)
{
    switch (t) {
    case TETHER_DTYPE_INT8: *lo = INT8_MIN, *hi = INT8_MAX; break;
    case TETHER_DTYPE_INT16: *lo = INT16_MIN, *hi = INT16_MAX; break;
    case TETHER_DTYPE_INT32: *lo = INT32_MIN, *hi = INT32_MAX; break;
    case TETHER_DTYPE_INT64: *lo = INT64_MIN, *hi = INT64_MAX; break;
    case TETHER_DTYPE_UINT8: *lo = 0, *hi = UINT8_MAX; break;
    case TETHER_DTYPE_UINT16: *lo = 0, *hi = UINT16_MAX; break;
    case TETHER_DTYPE_UINT32: *lo = 0, *hi = UINT32_MAX; break;
    case TETHER_DTYPE_UINT64: *lo = 0, *hi = UINT64_MAX; break;
    default: *lo = 0, *hi = 1; break; /* bool */
    }
}

/* Stores v as dtype t at p when it is exactly representable there. */
static bool store_exact(tether_dtype t, const num *v, unsigned char *p)
{
    if (t == TETHER_DTYPE_FLOAT || t == TETHER_DTYPE_DOUBLE || t == TETHER_DTYPE_FLOAT16 || t == TETHER_DTYPE_BFLOAT16) {
        double d;
        if (v->kind == NUM_FLOAT) {
            d = v->f;
        } else if (v->kind == NUM_INT) {
            d = (double)v->i;
            if (d >= 9223372036854775808.0 || (int64_t)d != v->i)
                return false;
        } else {
            d = (double)v->u;
            if (d >= 18446744073709551616.0 || (uint64_t)d != v->u)
                return false;
        }
        if (t == TETHER_DTYPE_DOUBLE) {
            memcpy(p, &d, 8);
            return true;
        }
        float f = (float)d;
        if ((double)f != d && !(isnan(d) && isnan(f)))
            return false; /* rounds, or overflows to inf */
        if (t == TETHER_DTYPE_FLOAT) {
            memcpy(p, &f, 4);
            return true;
        }
        uint16_t h = t == TETHER_DTYPE_FLOAT16 ? tt_f32_to_f16(f) : tt_f32_to_bf16(f);
        float back = t == TETHER_DTYPE_FLOAT16 ? tt_f16_to_f32(h) : tt_bf16_to_f32(h);
        if (back != f && !(isnan(back) && isnan(f)))
            return false;
        memcpy(p, &h, 2);
        return true;
    }
    /* an integer (or bool) target: a whole number in range */
    int64_t lo;
    uint64_t hi;
    int_range(t, &lo, &hi);
    bool neg;
    uint64_t mag;
    if (v->kind == NUM_FLOAT) {
        double d = v->f;
        if (!isfinite(d) || d != trunc(d) || d < -9223372036854775808.0 || d >= 18446744073709551616.0)
            return false;
        neg = d < 0;
        mag = neg ? (uint64_t)(-d) : (uint64_t)d; /* -d <= 2^63 fits */
    } else if (v->kind == NUM_INT) {
        neg = v->i < 0;
        mag = neg ? (uint64_t)(-(v->i + 1)) + 1 : (uint64_t)v->i;
    } else {
        neg = false;
        mag = v->u;
    }
    if (neg ? (lo == 0 || mag > (uint64_t)(-(lo + 1)) + 1) : mag > hi)
        return false;
    int64_t sv = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    switch (t) {
    case TETHER_DTYPE_INT8: *(int8_t *)p = (int8_t)sv; break;
    case TETHER_DTYPE_INT16: { int16_t x = (int16_t)sv; memcpy(p, &x, 2); break; }
    case TETHER_DTYPE_INT32: { int32_t x = (int32_t)sv; memcpy(p, &x, 4); break; }
    case TETHER_DTYPE_INT64: memcpy(p, &sv, 8); break;
    case TETHER_DTYPE_UINT8:
    case TETHER_DTYPE_BOOL: *p = (unsigned char)mag; break;
    case TETHER_DTYPE_UINT16: { uint16_t x = (uint16_t)mag; memcpy(p, &x, 2); break; }
    case TETHER_DTYPE_UINT32: { uint32_t x = (uint32_t)mag; memcpy(p, &x, 4); break; }
    case TETHER_DTYPE_UINT64: memcpy(p, &mag, 8); break;
    default: return false;
    }
    return true;
}

static void num_str(const num *v, char *buf, size_t n)
{
    if (v->kind == NUM_INT)
        snprintf(buf, n, "%" PRId64, v->i);
    else if (v->kind == NUM_UINT)
        snprintf(buf, n, "%" PRIu64, v->u);
    else
        snprintf(buf, n, "%.17g", v->f);
}

tether_status tt_cli_convert_exact(const tether_tensor *src, tether_dtype want, const char *what, void **out)
{
    size_t ses = tether_dtype_size(src->dtype), des = tether_dtype_size(want);
    const unsigned ok = TT_DTS_NUMERIC | TT_DT(TETHER_DTYPE_BOOL);
    num v = {0};
    if ((unsigned)src->dtype >= 32 || (unsigned)want >= 32 || !((ok >> src->dtype) & 1) || !((ok >> want) & 1))
        return tt_error(TETHER_ERR_SHAPE, "%s is %s; a %s array cannot be converted to it", what,
                        tether_dtype_name(want), tether_dtype_name(src->dtype));
    size_t count = src->size / ses;
    unsigned char *dst = malloc(count ? count * des : 1);
    if (!dst)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory converting %s", what);
    const unsigned char *p = src->data;
    for (size_t i = 0; i < count; i++) {
        load(src->dtype, p + i * ses, &v);
        if (!store_exact(want, &v, dst + i * des)) {
            char val[64];
            num_str(&v, val, sizeof val);
            free(dst);
            return tt_error(TETHER_ERR_SHAPE,
                            "%s is %s: the %s value %s at flat index %zu is not exactly representable as %s; "
                            "tether converts inputs only where every value is kept (convert the array yourself "
                            "if that change is intended)",
                            what, tether_dtype_name(want), tether_dtype_name(src->dtype), val, i,
                            tether_dtype_name(want));
        }
    }
    *out = dst;
    return TETHER_OK;
}

/* Puts array a into input slot idx, converted to the input's dtype where it differs. */
static tether_status place(tether_session *s, size_t idx, tether_tensor *a, const char *from, tether_tensor *t,
                           bool *have)
{
    tether_value_info info;
    tether_session_input_info(s, idx, &info);
    if (have[idx]) {
        free(a->data);
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "input '%s' is given twice (again by %s)", info.name, from);
    }
    if (info.dtype != TETHER_DTYPE_UNDEFINED && info.dtype != a->dtype && a->dtype != TETHER_DTYPE_STRING) {
        char what[1200];
        snprintf(what, sizeof what, "input '%s' (from %s)", info.name, from);
        void *conv;
        tether_status st = tt_cli_convert_exact(a, info.dtype, what, &conv);
        free(a->data);
        a->data = NULL;
        if (st != TETHER_OK)
            return st;
        size_t count = a->size / tether_dtype_size(a->dtype);
        a->data = conv;
        a->dtype = info.dtype;
        a->size = count * tether_dtype_size(info.dtype);
    }
    a->name = info.name;
    t[idx] = *a;
    have[idx] = true;
    return TETHER_OK;
}

/* "the model has no input named 'x' (its inputs: 'a', 'b')" */
static tether_status no_input(tether_session *s, const char *what, const char *name, size_t len)
{
    size_t n = tether_session_input_count(s), need = 1;
    for (size_t k = 0; k < n; k++) {
        tether_value_info info;
        tether_session_input_info(s, k, &info);
        need += strlen(info.name) + 4;
    }
    char *names = malloc(need);
    size_t o = 0;
    for (size_t k = 0; names && k < n; k++) {
        tether_value_info info;
        tether_session_input_info(s, k, &info);
        o += (size_t)snprintf(names + o, need - o, "%s'%s'", k ? ", " : "", info.name);
    }
    tether_status st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "--input %s: the model has no input named '%.*s' (its inputs: %s)",
                                what, (int)len, name, names ? names : "?");
    free(names);
    return st;
}

static bool input_index(tether_session *s, const char *name, size_t len, size_t *idx)
{
    size_t n = tether_session_input_count(s);
    for (size_t k = 0; k < n; k++) {
        tether_value_info info;
        tether_session_input_info(s, k, &info);
        if (strlen(info.name) == len && strncmp(info.name, name, len) == 0) {
            *idx = k;
            return true;
        }
    }
    return false;
}

tether_status tt_cli_read_inputs(tether_session *s, char *const *specs, int n_specs, tether_tensor *t, bool *have)
{
    size_t n = tether_session_input_count(s);
    for (int i = 0; i < n_specs; i++) {
        const char *spec = specs[i], *eq = strchr(spec, '='), *file = spec;
        struct stat sb;
        size_t idx = (size_t)i;
        /* NAME=FILE, unless the '=' is part of the path of an existing file */
        bool named = eq && stat(spec, &sb) != 0;
        if (named) {
            file = eq + 1;
            if (!input_index(s, spec, (size_t)(eq - spec), &idx))
                return no_input(s, spec, spec, (size_t)(eq - spec));
        }
        if (!named && tt_npz_is(file)) {
            tt_npz z;
            TT_TRY(tt_npz_read(file, &z));
            tether_status st = TETHER_OK;
            for (int k = 0; k < z.n && st == TETHER_OK; k++) {
                if (!input_index(s, z.names[k], strlen(z.names[k]), &idx)) {
                    st = no_input(s, file, z.names[k], strlen(z.names[k]));
                    break;
                }
                char from[1100];
                snprintf(from, sizeof from, "%s:%s", file, z.names[k]);
                st = place(s, idx, &z.arrays[k], from, t, have);
                z.arrays[k].data = NULL; /* placed, or freed by place */
            }
            tt_npz_free(&z);
            TT_TRY(st);
            continue;
        }
        if (idx >= n)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "--input %s: the model has only %zu input%s", spec, n,
                            n == 1 ? "" : "s");
        tether_tensor a;
        TT_TRY(tt_npy_read(file, &a));
        TT_TRY(place(s, idx, &a, file, t, have));
    }
    return TETHER_OK;
}
