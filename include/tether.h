/* tether.h: the public C API of libtether.
 *
 * Open an ONNX model as a session on a target ("cpu", "eia:N" or "tcp://host:port"),
 * query its inputs and outputs, run it with named tensors. Every call returns a
 * tether_status; on failure tether_last_error() gives a message naming what was wrong.
 * Handles are opaque; a session may be run from several threads at once. */
#ifndef TETHER_H
#define TETHER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TETHER_BUILDING_LIB)
#define TETHER_API __attribute__((visibility("default")))
#else
#define TETHER_API
#endif

#define TETHER_MAX_RANK 8

typedef enum tether_status {
    TETHER_OK = 0,
    TETHER_ERR_INVALID_ARGUMENT = 1, /* a caller passed something wrong */
    TETHER_ERR_INVALID_MODEL = 2,    /* the model file is malformed */
    TETHER_ERR_UNSUPPORTED = 3,      /* well-formed, but an op / type / feature is not implemented */
    TETHER_ERR_NO_MEMORY = 4,
    TETHER_ERR_IO = 5,
    TETHER_ERR_SHAPE = 6,            /* a tensor's dtype or shape does not fit */
    TETHER_ERR_RUNTIME = 7,          /* a kernel failed on its data (index out of range, ...) */
    TETHER_ERR_NOT_FOUND = 8,
    TETHER_ERR_QUOTA = 9,            /* over an accelerator slot's memory or compute quota */
    TETHER_ERR_AUTH = 10,            /* missing or wrong attachment token */
    TETHER_ERR_NETWORK = 11,         /* connection refused, reset, unreachable */
    TETHER_ERR_TIMEOUT = 12,
    TETHER_ERR_PROTOCOL = 13,        /* a malformed or unexpected frame */
    TETHER_ERR_BUSY = 14,            /* no free slot / resource exhausted, try later */
    TETHER_ERR_INTERNAL = 15,
} tether_status;

/* Element types; the values are ONNX's TensorProto.DataType. */
typedef enum tether_dtype {
    TETHER_DTYPE_UNDEFINED = 0,
    TETHER_DTYPE_FLOAT = 1,
    TETHER_DTYPE_UINT8 = 2,
    TETHER_DTYPE_INT8 = 3,
    TETHER_DTYPE_UINT16 = 4,
    TETHER_DTYPE_INT16 = 5,
    TETHER_DTYPE_INT32 = 6,
    TETHER_DTYPE_INT64 = 7,
    TETHER_DTYPE_STRING = 8, /* data is an array of NUL-terminated `char *` */
    TETHER_DTYPE_BOOL = 9,   /* one byte per element, 0 or 1 */
    TETHER_DTYPE_FLOAT16 = 10,
    TETHER_DTYPE_DOUBLE = 11,
    TETHER_DTYPE_UINT32 = 12,
    TETHER_DTYPE_UINT64 = 13,
    TETHER_DTYPE_COMPLEX64 = 14,
    TETHER_DTYPE_COMPLEX128 = 15,
    TETHER_DTYPE_BFLOAT16 = 16,
    /* The small types: one byte per element in memory (as ml_dtypes lays them out), the
     * element's bit pattern in the low bits; models store the 4- and 2-bit ones packed. */
    TETHER_DTYPE_FLOAT8E4M3FN = 17,
    TETHER_DTYPE_FLOAT8E4M3FNUZ = 18,
    TETHER_DTYPE_FLOAT8E5M2 = 19,
    TETHER_DTYPE_FLOAT8E5M2FNUZ = 20,
    TETHER_DTYPE_UINT4 = 21,      /* 0..15 in the low 4 bits */
    TETHER_DTYPE_INT4 = 22,       /* -8..7, two's complement in the low 4 bits */
    TETHER_DTYPE_FLOAT4E2M1 = 23, /* in the low 4 bits */
    TETHER_DTYPE_FLOAT8E8M0 = 24, /* a power of two: 2^(byte - 127); 255 is NaN */
    TETHER_DTYPE_UINT2 = 25,      /* 0..3 in the low 2 bits */
    TETHER_DTYPE_INT2 = 26,       /* -2..1, two's complement in the low 2 bits */
} tether_dtype;

/* A tensor as the caller sees it: a view over memory the caller (inputs) or the
 * library (outputs) owns. Input data is read in place, never copied. */
typedef struct tether_tensor {
    const char *name;
    tether_dtype dtype;
    int rank;
    int64_t dims[TETHER_MAX_RANK];
    void *data;      /* C order, native byte order */
    size_t size;     /* bytes at data */
} tether_tensor;

/* An input or output as the model declares it. dims[i] < 0 is a dimension not fixed
 * by the model (named by dim_names[i] when the model names it, else NULL). */
typedef struct tether_value_info {
    const char *name;
    tether_dtype dtype; /* UNDEFINED for a non-tensor value (sequence, optional) */
    int rank;           /* -1 when the model does not fix the rank */
    int64_t dims[TETHER_MAX_RANK];
    const char *dim_names[TETHER_MAX_RANK];
} tether_value_info;

/* An input's dimensions as the caller states them (tether_session_config.input_dims), as a
 * serving config's `dims` does: rank entries, each -1 (free: any size at run time, e.g. the
 * batch of a model exported with batch 1) or > 0 (fixed). A dimension the model fixes may
 * be freed but not changed to another size; one it leaves free may be fixed. */
typedef struct tether_input_dims {
    const char *name; /* a graph input of the model */
    int rank;         /* the input's rank */
    int64_t dims[TETHER_MAX_RANK];
} tether_input_dims;

/* Session open options; start from tether_session_config_init(). `size` is the struct's
 * size as the caller was built (init sets it): the library reads only the fields that fit
 * in it and takes the defaults for the rest, so fields added later never break a caller
 * built against an older header. */
typedef struct tether_session_config {
    size_t size;         /* sizeof(tether_session_config); 0 is refused */
    const char *target;  /* "cpu" (default), "eia:N", "tcp://host:port", "unix:/path" */
    int warmup;          /* 1 (default): plan memory and run once at open so the first run is fast */
    int quiet;           /* 1: do not log where the session runs */
    int timeout_ms;      /* remote targets: per-request timeout (0: default 30000) */
    int run_limit_ms;    /* local runs: a run still going after this long stops with
                            TETHER_ERR_TIMEOUT (0: no limit), e.g. a Loop that never ends */
    int num_threads;     /* threads one run uses at most (0: the whole process pool, see
                            tether_set_num_threads); for an accelerator target, the most the
                            server gives each run of this session (a server older than this
                            field opens the session without the cap, and says so) */
    const char *precision; /* NULL or "fp32" (default); device targets: "tf32" or "fp16" for
                              matrix products and convolutions (tensors stay fp32); local CPU
                              targets: "bf16" (where the CPU has it) or "int8" (weights per
                              output channel, activations per sample, quantised at run time)
                              for the cpu backend's convolutions and its matrix products
                              with constant weights (activations per row) */
    uint64_t device_memory_limit; /* device targets: bytes of device memory the session may
                              hold (0: no limit); past it, open or run fails with
                              TETHER_ERR_QUOTA naming both numbers */
    const tether_input_dims *input_dims; /* local targets: n_input_dims inputs' dimensions,
                              set before the model is compiled (shape inference then runs
                              from them; runs are checked against them) */
    size_t n_input_dims;
} tether_session_config;

typedef struct tether_session tether_session;
typedef struct tether_outputs tether_outputs;

/* What a session holds and does, from its memory plan and graph. */
typedef struct tether_session_stats {
    uint64_t weight_bytes;      /* initializers held by the session */
    uint64_t activation_bytes;  /* planned peak of intermediate tensors for one run */
    uint64_t flops;             /* floating-point operations per run at the planned shapes */
    uint64_t parameters;        /* elements in float initializers */
    int nodes;
    char where[256];            /* "cpu" or "eia:0 (id, type, endpoint)" */
    uint64_t device_bytes;      /* device memory held (weights, arenas, workspace); 0 on the CPU */
} tether_session_stats;

TETHER_API const char *tether_version(void);
/* The message of the last failed call on this thread ("" if none). */
TETHER_API const char *tether_last_error(void);
TETHER_API const char *tether_status_name(tether_status s);
TETHER_API const char *tether_dtype_name(tether_dtype t);
TETHER_API size_t tether_dtype_size(tether_dtype t);

/* Size the process-wide thread pool (default: all online cores). Call before the
 * first session opens to take effect; later calls resize it. */
TETHER_API tether_status tether_set_num_threads(int n);

TETHER_API void tether_session_config_init(tether_session_config *cfg);
TETHER_API tether_status tether_session_open(tether_session **out, const char *model_path,
                                             const tether_session_config *cfg);
TETHER_API tether_status tether_session_open_bytes(tether_session **out, const void *model, size_t size,
                                                   const tether_session_config *cfg);
TETHER_API void tether_session_free(tether_session *s);

TETHER_API size_t tether_session_input_count(const tether_session *s);
TETHER_API size_t tether_session_output_count(const tether_session *s);
TETHER_API tether_status tether_session_input_info(const tether_session *s, size_t i, tether_value_info *info);
TETHER_API tether_status tether_session_output_info(const tether_session *s, size_t i, tether_value_info *info);
TETHER_API tether_status tether_session_stats_get(const tether_session *s, tether_session_stats *stats);

/* Run the model. inputs are matched by name (or by position when name is NULL).
 * On success *out holds every graph output; free it with tether_outputs_free. */
TETHER_API tether_status tether_session_run(tether_session *s, const tether_tensor *inputs, size_t n_inputs,
                                            tether_outputs **out);

TETHER_API size_t tether_outputs_count(const tether_outputs *o);
TETHER_API const tether_tensor *tether_outputs_get(const tether_outputs *o, size_t i);
TETHER_API const tether_tensor *tether_outputs_find(const tether_outputs *o, const char *name);
/* Floating-point operations the run that made o performed (0 when unknown). */
TETHER_API uint64_t tether_outputs_flops(const tether_outputs *o);
TETHER_API void tether_outputs_free(tether_outputs *o);

#ifdef __cplusplus
}
#endif
#endif
