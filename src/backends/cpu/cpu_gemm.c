/* Matrix products on the cpu backend: MatMul, Gemm and FusedMatMul over the ISA's register-
 * tiled GEMM. Constant weights are packed once at open into panels of the tile's width;
 * bias, residual and activation are applied to each tile before it is stored. Work is split
 * over the thread pool by blocks of rows and columns; a row's result never depends on how
 * many rows there are (every element is one chain of FMAs over k in order), so a sample's
 * output is the same alone or in a batch. */
#include "backends/cpu/cpu.h"
#include "backends/cpu/lowp.h"

#include "core/log.h"

#include <inttypes.h>
#include <stdatomic.h>

int tt_cpu_act(tt_act a)
{
    switch (a) {
    case TT_ACT_ID_NONE: return TT_ACT_NONE;
    case TT_ACT_ID_RELU: return TT_U_RELU;
    case TT_ACT_ID_LEAKY_RELU: return TT_U_LEAKY_RELU;
    case TT_ACT_ID_SIGMOID: return TT_U_SIGMOID;
    case TT_ACT_ID_TANH: return TT_U_TANH;
    case TT_ACT_ID_GELU: return TT_U_GELU;
    case TT_ACT_ID_GELU_TANH: return TT_U_GELU_TANH;
    case TT_ACT_ID_CLIP: return TT_U_CLIP;
    }
    return TT_ACT_NONE;
}

/* ---- packing -------------------------------------------------------------------------------- */

static size_t packed_floats(int64_t K, int64_t N, int nr) { return (size_t)((N + nr - 1) / nr) * (size_t)K * (size_t)nr; }

/* B (K x N, or N x K when trans) into panels of nr columns, each K x nr, zero-padded. */
static void pack_b(const float *B, int64_t K, int64_t N, bool trans, int nr, float *out)
{
    for (int64_t j0 = 0; j0 < N; j0 += nr) {
        int64_t w = N - j0 < nr ? N - j0 : nr;
        for (int64_t k = 0; k < K; k++, out += nr) {
            if (trans) {
                for (int64_t j = 0; j < w; j++)
                    out[j] = B[(j0 + j) * K + k];
            } else {
                memcpy(out, B + k * N + j0, (size_t)w * sizeof(float));
            }
            for (int64_t j = w; j < nr; j++)
                out[j] = 0;
        }
    }
}

/* What prepare keeps: constant B packed (in fp32, or in bf16 / int8 for a FusedMatMul whose
 * precision allows it), and a constant bias row. */
typedef struct cpu_mm {
    float *packed;
    int64_t K, N;
    float *bias;     /* N values */
    tt_precision prec; /* what runs compute in: fp32 unless lowp holds the weights */
    void *lowp;        /* lowp.h's packed bf16 or s8 weights */
    float *w_scale;    /* int8: N column scales */
    int32_t *w_sum;    /* int8: N sums of the quantised columns */
} cpu_mm;

static void mm_release(void *p)
{
    cpu_mm *m = p;
    if (!m)
        return;
    tt_free_aligned(m->packed);
    tt_free_aligned(m->lowp);
    tt_free(m->w_scale);
    tt_free(m->w_sum);
    tt_free(m->bias);
    tt_free(m);
}

/* Whether this CPU computes products in precision p, saying once per process when it cannot
 * (those products then run fp32). */
static bool lowp_available(tt_precision p)
{
    static atomic_int said[2];
    bool bf16 = p == TT_PRECISION_BF16;
    if (bf16 ? tt_cpu_has_bf16() : tt_cpu_has_vnni())
        return true;
    if (!atomic_exchange(&said[bf16 ? 0 : 1], 1))
        TT_WARN("precision %s: this CPU (or TETHER_CPU_ISA) lacks AVX512-%s: matrix products run fp32",
                bf16 ? "bf16" : "int8", bf16 ? "BF16" : "VNNI");
    return false;
}

/* B packed for bf16 or int8 products into m (K, N set); false when it stays fp32. */
static bool mm_pack_lowp(const tt_node *n, const tt_tensor *b, bool trans, tt_precision prec, cpu_mm *m)
{
    if (prec == TT_PRECISION_FP32 || m->K == 0 || m->N == 0 || !lowp_available(prec))
        return false;
    bool int8 = prec == TT_PRECISION_INT8;
    if (int8 && m->K > TT_LOWP_INT8_MAX_K) {
        TT_DEBUG("node '%s': K %" PRId64 " is too long for exact int8 sums: fp32", n->name, m->K);
        return false;
    }
    m->lowp = tt_malloc_aligned(tt_lowp_packed_bytes(m->K, m->N, int8));
    if (int8) {
        m->w_scale = tt_malloc((size_t)m->N * sizeof(float));
        m->w_sum = tt_malloc((size_t)m->N * sizeof(int32_t));
    }
    if (!m->lowp || (int8 && (!m->w_scale || !m->w_sum))) {
        TT_DEBUG("node '%s': weights left in fp32: %s", n->name, tt_last_error());
        tt_error_clear();
        tt_free_aligned(m->lowp);
        tt_free(m->w_scale);
        tt_free(m->w_sum);
        m->lowp = NULL, m->w_scale = NULL, m->w_sum = NULL;
        return false;
    }
    if (int8)
        tt_lowp_s8_pack(b->data, m->K, m->N, trans, m->lowp, m->w_scale, m->w_sum);
    else
        tt_lowp_bf16_pack(b->data, m->K, m->N, trans, m->lowp);
    m->prec = prec;
    return true;
}

static tt_status mm_pack_const(const tt_node *n, const tt_tensor *b, bool trans, tt_precision prec, cpu_mm *m)
{
    if (!b || b->rank != 2 || b->dtype != TETHER_DTYPE_FLOAT)
        return TT_OK;
    m->K = b->dims[trans ? 1 : 0];
    m->N = b->dims[trans ? 0 : 1];
    if (mm_pack_lowp(n, b, trans, prec, m))
        return TT_OK;
    int nr = tt_cpu_isa_get()->nr;
    m->packed = tt_malloc_aligned(packed_floats(m->K, m->N, nr) * sizeof(float));
    if (!m->packed) {
        /* a memory budget (a slot's quota) may not hold a second copy: run from the original */
        TT_DEBUG("node '%s': weights left unpacked: %s", n->name, tt_last_error());
        tt_error_clear();
        return TT_OK;
    }
    pack_b(b->data, m->K, m->N, trans, nr, m->packed);
    return TT_OK;
}

/* ---- the threaded driver -------------------------------------------------------------------- */

typedef struct mm_job {
    const tt_cpu_isa *isa;
    int64_t M, N, K;
    const float *A, *B;
    int64_t lda, ldb;
    bool packed;
    float *C;
    int64_t ldc;
    const float *bias, *res;   /* res: C's shape and offsets */
    tt_gemm_epi e;
    int64_t batch;
    const int64_t *off;        /* per batch entry: A, B, C offsets (3 each); NULL: one entry */
    int64_t mb, nb, mblocks, nblocks;
} mm_job;

static void mm_units(void *arg, int64_t u0, int64_t u1)
{
    const mm_job *j = arg;
    int64_t per = j->mblocks * j->nblocks;
    for (int64_t u = u0; u < u1; u++) {
        int64_t b = u / per, r = u % per, jb = r / j->mblocks, ib = r % j->mblocks;
        int64_t i0 = ib * j->mb, j0 = jb * j->nb;
        int64_t m = j->M - i0 < j->mb ? j->M - i0 : j->mb, n = j->N - j0 < j->nb ? j->N - j0 : j->nb;
        int64_t ao = j->off ? j->off[3 * b] : 0, bo = j->off ? j->off[3 * b + 1] : 0, co = j->off ? j->off[3 * b + 2] : 0;
        const float *B = j->packed ? j->B + (j0 / j->isa->nr) * j->K * j->isa->nr : j->B + bo + j0;
        tt_gemm_epi e = j->e;
        e.bias = j->bias ? j->bias + j0 : NULL;
        e.res = j->res ? j->res + co + i0 * j->ldc + j0 : NULL;
        e.ldr = j->ldc;
        j->isa->gemm(m, n, j->K, j->A + ao + i0 * j->lda, j->lda, B, j->ldb, j->packed, j->C + co + i0 * j->ldc + j0,
                     j->ldc, &e);
    }
}

static void mm_run(mm_job *j)
{
    if (j->M == 0 || j->N == 0 || j->batch == 0)
        return;
    int mr = j->isa->mr, nr = j->isa->nr;
    int64_t mcap = j->M < 64 ? j->M : 64;
    j->mb = (mcap + mr - 1) / mr * mr;
    j->nb = nr;
    /* units of at least ~32K multiply-adds, so that small products stay on one thread */
    while (j->nb < j->N && j->mb * j->nb * (j->K + 1) < 32768)
        j->nb += nr;
    j->mblocks = (j->M + j->mb - 1) / j->mb;
    j->nblocks = (j->N + j->nb - 1) / j->nb;
    int64_t units = j->batch * j->mblocks * j->nblocks;
    int64_t unit_work = j->mb * j->nb * (j->K + 1);
    int64_t grain = unit_work >= 65536 ? 1 : (65536 + unit_work - 1) / unit_work;
    /* long products stop close to a run's limit (the executor reports it) */
    tt_parallel_for_stoppable(units, grain, (double)unit_work, mm_units, j);
}

/* ---- batch broadcasting ------------------------------------------------------------------- */

/* Fills off (3 per entry) for the broadcast batch of a [.., M, K] and b [.., K, N] (their
 * ranks >= 2 here; batch dims as numpy broadcasts them); returns the entry count. */
static int64_t batch_offsets(const tt_tensor *a, const tt_tensor *b, const tt_tensor *y, int64_t M, int64_t N,
                             int64_t K, int64_t *off)
{
    int r = y->rank - 2;
    int64_t n = 1;
    for (int d = 0; d < r; d++)
        n *= y->dims[d];
    if (!off)
        return n;
    for (int64_t e = 0; e < n; e++) {
        int64_t rem = e, ao = 0, bo = 0, as = M * K, bs = K * N;
        for (int d = r - 1; d >= 0; d--) {
            int64_t x = rem % y->dims[d];
            rem /= y->dims[d];
            int da = d - (r - (a->rank - 2)), db = d - (r - (b->rank - 2));
            if (da >= 0) {
                if (a->dims[da] != 1)
                    ao += x * as;
                as *= a->dims[da];
            }
            if (db >= 0) {
                if (b->dims[db] != 1)
                    bo += x * bs;
                bs *= b->dims[db];
            }
        }
        off[3 * e] = ao;
        off[3 * e + 1] = bo;
        off[3 * e + 2] = e * M * N;
    }
    return n;
}

/* ---- bf16 and int8 products ------------------------------------------------------------ */

typedef struct lowp_job {
    const cpu_mm *st;
    const float *A;
    void *Aq;                 /* rows converted: bf16 or u8, Kp each */
    int64_t M, kp;
    tt_lowp_out o;
    int act;
    float act_alpha, act_beta;
    int64_t mb, pb, mblocks, pblocks;
} lowp_job;

static void lowp_convert(void *arg, int64_t r0, int64_t r1)
{
    const lowp_job *j = arg;
    int64_t K = j->st->K;
    if (j->st->prec == TT_PRECISION_INT8)
        tt_lowp_u8_rows(j->A + r0 * K, K, r1 - r0, K, (uint8_t *)j->Aq + r0 * j->kp, (float *)j->o.sa + r0,
                        (int32_t *)j->o.za + r0);
    else
        tt_lowp_bf16_rows(j->A + r0 * K, K, r1 - r0, K, (uint16_t *)j->Aq + r0 * j->kp);
}

static void lowp_units(void *arg, int64_t u0, int64_t u1)
{
    const lowp_job *j = arg;
    const tt_cpu_isa *isa = tt_cpu_isa_get();
    for (int64_t u = u0; u < u1; u++) {
        int64_t pbk = u / j->mblocks, ib = u % j->mblocks;
        int64_t i0 = ib * j->mb, p0 = pbk * j->pb;
        int64_t m = j->M - i0 < j->mb ? j->M - i0 : j->mb;
        int64_t np = tt_lowp_panels(j->st->N) - p0 < j->pb ? tt_lowp_panels(j->st->N) - p0 : j->pb;
        if (j->st->prec == TT_PRECISION_INT8)
            tt_lowp_s8_gemm(i0, m, p0, np, j->st->K, j->Aq, j->st->lowp, &j->o);
        else
            tt_lowp_bf16_gemm(i0, m, p0, np, j->st->K, j->Aq, j->st->lowp, &j->o);
        if (j->act == TT_ACT_NONE)
            continue;
        int64_t c0 = p0 * TT_LOWP_NR, c1 = (p0 + np) * TT_LOWP_NR < j->o.N ? (p0 + np) * TT_LOWP_NR : j->o.N;
        for (int64_t i = i0; i < i0 + m; i++) {
            float *row = j->o.C + i * j->o.ldc + c0;
            isa->unary(j->act, row, row, c1 - c0, j->act_alpha, j->act_beta);
        }
    }
}

/* y = epi(a B) with B the weights st holds in bf16 or int8 (a's leading dims are rows; res,
 * when given, has y's shape). */
static tt_status lowp_compute(tt_kctx *c, const tt_tensor *a, const cpu_mm *st, tt_tensor *y, const float *bias,
                              const float *res, const tt_gemm_epi *e)
{
    bool int8 = st->prec == TT_PRECISION_INT8;
    lowp_job j = {.st = st, .A = a->data, .kp = tt_lowp_kp(st->K, int8), .act = e->act,
                  .act_alpha = e->act_alpha, .act_beta = e->act_beta};
    j.M = tt_tensor_numel(a) / st->K;
    if (j.M == 0)
        return TT_OK;
    j.o = (tt_lowp_out){.C = y->data, .ldc = st->N, .N = st->N, .alpha = e->alpha, .bias = bias, .res = res,
                        .ldr = st->N, .sw = st->w_scale, .colsum = st->w_sum};
    j.Aq = tt_kctx_scratch(c, (size_t)(j.M * j.kp) * (int8 ? 1 : 2) + 64);
    if (!j.Aq)
        return TETHER_ERR_NO_MEMORY; /* scratch set the message */
    if (int8) {
        float *sa = tt_kctx_scratch(c, (size_t)j.M * sizeof(float));
        int32_t *za = tt_kctx_scratch(c, (size_t)j.M * sizeof(int32_t));
        if (!sa || !za)
            return TETHER_ERR_NO_MEMORY;
        j.o.sa = sa, j.o.za = za;
    }
    tt_parallel_for(j.M, j.kp >= 1024 ? 4 : 16, lowp_convert, &j);
    /* blocks of up to 64 rows and enough panels for ~32K multiply-adds a unit */
    j.mb = j.M < 64 ? j.M : 64;
    int64_t panels = tt_lowp_panels(st->N);
    j.pb = 4;
    while (j.pb < panels && j.mb * j.pb * TT_LOWP_NR * (st->K + 1) < 32768)
        j.pb += 4;
    j.mblocks = (j.M + j.mb - 1) / j.mb;
    j.pblocks = (panels + j.pb - 1) / j.pb;
    int64_t unit_work = j.mb * j.pb * TT_LOWP_NR * (st->K + 1);
    tt_parallel_for_stoppable(j.mblocks * j.pblocks, unit_work >= 65536 ? 1 : (65536 + unit_work - 1) / unit_work,
                              (double)unit_work, lowp_units, &j);
    return TT_OK;
}

/* y = epi(a b) for MatMul's numpy semantics (ranks >= 1), with a packed B when st has one,
 * or b transposed (then b is 2-D). */
static tt_status mm_compute(tt_kctx *c, const tt_tensor *a, const tt_tensor *b, bool trans_b, const cpu_mm *st,
                            tt_tensor *y, const float *bias, const float *res, const tt_gemm_epi *e)
{
    if (st && st->lowp && a->rank >= 1 && a->dims[a->rank - 1] == st->K)
        return lowp_compute(c, a, st, y, bias, res, e);
    mm_job j = {.isa = tt_cpu_isa_get(), .C = y->data, .bias = bias, .res = res, .e = *e, .batch = 1};
    j.K = a->dims[a->rank - 1];
    if (b->rank <= 2 || (st && st->packed)) {
        /* one product: a's leading dims are rows */
        j.M = j.K ? tt_tensor_numel(a) / j.K : 0;
        j.N = b->rank == 1 ? 1 : b->dims[trans_b ? 0 : 1];
        if (!j.K)
            j.M = j.N ? tt_tensor_numel(y) / j.N : 0;
        j.A = a->data;
        j.lda = j.K;
        j.ldc = j.N;
        if (st && st->packed) {
            j.B = st->packed;
            j.packed = true;
        } else if (trans_b) {
            float *p = tt_kctx_scratch(c, packed_floats(j.K, j.N, j.isa->nr) * sizeof(float));
            if (!p)
                return TETHER_ERR_NO_MEMORY; /* scratch set the message */
            pack_b(b->data, j.K, j.N, true, j.isa->nr, p);
            j.B = p;
            j.packed = true;
        } else {
            j.B = b->data;
            j.ldb = j.N;
        }
        mm_run(&j);
        return TT_OK;
    }
    /* a stack of products with broadcast batch dims */
    j.M = a->rank == 1 ? 1 : a->dims[a->rank - 2];
    j.N = b->dims[b->rank - 1];
    j.A = a->data;
    j.lda = j.K;
    j.B = b->data;
    j.ldb = j.N;
    j.ldc = j.N;
    if (a->rank == 1) {
        /* a vector against each matrix of b: y [.., N] */
        tt_tensor a2 = *a;
        a2.rank = 2;
        a2.dims[0] = 1;
        a2.dims[1] = j.K;
        tt_tensor y2 = *y;
        y2.rank = y->rank + 1;
        y2.dims[y->rank - 1] = 1;
        y2.dims[y->rank] = j.N;
        j.batch = batch_offsets(&a2, b, &y2, j.M, j.N, j.K, NULL);
        int64_t *off = tt_kctx_scratch(c, (size_t)j.batch * 3 * sizeof(int64_t));
        if (!off)
            return TETHER_ERR_NO_MEMORY;
        batch_offsets(&a2, b, &y2, j.M, j.N, j.K, off);
        j.off = off;
    } else {
        j.batch = batch_offsets(a, b, y, j.M, j.N, j.K, NULL);
        int64_t *off = tt_kctx_scratch(c, (size_t)j.batch * 3 * sizeof(int64_t));
        if (!off)
            return TETHER_ERR_NO_MEMORY;
        batch_offsets(a, b, y, j.M, j.N, j.K, off);
        j.off = off;
    }
    mm_run(&j);
    return TT_OK;
}

static const tt_gemm_epi g_plain = {.alpha = 1.0f, .act = TT_ACT_NONE};

/* ---- MatMul --------------------------------------------------------------------------------- */

static bool mm_supports(const tt_kprep *p)
{
    const tt_type *a = tt_cpu_ranked(p, 0), *b = tt_cpu_ranked(p, 1);
    return a && b && a->rank >= 1 && b->rank >= 1;
}

static tt_status mm_prepare(const tt_kprep *p, void **ks)
{
    cpu_mm *m = tt_calloc(1, sizeof *m);
    if (!m)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", p->node->name);
    *ks = m;
    return mm_pack_const(p->node, p->cst[1], false, TT_PRECISION_FP32, m);
}

static tt_status run_matmul(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    if (b->rank == 1 && a->rank >= 2) {
        /* [.., M, K] x [K]: a matrix-vector product, y [.., M] */
        tt_tensor y2 = *tt_kout(c, 0);
        y2.dims[y2.rank++] = 1;
        return mm_compute(c, a, b, false, NULL, &y2, NULL, NULL, &g_plain);
    }
    return mm_compute(c, a, b, false, c->kstate, tt_kout(c, 0), NULL, NULL, &g_plain);
}

/* ---- Gemm ------------------------------------------------------------------------------------ */

typedef struct gemm_attrs {
    bool ta, tb;
    float alpha, beta;
} gemm_attrs;

static gemm_attrs gemm_get(const tt_node *n)
{
    return (gemm_attrs){.ta = tt_attr_int(n, "transA", 0) != 0, .tb = tt_attr_int(n, "transB", 0) != 0,
                        .alpha = tt_attr_float(n, "alpha", 1.0f), .beta = tt_attr_float(n, "beta", 1.0f)};
}

static bool gemm_supports(const tt_kprep *p)
{
    const tt_type *a = tt_cpu_ranked(p, 0), *b = tt_cpu_ranked(p, 1);
    return a && b && a->rank == 2 && b->rank == 2 && !gemm_get(p->node).ta;
}

/* A bias row (beta * C) from C when C is a row or a scalar: N values into out. */
static bool c_as_row(const tt_tensor *cc, int64_t N, float beta, float *out)
{
    int64_t cm = cc->rank == 2 ? cc->dims[0] : 1, cn = cc->rank >= 1 ? cc->dims[cc->rank - 1] : 1;
    if (cm != 1 || (cn != 1 && cn != N) || cc->dtype != TETHER_DTYPE_FLOAT)
        return false;
    const float *d = cc->data;
    for (int64_t j = 0; j < N; j++)
        out[j] = beta * d[cn == 1 ? 0 : j];
    return true;
}

static tt_status gemm_prepare(const tt_kprep *p, void **ks)
{
    cpu_mm *m = tt_calloc(1, sizeof *m);
    if (!m)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", p->node->name);
    *ks = m;
    gemm_attrs g = gemm_get(p->node);
    TT_TRY(mm_pack_const(p->node, p->cst[1], g.tb, TT_PRECISION_FP32, m));
    const tt_tensor *cc = p->n_in > 2 ? p->cst[2] : NULL;
    if (cc && g.beta != 0.0f && p->cst[1]) {
        m->bias = tt_malloc((size_t)(m->N ? m->N : 1) * sizeof(float));
        if (!m->bias) {
            tt_error_clear(); /* run reads C itself */
            return TT_OK;
        }
        if (!c_as_row(cc, m->N, g.beta, m->bias)) {
            tt_free(m->bias);
            m->bias = NULL;
        }
    }
    return TT_OK;
}

static tt_status run_gemm(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1), *cc = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    const cpu_mm *st = c->kstate;
    gemm_attrs g = gemm_get(c->node);
    int64_t M = y->dims[0], N = y->dims[1];
    tt_gemm_epi e = g_plain;
    e.alpha = g.alpha;
    const float *bias = NULL, *res = NULL;
    if (cc && g.beta != 0.0f) {
        if (st->bias) {
            bias = st->bias;
        } else {
            int64_t cm = cc->rank == 2 ? cc->dims[0] : 1, cn = cc->rank >= 1 ? cc->dims[cc->rank - 1] : 1;
            if (cc->rank > 2 || (cm != 1 && cm != M) || (cn != 1 && cn != N) || cc->dtype != TETHER_DTYPE_FLOAT)
                return tt_op_error(c->node, TETHER_ERR_SHAPE, "C cannot be broadcast to [%" PRId64 ",%" PRId64 "]",
                                   M, N);
            if (cm == 1) {
                float *row = tt_kctx_scratch(c, (size_t)(N ? N : 1) * sizeof(float));
                if (!row)
                    return TETHER_ERR_NO_MEMORY;
                c_as_row(cc, N, g.beta, row);
                bias = row;
            } else if (cn == N && g.beta == 1.0f) {
                res = cc->data;
            } else {
                float *full = tt_kctx_scratch(c, (size_t)(M * N > 0 ? M * N : 1) * sizeof(float));
                if (!full)
                    return TETHER_ERR_NO_MEMORY;
                const float *d = cc->data;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++)
                        full[i * N + j] = g.beta * d[i * cn + (cn == 1 ? 0 : j)];
                res = full;
            }
        }
    }
    return mm_compute(c, a, b, g.tb, st, y, bias, res, &e);
}

/* ---- FusedMatMul ------------------------------------------------------------------------------ */

static bool fmm_supports(const tt_kprep *p)
{
    const tt_type *a = tt_cpu_ranked(p, 0), *b = tt_cpu_ranked(p, 1);
    return a && b && a->rank >= 1 && b->rank == 2;
}

static tt_status fmm_prepare(const tt_kprep *p, void **ks)
{
    cpu_mm *m = tt_calloc(1, sizeof *m);
    if (!m)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory preparing node '%s'", p->node->name);
    *ks = m;
    const tt_fused_mm *f = p->node->state;
    return mm_pack_const(p->node, p->cst[1], f->trans_b, f->precision, m);
}

static tt_status run_fused_matmul(tt_kctx *c)
{
    const tt_fused_mm *f = c->state;
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1), *bias = tt_kin(c, 2), *res = tt_kin(c, 3);
    tt_tensor *y = tt_kout(c, 0), mm;
    bool direct;
    TT_TRY(tt_fused_mm_check(c->node, a, b, bias, res, f->trans_b, &mm, &direct));
    tt_gemm_epi e = {.alpha = f->alpha, .act = tt_cpu_act(f->act), .act_alpha = f->act_alpha,
                     .act_beta = f->act_beta};
    if (direct)
        return mm_compute(c, a, b, f->trans_b, c->kstate, y, bias ? bias->data : NULL, res ? res->data : NULL, &e);
    /* a residual that broadcasts: the product first, then the sum, then the activation */
    mm.data = tt_kctx_scratch(c, (size_t)tt_tensor_numel(&mm) * sizeof(float));
    if (!mm.data)
        return TETHER_ERR_NO_MEMORY; /* scratch set the message */
    tt_gemm_epi plain = {.alpha = f->alpha, .act = TT_ACT_NONE};
    TT_TRY(mm_compute(c, a, b, f->trans_b, c->kstate, &mm, bias ? bias->data : NULL, NULL, &plain));
    TT_TRY(tt_fused_mm_residual(y, &mm, res));
    if (e.act != TT_ACT_NONE)
        tt_cpu_isa_get()->unary(e.act, y->data, y->data, tt_tensor_numel(y), e.act_alpha, e.act_beta);
    return TT_OK;
}

const tt_kernel tt_cpu_gemm[] = {
    TT_KERNEL("MatMul", 1, 0, TT_CPU_FLOAT, run_matmul, .supports = mm_supports, .prepare = mm_prepare,
              .release = mm_release),
    TT_KERNEL("Gemm", 1, 0, TT_CPU_FLOAT, run_gemm, .supports = gemm_supports, .prepare = gemm_prepare,
              .release = mm_release),
    TT_CPU_OWN("FusedMatMul", TT_CPU_FLOAT, run_fused_matmul, .supports = fmm_supports, .prepare = fmm_prepare,
               .release = mm_release),
    TT_KERNEL_END,
};
