/* k_pool.c - MaxPool, AveragePool (2-D) and GlobalAveragePool, forward and
 * backward.
 *
 * Owns the window arithmetic: for each output position the range of kernel
 * taps that land inside the input (or inside input+pads, for the
 * count_include_pad divisor). The caller chooses OH/OW, so ceil_mode
 * windows that run past the padded input are handled here by clipping.
 * Work is split over (n, c) planes, which never share an output or a
 * gradient element. MaxPool without argmax (inference) runs the interior of
 * each output row tap by tap in branch-free, vectorized loops.
 */
#include "runtime/kernels.h"

#include <math.h>

#include "runtime/threads.h"

/* Below this many output elements a parallel loop costs more than it saves. */
#define K_POOL_PARALLEL_MIN (1L << 14)

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

/* Is every window along one axis left with at least one tap in the input? */
static bool axis_windows_hit(int n_out, int stride, int pad, int K, int dil, int n_in)
{
    for (int o = 0; o < n_out; o++) {
        int lo, hi;
        window_taps(o * stride - pad, dil, K, 0, n_in, &lo, &hi);
        if (lo == hi)
            return false;
    }
    return true;
}

Status k_pool2d_check(const PoolDims *pd, Diag *d)
{
    if (pd->N < 0 || pd->C <= 0 || pd->H <= 0 || pd->W <= 0 || pd->OH <= 0 || pd->OW <= 0)
        return diag_error(d, "Pool: input [%d,%d,%d,%d] -> output %dx%d is not a valid shape",
                          pd->N, pd->C, pd->H, pd->W, pd->OH, pd->OW);
    if (pd->KH <= 0 || pd->KW <= 0 || pd->stride_h <= 0 || pd->stride_w <= 0 ||
        pd->dil_h <= 0 || pd->dil_w <= 0)
        return diag_error(d, "Pool: kernel %dx%d, strides %d,%d, dilations %d,%d must be "
                          "positive", pd->KH, pd->KW, pd->stride_h, pd->stride_w, pd->dil_h,
                          pd->dil_w);
    if (pd->pad_top < 0 || pd->pad_left < 0 || pd->pad_bottom < 0 || pd->pad_right < 0)
        return diag_error(d, "Pool: negative pads %d,%d,%d,%d", pd->pad_top, pd->pad_left,
                          pd->pad_bottom, pd->pad_right);
    if ((int64_t)pd->H * pd->W > INT32_MAX)
        return diag_error(d, "Pool: a %dx%d plane is too large", pd->H, pd->W);
    if (!axis_windows_hit(pd->OH, pd->stride_h, pd->pad_top, pd->KH, pd->dil_h, pd->H) ||
        !axis_windows_hit(pd->OW, pd->stride_w, pd->pad_left, pd->KW, pd->dil_w, pd->W))
        return diag_error(d, "Pool: some %dx%d output windows lie entirely in the padding "
                          "(pads %d,%d,%d,%d on %dx%d input)", pd->OH, pd->OW, pd->pad_top,
                          pd->pad_left, pd->pad_bottom, pd->pad_right, pd->H, pd->W);
    return KDC_OK;
}

typedef struct PoolJob {
    const PoolDims *pd;
    const float *x, *dy;
    const int32_t *argmax_in;
    float *y, *dx;
    int32_t *argmax;
} PoolJob;

static void pool_run(const PoolJob *j, void (*fn)(void *ctx, int plane, int thread))
{
    const PoolDims *pd = j->pd;
    int planes = pd->N * pd->C;
    if (threads_count() == 1 || (int64_t)planes * pd->OH * pd->OW < K_POOL_PARALLEL_MIN) {
        for (int p = 0; p < planes; p++)
            fn((void *)j, p, 0);
        return;
    }
    threads_parallel_for(planes, fn, (void *)j);
}

/* Taps of output (oh, ow) inside the input, as tap index ranges. */
typedef struct Window {
    int h0, w0;               /* input position of tap (0, 0) */
    int khlo, khhi, kwlo, kwhi;
} Window;

static Window pool_window(const PoolDims *pd, int oh, int ow)
{
    Window w = {.h0 = oh * pd->stride_h - pd->pad_top, .w0 = ow * pd->stride_w - pd->pad_left};
    window_taps(w.h0, pd->dil_h, pd->KH, 0, pd->H, &w.khlo, &w.khhi);
    window_taps(w.w0, pd->dil_w, pd->KW, 0, pd->W, &w.kwlo, &w.kwhi);
    return w;
}

/* Max over the taps of one window; NaN wins and sticks, as in the ONNX
 * reference. Returns the winner's index in the plane (-1: no tap). */
static inline float window_max(const float *x, int W, int h0, int w0, int dil_h, int dil_w, int khlo, int khhi,
                               int kwlo, int kwhi, int32_t *arg)
{
    float best = -INFINITY;
    *arg = -1;
    for (int kh = khlo; kh < khhi; kh++) {
        int32_t row = (h0 + kh * dil_h) * W + w0;
        for (int kw = kwlo; kw < kwhi; kw++) {
            int32_t idx = row + kw * dil_w;
            float v = x[idx];
            if (*arg < 0 || v > best || (v != v && best == best)) {
                best = v;
                *arg = idx;
            }
        }
    }
    return best;
}

/* Window ranges depend on the row or the column alone: the row's are found
 * once per output row, the columns' once per plane (kept on the stack for
 * rows up to POOL_COLS wide). */
enum { POOL_COLS = 512 };

static void maxpool_forward_plane(void *ctx, int plane, int thread)
{
    const PoolJob *j = ctx;
    const PoolDims *pd = j->pd;
    const float *x = j->x + (size_t)plane * pd->H * pd->W;
    size_t out = (size_t)plane * pd->OH * pd->OW;
    int cols_lo[POOL_COLS], cols_hi[POOL_COLS];
    bool cached = pd->OW <= POOL_COLS;
    (void)thread;
    for (int ow = 0; cached && ow < pd->OW; ow++)
        window_taps(ow * pd->stride_w - pd->pad_left, pd->dil_w, pd->KW, 0, pd->W, &cols_lo[ow], &cols_hi[ow]);
    for (int oh = 0; oh < pd->OH; oh++) {
        int h0 = oh * pd->stride_h - pd->pad_top, khlo, khhi;
        window_taps(h0, pd->dil_h, pd->KH, 0, pd->H, &khlo, &khhi);
        for (int ow = 0; ow < pd->OW; ow++, out++) {
            int w0 = ow * pd->stride_w - pd->pad_left, kwlo, kwhi;
            if (cached) {
                kwlo = cols_lo[ow];
                kwhi = cols_hi[ow];
            } else {
                window_taps(w0, pd->dil_w, pd->KW, 0, pd->W, &kwlo, &kwhi);
            }
            int32_t arg;
            j->y[out] = window_max(x, pd->W, h0, w0, pd->dil_h, pd->dil_w, khlo, khhi, kwlo, kwhi, &arg);
            if (j->argmax)
                j->argmax[out] = arg;
        }
    }
}

/* yr[i] = max(yr[i], xr[i*sw]) with NaN winning and sticking, as in
 * window_max. Written without branches so the loop vectorizes; strides 1
 * and 2 (nearly every pooling layer) get loops of their own so the
 * vectorizer sees a constant stride. */
static void max_row_tap(float *restrict yr, const float *restrict xr, int sw, int n)
{
    if (sw == 1) {
        for (int i = 0; i < n; i++) {
            float v = xr[i], b = yr[i];
            yr[i] = ((v > b) | (v != v)) ? v : b;
        }
    } else if (sw == 2) {
        for (int i = 0; i < n; i++) {
            float v = xr[2 * i], b = yr[i];
            yr[i] = ((v > b) | (v != v)) ? v : b;
        }
    } else {
        for (int i = 0; i < n; i++) {
            float v = xr[(size_t)i * sw], b = yr[i];
            yr[i] = ((v > b) | (v != v)) ? v : b;
        }
    }
}

/* Outputs [a, b) of row oh whose windows have every column tap inside the
 * input, run tap by tap over the whole stretch (inference: no argmax). */
static void maxpool_row_interior(const PoolDims *pd, const float *x, int h0, int khlo, int khhi,
                                 int a, int b, float *yr)
{
    int sw = pd->stride_w, n = b - a;
    const float *x0 = x + (size_t)(h0 + khlo * pd->dil_h) * pd->W + (a * sw - pd->pad_left);
    for (int i = 0; i < n; i++)
        yr[a + i] = x0[(size_t)i * sw];
    for (int kh = khlo; kh < khhi; kh++) {
        const float *xr = x + (size_t)(h0 + kh * pd->dil_h) * pd->W + (a * sw - pd->pad_left);
        for (int kw = kh == khlo ? 1 : 0; kw < pd->KW; kw++)
            max_row_tap(yr + a, xr + (size_t)kw * pd->dil_w, sw, n);
    }
}

/* Inference MaxPool of one plane: the edge windows one at a time, the
 * interior stretch of each row by maxpool_row_interior. */
static void maxpool_forward_plane_fast(void *ctx, int plane, int thread)
{
    const PoolJob *j = ctx;
    const PoolDims *pd = j->pd;
    const float *x = j->x + (size_t)plane * pd->H * pd->W;
    float *y = j->y + (size_t)plane * pd->OH * pd->OW;
    int a = pd->OW, b = pd->OW;
    (void)thread;
    for (int ow = 0; ow < pd->OW; ow++) { /* interior windows form one stretch [a, b) */
        int w0 = ow * pd->stride_w - pd->pad_left;
        if (w0 >= 0 && w0 + (pd->KW - 1) * pd->dil_w < pd->W) {
            a = a < ow ? a : ow;
            b = ow + 1;
        }
    }
    a = a < b ? a : b;
    for (int oh = 0; oh < pd->OH; oh++) {
        int h0 = oh * pd->stride_h - pd->pad_top, khlo, khhi;
        float *yr = y + (size_t)oh * pd->OW;
        window_taps(h0, pd->dil_h, pd->KH, 0, pd->H, &khlo, &khhi);
        for (int ow = 0; ow < pd->OW; ow++) {
            if (ow == a && b > a && khhi > khlo) {
                maxpool_row_interior(pd, x, h0, khlo, khhi, a, b, yr);
                ow = b - 1;
                continue;
            }
            int w0 = ow * pd->stride_w - pd->pad_left, kwlo, kwhi;
            int32_t arg;
            window_taps(w0, pd->dil_w, pd->KW, 0, pd->W, &kwlo, &kwhi);
            yr[ow] = window_max(x, pd->W, h0, w0, pd->dil_h, pd->dil_w, khlo, khhi, kwlo, kwhi,
                                &arg);
        }
    }
}

void k_maxpool2d_forward(const PoolDims *pd, const float *x, float *y, int32_t *argmax)
{
    PoolJob j = {.pd = pd, .x = x, .y = y, .argmax = argmax};
    pool_run(&j, argmax ? maxpool_forward_plane : maxpool_forward_plane_fast);
}

static void maxpool_backward_plane(void *ctx, int plane, int thread)
{
    const PoolJob *j = ctx;
    const PoolDims *pd = j->pd;
    float *dx = j->dx + (size_t)plane * pd->H * pd->W;
    size_t out = (size_t)plane * pd->OH * pd->OW, n_out = (size_t)pd->OH * pd->OW;
    (void)thread;
    for (size_t i = out; i < out + n_out; i++)
        if (j->argmax_in[i] >= 0)
            dx[j->argmax_in[i]] += j->dy[i];
}

void k_maxpool2d_backward(const PoolDims *pd, const int32_t *argmax, const float *dy,
                          float *dx)
{
    PoolJob j = {.pd = pd, .argmax_in = argmax, .dy = dy, .dx = dx};
    if (dx)
        pool_run(&j, maxpool_backward_plane);
}

/* Number of taps the average divides by for window w. */
static int avg_divisor(const PoolDims *pd, const Window *w)
{
    if (!pd->count_include_pad)
        return (w->khhi - w->khlo) * (w->kwhi - w->kwlo);
    int khlo, khhi, kwlo, kwhi;
    window_taps(w->h0, pd->dil_h, pd->KH, -pd->pad_top, pd->H + pd->pad_bottom, &khlo, &khhi);
    window_taps(w->w0, pd->dil_w, pd->KW, -pd->pad_left, pd->W + pd->pad_right, &kwlo, &kwhi);
    return (khhi - khlo) * (kwhi - kwlo);
}

static void avgpool_forward_plane(void *ctx, int plane, int thread)
{
    const PoolJob *j = ctx;
    const PoolDims *pd = j->pd;
    const float *x = j->x + (size_t)plane * pd->H * pd->W;
    size_t out = (size_t)plane * pd->OH * pd->OW;
    (void)thread;
    for (int oh = 0; oh < pd->OH; oh++)
        for (int ow = 0; ow < pd->OW; ow++, out++) {
            Window w = pool_window(pd, oh, ow);
            float sum = 0.0f;
            for (int kh = w.khlo; kh < w.khhi; kh++) {
                const float *row = x + (size_t)(w.h0 + kh * pd->dil_h) * pd->W + w.w0;
                for (int kw = w.kwlo; kw < w.kwhi; kw++)
                    sum += row[kw * pd->dil_w];
            }
            j->y[out] = sum / (float)avg_divisor(pd, &w);
        }
}

void k_avgpool2d_forward(const PoolDims *pd, const float *x, float *y)
{
    PoolJob j = {.pd = pd, .x = x, .y = y};
    pool_run(&j, avgpool_forward_plane);
}

static void avgpool_backward_plane(void *ctx, int plane, int thread)
{
    const PoolJob *j = ctx;
    const PoolDims *pd = j->pd;
    float *dx = j->dx + (size_t)plane * pd->H * pd->W;
    size_t out = (size_t)plane * pd->OH * pd->OW;
    (void)thread;
    for (int oh = 0; oh < pd->OH; oh++)
        for (int ow = 0; ow < pd->OW; ow++, out++) {
            Window w = pool_window(pd, oh, ow);
            float g = j->dy[out] / (float)avg_divisor(pd, &w);
            for (int kh = w.khlo; kh < w.khhi; kh++) {
                float *row = dx + (size_t)(w.h0 + kh * pd->dil_h) * pd->W + w.w0;
                for (int kw = w.kwlo; kw < w.kwhi; kw++)
                    row[kw * pd->dil_w] += g;
            }
        }
}

void k_avgpool2d_backward(const PoolDims *pd, const float *dy, float *dx)
{
    PoolJob j = {.pd = pd, .dy = dy, .dx = dx};
    if (dx)
        pool_run(&j, avgpool_backward_plane);
}

void k_global_avgpool_forward(int64_t NC, int64_t S, const float *x, float *y)
{
    for (int64_t i = 0; i < NC; i++) {
        const float *p = x + i * S;
        double sum = 0.0;
        for (int64_t s = 0; s < S; s++)
            sum += p[s];
        y[i] = S > 0 ? (float)(sum / (double)S) : 0.0f;
    }
}

void k_global_avgpool_backward(int64_t NC, int64_t S, const float *dy, float *dx)
{
    for (int64_t i = 0; dx && i < NC; i++) {
        float g = dy[i] / (float)S, *p = dx + i * S;
        for (int64_t s = 0; s < S; s++)
            p[s] += g;
    }
}
