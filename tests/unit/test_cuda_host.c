/* The CUDA backend's host-side logic, which needs no GPU: device-memory accounting (the
 * limit, the message with both numbers, the table of live allocations), the convolution
 * algorithm cache and its keys, the CUDA-graph capture policy, the FP32 peak, and the fused
 * ops' host-side decisions (which Attention nodes the attention kernel takes and its geometry;
 * which parts of a FusedMatMul ride in cuBLASLt and which in the elementwise kernel). */
#include "check.h"

#include "tether.h"

#include "backends/cuda/account.h"
#include "backends/cuda/algo.h"
#include "backends/cuda/fuse_plan.h"
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

/* ---- fused attention ------------------------------------------------------------------------------ */

static void check_strides(const int64_t *got, int64_t a, int64_t b, int64_t c, int64_t d)
{
    CHECK_EQ_INT(got[0], a);
    CHECK_EQ_INT(got[1], b);
    CHECK_EQ_INT(got[2], c);
    CHECK_EQ_INT(got[3], d);
}

static void set_perm(tt_fused_attn *a, int i, int n, const int *perm)
{
    a->n_perm[i] = n;
    for (int k = 0; k < n; k++)
        a->perm[i][k] = perm[k];
}

TEST(attention_geometry_of_plain_rank_3_operands)
{
    tt_fused_attn a = {.scale = 0.25f};
    int64_t q[3] = {8, 9, 16}, k[3] = {8, 11, 16}, v[3] = {8, 11, 8}, y[3] = {8, 9, 8};
    const int64_t *dims[3] = {q, k, v};
    cu_attn_shape s;
    char why[160] = "";
    CHECK(cu_attn_shape_make(&a, 3, dims, 0, NULL, y, &s, why, sizeof why));
    CHECK_EQ_INT(s.b, 1);
    CHECK_EQ_INT(s.h, 8);
    CHECK_EQ_INT(s.lq, 9);
    CHECK_EQ_INT(s.lk, 11);
    CHECK_EQ_INT(s.d, 16);
    CHECK_EQ_INT(s.dv, 8);
    CHECK(!s.has_mask);
    check_strides(s.qs, 0, 9 * 16, 16, 1);
    check_strides(s.ks, 0, 11 * 16, 16, 1);
    check_strides(s.vs, 0, 11 * 8, 8, 1);
    check_strides(s.os, 0, 9 * 8, 8, 1);
    check_strides(s.ms, 0, 0, 0, 0);
}

TEST(attention_geometry_follows_perms_and_broadcasts_the_mask)
{
    /* K given transposed ([8,16,11]), the output as [Sq, H, Dv], a mask of [9,1] */
    tt_fused_attn a = {.scale = 0.3f};
    set_perm(&a, 1, 3, (const int[]){0, 2, 1});
    set_perm(&a, 3, 3, (const int[]){1, 0, 2});
    int64_t q[3] = {8, 9, 16}, k[3] = {8, 16, 11}, v[3] = {8, 11, 8}, y[3] = {9, 8, 8}, m[2] = {9, 1};
    const int64_t *dims[3] = {q, k, v};
    cu_attn_shape s;
    char why[160] = "";
    CHECK(cu_attn_shape_make(&a, 3, dims, 2, m, y, &s, why, sizeof why));
    CHECK_EQ_INT(s.lk, 11);
    CHECK_EQ_INT(s.d, 16);
    check_strides(s.ks, 0, 16 * 11, 1, 11);
    check_strides(s.os, 0, 8, 64, 1); /* logical [H, Sq, Dv] in a [Sq, H, Dv] buffer */
    CHECK(s.has_mask);
    check_strides(s.ms, 0, 0, 1, 0);

    /* BERT's layout: Q, K, V as [B, S, H, D] read through perm 0,2,1,3; the output back as
     * [B, S, H, Dv]; the mask [B, 1, 1, S] */
    tt_fused_attn b = {.scale = 0.125f};
    set_perm(&b, 0, 4, (const int[]){0, 2, 1, 3});
    set_perm(&b, 1, 4, (const int[]){0, 2, 1, 3});
    set_perm(&b, 2, 4, (const int[]){0, 2, 1, 3});
    set_perm(&b, 3, 4, (const int[]){0, 2, 1, 3});
    int64_t q4[4] = {2, 7, 4, 32}, k4[4] = {2, 7, 4, 32}, v4[4] = {2, 7, 4, 32}, y4[4] = {2, 7, 4, 32},
            m4[4] = {2, 1, 1, 7};
    const int64_t *dims4[3] = {q4, k4, v4};
    CHECK(cu_attn_shape_make(&b, 4, dims4, 4, m4, y4, &s, why, sizeof why));
    CHECK_EQ_INT(s.b, 2);
    CHECK_EQ_INT(s.h, 4);
    CHECK_EQ_INT(s.lq, 7);
    CHECK_EQ_INT(s.lk, 7);
    check_strides(s.qs, 7 * 4 * 32, 32, 4 * 32, 1);
    check_strides(s.ks, 7 * 4 * 32, 32, 4 * 32, 1);
    check_strides(s.os, 7 * 4 * 32, 32, 4 * 32, 1);
    check_strides(s.ms, 7, 0, 0, 1);
}

TEST(attention_geometry_broadcasts_batch_dims_and_names_misfits)
{
    tt_fused_attn a = {.scale = 1.0f};
    int64_t q[4] = {2, 4, 9, 16}, k[4] = {1, 4, 11, 16}, v[4] = {2, 1, 11, 24}, y[4] = {2, 4, 9, 24};
    const int64_t *dims[3] = {q, k, v};
    cu_attn_shape s;
    char why[160] = "";
    CHECK(cu_attn_shape_make(&a, 4, dims, 0, NULL, y, &s, why, sizeof why));
    check_strides(s.ks, 0, 11 * 16, 16, 1);
    check_strides(s.vs, 11 * 24, 0, 24, 1);
    /* a batch dim that does not broadcast */
    int64_t kb[4] = {3, 4, 11, 16};
    const int64_t *bad[3] = {q, kb, v};
    CHECK(!cu_attn_shape_make(&a, 4, bad, 0, NULL, y, &s, why, sizeof why));
    CHECK_STR_CONTAINS(why, "batch dims do not broadcast");
    /* K's head dim differs from Q's */
    int64_t kd[4] = {2, 4, 11, 8};
    const int64_t *misfit[3] = {q, kd, v};
    CHECK(!cu_attn_shape_make(&a, 4, misfit, 0, NULL, y, &s, why, sizeof why));
    CHECK_STR_CONTAINS(why, "do not fit");
    /* a mask that does not broadcast to the scores */
    int64_t m[2] = {9, 5};
    CHECK(!cu_attn_shape_make(&a, 4, dims, 2, m, y, &s, why, sizeof why));
    CHECK_STR_CONTAINS(why, "mask does not broadcast");
    /* an output of another shape than the result's */
    int64_t yw[4] = {2, 4, 9, 16};
    CHECK(!cu_attn_shape_make(&a, 4, dims, 0, NULL, yw, &s, why, sizeof why));
    CHECK_STR_CONTAINS(why, "output's dim 3");
    /* rank 5 and head dims past the kernel's shared memory */
    int64_t q5[5] = {1, 2, 4, 9, 16};
    const int64_t *five[3] = {q5, q5, q5};
    CHECK(!cu_attn_shape_make(&a, 5, five, 0, NULL, q5, &s, why, sizeof why));
    CHECK_STR_CONTAINS(why, "ranks 2 to 4");
    int64_t qw[3] = {2, 9, 512};
    const int64_t *wide[3] = {qw, qw, qw};
    CHECK(!cu_attn_shape_make(&a, 3, wide, 0, NULL, qw, &s, why, sizeof why));
    CHECK_STR_CONTAINS(why, "at most 256");
}

static tt_type ftype(int rank, const int64_t *dims)
{
    tt_type t = {.kind = TT_KIND_TENSOR, .dtype = TETHER_DTYPE_FLOAT, .rank = rank};
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    return t;
}

TEST(attention_supports_refuses_what_the_kernel_cannot_do)
{
    tt_fused_attn a = {.scale = 1.0f};
    char why[160];
    /* symbolic batch and sequence dims are fine: the head dims are what the kernel holds */
    tt_type q = ftype(4, (const int64_t[]){-1, 12, -1, 64}), v = ftype(4, (const int64_t[]){-1, 12, -1, 64});
    tt_type m = ftype(4, (const int64_t[]){-1, 1, 1, -1});
    const tt_type *in[4] = {&q, &q, &v, &m};
    CHECK(cu_attn_fits(&a, in, why, sizeof why));
    const tt_type *no_mask[4] = {&q, &q, &v, NULL};
    CHECK(cu_attn_fits(&a, no_mask, why, sizeof why));
    /* a head dim unknown at open, or past 256 */
    tt_type qs = ftype(4, (const int64_t[]){1, 12, 9, -1});
    const tt_type *sym[4] = {&qs, &qs, &v, NULL};
    CHECK(!cu_attn_fits(&a, sym, why, sizeof why));
    CHECK_STR_CONTAINS(why, "not known at open");
    tt_type vw = ftype(4, (const int64_t[]){1, 12, 9, 320});
    const tt_type *wide[4] = {&q, &q, &vw, NULL};
    CHECK(!cu_attn_fits(&a, wide, why, sizeof why));
    CHECK_STR_CONTAINS(why, "at most 256");
    /* the head dim is the logical one: a perm moving a small dim last is read through it */
    tt_fused_attn p = {.scale = 1.0f};
    set_perm(&p, 2, 4, (const int[]){0, 1, 3, 2});
    tt_type vt = ftype(4, (const int64_t[]){1, 12, 64, -1});
    const tt_type *perm[4] = {&q, &q, &vt, NULL};
    CHECK(cu_attn_fits(&p, perm, why, sizeof why));
    /* rank 5, a mask of another dtype or a higher rank, a perm of another length */
    tt_type q5 = ftype(5, (const int64_t[]){1, 1, 12, 9, 64});
    const tt_type *five[4] = {&q5, &q5, &q5, NULL};
    CHECK(!cu_attn_fits(&a, five, why, sizeof why));
    CHECK_STR_CONTAINS(why, "ranks 2 to 4");
    tt_type mi = m;
    mi.dtype = TETHER_DTYPE_INT64;
    const tt_type *imask[4] = {&q, &q, &v, &mi};
    CHECK(!cu_attn_fits(&a, imask, why, sizeof why));
    CHECK_STR_CONTAINS(why, "mask");
    tt_type m5 = ftype(5, (const int64_t[]){1, 1, 1, 9, 9});
    const tt_type *hmask[4] = {&q, &q, &v, &m5};
    CHECK(!cu_attn_fits(&a, hmask, why, sizeof why));
    tt_fused_attn bp = {.scale = 1.0f};
    set_perm(&bp, 0, 3, (const int[]){0, 2, 1});
    CHECK(!cu_attn_fits(&bp, in, why, sizeof why));
    CHECK_STR_CONTAINS(why, "perm");
}

/* ---- FusedMatMul's epilogue plan ------------------------------------------------------------------- */

TEST(fused_matmul_plan_puts_what_cublaslt_can_do_in_cublaslt)
{
    cu_fmm_plan p;
    tt_fused_mm relu = {.alpha = 1.0f, .act = TT_ACT_ID_RELU};
    cu_fmm_plan_make(&relu, true, false, true, false, true, &p);
    CHECK(p.lt_bias && !p.ew_bias && p.lt_act == CU_LT_ACT_RELU && p.ew_act == TT_ACT_ID_NONE);
    CHECK(!p.lt_residual && !p.ew_residual && !p.zero_product);
    tt_fused_mm gt = {.alpha = 0.5f, .act = TT_ACT_ID_GELU_TANH};
    cu_fmm_plan_make(&gt, false, false, true, false, true, &p);
    CHECK(!p.lt_bias && p.lt_act == CU_LT_ACT_GELU_TANH && p.ew_act == TT_ACT_ID_NONE);
    /* cuBLASLt's GELU is the tanh form: the erf form follows elementwise */
    tt_fused_mm ge = {.alpha = 1.0f, .act = TT_ACT_ID_GELU};
    cu_fmm_plan_make(&ge, true, false, true, false, true, &p);
    CHECK(p.lt_bias && p.lt_act == CU_LT_ACT_NONE && p.ew_act == TT_ACT_ID_GELU);
    /* a residual of the product's shape is C; the activation then follows elementwise */
    cu_fmm_plan_make(&relu, true, true, true, false, true, &p);
    CHECK(p.lt_residual && p.lt_bias && p.lt_act == CU_LT_ACT_NONE && p.ew_act == TT_ACT_ID_RELU && !p.ew_residual);
    /* one that broadcasts is added by the elementwise kernel, with the activation */
    cu_fmm_plan_make(&relu, true, true, false, false, true, &p);
    CHECK(!p.lt_residual && p.ew_residual && p.lt_bias && p.ew_act == TT_ACT_ID_RELU);
    /* K = 0: no product, everything elementwise */
    cu_fmm_plan_make(&relu, true, true, true, true, true, &p);
    CHECK(p.zero_product && p.ew_bias && p.ew_residual && !p.lt_bias && !p.lt_residual && p.ew_act == TT_ACT_ID_RELU);
    /* without epilogues (cuBLASLt's fallback) */
    cu_fmm_plan_make(&relu, true, false, true, false, false, &p);
    CHECK(!p.lt_bias && p.ew_bias && p.lt_act == CU_LT_ACT_NONE && p.ew_act == TT_ACT_ID_RELU);
}

/* Every plan, carried out on one element in the order the kernel runs its steps, gives
 * act(product + bias + residual): each term added once, the activation once and last. */
TEST(fused_matmul_plan_computes_the_reference_for_every_combination)
{
    const float prod = -0.75f, bias = 0.5f, res = 0.375f;
    for (int act = TT_ACT_ID_NONE; act <= TT_ACT_ID_CLIP; act++)
        for (int mask = 0; mask < 32; mask++) {
            bool has_bias = mask & 1, has_res = mask & 2, direct = mask & 4, k_zero = mask & 8, lt = mask & 16;
            tt_fused_mm f = {.alpha = 1.0f, .act = (tt_act)act, .act_alpha = -0.1f, .act_beta = 0.3f};
            if (act == TT_ACT_ID_LEAKY_RELU)
                f.act_alpha = 0.2f;
            cu_fmm_plan p;
            cu_fmm_plan_make(&f, has_bias, has_res, direct, k_zero, lt, &p);
            float v = p.zero_product ? 0.0f : prod;
            CHECK(p.zero_product == k_zero);
            if (p.lt_residual) {
                CHECK(has_res && direct && !k_zero);
                v += res;
            }
            if (p.lt_bias) {
                CHECK(lt && has_bias);
                v += bias;
            }
            if (p.lt_act != CU_LT_ACT_NONE) {
                CHECK(lt && !k_zero);
                v = tt_act_apply(p.lt_act == CU_LT_ACT_RELU ? TT_ACT_ID_RELU : TT_ACT_ID_GELU_TANH, v, 0, 0);
            }
            if (p.ew_bias)
                v += bias;
            if (p.ew_residual)
                v += res;
            v = tt_act_apply(p.ew_act, v, f.act_alpha, f.act_beta);
            float want = tt_act_apply(f.act, (k_zero ? 0.0f : prod) + (has_bias ? bias : 0) + (has_res ? res : 0),
                                      f.act_alpha, f.act_beta);
            if (v != want)
                CHECK_FAIL("act %d, bias %d, residual %d (direct %d), K=0 %d, epilogues %d: %g, want %g", act,
                           has_bias, has_res, direct, k_zero, lt, v, want);
            /* cuBLASLt's activations never run with a residual, nor the elementwise one twice */
            CHECK(!(p.lt_act != CU_LT_ACT_NONE && p.ew_act != TT_ACT_ID_NONE));
            CHECK(!(p.lt_act != CU_LT_ACT_NONE && has_res));
            CHECK(!(p.lt_bias && p.ew_bias));
            CHECK(!(p.lt_residual && p.ew_residual));
        }
}

int main(int argc, char **argv) { return check_main(argc, argv); }
