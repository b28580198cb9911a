/* op_norm_pool.c - runtime entries of BatchNormalization, the pooling ops
 * (MaxPool, AveragePool, GlobalAveragePool) and Softmax/LogSoftmax. */
#include "ir/conv_geom.h"
#include "runtime/kernels.h"
#include "runtime/rt.h"

#include <stdlib.h>
#include <string.h>

/* ---- BatchNormalization ---- */

typedef struct BnState {
    NormDims nd;
    float eps, momentum;
    bool train;       /* training plan: batch statistics, running ones updated in the IR */
    bool batch_stats; /* train, or training_mode=1 in an inference plan */
} BnState;

static Status bn_prepare(Step *s, Plan *p, Diag *d)
{
    BnState *st;
    if (rt_require_float(s, d) || !(st = rt_state_alloc(s, sizeof *st, d)))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape;
    if (x->rank < 2)
        return rt_op_error(s, d, "input must have rank >= 2, got %d", x->rank);
    if (s->node->opset < 9 && node_attr_int(s->node, "spatial", 1) == 0)
        return rt_op_error(s, d, "spatial=0 (per-activation statistics) is not computed yet");
    st->nd.N = (int)x->dims[0].value;
    st->nd.C = (int)x->dims[1].value;
    st->nd.S = 1;
    for (int i = 2; i < x->rank; i++)
        st->nd.S *= x->dims[i].value;
    for (int i = 1; i < 5; i++)
        if (s->in[i]->numel != st->nd.C)
            return rt_op_error(s, d, "input %d has %lld values, expected one per channel (%d)", i,
                               (long long)s->in[i]->numel, st->nd.C);
    st->eps = node_attr_float(s->node, "epsilon", 1e-5f);
    st->momentum = node_attr_float(s->node, "momentum", 0.9f);
    if ((s->n_out > 3 && s->out[3]) || (s->n_out > 4 && s->out[4]))
        return rt_op_error(s, d, "the saved mean and variance outputs are not computed yet");
    st->train = p->mode == PLAN_TRAINING;
    st->batch_stats = st->train || (s->node->opset >= 14 && node_attr_int(s->node, "training_mode", 0) != 0);
    if (st->batch_stats)
        s->save_bytes = 2 * (size_t)st->nd.C * sizeof(float);
    return KDC_OK;
}

/* training_mode=1 in an inference plan: the IR keeps its statistics, and the
 * running outputs get ONNX's update, which uses the biased batch variance. */
static void bn_write_onnx_running(const Step *s, const BnState *st)
{
    const float *mean = rt_f(s->in[3]), *var = rt_f(s->in[4]), *save = s->save;
    float m = st->momentum;
    for (int c = 0; c < st->nd.C; c++) {
        double invstd = save[st->nd.C + c], batch_var = 1.0 / (invstd * invstd) - st->eps;
        if (s->n_out > 1 && s->out[1])
            rt_f(s->out[1])[c] = mean[c] * m + save[c] * (1 - m);
        if (s->n_out > 2 && s->out[2])
            rt_f(s->out[2])[c] = var[c] * m + (float)batch_var * (1 - m);
    }
}

static Status bn_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    BnState *st = s->state;
    float *mean = rt_f(s->in[3]), *var = rt_f(s->in[4]);
    if (st->batch_stats) {
        float *save = s->save;
        k_batchnorm_train_forward(&st->nd, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->in[2]), st->eps, st->momentum,
                                  st->train ? mean : NULL, st->train ? var : NULL, save, save + st->nd.C,
                                  rt_f(s->out[0]));
    } else {
        k_batchnorm_infer_forward(&st->nd, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->in[2]), mean, var, st->eps,
                                  rt_f(s->out[0]));
    }
    if (st->batch_stats && !st->train) {
        bn_write_onnx_running(s, st);
        return KDC_OK;
    }
    for (int k = 1; k < s->n_out && k < 3; k++) /* running mean / var outputs */
        if (s->out[k])
            memcpy(s->out[k]->data, k == 1 ? mean : var, (size_t)st->nd.C * sizeof(float));
    return KDC_OK;
}

static void bn_backward(Step *s, Plan *p)
{
    (void)p;
    BnState *st = s->state;
    if (st->train) {
        const float *save = s->save;
        k_batchnorm_train_backward(&st->nd, rt_f(s->in[0]), rt_f(s->in[1]), save, save + st->nd.C, s->out[0]->grad,
                                   s->in[0]->grad, s->in[1]->grad, s->in[2]->grad);
    } else {
        k_batchnorm_infer_backward(&st->nd, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->in[3]), rt_f(s->in[4]), st->eps,
                                   s->out[0]->grad, s->in[0]->grad, s->in[1]->grad, s->in[2]->grad);
    }
}

const RtOp rt_op_BatchNormalization = {bn_prepare, bn_forward, bn_backward, 0x18u};

/* ---- MaxPool / AveragePool ---- */

static Status pool_prepare(Step *s, Plan *p, Diag *d)
{
    PoolDims *pd;
    if (rt_require_float(s, d) || !(pd = rt_state_alloc(s, sizeof *pd, d)))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape;
    if (x->rank != 4)
        return rt_op_error(s, d, "only 2-D pooling is computed yet (input rank %d)", x->rank);
    int nk = 0;
    const int64_t *kernel = node_attr_ints(s->node, "kernel_shape", &nk);
    ConvGeom g;
    if (nk != 2 || conv_geom_resolve(s->node, x, kernel, &g, d))
        return nk != 2 ? rt_op_error(s, d, "kernel_shape must have 2 values") : KDC_ERR;
    *pd = (PoolDims){
        .N = (int)x->dims[0].value, .C = (int)x->dims[1].value, .H = (int)x->dims[2].value,
        .W = (int)x->dims[3].value, .OH = (int)g.out[0], .OW = (int)g.out[1], .KH = (int)kernel[0],
        .KW = (int)kernel[1], .stride_h = (int)g.strides[0], .stride_w = (int)g.strides[1],
        .dil_h = (int)g.dilations[0], .dil_w = (int)g.dilations[1], .pad_top = (int)g.pad_begin[0],
        .pad_left = (int)g.pad_begin[1], .pad_bottom = (int)g.pad_end[0], .pad_right = (int)g.pad_end[1],
        .count_include_pad = node_attr_int(s->node, "count_include_pad", 0) != 0,
    };
    if (k_pool2d_check(pd, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    bool indices = s->n_out > 1 && s->out[1];
    if (indices && node_attr_int(s->node, "storage_order", 0) != 0)
        return rt_op_error(s, d, "storage_order=1 (column-major indices) is not computed yet");
    if (s->node->op == OP_MaxPool && (p->mode == PLAN_TRAINING || indices))
        s->save_bytes = (size_t)s->out[0]->numel * sizeof(int32_t);
    return KDC_OK;
}

static void maxpool_write_indices(const Step *s, const PoolDims *pd)
{
    const int32_t *arg = s->save;
    int64_t *idx = s->out[1]->data, plane = (int64_t)pd->OH * pd->OW, in_plane = (int64_t)pd->H * pd->W;
    for (int64_t i = 0; i < s->out[0]->numel; i++)
        idx[i] = (i / plane) * in_plane + arg[i];
}

static Status maxpool_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    k_maxpool2d_forward(s->state, rt_f(s->in[0]), rt_f(s->out[0]), s->save);
    if (s->n_out > 1 && s->out[1])
        maxpool_write_indices(s, s->state);
    return KDC_OK;
}

static void maxpool_backward(Step *s, Plan *p)
{
    (void)p;
    if (s->in[0]->grad)
        k_maxpool2d_backward(s->state, s->save, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_MaxPool = {pool_prepare, maxpool_forward, maxpool_backward, 0};

static Status avgpool_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    k_avgpool2d_forward(s->state, rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void avgpool_backward(Step *s, Plan *p)
{
    (void)p;
    if (s->in[0]->grad)
        k_avgpool2d_backward(s->state, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_AveragePool = {pool_prepare, avgpool_forward, avgpool_backward, 0};

/* ---- GlobalAveragePool: state holds {NC, S} ---- */

static Status gap_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    int64_t *st;
    if (rt_require_float(s, d) || !(st = rt_state_alloc(s, 2 * sizeof *st, d)))
        return KDC_ERR;
    st[0] = s->out[0]->numel;
    st[1] = st[0] ? s->in[0]->numel / st[0] : 0;
    return KDC_OK;
}

static Status gap_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const int64_t *st = s->state;
    k_global_avgpool_forward(st[0], st[1], rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void gap_backward(Step *s, Plan *p)
{
    (void)p;
    const int64_t *st = s->state;
    if (s->in[0]->grad)
        k_global_avgpool_backward(st[0], st[1], s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_GlobalAveragePool = {gap_prepare, gap_forward, gap_backward, 0};

/* ---- Softmax / LogSoftmax ---- */

static Status softmax_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    SoftmaxDims *sd;
    if (rt_require_float(s, d) || !(sd = rt_state_alloc(s, sizeof *sd, d)))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape;
    bool legacy = s->node->opset < 13; /* before 13: coerced to 2-D at axis */
    int64_t axis = node_attr_int(s->node, "axis", legacy ? 1 : -1);
    int r = x->rank;
    if (axis < -r || axis >= (r ? r : 1))
        return rt_op_error(s, d, "axis %lld is out of range for rank %d", (long long)axis, r);
    int a = (int)(axis < 0 ? axis + r : axis);
    sd->outer = sd->n = sd->inner = 1;
    for (int i = 0; i < r; i++) {
        int64_t v = x->dims[i].value;
        if (i < a)
            sd->outer *= v;
        else if (i == a || legacy)
            sd->n *= v;
        else
            sd->inner *= v;
    }
    return KDC_OK;
}

static Status softmax_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    if (s->node->op == OP_Softmax)
        k_softmax_forward(s->state, rt_f(s->in[0]), rt_f(s->out[0]));
    else
        k_logsoftmax_forward(s->state, rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void softmax_backward(Step *s, Plan *p)
{
    (void)p;
    if (!s->in[0]->grad)
        return;
    if (s->node->op == OP_Softmax)
        k_softmax_backward(s->state, rt_f(s->out[0]), s->out[0]->grad, s->in[0]->grad);
    else
        k_logsoftmax_backward(s->state, rt_f(s->out[0]), s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_Softmax = {softmax_prepare, softmax_forward, softmax_backward, 0};
const RtOp rt_op_LogSoftmax = {softmax_prepare, softmax_forward, softmax_backward, 0};
