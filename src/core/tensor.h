/* Runtime values: tensors (a shape over refcounted storage), sequences of tensors, and
 * the absent value of an empty optional. */
#ifndef TT_TENSOR_H
#define TT_TENSOR_H

#include "core/dtype.h"
#include "core/status.h"

#include <stdbool.h>
#include <stdint.h>

#define TT_MAX_RANK TETHER_MAX_RANK

/* A kind of memory. Host buffer types are addressable by the CPU (plain or pinned host
 * memory); others (a device's memory) are reached only through their backend's kernels
 * and copies (src/backends/backend.h). */
typedef struct tt_buft {
    const char *name;  /* "host", "cuda:0", "cuda:0-pinned" */
    bool host;
    /* Allocates bytes aligned to TT_ALIGN; NULL when out of memory (the error is set). */
    void *(*alloc)(const struct tt_buft *b, size_t bytes);
    void (*free)(const struct tt_buft *b, void *p);
    void *ctx;         /* the backend's */
} tt_buft;

/* The host's own memory (tt_malloc_aligned). */
extern const tt_buft tt_buft_host;
/* Whether memory of type b (NULL: plain host memory) is addressable by the CPU. */
static inline bool tt_buft_is_host(const tt_buft *b) { return !b || b->host; }

/* Storage shared by a tensor and its views. refs counts the tensors pointing at it. */
typedef struct tt_buf {
    int refs;
    const tt_buft *type; /* NULL: host memory; heap data of another type is freed by type->free */
    bool heap;         /* data is tt_malloc_aligned'ed and freed with the buf */
    bool pooled;       /* the struct itself belongs to a run context: not freed */
    bool strings;      /* data is an array of nstrings malloc'ed char * to free */
    size_t nbytes, nstrings;
    void *data;
} tt_buf;

typedef struct tt_tensor {
    tt_dtype dtype;
    int rank;
    int64_t dims[TT_MAX_RANK];
    void *data;
    tt_buf *buf;       /* NULL: borrowed (caller input, initializer) */
} tt_tensor;

typedef struct tt_seq {
    int n, cap;
    tt_dtype dtype;    /* element type, known even when empty */
    tt_tensor *items;  /* each holds a reference on its storage */
} tt_seq;

typedef enum tt_kind {
    TT_KIND_NONE = 0,     /* no value: an omitted input, an empty optional */
    TT_KIND_TENSOR = 1,
    TT_KIND_SEQUENCE = 2,
    TT_KIND_OPTIONAL = 3, /* types only: values of optional type are NONE or their element */
    TT_KIND_MAP = 4,      /* types only: recognised so errors can name it */
} tt_kind;

typedef struct tt_value {
    tt_kind kind;
    tt_tensor t;       /* kind == TENSOR */
    tt_seq *seq;       /* kind == SEQUENCE */
} tt_value;

/* The largest single tensor tether will allocate (TETHER_MAX_TENSOR_BYTES, default 16 GiB):
 * a hostile shape gets an error rather than the process killed for memory. */
uint64_t tt_max_tensor_bytes(void);

/* Element count of a shape; fails on negative dims or overflow past the tensor limit. */
tt_status tt_shape_numel(int rank, const int64_t *dims, int64_t *numel);
static inline int64_t tt_tensor_numel(const tt_tensor *t)
{
    /* an empty tensor's other dimensions may multiply past 64 bits: a 0 settles it first */
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] == 0)
            return 0;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}
static inline size_t tt_tensor_nbytes(const tt_tensor *t) { return (size_t)tt_tensor_numel(t) * tt_dtype_size(t->dtype); }

/* Shape a tensor descriptor (no storage). */
tt_status tt_tensor_init(tt_tensor *t, tt_dtype dtype, int rank, const int64_t *dims);
/* Allocate heap storage for t (zeroed; string elements set to ""). */
tt_status tt_tensor_alloc(tt_tensor *t, tt_dtype dtype, int rank, const int64_t *dims);
tt_status tt_buf_new(size_t nbytes, bool strings, size_t nstrings, tt_buf **out);
/* Like tt_buf_new for non-string data, but the bytes are left uninitialised. */
tt_status tt_buf_new_raw(size_t nbytes, tt_buf **out);
/* Uninitialised storage of buffer type type (NULL: host). */
tt_status tt_buf_new_typed(const tt_buft *type, size_t nbytes, tt_buf **out);
/* Whether t's storage is addressable by the CPU. */
static inline bool tt_tensor_on_host(const tt_tensor *t) { return !t->buf || tt_buft_is_host(t->buf->type); }
void tt_buf_release(tt_buf *b);
/* Another reference to the same storage (a view). */
static inline tt_tensor tt_tensor_share(const tt_tensor *t)
{
    if (t->buf)
        t->buf->refs++;
    return *t;
}
void tt_tensor_release(tt_tensor *t);
/* A deep copy with its own heap storage. */
tt_status tt_tensor_clone(const tt_tensor *src, tt_tensor *dst);
/* Set string element i (copies s). */
tt_status tt_tensor_set_string(tt_tensor *t, int64_t i, const char *s, size_t len);

tt_status tt_seq_new(tt_dtype dtype, int cap, tt_seq **out);
/* Appends at position pos (-1 = end); takes the caller's reference on t. */
tt_status tt_seq_insert(tt_seq *s, int pos, tt_tensor *t);
void tt_seq_free(tt_seq *s);

void tt_value_release(tt_value *v);
/* Another reference to v's contents (sequences are copied shallowly). */
tt_status tt_value_share(const tt_value *v, tt_value *out);

/* "float32[1,3,224,224]" into buf. */
const char *tt_tensor_desc(const tt_tensor *t, char *buf, size_t n);
const char *tt_dims_str(int rank, const int64_t *dims, char *buf, size_t n);

#endif
