/* The schema registry: every op family's schema table, searched by (domain, op type,
 * opset). Unknown ops and opsets fail here, at load, with their name, domain and opset. */
#include "ops/op.h"

#include "ops/groups.h"

#include <stdio.h>
#include <string.h>

#define TT_DECLARE_GROUP(g) extern const tt_op_schema tt_schemas_##g[];
TT_OP_GROUPS(TT_DECLARE_GROUP)
#define TT_LIST_GROUP(g) tt_schemas_##g,
static const tt_op_schema *const g_groups[] = {TT_OP_GROUPS(TT_LIST_GROUP)};

void tt_op_foreach(void (*fn)(const tt_op_schema *s, void *arg), void *arg)
{
    for (size_t g = 0; g < sizeof g_groups / sizeof g_groups[0]; g++)
        for (const tt_op_schema *d = g_groups[g]; d->name; d++)
            fn(d, arg);
}

bool tt_domain_eq(const char *a, const char *b)
{
    if (strcmp(a, "ai.onnx") == 0)
        a = "";
    if (strcmp(b, "ai.onnx") == 0)
        b = "";
    return strcmp(a, b) == 0;
}

static bool in_range(int opset, int since, int until) { return opset >= since && (!until || opset <= until); }

tt_status tt_op_find_schema(const tt_node *node, const tt_op_schema **out)
{
    bool name_seen = false;
    int lo = 1 << 30, hi = 0;
    const char *domain = *node->domain ? node->domain : "ai.onnx";
    if (node->opset <= 0)
        return tt_error(TETHER_ERR_INVALID_MODEL, "node '%s' (%s): the model imports no opset for domain '%s'",
                        node->name, node->op_type, domain);
    for (size_t g = 0; g < sizeof g_groups / sizeof g_groups[0]; g++) {
        for (const tt_op_schema *d = g_groups[g]; d->name; d++) {
            if (strcmp(d->name, node->op_type) != 0 || !tt_domain_eq(d->domain, node->domain))
                continue;
            name_seen = true;
            if (d->since < lo)
                lo = d->since;
            if ((d->until ? d->until : 1000) > hi)
                hi = d->until ? d->until : 1000;
            if (in_range(node->opset, d->since, d->until)) {
                *out = d;
                return TT_OK;
            }
        }
    }
    if (!name_seen)
        return tt_error(TETHER_ERR_UNSUPPORTED, "node '%s': op %s (domain %s, opset %d) is not supported by tether",
                        node->name, node->op_type, domain, node->opset);
    char range[64];
    if (hi >= 1000)
        snprintf(range, sizeof range, "%d and later", lo);
    else
        snprintf(range, sizeof range, "%d to %d", lo, hi);
    return tt_error(TETHER_ERR_UNSUPPORTED,
                    "node '%s': op %s (domain %s) at opset %d is not supported; tether implements opsets %s",
                    node->name, node->op_type, domain, node->opset, range);
}

bool tt_kernel_matches(const tt_kernel *k, const tt_node *node, const tt_type *const *in_types)
{
    if (strcmp(k->name, node->op_type) != 0 || !tt_domain_eq(k->domain, node->domain) ||
        !in_range(node->opset, k->since, k->until))
        return false;
    if (k->dtypes) {
        const tt_type *t = k->type_input < node->n_inputs ? in_types[k->type_input] : NULL;
        if (t && !((k->dtypes >> t->dtype) & 1))
            return false;
    }
    return true;
}
