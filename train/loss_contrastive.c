/* loss_contrastive.c - the CRD loss: projection heads, memory banks, the NCE loss of both
 * sides and its gradient, negative sampling. Owns a Contrast's tensors and scratch (all
 * allocated in contrast_new, nothing per step). See loss_contrastive.h for the formulas.
 *
 * Per side, with x = log P - log c, log P = <m, v>/T - log Z and c = m Pn + eps:
 *   positive term  -log(P / (P + c))     = softplus(-x),  d/d<m,v> = -sigmoid(-x) / T
 *   negative term  -log(m Pn / (P + c))  = softplus(x) + log(c / (m Pn)),
 *                                           d/d<m,v> =  sigmoid(x) / T
 * which no temperature overflows. Since Z is a constant, each entry's gradient depends on
 * its own dot product only: the dot product, the loss term and the gradient accumulation
 * dv += g * row share one pass over the gathered row while it is in cache. Batch items are
 * independent and run on the thread pool; their losses are summed in item order, so results
 * do not depend on the thread count.
 */
#include "train/loss_contrastive.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/threads.h"

#define NORMALIZE_EPS 1e-12 /* guards a zero row; RepDistiller divides by the bare norm */
#define NCE_EPS 1e-7        /* ContrastLoss's eps */
/* How far ahead the row loops request memory rows. Measured at B 128, K 4096, feat_dim 128,
 * n_data 50000 (banks far larger than the caches): 2 rows ahead 104 ms a training call,
 * 8 rows 72 ms, 16 rows no better; without prefetching 320 ms. */
#define PREFETCH_ROWS 8

/* One projection head and its per-batch scratch. */
typedef struct Head {
    int64_t dim;            /* input features */
    float *w, *b, *dw, *db; /* [F, dim], [F] and their gradients, carved from params */
    float *y;               /* [B, F]: x W^T, then dloss/d(x W^T + b) */
    double *v, *dv, *norm;  /* [B, F] embeddings, [B, F] dloss/dv, [B] ||x W^T + b|| */
} Head;

struct Contrast {
    int64_t n_data, max_batch;
    int feat_dim;
    double temperature, momentum;
    bool z_set;
    double log_z_s, log_z_t;
    Head s, t;
    float *memory_s, *memory_t; /* [n_data, feat_dim] each, carved from memory */
    /* [B, 2] per item and side: the loss, and the log-sum-exp pieces of Z */
    double *item_loss, *item_max, *item_sum;
    float *params, *memory, *fscratch; /* the allocations everything is carved from */
    double *dscratch;
};

/* ---- creation ------------------------------------------------------------------------ */

/* *total += a * b elements; false on overflow of size_t. */
static bool add_elems(size_t *total, int64_t a, int64_t b)
{
    size_t ua = (size_t)a, ub = (size_t)b;
    if (ub && ua > SIZE_MAX / 8 / ub)
        return false;
    if (*total > SIZE_MAX / 8 - ua * ub)
        return false;
    *total += ua * ub;
    return true;
}

static Status check_config(int64_t s_dim, int64_t t_dim, int64_t n_data, int feat_dim, int64_t max_batch,
                           double temperature, double momentum, Diag *d)
{
    if (s_dim < 1 || t_dim < 1)
        return diag_error(d, "contrastive loss: feature sizes must be positive, got student %lld and teacher %lld",
                          (long long)s_dim, (long long)t_dim);
    if (s_dim > INT_MAX || t_dim > INT_MAX || max_batch > INT_MAX)
        return diag_error(d, "contrastive loss: sizes too large (student %lld, teacher %lld, batch %lld; at most %d)",
                          (long long)s_dim, (long long)t_dim, (long long)max_batch, INT_MAX);
    if (feat_dim < 1)
        return diag_error(d, "contrastive loss: feat_dim must be positive, got %d", feat_dim);
    if (max_batch < 1)
        return diag_error(d, "contrastive loss: max_batch must be positive, got %lld", (long long)max_batch);
    if (n_data < 2)
        return diag_error(d, "contrastive loss: needs a dataset of at least 2 examples to draw negatives, got %lld",
                          (long long)n_data);
    if (!(temperature > 0 && isnormal(temperature))) /* normal: 1/T stays finite */
        return diag_error(d, "contrastive loss: temperature must be a positive, finite, normal number, got %g",
                          temperature);
    if (!(momentum >= 0 && momentum < 1))
        return diag_error(d, "contrastive loss: momentum must be in [0, 1), got %g", momentum);
    return KDC_OK;
}

/* Points h's tensors into the blocks: w and b at *params, dw and db at *grads, scratch at
 * y and d; advances *params and *grads. */
static void carve_head(Head *h, int64_t f, int64_t mb, float **params, float **grads, float *y, double *d)
{
    h->w = *params, h->b = h->w + f * h->dim, *params = h->b + f;
    h->dw = *grads, h->db = h->dw + f * h->dim, *grads = h->db + f;
    h->y = y;
    h->v = d, h->dv = d + mb * f, h->norm = d + 2 * mb * f;
}

/* The four allocations; false if a size overflows or memory is short. */
static bool contrast_alloc(Contrast *c)
{
    int64_t f = c->feat_dim, mb = c->max_batch;
    size_t head = 0, bank = 0, fs = 0, ds = 0;
    if (!add_elems(&head, f, c->s.dim + c->t.dim + 2) || !add_elems(&bank, 2 * f, c->n_data) ||
        !add_elems(&fs, 2 * mb, f) || !add_elems(&ds, 4 * mb, f) || !add_elems(&ds, 8, mb))
        return false;
    c->params = calloc(2 * head, sizeof(float));
    c->memory = malloc(bank * sizeof(float));
    c->fscratch = malloc(fs * sizeof(float));
    c->dscratch = malloc(ds * sizeof(double));
    if (!c->params || !c->memory || !c->fscratch || !c->dscratch)
        return false;
    /* params: W_s, b_s, W_t, b_t, then their gradients in the same order. */
    float *params = c->params, *grads = c->params + head;
    double *d = c->dscratch;
    carve_head(&c->s, f, mb, &params, &grads, c->fscratch, d);
    carve_head(&c->t, f, mb, &params, &grads, c->fscratch + mb * f, d + mb * (2 * f + 1));
    c->item_loss = d + mb * (4 * f + 2), c->item_max = c->item_loss + 2 * mb, c->item_sum = c->item_max + 2 * mb;
    c->memory_s = c->memory, c->memory_t = c->memory + bank / 2;
    return true;
}

static void fill_uniform(Rng *rng, float *x, size_t n, double bound)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(bound * (2 * rng_uniform_double(rng) - 1));
}

/* nn.Linear's default initialisation, then ContrastMemory's; the order is part of the
 * seed's meaning. */
static void contrast_init_values(Contrast *c, uint64_t seed)
{
    Rng rng;
    size_t f = (size_t)c->feat_dim, bank = f * (size_t)c->n_data;
    double bound_s = 1 / sqrt((double)c->s.dim), bound_t = 1 / sqrt((double)c->t.dim);
    double stdv = 1 / sqrt(c->feat_dim / 3.0);
    rng_seed(&rng, seed);
    fill_uniform(&rng, c->s.w, f * (size_t)c->s.dim, bound_s);
    fill_uniform(&rng, c->s.b, f, bound_s);
    fill_uniform(&rng, c->t.w, f * (size_t)c->t.dim, bound_t);
    fill_uniform(&rng, c->t.b, f, bound_t);
    fill_uniform(&rng, c->memory_s, bank, stdv);
    fill_uniform(&rng, c->memory_t, bank, stdv);
}

Status contrast_new(int64_t s_dim, int64_t t_dim, int64_t n_data, int feat_dim, int64_t max_batch, double temperature,
                    double momentum, uint64_t seed, Contrast **out, Diag *d)
{
    *out = NULL;
    if (check_config(s_dim, t_dim, n_data, feat_dim, max_batch, temperature, momentum, d))
        return KDC_ERR;
    Contrast *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->s.dim = s_dim, c->t.dim = t_dim, c->n_data = n_data, c->feat_dim = feat_dim;
    c->max_batch = max_batch, c->temperature = temperature, c->momentum = momentum;
    if (!contrast_alloc(c))
        goto fail;
    contrast_init_values(c, seed);
    *out = c;
    return KDC_OK;
fail:
    contrast_free(c);
    return diag_error(d, "contrastive loss: out of memory for memory banks of %lld x %d and a batch of %lld",
                      (long long)n_data, feat_dim, (long long)max_batch);
}

void contrast_free(Contrast *c)
{
    if (!c)
        return;
    free(c->params);
    free(c->memory);
    free(c->fscratch);
    free(c->dscratch);
    free(c);
}

/* ---- accessors ----------------------------------------------------------------------- */

int contrast_params(Contrast *c, float **data, float **grad, int64_t *numel, int max)
{
    float *const d[4] = {c->s.w, c->s.b, c->t.w, c->t.b};
    float *const g[4] = {c->s.dw, c->s.db, c->t.dw, c->t.db};
    const int64_t f = c->feat_dim, n[4] = {f * c->s.dim, f, f * c->t.dim, f};
    for (int i = 0; i < 4 && i < max; i++) {
        data[i] = d[i];
        grad[i] = g[i];
        numel[i] = n[i];
    }
    return 4;
}

void contrast_zero_grads(Contrast *c)
{
    /* The gradients are contiguous, in the parameters' order, after the parameters. */
    size_t n = (size_t)c->feat_dim * (size_t)(c->s.dim + c->t.dim + 2);
    memset(c->s.dw, 0, n * sizeof(float));
}

ContrastTensors contrast_tensors(Contrast *c)
{
    return (ContrastTensors){c->s.w,  c->s.b,  c->t.w,  c->t.b,      c->s.dw,
                             c->s.db, c->t.dw, c->t.db, c->memory_s, c->memory_t};
}

bool contrast_log_z(const Contrast *c, double *log_z_s, double *log_z_t)
{
    if (c->z_set) {
        *log_z_s = c->log_z_s;
        *log_z_t = c->log_z_t;
    }
    return c->z_set;
}

Status contrast_set_log_z(Contrast *c, double log_z_s, double log_z_t, Diag *d)
{
    if (!isfinite(log_z_s) || !isfinite(log_z_t))
        return diag_error(d, "contrastive loss: log Z must be finite, got %g and %g", log_z_s, log_z_t);
    c->log_z_s = log_z_s, c->log_z_t = log_z_t, c->z_set = true;
    return KDC_OK;
}

void contrast_sample(const Contrast *c, const int64_t *idx, int64_t batch, int negatives, Rng *rng,
                     int64_t *contrast_idx)
{
    assert(negatives >= 0);
    for (int64_t b = 0; b < batch; b++) {
        int64_t *row = contrast_idx + b * ((int64_t)negatives + 1);
        row[0] = idx[b];
        /* Draw from the n_data - 1 others and step over the positive. */
        for (int64_t k = 1; k <= negatives; k++) {
            int64_t r = (int64_t)rng_below(rng, (uint64_t)(c->n_data - 1));
            row[k] = r >= idx[b] ? r + 1 : r;
        }
    }
}

/* ---- heads --------------------------------------------------------------------------- */

/* h->v [B, F] = normalize(x W^T + b), h->norm [B] = ||x W^T + b||. */
static void head_forward(const Head *h, int f, const float *x, int64_t batch)
{
    int dim = (int)h->dim;
    blas_sgemm(false, true, (int)batch, f, dim, 1.0f, x, dim, h->w, dim, 0.0f, h->y, f);
    for (int64_t b = 0; b < batch; b++) {
        double *vb = h->v + b * f, sq = 0;
        for (int k = 0; k < f; k++) {
            vb[k] = (double)h->y[b * f + k] + h->b[k];
            sq += vb[k] * vb[k];
        }
        h->norm[b] = sqrt(sq);
        double inv = 1 / fmax(h->norm[b], NORMALIZE_EPS);
        for (int k = 0; k < f; k++)
            vb[k] *= inv;
    }
}

/* From h->dv: dy = dloss/d(x W^T + b) into h->y, then dW += dy^T x, db += sum_b dy and,
 * if dx is not NULL, dx += dy W. Below the clamp the norm is the constant 1e-12 and only
 * the numerator carries gradient. */
static void head_backward(const Head *h, int f, const float *x, int64_t batch, float *dx)
{
    int dim = (int)h->dim;
    for (int64_t b = 0; b < batch; b++) {
        const double *vb = h->v + b * f, *gb = h->dv + b * f;
        double along = 0, n = h->norm[b];
        if (n >= NORMALIZE_EPS)
            for (int k = 0; k < f; k++)
                along += vb[k] * gb[k];
        n = fmax(n, NORMALIZE_EPS);
        for (int k = 0; k < f; k++)
            h->y[b * f + k] = (float)((gb[k] - vb[k] * along) / n);
    }
    for (int k = 0; k < f; k++) {
        double sum = 0;
        for (int64_t b = 0; b < batch; b++)
            sum += h->y[b * f + k];
        h->db[k] = (float)((double)h->db[k] + sum);
    }
    blas_sgemm(true, false, f, dim, (int)batch, 1.0f, h->y, f, x, dim, 1.0f, h->dw, dim);
    if (dx)
        blas_sgemm(false, false, (int)batch, dim, f, 1.0f, h->y, f, h->w, dim, 1.0f, dx, dim);
}

/* ---- the contrast pass ----------------------------------------------------------------- */

/* What every batch item needs; log_c = log(m Pn + eps), neg_const = log(c / (m Pn)). */
typedef struct ContrastPass {
    Contrast *c;
    const int64_t *contrast_idx;
    int negatives;
    double inv_t, log_c, neg_const;
    double grad_unit; /* scale / (B T) */
    bool want_grad;
} ContrastPass;

/* <row, v> over n entries; four chains so the additions overlap. */
static double dot_row(const float *row, const double *v, int n)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += row[i] * v[i];
        a1 += row[i + 1] * v[i + 1];
        a2 += row[i + 2] * v[i + 2];
        a3 += row[i + 3] * v[i + 3];
    }
    for (; i < n; i++)
        a0 += row[i] * v[i];
    return (a0 + a1) + (a2 + a3);
}

/* Rows are scattered over banks far larger than the caches, so the loops are bound by
 * memory latency unless the row PREFETCH_ROWS entries ahead is requested early. (Walks the
 * cache lines by address: GCC 12 dropped every prefetch of a loop over row + i followed by
 * one of row + f - 1.) */
static void prefetch_row(const float *row, int f)
{
    uintptr_t line = (uintptr_t)row & ~(uintptr_t)63, last = (uintptr_t)(row + f - 1);
    for (; line <= last; line += 64)
        __builtin_prefetch((const void *)line);
}

/* One item of one side: the embedding v [F] against memory rows rows[0..K]. Returns
 * log-sum-exp pieces of <row, v>/T in *max_out and *sum_out (sum of exp(. - max)). */
static void side_lse(const ContrastPass *p, const float *memory, const double *v, const int64_t *rows, double *max_out,
                     double *sum_out)
{
    int f = p->c->feat_dim;
    int64_t last = p->negatives;
    double m = -INFINITY, sum = 0;
    for (int64_t k = 0; k <= last; k++) {
        if (k <= last - PREFETCH_ROWS)
            prefetch_row(memory + rows[k + PREFETCH_ROWS] * f, f);
        double x = dot_row(memory + rows[k] * f, v, f) * p->inv_t;
        if (x > m) {
            sum = sum * exp(m - x) + 1;
            m = x;
        } else {
            sum += exp(x - m);
        }
    }
    *max_out = m;
    *sum_out = sum;
}

static void z_item(void *ctx, int item, int thread)
{
    const ContrastPass *p = ctx;
    const Contrast *c = p->c;
    const int64_t *rows = p->contrast_idx + (int64_t)item * ((int64_t)p->negatives + 1);
    int64_t f = c->feat_dim;
    (void)thread;
    side_lse(p, c->memory_t, c->s.v + item * f, rows, &c->item_max[2 * item], &c->item_sum[2 * item]);
    side_lse(p, c->memory_s, c->t.v + item * f, rows, &c->item_max[2 * item + 1], &c->item_sum[2 * item + 1]);
}

/* Z = n_data * mean exp(<row, v>/T) over the batch, per side, from the items' pieces;
 * committed only when both are finite (a bank holding non-finite values is an error). */
static Status init_log_z(Contrast *c, ContrastPass *p, int64_t batch, Diag *d)
{
    threads_parallel_for((int)batch, z_item, p);
    double log_count = log((double)batch * (p->negatives + 1.0)), log_n = log((double)c->n_data);
    double log_z[2];
    for (int side = 0; side < 2; side++) {
        double m = -INFINITY, sum = 0;
        for (int64_t b = 0; b < batch; b++)
            m = fmax(m, c->item_max[2 * b + side]);
        for (int64_t b = 0; b < batch; b++)
            sum += c->item_sum[2 * b + side] * exp(c->item_max[2 * b + side] - m);
        log_z[side] = m + log(sum) - log_count + log_n;
    }
    if (!isfinite(log_z[0]) || !isfinite(log_z[1]))
        return diag_error(d, "contrastive loss: the first batch gives a non-finite normalizer Z; are the "
                             "memory banks finite?");
    c->log_z_s = log_z[0], c->log_z_t = log_z[1], c->z_set = true;
    return KDC_OK;
}

/* dv[0..n) += g * row[0..n). */
static void add_row(double *dv, double g, const float *row, int n)
{
    for (int i = 0; i < n; i++)
        dv[i] += g * row[i];
}

/* One item of one side: returns its summed loss terms and, if dv is not NULL, writes
 * scale * dloss/dv [F] (the 1/B included). A negative's term is softplus(x) =
 * log(1 + u), u = exp(x): the factors 1 + u are multiplied up and logged once per 1e250 of
 * growth rather than one log1p each; x > 30 (u > 1e13) takes the log-space form instead, so
 * the product cannot overflow. */
static double side_loss(const ContrastPass *p, const float *memory, const double *v, double log_z, const int64_t *rows,
                        double *dv)
{
    int f = p->c->feat_dim;
    int64_t last = p->negatives;
    double loss = (double)last * p->neg_const, shift = log_z + p->log_c, product = 1;
    if (dv)
        memset(dv, 0, (size_t)f * sizeof *dv);
    for (int64_t k = 0; k <= last; k++) {
        if (k <= last - PREFETCH_ROWS)
            prefetch_row(memory + rows[k + PREFETCH_ROWS] * f, f);
        const float *row = memory + rows[k] * f;
        double x = dot_row(row, v, f) * p->inv_t - shift, g;
        if (!isfinite(x))
            return NAN; /* only a non-finite memory row does this; the caller reports it */
        if (k == 0) {
            double e = exp(-fabs(x));
            loss += fmax(-x, 0) + log1p(e);
            g = x >= 0 ? -e / (1 + e) : -1 / (1 + e); /* -sigmoid(-x) */
        } else if (x > 30) {
            double e = exp(-x);
            loss += x + log1p(e);
            g = 1 / (1 + e);
        } else {
            double u = exp(x);
            product *= 1 + u;
            g = u / (1 + u);
            if (product > 1e250) {
                loss += log(product);
                product = 1;
            }
        }
        if (dv)
            add_row(dv, g * p->grad_unit, row, f);
    }
    return loss + log(product);
}

static void loss_item(void *ctx, int item, int thread)
{
    const ContrastPass *p = ctx;
    Contrast *c = p->c;
    const int64_t *rows = p->contrast_idx + (int64_t)item * ((int64_t)p->negatives + 1);
    int64_t off = (int64_t)item * c->feat_dim;
    (void)thread;
    /* The student embedding meets the teacher bank (out_v1), the teacher's the student's. */
    c->item_loss[2 * item] =
        side_loss(p, c->memory_t, c->s.v + off, c->log_z_s, rows, p->want_grad ? c->s.dv + off : NULL);
    c->item_loss[2 * item + 1] =
        side_loss(p, c->memory_s, c->t.v + off, c->log_z_t, rows, p->want_grad ? c->t.dv + off : NULL);
}

/* ---- memory update ------------------------------------------------------------------- */

/* bank_row = normalize(momentum * bank_row + (1 - momentum) * v), in double until stored. */
static void update_row(float *bank_row, const double *v, int f, double momentum)
{
    double sq = 0;
    for (int k = 0; k < f; k++) {
        double u = momentum * bank_row[k] + (1 - momentum) * v[k];
        sq += u * u;
    }
    double inv = 1 / fmax(sqrt(sq), NORMALIZE_EPS);
    for (int k = 0; k < f; k++)
        bank_row[k] = (float)((momentum * bank_row[k] + (1 - momentum) * v[k]) * inv);
}

/* Writes the positives' rows last to first, skipping an index already written by a later
 * item: the last occurrence wins and every written row starts from the old bank. */
static void update_memories(Contrast *c, const int64_t *contrast_idx, int64_t batch, int negatives)
{
    int f = c->feat_dim;
    int64_t stride = (int64_t)negatives + 1;
    for (int64_t b = batch - 1; b >= 0; b--) {
        int64_t r = contrast_idx[b * stride];
        bool written = false;
        for (int64_t later = b + 1; later < batch && !written; later++)
            written = contrast_idx[later * stride] == r;
        if (written)
            continue;
        update_row(c->memory_s + r * f, c->s.v + b * f, f, c->momentum);
        update_row(c->memory_t + r * f, c->t.v + b * f, f, c->momentum);
    }
}

/* ---- the loss ------------------------------------------------------------------------ */

static Status check_features(const char *who, const float *x, int64_t batch, int64_t dim, Diag *d)
{
    for (int64_t i = 0; i < batch * dim; i++)
        if (!isfinite(x[i]))
            return diag_error(d,
                              "contrastive loss: non-finite %s feature in batch row %lld (training diverged? try a "
                              "lower learning rate)",
                              who, (long long)(i / dim));
    return KDC_OK;
}

static Status check_call(const Contrast *c, const float *s, const float *t, const int64_t *contrast_idx, int64_t batch,
                         int negatives, Diag *d)
{
    if (batch < 1 || batch > c->max_batch)
        return diag_error(d, "contrastive loss: batch of %lld is outside [1, %lld] (the max_batch of contrast_new)",
                          (long long)batch, (long long)c->max_batch);
    if (negatives < 1)
        return diag_error(d, "contrastive loss: needs at least 1 negative per example, got %d", negatives);
    int64_t stride = (int64_t)negatives + 1;
    for (int64_t i = 0; i < batch * stride; i++)
        if (contrast_idx[i] < 0 || contrast_idx[i] >= c->n_data)
            return diag_error(d,
                              "contrastive loss: index %lld at batch row %lld, column %lld is outside the "
                              "dataset [0, %lld)",
                              (long long)contrast_idx[i], (long long)(i / stride), (long long)(i % stride),
                              (long long)c->n_data);
    if (check_features("student", s, batch, c->s.dim, d))
        return KDC_ERR;
    return check_features("teacher", t, batch, c->t.dim, d);
}

/* Diverged head weights show as a non-finite norm (finite entries cannot overflow it). */
static Status check_embeddings(const Contrast *c, int64_t batch, Diag *d)
{
    for (int64_t b = 0; b < batch; b++)
        if (!isfinite(c->s.norm[b]) || !isfinite(c->t.norm[b]))
            return diag_error(d,
                              "contrastive loss: non-finite %s embedding in batch row %lld (the projection head "
                              "diverged? try a lower learning rate)",
                              isfinite(c->s.norm[b]) ? "teacher" : "student", (long long)b);
    return KDC_OK;
}

Status loss_contrastive(Contrast *c, const float *s, const float *t, const int64_t *contrast_idx, int64_t batch,
                        int negatives, double scale, double *loss, float *grad_s, Diag *d)
{
    if (check_call(c, s, t, contrast_idx, batch, negatives, d))
        return KDC_ERR;
    head_forward(&c->s, c->feat_dim, s, batch);
    head_forward(&c->t, c->feat_dim, t, batch);
    if (check_embeddings(c, batch, d))
        return KDC_ERR;
    double m_pn = (double)negatives / (double)c->n_data;
    ContrastPass p = {.c = c,
                      .contrast_idx = contrast_idx,
                      .negatives = negatives,
                      .inv_t = 1 / c->temperature,
                      .log_c = log(m_pn + NCE_EPS),
                      .neg_const = log1p(NCE_EPS / m_pn),
                      .grad_unit = scale / ((double)batch * c->temperature),
                      .want_grad = grad_s != NULL};
    bool z_new = !c->z_set;
    if (z_new && init_log_z(c, &p, batch, d))
        return KDC_ERR;
    threads_parallel_for((int)batch, loss_item, &p);
    double sum = 0;
    for (int64_t i = 0; i < 2 * batch; i++) {
        if (!isfinite(c->item_loss[i])) {
            c->z_set = !z_new; /* a failed call leaves the state as it was */
            return diag_error(d, "contrastive loss: non-finite score in batch row %lld; are the memory banks finite?",
                              (long long)(i / 2));
        }
        sum += c->item_loss[i];
    }
    *loss = sum / (double)batch;
    if (!grad_s)
        return KDC_OK;
    head_backward(&c->s, c->feat_dim, s, batch, grad_s);
    head_backward(&c->t, c->feat_dim, t, batch, NULL); /* the teacher feature is a constant */
    update_memories(c, contrast_idx, batch, negatives);
    return KDC_OK;
}
