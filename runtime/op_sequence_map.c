/* op_sequence_map.c - the runtime entry of SequenceMap: its body graph run
 * once per element of the input sequence, sequences among the other inputs
 * walked alongside, tensors among them passed whole; output j collects the
 * body's output j of every run. Like every container op it is computed when
 * the plan is built (op_sequence.h): each run plans the body with all its
 * inputs bound to the elements, copies the results into the enclosing
 * plan's blocks and frees that body plan.
 */
#include "runtime/op_control.h"
#include "runtime/op_sequence.h"

#include "ir/container.h"


static Status map_check_inputs(const Step *s, const Graph *g, const Tensor *const *in, Diag *d)
{
    if (g->n_inputs != s->n_in || g->n_outputs != s->n_out)
        return rt_op_error(s, d, "the body '%s' has %d inputs and %d outputs; the node has %d and %d",
                           g->name ? g->name : "", g->n_inputs, g->n_outputs, s->n_in, s->n_out);
    if (in[0]->holds != HOLDS_SEQUENCE)
        return rt_op_error(s, d, "input 0 is %s; SequenceMap maps over a sequence", holds_name(in[0]->holds));
    for (int i = 1; i < s->n_in; i++) {
        if (!in[i])
            return rt_op_error(s, d, "input %d is missing", i);
        if (in[i]->holds == HOLDS_OPTIONAL)
            return rt_op_error(s, d, "input %d is an optional; SequenceMap takes sequences and tensors", i);
        if (in[i]->holds == HOLDS_SEQUENCE && in[i]->n_items != in[0]->n_items)
            return rt_op_error(s, d, "input %d is a sequence of %d but input 0 has %d elements", i, in[i]->n_items,
                               in[0]->n_items);
    }
    return KDC_OK;
}

/* Copies body output value v into element `at` of out, in p's blocks. */
static Status map_take(const Step *s, Plan *p, int j, const RtTensor *v, Tensor *out, int at, Diag *d)
{
    if (v->holds != HOLDS_TENSOR)
        return rt_op_error(s, d, "body output %d is %s; SequenceMap collects tensors", j, holds_name(v->holds));
    if (at > 0 && v->dtype != out->dtype)
        return rt_op_error(s, d, "body output %d is %s in run %d but %s before", j, dtype_name(v->dtype), at,
                           dtype_name(out->dtype));
    Tensor value = rt_tensor_view(v);
    if (seq_copy_tensor(p, &value, &out->items[at], d))
        return KDC_ERR;
    out->dtype = v->dtype;
    return KDC_OK;
}

/* Run `at`: the body planned for element `at` of every sequence input. */
static Status map_run(Step *s, Plan *p, Graph *g, const Tensor *const *in, Tensor *out, int at, Diag *d)
{
    int n = s->n_in;
    DType dts[n];
    Shape shapes[n];
    const Tensor *vals[n];
    for (int i = 0; i < n; i++) {
        vals[i] = in[i]->holds == HOLDS_SEQUENCE ? &in[i]->items[at] : in[i];
        dts[i] = vals[i]->dtype;
        shapes[i] = shape_from_dims(vals[i]->rank, vals[i]->dims);
    }
    Plan *body = NULL;
    if (rt_plan_child_bound(p, g, dts, shapes, vals, &body, d))
        return diag_prefix(d, "node '%s' (%s), body '%s', element %d", s->node->name, s->node->op_type,
                           g->name ? g->name : "", at);
    Status rc = ctl_run_body(body, d);
    for (int j = 0; j < s->n_out && !rc; j++)
        rc = map_take(s, p, j, body->outputs[j], &out[j], at, d);
    rt_plan_child_free(p, body);
    return rc;
}

static Status map_eval(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d)
{
    const Attr *a = node_attr(s->node, "body");
    if (!a || a->kind != ATTR_GRAPH || !a->g)
        return rt_op_error(s, d, "attribute 'body' (a graph) is required");
    Graph *g = a->g;
    if (map_check_inputs(s, g, in, d))
        return KDC_ERR;
    int n = in[0]->n_items;
    for (int j = 0; j < s->n_out; j++) {
        const Value *decl = g->outputs[j];
        if (seq_new_sequence(p, decl->kind == TYPE_TENSOR ? decl->dtype : DT_UNDEFINED, n, &out[j], d))
            return KDC_ERR;
    }
    for (int at = 0; at < n; at++)
        if (map_run((Step *)s, p, g, in, out, at, d))
            return KDC_ERR;
    return KDC_OK;
}

static Status map_prepare(Step *s, Plan *p, Diag *d)
{
    const Attr *a = node_attr(s->node, "body");
    if (a && a->kind == ATTR_GRAPH && a->g && ctl_add_outer_values(s, p, a->g, a->g, d))
        return KDC_ERR;
    return seq_prepare(s, p, map_eval, d);
}

const RtOp rt_op_SequenceMap = {map_prepare, seq_forward, NULL, ~0u, RT_OWN_TYPES | RT_CONTAINERS};
