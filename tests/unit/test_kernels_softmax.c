/* test_kernels_softmax.c - Softmax and LogSoftmax along one axis.
 *
 * Forward against a double-precision reference on [outer, n, inner] views
 * (inner 1 and strided), stability on huge logits, and both backwards
 * against central finite differences (tests/unit/gradcheck.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels.h"
#include "runtime/threads.h"

static const GcTol softmax_tol = {1e-2, 1e-3, 1e-2};

typedef struct SoftmaxCase {
    SoftmaxDims sd;
    bool log;
    float *x, *y, *w;
    size_t n;
} SoftmaxCase;

static double softmax_loss(void *ctx)
{
    SoftmaxCase *c = ctx;
    if (c->log)
        k_logsoftmax_forward(&c->sd, c->x, c->y);
    else
        k_softmax_forward(&c->sd, c->x, c->y);
    return gc_weighted_sum(c->y, c->w, c->n);
}

static void softmax_check_forward(const SoftmaxCase *c)
{
    const SoftmaxDims *d = &c->sd;
    for (int64_t o = 0; o < d->outer; o++)
        for (int64_t i = 0; i < d->inner; i++) {
            double sum = 0;
            for (int64_t k = 0; k < d->n; k++)
                sum += exp(c->x[(o * d->n + k) * d->inner + i]);
            for (int64_t k = 0; k < d->n; k++) {
                size_t at = (size_t)((o * d->n + k) * d->inner + i);
                double ref = c->log ? c->x[at] - log(sum) : exp(c->x[at]) / sum;
                assert_float_equal(c->y[at], ref, 1e-6);
            }
        }
}

static void softmax_case_run(SoftmaxDims sd, bool log, KRng *rng)
{
    SoftmaxCase c = {.sd = sd, .log = log, .n = (size_t)(sd.outer * sd.n * sd.inner)};
    c.x = gc_uniform(rng, c.n, -2, 2);
    c.y = gc_alloc(c.n);
    c.w = gc_uniform(rng, c.n, -1, 1);
    softmax_loss(&c);
    softmax_check_forward(&c);
    float *dx = gc_grad_buffer(c.n);
    if (log)
        k_logsoftmax_backward(&sd, c.y, c.w, dx);
    else
        k_softmax_backward(&sd, c.y, c.w, dx);
    int bad = gc_check(log ? "logsoftmax dx" : "softmax dx", c.x, c.n, dx, softmax_loss, &c,
                       softmax_tol);
    if (bad)
        fprintf(stderr, "  in [%lld,%lld,%lld]\n", (long long)sd.outer, (long long)sd.n,
                (long long)sd.inner);
    assert_int_equal(bad, 0);
    free(c.x), free(c.y), free(c.w), free(dx);
}

static void test_softmax_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 61);
    SoftmaxDims shapes[] = {{2, 5, 1}, {3, 4, 3}, {1, 7, 5}, {4, 1, 2}, {1, 10, 1}};
    for (int log = 0; log <= 1; log++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            softmax_case_run(shapes[i], log, &rng);
}

static void test_softmax_huge_logits(void **state)
{
    (void)state;
    SoftmaxDims sd = {1, 3, 1};
    float x[3] = {1000.0f, 999.0f, -1000.0f}, y[3], ly[3];
    k_softmax_forward(&sd, x, y);
    k_logsoftmax_forward(&sd, x, ly);
    double z = 1 + exp(-1.0);
    assert_float_equal(y[0], 1 / z, 1e-6);
    assert_float_equal(y[1], exp(-1.0) / z, 1e-6);
    assert_float_equal(y[2], 0.0f, 0);
    assert_float_equal(ly[0], -log(z), 1e-5);
    assert_float_equal(ly[2], -2000 - log(z), 1e-2);
}

/* Large enough to be split over lanes: each lane's work is identical. */
static void test_softmax_one_vs_two_threads(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    k_rng_seed(&rng, 62);
    SoftmaxDims sd = {64, 100, 7};
    size_t n = 64 * 100 * 7;
    float *x = gc_uniform(&rng, n, -3, 3), *y1 = gc_alloc(n), *y2 = gc_alloc(n);
    float *dx1 = gc_alloc(n), *dx2 = gc_alloc(n);
    k_softmax_forward(&sd, x, y1);
    k_logsoftmax_backward(&sd, y1, x, dx1);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    k_softmax_forward(&sd, x, y2);
    k_logsoftmax_backward(&sd, y2, x, dx2);
    threads_shutdown();
    assert_memory_equal(y1, y2, sizeof *y1 * n);
    assert_memory_equal(dx1, dx2, sizeof *dx1 * n);
    free(x), free(y1), free(y2), free(dx1), free(dx2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_grads),
        cmocka_unit_test(test_softmax_huge_logits),
        cmocka_unit_test(test_softmax_one_vs_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
