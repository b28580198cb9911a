/* infer_nn2.c - shape functions of the further layer ops: ConvTranspose,
 * LpPool and the global max/Lp pools, the normalizations (Instance, Layer,
 * Group, Lp, LRN) and Resize/Upsample. */
#include "ir/conv_geom.h"
#include "ir/infer.h"
#include "ir/nn_geom.h"

static const Dim unknown_dim = {-1, NULL};

static Dim dim_of(int64_t v)
{
    return v >= 0 ? (Dim){v, NULL} : unknown_dim;
}

/* Kernel sizes from the weight's spatial dims, checked against kernel_shape. */
static Status weight_kernel(InferCtx *c, const Shape *w, int64_t *kernel, Diag *d)
{
    int ks = 0;
    const int64_t *kattr = node_attr_ints(c->node, "kernel_shape", &ks);
    for (int i = 2; i < w->rank; i++)
        kernel[i - 2] = w->dims[i].value;
    if (kattr && ks != w->rank - 2)
        return infer_error(c->node, d, "attribute 'kernel_shape' has %d values, expected %d", ks, w->rank - 2);
    for (int i = 0; kattr && i < ks; i++) {
        if (kernel[i] >= 0 && kernel[i] != kattr[i])
            return infer_error(c->node, d, "kernel_shape %lld differs from the weight's %lld in spatial dim %d",
                               (long long)kattr[i], (long long)kernel[i], i);
        kernel[i] = kattr[i];
    }
    return KDC_OK;
}

Status infer_ConvTranspose(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *w = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    if (x->rank < 0 || w->rank < 0)
        return KDC_OK;
    if (w->rank != x->rank)
        return infer_error(c->node, d, "weight rank %d differs from input rank %d", w->rank, x->rank);
    int64_t group = node_attr_int(c->node, "group", 1), kernel[IR_MAX_RANK];
    const Dim *cin = &x->dims[1], *wc = &w->dims[0];
    if (group < 1 || (cin->value >= 0 && wc->value >= 0 && cin->value != wc->value))
        return infer_error(c->node, d, "input has %lld channels but the weight has %lld (group %lld)",
                           (long long)cin->value, (long long)wc->value, (long long)group);
    if (cin->value >= 0 && cin->value % group)
        return infer_error(c->node, d, "group %lld does not divide the %lld input channels", (long long)group,
                           (long long)cin->value);
    ConvTGeom g;
    if (weight_kernel(c, w, kernel, d) || convt_geom_resolve(c->node, x, kernel, &g, d))
        return KDC_ERR;
    Shape *y = &c->out_shape[0];
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = dim_of(w->dims[1].value >= 0 ? w->dims[1].value * group : -1);
    for (int i = 0; i < g.n_spatial; i++)
        y->dims[i + 2] = dim_of(g.out[i]);
    return KDC_OK;
}

Status infer_LpPool(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    if (x->rank < 0)
        return KDC_OK;
    if (x->rank < 3)
        return infer_error(c->node, d, "input must have rank >= 3 (N, C, spatial...), got %d", x->rank);
    int ks = 0;
    const int64_t *kernel = node_attr_ints(c->node, "kernel_shape", &ks);
    if (!kernel || ks != x->rank - 2)
        return infer_error(c->node, d, "attribute 'kernel_shape' must have %d values", x->rank - 2);
    ConvGeom g;
    if (conv_geom_resolve(c->node, x, kernel, &g, d))
        return KDC_ERR;
    c->out_shape[0] = *x;
    for (int i = 0; i < g.n_spatial; i++)
        c->out_shape[0].dims[i + 2] = dim_of(g.out[i]);
    return KDC_OK;
}

static Status infer_global_pool(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0] = *x;
    if (x->rank >= 0 && x->rank < 3)
        return infer_error(c->node, d, "input must have rank >= 3, got %d", x->rank);
    for (int i = 2; i < x->rank; i++)
        c->out_shape[0].dims[i] = (Dim){1, NULL};
    return KDC_OK;
}

Status infer_GlobalMaxPool(InferCtx *c, Diag *d)
{
    return infer_global_pool(c, d);
}
Status infer_GlobalLpPool(InferCtx *c, Diag *d)
{
    return infer_global_pool(c, d);
}

/* Ops whose output is the input's shape, given an input of rank >= min_rank. */
static Status infer_same_rank_at_least(InferCtx *c, int min_rank, Diag *d)
{
    infer_same_as(c, 0, 0);
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank < min_rank)
        return infer_error(c->node, d, "input must have rank >= %d, got %d", min_rank, c->in_shape[0].rank);
    return KDC_OK;
}

Status infer_InstanceNormalization(InferCtx *c, Diag *d)
{
    return infer_same_rank_at_least(c, 3, d);
}
Status infer_GroupNormalization(InferCtx *c, Diag *d)
{
    return infer_same_rank_at_least(c, 2, d);
}
Status infer_LRN(InferCtx *c, Diag *d)
{
    return infer_same_rank_at_least(c, 2, d);
}
Status infer_LpNormalization(InferCtx *c, Diag *d)
{
    return infer_same_rank_at_least(c, 1, d);
}

/* Y as X; Mean and InvStdDev keep X's dims before axis and are 1 from it on. */
Status infer_LayerNormalization(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t stash = node_attr_int(c->node, "stash_type", 1);
    infer_same_as(c, 0, 0);
    if (!dtype_valid((int)stash) ||
        (stash != DT_FLOAT && stash != DT_DOUBLE && stash != DT_FLOAT16 && stash != DT_BFLOAT16))
        return infer_error(c->node, d, "stash_type %lld is not a floating-point type", (long long)stash);
    for (int k = 1; k < c->n_out; k++) {
        c->out_dtype[k] = (DType)stash; /* Mean and InvStdDev have the stash type */
        c->out_shape[k].rank = -1;
    }
    if (x->rank < 0)
        return KDC_OK;
    int axis;
    if (infer_axis(c->node, node_attr_int(c->node, "axis", -1), x->rank, &axis, d))
        return KDC_ERR;
    for (int k = 1; k < c->n_out; k++) {
        c->out_shape[k] = *x;
        for (int i = axis; i < x->rank; i++)
            c->out_shape[k].dims[i] = (Dim){1, NULL};
    }
    return KDC_OK;
}

/* Constant data of input k: folded at this point, or an initializer. */
static const Tensor *input_value(const InferCtx *c, int k)
{
    if (k >= c->n_in || c->in_dtype[k] == DT_UNDEFINED)
        return NULL;
    if (c->in_value[k])
        return c->in_value[k];
    return c->node->inputs[k] ? c->node->inputs[k]->init : NULL;
}

static Status infer_resize(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    const Tensor *vals[4] = {NULL};
    ResizeInputs ri;
    ResizeGeom g;
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    for (int k = 1; k < 4 && k < c->n_in; k++)
        vals[k] = input_value(c, k);
    if (x->rank < 0)
        return KDC_OK;
    if (resize_inputs_read(c->node, vals, 4, &ri, d) || resize_geom_resolve(c->node, x, &ri, &g, d))
        return KDC_ERR;
    c->out_shape[0].rank = x->rank;
    for (int i = 0; i < x->rank; i++)
        c->out_shape[0].dims[i] = g.out[i] == g.in[i] ? x->dims[i] : dim_of(g.out[i]);
    return KDC_OK;
}

Status infer_Resize(InferCtx *c, Diag *d)
{
    return infer_resize(c, d);
}
Status infer_Upsample(InferCtx *c, Diag *d)
{
    return infer_resize(c, d);
}
