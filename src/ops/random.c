/* Operators of group 'random' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_random[] = {
    TT_OP_END,
};
