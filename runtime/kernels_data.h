/* kernels_data.h - kernels of the data-movement and reduction ops: strided
 * copies (Transpose, Slice, Split, Expand, Tile, DepthToSpace,
 * SpaceToDepth), Pad, Trilu, CumSum, the indexed ops (GatherElements,
 * ScatterElements, ScatterND, OneHot, Gather's backward), the Reduce family,
 * ArgMax/ArgMin and TopK.
 *
 * Same conventions as runtime/kernels.h: dense row-major tensors, backward
 * kernels accumulate (+=) into d-prefixed float gradients, argument shapes in
 * the comment above each function, scratch from the caller (the matching
 * *_workspace_floats). Data movement is dtype-agnostic (elem = element size
 * in bytes); kernels that compute take a KElem and work in double (reals)
 * or int64 (integers and bool), with a float fast path. Kernels that read
 * indices return a Status and fill the Diag on an index out of range.
 */
#ifndef KDC_KERNELS_DATA_H
#define KDC_KERNELS_DATA_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ir/diag.h"
#include "runtime/kernels.h"

/* Tile doubles the axes of its input (repeat, then dim). */
#define KD_MAX_RANK 16

/* ---------------------------------------------------------- typed access */

/* Bytes per element of t. */
static inline size_t kd_elem_size(KElem t)
{
    switch (t) {
    case KE_DOUBLE:
    case KE_INT64:
    case KE_UINT64: return 8;
    case KE_FLOAT:
    case KE_INT32:
    case KE_UINT32: return 4;
    case KE_FLOAT16:
    case KE_BFLOAT16:
    case KE_INT16:
    case KE_UINT16: return 2;
    default: return 1;
    }
}

static inline bool kd_is_int(KElem t)
{
    return t != KE_FLOAT && t != KE_DOUBLE && t != KE_FLOAT16 && t != KE_BFLOAT16;
}

/* Element i of x as int64 (integers and bool) or double (any type but the
 * 16-bit floats, which the typed kernels do not compute). */
static inline int64_t kd_load_i64(KElem t, const void *x, int64_t i)
{
    switch (t) {
    case KE_INT64: return ((const int64_t *)x)[i];
    case KE_UINT64: return (int64_t)((const uint64_t *)x)[i];
    case KE_INT32: return ((const int32_t *)x)[i];
    case KE_UINT32: return ((const uint32_t *)x)[i];
    case KE_INT16: return ((const int16_t *)x)[i];
    case KE_UINT16: return ((const uint16_t *)x)[i];
    case KE_INT8: return ((const int8_t *)x)[i];
    case KE_UINT8:
    case KE_BOOL: return ((const uint8_t *)x)[i];
    case KE_FLOAT: return (int64_t)((const float *)x)[i];
    case KE_DOUBLE: return (int64_t)((const double *)x)[i];
    default: return 0;
    }
}

static inline double kd_load_f64(KElem t, const void *x, int64_t i)
{
    if (t == KE_FLOAT)
        return ((const float *)x)[i];
    if (t == KE_DOUBLE)
        return ((const double *)x)[i];
    return (double)kd_load_i64(t, x, i);
}

static inline void kd_store_i64(KElem t, void *y, int64_t i, int64_t v)
{
    switch (t) {
    case KE_INT64:
    case KE_UINT64: ((int64_t *)y)[i] = v; break;
    case KE_INT32:
    case KE_UINT32: ((int32_t *)y)[i] = (int32_t)v; break;
    case KE_INT16:
    case KE_UINT16: ((int16_t *)y)[i] = (int16_t)v; break;
    case KE_BOOL: ((uint8_t *)y)[i] = v != 0; break;
    case KE_FLOAT: ((float *)y)[i] = (float)v; break;
    case KE_DOUBLE: ((double *)y)[i] = (double)v; break;
    default: ((uint8_t *)y)[i] = (uint8_t)v; break;
    }
}

/* Integers truncate toward zero; NaN stores 0. */
static inline void kd_store_f64(KElem t, void *y, int64_t i, double v)
{
    if (t == KE_FLOAT)
        ((float *)y)[i] = (float)v;
    else if (t == KE_DOUBLE)
        ((double *)y)[i] = v;
    else
        kd_store_i64(t, y, i, isnan(v) ? 0 : v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v);
}

/* Index i of an int32 (idx64 false) or int64 index tensor. */
static inline int64_t kd_index(const void *idx, bool idx64, int64_t i)
{
    return idx64 ? ((const int64_t *)idx)[i] : ((const int32_t *)idx)[i];
}

/* ------------------------------------------------------ strided copies */

/* Output element o (row-major over dims) reads source element
 * offset + sum_i coord_i(o) * strides[i]. Strides may be 0 (broadcast,
 * repeat) or negative (reversed slices). Axes are merged where they can be. */
typedef struct KStrided {
    int rank; /* >= 1 */
    int64_t dims[KD_MAX_RANK];
    int64_t strides[KD_MAX_RANK];
    int64_t offset, n;
} KStrided;

/* Row-major element strides of dims. */
void k_contiguous_strides(int rank, const int64_t *dims, int64_t *strides);
void k_strided_init(KStrided *sc, int rank, const int64_t *dims, const int64_t *strides, int64_t offset);
/* x: source of elem bytes per element -> y: [sc->n]; split over threads when large */
void k_strided_copy(const KStrided *sc, size_t elem, const void *x, void *y);
/* dy: [sc->n] -> dx: source layout, += dy at each element's source (sums
 * over broadcast and repeated reads) */
void k_strided_backward(const KStrided *sc, const float *dy, float *dx);

/* ----------------------------------------------------------------- Pad */

typedef enum { KPAD_CONSTANT, KPAD_REFLECT, KPAD_EDGE, KPAD_WRAP } KPadMode;

/* Output coordinate o of an axis reads input coordinate o - begin, mapped
 * back into [0, in) by the mode (constant: -1, the pad value). */
typedef struct KPadDims {
    int rank; /* >= 1 */
    KPadMode mode;
    int64_t in[K_MAX_RANK], out[K_MAX_RANK], begin[K_MAX_RANK];
} KPadDims;

/* x: [in...] -> y: [out...]; value: one element of elem bytes (constant mode) */
void k_pad_forward(const KPadDims *pd, size_t elem, const void *value, const void *x, void *y);
/* dy: [out...] -> dx: [in...] */
void k_pad_backward(const KPadDims *pd, const float *dy, float *dx);

/* --------------------------------------------------------------- Trilu */

/* Keeps element (i, j) of each [rows, cols] matrix where j - i >= k (upper)
 * or j - i <= k (lower), zeroes the rest. x: [batch, rows, cols] -> y: same */
void k_trilu_forward(int64_t batch, int64_t rows, int64_t cols, int64_t k, bool upper, size_t elem, const void *x,
                     void *y);
/* dy -> dx: += dy where kept */
void k_trilu_backward(int64_t batch, int64_t rows, int64_t cols, int64_t k, bool upper, const float *dy, float *dx);

/* -------------------------------------------------------------- CumSum */

/* Running sums along the middle axis; exclusive leaves out the element
 * itself, reverse runs from the end. x: [outer, n, inner] of t -> y: same */
void k_cumsum_forward(int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse, KElem t, const void *x,
                      void *y);
/* dy -> dx: the cumulative sum in the opposite direction */
void k_cumsum_backward(int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse, const float *dy,
                       float *dx);

/* ------------------------------------------------------- indexed access */

/* GatherElements / ScatterElements: data and indices of one rank; the
 * index tensor addresses the axis, its other coordinates are its own. */
typedef struct KElementsDims {
    int rank, axis;
    int64_t data[K_MAX_RANK], idx[K_MAX_RANK];
} KElementsDims;

/* x: [data...], idx: [idx...] int32/int64 -> y: [idx...] */
Status k_gather_elements_forward(const KElementsDims *ed, size_t elem, const void *x, const void *idx, bool idx64,
                                 void *y, Diag *d);
/* idx, dy: [idx...] -> dx: [data...] (indices checked by the forward) */
void k_gather_elements_backward(const KElementsDims *ed, const void *idx, bool idx64, const float *dy, float *dx);

typedef enum { KSC_NONE, KSC_ADD, KSC_MUL, KSC_MAX, KSC_MIN } KScatterReduce;

/* y holds a copy of data: y[.., idx, ..] = reduce(y[...], updates[...]) in
 * index order. idx, updates: [idx...]; y: [data...] of t */
Status k_scatter_elements(const KElementsDims *ed, KScatterReduce r, KElem t, const void *idx, bool idx64,
                          const void *updates, void *y, Diag *d);

/* ScatterND: y (a copy of data, [data...]) receives n_updates slices of
 * `slice` elements; index tuple u (q values) addresses the first q axes.
 * idx: [n_updates, q], updates: [n_updates, slice] */
Status k_scatter_nd(int data_rank, const int64_t *data_dims, int64_t n_updates, int q, int64_t slice, KScatterReduce r,
                    KElem t, const void *idx, bool idx64, const void *updates, void *y, Diag *d);

/* Gather's data gradient (embeddings): dy: [outer, n_idx, inner] ->
 * dx: [outer, axis_len, inner], += at each (normalized) index */
void k_gather_backward(int64_t outer, int64_t axis_len, int64_t inner, const void *idx, bool idx64, int64_t n_idx,
                       const float *dy, float *dx);

/* OneHot: y [outer, depth, inner] is `off` except y[o, idx, i] = `on` for
 * idx in [-depth, depth) (negative counts from the end).
 * idx: [outer * inner] int64, off/on: one element of elem bytes */
void k_onehot(int64_t outer, int64_t depth, int64_t inner, const int64_t *idx, size_t elem, const void *off,
              const void *on, void *y);

/* ----------------------------------------------------------- reductions */

typedef enum KReduceOp {
    KR_SUM,
    KR_MEAN,
    KR_MAX,
    KR_MIN,
    KR_PROD,
    KR_L1,
    KR_L2,
    KR_LOG_SUM,
    KR_LOG_SUM_EXP,
    KR_SUM_SQUARE
} KReduceOp;

/* Input dims with size-1 axes dropped and neighbours of one kind merged. */
typedef struct KReduceDims {
    int rank; /* >= 1 */
    int64_t dims[K_MAX_RANK];
    bool reduced[K_MAX_RANK];
    int64_t n_in, n_out, count; /* count: inputs per output */
} KReduceDims;

void k_reduce_init(KReduceDims *rd, int rank, const int64_t *dims, const bool *reduce);
size_t k_reduce_workspace_floats(const KReduceDims *rd);
/* x: [n_in] -> y: [n_out]; accumulates in double. Empty reductions give the
 * identity (0, 1, -inf for Max and LogSumExp, +inf for Min, NaN for Mean). */
void k_reduce_forward(KReduceOp op, const KReduceDims *rd, const float *x, float *y, float *ws);
/* x, y (forward output), dy: [n_out] -> dx: [n_in]. Max/Min send dy to the
 * first element equal to the result; Prod handles zeros exactly. */
void k_reduce_backward(KReduceOp op, const KReduceDims *rd, const float *x, const float *y, const float *dy, float *dx,
                       float *ws);
/* Any type but the 16-bit floats: integers in int64 (Mean, L2 and the logs
 * through double, truncated), double in double. x: [n_in] -> y: [n_out] */
void k_reduce_typed(KReduceOp op, const KReduceDims *rd, KElem t, const void *x, void *y, float *ws);

/* ArgMax / ArgMin along the middle axis: the first extreme, or the last one
 * with select_last. x: [outer, n, inner] of t -> y: [outer, inner] */
void k_arg_reduce(bool is_max, bool select_last, int64_t outer, int64_t n, int64_t inner, KElem t, const void *x,
                  int64_t *y);

/* TopK along the middle axis: the k largest (or smallest) in order, ties
 * broken by the lower index. x: [outer, n, inner] of t -> values: [outer, k,
 * inner] of t, indices: [outer, k, inner] (may be NULL) */
size_t k_topk_workspace_floats(int64_t n);
void k_topk_forward(int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest, KElem t, const void *x,
                    void *values, int64_t *indices, float *ws);
/* indices, dy: [outer, k, inner] -> dx: [outer, n, inner] */
void k_topk_backward(int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t *indices, const float *dy,
                     float *dx);

#endif
