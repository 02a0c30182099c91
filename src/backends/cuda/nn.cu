// Layer kernels: Softmax, LayerNormalization, BatchNormalization, bias + activation
// epilogues, window and global pools, reductions over one block of axes, Resize, and the
// fused attention kernel (scores, mask, softmax and the weighted sum in one launch).
// Rows up to 1024 elements get a warp each; longer rows a block.
#include "cu_kernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

namespace {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n)
{
    int64_t b = (n + kThreads - 1) / kThreads;
    if (b < 1)
        b = 1;
    return (unsigned)(b > 16384 ? 16384 : b);
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide reductions (blockDim.x a multiple of 32, at most 1024).
__device__ float block_sum(float v, float *sh)
{
    v = warp_sum(v);
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = threadIdx.x < nw ? sh[threadIdx.x] : 0.f;
    if (w == 0)
        v = warp_sum(v);
    if (threadIdx.x == 0)
        sh[0] = v;
    __syncthreads();
    return sh[0];
}
__device__ float block_max(float v, float *sh)
{
    v = warp_max(v);
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = threadIdx.x < nw ? sh[threadIdx.x] : -FLT_MAX;
    if (w == 0)
        v = warp_max(v);
    if (threadIdx.x == 0)
        sh[0] = v;
    __syncthreads();
    return sh[0];
}

__device__ __forceinline__ float ew(int op, float x, float a, float b)
{
    switch (op) {
    case CU_EW_IDENTITY: return x;
    case CU_EW_RELU: return x > 0.f ? x : 0.f;
    case CU_EW_SIGMOID: return 1.f / (1.f + __expf(-x));
    case CU_EW_TANH: return tanhf(x);
    case CU_EW_CLIP: return fminf(fmaxf(x, a), b);
    case CU_EW_LEAKY_RELU: return x >= 0.f ? x : a * x;
    case CU_EW_GELU: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case CU_EW_GELU_TANH: return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case CU_EW_HARD_SIGMOID: return fmaxf(0.f, fminf(1.f, a * x + b));
    case CU_EW_HARD_SWISH: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case CU_EW_SILU: return x / (1.f + __expf(-x));
    case CU_EW_ELU: return x >= 0.f ? x : a * (expf(x) - 1.f);
    default: return x; // the layer epilogues use the activations above only
    }
}
__device__ __forceinline__ float post(const cu_ew_prog &p, float v)
{
    for (int i = 0; i < p.n; i++)
        v = ew(p.op[i], v, p.a[i], p.b[i]);
    return v;
}

// ---- softmax ----

// One warp per row of n <= 1024 (rows of x are contiguous: inner == 1).
__global__ void k_softmax_warp(const float *__restrict__ x, float *__restrict__ y, int64_t rows, int n, int log)
{
    int64_t row = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows)
        return;
    const float *xr = x + row * n;
    float *yr = y + row * n;
    float m = -FLT_MAX;
    for (int j = lane; j < n; j += 32)
        m = fmaxf(m, xr[j]);
    m = warp_max(m);
    float s = 0.f;
    for (int j = lane; j < n; j += 32)
        s += expf(xr[j] - m);
    s = warp_sum(s);
    if (log) {
        float ls = logf(s);
        for (int j = lane; j < n; j += 32)
            yr[j] = xr[j] - m - ls;
    } else {
        float inv = 1.f / s;
        for (int j = lane; j < n; j += 32)
            yr[j] = expf(xr[j] - m) * inv;
    }
}

__global__ void k_softmax_block(const float *__restrict__ x, float *__restrict__ y, int64_t n, int log)
{
    __shared__ float sh[32];
    const float *xr = x + blockIdx.x * n;
    float *yr = y + blockIdx.x * n;
    float m = -FLT_MAX;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        m = fmaxf(m, xr[j]);
    m = block_max(m, sh);
    float s = 0.f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        s += expf(xr[j] - m);
    s = block_sum(s, sh);
    float ls = logf(s), inv = 1.f / s;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        yr[j] = log ? xr[j] - m - ls : expf(xr[j] - m) * inv;
}

// Softmax along a strided dim: one thread per (outer, inner) column.
__global__ void k_softmax_strided(const float *__restrict__ x, float *__restrict__ y, int64_t outer, int64_t n,
                                  int64_t inner, int log)
{
    int64_t cols = outer * inner;
    for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < cols; c += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = c / inner, i = c - o * inner;
        const float *xc = x + o * n * inner + i;
        float *yc = y + o * n * inner + i;
        float m = -FLT_MAX;
        for (int64_t j = 0; j < n; j++)
            m = fmaxf(m, xc[j * inner]);
        float s = 0.f;
        for (int64_t j = 0; j < n; j++)
            s += expf(xc[j * inner] - m);
        float ls = logf(s), inv = 1.f / s;
        for (int64_t j = 0; j < n; j++)
            yc[j * inner] = log ? xc[j * inner] - m - ls : expf(xc[j * inner] - m) * inv;
    }
}

// ---- layer normalisation ----

__global__ void k_layernorm_warp(const float *__restrict__ x, const float *__restrict__ scale,
                                 const float *__restrict__ bias, float *__restrict__ y, float *mean_out,
                                 float *inv_out, int64_t rows, int n, float eps)
{
    int64_t row = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows)
        return;
    const float *xr = x + row * n;
    float *yr = y + row * n;
    float s = 0.f;
    for (int j = lane; j < n; j += 32)
        s += xr[j];
    float mean = warp_sum(s) / n;
    float v = 0.f;
    for (int j = lane; j < n; j += 32) {
        float d = xr[j] - mean;
        v += d * d;
    }
    float inv = rsqrtf(warp_sum(v) / n + eps);
    for (int j = lane; j < n; j += 32)
        yr[j] = (xr[j] - mean) * inv * (scale ? scale[j] : 1.f) + (bias ? bias[j] : 0.f);
    if (lane == 0) {
        if (mean_out)
            mean_out[row] = mean;
        if (inv_out)
            inv_out[row] = inv;
    }
}

__global__ void k_layernorm_block(const float *__restrict__ x, const float *__restrict__ scale,
                                  const float *__restrict__ bias, float *__restrict__ y, float *mean_out,
                                  float *inv_out, int64_t n, float eps)
{
    __shared__ float sh[32];
    const float *xr = x + blockIdx.x * n;
    float *yr = y + blockIdx.x * n;
    float s = 0.f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        s += xr[j];
    float mean = block_sum(s, sh) / n;
    float v = 0.f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float d = xr[j] - mean;
        v += d * d;
    }
    float inv = rsqrtf(block_sum(v, sh) / n + eps);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        yr[j] = (xr[j] - mean) * inv * (scale ? scale[j] : 1.f) + (bias ? bias[j] : 0.f);
    if (threadIdx.x == 0) {
        if (mean_out)
            mean_out[blockIdx.x] = mean;
        if (inv_out)
            inv_out[blockIdx.x] = inv;
    }
}

// ---- per-channel affine epilogues ----

__global__ void k_batchnorm(const float *__restrict__ x, const float *__restrict__ scale,
                            const float *__restrict__ bias, const float *__restrict__ mean,
                            const float *__restrict__ var, float *__restrict__ y, int64_t total, int64_t c,
                            int64_t hw, float eps, cu_ew_prog p)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ch = (i / hw) % c;
        float v = (x[i] - mean[ch]) * rsqrtf(var[ch] + eps) * scale[ch] + bias[ch];
        y[i] = post(p, v);
    }
}

__global__ void k_bias_act(float *__restrict__ y, const float *__restrict__ bias, int64_t total, int64_t c,
                           int64_t hw, cu_ew_prog p)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        float v = y[i];
        if (bias)
            v += bias[(i / hw) % c];
        y[i] = post(p, v);
    }
}

// ---- pools ----

__global__ void k_pool(cu_pool_geom g, const float *__restrict__ x, float *__restrict__ y, int64_t total)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i;
        int64_t o2 = r % g.out[2];
        r /= g.out[2];
        int64_t o1 = r % g.out[1];
        r /= g.out[1];
        int64_t o0 = r % g.out[0];
        int64_t nc = r / g.out[0];
        const float *xp = x + nc * g.in[0] * g.in[1] * g.in[2];
        float acc = g.kind == 0 ? -FLT_MAX : 0.f;
        int64_t count = 0;
        for (int64_t k0 = 0; k0 < g.kernel[0]; k0++) {
            int64_t p0 = o0 * g.stride[0] - g.pad[0] + k0 * g.dilation[0];
            for (int64_t k1 = 0; k1 < g.kernel[1]; k1++) {
                int64_t p1 = o1 * g.stride[1] - g.pad[1] + k1 * g.dilation[1];
                for (int64_t k2 = 0; k2 < g.kernel[2]; k2++) {
                    int64_t p2 = o2 * g.stride[2] - g.pad[2] + k2 * g.dilation[2];
                    bool in = p0 >= 0 && p0 < g.in[0] && p1 >= 0 && p1 < g.in[1] && p2 >= 0 && p2 < g.in[2];
                    if (!in) {
                        // padding counts for an average with count_include_pad, but only inside
                        // the padded input (not the extra of ceil_mode)
                        if (g.kind == 1 && g.count_include_pad && p0 < g.in[0] + g.pad_end[0] &&
                            p1 < g.in[1] + g.pad_end[1] && p2 < g.in[2] + g.pad_end[2])
                            count++;
                        continue;
                    }
                    float v = xp[(p0 * g.in[1] + p1) * g.in[2] + p2];
                    if (g.kind == 0)
                        acc = fmaxf(acc, v);
                    else if (g.kind == 1)
                        acc += v;
                    else
                        acc += powf(fabsf(v), g.p);
                    count++;
                }
            }
        }
        if (g.kind == 1)
            acc = count ? acc / (float)count : 0.f;
        else if (g.kind == 2)
            acc = powf(acc, 1.f / g.p);
        y[i] = acc;
    }
}

__global__ void k_global_pool_warp(int kind, const float *__restrict__ x, float *__restrict__ y, int64_t rows,
                                   int64_t n)
{
    int64_t row = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows)
        return;
    const float *xr = x + row * n;
    float acc = kind == 0 ? -FLT_MAX : 0.f;
    for (int64_t j = lane; j < n; j += 32)
        acc = kind == 0 ? fmaxf(acc, xr[j]) : acc + xr[j];
    acc = kind == 0 ? warp_max(acc) : warp_sum(acc);
    if (lane == 0)
        y[row] = kind == 0 ? acc : acc / (float)n;
}

// ---- reductions ----

__device__ __forceinline__ float red_init(int op)
{
    return op == CU_RED_MAX ? -FLT_MAX : op == CU_RED_MIN ? FLT_MAX : op == CU_RED_PROD ? 1.f : 0.f;
}
__device__ __forceinline__ float red_step(int op, float acc, float v)
{
    switch (op) {
    case CU_RED_MAX: return fmaxf(acc, v);
    case CU_RED_MIN: return fminf(acc, v);
    case CU_RED_PROD: return acc * v;
    case CU_RED_SUMSQ:
    case CU_RED_L2: return acc + v * v;
    case CU_RED_L1: return acc + fabsf(v);
    default: return acc + v;
    }
}
__device__ __forceinline__ float red_final(int op, float acc, int64_t n)
{
    switch (op) {
    case CU_RED_MEAN: return acc / (float)n;
    case CU_RED_L2: return sqrtf(acc);
    case CU_RED_LOGSUM: return logf(acc);
    default: return acc;
    }
}

__global__ void k_reduce_rows(int op, const float *__restrict__ x, float *__restrict__ y, int64_t rows, int64_t n)
{
    int64_t row = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows)
        return;
    const float *xr = x + row * n;
    float m = 0.f;
    if (op == CU_RED_LOGSUMEXP) {
        m = -FLT_MAX;
        for (int64_t j = lane; j < n; j += 32)
            m = fmaxf(m, xr[j]);
        m = warp_max(m);
    }
    float acc = op == CU_RED_LOGSUMEXP ? 0.f : red_init(op);
    for (int64_t j = lane; j < n; j += 32)
        acc = op == CU_RED_LOGSUMEXP ? acc + expf(xr[j] - m) : red_step(op, acc, xr[j]);
    for (int o = 16; o > 0; o >>= 1) {
        float other = __shfl_xor_sync(0xffffffffu, acc, o);
        acc = op == CU_RED_MAX   ? fmaxf(acc, other)
              : op == CU_RED_MIN ? fminf(acc, other)
              : op == CU_RED_PROD ? acc * other
                                  : acc + other;
    }
    if (lane == 0)
        y[row] = op == CU_RED_LOGSUMEXP ? m + logf(acc) : red_final(op, acc, n);
}

__global__ void k_reduce_strided(int op, const float *__restrict__ x, float *__restrict__ y, int64_t outer,
                                 int64_t n, int64_t inner)
{
    int64_t cols = outer * inner;
    for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < cols; c += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = c / inner, i = c - o * inner;
        const float *xc = x + o * n * inner + i;
        float m = 0.f;
        if (op == CU_RED_LOGSUMEXP) {
            m = -FLT_MAX;
            for (int64_t j = 0; j < n; j++)
                m = fmaxf(m, xc[j * inner]);
        }
        float acc = op == CU_RED_LOGSUMEXP ? 0.f : red_init(op);
        for (int64_t j = 0; j < n; j++)
            acc = op == CU_RED_LOGSUMEXP ? acc + expf(xc[j * inner] - m) : red_step(op, acc, xc[j * inner]);
        y[c] = op == CU_RED_LOGSUMEXP ? m + logf(acc) : red_final(op, acc, n);
    }
}

// ---- resize ----

__device__ __forceinline__ float src_coord(int coord, float o, float scale, int64_t in_len, int64_t out_len)
{
    switch (coord) {
    case 1: return o / scale; // asymmetric
    case 2: return out_len > 1 ? o * (float)(in_len - 1) / (float)(out_len - 1) : 0.f; // align_corners
    case 3: return out_len > 1 ? (o + 0.5f) / scale - 0.5f : 0.f; // pytorch_half_pixel
    case 4: return (o + 0.5f) / scale; // tf_half_pixel_for_nn
    default: return (o + 0.5f) / scale - 0.5f; // half_pixel
    }
}

__device__ __forceinline__ int64_t nearest_index(int mode, float c, int64_t len)
{
    float r;
    switch (mode) {
    case 1: r = (c - floorf(c) == 0.5f) ? ceilf(c) : roundf(c); break; // round_prefer_ceil
    case 2: r = floorf(c); break;
    case 3: r = ceilf(c); break;
    default: r = (c - floorf(c) == 0.5f) ? floorf(c) : roundf(c); break; // round_prefer_floor
    }
    int64_t i = (int64_t)r;
    return i < 0 ? 0 : i >= len ? len - 1 : i;
}

__device__ __forceinline__ void cubic_weights(float t, float a, float *w)
{
    float x0 = 1.f + t, x1 = t, x2 = 1.f - t, x3 = 2.f - t;
    w[0] = ((a * x0 - 5.f * a) * x0 + 8.f * a) * x0 - 4.f * a;
    w[1] = ((a + 2.f) * x1 - (a + 3.f)) * x1 * x1 + 1.f;
    w[2] = ((a + 2.f) * x2 - (a + 3.f)) * x2 * x2 + 1.f;
    w[3] = ((a * x3 - 5.f * a) * x3 + 8.f * a) * x3 - 4.f * a;
}

__global__ void k_resize(cu_resize_geom g, const float *__restrict__ x, float *__restrict__ y, int64_t total)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ox = i % g.ow, t = i / g.ow, oy = t % g.oh, nc = t / g.oh;
        const float *xp = x + nc * g.ih * g.iw;
        float cy = src_coord(g.coord, (float)oy, g.scale_h, g.ih, g.oh);
        float cx = src_coord(g.coord, (float)ox, g.scale_w, g.iw, g.ow);
        float v;
        if (g.mode == 0) {
            v = xp[nearest_index(g.nearest, cy, g.ih) * g.iw + nearest_index(g.nearest, cx, g.iw)];
        } else if (g.mode == 1) {
            cy = fminf(fmaxf(cy, 0.f), (float)(g.ih - 1));
            cx = fminf(fmaxf(cx, 0.f), (float)(g.iw - 1));
            int64_t y0 = (int64_t)floorf(cy), x0 = (int64_t)floorf(cx);
            int64_t y1 = y0 + 1 < g.ih ? y0 + 1 : y0, x1 = x0 + 1 < g.iw ? x0 + 1 : x0;
            float fy = cy - (float)y0, fx = cx - (float)x0;
            float a = xp[y0 * g.iw + x0], b = xp[y0 * g.iw + x1], c = xp[y1 * g.iw + x0], d = xp[y1 * g.iw + x1];
            v = (a * (1.f - fx) + b * fx) * (1.f - fy) + (c * (1.f - fx) + d * fx) * fy;
        } else {
            int64_t y0 = (int64_t)floorf(cy), x0 = (int64_t)floorf(cx);
            float wy[4], wx[4];
            cubic_weights(cy - (float)y0, g.cubic_a, wy);
            cubic_weights(cx - (float)x0, g.cubic_a, wx);
            float acc = 0.f, wsum_y = 0.f, wsum_x = 0.f;
            if (g.exclude_outside) {
                for (int k = 0; k < 4; k++) {
                    int64_t yy = y0 - 1 + k, xx = x0 - 1 + k;
                    if (yy < 0 || yy >= g.ih)
                        wy[k] = 0.f;
                    if (xx < 0 || xx >= g.iw)
                        wx[k] = 0.f;
                    wsum_y += wy[k];
                    wsum_x += wx[k];
                }
                for (int k = 0; k < 4; k++) {
                    wy[k] = wsum_y != 0.f ? wy[k] / wsum_y : 0.f;
                    wx[k] = wsum_x != 0.f ? wx[k] / wsum_x : 0.f;
                }
            }
            for (int ky = 0; ky < 4; ky++) {
                int64_t yy = y0 - 1 + ky;
                yy = yy < 0 ? 0 : yy >= g.ih ? g.ih - 1 : yy;
                float row = 0.f;
                for (int kx = 0; kx < 4; kx++) {
                    int64_t xx = x0 - 1 + kx;
                    xx = xx < 0 ? 0 : xx >= g.iw ? g.iw - 1 : xx;
                    row += wx[kx] * xp[yy * g.iw + xx];
                }
                acc += wy[ky] * row;
            }
            v = acc;
        }
        y[i] = v;
    }
}

// ---- attention ----

// One block per (batch, head, query row). Keys go through shared memory in tiles: each tile's
// scores, their max, then the running max, sum and the weighted sum of V's rows rescaled to
// it (an online softmax), so the number of keys has no limit. Each thread owns output
// columns threadIdx.x + t * blockDim.x.
constexpr int kAttnThreads = 128;
constexpr int kAttnTile = 1024;
constexpr int kAttnAcc = (CU_ATTN_MAX_DIM + kAttnThreads - 1) / kAttnThreads;

__global__ void k_attention(cu_attn_geom g, const float *__restrict__ q, const float *__restrict__ k,
                            const float *__restrict__ v, const float *__restrict__ mask, float *__restrict__ out)
{
    extern __shared__ float smem[];
    float *qrow = smem;            // d
    float *score = smem + g.d;     // kAttnTile
    __shared__ float red[32];
    int64_t r = blockIdx.x;
    int64_t i = r % g.lq, t = r / g.lq, h = t % g.h, b = t / g.h;
    const float *qp = q + b * g.qs[0] + h * g.qs[1] + i * g.qs[2];
    for (int64_t c = threadIdx.x; c < g.d; c += blockDim.x)
        qrow[c] = qp[c * g.qs[3]];
    __syncthreads();
    int64_t limit = g.causal ? i + (g.lk - g.lq) : g.lk - 1;
    const float *kb = k + b * g.ks[0] + h * g.ks[1];
    const float *vb = v + b * g.vs[0] + h * g.vs[1];
    const float *mb = mask ? mask + b * g.ms[0] + h * g.ms[1] + i * g.ms[2] : NULL;
    float acc[kAttnAcc];
    for (int a = 0; a < kAttnAcc; a++)
        acc[a] = 0.f;
    float m = -INFINITY, l = 0.f;
    for (int64_t j0 = 0; j0 < g.lk; j0 += kAttnTile) {
        int64_t n = g.lk - j0 < kAttnTile ? g.lk - j0 : kAttnTile;
        float tm = -INFINITY;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            int64_t jj = j0 + j;
            float sc;
            if (jj > limit) {
                sc = -INFINITY;
            } else {
                const float *kp = kb + jj * g.ks[2];
                float dot = 0.f;
                for (int64_t c = 0; c < g.d; c++)
                    dot += qrow[c] * kp[c * g.ks[3]];
                sc = dot * g.scale;
                if (mb)
                    sc += mb[jj * g.ms[3]];
            }
            score[j] = sc;
            tm = fmaxf(tm, sc);
        }
        float mn = fmaxf(m, block_max(tm, red)); // block_max syncs: the tile's scores are visible
        // all scores so far -inf: nothing to add yet (the row ends 0/0 = NaN if it stays so)
        float corr = m == -INFINITY ? 0.f : expf(m - mn);
        float ts = 0.f;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            float e = mn == -INFINITY ? 0.f : expf(score[j] - mn);
            score[j] = e;
            ts += e;
        }
        ts = block_sum(ts, red); // syncs: the weights are visible
        l = l * corr + ts;
        for (int a = 0; a < kAttnAcc; a++) {
            int64_t c = threadIdx.x + (int64_t)a * blockDim.x;
            if (c >= g.dv)
                break;
            const float *vp = vb + c * g.vs[3] + j0 * g.vs[2];
            float s = 0.f;
            for (int64_t j = 0; j < n; j++)
                s += score[j] * vp[j * g.vs[2]];
            acc[a] = acc[a] * corr + s;
        }
        m = mn;
        __syncthreads(); // the next tile overwrites the scores
    }
    float *op = out + b * g.os[0] + h * g.os[1] + i * g.os[2];
    for (int a = 0; a < kAttnAcc; a++) {
        int64_t c = threadIdx.x + (int64_t)a * blockDim.x;
        if (c < g.dv)
            op[c * g.os[3]] = acc[a] / l;
    }
}

} // namespace

extern "C" {

void cu_softmax(cudaStream_t s, const float *x, float *y, int64_t outer, int64_t n, int64_t inner, int log)
{
    if (outer * n * inner <= 0)
        return;
    if (inner == 1 && n <= 1024) {
        int rows_per_block = kThreads / 32;
        unsigned blocks = (unsigned)((outer + rows_per_block - 1) / rows_per_block);
        k_softmax_warp<<<blocks, kThreads, 0, s>>>(x, y, outer, (int)n, log);
    } else if (inner == 1) {
        k_softmax_block<<<(unsigned)outer, 512, 0, s>>>(x, y, n, log);
    } else {
        k_softmax_strided<<<blocks_for(outer * inner), kThreads, 0, s>>>(x, y, outer, n, inner, log);
    }
}

void cu_layernorm(cudaStream_t s, const float *x, const float *scale, const float *bias, float *y, float *mean,
                  float *inv_std, int64_t rows, int64_t cols, float eps)
{
    if (rows <= 0 || cols <= 0)
        return;
    if (cols <= 1024) {
        int rows_per_block = kThreads / 32;
        unsigned blocks = (unsigned)((rows + rows_per_block - 1) / rows_per_block);
        k_layernorm_warp<<<blocks, kThreads, 0, s>>>(x, scale, bias, y, mean, inv_std, rows, (int)cols, eps);
    } else {
        k_layernorm_block<<<(unsigned)rows, 512, 0, s>>>(x, scale, bias, y, mean, inv_std, cols, eps);
    }
}

void cu_batchnorm(cudaStream_t s, const float *x, const float *scale, const float *bias, const float *mean,
                  const float *var, float *y, int64_t n, int64_t c, int64_t hw, float eps, const cu_ew_prog *p)
{
    int64_t total = n * c * hw;
    cu_ew_prog none;
    memset(&none, 0, sizeof none);
    if (total > 0)
        k_batchnorm<<<blocks_for(total), kThreads, 0, s>>>(x, scale, bias, mean, var, y, total, c, hw, eps,
                                                           p ? *p : none);
}

void cu_bias_act(cudaStream_t s, float *y, const float *bias, int64_t n, int64_t c, int64_t hw, const cu_ew_prog *p)
{
    int64_t total = n * c * hw;
    cu_ew_prog none;
    memset(&none, 0, sizeof none);
    if (total > 0)
        k_bias_act<<<blocks_for(total), kThreads, 0, s>>>(y, bias, total, c, hw, p ? *p : none);
}

void cu_pool(cudaStream_t s, const cu_pool_geom *g, const float *x, float *y)
{
    int64_t total = g->n * g->c * g->out[0] * g->out[1] * g->out[2];
    if (total > 0)
        k_pool<<<blocks_for(total), kThreads, 0, s>>>(*g, x, y, total);
}

void cu_global_pool(cudaStream_t s, int kind, const float *x, float *y, int64_t rows, int64_t n)
{
    if (rows <= 0 || n <= 0)
        return;
    int rows_per_block = kThreads / 32;
    k_global_pool_warp<<<(unsigned)((rows + rows_per_block - 1) / rows_per_block), kThreads, 0, s>>>(kind, x, y, rows,
                                                                                                    n);
}

void cu_reduce(cudaStream_t s, int op, const float *x, float *y, int64_t outer, int64_t n, int64_t inner)
{
    if (outer * inner <= 0)
        return;
    if (inner == 1) {
        int rows_per_block = kThreads / 32;
        k_reduce_rows<<<(unsigned)((outer + rows_per_block - 1) / rows_per_block), kThreads, 0, s>>>(op, x, y, outer,
                                                                                                    n);
    } else {
        k_reduce_strided<<<blocks_for(outer * inner), kThreads, 0, s>>>(op, x, y, outer, n, inner);
    }
}

void cu_resize(cudaStream_t s, const cu_resize_geom *g, const float *x, float *y)
{
    int64_t total = g->nc * g->oh * g->ow;
    if (total > 0)
        k_resize<<<blocks_for(total), kThreads, 0, s>>>(*g, x, y, total);
}

void cu_attention(cudaStream_t s, const cu_attn_geom *g, const float *q, const float *k, const float *v,
                  const float *mask, float *out)
{
    int64_t rows = g->b * g->h * g->lq;
    if (rows <= 0)
        return;
    if (g->d > CU_ATTN_MAX_DIM || g->dv > CU_ATTN_MAX_DIM)
        return; // the caller checked: never launched past the kernel's limits
    size_t smem = (size_t)(g->d + kAttnTile) * sizeof(float);
    k_attention<<<(unsigned)rows, kAttnThreads, smem, s>>>(*g, q, k, v, mask, out);
}

} // extern "C"
