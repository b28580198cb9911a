/* test_calibrate.c - calibration measurements (train/calibrate.c) and the
 * plan probe they read values through (runtime/plan_probe.c).
 *
 * Activation means are checked against literal hand-computed numbers and
 * against loops over the data (4-D, int64 token ids through a Gather);
 * Taylor scores against the gradient of a single Gemm (pseudo-label
 * cross-entropy) and a MatMul (0.5 * mean square) worked out in double in
 * the test; cosine scores are 0 for identical values, 2 for negated ones and
 * a literal value for a mixed batch. Every run uses a batch that leaves a
 * remainder, so both of calibration's plans count. The graph must come out
 * bit-identical (initializers, BatchNormalization running statistics,
 * output list), and bad data, axes and values give one-line errors that name
 * the input, value or file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "backend/tensor_file.h"
#include "frontend/tensor_file.h"
#include "passes/passes.h"
#include "runtime/plan_probe.h"
#include "tests/unit/plan_check.h"
#include "tests/unit/temp_dir.h"
#include "train/calibrate.h"

/* ---- helpers ---- */

static Tensor *data_tensor(Model *m, DType dt, int rank, const int64_t *dims, const void *values)
{
    Tensor *t = tensor_new(m->arena, dt, rank, dims);
    memcpy(t->data, values, t->nbytes);
    return t;
}

static void infer(Graph *g)
{
    Diag d = {{0}};
    if (pass_infer_shapes(g, &d))
        fail_msg("infer shapes: %s", d.msg);
}

static void expect_ok(Status st, const Diag *d)
{
    if (st != KDC_OK)
        fail_msg("unexpected error: %s", d->msg);
}

/* The call failed with a one-line message containing every fragment. */
static void expect_error(Status st, const Diag *d, const char *a, const char *b)
{
    assert_int_equal(st, KDC_ERR);
    assert_null(strchr(d->msg, '\n'));
    if (!strstr(d->msg, a) || (b && !strstr(d->msg, b)))
        fail_msg("message '%s' lacks '%s'%s%s", d->msg, a, b ? " or " : "", b ? b : "");
}

static void expect_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want))))
        fail_msg("got %.9g, expected %.9g", got, want);
}

static Value *named(Graph *g, const char *op, int opset, const char *out, int n_in, Value *const *in)
{
    return gb_node_to(g, op, opset, out, n_in, in, out)->outputs[0];
}

/* A copy of every initializer's bytes, to compare the graph after calibration. */
static void **copy_inits(const Graph *g)
{
    void **copies = calloc((size_t)g->n_inits + 1, sizeof *copies);
    assert_non_null(copies);
    for (int i = 0; i < g->n_inits; i++) {
        copies[i] = malloc(g->inits[i]->init->nbytes + 1);
        assert_non_null(copies[i]);
        memcpy(copies[i], g->inits[i]->init->data, g->inits[i]->init->nbytes);
    }
    return copies;
}

static bool inits_equal(const Graph *g, void **copies)
{
    for (int i = 0; i < g->n_inits; i++)
        if (memcmp(copies[i], g->inits[i]->init->data, g->inits[i]->init->nbytes))
            return false;
    return true;
}

static void free_copies(const Graph *g, void **copies)
{
    for (int i = 0; i < g->n_inits; i++)
        free(copies[i]);
    free(copies);
}

/* x [N, 2] -> h = x * 2 -> m = h * 3 -> out = m + 1: h and m are
 * intermediates whose buffers an inference plan reuses. */
typedef struct Chain {
    Model *m;
    Value *x, *h, *mul, *out;
} Chain;

static Chain chain_new(void)
{
    Chain c = {model_new(), 0, 0, 0, 0};
    Graph *g = c.m->graph;
    c.x = gb_batch_input(g, "x", 2, (int64_t[]){1, 2});
    Value *two = gb_init_copy(g, "two", DT_FLOAT, 1, (int64_t[]){2}, (float[]){2, 2});
    Value *three = gb_init_copy(g, "three", DT_FLOAT, 0, NULL, (float[]){3});
    Value *one = gb_init_copy(g, "one", DT_FLOAT, 0, NULL, (float[]){1});
    c.h = named(g, "Mul", 14, "h", 2, (Value *[]){c.x, two});
    c.mul = named(g, "Mul", 14, "m", 2, (Value *[]){c.h, three});
    c.out = named(g, "Add", 14, "out", 2, (Value *[]){c.mul, one});
    gb_append_output(g, c.out);
    infer(g);
    return c;
}

static const float chain_x[6] = {1, -2, 3, 4, -5, 6};

/* ---- activation importance ---- */

static void run_chain_activation(int64_t batch)
{
    Chain c = chain_new();
    Graph *g = c.m->graph;
    Value **outputs = g->outputs;
    const Tensor *in[1] = {data_tensor(c.m, DT_FLOAT, 2, (int64_t[]){3, 2}, chain_x)};
    CalibData data = {in, 1, 3, batch};
    double h1[2], hlast[2], x1[2], out1[2];
    CalibRequest req[4] = {{c.h, 1, h1, NULL, NULL}, {c.h, -1, hlast, NULL, NULL}, {c.x, 1, x1, NULL, NULL}, {c.out, 1, out1, NULL, NULL}};
    Diag d = {{0}};
    expect_ok(calib_activation(g, &data, req, 4, &d), &d);
    /* h = 2x: |h| per column is (2+6+10)/3 and (4+8+12)/3; out = 3h + 1 */
    expect_near(h1[0], 6, 1e-12);
    expect_near(h1[1], 8, 1e-12);
    expect_near(hlast[0], 6, 1e-12);
    expect_near(hlast[1], 8, 1e-12);
    expect_near(x1[0], 3, 1e-12);
    expect_near(x1[1], 4, 1e-12);
    expect_near(out1[0], (7 + 19 + 29) / 3.0, 1e-12);
    expect_near(out1[1], (11 + 25 + 37) / 3.0, 1e-12);
    assert_ptr_equal(g->outputs, outputs);
    assert_int_equal(g->n_outputs, 1);
    model_free(c.m);
}

/* Mean and variance beside mean |x|: h = 2x has columns 2, 6, -10 and -4, 8, 12. */
static void test_activation_moments(void **state)
{
    (void)state;
    Chain c = chain_new();
    const Tensor *in[1] = {data_tensor(c.m, DT_FLOAT, 2, (int64_t[]){3, 2}, chain_x)};
    CalibData data = {in, 1, 3, 2};
    double abs[2], mean[2], var[2];
    CalibRequest req = {c.h, 1, abs, mean, var};
    Diag d = {{0}};
    expect_ok(calib_activation(c.m->graph, &data, &req, 1, &d), &d);
    expect_near(abs[0], 6, 1e-12);
    expect_near(mean[0], -2 / 3.0, 1e-12);
    expect_near(mean[1], 16 / 3.0, 1e-12);
    expect_near(var[0], 416 / 9.0, 1e-12);
    expect_near(var[1], 416 / 9.0, 1e-12);
    req.var = NULL; /* both or neither */
    expect_error(calib_activation(c.m->graph, &data, &req, 1, &d), &d, "value 'h' has no output array", NULL);
    model_free(c.m);
}

static void test_activation_literal(void **state)
{
    (void)state;
    run_chain_activation(2);  /* a plan of 2 and one of 1 */
    run_chain_activation(10); /* capped: one plan of 3 */
    run_chain_activation(1);
}

/* x [N, 2, 3, 3] -> Relu -> * scale[c] (r) -> Sigmoid: means along the
 * channel and a spatial axis against loops over the data. */
static void test_activation_4d(void **state)
{
    (void)state;
    enum { N = 7, C = 2, H = 3, W = 3 };
    Model *m = model_new();
    Graph *g = m->graph;
    gb_rng_seed(11);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, C, H, W});
    Value *scale = gb_init_copy(g, "scale", DT_FLOAT, 4, (int64_t[]){1, C, 1, 1}, (float[]){0.5f, -2});
    Value *r = named(g, "Relu", 14, "r", 1, &x);
    Value *s = named(g, "Mul", 14, "s", 2, (Value *[]){r, scale});
    gb_append_output(g, named(g, "Sigmoid", 13, "y", 1, &s));
    infer(g);
    float xs[N * C * H * W];
    gb_fill_random(xs, N * C * H * W, -1, 1);
    const Tensor *in[1] = {data_tensor(m, DT_FLOAT, 4, (int64_t[]){N, C, H, W}, xs)};
    CalibData data = {in, 1, N, 3};
    double by_c[C], by_h[H], want_c[C] = {0}, want_h[H] = {0};
    CalibRequest req[2] = {{s, 1, by_c, NULL, NULL}, {s, 2, by_h, NULL, NULL}};
    Diag d = {{0}};
    expect_ok(calib_activation(g, &data, req, 2, &d), &d);
    const float sc[C] = {0.5f, -2};
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++) {
                float v = xs[(n * C + c) * H * W + i];
                double a = fabs((v > 0 ? v : 0) * sc[c]);
                want_c[c] += a / (N * H * W);
                want_h[i / W] += a / (N * C * W);
            }
    for (int c = 0; c < C; c++)
        expect_near(by_c[c], want_c[c], 1e-9);
    for (int h = 0; h < H; h++)
        expect_near(by_h[h], want_h[h], 1e-9);
    model_free(m);
}

/* ---- the plan probe ---- */

static void test_probe_inference(void **state)
{
    (void)state;
    Chain c = chain_new();
    Graph *g = c.m->graph;
    Shape shapes[1];
    int n = 0;
    Diag d = {{0}};
    Plan *plain = NULL, *kept = NULL, *none = NULL;
    expect_ok(plan_input_shapes_for_batch(g, 3, shapes, 1, &n, &d), &d);
    expect_ok(plan_build(g, PLAN_INFERENCE, shapes, 0, &plain, &d), &d);
    ProbeView view;
    expect_error(plan_probe_value(plain, c.h, &view, &d), &d, "'h'", "plan_probe_build");
    expect_ok(plan_probe_build(g, PLAN_INFERENCE, shapes, (const Value *[]){c.h, c.x}, 2, 0, &kept, &d), &d);
    assert_int_equal(plan_n_outputs(kept), 1);
    assert_int_equal(g->n_outputs, 1);
    memcpy(plan_input(kept, 0), chain_x, sizeof chain_x);
    expect_ok(plan_forward(kept, &d), &d);
    expect_ok(plan_probe_value(kept, c.h, &view, &d), &d);
    assert_int_equal(view.dtype, DT_FLOAT);
    assert_int_equal(view.numel, 6);
    assert_int_equal(view.shape.dims[0].value, 3);
    for (int i = 0; i < 6; i++)
        assert_true(((const float *)view.data)[i] == 2 * chain_x[i]);
    expect_ok(plan_probe_value(kept, g->inits[0], &view, &d), &d); /* initializers are never laid out */
    assert_ptr_equal(view.data, g->inits[0]->init->data);
    const float *grad;
    int64_t numel;
    expect_error(plan_probe_grad(kept, c.h, &grad, &numel, &d), &d, "'h'", "training plans only");
    Chain other = chain_new();
    expect_error(plan_probe_value(kept, other.h, &view, &d), &d, "'h'", "not defined");
    expect_error(plan_probe_build(g, PLAN_INFERENCE, shapes, (const Value *[]){other.h}, 1, 0, &none, &d), &d, "'h'",
                 "not defined");
    assert_null(none);
    assert_int_equal(g->n_outputs, 1);
    model_free(other.m);
    plan_free(plain);
    plan_free(kept);
    model_free(c.m);
}

static void test_probe_training_grad(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_rng_seed(5);
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3});
    Value *w = gb_param(g, "w", 2, (int64_t[]){3, 2}, -1, 1);
    Value *y = named(g, "MatMul", 13, "y", 2, (Value *[]){x, w});
    gb_append_output(g, named(g, "Tanh", 13, "t", 1, &y));
    infer(g);
    Plan *p = pc_build(g, PLAN_TRAINING, 4, 0);
    pc_fill_input(p, 0, -1, 1);
    pc_forward(p);
    plan_zero_grads(p);
    float *dy = plan_output_grad(p, 0);
    for (int i = 0; i < 8; i++)
        dy[i] = 0.25f * (float)(i - 3);
    plan_backward(p);
    PlanParam *params;
    assert_int_equal(plan_params(p, &params), 1);
    const float *grad;
    int64_t numel;
    Diag d = {{0}};
    expect_ok(plan_probe_grad(p, w, &grad, &numel, &d), &d);
    assert_int_equal(numel, 6);
    assert_memory_equal(grad, params[0].grad, 6 * sizeof(float));
    expect_ok(plan_probe_grad(p, y, &grad, &numel, &d), &d); /* downstream of w */
    assert_int_equal(numel, 8);
    expect_error(plan_probe_grad(p, x, &grad, &numel, &d), &d, "'x'", "no gradient");
    ProbeView view;
    expect_ok(plan_probe_value(p, y, &view, &d), &d); /* training plans keep every activation */
    plan_free(p);
    model_free(m);
}

/* ---- Taylor importance ---- */

static const float gemm_x[5][3] = {
    {1, 0.5f, -1}, {0.2f, -1, 2}, {-1.5f, 0.3f, 0.4f}, {0.7f, 0.9f, -0.2f}, {2, -0.4f, 1}};
static const float gemm_w[3][4] = {{0.5f, -1, 0.25f, 2}, {1.5f, 0.3f, -0.7f, 0.1f}, {-0.6f, 0.8f, 1.2f, -0.4f}};
static const float gemm_b[4] = {0.1f, -0.2f, 0.3f, 0};

/* dL/dlogits of one row, already divided by the batch size. */
static void ce_row_grad(const float *x, double rows, double *dy)
{
    double z[4], max = -INFINITY, sum = 0, second = -INFINITY;
    int best = 0;
    for (int j = 0; j < 4; j++) {
        z[j] = gemm_b[j];
        for (int i = 0; i < 3; i++)
            z[j] += (double)x[i] * gemm_w[i][j];
        if (z[j] > max) {
            second = max;
            max = z[j];
            best = j;
        } else if (z[j] > second) {
            second = z[j];
        }
    }
    assert_true(max - second > 1e-3); /* the float model picks the same pseudo-label */
    for (int j = 0; j < 4; j++)
        sum += exp(z[j] - max);
    for (int j = 0; j < 4; j++)
        dy[j] = (exp(z[j] - max) / sum - (j == best)) / rows;
}

static void gemm_taylor_reference(int64_t batch, double *sw, double *sb)
{
    memset(sw, 0, 12 * sizeof *sw);
    memset(sb, 0, 4 * sizeof *sb);
    for (int first = 0; first < 5; first += (int)batch) {
        int rows = 5 - first < batch ? 5 - first : (int)batch;
        double dw[12] = {0}, db[4] = {0}, dy[4];
        for (int r = first; r < first + rows; r++) {
            ce_row_grad(gemm_x[r], rows, dy);
            for (int j = 0; j < 4; j++) {
                db[j] += dy[j];
                for (int i = 0; i < 3; i++)
                    dw[i * 4 + j] += gemm_x[r][i] * dy[j];
            }
        }
        for (int k = 0; k < 12; k++)
            sw[k] += fabs(gemm_w[k / 4][k % 4] * dw[k]);
        for (int j = 0; j < 4; j++)
            sb[j] += fabs(gemm_b[j] * db[j]);
    }
}

static void test_taylor_gemm_pseudo_labels(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 3});
    Value *w = gb_init_copy(g, "w", DT_FLOAT, 2, (int64_t[]){3, 4}, gemm_w);
    Value *b = gb_init_copy(g, "b", DT_FLOAT, 1, (int64_t[]){4}, gemm_b);
    gb_append_output(g, named(g, "Gemm", 13, "logits", 3, (Value *[]){x, w, b}));
    infer(g);
    const Tensor *in[1] = {data_tensor(m, DT_FLOAT, 2, (int64_t[]){5, 3}, gemm_x)};
    for (int64_t batch = 1; batch <= 5; batch++) {
        CalibData data = {in, 1, 5, batch};
        CalibTaylor t;
        Diag d = {{0}};
        double sw[12], sb[4];
        expect_ok(calib_taylor(g, &data, &t, &d), &d);
        assert_int_equal(t.n_params, 2);
        const CalibTaylorParam *pw = calib_taylor_find(&t, w), *pb = calib_taylor_find(&t, b);
        assert_non_null(pw);
        assert_non_null(pb);
        assert_int_equal(pw->numel, 12);
        gemm_taylor_reference(batch, sw, sb);
        for (int k = 0; k < 12; k++)
            expect_near(pw->score[k], sw[k], 1e-5);
        for (int j = 0; j < 4; j++)
            expect_near(pb->score[j], sb[j], 1e-5);
        assert_null(calib_taylor_find(&t, x));
        calib_taylor_free(&t);
        assert_int_equal(t.n_params, 0);
    }
    model_free(m);
}

/* y = x [N, 2, 3] @ w [3, 2]: rank 3, so L = 0.5 * mean(y^2) and dy = y / numel. */
static void test_taylor_matmul_mean_square(void **state)
{
    (void)state;
    enum { N = 3, R = 2, I = 3, J = 2 };
    Model *m = model_new();
    Graph *g = m->graph;
    gb_rng_seed(3);
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, R, I});
    Value *w = gb_param(g, "w", 2, (int64_t[]){I, J}, -1, 1);
    gb_append_output(g, named(g, "MatMul", 13, "y", 2, (Value *[]){x, w}));
    infer(g);
    float xs[N * R * I];
    gb_fill_random(xs, N * R * I, -1, 1);
    const Tensor *in[1] = {data_tensor(m, DT_FLOAT, 3, (int64_t[]){N, R, I}, xs)};
    CalibData data = {in, 1, N, 2};
    CalibTaylor t;
    Diag d = {{0}};
    expect_ok(calib_taylor(g, &data, &t, &d), &d);
    assert_int_equal(t.n_params, 1);
    const float *wv = w->init->data;
    double want[I * J] = {0};
    for (int first = 0; first < N; first += 2) {
        int rows = N - first < 2 ? N - first : 2;
        double dw[I * J] = {0}, numel = rows * R * J;
        for (int n = first; n < first + rows; n++)
            for (int r = 0; r < R; r++)
                for (int j = 0; j < J; j++) {
                    const float *xr = xs + (n * R + r) * I;
                    double y = 0;
                    for (int i = 0; i < I; i++)
                        y += (double)xr[i] * wv[i * J + j];
                    for (int i = 0; i < I; i++)
                        dw[i * J + j] += xr[i] * y / numel;
                }
        for (int k = 0; k < I * J; k++)
            want[k] += fabs(wv[k] * dw[k]);
    }
    for (int k = 0; k < I * J; k++)
        expect_near(t.params[0].score[k], want[k], 1e-5);
    calib_taylor_free(&t);
    model_free(m);
}

/* x [N, 2, 2, 2] -> BatchNormalization -> Relu: a training plan moves the
 * running statistics; calibration must leave every initializer as it was. */
static void test_graph_unchanged(void **state)
{
    (void)state;
    enum { N = 6, C = 2 };
    Model *m = model_new();
    Graph *g = m->graph;
    gb_rng_seed(9);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, C, 2, 2});
    Value *bn_in[5] = {x, gb_param(g, "bn.scale", 1, (int64_t[]){C}, 0.5f, 1.5f),
                       gb_param(g, "bn.bias", 1, (int64_t[]){C}, -0.5f, 0.5f),
                       gb_param(g, "bn.mean", 1, (int64_t[]){C}, -0.2f, 0.2f),
                       gb_param(g, "bn.var", 1, (int64_t[]){C}, 0.5f, 1.5f)};
    Value *bn = named(g, "BatchNormalization", 15, "bn", 5, bn_in);
    Value *r = named(g, "Relu", 14, "r", 1, &bn);
    gb_append_output(g, r);
    infer(g);
    float xs[N * C * 4];
    gb_fill_random(xs, N * C * 4, -2, 3);
    const Tensor *in[1] = {data_tensor(m, DT_FLOAT, 4, (int64_t[]){N, C, 2, 2}, xs)};
    CalibData data = {in, 1, N, 4};
    void **before = copy_inits(g);

    /* the premise: one training forward changes the running statistics */
    Plan *p = pc_build(g, PLAN_TRAINING, 4, 0);
    memcpy(plan_input(p, 0), xs, 16 * sizeof(float));
    pc_forward(p);
    plan_free(p);
    assert_false(inits_equal(g, before));
    for (int i = 0; i < g->n_inits; i++)
        memcpy(g->inits[i]->init->data, before[i], g->inits[i]->init->nbytes);

    CalibTaylor t;
    Diag d = {{0}};
    expect_ok(calib_taylor(g, &data, &t, &d), &d);
    assert_true(inits_equal(g, before));
    assert_non_null(calib_taylor_find(&t, bn_in[1]));
    assert_null(calib_taylor_find(&t, bn_in[3])); /* running statistics are not trained */
    calib_taylor_free(&t);
    double mean_abs[C];
    CalibRequest req = {bn, 1, mean_abs, NULL, NULL};
    expect_ok(calib_activation(g, &data, &req, 1, &d), &d);
    CalibPair pair = {bn, r, 0};
    expect_ok(calib_cosine(g, &data, &pair, 1, &d), &d);
    assert_true(inits_equal(g, before));
    assert_int_equal(g->n_outputs, 1);
    assert_ptr_equal(g->outputs[0], r);

    CalibData bad = {in, 1, N, 0}; /* an error after the save restores too */
    expect_error(calib_taylor(g, &bad, &t, &d), &d, "batch size 0", NULL);
    assert_true(inits_equal(g, before));
    free_copies(g, before);
    model_free(m);
}

/* ---- block similarity ---- */

static void test_cosine(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *h = named(g, "Relu", 14, "h", 1, &x);
    Value *neg = named(g, "Neg", 13, "neg", 1, &h);
    Value *three = gb_init_copy(g, "three", DT_FLOAT, 0, NULL, (float[]){3});
    gb_append_output(g, named(g, "Mul", 14, "y", 2, (Value *[]){neg, three}));
    infer(g);
    /* per sample, x vs Relu(x): cos = 1/sqrt(2); identical; both all zero */
    const float xs[12] = {1, -1, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0};
    const Tensor *in[1] = {data_tensor(m, DT_FLOAT, 2, (int64_t[]){3, 4}, xs)};
    CalibData data = {in, 1, 3, 2};
    CalibPair pairs[4] = {{h, h, -1}, {h, neg, -1}, {x, h, -1}, {neg, g->outputs[0], -1}};
    Diag d = {{0}};
    expect_ok(calib_cosine(g, &data, pairs, 4, &d), &d);
    expect_near(pairs[0].score, 0, 1e-12);
    /* sample 3 is all zeros on both sides: identical, so 2 over two of three samples */
    expect_near(pairs[1].score, 2.0 * 2 / 3, 1e-12);
    expect_near(pairs[2].score, (1 - 1 / sqrt(2.0)) / 3, 1e-9);
    expect_near(pairs[3].score, 0, 1e-12);

    const float pos[12] = {1, 2, 3, 4, 0.5f, 0.1f, 0.2f, 9, 1, 1, 1, 1};
    const Tensor *in2[1] = {data_tensor(m, DT_FLOAT, 2, (int64_t[]){3, 4}, pos)};
    CalibData data2 = {in2, 1, 3, 2};
    expect_ok(calib_cosine(g, &data2, pairs, 2, &d), &d);
    expect_near(pairs[0].score, 0, 1e-12);
    expect_near(pairs[1].score, 2, 1e-12);
    model_free(m);
}

/* ---- errors ---- */

static void test_data_errors(void **state)
{
    (void)state;
    Chain c = chain_new();
    Graph *g = c.m->graph;
    Diag d = {{0}};
    double out[2];
    CalibRequest req = {c.h, 1, out, NULL, NULL};
    const Tensor *wide[1] = {data_tensor(c.m, DT_FLOAT, 2, (int64_t[]){3, 3}, (float[9]){0})};
    CalibData data = {wide, 1, 3, 2};
    expect_error(calib_activation(g, &data, &req, 1, &d), &d, "input 'x'", "[3,3]");
    expect_error(calib_data_check(g, &data, &d), &d, "input 'x' of shape [N,2]", NULL);
    const Tensor *flat[1] = {data_tensor(c.m, DT_FLOAT, 1, (int64_t[]){6}, chain_x)};
    data.inputs = flat;
    expect_error(calib_data_check(g, &data, &d), &d, "data of shape [6]", "input 'x'");
    const Tensor *ints[1] = {data_tensor(c.m, DT_INT64, 2, (int64_t[]){3, 2}, (int64_t[6]){0})};
    data.inputs = ints;
    expect_error(calib_data_check(g, &data, &d), &d, "data is int64 but input 'x' takes float", NULL);
    const Tensor *ok[2] = {data_tensor(c.m, DT_FLOAT, 2, (int64_t[]){3, 2}, chain_x), NULL};
    data = (CalibData){ok, 2, 3, 2};
    expect_error(calib_data_check(g, &data, &d), &d, "2 tensors for a model with 1 inputs", NULL);
    data = (CalibData){ok, 1, 4, 2};
    expect_error(calib_data_check(g, &data, &d), &d, "3 samples for input 'x' but the calibration set has 4", NULL);
    data = (CalibData){ok, 1, 3, 2};
    expect_ok(calib_data_check(g, &data, &d), &d);
    model_free(c.m);
}

static void test_request_errors(void **state)
{
    (void)state;
    Chain c = chain_new();
    Chain other = chain_new();
    Graph *g = c.m->graph;
    Diag d = {{0}};
    const Tensor *in[1] = {data_tensor(c.m, DT_FLOAT, 2, (int64_t[]){3, 2}, chain_x)};
    CalibData data = {in, 1, 3, 2};
    double out[4];
    CalibRequest req = {c.h, 2, out, NULL, NULL};
    expect_error(calib_activation(g, &data, &req, 1, &d), &d, "value 'h'", "axis 2 is out of range");
    req.axis = 0;
    expect_error(calib_activation(g, &data, &req, 1, &d), &d, "value 'h'", "dim 0 has no fixed size");
    req = (CalibRequest){other.h, 1, out, NULL, NULL};
    expect_error(calib_activation(g, &data, &req, 1, &d), &d, "'h'", "not defined in the calibrated graph");
    CalibPair pair = {c.h, other.h, 0};
    expect_error(calib_cosine(g, &data, &pair, 1, &d), &d, "'h'", "not defined in the calibrated graph");
    model_free(other.m);

    /* a pair of different shapes, and a value whose dim 0 is not the samples */
    Value *t = named(g, "Transpose", 13, "t", 1, &c.h);
    gb_append_output(g, t);
    infer(g);
    data.batch = 3; /* h [3, 2] and t [2, 3] */
    pair = (CalibPair){c.h, t, 0};
    expect_error(calib_cosine(g, &data, &pair, 1, &d), &d, "'h' and 't'", "different shapes");
    pair = (CalibPair){t, t, 0};
    expect_error(calib_cosine(g, &data, &pair, 1, &d), &d, "'t'", "samples on dim 0");
    model_free(c.m);
}

/* An input declaring batch 2 fixes the batch and needs a multiple of it. */
static void test_fixed_batch(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_input(g, "x", DT_FLOAT, 2, (int64_t[]){2, 2});
    gb_append_output(g, named(g, "Relu", 14, "r", 1, &x));
    infer(g);
    const Tensor *three[1] = {data_tensor(m, DT_FLOAT, 2, (int64_t[]){3, 2}, chain_x)};
    const Tensor *four[1] = {data_tensor(m, DT_FLOAT, 2, (int64_t[]){4, 2}, (float[]){1, 2, 3, 4, 5, 6, 7, 8})};
    double out[2];
    CalibRequest req = {g->outputs[0], 1, out, NULL, NULL};
    Diag d = {{0}};
    CalibData data = {three, 1, 3, 5};
    expect_error(calib_activation(g, &data, &req, 1, &d), &d, "input 'x' has a fixed batch of 2", NULL);
    data = (CalibData){four, 1, 4, 3};
    expect_ok(calib_activation(g, &data, &req, 1, &d), &d);
    expect_near(out[0], 4, 1e-12);
    expect_near(out[1], 5, 1e-12);
    CalibTaylor taylor;
    expect_error(calib_taylor(g, &data, &taylor, &d), &d, "no trainable float initializers", NULL);
    model_free(m);
}

/* ---- calibration files ---- */

static void write_npy(const char *name, DType dt, int rank, const int64_t *dims, const void *values, char *path)
{
    Model *m = model_new();
    Diag d = {{0}};
    snprintf(path, 256, "%s/%s", temp_dir, name);
    expect_ok(tensor_file_write_npy(path, data_tensor(m, dt, rank, dims, values), &d), &d);
    model_free(m);
}

static void test_files_float(void **state)
{
    (void)state;
    Chain c = chain_new();
    Graph *g = c.m->graph;
    char good[256], bad[256];
    write_npy("x.npy", DT_FLOAT, 2, (int64_t[]){3, 2}, chain_x, good);
    write_npy("x3.npy", DT_FLOAT, 2, (int64_t[]){2, 3}, chain_x, bad);
    CalibFiles files;
    Diag d = {{0}};
    expect_ok(calib_files_load(g, (const char *[]){good}, 1, 2, tensor_file_read, &files, &d), &d);
    assert_int_equal(files.data.n_samples, 3);
    assert_int_equal(files.data.batch, 2);
    double out[2];
    CalibRequest req = {c.h, 1, out, NULL, NULL};
    expect_ok(calib_activation(g, &files.data, &req, 1, &d), &d);
    expect_near(out[0], 6, 1e-12);
    expect_near(out[1], 8, 1e-12);
    calib_files_free(&files);
    assert_null(files.store);
    expect_error(calib_files_load(g, (const char *[]){bad}, 1, 2, tensor_file_read, &files, &d), &d, bad, "input 'x'");
    assert_null(files.store);
    expect_error(calib_files_load(g, (const char *[]){good, good}, 2, 2, tensor_file_read, &files, &d), &d,
                 "2 files for a model with 1 inputs", NULL);
    char missing[256];
    snprintf(missing, sizeof missing, "%s/none.npy", temp_dir);
    expect_error(calib_files_load(g, (const char *[]){missing}, 1, 2, tensor_file_read, &files, &d), &d, missing, NULL);
    model_free(c.m);
}

/* Token ids [N, 3] (int64) -> Gather from an embedding [5, 4]. */
static void test_files_token_ids(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    gb_rng_seed(21);
    Value *ids = gb_input_shaped(g, "ids", DT_INT64, shape_from_dims(2, (int64_t[]){-1, 3}));
    Value *emb = gb_param(g, "emb", 2, (int64_t[]){5, 4}, -1, 1);
    Value *e = named(g, "Gather", 13, "e", 2, (Value *[]){emb, ids});
    gb_append_output(g, named(g, "Tanh", 13, "y", 1, &e));
    infer(g);
    const int64_t tokens[4 * 3] = {0, 1, 2, 4, 4, 4, 3, 0, 1, 2, 2, 3};
    char path[256];
    write_npy("ids.npy", DT_INT64, 2, (int64_t[]){4, 3}, tokens, path);
    CalibFiles files;
    Diag d = {{0}};
    expect_ok(calib_files_load(g, (const char *[]){path}, 1, 3, tensor_file_read, &files, &d), &d);
    double out[4], want[4] = {0};
    CalibRequest req = {e, 2, out, NULL, NULL};
    expect_ok(calib_activation(g, &files.data, &req, 1, &d), &d);
    const float *table = emb->init->data;
    for (int k = 0; k < 12; k++)
        for (int j = 0; j < 4; j++)
            want[j] += fabs(table[tokens[k] * 4 + j]) / 12;
    for (int j = 0; j < 4; j++)
        expect_near(out[j], want[j], 1e-9);
    calib_files_free(&files);
    write_npy("ids32.npy", DT_INT32, 2, (int64_t[]){2, 3}, (int32_t[]){0, 1, 2, 3, 4, 0}, path);
    expect_error(calib_files_load(g, (const char *[]){path}, 1, 3, tensor_file_read, &files, &d), &d, path,
                 "data is int32 but input 'ids' takes int64");
    model_free(m);
}

static int setup(void **state)
{
    return pc_setup_threads(state) || temp_dir_setup(state);
}

static int teardown(void **state)
{
    return temp_dir_teardown(state) | pc_teardown_threads(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_literal),
        cmocka_unit_test(test_activation_moments),
        cmocka_unit_test(test_activation_4d),
        cmocka_unit_test(test_probe_inference),
        cmocka_unit_test(test_probe_training_grad),
        cmocka_unit_test(test_taylor_gemm_pseudo_labels),
        cmocka_unit_test(test_taylor_matmul_mean_square),
        cmocka_unit_test(test_graph_unchanged),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_data_errors),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_fixed_batch),
        cmocka_unit_test(test_files_float),
        cmocka_unit_test(test_files_token_ids),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
