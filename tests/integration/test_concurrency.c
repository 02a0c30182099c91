/* Many models, threads, processes and clients at once. Each request must get its own
 * model's answer to its own input (Elastic Inference once returned another model's outputs
 * when several were loaded in one accelerator): every output is checked against the same
 * model run locally. */
#include "harness.h"

#include <pthread.h>

#define N_MODELS 3

typedef struct worker {
    tether_session *remote, *local;
    int model;
    int requests;
    uint32_t seed;
    int k; /* input width */
    int failures;
    char msg[512];
} worker;

/* Random inputs of random batch size; the output must equal the local engine's. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    float x[4 * 64];
    for (int i = 0; i < w->requests; i++) {
        int rows = 1 + (int)(th_rand(&w->seed) % 4);
        for (int k = 0; k < rows * w->k; k++)
            x[k] = th_randf(&w->seed);
        tether_outputs *ro = NULL, *lo = NULL;
        if (th_run_f32(w->remote, x, rows, w->k, &ro) != TETHER_OK) {
            snprintf(w->msg, sizeof w->msg, "remote run %d: %s", i, tether_last_error());
            w->failures++;
            break;
        }
        if (th_run_f32(w->local, x, rows, w->k, &lo) != TETHER_OK) {
            snprintf(w->msg, sizeof w->msg, "local run %d: %s", i, tether_last_error());
            w->failures++;
            tether_outputs_free(ro);
            break;
        }
        const tether_tensor *a = tether_outputs_get(ro, 0), *b = tether_outputs_get(lo, 0);
        if (a->size != b->size || a->dims[0] != rows || memcmp(a->data, b->data, a->size) != 0) {
            snprintf(w->msg, sizeof w->msg, "request %d of model %d: the remote output is not this model's answer", i,
                     w->model);
            w->failures++;
        }
        tether_outputs_free(ro);
        tether_outputs_free(lo);
    }
    return NULL;
}

/* Different models, same input and output shapes: a mix-up would go unnoticed by shape. */
static pbw models[N_MODELS];

static void make_models(void)
{
    for (int i = 0; i < N_MODELS; i++)
        models[i] = th_model_dense(64, 32, 100 + (uint32_t)i);
}

/* In a child process: opens model m on eia:0 and checks `requests` answers; exit status 0
 * when all were right. */
static void child_run(int m, int requests)
{
    th_live = NULL; /* the parent's servers are not this process's to stop */
    tether_set_num_threads(1);
    worker w = {.remote = th_open(models[m].buf, models[m].len, "eia:0", 20000),
                .local = th_open(models[m].buf, models[m].len, "cpu", 0),
                .model = m,
                .requests = requests,
                .seed = 999u + (uint32_t)m,
                .k = 64};
    worker_main(&w);
    if (w.failures)
        fprintf(stderr, "child for model %d: %s\n", m, w.msg);
    _exit(w.failures ? 1 : 0);
}

TEST(several_models_in_one_slot_threads_and_processes)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.large=1", "--sched", "lend", NULL});
    tt_attachment a;
    CHECK_OK(tt_attach("cpu.large", s.endpoint, &a));
    make_models();
    /* processes first (fork before this process starts threads) */
    pid_t kids[N_MODELS];
    for (int m = 0; m < N_MODELS; m++) {
        kids[m] = fork();
        CHECK(kids[m] >= 0);
        if (kids[m] == 0)
            child_run(m, 150);
    }
    /* threads: two share each remote session (many requests in flight on one connection),
     * and one more opens its own session of the same model */
    tether_session *shared[N_MODELS], *own[N_MODELS], *local[N_MODELS];
    worker w[3 * N_MODELS];
    pthread_t th[3 * N_MODELS];
    for (int m = 0; m < N_MODELS; m++) {
        shared[m] = th_open(models[m].buf, models[m].len, "eia:0", 20000);
        own[m] = th_open(models[m].buf, models[m].len, "eia:0", 20000);
        local[m] = th_open(models[m].buf, models[m].len, "cpu", 0);
        for (int k = 0; k < 3; k++)
            w[3 * m + k] = (worker){.remote = k < 2 ? shared[m] : own[m],
                                    .local = local[m],
                                    .model = m,
                                    .requests = 150,
                                    .seed = (uint32_t)(17 * m + k + 1),
                                    .k = 64};
    }
    for (int i = 0; i < 3 * N_MODELS; i++)
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    for (int i = 0; i < 3 * N_MODELS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failures)
            CHECK_FAIL("thread %d: %s", i, w[i].msg);
    }
    for (int m = 0; m < N_MODELS; m++) {
        int status;
        CHECK(waitpid(kids[m], &status, 0) == kids[m]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            CHECK_FAIL("the child process running model %d failed (status 0x%x)", m, status);
    }
    /* all three models were resident in the one slot, each counted once */
    tt_accel_health h;
    tt_accel_probe(&a, 3000, &h);
    CHECK(strcmp(h.status, "healthy") == 0);
    CHECK_EQ_INT(h.models_loaded, N_MODELS);
    CHECK_EQ_INT(h.errors, 0);
    CHECK_EQ_INT(h.inferences, 4 * N_MODELS * 150); /* 3 threads and a process per model */
    for (int m = 0; m < N_MODELS; m++) {
        tether_session_free(shared[m]);
        tether_session_free(own[m]);
        tether_session_free(local[m]);
        ob_free(&models[m]);
    }
    th_server_stop(&s);
}

#define CLIENTS 64
#define REQUESTS 200

TEST(sixty_four_clients_two_hundred_requests_each)
{
    th_fresh_home();
    th_server s;
    th_server_start(&s, (const char *const[]){"--slots", "cpu.medium=4", "--sched", "lend", NULL});
    for (int i = 0; i < 4; i++) {
        tt_attachment a;
        CHECK_OK(tt_attach("cpu.medium", s.endpoint, &a));
    }
    make_models();
    tether_session *local[N_MODELS];
    for (int m = 0; m < N_MODELS; m++)
        local[m] = th_open(models[m].buf, models[m].len, "cpu", 0);
    /* each client: its own session (own connection) on one of 4 attachments, one of 3 models */
    static worker w[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        char target[16];
        snprintf(target, sizeof target, "eia:%d", i % 4);
        int m = i % N_MODELS;
        w[i] = (worker){.remote = th_open(models[m].buf, models[m].len, target, 60000),
                        .local = local[m],
                        .model = m,
                        .requests = REQUESTS,
                        .seed = (uint32_t)i * 31 + 7,
                        .k = 64};
    }
    double t0 = th_now_s();
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    int bad = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failures && bad++ < 5)
            fprintf(stderr, "client %d: %s\n", i, w[i].msg);
    }
    fprintf(stderr, "%d clients x %d requests in %.2f s\n", CLIENTS, REQUESTS, th_now_s() - t0);
    CHECK_EQ_INT(bad, 0);
    uint64_t total = 0;
    tt_attachment *list;
    int n;
    CHECK_OK(tt_attachments_list(&list, &n));
    for (int i = 0; i < n; i++) {
        tt_accel_health h;
        tt_accel_probe(&list[i], 3000, &h);
        CHECK(strcmp(h.status, "healthy") == 0);
        CHECK_EQ_INT(h.errors, 0);
        total += h.inferences;
    }
    free(list);
    CHECK(total >= (uint64_t)CLIENTS * REQUESTS);
    for (int i = 0; i < CLIENTS; i++)
        tether_session_free(w[i].remote);
    for (int m = 0; m < N_MODELS; m++) {
        tether_session_free(local[m]);
        ob_free(&models[m]);
    }
    th_server_stop(&s);
}

int main(int argc, char **argv)
{
    return th_main(argc, argv);
}
