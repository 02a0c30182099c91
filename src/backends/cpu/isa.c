/* Choosing the cpu backend's instruction set once, from cpuid and the OS's saved register
 * state (XGETBV): AVX-512 (F, BW, DQ, VL), else AVX2 with FMA, else the portable scalar
 * kernels. TETHER_CPU_ISA=avx2|scalar picks a narrower one (for tests and comparisons). */
#include "backends/cpu/isa.h"

#include "core/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static const tt_cpu_isa *detect(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return &tt_isa_scalar;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx || !fma)
        return &tt_isa_scalar;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6)
        return &tt_isa_scalar;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return &tt_isa_scalar;
    bool avx2 = (b >> 5) & 1;
    bool avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1) &&
                  (xcr0 & 0xe6) == 0xe6;
    if (avx512 && avx2)
        return &tt_isa_avx512;
    return avx2 ? &tt_isa_avx2 : &tt_isa_scalar;
}
#else
static const tt_cpu_isa *detect(void) { return &tt_isa_scalar; }
#endif

static const tt_cpu_isa *g_isa;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int rank_of(const tt_cpu_isa *i) { return i->vl; }

static void choose(void)
{
    const tt_cpu_isa *best = detect();
    const char *env = getenv("TETHER_CPU_ISA");
    g_isa = best;
    if (!env || !*env)
        return;
    const tt_cpu_isa *want = NULL;
    if (strcmp(env, "scalar") == 0)
        want = &tt_isa_scalar;
#if defined(__x86_64__)
    else if (strcmp(env, "avx2") == 0)
        want = &tt_isa_avx2;
    else if (strcmp(env, "avx512") == 0)
        want = &tt_isa_avx512;
#endif
    if (!want)
        tt_log(TT_LOG_WARN, "TETHER_CPU_ISA=%s is not one of avx512, avx2, scalar: using %s", env, best->name);
    else if (rank_of(want) > rank_of(best))
        tt_log(TT_LOG_WARN, "TETHER_CPU_ISA=%s: this CPU lacks it, using %s", env, best->name);
    else
        g_isa = want;
}

const tt_cpu_isa *tt_cpu_isa_get(void)
{
    pthread_once(&g_once, choose);
    return g_isa;
}

/* ---- extensions of the reduced-precision products (lowp.h) -------------------------------- */

#include "backends/cpu/lowp.h"

#if defined(__x86_64__)
/* AVX512-BF16 is cpuid leaf 7 sub-leaf 1 EAX bit 5; AVX512-VNNI leaf 7 sub-leaf 0 ECX bit 11.
 * Both need the AVX-512 kernels to be the ones in use (the OS saves the zmm state, and
 * TETHER_CPU_ISA did not ask for less). */
static bool cpuid_bit(unsigned leaf, unsigned sub, int reg, int bit)
{
    unsigned r[4];
    if ((unsigned)__get_cpuid_max(0, NULL) < leaf || !__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]))
        return false;
    return (r[reg] >> bit) & 1;
}
bool tt_cpu_has_bf16(void) { return tt_cpu_isa_get() == &tt_isa_avx512 && cpuid_bit(7, 1, 0, 5); }
bool tt_cpu_has_vnni(void) { return tt_cpu_isa_get() == &tt_isa_avx512 && cpuid_bit(7, 0, 2, 11); }
#else
bool tt_cpu_has_bf16(void) { return false; }
bool tt_cpu_has_vnni(void) { return false; }
#endif
