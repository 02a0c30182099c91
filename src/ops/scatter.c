/* Operators of group 'scatter' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_scatter[] = {
    TT_OP_END,
};
