/* test_plan_dropout.c - Dropout through a plan: where its masks come from
 * (runtime/op_elementwise.c) and the data types it computes.
 *
 * Inference with training_mode true: a node's seed gives NumPy's masks (the
 * numbers are the ones test_kernels_dropout.c checks against numpy), the
 * same every run; training_mode and ratio read at run time; without a seed
 * the plan's seed decides. Double and float16 data at inference (a double
 * identity Dropout is bit-exact). Training plans with a seed attribute draw
 * MT19937's stream across runs and route the gradient through the mask.
 * The errors: a ratio out of range, a ratio of an integer type, non-float
 * data in a training plan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/kernels_random.h"
#include "tests/unit/plan_check.h"

static Value *bool_const(Graph *g, const char *name, uint8_t v)
{
    return gb_init_copy(g, name, DT_BOOL, 0, NULL, &v);
}

/* Dropout(x, ratio, mode) of opset 13 with outputs y and mask. */
static Node *dropout_node(Graph *g, Value *x, Value *ratio, Value *mode, bool seeded, int64_t seed)
{
    Node *n = gb_node(g, "Dropout", 13, "drop", 3, (Value *[]){x, ratio, mode}, 2);
    if (seeded)
        gb_set_int(n, "seed", seed);
    gb_append_output(g, n->outputs[0]);
    gb_append_output(g, n->outputs[1]);
    return n;
}

static Plan *build_or_fail(Graph *g, PlanMode mode, const Shape *shapes, uint64_t seed)
{
    Plan *p = NULL;
    Diag d = {{0}};
    if (plan_build(g, mode, shapes, seed, &p, &d))
        fail_msg("plan: %s", d.msg);
    return p;
}

/* The 12 values and seed-42, ratio-0.3 results of
 * test_kernels_dropout.c's test_dropout_seeded_float_matches_numpy. */
static const uint8_t keep42[12] = {1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1};
static const double y42[12] = {-2.142857074737549, -1.7857143878936768, -1.4285714626312256, -1.0714285373687744,
                               0, 0, 0, 0.3571428656578064, 0.7142857313156128, 1.0714285373687744, 0,
                               1.7857143878936768};

static void fill_x42(Plan *p)
{
    float *x = plan_input(p, 0);
    for (int i = 0; i < 12; i++)
        x[i] = (float)i * 0.25f - 1.5f;
}

static void expect_y42(const Plan *p)
{
    pc_expect_close(plan_output(p, 0), y42, 12, 0);
    assert_memory_equal(plan_output(p, 1), keep42, 12);
}

/* Constant training_mode=true and a seed: NumPy's masks, every run the same. */
static void test_seeded_masks_at_inference(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const float r = 0.3f;
    Value *x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){3, 4});
    dropout_node(g, x, gb_init_copy(g, "r", DT_FLOAT, 0, NULL, &r), bool_const(g, "t", 1), true, 42);
    Shape s = shape_from_dims(2, (int64_t[]){3, 4});
    Plan *p = build_or_fail(g, PLAN_INFERENCE, &s, 5);
    fill_x42(p);
    pc_forward(p);
    expect_y42(p);
    pc_forward(p);
    expect_y42(p);
    assert_ptr_not_equal(plan_output(p, 0), plan_input(p, 0));
    plan_free(p);
    model_free(m);
}

/* training_mode and ratio as graph inputs: read every run. */
static void test_mode_and_ratio_at_run_time(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){12});
    Value *r = gb_input(g, "r", DT_FLOAT, 0, NULL), *t = gb_input(g, "t", DT_BOOL, 0, NULL);
    dropout_node(g, x, r, t, true, 42);
    Shape s[3] = {shape_from_dims(1, (int64_t[]){12}), {.rank = 0}, {.rank = 0}};
    Plan *p = build_or_fail(g, PLAN_INFERENCE, s, 5);
    fill_x42(p);
    *(float *)plan_input(p, 1) = 0.3f;
    *(uint8_t *)plan_input(p, 2) = 0;
    pc_forward(p);
    assert_memory_equal(plan_output(p, 0), plan_input(p, 0), 12 * sizeof(float));
    for (int i = 0; i < 12; i++)
        assert_int_equal(((const uint8_t *)plan_output(p, 1))[i], 1);
    *(uint8_t *)plan_input(p, 2) = 1;
    pc_forward(p);
    expect_y42(p);
    *(float *)plan_input(p, 1) = 1.0f;
    Diag d = {{0}};
    assert_int_equal(plan_forward(p, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'drop' (Dropout): ratio 1 is outside [0, 1)");
    *(uint8_t *)plan_input(p, 2) = 0; /* a bad ratio does not matter when nothing is dropped */
    pc_forward(p);
    plan_free(p);
    model_free(m);
}

/* Without a seed attribute the plan's seed (and the step) picks the masks. */
static void test_plan_seed_without_attribute(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { N = 256 };
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){N});
    dropout_node(g, x, NULL, bool_const(g, "t", 1), false, 0);
    Shape s = shape_from_dims(1, (int64_t[]){N});
    uint8_t masks[3][N];
    const uint64_t seeds[3] = {3, 3, 4};
    for (int k = 0; k < 3; k++) {
        Plan *p = build_or_fail(g, PLAN_INFERENCE, &s, seeds[k]);
        gb_fill_random(plan_input(p, 0), N, 1, 2);
        pc_forward(p);
        memcpy(masks[k], plan_output(p, 1), N);
        int kept = 0;
        for (int i = 0; i < N; i++)
            kept += masks[k][i];
        assert_in_range(kept, N / 2 - 40, N / 2 + 40);
        plan_free(p);
    }
    assert_memory_equal(masks[0], masks[1], N);
    assert_memory_not_equal(masks[0], masks[2], N);
    model_free(m);
}

/* Double data, a double ratio: the kernel test's numpy values; and an
 * identity double Dropout returns the input's own bits. */
static void test_double_at_inference(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const double r = 0.3;
    Value *x = gb_input(g, "x", DT_DOUBLE, 1, (int64_t[]){10});
    dropout_node(g, x, gb_init_copy(g, "r", DT_DOUBLE, 0, NULL, &r), bool_const(g, "t", 1), true, 7);
    Node *plain = gb_node(g, "Dropout", 13, "plain", 1, &x, 1);
    gb_append_output(g, plain->outputs[0]);
    Shape s = shape_from_dims(1, (int64_t[]){10});
    Plan *p = build_or_fail(g, PLAN_INFERENCE, &s, 1);
    double *xd = plan_input(p, 0);
    for (int i = 0; i < 10; i++)
        xd[i] = i * 0.1 - 0.55;
    pc_forward(p);
    const double want[10] = {0, -0.642857142857143, -0.5000000000000001, -0.35714285714285715, -0.21428571428571433,
                             -0.0714285714285715, 0.0714285714285715, 0, 0, 0.5};
    pc_expect_output(p, 0, DT_DOUBLE, 1, (int64_t[]){10});
    const double *y = plan_output(p, 0);
    for (int i = 0; i < 10; i++)
        if (y[i] != want[i])
            fail_msg("y[%d]: got %.17g, expected %.17g", i, y[i], want[i]);
    assert_memory_equal(plan_output(p, 2), xd, 10 * sizeof(double));
    plan_free(p);
    model_free(m);
}

/* float16 data with a float16 ratio (T1): the kernel test's numpy bits. */
static void test_float16_at_inference(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const uint16_t half = 0x3800; /* 0.5 */
    Value *x = gb_input(g, "x", DT_FLOAT16, 1, (int64_t[]){10});
    dropout_node(g, x, gb_init_copy(g, "r", DT_FLOAT16, 0, NULL, &half), bool_const(g, "t", 1), true, 7);
    Shape s = shape_from_dims(1, (int64_t[]){10});
    Plan *p = build_or_fail(g, PLAN_INFERENCE, &s, 1);
    const uint16_t x16[10] = {0xbecd, 0xbd4d, 0xbb9a, 0xb89a, 0xb266, 0x319a, 0x3866, 0x3b66, 0x3d33, 0x3eb3};
    const uint16_t want16[10] = {0, 0xc14d, 0, 0xbc9a, 0xb666, 0x359a, 0x3c66, 0, 0, 0};
    memcpy(plan_input(p, 0), x16, sizeof x16);
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT16, 1, (int64_t[]){10});
    assert_memory_equal(plan_output(p, 0), want16, sizeof want16);
    assert_memory_equal(plan_output(p, 1), ((const uint8_t[]){0, 1, 0, 1, 1, 1, 1, 0, 0, 0}), 10);
    plan_free(p);
    model_free(m);
}

/* A training plan and a seed attribute: one MT19937 stream from
 * k_mt_seed_u64(seed), advancing run after run; backward through the mask. */
static void test_training_seeded_stream(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { N = 4, F = 16 };
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, F});
    Value *w = gb_param(g, "w", 1, (int64_t[]){F}, 1, 2);
    Node *drop = gb_node(g, "Dropout", 13, "drop", 1, (Value *[]){gb_op2(g, "Mul", 13, "h", x, w)}, 2);
    gb_set_int(drop, "seed", 9);
    gb_append_output(g, drop->outputs[0]);
    gb_append_output(g, drop->outputs[1]);
    Plan *p = pc_build(g, PLAN_TRAINING, N, 11);
    static KMt19937 ref;
    k_mt_seed_u64(&ref, 9);
    uint8_t want[N * F];
    for (int run = 0; run < 2; run++) {
        const float *xin = pc_fill_input(p, 0, 1, 2), *wv = pc_fdata(w);
        pc_forward(p);
        k_dropout_mask_mt(&ref, 0.5, want, N * F);
        assert_memory_equal(plan_output(p, 1), want, N * F);
        const float *y = plan_output(p, 0);
        for (int i = 0; i < N * F; i++)
            assert_true(y[i] == (want[i] ? 2.0f * (xin[i] * wv[i % F]) : 0.0f));
        plan_zero_grads(p);
        float *dy = plan_output_grad(p, 0);
        for (int i = 0; i < N * F; i++)
            dy[i] = 1.0f;
        plan_backward(p);
        PlanParam *params;
        assert_int_equal(plan_params(p, &params), 1);
        for (int f = 0; f < F; f++) {
            double dw = 0;
            for (int n = 0; n < N; n++)
                dw += want[n * F + f] ? 2.0 * xin[n * F + f] : 0.0;
            assert_true(fabs(params[0].grad[f] - dw) < 1e-4);
        }
    }
    plan_free(p);
    model_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const float one = 1.0f;
    const int64_t zero_i = 0;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){4});
    Node *n = dropout_node(g, x, gb_init_copy(g, "r", DT_FLOAT, 0, NULL, &one), bool_const(g, "t", 1), true, 1);
    Shape s = shape_from_dims(1, (int64_t[]){4});
    pc_expect_build_error(g, PLAN_INFERENCE, &s, "node 'drop' (Dropout): ratio 1 is outside [0, 1)");
    n->inputs[1] = gb_init_copy(g, "ri", DT_INT64, 0, NULL, &zero_i);
    pc_expect_build_error(g, PLAN_INFERENCE, &s,
                          "node 'drop' (Dropout): ratio has type int64; it must be float16, float or double");
    Model *m2 = model_new();
    Graph *g2 = m2->graph;
    Value *xd = gb_input(g2, "x", DT_DOUBLE, 1, (int64_t[]){4});
    gb_append_output(g2, gb_op1(g2, "Dropout", 13, "drop", xd));
    pc_expect_build_error(g2, PLAN_TRAINING, &s,
                          "node 'drop' (Dropout): type double: training computes float Dropout only (convert the "
                          "model to float first)");
    model_free(m2);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeded_masks_at_inference),
        cmocka_unit_test(test_mode_and_ratio_at_run_time),
        cmocka_unit_test(test_plan_seed_without_attribute),
        cmocka_unit_test(test_double_at_inference),
        cmocka_unit_test(test_float16_at_inference),
        cmocka_unit_test(test_training_seeded_stream),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
