/* loss_relation.h - relational distillation losses on embeddings: RKD and PKT.
 *
 * Both compare only the pairwise structure of a batch, so the student s [B, Ds] and the
 * teacher t [B, Dt] (features flattened per example) may have different widths. Teacher
 * features are constants; gradients are taken with respect to s only. Both need B >= 2.
 *
 * Convention shared by the feature losses: *loss receives the unscaled loss; if grad_s is
 * not NULL, scale * dloss/ds is ADDED into grad_s [B, Ds]. Computed in double.
 */
#ifndef KDC_TRAIN_LOSS_RELATION_H
#define KDC_TRAIN_LOSS_RELATION_H

#include <stdint.h>

#include "ir/diag.h"

/* Relational knowledge distillation (Park et al., CVPR 2019), as RepDistiller's RKDLoss
 * computes it:
 *   loss = distance_weight * loss_d + angle_weight * loss_a
 * Distance term: d_ij = sqrt(max(|x_i - x_j|^2, 1e-12)) with d_ii = 0 (pdist, squared=False);
 *   each matrix is divided by the mean of its positive entries, which are exactly the
 *   B(B-1) off-diagonal ones (the clamp keeps them >= 1e-6);
 *   loss_d = mean over all B*B entries of smooth_l1(ds_ij / mean_s - dt_ij / mean_t).
 * Angle term: for anchor a, n_ab = (x_b - x_a) / max(|x_b - x_a|, 1e-12) (F.normalize, so
 *   n_aa = 0) and angle_abc = <n_ab, n_ac> (bmm of the normalized differences);
 *   loss_a = mean over all B^3 entries of smooth_l1(angle_s - angle_t).
 * smooth_l1 is Huber with beta 1: x^2 / 2 if |x| < 1, else |x| - 1/2.
 * The gradient is PyTorch autograd's, including at coincident rows. A weight of 0 skips
 * that term's work. */
typedef struct RelationOptions {
    double distance_weight; /* >= 0, RepDistiller's w_d */
    double angle_weight;    /* >= 0, RepDistiller's w_a */
} RelationOptions;

/* RepDistiller's defaults: distance_weight 25, angle_weight 50. */
RelationOptions relation_options_default(void);

/* o == NULL means relation_options_default(). Errors: B < 2, Ds or Dt < 1, a weight that is
 * negative or not finite, non-finite features, out of memory. */
Status loss_relation(const float *s, const float *t, int64_t batch, int64_t s_dim, int64_t t_dim,
                     const RelationOptions *o, double scale, double *loss, float *grad_s, Diag *d);

/* The two unweighted terms of loss_relation (loss_d and loss_a above), no gradient. */
Status loss_relation_terms(const float *s, const float *t, int64_t batch, int64_t s_dim, int64_t t_dim,
                           double *distance, double *angle, Diag *d);

/* Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018), as RepDistiller's PKT
 * computes it, with eps = 1e-7:
 *   f_i = x_i / (|x_i| + eps); S = f f^T; P = (S + 1) / 2; Q_ij = P_ij / sum_k P_ik;
 *   loss = mean over all B*B entries of Qt_ij * log((Qt_ij + eps) / (Qs_ij + eps)).
 * At an all-zero student row PyTorch's autograd gives NaN (sqrt'(0) times 0); we give the
 * true derivative there, d f_i / d x_i = I / eps. Errors: B < 2, Ds or Dt < 1, non-finite
 * features, out of memory. */
Status loss_pkt(const float *s, const float *t, int64_t batch, int64_t s_dim, int64_t t_dim, double scale, double *loss,
                float *grad_s, Diag *d);

#endif
