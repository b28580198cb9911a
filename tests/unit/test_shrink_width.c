/* test_shrink_width.c - unit tests of pass_shrink_width.
 *
 * The strongest check: a teacher whose to-be-dropped units are made
 * irrelevant (zero weights, zero bias, BatchNormalization mapping 0 to 0) must
 * give the same logits as its shrunk student. A small reference evaluator
 * (tests/unit/ref_eval.h) runs both on the same random input.
 * Also: kept units are the top-k by L1 norm with ties to the lower index,
 * Reshape targets are rewritten, width 1 changes nothing, and every refusal
 * leaves the graph exactly as it was (same printed IR) with the right message.
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

#include "ir/ops.h"
#include "passes/passes.h"
#include "tests/unit/graph_build.h"
#include "tests/unit/ref_eval.h"

/* ---- graph building ---- */

static char *weight_name(const char *layer, const char *part)
{
    static char buf[8][64];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s.%s", layer, part);
    return buf[k];
}

static Value *conv(Graph *g, const char *name, Value *x, int64_t out_ch, int64_t in_ch, int64_t group)
{
    Value *w = gb_param(g, weight_name(name, "weight"), 4, (int64_t[]){out_ch, in_ch / group, 3, 3}, -1, 1);
    Value *b = gb_param(g, weight_name(name, "bias"), 1, &out_ch, -1, 1);
    Node *n = gb_node(g, "Conv", 13, name, 3, (Value *[]){x, w, b}, 1);
    gb_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
    if (group != 1)
        node_add_attr(n, "group", ATTR_INT)->i = group;
    return n->outputs[0];
}

static Value *batchnorm(Graph *g, const char *name, Value *x, int64_t ch)
{
    Value *in[5] = {x, gb_param(g, weight_name(name, "scale"), 1, &ch, 0.5f, 1.5f),
                    gb_param(g, weight_name(name, "B"), 1, &ch, -1, 1),
                    gb_param(g, weight_name(name, "mean"), 1, &ch, -1, 1),
                    gb_param(g, weight_name(name, "var"), 1, &ch, 0.5f, 1.5f)};
    return gb_node(g, "BatchNormalization", 13, name, 5, in, 1)->outputs[0];
}

static Value *maxpool(Graph *g, const char *name, Value *x)
{
    Node *n = gb_node(g, "MaxPool", 13, name, 1, &x, 1);
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_set_ints(n, "strides", 2, (int64_t[]){2, 2});
    return n->outputs[0];
}

/* Gemm with B stored [units, features] (transB = 1, as PyTorch exports). */
static Value *gemm(Graph *g, const char *name, Value *x, int64_t units, int64_t features)
{
    Value *w = gb_param(g, weight_name(name, "weight"), 2, (int64_t[]){units, features}, -1, 1);
    Value *b = gb_param(g, weight_name(name, "bias"), 1, &units, -1, 1);
    Node *n = gb_node(g, "Gemm", 13, name, 3, (Value *[]){x, w, b}, 1);
    node_add_attr(n, "transB", ATTR_INT)->i = 1;
    return n->outputs[0];
}

static Value *matmul_add(Graph *g, const char *name, Value *x, int64_t features, int64_t units)
{
    Value *w = gb_param(g, weight_name(name, "weight"), 2, (int64_t[]){features, units}, -1, 1);
    Value *b = gb_param(g, weight_name(name, "bias"), 1, &units, -1, 1);
    char mm[64];
    snprintf(mm, sizeof mm, "%s_mm", name);
    Value *y = gb_node(g, "MatMul", 13, mm, 2, (Value *[]){x, w}, 1)->outputs[0];
    return gb_node(g, "Add", 13, name, 2, (Value *[]){y, b}, 1)->outputs[0];
}

static Value *find(Graph *g, const char *name)
{
    Value *v = graph_find_value(g, name);
    assert_non_null(v);
    return v;
}

/* Zeroes every entry of a float initializer whose index along axis is unit. */
static void zero_unit(Graph *g, const char *name, int axis, int64_t unit)
{
    Tensor *t = find(g, name)->init;
    int64_t inner = 1;
    for (int i = axis + 1; i < t->rank; i++)
        inner *= t->dims[i];
    for (int64_t e = 0; e < tensor_numel(t); e++)
        if ((e / inner) % t->dims[axis] == unit)
            ((float *)t->data)[e] = 0;
}

static void infer(Model *m)
{
    Diag d = {{0}};
    if (pass_infer_shapes(m->graph, &d) || ir_verify(m, &d))
        fail_msg("%s", d.msg);
}

static char *print_ir(const Model *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ir_print(m, f);
    fclose(f);
    return text;
}

static void assert_dims(Graph *g, const char *name, int rank, const int64_t *dims)
{
    const Value *v = find(g, name);
    assert_non_null(v->init);
    assert_int_equal(v->init->rank, rank);
    assert_int_equal(v->shape.rank, rank);
    for (int i = 0; i < rank; i++) {
        assert_int_equal(v->init->dims[i], dims[i]);
        assert_int_equal(v->shape.dims[i].value, dims[i]);
    }
}

static void assert_kept(const WidthLayer *l, const char *name, int64_t units, int64_t n, const int64_t *kept)
{
    assert_string_equal(l->name, name);
    assert_int_equal(l->units, units);
    assert_int_equal(l->kept_units, n);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(l->kept[i], kept[i]);
}

static Status shrink(Model *m, double width, WidthReport *report, Diag *d)
{
    StudentOptions o = {.width = width};
    Status st = pass_shrink_width_report(m->graph, &o, report, d);
    if (st == KDC_OK && ir_verify(m, d))
        fail_msg("verify after shrink: %s", d->msg);
    return st;
}

/* ---- a CNN: (Conv+BN+Relu+MaxPool) x2 + Flatten + Gemm + Relu + Gemm ---- */

static const int64_t cnn_drop1[] = {1, 3}, cnn_drop2[] = {0, 2, 5}, cnn_drop3[] = {1, 2, 6, 7};

static void cnn_build(Model *m, bool make_dropped_irrelevant)
{
    Graph *g = m->graph;
    gb_rng_seed(42);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){2, 1, 8, 8});
    x = maxpool(g, "pool1", gb_op1(g, "Relu", 13, "relu1", batchnorm(g, "bn1", conv(g, "conv1", x, 4, 1, 1), 4)));
    x = maxpool(g, "pool2", gb_op1(g, "Relu", 13, "relu2", batchnorm(g, "bn2", conv(g, "conv2", x, 6, 4, 1), 6)));
    x = gb_op1(g, "Flatten", 13, "flatten", x);
    x = gb_op1(g, "Relu", 13, "relu3", gemm(g, "fc1", x, 8, 24));
    gb_append_output(g, gemm(g, "fc2", x, 3, 8));
    for (int i = 0; make_dropped_irrelevant && i < 2; i++) {
        zero_unit(g, "conv1.weight", 0, cnn_drop1[i]);
        zero_unit(g, "conv1.bias", 0, cnn_drop1[i]);
        zero_unit(g, "bn1.B", 0, cnn_drop1[i]);
        zero_unit(g, "bn1.mean", 0, cnn_drop1[i]);
    }
    for (int i = 0; make_dropped_irrelevant && i < 3; i++) {
        zero_unit(g, "conv2.weight", 0, cnn_drop2[i]);
        zero_unit(g, "conv2.bias", 0, cnn_drop2[i]);
        zero_unit(g, "bn2.B", 0, cnn_drop2[i]);
        zero_unit(g, "bn2.mean", 0, cnn_drop2[i]);
    }
    for (int i = 0; make_dropped_irrelevant && i < 4; i++) {
        zero_unit(g, "fc1.weight", 0, cnn_drop3[i]);
        zero_unit(g, "fc1.bias", 0, cnn_drop3[i]);
    }
    infer(m);
}

static void test_cnn_student_matches_teacher(void **state)
{
    (void)state;
    Model *teacher = model_new(), *student = model_new();
    cnn_build(teacher, true);
    cnn_build(student, true);
    WidthReport r;
    Diag d = {{0}};
    if (shrink(student, 0.5, &r, &d))
        fail_msg("%s", d.msg);
    Graph *g = student->graph;
    assert_int_equal(r.n_layers, 4);
    assert_kept(&r.layers[0], "conv1", 4, 2, (int64_t[]){0, 2});
    assert_kept(&r.layers[1], "conv2", 6, 3, (int64_t[]){1, 3, 4});
    assert_kept(&r.layers[2], "fc1", 8, 4, (int64_t[]){0, 3, 4, 5});
    assert_kept(&r.layers[3], "fc2", 3, 3, (int64_t[]){0, 1, 2});
    assert_false(r.layers[3].hidden);
    assert_string_equal(r.layers[2].op_type, "Gemm");
    assert_dims(g, "conv1.weight", 4, (int64_t[]){2, 1, 3, 3});
    assert_dims(g, "bn1.var", 1, (int64_t[]){2});
    assert_dims(g, "conv2.weight", 4, (int64_t[]){3, 2, 3, 3});
    assert_dims(g, "fc1.weight", 2, (int64_t[]){4, 12});
    assert_dims(g, "fc2.weight", 2, (int64_t[]){3, 4});
    assert_dims(g, "fc2.bias", 1, (int64_t[]){3});
    const Value *flat = find(g, "flatten_out");
    assert_int_equal(flat->shape.dims[1].value, 12);
    assert_string_equal(flat->shape.dims[0].param, "N");
    assert_int_equal(g->n_inits, teacher->graph->n_inits);
    Buf x = random_input(4, (int64_t[]){2, 1, 8, 8});
    assert_same_outputs(teacher->graph, g, &x);
    free(x.data);
    model_free(teacher);
    model_free(student);
}

/* Without zeroed units the student differs, but it must still be consistent. */
static void test_cnn_random_weights_shapes(void **state)
{
    (void)state;
    Model *m = model_new();
    cnn_build(m, false);
    Diag d = {{0}};
    if (shrink(m, 0.3, NULL, &d))
        fail_msg("%s", d.msg);
    assert_dims(m->graph, "conv1.weight", 4, (int64_t[]){1, 1, 3, 3}); /* round(1.2) = 1 */
    assert_dims(m->graph, "conv2.weight", 4, (int64_t[]){2, 1, 3, 3}); /* round(1.8) = 2 */
    assert_dims(m->graph, "fc1.weight", 2, (int64_t[]){2, 8});
    Buf x = random_input(4, (int64_t[]){2, 1, 8, 8});
    Buf y = evaluate(m->graph, &x);
    assert_int_equal(y.dims[1], 3);
    free(y.data);
    free(x.data);
    model_free(m);
}

/* ---- an MLP exported as MatMul + Add ---- */

static void mlp_build(Model *m)
{
    Graph *g = m->graph;
    gb_rng_seed(7);
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){2, 16});
    x = gb_op1(g, "Relu", 13, "relu1", matmul_add(g, "l1", x, 16, 12));
    x = gb_op1(g, "Tanh", 13, "tanh2", matmul_add(g, "l2", x, 12, 10));
    gb_append_output(g, matmul_add(g, "l3", x, 10, 4));
    static const int64_t drop1[] = {0, 5, 6, 7, 8, 11}, drop2[] = {1, 3, 5, 7, 9};
    for (int i = 0; i < 6; i++) {
        zero_unit(g, "l1.weight", 1, drop1[i]);
        zero_unit(g, "l1.bias", 0, drop1[i]);
    }
    for (int i = 0; i < 5; i++) {
        zero_unit(g, "l2.weight", 1, drop2[i]);
        zero_unit(g, "l2.bias", 0, drop2[i]);
    }
    infer(m);
}

static void test_mlp_student_matches_teacher(void **state)
{
    (void)state;
    Model *teacher = model_new(), *student = model_new();
    mlp_build(teacher);
    mlp_build(student);
    WidthReport r;
    Diag d = {{0}};
    if (shrink(student, 0.5, &r, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(r.n_layers, 3);
    assert_kept(&r.layers[0], "l1_mm", 12, 6, (int64_t[]){1, 2, 3, 4, 9, 10});
    assert_kept(&r.layers[1], "l2_mm", 10, 5, (int64_t[]){0, 2, 4, 6, 8});
    assert_string_equal(r.layers[0].op_type, "MatMul");
    assert_dims(student->graph, "l1.weight", 2, (int64_t[]){16, 6});
    assert_dims(student->graph, "l1.bias", 1, (int64_t[]){6});
    assert_dims(student->graph, "l2.weight", 2, (int64_t[]){6, 5});
    assert_dims(student->graph, "l3.weight", 2, (int64_t[]){5, 4});
    assert_dims(student->graph, "l3.bias", 1, (int64_t[]){4});
    Buf x = random_input(2, (int64_t[]){2, 16});
    assert_same_outputs(teacher->graph, student->graph, &x);
    free(x.data);
    model_free(teacher);
    model_free(student);
}

/* ---- ranking ---- */

/* One hidden Gemm (B [K=2, N=4], transB 0) with unit L1 norms 2, 5, 2, 5. */
static void ranking_build(Model *m)
{
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 2});
    Value *w = gb_init(g, "w", DT_FLOAT, 2, (int64_t[]){2, 4});
    memcpy(w->init->data, (float[]){1, -2, 1, 3, -1, 3, 1, -2}, 8 * sizeof(float));
    Value *h = gb_node(g, "Gemm", 13, "hidden", 2, (Value *[]){x, w}, 1)->outputs[0];
    Value *w2 = gb_param(g, "w2", 2, (int64_t[]){4, 3}, -1, 1);
    gb_append_output(g, gb_node(g, "Gemm", 13, "out", 2, (Value *[]){h, w2}, 1)->outputs[0]);
    infer(m);
}

static void test_ranking_top_k_by_l1_ties_to_lower_index(void **state)
{
    (void)state;
    static const struct {
        double width;
        int64_t n;
        int64_t kept[4];
    } cases[] = {{0.5, 2, {1, 3}}, {0.25, 1, {1}}, {0.75, 3, {0, 1, 3}}, {0.1, 1, {1}}, {1.0, 4, {0, 1, 2, 3}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Model *m = model_new();
        ranking_build(m);
        WidthReport r;
        Diag d = {{0}};
        if (shrink(m, cases[i].width, &r, &d))
            fail_msg("%s", d.msg);
        assert_kept(&r.layers[0], "hidden", 4, cases[i].n, cases[i].kept);
        assert_dims(m->graph, "w2", 2, (int64_t[]){cases[i].n, 3});
        const float *w = find(m->graph, "w")->init->data;
        assert_float_equal(w[0], -2.0f + (cases[i].kept[0] != 1) * 3.0f, 0); /* first kept column, row 0 */
        model_free(m);
    }
}

/* ---- Reshape between Conv and Gemm, including PyTorch's view(N, -1) ---- */

static void reshape_build(Model *m, const int64_t *target, bool via_shape_chain, bool fold)
{
    Graph *g = m->graph;
    gb_rng_seed(99);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){2, 2, 4, 4});
    Value *c = gb_op1(g, "Relu", 13, "relu1", conv(g, "conv1", x, 4, 2, 1));
    Value *shape;
    if (via_shape_chain) {
        Value *s = gb_op1(g, "Shape", 13, "shape", c);
        Value *i0 = gb_ints(g, "i0", 1, (int64_t[]){0});
        Value *n = gb_node(g, "Gather", 13, "gather", 2, (Value *[]){s, i0}, 1)->outputs[0];
        shape = gb_node(g, "Concat", 13, "cat", 2, (Value *[]){n, gb_ints(g, "m1", 1, (int64_t[]){-1})}, 1)->outputs[0];
        node_add_attr(shape->producer, "axis", ATTR_INT)->i = 0;
    } else {
        shape = gb_ints(g, "target", 2, target);
    }
    Value *flat = gb_node(g, "Reshape", 13, "view", 2, (Value *[]){c, shape}, 1)->outputs[0];
    Value *w = gb_param(g, "fc.weight", 2, (int64_t[]){64, 5}, -1, 1);
    gb_append_output(g, gb_node(g, "Gemm", 13, "fc", 2, (Value *[]){flat, w}, 1)->outputs[0]);
    for (int i = 0; i < 4; i += 2) {
        zero_unit(g, "conv1.weight", 0, i);
        zero_unit(g, "conv1.bias", 0, i);
    }
    infer(m);
    if (via_shape_chain && fold) {
        Diag d = {{0}};
        if (pass_fold_constants(g, &d) || pass_eliminate_dead(g, &d))
            fail_msg("%s", d.msg);
        infer(m);
    }
}

static void check_reshape_student(const int64_t *target, bool via_shape_chain, const int64_t *want)
{
    Model *teacher = model_new(), *student = model_new();
    reshape_build(teacher, target, via_shape_chain, true);
    reshape_build(student, target, via_shape_chain, true);
    Diag d = {{0}};
    if (shrink(student, 0.5, NULL, &d))
        fail_msg("%s", d.msg);
    Graph *g = student->graph;
    const Node *view = find(g, "view_out")->producer;
    const Tensor *s = view->inputs[1]->init;
    assert_non_null(s);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tensor_get_int(s, i), want[i]);
    assert_dims(g, "fc.weight", 2, (int64_t[]){32, 5});
    assert_int_equal(find(g, "view_out")->shape.dims[1].value, 32);
    Buf x = random_input(4, (int64_t[]){2, 2, 4, 4});
    assert_same_outputs(teacher->graph, g, &x);
    free(x.data);
    model_free(teacher);
    model_free(student);
}

static void test_reshape_targets(void **state)
{
    (void)state;
    check_reshape_student((int64_t[]){0, 64}, false, (int64_t[]){0, 32});
    check_reshape_student((int64_t[]){-1, 64}, false, (int64_t[]){-1, 32});
    check_reshape_student(NULL, true, (int64_t[]){0, -1});
}

/* ---- per-channel constant operands between layers ---- */

static void const_ops_build(Model *m)
{
    Graph *g = m->graph;
    gb_rng_seed(5);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){2, 2, 4, 4});
    Value *y = conv(g, "conv1", x, 4, 2, 1);
    Value *scale = gb_param(g, "scale", 4, (int64_t[]){1, 4, 1, 1}, 0.5f, 1.5f);
    Value *shift = gb_param(g, "shift", 3, (int64_t[]){4, 1, 1}, -1, 1);
    Value *gain = gb_param(g, "gain", 1, (int64_t[]){1}, 0.5f, 1.5f);
    y = gb_node(g, "Mul", 13, "mul_scale", 2, (Value *[]){y, scale}, 1)->outputs[0];
    y = gb_node(g, "Add", 13, "add_shift", 2, (Value *[]){shift, y}, 1)->outputs[0];
    y = gb_node(g, "Mul", 13, "mul_gain", 2, (Value *[]){y, gain}, 1)->outputs[0];
    gb_append_output(g, conv(g, "conv2", gb_op1(g, "Relu", 13, "relu", y), 3, 4, 1));
    for (int u = 1; u < 4; u += 2) {
        zero_unit(g, "conv1.weight", 0, u);
        zero_unit(g, "conv1.bias", 0, u);
        zero_unit(g, "shift", 0, u);
    }
    infer(m);
}

static void test_constant_operands_are_sliced(void **state)
{
    (void)state;
    Model *teacher = model_new(), *student = model_new();
    const_ops_build(teacher);
    const_ops_build(student);
    Diag d = {{0}};
    if (shrink(student, 0.5, NULL, &d))
        fail_msg("%s", d.msg);
    Graph *g = student->graph;
    assert_dims(g, "scale", 4, (int64_t[]){1, 2, 1, 1});
    assert_dims(g, "shift", 3, (int64_t[]){2, 1, 1});
    assert_dims(g, "gain", 1, (int64_t[]){1});
    assert_dims(g, "conv2.weight", 4, (int64_t[]){3, 2, 3, 3});
    Buf x = random_input(4, (int64_t[]){2, 2, 4, 4});
    assert_same_outputs(teacher->graph, g, &x);
    free(x.data);
    model_free(teacher);
    model_free(student);
}

/* ---- width 1 and refusals: the graph must be left exactly as it was ---- */

static void test_width_one_changes_nothing(void **state)
{
    (void)state;
    Model *m = model_new();
    cnn_build(m, false);
    char *before = print_ir(m);
    WidthReport r;
    Diag d = {{0}};
    if (shrink(m, 1.0, &r, &d))
        fail_msg("%s", d.msg);
    char *after = print_ir(m);
    assert_string_equal(before, after);
    for (int i = 0; i < r.n_layers; i++)
        assert_int_equal(r.layers[i].kept_units, r.layers[i].units);
    free(before);
    free(after);
    model_free(m);
}

static void expect_refusal(Model *m, double width, const char *message)
{
    char *before = print_ir(m);
    Diag d = {{0}};
    assert_int_equal(shrink(m, width, NULL, &d), KDC_ERR);
    assert_string_equal(d.msg, message);
    char *after = print_ir(m);
    assert_string_equal(before, after);
    free(before);
    free(after);
    model_free(m);
}

#define CHAIN_ONLY "kdc's width shrink handles plain chains only so far"

/* conv1 -> relu1 -> conv2 -> add_3(relu1, conv2) -> conv3 */
static void test_refuses_residual(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *r = gb_op1(g, "Relu", 13, "relu1", conv(g, "conv1", x, 4, 2, 1));
    Value *y = conv(g, "conv2", r, 4, 4, 1);
    Value *sum = gb_node(g, "Add", 13, "add_3", 2, (Value *[]){r, y}, 1)->outputs[0];
    gb_append_output(g, conv(g, "conv3", sum, 2, 4, 1));
    infer(m);
    expect_refusal(m, 0.5, "node 'add_3' (Add) joins two computed branches (a residual connection); " CHAIN_ONLY);
}

static void test_refuses_concat(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *a = conv(g, "conv1", x, 4, 2, 1);
    Value *cat = gb_node(g, "Concat", 13, "cat", 2, (Value *[]){a, a}, 1)->outputs[0];
    node_add_attr(cat->producer, "axis", ATTR_INT)->i = 1;
    gb_append_output(g, conv(g, "conv2", cat, 2, 8, 1));
    infer(m);
    expect_refusal(m, 0.5, "node 'cat' (Concat) concatenates computed values; " CHAIN_ONLY);
}

static void test_refuses_depthwise(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *a = conv(g, "conv1", x, 4, 2, 1);
    Value *dw = conv(g, "dw", a, 4, 4, 4);
    gb_append_output(g, conv(g, "conv3", dw, 2, 4, 1));
    infer(m);
    expect_refusal(m, 0.5,
                   "node 'dw' (Conv) is a grouped or depthwise convolution (group 4); kdc's width shrink handles "
                   "group 1 only so far");
}

static void test_refuses_fork(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *r = gb_op1(g, "Relu", 13, "relu1", conv(g, "conv1", x, 4, 2, 1));
    gb_append_output(g, conv(g, "conv2", r, 2, 4, 1));
    gb_append_output(g, r);
    infer(m);
    expect_refusal(m, 0.5, "node 'relu1' (Relu): its output 'relu1_out' is used 2 times (a fork); " CHAIN_ONLY);
}

static void test_refuses_unknown_op(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *l = gb_op1(g, "LRN", 13, "lrn", conv(g, "conv1", x, 4, 2, 1));
    gb_append_output(g, conv(g, "conv2", l, 2, 4, 1));
    infer(m);
    expect_refusal(m, 0.5,
                   "node 'lrn' (LRN) is an op kdc's width shrink does not know; it handles chains of Conv, Gemm and "
                   "MatMul layers with BatchNormalization, activations, pooling, Dropout, Flatten and Reshape "
                   "between them");
}

static void test_refuses_softmax_between_layers(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *h = gb_op1(g, "Softmax", 13, "sm", gemm(g, "fc1", x, 6, 4));
    gb_append_output(g, gemm(g, "fc2", h, 2, 6));
    infer(m);
    expect_refusal(m, 0.5,
                   "node 'sm' (Softmax) rearranges the channels of layer 'fc1' in a way kdc's width shrink cannot "
                   "follow");
}

static void test_refuses_unfolded_view(void **state)
{
    (void)state;
    Model *m = model_new();
    reshape_build(m, NULL, true, false);
    expect_refusal(m, 0.5,
                   "node 'shape' (Shape) reads the shape of 'relu1_out' at run time; run fold_constants and "
                   "eliminate_dead first so that kdc's width shrink sees a plain chain");
}

static void test_refuses_used_dropout_mask(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *h = gemm(g, "fc1", x, 6, 4);
    Node *drop = graph_add_node(g, "Dropout", "", 1, 2);
    drop->name = "drop";
    drop->inputs[0] = h;
    node_set_output(drop, 0, graph_add_value(g, "dropped", NULL));
    node_set_output(drop, 1, graph_add_value(g, "mask", NULL));
    op_bind(drop);
    gb_append_output(g, gemm(g, "fc2", drop->outputs[0], 2, 6));
    gb_append_output(g, drop->outputs[1]);
    infer(m);
    expect_refusal(m, 0.5,
                   "node 'drop' (Dropout): output 1 ('mask') is used; kdc's width shrink follows first outputs only");
}

static void test_refuses_weight_on_the_left(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){4, 3});
    Value *w = gb_param(g, "w", 2, (int64_t[]){5, 4}, -1, 1);
    Value *h = gb_node(g, "MatMul", 13, "mm", 2, (Value *[]){w, x}, 1)->outputs[0];
    gb_append_output(g, gemm(g, "fc", h, 2, 3));
    infer(m);
    expect_refusal(m, 0.5, "node 'mm' (MatMul) takes the chain as input 1; kdc's width shrink needs it as input 0");
}

static void test_refuses_no_layer(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_append_output(g, gb_op1(g, "Relu", 13, "relu", gb_batch_input(g, "x", 2, (int64_t[]){1, 4})));
    infer(m);
    expect_refusal(m, 0.5, "found no Conv, Gemm or MatMul layer between the graph input and output; nothing to shrink");
}

static void test_refuses_bad_width(void **state)
{
    (void)state;
    Model *m = model_new();
    cnn_build(m, false);
    expect_refusal(m, 0.0, "student width 0 is outside (0, 1]");
    m = model_new();
    cnn_build(m, false);
    expect_refusal(m, 1.5, "student width 1.5 is outside (0, 1]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_student_matches_teacher),
        cmocka_unit_test(test_cnn_random_weights_shapes),
        cmocka_unit_test(test_mlp_student_matches_teacher),
        cmocka_unit_test(test_ranking_top_k_by_l1_ties_to_lower_index),
        cmocka_unit_test(test_reshape_targets),
        cmocka_unit_test(test_constant_operands_are_sliced),
        cmocka_unit_test(test_width_one_changes_nothing),
        cmocka_unit_test(test_refuses_residual),
        cmocka_unit_test(test_refuses_concat),
        cmocka_unit_test(test_refuses_depthwise),
        cmocka_unit_test(test_refuses_fork),
        cmocka_unit_test(test_refuses_unknown_op),
        cmocka_unit_test(test_refuses_softmax_between_layers),
        cmocka_unit_test(test_refuses_unfolded_view),
        cmocka_unit_test(test_refuses_used_dropout_mask),
        cmocka_unit_test(test_refuses_weight_on_the_left),
        cmocka_unit_test(test_refuses_no_layer),
        cmocka_unit_test(test_refuses_bad_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
