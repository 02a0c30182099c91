/* Run contexts: one per concurrent run of a session, each with its own stream, cuBLASLt and
 * cuDNN handles, device workspace, pinned staging for the copies in and out, an error word
 * that kernels set on bad data, and the CUDA graphs of the steady path.
 *
 * Graphs: the executor still calls every kernel, so host-side work (shape inference, the
 * copy into pinned staging) happens on every run; what the graph saves is the launches.
 * A capture is cut into segments at each copy to the host (a sync point): at that point
 * the segment so far is instantiated and launched, the copy's bytes read from staging,
 * and a new segment begins. A replay launches the same segments at the same points. Every
 * launch's signature (node, addresses, shapes, host-read values) is recorded at capture and
 * checked at replay; any difference voids the run, which the executor repeats without
 * graphs (tt_backend.run_end's *again). */
#include "cu.h"

#include <inttypes.h>
#include <stdio.h>

static bool graphs_enabled(void)
{
    const char *e = getenv("TETHER_CUDA_GRAPHS");
    return !e || strcmp(e, "0") != 0;
}

tt_status cu_ctx_new(const tt_backend *b, void **out)
{
    cu_backend *be = cu_be(b);
    *out = NULL;
    if (be->ordinal < 0)
        return cu_err(TETHER_ERR_UNSUPPORTED, "backend %s only places graphs: it has no device to run them on", be->name);
    cu_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return cu_err(TETHER_ERR_NO_MEMORY, "out of memory for a CUDA run context");
    x->be = be;
    x->graphs = graphs_enabled();
    tt_status s = cu_rt(cudaSetDevice(be->ordinal), NULL, "selecting the GPU");
    if (s == TT_OK)
        s = cu_rt(cudaStreamCreateWithFlags(&x->stream, cudaStreamNonBlocking), NULL, "creating a stream");
    if (s == TT_OK)
        s = cu_lt(cublasLtCreate(&x->lt), NULL, "starting cuBLASLt");
#ifdef TT_CUDA_HAVE_CUDNN
    if (s == TT_OK)
        s = cu_dnn(cudnnCreate(&x->dnn), NULL, "starting cuDNN");
    if (s == TT_OK)
        s = cu_dnn(cudnnSetStream(x->dnn, x->stream), NULL, "giving cuDNN its stream");
#endif
    if (s == TT_OK)
        s = cu_rt(cudaHostAlloc((void **)&x->err_host, sizeof(int), cudaHostAllocMapped), NULL,
                  "allocating the error word");
    if (s == TT_OK)
        s = cu_rt(cudaHostGetDevicePointer((void **)&x->err_dev, x->err_host, 0), NULL, "mapping the error word");
    if (s != TT_OK) {
        cu_ctx_free(b, x);
        return s;
    }
    *x->err_host = 0;
    *out = x;
    return TT_OK;
}

static void drop_graphs(cu_ctx *x)
{
    for (int i = 0; i < x->nseg; i++)
        cudaGraphExecDestroy(x->seg[i]);
    x->nseg = x->seg_cur = 0;
    x->nsig = x->sig_pos = 0;
}

void cu_ctx_free(const tt_backend *b, void *ctx)
{
    cu_ctx *x = ctx;
    if (!x)
        return;
    (void)b;
    cudaSetDevice(x->be->ordinal);
    if (x->capturing) {
        cudaGraph_t g = NULL;
        cudaStreamEndCapture(x->stream, &g);
        if (g)
            cudaGraphDestroy(g);
    }
    if (x->stream)
        cudaStreamSynchronize(x->stream);
    drop_graphs(x);
    free(x->seg);
    free(x->sig);
    free(x->launch_node);
    for (int i = 0; i < x->n_stage; i++)
        cudaFreeHost(x->stage[i].host);
    free(x->stage);
    cu_dev_free(x->be, x->ws);
    if (x->err_host)
        cudaFreeHost(x->err_host);
#ifdef TT_CUDA_HAVE_CUDNN
    if (x->dnn)
        cudnnDestroy(x->dnn);
#endif
    if (x->lt)
        cublasLtDestroy(x->lt);
    if (x->stream)
        cudaStreamDestroy(x->stream);
    free(x);
}

tt_status cu_kctx(tt_kctx *c, cu_ctx **out)
{
    *out = c->bctx;
    if (!*out)
        return cu_node_err(c->node, TETHER_ERR_INTERNAL, "a CUDA kernel ran outside a session's run");
    return TT_OK;
}

static tt_status grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return TT_OK;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q)
        return cu_err(TETHER_ERR_NO_MEMORY, "out of memory in a CUDA run context");
    *p = q;
    *cap = nc;
    return TT_OK;
}

/* What a launch depends on: its node and kernel state, and for each tensor its shape and,
 * on the device, its address; for inputs read on the host, their values. Host addresses
 * never enter a graph (copies go through staging), so they are left out. */
static uint64_t launch_sig(const tt_kctx *c, const cu_ctx *x)
{
    uint64_t h = CU_SIG_INIT;
    h = cu_sig_mix(h, &c->node, sizeof c->node);
    h = cu_sig_mix(h, &c->kstate, sizeof c->kstate);
    h = cu_sig_mix(h, &x->ws, sizeof x->ws);
    uint32_t host_read = c->node->kernel ? c->node->kernel->host_inputs : 0;
    for (int i = 0; i < c->n_in + c->n_out; i++) {
        const tt_value *v = i < c->n_in ? c->in[i] : c->out[i - c->n_in];
        if (!v || v->kind != TT_KIND_TENSOR) {
            h = cu_sig_mix(h, "-", 1);
            continue;
        }
        const tt_tensor *t = &v->t;
        h = cu_sig_mix(h, &t->dtype, sizeof t->dtype);
        h = cu_sig_mix(h, &t->rank, sizeof t->rank);
        h = cu_sig_mix(h, t->dims, sizeof(int64_t) * (size_t)t->rank);
        bool on_host = tt_tensor_on_host(t);
        if (!on_host)
            h = cu_sig_mix(h, &t->data, sizeof t->data);
        else if (i < c->n_in && ((host_read >> i) & 1) && t->data)
            h = cu_sig_mix(h, t->data, tt_tensor_nbytes(t) < 4096 ? tt_tensor_nbytes(t) : 0);
    }
    return h;
}

tt_status cu_gate(cu_ctx *x, tt_kctx *c, bool *launch)
{
    *launch = true;
    CU_TRY(grow((void **)&x->launch_node, &x->launch_cap, x->launches + 1, sizeof *x->launch_node));
    x->launch_node[x->launches++] = c->node;
    if (x->mode == CU_MODE_NORMAL)
        return TT_OK;
    uint64_t sig = launch_sig(c, x);
    if (x->mode == CU_MODE_CAPTURE) {
        CU_TRY(grow((void **)&x->sig, &x->sig_cap, x->nsig + 1, sizeof *x->sig));
        x->sig[x->nsig++] = sig;
        return TT_OK;
    }
    *launch = false;
    if (x->sig_pos >= x->nsig || x->sig[x->sig_pos] != sig) {
        x->mismatch = true;
        return cu_node_err(c->node, TETHER_ERR_INTERNAL, "differs from the captured CUDA graph (launch %d)", x->sig_pos);
    }
    x->sig_pos++;
    return TT_OK;
}

tt_status cu_launched(const tt_node *n, const char *what)
{
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? TT_OK : cu_rt(e, n, what);
}

int cu_errcode(cu_ctx *x) { return x->launches; /* the current launch's index + 1 */ }

tt_status cu_workspace(cu_ctx *x, const tt_node *n, size_t bytes, void **out)
{
    if (bytes <= x->ws_cap) {
        *out = x->ws;
        return TT_OK;
    }
    if (x->mode != CU_MODE_NORMAL)
        return cu_node_err(n, TETHER_ERR_INTERNAL, "needs more workspace during a CUDA graph capture");
    /* work queued on the old block must finish before it is freed */
    CU_TRY(cu_rt(cudaStreamSynchronize(x->stream), n, "waiting to grow the workspace"));
    cu_dev_free(x->be, x->ws);
    x->ws = NULL;
    x->ws_cap = 0;
    size_t cap = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    CU_TRY(cu_dev_alloc(x->be, cap, "kernel workspace", &x->ws));
    x->ws_cap = cap;
    *out = x->ws;
    return TT_OK;
}

tt_status cu_staging(cu_ctx *x, const tt_node *n, size_t bytes, void **out)
{
    cu_stage *st = NULL;
    for (int i = 0; i < x->n_stage && !st; i++)
        if (x->stage[i].node == n)
            st = &x->stage[i];
    if (st && st->cap >= bytes) {
        *out = st->host;
        return TT_OK;
    }
    if (x->mode != CU_MODE_NORMAL)
        return cu_node_err(n, TETHER_ERR_INTERNAL, "needs new staging memory during a CUDA graph capture");
    if (!st) {
        CU_TRY(grow((void **)&x->stage, &x->stage_cap, x->n_stage + 1, sizeof *x->stage));
        st = &x->stage[x->n_stage++];
        *st = (cu_stage){.node = n};
    } else {
        CU_TRY(cu_rt(cudaStreamSynchronize(x->stream), n, "waiting to grow staging memory"));
        cudaFreeHost(st->host);
        st->host = NULL;
        st->cap = 0;
    }
    size_t cap = bytes < 256 ? 256 : bytes;
    CU_TRY(cu_rt(cudaHostAlloc(&st->host, cap, cudaHostAllocDefault), n, "allocating pinned staging memory"));
    st->cap = cap;
    *out = st->host;
    return TT_OK;
}

static tt_status begin_capture(cu_ctx *x)
{
    CU_TRY(cu_rt(cudaStreamBeginCapture(x->stream, cudaStreamCaptureModeThreadLocal), NULL,
                 "beginning a CUDA graph capture"));
    x->capturing = true;
    return TT_OK;
}

/* Ends the open capture and launches it as the next segment. */
static tt_status end_capture_launch(cu_ctx *x, const tt_node *n)
{
    cudaGraph_t g = NULL;
    x->capturing = false;
    CU_TRY(cu_rt(cudaStreamEndCapture(x->stream, &g), n, "ending a CUDA graph capture"));
    tt_status s = cu_rt(g ? cudaSuccess : cudaErrorStreamCaptureInvalidated, n, "ending a CUDA graph capture");
    cudaGraphExec_t ge = NULL;
    if (s == TT_OK)
        s = cu_rt(cudaGraphInstantiate(&ge, g, 0), n, "instantiating a CUDA graph");
    if (g)
        cudaGraphDestroy(g);
    if (s == TT_OK)
        s = grow((void **)&x->seg, &x->seg_cap, x->nseg + 1, sizeof *x->seg);
    if (s != TT_OK) {
        if (ge)
            cudaGraphExecDestroy(ge);
        return s;
    }
    x->seg[x->nseg++] = ge;
    x->seg_cur = x->nseg;
    return cu_rt(cudaGraphLaunch(ge, x->stream), n, "launching a CUDA graph");
}

tt_status cu_sync_copy(cu_ctx *x, const tt_node *n, void *dst, const void *src, size_t bytes, bool launch)
{
    void *stage;
    CU_TRY(cu_staging(x, n, bytes, &stage));
    if (launch && bytes)
        CU_TRY(cu_rt(cudaMemcpyAsync(stage, src, bytes, cudaMemcpyDeviceToHost, x->stream), n, "copying to the host"));
    if (x->mode == CU_MODE_CAPTURE) {
        CU_TRY(end_capture_launch(x, n));
    } else if (x->mode == CU_MODE_REPLAY) {
        if (x->seg_cur >= x->nseg) {
            x->mismatch = true;
            return cu_node_err(n, TETHER_ERR_INTERNAL, "a sync point the captured CUDA graphs do not have");
        }
        CU_TRY(cu_rt(cudaGraphLaunch(x->seg[x->seg_cur++], x->stream), n, "launching a CUDA graph"));
    }
    CU_TRY(cu_rt(cudaStreamSynchronize(x->stream), n, "waiting for the device"));
    if (bytes)
        memcpy(dst, stage, bytes);
    if (x->mode == CU_MODE_CAPTURE)
        CU_TRY(begin_capture(x));
    return TT_OK;
}

tt_status cu_run_begin(const tt_backend *b, void *ctx, const tt_run_info *ri)
{
    cu_ctx *x = ctx;
    (void)b;
    CU_TRY(cu_rt(cudaSetDevice(x->be->ordinal), NULL, "selecting the GPU"));
    *x->err_host = 0;
    x->launches = 0;
    x->mismatch = false;
    cu_gkey key = {.plan = ri->plan};
    for (int a = 0; a < CU_KEY_ARENAS && ri->arena; a++)
        key.arena[a] = ri->arena[a];
    bool drop;
    x->mode = cu_policy_begin(&x->pol, &key, ri->steady, x->graphs, &drop);
    if (drop)
        drop_graphs(x);
    if (x->mode == CU_MODE_CAPTURE) {
        drop_graphs(x);
        tt_status s = begin_capture(x);
        if (s != TT_OK) {
            cu_policy_end(&x->pol, CU_MODE_CAPTURE, false, &drop);
            x->mode = CU_MODE_NORMAL;
            cudaGetLastError();
        }
    } else if (x->mode == CU_MODE_REPLAY) {
        x->seg_cur = 0;
        x->sig_pos = 0;
    }
    return TT_OK;
}

tt_status cu_run_end(const tt_backend *b, void *ctx, tt_status st, bool *again)
{
    cu_ctx *x = ctx;
    (void)b;
    *again = false;
    cu_mode m = x->mode;
    bool ok = st == TT_OK;
    if (m == CU_MODE_CAPTURE) {
        if (x->capturing) {
            if (ok) {
                ok = end_capture_launch(x, NULL) == TT_OK;
            } else {
                cudaGraph_t g = NULL;
                cudaStreamEndCapture(x->stream, &g);
                if (g)
                    cudaGraphDestroy(g);
                x->capturing = false;
            }
        }
    } else if (m == CU_MODE_REPLAY && ok) {
        if (x->seg_cur < x->nseg)
            ok = cu_rt(cudaGraphLaunch(x->seg[x->seg_cur++], x->stream), NULL, "launching a CUDA graph") == TT_OK;
        if (x->seg_cur != x->nseg || x->sig_pos != x->nsig)
            x->mismatch = true;
        ok = ok && !x->mismatch;
    }
    cudaError_t e = cudaStreamSynchronize(x->stream);
    if (e != cudaSuccess && ok) {
        ok = false;
        if (st == TT_OK)
            st = cu_rt(e, NULL, "running on the GPU");
    }
    bool drop;
    if (m != CU_MODE_NORMAL) {
        bool graph_ok = ok || (m == CU_MODE_REPLAY && !x->mismatch);
        cu_policy_end(&x->pol, m, graph_ok, &drop);
        if (drop)
            drop_graphs(x);
        if (!graph_ok) {
            /* the capture ran nothing, or the replay ran other work: the run is void */
            cudaGetLastError();
            *again = true;
            x->mode = CU_MODE_NORMAL;
            return st != TT_OK ? st : cu_err(TETHER_ERR_INTERNAL, "the CUDA graph of this run failed");
        }
    }
    x->mode = CU_MODE_NORMAL;
    if (st == TT_OK && *x->err_host) {
        int code = *x->err_host;
        const tt_node *n = code > 0 && code <= x->launches ? x->launch_node[code - 1] : NULL;
        return n ? cu_node_err(n, TETHER_ERR_INVALID_ARGUMENT, "an index is out of range")
                 : cu_err(TETHER_ERR_INVALID_ARGUMENT, "a CUDA kernel found an index out of range");
    }
    return st;
}
