/* test_plan_build.c - unit tests of what happens when an execution plan is
 * built (runtime/plan.c, plan_layout.c), rather than of the op arithmetic.
 *
 * Owns: the Shape->Gather->Unsqueeze->Concat->Reshape pattern and integer
 * shape arithmetic, Cast and Constant evaluated at build time; inference
 * Dropout inputs; per-step profiling; buffer reuse, checked two ways (the
 * layout never overlaps two live buffers and inference and training plans
 * give the same outputs, and a long chain needs far less activation memory
 * in inference); plan_build_with_values binding inputs that decide shapes;
 * and build-time and run-time errors, checked word for word. Forward results
 * against reference loops are in test_plan.c.
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

#include "tests/unit/plan_check.h"

/* ---- plans ---- */

static size_t activation_bytes(const Plan *p)
{
    size_t end = 0;
    for (int i = 0; i < p->n_tensors; i++) {
        const RtTensor *t = &p->tensors[i];
        if (t->bytes && (unsigned char *)t->data == p->act + t->offset && t->offset + t->bytes > end)
            end = t->offset + t->bytes;
    }
    return end;
}

/* ---- build-time evaluation ---- */

/* The exporter's Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))
 * runs once at build time with the concrete batch. */
static void test_shape_pattern_at_build_time(void **state)
{
    (void)state;
    for (int opset = 11; opset <= 13; opset += 2) {
        Model *m = model_new();
        Graph *g = m->graph;
        const int N = 3;
        Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 3, 4});
        Value *shp = gb_op1(g, "Shape", 13, "shape", x);
        Value *b = gb_op2(g, "Gather", 13, "batch", shp, gb_ints(g, "zero", -1, (int64_t[]){0}));
        Value *c = gb_op2(g, "Gather", 13, "chan", shp, gb_ints(g, "one", -1, (int64_t[]){1}));
        Value *c12 = gb_op2(g, "Mul", 13, "c12", c, gb_ints(g, "twelve", -1, (int64_t[]){12}));
        Node *ub, *uc;
        if (opset >= 13) {
            ub = gb_node(g, "Unsqueeze", 13, "ub", 2, (Value *[]){b, gb_ints(g, "ax", 1, (int64_t[]){0})}, 1);
            uc = gb_node(g, "Unsqueeze", 13, "uc", 2, (Value *[]){c12, gb_ints(g, "ax2", 1, (int64_t[]){-1})}, 1);
        } else {
            ub = gb_node(g, "Unsqueeze", 11, "ub", 1, &b, 1);
            gb_set_ints(ub, "axes", 1, (int64_t[]){0});
            uc = gb_node(g, "Unsqueeze", 11, "uc", 1, &c12, 1);
            gb_set_ints(uc, "axes", 1, (int64_t[]){0});
        }
        Node *cat = gb_node(g, "Concat", 13, "cat", 2, (Value *[]){ub->outputs[0], uc->outputs[0]}, 1);
        gb_set_int(cat, "axis", 0);
        Value *rs = gb_op2(g, "Reshape", 13, "rs", x, cat->outputs[0]);
        Value *r = gb_op1(g, "Relu", 13, "relu", rs);
        gb_append_output(g, r);
        gb_append_output(g, cat->outputs[0]);
        Plan *p = pc_build(g, PLAN_INFERENCE, N, 7);
        pc_expect_output(p, 0, DT_FLOAT, 2, (int64_t[]){N, 24});
        pc_expect_output(p, 1, DT_INT64, 1, (int64_t[]){2});
        const int64_t *shape = plan_output(p, 1);
        assert_int_equal(shape[0], N);
        assert_int_equal(shape[1], 24);
        double *xd = pc_random_input(p, N * 24);
        for (int i = 0; i < N * 24; i++)
            xd[i] = xd[i] > 0 ? xd[i] : 0;
        pc_forward(p);
        pc_expect_close(plan_output(p, 0), xd, N * 24, 0);
        free(xd);
        plan_free(p);
        model_free(m);
    }
}

/* Integer shape arithmetic and Cast and Constant run at build time. */
static void test_constants_at_build_time(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Node *k = gb_node(g, "Constant", 13, "k", 0, NULL, 1);
    Tensor *t = tensor_new(m->arena, DT_INT32, 1, (int64_t[]){4});
    memcpy(t->data, (int32_t[]){1, -2, 3, 7}, sizeof(int32_t[4]));
    node_add_attr(k, "value", ATTR_TENSOR)->t = t;
    Node *two = gb_node(g, "Constant", 13, "two", 0, NULL, 1);
    node_add_attr(two, "value_int", ATTR_INT)->i = 2;
    Node *cast2 = gb_node(g, "Cast", 13, "cast2", 1, two->outputs, 1);
    gb_set_int(cast2, "to", DT_INT32);
    Value *q = gb_op2(g, "Div", 13, "q", k->outputs[0], cast2->outputs[0]); /* truncating: 0,-1,1,3 */
    Node *cf = gb_node(g, "Cast", 13, "cf", 1, &q, 1);
    gb_set_int(cf, "to", DT_FLOAT);
    Node *half = gb_node(g, "Constant", 13, "half", 0, NULL, 1);
    node_add_attr(half, "value_float", ATTR_FLOAT)->f = 0.5f;
    Value *y = gb_op2(g, "Add", 13, "y", gb_op2(g, "Mul", 13, "scaled", x, half->outputs[0]), cf->outputs[0]);
    gb_append_output(g, y);
    gb_append_output(g, q);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 7);
    double *xd = pc_random_input(p, 8);
    pc_forward(p);
    const int32_t *qv = plan_output(p, 1);
    assert_int_equal(qv[0], 0);
    assert_int_equal(qv[1], -1);
    assert_int_equal(qv[2], 1);
    assert_int_equal(qv[3], 3);
    double want[8];
    for (int i = 0; i < 8; i++)
        want[i] = 0.5 * xd[i] + qv[i % 4];
    pc_expect_close(plan_output(p, 0), want, 8, 1e-6);
    free(xd);
    plan_free(p);
    model_free(m);
}

/* Inference Dropout is the identity whatever the ratio, even one computed at
 * run time; training_mode=true draws masks (which ones:
 * tests/unit/test_plan_dropout.c), and training_mode must be bool. */
static void test_dropout_inputs_at_inference(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *ratio = graph_add_value(g, "ratio", NULL);
    ratio->kind = TYPE_TENSOR;
    ratio->dtype = DT_FLOAT;
    ratio->shape.rank = 0;
    gb_append_input(g, ratio);
    Node *drop = gb_node(g, "Dropout", 13, "drop", 2, (Value *[]){x, ratio}, 1);
    gb_append_output(g, drop->outputs[0]);
    Shape s[2] = {shape_from_dims(2, (int64_t[]){2, 4}), {.rank = 0}};
    Plan *p = NULL;
    Diag d = {{0}};
    if (plan_build(g, PLAN_INFERENCE, s, 1, &p, &d))
        fail_msg("%s", d.msg);
    float *xin = plan_input(p, 0);
    *(float *)plan_input(p, 1) = 0.9f;
    gb_fill_random(xin, 8, -1, 1);
    pc_forward(p);
    assert_memory_equal(plan_output(p, 0), xin, 8 * sizeof(float));
    plan_free(p);

    Value *mode = gb_init(g, "mode", DT_BOOL, 0, NULL);
    drop->n_inputs = 3;
    drop->inputs = arena_memdup(m->arena, (Value *[]){x, ratio, mode}, 3 * sizeof(Value *));
    *(uint8_t *)mode->init->data = 1;
    if (plan_build(g, PLAN_INFERENCE, s, 1, &p, &d))
        fail_msg("%s", d.msg);
    xin = plan_input(p, 0);
    *(float *)plan_input(p, 1) = 0.5f;
    gb_fill_random(xin, 8, -1, 1);
    pc_forward(p);
    const float *y = plan_output(p, 0);
    for (int i = 0; i < 8; i++)
        assert_true(y[i] == 0.0f || y[i] == 2.0f * xin[i]);
    plan_free(p);
    *(uint8_t *)mode->init->data = 0;
    if (plan_build(g, PLAN_INFERENCE, s, 1, &p, &d))
        fail_msg("%s", d.msg);
    plan_free(p);
    drop->inputs[2] = ratio;
    pc_expect_build_error(g, PLAN_INFERENCE, s, "node 'drop' (Dropout): training_mode has type float; it must be bool");
    model_free(m);
}

static void test_profile(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    gb_append_output(g, gb_op1(g, "Tanh", 13, "t", gb_op1(g, "Relu", 13, "r1", gb_op1(g, "Relu", 13, "r0", x))));
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 7);
    gb_fill_random(plan_input(p, 0), 8, -1, 1);
    plan_set_profiling(p, true);
    pc_forward(p);
    pc_forward(p);
    plan_set_profiling(p, false);
    pc_forward(p);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    plan_print_profile(p, f);
    fclose(f);
    if (!strstr(text, "Relu") || !strstr(text, "Tanh") || !strstr(text, "total") || strstr(text, "Sigmoid"))
        fail_msg("profile:\n%s", text);
    assert_non_null(strstr(text, "       4 ")); /* two Relu steps, profiled twice */
    free(text);
    plan_free(p);
    model_free(m);
}

/* ---- buffer reuse ---- */

/* A branchy graph without BatchNormalization or Dropout: values are read
 * long after they are written, so a buffer reused too early shows up. */
static Model *branchy_model(void)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 6});
    Node *g1 = gb_node(
        g, "Gemm", 13, "g1", 3,
        (Value *[]){x, gb_param(g, "w1", 2, (int64_t[]){6, 8}, -1, 1), gb_param(g, "b1", 1, (int64_t[]){8}, -1, 1)}, 1);
    Value *h = gb_op1(g, "Relu", 13, "h", g1->outputs[0]);
    Value *a =
        gb_op1(g, "Tanh", 13, "a", gb_op2(g, "MatMul", 13, "mm", h, gb_param(g, "w2", 2, (int64_t[]){8, 8}, -1, 1)));
    Value *s = gb_op1(g, "Sigmoid", 13, "s", h);
    Value *sum = gb_op2(g, "Add", 13, "sum", a, s);
    Value *prod = gb_op2(g, "Mul", 13, "prod", sum, gb_op1(g, "Tanh", 13, "t2", sum));
    Node *cat = gb_node(g, "Concat", 13, "cat", 3, (Value *[]){prod, h, x}, 1);
    gb_set_int(cat, "axis", 1);
    Value *y = gb_op1(g, "LogSoftmax", 13, "y",
                      gb_op2(g, "MatMul", 13, "out", cat->outputs[0], gb_param(g, "w3", 2, (int64_t[]){22, 5}, -1, 1)));
    gb_append_output(g, y);
    gb_append_output(g, s);
    return m;
}

static void test_inference_and_training_agree(void **state)
{
    (void)state;
    Model *m = branchy_model();
    Graph *g = m->graph;
    const int N = 4;
    Plan *inf = pc_build(g, PLAN_INFERENCE, N, 7), *train = pc_build(g, PLAN_TRAINING, N, 7);
    pc_check_no_live_overlap(inf);
    float *xi = plan_input(inf, 0), *xt = plan_input(train, 0);
    gb_fill_random(xi, N * 6, -2, 2);
    memcpy(xt, xi, N * 6 * sizeof(float));
    pc_forward(inf);
    pc_forward(train);
    for (int k = 0; k < 2; k++) {
        int64_t n = k ? N * 8 : N * 5;
        double *want = pc_to_double(plan_output(train, k), n);
        pc_expect_close(plan_output(inf, k), want, n, 1e-6);
        free(want);
    }
    /* running again without writing the input gives the same outputs */
    double *first = pc_to_double(plan_output(inf, 0), N * 5);
    pc_forward(inf);
    pc_expect_close(plan_output(inf, 0), first, N * 5, 0);
    free(first);
    plan_free(inf);
    plan_free(train);
    model_free(m);
}

static void test_inference_reuses_buffers(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { DEPTH = 30, N = 4, W = 64 };
    Value *v = gb_batch_input(g, "x", 2, (int64_t[]){1, W});
    Value *w = gb_param(g, "w", 2, (int64_t[]){W, W}, -0.2f, 0.2f);
    for (int i = 0; i < DEPTH; i++) {
        char name[32];
        snprintf(name, sizeof name, "mm%d", i);
        v = gb_op2(g, "MatMul", 13, name, v, w);
        snprintf(name, sizeof name, "t%d", i);
        v = gb_op1(g, "Tanh", 13, name, v);
    }
    gb_append_output(g, v);
    Plan *inf = pc_build(g, PLAN_INFERENCE, N, 7), *train = pc_build(g, PLAN_TRAINING, N, 7);
    size_t one = N * W * sizeof(float), bi = activation_bytes(inf), bt = activation_bytes(train);
    if (bi < 3 * one || bi > 4 * one || bt < (2 * DEPTH + 1) * one)
        fail_msg("activations: inference %zu bytes, training %zu bytes, one value %zu", bi, bt, one);
    pc_check_no_live_overlap(inf);
    float *xi = plan_input(inf, 0), *xt = plan_input(train, 0);
    gb_fill_random(xi, N * W, -1, 1);
    memcpy(xt, xi, sizeof(float) * N * W);
    pc_forward(inf);
    pc_forward(train);
    double *want = pc_to_double(plan_output(train, 0), N * W);
    pc_expect_close(plan_output(inf, 0), want, N * W, 1e-6);
    free(want);
    plan_free(inf);
    plan_free(train);
    model_free(m);
}

/* ---- errors and bound inputs ---- */

static void test_opaque_op_error(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *r = gb_op1(g, "Relu", 13, "r", x);
    gb_append_output(g, gb_op1(g, "Foo", 13, "x", r));
    Shape s = shape_from_dims(2, (int64_t[]){2, 4});
    pc_expect_build_error(g, PLAN_INFERENCE, &s, "node 'x' (Foo): kdc cannot compute this op yet");
    g->nodes[1]->domain = "com.acme";
    pc_expect_build_error(g, PLAN_TRAINING, &s, "node 'x' (com.acme.Foo): kdc cannot compute this op yet");
    model_free(m);
}

static void test_input_shape_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    gb_append_output(g, gb_op1(g, "Relu", 13, "r", x));
    Shape s = shape_from_dims(2, (int64_t[]){2, 5});
    pc_expect_build_error(g, PLAN_INFERENCE, &s, "input 'x': shape [2,5] does not match the model's declared shape");
    s = shape_from_dims(3, (int64_t[]){2, 4, 1});
    pc_expect_build_error(g, PLAN_INFERENCE, &s, "input 'x': shape [2,4,1] does not match the model's declared shape");
    s = shape_from_dims(2, (int64_t[]){-1, 4});
    pc_expect_build_error(g, PLAN_INFERENCE, &s, "input 'x': shape [-1,4] does not match the model's declared shape");

    Shape shapes[2];
    int n = 0;
    Diag d = {{0}};
    x->shape.dims[1] = (Dim){-1, "C"};
    assert_int_equal(plan_input_shapes_for_batch(g, 2, shapes, 2, &n, &d), KDC_ERR);
    assert_string_equal(d.msg, "input 'x': dim 1 is not fixed ('C'); only the batch dim may vary");
    x->shape.rank = -1;
    assert_int_equal(plan_input_shapes_for_batch(g, 2, shapes, 2, &n, &d), KDC_ERR);
    assert_string_equal(d.msg, "input 'x' has no declared shape; kdc needs it to plan a batch");
    model_free(m);
}

/* A Reshape whose target is a graph input: plan_build cannot know the output
 * shape, plan_build_with_values binds the inputs and computes for them. */
static void test_build_with_values(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){2, 3});
    Value *target = gb_input(g, "target", DT_INT64, 1, (int64_t[]){2});
    gb_append_output(g, gb_op1(g, "Relu", 13, "r", gb_op2(g, "Reshape", 13, "rs", x, target)));
    Shape shapes[2] = {shape_from_dims(2, (int64_t[]){2, 3}), shape_from_dims(1, (int64_t[]){2})};
    Tensor *tx = tensor_new(m->arena, DT_FLOAT, 2, (int64_t[]){2, 3});
    Tensor *tt = tensor_new(m->arena, DT_INT64, 1, (int64_t[]){2});
    for (int i = 0; i < 6; i++)
        ((float *)tx->data)[i] = (float)(i - 2);
    ((int64_t *)tt->data)[0] = 3;
    ((int64_t *)tt->data)[1] = -1;
    Plan *p = NULL;
    Diag d = {{0}};
    assert_int_equal(plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "has no concrete shape"));
    const Tensor *values[2] = {tx, tt};
    assert_int_equal(plan_build_with_values(g, PLAN_INFERENCE, shapes, values, 1, &p, &d), KDC_OK);
    assert_true(plan_inputs_bound(p));
    assert_int_equal(plan_forward(p, &d), KDC_OK);
    DType dt;
    Shape ys;
    plan_output_info(p, 0, &dt, &ys);
    assert_true(ys.rank == 2 && ys.dims[0].value == 3 && ys.dims[1].value == 2);
    const float *y = plan_output(p, 0);
    for (int i = 0; i < 6; i++)
        assert_true(y[i] == (i < 2 ? 0.0f : (float)(i - 2)));
    plan_free(p);
    model_free(m);

    /* nothing to bind: a plain build, inputs stay run-time inputs */
    m = model_new();
    g = m->graph;
    x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){2, 3});
    gb_append_output(g, gb_op1(g, "Relu", 13, "r", x));
    tx = tensor_new(m->arena, DT_FLOAT, 2, (int64_t[]){2, 3});
    values[0] = tx;
    assert_int_equal(plan_build_with_values(g, PLAN_INFERENCE, shapes, values, 1, &p, &d), KDC_OK);
    assert_false(plan_inputs_bound(p));
    plan_free(p);
    model_free(m);
}

static void test_unsupported_attribute_errors(void **state)
{
    (void)state;
    Model *m;
    Graph *g;
    Value *x;
    Shape s;
    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3});
    Value *st[5] = {x, gb_param(g, "s", 1, (int64_t[]){3}, 1, 1), gb_param(g, "b", 1, (int64_t[]){3}, 0, 0),
                    gb_param(g, "m", 1, (int64_t[]){3}, 0, 0), gb_param(g, "v", 1, (int64_t[]){3}, 1, 1)};
    Node *bn = gb_node(g, "BatchNormalization", 9, "bn", 5, st, 5);
    gb_append_output(g, bn->outputs[0]);
    gb_append_output(g, bn->outputs[3]);
    s = shape_from_dims(2, (int64_t[]){2, 3});
    pc_expect_build_error(g, PLAN_TRAINING, &s,
                          "node 'bn' (BatchNormalization): the saved mean and variance outputs "
                          "are not computed yet");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    gb_append_output(g, gb_node(g, "Add", 13, "half", 2, (Value *[]){x, NULL}, 1)->outputs[0]);
    s = shape_from_dims(2, (int64_t[]){2, 4});
    pc_expect_build_error(g, PLAN_INFERENCE, &s, "node 'half' (Add) lacks required input 1");
    model_free(m);
}

static void test_runtime_reshape_shape_error(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *shape = graph_add_value(g, "shape", NULL);
    shape->kind = TYPE_TENSOR;
    shape->dtype = DT_INT64;
    shape->shape = shape_from_dims(1, (int64_t[]){2});
    gb_append_input(g, shape);
    gb_append_output(g, gb_op2(g, "Reshape", 13, "r", x, shape));
    Shape s[2] = {shape_from_dims(2, (int64_t[]){2, 4}), shape_from_dims(1, (int64_t[]){2})};
    pc_expect_build_error(g, PLAN_INFERENCE, s,
                          "node 'r' (Reshape): output 'r_out' has no concrete shape (an input that decides it is "
                          "computed at run time, which kdc does not support yet)");
    model_free(m);
}

static void test_run_time_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *idx = graph_add_value(g, "idx", NULL);
    idx->kind = TYPE_TENSOR;
    idx->dtype = DT_INT64;
    idx->shape = shape_from_dims(1, (int64_t[]){2});
    gb_append_input(g, idx);
    Node *gat = gb_node(g, "Gather", 13, "gat", 2, (Value *[]){x, idx}, 1);
    gb_set_int(gat, "axis", 1);
    gb_append_output(g, gat->outputs[0]);
    Shape s[2] = {shape_from_dims(2, (int64_t[]){2, 4}), shape_from_dims(1, (int64_t[]){2})};
    Plan *p = NULL;
    Diag d = {{0}};
    if (plan_build(g, PLAN_INFERENCE, s, 1, &p, &d))
        fail_msg("%s", d.msg);
    int64_t *iv = plan_input(p, 1);
    iv[0] = 3;
    iv[1] = -5;
    assert_int_equal(plan_forward(p, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'gat' (Gather): index -5 is out of range [-4, 4)");
    iv[1] = -4;
    pc_forward(p);
    plan_free(p);
    model_free(m);

    m = model_new(); /* integer division by zero in build-time arithmetic */
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *q = gb_op2(g, "Div", 13, "q", gb_op1(g, "Shape", 13, "shp", x), gb_ints(g, "zero", 1, (int64_t[]){0}));
    gb_append_output(g, gb_op2(g, "Reshape", 13, "r", x, q));
    s[0] = shape_from_dims(2, (int64_t[]){2, 4});
    pc_expect_build_error(g, PLAN_INFERENCE, s, "node 'q' (Div): integer division by zero");
    model_free(m);

    m = model_new();
    g = m->graph;
    x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Node *c = gb_node(g, "Cast", 13, "cx", 1, &x, 1);
    gb_set_int(c, "to", DT_COMPLEX64);
    gb_append_output(g, c->outputs[0]);
    pc_expect_build_error(g, PLAN_INFERENCE, s, "node 'cx' (Cast): cast from float to complex64 is not computed yet");
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_pattern_at_build_time),
        cmocka_unit_test(test_constants_at_build_time),
        cmocka_unit_test(test_dropout_inputs_at_inference),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_inference_and_training_agree),
        cmocka_unit_test(test_inference_reuses_buffers),
        cmocka_unit_test(test_opaque_op_error),
        cmocka_unit_test(test_input_shape_errors),
        cmocka_unit_test(test_build_with_values),
        cmocka_unit_test(test_unsupported_attribute_errors),
        cmocka_unit_test(test_runtime_reshape_shape_error),
        cmocka_unit_test(test_run_time_errors),
    };
    gb_rng_seed(42);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
