/* distill_wiring.c - binds a recipe's loss entries to tapped graph outputs (see
 * distill_wiring.h). Pairs are resolved on the untouched graphs first, so that adapters
 * added for one loss never look like student stages to the pairing of the next.
 */
#include "cli/distill_wiring.h"

#include <stdio.h>
#include <string.h>

/* The value pairs of one term, resolved before anything is tapped. */
typedef struct TermPairs {
    int n;
    ProbePair pair[DISTILL_MAX_PAIRS];
} TermPairs;

static Status at_entry(const Recipe *r, int line, int col, Diag *d)
{
    if (line > 0)
        return diag_prefix(d, "%s:%d:%d", r->path, line, col);
    return diag_prefix(d, "%s", r->path);
}

/* The one value of g a name or glob names. */
static Status find_one(Graph *g, const char *pattern, const char *which, Value **v, Diag *d)
{
    Value *found[2];
    int n = 0;
    if (pass_probe_find(g, pattern, found, 2, &n, d))
        return diag_prefix(d, "in the %s", which);
    if (n > 1)
        return diag_error(d, "'%s' matches %d values of the %s ('%s', '%s', ...); name one", pattern, n, which,
                          found[0]->name, found[1]->name);
    *v = found[0];
    return KDC_OK;
}

static Status resolve_pairs(const Recipe *r, const LossSpec *s, Graph *teacher, Graph *student, TermPairs *tp,
                            Diag *d)
{
    if (s->pairs_auto) {
        if (pass_probe_pairs_auto(teacher, student, tp->pair, DISTILL_MAX_PAIRS, &tp->n, d))
            return at_entry(r, s->line, s->col, d);
        if (tp->n > DISTILL_MAX_PAIRS) {
            diag_error(d, "pairs: auto found %d stages, at most %d are compared; name the pairs", tp->n,
                       DISTILL_MAX_PAIRS);
            return at_entry(r, s->line, s->col, d);
        }
        return KDC_OK;
    }
    tp->n = s->n_pairs;
    for (int p = 0; p < s->n_pairs; p++) {
        const FeaturePair *fp = &s->pairs[p];
        if (find_one(teacher, fp->teacher, "teacher", &tp->pair[p].teacher, d) ||
            find_one(student, fp->student, "student", &tp->pair[p].student, d))
            return at_entry(r, fp->line, fp->col, d);
    }
    return KDC_OK;
}

/* ---- terms ---- */

static double teacher_share(const Recipe *r, int i)
{
    double sum = 0;
    for (int k = 0; k < r->n_teachers; k++)
        sum += r->teachers[k].weight;
    return sum > 0 ? r->teachers[i].weight / sum : 1.0;
}

static Status add_term(DistillWiring *w, const LossSpec *s, int teacher, double weight, Diag *d)
{
    if (w->n_terms == LOSS_MAX_TERMS)
        return diag_error(d, "more than %d loss terms", LOSS_MAX_TERMS);
    w->terms[w->n_terms++] = (LossTerm){.spec = s, .teacher = teacher, .weight = weight};
    return KDC_OK;
}

/* kd over the teachers' mix, or one kd per teacher (teacher_mix separate); ce once. */
static Status add_logit_terms(const Recipe *r, const LossSpec *s, DistillWiring *w, Diag *d)
{
    if (s->teacher > 0)
        return add_term(w, s, s->teacher - 1, s->weight, d);
    if (s->kind == LOSS_CE || r->n_teachers == 1 || r->distill.teacher_mix == TEACHER_MIX_AVERAGE)
        return add_term(w, s, LOSS_TERM_ALL_TEACHERS, s->weight, d);
    for (int i = 0; i < r->n_teachers; i++)
        if (add_term(w, s, i, s->weight * teacher_share(r, i), d))
            return KDC_ERR;
    return KDC_OK;
}

/* A feature loss reads one teacher's features: one term per teacher it reads. */
static Status add_feature_terms(const Recipe *r, const LossSpec *s, DistillWiring *w, Diag *d)
{
    if (s->teacher > 0)
        return add_term(w, s, s->teacher - 1, s->weight, d);
    for (int i = 0; i < r->n_teachers; i++)
        if (add_term(w, s, i, s->weight * (r->n_teachers > 1 ? teacher_share(r, i) : 1.0), d))
            return KDC_ERR;
    return KDC_OK;
}

static Status make_terms(const Recipe *r, DistillWiring *w, Diag *d)
{
    const DistillOptions *o = &r->distill;
    if (o->n_losses == 0) {
        LossTerm classic[2];
        int n = trainer_classic_terms(o, w->classic, classic);
        for (int i = 0; i < n; i++)
            if (add_logit_terms(r, classic[i].spec, w, d))
                return KDC_ERR;
        return KDC_OK;
    }
    for (int i = 0; i < o->n_losses; i++) {
        const LossSpec *s = &o->losses[i];
        if (s->weight == 0)
            continue;
        if ((loss_kind_is_feature(s->kind) ? add_feature_terms : add_logit_terms)(r, s, w, d))
            return KDC_ERR;
    }
    return KDC_OK;
}

/* ---- taps and adapters ---- */

static int64_t spatial(const Value *v)
{
    int64_t n = 1;
    for (int i = 2; i < v->shape.rank; i++)
        n *= v->shape.dims[i].value;
    return n;
}

static bool same_sample_shape(const Value *a, const Value *b)
{
    if (a->shape.rank != b->shape.rank)
        return false;
    for (int i = 1; i < a->shape.rank; i++)
        if (a->shape.dims[i].value != b->shape.dims[i].value)
            return false;
    return true;
}

/* hint and correlation compare values one to one; attention maps position to position. */
static bool needs_adapter(LossKind k, const Value *s, const Value *t)
{
    if (same_sample_shape(s, t))
        return false;
    if (k == LOSS_ATTENTION)
        return spatial(s) != spatial(t);
    return k == LOSS_HINT || k == LOSS_CORRELATION;
}

/* Losses read a value per sample: [batch, ...] with the batch first, as the input has it. */
static Status check_per_sample(const Graph *g, const Value *v, const char *which, Diag *d)
{
    const Dim *batch = &g->inputs[0]->shape.dims[0];
    const Dim *first = &v->shape.dims[0];
    bool same = batch->param ? first->param && !strcmp(first->param, batch->param) : first->value == batch->value;
    if (v->kind == TYPE_TENSOR && v->dtype == DT_FLOAT && v->shape.rank >= 2 && same)
        return KDC_OK;
    return diag_error(d, "the %s's value '%s' is not a float tensor [batch, ...] with the batch first; "
                         "losses compare values per sample",
                      which, v->name);
}

static Status tap_pair(const Recipe *r, DistillWiring *w, LossTerm *t, int p, const ProbePair *pair,
                       Graph *teacher, Graph *student, Diag *d)
{
    if (check_per_sample(teacher, pair->teacher, "teacher", d) || check_per_sample(student, pair->student, "student", d))
        return KDC_ERR;
    Value *s = pair->student;
    if (needs_adapter(t->spec->kind, s, pair->teacher)) {
        if (pass_probe_adapter(student, s, pair->teacher, r->train.seed + 7919u * (uint64_t)w->n_adapters, &s, d))
            return KDC_ERR;
        w->n_adapters++;
    }
    if (pass_probe_tap(teacher, &w->teacher_probes[t->teacher], pair->teacher, &t->teacher_out[p], d) ||
        pass_probe_tap(student, &w->student_probes, s, &t->student_out[p], d))
        return KDC_ERR;
    return KDC_OK;
}

static Status tap_terms(const Recipe *r, DistillWiring *w, const TermPairs *pairs, Graph *const *teachers,
                        Graph *student, Diag *d)
{
    for (int i = 0; i < w->n_terms; i++) {
        LossTerm *t = &w->terms[i];
        if (!loss_kind_is_feature(t->spec->kind))
            continue;
        t->n_pairs = pairs[i].n;
        for (int p = 0; p < pairs[i].n; p++)
            if (tap_pair(r, w, t, p, &pairs[i].pair[p], teachers[t->teacher], student, d))
                return at_entry(r, t->spec->line, t->spec->col, d);
    }
    return KDC_OK;
}

/* Each teacher keeps its logits and what the terms read, nothing after. */
static Status cut_teachers(Graph *const *teachers, int n, Diag *d)
{
    for (int i = 0; i < n; i++) {
        Graph *g = teachers[i];
        Value *keep[LOSS_MAX_OUTPUTS];
        if (g->n_outputs > LOSS_MAX_OUTPUTS)
            return diag_error(d, "a teacher has %d outputs with its probes; at most %d", g->n_outputs,
                              LOSS_MAX_OUTPUTS);
        memcpy(keep, g->outputs, (size_t)g->n_outputs * sizeof *keep);
        if (pass_probe_cut(g, keep, g->n_outputs, d))
            return KDC_ERR;
    }
    return KDC_OK;
}

Status distill_wire(const Recipe *r, Graph *const *teachers, int n_teachers, Graph *student, DistillWiring *w,
                    Diag *d)
{
    TermPairs pairs[LOSS_MAX_TERMS];
    memset(w, 0, sizeof *w);
    w->student_probes = (ProbeSet)PROBE_SET_INIT;
    for (int i = 0; i < DISTILL_MAX_TEACHERS; i++)
        w->teacher_probes[i] = (ProbeSet)PROBE_SET_INIT;
    memset(pairs, 0, sizeof pairs);
    if (n_teachers != r->n_teachers)
        return diag_error(d, "%d teachers loaded for a recipe of %d", n_teachers, r->n_teachers);
    if (make_terms(r, w, d))
        return KDC_ERR;
    for (int i = 0; i < w->n_terms; i++) {
        const LossTerm *t = &w->terms[i];
        if (loss_kind_is_feature(t->spec->kind) &&
            resolve_pairs(r, t->spec, teachers[t->teacher], student, &pairs[i], d))
            return KDC_ERR;
    }
    if (tap_terms(r, w, pairs, teachers, student, d))
        return KDC_ERR;
    return cut_teachers(teachers, n_teachers, d);
}

Status distill_unwire(DistillWiring *w, Graph *student, Diag *d)
{
    return pass_probe_strip(student, &w->student_probes, d);
}

static const char *output_name(const Graph *g, int k)
{
    return k >= 0 && k < g->n_outputs ? g->outputs[k]->name : "?";
}

void distill_wiring_print(const DistillWiring *w, Graph *const *teachers, const Graph *student, void *file)
{
    FILE *f = file;
    for (int i = 0; i < w->n_terms; i++) {
        const LossTerm *t = &w->terms[i];
        fprintf(f, "  loss %-11s weight %-6g", loss_kind_name(t->spec->kind), t->weight);
        if (t->teacher != LOSS_TERM_ALL_TEACHERS)
            fprintf(f, " teacher %d", t->teacher + 1);
        for (int p = 0; p < t->n_pairs; p++)
            fprintf(f, "%s '%s' <- '%s'", p ? "," : "", output_name(teachers[t->teacher], t->teacher_out[p]),
                    output_name(student, t->student_out[p]));
        fputc('\n', f);
    }
}
