/* test_shrink_width.c - unit tests of pass_shrink_width: the student computes
 * what the teacher computes when the units it drops do not matter.
 *
 * The strongest check: a teacher whose to-be-dropped units are made
 * irrelevant (zero in every weight that produces them, BatchNormalization
 * mapping 0 to 0) must give the same outputs as its shrunk student, and the
 * zero units must be the ones removed. Chains are run by the independent
 * reference evaluator (tests/unit/ref_eval.h), the residual CNN (BN,
 * depthwise conv, SE gate, Concat) and attention by the interpreter. Width 1
 * leaves the graph and its outputs unchanged bit for bit. Also: kept units
 * are the top-k by L1 norm with ties to the lower index, Reshape targets are
 * rewritten, constant operands are sliced, and what the old chain-only pass
 * refused is now shrunk or kept at full width, with the reason reported.
 * Structure of the groups: test_channel_groups.c; options, budgets, report,
 * zoo models: test_shrink_width_options.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/ref_eval.h"
#include "tests/unit/width_models.h"

static Value *maxpool(Graph *g, const char *name, Value *x)
{
    Node *n = gb_node(g, "MaxPool", WM_OPSET, name, 1, &x, 1);
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_set_ints(n, "strides", 2, (int64_t[]){2, 2});
    return n->outputs[0];
}

static void assert_layer(const WidthLayer *l, const char *name, const char *op, int64_t units, int64_t kept)
{
    assert_string_equal(l->name, name);
    assert_string_equal(l->op_type, op);
    assert_int_equal(l->units, units);
    assert_int_equal(l->kept_units, kept);
}

/* The student's `name` holds the teacher's entries at `kept` along `axis`. */
static void assert_rows(const Model *teacher, const Model *student, const char *name, int axis, int64_t n,
                        const int64_t *kept)
{
    const int64_t *idx[IR_MAX_RANK] = {NULL};
    int64_t counts[IR_MAX_RANK] = {0};
    idx[axis] = kept;
    counts[axis] = n;
    wm_assert_selected(teacher->graph, student->graph, name, idx, counts);
}

/* A conv weight keeps output channels `out` and input channels `in`. */
static void assert_conv(const Model *teacher, const Model *student, const char *name, const int64_t *out, int64_t n_out,
                        const int64_t *in, int64_t n_in)
{
    wm_assert_selected(teacher->graph, student->graph, name, (const int64_t *[]){out, in, NULL, NULL},
                       (int64_t[]){n_out, n_in, 0, 0});
}

static void ref_same_outputs(Model *teacher, Model *student, int rank, const int64_t *dims)
{
    Buf x = random_input(rank, dims);
    assert_same_outputs(teacher->graph, student->graph, &x);
    free(x.data);
}

/* ---- a chain CNN: (Conv+BN+Relu+MaxPool) x2 + Flatten + Gemm + Relu + Gemm ---- */

static const int64_t cnn_drop1[] = {1, 3}, cnn_drop2[] = {0, 2, 5}, cnn_drop3[] = {1, 2, 6, 7};

static void cnn_build(Model *m, bool make_dropped_irrelevant)
{
    Graph *g = m->graph;
    gb_rng_seed(42);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){2, 1, 8, 8});
    x = maxpool(g, "pool1", wm_op1(g, "Relu", "relu1", wm_bn(g, "bn1", wm_conv(g, "conv1", x, 1, 4, 3, 1), 4)));
    x = maxpool(g, "pool2", wm_op1(g, "Relu", "relu2", wm_bn(g, "bn2", wm_conv(g, "conv2", x, 4, 6, 3, 1), 6)));
    x = wm_op1(g, "Flatten", "flatten", x);
    x = wm_op1(g, "Relu", "relu3", wm_gemm(g, "fc1", x, 24, 8));
    gb_append_output(g, wm_gemm(g, "fc2", x, 8, 3));
    if (make_dropped_irrelevant) {
        wm_zero_units(g, (const char *[]){"conv1"}, (const char *[]){"bn1"}, 1, cnn_drop1, 2);
        wm_zero_units(g, (const char *[]){"conv2"}, (const char *[]){"bn2"}, 1, cnn_drop2, 3);
        wm_zero_units(g, (const char *[]){"fc1"}, NULL, 1, cnn_drop3, 4);
    }
    wm_prepare(m);
}

static void test_cnn_student_matches_teacher(void **state)
{
    (void)state;
    Model *teacher = model_new(), *student = model_new();
    cnn_build(teacher, true);
    cnn_build(student, true);
    WidthReport r;
    wm_shrink_width(student, 0.5, &r);
    Graph *g = student->graph;
    assert_int_equal(r.n_layers, 4);
    assert_layer(&r.layers[0], "conv1", "Conv", 4, 2);
    assert_layer(&r.layers[1], "conv2", "Conv", 6, 3);
    assert_layer(&r.layers[2], "fc1", "Gemm", 8, 4);
    assert_layer(&r.layers[3], "fc2", "Gemm", 3, 3);
    assert_false(r.layers[3].hidden);
    assert_rows(teacher, student, "conv1.weight", 0, 2, (int64_t[]){0, 2});
    assert_rows(teacher, student, "bn1.var", 0, 2, (int64_t[]){0, 2});
    assert_conv(teacher, student, "conv2.weight", (int64_t[]){1, 3, 4}, 3, (int64_t[]){0, 2}, 2);
    /* Flatten: each kept channel of conv2 brings its 2x2 block of fc1's inputs */
    wm_assert_selected(
        teacher->graph, g, "fc1.weight",
        (const int64_t *[]){(int64_t[]){0, 3, 4, 5}, (int64_t[]){4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19}},
        (int64_t[]){4, 12});
    assert_rows(teacher, student, "fc2.weight", 1, 4, (int64_t[]){0, 3, 4, 5});
    wm_assert_dims(g, "fc2.bias", 1, (int64_t[]){3});
    const Value *flat = wm_find(g, "flatten_out");
    assert_int_equal(flat->shape.dims[1].value, 12);
    assert_string_equal(flat->shape.dims[0].param, "N");
    assert_int_equal(g->n_inits, teacher->graph->n_inits);
    ref_same_outputs(teacher, student, 4, (int64_t[]){2, 1, 8, 8});
    model_free(teacher);
    model_free(student);
}

/* Without zeroed units the student differs, but it must still be consistent. */
static void test_cnn_random_weights_shapes(void **state)
{
    (void)state;
    Model *m = model_new();
    cnn_build(m, false);
    wm_shrink_width(m, 0.3, NULL);
    wm_assert_dims(m->graph, "conv1.weight", 4, (int64_t[]){1, 1, 3, 3}); /* round(1.2) = 1 */
    wm_assert_dims(m->graph, "conv2.weight", 4, (int64_t[]){2, 1, 3, 3}); /* round(1.8) = 2 */
    wm_assert_dims(m->graph, "fc1.weight", 2, (int64_t[]){2, 8});
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
    x = wm_op1(g, "Relu", "relu1", wm_linear(g, "l1", x, 16, 12));
    x = wm_op1(g, "Tanh", "tanh2", wm_linear(g, "l2", x, 12, 10));
    gb_append_output(g, wm_linear(g, "l3", x, 10, 4));
    static const int64_t drop1[] = {0, 5, 6, 7, 8, 11}, drop2[] = {1, 3, 5, 7, 9};
    for (int i = 0; i < 6; i++) {
        wm_zero_unit(g, "l1.weight", 1, drop1[i]);
        wm_zero_unit(g, "l1.bias", 0, drop1[i]);
    }
    for (int i = 0; i < 5; i++) {
        wm_zero_unit(g, "l2.weight", 1, drop2[i]);
        wm_zero_unit(g, "l2.bias", 0, drop2[i]);
    }
    wm_prepare(m);
}

static void test_mlp_student_matches_teacher(void **state)
{
    (void)state;
    Model *teacher = model_new(), *student = model_new();
    mlp_build(teacher);
    mlp_build(student);
    WidthReport r;
    wm_shrink_width(student, 0.5, &r);
    assert_int_equal(r.n_layers, 3);
    assert_layer(&r.layers[0], "l1", "MatMul", 12, 6);
    assert_layer(&r.layers[1], "l2", "MatMul", 10, 5);
    const int64_t kept1[] = {1, 2, 3, 4, 9, 10}, kept2[] = {0, 2, 4, 6, 8};
    assert_rows(teacher, student, "l1.weight", 1, 6, kept1);
    assert_rows(teacher, student, "l1.bias", 0, 6, kept1);
    wm_assert_selected(teacher->graph, student->graph, "l2.weight", (const int64_t *[]){kept1, kept2},
                       (int64_t[]){6, 5});
    assert_rows(teacher, student, "l3.weight", 0, 5, kept2);
    wm_assert_dims(student->graph, "l3.bias", 1, (int64_t[]){4});
    ref_same_outputs(teacher, student, 2, (int64_t[]){2, 16});
    model_free(teacher);
    model_free(student);
}

/* ---- ranking ---- */

/* One hidden Gemm (B [K=2, N=4], transB 0) with unit L1 norms 2, 5, 2, 5;
 * the next layer reads every unit alike (its rows are equal), so only the
 * hidden weights decide. */
static void ranking_build(Model *m)
{
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 2});
    Value *w = gb_init_copy(g, "w", DT_FLOAT, 2, (int64_t[]){2, 4}, (float[]){1, -2, 1, 3, -1, 3, 1, -2});
    Value *h = gb_node(g, "Gemm", WM_OPSET, "hidden", 2, (Value *[]){x, w}, 1)->outputs[0];
    Value *w2 =
        gb_init_copy(g, "w2", DT_FLOAT, 2, (int64_t[]){4, 3}, (float[]){1, -1, 1, 1, -1, 1, 1, -1, 1, 1, -1, 1});
    gb_append_output(g, gb_node(g, "Gemm", WM_OPSET, "out", 2, (Value *[]){h, w2}, 1)->outputs[0]);
    wm_prepare(m);
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
        Model *teacher = model_new(), *m = model_new();
        ranking_build(teacher);
        ranking_build(m);
        WidthReport r;
        wm_shrink_width(m, cases[i].width, &r);
        assert_layer(&r.layers[0], "hidden", "Gemm", 4, cases[i].n);
        assert_rows(teacher, m, "w", 1, cases[i].n, cases[i].kept);
        assert_rows(teacher, m, "w2", 0, cases[i].n, cases[i].kept);
        model_free(teacher);
        model_free(m);
    }
}

/* ---- Reshape between Conv and Gemm, including PyTorch's view(N, -1) ---- */

static void reshape_build(Model *m, const int64_t *target, bool fold)
{
    Graph *g = m->graph;
    gb_rng_seed(99);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){2, 2, 4, 4});
    Value *c = wm_op1(g, "Relu", "relu1", wm_conv(g, "conv1", x, 2, 4, 3, 1));
    Value *shape;
    if (!target) { /* Concat(Shape(c)[0], -1) */
        Value *s = wm_op1(g, "Shape", "shape", c);
        Value *n = wm_op2(g, "Gather", "gather", s, gb_ints(g, "i0", 1, (int64_t[]){0}));
        shape = wm_concat(g, "cat", 2, (Value *[]){n, gb_ints(g, "m1", 1, (int64_t[]){-1})}, 0);
    } else {
        shape = gb_ints(g, "target", 2, target);
    }
    Value *flat = wm_op2(g, "Reshape", "view", c, shape);
    Value *w = wm_weight(g, "fc.weight", 2, (int64_t[]){64, 5}, 64);
    gb_append_output(g, wm_op2(g, "Gemm", "fc", flat, w));
    for (int i = 0; i < 4; i += 2) {
        wm_zero_unit(g, "conv1.weight", 0, i);
        wm_zero_unit(g, "conv1.bias", 0, i);
    }
    Diag d = {{0}};
    if (fold)
        wm_prepare(m);
    else if (pass_infer_shapes(g, &d))
        fail_msg("%s", d.msg);
}

static void check_reshape_student(const int64_t *target, const int64_t *want)
{
    Model *teacher = model_new(), *student = model_new();
    reshape_build(teacher, target, true);
    reshape_build(student, target, true);
    wm_shrink_width(student, 0.5, NULL);
    Graph *g = student->graph;
    wm_assert_ints(wm_find(g, "view_out")->producer, 1, 2, want);
    int64_t rows[32];
    for (int i = 0; i < 32; i++) /* channels 1 and 3, 16 positions each */
        rows[i] = (i / 16 * 2 + 1) * 16 + i % 16;
    assert_rows(teacher, student, "fc.weight", 0, 32, rows);
    assert_int_equal(wm_find(g, "view_out")->shape.dims[1].value, 32);
    ref_same_outputs(teacher, student, 4, (int64_t[]){2, 2, 4, 4});
    model_free(teacher);
    model_free(student);
}

static void test_reshape_targets(void **state)
{
    (void)state;
    check_reshape_student((int64_t[]){0, 64}, (int64_t[]){0, 32});
    check_reshape_student((int64_t[]){-1, 64}, (int64_t[]){-1, 32});
    check_reshape_student(NULL, (int64_t[]){0, -1});
}

/* ---- per-channel constant operands between layers ---- */

static void const_ops_build(Model *m)
{
    Graph *g = m->graph;
    gb_rng_seed(5);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){2, 2, 4, 4});
    Value *y = wm_conv(g, "conv1", x, 2, 4, 3, 1);
    Value *scale = gb_param(g, "scale", 4, (int64_t[]){1, 4, 1, 1}, 0.5f, 1.5f);
    Value *shift = gb_param(g, "shift", 3, (int64_t[]){4, 1, 1}, -1, 1);
    Value *gain = gb_param(g, "gain", 1, (int64_t[]){1}, 0.5f, 1.5f);
    y = wm_op2(g, "Mul", "mul_scale", y, scale);
    y = wm_op2(g, "Add", "add_shift", shift, y);
    y = wm_op2(g, "Mul", "mul_gain", y, gain);
    gb_append_output(g, wm_conv(g, "conv2", wm_op1(g, "Relu", "relu", y), 4, 3, 3, 1));
    for (int u = 1; u < 4; u += 2) {
        wm_zero_unit(g, "conv1.weight", 0, u);
        wm_zero_unit(g, "conv1.bias", 0, u);
        wm_zero_unit(g, "shift", 0, u);
    }
    wm_prepare(m);
}

static void test_constant_operands_are_sliced(void **state)
{
    (void)state;
    Model *teacher = model_new(), *student = model_new();
    const_ops_build(teacher);
    const_ops_build(student);
    wm_shrink_width(student, 0.5, NULL);
    const int64_t kept[] = {0, 2};
    assert_rows(teacher, student, "scale", 1, 2, kept);
    assert_rows(teacher, student, "shift", 0, 2, kept);
    wm_assert_dims(student->graph, "gain", 1, (int64_t[]){1});
    assert_rows(teacher, student, "conv2.weight", 1, 2, kept);
    ref_same_outputs(teacher, student, 4, (int64_t[]){2, 2, 4, 4});
    model_free(teacher);
    model_free(student);
}

/* ---- width 1: nothing changes, bit for bit ---- */

static void check_width_one(void (*build)(Model *))
{
    Model *teacher = model_new(), *m = model_new();
    build(teacher);
    build(m);
    char *before = gb_ir_text(m);
    WidthReport r;
    wm_shrink_width(m, 1.0, &r);
    char *after = gb_ir_text(m);
    assert_string_equal(before, after);
    assert_true(r.n_layers > 0);
    for (int i = 0; i < r.n_layers; i++) {
        assert_int_equal(r.layers[i].kept_units, r.layers[i].units);
        assert_int_equal(r.layers[i].kept_params, r.layers[i].params);
    }
    assert_int_equal(m->graph->n_inits, teacher->graph->n_inits);
    for (int i = 0; i < m->graph->n_inits; i++) {
        const Tensor *t = wm_find(teacher->graph, m->graph->inits[i]->name)->init, *s = m->graph->inits[i]->init;
        assert_int_equal(s->nbytes, t->nbytes);
        assert_memory_equal(s->data, t->data, t->nbytes);
    }
    wm_assert_same_outputs(teacher->graph, m->graph, 3, 0);
    free(before);
    free(after);
    model_free(teacher);
    model_free(m);
}

static void cnn_build_random(Model *m)
{
    cnn_build(m, false);
}

static void rescnn8(Model *m)
{
    wm_rescnn(m, 8, false);
}

static void attention(Model *m)
{
    wm_attention(m, 4, 4, 3);
}

static void test_width_one_changes_nothing(void **state)
{
    (void)state;
    check_width_one(rescnn8);
    check_width_one(attention);
    check_width_one(cnn_build_random);
}

/* ---- zero channels are removed, and the outputs stay ---- */

static void test_zero_channels_removed_residual_cnn(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    wm_rescnn(teacher, 8, true);
    wm_rescnn(m, 8, true);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    int64_t a[8], b[8], s[4], d[6], e[8], cat[14];
    int64_t na = wm_complement(wm_drop_a, 4, 8, a), nb = wm_complement(wm_drop_b, 4, 8, b);
    int64_t ns = wm_complement(wm_drop_s, 2, 4, s), nd = wm_complement(wm_drop_d, 3, 6, d);
    int64_t ne = wm_complement(wm_drop_e, 4, 8, e);
    const char *group_a[] = {"stem.weight", "stem.bias", "stem_bn.scale", "b2.bias",
                             "b2_bn.var",   "dw.weight", "dw_bn.mean",    "se2.bias"};
    for (size_t i = 0; i < sizeof group_a / sizeof *group_a; i++)
        assert_rows(teacher, m, group_a[i], 0, na, a);
    assert_conv(teacher, m, "b1.weight", b, nb, a, na);
    assert_conv(teacher, m, "b2.weight", a, na, b, nb);
    assert_conv(teacher, m, "se1.weight", s, ns, a, na);
    assert_conv(teacher, m, "se2.weight", a, na, s, ns);
    assert_conv(teacher, m, "side.weight", d, nd, a, na);
    for (int64_t i = 0; i < na + nd; i++) /* the head conv reads Concat(gated, side) */
        cat[i] = i < na ? a[i] : 8 + d[i - na];
    assert_conv(teacher, m, "head.weight", e, ne, cat, na + nd);
    assert_rows(teacher, m, "fc.weight", 1, ne, e);
    assert_int_equal(node_attr_int(wm_node(m->graph, "dw"), "group", 0), na);
    for (int i = 0; i < r.n_layers; i++)
        assert_true(r.layers[i].kept_units < r.layers[i].units || !strcmp(r.layers[i].name, "fc"));
    wm_assert_same_outputs(teacher->graph, m->graph, 2, 1e-5f);
    model_free(teacher);
    model_free(m);
}

/* LayerNormalization over the residual stream: removing stream channels
 * changes its statistics, so the student only has to run; keeping the
 * stream (protect "inp") and dropping zero hidden units keeps the outputs. */
static void test_mlp_residual_layernorm(void **state)
{
    (void)state;
    static const int64_t drop[] = {0, 3, 4, 6, 9, 10, 13, 15};
    Model *teacher = model_new(), *m = model_new();
    wm_mlp_ln(teacher, 8, drop);
    wm_mlp_ln(m, 8, drop);
    wm_shrink_width(m, 0.5, NULL);
    wm_assert_dims(m->graph, "inp.weight", 2, (int64_t[]){8, 4});
    wm_assert_dims(m->graph, "ln1.scale", 1, (int64_t[]){4});
    wm_assert_dims(m->graph, "fc1.weight", 2, (int64_t[]){4, 8});
    wm_assert_dims(m->graph, "fc2.weight", 2, (int64_t[]){8, 4});
    wm_assert_dims(m->graph, "ln2.B", 1, (int64_t[]){4});
    wm_assert_dims(m->graph, "out.weight", 2, (int64_t[]){4, 3});
    WmOut y;
    assert_int_equal(wm_run(m->graph, 2, 9, &y, 1), 1);
    assert_int_equal(y.shape.dims[0].value, 2);
    assert_int_equal(y.shape.dims[1].value, 3);
    wm_free_outs(&y, 1);
    model_free(m);

    m = model_new();
    wm_mlp_ln(m, 8, drop);
    StudentOptions o = {.width = 0.5, .protect = (const char *[]){"inp"}, .n_protect = 1};
    wm_shrink_ok(m, &o, NULL);
    int64_t kept[16];
    int64_t n = wm_complement(drop, 8, 16, kept);
    assert_rows(teacher, m, "fc1.weight", 1, n, kept);
    assert_rows(teacher, m, "fc2.weight", 0, n, kept);
    wm_assert_dims(m->graph, "ln1.scale", 1, (int64_t[]){8});
    wm_assert_same_outputs(teacher->graph, m->graph, 2, 1e-5f);
    model_free(teacher);
    model_free(m);
}

/* ---- what the chain-only pass refused ---- */

/* Residuals, Concat, depthwise convs and unknown ops: test_channel_groups.c. */

/* Shrinks m at `width`: the printed graph must not change. */
static void expect_unchanged(Model *m, double width, WidthReport *r)
{
    char *before = gb_ir_text(m);
    wm_shrink_width(m, width, r);
    char *after = gb_ir_text(m);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* conv1 -> relu1 = output, relu1 -> conv2 = output: nothing may change */
static void test_fork_to_an_output_keeps_full_width(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *r = wm_op1(g, "Relu", "relu1", wm_conv(g, "conv1", x, 2, 4, 3, 1));
    gb_append_output(g, wm_conv(g, "conv2", r, 4, 2, 3, 1));
    gb_append_output(g, r);
    wm_prepare(m);
    WidthReport rep;
    expect_unchanged(m, 0.5, &rep);
    assert_int_equal(rep.n_layers, 2);
    assert_false(rep.layers[0].hidden);
    assert_string_equal(rep.layers[0].why, "output 'relu1_out' keeps the teacher's shape");
    model_free(m);
}

/* fc1 -> Dropout (its mask is an output) -> fc2 */
static void test_used_dropout_mask_keeps_full_width(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *h = wm_gemm(g, "fc1", gb_batch_input(g, "x", 2, (int64_t[]){1, 4}), 4, 6);
    Node *drop = gb_node_bare(g, "Dropout", WM_OPSET, "drop", 1, &h, 2);
    node_set_output(drop, 0, graph_add_value(g, "dropped", NULL));
    node_set_output(drop, 1, graph_add_value(g, "mask", NULL));
    gb_append_output(g, wm_gemm(g, "fc2", drop->outputs[0], 6, 2));
    gb_append_output(g, drop->outputs[1]);
    wm_prepare(m);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    assert_false(r.layers[0].hidden);
    assert_string_equal(r.layers[0].why, "output 'mask' keeps the teacher's shape");
    wm_assert_dims(g, "fc1.weight", 2, (int64_t[]){6, 4});
    model_free(m);
}

/* Softmax over a layer's units is followed (like LayerNormalization, the
 * student normalizes over fewer units). */
static void test_softmax_between_layers_is_followed(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *h = wm_op1(g, "Softmax", "sm", wm_gemm(g, "fc1", gb_batch_input(g, "x", 2, (int64_t[]){1, 4}), 4, 6));
    gb_append_output(g, wm_gemm(g, "fc2", h, 6, 2));
    wm_prepare(m);
    wm_shrink_width(m, 0.5, NULL);
    wm_assert_dims(g, "fc1.weight", 2, (int64_t[]){3, 4});
    wm_assert_dims(g, "fc2.weight", 2, (int64_t[]){2, 3});
    WmOut y;
    assert_int_equal(wm_run(g, 2, 1, &y, 1), 1);
    wm_free_outs(&y, 1);
    model_free(m);
}

/* fc0 -> MatMul(w, h): a weight on the left mixes rows, and the columns it
 * passes on are not followed. */
static void test_weight_on_the_left_keeps_what_it_reads(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *h = wm_gemm(g, "fc0", gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){4, 3}), 3, 6);
    Value *w = gb_param(g, "w", 2, (int64_t[]){5, 4}, -1, 1);
    gb_append_output(g, wm_gemm(g, "fc", wm_op2(g, "MatMul", "mm", w, h), 6, 2));
    wm_prepare(m);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    assert_string_equal(r.layers[0].name, "fc0");
    assert_false(r.layers[0].hidden);
    assert_string_equal(r.layers[0].why, "MatMul 'mm' reads these channels and kdc's width analysis does not follow "
                                         "this op");
    model_free(m);
}

/* Shape(x)[0] -> Concat(-1) -> Reshape, not folded: the Reshape's target is
 * computed, so it keeps what it reads; folded, it shrinks (test_reshape_targets). */
static void test_unfolded_view_keeps_full_width(void **state)
{
    (void)state;
    Model *m = model_new();
    reshape_build(m, NULL, false);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    assert_string_equal(r.layers[0].name, "conv1");
    assert_false(r.layers[0].hidden);
    assert_string_equal(r.layers[0].why, "Reshape 'view' reads these channels and kdc's width analysis does not "
                                         "follow this op");
    wm_assert_dims(m->graph, "conv1.weight", 4, (int64_t[]){4, 2, 3, 3});
    model_free(m);
}

static void test_no_layer_changes_nothing(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_append_output(g, wm_op1(g, "Relu", "relu", gb_batch_input(g, "x", 2, (int64_t[]){1, 4})));
    wm_prepare(m);
    WidthReport r;
    expect_unchanged(m, 0.5, &r);
    assert_int_equal(r.n_layers, 0);
    model_free(m);
}

static void expect_refusal(double width, const char *message)
{
    Model *m = model_new();
    cnn_build(m, false);
    char *before = gb_ir_text(m);
    Diag d = {{0}};
    StudentOptions o = {.width = width};
    assert_int_equal(wm_shrink(m, &o, NULL, &d), KDC_ERR);
    assert_string_equal(d.msg, message);
    char *after = gb_ir_text(m);
    assert_string_equal(before, after);
    free(before);
    free(after);
    model_free(m);
}

static void test_refuses_bad_width(void **state)
{
    (void)state;
    expect_refusal(0.0, "width must be in (0, 1], got 0");
    expect_refusal(1.5, "width must be in (0, 1], got 1.5");
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
        cmocka_unit_test(test_zero_channels_removed_residual_cnn),
        cmocka_unit_test(test_mlp_residual_layernorm),
        cmocka_unit_test(test_fork_to_an_output_keeps_full_width),
        cmocka_unit_test(test_used_dropout_mask_keeps_full_width),
        cmocka_unit_test(test_softmax_between_layers_is_followed),
        cmocka_unit_test(test_weight_on_the_left_keeps_what_it_reads),
        cmocka_unit_test(test_unfolded_view_keeps_full_width),
        cmocka_unit_test(test_no_layer_changes_nothing),
        cmocka_unit_test(test_refuses_bad_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
