/* shrink_width_layout.c - follows each hidden layer's output units through
 * the chain to the next layer (part of pass_shrink_width).
 *
 * Walking the chain with a ChannelTrack (which axis of the current value
 * holds the units, and how Flatten/Reshape interleaved them with other
 * dims), it lists every constant entry those units select (ShrinkCut: the
 * layer's own weight rows and bias, BatchNormalization parameters, constant
 * elementwise operands, the next layer's input features) and every Reshape
 * target entry that counts them (ShapeEdit). Whatever it cannot follow is
 * refused naming the node; nothing is changed here.
 */
#include "passes/shrink_width_plan.h"

#include "ir/ops.h"

#include <stdlib.h>

static const ChannelTrack no_track = {-1, 0, 1, 1};

static int64_t track_size(const ShrinkPlan *p, const ChannelTrack *t)
{
    return t->outer * p->layers[t->layer].units * t->inner;
}

static Status add_cut(ShrinkPlan *p, Node *n, int slot, int axis, const ChannelTrack *t, Diag *d)
{
    if (p->n_cuts == p->cap_cuts) {
        int cap = p->cap_cuts ? 2 * p->cap_cuts : 16;
        ShrinkCut *grown = realloc(p->cuts, (size_t)cap * sizeof *grown);
        if (!grown)
            return diag_error(d, "out of memory");
        p->cuts = grown;
        p->cap_cuts = cap;
    }
    p->cuts[p->n_cuts++] = (ShrinkCut){n, slot, axis, *t};
    return KDC_OK;
}

static Status add_edit(ShrinkPlan *p, Node *n, int entry, int layer, Diag *d)
{
    if (p->n_edits == p->cap_edits) {
        int cap = p->cap_edits ? 2 * p->cap_edits : 8;
        ShapeEdit *grown = realloc(p->edits, (size_t)cap * sizeof *grown);
        if (!grown)
            return diag_error(d, "out of memory");
        p->edits = grown;
        p->cap_edits = cap;
    }
    p->edits[p->n_edits++] = (ShapeEdit){n, entry, layer};
    return KDC_OK;
}

static Status refuse_layout(const ShrinkPlan *p, const Node *n, const ChannelTrack *t, Diag *d)
{
    return diag_error(d,
                      "node '%s' (%s) rearranges the channels of layer '%s' in a way kdc's width shrink cannot "
                      "follow",
                      shrink_node_label(n), n->op_type, shrink_node_label(p->layers[t->layer].node));
}

static Status need_rank(const Node *n, const Value *v, Diag *d)
{
    if (v->shape.rank >= 0)
        return KDC_OK;
    return diag_error(d, "node '%s' (%s): the shape of '%s' is not known; run shape inference first",
                      shrink_node_label(n), n->op_type, v->name);
}

/* Product of dims [lo, hi) of v, which must all be known numbers. */
static Status known_product(const Node *n, const Value *v, int lo, int hi, int64_t *out, Diag *d)
{
    *out = 1;
    for (int i = lo; i < hi; i++) {
        if (v->shape.dims[i].value < 0)
            return diag_error(d, "node '%s' (%s): dim %d of '%s' is not a known number; kdc's width shrink needs it",
                              shrink_node_label(n), n->op_type, i, v->name);
        *out *= v->shape.dims[i].value;
    }
    return KDC_OK;
}

/* ---- layers ---- */

/* The next layer reads the tracked units as its input features. */
static Status plan_layer_input(ShrinkPlan *p, Node *n, const Value *in, const ChannelTrack *t, Diag *d)
{
    const Tensor *w = n->inputs[1]->init;
    int feature_axis, w_axis;
    if (n->op == OP_Conv) {
        feature_axis = 1;
        w_axis = 1;
        if (t->outer != 1 || t->inner != 1)
            return refuse_layout(p, n, t, d);
    } else if (n->op == OP_Gemm) {
        feature_axis = node_attr_int(n, "transA", 0) ? 0 : 1;
        w_axis = node_attr_int(n, "transB", 0) ? 1 : 0;
    } else {
        if (need_rank(n, in, d))
            return KDC_ERR;
        feature_axis = in->shape.rank - 1;
        w_axis = 0;
    }
    if (t->axis != feature_axis)
        return refuse_layout(p, n, t, d);
    if (w->dims[w_axis] != track_size(p, t))
        return diag_error(d, "node '%s' (%s): weight '%s' takes %lld input features, the chain brings %lld",
                          shrink_node_label(n), n->op_type, n->inputs[1]->name, (long long)w->dims[w_axis],
                          (long long)track_size(p, t));
    return add_cut(p, n, 1, w_axis, t, d);
}

/* Gemm's C broadcasts against [M, N]: its last axis, unless 1, is per unit. */
static Status plan_gemm_bias(ShrinkPlan *p, Node *n, const ChannelTrack *own, Diag *d)
{
    const Tensor *c = shrink_const_input(n, 2);
    if (!c || c->rank == 0 || c->dims[c->rank - 1] == 1)
        return KDC_OK;
    if (c->dims[c->rank - 1] != p->layers[own->layer].units)
        return diag_error(d, "node '%s' (Gemm): bias '%s' does not have one entry per output unit",
                          shrink_node_label(n), n->inputs[2]->name);
    return add_cut(p, n, 2, c->rank - 1, own, d);
}

/* A hidden layer loses output units: its weight and bias are cut, and its
 * output starts a new track. */
static Status plan_layer_output(ShrinkPlan *p, Node *n, int layer, const Value *in, ChannelTrack *t, Diag *d)
{
    *t = no_track;
    if (!p->layers[layer].hidden)
        return KDC_OK;
    ChannelTrack own = {layer, 1, 1, 1};
    if (n->op == OP_Conv) {
        if (add_cut(p, n, 1, 0, &own, d) || (shrink_const_input(n, 2) && add_cut(p, n, 2, 0, &own, d)))
            return KDC_ERR;
    } else if (n->op == OP_Gemm) {
        if (add_cut(p, n, 1, node_attr_int(n, "transB", 0) ? 0 : 1, &own, d) || plan_gemm_bias(p, n, &own, d))
            return KDC_ERR;
    } else {
        if (need_rank(n, in, d) || add_cut(p, n, 1, 1, &own, d))
            return KDC_ERR;
        own.axis = in->shape.rank >= 2 ? in->shape.rank - 1 : 0;
    }
    *t = own;
    return KDC_OK;
}

/* ---- what lies between layers ---- */

static Status plan_batchnorm(ShrinkPlan *p, Node *n, const ChannelTrack *t, Diag *d)
{
    if (t->axis != 1 || n->inputs[1]->init->dims[0] != track_size(p, t))
        return refuse_layout(p, n, t, d);
    for (int j = 1; j < 5; j++)
        if (add_cut(p, n, j, 0, t, d))
            return KDC_ERR;
    return KDC_OK;
}

/* Flatten(axis f) merges dims [0, f) and [f, r): the units must lie in the second part. */
static Status plan_flatten(ShrinkPlan *p, Node *n, const Value *in, ChannelTrack *t, Diag *d)
{
    if (need_rank(n, in, d))
        return KDC_ERR;
    int r = in->shape.rank;
    int64_t f = node_attr_int(n, "axis", 1), before, after;
    f = f < 0 ? f + r : f;
    if (f < 0 || f > t->axis)
        return refuse_layout(p, n, t, d);
    if (known_product(n, in, (int)f, t->axis, &before, d) || known_product(n, in, t->axis + 1, r, &after, d))
        return KDC_ERR;
    *t = (ChannelTrack){t->layer, 1, t->outer * before, t->inner * after};
    return KDC_OK;
}

/* Accepts a Reshape that keeps dims [0, j) and merges [j, r) into one, with
 * j at or before the units' axis: PyTorch's view(N, -1) and its kin. Entry
 * j, when explicit, counts the units and is rewritten. */
static Status plan_reshape(ShrinkPlan *p, Node *n, const Value *in, ChannelTrack *t, Diag *d)
{
    const Tensor *s = n->inputs[1]->init;
    if (need_rank(n, in, d))
        return KDC_ERR;
    int r = in->shape.rank, j = (int)tensor_numel(s) - 1, minus_ones = 0;
    bool allowzero = node_attr_int(n, "allowzero", 0) != 0;
    if (s->rank != 1 || j < 0 || j > t->axis)
        return refuse_layout(p, n, t, d);
    for (int i = 0; i < j; i++) {
        int64_t e = tensor_get_int(s, i);
        minus_ones += e == -1;
        if (!(e == 0 && !allowzero) && e != -1 && e != in->shape.dims[i].value)
            return refuse_layout(p, n, t, d);
    }
    int64_t last = tensor_get_int(s, j), tail, before, after;
    if (known_product(n, in, j, r, &tail, d))
        return KDC_ERR;
    if (minus_ones + (last == -1) > 1 || (last != -1 && last != tail))
        return refuse_layout(p, n, t, d);
    if (last != -1 && add_edit(p, n, j, t->layer, d))
        return KDC_ERR;
    if (known_product(n, in, j, t->axis, &before, d) || known_product(n, in, t->axis + 1, r, &after, d))
        return KDC_ERR;
    *t = (ChannelTrack){t->layer, j, t->outer * before, t->inner * after};
    return KDC_OK;
}

/* A constant operand broadcast against the chain: its entries along the
 * units' axis (unless that dim is 1) are per unit. */
static Status plan_const_operand(ShrinkPlan *p, Node *n, int slot, const Value *in, ChannelTrack *t, Diag *d)
{
    int cslot = 1 - slot;
    const Tensor *c = n->inputs[cslot]->init;
    if (need_rank(n, in, d))
        return KDC_ERR;
    int r = in->shape.rank, r_out = r > c->rank ? r : c->rank;
    int axis = t->axis + (r_out - r), c_axis = axis - (r_out - c->rank);
    t->axis = axis;
    if (c_axis < 0 || c->dims[c_axis] == 1)
        return KDC_OK;
    if (c->dims[c_axis] != track_size(p, t))
        return diag_error(d,
                          "node '%s' (%s): constant '%s' has %lld entries along the channel axis, the chain has %lld",
                          shrink_node_label(n), n->op_type, n->inputs[cslot]->name, (long long)c->dims[c_axis],
                          (long long)track_size(p, t));
    return add_cut(p, n, cslot, c_axis, t, d);
}

static Status plan_between_layers(ShrinkPlan *p, Node *n, int slot, const Value *in, ChannelTrack *t, Diag *d)
{
    switch (n->op) {
    case OP_Relu:
    case OP_Sigmoid:
    case OP_Tanh:
    case OP_Identity:
    case OP_Dropout: return KDC_OK;
    case OP_MaxPool:
    case OP_AveragePool:
    case OP_GlobalAveragePool:
        return t->axis == 1 && t->outer == 1 && t->inner == 1 ? KDC_OK : refuse_layout(p, n, t, d);
    case OP_BatchNormalization: return plan_batchnorm(p, n, t, d);
    case OP_Flatten: return plan_flatten(p, n, in, t, d);
    case OP_Reshape: return plan_reshape(p, n, in, t, d);
    case OP_Add:
    case OP_Sub:
    case OP_Mul:
    case OP_Div: return plan_const_operand(p, n, slot, in, t, d);
    default: return refuse_layout(p, n, t, d); /* e.g. Softmax across the units */
    }
}

Status shrink_plan_layout(ShrinkPlan *p, Diag *d)
{
    ChannelTrack t = no_track;
    int layer = 0;
    for (int i = 0; i < p->n_path; i++) {
        Node *n = p->path[i];
        const Value *in = n->inputs[p->path_slot[i]];
        bool is_layer = n->op == OP_Conv || n->op == OP_Gemm || n->op == OP_MatMul;
        if (is_layer) {
            if ((t.layer >= 0 && plan_layer_input(p, n, in, &t, d)) || plan_layer_output(p, n, layer++, in, &t, d))
                return KDC_ERR;
        } else if (t.layer >= 0 && plan_between_layers(p, n, p->path_slot[i], in, &t, d)) {
            return KDC_ERR;
        }
        p->path_shrinks[i] = t.layer >= 0;
    }
    return KDC_OK;
}
