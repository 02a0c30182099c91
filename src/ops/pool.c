/* Operators of group 'pool' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_pool[] = {
    TT_OP_END,
};
