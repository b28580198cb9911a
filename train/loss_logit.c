/* loss_logit.c - soft targets from teacher logits, kd against soft targets, and cross
 * entropy with label smoothing and mixup; see loss_logit.h for the formulas.
 *
 * Every function checks all of its inputs before it writes anything, so a failing call
 * leaves its outputs untouched. Row gradients, before the 1/B of the batch mean, with
 * q = softmax(s/T) and r = softmax(s):
 *   d/ds [T^2 * KL(p || q)] = T * (q * sum(p) - p)        d/ds CE = r - target
 */
#include "train/loss_logit.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

/* How far a row of soft targets may sum from 1: float softmax sums and averages of a
 * few teachers are well within it, a forgotten normalization is not. */
#define SOFT_TARGET_SUM_TOL 1e-3

/* log(sum_k exp(x_k * inv_t)), shifted by the max so nothing overflows. */
static double log_sum_exp(const float *x, int64_t k, double inv_t)
{
    double m = x[0] * inv_t, sum = 0;
    for (int64_t i = 1; i < k; i++)
        if (x[i] * inv_t > m)
            m = x[i] * inv_t;
    for (int64_t i = 0; i < k; i++)
        sum += exp(x[i] * inv_t - m);
    return m + log(sum);
}

/* grad += scale * g, rounded once. */
static void add_grad(float *grad, double scale, double g)
{
    *grad = (float)((double)*grad + scale * g);
}

static Status check_shape(const char *loss, int64_t batch, int64_t classes, Diag *d)
{
    if (batch < 1 || classes < 1)
        return diag_error(d, "%s: empty batch (%lld x %lld)", loss, (long long)batch,
                          (long long)classes);
    return KDC_OK;
}

static Status check_temperature(const char *loss, double temperature, Diag *d)
{
    if (!(temperature > 0 && isfinite(temperature)))
        return diag_error(d, "%s: temperature must be positive, got %g", loss, temperature);
    return KDC_OK;
}

static Status check_scale(const char *loss, double scale, Diag *d)
{
    if (!isfinite(scale))
        return diag_error(d, "%s: scale must be finite, got %g", loss, scale);
    return KDC_OK;
}

static Status check_logits(const char *loss, const char *who, const float *x, int64_t batch,
                           int64_t classes, Diag *d)
{
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < classes; i++)
            if (!isfinite(x[b * classes + i]))
                return diag_error(d, "%s: non-finite %s logit in batch row %lld (training "
                                  "diverged? try a lower learning rate)",
                                  loss, who, (long long)b);
    return KDC_OK;
}

/* ---- soft targets ---- */

Status loss_soft_targets(const float *t, int64_t batch, int64_t classes, double temperature,
                         double w, float *p, Diag *d)
{
    assert(t && p);
    const char *name = "soft targets";
    if (check_shape(name, batch, classes, d) || check_temperature(name, temperature, d))
        return KDC_ERR;
    if (!(w >= 0 && isfinite(w)))
        return diag_error(d, "soft targets: teacher weight must be a finite number >= 0, got %g",
                          w);
    if (check_logits(name, "teacher", t, batch, classes, d))
        return KDC_ERR;
    double inv_t = 1.0 / temperature;
    for (int64_t b = 0; b < batch; b++)
        if (!isfinite(log_sum_exp(t + b * classes, classes, inv_t)))
            return diag_error(d, "soft targets: teacher logits / temperature %g overflow in "
                              "batch row %lld (use a larger temperature)",
                              temperature, (long long)b);
    for (int64_t b = 0; b < batch; b++) {
        const float *row = t + b * classes;
        double lse = log_sum_exp(row, classes, inv_t);
        for (int64_t i = 0; i < classes; i++)
            add_grad(&p[b * classes + i], w, exp(row[i] * inv_t - lse));
    }
    return KDC_OK;
}

/* ---- kd against soft targets ---- */

/* Each target a probability, each row summing to 1 within SOFT_TARGET_SUM_TOL. */
static Status check_soft_targets(const float *p, int64_t batch, int64_t classes, Diag *d)
{
    for (int64_t b = 0; b < batch; b++) {
        double sum = 0;
        for (int64_t i = 0; i < classes; i++) {
            float v = p[b * classes + i];
            if (!(v >= 0 && isfinite(v)))
                return diag_error(d, "kd loss: soft target %g at batch row %lld, class %lld is "
                                  "not a probability", (double)v, (long long)b, (long long)i);
            sum += v;
        }
        if (fabs(sum - 1) > SOFT_TARGET_SUM_TOL)
            return diag_error(d, "kd loss: soft targets of batch row %lld sum to %.6g, not 1 "
                              "(teacher weights must sum to 1)", (long long)b, sum);
    }
    return KDC_OK;
}

/* sum_k p_k * (log p_k - log q_k) of one row, with 0 * log 0 = 0. */
static double kd_soft_row(const float *s, const float *p, int64_t k, double inv_t)
{
    double lse = log_sum_exp(s, k, inv_t), kl = 0;
    for (int64_t i = 0; i < k; i++)
        if (p[i] > 0)
            kl += p[i] * (log(p[i]) - (s[i] * inv_t - lse));
    return kl;
}

/* Adds scale_row * T * (q * sum(p) - p) into one row of grad_s. */
static void kd_soft_row_grad(const float *s, const float *p, int64_t k, double temp,
                             double scale_row, float *grad_s)
{
    double inv_t = 1.0 / temp, lse = log_sum_exp(s, k, inv_t), p_sum = 0;
    for (int64_t i = 0; i < k; i++)
        p_sum += p[i];
    for (int64_t i = 0; i < k; i++)
        add_grad(&grad_s[i], scale_row, temp * (exp(s[i] * inv_t - lse) * p_sum - p[i]));
}

Status loss_kd_soft(const float *s, const float *p, int64_t batch, int64_t classes,
                    double temperature, double scale, double *loss, float *grad_s, Diag *d)
{
    assert(s && p && loss);
    const char *name = "kd loss";
    if (check_shape(name, batch, classes, d) || check_temperature(name, temperature, d) ||
        check_scale(name, scale, d) || check_logits(name, "student", s, batch, classes, d) ||
        check_soft_targets(p, batch, classes, d))
        return KDC_ERR;
    double inv_t = 1.0 / temperature, total = 0;
    for (int64_t b = 0; b < batch; b++)
        total += kd_soft_row(s + b * classes, p + b * classes, classes, inv_t);
    total *= temperature * temperature / (double)batch;
    if (!isfinite(total))
        return diag_error(d, "kd loss: the loss is not finite at temperature %g (student logits "
                          "/ temperature overflow; use a larger temperature)", temperature);
    if (grad_s)
        for (int64_t b = 0; b < batch; b++)
            kd_soft_row_grad(s + b * classes, p + b * classes, classes, temperature,
                             scale / (double)batch, grad_s + b * classes);
    *loss = total;
    return KDC_OK;
}

/* ---- cross entropy with label smoothing and mixup ---- */

/* The target of one row: (1 - eps) * (lam * onehot(y) + (1 - lam) * onehot(y2)) + eps / K.
 * Without mixup y2 = y and lam = 1. */
typedef struct CeTarget {
    int32_t y, y2;
    double lam, eps;
} CeTarget;

static Status check_labels(const char *which, const int32_t *y, int64_t batch, int64_t classes,
                           Diag *d)
{
    for (int64_t b = 0; b < batch; b++)
        if (y[b] < 0 || y[b] >= classes)
            return diag_error(d, "ce loss: %s %d of batch row %lld is outside the model's %lld "
                              "classes", which, y[b], (long long)b, (long long)classes);
    return KDC_OK;
}

static Status check_ce(const float *s, const int32_t *y, const int32_t *y2, double lam,
                       int64_t batch, int64_t classes, double smoothing, double scale, Diag *d)
{
    const char *name = "ce loss";
    if (check_shape(name, batch, classes, d))
        return KDC_ERR;
    if (!(smoothing >= 0 && smoothing < 1))
        return diag_error(d, "ce loss: label smoothing must be in [0, 1), got %g", smoothing);
    if (y2 && !(lam >= 0 && lam <= 1))
        return diag_error(d, "ce loss: mixup weight lam must be in [0, 1], got %g", lam);
    if (check_scale(name, scale, d) || check_labels("label", y, batch, classes, d) ||
        (y2 && check_labels("mixup label", y2, batch, classes, d)))
        return KDC_ERR;
    return check_logits(name, "student", s, batch, classes, d);
}

/* CE of one row against one label, smoothed: (1 - eps) * (lse - s_y) + eps * (lse - mean s). */
static double ce_one_label(double lse, double mean_s, const float *s, int32_t y, double eps)
{
    return (1 - eps) * (lse - s[y]) + eps * (lse - mean_s);
}

/* Returns the row's loss and, if grad_s is not NULL, adds scale_row * (softmax(s) - target). */
static double ce_row(const float *s, int64_t k, CeTarget tg, double scale_row, float *grad_s)
{
    double lse = log_sum_exp(s, k, 1.0), mean_s = 0;
    for (int64_t i = 0; i < k; i++)
        mean_s += s[i];
    mean_s /= (double)k;
    double loss = tg.lam * ce_one_label(lse, mean_s, s, tg.y, tg.eps) +
                  (1 - tg.lam) * ce_one_label(lse, mean_s, s, tg.y2, tg.eps);
    if (grad_s)
        for (int64_t i = 0; i < k; i++) {
            double hard = tg.lam * (i == tg.y) + (1 - tg.lam) * (i == tg.y2);
            double target = (1 - tg.eps) * hard + tg.eps / (double)k;
            add_grad(&grad_s[i], scale_row, exp(s[i] - lse) - target);
        }
    return loss;
}

Status loss_ce(const float *s, const int32_t *y, const int32_t *y2, double lam, int64_t batch,
               int64_t classes, double smoothing, double scale, double *loss, float *grad_s,
               Diag *d)
{
    assert(s && y && loss);
    if (check_ce(s, y, y2, lam, batch, classes, smoothing, scale, d))
        return KDC_ERR;
    double total = 0, scale_row = scale / (double)batch;
    for (int64_t b = 0; b < batch; b++) {
        CeTarget tg = {y[b], y2 ? y2[b] : y[b], y2 ? lam : 1.0, smoothing};
        total += ce_row(s + b * classes, classes, tg, scale_row, grad_s ? grad_s + b * classes : NULL);
    }
    *loss = total / (double)batch;
    return KDC_OK;
}

/* ---- top-1 counting ---- */

int64_t loss_argmax(const float *row, int64_t classes)
{
    int64_t best = 0;
    for (int64_t i = 1; i < classes; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

int64_t loss_count_correct(const float *logits, const int32_t *y, int64_t batch, int64_t classes)
{
    int64_t correct = 0;
    for (int64_t b = 0; b < batch; b++)
        correct += loss_argmax(logits + b * classes, classes) == y[b];
    return correct;
}

int64_t loss_count_agree(const float *a, const float *b, int64_t batch, int64_t classes)
{
    int64_t agree = 0;
    for (int64_t r = 0; r < batch; r++)
        agree += loss_argmax(a + r * classes, classes) == loss_argmax(b + r * classes, classes);
    return agree;
}
