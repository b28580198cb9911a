/* channel_groups_layout.c - rules of the ops that lay channels out anew:
 * Reshape (and Flatten, Squeeze, Unsqueeze), Concat, Split, Slice, Expand,
 * Resize, and Shape.
 *
 * A Reshape is read from the inferred shapes of its input and output: the
 * axes are cut into runs with equal products; a run that merges axes makes a
 * product class, a run that splits one axis refines its class into factors
 * (heads: the first factor stays prunable, the rest are kept whole). Every
 * shape constant that states a channel count (a Reshape target entry, Split
 * sizes, Slice bounds, Expand shape, Resize sizes) is recorded as a rewrite,
 * so the student's constants state the student's counts.
 */
#include "passes/channel_groups_impl.h"

#include "ir/data_geom.h"

#include <stdlib.h>
#include <string.h>

static int64_t dim_of(const Value *v, int axis)
{
    return v && axis >= 0 && axis < v->shape.rank ? v->shape.dims[axis].value : -1;
}

static int rank_of(const Value *v)
{
    return v && v->kind == TYPE_TENSOR ? v->shape.rank : -1;
}

static const Tensor *known(const Node *n, int k)
{
    return k < n->n_inputs && n->inputs[k] && n->inputs[k]->graph == n->graph ? n->inputs[k]->init : NULL;
}

static bool symbolic(const Value *v, int axis)
{
    return v->shape.dims[axis].value < 0;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ---- */

typedef struct Run {
    int in[IR_MAX_RANK], out[IR_MAX_RANK]; /* axes of size > 1 */
    int n_in, n_out;
} Run;

/* Merged axes: their classes (fixed where untracked) as one product. */
static int merge_run(ChannelGroups *cg, Node *n, const Value *x, const Run *r)
{
    int parts[IR_MAX_RANK], tracked = 0;
    for (int i = 0; i < r->n_in; i++)
        tracked += cg_axis(cg, x, r->in[i]) != CG_NONE;
    if (!tracked) /* no fixed classes for runs that carry no channels */
        return CG_NONE;
    for (int i = 0; i < r->n_in; i++) {
        parts[i] = cg_axis(cg, x, r->in[i]);
        if (parts[i] == CG_NONE)
            parts[i] = cg_new_fixed(cg, dim_of(x, r->in[i]), cg_reason(cg, n, "merges channels with fixed dims"));
    }
    return cg_new_struct(cg, CLS_PRODUCT, parts, r->n_in);
}

static void map_run(ChannelGroups *cg, Node *n, const Value *x, Value *y, const Run *r)
{
    if (r->n_in == 0 || r->n_out == 0)
        return;
    if (r->n_out == 1) {
        cg_set_axis(cg, y, r->out[0], merge_run(cg, n, x, r));
        return;
    }
    int c = cg_axis(cg, x, r->in[0]), f[IR_MAX_RANK];
    int64_t sizes[IR_MAX_RANK];
    for (int j = 0; j < r->n_out; j++)
        sizes[j] = dim_of(y, r->out[j]);
    if (r->n_in == 1 && c != CG_NONE && cg_refine_product(cg, c, sizes, r->n_out, f, n)) {
        for (int j = 0; j < r->n_out; j++)
            cg_set_axis(cg, y, r->out[j], f[j]);
        return;
    }
    for (int i = 0; i < r->n_in; i++)
        cg_freeze(cg, cg_axis(cg, x, r->in[i]), cg_reason(cg, n, "regroups channels across several axes"));
}

/* Cuts the axes of x and y into runs of equal products; false when the
 * shapes are not all known (symbolic dims must face each other). */
static bool next_run(const Value *x, const Value *y, int *i, int *j, Run *r)
{
    int rx = rank_of(x), ry = rank_of(y);
    int64_t px = 1, py = 1;
    r->n_in = r->n_out = 0;
    while (*i < rx && dim_of(x, *i) == 1)
        (*i)++;
    while (*j < ry && dim_of(y, *j) == 1)
        (*j)++;
    if (*i >= rx && *j >= ry) /* only dims of 1 were left (GlobalAveragePool -> Flatten) */
        return true;
    if (*i < rx && *j < ry && symbolic(x, *i) && symbolic(y, *j)) {
        r->in[r->n_in++] = (*i)++;
        r->out[r->n_out++] = (*j)++;
        return true;
    }
    do {
        if (px <= py && *i < rx) {
            if (symbolic(x, *i))
                return false;
            px *= dim_of(x, *i);
            if (dim_of(x, *i) > 1)
                r->in[r->n_in++] = *i;
            (*i)++;
        } else if (*j < ry) {
            if (symbolic(y, *j))
                return false;
            py *= dim_of(y, *j);
            if (dim_of(y, *j) > 1)
                r->out[r->n_out++] = *j;
            (*j)++;
        } else {
            return false;
        }
    } while (px != py);
    return true;
}

/* Target entries that state a channel count are rewritten; a 0 entry
 * (copy the input's dim) must copy the same class. */
static void reshape_rewrites(ChannelGroups *cg, Node *n, const Value *x, const Value *y)
{
    const Tensor *t = known(n, 1);
    for (int j = 0; j < rank_of(y); j++) {
        int c = cg_axis(cg, y, j);
        if (c == CG_NONE)
            continue;
        int64_t e = tensor_get_int(t, j);
        if (e > 0)
            cg_add_rewrite(cg, (ChRewrite){.node = n, .slot = 1, .entry = j, .kind = RW_SIZE, .cls = c});
        else if (e == 0 && (cg_axis(cg, x, j) == CG_NONE || cg_find(cg, cg_axis(cg, x, j)) != cg_find(cg, c)))
            cg_freeze(cg, c, cg_reason(cg, n, "copies a dim that holds other channels"));
    }
}

void cg_reshape_rule(ChannelGroups *cg, Node *n)
{
    Value *x = n->inputs[0], *y = n->outputs[0];
    bool any = false;
    for (int a = 0; a < rank_of(x); a++)
        any = any || cg_axis(cg, x, a) != CG_NONE;
    if (!any)
        return;
    const Tensor *target = n->op == OP_Reshape ? known(n, 1) : NULL;
    if (rank_of(x) < 0 || rank_of(y) < 0 || (n->op == OP_Reshape && (!target || target->rank != 1))) {
        cg_default_rule(cg, n);
        return;
    }
    int i = 0, j = 0;
    Run r;
    while (i < rank_of(x) || j < rank_of(y)) {
        if (!next_run(x, y, &i, &j, &r)) {
            cg_default_rule(cg, n);
            return;
        }
        map_run(cg, n, x, y, &r);
    }
    if (target)
        reshape_rewrites(cg, n, x, y);
}

/* ---- Concat ---- */

void cg_concat_rule(ChannelGroups *cg, Node *n)
{
    Value *y = n->outputs[0];
    int r = rank_of(y), axis = (int)node_attr_int(n, "axis", 0), parts[64], np = 0, tracked = 0;
    axis = axis < 0 ? axis + r : axis;
    if (r < 0 || axis < 0 || axis >= r || n->n_inputs > 64) {
        cg_default_rule(cg, n);
        return;
    }
    for (int k = 0; k < n->n_inputs; k++) {
        const Value *in = n->inputs[k];
        int64_t dim = dim_of(in, axis);
        if (!in || dim == 0)
            continue;
        int c = cg_axis(cg, in, axis);
        tracked += c != CG_NONE;
        parts[np++] = c != CG_NONE ? c : cg_new_fixed(cg, dim, cg_reason(cg, n, "joins channels with fixed ones"));
    }
    if (tracked)
        cg_set_axis(cg, y, axis, cg_new_struct(cg, CLS_CONCAT, parts, np));
    for (int j = 0; j < r; j++)
        if (j != axis)
            cg_join_axis(cg, n, y, j);
}

/* ---- Split ---- */

static void split_rewrites(ChannelGroups *cg, Node *n, int c, const int *pieces)
{
    if (n->n_inputs > 1 && n->inputs[1]) {
        if (!known(n, 1)) {
            cg_freeze(cg, c, cg_reason(cg, n, "has computed sizes"));
            return;
        }
        for (int k = 0; k < n->n_outputs; k++)
            cg_add_rewrite(cg, (ChRewrite){.node = n, .slot = 1, .entry = k, .kind = RW_SIZE, .cls = pieces[k]});
    } else if (node_attr(n, "split")) {
        for (int k = 0; k < n->n_outputs; k++)
            cg_add_rewrite(cg, (ChRewrite){.node = n, .attr = "split", .entry = k, .kind = RW_SIZE, .cls = pieces[k]});
    } else { /* equal parts stay equal */
        for (int k = 1; k < n->n_outputs; k++)
            cg_unify(cg, pieces[0], pieces[k], n);
    }
}

void cg_split_rule(ChannelGroups *cg, Node *n)
{
    const Value *x = n->inputs[0];
    int r = rank_of(x), axis = (int)node_attr_int(n, "axis", 0), pieces[64];
    int64_t sizes[64];
    axis = axis < 0 ? axis + r : axis;
    if (r < 0 || axis < 0 || axis >= r || n->n_outputs > 64) {
        cg_default_rule(cg, n);
        return;
    }
    for (int k = 0; k < n->n_outputs; k++) {
        sizes[k] = dim_of(n->outputs[k], axis);
        for (int a = 0; a < r; a++)
            if (a != axis)
                cg_set_axis(cg, n->outputs[k], a, cg_axis(cg, x, a));
    }
    int c = cg_axis(cg, x, axis);
    for (int k = 0; k < n->n_outputs; k++)
        if (!n->outputs[k] || sizes[k] <= 0)
            c = CG_NONE, cg_freeze(cg, cg_axis(cg, x, axis), cg_reason(cg, n, "has outputs kdc cannot follow"));
    if (c == CG_NONE || !cg_refine_concat(cg, c, sizes, n->n_outputs, pieces, n))
        return;
    for (int k = 0; k < n->n_outputs; k++)
        cg_set_axis(cg, n->outputs[k], axis, pieces[k]);
    split_rewrites(cg, n, c, pieces);
}

/* ---- Slice ---- */

/* Which entry of the starts/ends lists addresses `axis` (-1: none). */
static int slice_entry(const Node *n, int axis, int rank)
{
    int64_t axes[IR_MAX_RANK];
    Diag d;
    const Tensor *vals[5] = {NULL, NULL, NULL, known(n, 3), NULL};
    int count = n->opset >= 10 ? data_int_list(n, vals, 3, NULL, axes, IR_MAX_RANK, &d)
                               : data_int_list(n, vals, 99, "axes", axes, IR_MAX_RANK, &d);
    if (count == DATA_LIST_ABSENT)
        return axis;
    for (int k = 0; k < count; k++)
        if ((axes[k] < 0 ? axes[k] + rank : axes[k]) == axis)
            return k;
    return -1;
}

static int64_t slice_end_entry(const Node *n, int k)
{
    if (n->opset >= 10)
        return tensor_get_int(known(n, 2), k);
    int count = 0;
    const int64_t *ends = node_attr_ints(n, "ends", &count);
    return k < count ? ends[k] : 0;
}

static void slice_rewrite(ChannelGroups *cg, Node *n, int k, bool end, int c, int64_t position)
{
    ChRewrite rw = {.node = n, .entry = k, .kind = RW_OFFSET, .cls = c, .position = position};
    if (n->opset >= 10)
        rw.slot = end ? 2 : 1;
    else
        rw.attr = end ? "ends" : "starts";
    cg_add_rewrite(cg, rw);
}

/* One sliced channel axis: the middle piece of [before | kept | after]. */
static int slice_axis(ChannelGroups *cg, Node *n, int c, int axis, int64_t dim, int64_t start, int64_t len)
{
    int k = slice_entry(n, axis, rank_of(n->inputs[0]));
    int64_t sizes[3], at = 0;
    int pieces[3], np = 0, mid = 0;
    if (start > 0)
        sizes[np++] = start;
    mid = np;
    sizes[np++] = len;
    if (dim - start - len > 0)
        sizes[np++] = dim - start - len;
    if (k < 0 || len <= 0) {
        cg_freeze(cg, c, cg_reason(cg, n, "slices channels by bounds kdc cannot rewrite"));
        return CG_NONE;
    }
    if (!cg_refine_concat(cg, c, sizes, np, pieces, n))
        return CG_NONE;
    at = start;
    slice_rewrite(cg, n, k, false, c, at);
    if (slice_end_entry(n, k) < dim)
        slice_rewrite(cg, n, k, true, c, start + len);
    return pieces[mid];
}

void cg_slice_rule(ChannelGroups *cg, Node *n)
{
    const Value *x = n->inputs[0];
    const Tensor *vals[5] = {NULL, known(n, 1), known(n, 2), known(n, 3), known(n, 4)};
    SliceGeom geom;
    bool ok = true;
    Diag d;
    if (rank_of(x) < 0 || data_slice_geom(n, vals, &x->shape, &geom, &ok, &d) || !ok) {
        cg_default_rule(cg, n);
        return;
    }
    for (int a = 0; a < rank_of(x); a++) {
        int c = cg_axis(cg, x, a);
        int64_t dim = dim_of(x, a);
        bool whole = geom.whole[a] || (geom.start[a] == 0 && geom.step[a] == 1 && geom.len[a] == dim);
        if (whole || c == CG_NONE) {
            cg_set_axis(cg, n->outputs[0], a, whole ? c : CG_NONE);
            continue;
        }
        if (geom.step[a] != 1) {
            cg_freeze(cg, c, cg_reason(cg, n, "takes every %lld-th channel", (long long)geom.step[a]));
            continue;
        }
        cg_set_axis(cg, n->outputs[0], a, slice_axis(cg, n, c, a, dim, geom.start[a], geom.len[a]));
    }
}

/* ---- Expand, Resize ---- */

/* Entries of a constant shape-like input that state a tracked dim. */
static void size_rewrites(ChannelGroups *cg, Node *n, int slot, const Value *y)
{
    const Tensor *t = known(n, slot);
    int ry = rank_of(y);
    for (int j = 0; j < ry; j++) {
        int c = cg_axis(cg, y, j), k = t ? j - (ry - (int)tensor_numel(t)) : -1;
        if (c == CG_NONE)
            continue;
        if (!t && n->op != OP_Expand)
            cg_freeze(cg, c, cg_reason(cg, n, "has a computed shape"));
        else if (t && k >= 0 && tensor_get_int(t, k) > 1)
            cg_add_rewrite(cg, (ChRewrite){.node = n, .slot = slot, .entry = k, .kind = RW_SIZE, .cls = c});
    }
}

void cg_expand_rule(ChannelGroups *cg, Node *n)
{
    Value *x = n->inputs[0], *y = n->outputs[0];
    int rx = rank_of(x), ry = rank_of(y);
    if (rx < 0 || ry < 0) {
        cg_default_rule(cg, n);
        return;
    }
    bool is_const = x->init && x->graph == cg->g;
    for (int j = 0; j < ry; j++) {
        int a = j - (ry - rx), c = a >= 0 ? cg_axis(cg, x, a) : CG_NONE;
        bool same = a >= 0 && dim_of(x, a) == dim_of(y, j);
        if (same && is_const && n->op == OP_Expand && dim_of(x, a) > 1) {
            c = cg_new_atom(cg, dim_of(x, a), NULL); /* joins whatever the expanded value meets */
            cg_add_member(cg, x, a, c);
        }
        if (!same)
            cg_freeze(cg, c, cg_reason(cg, n, "changes the number of channels"));
        cg_set_axis(cg, y, j, same ? c : CG_NONE);
    }
    if (n->op == OP_Expand)
        size_rewrites(cg, n, 1, y);
    else if (n->n_inputs > 3 && n->inputs[3])
        size_rewrites(cg, n, 3, y);
}

/* ---- Shape ---- */

/* Shape may read the dims that carry no channels (the batch, as in
 * x.view(x.size(0), -1)) when every reader picks constant entries. */
void cg_shape_rule(ChannelGroups *cg, Node *n)
{
    const Value *x = n->inputs[0], *s = n->outputs[0];
    int r = rank_of(x), start = (int)node_attr_int(n, "start", 0);
    start = start < 0 ? start + r : start;
    bool *read = calloc((size_t)(r > 0 ? r : 1), sizeof *read);
    if (!read) {
        cg->failed = true;
        return;
    }
    bool all = r < 0 || node_attr(n, "end") != NULL;
    for (int i = 0; i < cg->g->n_nodes && !all; i++) {
        const Node *u = cg->g->nodes[i];
        for (int k = 0; k < u->n_inputs && !all; k++) {
            if (u->inputs[k] != s)
                continue;
            const Tensor *idx = known(u, 1);
            if (u->op != OP_Gather || k != 0 || !idx) {
                all = true;
                break;
            }
            for (int64_t e = 0; e < tensor_numel(idx); e++) {
                int64_t a = tensor_get_int(idx, e);
                a = (a < 0 ? a + (r - start) : a) + start;
                if (a >= 0 && a < r)
                    read[a] = true;
            }
        }
    }
    for (int a = 0; a < r; a++)
        if (all || read[a])
            cg_freeze(cg, cg_axis(cg, x, a), cg_reason(cg, n, "reads the number of these channels"));
    free(read);
}
