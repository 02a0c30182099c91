/* Backends: what a device can do. A backend is a name, the buffer type its tensors live
 * in, and tables of kernels (src/ops/op.h) for the ops it runs; device backends also copy
 * between their memory and the host's. The runtime knows backends only through this
 * table: placement (src/graph/place.c) gives each node to the first backend of a
 * session's list whose kernel supports it and inserts copies where storage changes type. */
#ifndef TT_BACKEND_H
#define TT_BACKEND_H

#include "ops/op.h"

/* Options a session opens its device backends with. */
typedef struct tt_backend_opts {
    /* NULL or "fp32" (the default): full fp32 math. "tf32": fp32 tensors, matrix products
     * and convolutions in TF32. "fp16": fp32 tensors, products and convolutions may round
     * their inputs to fp16. Host backends run fp32 whatever this says. */
    const char *precision;
    uint64_t mem_limit;            /* device bytes the instance may hold; 0: no limit */
} tt_backend_opts;

/* What a device backend is told at the start of each run of a graph. */
typedef struct tt_run_info {
    const void *plan;              /* the memory plan this run uses (identity only), NULL: none */
    const void *const *arena;      /* the run's arena bases (TT_PLAN_MAX_ARENAS of them) */
    /* The plan fits these inputs and every device value of the graph is planned: each value
     * has the same address as in the last run with this plan and these arenas. */
    bool steady;
} tt_run_info;

typedef struct tt_backend {
    const char *name;              /* "ref", "cpu", "cuda:0" */
    const char *description;       /* one line for listings: "reference kernels (portable C)" */
    /* Where its kernels read and write tensors; NULL: host memory. */
    const tt_buft *buft;
    /* Its kernel tables, each ended by TT_KERNEL_END; the list ends with NULL. Earlier
     * kernels win over later ones for the same node. */
    const tt_kernel *const *tables;
    /* Device backends (buft not host): copies n bytes between buffer types (one of them
     * host memory, the other this backend's), finishing before it returns. May be NULL
     * for host backends. */
    tt_status (*copy)(const struct tt_backend *b, void *dst, const tt_buft *dt, const void *src,
                      const tt_buft *st, size_t n);
    /* The channel block (ops/cnn.h: 4, 8 or 16) in which this backend's convolutions want
     * activations between them, so the layout pass keeps them blocked; 0: plain NCHW. May
     * be NULL: 0. */
    int (*conv_block)(const struct tt_backend *b);
    void *ctx;
    /* May be NULL: no per-run state. A run context of its own for every concurrent run of a
     * session (a stream, library handles, device workspace): made with the run context,
     * freed with it; kernels find it as tt_kctx.bctx. */
    tt_status (*ctx_new)(const struct tt_backend *b, void **ctx);
    void (*ctx_free)(const struct tt_backend *b, void *ctx);
    /* May be NULL. Called around every run of a graph that has a context of this backend.
     * run_end gets the run's status so far, waits for the device's work and returns the
     * run's final status; it may set *again to ask for the run to be repeated once from
     * the start (its first attempt's outputs are dropped), e.g. after a failed graph
     * capture. */
    tt_status (*run_begin)(const struct tt_backend *b, void *ctx, const tt_run_info *ri);
    tt_status (*run_end)(const struct tt_backend *b, void *ctx, tt_status st, bool *again);
    /* May be NULL: 0. Device bytes this instance holds now (constants, arenas, workspace). */
    uint64_t (*mem_used)(const struct tt_backend *b);
    /* May be NULL (static backends). Frees an instance from tt_backend_open once nothing
     * it allocated is still held. */
    void (*release)(const struct tt_backend *b);
} tt_backend;

/* The built-in backends. */
extern const tt_backend tt_backend_ref;
extern const tt_backend tt_backend_cpu;

/* Makes backend b findable by name (plugins, tests). b must outlive every session using
 * it. At most 8 registered; a second backend of the same name is refused. */
tt_status tt_backend_register(const tt_backend *b);

/* Finds a backend by name: "ref", "cpu", or a device such as "cuda:0" (loading its plugin
 * on first use; a device gets one shared instance with default options). On failure the
 * message says why the backend is unavailable. */
tt_status tt_backend_get(const char *name, const tt_backend **out);
/* An instance of backend `name` for one session: host backends are shared (opts may be
 * NULL); a device gets an instance of its own with these options (memory limit,
 * precision), released with tt_backend_close. */
tt_status tt_backend_open(const char *name, const tt_backend_opts *opts, const tt_backend **out);
void tt_backend_close(const tt_backend *b);
/* The first kernel of b matching the node (domain, type, opset, dtype) whose supports
 * accepts it, or NULL. */
const tt_kernel *tt_backend_find_kernel(const tt_backend *b, const tt_kprep *p, const tt_type *const *in_types);

/* Up to TT_MAX_BACKENDS backends a session places nodes on, in order of preference. */
#define TT_MAX_BACKENDS 4
typedef struct tt_backend_list {
    int n;
    const tt_backend *b[TT_MAX_BACKENDS];
    bool owned[TT_MAX_BACKENDS];   /* opened for this list: tt_backend_list_release closes it */
} tt_backend_list;

/* The backends for a local target: "cpu" → cpu, ref; "ref" → ref; "cuda:N" → cuda:N, cpu,
 * ref. A comma-separated list names them explicitly ("cpu,ref"). The environment variable
 * TETHER_BACKENDS, when set, overrides a target of "cpu". Devices are opened with opts
 * (NULL: defaults); release the list with tt_backend_list_release. */
tt_status tt_backend_list_for(const char *target, tt_backend_list *out);
tt_status tt_backend_list_for_opts(const char *target, const tt_backend_opts *opts, tt_backend_list *out);
void tt_backend_list_release(tt_backend_list *l);
/* Whether precision names a mode tether knows ("fp32", "tf32", "fp16" for devices; "bf16",
 * "int8" for the cpu backend's convolutions and products; NULL is fp32). */
bool tt_precision_valid(const char *precision);

/* ---- devices, for `tether devices` ------------------------------------------------------- */

#define TT_MAX_DEVICES 16
typedef struct tt_device_info {
    char name[128];                /* "NVIDIA H100 80GB HBM3", "Intel(R) Xeon(R) ..." */
    uint64_t memory_bytes;         /* device memory (host RAM for the CPU) */
    uint64_t memory_free;          /* 0: not known */
    int cores;                     /* CPU: physical cores; GPU: multiprocessors */
    int threads;                   /* CPU: logical CPUs online */
    int cc_major, cc_minor;        /* GPU compute capability */
    double peak_flops;             /* FP32 FLOP/s from the device's properties; 0: not known */
    char driver[32];               /* GPU: the CUDA version the driver supports, "13.0" */
    char runtime[32];              /* GPU: the CUDA runtime the plugin was built with */
    char detail[128];              /* CPU: ISA ("avx512f avx2 fma"); GPU: PCI bus id */
} tt_device_info;

typedef struct tt_backend_devices {
    char name[16];                 /* "cpu", "cuda" */
    bool available;
    char reason[512];              /* when not available: why */
    char version[128];             /* libraries the backend uses ("cuDNN 9.19, cuBLAS 13.1") */
    int n;
    tt_device_info dev[TT_MAX_DEVICES];
} tt_backend_devices;

/* The CPU backend's device (the host's processor). */
void tt_devices_cpu(tt_backend_devices *out);
/* The CUDA backend's devices, or why it is unavailable (not built, plugin or libraries
 * missing, no driver, no GPU). */
void tt_devices_cuda(tt_backend_devices *out);

#endif
