/* test_kernels_gemm.c - Gemm, MatMul and threaded sgemm kernels.
 *
 * Forward results against naive double-precision loops; every backward
 * against central finite differences (tests/unit/gradcheck.h), over each
 * transA/transB pair, every ONNX form of C, and broadcasting MatMul batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/blas.h"
#include "runtime/kernels.h"
#include "runtime/threads.h"

static const GcTol gemm_tol = {1e-2, 2e-3, 1e-2};

/* ---------------------------------------------------------------- Gemm */

typedef struct GemmCase {
    GemmDims gd;
    float *A, *B, *C, *Y, *W;
    size_t na, nb, nc, ny;
} GemmCase;

static double gemm_loss(void *ctx)
{
    GemmCase *g = ctx;
    k_gemm_forward(&g->gd, g->A, g->B, g->C, g->Y);
    return gc_weighted_sum(g->Y, g->W, g->ny);
}

static double gemm_ref(const GemmCase *g, int i, int j)
{
    const GemmDims *d = &g->gd;
    double s = 0.0;
    for (int k = 0; k < d->K; k++) {
        float a = d->trans_a ? g->A[k * d->M + i] : g->A[i * d->K + k];
        float b = d->trans_b ? g->B[j * d->K + k] : g->B[k * d->N + j];
        s += (double)a * b;
    }
    s *= d->alpha;
    if (g->C)
        s += d->beta * g->C[(d->c_rows == 1 ? 0 : i) * d->c_cols + (d->c_cols == 1 ? 0 : j)];
    return s;
}

/* C shapes in ONNX form: rank -1 means absent. */
typedef struct CShape {
    int rank;
    int64_t dims[2];
} CShape;

static void gemm_case_run(int M, int N, int K, bool ta, bool tb, CShape cs, float beta,
                          KRng *rng)
{
    GemmCase g = {.gd = {.M = M, .N = N, .K = K, .trans_a = ta, .trans_b = tb, .alpha = 0.7f,
                         .beta = beta}};
    Diag d;
    assert_int_equal(k_gemm_set_c_shape(&g.gd, cs.rank, cs.dims, &d), KDC_OK);
    g.na = (size_t)M * K;
    g.nb = (size_t)K * N;
    g.nc = (size_t)g.gd.c_rows * g.gd.c_cols;
    g.ny = (size_t)M * N;
    g.A = gc_uniform(rng, g.na, -1, 1);
    g.B = gc_uniform(rng, g.nb, -1, 1);
    g.C = cs.rank >= 0 ? gc_uniform(rng, g.nc, -1, 1) : NULL;
    g.Y = gc_alloc(g.ny);
    g.W = gc_uniform(rng, g.ny, -1, 1);
    gemm_loss(&g);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            assert_float_equal(g.Y[i * N + j], gemm_ref(&g, i, j), 1e-4);
    float *dA = gc_grad_buffer(g.na), *dB = gc_grad_buffer(g.nb), *dC = gc_grad_buffer(g.nc);
    k_gemm_backward(&g.gd, g.A, g.B, g.W, dA, dB, g.C ? dC : NULL);
    int bad = gc_check("gemm dA", g.A, g.na, dA, gemm_loss, &g, gemm_tol);
    bad += gc_check("gemm dB", g.B, g.nb, dB, gemm_loss, &g, gemm_tol);
    if (g.C)
        bad += gc_check("gemm dC", g.C, g.nc, dC, gemm_loss, &g, gemm_tol);
    if (bad)
        fprintf(stderr, "  in Gemm M=%d N=%d K=%d ta=%d tb=%d C rank %d beta %g\n", M, N, K, ta,
                tb, cs.rank, (double)beta);
    assert_int_equal(bad, 0);
    free(g.A), free(g.B), free(g.C), free(g.Y), free(g.W), free(dA), free(dB), free(dC);
}

static void test_gemm_every_transpose_and_c_form(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 11);
    for (int t = 0; t < 4; t++) {
        int M = 2 + (int)(k_rng_next(&rng) % 4), N = 2 + (int)(k_rng_next(&rng) % 4);
        int K = 1 + (int)(k_rng_next(&rng) % 5);
        CShape forms[] = {{-1, {0}}, {0, {0}}, {1, {1}}, {1, {N}},
                          {2, {1, N}}, {2, {M, 1}}, {2, {M, N}}};
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++)
            gemm_case_run(M, N, K, t & 1, t & 2, forms[f], 1.3f, &rng);
    }
    gemm_case_run(3, 4, 5, false, true, (CShape){2, {3, 4}}, 0.0f, &rng);
}

static void test_gemm_bad_c_shape(void **state)
{
    (void)state;
    GemmDims gd = {.M = 3, .N = 4, .K = 2};
    Diag d;
    int64_t bad1[] = {4, 3}, bad2[] = {3}, bad3[] = {1, 1, 4};
    assert_int_equal(k_gemm_set_c_shape(&gd, 2, bad1, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "Gemm"));
    assert_int_equal(k_gemm_set_c_shape(&gd, 1, bad2, &d), KDC_ERR);
    assert_int_equal(k_gemm_set_c_shape(&gd, 3, bad3, &d), KDC_ERR);
}

/* -------------------------------------------------------------- MatMul */

typedef struct MatMulCase {
    MatMulDims md;
    int a_rank, b_rank, y_rank;
    int64_t a_dims[6], b_dims[6], y_dims[6];
    float *A, *B, *Y, *W;
    size_t na, nb, ny;
} MatMulCase;

static double matmul_loss(void *ctx)
{
    MatMulCase *c = ctx;
    k_matmul_forward(&c->md, c->A, c->B, c->Y);
    return gc_weighted_sum(c->Y, c->W, c->ny);
}

static size_t numel(const int64_t *dims, int rank)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

/* Matrix index into an operand of the output batch multi-index idx. */
static size_t operand_matrix(const int64_t *dims, int rank, const int64_t *idx, int y_batch)
{
    size_t off = 0;
    int batch = rank - 2;
    for (int i = 0; i < batch; i++) {
        int64_t di = dims[i], k = idx[y_batch - batch + i];
        off = off * (size_t)di + (size_t)(di == 1 ? 0 : k);
    }
    return off;
}

static void matmul_check_forward(const MatMulCase *c)
{
    int yb = c->y_rank - 2, M = c->md.M, N = c->md.N, K = c->md.K;
    size_t nbatch = numel(c->y_dims, yb);
    for (size_t b = 0; b < nbatch; b++) {
        int64_t idx[4];
        size_t rest = b;
        for (int i = yb - 1; i >= 0; i--) {
            idx[i] = (int64_t)(rest % (size_t)c->y_dims[i]);
            rest /= (size_t)c->y_dims[i];
        }
        const float *A = c->A + operand_matrix(c->a_dims, c->a_rank, idx, yb) * M * K;
        const float *B = c->B + operand_matrix(c->b_dims, c->b_rank, idx, yb) * K * N;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0.0;
                for (int k = 0; k < K; k++)
                    s += (double)A[i * K + k] * B[k * N + j];
                assert_float_equal(c->Y[b * M * N + i * N + j], s, 1e-4);
            }
    }
}

static void matmul_case_run(int a_rank, const int64_t *a_dims, int b_rank, const int64_t *b_dims,
                            KRng *rng)
{
    MatMulCase c = {.a_rank = a_rank, .b_rank = b_rank};
    Diag d;
    memcpy(c.a_dims, a_dims, sizeof *a_dims * a_rank);
    memcpy(c.b_dims, b_dims, sizeof *b_dims * b_rank);
    assert_int_equal(k_matmul_init(&c.md, a_dims, a_rank, b_dims, b_rank, c.y_dims, &d), KDC_OK);
    c.y_rank = a_rank > b_rank ? a_rank : b_rank;
    c.na = numel(a_dims, a_rank);
    c.nb = numel(b_dims, b_rank);
    c.ny = numel(c.y_dims, c.y_rank);
    assert_int_equal(c.ny, (size_t)c.md.n_batch * c.md.M * c.md.N);
    c.A = gc_uniform(rng, c.na, -1, 1);
    c.B = gc_uniform(rng, c.nb, -1, 1);
    c.Y = gc_alloc(c.ny);
    c.W = gc_uniform(rng, c.ny, -1, 1);
    matmul_loss(&c);
    matmul_check_forward(&c);
    float *dA = gc_grad_buffer(c.na), *dB = gc_grad_buffer(c.nb);
    k_matmul_backward(&c.md, c.A, c.B, c.W, dA, dB);
    int bad = gc_check("matmul dA", c.A, c.na, dA, matmul_loss, &c, gemm_tol);
    bad += gc_check("matmul dB", c.B, c.nb, dB, matmul_loss, &c, gemm_tol);
    assert_int_equal(bad, 0);
    free(c.A), free(c.B), free(c.Y), free(c.W), free(dA), free(dB);
}

static void test_matmul_broadcast_batches(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 12);
    struct {
        int ar, br;
        int64_t a[6], b[6];
    } cases[] = {
        {2, 2, {3, 4}, {4, 5}},
        {3, 2, {2, 3, 4}, {4, 5}},          /* B shared: batch folds into M */
        {2, 3, {3, 4}, {2, 4, 5}},          /* A shared */
        {3, 3, {2, 3, 4}, {2, 4, 2}},       /* same batch */
        {4, 3, {2, 1, 3, 4}, {3, 4, 2}},    /* both broadcast */
        {3, 4, {1, 3, 4}, {2, 1, 4, 5}},
        {6, 6, {2, 1, 2, 1, 2, 3}, {1, 2, 1, 2, 3, 2}},
        {3, 3, {3, 1, 4}, {3, 4, 1}},       /* what a caller makes of 1-D operands */
    };
    Diag d;
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(threads_init(threads, &d), KDC_OK);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            matmul_case_run(cases[i].ar, cases[i].a, cases[i].br, cases[i].b, &rng);
        threads_shutdown();
    }
}

static void test_matmul_shape_errors(void **state)
{
    (void)state;
    MatMulDims md;
    Diag d;
    int64_t a[] = {2, 3, 4}, b_bad_k[] = {5, 2}, b_bad_batch[] = {3, 4, 2}, v[] = {4};
    int64_t y[3];
    assert_int_equal(k_matmul_init(&md, a, 3, b_bad_k, 2, y, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "MatMul"));
    assert_int_equal(k_matmul_init(&md, a, 3, b_bad_batch, 3, y, &d), KDC_ERR);
    assert_int_equal(k_matmul_init(&md, a, 3, v, 1, y, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "1-D"));
}

/* ------------------------------------------------------ threaded sgemm */

/* Large enough to be split; each tile must still give the 1-thread answer. */
static void test_sgemm_split_matches_one_thread(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 13);
    Diag d;
    const int shapes[][3] = {{160, 128, 256}, {6, 600, 1200}}; /* rows, then columns */
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < 4; t++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            bool ta = t & 1, tb = t & 2;
            float *A = gc_uniform(&rng, (size_t)M * K, -1, 1);
            float *B = gc_uniform(&rng, (size_t)K * N, -1, 1);
            float *C1 = gc_uniform(&rng, (size_t)M * N, -1, 1), *C2 = gc_alloc((size_t)M * N);
            memcpy(C2, C1, sizeof *C1 * M * N);
            blas_sgemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 1.0f, C1, N);
            assert_int_equal(threads_init(2, &d), KDC_OK);
            k_sgemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 1.0f, C2, N);
            threads_shutdown();
            for (int i = 0; i < M * N; i++)
                assert_float_equal(C1[i], C2[i], 1e-4);
            free(A), free(B), free(C1), free(C2);
        }
}

static void test_blas_empty_k_scales(void **state)
{
    (void)state;
    float C[6] = {1, 2, 3, 4, 5, 6};
    blas_sgemm(false, false, 2, 3, 0, 1.0f, NULL, 1, NULL, 1, 0.5f, C, 3);
    assert_float_equal(C[5], 3.0f, 0);
    blas_sgemm(false, false, 2, 3, 0, 1.0f, NULL, 1, NULL, 1, 0.0f, C, 3);
    assert_float_equal(C[0], 0.0f, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_every_transpose_and_c_form),
        cmocka_unit_test(test_gemm_bad_c_shape),
        cmocka_unit_test(test_matmul_broadcast_batches),
        cmocka_unit_test(test_matmul_shape_errors),
        cmocka_unit_test(test_sgemm_split_matches_one_thread),
        cmocka_unit_test(test_blas_empty_k_scales),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
