/* The operator registry: every op definition table, searched by (domain, op type, opset,
 * dtype). Unsupported ops fail here, at load, with their name, domain and opset. */
#include "ops/op.h"

#include "ops/groups.h"

#include <stdio.h>
#include <string.h>

#define TT_DECLARE_GROUP(g) extern const tt_op_def tt_ops_##g[];
TT_OP_GROUPS(TT_DECLARE_GROUP)
#define TT_LIST_GROUP(g) tt_ops_##g,
static const tt_op_def *const g_groups[] = {TT_OP_GROUPS(TT_LIST_GROUP)};

void tt_op_foreach(void (*fn)(const tt_op_def *def, void *arg), void *arg)
{
    for (size_t g = 0; g < sizeof g_groups / sizeof g_groups[0]; g++)
        for (const tt_op_def *d = g_groups[g]; d->name; d++)
            fn(d, arg);
}

static bool domain_eq(const char *a, const char *b)
{
    if (strcmp(a, "ai.onnx") == 0)
        a = "";
    if (strcmp(b, "ai.onnx") == 0)
        b = "";
    return strcmp(a, b) == 0;
}

tt_status tt_op_find(const tt_node *node, const tt_type *const *in_types, const tt_op_def **out)
{
    const tt_op_def *best = NULL;
    bool name_seen = false, opset_seen = false;
    int lo = 1 << 30, hi = 0;
    tt_dtype bad_dtype = TETHER_DTYPE_UNDEFINED;
    const char *domain = *node->domain ? node->domain : "ai.onnx";
    if (node->opset <= 0)
        return tt_error(TETHER_ERR_INVALID_MODEL, "node '%s' (%s): the model imports no opset for domain '%s'",
                        node->name, node->op_type, domain);
    for (size_t g = 0; g < sizeof g_groups / sizeof g_groups[0]; g++) {
        for (const tt_op_def *d = g_groups[g]; d->name; d++) {
            if (strcmp(d->name, node->op_type) != 0 || !domain_eq(d->domain, node->domain))
                continue;
            name_seen = true;
            if (d->since < lo)
                lo = d->since;
            if ((d->until ? d->until : 1000) > hi)
                hi = d->until ? d->until : 1000;
            if (node->opset < d->since || (d->until && node->opset > d->until))
                continue;
            opset_seen = true;
            if (d->dtypes) {
                const tt_type *t = d->type_input < node->n_inputs ? in_types[d->type_input] : NULL;
                if (t && !((d->dtypes >> t->dtype) & 1)) {
                    bad_dtype = t->dtype;
                    continue;
                }
            }
            if (!best || d->priority > best->priority)
                best = d;
        }
    }
    if (best) {
        *out = best;
        return TT_OK;
    }
    if (!name_seen)
        return tt_error(TETHER_ERR_UNSUPPORTED, "node '%s': op %s (domain %s, opset %d) is not supported by tether",
                        node->name, node->op_type, domain, node->opset);
    if (!opset_seen) {
        char range[64];
        if (hi >= 1000)
            snprintf(range, sizeof range, "%d and later", lo);
        else
            snprintf(range, sizeof range, "%d to %d", lo, hi);
        return tt_error(TETHER_ERR_UNSUPPORTED,
                        "node '%s': op %s (domain %s) at opset %d is not supported; tether implements opsets %s",
                        node->name, node->op_type, domain, node->opset, range);
    }
    return tt_error(TETHER_ERR_UNSUPPORTED, "node '%s': op %s (domain %s, opset %d) does not support dtype %s",
                    node->name, node->op_type, domain, node->opset, tt_dtype_name(bad_dtype));
}
