/* Recurrent layers: RNN, GRU and LSTM. The three share everything but the cell step:
 * attributes, activations, directions, layouts, sequence lengths, initial states and
 * outputs. Every time step's input projection is one batched GEMM before the recurrence. */
#include "ops/util.h"

#include <inttypes.h>
#include <strings.h>

/* ---- activations ------------------------------------------------------------------------ */

typedef enum act_kind {
    ACT_RELU,
    ACT_TANH,
    ACT_SIGMOID,
    ACT_AFFINE,
    ACT_LEAKY_RELU,
    ACT_THRESHOLDED_RELU,
    ACT_SCALED_TANH,
    ACT_HARD_SIGMOID,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS,
} act_kind;

typedef struct act {
    act_kind kind;
    float alpha, beta;
} act;

/* n_params: how many of activation_alpha / activation_beta the function consumes (alpha,
 * then beta); the defaults are those of the ONNX operators of the same names. */
static const struct act_info {
    const char *name;
    act_kind kind;
    int n_params;
    float alpha, beta;
} g_acts[] = {
    {"Relu", ACT_RELU, 0, 0, 0},
    {"Tanh", ACT_TANH, 0, 0, 0},
    {"Sigmoid", ACT_SIGMOID, 0, 0, 0},
    {"Affine", ACT_AFFINE, 2, 1.0f, 0.0f},
    {"LeakyRelu", ACT_LEAKY_RELU, 1, 0.01f, 0},
    {"ThresholdedRelu", ACT_THRESHOLDED_RELU, 1, 1.0f, 0},
    {"ScaledTanh", ACT_SCALED_TANH, 2, 1.0f, 1.0f},
    {"HardSigmoid", ACT_HARD_SIGMOID, 2, 0.2f, 0.5f},
    {"Elu", ACT_ELU, 1, 1.0f, 0},
    {"Softsign", ACT_SOFTSIGN, 0, 0, 0},
    {"Softplus", ACT_SOFTPLUS, 0, 0, 0},
};

static inline float act_eval(const act *a, float x)
{
    switch (a->kind) {
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_TANH: return tanhf(x);
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_AFFINE: return a->alpha * x + a->beta;
    case ACT_LEAKY_RELU: return x >= 0 ? x : a->alpha * x;
    case ACT_THRESHOLDED_RELU: return x >= a->alpha ? x : 0;
    case ACT_SCALED_TANH: return a->alpha * tanhf(a->beta * x);
    case ACT_HARD_SIGMOID: return fminf(fmaxf(a->alpha * x + a->beta, 0.0f), 1.0f);
    case ACT_ELU: return x >= 0 ? x : a->alpha * (expf(x) - 1.0f);
    case ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case ACT_SOFTPLUS: return x > 20.0f ? x : log1pf(expf(x));
    }
    return x;
}

/* ---- the layer -------------------------------------------------------------------------- */

struct rnn;

/* One time step of one direction over the whole batch. */
typedef struct step_args {
    int64_t B, H;
    const float *xw;       /* projected inputs plus biases: row b at xw + b * xw_ld, G*H wide */
    int64_t xw_ld;
    const float *R;        /* [G*H, H] recurrence weights */
    const float *rb_h;     /* GRU with linear_before_reset: the hidden gate's recurrence bias */
    const float *P;        /* LSTM peepholes [3*H] (i, o, f), or NULL */
    const act *f;          /* this direction's activations */
    const uint8_t *active; /* per batch row: this step lies within the row's sequence */
    float *h, *c;          /* [B, H] state, updated in place for active rows */
    float *g;              /* scratch [B, G*H]: recurrence products */
    float *rh;             /* GRU scratch [B, H] */
} step_args;

typedef struct cell_def {
    const char *op;
    int gates;             /* weight blocks per direction in W, R and each half of B */
    int n_acts;            /* activations per direction */
    const char *defaults[3];
    void (*step)(const struct rnn *r, const step_args *a);
} cell_def;

/* Attributes, parsed once at load. */
typedef struct rnn {
    const cell_def *cell;
    int64_t hidden;        /* -1: taken from R */
    int ndir;
    bool reverse;          /* the one direction runs backwards */
    bool batch_major;      /* layout 1: X [B, S, I], Y [B, S, D, H], states [B, D, H] */
    bool has_clip;
    float clip;
    bool linear_before_reset, input_forget;
    act acts[2][3];
} rnn;

static inline float clipf(const rnn *r, float x)
{
    return r->has_clip ? fminf(fmaxf(x, -r->clip), r->clip) : x;
}

static void step_rnn(const rnn *r, const step_args *a)
{
    int64_t B = a->B, H = a->H;
    tt_sgemm_batched(false, true, B, H, H, 1.0f, a->h, H, 0, a->R, H, 0, 0.0f, a->g, H, 0, 1);
    for (int64_t b = 0; b < B; b++) {
        if (!a->active[b])
            continue;
        const float *x = a->xw + b * a->xw_ld, *g = a->g + b * H;
        float *h = a->h + b * H;
        for (int64_t j = 0; j < H; j++)
            h[j] = act_eval(&a->f[0], clipf(r, x[j] + g[j]));
    }
}

/* Gates z, r, h. Without linear_before_reset the hidden gate's product needs r first. */
static void step_gru(const rnn *r, const step_args *a)
{
    int64_t B = a->B, H = a->H, GH = 3 * H;
    tt_sgemm_batched(false, true, B, r->linear_before_reset ? GH : 2 * H, H, 1.0f, a->h, H, 0, a->R, H, 0, 0.0f,
                     a->g, GH, 0, 1);
    if (!r->linear_before_reset) {
        for (int64_t b = 0; b < B; b++) {
            const float *x = a->xw + b * a->xw_ld, *g = a->g + b * GH, *h = a->h + b * H;
            float *rh = a->rh + b * H;
            for (int64_t j = 0; j < H; j++)
                rh[j] = act_eval(&a->f[0], clipf(r, x[H + j] + g[H + j])) * h[j];
        }
        tt_sgemm_batched(false, true, B, H, H, 1.0f, a->rh, H, 0, a->R + 2 * H * H, H, 0, 0.0f, a->g + 2 * H, GH, 0,
                         1);
    }
    for (int64_t b = 0; b < B; b++) {
        if (!a->active[b])
            continue;
        const float *x = a->xw + b * a->xw_ld, *g = a->g + b * GH;
        float *h = a->h + b * H;
        for (int64_t j = 0; j < H; j++) {
            float z = act_eval(&a->f[0], clipf(r, x[j] + g[j]));
            float hh;
            if (r->linear_before_reset) {
                float rr = act_eval(&a->f[0], clipf(r, x[H + j] + g[H + j]));
                hh = act_eval(&a->f[1], clipf(r, x[2 * H + j] + rr * (g[2 * H + j] + a->rb_h[j])));
            } else {
                hh = act_eval(&a->f[1], clipf(r, x[2 * H + j] + g[2 * H + j]));
            }
            h[j] = (1.0f - z) * hh + z * h[j];
        }
    }
}

/* Gates i, o, f, c; peepholes read the previous cell for i and f, the new one for o. */
static void step_lstm(const rnn *r, const step_args *a)
{
    int64_t B = a->B, H = a->H, GH = 4 * H;
    tt_sgemm_batched(false, true, B, GH, H, 1.0f, a->h, H, 0, a->R, H, 0, 0.0f, a->g, GH, 0, 1);
    const float *pi = a->P, *po = a->P ? a->P + H : NULL, *pf = a->P ? a->P + 2 * H : NULL;
    for (int64_t b = 0; b < B; b++) {
        if (!a->active[b])
            continue;
        const float *x = a->xw + b * a->xw_ld, *g = a->g + b * GH;
        float *h = a->h + b * H, *cell = a->c + b * H;
        for (int64_t j = 0; j < H; j++) {
            float c0 = cell[j];
            float i = act_eval(&a->f[0], clipf(r, x[j] + g[j] + (pi ? pi[j] * c0 : 0)));
            float f = r->input_forget ? 1.0f - i
                                      : act_eval(&a->f[0], clipf(r, x[2 * H + j] + g[2 * H + j] + (pf ? pf[j] * c0 : 0)));
            float cc = act_eval(&a->f[1], clipf(r, x[3 * H + j] + g[3 * H + j]));
            float c1 = f * c0 + i * cc;
            float o = act_eval(&a->f[0], clipf(r, x[H + j] + g[H + j] + (po ? po[j] * c1 : 0)));
            cell[j] = c1;
            h[j] = o * act_eval(&a->f[2], clipf(r, c1));
        }
    }
}

static const cell_def g_rnn = {"RNN", 1, 1, {"Tanh"}, step_rnn};
static const cell_def g_gru = {"GRU", 3, 2, {"Sigmoid", "Tanh"}, step_gru};
static const cell_def g_lstm = {"LSTM", 4, 3, {"Sigmoid", "Tanh", "Tanh"}, step_lstm};

/* ---- attributes -------------------------------------------------------------------------- */

static tt_status parse_acts(const tt_node *n, rnn *r)
{
    const cell_def *cd = r->cell;
    const tt_attr *names = tt_node_attr(n, "activations");
    size_t n_names = names && names->type == TT_ATTR_STRINGS ? names->n : 0;
    size_t want = (size_t)(cd->n_acts * r->ndir);
    if (n_names && n_names != want && n_names != (size_t)cd->n_acts)
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "%zu activations given, expected %zu", n_names, want);
    size_t n_alpha, n_beta, next_alpha = 0, next_beta = 0;
    const float *alpha = tt_attr_floats(n, "activation_alpha", &n_alpha);
    const float *beta = tt_attr_floats(n, "activation_beta", &n_beta);
    for (size_t k = 0; k < want; k++) {
        /* one direction's list serves both when only that many are given */
        const char *name = n_names ? names->strings[k % n_names] : cd->defaults[k % (size_t)cd->n_acts];
        const struct act_info *info = NULL;
        for (size_t i = 0; i < sizeof g_acts / sizeof g_acts[0] && !info; i++)
            if (strcasecmp(g_acts[i].name, name) == 0)
                info = &g_acts[i];
        if (!info)
            return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "activation '%s' is not supported", name);
        act *a = &r->acts[k / (size_t)cd->n_acts][k % (size_t)cd->n_acts];
        *a = (act){info->kind, info->alpha, info->beta};
        if (info->n_params >= 1 && next_alpha < n_alpha)
            a->alpha = alpha[next_alpha++];
        if (info->n_params >= 2 && next_beta < n_beta)
            a->beta = beta[next_beta++];
    }
    return TT_OK;
}

static tt_status prepare_cell(tt_node *n, void **state, const cell_def *cd)
{
    rnn *r = tt_calloc(1, sizeof *r);
    if (!r)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    r->cell = cd;
    r->hidden = tt_attr_int(n, "hidden_size", -1);
    const char *dir = tt_attr_string(n, "direction", "forward");
    r->ndir = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    r->reverse = strcmp(dir, "reverse") == 0;
    int64_t layout = tt_attr_int(n, "layout", 0);
    r->batch_major = layout == 1;
    const tt_attr *clip = tt_node_attr(n, "clip");
    r->has_clip = clip != NULL;
    r->clip = tt_attr_float(n, "clip", 0);
    r->linear_before_reset = tt_attr_int(n, "linear_before_reset", 0) != 0;
    r->input_forget = tt_attr_int(n, "input_forget", 0) != 0;
    tt_status s = TT_OK;
    if (r->ndir == 1 && !r->reverse && strcmp(dir, "forward") != 0)
        s = tt_op_error(n, TETHER_ERR_INVALID_MODEL, "direction '%s' must be forward, reverse or bidirectional", dir);
    else if (layout != 0 && layout != 1)
        s = tt_op_error(n, TETHER_ERR_INVALID_MODEL, "layout %" PRId64 " must be 0 or 1", layout);
    else if (r->hidden == 0 || r->hidden < -1)
        s = tt_op_error(n, TETHER_ERR_INVALID_MODEL, "hidden_size %" PRId64 " must be positive", r->hidden);
    else if (r->has_clip && !(r->clip > 0))
        s = tt_op_error(n, TETHER_ERR_INVALID_MODEL, "clip must be positive");
    else
        s = parse_acts(n, r);
    if (s != TT_OK) {
        tt_free(r);
        return s;
    }
    *state = r;
    return TT_OK;
}

static tt_status prepare_rnn(tt_node *n, void **state) { return prepare_cell(n, state, &g_rnn); }
static tt_status prepare_gru(tt_node *n, void **state) { return prepare_cell(n, state, &g_gru); }
static tt_status prepare_lstm(tt_node *n, void **state) { return prepare_cell(n, state, &g_lstm); }

/* ---- shapes ---------------------------------------------------------------------------------- */

enum { IN_X, IN_W, IN_R, IN_B, IN_LENS, IN_H0, IN_C0, IN_P };

/* The hidden size: the attribute, else R's last dim (-1 while unknown). */
static int64_t hidden_of(const rnn *r, const tt_type *R)
{
    if (r->hidden > 0)
        return r->hidden;
    return R && R->kind == TT_KIND_TENSOR && R->rank == 3 ? R->dims[2] : TT_DIM_UNKNOWN;
}

static tt_status infer_cell(tt_ictx *c)
{
    const rnn *r = c->node->state;
    const tt_type *x = tt_iin(c, IN_X);
    if (!x || !tt_iin(c, IN_W) || !tt_iin(c, IN_R))
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "inputs X, W and R are required");
    for (int i = IN_W; i < c->n_in; i++)
        if (i != IN_LENS)
            TT_TRY(tt_infer_same_dtype(c, IN_X, i));
    TT_TRY(tt_infer_check_dtype(c, IN_LENS, TT_DTS_INT));
    if (x->rank >= 0 && x->rank != 3)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X must have rank 3, got %d", x->rank);
    int64_t S = TT_DIM_UNKNOWN, B = TT_DIM_UNKNOWN, D = r->ndir, H = hidden_of(r, tt_iin(c, IN_R));
    if (x->rank == 3) {
        S = x->dims[r->batch_major ? 1 : 0];
        B = x->dims[r->batch_major ? 0 : 1];
    }
    int64_t y[4], st[3];
    if (r->batch_major) {
        memcpy(y, (int64_t[]){B, S, D, H}, sizeof y);
        memcpy(st, (int64_t[]){B, D, H}, sizeof st);
    } else {
        memcpy(y, (int64_t[]){S, D, B, H}, sizeof y);
        memcpy(st, (int64_t[]){D, B, H}, sizeof st);
    }
    tt_infer_tensor(c, 0, x->dtype, 4, y);
    tt_infer_tensor(c, 1, x->dtype, 3, st);
    if (r->cell == &g_lstm)
        tt_infer_tensor(c, 2, x->dtype, 3, st);
    else if (c->n_out > 2)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "%s has 2 outputs, the node lists %d", r->cell->op,
                           c->n_out);
    return TT_OK;
}

/* ---- running ---------------------------------------------------------------------------------- */

static tt_status check_dims(const tt_kctx *c, int i, const char *name, int rank, const int64_t *want)
{
    const tt_tensor *t = tt_kin(c, i);
    if (!t)
        return TT_OK;
    bool ok = t->rank == rank;
    for (int d = 0; d < rank && ok; d++)
        ok = t->dims[d] == want[d];
    if (!ok) {
        char got[200], exp[200];
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "%s is %s, expected shape %s", name, tt_tensor_desc(t, got, sizeof got),
                           tt_dims_str(rank, want, exp, sizeof exp));
    }
    return TT_OK;
}

/* Float scratch that records what to free: buffers, and widened copies of other dtypes. */
typedef struct scratch {
    void *ptrs[16];
    int n;
} scratch;

static float *scratch_floats(scratch *s, int64_t n)
{
    int64_t numel;
    if (s->n == 16 || tt_shape_numel(1, &n, &numel) != TT_OK || (uint64_t)numel * 4 > tt_max_tensor_bytes())
        return NULL;
    float *p = tt_malloc_aligned((size_t)numel * sizeof(float) + sizeof(float));
    if (p)
        s->ptrs[s->n++] = p;
    return p;
}

static void scratch_free(scratch *s)
{
    for (int i = 0; i < s->n; i++)
        tt_free_aligned(s->ptrs[i]);
}

/* Input i as floats (NULL when omitted): the tensor itself when it is float already. */
static const float *as_floats(scratch *s, const tt_tensor *t, bool *nomem)
{
    if (!t)
        return NULL;
    if (t->dtype == TETHER_DTYPE_FLOAT)
        return t->data;
    float *p = scratch_floats(s, tt_tensor_numel(t));
    if (!p)
        *nomem = true;
    else
        tt_to_f32(t->data, t->dtype, p, tt_tensor_numel(t));
    return p;
}

static tt_status run_cell(tt_kctx *c)
{
    const rnn *r = c->state;
    const cell_def *cd = r->cell;
    const tt_tensor *X = tt_kin(c, IN_X), *W = tt_kin(c, IN_W), *R = tt_kin(c, IN_R), *lens = tt_kin(c, IN_LENS);
    if (!X || !W || !R || X->rank != 3)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "X (rank 3), W and R are required");
    int64_t S = X->dims[r->batch_major ? 1 : 0], B = X->dims[r->batch_major ? 0 : 1], I = X->dims[2];
    int64_t D = r->ndir, G = cd->gates, H = r->hidden > 0 ? r->hidden : (R->rank == 3 ? R->dims[2] : -1), GH = G * H;
    if (H < 0)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "R must have rank 3");
    int64_t st_dims[3] = {D, B, H};
    if (r->batch_major)
        st_dims[0] = B, st_dims[1] = D;
    TT_TRY(check_dims(c, IN_W, "W", 3, (int64_t[]){D, GH, I}));
    TT_TRY(check_dims(c, IN_R, "R", 3, (int64_t[]){D, GH, H}));
    TT_TRY(check_dims(c, IN_B, "B", 2, (int64_t[]){D, 2 * GH}));
    TT_TRY(check_dims(c, IN_LENS, "sequence_lens", 1, (int64_t[]){B}));
    TT_TRY(check_dims(c, IN_H0, "initial_h", 3, st_dims));
    if (cd == &g_lstm) {
        TT_TRY(check_dims(c, IN_C0, "initial_c", 3, st_dims));
        TT_TRY(check_dims(c, IN_P, "P", 2, (int64_t[]){D, 3 * H}));
    }
    for (int64_t b = 0; lens && b < B; b++) {
        int64_t l = tt_load_i64(lens->data, lens->dtype, (size_t)b);
        if (l < 0 || l > S)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "sequence_lens[%" PRId64 "] = %" PRId64 " is out of range [0, %" PRId64 "]", b, l, S);
    }

    scratch sc = {0};
    bool nomem = false;
    const float *x = as_floats(&sc, X, &nomem), *w = as_floats(&sc, W, &nomem), *rw = as_floats(&sc, R, &nomem);
    const float *bias = as_floats(&sc, tt_kin(c, IN_B), &nomem), *h0 = as_floats(&sc, tt_kin(c, IN_H0), &nomem);
    const float *c0 = cd == &g_lstm ? as_floats(&sc, tt_kin(c, IN_C0), &nomem) : NULL;
    const float *P = cd == &g_lstm ? as_floats(&sc, tt_kin(c, IN_P), &nomem) : NULL;
    tt_tensor *Y = tt_kout(c, 0), *Yh = tt_kout(c, 1), *Yc = cd == &g_lstm ? tt_kout(c, 2) : NULL;
    /* outputs of other dtypes are computed in float and narrowed at the end */
    float *y = Y && Y->dtype == TETHER_DTYPE_FLOAT ? Y->data : Y ? scratch_floats(&sc, S * D * B * H) : NULL;
    float *xw = scratch_floats(&sc, D * S * B * GH), *g = scratch_floats(&sc, B * GH), *rh = scratch_floats(&sc, B * H);
    float *h = scratch_floats(&sc, D * B * H), *cell = scratch_floats(&sc, D * B * H), *bsum = scratch_floats(&sc, GH);
    float *zeros = scratch_floats(&sc, H);
    uint8_t *active = tt_malloc((size_t)B + 1);
    if (nomem || (Y && !y) || !xw || !g || !rh || !h || !cell || !bsum || !zeros || !active) {
        scratch_free(&sc);
        tt_free(active);
        return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory for a sequence of %" PRId64 " x %" PRId64
                           " with hidden size %" PRId64, S, B, H);
    }

    memset(zeros, 0, sizeof(float) * (size_t)H);
    /* every step's input projections at once: xw[d] = X · W[d]^T, rows in X's order */
    tt_sgemm_batched(false, true, S * B, GH, I, 1.0f, x, I, 0, w, I, GH * I, 0.0f, xw, GH, S * B * GH, D);
    for (int64_t d = 0; d < D; d++) {
        const float *wb = bias ? bias + d * 2 * GH : NULL, *rb = wb ? wb + GH : NULL;
        /* Wb + Rb folded into the projections, except GRU's hidden-gate Rb under
         * linear_before_reset, which the reset gate scales */
        for (int64_t k = 0; k < GH; k++) {
            bool keep_rb = cd == &g_gru && r->linear_before_reset && k >= 2 * H;
            bsum[k] = wb ? wb[k] + (keep_rb ? 0 : rb[k]) : 0;
        }
        float *xd = xw + d * S * B * GH;
        for (int64_t row = 0; row < S * B; row++)
            for (int64_t k = 0; k < GH; k++)
                xd[row * GH + k] += bsum[k];

        /* states per batch row, taken from (and returned to) the layout's [D, B] or [B, D] order */
        float *hd = h + d * B * H, *cd_ = cell + d * B * H;
        for (int64_t b = 0; b < B; b++) {
            int64_t off = (r->batch_major ? b * D + d : d * B + b) * H;
            for (int64_t j = 0; j < H; j++) {
                hd[b * H + j] = h0 ? h0[off + j] : 0;
                cd_[b * H + j] = c0 ? c0[off + j] : 0;
            }
        }
        bool backwards = r->reverse || d == 1;
        step_args a = {.B = B, .H = H, .R = rw + d * GH * H, .P = P ? P + d * 3 * H : NULL, .f = r->acts[d],
                       .active = active, .h = hd, .c = cd_, .g = g, .rh = rh, .rb_h = rb ? rb + 2 * H : zeros};
        for (int64_t k = 0; k < S; k++) {
            int64_t t = backwards ? S - 1 - k : k;
            for (int64_t b = 0; b < B; b++)
                active[b] = !lens || t < tt_load_i64(lens->data, lens->dtype, (size_t)b);
            a.xw = xd + (r->batch_major ? t : t * B) * GH;
            a.xw_ld = r->batch_major ? S * GH : GH;
            cd->step(r, &a);
            for (int64_t b = 0; y && b < B; b++) {
                float *dst = y + (r->batch_major ? (b * S + t) * D + d : (t * D + d) * B + b) * H;
                if (active[b])
                    memcpy(dst, hd + b * H, sizeof(float) * (size_t)H);
                else
                    memset(dst, 0, sizeof(float) * (size_t)H); /* past the row's sequence */
            }
        }
    }

    /* final states back in the layout's order */
    tt_tensor *finals[2] = {Yh, Yc};
    const float *src[2] = {h, cell};
    for (int o = 0; o < 2; o++) {
        tt_tensor *t = finals[o];
        if (!t)
            continue;
        float *dst = t->dtype == TETHER_DTYPE_FLOAT ? t->data : scratch_floats(&sc, D * B * H);
        if (!dst) {
            scratch_free(&sc);
            tt_free(active);
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
        }
        for (int64_t d = 0; d < D; d++)
            for (int64_t b = 0; b < B; b++)
                memcpy(dst + (r->batch_major ? b * D + d : d * B + b) * H, src[o] + (d * B + b) * H,
                       sizeof(float) * (size_t)H);
        if (dst != t->data)
            tt_from_f32(dst, t->data, t->dtype, D * B * H);
    }
    if (Y && y != Y->data)
        tt_from_f32(y, Y->data, Y->dtype, S * D * B * H);
    scratch_free(&sc);
    tt_free(active);
    return TT_OK;
}

static uint64_t flops_cell(const tt_ictx *c)
{
    const rnn *r = c->node->state;
    const tt_type *x = tt_iin(c, IN_X);
    if (!x || x->rank != 3)
        return 0;
    uint64_t S = (uint64_t)x->dims[r->batch_major], B = (uint64_t)x->dims[!r->batch_major], I = (uint64_t)x->dims[2];
    uint64_t H = (uint64_t)hidden_of(r, tt_iin(c, IN_R)), G = (uint64_t)r->cell->gates;
    return 2 * (uint64_t)r->ndir * S * B * G * H * (I + H);
}

#define RNN_TYPES (TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_FLOAT16))

const tt_op_def tt_ops_rnn[] = {
    TT_OP("RNN", 1, 0, RNN_TYPES, infer_cell, run_cell, .prepare = prepare_rnn, .flops = flops_cell),
    TT_OP("GRU", 1, 0, RNN_TYPES, infer_cell, run_cell, .prepare = prepare_gru, .flops = flops_cell),
    TT_OP("LSTM", 1, 0, RNN_TYPES, infer_cell, run_cell, .prepare = prepare_lstm, .flops = flops_cell),
    TT_OP_END,
};
