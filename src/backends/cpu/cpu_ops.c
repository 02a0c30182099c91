/* Fast CPU kernels (oneDNN, vectorised C) registered above the reference kernels. */
#include "ops/util.h"

const tt_op_def tt_ops_cpu[] = {
    TT_OP_END,
};
