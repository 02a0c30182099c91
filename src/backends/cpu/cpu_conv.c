/* Convolutions on oneDNN: ONNX Conv, ConvTranspose (oneDNN's deconvolution) and tether's FusedConv (bias, residual summand and
 * activation as post-ops; plain or channel-blocked input and output, ops/cnn.h), float32,
 * 1 to 3 spatial dims, with constant weights. The weights are reordered once at open into
 * the layout oneDNN's kernel for this CPU wants; each set of input shapes gets a plan
 * (dnnl_plan.h): a reorder of X where its layout is not the primitive's, the convolution,
 * a reorder to a plain output where the primitive computes in blocks. */
#include "backends/cpu/dnnl_kernels.h"

#ifdef TETHER_HAVE_DNNL

#include "backends/cpu/dnnl_plan.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "ops/cnn.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct conv_kstate {
    tt_dnnl_cache cache;
    const tt_kernel *ref;       /* for shapes oneDNN refuses */
    int nsp;                    /* spatial dims */
    int64_t M, C, G;            /* output channels, input channels, groups */
    int64_t kdims[3];           /* the kernel's spatial dims */
    int64_t xblock;             /* X's channel block; 0: plain */
    int64_t yblock;             /* the output's; 0: plain */
    bool has_z;
    bool transpose;             /* ConvTranspose: W is [C, M/G, k...] */
    tt_precision prec;          /* what runs compute in: fp32; bf16 X and W; int8 X and W */
    float *w_scale;             /* int8: per output channel, max |W[m]| / 127 */
    tt_conv_act act;
    float alpha, beta;
    dnnl_alg_kind_t alg;        /* direct, or Winograd for 3x3 stride 1 */
    char impl[48];              /* the oneDNN implementation chosen at open ("": its first) */
    dnnl_memory_desc_t w_md;    /* the packed weights' layout */
    void *w;                    /* packed weights */
    const float *bias;          /* the model's constant, or NULL */
} conv_kstate;

static bool is_fused(const tt_node *n) { return strcmp(n->op_type, "FusedConv") == 0; }
static bool is_transpose(const tt_node *n) { return strcmp(n->op_type, "ConvTranspose") == 0; }

static void conv_release(void *kstate)
{
    conv_kstate *ks = kstate;
    if (!ks)
        return;
    tt_dnnl_cache_free(&ks->cache);
    tt_free_aligned(ks->w);
    tt_free(ks->w_scale);
    tt_free(ks);
}

/* oneDNN's eltwise post-ops for an activation (one or two, in order); 0 when it has none. */
typedef struct eltwise_op {
    dnnl_alg_kind_t alg;
    float alpha, beta;
} eltwise_op;

static int act_ops(tt_conv_act a, float alpha, float beta, eltwise_op *op)
{
    switch (a) {
    case TT_CONV_ACT_RELU: op[0] = (eltwise_op){dnnl_eltwise_relu, 0, 0}; return 1;
    case TT_CONV_ACT_LEAKY_RELU: op[0] = (eltwise_op){dnnl_eltwise_relu, alpha, 0}; return 1;
    case TT_CONV_ACT_CLIP:
        if (!(alpha <= beta))
            return 0;
        op[0] = (eltwise_op){dnnl_eltwise_clip, alpha, beta};
        return 1;
    case TT_CONV_ACT_SIGMOID: op[0] = (eltwise_op){dnnl_eltwise_logistic, 0, 0}; return 1;
    case TT_CONV_ACT_TANH: op[0] = (eltwise_op){dnnl_eltwise_tanh, 0, 0}; return 1;
    case TT_CONV_ACT_HARD_SIGMOID:
        op[0] = (eltwise_op){dnnl_eltwise_linear, alpha, beta};
        op[1] = (eltwise_op){dnnl_eltwise_clip, 0, 1};
        return 2;
    case TT_CONV_ACT_HARD_SWISH: op[0] = (eltwise_op){dnnl_eltwise_hardswish, 0, 0}; return 1;
    default: return 0;
    }
}

static bool conv_supports(const tt_kprep *p)
{
    const tt_type *x = p->in[0], *w = p->in[1];
    if (!x || !w || !p->cst[1] || w->rank < 3 || w->rank > 5 || x->rank < 0)
        return false;
    if (p->n_in > 2 && p->in[2] && !p->cst[2])
        return false;
    if (p->cst[1]->dtype != TETHER_DTYPE_FLOAT)
        return false;
    int block = tt_dnnl_block();
    if (x->rank == w->rank + 1 && x->dims[x->rank - 1] != block && !(block == 16 && x->dims[x->rank - 1] == 8))
        return false;
    if (is_fused(p->node)) {
        const tt_fused_conv_attrs *st = p->node->state;
        eltwise_op ops[2];
        if (st->act && !act_ops(st->act, st->alpha, st->beta, ops))
            return false;
        if (st->block && st->block != block && !(block == 16 && st->block == 8))
            return false;
    }
    return true;
}

/* The logical dims of X, the output and the window, from concrete or representative shapes. */
static tt_status conv_geometry(const tt_node *n, const conv_kstate *ks, const int64_t *xdims, int64_t *x_l,
                               int64_t *y_l, tt_win *win)
{
    const tt_win_attrs *a = n->state;
    int64_t in[3];
    for (int i = 0; i < ks->nsp; i++)
        in[i] = xdims[2 + i];
    if (ks->transpose)
        TT_TRY(tt_win_transpose(n, a, ks->nsp, ks->kdims, in, win));
    else
        TT_TRY(tt_win_forward(n, a, ks->nsp, ks->kdims, in, win));
    x_l[0] = y_l[0] = xdims[0];
    x_l[1] = ks->C;
    y_l[1] = ks->M;
    for (int i = 0; i < ks->nsp; i++) {
        x_l[2 + i] = in[i];
        y_l[2 + i] = win->out[TT_WIN_DIMS - ks->nsp + i];
    }
    return TT_OK;
}

/* The data type X and W are computed in. */
static dnnl_data_type_t compute_dt(const conv_kstate *ks)
{
    return ks->prec == TT_PRECISION_BF16 ? dnnl_bf16 : ks->prec == TT_PRECISION_INT8 ? dnnl_s8 : dnnl_f32;
}

/* The src and dst mds the primitive is asked for: the graph's blocked layouts, or `any`
 * where they are plain (oneDNN chooses; a reorder converts). int8 asks `any` always (its
 * kernels keep activations channels-last) and accumulates into int32. */
static tt_status primitive_mds(const tt_node *n, const conv_kstate *ks, const int64_t *x_l, const int64_t *y_l,
                               dnnl_memory_desc_t *src, dnnl_memory_desc_t *dst)
{
    int r = ks->nsp + 2;
    bool int8 = ks->prec == TT_PRECISION_INT8;
    dnnl_format_tag_t st = ks->xblock && !int8 ? tt_dnnl_blocked_tag(r, ks->xblock) : dnnl_format_tag_any;
    dnnl_format_tag_t dt = ks->yblock && !int8 ? tt_dnnl_blocked_tag(r, ks->yblock) : dnnl_format_tag_any;
    TT_TRY(tt_dnnl_md_dt(src, r, x_l, compute_dt(ks), st, n));
    return tt_dnnl_md_dt(dst, r, y_l, int8 ? dnnl_s32 : dnnl_f32, dt, n);
}

/* A convolution (deconvolution for ConvTranspose) descriptor for these mds; weights, src
 * and dst may be format `any`. */
static tt_status conv_desc(const tt_node *n, const conv_kstate *ks, const tt_win *win, const dnnl_memory_desc_t *src,
                           const dnnl_memory_desc_t *wts, const dnnl_memory_desc_t *bias,
                           const dnnl_memory_desc_t *dst, dnnl_convolution_desc_t *d)
{
    dnnl_dims_t strides, dil, pl, pr;
    for (int i = 0; i < ks->nsp; i++) {
        int k = TT_WIN_DIMS - ks->nsp + i;
        strides[i] = win->stride[k];
        dil[i] = win->dilation[k] - 1;
        pl[i] = win->pad_begin[k];
        pr[i] = win->pad_end[k];
        if (ks->transpose) {
            /* oneDNN crops the full output by pl and pr; ONNX's output_padding and
             * output_shape only move where the end is */
            int64_t full = (win->in[k] - 1) * win->stride[k] + (win->kernel[k] - 1) * win->dilation[k] + 1;
            pr[i] = full - pl[i] - win->out[k];
            if (pr[i] < 0)
                return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "oneDNN pads no deconvolution's end with zeros");
        }
    }
    if (ks->transpose)
        return tt_dnnl_check(dnnl_dilated_deconvolution_forward_desc_init(d, dnnl_forward_inference,
                                                                          dnnl_deconvolution_direct, src, wts, bias,
                                                                          dst, strides, dil, pl, pr),
                             n, "describing the deconvolution");
    return tt_dnnl_check(dnnl_dilated_convolution_forward_desc_init(d, dnnl_forward_inference,
                                                                    dnnl_convolution_direct, src, wts, bias, dst,
                                                                    strides, dil, pl, pr),
                         n, "describing the convolution");
}

/* The weights' logical dims ((G,) M/G, C/G, k...) and, with tag, the layout ONNX stores
 * them in: Conv's W is [M, C/G, k...] (oihw, goihw), ConvTranspose's [C, M/G, k...]
 * (iohw, giohw). */
static tt_status weights_md(const tt_node *n, const conv_kstate *ks, bool any, dnnl_memory_desc_t *md)
{
    int64_t d[6];
    int r = 0;
    if (ks->G > 1)
        d[r++] = ks->G;
    d[r++] = ks->M / ks->G;
    d[r++] = ks->C / ks->G;
    for (int i = 0; i < ks->nsp; i++)
        d[r++] = ks->kdims[i];
    if (any)
        return tt_dnnl_md_dt(md, r, d, compute_dt(ks), dnnl_format_tag_any, n);
    if (!ks->transpose)
        return tt_dnnl_md(md, r, d, tt_dnnl_plain_tag(r), n);
    /* memory order: (g,) i, o, spatial: the logical dims with the two channel dims swapped */
    dnnl_dims_t dims, strides;
    int g = ks->G > 1, o = g, i = g + 1;
    int64_t stride = 1;
    for (int k = r - 1; k > i; k--) {
        strides[k] = stride;
        stride *= d[k];
    }
    strides[o] = stride;
    stride *= d[o];
    strides[i] = stride;
    stride *= d[i];
    if (g)
        strides[0] = stride;
    for (int k = 0; k < r; k++)
        dims[k] = d[k];
    return tt_dnnl_check(dnnl_memory_desc_init_by_strides(md, r, dims, dnnl_f32, strides), n,
                         "describing the weights");
}

/* The mds X and the output have in the graph. */
static tt_status user_mds(const tt_node *n, const conv_kstate *ks, const int64_t *x_l, const int64_t *y_l,
                          dnnl_memory_desc_t *xmd, dnnl_memory_desc_t *ymd)
{
    int r = ks->nsp + 2;
    TT_TRY(tt_dnnl_md(xmd, r, x_l, ks->xblock ? tt_dnnl_blocked_tag(r, ks->xblock) : tt_dnnl_plain_tag(r), n));
    return tt_dnnl_md(ymd, r, y_l, ks->yblock ? tt_dnnl_blocked_tag(r, ks->yblock) : tt_dnnl_plain_tag(r), n);
}

/* Post-ops: the summand Z (binary add when `binary`, else sum into the output) then the
 * activation. */
static tt_status conv_attr(const tt_node *n, const conv_kstate *ks, bool binary, const dnnl_memory_desc_t *zmd,
                           dnnl_primitive_attr_t *attr)
{
    TT_TRY(tt_dnnl_attr_new(attr, n));
    if (ks->prec == TT_PRECISION_INT8)
        return TT_OK; /* scales, Z and the activation come after the int32 accumulators */
    dnnl_post_ops_t po;
    tt_status s = tt_dnnl_check(dnnl_post_ops_create(&po), n, "creating post-ops");
    if (s != TT_OK) {
        dnnl_primitive_attr_destroy(*attr);
        return s;
    }
    if (ks->has_z)
        s = binary ? tt_dnnl_check(dnnl_post_ops_append_binary(po, dnnl_binary_add, zmd), n, "adding Z")
                   : tt_dnnl_check(dnnl_post_ops_append_sum(po, 1.0f), n, "adding Z");
    eltwise_op ops[2];
    int nops = ks->act ? act_ops(ks->act, ks->alpha, ks->beta, ops) : 0;
    for (int i = 0; i < nops && s == TT_OK; i++)
        s = tt_dnnl_check(dnnl_post_ops_append_eltwise(po, 1.0f, ops[i].alg, ops[i].alpha, ops[i].beta), n,
                          "adding the activation");
    if (s == TT_OK)
        s = tt_dnnl_check(dnnl_primitive_attr_set_post_ops(*attr, po), n, "setting post-ops");
    dnnl_post_ops_destroy(po);
    if (s != TT_OK)
        dnnl_primitive_attr_destroy(*attr);
    return s;
}

/* How a plan's convolution is asked of oneDNN. */
typedef struct conv_try {
    dnnl_alg_kind_t alg;
    const char *impl;        /* an implementation name to insist on, or "" */
    bool binary;             /* Z as a binary post-op (else a sum into the output) */
    bool allow_ref;          /* accept oneDNN's reference implementations */
} conv_try;

static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* A primitive descriptor for the convolution as t asks, or UNSUPPORTED. */
static tt_status conv_pd(const tt_node *n, const conv_kstate *ks, const tt_win *win, dnnl_engine_t eng,
                         const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *wts,
                         const dnnl_memory_desc_t *dst, const dnnl_memory_desc_t *zmd, const conv_try *t,
                         dnnl_primitive_desc_t *pd)
{
    dnnl_memory_desc_t bmd;
    if (ks->bias)
        TT_TRY(tt_dnnl_md_dt(&bmd, 1, &ks->M, ks->prec == TT_PRECISION_INT8 ? dnnl_s32 : dnnl_f32, dnnl_a, n));
    dnnl_convolution_desc_t d;
    TT_TRY(conv_desc(n, ks, win, src, wts, ks->bias ? &bmd : NULL, dst, &d));
    if (!ks->transpose)
        d.alg_kind = t->alg;
    dnnl_primitive_attr_t attr;
    TT_TRY(conv_attr(n, ks, t->binary, zmd, &attr));
    dnnl_primitive_desc_iterator_t it;
    dnnl_status_t st = dnnl_primitive_desc_iterator_create(&it, &d, attr, eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return tt_dnnl_check(st, n, "making the convolution");
    /* the first implementation oneDNN offers (its own order of preference) that fits */
    *pd = NULL;
    do {
        dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
        const char *impl = "";
        dnnl_primitive_desc_query(cand, dnnl_query_impl_info_str, 0, &impl);
        if ((!*t->impl || starts_with(impl, t->impl)) && (t->allow_ref || !tt_dnnl_pd_is_ref(cand))) {
            *pd = cand;
            break;
        }
        dnnl_primitive_desc_destroy(cand);
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    if (!*pd)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "oneDNN has no convolution %s%s for these shapes", t->impl,
                           *t->impl ? " kernel" : "");
    return TT_OK;
}

/* Whether Winograd's algorithm may replace the direct one: TETHER_WINOGRAD=0 turns it off. */
static bool winograd_allowed(void)
{
    const char *env = getenv("TETHER_WINOGRAD");
    return !env || strcmp(env, "0") != 0;
}

/* The algorithm and implementation for this node, from its shape at open: Winograd for 3x3
 * stride-1 convolutions (oneDNN's F(4x4, 3x3) kernel on outputs of at least 28x28, F(2x2,
 * 3x3) on smaller ones), the direct algorithm elsewhere. Runs insist on the same
 * implementation, so every batch size computes a sample the same way. */
static void choose_algorithm(const tt_node *n, conv_kstate *ks, const tt_win *win, dnnl_engine_t eng,
                             const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *wany,
                             const dnnl_memory_desc_t *dst, const dnnl_memory_desc_t *zmd)
{
    ks->alg = dnnl_convolution_direct;
    ks->impl[0] = 0;
    int last = TT_WIN_DIMS - 1;
    bool wino = !ks->transpose && ks->nsp == 2 && ks->G == 1 && ks->kdims[0] == 3 && ks->kdims[1] == 3 &&
                win->stride[last] == 1 && win->stride[last - 1] == 1 && win->dilation[last] == 1 &&
                win->dilation[last - 1] == 1 && winograd_allowed();
    if (!wino)
        return;
    /* F(4x4, 3x3) keeps weights 4x the size of the direct ones, F(2x2, 3x3) 16/9: the
     * larger tiles only on large images, whose convolutions have few channels */
    const char *want[2] = {"jit_fp32_wino_2x3", "jit_wino_4x3"};
    if (win->out[last] * win->out[last - 1] >= 28 * 28)
        want[0] = "jit_wino_4x3", want[1] = "jit_fp32_wino_2x3";
    for (int i = 0; i < 2; i++) {
        conv_try t = {.alg = dnnl_convolution_winograd, .impl = want[i], .binary = false};
        dnnl_primitive_desc_t pd;
        if (conv_pd(n, ks, win, eng, src, wany, dst, zmd, &t, &pd) == TT_OK) {
            dnnl_primitive_desc_destroy(pd);
            ks->alg = dnnl_convolution_winograd;
            snprintf(ks->impl, sizeof ks->impl, "%s", want[i]);
            return;
        }
        tt_error_clear();
    }
}

/* int8: each output channel's scale, max |W[m]| / 127 (1 for a channel of zeros). */
static tt_status quantise_weights_scales(const tt_node *n, conv_kstate *ks, const tt_tensor *w)
{
    if (!(ks->w_scale = tt_malloc(sizeof(float) * (size_t)(ks->M + 1))))
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", n->name);
    int64_t per = tt_tensor_numel(w) / ks->M;
    const float *wd = w->data;
    for (int64_t m = 0; m < ks->M; m++) {
        float amax = 0;
        for (int64_t i = 0; i < per; i++)
            amax = fmaxf(amax, fabsf(wd[m * per + i]));
        ks->w_scale[m] = amax > 0 ? amax / 127 : 1;
    }
    return TT_OK;
}

/* Reorders the weights from their ONNX layout into the primitive's, quantising them for
 * int8 (W[m] / w_scale[m], rounded to the nearest and saturated by oneDNN's reorder). */
static tt_status pack_weights(const tt_node *n, const conv_kstate *ks, dnnl_engine_t eng,
                              const dnnl_memory_desc_t *from, const void *data, const dnnl_memory_desc_t *to,
                              void **out)
{
    if (ks->prec != TT_PRECISION_INT8)
        return tt_dnnl_pack(eng, from, data, to, NULL, out, n);
    float *inv = tt_malloc(sizeof(float) * (size_t)(ks->M + 1));
    if (!inv)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", n->name);
    for (int64_t m = 0; m < ks->M; m++)
        inv[m] = 1 / ks->w_scale[m];
    dnnl_primitive_attr_t attr;
    tt_status s = tt_dnnl_check(dnnl_primitive_attr_create(&attr), n, "creating attributes");
    if (s == TT_OK) {
        /* the output-channel dims of the weights: (O, I, ...) or (G, O/G, I/G, ...) */
        int mask = ks->G > 1 ? (1 << 0) | (1 << 1) : 1 << 0;
        s = tt_dnnl_check(dnnl_primitive_attr_set_output_scales(attr, ks->M, mask, inv), n, "setting scales");
        if (s == TT_OK)
            s = tt_dnnl_pack(eng, from, data, to, attr, out, n);
        dnnl_primitive_attr_destroy(attr);
    }
    tt_free(inv);
    return s;
}

/* int8, before each sample: the sample's scale from its largest magnitude, and what
 * follows from it. args: X (one sample, float), then out: 1 / x_scale (quantising X), the
 * output scales x_scale * w_scale[m] (int32 accumulators to float), and with a bias, the
 * bias in the accumulators' units, round(bias[m] / (x_scale * w_scale[m])). */
static void int8_scales(const tt_dnnl_step *st, uint8_t *const *data, const void *ctx)
{
    const conv_kstate *ks = ctx;
    const float *x = (const float *)data[0];
    size_t n = dnnl_memory_desc_get_size(&st->args[0].md) / sizeof(float);
    float amax = 0;
    for (size_t i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    float xs = amax > 0 && isfinite(amax) ? amax / 127 : 1;
    *(float *)data[1] = 1 / xs;
    float *os = (float *)data[2];
    for (int64_t m = 0; m < ks->M; m++)
        os[m] = xs * ks->w_scale[m];
    for (int64_t m = 0; ks->bias && m < ks->M; m++) {
        double q = nearbyint((double)ks->bias[m] / os[m]);
        ((int32_t *)data[3])[m] = q > INT32_MAX ? INT32_MAX : q < INT32_MIN ? INT32_MIN : (int32_t)q;
    }
}

/* A reorder whose output scales (mask over the output's dims) come at run time from
 * temporary `scales` (md smd); with a sum post-op when `sum`. */
static tt_status scaled_reorder(const tt_node *n, tt_dnnl_plan *p, dnnl_engine_t eng, tt_dnnl_buf_kind sk, int si,
                                const dnnl_memory_desc_t *smd, tt_dnnl_buf_kind dk, int di,
                                const dnnl_memory_desc_t *dmd, int mask, int scales, const dnnl_memory_desc_t *scmd,
                                bool sum)
{
    dnnl_primitive_attr_t attr;
    TT_TRY(tt_dnnl_attr_new(&attr, n));
    tt_status s = tt_dnnl_check(dnnl_primitive_attr_set_output_scales(attr, 1, mask, &DNNL_RUNTIME_F32_VAL), n,
                                "setting run-time scales");
    dnnl_post_ops_t po = NULL;
    if (s == TT_OK && sum) {
        s = tt_dnnl_check(dnnl_post_ops_create(&po), n, "creating post-ops");
        if (s == TT_OK)
            s = tt_dnnl_check(dnnl_post_ops_append_sum(po, 1.0f), n, "adding Z");
        if (s == TT_OK)
            s = tt_dnnl_check(dnnl_primitive_attr_set_post_ops(attr, po), n, "setting post-ops");
    }
    tt_dnnl_step *st;
    if (s == TT_OK)
        s = tt_dnnl_plan_reorder_attr(p, eng, sk, si, smd, dk, di, dmd, attr, n, &st);
    if (s == TT_OK)
        tt_dnnl_step_arg(st, DNNL_ARG_ATTR_OUTPUT_SCALES, TT_DNNL_TMP, scales, scmd);
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

/* An int8 plan for one sample. oneDNN 2.6's int8 convolutions take their scales only when
 * the primitive is made, so the sample's scale, known at run time, is applied by reorders:
 *   scales (host) -> X quantised (reorder, 1 / x_scale) -> convolution into int32 (with the
 *   bias in its units) -> [Z copied into the output] -> int32 to float (reorder, x_scale *
 *   w_scale[m], summing onto Z) -> [activation, in place]. */
static tt_status int8_make(tt_kctx *c, tt_dnnl_plan *p, dnnl_engine_t eng, const tt_win *win, const int64_t *x_l,
                           const int64_t *y_l)
{
    const tt_node *n = c->node;
    conv_kstate *ks = c->kstate;
    dnnl_memory_desc_t xmd, ymd, src, dst, wts = ks->w_md, one, mmd, bmd;
    TT_TRY(user_mds(n, ks, x_l, y_l, &xmd, &ymd));
    TT_TRY(primitive_mds(n, ks, x_l, y_l, &src, &dst));
    int64_t d1 = 1;
    TT_TRY(tt_dnnl_md(&one, 1, &d1, dnnl_a, n));
    TT_TRY(tt_dnnl_md(&mmd, 1, &ks->M, dnnl_a, n));
    TT_TRY(tt_dnnl_md_dt(&bmd, 1, &ks->M, dnnl_s32, dnnl_a, n));
    conv_try t = {.alg = dnnl_convolution_direct, .impl = ""};
    dnnl_primitive_desc_t pd;
    tt_status s = conv_pd(n, ks, win, eng, &src, &wts, &dst, &ymd, &t, &pd);
    if (s == TETHER_ERR_UNSUPPORTED) {
        tt_error_clear();
        t.allow_ref = true;
        s = conv_pd(n, ks, win, eng, &src, &wts, &dst, &ymd, &t, &pd);
    }
    TT_TRY(s);
    dnnl_memory_desc_t psrc = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t pdst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    int xq = tt_dnnl_plan_tmp(p, &psrc), acc = tt_dnnl_plan_tmp(p, &pdst), qs = tt_dnnl_plan_tmp(p, &one),
        os = tt_dnnl_plan_tmp(p, &mmd), qb = ks->bias ? tt_dnnl_plan_tmp(p, &bmd) : 0;
    tt_dnnl_step *h = NULL;
    if (xq < 0 || acc < 0 || qs < 0 || os < 0 || qb < 0)
        s = tt_op_error(n, TETHER_ERR_INTERNAL, "too many temporaries");
    if (s == TT_OK)
        s = tt_dnnl_plan_host(p, int8_scales, ks, n, &h);
    if (s != TT_OK) {
        dnnl_primitive_desc_destroy(pd);
        return s;
    }
    tt_dnnl_step_arg(h, 0, TT_DNNL_IN, 0, &xmd);
    tt_dnnl_step_arg(h, 0, TT_DNNL_TMP, qs, &one);
    tt_dnnl_step_arg(h, 0, TT_DNNL_TMP, os, &mmd);
    if (ks->bias)
        tt_dnnl_step_arg(h, 0, TT_DNNL_TMP, qb, &bmd);
    s = scaled_reorder(n, p, eng, TT_DNNL_IN, 0, &xmd, TT_DNNL_TMP, xq, &psrc, 0, qs, &one, false);
    if (s != TT_OK) {
        dnnl_primitive_desc_destroy(pd);
        return s;
    }
    p->consts[0] = ks->w;
    p->nconst = 1;
    tt_dnnl_step *st;
    TT_TRY(tt_dnnl_plan_step(p, pd, n, &st));
    tt_dnnl_step_arg(st, DNNL_ARG_SRC, TT_DNNL_TMP, xq, &psrc);
    tt_dnnl_step_arg(st, DNNL_ARG_WEIGHTS, TT_DNNL_CONST, 0, &wts);
    if (ks->bias)
        tt_dnnl_step_arg(st, DNNL_ARG_BIAS, TT_DNNL_TMP, qb, &bmd);
    tt_dnnl_step_arg(st, DNNL_ARG_DST, TT_DNNL_TMP, acc, &pdst);
    if (ks->has_z)
        TT_TRY(tt_dnnl_plan_reorder(p, eng, TT_DNNL_IN, 3, &ymd, TT_DNNL_OUT, 0, &ymd, n));
    TT_TRY(scaled_reorder(n, p, eng, TT_DNNL_TMP, acc, &pdst, TT_DNNL_OUT, 0, &ymd, 1 << 1, os, &mmd, ks->has_z));
    eltwise_op ops[2];
    int nops = ks->act ? act_ops(ks->act, ks->alpha, ks->beta, ops) : 0;
    for (int i = 0; i < nops; i++) {
        dnnl_eltwise_desc_t ed;
        TT_TRY(tt_dnnl_check(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, ops[i].alg, &ymd,
                                                            ops[i].alpha, ops[i].beta),
                             n, "describing the activation"));
        dnnl_primitive_attr_t attr;
        TT_TRY(tt_dnnl_attr_new(&attr, n));
        dnnl_primitive_desc_t epd;
        s = tt_dnnl_check(dnnl_primitive_desc_create(&epd, &ed, attr, eng, NULL), n, "making the activation");
        dnnl_primitive_attr_destroy(attr);
        TT_TRY(s);
        tt_dnnl_step *es;
        TT_TRY(tt_dnnl_plan_step(p, epd, n, &es));
        tt_dnnl_step_arg(es, DNNL_ARG_SRC, TT_DNNL_OUT, 0, &ymd);
        tt_dnnl_step_arg(es, DNNL_ARG_DST, TT_DNNL_OUT, 0, &ymd);
    }
    return TT_OK;
}

static tt_status conv_prepare(const tt_kprep *p, void **kstate)
{
    const tt_node *n = p->node;
    const tt_tensor *w = p->cst[1], *b = p->n_in > 2 ? p->cst[2] : NULL;
    const tt_type *x = p->in[0];
    const tt_win_attrs *a = n->state;
    conv_kstate *ks = tt_calloc(1, sizeof *ks);
    if (!ks)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", n->name);
    tt_dnnl_cache_init(&ks->cache);
    ks->ref = tt_cpu_ref_kernel(n);
    ks->nsp = w->rank - 2;
    ks->G = a->group;
    ks->transpose = is_transpose(n);
    ks->M = ks->transpose ? w->dims[1] * a->group : w->dims[0];
    ks->C = ks->transpose ? w->dims[0] : w->dims[1] * a->group;
    ks->bias = b ? b->data : NULL;
    for (int i = 0; i < ks->nsp; i++)
        ks->kdims[i] = w->dims[2 + i];
    ks->xblock = x->rank == w->rank + 1 ? x->dims[x->rank - 1] : 0;
    if (is_fused(n)) {
        const tt_fused_conv_attrs *st = n->state;
        ks->yblock = st->block;
        ks->act = st->act;
        ks->alpha = st->alpha;
        ks->beta = st->beta;
        ks->has_z = p->n_in > 3 && p->in[3];
        /* where the CPU has no kernels for it, reduced precision stays float32 */
        ks->prec = st->precision;
        if (ks->prec == TT_PRECISION_BF16 && !tt_dnnl_has_bf16())
            ks->prec = TT_PRECISION_FP32;
    }
    *kstate = ks;
    if (ks->prec == TT_PRECISION_INT8)
        TT_TRY(quantise_weights_scales(n, ks, w));
    dnnl_engine_t eng = tt_dnnl_engine();
    if (!eng)
        return TETHER_ERR_INTERNAL;
    /* the algorithm and the weights' layout from one sample of representative shape: the
     * layout depends on the channels, kernel and strides, not on the image size */
    int64_t xdims[TT_MAX_RANK] = {1, ks->C};
    for (int i = 0; i < ks->nsp; i++) {
        int64_t d = x->dims[2 + i];
        xdims[2 + i] = d >= 0 ? d : 32 + (w->dims[2 + i] - 1) * (a->n_dilations ? a->dilations[i] : 1);
    }
    int64_t x_l[TT_MAX_RANK], y_l[TT_MAX_RANK];
    tt_win win;
    TT_TRY(conv_geometry(n, ks, xdims, x_l, y_l, &win));
    dnnl_memory_desc_t xmd, ymd, wany, wuser, src, dst;
    TT_TRY(user_mds(n, ks, x_l, y_l, &xmd, &ymd));
    TT_TRY(weights_md(n, ks, true, &wany));
    TT_TRY(weights_md(n, ks, false, &wuser));
    TT_TRY(primitive_mds(n, ks, x_l, y_l, &src, &dst));
    tt_threads_for_omp();
    if (ks->prec == TT_PRECISION_FP32)
        choose_algorithm(n, ks, &win, eng, &src, &wany, &dst, &ymd);
    else
        ks->alg = dnnl_convolution_direct;
    dnnl_primitive_desc_t pd;
    conv_try t = {.alg = ks->alg, .impl = ks->impl};
    tt_status s = conv_pd(n, ks, &win, eng, &src, &wany, &dst, &ymd, &t, &pd);
    if (s == TETHER_ERR_UNSUPPORTED) {
        /* runs become the reference kernel's: nothing to pack */
        TT_DEBUG("%s", tt_last_error());
        tt_error_clear();
        ks->w_md = wuser;
        return TT_OK;
    }
    TT_TRY(s);
    ks->w_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    return pack_weights(n, ks, eng, &wuser, w->data, &ks->w_md, &ks->w);
}

/* The runtime may free W once prepare packed it, where the packed copy gives it back
 * exactly: direct float32 layouts (Winograd's and the reduced precisions' do not). */
static bool conv_packed(const void *kstate, int i)
{
    const conv_kstate *ks = kstate;
    return i == 1 && ks->w && ks->prec == TT_PRECISION_FP32 && ks->alg == dnnl_convolution_direct;
}

/* W in its ONNX layout: the input's, or (freed after packing) unpacked from ks->w into
 * scratch memory. */
static tt_status original_weights(tt_kctx *c, const conv_kstate *ks, const void **out)
{
    const tt_tensor *w = tt_kin(c, 1);
    if (w && w->data) {
        *out = w->data;
        return TT_OK;
    }
    dnnl_engine_t eng = tt_dnnl_engine();
    if (!eng || !ks->w)
        return tt_op_error(c->node, TETHER_ERR_INTERNAL, "the weights are gone");
    dnnl_memory_desc_t wuser;
    TT_TRY(weights_md(c->node, ks, false, &wuser));
    void *plain = tt_kctx_scratch(c, dnnl_memory_desc_get_size(&wuser));
    if (!plain)
        return TETHER_ERR_NO_MEMORY;
    TT_TRY(tt_dnnl_unpack(eng, &ks->w_md, ks->w, &wuser, plain, c->node));
    *out = plain;
    return TT_OK;
}

/* A plan for one sample (p->key holds its dims): reorder X in if the primitive wants
 * another layout, copy Z into the output where it is summed rather than read as a binary
 * post-op, convolve, reorder the output out if the primitive computes in another layout. */
static tt_status conv_make(tt_kctx *c, tt_dnnl_plan *p, dnnl_engine_t eng)
{
    const tt_node *n = c->node;
    conv_kstate *ks = c->kstate;
    if (!ks->w)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "oneDNN has no convolution for these weights");
    int64_t x_l[TT_MAX_RANK], y_l[TT_MAX_RANK];
    tt_win win;
    TT_TRY(conv_geometry(n, ks, p->key, x_l, y_l, &win));
    /* one sample's primitive runs to its end: beyond milliseconds of work, the reference
     * kernel, which polls the run's limit */
    /* C x M / G per (output, for ConvTranspose input) position and kernel tap */
    double macs = (double)ks->C * (double)ks->M / (double)ks->G;
    for (int i = 0; i < ks->nsp; i++)
        macs *= (double)(ks->transpose ? x_l[2 + i] : y_l[2 + i]) * (double)ks->kdims[i];
    if (macs > TT_DNNL_MAX_WORK)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "%.3g multiply-adds per sample are too many for one primitive",
                           macs);
    if (ks->prec == TT_PRECISION_INT8)
        return int8_make(c, p, eng, &win, x_l, y_l);
    dnnl_memory_desc_t xmd, ymd, src, dst, wts = ks->w_md, wany;
    TT_TRY(user_mds(n, ks, x_l, y_l, &xmd, &ymd));
    TT_TRY(weights_md(n, ks, true, &wany));
    TT_TRY(primitive_mds(n, ks, x_l, y_l, &src, &dst));
    /* in order of preference: the implementation chosen at open with the packed weights,
     * Z read in place (binary) or summed; then oneDNN's own choice of algorithm and weights
     * layout (the weights packed again for this plan) */
    const conv_try tries[] = {
        {ks->alg, ks->impl, true, false},
        {ks->alg, ks->impl, false, false},
        {dnnl_convolution_direct, "", true, false},
        {dnnl_convolution_direct, "", false, true},
    };
    dnnl_primitive_desc_t pd = NULL;
    tt_status s = TETHER_ERR_UNSUPPORTED;
    int i = 0;
    for (; i < 4 && s == TETHER_ERR_UNSUPPORTED; i++) {
        if (tries[i].binary && !ks->has_z)
            continue;
        tt_error_clear();
        s = conv_pd(n, ks, &win, eng, &src, i < 2 ? &wts : &wany, &dst, &ymd, &tries[i], &pd);
    }
    TT_TRY(s);
    bool binary = tries[i - 1].binary;
    const void *w = ks->w;
    if (i > 2) {
        wts = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        dnnl_memory_desc_t wuser;
        s = weights_md(n, ks, false, &wuser);
        void *packed = NULL;
        const void *orig = NULL;
        if (s == TT_OK)
            s = original_weights(c, ks, &orig);
        if (s == TT_OK)
            s = pack_weights(n, ks, eng, &wuser, orig, &wts, &packed);
        if (s != TT_OK) {
            dnnl_primitive_desc_destroy(pd);
            return s;
        }
        p->owned[p->nowned++] = packed;
        w = packed;
    }
    dnnl_memory_desc_t psrc = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t pdst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    bool src_direct = dnnl_memory_desc_equal(&psrc, &xmd), dst_direct = dnnl_memory_desc_equal(&pdst, &ymd);
    int src_tmp = -1, dst_tmp = -1;
    if (!src_direct && (src_tmp = tt_dnnl_plan_tmp(p, &psrc)) < 0)
        s = tt_op_error(n, TETHER_ERR_INTERNAL, "too many temporaries");
    if (s == TT_OK && !dst_direct && (dst_tmp = tt_dnnl_plan_tmp(p, &pdst)) < 0)
        s = tt_op_error(n, TETHER_ERR_INTERNAL, "too many temporaries");
    if (s == TT_OK && !src_direct)
        s = tt_dnnl_plan_reorder(p, eng, TT_DNNL_IN, 0, &xmd, TT_DNNL_TMP, src_tmp, &psrc, n);
    tt_dnnl_buf_kind dk = dst_direct ? TT_DNNL_OUT : TT_DNNL_TMP;
    int di = dst_direct ? 0 : dst_tmp;
    if (s == TT_OK && ks->has_z && !binary)
        s = tt_dnnl_plan_reorder(p, eng, TT_DNNL_IN, 3, &ymd, dk, di, &pdst, n);
    if (s != TT_OK) {
        dnnl_primitive_desc_destroy(pd);
        return s;
    }
    p->consts[0] = w;
    p->consts[1] = ks->bias;
    p->nconst = 2;
    tt_dnnl_step *st;
    TT_TRY(tt_dnnl_plan_step(p, pd, n, &st));
    tt_dnnl_step_arg(st, DNNL_ARG_SRC, src_direct ? TT_DNNL_IN : TT_DNNL_TMP, src_direct ? 0 : src_tmp, &psrc);
    tt_dnnl_step_arg(st, DNNL_ARG_WEIGHTS, TT_DNNL_CONST, 0, &wts);
    if (ks->bias) {
        dnnl_memory_desc_t bmd;
        TT_TRY(tt_dnnl_md(&bmd, 1, &ks->M, dnnl_a, n));
        tt_dnnl_step_arg(st, DNNL_ARG_BIAS, TT_DNNL_CONST, 1, &bmd);
    }
    tt_dnnl_step_arg(st, DNNL_ARG_DST, dk, di, &pdst);
    if (ks->has_z && binary)
        tt_dnnl_step_arg(st, DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, TT_DNNL_IN, 3, &ymd);
    if (!dst_direct)
        TT_TRY(tt_dnnl_plan_reorder(p, eng, TT_DNNL_TMP, dst_tmp, &pdst, TT_DNNL_OUT, 0, &ymd, n));
    return TT_OK;
}

/* The reference kernel, with W given back where it was freed. */
static tt_status conv_fallback(tt_kctx *c, const conv_kstate *ks)
{
    if (!ks->ref)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "no kernel for these shapes");
    const void *w;
    TT_TRY(original_weights(c, ks, &w));
    tt_value wv = *c->in[1], *ins[TT_DNNL_MAX_ARGS];
    wv.t.data = (void *)w;
    if (c->n_in > TT_DNNL_MAX_ARGS)
        return tt_op_error(c->node, TETHER_ERR_INTERNAL, "too many inputs");
    for (int i = 0; i < c->n_in; i++)
        ins[i] = i == 1 ? &wv : c->in[i];
    tt_kctx sub = *c;
    sub.in = ins;
    return ks->ref->run(&sub);
}

static tt_status conv_run(tt_kctx *c)
{
    conv_kstate *ks = c->kstate;
    const tt_tensor *x = tt_kin(c, 0);
    if (tt_tensor_numel(tt_kout(c, 0)) == 0)
        return TT_OK;
    /* one sample at a time, with one plan whatever the batch (see tt_dnnl_run) */
    int64_t key[TT_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        key[i] = i ? x->dims[i] : 1;
    bool fallback;
    TT_TRY(tt_dnnl_run(c, &ks->cache, key, x->rank, x->dims[0], conv_make, &fallback));
    return fallback ? conv_fallback(c, ks) : TT_OK;
}

const tt_kernel tt_cpu_conv[] = {
    TT_KERNEL("Conv", 1, 0, TT_DT(TETHER_DTYPE_FLOAT), conv_run, .supports = conv_supports, .prepare = conv_prepare,
              .release = conv_release, .packed = conv_packed),
    TT_KERNEL("ConvTranspose", 1, 0, TT_DT(TETHER_DTYPE_FLOAT), conv_run, .supports = conv_supports,
              .prepare = conv_prepare, .release = conv_release, .packed = conv_packed),
    {.domain = TT_DOMAIN, .name = "FusedConv", .since = 1, .dtypes = TT_DT(TETHER_DTYPE_FLOAT), .run = conv_run,
     .supports = conv_supports, .prepare = conv_prepare, .release = conv_release, .packed = conv_packed},
    TT_KERNEL_END,
};

#else
const tt_kernel tt_cpu_conv[] = {TT_KERNEL_END};
#endif
