/* loss_kd.h - the knowledge-distillation loss and top-1 counting helpers.
 *
 * For student logits s [B, K], teacher logits t [B, K] and labels y [B]:
 *   loss = alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)
 * with the KL summed over classes and both terms averaged over the batch
 * (PyTorch's F.kl_div(log_softmax(s/T), softmax(t/T), reduction='batchmean') and
 * F.cross_entropy(s, y)). Computed in double with log-sum-exp.
 */
#ifndef KDC_TRAIN_LOSS_KD_H
#define KDC_TRAIN_LOSS_KD_H

#include <stdint.h>

#include "ir/diag.h"

/* Writes the batch-mean loss to *loss and, if ds is not NULL, overwrites
 * ds [B, K] with dloss/ds (the 1/B included). t may be NULL when alpha == 0 and
 * y may be NULL when alpha == 1. Errors: alpha outside [0, 1], temperature not
 * positive, a label outside [0, K), non-finite logits. */
Status loss_kd(const float *s, const float *t, const int32_t *y, int64_t batch, int64_t classes,
               double alpha, double temperature, double *loss, float *ds, Diag *d);

/* Index of the largest logit in row [K]; ties go to the lowest index. */
int64_t loss_argmax(const float *row, int64_t classes);

/* Rows of logits [B, K] whose argmax equals the label. */
int64_t loss_count_correct(const float *logits, const int32_t *y, int64_t batch, int64_t classes);

/* Rows where the argmaxes of a [B, K] and b [B, K] agree. */
int64_t loss_count_agree(const float *a, const float *b, int64_t batch, int64_t classes);

#endif
