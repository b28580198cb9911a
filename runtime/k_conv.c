/* k_conv.c - 2-D convolution (NCHW, strides, asymmetric pads, dilations,
 * groups, bias), forward and backward.
 *
 * Owns the im2col/col2im lowering and the split of work over threads. Each
 * (batch item, group) pair is one unit of work; units are cut into one
 * contiguous run per slot, and each slot has its own im2col buffer and, in
 * backward, its own partial dW/dB (slot 0 adds straight into the caller's),
 * summed in slot order at the end so results depend only on the slot count.
 * Forward with fewer units than threads (batch 1) cuts each unit into
 * parts instead: blocks of output positions, each slot lowering only its own
 * block, or blocks of output channels when those outnumber the positions.
 * A 1x1, stride-1, unpadded convolution is a plain GEMM on the input and
 * skips im2col. Depthwise convolutions (one input channel per group, few
 * outputs each) run as direct loops over a padded copy of the plane: as
 * GEMMs with one row they ran 4x slower (measured on [128,64,14,14] 3x3).
 */
#include "runtime/kernels.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/threads.h"

#define K_CONV_DEPTHWISE_MAX_OUT 4

/* Below this many multiply-adds per unit, waking a second thread costs more
 * than splitting the unit's GEMM saves (mobilenet_v2 at batch 1, whose 1x1
 * convolutions are small, got slower with every conv split). */
#define K_CONV_SPLIT_MIN_MACS (1L << 20)

static Status conv_check_values(const ConvDims *cd, Diag *d)
{
    if (cd->N < 0 || cd->C <= 0 || cd->H <= 0 || cd->W <= 0 || cd->M <= 0)
        return diag_error(d, "Conv: input [%d,%d,%d,%d] with %d filters is not a valid shape",
                          cd->N, cd->C, cd->H, cd->W, cd->M);
    if (cd->KH <= 0 || cd->KW <= 0 || cd->stride_h <= 0 || cd->stride_w <= 0 ||
        cd->dil_h <= 0 || cd->dil_w <= 0)
        return diag_error(d, "Conv: kernel %dx%d, strides %d,%d, dilations %d,%d must be "
                          "positive", cd->KH, cd->KW, cd->stride_h, cd->stride_w, cd->dil_h,
                          cd->dil_w);
    if (cd->pad_top < 0 || cd->pad_left < 0 || cd->pad_bottom < 0 || cd->pad_right < 0)
        return diag_error(d, "Conv: negative pads %d,%d,%d,%d", cd->pad_top, cd->pad_left,
                          cd->pad_bottom, cd->pad_right);
    if (cd->groups <= 0 || cd->C % cd->groups || cd->M % cd->groups)
        return diag_error(d, "Conv: group=%d does not divide %d input and %d output channels",
                          cd->groups, cd->C, cd->M);
    return KDC_OK;
}

Status k_conv2d_prepare(ConvDims *cd, Diag *d)
{
    if (conv_check_values(cd, d) != KDC_OK)
        return KDC_ERR;
    long span_h = (long)cd->H + cd->pad_top + cd->pad_bottom - (long)cd->dil_h * (cd->KH - 1);
    long span_w = (long)cd->W + cd->pad_left + cd->pad_right - (long)cd->dil_w * (cd->KW - 1);
    if (span_h < 1 || span_w < 1)
        return diag_error(d, "Conv: dilated kernel %dx%d is larger than the padded input "
                          "%ldx%ld", cd->KH, cd->KW,
                          (long)cd->H + cd->pad_top + cd->pad_bottom,
                          (long)cd->W + cd->pad_left + cd->pad_right);
    cd->OH = (int)((span_h - 1) / cd->stride_h + 1);
    cd->OW = (int)((span_w - 1) / cd->stride_w + 1);
    long ckk = (long)(cd->C / cd->groups) * cd->KH * cd->KW, p = (long)cd->OH * cd->OW;
    if (ckk * p > INT_MAX || (long)cd->H * cd->W > INT_MAX)
        return diag_error(d, "Conv: one image's im2col matrix (%ld x %ld) is too large", ckk, p);
    return KDC_OK;
}

static bool conv_is_direct(const ConvDims *cd)
{
    return cd->KH == 1 && cd->KW == 1 && cd->stride_h == 1 && cd->stride_w == 1 &&
           cd->pad_top == 0 && cd->pad_left == 0 && cd->pad_bottom == 0 && cd->pad_right == 0;
}

/* One input channel per group and few outputs each; beyond that many
 * outputs im2col + GEMM wins again (measured on a 32-filter 1-channel stem). */
static bool conv_is_depthwise(const ConvDims *cd)
{
    return cd->C == cd->groups && cd->M / cd->groups <= K_CONV_DEPTHWISE_MAX_OUT &&
           cd->stride_h == cd->stride_w;
}

/* Per-slot scratch: the im2col matrix, or padded planes for depthwise. */
static size_t conv_col_floats(const ConvDims *cd)
{
    if (conv_is_depthwise(cd)) {
        size_t hp = (size_t)cd->H + cd->pad_top + cd->pad_bottom;
        size_t wp = (size_t)cd->W + cd->pad_left + cd->pad_right;
        return 2 * hp * wp + (size_t)cd->OH * wp;
    }
    if (conv_is_direct(cd))
        return 0;
    return (size_t)(cd->C / cd->groups) * cd->KH * cd->KW * cd->OH * cd->OW;
}

/* Per-slot partial dW and dB. */
static size_t conv_partial_floats(const ConvDims *cd)
{
    return (size_t)cd->M * (cd->C / cd->groups) * cd->KH * cd->KW + cd->M;
}

size_t k_conv2d_workspace_floats(const ConvDims *cd, int nthreads)
{
    size_t t = nthreads < 1 ? 1 : (size_t)nthreads;
    return t * conv_col_floats(cd) + (t - 1) * conv_partial_floats(cd);
}

/* y[j] += a * x[j]. Written in blocks of 8 because GCC's -O2 cost model
 * vectorizes fixed-size blocks but not loops of unknown length. */
static void axpy(float *restrict y, const float *restrict x, float a, size_t n)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++)
            y[j + k] += a * x[j + k];
    for (; j < n; j++)
        y[j] += a * x[j];
}

/* sum of a[j] * b[j], in 8 interleaved partial sums (vectorizes, and the
 * order is fixed, so results stay reproducible). */
static float dot(const float *restrict a, const float *restrict b, size_t n)
{
    float acc[8] = {0}, sum = 0.0f;
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[j + k] * b[j + k];
    for (; j < n; j++)
        sum += a[j] * b[j];
    for (int k = 0; k < 8; k++)
        sum += acc[k];
    return sum;
}

/* sum of x[j], in 8 interleaved partial sums like dot. */
static float sum_floats(const float *x, size_t n)
{
    float acc[8] = {0}, sum = 0.0f;
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += x[j + k];
    for (; j < n; j++)
        sum += x[j];
    for (int k = 0; k < 8; k++)
        sum += acc[k];
    return sum;
}

/* Outputs o in [*lo, *hi) whose tap o*stride + off lies inside [0, n_in). */
static void tap_range(int n_out, int stride, int off, int n_in, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = n_in - off <= 0 ? 0 : (n_in - off - 1) / stride + 1;
    h = h < n_out ? h : n_out;
    *lo = l < h ? l : h;
    *hi = h;
}

/* Writes columns [a, b) of one im2col row segment for output row oh: the
 * taps inside the input [wlo, whi) are copied, the rest zeroed. */
static void im2col_segment(const float *xr, int sw, int a, int b, int wlo, int whi, float *r)
{
    int lo = wlo > a ? wlo : a, hi = whi < b ? whi : b;
    if (hi < lo)
        hi = lo = b;
    memset(r, 0, sizeof *r * (lo - a));
    if (sw == 1)
        memcpy(r + (lo - a), xr + lo, sizeof *r * (hi - lo));
    else
        for (int ow = lo; ow < hi; ow++)
            r[ow - a] = xr[ow * sw];
    memset(r + (hi - a), 0, sizeof *r * (b - hi));
}

/* x: [Cg,H,W] -> col: [Cg*KH*KW, p1-p0], the im2col matrix's output
 * columns [p0, p1) only (one thread's block), zeros where taps hit padding. */
static void im2col_cols(const ConvDims *cd, int Cg, const float *x, int p0, int p1, float *col)
{
    int OW = cd->OW, W = cd->W, sw = cd->stride_w, pn = p1 - p0;
    for (int c = 0; c < Cg; c++)
        for (int kh = 0; kh < cd->KH; kh++)
            for (int kw = 0; kw < cd->KW; kw++) {
                int hoff = kh * cd->dil_h - cd->pad_top, woff = kw * cd->dil_w - cd->pad_left;
                int hlo, hhi, wlo, whi;
                tap_range(cd->OH, cd->stride_h, hoff, cd->H, &hlo, &hhi);
                tap_range(OW, sw, woff, W, &wlo, &whi);
                float *row = col + ((size_t)(c * cd->KH + kh) * cd->KW + kw) * pn;
                for (int oh = p0 / OW; oh * OW < p1; oh++) {
                    int a = oh * OW < p0 ? p0 - oh * OW : 0;
                    int b = (oh + 1) * OW > p1 ? p1 - oh * OW : OW;
                    float *r = row + (oh * OW + a - p0);
                    if (oh < hlo || oh >= hhi) {
                        memset(r, 0, sizeof *r * (b - a));
                        continue;
                    }
                    const float *xr = x + ((size_t)c * cd->H + oh * cd->stride_h + hoff) * W + woff;
                    im2col_segment(xr, sw, a, b, wlo, whi, r);
                }
            }
}

/* x: [Cg,H,W] -> col: [Cg*KH*KW, OH*OW], zeros where taps hit padding. */
static void im2col(const ConvDims *cd, int Cg, const float *x, float *col)
{
    im2col_cols(cd, Cg, x, 0, cd->OH * cd->OW, col);
}

/* col: [Cg*KH*KW, OH*OW] -> x: [Cg,H,W] (+=); the adjoint of im2col. */
static void col2im_add(const ConvDims *cd, int Cg, const float *col, float *x)
{
    int OH = cd->OH, OW = cd->OW, W = cd->W, sw = cd->stride_w;
    for (int c = 0; c < Cg; c++)
        for (int kh = 0; kh < cd->KH; kh++)
            for (int kw = 0; kw < cd->KW; kw++) {
                int hoff = kh * cd->dil_h - cd->pad_top, woff = kw * cd->dil_w - cd->pad_left;
                int hlo, hhi, wlo, whi;
                tap_range(OH, cd->stride_h, hoff, cd->H, &hlo, &hhi);
                tap_range(OW, sw, woff, W, &wlo, &whi);
                const float *row = col + ((size_t)(c * cd->KH + kh) * cd->KW + kw) * OH * OW;
                for (int oh = hlo; oh < hhi; oh++) {
                    const float *r = row + (size_t)oh * OW;
                    float *xr = x + ((size_t)c * cd->H + oh * cd->stride_h + hoff) * W + woff;
                    if (sw == 1) /* the common case, kept apart so it vectorizes */
                        axpy(xr + wlo, r + wlo, 1.0f, (size_t)(whi - wlo));
                    else
                        for (int ow = wlo; ow < whi; ow++)
                            xr[ow * sw] += r[ow];
                }
            }
}

/* ------------------------------------------------------------ depthwise */

/* A depthwise plane is padded once into a [Hp, Wp] copy. Output (oh, ow)
 * then sits at j = oh*Wp + ow of a "virtual" output as wide as the padded
 * input, and tap (kh, kw) reads xp[s*j + kh*dil_h*Wp + kw*dil_w] for every
 * j alike: each tap is one long vectorizable loop instead of OH short ones.
 * Virtual positions with ow >= OW are junk, dropped on the way out. */
typedef struct PadGeom {
    int Hp, Wp;
    size_t jn; /* virtual outputs up to the last real one */
} PadGeom;

static PadGeom pad_geom(const ConvDims *cd)
{
    PadGeom g = {cd->H + cd->pad_top + cd->pad_bottom, cd->W + cd->pad_left + cd->pad_right, 0};
    g.jn = (size_t)(cd->OH - 1) * g.Wp + cd->OW;
    return g;
}

/* x: [H,W] -> xp: [Hp,Wp], the input at (pad_top, pad_left), zeros around. */
static void pad_plane(const ConvDims *cd, PadGeom g, const float *x, float *xp)
{
    memset(xp, 0, sizeof *xp * g.Hp * g.Wp);
    for (int ih = 0; ih < cd->H; ih++)
        memcpy(xp + (size_t)(ih + cd->pad_top) * g.Wp + cd->pad_left, x + (size_t)ih * cd->W,
               sizeof *x * cd->W);
}

/* xp: [Hp,Wp], w: [KH,KW], bias -> y: [OH,OW]; yv: jn scratch */
static void depthwise_forward_plane(const ConvDims *cd, PadGeom g, const float *xp,
                                    const float *w, float bias, float *yv, float *y)
{
    size_t s = (size_t)cd->stride_w;
    for (size_t j = 0; j < g.jn; j++)
        yv[j] = bias;
    for (int kh = 0; kh < cd->KH; kh++)
        for (int kw = 0; kw < cd->KW; kw++) {
            const float *xt = xp + (size_t)kh * cd->dil_h * g.Wp + (size_t)kw * cd->dil_w;
            float wv = w[kh * cd->KW + kw];
            if (s == 1)
                axpy(yv, xt, wv, g.jn);
            else
                for (size_t j = 0; j < g.jn; j++)
                    yv[j] += wv * xt[j * s];
        }
    for (int oh = 0; oh < cd->OH; oh++)
        memcpy(y + (size_t)oh * cd->OW, yv + (size_t)oh * g.Wp, sizeof *y * cd->OW);
}

/* dy: [OH,OW] -> dxp: [Hp,Wp] (+=, may be NULL), dw: [KH,KW] (+=, may be
 * NULL); xp: [Hp,Wp] the padded input; dyv: jn scratch */
static void depthwise_backward_plane(const ConvDims *cd, PadGeom g, const float *xp,
                                     const float *w, const float *dy, float *dyv, float *dxp,
                                     float *dw)
{
    size_t s = (size_t)cd->stride_w;
    memset(dyv, 0, sizeof *dyv * g.jn); /* junk positions must add nothing */
    for (int oh = 0; oh < cd->OH; oh++)
        memcpy(dyv + (size_t)oh * g.Wp, dy + (size_t)oh * cd->OW, sizeof *dy * cd->OW);
    for (int t = 0; t < cd->KH * cd->KW; t++) {
        size_t base = (size_t)(t / cd->KW) * cd->dil_h * g.Wp + (size_t)(t % cd->KW) * cd->dil_w;
        if (dw && s == 1) {
            dw[t] += dot(dyv, xp + base, g.jn);
        } else if (dw) {
            float acc = 0.0f;
            for (size_t j = 0; j < g.jn; j++)
                acc += dyv[j] * xp[j * s + base];
            dw[t] += acc;
        }
        if (dxp && s == 1)
            axpy(dxp + base, dyv, w[t], g.jn);
        else if (dxp)
            for (size_t j = 0; j < g.jn; j++)
                dxp[j * s + base] += w[t] * dyv[j];
    }
}

/* dxp: [Hp,Wp] -> dx: [H,W] (+=), dropping the padding. */
static void unpad_plane_add(const ConvDims *cd, PadGeom g, const float *dxp, float *dx)
{
    for (int ih = 0; ih < cd->H; ih++) {
        const float *src = dxp + (size_t)(ih + cd->pad_top) * g.Wp + cd->pad_left;
        axpy(dx + (size_t)ih * cd->W, src, 1.0f, (size_t)cd->W);
    }
}

typedef struct ConvJob {
    const ConvDims *cd;
    const float *x, *w, *bias, *dy;
    float *y, *dx, *dw, *dbias, *ws;
    int slots;
    int parts; /* forward: slots per unit when units are fewer than threads */
    size_t col_floats;
} ConvJob;

/* Shapes of one (batch item, group) unit. */
typedef struct ConvUnit {
    int Cg, Mg, ckk, P;
    size_t x_off, y_off, w_off, m0;
} ConvUnit;

static ConvUnit conv_unit(const ConvDims *cd, int unit)
{
    int n = unit / cd->groups, g = unit % cd->groups;
    ConvUnit u;
    u.Cg = cd->C / cd->groups;
    u.Mg = cd->M / cd->groups;
    u.ckk = u.Cg * cd->KH * cd->KW;
    u.P = cd->OH * cd->OW;
    u.m0 = (size_t)g * u.Mg;
    u.x_off = ((size_t)n * cd->C + (size_t)g * u.Cg) * cd->H * cd->W;
    u.y_off = ((size_t)n * cd->M + u.m0) * u.P;
    u.w_off = u.m0 * u.ckk;
    return u;
}

/* y[m, p] = bias[m] for m < rows, p < cols; ldy apart. */
static void fill_bias(float *y, size_t ldy, int rows, int cols, const float *bias)
{
    for (int m = 0; m < rows; m++)
        for (int p = 0; p < cols; p++)
            y[(size_t)m * ldy + p] = bias[m];
}

static void conv_forward_depthwise_unit(const ConvJob *j, const ConvUnit *u, float *col)
{
    const ConvDims *cd = j->cd;
    PadGeom g = pad_geom(cd);
    float *yv = col + (size_t)g.Hp * g.Wp, *y = j->y + u->y_off;
    pad_plane(cd, g, j->x + u->x_off, col);
    for (int m = 0; m < u->Mg; m++)
        depthwise_forward_plane(cd, g, col, j->w + u->w_off + (size_t)m * u->ckk,
                                j->bias ? j->bias[u->m0 + m] : 0.0f, yv, y + (size_t)m * u->P);
}

/* Output columns [p0, p1) of one unit: im2col of that block only, then the
 * GEMM over the block. parts == 1 gives the whole unit. */
static void conv_forward_cols(const ConvJob *j, const ConvUnit *u, int p0, int p1, float *col)
{
    const float *x = j->x + u->x_off, *cols = x + p0;
    float *y = j->y + u->y_off + p0, beta = 0.0f;
    int pn = p1 - p0, ldb = u->P;
    if (j->col_floats) {
        im2col_cols(j->cd, u->Cg, x, p0, p1, col);
        cols = col;
        ldb = pn;
    }
    if (j->bias) {
        fill_bias(y, (size_t)u->P, u->Mg, pn, j->bias + u->m0);
        beta = 1.0f;
    }
    blas_sgemm(false, false, u->Mg, pn, u->ckk, 1.0f, j->w + u->w_off, u->ckk, cols, ldb, beta,
               y, u->P);
}

/* Output channels [m_lo, m_hi) of one unit, over the whole im2col matrix
 * (each such slot lowers the image itself: cheap next to the GEMM when the
 * channels outnumber the positions, the only case rows are split on). */
static void conv_forward_rows(const ConvJob *j, const ConvUnit *u, int m_lo, int m_hi, float *col)
{
    const float *cols = j->x + u->x_off;
    float *y = j->y + u->y_off + (size_t)m_lo * u->P, beta = 0.0f;
    if (j->col_floats) {
        im2col(j->cd, u->Cg, cols, col);
        cols = col;
    }
    if (j->bias) {
        fill_bias(y, (size_t)u->P, m_hi - m_lo, u->P, j->bias + u->m0 + m_lo);
        beta = 1.0f;
    }
    blas_sgemm(false, false, m_hi - m_lo, u->P, u->ckk, 1.0f,
               j->w + u->w_off + (size_t)m_lo * u->ckk, u->ckk, cols, u->P, beta, y, u->P);
}

/* Part `part` of j->parts of one unit: a block of output positions, or of
 * output channels when there are more channels than positions, so each
 * slot's GEMM keeps its longer side. */
static void conv_forward_part(const ConvJob *j, int unit, int part, float *col)
{
    ConvUnit u = conv_unit(j->cd, unit);
    int n = j->parts, lo, hi;
    if (conv_is_depthwise(j->cd)) {
        conv_forward_depthwise_unit(j, &u, col);
    } else if (n == 1 || u.P >= u.Mg) {
        lo = (int)((long)u.P * part / n);
        hi = (int)((long)u.P * (part + 1) / n);
        if (hi > lo) /* BLAS rejects empty blocks (their ldb would be 0) */
            conv_forward_cols(j, &u, lo, hi, col);
    } else {
        lo = u.Mg * part / n;
        hi = u.Mg * (part + 1) / n;
        if (hi > lo)
            conv_forward_rows(j, &u, lo, hi, col);
    }
}

static void conv_forward_slot(void *ctx, int slot, int thread)
{
    const ConvJob *j = ctx;
    int units = j->cd->N * j->cd->groups;
    float *col = j->ws + (size_t)slot * j->col_floats;
    (void)thread;
    if (j->parts > 1) {
        conv_forward_part(j, slot / j->parts, slot % j->parts, col);
        return;
    }
    for (int u = units * slot / j->slots; u < units * (slot + 1) / j->slots; u++)
        conv_forward_part(j, u, 0, col);
}

/* How many slots the workspace and the pool allow for this many units. */
static int conv_slots(const ConvDims *cd, int units, size_t ws_floats)
{
    int s = threads_count();
    s = s < units ? s : units;
    while (s > 1 && k_conv2d_workspace_floats(cd, s) > ws_floats)
        s--;
    assert(k_conv2d_workspace_floats(cd, 1) <= ws_floats);
    return s < 1 ? 1 : s;
}

/* Slots per unit in forward: with fewer units than threads (batch 1) each
 * unit is cut into parts so every thread has work. Depthwise units are
 * already many (one per channel) and stay whole. */
static int conv_forward_parts(const ConvDims *cd, int units, size_t ws_floats)
{
    long macs = (long)(cd->M / cd->groups) * (cd->C / cd->groups) * cd->KH * cd->KW *
                cd->OH * cd->OW;
    int t = threads_count(), parts = units < t && !conv_is_depthwise(cd) ? t / units : 1;
    if (macs < K_CONV_SPLIT_MIN_MACS)
        parts = 1;
    while (parts > 1 && k_conv2d_workspace_floats(cd, units * parts) > ws_floats)
        parts--;
    return parts;
}

void k_conv2d_forward(const ConvDims *cd, const float *x, const float *w, const float *bias,
                      float *y, float *ws, size_t ws_floats)
{
    int units = cd->N * cd->groups;
    ConvJob j = {.cd = cd, .x = x, .w = w, .bias = bias, .y = y, .ws = ws,
                 .col_floats = conv_col_floats(cd)};
    if (units == 0)
        return;
    j.parts = conv_forward_parts(cd, units, ws_floats);
    j.slots = j.parts > 1 ? units * j.parts : conv_slots(cd, units, ws_floats);
    threads_parallel_for(j.slots, conv_forward_slot, &j);
}

/* Depthwise dW and dX of one unit; col holds xp, dxp and dyv. */
static void conv_backward_depthwise_unit(const ConvJob *j, const ConvUnit *u, float *col,
                                         float *dw)
{
    const ConvDims *cd = j->cd;
    PadGeom g = pad_geom(cd);
    float *xp = col, *dxp = j->dx ? col + (size_t)g.Hp * g.Wp : NULL;
    float *dyv = col + 2 * (size_t)g.Hp * g.Wp;
    if (dw)
        pad_plane(cd, g, j->x + u->x_off, xp);
    if (dxp)
        memset(dxp, 0, sizeof *dxp * g.Hp * g.Wp);
    for (int m = 0; m < u->Mg; m++)
        depthwise_backward_plane(cd, g, xp, j->w + u->w_off + (size_t)m * u->ckk,
                                 j->dy + u->y_off + (size_t)m * u->P, dyv, dxp,
                                 dw ? dw + u->w_off + (size_t)m * u->ckk : NULL);
    if (dxp)
        unpad_plane_add(cd, g, dxp, j->dx + u->x_off);
}

/* Adds one unit's dB, dW and dX; dw/dbias are this slot's buffers. */
static void conv_backward_unit(const ConvJob *j, int unit, float *col, float *dw, float *dbias)
{
    const ConvDims *cd = j->cd;
    ConvUnit u = conv_unit(cd, unit);
    const float *x = j->x + u.x_off, *dy = j->dy + u.y_off, *w = j->w + u.w_off;
    for (int m = 0; dbias && m < u.Mg; m++)
        dbias[u.m0 + m] += sum_floats(dy + (size_t)m * u.P, (size_t)u.P);
    if (conv_is_depthwise(cd)) {
        conv_backward_depthwise_unit(j, &u, col, dw);
        return;
    }
    if (dw) {
        const float *cols = x;
        if (j->col_floats) {
            im2col(cd, u.Cg, x, col);
            cols = col;
        }
        blas_sgemm(false, true, u.Mg, u.ckk, u.P, 1.0f, dy, u.P, cols, u.P, 1.0f, dw + u.w_off,
                   u.ckk);
    }
    if (j->dx && !j->col_floats) {
        blas_sgemm(true, false, u.Cg, u.P, u.Mg, 1.0f, w, u.ckk, dy, u.P, 1.0f, j->dx + u.x_off,
                   u.P);
    } else if (j->dx) {
        blas_sgemm(true, false, u.ckk, u.P, u.Mg, 1.0f, w, u.ckk, dy, u.P, 0.0f, col, u.P);
        col2im_add(cd, u.Cg, col, j->dx + u.x_off);
    }
}

static float *conv_slot_partial(const ConvJob *j, int slot)
{
    return j->ws + (size_t)j->slots * j->col_floats +
           (size_t)(slot - 1) * conv_partial_floats(j->cd);
}

static void conv_backward_slot(void *ctx, int slot, int thread)
{
    const ConvJob *j = ctx;
    int units = j->cd->N * j->cd->groups;
    size_t w_floats = conv_partial_floats(j->cd) - j->cd->M;
    float *dw = j->dw, *dbias = j->dbias;
    (void)thread;
    if (slot > 0) {
        float *part = conv_slot_partial(j, slot);
        memset(part, 0, sizeof *part * conv_partial_floats(j->cd));
        dw = j->dw ? part : NULL;
        dbias = j->dbias ? part + w_floats : NULL;
    }
    for (int u = units * slot / j->slots; u < units * (slot + 1) / j->slots; u++)
        conv_backward_unit(j, u, j->ws + (size_t)slot * j->col_floats, dw, dbias);
}

void k_conv2d_backward(const ConvDims *cd, const float *x, const float *w, const float *dy,
                       float *dx, float *dw, float *dbias, float *ws, size_t ws_floats)
{
    int units = cd->N * cd->groups;
    size_t w_floats = conv_partial_floats(cd) - cd->M;
    ConvJob j = {.cd = cd, .x = x, .w = w, .dy = dy, .dx = dx, .dw = dw, .dbias = dbias,
                 .ws = ws, .col_floats = conv_col_floats(cd)};
    if (units == 0 || (!dx && !dw && !dbias))
        return;
    j.slots = conv_slots(cd, units, ws_floats);
    threads_parallel_for(j.slots, conv_backward_slot, &j);
    for (int s = 1; s < j.slots; s++) {
        const float *part = conv_slot_partial(&j, s);
        for (size_t i = 0; dw && i < w_floats; i++)
            dw[i] += part[i];
        for (int m = 0; dbias && m < cd->M; m++)
            dbias[m] += part[w_floats + m];
    }
}
