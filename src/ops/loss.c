/* Classification losses: NegativeLogLikelihoodLoss over log-probabilities and
 * SoftmaxCrossEntropyLoss over scores (log-softmax, then the same loss). Inputs are
 * [N, C, d1, ..., dk] with labels [N, d1, ..., dk]; every label is checked against [0, C)
 * unless it is the ignore_index. Sums are taken in double. */
#include "ops/util.h"

#include <inttypes.h>

typedef enum loss_reduction { RED_NONE, RED_SUM, RED_MEAN } loss_reduction;

static tt_status loss_reduction_attr(const tt_node *node, loss_reduction *r)
{
    const char *s = tt_attr_string(node, "reduction", "mean");
    if (strcmp(s, "none") == 0)
        *r = RED_NONE;
    else if (strcmp(s, "sum") == 0)
        *r = RED_SUM;
    else if (strcmp(s, "mean") == 0)
        *r = RED_MEAN;
    else
        return tt_op_error(node, TETHER_ERR_INVALID_MODEL, "reduction '%s' is not one of none, sum, mean", s);
    return TT_OK;
}

static tt_status infer_loss(tt_ictx *c)
{
    const tt_type *x, *t;
    loss_reduction r;
    TT_TRY(tt_need_input(c, 0, &x));
    TT_TRY(tt_need_input(c, 1, &t));
    TT_TRY(loss_reduction_attr(c->node, &r));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64)));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    if (x->rank >= 0 && x->rank < 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "the input must be [N, C, ...], got rank %d", x->rank);
    if (r != RED_NONE) {
        tt_infer_tensor(c, 0, x->dtype, 0, NULL);
    } else if (t && t->rank >= 0) {
        tt_infer_tensor(c, 0, x->dtype, t->rank, t->dims);
    } else if (x->rank >= 0) {
        int64_t dims[TT_MAX_RANK];
        dims[0] = x->dims[0];
        memcpy(dims + 1, x->dims + 2, sizeof(int64_t) * (size_t)(x->rank - 2));
        tt_infer_tensor(c, 0, x->dtype, x->rank - 1, dims);
    } else {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
    }
    if (c->n_out > 1) /* SoftmaxCrossEntropyLoss: log_prob */
        tt_infer_tensor(c, 1, x->dtype, x->rank, x->dims);
    return TT_OK;
}

/* The loss over log-probabilities lp ([N, C, D] in its dtype) for the labels, into output 0
 * (when the model takes it: the labels are checked either way). */
static tt_status nll(tt_kctx *c, const void *lp, tt_dtype lpt)
{
    const tt_tensor *x = tt_kin(c, 0), *target = tt_kin(c, 1), *weight = tt_kin(c, 2);
    tt_tensor *y = tt_kout(c, 0);
    loss_reduction red;
    TT_TRY(loss_reduction_attr(c->node, &red));
    int64_t N = x->dims[0], C = x->dims[1], D = tt_dims_prod(x->dims, 2, x->rank);
    bool shape_ok = target->rank == x->rank - 1 && target->dims[0] == N;
    for (int d = 1; shape_ok && d < target->rank; d++)
        shape_ok = target->dims[d] == x->dims[d + 1];
    if (!shape_ok) {
        char a[160], b[160];
        return tt_op_error(c->node, TETHER_ERR_SHAPE,
                           "labels %s do not fit input %s (labels are the input's shape without C)",
                           tt_dims_str(target->rank, target->dims, a, 160), tt_dims_str(x->rank, x->dims, b, 160));
    }
    if (weight && (weight->rank != 1 || weight->dims[0] != C))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "weight must have shape [%" PRId64 "]", C);
    const tt_attr *ii_attr = tt_node_attr(c->node, "ignore_index");
    int64_t ii = ii_attr ? ii_attr->i : 0;
    double sum = 0, wsum = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t pos = n * D + d, label = tt_load_i64(target->data, target->dtype, (size_t)pos);
            double loss = 0, w = 0;
            if (!ii_attr || label != ii) {
                if (label < 0 || label >= C)
                    return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                                       "label %" PRId64 " at position %" PRId64 " is out of range [0, %" PRId64 ")%s",
                                       label, pos, C, ii_attr ? " and is not the ignore_index" : "");
                w = weight ? tt_load_f64(weight->data, weight->dtype, (size_t)label) : 1.0;
                loss = -tt_load_f64(lp, lpt, (size_t)((n * C + label) * D + d)) * w;
            }
            if (y && red == RED_NONE)
                tt_store_f64(y->data, y->dtype, (size_t)pos, loss);
            sum += loss;
            wsum += w;
        }
    if (y && red == RED_SUM)
        tt_store_f64(y->data, y->dtype, 0, sum);
    else if (y && red == RED_MEAN) /* no counted label: 0 / 0, NaN as in PyTorch */
        tt_store_f64(y->data, y->dtype, 0, sum / wsum);
    return TT_OK;
}

static tt_status run_nll(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    return nll(c, x->data, x->dtype);
}

/* ---- SoftmaxCrossEntropyLoss ------------------------------------------------------------- */

typedef struct lsm_job {
    double *v; /* [N, C, D]: scores in, log-probabilities out */
    int64_t C, D;
} lsm_job;

/* Log-softmax over C for every (n, d); the max is subtracted first so nothing overflows. */
static void lsm_range(void *arg, int64_t b, int64_t e)
{
    const lsm_job *j = arg;
    int64_t C = j->C, D = j->D;
    for (int64_t t = b; t < e; t++) {
        double *v = j->v + (t / D) * C * D + t % D;
        double m = -INFINITY, s = 0;
        for (int64_t k = 0; k < C; k++)
            m = v[k * D] > m ? v[k * D] : m;
        for (int64_t k = 0; k < C; k++)
            s += exp(v[k * D] - m);
        double ls = m + log(s);
        for (int64_t k = 0; k < C; k++)
            v[k * D] -= ls;
    }
}

static tt_status run_sce(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    int64_t total = tt_tensor_numel(x), C = x->dims[1], D = tt_dims_prod(x->dims, 2, x->rank);
    double *lp = tt_malloc_aligned((size_t)total * sizeof *lp);
    if (!lp)
        return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < total; i++)
        lp[i] = tt_load_f64(x->data, x->dtype, (size_t)i);
    lsm_job j = {.v = lp, .C = C, .D = D};
    if (C > 0)
        tt_parallel_for(x->dims[0] * D, 32768 / (C + 1) + 1, lsm_range, &j);
    tt_status s = nll(c, lp, TETHER_DTYPE_DOUBLE);
    tt_tensor *out = tt_kout(c, 1);
    for (int64_t i = 0; s == TT_OK && out && i < total; i++)
        tt_store_f64(out->data, out->dtype, (size_t)i, lp[i]);
    tt_free_aligned(lp);
    return s;
}

const tt_op_schema tt_schemas_loss[] = {
    TT_SCHEMA("NegativeLogLikelihoodLoss", 12, 0, infer_loss),
    TT_SCHEMA("SoftmaxCrossEntropyLoss", 12, 0, infer_loss),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_loss[] = {
    TT_KERNEL("NegativeLogLikelihoodLoss", 12, 0, TT_DTS_FLOAT, run_nll),
    TT_KERNEL("SoftmaxCrossEntropyLoss", 12, 0, TT_DTS_FLOAT, run_sce),
    TT_KERNEL_END,
};
