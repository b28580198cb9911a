/* test_loss_kd.c - unit tests for train/loss_kd.c.
 *
 * A 1x2 case worked by hand, a 3x4 case against PyTorch 1.13 (float64, values
 * pasted below), the alpha = 0 (plain cross entropy) and alpha = 1 (zero at
 * identical logits) limits, the gradient against central finite differences in
 * double, stability with huge logits, argument errors and the top-1 counters.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "train/loss_kd.h"
#include "train/rng.h"

static double kd(const float *s, const float *t, const int32_t *y, int64_t b, int64_t k,
                 double alpha, double temp, float *ds)
{
    double loss = NAN;
    Diag d = {{0}};
    if (loss_kd(s, t, y, b, k, alpha, temp, &loss, ds, &d))
        fail_msg("%s", d.msg);
    return loss;
}

/* s = [0, 0] gives q = [1/2, 1/2]; t = [ln 3, 0] gives p = [3/4, 1/4] at T = 1. */
static void test_hand_computed(void **state)
{
    (void)state;
    const float s[2] = {0, 0}, t[2] = {(float)log(3.0), 0};
    const int32_t y[1] = {0};
    float ds[2];
    double kl = 0.75 * log(1.5) + 0.25 * log(0.5), ce = log(2.0);
    assert_true(fabs(kd(s, t, y, 1, 2, 0.5, 1.0, ds) - (0.5 * kl + 0.5 * ce)) < 1e-7);
    /* 0.5 * (q - p) + 0.5 * (r - onehot) = 0.5 * (-1/4, 1/4) + 0.5 * (-1/2, 1/2) */
    assert_true(fabs(ds[0] - -0.375) < 1e-7);
    assert_true(fabs(ds[1] - 0.375) < 1e-7);
    /* At T = 2, p = softmax([ln 3 / 2, 0]) = [sqrt3, 1] / (sqrt3 + 1); times T^2 = 4. */
    double p0 = sqrt(3.0) / (sqrt(3.0) + 1), p1 = 1 - p0;
    double kl2 = p0 * log(2 * p0) + p1 * log(2 * p1);
    assert_true(fabs(kd(s, t, y, 1, 2, 1.0, 2.0, ds) - 4 * kl2) < 1e-6);
    assert_true(fabs(ds[0] - 2 * (0.5 - p0)) < 1e-6);
}

static void test_matches_pytorch(void **state)
{
    (void)state;
    const float s[12] = {1.0f, -2.0f, 0.5f, 3.0f,  0.0f,   0.1f,
                         -0.3f, 0.2f, 10.0f, -10.0f, 4.0f, 2.5f};
    const float t[12] = {0.5f, -1.0f, 2.0f, 1.0f,  3.0f,  0.0f,
                         0.0f, -3.0f, 8.0f, -9.0f, 5.0f, 0.0f};
    const int32_t y[3] = {3, 1, 2};
    /* torch: 0.7 * 16 * F.kl_div(F.log_softmax(s/4, 1), F.softmax(t/4, 1), reduction='batchmean')
     *        + 0.3 * F.cross_entropy(s, y), float64, and s.grad after backward(). */
    const double want_loss = 1.7172894078430776;
    const double want_grad[12] = {
        0.02587811408262486,  -0.03936580969677439,  -0.10519006426395174, 0.11867775987810125,
        -0.172864638564093,   -0.037215657399354354, 0.03108434953884239,  0.17899594642460484,
        0.19901698137113344,  -0.0036616682833555516, -0.221010680959495,  0.02565536787171704};
    float ds[12];
    /* 0.1 is not exact in float, hence the loose loss tolerance. */
    assert_true(fabs(kd(s, t, y, 3, 4, 0.7, 4.0, ds) - want_loss) < 1e-6);
    for (int i = 0; i < 12; i++)
        assert_true(fabs(ds[i] - want_grad[i]) < 1e-6);
}

static void test_alpha_limits(void **state)
{
    (void)state;
    const float s[6] = {2.0f, -1.0f, 0.5f, 0.0f, 0.0f, 4.0f};
    const float noise[6] = {9, 9, 9, -9, -9, -9};
    const int32_t y[2] = {1, 2};
    float ds[6], ds_no_teacher[6];
    /* alpha = 0: plain cross entropy; the teacher (and T) are ignored. */
    double ce = 0;
    for (int b = 0; b < 2; b++) {
        double lse = log(exp(s[3 * b]) + exp(s[3 * b + 1]) + exp(s[3 * b + 2]));
        ce += (lse - s[3 * b + y[b]]) / 2;
    }
    assert_true(fabs(kd(s, noise, y, 2, 3, 0.0, 3.0, ds) - ce) < 1e-9);
    assert_true(fabs(kd(s, NULL, y, 2, 3, 0.0, 0.0, ds_no_teacher) - ce) < 1e-9);
    assert_memory_equal(ds, ds_no_teacher, sizeof ds);
    /* alpha = 1 with identical logits: zero loss and zero gradient, labels unused. */
    assert_true(fabs(kd(s, s, NULL, 2, 3, 1.0, 4.0, ds)) < 1e-12);
    for (int i = 0; i < 6; i++)
        assert_true(fabs(ds[i]) < 1e-9);
    /* ds == NULL only computes the loss. */
    assert_true(fabs(kd(s, NULL, y, 2, 3, 0.0, 1.0, NULL) - ce) < 1e-9);
}

/* Central differences in double on a random batch, for several (alpha, T). */
static void test_gradient_finite_differences(void **state)
{
    (void)state;
    enum { B = 3, K = 5 };
    const double settings[4][2] = {{0.0, 1.0}, {1.0, 4.0}, {0.5, 2.0}, {0.9, 0.5}};
    Rng rng;
    rng_seed(&rng, 42);
    float s[B * K], t[B * K], ds[B * K];
    int32_t y[B];
    for (int i = 0; i < B * K; i++) {
        s[i] = (float)(2 * rng_normal(&rng));
        t[i] = (float)(2 * rng_normal(&rng));
    }
    for (int b = 0; b < B; b++)
        y[b] = (int32_t)rng_below(&rng, K);
    for (int c = 0; c < 4; c++) {
        double alpha = settings[c][0], temp = settings[c][1];
        kd(s, t, y, B, K, alpha, temp, ds);
        for (int i = 0; i < B * K; i++) {
            /* h is a power of two so s +- h is exact in float and the centre is unchanged. */
            const float h = 1.0f / 256, keep = s[i];
            s[i] = keep + h;
            double up = kd(s, t, y, B, K, alpha, temp, NULL);
            s[i] = keep - h;
            double down = kd(s, t, y, B, K, alpha, temp, NULL);
            s[i] = keep;
            double numeric = (up - down) / (2.0 * h);
            if (fabs(numeric - ds[i]) > 1e-4 * (1 + fabs(numeric)))
                fail_msg("alpha %g T %g: ds[%d] = %g, finite difference %g", alpha, temp, i,
                         (double)ds[i], numeric);
        }
    }
}

static void test_huge_logits_stay_finite(void **state)
{
    (void)state;
    const float s[3] = {1e30f, -1e30f, 0}, t[3] = {-1e30f, 1e30f, 0};
    const int32_t y[1] = {1};
    float ds[3];
    double loss = kd(s, t, y, 1, 3, 0.5, 2.0, ds);
    assert_true(isfinite(loss));
    for (int i = 0; i < 3; i++)
        assert_true(isfinite(ds[i]));
}

static void test_argument_errors(void **state)
{
    (void)state;
    const float s[2] = {0, 1}, t[2] = {1, 0}, bad[2] = {NAN, 0};
    const int32_t y[1] = {2}, ok[1] = {1};
    double loss;
    Diag d = {{0}};
    assert_int_equal(loss_kd(s, t, y, 1, 2, 0.5, 1, &loss, NULL, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "label 2"));
    assert_int_equal(loss_kd(s, t, ok, 1, 2, 1.5, 1, &loss, NULL, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "alpha"));
    assert_int_equal(loss_kd(s, t, ok, 1, 2, 0.5, 0, &loss, NULL, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "temperature"));
    assert_int_equal(loss_kd(s, NULL, ok, 1, 2, 0.5, 1, &loss, NULL, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "teacher logits"));
    assert_int_equal(loss_kd(s, t, NULL, 1, 2, 0.5, 1, &loss, NULL, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "labels"));
    assert_int_equal(loss_kd(bad, t, ok, 1, 2, 0.5, 1, &loss, NULL, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "non-finite student"));
    assert_int_equal(loss_kd(s, bad, ok, 1, 2, 0.5, 1, &loss, NULL, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "non-finite teacher"));
    assert_int_equal(loss_kd(s, t, ok, 0, 2, 0.5, 1, &loss, NULL, &d), KDC_ERR);
}

static void test_top1_counts(void **state)
{
    (void)state;
    const float a[9] = {1, 3, 3, /* tie: index 1 */ 5, 0, 0, /* 0 */ -1, -2, -0.5f /* 2 */};
    const float b[9] = {3, 3, 1, /* tie: index 0 */ 2, 1, 0, /* 0 */ 0, 0, 1 /* 2 */};
    const int32_t y[3] = {1, 1, 2};
    assert_int_equal(loss_argmax(a, 3), 1);
    assert_int_equal(loss_argmax(b, 3), 0);
    assert_int_equal(loss_count_correct(a, y, 3, 3), 2);
    assert_int_equal(loss_count_correct(b, y, 3, 3), 1);
    assert_int_equal(loss_count_agree(a, b, 3, 3), 2);
    assert_int_equal(loss_count_agree(a, a, 3, 3), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_matches_pytorch),
        cmocka_unit_test(test_alpha_limits),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_huge_logits_stay_finite),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_top1_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
