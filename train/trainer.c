/* trainer.c - what the trainer checks and evaluates (see trainer.h): the data against
 * the models, plans for a batch size, inference over a dataset, the classic loss terms.
 * The training run itself is in trainer_setup.c and trainer_loop.c. */
#include "train/trainer.h"

#include "runtime/plan.h"
#include "runtime/clock.h"
#include "train/batcher.h"
#include "train/loss_logit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_BATCH 256

static const Value *single_input(const Graph *g)
{
    const Value *in = NULL;
    for (int i = 0; i < g->n_inputs; i++)
        if (!g->inputs[i]->init) {
            if (in)
                return NULL;
            in = g->inputs[i];
        }
    return in;
}

int64_t trainer_logits_classes(const Graph *g)
{
    const Value *v = g->n_outputs ? g->outputs[0] : NULL;
    if (!v || v->kind != TYPE_TENSOR || v->shape.rank != 2 || v->shape.dims[1].value < 2)
        return 0;
    return v->shape.dims[1].value;
}

Status trainer_classes(const Graph *g, int64_t *classes, Diag *d)
{
    if (g->n_outputs != 1)
        return diag_error(d, "the model has %d outputs; kdc distills classifiers with one logits output", g->n_outputs);
    *classes = trainer_logits_classes(g);
    if (!*classes)
        return diag_error(d, "output '%s' must be logits of shape [batch, classes] with known classes",
                          g->outputs[0]->name);
    return KDC_OK;
}

static void format_dims(const int64_t *dims, int rank, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < rank && k + 1 < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "x" : "", (long long)dims[i]);
}

Status trainer_check_samples(const Graph *g, const Dataset *ds, const char *data_path, Diag *d)
{
    const Value *in = single_input(g);
    if (!in)
        return diag_error(d, "the model must have exactly one input to train on a dataset");
    bool typed = in->kind == TYPE_TENSOR && in->shape.rank >= 1;
    int want_rank = typed ? in->shape.rank - 1 : 0;
    int64_t want[IR_MAX_RANK];
    for (int i = 0; i < want_rank; i++)
        want[i] = in->shape.dims[i + 1].value;
    bool ok = typed && want_rank == ds->rank;
    for (int i = 0; ok && i < want_rank; i++)
        ok = want[i] == ds->dims[i];
    if (ok)
        return KDC_OK;
    char got[64], exp[64] = "?";
    format_dims(ds->dims, ds->rank, got, sizeof got);
    if (typed)
        format_dims(want, want_rank, exp, sizeof exp);
    return diag_error(d, "%s: samples are %s but the teacher's input '%s' takes %s", data_path, got, in->name, exp);
}

Status trainer_check_labels(const Dataset *ds, int64_t classes, const char *labels_path, Diag *d)
{
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->y[i] < 0 || ds->y[i] >= classes)
            return diag_error(d, "%s: label %d of sample %lld is out of range: the teacher has %lld classes",
                              labels_path, ds->y[i], (long long)i, (long long)classes);
    return KDC_OK;
}

Status trainer_check_data(const Graph *g, const Dataset *ds, int64_t classes, const char *data_path,
                          const char *labels_path, Diag *d)
{
    if (trainer_check_samples(g, ds, data_path, d))
        return KDC_ERR;
    return trainer_check_labels(ds, classes, labels_path, d);
}

Status trainer_plan(Graph *g, PlanMode mode, int64_t batch, uint64_t seed, Plan **p, Diag *d)
{
    Shape shapes[8];
    int n = 0;
    if (plan_input_shapes_for_batch(g, batch, shapes, 8, &n, d))
        return KDC_ERR;
    if (n != 1)
        return diag_error(d, "the model must have exactly one input to train on a dataset");
    return plan_build(g, mode, shapes, seed, p, d);
}

/* Runs a plan over samples [first, first+count) of ds, then hands it to visit. */
static Status run_range(Plan *p, const Dataset *ds, int64_t first, int64_t count, TrainerBatchVisit visit,
                        void *ctx, Diag *d)
{
    memcpy(plan_input(p, 0), ds->x + first * ds->sample_size, (size_t)(count * ds->sample_size) * sizeof(float));
    if (plan_forward(p, d))
        return KDC_ERR;
    return visit(p, first, count, ctx, d);
}

Status trainer_each_batch(Graph *g, const Dataset *ds, TrainerBatchVisit visit, void *ctx, Diag *d)
{
    Status st = KDC_ERR;
    Plan *full = NULL, *rest = NULL;
    int64_t batch = ds->n < EVAL_BATCH ? ds->n : EVAL_BATCH, n_full = batch ? ds->n / batch : 0;
    int64_t remainder = ds->n - n_full * batch;
    if (batch && trainer_plan(g, PLAN_INFERENCE, batch, 0, &full, d))
        goto fail;
    if (remainder && trainer_plan(g, PLAN_INFERENCE, remainder, 0, &rest, d))
        goto fail;
    for (int64_t b = 0; b < n_full; b++)
        if (run_range(full, ds, b * batch, batch, visit, ctx, d))
            goto fail;
    if (remainder && run_range(rest, ds, n_full * batch, remainder, visit, ctx, d))
        goto fail;
    st = KDC_OK;
fail:
    plan_free(full);
    plan_free(rest);
    return st;
}

typedef struct Predicted {
    float *logits; /* [n, classes] */
    int64_t classes;
} Predicted;

static Status keep_logits(Plan *p, int64_t first, int64_t count, void *ctx, Diag *d)
{
    (void)d;
    Predicted *out = ctx;
    memcpy(out->logits + first * out->classes, plan_output(p, 0), (size_t)(count * out->classes) * sizeof(float));
    return KDC_OK;
}

Status trainer_predict(Graph *g, const Dataset *ds, int64_t classes, float *logits, double *accuracy, Diag *d)
{
    Predicted out = {logits ? logits : malloc((size_t)(ds->n * classes) * sizeof(float) + 1), classes};
    if (!out.logits)
        return diag_error(d, "out of memory");
    Status st = trainer_each_batch(g, ds, keep_logits, &out, d);
    if (!st && accuracy)
        *accuracy = ds->n ? (double)loss_count_correct(out.logits, ds->y, ds->n, classes) / (double)ds->n : 0;
    if (out.logits != logits)
        free(out.logits);
    return st;
}

int trainer_classic_terms(const DistillOptions *o, LossSpec *specs, LossTerm *terms)
{
    int n = 0;
    if (o->alpha > 0) {
        specs[n] = (LossSpec){.kind = LOSS_KD, .weight = o->alpha, .temperature = o->temperature};
        n++;
    }
    if (o->alpha < 1) {
        specs[n] = (LossSpec){.kind = LOSS_CE, .weight = 1 - o->alpha};
        n++;
    }
    for (int i = 0; i < n; i++)
        terms[i] = (LossTerm){.spec = &specs[i], .teacher = LOSS_TERM_ALL_TEACHERS, .weight = specs[i].weight};
    return n;
}
