/* Resampling: Resize (opsets 10-19: nearest / linear / cubic, every coordinate
 * transformation and nearest rounding mode, scales or sizes, antialiasing, axes and aspect
 * ratio policies), Upsample (7, 9), GridSample (16, 20, 22) and RoiAlign (10, 16). Resize precomputes, per output coordinate of each dim, the
 * input taps and weights; an output element is then the tensor product of its dims' taps. */
#include "ops/nnutil.h"

#include <inttypes.h>

/* Keeps coordinates inside the range where converting them to int64 is defined; anything
 * beyond is far outside any tensor anyway. */
static int64_t floor_to_index(double v)
{
    if (!(v > -1e15))
        return INT64_MIN / 2;
    if (v > 1e15)
        return INT64_MAX / 2;
    return (int64_t)floor(v);
}

static int64_t clamp_index(int64_t i, int64_t n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* Keys' cubic convolution weights of the taps at floor(x) - 1 .. floor(x) + 2, t = x - floor(x). */
static void cubic_weights(double t, double A, double w[4])
{
    double s = t + 1, u = 1 - t, v = 2 - t;
    w[0] = ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * u - (A + 3)) * u * u + 1;
    w[3] = ((A * v - 5 * A) * v + 8 * A) * v - 4 * A;
}

/* ---- Resize / Upsample: attributes ------------------------------------------------------------ */

typedef enum { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC } interp_mode;
typedef enum {
    CT_HALF_PIXEL,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
    CT_HALF_PIXEL_SYMMETRIC
} coord_mode;
typedef enum { KEEP_STRETCH, KEEP_NOT_LARGER, KEEP_NOT_SMALLER } keep_policy;
typedef enum { NEAREST_ROUND_PREFER_FLOOR, NEAREST_ROUND_PREFER_CEIL, NEAREST_FLOOR, NEAREST_CEIL } nearest_mode;

typedef struct resize_state {
    interp_mode mode;
    coord_mode coord;
    nearest_mode nearest;
    double cubic_a;
    bool exclude_outside;
    float extrapolation;
    int scales_input, sizes_input, roi_input; /* input positions, -1: none */
    bool antialias;                           /* opset 18: linear and cubic downsampling filter */
    keep_policy keep;                         /* opset 18: sizes keep the aspect ratio */
    int n_axes;                               /* opset 18: the axes scales/sizes/roi name; 0: all */
    int64_t axes[TT_MAX_RANK];
} resize_state;

static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static tt_status resize_prepare(tt_node *node, void **state)
{
    bool upsample = strcmp(node->op_type, "Upsample") == 0, v10 = upsample || node->opset < 11;
    static const char *const modes[] = {"nearest", "linear", "cubic", "bilinear"};
    static const char *const coords[] = {"half_pixel",         "pytorch_half_pixel",
                                         "align_corners",      "asymmetric",
                                         "tf_half_pixel_for_nn", "tf_crop_and_resize",
                                         "half_pixel_symmetric"};
    static const char *const keeps[] = {"stretch", "not_larger", "not_smaller"};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    const char *m = tt_attr_string(node, "mode", "nearest");
    int mode = pick(m, modes, 4);
    if (mode == 3) /* Upsample-1's name for linear */
        mode = MODE_LINEAR;
    if (mode < 0 || (v10 && mode == MODE_CUBIC))
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "unknown mode '%s'", m);
    resize_state st = {.mode = (interp_mode)mode,
                       .cubic_a = tt_attr_float(node, "cubic_coeff_a", -0.75f),
                       .exclude_outside = tt_attr_int(node, "exclude_outside", 0) != 0,
                       .extrapolation = tt_attr_float(node, "extrapolation_value", 0.0f)};
    if (v10) {
        /* Upsample and Resize-10 sample at x / scale and round nearest down */
        st.coord = CT_ASYMMETRIC;
        st.nearest = NEAREST_FLOOR;
        st.roi_input = st.sizes_input = -1;
        st.scales_input = upsample && node->opset < 9 ? -1 : 1;
    } else {
        const char *c = tt_attr_string(node, "coordinate_transformation_mode", "half_pixel");
        const char *nm = tt_attr_string(node, "nearest_mode", "round_prefer_floor");
        int ci = pick(c, coords, node->opset >= 19 ? 7 : 6), ni = pick(nm, nearests, 4);
        if (ci < 0)
            return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "unknown coordinate_transformation_mode '%s'", c);
        if (ni < 0)
            return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "unknown nearest_mode '%s'", nm);
        st.coord = (coord_mode)ci;
        st.nearest = (nearest_mode)ni;
        st.roi_input = 1, st.scales_input = 2, st.sizes_input = 3;
    }
    if (!upsample && node->opset >= 18) {
        const char *k = tt_attr_string(node, "keep_aspect_ratio_policy", "stretch");
        int ki = pick(k, keeps, 3);
        if (ki < 0)
            return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "unknown keep_aspect_ratio_policy '%s'", k);
        st.keep = (keep_policy)ki;
        st.antialias = tt_attr_int(node, "antialias", 0) != 0 && st.mode != MODE_NEAREST;
        size_t na = 0;
        const int64_t *ax = tt_attr_ints(node, "axes", &na);
        if (na > TT_MAX_RANK)
            return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "axes has %zu entries", na);
        for (size_t i = 0; ax && i < na; i++)
            st.axes[i] = ax[i];
        st.n_axes = ax ? (int)na : 0;
    }
    resize_state *p = tt_malloc(sizeof *p);
    if (!p)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", node->name);
    *p = st;
    *state = p;
    return TT_OK;
}

/* ---- Resize / Upsample: output shape ------------------------------------------------------------- */

/* Whether an optional input is certainly absent (omitted, or empty: Resize-11 passes empty
 * tensors for unused scales / roi) or certainly given; at load it may be neither. */
static bool absent(const tt_type *t)
{
    return !t || (t->rank == 1 && t->dims[0] == 0);
}
static bool present(const tt_type *t)
{
    if (!t || t->rank < 0)
        return false;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] <= 0)
            return false;
    return true;
}

/* The axes scales, sizes and roi name, normalised: all of them when the attribute is absent. */
static tt_status resize_axes(const tt_node *node, const resize_state *st, int rank, int *axes, int *n)
{
    if (!st->n_axes) {
        for (int i = 0; i < rank; i++)
            axes[i] = i;
        *n = rank;
        return TT_OK;
    }
    *n = st->n_axes;
    return tt_norm_axes(node, st->axes, st->n_axes, rank, axes);
}

/* The scales (one per axis) from the attribute (Upsample-7) or input, if known yet. */
static tt_status read_scales(const tt_node *node, const resize_state *st, const tt_tensor *t, int want,
                             double *scales, bool *known)
{
    *known = false;
    const float *f = NULL;
    int64_t n = 0;
    if (st->scales_input < 0) {
        size_t len = 0;
        f = tt_attr_floats(node, "scales", &len);
        if (!f)
            return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "the 'scales' attribute is required");
        n = (int64_t)len;
    } else if (t) {
        if (t->dtype != TETHER_DTYPE_FLOAT)
            return tt_op_error(node, TETHER_ERR_SHAPE, "scales must be float32, got %s", tt_dtype_name(t->dtype));
        f = t->data;
        n = tt_tensor_numel(t);
    } else {
        return TT_OK;
    }
    if (n != want)
        return tt_op_error(node, TETHER_ERR_SHAPE, "scales has %" PRId64 " entries; %d axes are resized", n, want);
    for (int i = 0; i < want; i++) {
        if (!(f[i] > 0) || isinf(f[i]))
            return tt_op_error(node, TETHER_ERR_SHAPE, "scales[%d] is %g; it must be positive", i, (double)f[i]);
        scales[i] = f[i];
    }
    *known = true;
    return TT_OK;
}

/* Output dims and per-dim scales from X's dims and the scales or sizes, when known. */
static tt_status resize_shape(const tt_node *node, const resize_state *st, int rank, const int64_t *in,
                              const tt_tensor *scales_t, const tt_tensor *sizes_t, int64_t *out, double *scales,
                              bool *known)
{
    *known = false;
    int axes[TT_MAX_RANK], na;
    TT_TRY(resize_axes(node, st, rank, axes, &na));
    for (int i = 0; i < rank; i++)
        out[i] = in[i], scales[i] = 1;
    if (sizes_t) {
        int64_t n, sz[TT_MAX_RANK];
        TT_TRY(tt_tensor_to_ints(node, sizes_t, sz, TT_MAX_RANK, &n));
        if (n != na)
            return tt_op_error(node, TETHER_ERR_SHAPE, "sizes has %" PRId64 " entries; %d axes are resized", n, na);
        for (int k = 0; k < na; k++) {
            int i = axes[k];
            if (sz[k] < 0)
                return tt_op_error(node, TETHER_ERR_SHAPE, "sizes[%d] is %" PRId64, k, sz[k]);
            if (in[i] == 0 && sz[k] > 0)
                return tt_op_error(node, TETHER_ERR_SHAPE, "cannot resize empty dim %d to %" PRId64, i, sz[k]);
            out[i] = sz[k];
            scales[i] = in[i] > 0 ? (double)sz[k] / (double)in[i] : 1;
        }
        if (st->keep != KEEP_STRETCH && na > 0) {
            /* one scale for every resized axis: the smallest (not_larger) or largest */
            double sc = scales[axes[0]];
            for (int k = 1; k < na; k++)
                sc = st->keep == KEEP_NOT_LARGER ? fmin(sc, scales[axes[k]]) : fmax(sc, scales[axes[k]]);
            for (int k = 0; k < na; k++) {
                double o = sc * (double)in[axes[k]] + 0.5;
                if (o > (double)((int64_t)1 << 40))
                    return tt_op_error(node, TETHER_ERR_SHAPE, "sizes make dim %d too large", axes[k]);
                scales[axes[k]] = sc;
                out[axes[k]] = (int64_t)o;
            }
        }
        *known = true;
        return TT_OK;
    }
    double sc[TT_MAX_RANK];
    TT_TRY(read_scales(node, st, scales_t, na, sc, known));
    for (int k = 0; *known && k < na; k++) {
        int i = axes[k];
        double o = floor((double)in[i] * sc[k]);
        if (o > (double)((int64_t)1 << 40))
            return tt_op_error(node, TETHER_ERR_SHAPE, "scales[%d] = %g makes dim %d too large", k, sc[k], i);
        out[i] = (int64_t)o;
        scales[i] = sc[k];
    }
    return TT_OK;
}

static tt_status infer_resize(tt_ictx *c)
{
    const resize_state *st = c->node->state;
    const tt_type *x = tt_iin(c, 0);
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (x->rank == 0)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X must have rank >= 1");
    if (st->roi_input >= 0)
        TT_TRY(tt_infer_check_dtype(c, st->roi_input, TT_DTS_FLOAT));
    if (st->scales_input >= 0)
        TT_TRY(tt_infer_check_dtype(c, st->scales_input, TT_DT(TETHER_DTYPE_FLOAT)));
    if (st->sizes_input >= 0)
        TT_TRY(tt_infer_check_dtype(c, st->sizes_input, TT_DT(TETHER_DTYPE_INT64)));
    const tt_type *ts = st->scales_input >= 0 ? tt_iin(c, st->scales_input) : NULL;
    const tt_type *tz = st->sizes_input >= 0 ? tt_iin(c, st->sizes_input) : NULL;
    bool has_scales = st->scales_input < 0 || present(ts), has_sizes = present(tz);
    if ((has_scales && has_sizes) || (st->scales_input >= 0 && absent(ts) && absent(tz)))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "exactly one of scales and sizes must be given");
    const tt_tensor *sv = has_scales && ts ? tt_ival(c, st->scales_input) : NULL;
    const tt_tensor *zv = has_sizes ? tt_ival(c, st->sizes_input) : NULL;
    bool in_known = true;
    for (int i = 0; i < x->rank; i++)
        in_known &= x->dims[i] >= 0;
    int64_t out[TT_MAX_RANK];
    double scales[TT_MAX_RANK];
    bool known = false;
    if (in_known && (sv || zv || st->scales_input < 0))
        TT_TRY(resize_shape(c->node, st, x->rank, x->dims, sv, zv, out, scales, &known));
    else if (zv && tt_tensor_numel(zv) == x->rank && !st->n_axes && st->keep == KEEP_STRETCH) {
        /* sizes alone fix the output even where X is symbolic */
        int64_t n;
        TT_TRY(tt_tensor_to_ints(c->node, zv, out, TT_MAX_RANK, &n));
        known = true;
    }
    tt_infer_tensor(c, 0, x->dtype, x->rank, known ? out : NULL);
    return TT_OK;
}

/* ---- Resize / Upsample: taps ---------------------------------------------------------------------- */

/* For every output coordinate of one dim: n input taps (index, weight), or `outside` when
 * tf_crop_and_resize maps it outside the input (the output is extrapolation_value). */
typedef struct dim_taps {
    int n;
    int64_t *idx;
    double *w;
    uint8_t *outside;
} dim_taps;

/* The input coordinate output coordinate x samples. As in the ONNX reference, the resized
 * length is in * scale: the output size when sizes are given, possibly fractional for scales. */
static double source_coord(const resize_state *st, double x, double scale, int64_t in, int64_t out, double r0,
                           double r1)
{
    double len = scale * (double)in;
    switch (st->coord) {
    case CT_HALF_PIXEL: return (x + 0.5) / scale - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: /* the centre of the input maps to the centre of the output */
        return (double)in / 2 * (1 - (double)out / len) + (x + 0.5) / scale - 0.5;
    case CT_PYTORCH_HALF_PIXEL: return len > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case CT_ALIGN_CORNERS: return len == 1 ? 0 : x * (double)(in - 1) / (len - 1);
    case CT_ASYMMETRIC: return x / scale;
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / scale;
    case CT_TF_CROP_AND_RESIZE:
        return len > 1 ? r0 * (double)(in - 1) + x * (r1 - r0) * (double)(in - 1) / (len - 1)
                       : 0.5 * (r0 + r1) * (double)(in - 1);
    }
    return 0;
}

/* Taps per output coordinate of a dim: 1, 2 or 4; with antialias, a downsampling linear or
 * cubic filter stretched by 1 / scale. */
static int taps_per_coord(const resize_state *st, double scale)
{
    if (st->mode == MODE_NEAREST)
        return 1;
    if (!st->antialias || scale >= 1)
        return st->mode == MODE_LINEAR ? 2 : 4;
    double reach = st->mode == MODE_LINEAR ? 1 : 2, n = 2 - 2 * (floor(-reach / scale) + 1);
    return n > 1024 ? 1024 : (int)n; /* past 256 the kernel refuses the node */
}

/* Keys' cubic kernel at distance x. */
static double cubic_at(double x, double A)
{
    x = fabs(x);
    if (x <= 1)
        return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2)
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
}

static void dim_taps_fill(const resize_state *st, dim_taps *t, int64_t in, int64_t out, double scale, double r0,
                          double r1)
{
    t->n = taps_per_coord(st, scale);
    bool aa = st->antialias && scale < 1 && st->mode != MODE_NEAREST;
    for (int64_t o = 0; o < out; o++) {
        double xs = source_coord(st, (double)o, scale, in, out, r0, r1);
        int64_t *idx = t->idx + o * t->n;
        double *w = t->w + o * t->n;
        t->outside[o] = st->coord == CT_TF_CROP_AND_RESIZE && (xs < 0 || xs > (double)(in - 1));
        int64_t f = floor_to_index(xs);
        double frac = xs - floor(xs);
        if (t->outside[o] || !(frac >= 0)) {
            frac = 0;
            f = 0;
        }
        if (st->mode == MODE_NEAREST) {
            int64_t i;
            switch (st->nearest) {
            case NEAREST_ROUND_PREFER_FLOOR: i = f + (frac > 0.5); break;
            case NEAREST_ROUND_PREFER_CEIL: i = f + (frac >= 0.5); break;
            case NEAREST_FLOOR: i = f; break;
            default: i = f + (frac > 0); break;
            }
            idx[0] = clamp_index(i, in);
            w[0] = 1;
            continue;
        }
        double cw[256];
        if (aa) {
            /* taps floor(x) + start .. in ONNX's reference; an integral x counts as the left
             * neighbour plus 1 */
            double reach = st->mode == MODE_LINEAR ? 1 : 2, sum = 0;
            int64_t start = (int64_t)floor(-reach / scale) + 1;
            if (frac == 0)
                f -= 1, frac = 1;
            for (int k = 0; k < t->n; k++) {
                double a = scale * ((double)(start + k) - frac);
                cw[k] = st->mode == MODE_LINEAR ? fmax(0, 1 - fabs(a)) : cubic_at(a, st->cubic_a);
                sum += cw[k];
            }
            for (int k = 0; k < t->n; k++)
                cw[k] = sum != 0 ? cw[k] / sum : 0;
            f += start;
        } else if (st->mode == MODE_LINEAR) {
            cw[0] = 1 - frac, cw[1] = frac;
        } else {
            cubic_weights(frac, st->cubic_a, cw);
            f -= 1;
        }
        double sum = 0;
        for (int k = 0; k < t->n; k++) {
            /* taps past the edge read the edge (or, with exclude_outside, drop out) */
            if (st->exclude_outside && (f + k < 0 || f + k >= in))
                cw[k] = 0;
            sum += cw[k];
            idx[k] = clamp_index(f + k, in);
        }
        for (int k = 0; k < t->n; k++)
            w[k] = st->exclude_outside && sum != 0 ? cw[k] / sum : cw[k];
    }
    /* a dim whose every coordinate reads one tap at full weight needs only that tap */
    bool single = t->n > 1;
    for (int64_t o = 0; single && o < out; o++) {
        int nz = 0;
        for (int k = 0; k < t->n; k++)
            nz += t->w[o * t->n + k] != 0;
        single = nz <= 1;
    }
    if (single) {
        for (int64_t o = 0; o < out; o++) {
            int64_t i = t->idx[o * t->n];
            double wt = 0;
            for (int k = 0; k < t->n; k++)
                if (t->w[o * t->n + k] != 0)
                    i = t->idx[o * t->n + k], wt = t->w[o * t->n + k];
            t->idx[o] = i;
            t->w[o] = wt;
        }
        t->n = 1;
    }
}

/* ---- Resize / Upsample: kernel ---------------------------------------------------------------------- */

/* Outer-dim tap combinations one output row may mix: cubic over 5 dims besides the last. */
#define RESIZE_MAX_COMBOS 1024

typedef struct resize_job {
    int rank;
    int64_t in[TT_MAX_RANK], out[TT_MAX_RANK], stride[TT_MAX_RANK];
    dim_taps taps[TT_MAX_RANK];
    int64_t max_combos; /* taps of every dim but the last, multiplied */
    double extrapolation;
    size_t es;         /* element size, for the exact copy of nearest */
    bool nearest_copy; /* every dim has one full-weight tap: copy elements */
    const void *x;
    void *y;
    tt_dtype dtype;
} resize_job;

/* The input offsets and weights that the outer coordinates o[0 .. rank-2] combine; false
 * when one of them lies outside (extrapolate). */
static bool outer_combos(const resize_job *j, const int64_t *o, int64_t *off, double *w, int64_t *n)
{
    *n = 1;
    off[0] = 0;
    w[0] = 1;
    for (int d = 0; d < j->rank - 1; d++) {
        const dim_taps *t = &j->taps[d];
        if (t->outside[o[d]])
            return false;
        int64_t m = *n;
        for (int k = t->n - 1; k >= 0; k--)
            for (int64_t c = 0; c < m; c++) {
                off[k * m + c] = off[c] + t->idx[o[d] * t->n + k] * j->stride[d];
                w[k * m + c] = w[c] * t->w[o[d] * t->n + k];
            }
        *n = m * t->n;
    }
    return true;
}

#define DEF_RESIZE_ROWS(NAME, T)                                                                                       \
    static void NAME(const resize_job *j, int64_t r0, int64_t r1, int64_t *off, double *w)                             \
    {                                                                                                                  \
        int R = j->rank;                                                                                               \
        const dim_taps *last = &j->taps[R - 1];                                                                        \
        int64_t olen = j->out[R - 1], o[TT_MAX_RANK] = {0};                                                            \
        for (int64_t r = r0; r < r1; r++) {                                                                            \
            for (int64_t d = R - 2, q = r; d >= 0; d--) {                                                              \
                o[d] = q % j->out[d];                                                                                  \
                q /= j->out[d];                                                                                        \
            }                                                                                                          \
            T *y = (T *)j->y + r * olen;                                                                               \
            int64_t nc;                                                                                                \
            bool inside = outer_combos(j, o, off, w, &nc);                                                             \
            for (int64_t x = 0; x < olen; x++) {                                                                       \
                if (!inside || last->outside[x]) {                                                                     \
                    y[x] = (T)j->extrapolation;                                                                        \
                    continue;                                                                                          \
                }                                                                                                      \
                const int64_t *li = last->idx + x * last->n;                                                           \
                const double *lw = last->w + x * last->n;                                                              \
                double acc = 0;                                                                                        \
                for (int64_t c = 0; c < nc; c++) {                                                                     \
                    const T *src = (const T *)j->x + off[c];                                                           \
                    double s = 0;                                                                                      \
                    for (int k = 0; k < last->n; k++)                                                                  \
                        s += lw[k] * src[li[k]];                                                                       \
                    acc += w[c] * s;                                                                                   \
                }                                                                                                      \
                y[x] = (T)acc;                                                                                         \
            }                                                                                                          \
        }                                                                                                              \
    }

DEF_RESIZE_ROWS(resize_rows_f32, float)
DEF_RESIZE_ROWS(resize_rows_f64, double)

/* Nearest without extrapolation moves elements unchanged, for every dtype. */
static void nearest_rows(const resize_job *j, int64_t r0, int64_t r1, int64_t *off, double *w)
{
    int R = j->rank;
    const dim_taps *last = &j->taps[R - 1];
    int64_t olen = j->out[R - 1], o[TT_MAX_RANK] = {0}, nc;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t d = R - 2, q = r; d >= 0; d--) {
            o[d] = q % j->out[d];
            q /= j->out[d];
        }
        outer_combos(j, o, off, w, &nc);
        const char *src = (const char *)j->x + (size_t)off[0] * j->es;
        char *y = (char *)j->y + (size_t)(r * olen) * j->es;
        switch (j->es) {
#define COPY(T)                                                                                                        \
    for (int64_t x = 0; x < olen; x++)                                                                                 \
        ((T *)y)[x] = ((const T *)src)[last->idx[x]];                                                                  \
    break;
        case 1: COPY(uint8_t)
        case 2: COPY(uint16_t)
        case 4: COPY(uint32_t)
        default: COPY(uint64_t)
#undef COPY
        }
    }
}

static void resize_task(void *arg, int64_t r0, int64_t r1)
{
    const resize_job *j = arg;
    int64_t off[RESIZE_MAX_COMBOS];
    double w[RESIZE_MAX_COMBOS];
    if (j->nearest_copy)
        nearest_rows(j, r0, r1, off, w);
    else if (j->dtype == TETHER_DTYPE_DOUBLE)
        resize_rows_f64(j, r0, r1, off, w);
    else
        resize_rows_f32(j, r0, r1, off, w);
}

static tt_status run_resize(tt_kctx *c)
{
    const resize_state *st = c->state;
    const tt_tensor *x = tt_kin(c, 0), *roi = st->roi_input >= 0 ? tt_kin(c, st->roi_input) : NULL;
    const tt_tensor *scales_t = st->scales_input >= 0 ? tt_kin(c, st->scales_input) : NULL;
    const tt_tensor *sizes_t = st->sizes_input >= 0 ? tt_kin(c, st->sizes_input) : NULL;
    if (scales_t && tt_tensor_numel(scales_t) == 0)
        scales_t = NULL;
    if (sizes_t && tt_tensor_numel(sizes_t) == 0)
        sizes_t = NULL;
    tt_tensor *y = tt_kout(c, 0);
    int R = x->rank;
    int64_t out[TT_MAX_RANK];
    double scales[TT_MAX_RANK], r0[TT_MAX_RANK], r1[TT_MAX_RANK];
    bool known;
    TT_TRY(resize_shape(c->node, st, R, x->dims, scales_t, sizes_t, out, scales, &known));
    for (int d = 0; d < R; d++)
        r0[d] = 0, r1[d] = 1;
    if (st->coord == CT_TF_CROP_AND_RESIZE && roi && tt_tensor_numel(roi) > 0) {
        int axes[TT_MAX_RANK], na;
        TT_TRY(resize_axes(c->node, st, R, axes, &na));
        if (tt_tensor_numel(roi) != 2 * na)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "roi has %" PRId64 " entries; it needs %d (starts, ends)",
                               tt_tensor_numel(roi), 2 * na);
        for (int k = 0; k < na; k++) {
            r0[axes[k]] = tt_load_f64(roi->data, roi->dtype, (size_t)k);
            r1[axes[k]] = tt_load_f64(roi->data, roi->dtype, (size_t)(na + k));
        }
    }
    if (tt_tensor_numel(y) == 0)
        return TT_OK;
    resize_job j = {.rank = R,
                    .extrapolation = st->extrapolation,
                    .es = tt_dtype_size(x->dtype),
                    .x = x->data,
                    .y = y->data,
                    .dtype = x->dtype,
                    .max_combos = 1};
    tt_strides(R, x->dims, j.stride);
    int64_t total_taps = 0, per[TT_MAX_RANK];
    for (int d = 0; d < R; d++) {
        j.in[d] = x->dims[d];
        j.out[d] = out[d];
        per[d] = taps_per_coord(st, scales[d]);
        if (per[d] > 256)
            return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "antialiasing a downscale by %g needs %" PRId64
                               " taps, more than 256", scales[d], per[d]);
        total_taps += out[d] * per[d];
    }
    /* one allocation for every dim's tap tables */
    char *mem = tt_malloc((size_t)total_taps * (sizeof(int64_t) + sizeof(double)) + (size_t)total_taps);
    if (!mem)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    int64_t *ip = (int64_t *)mem;
    double *wp = (double *)(ip + total_taps);
    uint8_t *op = (uint8_t *)(wp + total_taps);
    bool single = true, extrapolates = false;
    for (int d = 0; d < R; d++) {
        dim_taps *t = &j.taps[d];
        t->idx = ip, t->w = wp, t->outside = op;
        ip += out[d] * per[d], wp += out[d] * per[d], op += out[d];
        dim_taps_fill(st, t, x->dims[d], out[d], scales[d], r0[d], r1[d]);
        if (d < R - 1)
            j.max_combos *= t->n;
        single &= t->n == 1;
        for (int64_t o = 0; o < out[d]; o++)
            extrapolates |= t->outside[o];
        for (int64_t o = 0; single && o < out[d]; o++)
            single = t->w[o] == 1;
    }
    j.nearest_copy = single && !extrapolates;
    if (!j.nearest_copy && x->dtype != TETHER_DTYPE_FLOAT && x->dtype != TETHER_DTYPE_DOUBLE) {
        /* other types interpolate in float: the kernel runs again on float copies */
        tt_free(mem);
        return tt_run_in_f32(c, x->dtype, run_resize);
    }
    tt_status s = TT_OK;
    if (j.max_combos > RESIZE_MAX_COMBOS) {
        s = tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "interpolating %" PRId64 " taps per row is more than %d",
                        j.max_combos, RESIZE_MAX_COMBOS);
    } else {
        int64_t rows = tt_tensor_numel(y) / out[R - 1];
        int64_t per_row = out[R - 1] * j.max_combos * j.taps[R - 1].n;
        tt_parallel_for_stoppable(rows, (16384 + per_row - 1) / per_row, (double)per_row, resize_task, &j);
    }
    tt_free(mem);
    return s;
}

/* ---- GridSample ------------------------------------------------------------------------------------- */

typedef enum { GS_BILINEAR, GS_NEAREST, GS_BICUBIC } gs_mode;
typedef enum { GS_ZEROS, GS_BORDER, GS_REFLECTION } gs_pad;

typedef struct gs_state {
    gs_mode mode;
    gs_pad pad;
    bool align;
} gs_state;

static tt_status gridsample_prepare(tt_node *node, void **state)
{
    /* opset 20 renamed the modes (and allowed 3 spatial dims) */
    static const char *const modes16[] = {"bilinear", "nearest", "bicubic"}, *const modes20[] = {"linear", "nearest",
                                                                                                   "cubic"};
    static const char *const pads[] = {"zeros", "border", "reflection"};
    bool v20 = node->opset >= 20;
    const char *m = tt_attr_string(node, "mode", v20 ? "linear" : "bilinear");
    const char *p = tt_attr_string(node, "padding_mode", "zeros");
    int mi = pick(m, v20 ? modes20 : modes16, 3), pi = pick(p, pads, 3);
    if (mi < 0)
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "unknown mode '%s'", m);
    if (pi < 0)
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "unknown padding_mode '%s'", p);
    gs_state *st = tt_malloc(sizeof *st);
    if (!st)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", node->name);
    *st = (gs_state){(gs_mode)mi, (gs_pad)pi, tt_attr_int(node, "align_corners", 0) != 0};
    *state = st;
    return TT_OK;
}

static tt_status infer_gridsample(tt_ictx *c)
{
    const gs_state *st = c->node->state;
    const tt_type *x = tt_iin(c, 0), *g = tt_iin(c, 1);
    if (!x || !g)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "inputs X and grid are required");
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    int maxr = c->node->opset >= 20 ? 5 : 4;
    if (x->rank >= 0 && (x->rank < 4 || x->rank > maxr))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X must be (N, C, H, W)%s, got rank %d",
                           maxr == 5 ? " or (N, C, D, H, W)" : "", x->rank);
    if (x->rank == 5 && st->mode == GS_BICUBIC)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "cubic sampling takes 4-D inputs only");
    int r = x->rank >= 0 ? x->rank : g->rank;
    if (g->rank >= 0 && r >= 0 && (g->rank != r || (g->dims[r - 1] >= 0 && g->dims[r - 1] != r - 2)))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "grid must be (N, spatial..., %d)", r - 2);
    if (r < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (x->rank >= 0 && g->rank >= 0 && x->dims[0] >= 0 && g->dims[0] >= 0 && x->dims[0] != g->dims[0])
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X has batch %" PRId64 " but grid %" PRId64, x->dims[0],
                           g->dims[0]);
    int64_t dims[5];
    dims[0] = x->rank >= 0 ? x->dims[0] : TT_DIM_UNKNOWN;
    dims[1] = x->rank >= 0 ? x->dims[1] : TT_DIM_UNKNOWN;
    for (int i = 2; i < r; i++)
        dims[i] = g->rank >= 0 ? g->dims[i - 1] : TT_DIM_UNKNOWN;
    tt_infer_tensor(c, 0, x->dtype, r, dims);
    return TT_OK;
}

/* The sampling rules of torch.nn.functional.grid_sample, which the op follows. */
static double gs_unnormalize(double v, int64_t size, bool align)
{
    return align ? (v + 1) / 2 * (double)(size - 1) : ((v + 1) * (double)size - 1) / 2;
}

static double gs_reflect(double v, double twice_lo, double twice_hi)
{
    if (twice_lo == twice_hi)
        return 0;
    double lo = twice_lo / 2, span = (twice_hi - twice_lo) / 2;
    v = fabs(v - lo);
    double extra = fmod(v, span);
    double flips = floor(v / span);
    return fmod(flips, 2) == 0 ? extra + lo : span - extra + lo;
}

/* Applies the padding mode to a coordinate: border clamps, reflection mirrors at the edges. */
static double gs_pad_coord(const gs_state *st, double v, int64_t size)
{
    if (st->pad == GS_ZEROS || !isfinite(v))
        return v;
    if (st->pad == GS_REFLECTION)
        v = st->align ? gs_reflect(v, 0, 2.0 * (double)(size - 1)) : gs_reflect(v, -1, 2.0 * (double)size - 1);
    return v < 0 ? 0 : v > (double)(size - 1) ? (double)(size - 1) : v;
}

/* Up to three spatial dims, outermost first (D, H, W); the grid lists coordinates innermost
 * first (x, y, z). */
typedef struct gs_job {
    const gs_state *st;
    const void *x;
    const double *grid;
    void *y;
    int nsp;
    int64_t C, in[3], out_pts, in_pts;
    bool dbl;
} gs_job;

/* The value at integer position pos (outermost first), 0 outside the input. */
static double gs_at(const gs_job *j, const char *plane, const int64_t *pos)
{
    int64_t i = 0;
    for (int d = 0; d < j->nsp; d++) {
        if (pos[d] < 0 || pos[d] >= j->in[d])
            return 0;
        i = i * j->in[d] + pos[d];
    }
    return j->dbl ? ((const double *)plane)[i] : ((const float *)plane)[i];
}

static void gs_points(void *arg, int64_t p0, int64_t p1)
{
    const gs_job *j = arg;
    const gs_state *st = j->st;
    size_t es = j->dbl ? sizeof(double) : sizeof(float);
    int nsp = j->nsp;
    for (int64_t p = p0; p < p1; p++) { /* p: (n, output point) */
        int64_t n = p / j->out_pts, q = p % j->out_pts;
        double g[3];
        for (int d = 0; d < nsp; d++) /* grid entry nsp-1-d is spatial dim d's coordinate */
            g[d] = gs_unnormalize(j->grid[nsp * p + (nsp - 1 - d)], j->in[d], st->align);
        for (int64_t ch = 0; ch < j->C; ch++) {
            const char *plane = (const char *)j->x + (size_t)((n * j->C + ch) * j->in_pts) * es;
            double v = 0;
            int64_t pos[3];
            if (st->mode == GS_BICUBIC) { /* 2 spatial dims */
                int64_t f[2] = {floor_to_index(g[0]), floor_to_index(g[1])};
                double w[2][4];
                for (int d = 0; d < 2; d++)
                    cubic_weights(isfinite(g[d]) ? g[d] - floor(g[d]) : 0, -0.75, w[d]);
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        /* each tap is padded on its own, as torch does for bicubic */
                        pos[0] = floor_to_index(gs_pad_coord(st, (double)(f[0] - 1 + a), j->in[0]));
                        pos[1] = floor_to_index(gs_pad_coord(st, (double)(f[1] - 1 + b), j->in[1]));
                        v += w[0][a] * w[1][b] * gs_at(j, plane, pos);
                    }
            } else {
                double pc[3];
                for (int d = 0; d < nsp; d++)
                    pc[d] = gs_pad_coord(st, g[d], j->in[d]);
                if (st->mode == GS_NEAREST) {
                    for (int d = 0; d < nsp; d++)
                        pos[d] = isfinite(pc[d]) ? floor_to_index(nearbyint(pc[d])) : -1;
                    v = gs_at(j, plane, pos);
                } else { /* (multi)linear over the 2^nsp corners */
                    int64_t f[3];
                    double fr[3];
                    for (int d = 0; d < nsp; d++) {
                        f[d] = floor_to_index(pc[d]);
                        fr[d] = isfinite(pc[d]) ? pc[d] - floor(pc[d]) : 0;
                    }
                    for (int corner = 0; corner < (1 << nsp); corner++) {
                        double w = 1;
                        for (int d = 0; d < nsp; d++) {
                            int up = (corner >> d) & 1;
                            pos[d] = f[d] + up;
                            w *= up ? fr[d] : 1 - fr[d];
                        }
                        if (w != 0)
                            v += w * gs_at(j, plane, pos);
                    }
                }
            }
            int64_t o = (n * j->C + ch) * j->out_pts + q;
            if (j->dbl)
                ((double *)j->y)[o] = v;
            else
                ((float *)j->y)[o] = (float)v;
        }
    }
}

static tt_status run_gridsample_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *g = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    int nsp = x->rank - 2;
    if (g->rank != x->rank || g->dims[g->rank - 1] != nsp || g->dims[0] != x->dims[0])
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "grid must be (%" PRId64 ", spatial..., %d)", x->dims[0], nsp);
    gs_job j = {.st = c->state, .x = x->data, .y = y->data, .nsp = nsp, .C = x->dims[1],
                .out_pts = tt_dims_prod(g->dims, 1, g->rank - 1), .in_pts = tt_dims_prod(x->dims, 2, x->rank),
                .dbl = x->dtype == TETHER_DTYPE_DOUBLE};
    for (int d = 0; d < nsp; d++)
        j.in[d] = x->dims[2 + d];
    int64_t npts = g->dims[0] * j.out_pts;
    double *grid = tt_malloc((size_t)(npts ? nsp * npts : 1) * sizeof(double));
    if (!grid)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    for (int64_t i = 0; i < nsp * npts; i++)
        grid[i] = tt_load_f64(g->data, g->dtype, (size_t)i);
    j.grid = grid;
    /* up to 4 taps per spatial dim per point and channel (bicubic) */
    tt_parallel_for_stoppable(npts, j.C ? (4096 + j.C - 1) / j.C : npts, pow(4.0, (double)nsp) * (double)j.C,
                              gs_points, &j);
    tt_free(grid);
    return TT_OK;
}

static tt_status run_gridsample(tt_kctx *c)
{
    return tt_run_real(c, run_gridsample_native);
}

/* ---- RoiAlign ---------------------------------------------------------------------------------------- */

#define ROI_MAX_GRID 1024

typedef struct roi_state {
    bool max_mode, half_pixel;
    int64_t oh, ow, sampling;
    float spatial_scale;
} roi_state;

static tt_status roialign_prepare(tt_node *node, void **state)
{
    const char *m = tt_attr_string(node, "mode", "avg");
    /* opset 10 had no coordinate_transformation_mode and behaved as output_half_pixel */
    const char *ct =
        tt_attr_string(node, "coordinate_transformation_mode", node->opset >= 16 ? "half_pixel" : "output_half_pixel");
    roi_state st = {.max_mode = strcmp(m, "max") == 0,
                    .half_pixel = strcmp(ct, "half_pixel") == 0,
                    .oh = tt_attr_int(node, "output_height", 1),
                    .ow = tt_attr_int(node, "output_width", 1),
                    .sampling = tt_attr_int(node, "sampling_ratio", 0),
                    .spatial_scale = tt_attr_float(node, "spatial_scale", 1.0f)};
    if (!st.max_mode && strcmp(m, "avg") != 0)
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "unknown mode '%s'", m);
    if (!st.half_pixel && strcmp(ct, "output_half_pixel") != 0)
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "unknown coordinate_transformation_mode '%s'", ct);
    if (st.oh < 1 || st.ow < 1 || st.oh > (1 << 20) || st.ow > (1 << 20))
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "output size %" PRId64 "x%" PRId64 " must be positive",
                           st.oh, st.ow);
    if (st.sampling < 0 || st.sampling > ROI_MAX_GRID)
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "sampling_ratio %" PRId64 " must be in [0, %d]", st.sampling,
                           ROI_MAX_GRID);
    if (!isfinite(st.spatial_scale))
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "spatial_scale must be finite");
    roi_state *p = tt_malloc(sizeof *p);
    if (!p)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", node->name);
    *p = st;
    *state = p;
    return TT_OK;
}

static tt_status infer_roialign(tt_ictx *c)
{
    const roi_state *st = c->node->state;
    const tt_type *x = tt_iin(c, 0), *r = tt_iin(c, 1), *b = tt_iin(c, 2);
    if (!x || !r || !b)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "inputs X, rois and batch_indices are required");
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DTS_FLOAT));
    if (x->rank >= 0 && x->rank != 4)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X must be 4-D (N, C, H, W), got rank %d", x->rank);
    if (r->rank >= 0 && (r->rank != 2 || (r->dims[1] >= 0 && r->dims[1] != 4)))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "rois must be (num_rois, 4)");
    if (b->rank >= 0 && b->rank != 1)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "batch_indices must be a vector");
    if (!tt_dtype_is_int(b->dtype))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "batch_indices must be integers");
    int64_t n = r->rank == 2 ? r->dims[0] : b->rank == 1 ? b->dims[0] : TT_DIM_UNKNOWN;
    if (r->rank == 2 && b->rank == 1 && r->dims[0] >= 0 && b->dims[0] >= 0 && r->dims[0] != b->dims[0])
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "%" PRId64 " rois but %" PRId64 " batch indices", r->dims[0],
                           b->dims[0]);
    int64_t dims[4] = {n, x->rank == 4 ? x->dims[1] : TT_DIM_UNKNOWN, st->oh, st->ow};
    tt_infer_tensor(c, 0, x->dtype, 4, dims);
    return TT_OK;
}

/* One bilinear sample: four taps and weights (zero weights outside), as Caffe2 / ORT. */
typedef struct roi_sample {
    int64_t pos[4];
    double w[4];
} roi_sample;

static void roi_bilinear(double y, double x, int64_t H, int64_t W, roi_sample *s)
{
    memset(s, 0, sizeof *s);
    if (!(y >= -1.0 && y <= (double)H && x >= -1.0 && x <= (double)W))
        return;
    if (y <= 0)
        y = 0;
    if (x <= 0)
        x = 0;
    int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;
    if (y0 >= H - 1)
        y1 = y0 = H - 1, y = (double)y0;
    else
        y1 = y0 + 1;
    if (x0 >= W - 1)
        x1 = x0 = W - 1, x = (double)x0;
    else
        x1 = x0 + 1;
    double ly = y - (double)y0, lx = x - (double)x0, hy = 1 - ly, hx = 1 - lx;
    s->pos[0] = y0 * W + x0, s->pos[1] = y0 * W + x1, s->pos[2] = y1 * W + x0, s->pos[3] = y1 * W + x1;
    s->w[0] = hy * hx, s->w[1] = hy * lx, s->w[2] = ly * hx, s->w[3] = ly * lx;
}

typedef struct roi_job {
    const roi_state *st;
    const void *x;
    const double *rois;
    const int64_t *batch;
    void *y;
    int64_t C, H, W;
    bool dbl;
} roi_job;

/* Samples per bin side when sampling_ratio is 0: ceil(bin size), bounded so a huge roi
 * cannot stall the run. */
static int64_t grid_count(double bin)
{
    double g = ceil(bin);
    return g >= ROI_MAX_GRID ? ROI_MAX_GRID : g > 0 ? (int64_t)g : 0;
}

static void roi_tasks(void *arg, int64_t t0, int64_t t1)
{
    const roi_job *j = arg;
    const roi_state *st = j->st;
    size_t es = j->dbl ? sizeof(double) : sizeof(float);
    for (int64_t t = t0; t < t1; t++) { /* t: (roi, channel) */
        int64_t r = t / j->C, ch = t % j->C;
        const double *box = j->rois + 4 * r;
        double off = st->half_pixel ? 0.5 : 0;
        double sx = box[0] * st->spatial_scale - off, sy = box[1] * st->spatial_scale - off;
        double ex = box[2] * st->spatial_scale - off, ey = box[3] * st->spatial_scale - off;
        double rw = ex - sx, rh = ey - sy;
        if (!st->half_pixel) { /* the old behaviour forces a roi of at least one pixel */
            rw = rw > 1 ? rw : 1;
            rh = rh > 1 ? rh : 1;
        }
        double bh = rh / (double)st->oh, bw = rw / (double)st->ow;
        int64_t gh = st->sampling > 0 ? st->sampling : grid_count(rh / (double)st->oh);
        int64_t gw = st->sampling > 0 ? st->sampling : grid_count(rw / (double)st->ow);
        double count = gh * gw > 0 ? (double)(gh * gw) : 1;
        const char *plane = (const char *)j->x + (size_t)((j->batch[r] * j->C + ch) * j->H * j->W) * es;
        for (int64_t ph = 0; ph < st->oh; ph++)
            for (int64_t pw = 0; pw < st->ow; pw++) {
                if (!tt_stop_work((uint64_t)(gh * gw) * 8))
                    return; /* big sampling grids stop with the run */
                double acc = 0;
                bool first = true;
                for (int64_t iy = 0; iy < gh; iy++) {
                    double yy = sy + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                    for (int64_t ix = 0; ix < gw; ix++) {
                        double xx = sx + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                        roi_sample s;
                        roi_bilinear(yy, xx, j->H, j->W, &s);
                        double v[4];
                        for (int k = 0; k < 4; k++)
                            v[k] = s.w[k] *
                                   (j->dbl ? ((const double *)plane)[s.pos[k]] : ((const float *)plane)[s.pos[k]]);
                        if (!st->max_mode) {
                            acc += v[0] + v[1] + v[2] + v[3];
                        } else {
                            /* max mode takes the largest weighted tap, as ONNX Runtime does */
                            double m = fmax(fmax(v[0], v[1]), fmax(v[2], v[3]));
                            acc = first || m > acc ? m : acc;
                            first = false;
                        }
                    }
                }
                if (!st->max_mode)
                    acc /= count;
                int64_t o = (t * st->oh + ph) * st->ow + pw;
                if (j->dbl)
                    ((double *)j->y)[o] = acc;
                else
                    ((float *)j->y)[o] = (float)acc;
            }
    }
}

static tt_status run_roialign_native(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *rois = tt_kin(c, 1), *bi = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    int64_t n = rois->dims[0];
    if (bi->dims[0] != n)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "%" PRId64 " rois but %" PRId64 " batch indices", n, bi->dims[0]);
    double *boxes = tt_malloc((size_t)(n ? 4 * n : 1) * sizeof(double));
    int64_t *batch = tt_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    tt_status s = boxes && batch ? TT_OK : tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    for (int64_t i = 0; s == TT_OK && i < n; i++) {
        batch[i] = tt_load_i64(bi->data, bi->dtype, (size_t)i);
        if (batch[i] < 0 || batch[i] >= x->dims[0])
            s = tt_op_error(c->node, TETHER_ERR_RUNTIME,
                            "batch index %" PRId64 " of roi %" PRId64 " is out of range [0, %" PRId64 ")", batch[i], i,
                            x->dims[0]);
        for (int k = 0; k < 4; k++) {
            boxes[4 * i + k] = tt_load_f64(rois->data, rois->dtype, (size_t)(4 * i + k));
            if (!isfinite(boxes[4 * i + k]) || fabs(boxes[4 * i + k]) > 1e12)
                s = tt_op_error(c->node, TETHER_ERR_RUNTIME, "roi %" PRId64 " has a non-finite or huge coordinate", i);
        }
    }
    if (s == TT_OK && tt_tensor_numel(y) > 0 && x->dims[2] > 0 && x->dims[3] > 0) {
        roi_job j = {c->state,   x->data,    boxes,
                     batch,      y->data,    x->dims[1],
                     x->dims[2], x->dims[3], x->dtype == TETHER_DTYPE_DOUBLE};
        tt_parallel_for(n * x->dims[1], 1, roi_tasks, &j);
    } else if (s == TT_OK && tt_tensor_numel(y) > 0) {
        memset(y->data, 0, tt_tensor_nbytes(y)); /* an empty image has nothing to sample */
    }
    tt_free(boxes);
    tt_free(batch);
    return s;
}

static tt_status run_roialign(tt_kctx *c)
{
    return tt_run_real(c, run_roialign_native);
}

#define RESIZE_TYPES (TT_DTS_NUMERIC | TT_DT(TETHER_DTYPE_BOOL))

const tt_op_schema tt_schemas_resize[] = {
    TT_SCHEMA("Resize", 10, 0, infer_resize, .parse = resize_prepare),
    TT_SCHEMA("Upsample", 7, 9, infer_resize, .parse = resize_prepare),
    TT_SCHEMA("GridSample", 16, 0, infer_gridsample, .parse = gridsample_prepare),
    TT_SCHEMA("RoiAlign", 10, 0, infer_roialign, .parse = roialign_prepare),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_resize[] = {
    TT_KERNEL("Resize", 10, 0, RESIZE_TYPES, run_resize),
    TT_KERNEL("Upsample", 7, 9, RESIZE_TYPES, run_resize),
    TT_KERNEL("GridSample", 16, 0, TT_DTS_FLOAT, run_gridsample),
    TT_KERNEL("RoiAlign", 10, 0, TT_DTS_FLOAT, run_roialign),
    TT_KERNEL_END,
};
