/* op_resize.c - runtime entries of Resize (opsets 10 to 19) and Upsample
 * (7, 9): attributes to kernel parameters, the geometry of ir/nn_geom.c,
 * and the per-axis tap tables of k_resize.c, built once in prepare. */
#include <string.h>

#include "ir/nn_geom.h"
#include "runtime/kernels_nn.h"
#include "runtime/rt.h"

/* The state and, carved after it in the same block, every axis's tables. */
typedef struct ResizeState {
    KResizeDims rd;
    KResizeAxis axes[KN_MAX_RANK];
} ResizeState;

typedef struct Named {
    const char *name;
    int value;
} Named;

/* The value named s among names (of which the first `allowed` count), or -1. */
static int lookup(const Named *names, int allowed, const char *s)
{
    for (int i = 0; i < allowed; i++)
        if (!strcmp(names[i].name, s))
            return names[i].value;
    return -1;
}

static Status resize_attr(const Step *s, const char *attr, const char *dflt, const Named *names, int allowed, int *out,
                          Diag *d)
{
    const char *v = node_attr_string(s->node, attr, dflt);
    *out = lookup(names, allowed, v);
    if (*out < 0)
        return rt_op_error(s, d, "%s '%s' is not defined at opset %d", attr, v, s->node->opset);
    return KDC_OK;
}

static const Named modes[] = {{"nearest", KR_NEAREST}, {"linear", KR_LINEAR}, {"cubic", KR_CUBIC}};
static const Named nearest_modes[] = {{"round_prefer_floor", KN_ROUND_PREFER_FLOOR},
                                      {"round_prefer_ceil", KN_ROUND_PREFER_CEIL},
                                      {"floor", KN_FLOOR},
                                      {"ceil", KN_CEIL}};
/* In the order the opsets added them: 11 has the first six, 13 drops
 * tf_half_pixel_for_nn, 19 adds half_pixel_symmetric. */
static const Named coord_modes[] = {{"half_pixel", KC_HALF_PIXEL},
                                    {"pytorch_half_pixel", KC_PYTORCH_HALF_PIXEL},
                                    {"align_corners", KC_ALIGN_CORNERS},
                                    {"asymmetric", KC_ASYMMETRIC},
                                    {"tf_crop_and_resize", KC_TF_CROP_AND_RESIZE},
                                    {"half_pixel_symmetric", KC_HALF_PIXEL_SYMMETRIC},
                                    {"tf_half_pixel_for_nn", KC_TF_HALF_PIXEL_FOR_NN}};

/* Upsample and opset-10 Resize: no coordinate or rounding attributes; the
 * legacy asymmetric mapping and onnxruntime's rounding. */
static Status legacy_params(const Step *s, KResizeParams *rp, float *extrap, Diag *d)
{
    int mode = KR_LINEAR;
    /* Upsample before opset 9 spelled linear "bilinear" too */
    if (strcmp(node_attr_string(s->node, "mode", "nearest"), "bilinear") &&
        resize_attr(s, "mode", "nearest", modes, 2, &mode, d))
        return KDC_ERR;
    *rp = (KResizeParams){.mode = (KResizeMode)mode, .coord = KC_ASYMMETRIC, .nearest = KN_SIMPLE, .cubic_a = -0.75f};
    *extrap = 0.0f;
    return KDC_OK;
}

static Status resize_params(const Step *s, KResizeParams *rp, float *extrap, Diag *d)
{
    const Node *n = s->node;
    if (!strcmp(n->op_type, "Upsample") || n->opset < 11)
        return legacy_params(s, rp, extrap, d);
    int mode, coord, nearest, n_coord = n->opset >= 19 ? 6 : 5;
    if (n->opset < 13)
        n_coord = 7;
    if (resize_attr(s, "mode", "nearest", modes, 3, &mode, d) ||
        resize_attr(s, "coordinate_transformation_mode", "half_pixel", coord_modes, n_coord, &coord, d) ||
        resize_attr(s, "nearest_mode", "round_prefer_floor", nearest_modes, 4, &nearest, d))
        return KDC_ERR;
    if (n->opset < 13 && coord == KC_HALF_PIXEL_SYMMETRIC)
        return rt_op_error(s, d, "coordinate_transformation_mode 'half_pixel_symmetric' needs opset 19");
    *rp = (KResizeParams){.mode = (KResizeMode)mode,
                          .coord = (KResizeCoord)coord,
                          .nearest = (KResizeNearest)nearest,
                          .cubic_a = node_attr_float(n, "cubic_coeff_a", -0.75f),
                          .exclude_outside = node_attr_int(n, "exclude_outside", 0) != 0,
                          .antialias = n->opset >= 18 && node_attr_int(n, "antialias", 0) != 0};
    *extrap = node_attr_float(n, "extrapolation_value", 0.0f);
    return KDC_OK;
}

/* A Tensor view of input k's data when it is known now (a constant or an initializer). */
static const Tensor *known_input(const Step *s, int k, Tensor *view)
{
    const RtTensor *t = k < s->n_in ? s->in[k] : NULL;
    if (!t || !t->data || !(t->is_const || t->value->init))
        return NULL;
    *view = (Tensor){
        .dtype = t->dtype, .rank = t->shape.rank, .data = t->data, .nbytes = (size_t)t->numel * dtype_size(t->dtype)};
    rt_dims(t, view->dims);
    return view;
}

static Status resize_geometry(const Step *s, ResizeGeom *g, Diag *d)
{
    Tensor views[4];
    const Tensor *vals[4] = {NULL};
    ResizeInputs ri;
    for (int k = 1; k < 4; k++)
        vals[k] = known_input(s, k, &views[k]);
    if (resize_inputs_read(s->node, vals, 4, &ri, d) || resize_geom_resolve(s->node, &s->in[0]->shape, &ri, g, d))
        return KDC_ERR;
    if (ri.unknown)
        return rt_op_error(s, d, "scales or sizes is computed at run time, which kdc does not support yet");
    for (int i = 0; i < g->rank; i++)
        if (g->out[i] != s->out[0]->shape.dims[i].value || g->scale[i] <= 0)
            return rt_op_error(s, d, "output dim %d: expected %lld, the plan has %lld", i, (long long)g->out[i],
                               (long long)s->out[0]->shape.dims[i].value);
    return KDC_OK;
}

/* Floats of tables the axes need (idx and w), and bytes of their flags. */
static size_t resize_table_bytes(const KResizeParams *rp, const ResizeGeom *g)
{
    size_t bytes = 0;
    for (int i = 0; i < g->rank; i++) {
        size_t taps = (size_t)k_resize_axis_taps(rp, g->scale[i]);
        bytes += (size_t)g->out[i] * taps * (sizeof(int32_t) + sizeof(float)) + (size_t)g->out[i];
    }
    return bytes;
}

static void resize_build_axes(ResizeState *st, const KResizeParams *rp, const ResizeGeom *g)
{
    unsigned char *at = (unsigned char *)(st + 1);
    for (int i = 0; i < g->rank; i++) {
        KResizeAxis *ax = &st->axes[i];
        *ax = (KResizeAxis){.in = g->in[i],
                            .out = g->out[i],
                            .scale = g->scale[i],
                            .roi_start = g->roi_start[i],
                            .roi_end = g->roi_end[i],
                            .taps = k_resize_axis_taps(rp, g->scale[i])};
        size_t n = (size_t)ax->out * (size_t)ax->taps;
        ax->idx = (int32_t *)at;
        at += n * sizeof(int32_t);
        ax->w = (float *)at;
        at += n * sizeof(float);
        ax->outside = at;
        at += ax->out;
        at += (4 - (uintptr_t)at % 4) % 4; /* keep the next axis's int32s aligned */
        k_resize_axis_build(rp, ax);
    }
}

static Status resize_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    KResizeParams rp;
    ResizeGeom g;
    float extrap = 0.0f;
    if (s->in[0]->dtype != DT_FLOAT)
        return rt_op_error(s, d, "type %s is not computed yet", dtype_name(s->in[0]->dtype));
    if (s->in[0]->shape.rank < 1 || s->in[0]->shape.rank > KN_MAX_RANK)
        return rt_op_error(s, d, "input rank %d is not computed", s->in[0]->shape.rank);
    if (resize_params(s, &rp, &extrap, d) || resize_geometry(s, &g, d))
        return KDC_ERR;
    ResizeState *st = rt_state_alloc(s, sizeof *st + resize_table_bytes(&rp, &g) + 4 * (size_t)g.rank, d);
    if (!st)
        return KDC_ERR;
    st->rd = (KResizeDims){.rank = g.rank, .axes = st->axes, .extrapolation = extrap};
    resize_build_axes(st, &rp, &g);
    s->ws_floats = k_resize_workspace_floats(&st->rd);
    return KDC_OK;
}

static Status resize_forward(Step *s, Plan *p, Diag *d)
{
    (void)d;
    const ResizeState *st = s->state;
    k_resize_forward(&st->rd, rt_f(s->in[0]), rt_f(s->out[0]), p->ws);
    return KDC_OK;
}

static void resize_backward(Step *s, Plan *p)
{
    const ResizeState *st = s->state;
    k_resize_backward(&st->rd, s->out[0]->grad, s->in[0]->grad, p->ws);
}

/* roi, scales and sizes never receive a gradient */
const RtOp rt_op_Resize = {resize_prepare, resize_forward, resize_backward, 0xEu, 0};
const RtOp rt_op_Upsample = {resize_prepare, resize_forward, resize_backward, 0xEu, 0};
