/* Operators of group 'resize' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_resize[] = {
    TT_OP_END,
};
