/* Node arity against the ONNX operator schemas: how many inputs and outputs a default-domain
 * node may have at its opset, and which may be left out. Kernels can then rely on their
 * required inputs and outputs being there, whatever the model file says. */
#include "model/raw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define UNBOUNDED 0xFFFF

typedef struct arity {
    const char *op;
    uint16_t since, min_in, max_in, min_out, max_out;
    uint8_t formal_in, var_in, formal_out, var_out;
    uint32_t req_in, req_out; /* bit i: formal parameter i may not be left out */
} arity;

static const arity g_arity[] = {
#define ARITY(op, since, min_in, max_in, min_out, max_out, fin, req_in, var_in, fout, req_out, var_out)                \
    {op, since, min_in, max_in, min_out, max_out, fin, var_in, fout, var_out, req_in, req_out},
#include "model/onnx_arity.inc"
#undef ARITY
};

/* The schema version in force at opset (the latest one since <= opset), or NULL. The table
 * is sorted by name, then version. */
static const arity *find_arity(const char *op, int64_t opset)
{
    size_t lo = 0, hi = sizeof g_arity / sizeof g_arity[0];
    while (lo < hi) { /* first entry whose name is >= op */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(g_arity[mid].op, op) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    const arity *best = NULL;
    for (size_t i = lo; i < sizeof g_arity / sizeof g_arity[0] && strcmp(g_arity[i].op, op) == 0; i++)
        if (g_arity[i].since <= opset)
            best = &g_arity[i];
    return best;
}

static const char *range(unsigned lo, unsigned hi, char *buf, size_t n)
{
    if (hi == UNBOUNDED)
        snprintf(buf, n, "at least %u", lo);
    else if (lo == hi)
        snprintf(buf, n, "%u", lo);
    else
        snprintf(buf, n, "%u to %u", lo, hi);
    return buf;
}

/* Whether input i of a node may be "". Variadic inputs may not: kernels take every one. */
static bool may_omit(int i, unsigned formal, uint32_t req, bool variadic)
{
    if (variadic && (unsigned)i >= formal - 1)
        return false;
    if ((unsigned)i >= formal)
        return true; /* past what this schema knows (a newer opset): the op decides */
    return !((req >> i) & 1);
}

tt_status tt_check_arity(const tt_raw_node *n, int64_t opset)
{
    if (*n->domain)
        return TT_OK;
    const arity *a = find_arity(n->op_type, opset);
    if (!a)
        return TT_OK; /* not an ONNX op at this opset: the op registry will say so */
    /* a later opset may take more inputs or outputs than the table knows of, never fewer */
    bool known = opset <= TT_ONNX_ARITY_OPSET;
    char r[48];
    if (n->n_in < a->min_in || (known && n->n_in > a->max_in))
        return tt_error(TETHER_ERR_INVALID_MODEL, "node '%s' (%s) has %d inputs; at opset %" PRId64 " it takes %s",
                        n->name, n->op_type, n->n_in, opset, range(a->min_in, a->max_in, r, sizeof r));
    if (n->n_out < a->min_out || (known && n->n_out > a->max_out))
        return tt_error(TETHER_ERR_INVALID_MODEL, "node '%s' (%s) has %d outputs; at opset %" PRId64 " it takes %s",
                        n->name, n->op_type, n->n_out, opset, range(a->min_out, a->max_out, r, sizeof r));
    for (int i = 0; i < n->n_in; i++)
        if (!*n->in[i] && !may_omit(i, a->formal_in, a->req_in, a->var_in))
            return tt_error(TETHER_ERR_INVALID_MODEL, "node '%s' (%s): input %d is required but left empty", n->name,
                            n->op_type, i);
    /* a required output left unnamed is computed and dropped: the executor gives the kernel
     * somewhere to write it */
    return TT_OK;
}
