/* The CUDA plugin's entry point and its devices: the probe that says why there is no GPU
 * (no driver, no device, a driver older than the runtime), device facts, backend
 * instances (precision, memory account, device buffer type, copies), and the small
 * helpers every kernel file shares. */
#include "cu.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

const tt_plugin_host *cu_host;

/* ---- errors and logs ----------------------------------------------------------------------- */

tt_status cu_err(tt_status code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cu_host->set_error(code, msg);
}

tt_status cu_node_err(const tt_node *n, tt_status code, const char *fmt, ...)
{
    char msg[1024];
    int o = snprintf(msg, sizeof msg, "node '%s' (%s): ", n ? n->name : "?", n ? n->op_type : "?");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + o, sizeof msg - (size_t)o, fmt, ap);
    va_end(ap);
    return cu_host->set_error(code, msg);
}

void cu_log(int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cu_host->log(level, msg);
}

tt_status cu_rt(cudaError_t e, const tt_node *n, const char *what)
{
    if (e == cudaSuccess)
        return TT_OK;
    tt_status code = e == cudaErrorMemoryAllocation ? TETHER_ERR_NO_MEMORY : TETHER_ERR_INTERNAL;
    if (n)
        return cu_node_err(n, code, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return cu_err(code, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

tt_status cu_lt(cublasStatus_t s, const tt_node *n, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS)
        return TT_OK;
    tt_status code = s == CUBLAS_STATUS_ALLOC_FAILED ? TETHER_ERR_NO_MEMORY
                     : s == CUBLAS_STATUS_NOT_SUPPORTED ? TETHER_ERR_UNSUPPORTED
                                                        : TETHER_ERR_INTERNAL;
    if (n)
        return cu_node_err(n, code, "%s: %s", what, cublasLtGetStatusString(s));
    return cu_err(code, "%s: %s", what, cublasLtGetStatusString(s));
}

#ifdef TT_CUDA_HAVE_CUDNN
tt_status cu_dnn(cudnnStatus_t s, const tt_node *n, const char *what)
{
    if (s == CUDNN_STATUS_SUCCESS)
        return TT_OK;
    tt_status code = s == CUDNN_STATUS_ALLOC_FAILED ? TETHER_ERR_NO_MEMORY
                     : s == CUDNN_STATUS_NOT_SUPPORTED ? TETHER_ERR_UNSUPPORTED
                                                       : TETHER_ERR_INTERNAL;
    if (n)
        return cu_node_err(n, code, "%s: %s", what, cudnnGetErrorString(s));
    return cu_err(code, "%s: %s", what, cudnnGetErrorString(s));
}
#endif

/* ---- small helpers for kernels ------------------------------------------------------------- */

size_t cu_dtype_size(tt_dtype t)
{
    switch (t) {
    case TETHER_DTYPE_FLOAT:
    case TETHER_DTYPE_INT32:
    case TETHER_DTYPE_UINT32: return 4;
    case TETHER_DTYPE_DOUBLE:
    case TETHER_DTYPE_INT64:
    case TETHER_DTYPE_UINT64: return 8;
    case TETHER_DTYPE_FLOAT16:
    case TETHER_DTYPE_BFLOAT16:
    case TETHER_DTYPE_INT16:
    case TETHER_DTYPE_UINT16: return 2;
    case TETHER_DTYPE_INT8:
    case TETHER_DTYPE_UINT8:
    case TETHER_DTYPE_BOOL: return 1;
    default: return 0;
    }
}

/* libtether's headers call this from inline helpers (tt_tensor_nbytes); the plugin cannot
 * reach libtether's copy, so it has its own, private one. */
size_t tt_dtype_size(tt_dtype t) { return cu_dtype_size(t); }

bool cu_axis(int64_t axis, int rank, int *out)
{
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank)
        return false;
    *out = (int)axis;
    return true;
}

const tt_attr *cu_attr(const tt_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].name && strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t cu_attr_int(const tt_node *n, const char *name, int64_t def)
{
    const tt_attr *a = cu_attr(n, name);
    return a && a->type == TT_ATTR_INT ? a->i : def;
}

float cu_attr_float(const tt_node *n, const char *name, float def)
{
    const tt_attr *a = cu_attr(n, name);
    return a && a->type == TT_ATTR_FLOAT ? a->f : a && a->type == TT_ATTR_INT ? (float)a->i : def;
}

const char *cu_attr_str(const tt_node *n, const char *name, const char *def)
{
    const tt_attr *a = cu_attr(n, name);
    return a && a->type == TT_ATTR_STRING && a->s ? a->s : def;
}

int cu_attr_ints(const tt_node *n, const char *name, int64_t *out, int cap)
{
    const tt_attr *a = cu_attr(n, name);
    if (!a || a->type != TT_ATTR_INTS)
        return -1;
    int k = a->n < (size_t)cap ? (int)a->n : cap;
    for (int i = 0; i < k; i++)
        out[i] = a->ints[i];
    return (int)a->n;
}

int cu_tensor_ints(const tt_tensor *t, int64_t *out, int cap)
{
    if (!t)
        return -1;
    int64_t n = tt_tensor_numel(t);
    if (n > cap)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == TETHER_DTYPE_INT64)
            out[i] = ((const int64_t *)t->data)[i];
        else if (t->dtype == TETHER_DTYPE_INT32)
            out[i] = ((const int32_t *)t->data)[i];
        else
            return -1;
    }
    return (int)n;
}

bool cu_float_only(const tt_kprep *p)
{
    for (int i = 0; i < p->n_in; i++)
        if (p->in[i] && p->in[i]->kind == TT_KIND_TENSOR && p->in[i]->dtype != TETHER_DTYPE_FLOAT)
            return false;
    for (int i = 0; i < p->n_out; i++)
        if (p->out[i].kind == TT_KIND_TENSOR && p->out[i].dtype != TETHER_DTYPE_FLOAT)
            return false;
    return true;
}

/* ---- the probe ------------------------------------------------------------------------------- */

static pthread_once_t g_probe_once = PTHREAD_ONCE_INIT;
static int g_ndev;
static char g_reason[512];
static cu_device g_dev[TT_MAX_DEVICES];

static void probe_once(void)
{
    /* the runtime is linked statically and opens the driver itself: look first, so that a
     * host without one is told so in plain words */
    void *drv = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!drv) {
        snprintf(g_reason, sizeof g_reason,
                 "no NVIDIA driver on this host (libcuda.so.1 is not installed; the CUDA plugin itself loaded)");
        return;
    }
    dlclose(drv);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) {
        snprintf(g_reason, sizeof g_reason, "the NVIDIA driver is installed but sees no GPU");
        return;
    }
    if (e == cudaErrorInsufficientDriver) {
        int drv_v = 0;
        cudaDriverGetVersion(&drv_v);
        snprintf(g_reason, sizeof g_reason,
                 "the NVIDIA driver supports CUDA %d.%d, older than the CUDA %d.%d runtime the plugin was built with",
                 drv_v / 1000, drv_v % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
        return;
    }
    if (e != cudaSuccess) {
        snprintf(g_reason, sizeof g_reason, "CUDA cannot start: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
        return;
    }
    if (n > TT_MAX_DEVICES)
        n = TT_MAX_DEVICES;
    int drv_v = 0;
    cudaDriverGetVersion(&drv_v);
    for (int i = 0; i < n; i++) {
        cu_device *d = &g_dev[i];
        d->ordinal = i;
        cu_algo_cache_init(&d->convs);
        tt_device_info *info = &d->info;
        struct cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
            snprintf(info->name, sizeof info->name, "CUDA device %d (its properties could not be read)", i);
            continue;
        }
        snprintf(info->name, sizeof info->name, "%s", prop.name);
        info->memory_bytes = prop.totalGlobalMem;
        info->cores = prop.multiProcessorCount;
        info->cc_major = prop.major;
        info->cc_minor = prop.minor;
        int clock_khz = 0;
        cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, i);
        info->peak_flops = cu_fp32_peak(prop.major, prop.minor, prop.multiProcessorCount, clock_khz);
        snprintf(info->driver, sizeof info->driver, "%d.%d", drv_v / 1000, drv_v % 1000 / 10);
        snprintf(info->runtime, sizeof info->runtime, "%d.%d", CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
        snprintf(info->detail, sizeof info->detail, "pci %04x:%02x:%02x", prop.pciDomainID, prop.pciBusID,
                 prop.pciDeviceID);
    }
    g_ndev = n;
}

static int plugin_probe(char *reason, size_t cap)
{
    pthread_once(&g_probe_once, probe_once);
    if (g_ndev <= 0 && reason && cap)
        snprintf(reason, cap, "%s", g_reason);
    return g_ndev;
}

static tt_status plugin_device_info(int ordinal, tt_device_info *out)
{
    pthread_once(&g_probe_once, probe_once);
    if (ordinal < 0 || ordinal >= g_ndev)
        return cu_err(TETHER_ERR_NOT_FOUND, "no CUDA device %d (this host has %d)", ordinal, g_ndev);
    *out = g_dev[ordinal].info;
    size_t free_b = 0, total = 0;
    int prev = 0;
    cudaGetDevice(&prev);
    if (cudaSetDevice(ordinal) == cudaSuccess && cudaMemGetInfo(&free_b, &total) == cudaSuccess)
        out->memory_free = free_b;
    cudaSetDevice(prev);
    return TT_OK;
}

/* ---- instances: memory and copies ----------------------------------------------------------- */

tt_status cu_dev_alloc(cu_backend *be, size_t bytes, const char *what, void **out)
{
    *out = NULL;
    if (!bytes)
        bytes = 256;
    uint64_t in_use;
    if (!cu_account_reserve(&be->acct, bytes, &in_use)) {
        char msg[512];
        cu_account_explain(&be->acct, in_use, bytes, what, msg, sizeof msg);
        return cu_err(TETHER_ERR_QUOTA, "%s: %s", be->name, msg);
    }
    void *p = NULL;
    if (be->ordinal < 0) {
        p = aligned_alloc(256, (bytes + 255) & ~(size_t)255);
        if (!p) {
            cu_account_unreserve(&be->acct, bytes);
            return cu_err(TETHER_ERR_NO_MEMORY, "%s: out of host memory for %zu bytes (%s)", be->name, bytes,
                          what ? what : "an allocation");
        }
    } else {
        cudaSetDevice(be->ordinal);
        cudaError_t e = cudaMalloc(&p, bytes);
        if (e != cudaSuccess) {
            cudaGetLastError();
            cu_account_unreserve(&be->acct, bytes);
            size_t free_b = 0, total = 0;
            cudaMemGetInfo(&free_b, &total);
            return cu_err(TETHER_ERR_NO_MEMORY, "%s: cudaMalloc of %zu bytes for %s failed (%s); the GPU has %zu of %zu bytes free",
                          be->name, bytes, what ? what : "an allocation", cudaGetErrorString(e), free_b, total);
        }
    }
    if (!cu_account_track(&be->acct, p, bytes)) {
        if (be->ordinal < 0)
            free(p);
        else
            cudaFree(p);
        return cu_err(TETHER_ERR_NO_MEMORY, "%s: out of host memory tracking device allocations", be->name);
    }
    *out = p;
    return TT_OK;
}

void cu_dev_free(cu_backend *be, void *p)
{
    if (!p)
        return;
    cu_account_release(&be->acct, p);
    if (be->ordinal < 0) {
        free(p);
    } else {
        cudaSetDevice(be->ordinal);
        cudaFree(p);
    }
}

static void *buft_alloc(const tt_buft *b, size_t bytes)
{
    cu_backend *be = b->ctx;
    void *p;
    return cu_dev_alloc(be, bytes, "a tensor", &p) == TT_OK ? p : NULL;
}

static void buft_free(const tt_buft *b, void *p) { cu_dev_free(b->ctx, p); }

static tt_status backend_copy(const tt_backend *b, void *dst, const tt_buft *dt, const void *src, const tt_buft *st,
                              size_t n)
{
    cu_backend *be = cu_be(b);
    if (!n)
        return TT_OK;
    if (be->ordinal < 0) {
        memcpy(dst, src, n);
        return TT_OK;
    }
    cudaSetDevice(be->ordinal);
    bool to_dev = !tt_buft_is_host(dt), from_dev = !tt_buft_is_host(st);
    enum cudaMemcpyKind kind = to_dev && from_dev ? cudaMemcpyDeviceToDevice
                               : to_dev           ? cudaMemcpyHostToDevice
                               : from_dev         ? cudaMemcpyDeviceToHost
                                                  : cudaMemcpyHostToHost;
    return cu_rt(cudaMemcpy(dst, src, n, kind), NULL, "copying a tensor");
}

static uint64_t backend_mem_used(const tt_backend *b) { return cu_account_used(&cu_be(b)->acct); }

static void backend_release(const tt_backend *b)
{
    cu_backend *be = cu_be(b);
    cu_account_free(&be->acct);
    free(be);
}

static const char *math_name(cu_math m) { return m == CU_MATH_TF32 ? "tf32" : m == CU_MATH_FP16 ? "fp16" : "fp32"; }

static tt_status plugin_open(int ordinal, const tt_backend_opts *opts, const tt_backend **out)
{
    *out = NULL;
    cu_math math = CU_MATH_FP32;
    const char *prec = opts ? opts->precision : NULL;
    if (prec && *prec) {
        if (strcmp(prec, "tf32") == 0)
            math = CU_MATH_TF32;
        else if (strcmp(prec, "fp16") == 0)
            math = CU_MATH_FP16;
        else if (strcmp(prec, "fp32") != 0)
            return cu_err(TETHER_ERR_INVALID_ARGUMENT, "precision '%s' is not one of fp32, tf32, fp16", prec);
    }
    cu_device *dev = NULL;
    if (ordinal >= 0) {
        char reason[512];
        int n = plugin_probe(reason, sizeof reason);
        if (ordinal >= n)
            return n <= 0 ? cu_err(TETHER_ERR_UNSUPPORTED, "%s", reason)
                          : cu_err(TETHER_ERR_NOT_FOUND, "no CUDA device %d (this host has %d)", ordinal, n);
        dev = &g_dev[ordinal];
    }
    cu_backend *be = calloc(1, sizeof *be);
    if (!be)
        return cu_err(TETHER_ERR_NO_MEMORY, "out of memory for a CUDA backend");
    be->dev = dev;
    be->ordinal = ordinal;
    be->math = math;
    cu_account_init(&be->acct, opts ? opts->mem_limit : 0);
    snprintf(be->name, sizeof be->name, ordinal >= 0 ? "cuda:%d" : "cuda:dry", ordinal);
    if (dev)
        snprintf(be->desc, sizeof be->desc, "%s (cc %d.%d, %s)", dev->info.name, dev->info.cc_major,
                 dev->info.cc_minor, math_name(math));
    else
        snprintf(be->desc, sizeof be->desc, "CUDA kernels, placement only (no device)");
    be->buft = (tt_buft){.name = be->name, .host = false, .alloc = buft_alloc, .free = buft_free, .ctx = be};
    be->b = (tt_backend){
        .name = be->name,
        .description = be->desc,
        .buft = &be->buft,
        .tables = cu_tables,
        .copy = backend_copy,
        .ctx = be,
        .ctx_new = cu_ctx_new,
        .ctx_free = cu_ctx_free,
        .run_begin = cu_run_begin,
        .run_end = cu_run_end,
        .mem_used = backend_mem_used,
        .release = backend_release,
    };
    *out = &be->b;
    return TT_OK;
}

/* ---- the entry point ----------------------------------------------------------------------- */

const tt_kernel *const cu_tables[] = {cu_kernels_basic, cu_kernels_shape, cu_kernels_nn, cu_kernels_blas,
                                      cu_kernels_conv, cu_kernels_fused, NULL};

#define STR_(x) #x
#define STR(x) STR_(x)

static char g_libraries[160];

static const tt_plugin g_plugin = {
    .abi = TT_PLUGIN_ABI,
    .layout = TT_PLUGIN_LAYOUT,
    .version = TETHER_VERSION,
    .name = "cuda",
    .libraries = g_libraries,
    .probe = plugin_probe,
    .device_info = plugin_device_info,
    .open = plugin_open,
    .tables = cu_tables,
};

__attribute__((visibility("default"))) const tt_plugin *tt_plugin_entry_v1(const tt_plugin_host *host, uint32_t abi)
{
    if (!host || abi != TT_PLUGIN_ABI || host->abi != TT_PLUGIN_ABI)
        return NULL;
    cu_host = host;
    if (host->layout != TT_PLUGIN_LAYOUT || !host->version || strcmp(host->version, TETHER_VERSION) != 0)
        return &g_plugin; /* libtether reports the mismatch from the table */
    int lt = (int)cublasLtGetVersion();
#ifdef TT_CUDA_HAVE_CUDNN
    size_t dnn = cudnnGetVersion();
    snprintf(g_libraries, sizeof g_libraries, "CUDA runtime %d.%d, cuBLASLt %d.%d.%d, cuDNN %zu.%zu.%zu",
             CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10, lt / 10000, lt / 100 % 100, lt % 100, dnn / 10000,
             dnn / 100 % 100, dnn % 100);
#else
    snprintf(g_libraries, sizeof g_libraries, "CUDA runtime %d.%d, cuBLASLt %d.%d.%d, no cuDNN", CUDART_VERSION / 1000,
             CUDART_VERSION % 1000 / 10, lt / 10000, lt / 100 % 100, lt % 100);
#endif
    return &g_plugin;
}
