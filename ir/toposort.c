/* toposort.c - stable topological ordering of a graph's nodes.
 *
 * Depth-first from each node in the current order, emitting producers before
 * consumers, so an already sorted graph keeps its order exactly. Values used
 * inside a node's subgraphs count as that node's inputs.
 */
#include "ir/ir.h"

#include <stdlib.h>

void graph_index_nodes(Graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i]->index = i;
}

typedef struct {
    Graph *g;
    unsigned char *state; /* 0 new, 1 on stack, 2 done */
    Node **order;
    int n_order;
} Topo;

static Status visit(Topo *t, Node *n, Diag *d);

static Status visit_value(Topo *t, const Value *v, Diag *d)
{
    if (!v || !v->producer || v->producer->graph != t->g)
        return KDC_OK;
    return visit(t, v->producer, d);
}

static Status visit_subgraph_uses(Topo *t, const Graph *sub, Diag *d)
{
    for (int i = 0; i < sub->n_nodes; i++) {
        const Node *n = sub->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (visit_value(t, n->inputs[j], d))
                return KDC_ERR;
        for (int j = 0; j < n->n_attrs; j++) {
            const Attr *a = &n->attrs[j];
            if (a->kind == ATTR_GRAPH && visit_subgraph_uses(t, a->g, d))
                return KDC_ERR;
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                if (visit_subgraph_uses(t, a->graphs[k], d))
                    return KDC_ERR;
        }
    }
    for (int i = 0; i < sub->n_outputs; i++)
        if (visit_value(t, sub->outputs[i], d))
            return KDC_ERR;
    return KDC_OK;
}

static Status visit(Topo *t, Node *n, Diag *d)
{
    unsigned char *st = &t->state[n->index];
    if (*st == 2)
        return KDC_OK;
    if (*st == 1)
        return diag_error(d, "node '%s' (%s) is part of a cycle", n->name, n->op_type);
    *st = 1;
    for (int j = 0; j < n->n_inputs; j++)
        if (visit_value(t, n->inputs[j], d))
            return KDC_ERR;
    for (int j = 0; j < n->n_attrs; j++) {
        const Attr *a = &n->attrs[j];
        if (a->kind == ATTR_GRAPH && visit_subgraph_uses(t, a->g, d))
            return KDC_ERR;
        for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
            if (visit_subgraph_uses(t, a->graphs[k], d))
                return KDC_ERR;
    }
    t->state[n->index] = 2;
    t->order[t->n_order++] = n;
    return KDC_OK;
}

Status graph_toposort(Graph *g, Diag *d)
{
    Status st = KDC_ERR;
    Topo t = {g, calloc((size_t)g->n_nodes + 1, 1), malloc(((size_t)g->n_nodes + 1) * sizeof(Node *)), 0};
    if (!t.state || !t.order) {
        diag_error(d, "out of memory");
        goto fail;
    }
    graph_index_nodes(g);
    for (int i = 0; i < g->n_nodes; i++)
        if (visit(&t, g->nodes[i], d))
            goto fail;
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i] = t.order[i];
    graph_index_nodes(g);
    st = KDC_OK;
fail:
    free(t.state);
    free(t.order);
    return st;
}
