/* test_teacher_cache.c - unit tests of train/teacher_cache.c and of how the trainer uses
 * it (train/trainer_setup.c, trainer_loop.c).
 *
 * A small MLP (Gemm, Relu, Gemm) whose hidden activation is also a graph output, the way
 * the probe passes tap a feature, runs over 300 random samples: one cache batch of 256
 * and a tail of 44. Gathering shuffled rows from the cache must give what the model's own
 * inference plan gives on those samples, for both outputs. The cache file goes to
 * $TMPDIR and is unlinked at once; a missing $TMPDIR is an error naming the path. A
 * distillation run (two teachers, kd over their mix, ce and a hint term on the probes)
 * must train to the same numbers with the cache on and off, the cache must really be used
 * when on or auto, and asking for it with augmented data or online training is an error.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "passes/passes.h"
#include "runtime/plan.h"
#include "tests/unit/graph_build.h"
#include "train/teacher_cache.h"
#include "train/trainer.h"

enum { FEATURES = 8, HIDDEN = 4, CLASSES = 2, N_TRAIN = 300, N_TEST = 100, GATHER = 32 };

/* ---- data: two classes around -0.5 and +0.5 in every feature, noise in [-1, 1) ---- */

static Dataset dataset_new(int64_t n, int rank, const int64_t *dims)
{
    Dataset ds = {.n = n, .rank = rank, .sample_size = 1, .max_label = CLASSES - 1};
    for (int i = 0; i < rank; i++) {
        ds.dims[i] = dims[i];
        ds.sample_size *= dims[i];
    }
    ds.x = malloc((size_t)(n * ds.sample_size) * sizeof *ds.x);
    ds.y = malloc((size_t)n * sizeof *ds.y);
    assert_non_null(ds.x);
    assert_non_null(ds.y);
    for (int64_t i = 0; i < n; i++) {
        ds.y[i] = (int32_t)(i % CLASSES);
        for (int64_t f = 0; f < ds.sample_size; f++)
            ds.x[i * ds.sample_size + f] = (ds.y[i] ? 0.5f : -0.5f) + gb_frand();
    }
    return ds;
}

static Dataset vectors(int64_t n)
{
    return dataset_new(n, 1, (int64_t[]){FEATURES});
}

static Dataset images(int64_t n)
{
    return dataset_new(n, 3, (int64_t[]){1, 4, 4});
}

/* ---- models ---- */

static Value *gemm(Graph *g, const char *name, Value *x, Value *w, Value *b)
{
    Node *n = gb_node(g, "Gemm", 13, name, 3, (Value *[]){x, w, b}, 1);
    gb_set_int(n, "transB", 1);
    return n->outputs[0];
}

static void infer(Model *m)
{
    Diag d = {{0}};
    if (pass_infer_shapes(m->graph, &d))
        fail_msg("infer: %s", d.msg);
}

/* x [N,8] -> fc1 -> relu h [N,4] -> fc2 -> logits [N,2]; outputs: logits, then h (the
 * probe a hint term reads). Weights uniform in [-amp, amp). */
static Model *mlp_with_probe(float amp)
{
    Model *m = model_new();
    Graph *g = m->graph;
    int64_t hidden = HIDDEN, classes = CLASSES;
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){-1, FEATURES});
    Value *h = gemm(g, "fc1", x, gb_param(g, "w1", 2, (int64_t[]){HIDDEN, FEATURES}, -amp, amp),
                    gb_param(g, "b1", 1, &hidden, -amp, amp));
    Value *r = gb_node_to(g, "Relu", 13, "relu", 1, &h, "h")->outputs[0];
    Value *y = gemm(g, "fc2", r, gb_param(g, "w2", 2, (int64_t[]){CLASSES, HIDDEN}, -amp, amp),
                    gb_param(g, "b2", 1, &classes, -amp, amp));
    gb_append_output(g, y);
    gb_append_output(g, r);
    infer(m);
    return m;
}

/* x [N,1,4,4] -> Flatten -> Gemm -> logits [N,2]. */
static Model *image_classifier(void)
{
    Model *m = model_new();
    Graph *g = m->graph;
    int64_t classes = CLASSES;
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){-1, 1, 4, 4});
    Value *flat = gb_op1(g, "Flatten", 13, "flatten", x);
    Value *y = gemm(g, "fc", flat, gb_param(g, "w", 2, (int64_t[]){CLASSES, 16}, -0.5f, 0.5f),
                    gb_param(g, "b", 1, &classes, -0.5f, 0.5f));
    gb_append_output(g, y);
    infer(m);
    return m;
}

static const float *weights_of(Model *m, const char *name)
{
    return graph_find_value(m->graph, name)->init->data;
}

/* ---- helpers ---- */

static void ok(Status st, const Diag *d)
{
    if (st)
        fail_msg("unexpected error: %s", d->msg);
}

/* A permutation of 0..n-1 from the shared generator. */
static int64_t *shuffled(int64_t n)
{
    int64_t *p = malloc((size_t)n * sizeof *p);
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)((gb_frand() + 1.0f) / 2.0f * (float)(i + 1));
        j = j > i ? i : j;
        int64_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return p;
}

/* $TMPDIR as it was before the first tmpdir_set, put back by tmpdir_restore. */
static bool tmpdir_saved;
static char *saved_tmpdir;

static void tmpdir_set(const char *dir)
{
    if (!tmpdir_saved) {
        const char *old = getenv("TMPDIR");
        saved_tmpdir = old ? strdup(old) : NULL;
        tmpdir_saved = true;
    }
    assert_int_equal(setenv("TMPDIR", dir, 1), 0);
}

static void tmpdir_restore(void)
{
    if (saved_tmpdir)
        setenv("TMPDIR", saved_tmpdir, 1);
    else
        unsetenv("TMPDIR");
    free(saved_tmpdir);
    saved_tmpdir = NULL;
    tmpdir_saved = false;
}

static int entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* ---- the cache against the model's own plan ---- */

/* The gathered outputs of samples index[0..count) against plan p (batch count) run on them. */
static void check_gather(TeacherCache *c, Plan *p, const Dataset *ds, const int64_t *index, int64_t count)
{
    ModelOutputs out;
    Diag d = {{0}};
    teacher_cache_gather(c, index, count, &out);
    float *x = plan_input(p, 0);
    for (int64_t i = 0; i < count; i++)
        memcpy(x + i * ds->sample_size, ds->x + index[i] * ds->sample_size, (size_t)ds->sample_size * sizeof *x);
    ok(plan_forward(p, &d), &d);
    assert_int_equal(out.n, plan_n_outputs(p));
    for (int k = 0; k < out.n; k++) {
        DType dt;
        Shape want;
        plan_output_info(p, k, &dt, &want);
        assert_null(out.grad[k]);
        assert_int_equal(out.shape[k].rank, want.rank);
        assert_int_equal(out.shape[k].dims[0].value, count);
        int64_t n = 1;
        for (int i = 0; i < want.rank; i++) {
            assert_int_equal(out.shape[k].dims[i].value, want.dims[i].value);
            n *= want.dims[i].value;
        }
        const float *ref = plan_output(p, k);
        for (int64_t i = 0; i < n; i++)
            if (!(fabsf(out.data[k][i] - ref[i]) <= 1e-6f * (1.0f + fabsf(ref[i]))))
                fail_msg("output %d, element %lld of %lld: cached %.9g, plan %.9g", k, (long long)i, (long long)n,
                         out.data[k][i], ref[i]);
    }
}

static void test_gather_matches_plan(void **state)
{
    (void)state;
    gb_rng_seed(1);
    Model *m = mlp_with_probe(1.0f);
    Dataset ds = vectors(N_TRAIN);
    int64_t *order = shuffled(N_TRAIN), tail = N_TRAIN % GATHER;
    TeacherCache c;
    Plan *full = NULL, *last = NULL;
    Diag d = {{0}};
    ok(teacher_cache_build(&c, m->graph, &ds, GATHER, &d), &d);
    assert_int_equal(c.n, N_TRAIN);
    assert_int_equal(c.n_outputs, 2);
    assert_int_equal(c.width[0], CLASSES);
    assert_int_equal(c.width[1], HIDDEN);
    ok(trainer_plan(m->graph, PLAN_INFERENCE, GATHER, 0, &full, &d), &d);
    ok(trainer_plan(m->graph, PLAN_INFERENCE, tail, 0, &last, &d), &d);
    for (int64_t first = 0; first < N_TRAIN; first += GATHER) {
        int64_t count = N_TRAIN - first < GATHER ? N_TRAIN - first : GATHER;
        check_gather(&c, count == GATHER ? full : last, &ds, order + first, count);
    }
    plan_free(full);
    plan_free(last);
    teacher_cache_free(&c);
    free(order);
    dataset_free(&ds);
    model_free(m);
}

/* The file lives in $TMPDIR but is unlinked at once; a missing $TMPDIR is named. */
static void test_tmpdir(void **state)
{
    (void)state;
    gb_rng_seed(2);
    Model *m = mlp_with_probe(1.0f);
    Dataset ds = vectors(N_TRAIN);
    char dir[] = "/tmp/kdc_teacher_cache_XXXXXX", missing[64], prefix[128];
    assert_non_null(mkdtemp(dir));
    TeacherCache c;
    Diag d = {{0}};
    tmpdir_set(dir);
    ok(teacher_cache_build(&c, m->graph, &ds, GATHER, &d), &d);
    assert_int_equal(entries_in(dir), 0);
    teacher_cache_free(&c);

    snprintf(missing, sizeof missing, "%s/missing", dir);
    snprintf(prefix, sizeof prefix, "%s/kdc-teacher-", missing);
    tmpdir_set(missing);
    assert_int_equal(teacher_cache_build(&c, m->graph, &ds, GATHER, &d), KDC_ERR);
    teacher_cache_free(&c);
    tmpdir_restore();
    const char *suffix = ": cannot create the teacher cache: No such file or directory (distill.cache_teacher: false runs the teacher on every batch instead)";
    size_t len = strlen(d.msg);
    if (strncmp(d.msg, prefix, strlen(prefix)) || len < strlen(suffix) || strcmp(d.msg + len - strlen(suffix), suffix))
        fail_msg("message '%s', expected '%sXXXXXX%s'", d.msg, prefix, suffix);
    assert_int_equal(rmdir(dir), 0);
    dataset_free(&ds);
    model_free(m);
}

/* ---- the trainer with and without the cache ---- */

/* Two frozen teachers with probes and a fresh student (the same one for the same seed). */
typedef struct Models {
    Model *teachers[2], *student;
    LossSpec specs[3];
    LossTerm terms[3];
    DistillModels dm;
} Models;

static void models_new(Models *m, uint64_t student_seed)
{
    gb_rng_seed(21);
    m->teachers[0] = mlp_with_probe(1.0f);
    m->teachers[1] = mlp_with_probe(1.0f);
    gb_rng_seed(student_seed);
    m->student = mlp_with_probe(0.3f);
    m->specs[0] = (LossSpec){.kind = LOSS_KD, .weight = 0.6, .temperature = 2.0};
    m->specs[1] = (LossSpec){.kind = LOSS_CE, .weight = 0.4};
    m->specs[2] = (LossSpec){.kind = LOSS_HINT, .weight = 0.05, .teacher = 2};
    m->terms[0] = (LossTerm){.spec = &m->specs[0], .teacher = LOSS_TERM_ALL_TEACHERS, .weight = 0.6};
    m->terms[1] = (LossTerm){.spec = &m->specs[1], .teacher = LOSS_TERM_ALL_TEACHERS, .weight = 0.4};
    m->terms[2] = (LossTerm){
        .spec = &m->specs[2], .teacher = 1, .weight = 0.05, .n_pairs = 1, .teacher_out = {1}, .student_out = {1}};
    m->dm = (DistillModels){.n_teachers = 2,
                            .teachers = {m->teachers[0]->graph, m->teachers[1]->graph},
                            .teacher_weights = {2, 1},
                            .student = m->student->graph,
                            .n_terms = 3,
                            .terms = m->terms};
}

static void models_free(Models *m)
{
    model_free(m->teachers[0]);
    model_free(m->teachers[1]);
    model_free(m->student);
}

static const TrainOptions TRAIN = {.epochs = 3,
                                   .batch_size = 32,
                                   .lr = 0.05,
                                   .momentum = 0.9,
                                   .weight_decay = 1e-4,
                                   .schedule = TRAIN_SCHEDULE_COSINE,
                                   .seed = 9};

static Status distill(Models *m, Switch cache, const Dataset *train, const Dataset *test, DistillResult *r, Diag *d)
{
    DistillOptions dopt = {.temperature = 2.0, .alpha = 0.6, .cache_teacher = cache};
    return trainer_distill(&m->dm, train, test, &dopt, NULL, &TRAIN, NULL, r, d);
}

static void assert_weights_close(Model *a, Model *b)
{
    const char *names[] = {"w1", "b1", "w2", "b2"};
    for (int k = 0; k < 4; k++) {
        const Tensor *t = graph_find_value(a->graph, names[k])->init;
        const float *wa = weights_of(a, names[k]), *wb = weights_of(b, names[k]);
        for (int64_t i = 0; i < tensor_numel(t); i++)
            if (!(fabsf(wa[i] - wb[i]) <= 1e-5f))
                fail_msg("%s[%lld]: %.9g cached, %.9g uncached", names[k], (long long)i, wa[i], wb[i]);
    }
}

static void test_cache_keeps_the_numbers(void **state)
{
    (void)state;
    Models on, off;
    models_new(&on, 5);
    models_new(&off, 5);
    gb_rng_seed(6);
    Dataset train = vectors(N_TRAIN), test = vectors(N_TEST);
    DistillResult *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    Diag d = {{0}};
    ok(distill(&on, SWITCH_ON, &train, &test, a, &d), &d);
    ok(distill(&off, SWITCH_OFF, &train, &test, b, &d), &d);
    assert_int_equal(a->n_epochs, TRAIN.epochs);
    assert_int_equal(b->n_epochs, TRAIN.epochs);
    for (int e = 0; e < TRAIN.epochs; e++) {
        if (!(fabs(a->epochs[e].loss - b->epochs[e].loss) <= 1e-6))
            fail_msg("epoch %d: loss %.12g cached, %.12g uncached", e + 1, a->epochs[e].loss, b->epochs[e].loss);
        assert_true(a->epochs[e].train_accuracy == b->epochs[e].train_accuracy);
    }
    assert_true(a->epochs[TRAIN.epochs - 1].loss < a->epochs[0].loss);
    assert_true(a->teacher_accuracy == b->teacher_accuracy);
    assert_weights_close(on.student, off.student);
    free(a);
    free(b);
    models_free(&on);
    models_free(&off);
    dataset_free(&train);
    dataset_free(&test);
}

/* on and auto build the cache (so a missing $TMPDIR stops them), off never does. */
static void test_cache_switch(void **state)
{
    (void)state;
    Models m;
    models_new(&m, 5);
    Dataset train = vectors(64), test = vectors(16);
    DistillResult *r = malloc(sizeof *r);
    assert_non_null(r);
    char dir[] = "/tmp/kdc_teacher_cache_XXXXXX", missing[64];
    assert_non_null(mkdtemp(dir));
    snprintf(missing, sizeof missing, "%s/missing", dir);
    tmpdir_set(missing);
    Diag d = {{0}};
    const Switch uses_cache[] = {SWITCH_ON, SWITCH_AUTO};
    for (int i = 0; i < 2; i++) {
        Status st = distill(&m, uses_cache[i], &train, &test, r, &d);
        if (st != KDC_ERR || strncmp(d.msg, missing, strlen(missing)))
            fail_msg("switch %d: status %d, message '%s'", (int)uses_cache[i], (int)st, d.msg);
    }
    Status st = distill(&m, SWITCH_OFF, &train, &test, r, &d);
    tmpdir_restore();
    ok(st, &d);
    assert_int_equal(rmdir(dir), 0);
    free(r);
    models_free(&m);
    dataset_free(&train);
    dataset_free(&test);
}

/* Augmented batches or a learning teacher make cached outputs wrong: on is refused, auto
 * runs without the cache. */
static void test_cache_refused(void **state)
{
    (void)state;
    gb_rng_seed(31);
    Model *t = image_classifier(), *s = image_classifier();
    Dataset train = images(64), test = images(16);
    LossSpec specs[2];
    LossTerm terms[2];
    DistillOptions dopt = {.temperature = 2.0, .alpha = 0.5, .cache_teacher = SWITCH_ON};
    int n = trainer_classic_terms(&dopt, specs, terms);
    DistillModels dm = {.n_teachers = 1,
                        .teachers = {t->graph},
                        .teacher_weights = {1},
                        .student = s->graph,
                        .n_terms = n,
                        .terms = terms};
    TrainOptions topt = {.epochs = 1, .batch_size = 16, .lr = 0.05, .schedule = TRAIN_SCHEDULE_CONSTANT, .seed = 3};
    AugmentOptions flip = {.flip = true};
    DistillResult *r = malloc(sizeof *r);
    assert_non_null(r);
    Diag d = {{0}};
    const char *want = "cache_teacher: true needs a frozen teacher and un-augmented data";
    assert_int_equal(trainer_distill(&dm, &train, &test, &dopt, &flip, &topt, NULL, r, &d), KDC_ERR);
    assert_string_equal(d.msg, want);
    dopt.cache_teacher = SWITCH_AUTO;
    ok(trainer_distill(&dm, &train, &test, &dopt, &flip, &topt, NULL, r, &d), &d);
    dopt.cache_teacher = SWITCH_ON;
    dopt.online = (OnlineOptions){.enabled = true, .lr = 0.05};
    assert_int_equal(trainer_distill(&dm, &train, &test, &dopt, NULL, &topt, NULL, r, &d), KDC_ERR);
    assert_string_equal(d.msg, want);
    free(r);
    model_free(t);
    model_free(s);
    dataset_free(&train);
    dataset_free(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_matches_plan),     cmocka_unit_test(test_tmpdir),
        cmocka_unit_test(test_cache_keeps_the_numbers), cmocka_unit_test(test_cache_switch),
        cmocka_unit_test(test_cache_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
