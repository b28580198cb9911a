/* test_loss_terms.c - unit tests of train/loss_terms.c, the weighted sum of a run's loss
 * terms on one batch.
 *
 * No graphs: a student and two teachers are ModelOutputs over small float arrays of
 * several shapes (logits, [B, C, H, W] maps, flat features), filled from a seeded
 * generator; the student's gradients start filled with noise so that every check also
 * proves the terms ADD into them. Each term must equal calling its loss directly with the
 * sizes the term derives from the output shapes (kd against the teachers' weighted mix of
 * soft targets or one teacher, ce with mixup, every feature kind, pairs summed), scaled
 * by the term's weight in both value and gradient; the kinds mask picks terms; the
 * contrastive term is replayed on a copy of its module with the negatives it drew; the
 * trainable tensors of CRD heads are listed and zeroed; and every error of init and apply
 * comes out word for word.
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

#include "train/loss_contrastive.h"
#include "train/loss_feature.h"
#include "train/loss_logit.h"
#include "train/loss_relation.h"
#include "train/loss_terms.h"

enum {
    B = 4,       /* batch */
    K = 3,       /* classes */
    N_DATA = 20, /* samples in the training split, for CRD's memory banks */
    OUTS = 6,    /* most outputs of a fake model */
    MAX_FLOATS = B * 80,
    TEACHERS = 2,
};

/* The loss the tests start from, so that apply is seen to add rather than assign. */
#define LOSS_START 0.25

/* ---- the fake models ----
 * student: 0 logits [B,K], 1 map [B,3,4,4], 2 map [B,2,4,4], 3 [B,6], 4 [B,5]
 * teachers: 0 logits [B,K], 1 map [B,5,2,8], 2 [B,32], 3 [B,6], 4 [B,7], 5 map [B,5,3,3]
 * Maps 1 and 2 of the student and map 1 of the teachers have 16 positions; teacher map 5
 * has 9. */

typedef struct Fixture {
    ModelOutputs student;
    ModelOutputs teachers[TEACHERS];
    float s_data[OUTS][MAX_FLOATS], s_grad[OUTS][MAX_FLOATS];
    float t_data[TEACHERS][OUTS][MAX_FLOATS];
    int32_t y[B], y2[B];
    int64_t index[B];
} Fixture;

static Fixture fx;
static float want_grad[OUTS][MAX_FLOATS]; /* the student's gradients a test expects */
static LossTerms lt;

static uint64_t rng_state;

static float frand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static int64_t numel_of(const Shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dims[i].value;
    return n;
}

/* Appends an output of the given dims over data (and grad), filled with noise * amp. */
static void add_output(ModelOutputs *m, float *data, float *grad, int rank, const int64_t *dims, float amp)
{
    int k = m->n++;
    m->data[k] = data;
    m->grad[k] = grad;
    m->shape[k] = shape_from_dims(rank, dims);
    int64_t n = numel_of(&m->shape[k]);
    assert_true(n <= MAX_FLOATS);
    for (int64_t i = 0; i < n; i++) {
        data[i] = amp * frand();
        if (grad)
            grad[i] = frand();
    }
}

static void add_teacher(int t)
{
    ModelOutputs *m = &fx.teachers[t];
    float(*x)[MAX_FLOATS] = fx.t_data[t];
    add_output(m, x[0], NULL, 2, (int64_t[]){B, K}, 3.0f);
    add_output(m, x[1], NULL, 4, (int64_t[]){B, 5, 2, 8}, 1.0f);
    add_output(m, x[2], NULL, 2, (int64_t[]){B, 32}, 1.0f);
    add_output(m, x[3], NULL, 2, (int64_t[]){B, 6}, 1.0f);
    add_output(m, x[4], NULL, 2, (int64_t[]){B, 7}, 1.0f);
    add_output(m, x[5], NULL, 4, (int64_t[]){B, 5, 3, 3}, 1.0f);
}

static void fixture_reset(void)
{
    memset(&fx, 0, sizeof fx);
    rng_state = 11;
    ModelOutputs *s = &fx.student;
    add_output(s, fx.s_data[0], fx.s_grad[0], 2, (int64_t[]){B, K}, 2.0f);
    add_output(s, fx.s_data[1], fx.s_grad[1], 4, (int64_t[]){B, 3, 4, 4}, 1.0f);
    add_output(s, fx.s_data[2], fx.s_grad[2], 4, (int64_t[]){B, 2, 4, 4}, 1.0f);
    add_output(s, fx.s_data[3], fx.s_grad[3], 2, (int64_t[]){B, 6}, 1.0f);
    add_output(s, fx.s_data[4], fx.s_grad[4], 2, (int64_t[]){B, 5}, 1.0f);
    for (int t = 0; t < TEACHERS; t++)
        add_teacher(t);
    const int32_t y[B] = {0, 2, 1, 2}, y2[B] = {1, 0, 1, 0};
    const int64_t index[B] = {3, 17, 8, 11};
    memcpy(fx.y, y, sizeof y);
    memcpy(fx.y2, y2, sizeof y2);
    memcpy(fx.index, index, sizeof index);
    memcpy(want_grad, fx.s_grad, sizeof want_grad);
}

static const float *S(int k)
{
    return fx.s_data[k];
}
static const float *T(int t, int k)
{
    return fx.t_data[t][k];
}

static BatchLabels labels(void)
{
    return (BatchLabels){.y = fx.y, .lam = 1.0, .index = fx.index, .batch = B};
}

/* ---- checks ---- */

static void assert_close(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want))))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

/* Every gradient element of every student output against want_grad. */
static void assert_student_grads(void)
{
    for (int k = 0; k < fx.student.n; k++)
        for (int64_t i = 0; i < numel_of(&fx.student.shape[k]); i++)
            if (!(fabs(fx.s_grad[k][i] - want_grad[k][i]) <= 1e-6 * (1.0 + fabs(want_grad[k][i]))))
                fail_msg("student grad of output %d [%lld]: got %.9g, want %.9g", k, (long long)i, fx.s_grad[k][i],
                         want_grad[k][i]);
}

static void ok(Status st, const Diag *d)
{
    if (st)
        fail_msg("unexpected error: %s", d->msg);
}

static void init_terms(const LossTerm *terms, int n, const double *teacher_weights)
{
    Diag d = {{0}};
    ok(loss_terms_init(&lt, terms, n, teacher_weights, TEACHERS, &fx.student, fx.teachers, K, N_DATA, 7, &d), &d);
}

/* Applies the terms of kinds from LOSS_START; returns the total. */
static double apply(unsigned kinds, const BatchLabels *lab)
{
    Diag d = {{0}};
    double loss = LOSS_START;
    ok(loss_terms_apply(&lt, kinds, &fx.student, fx.teachers, lab, &loss, &d), &d);
    return loss;
}

/* Soft targets of teacher t alone into p [B, K]. */
static void soft_of(int t, double share, float *p)
{
    Diag d = {{0}};
    ok(loss_soft_targets(T(t, 0), B, K, 2.5, share, p, &d), &d);
}

/* ---- logit terms ---- */

static void test_kd_mixes_teachers(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec kd = {.kind = LOSS_KD, .weight = 1, .temperature = 2.5};
    LossTerm term = {.spec = &kd, .teacher = LOSS_TERM_ALL_TEACHERS, .weight = 0.6};
    init_terms(&term, 1, (double[]){3, 1});
    float p[B * K] = {0};
    soft_of(0, 0.75, p);
    soft_of(1, 0.25, p);
    Diag d = {{0}};
    double want;
    ok(loss_kd_soft(S(0), p, B, K, 2.5, 0.6, &want, want_grad[0], &d), &d);
    BatchLabels lab = labels();
    assert_close(apply(LOSS_KINDS_ALL, &lab), LOSS_START + 0.6 * want, 1e-12, "kd over the mix");
    assert_student_grads();
    /* The mix matters: either teacher alone gives another loss. */
    for (int t = 0; t < TEACHERS; t++) {
        float one[B * K] = {0};
        double alone;
        soft_of(t, 1.0, one);
        ok(loss_kd_soft(S(0), one, B, K, 2.5, 1.0, &alone, NULL, &d), &d);
        assert_true(fabs(alone - want) > 1e-3);
    }
    loss_terms_free(&lt);
}

/* A kd term bound to one teacher reads that teacher alone, whatever the teachers' shares. */
static void test_kd_one_teacher(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec kd = {.kind = LOSS_KD, .weight = 1, .temperature = 2.5};
    LossTerm term = {.spec = &kd, .teacher = 1, .weight = 1.0};
    init_terms(&term, 1, (double[]){3, 1});
    float p[B * K] = {0};
    soft_of(1, 1.0, p);
    Diag d = {{0}};
    double want;
    ok(loss_kd_soft(S(0), p, B, K, 2.5, 1.0, &want, want_grad[0], &d), &d);
    BatchLabels lab = labels();
    assert_close(apply(LOSS_KINDS_ALL, &lab), LOSS_START + want, 1e-12, "kd on teacher 2");
    assert_student_grads();
    loss_terms_free(&lt);
}

/* ce with mixup plus kd: the total is the weighted sum, the gradients add into the
 * pre-filled ones in term order. */
static void test_ce_mixup_and_sum(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec ce = {.kind = LOSS_CE, .weight = 0.4, .smoothing = 0.1};
    LossSpec kd = {.kind = LOSS_KD, .weight = 0.6, .temperature = 2.5};
    LossTerm terms[2] = {{.spec = &ce, .teacher = LOSS_TERM_ALL_TEACHERS, .weight = 0.4},
                         {.spec = &kd, .teacher = 0, .weight = 0.6}};
    init_terms(terms, 2, (double[]){1, 1});
    BatchLabels lab = {.y = fx.y, .y2 = fx.y2, .lam = 0.3, .index = fx.index, .batch = B};
    Diag d = {{0}};
    double v_ce, v_kd;
    float p[B * K] = {0};
    ok(loss_ce(S(0), fx.y, fx.y2, 0.3, B, K, 0.1, 0.4, &v_ce, want_grad[0], &d), &d);
    soft_of(0, 1.0, p);
    ok(loss_kd_soft(S(0), p, B, K, 2.5, 0.6, &v_kd, want_grad[0], &d), &d);
    assert_close(apply(LOSS_KINDS_ALL, &lab), LOSS_START + 0.4 * v_ce + 0.6 * v_kd, 1e-12, "ce + kd");
    assert_student_grads();

    /* ce alone from zero gradients: its weight scales the unit gradient. */
    memset(fx.s_grad, 0, sizeof fx.s_grad);
    float unit[B * K] = {0};
    ok(loss_ce(S(0), fx.y, fx.y2, 0.3, B, K, 0.1, 1.0, &v_ce, unit, &d), &d);
    assert_close(apply(1u << LOSS_CE, &lab), LOSS_START + 0.4 * v_ce, 1e-12, "ce alone");
    for (int i = 0; i < B * K; i++)
        assert_close(fx.s_grad[0][i], 0.4 * unit[i], 1e-6, "ce gradient scaled by its weight");

    /* Without mixup y2 is not read. */
    lab.y2 = NULL;
    ok(loss_ce(S(0), fx.y, NULL, 0.3, B, K, 0.1, 1.0, &v_ce, NULL, &d), &d);
    assert_close(apply(1u << LOSS_CE, &lab), LOSS_START + 0.4 * v_ce, 1e-12, "ce without mixup");
    loss_terms_free(&lt);
}

/* ---- feature terms ---- */

/* A term of spec bound to teacher 2 (index 1) over n pairs (student_out[i], teacher_out[i]). */
static LossTerm feature_term(const LossSpec *spec, double weight, int n, const int *so, const int *to)
{
    LossTerm t = {.spec = spec, .teacher = 1, .weight = weight, .n_pairs = n};
    for (int i = 0; i < n; i++) {
        t.student_out[i] = so[i];
        t.teacher_out[i] = to[i];
    }
    return t;
}

/* Applies the single term t and checks the total against weight * value (the sum over its
 * pairs, unscaled) and the student's gradients against want_grad. */
static void check_term(const LossTerm *t, double value)
{
    init_terms(t, 1, (double[]){1, 2});
    BatchLabels lab = labels();
    assert_close(apply(LOSS_KINDS_ALL, &lab), LOSS_START + t->weight * value, 1e-12, loss_kind_name(t->spec->kind));
    assert_student_grads();
    loss_terms_free(&lt);
}

static void test_hint_term(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec spec = {.kind = LOSS_HINT, .weight = 0.7};
    /* [B,2,4,4] against [B,32]: only the per-sample sizes need to agree. */
    LossTerm t = feature_term(&spec, 0.7, 2, (int[]){2, 3}, (int[]){2, 3});
    Diag d = {{0}};
    double v1, v2;
    ok(loss_hint(S(2), T(1, 2), B * 32, 0.7, &v1, want_grad[2], &d), &d);
    ok(loss_hint(S(3), T(1, 3), B * 6, 0.7, &v2, want_grad[3], &d), &d);
    check_term(&t, v1 + v2);
}

static void test_attention_term(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec spec = {.kind = LOSS_ATTENTION, .weight = 1.3, .p = 3.0};
    /* 3 and 2 student channels against 5; 4x4 and 2x8 are both 16 positions. */
    LossTerm t = feature_term(&spec, 1.3, 2, (int[]){1, 2}, (int[]){1, 1});
    Diag d = {{0}};
    double v1, v2;
    ok(loss_attention(S(1), T(1, 1), B, 3, 5, 16, 3.0, 1.3, &v1, want_grad[1], &d), &d);
    ok(loss_attention(S(2), T(1, 1), B, 2, 5, 16, 3.0, 1.3, &v2, want_grad[2], &d), &d);
    check_term(&t, v1 + v2);
}

static void test_similarity_term(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec spec = {.kind = LOSS_SIMILARITY, .weight = 2.0};
    LossTerm t = feature_term(&spec, 2.0, 2, (int[]){1, 3}, (int[]){4, 1});
    Diag d = {{0}};
    double v1, v2;
    ok(loss_similarity(S(1), T(1, 4), B, 48, 7, 2.0, &v1, want_grad[1], &d), &d);
    ok(loss_similarity(S(3), T(1, 1), B, 6, 80, 2.0, &v2, want_grad[3], &d), &d);
    check_term(&t, v1 + v2);
}

static void test_relation_term(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec spec = {.kind = LOSS_RELATION, .weight = 0.5, .distance_weight = 2.0, .angle_weight = 3.0};
    LossTerm t = feature_term(&spec, 0.5, 2, (int[]){3, 4}, (int[]){4, 2});
    RelationOptions o = {2.0, 3.0};
    Diag d = {{0}};
    double v1, v2;
    ok(loss_relation(S(3), T(1, 4), B, 6, 7, &o, 0.5, &v1, want_grad[3], &d), &d);
    ok(loss_relation(S(4), T(1, 2), B, 5, 32, &o, 0.5, &v2, want_grad[4], &d), &d);
    check_term(&t, v1 + v2);
}

static void test_pkt_term(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec spec = {.kind = LOSS_PKT, .weight = 3.0};
    LossTerm t = feature_term(&spec, 3.0, 2, (int[]){4, 1}, (int[]){1, 3});
    Diag d = {{0}};
    double v1, v2;
    ok(loss_pkt(S(4), T(1, 1), B, 5, 80, 3.0, &v1, want_grad[4], &d), &d);
    ok(loss_pkt(S(1), T(1, 3), B, 48, 6, 3.0, &v2, want_grad[1], &d), &d);
    check_term(&t, v1 + v2);
}

static void test_correlation_term(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec spec = {.kind = LOSS_CORRELATION, .weight = 0.9};
    LossTerm t = feature_term(&spec, 0.9, 2, (int[]){3, 2}, (int[]){3, 2});
    Diag d = {{0}};
    double v1, v2;
    ok(loss_correlation(S(3), T(1, 3), B, 6, 0.9, &v1, want_grad[3], &d), &d);
    ok(loss_correlation(S(2), T(1, 2), B, 32, 0.9, &v2, want_grad[2], &d), &d);
    check_term(&t, v1 + v2);
}

static const ContrastSpec CRD = {.feat_dim = 4, .negatives = 5, .temperature = 0.1, .momentum = 0.5};

/* Copies every tensor of the module from into the module to of the same sizes. */
static void contrast_copy(Contrast *to, Contrast *from, int64_t s_dim, int64_t t_dim)
{
    ContrastTensors a = contrast_tensors(to), b = contrast_tensors(from);
    size_t f = (size_t)CRD.feat_dim * sizeof(float);
    memcpy(a.w_s, b.w_s, f * (size_t)s_dim);
    memcpy(a.b_s, b.b_s, f);
    memcpy(a.w_t, b.w_t, f * (size_t)t_dim);
    memcpy(a.b_t, b.b_t, f);
    memcpy(a.memory_s, b.memory_s, f * N_DATA);
    memcpy(a.memory_t, b.memory_t, f * N_DATA);
}

static void assert_floats_close(const float *got, const float *want, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        assert_close(got[i], want[i], 1e-6, what);
}

/* The term draws negatives, then is CRD on its module: replay it on a copy taken before. */
static void test_contrastive_term(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec spec = {.kind = LOSS_CONTRASTIVE, .weight = 0.8, .contrast = CRD};
    LossTerm t = feature_term(&spec, 0.8, 1, (int[]){4}, (int[]){4});
    init_terms(&t, 1, (double[]){1, 2});
    Contrast *mine = NULL;
    Diag d = {{0}};
    ok(contrast_new(5, 7, N_DATA, CRD.feat_dim, B, CRD.temperature, CRD.momentum, 99, &mine, &d), &d);
    contrast_copy(mine, lt.contrast[0][0], 5, 7);
    BatchLabels lab = labels();
    double total = apply(LOSS_KINDS_ALL, &lab);
    const int64_t *idx = lt.contrast_idx;
    for (int b = 0; b < B; b++) {
        assert_int_equal(idx[b * (CRD.negatives + 1)], fx.index[b]);
        for (int k = 1; k <= CRD.negatives; k++)
            assert_true(idx[b * (CRD.negatives + 1) + k] >= 0 && idx[b * (CRD.negatives + 1) + k] < N_DATA);
    }
    double want;
    ok(loss_contrastive(mine, S(4), T(1, 4), idx, B, CRD.negatives, 0.8, &want, want_grad[4], &d), &d);
    assert_close(total, LOSS_START + 0.8 * want, 1e-12, "contrastive");
    assert_student_grads();
    ContrastTensors got = contrast_tensors(lt.contrast[0][0]), ref = contrast_tensors(mine);
    int64_t f = CRD.feat_dim;
    assert_floats_close(got.dw_s, ref.dw_s, f * 5, "dW_s");
    assert_floats_close(got.db_s, ref.db_s, f, "db_s");
    assert_floats_close(got.dw_t, ref.dw_t, f * 7, "dW_t");
    assert_floats_close(got.db_t, ref.db_t, f, "db_t");
    assert_floats_close(got.memory_s, ref.memory_s, f * N_DATA, "memory_s after the update");
    assert_floats_close(got.memory_t, ref.memory_t, f * N_DATA, "memory_t after the update");
    contrast_free(mine);
    loss_terms_free(&lt);
}

/* kinds selects terms: hint alone, none, then hint and similarity. */
static void test_kinds_mask(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec kd = {.kind = LOSS_KD, .weight = 1, .temperature = 2.5}, ce = {.kind = LOSS_CE, .weight = 1};
    LossSpec hint = {.kind = LOSS_HINT, .weight = 0.7}, sim = {.kind = LOSS_SIMILARITY, .weight = 2.0};
    LossSpec att = {.kind = LOSS_ATTENTION, .weight = 1, .p = 2.0};
    LossTerm terms[5] = {
        {.spec = &kd, .teacher = LOSS_TERM_ALL_TEACHERS, .weight = 1},
        feature_term(&hint, 0.7, 2, (int[]){2, 3}, (int[]){2, 3}),
        {.spec = &ce, .teacher = LOSS_TERM_ALL_TEACHERS, .weight = 1},
        feature_term(&sim, 2.0, 1, (int[]){1}, (int[]){4}),
        feature_term(&att, 1.0, 1, (int[]){1}, (int[]){1}),
    };
    init_terms(terms, 5, (double[]){1, 1});
    BatchLabels lab = labels();
    Diag d = {{0}};
    double h1, h2, s1;
    ok(loss_hint(S(2), T(1, 2), B * 32, 0.7, &h1, want_grad[2], &d), &d);
    ok(loss_hint(S(3), T(1, 3), B * 6, 0.7, &h2, want_grad[3], &d), &d);
    assert_close(apply(1u << LOSS_HINT, &lab), LOSS_START + 0.7 * (h1 + h2), 1e-12, "hint only");
    assert_student_grads();
    assert_close(apply(0, &lab), LOSS_START, 0, "no kinds");
    assert_student_grads();
    ok(loss_hint(S(2), T(1, 2), B * 32, 0.7, &h1, want_grad[2], &d), &d);
    ok(loss_hint(S(3), T(1, 3), B * 6, 0.7, &h2, want_grad[3], &d), &d);
    ok(loss_similarity(S(1), T(1, 4), B, 48, 7, 2.0, &s1, want_grad[1], &d), &d);
    assert_close(apply((1u << LOSS_HINT) | (1u << LOSS_SIMILARITY), &lab), LOSS_START + 0.7 * (h1 + h2) + 2.0 * s1,
                 1e-12, "hint and similarity");
    assert_student_grads();
    loss_terms_free(&lt);
}

/* ---- errors ---- */

static void expect_message(const Diag *d, const char *want)
{
    if (strcmp(d->msg, want))
        fail_msg("message '%s', expected '%s'", d->msg, want);
}

static void expect_init_error(const LossTerm *terms, int n, const double *teacher_weights, const char *want)
{
    Diag d = {{0}};
    Status st = loss_terms_init(&lt, terms, n, teacher_weights, TEACHERS, &fx.student, fx.teachers, K, N_DATA, 7, &d);
    loss_terms_free(&lt);
    assert_int_equal(st, KDC_ERR);
    expect_message(&d, want);
}

static void test_init_errors(void **state)
{
    (void)state;
    fixture_reset();
    const double ones[2] = {1, 1};
    LossSpec kd = {.kind = LOSS_KD, .weight = 1, .temperature = 2}, ce = {.kind = LOSS_CE, .weight = 1};
    LossSpec hint = {.kind = LOSS_HINT, .weight = 1};
    LossTerm t = feature_term(&hint, -1, 1, (int[]){3}, (int[]){3});
    expect_init_error(&t, 1, ones, "loss term 1 (hint) has weight -1; weights must be finite and >= 0");
    LossTerm two[2] = {{.spec = &ce, .teacher = LOSS_TERM_ALL_TEACHERS, .weight = 1},
                       {.spec = &kd, .teacher = LOSS_TERM_ALL_TEACHERS, .weight = INFINITY}};
    expect_init_error(two, 2, ones, "loss term 2 (kd) has weight inf; weights must be finite and >= 0");
    two[1].weight = NAN;
    expect_init_error(two, 2, ones, "loss term 2 (kd) has weight nan; weights must be finite and >= 0");
    t.weight = 1;
    t.teacher = LOSS_TERM_ALL_TEACHERS;
    expect_init_error(&t, 1, ones, "hint loss term 1 must name one teacher: features are not mixed");
    two[1] = (LossTerm){.spec = &kd, .teacher = 2, .weight = 1};
    expect_init_error(two, 2, ones, "kd loss term 2 reads teacher 3 of 2");
    two[1].teacher = -2;
    expect_init_error(two, 2, ones, "kd loss term 2 reads teacher -1 of 2");
    two[1].teacher = 1;
    expect_init_error(two, 2, (double[]){1, 0}, "teacher 2 has weight 0; teacher weights must be positive");
    expect_init_error(two, 0, ones, "a run needs 1 to 128 loss terms and 1 to 8 teachers, got 0 and 2");
}

/* An apply that fails on a term's first pair leaves the loss and the gradients alone. */
static void expect_apply_error(const LossTerm *t, const char *want)
{
    init_terms(t, 1, (double[]){1, 1});
    BatchLabels lab = labels();
    Diag d = {{0}};
    double loss = LOSS_START;
    assert_int_equal(loss_terms_apply(&lt, LOSS_KINDS_ALL, &fx.student, fx.teachers, &lab, &loss, &d), KDC_ERR);
    expect_message(&d, want);
    assert_true(loss == LOSS_START);
    assert_student_grads();
    loss_terms_free(&lt);
}

static void test_apply_errors(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec hint = {.kind = LOSS_HINT, .weight = 1}, corr = {.kind = LOSS_CORRELATION, .weight = 1};
    LossSpec att = {.kind = LOSS_ATTENTION, .weight = 1, .p = 2.0};
    LossSpec kd = {.kind = LOSS_KD, .weight = 1, .temperature = 0};
    LossTerm t = feature_term(&hint, 1, 1, (int[]){3}, (int[]){4});
    expect_apply_error(&t, "hint loss: the student feature has 6 values per sample, the teacher's 7");
    t = feature_term(&corr, 1, 1, (int[]){3}, (int[]){4});
    expect_apply_error(&t, "correlation loss: the student feature has 6 values per sample, the teacher's 7");
    t = feature_term(&att, 1, 1, (int[]){1}, (int[]){5});
    expect_apply_error(&t, "attention loss: the student map has 16 positions, the teacher's 9");
    t = feature_term(&att, 1, 1, (int[]){3}, (int[]){1});
    expect_apply_error(&t, "attention loss: features must be [N, C, H, W] maps, got rank 2 and 4");
    t = (LossTerm){.spec = &kd, .teacher = 0, .weight = 1};
    expect_apply_error(&t, "soft targets: temperature must be positive, got 0");
}

/* ---- the terms' own parameters ---- */

static void test_params_and_zero_grads(void **state)
{
    (void)state;
    fixture_reset();
    LossSpec hint = {.kind = LOSS_HINT, .weight = 1};
    LossSpec crd = {.kind = LOSS_CONTRASTIVE, .weight = 1, .contrast = CRD};
    LossTerm terms[2] = {feature_term(&hint, 1, 1, (int[]){3}, (int[]){3}),
                         feature_term(&crd, 1, 2, (int[]){4, 3}, (int[]){4, 3})};
    init_terms(terms, 1, (double[]){1, 1});
    float *data[16], *grad[16];
    int64_t numel[16];
    assert_int_equal(loss_terms_params(&lt, data, grad, numel, 16), 0);
    loss_terms_free(&lt);

    init_terms(terms, 2, (double[]){1, 1});
    assert_int_equal(loss_terms_params(&lt, data, grad, numel, 2), 2); /* at most max are written */
    assert_int_equal(loss_terms_params(&lt, data, grad, numel, 5), 5);
    assert_int_equal(loss_terms_params(&lt, data, grad, numel, 16), 8);
    BatchLabels too_big = labels();
    too_big.batch = lt.max_batch + 1;
    double unused = 0;
    Diag bd = {{0}};
    assert_int_equal(loss_terms_apply(&lt, LOSS_KINDS_ALL, &fx.student, fx.teachers, &too_big, &unused, &bd), KDC_ERR);
    assert_string_equal(bd.msg, "a batch of 5 samples; the loss terms were set up for 1 to 4");
    const int64_t f = CRD.feat_dim, dims[2][2] = {{5, 7}, {6, 6}}; /* s_dim, t_dim of each pair */
    for (int p = 0; p < 2; p++) {
        ContrastTensors c = contrast_tensors(lt.contrast[1][p]);
        float *const want_data[4] = {c.w_s, c.b_s, c.w_t, c.b_t}, *const want_grads[4] = {c.dw_s, c.db_s, c.dw_t,
                                                                                          c.db_t};
        const int64_t want_numel[4] = {f * dims[p][0], f, f * dims[p][1], f};
        for (int i = 0; i < 4; i++) {
            assert_ptr_equal(data[4 * p + i], want_data[i]);
            assert_ptr_equal(grad[4 * p + i], want_grads[i]);
            assert_int_equal(numel[4 * p + i], want_numel[i]);
        }
    }
    BatchLabels lab = labels();
    apply(LOSS_KINDS_ALL, &lab);
    for (int i = 0; i < 8; i++) {
        bool any = false;
        for (int64_t j = 0; j < numel[i]; j++)
            any |= grad[i][j] != 0;
        assert_true(any);
    }
    loss_terms_zero_grads(&lt);
    for (int i = 0; i < 8; i++)
        for (int64_t j = 0; j < numel[i]; j++)
            assert_true(grad[i][j] == 0);
    loss_terms_free(&lt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kd_mixes_teachers), cmocka_unit_test(test_kd_one_teacher),
        cmocka_unit_test(test_ce_mixup_and_sum),  cmocka_unit_test(test_hint_term),
        cmocka_unit_test(test_attention_term),    cmocka_unit_test(test_similarity_term),
        cmocka_unit_test(test_relation_term),     cmocka_unit_test(test_pkt_term),
        cmocka_unit_test(test_correlation_term),  cmocka_unit_test(test_contrastive_term),
        cmocka_unit_test(test_kinds_mask),        cmocka_unit_test(test_init_errors),
        cmocka_unit_test(test_apply_errors),      cmocka_unit_test(test_params_and_zero_grads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
