/* infer_misc.c - shape functions of the smaller ops: Einsum, GatherND,
 * Hardmax, CastLike, EyeLike, Shrink, IsInf, IsNaN, BitShift, and the ops
 * whose output size depends on input data (NonZero, Compress,
 * StringNormalizer): their size is read from the input's value when it is
 * known at build time, and left unknown (-1) otherwise, which the planner
 * reports. Types are checked by
 * the runtime (runtime/op_misc.c, op_einsum.c).
 */
#include "ir/einsum_geom.h"
#include "ir/infer.h"
#include "ir/strnorm.h"

#include <string.h>

static Dim unknown_dim(void)
{
    return (Dim){-1, NULL};
}

/* ---- Einsum ---- */

/* A label's size over its occurrences: a known size other than 1 wins,
 * then a symbol, then 1 when every occurrence is 1. */
static Dim einsum_label_dim(const InferCtx *c, const EinsumEq *eq, int l)
{
    Dim best = unknown_dim();
    bool all_one = true;
    for (int i = 0; i < eq->n_in; i++)
        for (int a = 0; a < eq->rank[i]; a++) {
            const Dim *dm = &c->in_shape[i].dims[a];
            if (eq->label[i][a] != l)
                continue;
            if (dm->value > 1)
                return *dm;
            all_one = all_one && dm->value == 1;
            if (dm->param && !best.param)
                best = *dm;
        }
    return all_one ? (Dim){1, NULL} : best;
}

Status infer_Einsum(InferCtx *c, Diag *d)
{
    int ranks[EINSUM_MAX_OPERANDS];
    EinsumEq eq;
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    if (c->n_in > EINSUM_MAX_OPERANDS)
        return infer_error(c->node, d, "%d inputs; at most %d are supported", c->n_in, EINSUM_MAX_OPERANDS);
    for (int i = 0; i < c->n_in; i++) {
        if (c->in_shape[i].rank < 0)
            return KDC_OK;
        ranks[i] = c->in_shape[i].rank;
    }
    const char *equation = node_attr_string(c->node, "equation", NULL);
    if (!equation)
        return infer_error(c->node, d, "attribute 'equation' is required");
    if (einsum_parse(equation, c->n_in, ranks, &eq, d))
        return diag_prefix(d, "node '%s' (Einsum)", c->node->name ? c->node->name : "?");
    c->out_shape[0].rank = eq.out_rank;
    for (int a = 0; a < eq.out_rank; a++)
        c->out_shape[0].dims[a] = einsum_label_dim(c, &eq, eq.out_label[a]);
    return KDC_OK;
}

/* ---- GatherND ---- */

/* indices [..., m] address m axes of data after the batch_dims leading
 * ones: Y = indices.shape[:-1] + data.shape[batch_dims + m:]. */
Status infer_GatherND(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *idx = &c->in_shape[1];
    int64_t b = c->node->opset >= 12 ? node_attr_int(c->node, "batch_dims", 0) : 0;
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    if (x->rank < 0 || idx->rank < 0)
        return KDC_OK;
    if (idx->rank < 1 || x->rank < 1)
        return infer_error(c->node, d, "data and indices need rank 1 or more");
    if (b < 0 || b >= idx->rank || b >= x->rank)
        return infer_error(c->node, d, "batch_dims %lld must be below both ranks (%d, %d)", (long long)b, x->rank,
                           idx->rank);
    int64_t m = idx->dims[idx->rank - 1].value;
    if (m < 0)
        return KDC_OK;
    if (m < 1 || b + m > x->rank)
        return infer_error(c->node, d, "index tuples of %lld entries do not fit data of rank %d after %lld batch dims",
                           (long long)m, x->rank, (long long)b);
    if (idx->rank - 1 + x->rank - b - m > IR_MAX_RANK)
        return infer_error(c->node, d, "output rank exceeds %d", IR_MAX_RANK);
    Shape *y = &c->out_shape[0];
    y->rank = 0;
    for (int i = 0; i < idx->rank - 1; i++)
        y->dims[y->rank++] = idx->dims[i];
    for (int i = (int)(b + m); i < x->rank; i++)
        y->dims[y->rank++] = x->dims[i];
    return KDC_OK;
}

/* ---- same shape ---- */

Status infer_Hardmax(InferCtx *c, Diag *d)
{
    (void)d;
    infer_same_as(c, 0, 0);
    return KDC_OK;
}

Status infer_Shrink(InferCtx *c, Diag *d)
{
    (void)d;
    infer_same_as(c, 0, 0);
    return KDC_OK;
}

Status infer_CastLike(InferCtx *c, Diag *d)
{
    (void)d;
    c->out_dtype[0] = c->in_dtype[1];
    c->out_shape[0] = c->in_shape[0];
    return KDC_OK;
}

Status infer_EyeLike(InferCtx *c, Diag *d)
{
    const Attr *dt = node_attr(c->node, "dtype");
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank != 2)
        return infer_error(c->node, d, "input must be 2-D, it has rank %d", c->in_shape[0].rank);
    if (dt && (!dtype_valid((int)dt->i) || dt->i == DT_UNDEFINED))
        return infer_error(c->node, d, "attribute 'dtype' is not a known data type (%lld)", (long long)dt->i);
    c->out_dtype[0] = dt ? (DType)dt->i : c->in_dtype[0];
    c->out_shape[0] = c->in_shape[0];
    return KDC_OK;
}

Status infer_IsInf(InferCtx *c, Diag *d)
{
    (void)d;
    c->out_dtype[0] = DT_BOOL;
    c->out_shape[0] = c->in_shape[0];
    return KDC_OK;
}

Status infer_IsNaN(InferCtx *c, Diag *d)
{
    return infer_IsInf(c, d);
}

Status infer_BitShift(InferCtx *c, Diag *d)
{
    c->out_dtype[0] = c->in_dtype[0];
    return infer_broadcast(c->node, &c->in_shape[0], &c->in_shape[1], &c->out_shape[0], d);
}

/* ---- data-dependent sizes ---- */

static bool element_nonzero(const Tensor *t, int64_t i)
{
    if (t->dtype == DT_FLOAT16 || t->dtype == DT_BFLOAT16) {
        const uint16_t *h = t->data;
        return (h[i] & 0x7fff) != 0; /* -0 is zero */
    }
    if (t->dtype == DT_FLOAT || t->dtype == DT_DOUBLE)
        return tensor_get_double(t, i) != 0.0;
    return tensor_get_int(t, i) != 0;
}

Status infer_NonZero(InferCtx *c, Diag *d)
{
    const Tensor *x = c->in_value[0];
    c->out_dtype[0] = DT_INT64;
    c->out_shape[0].rank = -1;
    if (c->in_shape[0].rank < 0)
        return KDC_OK;
    if (x && x->dtype == DT_STRING)
        return infer_error(c->node, d, "string tensors are not computed");
    c->out_shape[0].rank = 2;
    c->out_shape[0].dims[0] = (Dim){c->in_shape[0].rank, NULL};
    c->out_shape[0].dims[1] = unknown_dim();
    if (x) {
        int64_t n = 0, total = tensor_numel(x);
        for (int64_t i = 0; i < total; i++)
            n += element_nonzero(x, i);
        c->out_shape[0].dims[1] = (Dim){n, NULL};
    }
    return KDC_OK;
}

/* Compress keeps the slices where the (possibly shorter) condition holds;
 * without an axis it works on the flattened input. */
Status infer_Compress(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    const Tensor *cond = c->in_value[1];
    const Attr *axis_attr = node_attr(c->node, "axis");
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0].rank = -1;
    if (c->in_shape[1].rank >= 0 && c->in_shape[1].rank != 1)
        return infer_error(c->node, d, "condition must be 1-D, it has rank %d", c->in_shape[1].rank);
    if (x->rank < 0)
        return KDC_OK;
    int axis = 0;
    Dim len = {shape_numel(x), NULL};
    if (axis_attr) {
        if (c->node->opset < 11 && axis_attr->i < 0)
            return infer_error(c->node, d, "a negative axis needs opset 11 (opset %d)", c->node->opset);
        if (infer_axis(c->node, axis_attr->i, x->rank, &axis, d))
            return KDC_ERR;
        len = x->dims[axis];
    }
    Dim kept = unknown_dim();
    if (cond) {
        int64_t m = tensor_numel(cond), n = 0;
        if (len.value >= 0 && m > len.value)
            return infer_error(c->node, d, "condition has %lld entries for an axis of %lld", (long long)m,
                               (long long)len.value);
        for (int64_t i = 0; i < m; i++)
            n += element_nonzero(cond, i);
        kept = (Dim){n, NULL};
    }
    Shape *y = &c->out_shape[0];
    *y = axis_attr ? *x : (Shape){.rank = 1};
    y->dims[axis] = kept;
    return KDC_OK;
}

/* ---- StringNormalizer ---- */

static int64_t count_kept(const Tensor *x, const Attr *stops, bool case_sensitive)
{
    int64_t kept = 0, n = tensor_numel(x);
    for (int64_t i = 0; i < n; i++)
        kept += !strnorm_is_stop_word(stops, x->strings[i], case_sensitive);
    return kept;
}

/* The elements of a [C] or [1, C] string tensor that are not stop words
 * remain; when none does, the output is one empty string. The size is
 * known without stop words, or from the input's value. */
Status infer_StringNormalizer(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0];
    const Tensor *value = c->in_value[0];
    const Attr *stops = node_attr(c->node, "stopwords");
    c->out_dtype[0] = DT_STRING;
    c->out_shape[0].rank = -1;
    if (stops && stops->kind != ATTR_STRINGS)
        return infer_error(c->node, d, "attribute 'stopwords' must be a list of strings");
    if (x->rank < 0)
        return KDC_OK;
    if (x->rank != 1 && (x->rank != 2 || (x->dims[0].value >= 0 && x->dims[0].value != 1)))
        return infer_error(c->node, d, "input must have shape [C] or [1, C]");
    Shape *y = &c->out_shape[0];
    *y = *x;
    if (x->rank == 2)
        y->dims[0] = (Dim){1, NULL};
    Dim *kept = &y->dims[x->rank - 1];
    if (stops && stops->n > 0)
        *kept = value && value->strings
                    ? (Dim){count_kept(value, stops, node_attr_int(c->node, "is_case_sensitive", 0) != 0), NULL}
                    : unknown_dim();
    if (kept->value == 0)
        *kept = (Dim){1, NULL};
    return KDC_OK;
}
