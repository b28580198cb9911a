/* infer_shape_ops.c - shape functions of the ops that move data without
 * arithmetic: Flatten, Reshape, Shape, Gather, Unsqueeze, Squeeze, Concat,
 * Constant. Symbolic dims (the batch) are carried through by name. */
#include "ir/infer.h"

#include <string.h>

static const Dim unknown_dim = {-1, NULL};

/* Product of dims [lo, hi): a number, a lone symbol times 1, or unknown. */
static Dim dims_product(const Shape *s, int lo, int hi)
{
    int64_t known = 1;
    const Dim *sym = NULL;
    int n_sym = 0;
    for (int i = lo; i < hi; i++) {
        if (s->dims[i].value >= 0) {
            known *= s->dims[i].value;
        } else {
            sym = &s->dims[i];
            n_sym++;
        }
    }
    if (n_sym == 0)
        return (Dim){known, NULL};
    if (n_sym == 1 && known == 1 && sym->param)
        return *sym;
    return unknown_dim;
}

Status infer_Flatten(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = 2;
    if (x->rank < 0) {
        c->out_shape[0].dims[0] = c->out_shape[0].dims[1] = unknown_dim;
        return KDC_OK;
    }
    int64_t axis = node_attr_int(c->node, "axis", 1);
    if (axis < -x->rank || axis > x->rank)
        return infer_error(c->node, d, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    c->out_shape[0].dims[0] = dims_product(x, 0, a);
    c->out_shape[0].dims[1] = dims_product(x, a, x->rank);
    return KDC_OK;
}

/* Resolves the -1 entry of a Reshape: the input dims not copied by a 0
 * entry, divided by the product of the explicit entries. A lone symbol (the
 * batch) survives when the known dims divide out exactly. Fails when the
 * input is fully known and does not divide. */
static Status reshape_infer_minus_one(const Node *n, const Shape *x, const bool *copied, int64_t explicit_product,
                                      Dim *out, Diag *d)
{
    int64_t rest = 1, copied_product = 1;
    const Dim *rest_sym = NULL;
    int rest_unknown = 0, copied_unknown = 0;
    for (int i = 0; i < x->rank; i++) {
        bool known = x->dims[i].value >= 0;
        if (copied[i]) {
            copied_unknown += !known;
            copied_product *= known ? x->dims[i].value : 1;
        } else if (known) {
            rest *= x->dims[i].value;
        } else {
            rest_sym = &x->dims[i];
            rest_unknown++;
        }
    }
    *out = unknown_dim;
    if (explicit_product <= 0)
        return KDC_OK;
    if (rest % explicit_product != 0) {
        if (rest_unknown || copied_unknown)
            return KDC_OK;
        return infer_error(n, d,
                           "cannot reshape %lld elements: the entries other than -1 multiply to %lld, which does "
                           "not divide it",
                           (long long)(rest * copied_product), (long long)(explicit_product * copied_product));
    }
    if (rest_unknown == 0)
        *out = (Dim){rest / explicit_product, NULL};
    else if (rest_unknown == 1 && rest_sym->param && rest == explicit_product)
        *out = *rest_sym;
    return KDC_OK;
}

Status infer_Reshape(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t target[IR_MAX_RANK];
    int n = infer_int_list(c, 1, NULL, target, IR_MAX_RANK);
    c->out_dtype[0] = c->in_dtype[0];
    Shape *y = &c->out_shape[0];
    if (n < 0) {
        y->rank = -1;
        return KDC_OK;
    }
    bool allowzero = node_attr_int(c->node, "allowzero", 0) != 0;
    bool copied[IR_MAX_RANK] = {false};
    int64_t explicit_product = 1;
    int minus_one = -1;
    y->rank = n;
    for (int i = 0; i < n; i++) {
        if (target[i] == 0 && !allowzero) {
            if (x->rank < 0 || i >= x->rank)
                return x->rank < 0 ? (y->rank = -1, KDC_OK)
                                   : infer_error(c->node, d, "shape entry %d is 0 but the input has rank %d", i, x->rank);
            y->dims[i] = x->dims[i];
            copied[i] = true;
        } else if (target[i] == -1) {
            if (minus_one >= 0)
                return infer_error(c->node, d, "shape has more than one -1");
            minus_one = i;
        } else if (target[i] < 0) {
            return infer_error(c->node, d, "shape entry %d is %lld", i, (long long)target[i]);
        } else {
            y->dims[i] = (Dim){target[i], NULL};
            explicit_product *= target[i];
        }
    }
    if (minus_one >= 0) {
        y->dims[minus_one] = unknown_dim;
        if (x->rank >= 0 && reshape_infer_minus_one(c->node, x, copied, explicit_product, &y->dims[minus_one], d))
            return KDC_ERR;
    }
    int64_t in_n = shape_numel(x), out_n = shape_numel(y);
    if (in_n >= 0 && out_n >= 0 && in_n != out_n)
        return infer_error(c->node, d, "cannot reshape %lld elements into %lld", (long long)in_n, (long long)out_n);
    return KDC_OK;
}

Status infer_Shape(InferCtx *c, Diag *d)
{
    (void)d;
    int r = c->in_shape[0].rank;
    int64_t start = node_attr_int(c->node, "start", 0), end = node_attr_int(c->node, "end", r);
    c->out_dtype[0] = DT_INT64;
    c->out_shape[0].rank = 1;
    if (r < 0) {
        c->out_shape[0].dims[0] = unknown_dim;
        return KDC_OK;
    }
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    c->out_shape[0].dims[0] = (Dim){end > start ? end - start : 0, NULL};
    return KDC_OK;
}

Status infer_Gather(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *idx = &c->in_shape[1];
    c->out_dtype[0] = c->in_dtype[0];
    if (x->rank < 0 || idx->rank < 0) {
        c->out_shape[0].rank = -1;
        return KDC_OK;
    }
    int axis;
    if (infer_axis(c->node, node_attr_int(c->node, "axis", 0), x->rank, &axis, d))
        return KDC_ERR;
    if (x->rank + idx->rank - 1 > IR_MAX_RANK)
        return infer_error(c->node, d, "output rank exceeds %d", IR_MAX_RANK);
    Shape *y = &c->out_shape[0];
    y->rank = 0;
    for (int i = 0; i < axis; i++)
        y->dims[y->rank++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++)
        y->dims[y->rank++] = idx->dims[i];
    for (int i = axis + 1; i < x->rank; i++)
        y->dims[y->rank++] = x->dims[i];
    return KDC_OK;
}

Status infer_Unsqueeze(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t axes[IR_MAX_RANK];
    int n = infer_int_list(c, 1, "axes", axes, IR_MAX_RANK);
    c->out_dtype[0] = c->in_dtype[0];
    if (n < 0 || x->rank < 0) {
        c->out_shape[0].rank = -1;
        return KDC_OK;
    }
    int r = x->rank + n;
    if (r > IR_MAX_RANK)
        return infer_error(c->node, d, "output rank %d exceeds %d", r, IR_MAX_RANK);
    bool is_new[IR_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        if (infer_axis(c->node, axes[i], r, &a, d))
            return KDC_ERR;
        if (is_new[a])
            return infer_error(c->node, d, "axis %lld is repeated", (long long)axes[i]);
        is_new[a] = true;
    }
    Shape *y = &c->out_shape[0];
    y->rank = r;
    for (int i = 0, k = 0; i < r; i++)
        y->dims[i] = is_new[i] ? (Dim){1, NULL} : x->dims[k++];
    return KDC_OK;
}

Status infer_Squeeze(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    int64_t axes[IR_MAX_RANK];
    int n = infer_int_list(c, 1, "axes", axes, IR_MAX_RANK);
    c->out_dtype[0] = c->in_dtype[0];
    if (n < 0 || x->rank < 0) {
        c->out_shape[0].rank = -1;
        return KDC_OK;
    }
    bool drop[IR_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        if (infer_axis(c->node, axes[i], x->rank, &a, d))
            return KDC_ERR;
        if (x->dims[a].value >= 0 && x->dims[a].value != 1)
            return infer_error(c->node, d, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a].value);
        drop[a] = true;
    }
    for (int i = 0; n == 0 && i < x->rank; i++) {
        if (x->dims[i].value < 0) { /* which dims are 1 is not known yet */
            c->out_shape[0].rank = -1;
            return KDC_OK;
        }
        drop[i] = x->dims[i].value == 1;
    }
    Shape *y = &c->out_shape[0];
    y->rank = 0;
    for (int i = 0; i < x->rank; i++)
        if (!drop[i])
            y->dims[y->rank++] = x->dims[i];
    return KDC_OK;
}

/* The dims off the axis must agree; the most precise one wins (a number over
 * a symbol over unknown). */
static Status concat_merge_dims(const Node *n, Shape *y, const Shape *s, int axis, int k, Diag *d)
{
    for (int i = 0; i < y->rank; i++) {
        Dim *a = &y->dims[i];
        const Dim *b = &s->dims[i];
        if (i == axis)
            continue;
        if (a->value >= 0 && b->value >= 0 && a->value != b->value)
            return infer_error(n, d, "input %d has %lld in dim %d, input 0 has %lld", k, (long long)b->value, i,
                               (long long)a->value);
        if (b->value >= 0 || (a->value < 0 && !a->param))
            *a = *b;
    }
    return KDC_OK;
}

Status infer_Concat(InferCtx *c, Diag *d)
{
    const Shape *x0 = &c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    for (int k = 0; k < c->n_in; k++)
        if (c->in_shape[k].rank < 0) {
            c->out_shape[0].rank = -1;
            return KDC_OK;
        }
    int axis;
    if (infer_axis(c->node, node_attr_int(c->node, "axis", 0), x0->rank, &axis, d))
        return KDC_ERR;
    Shape y = *x0;
    for (int k = 1; k < c->n_in; k++) {
        const Shape *s = &c->in_shape[k];
        if (s->rank != x0->rank)
            return infer_error(c->node, d, "input %d has rank %d, input 0 has rank %d", k, s->rank, x0->rank);
        if (concat_merge_dims(c->node, &y, s, axis, k, d))
            return KDC_ERR;
        const Dim *a = &y.dims[axis], *b = &s->dims[axis];
        y.dims[axis] = a->value >= 0 && b->value >= 0 ? (Dim){a->value + b->value, NULL} : unknown_dim;
    }
    c->out_shape[0] = y;
    return KDC_OK;
}

Status infer_Constant(InferCtx *c, Diag *d)
{
    const Node *n = c->node;
    if (n->n_attrs != 1)
        return infer_error(n, d, "must have exactly one value attribute, has %d", n->n_attrs);
    const Attr *a = &n->attrs[0];
    Shape *y = &c->out_shape[0];
    y->rank = 0;
    if (a->kind == ATTR_TENSOR) {
        c->out_dtype[0] = a->t->dtype;
        *y = shape_from_dims(a->t->rank, a->t->dims);
    } else if (a->kind == ATTR_FLOAT || a->kind == ATTR_INT || a->kind == ATTR_STRING) {
        c->out_dtype[0] = a->kind == ATTR_FLOAT ? DT_FLOAT : a->kind == ATTR_INT ? DT_INT64 : DT_STRING;
    } else if (a->kind == ATTR_FLOATS || a->kind == ATTR_INTS || a->kind == ATTR_STRINGS) {
        c->out_dtype[0] = a->kind == ATTR_FLOATS ? DT_FLOAT : a->kind == ATTR_INTS ? DT_INT64 : DT_STRING;
        *y = shape_from_dims(1, (int64_t[]){a->n});
    } else {
        return infer_error(n, d, "attribute '%s' is not supported (sparse constants are not computed)", a->name);
    }
    return KDC_OK;
}
