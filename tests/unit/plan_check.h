/* plan_check.h - the harness the plan-level unit tests (test_plan*.c) share.
 *
 * Owns ONE copy of what those tests used to repeat: building and running a
 * plan with failures reported through cmocka (pc_build, pc_forward), the
 * worker-thread group fixtures, the word-for-word check of a build error,
 * small comparisons of plan outputs, and the whole-graph gradient check of
 * a training plan: fixed random dLoss on every output (the loss is
 * sum(dLoss . output)), plan_backward run twice and required to give the
 * same gradients (they are zeroed, nothing stale accumulates), then central
 * differences over every entry of every plan_params parameter. Kinks (Relu
 * at 0, max ties, ...) would make a finite difference meaningless, so a test
 * may pass a hook that measures how far the data sits from them and inputs
 * are redrawn until it is far enough. Header-only (static inline) so each
 * test binary takes what it uses; include after <cmocka.h>.
 */
#ifndef KDC_TEST_PLAN_CHECK_H
#define KDC_TEST_PLAN_CHECK_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/plan.h"
#include "runtime/rt.h"
#include "runtime/threads.h"
#include "tests/unit/graph_build.h"

/* ---- plans ---- */

/* A plan of g for inputs of batch `batch`; seed is plan_build's. */
static inline Plan *pc_build(Graph *g, PlanMode mode, int64_t batch, uint64_t seed)
{
    Shape shapes[4];
    int n = 0;
    Diag d = {{0}};
    Plan *p = NULL;
    if (plan_input_shapes_for_batch(g, batch, shapes, 4, &n, &d) || plan_build(g, mode, shapes, seed, &p, &d))
        fail_msg("plan: %s", d.msg);
    return p;
}

static inline void pc_forward(Plan *p)
{
    Diag d = {{0}};
    if (plan_forward(p, &d))
        fail_msg("forward: %s", d.msg);
}

static inline int64_t pc_output_numel(const Plan *p, int k)
{
    DType dt;
    Shape s;
    plan_output_info(p, k, &dt, &s);
    return shape_numel(&s);
}

/* Fills graph input k with uniform values in [lo, hi) and returns it. */
static inline float *pc_fill_input(Plan *p, int k, float lo, float hi)
{
    DType dt;
    Shape s;
    plan_input_info(p, k, &dt, &s);
    gb_fill_random(plan_input(p, k), shape_numel(&s), lo, hi);
    return plan_input(p, k);
}

/* n floats uniform in [-1, 1); the caller frees them. */
static inline float *pc_random_floats(int64_t n)
{
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    gb_fill_random(x, n, -1, 1);
    return x;
}

static inline const float *pc_fdata(const Value *v)
{
    return v->init->data;
}

/* ---- comparisons ---- */

static inline void pc_expect_output(const Plan *p, int k, DType dt, int rank, const int64_t *dims)
{
    DType got_dt;
    Shape s;
    plan_output_info(p, k, &got_dt, &s);
    assert_int_equal(got_dt, dt);
    assert_int_equal(s.rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(s.dims[i].value, dims[i]);
}

/* Relative to 1 + |want|; a NaN never passes. */
static inline void pc_expect_close(const float *got, const double *want, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i]))))
            fail_msg("element %lld: got %.7g, expected %.7g", (long long)i, got[i], want[i]);
}

/* ---- errors ---- */

/* plan_build of g for these input shapes must fail with exactly `want`. */
static inline void pc_expect_build_error(Graph *g, PlanMode mode, const Shape *shapes, const char *want)
{
    Diag d = {{0}};
    Plan *p = NULL;
    assert_int_equal(plan_build(g, mode, shapes, 1, &p, &d), KDC_ERR);
    assert_null(p);
    if (strcmp(d.msg, want))
        fail_msg("message '%s', expected '%s'", d.msg, want);
}

/* The same for the input shapes of batch `batch`. */
/* Plans from the declared shapes of g's inputs as they are, for graphs that
 * have no batch dim or take scalars (pc_build's batch shapes refuse those). */
enum { PC_MAX_DECLARED = 8 };

static inline void pc_declared_shapes(const Graph *g, Shape *shapes)
{
    int n = 0;
    for (int i = 0; i < g->n_inputs; i++)
        if (!g->inputs[i]->init) {
            assert_true(n < PC_MAX_DECLARED);
            shapes[n++] = g->inputs[i]->shape;
        }
}

static inline Plan *pc_build_declared(Graph *g, uint64_t seed)
{
    Shape shapes[PC_MAX_DECLARED];
    Diag d = {{0}};
    Plan *p = NULL;
    pc_declared_shapes(g, shapes);
    if (plan_build(g, PLAN_INFERENCE, shapes, seed, &p, &d))
        fail_msg("plan: %s", d.msg);
    return p;
}

static inline void pc_expect_declared_build_error(Graph *g, const char *want)
{
    Shape shapes[PC_MAX_DECLARED];
    pc_declared_shapes(g, shapes);
    pc_expect_build_error(g, PLAN_INFERENCE, shapes, want);
}

static inline void pc_expect_batch_build_error(Graph *g, PlanMode mode, int64_t batch, const char *want)
{
    Shape shapes[4];
    int n = 0;
    Diag d = {{0}};
    assert_int_equal(plan_input_shapes_for_batch(g, batch, shapes, 4, &n, &d), KDC_OK);
    pc_expect_build_error(g, mode, shapes, want);
}

/* ---- group fixtures: two worker threads for the whole binary ---- */

static inline int pc_setup_threads(void **state)
{
    (void)state;
    Diag d;
    return threads_init(2, &d) == KDC_OK ? 0 : -1;
}

static inline int pc_teardown_threads(void **state)
{
    (void)state;
    threads_shutdown();
    return 0;
}

/* ---- the whole-graph gradient check ---- */

#define PC_MAX_OUTPUTS 4
#define PC_MAX_PARAMS 32

/* eps: the finite-difference step. An entry passes when
 * |numeric - analytic| <= atol + rtol * scale, scale being
 * max(|numeric|, |analytic|), or |numeric| alone when scale_numeric.
 * margin: how far the data must sit from any kink (PcGradSpec.kink_margin). */
typedef struct PcGradTol {
    double eps, atol, rtol;
    bool scale_numeric;
    double margin;
} PcGradTol;

/* A training plan and the dLoss of each of its outputs (owned here). */
typedef struct PcGradCheck {
    Plan *p;
    float *dy[PC_MAX_OUTPUTS];
    int n_out;
} PcGradCheck;

typedef void (*PcFillFn)(Plan *p, void *ctx);
typedef double (*PcKinkFn)(const Plan *p);

/* sum over outputs of dLoss . output, after a fresh forward */
static inline double pc_weighted_loss(PcGradCheck *c)
{
    pc_forward(c->p);
    double loss = 0.0;
    for (int k = 0; k < c->n_out; k++) {
        const float *y = plan_output(c->p, k);
        for (int64_t i = 0; i < pc_output_numel(c->p, k); i++)
            loss += (double)c->dy[k][i] * y[i];
    }
    return loss;
}

/* A fresh forward, zeroed gradients, dLoss seeded, backward. */
static inline void pc_run_backward(PcGradCheck *c)
{
    pc_forward(c->p);
    plan_zero_grads(c->p);
    for (int k = 0; k < c->n_out; k++) {
        DType dt;
        Shape s;
        plan_output_info(c->p, k, &dt, &s);
        assert_int_equal(dt, DT_FLOAT);
        float *dy = plan_output_grad(c->p, k);
        assert_non_null(dy);
        memcpy(dy, c->dy[k], (size_t)pc_output_numel(c->p, k) * sizeof(float));
    }
    plan_backward(c->p);
}

/* Every float input uniform in [-1, 1). */
static inline void pc_fill_uniform(Plan *p, void *ctx)
{
    (void)ctx;
    for (int k = 0; k < plan_n_inputs(p); k++)
        pc_fill_input(p, k, -1, 1);
}

/* Redraws the inputs (fill, NULL: pc_fill_uniform) until the forward sits
 * at least margin away from every kink that `kink` measures. */
static inline void pc_fill_away_from_kinks(Plan *p, PcFillFn fill, void *ctx, PcKinkFn kink, double margin)
{
    for (int tries = 0; tries < 500; tries++) {
        (fill ? fill : pc_fill_uniform)(p, ctx);
        pc_forward(p);
        if (kink(p) >= margin)
            return;
    }
    fail_msg("no random input keeps %g away from the kinks", margin);
}

/* Mismatches between the analytic gradient of one parameter and central differences. */
static inline int pc_check_param(PcGradCheck *c, const PlanParam *pp, const float *analytic, PcGradTol tol)
{
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < pp->numel; i++) {
        float saved = pp->data[i];
        pp->data[i] = (float)(saved + tol.eps);
        double up = pc_weighted_loss(c), step = (double)pp->data[i] - saved;
        pp->data[i] = (float)(saved - tol.eps);
        double down = pc_weighted_loss(c);
        step += saved - (double)pp->data[i];
        pp->data[i] = saved;
        double numeric = (up - down) / step, err = fabs(numeric - analytic[i]);
        double scale = tol.scale_numeric ? fabs(numeric) : fmax(fabs(numeric), fabs(analytic[i]));
        worst = fmax(worst, err);
        if (err > tol.atol + tol.rtol * scale && bad++ < 4)
            fprintf(stderr, "  %s[%lld]: numeric %.6g analytic %.6g\n", pp->value->name, (long long)i, numeric,
                    analytic[i]);
    }
    if (bad)
        fprintf(stderr, "  %s: %d of %lld entries off, worst error %.3g\n", pp->value->name, bad, (long long)pp->numel,
                worst);
    return bad;
}

/* With inputs and c->dy set: the plan has expect_params parameters, two
 * backward passes agree bit for bit, and every gradient entry matches
 * central differences. */
static inline void pc_grad_verify(PcGradCheck *c, int expect_params, PcGradTol tol)
{
    PlanParam *params;
    int n_params = plan_params(c->p, &params), bad = 0;
    assert_int_equal(n_params, expect_params);
    assert_true(n_params <= PC_MAX_PARAMS);
    float *analytic[PC_MAX_PARAMS];
    pc_run_backward(c);
    for (int i = 0; i < n_params; i++) {
        analytic[i] = malloc((size_t)params[i].numel * sizeof(float));
        assert_non_null(analytic[i]);
        memcpy(analytic[i], params[i].grad, (size_t)params[i].numel * sizeof(float));
    }
    pc_run_backward(c);
    for (int i = 0; i < n_params; i++)
        assert_memory_equal(analytic[i], params[i].grad, (size_t)params[i].numel * sizeof(float));
    for (int i = 0; i < n_params; i++)
        bad += pc_check_param(c, &params[i], analytic[i], tol);
    for (int i = 0; i < n_params; i++)
        free(analytic[i]);
    if (bad)
        fail_msg("%d gradient entries disagree with finite differences", bad);
}

/* Frees the dLoss buffers and the plan. */
static inline void pc_grad_free(PcGradCheck *c)
{
    for (int k = 0; k < c->n_out; k++)
        free(c->dy[k]);
    plan_free(c->p);
}

/* How pc_gradcheck builds and feeds a graph. */
typedef struct PcGradSpec {
    int64_t batch;
    uint64_t seed; /* plan_build's */
    int expect_params;
    PcGradTol tol;
    PcFillFn fill; /* the inputs; NULL: pc_fill_uniform */
    void *fill_ctx;
    PcKinkFn kink_margin; /* NULL: the graph has no kinks */
} PcGradSpec;

/* Builds a training plan of g, fills its inputs (clear of kinks), draws a
 * dLoss per output and runs pc_grad_verify. */
static inline void pc_gradcheck(Graph *g, const PcGradSpec *spec)
{
    PcGradCheck c = {pc_build(g, PLAN_TRAINING, spec->batch, spec->seed), {NULL}, 0};
    c.n_out = plan_n_outputs(c.p);
    assert_true(c.n_out <= PC_MAX_OUTPUTS);
    if (spec->kink_margin)
        pc_fill_away_from_kinks(c.p, spec->fill, spec->fill_ctx, spec->kink_margin, spec->tol.margin);
    else
        (spec->fill ? spec->fill : pc_fill_uniform)(c.p, spec->fill_ctx);
    for (int k = 0; k < c.n_out; k++)
        c.dy[k] = pc_random_floats(pc_output_numel(c.p, k));
    pc_grad_verify(&c, spec->expect_params, spec->tol);
    pc_grad_free(&c);
}

/* ---- reference helpers and layout checks ---- */

static inline double *pc_to_double(const float *x, int64_t n)
{
    double *y = malloc((size_t)n * sizeof *y);
    assert_non_null(y);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i];
    return y;
}

/* Writes a random input into input 0 of p and returns a copy in double. */
static inline double *pc_random_input(Plan *p, int64_t n)
{
    float *x = plan_input(p, 0);
    gb_fill_random(x, n, -1.0f, 1.0f);
    return pc_to_double(x, n);
}

/* Placed buffers whose lifetimes intersect must not share bytes. */
static inline void pc_check_no_live_overlap(const Plan *p)
{
    for (int i = 0; i < p->n_tensors; i++) {
        const RtTensor *a = &p->tensors[i];
        if (!a->bytes || (unsigned char *)a->data != p->act + a->offset)
            continue;
        for (int j = i + 1; j < p->n_tensors; j++) {
            const RtTensor *b = &p->tensors[j];
            if (!b->bytes || (unsigned char *)b->data != p->act + b->offset)
                continue;
            bool live_together = !(a->last_use < b->def_step || b->last_use < a->def_step);
            bool share = a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
            if (live_together && share)
                fail_msg("'%s' and '%s' are live together in overlapping buffers", a->value->name, b->value->name);
        }
    }
}

#endif
