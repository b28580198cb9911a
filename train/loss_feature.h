/* loss_feature.h - feature-based distillation losses (hint, attention transfer,
 * similarity preserving, correlation congruence).
 *
 * Each loss compares a student feature s with a teacher feature t that was
 * probed from the two networks (after an adapter has made shapes compatible
 * where the loss needs it). The teacher is a constant: only the gradient with
 * respect to s is computed. The formulas follow RepDistiller
 * (github.com/HobbitLong/RepDistiller, distiller_zoo) so that numbers agree
 * with PyTorch; each function documents exactly what it computes.
 *
 * Common contract:
 *  - *loss receives the unscaled loss;
 *  - if grad_s is not NULL, scale * dloss/ds is ADDED into grad_s (same
 *    layout as s), because several losses may share one feature;
 *  - work is done in double; on error (bad sizes or options, non-finite
 *    inputs, a loss that overflows, out of memory) the Diag gets one line
 *    naming the loss, KDC_ERR is returned and neither *loss nor grad_s is
 *    touched.
 * "Normalize" below is F.normalize: x / max(||x||_2, 1e-12). Below the clamp
 * the denominator is the constant 1e-12, so, as in PyTorch, the gradient
 * then flows through the numerator only (and can be huge).
 */
#ifndef KDC_TRAIN_LOSS_FEATURE_H
#define KDC_TRAIN_LOSS_FEATURE_H

#include <stdint.h>

#include "ir/diag.h"

/* RepDistiller's default exponent for the attention maps. */
#define LOSS_ATTENTION_DEFAULT_P 2.0

/* Hint loss (FitNets, Romero et al. 2015): s and t hold n >= 1 values each;
 *   loss = (1/n) * sum_i (s_i - t_i)^2            (F.mse_loss, reduction 'mean')
 *   dloss/ds_i = 2 (s_i - t_i) / n */
Status loss_hint(const float *s, const float *t, int64_t n, double scale, double *loss,
                 float *grad_s, Diag *d);

/* Attention transfer (Zagoruyko & Komodakis 2017), as RepDistiller's
 * Attention.at_loss: s is [B, Cs, HW], t is [B, Ct, HW]; the channel counts may
 * differ, the spatial size HW (H * W, row-major) must be the same (RepDistiller
 * would average-pool the larger map first; here the adapter does that).
 *   a(f)[b, j] = (1/C) * sum_c f[b, c, j]^p       (f.pow(p).mean(1))
 *   at(f)[b]   = normalize(a(f)[b]) over the HW positions of sample b
 *   loss       = mean over the B * HW entries of (at(s) - at(t))^2
 * p must be positive and finite. For integer p, f^p is the plain power (odd p
 * keeps the sign). For non-integer p PyTorch's f.pow(p) is NaN at negative f;
 * here |f|^p is used instead, which equals it wherever PyTorch is defined
 * (e.g. post-ReLU features), and its derivative at f = 0 is taken as 0 (the
 * true one is infinite when p < 1). */
Status loss_attention(const float *s, const float *t, int64_t batch, int64_t s_channels,
                      int64_t t_channels, int64_t spatial, double p, double scale, double *loss,
                      float *grad_s, Diag *d);

/* Similarity preserving (Tung & Mori 2019), as RepDistiller's Similarity:
 * s is [B, Ds], t is [B, Dt] (features flattened per sample; Ds and Dt may
 * differ).
 *   G(f)   = f f^T                                (B x B)
 *   N(f)   = G(f) with each row normalized        (F.normalize, dim 1)
 *   loss   = sum over all B * B entries of (N(s) - N(t))^2 / B^2
 * A batch of 1 is accepted: N is then 1 (or 0 for a zero row) on both sides
 * and the loss is 0, as in PyTorch. */
Status loss_similarity(const float *s, const float *t, int64_t batch, int64_t s_dim,
                       int64_t t_dim, double scale, double *loss, float *grad_s, Diag *d);

/* Correlation congruence, in the simplified form of RepDistiller's
 * Correlation (NOT the Gaussian-kernel correlation of Peng et al. 2019):
 * s and t are [B, D] embeddings (after the adapter, same D), B >= 2.
 *   delta[i, k] = |s[i, k] - t[i, k]|
 *   loss        = (1/(B-1)) * sum_{i=0}^{B-2} sum_k delta[i, k] * delta[i+1, k]
 * i.e. torch.mean((delta[:-1] * delta[1:]).sum(1)). |x| is differentiated as
 * sign(x) with sign(0) = 0, as PyTorch does. */
Status loss_correlation(const float *s, const float *t, int64_t batch, int64_t dim, double scale,
                        double *loss, float *grad_s, Diag *d);

#endif
