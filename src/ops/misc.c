/* Operators of group 'misc' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_misc[] = {
    TT_OP_END,
};
