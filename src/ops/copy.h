/* Data movement shared by the shape, index and scatter ops: one strided-copy engine that
 * moves contiguous runs with memcpy, transposes in cache-sized tiles and broadcasts with
 * stride 0, split over the thread pool; and ownership of copied string elements. */
#ifndef TT_OPS_COPY_H
#define TT_OPS_COPY_H

#include "ops/util.h"

/* Room for Tile, which views each dimension as (repeat, dim). */
#define TT_COPY_MAX_RANK (2 * TT_MAX_RANK)

/* For every index i over dims: the element at dst + sum(i[d] * dst_st[d]) gets the one at
 * src + sum(i[d] * src_st[d]). Strides are in bytes; src strides may be 0 (broadcast) or
 * negative (reversal). The destination elements must be distinct and not overlap src. */
typedef struct tt_copy {
    int rank;
    size_t esize;
    int64_t dims[TT_COPY_MAX_RANK];
    int64_t dst_st[TT_COPY_MAX_RANK], src_st[TT_COPY_MAX_RANK];
    char *dst;
    const char *src;
} tt_copy;

static inline void tt_copy_init(tt_copy *c, size_t esize, void *dst, const void *src)
{
    c->rank = 0;
    c->esize = esize;
    c->dst = dst;
    c->src = src;
}

/* Appends a dimension of n elements; strides in elements. */
static inline void tt_copy_dim(tt_copy *c, int64_t n, int64_t dst_st, int64_t src_st)
{
    TT_ASSERT(c->rank < TT_COPY_MAX_RANK);
    c->dims[c->rank] = n;
    /* unsigned: for an empty copy (some n == 0) the strides may overflow, and go unused */
    c->dst_st[c->rank] = (int64_t)((uint64_t)dst_st * c->esize);
    c->src_st[c->rank] = (int64_t)((uint64_t)src_st * c->esize);
    c->rank++;
}

void tt_copy_run(const tt_copy *c);

/* One element of esize bytes, for loops that move elements one at a time. */
static inline void tt_copy_elem(void *dst, const void *src, size_t esize)
{
    switch (esize) {
    case 1: *(uint8_t *)dst = *(const uint8_t *)src; break;
    case 2: *(uint16_t *)dst = *(const uint16_t *)src; break;
    case 4: *(uint32_t *)dst = *(const uint32_t *)src; break;
    case 8: *(uint64_t *)dst = *(const uint64_t *)src; break;
    default: memcpy(dst, src, esize);
    }
}

/* Copies n elements of esize bytes between non-overlapping buffers, over the thread pool. */
void tt_copy_bytes(void *dst, const void *src, int64_t n, size_t esize);

/* Sets n elements of esize bytes to *value, over the thread pool. */
void tt_copy_fill(void *dst, const void *value, int64_t n, size_t esize);

/* String tensors hold malloc'ed char * elements. Kernels move them as plain 8-byte values:
 * tt_strings_clear drops the "" placeholders an output was allocated with, and once every
 * element points at some source string, tt_strings_own gives each its own copy. Both do
 * nothing for other dtypes. On failure the elements not yet copied are left NULL, which
 * releasing the tensor skips. */
void tt_strings_clear(tt_tensor *t);
tt_status tt_strings_own(tt_tensor *t);

/* dst (allocated, same shape and dtype) becomes a copy of src, strings included. */
tt_status tt_copy_tensor_data(tt_tensor *dst, const tt_tensor *src);

/* Elements [soff, soff + n) of src become elements [doff, doff + n) of dst (same dtype), on
 * the calling thread; strings are duplicated, since each tensor frees its own. */
tt_status tt_copy_tensor_elems(tt_tensor *dst, int64_t doff, const tt_tensor *src, int64_t soff, int64_t n);

#endif
