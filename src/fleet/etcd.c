/* The etcd v3 JSON gateway over libcurl. Requests are built and replies read with cJSON;
 * every reply is bounded in size, every call in time (the caller's deadline). A member
 * that cannot be reached is skipped in favour of the next, round the list, until the
 * deadline; the member that answered last is tried first next time. A closed client goes
 * to a small pool, keeping its HTTP connection open for the next client of the same
 * members in this process (placement, failover and the session's checks of a server's
 * registration each open one). A client that asks for it (tt_etcd_use_grpc) sends its
 * transactions in gRPC instead (etcd_pb.c), which etcd answers without the gateway's extra
 * hop; it goes back to the gateway for a call when gRPC gets no answer, and for good when a
 * member answers the gateway but not gRPC. */
#include "fleet/etcd.h"
#include "fleet/etcd_pb.h"
#include "core/log.h"

#include "core/mem.h"
#include "net/sock.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifdef TETHER_HAVE_CURL
#include <curl/curl.h>
#endif

struct tt_etcd {
    char name[1024];
    char members[TT_ETCD_MAX_MEMBERS][300]; /* "http://host:port" */
    int n_members, current;
    tt_tls_files tls;
    pid_t pid; /* the process that opened it: a pooled client is not used across fork */
    pthread_mutex_t lock;
    bool grpc;          /* transactions as gRPC */
    bool grpc_refused;  /* a member answered the gateway but not gRPC: the gateway from now on */
    char grpc_why[160]; /* how the last gRPC call failed */
#ifdef TETHER_HAVE_CURL
    CURL *curl;
    CURL *grpc_curl; /* made at the first gRPC call */
#endif
};

const char *tt_etcd_name(const tt_etcd *e)
{
    return e->name;
}

static atomic_ullong g_requests, g_connects, g_grpc_answers;

void tt_etcd_stats(uint64_t *requests, uint64_t *connects)
{
    if (requests)
        *requests = atomic_load(&g_requests);
    if (connects)
        *connects = atomic_load(&g_connects);
}

uint64_t tt_etcd_grpc_answers(void)
{
    return atomic_load(&g_grpc_answers);
}

void tt_etcd_use_grpc(tt_etcd *e, bool on)
{
    const char *env = getenv("TETHER_ETCD_GRPC"); /* "0": the gateway only */
    pthread_mutex_lock(&e->lock);
    e->grpc = on && !(env && strcmp(env, "0") == 0);
    pthread_mutex_unlock(&e->lock);
}

/* ---- base64 ------------------------------------------------------------------------ */

tt_status tt_base64_encode(const void *p, size_t n, char **out)
{
    if (n > (1u << 30))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "base64: %zu bytes is too much to encode", n);
    char *s = tt_malloc(4 * ((n + 2) / 3) + 1);
    if (!s)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    *out = s;
    return TT_OK;
}

tt_status tt_base64_decode(const char *s, char **out, size_t *n)
{
    size_t len = strlen(s);
    if (len % 4 != 0 || len > (1u << 30))
        return tt_error(TETHER_ERR_PROTOCOL, "base64: a length of %zu is not a multiple of 4", len);
    char *d = tt_malloc(len / 4 * 3 + 1);
    if (!d)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    int k = len ? EVP_DecodeBlock((unsigned char *)d, (const unsigned char *)s, (int)len) : 0;
    if (k < 0) {
        tt_free(d);
        return tt_error(TETHER_ERR_PROTOCOL, "base64: malformed text");
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    size_t pad = len >= 1 && s[len - 1] == '=' ? (len >= 2 && s[len - 2] == '=' ? 2 : 1) : 0;
    *n = (size_t)k - pad;
    d[*n] = 0;
    *out = d;
    return TT_OK;
}

/* ---- opening --------------------------------------------------------------------------- */

#ifdef TETHER_HAVE_CURL
static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_rc;

static void curl_start(void)
{
    g_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}
#endif

static tt_status parse_members(tt_etcd *e, const char *urls)
{
    const char *scheme = "http";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", urls);
    char *list = buf;
    if (strncmp(list, "etcd://", 7) == 0) {
        list += 7;
    } else if (strncmp(list, "etcds://", 8) == 0) {
        list += 8;
        scheme = "https";
    }
    char *save;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        const char *sch = scheme;
        if (strncmp(tok, "http://", 7) == 0) {
            tok += 7;
            sch = "http";
        } else if (strncmp(tok, "https://", 8) == 0) {
            tok += 8;
            sch = "https";
        }
        size_t tl = strlen(tok);
        while (tl && tok[tl - 1] == '/')
            tok[--tl] = 0;
        tt_endpoint ep;
        if (!*tok || strchr(tok, '/') || tt_endpoint_parse(tok, &ep) != TT_OK || ep.is_unix || ep.tls) {
            tt_error_clear();
            return tt_error(TETHER_ERR_INVALID_ARGUMENT,
                            "fleet address '%s': '%s' is not HOST:PORT (expected etcd://HOST:PORT[,HOST:PORT...], "
                            "or etcds://... for etcd over TLS)",
                            urls, tok);
        }
        if (e->n_members >= TT_ETCD_MAX_MEMBERS)
            return tt_error(TETHER_ERR_INVALID_ARGUMENT, "fleet address '%s': more than %d etcd members", urls,
                            TT_ETCD_MAX_MEMBERS);
        snprintf(e->members[e->n_members++], sizeof e->members[0], "%s://%s", sch, tok);
    }
    if (e->n_members == 0)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "fleet address '%s' names no etcd member", urls);
    return TT_OK;
}

/* ---- the pool of idle clients ------------------------------------------------------ */

#define POOL_MAX 4

static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static tt_etcd *g_pool[POOL_MAX];
static int g_pool_n;
/* Clients pooled by a parent process: their connections are the parent's, so a child never
 * uses nor closes them (kept here so that they stay reachable, not leaked). */
static tt_etcd *g_inherited[POOL_MAX];
static pid_t g_pool_pid;

/* Makes the pool this process's (after a fork, the parent's clients are set aside). Under
 * the pool lock. */
static void pool_own_locked(void)
{
    pid_t me = getpid();
    if (g_pool_pid == me)
        return;
    for (int k = 0; k < g_pool_n; k++)
        g_inherited[k] = g_pool[k];
    g_pool_n = 0;
    g_pool_pid = me;
}

#ifdef TETHER_HAVE_CURL
static void pool_lock(void)
{
    pthread_mutex_lock(&g_pool_lock);
}

static void pool_unlock(void)
{
    pthread_mutex_unlock(&g_pool_lock);
}

static void pool_start(void)
{
    /* a fork while another thread holds the lock must not leave the child's copy locked */
    pthread_atfork(pool_lock, pool_unlock, pool_unlock);
}

/* A pooled client for urls and tls, or NULL. Under the pool lock. */
static tt_etcd *pool_take_locked(const char *urls, const tt_tls_files *tls)
{
    for (int i = 0; i < g_pool_n; i++) {
        tt_etcd *e = g_pool[i];
        if (strcmp(e->name, urls) == 0 && memcmp(&e->tls, tls, sizeof *tls) == 0) {
            g_pool[i] = g_pool[--g_pool_n];
            return e;
        }
    }
    return NULL;
}
#endif

tt_status tt_etcd_open(const char *urls, const tt_tls_files *tls, tt_etcd **out)
{
    if (!urls || !*urls)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "empty fleet address: expected etcd://HOST:PORT[,HOST:PORT...]");
    if (strlen(urls) >= sizeof((tt_etcd *)0)->name)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "fleet address '%.60s...' is too long", urls);
#ifdef TETHER_HAVE_CURL
    static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
    pthread_once(&pool_once, pool_start);
    tt_tls_files want;
    memset(&want, 0, sizeof want);
    if (tls)
        want = *tls;
    pthread_mutex_lock(&g_pool_lock);
    pool_own_locked();
    tt_etcd *pooled = pool_take_locked(urls, &want);
    pthread_mutex_unlock(&g_pool_lock);
    if (pooled) {
        pooled->grpc = false; /* until its new user asks */
        *out = pooled;
        return TT_OK;
    }
#endif
    tt_etcd *e = tt_calloc(1, sizeof *e);
    if (!e)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    snprintf(e->name, sizeof e->name, "%s", urls);
    tt_status st = parse_members(e, urls);
    if (st != TT_OK) {
        tt_free(e);
        return st;
    }
#ifndef TETHER_HAVE_CURL
    tt_free(e);
    (void)tls, (void)out;
    return tt_error(TETHER_ERR_UNSUPPORTED, "this tether was built without libcurl: no fleet (etcd) support");
#else
    pthread_once(&g_curl_once, curl_start);
    if (g_curl_rc != CURLE_OK) {
        tt_free(e);
        return tt_error(TETHER_ERR_INTERNAL, "libcurl failed to start: %s", curl_easy_strerror(g_curl_rc));
    }
    e->curl = curl_easy_init();
    if (!e->curl) {
        tt_free(e);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory for an HTTP client");
    }
    e->tls = want;
    e->pid = getpid();
    pthread_mutex_init(&e->lock, NULL);
    *out = e;
    return TT_OK;
#endif
}

tt_status tt_etcd_clone(const tt_etcd *e, tt_etcd **out)
{
    return tt_etcd_open(e->name, &e->tls, out);
}

static void etcd_free(tt_etcd *e)
{
#ifdef TETHER_HAVE_CURL
    curl_easy_cleanup(e->curl);
    if (e->grpc_curl)
        curl_easy_cleanup(e->grpc_curl);
    pthread_mutex_destroy(&e->lock);
#endif
    tt_free(e);
}

void tt_etcd_close(tt_etcd *e)
{
    if (!e)
        return;
    if (e->pid != getpid())
        return; /* opened before a fork: its connection is the parent's to close, not ours */
    tt_etcd *evict = e;
    pthread_mutex_lock(&g_pool_lock);
    pool_own_locked();
    {
        if (g_pool_n == POOL_MAX) {
            evict = g_pool[0]; /* the oldest goes */
            memmove(g_pool, g_pool + 1, sizeof g_pool[0] * (POOL_MAX - 1));
            g_pool_n--;
        } else {
            evict = NULL;
        }
        g_pool[g_pool_n++] = e;
    }
    pthread_mutex_unlock(&g_pool_lock);
    if (evict)
        etcd_free(evict);
}

void tt_etcd_pool_drain(void)
{
    pthread_mutex_lock(&g_pool_lock);
    pool_own_locked();
    tt_etcd *all[POOL_MAX];
    int n = g_pool_n;
    memcpy(all, g_pool, sizeof all[0] * (size_t)n);
    g_pool_n = 0;
    pthread_mutex_unlock(&g_pool_lock);
    for (int i = 0; i < n; i++)
        etcd_free(all[i]);
}

/* ---- one request ----------------------------------------------------------------------- */

typedef struct body {
    char *p;
    size_t n, cap;
    bool over;
} body;

#ifdef TETHER_HAVE_CURL
static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t n = size * nmemb;
    if (b->n + n + 1 > TT_ETCD_MAX_REPLY) {
        b->over = true;
        return 0; /* makes curl fail the transfer */
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = tt_realloc(b->p, cap);
        if (!q)
            return 0;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

/* What every POST to a member sets: the request, the time it has, where the reply goes, and
 * the certificates. */
static void post_opts(const tt_etcd *e, CURL *c, const char *url, const void *req, size_t n, int64_t left_ms, body *b)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(left_ms < 5000 ? left_ms : 5000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    if (e->tls.ca[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, e->tls.ca);
    if (e->tls.cert[0]) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, e->tls.cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, e->tls.key);
    }
}

/* Whether a transfer failed for want of the member (try another) rather than of the call. */
static bool member_unreachable(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_OPERATION_TIMEDOUT ||
           rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PARTIAL_FILE;
}
#endif

/* The tether status for a gRPC status code of etcd's. */
static tt_status grpc_code_status(int c)
{
    return c == 5                        ? TETHER_ERR_NOT_FOUND
           : c == 3 || c == 9 || c == 11 ? TETHER_ERR_INVALID_ARGUMENT
           : c == 7 || c == 16           ? TETHER_ERR_AUTH
           : c == 8                      ? TETHER_ERR_BUSY
                                         : TETHER_ERR_NETWORK; /* unavailable, deadline, internal: worth a retry */
}

/* The tether status for an error reply of the gateway ({"error", "code"} as gRPC codes). */
static tt_status reply_error(const tt_etcd *e, const char *path, long http, const char *text)
{
    cJSON *j = cJSON_Parse(text ? text : "");
    const cJSON *msg = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    const cJSON *code = j ? cJSON_GetObjectItemCaseSensitive(j, "code") : NULL;
    tt_status st = grpc_code_status(cJSON_IsNumber(code) ? code->valueint : -1);
    tt_error(st, "etcd (%s) refused %s: %s (HTTP %ld)", e->name, path,
             cJSON_IsString(msg) ? msg->valuestring : "no reason given", http);
    cJSON_Delete(j);
    return st;
}

/* POSTs request (JSON; freed here, NULL: it could not be built for want of memory) to path
 * on a member; *reply gets the parsed JSON answer. */
static tt_status call(tt_etcd *e, const char *path, cJSON *request, int64_t deadline, cJSON **reply)
{
#ifndef TETHER_HAVE_CURL
    (void)e, (void)path, (void)deadline, (void)reply;
    cJSON_Delete(request);
    return tt_error(TETHER_ERR_UNSUPPORTED, "built without libcurl");
#else
    char *text = request ? cJSON_PrintUnformatted(request) : NULL;
    cJSON_Delete(request);
    if (!text)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    pthread_mutex_lock(&e->lock);
    tt_status st = TT_OK;
    char last[512] = "";
    int tries = 0;
    bool slow = false; /* the last failure was a timeout: a loaded member, worth the deadline */
    for (;;) {
        int64_t left_ms = deadline == TT_NO_DEADLINE ? 30000 : (deadline - tt_now_ns()) / 1000000;
        /* refused connections fail fast (two rounds of the members); slow ones are given
         * until the deadline */
        if (left_ms <= 0 || (tries >= 2 * e->n_members && !slow)) {
            st = tt_error(left_ms <= 0 ? TETHER_ERR_TIMEOUT : TETHER_ERR_NETWORK,
                          "the fleet's etcd (%s) cannot be reached: %s", e->name,
                          last[0] ? last : "no time left to ask");
            break;
        }
        const char *member = e->members[e->current];
        char url[400];
        snprintf(url, sizeof url, "%s%s", member, path);
        body b = {0};
        CURL *c = e->curl;
        post_opts(e, c, url, text, strlen(text), left_ms, &b);
        /* HTTP/1.1 even over TLS: the gateway answers one JSON per request there, also for
         * streaming calls such as a lease keep-alive */
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        CURLcode rc = curl_easy_perform(c);
        curl_slist_free_all(hdr);
        long http = 0, connects = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        atomic_fetch_add(&g_requests, 1);
        atomic_fetch_add(&g_connects, (unsigned long long)connects);
        tries++;
        if (rc != CURLE_OK) {
            if (b.over)
                snprintf(last, sizeof last, "%s: the reply to %s is over %u MiB", member, path,
                         TT_ETCD_MAX_REPLY >> 20);
            else
                snprintf(last, sizeof last, "%s: %s", member, curl_easy_strerror(rc));
            tt_free(b.p);
            if (b.over || !member_unreachable(rc)) {
                st = tt_error(TETHER_ERR_NETWORK, "the fleet's etcd (%s): %s", e->name, last);
                break;
            }
            slow = rc == CURLE_OPERATION_TIMEDOUT;
            e->current = (e->current + 1) % e->n_members;
            if (tries % e->n_members == 0) {
                /* every member failed once: a short pause before the next round */
                struct timespec ts = {0, 100 * 1000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        if (http != 200) {
            st = reply_error(e, path, http, b.p);
            tt_free(b.p);
            break;
        }
        *reply = cJSON_ParseWithLength(b.p ? b.p : "", b.n);
        tt_free(b.p);
        if (!*reply)
            st = tt_error(TETHER_ERR_PROTOCOL, "etcd (%s) answered %s with malformed JSON", e->name, path);
        break;
    }
    pthread_mutex_unlock(&e->lock);
    cJSON_free(text);
    return st;
#endif
}

/* ---- gRPC ------------------------------------------------------------------------------ */

#ifdef TETHER_HAVE_CURL
/* What the headers and trailers of a gRPC answer say. */
typedef struct grpc_head {
    bool grpc;   /* Content-Type: application/grpc */
    bool status; /* grpc-status was sent */
    int code;
    char message[200];
} grpc_head;

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    grpc_head *h = ud;
    size_t n = size * nmemb;
    char line[256];
    size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, p, k);
    line[k] = 0;
    line[strcspn(line, "\r\n")] = 0;
    if (strncasecmp(line, "content-type:", 13) == 0)
        h->grpc = strstr(line + 13, "application/grpc") != NULL;
    else if (strncasecmp(line, "grpc-status:", 12) == 0) {
        h->status = true;
        h->code = atoi(line + 12);
    } else if (strncasecmp(line, "grpc-message:", 13) == 0)
        snprintf(h->message, sizeof h->message, "%s", line + 13 + strspn(line + 13, " "));
    return n;
}
#endif

#define GRPC_FINAL (-2)

/* A transaction as one gRPC call to the member last used, when this client asked for gRPC.
 * *tried is GRPC_FINAL when the result stands: etcd's answer in gRPC, an error from it, or
 * the deadline passed while waiting. Otherwise nothing came back and the caller asks the
 * gateway, which also tries the other members; *tried is then the member the call went to
 * (-1: none), and how it failed is in e->grpc_why. */
static tt_status grpc_txn(tt_etcd *e, const tt_etcd_cmp *cmp, size_t n_cmp, const tt_etcd_op *ops, size_t n_ops,
                          const char *const *prefixes, size_t n_prefixes, bool read_if_succeeded, bool serializable,
                          int64_t deadline, bool *succeeded, int64_t *revision, tt_etcd_kvs *read, int *tried)
{
    *tried = -1;
#ifndef TETHER_HAVE_CURL
    (void)e, (void)cmp, (void)n_cmp, (void)ops, (void)n_ops, (void)prefixes, (void)n_prefixes;
    (void)read_if_succeeded, (void)serializable, (void)deadline, (void)succeeded, (void)revision, (void)read;
    return TT_OK;
#else
    int64_t left_ms = deadline == TT_NO_DEADLINE ? 30000 : (deadline - tt_now_ns()) / 1000000;
    pthread_mutex_lock(&e->lock);
    uint8_t *req = NULL;
    size_t n;
    if (!e->grpc || e->grpc_refused || left_ms <= 0 ||
        tt_etcd_pb_txn_request(cmp, n_cmp, ops, n_ops, prefixes, n_prefixes, read_if_succeeded, serializable, &req,
                               &n) != TT_OK ||
        (!e->grpc_curl && !(e->grpc_curl = curl_easy_init()))) {
        pthread_mutex_unlock(&e->lock);
        tt_free(req);
        tt_error_clear(); /* the gateway's request says what is wrong, if anything */
        return TT_OK;
    }
    CURL *c = e->grpc_curl;
    const char *member = e->members[e->current];
    char url[400];
    snprintf(url, sizeof url, "%s/etcdserverpb.KV/Txn", member);
    body b = {0};
    grpc_head h = {0};
    post_opts(e, c, url, req, n, left_ms, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(
        c, CURLOPT_HTTP_VERSION,
        (long)(strncmp(member, "https:", 6) == 0 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
    /* over TLS the connection is kept for the next call; in the clear each call has one of
     * its own: libcurl 7.88 (Debian 12) fails a second request on a reused prior-knowledge
     * HTTP/2 connection ("Error in the HTTP2 framing layer") */
    if (strncmp(member, "http:", 5) == 0) {
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/grpc");
    struct curl_slist *both = hdr ? curl_slist_append(hdr, "TE: trailers") : NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, both);
    CURLcode rc = both ? curl_easy_perform(c) : CURLE_OUT_OF_MEMORY;
    curl_slist_free_all(both ? both : hdr);
    long http = 0, connects = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    atomic_fetch_add(&g_requests, 1);
    atomic_fetch_add(&g_connects, (unsigned long long)connects);
    tt_status st = TT_OK;
    if (b.over) { /* etcd answered, with more than a reply may hold */
        *tried = GRPC_FINAL;
        st = tt_error(TETHER_ERR_NETWORK, "etcd (%s): the reply to a transaction is over %u MiB", e->name,
                      TT_ETCD_MAX_REPLY >> 20);
    } else if (rc == CURLE_OK && http == 200 && h.grpc && h.status) {
        *tried = GRPC_FINAL;
        atomic_fetch_add(&g_grpc_answers, 1);
        if (h.code != 0)
            st = tt_error(grpc_code_status(h.code), "etcd (%s) refused a transaction: %s (gRPC status %d)", e->name,
                          h.message[0] ? h.message : "no reason given", h.code);
        else if ((st = tt_etcd_pb_txn_reply((const uint8_t *)b.p, b.n, succeeded, revision, read)) != TT_OK)
            st = tt_error_prefix(st, "etcd (%s): ", e->name);
    } else if (rc == CURLE_OPERATION_TIMEDOUT && (deadline - tt_now_ns()) / 1000000 < 1 + left_ms / 20) {
        /* the call's time is spent, give or take what sets curl's clock apart from ours
         * (whole milliseconds, and an unslewed clock): nothing left for the gateway either */
        *tried = GRPC_FINAL;
        st = tt_error(TETHER_ERR_TIMEOUT, "the fleet's etcd (%s) did not answer a transaction in time: %s: %s", e->name,
                      member, curl_easy_strerror(rc));
    } else {
        *tried = e->current;
        if (rc == CURLE_OK)
            snprintf(e->grpc_why, sizeof e->grpc_why, "HTTP %ld, %s", http,
                     h.grpc ? "no gRPC status" : "not application/grpc");
        else
            snprintf(e->grpc_why, sizeof e->grpc_why, "%s", curl_easy_strerror(rc));
    }
    tt_free(b.p);
    pthread_mutex_unlock(&e->lock);
    tt_free(req);
    return st;
#endif
}

/* ---- JSON helpers ------------------------------------------------------------------- */

/* A 64-bit number written by the gateway as a string (or, for small ones, a number). */
static int64_t get_i64(const cJSON *o, const char *k)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    if (cJSON_IsString(v))
        return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    return 0;
}

static void add_i64(cJSON *o, const char *k, int64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, v);
    cJSON_AddStringToObject(o, k, s);
}

/* Adds key (base64) to o; false when out of memory. */
static bool add_b64(cJSON *o, const char *k, const char *s)
{
    char *b;
    if (tt_base64_encode(s, strlen(s), &b) != TT_OK)
        return false;
    bool ok = cJSON_AddStringToObject(o, k, b) != NULL;
    tt_free(b);
    return ok;
}

/* ---- calls ------------------------------------------------------------------------- */

void tt_etcd_kvs_free(tt_etcd_kvs *k)
{
    for (size_t i = 0; i < k->n; i++) {
        tt_free(k->kv[i].key);
        tt_free(k->kv[i].value);
    }
    tt_free(k->kv);
    memset(k, 0, sizeof *k);
}

/* A range request for every key under prefix (NULL when out of memory). */
static cJSON *range_json(const char *prefix)
{
    char end[TT_ETCD_MAX_PREFIX];
    if (strlen(prefix) >= sizeof end)
        return NULL;
    tt_etcd_prefix_end(prefix, end, sizeof end);
    cJSON *req = cJSON_CreateObject();
    if (!req || !add_b64(req, "key", prefix) || !add_b64(req, "range_end", end)) {
        cJSON_Delete(req);
        return NULL;
    }
    return req;
}

/* Appends the key-values of a range reply's "kvs" array to out (grown as needed). */
static tt_status add_kvs(tt_etcd *e, const cJSON *kvs, tt_etcd_kvs *out)
{
    int n = cJSON_IsArray(kvs) ? cJSON_GetArraySize(kvs) : 0;
    tt_etcd_kv *grown = tt_realloc(out->kv, sizeof *out->kv * (out->n + (size_t)n + 1));
    if (!grown)
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    out->kv = grown;
    tt_status st = TT_OK;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, kvs)
    {
        if (st != TT_OK)
            break;
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key"),
                    *v = cJSON_GetObjectItemCaseSensitive(kv, "value");
        tt_etcd_kv *x = &out->kv[out->n];
        size_t klen;
        if (!cJSON_IsString(k)) {
            st = tt_error(TETHER_ERR_PROTOCOL, "etcd (%s) sent a key-value without a key", e->name);
            break;
        }
        st = tt_base64_decode(k->valuestring, &x->key, &klen);
        if (st == TT_OK)
            st = tt_base64_decode(cJSON_IsString(v) ? v->valuestring : "", &x->value, &x->value_len);
        if (st != TT_OK) {
            tt_free(x->key);
            x->key = NULL;
            st = tt_error_prefix(st, "etcd (%s) range reply: ", e->name);
            break;
        }
        x->create_rev = get_i64(kv, "create_revision");
        x->mod_rev = get_i64(kv, "mod_revision");
        x->version = get_i64(kv, "version");
        x->lease = get_i64(kv, "lease");
        out->n++;
    }
    return st;
}

tt_status tt_etcd_get_prefix(tt_etcd *e, const char *prefix, int64_t deadline, tt_etcd_kvs *out)
{
    memset(out, 0, sizeof *out);
    cJSON *req = range_json(prefix);
    if (!req)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "etcd prefix '%.60s' is too long (or out of memory)", prefix);
    cJSON *rep;
    tt_status st = call(e, "/v3/kv/range", req, deadline, &rep);
    if (st != TT_OK)
        return st;
    out->revision = get_i64(cJSON_GetObjectItemCaseSensitive(rep, "header"), "revision");
    st = add_kvs(e, cJSON_GetObjectItemCaseSensitive(rep, "kvs"), out);
    cJSON_Delete(rep);
    if (st != TT_OK)
        tt_etcd_kvs_free(out);
    return st;
}

/* tt_etcd_get_prefixes through the gateway */
static tt_status gw_get_prefixes(tt_etcd *e, const char *const *prefixes, size_t n, int64_t deadline, tt_etcd_kvs *out)
{
    memset(out, 0, sizeof *out);
    cJSON *req = cJSON_CreateObject();
    cJSON *succ = req ? cJSON_AddArrayToObject(req, "success") : NULL;
    bool ok = succ != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *r = range_json(prefixes[i]), *op = r ? cJSON_CreateObject() : NULL;
        ok = op != NULL;
        if (!ok) {
            cJSON_Delete(r);
            break;
        }
        /* served by the member asked, without a round of consensus: a read-only
         * transaction of serializable ranges. It may be a moment old; whoever acts on it
         * compares revisions when writing. */
        cJSON_AddBoolToObject(r, "serializable", true);
        cJSON_AddItemToObject(op, "request_range", r);
        cJSON_AddItemToArray(succ, op);
    }
    if (!ok) {
        cJSON_Delete(req);
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "etcd prefixes too long (or out of memory)");
    }
    cJSON *rep;
    tt_status st = call(e, "/v3/kv/txn", req, deadline, &rep);
    if (st != TT_OK)
        return st;
    out->revision = get_i64(cJSON_GetObjectItemCaseSensitive(rep, "header"), "revision");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(rep, "responses"))
    {
        const cJSON *range = cJSON_GetObjectItemCaseSensitive(r, "response_range");
        if (st == TT_OK && range)
            st = add_kvs(e, cJSON_GetObjectItemCaseSensitive(range, "kvs"), out);
    }
    cJSON_Delete(rep);
    if (st != TT_OK)
        tt_etcd_kvs_free(out);
    return st;
}

static cJSON *put_json(const char *key, const char *value, int64_t lease)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !add_b64(o, "key", key) || !add_b64(o, "value", value)) {
        cJSON_Delete(o);
        return NULL;
    }
    if (lease)
        add_i64(o, "lease", lease);
    return o;
}

static cJSON *delete_json(const char *key, bool prefix)
{
    cJSON *o = cJSON_CreateObject();
    char end[TT_ETCD_MAX_PREFIX];
    tt_etcd_prefix_end(key, end, sizeof end);
    if (!o || !add_b64(o, "key", key) || (prefix && !add_b64(o, "range_end", end))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Sends a request object that has been built (NULL: out of memory) and drops the reply. */
static tt_status simple(tt_etcd *e, const char *path, cJSON *req, int64_t deadline)
{
    cJSON *rep;
    tt_status st = call(e, path, req, deadline, &rep);
    if (st == TT_OK)
        cJSON_Delete(rep);
    return st;
}

tt_status tt_etcd_put(tt_etcd *e, const char *key, const char *value, int64_t lease, int64_t deadline)
{
    return simple(e, "/v3/kv/put", put_json(key, value, lease), deadline);
}

tt_status tt_etcd_delete(tt_etcd *e, const char *key, bool prefix, int64_t deadline)
{
    return simple(e, "/v3/kv/deleterange", delete_json(key, prefix), deadline);
}

tt_status tt_etcd_txn(tt_etcd *e, const tt_etcd_cmp *cmp, size_t n_cmp, const tt_etcd_op *ops, size_t n_ops,
                      int64_t deadline, bool *succeeded, int64_t *revision)
{
    return tt_etcd_txn_read(e, cmp, n_cmp, ops, n_ops, NULL, 0, true, deadline, succeeded, revision, NULL);
}

/* Appends a range over each prefix to the branch (false when out of memory). */
static bool add_ranges(cJSON *branch, const char *const *prefixes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON *r = range_json(prefixes[i]), *op = r ? cJSON_CreateObject() : NULL;
        if (!op) {
            cJSON_Delete(r);
            return false;
        }
        cJSON_AddItemToObject(op, "request_range", r);
        cJSON_AddItemToArray(branch, op);
    }
    return true;
}

/* tt_etcd_txn_read through the gateway */
static tt_status gw_txn_read(tt_etcd *e, const tt_etcd_cmp *cmp, size_t n_cmp, const tt_etcd_op *ops, size_t n_ops,
                             const char *const *prefixes, size_t n_prefixes, bool read_if_succeeded, int64_t deadline,
                             bool *succeeded, int64_t *revision, tt_etcd_kvs *read)
{
    static const char *targets[] = {"CREATE", "MOD", "VERSION"};
    static const char *fields[] = {"create_revision", "mod_revision", "version"};
    *succeeded = false;
    if (read)
        memset(read, 0, sizeof *read);
    cJSON *req = cJSON_CreateObject();
    cJSON *cmps = cJSON_AddArrayToObject(req, "compare"), *succ = cJSON_AddArrayToObject(req, "success");
    cJSON *fail = n_prefixes ? cJSON_AddArrayToObject(req, "failure") : NULL;
    bool ok = req && cmps && succ && (fail || !n_prefixes);
    for (size_t i = 0; ok && i < n_cmp; i++) {
        cJSON *c = cJSON_CreateObject();
        ok = c && cJSON_AddItemToArray(cmps, c) && add_b64(c, "key", cmp[i].key);
        if (ok) {
            cJSON_AddStringToObject(c, "target", targets[cmp[i].target]);
            cJSON_AddStringToObject(c, "result", cmp[i].greater ? "GREATER" : "EQUAL");
            add_i64(c, fields[cmp[i].target], cmp[i].rev);
        }
    }
    for (size_t i = 0; ok && i < n_ops; i++) {
        cJSON *inner = ops[i].del ? delete_json(ops[i].key, false) : put_json(ops[i].key, ops[i].value, ops[i].lease);
        cJSON *op = inner ? cJSON_CreateObject() : NULL;
        if (!op) {
            cJSON_Delete(inner);
            ok = false;
            break;
        }
        cJSON_AddItemToArray(succ, op);
        cJSON_AddItemToObject(op, ops[i].del ? "request_delete_range" : "request_put", inner);
    }
    /* the reads come after the writes: a range sees the transaction's own writes */
    ok = ok && add_ranges(succ, prefixes, read_if_succeeded ? n_prefixes : 0) && add_ranges(fail, prefixes, n_prefixes);
    if (!ok) {
        cJSON_Delete(req);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory (or an etcd prefix too long)");
    }
    cJSON *rep;
    tt_status st = call(e, "/v3/kv/txn", req, deadline, &rep);
    if (st != TT_OK)
        return st;
    *succeeded = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "succeeded"));
    int64_t rev = get_i64(cJSON_GetObjectItemCaseSensitive(rep, "header"), "revision");
    if (revision)
        *revision = rev;
    if (read) {
        read->revision = rev;
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(rep, "responses"))
        {
            const cJSON *range = cJSON_GetObjectItemCaseSensitive(r, "response_range");
            if (st == TT_OK && range)
                st = add_kvs(e, cJSON_GetObjectItemCaseSensitive(range, "kvs"), read);
        }
        if (st != TT_OK)
            tt_etcd_kvs_free(read);
    }
    cJSON_Delete(rep);
    return st;
}

/* After a gRPC call fell back: when the gateway then answered from the very member the call
 * went to, that member is reachable but does not speak gRPC (a proxy in front of it, say),
 * and this client stops trying. */
static void grpc_settle(tt_etcd *e, int tried, tt_status gateway)
{
    if (tried < 0 || gateway != TT_OK)
        return;
    pthread_mutex_lock(&e->lock);
    if (e->current == tried && !e->grpc_refused) {
        e->grpc_refused = true;
        tt_log(TT_LOG_INFO, "etcd (%s): %s answered its JSON gateway but not gRPC (%s); using the gateway", e->name,
               e->members[tried], e->grpc_why);
    }
    pthread_mutex_unlock(&e->lock);
}

tt_status tt_etcd_get_prefixes(tt_etcd *e, const char *const *prefixes, size_t n, int64_t deadline, tt_etcd_kvs *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0 || n > 8)
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "etcd: %zu prefixes in one read (1..8)", n);
    int tried;
    bool won;
    int64_t rev;
    tt_status st = grpc_txn(e, NULL, 0, NULL, 0, prefixes, n, true, true, deadline, &won, &rev, out, &tried);
    if (tried == GRPC_FINAL)
        return st;
    st = gw_get_prefixes(e, prefixes, n, deadline, out);
    grpc_settle(e, tried, st);
    return st;
}

tt_status tt_etcd_txn_read(tt_etcd *e, const tt_etcd_cmp *cmp, size_t n_cmp, const tt_etcd_op *ops, size_t n_ops,
                           const char *const *prefixes, size_t n_prefixes, bool read_if_succeeded, int64_t deadline,
                           bool *succeeded, int64_t *revision, tt_etcd_kvs *read)
{
    *succeeded = false;
    if (read)
        memset(read, 0, sizeof *read);
    if (n_prefixes > 8 || (n_prefixes && !read))
        return tt_error(TETHER_ERR_INVALID_ARGUMENT, "etcd: %zu prefixes to read in a transaction (0..8)", n_prefixes);
    int tried;
    int64_t rev = 0;
    tt_status st = grpc_txn(e, cmp, n_cmp, ops, n_ops, prefixes, n_prefixes, read_if_succeeded, false, deadline,
                            succeeded, &rev, read, &tried);
    if (tried == GRPC_FINAL) {
        if (revision)
            *revision = rev;
        return st;
    }
    st = gw_txn_read(e, cmp, n_cmp, ops, n_ops, prefixes, n_prefixes, read_if_succeeded, deadline, succeeded, revision,
                     read);
    grpc_settle(e, tried, st);
    return st;
}

tt_status tt_etcd_get(tt_etcd *e, const char *key, int64_t deadline, tt_etcd_kvs *out)
{
    memset(out, 0, sizeof *out);
    cJSON *req = cJSON_CreateObject();
    if (!req || !add_b64(req, "key", key)) {
        cJSON_Delete(req);
        return tt_error(TETHER_ERR_NO_MEMORY, "out of memory");
    }
    cJSON_AddBoolToObject(req, "serializable", true);
    cJSON *rep;
    tt_status st = call(e, "/v3/kv/range", req, deadline, &rep);
    if (st != TT_OK)
        return st;
    out->revision = get_i64(cJSON_GetObjectItemCaseSensitive(rep, "header"), "revision");
    st = add_kvs(e, cJSON_GetObjectItemCaseSensitive(rep, "kvs"), out);
    cJSON_Delete(rep);
    if (st != TT_OK)
        tt_etcd_kvs_free(out);
    return st;
}

tt_status tt_etcd_lease_grant(tt_etcd *e, int ttl_s, int64_t deadline, int64_t *id)
{
    cJSON *req = cJSON_CreateObject(); /* NULL: call() says out of memory */
    cJSON_AddNumberToObject(req, "TTL", ttl_s);
    cJSON *rep;
    tt_status st = call(e, "/v3/lease/grant", req, deadline, &rep);
    if (st != TT_OK)
        return st;
    *id = get_i64(rep, "ID");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(rep, "error");
    if (*id == 0)
        st = tt_error(TETHER_ERR_NETWORK, "etcd (%s) granted no lease: %s", e->name,
                      cJSON_IsString(err) ? err->valuestring : "no reason given");
    cJSON_Delete(rep);
    return st;
}

tt_status tt_etcd_lease_keepalive(tt_etcd *e, int64_t id, int64_t deadline, int64_t *ttl_s)
{
    cJSON *req = cJSON_CreateObject(); /* NULL: call() says out of memory */
    add_i64(req, "ID", id);
    cJSON *rep;
    tt_status st = call(e, "/v3/lease/keepalive", req, deadline, &rep);
    if (st != TT_OK)
        return st;
    /* a streaming call: one {"result": ...} per request; no TTL means the lease is gone */
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(rep, "result");
    *ttl_s = get_i64(res ? res : rep, "TTL");
    cJSON_Delete(rep);
    return TT_OK;
}

tt_status tt_etcd_lease_revoke(tt_etcd *e, int64_t id, int64_t deadline)
{
    cJSON *req = cJSON_CreateObject();
    if (req)
        add_i64(req, "ID", id);
    return simple(e, "/v3/lease/revoke", req, deadline);
}
