/* test_plan_sample.c - GridSample and Unique through execution plans
 * (runtime/op_sample.c, ir/infer_sample.c).
 *
 * GridSample on a symbolic batch with an identity grid (align_corners)
 * reproduces its input, and a bad mode is reported naming the node. Unique
 * of an initializer is computed at build time with all four outputs sized
 * from its values; Unique of a graph input fails plan_build with the
 * planner's message and builds with plan_build_with_values, bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "tests/unit/plan_check.h"

/* x [N, 2, 3, 4] sampled at the pixel centres with align_corners. */
static Graph *gridsample_graph(Model *m, const char *mode)
{
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 3, 4});
    Value *grid = gb_init(g, "grid", DT_FLOAT, 4, (int64_t[]){2, 3, 4, 2});
    float *gv = grid->init->data;
    for (int b = 0; b < 2; b++)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) {
                gv[((b * 3 + r) * 4 + c) * 2] = -1.0f + 2.0f * (float)c / 3.0f;
                gv[((b * 3 + r) * 4 + c) * 2 + 1] = -1.0f + (float)r;
            }
    Node *n = gb_node(g, "GridSample", 16, "gs", 2, (Value *[]){x, grid}, 1);
    gb_set_int(n, "align_corners", 1);
    gb_set_str(n, "mode", mode);
    gb_append_output(g, n->outputs[0]);
    return g;
}

static void test_gridsample_identity_plan(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = gridsample_graph(m, "bicubic");
    Shape shapes[1];
    int n = 0;
    Diag d = {{0}};
    Plan *p = NULL;
    if (plan_input_shapes_for_batch(g, 2, shapes, 1, &n, &d) || plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d))
        fail_msg("plan: %s", d.msg);
    float *x = plan_input(p, 0);
    gb_fill_random(x, 48, -1, 1);
    if (plan_forward(p, &d))
        fail_msg("forward: %s", d.msg);
    pc_expect_output(p, 0, DT_FLOAT, 4, (int64_t[]){2, 2, 3, 4});
    const float *y = plan_output(p, 0);
    for (int i = 0; i < 48; i++)
        assert_true(fabs(y[i] - x[i]) < 1e-5);
    plan_free(p);
    model_free(m);
}

static void test_gridsample_bad_mode(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = gridsample_graph(m, "linear"); /* opset 20's name, not 16's */
    Shape shapes[1];
    int n = 0;
    Diag d = {{0}};
    Plan *p = NULL;
    assert_int_equal(plan_input_shapes_for_batch(g, 1, shapes, 1, &n, &d), KDC_OK);
    assert_int_equal(plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "gs"));
    assert_non_null(strstr(d.msg, "'mode'"));
    model_free(m);
}

static Node *unique_node(Graph *g, Value *x, int64_t axis, bool with_axis)
{
    Node *n = gb_node(g, "Unique", 11, "u", 1, &x, 4);
    if (with_axis)
        gb_set_int(n, "axis", axis);
    for (int k = 0; k < 4; k++)
        gb_append_output(g, n->outputs[k]);
    return n;
}

/* Rows of [4, 2] along axis 0: {1,2} {0,5} {1,2} {0,5} {3,3} -> 3 rows. */
static void test_unique_initializer(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const int64_t xv[] = {1, 2, 0, 5, 1, 2, 3, 3};
    Value *x = gb_init_copy(g, "x", DT_INT64, 2, (int64_t[]){4, 2}, xv);
    unique_node(g, x, -2, true);
    Diag d = {{0}};
    Plan *p = NULL;
    if (plan_build(g, PLAN_INFERENCE, NULL, 1, &p, &d) || plan_forward(p, &d))
        fail_msg("plan: %s", d.msg);
    pc_expect_output(p, 0, DT_INT64, 2, (int64_t[]){3, 2});
    pc_expect_output(p, 1, DT_INT64, 1, (int64_t[]){3});
    pc_expect_output(p, 2, DT_INT64, 1, (int64_t[]){4});
    pc_expect_output(p, 3, DT_INT64, 1, (int64_t[]){3});
    const int64_t want_y[] = {0, 5, 1, 2, 3, 3}, want_idx[] = {1, 0, 3}, want_inv[] = {1, 0, 1, 2},
                  want_cnt[] = {1, 2, 1};
    assert_memory_equal(plan_output(p, 0), want_y, sizeof want_y);
    assert_memory_equal(plan_output(p, 1), want_idx, sizeof want_idx);
    assert_memory_equal(plan_output(p, 2), want_inv, sizeof want_inv);
    assert_memory_equal(plan_output(p, 3), want_cnt, sizeof want_cnt);
    plan_free(p);
    model_free(m);
}

static void test_unique_runtime_input(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){6});
    unique_node(g, x, 0, false);
    Shape shapes[1] = {shape_from_dims(1, (int64_t[]){6})};
    Diag d = {{0}};
    Plan *p = NULL;
    assert_int_equal(plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "no concrete shape"));
    Tensor *t = tensor_new(g->arena, DT_FLOAT, 1, (int64_t[]){6});
    const float xv[] = {2.5f, -1, 2.5f, 7, -1, -1};
    memcpy(t->data, xv, sizeof xv);
    const Tensor *values[1] = {t};
    if (plan_build_with_values(g, PLAN_INFERENCE, shapes, values, 1, &p, &d) || plan_forward(p, &d))
        fail_msg("plan: %s", d.msg);
    assert_true(plan_inputs_bound(p));
    pc_expect_output(p, 0, DT_FLOAT, 1, (int64_t[]){3});
    const float want_y[] = {-1, 2.5f, 7};
    const int64_t want_cnt[] = {3, 2, 1}, want_inv[] = {1, 0, 1, 2, 0, 0};
    assert_memory_equal(plan_output(p, 0), want_y, sizeof want_y);
    assert_memory_equal(plan_output(p, 2), want_inv, sizeof want_inv);
    assert_memory_equal(plan_output(p, 3), want_cnt, sizeof want_cnt);
    plan_free(p);
    model_free(m);
}

int main(void)
{
    gb_rng_seed(7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gridsample_identity_plan), cmocka_unit_test(test_gridsample_bad_mode),
        cmocka_unit_test(test_unique_initializer),       cmocka_unit_test(test_unique_runtime_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
