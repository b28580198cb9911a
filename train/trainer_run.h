/* trainer_run.h - the state of one distillation run, shared by trainer_setup.c (which
 * builds and frees it) and trainer_loop.c (which trains). Internal to train/.
 */
#ifndef KDC_TRAIN_TRAINER_RUN_H
#define KDC_TRAIN_TRAINER_RUN_H

#include "train/augment.h"
#include "train/batcher.h"
#include "train/loss_terms.h"
#include "train/rng.h"
#include "train/sgd.h"
#include "train/teacher_cache.h"
#include "train/trainer.h"

/* A model that trains: its graph, a training plan at the run's batch size, its
 * optimizer, and its outputs (with their gradients) for the loss terms. */
typedef struct Learner {
    Graph *graph;
    Plan *plan;
    Sgd sgd;
    ModelOutputs out;
} Learner;

/* A part of the training with its own loss terms, optimizer and schedule: a stage (hint)
 * or the main training. */
typedef struct Phase {
    const char *stage; /* NULL: the main training */
    unsigned kinds;    /* the loss kinds summed (bit 1u << kind) */
    Sgd *sgd;          /* the student's optimizer for the phase */
    int epochs;
    bool teacher_learns; /* online distillation, main training */
} Phase;

typedef struct Run {
    const DistillModels *m;
    const Dataset *train, *test;
    const DistillOptions *dopt;
    const AugmentOptions *aug;
    const TrainOptions *topt;
    const TrainHooks *hooks;
    SgdSchedule schedule;
    int64_t classes, batch, batches;
    Learner student;
    bool online; /* teachers[0] trains with the student */
    Learner teacher;
    bool cached; /* frozen teachers read from their caches, else run on each batch */
    TeacherCache cache[DISTILL_MAX_TEACHERS];
    Plan *teacher_plan[DISTILL_MAX_TEACHERS];
    ModelOutputs teacher_out[DISTILL_MAX_TEACHERS];
    LossTerms terms;
    Sgd hint_sgd; /* the student weights the hint terms reach */
    bool augmenting;
    Augment augment;
    Rng rng; /* augmentation */
    int32_t *y, *y2;
    float *teacher_test, *student_test; /* [test n, classes] logits */
    double teacher_accuracy;
    Batcher batcher;
    int epochs_done; /* over all phases: each epoch shuffles differently */
    double t_start;  /* the run, setup included */
    double t_train;  /* the first step */
    int64_t steps_done, steps_total; /* over all phases, for the ETA */
} Run;

Status run_prepare(Run *r, Diag *d);
void run_free(Run *r);

/* The teachers' test logits (their weighted ensemble) into r->teacher_test, and its
 * accuracy. */
Status run_teacher_test_logits(Run *r, Diag *d);

#endif
