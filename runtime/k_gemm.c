/* k_gemm.c - Gemm (ONNX) and MatMul (numpy) kernels, forward and backward.
 *
 * Owns the threaded sgemm split (k_sgemm) and the batch bookkeeping of
 * MatMul. All arithmetic goes through blas_sgemm; this file only decides
 * which products to form and how to share them among threads.
 */
#include "runtime/kernels.h"

#include <limits.h>

#include "runtime/blas.h"
#include "runtime/threads.h"

/* Waking a worker costs ~10 us here (measured); below ~4M multiply-adds
 * (~40 us on one core) splitting a product gains little or loses. */
#define K_SGEMM_PARALLEL_MACS (1L << 22)

typedef struct SgemmJob {
    bool trans_a, trans_b, split_rows;
    int M, N, K, lda, ldb, ldc, parts;
    float alpha, beta;
    const float *A, *B;
    float *C;
} SgemmJob;

static void sgemm_part(void *ctx, int part, int thread)
{
    const SgemmJob *j = ctx;
    (void)thread;
    if (j->split_rows) {
        int r0 = (int)((long)j->M * part / j->parts), r1 = (int)((long)j->M * (part + 1) / j->parts);
        const float *A = j->trans_a ? j->A + r0 : j->A + (long)r0 * j->lda;
        blas_sgemm(j->trans_a, j->trans_b, r1 - r0, j->N, j->K, j->alpha, A, j->lda, j->B,
                   j->ldb, j->beta, j->C + (long)r0 * j->ldc, j->ldc);
    } else {
        int c0 = (int)((long)j->N * part / j->parts), c1 = (int)((long)j->N * (part + 1) / j->parts);
        const float *B = j->trans_b ? j->B + (long)c0 * j->ldb : j->B + c0;
        blas_sgemm(j->trans_a, j->trans_b, j->M, c1 - c0, j->K, j->alpha, j->A, j->lda, B,
                   j->ldb, j->beta, j->C + c0, j->ldc);
    }
}

void k_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
             int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    int T = threads_count();
    double macs = (double)M * N * K;
    SgemmJob j = {trans_a, trans_b, true, M, N, K, lda, ldb, ldc, T, alpha, beta, A, B, C};
    if (T > 1 && macs >= K_SGEMM_PARALLEL_MACS) {
        /* Row tiles keep B shared and hot; fall back to column tiles when
         * there are too few rows to give each thread a useful block. */
        if (M >= 8 * T) {
            threads_parallel_for(T, sgemm_part, &j);
            return;
        }
        if (N >= 16 * T) {
            j.split_rows = false;
            threads_parallel_for(T, sgemm_part, &j);
            return;
        }
    }
    blas_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---------------------------------------------------------------- Gemm */

Status k_gemm_set_c_shape(GemmDims *gd, int c_rank, const int64_t *c_dims, Diag *d)
{
    int64_t rows = 1, cols = 1;
    if (c_rank < 0) {
        gd->c_rows = gd->c_cols = 0;
        return KDC_OK;
    }
    if (c_rank > 2)
        return diag_error(d, "Gemm: C has rank %d, expected at most 2", c_rank);
    if (c_rank >= 1)
        cols = c_dims[c_rank - 1];
    if (c_rank == 2)
        rows = c_dims[0];
    if ((rows != 1 && rows != gd->M) || (cols != 1 && cols != gd->N))
        return diag_error(d, "Gemm: C of shape [%lld,%lld] does not broadcast to [%d,%d]",
                          (long long)rows, (long long)cols, gd->M, gd->N);
    gd->c_rows = (int)rows;
    gd->c_cols = (int)cols;
    return KDC_OK;
}

void k_gemm_forward(const GemmDims *gd, const float *A, const float *B, const float *C,
                    float *Y)
{
    int M = gd->M, N = gd->N, K = gd->K;
    float beta = 0.0f;
    if (C && gd->c_rows > 0 && gd->beta != 0.0f) {
        for (int i = 0; i < M; i++) {
            const float *c = C + (gd->c_rows == 1 ? 0 : (long)i * gd->c_cols);
            float *y = Y + (long)i * N;
            for (int j = 0; j < N; j++)
                y[j] = gd->beta * c[gd->c_cols == 1 ? 0 : j];
        }
        beta = 1.0f;
    }
    k_sgemm(gd->trans_a, gd->trans_b, M, N, K, gd->alpha, A, gd->trans_a ? M : K, B,
            gd->trans_b ? K : N, beta, Y, N);
}

/* dC is dY * beta summed over the axes C was broadcast along. */
static void gemm_backward_c(const GemmDims *gd, const float *dY, float *dC)
{
    for (int i = 0; i < gd->M; i++) {
        const float *dy = dY + (long)i * gd->N;
        float *dc = dC + (gd->c_rows == 1 ? 0 : (long)i * gd->c_cols);
        if (gd->c_cols == 1) {
            double s = 0.0;
            for (int j = 0; j < gd->N; j++)
                s += dy[j];
            dc[0] += gd->beta * (float)s;
        } else {
            for (int j = 0; j < gd->N; j++)
                dc[j] += gd->beta * dy[j];
        }
    }
}

void k_gemm_backward(const GemmDims *gd, const float *A, const float *B, const float *dY,
                     float *dA, float *dB, float *dC)
{
    int M = gd->M, N = gd->N, K = gd->K;
    bool ta = gd->trans_a, tb = gd->trans_b;
    int lda = ta ? M : K, ldb = tb ? K : N;
    if (dA && !ta) /* dA[M,K] += alpha * dY * op(B)^T */
        k_sgemm(false, !tb, M, K, N, gd->alpha, dY, N, B, ldb, 1.0f, dA, K);
    if (dA && ta) /* dA[K,M] += alpha * op(B) * dY^T */
        k_sgemm(tb, true, K, M, N, gd->alpha, B, ldb, dY, N, 1.0f, dA, M);
    if (dB && !tb) /* dB[K,N] += alpha * op(A)^T * dY */
        k_sgemm(!ta, false, K, N, M, gd->alpha, A, lda, dY, N, 1.0f, dB, N);
    if (dB && tb) /* dB[N,K] += alpha * dY^T * op(A) */
        k_sgemm(true, ta, N, K, M, gd->alpha, dY, N, A, lda, 1.0f, dB, K);
    if (dC && gd->c_rows > 0)
        gemm_backward_c(gd, dY, dC);
}

/* -------------------------------------------------------------- MatMul */

/* Output batch dim of one axis; a missing dim counts as 1. */
static Status matmul_batch_dim(int64_t a, int64_t b, int64_t *out, Diag *d)
{
    if (a == b || b == 1)
        *out = a;
    else if (a == 1)
        *out = b;
    else
        return diag_error(d, "MatMul: batch dims %lld and %lld do not broadcast",
                          (long long)a, (long long)b);
    return KDC_OK;
}

static Status matmul_check_operands(const int64_t *a_dims, int a_rank, const int64_t *b_dims,
                                    int b_rank, Diag *d)
{
    if (a_rank < 2 || b_rank < 2 || a_rank > K_MATMUL_MAX_RANK || b_rank > K_MATMUL_MAX_RANK)
        return diag_error(d, "MatMul: operand ranks %d and %d, expected 2 to %d (reshape 1-D "
                          "operands first)", a_rank, b_rank, K_MATMUL_MAX_RANK);
    for (int i = 0; i < a_rank; i++)
        if (a_dims[i] < 0 || a_dims[i] > INT_MAX)
            return diag_error(d, "MatMul: A dim %d is %lld", i, (long long)a_dims[i]);
    for (int i = 0; i < b_rank; i++)
        if (b_dims[i] < 0 || b_dims[i] > INT_MAX)
            return diag_error(d, "MatMul: B dim %d is %lld", i, (long long)b_dims[i]);
    if (a_dims[a_rank - 1] != b_dims[b_rank - 2])
        return diag_error(d, "MatMul: A is [...,%lld,%lld] but B is [...,%lld,%lld]",
                          (long long)a_dims[a_rank - 2], (long long)a_dims[a_rank - 1],
                          (long long)b_dims[b_rank - 2], (long long)b_dims[b_rank - 1]);
    return KDC_OK;
}

Status k_matmul_init(MatMulDims *md, const int64_t *a_dims, int a_rank, const int64_t *b_dims,
                     int b_rank, int64_t *y_dims, Diag *d)
{
    if (matmul_check_operands(a_dims, a_rank, b_dims, b_rank, d) != KDC_OK)
        return KDC_ERR;
    int ab = a_rank - 2, bb = b_rank - 2, yb = ab > bb ? ab : bb;
    int64_t a_stride = 1, b_stride = 1;
    *md = (MatMulDims){.M = (int)a_dims[ab], .K = (int)a_dims[ab + 1], .N = (int)b_dims[bb + 1],
                       .n_batch = 1};
    int64_t kept[K_MATMUL_MAX_RANK - 2], as[K_MATMUL_MAX_RANK - 2], bs[K_MATMUL_MAX_RANK - 2];
    /* Walk from the innermost batch axis outwards, as numpy aligns them. */
    for (int i = yb - 1, ai = ab - 1, bi = bb - 1; i >= 0; i--, ai--, bi--) {
        int64_t da = ai >= 0 ? a_dims[ai] : 1, db = bi >= 0 ? b_dims[bi] : 1, dy = 1;
        if (matmul_batch_dim(da, db, &dy, d) != KDC_OK)
            return KDC_ERR;
        if (y_dims)
            y_dims[i] = dy;
        kept[i] = dy;
        as[i] = da == 1 ? 0 : a_stride;
        bs[i] = db == 1 ? 0 : b_stride;
        a_stride *= da;
        b_stride *= db;
    }
    for (int i = 0; i < yb; i++) {
        md->n_batch *= kept[i];
        if (kept[i] == 1)
            continue;
        md->batch[md->batch_rank] = kept[i];
        md->a_batch_strides[md->batch_rank] = as[i];
        md->b_batch_strides[md->batch_rank++] = bs[i];
    }
    md->a_n_batch = a_stride;
    md->b_n_batch = b_stride;
    if (y_dims) {
        y_dims[yb] = md->M;
        y_dims[yb + 1] = md->N;
    }
    return KDC_OK;
}

/* Matrix indices into A and B of output matrix b. */
static void matmul_offsets(const MatMulDims *md, int64_t b, int64_t *ia, int64_t *ib)
{
    *ia = *ib = 0;
    for (int i = md->batch_rank - 1; i >= 0; i--) {
        int64_t idx = b % md->batch[i];
        b /= md->batch[i];
        *ia += idx * md->a_batch_strides[i];
        *ib += idx * md->b_batch_strides[i];
    }
}

/* B shared by every batch and A not broadcast: the batch folds into M. */
static bool matmul_folds(const MatMulDims *md)
{
    return md->b_n_batch == 1 && md->a_n_batch == md->n_batch &&
           md->n_batch * md->M <= INT_MAX;
}

typedef struct MatMulJob {
    const MatMulDims *md;
    bool split; /* a lone item: let k_sgemm spread each product over threads */
    const float *A, *B, *dY;
    float *Y, *dA, *dB;
} MatMulJob;

static void matmul_forward_item(void *ctx, int b, int thread)
{
    const MatMulJob *j = ctx;
    const MatMulDims *md = j->md;
    int64_t ia, ib;
    (void)thread;
    matmul_offsets(md, b, &ia, &ib);
    blas_sgemm(false, false, md->M, md->N, md->K, 1.0f, j->A + ia * md->M * md->K, md->K,
               j->B + ib * md->K * md->N, md->N, 0.0f, j->Y + (int64_t)b * md->M * md->N,
               md->N);
}

void k_matmul_forward(const MatMulDims *md, const float *A, const float *B, float *Y)
{
    int M = md->M, N = md->N, K = md->K;
    if (md->n_batch == 0)
        return;
    if (matmul_folds(md)) {
        k_sgemm(false, false, (int)(md->n_batch * M), N, K, 1.0f, A, K, B, N, 0.0f, Y, N);
        return;
    }
    if (md->n_batch == 1) {
        k_sgemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, Y, N);
        return;
    }
    MatMulJob j = {.md = md, .A = A, .B = B, .Y = Y};
    threads_parallel_for((int)md->n_batch, matmul_forward_item, &j);
}

/* dA[ia] += sum over output matrices b that read A[ia] of dY[b] * B[ib]^T;
 * one item per A matrix, so no two threads write the same slice. */
static void matmul_backward_a_item(void *ctx, int ia_item, int thread)
{
    const MatMulJob *j = ctx;
    const MatMulDims *md = j->md;
    int M = md->M, N = md->N, K = md->K;
    (void)thread;
    for (int64_t b = 0; b < md->n_batch; b++) {
        int64_t ia, ib;
        matmul_offsets(md, b, &ia, &ib);
        if (ia != ia_item)
            continue;
        (j->split ? k_sgemm : blas_sgemm)(false, true, M, K, N, 1.0f, j->dY + b * M * N, N,
                                          j->B + ib * K * N, N, 1.0f, j->dA + ia * M * K, K);
    }
}

/* dB[ib] += sum over b that read B[ib] of A[ia]^T * dY[b]. */
static void matmul_backward_b_item(void *ctx, int ib_item, int thread)
{
    const MatMulJob *j = ctx;
    const MatMulDims *md = j->md;
    int M = md->M, N = md->N, K = md->K;
    (void)thread;
    for (int64_t b = 0; b < md->n_batch; b++) {
        int64_t ia, ib;
        matmul_offsets(md, b, &ia, &ib);
        if (ib != ib_item)
            continue;
        (j->split ? k_sgemm : blas_sgemm)(true, false, K, N, M, 1.0f, j->A + ia * M * K, K,
                                          j->dY + b * M * N, N, 1.0f, j->dB + ib * K * N, N);
    }
}

/* One item per gradient slice; a single slice runs here, threads inside. */
static void matmul_run_items(MatMulJob *j, int64_t n_items, void (*fn)(void *, int, int))
{
    j->split = n_items == 1;
    if (j->split)
        fn(j, 0, 0);
    else
        threads_parallel_for((int)n_items, fn, j);
}

void k_matmul_backward(const MatMulDims *md, const float *A, const float *B, const float *dY,
                       float *dA, float *dB)
{
    int M = md->M, N = md->N, K = md->K;
    if (md->n_batch == 0)
        return;
    if (matmul_folds(md)) {
        int rows = (int)(md->n_batch * M);
        if (dA)
            k_sgemm(false, true, rows, K, N, 1.0f, dY, N, B, N, 1.0f, dA, K);
        if (dB)
            k_sgemm(true, false, K, N, rows, 1.0f, A, K, dY, N, 1.0f, dB, N);
        return;
    }
    MatMulJob j = {.md = md, .A = A, .B = B, .dY = dY, .dA = dA, .dB = dB};
    if (dA)
        matmul_run_items(&j, md->a_n_batch, matmul_backward_a_item);
    if (dB)
        matmul_run_items(&j, md->b_n_batch, matmul_backward_b_item);
}
