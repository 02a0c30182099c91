/* The plugin ABI: how libtether loads a backend built as a library of its own
 * (libtether_cuda.so) with dlopen, so that libtether and the CLI run on hosts without the
 * plugin's libraries. A plugin sees libtether's types (it is built from the same tree) but
 * none of its functions: libtether hides its symbols. Everything a plugin needs from
 * libtether (setting the thread's error, logging) comes in a tt_plugin_host table at
 * init; everything libtether needs from the plugin comes back in a tt_plugin table.
 * Both sides check the ABI number, the tether version and a fingerprint of the shared
 * struct layouts, so a stale plugin is refused with a message instead of misread. */
#ifndef TT_PLUGIN_H
#define TT_PLUGIN_H

#include "backends/backend.h"
#include "model/ir.h"

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever tt_plugin_host or tt_plugin change. */
#define TT_PLUGIN_ABI 1
/* The symbol a plugin exports: const tt_plugin *tt_plugin_entry_v1(const tt_plugin_host *, uint32_t abi). */
#define TT_PLUGIN_ENTRY "tt_plugin_entry_v1"

/* A fingerprint of the structs libtether and a plugin share, computed on each side. */
#define TT_PLUGIN_LAYOUT                                                                           \
    ((uint32_t)(sizeof(tt_kernel) * 1u + sizeof(tt_kctx) * 3u + sizeof(tt_kprep) * 7u +            \
                sizeof(tt_tensor) * 11u + sizeof(tt_node) * 13u + sizeof(tt_backend) * 17u +        \
                sizeof(tt_buft) * 19u + sizeof(tt_type) * 23u + sizeof(tt_value) * 29u +            \
                sizeof(tt_kctx_ops) * 31u + sizeof(tt_device_info) * 37u + sizeof(tt_backend_opts) * 41u + \
                sizeof(tt_run_info) * 43u + sizeof(tt_buf) * 47u + offsetof(tt_kctx, bctx) * 53u +  \
                offsetof(tt_kernel, run) * 59u + TETHER_MAX_RANK * 61u))

/* What libtether offers a plugin. */
typedef struct tt_plugin_host {
    uint32_t abi;                   /* TT_PLUGIN_ABI */
    uint32_t layout;                /* TT_PLUGIN_LAYOUT as libtether was built */
    const char *version;            /* TETHER_VERSION of libtether */
    /* Sets the calling thread's error message; returns code. */
    tt_status (*set_error)(tt_status code, const char *msg);
    /* Prefixes the calling thread's error message; returns code. */
    tt_status (*prefix_error)(tt_status code, const char *prefix);
    const char *(*last_error)(void);
    /* Logs msg at level (tt_log_level). */
    void (*log)(int level, const char *msg);
    /* The largest tensor tether allocates (TETHER_MAX_TENSOR_BYTES). */
    uint64_t (*max_tensor_bytes)(void);
} tt_plugin_host;

/* What a plugin offers libtether. */
typedef struct tt_plugin {
    uint32_t abi;                   /* TT_PLUGIN_ABI it was built for */
    uint32_t layout;                /* TT_PLUGIN_LAYOUT as it was built */
    const char *version;            /* the TETHER_VERSION it was built from */
    const char *name;               /* "cuda": its backends are "cuda:0", "cuda:1", ... */
    const char *libraries;          /* what it was built with: "CUDA 13.0, cuDNN 9.19, cuBLAS 13.1" */
    /* How many devices it can run on here: >= 1, or 0 with reason filled (no driver, no
     * device, libraries too old). Cheap after the first call. */
    int (*probe)(char *reason, size_t cap);
    tt_status (*device_info)(int ordinal, tt_device_info *out);
    /* Opens a backend instance on device `ordinal` (opts may be NULL), freed by its
     * release. Ordinal -1 opens a placement-only instance that needs no device: its memory
     * is host memory posing as the device's, its copies are memcpy, and its kernels must
     * not run; tests place graphs on it to check the kernel tables anywhere. */
    tt_status (*open)(int ordinal, const tt_backend_opts *opts, const tt_backend **out);
    /* Its kernel tables (each ended by TT_KERNEL_END; the list ends with NULL). */
    const tt_kernel *const *tables;
} tt_plugin;

typedef const tt_plugin *(*tt_plugin_entry_fn)(const tt_plugin_host *host, uint32_t abi);

/* ---- libtether's side ------------------------------------------------------------------ */

/* Loads plugin `name` ("cuda") once per process: from $TETHER_<NAME>_PLUGIN when set (a
 * path), else libtether_<name>.so beside libtether (or the program), in the build tree and
 * the install directory, then the dynamic linker's path. On failure the message says why
 * (not built, not found where it looked, a library it needs missing, built for another
 * version) and every later call fails the same way. */
tt_status tt_plugin_load(const char *name, const tt_plugin **out);

/* The host table libtether hands plugins (for tests that drive a plugin directly). */
const tt_plugin_host *tt_plugin_host_table(void);

/* Checks a plugin's table against this libtether; the message names the mismatch. */
tt_status tt_plugin_check(const tt_plugin *p, const char *path);

#endif
