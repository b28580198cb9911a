/* infer_data.c - shape functions of the data-movement ops: Transpose, Slice,
 * Pad, Split, Expand, Tile, DepthToSpace, SpaceToDepth, ConstantOfShape,
 * Range, Size, GatherElements, ScatterElements, Scatter, ScatterND, CumSum,
 * Trilu and OneHot. Parameters that may be attributes or inputs (by opset)
 * are resolved by ir/data_geom.c; symbolic dims pass through where the op
 * keeps them. */
#include "ir/data_geom.h"
#include "ir/infer.h"

#include <string.h>

static const Dim unknown_dim = {-1, NULL};

static void set_unknown_rank(InferCtx *c, int out)
{
    c->out_shape[out].rank = -1;
}

/* Same rank as `rank`, every dim unknown. */
static void set_unknown_dims(InferCtx *c, int out, int rank)
{
    c->out_shape[out].rank = rank;
    for (int i = 0; i < rank; i++)
        c->out_shape[out].dims[i] = unknown_dim;
}

Status infer_Transpose(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int perm[IR_MAX_RANK];
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0) {
        set_unknown_rank(c, 0);
        return KDC_OK;
    }
    if (data_transpose_perm(c->node, x->rank, perm, d))
        return KDC_ERR;
    c->out_shape[0].rank = x->rank;
    for (int i = 0; i < x->rank; i++)
        c->out_shape[0].dims[i] = x->dims[perm[i]];
    return KDC_OK;
}

Status infer_Slice(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    SliceGeom g;
    bool known;
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0) {
        set_unknown_rank(c, 0);
        return KDC_OK;
    }
    if (data_slice_geom(c->node, c->in_value, x, &g, &known, d))
        return KDC_ERR;
    set_unknown_dims(c, 0, x->rank);
    for (int i = 0; known && i < x->rank; i++)
        c->out_shape[0].dims[i] = g.len[i] >= 0 ? (Dim){g.len[i], NULL} : g.whole[i] ? x->dims[i] : unknown_dim;
    return KDC_OK;
}

Status infer_Pad(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    PadGeom g;
    bool known;
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0) {
        set_unknown_rank(c, 0);
        return KDC_OK;
    }
    if (data_pad_geom(c->node, c->in_value, x->rank, &g, &known, d))
        return KDC_ERR;
    set_unknown_dims(c, 0, x->rank);
    for (int i = 0; known && i < x->rank; i++) {
        const Dim *in = &x->dims[i];
        int64_t grow = g.begin[i] + g.end[i];
        if (in->value < 0) {
            c->out_shape[0].dims[i] = grow == 0 ? *in : unknown_dim;
            continue;
        }
        if (in->value + grow < 0)
            return infer_error(c->node, d, "pads remove more than the %lld elements of axis %d", (long long)in->value,
                               i);
        if (g.mode != PAD_CONSTANT && in->value == 0 && grow > 0)
            return infer_error(c->node, d, "axis %d is empty: nothing to pad from in this mode", i);
        c->out_shape[0].dims[i] = (Dim){in->value + grow, NULL};
    }
    return KDC_OK;
}

Status infer_Split(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t sizes[c->n_out + 1];
    bool known;
    int axis;
    for (int k = 0; k < c->n_out; k++) {
        c->out_dtype[k] = c->in_dtype[0];
        set_unknown_rank(c, k);
    }
    if (x->rank < 0)
        return KDC_OK;
    if (infer_axis(c->node, node_attr_int(c->node, "axis", 0), x->rank, &axis, d) ||
        data_split_sizes(c->node, c->in_value, x->dims[axis].value, sizes, &known, d))
        return KDC_ERR;
    for (int k = 0; k < c->n_out; k++) {
        c->out_shape[k] = *x;
        c->out_shape[k].dims[axis] = known && sizes[k] >= 0 ? (Dim){sizes[k], NULL} : unknown_dim;
    }
    return KDC_OK;
}

/* The int64 vector input k as a shape of known dims; false when not known. */
static Status shape_input(InferCtx *c, int k, Shape *s, bool *known, Diag *d)
{
    int64_t v[IR_MAX_RANK];
    int n = data_int_list(c->node, c->in_value, k, NULL, v, IR_MAX_RANK, d);
    *known = n >= 0;
    if (n == DATA_LIST_ERROR)
        return KDC_ERR;
    if (n == DATA_LIST_ABSENT)
        return infer_error(c->node, d, "input %d is missing", k);
    if (!*known)
        return KDC_OK;
    for (int i = 0; i < n; i++)
        if (v[i] < 0)
            return infer_error(c->node, d, "shape entry %d is negative (%lld)", i, (long long)v[i]);
    *s = shape_from_dims(n, v);
    return KDC_OK;
}

Status infer_Expand(InferCtx *c, Diag *d)
{
    Shape target;
    bool known;
    c->out_dtype[0] = c->in_dtype[0];
    set_unknown_rank(c, 0);
    if (shape_input(c, 1, &target, &known, d))
        return KDC_ERR;
    if (!known)
        return KDC_OK;
    return infer_broadcast(c->node, &c->in_shape[0], &target, &c->out_shape[0], d);
}

Status infer_Tile(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t reps[IR_MAX_RANK];
    c->out_dtype[0] = c->in_dtype[0];
    set_unknown_rank(c, 0);
    if (x->rank < 0)
        return KDC_OK;
    int n = data_int_list(c->node, c->in_value, 1, NULL, reps, IR_MAX_RANK, d);
    if (n == DATA_LIST_ERROR)
        return KDC_ERR;
    if (n == DATA_LIST_UNKNOWN) {
        set_unknown_dims(c, 0, x->rank);
        return KDC_OK;
    }
    if (n != x->rank)
        return infer_error(c->node, d, "repeats has %d entries for rank %d", n, x->rank);
    c->out_shape[0].rank = n;
    for (int i = 0; i < n; i++) {
        if (reps[i] < 0)
            return infer_error(c->node, d, "repeats entry %d is negative (%lld)", i, (long long)reps[i]);
        const Dim *in = &x->dims[i];
        c->out_shape[0].dims[i] = in->value >= 0 ? (Dim){in->value * reps[i], NULL} : reps[i] == 1 ? *in : unknown_dim;
    }
    return KDC_OK;
}

/* DepthToSpace (to_space) and SpaceToDepth on NCHW. */
static Status infer_block_move(InferCtx *c, bool to_space, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t b = node_attr_int(c->node, "blocksize", 0);
    c->out_dtype[0] = c->in_dtype[0];
    set_unknown_rank(c, 0);
    if (b < 1)
        return infer_error(c->node, d, "blocksize must be at least 1 (is %lld)", (long long)b);
    if (x->rank < 0)
        return KDC_OK;
    if (x->rank != 4)
        return infer_error(c->node, d, "input must be 4-D (N, C, H, W), has rank %d", x->rank);
    Shape y = *x;
    const int64_t ch = x->dims[1].value, f = to_space ? b : 1, div = to_space ? 1 : b;
    if (to_space && ch >= 0 && ch % (b * b) != 0)
        return infer_error(c->node, d, "channels (%lld) are not a multiple of blocksize^2 (%lld)", (long long)ch,
                           (long long)(b * b));
    y.dims[1] = ch < 0 ? unknown_dim : (Dim){to_space ? ch / (b * b) : ch * b * b, NULL};
    for (int i = 2; i < 4; i++) {
        int64_t v = x->dims[i].value;
        if (v >= 0 && v % div != 0)
            return infer_error(c->node, d, "spatial dim %d (%lld) is not a multiple of blocksize %lld", i, (long long)v,
                               (long long)b);
        y.dims[i] = v < 0 ? unknown_dim : (Dim){v * f / div, NULL};
    }
    c->out_shape[0] = y;
    return KDC_OK;
}

Status infer_DepthToSpace(InferCtx *c, Diag *d)
{
    const char *mode = node_attr_string(c->node, "mode", "DCR");
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return infer_error(c->node, d, "mode '%s' is neither DCR nor CRD", mode);
    return infer_block_move(c, true, d);
}

Status infer_SpaceToDepth(InferCtx *c, Diag *d)
{
    return infer_block_move(c, false, d);
}

Status infer_ConstantOfShape(InferCtx *c, Diag *d)
{
    const Attr *v = node_attr(c->node, "value");
    Shape s;
    bool known;
    c->out_dtype[0] = DT_FLOAT;
    if (v) {
        if (v->kind != ATTR_TENSOR || tensor_numel(v->t) != 1)
            return infer_error(c->node, d, "attribute 'value' must be a one-element tensor");
        if (v->t->dtype == DT_STRING)
            return infer_error(c->node, d, "string values are not computed");
        c->out_dtype[0] = v->t->dtype;
    }
    set_unknown_rank(c, 0);
    if (shape_input(c, 0, &s, &known, d))
        return KDC_ERR;
    if (known)
        c->out_shape[0] = s;
    else if (c->in_shape[0].rank == 1 && c->in_shape[0].dims[0].value >= 0)
        set_unknown_dims(c, 0, (int)c->in_shape[0].dims[0].value);
    return KDC_OK;
}

Status infer_Range(InferCtx *c, Diag *d)
{
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = 1;
    c->out_shape[0].dims[0] = unknown_dim;
    const Tensor *const *v = c->in_value;
    if (!v[0] || !v[1] || !v[2])
        return KDC_OK;
    int64_t count;
    if (data_range_count(c->node, v[0], v[1], v[2], &count, d))
        return KDC_ERR;
    c->out_shape[0].dims[0] = (Dim){count, NULL};
    return KDC_OK;
}

Status infer_Size(InferCtx *c, Diag *d)
{
    (void)d;
    c->out_dtype[0] = DT_INT64;
    c->out_shape[0].rank = 0;
    return KDC_OK;
}

Status infer_GatherElements(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *idx = &c->in_shape[1];
    int axis;
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0] = *idx;
    if (x->rank < 0 || idx->rank < 0)
        return KDC_OK;
    if (x->rank != idx->rank)
        return infer_error(c->node, d, "indices have rank %d, data rank %d", idx->rank, x->rank);
    return infer_axis(c->node, node_attr_int(c->node, "axis", 0), x->rank, &axis, d);
}

/* ScatterElements and Scatter: indices and updates share one shape. */
static Status infer_scatter_elements(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *idx = &c->in_shape[1], *upd = &c->in_shape[2];
    int axis;
    infer_same_as(c, 0, 0);
    if (x->rank < 0 || idx->rank < 0)
        return KDC_OK;
    if (x->rank != idx->rank || (upd->rank >= 0 && upd->rank != idx->rank))
        return infer_error(c->node, d, "data, indices and updates must have one rank (%d, %d, %d)", x->rank, idx->rank,
                           upd->rank);
    return infer_axis(c->node, node_attr_int(c->node, "axis", 0), x->rank, &axis, d);
}

Status infer_ScatterElements(InferCtx *c, Diag *d)
{
    return infer_scatter_elements(c, d);
}
Status infer_Scatter(InferCtx *c, Diag *d)
{
    return infer_scatter_elements(c, d);
}

Status infer_ScatterND(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *idx = &c->in_shape[1];
    infer_same_as(c, 0, 0);
    if (x->rank < 0 || idx->rank < 0)
        return KDC_OK;
    if (idx->rank < 1)
        return infer_error(c->node, d, "indices must have rank 1 or more");
    int64_t q = idx->dims[idx->rank - 1].value;
    if (q > x->rank)
        return infer_error(c->node, d, "indices address %lld axes of a rank-%d tensor", (long long)q, x->rank);
    return KDC_OK;
}

Status infer_CumSum(InferCtx *c, Diag *d)
{
    (void)d;
    infer_same_as(c, 0, 0);
    return KDC_OK;
}

Status infer_Trilu(InferCtx *c, Diag *d)
{
    infer_same_as(c, 0, 0);
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank < 2)
        return infer_error(c->node, d, "input must have rank 2 or more, has %d", c->in_shape[0].rank);
    return KDC_OK;
}

Status infer_OneHot(InferCtx *c, Diag *d)
{
    const Shape *idx = &c->in_shape[0];
    int axis;
    c->out_dtype[0] = c->in_dtype[2];
    set_unknown_rank(c, 0);
    if (idx->rank < 0)
        return KDC_OK;
    if (idx->rank + 1 > IR_MAX_RANK)
        return infer_error(c->node, d, "output rank exceeds %d", IR_MAX_RANK);
    if (infer_axis(c->node, node_attr_int(c->node, "axis", -1), idx->rank + 1, &axis, d))
        return KDC_ERR;
    Dim depth = unknown_dim;
    const Tensor *dt = c->in_value[1];
    if (dt) {
        if (tensor_numel(dt) != 1)
            return infer_error(c->node, d, "depth must hold one value");
        depth.value = tensor_get_int(dt, 0);
        if (depth.value < 1)
            return infer_error(c->node, d, "depth must be at least 1 (is %lld)", (long long)depth.value);
    }
    Shape *y = &c->out_shape[0];
    y->rank = idx->rank + 1;
    for (int i = 0, k = 0; i < y->rank; i++)
        y->dims[i] = i == axis ? depth : idx->dims[k++];
    return KDC_OK;
}
