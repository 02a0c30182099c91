/* Every kernel a backend registers, checked against the reference kernels on random
 * inputs of several shapes (in the manner of ggml's test-backend-ops). For each backend
 * under test (default: every built-in backend but ref, and cuda:0 when it is available):
 * every kernel must have at least one case below that the backend really runs, and every
 * case's outputs must match the ref backend's within its tolerance. Cases marked batch
 * also check that each sample of a batched run is bit-identical to running that sample
 * alone (dynamic batching relies on it).
 *
 *   test_backend_ops [CASE-FILTER]        TETHER_TEST_BACKENDS=cpu,cuda:0 to choose
 *
 * A case is one line: op (with "com.tether:" for tether's own ops), opset, inputs, and
 * attributes. Inputs: "name:dtype[dims]" plus "=c" for a constant (an initializer, as
 * weights are) and "{lo,hi}" for the value range (default -1..1; integer dtypes draw
 * integers in [lo, hi)) or "<6,4>" for given values. Attributes: "name=1" int, "name=0.5f" float, "name=1,2" ints,
 * "name=s:text" string; separated by ';'. */
#include "check.h"
#include "onnx_build.h"

#include "backends/plugin.h"
#include "model/model.h"
#include "ops/util.h"
#include "runtime/prepare.h"
#include "runtime/session.h"

#include <math.h>

typedef struct bo_case {
    const char *op;
    int opset;
    const char *inputs;
    const char *attrs;
    double atol, rtol;   /* 0: 1e-4 and 1e-3 */
    bool batch;          /* check batch invariance along input 0's first dim */
    int n_out;           /* outputs (0: 1) */
    int out_dtype;       /* the outputs' declared dtype (0: input 0's) */
} bo_case;

#define CASE(op_, opset_, inputs_, attrs_, ...) {.op = op_, .opset = opset_, .inputs = inputs_, .attrs = attrs_, __VA_ARGS__}

/* Cases per op; several shapes each (odd sizes, sizes past one vector, broadcasting). */
static const bo_case g_cases[] = {
    CASE("Relu", 14, "x:f32[3,5]", ""),
    CASE("Relu", 14, "x:f32[2,3,17,9]", "", .batch = true),
    CASE("Relu", 14, "x:f32[1000]", ""),
    CASE("Add", 14, "a:f32[4,33] b:f32[4,33]", ""),
    CASE("Add", 14, "a:f32[2,8,5,5] b:f32[8,1,1]", ""),
    CASE("Add", 14, "a:f32[2,3,65] b:f32[65]=c", "", .batch = true),
    CASE("Add", 14, "a:f32[2,1,4] b:f32[3,1]", ""),
    CASE("Add", 14, "a:f32[]=c b:f32[6,7]", ""),
    CASE("Mul", 14, "a:f32[4,33] b:f32[4,33]", ""),
    CASE("Mul", 14, "a:f32[2,3,65] b:f32[1]=c", ""),
    CASE("Mul", 14, "a:f32[2,3,5,5] b:f32[1,3,1,1]=c", ""),
    CASE("Sub", 14, "a:f32[4,33] b:f32[33]", ""),
    CASE("Sub", 14, "a:f32[2,1,4] b:f32[3,1]", ""),
    CASE("Div", 14, "a:f32[4,33] b:f32[4,33]{0.5,2}", ""),
    CASE("Div", 14, "a:f32[2,3,4] b:f32[]=c{0.5,2}", ""),
    CASE("Pow", 15, "a:f32[2,3,4]{0.5,2} b:f32[2,3,4]{0.5,2}", ""),
    CASE("Pow", 15, "a:f32[2,3,4]{0.5,2} b:f32[]=c<2>", ""),
    CASE("Max", 13, "a:f32[2,3,4] b:f32[4]", ""),
    CASE("Min", 13, "a:f32[2,3,4] b:f32[3,1]", ""),
    CASE("PRelu", 16, "x:f32[2,3,4,4] s:f32[3,1,1]=c", ""),
    CASE("PRelu", 16, "x:f32[5,7] s:f32[7]=c", ""),
    CASE("Mod", 13, "a:f32[2,3,4]{-5,5} b:f32[2,3,4]{0.5,2}", "fmod=1"),
    CASE("Sigmoid", 13, "x:f32[7,19]", ""),
    CASE("Tanh", 13, "x:f32[7,19]", ""),
    CASE("Exp", 13, "x:f32[7,19]", ""),
    CASE("Erf", 13, "x:f32[7,19]", ""),
    CASE("Sqrt", 13, "x:f32[7,19]{0,4}", ""),
    CASE("Log", 13, "x:f32[7,19]{0.1,3}", ""),
    CASE("Neg", 13, "x:f32[7,19]", ""),
    CASE("Abs", 13, "x:f32[7,19]", ""),
    CASE("Reciprocal", 13, "x:f32[7,19]{0.5,2}", ""),
    CASE("Floor", 13, "x:f32[7,19]{-5,5}", ""),
    CASE("Ceil", 13, "x:f32[7,19]{-5,5}", ""),
    CASE("Round", 11, "x:f32[7,19]{-5,5}", ""),
    CASE("Sin", 7, "x:f32[7,19]{-3,3}", ""),
    CASE("Cos", 7, "x:f32[7,19]{-3,3}", ""),
    CASE("Sign", 13, "x:f32[7,19]", ""),
    CASE("HardSwish", 14, "x:f32[7,19]{-5,5}", ""),
    CASE("Softplus", 1, "x:f32[7,19]{-5,5}", ""),
    CASE("Softsign", 1, "x:f32[7,19]", ""),
    CASE("Mish", 18, "x:f32[7,19]", ""),
    CASE("Gelu", 20, "x:f32[7,19]", ""),
    CASE("LeakyRelu", 16, "x:f32[2,3,4]", "alpha=0.1f"),
    CASE("Elu", 6, "x:f32[2,3,4]", "alpha=0.5f"),
    CASE("Selu", 6, "x:f32[2,3,4]", ""),
    CASE("HardSigmoid", 6, "x:f32[2,3,4]{-5,5}", "alpha=0.3f;beta=0.4f"),
    CASE("Clip", 6, "x:f32[2,3,4]{-2,2}", "min=-0.5f;max=0.7f"),
    CASE("Clip", 13, "x:f32[2,3,4]{-8,8} lo:f32[]=c<0> hi:f32[]=c<6>", ""),
    CASE("Clip", 13, "x:f32[2,3,4]{-2,2} - hi:f32[]=c<0.25>", ""),
    CASE("Where", 16, "c:bool[2,3,4] x:f32[2,3,4] z:f32[4]", ""),
    CASE("Cast", 13, "x:f32[3,5]{-100,100}", "to=6", .out_dtype = TETHER_DTYPE_INT32),
    CASE("Cast", 13, "x:f32[3,5]", "to=10", .out_dtype = TETHER_DTYPE_FLOAT16),
    CASE("Cast", 13, "x:f32[3,5]", "to=11", .out_dtype = TETHER_DTYPE_DOUBLE),
    CASE("Cast", 13, "x:f32[3,5]", "to=9", .out_dtype = TETHER_DTYPE_BOOL),
    CASE("ConstantOfShape", 9, "s:i64[3]<2,3,4>", "", .out_dtype = TETHER_DTYPE_FLOAT),
    CASE("Softmax", 13, "x:f32[2,3,37]", "axis=-1", .batch = true),
    CASE("Softmax", 13, "x:f32[4,128]", "axis=1"),
    CASE("Softmax", 13, "x:f32[2,30,5]", "axis=1"),
    CASE("Softmax", 13, "x:f32[2,3000]", "axis=-1"),
    CASE("Softmax", 11, "x:f32[2,3,4]", "axis=1"),
    CASE("LogSoftmax", 13, "x:f32[2,3,40]", "axis=-1"),
    CASE("MatMul", 13, "a:f32[5,17] b:f32[17,9]=c", "", .batch = true),
    CASE("MatMul", 13, "a:f32[2,3,16,32] b:f32[2,3,32,16]", ""),
    CASE("MatMul", 13, "a:f32[2,3,16,32] b:f32[3,32,16]", "", .batch = true), /* b broadcasts over the batch */
    CASE("MatMul", 13, "a:f32[1,7,64] b:f32[64,128]=c", ""),
    CASE("MatMul", 13, "a:f32[4,8] b:f32[8]=c", ""),
    CASE("MatMul", 13, "a:f32[8] b:f32[3,8,5]", ""),
    CASE("MatMul", 13, "a:f32[2,1,4,8] b:f32[1,3,8,5]", ""),
    CASE("MatMul", 13, "a:f32[16,64,256] b:f32[256,256]=c", ""),
    CASE("Gemm", 13, "a:f32[3,20] b:f32[20,7]=c c:f32[7]=c", ""),
    CASE("Gemm", 13, "a:f32[3,20] b:f32[7,20]=c c:f32[7]=c", "transB=1", .batch = true),
    CASE("Gemm", 13, "a:f32[4,8] b:f32[5,8]=c c:f32[4,5]=c", "transB=1;alpha=0.5f;beta=2.0f"),
    CASE("Gemm", 13, "a:f32[8,4] b:f32[8,5]=c", "transA=1"),
    CASE("Gemm", 13, "a:f32[3,300] b:f32[300,200]=c c:f32[3,1]=c", ""),
    CASE("Conv", 11, "x:f32[1,3,9,9] w:f32[8,3,3,3]=c b:f32[8]=c", "pads=1,1,1,1"),
    CASE("Conv", 11, "x:f32[2,16,7,7] w:f32[32,16,1,1]=c b:f32[32]=c", "", .batch = true),
    CASE("Conv", 11, "x:f32[1,8,10,10] w:f32[8,1,3,3]=c", "group=8;pads=1,1,1,1;strides=2,2"),
    CASE("Conv", 11, "x:f32[1,4,11,11] w:f32[6,4,5,5]=c b:f32[6]=c", "strides=2,2;pads=2,2,2,2;dilations=1,1"),
    CASE("Conv", 11, "x:f32[2,16,12,12] w:f32[32,4,3,3]=c b:f32[32]=c", "group=4;pads=0,1,2,1;dilations=2,1",
         .batch = true),
    CASE("Conv", 11, "x:f32[2,8,20] w:f32[16,8,3]=c", "pads=1,1", .batch = true),
    CASE("Conv", 11, "x:f32[1,4,5,6,7] w:f32[8,4,3,3,3]=c b:f32[8]=c", "pads=1,1,1,1,1,1"),
    CASE("Conv", 11, "x:f32[1,3,17,17] w:f32[16,3,7,7]=c b:f32[16]=c", "auto_pad=s:SAME_UPPER;strides=2,2",
         .batch = true),
    CASE("ConvTranspose", 11, "x:f32[2,8,5,5] w:f32[8,4,3,3]=c b:f32[4]=c",
         "strides=2,2;pads=1,1,1,1;output_padding=1,1", .batch = true),
    CASE("ConvTranspose", 11, "x:f32[1,8,6,6] w:f32[8,2,4,4]=c", "group=4;strides=2,2;pads=1,1,1,1"),
    CASE("ConvTranspose", 11, "x:f32[2,4,7] w:f32[4,6,3]=c b:f32[6]=c", "pads=1,0", .batch = true),
    CASE("ConvTranspose", 11, "x:f32[1,4,5,5] w:f32[4,3,3,3]=c", "strides=2,2;output_shape=12,12"),
    /* tether's fused convolution: plain or blocked (ops/cnn.h) in and out, residual Z, activations */
    CASE("com.tether:FusedConv", 1, "x:f32[1,16,9,9] w:f32[32,16,3,3]=c b:f32[32]=c", "pads=1,1,1,1;activation=s:Relu"),
    CASE("com.tether:FusedConv", 1, "x:f32[2,3,15,15] w:f32[16,3,3,3]=c b:f32[16]=c",
         "strides=2,2;pads=1,1,1,1;block=16;activation=s:Relu", .batch = true),
    CASE("com.tether:FusedConv", 1, "x:f32[2,2,7,7,16] w:f32[32,32,3,3]=c b:f32[32]=c",
         "pads=1,1,1,1;block=16;activation=s:LeakyRelu;activation_alpha=0.1f", .batch = true),
    CASE("com.tether:FusedConv", 1, "x:f32[2,2,7,7,16] w:f32[32,32,3,3]=c b:f32[32]=c z:f32[2,2,7,7,16]",
         "pads=1,1,1,1;block=16;activation=s:Relu"),
    CASE("com.tether:FusedConv", 1, "x:f32[1,2,8,8,16] w:f32[24,32,1,1]=c b:f32[24]=c",
         "block=16;activation=s:Clip;activation_alpha=0.0f;activation_beta=6.0f", .batch = true),
    CASE("com.tether:FusedConv", 1, "x:f32[1,2,10,10,16] w:f32[32,1,3,3]=c b:f32[32]=c",
         "group=32;pads=1,1,1,1;strides=2,2;block=16;activation=s:Clip;activation_alpha=0.0f;activation_beta=6.0f",
         .batch = true),
    CASE("com.tether:FusedConv", 1, "x:f32[1,2,6,6,16] w:f32[8,32,1,1]=c b:f32[8]=c z:f32[1,8,6,6]", "activation=s:Sigmoid"),
    CASE("com.tether:FusedConv", 1, "x:f32[1,16,6,6] w:f32[16,16,3,3]=c b:f32[16]=c z:f32[1,2,6,6,8]",
         "pads=1,1,1,1;block=8;activation=s:HardSigmoid;activation_alpha=0.2f;activation_beta=0.5f"),
    CASE("com.tether:FusedConv", 1, "x:f32[2,2,7,7,8] w:f32[16,16,3,3]=c", "pads=1,1,1,1;block=8;activation=s:Tanh",
         .batch = true),
    CASE("com.tether:FusedConv", 1, "x:f32[1,2,7,7,16] w:f32[16,32,1,1]=c b:f32[16]=c",
         "block=16;activation=s:HardSwish"),
    /* reduced precision (a session option): bf16 where the CPU has it, int8 with weights per
     * channel and activations per sample; compared with ref's float32 at the precision's scale */
    CASE("com.tether:FusedConv", 1, "x:f32[2,2,7,7,16] w:f32[32,32,3,3]=c b:f32[32]=c",
         "pads=1,1,1,1;block=16;activation=s:Relu;precision=s:bf16", .atol = 0.08, .rtol = 0.03, .batch = true),
    CASE("com.tether:FusedConv", 1, "x:f32[1,16,9,9] w:f32[16,16,1,1]=c", "precision=s:bf16", .atol = 0.08,
         .rtol = 0.03),
    CASE("com.tether:FusedConv", 1, "x:f32[2,16,9,9] w:f32[32,16,3,3]=c b:f32[32]=c z:f32[2,2,9,9,16]",
         "pads=1,1,1,1;block=16;precision=s:int8", .atol = 0.1, .rtol = 0.05),
    CASE("com.tether:FusedConv", 1, "x:f32[2,2,8,8,16] w:f32[16,32,1,1]=c b:f32[16]=c",
         "block=16;activation=s:Clip;activation_alpha=0.0f;activation_beta=6.0f;precision=s:int8", .atol = 0.1,
         .rtol = 0.05, .batch = true),
    CASE("com.tether:FusedConv", 1, "x:f32[1,2,10,10,16] w:f32[32,1,3,3]=c b:f32[32]=c",
         "group=32;pads=1,1,1,1;block=16;precision=s:int8", .atol = 0.1, .rtol = 0.05),
    CASE("com.tether:ToBlocked", 1, "x:f32[2,24,5,5]", "block=16", .batch = true),
    CASE("com.tether:ToBlocked", 1, "x:f32[1,12,3,4,5]", "block=8"),
    CASE("com.tether:FromBlocked", 1, "x:f32[2,2,5,5,16]", "channels=24", .batch = true),
    CASE("com.tether:FromBlocked", 1, "x:f32[1,2,7,8]", "channels=16"),
    CASE("MaxPool", 12, "x:f32[1,8,9,9]", "kernel_shape=3,3;strides=2,2;pads=1,1,1,1"),
    CASE("MaxPool", 12, "x:f32[2,4,10,11]", "kernel_shape=3,3;strides=2,2;ceil_mode=1", .batch = true),
    CASE("MaxPool", 12, "x:f32[1,4,10,11]", "kernel_shape=2,3;dilations=2,2;pads=1,0,1,2"),
    CASE("AveragePool", 11, "x:f32[2,8,8,8]", "kernel_shape=2,2;strides=2,2", .batch = true),
    CASE("AveragePool", 11, "x:f32[1,3,9,9]", "kernel_shape=3,3;strides=2,2;pads=1,1,1,1;count_include_pad=1"),
    CASE("AveragePool", 11, "x:f32[1,3,10,10]", "kernel_shape=3,3;strides=2,2;pads=1,1,1,1;ceil_mode=1"),
    CASE("GlobalAveragePool", 1, "x:f32[2,16,7,7]", "", .batch = true),
    CASE("GlobalMaxPool", 1, "x:f32[2,5,6,7]", "", .batch = true),
    CASE("com.tether:BlockedMaxPool", 1, "x:f32[2,2,9,9,16]", "kernel_shape=3,3;strides=2,2;pads=1,1,1,1",
         .batch = true),
    CASE("com.tether:BlockedMaxPool", 1, "x:f32[1,1,9,10,8]", "kernel_shape=3,3;strides=2,2;ceil_mode=1"),
    CASE("com.tether:BlockedAveragePool", 1, "x:f32[2,1,8,8,16]",
         "kernel_shape=3,3;strides=2,2;pads=1,1,1,1;count_include_pad=1", .batch = true),
    CASE("com.tether:BlockedAveragePool", 1, "x:f32[1,2,8,8,8]", "kernel_shape=2,2;strides=2,2"),
    CASE("com.tether:BlockedGlobalAveragePool", 1, "x:f32[2,2,7,7,16]", "", .batch = true),
    CASE("com.tether:BlockedGlobalAveragePool", 1, "x:f32[1,3,5,5,8]", ""),
    CASE("com.tether:BlockedGlobalMaxPool", 1, "x:f32[2,2,7,7,16]", "", .batch = true),
    CASE("com.tether:BlockedGlobalMaxPool", 1, "x:f32[1,3,5,5,8]", ""),
    CASE("Conv", 11, "x:f32[1,4,12,12] w:f32[4,2,3,3]=c", "group=2;dilations=2,2"),
    CASE("Conv", 11, "x:f32[1,4,20] w:f32[6,4,5]=c b:f32[6]=c", "pads=2,2"),
    CASE("Conv", 11, "x:f32[1,3,7,7] w:f32[4,3,3,3]=c", "auto_pad=s:SAME_UPPER"),
    CASE("Conv", 11, "x:f32[2,64,14,14] w:f32[64,64,3,3]=c b:f32[64]=c", "pads=1,1,1,1"),
    CASE("MaxPool", 12, "x:f32[1,2,10]", "kernel_shape=2,"),
    CASE("MaxPool", 12, "x:f32[1,2,9,9]", "kernel_shape=3,3;dilations=2,2;ceil_mode=1"),
    CASE("AveragePool", 11, "x:f32[1,2,9,9]", "kernel_shape=3,3;pads=1,1,1,1;count_include_pad=1"),
    CASE("AveragePool", 11, "x:f32[1,1,4,4,4]", "kernel_shape=2,2,2;strides=2,2,2"),
    CASE("AveragePool", 11, "x:f32[1,2,7,7]", "kernel_shape=3,3;auto_pad=s:SAME_UPPER"),
    CASE("LpPool", 18, "x:f32[1,2,6,6]", "kernel_shape=2,2;p=2"),
    CASE("GlobalMaxPool", 1, "x:f32[2,3,7,7]", ""),
    CASE("BatchNormalization", 15, "x:f32[2,6,5,5] s:f32[6]=c b:f32[6]=c m:f32[6]=c v:f32[6]=c{0.5,2}", ""),
    CASE("LayerNormalization", 17, "x:f32[2,5,32] s:f32[32]=c b:f32[32]=c", "axis=-1", .batch = true),
    CASE("LayerNormalization", 17, "x:f32[2,5,4] s:f32[5,4]=c", "axis=-2"),
    CASE("LayerNormalization", 17, "x:f32[3,2000] s:f32[2000]=c b:f32[2000]=c", "axis=-1"),
    CASE("Transpose", 13, "x:f32[2,3,4,5]", "perm=0,2,1,3"),
    CASE("Transpose", 13, "x:f32[33,65]", ""),
    CASE("Concat", 13, "a:f32[2,3,4] b:f32[2,5,4]", "axis=1"),
    CASE("Concat", 13, "a:f32[2,3,4] b:f32[2,5,4] c:f32[2,1,4]=c", "axis=1"),
    CASE("Concat", 13, "a:f32[3,4] b:f32[3,2]", "axis=-1"),
    CASE("Split", 13, "x:f32[2,5,3] s:i64[2]=c<2,3>", "axis=1", .n_out = 2),
    CASE("Split", 11, "x:f32[6,4]", "axis=0", .n_out = 3),
    CASE("Slice", 13, "x:f32[2,3,10] s:i64[1]=c<1> e:i64[1]=c<9> a:i64[1]=c<2> p:i64[1]=c<2>", ""),
    CASE("Slice", 13, "x:f32[4,3,10] s:i64[2]=c<-1,8> e:i64[2]=c<-5,1> a:i64[2]=c<0,2> p:i64[2]=c<-1,-3>", ""),
    CASE("Slice", 9, "x:f32[4,3,10]", "starts=1,2;ends=3,100;axes=0,2"),
    CASE("Expand", 13, "x:f32[3,1] s:i64[3]=c<2,3,4>", ""),
    CASE("Gather", 13, "x:f32[10,16]=c i:i64[2,3]{0,10}", "axis=0"),
    CASE("Gather", 13, "x:f32[10,4]=c i:i64[2,3]{-10,10}", "axis=0"),
    CASE("Gather", 13, "x:f32[2,7,3] i:i32[4]{0,7}", "axis=1"),
    CASE("Pad", 13, "x:f32[1,2,5,5] p:i64[8]=c<0,0,1,2,0,0,2,1> v:f32[]=c<0.5>", ""),
    CASE("Pad", 13, "x:f32[1,2,5,5] p:i64[8]=c<0,0,2,2,0,0,1,3>", "mode=s:reflect"),
    CASE("Pad", 13, "x:f32[1,2,5,5] p:i64[8]=c<0,0,2,2,0,0,1,3>", "mode=s:edge"),
    CASE("Pad", 10, "x:f32[3,4]", "pads=1,0,2,1;value=-1.0f"),
    CASE("ReduceMean", 13, "x:f32[2,5,32]", "axes=-1,;keepdims=1"),
    CASE("ReduceMean", 13, "x:f32[2,5,7]", ""),
    CASE("ReduceMean", 18, "x:f32[2,5,7] a:i64[1]=c<1>", ""),
    CASE("ReduceSum", 11, "x:f32[2,5,7]", "axes=1,"),
    CASE("ReduceSum", 13, "x:f32[2,5,70] a:i64[1]=c<-1>", ""),
    CASE("ReduceSum", 13, "x:f32[2,5,3,4] a:i64[2]=c<1,2>", "keepdims=0"),
    CASE("ReduceMax", 13, "x:f32[2,5,70]", "axes=-1,"),
    CASE("ReduceMax", 18, "x:f32[2,5,7] a:i64[1]=c<1>", ""),
    CASE("ReduceMin", 13, "x:f32[2,5,3,4]", "axes=1,2;keepdims=0"),
    CASE("ReduceMin", 18, "x:f32[2,5,7] a:i64[1]=c<1>", ""),
    CASE("ReduceProd", 13, "x:f32[2,5,7]{0.7,1.3}", "axes=-1,"),
    CASE("ReduceProd", 18, "x:f32[2,5,7]{0.7,1.3} a:i64[1]=c<1>", ""),
    CASE("ReduceSumSquare", 13, "x:f32[2,5,70]", "axes=-1,"),
    CASE("ReduceSumSquare", 18, "x:f32[2,5,7] a:i64[1]=c<1>", ""),
    CASE("ReduceL1", 13, "x:f32[2,5,70]", "axes=-1,"),
    CASE("ReduceL1", 18, "x:f32[2,5,7] a:i64[1]=c<1>", ""),
    CASE("ReduceL2", 13, "x:f32[2,5,70]", "axes=-1,"),
    CASE("ReduceL2", 18, "x:f32[2,5,7] a:i64[1]=c<1>", ""),
    CASE("ReduceLogSum", 13, "x:f32[2,5,70]{0.1,1}", "axes=-1,"),
    CASE("ReduceLogSum", 18, "x:f32[2,5,7]{0.1,1} a:i64[1]=c<1>", ""),
    CASE("ReduceLogSumExp", 13, "x:f32[2,5,70]", "axes=-1,"),
    CASE("ReduceLogSumExp", 18, "x:f32[2,5,7] a:i64[1]=c<1>", ""),
    CASE("Resize", 13, "x:f32[1,2,5,6] - s:f32[4]=c<1,1,2,2>", ""),
    CASE("Resize", 13, "x:f32[1,2,5,6] - - z:i64[4]=c<1,2,9,13>", "mode=s:linear"),
    CASE("Resize", 13, "x:f32[1,2,5,6] - - z:i64[4]=c<1,2,9,13>",
         "mode=s:linear;coordinate_transformation_mode=s:align_corners"),
    CASE("Resize", 13, "x:f32[1,2,5,6] - - z:i64[4]=c<1,2,10,12>",
         "mode=s:cubic;coordinate_transformation_mode=s:asymmetric"),
    CASE("Resize", 13, "x:f32[1,2,8,8] - - z:i64[4]=c<1,2,3,5>",
         "mode=s:nearest;nearest_mode=s:floor;coordinate_transformation_mode=s:pytorch_half_pixel"),
    CASE("Resize", 10, "x:f32[1,2,5,6] s:f32[4]=c<1,1,2,3>", ""),
    CASE("Upsample", 9, "x:f32[1,2,5,6] s:f32[4]=c<1,1,2,2>", "mode=s:linear"),
    CASE("Upsample", 7, "x:f32[1,2,5,6]", "scales=f:1,1,3,2"),
    CASE("Reshape", 14, "x:f32[2,3,4] s:i64[2]=c<6,4>", ""),
    CASE("Reshape", 4, "x:f32[2,3,4]", "shape=4,6"),
    CASE("Flatten", 13, "x:f32[2,3,4,5]", "axis=1"),
    CASE("Squeeze", 13, "x:f32[2,1,4,1] a:i64[1]=c<1>", ""),
    CASE("Squeeze", 11, "x:f32[2,1,4,1]", "axes=3,"),
    CASE("Unsqueeze", 13, "x:f32[3,4] a:i64[2]=c<0,3>", ""),
    CASE("Unsqueeze", 11, "x:f32[3,4]", "axes=1,"),
    CASE("Dropout", 13, "x:f32[2,3,4]", ""),
    CASE("Identity", 16, "x:f32[2,3]", ""),
    CASE("Shape", 13, "x:f32[2,3,4]", "", .out_dtype = TETHER_DTYPE_INT64),
    CASE("Shape", 15, "x:f32[2,3,4,5]", "start=1;end=-1", .out_dtype = TETHER_DTYPE_INT64),
    CASE("Size", 13, "x:f32[2,3,4]", "", .out_dtype = TETHER_DTYPE_INT64),
    /* unary maps over wide ranges, so every branch of the polynomial approximations runs */
    CASE("Sigmoid", 13, "x:f32[3,67]{-12,12}", ""),
    CASE("Tanh", 13, "x:f32[3,67]{-6,6}", ""),
    CASE("Exp", 13, "x:f32[3,67]{-20,20}", "", .rtol = 1e-5),
    CASE("Erf", 13, "x:f32[3,67]{-5,5}", "", .atol = 1e-6),
    CASE("Neg", 13, "x:f32[5,17]", ""),
    CASE("Abs", 13, "x:f32[5,17]", ""),
    CASE("Reciprocal", 13, "x:f32[5,17]{0.5,4}", ""),
    CASE("LeakyRelu", 16, "x:f32[5,17]", "alpha=0.1f"),
    CASE("HardSigmoid", 6, "x:f32[5,17]{-4,4}", "alpha=0.3f;beta=0.4f"),
    CASE("Clip", 6, "x:f32[5,17]", "min=-0.5f;max=0.25f"),
    CASE("Clip", 13, "x:f32[5,17] lo:f32[]=c<-0.5> hi:f32[]=c<0.5>", ""),
    CASE("Pow", 13, "x:f32[4,33] e:f32[1]=c<2>", ""),
    CASE("Max", 13, "a:f32[4,33] b:f32[33]", ""),
    CASE("Min", 13, "a:f32[4,33] b:f32[4,1]", ""),
    CASE("Div", 14, "a:f32[2,3,4,5] b:f32[3,1,5]{0.5,2}", ""),
    CASE("LogSoftmax", 13, "x:f32[2,3,37]", "axis=-1", .batch = true),
    CASE("Softmax", 11, "x:f32[2,3,5]", "axis=1"),
    CASE("ReduceSum", 13, "x:f32[2,5,33] a:i64[1]=c<-1>", "keepdims=1", .batch = true),
    CASE("ReduceMean", 13, "x:f32[3,70]", "axes=1,;keepdims=0"),
    CASE("Gemm", 13, "a:f32[3,20] b:f32[20,7]=c c:f32[1]=c", "alpha=0.5f;beta=2.0f"),
    CASE("Gemm", 13, "a:f32[3,20] b:f32[7,20] c:f32[3,7]", "transB=1"),
    CASE("Gemm", 13, "a:f32[5,20] b:f32[20,7] c:f32[5,1]", "beta=0.5f"),
    CASE("MatMul", 13, "a:f32[33] b:f32[33,40]=c", ""),
    CASE("MatMul", 13, "a:f32[2,9,33] b:f32[33]", ""),
    CASE("MatMul", 13, "a:f32[70,129] b:f32[129,67]", "", .batch = true),
    CASE("Resize", 13, "x:f32[2,3,5,7] roi:f32[0]=c s:f32[4]=c<1,1,2,1.5>", "mode=s:linear", .batch = true),
    CASE("Resize", 13, "x:f32[1,2,6,9] roi:f32[0]=c s:f32[4]=c<1,1,0.5,0.7>",
         "mode=s:linear;coordinate_transformation_mode=s:align_corners"),
    CASE("Resize", 13, "x:f32[1,2,4,4] roi:f32[0]=c s:f32[0]=c z:i64[4]=c<1,2,9,3>",
         "mode=s:linear;coordinate_transformation_mode=s:pytorch_half_pixel"),
    CASE("Resize", 11, "x:f32[1,3,4,5] roi:f32[0]=c s:f32[4]=c<1,1,3,3>",
         "mode=s:linear;coordinate_transformation_mode=s:asymmetric"),
    CASE("Resize", 10, "x:f32[1,3,4,5] s:f32[4]=c<1,1,2,2>", "mode=s:linear"),
    CASE("Slice", 13, "x:f32[2,5,10] s:i64[2]=c<1,-7> e:i64[2]=c<4,100> a:i64[2]=c<1,2>", "", .batch = true),
    CASE("Slice", 13, "x:i64[6,4,3]{0,100} s:i64[1]=c<2> e:i64[1]=c<5>", ""),
    CASE("Slice", 11, "x:f32[3,16,9] s:i64[1]=c<-8> e:i64[1]=c<-1> a:i64[1]=c<-2> p:i64[1]=c<1>", ""),
    CASE("Transpose", 13, "x:f32[3,5,2,7]", "perm=2,0,1,3"),
    CASE("Transpose", 13, "x:f32[3,5,2,7]", "perm=0,2,1,3", .batch = true),
    CASE("Transpose", 13, "x:i64[4,6,5]{0,9}", "perm=1,0,2"),
    CASE("Gelu", 20, "x:f32[7,37]{-5,5}", ""),
    CASE("Gelu", 20, "x:f32[7,37]{-5,5}", "approximate=s:tanh"),
    CASE("Swish", 24, "x:f32[7,37]{-8,8}", "alpha=0.7f"),
    /* tether's own fused ops */
    CASE("com.tether:FusedMatMul", 1, "a:f32[5,17] b:f32[17,9]=c c:f32[9]=c", "activation=s:Relu", .batch = true),
    CASE("com.tether:FusedMatMul", 1, "a:f32[2,7,33] b:f32[33,40]=c c:f32[40]=c r:f32[2,7,40]", "activation=s:Gelu"),
    CASE("com.tether:FusedMatMul", 1, "a:f32[3,20] b:f32[37,20] c:f32[37]", "transB=1;activation=s:GeluTanh"),
    CASE("com.tether:FusedMatMul", 1, "a:f32[9,20] b:f32[20,70]", "alpha=0.5f;activation=s:Sigmoid", .batch = true),
    CASE("com.tether:FusedMatMul", 1, "a:f32[9,20] b:f32[20,31]=c", "activation=s:Tanh"),
    CASE("com.tether:FusedMatMul", 1, "a:f32[9,20] b:f32[20,31]=c", "activation=s:LeakyRelu;activation_alpha=0.2f"),
    CASE("com.tether:FusedMatMul", 1, "a:f32[9,20] b:f32[20,31]=c",
         "activation=s:Clip;activation_alpha=-0.1f;activation_beta=0.3f"),
    CASE("com.tether:FusedMatMul", 1, "a:f32[2,7,33] b:f32[33,40]=c c:f32[40]=c r:f32[2,7,40]", "activation=s:Relu"),
    CASE("com.tether:FusedMatMul", 1, "a:f32[4,6,24] b:f32[24,16]=c c:f32[16]=c r:f32[6,16]",
         "alpha=0.5f;activation=s:GeluTanh"), /* a residual that broadcasts */
    CASE("com.tether:FusedMatMul", 1, "a:f32[24] b:f32[10,24]=c c:f32[10] r:f32[3,10]", "transB=1"),
    CASE("com.tether:LayerNorm", 1, "x:f32[2,5,32] s:f32[32]=c b:f32[32]=c", "epsilon=0.00001f", .batch = true),
    CASE("com.tether:LayerNorm", 1, "x:f32[3,4,5,7] s:f32[5,7]=c", "axis=-2;epsilon=0.001f"),
    CASE("com.tether:LayerNorm", 1, "x:f32[3,1500]", "epsilon=0.00001f"), /* no scale or bias; long rows */
    CASE("com.tether:Gelu", 1, "x:f32[7,37]{-5,5}", "", .batch = true),
    CASE("com.tether:Gelu", 1, "x:f32[7,37]{-5,5}", "approximate=s:tanh"),
    CASE("com.tether:Attention", 1, "q:f32[8,9,16] k:f32[8,11,16] v:f32[8,11,8]", "scale=0.25f"),
    CASE("com.tether:Attention", 1, "q:f32[2,4,9,16] k:f32[2,4,11,16] v:f32[2,4,11,24] m:f32[9,11]=c{-4,0}",
         "scale=0.125f"),
    CASE("com.tether:Attention", 1, "q:f32[9,8,16] k:f32[11,8,16] v:f32[11,8,8] m:f32[8,1,11]",
         "scale=0.3f;q_perm=1,0,2;k_perm=1,0,2;v_perm=1,0,2;out_perm=1,0,2"),
    CASE("com.tether:Attention", 1, "q:f32[2,100,16] k:f32[2,70,16] v:f32[2,70,24] m:f32[2,100,70]{-3,0}",
         "scale=0.25f"), /* more query rows than one block */
    CASE("com.tether:Attention", 1, "q:f32[8,9,16] k:f32[8,16,11] v:f32[8,11,8] m:f32[9,1]",
         "scale=0.3f;k_perm=0,2,1;out_perm=1,0,2"),
    CASE("com.tether:Attention", 1, "q:f32[2,7,4,32] k:f32[2,7,4,32] v:f32[2,7,4,32] m:f32[2,1,1,7]{-4,0}",
         "scale=0.17f;q_perm=0,2,1,3;k_perm=0,2,1,3;v_perm=0,2,1,3;out_perm=0,2,1,3"), /* BERT's layout */
    CASE("com.tether:Attention", 1, "q:f32[2,3,16] k:f32[1,1500,16] v:f32[2,1500,8] m:f32[3,1500]{-2,0}",
         "scale=0.25f"), /* more keys than one tile; K broadcast over the batch */
    CASE("com.tether:Attention", 1, "q:f32[1,2,2,5,8] k:f32[1,2,2,6,8] v:f32[1,2,2,6,8]", "scale=0.5f"),
};

#define N_CASES (int)(sizeof g_cases / sizeof g_cases[0])

/* ---- spec parsing --------------------------------------------------------------------- */

typedef struct bo_input {
    char name[32];
    int dtype;
    int rank;
    int64_t dims[8];
    bool constant;
    double lo, hi;
    int n_values;        /* explicit values "<6,4>" instead of random ones */
    double values[16];
    bool omitted;        /* "-": an omitted optional input */
} bo_input;

static int parse_dtype(const char *s)
{
    static const struct { const char *n; int t; } m[] = {
        {"f32", TETHER_DTYPE_FLOAT}, {"f16", TETHER_DTYPE_FLOAT16}, {"bf16", TETHER_DTYPE_BFLOAT16},
        {"f64", TETHER_DTYPE_DOUBLE}, {"i64", TETHER_DTYPE_INT64}, {"i32", TETHER_DTYPE_INT32},
        {"i8", TETHER_DTYPE_INT8}, {"u8", TETHER_DTYPE_UINT8}, {"bool", TETHER_DTYPE_BOOL}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strcmp(s, m[i].n) == 0)
            return m[i].t;
    CHECK_FAIL("unknown dtype '%s' in a case", s);
}

static int parse_inputs(const char *spec, bo_input *in, int cap)
{
    int n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        CHECK(n < cap);
        bo_input *x = &in[n++];
        memset(x, 0, sizeof *x);
        x->lo = -1, x->hi = 1;
        if (strcmp(tok, "-") == 0) { /* an omitted optional input */
            x->omitted = true;
            continue;
        }
        char *colon = strchr(tok, ':'), *br = strchr(tok, '[');
        CHECK(colon && br);
        snprintf(x->name, sizeof x->name, "%.*s", (int)(colon - tok), tok);
        char dt[16];
        snprintf(dt, sizeof dt, "%.*s", (int)(br - colon - 1), colon + 1);
        x->dtype = parse_dtype(dt);
        char *p = br + 1;
        while (*p != ']') {
            x->dims[x->rank++] = strtoll(p, &p, 10);
            if (*p == ',')
                p++;
        }
        p++;
        for (; *p; p++) {
            if (strncmp(p, "=c", 2) == 0) {
                x->constant = true;
                p++;
            } else if (*p == '{') {
                CHECK(sscanf(p, "{%lf,%lf}", &x->lo, &x->hi) == 2);
                p = strchr(p, '}');
            } else if (*p == '<') {
                for (p++; *p != '>' && x->n_values < 16;) {
                    x->values[x->n_values++] = strtod(p, &p);
                    if (*p == ',')
                        p++;
                }
            }
        }
    }
    return n;
}

static int parse_attrs(const char *spec, pbw *out, int cap)
{
    int n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        CHECK(n < cap);
        char *eq = strchr(tok, '=');
        CHECK(eq);
        *eq = 0;
        const char *v = eq + 1;
        if (strncmp(v, "s:", 2) == 0) {
            out[n++] = ob_attr_string(tok, v + 2);
        } else if (strncmp(v, "f:", 2) == 0) {
            float fl[16];
            int k = 0;
            for (const char *p = v + 2; *p && k < 16;) {
                char *e;
                fl[k++] = strtof(p, &e);
                p = *e == ',' ? e + 1 : e;
            }
            out[n++] = ob_attr_floats(tok, k, fl);
        } else if (strchr(v, 'f')) {
            out[n++] = ob_attr_float(tok, strtof(v, NULL));
        } else if (strchr(v, ',')) {
            int64_t ints[16];
            int k = 0;
            for (const char *p = v; *p && k < 16;) {
                char *e;
                ints[k++] = strtoll(p, &e, 10);
                p = *e == ',' ? e + 1 : e;
            }
            out[n++] = ob_attr_ints(tok, k, ints);
        } else {
            out[n++] = ob_attr_int(tok, strtoll(v, NULL, 10));
        }
    }
    return n;
}

/* ---- random data ------------------------------------------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double rnd(void)
{
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / (double)(1ull << 53);
}

static void *random_data(const bo_input *x, size_t *bytes)
{
    int64_t n = 1;
    for (int i = 0; i < x->rank; i++)
        n *= x->dims[i];
    size_t es = tt_dtype_size((tt_dtype)x->dtype);
    *bytes = (size_t)n * es;
    void *p = calloc((size_t)n + 1, es);
    for (int64_t i = 0; i < n; i++) {
        double v = x->n_values ? x->values[i % x->n_values] : x->lo + (x->hi - x->lo) * rnd();
        switch (x->dtype) {
        case TETHER_DTYPE_FLOAT: ((float *)p)[i] = (float)v; break;
        case TETHER_DTYPE_DOUBLE: ((double *)p)[i] = v; break;
        case TETHER_DTYPE_INT64: ((int64_t *)p)[i] = (int64_t)floor(v); break;
        case TETHER_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)floor(v); break;
        case TETHER_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)floor(v); break;
        case TETHER_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)floor(v); break;
        case TETHER_DTYPE_BOOL: ((uint8_t *)p)[i] = v > 0; break;
        default: {
            float f = (float)v;
            tt_cast_elems(&f, TETHER_DTYPE_FLOAT, (char *)p + (size_t)i * es, (tt_dtype)x->dtype, 1);
        }
        }
    }
    return p;
}

/* ---- one case on one backend ---------------------------------------------------------- */

typedef struct bo_model {
    pbw m;
    int nin;             /* graph inputs (non-constant) */
    tether_tensor in[8];
    void *data[8];
    bo_input spec[8];    /* each graph input's spec, for fresh data */
} bo_model;

/* New random values for every graph input of bm (constants stay). */
static void refresh_inputs(bo_model *bm)
{
    for (int i = 0; i < bm->nin; i++) {
        size_t bytes;
        void *d = random_data(&bm->spec[i], &bytes);
        memcpy(bm->data[i], d, bytes);
        free(d);
    }
}

/* Builds the one-node model of case c with input 0's first dim set to batch (0: as given). */
static void build(const bo_case *c, int64_t batch, bo_model *bm)
{
    bo_input in[8];
    int n = parse_inputs(c->inputs, in, 8);
    if (batch)
        in[0].dims[0] = batch;
    pbw attrs[16];
    int na = parse_attrs(c->attrs, attrs, 16);
    const char *names[8];
    pbw inits[8], vis[8];
    int ninit = 0, nvi = 0;
    memset(bm, 0, sizeof *bm);
    uint64_t seed = g_rng;
    for (int i = 0; i < n; i++) {
        names[i] = in[i].name;
        if (in[i].omitted)
            continue;
        /* each input its own stream: batching input 0 leaves the others' values alone */
        g_rng = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        size_t bytes;
        void *d = random_data(&in[i], &bytes);
        if (in[i].constant) {
            inits[ninit++] = ob_tensor(in[i].name, in[i].dtype, in[i].rank, in[i].dims, d, bytes);
            free(d);
        } else {
            vis[nvi++] = ob_input(in[i].name, in[i].dtype, in[i].rank, in[i].dims);
            tether_tensor *t = &bm->in[bm->nin];
            *t = (tether_tensor){.name = names[i], .dtype = in[i].dtype, .rank = in[i].rank, .data = d, .size = bytes};
            memcpy(t->dims, in[i].dims, sizeof(int64_t) * (size_t)in[i].rank);
            bm->spec[bm->nin] = in[i];
            bm->data[bm->nin++] = d;
        }
    }
    const char *op = c->op, *domain = "";
    if (strncmp(op, "com.tether:", 11) == 0)
        op += 11, domain = TT_DOMAIN;
    int nout = c->n_out ? c->n_out : 1;
    pbw ys[4];
    const char *ynames[4] = {"y", "y1", "y2", "y3"};
    for (int k = 0; k < nout; k++)
        ys[k] = ob_output(ynames[k], c->out_dtype ? c->out_dtype : in[0].dtype, -1, NULL);
    pbw node = ob_node(op, n, names, nout, ynames, na, attrs);
    if (*domain)
        pbw_str(&node, 7, domain);
    pbw g = ob_graph("case", 1, &node, ninit, inits, nvi, vis, nout, ys);
    bm->m = ob_model(c->opset, &g);
    if (*domain) {
        pbw os = {0};
        pbw_str(&os, 1, domain);
        pbw_int(&os, 2, 1);
        pbw_msg(&bm->m, 8, &os);
    }
    /* the names point into in[]: keep copies that outlive this frame */
    for (int i = 0; i < bm->nin; i++)
        bm->in[i].name = strdup(bm->in[i].name);
}

static void bo_free(bo_model *bm)
{
    for (int i = 0; i < bm->nin; i++) {
        free(bm->data[i]);
        free((void *)bm->in[i].name);
    }
    ob_free(&bm->m);
}

static const char *g_precision; /* TETHER_TEST_PRECISION: for the backend under test */

static tether_session *open_target(const bo_model *bm, const char *target)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = target;
    if (strcmp(target, "ref") != 0)
        cfg.precision = g_precision;
    tether_session *s = NULL;
    if (tether_session_open_bytes(&s, bm->m.buf, bm->m.len, &cfg) != TETHER_OK)
        return NULL;
    return s;
}

static double as_double(const tether_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case TETHER_DTYPE_FLOAT: return ((const float *)t->data)[i];
    case TETHER_DTYPE_DOUBLE: return ((const double *)t->data)[i];
    case TETHER_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case TETHER_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case TETHER_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case TETHER_DTYPE_UINT8:
    case TETHER_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    default: {
        float f;
        tt_to_f32((const char *)t->data + (size_t)i * tt_dtype_size(t->dtype), t->dtype, &f, 1);
        return f;
    }
    }
}

/* Compares every output of a run on b with ref's; false with why filled on a difference. */
static bool same_outputs(const bo_case *c, const tether_outputs *ob, const tether_outputs *orf, char *why, size_t n)
{
    double atol = c->atol ? c->atol : 1e-4, rtol = c->rtol ? c->rtol : 1e-3;
    if (g_precision && strcmp(g_precision, "fp32") != 0)
        atol = rtol = 1e-2;
    for (size_t k = 0; k < tether_outputs_count(orf); k++) {
        const tether_tensor *x = tether_outputs_get(ob, k), *y = tether_outputs_get(orf, k);
        if (!x || x->dtype != y->dtype || x->rank != y->rank ||
            memcmp(x->dims, y->dims, sizeof(int64_t) * (size_t)x->rank)) {
            snprintf(why, n, "output %zu has another shape or dtype than ref's", k);
            return false;
        }
        int64_t cnt = (int64_t)(x->size / tt_dtype_size(x->dtype));
        for (int64_t i = 0; i < cnt; i++) {
            double u = as_double(x, i), v = as_double(y, i);
            if (!(fabs(u - v) <= atol + rtol * fabs(v)) && !(isnan(u) && isnan(v))) {
                snprintf(why, n, "output %zu element %lld is %.9g, ref %.9g", k, (long long)i, u, v);
                return false;
            }
        }
    }
    return true;
}

/* Runs case c on backend b (a device backend three times, on fresh inputs: its steady path
 * is captured and replayed by the third). Returns whether b ran the node; *ok false (the
 * failure printed) when its outputs differ from ref's or it fails. */
static bool run_case(const bo_case *c, const char *b, bool *ok)
{
    bo_model bm;
    build(c, 0, &bm);
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    char target[64], why[400] = "";
    snprintf(target, sizeof target, strcmp(b, "ref") == 0 ? "%s" : "%s,ref", b);
    tether_session *sb = open_target(&bm, target), *sr = sb ? open_target(&bm, "ref") : NULL;
    bool placed = false, device = false;
    *ok = false;
    if (!sb || !sr) {
        snprintf(why, sizeof why, "cannot open: %s", tether_last_error());
    } else {
        const tt_graph *g = tt_session_local(sb)->model->graph;
        for (int i = 0; i < g->n_nodes; i++) {
            bool copy = strncmp(g->nodes[i].op_type, "Memcpy", 6) == 0;
            placed |= strcmp(g->nodes[i].backend->name, b) == 0 && !copy;
            device |= !tt_buft_is_host(g->nodes[i].backend->buft);
        }
        *ok = true;
        for (int run = 0; run < (device ? 3 : 1) && *ok; run++) {
            if (run)
                refresh_inputs(&bm);
            tether_outputs *ob = NULL, *orf = NULL;
            if (tether_session_run(sb, bm.in, (size_t)bm.nin, &ob) != TETHER_OK) {
                snprintf(why, sizeof why, "run %d failed: %s", run + 1, tether_last_error());
                *ok = false;
            } else if (tether_session_run(sr, bm.in, (size_t)bm.nin, &orf) != TETHER_OK) {
                snprintf(why, sizeof why, "ref failed: %s", tether_last_error());
                *ok = false;
            } else if (!same_outputs(c, ob, orf, why, sizeof why)) {
                size_t o = strlen(why);
                snprintf(why + o, sizeof why - o, " (run %d)", run + 1);
                *ok = false;
            }
            tether_outputs_free(ob);
            tether_outputs_free(orf);
        }
    }
    if (!*ok)
        fprintf(stderr, "  FAIL %s-%d (%s; %s) on %s: %s\n", c->op, c->opset, c->inputs, c->attrs, b, why);
    tether_session_free(sb);
    tether_session_free(sr);
    bo_free(&bm);
    return placed;
}

/* Batch invariance: sample i of a batch-4 run equals a batch-1 run of sample i, bit for bit. */
static void run_batch_case(const bo_case *c, const char *b)
{
    bo_model b4, b1;
    uint64_t seed = g_rng;
    build(c, 4, &b4);
    g_rng = seed; /* the same constants */
    build(c, 1, &b1);
    g_rng = seed * 6364136223846793005ull + 1442695040888963407ull;
    char target[64];
    snprintf(target, sizeof target, "%s,ref", b);
    tether_session *s4 = open_target(&b4, target), *s1 = open_target(&b1, target);
    CHECK(s4 && s1);
    tether_outputs *o4;
    CHECK_OK(tether_session_run(s4, b4.in, (size_t)b4.nin, &o4));
    const tether_tensor *y4 = tether_outputs_get(o4, 0);
    size_t in_sample = b4.in[0].size / 4, out_sample = y4->size / 4;
    for (int i = 0; i < 4; i++) {
        memcpy(b1.data[0], (const char *)b4.data[0] + (size_t)i * in_sample, in_sample);
        for (int k = 1; k < b1.nin; k++)
            memcpy(b1.data[k], b4.data[k], b1.in[k].size); /* other inputs are not batched */
        tether_outputs *o1;
        CHECK_OK(tether_session_run(s1, b1.in, (size_t)b1.nin, &o1));
        const tether_tensor *y1 = tether_outputs_get(o1, 0);
        CHECK_EQ_INT(y1->size, out_sample);
        if (memcmp(y1->data, (const char *)y4->data + (size_t)i * out_sample, out_sample) != 0)
            CHECK_FAIL("%s (%s) on %s: sample %d of a batch of 4 differs from running it alone", c->op, c->inputs, b,
                       i);
        tether_outputs_free(o1);
    }
    tether_outputs_free(o4);
    tether_session_free(s4);
    tether_session_free(s1);
    bo_free(&b4);
    bo_free(&b1);
}

static bool is_copy(const tt_kernel *k) { return strcmp(k->domain, TT_DOMAIN) == 0 && strncmp(k->name, "Memcpy", 6) == 0; }

static bool case_fits(const bo_case *c, const tt_kernel *k)
{
    const char *op = c->op, *domain = "";
    if (strncmp(op, "com.tether:", 11) == 0)
        op += 11, domain = TT_DOMAIN;
    return strcmp(op, k->name) == 0 && tt_domain_eq(domain, k->domain) && c->opset >= k->since &&
           (!k->until || c->opset <= k->until);
}

/* Whether tether has a schema for the case's op at its opset (cases of ops it does not
 * know yet are skipped, not failed). */
typedef struct schema_q {
    const char *name, *domain;
    int opset;
    bool found;
} schema_q;

static void find_schema(const tt_op_schema *s, void *arg)
{
    schema_q *q = arg;
    if (strcmp(s->name, q->name) == 0 && tt_domain_eq(s->domain, q->domain) && q->opset >= s->since &&
        (!s->until || q->opset <= s->until))
        q->found = true;
}

static bool has_schema(const bo_case *c)
{
    schema_q q = {.name = c->op, .domain = "", .opset = c->opset};
    if (strncmp(c->op, "com.tether:", 11) == 0)
        q.name = c->op + 11, q.domain = TT_DOMAIN;
    tt_op_foreach(find_schema, &q);
    return q.found;
}

static void check_backend(const char *name)
{
    const tt_backend *b;
    if (tt_backend_get(name, &b) != TT_OK) {
        printf("  skip %s: %s\n", name, tether_last_error());
        return;
    }
    int kernels = 0, cases = 0, failures = 0, unknown = 0;
    for (const tt_kernel *const *t = b->tables; *t; t++)
        for (const tt_kernel *k = *t; k->name; k++) {
            if (is_copy(k))
                continue;
            kernels++;
            bool fit = false, placed = false;
            for (int i = 0; i < N_CASES; i++) {
                if (!case_fits(&g_cases[i], k))
                    continue;
                fit = true;
                if (!has_schema(&g_cases[i])) {
                    unknown++;
                    placed = true; /* nothing reaches a kernel of an op tether does not know */
                    continue;
                }
                cases++;
                bool ok;
                placed |= run_case(&g_cases[i], name, &ok);
                failures += !ok;
                if (ok && g_cases[i].batch)
                    run_batch_case(&g_cases[i], name);
            }
            if (!fit) {
                fprintf(stderr,
                        "  FAIL backend %s: kernel %s%s%s (opsets %d..%d) has no case in tests/unit/test_backend_ops.c\n",
                        name, k->domain, *k->domain ? ":" : "", k->name, k->since, k->until);
                failures++;
            } else if (!placed) {
                fprintf(stderr, "  FAIL backend %s: no case of %s reaches its kernel (its supports() refused them all)\n",
                        name, k->name);
                failures++;
            }
        }
    printf("  %s: %d kernels, %d cases against ref, %d failures, %d cases of ops without a schema here\n", name,
           kernels, cases, failures, unknown);
    if (failures)
        CHECK_FAIL("backend %s: %d failures (listed above)", name, failures);
}

/* Without a GPU: every CUDA kernel takes the cases written for it, each such case placed
 * with its node on a placement-only instance of the CUDA backend (host memory posing as
 * the device's), and its graph outputs end on the host. Wherever the plugin is built. */
TEST(cuda_kernels_take_their_cases)
{
#ifndef CUDA_PLUGIN_PATH
    CHECK_SKIP("the CUDA plugin is not built here (nvcc not found, or a sanitizer build)");
#else
    setenv("TETHER_CUDA_PLUGIN", CUDA_PLUGIN_PATH, 1);
    const tt_plugin *p;
    CHECK_OK(tt_plugin_load("cuda", &p));
    const tt_backend *dry;
    CHECK_OK(p->open(-1, NULL, &dry));
    tt_backend_list bl = {.n = 3, .b = {dry, &tt_backend_cpu, &tt_backend_ref}};
    int kernels = 0, placed_cases = 0, failures = 0;
    for (const tt_kernel *const *t = dry->tables; *t; t++)
        for (const tt_kernel *k = *t; k->name; k++) {
            if (is_copy(k))
                continue;
            kernels++;
            bool fit = false, placed = false;
            for (int i = 0; i < N_CASES; i++) {
                const bo_case *c = &g_cases[i];
                if (!case_fits(c, k))
                    continue;
                fit = true;
                if (!has_schema(c)) {
                    placed = true;
                    continue;
                }
                bo_model bm;
                build(c, 0, &bm);
                tt_model *m;
                CHECK_OK(tt_model_load(bm.m.buf, bm.m.len, NULL, &m));
                if (tt_graph_compile(m->graph, &bl, true) != TT_OK) {
                    fprintf(stderr, "  FAIL %s-%d (%s): cannot be placed: %s\n", c->op, c->opset, c->inputs,
                            tether_last_error());
                    failures++;
                } else {
                    bool here = false;
                    for (int n = 0; n < m->graph->n_nodes; n++)
                        here |= m->graph->nodes[n].backend == dry && strncmp(m->graph->nodes[n].op_type, "Memcpy", 6);
                    for (int o = 0; o < m->graph->n_outputs; o++)
                        CHECK(tt_buft_is_host(m->graph->values[m->graph->outputs[o]].buft));
                    placed_cases += here;
                    placed |= here;
                    if (!here) /* another case may reach the kernel: worth knowing, not a failure */
                        fprintf(stderr, "  note: %s-%d (%s; %s) is not placed on the device\n", c->op, c->opset,
                                c->inputs, c->attrs);
                }
                tt_graph_release(m->graph);
                tt_model_free(m);
                bo_free(&bm);
            }
            if (!fit || !placed) {
                fprintf(stderr, "  FAIL cuda kernel %s (opsets %d..%d): %s\n", k->name, k->since, k->until,
                        fit ? "its supports() refuses every case written for it"
                            : "no case in tests/unit/test_backend_ops.c");
                failures++;
            }
        }
    printf("  cuda (placement only): %d kernels, %d cases placed on the device\n", kernels, placed_cases);
    dry->release(dry);
    CHECK_EQ_INT(failures, 0);
#endif
}

TEST(every_kernel_matches_ref)
{
    g_precision = getenv("TETHER_TEST_PRECISION");
    const char *env = getenv("TETHER_TEST_BACKENDS");
    char list[256];
    snprintf(list, sizeof list, "%s", env && *env ? env : "cpu,cuda:0");
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        check_backend(tok);
}

/* The harness itself: the reference backend against itself passes every case (so a case
 * that fails above fails because of the backend, not the case). */
TEST(cases_are_valid_on_ref)
{
    int failures = 0;
    for (int i = 0; i < N_CASES; i++) {
        if (!has_schema(&g_cases[i]))
            continue;
        bool ok;
        (void)run_case(&g_cases[i], "ref", &ok);
        failures += !ok;
    }
    CHECK_EQ_INT(failures, 0);
}

/* The reference kernels are batch-invariant too, for the cases marked so: a backend leaves
 * them the nodes it does not take, inside tetherd's dynamic batches as well. OpenBLAS's
 * results depend on a product's shape, so ref's MatMul, Gemm and FusedMatMul call it on
 * strips of a fixed height and its Conv runs each image in the same tiles whatever the
 * batch. (On a Zen 3 a row's bits also depend on its position in a strip, for some
 * shapes: docs/serving.md, "Known limit". These cases pass there.) */
TEST(ref_is_batch_invariant)
{
    for (int i = 0; i < N_CASES; i++)
        if (g_cases[i].batch && has_schema(&g_cases[i]))
            run_batch_case(&g_cases[i], "ref");
}

int main(int argc, char **argv) { return check_main(argc, argv); }
