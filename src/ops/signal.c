/* Signal processing: DFT and STFT over any transform length (an iterative radix-2 FFT, and
 * Bluestein's chirp-z algorithm on top of it for other lengths, all in double precision),
 * the Hann, Hamming and Blackman windows, and the mel filterbank matrix. */
#include "ops/util.h"

#include <inttypes.h>
#include <stdatomic.h>

/* ---- shared helpers ---------------------------------------------------------------------- */

/* A scalar (or one-element) integer input. */
static tt_status scalar_int(const tt_node *n, const tt_tensor *t, const char *what, int64_t *out)
{
    if (!tt_dtype_is_int(t->dtype) || tt_tensor_numel(t) != 1 || t->rank > 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "%s must be an integer scalar", what);
    *out = tt_load_i64(t->data, t->dtype, 0);
    return TT_OK;
}

static tt_status scalar_real(const tt_node *n, const tt_tensor *t, const char *what, double *out)
{
    if (!tt_dtype_is_float(t->dtype) || tt_tensor_numel(t) != 1 || t->rank > 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "%s must be a floating-point scalar", what);
    *out = tt_load_f64(t->data, t->dtype, 0);
    return TT_OK;
}

/* The output_datatype attribute of the window and mel ops: any numeric type but bool. */
static tt_status output_datatype(const tt_node *n, tt_dtype *dt)
{
    int64_t v = tt_attr_int(n, "output_datatype", TETHER_DTYPE_FLOAT);
    if (!tt_dtype_valid((int)v) || v != (int)v || !((TT_DTS_NUMERIC >> v) & 1))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "output_datatype %" PRId64 " is not a numeric type", v);
    *dt = (tt_dtype)v;
    return TT_OK;
}

/* ---- FFT --------------------------------------------------------------------------------- */

typedef struct cpx {
    double re, im;
} cpx;

static inline cpx cmul(cpx a, cpx b)
{
    return (cpx){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}

/* Everything about one transform length that does not depend on the data. */
typedef struct fft_plan {
    int64_t n;   /* transform length */
    int64_t m;   /* power-of-two length the work is done at: n, or >= 2n - 1 for Bluestein */
    cpx *tw;     /* m/2 twiddles exp(-2πik/m) */
    cpx *chirp;  /* Bluestein only: exp(-iπk²/n), k < n */
    cpx *filter; /* Bluestein only: FFT of the conjugate chirp laid out circularly, length m */
} fft_plan;

static bool is_pow2(int64_t n)
{
    return n > 0 && (n & (n - 1)) == 0;
}

static void fft_plan_free(fft_plan *p)
{
    tt_free(p->tw);
    tt_free(p->chirp);
    tt_free(p->filter);
    memset(p, 0, sizeof *p);
}

/* In-place forward FFT of power-of-two length m. */
static void fft_pow2(const cpx *tw, int64_t m, cpx *x)
{
    for (int64_t i = 1, j = 0; i < m; i++) {
        int64_t bit = m >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j |= bit;
        if (i < j) {
            cpx t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
    }
    for (int64_t len = 2; len <= m; len <<= 1) {
        int64_t half = len >> 1, step = m / len;
        for (int64_t i = 0; i < m; i += len) {
            for (int64_t k = 0; k < half; k++) {
                cpx a = x[i + k], b = cmul(x[i + k + half], tw[k * step]);
                x[i + k] = (cpx){a.re + b.re, a.im + b.im};
                x[i + k + half] = (cpx){a.re - b.re, a.im - b.im};
            }
        }
    }
}

static tt_status fft_plan_init(const tt_node *node, int64_t n, fft_plan *p)
{
    memset(p, 0, sizeof *p);
    /* the plan and a row's buffers take about 2.5 m complex doubles: hold them to the limit
     * on any one tensor, as a huge dft_length from the data would otherwise exceed it */
    if (n < 1 || n > ((int64_t)1 << 40) || (uint64_t)n * 5 * sizeof(cpx) > tt_max_tensor_bytes())
        return tt_op_error(node, TETHER_ERR_SHAPE, "a transform of length %" PRId64 " is too large", n);
    p->n = n;
    p->m = 1;
    int64_t need = is_pow2(n) ? n : 2 * n - 1;
    while (p->m < need)
        p->m <<= 1;
    size_t m = (size_t)p->m;
    p->tw = tt_malloc((m / 2 + 1) * sizeof *p->tw);
    if (!p->tw)
        goto nomem;
    /* each twiddle from its own angle, so rounding does not accumulate along k */
    for (size_t k = 0; k < m / 2; k++) {
        double a = -2.0 * M_PI * (double)k / (double)m;
        p->tw[k] = (cpx){cos(a), sin(a)};
    }
    if (is_pow2(n))
        return TT_OK;
    p->chirp = tt_malloc((size_t)n * sizeof *p->chirp);
    p->filter = tt_calloc(m, sizeof *p->filter);
    if (!p->chirp || !p->filter)
        goto nomem;
    for (int64_t k = 0; k < n; k++) {
        /* k² mod 2n keeps the angle small and exact: exp(-iπk²/n) has period 2n in k² */
        uint64_t k2 = ((uint64_t)k * (uint64_t)k) % (2 * (uint64_t)n);
        double a = -M_PI * (double)k2 / (double)n;
        p->chirp[k] = (cpx){cos(a), sin(a)};
    }
    p->filter[0] = (cpx){p->chirp[0].re, -p->chirp[0].im};
    for (int64_t k = 1; k < n; k++)
        p->filter[k] = p->filter[p->m - k] = (cpx){p->chirp[k].re, -p->chirp[k].im};
    fft_pow2(p->tw, p->m, p->filter);
    return TT_OK;
nomem:
    fft_plan_free(p);
    return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory planning a transform of length %" PRId64, n);
}

/* Forward DFT of x[0..n) in place; work holds p->m elements (unused for powers of two). */
static void fft_forward(const fft_plan *p, cpx *x, cpx *work)
{
    if (!p->chirp) {
        fft_pow2(p->tw, p->m, x);
        return;
    }
    int64_t n = p->n, m = p->m;
    for (int64_t j = 0; j < n; j++)
        work[j] = cmul(x[j], p->chirp[j]);
    for (int64_t j = n; j < m; j++)
        work[j] = (cpx){0, 0};
    fft_pow2(p->tw, m, work);
    /* the inverse transform of the product, as conj(FFT(conj(.))) / m */
    for (int64_t j = 0; j < m; j++) {
        cpx v = cmul(work[j], p->filter[j]);
        work[j] = (cpx){v.re, -v.im};
    }
    fft_pow2(p->tw, m, work);
    double s = 1.0 / (double)m;
    for (int64_t k = 0; k < n; k++)
        x[k] = cmul((cpx){work[k].re * s, -work[k].im * s}, p->chirp[k]);
}

/* The inverse is the forward transform conjugated on both sides, scaled by 1/n as numpy's
 * ifft (and ONNX's inverse DFT) are. */
static void fft_run(const fft_plan *p, bool inverse, cpx *x, cpx *work)
{
    if (!inverse) {
        fft_forward(p, x, work);
        return;
    }
    for (int64_t j = 0; j < p->n; j++)
        x[j].im = -x[j].im;
    fft_forward(p, x, work);
    double s = 1.0 / (double)p->n;
    for (int64_t j = 0; j < p->n; j++)
        x[j] = (cpx){x[j].re * s, -x[j].im * s};
}

static uint64_t fft_flops(int64_t n)
{
    uint64_t lg = 1;
    while (((int64_t)1 << lg) < n && lg < 62)
        lg++;
    uint64_t f = 5 * (uint64_t)n * lg;
    return is_pow2(n) ? f : 3 * f; /* Bluestein: three transforms of about twice the length */
}

/* ---- the row loop shared by DFT and STFT --------------------------------------------------- */

/* Rows are independent transforms: row r reads n_in samples starting at in_off(r), stride
 * in_step (complex pairs when complex_in), optionally times a window, zero-pads to n, and
 * writes n_out bins (re, im) starting at out_off(r), stride out_step. */
typedef struct rows_job {
    const fft_plan *plan;
    bool inverse, complex_in;
    bool hermitian; /* the input is the first n / 2 + 1 bins of a real signal's spectrum (irfft) */
    bool real_out;  /* write only the real part (one value per bin) */
    const tt_tensor *x, *window;
    tt_tensor *y;
    int64_t n_in, n_out;
    int64_t in_step, out_step;
    /* row r = (a, b) with a = r / rows_b, b = r % rows_b; offsets are in elements */
    int64_t rows_b;
    int64_t in_a, in_b, out_a, out_b;
    atomic_bool nomem;
} rows_job;

static void rows_range(void *arg, int64_t begin, int64_t end)
{
    rows_job *j = arg;
    const fft_plan *p = j->plan;
    cpx *x = tt_malloc((size_t)(p->n + p->m) * sizeof *x);
    if (!x) {
        atomic_store(&j->nomem, true);
        return;
    }
    cpx *work = x + p->n;
    tt_dtype xt = j->x->dtype, yt = j->y->dtype;
    for (int64_t r = begin; r < end; r++) {
        int64_t a = r / j->rows_b, b = r % j->rows_b;
        int64_t in = a * j->in_a + b * j->in_b, out = a * j->out_a + b * j->out_b;
        for (int64_t k = 0; k < p->n; k++) {
            if (k >= j->n_in) {
                x[k] = (cpx){0, 0};
                continue;
            }
            size_t at = (size_t)(in + k * j->in_step);
            double re = tt_load_f64(j->x->data, xt, at), im = j->complex_in ? tt_load_f64(j->x->data, xt, at + 1) : 0;
            if (j->window) {
                double w = tt_load_f64(j->window->data, j->window->dtype, (size_t)k);
                re *= w;
                im *= w;
            }
            x[k] = (cpx){re, im};
        }
        if (j->hermitian) { /* the rest of the spectrum mirrors the first half, conjugated */
            int64_t half = p->n / 2 + 1;
            x[0].im = 0;
            if (p->n % 2 == 0)
                x[p->n / 2].im = 0;
            for (int64_t k = half; k < p->n; k++)
                x[k] = (cpx){x[p->n - k].re, -x[p->n - k].im};
        }
        fft_run(p, j->inverse, x, work);
        for (int64_t k = 0; k < j->n_out; k++) {
            size_t at = (size_t)(out + k * j->out_step);
            tt_store_f64(j->y->data, yt, at, x[k].re);
            if (!j->real_out)
                tt_store_f64(j->y->data, yt, at + 1, x[k].im);
        }
    }
    tt_free(x);
}

static tt_status run_rows(const tt_node *node, rows_job *j, int64_t rows)
{
    atomic_init(&j->nomem, false);
    if (rows > 0) {
        int64_t grain = 1 + 65536 / (j->plan->m + 1); /* a few tens of thousands of samples per task */
        double m = (double)j->plan->m, cost = 8.0 * m * (log2(m + 1) + 1);
        tt_parallel_for_stoppable(rows, grain, cost, rows_range, j);
    }
    if (atomic_load(&j->nomem))
        return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory for transform buffers");
    return TT_OK;
}

/* ---- DFT (opset 17: axis is an attribute; 20: input 2. dft_length is input 1) ------------ */

/* The signal axis: counted over the whole shape (the re/im pair last, never the axis); opset
 * 17 also keeps off the batch dim. ax: input 2's value at opset 20 (NULL: the default -2). */
static tt_status dft_axis(const tt_node *n, const tt_tensor *ax, int rank, int *axis)
{
    int64_t a0 = n->opset >= 20 ? -2 : tt_attr_int(n, "axis", 1);
    if (n->opset >= 20 && ax)
        TT_TRY(scalar_int(n, ax, "axis", &a0));
    int64_t a = a0 < 0 ? a0 + rank : a0, lo = n->opset >= 20 ? 0 : 1;
    if (a < lo || a > rank - 2)
        return tt_op_error(n, TETHER_ERR_SHAPE, "axis %" PRId64 " is not a signal axis of a rank-%d input (%" PRId64
                           "..%d)", a0, rank, lo, rank - 2);
    *axis = (int)a;
    return TT_OK;
}

static tt_status dft_check_attrs(const tt_node *n)
{
    int64_t inv = tt_attr_int(n, "inverse", 0), one = tt_attr_int(n, "onesided", 0);
    if ((inv != 0 && inv != 1) || (one != 0 && one != 1))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "inverse and onesided must be 0 or 1");
    return TT_OK;
}

static tt_status dft_length(const tt_node *n, const tt_tensor *t, int64_t *len)
{
    TT_TRY(scalar_int(n, t, "dft_length", len));
    if (*len < 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "dft_length must be positive, got %" PRId64, *len);
    return TT_OK;
}

/* Forward onesided (rfft) keeps bins 0..n/2 of a real input; inverse onesided (irfft) takes
 * those bins of a complex input and gives the real signal of length n (default 2 (bins - 1)). */
static tt_status infer_dft(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    TT_TRY(dft_check_attrs(c->node));
    bool onesided = tt_attr_int(c->node, "onesided", 0) != 0, inverse = tt_attr_int(c->node, "inverse", 0) != 0;
    if (x->rank < 0 || (c->node->opset >= 20 && tt_iin(c, 2) && !tt_ival(c, 2))) {
        tt_infer_tensor(c, 0, x->dtype, x->rank, NULL);
        return TT_OK;
    }
    if (x->rank < 2 + (c->node->opset < 20))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input must be [batch, signal dims..., 1 or 2], got rank %d",
                           x->rank);
    int64_t last = x->dims[x->rank - 1];
    if (last >= 0 && last != 1 && last != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE,
                           "the last dimension must be 1 (real) or 2 (complex), got %" PRId64, last);
    if (onesided && !inverse && last == 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "onesided output needs a real input (last dimension 1)");
    if (onesided && inverse && last == 1)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "an inverse onesided DFT needs a complex input (last dimension 2)");
    int axis;
    TT_TRY(dft_axis(c->node, tt_ival(c, 2), x->rank, &axis));
    int64_t n = x->dims[axis];
    if (onesided && inverse && n >= 0)
        n = 2 * (n - 1);
    if (tt_iin(c, 1)) {
        const tt_tensor *lv = tt_ival(c, 1);
        n = TT_DIM_UNKNOWN;
        if (lv)
            TT_TRY(dft_length(c->node, lv, &n));
    }
    if (onesided && inverse && n == 0)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "an inverse onesided DFT of one bin needs dft_length");
    int64_t dims[TT_MAX_RANK];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    dims[axis] = n >= 0 && onesided && !inverse ? n / 2 + 1 : n >= 0 ? n : TT_DIM_UNKNOWN;
    dims[x->rank - 1] = onesided && inverse ? 1 : 2;
    tt_infer_tensor(c, 0, x->dtype, x->rank, dims);
    return TT_OK;
}

static tt_status run_dft(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *lt = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    int axis;
    TT_TRY(dft_axis(c->node, c->node->opset >= 20 ? tt_kin(c, 2) : NULL, x->rank, &axis));
    bool inverse = tt_attr_int(c->node, "inverse", 0) != 0;
    bool irfft = inverse && tt_attr_int(c->node, "onesided", 0) != 0;
    int64_t len = x->dims[axis], n = irfft ? 2 * (len - 1) : len;
    if (lt)
        TT_TRY(dft_length(c->node, lt, &n));
    int64_t inner = tt_dims_prod(x->dims, axis + 1, x->rank - 1), outer = tt_dims_prod(x->dims, 0, axis);
    int64_t cin = x->dims[x->rank - 1], n_out = y->dims[axis], cout = y->dims[y->rank - 1];
    if (outer * inner == 0 || n_out == 0)
        return TT_OK;
    fft_plan plan;
    TT_TRY(fft_plan_init(c->node, n, &plan));
    int64_t n_in = len < n ? len : n;
    if (irfft && n_in > n / 2 + 1)
        n_in = n / 2 + 1;
    rows_job j = {
        .plan = &plan,
        .inverse = inverse,
        .complex_in = cin == 2,
        .hermitian = irfft,
        .real_out = cout == 1,
        .x = x,
        .y = y,
        .n_in = n_in,
        .n_out = n_out,
        .in_step = inner * cin,
        .out_step = inner * cout,
        .rows_b = inner,
        .in_a = len * inner * cin,
        .in_b = cin,
        .out_a = n_out * inner * cout,
        .out_b = cout,
    };
    tt_status s = run_rows(c->node, &j, outer * inner);
    fft_plan_free(&plan);
    return s;
}

static uint64_t flops_dft(const tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    int axis;
    if (!x || x->rank < 2 || dft_axis(c->node, c->node->opset >= 20 ? tt_ival(c, 2) : NULL, x->rank, &axis) != TT_OK)
        return 0;
    int64_t n = x->dims[axis];
    const tt_tensor *lt = tt_ival(c, 1);
    if (lt && scalar_int(c->node, lt, "dft_length", &n) != TT_OK)
        return 0;
    uint64_t rows = (uint64_t)tt_dims_prod(x->dims, 0, x->rank - 1) / (uint64_t)(x->dims[axis] ? x->dims[axis] : 1);
    return rows * fft_flops(n);
}

/* ---- STFT (opset 17) ------------------------------------------------------------------------ */

typedef struct stft_geom {
    int64_t batch, length, channels; /* signal [batch, length, channels] */
    int64_t step, frame, frames, bins;
} stft_geom;

/* Works out what can be known; unknown quantities stay negative (at load). */
static tt_status stft_geometry(const tt_node *n, const tt_type *sig, const tt_tensor *step_v, const tt_type *win,
                               const tt_tensor *len_v, bool have_len, stft_geom *g)
{
    int64_t one = tt_attr_int(n, "onesided", 1);
    if (one != 0 && one != 1)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "onesided must be 0 or 1");
    if (sig->rank >= 0 && sig->rank != 3)
        return tt_op_error(n, TETHER_ERR_SHAPE, "signal must be [batch, length, 1 or 2], got rank %d", sig->rank);
    g->batch = sig->rank == 3 ? sig->dims[0] : TT_DIM_UNKNOWN;
    g->length = sig->rank == 3 ? sig->dims[1] : TT_DIM_UNKNOWN;
    g->channels = sig->rank == 3 ? sig->dims[2] : TT_DIM_UNKNOWN;
    if (g->channels >= 0 && g->channels != 1 && g->channels != 2)
        return tt_op_error(n, TETHER_ERR_SHAPE,
                           "the signal's last dimension must be 1 (real) or 2 (complex), got %" PRId64, g->channels);
    if (one && g->channels == 2)
        return tt_op_error(n, TETHER_ERR_SHAPE, "onesided output needs a real signal; set onesided=0");
    g->step = TT_DIM_UNKNOWN;
    if (step_v) {
        TT_TRY(scalar_int(n, step_v, "frame_step", &g->step));
        if (g->step < 1)
            return tt_op_error(n, TETHER_ERR_SHAPE, "frame_step must be positive, got %" PRId64, g->step);
    }
    int64_t wlen = TT_DIM_UNKNOWN;
    if (win) {
        if (win->rank >= 0 && win->rank != 1)
            return tt_op_error(n, TETHER_ERR_SHAPE, "window must be 1-D, got rank %d", win->rank);
        wlen = win->rank == 1 ? win->dims[0] : TT_DIM_UNKNOWN;
    }
    g->frame = wlen;
    if (len_v) {
        TT_TRY(scalar_int(n, len_v, "frame_length", &g->frame));
        if (g->frame < 1)
            return tt_op_error(n, TETHER_ERR_SHAPE, "frame_length must be positive, got %" PRId64, g->frame);
        if (wlen >= 0 && wlen != g->frame)
            return tt_op_error(n, TETHER_ERR_SHAPE, "the window has %" PRId64 " samples but frame_length is %" PRId64,
                               wlen, g->frame);
    } else if (have_len) {
        g->frame = TT_DIM_UNKNOWN;
    } else if (!win) {
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "needs a window or a frame_length");
    }
    if (g->frame == 0)
        return tt_op_error(n, TETHER_ERR_SHAPE, "the window is empty");
    g->frames = TT_DIM_UNKNOWN;
    if (g->frame >= 0 && g->length >= 0) {
        if (g->frame > g->length)
            return tt_op_error(n, TETHER_ERR_SHAPE, "frames of %" PRId64 " samples do not fit a signal of %" PRId64,
                               g->frame, g->length);
        if (g->step >= 1)
            g->frames = 1 + (g->length - g->frame) / g->step;
    }
    g->bins = g->frame < 0 ? TT_DIM_UNKNOWN : one ? g->frame / 2 + 1 : g->frame;
    return TT_OK;
}

static tt_status infer_stft(tt_ictx *c)
{
    const tt_type *sig = tt_iin(c, 0);
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    stft_geom g;
    TT_TRY(stft_geometry(c->node, sig, tt_ival(c, 1), tt_iin(c, 2), tt_ival(c, 3), tt_iin(c, 3) != NULL, &g));
    int64_t dims[4] = {g.batch, g.frames, g.bins, 2};
    tt_infer_tensor(c, 0, sig->dtype, 4, dims);
    return TT_OK;
}

static tt_status run_stft(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *win = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    tt_type sig, wt;
    tt_type_tensor(&sig, x->dtype, x->rank, x->dims);
    if (win)
        tt_type_tensor(&wt, win->dtype, win->rank, win->dims);
    stft_geom g;
    TT_TRY(stft_geometry(c->node, &sig, tt_kin(c, 1), win ? &wt : NULL, tt_kin(c, 3), tt_kin(c, 3) != NULL, &g));
    if (g.batch * g.frames == 0)
        return TT_OK;
    fft_plan plan;
    TT_TRY(fft_plan_init(c->node, g.frame, &plan));
    rows_job j = {
        .plan = &plan,
        .complex_in = g.channels == 2,
        .x = x,
        .window = win,
        .y = y,
        .n_in = g.frame,
        .n_out = g.bins,
        .in_step = g.channels,
        .out_step = 2,
        .rows_b = g.frames,
        .in_a = g.length * g.channels,
        .in_b = g.step * g.channels,
        .out_a = g.frames * g.bins * 2,
        .out_b = g.bins * 2,
    };
    tt_status s = run_rows(c->node, &j, g.batch * g.frames);
    fft_plan_free(&plan);
    return s;
}

static uint64_t flops_stft(const tt_ictx *c)
{
    const tt_type *y = &c->out[0];
    if (y->rank != 4 || !tt_type_static(y))
        return 0;
    int64_t frame = tt_attr_int(c->node, "onesided", 1) ? (y->dims[2] - 1) * 2 : y->dims[2];
    return (uint64_t)(y->dims[0] * y->dims[1]) * fft_flops(frame > 0 ? frame : 1);
}

/* ---- windows: w[k] = a0 - a1 cos(2πk/N) + a2 cos(4πk/N) --------------------------------------- */

static tt_status window_size(const tt_node *n, const tt_tensor *t, int64_t *size)
{
    TT_TRY(scalar_int(n, t, "size", size));
    if (*size < 0)
        return tt_op_error(n, TETHER_ERR_SHAPE, "size must not be negative, got %" PRId64, *size);
    return TT_OK;
}

static tt_status infer_window(tt_ictx *c)
{
    tt_dtype dt;
    TT_TRY(output_datatype(c->node, &dt));
    int64_t size = TT_DIM_UNKNOWN;
    if (tt_ival(c, 0))
        TT_TRY(window_size(c->node, tt_ival(c, 0), &size));
    tt_infer_tensor(c, 0, dt, 1, &size);
    return TT_OK;
}

static tt_status run_window(tt_kctx *c, double a0, double a1, double a2)
{
    int64_t size;
    TT_TRY(window_size(c->node, tt_kin(c, 0), &size));
    tt_tensor *y = tt_kout(c, 0);
    /* periodic: one period of a window of size + 1 points; symmetric: its ends meet */
    int64_t N = tt_attr_int(c->node, "periodic", 1) ? size : size - 1;
    for (int64_t k = 0; k < size; k++) {
        double w = 1.0; /* a one-point symmetric window is [1], as numpy and torch define it */
        if (N > 0) {
            double t = 2.0 * M_PI * (double)k / (double)N;
            w = a0 - a1 * cos(t) + a2 * cos(2.0 * t);
        }
        tt_store_f64(y->data, y->dtype, (size_t)k, w);
    }
    return TT_OK;
}

static tt_status run_hann(tt_kctx *c)
{
    return run_window(c, 0.5, 0.5, 0.0);
}
static tt_status run_hamming(tt_kctx *c)
{
    return run_window(c, 25.0 / 46.0, 21.0 / 46.0, 0.0);
}
static tt_status run_blackman(tt_kctx *c)
{
    return run_window(c, 0.42, 0.5, 0.08);
}

/* ---- MelWeightMatrix ------------------------------------------------------------------------- */

typedef struct mel_args {
    int64_t bins, dft_length, sample_rate;
    double lower, upper;
} mel_args;

static tt_status mel_int(const tt_node *n, const tt_tensor *t, const char *what, int64_t *v)
{
    TT_TRY(scalar_int(n, t, what, v));
    if (*v < 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "%s must be positive, got %" PRId64, what, *v);
    return TT_OK;
}

static tt_status infer_mel(tt_ictx *c)
{
    tt_dtype dt;
    TT_TRY(output_datatype(c->node, &dt));
    TT_TRY(tt_infer_same_dtype(c, 3, 4));
    int64_t dims[2] = {TT_DIM_UNKNOWN, TT_DIM_UNKNOWN}, v;
    if (tt_ival(c, 1)) {
        TT_TRY(mel_int(c->node, tt_ival(c, 1), "dft_length", &v));
        dims[0] = v / 2 + 1;
    }
    if (tt_ival(c, 0))
        TT_TRY(mel_int(c->node, tt_ival(c, 0), "num_mel_bins", &dims[1]));
    tt_infer_tensor(c, 0, dt, 2, dims);
    return TT_OK;
}

static double hz_to_mel(double hz)
{
    return 2595.0 * log10(1.0 + hz / 700.0);
}
static double mel_to_hz(double mel)
{
    return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
}

/* Triangles over spectrogram bins, each peaking at 1, whose edges are points equally spaced
 * on the mel scale and snapped down to a bin, as the ONNX reference does: the mel range is
 * split into num_mel_bins + 2 steps and bin(f) = floor((dft_length + 1) f / sample_rate). */
static tt_status run_mel(tt_kctx *c)
{
    const tt_node *n = c->node;
    mel_args a;
    TT_TRY(mel_int(n, tt_kin(c, 0), "num_mel_bins", &a.bins));
    TT_TRY(mel_int(n, tt_kin(c, 1), "dft_length", &a.dft_length));
    TT_TRY(mel_int(n, tt_kin(c, 2), "sample_rate", &a.sample_rate));
    TT_TRY(scalar_real(n, tt_kin(c, 3), "lower_edge_hertz", &a.lower));
    TT_TRY(scalar_real(n, tt_kin(c, 4), "upper_edge_hertz", &a.upper));
    if (!(a.lower >= 0) || !(a.upper > a.lower) || !isfinite(a.upper))
        return tt_op_error(n, TETHER_ERR_RUNTIME, "need 0 <= lower_edge_hertz < upper_edge_hertz, got %g and %g",
                           a.lower, a.upper);
    tt_tensor *y = tt_kout(c, 0);
    int64_t nspec = a.dft_length / 2 + 1, nb = a.bins;
    int64_t *edge = tt_malloc((size_t)(nb + 2) * sizeof *edge);
    if (!edge)
        return tt_op_error(n, TETHER_ERR_NO_MEMORY, "out of memory");
    double lo = hz_to_mel(a.lower), step = (hz_to_mel(a.upper) - lo) / (double)(nb + 2);
    for (int64_t i = 0; i < nb + 2; i++) {
        double b = floor(((double)a.dft_length + 1.0) * mel_to_hz(lo + step * (double)i) / (double)a.sample_rate);
        /* clamp before converting: a far edge only needs to lie past the last bin */
        edge[i] = b > (double)nspec ? nspec : (int64_t)b;
    }
    for (int64_t j = 0; j < nspec; j++) {
        for (int64_t i = 0; i < nb; i++) {
            int64_t l = edge[i], m = edge[i + 1], r = edge[i + 2];
            double w = 0;
            if (j >= l && j <= m)
                w = m == l ? 1.0 : (double)(j - l) / (double)(m - l);
            else if (j > m && j < r)
                w = (double)(r - j) / (double)(r - m);
            tt_store_f64(y->data, y->dtype, (size_t)(j * nb + i), w);
        }
    }
    tt_free(edge);
    return TT_OK;
}

#define DFT_TYPES TT_DTS_FLOAT
#define INDEX_TYPES (TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64))

const tt_op_schema tt_schemas_signal[] = {
    TT_SCHEMA("DFT", 17, 0, infer_dft, .flops = flops_dft),
    TT_SCHEMA("STFT", 17, 0, infer_stft, .flops = flops_stft),
    TT_SCHEMA("HannWindow", 17, 0, infer_window),
    TT_SCHEMA("HammingWindow", 17, 0, infer_window),
    TT_SCHEMA("BlackmanWindow", 17, 0, infer_window),
    TT_SCHEMA("MelWeightMatrix", 17, 0, infer_mel),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_signal[] = {
    TT_KERNEL("DFT", 17, 0, DFT_TYPES, run_dft, .host_inputs = 0x6),
    TT_KERNEL("STFT", 17, 0, DFT_TYPES, run_stft),
    TT_KERNEL("HannWindow", 17, 0, INDEX_TYPES, run_hann),
    TT_KERNEL("HammingWindow", 17, 0, INDEX_TYPES, run_hamming),
    TT_KERNEL("BlackmanWindow", 17, 0, INDEX_TYPES, run_blackman),
    TT_KERNEL("MelWeightMatrix", 17, 0, INDEX_TYPES, run_mel),
    TT_KERNEL_END,
};
