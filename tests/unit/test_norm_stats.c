/* test_norm_stats.c - calib_norm_stats: BatchNormalization running statistics measured
 * anew on calibration data. After the call every node re-estimated holds the mean and
 * population variance of its input over the data as the re-estimated network computes it
 * (so a node after another was measured after that one changed: two rounds, not one);
 * nodes that share their statistics or normalize with batch statistics are left alone;
 * on bad data nothing changes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "passes/passes.h"
#include "tests/unit/graph_build.h"
#include "tests/unit/plan_check.h"
#include "train/norm_stats.h"

enum { BATCH = 24, OPSET = 15 };

static void expect_ok(Status st, const Diag *d)
{
    if (st != KDC_OK)
        fail_msg("%s", d->msg);
}

static Value *conv(Graph *g, const char *name, Value *x, int64_t c_in, int64_t c_out)
{
    char w[64];
    snprintf(w, sizeof w, "%s.w", name);
    Node *n = gb_node(g, "Conv", OPSET, name, 2,
                      (Value *[]){x, gb_param(g, w, 4, (int64_t[]){c_out, c_in, 3, 3}, -0.5f, 0.5f)}, 1);
    gb_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    return n->outputs[0];
}

/* A BatchNormalization with random parameters of its own (or, with `var`, that variance). */
static Node *bn(Graph *g, const char *name, Value *x, int64_t c, Value *var)
{
    char p[4][64];
    const char *part[4] = {"scale", "B", "mean", "var"};
    Value *v[4];
    for (int i = 0; i < 4; i++) {
        snprintf(p[i], sizeof p[i], "%s.%s", name, part[i]);
        v[i] = i == 3 && var ? var : gb_param(g, p[i], 1, (int64_t[]){c}, i == 3 ? 0.5f : -0.5f, 1.5f);
    }
    return gb_node(g, "BatchNormalization", OPSET, name, 5, (Value *[]){x, v[0], v[1], v[2], v[3]}, 1);
}

/* x[N,2,6,6]: bn0 on x itself (an output), and c1 -> bn1 -> Relu -> c2 -> bn2 -> Relu (the
 * other output). bn0 and bn1 are round 1, bn2 round 2. */
static Model *chain_net(void)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 6, 6});
    gb_append_output(g, bn(g, "bn0", x, 2, NULL)->outputs[0]);
    Value *r1 = gb_op1(g, "Relu", OPSET, "r1", bn(g, "bn1", conv(g, "c1", x, 2, 4), 4, NULL)->outputs[0]);
    gb_append_output(g, gb_op1(g, "Relu", OPSET, "r2", bn(g, "bn2", conv(g, "c2", r1, 4, 3), 3, NULL)->outputs[0]));
    Diag d = {{0}};
    expect_ok(pass_infer_shapes(g, &d), &d);
    return m;
}

typedef struct Moments {
    double mean[8], var[8];
    int64_t channels;
} Moments;

/* The mean and variance of node's input over x, as g computes it now. */
static Moments measure(Graph *g, const Node *node, const CalibData *data)
{
    Moments mo = {.channels = node->inputs[0]->shape.dims[1].value};
    double abs[8];
    CalibRequest req = {node->inputs[0], 1, abs, mo.mean, mo.var};
    Diag d = {{0}};
    expect_ok(calib_activation(g, data, &req, 1, &d), &d);
    return mo;
}

/* The statistics node holds, against moments, within a relative tol. */
static void expect_stats(const Node *node, const Moments *want, double tol)
{
    const float *mean = node->inputs[3]->init->data, *var = node->inputs[4]->init->data;
    for (int64_t c = 0; c < want->channels; c++) {
        if (!(fabs(mean[c] - want->mean[c]) <= tol * (1 + fabs(want->mean[c]))))
            fail_msg("%s: mean[%lld] %.7g, its input's %.7g", node->name, (long long)c, mean[c], want->mean[c]);
        if (!(fabs(var[c] - want->var[c]) <= tol * (1 + want->var[c])))
            fail_msg("%s: var[%lld] %.7g, its input's %.7g", node->name, (long long)c, var[c], want->var[c]);
    }
}

static Node *find_node(const Graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i]->name, name))
            return g->nodes[i];
    fail_msg("no node %s", name);
    return NULL;
}

/* A batch of BATCH random samples for x, shifted and spread unlike the teacher's data. */
static CalibData random_data(Model *m, const Tensor **in)
{
    Tensor *t = tensor_new(m->arena, DT_FLOAT, 4, (int64_t[]){BATCH, 2, 6, 6});
    gb_fill_random(t->data, tensor_numel(t), 0.5f, 3.0f);
    in[0] = t;
    return (CalibData){in, 1, BATCH, 10}; /* batches of 10, 10 and 4 */
}

static void test_rounds(void **state)
{
    (void)state;
    Model *m = chain_net();
    Graph *g = m->graph;
    const Tensor *in[1];
    CalibData data = random_data(m, in);
    Node *bn2 = find_node(g, "bn2");
    Moments before = measure(g, bn2, &data); /* bn2's input with bn1 as the teacher had it */
    NormStatsReport rep;
    Diag d = {{0}};
    expect_ok(calib_norm_stats(g, &data, &rep, &d), &d);
    assert_int_equal(rep.set, 3);
    assert_int_equal(rep.kept, 0);
    assert_int_equal(rep.rounds, 2);
    const char *names[3] = {"bn0", "bn1", "bn2"};
    for (int i = 0; i < 3; i++) {
        Node *node = find_node(g, names[i]);
        Moments now = measure(g, node, &data);
        expect_stats(node, &now, 1e-5);
    }
    /* measured in one round, bn2 would hold `before`, which the new bn1 no longer gives it */
    double moved = 0;
    for (int c = 0; c < 3; c++)
        moved = fmax(moved, fabs(((const float *)bn2->inputs[3]->init->data)[c] - before.mean[c]));
    assert_true(moved > 1e-2);
    model_free(m);
}

/* Statistics shared by bn1 and bn2, and a node in training mode: none re-estimated. */
static void test_kept(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 6, 6});
    Value *shared = gb_param(g, "shared.var", 1, (int64_t[]){2}, 0.5f, 1.5f);
    gb_append_output(g, bn(g, "bn1", x, 2, shared)->outputs[0]);
    gb_append_output(g, bn(g, "bn2", x, 2, shared)->outputs[0]);
    Node *batch_stats = bn(g, "bn3", x, 2, NULL);
    gb_set_int(batch_stats, "training_mode", 1);
    gb_append_output(g, batch_stats->outputs[0]);
    Diag d = {{0}};
    expect_ok(pass_infer_shapes(g, &d), &d);
    const Tensor *in[1];
    CalibData data = random_data(m, in);
    float mean3 = ((const float *)batch_stats->inputs[3]->init->data)[0];
    NormStatsReport rep;
    expect_ok(calib_norm_stats(g, &data, &rep, &d), &d);
    assert_int_equal(rep.set, 0);
    assert_int_equal(rep.kept, 3);
    assert_int_equal(rep.rounds, 0);
    assert_true(((const float *)batch_stats->inputs[3]->init->data)[0] == mean3);
    model_free(m);
}

/* Data that does not fit the graph: an error naming the input, every statistic as it was. */
static void test_bad_data(void **state)
{
    (void)state;
    Model *m = chain_net();
    Graph *g = m->graph;
    Tensor *t = tensor_new(m->arena, DT_FLOAT, 4, (int64_t[]){BATCH, 3, 6, 6});
    const Tensor *in[1] = {t};
    CalibData data = {in, 1, BATCH, BATCH};
    Node *bn1 = find_node(g, "bn1");
    float var1 = ((const float *)bn1->inputs[4]->init->data)[1];
    NormStatsReport rep;
    Diag d = {{0}};
    assert_int_equal(calib_norm_stats(g, &data, &rep, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "'x'"));
    assert_true(((const float *)bn1->inputs[4]->init->data)[1] == var1);
    model_free(m);
}

/* A failure in round 2 (bn2's input declared [N, 3], the run gives it rank 4) after round
 * 1 set bn0 and bn1: theirs are restored. */
static void test_restore(void **state)
{
    (void)state;
    Model *m = chain_net();
    Graph *g = m->graph;
    const Tensor *in[1];
    CalibData data = random_data(m, in);
    Node *bn1 = find_node(g, "bn1");
    Value *x2 = find_node(g, "bn2")->inputs[0];
    x2->shape.rank = 2;
    float mean1 = ((const float *)bn1->inputs[3]->init->data)[2];
    NormStatsReport rep;
    Diag d = {{0}};
    assert_int_equal(calib_norm_stats(g, &data, &rep, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, x2->name));
    assert_true(((const float *)bn1->inputs[3]->init->data)[2] == mean1);
    model_free(m);
}

/* A channel constant on the data (c1's output channel 0: zero weights, no bias) keeps the
 * teacher's statistics; the others are measured. One initializer as both mean and var: kept. */
static void test_constant_channel(void **state)
{
    (void)state;
    Model *m = chain_net();
    Graph *g = m->graph;
    const Tensor *in[1];
    CalibData data = random_data(m, in);
    Node *c1 = find_node(g, "c1"), *bn1 = find_node(g, "bn1"), *bn0 = find_node(g, "bn0");
    memset(c1->inputs[1]->init->data, 0, (size_t)2 * 3 * 3 * sizeof(float)); /* output channel 0 */
    bn0->inputs[4] = bn0->inputs[3];
    const float *mean = bn1->inputs[3]->init->data, *var = bn1->inputs[4]->init->data;
    float mean0 = mean[0], var0 = var[0], mean1 = mean[1];
    NormStatsReport rep;
    Diag d = {{0}};
    expect_ok(calib_norm_stats(g, &data, &rep, &d), &d);
    assert_int_equal(rep.set, 2);
    assert_int_equal(rep.kept, 1);
    assert_true(mean[0] == mean0 && var[0] == var0);
    assert_true(mean[1] != mean1);
    model_free(m);
}

int main(void)
{
    gb_rng_seed(11);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounds),           cmocka_unit_test(test_kept),
        cmocka_unit_test(test_bad_data),         cmocka_unit_test(test_restore),
        cmocka_unit_test(test_constant_channel),
    };
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
