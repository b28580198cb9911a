/* k_softmax.c - Softmax and LogSoftmax along one axis, forward and backward.
 *
 * The tensor is viewed as [outer, n, inner]; each (outer, inner) pair is an
 * independent lane of n elements spaced inner apart. Lanes are split over
 * threads. Maxima are subtracted before exp so large logits do not
 * overflow; sums run in double.
 */
#include "runtime/kernels.h"

#include <math.h>

#include "runtime/threads.h"

/* Below this many elements a parallel loop costs more than it saves. */
#define K_SOFTMAX_PARALLEL_MIN (1L << 15)

typedef struct SoftmaxJob {
    const SoftmaxDims *sd;
    const float *x, *y, *dy;
    float *out;
    bool log;
    int parts;
    void (*lane)(const struct SoftmaxJob *j, int64_t base);
} SoftmaxJob;

static void softmax_part(void *ctx, int part, int thread)
{
    const SoftmaxJob *j = ctx;
    int64_t lanes = j->sd->outer * j->sd->inner;
    (void)thread;
    for (int64_t l = lanes * part / j->parts; l < lanes * (part + 1) / j->parts; l++)
        j->lane(j, (l / j->sd->inner) * j->sd->n * j->sd->inner + l % j->sd->inner);
}

static void softmax_run(SoftmaxJob *j)
{
    int T = threads_count();
    int64_t total = j->sd->outer * j->sd->n * j->sd->inner;
    j->parts = T == 1 || total < K_SOFTMAX_PARALLEL_MIN ? 1 : T;
    if (j->parts == 1)
        softmax_part(j, 0, 0);
    else
        threads_parallel_for(j->parts, softmax_part, j);
}

/* Lane starting at element base, stepping sd->inner. */
static void forward_lane(const SoftmaxJob *j, int64_t base)
{
    int64_t n = j->sd->n, st = j->sd->inner;
    const float *x = j->x + base;
    float *y = j->out + base;
    float max = -INFINITY;
    for (int64_t k = 0; k < n; k++)
        max = x[k * st] > max ? x[k * st] : max;
    double sum = 0.0;
    for (int64_t k = 0; k < n; k++)
        sum += expf(x[k * st] - max);
    if (j->log) {
        /* (x - max) first: max + log(sum) would round at the scale of max. */
        float log_sum = (float)log(sum);
        for (int64_t k = 0; k < n; k++)
            y[k * st] = (x[k * st] - max) - log_sum;
    } else {
        float inv = (float)(1.0 / sum);
        for (int64_t k = 0; k < n; k++)
            y[k * st] = expf(x[k * st] - max) * inv;
    }
}

static void softmax_backward_lane(const SoftmaxJob *j, int64_t base)
{
    int64_t n = j->sd->n, st = j->sd->inner;
    const float *y = j->y + base, *dy = j->dy + base;
    float *dx = j->out + base;
    double dot = 0.0;
    for (int64_t k = 0; k < n; k++)
        dot += (double)dy[k * st] * y[k * st];
    for (int64_t k = 0; k < n; k++)
        dx[k * st] += y[k * st] * (dy[k * st] - (float)dot);
}

static void logsoftmax_backward_lane(const SoftmaxJob *j, int64_t base)
{
    int64_t n = j->sd->n, st = j->sd->inner;
    const float *y = j->y + base, *dy = j->dy + base;
    float *dx = j->out + base;
    double sum = 0.0;
    for (int64_t k = 0; k < n; k++)
        sum += dy[k * st];
    for (int64_t k = 0; k < n; k++)
        dx[k * st] += dy[k * st] - expf(y[k * st]) * (float)sum;
}

void k_softmax_forward(const SoftmaxDims *sd, const float *x, float *y)
{
    SoftmaxJob j = {.sd = sd, .x = x, .out = y, .log = false, .lane = forward_lane};
    softmax_run(&j);
}

void k_softmax_backward(const SoftmaxDims *sd, const float *y, const float *dy, float *dx)
{
    SoftmaxJob j = {.sd = sd, .y = y, .dy = dy, .out = dx, .lane = softmax_backward_lane};
    if (dx)
        softmax_run(&j);
}

void k_logsoftmax_forward(const SoftmaxDims *sd, const float *x, float *y)
{
    SoftmaxJob j = {.sd = sd, .x = x, .out = y, .log = true, .lane = forward_lane};
    softmax_run(&j);
}

void k_logsoftmax_backward(const SoftmaxDims *sd, const float *y, const float *dy, float *dx)
{
    SoftmaxJob j = {.sd = sd, .y = y, .dy = dy, .out = dx, .lane = logsoftmax_backward_lane};
    if (dx)
        softmax_run(&j);
}
