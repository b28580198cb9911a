/* loss_terms.h - the training loss of a distillation run: a weighted sum of terms.
 *
 * A LossTerm is one entry of distill.losses bound to the models: which teacher it reads
 * (or the weighted mix of all of them) and, for feature losses, which outputs of the
 * tapped teacher and student graphs hold each feature pair (cli/ taps them with the probe
 * passes; output 0 of every model is its logits). LossTerms evaluates the terms on one
 * batch and ADDS each term's weighted gradient into the student's output gradients; it
 * owns the state some terms keep across batches (CRD's heads and memory banks) and the
 * scratch the terms need, allocated once for the largest batch.
 */
#ifndef KDC_TRAIN_LOSS_TERMS_H
#define KDC_TRAIN_LOSS_TERMS_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/ir.h"
#include "train/options.h"
#include "train/rng.h"

enum {
    LOSS_MAX_TERMS = DISTILL_MAX_LOSSES * DISTILL_MAX_TEACHERS,
    LOSS_MAX_OUTPUTS = 64, /* outputs of one tapped model: logits and features */
};

/* Teacher index of a term that reads every teacher's logits mixed (kd with teacher_mix
 * average) or none (ce). */
#define LOSS_TERM_ALL_TEACHERS (-1)

typedef struct LossTerm {
    const LossSpec *spec;
    int teacher;   /* index into the teachers, or LOSS_TERM_ALL_TEACHERS */
    double weight; /* the spec's weight, times the teacher's share where that applies */
    int n_pairs;   /* feature losses: >= 1, the term is the sum over its pairs */
    int teacher_out[DISTILL_MAX_PAIRS];
    int student_out[DISTILL_MAX_PAIRS];
} LossTerm;

/* One model's outputs for the current batch; dims[0] of each shape is the batch. */
typedef struct ModelOutputs {
    int n;
    const float *data[LOSS_MAX_OUTPUTS];
    float *grad[LOSS_MAX_OUTPUTS]; /* NULL for a model that does not learn from this call */
    Shape shape[LOSS_MAX_OUTPUTS];
} ModelOutputs;

/* The labels of the current batch: with mixup the inputs are lam * x + (1 - lam) * x[perm]
 * and y2 holds the labels of x[perm] (NULL without mixup). index: dataset indices. */
typedef struct BatchLabels {
    const int32_t *y, *y2;
    double lam;
    const int64_t *index;
    int64_t batch;
} BatchLabels;

typedef struct Contrast Contrast;

typedef struct LossTerms {
    int n;
    LossTerm terms[LOSS_MAX_TERMS];
    int n_teachers;
    double teacher_share[DISTILL_MAX_TEACHERS]; /* the teachers' weights, summing to 1 */
    int64_t classes, max_batch;
    Contrast *contrast[LOSS_MAX_TERMS][DISTILL_MAX_PAIRS]; /* contrastive terms */
    float *soft;            /* [max_batch, classes] mixed soft targets */
    int64_t *contrast_idx;  /* [max_batch, most negatives + 1] */
    Rng rng;                /* draws the contrastive negatives */
} LossTerms;

/* Takes the terms (copied), the teachers' weights (> 0, normalized here) and the shapes of
 * the outputs of the student and of each teacher (teachers[i]) at the training batch
 * (contrastive terms size their heads from them; the data pointers are not read).
 * n_data: samples in the training split (the contrastive memory banks). */
Status loss_terms_init(LossTerms *lt, const LossTerm *terms, int n_terms, const double *teacher_weights,
                       int n_teachers, const ModelOutputs *student, const ModelOutputs *teachers, int64_t classes,
                       int64_t n_data, uint64_t seed, Diag *d);
void loss_terms_free(LossTerms *lt);

/* Bit (1u << kind) for every kind in the sum. */
#define LOSS_KINDS_ALL ((1u << LOSS_KIND_COUNT) - 1u)

/* Adds sum_terms weight * term into *loss and its gradients into student->grad, for the
 * terms whose kind is in kinds. teachers[i]: teacher i's outputs on the same batch, of at
 * most the batch size the terms were set up for (dim 0 of the student's output 0). */
Status loss_terms_apply(LossTerms *lt, unsigned kinds, const ModelOutputs *student, const ModelOutputs *teachers,
                        const BatchLabels *labels, double *loss, Diag *d);

/* Trainable tensors the terms own (CRD's heads), for the optimizer; returns how many were
 * written (up to max). */
int loss_terms_params(LossTerms *lt, float **data, float **grad, int64_t *numel, int max);
void loss_terms_zero_grads(LossTerms *lt);

typedef struct Plan Plan;

/* Points out at plan p's outputs (and their gradients when with_grads: p must be a
 * training plan). Errors: more than LOSS_MAX_OUTPUTS outputs, an output that is not float. */
Status loss_outputs_of_plan(Plan *p, bool with_grads, ModelOutputs *out, Diag *d);

/* Elements per sample of a [batch, ...] shape: the product of the dims after the first. */
int64_t loss_per_sample(const Shape *s);

/* Whether a kind reads features (all but kd and ce). */
bool loss_kind_is_feature(LossKind k);
/* The recipe's word for a kind, e.g. "attention". */
const char *loss_kind_name(LossKind k);

#endif
