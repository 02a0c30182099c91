/* Operators of group 'quant' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_quant[] = {
    TT_OP_END,
};
