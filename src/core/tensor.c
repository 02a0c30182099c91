/* Tensor storage, sequences and value lifetimes. */
#include "core/tensor.h"

#include "core/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t tt_max_tensor_bytes(void)
{
    /* Read once, from any thread: two first callers at once both compute the same value. */
    static uint64_t limit;
    uint64_t l = __atomic_load_n(&limit, __ATOMIC_RELAXED);
    if (!l) {
        const char *env = getenv("TETHER_MAX_TENSOR_BYTES");
        uint64_t v = env ? strtoull(env, NULL, 10) : 0;
        l = v ? v : (uint64_t)16 << 30;
        __atomic_store_n(&limit, l, __ATOMIC_RELAXED);
    }
    return l;
}

tt_status tt_shape_numel(int rank, const int64_t *dims, int64_t *numel)
{
    if (rank < 0 || rank > TT_MAX_RANK)
        return tt_error(TETHER_ERR_SHAPE, "rank %d is out of range 0..%d", rank, TT_MAX_RANK);
    uint64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return tt_error(TETHER_ERR_SHAPE, "dimension %d is negative (%" PRId64 ")", i, dims[i]);
        if (!tt_mul_ok(n, (uint64_t)dims[i], &n) || n > tt_max_tensor_bytes())
            return tt_error(TETHER_ERR_SHAPE, "shape %s has too many elements (limit %" PRIu64 " bytes)",
                            tt_dims_str(rank, dims, (char[160]){0}, 160), tt_max_tensor_bytes());
    }
    *numel = (int64_t)n;
    return TT_OK;
}

tt_status tt_tensor_init(tt_tensor *t, tt_dtype dtype, int rank, const int64_t *dims)
{
    int64_t n;
    TT_TRY(tt_shape_numel(rank, dims, &n));
    uint64_t bytes;
    if (!tt_mul_ok((uint64_t)n, tt_dtype_size(dtype), &bytes) || bytes > tt_max_tensor_bytes())
        return tt_error(TETHER_ERR_SHAPE, "tensor %s of %s is larger than the %" PRIu64 "-byte limit",
                        tt_dims_str(rank, dims, (char[160]){0}, 160), tt_dtype_name(dtype), tt_max_tensor_bytes());
    int64_t d[TT_MAX_RANK]; /* dims may point into *t */
    memcpy(d, dims, sizeof(int64_t) * (size_t)rank);
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->rank = rank;
    memcpy(t->dims, d, sizeof(int64_t) * (size_t)rank);
    return TT_OK;
}

tt_status tt_buf_new(size_t nbytes, bool strings, size_t nstrings, tt_buf **out)
{
    TT_TRY(tt_buf_new_raw(nbytes, out));
    memset((*out)->data, 0, nbytes);
    (*out)->strings = strings;
    (*out)->nstrings = nstrings;
    return TT_OK;
}

tt_status tt_buf_new_raw(size_t nbytes, tt_buf **out)
{
    tt_buf *b = tt_malloc(sizeof *b);
    void *d = tt_malloc_aligned(nbytes);
    if (!b || !d) {
        tt_free(b);
        tt_free_aligned(d);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory allocating %zu bytes", nbytes);
    }
    *b = (tt_buf){.refs = 1, .heap = true, .nbytes = nbytes, .data = d};
    *out = b;
    return TT_OK;
}

static void *host_alloc(const tt_buft *b, size_t bytes)
{
    (void)b;
    void *p = tt_malloc_aligned(bytes ? bytes : 1);
    if (!p)
        tt_error(TETHER_ERR_NO_MEMORY, "out of memory allocating %zu bytes", bytes);
    return p;
}

static void host_free(const tt_buft *b, void *p)
{
    (void)b;
    tt_free_aligned(p);
}

const tt_buft tt_buft_host = {.name = "host", .host = true, .alloc = host_alloc, .free = host_free};

tt_status tt_buf_new_typed(const tt_buft *type, size_t nbytes, tt_buf **out)
{
    if (!type || type == &tt_buft_host)
        return tt_buf_new_raw(nbytes, out);
    tt_buf *b = tt_malloc(sizeof *b);
    if (!b)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory allocating a buffer");
    void *d = type->alloc(type, nbytes);
    if (!d) {
        tt_free(b);
        return tt_error_prefix(TETHER_ERR_NO_MEMORY, "%s: ", type->name);
    }
    *b = (tt_buf){.refs = 1, .heap = true, .type = type, .nbytes = nbytes, .data = d};
    *out = b;
    return TT_OK;
}

void tt_buf_release(tt_buf *b)
{
    if (!b || --b->refs > 0)
        return;
    if (b->strings) {
        char **s = b->data;
        for (size_t i = 0; i < b->nstrings; i++)
            if (s[i])
                tt_free(s[i]);
    }
    if (b->heap && b->type)
        b->type->free(b->type, b->data);
    else if (b->heap)
        tt_free_aligned(b->data);
    if (!b->pooled)
        tt_free(b);
}

tt_status tt_tensor_alloc(tt_tensor *t, tt_dtype dtype, int rank, const int64_t *dims)
{
    TT_TRY(tt_tensor_init(t, dtype, rank, dims));
    size_t n = (size_t)tt_tensor_numel(t);
    bool str = dtype == TETHER_DTYPE_STRING;
    TT_TRY(tt_buf_new(n * tt_dtype_size(dtype), str, str ? n : 0, &t->buf));
    t->data = t->buf->data;
    if (str) {
        char **s = t->data;
        for (size_t i = 0; i < n; i++) {
            s[i] = tt_strdup("");
            if (!s[i]) {
                tt_tensor_release(t);
                return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a string tensor");
            }
        }
    }
    return TT_OK;
}

void tt_tensor_release(tt_tensor *t)
{
    tt_buf_release(t->buf);
    t->buf = NULL;
    t->data = NULL;
}

tt_status tt_tensor_set_string(tt_tensor *t, int64_t i, const char *s, size_t len)
{
    char *d = tt_malloc(len + 1);
    if (!d)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a string of %zu bytes", len);
    memcpy(d, s, len);
    d[len] = 0;
    char **arr = t->data;
    tt_free(arr[i]);
    arr[i] = d;
    return TT_OK;
}

tt_status tt_tensor_clone(const tt_tensor *src, tt_tensor *dst)
{
    tt_tensor t;
    TT_TRY(tt_tensor_alloc(&t, src->dtype, src->rank, src->dims));
    if (src->dtype == TETHER_DTYPE_STRING) {
        int64_t n = tt_tensor_numel(src);
        char *const *s = src->data;
        for (int64_t i = 0; i < n; i++) {
            tt_status st = tt_tensor_set_string(&t, i, s[i], strlen(s[i]));
            if (st != TT_OK) {
                tt_tensor_release(&t);
                return st;
            }
        }
    } else if (tt_tensor_nbytes(src)) {
        memcpy(t.data, src->data, tt_tensor_nbytes(src));
    }
    *dst = t;
    return TT_OK;
}

tt_status tt_seq_new(tt_dtype dtype, int cap, tt_seq **out)
{
    tt_seq *s = tt_calloc(1, sizeof *s);
    if (!s)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a sequence");
    s->dtype = dtype;
    if (cap > 0) {
        s->items = tt_calloc((size_t)cap, sizeof *s->items);
        if (!s->items) {
            tt_free(s);
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for a sequence of %d", cap);
        }
        s->cap = cap;
    }
    *out = s;
    return TT_OK;
}

tt_status tt_seq_insert(tt_seq *s, int pos, tt_tensor *t)
{
    if (pos < 0 || pos > s->n)
        pos = s->n;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 4;
        tt_tensor *items = tt_realloc(s->items, (size_t)cap * sizeof *items);
        if (!items)
            return tt_error(TETHER_ERR_NO_MEMORY, "out of memory growing a sequence");
        s->items = items;
        s->cap = cap;
    }
    memmove(s->items + pos + 1, s->items + pos, (size_t)(s->n - pos) * sizeof *s->items);
    s->items[pos] = *t;
    s->n++;
    return TT_OK;
}

void tt_seq_free(tt_seq *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        tt_tensor_release(&s->items[i]);
    tt_free(s->items);
    tt_free(s);
}

void tt_value_release(tt_value *v)
{
    if (v->kind == TT_KIND_TENSOR)
        tt_tensor_release(&v->t);
    else if (v->kind == TT_KIND_SEQUENCE)
        tt_seq_free(v->seq);
    memset(v, 0, sizeof *v);
}

tt_status tt_value_share(const tt_value *v, tt_value *out)
{
    memset(out, 0, sizeof *out);
    out->kind = v->kind;
    if (v->kind == TT_KIND_TENSOR) {
        out->t = tt_tensor_share(&v->t);
    } else if (v->kind == TT_KIND_SEQUENCE) {
        tt_seq *s = NULL;
        TT_TRY(tt_seq_new(v->seq->dtype, v->seq->n, &s));
        for (int i = 0; i < v->seq->n; i++)
            s->items[i] = tt_tensor_share(&v->seq->items[i]);
        s->n = v->seq->n;
        out->seq = s;
    }
    return TT_OK;
}

const char *tt_dims_str(int rank, const int64_t *dims, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ",%" PRId64 : "%" PRId64, dims[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
    return buf;
}

const char *tt_tensor_desc(const tt_tensor *t, char *buf, size_t n)
{
    char d[160];
    snprintf(buf, n, "%s%s", tt_dtype_name(t->dtype), tt_dims_str(t->rank, t->dims, d, sizeof d));
    return buf;
}
