/* blas.c - OpenBLAS behind blas.h.
 *
 * Owns the OpenBLAS thread setting. Measured on the 2-core machines: once
 * another process is busy, OpenBLAS's own threads turn a 68 GFLOP/s n=128
 * sgemm into 0.3 GFLOP/s, so it always runs with one thread and kdc splits
 * work across its own pool instead.
 */
#include "runtime/blas.h"

#include <cblas.h>
#include <pthread.h>

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_init_once(void)
{
    openblas_set_num_threads(1);
}

void blas_init(void)
{
    pthread_once(&blas_once, blas_init_once);
}

/* The K == 0 case is done here because OpenBLAS rejects lda < 1. */
static void scale_rows(int M, int N, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *row = C + (long)i * ldc;
        for (int j = 0; j < N; j++)
            row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
}

void blas_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        scale_rows(M, N, beta, C, ldc);
        return;
    }
    blas_init();
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}
