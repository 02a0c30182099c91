/* Data movement on the cpu backend: Slice with constant bounds and unit steps, and Transpose
 * keeping the last axis in place, as rows of contiguous bytes copied with memcpy and split
 * over the thread pool (transformer exports move Q, K and V this way in every layer).
 * Strings, other steps and other permutations are left to the reference kernels. */
#include "backends/cpu/cpu.h"

/* rows of `row` bytes: dst row i from src + off[i] */
typedef struct rows_job {
    char *dst;
    const char *src;
    size_t row;
    int rank;                         /* of the row index */
    int64_t dims[TT_MAX_RANK], stride[TT_MAX_RANK]; /* row index dims; source byte strides */
    int64_t base;                     /* byte offset of row 0 in src */
} rows_job;

static void copy_rows(void *arg, int64_t r0, int64_t r1)
{
    const rows_job *j = arg;
    int64_t idx[TT_MAX_RANK], off = j->base, rem = r0;
    for (int d = j->rank - 1; d >= 0; d--) {
        idx[d] = rem % j->dims[d];
        rem /= j->dims[d];
        off += idx[d] * j->stride[d];
    }
    for (int64_t r = r0; r < r1; r++) {
        memcpy(j->dst + (size_t)r * j->row, j->src + off, j->row);
        for (int d = j->rank - 1; d >= 0; d--) {
            off += j->stride[d];
            if (++idx[d] < j->dims[d])
                break;
            off -= j->stride[d] * j->dims[d];
            idx[d] = 0;
        }
    }
}

static void run_rows(rows_job *j, int64_t rows)
{
    if (!rows || !j->row)
        return;
    int64_t grain = j->row >= 65536 ? 1 : (int64_t)(65536 / j->row);
    tt_parallel_for(rows, grain, copy_rows, j);
}

/* ---- Slice ----------------------------------------------------------------------------------- */

static bool slice_supports(const tt_kprep *p)
{
    const tt_type *x = tt_cpu_ranked(p, 0);
    if (!x || x->dtype == TETHER_DTYPE_STRING || p->node->opset < 10 || x->rank == 0)
        return false;
    for (int i = 1; i < 5 && i < p->n_in; i++) {
        if (!p->in[i])
            continue;
        const tt_tensor *t = p->cst[i];
        if (!t || t->rank != 1 || (t->dtype != TETHER_DTYPE_INT64 && t->dtype != TETHER_DTYPE_INT32) ||
            t->dims[0] > x->rank)
            return false;
        if (i == 4)
            for (int64_t k = 0; k < t->dims[0]; k++)
                if (tt_load_i64(t->data, t->dtype, (size_t)k) != 1)
                    return false;
    }
    return p->in[1] && p->n_in > 2 && p->in[2] && p->cst[1]->dims[0] == p->cst[2]->dims[0];
}

static tt_status run_slice(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *st = tt_kin(c, 1), *ax = tt_kin(c, 3);
    tt_tensor *y = tt_kout(c, 0);
    int r = x->rank;
    int64_t start[TT_MAX_RANK] = {0};
    bool sliced[TT_MAX_RANK] = {false};
    for (int64_t k = 0; k < st->dims[0]; k++) {
        int64_t a = ax ? tt_load_i64(ax->data, ax->dtype, (size_t)k) : k;
        if (a < -r || a >= r)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "axis %lld is out of range", (long long)a);
        a = a < 0 ? a + r : a;
        int64_t s = tt_load_i64(st->data, st->dtype, (size_t)k), n = x->dims[a];
        s = s < 0 ? s + n : s;
        start[a] = s < 0 ? 0 : s > n ? n : s;
        sliced[a] = true;
    }
    /* rows: the output's trailing dims that are whole in x make one contiguous copy */
    size_t es = tt_dtype_size(x->dtype);
    int last = r - 1;
    while (last > 0 && !sliced[last] && y->dims[last] == x->dims[last])
        last--;
    size_t row = es;
    for (int d = last; d < r; d++)
        row *= (size_t)y->dims[d];
    rows_job j = {.dst = y->data, .src = x->data, .row = row, .rank = last};
    int64_t xs[TT_MAX_RANK], s = (int64_t)es;
    for (int d = r - 1; d >= 0; d--) {
        xs[d] = s;
        s *= x->dims[d];
    }
    for (int d = 0; d < r; d++)
        j.base += start[d] * xs[d];
    int64_t rows = 1;
    for (int d = 0; d < last; d++) {
        j.dims[d] = y->dims[d];
        j.stride[d] = xs[d];
        rows *= y->dims[d];
    }
    if (tt_tensor_numel(y))
        run_rows(&j, rows);
    return TT_OK;
}

/* ---- Transpose -------------------------------------------------------------------------------- */

static bool tr_perm(const tt_node *n, int rank, int64_t *perm)
{
    size_t len = 0;
    const int64_t *p = tt_attr_ints(n, "perm", &len);
    if (!p)
        return false; /* the default reverses every axis: the last moves */
    if ((int)len != rank)
        return false;
    memcpy(perm, p, sizeof(int64_t) * len);
    return true;
}

static bool tr_supports(const tt_kprep *p)
{
    const tt_type *x = tt_cpu_ranked(p, 0);
    int64_t perm[TT_MAX_RANK];
    return x && x->rank >= 2 && x->dtype != TETHER_DTYPE_STRING && tr_perm(p->node, x->rank, perm) &&
           perm[x->rank - 1] == x->rank - 1;
}

static tt_status run_transpose(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int r = x->rank;
    int64_t perm[TT_MAX_RANK];
    if (!tr_perm(c->node, r, perm) || perm[r - 1] != r - 1)
        return tt_op_error(c->node, TETHER_ERR_INTERNAL, "the permutation moves the last axis");
    size_t es = tt_dtype_size(x->dtype);
    int64_t xs[TT_MAX_RANK], s = (int64_t)es;
    for (int d = r - 1; d >= 0; d--) {
        xs[d] = s;
        s *= x->dims[d];
    }
    rows_job j = {.dst = y->data, .src = x->data, .row = es * (size_t)x->dims[r - 1], .rank = r - 1};
    int64_t rows = 1;
    for (int d = 0; d < r - 1; d++) {
        j.dims[d] = y->dims[d];
        j.stride[d] = xs[perm[d]];
        rows *= y->dims[d];
    }
    if (tt_tensor_numel(y))
        run_rows(&j, rows);
    return TT_OK;
}

const tt_kernel tt_cpu_shape[] = {
    TT_KERNEL("Slice", 10, 0, 0, run_slice, .supports = slice_supports),
    TT_KERNEL("Transpose", 1, 0, 0, run_transpose, .supports = tr_supports),
    TT_KERNEL_END,
};
