/* k_resize.c - Resize (and Upsample): nearest, N-linear and N-cubic
 * interpolation, forward and backward.
 *
 * Owns the per-axis tap tables and the separable passes. ONNX defines the
 * N-d result as nested 1-D interpolations whose weights multiply, so the
 * output is computed one axis at a time: each non-identity axis is a pass
 * y[o, j, i] = sum_t w[j,t] * x[o, idx[j,t], i] over the tensor viewed as
 * [outer, L, inner]. Backward runs the adjoint passes in reverse order
 * (scatter-adding the same weights), for every mode. Coordinates and
 * weights are computed in double from the spec's formulas; a tap's weight
 * comes from its distance to x_original, and indices past the edges clamp
 * (the reference pads with edge values). Outputs that tf_crop_and_resize
 * maps outside the input get the extrapolation value and no gradient.
 */
#include "runtime/kernels_nn.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ tap tables */

static bool is_downsampling(double scale)
{
    return scale < 1.0;
}

int k_resize_axis_taps(const KResizeParams *rp, double scale)
{
    if (rp->mode == KR_NEAREST)
        return 1;
    double reach = rp->mode == KR_LINEAR ? 1.0 : 2.0; /* kernel support, in input pixels at scale 1 */
    if (!rp->antialias || !is_downsampling(scale))
        return (int)(2 * reach);
    int start = (int)floor(-reach / scale) + 1;
    return 2 - 2 * start;
}

/* length_resized: the spec's scale * length_original, not the integer size */
static double resized_length(const KResizeAxis *ax)
{
    return ax->scale * (double)ax->in;
}

/* x_original of output coordinate x; *outside for tf_crop_and_resize. */
static double original_coord(const KResizeParams *rp, const KResizeAxis *ax, int64_t x, bool *outside)
{
    double s = ax->scale, in = (double)ax->in, len = resized_length(ax), xr = (double)x;
    *outside = false;
    switch (rp->coord) {
    case KC_HALF_PIXEL: return (xr + 0.5) / s - 0.5;
    case KC_HALF_PIXEL_SYMMETRIC: return in / 2 * (1 - (double)ax->out / len) + (xr + 0.5) / s - 0.5;
    case KC_PYTORCH_HALF_PIXEL: return len > 1 ? (xr + 0.5) / s - 0.5 : 0.0;
    case KC_ALIGN_CORNERS: return len == 1 ? 0.0 : xr * (in - 1) / (len - 1);
    case KC_ASYMMETRIC: return xr / s;
    case KC_TF_HALF_PIXEL_FOR_NN: return (xr + 0.5) / s;
    case KC_TF_CROP_AND_RESIZE: {
        double a = ax->roi_start, b = ax->roi_end;
        double xo = len > 1 ? a * (in - 1) + xr * (b - a) * (in - 1) / (len - 1) : 0.5 * (a + b) * (in - 1);
        *outside = xo < 0 || xo > in - 1;
        return xo;
    }
    }
    return xr;
}

static int64_t nearest_index(const KResizeParams *rp, double scale, double xo)
{
    double lo = floor(xo), frac = xo - lo;
    if (frac == 0.0)
        return (int64_t)lo;
    switch (rp->nearest) {
    case KN_ROUND_PREFER_FLOOR: return (int64_t)(frac <= 0.5 ? lo : lo + 1);
    case KN_ROUND_PREFER_CEIL: return (int64_t)(frac < 0.5 ? lo : lo + 1);
    case KN_FLOOR: return (int64_t)lo;
    case KN_CEIL: return (int64_t)lo + 1;
    case KN_SIMPLE: return (int64_t)(is_downsampling(scale) ? lo + 1 : lo);
    }
    return (int64_t)lo;
}

/* The interpolation kernel at distance d >= 0 (input pixels, already scaled
 * for antialias). */
static double kernel_at(const KResizeParams *rp, double d)
{
    if (rp->mode == KR_LINEAR)
        return d < 1.0 ? 1.0 - d : 0.0;
    double A = rp->cubic_a;
    if (d <= 1.0)
        return ((A + 2) * d - (A + 3)) * d * d + 1;
    if (d < 2.0)
        return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
    return 0.0;
}

static int64_t clamp_index(int64_t i, int64_t n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* Taps of one output position around xo: the `taps` nearest input
 * positions, preferring the lower ones (from ceil(xo) - taps/2). */
static void interp_taps(const KResizeParams *rp, const KResizeAxis *ax, double xo, int32_t *idx, float *w)
{
    bool antialias = rp->antialias && is_downsampling(ax->scale);
    double s = antialias ? ax->scale : 1.0, sum = 0.0;
    int64_t first = (int64_t)ceil(xo) - ax->taps / 2;
    for (int t = 0; t < ax->taps; t++) {
        int64_t pos = first + t;
        bool dropped = rp->exclude_outside && (pos < 0 || pos >= ax->in);
        sum += dropped ? 0.0 : kernel_at(rp, fabs((double)pos - xo) * s);
    }
    bool normalize = (antialias || rp->exclude_outside) && sum != 0.0;
    for (int t = 0; t < ax->taps; t++) {
        int64_t pos = first + t;
        bool dropped = rp->exclude_outside && (pos < 0 || pos >= ax->in);
        double wt = dropped ? 0.0 : kernel_at(rp, fabs((double)pos - xo) * s);
        w[t] = (float)(normalize ? wt / sum : wt);
        idx[t] = (int32_t)clamp_index(pos, ax->in);
    }
}

/* Each output j reads input j alone, with weight 1 (clamped taps may repeat j). */
static bool axis_is_identity(const KResizeAxis *ax)
{
    if (ax->in != ax->out || ax->any_outside)
        return false;
    for (int64_t j = 0; j < ax->out; j++) {
        float own = 0.0f;
        for (int t = 0; t < ax->taps; t++) {
            float w = ax->w[j * ax->taps + t];
            if (ax->idx[j * ax->taps + t] == j)
                own += w;
            else if (w != 0.0f)
                return false;
        }
        if (own != 1.0f)
            return false;
    }
    return true;
}

void k_resize_axis_build(const KResizeParams *rp, KResizeAxis *ax)
{
    ax->any_outside = false;
    for (int64_t j = 0; j < ax->out; j++) {
        bool outside;
        double xo = original_coord(rp, ax, j, &outside);
        int32_t *idx = ax->idx + j * ax->taps;
        float *w = ax->w + j * ax->taps;
        ax->outside[j] = outside;
        ax->any_outside |= outside;
        if (rp->mode == KR_NEAREST) {
            idx[0] = (int32_t)clamp_index(nearest_index(rp, ax->scale, xo), ax->in);
            w[0] = 1.0f;
        } else {
            interp_taps(rp, ax, xo, idx, w);
        }
    }
    ax->identity = axis_is_identity(ax);
}

/* ---------------------------------------------------------------- passes */

/* One axis pass over a tensor viewed as [outer, L, inner]; a "line" is an
 * (o, inner chunk) pair, and lines never share an output or a gradient. */
typedef struct Pass {
    const KResizeAxis *ax;
    int64_t outer, inner, chunk, n_chunks;
    const float *src;
    float *dst;
} Pass;

#define K_RESIZE_CHUNK 256

static Pass pass_make(const KResizeAxis *ax, const int64_t *dims, int rank, int axis)
{
    Pass p = {.ax = ax, .outer = 1, .inner = 1};
    for (int i = 0; i < axis; i++)
        p.outer *= dims[i];
    for (int i = axis + 1; i < rank; i++)
        p.inner *= dims[i];
    p.chunk = p.inner < K_RESIZE_CHUNK ? p.inner : K_RESIZE_CHUNK;
    p.n_chunks = p.chunk ? (p.inner + p.chunk - 1) / p.chunk : 0;
    return p;
}

static void pass_forward_lines(const void *ctx, int64_t begin, int64_t end)
{
    const Pass *p = ctx;
    const KResizeAxis *ax = p->ax;
    for (int64_t line = begin; line < end; line++) {
        int64_t o = line / p->n_chunks, i0 = line % p->n_chunks * p->chunk;
        int64_t i1 = i0 + p->chunk < p->inner ? i0 + p->chunk : p->inner;
        const float *src = p->src + o * ax->in * p->inner;
        float *dst = p->dst + o * ax->out * p->inner;
        for (int64_t j = 0; j < ax->out; j++) {
            float *y = dst + j * p->inner;
            for (int64_t i = i0; i < i1; i++)
                y[i] = 0.0f;
            if (ax->outside[j])
                continue;
            for (int t = 0; t < ax->taps; t++) {
                float w = ax->w[j * ax->taps + t];
                const float *x = src + (int64_t)ax->idx[j * ax->taps + t] * p->inner;
                for (int64_t i = i0; i < i1; i++)
                    y[i] += w * x[i];
            }
        }
    }
}

/* the adjoint: src-side gradient += w * dst-side gradient */
static void pass_backward_lines(const void *ctx, int64_t begin, int64_t end)
{
    const Pass *p = ctx;
    const KResizeAxis *ax = p->ax;
    for (int64_t line = begin; line < end; line++) {
        int64_t o = line / p->n_chunks, i0 = line % p->n_chunks * p->chunk;
        int64_t i1 = i0 + p->chunk < p->inner ? i0 + p->chunk : p->inner;
        float *dsrc = p->dst + o * ax->in * p->inner;
        const float *ddst = p->src + o * ax->out * p->inner;
        for (int64_t j = 0; j < ax->out; j++) {
            if (ax->outside[j])
                continue;
            const float *dy = ddst + j * p->inner;
            for (int t = 0; t < ax->taps; t++) {
                float w = ax->w[j * ax->taps + t], *dx = dsrc + (int64_t)ax->idx[j * ax->taps + t] * p->inner;
                for (int64_t i = i0; i < i1; i++)
                    dx[i] += w * dy[i];
            }
        }
    }
}

/* Axes that need a pass, last first, and the dims before each pass. */
typedef struct PassPlan {
    int n, axis[KN_MAX_RANK];
    int64_t dims[KN_MAX_RANK + 1][KN_MAX_RANK]; /* dims[p]: input of pass p; dims[n]: output */
    int64_t max_between;                        /* largest intermediate */
} PassPlan;

static PassPlan pass_plan(const KResizeDims *rd)
{
    PassPlan pp = {0};
    int64_t cur[KN_MAX_RANK] = {0};
    for (int i = 0; i < rd->rank; i++)
        cur[i] = rd->axes[i].in;
    for (int a = rd->rank - 1; a >= 0; a--) {
        if (rd->axes[a].identity)
            continue;
        memcpy(pp.dims[pp.n], cur, sizeof cur);
        pp.axis[pp.n++] = a;
        cur[a] = rd->axes[a].out;
    }
    memcpy(pp.dims[pp.n], cur, sizeof cur);
    for (int p = 1; p < pp.n; p++) {
        int64_t numel = 1;
        for (int i = 0; i < rd->rank; i++)
            numel *= pp.dims[p][i];
        pp.max_between = numel > pp.max_between ? numel : pp.max_between;
    }
    return pp;
}

static int64_t numel_of(const int64_t *dims, int rank)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

size_t k_resize_workspace_floats(const KResizeDims *rd)
{
    PassPlan pp = pass_plan(rd);
    return (size_t)(pp.n > 2 ? 2 : pp.n - 1 > 0 ? 1 : 0) * (size_t)pp.max_between;
}

static void run_pass(const KResizeDims *rd, const PassPlan *pp, int p, const float *src, float *dst, KnRangeFn fn)
{
    Pass ps = pass_make(&rd->axes[pp->axis[p]], pp->dims[p], rd->rank, pp->axis[p]);
    ps.src = src;
    ps.dst = dst;
    int64_t lines = ps.outer * ps.n_chunks;
    k_nn_ranges(lines, numel_of(pp->dims[p + 1], rd->rank) * rd->axes[pp->axis[p]].taps, fn, &ps);
}

/* tf_crop_and_resize: every output with an outside coordinate is the extrapolation value */
static void fill_outside(const KResizeDims *rd, const int64_t *dims, float *y)
{
    for (int a = 0; a < rd->rank; a++) {
        const KResizeAxis *ax = &rd->axes[a];
        if (!ax->any_outside)
            continue;
        Pass ps = pass_make(ax, dims, rd->rank, a);
        for (int64_t o = 0; o < ps.outer; o++)
            for (int64_t j = 0; j < ax->out; j++)
                for (int64_t i = 0; ax->outside[j] && i < ps.inner; i++)
                    y[(o * ax->out + j) * ps.inner + i] = rd->extrapolation;
    }
}

void k_resize_forward(const KResizeDims *rd, const float *x, float *y, float *ws)
{
    PassPlan pp = pass_plan(rd);
    float *buf[2] = {ws, pp.n > 2 ? ws + pp.max_between : NULL};
    if (pp.n == 0) {
        memcpy(y, x, sizeof *y * (size_t)numel_of(pp.dims[0], rd->rank));
        return;
    }
    const float *src = x;
    for (int p = 0; p < pp.n; p++) {
        float *dst = p == pp.n - 1 ? y : buf[p % 2];
        run_pass(rd, &pp, p, src, dst, pass_forward_lines);
        src = dst;
    }
    fill_outside(rd, pp.dims[pp.n], y);
}

void k_resize_backward(const KResizeDims *rd, const float *dy, float *dx, float *ws)
{
    PassPlan pp = pass_plan(rd);
    float *buf[2] = {ws, pp.n > 2 ? ws + pp.max_between : NULL};
    if (!dx)
        return;
    if (pp.n == 0) {
        for (int64_t i = 0; i < numel_of(pp.dims[0], rd->rank); i++)
            dx[i] += dy[i];
        return;
    }
    for (int p = pp.n - 1; p >= 0; p--) {
        const float *dsrc = p == pp.n - 1 ? dy : buf[p % 2];
        float *dtarget = p == 0 ? dx : buf[(p - 1) % 2];
        if (p > 0)
            memset(dtarget, 0, sizeof *dtarget * (size_t)numel_of(pp.dims[p], rd->rank));
        run_pass(rd, &pp, p, dsrc, dtarget, pass_backward_lines);
    }
}
