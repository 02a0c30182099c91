/* Helpers shared by the neural-network layer ops (conv.c, pool.c, nn.c, resize.c): the
 * sliding-window geometry of Conv, ConvTranspose and the pools (one place for pads,
 * strides, dilations, auto_pad and output sizes), and running float kernels on narrow types. */
#ifndef TT_OPS_NNUTIL_H
#define TT_OPS_NNUTIL_H

#include "ops/util.h"

/* Window ops take up to three spatial dims. Geometry is stored padded in front with
 * size-1 dims (kernel 1, stride 1, no pads) so every kernel needs one 3-deep loop nest. */
#define TT_WIN_DIMS 3

typedef enum tt_auto_pad {
    TT_AUTO_PAD_NOTSET,
    TT_AUTO_PAD_SAME_UPPER,
    TT_AUTO_PAD_SAME_LOWER,
    TT_AUTO_PAD_VALID,
} tt_auto_pad;

/* A window op's attributes, parsed and checked once at load (kept as node->state). A list
 * with n_* == 0 was absent and takes its default. */
typedef struct tt_win_attrs {
    tt_auto_pad auto_pad;
    bool ceil_mode;
    int64_t group;
    int n_kernel, n_strides, n_dilations, n_pads, n_out_pad, n_out_shape;
    int64_t kernel[TT_WIN_DIMS], strides[TT_WIN_DIMS], dilations[TT_WIN_DIMS], pads[2 * TT_WIN_DIMS];
    int64_t out_pad[TT_WIN_DIMS], out_shape[TT_WIN_DIMS + 2];
} tt_win_attrs;

/* The geometry of one call, padded to TT_WIN_DIMS: the real spatial dims are the last nsp.
 * At load, sizes may be unknown (< 0): `out` is then unknown too. */
typedef struct tt_win {
    int nsp;
    int64_t in[TT_WIN_DIMS], out[TT_WIN_DIMS], kernel[TT_WIN_DIMS], stride[TT_WIN_DIMS], dilation[TT_WIN_DIMS];
    int64_t pad_begin[TT_WIN_DIMS], pad_end[TT_WIN_DIMS];
} tt_win;

/* Reads kernel_shape, strides, dilations, pads, auto_pad, ceil_mode, group, output_padding
 * and output_shape where present; rejects non-positive strides, dilations, kernel sizes and
 * groups, negative pads, and lists longer than TT_WIN_DIMS spatial dims. */
tt_status tt_win_attrs_parse(const tt_node *n, tt_win_attrs *a);
/* prepare for window ops: a tt_win_attrs as node state. */
tt_status tt_win_prepare(tt_node *node, void **state);

/* Geometry of a forward window (Conv, pools) over nsp spatial dims: `kernel` gives the
 * kernel's spatial sizes (NULL: the kernel_shape attribute, which is then required), `in`
 * the input's. Checks list lengths against nsp and that every known output size is > 0. */
tt_status tt_win_forward(const tt_node *n, const tt_win_attrs *a, int nsp, const int64_t *kernel, const int64_t *in,
                         tt_win *w);
/* Geometry of ConvTranspose: output sizes from output_shape, or from the input, strides,
 * output_padding and pads (auto_pad SAME_*: input * stride). pad_begin/pad_end are what the
 * full transposed output is cropped by. */
tt_status tt_win_transpose(const tt_node *n, const tt_win_attrs *a, int nsp, const int64_t *kernel, const int64_t *in,
                           tt_win *w);

/* The parsed attributes of the windowed pools (MaxPool, AveragePool, LpPool, MaxUnpool,
 * GlobalLpPool), their node state. */
typedef struct tt_pool_attrs {
    tt_win_attrs a;
    bool count_include_pad;
    bool col_major; /* MaxPool storage_order 1: Indices count the spatial dims column-major */
    double p;       /* LpPool's exponent */
} tt_pool_attrs;
tt_status tt_pool_parse(tt_node *node, void **state);

/* The schemas' inference and the reference kernels of Conv and the pools, for tether's own
 * ops that run them on another view of their tensors (src/ops/cnn.c). Conv's read node state
 * beginning with a tt_win_attrs, the pools' a tt_pool_attrs. */
tt_status tt_conv_infer(tt_ictx *c);
tt_status tt_conv_ref(tt_kctx *c);
tt_status tt_pool_infer(tt_ictx *c);
tt_status tt_global_pool_infer(tt_ictx *c);
tt_status tt_maxpool_ref(tt_kctx *c);
tt_status tt_avgpool_ref(tt_kctx *c);
tt_status tt_global_maxpool_ref(tt_kctx *c);
tt_status tt_global_avgpool_ref(tt_kctx *c);

/* Index of the first and one past the last output position o in [0, out) whose tap
 * o * stride + off falls inside [0, in): the in-bounds run of one kernel offset. */
static inline void tt_win_run(int64_t out, int64_t in, int64_t stride, int64_t off, int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t h = in - off <= 0 ? 0 : (in - off - 1) / stride + 1;
    *lo = l < out ? l : out;
    *hi = h < *lo ? *lo : h > out ? out : h;
}

/* Scratch memory for a * b * c elements of es bytes (aligned; free with tt_free_aligned), or
 * NULL with an error naming the node when the size overflows or passes the tensor size limit. */
void *tt_nn_scratch(const tt_node *node, size_t es, int64_t a, int64_t b, int64_t c);

/* ---- explicit SIMD ------------------------------------------------------------------- */

/* Four floats as one value (GCC/Clang vector extensions). At -O2 GCC vectorises no loop
 * whose length is unknown, so the hottest loops spell their SIMD out with this type, which
 * every x86-64 and arm64 target holds in one register. Loads and stores need no alignment. */
typedef float tt_f32x4 __attribute__((vector_size(16)));

static inline tt_f32x4 tt_f32x4_load(const float *p)
{
    tt_f32x4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void tt_f32x4_store(float *p, tt_f32x4 v)
{
    memcpy(p, &v, sizeof v);
}
static inline tt_f32x4 tt_f32x4_splat(float f)
{
    return (tt_f32x4){f, f, f, f};
}

/* ---- narrow types ------------------------------------------------------------------ */

/* Runs `kernel` with every input and output tensor of dtype `narrow` swapped for a float
 * copy; the float outputs are narrowed back afterwards (integers rounded half to even and
 * saturated). For float16, bfloat16 and 8/16-bit integers, whose values float holds exactly. */
tt_status tt_run_in_f32(tt_kctx *c, tt_dtype narrow, tt_status (*kernel)(tt_kctx *c));
/* Runs a kernel written for float and double: directly for those, through tt_run_in_f32
 * for any other dtype of input 0. */
tt_status tt_run_real(tt_kctx *c, tt_status (*kernel)(tt_kctx *c));

#endif
