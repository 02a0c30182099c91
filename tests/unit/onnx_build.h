/* Building ONNX models in tests: a protobuf writer and helpers for the messages tests need
 * (models, graphs, nodes, attributes, tensors, value infos). Field numbers are onnx.proto's.
 *
 *   pbw x = ob_input("x", TETHER_DTYPE_FLOAT, 2, (int64_t[]){-1, 4});  // -1: symbolic "N"
 *   pbw n = ob_node("Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}, 0, NULL);
 *   pbw g = ob_graph("g", 1, &n, 0, NULL, 1, &x, 1, &y);
 *   pbw m = ob_model(13, &g);   // m.buf, m.len: the model bytes; ob_free(&m)
 *
 * Every helper takes ownership of the pbw messages passed to it. */
#ifndef TT_ONNX_BUILD_H
#define TT_ONNX_BUILD_H

#include "tether.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pbw {
    uint8_t *buf;
    size_t len, cap;
} pbw;

static inline void pbw_put(pbw *w, const void *p, size_t n)
{
    if (n == 0) /* empty messages (a scalar's shape) may have no buffer: memcpy(NULL) is UB */
        return;
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2 + 64;
        w->buf = realloc(w->buf, w->cap);
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static inline void pbw_varint(pbw *w, uint64_t v)
{
    uint8_t b[10];
    int n = 0;
    do {
        b[n] = v & 0x7f;
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    pbw_put(w, b, (size_t)n);
}

static inline void pbw_tag(pbw *w, unsigned field, unsigned wire) { pbw_varint(w, (uint64_t)field << 3 | wire); }
static inline void pbw_int(pbw *w, unsigned field, int64_t v) { pbw_tag(w, field, 0), pbw_varint(w, (uint64_t)v); }
static inline void pbw_float(pbw *w, unsigned field, float f)
{
    pbw_tag(w, field, 5);
    pbw_put(w, &f, 4);
}
static inline void pbw_bytes(pbw *w, unsigned field, const void *p, size_t n)
{
    pbw_tag(w, field, 2);
    pbw_varint(w, n);
    pbw_put(w, p, n);
}
static inline void pbw_str(pbw *w, unsigned field, const char *s) { pbw_bytes(w, field, s, strlen(s)); }
/* Appends sub as a length-delimited field and frees it. */
static inline void pbw_msg(pbw *w, unsigned field, pbw *sub)
{
    pbw_bytes(w, field, sub->buf, sub->len);
    free(sub->buf);
    memset(sub, 0, sizeof *sub);
}
static inline void ob_free(pbw *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

/* TensorProto with raw_data. */
static inline pbw ob_tensor(const char *name, int dtype, int rank, const int64_t *dims, const void *raw, size_t nbytes)
{
    pbw t = {0};
    for (int i = 0; i < rank; i++)
        pbw_int(&t, 1, dims[i]);
    pbw_int(&t, 2, dtype);
    if (name)
        pbw_str(&t, 8, name);
    pbw_bytes(&t, 9, raw, nbytes);
    return t;
}

/* ValueInfoProto for a tensor; rank < 0: no shape; dims[i] < 0: symbolic dim "N". */
static inline pbw ob_value_info(const char *name, int dtype, int rank, const int64_t *dims)
{
    pbw shape = {0}, tt = {0}, tp = {0}, vi = {0};
    for (int i = 0; i < rank; i++) {
        pbw d = {0};
        if (dims[i] >= 0)
            pbw_int(&d, 1, dims[i]);
        else
            pbw_str(&d, 2, "N");
        pbw_msg(&shape, 1, &d);
    }
    pbw_int(&tt, 1, dtype);
    if (rank >= 0)
        pbw_msg(&tt, 2, &shape);
    else
        ob_free(&shape);
    pbw_msg(&tp, 1, &tt);
    pbw_str(&vi, 1, name);
    pbw_msg(&vi, 2, &tp);
    return vi;
}
#define ob_input ob_value_info
#define ob_output ob_value_info

static inline pbw ob_attr_int(const char *name, int64_t v)
{
    pbw a = {0};
    pbw_str(&a, 1, name);
    pbw_int(&a, 20, 2);
    pbw_int(&a, 3, v);
    return a;
}

static inline pbw ob_attr_float(const char *name, float v)
{
    pbw a = {0};
    pbw_str(&a, 1, name);
    pbw_int(&a, 20, 1);
    pbw_float(&a, 2, v);
    return a;
}

static inline pbw ob_attr_string(const char *name, const char *v)
{
    pbw a = {0};
    pbw_str(&a, 1, name);
    pbw_int(&a, 20, 3);
    pbw_str(&a, 4, v);
    return a;
}

static inline pbw ob_attr_ints(const char *name, int n, const int64_t *v)
{
    pbw a = {0}, packed = {0};
    pbw_str(&a, 1, name);
    pbw_int(&a, 20, 7);
    for (int i = 0; i < n; i++)
        pbw_varint(&packed, (uint64_t)v[i]);
    pbw_msg(&a, 8, &packed);
    return a;
}

static inline pbw ob_attr_floats(const char *name, int n, const float *v)
{
    pbw a = {0};
    pbw_str(&a, 1, name);
    pbw_int(&a, 20, 6);
    pbw_bytes(&a, 7, v, sizeof(float) * (size_t)n);
    return a;
}

static inline pbw ob_attr_tensor(const char *name, pbw *t)
{
    pbw a = {0};
    pbw_str(&a, 1, name);
    pbw_int(&a, 20, 4);
    pbw_msg(&a, 5, t);
    return a;
}

static inline pbw ob_attr_graph(const char *name, pbw *g)
{
    pbw a = {0};
    pbw_str(&a, 1, name);
    pbw_int(&a, 20, 5);
    pbw_msg(&a, 6, g);
    return a;
}

static inline pbw ob_node(const char *op, int nin, const char *const *in, int nout, const char *const *out, int nattr,
                   pbw *attrs)
{
    pbw n = {0};
    for (int i = 0; i < nin; i++)
        pbw_str(&n, 1, in[i]);
    for (int i = 0; i < nout; i++)
        pbw_str(&n, 2, out[i]);
    pbw_str(&n, 3, op);
    pbw_str(&n, 4, op);
    for (int i = 0; i < nattr; i++)
        pbw_msg(&n, 5, &attrs[i]);
    return n;
}

static inline pbw ob_graph(const char *name, int nnodes, pbw *nodes, int ninit, pbw *inits, int nin, pbw *ins, int nout,
                    pbw *outs)
{
    pbw g = {0};
    for (int i = 0; i < nnodes; i++)
        pbw_msg(&g, 1, &nodes[i]);
    pbw_str(&g, 2, name);
    for (int i = 0; i < ninit; i++)
        pbw_msg(&g, 5, &inits[i]);
    for (int i = 0; i < nin; i++)
        pbw_msg(&g, 11, &ins[i]);
    for (int i = 0; i < nout; i++)
        pbw_msg(&g, 12, &outs[i]);
    return g;
}

static inline pbw ob_model(int64_t opset, pbw *graph)
{
    pbw m = {0}, os = {0};
    pbw_int(&m, 1, 8);
    pbw_str(&m, 2, "tether-tests");
    pbw_int(&os, 2, opset);
    pbw_msg(&m, 8, &os);
    pbw_msg(&m, 7, graph);
    return m;
}

/* A one-node model: op over inputs x0..x(nin-1) of the given (static) types, one output
 * "y" of unknown shape. For op tests. */
static inline pbw ob_single_op(const char *op, int64_t opset, int nin, const int *dtypes, const int *ranks,
                        const int64_t *const *dims, int nattr, pbw *attrs)
{
    char names[8][8];
    const char *in[8];
    pbw vis[8];
    for (int i = 0; i < nin && i < 8; i++) {
        snprintf(names[i], sizeof names[i], "x%d", i);
        in[i] = names[i];
        vis[i] = ob_input(names[i], dtypes[i], ranks[i], dims[i]);
    }
    pbw y = ob_output("y", dtypes[0], -1, NULL);
    pbw n = ob_node(op, nin, in, 1, (const char *[]){"y"}, nattr, attrs);
    pbw g = ob_graph("single", 1, &n, 0, NULL, nin, vis, 1, &y);
    return ob_model(opset, &g);
}

#endif
