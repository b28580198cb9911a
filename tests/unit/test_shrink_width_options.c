/* test_shrink_width_options.c - unit tests of the width shrink's options
 * (passes/options.h StudentOptions), its report (passes.h WidthReport) and
 * its run on the exported zoo.
 *
 * Options: per-node overrides by glob (first match wins, any creator of a
 * group matches), protect globs, round_to, params and MACs budgets met
 * within 10% by the static cost model, which must agree exactly with
 * ir/stats.h on the student; an unreachable budget is one line and leaves the
 * graph as it was; importance l2, bn_scale and random (seeded). Report: every
 * creator in graph order with teacher and student units, parameters and MACs
 * (counted here independently), totals equal to graph_stats. Zoo: resnet18
 * and vit at width 0.5 still build and run with the teacher's output shapes
 * (skipped, visibly, when tests/models/zoo is absent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/zoo_load.h"

#include "frontend/onnx_import.h"
#include "tests/unit/width_models.h"

static const WidthLayer *layer(const WidthReport *r, const char *name)
{
    for (int i = 0; i < r->n_layers; i++)
        if (!strcmp(r->layers[i].name, name))
            return &r->layers[i];
    fail_msg("no layer '%s' in the report", name);
    return NULL;
}

static int64_t kept_units(const WidthReport *r, const char *name)
{
    return layer(r, name)->kept_units;
}

/* ---- overrides, protect, round_to ---- */

static void test_overrides_by_glob(void **state)
{
    (void)state;
    Model *m = model_new();
    wm_rescnn(m, 8, false);
    /* b1 alone has 0.25; "si*" (side) 1.0; "b*" matches b1 (taken already) and
     * b2, a creator of the stem's group, which then keeps 0.75 */
    const WidthOverride over[] = {{"b1", 0.25}, {"si*", 1.0}, {"b*", 0.75}};
    StudentOptions o = {.width = 0.5, .overrides = over, .n_overrides = 3};
    WidthReport r;
    wm_shrink_ok(m, &o, &r);
    assert_int_equal(kept_units(&r, "b1"), 2);
    assert_int_equal(kept_units(&r, "side"), 6);
    assert_int_equal(kept_units(&r, "stem"), 6);
    assert_int_equal(kept_units(&r, "b2"), 6);
    assert_int_equal(kept_units(&r, "dw"), 6);
    assert_int_equal(kept_units(&r, "se1"), 2);
    assert_int_equal(kept_units(&r, "head"), 4);
    wm_assert_dims(m->graph, "side.weight", 4, (int64_t[]){6, 6, 3, 3});
    WmOut y;
    assert_int_equal(wm_run(m->graph, 2, 1, &y, 1), 1);
    wm_free_outs(&y, 1);
    model_free(m);

    m = model_new();
    wm_rescnn(m, 8, false);
    const WidthOverride bad[] = {{"b1", 1.5}};
    o = (StudentOptions){.width = 0.5, .overrides = bad, .n_overrides = 1};
    Diag d = {{0}};
    assert_int_equal(wm_shrink(m, &o, NULL, &d), KDC_ERR);
    assert_string_equal(d.msg, "width for 'b1' must be in (0, 1], got 1.5");
    model_free(m);
}

static void test_protect_globs(void **state)
{
    (void)state;
    Model *m = model_new();
    wm_rescnn(m, 8, false);
    StudentOptions o = {.width = 0.5, .protect = (const char *[]){"st*", "head"}, .n_protect = 2};
    WidthReport r;
    wm_shrink_ok(m, &o, &r);
    const char *full[] = {"stem", "b2", "dw", "se2", "head"}, *half[] = {"b1", "se1", "side"};
    for (int i = 0; i < 5; i++) {
        const WidthLayer *l = layer(&r, full[i]);
        assert_int_equal(l->kept_units, l->units);
        assert_false(l->hidden);
        assert_non_null(l->why);
        assert_non_null(strstr(l->why, i < 4 ? "'st*'" : "'head'"));
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(layer(&r, half[i])->kept_units * 2, layer(&r, half[i])->units);
        assert_true(layer(&r, half[i])->hidden);
    }
    wm_assert_dims(m->graph, "stem.weight", 4, (int64_t[]){8, 3, 3, 3});
    wm_assert_dims(m->graph, "head.weight", 4, (int64_t[]){8, 11, 1, 1});
    model_free(m);
}

static void test_round_to(void **state)
{
    (void)state;
    Model *m = model_new();
    wm_rescnn(m, 32, false);
    StudentOptions o = {.width = 0.3, .round_to = 8}; /* 9.6 -> 16; 4.8 -> 8; 7.2 -> 8 */
    WidthReport r;
    wm_shrink_ok(m, &o, &r);
    assert_int_equal(kept_units(&r, "stem"), 16);
    assert_int_equal(kept_units(&r, "b1"), 16);
    assert_int_equal(kept_units(&r, "se1"), 8);
    assert_int_equal(kept_units(&r, "side"), 8);
    for (int i = 0; i < r.n_layers; i++)
        assert_int_equal(r.layers[i].kept_units % 8 == 0 || !r.layers[i].hidden, true);
    model_free(m);

    m = model_new(); /* never past the group's size: 0.9 * 24 = 21.6 -> 24 */
    wm_rescnn(m, 32, false);
    o = (StudentOptions){.width = 0.9, .round_to = 16};
    wm_shrink_ok(m, &o, &r);
    assert_int_equal(kept_units(&r, "side"), 24);
    assert_int_equal(kept_units(&r, "stem"), 32);
    model_free(m);
}

/* ---- budgets ---- */

static void check_budget(double params, double macs)
{
    Model *teacher = model_new(), *m = model_new();
    wm_rescnn(teacher, 32, false);
    wm_rescnn(m, 32, false);
    GraphStats ts, ss;
    graph_stats(teacher->graph, &ts);
    StudentOptions o = {.params = params, .macs = macs};
    WidthReport r;
    wm_shrink_ok(m, &o, &r);
    graph_stats(m->graph, &ss);
    assert_int_equal(r.params, ts.params);
    assert_int_equal(r.macs, ts.macs);
    assert_int_equal(r.kept_params, ss.params); /* the cost model counts as ir/stats.h does */
    assert_int_equal(r.kept_macs, ss.macs);
    double frac = params > 0 ? (double)ss.params / (double)ts.params : (double)ss.macs / (double)ts.macs;
    double want = params > 0 ? params : macs;
    if (fabs(frac - want) > 0.1 * want)
        fail_msg("budget %g: the student has %.4f of the teacher", want, frac);
    assert_true(r.width > 0 && r.width < 1);
    WmOut y;
    assert_int_equal(wm_run(m->graph, 2, 1, &y, 1), 1);
    wm_free_outs(&y, 1);
    model_free(teacher);
    model_free(m);
}

static void test_budgets(void **state)
{
    (void)state;
    check_budget(0.25, 0);
    check_budget(0, 0.3);
}

/* channel_groups_cost of a choice is what graph_stats finds after applying it. */
static void test_cost_model_agrees_with_stats(void **state)
{
    (void)state;
    Model *m = model_new();
    wm_rescnn(m, 16, false);
    ChannelGroups *cg = NULL;
    Diag d = {{0}};
    assert_int_equal(channel_groups_build(m->graph, &cg, &d), KDC_OK);
    int n = channel_groups_count(cg);
    int64_t *n_kept = calloc((size_t)n, sizeof *n_kept), **kept = calloc((size_t)n, sizeof *kept);
    for (int i = 0; i < n; i++) {
        const ChannelGroup *grp = channel_groups_get(cg, i);
        n_kept[i] = grp->frozen ? grp->size : grp->size / 3 + i % 2; /* varied counts */
        kept[i] = malloc((size_t)n_kept[i] * sizeof **kept);
        for (int64_t u = 0; u < n_kept[i]; u++)
            kept[i][u] = grp->size - n_kept[i] + u;
    }
    GraphStats before, after;
    graph_stats(m->graph, &before);
    int64_t params, macs;
    channel_groups_cost(cg, NULL, &params, &macs);
    assert_int_equal(params, before.params);
    assert_int_equal(macs, before.macs);
    channel_groups_cost(cg, n_kept, &params, &macs);
    assert_int_equal(channel_groups_apply(m->graph, cg, kept, n_kept, &d), KDC_OK);
    graph_stats(m->graph, &after);
    assert_int_equal(params, after.params);
    assert_int_equal(macs, after.macs);
    assert_true(after.params < before.params);
    for (int i = 0; i < n; i++)
        free(kept[i]);
    free(kept);
    free(n_kept);
    channel_groups_free(cg);
    model_free(m);
}

static void test_unreachable_budget(void **state)
{
    (void)state;
    Model *m = model_new();
    wm_rescnn(m, 8, false);
    char *before = gb_ir_text(m);
    StudentOptions o = {.params = 0.01};
    Diag d = {{0}};
    assert_int_equal(wm_shrink(m, &o, NULL, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "the budget params 0.01 cannot be met: the smallest student kdc can derive keeps "));
    assert_null(strchr(d.msg, '\n'));
    char *after = gb_ir_text(m);
    assert_string_equal(before, after);
    free(before);
    free(after);
    o = (StudentOptions){.params = 0.5, .macs = 0.5};
    assert_int_equal(wm_shrink(m, &o, NULL, &d), KDC_ERR);
    assert_string_equal(d.msg, "give one budget: params or macs, not both");
    model_free(m);
}

/* ---- importance ---- */

/* x[N,4] -> hidden Gemm (2 units, B [4,2]) -> out Gemm. Unit 0's weights are
 * (1,1,1,1): L1 4, L2 4; unit 1's (3,0,0,0): L1 3, L2 9. The out layer reads
 * both alike. */
static void norms_build(Model *m)
{
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *w = gb_init_copy(g, "w", DT_FLOAT, 2, (int64_t[]){4, 2}, (float[]){1, 3, 1, 0, 1, 0, 1, 0});
    Value *h = wm_op2(g, "Gemm", "hidden", x, w);
    Value *w2 = gb_init_copy(g, "w2", DT_FLOAT, 2, (int64_t[]){2, 3}, (float[]){1, 1, 1, 1, 1, 1});
    gb_append_output(g, wm_op2(g, "Gemm", "out", h, w2));
    wm_prepare(m);
}

static float kept_hidden_first_weight(ImportanceKind kind)
{
    Model *m = model_new();
    norms_build(m);
    StudentOptions o = {.width = 0.5, .importance = kind};
    wm_shrink_ok(m, &o, NULL);
    wm_assert_dims(m->graph, "w", 2, (int64_t[]){4, 1});
    float w0 = ((const float *)wm_find(m->graph, "w")->init->data)[0];
    model_free(m);
    return w0;
}

static void test_importance_l1_l2(void **state)
{
    (void)state;
    assert_float_equal(kept_hidden_first_weight(IMPORTANCE_L1), 1.0f, 0); /* unit 0 */
    assert_float_equal(kept_hidden_first_weight(IMPORTANCE_L2), 3.0f, 0); /* unit 1 */
}

/* x -> c conv (4) -> bn -> relu -> d conv (-> 2). Units 0, 1 have large
 * weights and a small gamma; units 2, 3 the other way round. */
static void bn_build(Model *m)
{
    Graph *g = m->graph;
    gb_rng_seed(8);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *h = wm_op1(g, "Relu", "relu", wm_bn(g, "bn", wm_conv(g, "c", x, 2, 4, 3, 1), 4));
    gb_append_output(g, wm_conv(g, "d", h, 4, 2, 1, 1));
    const float gamma[] = {0.1f, 0.1f, 1, 1};
    for (int u = 0; u < 4; u++) {
        wm_scale_unit(g, "c.weight", 0, u, u < 2 ? 10.0f : 1.0f);
        ((float *)wm_find(g, "c.bias")->init->data)[u] = u < 2 ? 1.0f : 0.1f;
        ((float *)wm_find(g, "bn.scale")->init->data)[u] = gamma[u];
        ((float *)wm_find(g, "bn.B")->init->data)[u] = 0.5f;
        ((float *)wm_find(g, "bn.mean")->init->data)[u] = 0.5f;
        ((float *)wm_find(g, "bn.var")->init->data)[u] = 1.0f;
    }
    for (int64_t e = 0; e < 8; e++)
        ((float *)wm_find(g, "d.weight")->init->data)[e] = 0.25f;
    wm_prepare(m);
}

static void test_importance_bn_scale(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        Model *m = model_new();
        bn_build(m);
        StudentOptions o = {.width = 0.5, .importance = k ? IMPORTANCE_BN_SCALE : IMPORTANCE_L1};
        wm_shrink_ok(m, &o, NULL);
        const float *gamma = wm_find(m->graph, "bn.scale")->init->data;
        wm_assert_dims(m->graph, "bn.scale", 1, (int64_t[]){2});
        assert_float_equal(gamma[0], k ? 1.0f : 0.1f, 0); /* bn_scale keeps 2, 3; l1 keeps 0, 1 */
        assert_float_equal(gamma[1], k ? 1.0f : 0.1f, 0);
        model_free(m);
    }
}

/* Every initializer of a and b holds the same bytes. */
static bool same_weights(const Graph *a, const Graph *b)
{
    if (a->n_inits != b->n_inits)
        return false;
    for (int i = 0; i < a->n_inits; i++) {
        const Tensor *x = a->inits[i]->init, *y = wm_find(b, a->inits[i]->name)->init;
        if (x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes))
            return false;
    }
    return true;
}

static Model *random_student(uint64_t seed)
{
    Model *m = model_new();
    wm_rescnn(m, 16, false);
    StudentOptions o = {.width = 0.5, .importance = IMPORTANCE_RANDOM, .seed = seed};
    wm_shrink_ok(m, &o, NULL);
    return m;
}

static void test_importance_random_is_seeded(void **state)
{
    (void)state;
    Model *a = random_student(7), *b = random_student(7), *c = random_student(8), *l1 = model_new();
    wm_rescnn(l1, 16, false);
    wm_shrink_width(l1, 0.5, NULL);
    assert_true(same_weights(a->graph, b->graph));
    assert_false(same_weights(a->graph, c->graph));
    assert_false(same_weights(a->graph, l1->graph));
    model_free(a);
    model_free(b);
    model_free(c);
    model_free(l1);
}

static void test_measured_importance_needs_scores(void **state)
{
    (void)state;
    Model *m = model_new();
    wm_rescnn(m, 8, false);
    StudentOptions o = {.width = 0.5, .importance = IMPORTANCE_TAYLOR};
    Diag d = {{0}};
    assert_int_equal(wm_shrink(m, &o, NULL, &d), KDC_ERR);
    assert_string_equal(d.msg, "importance 'taylor' is measured on calibration data: give the scores (kdc shrink "
                               "--calib)");
    model_free(m);
}

/* ---- the report ---- */

/* Float constant inputs of the node, and its MACs per sample, counted here. */
static void node_cost(const Node *n, int64_t *params, int64_t *macs)
{
    *params = 0;
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] && n->inputs[k]->init && n->inputs[k]->init->dtype == DT_FLOAT)
            *params += tensor_numel(n->inputs[k]->init);
    const Tensor *w = n->inputs[1]->init;
    const Shape *y = &n->outputs[0]->shape;
    int64_t out = 1;
    for (int i = 1; i < y->rank; i++)
        out *= y->dims[i].value;
    *macs = !strcmp(n->op_type, "Gemm") ? w->dims[0] * w->dims[1] : out * (w->dims[1] * w->dims[2] * w->dims[3]);
}

static void test_report(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    wm_rescnn(teacher, 8, false);
    wm_rescnn(m, 8, false);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    static const char *names[] = {"stem", "b1", "b2", "dw", "se1", "se2", "side", "head", "fc"};
    static const int64_t units[] = {8, 8, 8, 8, 4, 8, 6, 8, 5}, kept[] = {4, 4, 4, 4, 2, 4, 3, 4, 5};
    assert_int_equal(r.n_layers, 9);
    for (int i = 0; i < 9; i++) {
        const WidthLayer *l = &r.layers[i];
        assert_string_equal(l->name, names[i]);
        assert_string_equal(l->op_type, i < 8 ? "Conv" : "Gemm");
        assert_int_equal(l->units, units[i]);
        assert_int_equal(l->kept_units, kept[i]);
        assert_int_equal(l->hidden, i < 8);
        int64_t params, macs;
        node_cost(wm_node(teacher->graph, names[i]), &params, &macs);
        assert_int_equal(l->params, params);
        assert_int_equal(l->macs, macs);
        node_cost(wm_node(m->graph, names[i]), &params, &macs);
        assert_int_equal(l->kept_params, params);
        assert_int_equal(l->kept_macs, macs);
    }
    assert_string_equal(r.layers[8].why, "output 'logits' keeps the teacher's shape");
    GraphStats ts, ss;
    graph_stats(teacher->graph, &ts);
    graph_stats(m->graph, &ss);
    assert_int_equal(r.params, ts.params);
    assert_int_equal(r.kept_params, ss.params);
    assert_int_equal(r.macs, ts.macs);
    assert_int_equal(r.kept_macs, ss.macs);
    assert_true(r.width == 0.5);
    model_free(teacher);
    model_free(m);
}

/* ---- the exported zoo ---- */

static void check_zoo_half_width(const char *name)
{
    Model *m = zoo_load(name);
    if (!m)
        skip();
    Graph *g = m->graph;
    Shape outs[4];
    int n_out = g->n_outputs < 4 ? g->n_outputs : 4;
    for (int k = 0; k < n_out; k++)
        outs[k] = g->outputs[k]->shape;
    GraphStats ts, ss;
    graph_stats(g, &ts);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    graph_stats(g, &ss);
    assert_int_equal(r.kept_params, ss.params);
    assert_true(ss.params < ts.params * 6 / 10);
    WmOut y[4];
    assert_int_equal(wm_run(g, 1, 3, y, 4), n_out);
    for (int k = 0; k < n_out; k++) {
        assert_int_equal(y[k].shape.rank, outs[k].rank);
        for (int i = 1; i < outs[k].rank; i++)
            assert_int_equal(y[k].shape.dims[i].value, outs[k].dims[i].value);
        for (int64_t i = 0; i < y[k].n; i++)
            assert_true(isfinite(y[k].data[i]));
    }
    wm_free_outs(y, n_out);
    model_free(m);
}

static void test_zoo_resnet18(void **state)
{
    (void)state;
    check_zoo_half_width("resnet18");
}

static void test_zoo_vit(void **state)
{
    (void)state;
    check_zoo_half_width("vit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overrides_by_glob),
        cmocka_unit_test(test_protect_globs),
        cmocka_unit_test(test_round_to),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_cost_model_agrees_with_stats),
        cmocka_unit_test(test_unreachable_budget),
        cmocka_unit_test(test_importance_l1_l2),
        cmocka_unit_test(test_importance_bn_scale),
        cmocka_unit_test(test_importance_random_is_seeded),
        cmocka_unit_test(test_measured_importance_needs_scores),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_zoo_resnet18),
        cmocka_unit_test(test_zoo_vit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
