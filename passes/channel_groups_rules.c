/* channel_groups_rules.c - how each op couples channels (cg_analyse).
 *
 * Nodes are visited in topological order; each rule reads the classes of its
 * inputs' axes and sets those of its outputs' axes:
 *   creators     Conv, ConvTranspose, Gemm, MatMul with a constant weight, and
 *                Gather from a constant table start a new atom for their
 *                output units (and record their weights as members);
 *   followers    elementwise ops (with broadcasting), normalizations,
 *                pooling, Resize, Softmax... keep the axes of their inputs
 *                and unify those that meet;
 *   movers       Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Concat,
 *                Split, Slice, Expand re-lay axes out, building structured
 *                classes, and record the shape constants that mention them;
 *   everything else freezes the channels it reads (default_rule).
 * Constant operands of followers are members along their full axes. Shape
 * vectors are allowed to read the non-channel dims of a value (the batch).
 * Finally every class reaching a graph output or read by a subgraph is
 * frozen. Constants are members per reader (see ChMember).
 */
#include "passes/channel_groups_impl.h"

#include "ir/data_geom.h"

#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

static int64_t dim_of(const Value *v, int axis)
{
    return v && axis >= 0 && axis < v->shape.rank ? v->shape.dims[axis].value : -1;
}

static int rank_of(const Value *v)
{
    return v && v->kind == TYPE_TENSOR ? v->shape.rank : -1;
}

/* A constant the rewrite may slice: an initializer nobody can feed. */
static Value *constant(const ChannelGroups *cg, Value *v)
{
    return v && v->init && v->graph == cg->g && !graph_has_input(cg->g, v) ? v : NULL;
}

static Value *input(const Node *n, int k)
{
    return k < n->n_inputs ? n->inputs[k] : NULL;
}

static void freeze_value(ChannelGroups *cg, const Value *v, const char *why)
{
    for (int a = 0; a < rank_of(v); a++)
        cg_freeze(cg, cg_axis(cg, v, a), why);
}

static bool any_tracked(const ChannelGroups *cg, const Value *v)
{
    for (int a = 0; a < rank_of(v); a++)
        if (cg_axis(cg, v, a) != CG_NONE)
            return true;
    return false;
}

/* Anything not understood: the channels it reads keep every unit. */
void cg_default_rule(ChannelGroups *cg, Node *n)
{
    const char *why = NULL;
    for (int k = 0; k < n->n_inputs; k++)
        if (any_tracked(cg, n->inputs[k])) {
            if (!why)
                why = cg_reason(cg, n, "reads these channels and kdc's width analysis does not follow this op");
            freeze_value(cg, n->inputs[k], why);
        }
}

/* The class a computed value brings to an axis, or a constant operand's
 * entries along it (members) once that class is known. */
static void copy_axes(ChannelGroups *cg, const Value *from, Value *to)
{
    for (int a = 0; a < rank_of(from) && a < rank_of(to); a++)
        cg_set_axis(cg, to, a, cg_axis(cg, from, a));
}

/* ---- followers ---- */

/* Output axis j of a broadcasting op: unify the classes of the inputs whose
 * dim there is the full dim; constants along it become members. */
void cg_join_axis(ChannelGroups *cg, Node *n, const Value *out, int j)
{
    int r = rank_of(out), cls = CG_NONE;
    int64_t dim = dim_of(out, j);
    bool untracked_full = false;
    for (int k = 0; k < n->n_inputs; k++) {
        Value *in = n->inputs[k];
        int a = j - (r - rank_of(in));
        if (!in || a < 0 || dim_of(in, a) != dim || dim == 1 || constant(cg, in))
            continue;
        int c = cg_axis(cg, in, a);
        if (c == CG_NONE)
            untracked_full = true;
        else if (cls == CG_NONE)
            cls = c;
        else
            cg_unify(cg, cls, c, n);
    }
    if (cls != CG_NONE && untracked_full) {
        cg_freeze(cg, cls, cg_reason(cg, n, "combines these channels with values that do not follow them"));
        cls = CG_NONE;
    }
    for (int k = 0; k < n->n_inputs && cls != CG_NONE; k++) {
        Value *in = constant(cg, n->inputs[k]);
        int a = j - (r - rank_of(in));
        if (in && a >= 0 && dim_of(in, a) == dim && dim > 1)
            cg_add_member(cg, in, a, cls);
    }
    for (int o = 0; o < n->n_outputs; o++)
        if (rank_of(n->outputs[o]) == r)
            cg_set_axis(cg, n->outputs[o], j, cls);
}

static void broadcast_rule(ChannelGroups *cg, Node *n)
{
    const Value *out = n->outputs[0];
    if (rank_of(out) < 0) {
        cg_default_rule(cg, n);
        return;
    }
    for (int j = 0; j < rank_of(out); j++)
        cg_join_axis(cg, n, out, j);
}

/* Axes of input 0 pass to output 0 where dims agree (pooling, Resize, Pad). */
static void same_dims_rule(ChannelGroups *cg, Node *n)
{
    Value *x = n->inputs[0], *y = n->outputs[0];
    if (rank_of(x) != rank_of(y)) {
        cg_default_rule(cg, n);
        return;
    }
    for (int a = 0; a < rank_of(x); a++) {
        int c = cg_axis(cg, x, a);
        if (dim_of(x, a) == dim_of(y, a))
            cg_set_axis(cg, y, a, c);
        else
            cg_freeze(cg, c, cg_reason(cg, n, "changes the number of channels"));
    }
}

/* Per-channel parameters (BatchNormalization, InstanceNormalization). */
static void channel_params_rule(ChannelGroups *cg, Node *n, int first_param)
{
    same_dims_rule(cg, n);
    int c = cg_axis(cg, n->inputs[0], 1);
    for (int k = first_param; k < n->n_inputs && c != CG_NONE; k++) {
        Value *p = constant(cg, n->inputs[k]);
        if (!p) {
            if (n->inputs[k])
                cg_freeze(cg, c, cg_reason(cg, n, "has computed per-channel parameters"));
            continue;
        }
        if (rank_of(p) >= 1 && dim_of(p, 0) == dim_of(n->inputs[0], 1))
            cg_add_member(cg, p, 0, c);
    }
}

/* LayerNormalization: scale and bias follow the normalized axes. */
static void layernorm_rule(ChannelGroups *cg, Node *n)
{
    same_dims_rule(cg, n);
    const Value *x = n->inputs[0];
    int r = rank_of(x);
    for (int k = 1; k < n->n_inputs; k++) {
        Value *p = constant(cg, n->inputs[k]);
        for (int a = 0; p && a < rank_of(p); a++) {
            int xa = a + r - rank_of(p);
            if (xa >= 0 && dim_of(p, a) == dim_of(x, xa) && dim_of(p, a) > 1)
                cg_add_member(cg, p, a, cg_axis(cg, x, xa));
        }
        if (!p && n->inputs[k])
            freeze_value(cg, x, cg_reason(cg, n, "has computed parameters"));
    }
}

/* GroupNormalization: channels are pruned in whole groups. */
static void groupnorm_rule(ChannelGroups *cg, Node *n)
{
    same_dims_rule(cg, n);
    const Value *x = n->inputs[0];
    int c = cg_axis(cg, x, 1), f[2] = {CG_NONE, CG_NONE};
    int64_t groups = node_attr_int(n, "num_groups", 0), chans = dim_of(x, 1);
    if (c == CG_NONE)
        return;
    int64_t sizes[2] = {groups, groups > 0 ? chans / groups : 0};
    if (groups <= 0 || chans % groups || !cg_refine_product(cg, c, sizes, groups == chans ? 1 : 2, f, n)) {
        cg_freeze(cg, c, cg_reason(cg, n, "has groups kdc cannot follow"));
        return;
    }
    cg_add_rewrite(cg, (ChRewrite){.node = n, .attr = "num_groups", .entry = -1, .kind = RW_SIZE, .cls = f[0]});
    for (int k = 1; k < n->n_inputs; k++) {
        Value *p = constant(cg, n->inputs[k]);
        if (p && rank_of(p) == 1)
            cg_add_member(cg, p, 0, dim_of(p, 0) == chans ? c : f[0]);
        else if (n->inputs[k])
            cg_freeze(cg, c, cg_reason(cg, n, "has computed parameters"));
    }
}

/* Reductions: reduced channel axes are allowed (a mean over fewer channels),
 * the others keep their classes. */
static void reduce_rule(ChannelGroups *cg, Node *n, bool picks_index)
{
    const Value *x = n->inputs[0];
    Value *y = n->outputs[0];
    int r = rank_of(x);
    const Tensor *vals[2] = {x->init, input(n, 1) ? n->inputs[1]->init : NULL};
    ReduceGeom geom;
    bool known = true;
    Diag d;
    if (r < 0 || data_reduce_geom(n, vals, r, &geom, &known, &d) || !known) {
        cg_default_rule(cg, n);
        return;
    }
    for (int a = 0, j = 0; a < r; a++) {
        bool reduced = geom.reduce[a] && !geom.noop;
        int c = cg_axis(cg, x, a);
        if (reduced && picks_index)
            cg_freeze(cg, c, cg_reason(cg, n, "returns positions along these channels"));
        if (!reduced || geom.keepdims)
            cg_set_axis(cg, y, j++, reduced ? CG_NONE : c);
    }
}

/* ---- creators ---- */

static int new_units(ChannelGroups *cg, Node *n, int64_t size, int out_axis)
{
    int c = cg_new_atom(cg, size, n);
    if (c != CG_NONE) {
        cg_set_axis(cg, n->outputs[0], out_axis, c);
        cg_add_probe(cg, n->outputs[0], out_axis, c);
    }
    return c;
}

/* Grouped and depthwise Conv: whole groups follow the input's channels, the
 * outputs of each group may shrink alike. */
static void grouped_conv(ChannelGroups *cg, Node *n, Value *w, int64_t groups)
{
    const Value *x = n->inputs[0];
    int cx = cg_axis(cg, x, 1), f[2] = {CG_NONE, CG_NONE};
    int64_t per_in = dim_of(w, 1), per_out = dim_of(w, 0) / groups;
    int64_t sizes[2] = {groups, per_in};
    if (cx == CG_NONE || !cg_refine_product(cg, cx, sizes, per_in == 1 ? 1 : 2, f, n))
        f[0] = cg_new_fixed(cg, groups, cg_reason(cg, n, "has groups whose input channels are fixed"));
    int out = f[0];
    if (per_out > 1) {
        int parts[2] = {f[0], cg_new_atom(cg, per_out, n)};
        out = cg_new_struct(cg, CLS_PRODUCT, parts, 2);
    }
    cg_set_axis(cg, n->outputs[0], 1, out);
    cg_add_probe(cg, n->outputs[0], 1, out);
    cg_add_member(cg, w, 0, out);
    if (constant(cg, input(n, 2)))
        cg_add_member(cg, n->inputs[2], 0, out);
    cg_add_rewrite(cg, (ChRewrite){.node = n, .attr = "group", .entry = -1, .kind = RW_SIZE, .cls = f[0]});
}

static void conv_rule(ChannelGroups *cg, Node *n, bool transposed)
{
    Value *w = constant(cg, input(n, 1)), *b = constant(cg, input(n, 2));
    int64_t groups = node_attr_int(n, "group", 1);
    if (!w || rank_of(w) < 3 || (input(n, 2) && !b) || (transposed && groups != 1)) {
        cg_default_rule(cg, n);
        return;
    }
    cg_set_axis(cg, n->outputs[0], 0, cg_axis(cg, n->inputs[0], 0));
    if (groups > 1) {
        grouped_conv(cg, n, w, groups);
        return;
    }
    int in_axis = transposed ? 0 : 1, out_axis = transposed ? 1 : 0;
    cg_add_member(cg, w, in_axis, cg_axis(cg, n->inputs[0], 1));
    int o = new_units(cg, n, dim_of(w, out_axis), 1);
    cg_add_member(cg, w, out_axis, o);
    if (b)
        cg_add_member(cg, b, 0, o);
}

/* The bias C of Gemm along the output units. */
static void gemm_bias(ChannelGroups *cg, Node *n, int units)
{
    Value *c = input(n, 2);
    int r = rank_of(c);
    int64_t dim = dim_of(n->outputs[0], 1);
    if (!c || r < 1 || dim_of(c, r - 1) != dim || dim == 1)
        return;
    if (constant(cg, c))
        cg_add_member(cg, c, r - 1, units);
    else if (cg_axis(cg, c, r - 1) != CG_NONE)
        cg_unify(cg, cg_axis(cg, c, r - 1), units, n);
    else
        cg_freeze(cg, units, cg_reason(cg, n, "adds a computed bias that does not follow its units"));
}

static void matmul_computed(ChannelGroups *cg, Node *n, int a_k, int b_k, int b_n);

static void gemm_rule(ChannelGroups *cg, Node *n)
{
    Value *a = n->inputs[0], *b = n->inputs[1];
    bool ta = node_attr_int(n, "transA", 0) != 0, tb = node_attr_int(n, "transB", 0) != 0;
    if (rank_of(a) != 2 || rank_of(b) != 2 || constant(cg, a)) {
        cg_default_rule(cg, n);
        return;
    }
    cg_set_axis(cg, n->outputs[0], 0, cg_axis(cg, a, ta ? 1 : 0));
    if (!constant(cg, b)) {
        matmul_computed(cg, n, ta ? 0 : 1, tb ? 1 : 0, tb ? 0 : 1);
        gemm_bias(cg, n, cg_axis(cg, n->outputs[0], 1));
        return;
    }
    cg_add_member(cg, b, tb ? 1 : 0, cg_axis(cg, a, ta ? 0 : 1));
    int o = new_units(cg, n, dim_of(b, tb ? 0 : 1), 1);
    cg_add_member(cg, b, tb ? 0 : 1, o);
    gemm_bias(cg, n, o);
}

/* Both operands computed (attention): the contracted axes are one class,
 * batch axes broadcast, rows from A and columns from B. */
static void matmul_computed(ChannelGroups *cg, Node *n, int a_k, int b_k, int b_n)
{
    Value *a = n->inputs[0], *b = n->inputs[1], *y = n->outputs[0];
    int ka = cg_axis(cg, a, a_k), kb = cg_axis(cg, b, b_k);
    if ((ka == CG_NONE) != (kb == CG_NONE)) {
        const char *why = cg_reason(cg, n, "contracts these channels with values that do not follow them");
        cg_freeze(cg, ka, why);
        cg_freeze(cg, kb, why);
    } else {
        cg_unify(cg, ka, kb, n);
    }
    int ry = rank_of(y);
    cg_set_axis(cg, y, ry - 1, cg_axis(cg, b, b_n));
    if (n->op == OP_Gemm)
        return;
    cg_set_axis(cg, y, ry - 2, cg_axis(cg, a, rank_of(a) - 2));
    for (int j = 0; j < ry - 2; j++) { /* batch axes */
        int ia = j - (ry - rank_of(a)), ib = j - (ry - rank_of(b));
        int ca = ia >= 0 ? cg_axis(cg, a, ia) : CG_NONE, cb = ib >= 0 ? cg_axis(cg, b, ib) : CG_NONE;
        if (ca != CG_NONE && cb != CG_NONE)
            cg_unify(cg, ca, cb, n);
        cg_set_axis(cg, y, j, ca != CG_NONE ? ca : cb);
    }
}

static void matmul_rule(ChannelGroups *cg, Node *n)
{
    Value *a = n->inputs[0], *b = n->inputs[1], *y = n->outputs[0];
    int ra = rank_of(a), rb = rank_of(b);
    if (ra < 2 || rb < 2 || rank_of(y) < 2 || constant(cg, a)) {
        cg_default_rule(cg, n);
        return;
    }
    if (!constant(cg, b)) {
        matmul_computed(cg, n, ra - 1, rb - 2, rb - 1);
        return;
    }
    if (rb != 2) {
        cg_default_rule(cg, n);
        return;
    }
    for (int j = 0; j < ra - 1; j++)
        cg_set_axis(cg, y, j, cg_axis(cg, a, j));
    cg_add_member(cg, b, 0, cg_axis(cg, a, ra - 1));
    int o = new_units(cg, n, dim_of(b, 1), rank_of(y) - 1);
    cg_add_member(cg, b, 1, o);
}

/* Gather: from a constant float table (embeddings) its last axis is new
 * units; from a computed value the axes move, and gathering along channels
 * freezes them. */
static void gather_rule(ChannelGroups *cg, Node *n)
{
    Value *data = n->inputs[0], *idx = n->inputs[1], *y = n->outputs[0];
    int r = rank_of(data), ri = rank_of(idx);
    int axis = (int)node_attr_int(n, "axis", 0);
    axis = axis < 0 ? axis + r : axis;
    if (r < 1 || ri < 0 || axis < 0 || axis >= r) {
        cg_default_rule(cg, n);
        return;
    }
    if (constant(cg, data)) {
        if (r >= 2 && axis != r - 1 && data->dtype == DT_FLOAT)
            cg_add_member(cg, data, r - 1, new_units(cg, n, dim_of(data, r - 1), r - 1 + ri - 1));
        return;
    }
    cg_freeze(cg, cg_axis(cg, data, axis), cg_reason(cg, n, "picks entries along these channels"));
    for (int a = 0; a < axis; a++)
        cg_set_axis(cg, y, a, cg_axis(cg, data, a));
    for (int a = 0; a < ri; a++)
        cg_set_axis(cg, y, axis + a, cg_axis(cg, idx, a));
    for (int a = axis + 1; a < r; a++)
        cg_set_axis(cg, y, a - 1 + ri, cg_axis(cg, data, a));
}

/* ---- movers (the others are in channel_groups_layout.c) ---- */

static void transpose_rule(ChannelGroups *cg, Node *n)
{
    int r = rank_of(n->inputs[0]), perm[IR_MAX_RANK];
    Diag d;
    if (r < 0 || data_transpose_perm(n, r, perm, &d)) {
        cg_default_rule(cg, n);
        return;
    }
    for (int i = 0; i < r; i++)
        cg_set_axis(cg, n->outputs[0], i, cg_axis(cg, n->inputs[0], perm[i]));
}

static void unary_rule(ChannelGroups *cg, Node *n)
{
    for (int o = 0; o < n->n_outputs; o++)
        if (n->outputs[o] && rank_of(n->outputs[o]) == rank_of(n->inputs[0]))
            copy_axes(cg, n->inputs[0], n->outputs[o]);
}

static bool is_unary(int op)
{
    switch (op) {
    case OP_Relu: case OP_Sigmoid: case OP_Tanh: case OP_Identity: case OP_Dropout: case OP_Cast:
    case OP_Softmax: case OP_LogSoftmax: case OP_Abs: case OP_Erf: case OP_Exp: case OP_Log: case OP_Neg:
    case OP_Reciprocal: case OP_Sqrt: case OP_Softplus: case OP_Softsign: case OP_Elu: case OP_Selu:
    case OP_Celu: case OP_LeakyRelu: case OP_HardSigmoid: case OP_HardSwish: case OP_ThresholdedRelu:
    case OP_Mish: case OP_Gelu: case OP_Clip: case OP_Floor: case OP_Ceil: case OP_Round: case OP_Sign:
    case OP_Not: case OP_LRN: case OP_LpNormalization: case OP_Sin: case OP_Cos:
        return true;
    default:
        return false;
    }
}

static bool is_broadcasting(int op)
{
    switch (op) {
    case OP_Add: case OP_Sub: case OP_Mul: case OP_Div: case OP_Pow: case OP_Max: case OP_Min: case OP_Sum:
    case OP_Mean: case OP_Where: case OP_PRelu: case OP_Equal: case OP_Greater: case OP_GreaterOrEqual:
    case OP_Less: case OP_LessOrEqual: case OP_And: case OP_Or: case OP_Xor: case OP_Mod:
        return true;
    default:
        return false;
    }
}

static void node_rule(ChannelGroups *cg, Node *n)
{
    if (n->op == OP_OPAQUE || !n->n_outputs || !n->outputs[0]) {
        cg_default_rule(cg, n);
        return;
    }
    if (is_unary(n->op)) {
        unary_rule(cg, n);
        return;
    }
    if (is_broadcasting(n->op)) {
        broadcast_rule(cg, n);
        return;
    }
    switch (n->op) {
    case OP_Conv: conv_rule(cg, n, false); break;
    case OP_ConvTranspose: conv_rule(cg, n, true); break;
    case OP_Gemm: gemm_rule(cg, n); break;
    case OP_MatMul: matmul_rule(cg, n); break;
    case OP_Gather: gather_rule(cg, n); break;
    case OP_BatchNormalization: channel_params_rule(cg, n, 1); break;
    case OP_InstanceNormalization: channel_params_rule(cg, n, 1); break;
    case OP_LayerNormalization: layernorm_rule(cg, n); break;
    case OP_GroupNormalization: groupnorm_rule(cg, n); break;
    case OP_MaxPool:
        if (n->n_outputs > 1 && n->outputs[1]) /* flat indices count channels */
            cg_default_rule(cg, n);
        else
            same_dims_rule(cg, n);
        break;
    case OP_AveragePool: case OP_GlobalAveragePool: case OP_GlobalMaxPool: case OP_LpPool:
    case OP_GlobalLpPool: case OP_Pad: case OP_Upsample:
        same_dims_rule(cg, n);
        break;
    case OP_Resize: cg_expand_rule(cg, n); break;
    case OP_ReduceSum: case OP_ReduceMean: case OP_ReduceMax: case OP_ReduceMin: case OP_ReduceProd:
    case OP_ReduceL1: case OP_ReduceL2: case OP_ReduceLogSum: case OP_ReduceLogSumExp: case OP_ReduceSumSquare:
        reduce_rule(cg, n, false);
        break;
    case OP_ArgMax: case OP_ArgMin: reduce_rule(cg, n, true); break;
    case OP_Transpose: transpose_rule(cg, n); break;
    case OP_Reshape: case OP_Flatten: case OP_Squeeze: case OP_Unsqueeze: cg_reshape_rule(cg, n); break;
    case OP_Concat: cg_concat_rule(cg, n); break;
    case OP_Split: cg_split_rule(cg, n); break;
    case OP_Slice: cg_slice_rule(cg, n); break;
    case OP_Expand: cg_expand_rule(cg, n); break;
    case OP_Shape: cg_shape_rule(cg, n); break;
    case OP_Constant: case OP_ConstantOfShape: case OP_Range: break;
    default: cg_default_rule(cg, n); break;
    }
}

/* ---- what must keep every unit ---- */

static bool value_is_output(const Graph *g, const Value *v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

static void freeze_subgraph_reads(ChannelGroups *cg, const Graph *sub)
{
    for (int i = 0; i < sub->n_nodes; i++) {
        const Node *n = sub->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] && n->inputs[k]->graph == cg->g && any_tracked(cg, n->inputs[k]))
                freeze_value(cg, n->inputs[k], cg_reason(cg, n, "reads these channels inside a subgraph"));
        for (int a = 0; a < n->n_attrs; a++)
            if (n->attrs[a].kind == ATTR_GRAPH && n->attrs[a].g)
                freeze_subgraph_reads(cg, n->attrs[a].g);
    }
}

static void freeze_boundaries(ChannelGroups *cg)
{
    Graph *g = cg->g;
    for (int i = 0; i < g->n_outputs; i++) {
        bool free_output = false;
        for (int k = 0; k < cg->n_free; k++)
            free_output = free_output || !strcmp(cg->free_outputs[k], g->outputs[i]->name);
        if (!free_output)
            freeze_value(cg, g->outputs[i],
                         cg_reason(cg, NULL, "output '%s' keeps the teacher's shape", g->outputs[i]->name));
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i]->n_attrs; a++)
            if (g->nodes[i]->attrs[a].kind == ATTR_GRAPH && g->nodes[i]->attrs[a].g)
                freeze_subgraph_reads(cg, g->nodes[i]->attrs[a].g);
}

/* The only node reading v, or NULL. */
static const Node *sole_reader(const Graph *g, const Value *v)
{
    const Node *reader = NULL;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_inputs; k++)
            if (g->nodes[i]->inputs[k] == v) {
                if (reader)
                    return NULL;
                reader = g->nodes[i];
            }
    return reader;
}

/* A unit's activation is measured where it is used: after the
 * BatchNormalization and activation that follow its layer (a conv's raw
 * output has an arbitrary scale that the normalization removes). */
static void advance_probes(ChannelGroups *cg)
{
    for (int k = 0; k < cg->n_probes; k++) {
        ChProbe *p = &cg->probes[k];
        for (const Node *n; (n = sole_reader(cg->g, p->value)) && n->n_outputs > 0 && n->outputs[0];) {
            bool follows = n->op == OP_BatchNormalization || (is_unary(n->op) && n->op != OP_Softmax &&
                                                             n->op != OP_LogSoftmax && n->op != OP_Cast);
            const Value *y = n->outputs[0];
            if (!follows || n->inputs[0] != p->value || y->shape.rank != p->value->shape.rank ||
                cg_axis(cg, y, p->axis) != p->cls || value_is_output(cg->g, y))
                break;
            p->value = y;
        }
    }
}

void cg_analyse(ChannelGroups *cg)
{
    Graph *g = cg->g;
    for (int i = 0; i < g->n_nodes && !cg->failed; i++) {
        cg->at = g->nodes[i];
        node_rule(cg, g->nodes[i]);
    }
    cg->at = NULL;
    freeze_boundaries(cg);
    advance_probes(cg);
}
