/* test_fold_norm.c - unit tests of pass_fold_batchnorm (passes/fold_norm.c).
 *
 * Each folding case builds a small teacher, layer + BatchNormalization with non-trivial
 * parameters (scale of both signs, shift, mean, variance from 0.05 to 2, a non-default
 * epsilon), runs it in the kdc interpreter on a random batch, folds, and runs it again:
 * the outputs agree within 1e-5 relative to the output's scale, the graph verifies, no
 * BatchNormalization is left, the counts are as expected, graph outputs keep their
 * names, and pass_eliminate_dead then drops the BN's parameters. Layers: Conv with and
 * without bias, depthwise Conv, ConvTranspose with and without bias, Gemm (transB 0/1,
 * alpha and beta not 1, C absent / [N] / [1, N] / scalar), MatMul with a bias Add in
 * either order and without one, and a Conv-BN-Relu-Conv-BN chain whose last BN is the
 * graph output. Kept cases (BN after Relu, a layer output with a second use, training
 * mode, a shared weight or bias, a grouped ConvTranspose, a per-row Gemm C, a 3-D MatMul)
 * leave the graph's printed IR and its outputs bit for bit; so do a weight that is also a
 * graph input and a negative variance (compared as IR only). Mixed graphs count both.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ops.h"
#include "passes/passes.h"
#include "runtime/plan.h"
#include "tests/unit/graph_build.h"

#define BATCH 3
#define OPSET 15

/* ---- running and comparing ---- */

typedef struct Output {
    float *data; /* malloc'd */
    int64_t n;
} Output;

/* Runs g at batch BATCH on the input drawn from a fixed seed, so two runs see the same x. */
static Output run(Graph *g)
{
    Shape shapes[4];
    int n_in = 0;
    Plan *p = NULL;
    Diag d = {{0}};
    if (plan_input_shapes_for_batch(g, BATCH, shapes, 4, &n_in, &d) || plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d))
        fail_msg("plan: %s", d.msg);
    gb_rng_seed(99);
    for (int k = 0; k < n_in; k++) {
        DType dt;
        Shape s;
        plan_input_info(p, k, &dt, &s);
        gb_fill_random(plan_input(p, k), shape_numel(&s), -1, 1);
    }
    if (plan_forward(p, &d))
        fail_msg("forward: %s", d.msg);
    DType dt;
    Shape s;
    plan_output_info(p, 0, &dt, &s);
    Output o = {malloc((size_t)shape_numel(&s) * sizeof(float)), shape_numel(&s)};
    assert_non_null(o.data);
    memcpy(o.data, plan_output(p, 0), (size_t)o.n * sizeof(float));
    plan_free(p);
    return o;
}

/* |a - b| <= 1e-5 * max|a| everywhere: relative to the output's scale, since single
 * elements near zero carry the rounding of the much larger terms that cancelled there. */
static void assert_close(const Output *a, const Output *b)
{
    assert_int_equal(a->n, b->n);
    double scale = 0;
    for (int64_t i = 0; i < a->n; i++)
        scale = fmax(scale, fabs(a->data[i]));
    assert_true(scale > 0.1); /* the BN did something visible */
    for (int64_t i = 0; i < a->n; i++)
        if (!(fabs((double)a->data[i] - b->data[i]) <= 1e-5 * scale))
            fail_msg("output %lld: %.8g before folding, %.8g after (scale %g)", (long long)i, a->data[i], b->data[i],
                     scale);
}

static int count_op(const Graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += !strcmp(g->nodes[i]->op_type, op);
    return n;
}

static bool has_init_prefixed(const Graph *g, const char *prefix)
{
    for (int i = 0; i < g->n_inits; i++)
        if (!strncmp(g->inits[i]->name, prefix, strlen(prefix)))
            return true;
    return false;
}

static void verify(const Model *m)
{
    Diag d = {{0}};
    if (ir_verify(m, &d))
        fail_msg("verify: %s", d.msg);
}

static void infer(Model *m)
{
    Diag d = {{0}};
    if (pass_infer_shapes(m->graph, &d))
        fail_msg("infer: %s", d.msg);
    verify(m);
}

static void fold(Model *m, int want_folded, int want_kept)
{
    Diag d = {{0}};
    int folded = -1, kept = -1;
    if (pass_fold_batchnorm(m->graph, &folded, &kept, &d))
        fail_msg("fold: %s", d.msg);
    assert_int_equal(folded, want_folded);
    assert_int_equal(kept, want_kept);
    verify(m);
}

/* The whole check of a case that must fold every BN: same outputs, no BN, names kept,
 * and the BN parameters (named bn*) dead for pass_eliminate_dead. */
static void expect_folds(Model *m, int n_bn)
{
    Graph *g = m->graph;
    infer(m);
    const char *out_name = g->outputs[0]->name;
    Output before = run(g);
    fold(m, n_bn, 0);
    assert_int_equal(count_op(g, "BatchNormalization"), 0);
    assert_string_equal(g->outputs[0]->name, out_name);
    Output after = run(g);
    assert_close(&before, &after);
    Diag d = {{0}};
    assert_int_equal(pass_eliminate_dead(g, &d), KDC_OK);
    verify(m);
    assert_false(has_init_prefixed(g, "bn"));
    Output cleaned = run(g);
    assert_memory_equal(after.data, cleaned.data, (size_t)after.n * sizeof(float));
    free(before.data);
    free(after.data);
    free(cleaned.data);
    model_free(m);
}

/* A case that must keep every BN: the same IR text and bit-identical outputs. */
static void expect_kept(Model *m, int n_bn)
{
    infer(m);
    char *ir_before = gb_ir_text(m);
    Output before = run(m->graph);
    fold(m, 0, n_bn);
    char *ir_after = gb_ir_text(m);
    assert_string_equal(ir_before, ir_after);
    Output after = run(m->graph);
    assert_int_equal(before.n, after.n);
    assert_memory_equal(before.data, after.data, (size_t)before.n * sizeof(float));
    free(ir_before);
    free(ir_after);
    free(before.data);
    free(after.data);
    model_free(m);
}

/* ---- builders ---- */

static Model *new_model(void)
{
    Model *m = model_new();
    assert_non_null(m);
    gb_rng_seed(1234);
    return m;
}

static Value *weight(Graph *g, const char *name, int rank, const int64_t *dims)
{
    return gb_param(g, name, rank, dims, -0.5f, 0.5f);
}

/* BatchNormalization of x over `channels` with parameters bn<tag>.*, writing `out`
 * (NULL: a fresh name). */
static Node *add_bn(Graph *g, Value *x, int64_t channels, const char *tag, const char *out)
{
    char names[4][64];
    const char *parts[] = {"scale", "B", "mean", "var"};
    const float lo[] = {-2.0f, -1.0f, -1.0f, 0.05f}, hi[] = {2.0f, 1.0f, 1.0f, 2.0f};
    Value *p[4];
    for (int k = 0; k < 4; k++) {
        snprintf(names[k], sizeof names[k], "bn%s.%s", tag, parts[k]);
        p[k] = gb_param(g, names[k], 1, &channels, lo[k], hi[k]);
    }
    char name[32];
    snprintf(name, sizeof name, "bn%s", tag);
    Value *in[] = {x, p[0], p[1], p[2], p[3]};
    Node *bn = out ? gb_node_to(g, "BatchNormalization", OPSET, name, 5, in, out)
                   : gb_node(g, "BatchNormalization", OPSET, name, 5, in, 1);
    gb_set_float(bn, "epsilon", 1e-3f);
    return bn;
}

/* x [N, 4, 6, 6] -> Conv (8 out, 3x3, pad 1, optional bias, groups) -> BN -> y */
static Model *conv_bn(bool with_bias, int64_t group, int64_t c_in)
{
    Model *m = new_model();
    Graph *g = m->graph;
    int64_t c_out = 8;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, c_in, 6, 6});
    Value *w = weight(g, "conv.weight", 4, (int64_t[]){c_out, c_in / group, 3, 3});
    Value *in[] = {x, w, with_bias ? weight(g, "conv.bias", 1, &c_out) : NULL};
    Node *conv = gb_node(g, "Conv", OPSET, "conv", with_bias ? 3 : 2, in, 1);
    gb_set_ints(conv, "pads", 4, (int64_t[]){1, 1, 1, 1});
    gb_set_int(conv, "group", group);
    gb_append_output(g, add_bn(g, conv->outputs[0], c_out, "", "y")->outputs[0]);
    return m;
}

/* x [N, 4, 5, 5] -> ConvTranspose (W [4, 6 / group, 3, 3], stride 2) -> BN -> y */
static Model *conv_transpose_bn(bool with_bias, int64_t group)
{
    Model *m = new_model();
    Graph *g = m->graph;
    int64_t c_out = 6;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 4, 5, 5});
    Value *w = weight(g, "deconv.weight", 4, (int64_t[]){4, c_out / group, 3, 3});
    Value *in[] = {x, w, with_bias ? weight(g, "deconv.bias", 1, &c_out) : NULL};
    Node *ct = gb_node(g, "ConvTranspose", OPSET, "deconv", with_bias ? 3 : 2, in, 1);
    gb_set_ints(ct, "strides", 2, (int64_t[]){2, 2});
    gb_set_int(ct, "group", group);
    gb_append_output(g, add_bn(g, ct->outputs[0], c_out, "", "y")->outputs[0]);
    return m;
}

typedef enum { C_ABSENT, C_VECTOR, C_ROW, C_SCALAR, C_SCALAR_1D, C_PER_ROW } GemmC;

/* x [N, 5] -> Gemm (to 7 units) -> BN -> y */
static Model *gemm_bn(bool trans_b, float alpha, float beta, GemmC c_kind)
{
    Model *m = new_model();
    Graph *g = m->graph;
    int64_t k = 5, n = 7;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){0, k});
    Value *w = weight(g, "fc.weight", 2, trans_b ? (int64_t[]){n, k} : (int64_t[]){k, n});
    Value *c = NULL;
    if (c_kind == C_VECTOR)
        c = weight(g, "fc.bias", 1, &n);
    else if (c_kind == C_ROW)
        c = weight(g, "fc.bias", 2, (int64_t[]){1, n});
    else if (c_kind == C_SCALAR)
        c = weight(g, "fc.bias", 0, NULL);
    else if (c_kind == C_SCALAR_1D)
        c = weight(g, "fc.bias", 1, (int64_t[]){1});
    else if (c_kind == C_PER_ROW)
        c = weight(g, "fc.bias", 2, (int64_t[]){BATCH, n});
    Node *gemm = gb_node(g, "Gemm", OPSET, "fc", c ? 3 : 2, (Value *[]){x, w, c}, 1);
    gb_set_int(gemm, "transB", trans_b);
    gb_set_float(gemm, "alpha", alpha);
    gb_set_float(gemm, "beta", beta);
    gb_append_output(g, add_bn(g, gemm->outputs[0], n, "", "y")->outputs[0]);
    return m;
}

typedef enum { BIAS_NONE, BIAS_SECOND, BIAS_FIRST, BIAS_ROW } MatMulBias;

/* x [N, 6] -> MatMul W [6, 5] (-> Add bias) -> BN -> y */
static Model *matmul_bn(MatMulBias bias)
{
    Model *m = new_model();
    Graph *g = m->graph;
    int64_t k = 6, n = 5;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){0, k});
    Value *h = gb_op2(g, "MatMul", OPSET, "proj", x, weight(g, "proj.weight", 2, (int64_t[]){k, n}));
    if (bias != BIAS_NONE) {
        Value *b = bias == BIAS_ROW ? weight(g, "proj.bias", 2, (int64_t[]){1, n}) : weight(g, "proj.bias", 1, &n);
        h = bias == BIAS_FIRST ? gb_op2(g, "Add", OPSET, "proj_add", b, h) : gb_op2(g, "Add", OPSET, "proj_add", h, b);
    }
    gb_append_output(g, add_bn(g, h, n, "", "y")->outputs[0]);
    return m;
}

/* ---- folding: convolutions ---- */

static void test_conv_with_bias(void **state)
{
    (void)state;
    expect_folds(conv_bn(true, 1, 4), 1);
}

/* The created bias is an initializer named after the weight, read by the Conv. */
static void test_conv_without_bias(void **state)
{
    (void)state;
    Model *m = conv_bn(false, 1, 4);
    Graph *g = m->graph;
    infer(m);
    fold(m, 1, 0);
    Node *conv = g->nodes[0];
    assert_int_equal(g->n_nodes, 1);
    assert_int_equal(conv->n_inputs, 3);
    assert_non_null(conv->inputs[2]);
    assert_string_equal(conv->inputs[2]->name, "conv.bias");
    assert_non_null(conv->inputs[2]->init);
    assert_string_equal(conv->outputs[0]->name, "y");
    model_free(m);
    expect_folds(conv_bn(false, 1, 4), 1);
}

static void test_conv_depthwise(void **state)
{
    (void)state;
    expect_folds(conv_bn(true, 8, 8), 1);
    expect_folds(conv_bn(false, 8, 8), 1);
    expect_folds(conv_bn(true, 2, 4), 1); /* two groups of four */
}

static void test_conv_transpose(void **state)
{
    (void)state;
    expect_folds(conv_transpose_bn(true, 1), 1);
    expect_folds(conv_transpose_bn(false, 1), 1);
}

/* ---- folding: dense layers ---- */

static void test_gemm(void **state)
{
    (void)state;
    const struct {
        bool trans_b;
        float alpha, beta;
        GemmC c;
    } cases[] = {
        {false, 1.0f, 1.0f, C_VECTOR}, {true, 1.0f, 1.0f, C_VECTOR},     {false, 0.7f, -1.3f, C_VECTOR},
        {true, 1.9f, 0.4f, C_ROW},     {true, 0.5f, 2.5f, C_ABSENT},     {false, 1.0f, 1.0f, C_ABSENT},
        {true, 1.5f, 0.6f, C_SCALAR},  {false, 0.8f, 3.0f, C_SCALAR_1D},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Model *m = gemm_bn(cases[i].trans_b, cases[i].alpha, cases[i].beta, cases[i].c);
        expect_folds(m, 1);
    }
}

/* beta ends up 1, alpha stays, and a scalar C is replaced by a per-column one. */
static void test_gemm_attributes(void **state)
{
    (void)state;
    Model *m = gemm_bn(true, 1.5f, 0.6f, C_SCALAR);
    infer(m);
    fold(m, 1, 0);
    Node *gemm = m->graph->nodes[0];
    assert_float_equal(node_attr_float(gemm, "beta", 0), 1.0f, 0);
    assert_float_equal(node_attr_float(gemm, "alpha", 0), 1.5f, 0);
    assert_int_equal(gemm->inputs[2]->init->rank, 1);
    assert_int_equal(gemm->inputs[2]->init->dims[0], 7);
    assert_string_equal(gemm->inputs[2]->name, "fc.bias_1"); /* fc.bias was the scalar */
    model_free(m);
}

static void test_matmul_bias_add(void **state)
{
    (void)state;
    expect_folds(matmul_bn(BIAS_SECOND), 1);
    expect_folds(matmul_bn(BIAS_FIRST), 1);
    expect_folds(matmul_bn(BIAS_ROW), 1);
}

/* A bias Add is created in the BN's place and writes the BN's output value. */
static void test_matmul_without_bias(void **state)
{
    (void)state;
    Model *m = matmul_bn(BIAS_NONE);
    Graph *g = m->graph;
    infer(m);
    fold(m, 1, 0);
    assert_int_equal(g->n_nodes, 2);
    Node *add = g->nodes[1];
    assert_string_equal(add->op_type, "Add");
    assert_int_equal(add->op, OP_Add);
    assert_ptr_equal(add->inputs[0], g->nodes[0]->outputs[0]);
    assert_string_equal(add->inputs[1]->name, "proj.bias");
    assert_string_equal(add->outputs[0]->name, "y");
    model_free(m);
    expect_folds(matmul_bn(BIAS_NONE), 1);
}

/* MatMul -> BN -> BN: the second folds into the bias Add the first one created, and
 * a node after them still reads the right value. */
static void test_matmul_two_bns(void **state)
{
    (void)state;
    Model *m = new_model();
    Graph *g = m->graph;
    int64_t n = 5;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){0, 6});
    Value *h = gb_op2(g, "MatMul", OPSET, "proj", x, weight(g, "proj.weight", 2, (int64_t[]){6, n}));
    h = add_bn(g, h, n, "1", NULL)->outputs[0];
    h = add_bn(g, h, n, "2", NULL)->outputs[0];
    gb_append_output(g, gb_op1(g, "Tanh", OPSET, "act", h));
    expect_folds(m, 2);
}

/* Conv -> BN -> Relu -> Conv -> BN (the graph output "y"): both fold, y keeps its name. */
static void test_chain(void **state)
{
    (void)state;
    Model *m = new_model();
    Graph *g = m->graph;
    int64_t c1 = 6, c2 = 5;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 3, 7, 7});
    Value *h = gb_op2(g, "Conv", OPSET, "conv1", x, weight(g, "conv1.weight", 4, (int64_t[]){c1, 3, 3, 3}));
    h = add_bn(g, h, c1, "1", NULL)->outputs[0];
    h = gb_op1(g, "Relu", OPSET, "relu", h);
    Node *conv2 = gb_node(
        g, "Conv", OPSET, "conv2", 3,
        (Value *[]){h, weight(g, "conv2.weight", 4, (int64_t[]){c2, c1, 1, 1}), weight(g, "conv2.bias", 1, &c2)}, 1);
    gb_append_output(g, add_bn(g, conv2->outputs[0], c2, "2", "y")->outputs[0]);
    expect_folds(m, 2);
}

/* ---- kept ---- */

static void test_kept_after_relu(void **state)
{
    (void)state;
    Model *m = new_model();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 3, 5, 5});
    Value *h = gb_op2(g, "Conv", OPSET, "conv", x, weight(g, "conv.weight", 4, (int64_t[]){4, 3, 3, 3}));
    h = gb_op1(g, "Relu", OPSET, "relu", h);
    gb_append_output(g, add_bn(g, h, 4, "", "y")->outputs[0]);
    expect_kept(m, 1);
}

/* The Conv output is also a graph output. */
static void test_kept_second_use(void **state)
{
    (void)state;
    Model *m = new_model();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 3, 5, 5});
    Value *h = gb_op2(g, "Conv", OPSET, "conv", x, weight(g, "conv.weight", 4, (int64_t[]){4, 3, 3, 3}));
    gb_append_output(g, add_bn(g, h, 4, "", "y")->outputs[0]);
    gb_append_output(g, h);
    expect_kept(m, 1);

    m = new_model(); /* read by a second node */
    g = m->graph;
    x = gb_batch_input(g, "x", 4, (int64_t[]){0, 3, 5, 5});
    h = gb_op2(g, "Conv", OPSET, "conv", x, weight(g, "conv.weight", 4, (int64_t[]){4, 3, 3, 3}));
    Value *y = add_bn(g, h, 4, "", NULL)->outputs[0];
    gb_append_output(g, gb_op2(g, "Add", OPSET, "sum", y, h));
    expect_kept(m, 1);
}

static void test_kept_training_mode(void **state)
{
    (void)state;
    Model *m = conv_bn(true, 1, 4);
    Node *bn = m->graph->nodes[1];
    gb_set_int(bn, "training_mode", 1);
    expect_kept(m, 1);
}

/* Two Convs read one weight: scaling it for one BN would change the other layer. */
static void test_kept_shared_weight(void **state)
{
    (void)state;
    Model *m = new_model();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 4, 5, 5});
    Value *w = weight(g, "conv.weight", 4, (int64_t[]){4, 4, 1, 1});
    Value *h = gb_op2(g, "Conv", OPSET, "conv1", x, w);
    h = add_bn(g, h, 4, "", NULL)->outputs[0];
    gb_append_output(g, gb_op2(g, "Conv", OPSET, "conv2", h, w));
    expect_kept(m, 1);

    m = new_model(); /* a shared bias */
    g = m->graph;
    int64_t c = 4;
    x = gb_batch_input(g, "x", 4, (int64_t[]){0, 4, 5, 5});
    Value *b = weight(g, "conv.bias", 1, &c);
    h = gb_node(g, "Conv", OPSET, "conv1", 3, (Value *[]){x, weight(g, "w1", 4, (int64_t[]){4, 4, 1, 1}), b}, 1)
            ->outputs[0];
    h = add_bn(g, h, 4, "", NULL)->outputs[0];
    h = gb_node(g, "Conv", OPSET, "conv2", 3, (Value *[]){h, weight(g, "w2", 4, (int64_t[]){4, 4, 1, 1}), b}, 1)
            ->outputs[0];
    gb_append_output(g, h);
    expect_kept(m, 1);
}

static void test_kept_unsupported_layers(void **state)
{
    (void)state;
    expect_kept(conv_transpose_bn(true, 2), 1);
    expect_kept(gemm_bn(true, 1.0f, 1.0f, C_PER_ROW), 1);

    /* a weight the caller may feed */
    Model *m = conv_bn(true, 1, 4);
    gb_append_input(m->graph, graph_find_value(m->graph, "conv.weight"));
    infer(m);
    char *ir_before = gb_ir_text(m);
    fold(m, 0, 1);
    char *ir_after = gb_ir_text(m);
    assert_string_equal(ir_before, ir_after);
    free(ir_before);
    free(ir_after);
    model_free(m);

    /* MatMul [N, 4, 6] x [6, 4]: the BN's channel axis 1 is not the MatMul's units */
    m = new_model();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){0, 4, 6});
    Value *h = gb_op2(g, "MatMul", OPSET, "proj", x, weight(g, "proj.weight", 2, (int64_t[]){6, 4}));
    gb_append_output(g, add_bn(g, h, 4, "", "y")->outputs[0]);
    expect_kept(m, 1);
}

/* A variance of -1 with epsilon 1e-3 makes the BN NaN: nothing to fold into a layer. */
static void test_kept_negative_variance(void **state)
{
    (void)state;
    Model *m = conv_bn(true, 1, 4);
    float *var = graph_find_value(m->graph, "bn.var")->init->data;
    var[2] = -1.0f;
    infer(m);
    char *ir_before = gb_ir_text(m);
    fold(m, 0, 1);
    char *ir_after = gb_ir_text(m);
    assert_string_equal(ir_before, ir_after);
    free(ir_before);
    free(ir_after);
    model_free(m);
}

/* Mixed: one BN folds, one stays; the counts say which. */
static void test_counts(void **state)
{
    (void)state;
    Model *m = new_model();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 3, 5, 5});
    Value *h = gb_op2(g, "Conv", OPSET, "conv", x, weight(g, "conv.weight", 4, (int64_t[]){4, 3, 3, 3}));
    h = add_bn(g, h, 4, "1", NULL)->outputs[0];
    h = gb_op1(g, "Relu", OPSET, "relu", h);
    gb_append_output(g, add_bn(g, h, 4, "2", "y")->outputs[0]);
    infer(m);
    Output before = run(g);
    fold(m, 1, 1);
    assert_int_equal(count_op(g, "BatchNormalization"), 1);
    Output after = run(g);
    assert_close(&before, &after);
    free(before.data);
    free(after.data);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_with_bias),
        cmocka_unit_test(test_conv_without_bias),
        cmocka_unit_test(test_conv_depthwise),
        cmocka_unit_test(test_conv_transpose),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_gemm_attributes),
        cmocka_unit_test(test_matmul_bias_add),
        cmocka_unit_test(test_matmul_without_bias),
        cmocka_unit_test(test_matmul_two_bns),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_kept_after_relu),
        cmocka_unit_test(test_kept_second_use),
        cmocka_unit_test(test_kept_training_mode),
        cmocka_unit_test(test_kept_shared_weight),
        cmocka_unit_test(test_kept_unsupported_layers),
        cmocka_unit_test(test_kept_negative_variance),
        cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
