/* test_plan_loop_dynamic.c - Loop bodies planned per iteration
 * (runtime/op_control_dynamic.c): shapes in the body that follow from the
 * iteration number, loop-carried values that change shape.
 *
 * Graphs run forward and are compared with values computed here:
 * ONNX's test_loop11 (a Slice bounded by the iteration number, its trip
 * count a graph input bound by plan_build_with_values, the whole loop then
 * evaluated at build time); the same body with a build-time trip count and
 * a run-time carried value, planned by walking shapes and run twice, also
 * past the plan cache's size; a carried value that grows each iteration,
 * with and without the iteration number deciding by how much; a loop whose
 * body slices a float initializer, re-run after the weights change; a
 * dynamic Loop nested in another one's body; an If in the body whose
 * condition is the iteration number. Each checks the binding level and the
 * plans cached. Errors with their exact messages: a carried value that
 * changes type, a scan output whose shape changes, a run-time trip count,
 * a run-time condition stopping the loop before the planned count, a
 * carried value that grows in opset 1 or past its declared shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "runtime/op_control.h"
#include "tests/unit/plan_check.h"

/* ---- graphs ---- */

static const float xs[] = {1, 2, 3, 4, 5};

static Graph *body_of(Node *n, const char *name)
{
    Graph *b = graph_new(n->graph->arena, n->graph);
    b->name = name;
    node_add_attr(n, "body", ATTR_GRAPH)->g = b;
    return b;
}

static Value *floats(Graph *g, const char *name, int n, const float *v)
{
    return gb_init_copy(g, name, DT_FLOAT, 1, (int64_t[]){n}, v);
}

static Value *int_scalar(Graph *g, const char *name, int64_t v)
{
    return gb_ints(g, name, -1, &v);
}

/* [v] as a 1-D int64 tensor, v a scalar. */
static Value *as_list(Graph *b, const char *name, Value *v)
{
    char axes[64];
    snprintf(axes, sizeof axes, "%s_axes", name);
    return gb_op2(b, "Unsqueeze", 13, name, v, gb_ints(b, axes, 1, (int64_t[]){0}));
}

/* x[from : from + width] along axis 0, from an int64 scalar of the body. */
static Value *slice_at(Graph *b, const char *name, Value *x, Value *from, Value *width)
{
    char start[64], end[64], stop[64];
    snprintf(start, sizeof start, "%s_start", name);
    snprintf(end, sizeof end, "%s_end", name);
    snprintf(stop, sizeof stop, "%s_stop", name);
    Value *to = gb_op2(b, "Add", 13, end, from, width);
    return gb_node(b, "Slice", 13, name, 3, (Value *[]){x, as_list(b, start, from), as_list(b, stop, to)}, 1)
        ->outputs[0];
}

/* A Loop node of `opset` with outputs appended to g's. */
static Node *loop_node(Graph *g, int opset, const char *name, Value *m, Value *cond, int n_carried, Value *const *v0,
                       int n_out)
{
    Value *in[8] = {m, cond};
    for (int k = 0; k < n_carried; k++)
        in[2 + k] = v0[k];
    Node *n = gb_node(g, "Loop", opset, name, 2 + n_carried, in, n_out);
    for (int k = 0; k < n_out; k++)
        gb_append_output(g, n->outputs[k]);
    return n;
}

/* The loop11 body: (i, cond, y) -> (cond, y + x[i], y + x[i]) with x =
 * 1, 2, ..., x_len in the body; without `scan` the last output is left out. */
static void sum_body(Node *n, int x_len, bool scan)
{
    float x[32];
    assert_true(x_len <= 32);
    for (int k = 0; k < x_len; k++)
        x[k] = (float)(k + 1);
    Graph *b = body_of(n, "loop_body");
    Value *i = gb_input(b, "iter_count", DT_INT64, 0, NULL);
    Value *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *y = gb_input(b, "y_in", DT_FLOAT, 1, (int64_t[]){1});
    Value *xv = floats(b, "x", x_len, x);
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_out", cond));
    Value *sum = gb_op2(b, "Add", 13, "y_out", y, slice_at(b, "slice", xv, i, int_scalar(b, "one", 1)));
    gb_append_output(b, sum);
    if (scan)
        gb_append_output(b, gb_op1(b, "Identity", 13, "scan_out", sum));
}

static Value *scalar_input(Graph *g, const char *name, DType dt)
{
    return gb_input(g, name, dt, 0, NULL);
}

/* ---- plans ---- */

static void expect_forward_error(Plan *p, const char *msg)
{
    Diag d = {{0}};
    assert_int_equal(plan_forward(p, &d), KDC_ERR);
    if (strcmp(d.msg, msg))
        fail_msg("message '%s', expected '%s'", d.msg, msg);
}

static void expect_floats(const Plan *p, int k, int rank, const int64_t *dims, const float *want)
{
    pc_expect_output(p, k, DT_FLOAT, rank, dims);
    const float *y = plan_output(p, k);
    for (int64_t i = 0; i < pc_output_numel(p, k); i++)
        if (fabsf(y[i] - want[i]) > 1e-5f)
            fail_msg("output %d[%lld] = %g, want %g", k, (long long)i, y[i], want[i]);
}

/* The Loop at step 0 of p went the per-iteration way, binding `level`,
 * and keeps n_cached body plans. */
static void expect_dynamic(const Plan *p, int level, int n_cached)
{
    assert_int_equal(p->steps[0].node->op, OP_Loop);
    const LoopState *st = p->steps[0].state;
    assert_true(st->dynamic);
    assert_null(st->body);
    assert_int_equal(st->level, level);
    assert_int_equal(st->n_cached, n_cached);
}

static Tensor scalar_value(DType dt, void *data)
{
    return (Tensor){.dtype = dt, .rank = 0, .data = data, .nbytes = dtype_size(dt)};
}

/* ---- tests ---- */

/* ONNX's test_loop11: M, cond and y are graph inputs, so planning needs
 * their values; the loop is then evaluated once, at build time. */
static void test_loop11_bound_inputs(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *trips = scalar_input(g, "trip_count", DT_INT64), *cond = scalar_input(g, "cond", DT_BOOL);
    Value *y = gb_input(g, "y", DT_FLOAT, 1, (int64_t[]){1});
    sum_body(loop_node(g, 11, "loop", trips, cond, 1, &y, 2), 5, true);
    Shape shapes[PC_MAX_DECLARED];
    pc_declared_shapes(g, shapes);
    int64_t m_value = 5;
    uint8_t go = 1;
    float y0 = -2;
    Tensor vals[3] = {scalar_value(DT_INT64, &m_value),
                      scalar_value(DT_BOOL, &go),
                      {.dtype = DT_FLOAT, .rank = 1, .dims = {1}, .data = &y0, .nbytes = 4}};
    const Tensor *bind[3] = {&vals[0], &vals[1], &vals[2]};
    Diag d = {{0}};
    Plan *p = NULL;
    if (plan_build_with_values(g, PLAN_INFERENCE, shapes, bind, 1, &p, &d))
        fail_msg("plan: %s", d.msg);
    assert_true(plan_inputs_bound(p));
    expect_dynamic(p, LOOP_BIND_ITER, 5);
    pc_forward(p);
    expect_floats(p, 0, 1, (int64_t[]){1}, (float[]){13});
    expect_floats(p, 1, 2, (int64_t[]){5, 1}, (float[]){-1, 1, 4, 8, 13});
    plan_free(p);
    model_free(m);
}

/* Build-time trip count, run-time y: shapes are measured without values,
 * one body plan per iteration, and every run computes anew; past
 * LOOP_CACHE iterations plans are dropped and built again. */
static void run_walked_loop(int64_t trips)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *y = gb_input(g, "y", DT_FLOAT, 1, (int64_t[]){1});
    sum_body(loop_node(g, 13, "loop", int_scalar(g, "M", trips), NULL, 1, &y, 2), trips > 5 ? (int)trips : 5, true);
    Plan *p = pc_build_declared(g, 3);
    for (int run = 0; run < 2; run++) {
        float acc = run ? 10 : -2, rows[32];
        *(float *)plan_input(p, 0) = acc;
        pc_forward(p);
        for (int64_t i = 0; i < trips; i++)
            rows[i] = acc += (float)(i + 1);
        expect_floats(p, 0, 1, (int64_t[]){1}, &acc);
        expect_floats(p, 1, 2, (int64_t[]){trips, 1}, rows);
    }
    expect_dynamic(p, LOOP_BIND_ITER, trips < 1 ? 1 : trips > LOOP_CACHE ? LOOP_CACHE : (int)trips);
    plan_free(p);
    model_free(m);
}

static void test_loop_walked_shapes(void **state)
{
    (void)state;
    run_walked_loop(5);
    run_walked_loop(0);
    run_walked_loop(LOOP_CACHE + 4);
}

/* y = Concat(y, x[0 : i + 1]), the carried value growing by i + 1 each
 * iteration; the scan output is sum(x[0 : i + 1]). */
static void test_loop_carried_grows_with_iteration(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *y = gb_input(g, "y", DT_FLOAT, 1, (int64_t[]){1});
    Node *n = loop_node(g, 13, "grow", int_scalar(g, "M", 3), NULL, 1, &y, 2);
    Graph *b = body_of(n, "grow_body");
    Value *i = gb_input(b, "i", DT_INT64, 0, NULL), *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *y_in = gb_input(b, "y_in", DT_FLOAT, 1, (int64_t[]){-1});
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_out", cond));
    Value *count = gb_op2(b, "Add", 13, "count", i, int_scalar(b, "one", 1));
    Value *prefix = slice_at(b, "prefix", floats(b, "x", 5, xs), int_scalar(b, "zero", 0), count);
    Node *cat = gb_node(b, "Concat", 13, "cat", 2, (Value *[]){y_in, prefix}, 1);
    gb_set_int(cat, "axis", 0);
    gb_append_output(b, cat->outputs[0]);
    gb_append_output(b, gb_op1(b, "ReduceSum", 13, "total", prefix));
    Plan *p = pc_build_declared(g, 3);
    for (int run = 0; run < 2; run++) {
        float y0 = run ? -1 : 7;
        *(float *)plan_input(p, 0) = y0;
        pc_forward(p);
        expect_floats(p, 0, 1, (int64_t[]){7}, (float[]){y0, 1, 1, 2, 1, 2, 3});
        expect_floats(p, 1, 2, (int64_t[]){3, 1}, (float[]){1, 3, 6});
    }
    expect_dynamic(p, LOOP_BIND_ITER, 3);
    plan_free(p);
    model_free(m);
}

/* y = Concat(y, y) in opset 13: shapes change but need no value; the body
 * plan of the first iteration serves as one of the cached plans. */
static Graph *doubling_loop(Graph *g, int opset, int64_t declared)
{
    Value *y0 = floats(g, "y0", 1, (float[]){3});
    Node *n = loop_node(g, opset, "double", int_scalar(g, "M", 3), NULL, 1, &y0, 1);
    Graph *b = body_of(n, "double_body");
    gb_input(b, "i", DT_INT64, 0, NULL);
    Value *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *y = gb_input(b, "y_in", DT_FLOAT, 1, (int64_t[]){declared});
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_out", cond));
    Node *cat = gb_node(b, "Concat", 13, "twice", 2, (Value *[]){y, y}, 1);
    gb_set_int(cat, "axis", 0);
    gb_append_output(b, cat->outputs[0]);
    return b;
}

static void test_loop_carried_doubles(void **state)
{
    (void)state;
    Model *m = model_new();
    doubling_loop(m->graph, 13, -1);
    Plan *p = pc_build_declared(m->graph, 3);
    pc_forward(p);
    expect_floats(p, 0, 1, (int64_t[]){8}, (float[]){3, 3, 3, 3, 3, 3, 3, 3});
    expect_dynamic(p, LOOP_BIND_COND, 3);
    plan_free(p);
    model_free(m);
}

/* The body slices a float initializer of the top graph: the step is not
 * constant, so a run after the weights change sees them. */
static void test_loop_rereads_parameters(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *w = floats(g, "w", 5, xs), *y0 = floats(g, "y0", 1, (float[]){0});
    Node *n = loop_node(g, 13, "loop", int_scalar(g, "M", 3), NULL, 1, &y0, 2);
    Graph *b = body_of(n, "body");
    Value *i = gb_input(b, "i", DT_INT64, 0, NULL), *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *y = gb_input(b, "y_in", DT_FLOAT, 1, (int64_t[]){1});
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_out", cond));
    Value *sum = gb_op2(b, "Add", 13, "y_out", y, slice_at(b, "pick", w, i, int_scalar(b, "one", 1)));
    gb_append_output(b, sum);
    gb_append_output(b, gb_op1(b, "Identity", 13, "row", sum));
    Plan *p = pc_build_declared(g, 3);
    pc_forward(p);
    expect_floats(p, 1, 2, (int64_t[]){3, 1}, (float[]){1, 3, 6});
    ((float *)w->init->data)[1] = 20;
    pc_forward(p);
    expect_floats(p, 0, 1, (int64_t[]){1}, (float[]){24});
    expect_floats(p, 1, 2, (int64_t[]){3, 1}, (float[]){1, 21, 24});
    expect_dynamic(p, LOOP_BIND_ITER, 3);
    plan_free(p);
    model_free(m);
}

/* Outer loop i = 0..2 scans the sum of an inner loop's scan output, the
 * rows x[j : j + 1] for j < i + 1: the inner trip count comes from the
 * outer iteration number, the inner body slices by its own. */
static void test_loop_nested(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = floats(g, "x", 5, xs);
    Node *outer = loop_node(g, 13, "outer", int_scalar(g, "M", 3), NULL, 0, NULL, 1);
    Graph *ob = body_of(outer, "outer_body");
    Value *i = gb_input(ob, "i", DT_INT64, 0, NULL), *oc = gb_input(ob, "oc", DT_BOOL, 0, NULL);
    gb_append_output(ob, gb_op1(ob, "Identity", 13, "oc_out", oc));
    Value *count = gb_op2(ob, "Add", 13, "count", i, int_scalar(ob, "one", 1));
    Node *inner = gb_node(ob, "Loop", 13, "inner", 2, (Value *[]){count, NULL}, 1);
    Graph *ib = body_of(inner, "inner_body");
    Value *j = gb_input(ib, "j", DT_INT64, 0, NULL), *ic = gb_input(ib, "ic", DT_BOOL, 0, NULL);
    gb_append_output(ib, gb_op1(ib, "Identity", 13, "ic_out", ic));
    gb_append_output(ib, slice_at(ib, "row", x, j, int_scalar(ib, "width", 1)));
    gb_append_output(ob, gb_op1(ob, "ReduceSum", 13, "total", inner->outputs[0]));
    Plan *p = pc_build_declared(g, 3);
    pc_forward(p);
    expect_floats(p, 0, 3, (int64_t[]){3, 1, 1}, (float[]){1, 3, 6});
    expect_dynamic(p, LOOP_BIND_ITER, 3);
    plan_free(p);
    model_free(m);
}

/* An If in the body whose condition is the iteration number: bound, it
 * plans one branch, and both branches read a body value whose shape
 * follows from the iteration. Scans sum(x[0 : i + 1]), times 10 at i = 1. */
static void test_loop_if_in_body(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Node *n = loop_node(g, 13, "loop", int_scalar(g, "M", 3), NULL, 0, NULL, 1);
    Graph *b = body_of(n, "body");
    Value *i = gb_input(b, "i", DT_INT64, 0, NULL), *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_out", cond));
    Value *count = gb_op2(b, "Add", 13, "count", i, int_scalar(b, "one", 1));
    Value *prefix = slice_at(b, "prefix", floats(b, "x", 5, xs), int_scalar(b, "zero", 0), count);
    Node *choose = gb_node(b, "If", 13, "choose", 1,
                           (Value *[]){gb_op2(b, "Equal", 13, "is_one", i, int_scalar(b, "one_again", 1))}, 1);
    Graph *t = graph_new(b->arena, b), *e = graph_new(b->arena, b);
    t->name = "times10";
    e->name = "plain";
    node_add_attr(choose, "then_branch", ATTR_GRAPH)->g = t;
    node_add_attr(choose, "else_branch", ATTR_GRAPH)->g = e;
    gb_append_output(t, gb_op2(t, "Mul", 13, "scaled", gb_op1(t, "ReduceSum", 13, "sum_t", prefix),
                               floats(t, "ten", 1, (float[]){10})));
    gb_append_output(e, gb_op1(e, "ReduceSum", 13, "sum_e", prefix));
    gb_append_output(b, choose->outputs[0]);
    Plan *p = pc_build_declared(g, 3);
    pc_forward(p);
    expect_floats(p, 0, 2, (int64_t[]){3, 1}, (float[]){1, 30, 6});
    expect_dynamic(p, LOOP_BIND_ITER, 3);
    plan_free(p);
    model_free(m);
}

/* ---- errors ---- */

/* A carried value that leaves the body as another type. */
static void test_error_carried_type(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *y0 = floats(g, "y0", 1, (float[]){1});
    Node *n = loop_node(g, 13, "cast_loop", int_scalar(g, "M", 2), NULL, 1, &y0, 1);
    Graph *b = body_of(n, "body");
    gb_input(b, "i", DT_INT64, 0, NULL);
    Value *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL), *y = gb_input(b, "y_in", DT_FLOAT, 1, (int64_t[]){1});
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_out", cond));
    Node *cast = gb_node(b, "Cast", 13, "as_int", 1, &y, 1);
    gb_set_int(cast, "to", DT_INT64);
    gb_append_output(b, cast->outputs[0]);
    pc_expect_declared_build_error(g, "node 'cast_loop' (Loop): loop-carried value 0 ('as_int_out') enters the body as float[1] "
                          "and leaves it as int64[1]; a loop-carried value keeps its type");
    model_free(m);
}

/* Scan output x[0 : i + 1] has one more element each iteration. */
static void test_error_scan_shape_changes(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Node *n = loop_node(g, 13, "loop", int_scalar(g, "M", 3), NULL, 0, NULL, 1);
    Graph *b = body_of(n, "body");
    Value *i = gb_input(b, "i", DT_INT64, 0, NULL), *cond = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_out", cond));
    Value *count = gb_op2(b, "Add", 13, "count", i, int_scalar(b, "one", 1));
    gb_append_output(b, slice_at(b, "prefix", floats(b, "x", 5, xs), int_scalar(b, "zero", 0), count));
    pc_expect_declared_build_error(g, "node 'loop' (Loop): scan output 0 ('prefix_out') is float[1] in iteration 0 but float[2] "
                          "in iteration 1; a scan output keeps one type and shape in every iteration");
    model_free(m);
}

/* Without values a run-time trip count leaves the output shapes open;
 * plan_build_with_values then binds it. */
static void test_error_runtime_trip_count(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *trips = scalar_input(g, "M", DT_INT64), *y = floats(g, "y0", 1, (float[]){0});
    sum_body(loop_node(g, 13, "loop", trips, NULL, 1, &y, 1), 5, false);
    pc_expect_declared_build_error(g, "node 'loop' (Loop): the body's shapes depend on values computed at run time and the trip "
                          "count is not known when planning, so neither are the loop's output shapes");
    model_free(m);
}

/* A run-time condition that stops after one of three planned rows. */
static void test_error_condition_stops_early(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *go = scalar_input(g, "go", DT_BOOL), *y = gb_input(g, "y", DT_FLOAT, 1, (int64_t[]){1});
    Node *n = loop_node(g, 13, "loop", int_scalar(g, "M", 3), go, 1, &y, 2);
    Graph *b = body_of(n, "body");
    Value *i = gb_input(b, "i", DT_INT64, 0, NULL);
    gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *y_in = gb_input(b, "y_in", DT_FLOAT, 1, (int64_t[]){1});
    Value *sum =
        gb_op2(b, "Add", 13, "y_out", y_in, slice_at(b, "pick", floats(b, "x", 5, xs), i, int_scalar(b, "one", 1)));
    gb_append_output(b, gb_op2(b, "Less", 13, "small", sum, floats(b, "limit", 1, (float[]){2})));
    gb_append_output(b, sum);
    gb_append_output(b, gb_op1(b, "Identity", 13, "row", sum));
    Plan *p = pc_build_declared(g, 3);
    *(uint8_t *)plan_input(p, 0) = 1;
    *(float *)plan_input(p, 1) = -5;
    pc_forward(p);
    expect_floats(p, 1, 2, (int64_t[]){3, 1}, (float[]){-4, -2, 1});
    *(float *)plan_input(p, 1) = 5;
    expect_forward_error(p, "node 'loop' (Loop): the condition stopped the loop after 1 of 3 iterations; the scan "
                            "outputs were planned for all of them");
    plan_free(p);
    model_free(m);
}

static void test_error_carried_grows(void **state)
{
    (void)state;
    Model *m = model_new();
    doubling_loop(m->graph, 1, -1);
    pc_expect_declared_build_error(m->graph, "node 'double' (Loop): loop-carried value 0 ('twice_out') enters the body as "
                                 "float[1] and leaves it as float[2]; Loop before opset 11 keeps loop-carried "
                                 "shapes fixed");
    model_free(m);
    m = model_new();
    doubling_loop(m->graph, 13, 1);
    pc_expect_declared_build_error(m->graph, "node 'double' (Loop), body 'double_body', iteration 1: input 'y_in': shape [2] "
                                 "does not match the model's declared shape");
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop11_bound_inputs),
        cmocka_unit_test(test_loop_walked_shapes),
        cmocka_unit_test(test_loop_carried_grows_with_iteration),
        cmocka_unit_test(test_loop_carried_doubles),
        cmocka_unit_test(test_loop_rereads_parameters),
        cmocka_unit_test(test_loop_nested),
        cmocka_unit_test(test_loop_if_in_body),
        cmocka_unit_test(test_error_carried_type),
        cmocka_unit_test(test_error_scan_shape_changes),
        cmocka_unit_test(test_error_runtime_trip_count),
        cmocka_unit_test(test_error_condition_stops_early),
        cmocka_unit_test(test_error_carried_grows),
    };
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
