/* infer_quant.c - shape functions of the window functions (HannWindow,
 * HammingWindow, BlackmanWindow), ReverseSequence, MeanVarianceNormalization
 * linear quantization (QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear), Det and MaxUnpool. MaxUnpool's output_shape input
 * is read the same way as a window's size. A window's length is the value of its size input,
 * read when known at build time (an initializer, or a graph input bound by
 * plan_build_with_values) and left unknown otherwise. Types beyond the output
 * type are checked by the runtime (runtime/op_quant.c).
 */
#include "ir/infer.h"

/* ---- windows ---- */

static Status infer_window(InferCtx *c, Diag *d)
{
    const Attr *dt = node_attr(c->node, "output_datatype");
    const Tensor *size = c->in_value[0];
    if (c->in_shape[0].rank > 0 && shape_numel(&c->in_shape[0]) != 1)
        return infer_error(c->node, d, "size must be a scalar");
    if (dt && (!dtype_valid((int)dt->i) || dt->i == DT_UNDEFINED))
        return infer_error(c->node, d, "attribute 'output_datatype' is not a known data type (%lld)", (long long)dt->i);
    c->out_dtype[0] = dt ? (DType)dt->i : DT_FLOAT;
    c->out_shape[0].rank = 1;
    c->out_shape[0].dims[0] = (Dim){-1, NULL};
    if (size) {
        int64_t n = tensor_get_int(size, 0);
        if (n < 0)
            return infer_error(c->node, d, "size %lld is negative", (long long)n);
        c->out_shape[0].dims[0] = (Dim){n, NULL};
    }
    return KDC_OK;
}

Status infer_HannWindow(InferCtx *c, Diag *d)
{
    return infer_window(c, d);
}
Status infer_HammingWindow(InferCtx *c, Diag *d)
{
    return infer_window(c, d);
}
Status infer_BlackmanWindow(InferCtx *c, Diag *d)
{
    return infer_window(c, d);
}

/* ---- same shape ---- */

Status infer_ReverseSequence(InferCtx *c, Diag *d)
{
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank < 2)
        return infer_error(c->node, d, "input must have rank 2 or more, it has %d", c->in_shape[0].rank);
    if (c->in_shape[1].rank >= 0 && c->in_shape[1].rank != 1)
        return infer_error(c->node, d, "sequence_lens must be 1-D, it has rank %d", c->in_shape[1].rank);
    infer_same_as(c, 0, 0);
    return KDC_OK;
}

Status infer_MeanVarianceNormalization(InferCtx *c, Diag *d)
{
    (void)d;
    infer_same_as(c, 0, 0);
    return KDC_OK;
}

/* ---- quantization ---- */

static bool has_input(const InferCtx *c, int k)
{
    return k < c->n_in && c->in_dtype[k] != DT_UNDEFINED;
}

/* The quantized type is the zero point's, uint8 without one. */
Status infer_QuantizeLinear(InferCtx *c, Diag *d)
{
    (void)d;
    c->out_dtype[0] = has_input(c, 2) ? c->in_dtype[2] : DT_UINT8;
    c->out_shape[0] = c->in_shape[0];
    return KDC_OK;
}

/* The real type is the scale's. */
Status infer_DequantizeLinear(InferCtx *c, Diag *d)
{
    (void)d;
    c->out_dtype[0] = c->in_dtype[1];
    c->out_shape[0] = c->in_shape[0];
    return KDC_OK;
}

Status infer_DynamicQuantizeLinear(InferCtx *c, Diag *d)
{
    (void)d;
    c->out_dtype[0] = DT_UINT8;
    c->out_shape[0] = c->in_shape[0];
    for (int k = 1; k < c->n_out && k < 3; k++) {
        c->out_dtype[k] = k == 1 ? DT_FLOAT : DT_UINT8;
        c->out_shape[k] = (Shape){.rank = 0};
    }
    return KDC_OK;
}

/* ---- Det ---- */

/* [*, M, M] -> [*] */
Status infer_Det(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    if (x->rank < 0)
        return KDC_OK;
    if (x->rank < 2)
        return infer_error(c->node, d, "input must have rank 2 or more, it has %d", x->rank);
    const Dim *r = &x->dims[x->rank - 2], *k = &x->dims[x->rank - 1];
    if (r->value >= 0 && k->value >= 0 && r->value != k->value)
        return infer_error(c->node, d, "matrices must be square, they are %lld x %lld", (long long)r->value,
                           (long long)k->value);
    c->out_shape[0].rank = x->rank - 2;
    for (int i = 0; i < x->rank - 2; i++)
        c->out_shape[0].dims[i] = x->dims[i];
    return KDC_OK;
}

/* ---- MaxUnpool ---- */

/* Without output_shape each spatial dim is (in - 1) * stride + kernel -
 * pads; with it, its values. */
static Status unpool_default_shape(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    Shape *y = &c->out_shape[0];
    int spatial = x->rank - 2, nk = 0, ns = 0, np = 0;
    const int64_t *kernel = node_attr_ints(c->node, "kernel_shape", &nk);
    const int64_t *strides = node_attr_ints(c->node, "strides", &ns);
    const int64_t *pads = node_attr_ints(c->node, "pads", &np);
    if (!kernel || nk != spatial || (strides && ns != spatial) || (pads && np != 2 * spatial))
        return infer_error(c->node, d, "kernel_shape (and strides, pads when given) must match the %d spatial dims",
                           spatial);
    *y = *x;
    for (int i = 0; i < spatial; i++) {
        const Dim *in = &x->dims[2 + i];
        int64_t s = strides ? strides[i] : 1, pad = pads ? pads[i] + pads[spatial + i] : 0;
        y->dims[2 + i] = in->value < 0 ? (Dim){-1, NULL} : (Dim){(in->value - 1) * s + kernel[i] - pad, NULL};
        if (y->dims[2 + i].value == 0 || y->dims[2 + i].value < -1)
            return infer_error(c->node, d, "spatial dim %d of the output would be empty", i);
    }
    return KDC_OK;
}

Status infer_MaxUnpool(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t dims[IR_MAX_RANK];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    if (x->rank < 0)
        return KDC_OK;
    if (x->rank < 3)
        return infer_error(c->node, d, "input must have rank 3 or more, it has %d", x->rank);
    if (!has_input(c, 2))
        return unpool_default_shape(c, d);
    int n = infer_int_list(c, 2, NULL, dims, IR_MAX_RANK);
    if (n < 0) {
        c->out_shape[0].rank = x->rank;
        for (int i = 0; i < x->rank; i++)
            c->out_shape[0].dims[i] = (Dim){-1, NULL};
        return KDC_OK;
    }
    if (n != x->rank)
        return infer_error(c->node, d, "output_shape has %d entries for an input of rank %d", n, x->rank);
    c->out_shape[0] = shape_from_dims(n, dims);
    return KDC_OK;
}
