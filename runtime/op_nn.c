/* op_nn.c - runtime entries of ConvTranspose and the normalizations:
 * InstanceNormalization, LayerNormalization, GroupNormalization,
 * LpNormalization and LRN. Kernels in k_convtranspose.c and k_norm2.c. */
#include "ir/nn_geom.h"
#include "runtime/kernels_nn.h"
#include "runtime/rt.h"
#include "runtime/threads.h"

#include <string.h>

/* ---- ConvTranspose ---- */

/* Fills ct's spatial dims from g, padding the front to three dims. */
static void convt_fill(ConvTDims *ct, const ConvTGeom *g)
{
    int front = KN_SPATIAL - g->n_spatial;
    for (int i = 0; i < KN_SPATIAL; i++) {
        int j = i - front;
        ct->in[i] = j < 0 ? 1 : (int)g->in[j];
        ct->out[i] = j < 0 ? 1 : (int)g->out[j];
        ct->k[i] = j < 0 ? 1 : (int)g->kernel[j];
        ct->stride[i] = j < 0 ? 1 : (int)g->strides[j];
        ct->dil[i] = j < 0 ? 1 : (int)g->dilations[j];
        ct->pad_begin[i] = j < 0 ? 0 : (int)g->pad_begin[j];
    }
}

static Status convt_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ConvTDims *ct;
    if (rt_require_float(s, d) || !(ct = rt_state_alloc(s, sizeof *ct, d)))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape, *w = &s->in[1]->shape;
    if (x->rank < 3 || x->rank > 5 || w->rank != x->rank)
        return rt_op_error(s, d,
                           "1-D, 2-D and 3-D transposed convolutions are computed (input rank %d, weight "
                           "rank %d)",
                           x->rank, w->rank);
    int64_t kernel[IR_MAX_RANK];
    for (int i = 2; i < w->rank; i++)
        kernel[i - 2] = w->dims[i].value;
    ConvTGeom g;
    if (convt_geom_resolve(s->node, x, kernel, &g, d))
        return KDC_ERR;
    ct->N = (int)x->dims[0].value;
    ct->C = (int)x->dims[1].value;
    ct->groups = (int)node_attr_int(s->node, "group", 1);
    ct->M = (int)(w->dims[1].value * ct->groups);
    if (w->dims[0].value != ct->C)
        return rt_op_error(s, d, "the weight has %lld input channels, the input %d", (long long)w->dims[0].value,
                           ct->C);
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    if (b && b->numel != ct->M)
        return rt_op_error(s, d, "bias has %lld values, expected one per output channel (%d)", (long long)b->numel,
                           ct->M);
    convt_fill(ct, &g);
    if (k_convtranspose_check(ct, d))
        return diag_prefix(d, "node '%s' (ConvTranspose)", s->node->name);
    s->ws_floats = k_convtranspose_workspace_floats(ct, threads_count());
    return KDC_OK;
}

static Status convt_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    k_convtranspose_forward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), b ? rt_f(b) : NULL, rt_f(s->out[0]), p->ws,
                            s->ws_floats);
    return KDC_OK;
}

static void convt_backward(Step *s, Plan *p)
{
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    k_convtranspose_backward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), s->out[0]->grad, s->in[0]->grad, s->in[1]->grad,
                             b ? b->grad : NULL, p->ws, s->ws_floats);
}

const RtOp rt_op_ConvTranspose = {convt_prepare, convt_forward, convt_backward, 0, 0};

/* ---- Instance and GroupNormalization: save holds mean and invstd per (n, group) ---- */

typedef struct GroupNormState {
    GroupNormDims gd;
    float eps;
} GroupNormState;

static Status groupnorm_params(Step *s, const GroupNormState *st, Diag *d)
{
    int64_t C = (int64_t)st->gd.G * st->gd.Cg, want = st->gd.affine_per_group ? st->gd.G : C;
    bool either = s->node->op == OP_GroupNormalization && s->node->opset < 21;
    for (int i = 1; i < 3; i++) {
        if (s->in[i]->numel == want)
            continue;
        if (either)
            return rt_op_error(s, d, "input %d has %lld values, expected %d (one per group) or %lld (one per channel)",
                               i, (long long)s->in[i]->numel, st->gd.G, (long long)C);
        return rt_op_error(s, d, "input %d has %lld values, expected %lld (one per channel)", i,
                           (long long)s->in[i]->numel, (long long)C);
    }
    return KDC_OK;
}

/* GroupNormalization's scale and bias: one per group before opset 21 (one
 * per channel is taken too, as exporters write it), one per channel from 21. */
static Status groupnorm_groups(Step *s, GroupNormState *st, int64_t C, Diag *d)
{
    int64_t G = s->node->op == OP_InstanceNormalization ? C : node_attr_int(s->node, "num_groups", -1);
    if (G < 1 || C % G)
        return rt_op_error(s, d, "num_groups %lld must be given and divide the %lld channels", (long long)G,
                           (long long)C);
    st->gd.G = (int)G;
    st->gd.Cg = (int)(C / G);
    st->gd.affine_per_group =
        s->node->op == OP_GroupNormalization && s->node->opset < 21 && s->in[1]->numel == G && G != C;
    return KDC_OK;
}

static Status groupnorm_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    GroupNormState *st;
    if (rt_require_float(s, d) || !(st = rt_state_alloc(s, sizeof *st, d)))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape;
    if (x->rank < (s->node->op == OP_InstanceNormalization ? 3 : 2))
        return rt_op_error(s, d, "input must have rank >= %d, got %d", s->node->op == OP_InstanceNormalization ? 3 : 2,
                           x->rank);
    st->gd.N = (int)x->dims[0].value;
    st->gd.S = 1;
    for (int i = 2; i < x->rank; i++)
        st->gd.S *= x->dims[i].value;
    st->eps = node_attr_float(s->node, "epsilon", 1e-5f);
    if (groupnorm_groups(s, st, x->dims[1].value, d) || groupnorm_params(s, st, d))
        return KDC_ERR;
    s->save_bytes = 2 * (size_t)st->gd.N * (size_t)st->gd.G * sizeof(float);
    return KDC_OK;
}

static Status groupnorm_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const GroupNormState *st = s->state;
    float *save = s->save;
    k_groupnorm_forward(&st->gd, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->in[2]), st->eps, rt_f(s->out[0]), save,
                        save + (size_t)st->gd.N * st->gd.G);
    return KDC_OK;
}

static void groupnorm_backward(Step *s, Plan *p)
{
    (void)p;
    const GroupNormState *st = s->state;
    const float *save = s->save;
    k_groupnorm_backward(&st->gd, rt_f(s->in[0]), rt_f(s->in[1]), save, save + (size_t)st->gd.N * st->gd.G,
                         s->out[0]->grad, s->in[0]->grad, s->in[1]->grad, s->in[2]->grad);
}

const RtOp rt_op_InstanceNormalization = {groupnorm_prepare, groupnorm_forward, groupnorm_backward, 0, 0};
const RtOp rt_op_GroupNormalization = {groupnorm_prepare, groupnorm_forward, groupnorm_backward, 0, 0};

/* ---- LayerNormalization: save holds mean and invstd per row ---- */

typedef struct LayerNormState {
    int64_t rows, D;
    float eps;
    int32_t *affine_idx; /* NULL: Scale and B hold one value per normalized element */
} LayerNormState;

/* Index of the Scale element that normalized element d reads when Scale
 * (of rank sr) broadcasts into X's dims axis.. (nd of them). */
static Status layernorm_affine_map(Step *s, LayerNormState *st, const int64_t *xd, int nd, Diag *d)
{
    const RtTensor *sc = s->in[1];
    int64_t sd[IR_MAX_RANK], sr = sc->shape.rank, stride[IR_MAX_RANK];
    rt_dims(sc, sd);
    for (int i = 0; i < sr - nd; i++)
        if (sd[i] != 1)
            return rt_op_error(s, d, "Scale has more dims than the normalized ones that are not 1");
    for (int i = (int)sr - 1, acc = 1; i >= 0; i--) {
        stride[i] = sd[i] == 1 ? 0 : acc;
        acc *= (int)sd[i];
        int j = i - (int)sr + nd;
        if (j >= 0 && sd[i] != 1 && sd[i] != xd[j])
            return rt_op_error(s, d, "Scale's dim %d (%lld) does not broadcast to X", i, (long long)sd[i]);
    }
    for (int64_t e = 0; e < st->D; e++) {
        int64_t rest = e, at = 0;
        for (int j = nd - 1; j >= 0; j--) {
            int i = j + (int)sr - nd;
            if (i >= 0)
                at += (rest % xd[j]) * stride[i];
            rest /= xd[j];
        }
        st->affine_idx[e] = (int32_t)at;
    }
    return KDC_OK;
}

static Status layernorm_outputs(Step *s, const Plan *p, Diag *d)
{
    for (int k = 1; k < s->n_out; k++)
        if (s->out[k] && s->out[k]->dtype != DT_FLOAT)
            return rt_op_error(s, d, "Mean/InvStdDev of stash_type %s are not computed", dtype_name(s->out[k]->dtype));
    for (int k = 1; k < s->n_out; k++)
        if (s->out[k] && p->mode == PLAN_TRAINING && graph_count_uses(p->graph, s->out[k]->value) > 0)
            return rt_op_error(s, d, "output %d (Mean/InvStdDev) feeds other nodes; its gradient is not computed", k);
    return KDC_OK;
}

static Status layernorm_prepare(Step *s, Plan *p, Diag *d)
{
    if (rt_require_float(s, d))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape;
    int64_t axis = node_attr_int(s->node, "axis", -1), xd[IR_MAX_RANK], rows = 1, D = 1;
    if (axis < -x->rank || axis >= x->rank)
        return rt_op_error(s, d, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    rt_dims(s->in[0], xd);
    for (int i = 0; i < x->rank; i++)
        *(i < a ? &rows : &D) *= xd[i];
    const RtTensor *sc = s->in[1], *b = s->n_in > 2 ? s->in[2] : NULL;
    if (b && (b->shape.rank != sc->shape.rank || b->numel != sc->numel))
        return rt_op_error(s, d, "Scale and B of different shapes are not computed");
    bool direct = sc->numel == D && sc->shape.rank <= x->rank - a;
    /* the broadcast map lives right after the state, freed with it */
    LayerNormState *st = rt_state_alloc(s, sizeof *st + (direct ? 0 : (size_t)D * sizeof(int32_t)), d);
    if (!st)
        return KDC_ERR;
    *st = (LayerNormState){rows, D, node_attr_float(s->node, "epsilon", 1e-5f), direct ? NULL : (int32_t *)(st + 1)};
    if ((!direct && layernorm_affine_map(s, st, xd + a, x->rank - a, d)) || layernorm_outputs(s, p, d))
        return KDC_ERR;
    s->save_bytes = 2 * (size_t)rows * sizeof(float);
    return KDC_OK;
}

static Status layernorm_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const LayerNormState *st = s->state;
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    float *mean = s->save, *invstd = mean + st->rows;
    k_layernorm_forward(st->rows, st->D, rt_f(s->in[0]), rt_f(s->in[1]), b ? rt_f(b) : NULL, st->affine_idx, st->eps,
                        rt_f(s->out[0]), mean, invstd);
    for (int k = 1; k < s->n_out && k < 3; k++)
        if (s->out[k])
            memcpy(s->out[k]->data, k == 1 ? mean : invstd, (size_t)st->rows * sizeof(float));
    return KDC_OK;
}

static void layernorm_backward(Step *s, Plan *p)
{
    (void)p;
    const LayerNormState *st = s->state;
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    const float *mean = s->save, *invstd = mean + st->rows;
    k_layernorm_backward(st->rows, st->D, rt_f(s->in[0]), rt_f(s->in[1]), st->affine_idx, mean, invstd, s->out[0]->grad,
                         s->in[0]->grad, s->in[1]->grad, b ? b->grad : NULL);
}

const RtOp rt_op_LayerNormalization = {layernorm_prepare, layernorm_forward, layernorm_backward, 0, 0};

/* ---- LpNormalization: state {outer, n, inner, p} ---- */

static Status lpnorm_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    int64_t *st;
    if (rt_require_float(s, d) || !(st = rt_state_alloc(s, 4 * sizeof *st, d)))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape;
    int64_t axis = node_attr_int(s->node, "axis", -1), order = node_attr_int(s->node, "p", 2);
    if (x->rank < 1 || axis < -x->rank || axis >= x->rank)
        return rt_op_error(s, d, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
    if (order != 1 && order != 2)
        return rt_op_error(s, d, "p must be 1 or 2, got %lld", (long long)order);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    st[0] = st[2] = 1;
    st[1] = x->dims[a].value;
    st[3] = order;
    for (int i = 0; i < x->rank; i++)
        if (i != a)
            st[i < a ? 0 : 2] *= x->dims[i].value;
    return KDC_OK;
}

static Status lpnorm_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const int64_t *st = s->state;
    k_lpnorm_forward(st[0], st[1], st[2], (int)st[3], rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void lpnorm_backward(Step *s, Plan *p)
{
    (void)p;
    const int64_t *st = s->state;
    k_lpnorm_backward(st[0], st[1], st[2], (int)st[3], rt_f(s->in[0]), s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_LpNormalization = {lpnorm_prepare, lpnorm_forward, lpnorm_backward, 0, 0};

/* ---- LRN ---- */

typedef struct LrnState {
    int64_t N, C, S;
    LrnParams lp;
} LrnState;

static Status lrn_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    LrnState *st;
    if (rt_require_float(s, d) || !(st = rt_state_alloc(s, sizeof *st, d)))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape;
    int64_t size = node_attr_int(s->node, "size", 0);
    if (x->rank < 2)
        return rt_op_error(s, d, "input must have rank >= 2, got %d", x->rank);
    if (size < 1 || size > INT32_MAX)
        return rt_op_error(s, d, "attribute 'size' must be given and positive, got %lld", (long long)size);
    st->N = x->dims[0].value;
    st->C = x->dims[1].value;
    st->S = s->in[0]->numel / (st->N * st->C > 0 ? st->N * st->C : 1);
    st->lp = (LrnParams){(int)size, node_attr_float(s->node, "alpha", 1e-4f), node_attr_float(s->node, "beta", 0.75f),
                         node_attr_float(s->node, "bias", 1.0f)};
    return KDC_OK;
}

static Status lrn_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const LrnState *st = s->state;
    k_lrn_forward(st->N, st->C, st->S, &st->lp, rt_f(s->in[0]), rt_f(s->out[0]));
    return KDC_OK;
}

static void lrn_backward(Step *s, Plan *p)
{
    (void)p;
    const LrnState *st = s->state;
    k_lrn_backward(st->N, st->C, st->S, &st->lp, rt_f(s->in[0]), s->out[0]->grad, s->in[0]->grad);
}

const RtOp rt_op_LRN = {lrn_prepare, lrn_forward, lrn_backward, 0, 0};
