/* test_infer_shapes_data.c - shape functions of the data-movement ops the
 * first slice registered (Flatten, Reshape, Shape, Gather, Unsqueeze,
 * Squeeze, Concat, Constant): symbolic dims carried by name, opset-dependent
 * inputs vs attributes, and errors that name the node. */
#include "tests/unit/infer_check.h"

/* ---- data movement ---- */

static void test_flatten(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3,4,5"), *k = input(g, "k", DT_FLOAT, "2,3,4");
    Value *f1 = gb_op1(g, "Flatten", 13, "f1", x);
    Node *f0 = gb_node(g, "Flatten", 13, "f0", 1, &x, 1);
    gb_set_int(f0, "axis", 0);
    Node *f2 = gb_node(g, "Flatten", 13, "f2", 1, &x, 1);
    gb_set_int(f2, "axis", 2);
    Node *fneg = gb_node(g, "Flatten", 13, "fneg", 1, &x, 1);
    gb_set_int(fneg, "axis", -1);
    Node *f4 = gb_node(g, "Flatten", 13, "f4", 1, &x, 1);
    gb_set_int(f4, "axis", 4);
    Node *k0 = gb_node(g, "Flatten", 13, "k0", 1, &k, 1);
    gb_set_int(k0, "axis", 0);
    run_infer(g);
    expect_f(f1, "N,60");
    expect_f(f0->outputs[0], "1,?");
    expect_f(f2->outputs[0], "?,20");
    expect_f(fneg->outputs[0], "?,5");
    expect_f(f4->outputs[0], "?,1");
    expect_f(k0->outputs[0], "1,24");
    model_free(m);

    m = model_new();
    Node *bad = gb_node(m->graph, "Flatten", 13, "fbad", 1, (Value *[]){input(m->graph, "x", DT_FLOAT, "N,3")}, 1);
    gb_set_int(bad, "axis", 3);
    expect_infer_error(m, "node 'fbad' (Flatten): axis 3 is out of range for rank 2");
}

static void test_reshape(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3,4,5"), *k = input(g, "k", DT_FLOAT, "2,3,4");
    Value *x12 = input(g, "x12", DT_FLOAT, "N,12");
    Value *copy_rest = gb_op2(g, "Reshape", 14, "copy_rest", x, gb_ints(g, "s1", 2, (int64_t[]){0, -1}));
    Value *rest_known = gb_op2(g, "Reshape", 14, "rest_known", x, gb_ints(g, "s2", 2, (int64_t[]){-1, 60}));
    Value *partial = gb_op2(g, "Reshape", 14, "partial", x, gb_ints(g, "s3", 3, (int64_t[]){0, 3, 20}));
    Value *known = gb_op2(g, "Reshape", 14, "known", k, gb_ints(g, "s4", 2, (int64_t[]){4, -1}));
    Value *keep = gb_op2(g, "Reshape", 14, "keep", k, gb_ints(g, "s5", 3, (int64_t[]){0, 0, -1}));
    Value *split = gb_op2(g, "Reshape", 14, "split", x12, gb_ints(g, "s6", 3, (int64_t[]){-1, 3, 4}));
    Value *mixed = gb_op2(g, "Reshape", 14, "mixed", x, gb_ints(g, "s7", 2, (int64_t[]){-1, 20}));
    Value *shape_in = input(g, "shape_in", DT_INT64, "2");
    Value *runtime = gb_op2(g, "Reshape", 14, "runtime", x, shape_in);
    Value *declared = gb_op2(g, "Reshape", 14, "declared", x, shape_in);
    declared->kind = TYPE_TENSOR; /* a shape the model declares is kept */
    declared->dtype = DT_FLOAT;
    declared->shape = parse_shape(m->arena, "N,60");
    run_infer(g);
    expect_f(copy_rest, "N,60");
    expect_f(rest_known, "N,60");
    expect_f(partial, "N,3,20");
    expect_f(known, "4,6");
    expect_f(keep, "2,3,4");
    expect_f(split, "N,3,4");
    expect_f(mixed, "?,20");
    expect_f(runtime, "*");
    expect_f(declared, "N,60");
    model_free(m);
}

static void test_reshape_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_op2(g, "Reshape", 14, "r_numel", input(g, "x", DT_FLOAT, "2,3,4"), gb_ints(g, "s", 2, (int64_t[]){5, 5}));
    expect_infer_error(m, "node 'r_numel' (Reshape): cannot reshape 24 elements into 25");

    m = model_new();
    g = m->graph;
    gb_op2(g, "Reshape", 14, "r_div", input(g, "x", DT_FLOAT, "2,3,4"), gb_ints(g, "s", 2, (int64_t[]){5, -1}));
    expect_infer_error(m, "node 'r_div' (Reshape): cannot reshape 24 elements: the entries other than -1 multiply "
                          "to 5, which does not divide it");

    m = model_new();
    g = m->graph;
    gb_op2(g, "Reshape", 14, "r_two", input(g, "x", DT_FLOAT, "2,3,4"), gb_ints(g, "s", 2, (int64_t[]){-1, -1}));
    expect_infer_error(m, "node 'r_two' (Reshape): shape has more than one -1");

    m = model_new();
    g = m->graph;
    gb_op2(g, "Reshape", 14, "r_zero", input(g, "x", DT_FLOAT, "24"), gb_ints(g, "s", 2, (int64_t[]){4, 0}));
    expect_infer_error(m, "node 'r_zero' (Reshape): shape entry 1 is 0 but the input has rank 1");

    m = model_new();
    g = m->graph;
    gb_op2(g, "Reshape", 14, "r_neg", input(g, "x", DT_FLOAT, "24"), gb_ints(g, "s", 2, (int64_t[]){4, -3}));
    expect_infer_error(m, "node 'r_neg' (Reshape): shape entry 1 is -3");
}

static void test_shape_gather(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3,4");
    Value *shp = gb_op1(g, "Shape", 13, "shp", x);
    Node *tail = gb_node(g, "Shape", 15, "tail", 1, &x, 1);
    gb_set_int(tail, "start", 1);
    Node *last = gb_node(g, "Shape", 15, "last", 1, &x, 1);
    gb_set_int(last, "start", -1);
    Node *head = gb_node(g, "Shape", 15, "head", 1, &x, 1);
    gb_set_int(head, "end", -1);
    Value *g_scalar = gb_op2(g, "Gather", 13, "g_scalar", shp, gb_ints(g, "i0", -1, (int64_t[]){0}));
    Node *g_axis1 = gb_node(g, "Gather", 13, "g_axis1", 2, (Value *[]){x, gb_ints(g, "i1", -1, (int64_t[]){2})}, 1);
    gb_set_int(g_axis1, "axis", 1);
    Value *table = weight(g, "table", "10,6");
    Value *embed = gb_op2(g, "Gather", 13, "embed", table, input(g, "tok", DT_INT64, "N,7"));
    Node *g_neg = gb_node(g, "Gather", 13, "g_neg", 2, (Value *[]){x, gb_ints(g, "i2", 2, (int64_t[]){0, 1})}, 1);
    gb_set_int(g_neg, "axis", -1);
    run_infer(g);
    expect_typed(shp, DT_INT64, "3");
    expect_typed(tail->outputs[0], DT_INT64, "2");
    expect_typed(last->outputs[0], DT_INT64, "1");
    expect_typed(head->outputs[0], DT_INT64, "2");
    expect_typed(g_scalar, DT_INT64, "");
    expect_f(g_axis1->outputs[0], "N,4");
    expect_f(embed, "N,7,6");
    expect_f(g_neg->outputs[0], "N,3,2");
    model_free(m);

    m = model_new();
    g = m->graph;
    Node *bad = gb_node(g, "Gather", 13, "g_bad", 2,
                        (Value *[]){input(g, "x", DT_FLOAT, "N,3,4"), gb_ints(g, "i", 1, (int64_t[]){0})}, 1);
    gb_set_int(bad, "axis", 3);
    expect_infer_error(m, "node 'g_bad' (Gather): axis 3 is out of range for rank 3");
}

static void test_unsqueeze_squeeze(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", DT_FLOAT, "N,3"), *y = input(g, "y", DT_FLOAT, "N,1,3,1");
    Value *k = input(g, "k", DT_FLOAT, "2,1,3,1"), *axes_in = input(g, "axes_in", DT_INT64, "1");
    Node *u11 = gb_node(g, "Unsqueeze", 11, "u11", 1, &x, 1);
    gb_set_ints(u11, "axes", 1, (int64_t[]){0});
    Value *u13 = gb_op2(g, "Unsqueeze", 13, "u13", x, gb_ints(g, "a1", 1, (int64_t[]){-1}));
    Value *u_two = gb_op2(g, "Unsqueeze", 13, "u_two", x, gb_ints(g, "a2", 2, (int64_t[]){1, 3}));
    Value *u_run = gb_op2(g, "Unsqueeze", 13, "u_run", x, axes_in);
    Node *s11 = gb_node(g, "Squeeze", 11, "s11", 1, &y, 1);
    gb_set_ints(s11, "axes", 1, (int64_t[]){1});
    Value *s13 = gb_op2(g, "Squeeze", 13, "s13", y, gb_ints(g, "a3", 1, (int64_t[]){-1}));
    Value *s_all = gb_op1(g, "Squeeze", 13, "s_all", k);
    Value *s_sym = gb_op1(g, "Squeeze", 13, "s_sym", y);
    run_infer(g);
    expect_f(u11->outputs[0], "1,N,3");
    expect_f(u13, "N,3,1");
    expect_f(u_two, "N,1,3,1");
    expect_f(u_run, "*");
    expect_f(s11->outputs[0], "N,3,1");
    expect_f(s13, "N,1,3");
    expect_f(s_all, "2,3");
    expect_f(s_sym, "*"); /* is N 1? not known yet */
    model_free(m);

    m = model_new();
    g = m->graph;
    gb_op2(g, "Unsqueeze", 13, "u_rep", input(g, "x", DT_FLOAT, "N,3"), gb_ints(g, "a", 2, (int64_t[]){1, -3}));
    expect_infer_error(m, "node 'u_rep' (Unsqueeze): axis -3 is repeated");

    m = model_new();
    g = m->graph;
    gb_op2(g, "Unsqueeze", 13, "u_far", input(g, "x", DT_FLOAT, "N,3"), gb_ints(g, "a", 1, (int64_t[]){3}));
    expect_infer_error(m, "node 'u_far' (Unsqueeze): axis 3 is out of range for rank 3");

    m = model_new();
    g = m->graph;
    gb_op2(g, "Squeeze", 13, "s_three", input(g, "x", DT_FLOAT, "N,3"), gb_ints(g, "a", 1, (int64_t[]){1}));
    expect_infer_error(m, "node 's_three' (Squeeze): cannot squeeze axis 1 of size 3");
}

static void test_concat(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *a = input(g, "a", DT_FLOAT, "N,3"), *b = input(g, "b", DT_FLOAT, "N,5");
    Value *c = input(g, "c", DT_FLOAT, "2,3"), *e = input(g, "e", DT_FLOAT, "4,3");
    Value *q = input(g, "q", DT_FLOAT, "?,3");
    Node *cols = gb_node(g, "Concat", 13, "cols", 3, (Value *[]){a, b, a}, 1);
    gb_set_int(cols, "axis", 1);
    Node *rows = gb_node(g, "Concat", 13, "rows", 2, (Value *[]){c, e}, 1);
    gb_set_int(rows, "axis", 0);
    Node *sym_rows = gb_node(g, "Concat", 13, "sym_rows", 2, (Value *[]){a, c}, 1);
    gb_set_int(sym_rows, "axis", -2);
    Node *fill = gb_node(g, "Concat", 13, "fill", 2, (Value *[]){q, a}, 1);
    gb_set_int(fill, "axis", 1);
    run_infer(g);
    expect_f(cols->outputs[0], "N,11");
    expect_f(rows->outputs[0], "6,3");
    expect_f(sym_rows->outputs[0], "?,3");
    expect_f(fill->outputs[0], "N,6"); /* the other input tells the unknown dim */
    model_free(m);

    m = model_new();
    g = m->graph;
    Node *n = gb_node(g, "Concat", 13, "cat_rank", 2,
                      (Value *[]){input(g, "a", DT_FLOAT, "N,3"), input(g, "b", DT_FLOAT, "3")}, 1);
    gb_set_int(n, "axis", 0);
    expect_infer_error(m, "node 'cat_rank' (Concat): input 1 has rank 1, input 0 has rank 2");

    m = model_new();
    g = m->graph;
    n = gb_node(g, "Concat", 13, "cat_dim", 2,
                (Value *[]){input(g, "a", DT_FLOAT, "2,3"), input(g, "b", DT_FLOAT, "2,4")}, 1);
    gb_set_int(n, "axis", 0);
    expect_infer_error(m, "node 'cat_dim' (Concat): input 1 has 4 in dim 1, input 0 has 3");

    m = model_new();
    g = m->graph;
    n = gb_node(g, "Concat", 13, "cat_axis", 1, (Value *[]){input(g, "a", DT_FLOAT, "2,3")}, 1);
    gb_set_int(n, "axis", 2);
    expect_infer_error(m, "node 'cat_axis' (Concat): axis 2 is out of range for rank 2");
}

static void test_constant(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Node *t = gb_node(g, "Constant", 13, "t", 0, NULL, 1);
    node_add_attr(t, "value", ATTR_TENSOR)->t = tensor_new(m->arena, DT_INT32, 2, (int64_t[]){2, 3});
    Node *f = gb_node(g, "Constant", 13, "f", 0, NULL, 1);
    node_add_attr(f, "value_float", ATTR_FLOAT)->f = 1.5f;
    Node *i = gb_node(g, "Constant", 13, "i", 0, NULL, 1);
    node_add_attr(i, "value_int", ATTR_INT)->i = 7;
    Node *fs = gb_node(g, "Constant", 13, "fs", 0, NULL, 1);
    node_add_attr(fs, "value_floats", ATTR_FLOATS)->n = 4;
    Node *is = gb_node(g, "Constant", 13, "is", 0, NULL, 1);
    gb_set_ints(is, "value_ints", 3, (int64_t[]){1, 2, 3});
    Node *s = gb_node(g, "Constant", 13, "s", 0, NULL, 1);
    gb_set_str(s, "value_string", "hi");
    run_infer(g);
    expect_typed(t->outputs[0], DT_INT32, "2,3");
    expect_typed(f->outputs[0], DT_FLOAT, "");
    expect_typed(i->outputs[0], DT_INT64, "");
    expect_typed(fs->outputs[0], DT_FLOAT, "4");
    expect_typed(is->outputs[0], DT_INT64, "3");
    expect_typed(s->outputs[0], DT_STRING, "");
    model_free(m);

    m = model_new();
    node_add_attr(gb_node(m->graph, "Constant", 13, "sparse", 0, NULL, 1), "sparse_value", ATTR_SPARSE_TENSOR);
    expect_infer_error(m, "node 'sparse' (Constant): attribute 'sparse_value' is not supported (sparse constants are "
                          "not computed)");

    m = model_new();
    gb_node(m->graph, "Constant", 13, "empty", 0, NULL, 1);
    expect_infer_error(m, "node 'empty' (Constant): must have exactly one value attribute, has 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_reshape_errors),
        cmocka_unit_test(test_shape_gather),
        cmocka_unit_test(test_unsqueeze_squeeze),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_constant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
