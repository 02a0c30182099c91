/* Operators of group 'text' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_text[] = {
    TT_OP_END,
};
