/* The public session API: open from bytes, describe inputs/outputs, run with named and
 * positional tensors, reject bad inputs with messages naming them, run from many threads. */
#include "check.h"
#include "onnx_build.h"

#include "net/sock.h"

#include <cblas.h>
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* y = relu(x * w) with x: float[N, 3] (N symbolic), w: float[3] initializer. */
static pbw mul_relu_model(void)
{
    float w[3] = {1.0f, -2.0f, 0.5f};
    pbw init = ob_tensor("w", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3}, w, sizeof w);
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 3});
    pbw nodes[2] = {ob_node("Mul", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"t"}, 0, NULL),
                    ob_node("Relu", 1, (const char *[]){"t"}, 1, (const char *[]){"y"}, 0, NULL)};
    pbw g = ob_graph("g", 2, nodes, 1, &init, 1, &x, 1, &y);
    return ob_model(13, &g);
}

static tether_session *open_model(pbw *m)
{
    tether_session *s = NULL;
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    return s;
}

/* OpenBLAS starts its own workers when it loads, and they spin; libtether ends them and keeps
 * OpenBLAS to one thread as soon as it is loaded, before any session (src/client/open.c).
 * Every test runs in a child of a process that opened none. */
TEST(openblas_keeps_no_threads_of_its_own_before_any_session) { CHECK_EQ_INT(openblas_get_num_threads(), 1); }

TEST(describe_inputs_and_outputs)
{
    pbw m = mul_relu_model();
    tether_session *s = open_model(&m);
    CHECK_EQ_INT(tether_session_input_count(s), 1);
    CHECK_EQ_INT(tether_session_output_count(s), 1);
    tether_value_info info;
    CHECK_OK(tether_session_input_info(s, 0, &info));
    CHECK(strcmp(info.name, "x") == 0);
    CHECK_EQ_INT(info.dtype, TETHER_DTYPE_FLOAT);
    CHECK_EQ_INT(info.rank, 2);
    CHECK_EQ_INT(info.dims[0], -1);
    CHECK(info.dim_names[0] && strcmp(info.dim_names[0], "N") == 0);
    CHECK_EQ_INT(info.dims[1], 3);
    CHECK_ERR(tether_session_input_info(s, 1, &info), TETHER_ERR_INVALID_ARGUMENT, "out of range");
    tether_session_free(s);
    ob_free(&m);
}

static void check_run(tether_session *s, int64_t n, const char *name)
{
    float x[64 * 3], want[64 * 3];
    const float w[3] = {1.0f, -2.0f, 0.5f};
    for (int i = 0; i < n * 3; i++) {
        x[i] = (float)(i % 7) - 3.0f;
        float t = x[i] * w[i % 3];
        want[i] = t > 0 ? t : 0;
    }
    tether_tensor in = {.name = name, .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {n, 3}, .data = x,
                        .size = sizeof(float) * (size_t)(n * 3)};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    CHECK_EQ_INT(tether_outputs_count(out), 1);
    const tether_tensor *y = tether_outputs_find(out, "y");
    CHECK(y != NULL);
    CHECK_EQ_INT(y->rank, 2);
    CHECK_EQ_INT(y->dims[0], n);
    CHECK_EQ_INT(y->size, (size_t)(n * 3) * sizeof(float));
    for (int i = 0; i < n * 3; i++)
        CHECK_NEAR(((float *)y->data)[i], want[i], 0);
    tether_outputs_free(out);
}

TEST(run_named_positional_and_new_batch_sizes)
{
    pbw m = mul_relu_model();
    tether_session *s = open_model(&m);
    check_run(s, 1, "x");
    check_run(s, 5, NULL);
    check_run(s, 5, "x"); /* planned now */
    check_run(s, 64, "x");
    check_run(s, 1, "x");
    tether_session_stats st;
    CHECK_OK(tether_session_stats_get(s, &st));
    CHECK(st.weight_bytes >= 12);
    CHECK_EQ_INT(st.nodes, 2);
    tether_session_free(s);
    ob_free(&m);
}

TEST(bad_inputs_are_named)
{
    pbw m = mul_relu_model();
    tether_session *s = open_model(&m);
    float x[6] = {0};
    tether_outputs *out;
    tether_tensor in = {.name = "nope", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {2, 3}, .data = x, .size = sizeof x};
    CHECK_ERR(tether_session_run(s, &in, 1, &out), TETHER_ERR_INVALID_ARGUMENT, "no input named 'nope'");
    in.name = "x";
    in.dtype = TETHER_DTYPE_INT32;
    CHECK_ERR(tether_session_run(s, &in, 1, &out), TETHER_ERR_SHAPE, "must be float32, got int32");
    in.dtype = TETHER_DTYPE_FLOAT;
    in.dims[1] = 4;
    CHECK_ERR(tether_session_run(s, &in, 1, &out), TETHER_ERR_SHAPE, "dimension 1 must be 3");
    in.dims[1] = 3;
    in.size = 8;
    CHECK_ERR(tether_session_run(s, &in, 1, &out), TETHER_ERR_SHAPE, "needs 24 bytes");
    CHECK_ERR(tether_session_run(s, NULL, 0, &out), TETHER_ERR_INVALID_ARGUMENT, "input 'x' is missing");
    tether_session_free(s);
    ob_free(&m);
}

static void *thread_main(void *arg)
{
    for (int k = 0; k < 200; k++)
        check_run(arg, 1 + (k % 7), "x");
    return NULL;
}

TEST(many_threads_one_session)
{
    pbw m = mul_relu_model();
    tether_session *s = open_model(&m);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, thread_main, s);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    tether_session_free(s);
    ob_free(&m);
}

TEST(unsupported_op_fails_at_load_naming_it)
{
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = ob_node("FrobnicateV2", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    tether_session *s;
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, NULL), TETHER_ERR_UNSUPPORTED,
              "op FrobnicateV2 (domain ai.onnx, opset 13) is not supported");
    ob_free(&m);
}

static pbw external_entry(const char *k, const char *v)
{
    pbw e = {0};
    pbw_str(&e, 1, k);
    pbw_str(&e, 2, v);
    return e;
}

TEST(external_data_next_to_the_model)
{
    char dir[] = "/tmp/tether-ext-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    /* weights.bin: 16 bytes of padding, then w = {1, 2, 3} */
    float w[4 + 3] = {0, 0, 0, 0, 1, 2, 3};
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(w, sizeof w, 1, f) == 1);
    fclose(f);
    pbw t = {0};
    pbw_int(&t, 1, 3);
    pbw_int(&t, 2, TETHER_DTYPE_FLOAT);
    pbw_str(&t, 8, "w");
    pbw e1 = external_entry("location", "weights.bin"), e2 = external_entry("offset", "16"),
        e3 = external_entry("length", "12");
    pbw_msg(&t, 13, &e1);
    pbw_msg(&t, 13, &e2);
    pbw_msg(&t, 13, &e3);
    pbw_int(&t, 14, 1);
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = ob_node("Add", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("ext", 1, &n, 1, &t, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    f = fopen(path, "wb");
    CHECK(f && fwrite(m.buf, m.len, 1, f) == 1);
    fclose(f);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *s;
    CHECK_OK(tether_session_open(&s, path, &cfg));
    float xv[3] = {10, 20, 30};
    tether_tensor in = {.name = "x", .dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {3}, .data = xv, .size = 12};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, &in, 1, &out));
    const float *yv = tether_outputs_get(out, 0)->data;
    CHECK(yv[0] == 11 && yv[1] == 22 && yv[2] == 33);
    tether_outputs_free(out);
    tether_session_free(s);
    /* from bytes there is no folder to find the data in: a clear error */
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, &cfg), TETHER_ERR_INVALID_MODEL, "opened from bytes");
    ob_free(&m);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    CHECK(system(path) == 0);
}

/* ---- local files: external data stays inside the model's folder; FIFOs never block ------ */

/* Writes dir/model.onnx: y = x + w, w's 12 bytes kept externally at `location`. */
static void write_external_model(const char *dir, const char *location)
{
    pbw t = {0};
    pbw_int(&t, 1, 3);
    pbw_int(&t, 2, TETHER_DTYPE_FLOAT);
    pbw_str(&t, 8, "w");
    pbw e1 = external_entry("location", location);
    pbw_msg(&t, 13, &e1);
    pbw_int(&t, 14, 1);
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){3});
    pbw n = ob_node("Add", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("ext", 1, &n, 1, &t, 1, &x, 1, &y);
    pbw m = ob_model(13, &g);
    char path[512];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(m.buf, m.len, 1, f) == 1);
    fclose(f);
    ob_free(&m);
}

static tether_status open_quiet(const char *path, tether_session **s)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    return tether_session_open(s, path, &cfg);
}

TEST(external_data_never_leaves_the_models_folder)
{
    char root[] = "/tmp/tether-esc-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char dir[300], secret[300], path[700], link[700];
    snprintf(dir, sizeof dir, "%s/model", root);
    snprintf(secret, sizeof secret, "%s/secret", root);
    CHECK(mkdir(dir, 0700) == 0 && mkdir(secret, 0700) == 0);
    /* a file outside the folder, of exactly the size the tensor wants */
    float outside[3] = {7, 8, 9};
    snprintf(path, sizeof path, "%s/key.bin", secret);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(outside, sizeof outside, 1, f) == 1);
    fclose(f);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    tether_session *s = NULL;

    /* a symbolic link to the file */
    snprintf(link, sizeof link, "%s/weights.bin", dir);
    CHECK(symlink("../secret/key.bin", link) == 0);
    write_external_model(dir, "weights.bin");
    CHECK_ERR(open_quiet(path, &s), TETHER_ERR_INVALID_MODEL, "outside the model's folder");
    CHECK(strstr(tether_last_error(), "weights.bin") != NULL);
    CHECK(s == NULL);
    /* an absolute one */
    snprintf(link, sizeof link, "%s/abs.bin", dir);
    char target[400];
    snprintf(target, sizeof target, "%s/key.bin", secret);
    CHECK(symlink(target, link) == 0);
    write_external_model(dir, "abs.bin");
    CHECK_ERR(open_quiet(path, &s), TETHER_ERR_INVALID_MODEL, "outside the model's folder");
    /* a symbolic link to the folder that holds it */
    snprintf(link, sizeof link, "%s/data", dir);
    CHECK(symlink("../secret", link) == 0);
    write_external_model(dir, "data/key.bin");
    CHECK_ERR(open_quiet(path, &s), TETHER_ERR_INVALID_MODEL, "outside the model's folder");

    /* a FIFO is refused at once instead of waiting for a writer */
    snprintf(link, sizeof link, "%s/fifo.bin", dir);
    CHECK(mkfifo(link, 0600) == 0);
    write_external_model(dir, "fifo.bin");
    alarm(10);
    CHECK_ERR(open_quiet(path, &s), TETHER_ERR_IO, "not a regular file");
    /* and so is a FIFO given as the model */
    CHECK_ERR(open_quiet(link, &s), TETHER_ERR_IO, "not a regular file");
    alarm(0);

    /* the same bytes as a regular file inside the folder: read */
    snprintf(link, sizeof link, "%s/plain.bin", dir);
    f = fopen(link, "wb");
    CHECK(f && fwrite(outside, sizeof outside, 1, f) == 1);
    fclose(f);
    write_external_model(dir, "plain.bin");
    CHECK_OK(open_quiet(path, &s));
    tether_session_free(s);
    snprintf(path, sizeof path, "rm -rf %s", root);
    CHECK(system(path) == 0);
}

TEST(other_frameworks_files_are_refused_with_the_export_command)
{
    char dir[] = "/tmp/tether-fmt-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512], sub[400];
    tether_session *s = NULL;
    static const struct {
        const char *name;
        const char *bytes;
        size_t n;
        const char *says[3];
    } cases[] = {
        {"model.pt", "PK\003\004\024\0\0\0\0\0model/data.pklXXXXmodel/constants.pklmodel/code/__torch__/m.py", 64,
         {"TorchScript", "torch.jit.load('", "torch.onnx.export"}},
        {"ckpt.pth", "PK\003\004\024\0\0\0\0\0archive/data.pklarchive/data/0archive/version", 48,
         {"torch.save", "torch.onnx.export", "ckpt.onnx"}},
        {"legacy.pt", "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15, {"torch.save", "legacy.onnx", ""}},
        {"resnet-symbol.json", "{\n  \"nodes\": [], \"arg_nodes\": [], \"node_row_ptr\": [], \"heads\": [[0, 0, 0]]}", 76,
         {"MXNet symbol file", "mx.onnx.export_model('", "resnet-0000.params', [(1, 3, 224, 224)]"}},
        {"resnet-0012.params", "\x12\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16,
         {"MXNet parameter file", "resnet-symbol.json', '", "resnet.onnx')"}},
        {"model.h5", "\x89HDF\r\n\x1a\n\0\0\0\0", 12, {"Keras", "tf2onnx.convert --keras", "model.onnx --opset 13"}},
        {"model.tflite", "\x1c\0\0\0TFL3\0\0\0\0", 12, {"TensorFlow Lite", "--tflite", ""}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].name);
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(cases[i].bytes, cases[i].n, 1, f) == 1);
        fclose(f);
        CHECK_ERR(open_quiet(path, &s), TETHER_ERR_UNSUPPORTED, cases[i].says[0]);
        for (int k = 1; k < 3; k++)
            if (!strstr(tether_last_error(), cases[i].says[k]))
                CHECK_FAIL("%s: '%s' not in: %s", cases[i].name, cases[i].says[k], tether_last_error());
        CHECK(strstr(tether_last_error(), path) != NULL);
    }
    /* a SavedModel folder, and its saved_model.pb */
    snprintf(sub, sizeof sub, "%s/export", dir);
    CHECK(mkdir(sub, 0700) == 0);
    snprintf(path, sizeof path, "%s/saved_model.pb", sub);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite("\x08\x01", 2, 1, f) == 1);
    fclose(f);
    char want[900];
    snprintf(want, sizeof want, "python -m tf2onnx.convert --saved-model %s --output %s/model.onnx", sub, sub);
    CHECK_ERR(open_quiet(sub, &s), TETHER_ERR_UNSUPPORTED, want);
    CHECK_ERR(open_quiet(path, &s), TETHER_ERR_UNSUPPORTED, want);
    /* a folder that is nothing in particular */
    CHECK_ERR(open_quiet(dir, &s), TETHER_ERR_INVALID_ARGUMENT, "is a folder");
    snprintf(path, sizeof path, "rm -rf %s", dir);
    CHECK(system(path) == 0);
}

/* ---- per-session threads and the config's size ------------------------------------------ */

/* CPU ticks (user + system) spent so far by the thread pool's workers (named "tether-pool";
 * OpenBLAS's own idle threads are not the pool's). */
static long long pool_ticks(void)
{
    long long total = 0;
    pid_t me = (pid_t)syscall(SYS_gettid);
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == me)
            continue;
        char path[64], buf[1024], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *c = fopen(path, "r");
        if (c) {
            if (!fgets(comm, sizeof comm, c))
                comm[0] = 0;
            fclose(c);
        }
        if (strncmp(comm, "tether-pool", 11) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread ended */
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        /* fields after the ")" closing the name: state is field 3, utime 14, stime 15 */
        char *p = strrchr(buf, ')');
        CHECK(p != NULL);
        unsigned long long ut = 0, st = 0;
        CHECK(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2);
        total += (long long)(ut + st);
    }
    closedir(d);
    return total;
}

/* The pool's other threads' CPU time while a session opened with `threads` runs a 384x384
 * MatMul again and again: for at least `min_ms`, and with `until_busy` until those threads
 * have spent some (for at most 5 s). Ticks are 10 ms samples of whichever thread holds a
 * core, so on a loaded machine a short stretch of work can leave the helpers none: the time
 * taken is handed back in *took_ms, for the other case to run as long. */
static long long worker_ticks_running(int threads, double min_ms, bool until_busy, double *took_ms)
{
    enum { N = 384 };
    pbw m = ob_single_op("MatMul", 13, 2, (const int[]){TETHER_DTYPE_FLOAT, TETHER_DTYPE_FLOAT}, (const int[]){2, 2},
                         (const int64_t *const[]){(int64_t[]){N, N}, (int64_t[]){N, N}}, 0, NULL);
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.warmup = 0;
    cfg.num_threads = threads;
    tether_session *s;
    CHECK_OK(tether_session_open_bytes(&s, m.buf, m.len, &cfg));
    float *a = calloc(N * N, sizeof *a);
    for (int i = 0; i < N * N; i++)
        a[i] = (float)(i % 13) * 0.25f;
    tether_tensor in[2] = {{.name = "x0", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {N, N}, .data = a,
                            .size = sizeof(float) * N * N},
                           {.name = "x1", .dtype = TETHER_DTYPE_FLOAT, .rank = 2, .dims = {N, N}, .data = a,
                            .size = sizeof(float) * N * N}};
    tether_outputs *out;
    CHECK_OK(tether_session_run(s, in, 2, &out)); /* the pool starts, the plan is made */
    tether_outputs_free(out);
    usleep(50 * 1000); /* idle helpers from earlier work have stopped spinning */
    long long before = pool_ticks(), spent = 0;
    double t0 = tt_now_ns() / 1e6, took = 0;
    do {
        for (int r = 0; r < 20; r++) {
            CHECK_OK(tether_session_run(s, in, 2, &out));
            tether_outputs_free(out);
        }
        spent = pool_ticks() - before;
        took = tt_now_ns() / 1e6 - t0;
    } while (took < min_ms || (until_busy && spent == 0 && took < 5000));
    if (took_ms)
        *took_ms = took;
    tether_session_free(s);
    free(a);
    ob_free(&m);
    return spent;
}

TEST(num_threads_one_keeps_a_run_on_the_calling_thread)
{
    CHECK_OK(tether_set_num_threads(3));
    /* helpers, when allowed, take part of the work: run until they have been seen to */
    double took = 0;
    CHECK(worker_ticks_running(0, 100, true, &took) > 0);
    /* one thread: as long again (at least 0.3 s), and the helpers spend nothing */
    CHECK_EQ_INT(worker_ticks_running(1, took > 300 ? took : 300, false, NULL), 0);
}

TEST(the_config_carries_its_size)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    CHECK_EQ_INT(cfg.size, sizeof cfg);
    CHECK(strcmp(cfg.target, "cpu") == 0 && cfg.warmup == 1 && cfg.num_threads == 0);
    pbw m = mul_relu_model();
    tether_session *s = NULL;
    /* a struct nobody initialised is refused, naming the call to make */
    tether_session_config zero;
    memset(&zero, 0, sizeof zero);
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, &zero), TETHER_ERR_INVALID_ARGUMENT,
              "tether_session_config_init");
    /* a caller built against an older, shorter struct: the fields past its size are defaults */
    memset(&zero, 0x7f, sizeof zero);
    zero.size = offsetof(tether_session_config, warmup) + sizeof zero.warmup;
    zero.target = "cpu";
    zero.warmup = 0;
    CHECK_OK(tether_session_open_bytes(&s, m.buf, m.len, &zero));
    tether_session_free(s);
    /* a caller built against a newer, longer one: the fields this library knows are read */
    struct {
        tether_session_config c;
        int later_field;
    } newer;
    tether_session_config_init(&newer.c);
    newer.c.size = sizeof newer;
    newer.c.quiet = 1;
    newer.c.num_threads = -3;
    newer.later_field = 12345;
    CHECK_ERR(tether_session_open_bytes(&s, m.buf, m.len, &newer.c), TETHER_ERR_INVALID_ARGUMENT, "num_threads -3");
    newer.c.num_threads = 2;
    CHECK_OK(tether_session_open_bytes(&s, m.buf, m.len, &newer.c));
    check_run(s, 4, "x");
    tether_session_free(s);
    ob_free(&m);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
