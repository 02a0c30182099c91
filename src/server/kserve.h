/* The KServe v2 inference protocol's request and response bodies: JSON tensors and the
 * binary tensor data extension (a JSON header of Inference-Header-Content-Length bytes,
 * then each binary tensor's bytes in order). No HTTP here, so the parser can be fuzzed
 * alone; every count, length, depth and number read is bounded before it is used. */
#ifndef TT_SERVER_KSERVE_H
#define TT_SERVER_KSERVE_H

#include "core/mem.h"
#include "core/status.h"
#include "tether.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tt_kserve_limits {
    size_t max_tensors;        /* inputs (and requested outputs) in one request */
    uint64_t max_tensor_bytes; /* one tensor's data */
    int max_depth;             /* JSON nesting */
} tt_kserve_limits;

typedef struct tt_kserve_output {
    char *name;
    bool binary;
} tt_kserve_output;

typedef struct tt_kserve_req {
    tt_arena arena; /* everything below, input data included */
    char *id;       /* NULL when not given */
    tether_tensor *inputs;
    size_t n_inputs;
    tt_kserve_output *outputs; /* requested outputs (none: all, as JSON unless binary_all) */
    size_t n_outputs;
    bool binary_all; /* parameters.binary_data_output */
} tt_kserve_req;

/* KServe's datatype names ("FP32", "INT64", ...); NULL for a type it has no name for. */
const char *tt_kserve_dtype_name(tether_dtype t);
tether_dtype tt_kserve_dtype_parse(const char *s);

/* Parses an infer request body of len bytes whose first json_len bytes are the JSON
 * header (json_len == len without binary data). INVALID_ARGUMENT naming the field. */
tt_status tt_kserve_parse_infer(const uint8_t *body, size_t len, size_t json_len, const tt_kserve_limits *lim,
                                tt_kserve_req *out);
void tt_kserve_req_free(tt_kserve_req *r);

/* A response body: JSON, then binary output data when any output is sent binary
 * (json_len < len: send Inference-Header-Content-Length: json_len). */
typedef struct tt_kserve_body {
    uint8_t *p;
    size_t len, json_len;
} tt_kserve_body;

/* Encodes the outputs of one request: rows [row0, row0 + rows) of each tensor of out, whose
 * dimension 0 is total, or the whole tensors when total == 0. */
tt_status tt_kserve_encode_infer(const char *model, int64_t version, const tt_kserve_req *req,
                                 const tether_outputs *out, int64_t row0, int64_t rows, int64_t total,
                                 tt_kserve_body *body);
/* {"error": msg}, tt_malloc'ed. */
char *tt_kserve_error_json(const char *msg);

#endif
