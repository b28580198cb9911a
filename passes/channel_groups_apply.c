/* channel_groups_apply.c - the rewrite that keeps chosen units
 * (channel_groups_apply), the static cost of a choice (channel_groups_cost,
 * counted exactly as ir/stats.c counts a graph), and the score helpers.
 *
 * Member constants become sliced copies in the graph arena (the teacher's
 * tensors are never written); shape constants are copied per reader before
 * they are rewritten; attributes are rewritten in place. The dims that carry
 * channels are then forgotten and shape inference recomputes them.
 */
#include "passes/channel_groups_impl.h"

#include "passes/passes.h"

#include <stdlib.h>
#include <string.h>

/* ---- sizes after the choice ---- */

static int64_t dim_new(ChannelGroups *cg, const Value *v, int a, const int64_t *n_kept)
{
    int c = cg_axis(cg, v, a);
    if (c != CG_NONE)
        return cg_kept_size(cg, c, n_kept);
    int64_t dim = v->shape.dims[a].value;
    return dim >= 0 ? dim : 1;
}

static int64_t numel_new(ChannelGroups *cg, const Value *v, const int64_t *n_kept)
{
    if (!v || v->kind != TYPE_TENSOR || v->shape.rank < 0)
        return 0;
    int64_t n = 1;
    for (int a = 0; a < v->shape.rank; a++)
        n *= dim_new(cg, v, a, n_kept);
    return n;
}

/* Dim a of input `slot` of n as n reads it after the choice. */
static int64_t input_dim_new(ChannelGroups *cg, const Node *n, int slot, int a, const int64_t *n_kept)
{
    const Value *v = n->inputs[slot];
    if (!v->init)
        return dim_new(cg, v, a, n_kept);
    int c = cg_member_class(cg, n, slot, a);
    return c != CG_NONE ? cg_kept_size(cg, c, n_kept) : v->shape.dims[a].value;
}

static int64_t node_macs(ChannelGroups *cg, const Node *n, const int64_t *n_kept)
{
    const Value *y = n->outputs[0], *w = n->n_inputs > 1 ? n->inputs[1] : NULL;
    if (!y || !w || y->kind != TYPE_TENSOR || y->shape.rank < 0 || w->kind != TYPE_TENSOR || w->shape.rank < 0)
        return 0;
    int64_t out = numel_new(cg, y, n_kept);
    if (n->op == OP_Conv) {
        int64_t taps = 1;
        for (int a = 1; a < w->shape.rank; a++)
            taps *= input_dim_new(cg, n, 1, a, n_kept);
        return out * taps;
    }
    if (n->op == OP_Gemm)
        return w->shape.rank == 2 ? out * input_dim_new(cg, n, 1, node_attr_int(n, "transB", 0) ? 1 : 0, n_kept) : 0;
    if (n->op == OP_MatMul) {
        const Value *a = n->inputs[0];
        return a->kind == TYPE_TENSOR && a->shape.rank >= 1 ? out * input_dim_new(cg, n, 0, a->shape.rank - 1, n_kept)
                                                            : 0;
    }
    return 0;
}

void channel_groups_cost(const ChannelGroups *cg_in, const int64_t *n_kept, int64_t *params, int64_t *macs)
{
    ChannelGroups *cg = (ChannelGroups *)cg_in; /* lookups compress union-find paths only */
    const Graph *g = cg->g;
    *params = *macs = 0;
    for (int i = 0; i < g->n_inits; i++)
        if (g->inits[i]->init->dtype == DT_FLOAT)
            *params += cg_constant_params(cg, g->inits[i], n_kept);
    for (int i = 0; i < g->n_nodes; i++)
        *macs += node_macs(cg, g->nodes[i], n_kept);
}

void channel_groups_node_cost(const ChannelGroups *cg_in, const Node *n, const int64_t *n_kept, int64_t *params,
                              int64_t *macs)
{
    ChannelGroups *cg = (ChannelGroups *)cg_in;
    *params = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const Value *v = n->inputs[k];
        if (!v || !v->init || v->init->dtype != DT_FLOAT)
            continue;
        int64_t numel = 1;
        for (int a = 0; a < v->shape.rank; a++)
            numel *= input_dim_new(cg, n, k, a, n_kept);
        *params += numel;
    }
    *macs = node_macs(cg, n, n_kept);
}

int64_t channel_groups_probe_units(const ChannelGroups *cg_in, int k, const int64_t *n_kept)
{
    ChannelGroups *cg = (ChannelGroups *)cg_in;
    return cg_kept_size(cg, cg->probes[k].cls, n_kept);
}

static bool prunable(ChannelGroups *cg, int c, const char **why)
{
    const ChClass *k = &cg->cls[cg_find(cg, c)];
    if (k->kind == CLS_ATOM) {
        int grp = cg->cls_group[cg_find(cg, c)];
        if (grp >= 0 && !cg->groups[grp].frozen)
            return true;
        if (!*why)
            *why = k->why;
        return false;
    }
    bool any = false;
    for (int i = 0; i < k->n_parts; i++)
        any = prunable(cg, k->parts[i], why) || any;
    return any;
}

bool channel_groups_probe_prunable(const ChannelGroups *cg_in, int k, const char **why)
{
    *why = NULL;
    bool any = prunable((ChannelGroups *)cg_in, cg_in->probes[k].cls, why);
    if (any) /* a frozen part (a head's inner dims) does not keep the layer whole */
        *why = NULL;
    return any;
}

/* ---- scores ---- */

static double weight_at(const Tensor *t, int64_t i)
{
    return t->dtype == DT_FLOAT ? ((const float *)t->data)[i] : t->dtype == DT_DOUBLE ? ((const double *)t->data)[i] : 0;
}

/* Adds per-index scores of one member, normalised by their largest entry. */
static void spread_normalised(ChannelGroups *cg, int cls, double *per_index, int64_t n, double *const *scores)
{
    double top = 0;
    for (int64_t i = 0; i < n; i++)
        top = per_index[i] > top ? per_index[i] : top;
    for (int64_t i = 0; top > 0 && i < n; i++)
        per_index[i] /= top;
    cg_spread_scores(cg, cls, per_index, scores);
}

static bool is_bn_scale(const ChannelGroups *cg, const Value *v)
{
    for (int i = 0; i < cg->g->n_nodes; i++) {
        const Node *n = cg->g->nodes[i];
        if (n->op == OP_BatchNormalization && n->n_inputs > 1 && n->inputs[1] == v)
            return true;
    }
    return false;
}

/* Sums, per index along the member's axis, per_element[e] when given, else the
 * p-norm contribution (|w| or w^2) of every entry of its tensor. */
static void member_sums(const ChMember *m, int p, const double *per_element, double *per_index)
{
    const Tensor *t = m->tensor->init;
    int64_t inner = 1, len = t->dims[m->axis];
    for (int a = m->axis + 1; a < t->rank; a++)
        inner *= t->dims[a];
    for (int64_t e = 0; e < tensor_numel(t); e++) {
        double w = per_element ? 0 : weight_at(t, e);
        per_index[(e / inner) % len] += per_element ? per_element[e] : p == 1 ? (w < 0 ? -w : w) : w * w;
    }
}

void channel_groups_score_weights(const ChannelGroups *cg_in, int p, bool bn_only, double *const *scores)
{
    ChannelGroups *cg = (ChannelGroups *)cg_in;
    for (int i = 0; i < cg->n_members; i++) {
        const ChMember *m = &cg->members[i];
        const Tensor *t = m->tensor->init;
        if ((t->dtype != DT_FLOAT && t->dtype != DT_DOUBLE) || (bn_only && !is_bn_scale(cg, m->tensor)))
            continue;
        int64_t len = t->dims[m->axis];
        double *sums = calloc((size_t)len, sizeof *sums);
        if (!sums)
            continue; /* scores are advice: a missing member only weakens them */
        member_sums(m, bn_only ? 1 : p, NULL, sums);
        spread_normalised(cg, m->cls, sums, len, scores);
        free(sums);
    }
}

int channel_groups_probe_count(const ChannelGroups *cg)
{
    return cg->n_probes;
}

void channel_groups_probe(const ChannelGroups *cg, int k, const Value **value, int *axis)
{
    *value = cg->probes[k].value;
    *axis = cg->probes[k].axis;
}

const Node *channel_groups_probe_layer(const ChannelGroups *cg, int k)
{
    return cg->probes[k].layer;
}

void channel_groups_add_probe_scores(const ChannelGroups *cg_in, int k, const double *per_index, double *const *scores)
{
    ChannelGroups *cg = (ChannelGroups *)cg_in;
    const ChProbe *pr = &cg->probes[k];
    int64_t n = pr->value->shape.dims[pr->axis].value;
    double *copy = malloc((size_t)n * sizeof *copy);
    if (!copy)
        return;
    memcpy(copy, per_index, (size_t)n * sizeof *copy);
    spread_normalised(cg, pr->cls, copy, n, scores);
    free(copy);
}

void channel_groups_add_tensor_scores(const ChannelGroups *cg_in, const Value *tensor, const double *per_element,
                                      double *const *scores)
{
    ChannelGroups *cg = (ChannelGroups *)cg_in;
    for (int i = 0; i < cg->n_members; i++) {
        const ChMember *m = &cg->members[i];
        if (m->tensor != tensor)
            continue;
        int64_t len = m->tensor->init->dims[m->axis];
        double *sums = calloc((size_t)len, sizeof *sums);
        if (!sums)
            continue;
        member_sums(m, 0, per_element, sums);
        spread_normalised(cg, m->cls, sums, len, scores);
        free(sums);
    }
}

/* ---- rewrites ---- */

static int64_t rewrite_value(ChannelGroups *cg, const ChRewrite *rw, bool *const *keep, const int64_t *n_kept,
                             bool *oom)
{
    if (rw->kind == RW_SIZE)
        return cg_kept_size(cg, rw->cls, n_kept);
    int64_t size = cg->cls[cg_find(cg, rw->cls)].size, before = 0;
    bool *mask = malloc((size_t)size);
    if (!mask) {
        *oom = true;
        return 0;
    }
    cg_mask(cg, rw->cls, keep, mask);
    for (int64_t i = 0; i < rw->position && i < size; i++)
        before += mask[i];
    free(mask);
    return before;
}

/* The node's own copy of its constant input (made once per node and slot). */
static Tensor *own_constant(Graph *g, Node *n, int slot, Value **made, int *n_made)
{
    Value *v = n->inputs[slot];
    for (int i = 0; i < *n_made; i++)
        if (made[i] == v)
            return v->init;
    Value *nv = graph_new_value(g, v->name);
    Tensor *t = tensor_new(g->arena, v->init->dtype, v->init->rank, v->init->dims);
    if (!nv || !t)
        return NULL;
    memcpy(t->data, v->init->data, v->init->nbytes);
    if (!graph_set_init(g, nv, t))
        return NULL;
    n->inputs[slot] = nv;
    made[(*n_made)++] = nv;
    return t;
}

static void set_attr_entry(Node *n, const char *name, int entry, int64_t value)
{
    for (int i = 0; i < n->n_attrs; i++) {
        Attr *a = &n->attrs[i];
        if (strcmp(a->name, name) != 0)
            continue;
        if (entry < 0)
            a->i = value;
        else if (entry < a->n)
            a->ints[entry] = value;
    }
}

static Status apply_rewrites(ChannelGroups *cg, bool *const *keep, const int64_t *n_kept, Diag *d)
{
    Value **made = malloc((size_t)(cg->n_rewrites + 1) * sizeof *made);
    int n_made = 0;
    bool oom = !made;
    for (int i = 0; i < cg->n_rewrites && !oom; i++) {
        const ChRewrite *rw = &cg->rewrites[i];
        int64_t value = rewrite_value(cg, rw, keep, n_kept, &oom);
        if (rw->attr) {
            set_attr_entry(rw->node, rw->attr, rw->entry, value);
            continue;
        }
        if (tensor_get_int(rw->node->inputs[rw->slot]->init, rw->entry) == value)
            continue; /* unchanged (width 1): the teacher's constant stays, name and all */
        Tensor *t = own_constant(cg->g, rw->node, rw->slot, made, &n_made);
        if (!t)
            oom = true;
        else if (t->dtype == DT_INT64)
            ((int64_t *)t->data)[rw->entry] = value;
        else if (t->dtype == DT_INT32)
            ((int32_t *)t->data)[rw->entry] = (int32_t)value;
    }
    free(made);
    return oom ? diag_error(d, "out of memory rewriting shape constants") : KDC_OK;
}

/* ---- apply ---- */

static Status check_choice(const ChannelGroups *cg, int64_t *const *kept, const int64_t *n_kept, Diag *d)
{
    for (int i = 0; i < cg->n_groups; i++) {
        const ChannelGroup *grp = &cg->groups[i];
        if (n_kept[i] < 1 || n_kept[i] > grp->size || (grp->frozen && n_kept[i] != grp->size))
            return diag_error(d, "channel group %d (%s): cannot keep %lld of %lld units", i,
                              cg_node_label(grp->origin), (long long)n_kept[i], (long long)grp->size);
        for (int64_t u = 0; u < n_kept[i]; u++)
            if (kept[i][u] < 0 || kept[i][u] >= grp->size || (u > 0 && kept[i][u] <= kept[i][u - 1]))
                return diag_error(d, "channel group %d (%s): kept units must ascend within [0, %lld)", i,
                                  cg_node_label(grp->origin), (long long)grp->size);
    }
    return KDC_OK;
}

static bool **keep_masks(const ChannelGroups *cg, int64_t *const *kept, const int64_t *n_kept)
{
    bool **keep = calloc((size_t)cg->n_groups + 1, sizeof *keep);
    for (int i = 0; keep && i < cg->n_groups; i++) {
        keep[i] = calloc((size_t)cg->groups[i].size, 1);
        if (!keep[i])
            return keep; /* the caller sees the NULL entry */
        for (int64_t u = 0; u < n_kept[i]; u++)
            keep[i][kept[i][u]] = true;
    }
    return keep;
}

/* Dims that carry channels are re-derived by shape inference. */
static void forget_channel_dims(ChannelGroups *cg, const int64_t *n_kept)
{
    Graph *g = cg->g;
    for (int v = 0; v < cg->n_values; v++) {
        Value *val = g->values[v];
        if (!cg->axes[v] || val->init)
            continue;
        for (int a = 0; a < val->shape.rank; a++)
            if (cg->axes[v][a] != CG_NONE && cg_kept_size(cg, cg->axes[v][a], n_kept) != val->shape.dims[a].value)
                val->shape.dims[a] = (Dim){-1, NULL};
    }
}

Status channel_groups_apply(Graph *g, const ChannelGroups *cg_in, int64_t *const *kept, const int64_t *n_kept, Diag *d)
{
    ChannelGroups *cg = (ChannelGroups *)cg_in;
    if (g != cg->g)
        return diag_error(d, "channel groups of another graph");
    if (check_choice(cg, kept, n_kept, d))
        return KDC_ERR;
    Status st = KDC_ERR;
    bool **keep = keep_masks(cg, kept, n_kept);
    for (int i = 0; keep && i < cg->n_groups; i++)
        if (!keep[i]) {
            diag_error(d, "out of memory");
            goto fail;
        }
    if (cg_slice_members(cg, keep, d))
        goto fail;
    if (apply_rewrites(cg, keep, n_kept, d))
        goto fail;
    forget_channel_dims(cg, n_kept);
    /* folding again re-derives shapes computed in the graph (Expand by x.size(0)):
     * one that still states a teacher's count is caught by inference */
    if (pass_infer_shapes(g, d) || pass_fold_constants(g, d) || pass_eliminate_dead(g, d) ||
        pass_infer_shapes(g, d)) {
        diag_prefix(d, "after shrinking channels");
        goto fail;
    }
    st = KDC_OK;
fail:
    for (int i = 0; keep && i < cg->n_groups; i++)
        free(keep[i]);
    free(keep);
    return st;
}
