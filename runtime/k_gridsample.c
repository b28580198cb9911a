/* k_gridsample.c - GridSample kernels (4-D input): bilinear, nearest and
 * bicubic sampling with zeros, border and reflection padding, forward, and
 * the backward of every mode for both the image and the grid.
 *
 * Each output point is planned once per axis (AxisTaps: which pixels along
 * that axis it reads, with which weights and weight derivatives), then every
 * channel reuses the plan. Coordinates are computed in double as the ONNX
 * reference does.
 */
#include "runtime/kernels_sample.h"

#include <math.h>

#define CUBIC_A (-0.75)

/* The pixels one output point reads along one axis. idx -1: a zero tap. */
typedef struct AxisTaps {
    int k;
    int64_t idx[4];
    double w[4], dw[4]; /* weights and their derivatives by the pixel coordinate */
    double dcoord;      /* d(pixel coordinate) / d(grid value) */
} AxisTaps;

/* Folds v back into [lo, hi] like a mirror; *sign is dv_out/dv_in. */
static double reflect(double v, double lo, double hi, double *sign)
{
    double range = hi - lo;
    *sign = 1.0;
    if (range <= 0.0) {
        *sign = 0.0;
        return lo;
    }
    if (v >= lo && v <= hi)
        return v;
    bool below = v < lo;
    double dx = below ? lo - v : v - hi;
    double flips = floor(dx / range), r = dx - flips * range;
    bool even = fmod(flips, 2.0) == 0.0;
    *sign = even ? -1.0 : 1.0;
    if (below)
        return even ? lo + r : hi - r;
    return even ? hi - r : lo + r;
}

/* The pixel a tap at integer position i reads, -1 for a zero. */
static int64_t tap_index(const KGridSample *gs, int64_t i, int64_t len, double lo, double hi)
{
    if (i >= 0 && i < len)
        return i;
    if (gs->pad == KG_ZEROS)
        return -1;
    if (gs->pad == KG_REFLECTION) {
        double sign;
        i = (int64_t)reflect((double)i, lo, hi, &sign);
    }
    return i < 0 ? 0 : i >= len ? len - 1 : i;
}

static void cubic_coeffs(double t, double *c)
{
    const double a = CUBIC_A, u = t + 1.0, v = 1.0 - t, z = 2.0 - t;
    c[0] = ((a * u - 5.0 * a) * u + 8.0 * a) * u - 4.0 * a;
    c[1] = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    c[2] = ((a + 2.0) * v - (a + 3.0)) * v * v + 1.0;
    c[3] = ((a * z - 5.0 * a) * z + 8.0 * a) * z - 4.0 * a;
}

/* d c[j] / dt of cubic_coeffs. */
static void cubic_slopes(double t, double *s)
{
    const double a = CUBIC_A, u = t + 1.0, v = 1.0 - t, z = 2.0 - t;
    s[0] = (3.0 * a * u - 10.0 * a) * u + 8.0 * a;
    s[1] = (3.0 * (a + 2.0) * t - 2.0 * (a + 3.0)) * t;
    s[2] = -(3.0 * (a + 2.0) * v - 2.0 * (a + 3.0)) * v;
    s[3] = -((3.0 * a * z - 10.0 * a) * z + 8.0 * a);
}

/* Grid value g -> pixel coordinate, padded as the mode asks. */
static double axis_coord(const KGridSample *gs, double g, int64_t len, double lo, double hi, double *dcoord)
{
    double v = gs->align_corners ? (g + 1.0) / 2.0 * (double)(len - 1) : ((g + 1.0) * (double)len - 1.0) / 2.0;
    *dcoord = gs->align_corners ? (double)(len - 1) / 2.0 : (double)len / 2.0;
    if (gs->mode == KG_NEAREST)
        v = nearbyint(v); /* the default rounding mode: half to even */
    if (v >= lo && v <= hi)
        return v;
    if (gs->pad == KG_BORDER) {
        *dcoord = 0.0;
        return v < 0.0 ? 0.0 : v > (double)(len - 1) ? (double)(len - 1) : v;
    }
    if (gs->pad == KG_REFLECTION) {
        double sign;
        v = reflect(v, lo, hi, &sign);
        *dcoord *= sign;
    }
    return v;
}

static void axis_taps(const KGridSample *gs, double g, int64_t len, AxisTaps *a)
{
    double lo = gs->align_corners ? 0.0 : -0.5, hi = gs->align_corners ? (double)(len - 1) : (double)len - 0.5;
    double v = axis_coord(gs, g, len, lo, hi, &a->dcoord);
    if (!(fabs(v) < 1e15)) { /* NaN or far away: nothing to read */
        a->k = 1, a->idx[0] = -1, a->w[0] = 0.0, a->dw[0] = 0.0, a->dcoord = 0.0;
        return;
    }
    double f = floor(v), t = v - f;
    int64_t i0 = (int64_t)f;
    if (gs->mode == KG_NEAREST) {
        a->k = 1, a->idx[0] = tap_index(gs, i0, len, lo, hi), a->w[0] = 1.0, a->dw[0] = 0.0;
    } else if (gs->mode == KG_BILINEAR) {
        a->k = 2;
        a->idx[0] = tap_index(gs, i0, len, lo, hi), a->w[0] = 1.0 - t, a->dw[0] = -1.0;
        a->idx[1] = tap_index(gs, i0 + 1, len, lo, hi), a->w[1] = t, a->dw[1] = 1.0;
    } else {
        a->k = 4;
        cubic_coeffs(t, a->w);
        cubic_slopes(t, a->dw);
        for (int j = 0; j < 4; j++)
            a->idx[j] = tap_index(gs, i0 - 1 + j, len, lo, hi);
    }
}

/* Sum over the taps of wy * wx * image, one channel plane. */
static double sample_plane(const AxisTaps *ax, const AxisTaps *ay, const float *plane, int64_t w)
{
    double acc = 0.0;
    for (int r = 0; r < ay->k; r++) {
        if (ay->idx[r] < 0)
            continue;
        const float *row = plane + ay->idx[r] * w;
        for (int q = 0; q < ax->k; q++)
            if (ax->idx[q] >= 0)
                acc += ay->w[r] * ax->w[q] * row[ax->idx[q]];
    }
    return acc;
}

void k_gridsample_forward(const KGridSample *gs, const float *x, const float *grid, float *y)
{
    int64_t plane = gs->h * gs->w, points = gs->ho * gs->wo;
    for (int64_t b = 0; b < gs->n; b++)
        for (int64_t p = 0; p < points; p++) {
            const float *g = grid + (b * points + p) * 2;
            AxisTaps ax, ay;
            axis_taps(gs, g[0], gs->w, &ax);
            axis_taps(gs, g[1], gs->h, &ay);
            for (int64_t c = 0; c < gs->c; c++) {
                const float *xp = x + (b * gs->c + c) * plane;
                y[(b * gs->c + c) * points + p] = (float)sample_plane(&ax, &ay, xp, gs->w);
            }
        }
}

/* One channel plane of one output point: scatters dy into dx and returns
 * (dL/dcoord_x, dL/dcoord_y) through gx, gy. */
static void backward_plane(const AxisTaps *ax, const AxisTaps *ay, const float *plane, float *dplane, int64_t w,
                           double dy, double *gx, double *gy)
{
    for (int r = 0; r < ay->k; r++) {
        if (ay->idx[r] < 0)
            continue;
        int64_t row = ay->idx[r] * w;
        for (int q = 0; q < ax->k; q++) {
            if (ax->idx[q] < 0)
                continue;
            double v = plane[row + ax->idx[q]];
            if (dplane)
                dplane[row + ax->idx[q]] += (float)(dy * ay->w[r] * ax->w[q]);
            *gx += dy * ay->w[r] * ax->dw[q] * v;
            *gy += dy * ay->dw[r] * ax->w[q] * v;
        }
    }
}

void k_gridsample_backward(const KGridSample *gs, const float *x, const float *grid, const float *dy, float *dx,
                           float *dgrid)
{
    int64_t plane = gs->h * gs->w, points = gs->ho * gs->wo;
    for (int64_t b = 0; b < gs->n; b++)
        for (int64_t p = 0; p < points; p++) {
            const float *g = grid + (b * points + p) * 2;
            AxisTaps ax, ay;
            axis_taps(gs, g[0], gs->w, &ax);
            axis_taps(gs, g[1], gs->h, &ay);
            double gx = 0.0, gy = 0.0;
            for (int64_t c = 0; c < gs->c; c++) {
                int64_t base = (b * gs->c + c) * plane;
                backward_plane(&ax, &ay, x + base, dx ? dx + base : NULL, gs->w, dy[(b * gs->c + c) * points + p],
                               &gx, &gy);
            }
            if (dgrid) {
                dgrid[(b * points + p) * 2] += (float)(gx * ax.dcoord);
                dgrid[(b * points + p) * 2 + 1] += (float)(gy * ay.dcoord);
            }
        }
}
