/* op_compare.c - runtime entries of the comparisons (Equal, Greater,
 * GreaterOrEqual, Less, LessOrEqual), the logic ops (And, Or, Xor, Not) and
 * Where.
 *
 * Comparisons take two tensors of one numeric type (or bool for Equal) and
 * write bool; logic takes bool. They run on the typed kernels of
 * k_compare.c at any size, so the masks of attention and the shape
 * arithmetic of exporters go through the same code. Their inputs are marked
 * non-differentiable: a comparison of a trained value is not an error, it
 * just passes no gradient. Where selects elements of any fixed-size type
 * and, for float, passes the gradient to X where the condition holds and to
 * Y elsewhere.
 */
#include "runtime/op_math.h"

/* ----------------------------------------------------- comparisons, logic */

typedef struct CompareState {
    BroadcastDims bd;
    KElem t;
    KTypedOp op;
} CompareState;

static KTypedOp compare_kind(int op)
{
    switch (op) {
    case OP_Equal: return KT_EQUAL;
    case OP_Greater: return KT_GREATER;
    case OP_GreaterOrEqual: return KT_GREATER_EQUAL;
    case OP_Less: return KT_LESS;
    case OP_LessOrEqual: return KT_LESS_EQUAL;
    case OP_And: return KT_AND;
    case OP_Or: return KT_OR;
    default: return KT_XOR;
    }
}

static Status compare_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    CompareState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_input_elem(s, 0, &st->t, d) || rt_math_same_dtype(s, 0, 1, d))
        return KDC_ERR;
    st->op = compare_kind(s->node->op);
    bool logic = st->op == KT_AND || st->op == KT_OR || st->op == KT_XOR;
    if (logic && st->t != KE_BOOL)
        return rt_op_error(s, d, "type %s is not allowed; it takes bool tensors", dtype_name(s->in[0]->dtype));
    if (st->t == KE_BOOL && !logic && st->op != KT_EQUAL)
        return rt_op_error(s, d, "type bool is not allowed; it takes numeric tensors");
    return rt_math_broadcast(s, s->in[0], s->in[1], &st->bd, d);
}

static Status compare_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const CompareState *st = s->state;
    return k_typed_binary(st->op, &st->bd, st->t, s->in[0]->data, st->t, s->in[1]->data, KE_BOOL, s->out[0]->data, d);
}

const RtOp rt_op_Equal = {compare_prepare, compare_forward, NULL, 0x3u, 0};
const RtOp rt_op_Greater = {compare_prepare, compare_forward, NULL, 0x3u, 0};
const RtOp rt_op_GreaterOrEqual = {compare_prepare, compare_forward, NULL, 0x3u, 0};
const RtOp rt_op_Less = {compare_prepare, compare_forward, NULL, 0x3u, 0};
const RtOp rt_op_LessOrEqual = {compare_prepare, compare_forward, NULL, 0x3u, 0};
const RtOp rt_op_And = {compare_prepare, compare_forward, NULL, 0x3u, 0};
const RtOp rt_op_Or = {compare_prepare, compare_forward, NULL, 0x3u, 0};
const RtOp rt_op_Xor = {compare_prepare, compare_forward, NULL, 0x3u, 0};

static Status not_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    if (s->in[0]->dtype != DT_BOOL)
        return rt_op_error(s, d, "type %s is not allowed; it takes bool tensors", dtype_name(s->in[0]->dtype));
    return KDC_OK;
}

static Status not_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    k_typed_unary(KT_NOT, KE_BOOL, NULL, s->in[0]->data, s->out[0]->data, s->out[0]->numel);
    return KDC_OK;
}

const RtOp rt_op_Not = {not_prepare, not_forward, NULL, 0x1u, 0};

/* ------------------------------------------------------------------ Where */

typedef struct WhereState {
    NaryBroadcast nb;
    size_t elem;
} WhereState;

static Status where_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    WhereState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_math_same_dtype(s, 1, 2, d))
        return KDC_ERR;
    if (s->in[0]->dtype != DT_BOOL)
        return rt_op_error(s, d, "the condition has type %s; it must be bool", dtype_name(s->in[0]->dtype));
    st->elem = dtype_size(s->in[1]->dtype);
    if (st->elem != 1 && st->elem != 2 && st->elem != 4 && st->elem != 8)
        return rt_op_error(s, d, "type %s is not computed", dtype_name(s->in[1]->dtype));
    int64_t dims[3][IR_MAX_RANK];
    const int64_t *dp[3] = {dims[0], dims[1], dims[2]};
    int ranks[3];
    for (int k = 0; k < 3; k++) {
        rt_dims(s->in[k], dims[k]);
        ranks[k] = s->in[k]->shape.rank;
    }
    if (k_nary_broadcast_init(&st->nb, 3, dp, ranks, NULL, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

static Status where_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const WhereState *st = s->state;
    k_where_forward(&st->nb, st->elem, s->in[0]->data, s->in[1]->data, s->in[2]->data, s->out[0]->data);
    return KDC_OK;
}

static void where_backward(Step *s, Plan *p)
{
    (void)p;
    const WhereState *st = s->state;
    k_where_backward(&st->nb, s->in[0]->data, s->out[0]->grad, s->in[1]->grad, s->in[2]->grad);
}

/* The condition gets no gradient. */
const RtOp rt_op_Where = {where_prepare, where_forward, where_backward, 0x1u, 0};
