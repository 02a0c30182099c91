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
    const float *xw; /* projected inputs plus biases: row b at xw + b * xw_ld, G*H wide */
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
    int gates;  /* weight blocks per direction in W, R and each half of B */
    int n_acts; /* activations per direction */
    const char *defaults[3];
    void (*step)(const struct rnn *r, const step_args *a);
} cell_def;

/* Attributes, parsed once at load. */
typedef struct rnn {
    const cell_def *cell;
    int64_t hidden; /* -1: taken from R */
    int ndir;
    bool reverse;     /* the one direction runs backwards */
    bool batch_major; /* layout 1: X [B, S, I], Y [B, S, D, H], states [B, D, H] */
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
    tt_sgemm_batched(false, true, B, r->linear_before_reset ? GH : 2 * H, H, 1.0f, a->h, H, 0, a->R, H, 0, 0.0f, a->g,
                     GH, 0, 1);
    if (!r->linear_before_reset) {
        for (int64_t b = 0; b < B; b++) {
            const float *x = a->xw + b * a->xw_ld, *g = a->g + b * GH, *h = a->h + b * H;
            float *rh = a->rh + b * H;
            for (int64_t j = 0; j < H; j++)
                rh[j] = act_eval(&a->f[0], clipf(r, x[H + j] + g[H + j])) * h[j];
        }
        tt_sgemm_batched(false, true, B, H, H, 1.0f, a->rh, H, 0, a->R + 2 * H * H, H, 0, 0.0f, a->g + 2 * H, GH, 0, 1);
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
            float f = r->input_forget
                          ? 1.0f - i
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

static tt_status prepare_rnn(tt_node *n, void **state)
{
    return prepare_cell(n, state, &g_rnn);
}
static tt_status prepare_gru(tt_node *n, void **state)
{
    return prepare_cell(n, state, &g_gru);
}
static tt_status prepare_lstm(tt_node *n, void **state)
{
    return prepare_cell(n, state, &g_lstm);
}

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

/* Float buffers of one run, freed together: scratch, and widened copies of inputs of
 * other dtypes. */
typedef struct scratch {
    void *ptrs[24];
    int n;
    bool failed;
} scratch;

/* n_dims dims' worth of floats, the count checked for overflow and against the size limit. */
static float *scratch_floats(scratch *s, int n_dims, const int64_t *dims)
{
    int64_t numel;
    float *p = NULL;
    if (s->n < 24 && tt_shape_numel(n_dims, dims, &numel) == TT_OK && (uint64_t)numel <= tt_max_tensor_bytes() / 4)
        p = tt_malloc_aligned((size_t)numel * sizeof(float) + sizeof(float));
    if (p)
        s->ptrs[s->n++] = p;
    else
        s->failed = true;
    return p;
}

static void scratch_free(scratch *s)
{
    for (int i = 0; i < s->n; i++)
        tt_free_aligned(s->ptrs[i]);
}

/* Input t as floats (NULL when omitted): the tensor itself when it is float already. */
static const float *as_floats(scratch *s, const tt_tensor *t)
{
    if (!t || t->dtype == TETHER_DTYPE_FLOAT)
        return t ? t->data : NULL;
    float *p = scratch_floats(s, t->rank, t->dims);
    if (p)
        tt_to_f32(t->data, t->dtype, p, tt_tensor_numel(t));
    return p;
}

/* One run of a layer: sizes, inputs and work buffers, all in float. */
typedef struct layer {
    const rnn *r;
    int64_t S, B, I, H, D, GH;
    const tt_tensor *lens;
    const float *x, *w, *rw, *bias, *h0, *c0, *P;
    float *y;      /* Y in the layout's order, or NULL when Y is not wanted */
    float *xw;     /* [D, S*B, G*H]: projected inputs plus biases, rows in X's order */
    float *h, *c;  /* [D, B, H] states */
    float *g, *rh; /* step scratch */
    float *bsum, *zeros;
    uint8_t *active;
} layer;

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
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "%s is %s, expected shape %s", name,
                           tt_tensor_desc(t, got, sizeof got), tt_dims_str(rank, want, exp, sizeof exp));
    }
    return TT_OK;
}

/* Reads the sizes and checks every input's shape and every sequence length. */
static tt_status layer_check(const tt_kctx *c, layer *L)
{
    const rnn *r = L->r;
    const tt_tensor *X = tt_kin(c, IN_X), *R = tt_kin(c, IN_R);
    if (!X || !tt_kin(c, IN_W) || !R || X->rank != 3 || R->rank != 3)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "inputs X and R (rank 3) and W are required");
    L->S = X->dims[r->batch_major ? 1 : 0];
    L->B = X->dims[r->batch_major ? 0 : 1];
    L->I = X->dims[2];
    L->D = r->ndir;
    L->H = r->hidden > 0 ? r->hidden : R->dims[2];
    L->GH = r->cell->gates * L->H;
    int64_t D = L->D, B = L->B, H = L->H, GH = L->GH;
    int64_t states[3] = {D, B, H};
    if (r->batch_major)
        states[0] = B, states[1] = D;
    TT_TRY(check_dims(c, IN_W, "W", 3, (int64_t[]){D, GH, L->I}));
    TT_TRY(check_dims(c, IN_R, "R", 3, (int64_t[]){D, GH, H}));
    TT_TRY(check_dims(c, IN_B, "B", 2, (int64_t[]){D, 2 * GH}));
    TT_TRY(check_dims(c, IN_LENS, "sequence_lens", 1, (int64_t[]){B}));
    TT_TRY(check_dims(c, IN_H0, "initial_h", 3, states));
    if (r->cell == &g_lstm) {
        TT_TRY(check_dims(c, IN_C0, "initial_c", 3, states));
        TT_TRY(check_dims(c, IN_P, "P", 2, (int64_t[]){D, 3 * H}));
    }
    L->lens = tt_kin(c, IN_LENS);
    for (int64_t b = 0; L->lens && b < B; b++) {
        int64_t n = tt_load_i64(L->lens->data, L->lens->dtype, (size_t)b);
        if (n < 0 || n > L->S)
            return tt_op_error(c->node, TETHER_ERR_RUNTIME,
                               "sequence_lens[%" PRId64 "] = %" PRId64 " is out of range [0, %" PRId64 "]", b, n, L->S);
    }
    return TT_OK;
}

static void layer_buffers(const tt_kctx *c, layer *L, scratch *sc)
{
    int64_t S = L->S, B = L->B, H = L->H, D = L->D, GH = L->GH;
    bool lstm = L->r->cell == &g_lstm;
    L->x = as_floats(sc, tt_kin(c, IN_X));
    L->w = as_floats(sc, tt_kin(c, IN_W));
    L->rw = as_floats(sc, tt_kin(c, IN_R));
    L->bias = as_floats(sc, tt_kin(c, IN_B));
    L->h0 = as_floats(sc, tt_kin(c, IN_H0));
    L->c0 = lstm ? as_floats(sc, tt_kin(c, IN_C0)) : NULL;
    L->P = lstm ? as_floats(sc, tt_kin(c, IN_P)) : NULL;
    tt_tensor *Y = tt_kout(c, 0);
    /* an output of another dtype is computed in float and narrowed at the end */
    L->y = !Y ? NULL : Y->dtype == TETHER_DTYPE_FLOAT ? Y->data : scratch_floats(sc, 4, (int64_t[]){S, D, B, H});
    L->xw = scratch_floats(sc, 4, (int64_t[]){D, S, B, GH});
    L->h = scratch_floats(sc, 3, (int64_t[]){D, B, H});
    L->c = scratch_floats(sc, 3, (int64_t[]){D, B, H});
    L->g = scratch_floats(sc, 2, (int64_t[]){B, GH});
    L->rh = scratch_floats(sc, 2, (int64_t[]){B, H});
    L->bsum = scratch_floats(sc, 1, &GH);
    L->zeros = scratch_floats(sc, 1, &H);
    if (L->zeros)
        memset(L->zeros, 0, sizeof(float) * (size_t)H);
}

/* Direction d over the whole sequence, from its initial states to its final ones. */
static void layer_direction(layer *L, int64_t d)
{
    const rnn *r = L->r;
    int64_t S = L->S, B = L->B, H = L->H, D = L->D, GH = L->GH;
    const float *wb = L->bias ? L->bias + d * 2 * GH : NULL, *rb = wb ? wb + GH : NULL;
    /* Wb + Rb join the projections, except GRU's hidden-gate Rb under linear_before_reset,
     * which the reset gate scales */
    for (int64_t k = 0; k < GH; k++) {
        bool keep_rb = r->cell == &g_gru && r->linear_before_reset && k >= 2 * H;
        L->bsum[k] = wb ? wb[k] + (keep_rb ? 0 : rb[k]) : 0;
    }
    float *xw = L->xw + d * S * B * GH;
    for (int64_t row = 0; row < S * B; row++)
        for (int64_t k = 0; k < GH; k++)
            xw[row * GH + k] += L->bsum[k];

    /* the states run in [B, H] rows; inputs and outputs keep the layout's [D, B] or [B, D] */
    float *h = L->h + d * B * H, *cell = L->c + d * B * H;
    for (int64_t b = 0; b < B; b++) {
        int64_t off = (r->batch_major ? b * D + d : d * B + b) * H;
        for (int64_t j = 0; j < H; j++) {
            h[b * H + j] = L->h0 ? L->h0[off + j] : 0;
            cell[b * H + j] = L->c0 ? L->c0[off + j] : 0;
        }
    }
    step_args a = {.B = B,
                   .H = H,
                   .R = L->rw + d * GH * H,
                   .P = L->P ? L->P + d * 3 * H : NULL,
                   .f = r->acts[d],
                   .active = L->active,
                   .h = h,
                   .c = cell,
                   .g = L->g,
                   .rh = L->rh,
                   .rb_h = rb ? rb + 2 * H : L->zeros,
                   .xw_ld = r->batch_major ? S * GH : GH};
    bool backwards = r->reverse || d == 1;
    for (int64_t k = 0; k < S && !tt_stopped(); k++) {
        int64_t t = backwards ? S - 1 - k : k;
        /* a row whose sequence ended keeps its state; a backward run starts at its last step */
        for (int64_t b = 0; b < B; b++)
            L->active[b] = !L->lens || t < tt_load_i64(L->lens->data, L->lens->dtype, (size_t)b);
        a.xw = xw + (r->batch_major ? t : t * B) * GH;
        r->cell->step(r, &a);
        for (int64_t b = 0; L->y && b < B; b++) {
            float *dst = L->y + (r->batch_major ? (b * S + t) * D + d : (t * D + d) * B + b) * H;
            if (L->active[b])
                memcpy(dst, h + b * H, sizeof(float) * (size_t)H);
            else
                memset(dst, 0, sizeof(float) * (size_t)H);
        }
    }
}

/* Writes the final states [D, B, H] into output k in the layout's order. */
static tt_status layer_final(tt_kctx *c, const layer *L, int k, const float *state, scratch *sc)
{
    tt_tensor *t = k < 3 ? tt_kout(c, k) : NULL;
    if (!t)
        return TT_OK;
    int64_t D = L->D, B = L->B, H = L->H;
    float *dst = t->dtype == TETHER_DTYPE_FLOAT ? t->data : scratch_floats(sc, 3, (int64_t[]){D, B, H});
    if (!dst)
        return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
    for (int64_t d = 0; d < D; d++)
        for (int64_t b = 0; b < B; b++)
            memcpy(dst + (L->r->batch_major ? b * D + d : d * B + b) * H, state + (d * B + b) * H,
                   sizeof(float) * (size_t)H);
    if (dst != t->data)
        tt_from_f32(dst, t->data, t->dtype, D * B * H);
    return TT_OK;
}

static tt_status run_cell(tt_kctx *c)
{
    layer L = {.r = c->state};
    TT_TRY(layer_check(c, &L));
    scratch sc = {0};
    layer_buffers(c, &L, &sc);
    L.active = tt_malloc((size_t)L.B + 1);
    tt_status s = TT_OK;
    if (sc.failed || !L.active) {
        s = tt_op_error(c->node, TETHER_ERR_NO_MEMORY,
                        "out of memory for %" PRId64 " steps of %" PRId64 " rows with hidden size %" PRId64, L.S, L.B,
                        L.H);
    } else {
        /* every step's input projections at once: xw[d] = X · W[d]^T */
        tt_sgemm_batched(false, true, L.S * L.B, L.GH, L.I, 1.0f, L.x, L.I, 0, L.w, L.I, L.GH * L.I, 0.0f, L.xw, L.GH,
                         L.S * L.B * L.GH, L.D);
        for (int64_t d = 0; d < L.D; d++)
            layer_direction(&L, d);
        s = layer_final(c, &L, 1, L.h, &sc);
        if (s == TT_OK && L.r->cell == &g_lstm)
            s = layer_final(c, &L, 2, L.c, &sc);
        tt_tensor *Y = tt_kout(c, 0);
        if (s == TT_OK && Y && L.y != Y->data)
            tt_from_f32(L.y, Y->data, Y->dtype, tt_tensor_numel(Y));
    }
    scratch_free(&sc);
    tt_free(L.active);
    return s;
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

const tt_op_schema tt_schemas_rnn[] = {
    TT_SCHEMA("RNN", 1, 0, infer_cell, .parse = prepare_rnn, .flops = flops_cell),
    TT_SCHEMA("GRU", 1, 0, infer_cell, .parse = prepare_gru, .flops = flops_cell),
    TT_SCHEMA("LSTM", 1, 0, infer_cell, .parse = prepare_lstm, .flops = flops_cell),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_rnn[] = {
    TT_KERNEL("RNN", 1, 0, RNN_TYPES, run_cell),
    TT_KERNEL("GRU", 1, 0, RNN_TYPES, run_cell),
    TT_KERNEL("LSTM", 1, 0, RNN_TYPES, run_cell),
    TT_KERNEL_END,
};
