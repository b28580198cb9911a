/* test_kernels_dropout.c - training Dropout and its splitmix64 generator.
 *
 * Keep rate and scaling on a large draw, reproducibility from the seed,
 * ratio validation, and the backward against central finite differences
 * (tests/unit/gradcheck.h) with the mask held fixed by reseeding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_uniform_range_and_seed),
        cmocka_unit_test(test_dropout_keep_rate_and_scale),
        cmocka_unit_test(test_dropout_rejects_bad_ratio),
        cmocka_unit_test(test_dropout_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
