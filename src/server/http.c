/* The HTTP endpoint: routing, API keys, body limits and the KServe v2 handlers. Each request
 * has a context that lives from its first callback to MHD's completion notice; an inference
 * suspends its connection, and the worker that finishes it stores the response and
 * resumes it. A malformed request is answered {"error": ...} and affects nothing else. */
#include "server/http.h"

#include "core/log.h"
#include "core/mem.h"
#include "server/batch.h"
#include "server/kserve.h"
#include "server/metrics.h"
#include "server/repo.h"
#include "server/server.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef TETHER_HAVE_MHD
#include <microhttpd.h>

#define MAX_TENSORS 64   /* inputs or requested outputs of one HTTP request */
#define MAX_JSON_DEPTH 32
#define MAX_LOADS 4      /* load/unload requests waiting at once */

typedef struct http_state {
    struct MHD_Daemon *d;
    tt_http_tls tls; /* HTTPS under the listener's TLS policy (http_tls.h) */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int loads;       /* load/unload threads running */
    int quiesced_fd; /* the listening socket once quiesced, closed after the daemon stops */
} http_state;

typedef enum route {
    R_NONE,
    R_STATUS_PAGE,
    R_METRICS,
    R_SERVER,
    R_LIVE,
    R_READY,
    R_MODEL,
    R_MODEL_READY,
    R_MODEL_CONFIG,
    R_INFER,
    R_INDEX,
    R_LOAD,
    R_UNLOAD,
} route;

typedef struct hreq {
    tt_server *srv;
    struct MHD_Connection *conn;
    route r;
    char model[TT_REPO_MAX_NAME + 1];
    int64_t version;
    bool post;
    uint8_t *body;
    size_t len, cap;
    uint64_t taken; /* bytes of the server's buffer budget this request holds (body, tensors) */

    /* asynchronous answers (inference, load): under lock */
    pthread_mutex_t lock;
    bool suspended, ready;
    tt_repo_model *m;
    tt_kserve_req kreq;
    tt_infer_req ireq;

    /* the response */
    unsigned code;
    uint8_t *resp;
    size_t resp_len, json_len;
    const char *ctype;
    bool basic_challenge;
    bool queued; /* a response was handed to MHD */
} hreq;

/* ---- the server's buffer budget ---------------------------------------------------- */

/* HTTP bodies and the tensors parsed from them count against the same bound as the native
 * protocol's payloads (--max-buffered), so that connections together cannot hold more. */
static bool take(hreq *h, uint64_t n)
{
    if (!tt_buffer_take(h->srv, n))
        return false;
    h->taken += n;
    return true;
}

static void body_free(hreq *h)
{
    tt_buffer_give(h->srv, h->cap);
    h->taken -= h->cap;
    tt_free(h->body);
    h->body = NULL;
    h->len = h->cap = 0;
}

/* ---- responses ---------------------------------------------------------------------- */

static void set_resp(hreq *h, unsigned code, char *text, const char *ctype)
{
    tt_free(h->resp);
    h->code = code;
    h->resp = (uint8_t *)text;
    h->resp_len = text ? strlen(text) : 0;
    h->json_len = h->resp_len;
    h->ctype = ctype;
}

static void set_error(hreq *h, unsigned code, const char *msg)
{
    set_resp(h, code, tt_kserve_error_json(msg), "application/json");
}

int tt_status_http_code(tt_status st);

static void set_status_error(hreq *h, tt_status st)
{
    set_error(h, (unsigned)tt_status_http_code(st), tt_last_error());
}

static enum MHD_Result send_resp(hreq *h)
{
    if (!h->resp && h->code == 0)
        set_error(h, 500, "no response was made (internal error)");
    struct MHD_Response *r;
    if (h->resp) {
        r = MHD_create_response_from_buffer_with_free_callback(h->resp_len, h->resp, tt_free);
        if (r)
            h->resp = NULL; /* the response owns it now */
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    if (h->ctype)
        MHD_add_response_header(r, "Content-Type", h->ctype);
    if (h->json_len < h->resp_len) {
        char n[32];
        snprintf(n, sizeof n, "%zu", h->json_len);
        MHD_add_response_header(r, "Inference-Header-Content-Length", n);
    }
    if (h->code == 413) /* the body was not read: the connection cannot carry another request */
        MHD_add_response_header(r, "Connection", "close");
    if (h->code == 401 && h->basic_challenge)
        MHD_add_response_header(r, "WWW-Authenticate", "Basic realm=\"tetherd\"");
    enum MHD_Result ret = MHD_queue_response(h->conn, h->code, r);
    MHD_destroy_response(r);
    h->queued = true;
    return ret;
}

/* Completes an asynchronous request from any thread: the response is set by then. */
static void complete(hreq *h)
{
    pthread_mutex_lock(&h->lock);
    h->ready = true;
    bool resume = h->suspended;
    struct MHD_Connection *conn = h->conn;
    pthread_mutex_unlock(&h->lock);
    /* once resumed, the HTTP thread may answer and free h at any moment: h is not touched
     * after this */
    if (resume)
        MHD_resume_connection(conn);
}

/* Suspends the connection unless the answer is already there. Returns true when it is. */
static bool suspend_unless_ready(hreq *h)
{
    pthread_mutex_lock(&h->lock);
    bool ready = h->ready;
    if (!ready) {
        MHD_suspend_connection(h->conn);
        h->suspended = true;
    }
    pthread_mutex_unlock(&h->lock);
    return ready;
}

/* ---- routing ------------------------------------------------------------------------ */

static bool parse_version(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (end == s || *end || errno || n < 1)
        return false;
    *v = n;
    return true;
}

/* Splits url into at most 8 segments (in seg, NUL-separated copies). */
static route route_of(const char *method, const char *url, hreq *h)
{
    char buf[512];
    if (strlen(url) >= sizeof buf)
        return R_NONE;
    snprintf(buf, sizeof buf, "%s", url);
    char *seg[10];
    int n = 0;
    char *save;
    for (char *t = strtok_r(buf, "/", &save); t && n < 10; t = strtok_r(NULL, "/", &save))
        seg[n++] = t;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0, post = strcmp(method, "POST") == 0;
    h->post = post;
    if (n == 0)
        return get ? R_STATUS_PAGE : R_NONE;
    if (n == 1 && strcmp(seg[0], "metrics") == 0)
        return get ? R_METRICS : R_NONE;
    if (strcmp(seg[0], "v2") != 0)
        return R_NONE;
    if (n == 1)
        return get ? R_SERVER : R_NONE;
    if (n == 3 && strcmp(seg[1], "health") == 0) {
        if (strcmp(seg[2], "live") == 0)
            return get ? R_LIVE : R_NONE;
        if (strcmp(seg[2], "ready") == 0)
            return get ? R_READY : R_NONE;
        return R_NONE;
    }
    if (strcmp(seg[1], "repository") == 0) {
        if (n == 3 && strcmp(seg[2], "index") == 0)
            return post ? R_INDEX : R_NONE;
        if (n == 5 && strcmp(seg[2], "models") == 0 && strlen(seg[3]) <= TT_REPO_MAX_NAME) {
            snprintf(h->model, sizeof h->model, "%s", seg[3]);
            if (strcmp(seg[4], "load") == 0)
                return post ? R_LOAD : R_NONE;
            if (strcmp(seg[4], "unload") == 0)
                return post ? R_UNLOAD : R_NONE;
        }
        return R_NONE;
    }
    if (strcmp(seg[1], "models") != 0 || n < 3 || strlen(seg[2]) > TT_REPO_MAX_NAME)
        return R_NONE;
    snprintf(h->model, sizeof h->model, "%s", seg[2]);
    int k = 3;
    if (n >= 5 && strcmp(seg[3], "versions") == 0) {
        if (!parse_version(seg[4], &h->version))
            return R_NONE;
        k = 5;
    }
    if (n == k)
        return get ? R_MODEL : R_NONE;
    if (n == k + 1 && strcmp(seg[k], "ready") == 0)
        return get ? R_MODEL_READY : R_NONE;
    if (n == k + 1 && strcmp(seg[k], "infer") == 0)
        return post ? R_INFER : R_NONE;
    if (n == k + 1 && strcmp(seg[k], "config") == 0)
        return get ? R_MODEL_CONFIG : R_NONE;
    return R_NONE;
}

/* The request's API key: "Authorization: Bearer KEY", or a Basic password (browsers). */
static char *api_key(struct MHD_Connection *c, char *out, size_t n)
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    out[0] = 0;
    if (a && strncasecmp(a, "Bearer ", 7) == 0) {
        snprintf(out, n, "%s", a + 7);
        return out;
    }
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    if (pass)
        snprintf(out, n, "%s", pass);
    if (user)
        MHD_free(user);
    if (pass) {
        memset(pass, 0, strlen(pass));
        MHD_free(pass);
    }
    return out[0] ? out : NULL;
}

/* ---- handlers ----------------------------------------------------------------------- */

static char *json_text(cJSON *o)
{
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *r = t ? tt_strdup(t) : NULL;
    cJSON_free(t);
    return r;
}

static void on_server(hreq *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "tetherd");
    cJSON_AddStringToObject(o, "version", tether_version());
    cJSON *ext = cJSON_AddArrayToObject(o, "extensions");
    cJSON_AddItemToArray(ext, cJSON_CreateString("binary_tensor_data"));
    cJSON_AddItemToArray(ext, cJSON_CreateString("model_repository"));
    cJSON_AddItemToArray(ext, cJSON_CreateString("parameters"));
    set_resp(h, 200, json_text(o), "application/json");
}

static cJSON *io_json(const tether_value_info *info)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", info->name);
    const char *dt = tt_kserve_dtype_name(info->dtype);
    cJSON_AddStringToObject(o, "datatype", dt ? dt : "UNDEFINED");
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    if (info->rank < 0)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(-1));
    for (int d = 0; d < info->rank; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)(info->dims[d] >= 0 ? info->dims[d] : -1)));
    return o;
}

static void on_model(hreq *h, tt_repo_model *m)
{
    tt_repo *repo = h->srv->repo;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON *vs = cJSON_AddArrayToObject(o, "versions");
    pthread_mutex_lock(&repo->lock);
    for (tt_repo_model *x = repo->models; x; x = x->next)
        if (x->state == TT_MODEL_READY && strcmp(x->name, m->name) == 0) {
            char v[24];
            snprintf(v, sizeof v, "%" PRId64, x->version);
            cJSON_AddItemToArray(vs, cJSON_CreateString(v));
        }
    pthread_mutex_unlock(&repo->lock);
    cJSON_AddStringToObject(o, "platform", "onnx");
    const tether_session *s = m->entry->session;
    cJSON *in = cJSON_AddArrayToObject(o, "inputs"), *out = cJSON_AddArrayToObject(o, "outputs");
    for (size_t i = 0; i < tether_session_input_count(s); i++) {
        tether_value_info info;
        tether_session_input_info(s, i, &info);
        cJSON_AddItemToArray(in, io_json(&info));
    }
    for (size_t i = 0; i < tether_session_output_count(s); i++) {
        tether_value_info info;
        tether_session_output_info(s, i, &info);
        cJSON_AddItemToArray(out, io_json(&info));
    }
    cJSON *p = cJSON_AddObjectToObject(o, "parameters");
    cJSON_AddNumberToObject(p, "max_batch_size", m->batchable ? m->cfg.max_batch_size : 0);
    cJSON_AddStringToObject(p, "slot_type", m->cfg.slot_type);
    cJSON_AddNumberToObject(p, "instances", m->cfg.instances);
    set_resp(h, 200, json_text(o), "application/json");
}

/* Triton's model configuration (GET .../config), which its clients and perf_analyzer read to
 * learn the batch dimension: with max_batch_size > 0, dims leave dimension 0 out. */
static void on_model_config(hreq *h, tt_repo_model *m)
{
    int mbs = m->batchable && m->cfg.max_batch_size > 1 ? m->cfg.max_batch_size : 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "platform", "onnxruntime_onnx");
    cJSON_AddStringToObject(o, "backend", "tether");
    cJSON_AddNumberToObject(o, "max_batch_size", mbs);
    const tether_session *s = m->entry->session;
    for (int k = 0; k < 2; k++) {
        cJSON *arr = cJSON_AddArrayToObject(o, k ? "output" : "input");
        size_t n = k ? tether_session_output_count(s) : tether_session_input_count(s);
        for (size_t i = 0; i < n; i++) {
            tether_value_info info;
            if (k)
                tether_session_output_info(s, i, &info);
            else
                tether_session_input_info(s, i, &info);
            cJSON *io = cJSON_CreateObject();
            char dt[32];
            snprintf(dt, sizeof dt, "TYPE_%s", tt_kserve_dtype_name(info.dtype) ? tt_kserve_dtype_name(info.dtype) : "INVALID");
            if (strcmp(dt, "TYPE_BYTES") == 0)
                snprintf(dt, sizeof dt, "TYPE_STRING");
            cJSON_AddStringToObject(io, "name", info.name);
            cJSON_AddStringToObject(io, "data_type", dt);
            cJSON *dims = cJSON_AddArrayToObject(io, "dims");
            if (info.rank < 0)
                cJSON_AddItemToArray(dims, cJSON_CreateNumber(-1));
            for (int d = mbs ? 1 : 0; d < info.rank; d++)
                cJSON_AddItemToArray(dims, cJSON_CreateNumber((double)(info.dims[d] >= 0 ? info.dims[d] : -1)));
            cJSON_AddItemToArray(arr, io);
        }
    }
    if (mbs) {
        cJSON *db = cJSON_AddObjectToObject(o, "dynamic_batching");
        cJSON_AddNumberToObject(db, "max_queue_delay_microseconds", (double)m->cfg.max_queue_delay_us);
        cJSON *pref = cJSON_AddArrayToObject(db, "preferred_batch_size");
        for (int i = 0; i < m->cfg.n_preferred; i++)
            cJSON_AddItemToArray(pref, cJSON_CreateNumber(m->cfg.preferred[i]));
    }
    cJSON *ig = cJSON_AddArrayToObject(o, "instance_group");
    cJSON *g = cJSON_CreateObject();
    cJSON_AddNumberToObject(g, "count", m->cfg.instances);
    cJSON_AddStringToObject(g, "kind", "KIND_CPU");
    cJSON_AddItemToArray(ig, g);
    set_resp(h, 200, json_text(o), "application/json");
}

static void on_infer_done(tt_infer_req *r, tt_status st, const char *msg, const tether_outputs *out, int64_t row0,
                          int64_t total)
{
    hreq *h = r->ud;
    if (st != TT_OK) {
        set_error(h, (unsigned)tt_status_http_code(st), msg);
    } else {
        tt_kserve_body b;
        tt_status e = tt_kserve_encode_infer(h->m->name, h->m->version, &h->kreq, out, row0, r->rows, total, &b);
        if (e != TT_OK) {
            set_status_error(h, e);
        } else {
            tt_free(h->resp);
            h->code = 200;
            h->resp = b.p;
            h->resp_len = b.len;
            h->json_len = b.json_len;
            h->ctype = b.json_len < b.len ? "application/octet-stream" : "application/json";
        }
    }
    complete(h);
}

/* Returns true when the answer is set now; false when the connection was suspended. */
static bool on_infer(hreq *h, tt_repo_model *m)
{
    const char *hl = MHD_lookup_connection_value(h->conn, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    size_t json_len = h->len;
    if (hl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(hl, &end, 10);
        if (end == hl || *end || errno || hl[0] == '-' || v > h->len) {
            char msg[200];
            snprintf(msg, sizeof msg, "Inference-Header-Content-Length '%.32s' is not a length within the %zu-byte body",
                     hl, h->len);
            set_error(h, 400, msg);
            tt_repo_count(h->srv->repo, m, 400);
            return true;
        }
        json_len = (size_t)v;
    }
    tt_kserve_limits lim = {.max_tensors = MAX_TENSORS,
                            .max_tensor_bytes = h->srv->cfg.http_max_body,
                            .max_depth = MAX_JSON_DEPTH};
    tt_status st = tt_kserve_parse_infer(h->body, h->len, json_len, &lim, &h->kreq);
    /* requested outputs must exist: checked now rather than after a run */
    const tether_session *s = m->entry->session;
    for (size_t i = 0; st == TT_OK && i < h->kreq.n_outputs; i++) {
        bool found = false;
        for (size_t k = 0; k < tether_session_output_count(s) && !found; k++) {
            tether_value_info info;
            tether_session_output_info(s, k, &info);
            found = strcmp(info.name, h->kreq.outputs[i].name) == 0;
        }
        if (!found)
            st = tt_error(TETHER_ERR_INVALID_ARGUMENT, "model '%s' has no output '%.128s'", m->name,
                          h->kreq.outputs[i].name);
    }
    if (st != TT_OK) {
        set_status_error(h, st);
        tt_repo_count(h->srv->repo, m, (int)h->code);
        return true;
    }
    h->ireq = (tt_infer_req){.model = m,
                             .inputs = h->kreq.inputs,
                             .n_inputs = h->kreq.n_inputs,
                             .done = on_infer_done,
                             .ud = h};
    /* the body is parsed: its memory goes before the wait, the tensors' is held instead */
    body_free(h);
    if (!take(h, h->kreq.arena.used_total)) {
        set_error(h, 503, "the server's buffers for requests are full; try again later");
        tt_repo_count(h->srv->repo, m, 503);
        return true;
    }
    st = tt_batch_submit(h->srv->repo, &h->ireq);
    if (st != TT_OK) {
        set_status_error(h, st);
        tt_repo_count(h->srv->repo, m, (int)h->code);
        return true;
    }
    return suspend_unless_ready(h);
}

typedef struct load_job {
    hreq *h;
    http_state *hs;
} load_job;

static void *load_main(void *arg)
{
    load_job *lj = arg;
    hreq *h = lj->h;
    http_state *hs = lj->hs;
    tt_repo *repo = h->srv->repo;
    tt_status st = h->r == R_LOAD ? tt_repo_load(repo, h->model) : tt_repo_unload(repo, h->model);
    if (st == TT_OK)
        set_resp(h, 200, tt_strdup("{}"), "application/json");
    else
        set_status_error(h, st);
    complete(h);
    tt_free(lj);
    pthread_mutex_lock(&hs->lock);
    hs->loads--;
    pthread_cond_broadcast(&hs->idle);
    pthread_mutex_unlock(&hs->lock);
    return NULL;
}

static bool on_load(hreq *h)
{
    http_state *hs = h->srv->http;
    load_job *lj = tt_calloc(1, sizeof *lj);
    pthread_mutex_lock(&hs->lock);
    bool room = lj && hs->loads < MAX_LOADS;
    if (room)
        hs->loads++;
    pthread_mutex_unlock(&hs->lock);
    if (!room) {
        tt_free(lj);
        set_error(h, 503, "too many repository loads and unloads in progress; try again later");
        return true;
    }
    lj->h = h;
    lj->hs = hs;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, load_main, lj);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        tt_free(lj);
        pthread_mutex_lock(&hs->lock);
        hs->loads--;
        pthread_mutex_unlock(&hs->lock);
        set_error(h, 503, "could not start a thread for the load");
        return true;
    }
    return suspend_unless_ready(h);
}

/* Handles a complete request; returns false when the connection was suspended. */
static bool handle(hreq *h)
{
    tt_server *srv = h->srv;
    tt_repo *repo = srv->repo;
    char keybuf[512];
    const char *key = api_key(h->conn, keybuf, sizeof keybuf);
    bool open = h->r == R_LIVE || h->r == R_READY;
    tt_status st;
    if (!open && (h->r == R_STATUS_PAGE || h->r == R_METRICS || h->r == R_SERVER || h->r == R_INDEX ||
                  h->r == R_LOAD || h->r == R_UNLOAD)) {
        st = tt_repo_authorize(repo, NULL, key);
        if (st != TT_OK) {
            h->basic_challenge = h->r == R_STATUS_PAGE;
            set_status_error(h, st);
            return true;
        }
    }
    switch (h->r) {
    case R_LIVE: set_resp(h, 200, tt_strdup("{\"live\":true}"), "application/json"); return true;
    case R_READY: set_resp(h, 200, tt_strdup("{\"ready\":true}"), "application/json"); return true;
    case R_SERVER: on_server(h); return true;
    case R_METRICS: {
        char *t = NULL;
        if (tt_metrics_prometheus(srv, &t) != TT_OK)
            set_error(h, 500, "out of memory");
        else
            set_resp(h, 200, t, "text/plain; version=0.0.4");
        return true;
    }
    case R_STATUS_PAGE: {
        char *html = NULL;
        if (tt_status_page_html(srv, &html) != TT_OK)
            set_status_error(h, TETHER_ERR_NO_MEMORY);
        else
            set_resp(h, 200, html, "text/html; charset=utf-8");
        return true;
    }
    case R_INDEX: {
        char *t = NULL;
        if (tt_repo_index_json(repo, &t) != TT_OK)
            set_status_error(h, TETHER_ERR_NO_MEMORY);
        else
            set_resp(h, 200, t, "application/json");
        return true;
    }
    case R_LOAD:
    case R_UNLOAD: return on_load(h);
    default: break;
    }
    /* the model endpoints */
    tt_repo_model *m;
    st = tt_repo_find(repo, h->model, h->version, &m);
    if (st != TT_OK) {
        set_status_error(h, st);
        return true;
    }
    h->m = m; /* released when the request completes */
    st = tt_repo_authorize(repo, m, key);
    if (st != TT_OK) {
        set_status_error(h, st);
        if (h->r == R_INFER)
            tt_repo_count(repo, m, 401);
        return true;
    }
    switch (h->r) {
    case R_MODEL: on_model(h, m); return true;
    case R_MODEL_CONFIG: on_model_config(h, m); return true;
    case R_MODEL_READY: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->name);
        cJSON_AddBoolToObject(o, "ready", true);
        set_resp(h, 200, json_text(o), "application/json");
        return true;
    }
    case R_INFER: return on_infer(h, m);
    default: set_error(h, 404, "not found"); return true;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **ctx)
{
    (void)version;
    tt_server *srv = cls;
    hreq *h = *ctx;
    if (!h) {
        h = tt_calloc(1, sizeof *h);
        if (!h)
            return MHD_NO;
        pthread_mutex_init(&h->lock, NULL);
        h->srv = srv;
        h->conn = conn;
        *ctx = h;
        char denied[300];
        if (!tt_http_tls_client_ok(&((http_state *)srv->http)->tls, conn, denied, sizeof denied)) {
            set_error(h, 403, denied);
            return send_resp(h);
        }
        h->r = route_of(method, url, h);
        if (h->r == R_NONE) {
            char msg[700];
            snprintf(msg, sizeof msg, "no such endpoint: %.16s %.512s (see /v2, /v2/models/NAME, /metrics, /)", method,
                     url);
            set_error(h, 404, msg);
            return send_resp(h);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end == cl || *end || errno || n > srv->cfg.http_max_body) {
                char msg[200];
                snprintf(msg, sizeof msg, "a request body of %.24s bytes is over the %" PRIu64 "-byte limit", cl,
                         srv->cfg.http_max_body);
                set_error(h, 413, msg);
                return send_resp(h);
            }
            /* the declared body is taken from the budget whole, and read into one buffer */
            if (n && !take(h, n)) {
                set_error(h, 503, "the server's buffers for requests are full; try again later");
                return send_resp(h);
            }
            uint8_t *p = n ? tt_malloc((size_t)n) : NULL;
            if (n && !p) {
                set_error(h, 503, "out of memory for the request body"); /* given back at the end */
                return send_resp(h);
            }
            h->body = p;
            h->cap = (size_t)n;
        }
        return MHD_YES;
    }
    if (h->queued) { /* answered at the first call: the body is not read */
        *size = 0;
        return MHD_YES;
    }
    if (h->ready) /* resumed: the worker (or load thread) set the response */
        return send_resp(h);
    if (*size) {
        if (!h->post || h->len + *size > srv->cfg.http_max_body) {
            /* no Content-Length (chunked) and over the limit, or a body where none belongs:
             * the connection goes now rather than read a stream that may never end */
            tt_log(TT_LOG_DEBUG, "HTTP: closing a connection whose body is over the limit or unexpected");
            return MHD_NO;
        }
        if (h->len + *size > h->cap) {
            size_t cap = h->cap ? h->cap : 4096;
            while (cap < h->len + *size)
                cap *= 2;
            if (cap > srv->cfg.http_max_body)
                cap = (size_t)srv->cfg.http_max_body;
            if (!take(h, cap - h->cap)) {
                tt_log(TT_LOG_DEBUG, "HTTP: closing a connection: the server's request buffers are full");
                return MHD_NO;
            }
            uint8_t *p = tt_realloc(h->body, cap);
            if (!p)
                return MHD_NO; /* what was taken is given back when the request ends */
            h->body = p;
            h->cap = cap;
        }
        memcpy(h->body + h->len, data, *size);
        h->len += *size;
        *size = 0;
        return MHD_YES;
    }
    if (!handle(h))
        return MHD_YES; /* suspended: resumed when the answer is ready */
    return send_resp(h);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx, enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)conn, (void)why;
    hreq *h = *ctx;
    if (!h)
        return;
    *ctx = NULL;
    tt_kserve_req_free(&h->kreq);
    if (h->m)
        tt_repo_release(h->srv->repo, h->m);
    tt_free(h->body);
    tt_buffer_give(h->srv, h->taken);
    tt_free(h->resp);
    pthread_mutex_destroy(&h->lock);
    tt_free(h);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    tt_log(TT_LOG_DEBUG, "HTTP: %s", msg);
}

tt_status tt_http_start(tt_server *srv)
{
    if (!srv->cfg.http_listen[0])
        return TT_OK;
    tt_endpoint ep, bound;
    TT_TRY(tt_endpoint_parse(srv->cfg.http_listen, &ep));
    if (ep.is_unix)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "--http needs HOST:PORT");
    int fd;
    tt_http_tls tls;
    TT_TRY(tt_http_tls_prepare(srv, &ep, "--http", &tls));
    tt_status lst = tt_sock_listen(&ep, 256, &fd, &bound);
    if (lst != TT_OK) {
        tt_http_tls_free(&tls);
        return lst;
    }
    http_state *hs = tt_calloc(1, sizeof *hs);
    if (!hs) {
        close(fd);
        tt_http_tls_free(&tls);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    hs->tls = tls;
    hs->quiesced_fd = -1;
    struct MHD_OptionItem tls_opts[TT_HTTP_TLS_OPTIONS];
    tt_http_tls_options(&hs->tls, tls_opts);
    pthread_mutex_init(&hs->lock, NULL);
    pthread_cond_init(&hs->idle, NULL);
    srv->http = hs;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     tt_http_tls_flags(&hs->tls);
    hs->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->cfg.http_threads,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->cfg.http_max_conns,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->cfg.http_timeout_s,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64u << 10), MHD_OPTION_EXTERNAL_LOGGER,
                             mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                             on_completed, srv, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!hs->d) {
        close(fd);
        return tt_error(TETHER_ERR_INTERNAL, "could not start the HTTP endpoint on %s%s", ep.text,
                        hs->tls.on ? " (is the certificate or key malformed?)" : "");
    }
    tt_log(TT_LOG_INFO, "KServe v2 HTTP on %s://%s:%s/ (%d threads, bodies up to %" PRIu64 " bytes)",
           hs->tls.on ? "https" : "http", bound.host, bound.port, srv->cfg.http_threads, srv->cfg.http_max_body);
    if (srv->cfg.http_port_file[0]) {
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp", srv->cfg.http_port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", bound.port) < 0 || fclose(f) != 0 || rename(tmp, srv->cfg.http_port_file) != 0)
            return tt_error(TETHER_ERR_IO, "cannot write the HTTP port file '%s'", srv->cfg.http_port_file);
    }
    return TT_OK;
}

void tt_http_quiesce(tt_server *srv)
{
    http_state *hs = srv->http;
    if (hs && hs->d && hs->quiesced_fd < 0) { /* once: a drain, then shutdown, both ask */
        /* MHD's threads may still touch the socket (its epoll sets) until the daemon
         * stops, so it is closed only then; shutting it down now refuses new connections
         * at once, and its number cannot be reused meanwhile. */
        int fd = MHD_quiesce_daemon(hs->d);
        if (fd >= 0) {
            shutdown(fd, SHUT_RDWR);
            hs->quiesced_fd = fd;
        }
    }
}

void tt_http_stop(tt_server *srv)
{
    http_state *hs = srv->http;
    if (!hs)
        return;
    pthread_mutex_lock(&hs->lock);
    while (hs->loads > 0)
        pthread_cond_wait(&hs->idle, &hs->lock);
    pthread_mutex_unlock(&hs->lock);
    if (hs->d)
        MHD_stop_daemon(hs->d);
    if (hs->quiesced_fd >= 0)
        close(hs->quiesced_fd);
    tt_http_tls_free(&hs->tls);
    pthread_mutex_destroy(&hs->lock);
    pthread_cond_destroy(&hs->idle);
    tt_free(hs);
    srv->http = NULL;
}

#else /* no libmicrohttpd */

tt_status tt_http_start(tt_server *srv)
{
    if (!srv->cfg.http_listen[0])
        return TT_OK;
    return tt_error(TETHER_ERR_UNSUPPORTED, "--http needs libmicrohttpd, which this build was made without");
}

void tt_http_quiesce(tt_server *srv)
{
    (void)srv;
}

void tt_http_stop(tt_server *srv)
{
    (void)srv;
}

#endif
