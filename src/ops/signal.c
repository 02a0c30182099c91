/* Operators of group 'signal' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_signal[] = {
    TT_OP_END,
};
