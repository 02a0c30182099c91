/* Limits a host program puts on engine work: the per-thread memory budget (core/mem.h), the
 * cancellation check (core/cancel.h) polled between nodes and inside long kernels, the run
 * limit inside an empty Loop body and at open, and control characters escaped in the log. */
#include "check.h"
#include "onnx_build.h"

#include "core/cancel.h"
#include "core/log.h"
#include "core/mem.h"

#include <stdatomic.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

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
    double t0 = now_s();
    tether_session *s = open_loop(&m, 1, 300);
    CHECK(now_s() - t0 < 3.0);
    float x = 1;
    tether_tensor in = {.dtype = TETHER_DTYPE_FLOAT, .rank = 1, .dims = {1}, .data = &x, .size = sizeof x};
    tether_outputs *o;
    t0 = now_s();
    CHECK_ERR(tether_session_run(s, &in, 1, &o), TETHER_ERR_TIMEOUT, "time limit in node");
    CHECK_STR_CONTAINS(tether_last_error(), "Loop");
    CHECK(now_s() - t0 < 3.0);
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
