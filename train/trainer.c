/* trainer.c - the distillation training loop and evaluation (see trainer.h). */
#include "train/trainer.h"

#include "runtime/plan.h"
#include "runtime/clock.h"
#include "train/batcher.h"
#include "train/loss_kd.h"
#include "train/sgd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_BATCH 256

static const Value *single_input(const Graph *g)
{
    const Value *in = NULL;
    for (int i = 0; i < g->n_inputs; i++)
        if (!g->inputs[i]->init) {
            if (in)
                return NULL;
            in = g->inputs[i];
        }
    return in;
}

Status trainer_classes(const Graph *g, int64_t *classes, Diag *d)
{
    if (g->n_outputs != 1)
        return diag_error(d, "the model has %d outputs; kdc distills classifiers with one logits output", g->n_outputs);
    const Value *v = g->outputs[0];
    if (v->kind != TYPE_TENSOR || v->shape.rank != 2 || v->shape.dims[1].value < 2)
        return diag_error(d, "output '%s' must be logits of shape [batch, classes] with known classes", v->name);
    *classes = v->shape.dims[1].value;
    return KDC_OK;
}

static void format_dims(const int64_t *dims, int rank, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < rank && k + 1 < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "x" : "", (long long)dims[i]);
}

Status trainer_check_samples(const Graph *g, const Dataset *ds, const char *data_path, Diag *d)
{
    const Value *in = single_input(g);
    if (!in)
        return diag_error(d, "the model must have exactly one input to train on a dataset");
    bool typed = in->kind == TYPE_TENSOR && in->shape.rank >= 1;
    int want_rank = typed ? in->shape.rank - 1 : 0;
    int64_t want[IR_MAX_RANK];
    for (int i = 0; i < want_rank; i++)
        want[i] = in->shape.dims[i + 1].value;
    bool ok = typed && want_rank == ds->rank;
    for (int i = 0; ok && i < want_rank; i++)
        ok = want[i] == ds->dims[i];
    if (ok)
        return KDC_OK;
    char got[64], exp[64] = "?";
    format_dims(ds->dims, ds->rank, got, sizeof got);
    if (typed)
        format_dims(want, want_rank, exp, sizeof exp);
    return diag_error(d, "%s: samples are %s but the teacher's input '%s' takes %s", data_path, got, in->name, exp);
}

Status trainer_check_labels(const Dataset *ds, int64_t classes, const char *labels_path, Diag *d)
{
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->y[i] < 0 || ds->y[i] >= classes)
            return diag_error(d, "%s: label %d of sample %lld is out of range: the teacher has %lld classes",
                              labels_path, ds->y[i], (long long)i, (long long)classes);
    return KDC_OK;
}

Status trainer_check_data(const Graph *g, const Dataset *ds, int64_t classes, const char *data_path,
                          const char *labels_path, Diag *d)
{
    if (trainer_check_samples(g, ds, data_path, d))
        return KDC_ERR;
    return trainer_check_labels(ds, classes, labels_path, d);
}

static Status build_plan(Graph *g, PlanMode mode, int64_t batch, uint64_t seed, Plan **p, Diag *d)
{
    Shape shapes[8];
    int n = 0;
    if (plan_input_shapes_for_batch(g, batch, shapes, 8, &n, d))
        return KDC_ERR;
    if (n != 1)
        return diag_error(d, "the model must have exactly one input to train on a dataset");
    return plan_build(g, mode, shapes, seed, p, d);
}

/* Runs a plan over samples [first, first+count) of ds into logits. */
static Status predict_range(Plan *p, const Dataset *ds, int64_t first, int64_t count, int64_t classes,
                            float *logits, Diag *d)
{
    memcpy(plan_input(p, 0), ds->x + first * ds->sample_size, (size_t)(count * ds->sample_size) * sizeof(float));
    if (plan_forward(p, d))
        return KDC_ERR;
    memcpy(logits + first * classes, plan_output(p, 0), (size_t)(count * classes) * sizeof(float));
    return KDC_OK;
}

Status trainer_predict(Graph *g, const Dataset *ds, int64_t classes, float *logits, double *accuracy, Diag *d)
{
    Status st = KDC_ERR;
    Plan *full = NULL, *rest = NULL;
    float *out = logits ? logits : malloc((size_t)(ds->n * classes) * sizeof(float) + 1);
    int64_t batch = ds->n < EVAL_BATCH ? ds->n : EVAL_BATCH, n_full = batch ? ds->n / batch : 0;
    int64_t remainder = ds->n - n_full * batch;
    if (!out) {
        diag_error(d, "out of memory");
        goto fail;
    }
    if (batch && build_plan(g, PLAN_INFERENCE, batch, 0, &full, d))
        goto fail;
    if (remainder && build_plan(g, PLAN_INFERENCE, remainder, 0, &rest, d))
        goto fail;
    for (int64_t b = 0; b < n_full; b++)
        if (predict_range(full, ds, b * batch, batch, classes, out, d))
            goto fail;
    if (remainder && predict_range(rest, ds, n_full * batch, remainder, classes, out, d))
        goto fail;
    if (accuracy)
        *accuracy = ds->n ? (double)loss_count_correct(out, ds->y, ds->n, classes) / (double)ds->n : 0;
    st = KDC_OK;
fail:
    plan_free(full);
    plan_free(rest);
    if (out != logits)
        free(out);
    return st;
}

/* ---- the training loop ---- */

typedef struct Run {
    Graph *student;
    const Dataset *train, *test;
    const DistillOptions *dopt;
    const TrainOptions *topt;
    const TrainHooks *hooks;
    int64_t classes, batch, batches;
    float *teacher_train, *teacher_test, *student_test, *tbatch;
    int32_t *ybatch;
    Plan *plan;
    Sgd sgd;
    SgdSchedule schedule;
    Batcher batcher;
    double t_start;
} Run;

static Status run_setup_optimizer(Run *r, Diag *d)
{
    PlanParam *params;
    int n = plan_params(r->plan, &params);
    SgdEntry *e = calloc((size_t)n + 1, sizeof *e);
    if (!e)
        return diag_error(d, "out of memory");
    for (int i = 0; i < n; i++)
        e[i] = (SgdEntry){params[i].data, params[i].grad, NULL, params[i].numel};
    Status st = sgd_init(&r->sgd, e, n, r->topt->momentum, r->topt->weight_decay, false, d);
    free(e);
    return st;
}

static Status train_step(Run *r, int64_t step, double *loss, int64_t *correct, Diag *d)
{
    float *x = plan_input(r->plan, 0);
    batcher_next(&r->batcher, x, r->ybatch);
    batcher_gather(&r->batcher, r->teacher_train, r->classes, r->tbatch);
    if (plan_forward(r->plan, d))
        return KDC_ERR;
    const float *logits = plan_output(r->plan, 0);
    plan_zero_grads(r->plan);
    if (loss_kd(logits, r->tbatch, r->ybatch, r->batch, r->classes, r->dopt->alpha, r->dopt->temperature, loss,
                plan_output_grad(r->plan, 0), d))
        return KDC_ERR;
    *correct = loss_count_correct(logits, r->ybatch, r->batch, r->classes);
    plan_backward(r->plan);
    sgd_step(&r->sgd, sgd_schedule_lr(r->schedule, r->topt->lr, step, r->batches * r->topt->epochs));
    return KDC_OK;
}

static void report_batch(const Run *r, int epoch, int64_t b, double loss_sum, int64_t correct, double t_epoch)
{
    if (!r->hooks || !r->hooks->on_batch)
        return;
    double el = clock_seconds() - t_epoch, total_el = clock_seconds() - r->t_start;
    int64_t done = (int64_t)(epoch - 1) * r->batches + b, all = (int64_t)r->topt->epochs * r->batches;
    TrainProgress p = {epoch, r->topt->epochs, b, r->batches, loss_sum / (double)b,
                       (double)correct / (double)(b * r->batch), el > 0 ? (double)(b * r->batch) / el : 0,
                       done ? total_el / (double)done * (double)(all - done) : 0};
    r->hooks->on_batch(&p, r->hooks->ctx);
}

static Status run_epoch(Run *r, int epoch, EpochStats *es, Diag *d)
{
    double t0 = clock_seconds(), loss_sum = 0;
    int64_t correct = 0;
    batcher_start_epoch(&r->batcher, epoch - 1);
    for (int64_t b = 1; b <= r->batches; b++) {
        double loss;
        int64_t c;
        if (train_step(r, (int64_t)(epoch - 1) * r->batches + b - 1, &loss, &c, d))
            return KDC_ERR;
        loss_sum += loss;
        correct += c;
        report_batch(r, epoch, b, loss_sum, correct, t0);
    }
    double train_s = clock_seconds() - t0, acc;
    if (trainer_predict(r->student, r->test, r->classes, r->student_test, &acc, d))
        return KDC_ERR;
    *es = (EpochStats){epoch, r->topt->epochs, loss_sum / (double)r->batches, (double)correct / (double)(r->batches * r->batch), acc,
                       (double)loss_count_agree(r->student_test, r->teacher_test, r->test->n, r->classes) /
                           (double)(r->test->n ? r->test->n : 1),
                       sgd_schedule_lr(r->schedule, r->topt->lr, (int64_t)epoch * r->batches, r->batches * r->topt->epochs),
                       clock_seconds() - t0, (double)(r->batches * r->batch) / train_s};
    if (r->hooks && r->hooks->on_epoch)
        r->hooks->on_epoch(es, r->hooks->ctx);
    return KDC_OK;
}

static Status run_alloc(Run *r, Diag *d)
{
    size_t K = (size_t)r->classes;
    r->teacher_train = malloc((size_t)r->train->n * K * sizeof(float) + 1);
    r->teacher_test = malloc((size_t)r->test->n * K * sizeof(float) + 1);
    r->student_test = malloc((size_t)r->test->n * K * sizeof(float) + 1);
    r->tbatch = malloc((size_t)r->batch * K * sizeof(float));
    r->ybatch = malloc((size_t)r->batch * sizeof(int32_t));
    if (!r->teacher_train || !r->teacher_test || !r->student_test || !r->tbatch || !r->ybatch)
        return diag_error(d, "out of memory");
    return KDC_OK;
}

static void run_free(Run *r)
{
    free(r->teacher_train);
    free(r->teacher_test);
    free(r->student_test);
    free(r->tbatch);
    free(r->ybatch);
    plan_free(r->plan);
    sgd_free(&r->sgd);
    batcher_free(&r->batcher);
}

static Status run_prepare(Run *r, Graph *teacher, DistillResult *res, Diag *d)
{
    int64_t student_classes;
    if (trainer_classes(teacher, &r->classes, d) || trainer_classes(r->student, &student_classes, d))
        return KDC_ERR;
    if (student_classes != r->classes)
        return diag_error(d, "the student has %lld classes, the teacher %lld", (long long)student_classes,
                          (long long)r->classes);
    r->batch = r->topt->batch_size < r->train->n ? r->topt->batch_size : r->train->n;
    r->batches = r->batch ? r->train->n / r->batch : 0; /* the last partial batch is dropped each epoch */
    if (r->batches == 0)
        return diag_error(d, "the training set is empty");
    if (run_alloc(r, d) || trainer_predict(teacher, r->train, r->classes, r->teacher_train, NULL, d) ||
        trainer_predict(teacher, r->test, r->classes, r->teacher_test, &res->teacher_accuracy, d))
        return KDC_ERR;
    if (build_plan(r->student, PLAN_TRAINING, r->batch, r->topt->seed, &r->plan, d) || run_setup_optimizer(r, d))
        return KDC_ERR;
    return batcher_init(&r->batcher, r->train, r->batch, true, r->topt->seed, d);
}

Status trainer_distill(Graph *teacher, Graph *student, const Dataset *train, const Dataset *test,
                       const DistillOptions *dopt, const TrainOptions *topt, const TrainHooks *hooks,
                       DistillResult *result, Diag *d)
{
    Run r = {.student = student, .train = train, .test = test, .dopt = dopt, .topt = topt, .hooks = hooks,
             .schedule = topt->schedule == TRAIN_SCHEDULE_COSINE ? SGD_SCHEDULE_COSINE : SGD_SCHEDULE_CONSTANT};
    memset(result, 0, sizeof *result);
    r.t_start = clock_seconds();
    Status st = KDC_ERR;
    if (run_prepare(&r, teacher, result, d))
        goto fail;
    for (int e = 1; e <= topt->epochs; e++) {
        EpochStats es;
        if (run_epoch(&r, e, &es, d))
            goto fail;
        if (result->n_epochs < (int)(sizeof result->epochs / sizeof result->epochs[0]))
            result->epochs[result->n_epochs++] = es;
        result->student_accuracy = es.test_accuracy;
        result->agreement = es.agreement;
    }
    result->seconds = clock_seconds() - r.t_start;
    st = KDC_OK;
fail:
    run_free(&r);
    return st;
}
