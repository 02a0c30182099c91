/* The CUDA plugin's internals: backend instances (one per session: device, precision,
 * memory account), run contexts (one per concurrent run: stream, library handles, device
 * workspace, pinned staging, CUDA graphs), and what its kernels share. The plugin calls
 * nothing of libtether's: errors and logs go through the host table (cu_host). */
#ifndef TT_CUDA_CU_H
#define TT_CUDA_CU_H

#include "backends/plugin.h"

#include "account.h"
#include "algo.h"
#include "cu_kernels.h"
#include "policy.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#ifdef TT_CUDA_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <stdlib.h>
#include <string.h>

extern const tt_plugin_host *cu_host;

typedef enum cu_math { CU_MATH_FP32 = 0, CU_MATH_TF32 = 1, CU_MATH_FP16 = 2 } cu_math;

/* ---- errors and logs (through the host table) ------------------------------------------ */

tt_status cu_err(tt_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error naming the node: "node 'conv1' (Conv) on cuda:0: ..." */
tt_status cu_node_err(const tt_node *n, tt_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* TT_OK, or an error naming the node (NULL: none), what was being done and CUDA's words. */
tt_status cu_rt(cudaError_t e, const tt_node *n, const char *what);
tt_status cu_lt(cublasStatus_t s, const tt_node *n, const char *what);
#ifdef TT_CUDA_HAVE_CUDNN
tt_status cu_dnn(cudnnStatus_t s, const tt_node *n, const char *what);
#endif
void cu_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CU_TRY(expr) TT_TRY(expr)

/* ---- devices and instances --------------------------------------------------------------- */

/* A device, shared by every instance on it (process-wide). */
typedef struct cu_device {
    int ordinal;
    tt_device_info info;
    cu_algo_cache convs;          /* cuDNN algorithm choices by convolution shape */
} cu_device;

/* A backend instance: what one session placed its nodes on. */
typedef struct cu_backend {
    tt_backend b;                 /* its public face; b.ctx points back here */
    tt_buft buft;
    char name[24];
    char desc[200];
    cu_device *dev;               /* NULL for a placement-only instance */
    int ordinal;                  /* -1: placement-only */
    cu_math math;
    cu_account acct;
} cu_backend;

static inline cu_backend *cu_be(const tt_backend *b) { return (cu_backend *)b->ctx; }

/* Device memory charged to the instance's account (error QUOTA naming both numbers past
 * its limit). `what` names the allocation in that message. */
tt_status cu_dev_alloc(cu_backend *be, size_t bytes, const char *what, void **out);
void cu_dev_free(cu_backend *be, void *p);

/* ---- run contexts ---------------------------------------------------------------------- */

typedef struct cu_stage {
    const tt_node *node;
    void *host;                   /* pinned */
    size_t cap;
} cu_stage;

typedef struct cu_ctx {
    cu_backend *be;
    cudaStream_t stream;
    cublasLtHandle_t lt;
#ifdef TT_CUDA_HAVE_CUDNN
    cudnnHandle_t dnn;
#endif
    void *ws;                     /* device workspace shared by the run's kernels */
    size_t ws_cap;
    cu_stage *stage;              /* pinned staging per copy node */
    int n_stage, stage_cap;
    int *err_host, *err_dev;      /* mapped pinned word kernels set on bad data (code = launch + 1) */
    /* CUDA graphs of the steady path */
    bool graphs;                  /* enabled (TETHER_CUDA_GRAPHS != 0) */
    cu_policy pol;
    cu_mode mode;
    bool capturing;               /* a capture is open on the stream */
    bool mismatch;                /* a replay found a kernel other than the captured one */
    cudaGraphExec_t *seg;         /* captured segments, one per sync point */
    int nseg, seg_cap, seg_cur;
    uint64_t *sig;                /* launch signatures in capture order */
    int nsig, sig_cap, sig_pos;
    const tt_node **launch_node;  /* node of each launch of this run, for the error word */
    int launches, launch_cap;
} cu_ctx;

/* The context a kernel runs in (an error outside a session's run). */
tt_status cu_kctx(tt_kctx *c, cu_ctx **out);
/* Every device kernel calls this before launching: it records (capture) or checks (replay)
 * the launch's signature; *launch says whether to launch now (false in a replay, whose
 * graph launches it). */
tt_status cu_gate(cu_ctx *x, tt_kctx *c, bool *launch);
/* After launching in NORMAL or CAPTURE mode: the launch's error, naming the node. */
tt_status cu_launched(const tt_node *n, const char *what);
/* The error word and the code a kernel of this launch writes into it on bad data. */
int cu_errcode(cu_ctx *x);
/* Device workspace of at least `bytes` for the current kernel (grown outside captures only). */
tt_status cu_workspace(cu_ctx *x, const tt_node *n, size_t bytes, void **out);
/* Pinned staging of at least `bytes` for copy node n (grown outside captures only). */
tt_status cu_staging(cu_ctx *x, const tt_node *n, size_t bytes, void **out);
/* MemcpyToHost's sync point: device src → staging → host dst, ending a captured segment. */
tt_status cu_sync_copy(cu_ctx *x, const tt_node *n, void *dst, const void *src, size_t bytes, bool launch);

/* The backend ops a run context answers (cu_ctx.c). */
tt_status cu_ctx_new(const tt_backend *b, void **out);
void cu_ctx_free(const tt_backend *b, void *ctx);
tt_status cu_run_begin(const tt_backend *b, void *ctx, const tt_run_info *ri);
tt_status cu_run_end(const tt_backend *b, void *ctx, tt_status st, bool *again);

/* ---- what kernels share ------------------------------------------------------------------ */

/* Attributes, read straight from the node (the schema checked them at load). */
const tt_attr *cu_attr(const tt_node *n, const char *name);
int64_t cu_attr_int(const tt_node *n, const char *name, int64_t def);
float cu_attr_float(const tt_node *n, const char *name, float def);
const char *cu_attr_str(const tt_node *n, const char *name, const char *def);
/* An INTS attribute into out (at most cap); the count, or -1 when absent. */
int cu_attr_ints(const tt_node *n, const char *name, int64_t *out, int cap);
/* A host tensor of integers (int32/int64) into out (at most cap); the count, or -1. */
int cu_tensor_ints(const tt_tensor *t, int64_t *out, int cap);

size_t cu_dtype_size(tt_dtype t);
/* Normalises axis into [0, rank); false when out of range. */
bool cu_axis(int64_t axis, int rank, int *out);
static inline int64_t cu_prod(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= d[i];
    return p;
}
/* The dtype of input i at open, or -1. */
static inline int cu_pin_dtype(const tt_kprep *p, int i)
{
    return i < p->n_in && p->in[i] && p->in[i]->kind == TT_KIND_TENSOR ? (int)p->in[i]->dtype : -1;
}
static inline int cu_pin_rank(const tt_kprep *p, int i)
{
    return i < p->n_in && p->in[i] && p->in[i]->kind == TT_KIND_TENSOR ? p->in[i]->rank : -1;
}
static inline cu_math cu_kmath(const tt_kctx *c) { return c->backend ? cu_be(c->backend)->math : CU_MATH_FP32; }

/* supports() for ops over float32 data (the device's dtype; integers stay on the host,
 * where shapes and indices are computed). */
bool cu_float_only(const tt_kprep *p);

/* The kernel tables. */
extern const tt_kernel cu_kernels_basic[];
extern const tt_kernel cu_kernels_shape[];
extern const tt_kernel cu_kernels_nn[];
extern const tt_kernel cu_kernels_blas[];
extern const tt_kernel cu_kernels_conv[];
extern const tt_kernel cu_kernels_fused[];
extern const tt_kernel *const cu_tables[];

#endif
