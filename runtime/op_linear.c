/* op_linear.c - runtime entries of the layer ops that go through GEMM:
 * Gemm, MatMul and Conv (1-D, 2-D, 3-D). */
#include "ir/conv_geom.h"
#include "runtime/kernels.h"
#include "runtime/kernels_nn.h"
#include "runtime/rt.h"
#include "runtime/threads.h"

#include <stdlib.h>

/* ---- Gemm ---- */

static Status gemm_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    GemmDims *gd;
    if (rt_require_float(s, d) || !(gd = rt_state_alloc(s, sizeof *gd, d)))
        return KDC_ERR;
    const Node *n = s->node;
    gd->trans_a = node_attr_int(n, "transA", 0) != 0;
    gd->trans_b = node_attr_int(n, "transB", 0) != 0;
    gd->alpha = node_attr_float(n, "alpha", 1.0f);
    gd->beta = node_attr_float(n, "beta", 1.0f);
    gd->M = (int)s->out[0]->shape.dims[0].value;
    gd->N = (int)s->out[0]->shape.dims[1].value;
    gd->K = (int)s->in[0]->shape.dims[gd->trans_a ? 0 : 1].value;
    RtTensor *c = s->n_in > 2 ? s->in[2] : NULL;
    int64_t cd[IR_MAX_RANK];
    if (c)
        rt_dims(c, cd);
    if (k_gemm_set_c_shape(gd, c ? c->shape.rank : -1, cd, d))
        return diag_prefix(d, "node '%s' (Gemm)", n->name);
    return KDC_OK;
}

static Status gemm_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    const RtTensor *c = s->n_in > 2 ? s->in[2] : NULL;
    k_gemm_forward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), c ? rt_f(c) : NULL, rt_f(s->out[0]));
    return KDC_OK;
}

static void gemm_backward(Step *s, Plan *p)
{
    (void)p;
    const RtTensor *c = s->n_in > 2 ? s->in[2] : NULL;
    k_gemm_backward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), s->out[0]->grad, s->in[0]->grad, s->in[1]->grad,
                    c ? c->grad : NULL);
}

const RtOp rt_op_Gemm = {gemm_prepare, gemm_forward, gemm_backward, 0, 0};

/* ---- MatMul ---- */

static Status matmul_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    MatMulDims *md;
    if (rt_require_float(s, d) || !(md = rt_state_alloc(s, sizeof *md, d)))
        return KDC_ERR;
    int64_t ad[IR_MAX_RANK + 1], bd[IR_MAX_RANK + 1];
    int ar = s->in[0]->shape.rank, br = s->in[1]->shape.rank;
    rt_dims(s->in[0], ad);
    rt_dims(s->in[1], bd);
    if (ar == 1) { /* numpy: a vector on the left is a row */
        ad[1] = ad[0];
        ad[0] = 1;
        ar = 2;
    }
    if (br == 1) { /* and on the right a column */
        bd[1] = 1;
        br = 2;
    }
    if (k_matmul_init(md, ad, ar, bd, br, NULL, d))
        return diag_prefix(d, "node '%s' (MatMul)", s->node->name);
    return KDC_OK;
}

static Status matmul_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    k_matmul_forward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->out[0]));
    return KDC_OK;
}

static void matmul_backward(Step *s, Plan *p)
{
    (void)p;
    k_matmul_backward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), s->out[0]->grad, s->in[0]->grad, s->in[1]->grad);
}

const RtOp rt_op_MatMul = {matmul_prepare, matmul_forward, matmul_backward, 0, 0};

/* ---- Conv: 2-D on k_conv2d, 1-D as 2-D with H = 1, 3-D on k_conv3d ---- */

typedef struct ConvState {
    bool is_3d;
    ConvDims cd;   /* 1-D and 2-D */
    ConvNdDims nd; /* 3-D */
} ConvState;

/* Spatial dim i of a rank-`rank` input padded to `to` dims at the front:
 * -1 where the padding goes. */
static int conv_spatial(int rank, int to, int i)
{
    return i - (to - (rank - 2));
}

static Status conv_dims_2d(Step *s, const ConvGeom *g, ConvDims *cd, Diag *d)
{
    const Shape *x = &s->in[0]->shape, *w = &s->in[1]->shape;
    int r = x->rank, h = conv_spatial(r, 2, 0), v = conv_spatial(r, 2, 1);
    *cd = (ConvDims){
        .N = (int)x->dims[0].value, .C = (int)x->dims[1].value, .M = (int)w->dims[0].value,
        .H = h < 0 ? 1 : (int)x->dims[2 + h].value, .W = (int)x->dims[2 + v].value,
        .KH = h < 0 ? 1 : (int)g->kernel[h], .KW = (int)g->kernel[v],
        .stride_h = h < 0 ? 1 : (int)g->strides[h], .stride_w = (int)g->strides[v],
        .dil_h = h < 0 ? 1 : (int)g->dilations[h], .dil_w = (int)g->dilations[v],
        .pad_top = h < 0 ? 0 : (int)g->pad_begin[h], .pad_left = (int)g->pad_begin[v],
        .pad_bottom = h < 0 ? 0 : (int)g->pad_end[h], .pad_right = (int)g->pad_end[v],
        .groups = (int)node_attr_int(s->node, "group", 1),
    };
    if (k_conv2d_prepare(cd, d))
        return diag_prefix(d, "node '%s' (Conv)", s->node->name);
    return KDC_OK;
}

static Status conv_dims_3d(Step *s, const ConvGeom *g, ConvNdDims *nd, Diag *d)
{
    const Shape *x = &s->in[0]->shape, *w = &s->in[1]->shape;
    *nd = (ConvNdDims){.N = (int)x->dims[0].value, .C = (int)x->dims[1].value, .M = (int)w->dims[0].value,
                       .groups = (int)node_attr_int(s->node, "group", 1)};
    for (int i = 0; i < KN_SPATIAL; i++) {
        nd->in[i] = (int)x->dims[2 + i].value;
        nd->k[i] = (int)g->kernel[i];
        nd->stride[i] = (int)g->strides[i];
        nd->dil[i] = (int)g->dilations[i];
        nd->pad_begin[i] = (int)g->pad_begin[i];
        nd->pad_end[i] = (int)g->pad_end[i];
    }
    if (k_conv3d_prepare(nd, d))
        return diag_prefix(d, "node '%s' (Conv)", s->node->name);
    return KDC_OK;
}

static Status conv_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ConvState *st;
    if (rt_require_float(s, d) || !(st = rt_state_alloc(s, sizeof *st, d)))
        return KDC_ERR;
    const Shape *x = &s->in[0]->shape, *w = &s->in[1]->shape;
    if (x->rank < 3 || x->rank > 5 || w->rank != x->rank)
        return rt_op_error(s, d, "1-D, 2-D and 3-D convolutions are computed (input rank %d, weight rank %d)",
                           x->rank, w->rank);
    int64_t kernel[IR_MAX_RANK];
    for (int i = 2; i < w->rank; i++)
        kernel[i - 2] = w->dims[i].value;
    ConvGeom g;
    if (conv_geom_resolve(s->node, x, kernel, &g, d))
        return KDC_ERR;
    st->is_3d = x->rank == 5;
    if (st->is_3d ? conv_dims_3d(s, &g, &st->nd, d) : conv_dims_2d(s, &g, &st->cd, d))
        return KDC_ERR;
    s->ws_floats = st->is_3d ? k_conv3d_workspace_floats(&st->nd, threads_count())
                             : k_conv2d_workspace_floats(&st->cd, threads_count());
    return KDC_OK;
}

static Status conv_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const ConvState *st = s->state;
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    const float *x = rt_f(s->in[0]), *w = rt_f(s->in[1]), *bias = b ? rt_f(b) : NULL;
    if (st->is_3d)
        k_conv3d_forward(&st->nd, x, w, bias, rt_f(s->out[0]), p->ws, s->ws_floats);
    else
        k_conv2d_forward(&st->cd, x, w, bias, rt_f(s->out[0]), p->ws, s->ws_floats);
    return KDC_OK;
}

static void conv_backward(Step *s, Plan *p)
{
    const ConvState *st = s->state;
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    const float *x = rt_f(s->in[0]), *w = rt_f(s->in[1]), *dy = s->out[0]->grad;
    float *db = b ? b->grad : NULL;
    if (st->is_3d)
        k_conv3d_backward(&st->nd, x, w, dy, s->in[0]->grad, s->in[1]->grad, db, p->ws, s->ws_floats);
    else
        k_conv2d_backward(&st->cd, x, w, dy, s->in[0]->grad, s->in[1]->grad, db, p->ws, s->ws_floats);
}

const RtOp rt_op_Conv = {conv_prepare, conv_forward, conv_backward, 0, 0};
