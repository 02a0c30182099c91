/* Image-shaped ops added since opset 18: CenterCropPad (18), Col2Im (18), AffineGrid (20)
 * and DeformConv (19, two spatial dims). Reference kernels in double. */
#include "ops/util.h"

#include <inttypes.h>

/* ---- CenterCropPad ------------------------------------------------------------------------ */

/* The target size of each dim (the input's where 'shape' does not name the axis). */
static tt_status crop_dims(const tt_node *n, int rank, const int64_t *in, const tt_tensor *shape, int64_t *out)
{
    int64_t sz[TT_MAX_RANK], ns;
    TT_TRY(tt_tensor_to_ints(n, shape, sz, TT_MAX_RANK, &ns));
    size_t na = 0;
    const int64_t *ax = tt_attr_ints(n, "axes", &na);
    int axes[TT_MAX_RANK];
    if (ax) {
        if (na > TT_MAX_RANK)
            return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "axes has %zu entries", na);
        TT_TRY(tt_norm_axes(n, ax, (int64_t)na, rank, axes));
    } else {
        na = (size_t)rank;
        for (int i = 0; i < rank; i++)
            axes[i] = i;
    }
    if (ns != (int64_t)na)
        return tt_op_error(n, TETHER_ERR_SHAPE, "shape has %" PRId64 " entries for %zu axes", ns, na);
    for (int i = 0; i < rank; i++)
        out[i] = in[i];
    for (size_t k = 0; k < na; k++) {
        if (sz[k] < 0)
            return tt_op_error(n, TETHER_ERR_SHAPE, "shape[%zu] is %" PRId64, k, sz[k]);
        out[axes[k]] = sz[k];
    }
    return TT_OK;
}

static tt_status infer_center_crop_pad(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64)));
    const tt_tensor *shape = tt_ival(c, 1);
    if (x->rank < 0 || !shape) {
        tt_infer_tensor(c, 0, x->dtype, x->rank, NULL);
        return TT_OK;
    }
    int64_t out[TT_MAX_RANK];
    TT_TRY(crop_dims(c->node, x->rank, x->dims, shape, out));
    TT_TRY(tt_check_size(c->node, x->dtype, x->rank, out, "the output"));
    tt_infer_tensor(c, 0, x->dtype, x->rank, out);
    return TT_OK;
}

static tt_status run_center_crop_pad(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int r = x->rank;
    /* output o reads input o + shift (crop: shift > 0; pad: shift < 0, zero outside) */
    int64_t shift[TT_MAX_RANK], xs[TT_MAX_RANK], pos[TT_MAX_RANK] = {0};
    for (int d = 0; d < r; d++) {
        int64_t diff = x->dims[d] - y->dims[d];
        shift[d] = diff >= 0 ? diff / 2 : -((-diff) / 2);
    }
    tt_strides(r, x->dims, xs);
    size_t es = tt_dtype_size(x->dtype);
    bool str = x->dtype == TETHER_DTYPE_STRING;
    int64_t n = tt_tensor_numel(y);
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        bool inside = true;
        for (int d = 0; d < r; d++) {
            int64_t s = pos[d] + shift[d];
            inside &= s >= 0 && s < x->dims[d];
            off += s * xs[d];
        }
        if (str) {
            const char *v = inside ? ((char *const *)x->data)[off] : "";
            TT_TRY(tt_tensor_set_string(y, i, v ? v : "", v ? strlen(v) : 0));
        } else if (inside) {
            memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)off * es, es);
        } else {
            memset((char *)y->data + (size_t)i * es, 0, es);
        }
        for (int d = r - 1; d >= 0; d--) {
            if (++pos[d] < y->dims[d])
                break;
            pos[d] = 0;
        }
    }
    return TT_OK;
}

/* ---- Col2Im ------------------------------------------------------------------------------- */

#define COL_MAX_DIMS 8

typedef struct col_geom {
    int nd;
    int64_t img[COL_MAX_DIMS], blk[COL_MAX_DIMS], stride[COL_MAX_DIMS], dil[COL_MAX_DIMS], pad[2 * COL_MAX_DIMS];
    int64_t nblk[COL_MAX_DIMS]; /* sliding positions along each dim */
} col_geom;

static tt_status col_geometry(const tt_node *n, const tt_tensor *img, const tt_tensor *blk, col_geom *g)
{
    int64_t ni, nb;
    TT_TRY(tt_tensor_to_ints(n, img, g->img, COL_MAX_DIMS, &ni));
    TT_TRY(tt_tensor_to_ints(n, blk, g->blk, COL_MAX_DIMS, &nb));
    if (ni != nb || ni < 1)
        return tt_op_error(n, TETHER_ERR_SHAPE, "image_shape (%" PRId64 ") and block_shape (%" PRId64
                           ") must have the same, positive length", ni, nb);
    g->nd = (int)ni;
    size_t ls = 0, ld = 0, lp = 0;
    const int64_t *st = tt_attr_ints(n, "strides", &ls), *di = tt_attr_ints(n, "dilations", &ld),
                  *pa = tt_attr_ints(n, "pads", &lp);
    if ((st && ls != (size_t)ni) || (di && ld != (size_t)ni) || (pa && lp != 2 * (size_t)ni))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "strides, dilations and pads must match %d spatial dims",
                           g->nd);
    for (int d = 0; d < g->nd; d++) {
        g->stride[d] = st ? st[d] : 1;
        g->dil[d] = di ? di[d] : 1;
        g->pad[d] = pa ? pa[d] : 0;
        g->pad[g->nd + d] = pa ? pa[g->nd + d] : 0;
        if (g->stride[d] <= 0 || g->dil[d] <= 0 || g->pad[d] < 0 || g->pad[g->nd + d] < 0 || g->img[d] <= 0 ||
            g->blk[d] <= 0)
            return tt_op_error(n, TETHER_ERR_SHAPE, "sizes, strides and dilations must be positive, pads >= 0");
        int64_t span = g->dil[d] * (g->blk[d] - 1) + 1, full = g->img[d] + g->pad[d] + g->pad[g->nd + d];
        g->nblk[d] = full >= span ? (full - span) / g->stride[d] + 1 : 0;
        if (g->nblk[d] < 1)
            return tt_op_error(n, TETHER_ERR_SHAPE, "the block does not fit the padded image along dim %d", d);
    }
    return TT_OK;
}

static tt_status infer_col2im(tt_ictx *c)
{
    const tt_type *x;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT64)));
    TT_TRY(tt_infer_check_dtype(c, 2, TT_DT(TETHER_DTYPE_INT64)));
    if (x->rank >= 0 && x->rank != 3)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input must be 3-D (N, C * block size, L), got rank %d",
                           x->rank);
    const tt_tensor *img = tt_ival(c, 1), *blk = tt_ival(c, 2);
    if (!img || !blk || x->rank < 0) {
        tt_infer_tensor(c, 0, x->dtype, -1, NULL);
        return TT_OK;
    }
    col_geom g;
    TT_TRY(col_geometry(c->node, img, blk, &g));
    int64_t bs = tt_dims_prod(g.blk, 0, g.nd), out[2 + COL_MAX_DIMS];
    if (x->dims[1] >= 0 && x->dims[1] % bs)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "dim 1 (%" PRId64 ") is not a multiple of the block size %" PRId64,
                           x->dims[1], bs);
    if (x->dims[2] >= 0 && x->dims[2] != tt_dims_prod(g.nblk, 0, g.nd))
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "dim 2 (%" PRId64 ") is not the %" PRId64 " block positions",
                           x->dims[2], tt_dims_prod(g.nblk, 0, g.nd));
    if (2 + g.nd > TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "%d spatial dims is too many", g.nd);
    out[0] = x->dims[0];
    out[1] = x->dims[1] >= 0 ? x->dims[1] / bs : TT_DIM_UNKNOWN;
    memcpy(out + 2, g.img, sizeof(int64_t) * (size_t)g.nd);
    TT_TRY(tt_check_size(c->node, x->dtype, 2 + g.nd, out, "the image"));
    tt_infer_tensor(c, 0, x->dtype, 2 + g.nd, out);
    return TT_OK;
}

static tt_status run_col2im(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    col_geom g;
    TT_TRY(col_geometry(c->node, tt_kin(c, 1), tt_kin(c, 2), &g));
    int64_t bs = tt_dims_prod(g.blk, 0, g.nd), L = tt_dims_prod(g.nblk, 0, g.nd), isz = tt_dims_prod(g.img, 0, g.nd);
    int64_t N = x->dims[0], C = x->dims[1] / bs;
    double *acc = tt_calloc((size_t)(isz ? isz : 1), sizeof *acc);
    if (!acc)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for node '%s'", c->node->name);
    for (int64_t nc = 0; nc < N * C; nc++) {
        memset(acc, 0, (size_t)isz * sizeof *acc);
        int64_t nn = nc / C, ch = nc % C;
        for (int64_t k = 0; k < bs; k++) {   /* the offset inside the block */
            int64_t kk[COL_MAX_DIMS], rem = k;
            for (int d = g.nd - 1; d >= 0; d--)
                kk[d] = rem % g.blk[d], rem /= g.blk[d];
            for (int64_t l = 0; l < L; l++) { /* the block's position */
                int64_t off = 0, lr = l, bpos[COL_MAX_DIMS];
                bool inside = true;
                for (int d = g.nd - 1; d >= 0; d--)
                    bpos[d] = lr % g.nblk[d], lr /= g.nblk[d];
                for (int d = 0; d < g.nd && inside; d++) {
                    int64_t p = bpos[d] * g.stride[d] - g.pad[d] + kk[d] * g.dil[d];
                    inside = p >= 0 && p < g.img[d];
                    off = off * g.img[d] + p;
                }
                if (inside)
                    acc[off] += tt_load_f64(x->data, x->dtype, (size_t)(((nn * C + ch) * bs + k) * L + l));
            }
        }
        for (int64_t i = 0; i < isz; i++)
            tt_store_f64(y->data, y->dtype, (size_t)(nc * isz + i), acc[i]);
    }
    tt_free(acc);
    return TT_OK;
}

/* ---- AffineGrid --------------------------------------------------------------------------- */

static tt_status infer_affine_grid(tt_ictx *c)
{
    const tt_type *th, *sz;
    TT_TRY(tt_infer_input(c, 0, &th));
    TT_TRY(tt_infer_input(c, 1, &sz));
    TT_TRY(tt_infer_check_dtype(c, 1, TT_DT(TETHER_DTYPE_INT64)));
    if (th->rank >= 0 && th->rank != 3)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "theta must be (N, 2, 3) or (N, 3, 4), got rank %d", th->rank);
    const tt_tensor *size = tt_ival(c, 1);
    if (!size) {
        tt_infer_tensor(c, 0, th->dtype, -1, NULL);
        return TT_OK;
    }
    int64_t s[5], n;
    TT_TRY(tt_tensor_to_ints(c->node, size, s, 5, &n));
    if (n != 4 && n != 5)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "size must be (N, C, H, W) or (N, C, D, H, W)");
    for (int i = 0; i < n; i++)
        if (s[i] < 0)
            return tt_op_error(c->node, TETHER_ERR_SHAPE, "size[%d] is %" PRId64, i, s[i]);
    int64_t out[5];
    out[0] = s[0];
    for (int i = 2; i < n; i++)
        out[i - 1] = s[i];
    out[n - 1] = n - 2;
    TT_TRY(tt_check_size(c->node, th->dtype, (int)n, out, "the grid"));
    tt_infer_tensor(c, 0, th->dtype, (int)n, out);
    return TT_OK;
}

static tt_status run_affine_grid(tt_kctx *c)
{
    const tt_tensor *th = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int nsp = y->rank - 2; /* 2 or 3 */
    int64_t N = y->dims[0];
    if (th->rank != 3 || th->dims[0] != N || th->dims[1] != nsp || th->dims[2] != nsp + 1)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "theta must be (%" PRId64 ", %d, %d)", N, nsp, nsp + 1);
    bool align = tt_attr_int(c->node, "align_corners", 0) != 0;
    /* spatial sizes, outermost first (D,) H, W; the grid holds x (W) first */
    int64_t sizes[3], pts = 1;
    for (int d = 0; d < nsp; d++)
        pts *= sizes[d] = y->dims[1 + d];
    size_t o = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t p = 0; p < pts; p++) {
            double base[4] = {0, 0, 0, 1}; /* x, y, (z,) 1 */
            int64_t rem = p;
            for (int d = nsp - 1; d >= 0; d--) {
                int64_t i = rem % sizes[d], S = sizes[d];
                rem /= S;
                double v = align ? (S > 1 ? -1 + 2.0 * (double)i / (double)(S - 1) : -1)
                                 : -1 + (2.0 * (double)i + 1) / (double)S;
                base[nsp - 1 - d] = v;
            }
            base[nsp] = 1;
            for (int r = 0; r < nsp; r++) {
                double acc = 0;
                for (int k = 0; k <= nsp; k++)
                    acc += tt_load_f64(th->data, th->dtype, (size_t)((n * nsp + r) * (nsp + 1) + k)) * base[k];
                tt_store_f64(y->data, y->dtype, o++, acc);
            }
        }
    return TT_OK;
}

/* ---- DeformConv --------------------------------------------------------------------------- */

static tt_status infer_deform_conv(tt_ictx *c)
{
    const tt_type *x, *w, *off;
    TT_TRY(tt_infer_input(c, 0, &x));
    TT_TRY(tt_infer_input(c, 1, &w));
    TT_TRY(tt_infer_input(c, 2, &off));
    TT_TRY(tt_infer_same_dtype(c, 0, 1));
    TT_TRY(tt_infer_same_dtype(c, 0, 2));
    if (x->rank >= 0 && x->rank != 4)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "tether runs DeformConv on 2 spatial dims (4-D X), got "
                           "rank %d", x->rank);
    int64_t dims[4] = {x->rank == 4 ? x->dims[0] : TT_DIM_UNKNOWN, w->rank == 4 ? w->dims[0] : TT_DIM_UNKNOWN,
                       off->rank == 4 ? off->dims[2] : TT_DIM_UNKNOWN, off->rank == 4 ? off->dims[3] : TT_DIM_UNKNOWN};
    tt_infer_tensor(c, 0, x->dtype, 4, dims);
    return TT_OK;
}

static double bilinear_zero(const tt_tensor *x, size_t plane, int64_t H, int64_t W, double h, double w)
{
    if (!(h > -1 && h < (double)H && w > -1 && w < (double)W))
        return 0;
    int64_t h0 = (int64_t)floor(h), w0 = (int64_t)floor(w);
    double fh = h - (double)h0, fw = w - (double)w0, v = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            int64_t hh = h0 + a, ww = w0 + b;
            double wt = (a ? fh : 1 - fh) * (b ? fw : 1 - fw);
            if (wt != 0 && hh >= 0 && hh < H && ww >= 0 && ww < W)
                v += wt * tt_load_f64(x->data, x->dtype, plane + (size_t)(hh * W + ww));
        }
    return v;
}

static tt_status run_deform_conv(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0), *w = tt_kin(c, 1), *off = tt_kin(c, 2), *b = tt_kin(c, 3), *mask = tt_kin(c, 4);
    tt_tensor *y = tt_kout(c, 0);
    const tt_node *n = c->node;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], OC = w->dims[0];
    int64_t G = tt_attr_int(n, "group", 1), OG = tt_attr_int(n, "offset_group", 1);
    if (w->rank != 4 || G <= 0 || OG <= 0 || C % G || OC % G || w->dims[1] != C / G || C % OG)
        return tt_op_error(n, TETHER_ERR_SHAPE, "W, group and offset_group do not fit X's %" PRId64 " channels", C);
    int64_t KH = w->dims[2], KW = w->dims[3], OH = off->dims[2], OW = off->dims[3];
    size_t l;
    const int64_t *ks = tt_attr_ints(n, "kernel_shape", &l);
    if (ks && (l != 2 || ks[0] != KH || ks[1] != KW))
        return tt_op_error(n, TETHER_ERR_SHAPE, "kernel_shape does not match W");
    const int64_t *st = tt_attr_ints(n, "strides", &l), *di = tt_attr_ints(n, "dilations", &l),
                  *pa = tt_attr_ints(n, "pads", &l);
    int64_t sh = st ? st[0] : 1, sw = st ? st[1] : 1, dh = di ? di[0] : 1, dw = di ? di[1] : 1;
    int64_t ph = pa ? pa[0] : 0, pw = pa ? pa[1] : 0;
    if (off->rank != 4 || off->dims[0] != N || off->dims[1] != OG * KH * KW * 2 ||
        (mask && (mask->rank != 4 || mask->dims[0] != N || mask->dims[1] != OG * KH * KW || mask->dims[2] != OH ||
                  mask->dims[3] != OW)) ||
        (b && tt_tensor_numel(b) != OC) || y->dims[2] != OH || y->dims[3] != OW)
        return tt_op_error(n, TETHER_ERR_SHAPE, "offset, mask or B do not fit the kernel and output");
    int64_t icg = C / G, ocg = OC / G, ico = C / OG;
    for (int64_t bn = 0; bn < N; bn++)
        for (int64_t oc = 0; oc < OC; oc++) {
            int64_t g = oc / ocg;
            for (int64_t i = 0; i < OH; i++)
                for (int64_t j = 0; j < OW; j++) {
                    double acc = b ? tt_load_f64(b->data, b->dtype, (size_t)oc) : 0;
                    for (int64_t ic = g * icg; ic < (g + 1) * icg; ic++) {
                        int64_t og = ic / ico;
                        size_t plane = (size_t)((bn * C + ic) * H * W);
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t k = kh * KW + kw;
                                size_t oo = (size_t)((((bn * OG + og) * KH * KW + k) * 2) * OH * OW + i * OW + j);
                                double oh = tt_load_f64(off->data, off->dtype, oo);
                                double ow = tt_load_f64(off->data, off->dtype, oo + (size_t)(OH * OW));
                                double m = mask ? tt_load_f64(mask->data, mask->dtype,
                                                              (size_t)(((bn * OG + og) * KH * KW + k) * OH * OW + i * OW + j))
                                                : 1;
                                double v = bilinear_zero(x, plane, H, W, (double)(i * sh - ph + kh * dh) + oh,
                                                         (double)(j * sw - pw + kw * dw) + ow);
                                double wt = tt_load_f64(w->data, w->dtype,
                                                        (size_t)(((oc * icg + (ic - g * icg)) * KH + kh) * KW + kw));
                                acc += v * wt * m;
                            }
                    }
                    tt_store_f64(y->data, y->dtype, (size_t)(((bn * OC + oc) * OH + i) * OW + j), acc);
                }
        }
    return TT_OK;
}

#define CROP_TYPES (TT_DTS_ALL)

const tt_op_schema tt_schemas_spatial[] = {
    TT_SCHEMA("CenterCropPad", 18, 0, infer_center_crop_pad),
    TT_SCHEMA("Col2Im", 18, 0, infer_col2im),
    TT_SCHEMA("AffineGrid", 20, 0, infer_affine_grid),
    TT_SCHEMA("DeformConv", 19, 0, infer_deform_conv),
    TT_SCHEMA_END,
};

const tt_kernel tt_ref_spatial[] = {
    TT_KERNEL("CenterCropPad", 18, 0, CROP_TYPES, run_center_crop_pad),
    TT_KERNEL("Col2Im", 18, 0, TT_DTS_NUMERIC, run_col2im),
    TT_KERNEL("AffineGrid", 20, 0, TT_DTS_FLOAT, run_affine_grid),
    TT_KERNEL("DeformConv", 19, 0, TT_DTS_FLOAT, run_deform_conv),
    TT_KERNEL_END,
};
