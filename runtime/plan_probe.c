/* plan_probe.c - reading a plan's tensors by IR Value (see plan_probe.h).
 *
 * Owns the rule that decides whether a buffer still holds its value after a
 * forward, which mirrors plan_layout.c: training plans give every activation
 * its own storage; inference plans never reuse a block whose root tensor
 * lives to the end (last_use == INT_MAX: graph inputs and outputs), and
 * initializers and constants are never laid out at all. Keeping a value is
 * done by listing it as a graph output for the duration of the build, the
 * one lifetime the layout already honours; the plan's output list is cut
 * back to the graph's own afterwards.
 */
#include "runtime/plan_probe.h"

#include "runtime/rt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* v's run-time tensor in p, or NULL when v is not a value of p's graph as built. */
static RtTensor *probe_tensor(Plan *p, const Value *v)
{
    if (!v || v->graph != p->graph || v->id < 0 || v->id >= p->graph->n_values || v->id >= p->n_tensors)
        return NULL;
    RtTensor *t = &p->tensors[v->id];
    return t->value == v ? t : NULL;
}

static bool buffer_intact(const Plan *p, const RtTensor *t)
{
    const RtTensor *root = t->alias_of ? t->alias_of : t;
    return p->mode == PLAN_TRAINING || t->is_const || root->is_const || root->value->init || root->last_use == INT_MAX;
}

static Status check_keep_list(const Graph *g, const Value *const *keep, int n_keep, Diag *d)
{
    for (int i = 0; i < n_keep; i++) {
        const Value *v = keep[i];
        if (!v)
            return diag_error(d, "plan probe: entry %d of the values to keep is empty", i);
        if (v->graph != g || v->id < 0 || v->id >= g->n_values || g->values[v->id] != v)
            return diag_error(d, "value '%s' is not defined in the graph being planned (a subgraph value?)",
                              v->name ? v->name : "?");
    }
    return KDC_OK;
}

Status plan_probe_build(Graph *g, PlanMode mode, const Shape *input_shapes, const Value *const *keep, int n_keep,
                        uint64_t seed, Plan **out, Diag *d)
{
    if (check_keep_list(g, keep, n_keep, d))
        return KDC_ERR;
    Value **own = g->outputs;
    int n_own = g->n_outputs;
    Value **extended = malloc((size_t)(n_own + n_keep + 1) * sizeof *extended);
    if (!extended)
        return diag_error(d, "out of memory");
    if (n_own)
        memcpy(extended, own, (size_t)n_own * sizeof *extended);
    for (int i = 0; i < n_keep; i++)
        extended[n_own + i] = g->values[keep[i]->id]; /* the graph's own, non-const pointer */
    g->outputs = extended;
    g->n_outputs = n_own + n_keep;
    Status st = plan_build(g, mode, input_shapes, seed, out, d);
    g->outputs = own;
    g->n_outputs = n_own;
    free(extended);
    if (st == KDC_OK)
        (*out)->n_outputs = n_own;
    return st;
}

Status plan_probe_value(Plan *p, const Value *v, ProbeView *out, Diag *d)
{
    const char *name = v && v->name ? v->name : "?";
    RtTensor *t = probe_tensor(p, v);
    if (!t)
        return diag_error(d, "value '%s' is not defined in the graph this plan runs", name);
    if (!t->data)
        return diag_error(d, "value '%s' is not computed by this plan", name);
    if (!buffer_intact(p, t))
        return diag_error(d,
                          "value '%s' is an intermediate of an inference plan whose buffer is reused; build "
                          "the plan with plan_probe_build keeping it",
                          name);
    *out = (ProbeView){.value = v, .dtype = t->dtype, .shape = t->shape, .numel = t->numel, .data = t->data};
    return KDC_OK;
}

Status plan_probe_grad(Plan *p, const Value *v, const float **grad, int64_t *numel, Diag *d)
{
    const char *name = v && v->name ? v->name : "?";
    RtTensor *t = probe_tensor(p, v);
    if (!t)
        return diag_error(d, "value '%s' is not defined in the graph this plan runs", name);
    if (p->mode != PLAN_TRAINING)
        return diag_error(d, "value '%s': gradients exist in training plans only", name);
    if (!t->grad)
        return diag_error(d, "value '%s' has no gradient: it is neither a trainable parameter nor downstream of one",
                          name);
    *grad = t->grad;
    *numel = t->numel;
    return KDC_OK;
}
