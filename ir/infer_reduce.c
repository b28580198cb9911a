/* infer_reduce.c - shape functions of the reductions: the Reduce family
 * (axes as attribute or, from ReduceSum-13 and the others' opset 18, as an
 * input; keepdims; noop_with_empty_axes), ArgMax, ArgMin and TopK. */
#include "ir/data_geom.h"
#include "ir/infer.h"

static const Dim unknown_dim = {-1, NULL};

static Status infer_reduce(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    Shape *y = &c->out_shape[0];
    ReduceGeom g;
    bool known;
    c->out_dtype[0] = c->in_dtype[0];
    y->rank = -1;
    if (x->rank < 0)
        return KDC_OK;
    if (data_reduce_geom(c->node, c->in_value, x->rank, &g, &known, d))
        return KDC_ERR;
    if (!known) {
        if (g.keepdims) {
            y->rank = x->rank;
            for (int i = 0; i < x->rank; i++)
                y->dims[i] = unknown_dim;
        }
        return KDC_OK;
    }
    y->rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!g.reduce[i])
            y->dims[y->rank++] = x->dims[i];
        else if (g.keepdims)
            y->dims[y->rank++] = (Dim){1, NULL};
    }
    return KDC_OK;
}

Status infer_ReduceSum(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceMean(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceMax(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceMin(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceProd(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceL1(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceL2(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceLogSum(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceLogSumExp(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}
Status infer_ReduceSumSquare(InferCtx *c, Diag *d)
{
    return infer_reduce(c, d);
}

static Status infer_arg(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    Shape *y = &c->out_shape[0];
    int axis;
    c->out_dtype[0] = DT_INT64;
    y->rank = -1;
    if (x->rank < 0)
        return KDC_OK;
    if (infer_axis(c->node, node_attr_int(c->node, "axis", 0), x->rank, &axis, d))
        return KDC_ERR;
    bool keep = node_attr_int(c->node, "keepdims", 1) != 0;
    y->rank = 0;
    for (int i = 0; i < x->rank; i++)
        if (i != axis)
            y->dims[y->rank++] = x->dims[i];
        else if (keep)
            y->dims[y->rank++] = (Dim){1, NULL};
    return KDC_OK;
}

Status infer_ArgMax(InferCtx *c, Diag *d)
{
    return infer_arg(c, d);
}
Status infer_ArgMin(InferCtx *c, Diag *d)
{
    return infer_arg(c, d);
}

Status infer_TopK(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t k;
    int axis;
    c->out_dtype[0] = c->in_dtype[0];
    c->out_dtype[1] = DT_INT64;
    c->out_shape[0].rank = c->out_shape[1].rank = -1;
    if (data_topk_k(c->node, c->in_value, &k, d))
        return KDC_ERR;
    if (x->rank < 0)
        return KDC_OK;
    if (infer_axis(c->node, node_attr_int(c->node, "axis", -1), x->rank, &axis, d))
        return KDC_ERR;
    int64_t n = x->dims[axis].value;
    if (k >= 0 && n >= 0 && k > n)
        return infer_error(c->node, d, "k (%lld) exceeds the axis size (%lld)", (long long)k, (long long)n);
    Shape y = *x;
    y.dims[axis] = k >= 0 ? (Dim){k, NULL} : unknown_dim;
    c->out_shape[0] = c->out_shape[1] = y;
    return KDC_OK;
}
