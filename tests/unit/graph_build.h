/* A compact model builder for tests of passes and fused kernels: nodes written as
 * nd(&b, "y", "Op", "a b", nattrs, attrs), constants and inputs by name, over onnx_build.h. */
#ifndef TT_GRAPH_BUILD_H
#define TT_GRAPH_BUILD_H

#include "onnx_build.h"

#include "ops/op.h"

#include <math.h>

typedef struct mb {
    pbw nodes[64], inits[32], ins[8], outs[8];
    int nn, ni, nin, nout;
    int in_rank[8];
    int64_t in_dims[8][8];
    char in_name[8][16];
    uint64_t rng;
} mb;

static inline float rnd(mb *b)
{
    b->rng ^= b->rng << 13, b->rng ^= b->rng >> 7, b->rng ^= b->rng << 17;
    return (float)((double)(b->rng >> 11) / (double)(1ull << 53)) * 2 - 1;
}

static inline int split(const char *s, char out[][32], int cap)
{
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, " ,", &save); t && n < cap; t = strtok_r(NULL, " ,", &save))
        snprintf(out[n++], 32, "%s", strcmp(t, "-") == 0 ? "" : t);
    return n;
}

/* "y = Op(a, b)" plus attributes (taken over). "-" names an omitted input. */
static inline void nd(mb *b, const char *outs, const char *op, const char *ins, int na, pbw *attrs)
{
    char o[8][32], i[8][32];
    int no = split(outs, o, 8), ni = split(ins, i, 8);
    const char *op_[8], *ip[8];
    for (int k = 0; k < no; k++)
        op_[k] = o[k];
    for (int k = 0; k < ni; k++)
        ip[k] = i[k];
    const char *domain = strncmp(op, "com.tether:", 11) == 0 ? TT_DOMAIN : NULL;
    b->nodes[b->nn] = ob_node(domain ? op + 11 : op, ni, ip, no, op_, na, attrs);
    if (domain)
        pbw_str(&b->nodes[b->nn], 7, domain);
    b->nn++;
}

/* A float constant of random values (or all `fill` when fill is not NAN). */
static inline void cf(mb *b, const char *name, int rank, const int64_t *dims, float fill)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    float *v = malloc(sizeof(float) * (size_t)(n + 1));
    for (int64_t k = 0; k < n; k++)
        v[k] = isnan(fill) ? rnd(b) : fill;
    b->inits[b->ni++] = ob_tensor(name, TETHER_DTYPE_FLOAT, rank, dims, v, sizeof(float) * (size_t)n);
    free(v);
}

static inline void cs(mb *b, const char *name, float v) { b->inits[b->ni++] = ob_tensor(name, TETHER_DTYPE_FLOAT, 0, NULL, &v, 4); }

static inline void ci(mb *b, const char *name, int n, const int64_t *v)
{
    b->inits[b->ni++] = ob_tensor(name, TETHER_DTYPE_INT64, 1, (int64_t[]){n}, v, sizeof(int64_t) * (size_t)n);
}

/* An input; dims < 0 are the symbolic "N". */
static inline void in(mb *b, const char *name, int rank, const int64_t *dims)
{
    snprintf(b->in_name[b->nin], 16, "%s", name);
    b->in_rank[b->nin] = rank;
    memcpy(b->in_dims[b->nin], dims, sizeof(int64_t) * (size_t)rank);
    b->ins[b->nin++] = ob_input(name, TETHER_DTYPE_FLOAT, rank, dims);
}

static inline void out(mb *b, const char *name) { b->outs[b->nout++] = ob_output(name, TETHER_DTYPE_FLOAT, -1, NULL); }

static inline pbw build(mb *b, int opset)
{
    pbw g = ob_graph("g", b->nn, b->nodes, b->ni, b->inits, b->nin, b->ins, b->nout, b->outs);
    b->nn = b->ni = 0;
    pbw m = ob_model(opset, &g);
    return m;
}

#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define ATTR(...) ((pbw[]){__VA_ARGS__})

#endif
