/* test_insert_norm.c - pass_insert_batchnorm and pass_batchnorm_identity: where the
 * BatchNormalization nodes go (hidden Conv layers without one; hidden Gemm/MatMul with
 * dense), that value names stay, and that the identity set from measured statistics
 * (calib_activation's mean and variance) leaves the network's outputs as they were, in
 * inference and, on the calibration batch itself, in training mode. Then folding the nodes
 * away (pass_fold_batchnorm) gives the same outputs and no BatchNormalization. On the
 * real case too: the half-width student of the BN-folded residual teacher, its nodes
 * inserted and written to ONNX without training, computes what it computed before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include "backend/onnx_export.h"
#include "frontend/onnx_import.h"
#include "frontend/tensor_file.h"
#include "passes/passes.h"
#include "passes/probes.h"
#include "tests/unit/plan_check.h"
#include "tests/unit/temp_dir.h"
#include "train/calibrate.h"

#define RESNET "tests/models/resnet_teacher.onnx"
#define RESNET_INPUT "tests/models/resnet_teacher_golden_input.npy"

enum { BATCH = 16, OPSET = 13 };

static void expect_ok(Status st, const Diag *d)
{
    if (st != KDC_OK)
        fail_msg("%s", d->msg);
}

static Value *conv(Graph *g, const char *name, Value *x, int64_t c_in, int64_t c_out)
{
    char w[64], b[64];
    snprintf(w, sizeof w, "%s.w", name);
    snprintf(b, sizeof b, "%s.b", name);
    Value *wv = gb_param(g, w, 4, (int64_t[]){c_out, c_in, 3, 3}, -0.5f, 0.5f);
    Value *bv = gb_param(g, b, 1, (int64_t[]){c_out}, -0.5f, 0.5f);
    Node *n = gb_node(g, "Conv", OPSET, name, 3, (Value *[]){x, wv, bv}, 1);
    gb_set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    return n->outputs[0];
}

static Value *bn(Graph *g, const char *name, Value *x, int64_t c)
{
    char p[4][64];
    const char *part[4] = {"scale", "B", "mean", "var"};
    Value *v[4];
    for (int i = 0; i < 4; i++) {
        snprintf(p[i], sizeof p[i], "%s.%s", name, part[i]);
        v[i] = gb_param(g, p[i], 1, (int64_t[]){c}, i == 3 ? 0.5f : -0.5f, 1.5f);
    }
    return gb_node(g, "BatchNormalization", OPSET, name, 5, (Value *[]){x, v[0], v[1], v[2], v[3]}, 1)->outputs[0];
}

/* x[N,2,6,6] -> c1 -> Relu -> c2 -> +r1 -> Relu -> c3 -> bn3 -> Relu -> GAP -> Flatten
 * -> fc1 (Gemm) -> Relu -> MatMul + bias -> Relu -> fc3 (Gemm): logits. c1, c2 and the
 * dense fc1 / MatMul are hidden and unnormalized; c3 has bn3 (or, without it, is
 * unnormalized too); fc3 writes the output. */
static Model *residual_net(bool with_bn3)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 6, 6});
    Value *r1 = gb_op1(g, "Relu", OPSET, "r1", conv(g, "c1", x, 2, 4));
    Value *sum = gb_op2(g, "Add", OPSET, "add", conv(g, "c2", r1, 4, 4), r1);
    Value *r2 = gb_op1(g, "Relu", OPSET, "r2", sum);
    Value *c3 = conv(g, "c3", r2, 4, 6);
    Value *r3 = gb_op1(g, "Relu", OPSET, "r3", with_bn3 ? bn(g, "bn3", c3, 6) : c3);
    Value *flat = gb_op1(g, "Flatten", OPSET, "flat", gb_op1(g, "GlobalAveragePool", OPSET, "gap", r3));
    Value *w1 = gb_param(g, "fc1.w", 2, (int64_t[]){5, 6}, -1, 1), *b1 = gb_param(g, "fc1.b", 1, (int64_t[]){5}, -1, 1);
    Node *fc1 = gb_node(g, "Gemm", OPSET, "fc1", 3, (Value *[]){flat, w1, b1}, 1);
    gb_set_int(fc1, "transB", 1);
    Value *h1 = gb_op1(g, "Relu", OPSET, "h1", fc1->outputs[0]);
    Value *w2 = gb_param(g, "mm.w", 2, (int64_t[]){5, 4}, -1, 1), *b2 = gb_param(g, "mm.b", 1, (int64_t[]){4}, -1, 1);
    Value *h2 = gb_op1(g, "Relu", OPSET, "h2", gb_op2(g, "Add", OPSET, "mm_add", gb_op2(g, "MatMul", OPSET, "mm", h1, w2), b2));
    Value *w3 = gb_param(g, "fc3.w", 2, (int64_t[]){4, 3}, -1, 1), *b3 = gb_param(g, "fc3.b", 1, (int64_t[]){3}, -1, 1);
    gb_append_output(g, gb_node(g, "Gemm", OPSET, "fc3", 3, (Value *[]){h2, w3, b3}, 1)->outputs[0]);
    Diag d = {{0}};
    expect_ok(pass_infer_shapes(g, &d), &d);
    return m;
}

static int count_op(const Graph *g, int op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += g->nodes[i]->op == op;
    return n;
}

/* The network's output on x, in a plan of mode. */
static double *run(Graph *g, PlanMode mode, const float *x)
{
    Plan *p = pc_build(g, mode, BATCH, 1);
    memcpy(plan_input(p, 0), x, (size_t)BATCH * 2 * 6 * 6 * sizeof *x);
    pc_forward(p);
    int64_t n = pc_output_numel(p, 0);
    double *y = pc_to_double(plan_output(p, 0), n);
    plan_free(p);
    return y;
}

/* Every site's input measured on x, then the identity. */
static void set_identity(Model *m, const NormInsertReport *rep, float *x)
{
    Tensor *t = tensor_new(m->arena, DT_FLOAT, 4, (int64_t[]){BATCH, 2, 6, 6});
    memcpy(t->data, x, t->nbytes);
    const Tensor *in[1] = {t};
    CalibData data = {in, 1, BATCH, BATCH};
    CalibRequest req[8];
    double abs[8][8], mean[8][8], var[8][8];
    const double *means[8], *vars[8];
    assert_true(rep->n_sites <= 8);
    for (int i = 0; i < rep->n_sites; i++) {
        req[i] = (CalibRequest){rep->sites[i].x, 1, abs[i], mean[i], var[i]};
        means[i] = mean[i];
        vars[i] = var[i];
    }
    Diag d = {{0}};
    expect_ok(calib_activation(m->graph, &data, req, rep->n_sites, &d), &d);
    pass_batchnorm_identity(rep, means, vars);
}

static void test_sites(void **state)
{
    (void)state;
    for (int dense = 0; dense < 2; dense++) {
        Model *m = residual_net(true);
        Graph *g = m->graph;
        Value *c1_out = graph_find_value(g, "c1_out"), *out = g->outputs[0];
        NormInsertReport rep;
        Diag d = {{0}};
        expect_ok(pass_insert_batchnorm(g, dense, &rep, &d), &d);
        assert_int_equal(rep.n_sites, dense ? 4 : 2);
        assert_string_equal(rep.sites[0].layer, "c1");
        assert_string_equal(rep.sites[1].layer, "c2");
        if (dense) {
            assert_string_equal(rep.sites[2].layer, "fc1");
            assert_string_equal(rep.sites[3].layer, "mm"); /* after its bias Add */
            assert_ptr_equal(rep.sites[3].bn->outputs[0], graph_find_value(g, "mm_add_out"));
        }
        assert_int_equal(count_op(g, OP_BatchNormalization), 1 + rep.n_sites);
        /* c1 writes c1_out/pre_norm; the new node writes c1_out, which Relu still reads */
        assert_ptr_equal(c1_out->producer, rep.sites[0].bn);
        assert_string_equal(rep.sites[0].x->name, "c1_out/pre_norm");
        assert_string_equal(rep.sites[0].x->producer->name, "c1");
        assert_int_equal(rep.sites[0].channels, 4);
        assert_ptr_equal(g->outputs[0], out);
        /* the pre-norm values are internal: names and globs for pairs never pick them */
        assert_true(pass_is_pre_norm(rep.sites[0].x));
        assert_false(pass_is_pre_norm(c1_out));
        Value *found[2];
        int n = 0;
        expect_ok(pass_probe_find(g, "c1_*", found, 2, &n, &d), &d);
        assert_int_equal(n, 1);
        assert_ptr_equal(found[0], c1_out);
        expect_ok(ir_verify(m, &d), &d);
        model_free(m);
    }
}

/* The net's outputs on a random batch, then the nodes inserted and set from that batch. */
typedef struct Inserted {
    Model *m;
    float *x;
    double *before;
    NormInsertReport rep;
} Inserted;

static Inserted insert_on_random_batch(bool with_bn3, bool dense)
{
    Inserted t = {residual_net(with_bn3), pc_random_floats(BATCH * 2 * 6 * 6), NULL, {0}};
    Graph *g = t.m->graph;
    Diag d = {{0}};
    t.before = run(g, PLAN_INFERENCE, t.x);
    expect_ok(pass_insert_batchnorm(g, dense, &t.rep, &d), &d);
    expect_ok(pass_infer_shapes(g, &d), &d);
    set_identity(t.m, &t.rep, t.x);
    return t;
}

/* The outputs of a plan of mode now, against those before insertion. */
static void expect_outputs(Inserted *t, PlanMode mode, double tol)
{
    double *after = run(t->m->graph, mode, t->x);
    for (int i = 0; i < BATCH * 3; i++)
        if (!(fabs(after[i] - t->before[i]) <= tol * (1 + fabs(t->before[i]))))
            fail_msg("output %d: %.7g, before insertion %.7g", i, after[i], t->before[i]);
    free(after);
}

static void inserted_free(Inserted *t)
{
    free(t->before);
    free(t->x);
    model_free(t->m);
}

/* Inference: exact identity; training on the calibration batch: batch statistics are the
 * measured ones, so the identity too (up to the epsilon's share of small variances). The
 * net has no BatchNormalization of its own, which training mode would change. */
static void test_identity(void **state)
{
    (void)state;
    for (int dense = 0; dense < 2; dense++) {
        Inserted t = insert_on_random_batch(false, dense);
        expect_outputs(&t, PLAN_INFERENCE, 1e-5);
        expect_outputs(&t, PLAN_TRAINING, 1e-3);
        inserted_free(&t);
    }
}

/* Inserted, then folded for emission: no BatchNormalization left, the same outputs. */
static void test_fold_after_insert(void **state)
{
    (void)state;
    Inserted t = insert_on_random_batch(true, true);
    Graph *g = t.m->graph;
    Diag d = {{0}};
    int folded = 0, kept = 0;
    expect_ok(pass_fold_batchnorm(g, &folded, &kept, &d), &d);
    expect_ok(pass_eliminate_dead(g, &d), &d);
    assert_int_equal(folded, 5); /* the four inserted and bn3 */
    assert_int_equal(kept, 0);
    assert_int_equal(count_op(g, OP_BatchNormalization), 0);
    expect_ok(ir_verify(t.m, &d), &d);
    expect_outputs(&t, PLAN_INFERENCE, 1e-4);
    assert_non_null(graph_find_value(g, "c1_out"));
    inserted_free(&t);
}

/* Nothing hidden and unnormalized: nothing inserted, the graph as it was. */
static void test_nothing_to_do(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 2, 6, 6});
    Value *y = gb_op1(g, "Relu", OPSET, "r", bn(g, "bn", conv(g, "c1", x, 2, 3), 3));
    gb_append_output(g, conv(g, "head", y, 3, 2)); /* writes the output: not hidden */
    Diag d = {{0}};
    expect_ok(pass_infer_shapes(g, &d), &d);
    int nodes = g->n_nodes;
    NormInsertReport rep;
    expect_ok(pass_insert_batchnorm(g, true, &rep, &d), &d);
    assert_int_equal(rep.n_sites, 0);
    assert_int_equal(g->n_nodes, nodes);
    model_free(m);
}

/* The model at path, normalized as kdc loads models. */
static Model *load(const char *path)
{
    Model *m = NULL;
    Diag d = {{0}};
    expect_ok(onnx_import_file(path, &m, &d), &d);
    Graph *g = m->graph;
    expect_ok(pass_infer_shapes(g, &d) || pass_fold_constants(g, &d) || pass_eliminate_dead(g, &d) ||
                  pass_infer_shapes(g, &d),
              &d);
    return m;
}

/* The first output on the golden batch, [8, 10]. */
static double *run_golden(Graph *g, PlanMode mode, const Tensor *x)
{
    Shape shapes[1] = {shape_from_dims(x->rank, x->dims)};
    Plan *p = NULL;
    Diag d = {{0}};
    expect_ok(plan_build(g, mode, shapes, 1, &p, &d), &d);
    memcpy(plan_input(p, 0), x->data, x->nbytes);
    pc_forward(p);
    double *y = pc_to_double(plan_output(p, 0), pc_output_numel(p, 0));
    plan_free(p);
    return y;
}

static void expect_same_logits(const double *got, const double *want, double tol)
{
    for (int i = 0; i < 8 * 10; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i]))))
            fail_msg("logit %d: %.7g, before insertion %.7g", i, got[i], want[i]);
}

/* Emitted without training, with the nodes kept and with them folded: the same logits
 * (in training mode too, on the calibration batch). */
static void test_resnet_student(void **state)
{
    (void)state;
    Model *m = load(RESNET);
    Graph *g = m->graph;
    Tensor *x = NULL;
    Diag d = {{0}};
    expect_ok(tensor_file_read(RESNET_INPUT, m, &x, &d), &d);
    expect_ok(pass_shrink_width(g, &(StudentOptions){.width = 0.5}, &d), &d);
    expect_ok(pass_infer_shapes(g, &d), &d);
    double *before = run_golden(g, PLAN_INFERENCE, x);
    NormInsertReport rep;
    expect_ok(pass_insert_batchnorm(g, false, &rep, &d), &d);
    assert_int_equal(rep.n_sites, 9); /* every Conv: each feeds another layer */
    expect_ok(pass_infer_shapes(g, &d), &d);
    /* calibrated on the golden batch itself; 64 channels at most */
    static double abs[9][64], mean[9][64], var[9][64];
    const double *means[9], *vars[9];
    CalibRequest req[9];
    for (int i = 0; i < 9; i++) {
        req[i] = (CalibRequest){rep.sites[i].x, 1, abs[i], mean[i], var[i]};
        means[i] = mean[i];
        vars[i] = var[i];
    }
    CalibData data = {(const Tensor *[]){x}, 1, 8, 8};
    expect_ok(calib_activation(g, &data, req, 9, &d), &d);
    pass_batchnorm_identity(&rep, means, vars);
    char kept[128], folded[128];
    snprintf(kept, sizeof kept, "%s/kept.onnx", temp_dir);
    snprintf(folded, sizeof folded, "%s/folded.onnx", temp_dir);
    expect_ok(onnx_export_file(m, kept, &d), &d);
    int n_folded = 0, n_kept = 0;
    expect_ok(pass_fold_batchnorm(g, &n_folded, &n_kept, &d), &d);
    assert_int_equal(n_folded, 9);
    expect_ok(pass_eliminate_dead(g, &d) || onnx_export_file(m, folded, &d), &d);
    const char *paths[2] = {kept, folded};
    for (int k = 0; k < 2; k++) {
        Model *e = load(paths[k]);
        assert_int_equal(count_op(e->graph, OP_BatchNormalization), k == 0 ? 9 : 0);
        double *after = run_golden(e->graph, PLAN_INFERENCE, x);
        expect_same_logits(after, before, 1e-4);
        free(after);
        /* Training mode normalizes with the batch's statistics: on the calibration batch,
         * the identity only when the nodes were set from it (not with placeholders). */
        after = run_golden(e->graph, PLAN_TRAINING, x);
        expect_same_logits(after, before, 1e-3);
        free(after);
        model_free(e);
    }
    free(before);
    model_free(m);
}

static int setup(void **state)
{
    return pc_setup_threads(state) || temp_dir_setup(state);
}

static int teardown(void **state)
{
    return pc_teardown_threads(state) | temp_dir_teardown(state);
}

/* Weights that are graph inputs (old exports list initializers as inputs) or shared could
 * not be folded back: no node goes after such a layer. */
static void test_weights_not_private(void **state)
{
    (void)state;
    Model *m = residual_net(false);
    Graph *g = m->graph;
    gb_append_input(g, graph_find_value(g, "c1.w"));
    Node *c2 = graph_find_value(g, "c2_out")->producer;
    c2->inputs[1] = graph_find_value(g, "c3.w"); /* never run: the shape does not matter */
    NormInsertReport rep;
    Diag d = {{0}};
    expect_ok(pass_insert_batchnorm(g, false, &rep, &d), &d);
    assert_int_equal(rep.n_sites, 0); /* c1: graph input; c2, c3: the shared weight */
    model_free(m);
}

int main(void)
{
    gb_rng_seed(7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sites),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_fold_after_insert),
        cmocka_unit_test(test_nothing_to_do),
        cmocka_unit_test(test_resnet_student),
        cmocka_unit_test(test_weights_not_private),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
