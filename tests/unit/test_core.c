/* Core utilities: the thread pool, arenas, half-precision conversion, hashing, name maps,
 * tensor size checks, error messages. */
#include "check.h"

#include "core/dtype.h"
#include "core/hash.h"
#include "core/mem.h"
#include "core/tensor.h"
#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

static void add_range(void *arg, int64_t b, int64_t e)
{
    atomic_llong *sum = arg;
    long long s = 0;
    for (int64_t i = b; i < e; i++)
        s += i;
    atomic_fetch_add(sum, s);
}

TEST(parallel_for_covers_every_index_once)
{
    CHECK_OK(tt_threadpool_resize(4));
    for (int64_t n = 0; n < 5000; n += 997) {
        atomic_llong sum = 0;
        tt_parallel_for(n, 7, add_range, &sum);
        CHECK_EQ_INT(atomic_load(&sum), n * (n - 1) / 2);
    }
    CHECK_EQ_INT(tt_threads(), 4);
}

static void nested(void *arg, int64_t b, int64_t e)
{
    for (int64_t i = b; i < e; i++) {
        atomic_llong inner = 0;
        tt_parallel_for(100, 1, add_range, &inner); /* runs inline inside a task */
        atomic_fetch_add((atomic_llong *)arg, atomic_load(&inner));
    }
}

TEST(nested_parallel_for_runs_inline)
{
    atomic_llong sum = 0;
    tt_parallel_for(64, 1, nested, &sum);
    CHECK_EQ_INT(atomic_load(&sum), 64 * 4950);
}

static void *submitter(void *arg)
{
    for (int k = 0; k < 300; k++) {
        atomic_llong sum = 0;
        tt_parallel_for(1000 + k, 3, add_range, &sum);
        if (atomic_load(&sum) != (long long)(1000 + k) * (999 + k) / 2)
            *(int *)arg = 1;
    }
    return NULL;
}

TEST(concurrent_submitters_share_the_pool)
{
    int bad = 0;
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, submitter, &bad);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(bad, 0);
    tt_threadpool_shutdown();
}

/* The pthread pool starts a pool of its own in the child; the OpenMP one (builds with
 * oneDNN) runs the child's work on one thread, as libgomp's threads do not survive fork. */
TEST(a_forked_child_still_runs_parallel_work)
{
    CHECK_OK(tt_threadpool_resize(4));
    for (int k = 0; k < 20; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            atomic_llong sum = 0;
            tt_parallel_for(100000, 7, add_range, &sum);
            _exit(atomic_load(&sum) == 100000LL * 99999 / 2 ? 0 : 1);
        }
        /* keep the parent's workers busy while it forks */
        atomic_llong sum = 0;
        tt_parallel_for(100000, 7, add_range, &sum);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    tt_threadpool_shutdown();
}

/* Each chunk notes its thread and sleeps, so every thread allowed in gets a chunk. */
typedef struct seen_threads {
    pthread_mutex_t lock;
    pthread_t ids[64];
    int n;
} seen_threads;

static void note_thread(void *arg, int64_t b, int64_t e)
{
    seen_threads *s = arg;
    pthread_mutex_lock(&s->lock);
    bool known = false;
    for (int i = 0; i < s->n; i++)
        known |= pthread_equal(s->ids[i], pthread_self()) != 0;
    if (!known && s->n < 64)
        s->ids[s->n++] = pthread_self();
    pthread_mutex_unlock(&s->lock);
    usleep((useconds_t)(e - b) * 5000);
}

static int threads_used(void)
{
    seen_threads s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    tt_parallel_for(64, 1, note_thread, &s);
    return s.n;
}

TEST(a_thread_cap_limits_the_threads_one_submitter_uses)
{
    CHECK_OK(tt_threadpool_resize(4));
    CHECK_EQ_INT(threads_used(), 4);
    CHECK_EQ_INT(tt_threads_cap(2), 0);
    CHECK_EQ_INT(tt_threads(), 2);
    CHECK_EQ_INT(threads_used(), 2);
    CHECK_EQ_INT(tt_threads_cap(1), 2);
    CHECK_EQ_INT(threads_used(), 1);
    CHECK_EQ_INT(tt_threads_cap(0), 1);
    CHECK_EQ_INT(tt_threads(), 4);
    CHECK_EQ_INT(threads_used(), 4);
    tt_threadpool_shutdown();
}

TEST(resize_rejects_nonsense)
{
    CHECK_ERR(tt_threadpool_resize(0), TETHER_ERR_INVALID_ARGUMENT, "out of range");
}

TEST(arena_alignment_and_zeroing)
{
    tt_arena a;
    tt_arena_init(&a);
    for (int i = 1; i < 2000; i += 37) {
        unsigned char *p = tt_arena_alloc(&a, (size_t)i);
        CHECK(((uintptr_t)p & 15) == 0);
        for (int k = 0; k < i; k++)
            CHECK(p[k] == 0);
        memset(p, 0xab, (size_t)i);
        void *q = tt_arena_alloc_aligned(&a, 100000); /* a chunk of its own */
        CHECK(((uintptr_t)q & (TT_ALIGN - 1)) == 0);
    }
    CHECK_STR_CONTAINS(tt_arena_strndup(&a, "hello world", 5), "hello");
    tt_arena_free(&a);
}

TEST(half_precision_round_trips_every_value)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = tt_f16_to_f32((tt_f16)h);
        if (f != f)
            continue; /* NaN payloads need not survive */
        CHECK_EQ_INT(tt_f32_to_f16(f), h);
    }
    /* round to nearest even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    CHECK_EQ_INT(tt_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    CHECK_EQ_INT(tt_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    CHECK_EQ_INT(tt_f32_to_f16(65520.0f), 0x7c00); /* rounds up to infinity */
    CHECK_EQ_INT(tt_f32_to_f16(65519.0f), 0x7bff);
    CHECK_EQ_INT(tt_f32_to_f16(0x1p-25f), 0);      /* tie to even: zero */
    CHECK_EQ_INT(tt_f32_to_f16(0x1.8p-25f), 1);    /* above the tie: smallest subnormal */
    CHECK(tt_f16_to_f32(tt_f32_to_f16(NAN)) != tt_f16_to_f32(tt_f32_to_f16(NAN)));
}

TEST(bfloat16_rounds_to_nearest_even)
{
    CHECK_EQ_INT(tt_f32_to_bf16(1.0f), 0x3f80);
    CHECK_NEAR(tt_bf16_to_f32(tt_f32_to_bf16(3.14159f)), 3.140625, 0);
    float halfway;
    uint32_t bits = 0x3f808000u; /* exactly between 0x3f80 and 0x3f81 */
    memcpy(&halfway, &bits, 4);
    CHECK_EQ_INT(tt_f32_to_bf16(halfway), 0x3f80);
    bits = 0x3f818000u;
    memcpy(&halfway, &bits, 4);
    CHECK_EQ_INT(tt_f32_to_bf16(halfway), 0x3f82);
}

TEST(doubles_store_into_integers_without_undefined_behaviour)
{
    int64_t i64;
    uint64_t u64;
    int32_t i32;
    uint8_t u8;
    tt_store_f64(&i64, TETHER_DTYPE_INT64, 0, 1e300);
    CHECK(i64 == INT64_MAX);
    tt_store_f64(&i64, TETHER_DTYPE_INT64, 0, -1e300);
    CHECK(i64 == INT64_MIN);
    tt_store_f64(&i64, TETHER_DTYPE_INT64, 0, NAN);
    CHECK_EQ_INT(i64, 0);
    tt_store_f64(&u64, TETHER_DTYPE_UINT64, 0, 1e30);
    CHECK(u64 == UINT64_MAX);
    tt_store_f64(&u64, TETHER_DTYPE_UINT64, 0, 1.5e19);
    CHECK(u64 == 15000000000000000000ull);
    tt_store_f64(&i32, TETHER_DTYPE_INT32, 0, -7.9);
    CHECK_EQ_INT(i32, -7);
    tt_store_f64(&u8, TETHER_DTYPE_UINT8, 0, 300.0); /* wraps, as numpy's cast does */
    CHECK_EQ_INT(u8, 44);
}

TEST(sha256_known_vector)
{
    uint8_t d[32];
    char hex[65];
    tt_sha256("abc", 3, d);
    tt_hex(d, 32, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}

TEST(strmap_grows_and_finds)
{
    tt_strmap m;
    CHECK_OK(tt_strmap_init(&m, 2));
    static char keys[1000][12];
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        CHECK_OK(tt_strmap_put(&m, keys[i], i));
    }
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(tt_strmap_get(&m, keys[i]), i);
    CHECK_EQ_INT(tt_strmap_get(&m, "absent"), -1);
    CHECK_OK(tt_strmap_put(&m, keys[5], 42));
    CHECK_EQ_INT(tt_strmap_get(&m, keys[5]), 42);
    tt_strmap_free(&m);
}

TEST(tensor_sizes_are_checked)
{
    tt_tensor t;
    int64_t huge[3] = {1 << 20, 1 << 20, 1 << 20};
    CHECK_ERR(tt_tensor_alloc(&t, TETHER_DTYPE_FLOAT, 3, huge), TETHER_ERR_SHAPE, "too many elements");
    int64_t neg[2] = {2, -1};
    CHECK_ERR(tt_tensor_alloc(&t, TETHER_DTYPE_FLOAT, 2, neg), TETHER_ERR_SHAPE, "negative");
    int64_t ok[2] = {3, 4};
    CHECK_OK(tt_tensor_alloc(&t, TETHER_DTYPE_STRING, 2, ok));
    CHECK(strcmp(((char **)t.data)[11], "") == 0);
    CHECK_OK(tt_tensor_set_string(&t, 3, "abc", 3));
    tt_tensor c;
    CHECK_OK(tt_tensor_clone(&t, &c));
    CHECK(strcmp(((char **)c.data)[3], "abc") == 0);
    tt_tensor v = tt_tensor_share(&c);
    CHECK_EQ_INT(c.buf->refs, 2);
    tt_tensor_release(&v);
    tt_tensor_release(&c);
    tt_tensor_release(&t);
}

TEST(allocation_failures_are_reported)
{
    tt_tensor t;
    int64_t d[1] = {16};
    tt_mem_fail_after(1);
    CHECK_ERR(tt_tensor_alloc(&t, TETHER_DTYPE_FLOAT, 1, d), TETHER_ERR_NO_MEMORY, "out of memory");
    tt_mem_fail_after(0);
    CHECK_OK(tt_tensor_alloc(&t, TETHER_DTYPE_FLOAT, 1, d));
    tt_tensor_release(&t);
}

TEST(error_prefix_keeps_the_cause)
{
    tt_error(TETHER_ERR_SHAPE, "dimension %d is wrong", 3);
    tt_error_prefix(TETHER_ERR_SHAPE, "node 'n1': ");
    CHECK(strcmp(tether_last_error(), "node 'n1': dimension 3 is wrong") == 0);
    CHECK(strcmp(tether_status_name(TETHER_ERR_QUOTA), "over quota") == 0);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
