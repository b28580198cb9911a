/* kernels_nn.h - float32 kernels of the further layer ops: N-d convolution
 * (3-D, and the im2col/col2im blocks it shares with ConvTranspose),
 * ConvTranspose, N-d pooling (max, average, Lp, global max and Lp),
 * Layer/Group/Instance normalization, LpNormalization, LRN and Resize.
 *
 * Same conventions as runtime/kernels.h: plain functions over dense
 * row-major float buffers; backward kernels ACCUMULATE (+=) into d-prefixed
 * gradient buffers, any of which may be NULL; nothing is allocated (scratch
 * comes as a workspace whose size a *_workspace_floats function reports);
 * the *_check / *_prepare helpers validate and fill the Diag.
 *
 * The N-d window kernels work on three spatial dims (depth, height, width):
 * a caller with fewer pads the front with dims of size 1 (kernel 1, stride
 * 1, dilation 1, no padding).
 */
#ifndef KDC_KERNELS_NN_H
#define KDC_KERNELS_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/diag.h"

#define KN_SPATIAL 3 /* spatial dims of the N-d window kernels */
#define KN_MAX_RANK 8

/* ------------------------------------------------- threads over units */

/* Slots a unit loop may use: at most the pool's threads and `units`, and no
 * more than ws_floats can hold at per_slot floats each plus per_extra for
 * every slot past the first (per-slot partial sums). At least 1. */
int k_units_slots(int units, size_t per_slot, size_t per_extra, size_t ws_floats);
/* Calls fn(ctx, unit, slot) for every unit in [0, units), the units cut into
 * one contiguous run per slot, the slots run on the thread pool. */
void k_units_run(int units, int slots, void (*fn)(void *ctx, int unit, int slot), void *ctx);

typedef void (*KnRangeFn)(const void *ctx, int64_t begin, int64_t end);
/* Calls fn over [0, n), in one contiguous range per thread when `work`
 * (elements touched) is large enough to pay for the threads, else inline. */
void k_nn_ranges(int64_t n, int64_t work, KnRangeFn fn, const void *ctx);

/* ------------------------------------------------ im2col / col2im, N-d */

/* An image of `channels` planes of img[0]*img[1]*img[2] values, and the
 * window positions col[0]*col[1]*col[2]: window o's tap k reads image
 * position o*stride + k*dil - pad (per spatial dim), zero outside. */
typedef struct KColGeom {
    int channels;
    int img[KN_SPATIAL], col[KN_SPATIAL];
    int k[KN_SPATIAL], stride[KN_SPATIAL], dil[KN_SPATIAL], pad[KN_SPATIAL];
} KColGeom;

/* img: [channels, img...] -> col: [channels*K, P] (K taps, P positions) */
void k_im2col_nd(const KColGeom *g, const float *img, float *col);
/* col: [channels*K, P] -> img: [channels, img...] (+=), the adjoint of im2col */
void k_col2im_nd_add(const KColGeom *g, const float *col, float *img);

/* ------------------------------------------------------- Conv, 3-D */

/* Convolution over three spatial dims, NC(D,H,W). Weight [M, C/groups, k...].
 * The caller fills everything but out, which k_conv3d_prepare computes. */
typedef struct ConvNdDims {
    int N, C, M, groups;
    int in[KN_SPATIAL], k[KN_SPATIAL], stride[KN_SPATIAL], dil[KN_SPATIAL];
    int pad_begin[KN_SPATIAL], pad_end[KN_SPATIAL];
    int out[KN_SPATIAL];
} ConvNdDims;

Status k_conv3d_prepare(ConvNdDims *cd, Diag *d);
size_t k_conv3d_workspace_floats(const ConvNdDims *cd, int nthreads);
/* x: [N,C,in...], w: [M,C/g,k...], bias: [M] or NULL -> y: [N,M,out...] */
void k_conv3d_forward(const ConvNdDims *cd, const float *x, const float *w, const float *bias, float *y, float *ws,
                      size_t ws_floats);
/* dy: [N,M,out...] -> dx: [N,C,in...], dw: [M,C/g,k...], dbias: [M] */
void k_conv3d_backward(const ConvNdDims *cd, const float *x, const float *w, const float *dy, float *dx, float *dw,
                       float *dbias, float *ws, size_t ws_floats);

/* ------------------------------------------------------ ConvTranspose */

/* Transposed convolution, NC(D,H,W): the data-gradient of a convolution
 * whose input is y and output is x. Weight [C, M/groups, k...]. Output
 * position of input i's tap k: i*stride + k*dil - pad_begin; taps landing
 * outside [0, out) are dropped (pad_begin may be negative when an explicit
 * output_shape asks for more than the taps cover: those outputs are bias). */
typedef struct ConvTDims {
    int N, C, M, groups;
    int in[KN_SPATIAL], out[KN_SPATIAL], k[KN_SPATIAL], stride[KN_SPATIAL], dil[KN_SPATIAL];
    int pad_begin[KN_SPATIAL];
} ConvTDims;

Status k_convtranspose_check(const ConvTDims *ct, Diag *d);
size_t k_convtranspose_workspace_floats(const ConvTDims *ct, int nthreads);
/* x: [N,C,in...], w: [C,M/g,k...], bias: [M] or NULL -> y: [N,M,out...] */
void k_convtranspose_forward(const ConvTDims *ct, const float *x, const float *w, const float *bias, float *y,
                             float *ws, size_t ws_floats);
/* dy: [N,M,out...] -> dx: [N,C,in...], dw: [C,M/g,k...], dbias: [M] */
void k_convtranspose_backward(const ConvTDims *ct, const float *x, const float *w, const float *dy, float *dx,
                              float *dw, float *dbias, float *ws, size_t ws_floats);

/* ------------------------------------------------------- Pool, 3-D */

/* Pooling of `planes` (N*C) independent planes over three spatial dims. The
 * caller computes out (ceil_mode is its business); windows are clipped to
 * the input, and for the count_include_pad divisor to input+pads. */
typedef struct PoolNdDims {
    int64_t planes;
    int in[KN_SPATIAL], out[KN_SPATIAL], k[KN_SPATIAL], stride[KN_SPATIAL], dil[KN_SPATIAL];
    int pad_begin[KN_SPATIAL], pad_end[KN_SPATIAL];
    bool count_include_pad; /* AveragePool */
    float p;                /* LpPool: the norm's order, > 0 */
} PoolNdDims;

/* Fails when a window lies entirely in the padding or a plane is too large. */
Status k_pool3d_check(const PoolNdDims *pd, Diag *d);
/* x: [planes,in...] -> y: [planes,out...], argmax: index within the plane
 * (row-major) or NULL when no backward follows. NaN wins, as in the reference. */
void k_maxpool3d_forward(const PoolNdDims *pd, const float *x, float *y, int32_t *argmax);
/* argmax, dy: [planes,out...] -> dx: [planes,in...] */
void k_maxpool3d_backward(const PoolNdDims *pd, const int32_t *argmax, const float *dy, float *dx);
void k_avgpool3d_forward(const PoolNdDims *pd, const float *x, float *y);
void k_avgpool3d_backward(const PoolNdDims *pd, const float *dy, float *dx);
/* y = (sum over the window's taps inside the input of |x|^p)^(1/p) */
void k_lppool3d_forward(const PoolNdDims *pd, const float *x, float *y);
/* x, y (forward output), dy -> dx; zero where y is 0 */
void k_lppool3d_backward(const PoolNdDims *pd, const float *x, const float *y, const float *dy, float *dx);

/* x: [NC,S] -> y: [NC], argmax: [NC] (index within S) or NULL */
void k_global_maxpool_forward(int64_t NC, int64_t S, const float *x, float *y, int32_t *argmax);
/* argmax, dy: [NC] -> dx: [NC,S] */
void k_global_maxpool_backward(int64_t NC, int64_t S, const int32_t *argmax, const float *dy, float *dx);
/* x: [NC,S] -> y: [NC] = (sum |x|^p)^(1/p) */
void k_global_lppool_forward(int64_t NC, int64_t S, float p, const float *x, float *y);
void k_global_lppool_backward(int64_t NC, int64_t S, float p, const float *x, const float *y, const float *dy,
                              float *dx);

/* ------------------------------------------------------ Normalizations */

/* LayerNormalization over the last D values of each of `rows` rows.
 * scale/bias are indexed through affine_idx[d] (for a Scale that
 * broadcasts into the normalized dims), or directly by d when it is NULL.
 * x: [rows,D], scale: [>=1], bias: same or NULL
 * -> y: [rows,D], mean, invstd: [rows] (saved for backward) */
void k_layernorm_forward(int64_t rows, int64_t D, const float *x, const float *scale, const float *bias,
                         const int32_t *affine_idx, float eps, float *y, float *mean, float *invstd);
/* x, dy: [rows,D], mean, invstd: [rows] -> dx: [rows,D], dscale, dbias: like scale */
void k_layernorm_backward(int64_t rows, int64_t D, const float *x, const float *scale, const int32_t *affine_idx,
                          const float *mean, const float *invstd, const float *dy, float *dx, float *dscale,
                          float *dbias);

/* Group normalization of [N, G*Cg, S]: statistics over each (n, group),
 * affine per channel (scale/bias [G*Cg]) or per group ([G], ONNX
 * GroupNormalization before opset 21). InstanceNormalization is G = C,
 * Cg = 1. */
typedef struct GroupNormDims {
    int N, G, Cg;
    int64_t S;
    bool affine_per_group;
} GroupNormDims;

/* x: [N,G*Cg,S] -> y: same, mean, invstd: [N*G] */
void k_groupnorm_forward(const GroupNormDims *gd, const float *x, const float *scale, const float *bias, float eps,
                         float *y, float *mean, float *invstd);
/* x, dy: [N,G*Cg,S], mean, invstd: [N*G] -> dx, dscale, dbias */
void k_groupnorm_backward(const GroupNormDims *gd, const float *x, const float *scale, const float *mean,
                          const float *invstd, const float *dy, float *dx, float *dscale, float *dbias);

/* LpNormalization along the middle axis of [outer, n, inner], p 1 or 2. A
 * vector of zeros gives zeros (its norm is 0). */
void k_lpnorm_forward(int64_t outer, int64_t n, int64_t inner, int p, const float *x, float *y);
void k_lpnorm_backward(int64_t outer, int64_t n, int64_t inner, int p, const float *x, const float *dy, float *dx);

/* LRN across channels of [N, C, S]. */
typedef struct LrnParams {
    int size;
    float alpha, beta, bias;
} LrnParams;

void k_lrn_forward(int64_t N, int64_t C, int64_t S, const LrnParams *lp, const float *x, float *y);
void k_lrn_backward(int64_t N, int64_t C, int64_t S, const LrnParams *lp, const float *x, const float *dy, float *dx);

/* --------------------------------------------------------------- Resize */

typedef enum KResizeMode { KR_NEAREST, KR_LINEAR, KR_CUBIC } KResizeMode;

/* How output coordinate x maps to input coordinate x_original (ONNX
 * coordinate_transformation_mode; tf_half_pixel_for_nn is opset 11's). */
typedef enum KResizeCoord {
    KC_HALF_PIXEL,
    KC_HALF_PIXEL_SYMMETRIC,
    KC_PYTORCH_HALF_PIXEL,
    KC_ALIGN_CORNERS,
    KC_ASYMMETRIC,
    KC_TF_CROP_AND_RESIZE,
    KC_TF_HALF_PIXEL_FOR_NN,
} KResizeCoord;

/* Nearest rounding. KN_SIMPLE is Upsample's and opset-10 Resize's: floor
 * when upsampling, ceil when downsampling, as onnxruntime does. */
typedef enum KResizeNearest {
    KN_ROUND_PREFER_FLOOR,
    KN_ROUND_PREFER_CEIL,
    KN_FLOOR,
    KN_CEIL,
    KN_SIMPLE
} KResizeNearest;

typedef struct KResizeParams {
    KResizeMode mode;
    KResizeCoord coord;
    KResizeNearest nearest;
    float cubic_a;
    bool exclude_outside, antialias;
} KResizeParams;

/* One axis: out[j] = sum over t of w[j*taps+t] * in[idx[j*taps+t]], or
 * the extrapolation value where outside[j] (tf_crop_and_resize). */
typedef struct KResizeAxis {
    int64_t in, out;
    double scale;              /* length_resized / length_original */
    double roi_start, roi_end; /* tf_crop_and_resize, normalized */
    int taps;
    int32_t *idx;     /* [out*taps], caller-allocated */
    float *w;         /* [out*taps] */
    uint8_t *outside; /* [out] */
    bool identity;    /* set by k_resize_axis_build: the axis maps each value to itself */
    bool any_outside;
} KResizeAxis;

/* Taps per output position for an axis of this scale. */
int k_resize_axis_taps(const KResizeParams *rp, double scale);
/* Fills ax->idx, w, outside, identity, any_outside from in, out, scale, roi
 * and taps (= k_resize_axis_taps). */
void k_resize_axis_build(const KResizeParams *rp, KResizeAxis *ax);

typedef struct KResizeDims {
    int rank;
    KResizeAxis *axes; /* [rank] */
    float extrapolation;
} KResizeDims;

size_t k_resize_workspace_floats(const KResizeDims *rd);
/* x: [in dims] -> y: [out dims]; separable, one pass per non-identity axis */
void k_resize_forward(const KResizeDims *rd, const float *x, float *y, float *ws);
/* dy: [out dims] -> dx: [in dims] (+=); extrapolated outputs pass nothing */
void k_resize_backward(const KResizeDims *rd, const float *dy, float *dx, float *ws);

#endif
