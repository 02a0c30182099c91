/* Elementwise ops (ops/math.c, logic.c, cast.c) where the ONNX suite does not look: integer
 * division and shifts at their edges, legacy broadcast attributes, mixed-type Pow, float16
 * rounding, string casts, float -> int casts, and errors that name a bad attribute. */
#include "check.h"
#include "onnx_build.h"

#include <float.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- running one op --------------------------------------------------------------------- */

static const char *const NAMES[] = {"x0", "x1", "x2", "x3"};

/* A rank-1 input over data. dtype UNDEFINED: the input is omitted. */
static tether_tensor vec(int dtype, int64_t n, const void *data)
{
    tether_tensor t = {.dtype = dtype, .rank = 1, .dims = {n}, .data = (void *)data};
    t.size = (size_t)n * tether_dtype_size(dtype);
    return t;
}

static tether_tensor shaped(int dtype, int rank, const int64_t *dims, const void *data)
{
    tether_tensor t = {.dtype = dtype, .rank = rank, .data = (void *)data};
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i], n *= (size_t)dims[i];
    t.size = n * tether_dtype_size(dtype);
    return t;
}

static const tether_tensor OMITTED = {.dtype = TETHER_DTYPE_UNDEFINED};

/* One node `op` over inputs x0.. (shaped like ins; with `symbolic`, x0's first dim is a symbol) into y. */
static pbw op_model(const char *op, int64_t opset, int nin, const tether_tensor *ins, int ydt, int nattr, pbw *attrs,
                    bool symbolic)
{
    const char *in[4];
    pbw vis[4];
    int nvis = 0;
    for (int i = 0; i < nin; i++) {
        in[i] = ins[i].dtype ? NAMES[i] : "";
        if (!ins[i].dtype)
            continue;
        int64_t dims[TETHER_MAX_RANK];
        for (int d = 0; d < ins[i].rank; d++)
            dims[d] = symbolic && i == 0 && d == 0 ? -1 : ins[i].dims[d];
        vis[nvis++] = ob_input(NAMES[i], ins[i].dtype, ins[i].rank, dims);
    }
    pbw y = ob_output("y", ydt, -1, NULL);
    pbw n = ob_node(op, nin, in, 1, (const char *[]){"y"}, nattr, attrs);
    pbw g = ob_graph("g", 1, &n, 0, NULL, nvis, vis, 1, &y);
    return ob_model(opset, &g);
}

static int open_model(pbw *m, tether_session **s)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    int st = tether_session_open_bytes(s, m->buf, m->len, &cfg);
    ob_free(m);
    return st;
}

typedef struct op_run {
    tether_session *s;
    tether_outputs *o;
    const tether_tensor *y;
} op_run;

static int run_inputs(op_run *r, int nin, const tether_tensor *ins)
{
    tether_tensor named[4];
    int k = 0;
    for (int i = 0; i < nin; i++) {
        if (!ins[i].dtype)
            continue;
        named[k] = ins[i];
        named[k++].name = NAMES[i];
    }
    return tether_session_run(r->s, named, (size_t)k, &r->o);
}

/* Runs op and checks the output's dtype; the caller checks values and calls done(). */
static op_run run_op(const char *op, int64_t opset, int nin, const tether_tensor *ins, int ydt, int nattr, pbw *attrs)
{
    op_run r = {0};
    pbw m = op_model(op, opset, nin, ins, ydt, nattr, attrs, false);
    CHECK_OK(open_model(&m, &r.s));
    CHECK_OK(run_inputs(&r, nin, ins));
    r.y = tether_outputs_find(r.o, "y");
    CHECK(r.y != NULL);
    CHECK_EQ_INT(r.y->dtype, ydt);
    return r;
}

static void done(op_run *r)
{
    tether_outputs_free(r->o);
    tether_session_free(r->s);
}

/* Opening a one-op model fails with status and a message containing needle. */
static void open_fails(const char *op, int64_t opset, int nin, const tether_tensor *ins, int ydt, int nattr, pbw *attrs,
                       int status, const char *needle)
{
    tether_session *s = NULL;
    pbw m = op_model(op, opset, nin, ins, ydt, nattr, attrs, false);
    CHECK_ERR(open_model(&m, &s), status, needle);
}

#define CHECK_ELEMS(T, y, want, n)                                                             \
    do {                                                                                       \
        CHECK_EQ_INT(tether_dtype_size((y)->dtype), sizeof(T));                                \
        for (int k_ = 0; k_ < (n); k_++)                                                       \
            if (((const T *)(y)->data)[k_] != (want)[k_])                                      \
                CHECK_FAIL("element %d: got %lld, want %lld", k_, (long long)((const T *)(y)->data)[k_], \
                           (long long)(want)[k_]);                                             \
    } while (0)

static void check_floats(const tether_tensor *y, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++) {
        double got = y->dtype == TETHER_DTYPE_DOUBLE ? ((const double *)y->data)[i] : ((const float *)y->data)[i];
        if (isnan(want[i]) ? !isnan(got) : !(fabs(got - want[i]) <= tol || got == want[i]))
            CHECK_FAIL("element %d: got %.9g, want %.9g", i, got, want[i]);
    }
}

/* ---- integer arithmetic at its edges ------------------------------------------------------- */

TEST(integer_division_by_zero_and_overflow_do_not_trap)
{
    int32_t a[] = {7, INT32_MIN, -7, 5, INT32_MIN}, b[] = {0, -1, 2, -2, 0};
    op_run r = run_op("Div", 14, 2, (tether_tensor[]){vec(TETHER_DTYPE_INT32, 5, a), vec(TETHER_DTYPE_INT32, 5, b)},
                      TETHER_DTYPE_INT32, 0, NULL);
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){0, INT32_MIN, -3, -2, 0}), 5);
    done(&r);

    /* unsigned: the all-ones divisor is an ordinary number, not -1 */
    uint8_t ua[] = {254, 255, 10}, ub[] = {255, 255, 0};
    r = run_op("Div", 14, 2, (tether_tensor[]){vec(TETHER_DTYPE_UINT8, 3, ua), vec(TETHER_DTYPE_UINT8, 3, ub)},
               TETHER_DTYPE_UINT8, 0, NULL);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){0, 1, 0}), 3);
    done(&r);
}

TEST(integer_mod_floors_or_truncates_and_survives_zero)
{
    int32_t a[] = {-7, 7, 5, INT32_MIN, 7, -8}, b[] = {3, -3, 0, -1, 3, 4};
    tether_tensor ins[2] = {vec(TETHER_DTYPE_INT32, 6, a), vec(TETHER_DTYPE_INT32, 6, b)};
    op_run r = run_op("Mod", 13, 2, ins, TETHER_DTYPE_INT32, 0, NULL); /* sign of the divisor */
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){2, -2, 0, 0, 1, 0}), 6);
    done(&r);
    pbw fm = ob_attr_int("fmod", 1);
    r = run_op("Mod", 13, 2, ins, TETHER_DTYPE_INT32, 1, &fm); /* sign of the dividend */
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){-1, 1, 0, 0, 1, 0}), 6);
    done(&r);

    int64_t la[] = {INT64_MIN, INT64_MIN, -1}, lb[] = {-1, 0, INT64_MIN};
    r = run_op("Mod", 13, 2, (tether_tensor[]){vec(TETHER_DTYPE_INT64, 3, la), vec(TETHER_DTYPE_INT64, 3, lb)},
               TETHER_DTYPE_INT64, 0, NULL);
    CHECK_ELEMS(int64_t, r.y, ((int64_t[]){0, 0, -1}), 3);
    done(&r);

    uint8_t ua[] = {7, 200, 9}, ub[] = {0, 7, 255};
    r = run_op("Mod", 13, 2, (tether_tensor[]){vec(TETHER_DTYPE_UINT8, 3, ua), vec(TETHER_DTYPE_UINT8, 3, ub)},
               TETHER_DTYPE_UINT8, 0, NULL);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){0, 4, 9}), 3);
    done(&r);
}

TEST(signed_overflow_wraps)
{
    int32_t a[] = {INT32_MAX, INT32_MIN, 65536}, b[] = {1, -1, 65536};
    tether_tensor ins[2] = {vec(TETHER_DTYPE_INT32, 3, a), vec(TETHER_DTYPE_INT32, 3, b)};
    op_run r = run_op("Add", 14, 2, ins, TETHER_DTYPE_INT32, 0, NULL);
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){INT32_MIN, INT32_MAX, 131072}), 3);
    done(&r);
    r = run_op("Mul", 14, 2, ins, TETHER_DTYPE_INT32, 0, NULL);
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){INT32_MAX, INT32_MIN, 0}), 3);
    done(&r);
    uint16_t u[] = {65535, 2};
    r = run_op("Mul", 14, 2, (tether_tensor[]){vec(TETHER_DTYPE_UINT16, 2, u), vec(TETHER_DTYPE_UINT16, 2, u)},
               TETHER_DTYPE_UINT16, 0, NULL);
    CHECK_ELEMS(uint16_t, r.y, ((uint16_t[]){1, 4}), 2);
    done(&r);
    int8_t m[] = {-128, -3, 0, 5};
    r = run_op("Neg", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_INT8, 4, m)}, TETHER_DTYPE_INT8, 0, NULL);
    CHECK_ELEMS(int8_t, r.y, ((int8_t[]){-128, 3, 0, -5}), 4);
    done(&r);
    r = run_op("Abs", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_INT8, 4, m)}, TETHER_DTYPE_INT8, 0, NULL);
    CHECK_ELEMS(int8_t, r.y, ((int8_t[]){-128, 3, 0, 5}), 4);
    done(&r);
}

TEST(bitshift_by_the_width_or_more_gives_zero)
{
    uint8_t a[] = {1, 255, 128, 3}, b[] = {7, 1, 8, 200};
    pbw dir = ob_attr_string("direction", "LEFT");
    op_run r = run_op("BitShift", 11, 2, (tether_tensor[]){vec(TETHER_DTYPE_UINT8, 4, a), vec(TETHER_DTYPE_UINT8, 4, b)},
                      TETHER_DTYPE_UINT8, 1, &dir);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){128, 254, 0, 0}), 4);
    done(&r);
    uint64_t c[] = {1ull << 63, 5, 5}, d[] = {63, 64, UINT64_MAX};
    dir = ob_attr_string("direction", "RIGHT");
    r = run_op("BitShift", 11, 2, (tether_tensor[]){vec(TETHER_DTYPE_UINT64, 3, c), vec(TETHER_DTYPE_UINT64, 3, d)},
               TETHER_DTYPE_UINT64, 1, &dir);
    CHECK_ELEMS(uint64_t, r.y, ((uint64_t[]){1, 0, 0}), 3);
    done(&r);
}

/* ---- broadcasting before opset 7 -------------------------------------------------------------- */

TEST(legacy_broadcast_attributes)
{
    float a[24], b3[3] = {100, 200, 300}, b4[4] = {1, 2, 3, 4};
    for (int i = 0; i < 24; i++)
        a[i] = (float)i;
    tether_tensor A = shaped(TETHER_DTYPE_FLOAT, 3, (int64_t[]){2, 3, 4}, a);
    pbw at[2] = {ob_attr_int("broadcast", 1), ob_attr_int("axis", 1)};
    op_run r = run_op("Add", 6, 2, (tether_tensor[]){A, vec(TETHER_DTYPE_FLOAT, 3, b3)}, TETHER_DTYPE_FLOAT, 2, at);
    CHECK_EQ_INT(r.y->rank, 3);
    for (int i = 0; i < 24; i++)
        CHECK_NEAR(((float *)r.y->data)[i], a[i] + b3[(i / 4) % 3], 0);
    done(&r);

    /* without axis B lines up with A's trailing dims */
    at[0] = ob_attr_int("broadcast", 1);
    r = run_op("Sub", 6, 2, (tether_tensor[]){A, vec(TETHER_DTYPE_FLOAT, 4, b4)}, TETHER_DTYPE_FLOAT, 1, at);
    for (int i = 0; i < 24; i++)
        CHECK_NEAR(((float *)r.y->data)[i], a[i] - b4[i % 4], 0);
    done(&r);

    /* without broadcast=1 the shapes must agree; at opset 7 numpy's rules reject [3] vs [2,3,4] */
    open_fails("Mul", 6, 2, (tether_tensor[]){A, vec(TETHER_DTYPE_FLOAT, 4, b4)}, TETHER_DTYPE_FLOAT, 0, NULL,
               TETHER_ERR_SHAPE, "broadcast is not set");
    open_fails("Add", 7, 2, (tether_tensor[]){A, vec(TETHER_DTYPE_FLOAT, 3, b3)}, TETHER_DTYPE_FLOAT, 0, NULL,
               TETHER_ERR_SHAPE, "cannot be broadcast");
    at[0] = ob_attr_int("broadcast", 1);
    at[1] = ob_attr_int("axis", 2);
    open_fails("Add", 6, 2, (tether_tensor[]){A, vec(TETHER_DTYPE_FLOAT, 3, b3)}, TETHER_DTYPE_FLOAT, 2, at,
               TETHER_ERR_SHAPE, "cannot be broadcast");
}

TEST(legacy_prelu_slope_is_per_channel)
{
    float x[12], slope[3] = {0.5f, 2.0f, -1.0f};
    for (int i = 0; i < 12; i++)
        x[i] = (float)(i % 4) - 2.0f;
    tether_tensor X = shaped(TETHER_DTYPE_FLOAT, 3, (int64_t[]){1, 3, 4}, x);
    op_run r = run_op("PRelu", 6, 2, (tether_tensor[]){X, vec(TETHER_DTYPE_FLOAT, 3, slope)}, TETHER_DTYPE_FLOAT, 0, NULL);
    for (int i = 0; i < 12; i++)
        CHECK_NEAR(((float *)r.y->data)[i], x[i] < 0 ? x[i] * slope[i / 4] : x[i], 0);
    done(&r);
}

/* ---- Pow with mixed types ------------------------------------------------------------------- */

TEST(pow_with_mixed_base_and_exponent_types)
{
    int32_t ib[] = {2, 3, -2, 4};
    float fe[] = {0.5f, 2.0f, 3.0f, -1.0f};
    op_run r = run_op("Pow", 15, 2, (tether_tensor[]){vec(TETHER_DTYPE_INT32, 4, ib), vec(TETHER_DTYPE_FLOAT, 4, fe)},
                      TETHER_DTYPE_INT32, 0, NULL);
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){1, 9, -8, 0}), 4); /* truncated toward zero */
    done(&r);

    float fb[] = {2.0f, 9.0f, -2.0f};
    uint64_t ue[] = {10, 0, 3};
    r = run_op("Pow", 15, 2, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 3, fb), vec(TETHER_DTYPE_UINT64, 3, ue)},
               TETHER_DTYPE_FLOAT, 0, NULL);
    check_floats(r.y, (double[]){1024, 1, -8}, 3, 0);
    done(&r);

    /* integer powers stay exact in 64 bits and wrap past them */
    int64_t lb[] = {2, -1, 2, 3, 0}, le[] = {-1, -3, 62, 40, 0};
    uint64_t p340 = 1;
    for (int i = 0; i < 40; i++)
        p340 *= 3;
    r = run_op("Pow", 15, 2, (tether_tensor[]){vec(TETHER_DTYPE_INT64, 5, lb), vec(TETHER_DTYPE_INT64, 5, le)},
               TETHER_DTYPE_INT64, 0, NULL);
    CHECK_ELEMS(int64_t, r.y, ((int64_t[]){0, -1, INT64_C(1) << 62, (int64_t)p340, 1}), 5);
    done(&r);

    float big[] = {3.0f};
    int64_t e1[] = {40};
    r = run_op("Pow", 15, 2, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 1, big), vec(TETHER_DTYPE_INT64, 1, e1)},
               TETHER_DTYPE_FLOAT, 0, NULL);
    check_floats(r.y, (double[]){(float)pow(3.0, 40.0)}, 1, 1e-6 * pow(3.0, 40.0));
    done(&r);
}

/* ---- float16 -------------------------------------------------------------------------------- */

/* float16 bit patterns */
enum { H_0 = 0x0000, H_025 = 0x3400, H_05 = 0x3800, H_N05 = 0xb800, H_1 = 0x3c00, H_1P = 0x3c01, H_1PP = 0x3c02,
       H_2 = 0x4000, H_25 = 0x4100, H_275 = 0x4180, H_3 = 0x4200, H_MAX = 0x7bff, H_INF = 0x7c00, H_NAN = 0x7e00 };

static bool half_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }

/* The float16 bits of an integer in [0, 2048), where float16 is exact. */
static uint16_t half_of_int(int v)
{
    if (v == 0)
        return 0;
    int e = 0;
    while ((v >> (e + 1)) != 0)
        e++;
    return (uint16_t)((e + 15) << 10 | ((v << (10 - e)) & 0x3ff));
}

TEST(float16_broadcast_over_many_blocks)
{
    enum { R = 4, C = 300 };
    static uint16_t a[R * C], b[C], want[R * C];
    for (int j = 0; j < C; j++)
        b[j] = half_of_int(j % 7);
    for (int i = 0; i < R * C; i++) {
        a[i] = half_of_int(i % 50);
        want[i] = half_of_int(i % 50 + (i % C) % 7);
    }
    CHECK_EQ_INT(half_of_int(1), H_1);
    CHECK_EQ_INT(half_of_int(3), H_3);
    op_run r = run_op("Add", 14, 2,
                      (tether_tensor[]){shaped(TETHER_DTYPE_FLOAT16, 2, (int64_t[]){R, C}, a), vec(TETHER_DTYPE_FLOAT16, C, b)},
                      TETHER_DTYPE_FLOAT16, 0, NULL);
    CHECK_ELEMS(uint16_t, r.y, want, R * C);
    done(&r);
}

TEST(float16_arithmetic_max_and_activations)
{
    uint16_t a[] = {H_1, H_25, H_MAX, H_N05}, b[] = {H_1, H_025, H_MAX, H_05};
    tether_tensor ins[2] = {vec(TETHER_DTYPE_FLOAT16, 4, a), vec(TETHER_DTYPE_FLOAT16, 4, b)};
    op_run r = run_op("Add", 14, 2, ins, TETHER_DTYPE_FLOAT16, 0, NULL);
    CHECK_ELEMS(uint16_t, r.y, ((uint16_t[]){H_2, H_275, H_INF, H_0}), 4);
    done(&r);

    uint16_t m1[] = {H_NAN, H_1, H_3}, m2[] = {H_1, H_NAN, H_2};
    r = run_op("Max", 13, 2, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT16, 3, m1), vec(TETHER_DTYPE_FLOAT16, 3, m2)},
               TETHER_DTYPE_FLOAT16, 0, NULL);
    const uint16_t *y = r.y->data;
    CHECK(half_is_nan(y[0]) && half_is_nan(y[1]) && y[2] == H_3);
    done(&r);

    /* Mean of three with broadcasting: (1 + 2 + [2, 3]) / 3 */
    uint16_t one[] = {H_1}, two[] = {H_2}, v[] = {H_0, H_3};
    r = run_op("Mean", 13, 3,
               (tether_tensor[]){vec(TETHER_DTYPE_FLOAT16, 1, one), vec(TETHER_DTYPE_FLOAT16, 1, two),
                                 vec(TETHER_DTYPE_FLOAT16, 2, v)},
               TETHER_DTYPE_FLOAT16, 0, NULL);
    CHECK_ELEMS(uint16_t, r.y, ((uint16_t[]){H_1, H_2}), 2);
    done(&r);

    uint16_t s[] = {H_0};
    r = run_op("Sigmoid", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT16, 1, s)}, TETHER_DTYPE_FLOAT16, 0, NULL);
    CHECK_ELEMS(uint16_t, r.y, ((uint16_t[]){H_05}), 1);
    done(&r);

    uint16_t lo[] = {H_05}, hi[] = {H_2}, x[] = {H_0, H_1, H_3, H_NAN};
    r = run_op("Clip", 13, 3,
               (tether_tensor[]){vec(TETHER_DTYPE_FLOAT16, 4, x), shaped(TETHER_DTYPE_FLOAT16, 0, NULL, lo),
                                 shaped(TETHER_DTYPE_FLOAT16, 0, NULL, hi)},
               TETHER_DTYPE_FLOAT16, 0, NULL);
    y = r.y->data;
    CHECK(y[0] == H_05 && y[1] == H_1 && y[2] == H_2 && half_is_nan(y[3]));
    done(&r);

    uint16_t c1[] = {H_1, H_2, H_NAN}, c2[] = {H_2};
    r = run_op("Less", 13, 2, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT16, 3, c1), vec(TETHER_DTYPE_FLOAT16, 1, c2)},
               TETHER_DTYPE_BOOL, 0, NULL);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){1, 0, 0}), 3);
    done(&r);
}

TEST(casts_to_half_precision_round_once)
{
    /* 1 + 2^-11 + 2^-40 is just above the midpoint of 1 and the next float16: rounding it to
     * float first would land on the midpoint and then go to even (1.0) */
    double d[] = {1 + 0x1p-11 + 0x1p-40, 1 + 0x1p-11, 1 + 3 * 0x1p-11, 65520.0, -0.0};
    pbw to = ob_attr_int("to", TETHER_DTYPE_FLOAT16);
    op_run r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_DOUBLE, 5, d)}, TETHER_DTYPE_FLOAT16, 1, &to);
    CHECK_ELEMS(uint16_t, r.y, ((uint16_t[]){H_1P, H_1, H_1PP, H_INF, 0x8000}), 5);
    done(&r);

    /* to bfloat16 the suite's reference keeps the high half of the float32 */
    float f[] = {0.47892547f, 1.0f + 0x1p-8f + 0x1p-9f, -3.0f};
    uint16_t want[3];
    for (int i = 0; i < 3; i++) {
        uint32_t bits;
        memcpy(&bits, &f[i], 4);
        want[i] = (uint16_t)(bits >> 16);
    }
    to = ob_attr_int("to", TETHER_DTYPE_BFLOAT16);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 3, f)}, TETHER_DTYPE_BFLOAT16, 1, &to);
    CHECK_ELEMS(uint16_t, r.y, want, 3);
    done(&r);
}

/* ---- casts ----------------------------------------------------------------------------------- */

TEST(float_to_int_casts_are_defined_for_every_value)
{
    float f[] = {NAN, 1e20f, -1e20f, -1.5f, 2.9f, 300.0f, -1.0f};
    tether_tensor x = vec(TETHER_DTYPE_FLOAT, 7, f);
    pbw to = ob_attr_int("to", TETHER_DTYPE_INT64);
    op_run r = run_op("Cast", 13, 1, &x, TETHER_DTYPE_INT64, 1, &to);
    CHECK_ELEMS(int64_t, r.y, ((int64_t[]){0, INT64_MAX, INT64_MIN, -1, 2, 300, -1}), 7);
    done(&r);
    /* narrower integers wrap the int64 value, as numpy's astype does */
    to = ob_attr_int("to", TETHER_DTYPE_UINT8);
    r = run_op("Cast", 13, 1, &x, TETHER_DTYPE_UINT8, 1, &to);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){0, 255, 0, 255, 2, 44, 255}), 7);
    done(&r);
    double u[] = {1.8e19, 1e30, -1.0};
    to = ob_attr_int("to", TETHER_DTYPE_UINT64);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_DOUBLE, 3, u)}, TETHER_DTYPE_UINT64, 1, &to);
    CHECK_ELEMS(uint64_t, r.y, ((uint64_t[]){UINT64_C(18000000000000000000), UINT64_MAX, UINT64_MAX}), 3);
    done(&r);
}

static void check_strings(const tether_tensor *y, const char *const *want, int n)
{
    CHECK_EQ_INT(y->dtype, TETHER_DTYPE_STRING);
    for (int i = 0; i < n; i++)
        if (strcmp(((char *const *)y->data)[i], want[i]) != 0)
            CHECK_FAIL("element %d: got \"%s\", want \"%s\"", i, ((char *const *)y->data)[i], want[i]);
}

TEST(string_casts_print_like_numpy_and_read_back)
{
    float f[] = {0.1f, 1e-5f, 123456789.0f, -0.0f, NAN, INFINITY, -INFINITY, 1.0f, FLT_MAX, 1e-4f, 0.47892547f};
    const char *fs[] = {"0.1", "1e-05", "123456790.0", "-0.0", "NaN", "INF", "-INF", "1.0", "3.4028235e+38", "1e-04",
                        "0.47892547"};
    pbw to = ob_attr_int("to", TETHER_DTYPE_STRING);
    op_run r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 11, f)}, TETHER_DTYPE_STRING, 1, &to);
    check_strings(r.y, fs, 11);
    done(&r);
    to = ob_attr_int("to", TETHER_DTYPE_FLOAT);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_STRING, 11, fs)}, TETHER_DTYPE_FLOAT, 1, &to);
    for (int i = 0; i < 11; i++) {
        float g = ((float *)r.y->data)[i];
        CHECK(isnan(f[i]) ? isnan(g) : memcmp(&g, &f[i], 4) == 0);
    }
    done(&r);

    double d[] = {0.1, 1.0 / 3, 1e16, 5e-324};
    to = ob_attr_int("to", TETHER_DTYPE_STRING);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_DOUBLE, 4, d)}, TETHER_DTYPE_STRING, 1, &to);
    check_strings(r.y, (const char *[]){"0.1", "0.3333333333333333", "1e+16", "5e-324"}, 4);
    done(&r);

    uint16_t h[] = {H_MAX, H_25};
    to = ob_attr_int("to", TETHER_DTYPE_STRING);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT16, 2, h)}, TETHER_DTYPE_STRING, 1, &to);
    check_strings(r.y, (const char *[]){"65500.0", "2.5"}, 2); /* fewest digits that read back */
    done(&r);

    int64_t l[] = {INT64_MIN, 0, 42};
    to = ob_attr_int("to", TETHER_DTYPE_STRING);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_INT64, 3, l)}, TETHER_DTYPE_STRING, 1, &to);
    check_strings(r.y, (const char *[]){"-9223372036854775808", "0", "42"}, 3);
    done(&r);
    uint8_t bo[] = {1, 0};
    to = ob_attr_int("to", TETHER_DTYPE_STRING);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_BOOL, 2, bo)}, TETHER_DTYPE_STRING, 1, &to);
    check_strings(r.y, (const char *[]){"True", "False"}, 2);
    done(&r);

    const char *ints[] = {" 42 ", "100.5", "-7", "1e3", "true", "-9223372036854775808"};
    to = ob_attr_int("to", TETHER_DTYPE_INT64);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_STRING, 6, ints)}, TETHER_DTYPE_INT64, 1, &to);
    CHECK_ELEMS(int64_t, r.y, ((int64_t[]){42, 100, -7, 1000, 1, INT64_MIN}), 6);
    done(&r);
    to = ob_attr_int("to", TETHER_DTYPE_FLOAT16);
    r = run_op("Cast", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_STRING, 2, (const char *[]){"65500.0", "2.5"})},
               TETHER_DTYPE_FLOAT16, 1, &to);
    CHECK_ELEMS(uint16_t, r.y, h, 2);
    done(&r);
}

TEST(unparsable_string_is_a_run_error_naming_it)
{
    const char *s[] = {"1.5", "twelve"};
    tether_tensor x = vec(TETHER_DTYPE_STRING, 2, s);
    pbw to = ob_attr_int("to", TETHER_DTYPE_FLOAT);
    op_run r = {0};
    pbw m = op_model("Cast", 13, 1, &x, TETHER_DTYPE_FLOAT, 1, &to, false);
    CHECK_OK(open_model(&m, &r.s));
    CHECK_ERR(run_inputs(&r, 1, &x), TETHER_ERR_RUNTIME, "\"twelve\"");
    tether_session_free(r.s);
}

TEST(castlike_and_cast1_string_type_names)
{
    int32_t i[] = {-3, 7};
    double like[] = {0};
    op_run r = run_op("CastLike", 15, 2, (tether_tensor[]){vec(TETHER_DTYPE_INT32, 2, i), vec(TETHER_DTYPE_DOUBLE, 1, like)},
                      TETHER_DTYPE_DOUBLE, 0, NULL);
    check_floats(r.y, (double[]){-3, 7}, 2, 0);
    done(&r);
    pbw to = ob_attr_string("to", "FLOAT");
    r = run_op("Cast", 1, 1, (tether_tensor[]){vec(TETHER_DTYPE_INT32, 2, i)}, TETHER_DTYPE_FLOAT, 1, &to);
    check_floats(r.y, (double[]){-3, 7}, 2, 0);
    done(&r);
}

/* ---- attributes, shapes ------------------------------------------------------------------- */

TEST(bad_attributes_are_named)
{
    float f[] = {1, 2};
    tether_tensor ff[2] = {vec(TETHER_DTYPE_FLOAT, 2, f), vec(TETHER_DTYPE_FLOAT, 2, f)};
    open_fails("Mod", 13, 2, ff, TETHER_DTYPE_FLOAT, 0, NULL, TETHER_ERR_INVALID_MODEL, "fmod must be 1");
    pbw a = ob_attr_int("fmod", 2);
    open_fails("Mod", 13, 2, ff, TETHER_DTYPE_FLOAT, 1, &a, TETHER_ERR_INVALID_MODEL, "fmod must be 0 or 1, got 2");
    a = ob_attr_int("to", 99);
    open_fails("Cast", 13, 1, ff, TETHER_DTYPE_FLOAT, 1, &a, TETHER_ERR_INVALID_MODEL, "attribute 'to' = 99");
    open_fails("Cast", 13, 1, ff, TETHER_DTYPE_FLOAT, 0, NULL, TETHER_ERR_INVALID_MODEL, "attribute 'to' is required");
    uint8_t u[] = {1};
    a = ob_attr_string("direction", "UP");
    open_fails("BitShift", 11, 2, (tether_tensor[]){vec(TETHER_DTYPE_UINT8, 1, u), vec(TETHER_DTYPE_UINT8, 1, u)},
               TETHER_DTYPE_UINT8, 1, &a, TETHER_ERR_INVALID_MODEL, "direction must be \"LEFT\" or \"RIGHT\", got \"UP\"");
    open_fails("Clip", 13, 2, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 2, f), vec(TETHER_DTYPE_FLOAT, 2, f)},
               TETHER_DTYPE_FLOAT, 0, NULL, TETHER_ERR_SHAPE, "min must be a scalar");
}

TEST(symbolic_dims_load_and_run_at_any_size)
{
    float a[10], b[2] = {1, -1};
    for (int i = 0; i < 10; i++)
        a[i] = (float)i;
    tether_tensor ins[2] = {shaped(TETHER_DTYPE_FLOAT, 2, (int64_t[]){5, 2}, a), vec(TETHER_DTYPE_FLOAT, 2, b)};
    op_run r = {0};
    pbw m = op_model("Greater", 13, 2, ins, TETHER_DTYPE_BOOL, 0, NULL, true);
    CHECK_OK(open_model(&m, &r.s));
    for (int64_t n = 1; n <= 5; n += 4) {
        ins[0].dims[0] = n;
        ins[0].size = (size_t)n * 2 * sizeof(float);
        CHECK_OK(run_inputs(&r, 2, ins));
        const tether_tensor *y = tether_outputs_find(r.o, "y");
        CHECK_EQ_INT(y->dtype, TETHER_DTYPE_BOOL);
        CHECK_EQ_INT(y->dims[0], n);
        for (int i = 0; i < n * 2; i++)
            CHECK_EQ_INT(((uint8_t *)y->data)[i], a[i] > b[i % 2]);
        tether_outputs_free(r.o);
    }
    tether_session_free(r.s);
}

/* ---- logic, selection, clipping ------------------------------------------------------------- */

TEST(where_broadcasts_numbers_and_strings)
{
    uint8_t cond[] = {1, 0};
    const char *xs[] = {"a", "bb", "ccc"}, *ys[] = {"z"};
    tether_tensor C = shaped(TETHER_DTYPE_BOOL, 2, (int64_t[]){2, 1}, cond);
    op_run r = run_op("Where", 16, 3,
                      (tether_tensor[]){C, vec(TETHER_DTYPE_STRING, 3, xs), shaped(TETHER_DTYPE_STRING, 0, NULL, ys)},
                      TETHER_DTYPE_STRING, 0, NULL);
    CHECK_EQ_INT(r.y->rank, 2);
    check_strings(r.y, (const char *[]){"a", "bb", "ccc", "z", "z", "z"}, 6);
    done(&r);
    int64_t x[] = {1, 2, 3}, y[] = {-1, -2, -3};
    r = run_op("Where", 16, 3, (tether_tensor[]){C, vec(TETHER_DTYPE_INT64, 3, x), vec(TETHER_DTYPE_INT64, 3, y)},
               TETHER_DTYPE_INT64, 0, NULL);
    CHECK_ELEMS(int64_t, r.y, ((int64_t[]){1, 2, 3, -1, -2, -3}), 6);
    done(&r);
}

TEST(equal_on_strings_and_logic_on_bools)
{
    const char *a[] = {"x", "yy", ""}, *b[] = {"x", "y", ""};
    op_run r = run_op("Equal", 19, 2, (tether_tensor[]){vec(TETHER_DTYPE_STRING, 3, a), vec(TETHER_DTYPE_STRING, 3, b)},
                      TETHER_DTYPE_BOOL, 0, NULL);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){1, 0, 1}), 3);
    done(&r);
    uint8_t p[] = {0, 0, 1, 1}, q[] = {0, 1, 0, 1};
    tether_tensor pq[2] = {vec(TETHER_DTYPE_BOOL, 4, p), vec(TETHER_DTYPE_BOOL, 4, q)};
    const char *ops[] = {"And", "Or", "Xor"};
    const uint8_t want[3][4] = {{0, 0, 0, 1}, {0, 1, 1, 1}, {0, 1, 1, 0}};
    for (int k = 0; k < 3; k++) {
        r = run_op(ops[k], 7, 2, pq, TETHER_DTYPE_BOOL, 0, NULL);
        CHECK_ELEMS(uint8_t, r.y, want[k], 4);
        done(&r);
    }
    r = run_op("Not", 1, 1, pq, TETHER_DTYPE_BOOL, 0, NULL);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){1, 1, 0, 0}), 4);
    done(&r);
}

TEST(isinf_respects_its_flags)
{
    float f[] = {INFINITY, -INFINITY, NAN, 1.0f};
    pbw a = ob_attr_int("detect_negative", 0);
    op_run r = run_op("IsInf", 10, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 4, f)}, TETHER_DTYPE_BOOL, 1, &a);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){1, 0, 0, 0}), 4);
    done(&r);
    r = run_op("IsNaN", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 4, f)}, TETHER_DTYPE_BOOL, 0, NULL);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){0, 0, 1, 0}), 4);
    done(&r);
}

TEST(clip_attributes_optional_bounds_and_crossed_bounds)
{
    float f[] = {-2, -0.5f, 0.5f, 2};
    pbw at[2] = {ob_attr_float("min", -1), ob_attr_float("max", 1)};
    op_run r = run_op("Clip", 6, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 4, f)}, TETHER_DTYPE_FLOAT, 2, at);
    check_floats(r.y, (double[]){-1, -0.5, 0.5, 1}, 4, 0);
    done(&r);

    int8_t x[] = {-128, 0, 50, 127}, hi[] = {10}, lo[] = {20};
    r = run_op("Clip", 13, 3,
               (tether_tensor[]){vec(TETHER_DTYPE_INT8, 4, x), OMITTED, shaped(TETHER_DTYPE_INT8, 0, NULL, hi)},
               TETHER_DTYPE_INT8, 0, NULL);
    CHECK_ELEMS(int8_t, r.y, ((int8_t[]){-128, 0, 10, 10}), 4);
    done(&r);
    /* min > max: everything becomes max */
    r = run_op("Clip", 13, 3,
               (tether_tensor[]){vec(TETHER_DTYPE_INT8, 4, x), shaped(TETHER_DTYPE_INT8, 0, NULL, lo),
                                 shaped(TETHER_DTYPE_INT8, 0, NULL, hi)},
               TETHER_DTYPE_INT8, 0, NULL);
    CHECK_ELEMS(int8_t, r.y, ((int8_t[]){10, 10, 10, 10}), 4);
    done(&r);
}

TEST(integer_unary_ops_and_shrink)
{
    int32_t s[] = {-5, 0, 7, INT32_MIN};
    op_run r = run_op("Sign", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_INT32, 4, s)}, TETHER_DTYPE_INT32, 0, NULL);
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){-1, 0, 1, -1}), 4);
    done(&r);
    uint8_t u[] = {0, 9};
    r = run_op("Sign", 13, 1, (tether_tensor[]){vec(TETHER_DTYPE_UINT8, 2, u)}, TETHER_DTYPE_UINT8, 0, NULL);
    CHECK_ELEMS(uint8_t, r.y, ((uint8_t[]){0, 1}), 2);
    done(&r);
    r = run_op("Relu", 14, 1, (tether_tensor[]){vec(TETHER_DTYPE_INT32, 4, s)}, TETHER_DTYPE_INT32, 0, NULL);
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){0, 0, 7, 0}), 4);
    done(&r);

    /* on integers Shrink computes in double and truncates: -3 + 0.5 = -2.5 -> -2 */
    int32_t x[] = {-3, -1, 0, 2, INT32_MAX};
    pbw at[2] = {ob_attr_float("lambd", 1.5f), ob_attr_float("bias", 0.5f)};
    r = run_op("Shrink", 9, 1, (tether_tensor[]){vec(TETHER_DTYPE_INT32, 5, x)}, TETHER_DTYPE_INT32, 2, at);
    CHECK_ELEMS(int32_t, r.y, ((int32_t[]){-2, 0, 0, 1, INT32_MAX - 1}), 5);
    done(&r);
}

TEST(activations_use_their_attributes)
{
    float x[] = {-2, -0.5f, 0, 1.5f};
    pbw a = ob_attr_float("alpha", 2.0f);
    op_run r = run_op("Celu", 12, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 4, x)}, TETHER_DTYPE_FLOAT, 1, &a);
    double want[4];
    for (int i = 0; i < 4; i++)
        want[i] = x[i] > 0 ? x[i] : 2.0 * (exp(x[i] / 2.0) - 1);
    check_floats(r.y, want, 4, 1e-6);
    done(&r);
    pbw hs[2] = {ob_attr_float("alpha", 0.5f), ob_attr_float("beta", 0.25f)};
    r = run_op("HardSigmoid", 6, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 4, x)}, TETHER_DTYPE_FLOAT, 2, hs);
    for (int i = 0; i < 4; i++)
        want[i] = fmax(0, fmin(1, 0.5 * x[i] + 0.25));
    check_floats(r.y, want, 4, 1e-7);
    done(&r);
    r = run_op("LeakyRelu", 16, 1, (tether_tensor[]){vec(TETHER_DTYPE_FLOAT, 4, x)}, TETHER_DTYPE_FLOAT, 0, NULL);
    check_floats(r.y, (double[]){-0.02, -0.005, 0, 1.5}, 4, 1e-7); /* default alpha 0.01 */
    done(&r);
    double big[] = {800, -800};
    r = run_op("Softplus", 1, 1, (tether_tensor[]){vec(TETHER_DTYPE_DOUBLE, 2, big)}, TETHER_DTYPE_DOUBLE, 0, NULL);
    check_floats(r.y, (double[]){800, 0}, 2, 1e-12); /* no overflow to inf */
    done(&r);
}

TEST(variadic_ops_broadcast_many_inputs)
{
    double a[] = {1, 2, 3}, b[] = {10}, c[] = {100, 200, 300, 400, 500, 600};
    tether_tensor ins[3] = {vec(TETHER_DTYPE_DOUBLE, 3, a), vec(TETHER_DTYPE_DOUBLE, 1, b),
                            shaped(TETHER_DTYPE_DOUBLE, 2, (int64_t[]){2, 3}, c)};
    op_run r = run_op("Sum", 13, 3, ins, TETHER_DTYPE_DOUBLE, 0, NULL);
    check_floats(r.y, (double[]){111, 212, 313, 411, 512, 613}, 6, 0);
    done(&r);
    r = run_op("Min", 13, 3, ins, TETHER_DTYPE_DOUBLE, 0, NULL);
    check_floats(r.y, (double[]){1, 2, 3, 1, 2, 3}, 6, 0);
    done(&r);
    r = run_op("Max", 13, 1, ins, TETHER_DTYPE_DOUBLE, 0, NULL);
    check_floats(r.y, a, 3, 0);
    done(&r);
    uint32_t u1[] = {5, UINT32_MAX}, u2[] = {7, 0};
    r = run_op("Max", 13, 2, (tether_tensor[]){vec(TETHER_DTYPE_UINT32, 2, u1), vec(TETHER_DTYPE_UINT32, 2, u2)},
               TETHER_DTYPE_UINT32, 0, NULL);
    CHECK_ELEMS(uint32_t, r.y, ((uint32_t[]){7, UINT32_MAX}), 2);
    done(&r);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
