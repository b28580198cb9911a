/* test_trainer.c - unit tests of the distillation trainer (train/trainer.c).
 *
 * Two Gaussian blobs in 8-D make a tiny dataset, filled by hand. A teacher
 * MLP (Gemm/Relu/Gemm) with hand-made weights separates them almost
 * perfectly; a student of the same shape starts from small random weights.
 * trainer_distill must lower the loss and bring the student's test accuracy
 * and agreement with the teacher far above chance, calling the hooks as it
 * goes. trainer_predict is checked against logits known in closed form
 * (including the partial last evaluation batch), and every error of
 * trainer_classes, trainer_check_data and trainer_distill word for word.
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

#include "ir/ops.h"
#include "passes/passes.h"
#include "train/trainer.h"
#include "tests/unit/graph_build.h"

enum { FEATURES = 8, HIDDEN = 4, CLASSES = 2 };

/* ---- deterministic random numbers ---- */

static uint64_t rng_state = 3;

static double uniform01(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return ((rng_state >> 11) + 0.5) / (double)(1ull << 53);
}

static double gaussian(void)
{
    return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01());
}

/* ---- data: class 0 around -0.8, class 1 around +0.8 in every feature ---- */

static Dataset blobs(int64_t n)
{
    Dataset ds = {.n = n, .rank = 1, .dims = {FEATURES}, .sample_size = FEATURES, .max_label = 1};
    ds.x = malloc((size_t)n * FEATURES * sizeof *ds.x);
    ds.y = malloc((size_t)n * sizeof *ds.y);
    assert_non_null(ds.x);
    assert_non_null(ds.y);
    for (int64_t i = 0; i < n; i++) {
        ds.y[i] = (int32_t)(i % 2);
        for (int f = 0; f < FEATURES; f++)
            ds.x[i * FEATURES + f] = (float)((ds.y[i] ? 0.8 : -0.8) + gaussian());
    }
    return ds;
}

/* ---- models ---- */

static Value *gemm(Graph *g, const char *name, Value *x, Value *w, Value *b)
{
    Node *n = gb_node(g, "Gemm", 13, name, 3, (Value *[]){x, w, b}, 1);
    gb_set_int(n, "transB", 1);
    return n->outputs[0];
}

/* x [N,8] -> Gemm -> Relu -> Gemm -> logits [N,classes]; weights zeroed. */
static Model *mlp(int64_t hidden, int64_t classes)
{
    Model *m = model_new();
    Graph *g = m->graph;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, FEATURES});
    Value *h = gemm(g, "fc1", x, gb_init(g, "w1", DT_FLOAT, 2, (int64_t[]){hidden, FEATURES}),
                    gb_init(g, "b1", DT_FLOAT, 1, &hidden));
    Value *r = gb_node_to(g, "Relu", 13, "relu", 1, &h, "h")->outputs[0];
    Value *y = gemm(g, "fc2", r, gb_init(g, "w2", DT_FLOAT, 2, (int64_t[]){classes, hidden}),
                    gb_init(g, "b2", DT_FLOAT, 1, &classes));
    gb_append_output(g, y);
    Diag d = {{0}};
    if (pass_infer_shapes(g, &d))
        fail_msg("infer: %s", d.msg);
    return m;
}

static float *weights_of(Model *m, const char *name)
{
    return graph_find_value(m->graph, name)->init->data;
}

/* Unit 0 is relu(sum x), unit 1 relu(-sum x), the others 0: the logits are
 * -sum x and +sum x, the best rule for these blobs. */
static Model *teacher(void)
{
    Model *m = mlp(HIDDEN, CLASSES);
    float *w1 = weights_of(m, "w1"), *w2 = weights_of(m, "w2");
    for (int f = 0; f < FEATURES; f++) {
        w1[0 * FEATURES + f] = 1.0f;
        w1[1 * FEATURES + f] = -1.0f;
    }
    w2[0 * HIDDEN + 0] = -1.0f;
    w2[0 * HIDDEN + 1] = 1.0f;
    w2[1 * HIDDEN + 0] = 1.0f;
    w2[1 * HIDDEN + 1] = -1.0f;
    return m;
}

static Model *student(void)
{
    Model *m = mlp(HIDDEN, CLASSES);
    const char *names[] = {"w1", "b1", "w2", "b2"};
    for (int k = 0; k < 4; k++) {
        Tensor *t = graph_find_value(m->graph, names[k])->init;
        for (int64_t i = 0; i < tensor_numel(t); i++)
            ((float *)t->data)[i] = (float)(0.1 * (2.0 * uniform01() - 1.0));
    }
    return m;
}

/* ---- distillation ---- */

/* trainer_distill with one teacher and the classic kd + ce terms of dopt. */
static Status distill_classic(Model *t, Model *s, const Dataset *train, const Dataset *test,
                              const DistillOptions *dopt, const TrainOptions *topt, const TrainHooks *hooks,
                              DistillResult *r, Diag *d)
{
    LossSpec specs[2];
    LossTerm terms[2];
    int n = trainer_classic_terms(dopt, specs, terms);
    DistillModels m = {.n_teachers = 1, .teachers = {t->graph}, .teacher_weights = {1}, .student = s->graph,
                       .n_terms = n, .terms = terms};
    return trainer_distill(&m, train, test, dopt, NULL, topt, hooks, r, d);
}

typedef struct HookLog {
    int batches, epochs, last_epoch;
    int64_t last_batch;
    double first_loss, last_loss;
} HookLog;

static void on_batch(const TrainProgress *p, void *ctx)
{
    HookLog *log = ctx;
    assert_int_equal(p->batch, log->last_batch % p->batches + 1);
    assert_true(p->loss > 0 && isfinite(p->loss));
    assert_true(p->accuracy >= 0 && p->accuracy <= 1);
    log->last_batch = p->batch;
    log->batches++;
}

static void on_epoch(const EpochStats *s, void *ctx)
{
    HookLog *log = ctx;
    assert_int_equal(s->epoch, log->last_epoch + 1);
    log->last_epoch = s->epoch;
    if (log->epochs++ == 0)
        log->first_loss = s->loss;
    log->last_loss = s->loss;
}

static void test_distill_learns(void **state)
{
    (void)state;
    Dataset train = blobs(512), test = blobs(256);
    Model *t = teacher(), *s = student();
    Diag d = {{0}};
    double before = 0;
    assert_int_equal(trainer_predict(s->graph, &test, CLASSES, NULL, &before, &d), KDC_OK);
    DistillOptions dopt = {.temperature = 2.0, .alpha = 0.7};
    TrainOptions topt = {.epochs = 4,
                         .batch_size = 32,
                         .lr = 0.05,
                         .momentum = 0.9,
                         .weight_decay = 1e-4,
                         .schedule = TRAIN_SCHEDULE_COSINE,
                         .seed = 5};
    HookLog log = {0};
    TrainHooks hooks = {on_batch, on_epoch, &log, NULL};
    DistillResult *r = malloc(sizeof *r);
    assert_non_null(r);
    if (distill_classic(t, s, &train, &test, &dopt, &topt, &hooks, r, &d))
        fail_msg("distill: %s", d.msg);
    assert_true(r->teacher_accuracy > 0.95);
    if (!(r->student_accuracy > 0.9 && r->agreement > 0.9))
        fail_msg("student accuracy %.3f (before %.3f), agreement %.3f", r->student_accuracy, before, r->agreement);
    assert_int_equal(r->n_epochs, 4);
    assert_int_equal(log.epochs, 4);
    assert_int_equal(log.batches, 4 * 16);
    assert_true(r->epochs[3].loss < 0.5 * r->epochs[0].loss);
    assert_true(log.last_loss == r->epochs[3].loss && log.first_loss == r->epochs[0].loss);
    assert_true(r->epochs[3].lr_end < 1e-9); /* cosine reaches 0 at the end */
    assert_true(r->epochs[0].lr_end > 0.04);
    double after = 0;
    assert_int_equal(trainer_predict(s->graph, &test, CLASSES, NULL, &after, &d), KDC_OK);
    assert_true(after == r->student_accuracy); /* the IR holds the trained weights */
    free(r);
    model_free(t);
    model_free(s);
    dataset_free(&train);
    dataset_free(&test);
}

/* 300 samples: one evaluation batch of 256 and a partial one of 44. */
static void test_predict_logits(void **state)
{
    (void)state;
    Dataset ds = blobs(300);
    Model *t = teacher();
    float *logits = malloc(300 * CLASSES * sizeof *logits);
    double acc = -1;
    Diag d = {{0}};
    assert_int_equal(trainer_predict(t->graph, &ds, CLASSES, logits, &acc, &d), KDC_OK);
    int64_t correct = 0;
    for (int64_t i = 0; i < ds.n; i++) {
        double sum = 0;
        for (int f = 0; f < FEATURES; f++)
            sum += ds.x[i * FEATURES + f];
        assert_true(fabs(logits[i * 2 + 1] - sum) < 1e-4);
        assert_true(fabs(logits[i * 2] + sum) < 1e-4);
        correct += (sum > 0) == (ds.y[i] == 1);
    }
    assert_true(fabs(acc - (double)correct / 300) < 1e-12);
    free(logits);
    model_free(t);
    dataset_free(&ds);
}

/* ---- errors ---- */

static void expect_error(Status st, const Diag *d, const char *want)
{
    assert_int_equal(st, KDC_ERR);
    if (strcmp(d->msg, want))
        fail_msg("message '%s', expected '%s'", d->msg, want);
}

static void test_classes_errors(void **state)
{
    (void)state;
    Model *m = mlp(HIDDEN, 3);
    Graph *g = m->graph;
    int64_t classes = 0;
    Diag d = {{0}};
    assert_int_equal(trainer_classes(g, &classes, &d), KDC_OK);
    assert_int_equal(classes, 3);
    Value *y = g->outputs[0];
    y->shape.dims[1] = (Dim){-1, "K"};
    expect_error(trainer_classes(g, &classes, &d), &d,
                 "output 'fc2_out' must be logits of shape [batch, classes] with known classes");
    y->shape.dims[1] = (Dim){1, NULL};
    expect_error(trainer_classes(g, &classes, &d), &d,
                 "output 'fc2_out' must be logits of shape [batch, classes] with known classes");
    y->shape.rank = 3;
    expect_error(trainer_classes(g, &classes, &d), &d,
                 "output 'fc2_out' must be logits of shape [batch, classes] with known classes");
    gb_append_output(g, g->inputs[0]);
    expect_error(trainer_classes(g, &classes, &d), &d,
                 "the model has 2 outputs; kdc distills classifiers with one logits output");
    model_free(m);
}

static void test_check_data_errors(void **state)
{
    (void)state;
    Model *m = teacher();
    Graph *g = m->graph;
    Dataset ds = blobs(8);
    Diag d = {{0}};
    assert_int_equal(trainer_check_data(g, &ds, CLASSES, "train.npy", "labels.npy", &d), KDC_OK);
    ds.dims[0] = 7;
    expect_error(trainer_check_data(g, &ds, CLASSES, "train.npy", "labels.npy", &d), &d,
                 "train.npy: samples are 7 but the teacher's input 'x' takes 8");
    ds.rank = 2;
    ds.dims[0] = 2;
    ds.dims[1] = 4;
    expect_error(trainer_check_data(g, &ds, CLASSES, "train.npy", "labels.npy", &d), &d,
                 "train.npy: samples are 2x4 but the teacher's input 'x' takes 8");
    ds.rank = 1;
    ds.dims[0] = 8;
    ds.y[3] = 5;
    expect_error(trainer_check_data(g, &ds, CLASSES, "train.npy", "labels.npy", &d), &d,
                 "labels.npy: label 5 of sample 3 is out of range: the teacher has 2 classes");
    ds.y[3] = 1;
    ds.y[6] = -1;
    expect_error(trainer_check_data(g, &ds, CLASSES, "train.npy", "labels.npy", &d), &d,
                 "labels.npy: label -1 of sample 6 is out of range: the teacher has 2 classes");
    ds.y[6] = 0;
    Value *x2 = graph_add_value(g, "x2", NULL);
    gb_append_input(g, x2);
    expect_error(trainer_check_data(g, &ds, CLASSES, "train.npy", "labels.npy", &d), &d,
                 "the model must have exactly one input to train on a dataset");
    model_free(m);
    dataset_free(&ds);
}

static void test_distill_errors(void **state)
{
    (void)state;
    Dataset train = blobs(64), test = blobs(16), empty = {.rank = 1, .dims = {FEATURES}, .sample_size = FEATURES};
    Model *t = teacher(), *s3 = mlp(HIDDEN, 3), *s = student();
    DistillOptions dopt = {.temperature = 2.0, .alpha = 0.5};
    TrainOptions topt = {.epochs = 1, .batch_size = 16, .lr = 0.1, .schedule = TRAIN_SCHEDULE_CONSTANT};
    DistillResult *r = malloc(sizeof *r);
    Diag d = {{0}};
    expect_error(distill_classic(t, s3, &train, &test, &dopt, &topt, NULL, r, &d), &d,
                 "the student has 3 classes, teacher 1 has 2");
    expect_error(distill_classic(t, s, &empty, &test, &dopt, &topt, NULL, r, &d), &d,
                 "the training set is empty");
    LossSpec bad = {.kind = LOSS_CE, .weight = -0.5};
    LossTerm bad_term = {.spec = &bad, .teacher = LOSS_TERM_ALL_TEACHERS, .weight = -0.5};
    DistillModels m = {.n_teachers = 1, .teachers = {t->graph}, .teacher_weights = {1}, .student = s->graph,
                       .n_terms = 1, .terms = &bad_term};
    expect_error(trainer_distill(&m, &train, &test, &dopt, NULL, &topt, NULL, r, &d), &d,
                 "loss term 1 (ce) has weight -0.5; weights must be finite and >= 0");
    dopt.temperature = 0;
    expect_error(distill_classic(t, s, &train, &test, &dopt, &topt, NULL, r, &d), &d,
                 "soft targets: temperature must be positive, got 0");
    dopt.temperature = 2.0;
    topt.batch_size = 100; /* more than the data: one batch of all 64 */
    assert_int_equal(distill_classic(t, s, &train, &test, &dopt, &topt, NULL, r, &d), KDC_OK);
    assert_int_equal(r->n_epochs, 1);
    free(r);
    model_free(t);
    model_free(s3);
    model_free(s);
    dataset_free(&train);
    dataset_free(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distill_learns), cmocka_unit_test(test_predict_logits),
        cmocka_unit_test(test_classes_errors), cmocka_unit_test(test_check_data_errors),
        cmocka_unit_test(test_distill_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
