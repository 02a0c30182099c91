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

#include "backends/backend.h"
#include "ops/util.h"
#include "runtime/session.h"

#include <math.h>

typedef struct bo_case {
    const char *op;
    int opset;
    const char *inputs;
    const char *attrs;
    double atol, rtol;   /* 0: 1e-4 and 1e-3 */
    bool batch;          /* check batch invariance along input 0's first dim */
} bo_case;

#define CASE(op_, opset_, inputs_, attrs_, ...) {.op = op_, .opset = opset_, .inputs = inputs_, .attrs = attrs_, __VA_ARGS__}

/* Cases per op; several shapes each (odd sizes, sizes past one vector, broadcasting). */
static const bo_case g_cases[] = {
    CASE("Relu", 14, "x:f32[3,5]", ""),
    CASE("Relu", 14, "x:f32[2,3,17,9]", "", .batch = true),
    CASE("Add", 14, "a:f32[4,33] b:f32[4,33]", ""),
    CASE("Add", 14, "a:f32[2,8,5,5] b:f32[8,1,1]", ""),
    CASE("Add", 14, "a:f32[2,3,65] b:f32[65]=c", "", .batch = true),
    CASE("Mul", 14, "a:f32[4,33] b:f32[4,33]", ""),
    CASE("Mul", 14, "a:f32[2,3,65] b:f32[1]=c", ""),
    CASE("Sub", 14, "a:f32[4,33] b:f32[33]", ""),
    CASE("Div", 14, "a:f32[4,33] b:f32[4,33]{0.5,2}", ""),
    CASE("Sigmoid", 13, "x:f32[7,19]", ""),
    CASE("Tanh", 13, "x:f32[7,19]", ""),
    CASE("Exp", 13, "x:f32[7,19]", ""),
    CASE("Erf", 13, "x:f32[7,19]", ""),
    CASE("Sqrt", 13, "x:f32[7,19]{0,4}", ""),
    CASE("Softmax", 13, "x:f32[2,3,37]", "axis=-1", .batch = true),
    CASE("Softmax", 13, "x:f32[4,128]", "axis=1"),
    CASE("MatMul", 13, "a:f32[5,17] b:f32[17,9]=c", "", .batch = true),
    CASE("MatMul", 13, "a:f32[2,3,16,32] b:f32[2,3,32,16]", "", .batch = true),
    CASE("MatMul", 13, "a:f32[1,7,64] b:f32[64,128]=c", ""),
    CASE("Gemm", 13, "a:f32[3,20] b:f32[20,7]=c c:f32[7]=c", ""),
    CASE("Gemm", 13, "a:f32[3,20] b:f32[7,20]=c c:f32[7]=c", "transB=1", .batch = true),
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
         "pads=1,1,1,1;block=16;activation=s:Relu;precision=s:bf16", .atol = 0.03, .rtol = 0.03, .batch = true),
    CASE("com.tether:FusedConv", 1, "x:f32[1,16,9,9] w:f32[16,16,1,1]=c", "precision=s:bf16", .atol = 0.03,
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
    CASE("BatchNormalization", 15, "x:f32[2,6,5,5] s:f32[6]=c b:f32[6]=c m:f32[6]=c v:f32[6]=c{0.5,2}", ""),
    CASE("LayerNormalization", 17, "x:f32[2,5,32] s:f32[32]=c b:f32[32]=c", "axis=-1", .batch = true),
    CASE("Transpose", 13, "x:f32[2,3,4,5]", "perm=0,2,1,3"),
    CASE("Concat", 13, "a:f32[2,3,4] b:f32[2,5,4]", "axis=1"),
    CASE("Gather", 13, "x:f32[10,16]=c i:i64[2,3]{0,10}", "axis=0"),
    CASE("ReduceMean", 13, "x:f32[2,5,32]", "axes=-1;keepdims=1"),
    CASE("Reshape", 14, "x:f32[2,3,4] s:i64[2]=c<6,4>", ""),
    CASE("Flatten", 13, "x:f32[2,3,4,5]", "axis=1"),
    CASE("Identity", 16, "x:f32[2,3]", ""),
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
} bo_model;

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
            bm->data[bm->nin++] = d;
        }
    }
    const char *op = c->op, *domain = "";
    if (strncmp(op, "com.tether:", 11) == 0)
        op += 11, domain = TT_DOMAIN;
    pbw y = ob_output("y", in[0].dtype, -1, NULL);
    pbw node = ob_node(op, n, names, 1, (const char *[]){"y"}, na, attrs);
    if (*domain)
        pbw_str(&node, 7, domain);
    pbw g = ob_graph("case", 1, &node, ninit, inits, nvi, vis, 1, &y);
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

static tether_session *open_target(const bo_model *bm, const char *target)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = target;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, bm->m.buf, bm->m.len, &cfg));
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

/* Runs case c on backend b; returns whether b ran the node. */
static bool run_case(const bo_case *c, const char *b)
{
    bo_model bm;
    build(c, 0, &bm);
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    char target[64];
    snprintf(target, sizeof target, "%s,ref", b);
    tether_session *sb = open_target(&bm, target), *sr = open_target(&bm, "ref");
    const tt_graph *g = tt_session_local(sb)->model->graph;
    bool placed = false;
    for (int i = 0; i < g->n_nodes; i++)
        placed |= strcmp(g->nodes[i].backend->name, b) == 0 && strcmp(g->nodes[i].op_type, "MemcpyToDevice") != 0 &&
                  strcmp(g->nodes[i].op_type, "MemcpyToHost") != 0;
    tether_outputs *ob, *orf;
    CHECK_OK(tether_session_run(sb, bm.in, (size_t)bm.nin, &ob));
    CHECK_OK(tether_session_run(sr, bm.in, (size_t)bm.nin, &orf));
    double atol = c->atol ? c->atol : 1e-4, rtol = c->rtol ? c->rtol : 1e-3;
    for (size_t k = 0; k < tether_outputs_count(orf); k++) {
        const tether_tensor *x = tether_outputs_get(ob, k), *y = tether_outputs_get(orf, k);
        if (x->dtype != y->dtype || x->rank != y->rank || memcmp(x->dims, y->dims, sizeof(int64_t) * (size_t)x->rank))
            CHECK_FAIL("%s (%s) on %s: output %zu has another shape or dtype than ref's", c->op, c->inputs, b, k);
        int64_t n = (int64_t)(x->size / tt_dtype_size(x->dtype));
        for (int64_t i = 0; i < n; i++) {
            double u = as_double(x, i), v = as_double(y, i);
            if (!(fabs(u - v) <= atol + rtol * fabs(v)) && !(isnan(u) && isnan(v)))
                CHECK_FAIL("%s (%s; %s) on %s: element %lld is %.9g, ref %.9g", c->op, c->inputs, c->attrs, b,
                           (long long)i, u, v);
        }
    }
    tether_outputs_free(ob);
    tether_outputs_free(orf);
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

static void check_backend(const char *name)
{
    const tt_backend *b;
    if (tt_backend_get(name, &b) != TT_OK) {
        printf("  skip %s: %s\n", name, tether_last_error());
        return;
    }
    int kernels = 0, cases = 0;
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
                cases++;
                placed |= run_case(&g_cases[i], name);
                if (g_cases[i].batch)
                    run_batch_case(&g_cases[i], name);
            }
            if (!fit)
                CHECK_FAIL("backend %s: kernel %s%s%s (opsets %d..%d) has no case in tests/unit/test_backend_ops.c",
                           name, k->domain, *k->domain ? ":" : "", k->name, k->since, k->until);
            if (!placed)
                CHECK_FAIL("backend %s: no case of %s reaches its kernel (its supports() refused them all)", name,
                           k->name);
        }
    printf("  %s: %d kernels, %d cases against ref\n", name, kernels, cases);
}

TEST(every_kernel_matches_ref)
{
    const char *env = getenv("TETHER_TEST_BACKENDS");
    char list[256];
    snprintf(list, sizeof list, "%s", env && *env ? env : "cpu,cuda:0");
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        check_backend(tok);
}

/* The harness itself: the reference backend against itself passes every case (so a case
 * that fails above fails because of the backend, not the case). Batch invariance is not
 * asked of ref: its MatMul is OpenBLAS's sgemm, whose result for a row depends on how many
 * rows it is given. */
TEST(cases_are_valid_on_ref)
{
    for (int i = 0; i < N_CASES; i++)
        (void)run_case(&g_cases[i], "ref");
}

int main(int argc, char **argv) { return check_main(argc, argv); }
