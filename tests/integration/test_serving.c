/* Repository models over the native protocol, and dynamic batching: concurrent requests
 * of several rows each are joined into batches (checked on /metrics, so the test cannot
 * pass without batching), and every request's outputs are byte for byte those of an
 * unbatched run of the same model in this process. This holds only if every kernel the
 * models use computes each row of its output from that row alone, in an order that does
 * not depend on how many rows there are (batch invariance); the models cover MatMul,
 * Gemm, Conv, pooling, Softmax, LayerNormalization-style reductions and Gather, so a
 * kernel that is not batch-invariant fails here. Requests whose trailing dimensions differ
 * are never joined, and a request that fails in a batch fails alone. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#ifndef THREADS
#define THREADS 8
#endif
#define REQS 5

/* ---- models ------------------------------------------------------------------------ */

/* A value info whose dims < 0 are symbolic: -1 is "N" (the batch), -2 is "S". */
static pbw vinfo(const char *name, int dtype, int rank, const int64_t *dims)
{
    pbw shape = {0}, tt = {0}, tp = {0}, vi = {0};
    for (int i = 0; i < rank; i++) {
        pbw d = {0};
        if (dims[i] >= 0)
            pbw_int(&d, 1, dims[i]);
        else
            pbw_str(&d, 2, dims[i] == -1 ? "N" : "S");
        pbw_msg(&shape, 1, &d);
    }
    pbw_int(&tt, 1, dtype);
    pbw_msg(&tt, 2, &shape);
    pbw_msg(&tp, 1, &tt);
    pbw_str(&vi, 1, name);
    pbw_msg(&vi, 2, &tp);
    return vi;
}

static pbw weights(const char *name, int rank, const int64_t *dims, uint32_t seed)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    float *w = malloc(sizeof(float) * n);
    uint32_t st = seed * 2654435761u + 7;
    for (size_t i = 0; i < n; i++)
        w[i] = th_randf(&st) * 0.5f;
    pbw t = ob_tensor(name, TETHER_DTYPE_FLOAT, rank, dims, w, sizeof(float) * n);
    free(w);
    return t;
}

/* x[N,3,8,8] -> Conv 3x3 (6 channels, pad 1) -> Relu -> MaxPool 2x2 -> Flatten ->
 * Gemm (96 -> 10, transB) -> Softmax: CNN kernels and a classifier head. */
static pbw model_cnn(void)
{
    pbw inits[4] = {weights("W", 4, (int64_t[]){6, 3, 3, 3}, 1), weights("B", 1, (int64_t[]){6}, 2),
                    weights("G", 2, (int64_t[]){10, 96}, 3), weights("C", 1, (int64_t[]){10}, 4)};
    pbw conv_attrs[2] = {ob_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}),
                         ob_attr_ints("kernel_shape", 2, (int64_t[]){3, 3})};
    pbw pool_attrs[2] = {ob_attr_ints("kernel_shape", 2, (int64_t[]){2, 2}),
                         ob_attr_ints("strides", 2, (int64_t[]){2, 2})};
    pbw gemm_attr = ob_attr_int("transB", 1);
    pbw nodes[6] = {
        ob_node("Conv", 3, (const char *[]){"x", "W", "B"}, 1, (const char *[]){"c"}, 2, conv_attrs),
        ob_node("Relu", 1, (const char *[]){"c"}, 1, (const char *[]){"r"}, 0, NULL),
        ob_node("MaxPool", 1, (const char *[]){"r"}, 1, (const char *[]){"p"}, 2, pool_attrs),
        ob_node("Flatten", 1, (const char *[]){"p"}, 1, (const char *[]){"f"}, 0, NULL),
        ob_node("Gemm", 3, (const char *[]){"f", "G", "C"}, 1, (const char *[]){"g"}, 1, &gemm_attr),
        ob_node("Softmax", 1, (const char *[]){"g"}, 1, (const char *[]){"y"}, 0, NULL),
    };
    pbw x = vinfo("x", TETHER_DTYPE_FLOAT, 4, (int64_t[]){-1, 3, 8, 8});
    pbw y = vinfo("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 10});
    pbw g = ob_graph("cnn", 6, nodes, 4, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

/* x[N,S] -> (x - mean) / sqrt(var + eps) over S, then Softmax over S: row reductions whose
 * length varies from request to request. */
static pbw model_norm(void)
{
    float eps = 1e-5f;
    pbw inits[1] = {ob_tensor("eps", TETHER_DTYPE_FLOAT, 0, NULL, &eps, sizeof eps)};
    pbw axes = ob_attr_ints("axes", 1, (int64_t[]){1});
    pbw axes2 = ob_attr_ints("axes", 1, (int64_t[]){1});
    pbw nodes[7] = {
        ob_node("ReduceMean", 1, (const char *[]){"x"}, 1, (const char *[]){"m"}, 1, &axes),
        ob_node("Sub", 2, (const char *[]){"x", "m"}, 1, (const char *[]){"d"}, 0, NULL),
        ob_node("Mul", 2, (const char *[]){"d", "d"}, 1, (const char *[]){"d2"}, 0, NULL),
        ob_node("ReduceMean", 1, (const char *[]){"d2"}, 1, (const char *[]){"v"}, 1, &axes2),
        ob_node("Add", 2, (const char *[]){"v", "eps"}, 1, (const char *[]){"ve"}, 0, NULL),
        ob_node("Sqrt", 1, (const char *[]){"ve"}, 1, (const char *[]){"s"}, 0, NULL),
        ob_node("Div", 2, (const char *[]){"d", "s"}, 1, (const char *[]){"y"}, 0, NULL),
    };
    pbw x = vinfo("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, -2});
    pbw y = vinfo("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, -2});
    pbw g = ob_graph("norm", 7, nodes, 1, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

/* ids int64[N,2] -> Gather from a [10,4] table: an index out of range fails the run. */
static pbw model_gather(void)
{
    pbw inits[1] = {weights("T", 2, (int64_t[]){10, 4}, 9)};
    pbw nodes[1] = {ob_node("Gather", 2, (const char *[]){"T", "ids"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw x = vinfo("ids", TETHER_DTYPE_INT64, 2, (int64_t[]){-1, 2});
    pbw y = vinfo("y", TETHER_DTYPE_FLOAT, 3, (int64_t[]){-1, 2, 4});
    pbw g = ob_graph("gather", 1, nodes, 1, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

static void mkdir_p(const char *p)
{
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        CHECK_FAIL("mkdir %s: %s", p, strerror(errno));
}

static void repo_add(const char *repo, const char *name, const pbw *m, const char *config)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", repo, name);
    mkdir_p(p);
    snprintf(p, sizeof p, "%s/%s/1", repo, name);
    mkdir_p(p);
    snprintf(p, sizeof p, "%s/%s/1/model.onnx", repo, name);
    th_write_file(p, m->buf, m->len);
    snprintf(p, sizeof p, "%s/%s/config", repo, name);
    th_write_file(p, config, strlen(config));
}

/* ---- HTTP, for /metrics ------------------------------------------------------------- */

static char *http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    size_t cap = 1 << 20, n = 0;
    char *body = malloc(cap);
    ssize_t k;
    while (n < cap - 1 && (k = read(fd, body + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    body[n] = 0;
    close(fd);
    return body;
}

/* The value of a metric line that starts with `prefix` (0 when absent). */
static double metric(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    return p ? strtod(p + strlen(prefix), NULL) : 0;
}

/* ---- clients ------------------------------------------------------------------------ */

typedef struct client {
    const char *endpoint;
    const char *model; /* "model:NAME" */
    tether_session *local;
    int id;
    int (*make)(int id, int i, tether_tensor *t, void *buf); /* fills one request; returns 0 to expect failure */
    int ok, expected_failures;
    char err[512];
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = c->endpoint;
    cfg.quiet = 1;
    cfg.timeout_ms = 60000;
    tether_session *s;
    if (tether_session_open(&s, c->model, &cfg) != TETHER_OK) {
        snprintf(c->err, sizeof c->err, "open %s: %s", c->model, tether_last_error());
        return NULL;
    }
    static _Thread_local float buf[3 * 3 * 8 * 8 * 4];
    for (int i = 0; i < REQS; i++) {
        tether_tensor in;
        int expect_ok = c->make(c->id, i, &in, buf);
        tether_outputs *remote = NULL, *local = NULL;
        tether_status rs = tether_session_run(s, &in, 1, &remote);
        if (!expect_ok) {
            if (rs == TETHER_OK)
                snprintf(c->err, sizeof c->err, "request %d.%d should have failed", c->id, i);
            else
                c->expected_failures++;
            tether_outputs_free(remote);
            continue;
        }
        if (rs != TETHER_OK) {
            snprintf(c->err, sizeof c->err, "request %d.%d: %s", c->id, i, tether_last_error());
            break;
        }
        if (tether_session_run(c->local, &in, 1, &local) != TETHER_OK) {
            snprintf(c->err, sizeof c->err, "local run %d.%d: %s", c->id, i, tether_last_error());
            tether_outputs_free(remote);
            break;
        }
        for (size_t k = 0; k < tether_outputs_count(local) && !c->err[0]; k++) {
            const tether_tensor *a = tether_outputs_get(local, k), *b = tether_outputs_find(remote, a->name);
            if (!b || a->rank != b->rank || a->size != b->size || memcmp(a->dims, b->dims, sizeof a->dims) != 0)
                snprintf(c->err, sizeof c->err, "request %d.%d: output '%s' has another shape (rank %d/%d size %zu/%zu dims %lld,%lld / %lld,%lld)", c->id, i, a->name, a->rank, b->rank, a->size, b->size, (long long)a->dims[0], (long long)a->dims[1], (long long)b->dims[0], (long long)b->dims[1]);
            else if (memcmp(a->data, b->data, a->size) != 0) {
                size_t e = 0;
                while (e + 1 < a->size && ((char *)a->data)[e] == ((char *)b->data)[e])
                    e++;
                snprintf(c->err, sizeof c->err,
                         "request %d.%d: output '%s' differs from the unbatched local run from byte %zu of %zu on "
                         "(not bit-identical: a kernel is not batch-invariant)",
                         c->id, i, a->name, e, a->size);
            }
        }
        tether_outputs_free(remote);
        tether_outputs_free(local);
        if (c->err[0])
            break;
        c->ok++;
    }
    tether_session_free(s);
    return NULL;
}

/* Runs THREADS clients of `model` at once; every request is checked against `local`. */
static void run_clients(const char *endpoint, const char *model, tether_session *local,
                        int (*make)(int, int, tether_tensor *, void *), int *ok, int *failed)
{
    client c[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (client){.endpoint = endpoint, .model = model, .local = local, .id = i, .make = make};
        pthread_create(&th[i], NULL, client_main, &c[i]);
    }
    *ok = *failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (c[i].err[0])
            CHECK_FAIL("client %d: %s", i, c[i].err);
        *ok += c[i].ok;
        *failed += c[i].expected_failures;
    }
}

static int make_dense(int id, int i, tether_tensor *t, void *buf)
{
    int rows = 1 + (id + i) % 3;
    uint32_t st = (uint32_t)(id * 1000 + i + 1);
    float *x = buf;
    for (int k = 0; k < rows * 64; k++)
        x[k] = th_randf(&st);
    *t = (tether_tensor){.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {rows, 64}, .data = x,
                         .size = sizeof(float) * (size_t)rows * 64};
    return 1;
}

static int make_cnn(int id, int i, tether_tensor *t, void *buf)
{
    int rows = 1 + (id * 3 + i) % 4;
    uint32_t st = (uint32_t)(id * 7777 + i + 3);
    float *x = buf;
    for (int k = 0; k < rows * 3 * 64; k++)
        x[k] = th_randf(&st);
    *t = (tether_tensor){.dtype = TETHER_DTYPE_FLOAT, .rank = 4, .dims = {rows, 3, 8, 8}, .data = x,
                         .size = sizeof(float) * (size_t)rows * 3 * 64};
    return 1;
}

/* Even clients send rows of 5 values, odd ones rows of 7: the two never join. */
static int make_norm(int id, int i, tether_tensor *t, void *buf)
{
    int rows = 1 + i % 2, len = id % 2 ? 7 : 5;
    uint32_t st = (uint32_t)(id * 31 + i + 11);
    float *x = buf;
    for (int k = 0; k < rows * len; k++)
        x[k] = th_randf(&st) * 4;
    *t = (tether_tensor){.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {rows, len}, .data = x,
                         .size = sizeof(float) * (size_t)(rows * len)};
    return 1;
}

/* Client 3's third request asks for row 50 of a 10-row table. */
static int make_gather(int id, int i, tether_tensor *t, void *buf)
{
    int64_t *ids = buf;
    int rows = 1 + (id + i) % 2;
    for (int k = 0; k < rows * 2; k++)
        ids[k] = (id + i + k) % 10;
    bool bad = id == 3 && i == 2;
    if (bad)
        ids[1] = 50;
    *t = (tether_tensor){.dtype = TETHER_DTYPE_INT64, .rank = 2, .dims = {rows, 2}, .data = ids,
                         .size = sizeof(int64_t) * (size_t)rows * 2};
    return !bad;
}

/* ---- tests --------------------------------------------------------------------------- */

typedef struct fixture {
    th_server s;
    int http;
    pbw dense, cnn, norm, gather;
} fixture;

static void start_with(fixture *f, const char *delay_us, const char *extra1, const char *extra2)
{
    char repo[300], port_file[360], cfg[256];
    th_mkdtemp("repo", repo, sizeof repo);
    snprintf(port_file, sizeof port_file, "%s/http.port", repo);
    snprintf(cfg, sizeof cfg, "slot = cpu.large\nmax_batch_size = 16\nmax_queue_delay_us = %s\n", delay_us);
    f->dense = th_model_dense(64, 32, 5);
    f->cnn = model_cnn();
    f->norm = model_norm();
    f->gather = model_gather();
    repo_add(repo, "dense", &f->dense, cfg);
    repo_add(repo, "cnn", &f->cnn, cfg);
    repo_add(repo, "norm", &f->norm, cfg);
    repo_add(repo, "gather", &f->gather, cfg);
    th_server_start(&f->s, (const char *const[]){"--slots", "cpu.medium=1,cpu.large=1", "--model-repository", repo,
                                                  "--http", "127.0.0.1:0", "--http-port-file", port_file, extra1,
                                                  extra2, NULL});
    f->http = th_read_port(port_file);
}

static void start(fixture *f, const char *delay_us)
{
    start_with(f, delay_us, NULL, NULL);
}

static void stop(fixture *f)
{
    th_server_stop(&f->s);
    ob_free(&f->dense);
    ob_free(&f->cnn);
    ob_free(&f->norm);
    ob_free(&f->gather);
}

static void check_batched(const fixture *f, const char *model, int requests)
{
    char *m = http_get(f->http, "/metrics");
    char key[160];
    snprintf(key, sizeof key, "tetherd_model_batch_size_count{model=\"%s\",version=\"1\"} ", model);
    double runs = metric(m, key);
    snprintf(key, sizeof key, "tetherd_model_requests_total{model=\"%s\",version=\"1\",code=\"200\"} ", model);
    double ok = metric(m, key);
    free(m);
    CHECK_EQ_INT((long long)ok, requests);
    /* joined: fewer runs than requests (a batch of several requests is one run) */
    if (!(runs >= 1 && runs < requests * 0.75))
        CHECK_FAIL("model %s: %.0f runs for %d requests: requests were not batched", model, runs, requests);
}

TEST(batched_outputs_are_bit_identical_to_unbatched_local_runs)
{
    fixture f;
    start(&f, "20000");
    tether_session *ld = th_open(f.dense.buf, f.dense.len, "cpu", 0), *lc = th_open(f.cnn.buf, f.cnn.len, "cpu", 0);
    int ok, failed;
    run_clients(f.s.endpoint, "model:dense", ld, make_dense, &ok, &failed);
    CHECK_EQ_INT(ok, THREADS * REQS);
    check_batched(&f, "dense", THREADS * REQS);
    run_clients(f.s.endpoint, "model:cnn", lc, make_cnn, &ok, &failed);
    CHECK_EQ_INT(ok, THREADS * REQS);
    check_batched(&f, "cnn", THREADS * REQS);
    tether_session_free(ld);
    tether_session_free(lc);
    stop(&f);
}

TEST(requests_with_other_trailing_dims_never_join)
{
    fixture f;
    start(&f, "20000");
    tether_session *ln = th_open(f.norm.buf, f.norm.len, "cpu", 0);
    int ok, failed;
    run_clients(f.s.endpoint, "model:norm", ln, make_norm, &ok, &failed);
    CHECK_EQ_INT(ok, THREADS * REQS);
    check_batched(&f, "norm", THREADS * REQS);
    tether_session_free(ln);
    stop(&f);
}

TEST(a_request_that_fails_in_a_batch_fails_alone)
{
    fixture f;
    start(&f, "20000");
    tether_session *lg = th_open(f.gather.buf, f.gather.len, "cpu", 0);
    int ok, failed;
    run_clients(f.s.endpoint, "model:gather", lg, make_gather, &ok, &failed);
    CHECK_EQ_INT(failed, 1);
    CHECK_EQ_INT(ok, THREADS * REQS - 1);
    tether_session_free(lg);
    stop(&f);
}

TEST(named_models_refuse_what_does_not_fit)
{
    fixture f;
    start(&f, "100");
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = f.s.endpoint;
    cfg.quiet = 1;
    tether_session *s;
    CHECK_ERR(tether_session_open(&s, "model:nosuch", &cfg), TETHER_ERR_NOT_FOUND, "unknown model 'nosuch'");
    CHECK_ERR(tether_session_open(&s, "model:dense:7", &cfg), TETHER_ERR_NOT_FOUND, "no version 7");
    cfg.target = "cpu";
    CHECK_ERR(tether_session_open(&s, "model:dense", &cfg), TETHER_ERR_INVALID_ARGUMENT, "tcp://HOST:PORT");
    cfg.target = f.s.endpoint;
    CHECK_OK(tether_session_open(&s, "model:dense:1", &cfg));
    int64_t ids[2] = {1, 2};
    tether_tensor bad = {.dtype = TETHER_DTYPE_INT64, .rank = 2, .dims = {1, 2}, .data = ids, .size = sizeof ids};
    tether_outputs *o = NULL;
    CHECK_ERR(tether_session_run(s, &bad, 1, &o), TETHER_ERR_SHAPE, "must be float32");
    float x[17 * 64] = {0};
    tether_tensor big = {.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {17, 64}, .data = x, .size = sizeof x};
    CHECK_ERR(tether_session_run(s, &big, 1, &o), TETHER_ERR_SHAPE, "over its max_batch_size of 16");
    tether_tensor one = {.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {1, 64}, .data = x, .size = 64 * sizeof(float)};
    CHECK_OK(tether_session_run(s, &one, 1, &o));
    CHECK_EQ_INT(tether_outputs_get(o, 0)->dims[0], 1);
    CHECK_EQ_INT(tether_outputs_get(o, 0)->dims[1], 32);
    tether_outputs_free(o);
    tether_session_free(s);
    stop(&f);
}

/* A connection holding a repository model is bound like an attached one: the deadline for
 * connections that never attach does not close it. */
TEST(a_connection_with_a_named_model_outlives_the_auth_timeout)
{
    fixture f;
    start_with(&f, "100", "--auth-timeout", "1");
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = f.s.endpoint;
    cfg.quiet = 1;
    tether_session *s;
    CHECK_OK(tether_session_open(&s, "model:dense", &cfg));
    th_sleep_ms(2500); /* the server sweeps its connections every 100 ms */
    char *m = http_get(f.http, "/metrics");
    double conns = metric(m, "\ntetherd_connections ");
    free(m);
    CHECK_EQ_INT((long long)conns, 1);
    float x[64] = {0};
    tether_tensor one = {.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {1, 64}, .data = x, .size = sizeof x};
    tether_outputs *o = NULL;
    CHECK_OK(tether_session_run(s, &one, 1, &o));
    tether_outputs_free(o);
    tether_session_free(s);
    stop(&f);
}

/* ---- configured input dims (dims.INPUT in a model's config) ----------------------------- */

/* The dense model as exported with a FIXED batch of 1: x[1,64] -> MatMul [64,32] -> Add ->
 * Relu -> y[1,32], with the intermediate t declared [1,32] too (as exporters write it). */
static pbw model_fixed_batch(void)
{
    pbw inits[2] = {weights("W", 2, (int64_t[]){64, 32}, 21), weights("b", 1, (int64_t[]){32}, 22)};
    pbw nodes[3] = {ob_node("MatMul", 2, (const char *[]){"x", "W"}, 1, (const char *[]){"t"}, 0, NULL),
                    ob_node("Add", 2, (const char *[]){"t", "b"}, 1, (const char *[]){"u"}, 0, NULL),
                    ob_node("Relu", 1, (const char *[]){"u"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw x = vinfo("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 64});
    pbw y = vinfo("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 32});
    pbw g = ob_graph("fixed", 3, nodes, 2, inits, 1, &x, 1, &y);
    pbw t = vinfo("t", TETHER_DTYPE_FLOAT, 2, (int64_t[]){1, 32});
    pbw_msg(&g, 13, &t);
    return ob_model(13, &g);
}

/* One HTTP/1.0 request; returns the whole response (status line, headers, body) and *status. */
static char *http_req(int port, const char *method, const char *path, const char *body, int *status)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    snprintf(head, sizeof head, "%s %s HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             method, path, blen);
    CHECK(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
    if (blen)
        CHECK(write(fd, body, blen) == (ssize_t)blen);
    size_t cap = 1 << 20, n = 0;
    char *resp = malloc(cap);
    ssize_t k;
    while (n < cap - 1 && (k = read(fd, resp + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    resp[n] = 0;
    close(fd);
    *status = 0;
    sscanf(resp, "HTTP/%*s %d", status);
    return resp;
}

/* The repository index entry of `name` (a copy of its JSON object, or "" when absent). */
static void index_entry(const char *index, const char *name, char *out, size_t cap)
{
    char key[160];
    snprintf(key, sizeof key, "{\"name\":\"%s\"", name);
    const char *p = strstr(index, key), *e = p ? strchr(p, '}') : NULL;
    out[0] = 0;
    if (p && e)
        snprintf(out, cap, "%.*s", (int)(e - p + 1), p);
}

static tether_session *open_with_dims(const pbw *m, const char *input, int rank, const int64_t *dims)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_input_dims d = {.name = input, .rank = rank};
    memcpy(d.dims, dims, sizeof(int64_t) * (size_t)rank);
    cfg.input_dims = &d;
    cfg.n_input_dims = 1;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    return s;
}

/* A model exported with batch 1, served with dims.x = -1,64: the session sees a free batch,
 * so requests are batched and equal unbatched runs; the same bytes without dims stay batch 1
 * (the model cache does not share the two sessions); dims that do not fit the model are load
 * errors naming the model, the input and the dimension; metadata reports the configured
 * shapes; requests that break a fixed configured dimension are refused (400). */
TEST(configured_dims_free_a_fixed_batch_and_are_enforced)
{
    char repo[300], port_file[360];
    th_mkdtemp("repo", repo, sizeof repo);
    snprintf(port_file, sizeof port_file, "%s/http.port", repo);
    pbw fixed = model_fixed_batch(), norm = model_norm();
    repo_add(repo, "fixed", &fixed,
             "slot = cpu.large\nmax_batch_size = 16\nmax_queue_delay_us = 20000\ndims.x = -1,64  # any batch\n");
    repo_add(repo, "fixed_plain", &fixed, "slot = cpu.large\nmax_batch_size = 16\n");
    repo_add(repo, "norm5", &norm, "slot = cpu.large\ndims.x = -1,5\n"); /* a symbolic dimension fixed */
    repo_add(repo, "dims_noinput", &fixed, "slot = cpu.large\ndims.nosuch = -1,64\n");
    repo_add(repo, "dims_rank", &fixed, "slot = cpu.large\ndims.x = -1\n");
    repo_add(repo, "dims_conflict", &fixed, "slot = cpu.large\ndims.x = -1,65\n");
    repo_add(repo, "dims_zero", &fixed, "slot = cpu.large\ndims.x = -1,0\n");
    repo_add(repo, "dims_twice", &fixed, "slot = cpu.large\ndims.x = -1,64\ndims.x = 1,64\n");
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.medium=1,cpu.large=1", "--model-repository", repo,
                                              "--http", "127.0.0.1:0", "--http-port-file", port_file, NULL});
    int http = th_read_port(port_file), status;

    /* load errors */
    char *index = http_req(http, "POST", "/v2/repository/index", "{}", &status);
    CHECK_EQ_INT(status, 200);
    char e[1024];
    index_entry(index, "fixed", e, sizeof e);
    CHECK_STR_CONTAINS(e, "\"state\":\"READY\"");
    index_entry(index, "fixed_plain", e, sizeof e);
    CHECK_STR_CONTAINS(e, "\"state\":\"READY\"");
    index_entry(index, "norm5", e, sizeof e);
    CHECK_STR_CONTAINS(e, "\"state\":\"READY\"");
    index_entry(index, "dims_noinput", e, sizeof e);
    CHECK_STR_CONTAINS(e, "UNAVAILABLE");
    CHECK_STR_CONTAINS(e, "model 'dims_noinput'");
    CHECK_STR_CONTAINS(e, "'nosuch' is not an input of the model (its inputs: 'x')");
    index_entry(index, "dims_rank", e, sizeof e);
    CHECK_STR_CONTAINS(e, "model 'dims_rank'");
    CHECK_STR_CONTAINS(e, "input 'x' has rank 2 (shape [1,64] in the model); 1 dimensions were given");
    index_entry(index, "dims_conflict", e, sizeof e);
    CHECK_STR_CONTAINS(e, "model 'dims_conflict'");
    CHECK_STR_CONTAINS(e, "input 'x' dimension 1 is 64 in the model, not 65");
    index_entry(index, "dims_zero", e, sizeof e);
    CHECK_STR_CONTAINS(e, "dims_zero/config:2: dims.x dimension 1 is 0");
    index_entry(index, "dims_twice", e, sizeof e);
    CHECK_STR_CONTAINS(e, "dims_twice/config:3: dims.x is given twice");
    free(index);

    /* metadata: the configured shapes, and the model's own for the same bytes without dims */
    char *meta = http_req(http, "GET", "/v2/models/fixed", NULL, &status);
    CHECK_EQ_INT(status, 200);
    CHECK_STR_CONTAINS(meta, "{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,64]}");
    CHECK_STR_CONTAINS(meta, "{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1,32]}");
    CHECK_STR_CONTAINS(meta, "\"max_batch_size\":16");
    free(meta);
    meta = http_req(http, "GET", "/v2/models/fixed_plain", NULL, &status);
    CHECK_STR_CONTAINS(meta, "\"shape\":[1,64]");
    CHECK_STR_CONTAINS(meta, "\"max_batch_size\":0"); /* batch 1: not batchable */
    free(meta);
    meta = http_req(http, "GET", "/v2/models/norm5", NULL, &status);
    CHECK_STR_CONTAINS(meta, "{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,5]}");
    free(meta);

    /* concurrent requests of 1-3 rows are batched, and equal unbatched runs of the model with
     * the same dims in this process */
    tether_session *local = open_with_dims(&fixed, "x", 2, (int64_t[]){-1, 64});
    int ok, failed;
    run_clients(s.endpoint, "model:fixed", local, make_dense, &ok, &failed);
    CHECK_EQ_INT(ok, THREADS * REQS);
    char *m = http_get(http, "/metrics");
    double rows = metric(m, "tetherd_model_batch_size_sum{model=\"fixed\",version=\"1\"} ");
    double runs = metric(m, "tetherd_model_batch_size_count{model=\"fixed\",version=\"1\"} ");
    double le1 = metric(m, "tetherd_model_batch_size_bucket{model=\"fixed\",version=\"1\",le=\"1\"} ");
    free(m);
    if (!(runs >= 1 && rows > runs && le1 < runs))
        CHECK_FAIL("model fixed: %.0f runs of %.0f rows (%.0f of one row): no batch of more than one row", runs, rows,
                   le1);
    tether_session_free(local);

    /* the same bytes without dims: batch 1, as exported */
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = s.endpoint;
    cfg.quiet = 1;
    tether_session *plain;
    CHECK_OK(tether_session_open(&plain, "model:fixed_plain", &cfg));
    float x[2 * 64] = {0};
    tether_tensor two = {.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {2, 64}, .data = x, .size = sizeof x};
    tether_outputs *o = NULL;
    CHECK_ERR(tether_session_run(plain, &two, 1, &o), TETHER_ERR_SHAPE, "input 'x' dimension 0 must be 1");
    tether_session_free(plain);

    /* KServe: a request breaking a configured fixed dimension is refused with 400 */
    char *r = http_req(http, "POST", "/v2/models/fixed/infer",
                       "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]}", &status);
    CHECK_EQ_INT(status, 400);
    CHECK_STR_CONTAINS(r, "input 'x' dimension 1 must be 64");
    free(r);
    r = http_req(http, "POST", "/v2/models/norm5/infer",
                 "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,7],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5,6,7]}]}",
                 &status);
    CHECK_EQ_INT(status, 400);
    CHECK_STR_CONTAINS(r, "input 'x' dimension 1 must be 5");
    free(r);
    r = http_req(http, "POST", "/v2/models/norm5/infer",
                 "{\"inputs\":[{\"name\":\"x\",\"shape\":[2,5],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5,1,2,3,4,6]}]}",
                 &status);
    CHECK_EQ_INT(status, 200);
    CHECK_STR_CONTAINS(r, "\"shape\":[2,5]");
    free(r);

    th_server_stop(&s);
    ob_free(&fixed);
    ob_free(&norm);
}

/* The engine side: input_dims refuses what does not fit the model, and frees or fixes. */
TEST(session_input_dims_are_checked_and_applied)
{
    pbw fixed = model_fixed_batch();
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s = NULL;
    tether_input_dims d = {.name = "x", .rank = 2, .dims = {1, 63}};
    cfg.input_dims = &d;
    cfg.n_input_dims = 1;
    CHECK_ERR(tether_session_open_bytes(&s, fixed.buf, fixed.len, &cfg), TETHER_ERR_INVALID_ARGUMENT,
              "input 'x' dimension 1 is 64 in the model, not 63");
    d = (tether_input_dims){.name = "x", .rank = 2, .dims = {-2, 64}};
    CHECK_ERR(tether_session_open_bytes(&s, fixed.buf, fixed.len, &cfg), TETHER_ERR_INVALID_ARGUMENT,
              "input 'x' dimension 0: -2 is neither -1 (free) nor a size > 0");
    d = (tether_input_dims){.name = "x", .rank = 2, .dims = {-1, 64}};
    cfg.target = "tcp://127.0.0.1:1";
    CHECK_ERR(tether_session_open_bytes(&s, fixed.buf, fixed.len, &cfg), TETHER_ERR_UNSUPPORTED,
              "input_dims is for local sessions");
    cfg.target = "cpu";
    CHECK_OK(tether_session_open_bytes(&s, fixed.buf, fixed.len, &cfg));
    tether_value_info info;
    CHECK_OK(tether_session_input_info(s, 0, &info));
    CHECK_EQ_INT(info.dims[0], -1);
    CHECK_EQ_INT(info.dims[1], 64);
    CHECK_OK(tether_session_output_info(s, 0, &info));
    CHECK_EQ_INT(info.rank, 2);
    CHECK_EQ_INT(info.dims[0], -1); /* the declared [1,32] no longer holds */
    CHECK_EQ_INT(info.dims[1], 32);
    float x[3 * 64];
    for (int i = 0; i < 3 * 64; i++)
        x[i] = (float)(i % 7) - 3;
    tether_tensor three = {.dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {3, 64}, .data = x, .size = sizeof x};
    tether_outputs *o = NULL;
    CHECK_OK(tether_session_run(s, &three, 1, &o));
    CHECK_EQ_INT(tether_outputs_get(o, 0)->dims[0], 3);
    CHECK_EQ_INT(tether_outputs_get(o, 0)->dims[1], 32);
    tether_outputs_free(o);
    tether_session_free(s);
    ob_free(&fixed);
}

int main(int argc, char **argv)
{
#ifndef TETHER_HAVE_MHD
    printf("skipped: tetherd was built without libmicrohttpd (no --http, which the test reads /metrics on)\n");
    return 77;
#endif
    return th_main(argc, argv);
}
