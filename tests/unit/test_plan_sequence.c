/* test_plan_sequence.c - sequences and optionals through execution plans
 * (runtime/op_sequence.c, op_sequence_map.c, the container paths of
 * plan.c, op_control.c and op_control_dynamic.c; ir/container.c).
 *
 * Small graphs compared with values written here: SequenceConstruct /
 * SequenceAt / SequenceLength from a graph input (plan_build asks for its
 * value, plan_build_with_values computes); SplitToSequence with a list, a
 * chunk size and none (keepdims 0), back through ConcatFromSequence
 * (concatenating and stacking); SequenceInsert and SequenceErase at
 * positions; Optional, OptionalHasElement, OptionalGetElement; a sequence as
 * a graph input and as a graph output; a Loop that grows a carried
 * sequence; an If whose branches give sequences; SequenceMap over elements
 * of different shapes with a tensor passed whole. Errors with their
 * messages: run-time values feeding a sequence, a tensor op given a
 * sequence, an empty optional unwrapped, a position out of range, a
 * parameter of a training plan flowing into a sequence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "ir/container.h"
#include "tests/unit/plan_check.h"

/* ---- helpers ---- */

static Value *floats(Graph *g, const char *name, int rank, const int64_t *dims, const float *v)
{
    return gb_init_copy(g, name, DT_FLOAT, rank, dims, v);
}

static Value *scalar(Graph *g, const char *name, int64_t v)
{
    return gb_ints(g, name, -1, &v);
}

/* Plans g with its inputs bound to values (shapes from the values). */
static Plan *build_bound(Graph *g, PlanMode mode, int n, const Tensor *const *values)
{
    Shape shapes[8];
    for (int k = 0; k < n; k++)
        shapes[k] = shape_from_dims(values[k]->rank, values[k]->dims);
    Diag d = {{0}};
    Plan *p = NULL;
    if (plan_build_with_values(g, mode, shapes, values, 1, &p, &d) || plan_forward(p, &d))
        fail_msg("plan: %s", d.msg);
    return p;
}

static Tensor float_tensor(int rank, const int64_t *dims, float *data)
{
    Tensor t = {.dtype = DT_FLOAT, .rank = rank, .data = data};
    memcpy(t.dims, dims, (size_t)rank * sizeof *dims);
    t.nbytes = (size_t)tensor_numel(&t) * sizeof(float);
    return t;
}

static void expect_output(const Plan *p, int k, int rank, const int64_t *dims, int n, const float *want)
{
    pc_expect_output(p, k, DT_FLOAT, rank, dims);
    const float *got = plan_output(p, k);
    for (int i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("output %d element %d: got %g, expected %g", k, i, got[i], want[i]);
}

static void expect_int_output(const Plan *p, int k, int64_t want)
{
    DType dt;
    Shape s;
    plan_output_info(p, k, &dt, &s);
    assert_int_equal(dt, DT_INT64);
    assert_int_equal(*(const int64_t *)plan_output(p, k), want);
}

static Graph *body_of(Node *n, const char *attr, const char *name)
{
    Graph *b = graph_new(n->graph->arena, n->graph);
    b->name = name;
    node_add_attr(n, attr, ATTR_GRAPH)->g = b;
    return b;
}

static Value *opaque_input(Graph *g, const char *name)
{
    Value *v = graph_add_value(g, name, NULL);
    v->kind = TYPE_OPAQUE;
    gb_append_input(g, v);
    return v;
}

/* ---- construct, at, length ---- */

static void test_construct_at_length(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *a = gb_input(g, "a", DT_FLOAT, 2, (int64_t[]){2, 2});
    Value *c = floats(g, "c", 1, (int64_t[]){3}, (float[]){7, 8, 9});
    Value *seq = gb_node(g, "SequenceConstruct", 11, "make", 2, (Value *[]){a, c}, 1)->outputs[0];
    gb_append_output(g, gb_op2(g, "SequenceAt", 11, "last", seq, scalar(g, "minus1", -1)));
    gb_append_output(g, gb_op2(g, "SequenceAt", 11, "first", seq, scalar(g, "zero", 0)));
    gb_append_output(g, gb_op1(g, "SequenceLength", 11, "len", seq));
    pc_expect_declared_build_error(g, "node 'make' (SequenceConstruct): sequences and optionals are computed when the "
                                      "plan is built, and input 0 ('a') is known only when it runs");
    float av[] = {1, 2, 3, 4};
    Tensor at = float_tensor(2, (int64_t[]){2, 2}, av);
    Plan *p = build_bound(g, PLAN_INFERENCE, 1, (const Tensor *[]){&at});
    assert_true(plan_inputs_bound(p));
    expect_output(p, 0, 1, (int64_t[]){3}, 3, (float[]){7, 8, 9});
    expect_output(p, 1, 2, (int64_t[]){2, 2}, 4, av);
    expect_int_output(p, 2, 2);
    plan_free(p);
    model_free(m);
}

/* ---- split and concatenate ---- */

/* x [2,5] split along axis 1 and put back together. */
static void test_split_concat(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    float xv[] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14};
    Value *x = floats(g, "x", 2, (int64_t[]){2, 5}, xv);
    Node *by_list = gb_node(g, "SplitToSequence", 11, "by_list", 2, (Value *[]){x, gb_ints(g, "sp", 2, (int64_t[]){2, 3})}, 1);
    gb_set_int(by_list, "axis", 1);
    Node *back = gb_node(g, "ConcatFromSequence", 11, "back", 1, &by_list->outputs[0], 1);
    gb_set_int(back, "axis", -1);
    gb_append_output(g, back->outputs[0]);
    Node *ones = gb_node(g, "SplitToSequence", 11, "ones", 1, &x, 1);
    gb_set_int(ones, "axis", 1);
    gb_set_int(ones, "keepdims", 0);
    Node *stack = gb_node(g, "ConcatFromSequence", 11, "stack", 1, &ones->outputs[0], 1);
    gb_set_int(stack, "axis", 0);
    gb_set_int(stack, "new_axis", 1);
    gb_append_output(g, stack->outputs[0]);
    Node *chunks = gb_node(g, "SplitToSequence", 11, "chunks", 2, (Value *[]){x, scalar(g, "two", 2)}, 1);
    gb_set_int(chunks, "axis", 1);
    gb_append_output(g, gb_op1(g, "SequenceLength", 11, "n_chunks", chunks->outputs[0]));
    gb_append_output(g, gb_op2(g, "SequenceAt", 11, "tail", chunks->outputs[0], scalar(g, "i2", 2)));
    Plan *p = pc_build_declared(g, 1);
    pc_forward(p);
    expect_output(p, 0, 2, (int64_t[]){2, 5}, 10, xv);
    expect_output(p, 1, 2, (int64_t[]){5, 2}, 10, (float[]){0, 10, 1, 11, 2, 12, 3, 13, 4, 14});
    expect_int_output(p, 2, 3);
    expect_output(p, 3, 2, (int64_t[]){2, 1}, 2, (float[]){4, 14});
    plan_free(p);
    model_free(m);
}

/* ---- insert and erase ---- */

static void test_insert_erase(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Node *empty = gb_node(g, "SequenceEmpty", 11, "empty", 0, NULL, 1);
    Value *one = floats(g, "one", 1, (int64_t[]){1}, (float[]){1});
    Value *two = floats(g, "two", 1, (int64_t[]){1}, (float[]){2});
    Value *three = floats(g, "three", 1, (int64_t[]){1}, (float[]){3});
    Value *s1 = gb_op2(g, "SequenceInsert", 11, "ins1", empty->outputs[0], one);            /* [1] */
    Value *s2 = gb_op2(g, "SequenceInsert", 11, "ins2", s1, three);                         /* [1,3] */
    Value *s3 = gb_node(g, "SequenceInsert", 11, "ins3", 3, (Value *[]){s2, two, scalar(g, "at1", -1)}, 1)->outputs[0];
    Node *cat = gb_node(g, "ConcatFromSequence", 11, "cat", 1, &s3, 1);                  /* [1,2,3] */
    gb_set_int(cat, "axis", 0);
    gb_append_output(g, cat->outputs[0]);
    Value *e1 = gb_op1(g, "SequenceErase", 11, "erase_last", s3);                           /* [1,2] */
    Value *e2 = gb_node(g, "SequenceErase", 11, "erase0", 2, (Value *[]){e1, scalar(g, "z", 0)}, 1)->outputs[0];
    gb_append_output(g, gb_op2(g, "SequenceAt", 11, "only", e2, scalar(g, "z2", 0)));      /* 2 */
    Plan *p = pc_build_declared(g, 1);
    pc_forward(p);
    expect_output(p, 0, 1, (int64_t[]){3}, 3, (float[]){1, 2, 3});
    expect_output(p, 1, 1, (int64_t[]){1}, 1, (float[]){2});
    plan_free(p);
    model_free(m);

    m = model_new();
    g = m->graph;
    Value *s = gb_node(g, "SequenceConstruct", 11, "make", 1, (Value *[]){floats(g, "v", 1, (int64_t[]){1}, (float[]){5})}, 1)->outputs[0];
    gb_append_output(g, gb_op2(g, "SequenceAt", 11, "bad_at", s, scalar(g, "far", 1)));
    pc_expect_declared_build_error(g, "node 'bad_at' (SequenceAt): position 1 is out of range for a sequence of 1");
    model_free(m);
}

/* ---- optionals ---- */

static void test_optionals(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *v = floats(g, "v", 1, (int64_t[]){2}, (float[]){4, 5});
    Value *full = gb_op1(g, "Optional", 15, "wrap", v);
    Node *none = gb_node(g, "Optional", 15, "none", 0, NULL, 1);
    node_add_attr(none, "type", ATTR_TYPE_PROTO);
    gb_append_output(g, gb_op1(g, "OptionalHasElement", 15, "has_full", full));
    gb_append_output(g, gb_op1(g, "OptionalHasElement", 15, "has_none", none->outputs[0]));
    gb_append_output(g, gb_op1(g, "OptionalGetElement", 15, "unwrap", full));
    Plan *p = pc_build_declared(g, 1);
    pc_forward(p);
    assert_int_equal(*(const uint8_t *)plan_output(p, 0), 1);
    assert_int_equal(*(const uint8_t *)plan_output(p, 1), 0);
    expect_output(p, 2, 1, (int64_t[]){2}, 2, (float[]){4, 5});
    plan_free(p);
    model_free(m);

    m = model_new();
    g = m->graph;
    none = gb_node(g, "Optional", 15, "none", 0, NULL, 1);
    node_add_attr(none, "type", ATTR_TYPE_PROTO);
    gb_append_output(g, gb_op1(g, "OptionalGetElement", 15, "unwrap", none->outputs[0]));
    pc_expect_declared_build_error(g, "node 'unwrap' (OptionalGetElement): the optional ('none_out') is empty");
    model_free(m);
}

/* ---- sequences at the plan's edges ---- */

/* A sequence input; outputs: that sequence (Identity) and its element 1 plus x. */
static void test_sequence_io(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *seq = opaque_input(g, "seq");
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){2});
    gb_append_output(g, gb_op1(g, "Identity", 13, "same", seq));
    gb_append_output(g, gb_op2(g, "Add", 13, "sum", gb_op2(g, "SequenceAt", 11, "at1", seq, scalar(g, "one", 1)), x));
    float e0[] = {1}, e1[] = {10, 20}, xv[] = {1, 2};
    Tensor items[] = {float_tensor(1, (int64_t[]){1}, e0), float_tensor(1, (int64_t[]){2}, e1)};
    Tensor sv = {.dtype = DT_FLOAT, .holds = HOLDS_SEQUENCE, .n_items = 2, .items = items};
    Tensor xt = float_tensor(1, (int64_t[]){2}, xv);
    Shape shapes[2] = {{.rank = 0}, shape_from_dims(1, (int64_t[]){2})};
    pc_expect_build_error(g, PLAN_INFERENCE, shapes,
                          "input 'seq' is not a tensor (a sequence, optional or map): kdc plans such inputs from "
                          "their values, which must be given when the plan is built");
    Plan *p = build_bound(g, PLAN_INFERENCE, 2, (const Tensor *[]){&sv, &xt});
    assert_int_equal(plan_input_holds(p, 0), HOLDS_SEQUENCE);
    assert_int_equal(plan_output_holds(p, 0), HOLDS_SEQUENCE);
    assert_int_equal(plan_output_holds(p, 1), HOLDS_TENSOR);
    assert_true(container_equal(plan_output(p, 0), &sv));
    expect_output(p, 1, 1, (int64_t[]){2}, 2, (float[]){11, 22});
    plan_free(p);
    model_free(m);
}

/* ---- control flow ---- */

/* Loop(M=3) inserting [i, i] each iteration, stacked at the end: [[0,0],[1,1],[2,2]]. */
static void test_loop_grows_sequence(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Node *empty = gb_node(g, "SequenceEmpty", 11, "empty", 0, NULL, 1);
    gb_set_int(empty, "dtype", DT_INT64);
    Node *loop = gb_node(g, "Loop", 13, "loop", 3, (Value *[]){scalar(g, "M", 3), NULL, empty->outputs[0]}, 1);
    Node *stack = gb_node(g, "ConcatFromSequence", 11, "stack", 1, &loop->outputs[0], 1);
    gb_set_int(stack, "axis", 0);
    gb_set_int(stack, "new_axis", 1);
    gb_append_output(g, stack->outputs[0]);
    Graph *b = body_of(loop, "body", "grow");
    Value *i = gb_input(b, "i", DT_INT64, 0, NULL);
    Value *cond_in = gb_input(b, "cond_in", DT_BOOL, 0, NULL);
    Value *seq_in = opaque_input(b, "seq_in");
    Value *pair = gb_op2(b, "Expand", 13, "pair", i, gb_ints(b, "shape2", 1, (int64_t[]){2}));
    gb_append_output(b, gb_op1(b, "Identity", 13, "cond_out", cond_in));
    gb_append_output(b, gb_op2(b, "SequenceInsert", 11, "push", seq_in, pair));
    Plan *p = pc_build_declared(g, 1);
    pc_forward(p);
    pc_expect_output(p, 0, DT_INT64, 2, (int64_t[]){3, 2});
    const int64_t *got = plan_output(p, 0);
    for (int k = 0; k < 6; k++)
        assert_int_equal(got[k], k / 2);
    plan_free(p);
    model_free(m);
}

/* If(c) giving a sequence: the condition must be known, so it is bound. */
static void test_if_sequence(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *c = gb_input(g, "c", DT_BOOL, 0, NULL);
    Node *n = gb_node(g, "If", 13, "pick", 1, &c, 1);
    Graph *then_g = body_of(n, "then_branch", "then");
    Graph *else_g = body_of(n, "else_branch", "else");
    gb_append_output(then_g, gb_node(then_g, "SequenceConstruct", 11, "t", 1,
                                     (Value *[]){floats(then_g, "tv", 1, (int64_t[]){1}, (float[]){1})}, 1)->outputs[0]);
    gb_append_output(else_g, gb_node(else_g, "SequenceConstruct", 11, "e", 1,
                                     (Value *[]){floats(else_g, "ev", 1, (int64_t[]){2}, (float[]){2, 3})}, 1)->outputs[0]);
    Node *cat = gb_node(g, "ConcatFromSequence", 11, "cat", 1, &n->outputs[0], 1);
    gb_set_int(cat, "axis", 0);
    gb_append_output(g, cat->outputs[0]);
    pc_expect_declared_build_error(g, "node 'pick' (If): output 0 is a sequence, computed when the plan is built, but "
                                      "the condition is known only when it runs");
    Tensor ct = {.dtype = DT_BOOL, .rank = 0, .data = &(uint8_t){0}, .nbytes = 1};
    Plan *p = build_bound(g, PLAN_INFERENCE, 1, (const Tensor *[]){&ct});
    expect_output(p, 0, 1, (int64_t[]){2}, 2, (float[]){2, 3});
    plan_free(p);
    model_free(m);
}

/* SequenceMap(seq, bias): each element plus the bias tensor, shapes differing. */
static void test_sequence_map(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *e0 = floats(g, "e0", 1, (int64_t[]){1}, (float[]){1});
    Value *e1 = floats(g, "e1", 2, (int64_t[]){2, 1}, (float[]){2, 3});
    Value *bias = floats(g, "bias", 1, (int64_t[]){1}, (float[]){100});
    Value *seq = gb_node(g, "SequenceConstruct", 11, "make", 2, (Value *[]){e0, e1}, 1)->outputs[0];
    Node *map = gb_node(g, "SequenceMap", 17, "map", 2, (Value *[]){seq, bias}, 1);
    Graph *b = body_of(map, "body", "add_bias");
    Value *x = graph_add_value(b, "x", NULL);
    gb_append_input(b, x);
    Value *y = graph_add_value(b, "y", NULL);
    gb_append_input(b, y);
    gb_append_output(b, gb_op2(b, "Add", 14, "plus", x, y));
    gb_append_output(g, gb_op2(g, "SequenceAt", 11, "second", map->outputs[0], scalar(g, "one", 1)));
    Plan *p = pc_build_declared(g, 1);
    pc_forward(p);
    expect_output(p, 0, 2, (int64_t[]){2, 1}, 2, (float[]){102, 103});
    plan_free(p);
    model_free(m);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *v = floats(g, "v", 1, (int64_t[]){1}, (float[]){1});
    Value *seq = gb_node(g, "SequenceConstruct", 11, "make", 1, &v, 1)->outputs[0];
    gb_append_output(g, gb_op2(g, "Add", 14, "add", seq, v));
    pc_expect_declared_build_error(g, "node 'add' (Add): input 0 ('make_out') is a sequence; this op takes tensors");
    model_free(m);

    m = model_new();
    g = m->graph;
    Value *w = gb_param(g, "w", 1, (int64_t[]){2}, -1, 1);
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){2});
    Value *s = gb_node(g, "SequenceConstruct", 11, "make", 1, (Value *[]){w}, 1)->outputs[0];
    gb_append_output(g, gb_op2(g, "Mul", 14, "mul", gb_op2(g, "SequenceAt", 11, "at", s, scalar(g, "z", 0)), x));
    float xv[] = {1, 2};
    Tensor xt = float_tensor(1, (int64_t[]){2}, xv);
    Shape shapes[1] = {shape_from_dims(1, (int64_t[]){2})};
    pc_expect_build_error(g, PLAN_TRAINING, shapes,
                          "node 'make' (SequenceConstruct): sequences and optionals are computed when the plan is "
                          "built, and input 0 ('w') is known only when it runs");
    Plan *p = build_bound(g, PLAN_INFERENCE, 1, (const Tensor *[]){&xt}); /* weights are fixed in inference */
    plan_free(p);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_construct_at_length),
        cmocka_unit_test(test_split_concat),
        cmocka_unit_test(test_insert_erase),
        cmocka_unit_test(test_optionals),
        cmocka_unit_test(test_sequence_io),
        cmocka_unit_test(test_loop_grows_sequence),
        cmocka_unit_test(test_if_sequence),
        cmocka_unit_test(test_sequence_map),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
