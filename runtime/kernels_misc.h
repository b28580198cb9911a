/* kernels_misc.h - kernels of the smaller ops: Einsum (k_einsum.c), and
 * GatherND, Hardmax, EyeLike, Shrink, IsInf/IsNaN, BitShift, NonZero,
 * Compress and element conversion for CastLike (k_misc.c).
 *
 * Same conventions as runtime/kernels.h: dense row-major tensors, backward
 * kernels accumulate (+=) into d-prefixed float gradients, argument shapes in
 * the comment above each function, scratch from the caller. Typed kernels
 * take a KElem; kernels that read indices return a Status and fill the Diag
 * on an index out of range.
 */
#ifndef KDC_KERNELS_MISC_H
#define KDC_KERNELS_MISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/diag.h"
#include "ir/einsum_geom.h"
#include "runtime/kernels.h"
#include "runtime/kernels_data.h"

/* -------------------------------------------------------------- Einsum */

/* Einsum runs as: per operand, a diagonal-and-sum that keeps the labels
 * something later needs (KEinsumSum); then operands folded in left to right,
 * each fold two strided copies into [batch, M, K] and [batch, K, N] and a
 * batched GEMM (KEinsumPair); then a strided copy into the output's order.
 * Every intermediate lives in one workspace at the offsets below. */
typedef struct KEinsumSum {
    int n_keep, n_sum;
    int64_t keep_dims[EINSUM_MAX_RANK], keep_strides[EINSUM_MAX_RANK];
    int64_t sum_dims[EINSUM_MAX_RANK], sum_strides[EINSUM_MAX_RANK];
    int64_t n_out;
} KEinsumSum;

typedef struct KEinsumPair {
    KStrided r_copy, t_copy; /* running result -> [batch, M, K]; operand -> [batch, K, N] */
    int64_t batch;
    int M, N, K;
    int64_t rp_off, tp_off, res_off; /* workspace offsets, in elements */
} KEinsumPair;

typedef struct KEinsum {
    int n_in;
    KEinsumSum sum[EINSUM_MAX_OPERANDS];
    int64_t term_off[EINSUM_MAX_OPERANDS];
    KEinsumPair pair[EINSUM_MAX_OPERANDS]; /* pair[i] folds in operand i >= 1 */
    KStrided out_copy;
    int64_t total; /* workspace elements of the forward */
} KEinsum;

/* Plans eq over the operands' dims (dims[i] has eq->rank[i] entries) and
 * writes the output dims (eq->out_rank of them). Fails when a label's sizes
 * disagree (other than 1 broadcasting) or a product is too large. */
Status k_einsum_init(KEinsum *ke, const EinsumEq *eq, const int64_t *const *dims, int64_t *y_dims, Diag *d);
/* x[i]: operand i, y: output, ws: [ke->total], all float (dbl false) or
 * double (dbl true) */
void k_einsum_forward(const KEinsum *ke, bool dbl, const void *const *x, void *y, void *ws);
/* x[i], dy -> dx[i] (NULL: not needed); ws: [2 * ke->total] floats */
void k_einsum_backward(const KEinsum *ke, const float *const *x, const float *dy, float *const *dx, float *ws);

/* ------------------------------------------------------------ GatherND */

/* data: [batch, dims[0..q), slice], indices: [batch, n, q] -> y: [batch, n, slice] */
typedef struct KGatherND {
    int64_t batch, n, slice;
    int q;
    int64_t dims[EINSUM_MAX_RANK];
} KGatherND;

/* Indices may be negative (count from the end); out of range fails. */
Status k_gather_nd_forward(const KGatherND *gd, size_t elem, const void *x, const int64_t *idx, void *y, Diag *d);
/* idx, dy -> dx (indices checked by the forward) */
void k_gather_nd_backward(const KGatherND *gd, const int64_t *idx, const float *dy, float *dx);

/* ----------------------------------------------------- Hardmax, EyeLike */

/* 1 (the `one` element of elem bytes) at the first maximum along the middle
 * axis, 0 elsewhere. x: [outer, n, inner] of t -> y: same, elem bytes each */
void k_hardmax(int64_t outer, int64_t n, int64_t inner, KElem t, const void *x, size_t elem, const void *one, void *y);
/* y: [rows, cols] zeros with `one` at (i, i + k) */
void k_eyelike(int64_t rows, int64_t cols, int64_t k, size_t elem, const void *one, void *y);

/* -------------------------------------------------------------- Shrink */

/* y = x < -lambd ? x + bias : x > lambd ? x - bias : 0. x: [n] -> y: [n] */
void k_shrink_forward(float lambd, float bias, const float *x, float *y, int64_t n);
/* x, dy -> dx: += dy where |x| > lambd */
void k_shrink_backward(float lambd, const float *x, const float *dy, float *dx, int64_t n);
/* The same on any numeric type, computed in double, stored as t (integers
 * truncate toward zero). x: [n] of t -> y: [n] of t */
void k_shrink_typed(float lambd, float bias, KElem t, const void *x, void *y, int64_t n);

/* ------------------------------------------------------- IsInf, IsNaN */

/* x: [n] of t -> y: [n] bool */
void k_isinf(KElem t, bool positive, bool negative, const void *x, uint8_t *y, int64_t n);
void k_isnan(KElem t, const void *x, uint8_t *y, int64_t n);

/* ------------------------------------------------------------ BitShift */

/* y = left ? a << b : a >> b on unsigned t; shifts of the type's width or
 * more give 0. a: [bd->a_n], b: [bd->b_n] -> y: [bd->n] */
void k_bitshift(const BroadcastDims *bd, bool left, KElem t, const void *a, const void *b, void *y);

/* ---------------------------------------------------- NonZero, Compress */

/* Elements of x that are not zero. x: [n] of t */
int64_t k_count_nonzero(KElem t, const void *x, int64_t n);
/* Coordinates of the non-zero elements, in row-major order.
 * x: [dims...] of t -> y: [rank, nnz] */
void k_nonzero(int rank, const int64_t *dims, KElem t, const void *x, int64_t nnz, int64_t *y);

/* Keeps the slices i < m along the middle axis where cond[i] is true.
 * x: [outer, n, inner], cond: [m <= n] -> y: [outer, count(cond), inner] */
void k_compress_forward(int64_t outer, int64_t n, int64_t inner, const uint8_t *cond, int64_t m, size_t elem,
                        const void *x, void *y);
/* cond, dy -> dx: += dy at the kept slices */
void k_compress_backward(int64_t outer, int64_t n, int64_t inner, const uint8_t *cond, int64_t m, const float *dy,
                         float *dx);

/* ---------------------------------------------------------- conversion */

/* x: [n] of from -> y: [n] of to, as Cast converts: integers exactly
 * between integer types (narrower keeps the low bits), reals truncated
 * toward zero into integers, float16/bfloat16 rounded to nearest even. */
void k_convert(KElem from, const void *x, KElem to, void *y, int64_t n);

#endif
