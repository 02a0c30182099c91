/* Operators of group 'rnn' (see ops/groups.h). */
#include "ops/util.h"

const tt_op_def tt_ops_rnn[] = {
    TT_OP_END,
};
