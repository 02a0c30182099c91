/* The CUDA backend's host-side logic, which needs no GPU: device-memory accounting (the
 * limit, the message with both numbers, the table of live allocations), the convolution
 * algorithm cache and its keys, the CUDA-graph capture policy, and the FP32 peak. */
#include "check.h"

#include "tether.h"

#include "backends/cuda/account.h"
#include "backends/cuda/algo.h"
#include "backends/cuda/policy.h"

#include <inttypes.h>

/* ---- accounting ------------------------------------------------------------------------------ */

TEST(account_limit_refuses_past_quota_and_names_both_numbers)
{
    cu_account a;
    cu_account_init(&a, 1000);
    uint64_t in_use = 99;
    CHECK(cu_account_reserve(&a, 600, &in_use));
    CHECK_EQ_INT(in_use, 0);
    CHECK(cu_account_track(&a, (void *)0x1000, 600));
    CHECK(cu_account_reserve(&a, 400, &in_use)); /* exactly the limit fits */
    CHECK_EQ_INT(in_use, 600);
    CHECK(cu_account_track(&a, (void *)0x2000, 400));
    CHECK(!cu_account_reserve(&a, 1, &in_use));
    CHECK_EQ_INT(in_use, 1000);
    CHECK_EQ_INT(cu_account_used(&a), 1000); /* a refused reserve charges nothing */
    char msg[512];
    cu_account_explain(&a, in_use, 4096, "kernel workspace", msg, sizeof msg);
    CHECK_STR_CONTAINS(msg, "kernel workspace needs 4096 bytes");
    CHECK_STR_CONTAINS(msg, "1000 bytes");
    CHECK_STR_CONTAINS(msg, "limit of 1000 bytes");
    /* freeing gives the bytes back, by address */
    CHECK_EQ_INT(cu_account_release(&a, (void *)0x1000), 600);
    CHECK_EQ_INT(cu_account_used(&a), 400);
    CHECK_EQ_INT(cu_account_release(&a, (void *)0x1000), 0); /* twice: unknown the second time */
    CHECK(cu_account_reserve(&a, 600, NULL));
    CHECK_EQ_INT(a.peak, 1000);
    cu_account_free(&a);
}

TEST(account_without_limit_and_overflowing_sizes)
{
    cu_account a;
    cu_account_init(&a, 0);
    CHECK(cu_account_reserve(&a, UINT64_MAX / 2, NULL));
    cu_account_unreserve(&a, UINT64_MAX / 2);
    CHECK_EQ_INT(cu_account_used(&a), 0);
    cu_account_free(&a);
    cu_account_init(&a, 100);
    CHECK(!cu_account_reserve(&a, UINT64_MAX, NULL)); /* no wrap-around past the limit */
    CHECK(cu_account_reserve(&a, 100, NULL));
    CHECK(!cu_account_reserve(&a, UINT64_MAX - 50, NULL));
    cu_account_free(&a);
}

TEST(account_tracks_thousands_of_allocations)
{
    cu_account a;
    cu_account_init(&a, 0);
    const int n = 5000;
    for (int i = 1; i <= n; i++) {
        CHECK(cu_account_reserve(&a, (uint64_t)i, NULL));
        CHECK(cu_account_track(&a, (void *)(uintptr_t)(i * 256), (uint64_t)i));
    }
    CHECK_EQ_INT(cu_account_used(&a), (uint64_t)n * (n + 1) / 2);
    /* free every other one, then all; each gives back its own size */
    for (int i = 2; i <= n; i += 2)
        CHECK_EQ_INT(cu_account_release(&a, (void *)(uintptr_t)(i * 256)), i);
    for (int i = 1; i <= n; i += 2)
        CHECK_EQ_INT(cu_account_release(&a, (void *)(uintptr_t)(i * 256)), i);
    CHECK_EQ_INT(cu_account_used(&a), 0);
    CHECK_EQ_INT(a.n, 0);
    /* the table is reusable after so many deletions */
    CHECK(cu_account_reserve(&a, 7, NULL));
    CHECK(cu_account_track(&a, (void *)0x777000, 7));
    CHECK_EQ_INT(cu_account_release(&a, (void *)0x777000), 7);
    cu_account_free(&a);
}

/* ---- convolution keys and the algorithm cache ------------------------------------------------------ */

static cu_conv_key key_3x3(int64_t batch)
{
    cu_conv_key k;
    int64_t x[4] = {batch, 64, 56, 56}, w[4] = {64, 64, 3, 3}, pad[2] = {1, 1}, st[2] = {1, 1}, dil[2] = {1, 1};
    CHECK(cu_conv_key_make(&k, 2, TETHER_DTYPE_FLOAT, 0, 1, x, w, pad, st, dil, 0));
    return k;
}

TEST(conv_keys_differ_in_every_field_that_decides_the_algorithm)
{
    cu_conv_key base = key_3x3(1), same = key_3x3(1);
    CHECK(cu_conv_key_eq(&base, &same));
    CHECK_EQ_INT(cu_conv_key_hash(&base), cu_conv_key_hash(&same));
    int64_t x[4] = {1, 64, 56, 56}, w[4] = {64, 64, 3, 3}, pad[2] = {1, 1}, st[2] = {1, 1}, dil[2] = {1, 1};
    cu_conv_key v[10];
    int n = 0;
    v[n++] = key_3x3(8); /* batch */
    int64_t x2[4] = {1, 64, 56, 57};
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT, 0, 1, x2, w, pad, st, dil, 0)); /* width */
    int64_t w2[4] = {64, 64, 1, 1};
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT, 0, 1, x, w2, pad, st, dil, 0)); /* kernel */
    int64_t pad2[2] = {0, 0}, st2[2] = {2, 2}, dil2[2] = {2, 1};
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT, 0, 1, x, w, pad2, st, dil, 0));
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT, 0, 1, x, w, pad, st2, dil, 0));
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT, 0, 1, x, w, pad, st, dil2, 0));
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT, 0, 64, x, w, pad, st, dil, 0)); /* groups */
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT, 1, 1, x, w, pad, st, dil, 0));  /* tf32 */
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT16, 0, 1, x, w, pad, st, dil, 0)); /* dtype */
    CHECK(cu_conv_key_make(&v[n++], 2, TETHER_DTYPE_FLOAT, 0, 1, x, w, pad, st, dil, 1)); /* fused relu */
    for (int i = 0; i < n; i++) {
        CHECK(!cu_conv_key_eq(&base, &v[i]));
        CHECK(cu_conv_key_hash(&base) != cu_conv_key_hash(&v[i]));
        for (int j = i + 1; j < n; j++)
            CHECK(!cu_conv_key_eq(&v[i], &v[j]));
    }
    char s[256];
    cu_conv_key_str(&base, s, sizeof s);
    CHECK_STR_CONTAINS(s, "x 1x64x56x56 w 64x64x3x3 pad 1,1 stride 1,1 dil 1,1 g 1 fp32");
}

TEST(conv_keys_refuse_what_they_cannot_hold)
{
    cu_conv_key k;
    int64_t x[5] = {1, 3, 8, 8, 8}, w[5] = {4, 3, 3, 3, 3}, one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
    CHECK(!cu_conv_key_make(&k, 0, 1, 0, 1, x, w, zero, one, one, 0));
    CHECK(!cu_conv_key_make(&k, 4, 1, 0, 1, x, w, zero, one, one, 0));
    CHECK(!cu_conv_key_make(&k, 3, 1, 0, 0, x, w, zero, one, one, 0));         /* no groups */
    CHECK(!cu_conv_key_make(&k, 3, 1, 0, 1, x, w, zero, zero, one, 0));        /* stride 0 */
    int64_t big[3] = {(int64_t)1 << 40, 1, 1};
    CHECK(!cu_conv_key_make(&k, 3, 1, 0, 1, x, w, big, one, one, 0));          /* pad past int32 */
    int64_t neg[5] = {-1, 3, 8, 8, 8};
    CHECK(!cu_conv_key_make(&k, 3, 1, 0, 1, neg, w, zero, one, one, 0));       /* unknown dim */
    CHECK(cu_conv_key_make(&k, 3, 1, 0, 1, x, w, zero, one, one, 0));
}

TEST(algo_cache_keeps_choices_by_key_and_evicts_the_least_recently_used)
{
    cu_algo_cache c;
    cu_algo_cache_init(&c);
    cu_conv_key k1 = key_3x3(1), k8 = key_3x3(8);
    cu_algo_choice got, a = {.algo = 6, .workspace = 1 << 20, .math = 2, .ms = 0.5f};
    CHECK(!cu_algo_cache_get(&c, &k1, &got));
    CHECK(cu_algo_cache_put(&c, &k1, &a));
    CHECK(cu_algo_cache_get(&c, &k1, &got));
    CHECK_EQ_INT(got.algo, 6);
    CHECK_EQ_INT(got.workspace, 1 << 20);
    CHECK(!cu_algo_cache_get(&c, &k8, &got)); /* another batch is another shape */
    a.algo = 1;
    CHECK(cu_algo_cache_put(&c, &k1, &a)); /* replaces, does not add */
    CHECK_EQ_INT(c.n, 1);
    CHECK(cu_algo_cache_get(&c, &k1, &got));
    CHECK_EQ_INT(got.algo, 1);
    /* fill it: the oldest unused entry makes room, k1 (used just now) stays */
    for (int64_t b = 100; b < 100 + CU_ALGO_CACHE_CAP; b++) {
        cu_conv_key k = key_3x3(b);
        CHECK(cu_algo_cache_put(&c, &k, &a));
        if (b == 100 + CU_ALGO_CACHE_CAP / 2)
            CHECK(cu_algo_cache_get(&c, &k1, &got));
    }
    CHECK_EQ_INT(c.n, CU_ALGO_CACHE_CAP);
    CHECK(cu_algo_cache_get(&c, &k1, &got));
    cu_conv_key first = key_3x3(100);
    CHECK(!cu_algo_cache_get(&c, &first, &got));
    cu_algo_cache_free(&c);
}

/* ---- the capture policy ----------------------------------------------------------------------------- */

TEST(policy_runs_normal_then_captures_then_replays)
{
    cu_policy p = {0};
    int plan, arena;
    cu_gkey k = {.plan = &plan, .arena = {&arena}};
    bool drop;
    CHECK_EQ_INT(cu_policy_begin(&p, &k, false, true, &drop), CU_MODE_NORMAL); /* no plan yet */
    CHECK(!drop);
    CHECK_EQ_INT(cu_policy_begin(&p, &k, true, true, &drop), CU_MODE_NORMAL); /* first steady run */
    cu_policy_end(&p, CU_MODE_NORMAL, true, &drop);
    CHECK_EQ_INT(cu_policy_begin(&p, &k, true, true, &drop), CU_MODE_CAPTURE);
    cu_policy_end(&p, CU_MODE_CAPTURE, true, &drop);
    CHECK(!drop);
    CHECK_EQ_INT(cu_policy_begin(&p, &k, true, true, &drop), CU_MODE_REPLAY);
    cu_policy_end(&p, CU_MODE_REPLAY, true, &drop);
    CHECK_EQ_INT(cu_policy_begin(&p, &k, true, true, &drop), CU_MODE_REPLAY);
    cu_policy_end(&p, CU_MODE_REPLAY, true, &drop);
    /* other addresses (a new arena): the graphs go, and the count starts again */
    int arena2;
    cu_gkey k2 = {.plan = &plan, .arena = {&arena2}};
    CHECK_EQ_INT(cu_policy_begin(&p, &k2, true, true, &drop), CU_MODE_NORMAL);
    CHECK(drop);
    CHECK_EQ_INT(cu_policy_begin(&p, &k2, true, true, &drop), CU_MODE_CAPTURE);
    CHECK(!drop);
}

TEST(policy_breaks_a_key_after_a_failed_capture_or_replay)
{
    cu_policy p = {0};
    int plan;
    cu_gkey k = {.plan = &plan};
    bool drop;
    cu_policy_begin(&p, &k, true, true, &drop);
    CHECK_EQ_INT(cu_policy_begin(&p, &k, true, true, &drop), CU_MODE_CAPTURE);
    cu_policy_end(&p, CU_MODE_CAPTURE, false, &drop);
    CHECK(drop);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(cu_policy_begin(&p, &k, true, true, &drop), CU_MODE_NORMAL);
    /* a replay that no longer matches breaks it too */
    cu_policy q = {0};
    cu_policy_begin(&q, &k, true, true, &drop);
    cu_policy_begin(&q, &k, true, true, &drop);
    cu_policy_end(&q, CU_MODE_CAPTURE, true, &drop);
    CHECK_EQ_INT(cu_policy_begin(&q, &k, true, true, &drop), CU_MODE_REPLAY);
    cu_policy_end(&q, CU_MODE_REPLAY, false, &drop);
    CHECK(drop);
    CHECK_EQ_INT(cu_policy_begin(&q, &k, true, true, &drop), CU_MODE_NORMAL);
    /* disabled (TETHER_CUDA_GRAPHS=0) or unplanned: always normal, and graphs go */
    cu_policy r = {0};
    cu_policy_begin(&r, &k, true, true, &drop);
    cu_policy_begin(&r, &k, true, true, &drop);
    cu_policy_end(&r, CU_MODE_CAPTURE, true, &drop);
    CHECK_EQ_INT(cu_policy_begin(&r, &k, true, false, &drop), CU_MODE_NORMAL);
    CHECK(drop);
}

TEST(launch_signatures_see_every_byte)
{
    int64_t dims[2] = {3, 4};
    uint64_t a = cu_sig_mix(CU_SIG_INIT, dims, sizeof dims);
    dims[1] = 5;
    uint64_t b = cu_sig_mix(CU_SIG_INIT, dims, sizeof dims);
    CHECK(a != b);
    CHECK_EQ_INT(cu_sig_mix(CU_SIG_INIT, dims, 0), CU_SIG_INIT);
}

/* ---- device arithmetic -------------------------------------------------------------------------------- */

TEST(fp32_peak_from_device_properties)
{
    /* H100 SXM: 132 SMs x 128 lanes x 2 x 1.98 GHz = 66.9 TFLOPS */
    CHECK_NEAR(cu_fp32_peak(9, 0, 132, 1980000) / 1e12, 66.9, 0.1);
    /* A100: 108 SMs x 64 lanes x 2 x 1.41 GHz = 19.5 TFLOPS */
    CHECK_NEAR(cu_fp32_peak(8, 0, 108, 1410000) / 1e12, 19.5, 0.1);
    CHECK_EQ_INT(cu_fp32_lanes_per_sm(8, 6), 128);
    CHECK_EQ_INT(cu_fp32_lanes_per_sm(3, 0), 0);
    CHECK_EQ_INT(cu_fp32_peak(9, 0, 0, 1980000), 0);
}

int main(int argc, char **argv) { return check_main(argc, argv); }
