/* test_plan_math.c - the elementwise math ops through execution plans
 * (runtime/op_math.c, op_math_binary.c, op_compare.c, ir/infer_math.c).
 *
 * Small graphs run forward and are compared with references computed here
 * in double: unary ops with attributes, Pow and PRelu broadcasting (PRelu's
 * per-channel slope before opset 7), bool outputs of comparisons and logic,
 * Where, the variadic Sum/Mean/Max/Min of three broadcast inputs, Clip under
 * opset 6 (attributes) and 13 (inputs), integer shape arithmetic (Equal,
 * Where, Mod, Max on int64) evaluated at build time, and double, int32 and
 * uint8 through the typed kernels. Errors are checked word for word. A
 * training plan through PRelu, Max, Clip, a comparison and Where is checked
 * against central finite differences of every parameter, and an op without
 * gradient on the path (Mod) is refused at build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "runtime/kernels.h"
#include "tests/unit/plan_check.h"

/* ---- forward against references ---- */

/* Selu with its defaults, Elu with alpha, Gelu tanh, Pow with a per-column
 * exponent, PRelu with a per-channel slope: [N,3,4] throughout. */
static void test_unary_and_broadcast_forward(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 3, 4});
    Value *e = gb_param(g, "e", 1, (int64_t[]){4}, 0.5f, 2), *slope = gb_param(g, "slope", 2, (int64_t[]){3, 1}, 0, 1);
    gb_append_output(g, gb_op1(g, "Selu", 6, "selu", x));
    Node *elu = gb_node(g, "Elu", 6, "elu", 1, &x, 1);
    gb_set_float(elu, "alpha", 0.5f);
    gb_append_output(g, elu->outputs[0]);
    Node *gelu = gb_node(g, "Gelu", 20, "gelu", 1, &x, 1);
    gb_set_str(gelu, "approximate", "tanh");
    gb_append_output(g, gelu->outputs[0]);
    gb_append_output(g, gb_op2(g, "Pow", 15, "pow", gb_op1(g, "Abs", 13, "abs", x), e));
    gb_append_output(g, gb_op2(g, "PRelu", 16, "prelu", x, slope));
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    const float *xv = pc_fill_input(p, 0, -2, 2);
    pc_forward(p);
    double want[5][24];
    for (int i = 0; i < 24; i++) {
        double v = xv[i];
        want[0][i] = v > 0 ? 1.0507009873554805 * v : 1.0507009873554805 * 1.6732632423543772 * (exp(v) - 1);
        want[1][i] = v < 0 ? 0.5 * (exp(v) - 1) : v;
        want[2][i] = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        want[3][i] = pow(fabs(v), pc_fdata(e)[i % 4]);
        want[4][i] = v < 0 ? v * pc_fdata(slope)[(i / 4) % 3] : v;
    }
    for (int k = 0; k < 5; k++) {
        pc_expect_output(p, k, DT_FLOAT, 3, (int64_t[]){2, 3, 4});
        pc_expect_close(plan_output(p, k), want[k], 24, 1e-5);
    }
    plan_free(p);
    model_free(m);
}

/* Before opset 7 a 1-D slope of the channel count applies along axis 1;
 * from opset 7 the same slope broadcasts numpy style (along the last axis). */
static void test_prelu_opsets(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 3, 2, 3});
    Value *slope = gb_param(g, "slope", 1, (int64_t[]){3}, 0, 1);
    gb_append_output(g, gb_op2(g, "PRelu", 6, "prelu6", x, slope));
    gb_append_output(g, gb_op2(g, "PRelu", 16, "prelu16", x, slope));
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    const float *xv = pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    double channel[36], last[36];
    for (int i = 0; i < 36; i++) {
        channel[i] = xv[i] < 0 ? xv[i] * pc_fdata(slope)[(i / 6) % 3] : xv[i];
        last[i] = xv[i] < 0 ? xv[i] * pc_fdata(slope)[i % 3] : xv[i];
    }
    pc_expect_close(plan_output(p, 0), channel, 36, 1e-6);
    pc_expect_close(plan_output(p, 1), last, 36, 1e-6);
    plan_free(p);
    model_free(m);
}

/* Comparisons give bool outputs that logic ops and Where consume. */
static void test_bool_outputs_and_where(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3}), *y = gb_param(g, "y", 1, (int64_t[]){3}, -1, 1);
    Value *gt = gb_op2(g, "Greater", 13, "gt", x, y), *le = gb_op2(g, "LessOrEqual", 16, "le", x, y);
    gb_append_output(g, gt);
    gb_append_output(g, gb_op2(g, "Xor", 7, "xor", gt, gb_op1(g, "Not", 1, "not", le)));
    Value *where =
        gb_node(g, "Where", 16, "where", 3, (Value *[]){gt, x, gb_op1(g, "Neg", 13, "neg", x)}, 1)->outputs[0];
    gb_append_output(g, where);
    Plan *p = pc_build(g, PLAN_INFERENCE, 4, 5);
    const float *xv = pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    pc_expect_output(p, 0, DT_BOOL, 2, (int64_t[]){4, 3});
    pc_expect_output(p, 1, DT_BOOL, 2, (int64_t[]){4, 3});
    const uint8_t *gtv = plan_output(p, 0), *xorv = plan_output(p, 1);
    double want[12];
    for (int i = 0; i < 12; i++) {
        bool above = xv[i] > pc_fdata(y)[i % 3];
        assert_int_equal(gtv[i], above);
        assert_int_equal(xorv[i], 0); /* Greater == Not(LessOrEqual) without NaN */
        want[i] = above ? xv[i] : -xv[i];
    }
    pc_expect_close(plan_output(p, 2), want, 12, 0);
    plan_free(p);
    model_free(m);
}

/* Sum, Mean, Max and Min of [N,3,4], [4] and [3,1]. */
static void test_variadic_three_inputs(void **state)
{
    (void)state;
    const char *ops[] = {"Sum", "Mean", "Max", "Min"};
    Model *m = model_new();
    Graph *g = m->graph;
    Value *a = gb_batch_input(g, "a", 3, (int64_t[]){1, 3, 4});
    Value *b = gb_param(g, "b", 1, (int64_t[]){4}, -1, 1), *c = gb_param(g, "c", 2, (int64_t[]){3, 1}, -1, 1);
    for (int k = 0; k < 4; k++)
        gb_append_output(g, gb_node(g, ops[k], 13, ops[k], 3, (Value *[]){a, b, c}, 1)->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    const float *av = pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    double want[4][24];
    for (int i = 0; i < 24; i++) {
        double u = av[i], v = pc_fdata(b)[i % 4], w = pc_fdata(c)[(i / 4) % 3];
        want[0][i] = u + v + w;
        want[1][i] = (u + v + w) / 3;
        want[2][i] = fmax(u, fmax(v, w));
        want[3][i] = fmin(u, fmin(v, w));
    }
    for (int k = 0; k < 4; k++) {
        pc_expect_output(p, k, DT_FLOAT, 3, (int64_t[]){2, 3, 4});
        pc_expect_close(plan_output(p, k), want[k], 24, 1e-6);
    }
    plan_free(p);
    model_free(m);
}

/* Opset 6 bounds are attributes, opset 13 bounds are inputs (max only here). */
static void test_clip_opsets(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 5});
    Node *c6 = gb_node(g, "Clip", 6, "clip6", 1, &x, 1);
    gb_set_float(c6, "min", -0.5f);
    gb_set_float(c6, "max", 0.25f);
    gb_append_output(g, c6->outputs[0]);
    Value *lo = gb_init_copy(g, "lo", DT_FLOAT, 0, NULL, (float[]){-0.5f});
    Value *hi = gb_init_copy(g, "hi", DT_FLOAT, 0, NULL, (float[]){0.25f});
    gb_append_output(g, gb_node(g, "Clip", 13, "clip13", 3, (Value *[]){x, lo, hi}, 1)->outputs[0]);
    gb_append_output(g, gb_node(g, "Clip", 13, "clip_max", 3, (Value *[]){x, NULL, hi}, 1)->outputs[0]);
    gb_append_output(g, gb_op1(g, "Clip", 6, "clip_none", x));
    Plan *p = pc_build(g, PLAN_INFERENCE, 3, 5);
    const float *xv = pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    double want[15], only_max[15], none[15];
    for (int i = 0; i < 15; i++) {
        want[i] = fmin(0.25, fmax(-0.5, xv[i]));
        only_max[i] = fmin(0.25, xv[i]);
        none[i] = xv[i];
    }
    pc_expect_close(plan_output(p, 0), want, 15, 0);
    pc_expect_close(plan_output(p, 1), want, 15, 0);
    pc_expect_close(plan_output(p, 2), only_max, 15, 0);
    pc_expect_close(plan_output(p, 3), none, 15, 0);
    plan_free(p);
    model_free(m);
}

/* Exporters' int64 arithmetic runs once, at build time. */
static void test_integer_arithmetic_at_build(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *a = gb_ints(g, "a", 4, (int64_t[]){2, -1, 7, -5}), *minus1 = gb_ints(g, "m1", -1, (int64_t[]){-1});
    Value *c = gb_ints(g, "c", 4, (int64_t[]){10, 20, 30, 40}), *three = gb_ints(g, "three", -1, (int64_t[]){3});
    Value *eq = gb_op2(g, "Equal", 13, "eq", a, minus1);
    gb_append_output(g, gb_node(g, "Where", 16, "where", 3, (Value *[]){eq, c, a}, 1)->outputs[0]);
    gb_append_output(g, gb_op2(g, "Mod", 13, "mod", a, three));
    Node *fmod = gb_node(g, "Mod", 13, "fmod", 2, (Value *[]){a, three}, 1);
    gb_set_int(fmod, "fmod", 1);
    gb_append_output(g, fmod->outputs[0]);
    gb_append_output(g, gb_node(g, "Max", 13, "max", 3, (Value *[]){a, three, minus1}, 1)->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 1, 5);
    const int64_t want[4][4] = {{2, 20, 7, -5}, {2, 2, 1, 1}, {2, -1, 1, -2}, {3, 3, 7, 3}};
    for (int k = 0; k < 4; k++) {
        pc_expect_output(p, k, DT_INT64, 1, (int64_t[]){4});
        assert_memory_equal(plan_output(p, k), want[k], sizeof want[k]);
    }
    pc_forward(p); /* nothing left to run */
    plan_free(p);
    model_free(m);
}

/* Types other than float run the typed kernels: double Mean divides in
 * double, int32 Pow is exact, uint8 Add wraps. */
static void test_other_types(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *da = gb_init_copy(g, "da", DT_DOUBLE, 1, (int64_t[]){3}, (double[]){1, 2.5, 1e-300});
    Value *db = gb_init_copy(g, "db", DT_DOUBLE, 1, (int64_t[]){3}, (double[]){3, -0.5, 3e-300});
    Value *ia = gb_init_copy(g, "ia", DT_INT32, 1, (int64_t[]){3}, (int32_t[]){3, -2, 7});
    Value *ib = gb_init_copy(g, "ib", DT_INT32, 1, (int64_t[]){3}, (int32_t[]){4, 3, 0});
    Value *ua = gb_init_copy(g, "ua", DT_UINT8, 1, (int64_t[]){3}, (uint8_t[]){200, 1, 255});
    gb_append_output(g, gb_node(g, "Mean", 13, "mean", 2, (Value *[]){da, db}, 1)->outputs[0]);
    gb_append_output(g, gb_op2(g, "Pow", 15, "pow", ia, ib));
    gb_append_output(g, gb_op2(g, "Add", 14, "add", ua, ua));
    Plan *p = pc_build(g, PLAN_INFERENCE, 1, 5);
    const double mean[] = {2, 1, 2e-300};
    const int32_t pow_[] = {81, -8, 1};
    const uint8_t add[] = {144, 2, 254};
    assert_memory_equal(plan_output(p, 0), mean, sizeof mean);
    assert_memory_equal(plan_output(p, 1), pow_, sizeof pow_);
    assert_memory_equal(plan_output(p, 2), add, sizeof add);
    plan_free(p);
    model_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3}), *y = gb_param(g, "y", 1, (int64_t[]){3}, -1, 1);
    gb_append_output(g, gb_op2(g, "Mod", 13, "mod", x, y));
    Shape s = shape_from_dims(2, (int64_t[]){2, 3});
    pc_expect_build_error(g, PLAN_INFERENCE, &s,
                          "node 'mod' (Mod): fmod must be 1 for floating-point inputs (type float)");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3});
    y = gb_param(g, "y", 1, (int64_t[]){3}, -1, 1);
    gb_append_output(g, gb_op2(g, "Max", 6, "old_max", x, y));
    pc_expect_build_error(g, PLAN_INFERENCE, &s,
                          "node 'old_max' (Max): input 1's shape differs from input 0's; broadcasting needs opset 8");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3});
    Node *gelu = gb_node(g, "Gelu", 20, "gelu", 1, &x, 1);
    gb_set_str(gelu, "approximate", "erf");
    gb_append_output(g, gelu->outputs[0]);
    pc_expect_build_error(g, PLAN_INFERENCE, &s,
                          "node 'gelu' (Gelu): attribute 'approximate' must be \"none\" or \"tanh\"");
    model_free(m);
}

/* ---- training ---- */

/* How far the last forward sits from PRelu's kink, Max's ties, Clip's
 * corners and the comparison's switch (same-shape or trailing-broadcast inputs). */
static double kink_margin(const Plan *p)
{
    double margin = INFINITY;
    for (int i = 0; i < p->n_steps; i++) {
        const Step *s = &p->steps[i];
        const float *x = rt_f(s->in[0]);
        for (int64_t k = 0; k < s->in[0]->numel; k++) {
            if (s->node->op == OP_PRelu)
                margin = fmin(margin, fabs(x[k]));
            else if (s->node->op == OP_Max || s->node->op == OP_Greater)
                margin = fmin(margin, fabs(x[k] - rt_f(s->in[1])[k % s->in[1]->numel]));
            else if (s->node->op == OP_Clip)
                margin = fmin(margin, fmin(fabs(x[k] + 0.3), fabs(x[k] - 0.4)));
        }
    }
    return margin;
}

static void fill_training_inputs(Plan *p, void *ctx)
{
    (void)ctx;
    pc_fill_input(p, 0, -1, 1);
    pc_fill_input(p, 1, -1.2f, 0.2f); /* mostly below h: Where takes every branch */
}

/* h = x*w; out = Where(Greater(h, x2), Max(PRelu(h, slope), c), Clip(h)):
 * the comparison reads a value that carries a gradient and passes none. */
static void test_training_gradients(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4}), *x2 = gb_batch_input(g, "x2", 2, (int64_t[]){1, 4});
    Value *w = gb_param(g, "w", 1, (int64_t[]){4}, 0.5f, 1.5f),
          *slope = gb_param(g, "slope", 1, (int64_t[]){4}, 0.3f, 0.6f);
    Value *c = gb_param(g, "c", 1, (int64_t[]){4}, -0.25f, 0.05f);
    Value *h = gb_op2(g, "Mul", 13, "mul", x, w);
    Value *mx = gb_op2(g, "Max", 13, "max", gb_op2(g, "PRelu", 16, "prelu", h, slope), c);
    Node *clip = gb_node(g, "Clip", 6, "clip", 1, &h, 1);
    gb_set_float(clip, "min", -0.3f);
    gb_set_float(clip, "max", 0.4f);
    Value *cond = gb_op2(g, "Greater", 13, "gt", h, x2);
    gb_append_output(g, gb_node(g, "Where", 16, "where", 3, (Value *[]){cond, mx, clip->outputs[0]}, 1)->outputs[0]);
    pc_gradcheck(g,
                 &(PcGradSpec){.batch = 6,
                               .seed = 5,
                               .expect_params = 3,
                               .tol = {.eps = 1e-3, .atol = 5e-3, .rtol = 5e-3, .scale_numeric = true, .margin = 5e-3},
                               .fill = fill_training_inputs,
                               .kink_margin = kink_margin});
    model_free(m);
}

static void test_no_gradient_through_mod(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3}), *w = gb_param(g, "w", 1, (int64_t[]){3}, 1, 2);
    Node *mod = gb_node(g, "Mod", 13, "mod", 2, (Value *[]){x, w}, 1);
    gb_set_int(mod, "fmod", 1);
    gb_append_output(g, mod->outputs[0]);
    Shape s = shape_from_dims(2, (int64_t[]){2, 3});
    pc_expect_build_error(g, PLAN_TRAINING, &s,
                          "node 'mod' (Mod): has no gradient but lies between trainable parameters and the loss");
    Plan *p = NULL;
    Diag d = {{0}};
    assert_int_equal(plan_build(g, PLAN_INFERENCE, &s, 1, &p, &d), KDC_OK);
    plan_free(p);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* clang-format off */
        cmocka_unit_test(test_unary_and_broadcast_forward),
        cmocka_unit_test(test_prelu_opsets),
        cmocka_unit_test(test_bool_outputs_and_where),
        cmocka_unit_test(test_variadic_three_inputs),
        cmocka_unit_test(test_clip_opsets),
        cmocka_unit_test(test_integer_arithmetic_at_build),
        cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_training_gradients),
        cmocka_unit_test(test_no_gradient_through_mod),
        /* clang-format on */
    };
    gb_rng_seed(17);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
