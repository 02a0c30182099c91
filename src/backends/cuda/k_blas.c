/* Gemm, MatMul and tether's FusedMatMul on cuBLASLt. Tensors are row-major and cuBLASLt is
 * column-major, so a row-major C[M,N] = A[M,K] B[K,N] runs as the column-major C^T = B^T A^T:
 * the operands swap places and no data moves. A bias row (Gemm's C of shape [N]) rides in the
 * BIAS epilogue, and the ReLU/GELU epilogues serve FusedMatMul. The math follows the session's
 * precision: fp32 (CUBLAS_COMPUTE_32F), tf32 or fp16 inputs (the _FAST_ compute types). Each
 * node keeps its descriptors and the heuristic's algorithm per shape, so the steady path
 * makes no heuristic query. */
#include "cu.h"

#include "fuse_plan.h"

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

#define CU_GEMM_WORKSPACE ((size_t)32 << 20) /* cuBLASLt's advice for Hopper */
#define CU_GEMM_SHAPES 8

typedef enum { EPI_NONE = 0, EPI_RELU = 1, EPI_GELU = 2 } gemm_epi;

/* One matrix product: row-major D[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] (+ bias row,
 * then the epilogue's activation), b over `batch` with element strides sa, sb, sd; C has D's
 * layout and is D itself when NULL. */
typedef struct gemm_args {
    int64_t m, n, k, batch, sa, sb, sd;
    bool ta, tb;
    float alpha, beta;
    const float *a, *b, *bias, *c;
    float *d;
    gemm_epi epi;
} gemm_args;

typedef struct gemm_key {
    int64_t m, n, k, batch, sa, sb, sd;
    int ta, tb, epi, bias, math, align;
} gemm_key;

typedef struct gemm_plan {
    gemm_key key;
    bool used;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
    uint64_t stamp;
} gemm_plan;

/* A node's kernel state: its plans by shape. */
typedef struct gemm_state {
    pthread_mutex_t lock;
    gemm_plan plan[CU_GEMM_SHAPES];
    uint64_t clock;
} gemm_state;

static void plan_destroy(gemm_plan *p)
{
    if (p->la)
        cublasLtMatrixLayoutDestroy(p->la);
    if (p->lb)
        cublasLtMatrixLayoutDestroy(p->lb);
    if (p->ld)
        cublasLtMatrixLayoutDestroy(p->ld);
    if (p->desc)
        cublasLtMatmulDescDestroy(p->desc);
    memset(p, 0, sizeof *p);
}

static tt_status gemm_prepare(const tt_kprep *p, void **kstate)
{
    (void)p;
    gemm_state *s = calloc(1, sizeof *s);
    if (!s)
        return cu_err(TETHER_ERR_NO_MEMORY, "out of memory for a matrix product's state");
    pthread_mutex_init(&s->lock, NULL);
    *kstate = s;
    return TT_OK;
}

static void gemm_release(void *kstate)
{
    gemm_state *s = kstate;
    if (!s)
        return;
    for (int i = 0; i < CU_GEMM_SHAPES; i++)
        if (s->plan[i].used)
            plan_destroy(&s->plan[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The largest power of two (at most 256) dividing every pointer: what the algorithm may assume. */
static int alignment(const void *a, const void *b, const void *c, const void *d, const void *bias)
{
    uintptr_t v = (uintptr_t)a | (uintptr_t)b | (uintptr_t)c | (uintptr_t)d | (uintptr_t)bias | 256;
    return (int)(v & -v);
}

static tt_status make_layout(cublasLtMatrixLayout_t *l, uint64_t rows, uint64_t cols, int64_t ld, int64_t batch,
                             int64_t stride, const tt_node *n)
{
    CU_TRY(cu_lt(cublasLtMatrixLayoutCreate(l, CUDA_R_32F, rows, cols, ld), n, "describing a matrix"));
    if (batch > 1) {
        int32_t bc = (int32_t)batch;
        CU_TRY(cu_lt(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc), n,
                     "describing a batch"));
        CU_TRY(cu_lt(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                      sizeof stride),
                     n, "describing a batch"));
    }
    return TT_OK;
}

static tt_status plan_build(cu_ctx *x, const tt_node *n, const gemm_key *k, const gemm_args *g, gemm_plan *p)
{
    memset(p, 0, sizeof *p);
    p->key = *k;
    cublasComputeType_t ct = k->math == CU_MATH_TF32   ? CUBLAS_COMPUTE_32F_FAST_TF32
                             : k->math == CU_MATH_FP16 ? CUBLAS_COMPUTE_32F_FAST_16F
                                                       : CUBLAS_COMPUTE_32F;
    tt_status s = cu_lt(cublasLtMatmulDescCreate(&p->desc, ct, CUDA_R_32F), n, "describing a matrix product");
    /* column-major view: D^T[N,M] = op(B)^T[N,K] op(A)^T[K,M]: B's memory is the first operand */
    cublasOperation_t opa = g->tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (s == TT_OK)
        s = cu_lt(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa), n, "TRANSA");
    if (s == TT_OK)
        s = cu_lt(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb), n, "TRANSB");
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    if (k->bias)
        epi = k->epi == EPI_RELU ? CUBLASLT_EPILOGUE_RELU_BIAS
              : k->epi == EPI_GELU ? CUBLASLT_EPILOGUE_GELU_BIAS
                                   : CUBLASLT_EPILOGUE_BIAS;
    else
        epi = k->epi == EPI_RELU ? CUBLASLT_EPILOGUE_RELU : k->epi == EPI_GELU ? CUBLASLT_EPILOGUE_GELU
                                                                               : CUBLASLT_EPILOGUE_DEFAULT;
    if (s == TT_OK)
        s = cu_lt(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), n,
                  "the epilogue");
    if (s == TT_OK && k->bias)
        s = cu_lt(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias),
                  n, "the bias");
    /* B's memory: row-major [K,N] (or [N,K] transposed) = column-major [N,K] ld N (or [K,N] ld K) */
    if (s == TT_OK)
        s = g->tb ? make_layout(&p->la, (uint64_t)k->k, (uint64_t)k->n, k->k, k->batch, k->sb, n)
                  : make_layout(&p->la, (uint64_t)k->n, (uint64_t)k->k, k->n, k->batch, k->sb, n);
    if (s == TT_OK)
        s = g->ta ? make_layout(&p->lb, (uint64_t)k->m, (uint64_t)k->k, k->m, k->batch, k->sa, n)
                  : make_layout(&p->lb, (uint64_t)k->k, (uint64_t)k->m, k->k, k->batch, k->sa, n);
    if (s == TT_OK)
        s = make_layout(&p->ld, (uint64_t)k->n, (uint64_t)k->m, k->n, k->batch, k->sd, n);
    cublasLtMatmulPreference_t pref = NULL;
    if (s == TT_OK)
        s = cu_lt(cublasLtMatmulPreferenceCreate(&pref), n, "a heuristic query");
    size_t ws = CU_GEMM_WORKSPACE;
    uint32_t al = (uint32_t)k->align;
    if (s == TT_OK)
        s = cu_lt(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
                  n, "a heuristic query");
    for (int a = CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES; s == TT_OK && a <= CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES;
         a++)
        s = cu_lt(cublasLtMatmulPreferenceSetAttribute(pref, (cublasLtMatmulPreferenceAttributes_t)a, &al, sizeof al), n,
                  "a heuristic query");
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (s == TT_OK)
        s = cu_lt(cublasLtMatmulAlgoGetHeuristic(x->lt, p->desc, p->la, p->lb, p->ld, p->ld, pref, 1, &res, &found), n,
                  "choosing a matrix-product algorithm");
    if (pref)
        cublasLtMatmulPreferenceDestroy(pref);
    if (s == TT_OK && !found)
        s = cu_node_err(n, TETHER_ERR_UNSUPPORTED, "cuBLASLt has no algorithm for a %lldx%lldx%lld product",
                        (long long)k->m, (long long)k->n, (long long)k->k);
    if (s != TT_OK) {
        plan_destroy(p);
        return s;
    }
    p->algo = res.algo;
    p->used = true;
    return TT_OK;
}

static tt_status gemm_run(cu_ctx *x, const tt_kctx *c, gemm_state *st, const gemm_args *g)
{
    const tt_node *n = c->node;
    if (g->m == 0 || g->n == 0 || g->batch == 0)
        return TT_OK;
    if (g->k == 0) { /* an empty sum: D = beta * D (+ bias, activation) */
        cu_ew_prog p = {.n = 1, .op = {CU_EW_MUL_C}, .a = {g->beta}};
        cu_ew_unary(x->stream, &p, g->d, g->d, g->m * g->n * g->batch);
        if (g->bias || g->epi) {
            cu_ew_prog act = {.n = g->epi ? 1 : 0, .op = {g->epi == EPI_RELU ? CU_EW_RELU : CU_EW_GELU_TANH}};
            cu_bias_act(x->stream, g->d, g->bias, g->m * g->batch, g->n, 1, &act);
        }
        return cu_launched(n, "launching an empty product");
    }
    gemm_key k = {.m = g->m, .n = g->n, .k = g->k, .batch = g->batch, .sa = g->sa, .sb = g->sb, .sd = g->sd,
                  .ta = g->ta, .tb = g->tb, .epi = g->epi, .bias = g->bias != NULL, .math = cu_kmath(c),
                  .align = alignment(g->a, g->b, g->c, g->d, g->bias)};
    void *ws;
    CU_TRY(cu_workspace(x, n, CU_GEMM_WORKSPACE, &ws));
    pthread_mutex_lock(&st->lock);
    gemm_plan *p = NULL;
    for (int i = 0; i < CU_GEMM_SHAPES && !p; i++)
        if (st->plan[i].used && memcmp(&st->plan[i].key, &k, sizeof k) == 0)
            p = &st->plan[i];
    tt_status s = TT_OK;
    if (!p) {
        p = &st->plan[0];
        for (int i = 0; i < CU_GEMM_SHAPES; i++) {
            if (!st->plan[i].used) {
                p = &st->plan[i];
                break;
            }
            if (st->plan[i].stamp < p->stamp)
                p = &st->plan[i];
        }
        if (p->used)
            plan_destroy(p);
        s = plan_build(x, n, &k, g, p);
        if (s == TETHER_ERR_UNSUPPORTED && k.math != CU_MATH_FP32) {
            /* no reduced-precision algorithm for this shape: full fp32 is always there */
            gemm_key k32 = k;
            k32.math = CU_MATH_FP32;
            s = plan_build(x, n, &k32, g, p);
            if (s == TT_OK)
                p->key = k; /* found again under the key it was asked for */
        }
    }
    if (s == TT_OK) {
        p->stamp = ++st->clock;
        if (g->bias)
            s = cu_lt(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias,
                                                     sizeof g->bias),
                      n, "the bias");
        if (s == TT_OK)
            s = cu_lt(cublasLtMatmul(x->lt, p->desc, &g->alpha, g->b, p->la, g->a, p->lb, &g->beta, g->c ? g->c : g->d,
                                     p->ld, g->d, p->ld, &p->algo, ws, CU_GEMM_WORKSPACE, x->stream),
                      n, "running a matrix product");
    }
    pthread_mutex_unlock(&st->lock);
    return s;
}

/* ---- Gemm ------------------------------------------------------------------------------------ */

static bool gemm_supports(const tt_kprep *p)
{
    if (!cu_float_only(p))
        return false;
    if (p->node->opset < 7 && cu_attr_int(p->node, "broadcast", 0) == 0 && p->n_in > 2 && p->node->inputs[2] >= 0)
        return false; /* pre-7 C without broadcast must match exactly: the host checks it */
    return true;
}

/* Whether Gemm's C is a row of N (shape [N] or [1,N]) added to every row. */
static bool is_bias_row(const tt_tensor *c, int64_t n)
{
    if (c->rank == 1)
        return c->dims[0] == n && n > 1;
    return c->rank == 2 && c->dims[0] == 1 && c->dims[1] == n && n > 1;
}

static tt_status run_gemm_epi(tt_kctx *c, gemm_epi epi)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1), *cc = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    bool ta = cu_attr_int(c->node, "transA", 0) != 0, tb = cu_attr_int(c->node, "transB", 0) != 0;
    float alpha = cu_attr_float(c->node, "alpha", 1.f), beta = cu_attr_float(c->node, "beta", 1.f);
    if (a->rank != 2 || b->rank != 2)
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "A and B must be matrices");
    gemm_args g = {.m = y->dims[0], .n = y->dims[1], .k = ta ? a->dims[0] : a->dims[1], .batch = 1, .ta = ta,
                   .tb = tb, .alpha = alpha, .beta = 0.f, .a = a->data, .b = b->data, .d = y->data, .epi = epi};
    CU_ENTER(c, x);
    if (cc && beta != 0.f) {
        if (beta == 1.f && is_bias_row(cc, g.n)) {
            g.bias = cc->data;
        } else {
            /* D starts as beta-scaled C broadcast to [M,N] */
            int64_t cs[2];
            cs[1] = cc->rank >= 1 && cc->dims[cc->rank - 1] != 1 ? 1 : 0;
            cs[0] = cc->rank == 2 && cc->dims[0] != 1 ? cc->dims[1] : 0;
            cu_strided_copy(x->stream, 4, 2, y->dims, cs, 0, cc->data, y->data);
            CU_TRY(cu_launched(c->node, "broadcasting C"));
            g.beta = beta;
        }
    }
    gemm_state *st = c->kstate;
    return gemm_run(x, c, st, &g);
}

static tt_status run_gemm(tt_kctx *c) { return run_gemm_epi(c, EPI_NONE); }

/* ---- MatMul ------------------------------------------------------------------------------------ */

static bool matmul_supports(const tt_kprep *p)
{
    return cu_float_only(p) && cu_pin_rank(p, 0) >= 1 && cu_pin_rank(p, 1) >= 1 && cu_pin_rank(p, 0) <= CU_MAX_RANK &&
           cu_pin_rank(p, 1) <= CU_MAX_RANK;
}

static tt_status run_matmul(tt_kctx *c)
{
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1);
    tt_tensor *y = tt_kout(c, 0);
    /* 1-D operands: A [K] is [1,K], B [K] is [K,1] */
    int64_t m = a->rank >= 2 ? a->dims[a->rank - 2] : 1, k = a->dims[a->rank - 1];
    int64_t n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    int ra = a->rank > 2 ? a->rank - 2 : 0, rb = b->rank > 2 ? b->rank - 2 : 0;
    int64_t ba = cu_prod(a->dims, 0, ra), bb = cu_prod(b->dims, 0, rb);
    gemm_state *st = c->kstate;
    if (bb == 1) {
        /* B is one matrix: A's batch folds into M (A is contiguous) */
        CU_ENTER(c, x);
        gemm_args g = {.m = m * ba, .n = n, .k = k, .batch = 1, .alpha = 1.f, .a = a->data, .b = b->data,
                       .d = y->data};
        return gemm_run(x, c, st, &g);
    }
    /* batch dims broadcast: equal shapes, or one side all ones, run as one strided batch */
    int rbat = ra > rb ? ra : rb;
    int64_t da[CU_MAX_RANK], db[CU_MAX_RANK];
    bool same = true;
    for (int d = 0; d < rbat; d++) {
        int ia = d - (rbat - ra), ib = d - (rbat - rb);
        da[d] = ia >= 0 ? a->dims[ia] : 1;
        db[d] = ib >= 0 ? b->dims[ib] : 1;
        same &= da[d] == db[d];
    }
    CU_ENTER(c, x);
    if (same || ba == 1) {
        gemm_args g = {.m = m, .n = n, .k = k, .batch = bb, .sa = ba == 1 ? 0 : m * k, .sb = k * n, .sd = m * n,
                       .alpha = 1.f, .a = a->data, .b = b->data, .d = y->data};
        return gemm_run(x, c, st, &g);
    }
    /* general broadcasting: one product per output matrix */
    int64_t nb = cu_prod(y->dims, 0, y->rank - (a->rank >= 2 && b->rank >= 2 ? 2 : 1));
    for (int64_t i = 0; i < nb; i++) {
        int64_t rem = i, oa = 0, ob = 0, sa = 1, sb = 1;
        for (int d = rbat - 1; d >= 0; d--) {
            int64_t dim = da[d] > db[d] ? da[d] : db[d], pos = rem % dim;
            rem /= dim;
            oa += (da[d] == 1 ? 0 : pos) * sa;
            ob += (db[d] == 1 ? 0 : pos) * sb;
            sa *= da[d];
            sb *= db[d];
        }
        gemm_args g = {.m = m, .n = n, .k = k, .batch = 1, .alpha = 1.f, .a = (const float *)a->data + oa * m * k,
                       .b = (const float *)b->data + ob * k * n, .d = (float *)y->data + i * m * n};
        CU_TRY(gemm_run(x, c, st, &g));
    }
    return TT_OK;
}

/* ---- FusedMatMul (com.tether) ------------------------------------------------------------------ */

/* Y = act(alpha * A B' + bias + residual): alpha, the bias, a residual of the product's shape
 * (as C) and the RELU / tanh-GELU activations ride in cuBLASLt; a residual that broadcasts
 * and every other activation (the erf GELU among them) follow in one elementwise kernel
 * (fuse_plan.c decides). */

static bool fmm_supports(const tt_kprep *p)
{
    if (!p->node->state || !cu_float_only(p) || cu_pin_rank(p, 1) != 2)
        return false;
    int ra = cu_pin_rank(p, 0), rr = p->n_in > 3 && p->in[3] ? cu_pin_rank(p, 3) : 0;
    return ra >= 1 && ra <= CU_MAX_RANK && rr >= 0 && rr <= CU_MAX_RANK;
}

/* The elementwise program of a fused op's activation. */
static cu_ew_prog act_prog(tt_act act, float alpha, float beta)
{
    cu_ew_prog p = {.n = 1, .a = {alpha}, .b = {beta}};
    switch (act) {
    case TT_ACT_ID_RELU: p.op[0] = CU_EW_RELU; break;
    case TT_ACT_ID_LEAKY_RELU: p.op[0] = CU_EW_LEAKY_RELU; break;
    case TT_ACT_ID_SIGMOID: p.op[0] = CU_EW_SIGMOID; break;
    case TT_ACT_ID_TANH: p.op[0] = CU_EW_TANH; break;
    case TT_ACT_ID_GELU: p.op[0] = CU_EW_GELU; break;
    case TT_ACT_ID_GELU_TANH: p.op[0] = CU_EW_GELU_TANH; break;
    case TT_ACT_ID_CLIP: p.op[0] = CU_EW_CLIP; break;
    default: p.n = 0; break;
    }
    return p;
}

/* Element strides of a row-major tensor of rank tr, dims td, broadcast into an output of
 * rank r, dims od (right-aligned; 0 where the tensor's dim is 1 or missing). */
static void bcast_strides(int tr, const int64_t *td, int r, const int64_t *od, int64_t *s)
{
    int64_t st = 1;
    for (int d = r - 1; d >= 0; d--) {
        int k = d - (r - tr);
        s[d] = k < 0 || td[k] == 1 || od[d] == 1 ? 0 : st;
        if (k >= 0)
            st *= td[k];
    }
}

static tt_status run_fused_mm(tt_kctx *c)
{
    const tt_fused_mm *f = c->state;
    const tt_tensor *a = tt_kin(c, 0), *b = tt_kin(c, 1), *bias = tt_kin(c, 2), *res = tt_kin(c, 3);
    tt_tensor *y = tt_kout(c, 0);
    if (a->rank < 1 || a->rank > CU_MAX_RANK || b->rank != 2 || y->rank > CU_MAX_RANK)
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "A must have rank 1 to %d and B must be a matrix", CU_MAX_RANK);
    int64_t K = a->dims[a->rank - 1], N = b->dims[f->trans_b ? 0 : 1];
    if (b->dims[f->trans_b ? 1 : 0] != K)
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "A and B do not multiply");
    if (bias && (bias->dtype != TETHER_DTYPE_FLOAT || tt_tensor_numel(bias) != N))
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "the bias must be float with %lld values", (long long)N);
    if (res && res->dtype != TETHER_DTYPE_FLOAT)
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "the residual must be float");
    int64_t md[CU_MAX_RANK];
    memcpy(md, a->dims, sizeof(int64_t) * (size_t)a->rank);
    md[a->rank - 1] = N;
    int64_t rows = cu_prod(a->dims, 0, a->rank - 1);
    bool direct = !res || (res->rank == a->rank && memcmp(res->dims, md, sizeof(int64_t) * (size_t)a->rank) == 0);
    if (direct && (y->rank != a->rank || memcmp(y->dims, md, sizeof(int64_t) * (size_t)a->rank) != 0))
        return cu_node_err(c->node, TETHER_ERR_SHAPE, "the output does not have the product's shape");
    cu_fmm_plan pl;
    cu_fmm_plan_make(f, bias != NULL, res != NULL, direct, K == 0, true, &pl);
    CU_ENTER(c, x);
    float *mm = y->data;
    if (!direct) { /* the product in the workspace, past cuBLASLt's part */
        void *ws;
        CU_TRY(cu_workspace(x, c->node, CU_GEMM_WORKSPACE + (size_t)(rows * N) * sizeof(float), &ws));
        mm = (float *)((char *)ws + CU_GEMM_WORKSPACE);
    }
    if (pl.zero_product) {
        if (rows * N > 0)
            CU_TRY(cu_rt(cudaMemsetAsync(mm, 0, (size_t)(rows * N) * sizeof(float), x->stream), c->node,
                         "zeroing an empty product"));
    } else {
        gemm_args g = {.m = rows, .n = N, .k = K, .batch = 1, .tb = f->trans_b, .alpha = f->alpha,
                       .beta = pl.lt_residual ? 1.f : 0.f, .a = a->data, .b = b->data,
                       .c = pl.lt_residual ? res->data : NULL, .bias = pl.lt_bias ? bias->data : NULL, .d = mm,
                       .epi = pl.lt_act == CU_LT_ACT_RELU        ? EPI_RELU
                              : pl.lt_act == CU_LT_ACT_GELU_TANH ? EPI_GELU
                                                                 : EPI_NONE};
        tt_status s = gemm_run(x, c, c->kstate, &g);
        if (s == TETHER_ERR_UNSUPPORTED && (pl.lt_bias || pl.lt_act != CU_LT_ACT_NONE)) {
            /* no algorithm with these epilogues: the plain product, the rest elementwise */
            cu_log(0, "node '%s': cuBLASLt has no algorithm with its epilogue; it runs elementwise",
                   c->node->name);
            cu_fmm_plan_make(f, bias != NULL, res != NULL, direct, false, false, &pl);
            g.bias = NULL;
            g.epi = EPI_NONE;
            s = gemm_run(x, c, c->kstate, &g);
        }
        CU_TRY(s);
    }
    if (pl.ew_bias) {
        cu_bias_act(x->stream, mm, bias->data, rows, N, 1, NULL);
        CU_TRY(cu_launched(c->node, "adding the bias"));
    }
    cu_ew_prog act = act_prog(pl.ew_act, f->act_alpha, f->act_beta);
    if (pl.ew_residual) {
        int64_t ms[CU_MAX_RANK], rs[CU_MAX_RANK];
        bcast_strides(a->rank, md, y->rank, y->dims, ms);
        bcast_strides(res->rank, res->dims, y->rank, y->dims, rs);
        cu_ew_binary(x->stream, CU_BIN_ADD, y->rank, y->dims, ms, rs, mm, res->data, y->data, act.n ? &act : NULL);
        return cu_launched(c->node, "adding the residual");
    }
    if (act.n) {
        cu_ew_unary(x->stream, &act, y->data, y->data, tt_tensor_numel(y));
        return cu_launched(c->node, "applying the activation");
    }
    return TT_OK;
}

#define FLOAT TT_DT(TETHER_DTYPE_FLOAT)

const tt_kernel cu_kernels_blas[] = {
    TT_KERNEL("Gemm", 1, 0, FLOAT, run_gemm, .supports = gemm_supports, .prepare = gemm_prepare,
              .release = gemm_release),
    TT_KERNEL("MatMul", 1, 0, FLOAT, run_matmul, .supports = matmul_supports, .prepare = gemm_prepare,
              .release = gemm_release),
    {.domain = TT_DOMAIN, .name = "FusedMatMul", .since = 1, .until = 0, .dtypes = FLOAT, .run = run_fused_mm,
     .supports = fmm_supports, .prepare = gemm_prepare, .release = gemm_release},
    TT_KERNEL_END,
};
