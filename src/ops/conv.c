/* Operators of group 'conv' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_conv[] = {
    TT_OP_END,
};
