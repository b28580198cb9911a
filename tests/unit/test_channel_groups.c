/* test_channel_groups.c - unit tests of the channel dependency groups
 * (passes/channel_groups*.c) through the width shrink: which channels are
 * coupled, and that every member of a group is sliced at the right places.
 *
 * Each test builds a small graph whose weights are numbered (entry e holds
 * e), shrinks it with hand-given scores (so the kept units are known), and
 * reads the student's tensors back to see exactly which teacher indices
 * survived along every axis (width_models.h, wm_assert_kept_along). Groups
 * here: residual Adds, Concat offsets, Split and Slice, depthwise and
 * grouped Conv, attention heads, a channel shuffle, Flatten into a Gemm. And
 * what keeps full width: an op kdc does not know, graph outputs (unless
 * listed in free_outputs), and Shape reading a channel count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/width_models.h"

static const int64_t CONV8[4] = {8, 8, 3, 3};

/* x[N,4,6,6] with every listed tensor numbered, then prepared. */
static Value *image_input(Graph *g, int64_t channels)
{
    gb_rng_seed(21);
    return gb_batch_input(g, "x", 4, (int64_t[]){1, channels, 6, 6});
}

static void number_all(Model *m, int n, const char *const *names)
{
    for (int i = 0; i < n; i++)
        wm_number(m->graph, names[i]);
}

static void output(Graph *g, Value *v)
{
    gb_append_output(g, v);
}

/* Output shapes of teacher and student agree, and the student runs. */
static void assert_runs_like(Graph *teacher, Graph *student)
{
    WmOut a[4], b[4];
    int na = wm_run(teacher, 2, 5, a, 4), nb = wm_run(student, 2, 5, b, 4);
    assert_int_equal(na, nb);
    for (int k = 0; k < na; k++) {
        assert_int_equal(a[k].shape.rank, b[k].shape.rank);
        for (int i = 0; i < a[k].shape.rank; i++)
            assert_int_equal(a[k].shape.dims[i].value, b[k].shape.dims[i].value);
    }
    wm_free_outs(a, na);
    wm_free_outs(b, nb);
}

/* ---- residual Add ---- */

/* x -> c1 (8) -> relu -> c2 (8) -> Add(relu, c2) -> relu -> c3 (2) */
static void residual_build(Model *m)
{
    Graph *g = m->graph;
    Value *r = wm_op1(g, "Relu", "r1", wm_conv(g, "c1", image_input(g, 4), 4, 8, 3, 1));
    Value *s = wm_op1(g, "Relu", "r2", wm_op2(g, "Add", "add", r, wm_conv(g, "c2", r, 8, 8, 3, 1)));
    output(g, wm_conv(g, "c3", s, 8, 2, 3, 1));
    number_all(m, 4, (const char *[]){"c1.weight", "c2.weight", "c2.bias", "c3.weight"});
    wm_prepare(m);
}

static void test_residual_add_unifies(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    residual_build(teacher);
    residual_build(m);
    ChannelGroups *cg = NULL;
    Diag d = {{0}};
    assert_int_equal(channel_groups_build(m->graph, &cg, &d), KDC_OK);
    int grp = wm_group_of(cg, "c1", 8);
    assert_true(grp >= 0);
    assert_int_equal(wm_group_of(cg, "c2", 8), grp);
    assert_false(channel_groups_get(cg, grp)->frozen);
    assert_int_equal(channel_groups_get(cg, grp)->n_origins, 2);
    channel_groups_free(cg);

    StudentOptions o = {.width = 0.5};
    wm_shrink_picked(m, &o, 1, (WmPick[]){{"c1", 8, 4, {1, 2, 5, 6}}}, NULL);
    const int64_t kept[] = {1, 2, 5, 6};
    wm_assert_kept_along(m->graph, "c1.weight", 4, (int64_t[]){8, 4, 3, 3}, 0, 4, kept);
    wm_assert_kept_along(m->graph, "c2.weight", 4, CONV8, 0, 4, kept);
    wm_assert_kept_along(m->graph, "c2.weight", 4, CONV8, 1, 4, kept);
    wm_assert_kept_along(m->graph, "c2.bias", 1, (int64_t[]){8}, 0, 4, kept);
    wm_assert_kept_along(m->graph, "c3.weight", 4, (int64_t[]){2, 8, 3, 3}, 1, 4, kept);
    wm_assert_dims(m->graph, "add_out", 4, (int64_t[]){-1, 4, 6, 6});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* ---- Concat ---- */

/* x -> a (4), b (6) -> Concat -> bn -> c (10 -> 3) */
static void concat_build(Model *m)
{
    Graph *g = m->graph;
    Value *x = image_input(g, 4);
    Value *cat = wm_concat(g, "cat", 2, (Value *[]){wm_conv(g, "a", x, 4, 4, 3, 1), wm_conv(g, "b", x, 4, 6, 3, 1)}, 1);
    output(g, wm_conv(g, "c", wm_bn(g, "bn", cat, 10), 10, 3, 1, 1));
    number_all(m, 2, (const char *[]){"c.weight", "bn.B"});
    wm_prepare(m);
}

static void test_concat_offsets(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    concat_build(teacher);
    concat_build(m);
    StudentOptions o = {.width = 0.5};
    wm_shrink_picked(m, &o, 2, (WmPick[]){{"a", 4, 2, {1, 3}}, {"b", 6, 3, {0, 2, 5}}}, NULL);
    const int64_t kept[] = {1, 3, 4 + 0, 4 + 2, 4 + 5};
    wm_assert_kept_along(m->graph, "c.weight", 4, (int64_t[]){3, 10, 1, 1}, 1, 5, kept);
    wm_assert_kept_along(m->graph, "bn.B", 1, (int64_t[]){10}, 0, 5, kept);
    wm_assert_dims(m->graph, "cat_out", 4, (int64_t[]){-1, 5, 6, 6});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* ---- Split ---- */

/* x -> c (8) -> Split [3, 5] (or two equal halves) -> d (-> 2), e (-> 2) -> Add */
static void split_build(Model *m, bool sizes)
{
    Graph *g = m->graph;
    Value *c = wm_conv(g, "c", image_input(g, 4), 4, 8, 3, 1);
    Value *in[2] = {c, sizes ? gb_ints(g, "split_sizes", 2, (int64_t[]){3, 5}) : NULL};
    Node *split = gb_node(g, "Split", WM_OPSET, "split", sizes ? 2 : 1, in, 2);
    gb_set_int(split, "axis", 1);
    int64_t n0 = sizes ? 3 : 4, n1 = sizes ? 5 : 4;
    Value *d = wm_conv(g, "d", split->outputs[0], n0, 2, 1, 1), *e = wm_conv(g, "e", split->outputs[1], n1, 2, 1, 1);
    output(g, wm_op2(g, "Add", "sum", d, e));
    number_all(m, 3, (const char *[]){"c.weight", "d.weight", "e.weight"});
    wm_prepare(m);
}

static void test_split_sizes_rewritten(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    split_build(teacher, true);
    split_build(m, true);
    StudentOptions o = {.width = 0.5}; /* keeps round(1.5) = 2 of 3 and round(2.5) = 3 of 5 */
    wm_shrink_picked(m, &o, 2, (WmPick[]){{"c", 3, 2, {0, 2}}, {"c", 5, 3, {1, 3, 4}}}, NULL);
    wm_assert_kept_along(m->graph, "c.weight", 4, (int64_t[]){8, 4, 3, 3}, 0, 5, (int64_t[]){0, 2, 4, 6, 7});
    wm_assert_kept_along(m->graph, "d.weight", 4, (int64_t[]){2, 3, 1, 1}, 1, 2, (int64_t[]){0, 2});
    wm_assert_kept_along(m->graph, "e.weight", 4, (int64_t[]){2, 5, 1, 1}, 1, 3, (int64_t[]){1, 3, 4});
    wm_assert_ints(wm_node(m->graph, "split"), 1, 2, (int64_t[]){2, 3});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);

    /* without sizes both halves must keep the same units */
    teacher = model_new();
    m = model_new();
    split_build(teacher, false);
    split_build(m, false);
    wm_shrink_picked(m, &o, 1, (WmPick[]){{"c", 4, 2, {1, 2}}}, NULL);
    wm_assert_kept_along(m->graph, "c.weight", 4, (int64_t[]){8, 4, 3, 3}, 0, 4, (int64_t[]){1, 2, 5, 6});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* ---- Slice ---- */

/* x -> c (8) -> Slice channels [start, end) -> d (-> 2) */
static void slice_build(Model *m, int64_t start, int64_t end)
{
    Graph *g = m->graph;
    Value *c = wm_conv(g, "c", image_input(g, 4), 4, 8, 3, 1);
    Value *in[4] = {c, gb_ints(g, "starts", 1, &start), gb_ints(g, "ends", 1, &end),
                    gb_ints(g, "axes", 1, (int64_t[]){1})};
    Value *s = gb_node(g, "Slice", WM_OPSET, "slice", 4, in, 1)->outputs[0];
    int64_t n = (end > 8 ? 8 : end) - start;
    output(g, wm_conv(g, "d", s, n, 2, 1, 1));
    number_all(m, 2, (const char *[]){"c.weight", "d.weight"});
    wm_prepare(m);
}

static void test_slice_bounds_rewritten(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    slice_build(teacher, 2, 6);
    slice_build(m, 2, 6);
    /* [0,2) and [6,8) are groups of their own; they keep unit 0 (all scores tie) */
    StudentOptions o = {.width = 0.5};
    wm_shrink_picked(m, &o, 1, (WmPick[]){{"c", 4, 2, {1, 2}}}, NULL);
    wm_assert_kept_along(m->graph, "c.weight", 4, (int64_t[]){8, 4, 3, 3}, 0, 4, (int64_t[]){0, 3, 4, 6});
    wm_assert_kept_along(m->graph, "d.weight", 4, (int64_t[]){2, 4, 1, 1}, 1, 2, (int64_t[]){1, 2});
    const Node *slice = wm_node(m->graph, "slice");
    wm_assert_ints(slice, 1, 1, (int64_t[]){1});
    wm_assert_ints(slice, 2, 1, (int64_t[]){3});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);

    /* an end past the last channel stays as it is */
    teacher = model_new();
    m = model_new();
    slice_build(teacher, 5, INT64_MAX);
    slice_build(m, 5, INT64_MAX);
    wm_shrink_picked(m, &o, 1, (WmPick[]){{"c", 3, 2, {0, 2}}}, NULL);
    wm_assert_kept_along(m->graph, "d.weight", 4, (int64_t[]){2, 3, 1, 1}, 1, 2, (int64_t[]){0, 2});
    slice = wm_node(m->graph, "slice");
    wm_assert_ints(slice, 1, 1, (int64_t[]){3}); /* [0,5) keeps 3 */
    wm_assert_ints(slice, 2, 1, (int64_t[]){INT64_MAX});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* ---- depthwise and grouped Conv ---- */

/* x -> a (8) -> mid (8 -> 8, group `groups`) -> relu -> b (-> 2) */
static void grouped_build(Model *m, int64_t groups)
{
    Graph *g = m->graph;
    Value *a = wm_conv(g, "a", image_input(g, 4), 4, 8, 3, 1);
    Value *h = wm_op1(g, "Relu", "relu", wm_conv(g, "mid", a, 8, 8, 3, groups));
    output(g, wm_conv(g, "b", h, 8, 2, 3, 1));
    number_all(m, 4, (const char *[]){"a.weight", "mid.weight", "mid.bias", "b.weight"});
    wm_prepare(m);
}

static void test_depthwise_follows_its_input(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    grouped_build(teacher, 8);
    grouped_build(m, 8);
    StudentOptions o = {.width = 0.5};
    wm_shrink_picked(m, &o, 1, (WmPick[]){{"a", 8, 4, {0, 1, 6, 7}}}, NULL);
    const int64_t kept[] = {0, 1, 6, 7};
    wm_assert_kept_along(m->graph, "a.weight", 4, (int64_t[]){8, 4, 3, 3}, 0, 4, kept);
    wm_assert_kept_along(m->graph, "mid.weight", 4, (int64_t[]){8, 1, 3, 3}, 0, 4, kept);
    wm_assert_kept_along(m->graph, "mid.bias", 1, (int64_t[]){8}, 0, 4, kept);
    wm_assert_kept_along(m->graph, "b.weight", 4, (int64_t[]){2, 8, 3, 3}, 1, 4, kept);
    assert_int_equal(node_attr_int(wm_node(m->graph, "mid"), "group", 0), 4);
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

static void test_grouped_conv_keeps_whole_groups(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    grouped_build(teacher, 2);
    grouped_build(m, 2);
    ChannelGroups *cg = NULL;
    Diag d = {{0}};
    assert_int_equal(channel_groups_build(m->graph, &cg, &d), KDC_OK);
    assert_int_equal(wm_group_of(cg, "a", 8), -1); /* a's channels are pruned in groups of 4 */
    assert_true(wm_group_of(cg, "a", 2) >= 0);
    assert_true(wm_group_of(cg, "mid", 4) >= 0); /* outputs per group */
    channel_groups_free(cg);

    StudentOptions o = {.width = 0.5};
    wm_shrink_picked(m, &o, 2, (WmPick[]){{"a", 2, 1, {1}}, {"mid", 4, 2, {0, 3}}}, NULL);
    wm_assert_kept_along(m->graph, "a.weight", 4, (int64_t[]){8, 4, 3, 3}, 0, 4, (int64_t[]){4, 5, 6, 7});
    wm_assert_kept_along(m->graph, "mid.weight", 4, (int64_t[]){8, 4, 3, 3}, 0, 2, (int64_t[]){4, 7});
    wm_assert_kept_along(m->graph, "mid.weight", 4, (int64_t[]){8, 4, 3, 3}, 1, 4, (int64_t[]){0, 1, 2, 3});
    wm_assert_kept_along(m->graph, "b.weight", 4, (int64_t[]){2, 8, 3, 3}, 1, 2, (int64_t[]){4, 7});
    assert_int_equal(node_attr_int(wm_node(m->graph, "mid"), "group", 0), 1);
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* ---- attention heads ---- */

static void heads_build(Model *m)
{
    wm_attention(m, 4, 4, 3); /* L = 4, H = 4, dh = 3 */
    number_all(m, 5, (const char *[]){"q.weight", "k.weight", "v.weight", "q.bias", "o.weight"});
}

static void test_attention_heads_whole(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    heads_build(teacher);
    heads_build(m);
    ChannelGroups *cg = NULL;
    Diag d = {{0}};
    assert_int_equal(channel_groups_build(m->graph, &cg, &d), KDC_OK);
    int heads = wm_group_of(cg, "q", 4);
    assert_true(heads >= 0);
    assert_int_equal(wm_group_of(cg, "k", 4), heads);
    assert_int_equal(wm_group_of(cg, "v", 4), heads);
    for (int i = 0; i < channel_groups_count(cg); i++) /* no group shrinks within a head */
        if (channel_groups_get(cg, i)->size == 3)
            assert_true(channel_groups_get(cg, i)->frozen);
    channel_groups_free(cg);

    StudentOptions o = {.width = 0.5};
    WidthReport r;
    wm_shrink_picked(m, &o, 1, (WmPick[]){{"q", 4, 2, {1, 3}}}, &r);
    for (int i = 0; i < 3; i++) { /* q, k, v shrink (the frozen dims within a head are no reason) */
        assert_true(r.layers[i].hidden);
        assert_null(r.layers[i].why);
        assert_int_equal(r.layers[i].kept_units, 6);
    }
    assert_string_equal(r.layers[3].name, "o");
    assert_false(r.layers[3].hidden);
    assert_string_equal(r.layers[3].why, "Add 'residual' combines these channels with values that do not follow them");
    const int64_t kept[] = {3, 4, 5, 9, 10, 11};
    const char *proj[] = {"q.weight", "k.weight", "v.weight"};
    for (int i = 0; i < 3; i++)
        wm_assert_kept_along(m->graph, proj[i], 2, (int64_t[]){12, 12}, 1, 6, kept);
    wm_assert_kept_along(m->graph, "q.bias", 1, (int64_t[]){12}, 0, 6, kept);
    wm_assert_kept_along(m->graph, "o.weight", 2, (int64_t[]){12, 12}, 0, 6, kept);
    wm_assert_dims(m->graph, "o.weight", 2, (int64_t[]){6, 12}); /* o's units reach the output */
    wm_assert_ints(wm_node(m->graph, "q_heads"), 1, 4, (int64_t[]){0, 4, 2, 3});
    wm_assert_ints(wm_node(m->graph, "v_heads"), 1, 4, (int64_t[]){0, 4, 2, 3});
    wm_assert_ints(wm_node(m->graph, "merge"), 1, 3, (int64_t[]){0, 4, 6});
    wm_assert_dims(m->graph, "k_t_out", 4, (int64_t[]){-1, 2, 3, 4});
    wm_assert_dims(m->graph, "scores_out", 4, (int64_t[]){-1, 2, 4, 4});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* ---- channel shuffle, Flatten ---- */

/* x -> a (4), b (4) -> Concat (8) -> Reshape [0,2,4,6,6] -> Transpose ->
 * Reshape [0,8,6,6] -> c (-> 3), as ShuffleNet mixes its branches. */
static void shuffle_build(Model *m)
{
    Graph *g = m->graph;
    Value *x = image_input(g, 4);
    Value *h = wm_concat(g, "cat", 2, (Value *[]){wm_conv(g, "a", x, 4, 4, 3, 1), wm_conv(g, "b", x, 4, 4, 3, 1)}, 1);
    h = wm_reshape(g, "split_groups", h, 5, (int64_t[]){0, 2, 4, 6, 6});
    h = wm_transpose(g, "shuffle", h, 5, (int64_t[]){0, 2, 1, 3, 4});
    h = wm_reshape(g, "merge_groups", h, 4, (int64_t[]){0, 8, 6, 6});
    output(g, wm_conv(g, "c", h, 8, 3, 1, 1));
    number_all(m, 3, (const char *[]){"a.weight", "b.weight", "c.weight"});
    wm_prepare(m);
}

static void test_channel_shuffle_after_concat(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    shuffle_build(teacher);
    shuffle_build(m);
    StudentOptions o = {.width = 0.5};
    wm_shrink_picked(m, &o, 1, (WmPick[]){{"a", 4, 2, {1, 3}}}, NULL);
    /* both branches keep {1, 3}; after the shuffle channel p of branch g sits at 2p + g */
    wm_assert_kept_along(m->graph, "a.weight", 4, (int64_t[]){4, 4, 3, 3}, 0, 2, (int64_t[]){1, 3});
    wm_assert_kept_along(m->graph, "b.weight", 4, (int64_t[]){4, 4, 3, 3}, 0, 2, (int64_t[]){1, 3});
    wm_assert_kept_along(m->graph, "c.weight", 4, (int64_t[]){3, 8, 1, 1}, 1, 4, (int64_t[]){2, 3, 6, 7});
    wm_assert_ints(wm_node(m->graph, "split_groups"), 1, 5, (int64_t[]){0, 2, 2, 6, 6});
    wm_assert_ints(wm_node(m->graph, "merge_groups"), 1, 4, (int64_t[]){0, 4, 6, 6});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* x -> a (4) -> MaxPool 3x3 stride 3 -> [N,4,2,2] -> Flatten -> fc Gemm (16 -> 3) */
static void flatten_build(Model *m)
{
    Graph *g = m->graph;
    Node *pool =
        gb_node(g, "MaxPool", WM_OPSET, "pool", 1, (Value *[]){wm_conv(g, "a", image_input(g, 4), 4, 4, 3, 1)}, 1);
    gb_set_ints(pool, "kernel_shape", 2, (int64_t[]){3, 3});
    gb_set_ints(pool, "strides", 2, (int64_t[]){3, 3});
    output(g, wm_gemm(g, "fc", wm_op1(g, "Flatten", "flatten", pool->outputs[0]), 16, 3));
    number_all(m, 1, (const char *[]){"fc.weight"});
    wm_prepare(m);
}

static void test_flatten_into_gemm(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    flatten_build(teacher);
    flatten_build(m);
    StudentOptions o = {.width = 0.5};
    wm_shrink_picked(m, &o, 1, (WmPick[]){{"a", 4, 2, {1, 3}}}, NULL);
    wm_assert_kept_along(m->graph, "fc.weight", 2, (int64_t[]){3, 16}, 1, 8, (int64_t[]){4, 5, 6, 7, 12, 13, 14, 15});
    wm_assert_dims(m->graph, "flatten_out", 2, (int64_t[]){-1, 8});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* ---- what keeps full width ---- */

/* x -> a (8) -> Mystery (an op kdc does not know) -> b (8) -> relu -> c (-> 2) */
static void test_unknown_op_keeps_full_width(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *a = wm_conv(g, "a", image_input(g, 4), 4, 8, 3, 1);
    Node *odd = graph_add_node(g, "Mystery", "com.example", 1, 1);
    odd->name = "mystery";
    odd->inputs[0] = a;
    op_bind(odd);
    assert_int_equal(odd->op, OP_OPAQUE);
    node_set_output(odd, 0, graph_add_value(g, "mystery_out", NULL));
    odd->outputs[0]->kind = TYPE_TENSOR; /* declared by the model, as value_info does */
    odd->outputs[0]->dtype = DT_FLOAT;
    odd->outputs[0]->shape = (Shape){4, {{-1, "N"}, {8, NULL}, {6, NULL}, {6, NULL}}};
    Value *h = wm_op1(g, "Relu", "relu", wm_conv(g, "b", odd->outputs[0], 8, 8, 3, 1));
    output(g, wm_conv(g, "c", h, 8, 2, 3, 1));
    wm_prepare(m);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    assert_int_equal(r.n_layers, 3);
    assert_string_equal(r.layers[0].name, "a");
    assert_false(r.layers[0].hidden);
    assert_int_equal(r.layers[0].kept_units, 8);
    assert_non_null(r.layers[0].why);
    assert_non_null(strstr(r.layers[0].why, "Mystery 'mystery'"));
    assert_true(r.layers[1].hidden);
    assert_null(r.layers[1].why);
    wm_assert_dims(g, "a.weight", 4, (int64_t[]){8, 4, 3, 3});
    wm_assert_dims(g, "b.weight", 4, (int64_t[]){4, 8, 3, 3});
    wm_assert_dims(g, "c.weight", 4, (int64_t[]){2, 4, 3, 3});
    model_free(m);
}

/* x -> a (8) -> relu = output "features"; relu -> b (6) -> relu -> c (-> 2) */
static void outputs_build(Model *m)
{
    Graph *g = m->graph;
    Node *r = gb_node_to(g, "Relu", WM_OPSET, "relu", 1, (Value *[]){wm_conv(g, "a", image_input(g, 4), 4, 8, 3, 1)},
                         "features");
    output(g, r->outputs[0]);
    output(g, wm_conv(g, "c", wm_op1(g, "Relu", "relu_b", wm_conv(g, "b", r->outputs[0], 8, 6, 3, 1)), 6, 2, 3, 1));
    wm_prepare(m);
}

static void test_graph_outputs_keep_their_shape(void **state)
{
    (void)state;
    Model *teacher = model_new(), *m = model_new();
    outputs_build(teacher);
    outputs_build(m);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    assert_int_equal(r.n_layers, 3);
    assert_false(r.layers[0].hidden);
    assert_string_equal(r.layers[0].why, "output 'features' keeps the teacher's shape");
    assert_true(r.layers[1].hidden);
    assert_int_equal(r.layers[1].kept_units, 3);
    assert_false(r.layers[2].hidden);
    assert_string_equal(r.layers[2].why, "output 'c_out' keeps the teacher's shape");
    wm_assert_dims(m->graph, "b.weight", 4, (int64_t[]){3, 8, 3, 3});
    assert_runs_like(teacher->graph, m->graph);
    model_free(teacher);
    model_free(m);
}

/* free_outputs: the named output may change width; an unknown name is an error. */
static void test_free_outputs(void **state)
{
    (void)state;
    Model *m = model_new();
    outputs_build(m);
    StudentOptions o = {.width = 0.5, .free_outputs = (const char *[]){"features"}, .n_free_outputs = 1};
    WidthReport r;
    wm_shrink_ok(m, &o, &r);
    assert_true(r.layers[0].hidden);
    wm_assert_dims(m->graph, "features", 4, (int64_t[]){-1, 4, 6, 6});
    wm_assert_dims(m->graph, "c_out", 4, (int64_t[]){-1, 2, 6, 6});
    model_free(m);

    m = model_new();
    outputs_build(m);
    char *before = gb_ir_text(m);
    o.free_outputs = (const char *[]){"feature"};
    Diag d = {{0}};
    assert_int_equal(wm_shrink(m, &o, NULL, &d), KDC_ERR);
    assert_string_equal(d.msg, "the model has no output 'feature' (its outputs: features, c_out)");
    char *after = gb_ir_text(m);
    assert_string_equal(before, after);
    free(before);
    free(after);
    model_free(m);
}

/* x -> a (8) -> relu -> Shape -> Gather [index] = output "dims"; relu -> b (-> 2).
 * Not prepared: folding would turn the known channel count into a constant. */
static void shape_read_build(Model *m, int64_t index)
{
    Graph *g = m->graph;
    Value *r = wm_op1(g, "Relu", "relu", wm_conv(g, "a", image_input(g, 4), 4, 8, 3, 1));
    Value *s = wm_op1(g, "Shape", "shape", r);
    Node *pick = gb_node_to(g, "Gather", WM_OPSET, "pick", 2, (Value *[]){s, gb_ints(g, "index", 1, &index)}, "dims");
    output(g, pick->outputs[0]);
    output(g, wm_conv(g, "b", r, 8, 2, 3, 1));
    Diag d = {{0}};
    if (pass_infer_shapes(g, &d) || ir_verify(m, &d))
        fail_msg("%s", d.msg);
}

static void test_shape_read_keeps_full_width(void **state)
{
    (void)state;
    Model *m = model_new();
    shape_read_build(m, 1);
    WidthReport r;
    wm_shrink_width(m, 0.5, &r);
    assert_string_equal(r.layers[0].name, "a");
    assert_false(r.layers[0].hidden);
    assert_string_equal(r.layers[0].why, "Shape 'shape' reads the number of these channels");
    wm_assert_dims(m->graph, "a.weight", 4, (int64_t[]){8, 4, 3, 3});
    model_free(m);

    m = model_new(); /* reading the batch only (x.size(0)) does not */
    shape_read_build(m, 0);
    wm_shrink_width(m, 0.5, &r);
    assert_true(r.layers[0].hidden);
    wm_assert_dims(m->graph, "a.weight", 4, (int64_t[]){4, 4, 3, 3});
    wm_assert_dims(m->graph, "b.weight", 4, (int64_t[]){2, 4, 3, 3});
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residual_add_unifies),
        cmocka_unit_test(test_concat_offsets),
        cmocka_unit_test(test_split_sizes_rewritten),
        cmocka_unit_test(test_slice_bounds_rewritten),
        cmocka_unit_test(test_depthwise_follows_its_input),
        cmocka_unit_test(test_grouped_conv_keeps_whole_groups),
        cmocka_unit_test(test_attention_heads_whole),
        cmocka_unit_test(test_channel_shuffle_after_concat),
        cmocka_unit_test(test_flatten_into_gemm),
        cmocka_unit_test(test_unknown_op_keeps_full_width),
        cmocka_unit_test(test_graph_outputs_keep_their_shape),
        cmocka_unit_test(test_free_outputs),
        cmocka_unit_test(test_shape_read_keeps_full_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
