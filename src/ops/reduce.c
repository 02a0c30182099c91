/* Operators of group 'reduce' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_reduce[] = {
    TT_OP_END,
};
