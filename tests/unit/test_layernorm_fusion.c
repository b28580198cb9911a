/* test_layernorm_fusion.c - unit tests of pass_fuse_layernorm and
 * pass_lower_layernorm (passes/fuse_layernorm.c, passes/lower_layernorm.c).
 *
 * The BERT-style encoder of the zoo exported at opset 14 (tests/models/zoo/
 * bert_op14.onnx): every decomposed LayerNorm is recognised, no piece of one
 * is left, and the fused graph computes what the exported one does; lowered
 * again it has the exported node count and the same outputs. Small graphs
 * built in memory: the pattern with and without scale and bias, squared by
 * Mul, with operands swapped, over axes given as -1, 2 and two trailing axes,
 * and with axes as an input (opset 18): each fuses to one node with equal
 * outputs, and lowers back with equal outputs. Near misses must stay as they
 * are: exponent 3, a non-trailing axis, keepdims 0, an intermediate read
 * elsewhere (by another node, a graph output or a subgraph), different axes
 * in the two means, an eps that can be fed. Lowering: nothing at opset 17,
 * the Mean and InvStdDev outputs, an opset too old, and inside a subgraph.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/zoo_load.h"

#include "ir/ops.h"
#include "passes/passes.h"
#include "runtime/plan.h"
#include "tests/unit/graph_build.h"

/* Bert in tests/models/export_zoo.py: the embedding LayerNorm, then ln1 and
 * ln2 in each of its 2 encoder layers. */
enum { BERT_LAYERNORMS = 1 + 2 * 2 };

/* ---- running a graph ---- */

enum { MAX_OUT = 3 };

typedef struct Outputs {
    int n;
    int64_t numel[MAX_OUT];
    float *data[MAX_OUT];
} Outputs;

/* Deterministic inputs: floats uniform in [-2, 2) from a fixed seed, int64
 * token ids spread over [0, 1000). */
static void fill_inputs(Plan *p)
{
    gb_rng_seed(11);
    for (int k = 0; k < plan_n_inputs(p); k++) {
        DType dt;
        Shape s;
        plan_input_info(p, k, &dt, &s);
        int64_t n = shape_numel(&s);
        if (dt == DT_FLOAT) {
            gb_fill_random(plan_input(p, k), n, -2, 2);
            continue;
        }
        assert_int_equal(dt, DT_INT64);
        int64_t *ids = plan_input(p, k);
        for (int64_t i = 0; i < n; i++)
            ids[i] = (i * 7919 + 13) % 1000;
    }
}

/* Float outputs of g; batch > 0: every input's dim 0 set to it, else the declared shapes. */
static Outputs run(Graph *g, int64_t batch)
{
    Shape shapes[4];
    int n_in = 0;
    Plan *p = NULL;
    Diag d = {{0}};
    if (batch > 0 && plan_input_shapes_for_batch(g, batch, shapes, 4, &n_in, &d))
        fail_msg("shapes: %s", d.msg);
    for (int i = 0; batch <= 0 && i < g->n_inputs; i++)
        shapes[n_in++] = g->inputs[i]->shape;
    if (plan_build(g, PLAN_INFERENCE, shapes, 1, &p, &d))
        fail_msg("plan: %s", d.msg);
    fill_inputs(p);
    if (plan_forward(p, &d))
        fail_msg("forward: %s", d.msg);
    Outputs o = {.n = plan_n_outputs(p)};
    assert_true(o.n <= MAX_OUT);
    for (int k = 0; k < o.n; k++) {
        DType dt;
        Shape s;
        plan_output_info(p, k, &dt, &s);
        assert_int_equal(dt, DT_FLOAT);
        o.numel[k] = shape_numel(&s);
        o.data[k] = malloc((size_t)o.numel[k] * sizeof(float));
        assert_non_null(o.data[k]);
        memcpy(o.data[k], plan_output(p, k), (size_t)o.numel[k] * sizeof(float));
    }
    plan_free(p);
    return o;
}

static void outputs_free(Outputs *o)
{
    for (int k = 0; k < o->n; k++)
        free(o->data[k]);
}

/* Per output: max |got - want| <= rtol * max |want| (as tests/peers/compare_rel.py). */
static void expect_close(const Outputs *got, const Outputs *want, double rtol)
{
    assert_int_equal(got->n, want->n);
    for (int k = 0; k < got->n; k++) {
        assert_int_equal(got->numel[k], want->numel[k]);
        double diff = 0, scale = 0;
        for (int64_t i = 0; i < got->numel[k]; i++) {
            double dv = fabs((double)got->data[k][i] - want->data[k][i]);
            diff = dv > diff || isnan(dv) ? dv : diff;
            scale = fmax(scale, fabs((double)want->data[k][i]));
        }
        if (!(diff <= rtol * scale))
            fail_msg("output %d: max abs diff %.3g, max |want| %.3g, over rtol %g", k, diff, scale, rtol);
    }
}

/* ---- graph helpers ---- */

static int count_op(const Graph *g, int op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += g->nodes[i]->op == op;
    return n;
}

static const Node *find_node(const Graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i]->name, name))
            return g->nodes[i];
    return NULL;
}

static void verify(Model *m)
{
    Diag d = {{0}};
    if (ir_verify(m, &d))
        fail_msg("verify: %s", d.msg);
}

static int fuse(Model *m)
{
    Diag d = {{0}};
    int fused = -1;
    if (pass_fuse_layernorm(m->graph, &fused, &d))
        fail_msg("fuse: %s", d.msg);
    verify(m);
    return fused;
}

static void lower(Model *m, int64_t opset)
{
    Diag d = {{0}};
    if (pass_lower_layernorm(m->graph, opset, &d))
        fail_msg("lower: %s", d.msg);
    verify(m);
}

static void infer(Graph *g)
{
    Diag d = {{0}};
    if (pass_infer_shapes(g, &d))
        fail_msg("infer: %s", d.msg);
}

/* ---- the exported encoder ---- */

static void test_zoo_bert_op14(void **state)
{
    (void)state;
    Model *m = zoo_load("bert_op14");
    if (!m)
        skip();
    Graph *g = m->graph;
    int exported_nodes = g->n_nodes, means = count_op(g, OP_ReduceMean);
    assert_int_equal(model_opset(m, ""), 14);
    assert_int_equal(means, 2 * BERT_LAYERNORMS);
    Outputs before = run(g, 2);
    assert_int_equal(fuse(m), BERT_LAYERNORMS);
    assert_int_equal(count_op(g, OP_LayerNormalization), BERT_LAYERNORMS);
    assert_int_equal(count_op(g, OP_ReduceMean), 0);
    assert_int_equal(count_op(g, OP_Sqrt), 0);
    assert_int_equal(count_op(g, OP_Pow), 0);
    assert_int_equal(g->n_nodes, exported_nodes - 8 * BERT_LAYERNORMS);
    assert_string_equal(g->outputs[0]->name, "last_hidden_state");
    assert_non_null(find_node(g, "/ln/LayerNormalization")); /* named as the exporter names it at opset 17 */
    assert_non_null(find_node(g, "/layers.1/ln2/LayerNormalization"));
    Outputs fused = run(g, 2);
    expect_close(&fused, &before, 1e-5);
    lower(m, 14);
    assert_int_equal(g->n_nodes, exported_nodes);
    assert_int_equal(count_op(g, OP_ReduceMean), means);
    assert_int_equal(count_op(g, OP_LayerNormalization), 0);
    Outputs lowered = run(g, 2);
    expect_close(&lowered, &before, 1e-5);
    outputs_free(&before);
    outputs_free(&fused);
    outputs_free(&lowered);
    model_free(m);
}

/* ---- the pattern, built in memory ---- */

/* x is float [2, 4, 6] unless dims say otherwise; the decomposition over axes,
 * opset 13 unless told. Defaults: Pow 2, keepdims 1, eps 1e-5 as an initializer. */
typedef struct Pattern {
    int opset;
    int64_t dims[3];
    int n_axes, n_axes2; /* n_axes2 0: the second mean has the first's axes */
    int64_t axes[2], axes2[2];
    bool square_by_mul, gamma, beta, swap, downstream;
    float exponent;
    bool keepdims_0, leak_dev, leak_var;
    bool eps_fed;    /* eps an initializer that is also a graph input: a default, not a constant */
    bool sub_other;  /* Sub(x2, mean) with x2 another input */
    bool beta_whole; /* beta [1, 1, 6] beside gamma [6] */
    int affine_rank; /* of gamma and beta: 1s before x's trailing dims; 0: the normalized axes */
} Pattern;

static Value *scalar_init(Graph *g, const char *name, float v)
{
    return gb_init_copy(g, name, DT_FLOAT, 0, NULL, &v);
}

static Node *mean_node(Graph *g, int opset, const char *name, Value *in, const int64_t *axes, int n_axes, bool kd0)
{
    char axes_name[64];
    snprintf(axes_name, sizeof axes_name, "%s_axes", name);
    Node *n;
    if (opset >= 18) {
        n = gb_node(g, "ReduceMean", opset, name, 2, (Value *[]){in, gb_ints(g, axes_name, n_axes, axes)}, 1);
    } else {
        n = gb_node(g, "ReduceMean", opset, name, 1, &in, 1);
        gb_set_ints(n, "axes", n_axes, axes);
    }
    gb_set_int(n, "keepdims", kd0 ? 0 : 1);
    return n;
}

static const int64_t *pattern_dims(const Pattern *p)
{
    static const int64_t usual[3] = {2, 4, 6};
    return p->dims[0] ? p->dims : usual;
}

/* A constant of x's trailing dims (those normalized unless p->affine_rank says). */
static Value *affine(Graph *g, const char *name, const Pattern *p, float lo, float hi)
{
    int first = 3;
    int64_t dims[3] = {1, 1, 1};
    for (int i = 0; i < p->n_axes; i++) {
        int a = (int)(p->axes[i] < 0 ? p->axes[i] + 3 : p->axes[i]);
        first = a < first ? a : first;
    }
    int rank = p->affine_rank ? p->affine_rank : 3 - first;
    for (int i = 0; i < rank; i++)
        if (i + 3 - rank >= first || !p->affine_rank)
            dims[i] = pattern_dims(p)[i + 3 - rank];
    return gb_param(g, name, rank, dims, lo, hi);
}

static Value *binary(Graph *g, const char *op, int opset, const char *name, Value *a, Value *b, bool swap)
{
    return swap ? gb_op2(g, op, opset, name, b, a) : gb_op2(g, op, opset, name, a, b);
}

static Value *build_norm(Graph *g, const Pattern *p, Value *x, int op)
{
    Value *mean = mean_node(g, op, "mean", x, p->axes, p->n_axes, p->keepdims_0)->outputs[0];
    Value *x2 = p->sub_other ? gb_input(g, "x2", DT_FLOAT, 3, pattern_dims(p)) : x;
    Value *dev = gb_op2(g, "Sub", op, "sub", x2, mean);
    Value *sq = p->square_by_mul
                    ? gb_op2(g, "Mul", op, "square", dev, dev)
                    : gb_op2(g, "Pow", op, "square", dev, scalar_init(g, "two", p->exponent ? p->exponent : 2));
    Value *var =
        mean_node(g, op, "var", sq, p->n_axes2 ? p->axes2 : p->axes, p->n_axes2 ? p->n_axes2 : p->n_axes, p->keepdims_0)
            ->outputs[0];
    Value *eps = scalar_init(g, "eps", 1e-5f);
    if (p->eps_fed)
        gb_append_input(g, eps);
    Value *sd = gb_op1(g, "Sqrt", op, "sqrt", binary(g, "Add", op, "add_eps", var, eps, p->swap));
    if (p->leak_dev)
        gb_append_output(g, dev);
    if (p->leak_var)
        gb_op1(g, "Relu", op, "reads_var", var);
    return gb_op2(g, "Div", op, "div", dev, sd);
}

static Model *build(const Pattern *p)
{
    Model *m = model_new();
    Graph *g = m->graph;
    int op = p->opset ? p->opset : 13;
    Value *x = gb_input(g, "x", DT_FLOAT, 3, pattern_dims(p));
    Value *y = build_norm(g, p, x, op);
    if (p->gamma)
        y = binary(g, "Mul", op, "mul_gamma", y, affine(g, "gamma", p, 0.5f, 1.5f), p->swap);
    if (p->beta)
        y = binary(g, "Add", op, "add_beta", y, affine(g, "beta", p, -0.5f, 0.5f), p->swap);
    if (p->beta_whole)
        y = gb_op2(g, "Add", op, "add_beta", y, gb_param(g, "beta", 3, (int64_t[]){1, 1, 6}, -0.5f, 0.5f));
    if (p->downstream)
        y = gb_op1(g, "Tanh", op, "after", y);
    gb_append_output(g, y);
    infer(g);
    return m;
}

/* Fuses one instance with equal outputs, then lowers it back (expect_lowered
 * nodes) with equal outputs again. */
static void check_round_trip(const Pattern *p, int expect_lowered)
{
    Model *m = build(p);
    Graph *g = m->graph;
    const char *out = g->outputs[0]->name;
    int nodes = g->n_nodes;
    Outputs before = run(g, 0);
    assert_int_equal(fuse(m), 1);
    assert_int_equal(count_op(g, OP_LayerNormalization), 1);
    assert_int_equal(g->n_nodes, nodes - 6 - p->gamma - p->beta); /* 7 nodes and the affine ones become 1 */
    assert_string_equal(g->outputs[0]->name, out);
    Outputs fused = run(g, 0);
    expect_close(&fused, &before, 1e-5);
    lower(m, 13);
    assert_int_equal(count_op(g, OP_LayerNormalization), 0);
    assert_int_equal(g->n_nodes, expect_lowered);
    Outputs lowered = run(g, 0);
    expect_close(&lowered, &before, 1e-5);
    outputs_free(&before);
    outputs_free(&fused);
    outputs_free(&lowered);
    model_free(m);
}

static void test_full_pattern(void **state)
{
    (void)state;
    Pattern p = {.n_axes = 1, .axes = {-1}, .gamma = true, .beta = true};
    check_round_trip(&p, 9);
    Model *m = build(&p);
    fuse(m);
    const Node *ln = m->graph->nodes[0];
    assert_string_equal(ln->name, "div_LayerNormalization");
    assert_int_equal(ln->opset, 17);
    assert_int_equal(ln->n_inputs, 3);
    assert_string_equal(ln->inputs[1]->name, "gamma");
    assert_string_equal(ln->inputs[2]->name, "beta");
    assert_int_equal(node_attr_int(ln, "axis", 0), -1);
    assert_true(node_attr_float(ln, "epsilon", 0) == 1e-5f);
    model_free(m);
}

/* Without gamma the node gets a scale of ones, which lowers to a Mul. */
static void test_without_affine(void **state)
{
    (void)state;
    check_round_trip(&(Pattern){.n_axes = 1, .axes = {-1}}, 8);
    check_round_trip(&(Pattern){.n_axes = 1, .axes = {-1}, .gamma = true}, 8);
    check_round_trip(&(Pattern){.n_axes = 1, .axes = {-1}, .beta = true}, 9);
    Model *m = build(&(Pattern){.n_axes = 1, .axes = {-1}});
    fuse(m);
    const Tensor *ones = m->graph->nodes[0]->inputs[1]->init;
    assert_non_null(ones);
    assert_int_equal(ones->rank, 1);
    assert_int_equal(ones->dims[0], 6);
    assert_int_equal(m->graph->nodes[0]->n_inputs, 2);
    model_free(m);
}

static void test_variants(void **state)
{
    (void)state;
    check_round_trip(&(Pattern){.n_axes = 1, .axes = {-1}, .gamma = true, .beta = true, .square_by_mul = true}, 9);
    check_round_trip(&(Pattern){.n_axes = 1, .axes = {-1}, .gamma = true, .beta = true, .swap = true}, 9);
    check_round_trip(&(Pattern){.n_axes = 1, .axes = {2}, .gamma = true, .beta = true}, 9);
    check_round_trip(&(Pattern){.n_axes = 2, .axes = {-2, -1}, .gamma = true, .beta = true}, 9);
    check_round_trip(&(Pattern){.n_axes = 2, .axes = {2, 1}, .gamma = true, .beta = true, .downstream = true}, 10);
    check_round_trip(&(Pattern){.opset = 18, .n_axes = 1, .axes = {-1}, .gamma = true, .beta = true}, 9);
    check_round_trip(&(Pattern){.dims = {6, 6, 6}, .n_axes = 1, .axes = {-1}}, 8); /* as the keepdims 0 miss */
    /* gamma and beta [1, 1, 6]: ones before the normalized axis broadcast to nothing */
    check_round_trip(&(Pattern){.n_axes = 1, .axes = {-1}, .gamma = true, .beta = true, .affine_rank = 3}, 9);
}

/* Near misses leave every node in place. */
static void expect_no_fusion(const Pattern *p)
{
    Model *m = build(p);
    int nodes = m->graph->n_nodes;
    assert_int_equal(fuse(m), 0);
    assert_int_equal(m->graph->n_nodes, nodes);
    assert_int_equal(count_op(m->graph, OP_LayerNormalization), 0);
    model_free(m);
}

static void test_near_misses(void **state)
{
    (void)state;
    expect_no_fusion(&(Pattern){.n_axes = 1, .axes = {-1}, .gamma = true, .exponent = 3});
    expect_no_fusion(&(Pattern){.n_axes = 1, .axes = {1}, .gamma = true});
    expect_no_fusion(&(Pattern){.dims = {6, 6, 6}, .n_axes = 1, .axes = {-1}, .keepdims_0 = true});
    expect_no_fusion(&(Pattern){.n_axes = 1, .axes = {-1}, .leak_dev = true});
    expect_no_fusion(&(Pattern){.n_axes = 1, .axes = {-1}, .leak_var = true});
    expect_no_fusion(&(Pattern){.n_axes = 1, .axes = {-1}, .n_axes2 = 2, .axes2 = {-2, -1}});
    expect_no_fusion(&(Pattern){.n_axes = 1, .axes = {-1}, .eps_fed = true});
    expect_no_fusion(&(Pattern){.n_axes = 1, .axes = {-1}, .sub_other = true});
}

/* Affine parameters the node cannot take stay as nodes after it, p's fused node
 * reading n_inputs. */
static void check_affine_left(const Pattern *p, int n_inputs, int left_op)
{
    Model *m = build(p);
    Graph *g = m->graph;
    Outputs before = run(g, 0);
    assert_int_equal(fuse(m), 1);
    assert_int_equal(g->n_nodes, 2);
    assert_int_equal(g->nodes[0]->op, OP_LayerNormalization);
    assert_int_equal(g->nodes[0]->n_inputs, n_inputs);
    assert_int_equal(g->nodes[1]->op, left_op);
    Outputs fused = run(g, 0);
    expect_close(&fused, &before, 1e-5);
    outputs_free(&before);
    outputs_free(&fused);
    model_free(m);
}

static void test_affine_left_out(void **state)
{
    (void)state;
    /* a bias of another shape than the scale (kdc's runtime wants them alike) */
    check_affine_left(&(Pattern){.n_axes = 1, .axes = {-1}, .gamma = true, .beta_whole = true}, 2, OP_Add);
    /* a scale [6] over the normalized [4, 6] would broadcast, not cover them */
    check_affine_left(&(Pattern){.n_axes = 2, .axes = {-2, -1}, .gamma = true, .affine_rank = 1}, 2, OP_Mul);
}

/* A gamma that is computed is no scale: the normalization fuses, the Mul stays. */
static void test_computed_gamma(void **state)
{
    (void)state;
    Model *m = build(&(Pattern){.n_axes = 1, .axes = {-1}});
    Graph *g = m->graph;
    Value *w = gb_input(g, "w", DT_FLOAT, 1, (int64_t[]){6});
    Value *y = gb_op2(g, "Mul", 13, "mul_w", g->outputs[0], w);
    g->outputs[0] = y;
    infer(g);
    assert_int_equal(fuse(m), 1);
    assert_int_equal(g->n_nodes, 2);
    assert_int_equal(g->nodes[0]->op, OP_LayerNormalization);
    assert_int_equal(g->nodes[1]->op, OP_Mul);
    model_free(m);
}

/* ---- lowering ---- */

static Model *build_layernorm(int n_outputs)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 3, (int64_t[]){2, 4, 6});
    Value *scale = gb_param(g, "scale", 2, (int64_t[]){4, 6}, 0.5f, 1.5f);
    Value *b = gb_param(g, "b", 2, (int64_t[]){4, 6}, -0.5f, 0.5f);
    Node *ln = gb_node(g, "LayerNormalization", 17, "ln", 3, (Value *[]){x, scale, b}, n_outputs);
    gb_set_int(ln, "axis", 1);
    gb_set_float(ln, "epsilon", 1e-3f);
    for (int k = 0; k < n_outputs; k++)
        gb_append_output(g, ln->outputs[k]);
    infer(g);
    return m;
}

static void test_lower_keeps_opset_17(void **state)
{
    (void)state;
    Model *m = build_layernorm(1);
    Node *ln = m->graph->nodes[0];
    lower(m, 17);
    assert_int_equal(m->graph->n_nodes, 1);
    assert_ptr_equal(m->graph->nodes[0], ln);
    model_free(m);
}

/* Mean and InvStdDev are the first ReduceMean and the reciprocal of the Sqrt. */
static void test_lower_statistics(void **state)
{
    (void)state;
    Model *m = build_layernorm(3);
    Graph *g = m->graph;
    Outputs before = run(g, 0);
    lower(m, 14);
    assert_int_equal(g->n_nodes, 10);
    assert_int_equal(count_op(g, OP_Reciprocal), 1);
    assert_int_equal(g->nodes[0]->op, OP_ReduceMean);
    assert_string_equal(g->nodes[0]->name, "ln/mean");
    assert_int_equal(g->nodes[0]->opset, 14);
    int count = 0;
    const int64_t *axes = node_attr_ints(g->nodes[0], "axes", &count);
    assert_int_equal(count, 2);
    assert_int_equal(axes[0], -2);
    assert_int_equal(axes[1], -1);
    Outputs lowered = run(g, 0);
    expect_close(&lowered, &before, 1e-5);
    outputs_free(&before);
    outputs_free(&lowered);
    model_free(m);
}

static void test_lower_refusals(void **state)
{
    (void)state;
    Model *m = build_layernorm(1);
    Diag d = {{0}};
    assert_int_equal(pass_lower_layernorm(m->graph, 6, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'ln' (LayerNormalization): cannot be written at opset 6 (needs 7 or later)");
    assert_int_equal(m->graph->n_nodes, 1);
    model_free(m);
}

/* ---- subgraphs ---- */

/* An If (left opaque: only its structure matters here) whose then-branch holds
 * the pattern over the outer x. */
static void test_subgraph(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *cond = gb_input(g, "cond", DT_BOOL, 0, NULL);
    Value *x = gb_input(g, "x", DT_FLOAT, 3, (int64_t[]){2, 4, 6});
    Node *iff = gb_node(g, "If", 13, "if", 1, &cond, 1);
    iff->op = OP_OPAQUE;
    Graph *then = graph_new(g->arena, g);
    then->name = "then";
    Pattern p = {.n_axes = 1, .axes = {-1}, .dims = {2, 4, 6}};
    gb_append_output(then, build_norm(then, &p, x, 13));
    node_add_attr(iff, "then_branch", ATTR_GRAPH)->g = then;
    gb_append_output(g, iff->outputs[0]);
    infer(then);
    assert_int_equal(fuse(m), 1);
    assert_int_equal(then->n_nodes, 1);
    assert_int_equal(then->nodes[0]->op, OP_LayerNormalization);
    lower(m, 13);
    assert_int_equal(then->n_nodes, 8);
    assert_int_equal(count_op(then, OP_ReduceMean), 2);
    model_free(m);
}

/* The pattern's dev is also read inside a branch: nothing fuses. */
static void test_read_in_subgraph(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *cond = gb_input(g, "cond", DT_BOOL, 0, NULL);
    Value *x = gb_input(g, "x", DT_FLOAT, 3, (int64_t[]){2, 4, 6});
    Pattern p = {.n_axes = 1, .axes = {-1}, .dims = {2, 4, 6}};
    Value *y = build_norm(g, &p, x, 13);
    Value *dev = graph_find_value(g, "sub_out");
    Node *iff = gb_node(g, "If", 13, "if", 1, &cond, 1);
    iff->op = OP_OPAQUE;
    Graph *then = graph_new(g->arena, g);
    gb_append_output(then, gb_op1(then, "Relu", 13, "inner", dev));
    node_add_attr(iff, "then_branch", ATTR_GRAPH)->g = then;
    gb_append_output(g, y);
    gb_append_output(g, iff->outputs[0]);
    infer(g);
    assert_int_equal(fuse(m), 0);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zoo_bert_op14),        cmocka_unit_test(test_full_pattern),
        cmocka_unit_test(test_without_affine),       cmocka_unit_test(test_variants),
        cmocka_unit_test(test_near_misses),          cmocka_unit_test(test_computed_gamma),
        cmocka_unit_test(test_lower_keeps_opset_17), cmocka_unit_test(test_lower_statistics),
        cmocka_unit_test(test_lower_refusals),       cmocka_unit_test(test_subgraph),
        cmocka_unit_test(test_read_in_subgraph),     cmocka_unit_test(test_affine_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
