/* test_kernels_dropout.c - Dropout's kernels and their generators.
 *
 * splitmix64 training Dropout: keep rate and scaling on a large draw,
 * reproducibility from the seed, ratio validation, and the backward against
 * central finite differences (tests/unit/gradcheck.h) with the mask held
 * fixed by reseeding. MT19937 (runtime/kernels_random.h): the published
 * known answers of both seeding routines, NumPy's legacy uniform doubles and
 * seeded masks bit for bit against numbers computed by /usr/bin/python3
 * numpy (each with the one-liner that produced it), and the masked scaling
 * on double, float16 and bfloat16 data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels.h"
#include "runtime/kernels_random.h"

static void test_rng_uniform_range_and_seed(void **state)
{
    (void)state;
    KRng a, b;
    k_rng_seed(&a, 7);
    k_rng_seed(&b, 7);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        float u = k_rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        assert_true(u == k_rng_uniform(&b));
        sum += u;
    }
    assert_float_equal(sum / 100000, 0.5, 0.01);
    k_rng_seed(&b, 8);
    assert_true(k_rng_next(&a) != k_rng_next(&b));
}

static void test_dropout_keep_rate_and_scale(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    k_rng_seed(&rng, 71);
    enum { N = 20000 };
    float *x = gc_uniform(&rng, N, 0.5f, 1.5f), *y = gc_alloc(N), *y2 = gc_alloc(N);
    uint8_t *mask = malloc(N), *mask2 = malloc(N);
    k_rng_seed(&rng, 5);
    assert_int_equal(k_dropout_forward(x, y, mask, N, 0.3f, &rng, &d), KDC_OK);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        kept += mask[i];
        assert_float_equal(y[i], mask[i] ? x[i] / 0.7f : 0.0f, 1e-6);
    }
    assert_float_equal(kept / (double)N, 0.7, 0.02);
    k_rng_seed(&rng, 5);
    assert_int_equal(k_dropout_forward(x, y2, mask2, N, 0.3f, &rng, &d), KDC_OK);
    assert_memory_equal(mask, mask2, N);
    assert_memory_equal(y, y2, sizeof *y * N);
    assert_int_equal(k_dropout_forward(x, y, mask, N, 0.0f, &rng, &d), KDC_OK);
    assert_memory_equal(x, y, sizeof *y * N);
    free(x), free(y), free(y2), free(mask), free(mask2);
}

static void test_dropout_rejects_bad_ratio(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    float x[2] = {1, 2}, y[2];
    uint8_t mask[2];
    k_rng_seed(&rng, 1);
    float bad[] = {1.0f, -0.1f, NAN, 2.0f};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(k_dropout_forward(x, y, mask, 2, bad[i], &rng, &d), KDC_ERR);
        assert_non_null(strstr(d.msg, "Dropout"));
    }
}

typedef struct DropoutCase {
    float *x, *y, *w;
    uint8_t *mask;
    int64_t n;
} DropoutCase;

/* Reseeding draws the same mask each time, as a replayed training step would. */
static double dropout_loss(void *ctx)
{
    DropoutCase *c = ctx;
    KRng rng;
    k_rng_seed(&rng, 99);
    assert_int_equal(k_dropout_forward(c->x, c->y, c->mask, c->n, 0.4f, &rng, NULL), KDC_OK);
    return gc_weighted_sum(c->y, c->w, (size_t)c->n);
}

static void test_dropout_grad(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 72);
    DropoutCase c = {.n = 300};
    c.x = gc_uniform(&rng, 300, -1, 1);
    c.y = gc_alloc(300);
    c.w = gc_uniform(&rng, 300, -1, 1);
    c.mask = malloc(300);
    dropout_loss(&c);
    float *dx = gc_grad_buffer(300);
    k_dropout_backward(c.mask, c.w, dx, 300, 0.4f);
    k_dropout_backward(c.mask, c.w, NULL, 300, 0.4f);
    GcTol tol = {1e-2, 1e-4, 1e-3};
    assert_int_equal(gc_check("dropout dx", c.x, 300, dx, dropout_loss, &c, tol), 0);
    free(c.x), free(c.y), free(c.w), free(c.mask), free(dx);
}

/* ---- MT19937 and NumPy-compatible masks ---- */

/* Matsumoto & Nishimura's published outputs: init_genrand(5489) (also the
 * C++ std::mt19937 default, whose 10000th output the standard fixes at
 * 4123659995) and init_by_array({0x123, 0x234, 0x345, 0x456}) (mt19937ar.out). */
static void test_mt_known_answers(void **state)
{
    (void)state;
    static KMt19937 g;
    const uint32_t genrand[5] = {3499211612u, 581869302u, 3890346734u, 3586334585u, 545404204u};
    k_mt_seed(&g, 5489);
    for (int i = 0; i < 5; i++)
        assert_int_equal(k_mt_next(&g), genrand[i]);
    for (int i = 5; i < 9999; i++)
        k_mt_next(&g);
    assert_int_equal(k_mt_next(&g), 4123659995u);
    const uint32_t key[4] = {0x123, 0x234, 0x345, 0x456};
    const uint32_t by_array[5] = {1067595299u, 955945823u, 477289528u, 4107218783u, 4228976476u};
    k_mt_seed_key(&g, key, 4);
    for (int i = 0; i < 5; i++)
        assert_int_equal(k_mt_next(&g), by_array[i]);
}

static void expect_uniforms(KMt19937 *g, const double *want, int n)
{
    for (int i = 0; i < n; i++) {
        double u = k_mt_uniform(g);
        if (u != want[i])
            fail_msg("draw %d: got %.17g, expected %.17g", i, u, want[i]);
    }
}

/* Exact doubles (Python's repr round-trips) from
 *   python3 -c "import numpy as np; np.random.seed(0); print([repr(u) for u in np.random.uniform(0,1,4)])"
 * and, for seeds of 33 bits and more, np.random.seed(np.array([5, 1])) and
 * np.random.seed(np.array([0xffffffff, 0xffffffff])) with uniform(0,1,3). */
static void test_mt_uniform_matches_numpy(void **state)
{
    (void)state;
    static KMt19937 g;
    k_mt_seed_u64(&g, 0);
    expect_uniforms(&g, (const double[]){0.5488135039273248, 0.7151893663724195, 0.6027633760716439,
                                         0.5448831829968969}, 4);
    k_mt_seed_u64(&g, (1ull << 32) + 5);
    expect_uniforms(&g, (const double[]){0.15727238718789782, 0.2824866316461999, 0.6044540318498407}, 3);
    k_mt_seed_u64(&g, (uint64_t)(int64_t)-1);
    expect_uniforms(&g, (const double[]){0.021825695401270107, 0.3380953268613758, 0.21196748656082065}, 3);
}

/* From python3 -c "import numpy as np; x=np.arange(12,dtype=np.float32)*0.25-1.5; r=np.float32(0.3);
 *   np.random.seed(42); m=np.random.uniform(0,1,x.shape)>=r; print(m.astype(int).tolist(), (m*x*(1/(1-r))).tolist())" */
static void test_dropout_seeded_float_matches_numpy(void **state)
{
    (void)state;
    static KMt19937 g;
    const uint8_t want_keep[12] = {1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1};
    const float want_y[12] = {-2.142857074737549f, -1.7857143878936768f, -1.4285714626312256f,
                              -1.0714285373687744f, 0, 0, 0, 0.3571428656578064f, 0.7142857313156128f,
                              1.0714285373687744f, 0, 1.7857143878936768f};
    float x[12], y[12];
    uint8_t keep[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i * 0.25f - 1.5f;
    k_mt_seed_u64(&g, 42);
    k_dropout_mask_mt(&g, 0.3f, keep, 12);
    assert_memory_equal(keep, want_keep, 12);
    k_dropout_apply(KE_FLOAT, x, keep, 0.3f, y, 12);
    for (int i = 0; i < 12; i++)
        if (y[i] != want_y[i])
            fail_msg("y[%d]: got %.9g, expected %.9g", i, (double)y[i], (double)want_y[i]);
    k_dropout_apply(KE_FLOAT, x, keep, 0.3f, x, 12); /* in place */
    assert_memory_equal(x, y, sizeof y);
}

/* From python3 -c "import numpy as np; x=np.arange(10)*0.1-0.55; r=0.3; np.random.seed(7);
 *   m=np.random.uniform(0,1,x.shape)>=r; print(m.astype(int).tolist(), [repr(v) for v in m*x*(1/(1-r))])" */
static void test_dropout_double(void **state)
{
    (void)state;
    static KMt19937 g;
    const uint8_t want_keep[10] = {0, 1, 1, 1, 1, 1, 1, 0, 0, 1};
    const double want_y[10] = {0, -0.642857142857143, -0.5000000000000001, -0.35714285714285715,
                               -0.21428571428571433, -0.0714285714285715, 0.0714285714285715, 0, 0, 0.5};
    double x[10], y[10];
    uint8_t keep[10];
    for (int i = 0; i < 10; i++)
        x[i] = i * 0.1 - 0.55;
    k_mt_seed_u64(&g, 7);
    k_dropout_mask_mt(&g, 0.3, keep, 10);
    assert_memory_equal(keep, want_keep, 10);
    k_dropout_apply(KE_DOUBLE, x, keep, 0.3, y, 10);
    for (int i = 0; i < 10; i++)
        if (y[i] != want_y[i])
            fail_msg("y[%d]: got %.17g, expected %.17g", i, y[i], want_y[i]);
}

/* float16 bits from python3 -c "import numpy as np; x=(np.arange(10)*0.375-1.7).astype(np.float16);
 *   r=np.float32(0.5); np.random.seed(7); m=np.random.uniform(0,1,x.shape)>=r;
 *   print(m.astype(int).tolist(), [hex(v) for v in x.view(np.uint16)], [hex(v) for v in (m*x*(1/(1-r))).view(np.uint16)])"
 * (NumPy writes -0 where it drops a negative value; kdc writes +0). The
 * bfloat16 values are exact in bfloat16, so doubling them is exact too. */
static void test_dropout_half_types(void **state)
{
    (void)state;
    static KMt19937 g;
    const uint16_t x16[10] = {0xbecd, 0xbd4d, 0xbb9a, 0xb89a, 0xb266, 0x319a, 0x3866, 0x3b66, 0x3d33, 0x3eb3};
    const uint16_t want16[10] = {0x8000, 0xc14d, 0x8000, 0xbc9a, 0xb666, 0x359a, 0x3c66, 0x0, 0x0, 0x0};
    uint16_t y16[10], xb[10], yb[10];
    uint8_t keep[10];
    k_mt_seed_u64(&g, 7);
    k_dropout_mask_mt(&g, 0.5f, keep, 10);
    assert_memory_equal(keep, ((const uint8_t[]){0, 1, 0, 1, 1, 1, 1, 0, 0, 0}), 10);
    k_dropout_apply(KE_FLOAT16, x16, keep, 0.5f, y16, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(keep[i] ? y16[i] : y16[i] & 0x7fff, keep[i] ? want16[i] : 0);
    for (int i = 0; i < 10; i++) {
        float v = (float)i * 0.375f - 1.75f;
        uint32_t bits;
        memcpy(&bits, &v, 4);
        xb[i] = (uint16_t)(bits >> 16);
    }
    k_dropout_apply(KE_BFLOAT16, xb, keep, 0.5f, yb, 10);
    for (int i = 0; i < 10; i++) {
        uint32_t bits = (uint32_t)yb[i] << 16;
        float v;
        memcpy(&v, &bits, 4);
        assert_true(v == (keep[i] ? 2.0f * ((float)i * 0.375f - 1.75f) : 0.0f));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_uniform_range_and_seed),
        cmocka_unit_test(test_dropout_keep_rate_and_scale),
        cmocka_unit_test(test_dropout_rejects_bad_ratio),
        cmocka_unit_test(test_dropout_grad),
        cmocka_unit_test(test_mt_known_answers),
        cmocka_unit_test(test_mt_uniform_matches_numpy),
        cmocka_unit_test(test_dropout_seeded_float_matches_numpy),
        cmocka_unit_test(test_dropout_double),
        cmocka_unit_test(test_dropout_half_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
