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
/* Walks the rows of a broadcast (every merged axis but the innermost),
 * keeping the row's first element offsets in A and B. Inline: it runs once
 * per row of every broadcast kernel. */
typedef struct KBcastRow {
    int64_t idx[K_MAX_RANK];
    int64_t a, b;
} KBcastRow;

static inline void k_bcast_row_seek(const BroadcastDims *bd, KBcastRow *it, int64_t row)
{
    it->a = it->b = 0;
    for (int i = bd->rank - 2; i >= 0; i--) {
        it->idx[i] = row % bd->dims[i];
        row /= bd->dims[i];
        it->a += it->idx[i] * bd->a_strides[i];
        it->b += it->idx[i] * bd->b_strides[i];
    }
}

static inline void k_bcast_row_next(const BroadcastDims *bd, KBcastRow *it)
{
    for (int i = bd->rank - 2; i >= 0; i--) {
        it->a += bd->a_strides[i];
        it->b += bd->b_strides[i];
        if (++it->idx[i] < bd->dims[i])
            return;
        it->a -= bd->a_strides[i] * bd->dims[i];
        it->b -= bd->b_strides[i] * bd->dims[i];
        it->idx[i] = 0;
    }
}

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
 * Masks drawn as NumPy draws them (a node with a seed) and other float
 * types are in runtime/kernels_random.h.
 * x: [n] -> y: [n], mask: [n]; rng advanced by n draws */
Status k_dropout_forward(const float *x, float *y, uint8_t *mask, int64_t n, float ratio,
                         KRng *rng, Diag *d);
/* mask, dy: [n] -> dx: [n] */
void k_dropout_backward(const uint8_t *mask, const float *dy, float *dx, int64_t n,
                        double ratio);

/* ------------------------------------------------ elementwise math (k_math.c) */

/* Calls fn(args, begin, end) over [0, n), split in one contiguous range per
 * thread when n is large enough to pay for it (else inline). */
void k_run_ranges(int64_t n, void (*fn)(const void *args, int64_t begin, int64_t end),
                  const void *args);

/* The float unary math functions and activations of ONNX. */
typedef enum KUnaryOp {
    KU_ABS, KU_ACOS, KU_ACOSH, KU_ASIN, KU_ASINH, KU_ATAN, KU_ATANH, KU_CEIL, KU_COS,
    KU_COSH, KU_ERF, KU_EXP, KU_FLOOR, KU_LOG, KU_NEG, KU_RECIPROCAL, KU_ROUND, KU_SIGN,
    KU_SIN, KU_SINH, KU_SQRT, KU_TAN, KU_SOFTPLUS, KU_SOFTSIGN,
    KU_ELU,             /* alpha */
    KU_SELU,            /* alpha, gamma */
    KU_CELU,            /* alpha (non-zero) */
    KU_LEAKY_RELU,      /* alpha */
    KU_HARD_SIGMOID,    /* alpha, beta */
    KU_HARD_SWISH,
    KU_THRESHOLDED_RELU, /* alpha */
    KU_MISH,
    KU_GELU,            /* exact: x * Phi(x) */
    KU_GELU_TANH,       /* the tanh approximation */
    KU_COUNT
} KUnaryOp;

/* The attributes of the ops that have them (unused ones are ignored). */
typedef struct KUnaryParams {
    float alpha, beta, gamma;
} KUnaryParams;

/* x: [n] -> y: [n] (y may alias x). Round is half to even. */
void k_unary_forward(KUnaryOp op, const KUnaryParams *pr, const float *x, float *y, int64_t n);
/* x (forward input), y (forward output), dy: [n] -> dx: [n]. Ceil, Floor,
 * Round and Sign are piecewise constant: their gradient is zero and dx is
 * left as it is. At kinks the derivative of the branch PyTorch picks is used. */
void k_unary_backward(KUnaryOp op, const KUnaryParams *pr, const float *x, const float *y,
                      const float *dy, float *dx, int64_t n);

/* x: [n] -> y: [n] = min(hi, max(x, lo)): hi everywhere when lo > hi; NaN stays NaN. */
void k_clip_forward(const float *x, float lo, float hi, float *y, int64_t n);
/* x, dy: [n] -> dx: [n], += dy where lo <= x <= hi */
void k_clip_backward(const float *x, float lo, float hi, const float *dy, float *dx, int64_t n);
/* y: [n] *= s */
void k_scale(float *y, float s, int64_t n);

/* ---------------------------- broadcasting math, Max/Min/Sum/Where (k_math_binary.c) */

/* A run of output elements y .. y+len-1 reading A from offset a and B from
 * offset b, stepping a_step and b_step (0 on a broadcast axis) elements. */
typedef struct KRow {
    int64_t a, b, y, len, a_step, b_step;
} KRow;
typedef void (*KRowFn)(const void *args, const KRow *row);

/* Calls fn for the rows covering output elements [begin, end), in order. */
void k_broadcast_rows(const BroadcastDims *bd, int64_t begin, int64_t end, KRowFn fn,
                      const void *args);
/* The same over all bd->n elements, split over threads when large: fn may
 * only write what belongs to the output elements of its rows. */
void k_broadcast_rows_parallel(const BroadcastDims *bd, KRowFn fn, const void *args);

typedef enum KMathBinaryOp {
    KM_POW,   /* a ^ b */
    KM_MAX,   /* NaN wins, as in numpy.maximum */
    KM_MIN,
    KM_PRELU, /* a is x, b the slope: a < 0 ? a * b : a */
    KM_FMOD,  /* C fmod: the sign of a */
} KMathBinaryOp;

/* a: [a_n], b: [b_n] -> y: [n]; y may alias a when a_n == n. */
void k_math_binary_forward(KMathBinaryOp op, const BroadcastDims *bd, const float *a,
                           const float *b, float *y);
/* KM_POW and KM_PRELU. a, b, y (forward output), dy -> da: [a_n], db: [b_n].
 * Pow's exponent gradient y*ln(a) is taken as 0 where a <= 0 (no real
 * derivative there); PRelu: da = a > 0 ? dy : b*dy, db = a > 0 ? 0 : a*dy. */
void k_math_binary_backward(KMathBinaryOp op, const BroadcastDims *bd, const float *a,
                            const float *b, const float *y, const float *dy, float *da,
                            float *db);

/* For variadic ops: bd from (Y's dims, X's dims), so A is Y and B is X. */
/* x: [b_n] elements of elem bytes (1, 2, 4 or 8) -> y: [n], X broadcast to Y */
void k_broadcast_copy(const BroadcastDims *bd, size_t elem, const void *x, void *y);
/* dy: [n] -> dx: [b_n] += scale * dy summed over the axes X broadcasts along */
void k_broadcast_reduce(const BroadcastDims *bd, float scale, const float *dy, float *dx);
/* Max/Min gradient for input X of output Y, called for the inputs in order:
 * an output element not yet claimed whose value X holds is claimed, and its
 * dy goes to dx (which may be NULL: claim only). Ties go to the first input.
 * x: [b_n], y, dy: [n], claimed: [n] bytes, zero before the first input -> dx: [b_n] */
void k_select_backward(const BroadcastDims *bd, const float *x, const float *y, const float *dy,
                       uint8_t *claimed, float *dx);

/* numpy broadcasting of up to K_NARY_MAX operands (Where), axes merged as
 * in BroadcastDims; strides[k] are operand k's element strides. */
#define K_NARY_MAX 3
typedef struct NaryBroadcast {
    int rank, n_in; /* rank >= 1 */
    int64_t dims[K_MAX_RANK];
    int64_t strides[K_NARY_MAX][K_MAX_RANK];
    int64_t n, in_n[K_NARY_MAX];
} NaryBroadcast;

/* dims[k], ranks[k]: operand k's shape (ranks 0..K_MAX_RANK); y_dims (may be
 * NULL) receives the output shape, of the largest rank. */
Status k_nary_broadcast_init(NaryBroadcast *nb, int n_in, const int64_t *const *dims,
                             const int *ranks, int64_t *y_dims, Diag *d);
/* Where. cond: [in_n[0]] bytes (0/1), x: [in_n[1]], y: [in_n[2]] elements
 * of elem bytes (1, 2, 4 or 8) -> out: [n] */
void k_where_forward(const NaryBroadcast *nb, size_t elem, const uint8_t *cond, const void *x,
                     const void *y, void *out);
/* cond, dout: -> dx: [in_n[1]] += dout where cond, dy: [in_n[2]] += dout elsewhere */
void k_where_backward(const NaryBroadcast *nb, const uint8_t *cond, const float *dout, float *dx,
                      float *dy);

/* -------------------------------- typed elementwise: any dtype (k_compare.c) */

/* Element types of the typed kernels (runtime/ maps DType onto these). */
typedef enum KElem {
    KE_FLOAT, KE_DOUBLE, KE_FLOAT16, KE_BFLOAT16, KE_INT8, KE_INT16, KE_INT32, KE_INT64,
    KE_UINT8, KE_UINT16, KE_UINT32, KE_UINT64, KE_BOOL
} KElem;

/* Integers and bool compute in int64 (wrapping, as C's unsigned arithmetic
 * does; a narrower result keeps its low bits), the others in double; a real
 * stored to an integer type truncates toward zero and saturates to the
 * type's range (NaN gives 0). uint64 values above INT64_MAX are compared and
 * divided as negative int64: not exactly. */
bool k_elem_is_int(KElem t);
size_t k_elem_size(KElem t);
/* x: [n] of type t -> y: [n] float (float16/bfloat16 exactly, double rounded) */
void k_convert_to_float(KElem t, const void *x, float *y, int64_t n);
/* Element i of x (of type t) as int64 (integer and bool types) or as double (any type). */
int64_t k_elem_get_int(KElem t, const void *x, int64_t i);
double k_elem_get_double(KElem t, const void *x, int64_t i);

typedef enum KTypedOp {
    KT_ADD, KT_SUB, KT_MUL,
    KT_DIV,   /* integers truncate toward zero */
    KT_POW,   /* integers: exact, a negative exponent gives 1/a^-b truncated (0 for a = 0) */
    KT_MAX, KT_MIN,
    KT_MOD,   /* the sign of the divisor (Python) */
    KT_FMOD,  /* the sign of the dividend (C) */
    KT_PRELU, /* a < 0 ? a * b : a */
    KT_EQUAL, KT_GREATER, KT_GREATER_EQUAL, KT_LESS, KT_LESS_EQUAL, /* write bool */
    KT_AND, KT_OR, KT_XOR, /* bool in, bool out */
} KTypedOp;

/* a: [a_n] of ta, b: [b_n] of tb -> y: [n] of ty (bool for comparisons and
 * logic); computed in int64 when ta and tb are both integer or bool, else in
 * double. y may alias a when a_n == n and ta == ty. Fails on an integer
 * division or modulo by zero. */
Status k_typed_binary(KTypedOp op, const BroadcastDims *bd, KElem ta, const void *a, KElem tb,
                      const void *b, KElem ty, void *y, Diag *d);

typedef enum KTypedUnaryOp { KT_ABS, KT_NEG, KT_SIGN, KT_NOT, KT_CLIP } KTypedUnaryOp;

/* Bounds of KT_CLIP, in the domain the type computes in (ints or reals). */
typedef struct KClipBounds {
    int64_t lo_i, hi_i;
    double lo_f, hi_f;
} KClipBounds;

/* x: [n] of t -> y: [n] of t (bool for KT_NOT); clip may be NULL but for KT_CLIP. */
void k_typed_unary(KTypedUnaryOp op, KElem t, const KClipBounds *clip, const void *x, void *y,
                   int64_t n);
/* A float unary op on double, float16 or bfloat16 data, computed in float:
 * x: [n] of t -> y: [n] of t */
void k_typed_unary_float(KUnaryOp op, const KUnaryParams *pr, KElem t, const void *x, void *y,
                         int64_t n);

#endif
