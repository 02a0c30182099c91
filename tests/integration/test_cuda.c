/* tetherd serving a GPU (--device cuda:0): without one it refuses to start and says why;
 * with one, a slot's device-memory quota refuses a model that does not fit (naming both
 * numbers) while another slot opens it, and inferences on the GPU match the CPU's. The GPU
 * tests are skipped, with the reason, where `tether devices` finds no GPU. */
#include "harness.h"

#include "backends/plugin.h"
#include "model/model.h"
#include "runtime/prepare.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* Why this host cannot run cuda:0, or "" when it can. Asked in a child process so the CUDA
 * runtime never starts in the test's own (forking) process. */
static void gpu_reason(char *why, size_t n)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        tt_backend_devices d;
        tt_devices_cuda(&d);
        const char *r = d.available ? "" : d.reason;
        if (write(fds[1], r, strlen(r)) < 0)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    ssize_t k = read(fds[0], why, n - 1);
    why[k > 0 ? k : 0] = 0;
    close(fds[0]);
    waitpid(pid, NULL, 0);
}

static void need_gpu(void)
{
    char why[512];
    gpu_reason(why, sizeof why);
    if (why[0])
        CHECK_SKIP("no GPU here: %s", why);
}

#ifdef TETHER_HAVE_MHD
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* GET /metrics from tetherd's metrics port into body. */
static void get_metrics(int port, char *body, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
    CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    size_t n = 0;
    ssize_t k;
    while (n < cap - 1 && (k = read(fd, body + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    body[n] = 0;
    close(fd);
}

/* The value of metric line `name{slot="i",...}`. */
static double metric(const char *body, const char *name, int slot)
{
    char key[128];
    snprintf(key, sizeof key, "%s{slot=\"%d\"", name, slot);
    const char *p = strstr(body, key);
    CHECK(p);
    p = strchr(p, '}');
    CHECK(p);
    return strtod(p + 1, NULL);
}

/* Every device reports each slot's utilisation: the share of time its inferences ran. */
TEST(slots_report_device_utilisation)
{
    th_fresh_home();
    char metrics[64];
    int port = free_port();
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", port);
    th_server s;
    th_server_start(&s, (const char *[]){"--slots", "cpu.medium=2", "--metrics", metrics, NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.medium", s.endpoint, &a));
    pbw m = th_model_slow(256, 16);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = "eia:0";
    tether_session *r;
    CHECK_OK(tether_session_open_bytes(&r, m.buf, m.len, &cfg));
    float x[256] = {1};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {1, 256}, .data = x,
                        .size = sizeof x};
    for (int i = 0; i < 5; i++) {
        tether_outputs *o;
        CHECK_OK(tether_session_run(r, &in, 1, &o));
        tether_outputs_free(o);
    }
    static char body[1 << 16];
    get_metrics(port, body, sizeof body);
    double u0 = metric(body, "tetherd_slot_device_utilisation", 0), u1 = metric(body, "tetherd_slot_device_utilisation", 1);
    double busy = metric(body, "tetherd_slot_compute_seconds_total", 0);
    CHECK(busy > 0 && u0 > 0 && u0 <= 1.0);
    CHECK(u1 == 0); /* the idle slot held nothing */
    tether_session_free(r);
    th_server_stop(&s);
    ob_free(&m);
}
#endif

/* No GPU needed: ResNet-18 (as PyTorch exports it) placed on the CUDA kernel tables runs
 * entirely on the device, with one copy in and one out. */
TEST(resnet18_places_on_the_gpu_with_one_copy_each_way)
{
#ifndef CUDA_PLUGIN_PATH
    CHECK_SKIP("the CUDA plugin is not built here");
#else
    char path[512];
    snprintf(path, sizeof path, "%s/resnet18.onnx", IT_MODELS_DIR);
    if (access(path, R_OK) != 0)
        CHECK_SKIP("%s was not exported (PyTorch missing)", path);
    setenv("TETHER_CUDA_PLUGIN", CUDA_PLUGIN_PATH, 1);
    const tt_plugin *p;
    CHECK_OK(tt_plugin_load("cuda", &p));
    const tt_backend *dry;
    CHECK_OK(p->open(-1, NULL, &dry));
    tt_model *m;
    CHECK_OK(tt_model_load_file(path, &m));
    tt_backend_list bl = {.n = 3, .b = {dry, &tt_backend_cpu, &tt_backend_ref}};
    CHECK_OK(tt_graph_compile(m->graph, &bl, true));
    int on_dev = 0, to_dev = 0, to_host = 0;
    for (int i = 0; i < m->graph->n_nodes; i++) {
        const tt_node *n = &m->graph->nodes[i];
        to_dev += strcmp(n->op_type, "MemcpyToDevice") == 0;
        to_host += strcmp(n->op_type, "MemcpyToHost") == 0;
        if (n->backend != dry)
            CHECK_FAIL("node '%s' (%s) went to %s", n->name, n->op_type, n->backend->name);
        on_dev++;
    }
    CHECK_EQ_INT(to_dev, 1);
    CHECK_EQ_INT(to_host, 1);
    CHECK(on_dev > 40);
    CHECK(dry->mem_used(dry) > 40u << 20); /* its 11.7 M parameters were uploaded once */
    tt_graph_release(m->graph);
    tt_model_free(m);
    CHECK_EQ_INT(dry->mem_used(dry), 0);
    dry->release(dry);
#endif
}

TEST(tetherd_says_why_it_cannot_serve_a_gpu)
{
    char why[512];
    gpu_reason(why, sizeof why);
    if (!why[0])
        CHECK_SKIP("a GPU is here: the refusal cannot be seen");
    th_server s;
    char err[512];
    const char *args[] = {"--device", "cuda:0", NULL};
    CHECK(tp_start(&s, TETHERD_PATH, th_root, args, false, "info", err, sizeof err) != 0);
    CHECK_STR_CONTAINS(err, "exited during start-up");
    FILE *f = fopen(s.log, "r");
    CHECK(f);
    char log[8192];
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = 0;
    fclose(f);
    CHECK_STR_CONTAINS(log, "device 'cuda:0' is unavailable: ");
    CHECK_STR_CONTAINS(log, why); /* the same reason `tether devices` gives */
}

TEST(gpu_slot_quota_and_inference)
{
    need_gpu();
    th_fresh_home();
    th_server s;
#ifdef TETHER_HAVE_MHD
    char metrics[64];
    int port = free_port();
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", port);
    th_server_start(&s, (const char *[]){"--device", "cuda:0", "--type", "tiny=4MiB,1tflops", "--slots",
                                         "tiny=1,eia2.medium=1", "--metrics", metrics, NULL});
#else
    th_server_start(&s, (const char *[]){"--device", "cuda:0", "--type", "tiny=4MiB,1tflops", "--slots",
                                         "tiny=1,eia2.medium=1", NULL});
#endif
    /* 1024 x 1024 weights: 4 MiB of device memory, past the tiny slot's whole quota */
    pbw m = th_model_dense(1024, 1024, 7);
    tt_attachment a;
    CHECK_OK(tt_attach("tiny", s.endpoint, &a));
    CHECK_OK(tt_attach("eia2.medium", s.endpoint, &a));
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.target = "eia:0";
    tether_session *tiny = NULL, *med = NULL, *cpu = NULL;
    CHECK_ERR(tether_session_open_bytes(&tiny, m.buf, m.len, &cfg), TETHER_ERR_QUOTA, "4194304");
    CHECK_STR_CONTAINS(tether_last_error(), "bytes");
    cfg.target = "eia:1";
    CHECK_OK(tether_session_open_bytes(&med, m.buf, m.len, &cfg));
    cfg.target = "cpu";
    CHECK_OK(tether_session_open_bytes(&cpu, m.buf, m.len, &cfg));
    float x[4 * 1024];
    for (int i = 0; i < 4 * 1024; i++)
        x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {4, 1024}, .data = x,
                        .size = sizeof x};
    for (int run = 0; run < 4; run++) { /* the GPU's steady path is captured and replayed by the third */
        tether_outputs *og, *oc;
        CHECK_OK(tether_session_run(med, &in, 1, &og));
        CHECK_OK(tether_session_run(cpu, &in, 1, &oc));
        const tether_tensor *g = tether_outputs_get(og, 0), *c = tether_outputs_get(oc, 0);
        CHECK_EQ_INT(g->size, c->size);
        for (size_t i = 0; i < c->size / 4; i++)
            CHECK_NEAR(((const float *)g->data)[i], ((const float *)c->data)[i], 1e-3 + 1e-3 * fabs(((const float *)c->data)[i]));
        tether_outputs_free(og);
        tether_outputs_free(oc);
    }
#ifdef TETHER_HAVE_MHD
    /* the medium slot holds the model's device memory and has used the GPU; the tiny one neither */
    static char body[1 << 16];
    get_metrics(port, body, sizeof body);
    CHECK(metric(body, "tetherd_slot_memory_used_bytes", 1) >= 4.0 * 1048576);
    CHECK(metric(body, "tetherd_slot_device_utilisation", 1) > 0);
    CHECK(metric(body, "tetherd_slot_memory_used_bytes", 0) == 0);
#endif
    tether_session_free(med);
    tether_session_free(cpu);
    ob_free(&m);
    th_server_stop(&s);
}

int main(int argc, char **argv) { return th_main(argc, argv); }
