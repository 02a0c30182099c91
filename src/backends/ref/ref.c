/* The ref backend: the portable reference kernels, one table per op family, each defined
 * beside its schemas in src/ops/. Every op tether knows has a reference kernel; other
 * backends are checked against these (tests/unit/test_backend_ops.c, tether-conformance
 * --backend). */
#include "backends/backend.h"

#include "ops/groups.h"

#define TT_DECLARE_GROUP(g) extern const tt_kernel tt_ref_##g[];
TT_OP_GROUPS(TT_DECLARE_GROUP)
#define TT_LIST_GROUP(g) tt_ref_##g,
static const tt_kernel *const g_tables[] = {TT_OP_GROUPS(TT_LIST_GROUP) NULL};

const tt_backend tt_backend_ref = {
    .name = "ref",
    .description = "reference kernels (portable C)",
    .tables = g_tables,
};
