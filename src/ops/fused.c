/* tether's own ops (domain com.tether), made by graph passes and placement, never read
 * from a model file: copies between buffer types. The fusion passes' ops join them here
 * with their reference kernels. */
#include "ops/util.h"

static tt_status infer_copy(tt_ictx *c) { return tt_infer_same(c, 0, 0); }

static uint64_t flops_zero(const tt_ictx *c)
{
    (void)c;
    return 0;
}

#define TT_OWN_SCHEMA(name_, infer_, ...)                                                            \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .until = 0, .infer = infer_, __VA_ARGS__}

const tt_op_schema tt_schemas_fused[] = {
    /* copies; their kernels belong to device backends */
    TT_OWN_SCHEMA("MemcpyToDevice", infer_copy, .flops = flops_zero, .flags = TT_OP_NO_FOLD),
    TT_OWN_SCHEMA("MemcpyToHost", infer_copy, .flops = flops_zero, .flags = TT_OP_NO_FOLD),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_fused[] = {
    TT_KERNEL_END,
};
