/* k_conv_nd.c - convolution over three spatial dims (3-D, NCDHW), forward
 * and backward, and the N-d building blocks ConvTranspose shares with it:
 * im2col/col2im over (D, H, W) and the split of (batch item, group) units
 * over threads.
 *
 * Owns the vol2col lowering: each unit's input is unrolled into a
 * [Cg*KD*KH*KW, OD*OH*OW] matrix and multiplied with the group's weights,
 * as k_conv.c does in 2-D. Each slot (thread) has its own column buffer
 * and, in backward, its own partial dW/dB (slot 0 adds straight into the
 * caller's), summed in slot order so results depend only on the slot count.
 * A 1x1x1, stride-1, unpadded convolution skips the unrolling.
 */
#include "runtime/kernels_nn.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/threads.h"

/* ---------------------------------------------------------- unit slots */

int k_units_slots(int units, size_t per_slot, size_t per_extra, size_t ws_floats)
{
    int s = threads_count();
    s = s < units ? s : units;
    while (s > 1 && (size_t)s * per_slot + (size_t)(s - 1) * per_extra > ws_floats)
        s--;
    assert(per_slot <= ws_floats || per_slot == 0);
    return s < 1 ? 1 : s;
}

typedef struct UnitsJob {
    int units, slots;
    void (*fn)(void *ctx, int unit, int slot);
    void *ctx;
} UnitsJob;

static void units_slot(void *ctx, int slot, int thread)
{
    const UnitsJob *j = ctx;
    (void)thread;
    for (int u = (int)((int64_t)j->units * slot / j->slots); u < (int64_t)j->units * (slot + 1) / j->slots; u++)
        j->fn(j->ctx, u, slot);
}

void k_units_run(int units, int slots, void (*fn)(void *ctx, int unit, int slot), void *ctx)
{
    UnitsJob j = {units, slots, fn, ctx};
    if (units > 0)
        threads_parallel_for(slots, units_slot, &j);
}

/* ------------------------------------------------------- im2col, N-d */

/* Window positions o in [*lo, *hi) whose tap o*stride + off lies in [0, n). */
static void tap_range(int n_pos, int stride, int off, int n, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = n - off <= 0 ? 0 : (n - off - 1) / stride + 1;
    h = h < n_pos ? h : n_pos;
    *lo = l < h ? l : h;
    *hi = h;
}

static int64_t geom_positions(const KColGeom *g)
{
    return (int64_t)g->col[0] * g->col[1] * g->col[2];
}

static int64_t geom_plane(const KColGeom *g)
{
    return (int64_t)g->img[0] * g->img[1] * g->img[2];
}

/* Image row offsets (d, h) of one tap, or -1 where the row lies in padding. */
static int64_t tap_row(const KColGeom *g, int od, int oh, int kd, int kh)
{
    int id = od * g->stride[0] + kd * g->dil[0] - g->pad[0];
    int ih = oh * g->stride[1] + kh * g->dil[1] - g->pad[1];
    if (id < 0 || id >= g->img[0] || ih < 0 || ih >= g->img[1])
        return -1;
    return ((int64_t)id * g->img[1] + ih) * g->img[2];
}

/* One tap (c, kd, kh, kw): its row of the column matrix from the image. */
static void im2col_tap(const KColGeom *g, const float *img, int kd, int kh, int kw, float *row)
{
    int W = g->col[2], sw = g->stride[2], woff = kw * g->dil[2] - g->pad[2], lo, hi;
    tap_range(W, sw, woff, g->img[2], &lo, &hi);
    for (int od = 0; od < g->col[0]; od++)
        for (int oh = 0; oh < g->col[1]; oh++) {
            float *r = row + ((int64_t)od * g->col[1] + oh) * W;
            int64_t base = tap_row(g, od, oh, kd, kh);
            if (base < 0) {
                memset(r, 0, sizeof *r * (size_t)W);
                continue;
            }
            const float *src = img + base + woff;
            memset(r, 0, sizeof *r * (size_t)lo);
            if (sw == 1)
                memcpy(r + lo, src + lo, sizeof *r * (size_t)(hi - lo));
            else
                for (int ow = lo; ow < hi; ow++)
                    r[ow] = src[(int64_t)ow * sw];
            memset(r + hi, 0, sizeof *r * (size_t)(W - hi));
        }
}

void k_im2col_nd(const KColGeom *g, const float *img, float *col)
{
    int64_t P = geom_positions(g), plane = geom_plane(g);
    for (int c = 0; c < g->channels; c++)
        for (int kd = 0; kd < g->k[0]; kd++)
            for (int kh = 0; kh < g->k[1]; kh++)
                for (int kw = 0; kw < g->k[2]; kw++) {
                    int64_t t = ((int64_t)(c * g->k[0] + kd) * g->k[1] + kh) * g->k[2] + kw;
                    im2col_tap(g, img + c * plane, kd, kh, kw, col + t * P);
                }
}

static void col2im_tap(const KColGeom *g, const float *row, int kd, int kh, int kw, float *img)
{
    int W = g->col[2], sw = g->stride[2], woff = kw * g->dil[2] - g->pad[2], lo, hi;
    tap_range(W, sw, woff, g->img[2], &lo, &hi);
    for (int od = 0; od < g->col[0]; od++)
        for (int oh = 0; oh < g->col[1]; oh++) {
            int64_t base = tap_row(g, od, oh, kd, kh);
            if (base < 0)
                continue;
            const float *r = row + ((int64_t)od * g->col[1] + oh) * W;
            float *dst = img + base + woff;
            if (sw == 1)
                for (int ow = lo; ow < hi; ow++)
                    dst[ow] += r[ow];
            else
                for (int ow = lo; ow < hi; ow++)
                    dst[(int64_t)ow * sw] += r[ow];
        }
}

void k_col2im_nd_add(const KColGeom *g, const float *col, float *img)
{
    int64_t P = geom_positions(g), plane = geom_plane(g);
    for (int c = 0; c < g->channels; c++)
        for (int kd = 0; kd < g->k[0]; kd++)
            for (int kh = 0; kh < g->k[1]; kh++)
                for (int kw = 0; kw < g->k[2]; kw++) {
                    int64_t t = ((int64_t)(c * g->k[0] + kd) * g->k[1] + kh) * g->k[2] + kw;
                    col2im_tap(g, col + t * P, kd, kh, kw, img + c * plane);
                }
}

/* ------------------------------------------------------------ Conv 3-D */

static Status conv3d_check_values(const ConvNdDims *cd, Diag *d)
{
    if (cd->N < 0 || cd->C <= 0 || cd->M <= 0)
        return diag_error(d, "Conv: %d input and %d output channels (batch %d) is not a valid shape", cd->C, cd->M,
                          cd->N);
    for (int i = 0; i < KN_SPATIAL; i++) {
        if (cd->in[i] <= 0 || cd->k[i] <= 0 || cd->stride[i] <= 0 || cd->dil[i] <= 0)
            return diag_error(d, "Conv: spatial dim %d: input %d, kernel %d, stride %d, dilation %d must be positive",
                              i, cd->in[i], cd->k[i], cd->stride[i], cd->dil[i]);
        if (cd->pad_begin[i] < 0 || cd->pad_end[i] < 0)
            return diag_error(d, "Conv: negative pads %d,%d in spatial dim %d", cd->pad_begin[i], cd->pad_end[i], i);
    }
    if (cd->groups <= 0 || cd->C % cd->groups || cd->M % cd->groups)
        return diag_error(d, "Conv: group=%d does not divide %d input and %d output channels", cd->groups, cd->C,
                          cd->M);
    return KDC_OK;
}

Status k_conv3d_prepare(ConvNdDims *cd, Diag *d)
{
    if (conv3d_check_values(cd, d))
        return KDC_ERR;
    int64_t taps = cd->C / cd->groups, positions = 1, plane = 1;
    for (int i = 0; i < KN_SPATIAL; i++) {
        int64_t span = (int64_t)cd->in[i] + cd->pad_begin[i] + cd->pad_end[i] - (int64_t)cd->dil[i] * (cd->k[i] - 1);
        if (span < 1)
            return diag_error(d, "Conv: dilated kernel %d is larger than the padded input %lld in spatial dim %d",
                              cd->k[i], (long long)(cd->in[i] + cd->pad_begin[i] + cd->pad_end[i]), i);
        cd->out[i] = (int)((span - 1) / cd->stride[i] + 1);
        taps *= cd->k[i];
        positions *= cd->out[i];
        plane *= cd->in[i];
    }
    if (taps * positions > INT_MAX || plane > INT_MAX)
        return diag_error(d, "Conv: one image's column matrix (%lld x %lld) is too large", (long long)taps,
                          (long long)positions);
    return KDC_OK;
}

static bool conv3d_is_direct(const ConvNdDims *cd)
{
    for (int i = 0; i < KN_SPATIAL; i++)
        if (cd->k[i] != 1 || cd->stride[i] != 1 || cd->pad_begin[i] || cd->pad_end[i])
            return false;
    return true;
}

static KColGeom conv3d_geom(const ConvNdDims *cd)
{
    KColGeom g = {.channels = cd->C / cd->groups};
    for (int i = 0; i < KN_SPATIAL; i++) {
        g.img[i] = cd->in[i];
        g.col[i] = cd->out[i];
        g.k[i] = cd->k[i];
        g.stride[i] = cd->stride[i];
        g.dil[i] = cd->dil[i];
        g.pad[i] = cd->pad_begin[i];
    }
    return g;
}

/* Shapes of one (batch item, group) unit. */
typedef struct Conv3dUnit {
    int Cg, Mg, ckk, P;
    size_t x_off, y_off, w_off, m0;
} Conv3dUnit;

static Conv3dUnit conv3d_unit(const ConvNdDims *cd, int unit)
{
    int n = unit / cd->groups, g = unit % cd->groups;
    Conv3dUnit u = {.Cg = cd->C / cd->groups, .Mg = cd->M / cd->groups};
    int64_t plane = (int64_t)cd->in[0] * cd->in[1] * cd->in[2];
    u.ckk = u.Cg * cd->k[0] * cd->k[1] * cd->k[2];
    u.P = cd->out[0] * cd->out[1] * cd->out[2];
    u.m0 = (size_t)g * u.Mg;
    u.x_off = ((size_t)n * cd->C + (size_t)g * u.Cg) * (size_t)plane;
    u.y_off = ((size_t)n * cd->M + u.m0) * (size_t)u.P;
    u.w_off = u.m0 * (size_t)u.ckk;
    return u;
}

static size_t conv3d_col_floats(const ConvNdDims *cd)
{
    if (conv3d_is_direct(cd))
        return 0;
    Conv3dUnit u = conv3d_unit(cd, 0);
    return (size_t)u.ckk * (size_t)u.P;
}

static size_t conv3d_partial_floats(const ConvNdDims *cd)
{
    return (size_t)cd->M * (size_t)conv3d_unit(cd, 0).ckk + (size_t)cd->M;
}

size_t k_conv3d_workspace_floats(const ConvNdDims *cd, int nthreads)
{
    size_t t = nthreads < 1 ? 1 : (size_t)nthreads;
    return t * conv3d_col_floats(cd) + (t - 1) * conv3d_partial_floats(cd);
}

typedef struct Conv3dJob {
    const ConvNdDims *cd;
    const float *x, *w, *bias, *dy;
    float *y, *dx, *dw, *dbias, *ws;
    int slots;
    size_t col_floats;
} Conv3dJob;

static void conv3d_forward_unit(void *ctx, int unit, int slot)
{
    const Conv3dJob *j = ctx;
    Conv3dUnit u = conv3d_unit(j->cd, unit);
    const float *cols = j->x + u.x_off;
    float *y = j->y + u.y_off, beta = 0.0f;
    if (j->col_floats) {
        KColGeom g = conv3d_geom(j->cd);
        float *col = j->ws + (size_t)slot * j->col_floats;
        k_im2col_nd(&g, cols, col);
        cols = col;
    }
    if (j->bias) {
        for (int m = 0; m < u.Mg; m++)
            for (int p = 0; p < u.P; p++)
                y[(size_t)m * u.P + p] = j->bias[u.m0 + m];
        beta = 1.0f;
    }
    blas_sgemm(false, false, u.Mg, u.P, u.ckk, 1.0f, j->w + u.w_off, u.ckk, cols, u.P, beta, y, u.P);
}

void k_conv3d_forward(const ConvNdDims *cd, const float *x, const float *w, const float *bias, float *y, float *ws,
                      size_t ws_floats)
{
    int units = cd->N * cd->groups;
    Conv3dJob j = {.cd = cd, .x = x, .w = w, .bias = bias, .y = y, .ws = ws, .col_floats = conv3d_col_floats(cd)};
    j.slots = k_units_slots(units, j.col_floats, conv3d_partial_floats(cd), ws_floats);
    k_units_run(units, j.slots, conv3d_forward_unit, &j);
}

static float *conv3d_slot_partial(const Conv3dJob *j, int slot)
{
    return j->ws + (size_t)j->slots * j->col_floats + (size_t)(slot - 1) * conv3d_partial_floats(j->cd);
}

/* One unit's dB, dW and dX; slots past the first add dW/dB into their own partial buffers. */
static void conv3d_backward_unit(void *ctx, int unit, int slot)
{
    const Conv3dJob *j = ctx;
    const ConvNdDims *cd = j->cd;
    Conv3dUnit u = conv3d_unit(cd, unit);
    float *dw = j->dw, *dbias = j->dbias, *col = j->ws + (size_t)slot * j->col_floats;
    if (slot > 0) {
        float *part = conv3d_slot_partial(j, slot);
        dw = dw ? part : NULL;
        dbias = dbias ? part + conv3d_partial_floats(cd) - cd->M : NULL;
    }
    const float *dy = j->dy + u.y_off, *w = j->w + u.w_off, *cols = j->x + u.x_off;
    for (int m = 0; dbias && m < u.Mg; m++)
        for (int p = 0; p < u.P; p++)
            dbias[u.m0 + m] += dy[(size_t)m * u.P + p];
    KColGeom g = conv3d_geom(cd);
    if (dw) {
        if (j->col_floats) {
            k_im2col_nd(&g, cols, col);
            cols = col;
        }
        blas_sgemm(false, true, u.Mg, u.ckk, u.P, 1.0f, dy, u.P, cols, u.P, 1.0f, dw + u.w_off, u.ckk);
    }
    if (j->dx && !j->col_floats) {
        blas_sgemm(true, false, u.Cg, u.P, u.Mg, 1.0f, w, u.ckk, dy, u.P, 1.0f, j->dx + u.x_off, u.P);
    } else if (j->dx) {
        blas_sgemm(true, false, u.ckk, u.P, u.Mg, 1.0f, w, u.ckk, dy, u.P, 0.0f, col, u.P);
        k_col2im_nd_add(&g, col, j->dx + u.x_off);
    }
}

void k_conv3d_backward(const ConvNdDims *cd, const float *x, const float *w, const float *dy, float *dx, float *dw,
                       float *dbias, float *ws, size_t ws_floats)
{
    int units = cd->N * cd->groups;
    size_t part = conv3d_partial_floats(cd);
    Conv3dJob j = {.cd = cd,
                   .x = x,
                   .w = w,
                   .dy = dy,
                   .dx = dx,
                   .dw = dw,
                   .dbias = dbias,
                   .ws = ws,
                   .col_floats = conv3d_col_floats(cd)};
    if (units == 0 || (!dx && !dw && !dbias))
        return;
    j.slots = k_units_slots(units, j.col_floats, part, ws_floats);
    for (int s = 1; s < j.slots; s++)
        memset(conv3d_slot_partial(&j, s), 0, sizeof(float) * part);
    k_units_run(units, j.slots, conv3d_backward_unit, &j);
    for (int s = 1; s < j.slots; s++) {
        const float *p = conv3d_slot_partial(&j, s);
        for (size_t i = 0; dw && i < part - (size_t)cd->M; i++)
            dw[i] += p[i];
        for (int m = 0; dbias && m < cd->M; m++)
            dbias[m] += p[part - (size_t)cd->M + (size_t)m];
    }
}
