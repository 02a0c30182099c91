/* Operators of group 'loss' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_loss[] = {
    TT_OP_END,
};
