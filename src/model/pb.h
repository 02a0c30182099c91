/* A bounds-checked reader for the protobuf wire format: just enough to decode ONNX, with
 * every length checked against the bytes that remain before it is used. */
#ifndef TT_PB_H
#define TT_PB_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TT_PB_VARINT = 0, TT_PB_I64 = 1, TT_PB_LEN = 2, TT_PB_I32 = 5 };

typedef struct tt_pb {
    const uint8_t *p, *end;
    const uint8_t *base;   /* start of the whole buffer, for byte offsets in errors */
    int depth;             /* message nesting, bounded against stack exhaustion */
} tt_pb;

typedef struct tt_pb_field {
    uint32_t num;
    int wire;
    uint64_t u;            /* VARINT, I64, I32 */
    const uint8_t *data;   /* LEN */
    size_t len;
    size_t offset;         /* of the field's tag in the whole buffer */
} tt_pb_field;

#define TT_PB_MAX_DEPTH 64

void tt_pb_init(tt_pb *r, const void *data, size_t n);
/* A reader over a LEN field's bytes, one level deeper; fails past TT_PB_MAX_DEPTH. */
tt_status tt_pb_sub(const tt_pb *parent, const tt_pb_field *f, tt_pb *sub);
/* Next field: returns 1 with *f filled, 0 at the end, or -1 with the error recorded. */
int tt_pb_next(tt_pb *r, tt_pb_field *f);
size_t tt_pb_offset(const tt_pb *r, const uint8_t *p);

/* Repeated scalar fields arrive packed (one LEN field) or one per field. */
/* Elements this field contributes for an element of wire type `wire` (VARINT/I32/I64). */
tt_status tt_pb_count(const tt_pb_field *f, int wire, size_t *count);
/* Appends this field's elements to out[*n..], at most cap in all. */
tt_status tt_pb_varints(const tt_pb_field *f, uint64_t *out, size_t cap, size_t *n);
tt_status tt_pb_fixed32(const tt_pb_field *f, uint32_t *out, size_t cap, size_t *n);
tt_status tt_pb_fixed64(const tt_pb_field *f, uint64_t *out, size_t cap, size_t *n);

#endif
