/* Protobuf wire-format reader. */
#include "model/pb.h"

#include <string.h>

void tt_pb_init(tt_pb *r, const void *data, size_t n)
{
    r->p = data;
    r->end = r->p + n;
    r->base = r->p;
    r->depth = 0;
}

size_t tt_pb_offset(const tt_pb *r, const uint8_t *p) { return (size_t)(p - r->base); }

tt_status tt_pb_sub(const tt_pb *parent, const tt_pb_field *f, tt_pb *sub)
{
    if (f->wire != TT_PB_LEN)
        return tt_error(TETHER_ERR_INVALID_MODEL, "field %u at byte %zu has wire type %d where a message is expected",
                        f->num, f->offset, f->wire);
    if (parent->depth + 1 > TT_PB_MAX_DEPTH)
        return tt_error(TETHER_ERR_INVALID_MODEL, "messages nested deeper than %d at byte %zu", TT_PB_MAX_DEPTH,
                        f->offset);
    sub->p = f->data;
    sub->end = f->data + f->len;
    sub->base = parent->base;
    sub->depth = parent->depth + 1;
    return TT_OK;
}

static int tt_pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *v = x;
            return 0;
        }
    }
    return -1;
}

int tt_pb_next(tt_pb *r, tt_pb_field *f)
{
    if (r->p >= r->end)
        return 0;
    f->offset = tt_pb_offset(r, r->p);
    uint64_t key;
    if (tt_pb_varint(&r->p, r->end, &key) < 0) {
        tt_error(TETHER_ERR_INVALID_MODEL, "truncated or malformed field tag at byte %zu", f->offset);
        return -1;
    }
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->data = NULL; /* only a length-delimited field has bytes */
    f->len = 0;
    if (f->num == 0 || key >> 32) {
        tt_error(TETHER_ERR_INVALID_MODEL, "invalid field number at byte %zu", f->offset);
        return -1;
    }
    switch (f->wire) {
    case TT_PB_VARINT:
        if (tt_pb_varint(&r->p, r->end, &f->u) < 0)
            goto truncated;
        return 1;
    case TT_PB_I64:
        if (r->end - r->p < 8)
            goto truncated;
        memcpy(&f->u, r->p, 8); /* the wire is little-endian, as is every host tether builds for */
        r->p += 8;
        return 1;
    case TT_PB_I32: {
        if (r->end - r->p < 4)
            goto truncated;
        uint32_t v;
        memcpy(&v, r->p, 4);
        f->u = v;
        r->p += 4;
        return 1;
    }
    case TT_PB_LEN: {
        uint64_t len;
        if (tt_pb_varint(&r->p, r->end, &len) < 0)
            goto truncated;
        if (len > (uint64_t)(r->end - r->p)) {
            tt_error(TETHER_ERR_INVALID_MODEL,
                     "field %u at byte %zu claims %llu bytes but only %zu remain (truncated file?)", f->num,
                     f->offset, (unsigned long long)len, (size_t)(r->end - r->p));
            return -1;
        }
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        tt_error(TETHER_ERR_INVALID_MODEL, "unsupported wire type %d for field %u at byte %zu", f->wire, f->num,
                 f->offset);
        return -1;
    }
truncated:
    tt_error(TETHER_ERR_INVALID_MODEL, "field %u at byte %zu is truncated", f->num, f->offset);
    return -1;
}

tt_status tt_pb_count(const tt_pb_field *f, int wire, size_t *count)
{
    if (f->wire == wire) {
        *count = 1;
        return TT_OK;
    }
    if (f->wire != TT_PB_LEN)
        return tt_error(TETHER_ERR_INVALID_MODEL, "field %u at byte %zu has wire type %d, expected %d", f->num,
                        f->offset, f->wire, wire);
    if (wire == TT_PB_VARINT) {
        size_t n = 0;
        for (size_t i = 0; i < f->len; i++)
            n += !(f->data[i] & 0x80);
        if (f->len && (f->data[f->len - 1] & 0x80))
            return tt_error(TETHER_ERR_INVALID_MODEL, "packed field %u at byte %zu ends inside a varint", f->num,
                            f->offset);
        *count = n;
        return TT_OK;
    }
    size_t sz = wire == TT_PB_I32 ? 4 : 8;
    if (f->len % sz)
        return tt_error(TETHER_ERR_INVALID_MODEL, "packed field %u at byte %zu has %zu bytes, not a multiple of %zu",
                        f->num, f->offset, f->len, sz);
    *count = f->len / sz;
    return TT_OK;
}

tt_status tt_pb_varints(const tt_pb_field *f, uint64_t *out, size_t cap, size_t *n)
{
    if (f->wire == TT_PB_VARINT) {
        if (*n >= cap)
            return tt_error(TETHER_ERR_INVALID_MODEL, "too many elements in field %u at byte %zu", f->num, f->offset);
        out[(*n)++] = f->u;
        return TT_OK;
    }
    if (f->wire != TT_PB_LEN)
        return tt_error(TETHER_ERR_INVALID_MODEL, "field %u at byte %zu: expected varints", f->num, f->offset);
    const uint8_t *p = f->data, *end = f->data + f->len;
    while (p < end) {
        if (*n >= cap)
            return tt_error(TETHER_ERR_INVALID_MODEL, "too many elements in field %u at byte %zu", f->num, f->offset);
        if (tt_pb_varint(&p, end, &out[*n]) < 0)
            return tt_error(TETHER_ERR_INVALID_MODEL, "malformed packed varint in field %u at byte %zu", f->num,
                            f->offset);
        (*n)++;
    }
    return TT_OK;
}

static tt_status tt_pb_fixed(const tt_pb_field *f, int wire, void *out, size_t cap, size_t *n)
{
    size_t sz = wire == TT_PB_I32 ? 4 : 8;
    if (f->wire == wire) {
        if (*n >= cap)
            return tt_error(TETHER_ERR_INVALID_MODEL, "too many elements in field %u at byte %zu", f->num, f->offset);
        if (sz == 4) {
            uint32_t v = (uint32_t)f->u;
            memcpy((uint8_t *)out + *n * 4, &v, 4);
        } else {
            memcpy((uint8_t *)out + *n * 8, &f->u, 8);
        }
        (*n)++;
        return TT_OK;
    }
    size_t count = 0;
    TT_TRY(tt_pb_count(f, wire, &count));
    if (count > cap - *n)
        return tt_error(TETHER_ERR_INVALID_MODEL, "too many elements in field %u at byte %zu", f->num, f->offset);
    if (count) /* an empty packed field may come with no array at all */
        memcpy((uint8_t *)out + *n * sz, f->data, count * sz);
    *n += count;
    return TT_OK;
}

tt_status tt_pb_fixed32(const tt_pb_field *f, uint32_t *out, size_t cap, size_t *n)
{
    return tt_pb_fixed(f, TT_PB_I32, out, cap, n);
}

tt_status tt_pb_fixed64(const tt_pb_field *f, uint64_t *out, size_t cap, size_t *n)
{
    return tt_pb_fixed(f, TT_PB_I64, out, cap, n);
}
