/* The small types (float8 x4, float8e8m0, int4/uint4, int2/uint2, float4e2m1): conversions
 * at their edges, packing, models storing them packed, the C API taking them one byte per
 * element, and the ops over them (Cast's saturate, blocked quantisation, BitCast). */
#include "check.h"
#include "onnx_build.h"

#include "core/dtype.h"

#include <math.h>

static const int64_t ONE[1] = {1};

static tether_session *open_bytes(pbw *m)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    ob_free(m);
    return s;
}

static int open_status(pbw *m)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s = NULL;
    int st = tether_session_open_bytes(&s, m->buf, m->len, &cfg);
    ob_free(m);
    if (st == TETHER_OK)
        tether_session_free(s);
    return st;
}

TEST(float8_conversions_at_the_edges)
{
    struct {
        double v;
        tether_dtype t;
        bool sat;
        uint8_t code;
    } cases[] = {
        {448, TETHER_DTYPE_FLOAT8E4M3FN, true, 0x7e},     {464, TETHER_DTYPE_FLOAT8E4M3FN, true, 0x7e},
        {480, TETHER_DTYPE_FLOAT8E4M3FN, false, 0x7f},    {1e6, TETHER_DTYPE_FLOAT8E4M3FN, true, 0x7e},
        {-INFINITY, TETHER_DTYPE_FLOAT8E4M3FN, true, 0xfe}, {-INFINITY, TETHER_DTYPE_FLOAT8E4M3FN, false, 0xff},
        {-0.0, TETHER_DTYPE_FLOAT8E4M3FN, true, 0x80},    {-0.0, TETHER_DTYPE_FLOAT8E4M3FNUZ, true, 0x00},
        {-1e-9, TETHER_DTYPE_FLOAT8E4M3FNUZ, true, 0x00}, {NAN, TETHER_DTYPE_FLOAT8E4M3FNUZ, true, 0x80},
        {240, TETHER_DTYPE_FLOAT8E4M3FNUZ, true, 0x7f},   {INFINITY, TETHER_DTYPE_FLOAT8E5M2, false, 0x7c},
        {INFINITY, TETHER_DTYPE_FLOAT8E5M2, true, 0x7b},  {1e6, TETHER_DTYPE_FLOAT8E5M2FNUZ, false, 0x80},
        {1.0 / 512, TETHER_DTYPE_FLOAT8E4M3FN, true, 0x01}, /* the smallest subnormal */
        {1.0 / 1024, TETHER_DTYPE_FLOAT8E4M3FN, true, 0x00}, /* a tie rounds to the even 0 */
        {0.25, TETHER_DTYPE_FLOAT4E2M1, true, 0x0},       {0.75, TETHER_DTYPE_FLOAT4E2M1, true, 0x2},
        {5, TETHER_DTYPE_FLOAT4E2M1, true, 0x6},          {-100, TETHER_DTYPE_FLOAT4E2M1, false, 0xf},
        {-9, TETHER_DTYPE_INT4, true, 0x0},               {-8, TETHER_DTYPE_INT4, true, 0x8},
        {7.9, TETHER_DTYPE_INT4, true, 0x7},              {16, TETHER_DTYPE_UINT4, true, 0x0},
        {-2, TETHER_DTYPE_INT2, true, 0x2},               {3, TETHER_DTYPE_UINT2, true, 0x3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t got = tt_small_from_f64(cases[i].v, cases[i].t, cases[i].sat, TT_ROUND_NEAREST_EVEN);
        if (got != cases[i].code)
            CHECK_FAIL("%g to %s (saturate %d): got 0x%02x, want 0x%02x", cases[i].v, tt_dtype_name(cases[i].t),
                       cases[i].sat, got, cases[i].code);
    }
    CHECK_NEAR(tt_small_to_f64(0x7e, TETHER_DTYPE_FLOAT8E4M3FN), 448, 0);
    CHECK_NEAR(tt_small_to_f64(0x7b, TETHER_DTYPE_FLOAT8E5M2), 57344, 0);
    CHECK_NEAR(tt_small_to_f64(0x01, TETHER_DTYPE_FLOAT8E4M3FNUZ), 1.0 / 1024, 0);
    CHECK_NEAR(tt_small_to_f64(0x7f, TETHER_DTYPE_FLOAT8E8M0), 1, 0);
    CHECK(isnan(tt_small_to_f64(0xff, TETHER_DTYPE_FLOAT8E8M0)));
    CHECK_NEAR(tt_small_to_f64(0xf, TETHER_DTYPE_INT4), -1, 0);
    CHECK_NEAR(tt_small_to_f64(0xff, TETHER_DTYPE_INT4), -1, 0); /* the high bits are ignored */
    /* e8m0 rounds up by default, nearest and down on request; saturates below NaN */
    CHECK_EQ_INT(tt_small_from_f64(3.0, TETHER_DTYPE_FLOAT8E8M0, true, TT_ROUND_UP), 129);
    CHECK_EQ_INT(tt_small_from_f64(3.0, TETHER_DTYPE_FLOAT8E8M0, true, TT_ROUND_DOWN), 128);
    CHECK_EQ_INT(tt_small_from_f64(1e38 * 3, TETHER_DTYPE_FLOAT8E8M0, true, TT_ROUND_UP), 254);
    CHECK_EQ_INT(tt_small_from_f64(1e38 * 3, TETHER_DTYPE_FLOAT8E8M0, false, TT_ROUND_UP), 255);
    /* every finite code of every float type converts back to itself */
    tether_dtype fl[] = {TETHER_DTYPE_FLOAT8E4M3FN, TETHER_DTYPE_FLOAT8E4M3FNUZ, TETHER_DTYPE_FLOAT8E5M2,
                         TETHER_DTYPE_FLOAT8E5M2FNUZ, TETHER_DTYPE_FLOAT4E2M1};
    for (size_t t = 0; t < sizeof fl / sizeof fl[0]; t++)
        for (int code = 0; code < (fl[t] == TETHER_DTYPE_FLOAT4E2M1 ? 16 : 256); code++) {
            double v = tt_small_to_f64((uint8_t)code, fl[t]);
            if (isnan(v) || isinf(v))
                continue;
            uint8_t back = tt_small_from_f64(v, fl[t], false, TT_ROUND_NEAREST_EVEN);
            if (back != code)
                CHECK_FAIL("%s code 0x%02x (%g) converts back to 0x%02x", tt_dtype_name(fl[t]), code, v, back);
        }
}

TEST(packing_puts_the_first_element_in_the_low_bits)
{
    uint8_t v[5] = {0x8, 0x7, 0xf, 0x1, 0x3}, packed[3], back[5];
    tt_pack_bits(v, TETHER_DTYPE_INT4, packed, 5);
    CHECK_EQ_INT(packed[0], 0x78);
    CHECK_EQ_INT(packed[1], 0x1f);
    CHECK_EQ_INT(packed[2], 0x03); /* the odd one out, zero above */
    tt_unpack_bits(packed, TETHER_DTYPE_INT4, back, 5);
    CHECK(memcmp(v, back, 5) == 0);
    uint8_t two[5] = {1, 2, 3, 0, 2}, p2[2];
    tt_pack_bits(two, TETHER_DTYPE_UINT2, p2, 5);
    CHECK_EQ_INT(p2[0], 1 | 2 << 2 | 3 << 4);
    CHECK_EQ_INT(p2[1], 2);
    CHECK_EQ_INT((int)tt_dtype_packed_bytes(TETHER_DTYPE_INT2, 9), 3);
    CHECK_EQ_INT(tt_dtype_bits(TETHER_DTYPE_FLOAT8E5M2), 8);
}

/* A model with initializer w (given as a TensorProto) cast to int8 as output y. */
static pbw cast_model(pbw *w, int to)
{
    pbw attr = ob_attr_int("to", to);
    pbw n = ob_node("Cast", 1, (const char *[]){"w"}, 1, (const char *[]){"y"}, 1, &attr);
    pbw y = ob_output("y", to, -1, NULL);
    pbw g = ob_graph("g", 1, &n, 1, w, 0, NULL, 1, &y);
    return ob_model(21, &g);
}

TEST(models_store_4_and_2_bit_tensors_packed)
{
    /* int4 [-8, 7, -1] in raw_data: two bytes */
    uint8_t raw[2] = {0x78, 0x0f};
    pbw w = ob_tensor("w", TETHER_DTYPE_INT4, 1, (int64_t[]){3}, raw, 2);
    pbw m = cast_model(&w, TETHER_DTYPE_INT8);
    tether_session *s = open_bytes(&m);
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, NULL, 0, &o));
    const tether_tensor *y = tether_outputs_find(o, "y");
    CHECK(y && y->dtype == TETHER_DTYPE_INT8 && y->dims[0] == 3);
    CHECK_EQ_INT(((int8_t *)y->data)[0], -8);
    CHECK_EQ_INT(((int8_t *)y->data)[1], 7);
    CHECK_EQ_INT(((int8_t *)y->data)[2], -1);
    tether_outputs_free(o);
    tether_session_free(s);

    /* uint2 [1, 2, 3, 0, 2] in int32_data: each entry is one packed byte */
    pbw t = {0};
    pbw_int(&t, 1, 5);
    pbw_int(&t, 2, TETHER_DTYPE_UINT2);
    pbw_str(&t, 8, "w");
    pbw_int(&t, 5, 1 | 2 << 2 | 3 << 4);
    pbw_int(&t, 5, 2);
    m = cast_model(&t, TETHER_DTYPE_FLOAT);
    s = open_bytes(&m);
    CHECK_OK(tether_session_run(s, NULL, 0, &o));
    y = tether_outputs_find(o, "y");
    float want[5] = {1, 2, 3, 0, 2};
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(((float *)y->data)[i], want[i], 0);
    tether_outputs_free(o);
    tether_session_free(s);

    /* raw_data must hold exactly the packed bytes */
    uint8_t three[3] = {0};
    w = ob_tensor("w", TETHER_DTYPE_UINT4, 1, (int64_t[]){3}, three, 3);
    m = cast_model(&w, TETHER_DTYPE_INT8);
    CHECK_EQ_INT(open_status(&m), TETHER_ERR_INVALID_MODEL);
    CHECK_STR_CONTAINS(tether_last_error(), "needs 2");
}

/* One node over input x of dtype xt and n elements, output y of dtype yt. */
static tether_session *one_op(const char *op, int opset, int xt, int64_t n, int yt, int nattr, pbw *attrs)
{
    pbw x = ob_input("x", xt, 1, (int64_t[]){n});
    pbw y = ob_output("y", yt, -1, NULL);
    pbw node = ob_node(op, 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, nattr, attrs);
    pbw g = ob_graph("g", 1, &node, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(opset, &g);
    return open_bytes(&m);
}

TEST(the_c_api_takes_small_types_one_byte_per_element)
{
    /* uint4 in, float out; the high bits of each byte are ignored, as ml_dtypes does */
    pbw to = ob_attr_int("to", TETHER_DTYPE_FLOAT);
    tether_session *s = one_op("Cast", 21, TETHER_DTYPE_UINT4, 3, TETHER_DTYPE_FLOAT, 1, &to);
    uint8_t x[3] = {0x0f, 0x03, 0xf1};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_UINT4, .rank = 1, .dims = {3}, .data = x, .size = 3};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    const tether_tensor *y = tether_outputs_find(o, "y");
    CHECK_NEAR(((float *)y->data)[0], 15, 0);
    CHECK_NEAR(((float *)y->data)[1], 3, 0);
    CHECK_NEAR(((float *)y->data)[2], 1, 0);
    tether_outputs_free(o);
    tether_session_free(s);
    CHECK_EQ_INT((int)tether_dtype_size(TETHER_DTYPE_INT4), 1);
    CHECK(strcmp(tether_dtype_name(TETHER_DTYPE_FLOAT8E4M3FN), "float8e4m3fn") == 0);
}

TEST(cast_saturate_and_round_mode)
{
    float x[3] = {1000, -1000, 0.3f};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {3}, .data = x, .size = 12};
    tether_outputs *o;
    for (int sat = 0; sat < 2; sat++) {
        pbw attrs[2] = {ob_attr_int("to", TETHER_DTYPE_FLOAT8E4M3FN), ob_attr_int("saturate", sat)};
        tether_session *s = one_op("Cast", 19, TETHER_DTYPE_FLOAT, 3, TETHER_DTYPE_FLOAT8E4M3FN, 2, attrs);
        CHECK_OK(tether_session_run(s, &in, 1, &o));
        const uint8_t *y = tether_outputs_find(o, "y")->data;
        CHECK_EQ_INT(y[0], sat ? 0x7e : 0x7f);
        CHECK_EQ_INT(y[1], sat ? 0xfe : 0xff);
        CHECK_EQ_INT(y[2], tt_small_from_f64(0.3f, TETHER_DTYPE_FLOAT8E4M3FN, true, TT_ROUND_NEAREST_EVEN));
        tether_outputs_free(o);
        tether_session_free(s);
    }
    /* float8e8m0: 0.3 lies between 2^-2 and 2^-1 */
    const char *modes[3] = {"up", "down", "nearest"};
    int want[3] = {126, 125, 125};
    for (int i = 0; i < 3; i++) {
        pbw attrs[2] = {ob_attr_int("to", TETHER_DTYPE_FLOAT8E8M0), ob_attr_string("round_mode", modes[i])};
        tether_session *s = one_op("Cast", 25, TETHER_DTYPE_FLOAT, 3, TETHER_DTYPE_FLOAT8E8M0, 2, attrs);
        CHECK_OK(tether_session_run(s, &in, 1, &o));
        CHECK_EQ_INT(((const uint8_t *)tether_outputs_find(o, "y")->data)[2], want[i]);
        tether_outputs_free(o);
        tether_session_free(s);
    }
    /* a type tether does not hold is refused at load, naming the attribute */
    pbw bad = ob_attr_int("to", 27); /* float6e2m3 */
    pbw x6 = ob_input("x", TETHER_DTYPE_FLOAT, 1, ONE);
    pbw y6 = ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL);
    pbw n6 = ob_node("Cast", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 1, &bad);
    pbw g6 = ob_graph("g", 1, &n6, 0, NULL, 1, &x6, 1, &y6);
    pbw m6 = ob_model(25, &g6);
    CHECK_EQ_INT(open_status(&m6), TETHER_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(tether_last_error(), "'to' = 27");
}

TEST(blocked_int4_quantisation_round_trips)
{
    /* x (2, 4) quantised along axis 1 in blocks of 2: scales (2, 2) */
    float x[8] = {0.5f, -1.0f, 3.0f, 20.0f, -0.25f, 0.75f, -7.0f, 7.0f};
    float sc[4] = {0.5f, 2.0f, 0.25f, 1.0f};
    int8_t zp_vals[4] = {0, 0, 1, 0};
    uint8_t zp_packed[2];
    tt_pack_bits((const uint8_t *)zp_vals, TETHER_DTYPE_INT4, zp_packed, 4);
    pbw inits[2] = {ob_tensor("s", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 2}, sc, sizeof sc),
                    ob_tensor("z", TETHER_DTYPE_INT4, 2, (int64_t[]){2, 2}, zp_packed, 2)};
    pbw qa[2] = {ob_attr_int("axis", 1), ob_attr_int("block_size", 2)};
    pbw da[2] = {ob_attr_int("axis", 1), ob_attr_int("block_size", 2)};
    pbw nodes[2] = {ob_node("QuantizeLinear", 3, (const char *[]){"x", "s", "z"}, 1, (const char *[]){"q"}, 2, qa),
                    ob_node("DequantizeLinear", 3, (const char *[]){"q", "s", "z"}, 1, (const char *[]){"y"}, 2, da)};
    pbw in = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){2, 4});
    pbw outs[2] = {ob_output("q", TETHER_DTYPE_INT4, -1, NULL), ob_output("y", TETHER_DTYPE_FLOAT, -1, NULL)};
    pbw g = ob_graph("g", 2, nodes, 2, inits, 1, &in, 2, outs);
    pbw m = ob_model(21, &g);
    tether_session *s = open_bytes(&m);
    tether_tensor t = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {2, 4}, .data = x, .size = 32};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &t, 1, &o));
    const tether_tensor *q = tether_outputs_find(o, "q"), *y = tether_outputs_find(o, "y");
    CHECK(q && q->dtype == TETHER_DTYPE_INT4 && y);
    /* row 0: 0.5/0.5=1, -1/0.5=-2, 3/2=1.5->2, 20/2=10->7 (saturated); row 1 zero point 1 in
     * block 0: -0.25/0.25=-1+1=0, 0.75/0.25=3+1=4, then -7, 7 */
    int want_q[8] = {1, -2, 2, 7, 0, 4, -7, 7};
    float want_y[8] = {0.5f, -1.0f, 4.0f, 14.0f, -0.25f, 0.75f, -7.0f, 7.0f};
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT((int)tt_small_to_f64(((const uint8_t *)q->data)[i], TETHER_DTYPE_INT4), want_q[i]);
        CHECK_NEAR(((const float *)y->data)[i], want_y[i], 0);
    }
    tether_outputs_free(o);
    tether_session_free(s);
}

TEST(bitcast_keeps_the_bits)
{
    pbw to = ob_attr_int("to", TETHER_DTYPE_INT32);
    tether_session *s = one_op("BitCast", 26, TETHER_DTYPE_FLOAT, 2, TETHER_DTYPE_INT32, 1, &to);
    float x[2] = {1.0f, -2.0f};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {2}, .data = x, .size = 8};
    tether_outputs *o;
    CHECK_OK(tether_session_run(s, &in, 1, &o));
    const int32_t *y = tether_outputs_find(o, "y")->data;
    CHECK_EQ_INT(y[0], 0x3f800000);
    CHECK_EQ_INT((uint32_t)y[1], 0xc0000000u);
    tether_outputs_free(o);
    tether_session_free(s);
    /* widths must agree: refused at load */
    pbw to16 = ob_attr_int("to", TETHER_DTYPE_INT16);
    pbw xi = ob_input("x", TETHER_DTYPE_FLOAT, 1, ONE);
    pbw yo = ob_output("y", TETHER_DTYPE_INT16, -1, NULL);
    pbw n = ob_node("BitCast", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 1, &to16);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &xi, 1, &yo);
    pbw m = ob_model(26, &g);
    CHECK_EQ_INT(open_status(&m), TETHER_ERR_SHAPE);
    CHECK_STR_CONTAINS(tether_last_error(), "32 bits");
}

int main(int argc, char **argv) { return check_main(argc, argv); }
