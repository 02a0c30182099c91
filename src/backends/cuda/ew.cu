// Elementwise and data-movement kernels: unary programs (chains of activations applied in
// one pass over memory), broadcasting binary ops with an optional unary epilogue, Where,
// Cast, strided copies (Transpose, Slice, Expand), Gather, Pad and fill. Launchers merge
// dims that are contiguous in every operand first, so most calls run as rank 1 or 2.
#include "cu_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
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

__device__ __forceinline__ float ew_apply(int op, float x, float a, float b)
{
    switch (op) {
    case CU_EW_IDENTITY: return x;
    case CU_EW_RELU: return x > 0.f ? x : 0.f;
    case CU_EW_SIGMOID: return 1.f / (1.f + __expf(-x));
    case CU_EW_TANH: return tanhf(x);
    case CU_EW_EXP: return expf(x);
    case CU_EW_LOG: return logf(x);
    case CU_EW_SQRT: return sqrtf(x);
    case CU_EW_NEG: return -x;
    case CU_EW_ABS: return fabsf(x);
    case CU_EW_ERF: return erff(x);
    case CU_EW_RECIP: return 1.f / x;
    case CU_EW_FLOOR: return floorf(x);
    case CU_EW_CEIL: return ceilf(x);
    case CU_EW_ROUND: return rintf(x);
    case CU_EW_SIN: return sinf(x);
    case CU_EW_COS: return cosf(x);
    case CU_EW_SIGN: return x > 0.f ? 1.f : x < 0.f ? -1.f : 0.f;
    case CU_EW_GELU: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case CU_EW_GELU_TANH: {
        float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.f + tanhf(u));
    }
    case CU_EW_CLIP: return fminf(fmaxf(x, a), b);
    case CU_EW_LEAKY_RELU: return x >= 0.f ? x : a * x;
    case CU_EW_ELU: return x >= 0.f ? x : a * (expf(x) - 1.f);
    case CU_EW_SELU: return x > 0.f ? b * x : b * (a * expf(x) - a);
    case CU_EW_HARD_SIGMOID: return fmaxf(0.f, fminf(1.f, a * x + b));
    case CU_EW_HARD_SWISH: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case CU_EW_SOFTPLUS: return x > 20.f ? x : log1pf(expf(x));
    case CU_EW_SOFTSIGN: return x / (1.f + fabsf(x));
    case CU_EW_MISH: return x * tanhf(x > 20.f ? x : log1pf(expf(x)));
    case CU_EW_SILU: return x / (1.f + __expf(-x));
    case CU_EW_MUL_C: return x * a;
    case CU_EW_ADD_C: return x + a;
    case CU_EW_POW_C: return powf(x, a);
    default: return x;
    }
}

__device__ __forceinline__ float run_prog(const cu_ew_prog &p, float v)
{
    for (int i = 0; i < p.n; i++)
        v = ew_apply(p.op[i], v, p.a[i], p.b[i]);
    return v;
}

__device__ __forceinline__ float bin_apply(int op, float a, float b)
{
    switch (op) {
    case CU_BIN_ADD: return a + b;
    case CU_BIN_SUB: return a - b;
    case CU_BIN_MUL: return a * b;
    case CU_BIN_DIV: return a / b;
    case CU_BIN_POW: return powf(a, b);
    case CU_BIN_MAX: return fmaxf(a, b);
    case CU_BIN_MIN: return fminf(a, b);
    case CU_BIN_PRELU: return a < 0.f ? a * b : a;
    case CU_BIN_MOD: return fmodf(a, b);
    default: return a;
    }
}

struct Geom {
    int rank;
    int64_t dims[CU_MAX_RANK];
    int64_t s[3][CU_MAX_RANK]; // per operand strides
};

// Merges dims d and d+1 wherever every operand steps through them contiguously, and drops
// dims of size 1. Returns the total element count.
int64_t coalesce(Geom &g, int nops)
{
    Geom o;
    memset(&o, 0, sizeof o);
    int64_t total = 1;
    for (int d = 0; d < g.rank; d++) {
        total *= g.dims[d];
        if (g.dims[d] == 1)
            continue;
        if (o.rank > 0) {
            bool merge = true;
            int p = o.rank - 1;
            for (int k = 0; k < nops && merge; k++)
                merge = o.s[k][p] == g.s[k][d] * g.dims[d];
            if (merge) {
                o.dims[p] *= g.dims[d];
                for (int k = 0; k < nops; k++)
                    o.s[k][p] = g.s[k][d];
                continue;
            }
        }
        o.dims[o.rank] = g.dims[d];
        for (int k = 0; k < nops; k++)
            o.s[k][o.rank] = g.s[k][d];
        o.rank++;
    }
    if (o.rank == 0) {
        o.rank = 1;
        o.dims[0] = 1;
        for (int k = 0; k < nops; k++)
            o.s[k][0] = 0;
    }
    g = o;
    return total;
}

// Element i of the coalesced shape: each operand's offset.
template <int NOPS>
__device__ __forceinline__ void offsets(const Geom &g, int64_t i, int64_t *off)
{
    for (int k = 0; k < NOPS; k++)
        off[k] = 0;
    for (int d = g.rank - 1; d >= 0; d--) {
        int64_t q = i / g.dims[d], r = i - q * g.dims[d];
        for (int k = 0; k < NOPS; k++)
            off[k] += r * g.s[k][d];
        i = q;
    }
}

__global__ void k_unary(cu_ew_prog p, const float *__restrict__ x, float *__restrict__ y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = run_prog(p, x[i]);
}

__global__ void k_unary4(cu_ew_prog p, const float4 *__restrict__ x, float4 *__restrict__ y, int64_t n4)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        float4 v = x[i];
        v.x = run_prog(p, v.x);
        v.y = run_prog(p, v.y);
        v.z = run_prog(p, v.z);
        v.w = run_prog(p, v.w);
        y[i] = v;
    }
}

// Rank-1 binary: strides 0 or 1 (the common cases after coalescing).
__global__ void k_binary1(int op, const float *__restrict__ a, int64_t as, const float *__restrict__ b, int64_t bs,
                          float *__restrict__ y, int64_t n, cu_ew_prog post)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = run_prog(post, bin_apply(op, a[i * as], b[i * bs]));
}

// Rank-2 binary, e.g. a bias row added to a matrix.
__global__ void k_binary2(int op, Geom g, const float *__restrict__ a, const float *__restrict__ b,
                          float *__restrict__ y, int64_t n, cu_ew_prog post)
{
    int64_t inner = g.dims[1];
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / inner, c = i - r * inner;
        y[i] = run_prog(post, bin_apply(op, a[r * g.s[0][0] + c * g.s[0][1]], b[r * g.s[1][0] + c * g.s[1][1]]));
    }
}

__global__ void k_binaryN(int op, Geom g, const float *__restrict__ a, const float *__restrict__ b,
                          float *__restrict__ y, int64_t n, cu_ew_prog post)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t off[2];
        offsets<2>(g, i, off);
        y[i] = run_prog(post, bin_apply(op, a[off[0]], b[off[1]]));
    }
}

__global__ void k_where(Geom g, const uint8_t *__restrict__ c, const float *__restrict__ x,
                        const float *__restrict__ yv, float *__restrict__ out, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t off[3];
        offsets<3>(g, i, off);
        out[i] = c[off[0]] ? x[off[1]] : yv[off[2]];
    }
}

// ---- cast ----

template <typename T> __device__ __forceinline__ double to_d(T v) { return (double)v; }
template <> __device__ __forceinline__ double to_d<__half>(__half v) { return (double)__half2float(v); }
template <> __device__ __forceinline__ double to_d<__nv_bfloat16>(__nv_bfloat16 v)
{
    return (double)__bfloat162float(v);
}

template <typename T> __device__ __forceinline__ T from_d(double v) { return (T)v; }
template <> __device__ __forceinline__ __half from_d<__half>(double v) { return __float2half_rn((float)v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_d<__nv_bfloat16>(double v)
{
    return __float2bfloat16_rn((float)v);
}
template <> __device__ __forceinline__ bool from_d<bool>(double v) { return v != 0.0; }
// Float to integer: saturate and send NaN to 0, as the reference kernels do.
template <typename I> __device__ __forceinline__ I sat(double v, double lo, double hi)
{
    if (!(v == v))
        return 0;
    v = trunc(v);
    return (I)(v < lo ? lo : v > hi ? hi : v);
}
template <> __device__ __forceinline__ int8_t from_d<int8_t>(double v) { return sat<int8_t>(v, -128, 127); }
template <> __device__ __forceinline__ uint8_t from_d<uint8_t>(double v) { return sat<uint8_t>(v, 0, 255); }
template <> __device__ __forceinline__ int16_t from_d<int16_t>(double v) { return sat<int16_t>(v, -32768, 32767); }
template <> __device__ __forceinline__ int32_t from_d<int32_t>(double v)
{
    return sat<int32_t>(v, -2147483648.0, 2147483647.0);
}
template <> __device__ __forceinline__ int64_t from_d<int64_t>(double v)
{
    return sat<int64_t>(v, -9223372036854775808.0, 9223372036854774784.0);
}

template <typename F, typename T> __global__ void k_cast(const F *__restrict__ x, T *__restrict__ y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = from_d<T>(to_d<F>(x[i]));
}
// Integers to integers keep every bit they can (no detour through double for int64).
template <typename F, typename T> __global__ void k_cast_int(const F *__restrict__ x, T *__restrict__ y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = (T)x[i];
}

// tether dtypes (tether.h): 1 float, 2 uint8, 3 int8, 5 int16, 6 int32, 7 int64, 9 bool,
// 10 float16, 11 double, 16 bfloat16.
enum { DT_F32 = 1, DT_U8 = 2, DT_I8 = 3, DT_I16 = 5, DT_I32 = 6, DT_I64 = 7, DT_BOOL = 9, DT_F16 = 10, DT_F64 = 11,
       DT_BF16 = 16 };

bool is_int(int t) { return t == DT_U8 || t == DT_I8 || t == DT_I16 || t == DT_I32 || t == DT_I64 || t == DT_BOOL; }

template <typename F> void cast_from(cudaStream_t s, int to, const F *x, void *y, int64_t n, bool int_src)
{
    unsigned b = blocks_for(n);
#define TO(T)                                                                                              \
    if (int_src && is_int(to) && to != DT_BOOL)                                                            \
        k_cast_int<F, T><<<b, kThreads, 0, s>>>(x, (T *)y, n);                                             \
    else                                                                                                   \
        k_cast<F, T><<<b, kThreads, 0, s>>>(x, (T *)y, n);
    switch (to) {
    case DT_F32: { TO(float) break; }
    case DT_U8: { TO(uint8_t) break; }
    case DT_I8: { TO(int8_t) break; }
    case DT_I16: { TO(int16_t) break; }
    case DT_I32: { TO(int32_t) break; }
    case DT_I64: { TO(int64_t) break; }
    case DT_BOOL: { k_cast<F, bool><<<b, kThreads, 0, s>>>(x, (bool *)y, n); break; }
    case DT_F16: { TO(__half) break; }
    case DT_F64: { TO(double) break; }
    case DT_BF16: { TO(__nv_bfloat16) break; }
    default: break;
    }
#undef TO
}

bool cast_type_ok(int t)
{
    return t == DT_F32 || t == DT_U8 || t == DT_I8 || t == DT_I16 || t == DT_I32 || t == DT_I64 || t == DT_BOOL ||
           t == DT_F16 || t == DT_F64 || t == DT_BF16;
}

// ---- data movement ----

template <typename T>
__global__ void k_strided(Geom g, int64_t offset, const T *__restrict__ x, T *__restrict__ y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t off[1];
        offsets<1>(g, i, off);
        y[i] = x[offset + off[0]];
    }
}

template <typename T> __global__ void k_fill(T v, T *__restrict__ y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = v;
}

template <typename T, typename I>
__global__ void k_gather(int64_t outer, int64_t axis_dim, int64_t inner, const T *__restrict__ data,
                         const I *__restrict__ idx, int64_t n_idx, T *__restrict__ out, int *err, int code)
{
    int64_t n = outer * n_idx * inner;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t in_ = i % inner, t = i / inner, j = t % n_idx, o = t / n_idx;
        int64_t k = (int64_t)idx[j];
        if (k < 0)
            k += axis_dim;
        if (k < 0 || k >= axis_dim) {
            out[i] = T(0);
            if (err)
                atomicCAS(err, 0, code);
            continue;
        }
        out[i] = data[(o * axis_dim + k) * inner + in_];
    }
}

struct PadGeom {
    int rank, mode;
    int64_t out[CU_MAX_RANK], in[CU_MAX_RANK], begin[CU_MAX_RANK];
};

__global__ void k_pad(PadGeom g, const float *__restrict__ x, float *__restrict__ y, float value, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t rem = i, src = 0, stride = 1;
        bool inside = true;
        for (int d = g.rank - 1; d >= 0; d--) {
            int64_t q = rem / g.out[d], o = rem - q * g.out[d];
            rem = q;
            int64_t c = o - g.begin[d], len = g.in[d];
            if (c < 0 || c >= len) {
                if (g.mode == 0 || len == 0) {
                    inside = false;
                } else if (g.mode == 1) { // reflect
                    int64_t period = 2 * (len - 1);
                    if (period == 0) {
                        c = 0;
                    } else {
                        c = c % period;
                        if (c < 0)
                            c += period;
                        if (c >= len)
                            c = period - c;
                    }
                } else if (g.mode == 2) { // edge
                    c = c < 0 ? 0 : len - 1;
                } else { // wrap
                    c %= len;
                    if (c < 0)
                        c += len;
                }
            }
            src += c * stride;
            stride *= len;
        }
        y[i] = inside ? x[src] : value;
    }
}

} // namespace

extern "C" {

void cu_ew_unary(cudaStream_t s, const cu_ew_prog *prog, const float *x, float *y, int64_t n)
{
    if (n <= 0)
        return;
    if (n % 4 == 0 && ((uintptr_t)x % 16) == 0 && ((uintptr_t)y % 16) == 0)
        k_unary4<<<blocks_for(n / 4), kThreads, 0, s>>>(*prog, (const float4 *)x, (float4 *)y, n / 4);
    else
        k_unary<<<blocks_for(n), kThreads, 0, s>>>(*prog, x, y, n);
}

void cu_ew_binary(cudaStream_t s, int op, int rank, const int64_t *dims, const int64_t *as, const int64_t *bs,
                  const float *a, const float *b, float *y, const cu_ew_prog *post)
{
    Geom g;
    memset(&g, 0, sizeof g);
    g.rank = rank;
    for (int d = 0; d < rank; d++) {
        g.dims[d] = dims[d];
        g.s[0][d] = as[d];
        g.s[1][d] = bs[d];
    }
    int64_t n = coalesce(g, 2);
    if (n <= 0)
        return;
    cu_ew_prog none;
    memset(&none, 0, sizeof none);
    const cu_ew_prog &p = post ? *post : none;
    if (g.rank == 1)
        k_binary1<<<blocks_for(n), kThreads, 0, s>>>(op, a, g.s[0][0], b, g.s[1][0], y, n, p);
    else if (g.rank == 2)
        k_binary2<<<blocks_for(n), kThreads, 0, s>>>(op, g, a, b, y, n, p);
    else
        k_binaryN<<<blocks_for(n), kThreads, 0, s>>>(op, g, a, b, y, n, p);
}

void cu_where(cudaStream_t s, int rank, const int64_t *dims, const int64_t *cs, const int64_t *xs, const int64_t *ys,
              const uint8_t *cond, const float *x, const float *y, float *out)
{
    Geom g;
    memset(&g, 0, sizeof g);
    g.rank = rank;
    for (int d = 0; d < rank; d++) {
        g.dims[d] = dims[d];
        g.s[0][d] = cs[d];
        g.s[1][d] = xs[d];
        g.s[2][d] = ys[d];
    }
    int64_t n = coalesce(g, 3);
    if (n > 0)
        k_where<<<blocks_for(n), kThreads, 0, s>>>(g, cond, x, y, out, n);
}

int cu_cast_supported(int from, int to) { return cast_type_ok(from) && cast_type_ok(to); }

void cu_cast(cudaStream_t s, int from, int to, const void *x, void *y, int64_t n)
{
    if (n <= 0)
        return;
    bool int_src = is_int(from);
    switch (from) {
    case DT_F32: cast_from(s, to, (const float *)x, y, n, false); break;
    case DT_U8: cast_from(s, to, (const uint8_t *)x, y, n, true); break;
    case DT_I8: cast_from(s, to, (const int8_t *)x, y, n, true); break;
    case DT_I16: cast_from(s, to, (const int16_t *)x, y, n, true); break;
    case DT_I32: cast_from(s, to, (const int32_t *)x, y, n, true); break;
    case DT_I64: cast_from(s, to, (const int64_t *)x, y, n, true); break;
    case DT_BOOL: cast_from(s, to, (const uint8_t *)x, y, n, true); break;
    case DT_F16: cast_from(s, to, (const __half *)x, y, n, false); break;
    case DT_F64: cast_from(s, to, (const double *)x, y, n, false); break;
    case DT_BF16: cast_from(s, to, (const __nv_bfloat16 *)x, y, n, false); break;
    default: break;
    }
    (void)int_src;
}

void cu_strided_copy(cudaStream_t s, int es, int rank, const int64_t *dims, const int64_t *xs, int64_t offset,
                     const void *x, void *y)
{
    Geom g;
    memset(&g, 0, sizeof g);
    g.rank = rank;
    for (int d = 0; d < rank; d++) { // the output is contiguous: only x's strides block a merge
        g.dims[d] = dims[d];
        g.s[0][d] = xs[d];
    }
    int64_t n = coalesce(g, 1);
    if (n <= 0)
        return;
    if (g.rank == 1 && g.s[0][0] == 1) {
        cudaMemcpyAsync(y, (const char *)x + offset * es, (size_t)n * (size_t)es, cudaMemcpyDeviceToDevice, s);
        return;
    }
    unsigned b = blocks_for(n);
    switch (es) {
    case 1: k_strided<uint8_t><<<b, kThreads, 0, s>>>(g, offset, (const uint8_t *)x, (uint8_t *)y, n); break;
    case 2: k_strided<uint16_t><<<b, kThreads, 0, s>>>(g, offset, (const uint16_t *)x, (uint16_t *)y, n); break;
    case 4: k_strided<uint32_t><<<b, kThreads, 0, s>>>(g, offset, (const uint32_t *)x, (uint32_t *)y, n); break;
    case 8: k_strided<uint64_t><<<b, kThreads, 0, s>>>(g, offset, (const uint64_t *)x, (uint64_t *)y, n); break;
    default: break;
    }
}

void cu_fill(cudaStream_t s, int es, const void *value, void *y, int64_t n)
{
    if (n <= 0)
        return;
    unsigned b = blocks_for(n);
    switch (es) {
    case 1: {
        uint8_t v;
        memcpy(&v, value, 1);
        cudaMemsetAsync(y, v, (size_t)n, s);
        break;
    }
    case 2: {
        uint16_t v;
        memcpy(&v, value, 2);
        k_fill<uint16_t><<<b, kThreads, 0, s>>>(v, (uint16_t *)y, n);
        break;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, value, 4);
        if (v == 0)
            cudaMemsetAsync(y, 0, (size_t)n * 4, s);
        else
            k_fill<uint32_t><<<b, kThreads, 0, s>>>(v, (uint32_t *)y, n);
        break;
    }
    case 8: {
        uint64_t v;
        memcpy(&v, value, 8);
        k_fill<uint64_t><<<b, kThreads, 0, s>>>(v, (uint64_t *)y, n);
        break;
    }
    default: break;
    }
}

void cu_gather(cudaStream_t s, int es, int64_t outer, int64_t axis_dim, int64_t inner, const void *data,
               const void *idx, int idx64, int64_t n_idx, void *out, int *err, int code)
{
    int64_t n = outer * n_idx * inner;
    if (n <= 0)
        return;
    unsigned b = blocks_for(n);
#define G(T)                                                                                                  \
    if (idx64)                                                                                                \
        k_gather<T, int64_t><<<b, kThreads, 0, s>>>(outer, axis_dim, inner, (const T *)data,                  \
                                                    (const int64_t *)idx, n_idx, (T *)out, err, code);        \
    else                                                                                                      \
        k_gather<T, int32_t><<<b, kThreads, 0, s>>>(outer, axis_dim, inner, (const T *)data,                  \
                                                    (const int32_t *)idx, n_idx, (T *)out, err, code);
    switch (es) {
    case 1: { G(uint8_t) break; }
    case 2: { G(uint16_t) break; }
    case 4: { G(uint32_t) break; }
    case 8: { G(uint64_t) break; }
    default: break;
    }
#undef G
}

void cu_pad(cudaStream_t s, int mode, int rank, const int64_t *out_dims, const int64_t *in_dims,
            const int64_t *pads_begin, const float *x, float *y, float value)
{
    PadGeom g;
    memset(&g, 0, sizeof g);
    g.rank = rank;
    g.mode = mode;
    int64_t n = 1;
    for (int d = 0; d < rank; d++) {
        g.out[d] = out_dims[d];
        g.in[d] = in_dims[d];
        g.begin[d] = pads_begin[d];
        n *= out_dims[d];
    }
    if (n > 0)
        k_pad<<<blocks_for(n), kThreads, 0, s>>>(g, x, y, value, n);
}

} // extern "C"
