/* The cpu backend's GEMM alone, one thread: GFLOP/s for the products of the transformer
 * benchmarks (bert_tiny / gpt_tiny, batch 1 and 8) and for a tile that stays in L1, which
 * is about what the FMA units give. The best of many repetitions, so a shared machine's
 * noise mostly drops out. Tuning aid, not a test.
 *   build/bin/bench_cpu_kernels            TETHER_CPU_ISA=avx2 for the narrower kernels */
#include "backends/cpu/isa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* cold: cycle through enough copies of B that it comes from memory or L3 each time, as a
 * model's weights do */
static double best_gflops(const tt_cpu_isa *isa, int M, int K, int N, int epi_kind, int copies)
{
    int nr = isa->nr, panels = (N + nr - 1) / nr;
    size_t bsz = (size_t)panels * K * nr + 16;
    float *A = aligned_alloc(64, sizeof(float) * ((size_t)M * K + 16));
    float *B = aligned_alloc(64, sizeof(float) * bsz * (size_t)copies);
    float *C = aligned_alloc(64, sizeof(float) * ((size_t)M * N + 16));
    float *bias = aligned_alloc(64, sizeof(float) * ((size_t)N + 16));
    for (size_t i = 0; i < (size_t)M * K; i++)
        A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < bsz * (size_t)copies; i++)
        B[i] = (float)(i % 5) * 0.1f;
    for (int i = 0; i < N; i++)
        bias[i] = 0.5f;
    tt_gemm_epi e = {.alpha = 1, .act = epi_kind == 2 ? TT_U_GELU : TT_ACT_NONE, .bias = epi_kind ? bias : NULL};
    double flops = 2.0 * M * K * N, best = 1e9;
    int reps = (int)(2e8 / flops) + 1;
    for (int t = 0; t < 15; t++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            isa->gemm(M, N, K, A, K, B + (size_t)(r % copies) * bsz, 0, true, C, N, &e);
        double dt = (now() - t0) / reps;
        best = dt < best ? dt : best;
    }
    free(A), free(B), free(C), free(bias);
    return flops / best * 1e-9;
}

int main(void)
{
    const tt_cpu_isa *isa = tt_cpu_isa_get();
    printf("isa %s (vl %d, tile %dx%d), one thread, best of 15\n", isa->name, isa->vl, isa->mr, isa->nr);
    printf("  in-L1 tile %dx256x%d: %.1f GFLOP/s\n", isa->mr, isa->nr, best_gflops(isa, isa->mr, 256, isa->nr, 0, 1));
    static const int shapes[][3] = {{16, 256, 768}, {16, 256, 256}, {16, 256, 1024}, {16, 1024, 256}, {16, 256, 1000},
                                    {128, 256, 768}, {128, 256, 1024}, {128, 1024, 256}, {128, 256, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        int copies = (int)(64e6 / (4.0 * K * N)) + 1;
        printf("  %4d x %4d x %4d: %6.1f GFLOP/s plain, %6.1f with bias, %6.1f with bias+gelu, %6.1f cold B\n", M,
               K, N, best_gflops(isa, M, K, N, 0, 1), best_gflops(isa, M, K, N, 1, 1), best_gflops(isa, M, K, N, 2, 1),
               best_gflops(isa, M, K, N, 0, copies));
    }
    return 0;
}
