/* test_reinit.c - unit tests of pass_reinit_weights (passes/reinit.c).
 *
 * Graphs shaped like exported layers (Conv-BN-ReLU, Flatten-Gemm, MatMul+Add, LayerNorm,
 * ConvTranspose, an If branch) filled with teacher-like numbers: after the pass every
 * layer weight lies within its PyTorch bound 1/sqrt(fan_in) and spreads over it
 * (max |w| near the bound, variance near bound^2 / 3), biases are 0, normalization
 * parameters are 1/0, and what is not a learned tensor of those layers (shape constants,
 * other float constants, an attention MatMul's Add) keeps its bytes. The same seed gives
 * the same numbers; a float64 weight is refused with the graph unchanged.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ops.h"
#include "passes/passes.h"
#include "tests/unit/graph_build.h"

/* ---- checks ---- */

static void assert_all(const Value *v, float want)
{
    const float *x = v->init->data;
    for (int64_t i = 0; i < tensor_numel(v->init); i++)
        if (x[i] != want)
            fail_msg("%s[%lld] = %g, want %g", v->name, (long long)i, x[i], want);
}

/* Within [-b, b], reaching close to b, centred, with the variance of U(-b, b). */
static void assert_uniform(const Value *v, int64_t fan_in)
{
    const float *x = v->init->data;
    int64_t n = tensor_numel(v->init);
    double b = 1.0 / sqrt((double)fan_in), sum = 0, sq = 0, top = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(x[i]) > b * (1 + 1e-6))
            fail_msg("%s[%lld] = %g, outside +-%g", v->name, (long long)i, x[i], b);
        top = fabs(x[i]) > top ? fabs(x[i]) : top;
        sum += x[i];
        sq += (double)x[i] * x[i];
    }
    double mean = sum / (double)n, var = sq / (double)n - mean * mean;
    double tol = 4 * b / sqrt(3.0 * (double)n); /* four standard errors of the mean */
    double var_tol = 5 * sqrt(0.8 / (double)n); /* the sample variance of U(-b, b) has sd sqrt(0.8 / n) */
    if (top < b * (1 - 20.0 / (double)n) || fabs(mean) > tol || fabs(var / (b * b / 3) - 1) > var_tol)
        fail_msg("%s: max %g, mean %g, variance %g; want bound %g, mean 0, variance %g", v->name, top, mean, var, b,
                 b * b / 3);
}

static void *copy_of(const Value *v)
{
    void *c = malloc(v->init->nbytes);
    assert_non_null(c);
    memcpy(c, v->init->data, v->init->nbytes);
    return c;
}

static void assert_unchanged(const Value *v, void *before)
{
    if (memcmp(v->init->data, before, v->init->nbytes))
        fail_msg("%s changed", v->name);
    free(before);
}

/* As kdc compress calls it: on a student whose shapes are inferred. */
static void reinit_ok(Model *m, uint64_t seed)
{
    Diag d = {{0}};
    if (pass_infer_shapes(m->graph, &d))
        fail_msg("infer: %s", d.msg);
    if (pass_reinit_weights(m->graph, seed, &d))
        fail_msg("%s", d.msg);
    if (ir_verify(m, &d))
        fail_msg("verify: %s", d.msg);
}

/* ---- a CNN classifier as PyTorch exports it ---- */

typedef struct Cnn {
    Model *m;
    Value *conv_w, *conv_b, *bn[4], *shape, *gemm_w, *gemm_b, *mm_w, *mm_b, *ln_s, *ln_b, *slope, *scale, *mask;
} Cnn;

static Value *teacher_param(Graph *g, const char *name, int rank, const int64_t *dims)
{
    return gb_param(g, name, rank, dims, 0.5f, 2.0f); /* nothing a re-init could leave by chance */
}

static void build_features(Cnn *c, Graph *g, Value **h)
{
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 3, 8, 8});
    c->conv_w = teacher_param(g, "conv.weight", 4, (int64_t[]){16, 3, 3, 3});
    c->conv_b = teacher_param(g, "conv.bias", 1, (int64_t[]){16});
    Node *conv = gb_node(g, "Conv", 13, "conv", 3, (Value *[]){x, c->conv_w, c->conv_b}, 1);
    gb_set_ints(conv, "pads", 4, (int64_t[]){1, 1, 1, 1});
    const char *bn_names[] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"};
    for (int i = 0; i < 4; i++)
        c->bn[i] = teacher_param(g, bn_names[i], 1, (int64_t[]){16});
    Node *bn = gb_node(g, "BatchNormalization", 15, "bn", 5,
                       (Value *[]){conv->outputs[0], c->bn[0], c->bn[1], c->bn[2], c->bn[3]}, 1);
    c->slope = teacher_param(g, "prelu.slope", 3, (int64_t[]){16, 1, 1});
    Value *act = gb_op2(g, "PRelu", 16, "prelu", bn->outputs[0], c->slope);
    c->shape = gb_ints(g, "flat_shape", 2, (int64_t[]){0, -1});
    *h = gb_op2(g, "Reshape", 14, "flatten", act, c->shape);
}

static void build_head(Cnn *c, Graph *g, Value *h)
{
    c->gemm_w = teacher_param(g, "fc.weight", 2, (int64_t[]){32, 1024});
    c->gemm_b = teacher_param(g, "fc.bias", 1, (int64_t[]){32});
    Node *fc = gb_node(g, "Gemm", 13, "fc", 3, (Value *[]){h, c->gemm_w, c->gemm_b}, 1);
    gb_set_int(fc, "transB", 1);
    c->mm_w = teacher_param(g, "proj.weight", 2, (int64_t[]){32, 64});
    c->mm_b = teacher_param(g, "proj.bias", 1, (int64_t[]){64});
    Value *p = gb_op2(g, "Add", 14, "proj_bias", gb_op2(g, "MatMul", 13, "proj", fc->outputs[0], c->mm_w), c->mm_b);
    c->ln_s = teacher_param(g, "ln.weight", 1, (int64_t[]){64});
    c->ln_b = teacher_param(g, "ln.bias", 1, (int64_t[]){64});
    Value *n = gb_node(g, "LayerNormalization", 17, "ln", 3, (Value *[]){p, c->ln_s, c->ln_b}, 1)->outputs[0];
    c->scale = teacher_param(g, "logit_scale", 0, NULL);
    Value *scaled = gb_op2(g, "Mul", 14, "scaled", n, c->scale);
    /* scores = n n^T + mask: a MatMul of two activations is no layer, its Add no bias. */
    Value *nt = gb_op1(g, "Transpose", 13, "nt", n);
    c->mask = teacher_param(g, "mask", 1, (int64_t[]){64});
    Value *scores = gb_op2(g, "Add", 14, "masked", gb_op2(g, "MatMul", 13, "scores", nt, n), c->mask);
    gb_append_output(g, scaled);
    gb_append_output(g, scores);
}

static Cnn cnn_build(uint64_t teacher_seed)
{
    Cnn c = {.m = model_new()};
    Value *h;
    gb_rng_seed(teacher_seed);
    build_features(&c, c.m->graph, &h);
    build_head(&c, c.m->graph, h);
    return c;
}

static void test_layers(void **state)
{
    (void)state;
    Cnn c = cnn_build(1);
    reinit_ok(c.m, 0);
    assert_uniform(c.conv_w, 3 * 3 * 3);
    assert_uniform(c.gemm_w, 1024);
    assert_uniform(c.mm_w, 32);
    assert_all(c.conv_b, 0);
    assert_all(c.gemm_b, 0);
    assert_all(c.mm_b, 0);
    assert_all(c.bn[0], 1);
    assert_all(c.bn[1], 0);
    assert_all(c.bn[2], 0);
    assert_all(c.bn[3], 1);
    assert_all(c.ln_s, 1);
    assert_all(c.ln_b, 0);
    model_free(c.m);
}

static void test_others_untouched(void **state)
{
    (void)state;
    Cnn c = cnn_build(2);
    void *shape = copy_of(c.shape), *slope = copy_of(c.slope), *scale = copy_of(c.scale), *mask = copy_of(c.mask);
    reinit_ok(c.m, 0);
    assert_unchanged(c.shape, shape);
    assert_unchanged(c.slope, slope);
    assert_unchanged(c.scale, scale);
    assert_unchanged(c.mask, mask);
    assert_int_equal(c.shape->init->dtype, DT_INT64);
    model_free(c.m);
}

/* The same seed, the same numbers; another seed, others; the teacher's numbers do not
 * leak into the draw. */
static void test_deterministic(void **state)
{
    (void)state;
    Cnn a = cnn_build(3), b = cnn_build(4), other = cnn_build(3);
    reinit_ok(a.m, 42);
    reinit_ok(b.m, 42);
    reinit_ok(other.m, 43);
    const Value *wa[] = {a.conv_w, a.gemm_w, a.mm_w}, *wb[] = {b.conv_w, b.gemm_w, b.mm_w},
                *wo[] = {other.conv_w, other.gemm_w, other.mm_w};
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(wa[i]->init->data, wb[i]->init->data, wa[i]->init->nbytes);
        assert_memory_not_equal(wa[i]->init->data, wo[i]->init->data, wa[i]->init->nbytes);
    }
    /* Each tensor has its own stream: two layers of one graph do not repeat each other's
     * draws (scaled by their bounds). */
    const float *g = a.gemm_w->init->data, *p = a.mm_w->init->data;
    int same = 0;
    for (int i = 0; i < 32; i++)
        same += fabs(g[i] * sqrt(1024.0) - p[i] * sqrt(32.0)) < 1e-4;
    assert_true(same < 4);
    model_free(a.m);
    model_free(b.m);
    model_free(other.m);
}

/* ---- fan-in of the other weight layouts ---- */

static void test_fan_in_layouts(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_rng_seed(5);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){0, 8, 5, 5});
    Value *up_w = teacher_param(g, "up.weight", 4, (int64_t[]){8, 64, 4, 4}); /* [C_in, C_out/group, k, k] */
    Value *up = gb_node(g, "ConvTranspose", 11, "up", 2, (Value *[]){x, up_w}, 1)->outputs[0];
    Value *flat = gb_op1(g, "Flatten", 13, "flat", up);
    Value *w_kn = teacher_param(g, "fc.weight", 2, (int64_t[]){64 * 8 * 8, 256}); /* transB = 0: [K, N] */
    Node *fc = gb_node(g, "Gemm", 13, "fc", 2, (Value *[]){flat, w_kn}, 1);
    Value *w_left = teacher_param(g, "left.weight", 2, (int64_t[]){20, 300}); /* W x: A constant, K = 300 */
    Value *col = gb_input(g, "col", DT_FLOAT, 2, (int64_t[]){300, 4});
    Value *left = gb_op2(g, "MatMul", 13, "left", w_left, col);
    Value *w_vec = teacher_param(g, "vec.weight", 1, (int64_t[]){256}); /* 1-D B: K = 256 */
    Value *dot = gb_op2(g, "MatMul", 13, "dot", fc->outputs[0], w_vec);
    gb_append_output(g, dot);
    gb_append_output(g, left);
    reinit_ok(m, 9);
    assert_uniform(up_w, 64 * 4 * 4); /* numel / dims[0], as PyTorch counts it */
    assert_uniform(w_kn, 64 * 8 * 8);
    assert_uniform(w_left, 300);
    assert_uniform(w_vec, 256);
    model_free(m);
}

/* A Gemm inside an If branch, its weight an initializer of the branch. */
static void test_subgraph(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_rng_seed(6);
    Value *cond = gb_input(g, "cond", DT_BOOL, 0, NULL);
    Value *x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){4, 256});
    Graph *then = graph_new(g->arena, g);
    Value *w = teacher_param(then, "then.weight", 2, (int64_t[]){256, 8});
    Value *b = teacher_param(then, "then.bias", 1, (int64_t[]){8});
    gb_append_output(then, gb_node(then, "Gemm", 13, "then_fc", 3, (Value *[]){x, w, b}, 1)->outputs[0]);
    Graph *other = graph_new(g->arena, g);
    gb_append_output(other, gb_op1(other, "Identity", 13, "else_id", x));
    Node *iff = gb_node(g, "If", 13, "branch", 1, &cond, 1);
    node_add_attr(iff, "then_branch", ATTR_GRAPH)->g = then;
    node_add_attr(iff, "else_branch", ATTR_GRAPH)->g = other;
    gb_append_output(g, iff->outputs[0]);
    Diag d = {{0}};
    assert_int_equal(pass_reinit_weights(g, 1, &d), KDC_OK);
    assert_uniform(w, 256);
    assert_all(b, 0);
    model_free(m);
}

/* A float64 weight is refused before anything changes, naming the node and tensor. */
static void test_other_dtype_refused(void **state)
{
    (void)state;
    Cnn c = cnn_build(7);
    Graph *g = c.m->graph;
    Value *x = g->inputs[0];
    Value *w64 = gb_init(g, "wide.weight", DT_DOUBLE, 4, (int64_t[]){4, 3, 1, 1});
    gb_append_output(g, gb_node(g, "Conv", 13, "wide", 2, (Value *[]){x, w64}, 1)->outputs[0]);
    void *conv_w = copy_of(c.conv_w), *bn = copy_of(c.bn[0]);
    Diag d = {{0}};
    assert_int_equal(pass_reinit_weights(g, 0, &d), KDC_ERR);
    assert_string_equal(
        d.msg, "node 'wide' (Conv): 'wide.weight' is double; random initialisation handles float32 weights only");
    assert_unchanged(c.conv_w, conv_w);
    assert_unchanged(c.bn[0], bn);
    model_free(c.m);
}

/* A weight used by two layers is drawn once, by its first user's fan-in (400 for the
 * MatMul; the Gemm, transposing it, would say 300). */
static void test_shared_weight(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_rng_seed(8);
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){0, 400});
    Value *w = teacher_param(g, "tied.weight", 2, (int64_t[]){400, 300});
    Value *h = gb_op2(g, "MatMul", 13, "first", x, w);
    Node *second = gb_node(g, "Gemm", 13, "second", 2, (Value *[]){h, w}, 1);
    gb_set_int(second, "transB", 1);
    gb_append_output(g, second->outputs[0]);
    reinit_ok(m, 3);
    assert_uniform(w, 400);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers),        cmocka_unit_test(test_others_untouched),
        cmocka_unit_test(test_deterministic), cmocka_unit_test(test_fan_in_layouts),
        cmocka_unit_test(test_subgraph),      cmocka_unit_test(test_other_dtype_refused),
        cmocka_unit_test(test_shared_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
