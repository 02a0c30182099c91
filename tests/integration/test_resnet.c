/* ResNet-18 (exported by PyTorch) attached and run remotely: the outputs must be
 * bit-identical to the same model run by the local engine. A model that is missing, or that
 * the engine cannot run (an unsupported op), fails the test: it is never skipped. */
#include "harness.h"

static char model_path[512];

TEST(resnet18_remote_equals_local)
{
    th_fresh_home();
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    tether_session *local;
    CHECK_OK(tether_session_open(&local, model_path, &cfg));
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=1", "--sched", "lend", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    cfg.target = "eia:0";
    cfg.timeout_ms = 120000;
    tether_session *remote;
    CHECK_OK(tether_session_open(&remote, model_path, &cfg));
    tether_session_stats ls, rs;
    tether_session_stats_get(local, &ls);
    tether_session_stats_get(remote, &rs);
    CHECK_EQ_INT(rs.weight_bytes, ls.weight_bytes);
    CHECK(rs.weight_bytes > 40u << 20); /* ResNet-18: 11.7 M parameters */
    size_t n = 3 * 224 * 224;
    float *x = malloc(sizeof(float) * n);
    for (int run = 0; run < 2; run++) {
        uint32_t seed = 42u + (uint32_t)run;
        for (size_t i = 0; i < n; i++)
            x[i] = th_randf(&seed);
        tether_tensor in = {.name = "input",
                            .dtype = TETHER_DTYPE_FLOAT,
                            .rank = 4,
                            .dims = {1, 3, 224, 224},
                            .data = x,
                            .size = sizeof(float) * n};
        tether_outputs *lo, *ro;
        CHECK_OK(tether_session_run(local, &in, 1, &lo));
        CHECK_OK(tether_session_run(remote, &in, 1, &ro));
        th_check_same_outputs(lo, ro);
        const tether_tensor *y = tether_outputs_get(ro, 0);
        CHECK_EQ_INT(y->rank, 2);
        CHECK_EQ_INT(y->dims[1], 1000);
        tether_outputs_free(lo);
        tether_outputs_free(ro);
    }
    free(x);
    tether_session_free(remote);
    tether_session_free(local);
    CHECK_OK(tt_detach(0));
    th_server_stop(&s);
}

int main(int argc, char **argv)
{
    snprintf(model_path, sizeof model_path, "%s/resnet18.onnx", IT_MODELS_DIR);
    if (access(model_path, R_OK) != 0) {
        /* a failure, not a skip: integration.export_resnet18 exports it with Debian's PyTorch */
        printf("FAIL: %s is missing (integration.export_resnet18 exports it; scripts/deps.sh installs PyTorch)\n",
               model_path);
        return 1;
    }
    return th_main(argc, argv);
}
