/* op_sample.c - runtime entries of GridSample (opset 16; opset 20's
 * "linear"/"cubic" names too, 4-D input only) and Unique (opset 11).
 *
 * GridSample computes float input and grid; its backward reaches both the
 * image and the grid in every mode (nearest: zero grid gradient). Unique
 * takes any fixed-size type; its output sizes depend on the input's values,
 * so the shape function counts them when the input is known at build time
 * and the forward checks that the data still gives that count. It has no
 * gradient.
 */
#include "runtime/kernels_sample.h"
#include "runtime/op_data.h"
#include "runtime/rt.h"

#include <string.h>

/* ---- GridSample ---- */

static Status grid_mode(const Step *s, KGridMode *mode, Diag *d)
{
    const char *m = node_attr_string(s->node, "mode", s->node->opset >= 20 ? "linear" : "bilinear");
    bool v20 = s->node->opset >= 20;
    if (!strcmp(m, v20 ? "linear" : "bilinear"))
        *mode = KG_BILINEAR;
    else if (!strcmp(m, "nearest"))
        *mode = KG_NEAREST;
    else if (!strcmp(m, v20 ? "cubic" : "bicubic"))
        *mode = KG_BICUBIC;
    else
        return rt_op_error(s, d, "attribute 'mode' must be \"%s\", \"nearest\" or \"%s\", not \"%s\"",
                           v20 ? "linear" : "bilinear", v20 ? "cubic" : "bicubic", m);
    return KDC_OK;
}

static Status grid_padding(const Step *s, KGridPad *pad, Diag *d)
{
    const char *m = node_attr_string(s->node, "padding_mode", "zeros");
    if (!strcmp(m, "zeros"))
        *pad = KG_ZEROS;
    else if (!strcmp(m, "border"))
        *pad = KG_BORDER;
    else if (!strcmp(m, "reflection"))
        *pad = KG_REFLECTION;
    else
        return rt_op_error(s, d, "attribute 'padding_mode' must be \"zeros\", \"border\" or \"reflection\", not \"%s\"",
                           m);
    return KDC_OK;
}

static Status gridsample_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    KGridSample *gs = rt_state_alloc(s, sizeof *gs, d);
    if (!gs || rt_require_float(s, d) || grid_mode(s, &gs->mode, d) || grid_padding(s, &gs->pad, d))
        return KDC_ERR;
    const RtTensor *x = s->in[0], *grid = s->in[1];
    if (x->shape.rank != 4)
        return rt_op_error(s, d, "input has rank %d; only 4-D input ([N, C, H, W]) is computed", x->shape.rank);
    if (grid->shape.dims[0].value != x->shape.dims[0].value)
        return rt_op_error(s, d, "grid has batch %lld, the input %lld", (long long)grid->shape.dims[0].value,
                           (long long)x->shape.dims[0].value);
    gs->n = x->shape.dims[0].value, gs->c = x->shape.dims[1].value;
    gs->h = x->shape.dims[2].value, gs->w = x->shape.dims[3].value;
    gs->ho = grid->shape.dims[1].value, gs->wo = grid->shape.dims[2].value;
    gs->align_corners = node_attr_int(s->node, "align_corners", 0) != 0;
    return KDC_OK;
}

static Status gridsample_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    (void)d;
    k_gridsample_forward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), rt_f(s->out[0]));
    return KDC_OK;
}

static void gridsample_backward(Step *s, Plan *p)
{
    (void)p;
    if (s->in[0]->grad || s->in[1]->grad)
        k_gridsample_backward(s->state, rt_f(s->in[0]), rt_f(s->in[1]), s->out[0]->grad, s->in[0]->grad,
                              s->in[1]->grad);
}

const RtOp rt_op_GridSample = {gridsample_prepare, gridsample_forward, gridsample_backward, 0, 0};

/* ---- Unique ---- */

typedef struct UniqueState {
    KUnique u;
    int64_t m; /* distinct slices the plan was built for; -1 when no output tells */
} UniqueState;

/* The count the output shapes were planned with. */
static int64_t planned_count(const Step *s, int axis)
{
    if (s->out[0])
        return s->out[0]->shape.dims[axis].value;
    for (int k = 1; k < s->n_out; k += 2)
        if (s->out[k])
            return s->out[k]->numel;
    return -1;
}

static Status unique_prepare(Step *s, Plan *p, Diag *d)
{
    (void)p;
    UniqueState *st = rt_state_alloc(s, sizeof *st, d);
    if (!st || rt_data_typed(s, 0, &st->u.t, d))
        return KDC_ERR;
    KUnique *u = &st->u;
    const RtTensor *x = s->in[0];
    const Attr *axis = node_attr(s->node, "axis");
    int a = 0;
    u->sorted = node_attr_int(s->node, "sorted", 1) != 0;
    u->outer = 1, u->n = x->numel, u->inner = 1;
    if (axis) {
        a = (int)(axis->i < 0 ? axis->i + x->shape.rank : axis->i);
        u->outer = rt_data_span(x, 0, a);
        u->n = x->shape.dims[a].value;
        u->inner = rt_data_span(x, a + 1, x->shape.rank);
    }
    st->m = planned_count(s, a);
    /* int64 scratch carved from the (aligned) float workspace: two floats per entry */
    s->ws_floats = 2 * (size_t)k_unique_ws_ints(u);
    return KDC_OK;
}

static int64_t *output_ints(const Step *s, int k)
{
    return k < s->n_out && s->out[k] ? s->out[k]->data : NULL;
}

static Status unique_forward(Step *s, Plan *p, Diag *d)
{
    const UniqueState *st = s->state;
    int64_t *ws = (int64_t *)(void *)p->ws;
    if (st->m >= 0 && k_unique_count(&st->u, s->in[0]->data, ws) != st->m)
        return rt_op_error(s, d, "the input no longer has the %lld distinct values the plan was built for",
                           (long long)st->m);
    k_unique(&st->u, s->in[0]->data, s->out[0] ? s->out[0]->data : NULL, output_ints(s, 1), output_ints(s, 2),
             output_ints(s, 3), ws);
    return KDC_OK;
}

/* Piecewise constant and integer outputs: no gradient. */
const RtOp rt_op_Unique = {unique_prepare, unique_forward, NULL, 0x1u, 0};
