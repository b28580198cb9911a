/* k_norm2.c - LayerNormalization, Group/InstanceNormalization,
 * LpNormalization and LRN, forward and backward.
 *
 * Owns the per-row and per-group statistics: sums run in double, mean
 * first and squared deviations second (no E[x^2] - E[x]^2 cancellation).
 * Rows and groups are independent, so forward and dX split over them; the
 * affine gradients split over the affine parameters instead, each summing
 * its own column in a fixed order, so results never depend on timing.
 */
#include "runtime/kernels_nn.h"

#include <math.h>

#include "runtime/threads.h"

/* Below this much work (elements touched) a parallel loop costs more than it saves. */
#define K_NORM2_PARALLEL_MIN (1L << 15)

typedef struct RangeJob {
    KnRangeFn fn;
    const void *ctx;
    int64_t n;
    int parts;
} RangeJob;

static void range_part(void *ctx, int part, int thread)
{
    const RangeJob *j = ctx;
    (void)thread;
    j->fn(j->ctx, j->n * part / j->parts, j->n * (part + 1) / j->parts);
}

void k_nn_ranges(int64_t n, int64_t work, KnRangeFn fn, const void *ctx)
{
    int T = threads_count();
    if (n <= 0)
        return;
    if (T == 1 || n == 1 || work < K_NORM2_PARALLEL_MIN) {
        fn(ctx, 0, n);
        return;
    }
    RangeJob j = {fn, ctx, n, T < n ? T : (int)n};
    threads_parallel_for(j.parts, range_part, &j);
}

/* mean and 1/sqrt(var + eps) of n values */
static void moments(const float *x, int64_t n, float eps, float *mean, float *invstd)
{
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += x[i];
    double m = n > 0 ? sum / (double)n : 0.0;
    for (int64_t i = 0; i < n; i++)
        sq += (x[i] - m) * (x[i] - m);
    double var = n > 0 ? sq / (double)n : 0.0;
    *mean = (float)m;
    *invstd = (float)(1.0 / sqrt(var + eps));
}

/* ------------------------------------------------------ LayerNormalization */

typedef struct LnJob {
    int64_t rows, D;
    const float *x, *scale, *bias, *dy, *mean_in, *invstd_in;
    const int32_t *idx;
    float eps;
    float *y, *mean, *invstd, *dx, *dscale, *dbias;
} LnJob;

static int64_t affine_at(const int32_t *idx, int64_t d)
{
    return idx ? idx[d] : d;
}

static void ln_forward_rows(const void *ctx, int64_t begin, int64_t end)
{
    const LnJob *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->D;
        float *y = j->y + r * j->D, m, is;
        moments(x, j->D, j->eps, &m, &is);
        j->mean[r] = m;
        j->invstd[r] = is;
        for (int64_t d = 0; d < j->D; d++) {
            int64_t a = affine_at(j->idx, d);
            y[d] = (x[d] - m) * is * j->scale[a] + (j->bias ? j->bias[a] : 0.0f);
        }
    }
}

void k_layernorm_forward(int64_t rows, int64_t D, const float *x, const float *scale, const float *bias,
                         const int32_t *affine_idx, float eps, float *y, float *mean, float *invstd)
{
    LnJob j = {.rows = rows,
               .D = D,
               .x = x,
               .scale = scale,
               .bias = bias,
               .idx = affine_idx,
               .eps = eps,
               .y = y,
               .mean = mean,
               .invstd = invstd};
    k_nn_ranges(rows, rows * D, ln_forward_rows, &j);
}

static void ln_dx_rows(const void *ctx, int64_t begin, int64_t end)
{
    const LnJob *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->D, *dy = j->dy + r * j->D;
        float m = j->mean_in[r], is = j->invstd_in[r], *dx = j->dx + r * j->D;
        double sg = 0.0, sgx = 0.0;
        for (int64_t d = 0; d < j->D; d++) {
            double g = (double)dy[d] * j->scale[affine_at(j->idx, d)];
            sg += g;
            sgx += g * (x[d] - m) * is;
        }
        double a = sg / (double)j->D, b = sgx / (double)j->D;
        for (int64_t d = 0; d < j->D; d++) {
            double xhat = (x[d] - m) * is, g = (double)dy[d] * j->scale[affine_at(j->idx, d)];
            dx[d] += (float)(is * (g - a - xhat * b));
        }
    }
}

/* dscale/dbias of the columns [begin, end) when each column has its own parameter */
static void ln_affine_cols(const void *ctx, int64_t begin, int64_t end)
{
    const LnJob *j = ctx;
    for (int64_t d = begin; d < end; d++) {
        double ss = 0.0, sb = 0.0;
        for (int64_t r = 0; r < j->rows; r++) {
            float xv = j->x[r * j->D + d], g = j->dy[r * j->D + d];
            ss += (double)g * (xv - j->mean_in[r]) * j->invstd_in[r];
            sb += g;
        }
        if (j->dscale)
            j->dscale[d] += (float)ss;
        if (j->dbias)
            j->dbias[d] += (float)sb;
    }
}

/* A Scale that broadcasts shares parameters between columns: one thread. */
static void ln_affine_shared(const LnJob *j)
{
    for (int64_t r = 0; r < j->rows; r++)
        for (int64_t d = 0; d < j->D; d++) {
            float g = j->dy[r * j->D + d];
            int64_t a = j->idx[d];
            if (j->dscale)
                j->dscale[a] += g * (j->x[r * j->D + d] - j->mean_in[r]) * j->invstd_in[r];
            if (j->dbias)
                j->dbias[a] += g;
        }
}

void k_layernorm_backward(int64_t rows, int64_t D, const float *x, const float *scale, const int32_t *affine_idx,
                          const float *mean, const float *invstd, const float *dy, float *dx, float *dscale,
                          float *dbias)
{
    LnJob j = {.rows = rows,
               .D = D,
               .x = x,
               .scale = scale,
               .idx = affine_idx,
               .dy = dy,
               .mean_in = mean,
               .invstd_in = invstd,
               .dx = dx,
               .dscale = dscale,
               .dbias = dbias};
    if (dx)
        k_nn_ranges(rows, rows * D, ln_dx_rows, &j);
    if (!dscale && !dbias)
        return;
    if (affine_idx)
        ln_affine_shared(&j);
    else
        k_nn_ranges(D, rows * D, ln_affine_cols, &j);
}

/* ------------------------------------------------- Group/InstanceNormalization */

typedef struct GnJob {
    const GroupNormDims *gd;
    const float *x, *scale, *bias, *dy, *mean_in, *invstd_in;
    float eps;
    float *y, *mean, *invstd, *dx, *dscale, *dbias;
} GnJob;

static int64_t gn_group_size(const GroupNormDims *gd)
{
    return (int64_t)gd->Cg * gd->S;
}

/* Affine parameter of channel c. */
static int gn_param(const GroupNormDims *gd, int c)
{
    return gd->affine_per_group ? c / gd->Cg : c;
}

static void gn_forward_units(const void *ctx, int64_t begin, int64_t end)
{
    const GnJob *j = ctx;
    const GroupNormDims *gd = j->gd;
    int64_t len = gn_group_size(gd);
    for (int64_t u = begin; u < end; u++) {
        const float *x = j->x + u * len;
        float *y = j->y + u * len, m, is;
        moments(x, len, j->eps, &m, &is);
        j->mean[u] = m;
        j->invstd[u] = is;
        for (int ci = 0; ci < gd->Cg; ci++) {
            int p = gn_param(gd, (int)(u % gd->G) * gd->Cg + ci);
            float a = j->scale[p] * is, b = j->bias[p] - m * a;
            for (int64_t s = 0; s < gd->S; s++)
                y[ci * gd->S + s] = x[ci * gd->S + s] * a + b;
        }
    }
}

void k_groupnorm_forward(const GroupNormDims *gd, const float *x, const float *scale, const float *bias, float eps,
                         float *y, float *mean, float *invstd)
{
    GnJob j = {.gd = gd, .x = x, .scale = scale, .bias = bias, .eps = eps, .y = y, .mean = mean, .invstd = invstd};
    int64_t units = (int64_t)gd->N * gd->G;
    k_nn_ranges(units, units * gn_group_size(gd), gn_forward_units, &j);
}

static void gn_dx_units(const void *ctx, int64_t begin, int64_t end)
{
    const GnJob *j = ctx;
    const GroupNormDims *gd = j->gd;
    int64_t len = gn_group_size(gd);
    for (int64_t u = begin; u < end; u++) {
        const float *x = j->x + u * len, *dy = j->dy + u * len;
        float m = j->mean_in[u], is = j->invstd_in[u], *dx = j->dx + u * len;
        int c0 = (int)(u % gd->G) * gd->Cg;
        double sg = 0.0, sgx = 0.0;
        for (int ci = 0; ci < gd->Cg; ci++) {
            float gamma = j->scale[gn_param(gd, c0 + ci)];
            for (int64_t s = ci * gd->S; s < (ci + 1) * gd->S; s++) {
                double g = (double)dy[s] * gamma;
                sg += g;
                sgx += g * (x[s] - m) * is;
            }
        }
        double a = sg / (double)len, b = sgx / (double)len;
        for (int ci = 0; ci < gd->Cg; ci++) {
            float gamma = j->scale[gn_param(gd, c0 + ci)];
            for (int64_t s = ci * gd->S; s < (ci + 1) * gd->S; s++)
                dx[s] += (float)(is * ((double)dy[s] * gamma - a - (x[s] - m) * is * b));
        }
    }
}

/* dscale/dbias of the affine parameters [begin, end). */
static void gn_affine_params(const void *ctx, int64_t begin, int64_t end)
{
    const GnJob *j = ctx;
    const GroupNormDims *gd = j->gd;
    int C = gd->G * gd->Cg, per = gd->affine_per_group ? gd->Cg : 1;
    for (int64_t p = begin; p < end; p++) {
        double ss = 0.0, sb = 0.0;
        for (int n = 0; n < gd->N; n++)
            for (int c = (int)p * per; c < (int)(p + 1) * per; c++) {
                int64_t u = (int64_t)n * gd->G + c / gd->Cg, off = ((int64_t)n * C + c) * gd->S;
                for (int64_t s = 0; s < gd->S; s++) {
                    ss += (double)j->dy[off + s] * (j->x[off + s] - j->mean_in[u]) * j->invstd_in[u];
                    sb += j->dy[off + s];
                }
            }
        if (j->dscale)
            j->dscale[p] += (float)ss;
        if (j->dbias)
            j->dbias[p] += (float)sb;
    }
}

void k_groupnorm_backward(const GroupNormDims *gd, const float *x, const float *scale, const float *mean,
                          const float *invstd, const float *dy, float *dx, float *dscale, float *dbias)
{
    GnJob j = {.gd = gd,
               .x = x,
               .scale = scale,
               .dy = dy,
               .mean_in = mean,
               .invstd_in = invstd,
               .dx = dx,
               .dscale = dscale,
               .dbias = dbias};
    int64_t units = (int64_t)gd->N * gd->G, work = units * gn_group_size(gd);
    if (dx)
        k_nn_ranges(units, work, gn_dx_units, &j);
    if (dscale || dbias)
        k_nn_ranges(gd->affine_per_group ? gd->G : (int64_t)gd->G * gd->Cg, work, gn_affine_params, &j);
}

/* ----------------------------------------------------------- LpNormalization */

typedef struct LpnJob {
    int64_t n, inner;
    int p;
    const float *x, *dy;
    float *y, *dx;
} LpnJob;

static double lp_norm(const LpnJob *j, const float *x)
{
    double s = 0.0;
    for (int64_t k = 0; k < j->n; k++) {
        double v = x[k * j->inner];
        s += j->p == 1 ? fabs(v) : v * v;
    }
    return j->p == 1 ? s : sqrt(s);
}

/* vectors are indexed by o*inner + i; one vector per index */
static void lpn_forward_vectors(const void *ctx, int64_t begin, int64_t end)
{
    const LpnJob *j = ctx;
    for (int64_t v = begin; v < end; v++) {
        int64_t base = (v / j->inner) * j->n * j->inner + v % j->inner;
        double norm = lp_norm(j, j->x + base);
        for (int64_t k = 0; k < j->n; k++)
            j->y[base + k * j->inner] = norm > 0 ? (float)(j->x[base + k * j->inner] / norm) : 0.0f;
    }
}

void k_lpnorm_forward(int64_t outer, int64_t n, int64_t inner, int p, const float *x, float *y)
{
    LpnJob j = {.n = n, .inner = inner, .p = p, .x = x, .y = y};
    k_nn_ranges(outer * inner, outer * n * inner, lpn_forward_vectors, &j);
}

/* p = 2: dx = (dy - y sum(dy y)) / norm; p = 1: dx = dy / norm - sign(x) sum(dy x) / norm^2 */
static void lpn_backward_vectors(const void *ctx, int64_t begin, int64_t end)
{
    const LpnJob *j = ctx;
    for (int64_t v = begin; v < end; v++) {
        int64_t base = (v / j->inner) * j->n * j->inner + v % j->inner;
        double norm = lp_norm(j, j->x + base), dot = 0.0;
        if (norm <= 0)
            continue;
        for (int64_t k = 0; k < j->n; k++)
            dot += (double)j->dy[base + k * j->inner] * j->x[base + k * j->inner];
        for (int64_t k = 0; k < j->n; k++) {
            double xv = j->x[base + k * j->inner], g = j->dy[base + k * j->inner];
            double slope = j->p == 2 ? xv * dot / (norm * norm) : (xv > 0 ? 1 : xv < 0 ? -1 : 0) * dot / norm;
            j->dx[base + k * j->inner] += (float)((g - slope) / norm);
        }
    }
}

void k_lpnorm_backward(int64_t outer, int64_t n, int64_t inner, int p, const float *x, const float *dy, float *dx)
{
    LpnJob j = {.n = n, .inner = inner, .p = p, .x = x, .dy = dy, .dx = dx};
    if (dx)
        k_nn_ranges(outer * inner, outer * n * inner, lpn_backward_vectors, &j);
}

/* ----------------------------------------------------------------------- LRN */

typedef struct LrnJob {
    int64_t C, S;
    const LrnParams *lp;
    const float *x, *dy;
    float *y, *dx;
} LrnJob;

/* Channels [*lo, *hi] in the window of channel c. */
static void lrn_window(const LrnJob *j, int64_t c, int64_t *lo, int64_t *hi)
{
    int64_t before = (j->lp->size - 1) / 2, after = j->lp->size / 2; /* floor and ceil of (size-1)/2 */
    *lo = c - before < 0 ? 0 : c - before;
    *hi = c + after > j->C - 1 ? j->C - 1 : c + after;
}

/* bias + alpha/size * sum of squares over the window of (n, c, s) */
static double lrn_base(const LrnJob *j, int64_t n, int64_t c, int64_t s)
{
    int64_t lo, hi;
    double sq = 0.0;
    lrn_window(j, c, &lo, &hi);
    for (int64_t i = lo; i <= hi; i++) {
        double v = j->x[(n * j->C + i) * j->S + s];
        sq += v * v;
    }
    return j->lp->bias + (double)j->lp->alpha / j->lp->size * sq;
}

/* rows are (n, c) */
static void lrn_forward_rows(const void *ctx, int64_t begin, int64_t end)
{
    const LrnJob *j = ctx;
    for (int64_t r = begin; r < end; r++)
        for (int64_t s = 0; s < j->S; s++)
            j->y[r * j->S + s] = (float)(j->x[r * j->S + s] * pow(lrn_base(j, r / j->C, r % j->C, s), -j->lp->beta));
}

void k_lrn_forward(int64_t N, int64_t C, int64_t S, const LrnParams *lp, const float *x, float *y)
{
    LrnJob j = {.C = C, .S = S, .lp = lp, .x = x, .y = y};
    k_nn_ranges(N * C, N * C * S * lp->size, lrn_forward_rows, &j);
}

/* dx_i = dy_i b_i^-beta - 2 alpha beta / size * x_i * sum over the channels c
 * whose window holds i of dy_c x_c b_c^(-beta-1) */
static void lrn_backward_rows(const void *ctx, int64_t begin, int64_t end)
{
    const LrnJob *j = ctx;
    int64_t before = (j->lp->size - 1) / 2, after = j->lp->size / 2;
    double k = 2.0 * j->lp->alpha * j->lp->beta / j->lp->size;
    for (int64_t r = begin; r < end; r++) {
        int64_t n = r / j->C, i = r % j->C;
        int64_t lo = i - after < 0 ? 0 : i - after, hi = i + before > j->C - 1 ? j->C - 1 : i + before;
        for (int64_t s = 0; s < j->S; s++) {
            double acc = 0.0;
            for (int64_t c = lo; c <= hi; c++) {
                int64_t at = (n * j->C + c) * j->S + s;
                acc += j->dy[at] * j->x[at] * pow(lrn_base(j, n, c, s), -j->lp->beta - 1.0);
            }
            int64_t at = r * j->S + s;
            j->dx[at] += (float)(j->dy[at] * pow(lrn_base(j, n, i, s), -j->lp->beta) - k * j->x[at] * acc);
        }
    }
}

void k_lrn_backward(int64_t N, int64_t C, int64_t S, const LrnParams *lp, const float *x, const float *dy, float *dx)
{
    LrnJob j = {.C = C, .S = S, .lp = lp, .x = x, .dy = dy, .dx = dx};
    if (dx)
        k_nn_ranges(N * C, N * C * S * lp->size * lp->size, lrn_backward_rows, &j);
}
