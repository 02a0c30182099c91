/* Operators of group 'nn' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_nn[] = {
    TT_OP_END,
};
