/* The tether command line against a real tetherd: attach, describe-accelerators (text and
 * JSON), run --target eia:0 (same bytes as a local run, and says where it ran), doctor
 * (passing, and failing at the right step), detach. */
#include "harness.h"

#include <cjson/cJSON.h>

#ifndef TETHER_CLI_PATH
#error "TETHER_CLI_PATH must name the tether binary"
#endif

/* Runs `tether ARGS` (a shell fragment), capturing stdout and stderr; returns the exit code. */
static int cli(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cli(char *out, size_t cap, const char *fmt, ...)
{
    char args[2048], cmd[2400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", TETHER_CLI_PATH, args);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int status = pclose(p);
    fprintf(stderr, "$ tether %s\n%s", args, out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A float32 .npy file (format 1.0). */
static void write_npy(const char *path, const float *x, int rows, int cols)
{
    char header[128];
    int n =
        snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    uint16_t hl = (uint16_t)(n + pad + 1);
    fwrite(&hl, 2, 1, f);
    fwrite(header, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(x, sizeof(float), (size_t)(rows * cols), f);
    fclose(f);
}

static long file_bytes(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long n = (long)fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

TEST(attach_describe_run_doctor_detach)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.medium=1,cpu.small=1", NULL});
    static char out[1 << 16];
    char dir[300], model[400], input[400], lo[400], ro[400];
    th_mkdtemp("cli", dir, sizeof dir);
    snprintf(model, sizeof model, "%s/m.onnx", dir);
    snprintf(input, sizeof input, "%s/x.npy", dir);
    snprintf(lo, sizeof lo, "%s/local", dir);
    snprintf(ro, sizeof ro, "%s/remote", dir);
    pbw m = th_model_dense(16, 8, 9);
    th_write_file(model, m.buf, m.len);
    float x[3 * 16];
    uint32_t seed = 5;
    for (int i = 0; i < 48; i++)
        x[i] = th_randf(&seed);
    write_npy(input, x, 3, 16);

    CHECK_EQ_INT(cli(out, sizeof out, "describe-accelerators"), 0);
    CHECK_STR_CONTAINS(out, "0 accelerators attached");
    CHECK_EQ_INT(cli(out, sizeof out, "attach cpu.medium --server %s", s.endpoint), 0);
    CHECK_STR_CONTAINS(out, "attached eia:0");
    CHECK_STR_CONTAINS(out, "cpu.medium");
    CHECK_EQ_INT(cli(out, sizeof out, "attach cpu.small --server 127.0.0.1:%d --json", s.port), 0);
    cJSON *j = cJSON_Parse(out + (strchr(out, '{') ? strchr(out, '{') - out : 0));
    CHECK(j != NULL);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "ordinal")->valueint, 1);
    CHECK(strcmp(cJSON_GetObjectItem(j, "type")->valuestring, "cpu.small") == 0);
    CHECK(cJSON_GetObjectItem(j, "token") == NULL); /* never printed */
    cJSON_Delete(j);
    CHECK(cli(out, sizeof out, "attach cpu.small --server %s", s.endpoint) != 0);
    CHECK_STR_CONTAINS(out, "all 1 cpu.small slot");

    /* describe-accelerators --json: the Elastic Inference tool's shape */
    CHECK_EQ_INT(cli(out, sizeof out, "describe-accelerators --json"), 0);
    j = cJSON_Parse(out);
    CHECK(j != NULL);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "tether_client_version")));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "time")));
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "attached_accelerators")->valueint, 2);
    cJSON *devs = cJSON_GetObjectItem(j, "devices");
    CHECK_EQ_INT(cJSON_GetArraySize(devs), 2);
    for (int i = 0; i < 2; i++) {
        cJSON *d = cJSON_GetArrayItem(devs, i);
        CHECK_EQ_INT(cJSON_GetObjectItem(d, "ordinal")->valueint, i);
        CHECK(strcmp(cJSON_GetObjectItem(d, "status")->valuestring, "healthy") == 0);
        CHECK(strncmp(cJSON_GetObjectItem(d, "id")->valuestring, "eia-", 4) == 0);
        CHECK(strcmp(cJSON_GetObjectItem(d, "endpoint")->valuestring, s.endpoint) == 0);
        CHECK(cJSON_GetObjectItem(d, "memory_quota_bytes")->valuedouble == (i ? 512.0 : 1024.0) * 1048576);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(d, "memory_used_bytes")));
        CHECK(cJSON_GetObjectItem(d, "compute_tflops")->valuedouble > 0);
    }
    CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(devs, 1), "type")->valuestring, "cpu.small") == 0);
    cJSON_Delete(j);

    /* run: where it ran is printed, and the bytes are the local run's */
    CHECK_EQ_INT(cli(out, sizeof out, "run %s -i %s -o %s", model, input, lo), 0);
    CHECK_STR_CONTAINS(out, "on cpu");
    CHECK_EQ_INT(cli(out, sizeof out, "run %s -i %s -o %s --target eia:1 -n 2", model, input, ro), 0);
    CHECK_STR_CONTAINS(out, "run 2 on eia:1 (eia-");
    CHECK_STR_CONTAINS(out, "cpu.small");
    static char a[1 << 14], b[1 << 14];
    char pa[500], pb[500];
    snprintf(pa, sizeof pa, "%s/y.npy", lo);
    snprintf(pb, sizeof pb, "%s/y.npy", ro);
    long na = file_bytes(pa, a, sizeof a), nb = file_bytes(pb, b, sizeof b);
    CHECK(na > 128 && na == nb && memcmp(a, b, (size_t)na) == 0);

    /* doctor: every step passes; against a dead server it fails at TCP and says what to do */
    CHECK_EQ_INT(cli(out, sizeof out, "doctor 0"), 0);
    const char *steps[] = {"attachment record", "address resolution", "TCP reachability", "protocol version", "token",
                           "test inference",    "all checks passed"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        CHECK_STR_CONTAINS(out, steps[i]);
    CHECK(strstr(out, "FAIL") == NULL);
    CHECK_EQ_INT(cli(out, sizeof out, "doctor --server %s", s.endpoint), 0);
    CHECK(cli(out, sizeof out, "doctor 7") != 0);
    CHECK_STR_CONTAINS(out, "[FAIL] attachment record");

    th_server_stop(&s);
    CHECK(cli(out, sizeof out, "doctor 0 --timeout 1000") != 0);
    CHECK_STR_CONTAINS(out, "[ ok ] address resolution");
    CHECK_STR_CONTAINS(out, "[FAIL] TCP reachability");
    CHECK_STR_CONTAINS(out, "is tetherd running there?");
    CHECK(strstr(out, "test inference") == NULL); /* later steps are not attempted */
    CHECK_EQ_INT(cli(out, sizeof out, "describe-accelerators"), 0);
    CHECK_STR_CONTAINS(out, "unreachable");
    CHECK(cli(out, sizeof out, "run %s -i %s --target eia:0", model, input) != 0);
    CHECK_STR_CONTAINS(out, "Connection refused");

    /* detach needs the server; --force forgets the record anyway */
    CHECK(cli(out, sizeof out, "detach 0") != 0);
    CHECK_STR_CONTAINS(out, "--force");
    th_server_restart(&s, (const char *const[]){"--slots", "cpu.medium=1,cpu.small=1", NULL});
    CHECK_EQ_INT(cli(out, sizeof out, "detach 0"), 0);
    CHECK_STR_CONTAINS(out, "detached eia:0");
    CHECK_EQ_INT(cli(out, sizeof out, "describe-accelerators"), 0);
    CHECK_STR_CONTAINS(out, "1 accelerator attached");
    CHECK_STR_CONTAINS(out, "eia:0   cpu.small"); /* renumbered */
    th_server_stop(&s);
    CHECK_EQ_INT(cli(out, sizeof out, "detach 0 --force"), 0);
    CHECK_STR_CONTAINS(out, "forgot it anyway");
    CHECK_EQ_INT(cli(out, sizeof out, "describe-accelerators --json"), 0);
    CHECK_STR_CONTAINS(out, "\"attached_accelerators\":\t0");
    ob_free(&m);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
