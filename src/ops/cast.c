/* Type conversion: Cast and CastLike between every numeric type, bool and string, and
 * tt_cast_elems, the element conversion other kernels use to widen and narrow. Numbers print
 * as numpy prints them (shortest round-trip digits), which is what the ONNX suite expects. */
#include "ops/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- scalar conversions ------------------------------------------------------------------- */

/* double -> float rounded to odd: a second rounding to float16 or bfloat16 is then exactly
 * as if rounded once from the double (float keeps over twice their precision plus two bits). */
static inline float f64_to_f32_odd(double d)
{
    float f = (float)d;
    if ((double)f != d && d == d) {
        uint32_t bits;
        memcpy(&bits, &f, 4);
        if (fabs((double)f) > fabs(d))
            bits--; /* rounded away from zero: step back to the truncated value */
        bits |= 1;
        memcpy(&f, &bits, 4);
    }
    return f;
}

static inline tt_f16 f64_to_f16(double d) { return tt_f32_to_f16(f64_to_f32_odd(d)); }
static inline tt_bf16 f64_to_bf16(double d) { return tt_f32_to_bf16(f64_to_f32_odd(d)); }
#define TO_F16(x) _Generic((x), float: tt_f32_to_f16, default: f64_to_f16)(x)
#define TO_BF16(x) _Generic((x), float: tt_f32_to_bf16, default: f64_to_bf16)(x)

/* C leaves float -> integer undefined outside the target's range; ONNX leaves it open. Here:
 * truncate toward zero, NaN gives 0, saturate at the 64-bit limits, then wrap to narrower
 * types like an integer cast (what numpy and onnxruntime produce on x86 for in-range int64). */
static inline int64_t f_to_i64(double x)
{
    return x != x ? 0 : x >= 0x1p63 ? INT64_MAX : x < -0x1p63 ? INT64_MIN : (int64_t)x;
}
static inline uint64_t f_to_u64(double x)
{
    return x >= 0x1p64 ? UINT64_MAX : x >= 0x1p63 ? (uint64_t)x : (uint64_t)f_to_i64(x);
}

/* ---- the conversion matrix ---------------------------------------------------------------- */

/* Each source type loads as a float or an integer "carrier" (LOAD, CARRIER); each destination
 * is stored by its kind: F float/double, I integer, B bool, H float16, Z bfloat16. CONV_<carrier>_<kind>
 * converts one value; D is the destination C type. */
#define CONV_F_F(D, x) ((D)(x))
#define CONV_F_I(D, x) ((D)((D)-1 > 0 ? f_to_u64(x) : (uint64_t)f_to_i64(x)))
#define CONV_F_B(D, x) ((D)((x) != 0))
#define CONV_F_H(D, x) TO_F16(x)
#define CONV_F_Z(D, x) TO_BF16(x)
#define CONV_I_F(D, x) ((D)(x))
#define CONV_I_I(D, x) ((D)(x))
#define CONV_I_B(D, x) ((D)((x) != 0))
#define CONV_I_H(D, x) f64_to_f16((double)(x))
#define CONV_I_Z(D, x) f64_to_bf16((double)(x))

#define LOAD_AS_IS(x) (x)
#define LOAD_BOOL(x) ((uint8_t)((x) != 0))

/* The preprocessor cannot expand a list inside itself, so sources and destinations each have
 * one: the same types in the same order. */
#define CAST_SOURCES(X)                                                                         \
    X(FLOAT, float, LOAD_AS_IS, F) X(DOUBLE, double, LOAD_AS_IS, F)                             \
    X(INT8, int8_t, LOAD_AS_IS, I) X(INT16, int16_t, LOAD_AS_IS, I)                             \
    X(INT32, int32_t, LOAD_AS_IS, I) X(INT64, int64_t, LOAD_AS_IS, I)                           \
    X(UINT8, uint8_t, LOAD_AS_IS, I) X(UINT16, uint16_t, LOAD_AS_IS, I)                         \
    X(UINT32, uint32_t, LOAD_AS_IS, I) X(UINT64, uint64_t, LOAD_AS_IS, I)                       \
    X(BOOL, uint8_t, LOAD_BOOL, I) X(FLOAT16, uint16_t, tt_f16_to_f32, F)                       \
    X(BFLOAT16, uint16_t, tt_bf16_to_f32, F)
#define CAST_DESTS(X, SE, ST, LOAD, CARRIER)                                                    \
    X(SE, ST, LOAD, CARRIER, FLOAT, float, F) X(SE, ST, LOAD, CARRIER, DOUBLE, double, F)         \
    X(SE, ST, LOAD, CARRIER, INT8, int8_t, I) X(SE, ST, LOAD, CARRIER, INT16, int16_t, I)         \
    X(SE, ST, LOAD, CARRIER, INT32, int32_t, I) X(SE, ST, LOAD, CARRIER, INT64, int64_t, I)       \
    X(SE, ST, LOAD, CARRIER, UINT8, uint8_t, I) X(SE, ST, LOAD, CARRIER, UINT16, uint16_t, I)     \
    X(SE, ST, LOAD, CARRIER, UINT32, uint32_t, I) X(SE, ST, LOAD, CARRIER, UINT64, uint64_t, I)   \
    X(SE, ST, LOAD, CARRIER, BOOL, uint8_t, B) X(SE, ST, LOAD, CARRIER, FLOAT16, uint16_t, H)     \
    X(SE, ST, LOAD, CARRIER, BFLOAT16, uint16_t, Z)

#define CONV_TO(SE, ST, LOAD, CARRIER, DE, DT, KIND)                                            \
    case TETHER_DTYPE_##DE: {                                                                   \
        const ST *s = src;                                                                      \
        DT *d = dst;                                                                            \
        for (int64_t i = 0; i < n; i++)                                                         \
            d[i] = CONV_##CARRIER##_##KIND(DT, LOAD(s[i]));                                     \
        return;                                                                                 \
    }
#define CONV_FROM(SE, ST, LOAD, CARRIER)                                                        \
    static void conv_from_##SE(const void *src, void *dst, tt_dtype dt, int64_t n)              \
    {                                                                                           \
        switch (dt) {                                                                           \
            CAST_DESTS(CONV_TO, SE, ST, LOAD, CARRIER)                                          \
        default: return;                                                                        \
        }                                                                                       \
    }
CAST_SOURCES(CONV_FROM)

typedef void (*conv_fn)(const void *src, void *dst, tt_dtype dt, int64_t n);

static conv_fn conv_from(tt_dtype st)
{
#define CONV_PICK(SE, ST, LOAD, CARRIER) \
    case TETHER_DTYPE_##SE: return conv_from_##SE;
    switch (st) {
        CAST_SOURCES(CONV_PICK)
    default: return NULL;
    }
#undef CONV_PICK
}

typedef struct conv_job {
    const char *src;
    char *dst;
    tt_dtype st, dt;
    conv_fn fn;
} conv_job;

static void conv_range(void *arg, int64_t b, int64_t e)
{
    const conv_job *j = arg;
    j->fn(j->src + b * (int64_t)tt_dtype_size(j->st), j->dst + b * (int64_t)tt_dtype_size(j->dt), j->dt, e - b);
}

/* Conversions to or from the small types (core/dtype.h) go through double, in blocks; from
 * an integer type to a small integer type through int64, keeping the low bits. */
typedef struct small_job {
    const char *src;
    char *dst;
    tt_dtype st, dt;
    bool saturate;
    tt_round round;
} small_job;

static void small_range(void *arg, int64_t b, int64_t e)
{
    const small_job *j = arg;
    size_t ss = tt_dtype_size(j->st), ds = tt_dtype_size(j->dt);
    bool to_int = (TT_DTS_MINIINT >> j->dt) & 1, from_int = ((TT_DTS_INT | TT_DT(TETHER_DTYPE_BOOL)) >> j->st) & 1;
    double buf[256];
    for (int64_t i = b; i < e; i += 256) {
        int64_t k = e - i < 256 ? e - i : 256;
        const char *s = j->src + i * (int64_t)ss;
        uint8_t *d = (uint8_t *)j->dst + i * (int64_t)ds;
        if (to_int && from_int) {
            int64_t *ib = (int64_t *)buf;
            conv_from(j->st)(s, ib, TETHER_DTYPE_INT64, k);
            for (int64_t t = 0; t < k; t++)
                d[t] = tt_small_from_i64(ib[t], j->dt);
            continue;
        }
        if (tt_dtype_is_small(j->st))
            for (int64_t t = 0; t < k; t++)
                buf[t] = tt_small_to_f64(((const uint8_t *)s)[t], j->st);
        else
            conv_from(j->st)(s, buf, TETHER_DTYPE_DOUBLE, k);
        if (tt_dtype_is_small(j->dt))
            for (int64_t t = 0; t < k; t++)
                d[t] = tt_small_from_f64(buf[t], j->dt, j->saturate, j->round);
        else
            conv_from_DOUBLE(buf, d, j->dt, k);
    }
}

static void cast_elems(const void *src, tt_dtype st, void *dst, tt_dtype dt, int64_t n, bool saturate,
                       tt_round round)
{
    if (n <= 0)
        return;
    if (st == dt) {
        memcpy(dst, src, (size_t)n * tt_dtype_size(st));
        return;
    }
    TT_ASSERT(st != TETHER_DTYPE_STRING && dt != TETHER_DTYPE_STRING);
    if (tt_dtype_is_small(st) || tt_dtype_is_small(dt)) {
        small_job j = {.src = src, .dst = dst, .st = st, .dt = dt, .saturate = saturate, .round = round};
        TT_ASSERT(tt_dtype_is_small(st) || conv_from(st));
        tt_map(n, small_range, &j);
        return;
    }
    conv_job j = {.src = src, .dst = dst, .st = st, .dt = dt, .fn = conv_from(st)};
    TT_ASSERT(j.fn);
    tt_map(n, conv_range, &j);
}

void tt_cast_elems(const void *src, tt_dtype st, void *dst, tt_dtype dt, int64_t n)
{
    cast_elems(src, st, dst, dt, n, true, TT_ROUND_UP);
}

/* ONNX 1.12's reference (and onnxruntime of that time) makes bfloat16 by dropping the low
 * half of the float32, and the suite expects exactly that for Cast; arithmetic elsewhere
 * rounds to nearest even. NaN stays NaN. */
static inline tt_bf16 f32_to_bf16_trunc(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (tt_bf16)((x >> 16) | 0x40);
    return (tt_bf16)(x >> 16);
}

typedef struct bf16_job {
    const char *src;
    tt_bf16 *dst;
    tt_dtype st;
} bf16_job;

static void to_bf16_range(void *arg, int64_t b, int64_t e)
{
    const bf16_job *j = arg;
    size_t es = tt_dtype_size(j->st);
    float tmp[512];
    for (int64_t i = b; i < e; i += 512) {
        int64_t k = e - i < 512 ? e - i : 512;
        tt_cast_elems(j->src + i * (int64_t)es, j->st, tmp, TETHER_DTYPE_FLOAT, k);
        for (int64_t t = 0; t < k; t++)
            j->dst[i + t] = f32_to_bf16_trunc(tmp[t]);
    }
}

/* ---- numbers to strings ------------------------------------------------------------------- */

/* Whether decimal text s reads back as the value v holds in dtype t. */
static bool reads_back(const char *s, double v, tt_dtype t)
{
    switch (t) {
    case TETHER_DTYPE_FLOAT: return strtof(s, NULL) == (float)v;
    case TETHER_DTYPE_FLOAT16: return f64_to_f16(strtod(s, NULL)) == f64_to_f16(v);
    case TETHER_DTYPE_BFLOAT16: return f64_to_bf16(strtod(s, NULL)) == f64_to_bf16(v);
    default: return strtod(s, NULL) == v;
    }
}

/* Formats a finite float of dtype t like numpy's str(): the fewest significant digits that
 * read back to the same value, positional for 1e-4 <= |v| < 1e16 ("0.5", "100.0"), otherwise
 * scientific with at least two exponent digits ("1e-05", "1.5e+17"). */
static void format_float(double v, tt_dtype t, char *out, size_t cap)
{
    if (v == 0) {
        snprintf(out, cap, "%s", signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char sci[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, v);
        if (reads_back(sci, v, t))
            break;
    }
    /* sci is "[-]d[.ddd]e[+-]xx": split it into digits and a decimal exponent */
    char digits[24];
    int nd = 0;
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p))
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int e = atoi(p + 1);
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    double a = fabs(v);
    if (a >= 1e-4 && a < 1e16) {
        if (e >= 0) { /* digits before the point, zero-padded; at least ".0" after */
            for (int i = 0; i <= e; i++)
                out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > e + 1)
                for (int i = e + 1; i < nd; i++)
                    out[o++] = digits[i];
            else
                out[o++] = '0';
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -e - 1; i++)
                out[o++] = '0';
            for (int i = 0; i < nd; i++)
                out[o++] = digits[i];
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, cap - o, "e%c%02d", e < 0 ? '-' : '+', abs(e));
    }
}

/* Element i of a numeric tensor as text. Non-finite values use the literals ONNX reserves. */
static void format_elem(const void *data, tt_dtype t, int64_t i, char *out, size_t cap)
{
    if (tt_dtype_is_float(t) || ((TT_DTS_MINIFLOAT >> t) & 1)) {
        double v = tt_load_f64(data, t, (size_t)i);
        if (isnan(v))
            snprintf(out, cap, "NaN");
        else if (isinf(v))
            snprintf(out, cap, "%s", v > 0 ? "INF" : "-INF");
        else
            format_float(v, t, out, cap);
    } else if (t == TETHER_DTYPE_BOOL) {
        snprintf(out, cap, "%s", ((const uint8_t *)data)[i] ? "True" : "False"); /* as numpy */
    } else if (t == TETHER_DTYPE_UINT64) {
        snprintf(out, cap, "%" PRIu64, ((const uint64_t *)data)[i]);
    } else {
        snprintf(out, cap, "%" PRId64, tt_load_i64(data, t, (size_t)i));
    }
}

/* ---- strings to numbers ------------------------------------------------------------------- */

static bool only_space(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == 0;
}

/* Parses s into element i of dst (dtype t). Integers parse exactly when written as integers;
 * anything else goes through floating point ("100.5" gives 100, "1e3" gives 1000). Besides
 * numbers: "true"/"false" and, for floats, INF/+INF/-INF/NaN in any case. */
static tt_status parse_elem(const tt_node *node, const char *s, void *dst, tt_dtype t, int64_t i)
{
    char *dst_elem = (char *)dst + i * (int64_t)tt_dtype_size(t);
    const char *w = s;
    while (isspace((unsigned char)*w))
        w++;
    if (strncasecmp(w, "true", 4) == 0 || strncasecmp(w, "false", 5) == 0) {
        bool v = tolower((unsigned char)*w) == 't';
        if (only_space(w + (v ? 4 : 5))) {
            int64_t iv = v;
            tt_cast_elems(&iv, TETHER_DTYPE_INT64, dst_elem, t, 1);
            return TT_OK;
        }
    }
    char *end;
    if (tt_dtype_is_int(t) || t == TETHER_DTYPE_BOOL) {
        errno = 0;
        if (t == TETHER_DTYPE_UINT64 && *w != '-') {
            uint64_t u = strtoull(w, &end, 10);
            if (end != w && errno == 0 && only_space(end)) {
                memcpy(dst_elem, &u, 8);
                return TT_OK;
            }
        } else {
            int64_t v = strtoll(w, &end, 10);
            if (end != w && errno == 0 && only_space(end)) {
                tt_cast_elems(&v, TETHER_DTYPE_INT64, dst_elem, t, 1);
                return TT_OK;
            }
        }
    }
    if (t == TETHER_DTYPE_FLOAT || t == TETHER_DTYPE_BFLOAT16) {
        float f = strtof(w, &end);
        if (end != w && only_space(end)) {
            if (t == TETHER_DTYPE_FLOAT)
                memcpy(dst_elem, &f, 4);
            else
                *(tt_bf16 *)dst_elem = f32_to_bf16_trunc(f);
            return TT_OK;
        }
    } else {
        double d = strtod(w, &end);
        if (end != w && only_space(end)) {
            tt_cast_elems(&d, TETHER_DTYPE_DOUBLE, dst_elem, t, 1);
            return TT_OK;
        }
    }
    return tt_op_error(node, TETHER_ERR_RUNTIME, "element %" PRId64 ": \"%.60s\" is not a %s number", i, s,
                       tt_dtype_name(t));
}

/* ---- Cast, CastLike ----------------------------------------------------------------------- */

#define CAST_TYPES (TT_DTS_NUMERIC | TT_DT(TETHER_DTYPE_BOOL) | TT_DT(TETHER_DTYPE_STRING) | TT_DTS_SMALL)

typedef struct cast_attrs {
    tt_dtype to;      /* Cast's target; UNDEFINED for CastLike */
    bool saturate;    /* float8 and float8e8m0 targets: out-of-range values saturate */
    tt_round round;   /* float8e8m0 targets */
    bool bf16_trunc;  /* bfloat16 targets by dropping low bits (before opset 19) */
} cast_attrs;

/* Cast-1 named the type as a string ("FLOAT"); Cast-6 and later use the TensorProto enum. */
static tt_status cast_target(const tt_node *n, tt_dtype *out)
{
    static const char *const names[TT_DTYPE_COUNT] = {
        [TETHER_DTYPE_FLOAT] = "FLOAT",     [TETHER_DTYPE_UINT8] = "UINT8",     [TETHER_DTYPE_INT8] = "INT8",
        [TETHER_DTYPE_UINT16] = "UINT16",   [TETHER_DTYPE_INT16] = "INT16",     [TETHER_DTYPE_INT32] = "INT32",
        [TETHER_DTYPE_INT64] = "INT64",     [TETHER_DTYPE_STRING] = "STRING",   [TETHER_DTYPE_BOOL] = "BOOL",
        [TETHER_DTYPE_FLOAT16] = "FLOAT16", [TETHER_DTYPE_DOUBLE] = "DOUBLE",   [TETHER_DTYPE_UINT32] = "UINT32",
        [TETHER_DTYPE_UINT64] = "UINT64",   [TETHER_DTYPE_BFLOAT16] = "BFLOAT16",
    };
    const tt_attr *a = tt_node_attr(n, "to");
    if (!a)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute 'to' is required");
    if (a->type == TT_ATTR_STRING) {
        for (int t = 0; t < TT_DTYPE_COUNT; t++) {
            if (names[t] && strcasecmp(a->s, names[t]) == 0) {
                *out = (tt_dtype)t;
                return TT_OK;
            }
        }
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute 'to' = \"%.40s\" names no supported type", a->s);
    }
    if (a->type != TT_ATTR_INT || a->i <= 0 || a->i >= TT_DTYPE_COUNT || !((CAST_TYPES >> a->i) & 1))
        /* ONNX names types up to 28 (float6e3m2); tether holds neither complex nor float6 */
        return tt_op_error(n, a->type == TT_ATTR_INT && a->i > 0 && a->i <= 28 ? TETHER_ERR_UNSUPPORTED
                                                                                  : TETHER_ERR_INVALID_MODEL,
                           "attribute 'to' = %" PRId64 " is not a type Cast supports",
                           a->type == TT_ATTR_INT ? a->i : (int64_t)-1);
    *out = (tt_dtype)a->i;
    return TT_OK;
}

static tt_status parse_cast_common(tt_node *n, cast_attrs *a)
{
    a->saturate = tt_attr_int(n, "saturate", 1) != 0;
    const char *rm = tt_attr_string(n, "round_mode", "up");
    if (strcmp(rm, "up") == 0)
        a->round = TT_ROUND_UP;
    else if (strcmp(rm, "down") == 0)
        a->round = TT_ROUND_DOWN;
    else if (strcmp(rm, "nearest") == 0)
        a->round = TT_ROUND_NEAREST_EVEN;
    else
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "round_mode \"%.20s\" is not up, down or nearest", rm);
    /* ONNX's reference made bfloat16 by dropping the low half of the float32 until Cast-19
     * (ONNX 1.12's suite holds those values); since then it rounds to nearest even */
    a->bf16_trunc = n->opset < 19;
    return TT_OK;
}

static tt_status parse_cast(tt_node *n, void **state)
{
    cast_attrs *a = tt_calloc(1, sizeof *a);
    if (!a)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    *state = a;
    TT_TRY(cast_target(n, &a->to));
    return parse_cast_common(n, a);
}

static tt_status parse_castlike(tt_node *n, void **state)
{
    cast_attrs *a = tt_calloc(1, sizeof *a);
    if (!a)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    *state = a;
    return parse_cast_common(n, a);
}

static tt_status infer_to(tt_ictx *c, tt_dtype to)
{
    const tt_type *x = tt_iin(c, 0);
    if (!x)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input 0 is required");
    tt_infer_tensor(c, 0, to, x->rank, x->dims);
    return TT_OK;
}

static tt_status infer_cast(tt_ictx *c)
{
    const cast_attrs *a = c->node->state;
    return infer_to(c, a->to);
}

static tt_status infer_castlike(tt_ictx *c)
{
    const tt_type *like = tt_iin(c, 1);
    if (!like)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input 1 (target_type) is required");
    TT_TRY(tt_infer_check_dtype(c, 1, CAST_TYPES));
    return infer_to(c, like->dtype);
}

static tt_status run_cast(tt_kctx *c)
{
    const cast_attrs *a = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t n = tt_tensor_numel(x);
    if (x->dtype == TETHER_DTYPE_STRING) {
        char *const *s = x->data;
        for (int64_t i = 0; i < n; i++) {
            const char *si = s[i] ? s[i] : "";
            if (y->dtype == TETHER_DTYPE_STRING)
                TT_TRY(tt_tensor_set_string(y, i, si, strlen(si)));
            else
                TT_TRY(parse_elem(c->node, si, y->data, y->dtype, i));
        }
    } else if (y->dtype == TETHER_DTYPE_STRING) {
        char buf[64];
        for (int64_t i = 0; i < n; i++) {
            format_elem(x->data, x->dtype, i, buf, sizeof buf);
            TT_TRY(tt_tensor_set_string(y, i, buf, strlen(buf)));
        }
    } else if (a->bf16_trunc && y->dtype == TETHER_DTYPE_BFLOAT16 && x->dtype != TETHER_DTYPE_BFLOAT16) {
        bf16_job j = {.src = x->data, .dst = y->data, .st = x->dtype};
        tt_map(n, to_bf16_range, &j);
    } else {
        cast_elems(x->data, x->dtype, y->data, y->dtype, n, a->saturate, a->round);
    }
    return TT_OK;
}

const tt_op_schema tt_schemas_cast[] = {
    TT_SCHEMA("Cast", 1, 0, infer_cast, .parse = parse_cast),
    TT_SCHEMA("CastLike", 15, 0, infer_castlike, .parse = parse_castlike),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_cast[] = {
    TT_KERNEL("Cast", 1, 0, CAST_TYPES, run_cast),
    TT_KERNEL("CastLike", 15, 0, CAST_TYPES, run_cast),
    TT_KERNEL_END,
};
