/* loss_logit.h - losses on the student's logits: distillation against soft targets
 * (the averaged softened probabilities of one or more teachers) and cross entropy with
 * label smoothing and mixup.
 *
 * Logits are [B, K] row-major (B examples, K classes). Everything is computed in double
 * with log-sum-exp, so huge logits stay finite.
 *
 * Contract shared with the other loss terms (train/loss_feature.h):
 *  - *loss receives the unscaled batch-mean loss;
 *  - if grad_s is not NULL, scale * dloss/ds is ADDED into grad_s [B, K], because
 *    several loss terms share the student's logits;
 *  - on error the Diag gets one line naming the loss, KDC_ERR is returned and neither
 *    *loss nor grad_s (nor p) is touched.
 */
#ifndef KDC_TRAIN_LOSS_LOGIT_H
#define KDC_TRAIN_LOSS_LOGIT_H

#include <stdint.h>

#include "ir/diag.h"

/* Soft targets of one teacher: p [B, K] += w * softmax(t [B, K] / T), row-wise.
 * With several teachers the trainer zeroes p and calls this once per teacher with
 * weights that sum to 1, which gives the weighted average of their softened outputs.
 * Errors: batch or classes < 1, T not positive and finite, w negative or not finite,
 * non-finite teacher logits. */
Status loss_soft_targets(const float *t, int64_t batch, int64_t classes, double temperature,
                         double w, float *p, Diag *d);

/* Distillation against soft targets p [B, K] (Hinton et al. 2015):
 *   q_b  = softmax(s_b / T)
 *   loss = T^2 * (1/B) * sum_b sum_k p_bk * (log p_bk - log q_bk),   0 * log 0 = 0
 * i.e. F.kl_div(F.log_softmax(s / T, 1), p, reduction='batchmean') * T^2.
 *   dloss/ds_b = T * (q_b * sum_k p_bk - p_b) / B
 * which is T * (q_b - p_b) / B for rows of p that sum to 1 (the exact derivative is
 * used so that the gradient is that of the value returned, as in autograd).
 * Errors: batch or classes < 1, T not positive and finite, scale not finite, non-finite
 * student logits, a negative or non-finite target, a row of p whose sum is not 1
 * within 1e-3. */
Status loss_kd_soft(const float *s, const float *p, int64_t batch, int64_t classes,
                    double temperature, double scale, double *loss, float *grad_s, Diag *d);

/* Cross entropy with label smoothing eps in [0, 1) and optional mixup, following
 * F.cross_entropy(s, y, label_smoothing=eps) (reduction 'mean', no class weights):
 *   CE_b(y) = sum_k tgt_k * (lse(s_b) - s_bk),  tgt = (1 - eps) * onehot(y) + eps / K
 * With y2 != NULL (mixup, lam in [0, 1]):
 *   loss = (1/B) * sum_b [lam * CE_b(y_b) + (1 - lam) * CE_b(y2_b)]
 * With y2 == NULL, loss = (1/B) * sum_b CE_b(y_b) and lam is ignored.
 *   dloss/ds_b = (softmax(s_b) - tgt_b) / B, tgt_b the lam-mixture of the two targets.
 * Errors: batch or classes < 1, a label outside [0, K), eps outside [0, 1), lam outside
 * [0, 1] (with y2), scale not finite, non-finite logits. */
Status loss_ce(const float *s, const int32_t *y, const int32_t *y2, double lam, int64_t batch,
               int64_t classes, double smoothing, double scale, double *loss, float *grad_s,
               Diag *d);

/* Index of the largest logit in row [K]; ties go to the lowest index. */
int64_t loss_argmax(const float *row, int64_t classes);

/* Rows of logits [B, K] whose argmax equals the label. */
int64_t loss_count_correct(const float *logits, const int32_t *y, int64_t batch, int64_t classes);

/* Rows where the argmaxes of a [B, K] and b [B, K] agree. */
int64_t loss_count_agree(const float *a, const float *b, int64_t batch, int64_t classes);

#endif
