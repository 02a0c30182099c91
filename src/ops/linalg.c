/* Matrix products and relatives: MatMul (numpy semantics, batched with broadcasting), Gemm,
 * the quantised MatMulInteger and QLinearMatMul, Einsum and Det. Float and double products go
 * through BLAS on a GEMM split over the thread pool by batch and rows; integer products run as
 * exact double GEMMs. */
#include "ops/util.h"

#include <cblas.h>
#include <inttypes.h>

/* ---- a threaded GEMM over the pool: C[MxN] = alpha * op(A) op(B) + beta * C ----------- */

typedef struct gemm_job {
    bool ta, tb, dbl; /* dbl: the matrices are double, else float */
    int64_t M, N, K, lda, ldb, ldc;
    double alpha, beta;
    const void *A, *B;
    void *C;
    int64_t batch;      /* independent products, strides below */
    int64_t sa, sb, sc; /* element strides between batches (0: shared) */
    int64_t rows, cols; /* a task's tile of C */
    bool strips;        /* batch-invariant: every BLAS call is GEMM_STRIP rows (see below) */
} gemm_job;

/* Batch invariance (MatMul, Gemm and FusedMatMul, whose rows are the batch's rows): every
 * BLAS call computes exactly GEMM_STRIP rows of C, so a row's result does not depend on how
 * many rows the product has (BLAS libraries pick kernels and paths by M: OpenBLAS's rows
 * differ in their last bits between M = 1, 3 and 48, for instance). A request run alone and
 * the same request inside a dynamic batch of tetherd then get the same bytes. The last strip
 * of a product whose M is not a multiple is computed on padded copies. Convolutions, whose
 * rows are output channels (the batch's images are separate products), are not split so.
 * Not everywhere enough: on a Zen 3, OpenBLAS also gives a row other bits at other
 * positions within a strip for some shapes (docs/serving.md, "Known limit"). */
#define GEMM_STRIP 16

static void gemm_strip_padded(const gemm_job *j, int64_t m, int64_t n, const char *A, const char *B, char *C)
{
    size_t es = j->dbl ? sizeof(double) : sizeof(float);
    int64_t K = j->K, N = n; /* the task's columns */
    char *a = tt_calloc((size_t)(GEMM_STRIP * K), es), *c = tt_calloc((size_t)(GEMM_STRIP * N), es);
    if (!a || !c) { /* out of memory: compute unpadded rather than not at all */
        tt_free(a);
        tt_free(c);
        a = NULL;
    }
    for (int64_t i = 0; a && i < m; i++) {
        for (int64_t k = 0; k < K; k++) /* op(A)'s row i, as a row of the padded copy */
            memcpy(a + (size_t)(i * K + k) * es, A + (size_t)(j->ta ? k * j->lda + i : i * j->lda + k) * es, es);
        if (j->beta != 0)
            memcpy(c + (size_t)(i * N) * es, C + (size_t)(i * j->ldc) * es, (size_t)N * es);
    }
    CBLAS_TRANSPOSE tb = j->tb ? CblasTrans : CblasNoTrans;
    int M = a ? GEMM_STRIP : (int)m, lda = a ? (int)K : (int)j->lda, ldc = a ? (int)N : (int)j->ldc;
    CBLAS_TRANSPOSE ta = a ? CblasNoTrans : (j->ta ? CblasTrans : CblasNoTrans);
    const void *pa = a ? (const void *)a : (const void *)A;
    void *pc = a ? (void *)c : (void *)C;
    if (j->dbl)
        cblas_dgemm(CblasRowMajor, ta, tb, M, (int)N, (int)K, j->alpha, pa, lda, (const double *)B, (int)j->ldb, j->beta,
                    pc, ldc);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, M, (int)N, (int)K, (float)j->alpha, pa, lda, (const float *)B, (int)j->ldb,
                    (float)j->beta, pc, ldc);
    for (int64_t i = 0; a && i < m; i++)
        memcpy(C + (size_t)(i * j->ldc) * es, c + (size_t)(i * N) * es, (size_t)N * es);
    tt_free(a);
    tt_free(c);
}

static void gemm_tasks(void *arg, int64_t b, int64_t e)
{
    gemm_job *j = arg;
    int64_t rtiles = (j->M + j->rows - 1) / j->rows, ctiles = (j->N + j->cols - 1) / j->cols;
    CBLAS_TRANSPOSE ta = j->ta ? CblasTrans : CblasNoTrans, tb = j->tb ? CblasTrans : CblasNoTrans;
    size_t es = j->dbl ? sizeof(double) : sizeof(float);
    for (int64_t t = b; t < e; t++) {
        int64_t bi = t / (rtiles * ctiles), r0 = t / ctiles % rtiles * j->rows, c0 = t % ctiles * j->cols;
        int64_t m = j->M - r0 < j->rows ? j->M - r0 : j->rows, n = j->N - c0 < j->cols ? j->N - c0 : j->cols;
        int64_t ao = bi * j->sa + (j->ta ? r0 : r0 * j->lda), bo = bi * j->sb + (j->tb ? c0 * j->ldb : c0),
                co = bi * j->sc + r0 * j->ldc + c0;
        if (j->strips && m < GEMM_STRIP)
            gemm_strip_padded(j, m, n, (const char *)j->A + ao * (int64_t)es, (const char *)j->B + bo * (int64_t)es,
                              (char *)j->C + co * (int64_t)es);
        else if (j->dbl)
            cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)j->K, j->alpha, (const double *)j->A + ao,
                        (int)j->lda, (const double *)j->B + bo, (int)j->ldb, j->beta, (double *)j->C + co, (int)j->ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)j->K, (float)j->alpha, (const float *)j->A + ao,
                        (int)j->lda, (const float *)j->B + bo, (int)j->ldb, (float)j->beta, (float *)j->C + co,
                        (int)j->ldc);
    }
}

/* Multiply-adds in one task at most, where the shape allows: a task is what a stopped run
 * waits for (milliseconds), and tiles this large still keep BLAS at full speed. */
#define GEMM_TASK_WORK ((double)(1 << 28))

/* Runs the batched product split into tiles (strips of GEMM_STRIP rows when asked) across the
 * pool; a stopped run stops it between tiles (the node then fails: see core/cancel.h). */
static void gemm_run(gemm_job *j)
{
    if (j->M == 0 || j->N == 0 || j->batch == 0 || tt_stopped())
        return;
    if (j->K == 0) {
        for (int64_t b = 0; b < j->batch; b++)
            for (int64_t i = 0; i < j->M; i++)
                for (int64_t k = 0; k < j->N; k++) {
                    int64_t o = b * j->sc + i * j->ldc + k;
                    if (j->dbl)
                        ((double *)j->C)[o] = j->beta == 0 ? 0 : j->beta * ((double *)j->C)[o];
                    else
                        ((float *)j->C)[o] = j->beta == 0 ? 0 : (float)j->beta * ((float *)j->C)[o];
                }
        return;
    }
    int threads = tt_threads();
    j->rows = j->M;
    j->cols = j->N;
    if (j->strips) {
        j->rows = GEMM_STRIP;
    } else if (j->batch < threads) {
        /* split rows when the batch alone cannot keep every thread busy */
        int64_t want = (threads + j->batch - 1) / j->batch;
        j->rows = (j->M + want - 1) / want;
        if (j->rows < 16)
            j->rows = j->M < 16 ? j->M : 16;
    }
    /* a huge tile is split, by columns first (wide panels keep BLAS efficient), then rows;
     * strips keep their rows, and their columns depend on N and K alone, so a row's result
     * still does not depend on how many rows the product has */
    if ((double)j->rows * (double)j->cols * (double)j->K > GEMM_TASK_WORK) {
        int64_t cols = (int64_t)(GEMM_TASK_WORK / ((double)j->rows * (double)j->K));
        int64_t min_cols = j->strips ? 1 : 256;
        j->cols = cols < min_cols ? (j->N < min_cols ? j->N : min_cols) : cols;
        if (!j->strips && (double)j->rows * (double)j->cols * (double)j->K > GEMM_TASK_WORK) {
            int64_t rows = (int64_t)(GEMM_TASK_WORK / ((double)j->cols * (double)j->K));
            j->rows = rows < 1 ? 1 : rows;
        }
    }
    int64_t tasks = j->batch * ((j->M + j->rows - 1) / j->rows) * ((j->N + j->cols - 1) / j->cols);
    double work = (double)j->rows * (double)j->cols * (double)j->K;
    /* small products are not worth a thread hand-off */
    int64_t grain = (double)j->M * (double)j->N * (double)j->K < (1 << 16) ? tasks : 1;
    tt_parallel_for_stoppable(tasks, grain, work, gemm_tasks, j);
}

/* The float or double (dbl) product, as tt_sgemm_batched describes it. */
static void gemm_batched(bool dbl, bool strips, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                         const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb, int64_t sb, double beta,
                         void *C, int64_t ldc, int64_t sc, int64_t batch)
{
    gemm_job j = {.ta = ta,
                  .tb = tb,
                  .dbl = dbl,
                  .M = M,
                  .N = N,
                  .K = K,
                  .lda = lda,
                  .ldb = ldb,
                  .ldc = ldc,
                  .alpha = alpha,
                  .beta = beta,
                  .A = A,
                  .B = B,
                  .C = C,
                  .batch = batch,
                  .sa = sa,
                  .sb = sb,
                  .sc = sc,
                  .strips = strips};
    gemm_run(&j);
}

void tt_sgemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                      int64_t sa, const float *B, int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc,
                      int64_t sc, int64_t batch)
{
    gemm_batched(false, false, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}

void tt_sgemm_rows(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                   int64_t sa, const float *B, int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc, int64_t sc,
                   int64_t batch)
{
    gemm_batched(false, true, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}

void tt_dgemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                      int64_t sa, const double *B, int64_t ldb, int64_t sb, double beta, double *C, int64_t ldc,
                      int64_t sc, int64_t batch)
{
    gemm_batched(true, false, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}

static void dgemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda, int64_t sa,
                          const double *B, int64_t ldb, int64_t sb, double *C, int64_t ldc, int64_t sc, int64_t batch)
{
    gemm_batched(true, true, ta, tb, M, N, K, 1, A, lda, sa, B, ldb, sb, 0, C, ldc, sc, batch);
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
    const tt_type *a, *b;
    TT_TRY(tt_need_input(c, 0, &a));
    TT_TRY(tt_need_input(c, 1, &b));
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

/* The batch of a MatMul-like product: both operands viewed as stacks of matrices [.., M, K]
 * and [.., K, N] (a 1-D operand as one row or column), their batch dims broadcast. */
typedef struct mm_batch {
    int64_t M, N, K;
    int ra, rb, r; /* batch ranks of a, b and the broadcast */
    int64_t adims[TT_MAX_RANK], bdims[TT_MAX_RANK], dims[TT_MAX_RANK];
    int64_t na, nb, n; /* matrices in a, in b, in the broadcast batch */
} mm_batch;

static tt_status mm_batch_init(const tt_node *node, const tt_tensor *a, const tt_tensor *b, mm_batch *m)
{
    if (a->rank < 1 || b->rank < 1)
        return tt_op_error(node, TETHER_ERR_SHAPE, "inputs must have rank >= 1 (got %d and %d)", a->rank, b->rank);
    m->M = a->rank == 1 ? 1 : a->dims[a->rank - 2];
    m->K = a->dims[a->rank - 1];
    m->N = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (kb != m->K) {
        char sa[160], sb[160];
        return tt_op_error(node, TETHER_ERR_SHAPE, "cannot multiply %s by %s", tt_dims_str(a->rank, a->dims, sa, 160),
                           tt_dims_str(b->rank, b->dims, sb, 160));
    }
    m->ra = a->rank > 2 ? a->rank - 2 : 0;
    m->rb = b->rank > 2 ? b->rank - 2 : 0;
    memcpy(m->adims, a->dims, sizeof(int64_t) * (size_t)m->ra);
    memcpy(m->bdims, b->dims, sizeof(int64_t) * (size_t)m->rb);
    TT_TRY(tt_broadcast_shapes(node, m->ra, m->adims, m->rb, m->bdims, &m->r, m->dims));
    m->na = tt_dims_prod(m->adims, 0, m->ra);
    m->nb = tt_dims_prod(m->bdims, 0, m->rb);
    m->n = tt_dims_prod(m->dims, 0, m->r);
    return TT_OK;
}

/* The matrices of a and of b that product number bi multiplies. */
static void mm_batch_index(const mm_batch *m, int64_t bi, int64_t *ia, int64_t *ib)
{
    int64_t a = 0, b = 0, sa = 1, sb = 1;
    for (int d = m->r - 1; d >= 0; d--) {
        int64_t idx = bi % m->dims[d];
        bi /= m->dims[d];
        int da = d - (m->r - m->ra), db = d - (m->r - m->rb);
        if (da >= 0) {
            a += (m->adims[da] == 1 ? 0 : idx) * sa;
            sa *= m->adims[da];
        }
        if (db >= 0) {
            b += (m->bdims[db] == 1 ? 0 : idx) * sb;
            sb *= m->bdims[db];
        }
    }
    *ia = a;
    *ib = b;
}

/* Element strides between the batch's matrices of a and b when one batched call can walk them
 * (each operand either one shared matrix or one matrix per product); false otherwise. */
static bool mm_batch_strides(const mm_batch *m, int64_t *sa, int64_t *sb)
{
    bool a_shared = m->na == 1, b_shared = m->nb == 1;
    bool a_full = m->na == m->n && m->ra == m->r, b_full = m->nb == m->n && m->rb == m->r;
    *sa = a_shared ? 0 : m->M * m->K;
    *sb = b_shared ? 0 : m->K * m->N;
    return (a_shared || a_full) && (b_shared || b_full);
}

/* Integers accumulate in uint64: the product wraps as the type would, without the undefined
 * signed overflow. */
#define MATMUL_GENERIC(E, T, ACC)                                                                                      \
    case E: {                                                                                                          \
        const T *A = a->data, *B = b->data;                                                                            \
        T *Y = y->data;                                                                                                \
        for (int64_t bi = 0; bi < m.n; bi++) {                                                                         \
            int64_t ia, ib;                                                                                            \
            mm_batch_index(&m, bi, &ia, &ib);                                                                          \
            const T *Ab = A + ia * M * K, *Bb = B + ib * K * N;                                                        \
            for (int64_t i = 0; i < M; i++)                                                                            \
                for (int64_t j = 0; j < N; j++) {                                                                      \
                    if (j == 0 && !tt_stop_work((uint64_t)N * (uint64_t)K))                                            \
                        return TT_OK; /* stopped: the node fails */                                                    \
                    ACC acc = 0;                                                                                       \
                    for (int64_t k = 0; k < K; k++)                                                                    \
                        acc += (ACC)Ab[i * K + k] * (ACC)Bb[k * N + j];                                                \
                    Y[(bi * M + i) * N + j] = (T)acc;                                                                  \
                }                                                                                                      \
        }                                                                                                              \
        return TT_OK;                                                                                                  \
    }

#define MATMUL_INT(E, T) MATMUL_GENERIC(E, T, uint64_t)

/* Float products through BLAS: one batched call where the batch allows it. */
static void matmul_f32(const mm_batch *m, const float *A, const float *B, float *Y)
{
    int64_t M = m->M, N = m->N, K = m->K, sa, sb;
    if (m->nb == 1 && m->na == m->n && m->ra > 0) {
        /* [..., M, K] x [K, N]: one tall product */
        tt_sgemm_rows(false, false, m->n * M, N, K, 1.0f, A, K, 0, B, N, 0, 0.0f, Y, N, 0, 1);
    } else if (mm_batch_strides(m, &sa, &sb)) {
        tt_sgemm_rows(false, false, M, N, K, 1.0f, A, K, sa, B, N, sb, 0.0f, Y, N, M * N, m->n);
    } else {
        for (int64_t bi = 0; bi < m->n; bi++) {
            int64_t ia, ib;
            mm_batch_index(m, bi, &ia, &ib);
            tt_sgemm_rows(false, false, M, N, K, 1.0f, A + ia * M * K, K, 0, B + ib * K * N, N, 0, 0.0f,
                          Y + bi * M * N, N, 0, 1);
        }
    }
}

static tt_status run_matmul(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    mm_batch m;
    TT_TRY(mm_batch_init(c->node, a, b, &m));
    int64_t M = m.M, N = m.N, K = m.K;
    if (a->dtype == TETHER_DTYPE_FLOAT) {
        matmul_f32(&m, a->data, b->data, y->data);
        return TT_OK;
    }
    switch (a->dtype) {
        MATMUL_GENERIC(TETHER_DTYPE_DOUBLE, double, double)
        TT_FOR_INT(MATMUL_INT)
    default: break;
    }
    if (a->dtype == TETHER_DTYPE_FLOAT16 || a->dtype == TETHER_DTYPE_BFLOAT16) {
        float *fa = tt_malloc_aligned((size_t)tt_tensor_numel(a) * sizeof(float));
        float *fb = tt_malloc_aligned((size_t)tt_tensor_numel(b) * sizeof(float));
        float *fy = tt_malloc_aligned((size_t)tt_tensor_numel(y) * sizeof(float));
        if (fa && fb && fy) {
            tt_to_f32(a->data, a->dtype, fa, tt_tensor_numel(a));
            tt_to_f32(b->data, b->dtype, fb, tt_tensor_numel(b));
            matmul_f32(&m, fa, fb, fy);
            tt_from_f32(fy, y->data, y->dtype, tt_tensor_numel(y));
        }
        tt_free_aligned(fa);
        tt_free_aligned(fb);
        tt_free_aligned(fy);
        return fa && fb && fy ? TT_OK : tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
    }
    return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "dtype %s is not supported", tt_dtype_name(a->dtype));
}

/* ---- Gemm: Y = alpha * A' B' + beta * C ------------------------------------------------------ */

static tt_status infer_gemm(tt_ictx *c)
{
    const tt_type *a, *b;
    TT_TRY(tt_need_input(c, 0, &a));
    TT_TRY(tt_need_input(c, 1, &b));
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
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "inner dimensions differ (%" PRId64 " vs %" PRId64 ")", ka,
                               kb);
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
        tt_sgemm_rows(ta, tb, M, N, K, alpha, a->data, a->dims[1], 0, b->data, b->dims[1], 0, use_c ? beta : 0.0f,
                      y->data, N, 0, 1);
        return TT_OK;
    }
    /* other types: a direct loop in double */
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            if (j == 0 && !tt_stop_work((uint64_t)N * (uint64_t)K))
                return TT_OK; /* stopped: the node fails */
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

/* ---- MatMulInteger, QLinearMatMul ----------------------------------------------------------- */

/* A zero point or scale of a quantised operand: one value, one per row of a (per column of b)
 * shared by every matrix of the stack, or one per row (column) of each matrix. */
typedef struct qparam {
    double *v;
    int64_t per;  /* values per matrix; 0: one for the tensor */
    bool stacked; /* a separate set for each matrix of the stack */
} qparam;

static tt_status qparam_load(const tt_node *node, const tt_tensor *p, const char *name, int64_t rows, int64_t mats,
                             double fallback, qparam *q)
{
    int64_t n = p ? tt_tensor_numel(p) : 1;
    q->per = n == 1 ? 0 : rows;
    q->stacked = n != 1 && n != rows;
    if (n != 1 && n != rows && n != rows * mats)
        return tt_op_error(node, TETHER_ERR_SHAPE,
                           "%s has %" PRId64 " values; expected 1, %" PRId64 " or %" PRId64 " (one per row or column)",
                           name, n, rows, rows * mats);
    if (!(q->v = tt_malloc((size_t)n * sizeof *q->v)))
        return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < n; i++)
        q->v[i] = p ? tt_load_f64(p->data, p->dtype, (size_t)i) : fallback;
    return TT_OK;
}

static inline double qparam_at(const qparam *q, int64_t mat, int64_t r)
{
    return q->per ? q->v[(q->stacked ? mat * q->per : 0) + r] : q->v[0];
}

/* Exact sums of (a - a_zero) (b - b_zero) over K for every product of the batch, in double:
 * each term is an integer of magnitude below 2^16, so the sums stay exact far beyond any K
 * a model uses, and the GEMM runs through BLAS. */
static tt_status int_matmul(const tt_node *node, const mm_batch *m, const tt_tensor *a, const qparam *za,
                            const tt_tensor *b, const qparam *zb, double **out)
{
    int64_t M = m->M, N = m->N, K = m->K, sa, sb;
    double *ad = tt_malloc_aligned((size_t)(m->na * M * K) * sizeof(double));
    double *bd = tt_malloc_aligned((size_t)(m->nb * K * N) * sizeof(double));
    double *y = tt_malloc_aligned((size_t)(m->n * M * N) * sizeof(double));
    if (!ad || !bd || !y) {
        tt_free_aligned(ad);
        tt_free_aligned(bd);
        tt_free_aligned(y);
        return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory");
    }
    for (int64_t i = 0; i < m->na * M * K; i++)
        ad[i] = (double)tt_load_i64(a->data, a->dtype, (size_t)i) - qparam_at(za, i / (M * K), i / K % M);
    for (int64_t i = 0; i < m->nb * K * N; i++)
        bd[i] = (double)tt_load_i64(b->data, b->dtype, (size_t)i) - qparam_at(zb, i / (K * N), i % N);
    if (mm_batch_strides(m, &sa, &sb)) {
        dgemm_batched(false, false, M, N, K, ad, K, sa, bd, N, sb, y, N, M * N, m->n);
    } else {
        for (int64_t bi = 0; bi < m->n; bi++) {
            int64_t ia, ib;
            mm_batch_index(m, bi, &ia, &ib);
            dgemm_batched(false, false, M, N, K, ad + ia * M * K, K, 0, bd + ib * K * N, N, 0, y + bi * M * N, N, 0, 1);
        }
    }
    tt_free_aligned(ad);
    tt_free_aligned(bd);
    *out = y;
    return TT_OK;
}

#define Q8_TYPES (TT_DT(TETHER_DTYPE_INT8) | TT_DT(TETHER_DTYPE_UINT8))

static tt_status infer_int_matmul(tt_ictx *c, int ib, tt_dtype out)
{
    const tt_type *a, *b;
    TT_TRY(tt_need_input(c, 0, &a));
    TT_TRY(tt_need_input(c, ib, &b));
    TT_TRY(tt_infer_check_dtype(c, ib, Q8_TYPES));
    if (a->rank < 0 || b->rank < 0) {
        tt_infer_tensor(c, 0, out, -1, NULL);
        return TT_OK;
    }
    int r = 0;
    int64_t y[TT_MAX_RANK];
    TT_TRY(matmul_shape(c->node, a->rank, a->dims, b->rank, b->dims, &r, y));
    tt_infer_tensor(c, 0, out, r, y);
    return TT_OK;
}

static tt_status infer_matmul_integer(tt_ictx *c)
{
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    TT_TRY(tt_infer_same_dtype(c, 1, 3));
    return infer_int_matmul(c, 1, TETHER_DTYPE_INT32);
}

static tt_status run_matmul_integer(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    mm_batch m;
    TT_TRY(mm_batch_init(c->node, a, b, &m));
    qparam za = {0}, zb = {0};
    double *acc = NULL;
    tt_status s = qparam_load(c->node, tt_kin(c, 2), "a_zero_point", m.M, m.na, 0, &za);
    if (s == TT_OK)
        s = qparam_load(c->node, tt_kin(c, 3), "b_zero_point", m.N, m.nb, 0, &zb);
    if (s == TT_OK)
        s = int_matmul(c->node, &m, a, &za, b, &zb, &acc);
    /* the sums are exact; int32 accumulation is allowed to wrap, so the result wraps too */
    for (int64_t i = 0; s == TT_OK && i < tt_tensor_numel(y); i++)
        ((int32_t *)y->data)[i] = (int32_t)(uint32_t)(int64_t)acc[i];
    tt_free(za.v);
    tt_free(zb.v);
    tt_free_aligned(acc);
    return s;
}

static tt_status infer_qlinear_matmul(tt_ictx *c)
{
    const tt_type *yz = tt_iin(c, 7);
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    TT_TRY(tt_infer_same_dtype(c, 3, 5));
    TT_TRY(tt_infer_check_dtype(c, 7, Q8_TYPES));
    return infer_int_matmul(c, 3, yz ? yz->dtype : TETHER_DTYPE_UINT8);
}

/* y = saturate(round_half_even(sum * a_scale * b_scale / y_scale) + y_zero_point) */
static tt_status run_qlinear_matmul(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 3), *ys = tt_kin(c, 6), *yz = tt_kin(c, 7);
    tt_tensor *y = tt_kout(c, 0);
    mm_batch m;
    TT_TRY(mm_batch_init(c->node, a, b, &m));
    if (!ys || tt_tensor_numel(ys) != 1 || (yz && tt_tensor_numel(yz) != 1))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "y_scale and y_zero_point must be single values");
    qparam sa = {0}, za = {0}, sb = {0}, zb = {0};
    double *acc = NULL;
    tt_status s = qparam_load(c->node, tt_kin(c, 1), "a_scale", m.M, m.na, 1, &sa);
    if (s == TT_OK)
        s = qparam_load(c->node, tt_kin(c, 2), "a_zero_point", m.M, m.na, 0, &za);
    if (s == TT_OK)
        s = qparam_load(c->node, tt_kin(c, 4), "b_scale", m.N, m.nb, 1, &sb);
    if (s == TT_OK)
        s = qparam_load(c->node, tt_kin(c, 5), "b_zero_point", m.N, m.nb, 0, &zb);
    if (s == TT_OK)
        s = int_matmul(c->node, &m, a, &za, b, &zb, &acc);
    if (s == TT_OK) {
        float yscale = (float)tt_load_f64(ys->data, ys->dtype, 0);
        double yzero = yz ? (double)tt_load_i64(yz->data, yz->dtype, 0) : 0;
        double lo = y->dtype == TETHER_DTYPE_INT8 ? -128 : 0, hi = y->dtype == TETHER_DTYPE_INT8 ? 127 : 255;
        int64_t M = m.M, N = m.N;
        for (int64_t bi = 0; bi < m.n; bi++) {
            int64_t ia, ib;
            mm_batch_index(&m, bi, &ia, &ib);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    /* the combined scale is formed in float, as the scales are */
                    float scale = (float)qparam_at(&sa, ia, i) * (float)qparam_at(&sb, ib, j) / yscale;
                    double v = rint(acc[(bi * M + i) * N + j] * (double)scale) + yzero;
                    v = isnan(v) ? yzero : v < lo ? lo : v > hi ? hi : v;
                    tt_store_f64(y->data, y->dtype, (size_t)((bi * M + i) * N + j), v);
                }
        }
    }
    tt_free(sa.v);
    tt_free(za.v);
    tt_free(sb.v);
    tt_free(zb.v);
    tt_free_aligned(acc);
    return s;
}

/* ---- Det ------------------------------------------------------------------------------------ */

static tt_status infer_det(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_need_input(c, 0, &x));
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    if (x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the input must be [..., M, M], got rank %d", x->rank);
    int64_t m = x->dims[x->rank - 1], n = x->dims[x->rank - 2];
    if (m >= 0 && n >= 0 && m != n)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "matrices must be square, got %" PRId64 "x%" PRId64, n, m);
    tt_infer_tensor(c, 0, x->dtype, x->rank - 2, x->dims);
    return TT_OK;
}

typedef struct det_job {
    const tt_tensor *x;
    tt_tensor *y;
    double *work; /* n * n per matrix */
    int64_t n;
} det_job;

/* LU decomposition with partial pivoting, in double: the determinant is the product of the
 * pivots, negated per row swap. */
static void det_range(void *arg, int64_t b, int64_t e)
{
    const det_job *j = arg;
    int64_t n = j->n;
    for (int64_t mat = b; mat < e; mat++) {
        double *a = j->work + mat * n * n, det = 1;
        for (int64_t i = 0; i < n * n; i++)
            a[i] = tt_load_f64(j->x->data, j->x->dtype, (size_t)(mat * n * n + i));
        for (int64_t k = 0; k < n && det != 0; k++) {
            int64_t p = k;
            for (int64_t i = k + 1; i < n; i++)
                if (fabs(a[i * n + k]) > fabs(a[p * n + k]))
                    p = i;
            if (a[p * n + k] == 0) {
                det = 0;
                break;
            }
            if (p != k) {
                for (int64_t t = 0; t < n; t++) {
                    double tmp = a[k * n + t];
                    a[k * n + t] = a[p * n + t];
                    a[p * n + t] = tmp;
                }
                det = -det;
            }
            det *= a[k * n + k];
            if (!tt_stop_work((uint64_t)(n - k) * (uint64_t)(n - k)))
                return; /* a huge matrix stops with the run */
            for (int64_t i = k + 1; i < n; i++) {
                double f = a[i * n + k] / a[k * n + k];
                for (int64_t t = k + 1; t < n; t++)
                    a[i * n + t] -= f * a[k * n + t];
            }
        }
        tt_store_f64(j->y->data, j->y->dtype, (size_t)mat, det);
    }
}

static tt_status run_det(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t n = x->dims[x->rank - 1];
    if (x->dims[x->rank - 2] != n)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "matrices must be square");
    int64_t mats = tt_tensor_numel(y);
    det_job j = {.x = x, .y = y, .n = n, .work = tt_malloc_aligned((size_t)(mats * n * n) * sizeof(double))};
    if (!j.work)
        return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
    double cost = (double)n * (double)n * (double)n;
    tt_parallel_for_stoppable(mats, cost >= 4096 ? 1 : 1 + (int64_t)(4096 / (cost + 1)), cost, det_range, &j);
    tt_free_aligned(j.work);
    return TT_OK;
}

/* ---- Einsum ------------------------------------------------------------------------------
 * Subscripts become labels: the 52 letters, then one label per dim the ellipsis stands for
 * (aligned from the right across operands, as numpy broadcasts). Labels of the output index
 * it; every other label is summed over. A two-operand float product that is a batched matrix
 * product (no diagonal, no broadcast, nothing summed within one operand) runs as a GEMM; any
 * other equation runs as a direct loop, accumulating in double (integers in uint64). */

#define EIN_LETTERS 52
#define EIN_LABELS (EIN_LETTERS + TT_MAX_RANK)
#define EIN_MAX_INPUTS 16

typedef struct einsum {
    int n_in;
    int rank[EIN_MAX_INPUTS];
    int lab[EIN_MAX_INPUTS][TT_MAX_RANK]; /* the label of each dim of each operand */
    int out_rank;
    int out_lab[TT_MAX_RANK];
    int64_t size[EIN_LABELS]; /* TT_DIM_UNKNOWN while not known */
    int uses[EIN_LABELS];     /* operands (with repeats) that hold the label */
} einsum;

static int ein_letter(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return 26 + ch - 'a';
    return -1;
}

/* One term: its labels with the ellipsis (at most one) expanded to `ell` dims, which take
 * labels from the right of the ellipsis range [0, ell_max). n: the term's rank; -1: ell unknown. */
static tt_status ein_term(const tt_node *node, const char *t, const char *end, int ell, int ell_max, int *lab, int *n,
                          bool *has_ell)
{
    int k = 0;
    *has_ell = false;
    for (const char *p = t; p < end; p++) {
        if (*p == ' ')
            continue;
        if (*p == '.') {
            if (*has_ell || end - p < 3 || p[1] != '.' || p[2] != '.')
                return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "bad ellipsis in equation term '%.*s'",
                                   (int)(end - t), t);
            *has_ell = true;
            p += 2;
            if (ell < 0)
                continue;
            for (int e = 0; e < ell; e++) {
                if (k >= TT_MAX_RANK)
                    return tt_op_error(node, TETHER_ERR_SHAPE, "equation term has more than %d dims", TT_MAX_RANK);
                lab[k++] = EIN_LETTERS + ell_max - ell + e;
            }
            continue;
        }
        int l = ein_letter(*p);
        if (l < 0)
            return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "character '%c' is not a subscript", *p);
        if (k >= TT_MAX_RANK)
            return tt_op_error(node, TETHER_ERR_SHAPE, "equation term has more than %d dims", TT_MAX_RANK);
        lab[k++] = l;
    }
    *n = k;
    return TT_OK;
}

/* Parses the equation for operands of the given ranks and dims (symbolic dims allowed). */
static tt_status ein_parse(const tt_node *node, int n_in, const int *ranks, const int64_t *const *dims, einsum *e)
{
    const char *eq = tt_attr_string(node, "equation", NULL);
    if (!eq)
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "needs an 'equation' attribute");
    if (n_in < 1 || n_in > EIN_MAX_INPUTS)
        return tt_op_error(node, TETHER_ERR_UNSUPPORTED, "%d operands (tether takes 1 to %d)", n_in, EIN_MAX_INPUTS);
    memset(e, 0, sizeof *e);
    e->n_in = n_in;
    const char *arrow = strstr(eq, "->"), *lhs_end = arrow ? arrow : eq + strlen(eq);
    /* first pass: how many dims the ellipsis stands for */
    const char *t = eq;
    int ell_max = 0, ell[EIN_MAX_INPUTS];
    for (int k = 0; k < n_in; k++) {
        const char *te = memchr(t, ',', (size_t)(lhs_end - t));
        if (!te)
            te = lhs_end;
        if (k < n_in - 1 && te == lhs_end)
            return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "equation '%s' has fewer terms than the %d operands", eq,
                               n_in);
        int n, scratch[TT_MAX_RANK];
        bool has_ell;
        TT_TRY(ein_term(node, t, te, -1, 0, scratch, &n, &has_ell));
        ell[k] = ranks[k] - n;
        if (ell[k] < 0 || (!has_ell && ell[k] != 0))
            return tt_op_error(node, TETHER_ERR_SHAPE, "term %d of '%s' has %d subscripts for an operand of rank %d", k,
                               eq, n, ranks[k]);
        ell_max = ell[k] > ell_max ? ell[k] : ell_max;
        t = te + 1;
    }
    if (t <= lhs_end)
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "equation '%s' has more terms than the %d operands", eq,
                           n_in);
    for (int l = 0; l < EIN_LABELS; l++)
        e->size[l] = TT_DIM_UNKNOWN;
    t = eq;
    for (int k = 0; k < n_in; k++) {
        const char *te = memchr(t, ',', (size_t)(lhs_end - t));
        int n;
        bool has_ell;
        TT_TRY(ein_term(node, t, te ? te : lhs_end, ell[k], ell_max, e->lab[k], &n, &has_ell));
        e->rank[k] = n;
        t = te ? te + 1 : lhs_end;
        for (int d = 0; d < n; d++) {
            int l = e->lab[k][d];
            int64_t s = dims[k][d], *have = &e->size[l];
            bool repeat = false;
            for (int d2 = 0; d2 < d; d2++)
                repeat |= e->lab[k][d2] == l;
            e->uses[l]++;
            /* a size-1 dim broadcasts against the label's size, except on a diagonal */
            if (s < 0 || s == *have)
                continue;
            if (*have < 0 || (*have == 1 && !repeat))
                *have = s;
            else if (s != 1 || repeat)
                return tt_op_error(node, TETHER_ERR_SHAPE, "subscript sizes differ: %" PRId64 " vs %" PRId64, *have, s);
        }
    }
    if (arrow) {
        bool has_ell;
        TT_TRY(ein_term(node, arrow + 2, arrow + strlen(arrow), ell_max, ell_max, e->out_lab, &e->out_rank, &has_ell));
        for (int i = 0; i < e->out_rank; i++) {
            int l = e->out_lab[i];
            if (l < EIN_LETTERS && !e->uses[l])
                return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "output subscript '%c' is not in any input",
                                   l < 26 ? 'A' + l : 'a' + l - 26);
            for (int j = 0; j < i; j++)
                if (e->out_lab[j] == l)
                    return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "output subscript repeated in '%s'", eq);
        }
    } else {
        /* implicit output: the ellipsis dims, then the letters used once, in order */
        for (int i = 0; i < ell_max; i++)
            e->out_lab[e->out_rank++] = EIN_LETTERS + i;
        for (int l = 0; l < EIN_LETTERS; l++)
            if (e->uses[l] == 1) {
                if (e->out_rank >= TT_MAX_RANK)
                    return tt_op_error(node, TETHER_ERR_SHAPE, "output has more than %d dims", TT_MAX_RANK);
                e->out_lab[e->out_rank++] = l;
            }
    }
    return TT_OK;
}

static bool ein_in_output(const einsum *e, int l)
{
    for (int i = 0; i < e->out_rank; i++)
        if (e->out_lab[i] == l)
            return true;
    return false;
}

static tt_status infer_einsum(tt_ictx *c)
{
    int ranks[EIN_MAX_INPUTS];
    const int64_t *dims[EIN_MAX_INPUTS];
    const tt_type *x0;
    TT_TRY(tt_need_input(c, 0, &x0));
    for (int k = 0; k < c->n_in && k < EIN_MAX_INPUTS; k++) {
        const tt_type *t;
        TT_TRY(tt_need_input(c, k, &t));
        if (t->rank < 0) {
            tt_infer_tensor(c, 0, x0->dtype, -1, NULL);
            return TT_OK;
        }
        TT_TRY(tt_infer_same_dtype(c, 0, k));
        ranks[k] = t->rank;
        dims[k] = t->dims;
    }
    einsum e;
    TT_TRY(ein_parse(c->node, c->n_in, ranks, dims, &e));
    int64_t out[TT_MAX_RANK];
    for (int i = 0; i < e.out_rank; i++)
        out[i] = e.size[e.out_lab[i]];
    tt_infer_tensor(c, 0, x0->dtype, e.out_rank, out);
    return TT_OK;
}

/* Element strides of an operand per label: summed over a diagonal, 0 where a dim broadcasts. */
static void ein_strides(const einsum *e, int k, const tt_tensor *x, int64_t *st)
{
    int64_t s = 1;
    memset(st, 0, sizeof(int64_t) * EIN_LABELS);
    for (int d = x->rank - 1; d >= 0; d--) {
        if (x->dims[d] != 1)
            st[e->lab[k][d]] += s;
        s *= x->dims[d];
    }
}

/* ---- the direct loop ---- */

typedef struct ein_job {
    const einsum *e;
    int n_in, n_sum;
    const void *const *x; /* operands as double, or uint64 for integers */
    bool integer;
    int64_t st[EIN_MAX_INPUTS][EIN_LABELS];
    int sum_lab[EIN_LABELS];
    int64_t out_size[TT_MAX_RANK];
    void *y; /* double or uint64, one per output element */
} ein_job;

static void ein_range(void *arg, int64_t b, int64_t e)
{
    const ein_job *j = arg;
    int n_in = j->n_in, ns = j->n_sum;
    for (int64_t o = b; o < e; o++) {
        int64_t off[EIN_MAX_INPUTS] = {0}, rest = o;
        for (int i = j->e->out_rank - 1; i >= 0; i--) {
            int64_t idx = rest % j->out_size[i];
            rest /= j->out_size[i];
            for (int k = 0; k < n_in; k++)
                off[k] += idx * j->st[k][j->e->out_lab[i]];
        }
        int64_t idx[EIN_LABELS] = {0}, steps = 0;
        double accd = 0;
        uint64_t acci = 0;
        for (;;) {
            /* one element's sum may be long (a contraction of big dims): it stops with the run */
            if (++steps == 65536) {
                steps = 0;
                if (!tt_stop_work(65536u * (unsigned)n_in))
                    return;
            }
            if (j->integer) {
                uint64_t p = 1;
                for (int k = 0; k < n_in; k++)
                    p *= ((const uint64_t *)j->x[k])[off[k]];
                acci += p;
            } else {
                double p = 1;
                for (int k = 0; k < n_in; k++)
                    p *= ((const double *)j->x[k])[off[k]];
                accd += p;
            }
            int s = ns - 1;
            for (; s >= 0; s--) {
                int l = j->sum_lab[s];
                for (int k = 0; k < n_in; k++)
                    off[k] += j->st[k][l];
                if (++idx[s] < j->e->size[l])
                    break;
                for (int k = 0; k < n_in; k++)
                    off[k] -= j->st[k][l] * j->e->size[l];
                idx[s] = 0;
            }
            if (s < 0)
                break;
        }
        if (j->integer)
            ((uint64_t *)j->y)[o] = acci;
        else
            ((double *)j->y)[o] = accd;
    }
}

static tt_status einsum_direct(tt_kctx *c, const einsum *e, tt_tensor *y)
{
    ein_job j = {.e = e, .n_in = c->n_in, .integer = !tt_dtype_is_float(y->dtype)};
    void *xs[EIN_MAX_INPUTS] = {0};
    int64_t n_out = tt_tensor_numel(y);
    double inner = 1; /* terms per output element: a product of dims, which may pass int64 */
    for (int l = 0; l < EIN_LABELS; l++)
        if (e->uses[l] && !ein_in_output(e, l)) {
            j.sum_lab[j.n_sum++] = l;
            inner *= (double)e->size[l];
        }
    for (int i = 0; i < e->out_rank; i++)
        j.out_size[i] = y->dims[i];
    j.y = tt_malloc_aligned((size_t)n_out * 8);
    bool ok = j.y != NULL;
    for (int k = 0; k < c->n_in && ok; k++) {
        const tt_tensor *x = tt_kin(c, k);
        int64_t n = tt_tensor_numel(x);
        ok = (xs[k] = tt_malloc_aligned((size_t)n * 8)) != NULL;
        for (int64_t i = 0; ok && i < n; i++) {
            if (j.integer)
                ((uint64_t *)xs[k])[i] = (uint64_t)tt_load_i64(x->data, x->dtype, (size_t)i);
            else
                ((double *)xs[k])[i] = tt_load_f64(x->data, x->dtype, (size_t)i);
        }
        ein_strides(e, k, x, j.st[k]);
    }
    if (ok && inner > 0) {
        j.x = (const void *const *)xs;
        double cost = inner * j.n_in;
        tt_parallel_for_stoppable(n_out, cost >= 16384 ? 1 : 1 + (int64_t)(16384 / cost), cost, ein_range, &j);
    } else if (ok) {
        memset(j.y, 0, (size_t)n_out * 8); /* a sum over nothing */
    }
    for (int64_t i = 0; ok && i < n_out; i++) {
        if (j.integer)
            tt_store_i64(y->data, y->dtype, (size_t)i, (int64_t)((uint64_t *)j.y)[i]);
        else
            tt_store_f64(y->data, y->dtype, (size_t)i, ((double *)j.y)[i]);
    }
    for (int k = 0; k < c->n_in; k++)
        tt_free_aligned(xs[k]);
    tt_free_aligned(j.y);
    return ok ? TT_OK : tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
}

/* ---- as a batched GEMM ---- */

/* Copies the elements of src (strides st per label) into dst laid out in the order of labs. */
static void ein_gather(const einsum *e, const char *src, const int64_t *st, const int *labs, int n, size_t esz,
                       char *dst)
{
    int64_t idx[EIN_LABELS] = {0}, off = 0, total = 1;
    for (int i = 0; i < n; i++)
        total *= e->size[labs[i]];
    for (int64_t o = 0; o < total; o++) {
        memcpy(dst + (size_t)o * esz, src + (size_t)off * esz, esz);
        for (int i = n - 1; i >= 0; i--) {
            off += st[labs[i]];
            if (++idx[i] < e->size[labs[i]])
                break;
            off -= st[labs[i]] * e->size[labs[i]];
            idx[i] = 0;
        }
    }
}

/* Whether labs (n of them) are the dims of x in order, contiguous: then no copy is needed. */
static bool ein_is_layout(const einsum *e, int k, const int *labs, int n)
{
    if (e->rank[k] != n)
        return false;
    for (int i = 0; i < n; i++)
        if (e->lab[k][i] != labs[i])
            return false;
    return true;
}

/* Operand k as the matrix stack in label order `labs`: in place when it is laid out so, or as
 * `tlabs` (then *trans), else gathered into a copy (*copy, for the caller to free). */
static tt_status ein_operand(const tt_node *node, const einsum *e, int k, const tt_tensor *x, const int *labs,
                             const int *tlabs, int n, size_t esz, const void **p, bool *trans, void **copy)
{
    *p = x->data;
    *trans = false;
    if (ein_is_layout(e, k, labs, n))
        return TT_OK;
    if ((*trans = ein_is_layout(e, k, tlabs, n)))
        return TT_OK;
    int64_t st[EIN_LABELS];
    ein_strides(e, k, x, st);
    if (!(*copy = tt_malloc_aligned((size_t)tt_tensor_numel(x) * esz)))
        return tt_op_error(node, TETHER_ERR_NO_MEMORY, "out of memory");
    ein_gather(e, x->data, st, labs, n, esz, *copy);
    *p = *copy;
    return TT_OK;
}

/* Returns false (having done nothing) when the equation is not a plain batched product. */
static bool einsum_gemm(tt_kctx *c, const einsum *e, tt_tensor *y, tt_status *s)
{
    *s = TT_OK;
    if (c->n_in != 2 || (y->dtype != TETHER_DTYPE_FLOAT && y->dtype != TETHER_DTYPE_DOUBLE))
        return false;
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    bool in_a[EIN_LABELS] = {false}, in_b[EIN_LABELS] = {false};
    for (int k = 0; k < 2; k++) {
        const tt_tensor *x = k ? b : a;
        bool *in = k ? in_b : in_a;
        for (int d = 0; d < x->rank; d++) {
            int l = e->lab[k][d];
            if (in[l] || x->dims[d] != e->size[l])
                return false; /* a diagonal or a broadcast dim */
            in[l] = true;
        }
    }
    int bl[EIN_LABELS], ml[EIN_LABELS], nl[EIN_LABELS], kl[EIN_LABELS], nb = 0, nm = 0, nn = 0, nk = 0;
    int64_t B = 1, M = 1, N = 1, K = 1;
    for (int i = 0; i < e->out_rank; i++) {
        int l = e->out_lab[i];
        if (in_a[l] && in_b[l])
            bl[nb++] = l, B *= e->size[l];
        else if (in_a[l])
            ml[nm++] = l, M *= e->size[l];
        else if (in_b[l])
            nl[nn++] = l, N *= e->size[l];
        else
            return false; /* an ellipsis dim neither operand has */
    }
    for (int d = 0; d < a->rank; d++) {
        int l = e->lab[0][d];
        if (ein_in_output(e, l))
            continue;
        if (!in_b[l])
            return false; /* summed within a alone */
        kl[nk++] = l, K *= e->size[l];
    }
    for (int d = 0; d < b->rank; d++)
        if (!in_a[e->lab[1][d]] && !ein_in_output(e, e->lab[1][d]))
            return false;
    /* the operands as stacks [batch, M, K] and [batch, K, N] (or transposed: [batch, K, M],
     * [batch, N, K]); the product is [batch, M, N] */
    int a_mk[EIN_LABELS], a_km[EIN_LABELS], b_kn[EIN_LABELS], b_nk[EIN_LABELS], y_mn[EIN_LABELS];
    for (int i = 0; i < nb; i++)
        a_mk[i] = a_km[i] = b_kn[i] = b_nk[i] = y_mn[i] = bl[i];
    for (int i = 0; i < nm; i++)
        a_mk[nb + i] = a_km[nb + nk + i] = y_mn[nb + i] = ml[i];
    for (int i = 0; i < nk; i++)
        a_mk[nb + nm + i] = a_km[nb + i] = b_kn[nb + i] = b_nk[nb + nn + i] = kl[i];
    for (int i = 0; i < nn; i++)
        b_kn[nb + nk + i] = b_nk[nb + i] = y_mn[nb + nm + i] = nl[i];
    bool dbl = y->dtype == TETHER_DTYPE_DOUBLE, ta, tb, y_direct = true;
    size_t esz = dbl ? 8 : 4;
    const void *pa, *pb;
    void *ca = NULL, *cb = NULL, *cy = NULL;
    for (int i = 0; i < e->out_rank; i++)
        y_direct &= e->out_lab[i] == y_mn[i];
    *s = ein_operand(c->node, e, 0, a, a_mk, a_km, nb + nm + nk, esz, &pa, &ta, &ca);
    if (*s == TT_OK)
        *s = ein_operand(c->node, e, 1, b, b_kn, b_nk, nb + nk + nn, esz, &pb, &tb, &cb);
    if (*s == TT_OK && !y_direct && !(cy = tt_malloc_aligned((size_t)(B * M * N) * esz)))
        *s = tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
    if (*s == TT_OK) {
        void *py = y_direct ? y->data : cy;
        if (dbl)
            dgemm_batched(ta, tb, M, N, K, pa, ta ? M : K, M * K, pb, tb ? K : N, K * N, py, N, M * N, B);
        else
            tt_sgemm_batched(ta, tb, M, N, K, 1.0f, pa, ta ? M : K, M * K, pb, tb ? K : N, K * N, 0.0f, py, N, M * N,
                             B);
    }
    if (*s == TT_OK && !y_direct) {
        /* [batch, M, N] into the output's order: gather with the strides of that layout */
        int64_t st[EIN_LABELS] = {0}, stride = 1;
        for (int i = e->out_rank - 1; i >= 0; i--) {
            st[y_mn[i]] = stride;
            stride *= e->size[y_mn[i]];
        }
        ein_gather(e, cy, st, e->out_lab, e->out_rank, esz, y->data);
    }
    tt_free_aligned(ca);
    tt_free_aligned(cb);
    tt_free_aligned(cy);
    return true;
}

static tt_status run_einsum(tt_kctx *c)
{
    int ranks[EIN_MAX_INPUTS];
    const int64_t *dims[EIN_MAX_INPUTS];
    tt_tensor *y = tt_kout(c, 0);
    for (int k = 0; k < c->n_in && k < EIN_MAX_INPUTS; k++) {
        const tt_tensor *x = tt_kin(c, k);
        if (!x)
            return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "operand %d is missing", k);
        ranks[k] = x->rank;
        dims[k] = x->dims;
    }
    einsum e;
    TT_TRY(ein_parse(c->node, c->n_in, ranks, dims, &e));
    if (tt_tensor_numel(y) == 0)
        return TT_OK;
    tt_status s;
    if (einsum_gemm(c, &e, y, &s))
        return s;
    return einsum_direct(c, &e, y);
}

static uint64_t flops_einsum(const tt_ictx *c)
{
    /* one multiply-add per operand for every combination of the labels' indices */
    int ranks[EIN_MAX_INPUTS];
    const int64_t *dims[EIN_MAX_INPUTS];
    for (int k = 0; k < c->n_in && k < EIN_MAX_INPUTS; k++) {
        ranks[k] = tt_iin(c, k)->rank;
        dims[k] = tt_iin(c, k)->dims;
    }
    einsum e;
    if (ein_parse(c->node, c->n_in, ranks, dims, &e) != TT_OK) {
        tt_error_clear();
        return 0;
    }
    uint64_t n = (uint64_t)c->n_in;
    for (int l = 0; l < EIN_LABELS; l++)
        if (e.uses[l])
            n *= (uint64_t)e.size[l];
    return n;
}

#define MM_TYPES                                                                                                       \
    (TT_DTS_FLOAT | TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64) | TT_DT(TETHER_DTYPE_UINT32) |               \
     TT_DT(TETHER_DTYPE_UINT64))

const tt_op_schema tt_schemas_linalg[] = {
    TT_SCHEMA("MatMul", 1, 0, infer_matmul, .flops = flops_matmul),
    TT_SCHEMA("Gemm", 1, 0, infer_gemm, .flops = flops_gemm),
    TT_SCHEMA("MatMulInteger", 10, 0, infer_matmul_integer, .flops = flops_matmul),
    TT_SCHEMA("QLinearMatMul", 10, 0, infer_qlinear_matmul, .flops = flops_matmul),
    TT_SCHEMA("Det", 11, 0, infer_det),
    TT_SCHEMA("Einsum", 12, 0, infer_einsum, .flops = flops_einsum),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_linalg[] = {
    TT_KERNEL("MatMul", 1, 0, MM_TYPES, run_matmul),
    TT_KERNEL("Gemm", 1, 0, MM_TYPES, run_gemm),
    TT_KERNEL("MatMulInteger", 10, 0, Q8_TYPES, run_matmul_integer),
    TT_KERNEL("QLinearMatMul", 10, 0, Q8_TYPES, run_qlinear_matmul),
    TT_KERNEL("Det", 11, 0, TT_DTS_FLOAT, run_det),
    TT_KERNEL("Einsum", 12, 0, TT_DTS_NUMERIC, run_einsum),
    TT_KERNEL_END,
};
