/* test_plan_loss.c - NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss
 * through execution plans (runtime/op_loss.c, ir/infer_loss.c).
 *
 * Small graphs run forward and are compared with references computed here
 * in double: NLL on [N,C,d1,d2] with int32 targets, class weights and a
 * negative ignore_index under "mean" and "none", SCE (opset 12) with its
 * log_prob output under "sum". double, float16 and bfloat16 compute
 * through float (a double SCE evaluated at build time; a float16 NLL and a
 * bfloat16 SCE checked bit for bit). Errors are checked word for word: a bad reduction, mismatched target and
 * weight shapes, an opset before 12, wrong element types, and a target out
 * of range found at run time. Training plans are checked against central
 * finite differences of every parameter: Gemm -> SCE (mean, constant int64
 * labels, weights, ignore_index), SCE with gradients arriving on both its
 * outputs, and LogSoftmax -> NLL (sum).
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

/* An input whose dim 0 is the symbolic batch "N" (dims[0] is ignored). */
static Value *batch_input(Graph *g, const char *name, DType dt, int rank, const int64_t *dims)
{
    Shape s = shape_from_dims(rank, dims);
    s.dims[0] = (Dim){-1, "N"};
    return gb_input_shaped(g, name, dt, s);
}

static Node *loss_node(Graph *g, const char *op, int opset, const char *name, Value *x, Value *t, Value *w,
                       const char *reduction, int n_out)
{
    Node *n = gb_node(g, op, opset, name, w ? 3 : 2, (Value *[]){x, t, w}, n_out);
    if (reduction)
        gb_set_str(n, "reduction", reduction);
    return n;
}

/* ---- references ---- */

/* The loss of x [N,C,D] (log-probabilities, or scores when sce) per the
 * spec, in double: want holds N*D values for "none", else one. */
static void ref_loss(const float *x, const int64_t *t, const float *w, int64_t N, int64_t C, int64_t D, bool sce,
                     const int64_t *ignore, const char *reduction, double *want)
{
    double sum = 0, weights = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t i = n * D + d, c = t[i];
            double lse = 0;
            for (int64_t k = 0; sce && k < C; k++)
                lse += exp(x[(n * C + k) * D + d]);
            bool skip = ignore && c == *ignore;
            double wc = skip ? 0 : w ? w[c] : 1;
            double l = skip ? 0 : -wc * (x[(n * C + c) * D + d] - (sce ? log(lse) : 0));
            if (!strcmp(reduction, "none"))
                want[i] = l;
            sum += l;
            weights += wc;
        }
    if (strcmp(reduction, "none"))
        want[0] = !strcmp(reduction, "sum") ? sum : sum / weights;
}

/* ---- forward ---- */

/* NLL on [N,5,2,3] with int32 targets, weights and ignore_index -1. */
static void test_nll_forward(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", DT_FLOAT, 4, (int64_t[]){1, 5, 2, 3});
    Value *t = batch_input(g, "t", DT_INT32, 3, (int64_t[]){1, 2, 3});
    Value *w = gb_param(g, "w", 1, (int64_t[]){5}, 0.1f, 2);
    Node *mean = loss_node(g, "NegativeLogLikelihoodLoss", 13, "mean", x, t, w, NULL, 1);
    gb_set_int(mean, "ignore_index", -1);
    gb_append_output(g, mean->outputs[0]);
    Node *none = loss_node(g, "NegativeLogLikelihoodLoss", 12, "none", x, t, NULL, "none", 1);
    gb_set_int(none, "ignore_index", -1);
    gb_append_output(g, none->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    float *xv = plan_input(p, 0);
    int32_t *tv = plan_input(p, 1);
    int64_t t64[12], ignore = -1;
    gb_fill_random(xv, 60, -3, 0);
    for (int i = 0; i < 12; i++)
        tv[i] = (int32_t)(t64[i] = i % 4 == 1 ? -1 : (i * 7) % 5);
    pc_forward(p);
    double want_mean, want_none[12];
    ref_loss(xv, t64, w->init->data, 2, 5, 6, false, &ignore, "mean", &want_mean);
    ref_loss(xv, t64, NULL, 2, 5, 6, false, &ignore, "none", want_none);
    pc_expect_output(p, 0, DT_FLOAT, 0, NULL);
    pc_expect_output(p, 1, DT_FLOAT, 3, (int64_t[]){2, 2, 3});
    pc_expect_close(plan_output(p, 0), &want_mean, 1, 1e-6);
    pc_expect_close(plan_output(p, 1), want_none, 12, 1e-6);
    plan_free(p);
    model_free(m);
}

/* SCE of opset 12 on [N,4,3], reduction "sum", with log_prob. */
static void test_sce_forward_with_log_prob(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", DT_FLOAT, 3, (int64_t[]){1, 4, 3});
    Value *t = batch_input(g, "t", DT_INT64, 2, (int64_t[]){1, 3});
    Node *sce = loss_node(g, "SoftmaxCrossEntropyLoss", 12, "sce", x, t, NULL, "sum", 2);
    gb_append_output(g, sce->outputs[0]);
    gb_append_output(g, sce->outputs[1]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 3, 5);
    float *xv = plan_input(p, 0);
    int64_t *tv = plan_input(p, 1);
    gb_fill_random(xv, 36, -2, 2);
    for (int i = 0; i < 9; i++)
        tv[i] = (i * 5) % 4;
    pc_forward(p);
    double want, logp[36];
    ref_loss(xv, tv, NULL, 3, 4, 3, true, NULL, "sum", &want);
    for (int i = 0; i < 36; i++) {
        int n = i / 12, d = i % 3;
        double lse = 0;
        for (int k = 0; k < 4; k++)
            lse += exp(xv[(n * 4 + k) * 3 + d]);
        logp[i] = xv[i] - log(lse);
    }
    pc_expect_output(p, 0, DT_FLOAT, 0, NULL);
    pc_expect_output(p, 1, DT_FLOAT, 3, (int64_t[]){3, 4, 3});
    pc_expect_close(plan_output(p, 0), &want, 1, 1e-6);
    pc_expect_close(plan_output(p, 1), logp, 36, 1e-6);
    plan_free(p);
    model_free(m);
}

/* double SCE (all inputs constant: evaluated at build), float16 NLL and
 * bfloat16 SCE. */
static void test_other_types(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const double xd[6] = {0.5, -1, 2, 0, 0.25, -0.75};
    const int64_t td[2] = {2, 0};
    const double wd[3] = {0.5, 1, 2};
    Value *x = gb_init_copy(g, "xd", DT_DOUBLE, 2, (int64_t[]){2, 3}, xd);
    Value *t = gb_ints(g, "td", 2, td);
    Value *w = gb_init_copy(g, "wd", DT_DOUBLE, 1, (int64_t[]){3}, wd);
    Node *sce = loss_node(g, "SoftmaxCrossEntropyLoss", 13, "sce", x, t, w, "mean", 2);
    gb_append_output(g, sce->outputs[0]);
    gb_append_output(g, sce->outputs[1]);
    /* [[-0.5, -1.25, -2], [-0.25, -1, -3]] in float16; targets 1 and 2: 1.25 + 3 = 4.25 */
    const uint16_t xh[6] = {0xB800, 0xBD00, 0xC000, 0xB400, 0xBC00, 0xC200};
    Value *h = gb_init_copy(g, "xh", DT_FLOAT16, 2, (int64_t[]){2, 3}, xh);
    Node *nll =
        loss_node(g, "NegativeLogLikelihoodLoss", 13, "nll", h, gb_ints(g, "th", 2, (int64_t[]){1, 2}), NULL, "sum", 1);
    gb_append_output(g, nll->outputs[0]);
    /* bfloat16 SCE (opset 13) of [0, 0]: ln 2 = 0.6931 rounds to 0x3F31 (0.6914) */
    Value *b = gb_init_copy(g, "xb", DT_BFLOAT16, 2, (int64_t[]){1, 2}, (uint16_t[]){0, 0});
    Node *sce_b =
        loss_node(g, "SoftmaxCrossEntropyLoss", 13, "sce_b", b, gb_ints(g, "tb", 1, (int64_t[]){0}), NULL, "none", 1);
    gb_append_output(g, sce_b->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 1, 5);
    double lse0 = log(exp(0.5) + exp(-1) + exp(2)), lse1 = log(exp(0) + exp(0.25) + exp(-0.75));
    double want = (2 * (lse0 - 2) + 0.5 * (lse1 - 0)) / 2.5;
    pc_expect_output(p, 0, DT_DOUBLE, 0, NULL);
    pc_expect_output(p, 1, DT_DOUBLE, 2, (int64_t[]){2, 3});
    assert_float_equal(*(const double *)plan_output(p, 0), want, 1e-6);
    assert_float_equal(((const double *)plan_output(p, 1))[3], -lse1, 1e-6);
    pc_expect_output(p, 2, DT_FLOAT16, 0, NULL);
    assert_int_equal(*(const uint16_t *)plan_output(p, 2), 0x4440);
    pc_expect_output(p, 3, DT_BFLOAT16, 1, (int64_t[]){1});
    assert_int_equal(*(const uint16_t *)plan_output(p, 3), 0x3F31);
    plan_free(p);
    model_free(m);
}

/* ---- errors ---- */

typedef struct ErrorCase {
    const char *op;
    int opset;
    DType x_type, t_type;
    int t_rank;
    int64_t w_size; /* 0: no weights */
    const char *reduction;
    const char *msg;
} ErrorCase;

static void run_error_case(const ErrorCase *e)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", e->x_type, 3, (int64_t[]){1, 4, 3});
    Value *t = batch_input(g, "t", e->t_type, e->t_rank, (int64_t[]){1, 3, 3});
    Value *w = e->w_size ? gb_param(g, "w", 1, (int64_t[]){e->w_size}, 0, 1) : NULL;
    gb_append_output(g, loss_node(g, e->op, e->opset, "loss", x, t, w, e->reduction, 1)->outputs[0]);
    pc_expect_batch_build_error(g, PLAN_INFERENCE, 2, e->msg);
    model_free(m);
}

static void test_build_errors(void **state)
{
    (void)state;
    const char *nll = "NegativeLogLikelihoodLoss", *sce = "SoftmaxCrossEntropyLoss";
    const ErrorCase cases[] = {
        {nll, 13, DT_FLOAT, DT_INT64, 2, 0, "avg",
         "node 'loss' (NegativeLogLikelihoodLoss): attribute 'reduction' must be \"none\", \"sum\" or \"mean\""},
        {sce, 13, DT_FLOAT, DT_INT64, 3, 0, NULL,
         "node 'loss' (SoftmaxCrossEntropyLoss): the targets must have rank 2 (input 0's without C), got rank 3"},
        {nll, 13, DT_FLOAT, DT_INT64, 2, 5, NULL,
         "node 'loss' (NegativeLogLikelihoodLoss): the weights have 5 entries for 4 classes"},
        {sce, 11, DT_FLOAT, DT_INT64, 2, 0, NULL,
         "node 'loss' (SoftmaxCrossEntropyLoss): the op exists from opset 12 on, the model imports opset 11"},
        {nll, 13, DT_FLOAT, DT_FLOAT, 2, 0, NULL,
         "node 'loss' (NegativeLogLikelihoodLoss): the targets have type float; they must be int32 or int64"},
        {nll, 13, DT_BFLOAT16, DT_INT64, 2, 0, NULL,
         "node 'loss' (NegativeLogLikelihoodLoss): input 0 has type bfloat16; it takes float, double, float16"},
        {sce, 13, DT_DOUBLE, DT_INT64, 2, 4, NULL,
         "node 'loss' (SoftmaxCrossEntropyLoss): the weights have type float, input 0 has double"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_error_case(&cases[i]);
}

/* Target values are data: checked on every run. */
static void test_target_out_of_range(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", DT_FLOAT, 2, (int64_t[]){1, 5});
    Value *t = batch_input(g, "t", DT_INT64, 1, (int64_t[]){1});
    gb_append_output(g, loss_node(g, "SoftmaxCrossEntropyLoss", 13, "sce", x, t, NULL, NULL, 1)->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 5);
    int64_t *tv = plan_input(p, 1);
    tv[0] = 4;
    tv[1] = 5;
    Diag d = {{0}};
    assert_int_equal(plan_forward(p, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'sce' (SoftmaxCrossEntropyLoss): target 5 (element 1) is not a class in [0, 5)");
    tv[1] = -100;
    assert_int_equal(plan_forward(p, &d), KDC_ERR);
    tv[1] = 0;
    pc_forward(p);
    plan_free(p);
    model_free(m);
}

/* ---- training ---- */

/* pass when |numeric - analytic| <= 5e-3 * (1 + |numeric|) */
static const PcGradTol loss_tol = {.eps = 1e-3, .atol = 5e-3, .rtol = 5e-3, .scale_numeric = true};

/* Gemm -> SCE, reduction mean, labels a constant int64 initializer, class
 * weights (not trained) and ignore_index 2. */
static void test_training_gemm_sce(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *wt = gb_param(g, "W", 2, (int64_t[]){4, 3}, -1, 1), *b = gb_param(g, "b", 1, (int64_t[]){3}, -0.5f, 0.5f);
    Value *cw = gb_param(g, "class_weights", 1, (int64_t[]){3}, 0.5f, 2);
    Value *labels = gb_ints(g, "labels", 6, (int64_t[]){0, 1, 2, 1, 0, 2});
    Value *logits = gb_node(g, "Gemm", 13, "fc", 3, (Value *[]){x, wt, b}, 1)->outputs[0];
    Node *sce = loss_node(g, "SoftmaxCrossEntropyLoss", 13, "sce", logits, labels, cw, "mean", 1);
    gb_set_int(sce, "ignore_index", 2);
    gb_append_output(g, sce->outputs[0]);
    PcGradCheck gc = {pc_build(g, PLAN_TRAINING, 6, 5), {pc_random_floats(1)}, 1};
    gb_fill_random(plan_input(gc.p, 0), 24, -1, 1);
    gc.dy[0][0] = 1;
    pc_grad_verify(&gc, 2, loss_tol);
    pc_grad_free(&gc);
    model_free(m);
}

/* x * s -> SCE on [N,3,4], reduction none: gradients arrive on the loss
 * [N,4] and on log_prob [N,3,4]. */
static void test_training_sce_both_outputs(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 3, 4});
    Value *t = batch_input(g, "t", DT_INT32, 2, (int64_t[]){1, 4});
    Value *s = gb_param(g, "s", 2, (int64_t[]){3, 4}, 0.5f, 1.5f);
    Value *scores = gb_op2(g, "Mul", 14, "mul", x, s);
    Node *sce = loss_node(g, "SoftmaxCrossEntropyLoss", 13, "sce", scores, t, NULL, "none", 2);
    gb_append_output(g, sce->outputs[0]);
    gb_append_output(g, sce->outputs[1]);
    PcGradCheck gc = {pc_build(g, PLAN_TRAINING, 2, 5), {pc_random_floats(8), pc_random_floats(24)}, 2};
    gb_fill_random(plan_input(gc.p, 0), 24, -2, 2);
    int32_t *tv = plan_input(gc.p, 1);
    for (int i = 0; i < 8; i++)
        tv[i] = (i * 2) % 3;
    pc_grad_verify(&gc, 1, loss_tol);
    pc_grad_free(&gc);
    model_free(m);
}

/* x * s -> LogSoftmax(axis 1) -> NLL (sum, weights, ignore_index 0) on [N,4,2]. */
static void test_training_logsoftmax_nll(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 4, 2});
    Value *t = batch_input(g, "t", DT_INT64, 2, (int64_t[]){1, 2});
    Value *s = gb_param(g, "s", 1, (int64_t[]){2}, 0.5f, 1.5f), *cw = gb_param(g, "cw", 1, (int64_t[]){4}, 0.5f, 2);
    Node *lsm = gb_node(g, "LogSoftmax", 13, "lsm", 1, (Value *[]){gb_op2(g, "Mul", 14, "mul", x, s)}, 1);
    gb_set_int(lsm, "axis", 1);
    Node *nll = loss_node(g, "NegativeLogLikelihoodLoss", 13, "nll", lsm->outputs[0], t, cw, "sum", 1);
    gb_set_int(nll, "ignore_index", 0);
    gb_append_output(g, nll->outputs[0]);
    PcGradCheck gc = {pc_build(g, PLAN_TRAINING, 3, 5), {pc_random_floats(1)}, 1};
    gb_fill_random(plan_input(gc.p, 0), 24, -2, 2);
    int64_t *tv = plan_input(gc.p, 1);
    for (int i = 0; i < 6; i++)
        tv[i] = i % 4;
    pc_grad_verify(&gc, 1, loss_tol);
    pc_grad_free(&gc);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* clang-format off */
        cmocka_unit_test(test_nll_forward),
        cmocka_unit_test(test_sce_forward_with_log_prob),
        cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_target_out_of_range),
        cmocka_unit_test(test_training_gemm_sce),
        cmocka_unit_test(test_training_sce_both_outputs),
        cmocka_unit_test(test_training_logsoftmax_nll),
        /* clang-format on */
    };
    gb_rng_seed(29);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
