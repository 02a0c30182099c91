/* The strided-copy engine behind Transpose, Slice, Concat, Split, Tile, Expand and the
 * depth/space rearrangements, and the ownership rules for string elements they move. */
#include "ops/copy.h"

#include <inttypes.h>

/* Work per task that is worth handing to another thread. */
#define COPY_TASK_BYTES ((int64_t)64 << 10)
/* Tiles of TILE x TILE elements keep both sides of a transpose in L1. */
#define TILE 16

enum { MODE_RUN, MODE_ELEM, MODE_TILE };

/* A normalised copy: `outer` dims walked row by row, then one inner dim (RUN, ELEM) or two
 * (TILE: rows contiguous in src, columns contiguous in dst). */
typedef struct copy_job {
    tt_copy c;
    int outer, mode;
    int64_t pieces;      /* RUN, ELEM: long rows are split into pieces of piece_len elements */
    int64_t piece_len;
} copy_job;

typedef struct { uint64_t lo, hi; } elem16;

static void row_start(const copy_job *j, int64_t row, int64_t *idx, int64_t *doff, int64_t *soff)
{
    int64_t d_off = 0, s_off = 0;
    for (int d = j->outer - 1; d >= 0; d--) {
        idx[d] = row % j->c.dims[d];
        row /= j->c.dims[d];
        d_off += idx[d] * j->c.dst_st[d];
        s_off += idx[d] * j->c.src_st[d];
    }
    *doff = d_off;
    *soff = s_off;
}

static void row_next(const copy_job *j, int64_t *idx, int64_t *doff, int64_t *soff)
{
    for (int d = j->outer - 1; d >= 0; d--) {
        *doff += j->c.dst_st[d];
        *soff += j->c.src_st[d];
        if (++idx[d] < j->c.dims[d])
            return;
        *doff -= j->c.dst_st[d] * j->c.dims[d];
        *soff -= j->c.src_st[d] * j->c.dims[d];
        idx[d] = 0;
    }
}

#define ELEM_LOOP(T)                                                  \
    for (int64_t k = 0; k < n; k++)                                   \
        *(T *)(d + k * ds) = *(const T *)(s + k * ss);                \
    return;

static void copy_elems(char *d, const char *s, int64_t n, int64_t ds, int64_t ss, size_t es)
{
    switch (es) {
    case 1: ELEM_LOOP(uint8_t)
    case 2: ELEM_LOOP(uint16_t)
    case 4: ELEM_LOOP(uint32_t)
    case 8: ELEM_LOOP(uint64_t)
    case 16: ELEM_LOOP(elem16)
    default:
        for (int64_t k = 0; k < n; k++)
            memcpy(d + k * ds, s + k * ss, es);
    }
}

#define TILE_LOOP(T)                                                                      \
    {                                                                                     \
        T *dp = (T *)d;                                                                   \
        const T *sp = (const T *)s;                                                       \
        int64_t dr = drow / (int64_t)sizeof(T), sc = scol / (int64_t)sizeof(T);           \
        for (int64_t i0 = 0; i0 < nr; i0 += TILE)                                         \
            for (int64_t k0 = 0; k0 < nc; k0 += TILE) {                                   \
                int64_t i1 = i0 + TILE < nr ? i0 + TILE : nr;                             \
                int64_t k1 = k0 + TILE < nc ? k0 + TILE : nc;                             \
                for (int64_t i = i0; i < i1; i++)                                         \
                    for (int64_t k = k0; k < k1; k++)                                     \
                        dp[i * dr + k] = sp[i + k * sc];                                  \
            }                                                                             \
        return;                                                                           \
    }

/* nr x nc elements where src walks rows contiguously (srow == es) and dst walks columns
 * contiguously (dcol == es): copying tile by tile keeps the lines of both in cache. */
static void copy_tile(char *d, const char *s, int64_t nr, int64_t nc, int64_t drow, int64_t scol, size_t es)
{
    switch (es) {
    case 1: TILE_LOOP(uint8_t)
    case 2: TILE_LOOP(uint16_t)
    case 4: TILE_LOOP(uint32_t)
    case 8: TILE_LOOP(uint64_t)
    case 16: TILE_LOOP(elem16)
    default:
        for (int64_t i = 0; i < nr; i++)
            copy_elems(d + i * drow, s + i * (int64_t)es, nc, (int64_t)es, scol, es);
    }
}

static void copy_rows(void *arg, int64_t begin, int64_t end)
{
    const copy_job *j = arg;
    const tt_copy *c = &j->c;
    int64_t idx[TT_COPY_MAX_RANK], doff, soff;
    int in = j->outer; /* first inner dim */
    if (j->pieces > 1) {
        for (int64_t t = begin; t < end; t++) {
            int64_t from = t % j->pieces * j->piece_len;
            int64_t len = c->dims[in] - from < j->piece_len ? c->dims[in] - from : j->piece_len;
            row_start(j, t / j->pieces, idx, &doff, &soff);
            char *d = c->dst + doff + from * c->dst_st[in];
            const char *s = c->src + soff + from * c->src_st[in];
            if (j->mode == MODE_RUN)
                memcpy(d, s, (size_t)len * c->esize);
            else
                copy_elems(d, s, len, c->dst_st[in], c->src_st[in], c->esize);
        }
        return;
    }
    row_start(j, begin, idx, &doff, &soff);
    for (int64_t r = begin; r < end; r++) {
        char *d = c->dst + doff;
        const char *s = c->src + soff;
        switch (j->mode) {
        case MODE_RUN: memcpy(d, s, (size_t)c->dims[in] * c->esize); break;
        case MODE_ELEM: copy_elems(d, s, c->dims[in], c->dst_st[in], c->src_st[in], c->esize); break;
        default:
            copy_tile(d, s, c->dims[in], c->dims[in + 1], c->dst_st[in], c->src_st[in + 1], c->esize);
        }
        row_next(j, idx, &doff, &soff);
    }
}

void tt_copy_run(const tt_copy *in)
{
    copy_job j = {.c = *in};
    tt_copy *c = &j.c;
    int64_t es = (int64_t)c->esize;
    /* drop unit dims and merge neighbours that both sides walk as one */
    int r = 0;
    for (int d = 0; d < in->rank; d++) {
        if (in->dims[d] == 0)
            return;
        if (in->dims[d] == 1)
            continue;
        if (r > 0 && c->dst_st[r - 1] == in->dst_st[d] * in->dims[d] &&
            c->src_st[r - 1] == in->src_st[d] * in->dims[d]) {
            c->dims[r - 1] *= in->dims[d];
            c->dst_st[r - 1] = in->dst_st[d];
            c->src_st[r - 1] = in->src_st[d];
            continue;
        }
        c->dims[r] = in->dims[d];
        c->dst_st[r] = in->dst_st[d];
        c->src_st[r] = in->src_st[d];
        r++;
    }
    if (r == 0) {
        memcpy(c->dst, c->src, c->esize);
        return;
    }
    c->rank = r;
    int last = r - 1;
    int64_t inner_bytes = c->dims[last] * es;
    j.mode = MODE_ELEM;
    if (c->dst_st[last] == es && c->src_st[last] == es) {
        j.mode = MODE_RUN;
    } else if (c->dst_st[last] == es) {
        /* a dim that src walks contiguously: make it the tile's rows */
        for (int t = last - 1; t >= 0; t--) {
            if (c->src_st[t] != es)
                continue;
            int64_t n = c->dims[t], ds = c->dst_st[t], ss = c->src_st[t];
            for (int u = t; u < last - 1; u++) {
                c->dims[u] = c->dims[u + 1];
                c->dst_st[u] = c->dst_st[u + 1];
                c->src_st[u] = c->src_st[u + 1];
            }
            c->dims[last - 1] = n;
            c->dst_st[last - 1] = ds;
            c->src_st[last - 1] = ss;
            j.mode = MODE_TILE;
            inner_bytes *= n;
            break;
        }
    }
    j.outer = j.mode == MODE_TILE ? r - 2 : r - 1;
    int64_t rows = tt_dims_prod(c->dims, 0, j.outer);
    int64_t tasks = rows;
    j.pieces = 1;
    if (j.mode != MODE_TILE && inner_bytes > 2 * COPY_TASK_BYTES && rows < 4 * (int64_t)tt_threads()) {
        j.pieces = inner_bytes / COPY_TASK_BYTES;
        j.piece_len = (c->dims[last] + j.pieces - 1) / j.pieces;
        j.pieces = (c->dims[last] + j.piece_len - 1) / j.piece_len;
        tasks = rows * j.pieces;
        inner_bytes = j.piece_len * es;
    }
    int64_t grain = COPY_TASK_BYTES / inner_bytes;
    tt_parallel_for(tasks, grain < 1 ? 1 : grain, copy_rows, &j);
}

void tt_copy_bytes(void *dst, const void *src, int64_t n, size_t esize)
{
    tt_copy c;
    tt_copy_init(&c, esize, dst, src);
    tt_copy_dim(&c, n, 1, 1);
    tt_copy_run(&c);
}

void tt_copy_fill(void *dst, const void *value, int64_t n, size_t esize)
{
    tt_copy c;
    tt_copy_init(&c, esize, dst, value);
    tt_copy_dim(&c, n, 1, 0);
    tt_copy_run(&c);
}

void tt_strings_clear(tt_tensor *t)
{
    if (t->dtype != TETHER_DTYPE_STRING)
        return;
    char **s = t->data;
    for (int64_t i = 0, n = tt_tensor_numel(t); i < n; i++) {
        tt_free(s[i]);
        s[i] = NULL;
    }
}

tt_status tt_strings_own(tt_tensor *t)
{
    if (t->dtype != TETHER_DTYPE_STRING)
        return TT_OK;
    char **s = t->data;
    int64_t n = tt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        char *copy = tt_strdup(s[i]);
        if (!copy) {
            for (int64_t k = i; k < n; k++)
                s[k] = NULL;
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory copying %" PRId64 " strings", n);
        }
        s[i] = copy;
    }
    return TT_OK;
}

tt_status tt_copy_tensor_data(tt_tensor *dst, const tt_tensor *src)
{
    tt_strings_clear(dst);
    tt_copy_bytes(dst->data, src->data, tt_tensor_numel(src), tt_dtype_size(src->dtype));
    return tt_strings_own(dst);
}

tt_status tt_copy_tensor_elems(tt_tensor *dst, int64_t doff, const tt_tensor *src, int64_t soff, int64_t n)
{
    if (n <= 0)
        return TT_OK;
    if (dst->dtype != TETHER_DTYPE_STRING) {
        size_t es = tt_dtype_size(dst->dtype);
        memcpy((char *)dst->data + (size_t)doff * es, (const char *)src->data + (size_t)soff * es, (size_t)n * es);
        return TT_OK;
    }
    char *const *s = src->data;
    for (int64_t i = 0; i < n; i++)
        TT_TRY(tt_tensor_set_string(dst, doff + i, s[soff + i], strlen(s[soff + i])));
    return TT_OK;
}
