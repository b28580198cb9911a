/* op_reduce.c - runtime entries of the reductions: the Reduce family
 * (float with backward; other numeric types forward, e.g. ReduceProd on
 * int64 shapes at build time), ArgMax/ArgMin (no gradient: their output is
 * an index) and TopK (a gradient through Values). */
#include "runtime/op_data.h"

#include <stdlib.h>

/* ---- Reduce* ---- */

typedef struct ReduceState {
    KReduceOp op;
    KReduceDims rd;
    KElem t;
    bool noop; /* empty axes with noop_with_empty_axes: a copy */
} ReduceState;

static KReduceOp reduce_kind(int op)
{
    switch (op) {
    case OP_ReduceMean: return KR_MEAN;
    case OP_ReduceMax: return KR_MAX;
    case OP_ReduceMin: return KR_MIN;
    case OP_ReduceProd: return KR_PROD;
    case OP_ReduceL1: return KR_L1;
    case OP_ReduceL2: return KR_L2;
    case OP_ReduceLogSum: return KR_LOG_SUM;
    case OP_ReduceLogSumExp: return KR_LOG_SUM_EXP;
    case OP_ReduceSumSquare: return KR_SUM_SQUARE;
    default: return KR_SUM;
    }
}

static Status reduce_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ReduceState *st = rt_state_alloc(s, sizeof *st, d);
    Tensor views[s->n_in + 1];
    const Tensor *vals[s->n_in + 1];
    int64_t dims[IR_MAX_RANK];
    ReduceGeom g;
    bool known;
    rt_data_known_inputs(s, views, vals);
    if (!st || rt_data_typed(s, 0, &st->t, d) || data_reduce_geom(s->node, vals, s->in[0]->shape.rank, &g, &known, d))
        return KDC_ERR;
    if (!known)
        return rt_op_error(s, d, "axes must be known when the plan is built");
    st->op = reduce_kind(s->node->op);
    st->noop = g.noop;
    rt_dims(s->in[0], dims);
    k_reduce_init(&st->rd, s->in[0]->shape.rank, dims, g.reduce);
    s->ws_floats = k_reduce_workspace_floats(&st->rd);
    return KDC_OK;
}

static Status reduce_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const ReduceState *st = s->state;
    if (st->noop)
        memcpy(s->out[0]->data, s->in[0]->data, (size_t)s->in[0]->numel * dtype_size(s->in[0]->dtype));
    else if (st->t == KE_FLOAT)
        k_reduce_forward(st->op, &st->rd, s->in[0]->data, s->out[0]->data, p->ws);
    else
        k_reduce_typed(st->op, &st->rd, st->t, s->in[0]->data, s->out[0]->data, p->ws);
    return KDC_OK;
}

static void reduce_backward(Step *s, Plan *p)
{
    const ReduceState *st = s->state;
    float *dx = s->in[0]->grad;
    const float *dy = s->out[0]->grad;
    if (!dx)
        return;
    if (st->noop) {
        for (int64_t i = 0; i < s->in[0]->numel; i++)
            dx[i] += dy[i];
        return;
    }
    k_reduce_backward(st->op, &st->rd, s->in[0]->data, s->out[0]->data, dy, dx, p->ws);
}

const RtOp rt_op_ReduceSum = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceMean = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceMax = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceMin = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceProd = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceL1 = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceL2 = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceLogSum = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceLogSumExp = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};
const RtOp rt_op_ReduceSumSquare = {reduce_prepare, reduce_forward, reduce_backward, 0x2u, 0};

/* ---- ArgMax, ArgMin, TopK: the input viewed as [outer, n, inner] ---- */

typedef struct AxisState {
    int64_t outer, n, inner, k;
    KElem t;
    bool largest;
} AxisState;

static Status axis_prepare(Step *s, int64_t axis, Diag *d)
{
    AxisState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_data_typed(s, 0, &st->t, d))
        return KDC_ERR;
    int r = s->in[0]->shape.rank;
    int a = (int)(axis < 0 ? axis + r : axis);
    st->outer = rt_data_span(s->in[0], 0, a);
    st->n = s->in[0]->shape.dims[a].value;
    st->inner = rt_data_span(s->in[0], a + 1, r);
    return KDC_OK;
}

static Status arg_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    if (axis_prepare(s, node_attr_int(s->node, "axis", 0), d))
        return KDC_ERR;
    const AxisState *st = s->state;
    if (st->n == 0 && st->outer * st->inner > 0)
        return rt_op_error(s, d, "the axis is empty: there is no extreme to find");
    return KDC_OK;
}

static Status arg_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const AxisState *st = s->state;
    bool last = node_attr_int(s->node, "select_last_index", 0) != 0;
    k_arg_reduce(s->node->op == OP_ArgMax, last, st->outer, st->n, st->inner, st->t, s->in[0]->data, s->out[0]->data);
    return KDC_OK;
}

const RtOp rt_op_ArgMax = {arg_prepare, arg_forward, NULL, 0x1u, 0};
const RtOp rt_op_ArgMin = {arg_prepare, arg_forward, NULL, 0x1u, 0};

/* Indices go to output 1, or to the step's saved state when that output is
 * left out (training still needs them). */
static Status topk_prepare(Step *s, Plan *p, Diag *d)
{
    if (axis_prepare(s, node_attr_int(s->node, "axis", -1), d))
        return KDC_ERR;
    if (!s->out[0])
        return rt_op_error(s, d, "the Values output is required");
    AxisState *st = s->state;
    int r = s->in[0]->shape.rank;
    int64_t axis = node_attr_int(s->node, "axis", -1);
    st->k = s->out[0]->shape.dims[axis < 0 ? axis + r : axis].value;
    st->largest = node_attr_int(s->node, "largest", 1) != 0;
    s->ws_floats = k_topk_workspace_floats(st->n);
    if (!s->out[1] && p->mode == PLAN_TRAINING)
        s->save_bytes = (size_t)s->out[0]->numel * sizeof(int64_t);
    return KDC_OK;
}

static int64_t *topk_indices(const Step *s)
{
    return s->out[1] ? s->out[1]->data : s->save;
}

static Status topk_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const AxisState *st = s->state;
    k_topk_forward(st->outer, st->n, st->inner, st->k, st->largest, st->t, s->in[0]->data, s->out[0]->data,
                   topk_indices(s), p->ws);
    return KDC_OK;
}

static void topk_backward(Step *s, Plan *p)
{
    (void)p;
    const AxisState *st = s->state;
    if (s->in[0]->grad && s->out[0]->grad)
        k_topk_backward(st->outer, st->n, st->inner, st->k, topk_indices(s), s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_TopK = {topk_prepare, topk_forward, topk_backward, 0x2u, 0};
