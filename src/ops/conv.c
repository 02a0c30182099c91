/* Convolutions: Conv and ConvTranspose (1 to 3 spatial dims, groups, dilations, pads or
 * auto_pad, bias) and the quantized ConvInteger and QLinearConv. Float convs are im2col +
 * GEMM split over the thread pool; 1x1 stride-1 convs multiply the input in place and
 * depthwise convs run a direct loop. Integer convs accumulate exactly in 32 bits. */
#include "ops/nnutil.h"

#include <inttypes.h>

/* ---- geometry -------------------------------------------------------------------------- */

/* Where a conv's inputs sit among the node's inputs. */
typedef struct conv_io {
    int x, w, b; /* b: -1 when the op has no bias input */
    bool transpose;
} conv_io;

static const conv_io IO_CONV = {0, 1, 2, false};
static const conv_io IO_CONVT = {0, 1, 2, true};
static const conv_io IO_CONVINT = {0, 1, -1, false};
static const conv_io IO_QLINEAR = {0, 3, 8, false};

/* One call's shapes: the window padded to 3 spatial dims, channels per group, and the
 * element counts of one input plane, one output plane and one kernel. */
typedef struct conv_geom {
    tt_win w;
    int64_t N, C, M, G, Cg, Mg;
    int64_t in_size, out_size, kp;
} conv_geom;

/* Checks the shapes of X, W and B against each other and the attributes, and computes the
 * output shape; every check is skipped where a dim is still unknown (load time). */
static tt_status conv_shape(const tt_node *node, const tt_win_attrs *a, const conv_io *io, const tt_type *x,
                            const tt_type *w, const tt_type *b, int *rank, int64_t *dims, tt_win *win)
{
    int r = x->rank >= 0 ? x->rank : w->rank;
    *rank = r;
    if (r < 0)
        return TT_OK;
    if (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank)
        return tt_op_error(node, TETHER_ERR_SHAPE, "X has rank %d but W has rank %d", x->rank, w->rank);
    if (r < 3)
        return tt_op_error(node, TETHER_ERR_SHAPE, "X and W need rank >= 3 (N, C, spatial...), got %d", r);
    int nsp = r - 2;
    bool xk = x->rank >= 0, wk = w->rank >= 0;
    int64_t G = a->group, C = xk ? x->dims[1] : TT_DIM_UNKNOWN;
    int64_t w0 = wk ? w->dims[0] : TT_DIM_UNKNOWN, w1 = wk ? w->dims[1] : TT_DIM_UNKNOWN;
    int64_t kernel[TT_WIN_DIMS], in[TT_WIN_DIMS];
    for (int i = 0; i < nsp; i++) {
        int64_t kw = wk ? w->dims[2 + i] : TT_DIM_UNKNOWN;
        if (a->n_kernel == nsp && kw >= 0 && a->kernel[i] != kw)
            return tt_op_error(node, TETHER_ERR_SHAPE,
                               "kernel_shape[%d] is %" PRId64 " but W's spatial dim %d is %" PRId64, i, a->kernel[i], i,
                               kw);
        kernel[i] = kw >= 0 || a->n_kernel != nsp ? kw : a->kernel[i];
        in[i] = xk ? x->dims[2 + i] : TT_DIM_UNKNOWN;
    }
    int64_t M;
    if (!io->transpose) {
        /* W: [M, C / group, k...] */
        if (C >= 0 && w1 >= 0 && C != w1 * G)
            return tt_op_error(node, TETHER_ERR_SHAPE,
                               "X has %" PRId64 " channels but W expects %" PRId64 " per group x %" PRId64 " groups", C,
                               w1, G);
        if (w0 >= 0 && w0 % G)
            return tt_op_error(node, TETHER_ERR_SHAPE,
                               "W has %" PRId64 " output channels, not divisible by group %" PRId64, w0, G);
        M = w0;
        TT_TRY(tt_win_forward(node, a, nsp, kernel, in, win));
    } else {
        /* W: [C, M / group, k...] */
        if (C >= 0 && w0 >= 0 && C != w0)
            return tt_op_error(node, TETHER_ERR_SHAPE,
                               "X has %" PRId64 " channels but W has %" PRId64 " input channels", C, w0);
        if (C >= 0 && C % G)
            return tt_op_error(node, TETHER_ERR_SHAPE, "X has %" PRId64 " channels, not divisible by group %" PRId64, C,
                               G);
        M = w1 >= 0 ? w1 * G : TT_DIM_UNKNOWN;
        TT_TRY(tt_win_transpose(node, a, nsp, kernel, in, win));
    }
    if (b && b->rank >= 0) {
        if (b->rank != 1 || (M >= 0 && b->dims[0] >= 0 && b->dims[0] != M))
            return tt_op_error(node, TETHER_ERR_SHAPE, "the bias must be a vector of %" PRId64 " elements", M);
    }
    dims[0] = xk ? x->dims[0] : TT_DIM_UNKNOWN;
    dims[1] = M;
    for (int i = 0; i < nsp; i++)
        dims[2 + i] = win->out[TT_WIN_DIMS - nsp + i];
    return TT_OK;
}

static tt_status conv_infer_as(tt_ictx *c, const conv_io *io, tt_dtype out_dtype)
{
    const tt_type *x = tt_iin(c, io->x), *w = tt_iin(c, io->w), *b = io->b >= 0 ? tt_iin(c, io->b) : NULL;
    if (!x || !w)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "inputs X and W are required");
    int rank;
    int64_t dims[TT_MAX_RANK];
    tt_win win;
    TT_TRY(conv_shape(c->node, c->node->state, io, x, w, b, &rank, dims, &win));
    tt_infer_tensor(c, 0, out_dtype, rank, dims);
    return TT_OK;
}

/* Geometry of a run, from concrete tensors (infer has already checked them). */
static tt_status conv_geometry(const tt_node *node, const conv_io *io, const tt_tensor *x, const tt_tensor *w,
                               conv_geom *g)
{
    tt_type tx, tw;
    tt_type_tensor(&tx, x->dtype, x->rank, x->dims);
    tt_type_tensor(&tw, w->dtype, w->rank, w->dims);
    int rank;
    int64_t dims[TT_MAX_RANK];
    const tt_win_attrs *a = node->state;
    TT_TRY(conv_shape(node, a, io, &tx, &tw, NULL, &rank, dims, &g->w));
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->M = dims[1];
    g->G = a->group;
    g->Cg = g->C / g->G;
    g->Mg = g->M / g->G;
    g->in_size = g->out_size = g->kp = 1;
    for (int i = 0; i < TT_WIN_DIMS; i++) {
        g->in_size *= g->w.in[i];
        g->out_size *= g->w.out[i];
        g->kp *= g->w.kernel[i];
    }
    return TT_OK;
}

/* ---- im2col / col2im --------------------------------------------------------------------- */

/* Lays out one image as a [C * kp, out_size] matrix: row (c, kernel offset) holds, for every
 * output position, the input value that kernel tap reads (0 in the padding). Fills the
 * columns of output rows [q0, q1) (an output row: one (o0, o1) pair, out[2] columns). `zp` is
 * subtracted from every real value (the integer convs' zero point; 0 otherwise). */
typedef struct im2col_job {
    const conv_geom *g;
    const void *x;
    void *col;
    int32_t zp;
    int64_t q0, q1;
} im2col_job;

#define DEF_IM2COL(NAME, TI, TO)                                                                                       \
    static void NAME(void *arg, int64_t r0, int64_t r1)                                                                \
    {                                                                                                                  \
        const im2col_job *j = arg;                                                                                     \
        const tt_win *w = &j->g->w;                                                                                    \
        const int64_t kp = j->g->kp, osz = j->g->out_size, *in = w->in, *out = w->out, *k = w->kernel;                 \
        const TO zp = (TO)j->zp;                                                                                       \
        for (int64_t r = r0; r < r1; r++) {                                                                            \
            int64_t ch = r / kp, kr = r % kp;                                                                          \
            int64_t kx[3] = {kr / (k[1] * k[2]), kr / k[2] % k[1], kr % k[2]};                                         \
            const TI *xc = (const TI *)j->x + ch * j->g->in_size;                                                      \
            TO *dst = (TO *)j->col + r * osz + j->q0 * out[2];                                                         \
            int64_t off2 = kx[2] * w->dilation[2] - w->pad_begin[2], lo, hi;                                           \
            tt_win_run(out[2], in[2], w->stride[2], off2, &lo, &hi);                                                   \
            for (int64_t q = j->q0; q < j->q1; q++, dst += out[2]) {                                                   \
                int64_t i0 = q / out[1] * w->stride[0] + kx[0] * w->dilation[0] - w->pad_begin[0];                     \
                int64_t i1 = q % out[1] * w->stride[1] + kx[1] * w->dilation[1] - w->pad_begin[1];                     \
                if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1]) {                                                  \
                    memset(dst, 0, (size_t)out[2] * sizeof(TO));                                                       \
                    continue;                                                                                          \
                }                                                                                                      \
                const TI *row = xc + (i0 * in[1] + i1) * in[2];                                                        \
                memset(dst, 0, (size_t)lo * sizeof(TO));                                                               \
                if (w->stride[2] == 1 && zp == 0 && sizeof(TI) == sizeof(TO))                                          \
                    memcpy(dst + lo, row + (lo + off2), (size_t)(hi - lo) * sizeof(TO));                               \
                else                                                                                                   \
                    for (int64_t o = lo; o < hi; o++)                                                                  \
                        dst[o] = (TO)row[o * w->stride[2] + off2] - zp;                                                \
                memset(dst + hi, 0, (size_t)(out[2] - hi) * sizeof(TO));                                               \
            }                                                                                                          \
        }                                                                                                              \
    }

DEF_IM2COL(im2col_f32, float, float)
DEF_IM2COL(im2col_f64, double, double)
DEF_IM2COL(im2col_u8, uint8_t, int32_t)
DEF_IM2COL(im2col_i8, int8_t, int32_t)

/* The whole matrix, split over the pool by rows. */
static void im2col(tt_range_fn fn, const conv_geom *g, const void *x, void *col, int32_t zp)
{
    im2col_job j = {g, x, col, zp, 0, g->w.out[0] * g->w.out[1]};
    int64_t rows = g->C * g->kp;
    int64_t grain = (65536 + g->out_size - 1) / g->out_size;
    tt_parallel_for(rows, grain, fn, &j);
}

/* Whether the input already is its own im2col matrix: 1x1 kernel, stride 1, no pads. */
static bool conv_is_pointwise(const conv_geom *g)
{
    for (int i = 0; i < TT_WIN_DIMS; i++)
        if (g->w.kernel[i] != 1 || g->w.stride[i] != 1 || g->w.pad_begin[i] != 0 || g->w.pad_end[i] != 0)
            return false;
    return true;
}

static void fill_f32(float *y, int64_t n, float v)
{
    int64_t i = 0;
    for (tt_f32x4 vv = tt_f32x4_splat(v); i + 4 <= n; i += 4)
        tt_f32x4_store(y + i, vv);
    for (; i < n; i++)
        y[i] = v;
}

/* Output planes start as the bias (or zero) so the GEMM / scatter can accumulate into them. */
typedef struct bias_job {
    void *y;
    const void *b;
    int64_t M, size;
    bool dbl;
} bias_job;

static void fill_bias(void *arg, int64_t p0, int64_t p1)
{
    const bias_job *j = arg;
    for (int64_t p = p0; p < p1; p++) {
        int64_t m = p % j->M;
        if (j->dbl) {
            double v = j->b ? ((const double *)j->b)[m] : 0, *y = (double *)j->y + p * j->size;
            for (int64_t i = 0; i < j->size; i++)
                y[i] = v;
        } else {
            fill_f32((float *)j->y + p * j->size, j->size, j->b ? ((const float *)j->b)[m] : 0);
        }
    }
}

static void bias_planes(void *y, const void *b, int64_t planes, int64_t M, int64_t size, bool dbl)
{
    bias_job j = {y, b, M, size, dbl};
    tt_parallel_for(planes, (16384 + size - 1) / size, fill_bias, &j);
}

/* ---- one input channel per group (depthwise convs): a direct loop per output plane ---------- */

/* The column ranges of one kernel row's taps, the same for every output row: tap k reads
 * inside the input for o in [lo[k], hi[k]), every tap does for o in [ilo, ihi). The direct
 * path takes kernels of at most DW_MAX_K rows of DW_MAX_K taps. */
#define DW_MAX_K 16

typedef struct dw_cols {
    int64_t K, st, dl, pad, ilo, ihi, lo[DW_MAX_K], hi[DW_MAX_K];
} dw_cols;

static void dw_cols_init(dw_cols *c, int64_t K, int64_t out, int64_t in, int64_t st, int64_t dl, int64_t pad)
{
    *c = (dw_cols){.K = K, .st = st, .dl = dl, .pad = pad};
    for (int64_t k = 0; k < K; k++)
        tt_win_run(out, in, st, k * dl - pad, &c->lo[k], &c->hi[k]);
    c->ilo = c->lo[0]; /* lo and hi fall as k grows */
    c->ihi = c->hi[K - 1] > c->ilo ? c->hi[K - 1] : c->ilo;
}

typedef struct dw_job {
    const conv_geom *g;
    const float *x, *w, *b;
    float *y;
    dw_cols cols;
} dw_job;

/* One output row: y[o] = bias + sum over the kernel rows r in bounds and taps k of
 * w_r[k] * x_r[o * stride + k * dil - pad]. Interior columns keep the whole sum in registers
 * (vectorised for strides 1 and 2); the few edge columns check each tap. */
static void depthwise_row(float *y, float bias, int nr, const float *const *xs, const float *const *ws,
                          const dw_cols *c, int64_t out)
{
    const int64_t K = c->K, st = c->st, dl = c->dl, pad = c->pad, ilo = c->ilo, ihi = c->ihi;
    for (int64_t o = 0; o < ilo; o++)
        y[o] = bias;
    for (int64_t o = ihi; o < out; o++)
        y[o] = bias;
    for (int r = 0; r < nr; r++)
        for (int64_t k = 0; k < K; k++) {
            const float *x = xs[r];
            float wk = ws[r][k];
            int64_t off = k * dl - pad;
            for (int64_t o = c->lo[k]; o < c->hi[k] && o < ilo; o++)
                y[o] += wk * x[o * st + off];
            for (int64_t o = c->lo[k] > ihi ? c->lo[k] : ihi; o < c->hi[k]; o++)
                y[o] += wk * x[o * st + off];
        }
    int64_t o = ilo;
    if (st == 1 && K == 3 && nr == 3) {
        /* the common 3x3 interior: all nine weights stay in registers */
        tt_f32x4 w[9];
        for (int i = 0; i < 9; i++)
            w[i] = tt_f32x4_splat(ws[i / 3][i % 3]);
        for (; o + 4 <= ihi; o += 4) {
            tt_f32x4 acc = tt_f32x4_splat(bias);
            for (int r = 0; r < 3; r++) {
                const float *s = xs[r] + (o - pad);
                acc += w[3 * r] * tt_f32x4_load(s) + w[3 * r + 1] * tt_f32x4_load(s + dl) +
                       w[3 * r + 2] * tt_f32x4_load(s + 2 * dl);
            }
            tt_f32x4_store(y + o, acc);
        }
    } else if (st == 1) {
        for (; o + 4 <= ihi; o += 4) {
            tt_f32x4 acc = tt_f32x4_splat(bias);
            for (int r = 0; r < nr; r++)
                for (int64_t k = 0; k < K; k++)
                    acc += tt_f32x4_splat(ws[r][k]) * tt_f32x4_load(xs[r] + (o + k * dl - pad));
            tt_f32x4_store(y + o, acc);
        }
    } else if (st == 2) {
        for (; o + 4 <= ihi; o += 4) {
            tt_f32x4 acc = tt_f32x4_splat(bias);
            for (int r = 0; r < nr; r++)
                for (int64_t k = 0; k < K; k++) {
                    const float *s = xs[r] + (2 * o + k * dl - pad);
                    acc += tt_f32x4_splat(ws[r][k]) * (tt_f32x4){s[0], s[2], s[4], s[6]};
                }
            tt_f32x4_store(y + o, acc);
        }
    }
    for (; o < ihi; o++) {
        float acc = bias;
        for (int r = 0; r < nr; r++)
            for (int64_t k = 0; k < K; k++)
                acc += ws[r][k] * xs[r][o * st + k * dl - pad];
        y[o] = acc;
    }
}

static void depthwise_planes(void *arg, int64_t p0, int64_t p1)
{
    const dw_job *j = arg;
    const conv_geom *g = j->g;
    const tt_win *w = &g->w;
    const int64_t *in = w->in, *out = w->out, *k = w->kernel, *st = w->stride, *dl = w->dilation, *pb = w->pad_begin;
    const float *xs[DW_MAX_K], *ws[DW_MAX_K];
    for (int64_t p = p0; p < p1; p++) {
        int64_t n = p / g->M, m = p % g->M;
        const float *xc = j->x + (n * g->C + m / g->Mg) * g->in_size, *wm = j->w + m * g->kp;
        float *yp = j->y + p * g->out_size, bias = j->b ? j->b[m] : 0.0f;
        for (int64_t o0 = 0; o0 < out[0]; o0++)
            for (int64_t o1 = 0; o1 < out[1]; o1++) {
                int nr = 0; /* the kernel rows that fall inside the input */
                for (int64_t k0 = 0; k0 < k[0]; k0++) {
                    int64_t i0 = o0 * st[0] + k0 * dl[0] - pb[0];
                    for (int64_t k1 = 0; k1 < k[1] && i0 >= 0 && i0 < in[0]; k1++) {
                        int64_t i1 = o1 * st[1] + k1 * dl[1] - pb[1];
                        if (i1 < 0 || i1 >= in[1])
                            continue;
                        xs[nr] = xc + (i0 * in[1] + i1) * in[2];
                        ws[nr++] = wm + (k0 * k[1] + k1) * k[2];
                    }
                }
                depthwise_row(yp + (o0 * out[1] + o1) * out[2], bias, nr, xs, ws, &j->cols, out[2]);
            }
    }
}

/* ---- Conv -------------------------------------------------------------------------------------- */

tt_status tt_conv_infer(tt_ictx *c)
{
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    return conv_infer_as(c, &IO_CONV, c->in[0]->dtype);
}

static uint64_t flops_conv(const tt_ictx *c)
{
    const tt_type *w = tt_iin(c, 1), *y = &c->out[0];
    uint64_t n = 1, k = 1;
    for (int i = 0; i < y->rank; i++)
        n *= (uint64_t)y->dims[i];
    for (int i = 1; i < w->rank; i++)
        k *= (uint64_t)w->dims[i];
    return 2 * n * k;
}

/* Float Conv of one image, in tiles of whole output rows: each task lays out its tile's
 * im2col columns (none for pointwise convs, which read X as it is) and multiplies them.
 * Splitting by columns keeps a tile's columns in cache between im2col and GEMM and lets each
 * thread pack only its part of the big operand. */
typedef struct conv_tile_job {
    const conv_geom *g;
    const float *x, *w, *bias; /* x: this image; bias may be NULL */
    float *col, *y;            /* col: NULL for pointwise; y: this image */
    int64_t rows_per_tile;
} conv_tile_job;

static void conv_tiles(void *arg, int64_t t0, int64_t t1)
{
    const conv_tile_job *j = arg;
    const conv_geom *g = j->g;
    int64_t K = g->Cg * g->kp, osz = g->out_size, rows = g->w.out[0] * g->w.out[1], ow = g->w.out[2];
    for (int64_t t = t0; t < t1; t++) {
        int64_t q0 = t * j->rows_per_tile, q1 = q0 + j->rows_per_tile < rows ? q0 + j->rows_per_tile : rows;
        const float *b = j->x + q0 * ow;
        /* the tile's outputs start as the bias, still in cache when the GEMM adds to them */
        for (int64_t m = 0; m < g->M; m++)
            fill_f32(j->y + m * osz + q0 * ow, (q1 - q0) * ow, j->bias ? j->bias[m] : 0.0f);
        if (j->col) {
            im2col_job ij = {g, j->x, j->col, 0, q0, q1};
            im2col_f32(&ij, 0, g->C * g->kp);
            b = j->col + q0 * ow;
        }
        tt_sgemm_batched(false, false, g->Mg, (q1 - q0) * ow, K, 1.0f, j->w, K, g->Mg * K, b, osz, K * osz, 1.0f,
                         j->y + q0 * ow, osz, g->Mg * osz, g->G);
    }
}

static tt_status conv_f32(const tt_node *node, const conv_geom *g, const float *x, const float *w, const float *b,
                          float *y)
{
    if (g->Cg == 1 && g->w.kernel[2] <= DW_MAX_K && g->w.kernel[0] * g->w.kernel[1] <= DW_MAX_K) {
        dw_job j = {.g = g, .x = x, .w = w, .b = b, .y = y};
        dw_cols_init(&j.cols, g->w.kernel[2], g->w.out[2], g->w.in[2], g->w.stride[2], g->w.dilation[2],
                     g->w.pad_begin[2]);
        int64_t planes = g->N * g->M;
        tt_parallel_for_stoppable(planes, (16384 + g->out_size * g->kp - 1) / (g->out_size * g->kp),
                                  (double)g->out_size * (double)g->kp, depthwise_planes, &j);
        return TT_OK;
    }
    int64_t K = g->Cg * g->kp, osz = g->out_size, ow = g->w.out[2], rows = g->w.out[0] * g->w.out[1];
    bool pointwise = conv_is_pointwise(g);
    /* Each image runs alone, in the same tiles whatever the batch (they depend on its shape
     * and the thread count only), so an image's outputs are the same bytes run alone or in a
     * dynamic batch: BLAS picks its kernels by a product's shape, and one batched GEMM over a
     * batch of pointwise convs (rows unsplit) gave other last bits than an image's own GEMMs
     * (rows split for the threads) with OpenBLAS on an AVX2 CPU. */
    /* Tiles of about 128 KiB of im2col data, at least 64 columns wide, and enough of them to
     * keep every thread busy; with too few columns for that, one tile and the GEMM splits rows. */
    int64_t threads = tt_threads(), cols = K ? (32768 + K - 1) / K : osz;
    if (cols < 64)
        cols = 64;
    if (cols * threads > osz)
        cols = (osz + threads - 1) / threads;
    int64_t rpt = (cols + ow - 1) / ow;
    int64_t tiles = (rows + rpt - 1) / rpt;
    if (tiles < threads && threads > 1)
        rpt = rows, tiles = 1;
    float *col = NULL;
    if (!pointwise) {
        col = tt_nn_scratch(node, sizeof(float), g->C, g->kp, osz);
        if (!col)
            return TETHER_ERR_NO_MEMORY;
    }
    for (int64_t n = 0; n < g->N && !tt_stopped(); n++) {
        conv_tile_job j = {g, x + n * g->C * g->in_size, w, b, col, y + n * g->M * osz, rpt};
        if (tiles > 1) {
            tt_parallel_for_stoppable(tiles, 1, (double)g->M * (double)K * (double)(rpt * ow), conv_tiles, &j);
            continue;
        }
        /* one tile: im2col, bias and GEMM each split over the pool on their own */
        if (col)
            im2col(im2col_f32, g, j.x, col, 0);
        bias_planes(j.y, b, g->M, g->M, osz, false);
        tt_sgemm_batched(false, false, g->Mg, osz, K, 1.0f, w, K, g->Mg * K, col ? col : j.x, osz, K * osz, 1.0f, j.y,
                         osz, g->Mg * osz, g->G);
    }
    tt_free_aligned(col);
    return TT_OK;
}

/* Double precision: the same lowering with a serial dgemm per group. */
static tt_status conv_f64(const tt_node *node, const conv_geom *g, const double *x, const double *w, const double *b,
                          double *y)
{
    int64_t K = g->Cg * g->kp, osz = g->out_size;
    bias_planes(y, b, g->N * g->M, g->M, osz, true);
    double *col = tt_nn_scratch(node, sizeof(double), g->C, g->kp, osz);
    if (!col)
        return TETHER_ERR_NO_MEMORY;
    for (int64_t n = 0; n < g->N && !tt_stopped(); n++) {
        im2col(im2col_f64, g, x + n * g->C * g->in_size, col, 0);
        tt_dgemm_batched(false, false, g->Mg, osz, K, 1.0, w, K, g->Mg * K, col, osz, K * osz, 1.0, y + n * g->M * osz,
                         osz, g->Mg * osz, g->G);
    }
    tt_free_aligned(col);
    return TT_OK;
}

/* BLAS takes int dimensions. */
static tt_status check_blas_dims(const tt_node *node, const conv_geom *g)
{
    int64_t big = g->Cg * g->kp > g->out_size ? g->Cg * g->kp : g->out_size;
    if (big > INT32_MAX || g->M * g->kp > INT32_MAX || g->in_size > INT32_MAX)
        return tt_op_error(node, TETHER_ERR_UNSUPPORTED,
                           "the convolution is too large (%" PRId64 " elements in one GEMM dim)", big);
    return TT_OK;
}

static tt_status run_conv_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *w = tt_kin(c, 1), *b = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    conv_geom g;
    TT_TRY(conv_geometry(c->node, &IO_CONV, x, w, &g));
    TT_TRY(check_blas_dims(c->node, &g));
    if (b && b->dtype != x->dtype)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the bias is %s but X is %s", tt_dtype_name(b->dtype),
                           tt_dtype_name(x->dtype));
    if (tt_tensor_numel(y) == 0)
        return TT_OK;
    if (x->dtype == TETHER_DTYPE_DOUBLE)
        return conv_f64(c->node, &g, x->data, w->data, b ? b->data : NULL, y->data);
    return conv_f32(c->node, &g, x->data, w->data, b ? b->data : NULL, y->data);
}

tt_status tt_conv_ref(tt_kctx *c)
{
    return tt_run_real(c, run_conv_native);
}

/* ---- ConvTranspose ------------------------------------------------------------------------------ */

static tt_status infer_convtranspose(tt_ictx *c)
{
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    return conv_infer_as(c, &IO_CONVT, c->in[0]->dtype);
}

static uint64_t flops_convtranspose(const tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0), *w = tt_iin(c, 1);
    uint64_t n = 1, k = 1;
    for (int i = 0; i < x->rank; i++)
        n *= (uint64_t)x->dims[i];
    for (int i = 1; i < w->rank; i++)
        k *= (uint64_t)w->dims[i];
    return 2 * n * k;
}

/* Scatters the [M * kp, in_size] product W^T X into the output planes: the adjoint of
 * im2col. Split by output channel, so no two tasks write the same element. */
typedef struct col2im_job {
    const conv_geom *g;
    const void *col;
    void *y;
    bool dbl;
} col2im_job;

#define DEF_COL2IM(NAME, T)                                                                                            \
    static void NAME(const col2im_job *j, int64_t m)                                                                   \
    {                                                                                                                  \
        const conv_geom *g = j->g;                                                                                     \
        const tt_win *w = &g->w;                                                                                       \
        const int64_t *in = w->in, *out = w->out, *k = w->kernel, *st = w->stride, *dl = w->dilation;                  \
        T *yp = (T *)j->y + m * g->out_size;                                                                           \
        for (int64_t kr = 0; kr < g->kp; kr++) {                                                                       \
            int64_t kx[3] = {kr / (k[1] * k[2]), kr / k[2] % k[1], kr % k[2]};                                         \
            const T *src = (const T *)j->col + (m * g->kp + kr) * g->in_size;                                          \
            int64_t off2 = kx[2] * dl[2] - w->pad_begin[2], lo, hi;                                                    \
            /* the input positions whose target i * stride + off2 lands inside the output */                           \
            tt_win_run(in[2], out[2], st[2], off2, &lo, &hi);                                                          \
            for (int64_t i0 = 0; i0 < in[0]; i0++) {                                                                   \
                int64_t o0 = i0 * st[0] + kx[0] * dl[0] - w->pad_begin[0];                                             \
                for (int64_t i1 = 0; i1 < in[1]; i1++, src += in[2]) {                                                 \
                    int64_t o1 = i1 * st[1] + kx[1] * dl[1] - w->pad_begin[1];                                         \
                    if (o0 < 0 || o0 >= out[0] || o1 < 0 || o1 >= out[1])                                              \
                        continue;                                                                                      \
                    T *dst = yp + (o0 * out[1] + o1) * out[2];                                                         \
                    for (int64_t i = lo; i < hi; i++)                                                                  \
                        dst[i * st[2] + off2] += src[i];                                                               \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }

DEF_COL2IM(col2im_plane_f32, float)
DEF_COL2IM(col2im_plane_f64, double)

static void col2im_planes(void *arg, int64_t m0, int64_t m1)
{
    const col2im_job *j = arg;
    for (int64_t m = m0; m < m1; m++) {
        if (j->dbl)
            col2im_plane_f64(j, m);
        else
            col2im_plane_f32(j, m);
    }
}

static tt_status run_convtranspose_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *w = tt_kin(c, 1), *b = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    conv_geom g;
    TT_TRY(conv_geometry(c->node, &IO_CONVT, x, w, &g));
    TT_TRY(check_blas_dims(c->node, &g));
    if (b && b->dtype != x->dtype)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the bias is %s but X is %s", tt_dtype_name(b->dtype),
                           tt_dtype_name(x->dtype));
    bool dbl = x->dtype == TETHER_DTYPE_DOUBLE;
    size_t es = dbl ? sizeof(double) : sizeof(float);
    bias_planes(y->data, b ? b->data : NULL, g.N * g.M, g.M, g.out_size, dbl);
    if (tt_tensor_numel(x) == 0 || tt_tensor_numel(y) == 0)
        return TT_OK;
    int64_t rows = g.Mg * g.kp, isz = g.in_size;
    void *col = tt_nn_scratch(c->node, es, g.M, g.kp, isz);
    if (!col)
        return TETHER_ERR_NO_MEMORY;
    for (int64_t n = 0; n < g.N && !tt_stopped(); n++) {
        /* per group: col[Mg * kp, in] = W_g^T [Mg * kp, Cg] x X_g [Cg, in] */
        if (dbl) {
            tt_dgemm_batched(true, false, rows, isz, g.Cg, 1.0, w->data, rows, g.Cg * rows,
                             (const double *)x->data + n * g.C * isz, isz, g.Cg * isz, 0.0, col, isz, rows * isz, g.G);
        } else {
            tt_sgemm_batched(true, false, rows, isz, g.Cg, 1.0f, w->data, rows, g.Cg * rows,
                             (const float *)x->data + n * g.C * isz, isz, g.Cg * isz, 0.0f, col, isz, rows * isz, g.G);
        }
        col2im_job j = {&g, col, (char *)y->data + (size_t)(n * g.M * g.out_size) * es, dbl};
        tt_parallel_for_stoppable(g.M, 1, (double)g.kp * (double)isz, col2im_planes, &j);
    }
    tt_free_aligned(col);
    return TT_OK;
}

static tt_status run_convtranspose(tt_kctx *c)
{
    return tt_run_real(c, run_convtranspose_native);
}

/* ---- ConvInteger, QLinearConv ---------------------------------------------------------------------- */

/* Zero points and scales are scalars, or (for the weights) one per output channel. */
static tt_status per_channel(const tt_node *node, const tt_tensor *t, const char *what, int64_t M, bool allow_vector)
{
    if (!t)
        return TT_OK;
    int64_t n = tt_tensor_numel(t);
    if (n == 1 && t->rank <= 1)
        return TT_OK;
    if (allow_vector && t->rank == 1 && n == M)
        return TT_OK;
    char s[160];
    return tt_op_error(node, TETHER_ERR_SHAPE, "%s has shape %s; it must be a scalar%s", what,
                       tt_dims_str(t->rank, t->dims, s, sizeof s),
                       allow_vector ? " or one value per output channel" : "");
}

static int32_t zero_point(const tt_tensor *t, int64_t i)
{
    if (!t)
        return 0;
    if (tt_tensor_numel(t) == 1)
        i = 0;
    return t->dtype == TETHER_DTYPE_INT8 ? ((const int8_t *)t->data)[i] : ((const uint8_t *)t->data)[i];
}

typedef struct iconv_job {
    const conv_geom *g;
    const int32_t *wq;  /* [M, Cg * kp]: weights minus their zero point */
    const int32_t *col; /* [C * kp, out_size] */
    int32_t *acc;       /* [M, out_size] of this image */
} iconv_job;

/* Accumulates in uint32, whose wrap-around is defined, as ONNX's int32 results wrap. */
static void iconv_rows(void *arg, int64_t m0, int64_t m1)
{
    const iconv_job *j = arg;
    const conv_geom *g = j->g;
    int64_t K = g->Cg * g->kp, osz = g->out_size;
    for (int64_t m = m0; m < m1; m++) {
        uint32_t *acc = (uint32_t *)(j->acc + m * osz);
        const int32_t *col = j->col + (m / g->Mg) * K * osz, *wr = j->wq + m * K;
        for (int64_t o = 0; o < osz; o++)
            acc[o] = 0;
        for (int64_t k = 0; k < K; k++) {
            int32_t wv = wr[k];
            if (wv == 0)
                continue;
            const int32_t *cr = col + k * osz;
            for (int64_t o = 0; o < osz; o++)
                acc[o] += (uint32_t)(wv * cr[o]);
        }
    }
}

/* The int32 accumulators of an integer conv, image by image: image n's [M, out_size]
 * accumulators go to acc + n * acc_step, then emit(arg, n, them) runs when emit is set. */
typedef void (*iconv_emit)(void *arg, int64_t n, const int32_t *acc);

static tt_status iconv_run(tt_kctx *c, const conv_io *io, const tt_tensor *xzp, const tt_tensor *wzp, int32_t *acc,
                           int64_t acc_step, iconv_emit emit, void *arg)
{
    const tt_tensor *x = tt_kin(c, io->x), *w = tt_kin(c, io->w);
    conv_geom g;
    TT_TRY(conv_geometry(c->node, io, x, w, &g));
    TT_TRY(per_channel(c->node, xzp, "x_zero_point", g.M, false));
    TT_TRY(per_channel(c->node, wzp, "w_zero_point", g.M, true));
    if (xzp && xzp->dtype != x->dtype)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "x_zero_point must have X's dtype %s", tt_dtype_name(x->dtype));
    if (wzp && wzp->dtype != w->dtype)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "w_zero_point must have W's dtype %s", tt_dtype_name(w->dtype));
    int64_t K = g.Cg * g.kp;
    int32_t *wq = tt_nn_scratch(c->node, sizeof(int32_t), g.M, K, 1);
    int32_t *col = wq ? tt_nn_scratch(c->node, sizeof(int32_t), g.C, g.kp, g.out_size) : NULL;
    if (!col) {
        tt_free_aligned(wq);
        return TETHER_ERR_NO_MEMORY;
    }
    for (int64_t m = 0; m < g.M; m++) {
        int32_t zp = zero_point(wzp, m);
        for (int64_t k = 0; k < K; k++) {
            int64_t i = m * K + k;
            int32_t v = w->dtype == TETHER_DTYPE_INT8 ? ((const int8_t *)w->data)[i] : ((const uint8_t *)w->data)[i];
            wq[i] = v - zp;
        }
    }
    tt_range_fn fn = x->dtype == TETHER_DTYPE_INT8 ? im2col_i8 : im2col_u8;
    for (int64_t n = 0; n < g.N && !tt_stopped(); n++) {
        im2col(fn, &g, (const uint8_t *)x->data + n * g.C * g.in_size, col, zero_point(xzp, 0));
        iconv_job j = {&g, wq, col, acc + n * acc_step};
        tt_parallel_for_stoppable(g.M, 1, (double)K * (double)g.out_size, iconv_rows, &j);
        if (emit)
            emit(arg, n, j.acc);
    }
    tt_free_aligned(wq);
    tt_free_aligned(col);
    return TT_OK;
}

#define Q8_TYPES (TT_DT(TETHER_DTYPE_INT8) | TT_DT(TETHER_DTYPE_UINT8))

static tt_status infer_convinteger(tt_ictx *c)
{
    TT_TRY(tt_infer_check_dtype(c, 1, Q8_TYPES));
    TT_TRY(tt_infer_check_dtype(c, 2, Q8_TYPES));
    TT_TRY(tt_infer_check_dtype(c, 3, Q8_TYPES));
    return conv_infer_as(c, &IO_CONVINT, TETHER_DTYPE_INT32);
}

static tt_status run_convinteger(tt_kctx *c)
{
    tt_tensor *y = tt_kout(c, 0);
    if (tt_tensor_numel(y) == 0)
        return TT_OK;
    return iconv_run(c, &IO_CONVINT, tt_kin(c, 2), tt_kin(c, 3), y->data, tt_tensor_numel(y) / y->dims[0], NULL, NULL);
}

static tt_status infer_qlinearconv(tt_ictx *c)
{
    const tt_type *yzp = tt_iin(c, 7), *x = tt_iin(c, 0);
    static const int q8[] = {2, 3, 5, 7}, scales[] = {1, 4, 6}; /* zero points and W; the scales */
    for (int i = 0; i < 4; i++)
        TT_TRY(tt_infer_check_dtype(c, q8[i], Q8_TYPES));
    for (int i = 0; i < 3; i++)
        TT_TRY(tt_infer_check_dtype(c, scales[i], TT_DT(TETHER_DTYPE_FLOAT)));
    TT_TRY(tt_infer_check_dtype(c, 8, TT_DT(TETHER_DTYPE_INT32)));
    return conv_infer_as(c, &IO_QLINEAR, yzp ? yzp->dtype : x->dtype);
}

typedef struct requant {
    const tt_tensor *b; /* int32 bias or NULL */
    float *scale;       /* [M]: x_scale * w_scale[m] / y_scale */
    int32_t y_zp, lo, hi;
    tt_tensor *y;
    int64_t M, osz;
} requant;

static void emit_requant(void *arg, int64_t n, const int32_t *acc)
{
    const requant *r = arg;
    for (int64_t m = 0; m < r->M; m++) {
        int32_t bias = r->b ? ((const int32_t *)r->b->data)[m] : 0;
        float s = r->scale[m];
        const int32_t *a = acc + m * r->osz;
        int64_t base = (n * r->M + m) * r->osz;
        for (int64_t o = 0; o < r->osz; o++) {
            /* the bias is added in uint32 to wrap as int32 accumulation would */
            int32_t v32 = (int32_t)((uint32_t)a[o] + (uint32_t)bias);
            float v = nearbyintf((float)v32 * s) + (float)r->y_zp;
            v = !(v >= (float)r->lo) ? (float)r->lo : v > (float)r->hi ? (float)r->hi : v; /* NaN: lo */
            if (r->y->dtype == TETHER_DTYPE_INT8)
                ((int8_t *)r->y->data)[base + o] = (int8_t)v;
            else
                ((uint8_t *)r->y->data)[base + o] = (uint8_t)v;
        }
    }
}

static float scalar_f32(const tt_tensor *t, int64_t i)
{
    return ((const float *)t->data)[tt_tensor_numel(t) == 1 ? 0 : i];
}

static tt_status run_qlinearconv(tt_kctx *c)
{
    const tt_tensor *xs = tt_kin(c, 1), *ws = tt_kin(c, 4), *ys = tt_kin(c, 6), *yzp = tt_kin(c, 7), *b = tt_kin(c, 8);
    tt_tensor *y = tt_kout(c, 0);
    int64_t M = y->dims[1], osz = 1;
    for (int i = 2; i < y->rank; i++)
        osz *= y->dims[i];
    if (!xs || !ws || !ys)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "x_scale, w_scale and y_scale are required");
    TT_TRY(per_channel(c->node, xs, "x_scale", M, false));
    TT_TRY(per_channel(c->node, ws, "w_scale", M, true));
    TT_TRY(per_channel(c->node, ys, "y_scale", M, false));
    TT_TRY(per_channel(c->node, yzp, "y_zero_point", M, false));
    if (xs->dtype != TETHER_DTYPE_FLOAT || ws->dtype != TETHER_DTYPE_FLOAT || ys->dtype != TETHER_DTYPE_FLOAT)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the scales must be float32");
    if (yzp && yzp->dtype != y->dtype)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "y_zero_point must have Y's dtype");
    if (b && (b->dtype != TETHER_DTYPE_INT32 || b->rank != 1 || b->dims[0] != M))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the bias must be an int32 vector of %" PRId64 " elements", M);
    if (tt_tensor_numel(y) == 0)
        return TT_OK;
    float *scale = tt_nn_scratch(c->node, sizeof(float), M, 1, 1);
    int32_t *acc = scale ? tt_nn_scratch(c->node, sizeof(int32_t), M, osz, 1) : NULL;
    if (!acc) {
        tt_free_aligned(scale);
        return TETHER_ERR_NO_MEMORY;
    }
    for (int64_t m = 0; m < M; m++)
        scale[m] = scalar_f32(xs, 0) * scalar_f32(ws, m) / scalar_f32(ys, 0);
    bool s8 = y->dtype == TETHER_DTYPE_INT8;
    requant r = {b, scale, zero_point(yzp, 0), s8 ? INT8_MIN : 0, s8 ? INT8_MAX : UINT8_MAX, y, M, osz};
    tt_status s = iconv_run(c, &IO_QLINEAR, tt_kin(c, 2), tt_kin(c, 5), acc, 0, emit_requant, &r);
    tt_free_aligned(scale);
    tt_free_aligned(acc);
    return s;
}

#define CONV_TYPES                                                                                                     \
    (TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_FLOAT16) |                            \
     TT_DT(TETHER_DTYPE_BFLOAT16))

const tt_op_schema tt_schemas_conv[] = {
    TT_SCHEMA("Conv", 1, 0, tt_conv_infer, .parse = tt_win_prepare, .flops = flops_conv),
    TT_SCHEMA("ConvTranspose", 1, 0, infer_convtranspose, .parse = tt_win_prepare, .flops = flops_convtranspose),
    TT_SCHEMA("ConvInteger", 10, 0, infer_convinteger, .parse = tt_win_prepare, .flops = flops_conv),
    TT_SCHEMA("QLinearConv", 10, 0, infer_qlinearconv, .parse = tt_win_prepare),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_conv[] = {
    TT_KERNEL("Conv", 1, 0, CONV_TYPES, tt_conv_ref),
    TT_KERNEL("ConvTranspose", 1, 0, CONV_TYPES, run_convtranspose),
    TT_KERNEL("ConvInteger", 10, 0, Q8_TYPES, run_convinteger),
    TT_KERNEL("QLinearConv", 10, 0, Q8_TYPES, run_qlinearconv),
    TT_KERNEL_END,
};
