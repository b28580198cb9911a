/* infer_loss.c - shape functions of the loss ops: NegativeLogLikelihoodLoss
 * and SoftmaxCrossEntropyLoss (opsets 12 and 13).
 *
 * Input 0 is [N, C, d1..dk] (k >= 0), the targets [N, d1..dk], the optional
 * class weights [C]; known dims that disagree are errors. The loss has the
 * targets' shape under reduction "none" and is a scalar under "sum" and
 * "mean" (the default); SoftmaxCrossEntropyLoss's optional second output
 * (log_prob) has input 0's shape. All outputs take input 0's type. Element
 * types and target values are checked by the runtime.
 */
#include "ir/infer.h"

#include <string.h>

/* Whether the reduction attribute says "none"; fails on anything but
 * "none", "sum" and "mean". */
static Status loss_reduction_is_none(const Node *n, bool *none, Diag *d)
{
    const Attr *a = node_attr(n, "reduction");
    *none = false;
    if (!a)
        return KDC_OK;
    static const char *const names[] = {"none", "sum", "mean"};
    for (int k = 0; a->kind == ATTR_STRING && k < 3; k++)
        if (a->s.len == strlen(names[k]) && !memcmp(a->s.data, names[k], a->s.len)) {
            *none = k == 0;
            return KDC_OK;
        }
    return infer_error(n, d, "attribute 'reduction' must be \"none\", \"sum\" or \"mean\"");
}

static bool dims_conflict(const Dim *a, const Dim *b)
{
    return a->value >= 0 && b->value >= 0 && a->value != b->value;
}

/* Targets [N, d1..dk] against input [N, C, d1..dk]; weight [C]. */
static Status loss_check_shapes(const InferCtx *c, Diag *d)
{
    const Shape *x = &c->in_shape[0], *t = &c->in_shape[1];
    if (x->rank >= 0 && x->rank < 2)
        return infer_error(c->node, d, "input 0 must have rank >= 2 (N, C, d1..dk), got rank %d", x->rank);
    if (x->rank >= 0 && t->rank >= 0) {
        if (t->rank != x->rank - 1)
            return infer_error(c->node, d, "the targets must have rank %d (input 0's without C), got rank %d",
                               x->rank - 1, t->rank);
        for (int i = 0; i < t->rank; i++)
            if (dims_conflict(&t->dims[i], &x->dims[i ? i + 1 : 0]))
                return infer_error(c->node, d, "target dim %d is %lld, input 0 has %lld there", i,
                                   (long long)t->dims[i].value, (long long)x->dims[i ? i + 1 : 0].value);
    }
    if (c->n_in < 3 || c->in_dtype[2] == DT_UNDEFINED || c->in_shape[2].rank < 0)
        return KDC_OK;
    const Shape *w = &c->in_shape[2];
    if (w->rank != 1)
        return infer_error(c->node, d, "the weights must have rank 1 ([C]), got rank %d", w->rank);
    if (x->rank >= 2 && dims_conflict(&w->dims[0], &x->dims[1]))
        return infer_error(c->node, d, "the weights have %lld entries for %lld classes", (long long)w->dims[0].value,
                           (long long)x->dims[1].value);
    return KDC_OK;
}

/* The per-position loss shape: the targets', with dims they leave unknown
 * taken from input 0. */
static Shape loss_position_shape(const InferCtx *c)
{
    const Shape *x = &c->in_shape[0], *t = &c->in_shape[1];
    if (t->rank < 0 && x->rank < 0)
        return (Shape){.rank = -1};
    Shape s = {.rank = t->rank >= 0 ? t->rank : x->rank - 1};
    for (int i = 0; i < s.rank; i++) {
        s.dims[i] = t->rank >= 0 ? t->dims[i] : (Dim){-1, NULL};
        if (s.dims[i].value < 0 && !s.dims[i].param && x->rank >= 0)
            s.dims[i] = x->dims[i ? i + 1 : 0];
    }
    return s;
}

static Status infer_loss(InferCtx *c, Diag *d)
{
    bool none;
    if (loss_reduction_is_none(c->node, &none, d) || loss_check_shapes(c, d))
        return KDC_ERR;
    c->out_dtype[0] = c->in_dtype[0];
    c->out_shape[0] = none ? loss_position_shape(c) : (Shape){.rank = 0};
    if (c->n_out > 1)
        infer_same_as(c, 1, 0);
    return KDC_OK;
}

Status infer_NegativeLogLikelihoodLoss(InferCtx *c, Diag *d)
{
    return infer_loss(c, d);
}
Status infer_SoftmaxCrossEntropyLoss(InferCtx *c, Diag *d)
{
    return infer_loss(c, d);
}
