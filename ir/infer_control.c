/* infer_control.c - shape functions of the control-flow ops If, Loop and
 * Scan. Their outputs take the types the body graphs declare (and, for
 * values carried through a loop, the initial values' types); a dim the
 * bodies leave open stays unknown here. The planner does not use these: it
 * plans the bodies for concrete shapes (runtime/op_control.c).
 */
#include "ir/infer.h"

static Dim unknown_dim(void)
{
    return (Dim){-1, NULL};
}

/* The graph held by attribute `name`, or an error naming the node. */
static Status body_graph(const Node *n, const char *name, const Graph **out, Diag *d)
{
    const Attr *a = node_attr(n, name);
    if (!a || a->kind != ATTR_GRAPH || !a->g)
        return infer_error(n, d, "attribute '%s' (a graph) is required", name);
    *out = a->g;
    return KDC_OK;
}

static void declared_type(const Value *v, DType *dt, Shape *s)
{
    *dt = v->kind == TYPE_TENSOR ? v->dtype : DT_UNDEFINED;
    *s = v->kind == TYPE_TENSOR ? v->shape : (Shape){.rank = -1};
}

static bool shapes_equal(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (!dim_equal(&a->dims[i], &b->dims[i]))
            return false;
    return true;
}

/* ---- If ---- */

Status infer_If(InferCtx *c, Diag *d)
{
    const Graph *then_g = NULL, *else_g = NULL;
    if (body_graph(c->node, "then_branch", &then_g, d) || body_graph(c->node, "else_branch", &else_g, d))
        return KDC_ERR;
    if (then_g->n_outputs != c->n_out || else_g->n_outputs != c->n_out)
        return infer_error(c->node, d, "the branches give %d and %d outputs but the node has %d", then_g->n_outputs,
                           else_g->n_outputs, c->n_out);
    const Tensor *cond = c->in_value[0];
    for (int k = 0; k < c->n_out; k++) {
        DType tdt, edt;
        Shape ts, es;
        declared_type(then_g->outputs[k], &tdt, &ts);
        declared_type(else_g->outputs[k], &edt, &es);
        if (cond && tensor_numel(cond) == 1) {
            bool take_then = tensor_get_int(cond, 0) != 0;
            c->out_dtype[k] = take_then ? tdt : edt;
            c->out_shape[k] = take_then ? ts : es;
            continue;
        }
        c->out_dtype[k] = tdt != DT_UNDEFINED ? tdt : edt;
        c->out_shape[k] = shapes_equal(&ts, &es) ? ts : (Shape){.rank = -1};
    }
    return KDC_OK;
}

/* ---- Loop and Scan ---- */

/* Scan output k: the body's per-iteration output with `len` inserted at axis. */
static void stacked(InferCtx *c, int k, const Value *body_out, Dim len, int64_t axis)
{
    Shape s;
    declared_type(body_out, &c->out_dtype[k], &s);
    c->out_shape[k].rank = -1;
    if (s.rank < 0 || s.rank + 1 > IR_MAX_RANK)
        return;
    if (axis < 0)
        axis += s.rank + 1;
    if (axis < 0 || axis > s.rank)
        return;
    Shape out = {.rank = s.rank + 1};
    for (int i = 0, j = 0; i < out.rank; i++)
        out.dims[i] = i == axis ? len : s.dims[j++];
    c->out_shape[k] = out;
}

Status infer_Loop(InferCtx *c, Diag *d)
{
    const Graph *body = NULL;
    if (body_graph(c->node, "body", &body, d))
        return KDC_ERR;
    int n_carried = c->n_in - 2, n_scan = c->n_out - n_carried;
    if (n_carried < 0 || n_scan < 0 || body->n_outputs != 1 + c->n_out || body->n_inputs != c->n_in)
        return infer_error(c->node, d,
                           "the body has %d inputs and %d outputs; with %d loop-carried values it needs %d "
                           "and %d",
                           body->n_inputs, body->n_outputs, n_carried, n_carried + 2, 1 + c->n_out);
    for (int k = 0; k < n_carried; k++)
        infer_same_as(c, k, 2 + k);
    Dim trips = unknown_dim();
    const Tensor *m = c->in_dtype[0] != DT_UNDEFINED ? c->in_value[0] : NULL;
    if (m && tensor_numel(m) == 1)
        trips = (Dim){tensor_get_int(m, 0), NULL};
    for (int k = n_carried; k < c->n_out; k++)
        stacked(c, k, body->outputs[1 + k], trips, 0);
    return KDC_OK;
}

Status infer_Scan(InferCtx *c, Diag *d)
{
    const Graph *body = NULL;
    if (body_graph(c->node, "body", &body, d))
        return KDC_ERR;
    int first = c->node->opset < 9; /* opset 8: input 0 is sequence_lens */
    int n_scan_in = (int)node_attr_int(c->node, "num_scan_inputs", -1);
    int n_state = c->n_in - first - n_scan_in, n_scan_out = c->n_out - n_state;
    if (n_scan_in < 1 || n_state < 0 || n_scan_out < 0 || body->n_outputs != c->n_out)
        return infer_error(c->node, d, "num_scan_inputs %d does not fit %d inputs, %d outputs and a body of %d outputs",
                           n_scan_in, c->n_in, c->n_out, body->n_outputs);
    for (int k = 0; k < n_state; k++)
        infer_same_as(c, k, first + k);
    int count = 0;
    const int64_t *in_axes = node_attr_ints(c->node, "scan_input_axes", &count);
    int64_t axis = in_axes && count > 0 ? in_axes[0] : 0;
    const Shape *s0 = &c->in_shape[first + n_state];
    Dim len = unknown_dim();
    if (!first && s0->rank > 0 && axis >= -s0->rank && axis < s0->rank)
        len = s0->dims[axis < 0 ? axis + s0->rank : axis];
    const int64_t *out_axes = node_attr_ints(c->node, "scan_output_axes", &count);
    for (int j = 0; j < n_scan_out; j++) {
        stacked(c, n_state + j, body->outputs[n_state + j], len, out_axes && j < count ? out_axes[j] : 0);
        if (first)
            c->out_shape[n_state + j].rank = -1;
    }
    return KDC_OK;
}
