/* The cpu backend's kernels for any CPU: one lane at a time, compiled with the build's
 * baseline flags. */
#define TT_ISA_TABLE tt_isa_scalar
#define TT_ISA_NAME "scalar"
#include "backends/cpu/kern.inc"
