/* test_ir_graph.c - unit tests of the IR core: the name table (duplicates,
 * scopes, unique fresh names, growth), stable topological sorting (cycles and
 * undefined inputs reported by node), use counting and replacement through
 * subgraphs, node removal, the verifier's checks, the printer's determinism
 * and the static graph statistics. Graphs are built in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ops.h"
#include "ir/stats.h"
#include "tests/unit/graph_build.h"

/* ---- graph building ---- */

/* A 1-D float initializer holding 0, 0.25, 0.5, ... */
static Value *ramp_init(Graph *g, const char *name, int64_t numel)
{
    Value *v = gb_init(g, name, DT_FLOAT, 1, &numel);
    float *w = v->init->data;
    for (int64_t i = 0; i < numel; i++)
        w[i] = 0.25f * (float)i;
    return v;
}

/* A one-input node writing the existing value `out` (defined ahead of its
 * producer, to build unsorted graphs and cycles). */
static Node *unary_into(Graph *g, const char *op, const char *name, Value *x, Value *out)
{
    Node *n = gb_node(g, op, 13, name, 1, &x, 0);
    n->outputs = arena_alloc(g->arena, 2 * sizeof *n->outputs);
    n->n_outputs = 1;
    node_set_output(n, 0, out);
    return n;
}

/* Gives n a graph attribute "body" and returns the (empty) body. */
static Graph *add_body(Node *n)
{
    Graph *body = graph_new(n->graph->arena, n->graph);
    body->name = "body";
    node_add_attr(n, "body", ATTR_GRAPH)->g = body;
    return body;
}

static void expect_msg(Status st, const Diag *d, const char *want)
{
    assert_int_equal(st, KDC_ERR);
    if (!strstr(d->msg, want))
        fail_msg("message '%s' lacks '%s'", d->msg, want);
}

static void expect_verify_ok(const Model *m)
{
    Diag d = {{0}};
    if (ir_verify(m, &d))
        fail_msg("verify: %s", d.msg);
}

/* ---- the name table ---- */

static void test_names_refuse_duplicates(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Diag d = {{0}};
    Value *x = graph_add_value(g, "x", &d);
    assert_non_null(x);
    assert_string_equal(x->name, "x");
    assert_int_equal(x->shape.rank, -1);
    assert_ptr_equal(x->graph, g);
    assert_null(graph_add_value(g, "x", &d));
    assert_string_equal(d.msg, "value 'x' is defined more than once");
    assert_null(graph_add_value(g, "", &d));
    assert_string_equal(d.msg, "a value has an empty name");
    assert_null(graph_add_value(g, NULL, &d));
    assert_int_equal(g->n_values, 1);
    assert_ptr_equal(graph_find_value(g, "x"), x);
    assert_null(graph_find_value(g, "y"));
    model_free(m);
}

static void test_names_scopes(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph, *sub = graph_new(m->arena, g), *subsub = graph_new(m->arena, sub);
    Diag d = {{0}};
    Value *x = graph_add_value(g, "x", &d);
    Value *y = graph_add_value(sub, "y", &d);
    assert_ptr_equal(graph_find_value(subsub, "x"), x);
    assert_ptr_equal(graph_find_value(subsub, "y"), y);
    assert_ptr_equal(graph_find_value(sub, "x"), x);
    assert_null(graph_find_value(g, "y")); /* inner names stay inside */
    assert_null(graph_add_value(subsub, "x", &d));
    assert_string_equal(d.msg, "value 'x' is defined more than once");
    assert_null(graph_add_value(sub, "y", &d));
    assert_int_equal(sub->n_values, 1);
    assert_int_equal(subsub->n_values, 0);
    model_free(m);
}

static void test_names_many_values(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { N = 5000 };
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "v%d", i);
        Value *v = graph_add_value(g, name, NULL);
        assert_non_null(v);
        assert_int_equal(v->id, i);
    }
    assert_int_equal(g->n_values, N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "v%d", i);
        Value *v = graph_find_value(g, name);
        assert_non_null(v);
        assert_ptr_equal(g->values[i], v);
        assert_string_equal(v->name, name);
    }
    assert_null(graph_find_value(g, "v5000"));
    model_free(m);
}

static void test_new_value_unique_names(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph, *sub = graph_new(m->arena, g);
    assert_string_equal(graph_new_value(g, "t")->name, "t");
    assert_string_equal(graph_new_value(g, "t")->name, "t_1");
    assert_string_equal(graph_new_value(g, "t")->name, "t_2");
    assert_non_null(graph_add_value(g, "t_3", NULL));
    assert_string_equal(graph_new_value(g, "t")->name, "t_4");
    /* names of enclosing graphs are taken too */
    assert_string_equal(graph_new_value(sub, "t")->name, "t_5");
    assert_string_equal(graph_new_value(sub, "u")->name, "u");
    assert_string_equal(graph_new_value(g, "u")->name, "u");
    char long_name[700];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_string_equal(graph_new_value(g, long_name)->name, long_name);
    const char *second = graph_new_value(g, long_name)->name;
    assert_int_equal(strlen(second), strlen(long_name) + 2);
    assert_string_equal(second + strlen(long_name), "_1");
    model_free(m);
}

/* ---- topological order ---- */

static void expect_order(const Graph *g, const Node *const *want, int n)
{
    assert_int_equal(g->n_nodes, n);
    for (int i = 0; i < n; i++) {
        if (g->nodes[i] != want[i])
            fail_msg("position %d holds '%s', expected '%s'", i, g->nodes[i]->name, want[i]->name);
        assert_int_equal(g->nodes[i]->index, i);
    }
}

static void test_toposort_keeps_sorted_order(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4});
    Node *e = gb_node(g, "Tanh", 13, "e", 1, &x, 1); /* independent of the diamond */
    Node *a = gb_node(g, "Relu", 13, "a", 1, &x, 1);
    Node *c = gb_node(g, "Sigmoid", 13, "c", 1, &a->outputs[0], 1);
    Node *b = gb_node(g, "Tanh", 13, "b", 1, &a->outputs[0], 1);
    Node *dd = gb_node(g, "Add", 13, "d", 2, (Value *[]){b->outputs[0], c->outputs[0]}, 1);
    Node *f = gb_node(g, "Relu", 13, "f", 1, &e->outputs[0], 1);
    gb_append_output(g, dd->outputs[0]);
    gb_append_output(g, f->outputs[0]);
    Diag d = {{0}};
    assert_int_equal(graph_toposort(g, &d), KDC_OK);
    expect_order(g, (const Node *[]){e, a, c, b, dd, f}, 6);
    expect_verify_ok(m);
    model_free(m);
}

static void test_toposort_fixes_unsorted(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4});
    Value *av = graph_add_value(g, "av", NULL), *bv = graph_add_value(g, "bv", NULL),
          *cv = graph_add_value(g, "cv", NULL);
    Node *dd = gb_node(g, "Add", 13, "d", 2, (Value *[]){bv, cv}, 1);
    Node *z = gb_node(g, "Relu", 13, "z", 1, &x, 1); /* independent: keeps its place relative to d */
    Node *c = unary_into(g, "Relu", "c", av, cv);
    Node *b = unary_into(g, "Tanh", "b", av, bv);
    Node *a = unary_into(g, "Sigmoid", "a", x, av);
    gb_append_output(g, dd->outputs[0]);
    gb_append_output(g, z->outputs[0]);
    Diag d = {{0}};
    assert_int_equal(ir_verify(m, &d), KDC_ERR); /* unsorted: d uses bv before b */
    assert_int_equal(graph_toposort(g, &d), KDC_OK);
    expect_order(g, (const Node *[]){a, b, c, dd, z}, 5);
    expect_verify_ok(m);
    assert_int_equal(graph_toposort(g, &d), KDC_OK); /* idempotent */
    expect_order(g, (const Node *[]){a, b, c, dd, z}, 5);
    model_free(m);
}

/* A chain of 200k nodes stored in reverse: the sort must not recurse per node. */
static void test_toposort_long_reversed_chain(void **state)
{
    (void)state;
    enum { N = 200000 };
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4});
    Value **v = malloc((N + 1) * sizeof *v);
    v[0] = x;
    for (int i = 1; i <= N; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d", i);
        v[i] = graph_add_value(g, name, NULL);
    }
    for (int i = N; i >= 1; i--) {
        char name[32];
        snprintf(name, sizeof name, "n%d", i);
        unary_into(g, "Relu", name, v[i - 1], v[i]);
    }
    gb_append_output(g, v[N]);
    Diag d = {{0}};
    assert_int_equal(graph_toposort(g, &d), KDC_OK);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(g->nodes[i]->outputs[0], v[i + 1]);
    free(v);
    model_free(m);
}

static void test_toposort_reports_cycle(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4});
    Value *bv = graph_add_value(g, "bv", NULL);
    Node *a = gb_node(g, "Add", 13, "a", 2, (Value *[]){x, bv}, 1);
    Node *b = unary_into(g, "Relu", "b", a->outputs[0], bv);
    Diag d = {{0}};
    expect_msg(graph_toposort(g, &d), &d, "node 'a' (Add) is part of a cycle");
    assert_ptr_equal(g->nodes[0], a); /* unchanged on failure */
    assert_ptr_equal(g->nodes[1], b);

    Model *m2 = model_new(); /* a node reading its own output */
    Value *s = graph_add_value(m2->graph, "s", NULL);
    unary_into(m2->graph, "Relu", "self", s, s);
    expect_msg(graph_toposort(m2->graph, &d), &d, "node 'self' (Relu) is part of a cycle");
    model_free(m2);
    model_free(m);
}

static void test_toposort_reports_undefined_input(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4});
    Value *ghost = graph_add_value(g, "ghost", NULL);
    Node *a = gb_node(g, "Relu", 13, "a", 1, &x, 1);
    gb_node(g, "Add", 13, "b", 2, (Value *[]){a->outputs[0], ghost}, 1);
    Diag d = {{0}};
    expect_msg(graph_toposort(g, &d), &d, "node 'b' (Add): input 'ghost' is not defined");
    /* a value whose producer was removed is undefined too */
    Model *m2 = model_new();
    Value *x2 = gb_batch_input(m2->graph, "x", 2, (int64_t[]){-1, 4});
    Node *p = gb_node(m2->graph, "Relu", 13, "p", 1, &x2, 1);
    gb_node(m2->graph, "Tanh", 13, "q", 1, &p->outputs[0], 1);
    graph_remove_nodes(m2->graph, (bool[]){true, false});
    expect_msg(graph_toposort(m2->graph, &d), &d, "node 'q' (Tanh): input 'p_out' is not defined");
    model_free(m2);
    model_free(m);
}

static void test_toposort_subgraph_uses(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4});
    Value *pv = graph_add_value(g, "pv", NULL);
    Node *loop = gb_node(g, "Loop", 13, "loop", 0, NULL, 1); /* opaque; its body reads pv */
    Graph *body = add_body(loop);
    Node *inner = gb_node(body, "Relu", 13, "inner", 1, &pv, 1);
    gb_append_output(body, inner->outputs[0]);
    Node *p = unary_into(g, "Tanh", "p", x, pv);
    gb_append_output(g, loop->outputs[0]);
    Diag d = {{0}};
    assert_int_equal(graph_toposort(g, &d), KDC_OK);
    expect_order(g, (const Node *[]){p, loop}, 2);
    expect_verify_ok(m);
    model_free(m);
}

/* ---- uses and removal ---- */

static void test_count_and_replace_uses(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4}), *y = gb_batch_input(g, "y", 2, (int64_t[]){-1, 4});
    Node *a = gb_node(g, "Add", 13, "a", 2, (Value *[]){x, x}, 1);
    Node *loop = gb_node(g, "Loop", 13, "loop", 1, &a->outputs[0], 1);
    Graph *body = add_body(loop);
    Node *inner = gb_node(body, "Relu", 13, "inner", 1, &x, 1);
    gb_append_output(body, inner->outputs[0]);
    gb_append_output(body, x);
    Attr *bodies = node_add_attr(loop, "branches", ATTR_GRAPHS);
    Graph *other = graph_new(m->arena, g);
    gb_node(other, "Tanh", 13, "t", 1, &x, 1);
    bodies->n = 1;
    bodies->graphs = arena_alloc(m->arena, sizeof *bodies->graphs);
    bodies->graphs[0] = other;
    gb_append_output(g, x);
    gb_append_output(g, loop->outputs[0]);
    /* Add twice, inner Relu, body output, Tanh in the second body, graph output */
    assert_int_equal(graph_count_uses(g, x), 6);
    assert_int_equal(graph_count_uses(g, y), 0);
    assert_int_equal(graph_count_uses(g, a->outputs[0]), 1);
    assert_int_equal(graph_count_uses(body, x), 2);
    graph_replace_uses(g, x, y);
    assert_int_equal(graph_count_uses(g, x), 0);
    assert_int_equal(graph_count_uses(g, y), 6);
    assert_ptr_equal(a->inputs[0], y);
    assert_ptr_equal(a->inputs[1], y);
    assert_ptr_equal(inner->inputs[0], y);
    assert_ptr_equal(body->outputs[1], y);
    assert_ptr_equal(other->nodes[0]->inputs[0], y);
    assert_ptr_equal(g->outputs[0], y);
    assert_ptr_equal(g->outputs[1], loop->outputs[0]);
    model_free(m);
}

static void test_remove_nodes(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4});
    Node *a = gb_node(g, "Relu", 13, "a", 1, &x, 1);
    Node *b = gb_node(g, "Tanh", 13, "b", 1, &a->outputs[0], 1);
    Node *c = gb_node(g, "Sigmoid", 13, "c", 1, &a->outputs[0], 1);
    Node *dd = gb_node(g, "Relu", 13, "d", 1, &b->outputs[0], 1);
    Value *bv = b->outputs[0], *dv = dd->outputs[0];
    gb_append_output(g, c->outputs[0]);
    graph_remove_nodes(g, (bool[]){false, true, false, true});
    assert_int_equal(g->n_nodes, 2);
    assert_ptr_equal(g->nodes[0], a);
    assert_ptr_equal(g->nodes[1], c);
    assert_null(bv->producer); /* values stay in the table, without producer */
    assert_null(dv->producer);
    assert_ptr_equal(graph_find_value(g, "b_out"), bv);
    assert_ptr_equal(a->outputs[0]->producer, a);
    graph_index_nodes(g);
    assert_int_equal(c->index, 1);
    expect_verify_ok(m);
    graph_remove_nodes(g, (bool[]){false, false});
    assert_int_equal(g->n_nodes, 2);
    graph_remove_nodes(g, (bool[]){true, true});
    assert_int_equal(g->n_nodes, 0);
    model_free(m);
}

/* ---- the verifier ---- */

/* x -> a (Relu) -> b (Add with weight w) -> output */
static Model *small_model(void)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, 4});
    Value *w = ramp_init(g, "w", 4);
    Node *a = gb_node(g, "Relu", 13, "a", 1, &x, 1);
    Node *b = gb_node(g, "Add", 13, "b", 2, (Value *[]){a->outputs[0], w}, 1);
    gb_append_output(g, b->outputs[0]);
    return m;
}

static void test_verify_accepts_valid(void **state)
{
    (void)state;
    Model *m = small_model();
    expect_verify_ok(m);
    Node *loop = gb_node(m->graph, "Loop", 13, "loop", 0, NULL, 1); /* body reads an outer value */
    Graph *body = add_body(loop);
    Node *inner = gb_node(body, "Relu", 13, "inner", 1, (Value *[]){graph_find_value(m->graph, "a_out")}, 1);
    gb_append_output(body, inner->outputs[0]);
    expect_verify_ok(m);
    model_free(m);
}

static void test_verify_use_before_definition(void **state)
{
    (void)state;
    Model *m = small_model();
    Graph *g = m->graph;
    Node *t = g->nodes[0]; /* swap a and b */
    g->nodes[0] = g->nodes[1];
    g->nodes[1] = t;
    Diag d = {{0}};
    expect_msg(ir_verify(m, &d), &d, "node 'b' (Add): input 'a_out' is used before node 'a' defines it");
    model_free(m);
}

static void test_verify_undefined_input(void **state)
{
    (void)state;
    Model *m = small_model();
    Graph *g = m->graph;
    Value *ghost = graph_add_value(g, "ghost", NULL);
    g->nodes[1]->inputs[1] = ghost;
    Diag d = {{0}};
    expect_msg(ir_verify(m, &d), &d, "node 'b' (Add): input 'ghost' has no definition");
    Model *other = model_new(); /* a value of an unrelated graph */
    g->nodes[1]->inputs[1] = gb_batch_input(other->graph, "stranger", 2, (int64_t[]){-1, 4});
    expect_msg(ir_verify(m, &d), &d, "node 'b' (Add): input 'stranger' is not defined in scope");
    model_free(other);
    model_free(m);
}

static void test_verify_defined_twice(void **state)
{
    (void)state;
    Diag d = {{0}};
    Model *m = small_model();
    Graph *g = m->graph;
    Node *c = gb_node(g, "Tanh", 13, "c", 1, &g->inputs[0], 1); /* c also writes a_out */
    node_set_output(c, 0, g->nodes[0]->outputs[0]);
    expect_msg(ir_verify(m, &d), &d, "node 'a' (Relu): output 'a_out' is defined more than once");
    model_free(m);

    m = small_model(); /* a node output that is also an initializer */
    node_set_output(m->graph->nodes[0], 0, m->graph->inits[0]);
    expect_msg(ir_verify(m, &d), &d, "initializer 'w' is also the output of node 'a' (Relu)");
    model_free(m);

    m = small_model(); /* a node output that is also a graph input */
    Value *x = m->graph->inputs[0];
    Value *y = gb_batch_input(m->graph, "y", 2, (int64_t[]){-1, 4});
    m->graph->nodes[0]->inputs[0] = y;
    node_set_output(m->graph->nodes[0], 0, x);
    m->graph->nodes[1]->inputs[0] = x;
    expect_msg(ir_verify(m, &d), &d, "node 'a' (Relu): output 'x' is defined more than once");
    model_free(m);
}

static void test_verify_initializer_size(void **state)
{
    (void)state;
    Model *m = small_model();
    Tensor *t = m->graph->inits[0]->init;
    t->nbytes = 12;
    Diag d = {{0}};
    expect_msg(ir_verify(m, &d), &d, "initializer 'w' holds 12 bytes, its shape needs 16");
    t->nbytes = 16;
    m->graph->inits[0]->init = NULL;
    expect_msg(ir_verify(m, &d), &d, "initializer 'w' has no data");
    model_free(m);
}

static void test_verify_arity(void **state)
{
    (void)state;
    Model *m = small_model();
    Graph *g = m->graph;
    Diag d = {{0}};
    Node *r = gb_node(g, "Relu", 13, "r", 2, (Value *[]){g->inputs[0], g->inputs[0]}, 1);
    expect_msg(ir_verify(m, &d), &d, "node 'r' (Relu): 2 inputs / 1 outputs are outside the op's arity");
    r->n_inputs = 1;
    expect_verify_ok(m);
    Node *cat = gb_node(g, "Concat", 13, "cat", 0, NULL, 1);
    expect_msg(ir_verify(m, &d), &d, "node 'cat' (Concat): 0 inputs / 1 outputs are outside the op's arity");
    cat->op = OP_OPAQUE; /* opaque nodes are not checked against the table */
    expect_verify_ok(m);
    gb_node(g, "Dropout", 13, "drop", 1, g->inputs, 3);
    expect_msg(ir_verify(m, &d), &d, "node 'drop' (Dropout): 1 inputs / 3 outputs are outside the op's arity");
    model_free(m);
}

static void test_verify_graph_output(void **state)
{
    (void)state;
    Model *m = small_model();
    m->graph->name = "main";
    m->graph->outputs[0] = NULL;
    Diag d = {{0}};
    expect_msg(ir_verify(m, &d), &d, "graph 'main': output 0 is not defined");
    model_free(m);
}

/* ---- the printer ---- */

static Model *printable_model(void)
{
    Model *m = small_model();
    Graph *g = m->graph;
    m->ir_version = 8;
    m->opsets = arena_alloc(m->arena, sizeof *m->opsets);
    m->opsets[0] = (OpsetImport){"", 13};
    m->n_opsets = 1;
    Value *big = ramp_init(g, "big", 100);
    Node *mul = gb_node(g, "Mul", 13, "mul", 2, (Value *[]){g->nodes[1]->outputs[0], big}, 1);
    node_add_attr(mul, "alpha", ATTR_FLOAT)->f = 0.5f;
    Attr *ints = node_add_attr(mul, "pads", ATTR_INTS);
    ints->n = 2;
    ints->ints = arena_memdup(m->arena, (int64_t[]){1, 2}, 2 * sizeof(int64_t));
    Attr *s = node_add_attr(mul, "mode", ATTR_STRING);
    s->s = (Bytes){(const uint8_t *)"a\"b", 3};
    Graph *body = add_body(mul);
    gb_append_output(body, gb_node(body, "Relu", 13, "inner", 1, &g->inputs[0], 1)->outputs[0]);
    mul->outputs[0]->kind = TYPE_TENSOR;
    mul->outputs[0]->dtype = DT_FLOAT;
    mul->outputs[0]->shape = shape_from_dims(2, (int64_t[]){-1, 100});
    mul->outputs[0]->shape.dims[0].param = "N";
    return m;
}

static void test_print_deterministic(void **state)
{
    (void)state;
    Model *m = printable_model();
    char *first = gb_ir_text(m), *second = gb_ir_text(m);
    assert_string_equal(first, second);
    assert_non_null(strstr(first, "input %x : float[N,4]"));
    assert_non_null(strstr(first, "init %w = tensor float[4]"));
    assert_non_null(strstr(first, "{0,0.25,0.5,0.75}"));
    assert_non_null(strstr(first, "%mul_out = Mul(%b_out, %big) {alpha=0.5, pads=[1,2], mode=\"a\\\"b\""));
    assert_non_null(strstr(first, ": %mul_out : float[N,100]"));
    assert_non_null(strstr(first, "opset \"\" 13"));

    Model *twin = printable_model(); /* a separate build of the same graph */
    char *third = gb_ir_text(twin);
    assert_string_equal(first, third);

    float *big = graph_find_value(m->graph, "big")->init->data;
    big[57] += 1e-6f; /* one weight of a tensor printed only as a digest */
    char *changed = gb_ir_text(m);
    assert_string_not_equal(first, changed);
    big[57] -= 1e-6f;
    big[57] = 0.25f * 57;
    char *restored = gb_ir_text(m);
    assert_string_equal(first, restored);
    free(first);
    free(second);
    free(third);
    free(changed);
    free(restored);
    model_free(twin);
    model_free(m);
}

/* ---- static statistics ---- */

static void test_stats(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){-1, 3, 8, 8});
    Value *w = gb_init(g, "w", DT_FLOAT, 4, (int64_t[]){4, 3, 3, 3});
    Value *shp = graph_add_value(g, "shp", NULL);
    shp->init = tensor_new(m->arena, DT_INT64, 1, (int64_t[]){2});
    gb_append_init(g, shp);
    Node *conv = gb_node(g, "Conv", 13, "conv", 2, (Value *[]){x, w}, 1);
    Value *y = conv->outputs[0];
    y->kind = TYPE_TENSOR;
    y->shape = shape_from_dims(4, (int64_t[]){-1, 4, 6, 6});
    gb_node(g, "Relu", 13, "r1", 1, &y, 1);
    gb_node(g, "Relu", 13, "r2", 1, &y, 1);
    GraphStats s;
    graph_stats(g, &s);
    assert_int_equal(s.params, 108);
    assert_int_equal(s.param_bytes, 108 * 4 + 16);
    assert_int_equal(s.macs, 4 * 6 * 6 * 27);
    assert_int_equal(s.n_nodes, 3);
    assert_int_equal(s.n_op_types, 2);
    assert_string_equal(s.op_types[1], "Relu");
    assert_int_equal(s.op_counts[1], 2);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_refuse_duplicates),
        cmocka_unit_test(test_names_scopes),
        cmocka_unit_test(test_names_many_values),
        cmocka_unit_test(test_new_value_unique_names),
        cmocka_unit_test(test_toposort_keeps_sorted_order),
        cmocka_unit_test(test_toposort_fixes_unsorted),
        cmocka_unit_test(test_toposort_long_reversed_chain),
        cmocka_unit_test(test_toposort_reports_cycle),
        cmocka_unit_test(test_toposort_reports_undefined_input),
        cmocka_unit_test(test_toposort_subgraph_uses),
        cmocka_unit_test(test_count_and_replace_uses),
        cmocka_unit_test(test_remove_nodes),
        cmocka_unit_test(test_verify_accepts_valid),
        cmocka_unit_test(test_verify_use_before_definition),
        cmocka_unit_test(test_verify_undefined_input),
        cmocka_unit_test(test_verify_defined_twice),
        cmocka_unit_test(test_verify_initializer_size),
        cmocka_unit_test(test_verify_arity),
        cmocka_unit_test(test_verify_graph_output),
        cmocka_unit_test(test_print_deterministic),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
