/* Pools on oneDNN: MaxPool (without its Indices output), AveragePool, GlobalMaxPool and
 * GlobalAveragePool, in plain layouts and, as tether's Blocked* ops, on channel-blocked
 * tensors (ops/cnn.h: every lane is pooled, so padding lanes stay zero). Float32, 1 to 3
 * spatial dims. Shapes oneDNN pools differently from ONNX (ceil_mode windows counted with
 * their padding) go to the reference kernel. */
#include "backends/cpu/dnnl_kernels.h"

#ifdef TETHER_HAVE_DNNL

#include "backends/cpu/dnnl_plan.h"
#include "ops/cnn.h"

typedef enum pool_mode { POOL_MAX, POOL_AVG } pool_mode;

typedef struct pool_kstate {
    tt_dnnl_cache cache;
    const tt_kernel *ref;
    pool_mode mode;
    bool global, blocked;
} pool_kstate;

static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static void pool_kind(const tt_node *n, pool_mode *mode, bool *global, bool *blocked)
{
    const char *op = n->op_type;
    *blocked = starts_with(op, "Blocked");
    if (*blocked)
        op += strlen("Blocked");
    *global = starts_with(op, "Global");
    if (*global)
        op += strlen("Global");
    *mode = starts_with(op, "Max") ? POOL_MAX : POOL_AVG;
}

static bool pool_supports(const tt_kprep *p)
{
    pool_mode mode;
    bool global, blocked;
    pool_kind(p->node, &mode, &global, &blocked);
    const tt_type *x = p->in[0];
    if (!x || x->rank < 0)
        return false;
    int nsp = x->rank - 2 - blocked;
    if (nsp < 1 || nsp > 3)
        return false;
    if (blocked) {
        int64_t b = x->dims[x->rank - 1], want = tt_dnnl_block();
        if (b != want && !(want == 16 && b == 8))
            return false;
    }
    /* MaxPool's Indices have no oneDNN counterpart */
    if (!global && mode == POOL_MAX && p->n_out > 1 && p->node->outputs[1] >= 0)
        return false;
    return true;
}

static void pool_release(void *kstate)
{
    pool_kstate *ks = kstate;
    if (!ks)
        return;
    tt_dnnl_cache_free(&ks->cache);
    tt_free(ks);
}

static tt_status pool_prepare(const tt_kprep *p, void **kstate)
{
    pool_kstate *ks = tt_calloc(1, sizeof *ks);
    if (!ks)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", p->node->name);
    tt_dnnl_cache_init(&ks->cache);
    ks->ref = tt_cpu_ref_kernel(p->node);
    pool_kind(p->node, &ks->mode, &ks->global, &ks->blocked);
    *kstate = ks;
    return TT_OK;
}

static tt_status pool_make(tt_kctx *c, tt_dnnl_plan *p, dnnl_engine_t eng)
{
    const tt_node *n = c->node;
    const pool_kstate *ks = c->kstate;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int r = x->rank - ks->blocked, nsp = r - 2;
    int64_t b = ks->blocked ? x->dims[x->rank - 1] : 0;
    int64_t xl[TT_MAX_RANK], yl[TT_MAX_RANK];
    for (int i = 0; i < r; i++) {
        xl[i] = x->dims[i];
        yl[i] = y->dims[i];
    }
    if (b) {
        xl[1] *= b;
        yl[1] *= b;
    }
    dnnl_dims_t strides, kernel, dil, pl, pr;
    dnnl_alg_kind_t alg = dnnl_pooling_max;
    if (ks->global) {
        for (int i = 0; i < nsp; i++) {
            strides[i] = 1, kernel[i] = xl[2 + i], dil[i] = 0, pl[i] = pr[i] = 0;
        }
        if (ks->mode == POOL_AVG)
            alg = dnnl_pooling_avg_exclude_padding;
    } else {
        const tt_pool_attrs *st = n->state;
        tt_win w;
        TT_TRY(tt_win_forward(n, &st->a, nsp, NULL, xl + 2, &w));
        for (int i = 0; i < nsp; i++) {
            int k = TT_WIN_DIMS - nsp + i;
            strides[i] = w.stride[k], kernel[i] = w.kernel[k], dil[i] = w.dilation[k] - 1;
            pl[i] = w.pad_begin[k], pr[i] = w.pad_end[k];
            /* ceil_mode's last window may reach past the end padding: oneDNN pads further */
            int64_t span = (w.kernel[k] - 1) * w.dilation[k] + 1;
            if ((w.in[k] + pl[i] + pr[i] - span) / w.stride[k] + 1 != w.out[k]) {
                int64_t need = (w.out[k] - 1) * w.stride[k] + span - w.in[k] - pl[i];
                if (ks->mode == POOL_AVG && st->count_include_pad)
                    return tt_op_error(n, TETHER_ERR_UNSUPPORTED,
                                       "oneDNN counts the padding past the end of a ceil_mode window");
                pr[i] = need;
            }
            if (pl[i] >= span || pr[i] >= span)
                return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "oneDNN pools no window of padding alone");
        }
        if (ks->mode == POOL_AVG)
            alg = st->count_include_pad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding;
    }
    /* one primitive runs to the end: work that would take more than milliseconds goes to
     * the reference kernel, which polls the run's limit */
    double work = 1;
    for (int i = 0; i < r; i++)
        work *= (double)yl[i];
    for (int i = 0; i < nsp; i++)
        work *= (double)kernel[i];
    if (work > TT_DNNL_MAX_WORK)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "%.3g window taps are too many for one primitive", work);
    dnnl_format_tag_t tag = b ? tt_dnnl_blocked_tag(r, b) : tt_dnnl_plain_tag(r);
    dnnl_memory_desc_t xmd, ymd;
    TT_TRY(tt_dnnl_md(&xmd, r, xl, tag, n));
    TT_TRY(tt_dnnl_md(&ymd, r, yl, tag, n));
    dnnl_pooling_v2_desc_t d;
    TT_TRY(tt_dnnl_check(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &xmd, &ymd, strides,
                                                           kernel, dil, pl, pr),
                         n, "describing the pool"));
    dnnl_primitive_attr_t attr;
    TT_TRY(tt_dnnl_attr_new(&attr, n));
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &d, attr, eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st == dnnl_unimplemented)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "oneDNN has no pool for these shapes");
    TT_TRY(tt_dnnl_check(st, n, "making the pool"));
    tt_dnnl_step *s;
    TT_TRY(tt_dnnl_plan_step(p, pd, n, &s));
    tt_dnnl_step_arg(s, DNNL_ARG_SRC, TT_DNNL_IN, 0, &xmd);
    tt_dnnl_step_arg(s, DNNL_ARG_DST, TT_DNNL_OUT, 0, &ymd);
    return TT_OK;
}

static tt_status pool_run(tt_kctx *c)
{
    pool_kstate *ks = c->kstate;
    const tt_tensor *x = tt_kin(c, 0);
    if (tt_tensor_numel(tt_kout(c, 0)) == 0 || tt_tensor_numel(x) == 0)
        return ks->ref->run(c);
    bool fallback;
    TT_TRY(tt_dnnl_run(c, &ks->cache, x->dims, x->rank, 1, pool_make, &fallback));
    return fallback ? ks->ref->run(c) : TT_OK;
}

#define POOL_KERNEL(name_)                                                                                             \
    TT_KERNEL(name_, 1, 0, TT_DT(TETHER_DTYPE_FLOAT), pool_run, .supports = pool_supports, .prepare = pool_prepare,   \
              .release = pool_release)
#define BLOCKED_POOL_KERNEL(name_)                                                                                     \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .dtypes = TT_DT(TETHER_DTYPE_FLOAT), .run = pool_run,            \
     .supports = pool_supports, .prepare = pool_prepare, .release = pool_release}

const tt_kernel tt_cpu_pool[] = {
    POOL_KERNEL("MaxPool"),
    POOL_KERNEL("AveragePool"),
    POOL_KERNEL("GlobalMaxPool"),
    POOL_KERNEL("GlobalAveragePool"),
    BLOCKED_POOL_KERNEL("BlockedMaxPool"),
    BLOCKED_POOL_KERNEL("BlockedAveragePool"),
    BLOCKED_POOL_KERNEL("BlockedGlobalMaxPool"),
    BLOCKED_POOL_KERNEL("BlockedGlobalAveragePool"),
    TT_KERNEL_END,
};

#else
const tt_kernel tt_cpu_pool[] = {TT_KERNEL_END};
#endif
