/* test_shrink_depth.c - unit tests of the depth shrink (passes/shrink_depth.h).
 *
 * Block discovery on teachers built in memory (tests/unit/depth_models.h): a
 * ResNet-like CNN, pre-norm and post-norm encoders (LayerNormalization and
 * its decomposition), with and without module paths in node names, an
 * attention mask read by every layer, a plain Gemm stack, and blocks whose
 * inside leaks out. Choosing: by name, keep/drop N by score (ties), every
 * other block; every refusal gives its exact message and leaves the graph as
 * it was (same printed IR). Removal: the graph verifies, still runs in the
 * interpreter with the same output shapes, and removing a block that computes
 * x + 0 leaves the outputs bit for bit. Then the exported zoo models (resnet50,
 * bert, vit; skipped with a message when absent): the expected blocks, and
 * students that run, export and import again.
 */
#include <math.h>
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

#include "backend/onnx_export.h"
#include "frontend/onnx_import.h"
#include "passes/passes.h"
#include "passes/shrink_depth.h"
#include "runtime/plan.h"
#include "tests/unit/depth_models.h"
#include "tests/unit/graph_build.h"
#include "tests/unit/temp_dir.h"

/* ---- helpers ---- */

static DepthBlock *find_blocks(Model *m, int *n)
{
    DepthBlock *b;
    Diag d = {{0}};
    if (depth_blocks_find(m->graph, &b, n, &d))
        fail_msg("depth_blocks_find: %s", d.msg);
    return b;
}

static const DepthBlock *block_named(const DepthBlock *b, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(b[i].name, name))
            return &b[i];
    fail_msg("no block '%s'", name);
    return NULL;
}

static DepthReport shrink(Model *m, const DepthOptions *o)
{
    DepthReport r;
    Diag d = {{0}};
    if (pass_shrink_depth(m->graph, o, &r, &d))
        fail_msg("pass_shrink_depth: %s", d.msg);
    if (ir_verify(m, &d))
        fail_msg("verify after the depth shrink: %s", d.msg);
    return r;
}

/* The pass must refuse with exactly `msg` and leave the graph as it was. */
static void expect_refusal(Model *m, const DepthOptions *o, const char *msg)
{
    char *before = gb_ir_text(m);
    Diag d = {{0}};
    if (pass_shrink_depth(m->graph, o, NULL, &d) != KDC_ERR)
        fail_msg("accepted, expected: %s", msg);
    assert_string_equal(d.msg, msg);
    char *after = gb_ir_text(m);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

typedef struct Outputs {
    int n;
    Shape shapes[4];
    float *data[4]; /* float outputs, malloc'd */
} Outputs;

/* Runs g at batch 1 on seeded inputs (float: uniform, int64: zeros). */
static Outputs run(Graph *g)
{
    Shape shapes[4];
    int n_in = 0;
    Plan *p = NULL;
    Diag d = {{0}};
    if (plan_input_shapes_for_batch(g, 1, shapes, 4, &n_in, &d) || plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d))
        fail_msg("plan: %s", d.msg);
    gb_rng_seed(7);
    for (int k = 0; k < n_in; k++) {
        DType dt;
        Shape s;
        plan_input_info(p, k, &dt, &s);
        if (dt == DT_FLOAT)
            gb_fill_random(plan_input(p, k), shape_numel(&s), -1, 1);
        else
            memset(plan_input(p, k), 0, (size_t)shape_numel(&s) * dtype_size(dt));
    }
    if (plan_forward(p, &d))
        fail_msg("forward: %s", d.msg);
    Outputs o = {.n = plan_n_outputs(p)};
    assert_true(o.n <= 4);
    for (int k = 0; k < o.n; k++) {
        DType dt;
        plan_output_info(p, k, &dt, &o.shapes[k]);
        size_t bytes = (size_t)shape_numel(&o.shapes[k]) * dtype_size(dt);
        o.data[k] = malloc(bytes);
        memcpy(o.data[k], plan_output(p, k), bytes);
    }
    plan_free(p);
    return o;
}

static void outputs_free(Outputs *o)
{
    for (int k = 0; k < o->n; k++)
        free(o->data[k]);
}

static void assert_same_shapes(const Outputs *a, const Outputs *b)
{
    assert_int_equal(a->n, b->n);
    for (int k = 0; k < a->n; k++) {
        char s[160], t[160];
        assert_string_equal(depth_shape_text(&a->shapes[k], s, sizeof s), depth_shape_text(&b->shapes[k], t, sizeof t));
    }
}

static void assert_same_values(const Outputs *a, const Outputs *b)
{
    assert_same_shapes(a, b);
    for (int k = 0; k < a->n; k++)
        assert_memory_equal(a->data[k], b->data[k], (size_t)shape_numel(&a->shapes[k]) * sizeof(float));
}

static bool any_node_named(const Graph *g, const char *part)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->name && strstr(g->nodes[i]->name, part))
            return true;
    return false;
}

static bool block_has_node(const DepthBlock *b, const char *name)
{
    for (int i = 0; i < b->n_nodes; i++)
        if (!strcmp(b->nodes[i]->name, name))
            return true;
    return false;
}

static Model *encoder(DmEncoder e)
{
    Model *m = model_new();
    gb_rng_seed(1);
    dm_encoder(m, &e);
    dm_finish(m);
    return m;
}

static Model *resnet(bool scoped, const char *zero_block)
{
    Model *m = model_new();
    gb_rng_seed(1);
    dm_resnet(m, scoped, zero_block);
    dm_finish(m);
    return m;
}

/* ---- discovery ---- */

static void test_resnet_blocks(void **state)
{
    (void)state;
    Model *m = resnet(true, NULL);
    int n;
    DepthBlock *b = find_blocks(m, &n);
    const char *names[] = {"conv1", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "fc"};
    const DepthKind kinds[] = {DEPTH_PLAIN,    DEPTH_RESIDUAL, DEPTH_RESIDUAL,
                               DEPTH_RESIDUAL, DEPTH_RESIDUAL, DEPTH_PLAIN};
    const bool removable[] = {false, true, true, false, true, false};
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++) {
        assert_string_equal(b[i].name, names[i]);
        assert_int_equal(b[i].kind, kinds[i]);
        assert_int_equal(b[i].removable, removable[i]);
        assert_int_equal(b[i].n_residuals, kinds[i] == DEPTH_RESIDUAL);
    }
    /* a bottleneck is x -> relu(f(x) + x): the ReLU after the Add belongs to it */
    assert_string_equal(b[1].entry->name, "/relu/Relu_out");
    assert_string_equal(b[1].exit->name, "/layer1/layer1.0/relu_1/Relu_out");
    assert_ptr_equal(b[2].entry, b[1].exit);
    assert_int_equal(b[1].n_nodes, 5);
    assert_int_equal(b[1].params, 2 * (64 * 64 * 9 + 64));
    assert_int_equal(b[3].n_nodes, 6); /* with the projection shortcut */
    assert_int_equal(b[3].params, 64 * 128 * 9 + 128 + 128 * 128 * 9 + 128 + 64 * 128 + 128);
    assert_string_equal(b[3].why_not, "changes the shape [1,64,16,16] -> [1,128,8,8]");
    assert_null(b[1].why_not);
    assert_string_equal(b[0].why_not, "changes the shape [1,3,16,16] -> [1,64,16,16]");
    assert_int_equal(b[0].n_nodes, 2); /* the stem conv and its ReLU */
    model_free(m);
}

static void test_prenorm_layers(void **state)
{
    (void)state;
    for (int decomposed = 0; decomposed < 2; decomposed++) {
        Model *m = encoder((DmEncoder){.layers = 2, .pre_norm = true, .decomposed = decomposed, .scoped = true});
        int n;
        DepthBlock *b = find_blocks(m, &n);
        assert_int_equal(n, 4);
        assert_string_equal(b[0].name, "embed");
        assert_int_equal(b[0].kind, DEPTH_PLAIN);
        assert_true(b[0].removable); /* a same-shape plain layer */
        assert_string_equal(b[3].name, "head");
        for (int i = 1; i <= 2; i++) {
            char exit[64];
            snprintf(exit, sizeof exit, "/layers.%d/Add_1_out", i - 1);
            assert_string_equal(b[i].name, i == 1 ? "layers.0" : "layers.1");
            assert_int_equal(b[i].kind, DEPTH_LAYER);
            assert_int_equal(b[i].n_residuals, 2);
            assert_true(b[i].removable);
            assert_string_equal(b[i].exit->name, exit);
        }
        assert_string_equal(b[1].entry->name, "/embed/MatMul_out");
        /* the final LayerNorm after the last layer is not part of it */
        for (int k = 0; k < b[2].n_nodes; k++)
            assert_null(strstr(b[2].nodes[k]->name, "/ln/"));
        model_free(m);
    }
}

static void test_postnorm_layers(void **state)
{
    (void)state;
    for (int decomposed = 0; decomposed < 2; decomposed++) {
        Model *m = encoder((DmEncoder){.layers = 2, .decomposed = decomposed, .scoped = true});
        int n;
        DepthBlock *b = find_blocks(m, &n);
        assert_int_equal(n, 3);
        const DepthBlock *l0 = block_named(b, n, "layers.0"), *l1 = block_named(b, n, "layers.1");
        assert_int_equal(l0->kind, DEPTH_LAYER);
        assert_int_equal(l0->n_residuals, 2);
        assert_true(l0->removable && l1->removable);
        /* x -> LN(x + attn(x)) -> LN(. + mlp(.)): both LayerNorms inside */
        const char *ln2_exit = decomposed ? "/layers.0/ln2/Add_1_out" : "/layers.0/ln2/LayerNormalization_out";
        assert_string_equal(l0->exit->name, ln2_exit);
        assert_ptr_equal(l1->entry, l0->exit);
        assert_true(block_has_node(l0, decomposed ? "/layers.0/ln1/Sqrt" : "/layers.0/ln1/LayerNormalization"));
        assert_ptr_equal(l1->exit, m->graph->outputs[0]);
        int per_ln = decomposed ? 9 : 1;
        assert_int_equal(l0->n_nodes, 13 + 1 + per_ln + 5 + 1 + per_ln);
        model_free(m);
    }
}

/* Without module paths: names are first nodes; a residual absorbs the
 * activation or LayerNorm after it; each residual is its own block. */
static void test_unscoped_names(void **state)
{
    (void)state;
    Model *m = resnet(false, NULL);
    int n;
    DepthBlock *b = find_blocks(m, &n);
    assert_int_equal(n, 6);
    assert_string_equal(b[0].name, "conv1_Conv");
    assert_string_equal(b[1].name, "layer1_layer1.0_conv1_Conv");
    assert_int_equal(b[1].n_nodes, 5);
    assert_string_equal(b[1].exit->name, "layer1_layer1.0_relu_1_Relu_out");
    model_free(m);

    m = encoder((DmEncoder){.layers = 2, .pre_norm = true, .scoped = false});
    b = find_blocks(m, &n);
    assert_int_equal(n, 6); /* embed, 2 x 2 residuals, head */
    assert_string_equal(b[1].name, "layers.0_ln1_LayerNormalization");
    assert_string_equal(b[2].name, "layers.0_ln2_LayerNormalization");
    assert_int_equal(b[1].kind, DEPTH_RESIDUAL);
    model_free(m);

    m = encoder((DmEncoder){.layers = 2, .decomposed = true, .scoped = false});
    b = find_blocks(m, &n);
    assert_int_equal(n, 5);
    assert_string_equal(b[1].name, "layers.0_attn_q_MatMul");
    assert_string_equal(b[1].exit->name, "layers.0_ln1_Add_1_out"); /* x -> LN(x + attn(x)) */
    assert_string_equal(b[2].name, "layers.0_mlp_mlp.0_MatMul");
    assert_true(b[2].removable);
    model_free(m);
}

/* A mask read by every layer is an input from outside, not a second entry. */
static void test_attention_mask(void **state)
{
    (void)state;
    Model *m = encoder((DmEncoder){.layers = 3, .pre_norm = true, .scoped = true, .mask = true});
    int n;
    DepthBlock *b = find_blocks(m, &n);
    assert_int_equal(n, 5);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(b[i].kind, DEPTH_LAYER);
        assert_true(b[i].removable);
    }
    Outputs before = run(m->graph);
    DepthReport r = shrink(m, &(DepthOptions){.drop = (const char *[]){"layers.1"}, .n_drop = 1});
    assert_int_equal(r.n_dropped, 1);
    Outputs after = run(m->graph);
    assert_same_shapes(&before, &after);
    assert_non_null(graph_find_value(m->graph, "mask"));
    outputs_free(&before);
    outputs_free(&after);
    model_free(m);
}

static void test_plain_stack(void **state)
{
    (void)state;
    Model *m = model_new();
    gb_rng_seed(1);
    dm_mlp_stack(m);
    dm_finish(m);
    int n;
    DepthBlock *b = find_blocks(m, &n);
    assert_int_equal(n, 3);
    assert_string_equal(b[1].name, "fc2");
    assert_int_equal(b[1].kind, DEPTH_PLAIN);
    assert_int_equal(b[1].n_nodes, 2); /* Gemm and its ReLU */
    assert_true(b[0].removable && b[1].removable && !b[2].removable);
    /* never chosen automatically */
    expect_refusal(m, &(DepthOptions){.keep = 1, .scores = (double[]){0, 0, 0}, .n_scores = 3},
                   "depth: keep 1 blocks asked, but the model has only 0 residual blocks/layers");
    DepthReport r = shrink(m, &(DepthOptions){.alternate = true});
    assert_int_equal(r.n_dropped, 0);
    r = shrink(m, &(DepthOptions){.drop = (const char *[]){"fc2"}, .n_drop = 1});
    assert_int_equal(r.n_dropped, 1);
    assert_int_equal(r.params_dropped, 16 * 16 + 16);
    assert_false(any_node_named(m->graph, "fc2"));
    assert_false(any_node_named(m->graph, "act2"));
    Outputs o = run(m->graph);
    assert_int_equal(o.shapes[0].dims[1].value, 4);
    outputs_free(&o);
    model_free(m);
}

/* What a block computes must not be needed outside it: a value inside that
 * is a graph output makes no block at all (the sink post-dominates x); one
 * whose shape is read outside makes a block that cannot be removed. */
static void test_leaking_blocks(void **state)
{
    (void)state;
    for (int via_shape = 0; via_shape < 2; via_shape++) {
        Model *m = model_new();
        Graph *g = m->graph;
        Value *x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){1, 4});
        Value *a = gb_op1(g, "Relu", 13, "/blk/Relu", x);
        Value *s = gb_op2(g, "Add", 13, "/blk/Add", x, a);
        Value *y = gb_op1(g, "Sigmoid", 13, "/out/Sigmoid", s);
        if (via_shape)
            y = gb_op2(g, "Reshape", 13, "/out/Reshape", y, gb_op1(g, "Shape", 13, "/out/Shape", a));
        else
            gb_append_output(g, a);
        gb_append_output(g, y);
        dm_finish(m);
        int n;
        DepthBlock *b = find_blocks(m, &n);
        assert_int_equal(n, via_shape);
        if (via_shape) {
            assert_false(b[0].removable);
            assert_string_equal(b[0].why_not,
                                "computes '/blk/Relu_out', which node '/out/Shape' outside it also reads");
            expect_refusal(m, &(DepthOptions){.drop = (const char *[]){"blk"}, .n_drop = 1},
                           "block 'blk' computes '/blk/Relu_out', which node '/out/Shape' outside it also reads: it "
                           "cannot be removed");
        }
        model_free(m);
    }
}

/* ---- choosing and removing ---- */

static void test_drop_by_name(void **state)
{
    (void)state;
    Model *m = resnet(true, "layer1.1"); /* layer1.1 computes relu(x + 0) = x */
    Outputs before = run(m->graph);
    int nodes = m->graph->n_nodes, inits = m->graph->n_inits;
    DepthReport r = shrink(m, &(DepthOptions){.drop = (const char *[]){"layer1.1"}, .n_drop = 1});
    assert_int_equal(r.n_blocks, 6);
    assert_int_equal(r.n_dropped, 1);
    assert_true(r.blocks[2].dropped);
    assert_int_equal(r.params_dropped, 2 * (64 * 64 * 9 + 64));
    assert_int_equal(m->graph->n_nodes, nodes - 5);
    assert_int_equal(m->graph->n_inits, inits - 4);
    assert_false(any_node_named(m->graph, "layer1.1"));
    Outputs after = run(m->graph);
    assert_same_values(&before, &after);
    outputs_free(&before);
    outputs_free(&after);
    model_free(m);
}

static void test_refusals(void **state)
{
    (void)state;
    Model *m = resnet(true, NULL);
    expect_refusal(m, &(DepthOptions){.drop = (const char *[]){"layer1.0", "layer2.0"}, .n_drop = 2},
                   "block 'layer2.0' changes the shape [1,64,16,16] -> [1,128,8,8]: it cannot be removed");
    expect_refusal(m, &(DepthOptions){.drop = (const char *[]){"layer9"}, .n_drop = 1},
                   "depth: no block named 'layer9'; the blocks are: conv1, layer1.0, layer1.1, layer2.0, layer2.1, fc");
    double scores[6] = {0};
    expect_refusal(m, &(DepthOptions){.drop_count = 4, .scores = scores, .n_scores = 6},
                   "depth: cannot drop 4 blocks: only 3 of the 4 residual blocks/layers can be removed (the others "
                   "change the shape)");
    expect_refusal(m, &(DepthOptions){.keep = 5, .scores = scores, .n_scores = 6},
                   "depth: keep 5 blocks asked, but the model has only 4 residual blocks/layers");
    expect_refusal(m, &(DepthOptions){.drop_count = 1},
                   "depth: choosing blocks by score needs one score per block (6), got 0");
    expect_refusal(m, &(DepthOptions){.drop_count = 1, .scores = scores, .n_scores = 3},
                   "depth: choosing blocks by score needs one score per block (6), got 3");
    scores[4] = NAN;
    expect_refusal(m, &(DepthOptions){.drop_count = 1, .scores = scores, .n_scores = 6},
                   "depth: the score of block 'layer2.1' is nan, not a finite number");
    expect_refusal(m, &(DepthOptions){.keep = 2, .alternate = true, .scores = scores, .n_scores = 6},
                   "depth: choose the blocks to remove one way (drop by name, keep, drop_count or alternate), not 2 "
                   "at once");
    model_free(m);
}

static void test_keep_by_score(void **state)
{
    (void)state;
    /* embed, layers.0..3, head: the plain layers' scores are never read */
    const double scores[6] = {-1, 0.5, 0.1, 0.3, 0.1, -1};
    Model *m = encoder((DmEncoder){.layers = 4, .pre_norm = true, .scoped = true});
    Outputs before = run(m->graph);
    DepthReport r = shrink(m, &(DepthOptions){.keep = 3, .scores = scores, .n_scores = 6});
    assert_int_equal(r.n_dropped, 1);
    assert_true(r.blocks[4].dropped); /* tie with layers.1: the later one goes */
    Outputs after = run(m->graph);
    assert_same_shapes(&before, &after);
    outputs_free(&after);
    model_free(m);

    m = encoder((DmEncoder){.layers = 4, .pre_norm = true, .scoped = true});
    r = shrink(m, &(DepthOptions){.drop_count = 2, .scores = scores, .n_scores = 6});
    assert_int_equal(r.n_dropped, 2);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r.blocks[i].dropped, i == 2 || i == 4);
    assert_false(any_node_named(m->graph, "/layers.1/"));
    assert_true(any_node_named(m->graph, "/layers.2/"));
    after = run(m->graph);
    assert_same_shapes(&before, &after);
    outputs_free(&before);
    outputs_free(&after);
    model_free(m);
}

static void test_alternate(void **state)
{
    (void)state;
    Model *m = encoder((DmEncoder){.layers = 4, .pre_norm = true, .scoped = true, .zero_block = "layers.3"});
    DepthReport r = shrink(m, &(DepthOptions){.alternate = true});
    for (int i = 0; i < r.n_blocks; i++)
        assert_int_equal(r.blocks[i].dropped,
                         !strcmp(r.blocks[i].name, "layers.1") || !strcmp(r.blocks[i].name, "layers.3"));
    Outputs o = run(m->graph);
    outputs_free(&o);
    model_free(m);

    /* a block that changes the shape restarts the count (position 0, kept) */
    m = resnet(true, NULL);
    r = shrink(m, &(DepthOptions){.alternate = true});
    assert_int_equal(r.n_dropped, 2);
    assert_true(r.blocks[2].dropped);
    assert_true(r.blocks[4].dropped);
    o = run(m->graph);
    outputs_free(&o);
    model_free(m);
}

/* x + 0 + 0: dropping the layer must not change a bit. */
static void test_prenorm_identity_layer(void **state)
{
    (void)state;
    Model *m = encoder((DmEncoder){.layers = 3, .pre_norm = true, .scoped = true, .zero_block = "layers.1"});
    Outputs before = run(m->graph);
    shrink(m, &(DepthOptions){.drop = (const char *[]){"layers.1"}, .n_drop = 1});
    Outputs after = run(m->graph);
    assert_same_values(&before, &after);
    outputs_free(&before);
    outputs_free(&after);
    model_free(m);
}

/* The last layer's exit is a graph output: it keeps its name (an Identity
 * writes it), also when the layer before goes too. */
static void test_graph_output_exit(void **state)
{
    (void)state;
    for (int both = 0; both < 2; both++) {
        Model *m = encoder((DmEncoder){.layers = 2, .decomposed = true, .scoped = true});
        const char *out = m->graph->outputs[0]->name;
        Outputs before = run(m->graph);
        const char *drop[] = {"layers.1", "layers.0"};
        shrink(m, &(DepthOptions){.drop = drop, .n_drop = 1 + both});
        Graph *g = m->graph;
        assert_int_equal(g->n_outputs, 2);
        assert_string_equal(g->outputs[0]->name, out);
        Node *skip = g->outputs[0]->producer;
        assert_non_null(skip);
        assert_string_equal(skip->op_type, "Identity");
        assert_string_equal(skip->name, "depth_skip/layers.1");
        assert_string_equal(skip->inputs[0]->name, both ? "/embed/MatMul_out" : "/layers.0/ln2/Add_1_out");
        assert_false(any_node_named(g, "/layers.1/"));
        assert_int_equal(any_node_named(g, "/layers.0/"), !both);
        Outputs after = run(g);
        assert_same_shapes(&before, &after);
        outputs_free(&before);
        outputs_free(&after);
        model_free(m);
    }
}

static void test_report_print(void **state)
{
    (void)state;
    Model *m = resnet(true, NULL);
    DepthReport r = shrink(m, &(DepthOptions){.drop = (const char *[]){"layer2.1"}, .n_drop = 1});
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    depth_report_print(&r, f);
    fclose(f);
    assert_non_null(strstr(text, "layer2.0  residual  [1,64,16,16] -> [1,128,8,8]"));
    assert_non_null(strstr(text, "kept: changes the shape [1,64,16,16] -> [1,128,8,8]\n"));
    assert_non_null(strstr(text, "layer2.1  residual  [1,128,8,8] -> [1,128,8,8]"));
    assert_non_null(strstr(text, "295168  dropped\n"));
    assert_non_null(strstr(text, "1 of 6 blocks dropped, 295168 parameters\n"));
    free(text);
    model_free(m);
}

/* ---- the exported zoo ---- */

/* Writes the student to the temp folder and reads it back. */
static void export_and_reimport(const Model *m, const char *file)
{
    char path[256];
    Diag d = {{0}};
    Model *back = NULL;
    temp_path(path, sizeof path, file);
    if (onnx_export_file(m, path, &d) || onnx_import_file(path, &back, &d) || ir_verify(back, &d))
        fail_msg("%s: %s", path, d.msg);
    model_free(back);
}

static int count_kind(const DepthBlock *b, int n, DepthKind kind, bool removable_only)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += b[i].kind == kind && (!removable_only || b[i].removable);
    return k;
}

static void test_zoo_resnet50(void **state)
{
    (void)state;
    Model *m = zoo_load("resnet50");
    if (!m)
        skip();
    int n;
    DepthBlock *b = find_blocks(m, &n);
    assert_int_equal(count_kind(b, n, DEPTH_RESIDUAL, false), 16);
    assert_int_equal(count_kind(b, n, DEPTH_RESIDUAL, true), 12);
    assert_string_equal(block_named(b, n, "layer2.0")->why_not,
                        "changes the shape [batch,256,16,16] -> [batch,512,8,8]");
    Outputs before = run(m->graph);
    DepthReport r = shrink(m, &(DepthOptions){.alternate = true});
    assert_int_equal(r.n_dropped, 7); /* 1.1, 2.1, 2.3, 3.1, 3.3, 3.5, 4.1 */
    assert_true(block_named(r.blocks, r.n_blocks, "layer3.5")->dropped);
    Outputs after = run(m->graph);
    assert_same_shapes(&before, &after);
    export_and_reimport(m, "resnet50_alternate.onnx");
    outputs_free(&before);
    outputs_free(&after);
    model_free(m);
}

static void test_zoo_bert(void **state)
{
    (void)state;
    Model *m = zoo_load("bert");
    if (!m)
        skip();
    int n;
    DepthBlock *b = find_blocks(m, &n);
    assert_int_equal(n, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(b[i].kind, DEPTH_LAYER);
        assert_int_equal(b[i].n_residuals, 2);
        assert_true(b[i].removable);
    }
    assert_string_equal(b[1].exit->name, "last_hidden_state");
    Outputs before = run(m->graph);
    DepthReport r = shrink(m, &(DepthOptions){.drop = (const char *[]){"layers.1"}, .n_drop = 1});
    assert_int_equal(r.n_dropped, 1);
    assert_string_equal(m->graph->outputs[0]->name, "last_hidden_state");
    assert_string_equal(m->graph->outputs[1]->name, "logits");
    Outputs after = run(m->graph);
    assert_same_shapes(&before, &after);
    export_and_reimport(m, "bert_drop_layer1.onnx");
    outputs_free(&before);
    outputs_free(&after);
    model_free(m);
}

static void test_zoo_vit(void **state)
{
    (void)state;
    Model *m = zoo_load("vit");
    if (!m)
        skip();
    int n;
    DepthBlock *b = find_blocks(m, &n);
    assert_int_equal(count_kind(b, n, DEPTH_LAYER, true), 2);
    assert_string_equal(block_named(b, n, "layers.0")->exit->name, "/layers.0/Add_1_output_0");
    Outputs before = run(m->graph);
    DepthReport r = shrink(m, &(DepthOptions){.alternate = true});
    assert_int_equal(r.n_dropped, 1);
    assert_true(block_named(r.blocks, r.n_blocks, "layers.1")->dropped);
    Outputs after = run(m->graph);
    assert_same_shapes(&before, &after);
    export_and_reimport(m, "vit_alternate.onnx");
    outputs_free(&before);
    outputs_free(&after);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet_blocks),     cmocka_unit_test(test_prenorm_layers),
        cmocka_unit_test(test_postnorm_layers),   cmocka_unit_test(test_unscoped_names),
        cmocka_unit_test(test_attention_mask),    cmocka_unit_test(test_plain_stack),
        cmocka_unit_test(test_leaking_blocks),    cmocka_unit_test(test_drop_by_name),
        cmocka_unit_test(test_refusals),          cmocka_unit_test(test_keep_by_score),
        cmocka_unit_test(test_alternate),         cmocka_unit_test(test_prenorm_identity_layer),
        cmocka_unit_test(test_graph_output_exit), cmocka_unit_test(test_report_print),
        cmocka_unit_test(test_zoo_resnet50),      cmocka_unit_test(test_zoo_bert),
        cmocka_unit_test(test_zoo_vit),
    };
    return cmocka_run_group_tests(tests, temp_dir_setup, temp_dir_teardown);
}
