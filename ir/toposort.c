/* toposort.c - stable topological ordering of a graph's nodes.
 *
 * Depth-first from each node in the current order, emitting producers before
 * consumers, so an already sorted graph keeps its order exactly. Values used
 * inside a node's subgraphs count as that node's inputs. The walk keeps its
 * own stack: graphs in the wild have chains of many thousands of nodes.
 */
#include "ir/ir.h"

#include <stdlib.h>

void graph_index_nodes(Graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i]->index = i;
}

/* Producers each node depends on, as index lists: deps[start[i] .. start[i+1]). */
typedef struct {
    Graph *g;
    int *start, *deps;
    int n_deps, cap_deps;
} Deps;

static Status push_dep(Deps *t, int node, Diag *d)
{
    if (t->n_deps == t->cap_deps) {
        int cap = t->cap_deps ? 2 * t->cap_deps : 64;
        int *nd = realloc(t->deps, (size_t)cap * sizeof *nd);
        if (!nd)
            return diag_error(d, "out of memory");
        t->deps = nd;
        t->cap_deps = cap;
    }
    t->deps[t->n_deps++] = node;
    return KDC_OK;
}

/* Values of enclosing graphs and of subgraphs are defined by their own graph. */
static Status collect_value(Deps *t, const Node *user, const Value *v, Diag *d)
{
    if (!v)
        return KDC_OK;
    if (!v->producer && v->graph == t->g && !v->init && !graph_has_input(t->g, v))
        return diag_error(d, "node '%s' (%s): input '%s' is not defined", user->name, user->op_type, v->name);
    if (!v->producer || v->producer->graph != t->g)
        return KDC_OK;
    return push_dep(t, v->producer->index, d);
}

static Status collect_attrs(Deps *t, const Node *owner, const Node *n, Diag *d);

static Status collect_subgraph(Deps *t, const Node *owner, const Graph *sub, Diag *d)
{
    for (int i = 0; i < sub->n_nodes; i++) {
        const Node *n = sub->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (collect_value(t, n, n->inputs[j], d))
                return KDC_ERR;
        if (collect_attrs(t, owner, n, d))
            return KDC_ERR;
    }
    for (int i = 0; i < sub->n_outputs; i++)
        if (collect_value(t, owner, sub->outputs[i], d))
            return KDC_ERR;
    return KDC_OK;
}

static Status collect_attrs(Deps *t, const Node *owner, const Node *n, Diag *d)
{
    for (int j = 0; j < n->n_attrs; j++) {
        const Attr *a = &n->attrs[j];
        if (a->kind == ATTR_GRAPH && collect_subgraph(t, owner, a->g, d))
            return KDC_ERR;
        for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
            if (collect_subgraph(t, owner, a->graphs[k], d))
                return KDC_ERR;
    }
    return KDC_OK;
}

static Status collect_all(Deps *t, Diag *d)
{
    for (int i = 0; i < t->g->n_nodes; i++) {
        const Node *n = t->g->nodes[i];
        t->start[i] = t->n_deps;
        for (int j = 0; j < n->n_inputs; j++)
            if (collect_value(t, n, n->inputs[j], d))
                return KDC_ERR;
        if (collect_attrs(t, n, n, d))
            return KDC_ERR;
    }
    t->start[t->g->n_nodes] = t->n_deps;
    return KDC_OK;
}

/* Iterative DFS from root; state 0 new, 1 on the stack, 2 emitted. */
static Status visit_from(const Deps *t, int root, unsigned char *state, int *next, int *stack, Node **order,
                         int *n_order, Diag *d)
{
    int sp = 0;
    stack[sp++] = root;
    state[root] = 1;
    next[root] = t->start[root];
    while (sp) {
        int top = stack[sp - 1];
        if (next[top] < t->start[top + 1]) {
            int dep = t->deps[next[top]++];
            if (state[dep] == 1) {
                const Node *n = t->g->nodes[dep];
                return diag_error(d, "node '%s' (%s) is part of a cycle", n->name, n->op_type);
            }
            if (state[dep] == 0) {
                state[dep] = 1;
                next[dep] = t->start[dep];
                stack[sp++] = dep;
            }
            continue;
        }
        sp--;
        state[top] = 2;
        order[(*n_order)++] = t->g->nodes[top];
    }
    return KDC_OK;
}

Status graph_toposort(Graph *g, Diag *d)
{
    Status st = KDC_ERR;
    size_t n = (size_t)g->n_nodes + 1;
    Deps t = {.g = g, .start = malloc(n * sizeof(int))};
    unsigned char *state = calloc(n, 1);
    int *next = malloc(n * sizeof(int)), *stack = malloc(n * sizeof(int)), n_order = 0;
    Node **order = malloc(n * sizeof(Node *));
    if (!t.start || !state || !next || !stack || !order) {
        diag_error(d, "out of memory");
        goto fail;
    }
    graph_index_nodes(g);
    if (collect_all(&t, d))
        goto fail;
    for (int i = 0; i < g->n_nodes; i++)
        if (state[i] == 0 && visit_from(&t, i, state, next, stack, order, &n_order, d))
            goto fail;
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i] = order[i];
    graph_index_nodes(g);
    st = KDC_OK;
fail:
    free(t.start);
    free(t.deps);
    free(state);
    free(next);
    free(stack);
    free(order);
    return st;
}
