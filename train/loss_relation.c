/* loss_relation.c - relational distillation losses (RKD distance + angle, PKT) on flattened
 * embeddings and their gradients with respect to the student. Owns only per-call scratch.
 *
 * RKD is evaluated on the squared pairwise distances D_ij = |x_i - x_j|^2, taken directly
 * from the rows (no |x|^2 + |y|^2 - 2<x, y> cancellation). The angle term is a function of
 * D too, by the law of cosines <x_b - x_a, x_c - x_a> = (D_ab + D_ac - D_bc) / 2:
 *   angle_abc = (D_ab + D_ac - D_bc) / (2 c_ab c_ac),  c = max(sqrt(D), 1e-12),
 * the same function of x as RepDistiller's normalize + bmm, at O(B^2 Ds + B^3) instead of
 * O(B^3 Ds). The gradient is gathered as G = dL/dD [B, B] and mapped back once:
 * dL/dx_k = 2 sum_l (G_kl + G_lk) (x_k - x_l). Clamped norms pass no gradient to the norm,
 * as torch's clamp_min and norm backward do. Where F.normalize's clamp is active (a pair
 * closer than 1e-12, e.g. a student that maps two examples to the same point) torch's
 * gradient carries a 1/eps ~ 1e12 factor; routed through D it would cancel between huge
 * terms, so those triples take the inner product and its gradient from the rows themselves.
 */
#include "train/loss_relation.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define PDIST_EPS 1e-12     /* RepDistiller's pdist clamps the squared distance here */
#define NORMALIZE_EPS 1e-12 /* F.normalize clamps the norm here */
#define PKT_EPS 1e-7

RelationOptions relation_options_default(void)
{
    return (RelationOptions){.distance_weight = 25, .angle_weight = 50};
}

/* F.smooth_l1_loss with beta 1, one element, and its derivative. */
static double smooth_l1(double x)
{
    double a = fabs(x);
    return a < 1 ? 0.5 * x * x : a - 0.5;
}

static double smooth_l1_grad(double x)
{
    return x < -1 ? -1 : x > 1 ? 1 : x;
}

/* Zeroed room for `matrices` [B, B] matrices followed by `extra` doubles; NULL when the
 * count overflows or memory is short. */
static double *alloc_pairs(int64_t batch, size_t matrices, size_t extra)
{
    size_t b = (size_t)batch, limit = SIZE_MAX / sizeof(double);
    if (extra > limit || b > limit / b || b * b > (limit - extra) / matrices)
        return NULL;
    return calloc(matrices * b * b + extra, sizeof(double));
}

static Status check_finite(const char *name, const char *who, const float *x, int64_t batch, int64_t dim, Diag *d)
{
    for (int64_t i = 0; i < batch * dim; i++)
        if (!isfinite(x[i]))
            return diag_error(d,
                              "%s: non-finite %s feature in batch row %lld (training "
                              "diverged? try a lower learning rate)",
                              name, who, (long long)(i / dim));
    return KDC_OK;
}

/* Sizes and values shared by both losses; name starts the message ("relation loss"). */
static Status check_inputs(const char *name, const float *s, const float *t, int64_t batch, int64_t s_dim,
                           int64_t t_dim, Diag *d)
{
    if (batch < 2)
        return diag_error(d, "%s: needs a batch of at least 2 examples to compare pairs, got %lld", name,
                          (long long)batch);
    if (s_dim < 1 || t_dim < 1)
        return diag_error(d,
                          "%s: feature sizes must be positive, got student %lld and teacher "
                          "%lld",
                          name, (long long)s_dim, (long long)t_dim);
    assert(s && t);
    if (check_finite(name, "student", s, batch, s_dim, d))
        return KDC_ERR;
    return check_finite(name, "teacher", t, batch, t_dim, d);
}

/* ---- RKD ---------------------------------------------------------------------------- */

/* One side of RKD: rows x [B, dim], squared distances d2 [B, B] and inverse clamped norms
 * inv [B, B] = 1 / max(sqrt(d2), 1e-12). */
typedef struct RkdSide {
    const float *x;
    int64_t dim;
    double *d2, *inv;
} RkdSide;

/* Per-call scratch. half [B, B]: the student's 1 / (2 d2) where F.normalize's clamp lets
 * gradient reach the norm, else 0. g2 [B, B]: dL/dD of the student. u [B, B]: one anchor's
 * dL/d<x_b - x_a, x_c - x_a> for triples with a clamped pair. dx [B, Ds]: dL/ds. */
typedef struct RkdScratch {
    double *block;
    int64_t batch;
    RkdSide s, t;
    double *half, *g2, *u, *dx;
} RkdScratch;

static bool rkd_scratch_alloc(RkdScratch *w, int64_t batch, int64_t s_dim)
{
    /* The caller's s exists, so B * Ds fits in memory already. */
    w->block = alloc_pairs(batch, 7, (size_t)batch * (size_t)s_dim);
    if (!w->block)
        return false;
    double *p = w->block;
    size_t nn = (size_t)batch * (size_t)batch;
    w->batch = batch;
    w->s.d2 = p, w->t.d2 = p + nn, w->s.inv = p + 2 * nn, w->t.inv = p + 3 * nn;
    w->half = p + 4 * nn, w->g2 = p + 5 * nn, w->u = p + 6 * nn, w->dx = p + 7 * nn;
    return true;
}

/* d2 [B, B] = squared Euclidean distances between the rows of x [B, dim]. */
static void pair_sq_dists(const float *x, int64_t batch, int64_t dim, double *d2)
{
    for (int64_t i = 0; i < batch; i++) {
        d2[i * batch + i] = 0;
        for (int64_t j = i + 1; j < batch; j++) {
            const float *xi = x + i * dim, *xj = x + j * dim;
            double sum = 0;
            for (int64_t k = 0; k < dim; k++) {
                double diff = (double)xi[k] - xj[k];
                sum += diff * diff;
            }
            d2[i * batch + j] = d2[j * batch + i] = sum;
        }
    }
}

/* pdist with squared=False: sqrt(max(D, eps)), the diagonal being overwritten with 0. */
static double pdist_entry(const double *d2, int64_t batch, int64_t i, int64_t j)
{
    return i == j ? 0 : sqrt(fmax(d2[i * batch + j], PDIST_EPS));
}

/* Mean of pdist's positive entries: every off-diagonal one, since the clamp keeps them
 * >= 1e-6 and the diagonal is exactly 0. */
static double pdist_mean(const double *d2, int64_t batch)
{
    double sum = 0;
    for (int64_t i = 0; i < batch; i++)
        for (int64_t j = 0; j < batch; j++)
            sum += pdist_entry(d2, batch, i, j);
    return sum / ((double)batch * (double)(batch - 1));
}

/* loss_d; with g2, adds weight * dloss_d/dD_s into it. The diagonal contributes
 * smooth_l1(0 - 0) = 0 to the sum but counts in the B^2 of the mean. */
static double distance_term(const double *s2, const double *t2, int64_t batch, double weight, double *g2)
{
    double mean_s = pdist_mean(s2, batch), mean_t = pdist_mean(t2, batch);
    double n2 = (double)batch * (double)batch, loss = 0, through_mean = 0;
    for (int64_t i = 0; i < batch; i++)
        for (int64_t j = 0; j < batch; j++) {
            double ds = pdist_entry(s2, batch, i, j);
            double diff = ds / mean_s - pdist_entry(t2, batch, i, j) / mean_t;
            loss += smooth_l1(diff);
            through_mean += smooth_l1_grad(diff) * ds;
        }
    if (!g2)
        return loss / n2;
    /* d(ds_ij / mean_s)/d ds_kl = [ij = kl] / mean_s - ds_ij / (mean_s^2 B(B-1)) off the
     * diagonal; then d ds/dD = 1 / (2 ds) where the clamp is inactive. */
    double mean_part = through_mean / (mean_s * mean_s * (double)batch * (double)(batch - 1));
    for (int64_t i = 0; i < batch; i++)
        for (int64_t j = 0; j < batch; j++) {
            if (i == j || s2[i * batch + j] < PDIST_EPS)
                continue;
            double ds = pdist_entry(s2, batch, i, j);
            double diff = ds / mean_s - pdist_entry(t2, batch, i, j) / mean_t;
            double g_ds = (smooth_l1_grad(diff) / mean_s - mean_part) * weight / n2;
            g2[i * batch + j] += g_ds / (2 * ds);
        }
    return loss / n2;
}

/* Whether F.normalize's clamp leaves |x_j - x_i| alone (norm >= 1e-12). */
static bool norm_open(double d2)
{
    return d2 >= NORMALIZE_EPS * NORMALIZE_EPS;
}

/* inv = 1 / max(sqrt(d2), 1e-12); half (if not NULL) = 1 / (2 d2) where the clamp is
 * open (the norm's share of the gradient), else 0. */
static void clamped_norms(const double *d2, int64_t batch, double *inv, double *half)
{
    for (int64_t i = 0; i < batch * batch; i++) {
        inv[i] = 1 / fmax(sqrt(d2[i]), NORMALIZE_EPS);
        if (half)
            half[i] = norm_open(d2[i]) ? 0.5 / d2[i] : 0;
    }
}

/* <x_b - x_a, x_c - x_a>: the law of cosines, or the rows themselves when a pair is clamped
 * (there F.normalize's 1/eps would magnify the cancellation); 0 if either vector is. */
static double dot_at(const RkdSide *x, int64_t batch, int64_t a, int64_t b, int64_t c)
{
    double dab = x->d2[a * batch + b], dac = x->d2[a * batch + c];
    if (norm_open(dab) && norm_open(dac))
        return 0.5 * (dab + dac - x->d2[b * batch + c]);
    if (dab == 0 || dac == 0)
        return 0;
    const float *xa = x->x + a * x->dim, *xb = x->x + b * x->dim, *xc = x->x + c * x->dim;
    double dot = 0;
    for (int64_t k = 0; k < x->dim; k++)
        dot += ((double)xb[k] - xa[k]) * ((double)xc[k] - xa[k]);
    return dot;
}

/* Triples (a, b, c), c != a: returns the sum of their smooth_l1 and, with grad, adds their
 * gradient into g2, or into u (setting *clamped) for the inner product of a clamped pair. */
static double angle_triples(RkdScratch *w, int64_t a, int64_t b, double per, bool grad, bool *clamped)
{
    int64_t batch = w->batch, ab = a * batch + b;
    double loss = 0, g_ab = 0;
    for (int64_t c = 0; c < batch; c++) {
        if (c == a)
            continue;
        int64_t ac = a * batch + c;
        double as = dot_at(&w->s, batch, a, b, c) * w->s.inv[ab] * w->s.inv[ac];
        double diff = as - dot_at(&w->t, batch, a, b, c) * w->t.inv[ab] * w->t.inv[ac];
        loss += smooth_l1(diff);
        if (!grad)
            continue;
        double g = per * smooth_l1_grad(diff), g_dot = g * w->s.inv[ab] * w->s.inv[ac];
        g_ab -= g * as * w->half[ab];
        w->g2[ac] -= g * as * w->half[ac];
        if (norm_open(w->s.d2[ab]) && norm_open(w->s.d2[ac])) {
            g_ab += 0.5 * g_dot;
            w->g2[ac] += 0.5 * g_dot;
            w->g2[b * batch + c] -= 0.5 * g_dot;
        } else {
            w->u[b * batch + c] += g_dot;
            *clamped = true;
        }
    }
    w->g2[ab] += g_ab;
    return loss;
}

/* to += u (p - q), from -= u (p - q) over dim entries. */
static void add_scaled_diff(double *to, double *from, double u, const float *p, const float *q, int64_t dim)
{
    for (int64_t k = 0; k < dim; k++) {
        double v = u * ((double)p[k] - q[k]);
        to[k] += v;
        from[k] -= v;
    }
}

/* Moves anchor a's u into dx and clears it: with v_ab = x_b - x_a,
 * d<v_ab, v_ac> = <dv_ab, v_ac> + <v_ab, dv_ac> (a zero vector contributes nothing). */
static void apply_clamped(RkdScratch *w, int64_t a)
{
    int64_t batch = w->batch, dim = w->s.dim;
    const float *x = w->s.x;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t c = 0; c < batch; c++) {
            double u = w->u[b * batch + c];
            if (u == 0)
                continue;
            w->u[b * batch + c] = 0;
            if (w->s.d2[a * batch + c] != 0)
                add_scaled_diff(w->dx + b * dim, w->dx + a * dim, u, x + c * dim, x + a * dim, dim);
            if (w->s.d2[a * batch + b] != 0)
                add_scaled_diff(w->dx + c * dim, w->dx + a * dim, u, x + b * dim, x + a * dim, dim);
        }
}

/* loss_a; with grad, adds weight * dloss_a/ds into g2 and dx. Triples with b == a or c == a
 * have a zero normalized difference on both sides (angle 0 - 0): nothing to add or sum. */
static double angle_term(RkdScratch *w, double weight, bool grad)
{
    int64_t batch = w->batch;
    double n3 = (double)batch * (double)batch * (double)batch, loss = 0;
    clamped_norms(w->s.d2, batch, w->s.inv, w->half);
    clamped_norms(w->t.d2, batch, w->t.inv, NULL);
    for (int64_t a = 0; a < batch; a++) {
        bool clamped = false;
        for (int64_t b = 0; b < batch; b++)
            if (b != a)
                loss += angle_triples(w, a, b, weight / n3, grad, &clamped);
        if (clamped)
            apply_clamped(w, a);
    }
    return loss / n3;
}

/* dx_k += 2 sum_l (G_kl + G_lk) (s_k - s_l), the rows' share of dL/dD. */
static void add_grad_from_dist(const RkdScratch *w)
{
    int64_t batch = w->batch, dim = w->s.dim;
    const double *g2 = w->g2;
    for (int64_t k = 0; k < batch; k++)
        for (int64_t l = 0; l < batch; l++) {
            double wkl = 2 * (g2[k * batch + l] + g2[l * batch + k]);
            const float *sk = w->s.x + k * dim, *sl = w->s.x + l * dim;
            double *dk = w->dx + k * dim;
            if (l == k || wkl == 0)
                continue;
            for (int64_t m = 0; m < dim; m++)
                dk[m] += wkl * ((double)sk[m] - sl[m]);
        }
}

/* terms[0] = loss_d and terms[1] = loss_a (0 when its weight is 0, skipped); with grad_s,
 * adds scale * d(weighted sum)/ds. Inputs already checked. */
static Status relation_eval(const float *s, const float *t, int64_t batch, int64_t s_dim, int64_t t_dim,
                            RelationOptions o, double scale, double terms[2], float *grad_s, Diag *d)
{
    RkdScratch w;
    if (!rkd_scratch_alloc(&w, batch, s_dim))
        return diag_error(d, "relation loss: out of memory for a batch of %lld", (long long)batch);
    w.s.x = s, w.s.dim = s_dim, w.t.x = t, w.t.dim = t_dim;
    pair_sq_dists(s, batch, s_dim, w.s.d2);
    pair_sq_dists(t, batch, t_dim, w.t.d2);
    terms[0] = terms[1] = 0;
    if (o.distance_weight != 0)
        terms[0] = distance_term(w.s.d2, w.t.d2, batch, o.distance_weight, grad_s ? w.g2 : NULL);
    if (o.angle_weight != 0)
        terms[1] = angle_term(&w, o.angle_weight, grad_s != NULL);
    if (grad_s) {
        add_grad_from_dist(&w);
        for (int64_t i = 0; i < batch * s_dim; i++)
            grad_s[i] = (float)((double)grad_s[i] + scale * w.dx[i]);
    }
    free(w.block);
    return KDC_OK;
}

static Status check_weight(const char *what, double weight, Diag *d)
{
    if (!(weight >= 0 && isfinite(weight)))
        return diag_error(d, "relation loss: %s must be finite and >= 0, got %g", what, weight);
    return KDC_OK;
}

Status loss_relation(const float *s, const float *t, int64_t batch, int64_t s_dim, int64_t t_dim,
                     const RelationOptions *o, double scale, double *loss, float *grad_s, Diag *d)
{
    RelationOptions opt = o ? *o : relation_options_default();
    double terms[2];
    if (check_inputs("relation loss", s, t, batch, s_dim, t_dim, d) ||
        check_weight("distance_weight", opt.distance_weight, d) || check_weight("angle_weight", opt.angle_weight, d))
        return KDC_ERR;
    if (relation_eval(s, t, batch, s_dim, t_dim, opt, scale, terms, grad_s, d))
        return KDC_ERR;
    *loss = opt.distance_weight * terms[0] + opt.angle_weight * terms[1];
    return KDC_OK;
}

Status loss_relation_terms(const float *s, const float *t, int64_t batch, int64_t s_dim, int64_t t_dim,
                           double *distance, double *angle, Diag *d)
{
    const RelationOptions both = {.distance_weight = 1, .angle_weight = 1};
    double terms[2];
    if (check_inputs("relation loss", s, t, batch, s_dim, t_dim, d) ||
        relation_eval(s, t, batch, s_dim, t_dim, both, 0, terms, NULL, d))
        return KDC_ERR;
    *distance = terms[0];
    *angle = terms[1];
    return KDC_OK;
}

/* ---- PKT ---------------------------------------------------------------------------- */

/* Per-call scratch: unit rows fs [B, Ds] and ft [B, Dt], student norms [B] and row sums of
 * (S + 1) / 2 [B], probabilities qs and qt [B, B], dL/dS gs [B, B], row [Ds]. */
typedef struct PktScratch {
    double *block;
    double *fs, *ft, *norms, *sums, *qs, *qt, *gs, *row;
} PktScratch;

static bool pkt_scratch_alloc(PktScratch *w, int64_t batch, int64_t s_dim, int64_t t_dim)
{
    /* The callers' s and t exist, so B * Ds and B * Dt fit in memory already. */
    size_t b = (size_t)batch, fs_n = b * (size_t)s_dim, ft_n = b * (size_t)t_dim;
    size_t extra = fs_n + ft_n + 2 * b + (size_t)s_dim;
    w->block = alloc_pairs(batch, 3, extra);
    if (!w->block)
        return false;
    double *p = w->block;
    size_t nn = b * b;
    w->qs = p, w->qt = p + nn, w->gs = p + 2 * nn, w->fs = p + 3 * nn;
    w->ft = w->fs + fs_n, w->norms = w->ft + ft_n, w->sums = w->norms + b;
    w->row = w->sums + b;
    return true;
}

/* f [B, dim] = x_i / (|x_i| + eps), as RepDistiller divides; norms [B] (if not NULL). */
static void pkt_unit_rows(const float *x, int64_t batch, int64_t dim, double *f, double *norms)
{
    for (int64_t i = 0; i < batch; i++) {
        const float *xi = x + i * dim;
        double sq = 0;
        for (int64_t k = 0; k < dim; k++)
            sq += (double)xi[k] * xi[k];
        double n = sqrt(sq);
        for (int64_t k = 0; k < dim; k++)
            f[i * dim + k] = xi[k] / (n + PKT_EPS);
        if (norms)
            norms[i] = n;
    }
}

/* q [B, B] = (f f^T + 1) / 2 with each row divided by its sum; sums [B] (if not NULL). */
static void pkt_probabilities(const double *f, int64_t batch, int64_t dim, double *q, double *sums)
{
    for (int64_t i = 0; i < batch; i++) {
        double sum = 0;
        for (int64_t j = 0; j < batch; j++) {
            double dot = 0;
            for (int64_t k = 0; k < dim; k++)
                dot += f[i * dim + k] * f[j * dim + k];
            q[i * batch + j] = (dot + 1) / 2;
            sum += q[i * batch + j];
        }
        for (int64_t j = 0; j < batch; j++)
            q[i * batch + j] /= sum;
        if (sums)
            sums[i] = sum;
    }
}

/* gs = dL/dS with L = mean t log((t + eps) / (q + eps)), through Q = P / rowsum, P = (S+1)/2. */
static void pkt_grad_similarity(const PktScratch *w, int64_t batch)
{
    double n2 = (double)batch * (double)batch;
    for (int64_t i = 0; i < batch; i++) {
        double *gi = w->gs + i * batch;
        const double *qsi = w->qs + i * batch, *qti = w->qt + i * batch;
        double through_sum = 0;
        for (int64_t j = 0; j < batch; j++) {
            gi[j] = -qti[j] / (qsi[j] + PKT_EPS) / n2;
            through_sum += gi[j] * qsi[j];
        }
        for (int64_t j = 0; j < batch; j++)
            gi[j] = 0.5 * (gi[j] - through_sum) / w->sums[i];
    }
}

/* grad_s += scale * dL/ds: dL/df_i = sum_j (gs_ij + gs_ji) f_j, then through
 * f = x / (|x| + eps); at |x| = 0 only the numerator's I / eps remains. */
static void pkt_add_grad(const PktScratch *w, const float *s, int64_t batch, int64_t dim, double scale, float *grad_s)
{
    for (int64_t i = 0; i < batch; i++) {
        const float *si = s + i * dim;
        for (int64_t k = 0; k < dim; k++)
            w->row[k] = 0;
        for (int64_t j = 0; j < batch; j++) {
            double g = w->gs[i * batch + j] + w->gs[j * batch + i];
            for (int64_t k = 0; k < dim; k++)
                w->row[k] += g * w->fs[j * dim + k];
        }
        double n = w->norms[i], denom = n + PKT_EPS, along = 0;
        for (int64_t k = 0; k < dim; k++)
            along += w->row[k] * si[k];
        double radial = n > 0 ? along / (denom * denom * n) : 0;
        float *gi = grad_s + i * dim;
        for (int64_t k = 0; k < dim; k++)
            gi[k] = (float)((double)gi[k] + scale * (w->row[k] / denom - radial * si[k]));
    }
}

Status loss_pkt(const float *s, const float *t, int64_t batch, int64_t s_dim, int64_t t_dim, double scale, double *loss,
                float *grad_s, Diag *d)
{
    PktScratch w;
    if (check_inputs("pkt loss", s, t, batch, s_dim, t_dim, d))
        return KDC_ERR;
    if (!pkt_scratch_alloc(&w, batch, s_dim, t_dim))
        return diag_error(d, "pkt loss: out of memory for a batch of %lld", (long long)batch);
    pkt_unit_rows(s, batch, s_dim, w.fs, w.norms);
    pkt_unit_rows(t, batch, t_dim, w.ft, NULL);
    pkt_probabilities(w.fs, batch, s_dim, w.qs, w.sums);
    pkt_probabilities(w.ft, batch, t_dim, w.qt, NULL);
    double sum = 0;
    for (int64_t i = 0; i < batch * batch; i++)
        sum += w.qt[i] * log((w.qt[i] + PKT_EPS) / (w.qs[i] + PKT_EPS));
    *loss = sum / ((double)batch * (double)batch);
    if (grad_s) {
        pkt_grad_similarity(&w, batch);
        pkt_add_grad(&w, s, batch, s_dim, scale, grad_s);
    }
    free(w.block);
    return KDC_OK;
}
