/* Matrix products: MatMul (numpy semantics, batched with broadcasting) and Gemm. Float and
 * double go through BLAS, split over the thread pool by batch and rows; other types use a
 * plain triple loop. */
#include "ops/util.h"

#include <cblas.h>
#include <inttypes.h>

/* ---- a threaded GEMM over the pool: C[MxN] = alpha * op(A) op(B) + beta * C ----------- */

typedef struct gemm_job {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t batch;            /* independent products, strides below */
    int64_t sa, sb, sc;       /* element strides between batches (0: shared) */
    int64_t rows;             /* rows of C per task */
} gemm_job;

static void gemm_tasks(void *arg, int64_t b, int64_t e)
{
    gemm_job *j = arg;
    int64_t tiles = (j->M + j->rows - 1) / j->rows;
    for (int64_t t = b; t < e; t++) {
        int64_t bi = t / tiles, r0 = (t % tiles) * j->rows;
        int64_t m = j->M - r0 < j->rows ? j->M - r0 : j->rows;
        const float *A = j->A + bi * j->sa + (j->ta ? r0 : r0 * j->lda);
        cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, (int)m,
                    (int)j->N, (int)j->K, j->alpha, A, (int)j->lda, j->B + bi * j->sb, (int)j->ldb, j->beta,
                    j->C + bi * j->sc + r0 * j->ldc, (int)j->ldc);
    }
}

/* Batched sgemm split into row tiles across the pool. */
void tt_sgemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                      int64_t sa, const float *B, int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc,
                      int64_t sc, int64_t batch)
{
    if (M == 0 || N == 0 || batch == 0)
        return;
    if (K == 0) {
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < M; i++)
                for (int64_t k = 0; k < N; k++)
                    C[b * sc + i * ldc + k] = beta == 0 ? 0 : beta * C[b * sc + i * ldc + k];
        return;
    }
    int threads = tt_threads();
    int64_t rows = M;
    /* split rows when the batch alone cannot keep every thread busy */
    if (batch < threads) {
        int64_t want = (threads + batch - 1) / batch;
        rows = (M + want - 1) / want;
        if (rows < 16)
            rows = M < 16 ? M : 16;
    }
    gemm_job j = {ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C, batch, sa, sb, sc, rows};
    int64_t tasks = batch * ((M + rows - 1) / rows);
    /* small products are not worth a thread hand-off */
    int64_t grain = M * N * K < (1 << 16) ? tasks : 1;
    tt_parallel_for(tasks, grain, gemm_tasks, &j);
}

/* ---- MatMul -------------------------------------------------------------------------------- */

static tt_status matmul_shape(const tt_node *n, int ra, const int64_t *a, int rb, const int64_t *b, int *ry, int64_t *y)
{
    if (ra < 1 || rb < 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "inputs must have rank >= 1 (got %d and %d)", ra, rb);
    int64_t a2[TT_MAX_RANK], b2[TT_MAX_RANK];
    int ra2 = ra, rb2 = rb;
    memcpy(a2, a, sizeof(int64_t) * (size_t)ra);
    memcpy(b2, b, sizeof(int64_t) * (size_t)rb);
    if (ra == 1) { /* [K] -> [1, K] */
        a2[1] = a2[0], a2[0] = 1, ra2 = 2;
    }
    if (rb == 1) { /* [K] -> [K, 1] */
        b2[1] = 1, rb2 = 2;
    }
    int64_t ka = a2[ra2 - 1], kb = b2[rb2 - 2];
    if (ka >= 0 && kb >= 0 && ka != kb) {
        char sa[160], sb[160];
        return tt_op_error(n, TETHER_ERR_SHAPE, "cannot multiply %s by %s", tt_dims_str(ra, a, sa, 160),
                           tt_dims_str(rb, b, sb, 160));
    }
    int rbatch;
    int64_t batch[TT_MAX_RANK];
    TT_TRY(tt_broadcast_shapes(n, ra2 - 2, a2, rb2 - 2, b2, &rbatch, batch));
    if (rbatch + 2 > TT_MAX_RANK)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "result rank exceeds %d", TT_MAX_RANK);
    int r = 0;
    for (int i = 0; i < rbatch; i++)
        y[r++] = batch[i];
    if (ra != 1)
        y[r++] = a2[ra2 - 2];
    if (rb != 1)
        y[r++] = b2[rb2 - 1];
    *ry = r;
    return TT_OK;
}

static tt_status infer_matmul(tt_ictx *c)
{
    const tt_type *a = tt_iin(c, 0), *b = tt_iin(c, 1);
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    if (a->rank < 0 || b->rank < 0) {
        tt_infer_tensor(c, 0, a->dtype, -1, NULL);
        return TT_OK;
    }
    int r = 0;
    int64_t y[TT_MAX_RANK];
    TT_TRY(matmul_shape(c->node, a->rank, a->dims, b->rank, b->dims, &r, y));
    tt_infer_tensor(c, 0, a->dtype, r, y);
    return TT_OK;
}

static uint64_t flops_matmul(const tt_ictx *c)
{
    const tt_type *a = tt_iin(c, 0), *y = &c->out[0];
    int64_t k = a->dims[a->rank - 1];
    int64_t n = 1;
    for (int i = 0; i < y->rank; i++)
        n *= y->dims[i];
    return (uint64_t)(2 * n * k);
}

/* Offsets of matrix number `bi` of the broadcast batch into each operand. */
static void batch_offsets(int rb, const int64_t *batch, int ra, const int64_t *adims, int64_t amat, int64_t bi,
                          int64_t *off)
{
    int64_t o = 0, stride = amat;
    for (int d = rb - 1; d >= 0; d--) {
        int64_t idx = bi % batch[d];
        bi /= batch[d];
        int ad = d - (rb - ra);
        if (ad >= 0) {
            if (adims[ad] != 1)
                o += idx * stride;
            stride *= adims[ad];
        }
    }
    *off = o;
}

#define MATMUL_GENERIC(E, T)                                                                      \
    case E: {                                                                                     \
        const T *A = a->data, *B = b->data;                                                       \
        T *Y = y->data;                                                                           \
        for (int64_t bi = 0; bi < nb; bi++) {                                                     \
            int64_t oa, ob;                                                                       \
            batch_offsets(rbt, bdims, rab, adims, M * K, bi, &oa);                                \
            batch_offsets(rbt, bdims, rbb, bdims_b, K * N, bi, &ob);                              \
            for (int64_t i = 0; i < M; i++)                                                       \
                for (int64_t j = 0; j < N; j++) {                                                 \
                    T acc = 0;                                                                    \
                    for (int64_t k = 0; k < K; k++)                                               \
                        acc += A[oa + i * K + k] * B[ob + k * N + j];                             \
                    Y[bi * M * N + i * N + j] = acc;                                              \
                }                                                                                 \
        }                                                                                         \
        return TT_OK;                                                                             \
    }

static tt_status run_matmul(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    /* view both as batches of matrices */
    int64_t adims[TT_MAX_RANK], bdims_b[TT_MAX_RANK];
    int rab = a->rank - 2, rbb = b->rank - 2;
    int64_t M = a->rank == 1 ? 1 : a->dims[a->rank - 2];
    int64_t K = a->dims[a->rank - 1];
    int64_t N = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (rab < 0)
        rab = 0;
    if (rbb < 0)
        rbb = 0;
    memcpy(adims, a->dims, sizeof(int64_t) * (size_t)rab);
    memcpy(bdims_b, b->dims, sizeof(int64_t) * (size_t)rbb);
    int rbt;
    int64_t bdims[TT_MAX_RANK];
    TT_TRY(tt_broadcast_shapes(c->node, rab, adims, rbb, bdims_b, &rbt, bdims));
    int64_t nb = tt_dims_prod(bdims, 0, rbt);
    if (a->dtype == TETHER_DTYPE_FLOAT) {
        /* common cases in one batched call: B shared (weights), or both fully batched alike */
        bool b_shared = rbb == 0 || tt_dims_prod(bdims_b, 0, rbb) == 1;
        bool a_full = tt_dims_prod(adims, 0, rab) == nb;
        bool b_full = tt_dims_prod(bdims_b, 0, rbb) == nb && rab == rbb;
        if (b_shared && a_full && rab > 0) {
            /* [..., M, K] x [K, N]: one tall product */
            tt_sgemm_batched(false, false, nb * M, N, K, 1.0f, a->data, K, 0, b->data, N, 0, 0.0f, y->data, N, 0, 1);
            return TT_OK;
        }
        if ((a_full && b_full) || (a_full && b_shared) || nb == 1) {
            tt_sgemm_batched(false, false, M, N, K, 1.0f, a->data, K, nb > 1 && a_full ? M * K : 0, b->data, N,
                             b_shared ? 0 : K * N, 0.0f, y->data, N, M * N, nb);
            return TT_OK;
        }
        for (int64_t bi = 0; bi < nb; bi++) {
            int64_t oa, ob;
            batch_offsets(rbt, bdims, rab, adims, M * K, bi, &oa);
            batch_offsets(rbt, bdims, rbb, bdims_b, K * N, bi, &ob);
            tt_sgemm_batched(false, false, M, N, K, 1.0f, (const float *)a->data + oa, K, 0,
                             (const float *)b->data + ob, N, 0, 0.0f, (float *)y->data + bi * M * N, N, 0, 1);
        }
        return TT_OK;
    }
    switch (a->dtype) {
        MATMUL_GENERIC(TETHER_DTYPE_DOUBLE, double)
        TT_FOR_INT(MATMUL_GENERIC)
    default: break;
    }
    if (a->dtype == TETHER_DTYPE_FLOAT16 || a->dtype == TETHER_DTYPE_BFLOAT16) {
        tt_tensor fa, fb, fy;
        TT_TRY(tt_tensor_alloc(&fa, TETHER_DTYPE_FLOAT, a->rank, a->dims));
        TT_TRY(tt_tensor_alloc(&fb, TETHER_DTYPE_FLOAT, b->rank, b->dims));
        TT_TRY(tt_tensor_alloc(&fy, TETHER_DTYPE_FLOAT, y->rank, y->dims));
        tt_to_f32(a->data, a->dtype, fa.data, tt_tensor_numel(a));
        tt_to_f32(b->data, b->dtype, fb.data, tt_tensor_numel(b));
        for (int64_t bi = 0; bi < nb; bi++) {
            int64_t oa, ob;
            batch_offsets(rbt, bdims, rab, adims, M * K, bi, &oa);
            batch_offsets(rbt, bdims, rbb, bdims_b, K * N, bi, &ob);
            tt_sgemm_batched(false, false, M, N, K, 1.0f, (const float *)fa.data + oa, K, 0,
                             (const float *)fb.data + ob, N, 0, 0.0f, (float *)fy.data + bi * M * N, N, 0, 1);
        }
        tt_from_f32(fy.data, y->data, y->dtype, tt_tensor_numel(y));
        tt_tensor_release(&fa);
        tt_tensor_release(&fb);
        tt_tensor_release(&fy);
        return TT_OK;
    }
    return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "dtype %s is not supported", tt_dtype_name(a->dtype));
}

/* ---- Gemm: Y = alpha * A' B' + beta * C ------------------------------------------------------ */

static tt_status infer_gemm(tt_ictx *c)
{
    const tt_type *a = tt_iin(c, 0), *b = tt_iin(c, 1);
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    bool ta = tt_attr_int(c->node, "transA", 0), tb = tt_attr_int(c->node, "transB", 0);
    int64_t y[2] = {TT_DIM_UNKNOWN, TT_DIM_UNKNOWN};
    if (a->rank >= 0 && a->rank != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "A must be 2-D, got rank %d", a->rank);
    if (b->rank >= 0 && b->rank != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "B must be 2-D, got rank %d", b->rank);
    if (a->rank == 2)
        y[0] = a->dims[ta ? 1 : 0];
    if (b->rank == 2)
        y[1] = b->dims[tb ? 0 : 1];
    if (a->rank == 2 && b->rank == 2) {
        int64_t ka = a->dims[ta ? 0 : 1], kb = b->dims[tb ? 1 : 0];
        if (ka >= 0 && kb >= 0 && ka != kb)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "inner dimensions differ (%" PRId64 " vs %" PRId64 ")", ka, kb);
    }
    tt_infer_tensor(c, 0, a->dtype, 2, y);
    return TT_OK;
}

static uint64_t flops_gemm(const tt_ictx *c)
{
    const tt_type *a = tt_iin(c, 0);
    bool ta = tt_attr_int(c->node, "transA", 0);
    return (uint64_t)(2 * c->out[0].dims[0] * c->out[0].dims[1] * a->dims[ta ? 0 : 1]);
}

static tt_status run_gemm(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1), *cc = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    bool ta = tt_attr_int(c->node, "transA", 0), tb = tt_attr_int(c->node, "transB", 0);
    float alpha = tt_attr_float(c->node, "alpha", 1.0f), beta = tt_attr_float(c->node, "beta", 1.0f);
    int64_t M = y->dims[0], N = y->dims[1], K = a->dims[ta ? 0 : 1];
    /* Y starts as beta * broadcast(C), then accumulates the product */
    bool use_c = cc && beta != 0.0f;
    if (use_c) {
        if (cc->rank > 2)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "C must have rank <= 2");
        int64_t cm = cc->rank == 2 ? cc->dims[0] : 1, cn = cc->rank >= 1 ? cc->dims[cc->rank - 1] : 1;
        if ((cm != 1 && cm != M) || (cn != 1 && cn != N))
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "C cannot be broadcast to [%" PRId64 ",%" PRId64 "]", M, N);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double v = tt_load_f64(cc->data, cc->dtype, (size_t)((cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)));
                tt_store_f64(y->data, y->dtype, (size_t)(i * N + j), v);
            }
    }
    if (a->dtype == TETHER_DTYPE_FLOAT) {
        tt_sgemm_batched(ta, tb, M, N, K, alpha, a->data, a->dims[1], 0, b->data, b->dims[1], 0, use_c ? beta : 0.0f,
                         y->data, N, 0, 1);
        return TT_OK;
    }
    /* other types: a direct loop in double */
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) {
                double x = tt_load_f64(a->data, a->dtype, (size_t)(ta ? k * M + i : i * K + k));
                double w = tt_load_f64(b->data, b->dtype, (size_t)(tb ? j * K + k : k * N + j));
                acc += x * w;
            }
            double prev = use_c ? beta * tt_load_f64(y->data, y->dtype, (size_t)(i * N + j)) : 0;
            tt_store_f64(y->data, y->dtype, (size_t)(i * N + j), alpha * acc + prev);
        }
    return TT_OK;
}

#define MM_TYPES (TT_DTS_FLOAT | TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64) | TT_DT(TETHER_DTYPE_UINT32) | TT_DT(TETHER_DTYPE_UINT64))

const tt_op_def tt_ops_linalg[] = {
    TT_OP("MatMul", 1, 0, MM_TYPES, infer_matmul, run_matmul, .flops = flops_matmul),
    TT_OP("Gemm", 1, 0, MM_TYPES, infer_gemm, run_gemm, .flops = flops_gemm),
    TT_OP_END,
};
