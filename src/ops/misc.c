/* Detection post-processing: NonMaxSuppression, greedy per batch and per class, boxes as
 * corner pairs or center/size. Its output size depends on the data, so the kernel allocates
 * it once the selection is known. */
#include "ops/util.h"

#include <inttypes.h>
#include <stdlib.h>

typedef struct nms_box {
    float y1, x1, y2, x2, area; /* corners ordered so that y1 <= y2 and x1 <= x2 */
} nms_box;

typedef struct nms_cand {
    float score;
    int64_t box;
} nms_cand;

/* Higher scores first; equal scores keep the lower box index first, so ties select the
 * box the model lists first. */
static int cand_cmp(const void *pa, const void *pb)
{
    const nms_cand *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->box > b->box) - (a->box < b->box);
}

static nms_box make_box(const float *d, bool center)
{
    nms_box b;
    if (center) {
        float hw = d[2] / 2, hh = d[3] / 2;
        b.x1 = d[0] - hw, b.x2 = d[0] + hw;
        b.y1 = d[1] - hh, b.y2 = d[1] + hh;
    } else {
        b.y1 = fminf(d[0], d[2]), b.y2 = fmaxf(d[0], d[2]);
        b.x1 = fminf(d[1], d[3]), b.x2 = fmaxf(d[1], d[3]);
    }
    b.area = (b.x2 - b.x1) * (b.y2 - b.y1);
    return b;
}

/* Whether b overlaps a by more than thr (intersection over union). Empty boxes never do. */
static bool overlaps(const nms_box *a, const nms_box *b, float thr)
{
    float w = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1), h = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
    if (!(w > 0 && h > 0) || !(a->area > 0 && b->area > 0))
        return false;
    float inter = w * h, uni = a->area + b->area - inter;
    return uni > 0 && inter / uni > thr;
}

typedef struct nms_params {
    int64_t max_out;
    float iou, score;
    bool has_score;
} nms_params;

static tt_status nms_shapes(const tt_node *n, const tt_type *bx, const tt_type *sc)
{
    if ((bx->rank >= 0 && bx->rank != 3) || (sc->rank >= 0 && sc->rank != 3))
        return tt_op_error(n, TETHER_ERR_SHAPE,
                           "boxes must be [batches, boxes, 4] and scores [batches, classes, boxes]");
    if (bx->rank == 3 && bx->dims[2] >= 0 && bx->dims[2] != 4)
        return tt_op_error(n, TETHER_ERR_SHAPE, "boxes must have 4 coordinates each, got %" PRId64, bx->dims[2]);
    if (bx->rank == 3 && sc->rank == 3) {
        if (bx->dims[0] >= 0 && sc->dims[0] >= 0 && bx->dims[0] != sc->dims[0])
            return tt_op_error(n, TETHER_ERR_SHAPE, "boxes have %" PRId64 " batches but scores %" PRId64, bx->dims[0],
                               sc->dims[0]);
        if (bx->dims[1] >= 0 && sc->dims[2] >= 0 && bx->dims[1] != sc->dims[2])
            return tt_op_error(n, TETHER_ERR_SHAPE, "there are %" PRId64 " boxes but %" PRId64 " scores per class",
                               bx->dims[1], sc->dims[2]);
    }
    return TT_OK;
}

static tt_status nms_attrs(const tt_node *n)
{
    int64_t cpb = tt_attr_int(n, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "center_point_box must be 0 or 1, got %" PRId64, cpb);
    return TT_OK;
}

static tt_status infer_nms(tt_ictx *c)
{
    TT_TRY(nms_attrs(c->node));
    for (int i = 0; i < 5; i++)
        TT_TRY(tt_infer_check_dtype(c, i, i == 2 ? TT_DT(TETHER_DTYPE_INT64) : TT_DT(TETHER_DTYPE_FLOAT)));
    TT_TRY(nms_shapes(c->node, tt_iin(c, 0), tt_iin(c, 1)));
    int64_t dims[2] = {TT_DIM_UNKNOWN, 3};
    tt_infer_tensor(c, 0, TETHER_DTYPE_INT64, 2, dims);
    return TT_OK;
}

static tt_status scalar_input(const tt_kctx *c, int i, const char *what, const tt_tensor **t)
{
    *t = tt_kin(c, i);
    if (*t && tt_tensor_numel(*t) != 1)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "%s must hold one value, got %" PRId64, what,
                           tt_tensor_numel(*t));
    return TT_OK;
}

static tt_status nms_read_params(const tt_kctx *c, nms_params *p)
{
    const tt_tensor *m, *iou, *score;
    TT_TRY(scalar_input(c, 2, "max_output_boxes_per_class", &m));
    TT_TRY(scalar_input(c, 3, "iou_threshold", &iou));
    TT_TRY(scalar_input(c, 4, "score_threshold", &score));
    p->max_out = m ? *(const int64_t *)m->data : 0;
    if (p->max_out < 0)
        p->max_out = 0;
    p->iou = iou ? *(const float *)iou->data : 0.0f;
    if (!(p->iou >= 0.0f && p->iou <= 1.0f))
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "iou_threshold must be in [0, 1], got %g", (double)p->iou);
    p->has_score = score != NULL;
    p->score = score ? *(const float *)score->data : 0.0f;
    return TT_OK;
}

/* A growing list of (batch, class, box) triples. */
typedef struct triples {
    int64_t *v;
    int64_t n, cap;
} triples;

static bool triples_push(triples *t, int64_t b, int64_t c, int64_t box)
{
    if (t->n == t->cap) {
        int64_t cap = t->cap ? t->cap * 2 : 64;
        int64_t *v = tt_realloc(t->v, (size_t)cap * 3 * sizeof *v);
        if (!v)
            return false;
        t->v = v;
        t->cap = cap;
    }
    t->v[3 * t->n] = b, t->v[3 * t->n + 1] = c, t->v[3 * t->n + 2] = box;
    t->n++;
    return true;
}

static tt_status run_nms(tt_kctx *c)
{
    const tt_tensor *bt = tt_kin(c, 0), *st = tt_kin(c, 1);
    tt_type bty, sty;
    tt_type_tensor(&bty, bt->dtype, bt->rank, bt->dims);
    tt_type_tensor(&sty, st->dtype, st->rank, st->dims);
    TT_TRY(nms_shapes(c->node, &bty, &sty));
    nms_params p = {0};
    TT_TRY(nms_read_params(c, &p));
    bool center = tt_attr_int(c->node, "center_point_box", 0) != 0;
    int64_t B = st->dims[0], C = st->dims[1], S = st->dims[2];
    int64_t keep_max = p.max_out < S ? p.max_out : S;
    const float *boxes = bt->data, *scores = st->data;

    nms_box *nb = tt_malloc((size_t)(S ? S : 1) * sizeof *nb);
    nms_cand *cand = tt_malloc((size_t)(S ? S : 1) * sizeof *cand);
    int64_t *kept = tt_malloc((size_t)(keep_max ? keep_max : 1) * sizeof *kept);
    triples out = {0};
    tt_tensor *y = NULL;
    tt_status s = TT_OK;
    if (!nb || !cand || !kept) {
        s = tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory for %" PRId64 " boxes", S);
        goto done;
    }
    for (int64_t b = 0; b < B && keep_max > 0; b++) {
        for (int64_t i = 0; i < S; i++)
            nb[i] = make_box(boxes + (b * S + i) * 4, center);
        for (int64_t k = 0; k < C; k++) {
            const float *sc = scores + (b * C + k) * S;
            int64_t nc = 0, nk = 0;
            for (int64_t i = 0; i < S; i++) {
                /* NaN scores cannot be ranked: they are never selected */
                if (isnan(sc[i]) || (p.has_score && !(sc[i] > p.score)))
                    continue;
                cand[nc++] = (nms_cand){sc[i], i};
            }
            qsort(cand, (size_t)nc, sizeof *cand, cand_cmp);
            for (int64_t i = 0; i < nc && nk < keep_max; i++) {
                /* kept boxes times candidates: quadratic in the boxes, so the run's limit is
                 * checked as it goes */
                if ((i & 255) == 0 && (s = tt_kctx_check(c)) != TT_OK)
                    goto done;
                const nms_box *bx = &nb[cand[i].box];
                bool suppressed = false;
                for (int64_t j = 0; j < nk && !suppressed; j++)
                    suppressed = overlaps(&nb[kept[j]], bx, p.iou);
                if (suppressed)
                    continue;
                kept[nk++] = cand[i].box;
                if (!triples_push(&out, b, k, cand[i].box)) {
                    s = tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory for the selected boxes");
                    goto done;
                }
            }
        }
    }
    s = tt_kctx_alloc(c, 0, TETHER_DTYPE_INT64, 2, (int64_t[]){out.n, 3}, &y);
    if (s == TT_OK && out.n)
        memcpy(y->data, out.v, (size_t)out.n * 3 * sizeof *out.v);
done:
    tt_free(nb);
    tt_free(cand);
    tt_free(kept);
    tt_free(out.v);
    return s;
}

static uint64_t flops_nms(const tt_ictx *c)
{
    const tt_type *sc = tt_iin(c, 1);
    if (!sc || !tt_type_static(sc) || sc->rank != 3)
        return 0;
    /* sorting plus the overlap tests, about S log S + S * kept per class */
    uint64_t S = (uint64_t)sc->dims[2], lg = 1;
    while (((uint64_t)1 << lg) < S && lg < 62)
        lg++;
    return (uint64_t)(sc->dims[0] * sc->dims[1]) * S * (lg + 8);
}

const tt_op_schema tt_schemas_misc[] = {
    TT_SCHEMA("NonMaxSuppression", 10, 0, infer_nms, .flops = flops_nms),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_misc[] = {
    TT_KERNEL("NonMaxSuppression", 10, 0, TT_DT(TETHER_DTYPE_FLOAT), run_nms),
    TT_KERNEL_END,
};
