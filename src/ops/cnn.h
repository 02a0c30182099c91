/* tether's own CNN ops (domain com.tether, src/ops/cnn.c), shared by the passes that make
 * them (src/graph/pass_conv.c, pass_layout.c) and the backends that run them.
 *
 * Channel-blocked layouts. A tensor of logical shape [N, C, d1..dk] in blocks of b channels
 * is stored as [N, ceil(C / b), d1..dk, b]: element (n, c, p) at block c / b, lane c % b.
 * Its type in the graph *is* that physical shape, so the executor, the memory planner and
 * every shape-agnostic kernel (elementwise ops) need nothing new; the lanes past C (the
 * padding of the last block) hold zeros. Only the ops below read blocked tensors, and the
 * layout pass converts back (FromBlocked, which carries C) wherever a plain tensor is read. */
#ifndef TT_OPS_CNN_H
#define TT_OPS_CNN_H

#include "ops/nnutil.h"

/* The activations a FusedConv applies last. */
typedef enum tt_conv_act {
    TT_CONV_ACT_NONE = 0,
    TT_CONV_ACT_RELU,          /* max(x, 0) */
    TT_CONV_ACT_LEAKY_RELU,    /* x < 0 ? alpha x : x */
    TT_CONV_ACT_CLIP,          /* min(max(x, alpha), beta) */
    TT_CONV_ACT_SIGMOID,
    TT_CONV_ACT_TANH,
    TT_CONV_ACT_HARD_SIGMOID,  /* clamp(alpha x + beta, 0, 1) */
    TT_CONV_ACT_HARD_SWISH,    /* x clamp(x / 6 + 1/2, 0, 1) */
} tt_conv_act;

/* "Relu", "Clip", ... as the ONNX op of the same name; "" is TT_CONV_ACT_NONE. False for others. */
bool tt_conv_act_parse(const char *name, tt_conv_act *out);
const char *tt_conv_act_name(tt_conv_act a);
/* Applies a to x[0..n) in place, as the ONNX op of its name would. */
void tt_conv_act_apply(tt_conv_act a, float alpha, float beta, float *x, int64_t n);

/* FusedConv's node state: Conv's attributes first (Conv's reference kernel reads them). */
typedef struct tt_fused_conv_attrs {
    tt_win_attrs a;
    tt_conv_act act;
    float alpha, beta;   /* the activation's parameters */
    int64_t block;       /* the output's channel block; 0: plain */
    tt_precision precision; /* what a backend may compute in ("precision": "", "fp32", "bf16",
                               "int8"); the reference kernel computes in float32 */
} tt_fused_conv_attrs;

/* Whether b is a channel block the ops take. */
static inline bool tt_block_valid(int64_t b) { return b == 4 || b == 8 || b == 16; }
/* Blocks of b channels that hold c. */
static inline int64_t tt_blocks(int64_t c, int64_t b) { return (c + b - 1) / b; }

/* Plain [N, C, sp] to blocked [N, ceil(C/b), sp, b] (padding lanes zeroed), and back. */
void tt_block_f32(const float *x, float *y, int64_t N, int64_t C, int64_t sp, int64_t b);
void tt_unblock_f32(const float *x, float *y, int64_t N, int64_t C, int64_t sp, int64_t b);

#endif
