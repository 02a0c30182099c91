/* Operators of group 'cast' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_cast[] = {
    TT_OP_END,
};
