/* kernels_quant.h - kernels of the window functions (Hann, Hamming,
 * Blackman), ReverseSequence, MeanVarianceNormalization, linear
 * quantization (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear),
 * Det and MaxUnpool, all in k_quant.c.
 *
 * Same conventions as runtime/kernels.h: dense row-major tensors, backward
 * kernels accumulate (+=) into d-prefixed float gradients, argument shapes in
 * the comment above each function. Quantized tensors are uint8 or int8 (a
 * KElem); scales are float, one per tensor or one per channel of an axis.
 */
#ifndef KDC_KERNELS_QUANT_H
#define KDC_KERNELS_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/diag.h"
#include "runtime/kernels.h"

/* ------------------------------------------------------------- windows */

typedef enum KWindow { KW_HANN, KW_HAMMING, KW_BLACKMAN } KWindow;

/* Generalized cosine window of `size` points; periodic windows have period
 * size, symmetric ones size - 1. y: [size] double */
void k_window(KWindow w, bool periodic, int64_t size, double *y);

/* ----------------------------------------------------- ReverseSequence */

/* x viewed as [d0, d1, inner] with the batch on axis batch_axis (0 or 1) and
 * time on the other: the first lens[b] time steps of batch b are reversed,
 * the rest copied. Lengths must lie in [0, time] (checked by the caller).
 * x: [d0, d1, inner] of elem bytes -> y: same */
typedef struct KReverseSeq {
    int64_t d0, d1, inner;
    int batch_axis;
} KReverseSeq;

void k_reverse_sequence_forward(const KReverseSeq *rs, const int64_t *lens, size_t elem, const void *x, void *y);
/* lens, dy -> dx */
void k_reverse_sequence_backward(const KReverseSeq *rs, const int64_t *lens, const float *dy, float *dx);

/* ------------------------------------------- MeanVarianceNormalization */

/* y = (x - mean) / (sqrt(E[x^2] - mean^2) + 1e-9), moments over the axes
 * with reduced[a] set. group[i] (filled by k_mvn_groups) names the moment
 * element i belongs to. */
typedef struct KMvn {
    int64_t n, n_groups, group_size;
} KMvn;

/* dims: [rank], reduced: [rank] -> km, group: [numel] */
void k_mvn_groups(int rank, const int64_t *dims, const bool *reduced, KMvn *km, int64_t *group);
/* x: [n] -> y: [n]; mean, std: [n_groups] saved for the backward */
void k_mvn_forward(const KMvn *km, const int64_t *group, const float *x, float *y, double *mean, double *std);
/* x, dy, mean, std -> dx; ws: [2 * n_groups] doubles */
void k_mvn_backward(const KMvn *km, const int64_t *group, const float *x, const double *mean, const double *std,
                    const float *dy, float *dx, double *ws);

/* ---------------------------------------------------------- quantizing */

/* Element i's scale and zero point are entry (i / inner) % channels. */
typedef struct KQuantAxis {
    int64_t n, channels, inner;
} KQuantAxis;

/* y = saturate(round_half_even(x / scale) + zero_point); zp NULL means 0.
 * x: [n] float, scale: [channels] float, zp: [channels] of qt -> y: [n] of qt
 * (qt uint8 or int8) */
void k_quantize(const KQuantAxis *qa, const float *x, const float *scale, const void *zp, KElem qt, void *y);
/* y = (x - zero_point) * scale. x: [n] of xt (uint8, int8, int32) -> y: [n] float */
void k_dequantize(const KQuantAxis *qa, KElem xt, const void *x, const float *scale, const void *zp, float *y);
/* Scale and zero point that map [min(0, min x), max(0, max x)] onto uint8,
 * then x quantized with them. x: [n] -> y: [n] uint8, scale, zp: scalars */
void k_dynamic_quantize(int64_t n, const float *x, uint8_t *y, float *scale, uint8_t *zp);

/* ----------------------------------------------------------------- Det */

/* Determinants by LU factorization with partial pivoting, in double.
 * x: [batch, n, n] of t (a real type) -> y: [batch] of t; ws: [n * n] doubles */
void k_det(int64_t batch, int64_t n, KElem t, const void *x, void *y, double *ws);

/* ----------------------------------------------------------- MaxUnpool */

/* The indices address the unpooled tensor of dims `in` (the shape the
 * attributes give, flattened as MaxPool gives them), which sits at the
 * origin of the output of dims `out` (out[a] >= in[a]: a larger
 * output_shape pads with zeros at the end of each axis). */
typedef struct KUnpool {
    int rank;
    int64_t in[K_MAX_RANK], out[K_MAX_RANK];
    int64_t n_in, n_out;
} KUnpool;

/* y = zeros, then y at the place of idx[i] = x[i]; fails naming the first
 * index outside [0, u->n_in). x, idx: [n_x] -> y: [u->n_out] */
Status k_max_unpool_forward(const KUnpool *u, int64_t n_x, const float *x, const int64_t *idx, float *y, Diag *d);
/* idx, dy -> dx: dx[i] += dy at the place of idx[i] (indices checked by the forward) */
void k_max_unpool_backward(const KUnpool *u, int64_t n_x, const int64_t *idx, const float *dy, float *dx);

#endif
