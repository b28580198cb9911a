/* trainer.h - distillation training of a student graph against a teacher.
 *
 * The teacher is frozen and its inputs are not augmented, so its logits are
 * computed once per dataset (one inference pass) and cached. The student is
 * trained with SGD on the KD loss (train/loss_kd.h) and evaluated after each
 * epoch on the test split: accuracy and top-1 agreement with the teacher.
 * The student's weights are updated in place in its graph's initializers.
 */
#ifndef KDC_TRAIN_TRAINER_H
#define KDC_TRAIN_TRAINER_H

#include "ir/ir.h"
#include "train/dataset.h"
#include "train/options.h"

typedef struct TrainProgress {
    int epoch, epochs;      /* 1-based epoch */
    int64_t batch, batches; /* 1-based batch within the epoch */
    double loss;            /* running mean over the epoch so far */
    double accuracy;        /* running train accuracy over the epoch so far */
    double images_per_s;
    double eta_s;           /* whole run */
} TrainProgress;

typedef struct EpochStats {
    int epoch, epochs; /* 1-based epoch of how many */
    double loss, train_accuracy, test_accuracy, agreement, lr_end, seconds, images_per_s;
} EpochStats;

typedef struct TrainHooks {
    void (*on_batch)(const TrainProgress *p, void *ctx);
    void (*on_epoch)(const EpochStats *s, void *ctx);
    void *ctx;
} TrainHooks;

typedef struct DistillResult {
    double teacher_accuracy;
    double student_accuracy;
    double agreement;
    double seconds;
    int n_epochs;
    EpochStats epochs[256]; /* the first 256 epochs are kept */
} DistillResult;

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

Status trainer_distill(Graph *teacher, Graph *student, const Dataset *train, const Dataset *test,
                       const DistillOptions *dopt, const TrainOptions *topt, const TrainHooks *hooks,
                       DistillResult *result, Diag *d);

#endif
