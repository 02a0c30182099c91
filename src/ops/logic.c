/* Logic and comparison: And Or Xor Not, Equal Greater GreaterOrEqual Less LessOrEqual,
 * BitShift (signed types since opset 28), Where, IsNaN, IsInf. Bools are one byte, 0 or 1 (any nonzero input byte reads as
 * true); float16 and bfloat16 compare as float. */
#include "ops/util.h"

#include <inttypes.h>

/* Comparable types: name, storage type, the type elements compare in, how one loads. */
#define CMP_TYPES(X, ...)                                                                      \
    X(FLOAT, float, float, TT_AS_IS, __VA_ARGS__)                                              \
    X(DOUBLE, double, double, TT_AS_IS, __VA_ARGS__)                                           \
    X(INT8, int8_t, int8_t, TT_AS_IS, __VA_ARGS__)                                             \
    X(INT16, int16_t, int16_t, TT_AS_IS, __VA_ARGS__)                                          \
    X(INT32, int32_t, int32_t, TT_AS_IS, __VA_ARGS__)                                          \
    X(INT64, int64_t, int64_t, TT_AS_IS, __VA_ARGS__)                                          \
    X(UINT8, uint8_t, uint8_t, TT_AS_IS, __VA_ARGS__)                                          \
    X(UINT16, uint16_t, uint16_t, TT_AS_IS, __VA_ARGS__)                                       \
    X(UINT32, uint32_t, uint32_t, TT_AS_IS, __VA_ARGS__)                                       \
    X(UINT64, uint64_t, uint64_t, TT_AS_IS, __VA_ARGS__)                                       \
    X(FLOAT16, uint16_t, float, tt_f16_to_f32, __VA_ARGS__)                                    \
    X(BFLOAT16, uint16_t, float, tt_bf16_to_f32, __VA_ARGS__)                                  \
    X(BOOL, uint8_t, bool, TT_AS_IS, __VA_ARGS__)
#define BOOL_TYPE(X, ...) X(BOOL, uint8_t, bool, TT_AS_IS, __VA_ARGS__)
#define SINT_TYPES(X, ...)                                                                     \
    X(INT8, int8_t, int8_t, TT_AS_IS, __VA_ARGS__)                                             \
    X(INT16, int16_t, int16_t, TT_AS_IS, __VA_ARGS__)                                          \
    X(INT32, int32_t, int32_t, TT_AS_IS, __VA_ARGS__)                                          \
    X(INT64, int64_t, int64_t, TT_AS_IS, __VA_ARGS__)
#define UINT_TYPES(X, ...)                                                                     \
    X(UINT8, uint8_t, uint8_t, TT_AS_IS, __VA_ARGS__)                                          \
    X(UINT16, uint16_t, uint16_t, TT_AS_IS, __VA_ARGS__)                                       \
    X(UINT32, uint32_t, uint32_t, TT_AS_IS, __VA_ARGS__)                                       \
    X(UINT64, uint64_t, uint64_t, TT_AS_IS, __VA_ARGS__)

/* A binary op over TYPES: a loop per type and NAME_fns, the loops by dtype. OUT(ST) names
 * the output element type from the storage type. */
#define TO_BOOL(ST) uint8_t
#define TO_SAME(ST) ST
#define LOGIC_LOOP(N, ST, LT, LOAD, NAME, OUT, EXPR) TT_BINARY_LOOP(NAME##_##N, ST, LT, LOAD, OUT(ST), EXPR)
#define LOGIC_SLOT(N, ST, LT, LOAD, NAME, OUT, EXPR) [TETHER_DTYPE_##N] = NAME##_##N,
#define LOGIC_OP(NAME, TYPES, OUT, EXPR) \
    TYPES(LOGIC_LOOP, NAME, OUT, EXPR)   \
    static const tt_bcast_fn NAME##_fns[TT_DTYPE_COUNT] = {TYPES(LOGIC_SLOT, NAME, OUT, EXPR)};

LOGIC_OP(equal, CMP_TYPES, TO_BOOL, A == B)
LOGIC_OP(greater, CMP_TYPES, TO_BOOL, A > B)
LOGIC_OP(greater_equal, CMP_TYPES, TO_BOOL, A >= B)
LOGIC_OP(less, CMP_TYPES, TO_BOOL, A < B)
LOGIC_OP(less_equal, CMP_TYPES, TO_BOOL, A <= B)
LOGIC_OP(and, BOOL_TYPE, TO_BOOL, A && B)
LOGIC_OP(or, BOOL_TYPE, TO_BOOL, A || B)
LOGIC_OP(xor, BOOL_TYPE, TO_BOOL, A != B)
/* Shifting by the type's width or more (or, for signed types since opset 28, by a negative
 * amount) gives what the sign extension alone gives: 0, or -1 for a right shift of a
 * negative value; C leaves it undefined. Signed values shift right arithmetically. */
#define SHIFT_OK(B) ((uint64_t)(B) < sizeof(T) * 8)
#define INT_TYPES(X, ...) UINT_TYPES(X, __VA_ARGS__) SINT_TYPES(X, __VA_ARGS__)
LOGIC_OP(shl, INT_TYPES, TO_SAME, SHIFT_OK(B) ? (uint64_t)A << B : 0)
LOGIC_OP(shr, UINT_TYPES, TO_SAME, SHIFT_OK(B) ? A >> B : 0)
#define SHR_SINT(N, ST, LT, LOAD, ...) TT_BINARY_LOOP(shr_##N, ST, LT, LOAD, ST, SHIFT_OK(B) ? A >> B : A < 0 ? -1 : 0)
SINT_TYPES(SHR_SINT)
static const tt_bcast_fn shr_signed_fns[TT_DTYPE_COUNT] = {
    [TETHER_DTYPE_INT8] = shr_INT8, [TETHER_DTYPE_INT16] = shr_INT16,
    [TETHER_DTYPE_INT32] = shr_INT32, [TETHER_DTYPE_INT64] = shr_INT64,
};
/* Equal on strings (opset 19 allows them). String elements are char pointers. */
typedef char *str;
TT_BINARY_LOOP(equal_string, str, str, TT_AS_IS, uint8_t, strcmp(A ? A : "", B ? B : "") == 0)

/* ---- binary ops ------------------------------------------------------------------------------ */

/* Output dtype OUT_SAME: the inputs' own; otherwise bool. */
#define OUT_SAME TETHER_DTYPE_UNDEFINED

static tt_status infer_binary(tt_ictx *c, tt_dtype out)
{
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    TT_TRY(tt_infer_binary(c, &r, dims));
    tt_infer_tensor(c, 0, out == OUT_SAME ? c->in[0]->dtype : out, r, dims);
    return TT_OK;
}

static tt_status infer_bool_out(tt_ictx *c) { return infer_binary(c, TETHER_DTYPE_BOOL); }
static tt_status infer_same_out(tt_ictx *c) { return infer_binary(c, OUT_SAME); }

static tt_status run_binary(tt_kctx *c, const tt_bcast_fn *fns)
{
    const tt_tensor *a = tt_kin(c, 0);
    tt_tensor b;
    TT_TRY(tt_binary_rhs(c, &b));
    tt_bcast_fn fn = a->dtype == TETHER_DTYPE_STRING && fns == equal_fns ? equal_string : fns[a->dtype];
    if (!fn)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "dtype %s is not supported", tt_dtype_name(a->dtype));
    const tt_tensor *ins[2] = {a, &b};
    return tt_bcast_apply(tt_kout(c, 0), 2, ins, fn, NULL);
}

#define RUN_BINARY(NAME) \
    static tt_status run_##NAME(tt_kctx *c) { return run_binary(c, NAME##_fns); }
RUN_BINARY(equal)
RUN_BINARY(greater)
RUN_BINARY(greater_equal)
RUN_BINARY(less)
RUN_BINARY(less_equal)
RUN_BINARY(and)
RUN_BINARY(or)
RUN_BINARY(xor)

static tt_status shift_left(const tt_node *n, bool *left)
{
    const char *d = tt_attr_string(n, "direction", NULL);
    if (!d || (strcmp(d, "LEFT") != 0 && strcmp(d, "RIGHT") != 0))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute direction must be \"LEFT\" or \"RIGHT\", got %s%.40s%s",
                           d ? "\"" : "", d ? d : "none", d ? "\"" : "");
    *left = d[0] == 'L';
    return TT_OK;
}

static tt_status infer_bitshift(tt_ictx *c)
{
    bool left;
    TT_TRY(shift_left(c->node, &left));
    return infer_same_out(c);
}

static tt_status run_bitshift(tt_kctx *c)
{
    bool left = false;
    TT_TRY(shift_left(c->node, &left));
    return run_binary(c, left ? shl_fns : tt_dtype_is_signed(tt_kin(c, 0)->dtype) ? shr_signed_fns : shr_fns);
}

/* ---- unary: Not, IsNaN, IsInf ---------------------------------------------------------------- */

typedef struct unary_job {
    const void *x;
    uint8_t *y;
    tt_dtype dt;
    bool pos, neg; /* IsInf: which infinities count */
} unary_job;

/* A unary op with a bool result over the float types: EXPR tests X (float or double). */
#define FLOAT_TEST(NAME, EXPR)                                                                 \
    static void NAME##_range(void *arg, int64_t b, int64_t e)                                  \
    {                                                                                          \
        const unary_job *j = arg;                                                              \
        switch (j->dt) {                                                                       \
            FLOAT_TEST_CASE(FLOAT, float, TT_AS_IS, EXPR)                                      \
            FLOAT_TEST_CASE(DOUBLE, double, TT_AS_IS, EXPR)                                    \
            FLOAT_TEST_CASE(FLOAT16, uint16_t, tt_f16_to_f32, EXPR)                            \
            FLOAT_TEST_CASE(BFLOAT16, uint16_t, tt_bf16_to_f32, EXPR)                          \
        default: return;                                                                       \
        }                                                                                      \
    }
#define FLOAT_TEST_CASE(N, ST, LOAD, EXPR)                                                     \
    case TETHER_DTYPE_##N: {                                                                   \
        const ST *x = j->x;                                                                    \
        for (int64_t i = b; i < e; i++) {                                                      \
            const double X = LOAD(x[i]);                                                       \
            j->y[i] = (EXPR);                                                                  \
        }                                                                                      \
        return;                                                                                \
    }

FLOAT_TEST(isnan, X != X)
FLOAT_TEST(isinf, (X == INFINITY && j->pos) || (X == -INFINITY && j->neg))

static void not_range(void *arg, int64_t b, int64_t e)
{
    const unary_job *j = arg;
    const uint8_t *x = j->x;
    for (int64_t i = b; i < e; i++)
        j->y[i] = !x[i];
}

static tt_status infer_test(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (!x)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input 0 is required");
    tt_infer_tensor(c, 0, TETHER_DTYPE_BOOL, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_test(tt_kctx *c, tt_map_fn range, bool pos, bool neg)
{
    const tt_tensor *x = tt_kin(c, 0);
    unary_job j = {.x = x->data, .y = tt_kout(c, 0)->data, .dt = x->dtype, .pos = pos, .neg = neg};
    tt_map(tt_tensor_numel(x), range, &j);
    return TT_OK;
}

static tt_status run_not(tt_kctx *c) { return run_test(c, not_range, false, false); }
static tt_status run_isnan(tt_kctx *c) { return run_test(c, isnan_range, false, false); }
static tt_status run_isinf(tt_kctx *c)
{
    return run_test(c, isinf_range, tt_attr_int(c->node, "detect_positive", 1) != 0,
                    tt_attr_int(c->node, "detect_negative", 1) != 0);
}

/* ---- Where ----------------------------------------------------------------------------------- */

/* Selection moves elements by size; strings select pointers first and are copied after. */
typedef struct pair64 {
    uint64_t lo, hi;
} pair64;

#define SELECT_LOOP(NAME, T)                                                                   \
    static void NAME(char *const *p, const int64_t *st, int64_t n, void *arg)                  \
    {                                                                                          \
        (void)arg;                                                                             \
        T *o = (T *)p[0];                                                                      \
        if (st[1] == 1 && st[2] == sizeof(T) && st[3] == sizeof(T)) {                          \
            const uint8_t *cond = (const uint8_t *)p[1];                                       \
            const T *x = (const T *)p[2], *y = (const T *)p[3];                                \
            for (int64_t i = 0; i < n; i++)                                                    \
                o[i] = cond[i] ? x[i] : y[i];                                                  \
            return;                                                                            \
        }                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                        \
            o[i] = *(const uint8_t *)(p[1] + i * st[1]) ? *(const T *)(p[2] + i * st[2])       \
                                                        : *(const T *)(p[3] + i * st[3]);      \
    }
SELECT_LOOP(select_1, uint8_t)
SELECT_LOOP(select_2, uint16_t)
SELECT_LOOP(select_4, uint32_t)
SELECT_LOOP(select_8, uint64_t)
SELECT_LOOP(select_16, pair64)
SELECT_LOOP(select_ptr, str)

static tt_status infer_where(tt_ictx *c)
{
    TT_TRY(tt_infer_check_dtype(c, 0, TT_DT(TETHER_DTYPE_BOOL)));
    TT_TRY(tt_infer_same_dtype(c, 1, 2));
    const tt_type *x = tt_iin(c, 1);
    if (!x || !tt_iin(c, 0) || !tt_iin(c, 2))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs inputs condition, X and Y");
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    TT_TRY(tt_infer_broadcast(c, 0, 3, &r, dims));
    tt_infer_tensor(c, 0, x->dtype, r, dims);
    return TT_OK;
}

static tt_status run_where(tt_kctx *c)
{
    const tt_tensor *ins[3] = {tt_kin(c, 0), tt_kin(c, 1), tt_kin(c, 2)};
    tt_tensor *y = tt_kout(c, 0);
    if (y->dtype != TETHER_DTYPE_STRING) {
        size_t es = tt_dtype_size(y->dtype);
        tt_bcast_fn fn = es == 1 ? select_1 : es == 2 ? select_2 : es == 4 ? select_4 : es == 8 ? select_8 : select_16;
        return tt_bcast_apply(y, 3, ins, fn, NULL);
    }
    int64_t n = tt_tensor_numel(y);
    tt_tensor picked = *y;
    picked.buf = NULL;
    picked.data = tt_malloc((size_t)(n ? n : 1) * sizeof(char *));
    if (!picked.data)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory selecting %" PRId64 " strings", n);
    tt_status s = tt_bcast_apply(&picked, 3, ins, select_ptr, NULL);
    char *const *src = picked.data;
    for (int64_t i = 0; i < n && s == TT_OK; i++)
        s = tt_tensor_set_string(y, i, src[i] ? src[i] : "", src[i] ? strlen(src[i]) : 0);
    tt_free(picked.data);
    return s;
}

/* ---- the table ------------------------------------------------------------------------------- */

#define NUM_TYPES TT_DTS_NUMERIC
#define BOOL_ONLY TT_DT(TETHER_DTYPE_BOOL)

const tt_op_schema tt_schemas_logic[] = {
    TT_SCHEMA("Equal", 1, 0, infer_bool_out),
    TT_SCHEMA("Greater", 1, 0, infer_bool_out),
    TT_SCHEMA("GreaterOrEqual", 12, 0, infer_bool_out),
    TT_SCHEMA("Less", 1, 0, infer_bool_out),
    TT_SCHEMA("LessOrEqual", 12, 0, infer_bool_out),
    TT_SCHEMA("And", 1, 0, infer_bool_out),
    TT_SCHEMA("Or", 1, 0, infer_bool_out),
    TT_SCHEMA("Xor", 1, 0, infer_bool_out),
    TT_SCHEMA("BitShift", 11, 0, infer_bitshift),
    TT_SCHEMA("Not", 1, 0, infer_test),
    TT_SCHEMA("IsNaN", 9, 0, infer_test),
    TT_SCHEMA("IsInf", 10, 0, infer_test),
    TT_SCHEMA("Where", 9, 0, infer_where),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_logic[] = {
    TT_KERNEL("Equal", 1, 0, NUM_TYPES | BOOL_ONLY | TT_DT(TETHER_DTYPE_STRING), run_equal),
    TT_KERNEL("Greater", 1, 0, NUM_TYPES, run_greater),
    TT_KERNEL("GreaterOrEqual", 12, 0, NUM_TYPES, run_greater_equal),
    TT_KERNEL("Less", 1, 0, NUM_TYPES, run_less),
    TT_KERNEL("LessOrEqual", 12, 0, NUM_TYPES, run_less_equal),
    TT_KERNEL("And", 1, 0, BOOL_ONLY, run_and),
    TT_KERNEL("Or", 1, 0, BOOL_ONLY, run_or),
    TT_KERNEL("Xor", 1, 0, BOOL_ONLY, run_xor),
    TT_KERNEL("BitShift", 11, 27, TT_DTS_UINT, run_bitshift),
    TT_KERNEL("BitShift", 28, 0, TT_DTS_INT, run_bitshift),
    TT_KERNEL("Not", 1, 0, BOOL_ONLY, run_not),
    TT_KERNEL("IsNaN", 9, 0, TT_DTS_FLOAT, run_isnan),
    TT_KERNEL("IsInf", 10, 0, TT_DTS_FLOAT, run_isinf),
    TT_KERNEL("Where", 9, 0, 0, run_where, .type_input = 1),
    TT_KERNEL_END,
};
