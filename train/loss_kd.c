/* loss_kd.c - distillation loss (KL on softened outputs + hard-label cross
 * entropy), its gradient with respect to the student logits, and top-1 counts.
 *
 * Gradients per row, before the 1/B of the batch mean, with q = softmax(s/T),
 * p = softmax(t/T) and r = softmax(s):
 *   d/ds [T^2 * KL(p || q)] = T * (q - p)        d/ds CE = r - onehot(y)
 */
#include "train/loss_kd.h"

#include <math.h>
#include <stddef.h>

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

/* One row: returns the (unaveraged) loss and writes scale * dloss/ds into ds. */
static double loss_kd_row(const float *s, const float *t, int32_t y, int64_t k, double alpha,
                          double temp, double scale, float *ds)
{
    double inv_t = 1.0 / temp, loss = 0;
    double lse_s = log_sum_exp(s, k, 1.0);
    double lse_st = alpha > 0 ? log_sum_exp(s, k, inv_t) : 0;
    double lse_tt = alpha > 0 ? log_sum_exp(t, k, inv_t) : 0;
    if (alpha < 1)
        loss += (1 - alpha) * (lse_s - s[y]);
    for (int64_t i = 0; i < k; i++) {
        double grad = 0;
        if (alpha > 0) {
            double log_q = s[i] * inv_t - lse_st, log_p = t[i] * inv_t - lse_tt;
            double p = exp(log_p), q = exp(log_q);
            loss += alpha * temp * temp * p * (log_p - log_q);
            grad += alpha * temp * (q - p);
        }
        if (alpha < 1)
            grad += (1 - alpha) * (exp(s[i] - lse_s) - (i == y));
        if (ds)
            ds[i] = (float)(grad * scale);
    }
    return loss;
}

static Status loss_kd_check(const float *s, const float *t, const int32_t *y, int64_t batch,
                            int64_t classes, double alpha, double temperature, Diag *d)
{
    if (batch <= 0 || classes <= 0)
        return diag_error(d, "kd loss: empty batch (%lld x %lld)", (long long)batch,
                          (long long)classes);
    if (!(alpha >= 0 && alpha <= 1))
        return diag_error(d, "kd loss: alpha must be in [0, 1], got %g", alpha);
    if (alpha > 0 && !(temperature > 0 && isfinite(temperature)))
        return diag_error(d, "kd loss: temperature must be positive, got %g", temperature);
    if ((alpha > 0 && !t) || (alpha < 1 && !y))
        return diag_error(d, "kd loss: %s are needed with alpha %g",
                          alpha > 0 && !t ? "teacher logits" : "labels", alpha);
    for (int64_t b = 0; b < batch; b++) {
        if (y && alpha < 1 && (y[b] < 0 || y[b] >= classes))
            return diag_error(d, "kd loss: label %d of batch row %lld is outside the model's %lld "
                              "classes", y[b], (long long)b, (long long)classes);
        for (int64_t i = 0; i < classes; i++)
            if (!isfinite(s[b * classes + i]) || (alpha > 0 && !isfinite(t[b * classes + i])))
                return diag_error(d, "kd loss: non-finite %s logit in batch row %lld (training "
                                  "diverged? try a lower learning rate)",
                                  isfinite(s[b * classes + i]) ? "teacher" : "student",
                                  (long long)b);
    }
    return KDC_OK;
}

Status loss_kd(const float *s, const float *t, const int32_t *y, int64_t batch, int64_t classes,
               double alpha, double temperature, double *loss, float *ds, Diag *d)
{
    if (loss_kd_check(s, t, y, batch, classes, alpha, temperature, d))
        return KDC_ERR;
    double total = 0, scale = 1.0 / (double)batch;
    for (int64_t b = 0; b < batch; b++) {
        size_t off = (size_t)(b * classes);
        total += loss_kd_row(s + off, t ? t + off : NULL, y ? y[b] : 0, classes, alpha,
                             temperature, scale, ds ? ds + off : NULL);
    }
    *loss = total * scale;
    return KDC_OK;
}

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
