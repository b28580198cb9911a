/* k_loss.c - kernels of the ONNX loss ops (runtime/kernels_loss.h):
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, forward and
 * backward.
 *
 * Sums run in double. SoftmaxCrossEntropyLoss is log-softmax over the class
 * axis (k_logsoftmax_forward) followed by the NLL; its backward is fused:
 * per (n, d) lane the NLL gradient touches one class only, so the
 * log-softmax backward needs no [N,C,D] scratch. Lanes are split over the
 * thread pool when the tensor is large.
 */
#include "runtime/kernels_loss.h"

#include <math.h>

#include "runtime/kernels.h"
#include "runtime/kernels_nn.h"

static inline int64_t target_at(const LossDims *ld, const void *target, int64_t i)
{
    return ld->target_i32 ? ((const int32_t *)target)[i] : ((const int64_t *)target)[i];
}

static inline bool target_ignored(const LossDims *ld, int64_t t)
{
    return ld->has_ignore && t == ld->ignore_index;
}

int64_t k_loss_out_numel(const LossDims *ld)
{
    return ld->reduction == KLOSS_NONE ? ld->N * ld->D : 1;
}

Status k_loss_check_targets(const LossDims *ld, const void *target, Diag *d)
{
    for (int64_t i = 0; i < ld->N * ld->D; i++) {
        int64_t t = target_at(ld, target, i);
        if (target_ignored(ld, t) || (t >= 0 && t < ld->C))
            continue;
        if (ld->has_ignore)
            return diag_error(d, "target %lld (element %lld) is not a class in [0, %lld) nor ignore_index %lld",
                              (long long)t, (long long)i, (long long)ld->C, (long long)ld->ignore_index);
        return diag_error(d, "target %lld (element %lld) is not a class in [0, %lld)", (long long)t, (long long)i,
                          (long long)ld->C);
    }
    return KDC_OK;
}

/* The mean's divisor: the weights of the targets that count. */
static double applied_weight_sum(const LossDims *ld, const void *target, const float *weight)
{
    double sum = 0.0;
    for (int64_t i = 0; i < ld->N * ld->D; i++) {
        int64_t t = target_at(ld, target, i);
        if (!target_ignored(ld, t))
            sum += weight ? weight[t] : 1.0;
    }
    return sum;
}

void k_nll_forward(const LossDims *ld, const float *logp, const void *target, const float *weight, float *loss)
{
    int64_t C = ld->C, D = ld->D;
    double sum = 0.0, weights = 0.0;
    for (int64_t n = 0; n < ld->N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t i = n * D + d, t = target_at(ld, target, i);
            float w = weight && !target_ignored(ld, t) ? weight[t] : 1.0f;
            float l = target_ignored(ld, t) ? 0.0f : -logp[(n * C + t) * D + d] * w;
            if (ld->reduction == KLOSS_NONE) {
                loss[i] = l;
            } else if (!target_ignored(ld, t)) {
                sum += l;
                weights += w;
            }
        }
    if (ld->reduction != KLOSS_NONE)
        loss[0] = (float)(ld->reduction == KLOSS_MEAN ? sum / weights : sum);
}

/* What dLoss/dloss[i] is for each position under a scalar reduction: the
 * output's gradient, divided by the weight sum for the mean. */
static double reduced_scale(const LossDims *ld, const void *target, const float *weight, const float *dloss)
{
    if (ld->reduction == KLOSS_NONE)
        return 1.0;
    if (ld->reduction == KLOSS_SUM)
        return dloss[0];
    return dloss[0] / applied_weight_sum(ld, target, weight);
}

/* The gradient of position i's loss with respect to its target's
 * log-probability: -weight * dLoss/dloss[i]. Zero-weight positions give 0
 * (not 0 * inf when every weight of a mean is 0). */
static inline float target_grad(const LossDims *ld, const void *target, const float *weight, const float *dloss,
                                double scale, int64_t i, int64_t *t)
{
    *t = target_at(ld, target, i);
    if (target_ignored(ld, *t))
        return 0.0f;
    float w = weight ? weight[*t] : 1.0f;
    if (w == 0.0f)
        return 0.0f;
    return (float)(-(double)w * (ld->reduction == KLOSS_NONE ? dloss[i] : scale));
}

void k_nll_backward(const LossDims *ld, const void *target, const float *weight, const float *dloss, float *dlogp)
{
    if (!dlogp || !dloss)
        return;
    double scale = reduced_scale(ld, target, weight, dloss);
    for (int64_t n = 0; n < ld->N; n++)
        for (int64_t d = 0; d < ld->D; d++) {
            int64_t t;
            float g = target_grad(ld, target, weight, dloss, scale, n * ld->D + d, &t);
            if (g != 0.0f)
                dlogp[(n * ld->C + t) * ld->D + d] += g;
        }
}

void k_sce_forward(const LossDims *ld, const float *scores, const void *target, const float *weight, float *logp,
                   float *loss)
{
    SoftmaxDims sd = {ld->N, ld->C, ld->D};
    k_logsoftmax_forward(&sd, scores, logp);
    k_nll_forward(ld, logp, target, weight, loss);
}

typedef struct SceBackJob {
    const LossDims *ld;
    const float *logp, *weight, *dloss, *dlogp;
    const void *target;
    double scale;
    float *dscores;
} SceBackJob;

/* Lanes [begin, end) of (n, d): with g the gradient reaching logp along the
 * lane (dlogp plus the NLL's single entry at the target class),
 * dscores += g - softmax * sum(g). */
static void sce_backward_lanes(const void *ctx, int64_t begin, int64_t end)
{
    const SceBackJob *j = ctx;
    int64_t C = j->ld->C, D = j->ld->D;
    for (int64_t lane = begin; lane < end; lane++) {
        int64_t base = (lane / D) * C * D + lane % D, t = -1;
        float gt = j->dloss ? target_grad(j->ld, j->target, j->weight, j->dloss, j->scale, lane, &t) : 0.0f;
        const float *lp = j->logp + base, *g = j->dlogp ? j->dlogp + base : NULL;
        float *dx = j->dscores + base;
        double sum = gt;
        for (int64_t c = 0; g && c < C; c++)
            sum += g[c * D];
        for (int64_t c = 0; c < C; c++)
            dx[c * D] += (g ? g[c * D] : 0.0f) + (c == t ? gt : 0.0f) - expf(lp[c * D]) * (float)sum;
    }
}

void k_sce_backward(const LossDims *ld, const float *logp, const void *target, const float *weight, const float *dloss,
                    const float *dlogp, float *dscores)
{
    if (!dscores || (!dloss && !dlogp))
        return;
    SceBackJob j = {ld, logp, weight, dloss, dlogp, target, 0.0, dscores};
    if (dloss)
        j.scale = reduced_scale(ld, target, weight, dloss);
    k_nn_ranges(ld->N * ld->D, ld->N * ld->C * ld->D, sce_backward_lanes, &j);
}
