/* test_kernels_norm.c - BatchNormalization kernels.
 *
 * Inference forward against the formula; training forward against batch
 * statistics computed here (biased for normalizing, unbiased for the
 * running variance, ONNX momentum); both backwards against central finite
 * differences (tests/unit/gradcheck.h) on [N,C], [N,C,L] and NCHW shapes;
 * one thread against two.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels.h"
#include "runtime/threads.h"

static const GcTol bn_tol = {5e-3, 2e-3, 2e-2};

typedef struct BnCase {
    NormDims nd;
    bool training;
    float eps;
    float *x, *scale, *bias, *mean, *var, *y, *w, *save_mean, *save_invstd;
    size_t nx;
} BnCase;

static double bn_loss(void *ctx)
{
    BnCase *c = ctx;
    if (c->training)
        k_batchnorm_train_forward(&c->nd, c->x, c->scale, c->bias, c->eps, 0.9f, NULL, NULL,
                                  c->save_mean, c->save_invstd, c->y);
    else
        k_batchnorm_infer_forward(&c->nd, c->x, c->scale, c->bias, c->mean, c->var, c->eps,
                                  c->y);
    return gc_weighted_sum(c->y, c->w, c->nx);
}

static void bn_case_init(BnCase *c, NormDims nd, bool training, KRng *rng)
{
    *c = (BnCase){.nd = nd, .training = training, .eps = 1e-3f};
    c->nx = (size_t)nd.N * nd.C * nd.S;
    c->x = gc_uniform(rng, c->nx, -1, 2);
    c->scale = gc_uniform(rng, (size_t)nd.C, 0.5f, 1.5f);
    c->bias = gc_uniform(rng, (size_t)nd.C, -1, 1);
    c->mean = gc_uniform(rng, (size_t)nd.C, -0.5f, 0.5f);
    c->var = gc_uniform(rng, (size_t)nd.C, 0.5f, 2.0f);
    c->y = gc_alloc(c->nx);
    c->w = gc_uniform(rng, c->nx, -1, 1);
    c->save_mean = gc_alloc((size_t)nd.C);
    c->save_invstd = gc_alloc((size_t)nd.C);
}

static void bn_case_free(BnCase *c)
{
    free(c->x), free(c->scale), free(c->bias), free(c->mean), free(c->var), free(c->y);
    free(c->w), free(c->save_mean), free(c->save_invstd);
}

static size_t at(const NormDims *nd, int n, int c, int64_t s)
{
    return ((size_t)n * nd->C + c) * nd->S + s;
}

/* Batch mean and biased / unbiased variance of channel c, in double. */
static void batch_stats(const BnCase *c, int ch, double *mean, double *var, double *unbiased)
{
    double sum = 0, sq = 0, cnt = (double)c->nd.N * c->nd.S;
    for (int n = 0; n < c->nd.N; n++)
        for (int64_t s = 0; s < c->nd.S; s++)
            sum += c->x[at(&c->nd, n, ch, s)];
    *mean = sum / cnt;
    for (int n = 0; n < c->nd.N; n++)
        for (int64_t s = 0; s < c->nd.S; s++)
            sq += pow(c->x[at(&c->nd, n, ch, s)] - *mean, 2);
    *var = sq / cnt;
    *unbiased = sq / (cnt - 1);
}

static void bn_check_forward(const BnCase *c)
{
    const NormDims *nd = &c->nd;
    for (int ch = 0; ch < nd->C; ch++) {
        double mean = c->mean[ch], var = c->var[ch], unbiased;
        if (c->training) {
            batch_stats(c, ch, &mean, &var, &unbiased);
            assert_float_equal(c->save_mean[ch], mean, 1e-5);
            assert_float_equal(c->save_invstd[ch], 1 / sqrt(var + c->eps), 1e-4);
        }
        for (int n = 0; n < nd->N; n++)
            for (int64_t s = 0; s < nd->S; s++) {
                size_t i = at(nd, n, ch, s);
                double ref = (c->x[i] - mean) / sqrt(var + c->eps) * c->scale[ch] + c->bias[ch];
                assert_float_equal(c->y[i], ref, 1e-4);
            }
    }
}

static void bn_case_run(NormDims nd, bool training, KRng *rng)
{
    BnCase c;
    bn_case_init(&c, nd, training, rng);
    bn_loss(&c);
    bn_check_forward(&c);
    float *dx = gc_grad_buffer(c.nx), *ds = gc_grad_buffer((size_t)nd.C);
    float *db = gc_grad_buffer((size_t)nd.C);
    if (training)
        k_batchnorm_train_backward(&nd, c.x, c.scale, c.save_mean, c.save_invstd, c.w, dx, ds,
                                   db);
    else
        k_batchnorm_infer_backward(&nd, c.x, c.scale, c.mean, c.var, c.eps, c.w, dx, ds, db);
    int bad = gc_check("bn dx", c.x, c.nx, dx, bn_loss, &c, bn_tol);
    bad += gc_check("bn dscale", c.scale, (size_t)nd.C, ds, bn_loss, &c, bn_tol);
    bad += gc_check("bn dbias", c.bias, (size_t)nd.C, db, bn_loss, &c, bn_tol);
    if (bad)
        fprintf(stderr, "  in BN %s N%d C%d S%lld\n", training ? "train" : "infer", nd.N, nd.C,
                (long long)nd.S);
    assert_int_equal(bad, 0);
    bn_case_free(&c);
    free(dx), free(ds), free(db);
}

static void test_bn_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 41);
    NormDims shapes[] = {{4, 3, 1}, {3, 2, 5}, {2, 3, 12}, {1, 2, 9}};
    for (int training = 0; training <= 1; training++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            bn_case_run(shapes[i], training, &rng);
}

static void test_bn_running_stats_momentum(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 42);
    BnCase c;
    bn_case_init(&c, (NormDims){3, 4, 5}, true, &rng);
    float rm[4], rv[4];
    memcpy(rm, c.mean, sizeof rm);
    memcpy(rv, c.var, sizeof rv);
    k_batchnorm_train_forward(&c.nd, c.x, c.scale, c.bias, c.eps, 0.9f, c.mean, c.var,
                              c.save_mean, c.save_invstd, c.y);
    for (int ch = 0; ch < 4; ch++) {
        double mean, var, unbiased;
        batch_stats(&c, ch, &mean, &var, &unbiased);
        assert_float_equal(c.mean[ch], rm[ch] * 0.9 + mean * 0.1, 1e-5);
        assert_float_equal(c.var[ch], rv[ch] * 0.9 + unbiased * 0.1, 1e-5);
    }
    bn_case_free(&c);
}

/* Big enough to be split over channels: per-channel work is identical. */
static void test_bn_one_vs_two_threads(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    k_rng_seed(&rng, 43);
    BnCase c;
    NormDims nd = {8, 6, 1024};
    bn_case_init(&c, nd, true, &rng);
    float *y1 = gc_alloc(c.nx), *dx1 = gc_alloc(c.nx), *dx2 = gc_alloc(c.nx);
    float ds1[6] = {0}, ds2[6] = {0};
    bn_loss(&c);
    memcpy(y1, c.y, sizeof *y1 * c.nx);
    k_batchnorm_train_backward(&nd, c.x, c.scale, c.save_mean, c.save_invstd, c.w, dx1, ds1,
                               NULL);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    bn_loss(&c);
    k_batchnorm_train_backward(&nd, c.x, c.scale, c.save_mean, c.save_invstd, c.w, dx2, ds2,
                               NULL);
    threads_shutdown();
    assert_memory_equal(y1, c.y, sizeof *y1 * c.nx);
    assert_memory_equal(dx1, dx2, sizeof *dx1 * c.nx);
    assert_memory_equal(ds1, ds2, sizeof ds1);
    bn_case_free(&c);
    free(y1), free(dx1), free(dx2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_grads),
        cmocka_unit_test(test_bn_running_stats_momentum),
        cmocka_unit_test(test_bn_one_vs_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
