/* k_quant.c - kernels of the window functions, ReverseSequence,
 * MeanVarianceNormalization, linear quantization, Det and MaxUnpool (see
 * kernels_quant.h).
 * Quantization divides and rounds in float, as the ONNX reference does, so
 * that values halfway between two steps round the same way; rounding is to
 * nearest even (nearbyintf under the default rounding mode).
 */
#include "runtime/kernels_misc.h"
#include "runtime/kernels_quant.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- windows */

void k_window(KWindow w, bool periodic, int64_t size, double *y)
{
    const double two_pi = 6.283185307179586476925;
    double period = (double)(periodic ? size : size - 1);
    double a0 = w == KW_HANN ? 0.5 : w == KW_HAMMING ? 25.0 / 46.0 : 0.42;
    double a1 = w == KW_BLACKMAN ? 0.5 : 1.0 - a0, a2 = w == KW_BLACKMAN ? 0.08 : 0.0;
    /* a one-point symmetric window has no period (the spec's formula
     * divides by zero): give its single point the peak, as PyTorch does */
    if (period == 0) {
        for (int64_t i = 0; i < size; i++)
            y[i] = 1.0;
        return;
    }
    for (int64_t i = 0; i < size; i++) {
        double phase = two_pi * (double)i / period;
        y[i] = a0 - a1 * cos(phase) + a2 * cos(2.0 * phase);
    }
}

/* ----------------------------------------------------- ReverseSequence */

/* Row (slice of inner elements) index of (batch b, time t). */
static int64_t seq_row(const KReverseSeq *rs, int64_t b, int64_t t)
{
    return rs->batch_axis == 0 ? b * rs->d1 + t : t * rs->d1 + b;
}

/* Source time step of output step t in batch b. */
static int64_t seq_source(int64_t len, int64_t t)
{
    return t < len ? len - 1 - t : t;
}

void k_reverse_sequence_forward(const KReverseSeq *rs, const int64_t *lens, size_t elem, const void *x, void *y)
{
    int64_t batch = rs->batch_axis == 0 ? rs->d0 : rs->d1, time = rs->batch_axis == 0 ? rs->d1 : rs->d0;
    size_t row = (size_t)rs->inner * elem;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t t = 0; t < time; t++)
            memcpy((unsigned char *)y + (size_t)seq_row(rs, b, t) * row,
                   (const unsigned char *)x + (size_t)seq_row(rs, b, seq_source(lens[b], t)) * row, row);
}

void k_reverse_sequence_backward(const KReverseSeq *rs, const int64_t *lens, const float *dy, float *dx)
{
    int64_t batch = rs->batch_axis == 0 ? rs->d0 : rs->d1, time = rs->batch_axis == 0 ? rs->d1 : rs->d0;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t t = 0; t < time; t++) {
            const float *src = dy + seq_row(rs, b, t) * rs->inner;
            float *dst = dx + seq_row(rs, b, seq_source(lens[b], t)) * rs->inner;
            for (int64_t k = 0; k < rs->inner; k++)
                dst[k] += src[k];
        }
}

/* ------------------------------------------- MeanVarianceNormalization */

#define MVN_EPSILON 1e-9

void k_mvn_groups(int rank, const int64_t *dims, const bool *reduced, KMvn *km, int64_t *group)
{
    int64_t coord[K_MAX_RANK] = {0};
    km->n = 1, km->n_groups = 1;
    for (int a = 0; a < rank; a++) {
        km->n *= dims[a];
        if (!reduced[a])
            km->n_groups *= dims[a];
    }
    km->group_size = km->n_groups ? km->n / km->n_groups : 0;
    for (int64_t i = 0; i < km->n; i++) {
        int64_t gi = 0;
        for (int a = 0; a < rank; a++)
            if (!reduced[a])
                gi = gi * dims[a] + coord[a];
        group[i] = gi;
        for (int a = rank - 1; a >= 0; a--) {
            if (++coord[a] < dims[a])
                break;
            coord[a] = 0;
        }
    }
}

void k_mvn_forward(const KMvn *km, const int64_t *group, const float *x, float *y, double *mean, double *std)
{
    /* std holds E[x^2] until the last pass turns it into the deviation */
    memset(mean, 0, (size_t)km->n_groups * sizeof *mean);
    memset(std, 0, (size_t)km->n_groups * sizeof *std);
    for (int64_t i = 0; i < km->n; i++) {
        mean[group[i]] += x[i];
        std[group[i]] += (double)x[i] * x[i];
    }
    for (int64_t g = 0; g < km->n_groups; g++) {
        mean[g] /= (double)km->group_size;
        double var = std[g] / (double)km->group_size - mean[g] * mean[g];
        std[g] = sqrt(var > 0 ? var : 0);
    }
    for (int64_t i = 0; i < km->n; i++)
        y[i] = (float)((x[i] - mean[group[i]]) / (std[group[i]] + MVN_EPSILON));
}

/* With u = x - mean, r = 1 / (std + eps), y = u r and
 * d std / d x_i = u_i / (m std):
 * dx_i = r (dy_i - mean(dy)) - r^2 sum(dy u) u_i / (m std). */
void k_mvn_backward(const KMvn *km, const int64_t *group, const float *x, const double *mean, const double *std,
                    const float *dy, float *dx, double *ws)
{
    double *sum_dy = ws, *sum_dyu = ws + km->n_groups;
    double m = (double)km->group_size;
    memset(ws, 0, 2 * (size_t)km->n_groups * sizeof *ws);
    for (int64_t i = 0; i < km->n; i++) {
        sum_dy[group[i]] += dy[i];
        sum_dyu[group[i]] += dy[i] * (x[i] - mean[group[i]]);
    }
    for (int64_t i = 0; i < km->n; i++) {
        int64_t g = group[i];
        double r = 1.0 / (std[g] + MVN_EPSILON), u = x[i] - mean[g];
        double through_std = std[g] > 0 ? r * r * sum_dyu[g] * u / (m * std[g]) : 0.0;
        dx[i] += (float)(r * (dy[i] - sum_dy[g] / m) - through_std);
    }
}

/* ---------------------------------------------------------- quantizing */

static void quant_range(KElem qt, int *lo, int *hi)
{
    *lo = qt == KE_INT8 ? -128 : 0;
    *hi = qt == KE_INT8 ? 127 : 255;
}

static int64_t quant_channel(const KQuantAxis *qa, int64_t i)
{
    return (i / qa->inner) % qa->channels;
}

void k_quantize(const KQuantAxis *qa, const float *x, const float *scale, const void *zp, KElem qt, void *y)
{
    int lo, hi;
    quant_range(qt, &lo, &hi);
    for (int64_t i = 0; i < qa->n; i++) {
        int64_t c = quant_channel(qa, i);
        float q = nearbyintf(x[i] / scale[c]) + (float)(zp ? k_elem_get_int(qt, zp, c) : 0);
        /* NaN saturates to 0, as a float to integer cast in kdc does */
        int64_t v = isnan(q) ? 0 : q < (float)lo ? lo : q > (float)hi ? hi : (int64_t)q;
        if (qt == KE_INT8)
            ((int8_t *)y)[i] = (int8_t)v;
        else
            ((uint8_t *)y)[i] = (uint8_t)v;
    }
}

void k_dequantize(const KQuantAxis *qa, KElem xt, const void *x, const float *scale, const void *zp, float *y)
{
    for (int64_t i = 0; i < qa->n; i++) {
        int64_t c = quant_channel(qa, i);
        int64_t z = zp ? k_elem_get_int(xt, zp, c) : 0;
        y[i] = (float)(k_elem_get_int(xt, x, i) - z) * scale[c];
    }
}

void k_dynamic_quantize(int64_t n, const float *x, uint8_t *y, float *scale, uint8_t *zp)
{
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *scale = (hi - lo) / 255.0f;
    if (*scale == 0.0f) { /* all zeros: any scale represents them; keep 0 so that dequantizing gives 0 */
        *zp = 0;
        memset(y, 0, (size_t)n);
        return;
    }
    float z = nearbyintf(0.0f - lo / *scale);
    *zp = (uint8_t)(z < 0.0f ? 0 : z > 255.0f ? 255 : z);
    KQuantAxis qa = {n, 1, 1};
    k_quantize(&qa, x, scale, zp, KE_UINT8, y);
}

/* ----------------------------------------------------------------- Det */

/* Determinant of the n x n matrix a (overwritten by its LU factors). */
static double det_lu(int64_t n, double *a)
{
    double det = 1.0;
    for (int64_t k = 0; k < n; k++) {
        int64_t piv = k;
        for (int64_t i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > fabs(a[piv * n + k]))
                piv = i;
        if (a[piv * n + k] == 0.0)
            return 0.0;
        if (piv != k) {
            for (int64_t j = 0; j < n; j++) {
                double t = a[k * n + j];
                a[k * n + j] = a[piv * n + j];
                a[piv * n + j] = t;
            }
            det = -det;
        }
        det *= a[k * n + k];
        for (int64_t i = k + 1; i < n; i++) {
            double f = a[i * n + k] / a[k * n + k];
            for (int64_t j = k + 1; j < n; j++)
                a[i * n + j] -= f * a[k * n + j];
        }
    }
    return det;
}

void k_det(int64_t batch, int64_t n, KElem t, const void *x, void *y, double *ws)
{
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < n * n; i++)
            ws[i] = k_elem_get_double(t, x, b * n * n + i);
        double det = det_lu(n, ws);
        k_convert(KE_DOUBLE, &det, t, (unsigned char *)y + (size_t)b * k_elem_size(t), 1);
    }
}

/* ----------------------------------------------------------- MaxUnpool */

/* Offset in the output of flat index i of the unpooled tensor. */
static int64_t unpool_offset(const KUnpool *u, int64_t i)
{
    int64_t off = 0, stride = 1;
    for (int a = u->rank - 1; a >= 0; a--) {
        off += (i % u->in[a]) * stride;
        i /= u->in[a];
        stride *= u->out[a];
    }
    return off;
}

Status k_max_unpool_forward(const KUnpool *u, int64_t n_x, const float *x, const int64_t *idx, float *y, Diag *d)
{
    memset(y, 0, (size_t)u->n_out * sizeof *y);
    for (int64_t i = 0; i < n_x; i++) {
        if (idx[i] < 0 || idx[i] >= u->n_in)
            return diag_error(d, "index %lld at position %lld is outside the unpooled tensor's %lld elements",
                              (long long)idx[i], (long long)i, (long long)u->n_in);
        y[unpool_offset(u, idx[i])] = x[i];
    }
    return KDC_OK;
}

void k_max_unpool_backward(const KUnpool *u, int64_t n_x, const int64_t *idx, const float *dy, float *dx)
{
    for (int64_t i = 0; i < n_x; i++)
        dx[i] += dy[unpool_offset(u, idx[i])];
}
