/* blas.h - the one door to OpenBLAS.
 *
 * Only blas.c includes cblas.h: the rest of kdc sees row-major sgemm with
 * plain int dimensions. OpenBLAS runs single-threaded (see blas_init); kdc
 * parallelizes above it with runtime/threads.h.
 */
#ifndef KDC_BLAS_H
#define KDC_BLAS_H

#include <stdbool.h>

/* Pins OpenBLAS to one thread. Idempotent; blas_sgemm calls it on first use,
 * so calling it explicitly only moves the cost to a known moment. */
void blas_init(void);

/* Row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, where
 * op(A) is A [M,K] (lda >= K) or, with trans_a, A^T for A [K,M] (lda >= M);
 * likewise B [K,N] or [N,K]. beta == 0 overwrites C without reading it.
 * Empty sizes are fine: K == 0 just scales C by beta. */
void blas_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
