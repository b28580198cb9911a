/* op_loss.c - runtime entries of the loss ops, NegativeLogLikelihoodLoss and
 * SoftmaxCrossEntropyLoss (opsets 12 and 13), over the kernels of k_loss.c.
 *
 * Inputs: scores or log-probabilities [N, C, d1..dk], targets (int32 or
 * int64) [N, d1..dk], optional class weights [C]; attributes reduction
 * ("mean" by default) and ignore_index (unset by default: then every target
 * must be a class). Target values are checked on every run and a bad one
 * fails the run naming the node. float32 computes directly, forward and
 * backward (to input 0 only: targets and weights get no gradient; the
 * gradient may arrive on the loss, on SoftmaxCrossEntropyLoss's log_prob
 * output, or both). double and float16 (and bfloat16, which
 * SoftmaxCrossEntropyLoss takes from opset 13) are computed in float,
 * converted at the edges through the workspace, forward only.
 *
 * SoftmaxCrossEntropyLoss keeps its log-probabilities for the backward: in
 * the log_prob output when the graph asks for it, else in the step's saved
 * state (training) or the workspace.
 */
#include "runtime/kernels_loss.h"
#include "runtime/op_math.h"

#include <string.h>

/* Float offsets into the workspace of the converted copies (non-float
 * types) and of the log-probabilities when nothing else holds them. */
typedef struct LossScratch {
    size_t x, weight, loss, logp;
} LossScratch;

typedef struct LossState {
    LossDims ld;
    KElem t; /* type of input 0, the weights and the outputs */
    bool sce;
    LossScratch ws;
} LossState;

static const RtTensor *loss_weight(const Step *s)
{
    return s->n_in > 2 ? s->in[2] : NULL;
}

static const RtTensor *loss_log_prob(const Step *s)
{
    return s->n_out > 1 ? s->out[1] : NULL;
}

static Status loss_types(const Step *s, LossState *st, Diag *d)
{
    DType x = s->in[0]->dtype, t = s->in[1]->dtype;
    bool bf16_ok = st->sce && s->node->opset >= 13;
    if (x != DT_FLOAT && x != DT_DOUBLE && x != DT_FLOAT16 && !(x == DT_BFLOAT16 && bf16_ok))
        return rt_op_error(s, d, "input 0 has type %s; it takes float, double, float16%s", dtype_name(x),
                           bf16_ok ? " or bfloat16" : "");
    if (t != DT_INT32 && t != DT_INT64)
        return rt_op_error(s, d, "the targets have type %s; they must be int32 or int64", dtype_name(t));
    const RtTensor *w = loss_weight(s);
    if (w && w->dtype != x)
        return rt_op_error(s, d, "the weights have type %s, input 0 has %s", dtype_name(w->dtype), dtype_name(x));
    st->ld.target_i32 = t == DT_INT32;
    return rt_math_input_elem(s, 0, &st->t, d);
}

static bool attr_string_is(const Attr *a, const char *text)
{
    size_t n = strlen(text);
    return a->kind == ATTR_STRING && a->s.len == n && !memcmp(a->s.data, text, n);
}

static Status loss_attrs(const Step *s, LossDims *ld, Diag *d)
{
    const Attr *r = node_attr(s->node, "reduction"), *ii = node_attr(s->node, "ignore_index");
    if (!r || attr_string_is(r, "mean"))
        ld->reduction = KLOSS_MEAN;
    else if (attr_string_is(r, "sum"))
        ld->reduction = KLOSS_SUM;
    else if (attr_string_is(r, "none"))
        ld->reduction = KLOSS_NONE;
    else
        return rt_op_error(s, d, "attribute 'reduction' must be \"none\", \"sum\" or \"mean\"");
    if (ii && ii->kind != ATTR_INT)
        return rt_op_error(s, d, "attribute 'ignore_index' must be an int");
    ld->has_ignore = ii != NULL;
    ld->ignore_index = ii ? ii->i : 0;
    return KDC_OK;
}

/* [N, C, d1..dk] as [N, C, D]; the shape function has matched the other inputs. */
static void loss_dims(const Step *s, LossDims *ld)
{
    const Shape *x = &s->in[0]->shape;
    ld->N = x->dims[0].value;
    ld->C = x->dims[1].value;
    ld->D = 1;
    for (int i = 2; i < x->rank; i++)
        ld->D *= x->dims[i].value;
}

static void loss_scratch(Step *s, const Plan *p, LossState *st)
{
    size_t ncd = (size_t)(st->ld.N * st->ld.C * st->ld.D), at = 0;
    LossScratch *ws = &st->ws;
    if (st->t != KE_FLOAT) {
        ws->x = at, at += ncd;
        ws->weight = at, at += (size_t)st->ld.C;
        ws->loss = at, at += (size_t)k_loss_out_numel(&st->ld);
    }
    if (st->sce && (st->t != KE_FLOAT || !loss_log_prob(s)))
        ws->logp = at, at += ncd;
    s->ws_floats = at;
    if (st->sce && st->t == KE_FLOAT && !loss_log_prob(s) && p->mode == PLAN_TRAINING)
        s->save_bytes = ncd * sizeof(float);
}

static Status loss_prepare(Step *s, Plan *p, bool sce, Diag *d)
{
    LossState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st)
        return KDC_ERR;
    st->sce = sce;
    if (s->node->opset < 12)
        return rt_op_error(s, d, "the op exists from opset 12 on, the model imports opset %d", s->node->opset);
    if (loss_types(s, st, d) || loss_attrs(s, &st->ld, d))
        return KDC_ERR;
    loss_dims(s, &st->ld);
    loss_scratch(s, p, st);
    return KDC_OK;
}

static Status nll_prepare(Step *s, Plan *p, Diag *d)
{
    return loss_prepare(s, p, false, d);
}
static Status sce_prepare(Step *s, Plan *p, Diag *d)
{
    return loss_prepare(s, p, true, d);
}

/* Where the float forward leaves SoftmaxCrossEntropyLoss's log-probabilities.
 * A step evaluated at build time has no saved state yet: the workspace then. */
static float *sce_float_logp(const Step *s, const Plan *p)
{
    const LossState *st = s->state;
    if (loss_log_prob(s))
        return rt_f(loss_log_prob(s));
    return s->save ? (float *)s->save : p->ws + st->ws.logp;
}

/* y = x converted to t (float16/bfloat16 round to nearest even): x * 1
 * through the typed kernels, which compute in double and store as t. */
static Status store_float_as(KElem t, const float *x, void *y, int64_t n, Diag *d)
{
    BroadcastDims bd;
    const float one = 1.0f;
    if (k_broadcast_init(&bd, (int64_t[]){n}, 1, (int64_t[]){1}, 1, NULL, d))
        return KDC_ERR;
    return k_typed_binary(KT_MUL, &bd, KE_FLOAT, x, KE_FLOAT, &one, t, y, d);
}

static Status loss_forward_typed(Step *s, Plan *p, Diag *d)
{
    const LossState *st = s->state;
    const RtTensor *w = loss_weight(s), *lp = loss_log_prob(s);
    float *x = p->ws + st->ws.x, *wf = w ? p->ws + st->ws.weight : NULL, *loss = p->ws + st->ws.loss;
    k_convert_to_float(st->t, s->in[0]->data, x, s->in[0]->numel);
    if (w)
        k_convert_to_float(st->t, w->data, wf, w->numel);
    if (st->sce)
        k_sce_forward(&st->ld, x, s->in[1]->data, wf, p->ws + st->ws.logp, loss);
    else
        k_nll_forward(&st->ld, x, s->in[1]->data, wf, loss);
    if (store_float_as(st->t, loss, s->out[0]->data, s->out[0]->numel, d))
        return KDC_ERR;
    if (lp && store_float_as(st->t, p->ws + st->ws.logp, lp->data, lp->numel, d))
        return KDC_ERR;
    return KDC_OK;
}

static Status loss_forward(Step *s, Plan *p, Diag *d)
{
    const LossState *st = s->state;
    const RtTensor *w = loss_weight(s);
    if (k_loss_check_targets(&st->ld, s->in[1]->data, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    if (st->t != KE_FLOAT)
        return loss_forward_typed(s, p, d);
    if (st->sce)
        k_sce_forward(&st->ld, rt_f(s->in[0]), s->in[1]->data, w ? rt_f(w) : NULL, sce_float_logp(s, p),
                      rt_f(s->out[0]));
    else
        k_nll_forward(&st->ld, rt_f(s->in[0]), s->in[1]->data, w ? rt_f(w) : NULL, rt_f(s->out[0]));
    return KDC_OK;
}

/* Only float32 reaches here: the plan gives gradients to float values only. */
static void loss_backward(Step *s, Plan *p)
{
    const LossState *st = s->state;
    const RtTensor *x = s->in[0], *w = loss_weight(s), *lp = loss_log_prob(s);
    if (!x->grad)
        return;
    const float *wf = w ? rt_f(w) : NULL;
    if (!st->sce) {
        k_nll_backward(&st->ld, s->in[1]->data, wf, s->out[0]->grad, x->grad);
        return;
    }
    k_sce_backward(&st->ld, sce_float_logp(s, p), s->in[1]->data, wf, s->out[0]->grad, lp ? lp->grad : NULL, x->grad);
}

/* The targets and the weights get no gradient. */
const RtOp rt_op_NegativeLogLikelihoodLoss = {nll_prepare, loss_forward, loss_backward, 0x6u, 0};
const RtOp rt_op_SoftmaxCrossEntropyLoss = {sce_prepare, loss_forward, loss_backward, 0x6u, 0};
