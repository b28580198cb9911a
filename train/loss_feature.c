/* loss_feature.c - feature distillation losses (hint, attention transfer,
 * similarity preserving, correlation congruence) and their gradients with
 * respect to the student feature; see loss_feature.h for the formulas.
 *
 * Every loss first runs its whole forward pass into scratch and checks it, and
 * only then adds into grad_s, so a failing call leaves grad_s untouched.
 *
 * Gradient of a normalized vector y = x / max(|x|, eps) for an upstream g:
 *   |x| >= eps:  dx = (g - y (g . y)) / |x|        |x| < eps:  dx = g / eps
 * (the clamped denominator is a constant, as in PyTorch's clamp_min backward).
 */
#include "train/loss_feature.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* F.normalize's default eps. */
#define NORMALIZE_EPS 1e-12

static Status check_finite(const char *loss, const char *who, const float *x, int64_t n, Diag *d)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return diag_error(d, "%s loss: non-finite %s feature value at element %lld of %lld "
                              "(training diverged? try a lower learning rate)",
                              loss, who, (long long)i, (long long)n);
    return KDC_OK;
}

/* The checks every loss shares: a finite scale and finite inputs. */
/* n doubles of scratch for `loss`, or NULL with the error set. */
static double *scratch_doubles(const char *loss, size_t n, Diag *d)
{
    size_t bytes = n * sizeof(double);
    double *scratch = malloc(bytes);
    if (!scratch)
        diag_error(d, "%s loss: out of memory for %zu bytes of scratch", loss, bytes);
    return scratch;
}

static Status check_inputs(const char *loss, const float *s, int64_t s_count, const float *t,
                           int64_t t_count, double scale, Diag *d)
{
    if (!isfinite(scale))
        return diag_error(d, "%s loss: scale must be finite, got %g", loss, scale);
    if (check_finite(loss, "student", s, s_count, d) ||
        check_finite(loss, "teacher", t, t_count, d))
        return KDC_ERR;
    return KDC_OK;
}

/* grad += scale * g, rounded once. */
static void add_grad(float *grad, double scale, double g)
{
    *grad = (float)((double)*grad + scale * g);
}

/* Rescales x [n] to x / max(|x|, eps) in place; returns |x|. */
static double normalize_in_place(double *x, int64_t n)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += x[i] * x[i];
    double norm = sqrt(sum), denom = norm >= NORMALIZE_EPS ? norm : NORMALIZE_EPS;
    for (int64_t i = 0; i < n; i++)
        x[i] /= denom;
    return norm;
}

/* Turns g [n] (dloss/dy with y = normalize(x), |x| = norm) into dloss/dx in place. */
static void normalize_backward(double *g, const double *y, double norm, int64_t n)
{
    if (norm < NORMALIZE_EPS) {
        for (int64_t i = 0; i < n; i++)
            g[i] /= NORMALIZE_EPS;
        return;
    }
    double dot = 0;
    for (int64_t i = 0; i < n; i++)
        dot += g[i] * y[i];
    for (int64_t i = 0; i < n; i++)
        g[i] = (g[i] - y[i] * dot) / norm;
}

/* ---- hint ---- */

Status loss_hint(const float *s, const float *t, int64_t n, double scale, double *loss,
                 float *grad_s, Diag *d)
{
    assert(s && t && loss);
    if (n < 1)
        return diag_error(d, "hint loss: empty feature (%lld values)", (long long)n);
    if (check_inputs("hint", s, n, t, n, scale, d))
        return KDC_ERR;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double diff = (double)s[i] - t[i];
        sum += diff * diff;
    }
    *loss = sum / (double)n;
    if (grad_s)
        for (int64_t i = 0; i < n; i++)
            add_grad(&grad_s[i], scale, 2.0 * ((double)s[i] - t[i]) / (double)n);
    return KDC_OK;
}

/* ---- attention transfer ---- */

typedef struct PowerRule {
    double p;
    bool integer; /* plain power; otherwise |f|^p */
} PowerRule;

/* p = 2, the default, skips pow(): it dominates the cost of the loss otherwise. */
static double power_value(PowerRule r, double x)
{
    if (r.p == 2)
        return x * x;
    return r.integer ? pow(x, r.p) : pow(fabs(x), r.p);
}

static double power_slope(PowerRule r, double x)
{
    if (r.p == 2)
        return 2 * x;
    if (r.integer)
        return r.p * pow(x, r.p - 1);
    if (x == 0)
        return 0; /* see loss_feature.h: a subgradient choice when p < 1 */
    return r.p * pow(fabs(x), r.p - 1) * (x > 0 ? 1.0 : -1.0);
}

/* at [B, HW] = normalized channel means of f^p for f [B, C, HW]; norm [B] gets
 * the norms before the clamp. Fails if a map does not fit in a double. */
static Status attention_maps(const float *f, int64_t batch, int64_t channels, int64_t spatial,
                             PowerRule r, const char *who, double *at, double *norm, Diag *d)
{
    for (int64_t b = 0; b < batch; b++) {
        double *map = at + b * spatial;
        for (int64_t j = 0; j < spatial; j++)
            map[j] = 0;
        for (int64_t c = 0; c < channels; c++) {
            const float *plane = f + (b * channels + c) * spatial;
            for (int64_t j = 0; j < spatial; j++)
                map[j] += power_value(r, plane[j]);
        }
        for (int64_t j = 0; j < spatial; j++)
            map[j] /= (double)channels;
        norm[b] = normalize_in_place(map, spatial);
        if (!isfinite(norm[b]))
            return diag_error(d, "attention loss: the %s attention map of sample %lld overflows "
                              "(features too large for p = %g); lower p",
                              who, (long long)b, r.p);
    }
    return KDC_OK;
}

/* Adds scale * dloss/ds for one sample; ga [HW] is scratch. */
static void attention_backward_sample(const float *s, const double *at_s, const double *at_t,
                                      double norm, int64_t channels, int64_t spatial,
                                      double mean_factor, PowerRule r, double scale, double *ga,
                                      float *grad_s)
{
    for (int64_t j = 0; j < spatial; j++)
        ga[j] = 2.0 * (at_s[j] - at_t[j]) * mean_factor;
    normalize_backward(ga, at_s, norm, spatial);
    for (int64_t c = 0; c < channels; c++) {
        const float *plane = s + c * spatial;
        float *grad_plane = grad_s + c * spatial;
        for (int64_t j = 0; j < spatial; j++)
            add_grad(&grad_plane[j], scale, ga[j] / (double)channels * power_slope(r, plane[j]));
    }
}

static Status attention_check(const float *s, const float *t, int64_t batch, int64_t s_channels,
                              int64_t t_channels, int64_t spatial, double p, double scale,
                              Diag *d)
{
    if (batch < 1 || s_channels < 1 || t_channels < 1 || spatial < 1)
        return diag_error(d, "attention loss: empty feature (batch %lld, student channels %lld, "
                          "teacher channels %lld, spatial size %lld)",
                          (long long)batch, (long long)s_channels, (long long)t_channels,
                          (long long)spatial);
    if (!(p > 0 && isfinite(p)))
        return diag_error(d, "attention loss: p must be a positive finite number, got %g", p);
    return check_inputs("attention", s, batch * s_channels * spatial, t,
                        batch * t_channels * spatial, scale, d);
}

Status loss_attention(const float *s, const float *t, int64_t batch, int64_t s_channels,
                      int64_t t_channels, int64_t spatial, double p, double scale, double *loss,
                      float *grad_s, Diag *d)
{
    assert(s && t && loss);
    if (attention_check(s, t, batch, s_channels, t_channels, spatial, p, scale, d))
        return KDC_ERR;
    Status status = KDC_ERR;
    PowerRule rule = {p, p == floor(p)};
    size_t maps = (size_t)(batch * spatial);
    double *scratch = scratch_doubles("attention", 2 * maps + 2 * (size_t)batch + (size_t)spatial, d);
    if (!scratch)
        goto fail;
    double *at_s = scratch, *at_t = at_s + maps, *norm_s = at_t + maps, *norm_t = norm_s + batch;
    double *ga = norm_t + batch;
    if (attention_maps(s, batch, s_channels, spatial, rule, "student", at_s, norm_s, d) ||
        attention_maps(t, batch, t_channels, spatial, rule, "teacher", at_t, norm_t, d))
        goto fail;
    double sum = 0, mean_factor = 1.0 / (double)maps;
    for (size_t i = 0; i < maps; i++)
        sum += (at_s[i] - at_t[i]) * (at_s[i] - at_t[i]);
    *loss = sum * mean_factor;
    for (int64_t b = 0; grad_s && b < batch; b++) {
        size_t feature = (size_t)(b * s_channels * spatial), map = (size_t)(b * spatial);
        attention_backward_sample(s + feature, at_s + map, at_t + map, norm_s[b], s_channels,
                                  spatial, mean_factor, rule, scale, ga, grad_s + feature);
    }
    status = KDC_OK;
fail:
    free(scratch);
    return status;
}

/* ---- similarity preserving ---- */

/* n [B, B] = f f^T for f [B, D], each row then normalized; norm [B] gets the
 * row norms before the clamp. */
static void similarity_rows(const float *f, int64_t batch, int64_t dim, double *n, double *norm)
{
    for (int64_t i = 0; i < batch; i++)
        for (int64_t j = i; j < batch; j++) {
            const float *a = f + i * dim, *b = f + j * dim;
            double dot = 0;
            for (int64_t k = 0; k < dim; k++)
                dot += (double)a[k] * b[k];
            n[i * batch + j] = n[j * batch + i] = dot;
        }
    for (int64_t i = 0; i < batch; i++)
        norm[i] = normalize_in_place(n + i * batch, batch);
}

/* With q = dloss/dG (G = s s^T), dloss/ds_i = sum_j (q_ij + q_ji) s_j. row [D] is scratch. */
static void similarity_backward(const float *s, const double *q, int64_t batch, int64_t dim,
                                double scale, double *row, float *grad_s)
{
    for (int64_t i = 0; i < batch; i++) {
        for (int64_t k = 0; k < dim; k++)
            row[k] = 0;
        for (int64_t j = 0; j < batch; j++) {
            double w = q[i * batch + j] + q[j * batch + i];
            const float *sj = s + j * dim;
            for (int64_t k = 0; k < dim; k++)
                row[k] += w * sj[k];
        }
        for (int64_t k = 0; k < dim; k++)
            add_grad(&grad_s[i * dim + k], scale, row[k]);
    }
}

Status loss_similarity(const float *s, const float *t, int64_t batch, int64_t s_dim,
                       int64_t t_dim, double scale, double *loss, float *grad_s, Diag *d)
{
    assert(s && t && loss);
    if (batch < 1 || s_dim < 1 || t_dim < 1)
        return diag_error(d, "similarity loss: empty feature (batch %lld, student size %lld, "
                          "teacher size %lld)",
                          (long long)batch, (long long)s_dim, (long long)t_dim);
    if (check_inputs("similarity", s, batch * s_dim, t, batch * t_dim, scale, d))
        return KDC_ERR;
    Status status = KDC_ERR;
    size_t cells = (size_t)(batch * batch);
    double *scratch = scratch_doubles("similarity", 2 * cells + 2 * (size_t)batch + (size_t)s_dim, d);
    if (!scratch)
        goto fail;
    double *n_s = scratch, *n_t = n_s + cells, *norm_s = n_t + cells, *norm_t = norm_s + batch;
    double *row = norm_t + batch;
    similarity_rows(s, batch, s_dim, n_s, norm_s);
    similarity_rows(t, batch, t_dim, n_t, norm_t);
    double sum = 0, mean_factor = 1.0 / (double)cells;
    for (size_t c = 0; c < cells; c++)
        sum += (n_s[c] - n_t[c]) * (n_s[c] - n_t[c]);
    *loss = sum * mean_factor;
    if (grad_s) {
        /* n_t becomes dloss/dN(s), then dloss/dG(s), row by row. */
        for (int64_t i = 0; i < batch; i++) {
            double *g = n_t + i * batch;
            const double *y = n_s + i * batch;
            for (int64_t j = 0; j < batch; j++)
                g[j] = 2.0 * (y[j] - g[j]) * mean_factor;
            normalize_backward(g, y, norm_s[i], batch);
        }
        similarity_backward(s, n_t, batch, s_dim, scale, row, grad_s);
    }
    status = KDC_OK;
fail:
    free(scratch);
    return status;
}

/* ---- correlation congruence ---- */

static double sign_of(double x)
{
    return (x > 0) - (x < 0);
}

Status loss_correlation(const float *s, const float *t, int64_t batch, int64_t dim, double scale,
                        double *loss, float *grad_s, Diag *d)
{
    assert(s && t && loss);
    if (batch < 2)
        return diag_error(d, "correlation loss: needs a batch of at least 2 samples to pair "
                          "neighbours, got %lld",
                          (long long)batch);
    if (dim < 1)
        return diag_error(d, "correlation loss: empty feature (batch %lld, size %lld)",
                          (long long)batch, (long long)dim);
    if (check_inputs("correlation", s, batch * dim, t, batch * dim, scale, d))
        return KDC_ERR;
    double sum = 0, mean_factor = 1.0 / (double)(batch - 1);
    for (int64_t i = 0; i + 1 < batch; i++)
        for (int64_t k = 0; k < dim; k++) {
            int64_t here = i * dim + k, next = here + dim;
            sum += fabs((double)s[here] - t[here]) * fabs((double)s[next] - t[next]);
        }
    *loss = sum * mean_factor;
    for (int64_t i = 0; grad_s && i < batch; i++)
        for (int64_t k = 0; k < dim; k++) {
            int64_t here = i * dim + k;
            double neighbours = 0;
            if (i > 0)
                neighbours += fabs((double)s[here - dim] - t[here - dim]);
            if (i + 1 < batch)
                neighbours += fabs((double)s[here + dim] - t[here + dim]);
            double slope = sign_of((double)s[here] - t[here]);
            add_grad(&grad_s[here], scale, slope * neighbours * mean_factor);
        }
    return KDC_OK;
}
