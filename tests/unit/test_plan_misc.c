/* test_plan_misc.c - the smaller ops through execution plans
 * (runtime/op_misc.c, op_einsum.c, ir/infer_misc.c).
 *
 * Small graphs run forward and are compared with references computed here:
 * Einsum on a symbolic batch (float) and on int64 initializers (computed at
 * build time, exactly); GatherND with batch_dims (opset 12); Hardmax's 2-D
 * coercion under opset 11 against one axis under 13; EyeLike with dtype and
 * k; CastLike float to double and float16; IsInf/IsNaN; BitShift; NonZero
 * and Compress whose output sizes come from initializers at build time, and
 * the error when NonZero's input is only known at run time. A training plan
 * through Einsum (two parameters), Shrink, GatherND and Compress is checked
 * against central finite differences of every parameter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "tests/unit/plan_check.h"

/* ---- builders ---- */

static Node *with_str(Node *n, const char *name, const char *v)
{
    gb_set_str(n, name, v);
    return n;
}

/* ---- forward ---- */

/* y = einsum("bij,jk->bik", x, w) on [N,2,3] x [3,4]; and an int64
 * "ij,j->i" of initializers, folded at build time. */
static void test_einsum(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 2, 3}), *w = gb_param(g, "w", 2, (int64_t[]){3, 4}, -1, 1);
    Node *e = with_str(gb_node(g, "Einsum", 12, "e", 2, (Value *[]){x, w}, 1), "equation", "bij,jk->bik");
    gb_append_output(g, e->outputs[0]);
    const int64_t a[] = {1, 2, 3, 4, 5, 6}, v[] = {10000000000, -1, 2};
    Value *ai = gb_init_copy(g, "a", DT_INT64, 2, (int64_t[]){2, 3}, a), *vi = gb_ints(g, "v", 3, v);
    Node *ei = with_str(gb_node(g, "Einsum", 12, "ei", 2, (Value *[]){ai, vi}, 1), "equation", "ij,j");
    gb_append_output(g, ei->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 3, 5);
    const float *xv = pc_fill_input(p, 0, -1, 1), *wv = w->init->data;
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 3, (int64_t[]){3, 2, 4});
    const float *y = plan_output(p, 0);
    for (int r = 0; r < 6; r++)
        for (int k = 0; k < 4; k++) {
            double want = 0;
            for (int j = 0; j < 3; j++)
                want += (double)xv[r * 3 + j] * wv[j * 4 + k];
            assert_true(fabs(y[r * 4 + k] - want) < 1e-5);
        }
    pc_expect_output(p, 1, DT_INT64, 1, (int64_t[]){2});
    const int64_t *yi = plan_output(p, 1);
    assert_true(yi[0] == 10000000000 - 2 + 6 && yi[1] == 40000000000 - 5 + 12);
    plan_free(p);
    model_free(m);
}

/* data [2, 3, 2], batch_dims 1, indices [2, 1, 1] -> [2, 1, 2]. */
static void test_gather_nd_batch(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 3, 2});
    Value *idx = gb_init_copy(g, "idx", DT_INT64, 3, (int64_t[]){2, 1, 1}, (int64_t[]){2, -3});
    Node *n = gb_node(g, "GatherND", 12, "gnd", 2, (Value *[]){x, idx}, 1);
    gb_set_int(n, "batch_dims", 1);
    gb_append_output(g, n->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    const float *xv = pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 3, (int64_t[]){2, 1, 2});
    const float *y = plan_output(p, 0);
    assert_true(y[0] == xv[4] && y[1] == xv[5] && y[2] == xv[6] && y[3] == xv[7]);
    plan_free(p);
    model_free(m);
}

/* Hardmax axis 1 on [N, 2, 3]: one 1 per batch row of 6 under opset 11, one
 * per (batch, column) under 13. */
static void test_hardmax_opsets(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 2, 3});
    Node *h11 = gb_node(g, "Hardmax", 11, "h11", 1, &x, 1), *h13 = gb_node(g, "Hardmax", 13, "h13", 1, &x, 1);
    gb_set_int(h13, "axis", 1);
    gb_append_output(g, h11->outputs[0]);
    gb_append_output(g, h13->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    const float *xv = pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    const float *y11 = plan_output(p, 0), *y13 = plan_output(p, 1);
    for (int b = 0; b < 2; b++) {
        int best = 0;
        for (int k = 1; k < 6; k++)
            best = xv[b * 6 + k] > xv[b * 6 + best] ? k : best;
        for (int k = 0; k < 6; k++)
            assert_true(y11[b * 6 + k] == (k == best));
        for (int c = 0; c < 3; c++) {
            int top = xv[b * 6 + 3 + c] > xv[b * 6 + c];
            assert_true(y13[b * 6 + c] == !top && y13[b * 6 + 3 + c] == top);
        }
    }
    plan_free(p);
    model_free(m);
}

/* EyeLike (int32, k = 1), CastLike to double and float16, IsInf positive
 * only, IsNaN, BitShift right by a broadcast scalar. */
static void test_small_ops(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3});
    Node *eye = gb_node(g, "EyeLike", 9, "eye", 1, &x, 1);
    gb_set_int(eye, "dtype", DT_INT32);
    gb_set_int(eye, "k", 1);
    gb_append_output(g, eye->outputs[0]);
    Value *like_d = gb_init(g, "ld", DT_DOUBLE, 1, (int64_t[]){1}), *like_h = gb_init(g, "lh", DT_FLOAT16, 0, NULL);
    gb_append_output(g, gb_op2(g, "CastLike", 15, "cd", x, like_d));
    gb_append_output(g, gb_op2(g, "CastLike", 15, "ch", x, like_h));
    Node *inf = gb_node(g, "IsInf", 10, "inf", 1, &x, 1);
    gb_set_int(inf, "detect_negative", 0);
    gb_append_output(g, inf->outputs[0]);
    gb_append_output(g, gb_op1(g, "IsNaN", 13, "nan", x));
    const uint8_t bits[] = {0x80, 0x0f}, by[] = {3};
    Value *bv = gb_init_copy(g, "bits", DT_UINT8, 1, (int64_t[]){2}, bits);
    Value *sv = gb_init_copy(g, "by", DT_UINT8, 0, NULL, by);
    gb_append_output(g, with_str(gb_node(g, "BitShift", 11, "shr", 2, (Value *[]){bv, sv}, 1), "direction",
                                 "RIGHT")->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    float *xv = plan_input(p, 0);
    const float in[] = {1.5f, INFINITY, -INFINITY, NAN, -2.0f, 0.0f};
    memcpy(xv, in, sizeof in);
    pc_forward(p);
    pc_expect_output(p, 0, DT_INT32, 2, (int64_t[]){2, 3});
    assert_memory_equal(plan_output(p, 0), ((int32_t[]){0, 1, 0, 0, 0, 1}), 6 * sizeof(int32_t));
    const double *yd = plan_output(p, 1);
    assert_true(yd[0] == 1.5 && isinf(yd[1]) && yd[4] == -2.0 && isnan(yd[3]));
    pc_expect_output(p, 2, DT_FLOAT16, 2, (int64_t[]){2, 3});
    assert_int_equal(((const uint16_t *)plan_output(p, 2))[4], 0xc000);
    assert_memory_equal(plan_output(p, 3), ((uint8_t[]){0, 1, 0, 0, 0, 0}), 6);
    assert_memory_equal(plan_output(p, 4), ((uint8_t[]){0, 0, 0, 1, 0, 0}), 6);
    assert_memory_equal(plan_output(p, 5), ((uint8_t[]){0x10, 0x01}), 2);
    plan_free(p);
    model_free(m);
}

/* Sizes that depend on data: NonZero of an initializer and Compress by an
 * initializer condition are planned from their values; NonZero of a graph
 * input is refused, naming the node. */
static void test_data_dependent_sizes(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *c = gb_init_copy(g, "c", DT_BOOL, 1, (int64_t[]){3}, (uint8_t[]){0, 1, 1});
    Node *cp = gb_node(g, "Compress", 11, "cp", 2, (Value *[]){x, c}, 1);
    gb_set_int(cp, "axis", -1);
    gb_append_output(g, cp->outputs[0]);
    Value *k = gb_init_copy(g, "k", DT_INT32, 2, (int64_t[]){2, 2}, (int32_t[]){0, 7, -1, 0});
    gb_append_output(g, gb_op1(g, "NonZero", 13, "nz", k));
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    const float *xv = pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 2, (int64_t[]){2, 2});
    const float *y = plan_output(p, 0);
    assert_true(y[0] == xv[1] && y[1] == xv[2] && y[2] == xv[5] && y[3] == xv[6]);
    pc_expect_output(p, 1, DT_INT64, 2, (int64_t[]){2, 2});
    assert_memory_equal(plan_output(p, 1), ((int64_t[]){0, 1, 1, 0}), 4 * sizeof(int64_t));
    plan_free(p);
    gb_append_output(g, gb_op1(g, "NonZero", 13, "nzx", x));
    Shape s = shape_from_dims(2, (int64_t[]){2, 4});
    Diag d = {{0}};
    assert_int_equal(plan_build(g, PLAN_INFERENCE, &s, 1, &p, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'nzx' (NonZero): output 'nzx_out' has no concrete shape (an input that decides "
                               "it is computed at run time, which kdc does not support yet)");
    model_free(m);
}

/* ---- training ---- */

/* h = einsum("bi,ij,jk->bk", x, w1, w2) [N,4]; s = Shrink(h, 0.05);
 * out = GatherND(Compress(s, [1,0,1,1], axis 1), [[2],[0]], batch 0) [2,3]. */
static void test_training_gradients(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3});
    Value *w1 = gb_param(g, "w1", 2, (int64_t[]){3, 5}, -1, 1), *w2 = gb_param(g, "w2", 2, (int64_t[]){5, 4}, -1, 1);
    Node *e = with_str(gb_node(g, "Einsum", 12, "e", 3, (Value *[]){x, w1, w2}, 1), "equation", "bi,ij,jk->bk");
    Node *sh = gb_node(g, "Shrink", 9, "sh", 1, &e->outputs[0], 1);
    gb_set_float(sh, "lambd", 0.05f);
    Value *c = gb_init_copy(g, "c", DT_BOOL, 1, (int64_t[]){4}, (uint8_t[]){1, 0, 1, 1});
    Node *cp = gb_node(g, "Compress", 11, "cp", 2, (Value *[]){sh->outputs[0], c}, 1);
    gb_set_int(cp, "axis", 1);
    Value *idx = gb_init_copy(g, "idx", DT_INT64, 2, (int64_t[]){2, 1}, (int64_t[]){2, 0});
    gb_append_output(g, gb_op2(g, "GatherND", 13, "gnd", cp->outputs[0], idx));
    pc_gradcheck(g, &(PcGradSpec){.batch = 3,
                                  .seed = 5,
                                  .expect_params = 2,
                                  .tol = {.eps = 1e-3, .atol = 5e-3, .rtol = 5e-3, .scale_numeric = true}});
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_einsum),         cmocka_unit_test(test_gather_nd_batch),
        cmocka_unit_test(test_hardmax_opsets), cmocka_unit_test(test_small_ops),
        cmocka_unit_test(test_data_dependent_sizes), cmocka_unit_test(test_training_gradients),
    };
    gb_rng_seed(23);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
