/* trainer_loop.c - the distillation training loop (see trainer.h): phases (stages, then
 * the main training) of epochs of steps. A step draws a batch, augments it, gives it to
 * the teachers (or reads their cache), runs the student, sums the loss terms, and steps
 * the optimizer; in online distillation the teacher then learns from the student.
 */
#include "train/trainer_run.h"

#include "runtime/clock.h"
#include "train/loss_logit.h"

#include <stdlib.h>
#include <string.h>

/* Runs or reads every teacher for the batch x (dataset indices idx). */
static Status teachers_forward(Run *r, const float *x, const int64_t *idx, Diag *d)
{
    size_t bytes = (size_t)(r->batch * r->train->sample_size) * sizeof(float);
    if (r->online) {
        memcpy(plan_input(r->teacher.plan, 0), x, bytes);
        return plan_forward(r->teacher.plan, d);
    }
    for (int i = 0; i < r->m->n_teachers; i++) {
        if (r->cached) {
            teacher_cache_gather(&r->cache[i], idx, r->batch, &r->teacher_out[i]);
            continue;
        }
        memcpy(plan_input(r->teacher_plan[i], 0), x, bytes);
        if (plan_forward(r->teacher_plan[i], d))
            return KDC_ERR;
    }
    return KDC_OK;
}

/* Deep mutual learning: the teacher learns kd from the student's outputs, and ce. */
static Status teacher_learns(Run *r, const BatchLabels *lab, int64_t step, int64_t total, Diag *d)
{
    ModelOutputs student = r->student.out;
    for (int k = 0; k < student.n; k++)
        student.grad[k] = NULL;
    double loss = 0;
    plan_zero_grads(r->teacher.plan);
    if (loss_terms_apply(&r->terms, (1u << LOSS_KD) | (1u << LOSS_CE), &r->teacher.out, &student, lab, &loss, d))
        return KDC_ERR;
    plan_backward(r->teacher.plan);
    sgd_step(&r->teacher.sgd, sgd_schedule_lr(r->schedule, r->dopt->online.lr, step, total));
    return KDC_OK;
}

/* The next batch in the student's input, augmented, with its labels. */
static void next_batch(Run *r, BatchLabels *lab)
{
    float *x = plan_input(r->student.plan, 0);
    int64_t count;
    batcher_next(&r->batcher, x, r->y);
    *lab = (BatchLabels){.y = r->y, .lam = 1.0, .index = batcher_indices(&r->batcher, &count), .batch = r->batch};
    if (!r->augmenting)
        return;
    augment_batch(&r->augment, &r->rng, x, r->y, r->batch, r->y2, &lab->lam);
    if (r->aug->mixup > 0)
        lab->y2 = r->y2;
}

static Status train_step(Run *r, const Phase *ph, int64_t step, int64_t total, double *loss, int64_t *correct,
                         Diag *d)
{
    BatchLabels lab;
    next_batch(r, &lab);
    if (teachers_forward(r, plan_input(r->student.plan, 0), lab.index, d) || plan_forward(r->student.plan, d))
        return KDC_ERR;
    plan_zero_grads(r->student.plan);
    loss_terms_zero_grads(&r->terms);
    *loss = 0;
    if (loss_terms_apply(&r->terms, ph->kinds, &r->student.out, r->teacher_out, &lab, loss, d))
        return KDC_ERR;
    *correct = loss_count_correct(r->student.out.data[0], r->y, r->batch, r->classes);
    plan_backward(r->student.plan);
    sgd_step(ph->sgd, sgd_schedule_lr(r->schedule, r->topt->lr, step, total));
    return ph->teacher_learns ? teacher_learns(r, &lab, step, total, d) : KDC_OK;
}

/* Seconds left over all phases, at the mean time per step so far (evaluations included). */
static double run_eta(const Run *r)
{
    if (!r->steps_done)
        return 0;
    return (clock_seconds() - r->t_train) / (double)r->steps_done * (double)(r->steps_total - r->steps_done);
}

static void report_batch(const Run *r, const Phase *ph, int epoch, int64_t b, double loss_sum, int64_t correct,
                         double t_epoch)
{
    if (!r->hooks || !r->hooks->on_batch)
        return;
    double el = clock_seconds() - t_epoch;
    TrainProgress p = {ph->stage, epoch, ph->epochs, b, r->batches, loss_sum / (double)b,
                       (double)correct / (double)(b * r->batch), el > 0 ? (double)(b * r->batch) / el : 0,
                       run_eta(r)};
    r->hooks->on_batch(&p, r->hooks->ctx);
}

/* Test accuracy and agreement after an epoch; an online teacher is measured anew. */
static Status evaluate(Run *r, double *accuracy, double *agreement, Diag *d)
{
    if (r->online && run_teacher_test_logits(r, d))
        return KDC_ERR;
    if (trainer_predict(r->m->student, r->test, r->classes, r->student_test, accuracy, d))
        return KDC_ERR;
    int64_t n = r->test->n;
    *agreement = n ? (double)loss_count_agree(r->student_test, r->teacher_test, n, r->classes) / (double)n : 0;
    return KDC_OK;
}

static Status run_epoch(Run *r, const Phase *ph, int epoch, EpochStats *es, Diag *d)
{
    double t0 = clock_seconds(), loss_sum = 0;
    int64_t correct = 0, total = (int64_t)ph->epochs * r->batches;
    batcher_start_epoch(&r->batcher, r->epochs_done++);
    for (int64_t b = 1; b <= r->batches; b++) {
        double loss;
        int64_t c;
        if (train_step(r, ph, (int64_t)(epoch - 1) * r->batches + b - 1, total, &loss, &c, d))
            return KDC_ERR;
        r->steps_done++;
        loss_sum += loss;
        correct += c;
        report_batch(r, ph, epoch, b, loss_sum, correct, t0);
    }
    double train_s = clock_seconds() - t0, accuracy, agreement;
    if (evaluate(r, &accuracy, &agreement, d))
        return KDC_ERR;
    *es = (EpochStats){ph->stage, epoch, ph->epochs, loss_sum / (double)r->batches,
                       (double)correct / (double)(r->batches * r->batch), accuracy, agreement,
                       sgd_schedule_lr(r->schedule, r->topt->lr, (int64_t)epoch * r->batches, total),
                       clock_seconds() - t0, (double)(r->batches * r->batch) / train_s, r->teacher_accuracy,
                       ph->teacher_learns, run_eta(r)};
    if (r->hooks && r->hooks->on_epoch)
        r->hooks->on_epoch(es, r->hooks->ctx);
    return KDC_OK;
}

static Status run_phase(Run *r, const Phase *ph, DistillResult *res, Diag *d)
{
    for (int e = 1; e <= ph->epochs; e++) {
        EpochStats es;
        if (run_epoch(r, ph, e, &es, d))
            return KDC_ERR;
        if (res->n_epochs < (int)(sizeof res->epochs / sizeof res->epochs[0]))
            res->epochs[res->n_epochs++] = es;
        res->student_accuracy = es.test_accuracy;
        res->agreement = es.agreement;
        res->teacher_accuracy = es.teacher_accuracy;
    }
    return KDC_OK;
}

static Status run_phases(Run *r, DistillResult *res, Diag *d)
{
    r->steps_total = (int64_t)r->topt->epochs * r->batches;
    for (int i = 0; i < r->dopt->n_stages; i++)
        r->steps_total += (int64_t)r->dopt->stages[i].epochs * r->batches;
    r->t_train = clock_seconds();
    for (int i = 0; i < r->dopt->n_stages; i++) {
        const StageSpec *s = &r->dopt->stages[i];
        Phase hint = {"hint", 1u << LOSS_HINT, &r->hint_sgd, s->epochs, false};
        if (s->kind != STAGE_HINT)
            return diag_error(d, "stage %d: unknown stage kind %d", i + 1, (int)s->kind);
        if (run_phase(r, &hint, res, d))
            return KDC_ERR;
    }
    Phase main = {NULL, LOSS_KINDS_ALL, &r->student.sgd, r->topt->epochs, r->online};
    return run_phase(r, &main, res, d);
}

Status trainer_distill(const DistillModels *m, const Dataset *train, const Dataset *test,
                       const DistillOptions *dopt, const AugmentOptions *aug, const TrainOptions *topt,
                       const TrainHooks *hooks, DistillResult *result, Diag *d)
{
    static const AugmentOptions no_augment;
    memset(result, 0, sizeof *result);
    Run *r = calloc(1, sizeof *r); /* large: a cache and outputs per teacher */
    if (!r)
        return diag_error(d, "out of memory");
    r->m = m;
    r->train = train;
    r->test = test;
    r->dopt = dopt;
    r->aug = aug ? aug : &no_augment;
    r->topt = topt;
    r->hooks = hooks;
    r->schedule = topt->schedule == TRAIN_SCHEDULE_COSINE ? SGD_SCHEDULE_COSINE : SGD_SCHEDULE_CONSTANT;
    r->t_start = clock_seconds();
    Status st = KDC_ERR;
    if (run_prepare(r, d))
        goto fail;
    result->teacher_accuracy = r->teacher_accuracy;
    if (run_phases(r, result, d))
        goto fail;
    result->seconds = clock_seconds() - r->t_start;
    st = KDC_OK;
fail:
    run_free(r);
    free(r);
    return st;
}
