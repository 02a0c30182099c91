/* Shared helpers for operator definitions: type/shape inference building blocks,
 * multidirectional broadcasting, dtype dispatch, axis handling. */
#ifndef TT_OPS_UTIL_H
#define TT_OPS_UTIL_H

#include "core/cancel.h"
#include "core/threadpool.h"
#include "ops/op.h"

#include <math.h>
#include <string.h>

/* ---- inference ------------------------------------------------------------------- */

/* Input i's type, which must be a tensor (or, at load, not known yet): fails naming the
 * input when it is omitted or not a tensor. */
tt_status tt_infer_input(const tt_ictx *c, int i, const tt_type **out);
/* Input i, which the op requires: an error when it is missing or known not to be a tensor.
 * Unlike tt_infer_input, the wrong kind is INVALID_MODEL (not SHAPE), any input of kind NONE
 * passes at load, and *t is set even on error. */
tt_status tt_need_input(const tt_ictx *c, int i, const tt_type **t);
/* Output `o` gets the type of input `i`. */
tt_status tt_infer_same(tt_ictx *c, int i, int o);
/* Output `o` is a tensor of dtype with the given (possibly symbolic) shape. rank -1: unknown. */
void tt_infer_tensor(tt_ictx *c, int o, tt_dtype dtype, int rank, const int64_t *dims);
/* Multidirectional (numpy) broadcast of the shapes of inputs [first, first+n), skipping
 * omitted ones; fails on incompatible known dims. out_rank -1 when a rank is unknown. */
tt_status tt_infer_broadcast(const tt_ictx *c, int first, int n, int *out_rank, int64_t *out_dims);
/* Broadcast of two concrete or symbolic shapes. */
tt_status tt_broadcast_shapes(const tt_node *node, int ra, const int64_t *a, int rb, const int64_t *b, int *r,
                              int64_t *out);
/* Checks input i is a tensor whose dtype is in mask (TT_DT bits). Omitted inputs pass. */
tt_status tt_infer_check_dtype(const tt_ictx *c, int i, uint32_t mask);
/* Checks inputs i and j have the same dtype. */
tt_status tt_infer_same_dtype(const tt_ictx *c, int i, int j);
/* GatherElements' and ScatterElements' rule for data x and indices ind (either rank may be
 * unknown): the same rank, and along every axis but the "axis" attribute's, indices no
 * larger than the data. */
tt_status tt_infer_elements_indices(const tt_ictx *c, const tt_type *x, const tt_type *ind);
/* Reads input i's value as int64s when known (int32/int64/… tensors). Returns false if the
 * value is not known yet; errors (too many, wrong type) are reported through *s. */
bool tt_infer_ints(const tt_ictx *c, int i, int64_t *out, int64_t cap, int64_t *n, tt_status *s);
/* Binary ops before opset 7 (Add-6, Pow-1, And-1, Equal-1, ...) broadcast only their second
 * input B, and only with broadcast=1: B's dims line up with A's from `axis` (axis < 0: with
 * A's trailing dims). Writes B's dims padded with 1s to A's rank into b_dims, after which
 * numpy broadcasting gives the legacy result. Symbolic dims pass; definite mismatches fail. */
tt_status tt_legacy_broadcast(const tt_node *n, bool broadcast, int64_t axis, int ra, const int64_t *a, int rb,
                              const int64_t *b, int64_t *b_dims);
/* The output shape of a broadcasting binary op over inputs 0 and 1: numpy rules from opset 7,
 * the legacy rule above (attributes broadcast, axis) before. out_rank -1 when unknown. */
tt_status tt_infer_binary(const tt_ictx *c, int *out_rank, int64_t *out_dims);
/* Input 1 of a binary op shaped for tt_bcast_apply: before opset 7, a view with B's dims as
 * the legacy rule lines them up against input 0. */
tt_status tt_binary_rhs(const tt_kctx *c, tt_tensor *b);
/* The known rank of input i, or -1. */
static inline int tt_infer_rank(const tt_ictx *c, int i)
{
    const tt_type *t = tt_iin(c, i);
    return t && t->kind == TT_KIND_TENSOR ? t->rank : -1;
}

/* ---- axes and shapes ----------------------------------------------------------------- */

/* Normalises a possibly negative axis into [0, rank) (or [0, rank] with allow_end). */
tt_status tt_norm_axis(const tt_node *n, int64_t axis, int rank, bool allow_end, int *out);
/* Normalises a list of n possibly negative axes into [0, rank), rejecting repeats. */
tt_status tt_norm_axes(const tt_node *n, const int64_t *axes, int64_t count, int rank, int *out);
/* Normalises a possibly negative index into [0, dim); false when it is out of range. */
static inline bool tt_norm_index(int64_t *index, int64_t dim)
{
    int64_t i = *index < 0 ? *index + dim : *index;
    if (i < 0 || i >= dim)
        return false;
    *index = i;
    return true;
}
/* The error for an index tt_norm_index rejected, naming it and the valid range. */
tt_status tt_index_error(const tt_node *n, const char *what, int64_t index, int64_t dim);
/* Reads index tensor t (int32 or int64) into a new array (tt_free it), each element
 * normalised against dims[i % ndims]; fails naming the first out-of-range index. */
tt_status tt_load_indices(const tt_node *n, const char *what, const tt_tensor *t, const int64_t *dims, int ndims,
                          int64_t **out);
/* Steps pos, a row-major index over dims[0..rank), on to the next element, odometer-style,
 * keeping *off, the sum of pos[d] * strides[d] over every d but `skip`, in step with it. */
static inline void tt_index_next(int rank, const int64_t *dims, const int64_t *strides, int skip, int64_t *pos,
                                 int64_t *off)
{
    for (int d = rank - 1; d >= 0; d--) {
        if (d != skip)
            *off += strides[d];
        if (++pos[d] < dims[d])
            return;
        if (d != skip)
            *off -= strides[d] * dims[d];
        pos[d] = 0;
    }
}
/* A shape computed from data must describe a tensor tether will allocate: fails naming the
 * op, `what` and the shape when it is too large, before anything is allocated. Shapes with
 * unknown dims pass. */
tt_status tt_check_size(const tt_node *n, tt_dtype dtype, int rank, const int64_t *dims, const char *what);
/* Reads a tensor of integers into int64s (at most cap). */
tt_status tt_tensor_to_ints(const tt_node *node, const tt_tensor *t, int64_t *out, int64_t cap, int64_t *n);
/* Row-major strides in elements. */
void tt_strides(int rank, const int64_t *dims, int64_t *strides);
int64_t tt_dims_prod(const int64_t *dims, int from, int to);
/* A normalisation's parameter t (what: its name, for errors) broadcast right-aligned to
 * dims[0..rank), the normalised shape, as doubles in *out (tt_free it). */
tt_status tt_param_f64(const tt_node *node, const tt_tensor *t, const char *what, int rank, const int64_t *dims,
                       double **out);

/* ---- broadcasting kernels --------------------------------------------------------------- */

/* Calls fn over the output in runs along the innermost dimension: ptr[0] is the output,
 * ptr[1..k] the inputs, step[j] each pointer's byte step per element (0 for a broadcast
 * input). out must already have the broadcast shape. Splits work over the thread pool. */
typedef void (*tt_bcast_fn)(char *const *ptr, const int64_t *step, int64_t n, void *arg);
#define TT_BCAST_MAX 4
tt_status tt_bcast_apply(tt_tensor *out, int k, const tt_tensor *const *ins, tt_bcast_fn fn, void *arg);

/* Defines `static void FN`, a tt_bcast_fn for a binary elementwise op: elements of C type IN
 * load through LOAD (TT_AS_IS, tt_f16_to_f32, ...) as A and B of type T (= LT), and the output
 * element is (OUT)(EXPR); EXPR may ignore A or B. Contiguous and scalar-operand runs have
 * loops of their own so that each vectorises. */
#define TT_AS_IS(x) (x)
#define TT_BINARY_STEP(OUT, EXPR)                                                              \
    o[i] = (OUT)(EXPR);                                                                        \
    (void)A, (void)B
#define TT_BINARY_LOOP(FN, IN, LT, LOAD, OUT, EXPR)                                            \
    static void FN(char *const *p, const int64_t *st, int64_t n, void *arg)                    \
    {                                                                                          \
        typedef LT T;                                                                          \
        (void)arg;                                                                             \
        OUT *o = (OUT *)p[0];                                                                  \
        const IN *x = (const IN *)p[1], *y = (const IN *)p[2];                                 \
        const int64_t es = (int64_t)sizeof(IN);                                                \
        if (st[1] == es && st[2] == es) {                                                      \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const T A = LOAD(x[i]), B = LOAD(y[i]);                                        \
                TT_BINARY_STEP(OUT, EXPR);                                                     \
            }                                                                                  \
        } else if (st[1] == es && st[2] == 0) {                                                \
            const T B = LOAD(y[0]);                                                            \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const T A = LOAD(x[i]);                                                        \
                TT_BINARY_STEP(OUT, EXPR);                                                     \
            }                                                                                  \
        } else if (st[1] == 0 && st[2] == es) {                                                \
            const T A = LOAD(x[0]);                                                            \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const T B = LOAD(y[i]);                                                        \
                TT_BINARY_STEP(OUT, EXPR);                                                     \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const T A = LOAD(*(const IN *)(p[1] + i * st[1]));                             \
                const T B = LOAD(*(const IN *)(p[2] + i * st[2]));                             \
                TT_BINARY_STEP(OUT, EXPR);                                                     \
            }                                                                                  \
        }                                                                                      \
    }

/* Elementwise over a contiguous range, split over the thread pool. */
typedef void (*tt_map_fn)(void *arg, int64_t begin, int64_t end);
void tt_map(int64_t n, tt_map_fn fn, void *arg);

/* ---- BLAS ------------------------------------------------------------------------------- */

/* C = alpha * op(A) op(B) + beta * C for `batch` products (row-major; sa/sb/sc are element
 * strides between products, 0 to share one), split over the thread pool. */
void tt_sgemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                      int64_t sa, const float *B, int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc,
                      int64_t sc, int64_t batch);
/* The same in double. */
void tt_dgemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                      int64_t sa, const double *B, int64_t ldb, int64_t sb, double beta, double *C, int64_t ldc,
                      int64_t sc, int64_t batch);
/* tt_sgemm_batched on BLAS calls of a fixed height (linalg.c), so that a row of C does not
 * depend on how many rows the product has: for the kernels whose rows are a batch's rows
 * (MatMul, Gemm, FusedMatMul), which tetherd's dynamic batching relies on. */
void tt_sgemm_rows(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                   int64_t sa, const float *B, int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc, int64_t sc,
                   int64_t batch);

/* ---- half precision --------------------------------------------------------------------- */

/* Converts n elements of a float16/bfloat16/float/double buffer to float and back. */
void tt_to_f32(const void *src, tt_dtype t, float *dst, int64_t n);
void tt_from_f32(const float *src, void *dst, tt_dtype t, int64_t n);

/* ---- conversion (ops/cast.c) ------------------------------------------------------------ */

/* Converts n elements between numeric and bool dtypes (not strings), split over the thread
 * pool. Floats to integers truncate toward zero, NaN gives 0 and values past the 64-bit range
 * saturate; integers wrap to narrower types; float16/bfloat16 round to nearest even. */
void tt_cast_elems(const void *src, tt_dtype st, void *dst, tt_dtype dt, int64_t n);

/* ---- dtype dispatch --------------------------------------------------------------------- */

/* TT_CASE_xxx(X) expands X(ENUM, ctype) for each dtype of the family. */
#define TT_FOR_SINT(X) X(TETHER_DTYPE_INT8, int8_t) X(TETHER_DTYPE_INT16, int16_t) X(TETHER_DTYPE_INT32, int32_t) X(TETHER_DTYPE_INT64, int64_t)
#define TT_FOR_UINT(X) X(TETHER_DTYPE_UINT8, uint8_t) X(TETHER_DTYPE_UINT16, uint16_t) X(TETHER_DTYPE_UINT32, uint32_t) X(TETHER_DTYPE_UINT64, uint64_t)
#define TT_FOR_INT(X) TT_FOR_SINT(X) TT_FOR_UINT(X)
#define TT_FOR_REAL(X) X(TETHER_DTYPE_FLOAT, float) X(TETHER_DTYPE_DOUBLE, double)
#define TT_FOR_NATIVE(X) TT_FOR_REAL(X) TT_FOR_INT(X)   /* types C arithmetic handles directly */

#endif
