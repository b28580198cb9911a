/* test_kernels_loss.c - the loss kernels of runtime/k_loss.c:
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * Forward against values worked out by hand (the ONNX spec's NLL examples,
 * plus ignore_index under a weighted mean; a two-position SCE), against a
 * double-precision reference on k-dimensional inputs ([N,C,d1,d2]) with
 * weights, ignore_index and int32 or int64 targets under every reduction,
 * and the target check's errors word for word. Backward against central
 * finite differences (tests/unit/gradcheck.h) for every reduction, with and
 * without weights and ignored positions, SCE with gradients arriving on the
 * loss, on log_prob, or both; a mean over no weight is NaN forward and adds
 * nothing backward; one and two threads give the same SCE gradients.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels_loss.h"
#include "runtime/threads.h"

static const GcTol nll_tol = {1e-2, 1e-4, 1e-3};
static const GcTol sce_tol = {1e-2, 1e-3, 1e-2};

/* ---- worked by hand ---- */

/* The spec's example: N=2, C=3, d1=2. */
static const float spec_input[12] = {1, 2, 2, 2, 3, 2, 0, 1, 2, 2, 1, 2};
static const int64_t spec_target[4] = {2, 1, 0, 2};
static const float spec_weight[3] = {0.2f, 0.3f, 0.1f};

static void test_nll_spec_examples(void **state)
{
    (void)state;
    LossDims ld = {.N = 2, .C = 3, .D = 2, .reduction = KLOSS_NONE};
    float loss[4];
    k_nll_forward(&ld, spec_input, spec_target, NULL, loss);
    const float none[4] = {-3, -2, -0.0f, -2};
    for (int i = 0; i < 4; i++)
        assert_float_equal(loss[i], none[i], 0);
    ld.reduction = KLOSS_SUM;
    k_nll_forward(&ld, spec_input, spec_target, spec_weight, loss);
    assert_float_equal(loss[0], -1.1f, 1e-6);
    ld.reduction = KLOSS_MEAN;
    k_nll_forward(&ld, spec_input, spec_target, spec_weight, loss);
    assert_float_equal(loss[0], -1.1f / 0.7f, 1e-6); /* -1.5714 */
    k_nll_forward(&ld, spec_input, spec_target, NULL, loss);
    assert_float_equal(loss[0], -7.0f / 4, 1e-6);
}

/* ignore_index 1 drops position (0,1): the weighted mean is
 * (-3*0.1 - 0*0.2 - 2*0.1) / (0.1 + 0.2 + 0.1) = -1.25; unweighted, the
 * divisor is the 3 positions that count; int32 targets read alike. */
static void test_nll_ignore_index_by_hand(void **state)
{
    (void)state;
    LossDims ld = {.N = 2, .C = 3, .D = 2, .reduction = KLOSS_MEAN, .has_ignore = true, .ignore_index = 1};
    float loss[4];
    k_nll_forward(&ld, spec_input, spec_target, spec_weight, loss);
    assert_float_equal(loss[0], -1.25f, 1e-6);
    k_nll_forward(&ld, spec_input, spec_target, NULL, loss);
    assert_float_equal(loss[0], -5.0f / 3, 1e-6);
    ld.reduction = KLOSS_NONE;
    ld.target_i32 = true;
    const int32_t t32[4] = {2, 1, 0, 2};
    k_nll_forward(&ld, spec_input, t32, spec_weight, loss);
    const float none[4] = {-0.3f, 0, 0, -0.2f};
    for (int i = 0; i < 4; i++)
        assert_float_equal(loss[i], none[i], 1e-7);
    /* The backward of the weighted mean: -w[t]/0.4 at each target that counts. */
    ld.reduction = KLOSS_MEAN;
    float dlogp[12] = {0}, one = 1;
    k_nll_backward(&ld, t32, spec_weight, &one, dlogp);
    const float want[12] = {0, 0, 0, 0, -0.25f, 0, -0.5f, 0, 0, 0, 0, -0.25f};
    for (int i = 0; i < 12; i++)
        assert_float_equal(dlogp[i], want[i], 1e-6);
}

/* Scores [0, ln 3] at one position and [0, 0] at the other (C = 2, D = 2):
 * log-probabilities -ln 4, ln(3/4) and -ln 2, -ln 2. */
static void test_sce_by_hand(void **state)
{
    (void)state;
    LossDims ld = {.N = 1, .C = 2, .D = 2, .reduction = KLOSS_NONE};
    const float scores[4] = {0, 0, (float)log(3.0), 0};
    const int64_t target[2] = {1, 0};
    float logp[4], loss[2];
    k_sce_forward(&ld, scores, target, NULL, logp, loss);
    assert_float_equal(logp[0], -log(4.0), 1e-6);
    assert_float_equal(logp[1], -log(2.0), 1e-6);
    assert_float_equal(logp[2], log(3.0 / 4), 1e-6);
    assert_float_equal(logp[3], -log(2.0), 1e-6);
    assert_float_equal(loss[0], log(4.0 / 3), 1e-6);
    assert_float_equal(loss[1], log(2.0), 1e-6);
    /* d loss0 / d scores = softmax - onehot(1) = [0.25 - 0, 0.75 - 1]. */
    float dscores[4] = {0}, dloss[2] = {1, 0};
    k_sce_backward(&ld, logp, target, NULL, dloss, NULL, dscores);
    assert_float_equal(dscores[0], 0.25f, 1e-6);
    assert_float_equal(dscores[2], -0.25f, 1e-6);
    assert_float_equal(dscores[1], 0, 0);
    assert_float_equal(dscores[3], 0, 0);
}

static void test_target_check(void **state)
{
    (void)state;
    LossDims ld = {.N = 2, .C = 3, .D = 2};
    Diag d = {{0}};
    const int64_t ok[4] = {0, 2, 1, 0}, high[4] = {0, 3, 1, 0}, neg[4] = {0, 1, -1, 2};
    assert_int_equal(k_loss_check_targets(&ld, ok, &d), KDC_OK);
    assert_int_equal(k_loss_check_targets(&ld, high, &d), KDC_ERR);
    assert_string_equal(d.msg, "target 3 (element 1) is not a class in [0, 3)");
    assert_int_equal(k_loss_check_targets(&ld, neg, &d), KDC_ERR);
    assert_string_equal(d.msg, "target -1 (element 2) is not a class in [0, 3)");
    ld.has_ignore = true;
    ld.ignore_index = -1;
    assert_int_equal(k_loss_check_targets(&ld, neg, &d), KDC_OK);
    ld.ignore_index = 10;
    assert_int_equal(k_loss_check_targets(&ld, neg, &d), KDC_ERR);
    assert_string_equal(d.msg, "target -1 (element 2) is not a class in [0, 3) nor ignore_index 10");
    const int32_t t32[4] = {0, 10, 2, 7};
    ld.target_i32 = true;
    assert_int_equal(k_loss_check_targets(&ld, t32, &d), KDC_ERR);
    assert_string_equal(d.msg, "target 7 (element 3) is not a class in [0, 3) nor ignore_index 10");
}

/* ---- random cases: a double reference and finite differences ---- */

typedef struct LossCase {
    LossDims ld;
    bool sce, weighted;
    float *x, *weight, *logp, *loss;
    float *w_loss, *w_logp; /* the test loss: sum(w_loss*loss) + sum(w_logp*logp) */
    void *target;
    size_t n_x, n_pos, n_loss;
} LossCase;

static int64_t case_target(const LossCase *c, size_t i)
{
    return c->ld.target_i32 ? ((int32_t *)c->target)[i] : ((int64_t *)c->target)[i];
}

/* Classes at random, every third position (and the first) ignore_index when set. */
static void case_fill_targets(LossCase *c, KRng *rng)
{
    c->target = calloc(c->n_pos, sizeof(int64_t));
    for (size_t i = 0; i < c->n_pos; i++) {
        int64_t t = (int64_t)(k_rng_next(rng) % (uint64_t)c->ld.C);
        if (c->ld.has_ignore && i % 3 == 0)
            t = c->ld.ignore_index;
        if (c->ld.target_i32)
            ((int32_t *)c->target)[i] = (int32_t)t;
        else
            ((int64_t *)c->target)[i] = t;
    }
}

static LossCase case_new(LossDims ld, bool sce, bool weighted, KRng *rng)
{
    LossCase c = {.ld = ld, .sce = sce, .weighted = weighted};
    c.n_x = (size_t)(ld.N * ld.C * ld.D);
    c.n_pos = (size_t)(ld.N * ld.D);
    c.n_loss = (size_t)k_loss_out_numel(&ld);
    c.x = sce ? gc_uniform(rng, c.n_x, -2, 2) : gc_uniform(rng, c.n_x, -3, -0.1f);
    c.weight = weighted ? gc_uniform(rng, (size_t)ld.C, 0.2f, 1.5f) : NULL;
    c.logp = gc_alloc(c.n_x);
    c.loss = gc_alloc(c.n_loss);
    c.w_loss = gc_uniform(rng, c.n_loss, -1, 1);
    c.w_logp = gc_uniform(rng, c.n_x, -1, 1);
    case_fill_targets(&c, rng);
    return c;
}

static void case_free(LossCase *c)
{
    free(c->x), free(c->weight), free(c->logp), free(c->loss), free(c->w_loss), free(c->w_logp), free(c->target);
}

/* The forward, in float, as the gradient check's loss. */
static double case_loss(void *ctx)
{
    LossCase *c = ctx;
    if (!c->sce) {
        k_nll_forward(&c->ld, c->x, c->target, c->weight, c->loss);
        return gc_weighted_sum(c->loss, c->w_loss, c->n_loss);
    }
    k_sce_forward(&c->ld, c->x, c->target, c->weight, c->logp, c->loss);
    return gc_weighted_sum(c->loss, c->w_loss, c->n_loss) + gc_weighted_sum(c->logp, c->w_logp, c->n_x);
}

/* Log-probabilities of x in double (SCE), or x itself (NLL). */
static double ref_logp(const LossCase *c, int64_t n, int64_t k, int64_t d)
{
    int64_t C = c->ld.C, D = c->ld.D;
    if (!c->sce)
        return c->x[(n * C + k) * D + d];
    double sum = 0;
    for (int64_t j = 0; j < C; j++)
        sum += exp(c->x[(n * C + j) * D + d]);
    return c->x[(n * C + k) * D + d] - log(sum);
}

/* The loss per the spec, in double: want has n_loss entries. */
static void ref_loss(const LossCase *c, double *want)
{
    double sum = 0, weights = 0;
    for (int64_t n = 0; n < c->ld.N; n++)
        for (int64_t d = 0; d < c->ld.D; d++) {
            size_t i = (size_t)(n * c->ld.D + d);
            int64_t t = case_target(c, i);
            bool ignored = c->ld.has_ignore && t == c->ld.ignore_index;
            double w = ignored ? 0 : c->weight ? c->weight[t] : 1;
            double l = ignored ? 0 : -w * ref_logp(c, n, t, d);
            if (c->ld.reduction == KLOSS_NONE)
                want[i] = l;
            sum += l;
            weights += w;
        }
    if (c->ld.reduction != KLOSS_NONE)
        want[0] = c->ld.reduction == KLOSS_SUM ? sum : sum / weights;
}

static void case_check_forward(LossCase *c)
{
    double *want = calloc(c->n_loss, sizeof *want);
    case_loss(c);
    ref_loss(c, want);
    assert_true(gc_max_rel_diff(c->loss, want, c->n_loss) < 1e-5);
    for (size_t i = 0; c->sce && i < c->n_x; i++) {
        int64_t n = (int64_t)i / (c->ld.C * c->ld.D), k = (int64_t)i / c->ld.D % c->ld.C, d = (int64_t)i % c->ld.D;
        assert_float_equal(c->logp[i], ref_logp(c, n, k, d), 1e-5);
    }
    free(want);
}

/* Analytic gradient of the test loss: the output gradients are its weights. */
static void case_backward(LossCase *c, bool grad_on_loss, bool grad_on_logp, float *dx)
{
    case_loss(c);
    const float *dloss = grad_on_loss ? c->w_loss : NULL, *dlogp = grad_on_logp ? c->w_logp : NULL;
    if (c->sce)
        k_sce_backward(&c->ld, c->logp, c->target, c->weight, dloss, dlogp, dx);
    else
        k_nll_backward(&c->ld, c->target, c->weight, dloss, dx);
}

static void case_check_grad(LossCase *c, bool on_loss, bool on_logp)
{
    float *saved = c->w_logp, *dx = gc_grad_buffer(c->n_x);
    float *zeros = gc_alloc(c->n_x), *zero_loss = gc_alloc(c->n_loss), *saved_loss = c->w_loss;
    if (!on_logp)
        c->w_logp = zeros;
    if (!on_loss)
        c->w_loss = zero_loss;
    case_backward(c, on_loss, on_logp, dx);
    int bad =
        gc_check(c->sce ? "sce dscores" : "nll dlogp", c->x, c->n_x, dx, case_loss, c, c->sce ? sce_tol : nll_tol);
    if (bad)
        fprintf(stderr, "  in [%lld,%lld,%lld] reduction %d weighted %d ignore %d, grad on loss %d log_prob %d\n",
                (long long)c->ld.N, (long long)c->ld.C, (long long)c->ld.D, (int)c->ld.reduction, c->weighted,
                c->ld.has_ignore, on_loss, on_logp);
    assert_int_equal(bad, 0);
    c->w_logp = saved;
    c->w_loss = saved_loss;
    free(dx), free(zeros), free(zero_loss);
}

static const LossDims shapes[] = {
    {.N = 3, .C = 5, .D = 1},                     /* [N,C] */
    {.N = 2, .C = 4, .D = 6, .target_i32 = true}, /* [N,C,2,3] */
    {.N = 1, .C = 3, .D = 7},                     /* [N,C,7] */
};

/* Every reduction, with and without weights and ignore_index, on each shape. */
static void run_all(bool sce, void (*check)(LossCase *c))
{
    KRng rng;
    k_rng_seed(&rng, sce ? 83 : 82);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int r = KLOSS_NONE; r <= KLOSS_MEAN; r++)
            for (int variant = 0; variant < 4; variant++) {
                LossDims ld = shapes[s];
                ld.reduction = (KLossReduction)r;
                ld.has_ignore = variant & 1;
                ld.ignore_index = s == 1 ? -100 : 1; /* outside the classes, or a class */
                LossCase c = case_new(ld, sce, variant & 2, &rng);
                check(&c);
                case_free(&c);
            }
}

static void check_grads(LossCase *c)
{
    case_check_grad(c, true, false);
    if (c->sce) {
        case_check_grad(c, false, true);
        case_check_grad(c, true, true);
    }
}

static void test_nll_forward_reference(void **state)
{
    (void)state;
    run_all(false, case_check_forward);
}

static void test_sce_forward_reference(void **state)
{
    (void)state;
    run_all(true, case_check_forward);
}

static void test_nll_grads(void **state)
{
    (void)state;
    run_all(false, check_grads);
}

static void test_sce_grads(void **state)
{
    (void)state;
    run_all(true, check_grads);
}

/* Every position ignored: the mean is 0/0 forward and adds no gradient. */
static void test_mean_over_nothing(void **state)
{
    (void)state;
    LossDims ld = {.N = 2, .C = 3, .D = 1, .reduction = KLOSS_MEAN, .has_ignore = true, .ignore_index = 2};
    const float x[6] = {-1, -2, -3, -4, -5, -6};
    const int64_t t[2] = {2, 2};
    float loss, logp[6], dx[6] = {0}, one = 1;
    k_nll_forward(&ld, x, t, spec_weight, &loss);
    assert_true(isnan(loss));
    k_sce_forward(&ld, x, t, NULL, logp, &loss);
    assert_true(isnan(loss));
    k_nll_backward(&ld, t, spec_weight, &one, dx);
    k_sce_backward(&ld, logp, t, NULL, &one, NULL, dx);
    for (int i = 0; i < 6; i++)
        assert_float_equal(dx[i], 0, 0);
}

/* Large enough to split the lanes over threads: the same bits either way. */
static void test_sce_one_vs_two_threads(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    k_rng_seed(&rng, 84);
    LossDims ld = {.N = 8, .C = 21, .D = 400, .reduction = KLOSS_MEAN, .has_ignore = true, .ignore_index = 255};
    LossCase c = case_new(ld, true, true, &rng);
    float *dx1 = gc_alloc(c.n_x), *dx2 = gc_alloc(c.n_x);
    case_backward(&c, true, true, dx1);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    case_backward(&c, true, true, dx2);
    threads_shutdown();
    assert_memory_equal(dx1, dx2, sizeof *dx1 * c.n_x);
    free(dx1), free(dx2);
    case_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nll_spec_examples),
        cmocka_unit_test(test_nll_ignore_index_by_hand),
        cmocka_unit_test(test_sce_by_hand),
        cmocka_unit_test(test_target_check),
        cmocka_unit_test(test_nll_forward_reference),
        cmocka_unit_test(test_sce_forward_reference),
        cmocka_unit_test(test_nll_grads),
        cmocka_unit_test(test_sce_grads),
        cmocka_unit_test(test_mean_over_nothing),
        cmocka_unit_test(test_sce_one_vs_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
