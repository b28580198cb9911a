/* test_plan_quant.c - the window, ReverseSequence, MVN and quantization ops
 * through execution plans (runtime/op_quant.c, ir/infer_quant.c).
 *
 * A HannWindow whose size is an initializer (computed at build time) and a
 * symmetric double HammingWindow whose size is a graph input, which only
 * plan_build_with_values can size; QuantizeLinear per axis (opset 13) into
 * int8 and DequantizeLinear back, against references computed here;
 * DynamicQuantizeLinear's three outputs; and the errors for a per-axis
 * scale under opset 10 and an out-of-range sequence length; Det on a batch
 * of matrices; MaxUnpool of a MaxPool's outputs, with and without a larger
 * output_shape (an initializer). A training plan
 * through Mul (a parameter), ReverseSequence and MeanVarianceNormalization
 * is checked against central finite differences of the parameter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "tests/unit/plan_check.h"

/* ---- windows ---- */

static void test_windows(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *size4 = gb_ints(g, "size4", -1, (int64_t[]){4});
    Value *size = gb_input(g, "size", DT_INT64, 0, NULL);
    gb_append_output(g, gb_op1(g, "HannWindow", 17, "hann", size4));
    Node *ham = gb_node(g, "HammingWindow", 17, "ham", 1, &size, 1);
    gb_set_int(ham, "periodic", 0);
    gb_set_int(ham, "output_datatype", DT_DOUBLE);
    gb_append_output(g, ham->outputs[0]);
    Shape shapes[1] = {{.rank = 0}};
    Tensor *tsize = tensor_new(m->arena, DT_INT64, 0, NULL);
    *(int64_t *)tsize->data = 3;
    const Tensor *values[1] = {tsize};
    Diag d = {{0}};
    Plan *p = NULL;
    assert_int_equal(plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "has no concrete shape"));
    assert_int_equal(plan_build_with_values(g, PLAN_INFERENCE, shapes, values, 1, &p, &d), KDC_OK);
    *(int64_t *)plan_input(p, 0) = 3;
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 1, (int64_t[]){4});
    pc_expect_output(p, 1, DT_DOUBLE, 1, (int64_t[]){3});
    const float *hann = plan_output(p, 0);
    const double *hamming = plan_output(p, 1);
    assert_true(fabsf(hann[0]) < 1e-7f && fabsf(hann[1] - 0.5f) < 1e-7f && hann[2] == 1.0f);
    assert_true(fabs(hamming[0] - 4.0 / 46) < 1e-12 && fabs(hamming[1] - 1) < 1e-12 &&
                fabs(hamming[2] - 4.0 / 46) < 1e-12);
    plan_free(p);
    model_free(m);
}

/* ---- quantization ---- */

/* x [N, 2, 3] -> QuantizeLinear(axis 1, scales {0.5, 0.25}, int8 zero
 * points {0, -10}) -> DequantizeLinear back; and DynamicQuantizeLinear. */
static void test_quantize_roundtrip(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 2, 3});
    Value *scale = gb_init_copy(g, "scale", DT_FLOAT, 1, (int64_t[]){2}, (float[]){0.5f, 0.25f});
    Value *zp = gb_init_copy(g, "zp", DT_INT8, 1, (int64_t[]){2}, (int8_t[]){0, -10});
    Node *q = gb_node(g, "QuantizeLinear", 13, "q", 3, (Value *[]){x, scale, zp}, 1);
    Node *dq = gb_node(g, "DequantizeLinear", 13, "dq", 3, (Value *[]){q->outputs[0], scale, zp}, 1);
    Node *dyn = gb_node(g, "DynamicQuantizeLinear", 11, "dyn", 1, &x, 3);
    gb_append_output(g, q->outputs[0]);
    gb_append_output(g, dq->outputs[0]);
    for (int k = 0; k < 3; k++)
        gb_append_output(g, dyn->outputs[k]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    float *xv = plan_input(p, 0);
    const float xs[12] = {0.2f, 0.75f, -100, 1, 2, 3, -1, 0.125f, 40, 0.3f, -0.3f, 10};
    memcpy(xv, xs, sizeof xs);
    pc_forward(p);
    pc_expect_output(p, 0, DT_INT8, 3, (int64_t[]){2, 2, 3});
    pc_expect_output(p, 1, DT_FLOAT, 3, (int64_t[]){2, 2, 3});
    pc_expect_output(p, 3, DT_FLOAT, 0, NULL);
    pc_expect_output(p, 4, DT_UINT8, 0, NULL);
    /* 0.2/0.5=0.4->0, 0.75/0.5=1.5->2, -200->-128; 1/0.25=4-10=-6, 8-10=-2, 12-10=2;
     * -2, 0.25->0, 80; 1.2->1-10=-9, -1.2->-1-10=-11, 40-10=30 */
    const int8_t want_q[12] = {0, 2, -128, -6, -2, 2, -2, 0, 80, -9, -11, 30};
    assert_memory_equal(plan_output(p, 0), want_q, sizeof want_q);
    const float *y = plan_output(p, 1);
    for (int i = 0; i < 12; i++) {
        float s = (i / 3) % 2 ? 0.25f : 0.5f, z = (i / 3) % 2 ? -10.0f : 0.0f;
        assert_true(y[i] == ((float)want_q[i] - z) * s);
    }
    const float dyn_scale = *(const float *)plan_output(p, 3);
    assert_true(fabsf(dyn_scale - 140.0f / 255) < 1e-6f);
    assert_int_equal(*(const uint8_t *)plan_output(p, 4), 182); /* rint(100 / (140 / 255)) */
    plan_free(p);
    model_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){2, 2});
    Value *scale = gb_init_copy(g, "scale", DT_FLOAT, 1, (int64_t[]){2}, (float[]){1, 2});
    gb_append_output(g, gb_op2(g, "QuantizeLinear", 10, "q10", x, scale));
    Shape s = shape_from_dims(2, (int64_t[]){2, 2});
    Diag d = {{0}};
    Plan *p = NULL;
    assert_int_equal(plan_build(g, PLAN_INFERENCE, &s, 1, &p, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'q10' (QuantizeLinear): scale must be a scalar");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){2, 2});
    Value *lens = gb_ints(g, "lens", 2, (int64_t[]){1, 3});
    gb_append_output(g, gb_op2(g, "ReverseSequence", 10, "rs", x, lens));
    assert_int_equal(plan_build(g, PLAN_INFERENCE, &s, 1, &p, &d), KDC_OK);
    assert_int_equal(plan_forward(p, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'rs' (ReverseSequence): sequence length 3 of batch 1 is outside [0, 2]");
    plan_free(p);
    model_free(m);
}

/* ---- Det, MaxUnpool ---- */

static void test_det(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 2, 2});
    gb_append_output(g, gb_op1(g, "Det", 11, "det", x));
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    memcpy(plan_input(p, 0), (float[]){1, 2, 3, 4, 0, 5, -2, 1}, 8 * sizeof(float));
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 1, (int64_t[]){2});
    const float *y = plan_output(p, 0);
    assert_true(fabsf(y[0] + 2) < 1e-6f && fabsf(y[1] - 10) < 1e-6f);
    plan_free(p);
    model_free(m);
}

/* x [N, 1, 4, 4] -> MaxPool 2x2 stride 2 -> MaxUnpool: the maxima back in
 * place, zeros elsewhere; with output_shape [N, 1, 5, 5] the same inside a
 * zero border on the right and bottom. */
static void test_max_unpool(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 1, 4, 4});
    Node *pool = gb_node(g, "MaxPool", 12, "pool", 1, &x, 2);
    gb_set_ints(pool, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_set_ints(pool, "strides", 2, (int64_t[]){2, 2});
    Value *shape = gb_ints(g, "shape", 4, (int64_t[]){2, 1, 5, 5});
    Node *un = gb_node(g, "MaxUnpool", 11, "un", 2, pool->outputs, 1);
    Node *un5 = gb_node(g, "MaxUnpool", 11, "un5", 3, (Value *[]){pool->outputs[0], pool->outputs[1], shape}, 1);
    for (int k = 0; k < 2; k++) {
        Node *n = k ? un5 : un;
        gb_set_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
        gb_set_ints(n, "strides", 2, (int64_t[]){2, 2});
        gb_append_output(g, n->outputs[0]);
    }
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    float *xv = plan_input(p, 0);
    gb_fill_random(xv, 32, -1, 1);
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 4, (int64_t[]){2, 1, 4, 4});
    pc_expect_output(p, 1, DT_FLOAT, 4, (int64_t[]){2, 1, 5, 5});
    const float *y = plan_output(p, 0), *y5 = plan_output(p, 1);
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const float *blk = xv + b * 16 + (i / 2 * 2) * 4 + j / 2 * 2;
                float top = fmaxf(fmaxf(blk[0], blk[1]), fmaxf(blk[4], blk[5]));
                float want = xv[b * 16 + i * 4 + j] == top ? top : 0.0f;
                assert_true(y[b * 16 + i * 4 + j] == want && y5[b * 25 + i * 5 + j] == want);
            }
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 5; k++)
            assert_true(y5[b * 25 + 4 * 5 + k] == 0 && y5[b * 25 + k * 5 + 4] == 0);
    plan_free(p);
    model_free(m);
}

/* ---- training ---- */

/* out = MVN(ReverseSequence(x * w, lens {3, 1}; time axis 0, batch axis 1)),
 * x [3, 2, 3, 2] (the batch N = 3 is the time axis). */
static void test_training_gradients(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 3, 2});
    Value *w = gb_param(g, "w", 3, (int64_t[]){2, 3, 2}, -1, 1);
    Value *lens = gb_ints(g, "lens", 2, (int64_t[]){3, 1});
    Value *rs = gb_op2(g, "ReverseSequence", 10, "rs", gb_op2(g, "Mul", 14, "mul", x, w), lens);
    gb_append_output(g, gb_op1(g, "MeanVarianceNormalization", 13, "mvn", rs));
    pc_gradcheck(g, &(PcGradSpec){.batch = 3,
                                  .seed = 5,
                                  .expect_params = 1,
                                  .tol = {.eps = 1e-3, .atol = 1e-2, .rtol = 1e-2, .scale_numeric = true}});
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),    cmocka_unit_test(test_quantize_roundtrip),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_det),
        cmocka_unit_test(test_max_unpool), cmocka_unit_test(test_training_gradients),
    };
    gb_rng_seed(31);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
