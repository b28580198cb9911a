/* infer_shapes.c - the shape inference pass: fills dtype and shape of every
 * node output from the op registry's shape functions, in topological order.
 * Known facts are never lost: where inference cannot tell a dim, a dim
 * declared by the model (value_info, graph outputs) is kept. Opaque nodes,
 * nodes reading a declared sequence or optional, and subgraph bodies are
 * left as the model declares them. */
#include "passes/passes.h"

#include "ir/ops.h"

#include <stdlib.h>

static void merge_shape(Value *v, DType dt, const Shape *s)
{
    if (dt == DT_UNDEFINED && s->rank < 0) /* nothing learnt: a sequence or optional keeps its declared type */
        return;
    if (dt != DT_UNDEFINED)
        v->dtype = dt;
    if (s->rank >= 0 && (v->shape.rank < 0 || v->shape.rank != s->rank || v->kind != TYPE_TENSOR)) {
        v->shape = *s;
    } else if (s->rank >= 0) {
        for (int i = 0; i < s->rank; i++)
            if (s->dims[i].value >= 0 || (s->dims[i].param && v->shape.dims[i].value < 0))
                v->shape.dims[i] = s->dims[i];
    }
    v->kind = TYPE_TENSOR;
}

static Status check_arity(const Node *n, Diag *d)
{
    const OpInfo *op = &op_table[n->op];
    if (n->n_inputs < op->min_inputs || n->n_inputs > op->max_inputs)
        return diag_error(d, "node '%s' (%s) has %d inputs, expected %d to %d", n->name, n->op_type, n->n_inputs,
                          op->min_inputs, op->max_inputs);
    if (n->n_outputs < op->min_outputs || n->n_outputs > op->max_outputs)
        return diag_error(d, "node '%s' (%s) has %d outputs, expected %d to %d", n->name, n->op_type,
                          n->n_outputs, op->min_outputs, op->max_outputs);
    for (int i = 0; i < op->min_inputs; i++)
        if (!n->inputs[i])
            return diag_error(d, "node '%s' (%s) lacks required input %d", n->name, n->op_type, i);
    return KDC_OK;
}

Status pass_infer_node(Node *n, Diag *d)
{
    int ni = n->n_inputs, no = n->n_outputs;
    Status st = KDC_ERR;
    DType *in_dt = calloc((size_t)ni + 1, sizeof *in_dt), *out_dt = calloc((size_t)no, sizeof *out_dt);
    Shape *in_sh = calloc((size_t)ni + 1, sizeof *in_sh), *out_sh = calloc((size_t)no, sizeof *out_sh);
    const Tensor **in_val = calloc((size_t)ni + 1, sizeof *in_val);
    if (!in_dt || !out_dt || !in_sh || !out_sh || !in_val) {
        diag_error(d, "out of memory");
        goto fail;
    }
    for (int i = 0; i < ni; i++) {
        const Value *v = n->inputs[i];
        in_sh[i].rank = -1;
        if (!v)
            continue;
        if (v->kind == TYPE_OPAQUE) { /* a declared sequence or optional: the IR types tensors only */
            st = KDC_OK;
            goto fail;
        }
        in_dt[i] = v->kind == TYPE_TENSOR ? v->dtype : DT_UNDEFINED;
        if (v->kind == TYPE_TENSOR)
            in_sh[i] = v->shape;
        in_val[i] = v->init;
        if (in_dt[i] == DT_UNDEFINED) /* present but untyped: still "present" */
            in_dt[i] = DT_FLOAT;
    }
    for (int k = 0; k < no; k++)
        out_sh[k].rank = -1;
    InferCtx c = {n, ni, no, in_dt, in_sh, in_val, out_dt, out_sh};
    if (op_table[n->op].infer(&c, d))
        goto fail;
    for (int k = 0; k < no; k++)
        if (n->outputs[k])
            merge_shape(n->outputs[k], out_dt[k], &out_sh[k]);
    st = KDC_OK;
fail:
    free(in_dt);
    free(out_dt);
    free(in_sh);
    free(out_sh);
    free(in_val);
    return st;
}

Status pass_infer_shapes(Graph *g, Diag *d)
{
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (n->op == OP_OPAQUE)
            continue;
        if (check_arity(n, d) || pass_infer_node(n, d))
            return KDC_ERR;
    }
    return KDC_OK;
}
