/* loss_terms.c - the weighted sum of a run's loss terms on one batch (see loss_terms.h).
 *
 * Logit terms: kd against one teacher or the weighted mix of the teachers' soft targets
 * (train/loss_logit.h), ce with the labels (mixup-aware). Feature terms hand each pair's
 * student and teacher outputs to its loss (train/loss_feature.h, loss_relation.h,
 * loss_contrastive.h) with the shapes those losses take.
 */
#include "train/loss_terms.h"

#include "runtime/plan.h"
#include "train/loss_contrastive.h"
#include "train/loss_feature.h"
#include "train/loss_logit.h"
#include "train/loss_relation.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[LOSS_KIND_COUNT] = {
    [LOSS_KD] = "kd",
    [LOSS_CE] = "ce",
    [LOSS_HINT] = "hint",
    [LOSS_ATTENTION] = "attention",
    [LOSS_SIMILARITY] = "similarity",
    [LOSS_RELATION] = "relation",
    [LOSS_CONTRASTIVE] = "contrastive",
    [LOSS_PKT] = "pkt",
    [LOSS_CORRELATION] = "correlation",
};

const char *loss_kind_name(LossKind k)
{
    return (int)k >= 0 && k < LOSS_KIND_COUNT ? KIND_NAMES[k] : "?";
}

bool loss_kind_is_feature(LossKind k) { return k != LOSS_KD && k != LOSS_CE; }

Status loss_outputs_of_plan(Plan *p, bool with_grads, ModelOutputs *out, Diag *d)
{
    int n = plan_n_outputs(p);
    if (n > LOSS_MAX_OUTPUTS)
        return diag_error(d, "the model has %d outputs with its probes; at most %d are supported", n,
                          LOSS_MAX_OUTPUTS);
    out->n = n;
    for (int k = 0; k < n; k++) {
        DType dt;
        plan_output_info(p, k, &dt, &out->shape[k]);
        if (dt != DT_FLOAT || plan_output_holds(p, k) != HOLDS_TENSOR)
            return diag_error(d, "output %d of the model is not a float tensor; losses read float tensors", k);
        if (out->shape[k].rank < 1 || out->shape[k].dims[0].value != out->shape[0].dims[0].value)
            return diag_error(d, "output %d of the model does not have the batch as its first dimension", k);
        out->data[k] = plan_output(p, k);
        out->grad[k] = with_grads ? plan_output_grad(p, k) : NULL;
    }
    return KDC_OK;
}

int64_t loss_per_sample(const Shape *s)
{
    int64_t n = 1;
    for (int i = 1; i < s->rank; i++)
        n *= s->dims[i].value;
    return n;
}

/* Elements per sample of output k. */
static int64_t per_sample(const ModelOutputs *m, int k) { return loss_per_sample(&m->shape[k]); }

static int most_negatives(const LossTerm *terms, int n)
{
    int most = 0;
    for (int i = 0; i < n; i++)
        if (terms[i].spec->kind == LOSS_CONTRASTIVE && terms[i].spec->contrast.negatives > most)
            most = terms[i].spec->contrast.negatives;
    return most;
}

static Status init_contrast(LossTerms *lt, int i, const ModelOutputs *student, const ModelOutputs *teachers,
                            int64_t n_data, uint64_t seed, Diag *d)
{
    const LossTerm *t = &lt->terms[i];
    const ContrastSpec *c = &t->spec->contrast;
    for (int p = 0; p < t->n_pairs; p++) {
        int64_t s_dim = per_sample(student, t->student_out[p]);
        int64_t t_dim = per_sample(&teachers[t->teacher], t->teacher_out[p]);
        if (contrast_new(s_dim, t_dim, n_data, c->feat_dim, lt->max_batch, c->temperature, c->momentum,
                         seed + 1000003u * (uint64_t)(i * DISTILL_MAX_PAIRS + p), &lt->contrast[i][p], d))
            return KDC_ERR;
    }
    return KDC_OK;
}

static Status check_terms(const LossTerms *lt, Diag *d)
{
    for (int i = 0; i < lt->n; i++) {
        const LossTerm *t = &lt->terms[i];
        if (!(t->weight >= 0 && isfinite(t->weight)))
            return diag_error(d, "loss term %d (%s) has weight %g; weights must be finite and >= 0", i + 1,
                              loss_kind_name(t->spec->kind), t->weight);
        bool all = t->teacher == LOSS_TERM_ALL_TEACHERS;
        if (all && loss_kind_is_feature(t->spec->kind))
            return diag_error(d, "%s loss term %d must name one teacher: features are not mixed",
                              loss_kind_name(t->spec->kind), i + 1);
        if (!all && (t->teacher < 0 || t->teacher >= lt->n_teachers))
            return diag_error(d, "%s loss term %d reads teacher %d of %d", loss_kind_name(t->spec->kind), i + 1,
                              t->teacher + 1, lt->n_teachers);
    }
    return KDC_OK;
}

static Status normalize_shares(LossTerms *lt, const double *weights, int n, Diag *d)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (!(weights[i] > 0))
            return diag_error(d, "teacher %d has weight %g; teacher weights must be positive", i + 1, weights[i]);
        sum += weights[i];
    }
    for (int i = 0; i < n; i++)
        lt->teacher_share[i] = weights[i] / sum;
    lt->n_teachers = n;
    return KDC_OK;
}

Status loss_terms_init(LossTerms *lt, const LossTerm *terms, int n_terms, const double *teacher_weights,
                       int n_teachers, const ModelOutputs *student, const ModelOutputs *teachers, int64_t classes,
                       int64_t n_data, uint64_t seed, Diag *d)
{
    memset(lt, 0, sizeof *lt);
    if (n_terms < 1 || n_terms > LOSS_MAX_TERMS || n_teachers < 1 || n_teachers > DISTILL_MAX_TEACHERS)
        return diag_error(d, "a run needs 1 to %d loss terms and 1 to %d teachers, got %d and %d", LOSS_MAX_TERMS,
                          DISTILL_MAX_TEACHERS, n_terms, n_teachers);
    memcpy(lt->terms, terms, (size_t)n_terms * sizeof *terms);
    lt->n = n_terms;
    lt->classes = classes;
    lt->max_batch = student->shape[0].dims[0].value;
    if (normalize_shares(lt, teacher_weights, n_teachers, d) || check_terms(lt, d))
        return KDC_ERR;
    int negatives = most_negatives(terms, n_terms);
    lt->soft = malloc((size_t)(lt->max_batch * classes) * sizeof *lt->soft);
    lt->contrast_idx = malloc((size_t)(lt->max_batch * (negatives + 1)) * sizeof *lt->contrast_idx);
    if (!lt->soft || !lt->contrast_idx)
        return diag_error(d, "out of memory");
    rng_seed(&lt->rng, seed ^ 0x6372645f6e656773ull);
    for (int i = 0; i < n_terms; i++)
        if (terms[i].spec->kind == LOSS_CONTRASTIVE && init_contrast(lt, i, student, teachers, n_data, seed, d))
            return KDC_ERR;
    return KDC_OK;
}

void loss_terms_free(LossTerms *lt)
{
    for (int i = 0; i < lt->n; i++)
        for (int p = 0; p < DISTILL_MAX_PAIRS; p++)
            contrast_free(lt->contrast[i][p]);
    free(lt->soft);
    free(lt->contrast_idx);
    memset(lt, 0, sizeof *lt);
}

/* ---- logit terms ---- */

/* The soft targets the term learns: one teacher's, or the mix of all of them. */
static Status soft_targets(LossTerms *lt, const LossTerm *t, const ModelOutputs *teachers, int64_t batch, Diag *d)
{
    double T = t->spec->temperature;
    memset(lt->soft, 0, (size_t)(batch * lt->classes) * sizeof *lt->soft);
    if (t->teacher != LOSS_TERM_ALL_TEACHERS)
        return loss_soft_targets(teachers[t->teacher].data[0], batch, lt->classes, T, 1.0, lt->soft, d);
    for (int i = 0; i < lt->n_teachers; i++)
        if (loss_soft_targets(teachers[i].data[0], batch, lt->classes, T, lt->teacher_share[i], lt->soft, d))
            return KDC_ERR;
    return KDC_OK;
}

static Status term_kd(LossTerms *lt, const LossTerm *t, const ModelOutputs *s, const ModelOutputs *teachers,
                      int64_t batch, double *loss, Diag *d)
{
    if (soft_targets(lt, t, teachers, batch, d))
        return KDC_ERR;
    return loss_kd_soft(s->data[0], lt->soft, batch, lt->classes, t->spec->temperature, t->weight, loss, s->grad[0],
                        d);
}

static Status term_ce(LossTerms *lt, const LossTerm *t, const ModelOutputs *s, const BatchLabels *lab, double *loss,
                      Diag *d)
{
    return loss_ce(s->data[0], lab->y, lab->y2, lab->lam, lab->batch, lt->classes, t->spec->smoothing, t->weight,
                   loss, s->grad[0], d);
}

/* ---- feature terms ---- */

static Status same_size(const LossTerm *t, int64_t s_dim, int64_t t_dim, Diag *d)
{
    if (s_dim == t_dim)
        return KDC_OK;
    return diag_error(d, "%s loss: the student feature has %lld values per sample, the teacher's %lld",
                      loss_kind_name(t->spec->kind), (long long)s_dim, (long long)t_dim);
}

/* Attention maps: [B, C, spatial...] on both sides, the same spatial size. */
static Status attention_pair(const LossTerm *t, const float *sv, const Shape *ss, const float *tv, const Shape *ts,
                             float *g, double *loss, Diag *d)
{
    if (ss->rank < 3 || ts->rank < 3)
        return diag_error(d, "attention loss: features must be [N, C, H, W] maps, got rank %d and %d", ss->rank,
                          ts->rank);
    int64_t B = ss->dims[0].value, sc = ss->dims[1].value, tc = ts->dims[1].value, sp = 1, tp = 1;
    for (int i = 2; i < ss->rank; i++)
        sp *= ss->dims[i].value;
    for (int i = 2; i < ts->rank; i++)
        tp *= ts->dims[i].value;
    if (sp != tp)
        return diag_error(d, "attention loss: the student map has %lld positions, the teacher's %lld", (long long)sp,
                          (long long)tp);
    return loss_attention(sv, tv, B, sc, tc, sp, t->spec->p, t->weight, loss, g, d);
}

static Status feature_pair(LossTerms *lt, int i, int p, const ModelOutputs *s, const ModelOutputs *tm,
                           const BatchLabels *lab, double *loss, Diag *d)
{
    const LossTerm *t = &lt->terms[i];
    int so = t->student_out[p], to = t->teacher_out[p];
    const float *sv = s->data[so], *tv = tm->data[to];
    float *g = s->grad[so];
    int64_t B = lab->batch, sd = per_sample(s, so), td = per_sample(tm, to);
    double w = t->weight;
    switch (t->spec->kind) {
    case LOSS_HINT:
        return same_size(t, sd, td, d) || loss_hint(sv, tv, B * sd, w, loss, g, d) ? KDC_ERR : KDC_OK;
    case LOSS_ATTENTION:
        return attention_pair(t, sv, &s->shape[so], tv, &tm->shape[to], g, loss, d);
    case LOSS_SIMILARITY:
        return loss_similarity(sv, tv, B, sd, td, w, loss, g, d);
    case LOSS_RELATION: {
        RelationOptions o = {t->spec->distance_weight, t->spec->angle_weight};
        return loss_relation(sv, tv, B, sd, td, &o, w, loss, g, d);
    }
    case LOSS_PKT:
        return loss_pkt(sv, tv, B, sd, td, w, loss, g, d);
    case LOSS_CORRELATION:
        return same_size(t, sd, td, d) || loss_correlation(sv, tv, B, sd, w, loss, g, d) ? KDC_ERR : KDC_OK;
    case LOSS_CONTRASTIVE: {
        int k = t->spec->contrast.negatives;
        contrast_sample(lt->contrast[i][p], lab->index, B, k, &lt->rng, lt->contrast_idx);
        return loss_contrastive(lt->contrast[i][p], sv, tv, lt->contrast_idx, B, k, w, loss, g, d);
    }
    default:
        return diag_error(d, "%s is not a feature loss", loss_kind_name(t->spec->kind));
    }
}

static Status apply_term(LossTerms *lt, int i, const ModelOutputs *s, const ModelOutputs *teachers,
                         const BatchLabels *lab, double *total, Diag *d)
{
    const LossTerm *t = &lt->terms[i];
    double value = 0;
    if (t->spec->kind == LOSS_KD) {
        if (term_kd(lt, t, s, teachers, lab->batch, &value, d))
            return KDC_ERR;
    } else if (t->spec->kind == LOSS_CE) {
        if (term_ce(lt, t, s, lab, &value, d))
            return KDC_ERR;
    } else {
        for (int p = 0; p < t->n_pairs; p++) {
            double v;
            if (feature_pair(lt, i, p, s, &teachers[t->teacher], lab, &v, d))
                return KDC_ERR;
            value += v;
        }
    }
    *total += t->weight * value;
    return KDC_OK;
}

Status loss_terms_apply(LossTerms *lt, unsigned kinds, const ModelOutputs *student, const ModelOutputs *teachers,
                        const BatchLabels *labels, double *loss, Diag *d)
{
    if (labels->batch < 1 || labels->batch > lt->max_batch)
        return diag_error(d, "a batch of %lld samples; the loss terms were set up for 1 to %lld",
                          (long long)labels->batch, (long long)lt->max_batch);
    for (int i = 0; i < lt->n; i++)
        if ((kinds >> lt->terms[i].spec->kind) & 1u)
            if (apply_term(lt, i, student, teachers, labels, loss, d))
                return KDC_ERR;
    return KDC_OK;
}

int loss_terms_params(LossTerms *lt, float **data, float **grad, int64_t *numel, int max)
{
    int n = 0;
    for (int i = 0; i < lt->n; i++)
        for (int p = 0; p < DISTILL_MAX_PAIRS; p++)
            if (lt->contrast[i][p]) {
                int wrote = contrast_params(lt->contrast[i][p], data + n, grad + n, numel + n, max - n);
                n += wrote < max - n ? wrote : max - n;
            }
    return n;
}

void loss_terms_zero_grads(LossTerms *lt)
{
    for (int i = 0; i < lt->n; i++)
        for (int p = 0; p < DISTILL_MAX_PAIRS; p++)
            if (lt->contrast[i][p])
                contrast_zero_grads(lt->contrast[i][p]);
}
