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

static Value **append_value(Arena *a, Value **list, int n, Value *v)
{
    Value **grown = arena_alloc(a, (size_t)(n + 1) * sizeof *grown);
    if (n)
        memcpy(grown, list, (size_t)n * sizeof *grown);
    grown[n] = v;
    return grown;
}

static Value *add_input(Graph *g, const char *name)
{
    Value *v = graph_add_value(g, name, NULL);
    v->kind = TYPE_TENSOR;
    v->dtype = DT_FLOAT;
    v->shape = shape_from_dims(1, (int64_t[]){4});
    g->inputs = append_value(g->arena, g->inputs, g->n_inputs++, v);
    return v;
}

static Value *add_init(Graph *g, const char *name)
{
    Value *v = graph_add_value(g, name, NULL);
    v->init = tensor_new(g->arena, DT_FLOAT, 1, (int64_t[]){4});
    v->kind = TYPE_TENSOR;
    v->dtype = DT_FLOAT;
    v->shape = shape_from_dims(1, (int64_t[]){4});
    g->inits = append_value(g->arena, g->inits, g->n_inits++, v);
    return v;
}

static Node *add_node(Graph *g, const char *op, const char *name, int n_in, Value **in, int n_out)
{
    Node *n = graph_add_node(g, op, "", n_in, n_out);
    n->name = arena_strdup(g->arena, name);
    for (int i = 0; i < n_in; i++)
        n->inputs[i] = in[i];
    for (int k = 0; k < n_out; k++) {
        char out[64];
        snprintf(out, sizeof out, "%s_out%d", name, k);
        node_set_output(n, k, graph_add_value(g, out, NULL));
    }
    op_bind(n);
    return n;
}

static void add_output(Graph *g, Value *v)
{
    g->outputs = append_value(g->arena, g->outputs, g->n_outputs++, v);
}

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
    Value *x = add_input(g, "x");
    Node *a = add_node(g, "Relu", "a", 1, &x, 1);
    Node *b = add_node(g, "Sigmoid", "b", 1, &x, 1);
    Node *c = add_node(g, "Tanh", "c", 1, b->outputs, 1);
    Node *e = add_node(g, "Add", "e", 2, (Value *[]){a->outputs[0], x}, 1);
    c->outputs[0]->in_value_info = true;
    add_output(g, e->outputs[0]);
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
    Value *x = add_input(g, "x");
    Value *unused = add_init(g, "unused");
    Value *w = add_init(g, "w");
    Value *fed = add_init(g, "fed"); /* also a graph input: the caller may feed it */
    g->inputs = append_value(g->arena, g->inputs, g->n_inputs++, fed);
    Value *dead_w = add_init(g, "dead_w");
    Node *mul = add_node(g, "Mul", "mul", 2, (Value *[]){x, w}, 1);
    add_node(g, "Mul", "dead_mul", 2, (Value *[]){x, dead_w}, 1);
    add_output(g, mul->outputs[0]);
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
    Value *x = add_input(g, "x");
    Value *cond = add_input(g, "cond");
    Node *p = add_node(g, "Relu", "p", 1, &x, 1);
    Node *q = add_node(g, "Tanh", "q", 1, &x, 1); /* read by a dead node in the branch only */
    Node *iff = add_node(g, "If", "if", 1, &cond, 1);
    iff->op = OP_OPAQUE;
    Graph *then = graph_new(g->arena, g);
    then->name = "then";
    Node *inner = add_node(then, "Sigmoid", "inner", 1, p->outputs, 1);
    add_node(then, "Sigmoid", "inner_dead", 1, q->outputs, 1);
    add_output(then, inner->outputs[0]);
    node_add_attr(iff, "then_branch", ATTR_GRAPH)->g = then;
    add_output(g, iff->outputs[0]);
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
    Value *x = add_input(g, "x");
    Node *drop = add_node(g, "Dropout", "drop", 1, &x, 2);
    Node *use = add_node(g, "Identity", "use", 1, &drop->outputs[1], 1);
    add_output(g, use->outputs[0]);
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
    Value *x = add_input(g, "x");
    add_node(g, "Relu", "r", 1, &x, 1);
    add_init(g, "w");
    add_output(g, x);
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
