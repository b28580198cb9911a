/* test_plan_train.c - unit tests of training execution plans.
 *
 * The central check is a whole-graph gradient check: for each small graph a
 * random dLoss goes into plan_output_grad, plan_backward runs, and every
 * parameter's gradient (plan_params) is compared with central finite
 * differences of sum(dLoss * output), the loss summed in double over
 * forwards with one parameter value moved up and down. The graphs cover
 * Gemm, MatMul (1-D, broadcast batch), Conv (stride, pads, groups,
 * dilations), BatchNormalization in training mode, Relu, Sigmoid, Tanh,
 * Add/Sub/Mul/Div with broadcasting, Concat, MaxPool, AveragePool,
 * GlobalAveragePool, Softmax/LogSoftmax under both opset semantics, views,
 * shared weights and several outputs. Also: which initializers are
 * parameters, BatchNormalization running statistics updated in the IR,
 * training Dropout, and the build-time error for an op without gradient.
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

#include "runtime/kernels.h"
#include "tests/unit/plan_check.h"

/* ---- layers ---- */

static Value *gemm(Graph *g, const char *name, Value *x, Value *w, Value *b, bool trans_b)
{
    Node *n = gb_node(g, "Gemm", 13, name, b ? 3 : 2, (Value *[]){x, w, b}, 1);
    if (trans_b)
        gb_set_int(n, "transB", 1);
    return n->outputs[0];
}

static Value *conv(Graph *g, const char *name, Value *x, Value *w, Value *b)
{
    return gb_node(g, "Conv", 13, name, b ? 3 : 2, (Value *[]){x, w, b}, 1)->outputs[0];
}

static Value *batchnorm(Graph *g, const char *name, Value *x, int64_t c)
{
    char n[4][64];
    const char *part[4] = {"scale", "bias", "mean", "var"};
    for (int i = 0; i < 4; i++)
        snprintf(n[i], sizeof n[i], "%s.%s", name, part[i]);
    Value *in[5] = {x, gb_param(g, n[0], 1, &c, 0.5f, 1.5f), gb_param(g, n[1], 1, &c, -0.5f, 0.5f),
                    gb_param(g, n[2], 1, &c, -0.2f, 0.2f), gb_param(g, n[3], 1, &c, 0.5f, 1.5f)};
    return gb_node(g, "BatchNormalization", 15, name, 5, in, 1)->outputs[0];
}

/* ---- the whole-graph gradient check ---- */

/* Smallest gap between the two largest taps of a max window. Ties among
 * Relu zeros are flat (their gradient is 0 either way) and do not count. */
static double maxpool_margin(const PoolDims *pd, const float *x)
{
    double margin = INFINITY;
    for (int nc = 0; nc < pd->N * pd->C; nc++)
        for (int oh = 0; oh < pd->OH; oh++)
            for (int ow = 0; ow < pd->OW; ow++) {
                double top = -INFINITY, second = -INFINITY;
                for (int kh = 0; kh < pd->KH; kh++)
                    for (int kw = 0; kw < pd->KW; kw++) {
                        int ih = oh * pd->stride_h - pd->pad_top + kh * pd->dil_h;
                        int iw = ow * pd->stride_w - pd->pad_left + kw * pd->dil_w;
                        if (ih < 0 || ih >= pd->H || iw < 0 || iw >= pd->W)
                            continue;
                        double v = x[((int64_t)nc * pd->H + ih) * pd->W + iw];
                        second = v > top ? top : fmax(second, v);
                        top = fmax(top, v);
                    }
                if (top != 0 || second != 0)
                    margin = fmin(margin, top - second);
            }
    return margin;
}

/* How far the data of the last forward sits from the kinks of Relu (an
 * input near 0) and MaxPool (a near tie): a finite difference across a kink
 * mixes two slopes and measures no gradient at all. */
static double kink_margin(const Plan *p)
{
    double margin = INFINITY;
    for (int i = 0; i < p->n_steps; i++) {
        const Step *s = &p->steps[i];
        if (s->node->op == OP_Relu)
            for (int64_t k = 0; k < s->in[0]->numel; k++)
                margin = fmin(margin, fabs(rt_f(s->in[0])[k]));
        else if (s->node->op == OP_MaxPool)
            margin = fmin(margin, maxpool_margin(s->state, rt_f(s->in[0])));
    }
    return margin;
}

static const PcGradTol smooth_tol = {1e-2, 5e-4, 5e-3, false, 0};
/* with Relu or MaxPool: a smaller step, and data clear of the kinks by more
 * than a step moves any value */
static const PcGradTol kink_tol = {1e-3, 2e-3, 5e-3, false, 5e-3};

/* This file's plan seed, inputs clear of Relu and MaxPool kinks. */
static void gradcheck(Graph *g, int64_t batch, int expect_params, PcGradTol tol)
{
    pc_gradcheck(
        g, &(PcGradSpec){
               .batch = batch, .seed = 11, .expect_params = expect_params, .tol = tol, .kink_margin = kink_margin});
}

static void test_grad_mlp(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 6});
    Value *h = gb_op1(g, "Relu", 13, "relu",
                      gemm(g, "fc1", x, gb_param(g, "w1", 2, (int64_t[]){10, 6}, -1, 1),
                           gb_param(g, "b1", 1, (int64_t[]){10}, -1, 1), true));
    Node *fc2 = gb_node(
        g, "Gemm", 13, "fc2", 3,
        (Value *[]){h, gb_param(g, "w2", 2, (int64_t[]){10, 3}, -1, 1), gb_param(g, "b2", 1, (int64_t[]){3}, -1, 1)},
        1);
    gb_set_float(fc2, "alpha", 0.7f);
    gb_set_float(fc2, "beta", 1.3f);
    gb_append_output(g, fc2->outputs[0]);
    gradcheck(g, 4, 4, kink_tol);
    model_free(m);
}

/* Gemm's transposes and C shapes: weights on the A side too. */
static void test_grad_gemm_transposes(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Node *ta = gb_node(
        g, "Gemm", 13, "ta", 3,
        (Value *[]){x, gb_param(g, "b1", 2, (int64_t[]){3, 2}, -1, 1), gb_param(g, "c1", 2, (int64_t[]){4, 1}, -1, 1)},
        1);
    gb_set_int(ta, "transA", 1); /* x^T [4,N] . b1 [N,2] + c1 [4,1] */
    Node *both = gb_node(g, "Gemm", 13, "both", 3,
                         (Value *[]){gb_param(g, "a2", 2, (int64_t[]){4, 3}, -1, 1), gb_op1(g, "Tanh", 13, "t", x),
                                     gb_param(g, "c2", 0, NULL, -1, 1)},
                         1);
    gb_set_int(both, "transA", 1);
    gb_set_int(both, "transB", 1); /* a2^T [3,4] . tanh(x)^T [4,N] + c2 */
    gb_set_float(both, "beta", 0.5f);
    gb_append_output(g, ta->outputs[0]);
    gb_append_output(g, both->outputs[0]);
    gradcheck(g, 3, 4, smooth_tol);
    model_free(m);
}

static void test_grad_cnn_batchnorm(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 6, 6});
    Node *c = gb_node(g, "Conv", 13, "conv", 3,
                      (Value *[]){x, gb_param(g, "w", 4, (int64_t[]){4, 2, 3, 3}, -0.5f, 0.5f),
                                  gb_param(g, "b", 1, (int64_t[]){4}, -0.5f, 0.5f)},
                      1);
    gb_set_ints(c, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Value *r = gb_op1(g, "Relu", 13, "relu", batchnorm(g, "bn", c->outputs[0], 4));
    Node *mp = gb_node(g, "MaxPool", 13, "pool", 1, &r, 1);
    gb_set_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_set_ints(mp, "strides", 2, (int64_t[]){2, 2});
    Value *fl = gb_op1(g, "Flatten", 13, "flat", mp->outputs[0]);
    gb_append_output(g, gemm(g, "fc", fl, gb_param(g, "fw", 2, (int64_t[]){3, 36}, -0.5f, 0.5f),
                             gb_param(g, "fb", 1, (int64_t[]){3}, -1, 1), true));
    gradcheck(g, 3, 6, kink_tol);
    model_free(m);
}

static void test_grad_conv_geometry(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 4, 7, 7});
    Node *c1 = gb_node(g, "Conv", 13, "c1", 3,
                       (Value *[]){x, gb_param(g, "w1", 4, (int64_t[]){6, 2, 3, 3}, -0.5f, 0.5f),
                                   gb_param(g, "b1", 1, (int64_t[]){6}, -0.5f, 0.5f)},
                       1);
    gb_set_int(c1, "group", 2);
    gb_set_ints(c1, "strides", 2, (int64_t[]){2, 2});
    gb_set_ints(c1, "pads", 4, (int64_t[]){1, 0, 0, 1});
    Value *t = gb_op1(g, "Tanh", 13, "tanh", c1->outputs[0]); /* [N,6,3,3] */
    Node *c2 =
        gb_node(g, "Conv", 13, "c2", 2, (Value *[]){t, gb_param(g, "w2", 4, (int64_t[]){4, 3, 2, 2}, -0.5f, 0.5f)}, 1);
    gb_set_int(c2, "group", 2);
    gb_set_ints(c2, "dilations", 2, (int64_t[]){2, 1});
    gb_set_ints(c2, "pads", 4, (int64_t[]){1, 1, 1, 1});
    gb_append_output(g, c2->outputs[0]); /* [N,4,3,4] */
    gradcheck(g, 2, 3, smooth_tol);
    model_free(m);
}

static void test_grad_elementwise_broadcast(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 3, 4});
    Value *p1 = gb_param(g, "p1", 2, (int64_t[]){3, 1}, -1, 1), *p2 = gb_param(g, "p2", 1, (int64_t[]){4}, -1, 1);
    Value *p3 = gb_param(g, "p3", 3, (int64_t[]){1, 3, 1}, 1, 2), *p4 = gb_param(g, "p4", 1, (int64_t[]){1}, -1, 1);
    Value *a = gb_op1(g, "Sigmoid", 13, "a", gb_op2(g, "Mul", 13, "xp1", x, p1));
    Value *b = gb_op1(g, "Tanh", 13, "b", gb_op2(g, "Sub", 13, "xp2", x, p2));
    Value *c = gb_op2(g, "Div", 13, "c", b, p3);
    Value *e = gb_op2(g, "Sub", 13, "e", gb_op2(g, "Add", 13, "d", gb_op2(g, "Mul", 13, "ac", a, c), x),
                      gb_op1(g, "Identity", 13, "id", p4));
    Value *f = gb_op2(g, "Div", 13, "f", gb_op2(g, "Sub", 13, "p2a", p2, a), gb_op2(g, "Add", 13, "p3a", p3, a));
    gb_append_output(g, e);
    gb_append_output(g, f);
    gradcheck(g, 2, 4, smooth_tol);
    model_free(m);
}

static void test_grad_concat(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 6});
    Value *h1 = gb_op2(g, "MatMul", 13, "h1", x, gb_param(g, "w1", 2, (int64_t[]){6, 4}, -1, 1));
    Value *h2 =
        gb_op1(g, "Tanh", 13, "h2", gb_op2(g, "MatMul", 13, "m2", x, gb_param(g, "w2", 2, (int64_t[]){6, 3}, -1, 1)));
    Node *cat = gb_node(g, "Concat", 13, "cat", 3, (Value *[]){h1, x, h2}, 1);
    gb_set_int(cat, "axis", 1);
    gb_append_output(g, gemm(g, "out", cat->outputs[0], gb_param(g, "w3", 2, (int64_t[]){13, 2}, -1, 1),
                             gb_param(g, "b3", 1, (int64_t[]){2}, -1, 1), false));
    Node *rows = gb_node(g, "Concat", 13, "rows", 2, (Value *[]){h1, h1}, 1);
    gb_set_int(rows, "axis", 0);
    gb_append_output(g, gb_op1(g, "Sigmoid", 13, "sig", rows->outputs[0]));
    gradcheck(g, 3, 4, smooth_tol);
    model_free(m);
}

static Value *avgpool(Graph *g, const char *name, Value *x, int64_t k, int64_t s, int64_t pad, bool ceil,
                      bool include_pad)
{
    Node *n = gb_node(g, "AveragePool", 13, name, 1, &x, 1);
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    gb_set_ints(n, "strides", 2, (int64_t[]){s, s});
    gb_set_ints(n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    gb_set_int(n, "ceil_mode", ceil);
    gb_set_int(n, "count_include_pad", include_pad);
    return n->outputs[0];
}

static void test_grad_average_pools(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 6, 6});
    Node *c = gb_node(g, "Conv", 13, "conv", 3,
                      (Value *[]){x, gb_param(g, "w", 4, (int64_t[]){3, 2, 3, 3}, -0.5f, 0.5f),
                                  gb_param(g, "b", 1, (int64_t[]){3}, -0.5f, 0.5f)},
                      1);
    gb_set_ints(c, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Value *a = gb_op1(g, "Sigmoid", 13, "sig", avgpool(g, "ap", c->outputs[0], 3, 2, 1, true, false));   /* [N,3,4,4] */
    Value *b = gb_op1(g, "Tanh", 13, "tanh", avgpool(g, "ap_pad", c->outputs[0], 2, 1, 1, false, true)); /* [N,3,7,7] */
    Value *ga = gb_op1(g, "Flatten", 13, "fa", gb_op1(g, "GlobalAveragePool", 13, "gapa", a));
    Value *gb = gb_op1(g, "Flatten", 13, "fb", gb_op1(g, "GlobalAveragePool", 13, "gapb", b));
    gb_append_output(g, gemm(g, "fc", gb_op2(g, "Mul", 13, "ab", ga, gb),
                             gb_param(g, "fw", 2, (int64_t[]){3, 2}, -1, 1), NULL, false));
    gradcheck(g, 2, 3, smooth_tol);
    model_free(m);
}

static void test_grad_softmax(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 8});
    Value *h = gemm(g, "fc", x, gb_param(g, "w", 2, (int64_t[]){8, 6}, -1, 1),
                    gb_param(g, "b", 1, (int64_t[]){6}, -1, 1), false);
    Value *r = gb_op2(g, "Reshape", 13, "rs", h, gb_ints(g, "shape", 3, (int64_t[]){0, 2, 3})); /* [N,2,3] */
    Node *s13 = gb_node(g, "Softmax", 13, "s13", 1, &r, 1);
    gb_set_int(s13, "axis", 2);
    Value *scaled = gb_op2(g, "Mul", 13, "scaled", s13->outputs[0], gb_param(g, "p", 2, (int64_t[]){2, 3}, -2, 2));
    /* [N,2,3] -> [N,6] through the exporter's shape arithmetic, done at build time */
    Value *batch =
        gb_op2(g, "Gather", 13, "batch", gb_op1(g, "Shape", 13, "shp", scaled), gb_ints(g, "zero", 1, (int64_t[]){0}));
    Node *cat = gb_node(g, "Concat", 13, "cat", 2, (Value *[]){batch, gb_ints(g, "rest", 1, (int64_t[]){-1})}, 1);
    gb_set_int(cat, "axis", 0);
    Value *flat = gb_op2(g, "Reshape", 13, "flat", scaled, cat->outputs[0]);
    Node *l11 = gb_node(g, "LogSoftmax", 11, "l11", 1, &flat, 1);
    Node *s11 = gb_node(g, "Softmax", 11, "s11", 1, &r, 1); /* over 2*3 */
    Node *l13 = gb_node(g, "LogSoftmax", 13, "l13", 1, &r, 1);
    gb_set_int(l13, "axis", 1);
    gb_append_output(g, l11->outputs[0]);
    gb_append_output(g, s11->outputs[0]);
    gb_append_output(g, l13->outputs[0]);
    gradcheck(g, 3, 3, smooth_tol);
    model_free(m);
}

static void test_grad_matmul_broadcast(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 2, 5});
    Value *h = gb_op1(g, "Relu", 13, "relu",
                      gb_op2(g, "Add", 13, "add",
                             gb_op2(g, "MatMul", 13, "mm", x, gb_param(g, "w", 2, (int64_t[]){5, 4}, -1, 1)),
                             gb_param(g, "b", 1, (int64_t[]){4}, -1, 1)));
    gb_append_output(g, gb_op2(g, "MatMul", 13, "vec", h, gb_param(g, "v", 1, (int64_t[]){4}, -1, 1))); /* [N,2] */
    gb_append_output(
        g, gb_op2(g, "MatMul", 13, "bat", x, gb_param(g, "w3", 3, (int64_t[]){1, 5, 3}, -1, 1)));        /* [N,2,3] */
    gb_append_output(g, gb_op2(g, "MatMul", 13, "left", gb_param(g, "u", 1, (int64_t[]){2}, -1, 1), x)); /* [N,5] */
    gradcheck(g, 3, 5, kink_tol);
    model_free(m);
}

/* One weight used twice, one activation read twice, through views. */
static void test_grad_shared_weights(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 5});
    Value *w = gb_param(g, "w", 2, (int64_t[]){5, 5}, -1, 1);
    Value *h = gb_op1(g, "Tanh", 13, "h", gb_op2(g, "MatMul", 13, "m1", x, w));
    Node *un = gb_node(g, "Unsqueeze", 11, "un", 1, &h, 1);
    gb_set_ints(un, "axes", 1, (int64_t[]){1});
    Value *sq = gb_op2(g, "Squeeze", 13, "sq", un->outputs[0], gb_ints(g, "ax", 1, (int64_t[]){1}));
    gb_append_output(
        g, gb_op2(g, "Add", 13, "y", gb_op2(g, "MatMul", 13, "m2", sq, w), gb_op1(g, "Identity", 13, "id", h)));
    gradcheck(g, 4, 1, smooth_tol);
    model_free(m);
}

/* BatchNormalization on [N, C] (no spatial dims) in training mode. */
static void test_grad_batchnorm_2d(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *h = gemm(g, "fc", x, gb_param(g, "w", 2, (int64_t[]){4, 5}, -1, 1), NULL, false);
    gb_append_output(g, gb_op1(g, "Tanh", 13, "t", batchnorm(g, "bn", h, 5)));
    gradcheck(g, 6, 3, smooth_tol);
    model_free(m);
}

/* ---- parameters and statistics ---- */

static bool is_one_of(const char *name, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(name, names[i]))
            return true;
    return false;
}

/* Conv+BN+Reshape+Gemm: parameters are the trainable float initializers,
 * not BN running statistics, not int64 shapes, not unused weights. */
static void test_params_are_trainable_floats(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *c = conv(g, "conv", x, gb_param(g, "w", 4, (int64_t[]){3, 2, 3, 3}, -1, 1),
                    gb_param(g, "b", 1, (int64_t[]){3}, -1, 1));
    Value *r = gb_op2(g, "Reshape", 13, "rs", gb_op1(g, "Relu", 13, "relu", batchnorm(g, "bn", c, 3)),
                      gb_ints(g, "shape", 2, (int64_t[]){0, -1}));
    gb_param(g, "unused", 1, (int64_t[]){7}, -1, 1);
    gb_append_output(g, gemm(g, "fc", r, gb_param(g, "fw", 2, (int64_t[]){12, 2}, -1, 1),
                             gb_param(g, "fb", 1, (int64_t[]){2}, -1, 1), false));
    Plan *p = pc_build(g, PLAN_TRAINING, 2, 11);
    PlanParam *params;
    int n = plan_params(p, &params);
    const char *want[] = {"w", "b", "bn.scale", "bn.bias", "fw", "fb"};
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++) {
        const Value *v = params[i].value;
        if (!is_one_of(v->name, want, 6))
            fail_msg("'%s' is not a trainable parameter", v->name);
        assert_ptr_equal(params[i].data, v->init->data);
        assert_int_equal(params[i].numel, tensor_numel(v->init));
        assert_non_null(params[i].grad);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(params[j].value, v);
    }
    plan_free(p);
    p = pc_build(g, PLAN_INFERENCE, 2, 11);
    assert_int_equal(plan_params(p, &params), 0);
    plan_free(p);
    model_free(m);
}

/* Each training forward moves the running statistics in the IR tensor:
 * running = running * momentum + batch * (1 - momentum), the batch variance
 * unbiased. */
static void test_batchnorm_running_stats(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { N = 3, C = 2, S = 4 };
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, C, S});
    Value *y = batchnorm(g, "bn", x, C);
    gb_set_float(y->producer, "momentum", 0.8f);
    gb_append_output(g, y);
    float *rm = graph_find_value(g, "bn.mean")->init->data, *rv = graph_find_value(g, "bn.var")->init->data;
    double want_mean[C], want_var[C];
    for (int c = 0; c < C; c++) {
        want_mean[c] = rm[c];
        want_var[c] = rv[c];
    }
    Plan *p = pc_build(g, PLAN_TRAINING, N, 11);
    float *xin = plan_input(p, 0);
    gb_fill_random(xin, N * C * S, -2, 3);
    for (int step = 0; step < 2; step++) {
        pc_forward(p);
        for (int c = 0; c < C; c++) {
            double sum = 0, sq = 0;
            for (int n = 0; n < N; n++)
                for (int s = 0; s < S; s++)
                    sum += xin[(n * C + c) * S + s];
            double mean = sum / (N * S);
            for (int n = 0; n < N; n++)
                for (int s = 0; s < S; s++)
                    sq += pow(xin[(n * C + c) * S + s] - mean, 2);
            want_mean[c] = want_mean[c] * 0.8 + mean * 0.2;
            want_var[c] = want_var[c] * 0.8 + sq / (N * S - 1) * 0.2;
            assert_true(fabs(rm[c] - want_mean[c]) < 1e-5);
            assert_true(fabs(rv[c] - want_var[c]) < 1e-5);
            /* the output uses the batch statistics: mean bias, scale times unit variance */
            double out_mean = 0;
            const float *out = plan_output(p, 0);
            for (int n = 0; n < N; n++)
                for (int s = 0; s < S; s++)
                    out_mean += out[(n * C + c) * S + s] / (N * S);
            assert_true(fabs(out_mean - ((float *)graph_find_value(g, "bn.bias")->init->data)[c]) < 1e-5);
        }
    }
    plan_free(p);
    model_free(m);
}

/* Training Dropout keeps each value with probability 1-ratio, scaled by
 * 1/(1-ratio), and backward routes the gradient through the same mask. */
static void test_training_dropout(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { N = 64, F = 32 };
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, F});
    Value *s = gb_param(g, "s", 1, (int64_t[]){F}, 1, 2);
    Value *h = gb_op2(g, "Mul", 13, "h", x, s);
    Node *drop = gb_node(g, "Dropout", 13, "drop", 1, &h, 2);
    Node *drop7 = gb_node(g, "Dropout", 7, "drop7", 1, &h, 2);
    gb_set_float(drop7, "ratio", 0.25f);
    gb_append_output(g, drop->outputs[0]);
    gb_append_output(g, drop->outputs[1]);
    gb_append_output(g, drop7->outputs[0]);
    gb_append_output(g, drop7->outputs[1]);
    Plan *p = pc_build(g, PLAN_TRAINING, N, 11);
    float *xin = plan_input(p, 0);
    gb_fill_random(xin, N * F, 1, 2);
    pc_forward(p);
    const float *y = plan_output(p, 0), *sv = s->init->data;
    const uint8_t *mask = plan_output(p, 1);
    int kept = 0;
    for (int i = 0; i < N * F; i++) {
        double want = mask[i] ? 2.0 * xin[i] * sv[i % F] : 0.0;
        assert_true(fabs(y[i] - want) < 1e-5);
        kept += mask[i];
    }
    assert_in_range(kept, N * F * 4 / 10, N * F * 6 / 10);
    const float *y7 = plan_output(p, 2), *mask7 = plan_output(p, 3); /* float mask before opset 10 */
    int kept7 = 0;
    for (int i = 0; i < N * F; i++) {
        assert_true(mask7[i] == 0.0f || mask7[i] == 1.0f);
        assert_true(fabs(y7[i] - mask7[i] * xin[i] * sv[i % F] / 0.75) < 1e-5);
        kept7 += mask7[i] == 1.0f;
    }
    assert_in_range(kept7, N * F * 65 / 100, N * F * 85 / 100);
    plan_zero_grads(p);
    float *dy = plan_output_grad(p, 0);
    for (int i = 0; i < N * F; i++)
        dy[i] = 1.0f;
    plan_backward(p);
    PlanParam *params;
    assert_int_equal(plan_params(p, &params), 1);
    for (int f = 0; f < F; f++) {
        double want = 0;
        for (int n = 0; n < N; n++)
            want += mask[n * F + f] ? 2.0 * xin[n * F + f] : 0.0;
        assert_true(fabs(params[0].grad[f] - want) < 1e-3);
    }
    plan_free(p);
    model_free(m);
}

/* An op without a gradient between a parameter and the loss is refused at
 * build, naming the node; inference plans take it. */
static void test_no_gradient_error(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *w = gb_param(g, "w", 2, (int64_t[]){2, 4}, 1, 2), *q = gb_param(g, "q", 1, (int64_t[]){4}, 3, 4);
    Value *wrapped = gb_op2(g, "Mod", 13, "wrap", w, q); /* float Mod has no gradient */
    gb_set_int(wrapped->producer, "fmod", 1);
    gb_append_output(g, gb_op2(g, "Add", 13, "sum", x, gb_op1(g, "Relu", 13, "r", wrapped)));
    Shape s = shape_from_dims(2, (int64_t[]){2, 4});
    Plan *p = NULL;
    Diag d = {{0}};
    assert_int_equal(plan_build(g, PLAN_TRAINING, &s, 1, &p, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'wrap' (Mod): has no gradient but lies between trainable parameters "
                               "and the loss");
    assert_int_equal(plan_build(g, PLAN_INFERENCE, &s, 1, &p, &d), KDC_OK);
    plan_free(p);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_mlp),
        cmocka_unit_test(test_grad_gemm_transposes),
        cmocka_unit_test(test_grad_cnn_batchnorm),
        cmocka_unit_test(test_grad_conv_geometry),
        cmocka_unit_test(test_grad_elementwise_broadcast),
        cmocka_unit_test(test_grad_concat),
        cmocka_unit_test(test_grad_average_pools),
        cmocka_unit_test(test_grad_softmax),
        cmocka_unit_test(test_grad_matmul_broadcast),
        cmocka_unit_test(test_grad_shared_weights),
        cmocka_unit_test(test_grad_batchnorm_2d),
        cmocka_unit_test(test_params_are_trainable_floats),
        cmocka_unit_test(test_batchnorm_running_stats),
        cmocka_unit_test(test_training_dropout),
        cmocka_unit_test(test_no_gradient_error),
    };
    gb_rng_seed(7);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
