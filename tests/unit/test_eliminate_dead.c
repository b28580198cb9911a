/* test_eliminate_dead.c - unit tests of pass_eliminate_dead: dead branches
 * and chains, unused initializers (kept when they are graph inputs), uses
 * from inside subgraphs, multi-output nodes, and that order is kept. */
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

static void run_dce(Model *m)
{
    Diag d = {{0}};
    assert_int_equal(pass_eliminate_dead(m->graph, &d), KDC_OK);
    if (ir_verify(m, &d))
        fail_msg("verify: %s", d.msg);
}

static void test_dead_branch_and_chain(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){4});
    Node *a = gb_node(g, "Relu", 13, "a", 1, &x, 1);
    Node *b = gb_node(g, "Sigmoid", 13, "b", 1, &x, 1);
    Node *c = gb_node(g, "Tanh", 13, "c", 1, b->outputs, 1);
    Node *e = gb_node(g, "Add", 13, "e", 2, (Value *[]){a->outputs[0], x}, 1);
    c->outputs[0]->in_value_info = true;
    gb_append_output(g, e->outputs[0]);
    run_dce(m);
    assert_int_equal(g->n_nodes, 2);
    assert_ptr_equal(g->nodes[0], a);
    assert_ptr_equal(g->nodes[1], e);
    assert_int_equal(a->index, 0);
    assert_int_equal(e->index, 1);
    assert_false(c->outputs[0]->in_value_info);
    assert_null(c->outputs[0]->producer);
    model_free(m);
}

static void test_initializers(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){4});
    Value *unused = gb_init(g, "unused", DT_FLOAT, 1, (int64_t[]){4});
    Value *w = gb_init(g, "w", DT_FLOAT, 1, (int64_t[]){4});
    Value *fed = gb_init(g, "fed", DT_FLOAT, 1, (int64_t[]){4}); /* also a graph input: the caller may feed it */
    gb_append_input(g, fed);
    Value *dead_w = gb_init(g, "dead_w", DT_FLOAT, 1, (int64_t[]){4});
    Node *mul = gb_node(g, "Mul", 13, "mul", 2, (Value *[]){x, w}, 1);
    gb_node(g, "Mul", 13, "dead_mul", 2, (Value *[]){x, dead_w}, 1);
    gb_append_output(g, mul->outputs[0]);
    run_dce(m);
    (void)unused;
    assert_int_equal(g->n_nodes, 1);
    assert_int_equal(g->n_inits, 2);
    assert_ptr_equal(g->inits[0], w);
    assert_ptr_equal(g->inits[1], fed);
    assert_int_equal(g->n_inputs, 2);
    model_free(m);
}

/* A value read only inside an If branch keeps its producer; dead nodes
 * inside the branch are removed too. */
static void test_subgraph_uses(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){4});
    Value *cond = gb_input(g, "cond", DT_FLOAT, 1, (int64_t[]){4});
    Node *p = gb_node(g, "Relu", 13, "p", 1, &x, 1);
    Node *q = gb_node(g, "Tanh", 13, "q", 1, &x, 1); /* read by a dead node in the branch only */
    Node *iff = gb_node(g, "If", 13, "if", 1, &cond, 1);
    iff->op = OP_OPAQUE;
    Graph *then = graph_new(g->arena, g);
    then->name = "then";
    Node *inner = gb_node(then, "Sigmoid", 13, "inner", 1, p->outputs, 1);
    gb_node(then, "Sigmoid", 13, "inner_dead", 1, q->outputs, 1);
    gb_append_output(then, inner->outputs[0]);
    node_add_attr(iff, "then_branch", ATTR_GRAPH)->g = then;
    gb_append_output(g, iff->outputs[0]);
    run_dce(m);
    assert_int_equal(g->n_nodes, 2);
    assert_ptr_equal(g->nodes[0], p);
    assert_ptr_equal(g->nodes[1], iff);
    assert_int_equal(then->n_nodes, 1);
    assert_ptr_equal(then->nodes[0], inner);
    model_free(m);
}

/* A node stays when any one of its outputs is used. */
static void test_multi_output_node(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){4});
    Node *drop = gb_node(g, "Dropout", 13, "drop", 1, &x, 2);
    Node *use = gb_node(g, "Identity", 13, "use", 1, &drop->outputs[1], 1);
    gb_append_output(g, use->outputs[0]);
    run_dce(m);
    assert_int_equal(g->n_nodes, 2);
    model_free(m);
}

/* A graph whose output is a graph input keeps no node at all. */
static void test_everything_dead(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 1, (int64_t[]){4});
    gb_node(g, "Relu", 13, "r", 1, &x, 1);
    gb_init(g, "w", DT_FLOAT, 1, (int64_t[]){4});
    gb_append_output(g, x);
    run_dce(m);
    assert_int_equal(g->n_nodes, 0);
    assert_int_equal(g->n_inits, 0);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dead_branch_and_chain), cmocka_unit_test(test_initializers),
        cmocka_unit_test(test_subgraph_uses),         cmocka_unit_test(test_multi_output_node),
        cmocka_unit_test(test_everything_dead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
