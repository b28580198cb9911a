/* test_plan_control.c - the control-flow ops If, Loop and Scan through
 * execution plans (runtime/op_control.c, ir/infer_control.c, the body plans
 * of runtime/plan.c).
 *
 * Small graphs with body graphs run forward and are compared with values
 * computed here: If with a build-time condition (only the chosen branch is
 * planned: the other one would not even fit) and with a run-time one, both
 * branches reading values of the enclosing graph (one through a view);
 * Loop with a build-time trip count, a loop-carried value, a scan output and
 * an If nested in its body whose branches read the body's values; Loop
 * ended by a run-time condition without a trip count; Scan summing rows
 * along axis 0, along axis 1 in reverse, and in opset 8's batched form.
 * Errors, with their exact messages: branches of different shapes, a
 * sequence-typed body input given a tensor, a run-time trip count with scan outputs, a
 * loop-carried value whose shape changes in opset 1 (from opset 11 it may:
 * test_plan_loop_dynamic.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "tests/unit/plan_check.h"

/* ---- graphs and plans ---- */

/* A body graph held by attribute `attr` of n. */
static Graph *body_of(Node *n, const char *attr, const char *name)
{
    Graph *b = graph_new(n->graph->arena, n->graph);
    b->name = name;
    node_add_attr(n, attr, ATTR_GRAPH)->g = b;
    return b;
}

static Value *bool_init(Graph *g, const char *name, bool v)
{
    return gb_init_copy(g, name, DT_BOOL, 1, (int64_t[]){1}, &(uint8_t){v});
}

static Value *float_init(Graph *g, const char *name, int n, const float *v)
{
    return gb_init_copy(g, name, DT_FLOAT, 1, (int64_t[]){n}, v);
}

static void set_floats(Plan *p, int k, int n, const float *v)
{
    memcpy(plan_input(p, k), v, (size_t)n * sizeof *v);
}

/* Absolute tolerance in float (pc_expect_close is relative, in double). */
static void expect_floats(const Plan *p, int k, int n, const float *want)
{
    DType dt;
    Shape s;
    plan_output_info(p, k, &dt, &s);
    assert_int_equal(dt, DT_FLOAT);
    assert_int_equal(pc_output_numel(p, k), n);
    const float *y = plan_output(p, k);
    for (int i = 0; i < n; i++)
        if (fabsf(y[i] - want[i]) > 1e-5f)
            fail_msg("output %d[%d] = %g, want %g", k, i, y[i], want[i]);
}

/* ---- If ---- */

/* y = If(c) then x + 1 else x * 2, x [3] an input of the top graph; with
 * else_rows > 0 the 2 is [else_rows, 1], so that else gives [else_rows, 3]. */
static Node *if_graph(Graph *g, Value *c, Value *x, int else_rows)
{
    Node *n = gb_node(g, "If", 13, "if", 1, &c, 1);
    gb_append_output(g, n->outputs[0]);
    Graph *t = body_of(n, "then_branch", "then"), *e = body_of(n, "else_branch", "else");
    Value *one = float_init(t, "one", 1, (float[]){1});
    gb_append_output(t, gb_op2(t, "Add", 13, "add", x, one));
    int64_t dims[2] = {else_rows ? else_rows : 1, 1};
    Value *two = gb_init_copy(e, "two", DT_FLOAT, else_rows ? 2 : 1, dims, (float[]){2, 2, 2, 2});
    gb_append_output(e, gb_op2(e, "Mul", 13, "mul", x, two));
    return n;
}

/* A constant condition plans the chosen branch only: the else branch here
 * gives [2, 3], which would not match then's [3]. */
static void test_if_constant_condition(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){3});
    Value *c = bool_init(g, "c", true);
    if_graph(g, c, x, 2);
    Plan *p = pc_build_declared(g, 5);
    set_floats(p, 0, 3, (float[]){1, 2, 3});
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 1, (int64_t[]){3});
    expect_floats(p, 0, 3, (float[]){2, 3, 4});
    plan_free(p);
    model_free(m);
}

/* Condition from an input: both branches planned, the choice made per run;
 * then's output is a view of the outer x. */
static void test_if_runtime_condition(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){3});
    Value *c = gb_input(g, "c", DT_BOOL, 1, (int64_t[]){1});
    Node *n = if_graph(g, c, x, 0);
    Node *view = gb_node(g, "If", 13, "if_view", 1, &c, 1);
    gb_append_output(g, view->outputs[0]);
    Graph *t = body_of(view, "then_branch", "then_view"), *e = body_of(view, "else_branch", "else_view");
    gb_append_output(t, gb_op1(t, "Identity", 13, "same", x));
    gb_append_output(e, gb_op1(e, "Neg", 13, "neg", n->outputs[0]));
    Plan *p = pc_build_declared(g, 5);
    set_floats(p, 0, 3, (float[]){1, 2, 3});
    *(uint8_t *)plan_input(p, 1) = 1;
    pc_forward(p);
    expect_floats(p, 0, 3, (float[]){2, 3, 4});
    expect_floats(p, 1, 3, (float[]){1, 2, 3});
    *(uint8_t *)plan_input(p, 1) = 0;
    pc_forward(p);
    expect_floats(p, 0, 3, (float[]){2, 4, 6});
    expect_floats(p, 1, 3, (float[]){-2, -4, -6});
    plan_free(p);
    model_free(m);
}

/* ---- Loop ---- */

/* Loop body inputs (i, cond, y) -> (cond, y + x, y + x): x [2] from the top
 * graph; the nested If adds 10 on the last iteration (i == last). */
static Graph *loop_body(Node *n, Value *x, Value *last)
{
    Graph *b = body_of(n, "body", "body");
    Value *i = gb_input(b, "i", DT_INT64, 0, NULL);
    Value *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *y = gb_input(b, "y_in", DT_FLOAT, 1, (int64_t[]){2});
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_pass", cond));
    Value *sum = gb_op2(b, "Add", 13, "step", y, x);
    Node *inner = gb_node(b, "If", 13, "last", 1, (Value *[]){gb_op2(b, "Equal", 13, "is_last", i, last)}, 1);
    Graph *t = body_of(inner, "then_branch", "bump"), *e = body_of(inner, "else_branch", "keep");
    gb_append_output(t, gb_op2(t, "Add", 13, "plus10", sum, float_init(t, "ten", 1, (float[]){10})));
    gb_append_output(e, gb_op1(e, "Identity", 13, "as_is", sum));
    gb_append_output(b, inner->outputs[0]);
    gb_append_output(b, gb_op1(b, "Identity", 13, "row", sum));
    return b;
}

static void test_loop_constant_trips(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){2});
    Value *trips = gb_ints(g, "M", -1, (int64_t[]){3}), *last = gb_ints(g, "last", -1, (int64_t[]){2});
    Value *y0 = float_init(g, "y0", 2, (float[]){1, -1});
    Node *n = gb_node(g, "Loop", 13, "loop", 3, (Value *[]){trips, NULL, y0}, 2);
    gb_append_output(g, n->outputs[0]);
    gb_append_output(g, n->outputs[1]);
    loop_body(n, x, last);
    Plan *p = pc_build_declared(g, 5);
    set_floats(p, 0, 2, (float[]){0.5f, 2});
    pc_forward(p);
    pc_expect_output(p, 1, DT_FLOAT, 2, (int64_t[]){3, 2});
    /* rows: y1 = y0 + x, y2 = y1 + x, y3 = y2 + x; the carried y gets +10 at i = 2 only */
    expect_floats(p, 1, 6, (float[]){1.5f, 1, 2, 3, 2.5f, 5});
    expect_floats(p, 0, 2, (float[]){12.5f, 15});
    pc_forward(p); /* runs again from the initial value */
    expect_floats(p, 0, 2, (float[]){12.5f, 15});
    plan_free(p);
    model_free(m);
}

/* No trip count: body (i, cond, s) -> (i < limit, s + 1), limit an input. */
static void test_loop_runtime_condition(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *limit = gb_input(g, "limit", DT_INT64, 0, NULL), *c = gb_input(g, "go", DT_BOOL, 0, NULL);
    Value *s0 = float_init(g, "s0", 1, (float[]){0});
    Node *n = gb_node(g, "Loop", 13, "loop", 3, (Value *[]){NULL, c, s0}, 1);
    gb_append_output(g, n->outputs[0]);
    Graph *b = body_of(n, "body", "count");
    Value *i = gb_input(b, "i", DT_INT64, 0, NULL);
    gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *s = gb_input(b, "s_in", DT_FLOAT, 1, (int64_t[]){1});
    gb_append_output(b, gb_op2(b, "Less", 13, "more", i, limit));
    gb_append_output(b, gb_op2(b, "Add", 13, "inc", s, float_init(b, "one", 1, (float[]){1})));
    Plan *p = pc_build_declared(g, 5);
    *(int64_t *)plan_input(p, 0) = 4;
    *(uint8_t *)plan_input(p, 1) = 1;
    pc_forward(p);
    expect_floats(p, 0, 1, (float[]){5}); /* i = 0..4, the last one returns false */
    *(uint8_t *)plan_input(p, 1) = 0;
    pc_forward(p);
    expect_floats(p, 0, 1, (float[]){0});
    plan_free(p);
    model_free(m);
}

/* ---- Scan ---- */

/* Body (sum, row) -> (sum + row, sum + row) on slices of shape [2]. */
static void sum_body(Node *n)
{
    Graph *b = body_of(n, "body", "sum_body");
    Value *acc = gb_input(b, "acc_in", DT_FLOAT, 1, (int64_t[]){2});
    Value *row = gb_input(b, "row", DT_FLOAT, 1, (int64_t[]){2});
    Value *next = gb_op2(b, "Add", 13, "acc", acc, row);
    gb_append_output(b, next);
    gb_append_output(b, gb_op1(b, "Identity", 13, "partial", next));
}

static void test_scan_sum(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){3, 2});
    Value *xt = gb_input(g, "xt", DT_FLOAT, 2, (int64_t[]){2, 3});
    Value *zero = float_init(g, "zero", 2, (float[]){0, 0});
    Node *rows = gb_node(g, "Scan", 11, "rows", 2, (Value *[]){zero, x}, 2);
    gb_set_int(rows, "num_scan_inputs", 1);
    sum_body(rows);
    Node *cols = gb_node(g, "Scan", 16, "cols", 2, (Value *[]){zero, xt}, 2);
    gb_set_int(cols, "num_scan_inputs", 1);
    gb_set_ints(cols, "scan_input_axes", 1, (int64_t[]){-1});
    gb_set_ints(cols, "scan_input_directions", 1, (int64_t[]){1});
    gb_set_ints(cols, "scan_output_axes", 1, (int64_t[]){1});
    sum_body(cols);
    for (int k = 0; k < 2; k++) {
        gb_append_output(g, rows->outputs[k]);
        gb_append_output(g, cols->outputs[k]);
    }
    Plan *p = pc_build_declared(g, 5);
    set_floats(p, 0, 6, (float[]){1, 2, 3, 4, 5, 6});
    set_floats(p, 1, 6, (float[]){1, 3, 5, 2, 4, 6});
    pc_forward(p);
    expect_floats(p, 0, 2, (float[]){9, 12});
    pc_expect_output(p, 2, DT_FLOAT, 2, (int64_t[]){3, 2});
    expect_floats(p, 2, 6, (float[]){1, 2, 4, 6, 9, 12});
    expect_floats(p, 1, 2, (float[]){9, 12});
    /* reversed input: columns 5, 3, 1 (and 6, 4, 2) accumulate into output columns 0..2 */
    pc_expect_output(p, 3, DT_FLOAT, 2, (int64_t[]){2, 3});
    expect_floats(p, 3, 6, (float[]){5, 8, 9, 6, 10, 12});
    plan_free(p);
    model_free(m);
}

/* Opset 8: batch dim 0, scan along dim 1 (reversed here), the body per entry. */
static void test_scan_batched(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 3, (int64_t[]){2, 3, 2});
    Value *zero = gb_init(g, "zero", DT_FLOAT, 2, (int64_t[]){2, 2});
    Node *n = gb_node(g, "Scan", 8, "scan8", 3, (Value *[]){NULL, zero, x}, 2);
    gb_set_int(n, "num_scan_inputs", 1);
    gb_set_ints(n, "directions", 1, (int64_t[]){1});
    sum_body(n);
    gb_append_output(g, n->outputs[0]);
    gb_append_output(g, n->outputs[1]);
    Plan *p = pc_build_declared(g, 5);
    set_floats(p, 0, 12, (float[]){1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60});
    pc_forward(p);
    expect_floats(p, 0, 4, (float[]){9, 12, 90, 120});
    pc_expect_output(p, 1, DT_FLOAT, 3, (int64_t[]){2, 3, 2});
    expect_floats(p, 1, 12, (float[]){5, 6, 8, 10, 9, 12, 50, 60, 80, 100, 90, 120});
    plan_free(p);
    model_free(m);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){3});
    Value *c = gb_input(g, "c", DT_BOOL, 1, (int64_t[]){1});
    if_graph(g, c, x, 2);
    pc_expect_declared_build_error(g, "node 'if' (If): output 0 is float[3] in then_branch but float[2,3] in else_branch; both "
                          "branches must give one type and shape");
    model_free(m);

    m = model_new();
    g = m->graph;
    Value *y0 = float_init(g, "y0", 2, (float[]){0, 0});
    Node *n = gb_node(g, "Loop", 13, "seq_loop", 3, (Value *[]){gb_ints(g, "M", -1, (int64_t[]){2}), NULL, y0}, 1);
    gb_append_output(g, n->outputs[0]);
    Graph *b = body_of(n, "body", "seq_body");
    gb_input(b, "i", DT_INT64, 0, NULL);
    Value *cond_in = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *seq = graph_add_value(b, "seq", NULL);
    seq->kind = TYPE_OPAQUE;
    gb_append_input(b, seq);
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_pass", cond_in));
    gb_append_output(b, gb_op1(b, "Identity", 13, "y_out", y0));
    pc_expect_declared_build_error(g, "node 'seq_loop' (Loop), body 'seq_body', iteration 0: input 'seq' is declared a "
                                      "sequence or optional but the value given is a tensor");
    model_free(m);
}

/* Scan outputs of a Loop whose trip count is an input; a carried value that grows in Loop-1. */
static void test_loop_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){2});
    Value *trips = gb_input(g, "M", DT_INT64, 0, NULL), *last = gb_ints(g, "last", -1, (int64_t[]){0});
    Node *n = gb_node(g, "Loop", 13, "loop", 3, (Value *[]){trips, NULL, x}, 2);
    gb_append_output(g, n->outputs[0]);
    loop_body(n, x, last);
    pc_expect_declared_build_error(g, "node 'loop' (Loop): the trip count M is computed at run time, so the size of the scan "
                          "outputs is not known when planning");
    model_free(m);

    m = model_new();
    g = m->graph;
    Value *y0 = float_init(g, "y0", 1, (float[]){1});
    n = gb_node(g, "Loop", 1, "grow", 3, (Value *[]){gb_ints(g, "M", -1, (int64_t[]){2}), NULL, y0}, 1);
    gb_append_output(g, n->outputs[0]);
    Graph *b = body_of(n, "body", "grow_body");
    gb_input(b, "i", DT_INT64, 0, NULL);
    Value *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *y = gb_input(b, "y_in", DT_FLOAT, 1, (int64_t[]){1});
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_pass", cond));
    Node *cat = gb_node(b, "Concat", 13, "twice", 2, (Value *[]){y, y}, 1);
    gb_set_int(cat, "axis", 0);
    gb_append_output(b, cat->outputs[0]);
    pc_expect_declared_build_error(g, "node 'grow' (Loop): loop-carried value 0 ('twice_out') enters the body as float[1] and "
                          "leaves it as float[2]; Loop before opset 11 keeps loop-carried shapes fixed");
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_constant_condition),
        cmocka_unit_test(test_if_runtime_condition),
        cmocka_unit_test(test_loop_constant_trips),
        cmocka_unit_test(test_loop_runtime_condition),
        cmocka_unit_test(test_scan_sum),
        cmocka_unit_test(test_scan_batched),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_loop_errors),
    };
    gb_rng_seed(29);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
