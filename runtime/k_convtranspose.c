/* k_convtranspose.c - transposed convolution over up to three spatial dims
 * (NC(D,H,W); 1-D and 2-D callers pad with size-1 dims), forward and
 * backward.
 *
 * Owns the GEMM + col2im lowering: for each (batch item, group) unit the
 * group's weights [Cg, Mg*K] are applied transposed to the input [Cg, P],
 * giving every tap's contribution [Mg*K, P], which col2im scatters into
 * the output (the data-gradient of a convolution). Backward is the
 * convolution itself: im2col of dY, then dX = W . col and dW += X . col^T.
 * Threads and per-slot partial dW/dB as in k_conv_nd.c. A 1x1x1, stride-1,
 * unpadded layer whose output is its input's size is a plain GEMM.
 */
#include "runtime/kernels_nn.h"

#include <limits.h>
#include <string.h>

#include "runtime/blas.h"

Status k_convtranspose_check(const ConvTDims *ct, Diag *d)
{
    if (ct->N < 0 || ct->C <= 0 || ct->M <= 0)
        return diag_error(d, "ConvTranspose: %d input and %d output channels (batch %d) is not a valid shape", ct->C,
                          ct->M, ct->N);
    if (ct->groups <= 0 || ct->C % ct->groups || ct->M % ct->groups)
        return diag_error(d, "ConvTranspose: group=%d does not divide %d input and %d output channels", ct->groups,
                          ct->C, ct->M);
    int64_t taps = ct->M / ct->groups, in = 1, out = 1;
    for (int i = 0; i < KN_SPATIAL; i++) {
        if (ct->in[i] <= 0 || ct->out[i] <= 0 || ct->k[i] <= 0 || ct->stride[i] <= 0 || ct->dil[i] <= 0)
            return diag_error(d,
                              "ConvTranspose: spatial dim %d: input %d, output %d, kernel %d, stride %d, dilation %d "
                              "must be positive",
                              i, ct->in[i], ct->out[i], ct->k[i], ct->stride[i], ct->dil[i]);
        taps *= ct->k[i];
        in *= ct->in[i];
        out *= ct->out[i];
    }
    if (taps * in > INT_MAX || out > INT_MAX)
        return diag_error(d, "ConvTranspose: one image's column matrix (%lld x %lld) is too large", (long long)taps,
                          (long long)in);
    return KDC_OK;
}

static bool convt_is_direct(const ConvTDims *ct)
{
    for (int i = 0; i < KN_SPATIAL; i++)
        if (ct->k[i] != 1 || ct->stride[i] != 1 || ct->pad_begin[i] != 0 || ct->out[i] != ct->in[i])
            return false;
    return true;
}

/* The output is the image, the input's positions are the windows. */
static KColGeom convt_geom(const ConvTDims *ct)
{
    KColGeom g = {.channels = ct->M / ct->groups};
    for (int i = 0; i < KN_SPATIAL; i++) {
        g.img[i] = ct->out[i];
        g.col[i] = ct->in[i];
        g.k[i] = ct->k[i];
        g.stride[i] = ct->stride[i];
        g.dil[i] = ct->dil[i];
        g.pad[i] = ct->pad_begin[i];
    }
    return g;
}

typedef struct ConvTUnit {
    int Cg, Mg, mkk, P, Q; /* P input positions, Q output positions */
    size_t x_off, y_off, w_off, m0;
} ConvTUnit;

static ConvTUnit convt_unit(const ConvTDims *ct, int unit)
{
    int n = unit / ct->groups, g = unit % ct->groups;
    ConvTUnit u = {.Cg = ct->C / ct->groups, .Mg = ct->M / ct->groups};
    u.mkk = u.Mg * ct->k[0] * ct->k[1] * ct->k[2];
    u.P = ct->in[0] * ct->in[1] * ct->in[2];
    u.Q = ct->out[0] * ct->out[1] * ct->out[2];
    u.m0 = (size_t)g * u.Mg;
    u.x_off = ((size_t)n * ct->C + (size_t)g * u.Cg) * (size_t)u.P;
    u.y_off = ((size_t)n * ct->M + u.m0) * (size_t)u.Q;
    u.w_off = (size_t)g * u.Cg * (size_t)u.mkk;
    return u;
}

static size_t convt_col_floats(const ConvTDims *ct)
{
    if (convt_is_direct(ct))
        return 0;
    ConvTUnit u = convt_unit(ct, 0);
    return (size_t)u.mkk * (size_t)u.P;
}

static size_t convt_partial_floats(const ConvTDims *ct)
{
    return (size_t)ct->C * (size_t)convt_unit(ct, 0).mkk + (size_t)ct->M;
}

size_t k_convtranspose_workspace_floats(const ConvTDims *ct, int nthreads)
{
    size_t t = nthreads < 1 ? 1 : (size_t)nthreads;
    return t * convt_col_floats(ct) + (t - 1) * convt_partial_floats(ct);
}

typedef struct ConvTJob {
    const ConvTDims *ct;
    const float *x, *w, *bias, *dy;
    float *y, *dx, *dw, *dbias, *ws;
    int slots;
    size_t col_floats;
} ConvTJob;

static void convt_forward_unit(void *ctx, int unit, int slot)
{
    const ConvTJob *j = ctx;
    ConvTUnit u = convt_unit(j->ct, unit);
    float *y = j->y + u.y_off;
    for (int m = 0; m < u.Mg; m++) {
        float b = j->bias ? j->bias[u.m0 + m] : 0.0f;
        for (int q = 0; q < u.Q; q++)
            y[(size_t)m * u.Q + q] = b;
    }
    if (!j->col_floats) {
        blas_sgemm(true, false, u.Mg, u.P, u.Cg, 1.0f, j->w + u.w_off, u.mkk, j->x + u.x_off, u.P, 1.0f, y, u.P);
        return;
    }
    float *col = j->ws + (size_t)slot * j->col_floats;
    KColGeom g = convt_geom(j->ct);
    blas_sgemm(true, false, u.mkk, u.P, u.Cg, 1.0f, j->w + u.w_off, u.mkk, j->x + u.x_off, u.P, 0.0f, col, u.P);
    k_col2im_nd_add(&g, col, y);
}

void k_convtranspose_forward(const ConvTDims *ct, const float *x, const float *w, const float *bias, float *y,
                             float *ws, size_t ws_floats)
{
    int units = ct->N * ct->groups;
    ConvTJob j = {.ct = ct, .x = x, .w = w, .bias = bias, .y = y, .ws = ws, .col_floats = convt_col_floats(ct)};
    j.slots = k_units_slots(units, j.col_floats, convt_partial_floats(ct), ws_floats);
    k_units_run(units, j.slots, convt_forward_unit, &j);
}

static float *convt_slot_partial(const ConvTJob *j, int slot)
{
    return j->ws + (size_t)j->slots * j->col_floats + (size_t)(slot - 1) * convt_partial_floats(j->ct);
}

static void convt_backward_unit(void *ctx, int unit, int slot)
{
    const ConvTJob *j = ctx;
    const ConvTDims *ct = j->ct;
    ConvTUnit u = convt_unit(ct, unit);
    size_t part = convt_partial_floats(ct);
    float *dw = j->dw, *dbias = j->dbias;
    if (slot > 0) {
        float *p = convt_slot_partial(j, slot);
        dw = dw ? p : NULL;
        dbias = dbias ? p + part - (size_t)ct->M : NULL;
    }
    const float *dy = j->dy + u.y_off, *cols = dy;
    for (int m = 0; dbias && m < u.Mg; m++)
        for (int q = 0; q < u.Q; q++)
            dbias[u.m0 + m] += dy[(size_t)m * u.Q + q];
    if (!dw && !j->dx)
        return;
    if (j->col_floats) {
        float *col = j->ws + (size_t)slot * j->col_floats;
        KColGeom g = convt_geom(ct);
        k_im2col_nd(&g, dy, col);
        cols = col;
    }
    if (j->dx)
        blas_sgemm(false, false, u.Cg, u.P, u.mkk, 1.0f, j->w + u.w_off, u.mkk, cols, u.P, 1.0f, j->dx + u.x_off, u.P);
    if (dw)
        blas_sgemm(false, true, u.Cg, u.mkk, u.P, 1.0f, j->x + u.x_off, u.P, cols, u.P, 1.0f, dw + u.w_off, u.mkk);
}

void k_convtranspose_backward(const ConvTDims *ct, const float *x, const float *w, const float *dy, float *dx,
                              float *dw, float *dbias, float *ws, size_t ws_floats)
{
    int units = ct->N * ct->groups;
    size_t part = convt_partial_floats(ct);
    ConvTJob j = {.ct = ct,
                  .x = x,
                  .w = w,
                  .dy = dy,
                  .dx = dx,
                  .dw = dw,
                  .dbias = dbias,
                  .ws = ws,
                  .col_floats = convt_col_floats(ct)};
    if (units == 0 || (!dx && !dw && !dbias))
        return;
    j.slots = k_units_slots(units, j.col_floats, part, ws_floats);
    for (int s = 1; s < j.slots; s++)
        memset(convt_slot_partial(&j, s), 0, sizeof(float) * part);
    k_units_run(units, j.slots, convt_backward_unit, &j);
    for (int s = 1; s < j.slots; s++) {
        const float *p = convt_slot_partial(&j, s);
        for (size_t i = 0; dw && i < part - (size_t)ct->M; i++)
            dw[i] += p[i];
        for (int m = 0; dbias && m < ct->M; m++)
            dbias[m] += p[part - (size_t)ct->M + (size_t)m];
    }
}
