/* infer_common.c - helpers shared by the shape functions, and the shape
 * functions of elementwise and shape-preserving ops. */
#include "ir/infer.h"

#include <stdio.h>
#include <string.h>

Status infer_error(const Node *n, Diag *d, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return diag_error(d, "node '%s' (%s): %s", n->name && *n->name ? n->name : "?", n->op_type, msg);
}

void infer_same_as(InferCtx *c, int out, int in)
{
    c->out_dtype[out] = c->in_dtype[in];
    c->out_shape[out] = c->in_shape[in];
}

Status infer_axis(const Node *n, int64_t axis, int rank, int *out, Diag *d)
{
    if (axis < -rank || axis >= rank)
        return infer_error(n, d, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return KDC_OK;
}

static Dim broadcast_dim(const Dim *a, const Dim *b, bool *ok)
{
    if (a->value == 1)
        return *b;
    if (b->value == 1)
        return *a;
    if (a->value >= 0 && b->value >= 0) {
        *ok = a->value == b->value;
        return *a;
    }
    if (dim_equal(a, b))
        return *a;
    if (a->value >= 0)
        return *a; /* the unknown side must be the same or 1 */
    if (b->value >= 0)
        return *b;
    return (Dim){-1, NULL};
}

Status infer_broadcast(const Node *n, const Shape *a, const Shape *b, Shape *out, Diag *d)
{
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return KDC_OK;
    }
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        Dim one = {1, NULL};
        const Dim *da = ia >= 0 ? &a->dims[ia] : &one, *db = ib >= 0 ? &b->dims[ib] : &one;
        bool ok = true;
        out->dims[i] = broadcast_dim(da, db, &ok);
        if (!ok)
            return infer_error(n, d, "shapes cannot be broadcast: dim %d is %lld vs %lld", i,
                               (long long)da->value, (long long)db->value);
    }
    return KDC_OK;
}

int infer_int_list(const InferCtx *c, int k, const char *attr, int64_t *out, int max)
{
    if (k < c->n_in && c->in_dtype[k] != DT_UNDEFINED) {
        const Tensor *t = c->in_value[k];
        if (!t)
            return -1;
        int64_t n = tensor_numel(t);
        if (n > max)
            return -1;
        for (int64_t i = 0; i < n; i++)
            out[i] = tensor_get_int(t, i);
        return (int)n;
    }
    int count = 0;
    const int64_t *v = node_attr_ints(c->node, attr, &count);
    if (!v)
        return attr ? 0 : -1;
    if (count > max)
        return -1;
    memcpy(out, v, (size_t)count * sizeof *out);
    return count;
}

static Status infer_binary(InferCtx *c, Diag *d)
{
    c->out_dtype[0] = c->in_dtype[0];
    return infer_broadcast(c->node, &c->in_shape[0], &c->in_shape[1], &c->out_shape[0], d);
}

Status infer_Add(InferCtx *c, Diag *d) { return infer_binary(c, d); }
Status infer_Sub(InferCtx *c, Diag *d) { return infer_binary(c, d); }
Status infer_Mul(InferCtx *c, Diag *d) { return infer_binary(c, d); }
Status infer_Div(InferCtx *c, Diag *d) { return infer_binary(c, d); }

static Status infer_unary(InferCtx *c, Diag *d)
{
    (void)d;
    infer_same_as(c, 0, 0);
    return KDC_OK;
}

Status infer_Relu(InferCtx *c, Diag *d) { return infer_unary(c, d); }
Status infer_Sigmoid(InferCtx *c, Diag *d) { return infer_unary(c, d); }
Status infer_Tanh(InferCtx *c, Diag *d) { return infer_unary(c, d); }
Status infer_Identity(InferCtx *c, Diag *d) { return infer_unary(c, d); }
Status infer_Softmax(InferCtx *c, Diag *d) { return infer_unary(c, d); }
Status infer_LogSoftmax(InferCtx *c, Diag *d) { return infer_unary(c, d); }

Status infer_Dropout(InferCtx *c, Diag *d)
{
    (void)d;
    infer_same_as(c, 0, 0);
    if (c->n_out > 1) {
        c->out_dtype[1] = c->node->opset >= 10 ? DT_BOOL : c->in_dtype[0];
        c->out_shape[1] = c->in_shape[0];
    }
    return KDC_OK;
}

Status infer_Cast(InferCtx *c, Diag *d)
{
    int64_t to = node_attr_int(c->node, "to", 0);
    if (!dtype_valid((int)to))
        return infer_error(c->node, d, "attribute 'to' is not a known data type (%lld)", (long long)to);
    c->out_dtype[0] = (DType)to;
    c->out_shape[0] = c->in_shape[0];
    return KDC_OK;
}
