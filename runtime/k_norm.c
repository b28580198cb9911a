/* k_norm.c - BatchNormalization over [N, C, S], inference and training,
 * forward and backward.
 *
 * Owns the per-channel statistics. Channels are independent, so every
 * kernel here is split over channels; sums run in double so that a channel
 * with a large N*S does not lose the small terms.
 */
#include "runtime/kernels.h"

#include <math.h>

#include "runtime/threads.h"

/* Below this many elements a parallel loop costs more than it saves. */
#define K_NORM_PARALLEL_MIN (1L << 15)

typedef struct NormJob {
    const NormDims *nd;
    const float *x, *scale, *bias, *mean, *var, *dy;
    const float *saved_mean, *saved_invstd; /* training backward */
    float eps, momentum;
    float *y, *dx, *dscale, *dbias, *running_mean, *running_var, *save_mean, *save_invstd;
} NormJob;

static void norm_run(const NormJob *j, void (*fn)(void *ctx, int c, int thread))
{
    const NormDims *nd = j->nd;
    if (threads_count() == 1 || (int64_t)nd->N * nd->C * nd->S < K_NORM_PARALLEL_MIN) {
        for (int c = 0; c < nd->C; c++)
            fn((void *)j, c, 0);
        return;
    }
    threads_parallel_for(nd->C, fn, (void *)j);
}

/* Start of the (n, c) plane. */
static size_t plane(const NormDims *nd, int n, int c)
{
    return ((size_t)n * nd->C + c) * nd->S;
}

static void infer_forward_channel(void *ctx, int c, int thread)
{
    const NormJob *j = ctx;
    const NormDims *nd = j->nd;
    float invstd = 1.0f / sqrtf(j->var[c] + j->eps);
    float a = j->scale[c] * invstd, b = j->bias[c] - j->mean[c] * a;
    (void)thread;
    for (int n = 0; n < nd->N; n++) {
        const float *x = j->x + plane(nd, n, c);
        float *y = j->y + plane(nd, n, c);
        for (int64_t s = 0; s < nd->S; s++)
            y[s] = x[s] * a + b;
    }
}

void k_batchnorm_infer_forward(const NormDims *nd, const float *x, const float *scale,
                               const float *bias, const float *mean, const float *var,
                               float eps, float *y)
{
    NormJob j = {.nd = nd, .x = x, .scale = scale, .bias = bias, .mean = mean, .var = var,
                 .eps = eps, .y = y};
    norm_run(&j, infer_forward_channel);
}

static void infer_backward_channel(void *ctx, int c, int thread)
{
    const NormJob *j = ctx;
    const NormDims *nd = j->nd;
    float invstd = 1.0f / sqrtf(j->var[c] + j->eps), a = j->scale[c] * invstd;
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    (void)thread;
    for (int n = 0; n < nd->N; n++) {
        const float *dy = j->dy + plane(nd, n, c);
        const float *x = j->dscale ? j->x + plane(nd, n, c) : NULL;
        float *dx = j->dx ? j->dx + plane(nd, n, c) : NULL;
        for (int64_t s = 0; s < nd->S; s++) {
            sum_dy += dy[s];
            if (x)
                sum_dy_xhat += dy[s] * (x[s] - j->mean[c]) * invstd;
            if (dx)
                dx[s] += dy[s] * a;
        }
    }
    if (j->dscale)
        j->dscale[c] += (float)sum_dy_xhat;
    if (j->dbias)
        j->dbias[c] += (float)sum_dy;
}

void k_batchnorm_infer_backward(const NormDims *nd, const float *x, const float *scale,
                                const float *mean, const float *var, float eps,
                                const float *dy, float *dx, float *dscale, float *dbias)
{
    NormJob j = {.nd = nd, .x = x, .scale = scale, .mean = mean, .var = var, .eps = eps,
                 .dy = dy, .dx = dx, .dscale = dscale, .dbias = dbias};
    if (dx || dscale || dbias)
        norm_run(&j, infer_backward_channel);
}

/* Two passes (mean, then squared deviations) avoid the cancellation of
 * E[x^2] - E[x]^2. */
static void channel_moments(const NormJob *j, int c, double *mean, double *sq_dev)
{
    const NormDims *nd = j->nd;
    double sum = 0.0, sq = 0.0, count = (double)nd->N * nd->S;
    for (int n = 0; n < nd->N; n++) {
        const float *x = j->x + plane(nd, n, c);
        for (int64_t s = 0; s < nd->S; s++)
            sum += x[s];
    }
    *mean = count > 0 ? sum / count : 0.0;
    for (int n = 0; n < nd->N; n++) {
        const float *x = j->x + plane(nd, n, c);
        for (int64_t s = 0; s < nd->S; s++)
            sq += (x[s] - *mean) * (x[s] - *mean);
    }
    *sq_dev = sq;
}

static void train_forward_channel(void *ctx, int c, int thread)
{
    const NormJob *j = ctx;
    const NormDims *nd = j->nd;
    double mean, sq_dev, count = (double)nd->N * nd->S;
    (void)thread;
    channel_moments(j, c, &mean, &sq_dev);
    double var = count > 0 ? sq_dev / count : 0.0;
    float invstd = (float)(1.0 / sqrt(var + j->eps));
    float a = j->scale[c] * invstd, b = j->bias[c] - (float)mean * a;
    for (int n = 0; n < nd->N; n++) {
        const float *x = j->x + plane(nd, n, c);
        float *y = j->y + plane(nd, n, c);
        for (int64_t s = 0; s < nd->S; s++)
            y[s] = x[s] * a + b;
    }
    j->save_mean[c] = (float)mean;
    j->save_invstd[c] = invstd;
    if (j->running_mean && count > 0) {
        /* Unbiased, as PyTorch feeds running_var; one sample stays biased (0). */
        double unbiased = count > 1 ? sq_dev / (count - 1) : var;
        j->running_mean[c] = j->running_mean[c] * j->momentum + (float)mean * (1 - j->momentum);
        j->running_var[c] = j->running_var[c] * j->momentum + (float)unbiased * (1 - j->momentum);
    }
}

void k_batchnorm_train_forward(const NormDims *nd, const float *x, const float *scale,
                               const float *bias, float eps, float momentum,
                               float *running_mean, float *running_var, float *save_mean,
                               float *save_invstd, float *y)
{
    NormJob j = {.nd = nd, .x = x, .scale = scale, .bias = bias, .eps = eps,
                 .momentum = momentum, .y = y, .running_mean = running_mean,
                 .running_var = running_var, .save_mean = save_mean, .save_invstd = save_invstd};
    norm_run(&j, train_forward_channel);
}

/* dx = scale*invstd * (dy - mean(dy) - xhat * mean(dy*xhat)), since the batch
 * mean and variance both depend on x. */
static void train_backward_channel(void *ctx, int c, int thread)
{
    const NormJob *j = ctx;
    const NormDims *nd = j->nd;
    float mean = j->saved_mean[c], invstd = j->saved_invstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0, count = (double)nd->N * nd->S;
    (void)thread;
    for (int n = 0; n < nd->N; n++) {
        const float *x = j->x + plane(nd, n, c), *dy = j->dy + plane(nd, n, c);
        for (int64_t s = 0; s < nd->S; s++) {
            sum_dy += dy[s];
            sum_dy_xhat += dy[s] * (x[s] - mean) * invstd;
        }
    }
    if (j->dscale)
        j->dscale[c] += (float)sum_dy_xhat;
    if (j->dbias)
        j->dbias[c] += (float)sum_dy;
    if (!j->dx || count == 0)
        return;
    float a = j->scale[c] * invstd;
    float mean_dy = (float)(sum_dy / count), mean_dy_xhat = (float)(sum_dy_xhat / count);
    for (int n = 0; n < nd->N; n++) {
        const float *x = j->x + plane(nd, n, c), *dy = j->dy + plane(nd, n, c);
        float *dx = j->dx + plane(nd, n, c);
        for (int64_t s = 0; s < nd->S; s++)
            dx[s] += a * (dy[s] - mean_dy - (x[s] - mean) * invstd * mean_dy_xhat);
    }
}

void k_batchnorm_train_backward(const NormDims *nd, const float *x, const float *scale,
                                const float *save_mean, const float *save_invstd,
                                const float *dy, float *dx, float *dscale, float *dbias)
{
    NormJob j = {.nd = nd, .x = x, .scale = scale, .saved_mean = save_mean,
                 .saved_invstd = save_invstd,
                 .dy = dy, .dx = dx, .dscale = dscale, .dbias = dbias};
    if (dx || dscale || dbias)
        norm_run(&j, train_backward_channel);
}
