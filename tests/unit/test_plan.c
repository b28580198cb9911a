/* test_plan.c - unit tests of inference execution plans against reference
 * values (runtime/plan.c and the op entries runtime/op_*.c).
 *
 * Small graphs built in memory run forward and are compared with reference
 * values computed here by naive double-precision loops: Conv+BN+Relu+MaxPool+
 * Flatten+Gemm, an MLP of MatMul+Add, Gemm's variants, Softmax/LogSoftmax
 * under both opset semantics, pooling, elementwise ops with Concat and
 * Gather, views (Identity, Reshape, Flatten, Squeeze, Unsqueeze, inference
 * Dropout), BatchNormalization with training_mode in an inference plan and
 * MaxPool's column-major indices. The forward tests also check that the
 * layout never overlaps two live buffers. Build-time evaluation, buffer
 * reuse and errors are in test_plan_build.c; training plans (gradients,
 * parameters, BatchNormalization statistics) in test_plan_train.c.
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

#include "runtime/kernels.h"
#include "tests/unit/plan_check.h"

/* ---- plans ---- */

/* ---- reference layers (double) ---- */

static void ref_conv(const ConvDims *c, const double *x, const double *w, const double *b, double *y)
{
    int cpg = c->C / c->groups, mpg = c->M / c->groups;
    for (int n = 0; n < c->N; n++)
        for (int m = 0; m < c->M; m++)
            for (int oh = 0; oh < c->OH; oh++)
                for (int ow = 0; ow < c->OW; ow++) {
                    double s = b ? b[m] : 0.0;
                    for (int ci = 0; ci < cpg; ci++)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                int ih = oh * c->stride_h - c->pad_top + kh * c->dil_h;
                                int iw = ow * c->stride_w - c->pad_left + kw * c->dil_w;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                    continue;
                                int cin = (m / mpg) * cpg + ci;
                                s += x[((n * c->C + cin) * c->H + ih) * c->W + iw] *
                                     w[((m * cpg + ci) * c->KH + kh) * c->KW + kw];
                            }
                    y[((n * c->M + m) * c->OH + oh) * c->OW + ow] = s;
                }
}

/* Max or average (divisor: taps in the input, or in input+pads) pooling. */
static void ref_pool(const PoolDims *p, bool is_max, const double *x, double *y)
{
    for (int nc = 0; nc < p->N * p->C; nc++)
        for (int oh = 0; oh < p->OH; oh++)
            for (int ow = 0; ow < p->OW; ow++) {
                double acc = is_max ? -INFINITY : 0.0;
                int taps = 0, padded_taps = 0;
                for (int kh = 0; kh < p->KH; kh++)
                    for (int kw = 0; kw < p->KW; kw++) {
                        int ih = oh * p->stride_h - p->pad_top + kh, iw = ow * p->stride_w - p->pad_left + kw;
                        padded_taps += ih < p->H + p->pad_bottom && iw < p->W + p->pad_right;
                        if (ih < 0 || ih >= p->H || iw < 0 || iw >= p->W)
                            continue;
                        double v = x[(nc * p->H + ih) * p->W + iw];
                        acc = is_max ? fmax(acc, v) : acc + v;
                        taps++;
                    }
                y[(nc * p->OH + oh) * p->OW + ow] = is_max ? acc : acc / (p->count_include_pad ? padded_taps : taps);
            }
}

/* y[m,n] = alpha * x[m,:] . W[n,:] (trans_b) or W[:,n] + beta * b[n] */
static void ref_dense(int M, int K, int N, const double *x, const double *w, bool trans_b, const double *b,
                      double alpha, double beta, double *y)
{
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += x[m * K + k] * (trans_b ? w[n * K + k] : w[k * N + n]);
            y[m * N + n] = alpha * s + (b ? beta * b[n] : 0.0);
        }
}

/* Softmax (or log-softmax) of x viewed as [outer, n, inner] along n. */
static void ref_softmax(int64_t outer, int64_t n, int64_t inner, bool log_form, const double *x, double *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double mx = -INFINITY, sum = 0.0;
            for (int64_t k = 0; k < n; k++)
                mx = fmax(mx, x[(o * n + k) * inner + i]);
            for (int64_t k = 0; k < n; k++)
                sum += exp(x[(o * n + k) * inner + i] - mx);
            for (int64_t k = 0; k < n; k++) {
                double v = x[(o * n + k) * inner + i] - mx;
                y[(o * n + k) * inner + i] = log_form ? v - log(sum) : exp(v) / sum;
            }
        }
}

/* ---- forward against references ---- */

static void test_cnn_forward(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const int N = 2;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 3, 6, 6});
    Value *w = gb_param(g, "w", 4, (int64_t[]){4, 3, 3, 3}, -0.5f, 0.5f),
          *b = gb_param(g, "b", 1, (int64_t[]){4}, -0.5f, 0.5f);
    Value *scale = gb_param(g, "scale", 1, (int64_t[]){4}, 0.5f, 1.5f),
          *bias = gb_param(g, "bias", 1, (int64_t[]){4}, -1, 1);
    Value *mean = gb_param(g, "mean", 1, (int64_t[]){4}, -0.3f, 0.3f),
          *var = gb_param(g, "var", 1, (int64_t[]){4}, 0.5f, 2);
    Node *conv = gb_node(g, "Conv", 13, "conv", 3, (Value *[]){x, w, b}, 1);
    gb_set_ints(conv, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Node *bn = gb_node(g, "BatchNormalization", 15, "bn", 5, (Value *[]){conv->outputs[0], scale, bias, mean, var}, 1);
    gb_set_float(bn, "epsilon", 1e-3f);
    Value *r = gb_op1(g, "Relu", 13, "relu", bn->outputs[0]);
    Node *mp = gb_node(g, "MaxPool", 13, "pool", 1, &r, 1);
    gb_set_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_set_ints(mp, "strides", 2, (int64_t[]){2, 2});
    Value *fl = gb_op1(g, "Flatten", 13, "flat", mp->outputs[0]);
    Value *fw = gb_param(g, "fw", 2, (int64_t[]){5, 36}, -0.3f, 0.3f),
          *fb = gb_param(g, "fb", 1, (int64_t[]){5}, -1, 1);
    Node *fc = gb_node(g, "Gemm", 13, "fc", 3, (Value *[]){fl, fw, fb}, 1);
    gb_set_int(fc, "transB", 1);
    gb_append_output(g, fc->outputs[0]);

    Plan *p = pc_build(g, PLAN_INFERENCE, N, 7);
    double *xd = pc_random_input(p, N * 3 * 36);
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 2, (int64_t[]){N, 5});

    ConvDims cd = {.N = N,
                   .C = 3,
                   .H = 6,
                   .W = 6,
                   .M = 4,
                   .KH = 3,
                   .KW = 3,
                   .stride_h = 1,
                   .stride_w = 1,
                   .dil_h = 1,
                   .dil_w = 1,
                   .pad_top = 1,
                   .pad_left = 1,
                   .groups = 1,
                   .OH = 6,
                   .OW = 6};
    double *wd = pc_to_double(pc_fdata(w), 108), *bd = pc_to_double(pc_fdata(b), 4), y1[2 * 4 * 36], y2[2 * 4 * 9], y3[2 * 5];
    ref_conv(&cd, xd, wd, bd, y1);
    for (int i = 0; i < N * 4 * 36; i++) {
        int c = (i / 36) % 4;
        double v = (y1[i] - pc_fdata(mean)[c]) / sqrt(pc_fdata(var)[c] + 1e-3) * pc_fdata(scale)[c] + pc_fdata(bias)[c];
        y1[i] = v > 0 ? v : 0;
    }
    PoolDims pd = {.N = N, .C = 4, .H = 6, .W = 6, .OH = 3, .OW = 3, .KH = 2, .KW = 2, .stride_h = 2, .stride_w = 2};
    ref_pool(&pd, true, y1, y2);
    double *fwd = pc_to_double(pc_fdata(fw), 180), *fbd = pc_to_double(pc_fdata(fb), 5);
    ref_dense(N, 36, 5, y2, fwd, true, fbd, 1.0, 1.0, y3);
    pc_expect_close(plan_output(p, 0), y3, N * 5, 1e-5);
    pc_check_no_live_overlap(p);
    free(xd);
    free(wd);
    free(bd);
    free(fwd);
    free(fbd);
    plan_free(p);
    model_free(m);
}

static void test_mlp_matmul_forward(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const int N = 5;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 8});
    Value *w1 = gb_param(g, "w1", 2, (int64_t[]){8, 16}, -0.5f, 0.5f),
          *b1 = gb_param(g, "b1", 1, (int64_t[]){16}, -1, 1);
    Value *w2 = gb_param(g, "w2", 2, (int64_t[]){16, 4}, -0.5f, 0.5f),
          *b2 = gb_param(g, "b2", 1, (int64_t[]){4}, -1, 1);
    Value *h = gb_op1(g, "Relu", 13, "relu", gb_op2(g, "Add", 13, "add1", gb_op2(g, "MatMul", 13, "mm1", x, w1), b1));
    Value *y = gb_op2(g, "Add", 13, "add2", gb_op2(g, "MatMul", 13, "mm2", h, w2), b2);
    gb_append_output(g, y);
    Plan *p = pc_build(g, PLAN_INFERENCE, N, 7);
    double *xd = pc_random_input(p, N * 8);
    pc_forward(p);
    double *w1d = pc_to_double(pc_fdata(w1), 128), *b1d = pc_to_double(pc_fdata(b1), 16);
    double *w2d = pc_to_double(pc_fdata(w2), 64), *b2d = pc_to_double(pc_fdata(b2), 4), hd[5 * 16], yd[5 * 4];
    ref_dense(N, 8, 16, xd, w1d, false, b1d, 1.0, 1.0, hd);
    for (int i = 0; i < N * 16; i++)
        hd[i] = hd[i] > 0 ? hd[i] : 0;
    ref_dense(N, 16, 4, hd, w2d, false, b2d, 1.0, 1.0, yd);
    pc_expect_close(plan_output(p, 0), yd, N * 4, 1e-5);
    pc_check_no_live_overlap(p);
    free(xd);
    free(w1d);
    free(b1d);
    free(w2d);
    free(b2d);
    plan_free(p);
    model_free(m);
}

/* Gemm's alpha/beta and every accepted shape of C. */
static void test_gemm_forward_variants(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const int N = 3;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 4});
    Value *w = gb_param(g, "w", 2, (int64_t[]){4, 6}, -1, 1), *wt = gb_param(g, "wt", 2, (int64_t[]){6, 4}, -1, 1);
    Value *c_row = gb_param(g, "c_row", 2, (int64_t[]){1, 6}, -1, 1),
          *c_col = gb_param(g, "c_col", 2, (int64_t[]){3, 1}, -1, 1);
    Value *c_one = gb_param(g, "c_one", 1, (int64_t[]){1}, -1, 1);
    Node *a = gb_node(g, "Gemm", 13, "a", 3, (Value *[]){x, w, c_row}, 1);
    gb_set_float(a, "alpha", 0.5f);
    gb_set_float(a, "beta", 2.0f);
    Node *b = gb_node(g, "Gemm", 13, "b", 3, (Value *[]){x, wt, c_col}, 1);
    gb_set_int(b, "transB", 1);
    Node *c = gb_node(g, "Gemm", 13, "c", 3, (Value *[]){x, w, c_one}, 1);
    Node *e = gb_node(g, "Gemm", 13, "e", 2, (Value *[]){x, w}, 1);
    Node *ta = gb_node(g, "Gemm", 13, "ta", 2, (Value *[]){x, gb_param(g, "right", 2, (int64_t[]){3, 5}, -1, 1)}, 1);
    gb_set_int(ta, "transA", 1); /* x^T [4,N] . right [N,5] */
    gb_append_output(g, a->outputs[0]);
    gb_append_output(g, b->outputs[0]);
    gb_append_output(g, c->outputs[0]);
    gb_append_output(g, e->outputs[0]);
    gb_append_output(g, ta->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, N, 7);
    double *xd = pc_random_input(p, N * 4);
    pc_forward(p);
    double *wd = pc_to_double(pc_fdata(w), 24), *wtd = pc_to_double(pc_fdata(wt), 24), y[20], bias[6];
    for (int i = 0; i < 6; i++)
        bias[i] = pc_fdata(c_row)[i];
    ref_dense(N, 4, 6, xd, wd, false, bias, 0.5, 2.0, y);
    pc_expect_close(plan_output(p, 0), y, 18, 1e-5);
    ref_dense(N, 4, 6, xd, wtd, true, NULL, 1.0, 1.0, y);
    for (int i = 0; i < 18; i++)
        y[i] += pc_fdata(c_col)[i / 6];
    pc_expect_close(plan_output(p, 1), y, 18, 1e-5);
    ref_dense(N, 4, 6, xd, wd, false, NULL, 1.0, 1.0, y);
    pc_expect_close(plan_output(p, 3), y, 18, 1e-5);
    for (int i = 0; i < 18; i++)
        y[i] += pc_fdata(c_one)[0];
    pc_expect_close(plan_output(p, 2), y, 18, 1e-5);
    const float *right = pc_fdata(graph_find_value(g, "right"));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) {
            y[i * 5 + j] = 0;
            for (int k = 0; k < N; k++)
                y[i * 5 + j] += xd[k * 4 + i] * right[k * 5 + j];
        }
    pc_expect_output(p, 4, DT_FLOAT, 2, (int64_t[]){4, 5});
    pc_expect_close(plan_output(p, 4), y, 20, 1e-5);
    free(xd);
    free(wd);
    free(wtd);
    plan_free(p);
    model_free(m);
}

static Value *softmax_node(Graph *g, const char *op, int opset, const char *name, Value *x, int64_t axis, bool has_axis)
{
    Node *n = gb_node(g, op, opset, name, 1, &x, 1);
    if (has_axis)
        gb_set_int(n, "axis", axis);
    gb_append_output(g, n->outputs[0]);
    return n->outputs[0];
}

/* Before opset 13 the input is coerced to 2-D at axis (default 1); from 13
 * the op works along the one axis (default -1). */
static void test_softmax_opsets(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 3, 4});
    softmax_node(g, "Softmax", 13, "s13_axis1", x, 1, true);
    softmax_node(g, "Softmax", 11, "s11_axis1", x, 1, true);
    softmax_node(g, "Softmax", 11, "s11_default", x, 0, false);
    softmax_node(g, "Softmax", 13, "s13_default", x, 0, false);
    softmax_node(g, "LogSoftmax", 11, "l11_axis2", x, 2, true);
    softmax_node(g, "LogSoftmax", 13, "l13_axis0", x, 0, true);
    softmax_node(g, "LogSoftmax", 11, "l11_axis0", x, -3, true);
    Plan *p = pc_build(g, PLAN_INFERENCE, 2, 7);
    double *xd = pc_random_input(p, 24), y[24];
    for (int i = 0; i < 24; i++)
        xd[i] *= 4; /* spread the values so the max matters */
    float *xin = plan_input(p, 0);
    for (int i = 0; i < 24; i++)
        xin[i] = (float)xd[i];
    pc_forward(p);
    ref_softmax(2, 3, 4, false, xd, y);
    pc_expect_close(plan_output(p, 0), y, 24, 1e-5);
    ref_softmax(2, 12, 1, false, xd, y);
    pc_expect_close(plan_output(p, 1), y, 24, 1e-5);
    pc_expect_close(plan_output(p, 2), y, 24, 1e-5);
    ref_softmax(6, 4, 1, false, xd, y);
    pc_expect_close(plan_output(p, 3), y, 24, 1e-5);
    ref_softmax(6, 4, 1, true, xd, y);
    pc_expect_close(plan_output(p, 4), y, 24, 1e-5);
    ref_softmax(1, 2, 12, true, xd, y);
    pc_expect_close(plan_output(p, 5), y, 24, 1e-5);
    ref_softmax(1, 24, 1, true, xd, y);
    pc_expect_close(plan_output(p, 6), y, 24, 1e-5);
    free(xd);
    plan_free(p);
    model_free(m);
}

static Value *pool_node(Graph *g, const char *op, const char *name, Value *x, int64_t k, int64_t s, int64_t pad,
                        bool ceil, bool include_pad)
{
    Node *n = gb_node(g, op, 13, name, 1, &x, 1);
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    gb_set_ints(n, "strides", 2, (int64_t[]){s, s});
    gb_set_ints(n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    gb_set_int(n, "ceil_mode", ceil);
    if (include_pad)
        gb_set_int(n, "count_include_pad", 1);
    gb_append_output(g, n->outputs[0]);
    return n->outputs[0];
}

static void test_pooling_forward(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const int N = 2;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 3, 7, 7});
    pool_node(g, "AveragePool", "avg", x, 3, 2, 1, false, false);
    pool_node(g, "AveragePool", "avg_pad", x, 3, 2, 1, false, true);
    pool_node(g, "AveragePool", "avg_ceil", x, 2, 2, 0, true, false);
    pool_node(g, "MaxPool", "max_ceil", x, 3, 2, 1, true, false);
    gb_append_output(g, gb_op1(g, "GlobalAveragePool", 13, "gap", x));
    Plan *p = pc_build(g, PLAN_INFERENCE, N, 7);
    double *xd = pc_random_input(p, N * 3 * 49), y[2 * 3 * 49];
    pc_forward(p);
    PoolDims pd = {.N = N,
                   .C = 3,
                   .H = 7,
                   .W = 7,
                   .OH = 4,
                   .OW = 4,
                   .KH = 3,
                   .KW = 3,
                   .stride_h = 2,
                   .stride_w = 2,
                   .pad_top = 1,
                   .pad_left = 1,
                   .pad_bottom = 1,
                   .pad_right = 1};
    pc_expect_output(p, 0, DT_FLOAT, 4, (int64_t[]){N, 3, 4, 4});
    ref_pool(&pd, false, xd, y);
    pc_expect_close(plan_output(p, 0), y, N * 3 * 16, 1e-5);
    pd.count_include_pad = true;
    ref_pool(&pd, false, xd, y);
    pc_expect_close(plan_output(p, 1), y, N * 3 * 16, 1e-5);
    /* ceil mode: the last window hangs over the end */
    PoolDims pc = {.N = N, .C = 3, .H = 7, .W = 7, .OH = 4, .OW = 4, .KH = 2, .KW = 2, .stride_h = 2, .stride_w = 2};
    pc_expect_output(p, 2, DT_FLOAT, 4, (int64_t[]){N, 3, 4, 4});
    ref_pool(&pc, false, xd, y);
    pc_expect_close(plan_output(p, 2), y, N * 3 * 16, 1e-5);
    pd.count_include_pad = false;
    ref_pool(&pd, true, xd, y);
    pc_expect_output(p, 3, DT_FLOAT, 4, (int64_t[]){N, 3, 4, 4});
    pc_expect_close(plan_output(p, 3), y, N * 3 * 16, 1e-5);
    for (int c = 0; c < N * 3; c++) {
        double s = 0;
        for (int i = 0; i < 49; i++)
            s += xd[c * 49 + i];
        y[c] = s / 49;
    }
    pc_expect_output(p, 4, DT_FLOAT, 4, (int64_t[]){N, 3, 1, 1});
    pc_expect_close(plan_output(p, 4), y, N * 3, 1e-5);
    free(xd);
    plan_free(p);
    model_free(m);
}

/* Elementwise ops with broadcasting, Concat and a runtime Gather. */
static void test_elementwise_concat_gather_forward(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const int N = 2;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 3, 4});
    Value *col = gb_param(g, "col", 2, (int64_t[]){3, 1}, 1, 2), *row = gb_param(g, "row", 1, (int64_t[]){4}, -1, 1);
    Value *sub = gb_op2(g, "Sub", 13, "sub", x, row);
    Value *div = gb_op2(g, "Div", 13, "div", sub, col);
    Value *mul = gb_op2(g, "Mul", 13, "mul", gb_op1(g, "Sigmoid", 13, "sig", div), gb_op1(g, "Tanh", 13, "tanh", x));
    Node *cat = gb_node(g, "Concat", 13, "cat", 3, (Value *[]){mul, x, div}, 1);
    gb_set_int(cat, "axis", -1);
    Node *gat = gb_node(g, "Gather", 13, "gat", 2,
                        (Value *[]){cat->outputs[0], gb_ints(g, "idx", 3, (int64_t[]){11, 0, -1})}, 1);
    gb_set_int(gat, "axis", 2);
    gb_append_output(g, cat->outputs[0]);
    gb_append_output(g, gat->outputs[0]);
    Plan *p = pc_build(g, PLAN_INFERENCE, N, 7);
    double *xd = pc_random_input(p, N * 12), yc[2 * 3 * 12], yg[2 * 3 * 3];
    pc_forward(p);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 4; k++) {
                double xv = xd[(n * 3 + c) * 4 + k];
                double dv = (xv - pc_fdata(row)[k]) / pc_fdata(col)[c];
                double *out = &yc[(n * 3 + c) * 12];
                out[k] = 1.0 / (1.0 + exp(-dv)) * tanh(xv);
                out[4 + k] = xv;
                out[8 + k] = dv;
            }
    for (int r = 0; r < N * 3; r++) {
        yg[r * 3 + 0] = yc[r * 12 + 11];
        yg[r * 3 + 1] = yc[r * 12 + 0];
        yg[r * 3 + 2] = yc[r * 12 + 11];
    }
    pc_expect_output(p, 0, DT_FLOAT, 3, (int64_t[]){N, 3, 12});
    pc_expect_close(plan_output(p, 0), yc, N * 36, 1e-5);
    pc_expect_output(p, 1, DT_FLOAT, 3, (int64_t[]){N, 3, 3});
    pc_expect_close(plan_output(p, 1), yg, N * 9, 1e-5);
    pc_check_no_live_overlap(p);
    free(xd);
    plan_free(p);
    model_free(m);
}

/* Identity, Unsqueeze, Squeeze, Flatten, Reshape and inference Dropout move
 * no data: each output reads its input's buffer. */
static void test_views(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    const int N = 3;
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, 2, 3});
    Value *id = gb_op1(g, "Identity", 13, "id", x);
    Node *un = gb_node(g, "Unsqueeze", 11, "un", 1, &id, 1);
    gb_set_ints(un, "axes", 1, (int64_t[]){1});
    Value *sq = gb_op2(g, "Squeeze", 13, "sq", un->outputs[0], gb_ints(g, "ax1", 1, (int64_t[]){1}));
    Value *fl = gb_op1(g, "Flatten", 13, "fl", sq);
    Value *rs = gb_op2(g, "Reshape", 13, "rs", fl, gb_ints(g, "shape", 3, (int64_t[]){0, 3, -1}));
    Node *drop = gb_node(g, "Dropout", 13, "drop", 2, (Value *[]){rs, gb_param(g, "ratio", 0, NULL, 0.5f, 0.5f)}, 2);
    Node *drop7 = gb_node(g, "Dropout", 7, "drop7", 1, &rs, 2);
    gb_set_float(drop7, "ratio", 0.3f);
    gb_append_output(g, drop->outputs[0]);
    gb_append_output(g, drop->outputs[1]);
    gb_append_output(g, drop7->outputs[0]);
    gb_append_output(g, un->outputs[0]);
    gb_append_output(g, drop7->outputs[1]);
    Plan *p = pc_build(g, PLAN_INFERENCE, N, 7);
    double *xd = pc_random_input(p, N * 6);
    pc_forward(p);
    pc_expect_output(p, 0, DT_FLOAT, 3, (int64_t[]){N, 3, 2});
    pc_expect_close(plan_output(p, 0), xd, N * 6, 0);
    pc_expect_output(p, 1, DT_BOOL, 3, (int64_t[]){N, 3, 2});
    const uint8_t *mask = plan_output(p, 1);
    for (int i = 0; i < N * 6; i++)
        assert_int_equal(mask[i], 1);
    pc_expect_close(plan_output(p, 2), xd, N * 6, 0);
    pc_expect_output(p, 3, DT_FLOAT, 4, (int64_t[]){N, 1, 2, 3});
    pc_expect_output(p, 4, DT_FLOAT, 3, (int64_t[]){N, 3, 2}); /* before opset 10 the mask is float */
    const float *fmask = plan_output(p, 4);
    for (int i = 0; i < N * 6; i++)
        assert_true(fmask[i] == 1.0f);
    assert_ptr_equal(plan_output(p, 0), plan_input(p, 0));
    assert_ptr_equal(plan_output(p, 3), plan_input(p, 0));
    free(xd);
    plan_free(p);
    model_free(m);
}

/* BatchNormalization with training_mode=1 (opset 14+) in an inference plan:
 * batch statistics, ONNX's running outputs (biased variance), the IR's
 * statistics untouched. */
static void test_batchnorm_training_mode_inference(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { N = 2, C = 3, S = 5 };
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, C, S});
    Value *in[5] = {x, gb_param(g, "scale", 1, (int64_t[]){C}, 0.5f, 1.5f),
                    gb_param(g, "bias", 1, (int64_t[]){C}, -1, 1), gb_param(g, "mean", 1, (int64_t[]){C}, -1, 1),
                    gb_param(g, "var", 1, (int64_t[]){C}, 0.5f, 2)};
    Node *bn = gb_node(g, "BatchNormalization", 15, "bn", 5, in, 3);
    gb_set_int(bn, "training_mode", 1);
    gb_set_float(bn, "momentum", 0.7f);
    for (int k = 0; k < 3; k++)
        gb_append_output(g, bn->outputs[k]);
    float mean0[C], var0[C];
    memcpy(mean0, pc_fdata(in[3]), sizeof mean0);
    memcpy(var0, pc_fdata(in[4]), sizeof var0);
    Plan *p = pc_build(g, PLAN_INFERENCE, N, 7);
    double *xd = pc_random_input(p, N * C * S), y[N * C * S], rm[C], rv[C];
    pc_forward(p);
    for (int c = 0; c < C; c++) {
        double mu = 0, var = 0;
        for (int i = 0; i < N * S; i++)
            mu += xd[(i / S * C + c) * S + i % S] / (N * S);
        for (int i = 0; i < N * S; i++)
            var += pow(xd[(i / S * C + c) * S + i % S] - mu, 2) / (N * S);
        for (int i = 0; i < N * S; i++) {
            int at = (i / S * C + c) * S + i % S;
            y[at] = (xd[at] - mu) / sqrt(var + 1e-5) * pc_fdata(in[1])[c] + pc_fdata(in[2])[c];
        }
        rm[c] = mean0[c] * 0.7 + mu * 0.3;
        rv[c] = var0[c] * 0.7 + var * 0.3;
    }
    pc_expect_close(plan_output(p, 0), y, N * C * S, 1e-5);
    pc_expect_close(plan_output(p, 1), rm, C, 1e-5);
    pc_expect_close(plan_output(p, 2), rv, C, 1e-5);
    assert_memory_equal(mean0, pc_fdata(in[3]), sizeof mean0);
    assert_memory_equal(var0, pc_fdata(in[4]), sizeof var0);
    free(xd);
    plan_free(p);
    model_free(m);
}

/* storage_order=1: Indices count the input column-major (h + w * H). */
static void test_maxpool_column_major_indices(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 1, 2, 3});
    Node *mp = gb_node(g, "MaxPool", 13, "mp", 1, &x, 2);
    gb_set_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    gb_set_int(mp, "storage_order", 1);
    gb_append_output(g, mp->outputs[0]);
    gb_append_output(g, mp->outputs[1]);
    Shape s = shape_from_dims(4, (int64_t[]){1, 1, 2, 3});
    Plan *p = NULL;
    Diag d = {{0}};
    assert_int_equal(plan_build(g, PLAN_INFERENCE, &s, 1, &p, &d), KDC_OK);
    /* rows {1 9 2} {3 4 8}: both 2x2 windows hold the 9 at (h 0, w 1) */
    const float in[6] = {1, 9, 2, 3, 4, 8};
    memcpy(plan_input(p, 0), in, sizeof in);
    assert_int_equal(plan_forward(p, &d), KDC_OK);
    const float *y = plan_output(p, 0);
    const int64_t *idx = plan_output(p, 1);
    assert_true(y[0] == 9 && y[1] == 9);
    assert_int_equal(idx[0], 0 + 1 * 2); /* (h 0, w 1) column-major in a 2-row plane */
    assert_int_equal(idx[1], 0 + 1 * 2);
    plan_free(p);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_forward),
        cmocka_unit_test(test_mlp_matmul_forward),
        cmocka_unit_test(test_gemm_forward_variants),
        cmocka_unit_test(test_softmax_opsets),
        cmocka_unit_test(test_pooling_forward),
        cmocka_unit_test(test_elementwise_concat_gather_forward),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_batchnorm_training_mode_inference),
        cmocka_unit_test(test_maxpool_column_major_indices),
    };
    gb_rng_seed(42);
    return cmocka_run_group_tests(tests, pc_setup_threads, pc_teardown_threads);
}
