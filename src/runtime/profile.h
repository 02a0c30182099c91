/* Per-kernel time profile, on when TETHER_PROFILE is set: each op's calls and time per
 * backend it ran on, summed over every run in the process and printed to stderr at exit. */
#ifndef TT_PROFILE_H
#define TT_PROFILE_H

#include "ops/op.h"

#include <stdbool.h>
#include <stdint.h>

bool tt_profile_enabled(void);
uint64_t tt_profile_now_ns(void);
void tt_profile_add(const tt_node *n, uint64_t ns);

#endif
