/* eliminate_dead.c - dead code elimination (pass_eliminate_dead).
 *
 * Owns the liveness walk: a value is live when a graph output is it or a live
 * node reads it, directly or from inside one of its subgraphs. Nodes with no
 * live output and initializers no live node reads are removed, except
 * initializers that are also graph inputs (the caller may feed those). The
 * remaining nodes keep their order. Subgraphs are cleaned the same way, with
 * their own outputs as roots, before the graph that holds them.
 */
#include "passes/passes.h"

#include <stdlib.h>

static void mark_if_defined_in(const Graph *g, const Value *v, bool *live)
{
    if (v && v->graph == g)
        live[v->id] = true;
}

/* Values of g read anywhere inside sub (at any depth) keep their producers alive. */
static void mark_subgraph_refs(const Graph *g, const Graph *sub, bool *live)
{
    for (int i = 0; i < sub->n_nodes; i++) {
        const Node *n = sub->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            mark_if_defined_in(g, n->inputs[j], live);
        for (int j = 0; j < n->n_attrs; j++) {
            const Attr *a = &n->attrs[j];
            if (a->kind == ATTR_GRAPH)
                mark_subgraph_refs(g, a->g, live);
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                mark_subgraph_refs(g, a->graphs[k], live);
        }
    }
    for (int i = 0; i < sub->n_outputs; i++)
        mark_if_defined_in(g, sub->outputs[i], live);
}

static bool node_has_live_output(const Node *n, const bool *live)
{
    for (int k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] && n->outputs[k]->graph == n->graph && live[n->outputs[k]->id])
            return true;
    return false;
}

/* Walks nodes backwards (they are in topological order), so a node's
 * consumers are decided before the node itself. */
static void mark_live_nodes(Graph *g, bool *live, bool *drop)
{
    for (int i = 0; i < g->n_outputs; i++)
        mark_if_defined_in(g, g->outputs[i], live);
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        Node *n = g->nodes[i];
        if (!node_has_live_output(n, live)) {
            drop[i] = true;
            continue;
        }
        for (int j = 0; j < n->n_inputs; j++)
            mark_if_defined_in(g, n->inputs[j], live);
        for (int j = 0; j < n->n_attrs; j++) {
            const Attr *a = &n->attrs[j];
            if (a->kind == ATTR_GRAPH)
                mark_subgraph_refs(g, a->g, live);
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                mark_subgraph_refs(g, a->graphs[k], live);
        }
    }
}

static void drop_unused_inits(Graph *g, const bool *live)
{
    int kept = 0;
    for (int i = 0; i < g->n_inits; i++) {
        Value *v = g->inits[i];
        bool is_input = false;
        for (int j = 0; j < g->n_inputs && !is_input; j++)
            is_input = g->inputs[j] == v;
        if (is_input || (v->graph == g && live[v->id]))
            g->inits[kept++] = v;
    }
    g->n_inits = kept;
}

/* Dead values stay in the value table (names stay reserved) but must not be
 * written out as value_info of a value nothing defines. */
static void forget_dead_outputs(Graph *g, const bool *drop)
{
    for (int i = 0; i < g->n_nodes; i++) {
        if (!drop[i])
            continue;
        Node *n = g->nodes[i];
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k])
                n->outputs[k]->in_value_info = false;
    }
}

static Status eliminate_in_graph(Graph *g, Diag *d);

static Status eliminate_in_subgraphs(Graph *g, Diag *d)
{
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->n_attrs; j++) {
            Attr *a = &n->attrs[j];
            if (a->kind == ATTR_GRAPH && eliminate_in_graph(a->g, d))
                return KDC_ERR;
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                if (eliminate_in_graph(a->graphs[k], d))
                    return KDC_ERR;
        }
    }
    return KDC_OK;
}

static Status eliminate_in_graph(Graph *g, Diag *d)
{
    Status st = KDC_ERR;
    bool *live = calloc((size_t)g->n_values + 1, sizeof *live);
    bool *drop = calloc((size_t)g->n_nodes + 1, sizeof *drop);
    if (!live || !drop) {
        diag_error(d, "out of memory");
        goto fail;
    }
    /* subgraphs first, so that their dead nodes do not keep outer values alive */
    if (eliminate_in_subgraphs(g, d))
        goto fail;
    mark_live_nodes(g, live, drop);
    drop_unused_inits(g, live);
    forget_dead_outputs(g, drop);
    graph_remove_nodes(g, drop);
    graph_index_nodes(g);
    st = KDC_OK;
fail:
    free(live);
    free(drop);
    return st;
}

Status pass_eliminate_dead(Graph *g, Diag *d)
{
    return eliminate_in_graph(g, d);
}
