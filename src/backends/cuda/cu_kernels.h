/* The CUDA C kernels' launchers, called from the plugin's C files. Every launcher queues
 * its work on the given stream and returns at once; the caller checks cudaGetLastError.
 * Shapes arrive as int64 dims and element strides (0 for a broadcast dim) of at most
 * CU_MAX_RANK dims. Pure C declarations, so both sides include them. */
#ifndef TT_CUDA_KERNELS_H
#define TT_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CU_MAX_RANK 8

/* ---- elementwise programs ------------------------------------------------------------------- */

/* A unary function of one float with up to two parameters. */
typedef enum cu_ew_op {
    CU_EW_IDENTITY = 0,
    CU_EW_RELU,
    CU_EW_SIGMOID,
    CU_EW_TANH,
    CU_EW_EXP,
    CU_EW_LOG,
    CU_EW_SQRT,
    CU_EW_NEG,
    CU_EW_ABS,
    CU_EW_ERF,
    CU_EW_RECIP,
    CU_EW_FLOOR,
    CU_EW_CEIL,
    CU_EW_ROUND,           /* half to even */
    CU_EW_SIN,
    CU_EW_COS,
    CU_EW_SIGN,
    CU_EW_GELU,            /* x * Phi(x), exact (erf) */
    CU_EW_GELU_TANH,       /* the tanh approximation */
    CU_EW_CLIP,            /* min(max(x, a), b) */
    CU_EW_LEAKY_RELU,      /* a: alpha */
    CU_EW_ELU,             /* a: alpha */
    CU_EW_SELU,            /* a: alpha, b: gamma */
    CU_EW_HARD_SIGMOID,    /* max(0, min(1, a*x + b)) */
    CU_EW_HARD_SWISH,
    CU_EW_SOFTPLUS,
    CU_EW_SOFTSIGN,
    CU_EW_MISH,
    CU_EW_SILU,            /* x * sigmoid(x) */
    CU_EW_MUL_C,           /* x * a */
    CU_EW_ADD_C,           /* x + a */
    CU_EW_POW_C,           /* x ** a */
    CU_EW_COUNT
} cu_ew_op;

#define CU_EW_MAX_STEPS 8
/* Up to CU_EW_MAX_STEPS unary steps applied in order in one pass over memory. */
typedef struct cu_ew_prog {
    int n;
    int op[CU_EW_MAX_STEPS];
    float a[CU_EW_MAX_STEPS], b[CU_EW_MAX_STEPS];
} cu_ew_prog;

/* y[i] = prog(x[i]) for n elements (y may be x). */
void cu_ew_unary(cudaStream_t s, const cu_ew_prog *prog, const float *x, float *y, int64_t n);

typedef enum cu_bin_op {
    CU_BIN_ADD = 0,
    CU_BIN_SUB,
    CU_BIN_MUL,
    CU_BIN_DIV,
    CU_BIN_POW,
    CU_BIN_MAX,
    CU_BIN_MIN,
    CU_BIN_PRELU,          /* a < 0 ? a * b : a */
    CU_BIN_MOD,            /* fmod (fmod=1) */
    CU_BIN_COUNT
} cu_bin_op;

/* y = post(a OP b) over the broadcast shape dims[0..rank): as/bs are a's and b's element
 * strides in that shape (0 where broadcast). post may be NULL. */
void cu_ew_binary(cudaStream_t s, int op, int rank, const int64_t *dims, const int64_t *as, const int64_t *bs,
                  const float *a, const float *b, float *y, const cu_ew_prog *post);

/* out = cond ? x : y with broadcasting (strides as above; cond holds bytes). */
void cu_where(cudaStream_t s, int rank, const int64_t *dims, const int64_t *cs, const int64_t *xs, const int64_t *ys,
              const uint8_t *cond, const float *x, const float *y, float *out);

/* Element conversion between tether dtypes (float32, float16, bfloat16, double, int8/16/32/64,
 * uint8, bool); false when a pair is not supported. */
int cu_cast_supported(int from, int to);
void cu_cast(cudaStream_t s, int from, int to, const void *x, void *y, int64_t n);

/* ---- data movement --------------------------------------------------------------------------- */

/* y[i] = x[offset + sum_d idx_d(i) * xs[d]] over dims[0..rank) with elements of es bytes
 * (1, 2, 4 or 8): transposes, slices, expands. */
void cu_strided_copy(cudaStream_t s, int es, int rank, const int64_t *dims, const int64_t *xs, int64_t offset,
                     const void *x, void *y);
/* n elements of es bytes set to *value. */
void cu_fill(cudaStream_t s, int es, const void *value, void *y, int64_t n);
/* out[o, j, i] = data[o, idx[j], i] with idx int32 or int64 (negative counts from the end);
 * an index out of [-axis_dim, axis_dim) writes zeros and sets *err = code. */
void cu_gather(cudaStream_t s, int es, int64_t outer, int64_t axis_dim, int64_t inner, const void *data,
               const void *idx, int idx64, int64_t n_idx, void *out, int *err, int code);
/* Pad: mode 0 constant (value), 1 reflect, 2 edge, 3 wrap. pads_begin may be negative (crop). */
void cu_pad(cudaStream_t s, int mode, int rank, const int64_t *out_dims, const int64_t *in_dims,
            const int64_t *pads_begin, const float *x, float *y, float value);

/* ---- neural-network layers -------------------------------------------------------------------- */

/* Softmax (or log-softmax) along the middle dim of [outer, n, inner]. */
void cu_softmax(cudaStream_t s, const float *x, float *y, int64_t outer, int64_t n, int64_t inner, int log);
/* Layer normalisation of rows of `cols` elements: y = (x - mean) / sqrt(var + eps) * scale +
 * bias (scale and bias may be NULL); mean and inv_std (per row) may be NULL. */
void cu_layernorm(cudaStream_t s, const float *x, const float *scale, const float *bias, float *y, float *mean,
                  float *inv_std, int64_t rows, int64_t cols, float eps);
/* Batch normalisation (inference) over [n, c, hw]. post may be NULL. */
void cu_batchnorm(cudaStream_t s, const float *x, const float *scale, const float *bias, const float *mean,
                  const float *var, float *y, int64_t n, int64_t c, int64_t hw, float eps, const cu_ew_prog *post);
/* y[n, c, hw] = post(x + bias[c]) in place of y (bias may be NULL). */
void cu_bias_act(cudaStream_t s, float *y, const float *bias, int64_t n, int64_t c, int64_t hw,
                 const cu_ew_prog *post);
/* Window pools over up to 3 spatial dims (padded in front with 1s). kind 0 max, 1 average
 * (count_include_pad), 2 Lp (p). */
typedef struct cu_pool_geom {
    int64_t n, c;
    int64_t in[3], out[3], kernel[3], stride[3], dilation[3], pad[3], pad_end[3];
    int kind, count_include_pad;
    float p;
} cu_pool_geom;
void cu_pool(cudaStream_t s, const cu_pool_geom *g, const float *x, float *y);
/* Global pools: y[r] = max / mean of x[r, 0..n). kind 0 max, 1 average. */
void cu_global_pool(cudaStream_t s, int kind, const float *x, float *y, int64_t rows, int64_t n);

typedef enum cu_red_op {
    CU_RED_SUM = 0,
    CU_RED_MEAN,
    CU_RED_MAX,
    CU_RED_MIN,
    CU_RED_PROD,
    CU_RED_SUMSQ,
    CU_RED_L1,
    CU_RED_L2,
    CU_RED_LOGSUM,
    CU_RED_LOGSUMEXP,
    CU_RED_COUNT
} cu_red_op;
/* y[o, i] = reduce over j of x[o, j, i]. */
void cu_reduce(cudaStream_t s, int op, const float *x, float *y, int64_t outer, int64_t n, int64_t inner);

/* Resize over the last two dims of [nc, ih, iw] → [nc, oh, ow]. mode 0 nearest, 1 linear,
 * 2 cubic; coord 0 half_pixel, 1 asymmetric, 2 align_corners, 3 pytorch_half_pixel,
 * 4 tf_half_pixel_for_nn; nearest 0 round_prefer_floor, 1 round_prefer_ceil, 2 floor, 3 ceil.
 * scale_h/scale_w: the output/input scales the coordinates use. */
typedef struct cu_resize_geom {
    int64_t nc, ih, iw, oh, ow;
    float scale_h, scale_w;
    int mode, coord, nearest;
    float cubic_a;
    int exclude_outside;
} cu_resize_geom;
void cu_resize(cudaStream_t s, const cu_resize_geom *g, const float *x, float *y);

/* Fused attention: out[b, h, i, :] = softmax(scale * q[b,h,i,:] . k[b,h,j,:] + mask) v[b,h,j,:]
 * over j. Strides in elements for [b, h, row, col] of each operand (0 broadcasts); mask may be
 * NULL; causal masks j > i + (lk - lq). Keys stream through shared memory in tiles with an
 * online softmax, so lk has no limit; d, dv <= CU_ATTN_MAX_DIM. A row whose scores are all
 * -inf is NaN, as the reference's is. */
#define CU_ATTN_MAX_DIM 256
typedef struct cu_attn_geom {
    int64_t b, h, lq, lk, d, dv;
    int64_t qs[4], ks[4], vs[4], ms[4], os[4];
    float scale;
    int causal;
} cu_attn_geom;
void cu_attention(cudaStream_t s, const cu_attn_geom *g, const float *q, const float *k, const float *v,
                  const float *mask, float *out);

#ifdef __cplusplus
}
#endif

#endif
