/* trainer.h - distillation training of a student graph against one or more teachers.
 *
 * The student learns the weighted sum of the run's loss terms (train/loss_terms.h): logit
 * terms (kd, ce) and feature terms on the probes cli/ tapped into the graphs. Frozen
 * teachers that see un-augmented data are run once per dataset and cached
 * (train/teacher_cache.h); otherwise every teacher runs on each (augmented) batch, the very
 * batch the student sees. Online distillation trains the teacher too, on kd from the
 * student and ce. Optional stages (FitNets' hint stage) come before the main training.
 * After each epoch the student is evaluated on the test split: accuracy and top-1
 * agreement with the teacher (with several teachers: their weighted ensemble). Weights
 * are updated in place in the graphs' initializers.
 */
#ifndef KDC_TRAIN_TRAINER_H
#define KDC_TRAIN_TRAINER_H

#include "ir/ir.h"
#include "runtime/plan.h"
#include "train/dataset.h"
#include "train/loss_terms.h"
#include "train/options.h"

typedef struct TrainProgress {
    const char *stage;      /* "hint" during a stage, NULL in the main training */
    int epoch, epochs;      /* 1-based epoch */
    int64_t batch, batches; /* 1-based batch within the epoch */
    double loss;            /* running mean over the epoch so far */
    double accuracy;        /* running train accuracy over the epoch so far */
    double images_per_s;
    double eta_s;           /* the rest of the run, all phases, from the mean step time so far */
} TrainProgress;

typedef struct EpochStats {
    const char *stage; /* as in TrainProgress */
    int epoch, epochs; /* 1-based epoch of how many (of the stage) */
    double loss, train_accuracy, test_accuracy, agreement, lr_end, seconds, images_per_s;
    double teacher_accuracy; /* online: the trained teacher's test accuracy, else the teacher's */
    bool teacher_learns;     /* online distillation: the teacher trained in this epoch */
    double eta_s;            /* as in TrainProgress */
} EpochStats;

typedef struct TrainHooks {
    void (*on_batch)(const TrainProgress *p, void *ctx);
    void (*on_epoch)(const EpochStats *s, void *ctx);
    void *ctx;
    void (*on_note)(const char *text, void *ctx); /* what the trainer decided, one line */
} TrainHooks;

typedef struct DistillResult {
    double teacher_accuracy;
    double student_accuracy;
    double agreement;
    double seconds;
    int n_epochs;
    EpochStats epochs[256]; /* the first 256 epochs are kept */
} DistillResult;

/* Classes of output 0 of g when it is logits [batch, classes] with classes >= 2 known,
 * else 0. Tapped graphs have probes as further outputs. */
int64_t trainer_logits_classes(const Graph *g);

/* Classes of a classifier graph: the size of dim 1 of its single output. */
Status trainer_classes(const Graph *g, int64_t *classes, Diag *d);

/* Samples must fit the graph's input (dims after the batch); data_path
 * names the file in the message. */
Status trainer_check_samples(const Graph *g, const Dataset *ds, const char *data_path, Diag *d);
/* Labels must lie in [0, classes). */
Status trainer_check_labels(const Dataset *ds, int64_t classes, const char *labels_path, Diag *d);
/* Both checks above. */
Status trainer_check_data(const Graph *g, const Dataset *ds, int64_t classes, const char *data_path,
                          const char *labels_path, Diag *d);

/* Runs g in inference mode over ds; writes logits [n, classes] when logits
 * is not NULL and the top-1 accuracy when accuracy is not NULL. */
Status trainer_predict(Graph *g, const Dataset *ds, int64_t classes, float *logits, double *accuracy, Diag *d);

/* cache_teacher: auto caches the teachers' outputs when they take at most this much. */
#define TRAINER_CACHE_AUTO_BYTES (2.0 * 1024 * 1024 * 1024)

/* A plan of g for a batch size (g's single data input gets dim 0 = batch). */
Status trainer_plan(Graph *g, PlanMode mode, int64_t batch, uint64_t seed, Plan **p, Diag *d);

/* Called after each forward pass of trainer_each_batch, with the plan and the samples
 * [first, first + count) it ran on. */
typedef Status (*TrainerBatchVisit)(Plan *p, int64_t first, int64_t count, void *ctx, Diag *d);

/* Runs g in inference mode over ds in file order, in batches of up to 256 (a second plan
 * for the last, smaller one), calling visit after each. */
Status trainer_each_batch(Graph *g, const Dataset *ds, TrainerBatchVisit visit, void *ctx, Diag *d);

/* The models of a run. Output 0 of every graph is its logits [N, classes]; the outputs
 * after it are the probes the terms read. The teachers' weights are > 0 (normalized by the
 * trainer); with online training there is one teacher and it is trained in place. */
typedef struct DistillModels {
    int n_teachers;
    Graph *teachers[DISTILL_MAX_TEACHERS];
    double teacher_weights[DISTILL_MAX_TEACHERS];
    Graph *student;
    int n_terms;
    const LossTerm *terms;
} DistillModels;

/* The classic loss of DistillOptions without losses: kd (weight alpha, temperature T) over
 * the teachers' mix and ce (weight 1 - alpha); terms of weight 0 are left out. Fills
 * specs[2] and terms[2] (terms point into specs); returns how many terms. */
int trainer_classic_terms(const DistillOptions *o, LossSpec *specs, LossTerm *terms);

Status trainer_distill(const DistillModels *m, const Dataset *train, const Dataset *test,
                       const DistillOptions *dopt, const AugmentOptions *aug, const TrainOptions *topt,
                       const TrainHooks *hooks, DistillResult *result, Diag *d);

#endif
