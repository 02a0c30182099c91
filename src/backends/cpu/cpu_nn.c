/* Row-wise float ops on the cpu backend: Softmax and LogSoftmax, layer normalisation (ONNX's
 * LayerNormalization and tether's LayerNorm), sums and means over the last axis, and the
 * fused Attention. Rows are split over the thread pool; each row is computed alone, so
 * batching never changes a sample's result. */
#include "backends/cpu/cpu.h"

#include <inttypes.h>

/* rows per task: at least ~16K elements of work */
static int64_t row_grain(int64_t n) { return n >= 16384 ? 1 : (16384 + n - 1) / (n ? n : 1); }

/* ---- Softmax, LogSoftmax ------------------------------------------------------------------- */

typedef struct rows_job {
    const tt_cpu_isa *isa;
    const float *x, *g, *b;
    float *y;
    int64_t n;
    float eps;
    bool log;
} rows_job;

static void sm_rows(void *arg, int64_t r0, int64_t r1)
{
    const rows_job *j = arg;
    j->isa->softmax(j->x + r0 * j->n, j->y + r0 * j->n, r1 - r0, j->n, j->log);
}

static int64_t sm_axis_default(const tt_node *n) { return tt_attr_int(n, "axis", n->opset >= 13 ? -1 : 1); }

static bool sm_supports(const tt_kprep *p)
{
    const tt_type *x = tt_cpu_ranked(p, 0);
    if (!x)
        return false;
    int64_t axis = sm_axis_default(p->node);
    if (axis < -x->rank || axis >= (x->rank ? x->rank : 1))
        return false;
    /* from opset 13 the axis alone is normalised: contiguous rows only when it is the last */
    return p->node->opset < 13 || axis == -1 || axis == x->rank - 1 || x->rank == 0;
}

static tt_status sm_run(tt_kctx *c, bool log)
{
    const tt_tensor *x = tt_kin(c, 0);
    int axis = 0;
    if (x->rank > 0)
        TT_TRY(tt_norm_axis(c->node, sm_axis_default(c->node), x->rank, false, &axis));
    int64_t n = x->rank ? tt_dims_prod(x->dims, axis, x->rank) : 1, numel = tt_tensor_numel(x);
    if (!numel)
        return TT_OK;
    rows_job j = {.isa = tt_cpu_isa_get(), .x = x->data, .y = tt_kout(c, 0)->data, .n = n, .log = log};
    tt_parallel_for_stoppable(numel / n, row_grain(n), 8.0 * (double)n, sm_rows, &j);
    return TT_OK;
}

static tt_status run_softmax(tt_kctx *c) { return sm_run(c, false); }
static tt_status run_logsoftmax(tt_kctx *c) { return sm_run(c, true); }

/* ---- layer normalisation ---------------------------------------------------------------------- */

static void ln_rows(void *arg, int64_t r0, int64_t r1)
{
    const rows_job *j = arg;
    j->isa->layernorm(j->x + r0 * j->n, j->y + r0 * j->n, r1 - r0, j->n, j->g, j->b, j->eps, NULL, NULL);
}

static tt_status ln_apply(const tt_tensor *x, tt_tensor *y, const tt_tensor *g, const tt_tensor *b, int64_t rows,
                          int64_t n, float eps)
{
    rows_job j = {.isa = tt_cpu_isa_get(), .x = x->data, .y = y->data, .n = n, .eps = eps,
                  .g = g ? g->data : NULL, .b = b ? b->data : NULL};
    if (rows && n)
        tt_parallel_for_stoppable(rows, row_grain(n), 4.0 * (double)n, ln_rows, &j);
    return TT_OK;
}

static tt_status run_ln_fused(tt_kctx *c)
{
    int64_t rows, n;
    TT_TRY(tt_fused_ln_rows(c, &rows, &n));
    const tt_fused_ln *st = c->state;
    return ln_apply(tt_kin(c, 0), tt_kout(c, 0), tt_kin(c, 1), tt_kin(c, 2), rows, n, st->epsilon);
}

/* ONNX LayerNormalization: Y only, float statistics, scale and bias of the normalised size. */
static bool ln17_supports(const tt_kprep *p)
{
    const tt_type *x = tt_cpu_ranked(p, 0);
    if (!x || x->rank == 0)
        return false;
    for (int i = 1; i < p->n_out; i++)
        if (p->node->outputs[i] >= 0)
            return false;
    int64_t axis = tt_attr_int(p->node, "axis", -1);
    if (axis < -x->rank || axis >= x->rank)
        return false;
    if (axis < 0)
        axis += x->rank;
    int64_t n = 1;
    for (int d = (int)axis; d < x->rank; d++) {
        if (!tt_dim_known(x->dims[d]))
            return false;
        n *= x->dims[d];
    }
    for (int i = 1; i < 3 && i < p->n_in; i++) {
        const tt_type *t = p->in[i];
        if (!t)
            continue;
        if (t->kind != TT_KIND_TENSOR || t->rank < 0 || t->dtype != TETHER_DTYPE_FLOAT)
            return false;
        int64_t m = 1;
        for (int d = 0; d < t->rank; d++) {
            if (!tt_dim_known(t->dims[d]))
                return false;
            m *= t->dims[d];
        }
        if (m != n)
            return false;
    }
    return true;
}

static tt_status run_ln17(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int axis;
    TT_TRY(tt_norm_axis(c->node, tt_attr_int(c->node, "axis", -1), x->rank, false, &axis));
    int64_t rows = tt_dims_prod(x->dims, 0, axis), n = tt_dims_prod(x->dims, axis, x->rank);
    for (int i = 1; i <= 2; i++)
        if (tt_kin(c, i) && tt_tensor_numel(tt_kin(c, i)) != n)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "%s must have %" PRId64 " values",
                               i == 1 ? "Scale" : "B", n);
    return ln_apply(x, tt_kout(c, 0), tt_kin(c, 1), tt_kin(c, 2), rows, n, tt_attr_float(c->node, "epsilon", 1e-5f));
}

/* ---- ReduceSum / ReduceMean over the last axis ------------------------------------------------- */

typedef struct red_job {
    const tt_cpu_isa *isa;
    const float *x;
    float *y;
    int64_t n;
    float scale;
} red_job;

static void red_rows(void *arg, int64_t r0, int64_t r1)
{
    const red_job *j = arg;
    j->isa->row_sum(j->x + r0 * j->n, j->y + r0, r1 - r0, j->n, j->scale);
}

/* The reduction's axes when they are known at open: exactly the last axis. */
static bool red_supports(const tt_kprep *p)
{
    const tt_type *x = tt_cpu_ranked(p, 0);
    if (!x || x->rank == 0)
        return false;
    const int64_t *axes = NULL;
    int64_t buf[TT_MAX_RANK];
    size_t n = 0;
    bool from_input = (strcmp(p->node->op_type, "ReduceSum") == 0 && p->node->opset >= 13) || p->node->opset >= 18;
    if (from_input) {
        const tt_tensor *a = p->n_in > 1 ? p->cst[1] : NULL;
        if (!a || tt_tensor_numel(a) != 1)
            return false;
        buf[0] = tt_load_i64(a->data, a->dtype, 0);
        axes = buf;
        n = 1;
    } else {
        axes = tt_attr_ints(p->node, "axes", &n);
    }
    return axes && n == 1 && (axes[0] == -1 || axes[0] == x->rank - 1);
}

static tt_status run_reduce(tt_kctx *c, bool mean)
{
    const tt_tensor *x = tt_kin(c, 0);
    int64_t n = x->dims[x->rank - 1], numel = tt_tensor_numel(x);
    tt_tensor *y = tt_kout(c, 0);
    if (n == 0) {
        /* an empty sum is 0; ref says what a mean of nothing is */
        memset(y->data, 0, (size_t)tt_tensor_numel(y) * sizeof(float));
        if (mean)
            for (int64_t i = 0; i < tt_tensor_numel(y); i++)
                ((float *)y->data)[i] = NAN;
        return TT_OK;
    }
    red_job j = {.isa = tt_cpu_isa_get(), .x = x->data, .y = y->data, .n = n, .scale = mean ? 1.0f / (float)n : 1.0f};
    tt_parallel_for_stoppable(numel / n, row_grain(n), (double)n, red_rows, &j);
    return TT_OK;
}

static tt_status run_reduce_sum(tt_kctx *c) { return run_reduce(c, false); }
static tt_status run_reduce_mean(tt_kctx *c) { return run_reduce(c, true); }

/* ---- Attention ---------------------------------------------------------------------------------- */

#define ATTN_ROWS 64

/* Each slot of work owns a region of scratch and takes batch entries slot, slot + nslots, ... */
typedef struct attn_job {
    const tt_cpu_isa *isa;
    const tt_attn_geom *g;
    float scale;
    const float *q, *k, *v, *mask;
    float *y;
    float *scratch;
    int64_t per_slot, nslots;
    bool gather[5];   /* q, k, v, out, mask need a contiguous copy */
} attn_job;

/* Copies a rows x cols block with strides (rs, cs) into a dense one, or back (scatter). */
static void block_copy(float *dense, const float *src, float *dst, int64_t rows, int64_t cols, int64_t rs, int64_t cs)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            if (src)
                dense[i * cols + j] = src[i * rs + j * cs];
            else
                dst[i * rs + j * cs] = dense[i * cols + j];
        }
}

static void attn_slots(void *arg, int64_t s0, int64_t s1)
{
    const attn_job *j = arg;
    const tt_attn_geom *g = j->g;
    int r = g->rank;
    for (int64_t slot = s0; slot < s1; slot++) {
        float *w = j->scratch + slot * j->per_slot;
        float *work = w;
        float *bq = work + (g->d + ATTN_ROWS) * g->sk, *bk = bq + g->sq * g->d, *bv = bk + g->sk * g->d, *bo = bv + g->sk * g->dv,
              *bm = bo + g->sq * g->dv;
        for (int64_t b = slot; b < g->batch; b += j->nslots) {
            int64_t o[5];
            tt_attn_geom_offsets(g, b, o);
            const float *q = j->q + o[0], *k = j->k + o[1], *v = j->v + o[2], *mask = j->mask ? j->mask + o[4] : NULL;
            int64_t ldq = g->strides[0][r - 2], ldk = g->strides[1][r - 2], ldv = g->strides[2][r - 2];
            int64_t ldo = g->strides[3][r - 2], ldm = mask ? g->strides[4][r - 2] : 0;
            if (j->gather[0]) {
                block_copy(bq, q, NULL, g->sq, g->d, ldq, g->strides[0][r - 1]);
                q = bq, ldq = g->d;
            }
            if (j->gather[1]) {
                block_copy(bk, k, NULL, g->sk, g->d, ldk, g->strides[1][r - 1]);
                k = bk, ldk = g->d;
            }
            if (j->gather[2]) {
                block_copy(bv, v, NULL, g->sk, g->dv, ldv, g->strides[2][r - 1]);
                v = bv, ldv = g->dv;
            }
            if (mask && j->gather[4]) {
                block_copy(bm, mask, NULL, g->sq, g->sk, ldm, g->strides[4][r - 1]);
                mask = bm, ldm = g->sk;
            }
            float *out = j->gather[3] ? bo : j->y + o[3];
            int64_t lo = j->gather[3] ? g->dv : ldo;
            /* blocks of query rows bound the scores kept at once */
            for (int64_t i = 0; i < g->sq; i += ATTN_ROWS) {
                int64_t m = g->sq - i < ATTN_ROWS ? g->sq - i : ATTN_ROWS;
                j->isa->attention(m, g->sk, g->d, g->dv, j->scale, q + i * ldq, ldq, k, ldk, v, ldv,
                                  mask ? mask + i * ldm : NULL, ldm, out + i * lo, lo, work);
            }
            if (j->gather[3])
                block_copy(bo, NULL, j->y + o[3], g->sq, g->dv, ldo, g->strides[3][r - 1]);
        }
    }
}

static tt_status run_attention(tt_kctx *c)
{
    const tt_fused_attn *st = c->state;
    tt_attn_geom g;
    TT_TRY(tt_attn_geom_init(c, &g));
    if (!g.batch || !g.sq || !g.dv)
        return TT_OK;
    int r = g.rank;
    attn_job j = {.isa = tt_cpu_isa_get(), .g = &g, .scale = st->scale, .q = tt_kin(c, 0)->data,
                  .k = tt_kin(c, 1)->data, .v = tt_kin(c, 2)->data, .y = tt_kout(c, 0)->data,
                  .mask = g.has_mask ? tt_kin(c, 3)->data : NULL};
    for (int i = 0; i < 4; i++)
        j.gather[i] = g.strides[i][r - 1] != 1;
    j.gather[4] = g.has_mask && g.strides[4][r - 1] != 1;
    /* every region attn_slots may use: small next to the operands */
    j.per_slot = (g.d + ATTN_ROWS) * g.sk + g.sq * g.d + g.sk * g.d + g.sk * g.dv + g.sq * g.dv +
                 (g.has_mask ? g.sq * g.sk : 0);
    j.per_slot = (j.per_slot + 15) / 16 * 16;
    int64_t work = g.sq * g.sk * (g.d + g.dv);
    int threads = tt_threads();
    j.nslots = work * g.batch < 65536 ? 1 : g.batch < 4 * threads ? g.batch : 4 * threads;
    j.scratch = tt_kctx_scratch(c, (size_t)(j.per_slot * j.nslots) * sizeof(float));
    if (!j.scratch)
        return TETHER_ERR_NO_MEMORY; /* scratch set the message */
    tt_parallel_for_stoppable(j.nslots, 1, (double)work * (double)((g.batch + j.nslots - 1) / j.nslots), attn_slots,
                              &j);
    return TT_OK;
}

const tt_kernel tt_cpu_nn[] = {
    TT_KERNEL("Softmax", 1, 0, TT_CPU_FLOAT, run_softmax, .supports = sm_supports),
    TT_KERNEL("LogSoftmax", 1, 0, TT_CPU_FLOAT, run_logsoftmax, .supports = sm_supports),
    TT_KERNEL("LayerNormalization", 17, 0, TT_CPU_FLOAT, run_ln17, .supports = ln17_supports),
    TT_CPU_OWN("LayerNorm", TT_CPU_FLOAT, run_ln_fused),
    TT_KERNEL("ReduceSum", 1, 0, TT_CPU_FLOAT, run_reduce_sum, .supports = red_supports),
    TT_KERNEL("ReduceMean", 1, 0, TT_CPU_FLOAT, run_reduce_mean, .supports = red_supports),
    TT_CPU_OWN("Attention", TT_CPU_FLOAT, run_attention),
    TT_KERNEL_END,
};
