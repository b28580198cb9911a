/* trainer_setup.c - builds and frees a distillation run (see trainer_run.h): the student's
 * training plan and optimizers (the hint stage's over the weights the hint terms reach),
 * the teachers (cached, run per batch, or trained online), the loss terms, augmentation,
 * and the teachers' test logits for the agreement measure.
 */
#include "train/trainer_run.h"

#include "train/loss_logit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_EXTRA_PARAMS = 4 * LOSS_MAX_TERMS * DISTILL_MAX_PAIRS };

/* An optimizer over the plan's parameters for which keep is NULL or true, and the extra
 * tensors given (the loss terms' own). */
static Status sgd_over(Sgd *sgd, Plan *p, const bool *keep, float **xd, float **xg, const int64_t *xn, int n_extra,
                       double momentum, double weight_decay, Diag *d)
{
    PlanParam *params;
    int n = plan_params(p, &params), k = 0;
    SgdEntry *e = calloc((size_t)(n + n_extra) + 1, sizeof *e);
    if (!e)
        return diag_error(d, "out of memory");
    for (int i = 0; i < n; i++)
        if (!keep || keep[params[i].value->id])
            e[k++] = (SgdEntry){params[i].data, params[i].grad, NULL, params[i].numel};
    for (int i = 0; i < n_extra; i++)
        e[k++] = (SgdEntry){xd[i], xg[i], NULL, xn[i]};
    Status st = sgd_init(sgd, e, k, momentum, weight_decay, false, d);
    free(e);
    return st;
}

static Status learner_init(Learner *l, Graph *g, int64_t batch, uint64_t seed, Diag *d)
{
    l->graph = g;
    if (trainer_plan(g, PLAN_TRAINING, batch, seed, &l->plan, d))
        return KDC_ERR;
    return loss_outputs_of_plan(l->plan, true, &l->out, d);
}

static void learner_free(Learner *l)
{
    plan_free(l->plan);
    sgd_free(&l->sgd);
}

/* Values of g that the outputs listed in want[] depend on (by value id). Subgraph bodies
 * are not walked: a weight used only inside an If or Loop body stays frozen in a hint
 * stage. */
static bool *values_reaching(const Graph *g, const int *want, int n_want)
{
    bool *need = calloc((size_t)g->n_values + 1, 1);
    if (!need)
        return NULL;
    for (int i = 0; i < n_want; i++)
        need[g->outputs[want[i]]->id] = true;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const Node *n = g->nodes[i];
        bool used = false;
        for (int k = 0; k < n->n_outputs && !used; k++)
            used = n->outputs[k] && need[n->outputs[k]->id];
        for (int k = 0; used && k < n->n_inputs; k++)
            if (n->inputs[k] && n->inputs[k]->graph == g)
                need[n->inputs[k]->id] = true;
    }
    return need;
}

/* The hint stage trains only what its hint terms reach, on those terms alone. */
static Status hint_optimizer(Run *r, Diag *d)
{
    int want[LOSS_MAX_OUTPUTS], n = 0;
    for (int i = 0; i < r->terms.n; i++)
        if (r->terms.terms[i].spec->kind == LOSS_HINT)
            for (int p = 0; p < r->terms.terms[i].n_pairs && n < LOSS_MAX_OUTPUTS; p++)
                want[n++] = r->terms.terms[i].student_out[p];
    if (!n)
        return diag_error(d, "a hint stage needs a loss of kind hint");
    bool *keep = values_reaching(r->student.graph, want, n);
    if (!keep)
        return diag_error(d, "out of memory");
    Status st = sgd_over(&r->hint_sgd, r->student.plan, keep, NULL, NULL, NULL, 0, r->topt->momentum,
                         r->topt->weight_decay, d);
    free(keep);
    return st;
}

static bool has_stage(const DistillOptions *o, StageKind k)
{
    for (int i = 0; i < o->n_stages; i++)
        if (o->stages[i].kind == k)
            return true;
    return false;
}

static Status student_optimizers(Run *r, Diag *d)
{
    float *xd[MAX_EXTRA_PARAMS], *xg[MAX_EXTRA_PARAMS];
    int64_t xn[MAX_EXTRA_PARAMS];
    int n_extra = loss_terms_params(&r->terms, xd, xg, xn, MAX_EXTRA_PARAMS);
    if (sgd_over(&r->student.sgd, r->student.plan, NULL, xd, xg, xn, n_extra, r->topt->momentum,
                 r->topt->weight_decay, d))
        return KDC_ERR;
    return has_stage(r->dopt, STAGE_HINT) ? hint_optimizer(r, d) : KDC_OK;
}

/* ---- teachers ---- */

static Status check_classes(const Graph *g, int64_t classes, int i, Diag *d)
{
    int64_t own = trainer_logits_classes(g);
    if (!own)
        return diag_error(d, "teacher %d: output 0 must be logits [batch, classes] with known classes", i + 1);
    if (own != classes)
        return diag_error(d, "the student has %lld classes, teacher %d has %lld", (long long)classes, i + 1,
                          (long long)own);
    return KDC_OK;
}

static Status teachers_prepare(Run *r, Diag *d)
{
    const DistillModels *m = r->m;
    if (r->online) {
        const OnlineOptions *o = &r->dopt->online;
        if (learner_init(&r->teacher, m->teachers[0], r->batch, r->topt->seed + 1, d) ||
            sgd_over(&r->teacher.sgd, r->teacher.plan, NULL, NULL, NULL, NULL, 0, o->momentum, o->weight_decay, d))
            return KDC_ERR;
        r->teacher_out[0] = r->teacher.out;
        for (int k = 0; k < r->teacher_out[0].n; k++)
            r->teacher_out[0].grad[k] = NULL; /* the student's terms never write into the teacher */
        return KDC_OK;
    }
    for (int i = 0; i < m->n_teachers; i++) {
        if (r->cached) {
            if (teacher_cache_build(&r->cache[i], m->teachers[i], r->train, r->batch, d))
                return KDC_ERR;
            teacher_cache_gather(&r->cache[i], NULL, 0, &r->teacher_out[i]); /* pointers and shapes */
            for (int k = 0; k < r->teacher_out[i].n; k++)
                r->teacher_out[i].shape[k].dims[0].value = r->batch;
        } else if (trainer_plan(m->teachers[i], PLAN_INFERENCE, r->batch, 0, &r->teacher_plan[i], d) ||
                   loss_outputs_of_plan(r->teacher_plan[i], false, &r->teacher_out[i], d)) {
            return KDC_ERR;
        }
    }
    return KDC_OK;
}

/* Log of the weighted mean of the teachers' probabilities: argmax is the ensemble's vote. */
static Status ensemble(Run *r, float *logits, float *one, Diag *d)
{
    int64_t n = r->test->n, K = r->classes;
    if (r->m->n_teachers == 1)
        return trainer_predict(r->m->teachers[0], r->test, K, logits, NULL, d);
    memset(logits, 0, (size_t)(n * K) * sizeof *logits);
    for (int i = 0; i < r->m->n_teachers; i++)
        if (trainer_predict(r->m->teachers[i], r->test, K, one, NULL, d) ||
            loss_soft_targets(one, n, K, 1.0, r->terms.teacher_share[i], logits, d))
            return KDC_ERR;
    for (int64_t i = 0; i < n * K; i++)
        logits[i] = logf(logits[i] > 1e-30f ? logits[i] : 1e-30f);
    return KDC_OK;
}

Status run_teacher_test_logits(Run *r, Diag *d)
{
    float *one = r->m->n_teachers > 1 ? malloc((size_t)(r->test->n * r->classes) * sizeof(float) + 1) : NULL;
    if (r->m->n_teachers > 1 && !one)
        return diag_error(d, "out of memory");
    Status st = ensemble(r, r->teacher_test, one, d);
    free(one);
    if (!st)
        r->teacher_accuracy = r->test->n ? (double)loss_count_correct(r->teacher_test, r->test->y, r->test->n,
                                                                       r->classes) / (double)r->test->n
                                         : 0;
    return st;
}

/* ---- the run ---- */

static Status check_models(Run *r, Diag *d)
{
    const DistillModels *m = r->m;
    if (m->n_teachers < 1 || m->n_teachers > DISTILL_MAX_TEACHERS)
        return diag_error(d, "a run needs 1 to %d teachers, got %d", DISTILL_MAX_TEACHERS, m->n_teachers);
    if (r->online && m->n_teachers != 1)
        return diag_error(d, "online distillation trains one teacher, got %d", m->n_teachers);
    r->classes = trainer_logits_classes(m->student);
    if (!r->classes)
        return diag_error(d, "the student's output 0 must be logits [batch, classes] with known classes");
    for (int i = 0; i < m->n_teachers; i++)
        if (check_classes(m->teachers[i], r->classes, i, d))
            return KDC_ERR;
    return KDC_OK;
}

/* Bytes the teachers' outputs on the whole training split take. */
static double cache_bytes(const Run *r)
{
    double bytes = 0;
    for (int i = 0; i < r->m->n_teachers; i++) {
        const Graph *g = r->m->teachers[i];
        for (int k = 0; k < g->n_outputs; k++) {
            double per_sample = 1;
            for (int j = 1; j < g->outputs[k]->shape.rank; j++) {
                int64_t dim = g->outputs[k]->shape.dims[j].value;
                per_sample *= dim >= 0 ? (double)dim : HUGE_VAL; /* unknown: too big to promise */
            }
            bytes += per_sample * (double)r->train->n * sizeof(float);
        }
    }
    return bytes;
}

static void note(const Run *r, const char *fmt, double value)
{
    char text[256];
    if (!r->hooks || !r->hooks->on_note)
        return;
    snprintf(text, sizeof text, fmt, value);
    r->hooks->on_note(text, r->hooks->ctx);
}

/* auto caches what fits TRAINER_CACHE_AUTO_BYTES; true caches whatever the size. */
static Status decide_teacher_cache(Run *r, Diag *d)
{
    Switch s = r->dopt->cache_teacher;
    bool forbidden = r->online || r->augmenting;
    if (s == SWITCH_ON && forbidden)
        return diag_error(d, "cache_teacher: true needs a frozen teacher and un-augmented data");
    double bytes = cache_bytes(r);
    bool too_big = s == SWITCH_AUTO && bytes > TRAINER_CACHE_AUTO_BYTES;
    r->cached = s != SWITCH_OFF && !forbidden && !too_big;
    if (r->cached)
        note(r, "teacher outputs computed once and cached (%.1f MB on disk)", bytes / 1e6);
    else if (too_big)
        note(r, isfinite(bytes) ? "teacher runs on every batch: its outputs would take %.2f GB to cache "
                                  "(cache_teacher: true caches anyway)"
                                : "teacher runs on every batch: the size of its outputs is not known before "
                                  "running (%g; cache_teacher: true caches anyway)",
             bytes / 1e9);
    return KDC_OK;
}

static Status run_buffers(Run *r, Diag *d)
{
    size_t K = (size_t)r->classes;
    r->teacher_test = malloc((size_t)r->test->n * K * sizeof(float) + 1);
    r->student_test = malloc((size_t)r->test->n * K * sizeof(float) + 1);
    r->y = malloc((size_t)r->batch * sizeof(int32_t));
    r->y2 = malloc((size_t)r->batch * sizeof(int32_t));
    if (!r->teacher_test || !r->student_test || !r->y || !r->y2)
        return diag_error(d, "out of memory");
    return KDC_OK;
}

/* Images [N, C, H, W] can be cropped and flipped; other inputs only mixed up. */
static Status augment_prepare(Run *r, Diag *d)
{
    r->augmenting = augment_active(r->aug);
    if (!r->augmenting)
        return KDC_OK;
    rng_seed(&r->rng, r->topt->seed ^ 0x6175676d656e74ull);
    const Dataset *ds = r->train;
    bool image = ds->rank == 3;
    /* Not images: channels 0, each sample one row of sample_size values (mixup only). */
    return augment_init(&r->augment, r->aug, r->batch, image ? ds->dims[0] : 0, image ? ds->dims[1] : 1,
                        image ? ds->dims[2] : ds->sample_size, d);
}

static Status terms_prepare(Run *r, Diag *d)
{
    const DistillModels *m = r->m;
    return loss_terms_init(&r->terms, m->terms, m->n_terms, m->teacher_weights, m->n_teachers, &r->student.out,
                           r->teacher_out, r->classes, r->train->n, r->topt->seed, d);
}

Status run_prepare(Run *r, Diag *d)
{
    r->online = r->dopt->online.enabled;
    if (check_models(r, d))
        return KDC_ERR;
    r->batch = r->topt->batch_size < r->train->n ? r->topt->batch_size : r->train->n;
    r->batches = r->batch ? r->train->n / r->batch : 0; /* the last partial batch is dropped each epoch */
    if (r->batches == 0)
        return diag_error(d, "the training set is empty");
    if (run_buffers(r, d) || augment_prepare(r, d) || decide_teacher_cache(r, d))
        return KDC_ERR;
    if (learner_init(&r->student, r->m->student, r->batch, r->topt->seed, d) || teachers_prepare(r, d) ||
        terms_prepare(r, d) || student_optimizers(r, d))
        return KDC_ERR;
    if (run_teacher_test_logits(r, d))
        return KDC_ERR;
    return batcher_init(&r->batcher, r->train, r->batch, true, r->topt->seed, d);
}

void run_free(Run *r)
{
    learner_free(&r->student);
    learner_free(&r->teacher);
    for (int i = 0; i < DISTILL_MAX_TEACHERS; i++) {
        teacher_cache_free(&r->cache[i]);
        plan_free(r->teacher_plan[i]);
    }
    loss_terms_free(&r->terms);
    sgd_free(&r->hint_sgd);
    if (r->augmenting)
        augment_free(&r->augment);
    free(r->y);
    free(r->y2);
    free(r->teacher_test);
    free(r->student_test);
    batcher_free(&r->batcher);
}
