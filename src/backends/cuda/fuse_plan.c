/* The host-side decisions of the CUDA kernels for tether's fused ops (see fuse_plan.h). Calls
 * nothing of libtether's: the plugin links it. */
#include "fuse_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool why_not(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool why_not(char *why, size_t n, const char *fmt, ...)
{
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static const char *const g_operand[3] = {"Q", "K", "V"};

/* Logical dim d of operand i is its input's dim perm[d] (identity without a perm). */
static int perm_at(const tt_fused_attn *a, int i, int d) { return a->n_perm[i] ? a->perm[i][d] : d; }

bool cu_attn_fits(const tt_fused_attn *a, const tt_type *const in[4], char *why, size_t why_len)
{
    int r = -1;
    for (int i = 0; i < 3; i++) {
        const tt_type *t = in[i];
        if (!t || t->kind != TT_KIND_TENSOR || t->dtype != TETHER_DTYPE_FLOAT)
            return why_not(why, why_len, "%s is not a float tensor", g_operand[i]);
        if (t->rank < 0)
            return why_not(why, why_len, "%s has no known rank", g_operand[i]);
        if (r >= 0 && t->rank != r)
            return why_not(why, why_len, "Q, K and V have different ranks");
        r = t->rank;
        if (a->n_perm[i] && a->n_perm[i] != r)
            return why_not(why, why_len, "%s's perm does not match its rank", g_operand[i]);
    }
    if (r < 2 || r > CU_ATTN_RANK_MAX)
        return why_not(why, why_len, "rank %d: the kernel takes ranks 2 to %d", r, CU_ATTN_RANK_MAX);
    if (a->n_perm[3] && a->n_perm[3] != r)
        return why_not(why, why_len, "out_perm does not match rank %d", r);
    int64_t d = in[0]->dims[perm_at(a, 0, r - 1)], dv = in[2]->dims[perm_at(a, 2, r - 1)];
    if (d < 0 || dv < 0)
        return why_not(why, why_len, "the head dims are not known at open");
    if (d > CU_ATTN_HEAD_DIM_MAX || dv > CU_ATTN_HEAD_DIM_MAX)
        return why_not(why, why_len, "head dims %lld and %lld: the kernel holds at most %d", (long long)d,
                       (long long)dv, CU_ATTN_HEAD_DIM_MAX);
    const tt_type *m = in[3];
    if (m) {
        if (m->kind != TT_KIND_TENSOR || m->dtype != TETHER_DTYPE_FLOAT)
            return why_not(why, why_len, "the mask is not a float tensor");
        if (m->rank < 0 || m->rank > r)
            return why_not(why, why_len, "the mask's rank is unknown or above the scores'");
    }
    return true;
}

bool cu_attn_shape_make(const tt_fused_attn *a, int r, const int64_t *const dims[3], int mask_rank,
                        const int64_t *mask_dims, const int64_t *out_dims, cu_attn_shape *s, char *why,
                        size_t why_len)
{
    memset(s, 0, sizeof *s);
    if (r < 2 || r > CU_ATTN_RANK_MAX)
        return why_not(why, why_len, "rank %d: the kernel takes ranks 2 to %d", r, CU_ATTN_RANK_MAX);
    /* each operand's logical dims and strides: logical dim d is input dim perm[d] */
    int64_t ld[3][CU_ATTN_RANK_MAX], ls[3][CU_ATTN_RANK_MAX];
    for (int i = 0; i < 3; i++) {
        if (a->n_perm[i] && a->n_perm[i] != r)
            return why_not(why, why_len, "%s's perm does not match its rank", g_operand[i]);
        int64_t st[CU_ATTN_RANK_MAX], acc = 1;
        for (int d = r - 1; d >= 0; d--) {
            st[d] = acc;
            acc *= dims[i][d] > 0 ? dims[i][d] : 1;
        }
        for (int d = 0; d < r; d++) {
            ld[i][d] = dims[i][perm_at(a, i, d)];
            ls[i][d] = st[perm_at(a, i, d)];
        }
    }
    /* batch dims broadcast; an operand's dim of 1 repeats */
    int nb = r - 2;
    int64_t bd[2] = {1, 1};
    for (int d = 0; d < nb; d++) {
        int64_t n = 1;
        for (int i = 0; i < 3; i++) {
            if (ld[i][d] != 1 && n != 1 && ld[i][d] != n)
                return why_not(why, why_len, "Q, K and V batch dims do not broadcast");
            if (ld[i][d] != 1)
                n = ld[i][d];
        }
        bd[d] = n;
        for (int i = 0; i < 3; i++)
            if (ld[i][d] == 1)
                ls[i][d] = 0;
    }
    s->lq = ld[0][r - 2];
    s->d = ld[0][r - 1];
    s->lk = ld[1][r - 2];
    s->dv = ld[2][r - 1];
    if (ld[1][r - 1] != s->d || ld[2][r - 2] != s->lk)
        return why_not(why, why_len, "Q, K and V do not fit");
    if (s->d > CU_ATTN_HEAD_DIM_MAX || s->dv > CU_ATTN_HEAD_DIM_MAX)
        return why_not(why, why_len, "head dims %lld and %lld: the kernel holds at most %d", (long long)s->d,
                       (long long)s->dv, CU_ATTN_HEAD_DIM_MAX);
    /* the output: physical dim k is logical dim out_perm[k] */
    int64_t logical[CU_ATTN_RANK_MAX], os[CU_ATTN_RANK_MAX], acc = 1;
    for (int d = 0; d < nb; d++)
        logical[d] = bd[d];
    logical[r - 2] = s->lq;
    logical[r - 1] = s->dv;
    if (a->n_perm[3] && a->n_perm[3] != r)
        return why_not(why, why_len, "out_perm does not match rank %d", r);
    for (int k = r - 1; k >= 0; k--) {
        int ld_k = a->n_perm[3] ? a->perm[3][k] : k;
        if (out_dims[k] != logical[ld_k])
            return why_not(why, why_len, "the output's dim %d is %lld, not %lld", k, (long long)out_dims[k],
                           (long long)logical[ld_k]);
        os[ld_k] = acc;
        acc *= out_dims[k];
    }
    /* the mask, broadcast to [batch..., lq, lk] */
    int64_t ms[CU_ATTN_RANK_MAX] = {0};
    if (mask_dims) {
        if (mask_rank > r || mask_rank < 0)
            return why_not(why, why_len, "the mask has rank %d over scores of rank %d", mask_rank, r);
        int64_t sd[CU_ATTN_RANK_MAX];
        for (int d = 0; d < nb; d++)
            sd[d] = bd[d];
        sd[r - 2] = s->lq;
        sd[r - 1] = s->lk;
        int64_t m = 1;
        for (int d = r - 1; d >= 0; d--) {
            int md = d - (r - mask_rank);
            int64_t n = md >= 0 ? mask_dims[md] : 1;
            if (n != 1 && n != sd[d])
                return why_not(why, why_len, "the mask does not broadcast to the scores");
            ms[d] = n == 1 ? 0 : m;
            m *= n;
        }
        s->has_mask = true;
    }
    /* into the kernel's [b, h, row, col]: the batch dims right-aligned, missing ones of size 1 */
    int64_t *dst[5] = {s->qs, s->ks, s->vs, s->os, s->ms};
    const int64_t *src[5] = {ls[0], ls[1], ls[2], os, ms};
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 4; k++) {
            int d = k - (4 - r);
            dst[i][k] = d >= 0 ? src[i][d] : 0;
        }
    }
    s->b = nb == 2 ? bd[0] : 1;
    s->h = nb == 2 ? bd[1] : nb == 1 ? bd[0] : 1;
    return true;
}

void cu_fmm_plan_make(const tt_fused_mm *f, bool has_bias, bool has_res, bool res_direct, bool k_zero,
                      bool lt_epilogues, cu_fmm_plan *p)
{
    memset(p, 0, sizeof *p);
    p->ew_act = f->act;
    if (k_zero) {
        /* no product to run: zeros, then everything elementwise */
        p->zero_product = true;
        p->ew_bias = has_bias;
        p->ew_residual = has_res;
        return;
    }
    p->lt_bias = has_bias && lt_epilogues;
    p->ew_bias = has_bias && !lt_epilogues;
    if (has_res) {
        /* C takes a residual of D's shape; one that broadcasts is added after */
        p->lt_residual = res_direct;
        p->ew_residual = !res_direct;
        return;
    }
    if (lt_epilogues && (f->act == TT_ACT_ID_RELU || f->act == TT_ACT_ID_GELU_TANH)) {
        p->lt_act = f->act == TT_ACT_ID_RELU ? CU_LT_ACT_RELU : CU_LT_ACT_GELU_TANH;
        p->ew_act = TT_ACT_ID_NONE;
    }
}
