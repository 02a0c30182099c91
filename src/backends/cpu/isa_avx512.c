/* The cpu backend's kernels compiled for AVX512 (CMakeLists.txt gives this file its -m flags);
 * used only when cpuid says the CPU and OS support it (isa.c). */
#if defined(__x86_64__)
#define TT_SIMD_AVX512 1
#define TT_ISA_TABLE tt_isa_avx512
#define TT_ISA_NAME "avx512"
#include "backends/cpu/kern.inc"
#else
typedef int tt_isa_avx512_absent;
#endif
