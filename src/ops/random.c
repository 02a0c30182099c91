/* Random generators: RandomNormal, RandomUniform and their *Like forms, Bernoulli and
 * Multinomial. Numbers come from xoshiro256** in fixed blocks of elements, each block seeded
 * from (run seed, block index), so the values do not depend on how the work is split over
 * threads. With a `seed` attribute every run of the node gives the same output; without one
 * each run draws a fresh seed. (numpy's generator, which the ONNX suite's expected values
 * come from, is not reproduced.) */
#include "ops/util.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- the generator ------------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    x = splitmix64(&x) ^ stream;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* The seed for one run: from the attribute (ints are accepted too, as some exporters write
 * them), else a fresh one from a process-wide sequence keyed by the OS's entropy. */
static uint64_t run_seed(const tt_node *n)
{
    const tt_attr *a = tt_node_attr(n, "seed");
    if (a && (a->type == TT_ATTR_FLOAT || a->type == TT_ATTR_INT)) {
        double v = a->type == TT_ATTR_FLOAT ? (double)a->f : (double)a->i;
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        return bits;
    }
    static _Atomic uint64_t state;
    uint64_t cur = atomic_load(&state);
    if (cur == 0) {
        uint64_t key = 0;
        if (getrandom(&key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key)
            key = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
        key |= 1; /* 0 means "not yet keyed" */
        atomic_compare_exchange_strong(&state, &cur, key);
    }
    uint64_t x = atomic_fetch_add(&state, 0x9E3779B97F4A7C15ull);
    return splitmix64(&x);
}

/* ---- filling tensors block by block ---------------------------------------------------------- */

#define BLOCK 4096 /* elements per independently seeded block (even: normals come in pairs) */

typedef enum dist { DIST_UNIFORM, DIST_NORMAL, DIST_BERNOULLI } dist;

typedef struct fill_job {
    tt_tensor *y;
    const tt_tensor *p; /* Bernoulli: the probabilities */
    uint64_t seed;
    dist kind;
    double a, b;       /* uniform: low, high; normal: mean, scale */
    atomic_bool bad_p; /* Bernoulli: a probability outside [0, 1] */
} fill_job;

static void fill_blocks(void *arg, int64_t begin, int64_t end)
{
    fill_job *j = arg;
    int64_t n = tt_tensor_numel(j->y);
    for (int64_t blk = begin; blk < end; blk++) {
        rng r;
        rng_seed(&r, j->seed, (uint64_t)blk);
        int64_t lo = blk * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
        for (int64_t i = lo; i < hi; i++) {
            double v;
            if (j->kind == DIST_UNIFORM) {
                v = j->a + (j->b - j->a) * rng_unit(&r);
            } else if (j->kind == DIST_NORMAL) {
                /* Box-Muller: one pair of uniforms gives two independent normals */
                double u1 = 1.0 - rng_unit(&r), u2 = rng_unit(&r);
                double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
                tt_store_f64(j->y->data, j->y->dtype, (size_t)i, j->a + j->b * rad * cos(th));
                if (++i >= hi)
                    break;
                v = j->a + j->b * rad * sin(th);
            } else {
                double p = tt_load_f64(j->p->data, j->p->dtype, (size_t)i);
                if (!(p >= 0.0 && p <= 1.0))
                    atomic_store(&j->bad_p, true);
                v = rng_unit(&r) < p ? 1.0 : 0.0;
            }
            tt_store_f64(j->y->data, j->y->dtype, (size_t)i, v);
        }
    }
}

static tt_status fill(tt_kctx *c, dist kind, double a, double b)
{
    fill_job j = {.y = tt_kout(c, 0), .p = tt_kin(c, 0), .seed = run_seed(c->node), .kind = kind, .a = a, .b = b};
    atomic_init(&j.bad_p, false);
    int64_t n = tt_tensor_numel(j.y);
    tt_parallel_for((n + BLOCK - 1) / BLOCK, 4, fill_blocks, &j);
    if (atomic_load(&j.bad_p))
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "input probabilities must lie in [0, 1]");
    return TT_OK;
}

/* ---- RandomNormal, RandomUniform and the *Like forms ---------------------------------------- */

#define REAL_OUT (TT_DT(TETHER_DTYPE_FLOAT) | TT_DT(TETHER_DTYPE_DOUBLE) | TT_DT(TETHER_DTYPE_FLOAT16))

/* The dtype attribute (def when absent), which must be in mask. */
static tt_status out_dtype(const tt_node *n, tt_dtype def, uint32_t mask, tt_dtype *dt)
{
    const tt_attr *a = tt_node_attr(n, "dtype");
    int64_t v = a && a->type == TT_ATTR_INT ? a->i : (int64_t)def;
    if (!tt_dtype_valid((int)v) || v != (int)v || !((mask >> v) & 1))
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "output dtype %s (%" PRId64 ") is not supported here",
                           tt_dtype_valid((int)v) && v == (int)v ? tt_dtype_name((tt_dtype)v) : "invalid", v);
    *dt = (tt_dtype)v;
    return TT_OK;
}

static tt_status infer_random(tt_ictx *c)
{
    tt_dtype dt;
    TT_TRY(out_dtype(c->node, TETHER_DTYPE_FLOAT, REAL_OUT, &dt));
    size_t rank;
    const int64_t *shape = tt_attr_ints(c->node, "shape", &rank);
    if (!shape)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "needs a 'shape' attribute");
    if (rank > TT_MAX_RANK)
        return tt_op_error(c->node, TETHER_ERR_UNSUPPORTED, "shape has rank %zu; tether supports up to %d", rank,
                           TT_MAX_RANK);
    int64_t numel;
    tt_status s = tt_shape_numel((int)rank, shape, &numel);
    if (s != TT_OK)
        return tt_error_prefix(s, "node '%s' (%s): ", c->node->name, c->node->op_type);
    tt_infer_tensor(c, 0, dt, (int)rank, shape);
    return TT_OK;
}

static tt_status infer_random_like(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (!x || x->kind != TT_KIND_TENSOR)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "input 0 must be a tensor");
    tt_dtype dt;
    TT_TRY(out_dtype(c->node, x->dtype, REAL_OUT, &dt));
    tt_infer_tensor(c, 0, dt, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_normal(tt_kctx *c)
{
    return fill(c, DIST_NORMAL, tt_attr_float(c->node, "mean", 0.0f), tt_attr_float(c->node, "scale", 1.0f));
}

static tt_status run_uniform(tt_kctx *c)
{
    return fill(c, DIST_UNIFORM, tt_attr_float(c->node, "low", 0.0f), tt_attr_float(c->node, "high", 1.0f));
}

/* ---- Bernoulli ----------------------------------------------------------------------------- */

#define BERNOULLI_OUT (TT_DTS_NUMERIC | TT_DT(TETHER_DTYPE_BOOL))

static tt_status infer_bernoulli(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    tt_dtype dt;
    TT_TRY(out_dtype(c->node, x->dtype, BERNOULLI_OUT, &dt));
    tt_infer_tensor(c, 0, dt, x->rank, x->dims);
    return TT_OK;
}

static tt_status run_bernoulli(tt_kctx *c)
{
    return fill(c, DIST_BERNOULLI, 0, 0);
}

/* ---- Multinomial: sample_size draws per row of unnormalised log-probabilities --------------- */

static tt_status infer_multinomial(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    tt_dtype dt;
    TT_TRY(out_dtype(c->node, TETHER_DTYPE_INT32, TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64), &dt));
    int64_t samples = tt_attr_int(c->node, "sample_size", 1);
    if (samples < 1)
        return tt_op_error(c->node, TETHER_ERR_INVALID_MODEL, "sample_size must be positive, got %" PRId64, samples);
    if (x->rank >= 0 && x->rank != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input must be [batch, classes], got rank %d", x->rank);
    int64_t dims[2] = {x->rank == 2 ? x->dims[0] : TT_DIM_UNKNOWN, samples};
    tt_infer_tensor(c, 0, dt, 2, dims);
    return TT_OK;
}

typedef struct multi_job {
    const tt_tensor *x;
    tt_tensor *y;
    uint64_t seed;
    int64_t classes, samples;
    double *cum;         /* per row: running sums of the class weights */
    atomic_bool bad_row; /* a row with NaN, or no class of nonzero probability */
} multi_job;

static void multi_rows(void *arg, int64_t begin, int64_t end)
{
    multi_job *j = arg;
    int64_t K = j->classes;
    for (int64_t row = begin; row < end; row++) {
        double *cum = j->cum + row * K, mx = -INFINITY;
        for (int64_t k = 0; k < K; k++) {
            double v = tt_load_f64(j->x->data, j->x->dtype, (size_t)(row * K + k));
            cum[k] = v;
            if (isnan(v))
                mx = NAN;
            else if (v > mx)
                mx = v;
        }
        /* weights relative to the largest, so exp cannot overflow */
        double total = 0;
        if (isfinite(mx)) {
            for (int64_t k = 0; k < K; k++)
                cum[k] = total += exp(cum[k] - mx);
        }
        if (!(total > 0) || !isfinite(total)) {
            atomic_store(&j->bad_row, true);
            for (int64_t s = 0; s < j->samples; s++)
                tt_store_i64(j->y->data, j->y->dtype, (size_t)(row * j->samples + s), 0);
            continue;
        }
        rng r;
        rng_seed(&r, j->seed, (uint64_t)row);
        for (int64_t s = 0; s < j->samples; s++) {
            double u = rng_unit(&r) * total;
            int64_t lo = 0, hi = K - 1; /* the first class whose running sum exceeds u */
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (cum[mid] > u)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            tt_store_i64(j->y->data, j->y->dtype, (size_t)(row * j->samples + s), lo);
        }
    }
}

static tt_status run_multinomial(tt_kctx *c)
{
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t B = x->dims[0], K = x->dims[1];
    if (B == 0)
        return TT_OK;
    if (K == 0)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input has no classes to sample from");
    multi_job j = {.x = x, .y = y, .seed = run_seed(c->node), .classes = K, .samples = y->dims[1]};
    atomic_init(&j.bad_row, false);
    j.cum = tt_malloc((size_t)(B * K) * sizeof *j.cum);
    if (!j.cum)
        return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory for %" PRId64 "x%" PRId64 " weights", B, K);
    double cost = (double)K + (double)j.samples * (log2((double)K) + 1);
    tt_parallel_for_stoppable(B, 1 + 16384 / (K + j.samples), cost, multi_rows, &j);
    tt_free(j.cum);
    if (atomic_load(&j.bad_row))
        return tt_op_error(c->node, TETHER_ERR_RUNTIME, "a row of log-probabilities holds NaN or no finite value");
    return TT_OK;
}

const tt_op_schema tt_schemas_random[] = {
    TT_SCHEMA("RandomNormal", 1, 0, infer_random, .flags = TT_OP_RANDOM),
    TT_SCHEMA("RandomUniform", 1, 0, infer_random, .flags = TT_OP_RANDOM),
    TT_SCHEMA("RandomNormalLike", 1, 0, infer_random_like, .flags = TT_OP_RANDOM),
    TT_SCHEMA("RandomUniformLike", 1, 0, infer_random_like, .flags = TT_OP_RANDOM),
    TT_SCHEMA("Bernoulli", 15, 0, infer_bernoulli, .flags = TT_OP_RANDOM),
    TT_SCHEMA("Multinomial", 7, 0, infer_multinomial, .flags = TT_OP_RANDOM),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_random[] = {
    TT_KERNEL("RandomNormal", 1, 0, 0, run_normal),
    TT_KERNEL("RandomUniform", 1, 0, 0, run_uniform),
    TT_KERNEL("RandomNormalLike", 1, 0, 0, run_normal),
    TT_KERNEL("RandomUniformLike", 1, 0, 0, run_uniform),
    TT_KERNEL("Bernoulli", 15, 0, TT_DTS_FLOAT, run_bernoulli),
    TT_KERNEL("Multinomial", 7, 0, TT_DTS_FLOAT, run_multinomial),
    TT_KERNEL_END,
};
