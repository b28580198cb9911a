/* test_plan_train.c - unit tests of training execution plans.
 *
 * The central check is a whole-graph gradient check: for each small graph a
 * random dLoss goes into plan_output_grad, plan_backward runs, and every
 * parameter's gradient (plan_params) is compared with central finite
 * differences of sum(dLoss * output), the loss summed in double over
 * forwards with one parameter value moved up and down. The graphs cover
 * Gemm, MatMul (1-D, broadcast batch), Conv (stride, pads, groups,
 * dilations), BatchNormalization in training mode, Relu, Sigmoid, Tanh,
 * Add/Sub/Mul/Div with broadcasting, Concat, MaxPool, AveragePool,
 * GlobalAveragePool, Softmax/LogSoftmax under both opset semantics, views,
 * shared weights and several outputs. Also: which initializers are
 * parameters, BatchNormalization running statistics updated in the IR,
 * training Dropout, and the build-time error for an op without gradient.
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
#include "runtime/rt.h"
#include "runtime/threads.h"

/* ---- deterministic random numbers ---- */

static uint64_t rng_state = 7;

static float frand(void) /* in [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static void fill_random(float *p, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * (frand() + 1.0f) / 2.0f;
}

/* ---- graph building ---- */

static Value **append_value(Arena *a, Value **list, int n, Value *v)
{
    Value **grown = arena_alloc(a, (size_t)(n + 1) * sizeof *grown);
    if (n)
        memcpy(grown, list, (size_t)n * sizeof *grown);
    grown[n] = v;
    return grown;
}

/* A float input whose dim 0 is the symbolic batch "N". */
static Value *input(Graph *g, const char *name, int rank, const int64_t *dims)
{
    Value *v = graph_add_value(g, name, NULL);
    v->kind = TYPE_TENSOR;
    v->dtype = DT_FLOAT;
    v->shape = shape_from_dims(rank, dims);
    v->shape.dims[0] = (Dim){-1, "N"};
    g->inputs = append_value(g->arena, g->inputs, g->n_inputs++, v);
    return v;
}

static Value *init_tensor(Graph *g, const char *name, DType dt, int rank, const int64_t *dims)
{
    Value *v = graph_add_value(g, name, NULL);
    v->init = tensor_new(g->arena, dt, rank, dims);
    v->kind = TYPE_TENSOR;
    v->dtype = dt;
    v->shape = shape_from_dims(rank, dims);
    g->inits = append_value(g->arena, g->inits, g->n_inits++, v);
    return v;
}

static Value *param(Graph *g, const char *name, int rank, const int64_t *dims, float lo, float hi)
{
    Value *v = init_tensor(g, name, DT_FLOAT, rank, dims);
    fill_random(v->init->data, tensor_numel(v->init), lo, hi);
    return v;
}

static Value *ints(Graph *g, const char *name, int n, const int64_t *v)
{
    Value *t = init_tensor(g, name, DT_INT64, 1, (int64_t[]){n});
    memcpy(t->init->data, v, (size_t)n * sizeof *v);
    return t;
}

static Node *node(Graph *g, const char *op, int opset, const char *name, int n_in, Value **in, int n_out)
{
    Node *n = graph_add_node(g, op, "", n_in, n_out);
    n->name = arena_strdup(g->arena, name);
    n->opset = opset;
    for (int i = 0; i < n_in; i++)
        n->inputs[i] = in[i];
    for (int k = 0; k < n_out; k++) {
        char out[64];
        snprintf(out, sizeof out, k ? "%s_out%d" : "%s_out", name, k);
        node_set_output(n, k, graph_add_value(g, out, NULL));
    }
    op_bind(n);
    return n;
}

static Value *op1(Graph *g, const char *op, const char *name, Value *x)
{
    return node(g, op, 13, name, 1, &x, 1)->outputs[0];
}

static Value *op2(Graph *g, const char *op, const char *name, Value *a, Value *b)
{
    return node(g, op, 13, name, 2, (Value *[]){a, b}, 1)->outputs[0];
}

static void set_int(Node *n, const char *name, int64_t v)
{
    node_add_attr(n, name, ATTR_INT)->i = v;
}

static void set_float(Node *n, const char *name, float v)
{
    node_add_attr(n, name, ATTR_FLOAT)->f = v;
}

static void set_ints(Node *n, const char *name, int count, const int64_t *v)
{
    Attr *a = node_add_attr(n, name, ATTR_INTS);
    a->n = count;
    a->ints = arena_memdup(n->graph->arena, v, (size_t)count * sizeof *v);
}

static void output(Graph *g, Value *v)
{
    g->outputs = append_value(g->arena, g->outputs, g->n_outputs++, v);
}

static Value *gemm(Graph *g, const char *name, Value *x, Value *w, Value *b, bool trans_b)
{
    Node *n = node(g, "Gemm", 13, name, b ? 3 : 2, (Value *[]){x, w, b}, 1);
    if (trans_b)
        set_int(n, "transB", 1);
    return n->outputs[0];
}

static Value *conv(Graph *g, const char *name, Value *x, Value *w, Value *b)
{
    return node(g, "Conv", 13, name, b ? 3 : 2, (Value *[]){x, w, b}, 1)->outputs[0];
}

static Value *batchnorm(Graph *g, const char *name, Value *x, int64_t c)
{
    char n[4][64];
    const char *part[4] = {"scale", "bias", "mean", "var"};
    for (int i = 0; i < 4; i++)
        snprintf(n[i], sizeof n[i], "%s.%s", name, part[i]);
    Value *in[5] = {x, param(g, n[0], 1, &c, 0.5f, 1.5f), param(g, n[1], 1, &c, -0.5f, 0.5f),
                    param(g, n[2], 1, &c, -0.2f, 0.2f), param(g, n[3], 1, &c, 0.5f, 1.5f)};
    return node(g, "BatchNormalization", 15, name, 5, in, 1)->outputs[0];
}

/* ---- plans ---- */

static Plan *build(Graph *g, PlanMode mode, int64_t batch)
{
    Shape shapes[4];
    int n = 0;
    Diag d = {{0}};
    Plan *p = NULL;
    if (plan_input_shapes_for_batch(g, batch, shapes, 4, &n, &d) || plan_build(g, mode, shapes, 11, &p, &d))
        fail_msg("plan: %s", d.msg);
    return p;
}

static void forward(Plan *p)
{
    Diag d = {{0}};
    if (plan_forward(p, &d))
        fail_msg("forward: %s", d.msg);
}

static int64_t output_numel(const Plan *p, int k)
{
    DType dt;
    Shape s;
    plan_output_info(p, k, &dt, &s);
    assert_int_equal(dt, DT_FLOAT);
    return shape_numel(&s);
}

/* ---- the whole-graph gradient check ---- */

/* eps: the finite-difference step; margin: how far the data must sit from
 * any kink (see kink_margin) */
typedef struct GradTol {
    double eps, atol, rtol, margin;
} GradTol;

typedef struct GradCheck {
    Plan *p;
    float *dy[4]; /* dLoss per output */
    int n_out;
} GradCheck;

/* sum over outputs of dLoss . output, after a fresh forward */
static double weighted_loss(GradCheck *c)
{
    forward(c->p);
    double loss = 0.0;
    for (int k = 0; k < c->n_out; k++) {
        const float *y = plan_output(c->p, k);
        for (int64_t i = 0; i < output_numel(c->p, k); i++)
            loss += (double)c->dy[k][i] * y[i];
    }
    return loss;
}

static void run_backward(GradCheck *c)
{
    forward(c->p);
    plan_zero_grads(c->p);
    for (int k = 0; k < c->n_out; k++) {
        float *dy = plan_output_grad(c->p, k);
        assert_non_null(dy);
        memcpy(dy, c->dy[k], (size_t)output_numel(c->p, k) * sizeof(float));
    }
    plan_backward(c->p);
}

/* Smallest gap between the two largest taps of a max window. Ties among
 * Relu zeros are flat (their gradient is 0 either way) and do not count. */
static double maxpool_margin(const PoolDims *pd, const float *x)
{
    double margin = INFINITY;
    for (int nc = 0; nc < pd->N * pd->C; nc++)
        for (int oh = 0; oh < pd->OH; oh++)
            for (int ow = 0; ow < pd->OW; ow++) {
                double top = -INFINITY, second = -INFINITY;
                for (int kh = 0; kh < pd->KH; kh++)
                    for (int kw = 0; kw < pd->KW; kw++) {
                        int ih = oh * pd->stride_h - pd->pad_top + kh * pd->dil_h;
                        int iw = ow * pd->stride_w - pd->pad_left + kw * pd->dil_w;
                        if (ih < 0 || ih >= pd->H || iw < 0 || iw >= pd->W)
                            continue;
                        double v = x[((int64_t)nc * pd->H + ih) * pd->W + iw];
                        second = v > top ? top : fmax(second, v);
                        top = fmax(top, v);
                    }
                if (top != 0 || second != 0)
                    margin = fmin(margin, top - second);
            }
    return margin;
}

/* How far the data of the last forward sits from the kinks of Relu (an
 * input near 0) and MaxPool (a near tie): a finite difference across a kink
 * mixes two slopes and measures no gradient at all. */
static double kink_margin(const Plan *p)
{
    double margin = INFINITY;
    for (int i = 0; i < p->n_steps; i++) {
        const Step *s = &p->steps[i];
        if (s->node->op == OP_Relu)
            for (int64_t k = 0; k < s->in[0]->numel; k++)
                margin = fmin(margin, fabs(rt_f(s->in[0])[k]));
        else if (s->node->op == OP_MaxPool)
            margin = fmin(margin, maxpool_margin(s->state, rt_f(s->in[0])));
    }
    return margin;
}

/* Random inputs whose forward stays tol.margin away from every kink. */
static void fill_inputs_away_from_kinks(Plan *p, double margin)
{
    for (int tries = 0; tries < 500; tries++) {
        for (int k = 0; k < plan_n_inputs(p); k++) {
            DType dt;
            Shape s;
            plan_input_info(p, k, &dt, &s);
            fill_random(plan_input(p, k), shape_numel(&s), -1, 1);
        }
        forward(p);
        if (kink_margin(p) >= margin)
            return;
    }
    fail_msg("no random input keeps %g away from the kinks", margin);
}

/* Mismatches between the analytic gradient of one parameter and central differences. */
static int check_param(GradCheck *c, const PlanParam *pp, const float *analytic, GradTol tol)
{
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < pp->numel; i++) {
        float saved = pp->data[i];
        pp->data[i] = (float)(saved + tol.eps);
        double up = weighted_loss(c), step = (double)pp->data[i] - saved;
        pp->data[i] = (float)(saved - tol.eps);
        double down = weighted_loss(c);
        step += saved - (double)pp->data[i];
        pp->data[i] = saved;
        double numeric = (up - down) / step, err = fabs(numeric - analytic[i]);
        worst = fmax(worst, err);
        if (err > tol.atol + tol.rtol * fmax(fabs(numeric), fabs(analytic[i])) && bad++ < 4)
            fprintf(stderr, "  %s[%lld]: numeric %.6g analytic %.6g\n", pp->value->name, (long long)i, numeric,
                    analytic[i]);
    }
    if (bad)
        fprintf(stderr, "  %s: %d of %lld entries off, worst error %.3g\n", pp->value->name, bad, (long long)pp->numel,
                worst);
    return bad;
}

/* Builds a training plan of g, checks every parameter's gradient, and that
 * a second zero+backward gives the same gradients (they are zeroed, and
 * backward accumulates nothing stale). */
static void gradcheck(Graph *g, int64_t batch, int expect_params, GradTol tol)
{
    GradCheck c = {build(g, PLAN_TRAINING, batch), {NULL}, 0};
    c.n_out = plan_n_outputs(c.p);
    assert_true(c.n_out <= 4);
    fill_inputs_away_from_kinks(c.p, tol.margin);
    for (int k = 0; k < c.n_out; k++) {
        c.dy[k] = malloc((size_t)output_numel(c.p, k) * sizeof(float));
        fill_random(c.dy[k], output_numel(c.p, k), -1, 1);
    }
    PlanParam *params;
    int n_params = plan_params(c.p, &params), bad = 0;
    assert_int_equal(n_params, expect_params);
    run_backward(&c);
    float *analytic[32];
    assert_true(n_params <= 32);
    for (int i = 0; i < n_params; i++)
        analytic[i] = malloc((size_t)params[i].numel * sizeof(float));
    for (int i = 0; i < n_params; i++)
        memcpy(analytic[i], params[i].grad, (size_t)params[i].numel * sizeof(float));
    run_backward(&c);
    for (int i = 0; i < n_params; i++)
        assert_memory_equal(analytic[i], params[i].grad, (size_t)params[i].numel * sizeof(float));
    for (int i = 0; i < n_params; i++)
        bad += check_param(&c, &params[i], analytic[i], tol);
    for (int i = 0; i < n_params; i++)
        free(analytic[i]);
    for (int k = 0; k < c.n_out; k++)
        free(c.dy[k]);
    plan_free(c.p);
    if (bad)
        fail_msg("%d gradient entries disagree with finite differences", bad);
}

static const GradTol smooth_tol = {1e-2, 5e-4, 5e-3, 0};
/* with Relu or MaxPool: a smaller step, and data clear of the kinks by more
 * than a step moves any value */
static const GradTol kink_tol = {1e-3, 2e-3, 5e-3, 5e-3};

static void test_grad_mlp(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 2, (int64_t[]){1, 6});
    Value *h = op1(g, "Relu", "relu",
                   gemm(g, "fc1", x, param(g, "w1", 2, (int64_t[]){10, 6}, -1, 1),
                        param(g, "b1", 1, (int64_t[]){10}, -1, 1), true));
    Node *fc2 =
        node(g, "Gemm", 13, "fc2", 3,
             (Value *[]){h, param(g, "w2", 2, (int64_t[]){10, 3}, -1, 1), param(g, "b2", 1, (int64_t[]){3}, -1, 1)}, 1);
    set_float(fc2, "alpha", 0.7f);
    set_float(fc2, "beta", 1.3f);
    output(g, fc2->outputs[0]);
    gradcheck(g, 4, 4, kink_tol);
    model_free(m);
}

/* Gemm's transposes and C shapes: weights on the A side too. */
static void test_grad_gemm_transposes(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 2, (int64_t[]){1, 4});
    Node *ta = node(
        g, "Gemm", 13, "ta", 3,
        (Value *[]){x, param(g, "b1", 2, (int64_t[]){3, 2}, -1, 1), param(g, "c1", 2, (int64_t[]){4, 1}, -1, 1)}, 1);
    set_int(ta, "transA", 1); /* x^T [4,N] . b1 [N,2] + c1 [4,1] */
    Node *both = node(g, "Gemm", 13, "both", 3,
                      (Value *[]){param(g, "a2", 2, (int64_t[]){4, 3}, -1, 1), op1(g, "Tanh", "t", x),
                                  param(g, "c2", 0, NULL, -1, 1)},
                      1);
    set_int(both, "transA", 1);
    set_int(both, "transB", 1); /* a2^T [3,4] . tanh(x)^T [4,N] + c2 */
    set_float(both, "beta", 0.5f);
    output(g, ta->outputs[0]);
    output(g, both->outputs[0]);
    gradcheck(g, 3, 4, smooth_tol);
    model_free(m);
}

static void test_grad_cnn_batchnorm(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 4, (int64_t[]){1, 2, 6, 6});
    Node *c = node(g, "Conv", 13, "conv", 3,
                   (Value *[]){x, param(g, "w", 4, (int64_t[]){4, 2, 3, 3}, -0.5f, 0.5f),
                               param(g, "b", 1, (int64_t[]){4}, -0.5f, 0.5f)},
                   1);
    set_ints(c, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Value *r = op1(g, "Relu", "relu", batchnorm(g, "bn", c->outputs[0], 4));
    Node *mp = node(g, "MaxPool", 13, "pool", 1, &r, 1);
    set_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    set_ints(mp, "strides", 2, (int64_t[]){2, 2});
    Value *fl = op1(g, "Flatten", "flat", mp->outputs[0]);
    output(g, gemm(g, "fc", fl, param(g, "fw", 2, (int64_t[]){3, 36}, -0.5f, 0.5f),
                   param(g, "fb", 1, (int64_t[]){3}, -1, 1), true));
    gradcheck(g, 3, 6, kink_tol);
    model_free(m);
}

static void test_grad_conv_geometry(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 4, (int64_t[]){1, 4, 7, 7});
    Node *c1 = node(g, "Conv", 13, "c1", 3,
                    (Value *[]){x, param(g, "w1", 4, (int64_t[]){6, 2, 3, 3}, -0.5f, 0.5f),
                                param(g, "b1", 1, (int64_t[]){6}, -0.5f, 0.5f)},
                    1);
    set_int(c1, "group", 2);
    set_ints(c1, "strides", 2, (int64_t[]){2, 2});
    set_ints(c1, "pads", 4, (int64_t[]){1, 0, 0, 1});
    Value *t = op1(g, "Tanh", "tanh", c1->outputs[0]); /* [N,6,3,3] */
    Node *c2 = node(g, "Conv", 13, "c2", 2, (Value *[]){t, param(g, "w2", 4, (int64_t[]){4, 3, 2, 2}, -0.5f, 0.5f)}, 1);
    set_int(c2, "group", 2);
    set_ints(c2, "dilations", 2, (int64_t[]){2, 1});
    set_ints(c2, "pads", 4, (int64_t[]){1, 1, 1, 1});
    output(g, c2->outputs[0]); /* [N,4,3,4] */
    gradcheck(g, 2, 3, smooth_tol);
    model_free(m);
}

static void test_grad_elementwise_broadcast(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 3, (int64_t[]){1, 3, 4});
    Value *p1 = param(g, "p1", 2, (int64_t[]){3, 1}, -1, 1), *p2 = param(g, "p2", 1, (int64_t[]){4}, -1, 1);
    Value *p3 = param(g, "p3", 3, (int64_t[]){1, 3, 1}, 1, 2), *p4 = param(g, "p4", 1, (int64_t[]){1}, -1, 1);
    Value *a = op1(g, "Sigmoid", "a", op2(g, "Mul", "xp1", x, p1));
    Value *b = op1(g, "Tanh", "b", op2(g, "Sub", "xp2", x, p2));
    Value *c = op2(g, "Div", "c", b, p3);
    Value *e = op2(g, "Sub", "e", op2(g, "Add", "d", op2(g, "Mul", "ac", a, c), x), op1(g, "Identity", "id", p4));
    Value *f = op2(g, "Div", "f", op2(g, "Sub", "p2a", p2, a), op2(g, "Add", "p3a", p3, a));
    output(g, e);
    output(g, f);
    gradcheck(g, 2, 4, smooth_tol);
    model_free(m);
}

static void test_grad_concat(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 2, (int64_t[]){1, 6});
    Value *h1 = op2(g, "MatMul", "h1", x, param(g, "w1", 2, (int64_t[]){6, 4}, -1, 1));
    Value *h2 = op1(g, "Tanh", "h2", op2(g, "MatMul", "m2", x, param(g, "w2", 2, (int64_t[]){6, 3}, -1, 1)));
    Node *cat = node(g, "Concat", 13, "cat", 3, (Value *[]){h1, x, h2}, 1);
    set_int(cat, "axis", 1);
    output(g, gemm(g, "out", cat->outputs[0], param(g, "w3", 2, (int64_t[]){13, 2}, -1, 1),
                   param(g, "b3", 1, (int64_t[]){2}, -1, 1), false));
    Node *rows = node(g, "Concat", 13, "rows", 2, (Value *[]){h1, h1}, 1);
    set_int(rows, "axis", 0);
    output(g, op1(g, "Sigmoid", "sig", rows->outputs[0]));
    gradcheck(g, 3, 4, smooth_tol);
    model_free(m);
}

static Value *avgpool(Graph *g, const char *name, Value *x, int64_t k, int64_t s, int64_t pad, bool ceil,
                      bool include_pad)
{
    Node *n = node(g, "AveragePool", 13, name, 1, &x, 1);
    set_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    set_ints(n, "strides", 2, (int64_t[]){s, s});
    set_ints(n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    set_int(n, "ceil_mode", ceil);
    set_int(n, "count_include_pad", include_pad);
    return n->outputs[0];
}

static void test_grad_average_pools(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 4, (int64_t[]){1, 2, 6, 6});
    Node *c = node(g, "Conv", 13, "conv", 3,
                   (Value *[]){x, param(g, "w", 4, (int64_t[]){3, 2, 3, 3}, -0.5f, 0.5f),
                               param(g, "b", 1, (int64_t[]){3}, -0.5f, 0.5f)},
                   1);
    set_ints(c, "pads", 4, (int64_t[]){1, 1, 1, 1});
    Value *a = op1(g, "Sigmoid", "sig", avgpool(g, "ap", c->outputs[0], 3, 2, 1, true, false));   /* [N,3,4,4] */
    Value *b = op1(g, "Tanh", "tanh", avgpool(g, "ap_pad", c->outputs[0], 2, 1, 1, false, true)); /* [N,3,7,7] */
    Value *ga = op1(g, "Flatten", "fa", op1(g, "GlobalAveragePool", "gapa", a));
    Value *gb = op1(g, "Flatten", "fb", op1(g, "GlobalAveragePool", "gapb", b));
    output(g, gemm(g, "fc", op2(g, "Mul", "ab", ga, gb), param(g, "fw", 2, (int64_t[]){3, 2}, -1, 1), NULL, false));
    gradcheck(g, 2, 3, smooth_tol);
    model_free(m);
}

static void test_grad_softmax(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 2, (int64_t[]){1, 8});
    Value *h =
        gemm(g, "fc", x, param(g, "w", 2, (int64_t[]){8, 6}, -1, 1), param(g, "b", 1, (int64_t[]){6}, -1, 1), false);
    Value *r = op2(g, "Reshape", "rs", h, ints(g, "shape", 3, (int64_t[]){0, 2, 3})); /* [N,2,3] */
    Node *s13 = node(g, "Softmax", 13, "s13", 1, &r, 1);
    set_int(s13, "axis", 2);
    Value *scaled = op2(g, "Mul", "scaled", s13->outputs[0], param(g, "p", 2, (int64_t[]){2, 3}, -2, 2));
    /* [N,2,3] -> [N,6] through the exporter's shape arithmetic, done at build time */
    Value *batch = op2(g, "Gather", "batch", op1(g, "Shape", "shp", scaled), ints(g, "zero", 1, (int64_t[]){0}));
    Node *cat = node(g, "Concat", 13, "cat", 2, (Value *[]){batch, ints(g, "rest", 1, (int64_t[]){-1})}, 1);
    set_int(cat, "axis", 0);
    Value *flat = op2(g, "Reshape", "flat", scaled, cat->outputs[0]);
    Node *l11 = node(g, "LogSoftmax", 11, "l11", 1, &flat, 1);
    Node *s11 = node(g, "Softmax", 11, "s11", 1, &r, 1); /* over 2*3 */
    Node *l13 = node(g, "LogSoftmax", 13, "l13", 1, &r, 1);
    set_int(l13, "axis", 1);
    output(g, l11->outputs[0]);
    output(g, s11->outputs[0]);
    output(g, l13->outputs[0]);
    gradcheck(g, 3, 3, smooth_tol);
    model_free(m);
}

static void test_grad_matmul_broadcast(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 3, (int64_t[]){1, 2, 5});
    Value *h = op1(g, "Relu", "relu",
                   op2(g, "Add", "add", op2(g, "MatMul", "mm", x, param(g, "w", 2, (int64_t[]){5, 4}, -1, 1)),
                       param(g, "b", 1, (int64_t[]){4}, -1, 1)));
    output(g, op2(g, "MatMul", "vec", h, param(g, "v", 1, (int64_t[]){4}, -1, 1)));        /* [N,2] */
    output(g, op2(g, "MatMul", "bat", x, param(g, "w3", 3, (int64_t[]){1, 5, 3}, -1, 1))); /* [N,2,3] */
    output(g, op2(g, "MatMul", "left", param(g, "u", 1, (int64_t[]){2}, -1, 1), x));       /* [N,5] */
    gradcheck(g, 3, 5, kink_tol);
    model_free(m);
}

/* One weight used twice, one activation read twice, through views. */
static void test_grad_shared_weights(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 2, (int64_t[]){1, 5});
    Value *w = param(g, "w", 2, (int64_t[]){5, 5}, -1, 1);
    Value *h = op1(g, "Tanh", "h", op2(g, "MatMul", "m1", x, w));
    Node *un = node(g, "Unsqueeze", 11, "un", 1, &h, 1);
    set_ints(un, "axes", 1, (int64_t[]){1});
    Value *sq = op2(g, "Squeeze", "sq", un->outputs[0], ints(g, "ax", 1, (int64_t[]){1}));
    output(g, op2(g, "Add", "y", op2(g, "MatMul", "m2", sq, w), op1(g, "Identity", "id", h)));
    gradcheck(g, 4, 1, smooth_tol);
    model_free(m);
}

/* BatchNormalization on [N, C] (no spatial dims) in training mode. */
static void test_grad_batchnorm_2d(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 2, (int64_t[]){1, 4});
    Value *h = gemm(g, "fc", x, param(g, "w", 2, (int64_t[]){4, 5}, -1, 1), NULL, false);
    output(g, op1(g, "Tanh", "t", batchnorm(g, "bn", h, 5)));
    gradcheck(g, 6, 3, smooth_tol);
    model_free(m);
}

/* ---- parameters and statistics ---- */

static bool is_one_of(const char *name, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(name, names[i]))
            return true;
    return false;
}

/* Conv+BN+Reshape+Gemm: parameters are the trainable float initializers,
 * not BN running statistics, not int64 shapes, not unused weights. */
static void test_params_are_trainable_floats(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 4, (int64_t[]){1, 2, 4, 4});
    Value *c =
        conv(g, "conv", x, param(g, "w", 4, (int64_t[]){3, 2, 3, 3}, -1, 1), param(g, "b", 1, (int64_t[]){3}, -1, 1));
    Value *r = op2(g, "Reshape", "rs", op1(g, "Relu", "relu", batchnorm(g, "bn", c, 3)),
                   ints(g, "shape", 2, (int64_t[]){0, -1}));
    param(g, "unused", 1, (int64_t[]){7}, -1, 1);
    output(g, gemm(g, "fc", r, param(g, "fw", 2, (int64_t[]){12, 2}, -1, 1), param(g, "fb", 1, (int64_t[]){2}, -1, 1),
                   false));
    Plan *p = build(g, PLAN_TRAINING, 2);
    PlanParam *params;
    int n = plan_params(p, &params);
    const char *want[] = {"w", "b", "bn.scale", "bn.bias", "fw", "fb"};
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++) {
        const Value *v = params[i].value;
        if (!is_one_of(v->name, want, 6))
            fail_msg("'%s' is not a trainable parameter", v->name);
        assert_ptr_equal(params[i].data, v->init->data);
        assert_int_equal(params[i].numel, tensor_numel(v->init));
        assert_non_null(params[i].grad);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(params[j].value, v);
    }
    plan_free(p);
    p = build(g, PLAN_INFERENCE, 2);
    assert_int_equal(plan_params(p, &params), 0);
    plan_free(p);
    model_free(m);
}

/* Each training forward moves the running statistics in the IR tensor:
 * running = running * momentum + batch * (1 - momentum), the batch variance
 * unbiased. */
static void test_batchnorm_running_stats(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { N = 3, C = 2, S = 4 };
    Value *x = input(g, "x", 3, (int64_t[]){1, C, S});
    Value *y = batchnorm(g, "bn", x, C);
    set_float(y->producer, "momentum", 0.8f);
    output(g, y);
    float *rm = graph_find_value(g, "bn.mean")->init->data, *rv = graph_find_value(g, "bn.var")->init->data;
    double want_mean[C], want_var[C];
    for (int c = 0; c < C; c++) {
        want_mean[c] = rm[c];
        want_var[c] = rv[c];
    }
    Plan *p = build(g, PLAN_TRAINING, N);
    float *xin = plan_input(p, 0);
    fill_random(xin, N * C * S, -2, 3);
    for (int step = 0; step < 2; step++) {
        forward(p);
        for (int c = 0; c < C; c++) {
            double sum = 0, sq = 0;
            for (int n = 0; n < N; n++)
                for (int s = 0; s < S; s++)
                    sum += xin[(n * C + c) * S + s];
            double mean = sum / (N * S);
            for (int n = 0; n < N; n++)
                for (int s = 0; s < S; s++)
                    sq += pow(xin[(n * C + c) * S + s] - mean, 2);
            want_mean[c] = want_mean[c] * 0.8 + mean * 0.2;
            want_var[c] = want_var[c] * 0.8 + sq / (N * S - 1) * 0.2;
            assert_true(fabs(rm[c] - want_mean[c]) < 1e-5);
            assert_true(fabs(rv[c] - want_var[c]) < 1e-5);
            /* the output uses the batch statistics: mean bias, scale times unit variance */
            double out_mean = 0;
            const float *out = plan_output(p, 0);
            for (int n = 0; n < N; n++)
                for (int s = 0; s < S; s++)
                    out_mean += out[(n * C + c) * S + s] / (N * S);
            assert_true(fabs(out_mean - ((float *)graph_find_value(g, "bn.bias")->init->data)[c]) < 1e-5);
        }
    }
    plan_free(p);
    model_free(m);
}

/* Training Dropout keeps each value with probability 1-ratio, scaled by
 * 1/(1-ratio), and backward routes the gradient through the same mask. */
static void test_training_dropout(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    enum { N = 64, F = 32 };
    Value *x = input(g, "x", 2, (int64_t[]){1, F});
    Value *s = param(g, "s", 1, (int64_t[]){F}, 1, 2);
    Value *h = op2(g, "Mul", "h", x, s);
    Node *drop = node(g, "Dropout", 13, "drop", 1, &h, 2);
    Node *drop7 = node(g, "Dropout", 7, "drop7", 1, &h, 2);
    set_float(drop7, "ratio", 0.25f);
    output(g, drop->outputs[0]);
    output(g, drop->outputs[1]);
    output(g, drop7->outputs[0]);
    output(g, drop7->outputs[1]);
    Plan *p = build(g, PLAN_TRAINING, N);
    float *xin = plan_input(p, 0);
    fill_random(xin, N * F, 1, 2);
    forward(p);
    const float *y = plan_output(p, 0), *sv = s->init->data;
    const uint8_t *mask = plan_output(p, 1);
    int kept = 0;
    for (int i = 0; i < N * F; i++) {
        double want = mask[i] ? 2.0 * xin[i] * sv[i % F] : 0.0;
        assert_true(fabs(y[i] - want) < 1e-5);
        kept += mask[i];
    }
    assert_in_range(kept, N * F * 4 / 10, N * F * 6 / 10);
    const float *y7 = plan_output(p, 2), *mask7 = plan_output(p, 3); /* float mask before opset 10 */
    int kept7 = 0;
    for (int i = 0; i < N * F; i++) {
        assert_true(mask7[i] == 0.0f || mask7[i] == 1.0f);
        assert_true(fabs(y7[i] - mask7[i] * xin[i] * sv[i % F] / 0.75) < 1e-5);
        kept7 += mask7[i] == 1.0f;
    }
    assert_in_range(kept7, N * F * 65 / 100, N * F * 85 / 100);
    plan_zero_grads(p);
    float *dy = plan_output_grad(p, 0);
    for (int i = 0; i < N * F; i++)
        dy[i] = 1.0f;
    plan_backward(p);
    PlanParam *params;
    assert_int_equal(plan_params(p, &params), 1);
    for (int f = 0; f < F; f++) {
        double want = 0;
        for (int n = 0; n < N; n++)
            want += mask[n * F + f] ? 2.0 * xin[n * F + f] : 0.0;
        assert_true(fabs(params[0].grad[f] - want) < 1e-3);
    }
    plan_free(p);
    model_free(m);
}

/* An op without a gradient between a parameter and the loss is refused at
 * build, naming the node; inference plans take it. */
static void test_no_gradient_error(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = input(g, "x", 2, (int64_t[]){1, 4});
    Value *table = param(g, "table", 2, (int64_t[]){10, 4}, -1, 1);
    Value *rows = op2(g, "Gather", "emb_lookup", table, ints(g, "idx", 2, (int64_t[]){3, 7}));
    output(g, op2(g, "Add", "sum", x, op1(g, "Relu", "r", op2(g, "Mul", "m", rows, rows))));
    Shape s = shape_from_dims(2, (int64_t[]){2, 4});
    Plan *p = NULL;
    Diag d = {{0}};
    assert_int_equal(plan_build(g, PLAN_TRAINING, &s, 1, &p, &d), KDC_ERR);
    assert_string_equal(d.msg, "node 'emb_lookup' (Gather): has no gradient but lies between trainable parameters "
                               "and the loss");
    assert_int_equal(plan_build(g, PLAN_INFERENCE, &s, 1, &p, &d), KDC_OK);
    plan_free(p);
    model_free(m);
}

static int setup_threads(void **state)
{
    (void)state;
    Diag d;
    return threads_init(2, &d) == KDC_OK ? 0 : -1;
}

static int teardown_threads(void **state)
{
    (void)state;
    threads_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_mlp),
        cmocka_unit_test(test_grad_gemm_transposes),
        cmocka_unit_test(test_grad_cnn_batchnorm),
        cmocka_unit_test(test_grad_conv_geometry),
        cmocka_unit_test(test_grad_elementwise_broadcast),
        cmocka_unit_test(test_grad_concat),
        cmocka_unit_test(test_grad_average_pools),
        cmocka_unit_test(test_grad_softmax),
        cmocka_unit_test(test_grad_matmul_broadcast),
        cmocka_unit_test(test_grad_shared_weights),
        cmocka_unit_test(test_grad_batchnorm_2d),
        cmocka_unit_test(test_params_are_trainable_floats),
        cmocka_unit_test(test_batchnorm_running_stats),
        cmocka_unit_test(test_training_dropout),
        cmocka_unit_test(test_no_gradient_error),
    };
    return cmocka_run_group_tests(tests, setup_threads, teardown_threads);
}
