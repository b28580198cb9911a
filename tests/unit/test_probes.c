/* test_probes.c - the probe passes (passes/probes.c, probe_adapter.c,
 * probe_pairs.c) on a small CNN teacher and a half-width student built
 * here: finding values by name and glob, `pairs: auto` by spatial stage,
 * adapters (1x1 Conv, Resize then Conv, Gemm) whose outputs have the
 * teacher's shape and whose weights train with the student, stripping that
 * leaves exactly the untapped student's nodes, initializers and outputs,
 * and cutting a teacher down to a tapped value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "passes/passes.h"
#include "passes/probes.h"
#include "tests/unit/plan_check.h"

/* x [N,3,8,8] -> conv1 (c1) -> relu1 -> maxpool 2x2 -> conv2 (c2) -> relu2 -> GAP -> flatten -> fc (10). */
static Model *cnn(int64_t c1, int64_t c2)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 3, 8, 8});
    Value *w1 = gb_param(g, "w1", 4, (int64_t[]){c1, 3, 3, 3}, -0.5f, 0.5f);
    Node *conv1 = gb_node(g, "Conv", 13, "conv1", 2, (Value *[]){x, w1}, 1);
    gb_set_ints(conv1, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Value *r1 = gb_node_to(g, "Relu", 13, "relu1", 1, &conv1->outputs[0], "relu1")->outputs[0];
    Node *pool = gb_node(g, "MaxPool", 13, "pool", 1, &r1, 1);
    gb_set_ints(pool, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_set_ints(pool, "strides", 2, (int64_t[]){2, 2});
    Value *w2 = gb_param(g, "w2", 4, (int64_t[]){c2, c1, 3, 3}, -0.5f, 0.5f);
    Node *conv2 = gb_node(g, "Conv", 13, "conv2", 2, (Value *[]){pool->outputs[0], w2}, 1);
    gb_set_ints(conv2, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Value *r2 = gb_node_to(g, "Relu", 13, "relu2", 1, &conv2->outputs[0], "relu2")->outputs[0];
    Value *gap = gb_op1(g, "GlobalAveragePool", 13, "gap", r2);
    Value *flat = gb_op1(g, "Flatten", 13, "flat", gap);
    Value *wf = gb_param(g, "wf", 2, (int64_t[]){10, c2}, -0.5f, 0.5f);
    Node *fc = gb_node(g, "Gemm", 13, "fc", 2, (Value *[]){flat, wf}, 1);
    gb_set_int(fc, "transB", 1);
    gb_append_output(g, fc->outputs[0]);
    Diag d = {{0}};
    if (pass_infer_shapes(g, &d))
        fail_msg("infer: %s", d.msg);
    return m;
}

/* "Op:name;" for every node, then "init;" for every initializer. */
static char *fingerprint(const Graph *g)
{
    size_t cap = 4096, at = 0;
    char *s = calloc(cap, 1);
    for (int i = 0; i < g->n_nodes; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s:%s;", g->nodes[i]->op_type, g->nodes[i]->name);
    for (int i = 0; i < g->n_inits; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s;", g->inits[i]->name);
    for (int i = 0; i < g->n_outputs; i++)
        at += (size_t)snprintf(s + at, cap - at, "out %s;", g->outputs[i]->name);
    assert_true(at < cap);
    return s;
}

static void expect_dims(const Value *v, int rank, const int64_t *dims)
{
    assert_int_equal(v->shape.rank, rank);
    for (int i = 1; i < rank; i++)
        assert_int_equal(v->shape.dims[i].value, dims[i]);
}

static void test_find(void **state)
{
    (void)state;
    Model *m = cnn(8, 16);
    Value *found[4];
    int n = 0;
    Diag d = {{0}};
    assert_int_equal(pass_probe_find(m->graph, "relu*", found, 4, &n, &d), KDC_OK);
    assert_int_equal(n, 2);
    assert_string_equal(found[0]->name, "relu1");
    assert_string_equal(found[1]->name, "relu2");
    assert_int_equal(pass_probe_find(m->graph, "x", found, 4, &n, &d), KDC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(pass_probe_find(m->graph, "relu3", found, 4, &n, &d), KDC_ERR);
    assert_string_equal(d.msg, "no value of graph '' is named 'relu3'");
    model_free(m);
}

static void test_pairs_auto(void **state)
{
    (void)state;
    Model *t = cnn(8, 16), *s = cnn(4, 8);
    ProbePair pairs[4];
    int n = 0;
    Diag d = {{0}};
    assert_int_equal(pass_probe_pairs_auto(t->graph, s->graph, pairs, 4, &n, &d), KDC_OK);
    assert_int_equal(n, 3); /* 8x8, 4x4, 1x1 */
    assert_string_equal(pairs[0].teacher->name, "relu1");
    assert_string_equal(pairs[0].student->name, "relu1");
    assert_string_equal(pairs[1].teacher->name, "relu2");
    assert_string_equal(pairs[2].teacher->name, "gap_out");
    model_free(t);

    Model *mlp = model_new();
    Value *v = gb_batch_input(mlp->graph, "v", 2, (int64_t[]){0, 4});
    gb_append_output(mlp->graph, gb_op1(mlp->graph, "Relu", 13, "r", v));
    assert_int_equal(pass_probe_pairs_auto(mlp->graph, s->graph, pairs, 4, &n, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "pairs: auto found no feature maps"));
    model_free(mlp);
    model_free(s);
}

/* Adapters on the student; a training plan trains their weights; strip restores the student exactly. */
static void test_adapters_train_and_strip(void **state)
{
    (void)state;
    Model *t = cnn(8, 16), *s = cnn(4, 8);
    Graph *g = s->graph;
    char *before = fingerprint(g);
    ProbeSet ps = PROBE_SET_INIT;
    Diag d = {{0}};
    Value *relu1 = graph_find_value(g, "relu1"), *relu2 = graph_find_value(g, "relu2");
    Value *a1, *a2, *a3, *a4;
    int k1, k2, k3;
    assert_int_equal(pass_probe_adapter(g, relu1, graph_find_value(t->graph, "relu1"), 7, &a1, &d), KDC_OK);
    expect_dims(a1, 4, (int64_t[]){0, 8, 8, 8});
    assert_int_equal(pass_probe_adapter(g, relu1, graph_find_value(t->graph, "relu2"), 7, &a2, &d), KDC_OK);
    expect_dims(a2, 4, (int64_t[]){0, 16, 4, 4}); /* resized down, then 1x1 conv */
    assert_int_equal(a2->producer->op, OP_Conv);
    assert_int_equal(pass_probe_adapter(g, graph_find_value(g, "flat_out"), graph_find_value(t->graph, "flat_out"), 7,
                                        &a3, &d), KDC_OK);
    expect_dims(a3, 2, (int64_t[]){0, 16});
    assert_int_equal(pass_probe_adapter(g, relu2, relu2, 7, &a4, &d), KDC_OK);
    assert_ptr_equal(a4, relu2); /* same shape: no adapter */
    assert_int_equal(pass_probe_tap(g, &ps, a1, &k1, &d) || pass_probe_tap(g, &ps, a2, &k2, &d) ||
                     pass_probe_tap(g, &ps, a3, &k3, &d), KDC_OK);
    assert_int_equal(g->n_outputs, 4);
    Plan *p = pc_build(g, PLAN_TRAINING, 2, 1);
    PlanParam *params;
    assert_int_equal(plan_params(p, &params), 3 + 6); /* w1 w2 wf; two convs, one gemm: weight + bias each */
    pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    plan_zero_grads(p);
    float *g1 = plan_output_grad(p, k1);
    assert_non_null(g1);
    for (int64_t i = 0; i < 2 * 8 * 8 * 8; i++)
        g1[i] = 1;
    plan_backward(p);
    double sum = 0;
    for (int i = 0; i < plan_params(p, &params); i++)
        if (!strcmp(params[i].value->name, PROBE_ADAPTER_PREFIX "relu1/bias"))
            for (int64_t j = 0; j < params[i].numel; j++)
                sum += params[i].grad[j];
    assert_true(sum > 0); /* the adapter's bias gets dLoss: 2*8*8 ones per channel */
    plan_free(p);
    assert_int_equal(pass_probe_strip(g, &ps, &d), KDC_OK);
    char *after = fingerprint(g);
    assert_string_equal(after, before);
    free(before);
    free(after);
    model_free(t);
    model_free(s);
}

static void test_adapter_errors(void **state)
{
    (void)state;
    Model *t = cnn(8, 16), *s = cnn(4, 8);
    Diag d = {{0}};
    Value *out;
    assert_int_equal(pass_probe_adapter(s->graph, graph_find_value(s->graph, "relu1"),
                                        graph_find_value(t->graph, "flat_out"), 1, &out, &d), KDC_ERR);
    assert_string_equal(d.msg, "cannot adapt student value 'relu1' to teacher value 'flat_out': kdc adapts float "
                               "feature maps [N,C,H,W], vectors [N,D] and token sequences [N,L,D] of the same "
                               "length, with known dims");
    model_free(t);
    model_free(s);
}

static void test_cut(void **state)
{
    (void)state;
    Model *t = cnn(8, 16);
    Graph *g = t->graph;
    Diag d = {{0}};
    Value *keep[] = {graph_find_value(g, "relu1"), graph_find_value(g, "relu2")};
    assert_int_equal(pass_probe_cut(g, keep, 2, &d), KDC_OK);
    assert_int_equal(g->n_outputs, 2);
    assert_int_equal(g->n_nodes, 5); /* conv1 relu1 pool conv2 relu2 */
    assert_null(graph_find_value(g, "wf")->producer);
    for (int i = 0; i < g->n_inits; i++)
        assert_string_not_equal(g->inits[i]->name, "wf");
    model_free(t);
}

int main(void)
{
    gb_rng_seed(3);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_pairs_auto),
        cmocka_unit_test(test_adapters_train_and_strip),
        cmocka_unit_test(test_adapter_errors),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
