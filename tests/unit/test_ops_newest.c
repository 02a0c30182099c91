/* Ops added since ONNX 1.12, where the ONNX suite does not look: repeated and NaN keys of
 * LabelEncoder, regex constructs refused at load, Python's whitespace split, a KV cache write
 * past its end, fully masked attention rows, an antialiased downscale too steep to filter,
 * and a tree with a cycle. */
#include "check.h"
#include "onnx_build.h"

#include <math.h>

/* A one-node model in `domain` (at opset dop; the default domain at 23), inputs x0.. of the
 * given types and shapes, one output y. */
static pbw model(const char *domain, int64_t dop, const char *op, int nin, const int *dt, const int64_t *const *dims,
                 const int *ranks, int ydt, int nattr, pbw *attrs)
{
    static const char *const names[] = {"x0", "x1", "x2", "x3"};
    pbw vis[4];
    for (int i = 0; i < nin; i++)
        vis[i] = ob_input(names[i], dt[i], ranks[i], dims[i]);
    pbw y = ob_output("y", ydt, -1, NULL);
    pbw n = ob_node(op, nin, names, 1, (const char *[]){"y"}, nattr, attrs);
    if (*domain)
        pbw_str(&n, 7, domain);
    pbw g = ob_graph("g", 1, &n, 0, NULL, nin, vis, 1, &y);
    pbw m = {0}, os = {0}, os2 = {0};
    pbw_int(&m, 1, 8);
    pbw_int(&os, 2, *domain ? 23 : dop);
    pbw_msg(&m, 8, &os);
    if (*domain) {
        pbw_str(&os2, 1, domain);
        pbw_int(&os2, 2, dop);
        pbw_msg(&m, 8, &os2);
    }
    pbw_msg(&m, 7, &g);
    return m;
}

static int open_m(pbw *m, tether_session **s)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    *s = NULL;
    int st = tether_session_open_bytes(s, m->buf, m->len, &cfg);
    ob_free(m);
    return st;
}

static tether_tensor tens(const char *name, int dt, int rank, const int64_t *dims, const void *data)
{
    tether_tensor t = {.name = name, .dtype = dt, .rank = rank, .data = (void *)data};
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i], n *= (size_t)dims[i];
    t.size = n * tether_dtype_size(dt);
    return t;
}

TEST(label_encoder_last_key_wins_and_nan_matches_nan)
{
    float keys[4] = {1.0f, NAN, 2.0f, 1.0f};
    int64_t vals[4] = {10, 20, 30, 40};
    pbw attrs[3] = {ob_attr_floats("keys_floats", 4, keys), ob_attr_ints("values_int64s", 4, vals),
                    ob_attr_int("default_int64", -7)};
    pbw m = model("ai.onnx.ml", 2, "LabelEncoder", 1, (int[]){TETHER_DTYPE_FLOAT}, (const int64_t *[]){(int64_t[]){4}},
                  (int[]){1}, TETHER_DTYPE_INT64, 3, attrs);
    tether_session *s;
    CHECK_OK(open_m(&m, &s));
    float x[4] = {1.0f, NAN, 2.0f, 3.0f};
    tether_tensor in = tens("x0", TETHER_DTYPE_FLOAT, 1, (int64_t[]){4}, x);
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    const int64_t *y = tether_outputs_find(o, "y")->data;
    CHECK_EQ_INT(y[0], 40); /* the repeated key 1.0: its last value */
    CHECK_EQ_INT(y[1], 20);
    CHECK_EQ_INT(y[2], 30);
    CHECK_EQ_INT(y[3], -7);
    tether_outputs_free(o);
    tether_session_free(s);
}

TEST(regex_full_match_translates_or_refuses_at_load)
{
    tether_session *s;
    pbw a = ob_attr_string("pattern", "[\\w.]+@\\d{2}x");
    pbw m = model("", 20, "RegexFullMatch", 1, (int[]){TETHER_DTYPE_STRING}, (const int64_t *[]){(int64_t[]){4}},
                  (int[]){1}, TETHER_DTYPE_BOOL, 1, &a);
    CHECK_OK(open_m(&m, &s));
    const char *x[4] = {"a.b@12x", "a.b@12xy", "@12x", "ab@1x"};
    tether_tensor in = tens("x0", TETHER_DTYPE_STRING, 1, (int64_t[]){4}, x);
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    const uint8_t *y = tether_outputs_find(o, "y")->data;
    CHECK(y[0] == 1 && y[1] == 0 && y[2] == 0 && y[3] == 0); /* full matches only */
    tether_outputs_free(o);
    tether_session_free(s);
    const char *bad[3] = {"a+?", "(?i)abc", "(a)\\1"};
    for (int i = 0; i < 3; i++) {
        pbw b = ob_attr_string("pattern", bad[i]);
        m = model("", 20, "RegexFullMatch", 1, (int[]){TETHER_DTYPE_STRING}, (const int64_t *[]){(int64_t[]){4}},
                  (int[]){1}, TETHER_DTYPE_BOOL, 1, &b);
        CHECK_ERR(open_m(&m, &s), TETHER_ERR_UNSUPPORTED, "RegexFullMatch");
    }
}

TEST(string_split_follows_python)
{
    pbw a = ob_attr_int("maxsplit", 1);
    pbw x0 = ob_input("x0", TETHER_DTYPE_STRING, 1, (int64_t[]){2});
    pbw outs[2] = {ob_output("y", TETHER_DTYPE_STRING, -1, NULL), ob_output("z", TETHER_DTYPE_INT64, -1, NULL)};
    pbw n = ob_node("StringSplit", 1, (const char *[]){"x0"}, 2, (const char *[]){"y", "z"}, 1, &a);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x0, 2, outs);
    pbw m = ob_model(20, &g);
    tether_session *s;
    CHECK_OK(open_m(&m, &s));
    const char *x[2] = {"  a  b c  ", ""};
    tether_tensor in = tens("x0", TETHER_DTYPE_STRING, 1, (int64_t[]){2}, x);
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    const tether_tensor *y = tether_outputs_find(o, "y");
    CHECK(y->rank == 2 && y->dims[0] == 2 && y->dims[1] == 2);
    char *const *v = y->data;
    CHECK(strcmp(v[0], "a") == 0 && strcmp(v[1], "b c  ") == 0); /* the rest keeps its trailing spaces */
    CHECK(strcmp(v[2], "") == 0 && strcmp(v[3], "") == 0);     /* "" splits into nothing: padding */
    const int64_t *z = tether_outputs_find(o, "z")->data;
    CHECK(z[0] == 2 && z[1] == 0);
    tether_outputs_free(o);
    tether_session_free(s);
}

TEST(tensor_scatter_refuses_a_write_past_the_cache)
{
    pbw m = model("", 24, "TensorScatter", 3, (int[]){TETHER_DTYPE_FLOAT, TETHER_DTYPE_FLOAT, TETHER_DTYPE_INT64},
                  (const int64_t *[]){(int64_t[]){1, 4, 2}, (int64_t[]){1, 2, 2}, (int64_t[]){1}}, (int[]){3, 3, 1},
                  TETHER_DTYPE_FLOAT, 0, NULL);
    tether_session *s;
    CHECK_OK(open_m(&m, &s));
    float past[8] = {0}, upd[4] = {1, 2, 3, 4};
    int64_t at = 3;
    tether_tensor in[3] = {tens("x0", TETHER_DTYPE_FLOAT, 3, (int64_t[]){1, 4, 2}, past),
                           tens("x1", TETHER_DTYPE_FLOAT, 3, (int64_t[]){1, 2, 2}, upd),
                           tens("x2", TETHER_DTYPE_INT64, 1, (int64_t[]){1}, &at)};
    tether_outputs *o = NULL;
    CHECK_ERR(tether_session_run(s, in, 3, &o), TETHER_ERR_RUNTIME, "does not fit a cache of 4");
    at = 2;
    CHECK_OK(tether_session_run(s, in, 3, &o));
    const float *y = tether_outputs_find(o, "y")->data;
    CHECK(y[3] == 0 && y[4] == 1 && y[7] == 4);
    tether_outputs_free(o);
    tether_session_free(s);
}

TEST(attention_gives_zeros_for_a_fully_masked_row)
{
    int64_t q[4] = {1, 1, 2, 2}, kv[4] = {1, 1, 3, 2}, mk[2] = {2, 3};
    pbw m = model("", 23, "Attention", 4,
                  (int[]){TETHER_DTYPE_FLOAT, TETHER_DTYPE_FLOAT, TETHER_DTYPE_FLOAT, TETHER_DTYPE_BOOL},
                  (const int64_t *[]){q, kv, kv, mk}, (int[]){4, 4, 4, 2}, TETHER_DTYPE_FLOAT, 0, NULL);
    tether_session *s;
    CHECK_OK(open_m(&m, &s));
    float Q[4] = {1, 0, 0, 1}, K[6] = {1, 0, 0, 1, 1, 1}, V[6] = {1, 2, 3, 4, 5, 6};
    uint8_t mask[6] = {1, 0, 1, 0, 0, 0}; /* row 1 attends nothing */
    tether_tensor in[4] = {tens("x0", TETHER_DTYPE_FLOAT, 4, q, Q), tens("x1", TETHER_DTYPE_FLOAT, 4, kv, K),
                           tens("x2", TETHER_DTYPE_FLOAT, 4, kv, V), tens("x3", TETHER_DTYPE_BOOL, 2, mk, mask)};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, in, 4, &o));
    const float *y = tether_outputs_find(o, "y")->data;
    /* row 0 mixes V rows 0 and 2 with softmax of [1, 1] / sqrt(2): equal weights */
    CHECK_NEAR(y[0], 3, 1e-6);
    CHECK_NEAR(y[1], 4, 1e-6);
    CHECK(y[2] == 0 && y[3] == 0);
    tether_outputs_free(o);
    tether_session_free(s);
}

TEST(resize_refuses_an_antialiased_downscale_too_steep_to_filter)
{
    int64_t xd[2] = {1, 4000}, sd[1] = {2};
    pbw attrs[2] = {ob_attr_string("mode", "linear"), ob_attr_int("antialias", 1)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, xd), sc = ob_input("s", TETHER_DTYPE_FLOAT, 1, sd);
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw ins[2] = {x, sc};
    pbw n = ob_node("Resize", 3, (const char *[]){"x", "", "s"}, 1, (const char *[]){"y"}, 2, attrs);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 2, ins, 1, &y);
    pbw m = ob_model(19, &g);
    tether_session *s;
    CHECK_OK(open_m(&m, &s));
    static float X[4000];
    float S[2] = {1, 1e-3f}; /* 4 outputs, each the mean of ~2000 inputs */
    tether_tensor in[2] = {tens("x", TETHER_DTYPE_FLOAT, 2, xd, X), tens("s", TETHER_DTYPE_FLOAT, 1, sd, S)};
    tether_outputs *o = NULL;
    CHECK_ERR(tether_session_run(s, in, 2, &o), TETHER_ERR_UNSUPPORTED, "taps");
    S[1] = 0.5f; /* a plain halving filters over 4 taps */
    CHECK_OK(tether_session_run(s, in, 2, &o));
    CHECK_EQ_INT(tether_outputs_find(o, "y")->dims[1], 2000);
    tether_outputs_free(o);
    tether_session_free(s);
}

/* A float tensor attribute. */
static pbw tattr(const char *name, int n, const float *v)
{
    pbw t = ob_tensor(NULL, TETHER_DTYPE_FLOAT, 1, (int64_t[]){n}, v, sizeof(float) * (size_t)n);
    return ob_attr_tensor(name, &t);
}

TEST(tree_ensemble_refuses_a_cycle)
{
    /* node 0's false branch is node 1, whose false branch is node 0 */
    float splits[2] = {0, 0}, w[1] = {1};
    pbw modes_t = ob_tensor(NULL, TETHER_DTYPE_UINT8, 1, (int64_t[]){2}, (uint8_t[]){0, 0}, 2);
    pbw attrs[11] = {tattr("nodes_splits", 2, splits),
                     ob_attr_ints("nodes_featureids", 2, (int64_t[]){0, 0}),
                     ob_attr_tensor("nodes_modes", &modes_t),
                     ob_attr_ints("nodes_truenodeids", 2, (int64_t[]){0, 0}),
                     ob_attr_ints("nodes_falsenodeids", 2, (int64_t[]){1, 0}),
                     ob_attr_ints("nodes_trueleafs", 2, (int64_t[]){1, 1}),
                     ob_attr_ints("nodes_falseleafs", 2, (int64_t[]){0, 0}),
                     tattr("leaf_weights", 1, w),
                     ob_attr_ints("leaf_targetids", 1, (int64_t[]){0}),
                     ob_attr_ints("tree_roots", 1, (int64_t[]){0}),
                     ob_attr_int("n_targets", 1)};
    pbw m = model("ai.onnx.ml", 5, "TreeEnsemble", 1, (int[]){TETHER_DTYPE_FLOAT}, (const int64_t *[]){(int64_t[]){1, 1}},
                  (int[]){2}, TETHER_DTYPE_FLOAT, 11, attrs);
    tether_session *s;
    CHECK_OK(open_m(&m, &s));
    float x[1] = {5}; /* 5 <= 0 is false: the walk goes 0 -> 1 -> 0 -> ... */
    tether_tensor in = tens("x0", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 1}, x);
    tether_outputs *o = NULL;
    CHECK_ERR(tether_session_run(s, &in, 1, &o), TETHER_ERR_INVALID_MODEL, "cycle");
    x[0] = -1; /* true: leaf 0 at once */
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    CHECK_NEAR(((const float *)tether_outputs_find(o, "y")->data)[0], 1, 0);
    tether_outputs_free(o);
    tether_session_free(s);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
