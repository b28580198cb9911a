/* kernels_loss.h - float32 kernels of the ONNX loss ops:
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, forward and
 * backward (k_loss.c).
 *
 * Same conventions as runtime/kernels.h: plain functions over dense
 * row-major buffers, argument shapes in the comment above each function,
 * backward kernels ACCUMULATE (+=) into d-prefixed float gradients (any of
 * which may be NULL), nothing allocated. Scores and log-probabilities are
 * viewed as [N, C, D] with D = d1*...*dk (1 for [N, C]); targets as [N, D]
 * of int32 or int64. A target equal to ignore_index (when set) contributes
 * nothing and is left out of the mean's divisor; every other target must be
 * a class in [0, C), which k_loss_check_targets proves before the compute
 * kernels run (they assume it).
 */
#ifndef KDC_KERNELS_LOSS_H
#define KDC_KERNELS_LOSS_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/diag.h"

typedef enum KLossReduction {
    KLOSS_NONE, /* the loss per position, shaped like the targets */
    KLOSS_SUM,  /* a scalar: the sum over positions */
    KLOSS_MEAN, /* a scalar: the sum divided by the sum of the applied weights */
} KLossReduction;

typedef struct LossDims {
    int64_t N, C, D;
    KLossReduction reduction;
    bool has_ignore; /* the ignore_index attribute is set */
    int64_t ignore_index;
    bool target_i32; /* targets are int32, else int64 */
} LossDims;

/* Elements of the loss output: N*D for KLOSS_NONE, else 1. */
int64_t k_loss_out_numel(const LossDims *ld);

/* target: [N,D]. Fails naming the first target that is neither a class in
 * [0, C) nor ignore_index. */
Status k_loss_check_targets(const LossDims *ld, const void *target, Diag *d);

/* logp: [N,C,D], target: [N,D], weight: [C] or NULL (all ones)
 * -> loss: [N,D] (KLOSS_NONE) or [1]. A mean over no weight is NaN (0/0). */
void k_nll_forward(const LossDims *ld, const float *logp, const void *target, const float *weight, float *loss);
/* target: [N,D], weight: [C] or NULL, dloss: [N,D] (KLOSS_NONE) or [1]
 * -> dlogp: [N,C,D] */
void k_nll_backward(const LossDims *ld, const void *target, const float *weight, const float *dloss, float *dlogp);

/* scores: [N,C,D], target: [N,D], weight: [C] or NULL -> logp: [N,C,D] (log-softmax
 * over C), loss: as k_nll_forward */
void k_sce_forward(const LossDims *ld, const float *scores, const void *target, const float *weight, float *logp,
                   float *loss);
/* logp: [N,C,D] (the forward's), target: [N,D], weight: [C] or NULL,
 * dloss: [N,D] (KLOSS_NONE) or [1] or NULL, dlogp: [N,C,D] or NULL (the
 * gradient reaching the log_prob output) -> dscores: [N,C,D] */
void k_sce_backward(const LossDims *ld, const float *logp, const void *target, const float *weight, const float *dloss,
                    const float *dlogp, float *dscores);

#endif
