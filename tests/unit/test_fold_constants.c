/* test_fold_constants.c - unit tests of pass_fold_constants.
 *
 * Builds the small shape-computing subgraphs exporters emit with the ir/graph.c
 * calls, runs shape inference, folding and dead code elimination as the
 * pipeline does, and checks the resulting initializers and the verifier.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ops.h"
#include "passes/passes.h"
#include "tests/unit/graph_build.h"

/* ---- graph building helpers ---- */

static Value *out_of(Node *n)
{
    return n->outputs[0];
}

/* An opaque consumer, so that folded values are not graph outputs. */
static Node *add_use(Graph *g, Value *v, const char *out)
{
    Node *n = graph_add_node(g, "Use", "test", 1, 1);
    n->inputs[0] = v;
    node_set_output(n, 0, graph_add_value(g, out, NULL));
    gb_append_output(g, n->outputs[0]);
    return n;
}

static void run_pipeline(Model *m)
{
    Diag d = {{0}};
    assert_int_equal(pass_infer_shapes(m->graph, &d), KDC_OK);
    assert_int_equal(pass_fold_constants(m->graph, &d), KDC_OK);
    assert_int_equal(pass_eliminate_dead(m->graph, &d), KDC_OK);
    if (ir_verify(m, &d))
        fail_msg("verify: %s", d.msg);
    assert_int_equal(pass_infer_shapes(m->graph, &d), KDC_OK);
}

static void assert_i64_tensor(const Value *v, int rank, int64_t n, const int64_t *want)
{
    assert_non_null(v->init);
    assert_int_equal(v->init->dtype, DT_INT64);
    assert_int_equal(v->init->rank, rank);
    assert_int_equal(tensor_numel(v->init), n);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(tensor_get_int(v->init, i), want[i]);
    assert_int_equal(v->shape.rank, rank);
    assert_int_equal(v->dtype, DT_INT64);
}

static bool is_init(const Graph *g, const Value *v)
{
    for (int i = 0; i < g->n_inits; i++)
        if (g->inits[i] == v)
            return true;
    return false;
}

/* ---- the PyTorch x.view(x.size(0), -1) pattern ---- */

/* Shape(x) -> Gather(0) -> Unsqueeze -> Concat(.., [-1]) -> Reshape(x, ..);
 * `gather_index`/`minus_one_first` let tests break the pattern. */
static Node *build_view(Graph *g, Value *x, Value *shape_src, int64_t gather_index, bool minus_one_first, int opset)
{
    Node *shape = gb_node_to(g, "Shape", opset, "shape", 1, &shape_src, "s");
    Node *c0 = graph_add_node(g, "Constant", "", 0, 1);
    c0->name = "c0";
    op_bind(c0);
    Tensor *idx = tensor_new(g->arena, DT_INT64, 0, NULL);
    memcpy(idx->data, &gather_index, 8);
    node_add_attr(c0, "value", ATTR_TENSOR)->t = idx;
    node_set_output(c0, 0, graph_add_value(g, "idx", NULL));
    Node *gather = gb_node_to(g, "Gather", opset, "gather", 2, (Value *[]){out_of(shape), out_of(c0)}, "g0");
    gb_set_int(gather, "axis", 0);
    Node *unsq;
    if (opset >= 13) {
        Value *axes = gb_ints(g, "axes", 1, (int64_t[]){0});
        unsq = gb_node_to(g, "Unsqueeze", opset, "unsq", 2, (Value *[]){out_of(gather), axes}, "u");
    } else {
        unsq = gb_node_to(g, "Unsqueeze", opset, "unsq", 1, (Value *[]){out_of(gather)}, "u");
        gb_set_ints(unsq, "axes", 1, (int64_t[]){0});
    }
    Node *cm = graph_add_node(g, "Constant", "", 0, 1);
    cm->name = "cm";
    op_bind(cm);
    gb_set_ints(cm, "value_ints", 1, (int64_t[]){-1});
    node_set_output(cm, 0, graph_add_value(g, "m1", NULL));
    Value *parts[2] = {out_of(unsq), out_of(cm)};
    if (minus_one_first) {
        parts[0] = out_of(cm);
        parts[1] = out_of(unsq);
    }
    Node *cat = gb_node_to(g, "Concat", opset, "cat", 2, parts, "cat_out");
    gb_set_int(cat, "axis", 0);
    Node *reshape = gb_node_to(g, "Reshape", opset, "reshape", 2, (Value *[]){x, out_of(cat)}, "y");
    gb_append_output(g, out_of(reshape));
    return reshape;
}

static Value *batch_input(Graph *g, const char *name, const char *batch)
{
    return gb_input_shaped(g, name, DT_FLOAT, (Shape){4, {{-1, batch}, {32, NULL}, {7, NULL}, {7, NULL}}});
}

static void test_view_symbolic_batch(void **state, int opset)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", "batch");
    Node *reshape = build_view(g, x, x, 0, false, opset);
    run_pipeline(m);
    assert_int_equal(g->n_nodes, 1);
    assert_ptr_equal(g->nodes[0], reshape);
    assert_true(is_init(g, reshape->inputs[1]));
    assert_i64_tensor(reshape->inputs[1], 1, 2, (int64_t[]){0, -1});
    /* the now-dead axes initializer is gone, the new target is the only one */
    assert_int_equal(g->n_inits, 1);
    const Value *y = reshape->outputs[0];
    assert_int_equal(y->shape.rank, 2);
    assert_string_equal(y->shape.dims[0].param, "batch");
    assert_int_equal(y->shape.dims[1].value, 32 * 7 * 7);
    model_free(m);
}

static void test_view_opset13(void **state)
{
    test_view_symbolic_batch(state, 13);
}

static void test_view_opset11(void **state)
{
    test_view_symbolic_batch(state, 11);
}

/* Same pattern, but Shape is taken of relu(x): the batch symbol matches by name. */
static void test_view_through_named_symbol(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", "N");
    Node *relu = gb_node_to(g, "Relu", 13, "relu", 1, &x, "r");
    Node *reshape = build_view(g, out_of(relu), x, 0, false, 13);
    run_pipeline(m);
    assert_int_equal(g->n_nodes, 2);
    assert_i64_tensor(reshape->inputs[1], 1, 2, (int64_t[]){0, -1});
    model_free(m);
}

/* The symbolic dim lands at position 1 of the target: 0 there would copy
 * dim 1 of x, not the batch, so the target must stay computed. */
static void test_view_wrong_position_left_alone(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", "batch");
    Node *reshape = build_view(g, x, x, 0, true, 13);
    run_pipeline(m);
    assert_null(reshape->inputs[1]->init);
    assert_string_equal(reshape->inputs[1]->producer->op_type, "Concat");
    assert_int_equal(g->n_nodes, 5); /* Shape, Gather, Unsqueeze, Concat, Reshape */
    model_free(m);
}

/* A dim nothing names (unknown, no symbol) of another value is not ours. */
static void test_view_unknown_dim_of_other_value_left_alone(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", "batch");
    Value *z = gb_input_shaped(g, "z", DT_FLOAT, (Shape){2, {{-1, NULL}, {3, NULL}}});
    Node *reshape = build_view(g, x, z, 0, false, 13);
    run_pipeline(m);
    assert_null(reshape->inputs[1]->init);
    model_free(m);
}

/* Gather of a known dim of a symbolic shape is a plain number. */
static void test_view_known_dim_becomes_constant(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = batch_input(g, "x", "batch");
    Node *reshape = build_view(g, x, x, -3, true, 13); /* [-1, x.size(-3) = 32] */
    run_pipeline(m);
    assert_i64_tensor(reshape->inputs[1], 1, 2, (int64_t[]){-1, 32});
    assert_int_equal(g->n_nodes, 1);
    model_free(m);
}

/* ---- fully known evaluation ---- */

static void test_shape_start_gather_cast(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input_shaped(g, "x", DT_FLOAT, (Shape){4, {{2, NULL}, {3, NULL}, {4, NULL}, {5, NULL}}});
    Node *shape = gb_node_to(g, "Shape", 15, "shape", 1, &x, "s");
    gb_set_int(shape, "start", 1);
    Value *last = gb_ints(g, "last", -1, (int64_t[]){-1});
    Node *gather = gb_node_to(g, "Gather", 15, "gather", 2, (Value *[]){out_of(shape), last}, "g0");
    Node *unsq = gb_node_to(g, "Unsqueeze", 11, "unsq", 1, (Value *[]){out_of(gather)}, "u");
    gb_set_ints(unsq, "axes", 1, (int64_t[]){-1});
    Node *cast = gb_node_to(g, "Cast", 15, "cast", 1, (Value *[]){out_of(unsq)}, "c");
    gb_set_int(cast, "to", DT_INT32);
    Node *use_shape = add_use(g, out_of(shape), "use_s");
    Node *use_cast = add_use(g, out_of(cast), "use_c");
    run_pipeline(m);
    assert_i64_tensor(use_shape->inputs[0], 1, 3, (int64_t[]){3, 4, 5});
    const Tensor *c = use_cast->inputs[0]->init;
    assert_non_null(c);
    assert_int_equal(c->dtype, DT_INT32);
    assert_int_equal(c->rank, 1);
    assert_int_equal(tensor_get_int(c, 0), 5);
    assert_int_equal(g->n_nodes, 2);
    model_free(m);
}

static void test_int_arithmetic(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    int64_t dims23[2] = {2, 3};
    Value *a = gb_init_copy(g, "a", DT_INT64, 2, dims23, (int64_t[]){1, 2, 3, -7, 8, 9});
    Value *b = gb_ints(g, "b", 3, (int64_t[]){2, 2, 2});
    Value *zero = gb_ints(g, "zero", -1, (int64_t[]){0});
    Node *add = gb_node_to(g, "Add", 14, "add", 2, (Value *[]){a, b}, "sum");
    Node *sub = gb_node_to(g, "Sub", 14, "sub", 2, (Value *[]){b, a}, "diff");
    Node *mul = gb_node_to(g, "Mul", 14, "mul", 2, (Value *[]){a, b}, "prod");
    Node *div = gb_node_to(g, "Div", 14, "div", 2, (Value *[]){a, b}, "quot");
    Node *div0 = gb_node_to(g, "Div", 14, "div0", 2, (Value *[]){a, zero}, "bad");
    Node *uses[5];
    Node *ops[5] = {add, sub, mul, div, div0};
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "use%d", i);
        uses[i] = add_use(g, out_of(ops[i]), name);
    }
    run_pipeline(m);
    assert_i64_tensor(uses[0]->inputs[0], 2, 6, (int64_t[]){3, 4, 5, -5, 10, 11});
    assert_i64_tensor(uses[1]->inputs[0], 2, 6, (int64_t[]){1, 0, -1, 9, -6, -7});
    assert_i64_tensor(uses[2]->inputs[0], 2, 6, (int64_t[]){2, 4, 6, -14, 16, 18});
    assert_i64_tensor(uses[3]->inputs[0], 2, 6, (int64_t[]){0, 1, 1, -3, 4, 4});
    assert_ptr_equal(uses[4]->inputs[0], out_of(div0)); /* division by zero is left to the runtime */
    model_free(m);
}

static void test_gather_concat_squeeze_2d(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    int64_t dims23[2] = {2, 3}, dims21[2] = {2, 1};
    Value *a = gb_init_copy(g, "a", DT_INT32, 2, dims23, (int32_t[]){10, 11, 12, 20, 21, 22});
    Value *idx = gb_ints(g, "idx", 2, (int64_t[]){2, -3});
    Value *col = gb_init_copy(g, "col", DT_INT32, 2, dims21, (int32_t[]){7, 8});
    Node *gather = gb_node_to(g, "Gather", 13, "gather", 2, (Value *[]){a, idx}, "picked");
    gb_set_int(gather, "axis", 1);
    Node *cat = gb_node_to(g, "Concat", 13, "cat", 2, (Value *[]){out_of(gather), col}, "joined");
    gb_set_int(cat, "axis", -1);
    Value *axes = gb_ints(g, "axes", 1, (int64_t[]){1});
    Node *sq = gb_node_to(g, "Squeeze", 13, "sq", 2, (Value *[]){col, axes}, "squeezed");
    Node *use_cat = add_use(g, out_of(cat), "use_cat");
    Node *use_sq = add_use(g, out_of(sq), "use_sq");
    run_pipeline(m);
    const Tensor *j = use_cat->inputs[0]->init;
    assert_non_null(j);
    assert_int_equal(j->dtype, DT_INT32);
    assert_int_equal(j->rank, 2);
    assert_int_equal(j->dims[0], 2);
    assert_int_equal(j->dims[1], 3);
    int64_t want[6] = {12, 10, 7, 22, 20, 8};
    for (int i = 0; i < 6; i++)
        assert_int_equal(tensor_get_int(j, i), want[i]);
    const Tensor *s = use_sq->inputs[0]->init;
    assert_int_equal(s->rank, 1);
    assert_int_equal(s->dims[0], 2);
    assert_int_equal(tensor_get_int(s, 1), 8);
    assert_int_equal(g->n_nodes, 2);
    model_free(m);
}

static void test_constant_kinds_and_identity(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Node *cf = graph_add_node(g, "Constant", "", 0, 1);
    op_bind(cf);
    Attr *a = node_add_attr(cf, "value_floats", ATTR_FLOATS);
    a->n = 2;
    a->floats = arena_memdup(g->arena, (float[]){1.5f, -2.0f}, 2 * sizeof(float));
    node_set_output(cf, 0, graph_add_value(g, "cf", NULL));
    Node *id = gb_node_to(g, "Identity", 13, "id", 1, (Value *[]){out_of(cf)}, "idout");
    Node *ci = graph_add_node(g, "Constant", "", 0, 1);
    op_bind(ci);
    node_add_attr(ci, "value_int", ATTR_INT)->i = 42;
    node_set_output(ci, 0, graph_add_value(g, "ci", NULL));
    Node *use_f = add_use(g, out_of(id), "use_f");
    gb_append_output(g, out_of(ci)); /* a constant graph output keeps its node */
    run_pipeline(m);
    const Value *f = use_f->inputs[0];
    assert_non_null(f->init);
    assert_string_equal(f->name, "cf_const");
    assert_int_equal(f->init->dtype, DT_FLOAT);
    assert_float_equal(((const float *)f->init->data)[1], -2.0f, 0);
    assert_ptr_equal(g->outputs[1], out_of(ci));
    assert_int_equal(g->n_nodes, 2); /* the value_int Constant and the Use */
    model_free(m);
}

/* An initializer that is also a graph input may be fed by the caller. */
static void test_overridable_initializer_not_folded(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *k = gb_ints(g, "k", 2, (int64_t[]){1, 2});
    g->inputs = arena_memdup(g->arena, &k, sizeof k);
    g->n_inputs = 1;
    Value *one = gb_ints(g, "one", 1, (int64_t[]){1});
    Node *add = gb_node_to(g, "Add", 14, "add", 2, (Value *[]){k, one}, "sum");
    Node *use = add_use(g, out_of(add), "use");
    run_pipeline(m);
    assert_ptr_equal(use->inputs[0], out_of(add));
    assert_int_equal(g->n_nodes, 2);
    assert_int_equal(g->n_inits, 2);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_opset13),
        cmocka_unit_test(test_view_opset11),
        cmocka_unit_test(test_view_through_named_symbol),
        cmocka_unit_test(test_view_wrong_position_left_alone),
        cmocka_unit_test(test_view_unknown_dim_of_other_value_left_alone),
        cmocka_unit_test(test_view_known_dim_becomes_constant),
        cmocka_unit_test(test_shape_start_gather_cast),
        cmocka_unit_test(test_int_arithmetic),
        cmocka_unit_test(test_gather_concat_squeeze_2d),
        cmocka_unit_test(test_constant_kinds_and_identity),
        cmocka_unit_test(test_overridable_initializer_not_folded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
