/* stats.c - parameter, MAC and op counts of a graph (see stats.h). */
#include "ir/stats.h"

#include "ir/ops.h"

#include <string.h>

static int64_t dim_or_one(const Dim *d)
{
    return d->value >= 0 ? d->value : 1;
}

static int64_t numel_sym_one(const Shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= dim_or_one(&s->dims[i]);
    return s->rank < 0 ? 0 : n;
}

static int64_t node_macs(const Node *n)
{
    const Value *y = n->outputs[0];
    if (!y || y->kind != TYPE_TENSOR || y->shape.rank < 0)
        return 0;
    const Value *w = n->n_inputs > 1 ? n->inputs[1] : NULL;
    if (!w || w->kind != TYPE_TENSOR || w->shape.rank < 0)
        return 0;
    const Shape *ws = &w->shape;
    if (n->op == OP_Conv) { /* each output element: C/g * kernel taps */
        int64_t taps = 1;
        for (int i = 1; i < ws->rank; i++)
            taps *= dim_or_one(&ws->dims[i]);
        return numel_sym_one(&y->shape) * taps;
    }
    if (n->op == OP_Gemm) {
        bool tb = node_attr_int(n, "transB", 0) != 0;
        return ws->rank == 2 ? numel_sym_one(&y->shape) * dim_or_one(&ws->dims[tb ? 1 : 0]) : 0;
    }
    if (n->op == OP_MatMul) {
        const Value *a = n->inputs[0];
        if (a->kind != TYPE_TENSOR || a->shape.rank < 1)
            return 0;
        return numel_sym_one(&y->shape) * dim_or_one(&a->shape.dims[a->shape.rank - 1]);
    }
    return 0;
}

static void count_op(GraphStats *s, const char *op_type)
{
    for (int i = 0; i < s->n_op_types; i++)
        if (!strcmp(s->op_types[i], op_type)) {
            s->op_counts[i]++;
            return;
        }
    if (s->n_op_types < (int)(sizeof s->op_types / sizeof s->op_types[0])) {
        s->op_types[s->n_op_types] = op_type;
        s->op_counts[s->n_op_types++] = 1;
    }
}

void graph_stats(const Graph *g, GraphStats *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < g->n_inits; i++) {
        const Tensor *t = g->inits[i]->init;
        if (t->dtype == DT_FLOAT)
            s->params += tensor_numel(t);
        s->param_bytes += (int64_t)t->nbytes;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        s->n_nodes++;
        count_op(s, n->op_type);
        s->macs += node_macs(n);
    }
}
