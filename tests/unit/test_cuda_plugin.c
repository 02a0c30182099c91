/* Loading the CUDA plugin: every way it can be unavailable says why (missing, not a
 * plugin, another ABI, version or layout, a library it needs missing, not built), the
 * reason reaches sessions and `tether devices`, and, where the real plugin is built, its
 * table, its probe and a placement-only instance's device-memory quota (which needs no
 * GPU) behave. Each test is its own process, so each loads the plugin afresh. */
#include "check.h"

#include "backends/plugin.h"
#include "runtime/session.h"

#include <stdlib.h>

static void use_plugin(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FAKE_PLUGIN_DIR, file);
    setenv("TETHER_CUDA_PLUGIN", path, 1);
}

static void expect_refusal(const char *needle)
{
    const tt_plugin *p = (const tt_plugin *)1;
    CHECK_ERR(tt_plugin_load("cuda", &p), TETHER_ERR_UNSUPPORTED, needle);
    CHECK(p == NULL);
    /* remembered: the second try says the same without loading again */
    CHECK_ERR(tt_plugin_load("cuda", &p), TETHER_ERR_UNSUPPORTED, needle);
}

TEST(missing_plugin_named_by_the_environment)
{
    setenv("TETHER_CUDA_PLUGIN", "/no/such/libtether_cuda.so", 1);
    expect_refusal("TETHER_CUDA_PLUGIN names /no/such/libtether_cuda.so, which does not exist");
}

TEST(a_library_that_is_not_a_plugin)
{
    use_plugin("hidden/libtt_fake_dep.so");
    expect_refusal("is not a tether plugin (it has no symbol tt_plugin_entry_v1)");
}

TEST(a_plugin_of_another_abi)
{
    use_plugin("libtt_fake_plugin_abi.so");
    expect_refusal("speaks plugin ABI 99, this libtether speaks 1: rebuild it");
}

TEST(a_plugin_of_another_version)
{
    use_plugin("libtt_fake_plugin_version.so");
    expect_refusal("was built for tether 0.0.0, this is tether " TETHER_VERSION);
}

TEST(a_plugin_built_from_other_headers)
{
    use_plugin("libtt_fake_plugin_layout.so");
    expect_refusal("was built from other headers");
}

TEST(a_plugin_of_another_backend)
{
    use_plugin("libtt_fake_plugin_name.so");
    expect_refusal("is the 'other' plugin, not 'cuda'");
}

TEST(a_plugin_whose_libraries_are_missing)
{
    use_plugin("libtt_fake_plugin_dep.so");
    expect_refusal("needs libtt_fake_dep.so, which the dynamic linker cannot find");
}

TEST(the_reason_reaches_sessions_and_device_listings)
{
    use_plugin("libtt_fake_plugin_abi.so");
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.target = "cuda:0";
    tether_session *s = NULL;
    /* any model: the target is refused before the model is read */
    CHECK_ERR(tether_session_open(&s, "/no/such/model.onnx", &cfg), TETHER_ERR_UNSUPPORTED,
              "backend cuda:0 is unavailable: plugin");
    CHECK_STR_CONTAINS(tether_last_error(), "speaks plugin ABI 99");
    CHECK(s == NULL);
    tt_backend_devices d;
    tt_devices_cuda(&d);
    CHECK(!d.available);
    CHECK_STR_CONTAINS(d.reason, "speaks plugin ABI 99");
    tt_devices_cpu(&d);
    CHECK(d.available);
    CHECK_EQ_INT(d.n, 1);
    CHECK(d.dev[0].threads >= 1 && d.dev[0].cores >= 1 && d.dev[0].memory_bytes > 0);
}

TEST(device_names_are_checked)
{
    const tt_backend *b;
    CHECK_ERR(tt_backend_get("cuda:x", &b), TETHER_ERR_UNSUPPORTED, "no backend named 'cuda:x'");
    CHECK_ERR(tt_backend_get("cuda:99", &b), TETHER_ERR_UNSUPPORTED, "no backend named 'cuda:99'");
    CHECK_ERR(tt_backend_get("tpu:0", &b), TETHER_ERR_UNSUPPORTED, "no backend named 'tpu:0'");
    CHECK(!tt_precision_valid("int4"));
    CHECK(tt_precision_valid(NULL) && tt_precision_valid("fp32") && tt_precision_valid("tf32") &&
          tt_precision_valid("fp16"));
}

TEST(precision_needs_a_device_target)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.precision = "fp16";
    tether_session *s = NULL;
    /* an empty model is enough to reach the backend list */
    static const unsigned char model[] = {0x08, 0x08, 0x3a, 0x02, 0x12, 0x00, 0x42, 0x02, 0x10, 0x0d};
    CHECK_ERR(tether_session_open_bytes(&s, model, sizeof model, &cfg), TETHER_ERR_UNSUPPORTED,
              "precision fp16 needs a device target");
    cfg.precision = "int3";
    CHECK_ERR(tether_session_open_bytes(&s, model, sizeof model, &cfg), TETHER_ERR_INVALID_ARGUMENT,
              "precision 'int3' is not one of fp32, tf32, fp16");
}

#ifdef CUDA_PLUGIN_PATH

static const tt_plugin *real_plugin(void)
{
    setenv("TETHER_CUDA_PLUGIN", CUDA_PLUGIN_PATH, 1);
    const tt_plugin *p;
    CHECK_OK(tt_plugin_load("cuda", &p));
    return p;
}

TEST(real_plugin_loads_and_says_why_it_has_no_device)
{
    const tt_plugin *p = real_plugin();
    CHECK(strcmp(p->name, "cuda") == 0);
    CHECK_STR_CONTAINS(p->libraries, "CUDA runtime");
    int kernels = 0;
    for (const tt_kernel *const *t = p->tables; *t; t++)
        for (const tt_kernel *k = *t; k->name; k++)
            kernels++;
    CHECK(kernels >= 60);
    char reason[512] = "";
    int n = p->probe(reason, sizeof reason);
    CHECK(n >= 0);
    if (n == 0) {
        CHECK(reason[0] != 0); /* never unavailable without saying why */
        fprintf(stderr, "  (no GPU here: %s)\n", reason);
        tt_backend_devices d;
        tt_devices_cuda(&d);
        CHECK(!d.available);
        CHECK_STR_CONTAINS(d.reason, reason);
    } else {
        tt_device_info info;
        CHECK_OK(p->device_info(0, &info));
        CHECK(info.memory_bytes > 0 && info.cc_major >= 5 && info.cores > 0);
    }
}

TEST(real_plugin_instances_account_device_memory_against_their_limit)
{
    const tt_plugin *p = real_plugin();
    const tt_backend *b;
    CHECK_ERR(p->open(-1, &(tt_backend_opts){.precision = "bf8"}, &b), TETHER_ERR_INVALID_ARGUMENT,
              "precision 'bf8' is not one of fp32, tf32, fp16");
    CHECK_OK(p->open(-1, &(tt_backend_opts){.mem_limit = 1 << 20, .precision = "tf32"}, &b));
    CHECK(!tt_buft_is_host(b->buft));
    CHECK(b->mem_used && b->release);
    void *a = b->buft->alloc(b->buft, 700 << 10);
    CHECK(a != NULL);
    CHECK_EQ_INT(b->mem_used(b), 700 << 10);
    CHECK(b->buft->alloc(b->buft, 400 << 10) == NULL); /* 700 + 400 KiB > 1 MiB */
    CHECK_STR_CONTAINS(tether_last_error(), "device memory quota exceeded");
    CHECK_STR_CONTAINS(tether_last_error(), "needs 409600 bytes");
    CHECK_STR_CONTAINS(tether_last_error(), "716800 bytes (0.7 MiB) already in use");
    CHECK_STR_CONTAINS(tether_last_error(), "limit of 1048576 bytes");
    CHECK_EQ_INT(b->mem_used(b), 700 << 10); /* the refusal charged nothing */
    /* copies into the instance's memory, as placement uploads constants */
    float src[4] = {1, 2, 3, 4}, back[4] = {0};
    CHECK_OK(b->copy(b, a, b->buft, src, &tt_buft_host, sizeof src));
    CHECK_OK(b->copy(b, back, &tt_buft_host, a, b->buft, sizeof back));
    CHECK(back[3] == 4);
    b->buft->free(b->buft, a);
    CHECK_EQ_INT(b->mem_used(b), 0);
    /* a placement-only instance runs nothing */
    void *ctx = NULL;
    CHECK_ERR(b->ctx_new(b, &ctx), TETHER_ERR_UNSUPPORTED, "only places graphs");
    b->release(b);
}

#else

TEST(unbuilt_plugin_says_it_was_not_built)
{
    unsetenv("TETHER_CUDA_PLUGIN");
    const tt_plugin *p;
    tt_status s = tt_plugin_load("cuda", &p);
    /* an installed plugin elsewhere on the linker's path would load: only check the message */
    if (s != TT_OK)
        CHECK(strstr(tether_last_error(), "was not built") || strstr(tether_last_error(), "cannot"));
}

#endif

int main(int argc, char **argv) { return check_main(argc, argv); }
