/* Writes synthetic fuzzing seeds into a folder: models with the structures the ONNX node
 * tests rarely have (model-local functions, nested subgraphs reading outer values, sparse and
 * external initializers, typed and string tensors, sequence and optional types, every kind of
 * attribute) and TensorProto files of every storage form. Usage: fuzz_gen_seeds DIR */
#include "onnx_build.h"

#include <stdio.h>
#include <stdlib.h>

static const char *g_dir;
static int g_count;

static void save(const char *name, pbw *w)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/synthetic-%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(w->buf, 1, w->len, f) != w->len) {
        perror(path);
        exit(1);
    }
    fclose(f);
    ob_free(w);
    g_count++;
}

static pbw named(const char *name, const char *op, int nin, const char *const *in, int nout, const char *const *out,
                 int nattr, pbw *attrs)
{
    pbw n = ob_node(op, nin, in, nout, out, nattr, attrs);
    pbw_str(&n, 3, name);
    return n;
}

static pbw with_opset(pbw m, const char *domain, int64_t version)
{
    pbw os = {0};
    pbw_str(&os, 1, domain);
    pbw_int(&os, 2, version);
    pbw_msg(&m, 8, &os);
    return m;
}

/* y = relu(x * w + b + c): a raw, a typed and a Constant-node tensor. */
static void basic(void)
{
    float w[3] = {1, -2, 0.5f}, b[3] = {0.25f, 0.5f, -1}, c[3] = {3, 2, 1};
    pbw typed = {0};
    pbw_int(&typed, 1, 3);
    pbw_int(&typed, 2, TETHER_DTYPE_FLOAT);
    pbw_str(&typed, 8, "b");
    pbw_bytes(&typed, 4, b, sizeof b);
    pbw inits[2] = {ob_tensor("w", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, w, sizeof w), typed};
    pbw cval = ob_tensor(NULL, TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, c, sizeof c);
    pbw nodes[5] = {
        named("const", "Constant", 0, NULL, 1, (const char *[]){"c"}, 1, (pbw[]){ob_attr_tensor("value", &cval)}),
        named("mul", "Mul", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"t"}, 0, NULL),
        named("add_b", "Add", 2, (const char *[]){"t", "b"}, 1, (const char *[]){"u"}, 0, NULL),
        named("add_c", "Add", 2, (const char *[]){"u", "c"}, 1, (const char *[]){"v"}, 0, NULL),
        named("relu", "Relu", 1, (const char *[]){"v"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 3});
    pbw g = ob_graph("g", 5, nodes, 2, inits, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    save("basic.onnx", &m);
}

/* f0 calls f1 twice; f1 is two Relus; a function attribute refers to the caller's. */
static void functions(void)
{
    pbw fs[2];
    for (int k = 0; k < 2; k++) {
        pbw f = {0};
        pbw_str(&f, 1, k ? "f1" : "f0");
        pbw_str(&f, 10, "local");
        pbw_str(&f, 4, "x");
        pbw_str(&f, 5, "y");
        pbw_str(&f, 6, "alpha");
        pbw ref = {0};
        pbw_str(&ref, 1, "alpha");
        pbw_int(&ref, 20, 1);
        pbw_str(&ref, 21, "alpha");
        pbw n1 = ob_node(k ? "LeakyRelu" : "f1", 1, (const char *[]){"x"}, 1, (const char *[]){"t"}, k, &ref);
        pbw n2 = ob_node(k ? "Relu" : "f1", 1, (const char *[]){"t"}, 1, (const char *[]){"y"}, 0, NULL);
        if (!k) {
            ob_free(&ref);
            pbw_str(&n1, 7, "local");
            pbw_str(&n2, 7, "local");
        }
        pbw_msg(&f, 7, &n1);
        pbw_msg(&f, 7, &n2);
        pbw os = {0};
        pbw_int(&os, 2, 13);
        pbw_msg(&f, 9, &os);
        fs[k] = f;
    }
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4});
    pbw n = named("call", "f0", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 1,
                  (pbw[]){ob_attr_float("alpha", 0.1f)});
    pbw_str(&n, 7, "local");
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    pbw m = with_opset(ob_model(13, &g), "local", 1);
    pbw_msg(&m, 25, &fs[0]);
    pbw_msg(&m, 25, &fs[1]);
    save("functions.onnx", &m);
}

/* If nested three deep; the innermost branch reads the top graph's values. */
static pbw branch(int level)
{
    char out[16];
    snprintf(out, sizeof out, "r%d", level);
    pbw y = ob_output(out, TETHER_DTYPE_FLOAT, 1, (int64_t[]){2});
    if (level == 3) {
        pbw n = named("leaf", "Add", 2, (const char *[]){"x", "w"}, 1, (const char *[]){out}, 0, NULL);
        return ob_graph("leaf", 1, &n, 0, NULL, 0, NULL, 1, &y);
    }
    pbw thenb = branch(level + 1), elseb = branch(level + 1);
    pbw n = named("if", "If", 1, (const char *[]){"c"}, 1, (const char *[]){out}, 2,
                  (pbw[]){ob_attr_graph("then_branch", &thenb), ob_attr_graph("else_branch", &elseb)});
    return ob_graph("branch", 1, &n, 0, NULL, 0, NULL, 1, &y);
}

static void subgraphs(void)
{
    float w[2] = {1, 2};
    pbw init = ob_tensor("w", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2}, w, sizeof w);
    pbw thenb = branch(1), elseb = branch(1);
    pbw n = named("if", "If", 1, (const char *[]){"c"}, 1, (const char *[]){"y"}, 2,
                  (pbw[]){ob_attr_graph("then_branch", &thenb), ob_attr_graph("else_branch", &elseb)});
    pbw ins[2] = {ob_input("c", TETHER_DTYPE_BOOL, 0, NULL), ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2})};
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2});
    pbw g = ob_graph("g", 1, &n, 1, &init, 2, ins, 1, &y);
    pbw m = ob_model(16, &g);
    save("subgraphs.onnx", &m);
}

/* Sparse initializers: linear and coordinate indices; an external one; a string one. */
static void odd_initializers(void)
{
    float v[2] = {7, 9};
    int64_t lin[2] = {1, 4}, coo[4] = {0, 1, 1, 2};
    pbw sp[2];
    for (int k = 0; k < 2; k++) {
        pbw s = {0};
        pbw vals = ob_tensor(k ? "coo" : "lin", TETHER_DTYPE_FLOAT, 1, (int64_t[]){2}, v, sizeof v);
        pbw idx = k ? ob_tensor(NULL, TETHER_DTYPE_INT64, 2, (int64_t[]){2, 2}, coo, sizeof coo)
                    : ob_tensor(NULL, TETHER_DTYPE_INT64, 1, (int64_t[]){2}, lin, sizeof lin);
        pbw_msg(&s, 1, &vals);
        pbw_msg(&s, 2, &idx);
        pbw_int(&s, 3, k ? 2 : 6);
        pbw_int(&s, 3, 3);
        sp[k] = s;
    }
    pbw ext = {0};
    pbw_int(&ext, 1, 4);
    pbw_int(&ext, 2, TETHER_DTYPE_FLOAT);
    pbw_str(&ext, 8, "ext");
    const char *kv[3][2] = {{"location", "weights.bin"}, {"offset", "0"}, {"length", "16"}};
    for (int i = 0; i < 3; i++) {
        pbw e = {0};
        pbw_str(&e, 1, kv[i][0]);
        pbw_str(&e, 2, kv[i][1]);
        pbw_msg(&ext, 13, &e);
    }
    pbw_int(&ext, 14, 1);
    pbw strs = {0};
    pbw_int(&strs, 1, 2);
    pbw_int(&strs, 2, TETHER_DTYPE_STRING);
    pbw_str(&strs, 8, "words");
    pbw_str(&strs, 6, "hello");
    pbw_str(&strs, 6, "wörld");
    pbw ints = {0};
    pbw_int(&ints, 1, 3);
    pbw_int(&ints, 2, TETHER_DTYPE_INT64);
    pbw_str(&ints, 8, "ints");
    pbw packed = {0};
    for (int i = 0; i < 3; i++)
        pbw_varint(&packed, (uint64_t)(int64_t)(i - 1));
    pbw_msg(&ints, 7, &packed);
    pbw inits[3] = {ext, strs, ints};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4});
    pbw n = named("relu", "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &n, 3, inits, 1, &x, 1, &y);
    pbw_msg(&g, 15, &sp[0]);
    pbw_msg(&g, 15, &sp[1]);
    pbw m = ob_model(13, &g);
    save("initializers.onnx", &m);
}

/* Sequence and optional types, and every attribute kind on one node. */
static void types_and_attributes(void)
{
    pbw elem = {0}, tt = {0}, seq = {0}, seqt = {0}, opt = {0}, optt = {0};
    pbw_int(&tt, 1, TETHER_DTYPE_FLOAT);
    pbw_msg(&elem, 1, &tt);
    pbw copy = {0};
    pbw_put(&copy, elem.buf, elem.len);
    pbw_msg(&seq, 1, &elem);
    pbw_msg(&seqt, 4, &seq);
    pbw_msg(&opt, 1, &copy);
    pbw_msg(&optt, 9, &opt);
    pbw vis[2] = {{0}, {0}};
    pbw_str(&vis[0], 1, "s");
    pbw_msg(&vis[0], 2, &seqt);
    pbw_str(&vis[1], 1, "o");
    pbw_msg(&vis[1], 2, &optt);

    float fl[3] = {1, 2, 3};
    int64_t in[3] = {4, 5, 6};
    pbw strs = {0};
    pbw_str(&strs, 1, "strings");
    pbw_int(&strs, 20, 8);
    pbw_str(&strs, 9, "a");
    pbw_str(&strs, 9, "bc");
    pbw t = ob_tensor(NULL, TETHER_DTYPE_INT32, 1, (int64_t[]){2}, (int32_t[]){1, 2}, 8);
    pbw sub = {0};
    pbw_str(&sub, 2, "empty");
    pbw attrs[8] = {ob_attr_int("i", -3),        ob_attr_float("f", 0.5f),
                    ob_attr_string("s", "text"), ob_attr_ints("ints", 3, in),
                    ob_attr_floats("floats", 3, fl), strs,
                    ob_attr_tensor("t", &t),     ob_attr_graph("g", &sub)};
    pbw n = named("custom", "Custom", 2, (const char *[]){"s", "o"}, 1, (const char *[]){"y"}, 8, attrs);
    pbw_str(&n, 7, "com.example");
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 2, vis, 1, &y);
    pbw m = with_opset(ob_model(15, &g), "com.example", 1);
    save("types.onnx", &m);
}

/* TensorProto files as the test data uses them, in each storage form. */
static void tensor_protos(void)
{
    double d[2] = {1.5, -2.5};
    pbw t = ob_tensor("double", TETHER_DTYPE_DOUBLE, 1, (int64_t[]){2}, d, sizeof d);
    save("double.pb", &t);
    uint8_t b[3] = {0, 1, 1};
    t = ob_tensor("bool", TETHER_DTYPE_BOOL, 1, (int64_t[]){3}, b, sizeof b);
    save("bool.pb", &t);
    float c[4] = {1, 2, 3, 4};
    t = ob_tensor("complex", TETHER_DTYPE_COMPLEX64, 1, (int64_t[]){2}, c, sizeof c);
    save("complex.pb", &t);
    t = (pbw){0};
    pbw_int(&t, 1, 2);
    pbw_int(&t, 2, TETHER_DTYPE_STRING);
    pbw_str(&t, 6, "x");
    pbw_str(&t, 6, "yz");
    save("string.pb", &t);
    t = (pbw){0};
    pbw_int(&t, 1, 2);
    pbw_int(&t, 2, TETHER_DTYPE_FLOAT16);
    pbw_int(&t, 5, 0x3c00);
    pbw_int(&t, 5, 0xc000);
    save("float16.pb", &t);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    basic();
    functions();
    subgraphs();
    odd_initializers();
    types_and_attributes();
    tensor_protos();
    printf("%d synthetic seeds written to %s\n", g_count, g_dir);
    return 0;
}
