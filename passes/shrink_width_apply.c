/* shrink_width_apply.c - ranking, slicing and reporting for pass_shrink_width.
 *
 * Ranks each hidden layer's output units by the L1 norm of the teacher's
 * weights for that unit (ties: lower index first) and keeps the top
 * max(1, round(width * units)), in ascending order. Then performs the plan:
 * every cut constant becomes a sliced copy in the graph arena (the teacher's
 * values, never modified in place), every counted Reshape entry is scaled,
 * and shape inference refreshes the values in between.
 */
#include "passes/shrink_width_plan.h"

#include "ir/ops.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- ranking ---- */

typedef struct UnitScore {
    double l1;
    int64_t index;
} UnitScore;

static int by_l1_then_index(const void *pa, const void *pb)
{
    const UnitScore *a = pa, *b = pb;
    if (a->l1 != b->l1)
        return a->l1 > b->l1 ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int by_value(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return a < b ? -1 : a > b;
}

static double weight_at(const Tensor *w, int64_t i)
{
    return w->dtype == DT_FLOAT ? ((const float *)w->data)[i] : ((const double *)w->data)[i];
}

/* The weight axis that indexes a layer's output units. */
static int unit_axis(const Node *n)
{
    if (n->op == OP_Conv)
        return 0;
    if (n->op == OP_Gemm)
        return node_attr_int(n, "transB", 0) ? 0 : 1;
    return 1;
}

static void score_units(const Node *n, UnitScore *scores, int64_t units)
{
    const Tensor *w = n->inputs[1]->init;
    int axis = unit_axis(n);
    int64_t inner = 1, numel = tensor_numel(w);
    for (int i = axis + 1; i < w->rank; i++)
        inner *= w->dims[i];
    for (int64_t u = 0; u < units; u++)
        scores[u] = (UnitScore){0, u};
    for (int64_t e = 0; e < numel; e++)
        scores[(e / inner) % units].l1 += fabs(weight_at(w, e));
}

static Status rank_layer(const ShrinkPlan *p, ShrinkLayer *l, Diag *d)
{
    int64_t k = l->units;
    if (l->hidden) {
        k = (int64_t)floor(p->width * (double)l->units + 0.5);
        k = k < 1 ? 1 : k > l->units ? l->units : k;
    }
    UnitScore *scores = malloc((size_t)l->units * sizeof *scores);
    l->kept = malloc((size_t)(k ? k : 1) * sizeof *l->kept);
    if (!scores || !l->kept) {
        free(scores);
        return diag_error(d, "out of memory");
    }
    score_units(l->node, scores, l->units);
    if (l->hidden)
        qsort(scores, (size_t)l->units, sizeof *scores, by_l1_then_index);
    for (int64_t i = 0; i < k; i++)
        l->kept[i] = scores[i].index;
    qsort(l->kept, (size_t)k, sizeof *l->kept, by_value);
    l->n_kept = k;
    free(scores);
    return KDC_OK;
}

Status shrink_rank_layers(ShrinkPlan *p, Diag *d)
{
    for (int i = 0; i < p->n_layers; i++)
        if (rank_layer(p, &p->layers[i], d))
            return KDC_ERR;
    return KDC_OK;
}

/* ---- slicing ---- */

/* Kept entries along one axis; idx NULL keeps the whole axis. */
typedef struct AxisPick {
    int64_t *idx;
    int64_t n;
} AxisPick;

/* Positions of the kept units of a track along its axis, ascending. */
static int64_t *track_positions(const ShrinkPlan *p, const ChannelTrack *t, int64_t *count)
{
    const ShrinkLayer *l = &p->layers[t->layer];
    int64_t *pos = malloc((size_t)(t->outer * l->n_kept * t->inner) * sizeof *pos), n = 0;
    if (!pos)
        return NULL;
    for (int64_t o = 0; o < t->outer; o++)
        for (int64_t c = 0; c < l->n_kept; c++)
            for (int64_t i = 0; i < t->inner; i++)
                pos[n++] = (o * l->units + l->kept[c]) * t->inner + i;
    *count = n;
    return pos;
}

typedef struct Selection {
    const AxisPick *picks;
    const int64_t *dims;
    size_t stride[IR_MAX_RANK]; /* bytes per step along each axis */
    int last;                   /* last axis with a pick */
} Selection;

static void select_copy(const Selection *s, int axis, const unsigned char *src, unsigned char **dst)
{
    if (axis > s->last) { /* the rest is contiguous */
        size_t block = s->last >= 0 ? s->stride[s->last] : 0;
        memcpy(*dst, src, block);
        *dst += block;
        return;
    }
    const AxisPick *pick = &s->picks[axis];
    int64_t n = pick->idx ? pick->n : s->dims[axis];
    for (int64_t i = 0; i < n; i++)
        select_copy(s, axis + 1, src + (size_t)(pick->idx ? pick->idx[i] : i) * s->stride[axis], dst);
}

static Tensor *tensor_select(Arena *a, const Tensor *t, const AxisPick *picks)
{
    Selection s = {picks, t->dims, {0}, -1};
    int64_t dims[IR_MAX_RANK];
    size_t stride = dtype_size(t->dtype);
    for (int i = t->rank - 1; i >= 0; i--) {
        s.stride[i] = stride;
        stride *= (size_t)t->dims[i];
        dims[i] = picks[i].idx ? picks[i].n : t->dims[i];
        if (picks[i].idx && s.last < 0)
            s.last = i;
    }
    Tensor *out = tensor_new(a, t->dtype, t->rank, dims);
    unsigned char *dst = out->data;
    if (s.last < 0)
        memcpy(dst, t->data, t->nbytes);
    else if (out->nbytes)
        select_copy(&s, 0, t->data, &dst);
    return out;
}

static void append_init(Graph *g, Value *v)
{
    Value **inits = arena_alloc(g->arena, (size_t)(g->n_inits + 1) * sizeof *inits);
    if (g->n_inits)
        memcpy(inits, g->inits, (size_t)g->n_inits * sizeof *inits);
    inits[g->n_inits++] = v;
    g->inits = inits;
}

static void remove_init_if_unused(Graph *g, Value *v)
{
    if (graph_count_uses(g, v) > 0)
        return;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v)
            return;
    int kept = 0;
    for (int i = 0; i < g->n_inits; i++)
        if (g->inits[i] != v)
            g->inits[kept++] = g->inits[i];
    g->n_inits = kept;
}

/* Makes t the constant behind input `slot` of n: in place when n is its
 * only reader, else as a new initializer so other readers keep theirs. */
static void install_const(Graph *g, Node *n, int slot, Tensor *t)
{
    Value *v = n->inputs[slot];
    t->doc = v->init->doc;
    if (graph_count_uses(g, v) > 1) {
        Value *nv = graph_new_value(g, v->name);
        nv->kind = TYPE_TENSOR;
        nv->doc = v->doc;
        append_init(g, nv);
        n->inputs[slot] = nv;
        v = nv;
    }
    t->name = v->name;
    v->init = t;
    v->dtype = t->dtype;
    v->shape = shape_from_dims(t->rank, t->dims);
}

/* Cuts every axis planned for the constant at (node, slot) in one copy. */
static Status apply_cuts_at(ShrinkPlan *p, int first, bool *done, Diag *d)
{
    Node *n = p->cuts[first].node;
    int slot = p->cuts[first].slot;
    AxisPick picks[IR_MAX_RANK] = {{0}};
    Status st = KDC_ERR;
    for (int i = first; i < p->n_cuts; i++) {
        const ShrinkCut *c = &p->cuts[i];
        if (c->node != n || c->slot != slot)
            continue;
        done[i] = true;
        assert(!picks[c->axis].idx); /* a layer's inputs and outputs never share a weight axis */
        picks[c->axis].idx = track_positions(p, &c->track, &picks[c->axis].n);
        if (!picks[c->axis].idx) {
            diag_error(d, "out of memory");
            goto fail;
        }
    }
    install_const(p->g, n, slot, tensor_select(p->g->arena, n->inputs[slot]->init, picks));
    st = KDC_OK;
fail:
    for (int i = 0; i < IR_MAX_RANK; i++)
        free(picks[i].idx);
    return st;
}

static void apply_edit(ShrinkPlan *p, const ShapeEdit *e)
{
    const Tensor *old = e->node->inputs[1]->init;
    const ShrinkLayer *l = &p->layers[e->layer];
    Tensor *t = tensor_new(p->g->arena, DT_INT64, 1, old->dims);
    for (int64_t i = 0; i < tensor_numel(old); i++) {
        int64_t v = tensor_get_int(old, i);
        if (i == e->entry)
            v = v / l->units * l->n_kept;
        memcpy((int64_t *)t->data + i, &v, sizeof v);
    }
    install_const(p->g, e->node, 1, t);
}

/* The constants the plan reads, before any is replaced. */
static Value **planned_constants(const ShrinkPlan *p)
{
    Value **old = malloc((size_t)(p->n_cuts + p->n_edits + 1) * sizeof *old);
    for (int i = 0; old && i < p->n_cuts; i++)
        old[i] = p->cuts[i].node->inputs[p->cuts[i].slot];
    for (int i = 0; old && i < p->n_edits; i++)
        old[p->n_cuts + i] = p->edits[i].node->inputs[1];
    return old;
}

Status shrink_apply(ShrinkPlan *p, Diag *d)
{
    Status st = KDC_ERR;
    bool *done = calloc((size_t)p->n_cuts + 1, sizeof *done);
    Value **old = planned_constants(p);
    if (!done || !old) {
        diag_error(d, "out of memory");
        goto fail;
    }
    for (int i = 0; i < p->n_cuts; i++)
        if (!done[i] && apply_cuts_at(p, i, done, d))
            goto fail;
    for (int i = 0; i < p->n_edits; i++)
        apply_edit(p, &p->edits[i]);
    for (int i = 0; i < p->n_cuts + p->n_edits; i++)
        remove_init_if_unused(p->g, old[i]);
    for (int i = 0; i < p->n_path; i++)
        if (p->path_shrinks[i])
            p->path[i]->outputs[0]->shape.rank = -1; /* stale channel counts */
    if (pass_infer_shapes(p->g, d)) {
        diag_prefix(d, "after the width shrink");
        goto fail;
    }
    st = KDC_OK;
fail:
    free(done);
    free(old);
    return st;
}

/* ---- report ---- */

void shrink_fill_report(const ShrinkPlan *p, WidthReport *report)
{
    Arena *a = p->g->arena;
    report->n_layers = p->n_layers;
    report->layers = arena_alloc(a, (size_t)p->n_layers * sizeof *report->layers);
    for (int i = 0; i < p->n_layers; i++) {
        const ShrinkLayer *l = &p->layers[i];
        report->layers[i] = (WidthLayer){
            .name = shrink_node_label(l->node),
            .op_type = l->node->op_type,
            .hidden = l->hidden,
            .units = l->units,
            .kept_units = l->n_kept,
            .kept = arena_memdup(a, l->kept, (size_t)l->n_kept * sizeof *l->kept),
        };
    }
}
