/* verify.c - the IR verifier: run after every pass in tests and with
 * --verify. Checks SSA (one definition per value, producer links agree),
 * topological order, that every input is defined, op arity against the
 * registry, and that initializers hold data matching their shape. */
#include "ir/ir.h"

#include "ir/ops.h"

#include <stdlib.h>

static Status verify_graph(const Graph *g, Diag *d);

static Status verify_value_defined(const Graph *g, const Node *n, const Value *v, int pos, Diag *d)
{
    if (!v)
        return KDC_OK;
    if (graph_find_value(g, v->name) != v)
        return diag_error(d, "node '%s' (%s): input '%s' is not defined in scope", n->name, n->op_type, v->name);
    if (v->producer && v->producer->graph == g && v->producer->index >= pos)
        return diag_error(d, "node '%s' (%s): input '%s' is used before node '%s' defines it", n->name, n->op_type,
                          v->name, v->producer->name);
    if (!v->producer && !v->init && v->graph == g && !graph_has_input(g, v))
        return diag_error(d, "node '%s' (%s): input '%s' has no definition", n->name, n->op_type, v->name);
    return KDC_OK;
}

static Status verify_node(const Graph *g, const Node *n, int pos, Diag *d)
{
    if (n->graph != g || n->index != pos)
        return diag_error(d, "node '%s' (%s): stale graph link or index", n->name, n->op_type);
    if (n->op != OP_OPAQUE) {
        const OpInfo *op = &op_table[n->op];
        if (n->n_inputs < op->min_inputs || n->n_inputs > op->max_inputs || n->n_outputs < op->min_outputs ||
            n->n_outputs > op->max_outputs)
            return diag_error(d, "node '%s' (%s): %d inputs / %d outputs are outside the op's arity", n->name,
                              n->op_type, n->n_inputs, n->n_outputs);
    }
    for (int i = 0; i < n->n_inputs; i++)
        if (verify_value_defined(g, n, n->inputs[i], pos, d))
            return KDC_ERR;
    for (int k = 0; k < n->n_outputs; k++) {
        const Value *v = n->outputs[k];
        if (v && (v->producer != n || v->producer_output != k || v->init || graph_has_input(g, v)))
            return diag_error(d, "node '%s' (%s): output '%s' is defined more than once", n->name, n->op_type, v->name);
    }
    for (int j = 0; j < n->n_attrs; j++) {
        const Attr *a = &n->attrs[j];
        if (a->kind == ATTR_GRAPH && verify_graph(a->g, d))
            return KDC_ERR;
        for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
            if (verify_graph(a->graphs[k], d))
                return KDC_ERR;
    }
    return KDC_OK;
}

static Status verify_inits(const Graph *g, Diag *d)
{
    for (int i = 0; i < g->n_inits; i++) {
        const Value *v = g->inits[i];
        const Tensor *t = v->init;
        if (!t)
            return diag_error(d, "initializer '%s' has no data", v->name);
        if (v->producer)
            return diag_error(d, "initializer '%s' is also the output of node '%s' (%s)", v->name, v->producer->name,
                              v->producer->op_type);
        if (t->dtype != DT_STRING && t->nbytes != (size_t)tensor_numel(t) * dtype_size(t->dtype))
            return diag_error(d, "initializer '%s' holds %zu bytes, its shape needs %zu", v->name, t->nbytes,
                              (size_t)tensor_numel(t) * dtype_size(t->dtype));
    }
    return KDC_OK;
}

static Status verify_graph(const Graph *g, Diag *d)
{
    graph_index_nodes((Graph *)g);
    if (verify_inits(g, d))
        return KDC_ERR;
    for (int i = 0; i < g->n_nodes; i++)
        if (verify_node(g, g->nodes[i], i, d))
            return KDC_ERR;
    for (int i = 0; i < g->n_outputs; i++) {
        const Value *v = g->outputs[i];
        if (!v || graph_find_value(g, v->name) != v)
            return diag_error(d, "graph '%s': output %d is not defined", g->name ? g->name : "", i);
    }
    return KDC_OK;
}

Status ir_verify(const Model *m, Diag *d)
{
    return verify_graph(m->graph, d);
}
