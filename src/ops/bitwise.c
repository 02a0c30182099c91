/* Bitwise ops (opset 18: BitwiseAnd, BitwiseOr, BitwiseXor with numpy broadcasting,
 * BitwiseNot) over the integer types, and BitCast (26), which reinterprets a tensor's bytes
 * as another type of the same width. */
#include "ops/util.h"

#include <inttypes.h>

#define BITWISE_TYPES(X, NAME, EXPR)                                                                                   \
    X(INT8, int8_t, NAME, EXPR) X(INT16, int16_t, NAME, EXPR) X(INT32, int32_t, NAME, EXPR)                            \
    X(INT64, int64_t, NAME, EXPR) X(UINT8, uint8_t, NAME, EXPR) X(UINT16, uint16_t, NAME, EXPR)                        \
    X(UINT32, uint32_t, NAME, EXPR) X(UINT64, uint64_t, NAME, EXPR)
#define BW_LOOP(E, T, NAME, EXPR) TT_BINARY_LOOP(NAME##_##E, T, T, TT_AS_IS, T, EXPR)
#define BW_SLOT(E, T, NAME, EXPR) [TETHER_DTYPE_##E] = NAME##_##E,
#define BITWISE_OP(NAME, EXPR)                                                                                         \
    BITWISE_TYPES(BW_LOOP, NAME, EXPR)                                                                                 \
    static const tt_bcast_fn NAME##_fns[TT_DTYPE_COUNT] = {BITWISE_TYPES(BW_SLOT, NAME, EXPR)};

BITWISE_OP(band, A & B)
BITWISE_OP(bor, A | B)
BITWISE_OP(bxor, A ^ B)

static tt_status infer_bitwise(tt_ictx *c)
{
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    int r = 0;
    int64_t dims[TT_MAX_RANK];
    TT_TRY(tt_infer_binary(c, &r, dims));
    tt_infer_tensor(c, 0, c->in[0]->dtype, r, dims);
    return TT_OK;
}

static tt_status run_bitwise(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    const char *op = c->node->op_type;
    const tt_bcast_fn *fns = strcmp(op, "BitwiseAnd") == 0 ? band_fns : strcmp(op, "BitwiseOr") == 0 ? bor_fns : bxor_fns;
    const tt_tensor *ins[2] = {a, b};
    return tt_bcast_apply(tt_kout(c, 0), 2, ins, fns[a->dtype], NULL);
}

static tt_status infer_not(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    return tt_infer_same(c, 0, 0);
}

typedef struct not_job {
    const uint8_t *x;
    uint8_t *y;
} not_job;

static void not_range(void *arg, int64_t b, int64_t e)
{
    const not_job *j = arg;
    for (int64_t i = b; i < e; i++)
        j->y[i] = (uint8_t)~j->x[i];
}

static tt_status run_not(tt_kctx *c)
{
    /* ~ of every byte is ~ of every integer, whatever its width */
    const tt_tensor *x = tt_kin(c, 0);
    not_job j = {x->data, tt_kout(c, 0)->data};
    tt_map((int64_t)tt_tensor_nbytes(x), not_range, &j);
    return TT_OK;
}

/* ---- BitCast ----------------------------------------------------------------------------- */

#define BITCAST_TYPES (TT_DTS_ANY & ~TT_DT(TETHER_DTYPE_STRING))

static tt_status bitcast_target(const tt_node *n, tt_dtype *to)
{
    const tt_attr *a = tt_node_attr(n, "to");
    if (!a || a->type != TT_ATTR_INT)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "attribute 'to' (an int) is required");
    if (a->i <= 0 || a->i >= TT_DTYPE_COUNT || !((BITCAST_TYPES >> a->i) & 1))
        return tt_op_error(n, a->i > 0 && a->i <= 28 ? TETHER_ERR_UNSUPPORTED : TETHER_ERR_INVALID_MODEL,
                           "attribute 'to' = %" PRId64 " is not a type BitCast supports", a->i);
    *to = (tt_dtype)a->i;
    return TT_OK;
}

static tt_status infer_bitcast(tt_ictx *c)
{
    const tt_type *x;
    tt_dtype to = TETHER_DTYPE_UNDEFINED;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(bitcast_target(c->node, &to));
    if (x->dtype && tt_dtype_bits(x->dtype) != tt_dtype_bits(to))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "cannot reinterpret %s (%d bits) as %s (%d bits)",
                           tt_dtype_name(x->dtype), tt_dtype_bits(x->dtype), tt_dtype_name(to), tt_dtype_bits(to));
    tt_infer_tensor(c, 0, to, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_bitcast(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    memcpy(y->data, x->data, tt_tensor_nbytes(x));
    if (y->dtype == TETHER_DTYPE_BOOL) { /* tether's bools are 0 or 1 */
        uint8_t *b = y->data;
        for (size_t i = 0; i < tt_tensor_nbytes(y); i++)
            b[i] = b[i] != 0;
    }
    return TT_OK;
}

const tt_op_schema tt_schemas_bitwise[] = {
    TT_SCHEMA("BitwiseAnd", 18, 0, infer_bitwise),
    TT_SCHEMA("BitwiseOr", 18, 0, infer_bitwise),
    TT_SCHEMA("BitwiseXor", 18, 0, infer_bitwise),
    TT_SCHEMA("BitwiseNot", 18, 0, infer_not),
    TT_SCHEMA("BitCast", 26, 0, infer_bitcast),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_bitwise[] = {
    TT_KERNEL("BitwiseAnd", 18, 0, TT_DTS_INT, run_bitwise),
    TT_KERNEL("BitwiseOr", 18, 0, TT_DTS_INT, run_bitwise),
    TT_KERNEL("BitwiseXor", 18, 0, TT_DTS_INT, run_bitwise),
    TT_KERNEL("BitwiseNot", 18, 0, TT_DTS_INT, run_not),
    TT_KERNEL("BitCast", 26, 0, BITCAST_TYPES, run_bitcast),
    TT_KERNEL_END,
};
