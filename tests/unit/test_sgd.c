/* test_sgd.c - unit tests for train/sgd.c.
 *
 * Three steps on one scalar worked by hand; three steps on two tensors with
 * changing gradients against torch.optim.SGD 1.13 (plain momentum, nesterov,
 * no momentum; values pasted below); caller-supplied momentum buffers; the
 * constant and cosine schedules; argument errors.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "train/sgd.h"

static void test_hand_computed_steps(void **state)
{
    (void)state;
    float p = 1.0f, g = 0.5f;
    SgdEntry e = {&p, &g, NULL, 1};
    Sgd opt;
    Diag d = {{0}};
    assert_int_equal(sgd_init(&opt, &e, 1, 0.9, 0.01, false, &d), KDC_OK);
    /* g' = 0.5 + 0.01 * 1 = 0.51, buf = 0.51, p = 1 - 0.1 * 0.51 */
    sgd_step(&opt, 0.1);
    assert_true(fabsf(p - 0.949f) < 1e-6f);
    assert_true(fabsf(opt.entries[0].momentum[0] - 0.51f) < 1e-6f);
    /* g' = 0.50949, buf = 0.9 * 0.51 + 0.50949 = 0.96849, p = 0.949 - 0.096849 */
    sgd_step(&opt, 0.1);
    assert_true(fabsf(p - 0.852151f) < 1e-6f);
    /* g' = 0.50852151, buf = 1.38016251, p = 0.714134749 */
    sgd_step(&opt, 0.1);
    assert_true(fabsf(p - 0.714134749f) < 1e-6f);
    assert_int_equal(opt.steps, 3);
    sgd_free(&opt);
}

/* Runs the torch comparison: params a [3] and b [2, 1], lr 0.05, wd 0.1. */
static void run_two_tensors(double momentum, bool nesterov, float *a, float *b)
{
    static const float ga[3][3] = {{0.5f, 0.25f, -1.0f}, {-0.5f, 1.0f, 2.0f}, {0.1f, 0.1f, 0.1f}};
    static const float gb[3][2] = {{1.0f, -1.0f}, {0.0f, 0.5f}, {2.0f, 2.0f}};
    const float a0[3] = {1.0f, -2.0f, 0.5f}, b0[2] = {3.0f, 0.25f};
    float grad_a[3], grad_b[2];
    memcpy(a, a0, sizeof a0);
    memcpy(b, b0, sizeof b0);
    SgdEntry entries[2] = {{a, grad_a, NULL, 3}, {b, grad_b, NULL, 2}};
    Sgd opt;
    Diag d = {{0}};
    if (sgd_init(&opt, entries, 2, momentum, 0.1, nesterov, &d))
        fail_msg("%s", d.msg);
    for (int k = 0; k < 3; k++) {
        memcpy(grad_a, ga[k], sizeof grad_a);
        memcpy(grad_b, gb[k], sizeof grad_b);
        sgd_step(&opt, 0.05);
    }
    sgd_free(&opt);
}

static void assert_params(const float *a, const float *b, const double want[5])
{
    for (int i = 0; i < 3; i++)
        if (fabs(a[i] - want[i]) > 1e-6)
            fail_msg("a[%d] = %.9g, torch %.9g", i, (double)a[i], want[i]);
    for (int i = 0; i < 2; i++)
        if (fabs(b[i] - want[3 + i]) > 1e-6)
            fail_msg("b[%d] = %.9g, torch %.9g", i, (double)b[i], want[3 + i]);
}

static void test_matches_pytorch(void **state)
{
    (void)state;
    /* torch.optim.SGD([a, b], lr=0.05, momentum=m, weight_decay=0.1, nesterov=n), 3 steps */
    const double momentum[5] = {0.947169185, -2.07752752, 0.426086217, 2.68165827, 0.230193734};
    const double nesterov[5] = {0.933208585, -2.10664725, 0.370739996, 2.52092123, 0.1521108};
    const double plain[5] = {0.980199218, -2.03727508, 0.437538713, 2.80572343, 0.170894966};
    float a[3], b[2];
    run_two_tensors(0.9, false, a, b);
    assert_params(a, b, momentum);
    run_two_tensors(0.9, true, a, b);
    assert_params(a, b, nesterov);
    run_two_tensors(0.0, false, a, b);
    assert_params(a, b, plain);
}

/* A buffer supplied by the caller (e.g. restored from a checkpoint) is used in
 * place; steps > 0 makes the first update blend with it. */
static void test_caller_buffer_and_resume(void **state)
{
    (void)state;
    float p[2] = {1.0f, 2.0f}, g[2] = {1.0f, 1.0f}, buf[2] = {10.0f, -10.0f};
    SgdEntry e = {p, g, buf, 2};
    Sgd opt;
    Diag d = {{0}};
    assert_int_equal(sgd_init(&opt, &e, 1, 0.5, 0.0, false, &d), KDC_OK);
    assert_null(opt.momentum_block);
    assert_ptr_equal(opt.entries[0].momentum, buf);
    opt.steps = 7;
    sgd_step(&opt, 1.0);
    assert_true(buf[0] == 6.0f && buf[1] == -4.0f); /* 0.5 * buf + 1 */
    assert_true(p[0] == -5.0f && p[1] == 6.0f);
    sgd_free(&opt);
}

static void test_schedules(void **state)
{
    (void)state;
    assert_true(sgd_schedule_lr(SGD_SCHEDULE_CONSTANT, 0.1, 57, 100) == 0.1);
    assert_true(fabs(sgd_schedule_lr(SGD_SCHEDULE_COSINE, 0.1, 0, 100) - 0.1) < 1e-15);
    assert_true(fabs(sgd_schedule_lr(SGD_SCHEDULE_COSINE, 0.1, 50, 100) - 0.05) < 1e-15);
    assert_true(fabs(sgd_schedule_lr(SGD_SCHEDULE_COSINE, 0.1, 25, 100) -
                     0.1 * 0.5 * (1 + sqrt(0.5))) < 1e-15);
    assert_true(fabs(sgd_schedule_lr(SGD_SCHEDULE_COSINE, 0.1, 100, 100)) < 1e-15);
    assert_true(fabs(sgd_schedule_lr(SGD_SCHEDULE_COSINE, 0.1, 150, 100)) < 1e-15);
    assert_true(sgd_schedule_lr(SGD_SCHEDULE_COSINE, 0.1, 5, 0) == 0.1);
}

static void test_argument_errors(void **state)
{
    (void)state;
    float p = 0, g = 0;
    SgdEntry e = {&p, &g, NULL, 1}, broken = {&p, NULL, NULL, 1};
    Sgd opt;
    Diag d = {{0}};
    assert_int_equal(sgd_init(&opt, &e, 1, -0.1, 0, false, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "momentum"));
    assert_int_equal(sgd_init(&opt, &e, 1, 0.9, NAN, false, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "weight decay"));
    assert_int_equal(sgd_init(&opt, &e, 1, 0.0, 0, true, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "nesterov"));
    assert_int_equal(sgd_init(&opt, &broken, 1, 0.9, 0, false, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "entry 0"));
    assert_int_equal(sgd_init(&opt, NULL, 0, 0.9, 0, false, &d), KDC_OK);
    sgd_step(&opt, 0.1); /* nothing to update */
    sgd_free(&opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed_steps),
        cmocka_unit_test(test_matches_pytorch),
        cmocka_unit_test(test_caller_buffer_and_resume),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_argument_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
