/* Conv on cuDNN. Each node keeps its cuDNN descriptors per input shape; the algorithm for a
 * shape is measured once (cudnnFindConvolutionForwardAlgorithmEx, within a workspace cap)
 * the first time the shape runs, which a session's warm-up run at open does, and kept in
 * the device's algorithm cache under a key of everything that decides it (algo.h), so a
 * second session of the same model measures nothing. Bias (and the activation of a fused
 * node) follow in one elementwise pass. The math mode follows the session's precision:
 * fp32 allows FMA kernels only, tf32 allows TF32 tensor cores, fp16 lets cuDNN round
 * inputs to half. 1-D convolutions run as 2-D ones of height 1. */
#include "cu.h"

#include <pthread.h>

#define CU_ENTER(c, x)                                                                             \
    cu_ctx *x;                                                                                     \
    do {                                                                                           \
        bool launch_;                                                                              \
        CU_TRY(cu_kctx(c, &x));                                                                    \
        CU_TRY(cu_gate(x, c, &launch_));                                                           \
        if (!launch_)                                                                              \
            return TT_OK;                                                                          \
    } while (0)

#define CONV_WS_CAP ((size_t)64 << 20) /* what a measured algorithm may use: it counts against the slot's quota */
#define CONV_SHAPES 8

/* The geometry of one call: NC + up to 3 spatial dims, padded symmetric. */
typedef struct conv_geom {
    int nsp;
    int64_t x[5], w[5], y[5];
    int64_t pad[3], stride[3], dil[3], group;
} conv_geom;

/* Geometry from attributes and the concrete shapes; UNSUPPORTED when the padding is
 * asymmetric (cuDNN pads both sides alike). */
__attribute__((unused)) static tt_status conv_geometry(const tt_node *n, const int64_t *xd, int xr, const int64_t *wd, const int64_t *yd,
                               conv_geom *g)
{
    memset(g, 0, sizeof *g);
    g->nsp = xr - 2;
    if (g->nsp < 1 || g->nsp > 3)
        return cu_node_err(n, TETHER_ERR_UNSUPPORTED, "convolutions over %d spatial dims", g->nsp);
    int64_t st[3], dil[3], pads[6];
    int ns = cu_attr_ints(n, "strides", st, 3), nd = cu_attr_ints(n, "dilations", dil, 3);
    int np = cu_attr_ints(n, "pads", pads, 6);
    const char *auto_pad = cu_attr_str(n, "auto_pad", "NOTSET");
    g->group = cu_attr_int(n, "group", 1);
    for (int i = 0; i < 2 + g->nsp; i++) {
        g->x[i] = xd[i];
        g->w[i] = wd[i];
        g->y[i] = yd ? yd[i] : -1;
    }
    for (int i = 0; i < g->nsp; i++) {
        g->stride[i] = ns == g->nsp ? st[i] : 1;
        g->dil[i] = nd == g->nsp ? dil[i] : 1;
        int64_t b = 0, e = 0;
        if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0) {
            if (xd[2 + i] < 0)
                return cu_node_err(n, TETHER_ERR_UNSUPPORTED, "SAME padding of an unknown size");
            int64_t out = (xd[2 + i] + g->stride[i] - 1) / g->stride[i];
            int64_t total = (out - 1) * g->stride[i] + (wd[2 + i] - 1) * g->dil[i] + 1 - xd[2 + i];
            if (total < 0)
                total = 0;
            b = strcmp(auto_pad, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
            e = total - b;
        } else if (strcmp(auto_pad, "VALID") != 0 && np == 2 * g->nsp) {
            b = pads[i];
            e = pads[g->nsp + i];
        }
        if (b != e)
            return cu_node_err(n, TETHER_ERR_UNSUPPORTED, "asymmetric padding (%lld before, %lld after)", (long long)b,
                               (long long)e);
        g->pad[i] = b;
    }
    return TT_OK;
}

static bool conv_supports(const tt_kprep *p)
{
#ifndef TT_CUDA_HAVE_CUDNN
    (void)p;
    return false;
#else
    if (!cu_float_only(p))
        return false;
    const tt_type *x = p->in[0], *w = p->in[1];
    if (!x || !w || x->rank < 3 || x->rank > 5 || w->rank != x->rank)
        return false;
    for (int i = 1; i < w->rank; i++)
        if (w->dims[i] < 0)
            return false;
    conv_geom g;
    bool ok = conv_geometry(p->node, x->dims, x->rank, w->dims, NULL, &g) == TT_OK;
    cu_host->set_error(TT_OK, ""); /* a refusal is not an error: the node falls back */
    return ok;
#endif
}

#ifdef TT_CUDA_HAVE_CUDNN

typedef struct conv_shape {
    bool used;
    int64_t x[5];
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnConvolutionFwdAlgo_t algo;
    size_t ws;
    uint64_t stamp;
} conv_shape;

typedef struct conv_state {
    pthread_mutex_t lock;
    conv_shape shape[CONV_SHAPES];
    uint64_t clock;
    cu_ew_prog post;             /* the fused activation, if any */
} conv_state;

static void shape_destroy(conv_shape *s)
{
    if (s->xd)
        cudnnDestroyTensorDescriptor(s->xd);
    if (s->yd)
        cudnnDestroyTensorDescriptor(s->yd);
    if (s->wd)
        cudnnDestroyFilterDescriptor(s->wd);
    if (s->cd)
        cudnnDestroyConvolutionDescriptor(s->cd);
    memset(s, 0, sizeof *s);
}

static tt_status conv_prepare(const tt_kprep *p, void **kstate)
{
    conv_state *s = calloc(1, sizeof *s);
    if (!s)
        return cu_err(TETHER_ERR_NO_MEMORY, "out of memory for a convolution's state");
    pthread_mutex_init(&s->lock, NULL);
    (void)p;
    *kstate = s;
    return TT_OK;
}

static void conv_release(void *kstate)
{
    conv_state *s = kstate;
    if (!s)
        return;
    for (int i = 0; i < CONV_SHAPES; i++)
        if (s->shape[i].used)
            shape_destroy(&s->shape[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static cudnnMathType_t math_type(cu_math m)
{
    return m == CU_MATH_FP16   ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
           : m == CU_MATH_TF32 ? CUDNN_DEFAULT_MATH
                               : CUDNN_FMA_MATH;
}

static void contiguous_strides(const int *dims, int n, int *strides)
{
    int s = 1;
    for (int i = n - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

/* Descriptors for a shape (4-D for 1 and 2 spatial dims, 5-D for 3). */
static tt_status shape_build(cu_ctx *x, const tt_kctx *c, const conv_geom *g, conv_shape *s)
{
    const tt_node *n = c->node;
    int nd = g->nsp == 3 ? 5 : 4, xs[5], ws_[5], ys[5], strides[5];
    int pad[3], st[3], dil[3];
    for (int i = 0; i < nd; i++) {
        /* 1-D: the spatial dim becomes W under an H of 1 */
        int src = g->nsp == 1 ? (i < 2 ? i : i == 2 ? -1 : 2) : i;
        xs[i] = src < 0 ? 1 : (int)g->x[src];
        ws_[i] = src < 0 ? 1 : (int)g->w[src];
        ys[i] = src < 0 ? 1 : (int)g->y[src];
    }
    for (int i = 0; i < nd - 2; i++) {
        int src = g->nsp == 1 ? (i == 0 ? -1 : 0) : i;
        pad[i] = src < 0 ? 0 : (int)g->pad[src];
        st[i] = src < 0 ? 1 : (int)g->stride[src];
        dil[i] = src < 0 ? 1 : (int)g->dil[src];
    }
    memset(s, 0, sizeof *s);
    tt_status r = cu_dnn(cudnnCreateTensorDescriptor(&s->xd), n, "a tensor descriptor");
    if (r == TT_OK)
        r = cu_dnn(cudnnCreateTensorDescriptor(&s->yd), n, "a tensor descriptor");
    if (r == TT_OK)
        r = cu_dnn(cudnnCreateFilterDescriptor(&s->wd), n, "a filter descriptor");
    if (r == TT_OK)
        r = cu_dnn(cudnnCreateConvolutionDescriptor(&s->cd), n, "a convolution descriptor");
    if (r == TT_OK) {
        contiguous_strides(xs, nd, strides);
        r = cu_dnn(cudnnSetTensorNdDescriptor(s->xd, CUDNN_DATA_FLOAT, nd, xs, strides), n, "describing the input");
    }
    if (r == TT_OK) {
        contiguous_strides(ys, nd, strides);
        r = cu_dnn(cudnnSetTensorNdDescriptor(s->yd, CUDNN_DATA_FLOAT, nd, ys, strides), n, "describing the output");
    }
    if (r == TT_OK)
        r = cu_dnn(cudnnSetFilterNdDescriptor(s->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, nd, ws_), n,
                   "describing the filter");
    if (r == TT_OK)
        r = cu_dnn(cudnnSetConvolutionNdDescriptor(s->cd, nd - 2, pad, st, dil, CUDNN_CROSS_CORRELATION,
                                                   CUDNN_DATA_FLOAT),
                   n, "describing the convolution");
    if (r == TT_OK)
        r = cu_dnn(cudnnSetConvolutionGroupCount(s->cd, (int)g->group), n, "setting groups");
    if (r == TT_OK)
        r = cu_dnn(cudnnSetConvolutionMathType(s->cd, math_type(cu_kmath(c))), n, "setting the math mode");
    if (r != TT_OK) {
        shape_destroy(s);
        return r;
    }
    s->used = true;
    (void)x;
    return TT_OK;
}

/* The algorithm for this shape: from the device's cache, else measured now (never during a
 * graph capture) and cached. */
static tt_status choose_algo(cu_ctx *x, const tt_kctx *c, const conv_geom *g, conv_shape *s, const void *xp,
                             const void *wp, void *yp)
{
    const tt_node *n = c->node;
    cu_conv_key key;
    if (!cu_conv_key_make(&key, g->nsp, TETHER_DTYPE_FLOAT, cu_kmath(c), g->group, g->x, g->w, g->pad, g->stride,
                          g->dil, 0))
        return cu_node_err(n, TETHER_ERR_UNSUPPORTED, "a convolution shape cuDNN's keys cannot hold");
    cu_algo_choice ch;
    cu_device *dev = x->be->dev;
    if (!cu_algo_cache_get(&dev->convs, &key, &ch)) {
        if (x->mode != CU_MODE_NORMAL)
            return cu_node_err(n, TETHER_ERR_INTERNAL, "a new convolution shape during a CUDA graph capture");
        void *ws;
        CU_TRY(cu_workspace(x, n, CONV_WS_CAP, &ws));
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int found = 0;
        CU_TRY(cu_dnn(cudnnFindConvolutionForwardAlgorithmEx(x->dnn, s->xd, xp, s->wd, wp, s->cd, s->yd, yp,
                                                             CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf, ws,
                                                             x->ws_cap),
                      n, "measuring convolution algorithms"));
        int best = -1;
        for (int i = 0; i < found && best < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= x->ws_cap)
                best = i;
        if (best < 0) {
            char k[256];
            cu_conv_key_str(&key, k, sizeof k);
            return cu_node_err(n, TETHER_ERR_UNSUPPORTED, "cuDNN has no algorithm for %s", k);
        }
        ch = (cu_algo_choice){.algo = perf[best].algo, .workspace = perf[best].memory, .math = perf[best].mathType,
                              .ms = perf[best].time};
        cu_algo_cache_put(&dev->convs, &key, &ch);
        char k[256];
        cu_conv_key_str(&key, k, sizeof k);
        cu_log(0, "cuDNN: %s: algorithm %d, %llu bytes of workspace, %.3f ms", k, ch.algo,
               (unsigned long long)ch.workspace, ch.ms);
    }
    s->algo = (cudnnConvolutionFwdAlgo_t)ch.algo;
    CU_TRY(cu_dnn(cudnnSetConvolutionMathType(s->cd, (cudnnMathType_t)ch.math), n, "setting the math mode"));
    size_t need = 0;
    CU_TRY(cu_dnn(cudnnGetConvolutionForwardWorkspaceSize(x->dnn, s->xd, s->wd, s->cd, s->yd, s->algo, &need), n,
                  "sizing the workspace"));
    s->ws = need;
    return TT_OK;
}

static tt_status run_conv(tt_kctx *c)
{
    const tt_tensor *xt = tt_kin(c, 0), *wt = tt_kin(c, 1), *bt = tt_kin(c, 2);
    tt_tensor *yt = tt_kout(c, 0);
    conv_geom g;
    CU_TRY(conv_geometry(c->node, xt->dims, xt->rank, wt->dims, yt->dims, &g));
    if (bt && tt_tensor_numel(bt) != yt->dims[1])
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "the bias must hold %lld values", (long long)yt->dims[1]);
    for (int i = 0; i < 2 + g.nsp; i++)
        if (g.x[i] > INT32_MAX || g.y[i] > INT32_MAX || g.w[i] > INT32_MAX)
            return cu_node_err(c->node, TETHER_ERR_UNSUPPORTED, "dims past 2^31 for cuDNN");
    CU_ENTER(c, x);
    conv_state *st = c->kstate;
    pthread_mutex_lock(&st->lock);
    conv_shape *s = NULL;
    for (int i = 0; i < CONV_SHAPES && !s; i++)
        if (st->shape[i].used && memcmp(st->shape[i].x, g.x, sizeof g.x) == 0)
            s = &st->shape[i];
    tt_status r = TT_OK;
    if (!s) {
        s = &st->shape[0];
        for (int i = 0; i < CONV_SHAPES; i++) {
            if (!st->shape[i].used) {
                s = &st->shape[i];
                break;
            }
            if (st->shape[i].stamp < s->stamp)
                s = &st->shape[i];
        }
        if (s->used)
            shape_destroy(s);
        r = shape_build(x, c, &g, s);
        if (r == TT_OK)
            r = choose_algo(x, c, &g, s, xt->data, wt->data, yt->data);
        if (r == TT_OK)
            memcpy(s->x, g.x, sizeof g.x);
        else if (s->used)
            shape_destroy(s);
    }
    void *ws = NULL;
    if (r == TT_OK) {
        s->stamp = ++st->clock;
        r = cu_workspace(x, c->node, s->ws, &ws);
    }
    if (r == TT_OK) {
        const float one = 1.f, zero = 0.f;
        r = cu_dnn(cudnnConvolutionForward(x->dnn, &one, s->xd, xt->data, s->wd, wt->data, s->cd, s->algo, ws, s->ws,
                                           &zero, s->yd, yt->data),
                   c->node, "running the convolution");
    }
    pthread_mutex_unlock(&st->lock);
    CU_TRY(r);
    if (bt || st->post.n) {
        cu_bias_act(x->stream, yt->data, bt ? bt->data : NULL, yt->dims[0], yt->dims[1],
                    cu_prod(yt->dims, 2, yt->rank), &st->post);
        CU_TRY(cu_launched(c->node, "adding the bias"));
    }
    return TT_OK;
}

#define FLOAT TT_DT(TETHER_DTYPE_FLOAT)

const tt_kernel cu_kernels_conv[] = {
    TT_KERNEL("Conv", 1, 0, FLOAT, run_conv, .supports = conv_supports, .prepare = conv_prepare,
              .release = conv_release),
    TT_KERNEL_END,
};

#else /* no cuDNN: convolutions fall back on the CPU */

const tt_kernel cu_kernels_conv[] = {
    TT_KERNEL_END,
};

#endif
