/* op_linear.c - runtime entries of the layer ops that go through GEMM:
 * Gemm, MatMul and Conv (2-D). */
#include "ir/conv_geom.h"
#include "runtime/kernels.h"
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

const RtOp rt_op_Gemm = {gemm_prepare, gemm_forward, gemm_backward, 0};

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

const RtOp rt_op_MatMul = {matmul_prepare, matmul_forward, matmul_backward, 0};

/* ---- Conv ---- */

static Status conv_dims_from_geom(Step *s, ConvDims *cd, Diag *d)
{
    const Shape *x = &s->in[0]->shape, *w = &s->in[1]->shape;
    if (x->rank != 4)
        return rt_op_error(s, d, "only 2-D convolution is computed yet (input rank %d)", x->rank);
    ConvGeom g;
    int64_t kernel[2] = {w->dims[2].value, w->dims[3].value};
    if (conv_geom_resolve(s->node, x, kernel, &g, d))
        return KDC_ERR;
    *cd = (ConvDims){
        .N = (int)x->dims[0].value, .C = (int)x->dims[1].value, .H = (int)x->dims[2].value,
        .W = (int)x->dims[3].value, .M = (int)w->dims[0].value, .KH = (int)kernel[0], .KW = (int)kernel[1],
        .stride_h = (int)g.strides[0], .stride_w = (int)g.strides[1], .dil_h = (int)g.dilations[0],
        .dil_w = (int)g.dilations[1], .pad_top = (int)g.pad_begin[0], .pad_left = (int)g.pad_begin[1],
        .pad_bottom = (int)g.pad_end[0], .pad_right = (int)g.pad_end[1],
        .groups = (int)node_attr_int(s->node, "group", 1),
    };
    if (k_conv2d_prepare(cd, d))
        return diag_prefix(d, "node '%s' (Conv)", s->node->name);
    return KDC_OK;
}

static Status conv_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    ConvDims *cd;
    if (rt_require_float(s, d) || !(cd = rt_state_alloc(s, sizeof *cd, d)) || conv_dims_from_geom(s, cd, d))
        return KDC_ERR;
    s->ws_floats = k_conv2d_workspace_floats(cd, threads_count());
    return KDC_OK;
}

static Status conv_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    k_conv2d_forward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), b ? rt_f(b) : NULL, rt_f(s->out[0]), p->ws,
                     s->ws_floats);
    return KDC_OK;
}

static void conv_backward(Step *s, Plan *p)
{
    const RtTensor *b = s->n_in > 2 ? s->in[2] : NULL;
    k_conv2d_backward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), s->out[0]->grad, s->in[0]->grad, s->in[1]->grad,
                      b ? b->grad : NULL, p->ws, s->ws_floats);
}

const RtOp rt_op_Conv = {conv_prepare, conv_forward, conv_backward, 0};
