/* kernels.h - float32 compute kernels of the interpreter, forward and backward.
 *
 * Kernels are plain functions over float buffers and the dimension structs
 * below; they know nothing of the IR. Conventions shared by every kernel:
 *   - tensors are dense row-major (NCHW for images);
 *   - backward kernels ACCUMULATE (+=) into gradient buffers named with a d
 *     prefix, and any gradient pointer may be NULL meaning "not needed";
 *   - the one-line comment above each function gives argument shapes;
 *   - nothing is allocated: kernels that need scratch take a workspace whose
 *     size the matching *_workspace_floats function reports;
 *   - user-facing validation (shapes, attribute values) happens in the
 *     *_init / *_prepare / *_check helpers, which return a Status and fill
 *     the Diag; the compute kernels assume validated dims.
 * Kernels parallelize with runtime/threads.h where the work is large enough;
 * results do not depend on timing, only (for reductions) on thread count.
 */
#ifndef KDC_KERNELS_H
#define KDC_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/diag.h"

#define K_MAX_RANK 8        /* elementwise broadcasting */
#define K_MATMUL_MAX_RANK 6 /* MatMul operands, batch dims included */

/* ---------------------------------------------------------------- GEMM */

/* ONNX Gemm: Y[M,N] = alpha * op(A) * op(B) + beta * C. op(A) is A [M,K], or
 * A^T for A [K,M] with trans_a; op(B) is B [K,N], or B^T for B [N,K]. C is
 * [c_rows, c_cols] with c_rows in {1,M}, c_cols in {1,N}, broadcast to
 * [M,N]; c_rows = c_cols = 0 when C is absent. */
typedef struct GemmDims {
    int M, N, K;
    bool trans_a, trans_b;
    float alpha, beta;
    int c_rows, c_cols;
} GemmDims;

/* Sets gd->c_rows/c_cols from C's ONNX shape ([], [1], [N], [1,N], [M,1],
 * [M,N]); c_rank < 0 means C is absent. M and N must already be set. */
Status k_gemm_set_c_shape(GemmDims *gd, int c_rank, const int64_t *c_dims, Diag *d);

/* A: [M,K] or [K,M], B: [K,N] or [N,K], C: [c_rows,c_cols] or NULL -> Y: [M,N] */
void k_gemm_forward(const GemmDims *gd, const float *A, const float *B, const float *C,
                    float *Y);
/* dY: [M,N] -> dA: shape of A, dB: shape of B, dC: [c_rows,c_cols] */
void k_gemm_backward(const GemmDims *gd, const float *A, const float *B, const float *dY,
                     float *dA, float *dB, float *dC);

/* blas_sgemm split over the thread pool by output rows (or columns when M is
 * small); for large products called outside any parallel loop. Arguments as
 * in blas.h. */
void k_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
             int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* -------------------------------------------------------------- MatMul */

/* numpy matmul of A [...,M,K] and B [...,K,N] with broadcast batch dims.
 * Both ranks must be in [2, K_MATMUL_MAX_RANK]: the caller turns a 1-D
 * operand into a matrix first (A [K] -> [1,K], B [K] -> [K,1]) and drops the
 * added dim from Y's shape, as numpy does. Batch offsets count matrices:
 * a_batch_strides[i] is 0 on an axis A broadcasts along. */
typedef struct MatMulDims {
    int M, K, N;
    int batch_rank; /* output batch dims, after dropping size-1 axes */
    int64_t batch[K_MATMUL_MAX_RANK - 2];
    int64_t a_batch_strides[K_MATMUL_MAX_RANK - 2];
    int64_t b_batch_strides[K_MATMUL_MAX_RANK - 2];
    int64_t n_batch, a_n_batch, b_n_batch; /* matrices in Y, A, B */
} MatMulDims;

/* Fills md from the operand shapes; y_dims (may be NULL) receives Y's shape,
 * of rank max(a_rank, b_rank). Fails on K mismatch or unbroadcastable batch. */
Status k_matmul_init(MatMulDims *md, const int64_t *a_dims, int a_rank, const int64_t *b_dims,
                     int b_rank, int64_t *y_dims, Diag *d);
/* A: [a_n_batch,M,K], B: [b_n_batch,K,N] -> Y: [n_batch,M,N] */
void k_matmul_forward(const MatMulDims *md, const float *A, const float *B, float *Y);
/* dY: [n_batch,M,N] -> dA, dB summed over the batch axes they broadcast along */
void k_matmul_backward(const MatMulDims *md, const float *A, const float *B, const float *dY,
                       float *dA, float *dB);

/* --------------------------------------------------------- elementwise */

typedef enum KBinaryOp { K_ADD, K_SUB, K_MUL, K_DIV } KBinaryOp;

/* Output dims and per-input element strides (0 on broadcast axes), after
 * dropping size-1 axes and merging axes that walk both inputs alike. */
typedef struct BroadcastDims {
    int rank; /* >= 1 */
    int64_t dims[K_MAX_RANK];
    int64_t a_strides[K_MAX_RANK], b_strides[K_MAX_RANK];
    int64_t n, a_n, b_n; /* elements in Y, A, B */
} BroadcastDims;

/* numpy multidirectional broadcasting of A and B (ranks 0..K_MAX_RANK);
 * y_dims (may be NULL) receives the output shape, of rank max(a_rank,b_rank). */
Status k_broadcast_init(BroadcastDims *bd, const int64_t *a_dims, int a_rank,
                        const int64_t *b_dims, int b_rank, int64_t *y_dims, Diag *d);
/* a: [a_n], b: [b_n] -> y: [n] */
void k_binary_forward(KBinaryOp op, const BroadcastDims *bd, const float *a, const float *b,
                      float *y);
/* dy: [n] -> da: [a_n], db: [b_n]. Add/Sub read neither a nor b (may be NULL);
 * Mul and Div read both. */
void k_binary_backward(KBinaryOp op, const BroadcastDims *bd, const float *a, const float *b,
                       const float *dy, float *da, float *db);

/* Unary activations. Every backward reads the forward OUTPUT y (not x), so
 * the caller keeps y and may drop x; y may alias x in the forward. */
/* x: [n] -> y: [n] */
void k_relu_forward(const float *x, float *y, int64_t n);
/* y, dy: [n] -> dx: [n] */
void k_relu_backward(const float *y, const float *dy, float *dx, int64_t n);
/* x: [n] -> y: [n] */
void k_sigmoid_forward(const float *x, float *y, int64_t n);
/* y, dy: [n] -> dx: [n] */
void k_sigmoid_backward(const float *y, const float *dy, float *dx, int64_t n);
/* x: [n] -> y: [n] */
void k_tanh_forward(const float *x, float *y, int64_t n);
/* y, dy: [n] -> dx: [n] */
void k_tanh_backward(const float *y, const float *dy, float *dx, int64_t n);

/* ---------------------------------------------------------------- Conv */

/* 2-D convolution, NCHW. Weight is [M, C/groups, KH, KW]. The caller fills
 * everything but OH/OW, which k_conv2d_prepare computes. */
typedef struct ConvDims {
    int N, C, H, W;
    int M;
    int KH, KW;
    int stride_h, stride_w;
    int dil_h, dil_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    int groups;
    int OH, OW;
} ConvDims;

/* Validates cd and sets OH, OW. */
Status k_conv2d_prepare(ConvDims *cd, Diag *d);
/* Scratch floats forward and backward need to run on up to nthreads threads
 * (both use the same layout, so one workspace serves both). */
size_t k_conv2d_workspace_floats(const ConvDims *cd, int nthreads);
/* x: [N,C,H,W], w: [M,C/g,KH,KW], bias: [M] or NULL -> y: [N,M,OH,OW];
 * ws: ws_floats scratch (at least the 1-thread size; more allows threads) */
void k_conv2d_forward(const ConvDims *cd, const float *x, const float *w, const float *bias,
                      float *y, float *ws, size_t ws_floats);
/* dy: [N,M,OH,OW] -> dx: [N,C,H,W], dw: [M,C/g,KH,KW], dbias: [M] */
void k_conv2d_backward(const ConvDims *cd, const float *x, const float *w, const float *dy,
                       float *dx, float *dw, float *dbias, float *ws, size_t ws_floats);

/* ----------------------------------------------------------- BatchNorm */

/* BatchNormalization over [N, C, S...]: S is the product of the dims after
 * C (1 for [N,C]). Element (n,c,s) lives at (n*C + c)*S + s. */
typedef struct NormDims {
    int N, C;
    int64_t S;
} NormDims;

/* x: [N,C,S], scale, bias, mean, var: [C] -> y: [N,C,S] */
void k_batchnorm_infer_forward(const NormDims *nd, const float *x, const float *scale,
                               const float *bias, const float *mean, const float *var,
                               float eps, float *y);
/* Backward of the inference form (frozen statistics).
 * x, dy: [N,C,S], scale, mean, var: [C] -> dx: [N,C,S], dscale, dbias: [C] */
void k_batchnorm_infer_backward(const NormDims *nd, const float *x, const float *scale,
                                const float *mean, const float *var, float eps,
                                const float *dy, float *dx, float *dscale, float *dbias);
/* Training form: normalizes with the batch mean and BIASED batch variance,
 * saves mean and 1/sqrt(var+eps) for backward, and (unless the running
 * pointers are NULL) updates running = running*momentum + batch*(1-momentum),
 * where the batch variance fed to running_var is the UNBIASED one
 * (count/(count-1), count = N*S), as PyTorch does.
 * x: [N,C,S], scale, bias: [C]; running_mean/var: [C] in-out
 * -> y: [N,C,S], save_mean, save_invstd: [C] */
void k_batchnorm_train_forward(const NormDims *nd, const float *x, const float *scale,
                               const float *bias, float eps, float momentum,
                               float *running_mean, float *running_var, float *save_mean,
                               float *save_invstd, float *y);
/* x, dy: [N,C,S], scale, save_mean, save_invstd: [C]
 * -> dx: [N,C,S], dscale, dbias: [C] */
void k_batchnorm_train_backward(const NormDims *nd, const float *x, const float *scale,
                                const float *save_mean, const float *save_invstd,
                                const float *dy, float *dx, float *dscale, float *dbias);

/* ---------------------------------------------------------------- Pool */

/* 2-D pooling, NCHW. The caller computes OH/OW (so ceil_mode is its
 * business); k_pool2d_check makes sure every window sees the input. */
typedef struct PoolDims {
    int N, C, H, W;
    int OH, OW;
    int KH, KW;
    int stride_h, stride_w;
    int dil_h, dil_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    bool count_include_pad; /* AveragePool only */
} PoolDims;

Status k_pool2d_check(const PoolDims *pd, Diag *d);
/* x: [N,C,H,W] -> y: [N,C,OH,OW], argmax: [N,C,OH,OW] (index h*W+w within
 * the (n,c) plane) or NULL when no backward will follow */
void k_maxpool2d_forward(const PoolDims *pd, const float *x, float *y, int32_t *argmax);
/* argmax, dy: [N,C,OH,OW] -> dx: [N,C,H,W] */
void k_maxpool2d_backward(const PoolDims *pd, const int32_t *argmax, const float *dy,
                          float *dx);
/* x: [N,C,H,W] -> y: [N,C,OH,OW]. Divisor: taps inside the input, or with
 * count_include_pad the taps inside input+pads (never past pad_bottom/right,
 * as happens with ceil_mode). */
void k_avgpool2d_forward(const PoolDims *pd, const float *x, float *y);
/* dy: [N,C,OH,OW] -> dx: [N,C,H,W] */
void k_avgpool2d_backward(const PoolDims *pd, const float *dy, float *dx);
/* x: [NC,S] -> y: [NC] (NC = N*C, S = spatial size) */
void k_global_avgpool_forward(int64_t NC, int64_t S, const float *x, float *y);
/* dy: [NC] -> dx: [NC,S] */
void k_global_avgpool_backward(int64_t NC, int64_t S, const float *dy, float *dx);

/* ------------------------------------------------------------- Softmax */

/* Softmax along one axis of a tensor viewed as [outer, n, inner]. */
typedef struct SoftmaxDims {
    int64_t outer, n, inner;
} SoftmaxDims;

/* x: [outer,n,inner] -> y: same */
void k_softmax_forward(const SoftmaxDims *sd, const float *x, float *y);
/* y, dy: [outer,n,inner] -> dx: same (dx += y * (dy - sum(dy*y))) */
void k_softmax_backward(const SoftmaxDims *sd, const float *y, const float *dy, float *dx);
/* x: [outer,n,inner] -> y: same */
void k_logsoftmax_forward(const SoftmaxDims *sd, const float *x, float *y);
/* y, dy: [outer,n,inner] -> dx: same (dx += dy - exp(y) * sum(dy)) */
void k_logsoftmax_backward(const SoftmaxDims *sd, const float *y, const float *dy, float *dx);

/* ------------------------------------------------------------- Dropout */

/* splitmix64: tiny, deterministic, and any seed (0 included) is fine. */
typedef struct KRng {
    uint64_t state;
} KRng;

void k_rng_seed(KRng *rng, uint64_t seed);
uint64_t k_rng_next(KRng *rng);
/* Uniform in [0, 1) with 24 random bits, exact in float. */
float k_rng_uniform(KRng *rng);

/* Training Dropout: keeps x[i] with probability 1-ratio, scaled by
 * 1/(1-ratio); mask[i] = 1 where kept. Fails unless 0 <= ratio < 1.
 * Inference Dropout is the identity and is the caller's job.
 * x: [n] -> y: [n], mask: [n]; rng advanced by n draws */
Status k_dropout_forward(const float *x, float *y, uint8_t *mask, int64_t n, float ratio,
                         KRng *rng, Diag *d);
/* mask, dy: [n] -> dx: [n] */
void k_dropout_backward(const uint8_t *mask, const float *dy, float *dx, int64_t n,
                        float ratio);

#endif
