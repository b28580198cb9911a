/* op_norm_pool.c - runtime entries of BatchNormalization, the pooling ops
 * (MaxPool, AveragePool, LpPool over 1-3 spatial dims; GlobalAveragePool,
 * GlobalMaxPool, GlobalLpPool) and Softmax/LogSoftmax. */
#include "ir/conv_geom.h"
#include "runtime/kernels.h"
#include "runtime/kernels_nn.h"
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

const RtOp rt_op_BatchNormalization = {bn_prepare, bn_forward, bn_backward, 0x18u, 0};

/* ---- MaxPool / AveragePool / LpPool ---- */

/* 2-D (and 1-D as 2-D with H = 1) pools run on k_pool.c, 3-D ones and every
 * LpPool on k_pool_nd.c. pd comes first: tests read MaxPool's state as PoolDims. */
typedef struct PoolState {
    PoolDims pd;
    PoolNdDims nd;
    bool is_nd;
    int n_spatial;
    int64_t in[KN_SPATIAL]; /* the input's own spatial dims, for Indices */
} PoolState;

/* Pads the node's n spatial dims at the front to the kernels' three. */
static void pool_fill_nd(PoolNdDims *nd, const Shape *x, const ConvGeom *g)
{
    int front = KN_SPATIAL - g->n_spatial;
    nd->planes = x->dims[0].value * x->dims[1].value;
    for (int i = 0; i < KN_SPATIAL; i++) {
        int j = i - front;
        nd->in[i] = j < 0 ? 1 : (int)g->in[j];
        nd->out[i] = j < 0 ? 1 : (int)g->out[j];
        nd->k[i] = j < 0 ? 1 : (int)g->kernel[j];
        nd->stride[i] = j < 0 ? 1 : (int)g->strides[j];
        nd->dil[i] = j < 0 ? 1 : (int)g->dilations[j];
        nd->pad_begin[i] = j < 0 ? 0 : (int)g->pad_begin[j];
        nd->pad_end[i] = j < 0 ? 0 : (int)g->pad_end[j];
    }
}

/* The last two of the three padded dims are the 2-D kernel's H and W. */
static PoolDims pool_2d_view(const PoolNdDims *nd, const Shape *x, bool include_pad)
{
    return (PoolDims){
        .N = (int)x->dims[0].value, .C = (int)x->dims[1].value, .H = nd->in[1], .W = nd->in[2],
        .OH = nd->out[1], .OW = nd->out[2], .KH = nd->k[1], .KW = nd->k[2], .stride_h = nd->stride[1],
        .stride_w = nd->stride[2], .dil_h = nd->dil[1], .dil_w = nd->dil[2], .pad_top = nd->pad_begin[1],
        .pad_left = nd->pad_begin[2], .pad_bottom = nd->pad_end[1], .pad_right = nd->pad_end[2],
        .count_include_pad = include_pad,
    };
}

/* LpPool's p: a float attribute in opset 1, an int from opset 2 on. */
static float lp_order(const Node *n)
{
    const Attr *a = node_attr(n, "p");
    return !a ? 2.0f : a->kind == ATTR_FLOAT ? a->f : (float)a->i;
}

static Status pool_geometry(Step *s, PoolState *st, Diag *d)
{
    const Shape *x = &s->in[0]->shape;
    if (x->rank < 3 || x->rank > 5)
        return rt_op_error(s, d, "1-D, 2-D and 3-D pooling are computed (input rank %d)", x->rank);
    int nk = 0;
    const int64_t *kernel = node_attr_ints(s->node, "kernel_shape", &nk);
    ConvGeom g;
    if (nk != x->rank - 2)
        return rt_op_error(s, d, "kernel_shape must have %d values", x->rank - 2);
    if (conv_geom_resolve(s->node, x, kernel, &g, d))
        return KDC_ERR;
    bool include_pad = node_attr_int(s->node, "count_include_pad", 0) != 0;
    pool_fill_nd(&st->nd, x, &g);
    st->nd.count_include_pad = include_pad;
    st->nd.p = lp_order(s->node);
    st->n_spatial = g.n_spatial;
    for (int i = 0; i < g.n_spatial; i++)
        st->in[i] = g.in[i];
    st->is_nd = x->rank == 5 || s->node->op == OP_LpPool;
    if (st->is_nd)
        return k_pool3d_check(&st->nd, d) ? diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type)
                                           : KDC_OK;
    st->pd = pool_2d_view(&st->nd, x, include_pad);
    if (k_pool2d_check(&st->pd, d))
        return diag_prefix(d, "node '%s' (%s)", s->node->name, s->node->op_type);
    return KDC_OK;
}

/* MaxPool also takes 8-bit integers: computed in float, which holds them exactly. */
static bool pool_is_int8(const Step *s)
{
    DType t = s->in[0]->dtype;
    return s->node->op == OP_MaxPool && (t == DT_UINT8 || t == DT_INT8);
}

static Status pool_prepare(Step *s, Plan *p, Diag *d)
{
    PoolState *st;
    if ((!pool_is_int8(s) && rt_require_float(s, d)) || !(st = rt_state_alloc(s, sizeof *st, d)) ||
        pool_geometry(s, st, d))
        return KDC_ERR;
    if (pool_is_int8(s))
        s->ws_floats = (size_t)(s->in[0]->numel + s->out[0]->numel);
    if (s->node->op == OP_LpPool && !(st->nd.p > 0))
        return rt_op_error(s, d, "p must be positive, got %g", (double)st->nd.p);
    bool indices = s->n_out > 1 && s->out[1];
    int64_t order = node_attr_int(s->node, "storage_order", 0);
    if (indices && order != 0 && order != 1)
        return rt_op_error(s, d, "storage_order must be 0 or 1, got %lld", (long long)order);
    if (s->node->op == OP_MaxPool && (p->mode == PLAN_TRAINING || indices))
        s->save_bytes = (size_t)s->out[0]->numel * sizeof(int32_t);
    return KDC_OK;
}

/* Row-major index `at` within the spatial dims in[0..n) as a column-major one. */
static int64_t column_major_index(int64_t at, const int64_t *in, int n)
{
    int64_t coord[KN_SPATIAL], flat = 0, stride = 1;
    for (int k = n - 1; k >= 0; k--) {
        coord[k] = at % in[k];
        at /= in[k];
    }
    for (int k = 0; k < n; k++) {
        flat += coord[k] * stride;
        stride *= in[k];
    }
    return flat;
}

/* Indices: flat over the whole input, the plane part row-major or, with
 * storage_order=1, column-major over the spatial dims. */
static void maxpool_write_indices(const Step *s, const PoolState *st)
{
    const int32_t *arg = s->save;
    int64_t *idx = s->out[1]->data, out_plane, in_plane = 1;
    bool column_major = node_attr_int(s->node, "storage_order", 0) == 1;
    if (s->out[0]->numel == 0)
        return;
    out_plane = s->out[0]->numel / st->nd.planes;
    for (int i = 0; i < st->n_spatial; i++)
        in_plane *= st->in[i];
    for (int64_t i = 0; i < s->out[0]->numel; i++)
        idx[i] = (i / out_plane) * in_plane + (column_major ? column_major_index(arg[i], st->in, st->n_spatial) : arg[i]);
}

/* 8-bit data through the float kernels, via the workspace. */
static void maxpool_int8_forward(const Step *s, const PoolState *st, float *ws)
{
    int64_t n_in = s->in[0]->numel, n_out = s->out[0]->numel;
    bool is_signed = s->in[0]->dtype == DT_INT8;
    const uint8_t *xu = s->in[0]->data;
    const int8_t *xs = s->in[0]->data;
    float *x = ws, *y = ws + n_in;
    for (int64_t i = 0; i < n_in; i++)
        x[i] = is_signed ? xs[i] : xu[i];
    if (st->is_nd)
        k_maxpool3d_forward(&st->nd, x, y, s->save);
    else
        k_maxpool2d_forward(&st->pd, x, y, s->save);
    for (int64_t i = 0; i < n_out; i++) {
        if (is_signed)
            ((int8_t *)s->out[0]->data)[i] = (int8_t)y[i];
        else
            ((uint8_t *)s->out[0]->data)[i] = (uint8_t)y[i];
    }
}

static Status maxpool_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const PoolState *st = s->state;
    if (pool_is_int8(s))
        maxpool_int8_forward(s, st, p->ws);
    else if (st->is_nd)
        k_maxpool3d_forward(&st->nd, rt_f(s->in[0]), rt_f(s->out[0]), s->save);
    else
        k_maxpool2d_forward(&st->pd, rt_f(s->in[0]), rt_f(s->out[0]), s->save);
    if (s->n_out > 1 && s->out[1])
        maxpool_write_indices(s, st);
    return KDC_OK;
}

static void maxpool_backward(Step *s, Plan *p)
{
    (void)p;
    const PoolState *st = s->state;
    if (!s->in[0]->grad)
        return;
    if (st->is_nd)
        k_maxpool3d_backward(&st->nd, s->save, s->out[0]->grad, s->in[0]->grad);
    else
        k_maxpool2d_backward(&st->pd, s->save, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_MaxPool = {pool_prepare, maxpool_forward, maxpool_backward, 0, 0};

static Status avgpool_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const PoolState *st = s->state;
    if (st->is_nd)
        k_avgpool3d_forward(&st->nd, rt_f(s->in[0]), rt_f(s->out[0]));
    else
        k_avgpool2d_forward(&st->pd, rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void avgpool_backward(Step *s, Plan *p)
{
    (void)p;
    const PoolState *st = s->state;
    if (!s->in[0]->grad)
        return;
    if (st->is_nd)
        k_avgpool3d_backward(&st->nd, s->out[0]->grad, s->in[0]->grad);
    else
        k_avgpool2d_backward(&st->pd, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_AveragePool = {pool_prepare, avgpool_forward, avgpool_backward, 0, 0};

static Status lppool_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const PoolState *st = s->state;
    k_lppool3d_forward(&st->nd, rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void lppool_backward(Step *s, Plan *p)
{
    (void)p;
    const PoolState *st = s->state;
    k_lppool3d_backward(&st->nd, rt_f(s->in[0]), rt_f(s->out[0]), s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_LpPool = {pool_prepare, lppool_forward, lppool_backward, 0, 0};

/* ---- global pools: state holds {NC, S} (and p for GlobalLpPool) ---- */

typedef struct GlobalPool {
    int64_t NC, S;
    float p;
} GlobalPool;

static Status global_pool_prepare(Step *s, Plan *p, Diag *d)
{
    GlobalPool *st;
    if (rt_require_float(s, d) || !(st = rt_state_alloc(s, sizeof *st, d)))
        return KDC_ERR;
    st->NC = s->out[0]->numel;
    st->S = st->NC ? s->in[0]->numel / st->NC : 0;
    st->p = lp_order(s->node);
    if (s->node->op == OP_GlobalLpPool && !(st->p > 0))
        return rt_op_error(s, d, "p must be positive, got %g", (double)st->p);
    if (s->node->op == OP_GlobalMaxPool && st->S > INT32_MAX)
        return rt_op_error(s, d, "a plane of %lld values is too large", (long long)st->S);
    if (s->node->op == OP_GlobalMaxPool && p->mode == PLAN_TRAINING)
        s->save_bytes = (size_t)st->NC * sizeof(int32_t);
    return KDC_OK;
}

static Status gap_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const GlobalPool *st = s->state;
    k_global_avgpool_forward(st->NC, st->S, rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void gap_backward(Step *s, Plan *p)
{
    (void)p;
    const GlobalPool *st = s->state;
    if (s->in[0]->grad)
        k_global_avgpool_backward(st->NC, st->S, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_GlobalAveragePool = {global_pool_prepare, gap_forward, gap_backward, 0, 0};

static Status gmp_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const GlobalPool *st = s->state;
    k_global_maxpool_forward(st->NC, st->S, rt_f(s->in[0]), rt_f(s->out[0]), s->save);
    return KDC_OK;
}

static void gmp_backward(Step *s, Plan *p)
{
    (void)p;
    const GlobalPool *st = s->state;
    k_global_maxpool_backward(st->NC, st->S, s->save, s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_GlobalMaxPool = {global_pool_prepare, gmp_forward, gmp_backward, 0, 0};

static Status glp_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const GlobalPool *st = s->state;
    k_global_lppool_forward(st->NC, st->S, st->p, rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void glp_backward(Step *s, Plan *p)
{
    (void)p;
    const GlobalPool *st = s->state;
    k_global_lppool_backward(st->NC, st->S, st->p, rt_f(s->in[0]), rt_f(s->out[0]), s->out[0]->grad,
                             s->in[0]->grad);
}

const RtOp rt_op_GlobalLpPool = {global_pool_prepare, glp_forward, glp_backward, 0, 0};

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

const RtOp rt_op_Softmax = {softmax_prepare, softmax_forward, softmax_backward, 0, 0};
const RtOp rt_op_LogSoftmax = {softmax_prepare, softmax_forward, softmax_backward, 0, 0};
