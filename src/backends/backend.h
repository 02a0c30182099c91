/* Backends: what a device can do. A backend is a name, the buffer type its tensors live
 * in, and tables of kernels (src/ops/op.h) for the ops it runs; device backends also copy
 * between their memory and the host's. The runtime knows backends only through this
 * table: placement (src/graph/place.c) gives each node to the first backend of a
 * session's list whose kernel supports it and inserts copies where storage changes type. */
#ifndef TT_BACKEND_H
#define TT_BACKEND_H

#include "ops/op.h"

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
} tt_backend;

/* The built-in backends. */
extern const tt_backend tt_backend_ref;
extern const tt_backend tt_backend_cpu;

/* Makes backend b findable by name (plugins, tests). b must outlive every session using
 * it. At most 8 registered; a second backend of the same name is refused. */
tt_status tt_backend_register(const tt_backend *b);

/* Finds a backend by name: "ref", "cpu", or a device such as "cuda:0" (loading its plugin
 * on first use). On failure the message says why the backend is unavailable. */
tt_status tt_backend_get(const char *name, const tt_backend **out);

/* The first kernel of b matching the node (domain, type, opset, dtype) whose supports
 * accepts it, or NULL. */
const tt_kernel *tt_backend_find_kernel(const tt_backend *b, const tt_kprep *p, const tt_type *const *in_types);

/* Up to TT_MAX_BACKENDS backends a session places nodes on, in order of preference. */
#define TT_MAX_BACKENDS 4
typedef struct tt_backend_list {
    int n;
    const tt_backend *b[TT_MAX_BACKENDS];
} tt_backend_list;

/* The backends for a local target: "cpu" → cpu, ref; "ref" → ref; "cuda:N" → cuda:N, cpu,
 * ref. A comma-separated list names them explicitly ("cpu,ref"). The environment variable
 * TETHER_BACKENDS, when set, overrides a target of "cpu". */
tt_status tt_backend_list_for(const char *target, tt_backend_list *out);

#endif
