/* ONNX ModelProto / GraphProto / NodeProto / AttributeProto / TypeProto decoding into the
 * raw model. Field numbers are those of onnx.proto. Repeated fields are counted in a first
 * pass over a message, so every array is allocated once at its exact size. */
#include "model/raw.h"

#include <inttypes.h>
#include <string.h>

#define NOMEM() tt_error(TETHER_ERR_NO_MEMORY, "out of memory decoding the model")

#define PB_CAT_(a, b) a##b
#define PB_CAT(a, b) PB_CAT_(a, b)
/* for each field of a message; a malformed field returns from the enclosing function */
#define PB_LOOP(r, f) PB_LOOP_(r, f, PB_CAT(pb_rc_, __LINE__))
#define PB_LOOP_(r, f, rc)                                             \
    for (int rc; (rc = tt_pb_next((r), (f))) != 0;)                    \
        if (rc < 0)                                                    \
            return TETHER_ERR_INVALID_MODEL;                           \
        else

static tt_status want_wire(const tt_pb_field *f, int wire, const char *what)
{
    if (f->wire != wire)
        return tt_error(TETHER_ERR_INVALID_MODEL, "%s (field %u) at byte %zu has wire type %d, expected %d", what,
                        f->num, f->offset, f->wire, wire);
    return TT_OK;
}

/* Enters field f of parent, which must hold an embedded message (wire type LEN). */
static tt_status sub_message(const tt_pb *parent, const tt_pb_field *f, const char *what, tt_pb *r)
{
    TT_TRY(want_wire(f, TT_PB_LEN, what));
    return tt_pb_sub(parent, f, r);
}

static tt_status get_str(tt_decoder *d, const tt_pb_field *f, const char *what, const char **out)
{
    TT_TRY(want_wire(f, TT_PB_LEN, what));
    if (memchr(f->data, 0, f->len))
        return tt_error(TETHER_ERR_INVALID_MODEL, "%s at byte %zu contains a NUL byte", what, f->offset);
    *out = tt_arena_strndup(d->a, (const char *)f->data, f->len);
    return *out ? TT_OK : NOMEM();
}

/* Count occurrences of each field number below 32 in a message. */
static tt_status count_fields(const tt_pb *msg, size_t counts[32])
{
    tt_pb r = *msg;
    tt_pb_field f;
    memset(counts, 0, 32 * sizeof counts[0]);
    PB_LOOP(&r, &f)
    {
        if (f.num < 32)
            counts[f.num]++;
    }
    return TT_OK;
}

static tt_status symbol_id(tt_decoder *d, const char *name, int64_t *dim)
{
    int id = tt_strmap_get(&d->symbol_map, name);
    if (id < 0) {
        if (d->n_symbols == d->cap_symbols) {
            int cap = d->cap_symbols ? d->cap_symbols * 2 : 8;
            const char **s = tt_arena_alloc(d->a, (size_t)cap * sizeof *s);
            if (!s)
                return NOMEM();
            if (d->n_symbols)
                memcpy(s, d->symbols, (size_t)d->n_symbols * sizeof *s);
            d->symbols = s;
            d->cap_symbols = cap;
        }
        id = d->n_symbols;
        d->symbols[d->n_symbols++] = name;
        TT_TRY(tt_strmap_put(&d->symbol_map, name, id));
    }
    *dim = TT_DIM_SYM0 - id;
    return TT_OK;
}

static tt_status decode_shape(tt_decoder *d, const tt_pb *parent, const tt_pb_field *sf, tt_type *t,
                              const char ***dim_names)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(sub_message(parent, sf, "shape", &r));
    size_t counts[32];
    TT_TRY(count_fields(&r, counts));
    if (counts[1] > TT_MAX_RANK)
        return tt_error(TETHER_ERR_UNSUPPORTED, "a shape at byte %zu has rank %zu; tether supports up to %d",
                        sf->offset, counts[1], TT_MAX_RANK);
    t->rank = (int)counts[1];
    const char **names = NULL;
    int i = 0;
    PB_LOOP(&r, &f)
    {
        if (f.num != 1)
            continue;
        tt_pb dr;
        tt_pb_field df;
        TT_TRY(sub_message(&r, &f, "shape dimension", &dr));
        int64_t dim = TT_DIM_UNKNOWN;
        PB_LOOP(&dr, &df)
        {
            if (df.num == 1) {
                TT_TRY(want_wire(&df, TT_PB_VARINT, "dim_value"));
                if ((int64_t)df.u < 0)
                    return tt_error(TETHER_ERR_INVALID_MODEL, "negative dimension %" PRId64 " at byte %zu",
                                    (int64_t)df.u, df.offset);
                dim = (int64_t)df.u;
            } else if (df.num == 2) {
                const char *name;
                TT_TRY(get_str(d, &df, "dim_param", &name));
                if (*name) {
                    TT_TRY(symbol_id(d, name, &dim));
                    if (dim_names) {
                        if (!names && !(names = tt_arena_alloc(d->a, TT_MAX_RANK * sizeof *names)))
                            return NOMEM();
                        names[i] = name;
                    }
                }
            }
        }
        t->dims[i++] = dim;
    }
    if (dim_names)
        *dim_names = names;
    return TT_OK;
}

tt_status tt_decode_type(tt_decoder *d, const tt_pb *parent, const tt_pb_field *tf, tt_type *t, const char ***dim_names)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(sub_message(parent, tf, "type", &r));
    memset(t, 0, sizeof *t);
    t->rank = -1;
    PB_LOOP(&r, &f)
    {
        if (f.num == 1 || f.num == 8) { /* tensor_type, sparse_tensor_type */
            if (f.num == 8)
                return tt_error(TETHER_ERR_UNSUPPORTED, "sparse tensor values (type at byte %zu) are not supported",
                                f.offset);
            tt_pb tr;
            tt_pb_field g;
            TT_TRY(sub_message(&r, &f, "tensor_type", &tr));
            t->kind = TT_KIND_TENSOR;
            PB_LOOP(&tr, &g)
            {
                if (g.num == 1) {
                    TT_TRY(want_wire(&g, TT_PB_VARINT, "elem_type"));
                    if (!tt_dtype_valid((int)g.u) || g.u >= TT_DTYPE_COUNT)
                        return tt_error(TETHER_ERR_UNSUPPORTED, "unknown element type %" PRIu64 " at byte %zu", g.u,
                                        g.offset);
                    t->dtype = (tt_dtype)g.u;
                } else if (g.num == 2) {
                    TT_TRY(decode_shape(d, &tr, &g, t, dim_names));
                }
            }
        } else if (f.num == 4 || f.num == 9) { /* sequence_type, optional_type: elem_type = 1 */
            tt_pb sr;
            tt_pb_field g;
            TT_TRY(sub_message(&r, &f, "sequence/optional type", &sr));
            tt_type elem = {.kind = TT_KIND_NONE, .rank = -1};
            PB_LOOP(&sr, &g)
            {
                if (g.num == 1)
                    TT_TRY(tt_decode_type(d, &sr, &g, &elem, NULL));
            }
            if (f.num == 4) {
                if (elem.kind != TT_KIND_TENSOR)
                    return tt_error(TETHER_ERR_UNSUPPORTED,
                                    "sequences of non-tensors (type at byte %zu) are not supported", f.offset);
                *t = elem;
                t->kind = TT_KIND_SEQUENCE;
            } else {
                if (elem.kind != TT_KIND_TENSOR && elem.kind != TT_KIND_SEQUENCE)
                    return tt_error(TETHER_ERR_UNSUPPORTED,
                                    "optional of this type (at byte %zu) is not supported", f.offset);
                *t = elem;
                t->elem_kind = elem.kind;
                t->kind = TT_KIND_OPTIONAL;
            }
        } else if (f.num == 5) {
            t->kind = TT_KIND_MAP;
        }
    }
    return TT_OK;
}

static tt_status decode_value_info(tt_decoder *d, const tt_pb *parent, const tt_pb_field *vf, tt_raw_vi *vi)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(sub_message(parent, vf, "value_info", &r));
    memset(vi, 0, sizeof *vi);
    vi->name = "";
    vi->type.rank = -1;
    PB_LOOP(&r, &f)
    {
        if (f.num == 1)
            TT_TRY(get_str(d, &f, "value name", &vi->name));
        else if (f.num == 2) {
            TT_TRY(tt_decode_type(d, &r, &f, &vi->type, &vi->dim_names));
            vi->has_type = vi->type.kind != TT_KIND_NONE;
        }
    }
    return TT_OK;
}

static tt_status decode_attr(tt_decoder *d, const tt_pb *parent, const tt_pb_field *af, tt_attr *a)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(sub_message(parent, af, "attribute", &r));
    size_t counts[32];
    TT_TRY(count_fields(&r, counts));
    memset(a, 0, sizeof *a);
    a->name = "";

    /* element counts of the list fields (packed or not) */
    size_t nfloats = 0, nints = 0;
    {
        tt_pb c = r;
        PB_LOOP(&c, &f)
        {
            size_t k;
            if (f.num == 7) {
                TT_TRY(tt_pb_count(&f, TT_PB_I32, &k));
                nfloats += k;
            } else if (f.num == 8) {
                TT_TRY(tt_pb_count(&f, TT_PB_VARINT, &k));
                nints += k;
            }
        }
    }
    if (nfloats && !(a->floats = tt_arena_alloc(d->a, nfloats * sizeof *a->floats)))
        return NOMEM();
    if (nints && !(a->ints = tt_arena_alloc(d->a, nints * sizeof *a->ints)))
        return NOMEM();
    size_t nstrings = counts[9], ntensors = counts[10] + counts[23], ngraphs = counts[11];
    if (nstrings && (!(a->strings = tt_arena_alloc(d->a, nstrings * sizeof *a->strings)) ||
                     !(a->string_lens = tt_arena_alloc(d->a, nstrings * sizeof *a->string_lens))))
        return NOMEM();
    if (ntensors && !(a->tensors = tt_arena_alloc(d->a, ntensors * sizeof *a->tensors)))
        return NOMEM();
    if (ngraphs && !(a->rgs = tt_arena_alloc(d->a, ngraphs * sizeof *a->rgs)))
        return NOMEM();

    size_t fi = 0, ii = 0, si = 0, ti = 0, gi = 0;
    int declared = 0, guessed = 0;
    PB_LOOP(&r, &f)
    {
        switch (f.num) {
        case 1: TT_TRY(get_str(d, &f, "attribute name", &a->name)); break;
        case 21: TT_TRY(get_str(d, &f, "ref_attr_name", &a->ref_attr_name)); break;
        case 20:
            TT_TRY(want_wire(&f, TT_PB_VARINT, "attribute type"));
            declared = f.u > TT_ATTR_TYPE_PROTOS ? -1 : (int)f.u;
            break;
        case 2: {
            TT_TRY(want_wire(&f, TT_PB_I32, "attribute f"));
            uint32_t bits = (uint32_t)f.u;
            memcpy(&a->f, &bits, 4);
            guessed = TT_ATTR_FLOAT;
            break;
        }
        case 3:
            TT_TRY(want_wire(&f, TT_PB_VARINT, "attribute i"));
            a->i = (int64_t)f.u;
            guessed = TT_ATTR_INT;
            break;
        case 4:
            TT_TRY(want_wire(&f, TT_PB_LEN, "attribute s"));
            if (!(a->s = tt_arena_strndup(d->a, (const char *)f.data, f.len)))
                return NOMEM();
            a->s_len = f.len;
            guessed = TT_ATTR_STRING;
            break;
        case 5:
        case 22:
            if (!(a->t = tt_arena_alloc(d->a, sizeof *a->t)))
                return NOMEM();
            if (f.num == 5)
                TT_TRY(tt_decode_tensor(d, &r, &f, d->a, a->t, NULL));
            else
                TT_TRY(tt_decode_sparse_tensor(d, &r, &f, d->a, a->t, NULL));
            guessed = f.num == 5 ? TT_ATTR_TENSOR : TT_ATTR_SPARSE_TENSOR;
            break;
        case 6:
            TT_TRY(tt_decode_graph(d, &r, &f, &a->rg));
            guessed = TT_ATTR_GRAPH;
            break;
        case 14:
            TT_TRY(tt_decode_type(d, &r, &f, &a->tp, NULL));
            guessed = TT_ATTR_TYPE_PROTO;
            break;
        case 7:
            TT_TRY(tt_pb_fixed32(&f, (uint32_t *)a->floats, nfloats, &fi));
            guessed = TT_ATTR_FLOATS;
            break;
        case 8:
            TT_TRY(tt_pb_varints(&f, (uint64_t *)a->ints, nints, &ii));
            guessed = TT_ATTR_INTS;
            break;
        case 9:
            TT_TRY(want_wire(&f, TT_PB_LEN, "attribute strings"));
            if (!(a->strings[si] = tt_arena_strndup(d->a, (const char *)f.data, f.len)))
                return NOMEM();
            a->string_lens[si++] = f.len;
            guessed = TT_ATTR_STRINGS;
            break;
        case 10:
        case 23:
            if (!(a->tensors[ti] = tt_arena_alloc(d->a, sizeof(tt_tensor))))
                return NOMEM();
            if (f.num == 10)
                TT_TRY(tt_decode_tensor(d, &r, &f, d->a, a->tensors[ti], NULL));
            else
                TT_TRY(tt_decode_sparse_tensor(d, &r, &f, d->a, a->tensors[ti], NULL));
            ti++;
            guessed = f.num == 10 ? TT_ATTR_TENSORS : TT_ATTR_SPARSE_TENSORS;
            break;
        case 11:
            TT_TRY(tt_decode_graph(d, &r, &f, &a->rgs[gi++]));
            guessed = TT_ATTR_GRAPHS;
            break;
        case 15: return tt_error(TETHER_ERR_UNSUPPORTED, "attribute '%s': lists of types are not supported", a->name);
        default: break;
        }
    }
    /* IR versions before 4 may leave out the type: take it from the field that is set. */
    a->type = (tt_attr_type)(declared ? declared : guessed);
    switch (a->type) {
    case TT_ATTR_FLOATS: a->n = fi; break;
    case TT_ATTR_INTS: a->n = ii; break;
    case TT_ATTR_STRINGS: a->n = si; break;
    case TT_ATTR_TENSORS:
    case TT_ATTR_SPARSE_TENSORS: a->n = ti; break;
    case TT_ATTR_GRAPHS: a->n = gi; break;
    case TT_ATTR_TENSOR:
    case TT_ATTR_SPARSE_TENSOR:
        if (!a->t)
            return tt_error(TETHER_ERR_INVALID_MODEL, "attribute '%s' is a tensor but holds none", a->name);
        break;
    case TT_ATTR_GRAPH:
        if (!a->rg)
            return tt_error(TETHER_ERR_INVALID_MODEL, "attribute '%s' is a graph but holds none", a->name);
        break;
    case TT_ATTR_STRING:
        if (!a->s)
            a->s = "";
        break;
    default: break;
    }
    if ((int)a->type < 0 || a->type > TT_ATTR_TYPE_PROTOS)
        return tt_error(TETHER_ERR_INVALID_MODEL, "attribute '%s' has unknown type %d", a->name, (int)a->type);
    return TT_OK;
}

static tt_status decode_node(tt_decoder *d, const tt_pb *parent, const tt_pb_field *nf, tt_raw_node *n)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(sub_message(parent, nf, "node", &r));
    size_t counts[32];
    TT_TRY(count_fields(&r, counts));
    memset(n, 0, sizeof *n);
    n->name = n->domain = "";
    n->op_type = "";
    if (counts[1] > INT32_MAX / 2 || counts[2] > INT32_MAX / 2 || counts[5] > INT32_MAX / 2)
        return tt_error(TETHER_ERR_INVALID_MODEL, "node at byte %zu has too many inputs, outputs or attributes",
                        nf->offset);
    if ((counts[1] && !(n->in = tt_arena_alloc(d->a, counts[1] * sizeof *n->in))) ||
        (counts[2] && !(n->out = tt_arena_alloc(d->a, counts[2] * sizeof *n->out))) ||
        (counts[5] && !(n->attrs = tt_arena_alloc(d->a, counts[5] * sizeof *n->attrs))))
        return NOMEM();
    tt_pb names = r;
    PB_LOOP(&names, &f)
    {
        switch (f.num) {
        case 1: TT_TRY(get_str(d, &f, "node input", &n->in[n->n_in++])); break;
        case 2: TT_TRY(get_str(d, &f, "node output", &n->out[n->n_out++])); break;
        case 3: TT_TRY(get_str(d, &f, "node name", &n->name)); break;
        case 4: TT_TRY(get_str(d, &f, "op_type", &n->op_type)); break;
        case 7: TT_TRY(get_str(d, &f, "node domain", &n->domain)); break;
        default: break;
        }
    }
    /* attributes second, so that their errors can name the node wherever its name comes */
    PB_LOOP(&r, &f)
    {
        if (f.num != 5)
            continue;
        tt_status s = decode_attr(d, &r, &f, &n->attrs[n->n_attrs]);
        if (s != TT_OK)
            return tt_error_prefix(s, "node '%s' (%s): ", n->name, n->op_type);
        n->n_attrs++;
    }
    if (!*n->op_type)
        return tt_error(TETHER_ERR_INVALID_MODEL, "node '%s' at byte %zu has no op_type", n->name, nf->offset);
    if (strcmp(n->domain, "ai.onnx") == 0)
        n->domain = "";
    return TT_OK;
}

tt_status tt_decode_graph(tt_decoder *d, const tt_pb *parent, const tt_pb_field *gf, tt_raw_graph **out)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(sub_message(parent, gf, "graph", &r));
    size_t c[32];
    TT_TRY(count_fields(&r, c));
    tt_raw_graph *g = tt_arena_alloc(d->a, sizeof *g);
    if (!g)
        return NOMEM();
    g->name = "";
    size_t ninit = c[5] + c[15];
    if (c[1] > INT32_MAX / 2 || ninit > INT32_MAX / 2 || c[11] > INT32_MAX / 2 || c[12] > INT32_MAX / 2 ||
        c[13] > INT32_MAX / 2)
        return tt_error(TETHER_ERR_INVALID_MODEL, "graph at byte %zu is too large", gf->offset);
    if ((c[1] && !(g->nodes = tt_arena_alloc(d->a, c[1] * sizeof *g->nodes))) ||
        (ninit && !(g->inits = tt_arena_alloc(d->a, ninit * sizeof *g->inits))) ||
        (ninit && !(g->init_names = tt_arena_alloc(d->a, ninit * sizeof *g->init_names))) ||
        (c[11] && !(g->inputs = tt_arena_alloc(d->a, c[11] * sizeof *g->inputs))) ||
        (c[12] && !(g->outputs = tt_arena_alloc(d->a, c[12] * sizeof *g->outputs))) ||
        (c[13] && !(g->vis = tt_arena_alloc(d->a, c[13] * sizeof *g->vis))))
        return NOMEM();
    PB_LOOP(&r, &f)
    {
        switch (f.num) {
        case 1: TT_TRY(decode_node(d, &r, &f, &g->nodes[g->n_nodes++])); break;
        case 2: TT_TRY(get_str(d, &f, "graph name", &g->name)); break;
        case 5:
        case 15: {
            tt_tensor *t = tt_arena_alloc(d->a, sizeof *t);
            if (!t)
                return NOMEM();
            const char *name = "";
            tt_status s = f.num == 5 ? tt_decode_tensor(d, &r, &f, d->a, t, &name)
                                     : tt_decode_sparse_tensor(d, &r, &f, d->a, t, &name);
            if (s != TT_OK)
                return s;
            if (!*name)
                return tt_error(TETHER_ERR_INVALID_MODEL, "an initializer at byte %zu has no name", f.offset);
            g->inits[g->n_inits] = t;
            g->init_names[g->n_inits++] = name;
            d->m->weight_bytes += tt_tensor_nbytes(t);
            break;
        }
        case 11: TT_TRY(decode_value_info(d, &r, &f, &g->inputs[g->n_inputs++])); break;
        case 12: TT_TRY(decode_value_info(d, &r, &f, &g->outputs[g->n_outputs++])); break;
        case 13: TT_TRY(decode_value_info(d, &r, &f, &g->vis[g->n_vis++])); break;
        default: break;
        }
    }
    *out = g;
    return TT_OK;
}

static tt_status decode_opset(tt_decoder *d, const tt_pb *parent, const tt_pb_field *of, tt_opset *o)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(sub_message(parent, of, "opset_import", &r));
    o->domain = "";
    o->version = 0;
    PB_LOOP(&r, &f)
    {
        if (f.num == 1)
            TT_TRY(get_str(d, &f, "opset domain", &o->domain));
        else if (f.num == 2) {
            TT_TRY(want_wire(&f, TT_PB_VARINT, "opset version"));
            o->version = (int64_t)f.u;
        }
    }
    if (strcmp(o->domain, "ai.onnx") == 0)
        o->domain = "";
    if (o->version < 1 || o->version > 1000)
        return tt_error(TETHER_ERR_INVALID_MODEL, "opset import for domain '%s' has version %" PRId64,
                        *o->domain ? o->domain : "ai.onnx", o->version);
    return TT_OK;
}

static tt_status decode_function(tt_decoder *d, const tt_pb *parent, const tt_pb_field *ff, tt_function *fn)
{
    tt_pb r;
    tt_pb_field f;
    TT_TRY(sub_message(parent, ff, "function", &r));
    size_t c[32];
    TT_TRY(count_fields(&r, c));
    memset(fn, 0, sizeof *fn);
    fn->name = fn->domain = "";
    for (int i = 4; i <= 9; i++)
        if (c[i] > INT32_MAX / 2)
            return tt_error(TETHER_ERR_INVALID_MODEL, "function at byte %zu is too large", ff->offset);
    if ((c[4] && !(fn->inputs = tt_arena_alloc(d->a, c[4] * sizeof *fn->inputs))) ||
        (c[5] && !(fn->outputs = tt_arena_alloc(d->a, c[5] * sizeof *fn->outputs))) ||
        (c[6] && !(fn->attrs = tt_arena_alloc(d->a, c[6] * sizeof *fn->attrs))) ||
        (c[7] && !(fn->nodes = tt_arena_alloc(d->a, c[7] * sizeof(tt_raw_node)))) ||
        (c[9] && !(fn->opsets = tt_arena_alloc(d->a, c[9] * sizeof *fn->opsets))))
        return NOMEM();
    PB_LOOP(&r, &f)
    {
        switch (f.num) {
        case 1: TT_TRY(get_str(d, &f, "function name", &fn->name)); break;
        case 10: TT_TRY(get_str(d, &f, "function domain", &fn->domain)); break;
        case 4: TT_TRY(get_str(d, &f, "function input", &fn->inputs[fn->n_inputs++])); break;
        case 5: TT_TRY(get_str(d, &f, "function output", &fn->outputs[fn->n_outputs++])); break;
        case 6: TT_TRY(get_str(d, &f, "function attribute", &fn->attrs[fn->n_attrs++])); break;
        case 7: TT_TRY(decode_node(d, &r, &f, &fn->nodes[fn->n_nodes++])); break;
        case 9: TT_TRY(decode_opset(d, &r, &f, &fn->opsets[fn->n_opsets++])); break;
        default: break;
        }
    }
    return TT_OK;
}

tt_status tt_decode_model(tt_decoder *d, const void *data, size_t n, tt_raw_graph **graph)
{
    tt_pb r;
    tt_pb_field f;
    tt_model *m = d->m;
    tt_pb_init(&r, data, n);
    size_t c[32];
    TT_TRY(count_fields(&r, c));
    if (c[8] > INT32_MAX / 2)
        return tt_error(TETHER_ERR_INVALID_MODEL, "the model imports too many opsets");
    if (c[8] && !(m->opsets = tt_arena_alloc(d->a, c[8] * sizeof *m->opsets)))
        return NOMEM();
    size_t nfn = 0;
    {
        tt_pb cr = r;
        PB_LOOP(&cr, &f)
        {
            nfn += f.num == 25;
        }
    }
    if (nfn > INT32_MAX / 2)
        return tt_error(TETHER_ERR_INVALID_MODEL, "the model has too many functions");
    if (nfn && !(m->functions = tt_arena_alloc(d->a, nfn * sizeof *m->functions)))
        return NOMEM();
    m->producer_name = m->producer_version = m->domain = m->doc = "";
    *graph = NULL;
    PB_LOOP(&r, &f)
    {
        switch (f.num) {
        case 1:
            TT_TRY(want_wire(&f, TT_PB_VARINT, "ir_version"));
            m->ir_version = (int64_t)f.u;
            break;
        case 2: TT_TRY(get_str(d, &f, "producer_name", &m->producer_name)); break;
        case 3: TT_TRY(get_str(d, &f, "producer_version", &m->producer_version)); break;
        case 4: TT_TRY(get_str(d, &f, "domain", &m->domain)); break;
        case 5:
            TT_TRY(want_wire(&f, TT_PB_VARINT, "model_version"));
            m->model_version = (int64_t)f.u;
            break;
        case 6: TT_TRY(get_str(d, &f, "doc_string", &m->doc)); break;
        case 7:
            if (*graph)
                return tt_error(TETHER_ERR_INVALID_MODEL, "the model holds two graphs (second at byte %zu)", f.offset);
            TT_TRY(tt_decode_graph(d, &r, &f, graph));
            break;
        case 8: TT_TRY(decode_opset(d, &r, &f, &m->opsets[m->n_opsets++])); break;
        case 25: TT_TRY(decode_function(d, &r, &f, &m->functions[m->n_functions++])); break;
        default: break;
        }
    }
    if (!*graph)
        return tt_error(TETHER_ERR_INVALID_MODEL, "not an ONNX model: no graph in %zu bytes", n);
    if (m->ir_version < 1)
        return tt_error(TETHER_ERR_INVALID_MODEL, "not an ONNX model: no ir_version");
    if (m->ir_version >= 3 && m->n_opsets == 0)
        return tt_error(TETHER_ERR_INVALID_MODEL, "the model imports no opset");
    return TT_OK;
}
