/* Layout changes on oneDNN's reorders: tether's ToBlocked and FromBlocked (ops/cnn.h) for
 * tensors of 1 to 3 spatial dims. */
#include "backends/cpu/dnnl_kernels.h"

#ifdef TETHER_HAVE_DNNL

#include "backends/cpu/dnnl_plan.h"
#include "ops/cnn.h"

typedef struct layout_kstate {
    tt_dnnl_cache cache;
    bool to_blocked;
} layout_kstate;

static bool layout_supports(const tt_kprep *p)
{
    const tt_type *x = p->in[0];
    int64_t want = tt_dnnl_block();
    if (!x || x->rank < 0 || !want)
        return false;
    if (strcmp(p->node->op_type, "ToBlocked") == 0) {
        int64_t b = tt_attr_int(p->node, "block", 0);
        return x->rank >= 3 && x->rank <= 5 && (b == want || b == 8);
    }
    int64_t b = x->dims[x->rank - 1];
    return x->rank >= 4 && x->rank <= 6 && (b == want || b == 8);
}

static void layout_release(void *kstate)
{
    layout_kstate *ks = kstate;
    if (!ks)
        return;
    tt_dnnl_cache_free(&ks->cache);
    tt_free(ks);
}

static tt_status layout_prepare(const tt_kprep *p, void **kstate)
{
    layout_kstate *ks = tt_calloc(1, sizeof *ks);
    if (!ks)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", p->node->name);
    tt_dnnl_cache_init(&ks->cache);
    ks->to_blocked = strcmp(p->node->op_type, "ToBlocked") == 0;
    *kstate = ks;
    return TT_OK;
}

static tt_status layout_make(tt_kctx *c, tt_dnnl_plan *p, dnnl_engine_t eng)
{
    const layout_kstate *ks = c->kstate;
    const tt_tensor *plain = ks->to_blocked ? tt_kin(c, 0) : tt_kout(c, 0);
    const tt_tensor *blocked = ks->to_blocked ? tt_kout(c, 0) : tt_kin(c, 0);
    int r = plain->rank;
    dnnl_memory_desc_t pmd, bmd;
    TT_TRY(tt_dnnl_md(&pmd, r, plain->dims, tt_dnnl_plain_tag(r), c->node));
    TT_TRY(tt_dnnl_md(&bmd, r, plain->dims, tt_dnnl_blocked_tag(r, blocked->dims[blocked->rank - 1]), c->node));
    if (ks->to_blocked)
        return tt_dnnl_plan_reorder(p, eng, TT_DNNL_IN, 0, &pmd, TT_DNNL_OUT, 0, &bmd, c->node);
    return tt_dnnl_plan_reorder(p, eng, TT_DNNL_IN, 0, &bmd, TT_DNNL_OUT, 0, &pmd, c->node);
}

static tt_status layout_run(tt_kctx *c)
{
    layout_kstate *ks = c->kstate;
    const tt_tensor *x = tt_kin(c, 0), *y = tt_kout(c, 0);
    if (tt_tensor_numel(x) == 0 || tt_tensor_numel(y) == 0)
        return TT_OK;
    const tt_tensor *plain = ks->to_blocked ? x : y;
    bool fallback;
    TT_TRY(tt_dnnl_run(c, &ks->cache, plain->dims, plain->rank, 1, layout_make, &fallback));
    if (fallback)
        return tt_op_error(c->node, TETHER_ERR_INTERNAL, "oneDNN refused a reorder");
    return TT_OK;
}

#define LAYOUT_KERNEL(name_)                                                                                           \
    {.domain = TT_DOMAIN, .name = name_, .since = 1, .dtypes = TT_DT(TETHER_DTYPE_FLOAT), .run = layout_run,          \
     .supports = layout_supports, .prepare = layout_prepare, .release = layout_release}

const tt_kernel tt_cpu_layout[] = {
    LAYOUT_KERNEL("ToBlocked"),
    LAYOUT_KERNEL("FromBlocked"),
    TT_KERNEL_END,
};

#else
const tt_kernel tt_cpu_layout[] = {TT_KERNEL_END};
#endif
