/* The model loader against truncated, corrupted and hostile files: every one must give a
 * clear error (naming the byte offset, tensor or node at fault), never a crash, a hang or an
 * allocation out of proportion to the input, and allocation failures anywhere in a load
 * must be reported and leak nothing (run under ASan to check the leaks). */
#include "check.h"
#include "onnx_build.h"

#include "core/mem.h"
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- model builders --------------------------------------------------------------------------- */

/* ob_node names a node after its op; this one gives it its own name. */
static pbw named_node(const char *name, const char *op, int nin, const char *const *in, int nout,
                      const char *const *out, int nattr, pbw *attrs)
{
    pbw n = ob_node(op, nin, in, nout, out, nattr, attrs);
    pbw_str(&n, 3, name); /* a repeated scalar field: the last one wins */
    return n;
}

/* A TensorProto with float_data (the typed field) instead of raw_data. */
static pbw typed_float_tensor(const char *name, int rank, const int64_t *dims, const float *v, int n)
{
    pbw t = {0};
    for (int i = 0; i < rank; i++)
        pbw_int(&t, 1, dims[i]);
    pbw_int(&t, 2, TETHER_DTYPE_FLOAT);
    pbw_str(&t, 8, name);
    pbw_bytes(&t, 4, v, sizeof(float) * (size_t)n);
    return t;
}

/* y = relu(x * w + b + c) over every way a value can arrive: an input, a raw_data initializer,
 * a float_data initializer and a Constant node's tensor attribute. */
static pbw small_model(void)
{
    float w[3] = {1, -2, 0.5f}, b[3] = {0.25f, 0.5f, -1}, c[3] = {3, 2, 1};
    pbw inits[2] = {ob_tensor("w", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, w, sizeof w),
                    typed_float_tensor("b", 1, (int64_t[]){3}, b, 3)};
    pbw cval = ob_tensor(NULL, TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, c, sizeof c);
    pbw nodes[5] = {
        named_node("const", "Constant", 0, NULL, 1, (const char *[]){"c"}, 1, (pbw[]){ob_attr_tensor("value", &cval)}),
        named_node("mul", "Mul", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"t"}, 0, NULL),
        named_node("add_b", "Add", 2, (const char *[]){"t", "b"}, 1, (const char *[]){"u"}, 0, NULL),
        named_node("add_c", "Add", 2, (const char *[]){"u", "c"}, 1, (const char *[]){"v"}, 0, NULL),
        named_node("relu", "Relu", 1, (const char *[]){"v"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 3});
    pbw g = ob_graph("g", 5, nodes, 2, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

/* One Relu (x -> y) with the given initializers. */
static pbw relu_with_inits(int ninit, pbw *inits)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = named_node("relu", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &n, ninit, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

static tt_status load(const pbw *m, tt_model **out)
{
    *out = NULL;
    return tt_model_load(m->buf, m->len, NULL, out);
}

/* Expects the load to fail with status and a message containing needle. */
static void expect_load_error(pbw *m, tether_status status, const char *needle)
{
    tt_model *mod;
    CHECK_ERR(load(m, &mod), status, needle);
    CHECK(mod == NULL);
    ob_free(m);
}

static tether_session *open_quiet(const void *buf, size_t len, tether_status *st)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s = NULL;
    *st = tether_session_open_bytes(&s, buf, len, &cfg);
    return s;
}

TEST(small_model_loads_and_runs)
{
    pbw m = small_model();
    tether_status st;
    tether_session *s = open_quiet(m.buf, m.len, &st);
    CHECK_OK(st);
    float x[6] = {1, 1, 1, -4, 0, 2};
    tether_tensor in = {.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {2, 3}, .data = x, .size = sizeof x};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    const float *y = tether_outputs_get(out, 0)->data;
    const float w[3] = {1, -2, 0.5f}, b[3] = {0.25f, 0.5f, -1}, c[3] = {3, 2, 1};
    for (int i = 0; i < 6; i++) {
        float v = x[i] * w[i % 3] + b[i % 3] + c[i % 3];
        CHECK_NEAR(y[i], v > 0 ? v : 0, 1e-6);
    }
    tether_outputs_free(out);
    tether_session_free(s);
    ob_free(&m);
}

/* ---- truncation and corruption ------------------------------------------------------------------ */

TEST(every_truncation_point_fails_cleanly)
{
    pbw m = small_model();
    int with_offset = 0;
    for (size_t k = 0; k < m.len; k++) {
        /* a copy of exactly k bytes, so ASan sees any read past the end */
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, m.buf, k);
        tt_model *mod = NULL;
        tt_status s = tt_model_load(p, k, NULL, &mod);
        if (s == TT_OK)
            CHECK_FAIL("a %zu-byte prefix of a %zu-byte model loaded", k, m.len);
        CHECK_EQ_INT(s, TETHER_ERR_INVALID_MODEL);
        CHECK(*tether_last_error());
        with_offset += strstr(tether_last_error(), "at byte ") != NULL;
        tether_status st;
        CHECK(open_quiet(p, k, &st) == NULL);
        CHECK_EQ_INT(st, TETHER_ERR_INVALID_MODEL);
        free(p);
    }
    /* all but the cuts that drop whole trailing fields land inside a field and say where */
    CHECK(with_offset > (int)m.len * 9 / 10);
    ob_free(&m);
}

TEST(truncated_field_names_its_offset)
{
    pbw m = small_model();
    tt_model *mod;
    /* the graph is the model's last field: cutting the last byte leaves it short */
    CHECK_ERR(tt_model_load(m.buf, m.len - 1, NULL, &mod), TETHER_ERR_INVALID_MODEL, "field 7 at byte ");
    CHECK_STR_CONTAINS(tether_last_error(), "(truncated file?)");
    ob_free(&m);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

TEST(random_byte_flips_never_crash)
{
    pbw m = small_model();
    uint8_t *p = malloc(m.len);
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int opened = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(p, m.buf, m.len);
        int flips = 1 + (int)(xorshift(&seed) % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(xorshift(&seed) % m.len);
            /* half the time a random byte, else one bit: bits keep most of the structure */
            if (xorshift(&seed) & 1)
                p[at] = (uint8_t)xorshift(&seed);
            else
                p[at] ^= (uint8_t)(1u << (xorshift(&seed) % 8));
        }
        tether_status st;
        tether_session *s = open_quiet(p, m.len, &st);
        if (s) {
            opened++;
            tether_session_free(s);
        } else {
            CHECK(st != TETHER_OK);
            CHECK(*tether_last_error());
        }
    }
    /* flips in names and float values leave a model that still opens */
    CHECK(opened > 0 && opened < 3000);
    free(p);
    ob_free(&m);
}

TEST(malformed_wire_format)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *needle;
    } cases[] = {
        {"\x08", 1, "field 1 at byte 0 is truncated"},
        {"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11,
         "field 1 at byte 0 is truncated"}, /* varint past 64 bits */
        {"\x00\x01", 2, "invalid field number at byte 0"},
        {"\x08\x01\x0b", 3, "unsupported wire type 3 for field 1 at byte 2"}, /* a group */
        {"\x3a\x80\x80\x80\x80\x10", 6, "claims 4294967296 bytes but only 0 remain"},
        {"\x08\x08", 2, "no graph"},
        {"\x08\x08\x3a\x00\x3a\x00", 6, "holds two graphs (second at byte 4)"},
        {"\x3a\x00", 2, "no ir_version"},
        {"\x08\x08\x3a\x00", 4, "imports no opset"},
        {"\x08\x08\x42\x02\x10\x00\x3a\x00", 8, "has version 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tt_model *mod;
        CHECK_ERR(tt_model_load(cases[i].bytes, cases[i].len, NULL, &mod), TETHER_ERR_INVALID_MODEL, cases[i].needle);
    }
}

/* ---- initializers that lie about their size --------------------------------------------------- */

TEST(huge_initializer_claim_with_four_bytes)
{
    float v = 1;
    pbw t = ob_tensor("big", TETHER_DTYPE_FLOAT, 1, (int64_t[]){(int64_t)1 << 40}, &v, sizeof v);
    pbw m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "tensor 'big' (float32) has 4 bytes of raw_data but its shape");
    CHECK_STR_CONTAINS(tether_last_error(), "1099511627776");
    /* the same claim spread over dims whose product overflows 64 bits */
    t = ob_tensor("wrap", TETHER_DTYPE_FLOAT, 3, (int64_t[]){(int64_t)1 << 32, (int64_t)1 << 32, 16}, &v, sizeof v);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "tensor 'wrap'");
    /* typed fields: four floats for a shape of 2^40 */
    t = typed_float_tensor("typed", 1, (int64_t[]){(int64_t)1 << 40}, (float[4]){0}, 4);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "tensor 'typed' (float32[1099511627776]) holds 4 elements");
}

TEST(initializer_size_mismatches)
{
    float v[4] = {0};
    pbw t = ob_tensor("short", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 3}, v, sizeof v);
    pbw m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL,
                      "tensor 'short' (float32) has 16 bytes of raw_data but its shape [2,3] needs 24");
    t = typed_float_tensor("few", 1, (int64_t[]){5}, v, 4);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "tensor 'few' (float32[5]) holds 4 elements but its shape needs 5");
    t = ob_tensor("neg", TETHER_DTYPE_FLOAT, 1, (int64_t[]){-4}, v, sizeof v);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "tensor 'neg' has negative dimension -4");
    t = ob_tensor("odd", 99, 1, (int64_t[]){4}, v, sizeof v);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "tensor 'odd' at byte");
    CHECK_STR_CONTAINS(tether_last_error(), "invalid data type 99");
    /* strings can only come as string_data: raw bytes would become pointers */
    t = ob_tensor("str", TETHER_DTYPE_STRING, 1, (int64_t[]){2}, v, 16);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "string tensor 'str' uses raw_data");
    t = ob_tensor("", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4}, v, sizeof v);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "an initializer at byte");
}

/* Numbers that only make sense as lies: dims past 2^63, attribute types past the enum,
 * element counts past what the field holds. */
TEST(absurd_numbers)
{
    float v = 0;
    pbw t = ob_tensor("wild", TETHER_DTYPE_FLOAT, 1, (int64_t[]){INT64_MIN}, &v, sizeof v);
    pbw m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "tensor 'wild' has negative dimension -9223372036854775808");
    pbw a = {0};
    pbw_str(&a, 1, "odd");
    pbw_int(&a, 20, 99);
    pbw_int(&a, 3, 1);
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = named_node("r", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 1, &a);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "node 'r' (Relu): attribute 'odd' has unknown type -1");
    /* a packed int64_data field that ends inside a varint */
    t = (pbw){0};
    pbw_int(&t, 1, 2);
    pbw_int(&t, 2, TETHER_DTYPE_INT64);
    pbw_str(&t, 8, "cut");
    pbw_bytes(&t, 7, "\x01\x80", 2);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "ends inside a varint");
}

TEST(bool_initializers_hold_only_zero_and_one)
{
    uint8_t raw[4] = {0, 1, 2, 255};
    pbw t = ob_tensor("flags", TETHER_DTYPE_BOOL, 1, (int64_t[]){4}, raw, sizeof raw);
    pbw m = relu_with_inits(1, &t);
    tt_model *mod;
    CHECK_OK(load(&m, &mod));
    const tt_graph *g = mod->graph;
    const uint8_t *d = NULL;
    for (int v = 0; v < g->n_values; v++)
        if (strcmp(g->values[v].name, "flags") == 0)
            d = g->values[v].init->data;
    CHECK(d != NULL);
    CHECK_EQ_INT(d[0], 0);
    CHECK_EQ_INT(d[1], 1);
    CHECK_EQ_INT(d[2], 1);
    CHECK_EQ_INT(d[3], 1);
    tt_model_free(mod);
    ob_free(&m);
}

/* SparseTensorProto: values (1), indices (2), dims (3). */
static pbw sparse_tensor(const char *name, int rank, const int64_t *dims, int nnz, const float *values,
                         const int64_t *indices)
{
    pbw sp = {0};
    pbw vals = ob_tensor(name, TETHER_DTYPE_FLOAT, 1, (int64_t[]){nnz}, values, sizeof(float) * (size_t)nnz);
    pbw idx = ob_tensor(NULL, TETHER_DTYPE_INT64, 1, (int64_t[]){nnz}, indices, sizeof(int64_t) * (size_t)nnz);
    pbw_msg(&sp, 1, &vals);
    pbw_msg(&sp, 2, &idx);
    for (int i = 0; i < rank; i++)
        pbw_int(&sp, 3, dims[i]);
    return sp;
}

static pbw model_with_sparse(pbw *sp)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = named_node("relu", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    pbw_msg(&g, 15, sp);
    return ob_model(13, &g);
}

TEST(sparse_initializers_densify_within_bounds)
{
    float v[2] = {7, 9};
    int64_t idx[2] = {1, 4};
    pbw sp = sparse_tensor("sp", 1, (int64_t[]){6}, 2, v, idx);
    pbw m = model_with_sparse(&sp);
    tt_model *mod;
    CHECK_OK(load(&m, &mod));
    const float *d = NULL;
    for (int i = 0; i < mod->graph->n_values; i++)
        if (strcmp(mod->graph->values[i].name, "sp") == 0)
            d = mod->graph->values[i].init->data;
    CHECK(d != NULL);
    const float want[6] = {0, 7, 0, 0, 9, 0};
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(d[i], want[i], 0);
    tt_model_free(mod);
    ob_free(&m);

    idx[1] = 6;
    sp = sparse_tensor("oob", 1, (int64_t[]){6}, 2, v, idx);
    m = model_with_sparse(&sp);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "sparse tensor 'oob': index 6 is out of range");
    /* a few bytes may not claim gigabytes of zeros */
    sp = sparse_tensor("vast", 2, (int64_t[]){1 << 20, 1 << 20}, 1, v, idx);
    m = model_with_sparse(&sp);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "sparse tensor 'vast'");
    CHECK_STR_CONTAINS(tether_last_error(), "dense");
}

/* ---- graphs that do not make sense ------------------------------------------------------------------ */

TEST(cycle_is_named)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("b", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw nodes[3] = {named_node("first", "Add", 2, (const char *[]){"x", "b"}, 1, (const char *[]){"a"}, 0, NULL),
                    named_node("second", "Relu", 1, (const char *[]){"a"}, 1, (const char *[]){"b"}, 0, NULL),
                    named_node("free", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"z"}, 0, NULL)};
    pbw g = ob_graph("loop", 3, nodes, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "graph 'loop' has a cycle through node 'first' (Add)");
    /* a node that reads its own output */
    x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    y = ob_output("s", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw self = named_node("selfish", "Add", 2, (const char *[]){"x", "s"}, 1, (const char *[]){"s"}, 0, NULL);
    g = ob_graph("g", 1, &self, 0, NULL, 1, &x, 1, &y);
    m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "cycle through node 'selfish' (Add)");
}

TEST(undefined_input_is_named)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = named_node("adder", "Add", 2, (const char *[]){"x", "ghost"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "node 'adder' (Add): input 'ghost' is not defined");
    x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    y = ob_output("nowhere", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    n = named_node("r", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "output 'nowhere' is not produced by anything");
}

/* Kernels may rely on a node having the inputs and outputs its ONNX schema requires. */
TEST(node_arity_follows_the_onnx_schema)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = named_node("lonely", "Add", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "node 'lonely' (Add) has 1 inputs; at opset 13 it takes 2");
    x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    n = named_node("holey", "Add", 2, (const char *[]){"", "x"}, 1, (const char *[]){"y"}, 0, NULL);
    g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "node 'holey' (Add): input 0 is required but left empty");
    x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw nodes[2] = {named_node("mute", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){""}, 0, NULL),
                    named_node("r", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL)};
    g = ob_graph("g", 2, nodes, 0, NULL, 1, &x, 1, &y);
    m = ob_model(13, &g);
    /* an unnamed output, even a required one, is computed and dropped */
    tt_model *unnamed;
    CHECK_OK(load(&m, &unnamed));
    tt_model_free(unnamed);
    ob_free(&m);
    x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    n = named_node("cat", "Concat", 3, (const char *[]){"x", "", "x"}, 1, (const char *[]){"y"}, 1,
                   (pbw[]){ob_attr_int("axis", 0)});
    g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "node 'cat' (Concat): input 1 is required but left empty");
    /* optional inputs may be left out, and ops ONNX does not know are left to the registry */
    x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw nodes2[2] = {named_node("clip", "Clip", 3, (const char *[]){"x", "", ""}, 1, (const char *[]){"c"}, 0, NULL),
                     named_node("custom", "NotAnOnnxOp", 0, NULL, 1, (const char *[]){"y"}, 0, NULL)};
    g = ob_graph("g", 2, nodes2, 0, NULL, 1, &x, 1, &y);
    m = ob_model(13, &g);
    tt_model *mod;
    CHECK_OK(load(&m, &mod));
    tt_model_free(mod);
    ob_free(&m);
}

TEST(duplicate_names_are_named)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw nodes[2] = {named_node("one", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL),
                    named_node("two", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw g = ob_graph("g", 2, nodes, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL,
                      "node 'two' (Relu): graph 'g': value 'y' is defined more than once");
    /* an output that overwrites an initializer, and two initializers of one name */
    float v[3] = {0};
    pbw inits[2] = {ob_tensor("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, v, sizeof v),
                    ob_tensor("w", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, v, sizeof v)};
    m = relu_with_inits(1, inits);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL,
                      "node 'relu' (Relu): graph 'g': value 'y' is defined more than once");
    inits[0] = ob_tensor("w", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, v, sizeof v);
    m = relu_with_inits(2, inits);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "value 'w' is defined more than once");
}

TEST(rank_above_eight_is_refused)
{
    int64_t dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 9, dims);
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw n = named_node("r", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_UNSUPPORTED, "has rank 9; tether supports up to 8");
    float v = 0;
    pbw t = ob_tensor("deep", TETHER_DTYPE_FLOAT, 9, dims, &v, sizeof v);
    m = relu_with_inits(1, &t);
    expect_load_error(&m, TETHER_ERR_UNSUPPORTED, "has rank above 8");
}

/* A graph whose one node is an If whose then-branch nests `depth` more levels; the innermost
 * branch returns the top graph's input through the enclosing scopes. */
static pbw nested_graph(int depth, int level)
{
    char out[32];
    snprintf(out, sizeof out, "r%d", level);
    pbw y = ob_output(out, TETHER_DTYPE_BOOL, -1, NULL);
    if (level == depth) {
        pbw n = named_node("leaf", "Identity", 1, (const char *[]){"c"}, 1, (const char *[]){out}, 0, NULL);
        return ob_graph("leaf", 1, &n, 0, NULL, 0, NULL, 1, &y);
    }
    pbw sub = nested_graph(depth, level + 1);
    pbw n = named_node("if", "If", 1, (const char *[]){"c"}, 1, (const char *[]){out}, 1,
                       (pbw[]){ob_attr_graph("then_branch", &sub)});
    if (level == 0) {
        pbw c = ob_input("c", TETHER_DTYPE_BOOL, 0, NULL);
        return ob_graph("top", 1, &n, 0, NULL, 1, &c, 1, &y);
    }
    return ob_graph("branch", 1, &n, 0, NULL, 0, NULL, 1, &y);
}

TEST(deeply_nested_subgraphs)
{
    pbw g = nested_graph(100, 0);
    pbw m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "messages nested deeper than 64 at byte ");
    /* moderate nesting loads, and the outer value reaches the innermost graph */
    g = nested_graph(15, 0);
    m = ob_model(13, &g);
    tt_model *mod;
    CHECK_OK(load(&m, &mod));
    const tt_graph *gr = mod->graph;
    for (int level = 0; level < 15; level++) {
        const tt_node *n = &gr->nodes[0];
        CHECK(strcmp(n->op_type, "If") == 0);
        gr = n->attrs[0].g;
        CHECK_EQ_INT(gr->n_outer, 1);
        CHECK(strcmp(gr->values[gr->outer[0]].name, "c") == 0);
    }
    tt_model_free(mod);
    ob_free(&m);
}

/* TypeProto.sequence_type (4) { elem_type (1): TypeProto } nested `depth` times. */
TEST(deeply_nested_types)
{
    pbw t = {0}, tt = {0};
    pbw_int(&tt, 1, TETHER_DTYPE_FLOAT);
    pbw_msg(&t, 1, &tt);
    for (int i = 0; i < 200; i++) {
        pbw seq = {0}, outer = {0};
        pbw_msg(&seq, 1, &t);
        pbw_msg(&outer, 4, &seq);
        t = outer;
    }
    pbw vi = {0};
    pbw_str(&vi, 1, "x");
    pbw_msg(&vi, 2, &t);
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw n = named_node("r", "Identity", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &vi, 1, &y);
    pbw m = ob_model(13, &g);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "nested deeper than 64");
}

/* A subgraph that reads thousands of values of its enclosing graph: the loader must stay
 * linear in them (it once copied the value table for each one). */
TEST(many_outer_references_stay_linear)
{
    enum { N = 20000 };
    pbw *inits = malloc(N * sizeof *inits), *nodes = malloc(N * sizeof *nodes), *outs = malloc(N * sizeof *outs);
    char name[32], oname[32];
    float v = 1;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "w%d", i);
        snprintf(oname, sizeof oname, "o%d", i);
        inits[i] = ob_tensor(name, TETHER_DTYPE_FLOAT, 0, NULL, &v, sizeof v);
        nodes[i] = ob_node("Identity", 1, (const char *[]){name}, 1, (const char *[]){oname}, 0, NULL);
        outs[i] = ob_output(oname, TETHER_DTYPE_FLOAT, 0, NULL);
    }
    pbw body = ob_graph("body", N, nodes, 0, NULL, 0, NULL, 1, outs);
    for (int i = 1; i < N; i++)
        ob_free(&outs[i]);
    pbw c = ob_input("c", TETHER_DTYPE_BOOL, 0, NULL);
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 0, NULL);
    pbw n = named_node("if", "If", 1, (const char *[]){"c"}, 1, (const char *[]){"y"}, 1,
                       (pbw[]){ob_attr_graph("then_branch", &body)});
    pbw g = ob_graph("g", 1, &n, N, inits, 1, &c, 1, &y);
    pbw m = ob_model(13, &g);
    tt_model *mod;
    CHECK_OK(load(&m, &mod));
    const tt_node *nd = &mod->graph->nodes[0];
    CHECK_EQ_INT(nd->n_implicit, N);
    CHECK_EQ_INT(nd->attrs[0].g->n_outer, N);
    /* a few hundred bytes per value, not a copy of the table per value */
    CHECK(mod->arena.used_total < (size_t)N * 2048);
    tt_model_free(mod);
    ob_free(&m);
    free(inits), free(nodes), free(outs);
}

/* ---- model-local functions ----------------------------------------------------------------------- */

/* FunctionProto: name 1, input 4, output 5, node 7, opset_import 9, domain 10. Its body is
 * `width` calls of `callee` (or Relu when callee is NULL) chained x -> ... -> y. */
static pbw function(const char *name, const char *callee, int width)
{
    pbw f = {0};
    pbw_str(&f, 1, name);
    pbw_str(&f, 10, "local");
    pbw_str(&f, 4, "x");
    pbw_str(&f, 5, "y");
    char in[16] = "x", out[16];
    for (int i = 0; i < width; i++) {
        snprintf(out, sizeof out, i == width - 1 ? "y" : "t%d", i);
        pbw n = ob_node(callee ? callee : "Relu", 1, (const char *[]){in}, 1, (const char *[]){out}, 0, NULL);
        if (callee)
            pbw_str(&n, 7, "local");
        pbw_msg(&f, 7, &n);
        snprintf(in, sizeof in, "%s", out);
    }
    pbw os = {0};
    pbw_int(&os, 2, 13);
    pbw_msg(&f, 9, &os);
    return f;
}

static pbw model_calling(const char *fn, int nfuncs, pbw *funcs)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = named_node("call", fn, 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw_str(&n, 7, "local");
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    pbw os = {0};
    pbw_str(&os, 1, "local");
    pbw_int(&os, 2, 1);
    pbw_msg(&m, 8, &os);
    for (int i = 0; i < nfuncs; i++)
        pbw_msg(&m, 25, &funcs[i]);
    return m;
}

TEST(functions_expand_recursion_and_blowup_are_refused)
{
    pbw f[8] = {function("f0", "f1", 3), function("f1", NULL, 2)};
    pbw m = model_calling("f0", 2, f);
    tt_model *mod;
    CHECK_OK(load(&m, &mod));
    CHECK_EQ_INT(mod->graph->n_nodes, 6);
    tt_model_free(mod);
    ob_free(&m);

    f[0] = function("self", "self", 1);
    m = model_calling("self", 1, f);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "function 'self' calls itself");
    /* eight levels of 64 calls each would expand to 64^8 nodes */
    char name[8], next[8];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "g%d", i);
        snprintf(next, sizeof next, "g%d", i + 1);
        f[i] = function(name, i < 7 ? next : NULL, 64);
    }
    m = model_calling("g0", 8, f);
    expect_load_error(&m, TETHER_ERR_INVALID_MODEL, "functions expand to more than");
}

/* ---- external data ------------------------------------------------------------------------------- */

static void ext_entry(pbw *t, const char *key, const char *value)
{
    pbw e = {0};
    pbw_str(&e, 1, key);
    pbw_str(&e, 2, value);
    pbw_msg(t, 13, &e);
}

/* y = x + w with w: float[n] stored in an external file. */
static pbw external_model(int dtype, int64_t n, const char *location, const char *offset, const char *length)
{
    pbw t = {0};
    pbw_int(&t, 1, n);
    pbw_int(&t, 2, dtype);
    pbw_str(&t, 8, "w");
    if (location)
        ext_entry(&t, "location", location);
    if (offset)
        ext_entry(&t, "offset", offset);
    if (length)
        ext_entry(&t, "length", length);
    pbw_int(&t, 14, 1); /* data_location = EXTERNAL */
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){n});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){n});
    pbw node = named_node("add", "Add", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &node, 1, &t, 1, &x, 1, &y);
    return ob_model(13, &g);
}

typedef struct tmpdir {
    char root[64], dir[96], model[128], data[128], outside[128];
} tmpdir;

/* root/model/{model.onnx, weights.bin} and root/secret.bin outside the model's folder. */
static void tmpdir_make(tmpdir *t)
{
    snprintf(t->root, sizeof t->root, "/tmp/tt_model_XXXXXX");
    CHECK(mkdtemp(t->root) != NULL);
    snprintf(t->dir, sizeof t->dir, "%s/model", t->root);
    CHECK(mkdir(t->dir, 0700) == 0);
    snprintf(t->model, sizeof t->model, "%s/model.onnx", t->dir);
    snprintf(t->data, sizeof t->data, "%s/weights.bin", t->dir);
    snprintf(t->outside, sizeof t->outside, "%s/secret.bin", t->root);
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    FILE *f = fopen(t->data, "wb");
    CHECK(f && fwrite(w, sizeof w, 1, f) == 1);
    fclose(f);
    f = fopen(t->outside, "wb");
    CHECK(f && fwrite(w, sizeof w, 1, f) == 1);
    fclose(f);
}

static void tmpdir_remove(tmpdir *t)
{
    unlink(t->model);
    unlink(t->data);
    unlink(t->outside);
    rmdir(t->dir);
    rmdir(t->root);
}

static tt_status load_file(tmpdir *t, pbw *m, tt_model **mod)
{
    FILE *f = fopen(t->model, "wb");
    CHECK(f && fwrite(m->buf, m->len, 1, f) == 1);
    fclose(f);
    ob_free(m);
    *mod = NULL;
    return tt_model_load_file(t->model, mod);
}

TEST(external_data_loads_from_the_model_folder)
{
    tmpdir t;
    tmpdir_make(&t);
    pbw m = external_model(TETHER_DTYPE_FLOAT, 4, "weights.bin", "8", "16");
    FILE *f = fopen(t.model, "wb");
    CHECK(f && fwrite(m.buf, m.len, 1, f) == 1);
    fclose(f);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s;
    CHECK_OK(tether_session_open(&s, t.model, &cfg));
    float x[4] = {10, 20, 30, 40};
    tether_tensor in = {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {4}, .data = x, .size = sizeof x};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    const float *y = tether_outputs_get(out, 0)->data;
    for (int i = 0; i < 4; i++) /* bytes 8..24 of the file: 3, 4, 5, 6 */
        CHECK_NEAR(y[i], x[i] + 3 + i, 0);
    tether_outputs_free(out);
    tether_session_free(s);
    /* the same model from bytes has no folder to read from */
    tt_model *mod;
    CHECK_ERR(tt_model_load(m.buf, m.len, NULL, &mod), TETHER_ERR_INVALID_MODEL,
              "tensor 'w' keeps its data in an external file, but the model was opened from bytes");
    ob_free(&m);
    tmpdir_remove(&t);
}

TEST(external_data_may_not_leave_the_model_folder)
{
    tmpdir t;
    tmpdir_make(&t);
    static const char *escapes[] = {"../secret.bin", "/etc/passwd", "sub/../../secret.bin", "..", ""};
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        char abs[160];
        snprintf(abs, sizeof abs, "%s", escapes[i]);
        if (i == 1) /* an absolute path to a file that does exist */
            snprintf(abs, sizeof abs, "%s", t.outside);
        pbw m = external_model(TETHER_DTYPE_FLOAT, 4, abs, NULL, NULL);
        tt_model *mod;
        CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL,
                  "tensor 'w': external data location is missing or leaves the model's folder");
    }
    pbw m = external_model(TETHER_DTYPE_FLOAT, 4, NULL, NULL, NULL);
    tt_model *mod;
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL, "location is missing");
    tmpdir_remove(&t);
}

TEST(external_data_offsets_and_lengths_are_checked)
{
    tmpdir t;
    tmpdir_make(&t);
    tt_model *mod;
    pbw m = external_model(TETHER_DTYPE_FLOAT, 4, "weights.bin", "24", NULL);
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL,
              "tensor 'w': external data wants 16 bytes at offset 24 of 'weights.bin', which has 32");
    m = external_model(TETHER_DTYPE_FLOAT, 4, "weights.bin", "18446744073709551615", NULL);
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL, "at offset 18446744073709551615");
    m = external_model(TETHER_DTYPE_FLOAT, 4, "weights.bin", "99999999999999999999999", NULL);
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL, "is not a number");
    m = external_model(TETHER_DTYPE_FLOAT, 4, "weights.bin", "-8", NULL);
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL, "is not a number");
    m = external_model(TETHER_DTYPE_FLOAT, 4, "weights.bin", NULL, "12");
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL, "external data length 12 != 16 bytes its shape needs");
    m = external_model(TETHER_DTYPE_FLOAT, (int64_t)1 << 40, "weights.bin", NULL, NULL);
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL, "which has 32");
    m = external_model(TETHER_DTYPE_FLOAT, 4, "missing.bin", NULL, NULL);
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_IO, "cannot open external data 'missing.bin'");
    m = external_model(TETHER_DTYPE_FLOAT, 4, ".", NULL, NULL);
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_IO, "is not a regular file");
    /* string tensors hold pointers: file bytes must never become them */
    m = external_model(TETHER_DTYPE_STRING, 4, "weights.bin", NULL, NULL);
    CHECK_ERR(load_file(&t, &m, &mod), TETHER_ERR_INVALID_MODEL, "string tensor 'w' cannot keep its data externally");
    tmpdir_remove(&t);
}

/* ---- the TensorProto decoder on its own (test data files) ------------------------------------------ */

TEST(tensor_proto_decoder_is_hostile_safe)
{
    float v[3] = {1, 2, 3};
    pbw t = ob_tensor("t", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, v, sizeof v);
    tt_tensor out;
    char name[16];
    CHECK_OK(tt_tensor_from_pb(t.buf, t.len, &out, name, sizeof name));
    CHECK(strcmp(name, "t") == 0);
    CHECK_NEAR(((float *)out.data)[2], 3, 0);
    tt_tensor_release(&out);
    for (size_t k = 0; k < t.len; k++) {
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, t.buf, k);
        tt_status s = tt_tensor_from_pb(p, k, &out, name, sizeof name);
        if (s == TT_OK) /* a prefix that ends between fields is a smaller, valid tensor */
            tt_tensor_release(&out);
        else
            CHECK(*tether_last_error());
        free(p);
    }
    ob_free(&t);
    t = ob_tensor("huge", TETHER_DTYPE_DOUBLE, 2, (int64_t[]){1 << 30, 1 << 30}, v, 8);
    CHECK_ERR(tt_tensor_from_pb(t.buf, t.len, &out, NULL, 0), TETHER_ERR_INVALID_MODEL,
              "tensor 'huge' (float64) has 8 bytes of raw_data");
    ob_free(&t);
}

/* ---- allocation failure at every point of a load -------------------------------------------------- */

static pbw rich_model(void)
{
    /* a raw and a typed initializer, a sparse one, a function call and nested subgraphs:
     * most of the decoder's paths */
    float w[3] = {1, -2, 0.5f}, b[3] = {0.25f, 0.5f, -1}, v[2] = {7, 9};
    int64_t idx[2] = {0, 2};
    pbw inits[2] = {ob_tensor("w", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, w, sizeof w),
                    typed_float_tensor("b", 1, (int64_t[]){3}, b, 3)};
    pbw sub = nested_graph(2, 1);
    pbw nodes[5] = {named_node("mul", "Mul", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"t"}, 0, NULL),
                    named_node("add_b", "Add", 2, (const char *[]){"t", "b"}, 1, (const char *[]){"u"}, 0, NULL),
                    named_node("add_s", "Add", 2, (const char *[]){"u", "s"}, 1, (const char *[]){"q"}, 0, NULL),
                    named_node("call", "f1", 1, (const char *[]){"q"}, 1, (const char *[]){"y"}, 0, NULL),
                    named_node("if", "If", 1, (const char *[]){"c"}, 1, (const char *[]){"r"}, 1,
                               (pbw[]){ob_attr_graph("then_branch", &sub)})};
    pbw_str(&nodes[3], 7, "local");
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 3});
    pbw c = ob_input("c", TETHER_DTYPE_BOOL, 0, NULL);
    pbw ins[2] = {x, c};
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 3});
    pbw g = ob_graph("g", 5, nodes, 2, inits, 2, ins, 1, &y);
    pbw sp = sparse_tensor("s", 1, (int64_t[]){3}, 2, v, idx);
    pbw_msg(&g, 15, &sp);
    pbw mm = ob_model(13, &g);
    pbw os = {0};
    pbw_str(&os, 1, "local");
    pbw_int(&os, 2, 1);
    pbw_msg(&mm, 8, &os);
    pbw f = function("f1", NULL, 2);
    pbw_msg(&mm, 25, &f);
    return mm;
}

TEST(allocation_failure_at_every_point_of_a_load)
{
    pbw m = rich_model();
    tt_model *mod;
    CHECK_OK(load(&m, &mod));
    tt_model_free(mod);
    long n;
    for (n = 1; n < 100000; n++) {
        tt_mem_fail_after(n);
        tt_status s = tt_model_load(m.buf, m.len, NULL, &mod);
        tt_mem_fail_after(0);
        if (s == TT_OK) {
            tt_model_free(mod);
            break;
        }
        if (s != TETHER_ERR_NO_MEMORY)
            CHECK_FAIL("allocation %ld failing gave status %d: %s", n, (int)s, tether_last_error());
        CHECK_STR_CONTAINS(tether_last_error(), "out of memory");
    }
    CHECK(n > 10 && n < 100000);
    ob_free(&m);
}

TEST(allocation_failure_at_every_point_of_a_session_open)
{
    pbw m = small_model();
    tether_status st;
    tether_session *s = open_quiet(m.buf, m.len, &st); /* library set-up happens once, here */
    CHECK_OK(st);
    tether_session_free(s);
    long n;
    for (n = 1; n < 100000; n++) {
        tt_mem_fail_after(n);
        s = open_quiet(m.buf, m.len, &st);
        tt_mem_fail_after(0);
        if (s) {
            tether_session_free(s);
            break;
        }
        CHECK(st != TETHER_OK);
        CHECK(*tether_last_error());
    }
    CHECK(n > 10 && n < 100000);
    ob_free(&m);
}

int main(int argc, char **argv)
{
    /* hostile models may declare large inputs: keep what a warm-up may allocate small */
    setenv("TETHER_MAX_TENSOR_BYTES", "67108864", 1);
    return check_main(argc, argv);
}
