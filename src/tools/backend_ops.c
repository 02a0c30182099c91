/* tether-backend-ops: checks every kernel a backend registers against the reference
 * kernels, in the manner of ggml's test-backend-ops. For each kernel it runs one-node
 * models from a table of cases (several shapes, broadcasts, attributes), once on the ref
 * backend and once on the backend under test, on the same random inputs, three runs each
 * (a device backend's steady path is captured and replayed by then), and compares the
 * outputs with |a - b| <= atol + rtol * |b|. A case whose node the backend does not take
 * fails: it would test nothing. A kernel no case covers fails too, unless tether has no
 * schema for it. Exit status: 0 all passed, 1 a failure, 77 the backend is unavailable
 * here (its reason printed).
 *
 * --placement-only needs no device: each case is compiled onto a placement-only instance
 * of a plugin backend (host memory posing as the device's) followed by cpu and ref, which
 * checks that the kernel takes the case (its supports() and placement: copies, host
 * inputs) and that ref runs it, wherever the plugin is built. */
#include "backends/plugin.h"
#include "model/model.h"
#include "runtime/prepare.h"
#include "runtime/session.h"

#include "onnx_build.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- cases ------------------------------------------------------------------------------------ */

/* the case table leaves trailing fields to their zero defaults */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct in_spec {
    char kind;       /* x: random float input, w: random float weight (initializer), b: random bool
                        input, r/R: random int64/int32 input in [lo, hi], i: int64 initializer of v,
                        I: int64 input fed v, f: float initializer of v, -: omitted */
    int rank;
    int64_t dims[6];
    float lo, hi;    /* random range; both 0: [-1, 1] */
    int n;
    double v[8];
} in_spec;

typedef struct attr_spec {
    const char *name;
    char type;       /* i int, f float, s string, I ints, F floats */
    int64_t i;
    float f;
    const char *s;
    int n;
    int64_t ints[8];
    float floats[8];
} attr_spec;

typedef struct op_case {
    const char *op;
    int opset;
    in_spec in[6];
    attr_spec at[6];
    int n_out;       /* 0: 1 */
    int out_dtype;   /* 0: float */
    float atol, rtol; /* 0: defaults */
} op_case;

#define X(r, ...) {.kind = 'x', .rank = r, .dims = {__VA_ARGS__}}
#define XR(lo_, hi_, r, ...) {.kind = 'x', .rank = r, .dims = {__VA_ARGS__}, .lo = lo_, .hi = hi_}
#define W(r, ...) {.kind = 'w', .rank = r, .dims = {__VA_ARGS__}}
#define WR(lo_, hi_, r, ...) {.kind = 'w', .rank = r, .dims = {__VA_ARGS__}, .lo = lo_, .hi = hi_}
#define B(r, ...) {.kind = 'b', .rank = r, .dims = {__VA_ARGS__}}
#define RI(lo_, hi_, r, ...) {.kind = 'r', .rank = r, .dims = {__VA_ARGS__}, .lo = lo_, .hi = hi_}
#define RI32(lo_, hi_, r, ...) {.kind = 'R', .rank = r, .dims = {__VA_ARGS__}, .lo = lo_, .hi = hi_}
#define INTS(n_, ...) {.kind = 'i', .rank = 1, .dims = {n_}, .n = n_, .v = {__VA_ARGS__}}
#define INTS_IN(n_, ...) {.kind = 'I', .rank = 1, .dims = {n_}, .n = n_, .v = {__VA_ARGS__}}
#define FLT(v_) {.kind = 'f', .rank = 0, .n = 1, .v = {v_}}
#define OMIT {.kind = '-'}
#define AI(name_, v_) {.name = name_, .type = 'i', .i = v_}
#define AF(name_, v_) {.name = name_, .type = 'f', .f = v_}
#define AS(name_, v_) {.name = name_, .type = 's', .s = v_}
#define AIS(name_, n_, ...) {.name = name_, .type = 'I', .n = n_, .ints = {__VA_ARGS__}}
#define AFS(name_, n_, ...) {.name = name_, .type = 'F', .n = n_, .floats = {__VA_ARGS__}}

#define UN(op_, opset_) {op_, opset_, {X(4, 2, 3, 4, 5)}}, {op_, opset_, {X(1, 1000)}}
#define UNR(op_, opset_, lo_, hi_) {op_, opset_, {XR(lo_, hi_, 4, 2, 3, 4, 5)}}, {op_, opset_, {XR(lo_, hi_, 1, 1000)}}
#define BIN(op_, opset_, lo_, hi_)                                                                          \
    {op_, opset_, {XR(lo_, hi_, 3, 2, 3, 4), XR(lo_, hi_, 3, 2, 3, 4)}},                                   \
        {op_, opset_, {XR(lo_, hi_, 3, 2, 3, 4), WR(lo_, hi_, 1, 4)}},                                     \
        {op_, opset_, {XR(lo_, hi_, 3, 2, 1, 4), XR(lo_, hi_, 2, 3, 1)}},                                  \
        {op_, opset_, {XR(lo_, hi_, 4, 2, 3, 5, 5), WR(lo_, hi_, 4, 1, 3, 1, 1)}},                         \
        {op_, opset_, {WR(lo_, hi_, 0, 0), XR(lo_, hi_, 2, 6, 7)}}
#define RED(op_, lo_, hi_)                                                                                  \
    {op_, 13, {XR(lo_, hi_, 3, 2, 5, 70)}, {AIS("axes", 1, -1)}, .atol = 1e-4f, .rtol = 1e-4f},           \
        {op_, 13, {XR(lo_, hi_, 4, 2, 5, 3, 4)}, {AIS("axes", 2, 1, 2), AI("keepdims", 0)}, .atol = 1e-4f,  \
         .rtol = 1e-4f},                                                                                   \
        {op_, 18, {XR(lo_, hi_, 3, 2, 5, 7), INTS(1, 1)}, .atol = 1e-4f, .rtol = 1e-4f}

static const op_case g_cases[] = {
    /* unary */
    UN("Relu", 14), UN("Sigmoid", 13), UN("Tanh", 13), UNR("Exp", 13, -3, 3), UNR("Log", 13, 0.1f, 3),
    UNR("Sqrt", 13, 0, 3), UN("Neg", 13), UN("Abs", 13), UN("Erf", 13), UNR("Reciprocal", 13, 0.5f, 2),
    UNR("Floor", 13, -5, 5), UNR("Ceil", 13, -5, 5), UNR("Round", 11, -5, 5), UNR("Sin", 7, -3, 3),
    UNR("Cos", 7, -3, 3), UN("Sign", 13), UN("HardSwish", 14), UNR("Softplus", 1, -5, 5), UN("Softsign", 1),
    UN("Mish", 18), UN("Gelu", 20),
    {"LeakyRelu", 16, {X(3, 2, 3, 4)}, {AF("alpha", 0.1f)}},
    {"Elu", 6, {X(3, 2, 3, 4)}, {AF("alpha", 0.5f)}},
    {"Selu", 6, {X(3, 2, 3, 4)}},
    {"HardSigmoid", 6, {XR(-5, 5, 3, 2, 3, 4)}, {AF("alpha", 0.3f), AF("beta", 0.4f)}},
    {"Clip", 6, {XR(-2, 2, 3, 2, 3, 4)}, {AF("min", -0.5f), AF("max", 0.7f)}},
    {"Clip", 13, {XR(-8, 8, 3, 2, 3, 4), FLT(0), FLT(6)}},
    {"Clip", 13, {XR(-2, 2, 3, 2, 3, 4), OMIT, FLT(0.25)}},
    /* binary, with broadcasting */
    BIN("Add", 14, -1, 1), BIN("Sub", 14, -1, 1), BIN("Mul", 14, -1, 1), BIN("Div", 14, 0.5f, 2),
    BIN("Pow", 15, 0.5f, 2), BIN("Max", 13, -1, 1), BIN("Min", 13, -1, 1),
    {"PRelu", 16, {X(4, 2, 3, 4, 4), W(3, 3, 1, 1)}},
    {"PRelu", 16, {X(2, 5, 7), W(1, 7)}},
    {"Mod", 13, {XR(-5, 5, 3, 2, 3, 4), XR(0.5f, 2, 3, 2, 3, 4)}, {AI("fmod", 1)}},
    {"Where", 16, {B(3, 2, 3, 4), X(3, 2, 3, 4), X(1, 4)}},
    {"Cast", 13, {XR(-100, 100, 2, 3, 5)}, {AI("to", TETHER_DTYPE_INT32)}, .out_dtype = TETHER_DTYPE_INT32},
    {"Cast", 13, {X(2, 3, 5)}, {AI("to", TETHER_DTYPE_FLOAT16)}, .out_dtype = TETHER_DTYPE_FLOAT16},
    {"Cast", 13, {X(2, 3, 5)}, {AI("to", TETHER_DTYPE_DOUBLE)}, .out_dtype = TETHER_DTYPE_DOUBLE},
    {"Cast", 13, {X(2, 3, 5)}, {AI("to", TETHER_DTYPE_BOOL)}, .out_dtype = TETHER_DTYPE_BOOL},
    {"ConstantOfShape", 9, {INTS_IN(3, 2, 3, 4)}, {AI("value", 0)}},
    /* views and shapes */
    {"Identity", 16, {X(3, 2, 3, 4)}},
    {"Reshape", 14, {X(3, 2, 3, 4), INTS(2, 6, -1)}},
    {"Reshape", 4, {X(3, 2, 3, 4)}, {AIS("shape", 2, 4, 6)}},
    {"Flatten", 13, {X(4, 2, 3, 4, 5)}, {AI("axis", 2)}},
    {"Squeeze", 13, {X(4, 2, 1, 4, 1), INTS(1, 1)}},
    {"Squeeze", 11, {X(4, 2, 1, 4, 1)}, {AIS("axes", 1, 3)}},
    {"Unsqueeze", 13, {X(2, 3, 4), INTS(2, 0, 3)}},
    {"Unsqueeze", 11, {X(2, 3, 4)}, {AIS("axes", 1, 1)}},
    {"Dropout", 13, {X(3, 2, 3, 4)}},
    {"Shape", 13, {X(3, 2, 3, 4)}, .out_dtype = TETHER_DTYPE_INT64},
    {"Shape", 15, {X(4, 2, 3, 4, 5)}, {AI("start", 1), AI("end", -1)}, .out_dtype = TETHER_DTYPE_INT64},
    {"Size", 13, {X(3, 2, 3, 4)}, .out_dtype = TETHER_DTYPE_INT64},
    /* data movement */
    {"Transpose", 13, {X(4, 2, 3, 4, 5)}, {AIS("perm", 4, 0, 2, 1, 3)}},
    {"Transpose", 13, {X(2, 33, 65)}},
    {"Slice", 13, {X(3, 2, 3, 10), INTS(1, 1), INTS(1, 9), INTS(1, 2), INTS(1, 2)}},
    {"Slice", 13, {X(3, 4, 3, 10), INTS(2, -1, 8), INTS(2, -5, 1), INTS(2, 0, 2), INTS(2, -1, -3)}},
    {"Slice", 9, {X(3, 4, 3, 10)}, {AIS("starts", 2, 1, 2), AIS("ends", 2, 3, 100), AIS("axes", 2, 0, 2)}},
    {"Expand", 13, {X(2, 3, 1), INTS(3, 2, 3, 4)}},
    {"Concat", 13, {X(3, 2, 3, 4), X(3, 2, 5, 4), W(3, 2, 1, 4)}, {AI("axis", 1)}},
    {"Concat", 13, {X(2, 3, 4), X(2, 3, 2)}, {AI("axis", -1)}},
    {"Split", 13, {X(3, 2, 5, 3), INTS(2, 2, 3)}, {AI("axis", 1)}, .n_out = 2},
    {"Split", 11, {X(2, 6, 4)}, {AI("axis", 0)}, .n_out = 3},
    {"Gather", 13, {W(2, 10, 4), RI(-10, 9, 2, 2, 3)}},
    {"Gather", 13, {X(3, 2, 7, 3), RI32(0, 6, 1, 4)}, {AI("axis", 1)}},
    {"Pad", 13, {X(4, 1, 2, 5, 5), INTS(8, 0, 0, 1, 2, 0, 0, 2, 1), FLT(0.5)}},
    {"Pad", 13, {X(4, 1, 2, 5, 5), INTS(8, 0, 0, 2, 2, 0, 0, 1, 3)}, {AS("mode", "reflect")}},
    {"Pad", 13, {X(4, 1, 2, 5, 5), INTS(8, 0, 0, 2, 2, 0, 0, 1, 3)}, {AS("mode", "edge")}},
    {"Pad", 10, {X(2, 3, 4)}, {AIS("pads", 4, 1, 0, 2, 1), AF("value", -1)}},
    /* layers */
    {"Softmax", 13, {X(3, 2, 3, 40)}},
    {"Softmax", 13, {X(3, 2, 30, 5)}, {AI("axis", 1)}},
    {"Softmax", 13, {X(2, 2, 3000)}},
    {"Softmax", 11, {X(3, 2, 3, 4)}, {AI("axis", 1)}},
    {"LogSoftmax", 13, {X(3, 2, 3, 40)}},
    {"LayerNormalization", 17, {X(3, 2, 5, 64), W(1, 64), W(1, 64)}, {AF("epsilon", 1e-5f)}, .atol = 1e-4f},
    {"LayerNormalization", 17, {X(3, 2, 5, 4), W(2, 5, 4)}, {AI("axis", -2)}, .atol = 1e-4f},
    {"LayerNormalization", 17, {X(2, 3, 2000), W(1, 2000), W(1, 2000)}, .atol = 1e-4f},
    {"BatchNormalization", 15, {X(4, 2, 3, 4, 4), W(1, 3), W(1, 3), W(1, 3), WR(0.5f, 2, 1, 3)}, .atol = 1e-4f},
    {"MaxPool", 12, {X(4, 1, 2, 9, 9)}, {AIS("kernel_shape", 2, 3, 3), AIS("strides", 2, 2, 2), AIS("pads", 4, 1, 1, 1, 1)}},
    {"MaxPool", 12, {X(3, 1, 2, 10)}, {AIS("kernel_shape", 1, 2)}},
    {"MaxPool", 12, {X(4, 1, 2, 9, 9)}, {AIS("kernel_shape", 2, 3, 3), AIS("dilations", 2, 2, 2), AI("ceil_mode", 1)}},
    {"AveragePool", 11, {X(4, 1, 2, 9, 9)}, {AIS("kernel_shape", 2, 3, 3), AIS("pads", 4, 1, 1, 1, 1), AI("count_include_pad", 1)}},
    {"AveragePool", 11, {X(5, 1, 1, 4, 4, 4)}, {AIS("kernel_shape", 3, 2, 2, 2), AIS("strides", 3, 2, 2, 2)}},
    {"AveragePool", 11, {X(4, 1, 2, 7, 7)}, {AIS("kernel_shape", 2, 3, 3), AS("auto_pad", "SAME_UPPER")}},
    {"LpPool", 18, {X(4, 1, 2, 6, 6)}, {AIS("kernel_shape", 2, 2, 2), AI("p", 2)}},
    {"GlobalAveragePool", 1, {X(4, 2, 3, 7, 7)}},
    {"GlobalMaxPool", 1, {X(4, 2, 3, 7, 7)}},
    RED("ReduceSum", -1, 1), RED("ReduceMean", -1, 1), RED("ReduceMax", -1, 1), RED("ReduceMin", -1, 1),
    RED("ReduceProd", 0.7f, 1.3f), RED("ReduceSumSquare", -1, 1), RED("ReduceL1", -1, 1), RED("ReduceL2", -1, 1),
    RED("ReduceLogSum", 0.1f, 1), RED("ReduceLogSumExp", -1, 1),
    {"ReduceSum", 11, {X(3, 2, 5, 7)}, {AIS("axes", 1, 1)}, .atol = 1e-4f},
    {"ReduceMean", 13, {X(3, 2, 5, 7)}, .atol = 1e-4f},
    {"Resize", 13, {X(4, 1, 2, 5, 6), OMIT, {.kind = 'F', .rank = 1, .dims = {4}, .n = 4, .v = {1, 1, 2, 2}}}},
    {"Resize", 13, {X(4, 1, 2, 5, 6), OMIT, OMIT, INTS(4, 1, 2, 9, 13)}, {AS("mode", "linear")}, .atol = 1e-5f},
    {"Resize", 13, {X(4, 1, 2, 5, 6), OMIT, OMIT, INTS(4, 1, 2, 9, 13)},
     {AS("mode", "linear"), AS("coordinate_transformation_mode", "align_corners")}, .atol = 1e-5f},
    {"Resize", 13, {X(4, 1, 2, 5, 6), OMIT, OMIT, INTS(4, 1, 2, 10, 12)},
     {AS("mode", "cubic"), AS("coordinate_transformation_mode", "asymmetric")}, .atol = 1e-4f},
    {"Resize", 13, {X(4, 1, 2, 8, 8), OMIT, OMIT, INTS(4, 1, 2, 3, 5)},
     {AS("mode", "nearest"), AS("nearest_mode", "floor"), AS("coordinate_transformation_mode", "pytorch_half_pixel")}},
    {"Resize", 10, {X(4, 1, 2, 5, 6), {.kind = 'F', .rank = 1, .dims = {4}, .n = 4, .v = {1, 1, 2, 3}}}},
    {"Upsample", 9, {X(4, 1, 2, 5, 6), {.kind = 'F', .rank = 1, .dims = {4}, .n = 4, .v = {1, 1, 2, 2}}},
     {AS("mode", "linear")}},
    {"Upsample", 7, {X(4, 1, 2, 5, 6)}, {AFS("scales", 4, 1, 1, 3, 2)}},
    /* matrix products */
    {"Gemm", 13, {X(2, 4, 8), W(2, 8, 5), W(1, 5)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"Gemm", 13, {X(2, 4, 8), W(2, 5, 8), W(2, 4, 5)}, {AI("transB", 1), AF("alpha", 0.5f), AF("beta", 2)},
     .atol = 1e-4f, .rtol = 1e-4f},
    {"Gemm", 13, {X(2, 8, 4), W(2, 8, 5)}, {AI("transA", 1)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"Gemm", 13, {X(2, 3, 300), W(2, 300, 200), W(2, 3, 1)}, .atol = 1e-4f, .rtol = 1e-3f},
    {"MatMul", 13, {X(4, 2, 3, 4, 8), W(2, 8, 6)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"MatMul", 13, {X(3, 6, 4, 8), X(3, 6, 8, 5)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"MatMul", 13, {X(2, 4, 8), W(1, 8)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"MatMul", 13, {X(1, 8), X(3, 3, 8, 5)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"MatMul", 13, {X(4, 2, 1, 4, 8), X(4, 1, 3, 8, 5)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"MatMul", 13, {X(3, 16, 64, 256), W(2, 256, 256)}, .atol = 1e-4f, .rtol = 1e-3f},
    /* convolutions */
    {"Conv", 11, {X(4, 1, 3, 10, 10), W(4, 8, 3, 3, 3), W(1, 8)}, {AIS("pads", 4, 1, 1, 1, 1)}, .atol = 1e-4f,
     .rtol = 1e-4f},
    {"Conv", 11, {X(4, 2, 4, 11, 11), W(4, 6, 4, 3, 3)}, {AIS("strides", 2, 2, 2)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"Conv", 11, {X(4, 1, 8, 9, 9), W(4, 8, 1, 3, 3), W(1, 8)}, {AI("group", 8), AIS("pads", 4, 1, 1, 1, 1)},
     .atol = 1e-4f, .rtol = 1e-4f},
    {"Conv", 11, {X(4, 1, 4, 12, 12), W(4, 4, 2, 3, 3)}, {AI("group", 2), AIS("dilations", 2, 2, 2)}, .atol = 1e-4f,
     .rtol = 1e-4f},
    {"Conv", 11, {X(3, 1, 4, 20), W(3, 6, 4, 5), W(1, 6)}, {AIS("pads", 2, 2, 2)}, .atol = 1e-4f, .rtol = 1e-4f},
    {"Conv", 11, {X(4, 1, 3, 7, 7), W(4, 4, 3, 3, 3)}, {AS("auto_pad", "SAME_UPPER")}, .atol = 1e-4f, .rtol = 1e-4f},
    {"Conv", 11, {X(4, 2, 64, 14, 14), W(4, 64, 64, 3, 3), W(1, 64)}, {AIS("pads", 4, 1, 1, 1, 1)}, .atol = 1e-3f,
     .rtol = 1e-3f},
};

/* ---- random data ---------------------------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static double rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

static int64_t numel(const in_spec *s)
{
    int64_t n = 1;
    for (int d = 0; d < s->rank; d++)
        n *= s->dims[d];
    return n;
}

static int spec_dtype(const in_spec *s)
{
    switch (s->kind) {
    case 'b': return TETHER_DTYPE_BOOL;
    case 'r':
    case 'i':
    case 'I': return TETHER_DTYPE_INT64;
    case 'R': return TETHER_DTYPE_INT32;
    default: return TETHER_DTYPE_FLOAT;
    }
}

/* Fills buf (numel elements of the spec's dtype) with fresh data. */
static void fill(const in_spec *s, void *buf)
{
    int64_t n = numel(s);
    double lo = s->lo, hi = s->hi;
    if (lo == 0 && hi == 0)
        lo = -1, hi = 1;
    for (int64_t i = 0; i < n; i++) {
        switch (s->kind) {
        case 'b': ((uint8_t *)buf)[i] = rnd() < 0.5; break;
        case 'r': ((int64_t *)buf)[i] = (int64_t)floor(lo + rnd() * (hi - lo + 1)); break;
        case 'R': ((int32_t *)buf)[i] = (int32_t)floor(lo + rnd() * (hi - lo + 1)); break;
        case 'i':
        case 'I': ((int64_t *)buf)[i] = (int64_t)s->v[i]; break;
        case 'f':
        case 'F': ((float *)buf)[i] = (float)s->v[i]; break;
        default: ((float *)buf)[i] = (float)(lo + rnd() * (hi - lo)); break;
        }
    }
}

static bool is_input(const in_spec *s) { return strchr("xbrRI", s->kind) != NULL; }

/* ---- one case --------------------------------------------------------------------------------- */

static int n_inputs_of(const op_case *c)
{
    int n = 0;
    while (n < 6 && c->in[n].kind)
        n++;
    return n;
}

static pbw build_model(const op_case *c, void **weights)
{
    int nin = n_inputs_of(c), nout = c->n_out ? c->n_out : 1;
    char names[6][8], onames[4][8];
    const char *in[6], *out[4];
    pbw inputs[6], inits[6], outs[4], attrs[6];
    int ni = 0, nw = 0, na = 0;
    for (int k = 0; k < nin; k++) {
        const in_spec *s = &c->in[k];
        snprintf(names[k], sizeof names[k], "in%d", k);
        in[k] = s->kind == '-' ? "" : names[k];
        if (s->kind == '-')
            continue;
        if (is_input(s)) {
            inputs[ni++] = ob_input(names[k], spec_dtype(s), s->rank, s->dims);
        } else {
            size_t bytes = (size_t)numel(s) * tether_dtype_size(spec_dtype(s));
            weights[k] = calloc(1, bytes + 8);
            fill(s, weights[k]);
            inits[nw++] = ob_tensor(names[k], spec_dtype(s), s->rank, s->dims, weights[k], bytes);
        }
    }
    for (int k = 0; k < nout; k++) {
        snprintf(onames[k], sizeof onames[k], "out%d", k);
        out[k] = onames[k];
        outs[k] = ob_output(onames[k], c->out_dtype ? c->out_dtype : TETHER_DTYPE_FLOAT, -1, NULL);
    }
    for (; na < 6 && c->at[na].name; na++) {
        const attr_spec *a = &c->at[na];
        switch (a->type) {
        case 'i':
            if (strcmp(c->op, "ConstantOfShape") == 0 && strcmp(a->name, "value") == 0) {
                float one = 1.5f;
                pbw t = ob_tensor("value", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1}, &one, sizeof one);
                attrs[na] = ob_attr_tensor("value", &t);
            } else {
                attrs[na] = ob_attr_int(a->name, a->i);
            }
            break;
        case 'f': attrs[na] = ob_attr_float(a->name, a->f); break;
        case 's': attrs[na] = ob_attr_string(a->name, a->s); break;
        case 'I': attrs[na] = ob_attr_ints(a->name, a->n, a->ints); break;
        default: attrs[na] = ob_attr_floats(a->name, a->n, a->floats); break;
        }
    }
    pbw node = ob_node(c->op, nin, in, nout, out, na, attrs);
    pbw g = ob_graph("case", 1, &node, nw, inits, ni, inputs, nout, outs);
    return ob_model(c->opset, &g);
}

static double g_atol = 1e-5, g_rtol = 1e-4;
static bool g_verbose;

static bool close_enough(double a, double b, double atol, double rtol)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b;
    return fabs(a - b) <= atol + rtol * fabs(b);
}

static double load(const tether_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case TETHER_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case TETHER_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case TETHER_DTYPE_FLOAT16: return tt_f16_to_f32(((const uint16_t *)t->data)[i]);
    case TETHER_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case TETHER_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case TETHER_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

static bool compare(const op_case *c, const tether_outputs *got, const tether_outputs *want, char *why, size_t n)
{
    double atol = c->atol ? c->atol : g_atol, rtol = c->rtol ? c->rtol : g_rtol;
    for (size_t k = 0; k < tether_outputs_count(want); k++) {
        const tether_tensor *a = tether_outputs_get(got, k), *b = tether_outputs_get(want, k);
        if (!a || a->dtype != b->dtype || a->rank != b->rank || memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)b->rank)) {
            snprintf(why, n, "output %zu: dtype or shape differs from ref's", k);
            return false;
        }
        int64_t cnt = 1;
        for (int d = 0; d < b->rank; d++)
            cnt *= b->dims[d];
        for (int64_t i = 0; i < cnt; i++) {
            double x = load(a, i), y = load(b, i);
            if (!close_enough(x, y, atol, rtol)) {
                snprintf(why, n, "output %zu element %lld: %.9g, ref %.9g (atol %g, rtol %g)", k, (long long)i, x, y,
                         atol, rtol);
                return false;
            }
        }
    }
    return true;
}

/* Where the case's node was placed in session s. */
static const char *placed_on(tether_session *s, const char *op)
{
    tt_local *l = tt_session_local(s);
    if (!l)
        return "?";
    const tt_graph *g = l->model->graph;
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].op_type, op) == 0 && g->nodes[i].backend)
            return g->nodes[i].backend->name;
    return "(folded away)";
}

static const char *g_precision;
static const tt_backend *g_dry; /* --placement-only: the placement-only instance */

/* --placement-only: compiles c onto [dry, cpu, ref] and checks where its node lands; runs
 * it on ref. */
static int place_case(const op_case *c, char *why, size_t n)
{
    void *weights[6] = {0};
    pbw m = build_model(c, weights);
    tt_model *model = NULL;
    int rc = 1;
    tt_backend_list bl = {.n = 3, .b = {g_dry, &tt_backend_cpu, &tt_backend_ref}};
    if (tt_model_load(m.buf, m.len, NULL, &model) != TT_OK) {
        snprintf(why, n, "cannot load it: %s", tt_last_error());
    } else if (tt_graph_compile(model->graph, &bl, true) != TT_OK) {
        snprintf(why, n, "cannot place it: %s", tt_last_error());
    } else {
        const tt_graph *g = model->graph;
        const char *where = "(folded away)";
        int copies = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            if (strcmp(g->nodes[i].op_type, c->op) == 0)
                where = g->nodes[i].backend->name;
            copies += strncmp(g->nodes[i].op_type, "Memcpy", 6) == 0;
        }
        bool outputs_on_host = true;
        for (int i = 0; i < g->n_outputs; i++)
            outputs_on_host &= tt_buft_is_host(g->values[g->outputs[i]].buft);
        if (strcmp(where, g_dry->name) != 0)
            snprintf(why, n, "the node went to %s, not %s: its kernel refused the case", where, g_dry->name);
        else if (!outputs_on_host)
            snprintf(why, n, "an output of the graph stays on the device");
        else
            rc = 0;
        if (g_verbose && rc == 0)
            snprintf(why, n, "placed on %s with %d copies", where, copies);
        tt_graph_release(model->graph);
    }
    if (model)
        tt_model_free(model);
    for (int i = 0; i < 6; i++)
        free(weights[i]);
    ob_free(&m);
    if (rc == 0) {
        /* and the case itself runs on ref */
        tether_session *ref = NULL;
        tether_session_config cfg;
        tether_session_config_init(&cfg);
        cfg.quiet = 1;
        cfg.target = "ref";
        void *w2[6] = {0};
        pbw m2 = build_model(c, w2);
        if (tether_session_open_bytes(&ref, m2.buf, m2.len, &cfg) != TETHER_OK) {
            snprintf(why, n, "ref cannot open it: %s", tether_last_error());
            rc = 1;
        }
        tether_session_free(ref);
        for (int i = 0; i < 6; i++)
            free(w2[i]);
        ob_free(&m2);
    }
    return rc;
}

/* Runs case c: 0 passed, 1 failed (why filled). */
static int run_case(const op_case *c, const char *backend, char *why, size_t n)
{
    void *weights[6] = {0};
    pbw m = build_model(c, weights);
    tether_session *ref = NULL, *dev = NULL;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = "ref";
    int rc = 1;
    if (tether_session_open_bytes(&ref, m.buf, m.len, &cfg) != TETHER_OK) {
        snprintf(why, n, "ref cannot open it: %s", tether_last_error());
        goto done;
    }
    cfg.target = backend;
    cfg.precision = g_precision;
    if (tether_session_open_bytes(&dev, m.buf, m.len, &cfg) != TETHER_OK) {
        snprintf(why, n, "%s cannot open it: %s", backend, tether_last_error());
        goto done;
    }
    const char *where = placed_on(dev, c->op);
    tt_local *dl = tt_session_local(dev);
    const char *bname = dl && dl->backends.n ? dl->backends.b[0]->name : backend;
    if (strcmp(where, bname) != 0) {
        snprintf(why, n, "the node ran on %s, not %s: its kernel refused the case", where, bname);
        goto done;
    }
    int nin = n_inputs_of(c);
    tether_tensor in[6];
    void *bufs[6] = {0};
    int k = 0;
    rc = 0;
    for (int run = 0; run < 3 && rc == 0; run++) {
        k = 0;
        for (int i = 0; i < nin; i++) {
            const in_spec *s = &c->in[i];
            if (!is_input(s))
                continue;
            size_t bytes = (size_t)numel(s) * tether_dtype_size(spec_dtype(s));
            if (!bufs[i])
                bufs[i] = calloc(1, bytes + 8);
            fill(s, bufs[i]);
            char *name = malloc(8);
            snprintf(name, 8, "in%d", i);
            in[k] = (tether_tensor){.name = name, .dtype = spec_dtype(s), .rank = s->rank, .data = bufs[i], .size = bytes};
            memcpy(in[k].dims, s->dims, sizeof(int64_t) * (size_t)s->rank);
            k++;
        }
        tether_outputs *a = NULL, *b = NULL;
        if (tether_session_run(ref, in, (size_t)k, &b) != TETHER_OK) {
            snprintf(why, n, "ref failed: %s", tether_last_error());
            rc = 1;
        } else if (tether_session_run(dev, in, (size_t)k, &a) != TETHER_OK) {
            snprintf(why, n, "run %d failed: %s", run + 1, tether_last_error());
            rc = 1;
        } else if (!compare(c, a, b, why, n)) {
            size_t o = strlen(why);
            snprintf(why + o, n - o, " (run %d)", run + 1);
            rc = 1;
        }
        tether_outputs_free(a);
        tether_outputs_free(b);
        for (int i = 0; i < k; i++)
            free((void *)in[i].name);
    }
    for (int i = 0; i < 6; i++)
        free(bufs[i]);
done:
    tether_session_free(ref);
    tether_session_free(dev);
    for (int i = 0; i < 6; i++)
        free(weights[i]);
    ob_free(&m);
    return rc;
}

/* ---- coverage --------------------------------------------------------------------------------- */

typedef struct schema_q {
    const tt_kernel *k;
    bool found;
} schema_q;

static void find_schema(const tt_op_schema *s, void *arg)
{
    schema_q *q = arg;
    if (strcmp(s->name, q->k->name) != 0 || !tt_domain_eq(s->domain, q->k->domain))
        return;
    int lo = s->since > q->k->since ? s->since : q->k->since;
    int hi_s = s->until ? s->until : 1 << 30, hi_k = q->k->until ? q->k->until : 1 << 30;
    if (lo <= (hi_s < hi_k ? hi_s : hi_k))
        q->found = true;
}

static bool covers(const op_case *c, const tt_kernel *k)
{
    return strcmp(c->op, k->name) == 0 && tt_domain_eq(k->domain, "") && c->opset >= k->since &&
           (!k->until || c->opset <= k->until);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tether-backend-ops --backend NAME [--op OP] [--precision P] [--seed N] [-v]\n\n"
               "Runs every kernel backend NAME (cpu, cuda:0, ...) registers on random inputs of\n"
               "several shapes and compares its outputs with the reference kernels'. Each case\n"
               "runs three times (device backends capture and replay their steady path by then).\n"
               "Prints one line per case and ends with 'N passed, N failed, N skipped'.\n\n"
               "  -b, --backend NAME   the backend under test\n"
               "  -o, --op OP          only cases of op OP\n"
               "  -p, --precision P    fp32 (default), tf32 or fp16; tolerances widen to 1e-2\n"
               "  -s, --seed N         random seed\n"
               "  -l, --list           list the backend's kernels and the cases covering each\n"
               "      --placement-only no device needed: check that each case's node is placed on a\n"
               "                       placement-only instance of the plugin backend, and runs on ref\n"
               "  -v, --verbose        print passing cases too\n"
               "  -h, --help\n"
               "Exit status: 0 all passed, 1 a failure, 77 the backend is unavailable here.\n");
}

int main(int argc, char **argv)
{
    const char *backend = NULL, *only = NULL;
    bool list = false, placement_only = false;
    static const struct option opts[] = {{"backend", required_argument, 0, 'b'}, {"op", required_argument, 0, 'o'},
                                         {"precision", required_argument, 0, 'p'}, {"seed", required_argument, 0, 's'},
                                         {"list", no_argument, 0, 'l'},           {"verbose", no_argument, 0, 'v'},
                                         {"placement-only", no_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "b:o:p:s:lvh", opts, NULL)) != -1) {
        switch (o) {
        case 'b': backend = optarg; break;
        case 'o': only = optarg; break;
        case 'p': g_precision = optarg; break;
        case 's': g_rng = strtoull(optarg, NULL, 10) | 1; break;
        case 'l': list = true; break;
        case 'P': placement_only = true; break;
        case 'v': g_verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!backend || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (g_precision && strcmp(g_precision, "fp32") != 0)
        g_atol = g_rtol = 1e-2;
    tt_backend_list bl = {0};
    const tt_backend *b;
    if (placement_only) {
        char plugin[16];
        snprintf(plugin, sizeof plugin, "%.*s", (int)strcspn(backend, ":"), backend);
        const tt_plugin *p;
        if (tt_plugin_load(plugin, &p) != TT_OK || p->open(-1, NULL, &g_dry) != TT_OK) {
            printf("tether-backend-ops: no placement-only instance of %s: %s\n", backend, tether_last_error());
            printf("0 passed, 0 failed, 1 skipped\n");
            return 77;
        }
        b = g_dry;
    } else {
        if (tt_backend_list_for_opts(backend, &(tt_backend_opts){.precision = g_precision}, &bl) != TT_OK) {
            printf("tether-backend-ops: %s\n", tether_last_error());
            printf("0 passed, 0 failed, 1 skipped\n");
            return 77;
        }
        b = bl.b[0];
    }
    int passed = 0, failed = 0, skipped = 0, kernels = 0;
    size_t ncases = sizeof g_cases / sizeof g_cases[0];
    bool *ran = calloc(ncases, sizeof *ran);
    /* every kernel must be covered by a case */
    for (const tt_kernel *const *t = b->tables; *t; t++) {
        for (const tt_kernel *k = *t; k->name; k++) {
            if (only && strcmp(k->name, only) != 0)
                continue;
            if (tt_domain_eq(k->domain, TT_DOMAIN) && strncmp(k->name, "Memcpy", 6) == 0)
                continue; /* the copies run in every case */
            kernels++;
            int covering = 0;
            for (size_t i = 0; i < ncases; i++)
                if (covers(&g_cases[i], k))
                    covering++;
            schema_q q = {.k = k};
            tt_op_foreach(find_schema, &q);
            if (list)
                printf("%-20s opsets %d-%s: %d case%s%s\n", k->name, k->since, k->until ? "" : "", covering,
                       covering == 1 ? "" : "s", q.found ? "" : " (no schema in this build)");
            if (covering)
                continue;
            if (!q.found) {
                printf("skip %s (opset %d+): tether has no schema for it in this build\n", k->name, k->since);
                skipped++;
            } else {
                printf("FAIL %s (opsets %d..%d): no case covers this kernel\n", k->name, k->since, k->until);
                failed++;
            }
        }
    }
    if (list) {
        tt_backend_list_release(&bl);
        free(ran);
        return 0;
    }
    for (size_t i = 0; i < ncases; i++) {
        const op_case *c = &g_cases[i];
        if (only && strcmp(c->op, only) != 0)
            continue;
        /* only cases of kernels this backend has */
        bool has = false;
        for (const tt_kernel *const *t = b->tables; *t && !has; t++)
            for (const tt_kernel *k = *t; k->name && !has; k++)
                has = covers(c, k);
        if (!has)
            continue;
        tt_kernel probe = {.domain = "", .name = c->op, .since = c->opset, .until = c->opset};
        schema_q q = {.k = &probe};
        tt_op_foreach(find_schema, &q);
        if (!q.found) {
            printf("skip %s-%d case %zu: tether has no schema for it in this build\n", c->op, c->opset, i);
            skipped++;
            continue;
        }
        char why[600] = "";
        if ((placement_only ? place_case(c, why, sizeof why) : run_case(c, backend, why, sizeof why)) == 0) {
            passed++;
            if (g_verbose)
                printf("ok   %s-%d case %zu %s\n", c->op, c->opset, i, why);
        } else {
            failed++;
            printf("FAIL %s-%d case %zu: %s\n", c->op, c->opset, i, why);
        }
        fflush(stdout);
    }
    printf("%s: %d kernels checked against ref\n", b->name, kernels);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    tt_backend_list_release(&bl);
    tt_backend_close(g_dry);
    free(ran);
    return failed ? 1 : 0;
}
