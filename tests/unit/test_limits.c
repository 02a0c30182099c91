/* Limits a host program puts on engine work: the per-thread memory budget (core/mem.h), the
 * cancellation check (core/cancel.h) polled between nodes and inside long kernels, the run
 * limit inside an empty Loop body and at open, and control characters escaped in the log. */
#include "check.h"
#include "onnx_build.h"

#include "core/cancel.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "net/sock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

TEST(memory_budget_counts_refuses_and_gives_back)
{
    _Atomic int64_t shared = 0;
    tt_mem_budget b = {.shared = &shared, .cap = 1 << 20};
    tt_mem_budget_begin(&b);
    void *p = tt_malloc(256 << 10), *q = tt_malloc_aligned(256 << 10);
    CHECK(p && q);
    CHECK(atomic_load(&shared) >= 512 << 10);
    CHECK(tt_malloc(1 << 20) == NULL); /* past the cap: refused, remembered */
    CHECK(b.refused >= 1 << 20);
    void *r = tt_realloc(p, 384 << 10); /* grows within the cap */
    CHECK(r != NULL);
    CHECK(tt_realloc(r, 2 << 20) == NULL);
    tt_free(r);
    int64_t before = atomic_load(&shared);
    tt_free_aligned(q);
    CHECK(atomic_load(&shared) < before);
    void *kept = tt_malloc(1000); /* outlives the budget */
    tt_mem_budget_end(&b);
    CHECK_EQ_INT(atomic_load(&shared), 0);
    void *big = tt_malloc(4 << 20); /* no budget now */
    CHECK(big != NULL);
    CHECK_EQ_INT(atomic_load(&shared), 0);
    tt_free(big);
    tt_free(kept);
}

TEST(two_budgets_share_one_account)
{
    _Atomic int64_t shared = 0;
    tt_mem_budget a = {.shared = &shared, .cap = 1 << 20};
    tt_mem_budget_begin(&a);
    void *p = tt_malloc(700 << 10);
    CHECK(p != NULL);
    tt_mem_budget_end(&a); /* gives p back to the account, though p lives on */
    CHECK_EQ_INT(atomic_load(&shared), 0);
    atomic_store(&shared, 700 << 10); /* another thread's run holds 700 KiB */
    tt_mem_budget b = {.shared = &shared, .cap = 1 << 20};
    tt_mem_budget_begin(&b);
    CHECK(tt_malloc(500 << 10) == NULL);
    void *q = tt_malloc(200 << 10);
    CHECK(q != NULL);
    tt_free(q);
    tt_mem_budget_end(&b);
    CHECK_EQ_INT(atomic_load(&shared), 700 << 10);
    tt_free(p);
}

/* ---- the pool's workers charge the budget of the work they help with ---------------------------- */

typedef struct alloc_job {
    void *p[64];
    pthread_t who[64];
} alloc_job;

static void alloc_items(void *arg, int64_t b, int64_t e)
{
    alloc_job *j = arg;
    for (int64_t i = b; i < e; i++) {
        j->p[i] = tt_malloc(1 << 20);
        j->who[i] = pthread_self();
        usleep(2000); /* long enough that every worker takes items */
    }
}

TEST(pool_workers_charge_the_budget_of_the_run_that_gave_them_work)
{
    CHECK_OK(tether_set_num_threads(4));
    _Atomic int64_t shared = 0;
    tt_mem_budget b = {.shared = &shared, .cap = 16 << 20};
    tt_mem_budget_begin(&b);
    alloc_job j = {0};
    tt_parallel_for(64, 1, alloc_items, &j);
    int got = 0, on_workers = 0, refused_on_workers = 0;
    for (int i = 0; i < 64; i++) {
        bool worker = !pthread_equal(j.who[i], pthread_self());
        got += j.p[i] != NULL;
        on_workers += worker;
        refused_on_workers += worker && !j.p[i];
    }
    fprintf(stderr, "  %d of 64 MiB-blocks allocated (cap 16 MiB), %d items on workers, %d refused there\n", got,
            on_workers, refused_on_workers);
    CHECK(on_workers > 0);
    CHECK(got <= 16);            /* every thread's blocks counted against the one cap */
    CHECK(refused_on_workers > 0); /* and the workers were refused too */
    CHECK(b.refused >= 1 << 20);
    CHECK(atomic_load(&shared) >= (int64_t)got << 20);
    for (int i = 0; i < 64; i++)
        tt_free(j.p[i]);
    CHECK(atomic_load(&shared) < 1 << 20); /* freed here, given back */
    tt_mem_budget_end(&b);
    CHECK_EQ_INT(atomic_load(&shared), 0);
    /* without a budget the workers allocate freely again */
    alloc_job k = {0};
    tt_parallel_for(64, 1, alloc_items, &k);
    for (int i = 0; i < 64; i++) {
        CHECK(k.p[i] != NULL);
        tt_free(k.p[i]);
    }
    CHECK_EQ_INT(atomic_load(&shared), 0);
}

/* y = Loop(M, true) { } over v = x: an empty body, M from the constant m. */
static pbw empty_loop(int64_t m)
{
    uint8_t t = 1;
    pbw body_in[3] = {ob_input("i", TETHER_DTYPE_INT64, 0, NULL), ob_input("c", TETHER_DTYPE_BOOL, 0, NULL),
                      ob_input("v", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1})};
    pbw body_out[2] = {ob_output("c", TETHER_DTYPE_BOOL, 0, NULL), ob_output("v", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1})};
    pbw body = ob_graph("body", 0, NULL, 0, NULL, 3, body_in, 2, body_out);
    pbw attr = ob_attr_graph("body", &body);
    pbw inits[2] = {ob_tensor("M", TETHER_DTYPE_INT64, 0, NULL, &m, sizeof m),
                    ob_tensor("cond", TETHER_DTYPE_BOOL, 0, NULL, &t, sizeof t)};
    pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1});
    pbw y = ob_output("y", TETHER_DTYPE_FLOAT, 1, (int64_t[]){1});
    pbw loop = ob_node("Loop", 3, (const char *[]){"M", "cond", "x"}, 1, (const char *[]){"y"}, 1, &attr);
    pbw g = ob_graph("g", 1, &loop, 2, inits, 1, &x, 1, &y);
    return ob_model(13, &g);
}

static tether_session *open_loop(pbw *m, int warmup, int run_limit_ms)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.warmup = warmup;
    cfg.run_limit_ms = run_limit_ms;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    return s;
}

TEST(an_empty_loop_body_stops_at_the_run_limit_and_at_open)
{
    pbw m = empty_loop((int64_t)1 << 62);
    /* the warm-up at open runs the loop too: it ends at the limit */
    double t0 = tt_now_ns() / 1e9;
    tether_session *s = open_loop(&m, 1, 300);
    CHECK(tt_now_ns() / 1e9 - t0 < 3.0 * CHECK_SLOWDOWN);
    float x = 1;
    tether_tensor in = {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {1}, .data = &x, .size = sizeof x};
    tether_outputs *o;
    t0 = tt_now_ns() / 1e9;
    CHECK_ERR(tether_session_run(s, &in, 1, &o), TETHER_ERR_TIMEOUT, "time limit in node");
    CHECK_STR_CONTAINS(tether_last_error(), "Loop");
    CHECK(tt_now_ns() / 1e9 - t0 < 3.0 * CHECK_SLOWDOWN);
    tether_session_free(s);
    ob_free(&m);
}

static atomic_int polls;

static tt_status stop_after_1000(void *ud)
{
    (void)ud;
    return atomic_fetch_add(&polls, 1) >= 1000 ? tt_error(TETHER_ERR_BUSY, "the host said stop") : TT_OK;
}

TEST(the_host_can_stop_a_run_that_has_no_limit)
{
    pbw m = empty_loop((int64_t)1 << 62);
    tether_session *s = open_loop(&m, 0, 0);
    float x = 1;
    tether_tensor in = {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {1}, .data = &x, .size = sizeof x};
    tether_outputs *o;
    tt_cancel_install(stop_after_1000, NULL);
    CHECK_ERR(tether_session_run(s, &in, 1, &o), TETHER_ERR_BUSY, "the host said stop");
    CHECK_STR_CONTAINS(tether_last_error(), "Loop");
    tt_cancel_install(NULL, NULL);
    CHECK(atomic_load(&polls) >= 1000);
    tether_session_free(s);
    ob_free(&m);
}

static char captured[4096];

static void capture(tt_log_level level, const char *msg, void *user)
{
    (void)level, (void)user;
    snprintf(captured, sizeof captured, "%s", msg);
}

TEST(control_characters_are_escaped_in_log_lines)
{
    tt_log_set_level(TT_LOG_DEBUG);
    tt_log_set_sink(capture, NULL);
    tt_log(TT_LOG_WARN, "holder '%s'", "a\x1b[31m\r\nFAKE\x7f\tz");
    tt_log_set_sink(NULL, NULL);
    CHECK(strcmp(captured, "holder 'a\\x1b[31m\\x0d\\x0aFAKE\\x7f\\x09z'") == 0);
}

int main(int argc, char **argv)
{
    return check_main(argc, argv);
}

/* ---- one long node: the run limit holds inside dense kernels ----------------------------------- */

/* y = MatMul(a, b) over inputs a [M, K] and b [K, N] of dtype dt. */
static pbw matmul_model(int dt)
{
    pbw ins[2] = {ob_input("a", dt, 2, (int64_t[]){-1, -1}), ob_input("b", dt, 2, (int64_t[]){-1, -1})};
    pbw y = ob_output("y", dt, 2, (int64_t[]){-1, -1});
    pbw node = ob_node("MatMul", 2, (const char *[]){"a", "b"}, 1, (const char *[]){"y"}, 0, NULL);
    pbw g = ob_graph("mm", 1, &node, 0, NULL, 2, ins, 1, &y);
    return ob_model(13, &g);
}

/* Runs the model on zeroed inputs of the given dtypes and shapes under a run limit of
 * limit_ms, on at most `threads` threads; returns the run's status and the seconds it took. */
static tether_status timed_run(pbw *m, int n_in, const int *dt, const int *rank, const int64_t (*dims)[4], int limit_ms,
                               int threads, double *took)
{
    tether_session_config cfg;
    tether_session_config_init(&cfg);
    cfg.quiet = 1;
    cfg.warmup = 0;
    cfg.run_limit_ms = limit_ms;
    cfg.num_threads = threads;
    tether_session *s = NULL;
    CHECK_OK(tether_session_open_bytes(&s, m->buf, m->len, &cfg));
    tether_tensor in[4];
    for (int i = 0; i < n_in; i++) {
        size_t n = tether_dtype_size(dt[i]);
        in[i] = (tether_tensor){.dtype = dt[i], .rank = rank[i]};
        for (int d = 0; d < rank[i]; d++)
            n *= (size_t)(in[i].dims[d] = dims[i][d]);
        in[i].size = n;
        CHECK((in[i].data = calloc(1, n)) != NULL);
    }
    tether_outputs *o = NULL;
    double t0 = tt_now_ns() / 1e9;
    tether_status st = tether_session_run(s, in, (size_t)n_in, &o);
    *took = tt_now_ns() / 1e9 - t0;
    if (st == TETHER_OK)
        tether_outputs_free(o);
    tether_session_free(s);
    for (int i = 0; i < n_in; i++)
        free(in[i].data);
    return st;
}

TEST(one_long_matmul_stops_close_to_the_run_limit)
{
    /* a 4096^3 float product is ~137 GFLOP: seconds on one thread, in one BLAS call before;
     * now it stops within a few tiles of the 100 ms limit */
    pbw m = matmul_model(TETHER_DTYPE_FLOAT);
    double took;
    int f2[2] = {TETHER_DTYPE_FLOAT, TETHER_DTYPE_FLOAT}, d2[2] = {TETHER_DTYPE_DOUBLE, TETHER_DTYPE_DOUBLE};
    int r2[2] = {2, 2};
    CHECK_ERR(timed_run(&m, 2, f2, r2, (const int64_t[][4]){{4096, 4096}, {4096, 4096}}, 100, 1, &took),
              TETHER_ERR_TIMEOUT, "time limit in node");
    CHECK_STR_CONTAINS(tether_last_error(), "MatMul");
    fprintf(stderr, "  float MatMul 4096^3 stopped after %.3f s (limit 0.1 s)\n", took);
    CHECK(took < 0.6 * CHECK_SLOWDOWN);
    /* the direct loop of other dtypes (double here: ~8.6e9 multiply-adds, tens of seconds) */
    pbw md = matmul_model(TETHER_DTYPE_DOUBLE);
    CHECK_ERR(timed_run(&md, 2, d2, r2, (const int64_t[][4]){{2048, 2048}, {2048, 2048}}, 100, 0, &took),
              TETHER_ERR_TIMEOUT, "time limit in node");
    fprintf(stderr, "  double MatMul 2048^3 stopped after %.3f s (limit 0.1 s)\n", took);
    CHECK(took < 0.6 * CHECK_SLOWDOWN);
    ob_free(&m);
    ob_free(&md);
}

TEST(one_long_conv_or_pool_stops_close_to_the_run_limit)
{
    /* Conv of 4 images [1024, 32, 32] by a 3x3 kernel to 1024 channels: ~3.4e10 multiply-adds */
    int f2[2] = {TETHER_DTYPE_FLOAT, TETHER_DTYPE_FLOAT}, r4[2] = {4, 4};
    pbw cm = ob_single_op("Conv", 13, 2, f2, r4, (const int64_t *const[]){(int64_t[]){4, 1024, 32, 32},
                                                                            (int64_t[]){1024, 1024, 3, 3}},
                          0, NULL);
    double took;
    CHECK_ERR(timed_run(&cm, 2, f2, r4, (const int64_t[][4]){{4, 1024, 32, 32}, {1024, 1024, 3, 3}}, 100, 1, &took),
              TETHER_ERR_TIMEOUT, "time limit in node");
    CHECK_STR_CONTAINS(tether_last_error(), "Conv");
    fprintf(stderr, "  Conv stopped after %.3f s (limit 0.1 s)\n", took);
    CHECK(took < 0.6 * CHECK_SLOWDOWN);
    /* MaxPool of one 2048 x 2048 plane with a 1024 x 1024 window: 16 MiB in, ~1e12 compares */
    pbw attr = ob_attr_ints("kernel_shape", 2, (int64_t[]){1024, 1024});
    pbw pm = ob_single_op("MaxPool", 13, 1, f2, r4, (const int64_t *const[]){(int64_t[]){1, 1, 2048, 2048}}, 1, &attr);
    CHECK_ERR(timed_run(&pm, 1, f2, r4, (const int64_t[][4]){{1, 1, 2048, 2048}}, 100, 0, &took), TETHER_ERR_TIMEOUT,
              "MaxPool");
    fprintf(stderr, "  MaxPool stopped after %.3f s (limit 0.1 s)\n", took);
    CHECK(took < 0.6 * CHECK_SLOWDOWN);
    ob_free(&cm);
    ob_free(&pm);
}
