/* Operators of group 'seq' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_seq[] = {
    TT_OP_END,
};
