/* k_pool_nd.c - pooling over three spatial dims (MaxPool, AveragePool,
 * LpPool; 1-D and 2-D callers pad with size-1 dims) and the global max and
 * Lp pools, forward and backward.
 *
 * Owns the N-d window arithmetic: per output position and spatial dim, the
 * range of taps inside the input (and, for the count_include_pad divisor,
 * inside input+pads). Work is split over planes (n, c), which never share
 * an output or a gradient element.
 */
#include "runtime/kernels_nn.h"

#include <math.h>

#include "runtime/threads.h"

/* Below this many output elements a parallel loop costs more than it saves. */
#define K_POOLND_PARALLEL_MIN (1L << 14)

/* Taps k in [*lo, *hi) of a window of K taps, dilation dil, starting at
 * base, whose position base + k*dil lies in [lo_b, hi_b). */
static void window_taps(int base, int dil, int K, int lo_b, int hi_b, int *lo, int *hi)
{
    int l = base >= lo_b ? 0 : (lo_b - base + dil - 1) / dil;
    int h = hi_b - 1 - base < 0 ? 0 : (hi_b - 1 - base) / dil + 1;
    h = h < K ? h : K;
    *lo = l < h ? l : h;
    *hi = h;
}

/* One output position's window: start and the tap ranges inside the input. */
typedef struct Win3 {
    int base[KN_SPATIAL], lo[KN_SPATIAL], hi[KN_SPATIAL];
} Win3;

static Win3 window_at(const PoolNdDims *pd, const int *o)
{
    Win3 w;
    for (int i = 0; i < KN_SPATIAL; i++) {
        w.base[i] = o[i] * pd->stride[i] - pd->pad_begin[i];
        window_taps(w.base[i], pd->dil[i], pd->k[i], 0, pd->in[i], &w.lo[i], &w.hi[i]);
    }
    return w;
}

static int64_t plane_in(const PoolNdDims *pd)
{
    return (int64_t)pd->in[0] * pd->in[1] * pd->in[2];
}

static int64_t plane_out(const PoolNdDims *pd)
{
    return (int64_t)pd->out[0] * pd->out[1] * pd->out[2];
}

/* Input index (within the plane) of tap t of window w. */
static int64_t tap_index(const PoolNdDims *pd, const Win3 *w, int kd, int kh, int kw)
{
    int64_t id = w->base[0] + kd * pd->dil[0], ih = w->base[1] + kh * pd->dil[1], iw = w->base[2] + kw * pd->dil[2];
    return (id * pd->in[1] + ih) * pd->in[2] + iw;
}

Status k_pool3d_check(const PoolNdDims *pd, Diag *d)
{
    for (int i = 0; i < KN_SPATIAL; i++) {
        if (pd->in[i] <= 0 || pd->out[i] <= 0 || pd->k[i] <= 0 || pd->stride[i] <= 0 || pd->dil[i] <= 0)
            return diag_error(d,
                              "Pool: spatial dim %d: input %d, output %d, kernel %d, stride %d, dilation %d must "
                              "be positive",
                              i, pd->in[i], pd->out[i], pd->k[i], pd->stride[i], pd->dil[i]);
        if (pd->pad_begin[i] < 0 || pd->pad_end[i] < 0)
            return diag_error(d, "Pool: negative pads %d,%d in spatial dim %d", pd->pad_begin[i], pd->pad_end[i], i);
        for (int o = 0; o < pd->out[i]; o++) {
            int lo, hi;
            window_taps(o * pd->stride[i] - pd->pad_begin[i], pd->dil[i], pd->k[i], 0, pd->in[i], &lo, &hi);
            if (lo == hi)
                return diag_error(d, "Pool: output window %d of spatial dim %d lies entirely in the padding", o, i);
        }
    }
    if (plane_in(pd) > INT32_MAX)
        return diag_error(d, "Pool: a plane of %lld values is too large", (long long)plane_in(pd));
    return KDC_OK;
}

typedef struct PoolNdJob {
    const PoolNdDims *pd;
    const float *x, *y_in, *dy;
    const int32_t *argmax_in;
    float *y, *dx;
    int32_t *argmax;
} PoolNdJob;

static void pool_run(const PoolNdJob *j, int64_t planes, int64_t work, void (*fn)(void *ctx, int plane, int thread))
{
    if (threads_count() == 1 || work < K_POOLND_PARALLEL_MIN || planes > INT32_MAX) {
        for (int64_t p = 0; p < planes; p++)
            fn((void *)j, (int)p, 0);
        return;
    }
    threads_parallel_for((int)planes, fn, (void *)j);
}

/* Loops over a plane's output positions (o, counting out along) and over a
 * window's taps inside the input. */
#define FOR_EACH_OUTPUT(pd, o, out)                                                                                    \
    for (o[0] = 0; o[0] < (pd)->out[0]; o[0]++)                                                                        \
        for (o[1] = 0; o[1] < (pd)->out[1]; o[1]++)                                                                    \
            for (o[2] = 0; o[2] < (pd)->out[2]; o[2]++, (out)++)

#define FOR_EACH_TAP(w, kd, kh, kw)                                                                                    \
    for (kd = (w).lo[0]; kd < (w).hi[0]; kd++)                                                                         \
        for (kh = (w).lo[1]; kh < (w).hi[1]; kh++)                                                                     \
            for (kw = (w).lo[2]; kw < (w).hi[2]; kw++)

static void maxpool_plane(void *ctx, int plane, int thread)
{
    const PoolNdJob *j = ctx;
    const PoolNdDims *pd = j->pd;
    const float *x = j->x + plane * plane_in(pd);
    int64_t out = plane * plane_out(pd);
    int o[KN_SPATIAL], kd, kh, kw;
    (void)thread;
    FOR_EACH_OUTPUT(pd, o, out)
    {
        Win3 w = window_at(pd, o);
        float best = -INFINITY;
        int32_t arg = -1;
        FOR_EACH_TAP(w, kd, kh, kw)
        {
            int32_t idx = (int32_t)tap_index(pd, &w, kd, kh, kw);
            if (!isnan(best) && (arg < 0 || x[idx] > best || isnan(x[idx]))) {
                best = x[idx];
                arg = idx;
            }
        }
        j->y[out] = best;
        if (j->argmax)
            j->argmax[out] = arg;
    }
}

void k_maxpool3d_forward(const PoolNdDims *pd, const float *x, float *y, int32_t *argmax)
{
    PoolNdJob j = {.pd = pd, .x = x, .y = y, .argmax = argmax};
    pool_run(&j, pd->planes, pd->planes * plane_out(pd), maxpool_plane);
}

static void maxpool_backward_plane(void *ctx, int plane, int thread)
{
    const PoolNdJob *j = ctx;
    int64_t n = plane_out(j->pd), out = plane * n;
    float *dx = j->dx + plane * plane_in(j->pd);
    (void)thread;
    for (int64_t i = out; i < out + n; i++)
        if (j->argmax_in[i] >= 0)
            dx[j->argmax_in[i]] += j->dy[i];
}

void k_maxpool3d_backward(const PoolNdDims *pd, const int32_t *argmax, const float *dy, float *dx)
{
    PoolNdJob j = {.pd = pd, .argmax_in = argmax, .dy = dy, .dx = dx};
    if (dx)
        pool_run(&j, pd->planes, pd->planes * plane_out(pd), maxpool_backward_plane);
}

static int avg_divisor(const PoolNdDims *pd, const Win3 *w)
{
    int n = 1;
    for (int i = 0; i < KN_SPATIAL; i++) {
        int lo = w->lo[i], hi = w->hi[i];
        if (pd->count_include_pad)
            window_taps(w->base[i], pd->dil[i], pd->k[i], -pd->pad_begin[i], pd->in[i] + pd->pad_end[i], &lo, &hi);
        n *= hi - lo;
    }
    return n;
}

static void avgpool_plane(void *ctx, int plane, int thread)
{
    const PoolNdJob *j = ctx;
    const PoolNdDims *pd = j->pd;
    const float *x = j->x + plane * plane_in(pd);
    int64_t out = plane * plane_out(pd);
    int o[KN_SPATIAL], kd, kh, kw;
    (void)thread;
    FOR_EACH_OUTPUT(pd, o, out)
    {
        Win3 w = window_at(pd, o);
        float sum = 0.0f;
        FOR_EACH_TAP(w, kd, kh, kw)
        {
            sum += x[tap_index(pd, &w, kd, kh, kw)];
        }
        j->y[out] = sum / (float)avg_divisor(pd, &w);
    }
}

void k_avgpool3d_forward(const PoolNdDims *pd, const float *x, float *y)
{
    PoolNdJob j = {.pd = pd, .x = x, .y = y};
    pool_run(&j, pd->planes, pd->planes * plane_out(pd), avgpool_plane);
}

static void avgpool_backward_plane(void *ctx, int plane, int thread)
{
    const PoolNdJob *j = ctx;
    const PoolNdDims *pd = j->pd;
    float *dx = j->dx + plane * plane_in(pd);
    int64_t out = plane * plane_out(pd);
    int o[KN_SPATIAL], kd, kh, kw;
    (void)thread;
    FOR_EACH_OUTPUT(pd, o, out)
    {
        Win3 w = window_at(pd, o);
        float g = j->dy[out] / (float)avg_divisor(pd, &w);
        FOR_EACH_TAP(w, kd, kh, kw)
        {
            dx[tap_index(pd, &w, kd, kh, kw)] += g;
        }
    }
}

void k_avgpool3d_backward(const PoolNdDims *pd, const float *dy, float *dx)
{
    PoolNdJob j = {.pd = pd, .dy = dy, .dx = dx};
    if (dx)
        pool_run(&j, pd->planes, pd->planes * plane_out(pd), avgpool_backward_plane);
}

/* |v|^p, exact for the common p = 1 and 2. */
static double abs_pow(float v, float p)
{
    double a = fabs((double)v);
    return p == 2.0f ? a * a : p == 1.0f ? a : pow(a, p);
}

static float root_p(double s, float p)
{
    return (float)(p == 2.0f ? sqrt(s) : p == 1.0f ? s : pow(s, 1.0 / p));
}

/* d y / d x for y = (sum |x|^p)^(1/p): sign(x) |x|^(p-1) / y^(p-1). */
static float lp_slope(float x, float y, float p)
{
    if (y == 0.0f || x == 0.0f)
        return 0.0f;
    double r = p == 2.0f ? (double)x / y : pow(fabs((double)x) / y, p - 1.0) * (x < 0 ? -1.0 : 1.0);
    return (float)r;
}

static void lppool_plane(void *ctx, int plane, int thread)
{
    const PoolNdJob *j = ctx;
    const PoolNdDims *pd = j->pd;
    const float *x = j->x + plane * plane_in(pd);
    int64_t out = plane * plane_out(pd);
    int o[KN_SPATIAL], kd, kh, kw;
    (void)thread;
    FOR_EACH_OUTPUT(pd, o, out)
    {
        Win3 w = window_at(pd, o);
        double sum = 0.0;
        FOR_EACH_TAP(w, kd, kh, kw)
        {
            sum += abs_pow(x[tap_index(pd, &w, kd, kh, kw)], pd->p);
        }
        j->y[out] = root_p(sum, pd->p);
    }
}

void k_lppool3d_forward(const PoolNdDims *pd, const float *x, float *y)
{
    PoolNdJob j = {.pd = pd, .x = x, .y = y};
    pool_run(&j, pd->planes, pd->planes * plane_out(pd), lppool_plane);
}

static void lppool_backward_plane(void *ctx, int plane, int thread)
{
    const PoolNdJob *j = ctx;
    const PoolNdDims *pd = j->pd;
    const float *x = j->x + plane * plane_in(pd);
    float *dx = j->dx + plane * plane_in(pd);
    int64_t out = plane * plane_out(pd);
    int o[KN_SPATIAL], kd, kh, kw;
    (void)thread;
    FOR_EACH_OUTPUT(pd, o, out)
    {
        Win3 w = window_at(pd, o);
        FOR_EACH_TAP(w, kd, kh, kw)
        {
            int64_t i = tap_index(pd, &w, kd, kh, kw);
            dx[i] += j->dy[out] * lp_slope(x[i], j->y_in[out], pd->p);
        }
    }
}

void k_lppool3d_backward(const PoolNdDims *pd, const float *x, const float *y, const float *dy, float *dx)
{
    PoolNdJob j = {.pd = pd, .x = x, .y_in = y, .dy = dy, .dx = dx};
    if (dx)
        pool_run(&j, pd->planes, pd->planes * plane_out(pd), lppool_backward_plane);
}

/* ---------------------------------------------------------- global pools */

void k_global_maxpool_forward(int64_t NC, int64_t S, const float *x, float *y, int32_t *argmax)
{
    for (int64_t i = 0; i < NC; i++) {
        const float *p = x + i * S;
        float best = -INFINITY;
        int32_t arg = -1;
        for (int64_t s = 0; s < S && !isnan(best); s++)
            if (arg < 0 || p[s] > best || isnan(p[s])) {
                best = p[s];
                arg = (int32_t)s;
            }
        y[i] = best;
        if (argmax)
            argmax[i] = arg;
    }
}

void k_global_maxpool_backward(int64_t NC, int64_t S, const int32_t *argmax, const float *dy, float *dx)
{
    for (int64_t i = 0; dx && i < NC; i++)
        if (argmax[i] >= 0)
            dx[i * S + argmax[i]] += dy[i];
}

void k_global_lppool_forward(int64_t NC, int64_t S, float p, const float *x, float *y)
{
    for (int64_t i = 0; i < NC; i++) {
        double sum = 0.0;
        for (int64_t s = 0; s < S; s++)
            sum += abs_pow(x[i * S + s], p);
        y[i] = root_p(sum, p);
    }
}

void k_global_lppool_backward(int64_t NC, int64_t S, float p, const float *x, const float *y, const float *dy,
                              float *dx)
{
    for (int64_t i = 0; dx && i < NC; i++)
        for (int64_t s = 0; s < S; s++)
            dx[i * S + s] += dy[i] * lp_slope(x[i * S + s], y[i], p);
}
