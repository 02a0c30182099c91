/* Resize on the cpu backend: bilinear resampling of the last two dims of a float NCHW
 * tensor (N and C unchanged), for the coordinate transformations CNN exports use. Each
 * input row is resampled along the width once per plane, then each output row is a blend
 * of two of them. Other modes, dims and options are left to the reference kernel. */
#include "backends/cpu/cpu.h"

#include <math.h>

typedef enum { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC } coord_mode;

typedef struct rs_state {
    coord_mode coord;
} rs_state;

static int scales_input(const tt_node *n) { return n->opset < 11 ? 1 : 2; }

/* The constant scale (or size) of dim d, as ONNX derives the scale: sizes give out / in. */
static bool const_scale(const tt_kprep *p, int d, double *scale)
{
    const tt_type *x = tt_cpu_ranked(p, 0);
    int si = scales_input(p->node), zi = 3;
    const tt_tensor *sc = si < p->n_in ? p->cst[si] : NULL, *sz = zi < p->n_in ? p->cst[zi] : NULL;
    if (sc && tt_tensor_numel(sc) == 4 && sc->dtype == TETHER_DTYPE_FLOAT) {
        *scale = ((const float *)sc->data)[d];
        return true;
    }
    if (sz && tt_tensor_numel(sz) == 4 && sz->dtype == TETHER_DTYPE_INT64 && x && tt_dim_known(x->dims[d]) &&
        x->dims[d] > 0) {
        *scale = (double)((const int64_t *)sz->data)[d] / (double)x->dims[d];
        return true;
    }
    return false;
}

static bool rs_supports(const tt_kprep *p)
{
    const tt_node *n = p->node;
    const tt_type *x = tt_cpu_ranked(p, 0);
    if (!x || x->rank != 4)
        return false;
    const char *mode = tt_attr_string(n, "mode", "nearest");
    if (strcmp(mode, "linear") != 0 || tt_attr_int(n, "exclude_outside", 0) != 0 || tt_attr_int(n, "antialias", 0))
        return false;
    if (n->opset >= 11) {
        const char *c = tt_attr_string(n, "coordinate_transformation_mode", "half_pixel");
        if (strcmp(c, "half_pixel") && strcmp(c, "pytorch_half_pixel") && strcmp(c, "align_corners") &&
            strcmp(c, "asymmetric"))
            return false;
    }
    double s0, s1;
    return const_scale(p, 0, &s0) && const_scale(p, 1, &s1) && s0 == 1 && s1 == 1;
}

static tt_status rs_prepare(const tt_kprep *p, void **ks)
{
    rs_state *st = tt_calloc(1, sizeof *st);
    if (!st)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", p->node->name);
    *ks = st;
    st->coord = CT_ASYMMETRIC;
    if (p->node->opset >= 11) {
        static const char *const names[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"};
        const char *c = tt_attr_string(p->node, "coordinate_transformation_mode", "half_pixel");
        for (int i = 0; i < 4; i++)
            if (strcmp(c, names[i]) == 0)
                st->coord = (coord_mode)i;
    }
    return TT_OK;
}

/* Taps of one dim: for output o, inputs i0[o], i1[o] with weights w0[o], w1[o]. */
static void taps(coord_mode cm, int64_t in, int64_t out, double scale, int32_t *i0, int32_t *i1, float *w0, float *w1)
{
    double len = scale * (double)in;
    for (int64_t o = 0; o < out; o++) {
        double x = (double)o, xs;
        switch (cm) {
        case CT_HALF_PIXEL: xs = (x + 0.5) / scale - 0.5; break;
        case CT_PYTORCH_HALF_PIXEL: xs = len > 1 ? (x + 0.5) / scale - 0.5 : 0; break;
        case CT_ALIGN_CORNERS: xs = len == 1 ? 0 : x * (double)(in - 1) / (len - 1); break;
        default: xs = x / scale; break;
        }
        double f = floor(xs), frac = xs - f;
        if (!(frac >= 0) || !(f > -1e15 && f < 1e15))
            f = 0, frac = 0;
        int64_t a = (int64_t)f, b = a + 1;
        a = a < 0 ? 0 : a >= in ? in - 1 : a;
        b = b < 0 ? 0 : b >= in ? in - 1 : b;
        i0[o] = (int32_t)a, i1[o] = (int32_t)b;
        w0[o] = (float)(1 - frac), w1[o] = (float)frac;
    }
}

typedef struct rs_job {
    const tt_cpu_isa *isa;
    const float *x;
    float *y, *scratch;
    int64_t planes, H, W, OH, OW, nslots, per_slot;
    const int32_t *hi0, *hi1, *wi0, *wi1;
    const float *hw0, *hw1, *ww0, *ww1;
} rs_job;

static void rs_slots(void *arg, int64_t s0, int64_t s1)
{
    const rs_job *j = arg;
    for (int64_t s = s0; s < s1; s++) {
        float *rows = j->scratch + s * j->per_slot;
        for (int64_t p = s; p < j->planes; p += j->nslots) {
            const float *x = j->x + p * j->H * j->W;
            float *y = j->y + p * j->OH * j->OW;
            for (int64_t h = 0; h < j->H; h++) {
                const float *xr = x + h * j->W;
                float *t = rows + h * j->OW;
                for (int64_t o = 0; o < j->OW; o++)
                    t[o] = j->ww0[o] * xr[j->wi0[o]] + j->ww1[o] * xr[j->wi1[o]];
            }
            for (int64_t o = 0; o < j->OH; o++)
                j->isa->blend(rows + j->hi0[o] * j->OW, rows + j->hi1[o] * j->OW, j->hw0[o], j->hw1[o],
                              y + o * j->OW, j->OW);
        }
    }
}

static tt_status run_resize(tt_kctx *c)
{
    const rs_state *st = c->kstate;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1])
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "only the last two dims may change size");
    rs_job j = {.isa = tt_cpu_isa_get(), .x = x->data, .y = y->data, .planes = x->dims[0] * x->dims[1],
                .H = x->dims[2], .W = x->dims[3], .OH = y->dims[2], .OW = y->dims[3]};
    if (!j.planes || !j.OH || !j.OW)
        return TT_OK;
    if (!j.H || !j.W)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "cannot resize an empty dim");
    /* the scales as ONNX has them: from sizes, out / in */
    double sh, sw;
    int si = scales_input(c->node);
    const tt_tensor *sc = tt_kin(c, si), *sz = tt_kin(c, 3);
    if (sz && tt_tensor_numel(sz) == 4) {
        sh = (double)j.OH / (double)j.H;
        sw = (double)j.OW / (double)j.W;
    } else if (sc && tt_tensor_numel(sc) == 4 && sc->dtype == TETHER_DTYPE_FLOAT) {
        sh = ((const float *)sc->data)[2];
        sw = ((const float *)sc->data)[3];
    } else {
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "needs 4 scales or sizes");
    }
    size_t tab = (size_t)(j.OH + j.OW) * (2 * sizeof(int32_t) + 2 * sizeof(float));
    char *t = tt_kctx_scratch(c, tab);
    if (!t)
        return TETHER_ERR_NO_MEMORY; /* scratch set the message */
    int32_t *hi0 = (int32_t *)t, *hi1 = hi0 + j.OH, *wi0 = hi1 + j.OH, *wi1 = wi0 + j.OW;
    float *hw0 = (float *)(wi1 + j.OW), *hw1 = hw0 + j.OH, *ww0 = hw1 + j.OH, *ww1 = ww0 + j.OW;
    taps(st->coord, j.H, j.OH, sh, hi0, hi1, hw0, hw1);
    taps(st->coord, j.W, j.OW, sw, wi0, wi1, ww0, ww1);
    j.hi0 = hi0, j.hi1 = hi1, j.wi0 = wi0, j.wi1 = wi1, j.hw0 = hw0, j.hw1 = hw1, j.ww0 = ww0, j.ww1 = ww1;
    int threads = tt_threads();
    int64_t work = j.planes * j.OH * j.OW;
    j.nslots = work < 32768 ? 1 : j.planes < 4 * threads ? j.planes : 4 * threads;
    j.per_slot = (j.H * j.OW + 15) / 16 * 16;
    j.scratch = tt_kctx_scratch(c, (size_t)(j.per_slot * j.nslots) * sizeof(float));
    if (!j.scratch)
        return TETHER_ERR_NO_MEMORY;
    tt_parallel_for_stoppable(j.nslots, 1, (double)(work / j.nslots + 1) * 4, rs_slots, &j);
    return TT_OK;
}

const tt_kernel tt_cpu_resize[] = {
    TT_KERNEL("Resize", 10, 17, TT_CPU_FLOAT, run_resize, .supports = rs_supports, .prepare = rs_prepare),
    TT_KERNEL_END,
};
