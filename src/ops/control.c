/* Operators of group 'control' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_control[] = {
    TT_OP_END,
};
