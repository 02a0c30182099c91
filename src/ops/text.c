/* Text ops: StringNormalizer (stop-word removal and case mapping of UTF-8 strings through a
 * C locale object, never the process-wide locale) and TfIdfVectorizer (counts of skip-grams
 * found in a pool of n-grams, looked up in a hash table built once at load). */
#include "ops/util.h"

#include <inttypes.h>
#include <locale.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <wctype.h>

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

/* Decodes one code point at s[0..n); returns its length, or 0 if the bytes are not UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included). */
static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (!len || (size_t)len > n || s[0] >= 0xf8)
        return 0;
    uint32_t v = s[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static int utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

enum { CASE_NONE, CASE_LOWER, CASE_UPPER };

/* Case-maps s[0..n) into a new heap string; NULL with *bad set when s is not UTF-8. */
static char *map_case(const char *s, size_t n, int action, locale_t loc, bool *bad)
{
    *bad = false;
    if (n > (SIZE_MAX - 1) / 4)
        return NULL;
    char *out = tt_malloc(4 * n + 1); /* a code point never maps to more than 4 bytes */
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!k) {
            tt_free(out);
            *bad = true;
            return NULL;
        }
        i += (size_t)k;
        wint_t w = (wint_t)cp;
        if (action == CASE_LOWER)
            w = towlower_l(w, loc);
        else if (action == CASE_UPPER)
            w = towupper_l(w, loc);
        uint32_t m = (uint32_t)w;
        o += (size_t)utf8_encode(m <= 0x10ffff && !(m >= 0xd800 && m <= 0xdfff) ? m : cp, out + o);
    }
    out[o] = 0;
    return out;
}

/* ---- StringNormalizer ------------------------------------------------------------------------ */

typedef struct strnorm {
    int action;
    bool case_sensitive;
    locale_t loc; /* (locale_t)0 when no case mapping is needed */
    size_t n_stop;
    char **stop; /* sorted; lowercased when matching ignores case */
} strnorm;

static void strnorm_release(void *p)
{
    strnorm *st = p;
    if (!st)
        return;
    for (size_t i = 0; i < st->n_stop; i++)
        tt_free(st->stop[i]);
    tt_free(st->stop);
    if (st->loc)
        freelocale(st->loc);
    tt_free(st);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The locale for case mapping. Only Turkish and Azeri case i differently from Unicode's
 * default rules, so any other locale that is not installed falls back to C.UTF-8, whose
 * case tables are Unicode's: a model exported with locale "de_DE" still loads in a container
 * that only has C.UTF-8. */
static tt_status open_locale(const tt_node *n, const char *name, locale_t *out)
{
    char buf[128];
    const char *tries[3] = {NULL, NULL, NULL};
    if (!*name)
        name = "en_US";
    if (strlen(name) >= sizeof buf - 8 || strchr(name, '/'))
        return tt_op_error(n, TETHER_ERR_INVALID_MODEL, "locale '%.60s' is not a locale name", name);
    snprintf(buf, sizeof buf, "%s.UTF-8", name);
    tries[0] = strchr(name, '.') ? name : buf;
    tries[1] = "C.UTF-8";
    bool special = strncmp(name, "tr", 2) == 0 || strncmp(name, "az", 2) == 0;
    for (int i = 0; i < 2; i++) {
        if (i == 1 && special)
            return tt_op_error(n, TETHER_ERR_UNSUPPORTED,
                               "locale '%s' is not installed, and its case rules differ from the default ones", name);
        locale_t l = newlocale(LC_CTYPE_MASK, tries[i], (locale_t)0);
        if (l) {
            *out = l;
            return TT_OK;
        }
    }
    /* no UTF-8 locale at all: the C locale maps ASCII only, which is still correct for it */
    *out = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
    if (!*out)
        return tt_op_error(n, TETHER_ERR_UNSUPPORTED, "no locale is available for case mapping");
    return TT_OK;
}

static tt_status prepare_strnorm(tt_node *n, void **state)
{
    strnorm *st = tt_calloc(1, sizeof *st);
    if (!st)
        return tt_op_error(n, TETHER_ERR_NO_MEMORY, "out of memory");
    tt_status s = TT_OK;
    const tt_attr *sw = tt_node_attr(n, "stopwords");
    size_t nstop = sw && sw->type == TT_ATTR_STRINGS ? sw->n : 0;
    const char *act = tt_attr_string(n, "case_change_action", "NONE");
    st->action = strcmp(act, "LOWER") == 0 ? CASE_LOWER : strcmp(act, "UPPER") == 0 ? CASE_UPPER : CASE_NONE;
    st->case_sensitive = tt_attr_int(n, "is_case_sensitive", 0) != 0;
    if (st->action == CASE_NONE && strcmp(act, "NONE") != 0) {
        s = tt_op_error(n, TETHER_ERR_INVALID_MODEL, "case_change_action must be LOWER, UPPER or NONE, got '%.40s'",
                        act);
        goto done;
    }
    if (st->action != CASE_NONE || (nstop && !st->case_sensitive)) {
        if ((s = open_locale(n, tt_attr_string(n, "locale", ""), &st->loc)) != TT_OK)
            goto done;
    }
    if (nstop && !(st->stop = tt_calloc(nstop, sizeof *st->stop))) {
        s = tt_op_error(n, TETHER_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nstop; i++) {
        bool bad;
        const char *w = sw->strings[i];
        size_t len = strnlen(w, sw->string_lens[i]);
        st->stop[i] = st->case_sensitive ? tt_malloc(len + 1) : map_case(w, len, CASE_LOWER, st->loc, &bad);
        if (!st->stop[i]) {
            s = st->case_sensitive || !bad ? tt_op_error(n, TETHER_ERR_NO_MEMORY, "out of memory")
                                           : tt_op_error(n, TETHER_ERR_INVALID_MODEL, "stopword %zu is not UTF-8", i);
            goto done;
        }
        st->n_stop++;
        if (st->case_sensitive) {
            memcpy(st->stop[i], w, len);
            st->stop[i][len] = 0;
        }
    }
    if (st->n_stop)
        qsort(st->stop, st->n_stop, sizeof *st->stop, cmp_cstr);
done:
    if (s != TT_OK) {
        strnorm_release(st);
        return s;
    }
    *state = st;
    return TT_OK;
}

static tt_status strnorm_shape(const tt_node *n, int rank, const int64_t *dims)
{
    if (rank == 1 || (rank == 2 && (dims[0] == 1 || dims[0] < 0)))
        return TT_OK;
    return tt_op_error(n, TETHER_ERR_SHAPE, "input must be [C] or [1, C]");
}

static tt_status infer_strnorm(tt_ictx *c)
{
    const tt_type *x = tt_iin(c, 0);
    if (x->rank >= 0)
        TT_TRY(strnorm_shape(c->node, x->rank, x->dims));
    /* how many strings survive depends on the data */
    int64_t dims[2] = {1, TT_DIM_UNKNOWN};
    if (x->rank == 1)
        dims[0] = TT_DIM_UNKNOWN;
    tt_infer_tensor(c, 0, TETHER_DTYPE_STRING, x->rank, dims);
    return TT_OK;
}

static bool is_stopword(const strnorm *st, const char *key)
{
    return st->n_stop && bsearch(&key, st->stop, st->n_stop, sizeof *st->stop, cmp_cstr) != NULL;
}

static tt_status run_strnorm(tt_kctx *c)
{
    const strnorm *st = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    TT_TRY(strnorm_shape(c->node, x->rank, x->dims));
    int64_t n = tt_tensor_numel(x), kept = 0;
    char *const *in = x->data;
    /* out[i]: the normalised string, or NULL for a stop word */
    char **out = tt_calloc((size_t)(n ? n : 1), sizeof *out);
    if (!out)
        return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
    tt_status s = TT_OK;
    for (int64_t i = 0; i < n && s == TT_OK; i++) {
        size_t len = strlen(in[i]);
        bool bad = false;
        if (st->n_stop) {
            char *key = st->case_sensitive ? NULL : map_case(in[i], len, CASE_LOWER, st->loc, &bad);
            if (!st->case_sensitive && !key) {
                s = bad ? tt_op_error(c->node, TETHER_ERR_RUNTIME, "string %" PRId64 " is not UTF-8", i)
                        : tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
                break;
            }
            bool stop = is_stopword(st, key ? key : in[i]);
            tt_free(key);
            if (stop)
                continue;
        }
        if (st->action == CASE_NONE) {
            out[i] = tt_malloc(len + 1);
            if (out[i])
                memcpy(out[i], in[i], len + 1);
        } else {
            out[i] = map_case(in[i], len, st->action, st->loc, &bad);
        }
        if (!out[i])
            s = bad ? tt_op_error(c->node, TETHER_ERR_RUNTIME, "string %" PRId64 " is not UTF-8", i)
                    : tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory");
        else
            kept++;
    }
    if (s == TT_OK) {
        /* nothing left: one empty string, keeping the input's rank */
        int64_t dims[2] = {1, kept ? kept : 1};
        if (x->rank == 1)
            dims[0] = dims[1];
        tt_tensor *y;
        s = tt_kctx_alloc(c, 0, TETHER_DTYPE_STRING, x->rank, dims, &y);
        int64_t k = 0;
        for (int64_t i = 0; i < n && s == TT_OK; i++)
            if (out[i])
                s = tt_tensor_set_string(y, k++, out[i], strlen(out[i]));
        if (s == TT_OK && !kept)
            s = tt_tensor_set_string(y, 0, "", 0);
    }
    for (int64_t i = 0; i < n; i++)
        tt_free(out[i]);
    tt_free(out);
    return s;
}

/* ---- TfIdfVectorizer ------------------------------------------------------------------------------ */

enum { MODE_TF, MODE_IDF, MODE_TFIDF };

typedef struct tfidf {
    int mode;
    int64_t min_n, max_n, max_skip;
    bool strings;
    /* the pool, borrowed from the node's attributes (they live as long as the model) */
    const int64_t *pool_i;
    const char *const *pool_s;
    const size_t *pool_len;
    int64_t n_grams;          /* n-grams in the pool */
    int64_t *start;           /* per n-gram: its first item in the pool */
    int *len;                 /* per n-gram: its length n */
    const int64_t *out_index; /* per n-gram: its output column */
    const float *weights;     /* per n-gram, or NULL for all ones */
    int64_t n_out;            /* output columns: max(ngram_indexes) + 1 */
    /* open addressing: slot -> n-gram id or -1; with each n-gram's hash */
    int64_t *slot;
    uint64_t *hash;
    size_t mask;
} tfidf;

static void tfidf_release(void *p)
{
    tfidf *t = p;
    if (!t)
        return;
    tt_free(t->start);
    tt_free(t->len);
    tt_free(t->slot);
    tt_free(t->hash);
    tt_free(t);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* An n-gram's hash is built item by item, so the input side can extend a prefix's hash. */
static inline uint64_t hash_step(uint64_t h, uint64_t item)
{
    h = (h ^ item) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}
#define HASH_SEED 0x243F6A8885A308D3ull

static uint64_t pool_item_hash(const tfidf *t, int64_t i)
{
    return t->strings ? hash_bytes(t->pool_s[i], t->pool_len[i]) : (uint64_t)t->pool_i[i];
}

static tt_status tfidf_fail(tfidf *t, tt_status s)
{
    tfidf_release(t);
    return s;
}

static tt_status prepare_tfidf(tt_node *n, void **state)
{
    tfidf *t = tt_calloc(1, sizeof *t);
    if (!t)
        return tt_op_error(n, TETHER_ERR_NO_MEMORY, "out of memory");
    const char *mode = tt_attr_string(n, "mode", "");
    t->mode = strcmp(mode, "TF") == 0      ? MODE_TF
              : strcmp(mode, "IDF") == 0   ? MODE_IDF
              : strcmp(mode, "TFIDF") == 0 ? MODE_TFIDF
                                           : -1;
    if (t->mode < 0)
        return tfidf_fail(t,
                          tt_op_error(n, TETHER_ERR_INVALID_MODEL, "mode must be TF, IDF or TFIDF, got '%.40s'", mode));
    t->min_n = tt_attr_int(n, "min_gram_length", 0);
    t->max_n = tt_attr_int(n, "max_gram_length", 0);
    t->max_skip = tt_attr_int(n, "max_skip_count", 0);
    if (t->min_n < 1 || t->max_n < t->min_n || t->max_skip < 0)
        return tfidf_fail(t, tt_op_error(n, TETHER_ERR_INVALID_MODEL,
                                         "need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0, got "
                                         "%" PRId64 ", %" PRId64 ", %" PRId64,
                                         t->min_n, t->max_n, t->max_skip));
    size_t npool_i, npool_s = 0, ncounts, nidx, nweights;
    t->pool_i = tt_attr_ints(n, "pool_int64s", &npool_i);
    const tt_attr *ps = tt_node_attr(n, "pool_strings");
    if (ps && ps->type == TT_ATTR_STRINGS) {
        t->strings = true;
        t->pool_s = ps->strings;
        t->pool_len = ps->string_lens;
        npool_s = ps->n;
    }
    if ((t->pool_i != NULL) == t->strings)
        return tfidf_fail(
            t, tt_op_error(n, TETHER_ERR_INVALID_MODEL, "needs exactly one of pool_int64s and pool_strings"));
    size_t npool = t->strings ? npool_s : npool_i;
    const int64_t *counts = tt_attr_ints(n, "ngram_counts", &ncounts);
    t->out_index = tt_attr_ints(n, "ngram_indexes", &nidx);
    t->weights = tt_attr_floats(n, "weights", &nweights);
    if (!counts || !t->out_index)
        return tfidf_fail(t, tt_op_error(n, TETHER_ERR_INVALID_MODEL, "needs ngram_counts and ngram_indexes"));

    /* ngram_counts[k]: where the (k+1)-grams start in the pool */
    int64_t grams = 0;
    for (size_t k = 0; k < ncounts; k++) {
        int64_t b = counts[k], e = k + 1 < ncounts ? counts[k + 1] : (int64_t)npool;
        if (b < 0 || e < b || e > (int64_t)npool || (e - b) % (int64_t)(k + 1))
            return tfidf_fail(t, tt_op_error(n, TETHER_ERR_INVALID_MODEL,
                                             "ngram_counts[%zu] = %" PRId64 " does not split a pool of %zu items into "
                                             "%zu-grams",
                                             k, b, npool, k + 1));
        grams += (e - b) / (int64_t)(k + 1);
    }
    if ((size_t)grams != nidx)
        return tfidf_fail(t, tt_op_error(n, TETHER_ERR_INVALID_MODEL,
                                         "the pool holds %" PRId64 " n-grams but ngram_indexes has %zu entries", grams,
                                         nidx));
    if (t->weights && nweights != nidx)
        return tfidf_fail(
            t, tt_op_error(n, TETHER_ERR_INVALID_MODEL, "weights has %zu entries for %zu n-grams", nweights, nidx));
    t->n_grams = grams;
    t->n_out = 0;
    for (size_t i = 0; i < nidx; i++) {
        if (t->out_index[i] < 0 || t->out_index[i] >= INT64_MAX / 2)
            return tfidf_fail(t, tt_op_error(n, TETHER_ERR_INVALID_MODEL,
                                             "ngram_indexes[%zu] = %" PRId64 " is out of range", i, t->out_index[i]));
        if (t->out_index[i] + 1 > t->n_out)
            t->n_out = t->out_index[i] + 1;
    }
    size_t cap = 16;
    while (cap < 2 * (size_t)grams)
        cap <<= 1;
    t->mask = cap - 1;
    t->start = tt_malloc((size_t)(grams + 1) * sizeof *t->start);
    t->len = tt_malloc((size_t)(grams + 1) * sizeof *t->len);
    t->hash = tt_malloc((size_t)(grams + 1) * sizeof *t->hash);
    t->slot = tt_malloc(cap * sizeof *t->slot);
    if (!t->start || !t->len || !t->hash || !t->slot)
        return tfidf_fail(t, tt_op_error(n, TETHER_ERR_NO_MEMORY, "out of memory for %" PRId64 " n-grams", grams));
    memset(t->slot, 0xff, cap * sizeof *t->slot);
    int64_t g = 0;
    for (size_t k = 0; k < ncounts; k++) {
        int64_t b = counts[k], e = k + 1 < ncounts ? counts[k + 1] : (int64_t)npool;
        for (int64_t p = b; p < e; p += (int64_t)(k + 1), g++) {
            t->start[g] = p;
            t->len[g] = (int)(k + 1);
            uint64_t h = HASH_SEED;
            for (size_t j = 0; j <= k; j++)
                h = hash_step(h, pool_item_hash(t, p + (int64_t)j));
            t->hash[g] = h;
            size_t s = (size_t)h & t->mask;
            while (t->slot[s] >= 0)
                s = (s + 1) & t->mask;
            t->slot[s] = g;
        }
    }
    *state = t;
    return TT_OK;
}

static tt_status infer_tfidf(tt_ictx *c)
{
    const tfidf *t = c->node->state;
    const tt_type *x = tt_iin(c, 0);
    if (!t)
        return tt_op_error(c->node, TETHER_ERR_INTERNAL, "not prepared");
    if (x->kind == TT_KIND_TENSOR && (x->dtype == TETHER_DTYPE_STRING) != t->strings)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input is %s but the pool holds %s", tt_dtype_name(x->dtype),
                           t->strings ? "strings" : "integers");
    if (x->rank < 0) {
        tt_infer_tensor(c, 0, TETHER_DTYPE_FLOAT, -1, NULL);
        return TT_OK;
    }
    if (x->rank != 1 && x->rank != 2)
        return tt_op_error(c->node, TETHER_ERR_SHAPE, "input must be [C] or [N, C], got rank %d", x->rank);
    int64_t dims[2] = {x->dims[0], t->n_out};
    if (x->rank == 1)
        dims[0] = t->n_out;
    tt_infer_tensor(c, 0, TETHER_DTYPE_FLOAT, x->rank, dims);
    return TT_OK;
}

typedef struct tfidf_job {
    const tfidf *t;
    const tt_tensor *x;
    float *y;
    int64_t cols; /* items per row */
    atomic_bool nomem;
} tfidf_job;

static bool item_eq(const tfidf *t, const tt_tensor *x, int64_t xi, int64_t pi)
{
    if (t->strings) {
        const char *s = ((char *const *)x->data)[xi];
        return strlen(s) == t->pool_len[pi] && memcmp(s, t->pool_s[pi], t->pool_len[pi]) == 0;
    }
    return tt_load_i64(x->data, x->dtype, (size_t)xi) == t->pool_i[pi];
}

/* The pool's n-gram equal to the items base, base + d, ... (n of them), or -1. */
static int64_t find_gram(const tfidf *t, const tt_tensor *x, uint64_t h, int64_t base, int64_t d, int n)
{
    for (size_t s = (size_t)h & t->mask; t->slot[s] >= 0; s = (s + 1) & t->mask) {
        int64_t g = t->slot[s];
        if (t->hash[g] != h || t->len[g] != n)
            continue;
        bool eq = true;
        for (int k = 0; k < n && eq; k++)
            eq = item_eq(t, x, base + k * d, t->start[g] + k);
        if (eq)
            return g;
    }
    return -1;
}

static void tfidf_rows(void *arg, int64_t begin, int64_t end)
{
    tfidf_job *j = arg;
    const tfidf *t = j->t;
    int64_t C = j->cols;
    uint64_t *ih = tt_malloc((size_t)(C ? C : 1) * sizeof *ih);
    int64_t *count = tt_malloc((size_t)(t->n_grams ? t->n_grams : 1) * sizeof *count);
    if (!ih || !count) {
        atomic_store(&j->nomem, true);
        goto done;
    }
    for (int64_t row = begin; row < end; row++) {
        int64_t base = row * C;
        for (int64_t i = 0; i < C; i++)
            ih[i] = t->strings ? hash_bytes(((char *const *)j->x->data)[base + i],
                                            strlen(((char *const *)j->x->data)[base + i]))
                               : (uint64_t)tt_load_i64(j->x->data, j->x->dtype, (size_t)(base + i));
        memset(count, 0, (size_t)t->n_grams * sizeof *count);
        /* items start, start + d, ...: d - 1 items skipped between them; 1-grams once only */
        for (int64_t d = 1; d - 1 <= t->max_skip && d <= (C > 1 ? C - 1 : 1); d++) {
            for (int64_t s = 0; s < C; s++) {
                uint64_t h = HASH_SEED;
                for (int64_t k = 0; k < t->max_n && s + k * d < C; k++) {
                    h = hash_step(h, ih[s + k * d]);
                    int n = (int)(k + 1);
                    if (n < t->min_n || (n == 1 && d > 1))
                        continue;
                    int64_t g = find_gram(t, j->x, h, base + s, d, n);
                    if (g >= 0)
                        count[g]++;
                }
            }
        }
        float *y = j->y + row * t->n_out;
        memset(y, 0, (size_t)t->n_out * sizeof *y);
        for (int64_t g = 0; g < t->n_grams; g++) {
            if (!count[g])
                continue;
            float w = t->weights ? t->weights[g] : 1.0f;
            y[t->out_index[g]] += t->mode == MODE_TF ? (float)count[g] : t->mode == MODE_IDF ? w : (float)count[g] * w;
        }
    }
done:
    tt_free(ih);
    tt_free(count);
}

static tt_status run_tfidf(tt_kctx *c)
{
    const tfidf *t = c->state;
    const tt_tensor *x = tt_kin(c, 0);
    tt_tensor *y = tt_kout(c, 0);
    int64_t rows = x->rank == 2 ? x->dims[0] : 1, cols = x->dims[x->rank - 1];
    tfidf_job j = {.t = t, .x = x, .y = y->data, .cols = cols};
    atomic_init(&j.nomem, false);
    /* work per row: about cols * min(cols, skips) * grams lookups (kept in double: the
     * attributes may be huge) */
    double per_row =
        (double)(cols + 1) * fmin((double)cols + 1, (double)t->max_skip + 1) * fmin((double)cols + 1, (double)t->max_n);
    tt_parallel_for_stoppable(rows, 1 + (int64_t)(65536.0 / per_row), per_row, tfidf_rows, &j);
    if (atomic_load(&j.nomem))
        return tt_op_error(c->node, TETHER_ERR_NO_MEMORY, "out of memory counting n-grams");
    return TT_OK;
}

#define TEXT_TYPES (TT_DT(TETHER_DTYPE_STRING) | TT_DT(TETHER_DTYPE_INT32) | TT_DT(TETHER_DTYPE_INT64))

const tt_op_schema tt_schemas_text[] = {
    TT_SCHEMA("StringNormalizer", 10, 0, infer_strnorm, .parse = prepare_strnorm, .release = strnorm_release),
    TT_SCHEMA("TfIdfVectorizer", 9, 0, infer_tfidf, .parse = prepare_tfidf, .release = tfidf_release),
    TT_SCHEMA_END,
};

/* The reference kernels of these ops, registered by the ref backend (backends/ref/ref.c). */
const tt_kernel tt_ref_text[] = {
    TT_KERNEL("StringNormalizer", 10, 0, TT_DT(TETHER_DTYPE_STRING), run_strnorm),
    TT_KERNEL("TfIdfVectorizer", 9, 0, TEXT_TYPES, run_tfidf),
    TT_KERNEL_END,
};
