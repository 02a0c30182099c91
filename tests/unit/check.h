/* A small test harness: each TEST runs in its own forked process with a timeout, so a
 * crash or hang fails that test only. Assertions are never compiled out.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); CHECK_OK(call()); }
 *   int main(int argc, char **argv) { return check_main(argc, argv); }
 *
 * The last line printed is "N passed, N failed, N skipped". */
#ifndef TT_CHECK_H
#define TT_CHECK_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*check_fn)(void);
typedef struct check_case {
    const char *name;
    check_fn fn;
} check_case;

/* How much slower this build runs than a plain one, for the few bounds on elapsed time
 * (a run stopped close to its limit). ThreadSanitizer instruments every access: its
 * builds ran the long-product checks of test_limits up to 5x slower on a busy machine. */
#ifdef TETHER_TSAN
#define CHECK_SLOWDOWN 4.0
#else
#define CHECK_SLOWDOWN 1.0
#endif

#define CHECK_MAX 512
static check_case check_cases[CHECK_MAX];
static int check_ncases;
static int check_timeout_s = 60;

#define TEST(name)                                                                     \
    static void test_##name(void);                                                     \
    __attribute__((constructor)) static void check_register_##name(void)               \
    {                                                                                  \
        if (check_ncases < CHECK_MAX)                                                  \
            check_cases[check_ncases++] = (check_case){#name, test_##name};            \
    }                                                                                  \
    static void test_##name(void)

#define CHECK_FAIL(...)                                                                \
    do {                                                                               \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                              \
        fprintf(stderr, __VA_ARGS__);                                                  \
        fputc('\n', stderr);                                                           \
        exit(1);                                                                       \
    } while (0)

/* Ends the test as skipped, printing why (a GPU test on a machine without one). A skip
 * is never a pass: the summary counts it apart, and a binary whose tests all skip exits 77
 * (CTest's skip code). */
#define CHECK_SKIP(...)                                                                \
    do {                                                                               \
        fprintf(stderr, "  skipped: ");                                                \
        fprintf(stderr, __VA_ARGS__);                                                  \
        fputc('\n', stderr);                                                           \
        exit(77);                                                                      \
    } while (0)

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond))                                                                   \
            CHECK_FAIL("check failed: %s", #cond);                                     \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                             \
    do {                                                                               \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                \
        if (check_a_ != check_b_)                                                      \
            CHECK_FAIL("%s == %s: %lld != %lld", #a, #b, check_a_, check_b_);          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                          \
    do {                                                                               \
        double check_a_ = (double)(a), check_b_ = (double)(b);                         \
        if (!(fabs(check_a_ - check_b_) <= (tol)))                                     \
            CHECK_FAIL("%s ~= %s: %.9g vs %.9g", #a, #b, check_a_, check_b_);          \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                \
    do {                                                                               \
        const char *check_h_ = (hay);                                                  \
        if (!check_h_ || !strstr(check_h_, (needle)))                                 \
            CHECK_FAIL("\"%s\" does not contain \"%s\"", check_h_ ? check_h_ : "(null)", (needle)); \
    } while (0)

/* For calls returning a tether_status: fails with the library's message. */
#define CHECK_OK(call)                                                                 \
    do {                                                                               \
        int check_s_ = (int)(call);                                                    \
        if (check_s_ != 0)                                                             \
            CHECK_FAIL("%s failed (%d): %s", #call, check_s_, tether_last_error());    \
    } while (0)

/* Expects a failure with the given status whose message contains `needle`. */
#define CHECK_ERR(call, status, needle)                                                \
    do {                                                                               \
        int check_s_ = (int)(call);                                                    \
        if (check_s_ != (int)(status))                                                 \
            CHECK_FAIL("%s returned %d, expected %d (%s)", #call, check_s_, (int)(status), tether_last_error()); \
        CHECK_STR_CONTAINS(tether_last_error(), needle);                               \
    } while (0)

static inline int check_main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    const char *t = getenv("CHECK_TIMEOUT");
    if (t && atoi(t) > 0)
        check_timeout_s = atoi(t);
    int passed = 0, failed = 0, skipped = 0, ran_skips = 0;
    for (int i = 0; i < check_ncases; i++) {
        if (only && !strstr(check_cases[i].name, only)) {
            skipped++;
            continue;
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            alarm((unsigned)check_timeout_s);
            check_cases[i].fn();
            exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("pass %s\n", check_cases[i].name);
            passed++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
            printf("skip %s\n", check_cases[i].name);
            skipped++;
            ran_skips++;
        } else if (WIFSIGNALED(status)) {
            printf("FAIL %s (signal %d: %s)\n", check_cases[i].name, WTERMSIG(status), strsignal(WTERMSIG(status)));
            failed++;
        } else {
            printf("FAIL %s\n", check_cases[i].name);
            failed++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : !passed && ran_skips ? 77 : 0;
}

#endif
