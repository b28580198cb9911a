/* infer_nn.c - shape functions of the layer ops: Gemm, MatMul, Conv,
 * BatchNormalization and the pooling family. */
#include "ir/conv_geom.h"
#include "ir/infer.h"

static const Dim unknown_dim = {-1, NULL};

Status infer_Gemm(InferCtx *c, Diag *d)
{
    const Shape *a = &c->in_shape[0], *b = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    if (a->rank < 0 || b->rank < 0) {
        c->out_shape[0].rank = -1;
        return KDC_OK;
    }
    if (a->rank != 2 || b->rank != 2)
        return infer_error(c->node, d, "A and B must be 2-D, got ranks %d and %d", a->rank, b->rank);
    bool ta = node_attr_int(c->node, "transA", 0), tb = node_attr_int(c->node, "transB", 0);
    const Dim *ka = &a->dims[ta ? 0 : 1], *kb = &b->dims[tb ? 1 : 0];
    if (ka->value >= 0 && kb->value >= 0 && ka->value != kb->value)
        return infer_error(c->node, d, "inner dimensions differ: A has %lld, B has %lld", (long long)ka->value,
                           (long long)kb->value);
    c->out_shape[0].rank = 2;
    c->out_shape[0].dims[0] = a->dims[ta ? 1 : 0];
    c->out_shape[0].dims[1] = b->dims[tb ? 0 : 1];
    return KDC_OK;
}

Status infer_MatMul(InferCtx *c, Diag *d)
{
    Shape a = c->in_shape[0], b = c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    if (a.rank < 1 || b.rank < 1) {
        c->out_shape[0].rank = -1;
        return a.rank == 0 || b.rank == 0 ? infer_error(c->node, d, "operands must not be scalars") : KDC_OK;
    }
    bool a1 = a.rank == 1, b1 = b.rank == 1;
    if (a1) { /* [K] -> [1,K] */
        a.rank = 2;
        a.dims[1] = a.dims[0];
        a.dims[0] = (Dim){1, NULL};
    }
    if (b1) { /* [K] -> [K,1] */
        b.rank = 2;
        b.dims[1] = (Dim){1, NULL};
    }
    const Dim *ka = &a.dims[a.rank - 1], *kb = &b.dims[b.rank - 2];
    if (ka->value >= 0 && kb->value >= 0 && ka->value != kb->value)
        return infer_error(c->node, d, "inner dimensions differ: %lld vs %lld", (long long)ka->value,
                           (long long)kb->value);
    Shape ba = {.rank = a.rank - 2}, bb = {.rank = b.rank - 2}, out;
    for (int i = 0; i < ba.rank; i++)
        ba.dims[i] = a.dims[i];
    for (int i = 0; i < bb.rank; i++)
        bb.dims[i] = b.dims[i];
    if (infer_broadcast(c->node, &ba, &bb, &out, d))
        return KDC_ERR;
    if (!a1)
        out.dims[out.rank++] = a.dims[a.rank - 2];
    if (!b1)
        out.dims[out.rank++] = b.dims[b.rank - 1];
    c->out_shape[0] = out;
    return KDC_OK;
}

/* Equal, or not known yet. */
static bool conv_dims_agree(const Dim *a, const Dim *b)
{
    return a->value < 0 || b->value < 0 || a->value == b->value;
}

Status infer_Conv(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *w = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0 || w->rank < 0) {
        c->out_shape[0].rank = -1;
        return KDC_OK;
    }
    if (w->rank != x->rank)
        return infer_error(c->node, d, "weight rank %d differs from input rank %d", w->rank, x->rank);
    int64_t kernel[IR_MAX_RANK];
    for (int i = 2; i < w->rank; i++)
        kernel[i - 2] = w->dims[i].value;
    int ks = 0;
    const int64_t *kattr = node_attr_ints(c->node, "kernel_shape", &ks);
    if (kattr && ks != w->rank - 2)
        return infer_error(c->node, d, "attribute 'kernel_shape' has %d values, expected %d", ks, w->rank - 2);
    for (int i = 0; i < ks; i++) {
        if (kernel[i] >= 0 && kernel[i] != kattr[i])
            return infer_error(c->node, d, "kernel_shape %lld differs from the weight's %lld in spatial dim %d",
                               (long long)kattr[i], (long long)kernel[i], i);
        kernel[i] = kattr[i];
    }
    int64_t group = node_attr_int(c->node, "group", 1);
    const Dim *cin = &x->dims[1], *wc = &w->dims[1];
    if (group < 1 || (cin->value >= 0 && wc->value >= 0 && cin->value != wc->value * group))
        return infer_error(c->node, d, "input has %lld channels but weight expects %lld x group %lld",
                           (long long)cin->value, (long long)wc->value, (long long)group);
    const Shape *b = c->n_in > 2 && c->in_dtype[2] != DT_UNDEFINED ? &c->in_shape[2] : NULL;
    if (b && b->rank >= 0 && (b->rank != 1 || !conv_dims_agree(&b->dims[0], &w->dims[0])))
        return infer_error(c->node, d, "bias must be 1-D with one value per output channel (%lld)",
                           (long long)w->dims[0].value);
    ConvGeom g;
    if (conv_geom_resolve(c->node, x, kernel, &g, d))
        return KDC_ERR;
    Shape *y = &c->out_shape[0];
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = w->dims[0];
    for (int i = 0; i < g.n_spatial; i++)
        y->dims[i + 2] = g.out[i] >= 0 ? (Dim){g.out[i], NULL} : unknown_dim;
    return KDC_OK;
}

Status infer_BatchNormalization(InferCtx *c, Diag *d)
{
    (void)d;
    infer_same_as(c, 0, 0);
    for (int k = 1; k < c->n_out; k++) { /* running/saved mean and var: [C] */
        c->out_dtype[k] = c->in_dtype[0];
        c->out_shape[k].rank = 1;
        c->out_shape[k].dims[0] = c->in_shape[0].rank >= 2 ? c->in_shape[0].dims[1] : unknown_dim;
    }
    return KDC_OK;
}

static Status infer_pool(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0) {
        c->out_shape[0].rank = -1;
        return KDC_OK;
    }
    if (x->rank < 3)
        return infer_error(c->node, d, "input must have rank >= 3 (N, C, spatial...), got %d", x->rank);
    int ks = 0;
    const int64_t *kernel = node_attr_ints(c->node, "kernel_shape", &ks);
    if (!kernel || ks != x->rank - 2)
        return infer_error(c->node, d, "attribute 'kernel_shape' must have %d values", x->rank - 2);
    ConvGeom g;
    if (conv_geom_resolve(c->node, x, kernel, &g, d))
        return KDC_ERR;
    Shape *y = &c->out_shape[0];
    *y = *x;
    for (int i = 0; i < g.n_spatial; i++)
        y->dims[i + 2] = g.out[i] >= 0 ? (Dim){g.out[i], NULL} : unknown_dim;
    if (c->n_out > 1) {
        c->out_dtype[1] = DT_INT64;
        c->out_shape[1] = *y;
    }
    return KDC_OK;
}

Status infer_MaxPool(InferCtx *c, Diag *d) { return infer_pool(c, d); }
Status infer_AveragePool(InferCtx *c, Diag *d) { return infer_pool(c, d); }

Status infer_GlobalAveragePool(InferCtx *c, Diag *d)
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
