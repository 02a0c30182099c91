/* Operators of group 'index' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_index[] = {
    TT_OP_END,
};
