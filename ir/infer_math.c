/* infer_math.c - shape functions of the elementwise math family: the unary
 * math functions and activations, Clip, PRelu, Pow, Mod, the variadic
 * Max/Min/Mean/Sum, comparisons, logic and Where.
 *
 * Unary ops keep their input's type and shape; binary and variadic ops
 * broadcast numpy style (variadic ones before opset 8 need equal shapes);
 * comparisons and logic give bool. Types are checked by the runtime.
 */
#include "ir/infer.h"

static Status infer_unary_math(InferCtx *c, Diag *d)
{
    (void)d;
    infer_same_as(c, 0, 0);
    return KDC_OK;
}

Status infer_Abs(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Acos(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Acosh(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Asin(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Asinh(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Atan(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Atanh(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Ceil(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Cos(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Cosh(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Erf(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Exp(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Floor(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Log(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Neg(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Reciprocal(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Round(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Sign(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Sin(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Sinh(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Sqrt(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Tan(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Softplus(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Softsign(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Elu(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Selu(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Celu(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_LeakyRelu(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_HardSigmoid(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_HardSwish(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_ThresholdedRelu(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Mish(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }
Status infer_Gelu(InferCtx *c, Diag *d) { return infer_unary_math(c, d); }

Status infer_Not(InferCtx *c, Diag *d)
{
    (void)d;
    c->out_dtype[0] = DT_BOOL;
    c->out_shape[0] = c->in_shape[0];
    return KDC_OK;
}

/* Before opset 11 the bounds are attributes, so a second input is an error. */
Status infer_Clip(InferCtx *c, Diag *d)
{
    if (c->node->opset < 11 && c->n_in > 1)
        return infer_error(c->node, d, "min and max are attributes before opset 11, not inputs (opset %d)",
                           c->node->opset);
    infer_same_as(c, 0, 0);
    return KDC_OK;
}

/* The slope broadcasts to X (unidirectionally): Y has X's shape. Before
 * opset 7 a 1-D slope of X's channel count applies along axis 1. */
Status infer_PRelu(InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *s = &c->in_shape[1];
    infer_same_as(c, 0, 0);
    if (x->rank < 0 || s->rank < 0)
        return KDC_OK;
    if (c->node->opset < 7 && x->rank >= 2 && s->rank == 1 && dim_equal(&s->dims[0], &x->dims[1]))
        return KDC_OK;
    if (s->rank > x->rank)
        return infer_error(c->node, d, "slope of rank %d does not broadcast to X of rank %d", s->rank, x->rank);
    for (int i = 0; i < s->rank; i++) {
        const Dim *sd = &s->dims[i], *xd = &x->dims[x->rank - s->rank + i];
        if (sd->value >= 0 && sd->value != 1 && xd->value >= 0 && sd->value != xd->value)
            return infer_error(c->node, d, "slope dim %d is %lld, X has %lld there", i, (long long)sd->value,
                               (long long)xd->value);
    }
    return KDC_OK;
}

static Status infer_broadcast_as(InferCtx *c, DType out, Diag *d)
{
    c->out_dtype[0] = out;
    return infer_broadcast(c->node, &c->in_shape[0], &c->in_shape[1], &c->out_shape[0], d);
}

Status infer_Pow(InferCtx *c, Diag *d) { return infer_broadcast_as(c, c->in_dtype[0], d); }
Status infer_Mod(InferCtx *c, Diag *d) { return infer_broadcast_as(c, c->in_dtype[0], d); }
Status infer_Equal(InferCtx *c, Diag *d) { return infer_broadcast_as(c, DT_BOOL, d); }
Status infer_Greater(InferCtx *c, Diag *d) { return infer_broadcast_as(c, DT_BOOL, d); }
Status infer_GreaterOrEqual(InferCtx *c, Diag *d) { return infer_broadcast_as(c, DT_BOOL, d); }
Status infer_Less(InferCtx *c, Diag *d) { return infer_broadcast_as(c, DT_BOOL, d); }
Status infer_LessOrEqual(InferCtx *c, Diag *d) { return infer_broadcast_as(c, DT_BOOL, d); }
Status infer_And(InferCtx *c, Diag *d) { return infer_broadcast_as(c, DT_BOOL, d); }
Status infer_Or(InferCtx *c, Diag *d) { return infer_broadcast_as(c, DT_BOOL, d); }
Status infer_Xor(InferCtx *c, Diag *d) { return infer_broadcast_as(c, DT_BOOL, d); }

/* Known dims that differ between two shapes of known rank. */
static bool shapes_differ(const Shape *a, const Shape *b)
{
    if (a->rank < 0 || b->rank < 0)
        return false;
    if (a->rank != b->rank)
        return true;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i].value >= 0 && b->dims[i].value >= 0 && a->dims[i].value != b->dims[i].value)
            return true;
    return false;
}

static Status infer_variadic(InferCtx *c, Diag *d)
{
    Shape acc = c->in_shape[0];
    c->out_dtype[0] = c->in_dtype[0];
    for (int k = 1; k < c->n_in; k++) {
        if (c->node->opset < 8 && shapes_differ(&c->in_shape[0], &c->in_shape[k]))
            return infer_error(c->node, d, "input %d's shape differs from input 0's; broadcasting needs opset 8", k);
        Shape next;
        if (infer_broadcast(c->node, &acc, &c->in_shape[k], &next, d))
            return KDC_ERR;
        acc = next;
    }
    c->out_shape[0] = acc;
    return KDC_OK;
}

Status infer_Max(InferCtx *c, Diag *d) { return infer_variadic(c, d); }
Status infer_Min(InferCtx *c, Diag *d) { return infer_variadic(c, d); }
Status infer_Mean(InferCtx *c, Diag *d) { return infer_variadic(c, d); }
Status infer_Sum(InferCtx *c, Diag *d) { return infer_variadic(c, d); }

Status infer_Where(InferCtx *c, Diag *d)
{
    Shape xy;
    c->out_dtype[0] = c->in_dtype[1];
    if (infer_broadcast(c->node, &c->in_shape[1], &c->in_shape[2], &xy, d))
        return KDC_ERR;
    return infer_broadcast(c->node, &c->in_shape[0], &xy, &c->out_shape[0], d);
}
