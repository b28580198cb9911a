/* test_plan_nn.c - plans through the further layer ops: ConvTranspose,
 * Conv 1-D/3-D, N-d and Lp pools, the global max/Lp pools, Instance-,
 * Layer-, Group- and LpNormalization, LRN, Resize and Upsample.
 *
 * The central check is a whole-graph gradient check of training plans
 * (every parameter's gradient against central finite differences of
 * sum(dLoss * outputs)), over a U-Net style decoder block (ConvTranspose,
 * InstanceNormalization, linear Resize), a LayerNormalization stack with a
 * broadcast Scale, N-d convolutions and pools, and the group/LRN/Lp
 * normalizations. Also: inference values of Resize and Upsample across
 * opsets, parameters that are not (Resize's scales), and the build-time
 * errors these ops raise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "passes/passes.h"
#include "tests/unit/plan_check.h"

/* ---- the whole-graph gradient check ---- */

static const PcGradTol smooth_tol = {1e-2, 5e-4, 5e-3, false, 0};
/* LayerNormalization over four values bends fast: a step of 1e-2 measures the curve */
static const PcGradTol curved_tol = {2e-3, 1e-3, 5e-3, false, 0};
/* with max pools: a smaller step, so no near tie flips under it */
static const PcGradTol max_tol = {1e-3, 2e-3, 1e-2, false, 0};

/* This file's plan seed, inputs uniform in [-1, 1). */
static void gradcheck(Graph *g, int64_t batch, int expect_params, PcGradTol tol)
{
    pc_gradcheck(g, &(PcGradSpec){.batch = batch, .seed = 3, .expect_params = expect_params, .tol = tol});
}

/* ---- builders ---- */

static Value *param(Graph *g, const char *name, int rank, const int64_t *dims)
{
    return gb_param(g, name, rank, dims, -0.5f, 0.5f);
}

static Value *floats(Graph *g, const char *name, int n, const float *v)
{
    return gb_init_copy(g, name, DT_FLOAT, 1, (int64_t[]){n}, v);
}

static Node *pool(Graph *g, const char *op, const char *name, Value *x, int n, const int64_t *k, const int64_t *s)
{
    Node *p = gb_node(g, op, 18, name, 1, &x, 1);
    gb_set_ints(p, "kernel_shape", n, k);
    gb_set_ints(p, "strides", n, s);
    return p;
}

/* ---- gradient checks ---- */

/* A U-Net decoder block: ConvTranspose up, InstanceNormalization, Resize down (linear). */
static void test_grad_decoder_block(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 3, 3});
    Node *up =
        gb_node(g, "ConvTranspose", 11, "up", 3,
                (Value *[]){x, param(g, "wt", 4, (int64_t[]){2, 3, 3, 3}), param(g, "bt", 1, (int64_t[]){3})}, 1);
    gb_set_ints(up, "strides", 2, (int64_t[]){2, 2});
    gb_set_ints(up, "pads", 4, (int64_t[]){1, 1, 1, 1});
    gb_set_ints(up, "output_padding", 2, (int64_t[]){1, 1}); /* [N,3,6,6] */
    Value *in = gb_node(g, "InstanceNormalization", 6, "in", 3,
                        (Value *[]){up->outputs[0], gb_param(g, "s", 1, (int64_t[]){3}, 0.5f, 1.5f),
                                    param(g, "b", 1, (int64_t[]){3})},
                        1)
                    ->outputs[0];
    Value *t = gb_op1(g, "Tanh", 13, "t", in);
    Node *rs = gb_node(g, "Resize", 13, "rs", 3,
                       (Value *[]){t, NULL, floats(g, "scales", 4, (float[]){1, 1, 0.75f, 0.5f})}, 1);
    gb_set_str(rs, "mode", "linear"); /* [N,3,4,3] */
    Node *ct1 = gb_node(g, "ConvTranspose", 11, "grouped", 2,
                        (Value *[]){rs->outputs[0], param(g, "wg", 4, (int64_t[]){3, 2, 2, 1})}, 1);
    gb_set_int(ct1, "group", 3);
    gb_set_ints(ct1, "dilations", 2, (int64_t[]){2, 1});
    gb_set_ints(ct1, "output_shape", 2, (int64_t[]){7, 4}); /* natural 6x3: one more row and column */
    gb_append_output(g, ct1->outputs[0]);
    gradcheck(g, 2, 5, smooth_tol);
    model_free(m);
}

static void test_grad_layernorm(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 3, 4});
    Value *h = gb_op2(g, "MatMul", 13, "mm", x, param(g, "w", 2, (int64_t[]){4, 4}));
    Node *ln =
        gb_node(g, "LayerNormalization", 17, "ln", 3,
                (Value *[]){h, gb_param(g, "g1", 1, (int64_t[]){4}, 0.5f, 1.5f), param(g, "b1", 1, (int64_t[]){4})},
                3); /* Mean and InvStdDev asked for, used by nobody */
    Value *t = gb_op1(g, "Tanh", 13, "t", ln->outputs[0]);
    Node *ln2 = gb_node(g, "LayerNormalization", 17, "ln2", 2,
                        (Value *[]){t, gb_param(g, "g2", 2, (int64_t[]){1, 4}, 0.5f, 1.5f)}, 1);
    gb_set_int(ln2, "axis", 1); /* over [3,4], the Scale broadcast along the 3 */
    gb_set_float(ln2, "epsilon", 1e-3f);
    gb_append_output(g, ln2->outputs[0]);
    gradcheck(g, 3, 4, curved_tol);
    model_free(m);
}

/* Conv 1-D and 3-D, MaxPool 1-D and 3-D, AveragePool 3-D, LpPool, global max and Lp pools. */
static void test_grad_nd_convs_and_pools(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x1 = gb_batch_input(g, "x1", 3, (int64_t[]){1, 2, 9});
    Node *c1 = gb_node(g, "Conv", 13, "c1", 3,
                       (Value *[]){x1, param(g, "w1", 3, (int64_t[]){4, 2, 3}), param(g, "b1", 1, (int64_t[]){4})}, 1);
    gb_set_ints(c1, "strides", 1, (int64_t[]){2});
    gb_set_ints(c1, "pads", 2, (int64_t[]){1, 1}); /* [N,4,5] */
    Value *t1 = gb_op1(g, "Tanh", 13, "t1", c1->outputs[0]);
    Value *m1 = pool(g, "MaxPool", "mp1", t1, 1, (int64_t[]){2}, (int64_t[]){1})->outputs[0]; /* [N,4,4] */
    Node *lp = pool(g, "LpPool", "lp", m1, 1, (int64_t[]){2}, (int64_t[]){2});                /* [N,4,2] */
    gb_set_int(lp, "p", 3);
    gb_append_output(g, lp->outputs[0]);
    Value *x2 = gb_batch_input(g, "x2", 5, (int64_t[]){1, 2, 4, 4, 4});
    Node *c3 =
        gb_node(g, "Conv", 13, "c3", 3,
                (Value *[]){x2, param(g, "w3", 5, (int64_t[]){3, 2, 2, 2, 2}), param(g, "b3", 1, (int64_t[]){3})},
                1); /* [N,3,3,3,3] */
    Value *s3 = gb_op1(g, "Sigmoid", 13, "s3", c3->outputs[0]);
    Value *m3 = pool(g, "MaxPool", "mp3", s3, 3, (int64_t[]){2, 2, 2}, (int64_t[]){1, 1, 1})->outputs[0];
    gb_append_output(g, gb_op1(g, "GlobalMaxPool", 1, "gmp", m3));
    Node *ap = pool(g, "AveragePool", "ap3", s3, 3, (int64_t[]){2, 2, 2}, (int64_t[]){2, 2, 2});
    gb_set_ints(ap, "pads", 6, (int64_t[]){1, 1, 1, 1, 1, 1});
    gb_set_int(ap, "count_include_pad", 1);
    gb_append_output(g, gb_op1(g, "GlobalLpPool", 2, "glp", ap->outputs[0]));
    gradcheck(g, 2, 4, max_tol);
    model_free(m);
}

static void test_grad_group_lrn_lp(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 4, 3, 3});
    Node *g18 = gb_node(
        g, "GroupNormalization", 18, "g18", 3,
        (Value *[]){x, gb_param(g, "s18", 1, (int64_t[]){2}, 0.5f, 1.5f), param(g, "b18", 1, (int64_t[]){2})}, 1);
    gb_set_int(g18, "num_groups", 2);
    Node *lrn = gb_node(g, "LRN", 13, "lrn", 1, &g18->outputs[0], 1);
    gb_set_int(lrn, "size", 3);
    gb_set_float(lrn, "alpha", 0.5f);
    Value *c = gb_op2(g, "Conv", 13, "c", lrn->outputs[0], param(g, "w", 4, (int64_t[]){4, 4, 1, 1}));
    Node *g21 = gb_node(
        g, "GroupNormalization", 21, "g21", 3,
        (Value *[]){c, gb_param(g, "s21", 1, (int64_t[]){4}, 0.5f, 1.5f), param(g, "b21", 1, (int64_t[]){4})}, 1);
    gb_set_int(g21, "num_groups", 2);
    Node *lpn = gb_node(g, "LpNormalization", 1, "lpn", 1, &g21->outputs[0], 1);
    gb_set_int(lpn, "axis", 1);
    gb_append_output(g, lpn->outputs[0]);
    gradcheck(g, 2, 5, smooth_tol);
    model_free(m);
}

/* ---- inference values ---- */

static void run_values(Graph *g, const float *x, int64_t nx, const float *want, int64_t ny)
{
    Plan *p = pc_build(g, PLAN_INFERENCE, 1, 3);
    memcpy(plan_input(p, 0), x, (size_t)nx * sizeof(float));
    pc_forward(p);
    assert_int_equal(pc_output_numel(p, 0), ny);
    const float *y = plan_output(p, 0);
    for (int64_t i = 0; i < ny; i++)
        if (fabsf(y[i] - want[i]) > 1e-5f)
            fail_msg("y[%lld] = %g, want %g", (long long)i, y[i], want[i]);
    plan_free(p);
}

/* Resize 13 by sizes (nearest, asymmetric, round_prefer_ceil); Resize 18
 * with axes and not_larger; Upsample 7 (attribute) and 9 (input). */
static void test_resize_and_upsample_values(void **state)
{
    (void)state;
    const float x[4] = {1, 2, 3, 4};
    Model *m = model_new();
    Graph *g = m->graph;
    Value *in = gb_batch_input(g, "x", 4, (int64_t[]){1, 1, 2, 2});
    Node *r = gb_node(g, "Resize", 13, "r", 4,
                      (Value *[]){in, NULL, NULL, gb_ints(g, "sizes", 4, (int64_t[]){1, 1, 3, 4})}, 1);
    gb_set_str(r, "coordinate_transformation_mode", "asymmetric");
    gb_set_str(r, "nearest_mode", "round_prefer_ceil");
    gb_append_output(g, r->outputs[0]);
    /* rows: 0, 2/3, 4/3 -> 0, 1, 1; columns: 0, .5, 1, 1.5 -> 0, 1, 1, 1 */
    run_values(g, x, 4, (float[]){1, 2, 2, 2, 3, 4, 4, 4, 3, 4, 4, 4}, 12);
    model_free(m);

    m = model_new();
    g = m->graph;
    in = gb_batch_input(g, "x", 4, (int64_t[]){1, 1, 2, 2});
    r = gb_node(g, "Resize", 18, "r", 4, (Value *[]){in, NULL, NULL, gb_ints(g, "sizes", 2, (int64_t[]){4, 6})}, 1);
    gb_set_ints(r, "axes", 2, (int64_t[]){3, 2}); /* W to 4, H to 6: not_larger keeps 2x */
    gb_set_str(r, "keep_aspect_ratio_policy", "not_larger");
    gb_append_output(g, r->outputs[0]);
    run_values(g, x, 4, (float[]){1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 16);
    model_free(m);

    m = model_new();
    g = m->graph;
    in = gb_batch_input(g, "x", 4, (int64_t[]){1, 1, 2, 2});
    Node *u7 = gb_node(g, "Upsample", 7, "u7", 1, &in, 1);
    Attr *scales = node_add_attr(u7, "scales", ATTR_FLOATS);
    scales->n = 4;
    scales->floats = arena_memdup(g->arena, (float[]){1, 1, 1, 3}, 4 * sizeof(float));
    gb_append_output(g, u7->outputs[0]);
    run_values(g, x, 4, (float[]){1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}, 12);
    model_free(m);

    m = model_new();
    g = m->graph;
    in = gb_batch_input(g, "x", 4, (int64_t[]){1, 1, 2, 2});
    Node *u9 = gb_node(g, "Upsample", 9, "u9", 2, (Value *[]){in, floats(g, "sc", 4, (float[]){1, 1, 2, 1})}, 1);
    gb_set_str(u9, "mode", "linear");
    gb_append_output(g, u9->outputs[0]);
    run_values(g, x, 4, (float[]){1, 2, 2, 3, 3, 4, 3, 4}, 8);
    model_free(m);
}

/* Scales is a float initializer, but no parameter; the weights still are. */
static void test_resize_scales_are_not_params(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 1, 2, 2});
    Value *c = gb_op2(g, "Conv", 13, "c", x, param(g, "w", 4, (int64_t[]){2, 1, 1, 1}));
    Value *r = gb_node(g, "Resize", 13, "r", 3, (Value *[]){c, NULL, floats(g, "sc", 4, (float[]){1, 1, 2, 2})}, 1)
                   ->outputs[0];
    gb_append_output(g, r);
    Plan *p = pc_build(g, PLAN_TRAINING, 2, 3);
    PlanParam *params;
    assert_int_equal(plan_params(p, &params), 1);
    assert_string_equal(params[0].value->name, "w");
    plan_free(p);
    model_free(m);
}

/* ---- shape inference ---- */

static void expect_shape(const Value *v, int rank, const int64_t *dims)
{
    assert_int_equal(v->shape.rank, rank);
    for (int i = 0; i < rank; i++)
        if (v->shape.dims[i].value != dims[i])
            fail_msg("'%s' dim %d is %lld, expected %lld", v->name, i, (long long)v->shape.dims[i].value,
                     (long long)dims[i]);
}

/* IR-level shapes with a symbolic batch: ConvTranspose by auto_pad and by
 * output_shape, Resize by sizes with keep_aspect_ratio_policy, LayerNorm's
 * Mean, LpPool with ceil_mode. */
static void test_shape_inference(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Diag d = {{0}};
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 4, 5, 7});
    Value *w = param(g, "w", 4, (int64_t[]){4, 3, 3, 3});
    Node *same = gb_node(g, "ConvTranspose", 11, "same", 2, (Value *[]){x, w}, 1);
    gb_set_str(same, "auto_pad", "SAME_LOWER");
    gb_set_ints(same, "strides", 2, (int64_t[]){2, 3});
    gb_set_int(same, "group", 2); /* 3 * 2 outputs */
    Node *os = gb_node(g, "ConvTranspose", 11, "os", 2, (Value *[]){x, w}, 1);
    gb_set_ints(os, "output_shape", 4, (int64_t[]){1, 3, 12, 9}); /* whole-shape form */
    gb_set_ints(os, "strides", 2, (int64_t[]){2, 1});
    Node *rs = gb_node(g, "Resize", 18, "rs", 4, (Value *[]){x, NULL, NULL, gb_ints(g, "sz", 2, (int64_t[]){10, 21})},
                       1);
    gb_set_ints(rs, "axes", 2, (int64_t[]){2, 3});
    gb_set_str(rs, "keep_aspect_ratio_policy", "not_smaller"); /* max(2, 3) = 3 */
    Node *ln = gb_node(g, "LayerNormalization", 17, "ln", 2, (Value *[]){x, param(g, "s", 1, (int64_t[]){7})}, 2);
    gb_set_int(ln, "axis", -2);
    Node *lp = pool(g, "LpPool", "lp", x, 2, (int64_t[]){2, 2}, (int64_t[]){2, 2});
    gb_set_int(lp, "ceil_mode", 1);
    assert_int_equal(pass_infer_shapes(g, &d), KDC_OK);
    expect_shape(same->outputs[0], 4, (int64_t[]){-1, 6, 10, 21});
    assert_string_equal(same->outputs[0]->shape.dims[0].param, "N");
    expect_shape(os->outputs[0], 4, (int64_t[]){-1, 3, 12, 9});
    expect_shape(rs->outputs[0], 4, (int64_t[]){-1, 4, 15, 21});
    expect_shape(ln->outputs[1], 4, (int64_t[]){-1, 4, 1, 1});
    expect_shape(lp->outputs[0], 4, (int64_t[]){-1, 4, 3, 4});
    model_free(m);
}

/* ---- errors ---- */

static void test_build_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *h = gb_op2(g, "MatMul", 13, "mm", x, param(g, "w", 2, (int64_t[]){4, 4}));
    Node *ln = gb_node(g, "LayerNormalization", 17, "ln", 2, (Value *[]){h, param(g, "s", 1, (int64_t[]){4})}, 2);
    gb_append_output(g, gb_op2(g, "Add", 13, "add", ln->outputs[0], ln->outputs[1]));
    pc_expect_batch_build_error(
        g, PLAN_TRAINING, 2,
        "node 'ln' (LayerNormalization): output 1 (Mean/InvStdDev) feeds other nodes; its gradient is not computed");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 3, 3});
    Value *sc = gb_input(g, "scales", DT_FLOAT, 1, (int64_t[]){4});
    gb_append_output(g, gb_node(g, "Resize", 13, "r", 3, (Value *[]){x, NULL, sc}, 1)->outputs[0]);
    Shape shapes[2] = {shape_from_dims(4, (int64_t[]){1, 2, 3, 3}), shape_from_dims(1, (int64_t[]){4})};
    pc_expect_build_error(g, PLAN_INFERENCE, shapes,
                          "node 'r' (Resize): output 'r_out' has no concrete shape (an input that decides it is "
                          "computed at run time, which kdc does not support yet)");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 3, 3});
    Node *r = gb_node(g, "Resize", 13, "r", 3, (Value *[]){x, NULL, floats(g, "sc", 4, (float[]){1, 1, 2, 2})}, 1);
    gb_set_str(r, "coordinate_transformation_mode", "tf_half_pixel_for_nn");
    gb_append_output(g, r->outputs[0]);
    pc_expect_batch_build_error(
        g, PLAN_INFERENCE, 1,
        "node 'r' (Resize): coordinate_transformation_mode 'tf_half_pixel_for_nn' is not defined at opset 13");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 4, (int64_t[]){1, 4, 3, 3});
    Node *gn = gb_node(g, "GroupNormalization", 21, "gn", 3,
                       (Value *[]){x, param(g, "s", 1, (int64_t[]){2}), param(g, "b", 1, (int64_t[]){2})}, 1);
    gb_set_int(gn, "num_groups", 2);
    gb_append_output(g, gn->outputs[0]);
    pc_expect_batch_build_error(g, PLAN_INFERENCE, 1,
                                "node 'gn' (GroupNormalization): input 1 has 2 values, expected 4 (one per channel)");
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_decoder_block),
        cmocka_unit_test(test_grad_layernorm),
        cmocka_unit_test(test_grad_nd_convs_and_pools),
        cmocka_unit_test(test_grad_group_lrn_lp),
        cmocka_unit_test(test_resize_and_upsample_values),
        cmocka_unit_test(test_resize_scales_are_not_params),
        cmocka_unit_test(test_shape_inference),
        cmocka_unit_test(test_build_errors),
    };
    gb_rng_seed(5);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
