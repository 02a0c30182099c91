/* IR helpers: attribute access, opset lookup, type construction and printing. */
#include "model/ir.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int64_t tt_model_opset(const tt_model *m, const char *domain)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0)
        domain = "";
    for (int i = 0; i < m->n_opsets; i++)
        if (strcmp(m->opsets[i].domain, domain) == 0)
            return m->opsets[i].version;
    /* models from before opset imports existed (IR 1-2) use the first default-domain opset */
    if (!*domain && m->n_opsets == 0)
        return 1;
    return 0;
}

const char *tt_model_symbol_name(const tt_model *m, int64_t dim)
{
    int64_t i = TT_DIM_SYM0 - dim;
    if (dim > TT_DIM_SYM0 || i >= m->n_symbols)
        return NULL;
    return m->symbols[i];
}

const tt_attr *tt_node_attr(const tt_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t tt_attr_int(const tt_node *n, const char *name, int64_t def)
{
    const tt_attr *a = tt_node_attr(n, name);
    return a && a->type == TT_ATTR_INT ? a->i : def;
}

float tt_attr_float(const tt_node *n, const char *name, float def)
{
    const tt_attr *a = tt_node_attr(n, name);
    if (a && a->type == TT_ATTR_FLOAT)
        return a->f;
    if (a && a->type == TT_ATTR_INT)
        return (float)a->i;
    return def;
}

const char *tt_attr_string(const tt_node *n, const char *name, const char *def)
{
    const tt_attr *a = tt_node_attr(n, name);
    return a && a->type == TT_ATTR_STRING ? a->s : def;
}

const int64_t *tt_attr_ints(const tt_node *n, const char *name, size_t *len)
{
    const tt_attr *a = tt_node_attr(n, name);
    if (!a || a->type != TT_ATTR_INTS) {
        *len = 0;
        return NULL;
    }
    *len = a->n;
    return a->ints ? a->ints : (const int64_t *)"";
}

const float *tt_attr_floats(const tt_node *n, const char *name, size_t *len)
{
    const tt_attr *a = tt_node_attr(n, name);
    if (!a || a->type != TT_ATTR_FLOATS) {
        *len = 0;
        return NULL;
    }
    *len = a->n;
    return a->floats ? a->floats : (const float *)"\0\0\0";
}

void tt_type_tensor(tt_type *t, tt_dtype dtype, int rank, const int64_t *dims)
{
    memset(t, 0, sizeof *t);
    t->kind = TT_KIND_TENSOR;
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank && i < TT_MAX_RANK; i++)
        t->dims[i] = dims ? dims[i] : TT_DIM_UNKNOWN;
}

void tt_type_unknown_shape(tt_type *t, tt_dtype dtype)
{
    memset(t, 0, sizeof *t);
    t->kind = TT_KIND_TENSOR;
    t->dtype = dtype;
    t->rank = -1;
}

bool tt_type_static(const tt_type *t)
{
    if (t->kind != TT_KIND_TENSOR || t->rank < 0)
        return false;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return false;
    return true;
}

const char *tt_type_str(const tt_model *m, const tt_type *t, char *buf, size_t n)
{
    size_t o = 0;
#define OUT(...) (o += (o < n ? (size_t)snprintf(buf + o, n - o, __VA_ARGS__) : 0))
    const char *pre = "", *post = "";
    if (t->kind == TT_KIND_SEQUENCE)
        pre = "seq(", post = ")";
    else if (t->kind == TT_KIND_OPTIONAL)
        pre = t->elem_kind == TT_KIND_SEQUENCE ? "optional(seq(" : "optional(",
        post = t->elem_kind == TT_KIND_SEQUENCE ? "))" : ")";
    else if (t->kind == TT_KIND_MAP) {
        OUT("map");
        return buf;
    } else if (t->kind == TT_KIND_NONE) {
        OUT("?");
        return buf;
    }
    OUT("%s%s", pre, tt_dtype_name(t->dtype));
    if (t->rank >= 0) {
        OUT("[");
        for (int i = 0; i < t->rank; i++) {
            const char *sym = m ? tt_model_symbol_name(m, t->dims[i]) : NULL;
            if (t->dims[i] >= 0)
                OUT(i ? ",%" PRId64 : "%" PRId64, t->dims[i]);
            else
                OUT(i ? ",%s" : "%s", sym ? sym : "?");
        }
        OUT("]");
    }
    OUT("%s", post);
#undef OUT
    if (o >= n && n)
        buf[n - 1] = 0;
    return buf;
}
