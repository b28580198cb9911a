/* loss_contrastive.h - contrastive representation distillation (CRD: Tian, Krishnan and
 * Isola, ICLR 2020), as RepDistiller's CRDLoss computes it (crd/criterion.py, crd/memory.py).
 *
 * Unlike the stateless feature losses, CRD owns trainable tensors and state, kept in a
 * Contrast:
 *   - two projection heads, embed_s: v_s = normalize(s W_s^T + b_s), W_s [feat_dim, s_dim],
 *     and embed_t: v_t = normalize(t W_t^T + b_t), W_t [feat_dim, t_dim] (nn.Linear layout),
 *     where normalize(y) = y / max(||y||_2, 1e-12). RepDistiller's Normalize divides by
 *     ||y|| with no epsilon; the clamp only changes rows with ||y|| < 1e-12, where it
 *     returns 0 (and the gradient dv / 1e-12) instead of NaN. Both heads are trained, the
 *     teacher's by the teacher-side loss; the teacher feature t itself gets no gradient.
 *   - two memory banks [n_data, feat_dim]: memory_s (student embeddings, RepDistiller's
 *     memory_v1) and memory_t (teacher embeddings, memory_v2);
 *   - the normalizers Z_s and Z_t, fixed at the first batch ever (see below).
 * Initialisation from a seed (train/rng.h), in this order: W_s, b_s, W_t, b_t uniform in
 * +-1/sqrt(fan_in) (nn.Linear's default), then memory_s, memory_t uniform in +-stdv with
 * stdv = 1/sqrt(feat_dim/3) (ContrastMemory's).
 *
 * One batch of B examples with dataset indices idx[b] and K negatives per example uses
 * contrast_idx [B, K+1], column 0 being idx[b], and T the temperature:
 *   out_s[b,k] = exp(<memory_t[contrast_idx[b,k]], v_s[b]> / T) / Z_s   (out_v1, student side)
 *   out_t[b,k] = exp(<memory_s[contrast_idx[b,k]], v_t[b]> / T) / Z_t   (out_v2, teacher side)
 * Z_s (Z_t) is set at the first call ever to mean(exp(./T)) * n_data over that batch's
 * B*(K+1) entries of its side, then kept; it is a constant in the gradient. With
 * m = K, Pn = 1/n_data and eps = 1e-7 (ContrastLoss), for each side's out P:
 *   loss_side = -( sum_b log(P[b,0] / (P[b,0] + m Pn + eps))
 *                 + sum_b sum_{k>=1} log(m Pn / (P[b,k] + m Pn + eps)) ) / B
 *   loss = loss_s + loss_t
 * The memory rows are constants (detached). After the loss, in training calls only:
 *   memory_s[idx[b]] = normalize(momentum * memory_s[idx[b]] + (1 - momentum) * v_s[b])
 * and likewise memory_t with v_t; the loss uses the banks from before the update. When an
 * index appears twice in a batch the last occurrence wins, computed from the bank before
 * the update (index_copy_ leaves that case unspecified).
 *
 * Numerics: the head matmuls run in float (blas_sgemm), the banks are stored in float and
 * everything else is computed in double. The loss is evaluated in log space
 * (log P = <.,.>/T - log Z), so no temperature overflows exp; Z is kept as log Z for the
 * same reason. RepDistiller keeps T and Z in a float32 buffer; we keep them in double (a
 * relative difference below 1e-7). Batch items are spread over the runtime/threads.h pool;
 * results do not depend on the thread count.
 */
#ifndef KDC_TRAIN_LOSS_CONTRASTIVE_H
#define KDC_TRAIN_LOSS_CONTRASTIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/diag.h"
#include "train/rng.h"

/* The heads and their gradients, the memory banks, Z and preallocated scratch. */
typedef struct Contrast Contrast;

/* Creates the module for student features [B, s_dim], teacher features [B, t_dim], a
 * dataset of n_data examples and batches of at most max_batch; everything a step needs is
 * allocated here. Errors: s_dim, t_dim, feat_dim or max_batch < 1 (or above INT_MAX),
 * n_data < 2, temperature not a positive normal number, momentum outside [0, 1), out of
 * memory. */
Status contrast_new(int64_t s_dim, int64_t t_dim, int64_t n_data, int feat_dim, int64_t max_batch, double temperature,
                    double momentum, uint64_t seed, Contrast **out, Diag *d);
void contrast_free(Contrast *c);

/* The trainable tensors for the optimizer, in the order W_s, b_s, W_t, b_t: writes the
 * first min(max, 4) entries' data, grad and numel and returns 4. */
int contrast_params(Contrast *c, float **data, float **grad, int64_t *numel, int max);
void contrast_zero_grads(Contrast *c);

/* Writable views of the module's tensors (for checkpoints and tests), layouts as above:
 * w_s [feat_dim, s_dim], b_s [feat_dim], w_t [feat_dim, t_dim], b_t [feat_dim],
 * memory_s and memory_t [n_data, feat_dim]; the gradients have the heads' layouts. */
typedef struct ContrastTensors {
    float *w_s, *b_s, *w_t, *b_t;
    float *dw_s, *db_s, *dw_t, *db_t;
    float *memory_s, *memory_t;
} ContrastTensors;
ContrastTensors contrast_tensors(Contrast *c);

/* Whether Z is set (by the first loss call or contrast_set_log_z); if so, writes log Z_s
 * and log Z_t. */
bool contrast_log_z(const Contrast *c, double *log_z_s, double *log_z_t);
/* Sets log Z_s and log Z_t (a checkpoint restore). Error: a value that is not finite. */
Status contrast_set_log_z(Contrast *c, double log_z_s, double log_z_t, Diag *d);

/* contrast_idx [batch, negatives+1]: column 0 is idx[b]; the other columns are drawn
 * uniformly from [0, n_data) without idx[b] itself (RepDistiller draws from all n_data,
 * so an example may be its own negative; here the positive never is). Draws with
 * replacement. An idx[b] outside [0, n_data) is copied as is and reported by
 * loss_contrastive. negatives >= 0. */
void contrast_sample(const Contrast *c, const int64_t *idx, int64_t batch, int negatives, Rng *rng,
                     int64_t *contrast_idx);

/* s [batch, s_dim] student features, t [batch, t_dim] teacher features, contrast_idx
 * [batch, negatives+1]. Writes the unscaled loss. If grad_s is not NULL (training): ADDS
 * scale * dloss/ds into grad_s [batch, s_dim] and scale * dloss/dparams into the heads'
 * gradients, then updates the memory banks. With grad_s NULL (evaluation) only Z may
 * change (its first-call initialisation). Errors: batch outside [1, max_batch],
 * negatives < 1, an index outside [0, n_data), non-finite features, embeddings (diverged
 * heads) or scores (non-finite memory rows); on error nothing is written and the state is
 * unchanged. */
Status loss_contrastive(Contrast *c, const float *s, const float *t, const int64_t *contrast_idx, int64_t batch,
                        int negatives, double scale, double *loss, float *grad_s, Diag *d);

#endif
