/* Operators of group 'logic' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_logic[] = {
    TT_OP_END,
};
