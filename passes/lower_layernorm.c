/* lower_layernorm.c - writes LayerNormalization back out as the ops that exist
 * before opset 17 (pass_lower_layernorm), so a model whose teacher had the
 * decomposed form (fused by passes/fuse_layernorm.c for training and shrinking)
 * is emitted valid at its own opset.
 *
 * Owns the expansion of Y = LayerNormalization(X, Scale, B) over axes a..:
 *   mean = ReduceMean(X, axes a..-1, keepdims 1)   (the Mean output, when requested)
 *   dev  = Sub(X, mean)
 *   var  = ReduceMean(Pow(dev, 2))
 *   sd   = Sqrt(Add(var, epsilon))
 *   Y    = Add(Mul(Div(dev, sd), Scale), B)       (no Add without B)
 *   InvStdDev = Reciprocal(sd)                     (when requested)
 * the form PyTorch exports below opset 17. The expansion takes the
 * LayerNormalization's place in the node order and writes its output values,
 * so readers are untouched; its other values are fresh. Every node is checked
 * before anything changes, so a node that cannot be written (dtype, axis,
 * opset) leaves the graph as it was.
 */
#include "passes/passes.h"

#include "ir/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Lowering {
    Graph *g;
    const Node *ln;
    int opset;
} Lowering;

/* Numpy-style broadcasting of Sub/Div/Mul/Add, which the expansion relies on, starts at 7. */
enum { LOWEST_OPSET = 7 };

/* ---- checks ---- */

/* The LayerNormalization's name, or its output's when it has none. */
static const char *base_name(const Node *ln)
{
    return ln->name && *ln->name ? ln->name : ln->outputs[0] ? ln->outputs[0]->name : "";
}

static Status check_node(const Node *n, int64_t opset, Diag *d)
{
    const Value *x = n->inputs[0];
    int64_t axis = node_attr_int(n, "axis", -1);
    const char *name = base_name(n);
    if (opset < LOWEST_OPSET)
        return diag_error(d, "node '%s' (LayerNormalization): cannot be written at opset %lld (needs %d or later)",
                          name, (long long)opset, LOWEST_OPSET);
    if (!x || x->kind != TYPE_TENSOR || (x->dtype != DT_FLOAT && x->dtype != DT_DOUBLE))
        return diag_error(d,
                          "node '%s' (LayerNormalization): only float and double inputs can be written below "
                          "opset 17",
                          name);
    if (axis >= 0 && x->shape.rank < 0)
        return diag_error(d, "node '%s' (LayerNormalization): axis %lld needs the input's rank, which is unknown", name,
                          (long long)axis);
    if (x->shape.rank >= 0 && (axis < -x->shape.rank || axis >= x->shape.rank))
        return diag_error(d, "node '%s' (LayerNormalization): axis %lld is out of range for rank %d", name,
                          (long long)axis, x->shape.rank);
    if (!n->outputs[0])
        return diag_error(d, "node '%s' (LayerNormalization): output Y is not requested", name);
    for (int k = 1; k < n->n_outputs; k++)
        if (n->outputs[k] && n->outputs[k]->dtype != x->dtype)
            return diag_error(d, "node '%s' (LayerNormalization): output %d has stash type %s, not the input's %s",
                              name, k, dtype_name(n->outputs[k]->dtype), dtype_name(x->dtype));
    return KDC_OK;
}

static Status check_graph(const Graph *g, int64_t opset, Diag *d)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        if (n->op == OP_LayerNormalization && check_node(n, opset, d))
            return KDC_ERR;
        for (int j = 0; j < n->n_attrs; j++) {
            const Attr *a = &n->attrs[j];
            if (a->kind == ATTR_GRAPH && check_graph(a->g, opset, d))
                return KDC_ERR;
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                if (check_graph(a->graphs[k], opset, d))
                    return KDC_ERR;
        }
    }
    return KDC_OK;
}

/* ---- the expansion ---- */

/* "<base>/<part>", fresh in the graph. */
static Value *fresh_value(const Lowering *l, const char *part)
{
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/%s", base_name(l->ln), part);
    return graph_new_value(l->g, prefix);
}

static Status out_of_memory(const Lowering *l, Diag *d)
{
    return diag_error(d, "node '%s' (LayerNormalization): out of memory while lowering it", base_name(l->ln));
}

/* A scalar initializer of X's dtype. */
static Status scalar(const Lowering *l, const char *part, double value, Value **out, Diag *d)
{
    DType dt = l->ln->inputs[0]->dtype;
    Tensor *t = tensor_new(l->g->arena, dt, 0, NULL);
    Value *v = fresh_value(l, part);
    if (!t || !v || !graph_set_init(l->g, v, t))
        return out_of_memory(l, d);
    if (dt == DT_DOUBLE)
        *(double *)t->data = value;
    else
        *(float *)t->data = (float)value;
    *out = v;
    return KDC_OK;
}

/* A node op(in...) appended to the graph, named "<base>/<part>", not yet writing anything. */
static Node *new_node(const Lowering *l, const char *op, const char *part, int n_in, Value *const *in)
{
    char name[1024];
    Node *n = graph_add_node(l->g, op, "", n_in, 1);
    snprintf(name, sizeof name, "%s/%s", base_name(l->ln), part);
    n->name = arena_strdup(l->g->arena, name);
    n->opset = l->opset;
    memcpy(n->inputs, in, (size_t)n_in * sizeof *in);
    op_bind(n);
    return n;
}

/* n writes out (a fresh value when NULL), typed from its inputs. */
static Status finish(const Lowering *l, Node *n, const char *part, Value *out, Value **y, Diag *d)
{
    Value *v = out ? out : fresh_value(l, part);
    if (!v || !n->name)
        return out_of_memory(l, d);
    node_set_output(n, 0, v);
    *y = v;
    return pass_infer_node(n, d);
}

static Status emit(const Lowering *l, const char *op, const char *part, int n_in, Value *const *in, Value *out,
                   Value **y, Diag *d)
{
    return finish(l, new_node(l, op, part, n_in, in), part, out, y, d);
}

/* ReduceMean over the normalized axes, as negative axes (they hold for any rank). */
static Status emit_mean(const Lowering *l, const char *part, Value *in, Value *out, Value **y, Diag *d)
{
    const Value *x = l->ln->inputs[0];
    int64_t axis = node_attr_int(l->ln, "axis", -1), axes[IR_MAX_RANK];
    if (axis >= 0)
        axis -= x->shape.rank;
    int count = 0;
    for (int64_t a = axis; a < 0; a++)
        axes[count++] = a;
    Node *n = new_node(l, "ReduceMean", part, 1, &in);
    int64_t *list = arena_memdup(l->g->arena, axes, (size_t)count * sizeof *axes);
    if (!list)
        return out_of_memory(l, d);
    Attr *at = node_add_attr(n, "axes", ATTR_INTS);
    at->n = count;
    at->ints = list;
    node_add_attr(n, "keepdims", ATTR_INT)->i = 1;
    return finish(l, n, part, out, y, d);
}

static Value *optional_output(const Node *n, int k)
{
    return k < n->n_outputs ? n->outputs[k] : NULL;
}

/* Appends the expansion of l->ln at the end of the graph. */
static Status expand(const Lowering *l, Diag *d)
{
    const Node *ln = l->ln;
    Value *x = ln->inputs[0], *b = ln->n_inputs > 2 ? ln->inputs[2] : NULL, *y = ln->outputs[0];
    Value *two, *eps, *mean, *dev, *sq, *var, *ve, *sd, *norm, *scaled, *inv;
    if (scalar(l, "two", 2.0, &two, d) || scalar(l, "epsilon", node_attr_float(ln, "epsilon", 1e-5f), &eps, d) ||
        emit_mean(l, "mean", x, optional_output(ln, 1), &mean, d) ||
        emit(l, "Sub", "dev", 2, (Value *[]){x, mean}, NULL, &dev, d) ||
        emit(l, "Pow", "square", 2, (Value *[]){dev, two}, NULL, &sq, d) || emit_mean(l, "var", sq, NULL, &var, d) ||
        emit(l, "Add", "var_eps", 2, (Value *[]){var, eps}, NULL, &ve, d) ||
        emit(l, "Sqrt", "std", 1, &ve, NULL, &sd, d) ||
        emit(l, "Div", "norm", 2, (Value *[]){dev, sd}, NULL, &norm, d) ||
        emit(l, "Mul", "scale", 2, (Value *[]){norm, ln->inputs[1]}, b ? NULL : y, &scaled, d))
        return KDC_ERR;
    if (b && emit(l, "Add", "bias", 2, (Value *[]){scaled, b}, y, &y, d))
        return KDC_ERR;
    if (optional_output(ln, 2) && emit(l, "Reciprocal", "inv_std", 1, &sd, ln->outputs[2], &inv, d))
        return KDC_ERR;
    return KDC_OK;
}

/* ---- the pass ---- */

static Status lower_graph(Graph *g, int opset, Diag *d);

static Status lower_nodes(Graph *g, int opset, int *start, Diag *d)
{
    int n_old = g->n_nodes;
    for (int i = 0; i < n_old; i++) {
        start[i] = g->n_nodes;
        Lowering l = {g, g->nodes[i], opset};
        if (g->nodes[i]->op == OP_LayerNormalization && expand(&l, d))
            return KDC_ERR;
    }
    start[n_old] = g->n_nodes;
    return KDC_OK;
}

static void reorder(Graph *g, int n_old, const int *start, Node **all)
{
    memcpy(all, g->nodes, (size_t)g->n_nodes * sizeof *all);
    int k = 0;
    for (int i = 0; i < n_old; i++) {
        if (all[i]->op != OP_LayerNormalization) {
            g->nodes[k++] = all[i];
            continue;
        }
        for (int j = start[i]; j < start[i + 1]; j++)
            g->nodes[k++] = all[j];
    }
    g->n_nodes = k;
    graph_index_nodes(g);
}

static Status lower_subgraphs(Graph *g, int opset, Diag *d)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_attrs; j++) {
            const Attr *a = &g->nodes[i]->attrs[j];
            if (a->kind == ATTR_GRAPH && lower_graph(a->g, opset, d))
                return KDC_ERR;
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                if (lower_graph(a->graphs[k], opset, d))
                    return KDC_ERR;
        }
    return KDC_OK;
}

/* Expands every LayerNormalization (appended at the end), then puts each
 * expansion where its node was. */
static Status lower_graph(Graph *g, int opset, Diag *d)
{
    Status st = KDC_ERR;
    int n_old = g->n_nodes;
    int *start = calloc((size_t)n_old + 1, sizeof *start);
    Node **all = NULL;
    if (!start) {
        diag_error(d, "out of memory while lowering LayerNormalization");
        goto fail;
    }
    if (lower_nodes(g, opset, start, d))
        goto fail;
    all = malloc((size_t)g->n_nodes * sizeof *all + 1);
    if (!all) {
        diag_error(d, "out of memory while lowering LayerNormalization");
        goto fail;
    }
    reorder(g, n_old, start, all);
    st = lower_subgraphs(g, opset, d);
fail:
    free(start);
    free(all);
    return st;
}

Status pass_lower_layernorm(Graph *g, int64_t opset, Diag *d)
{
    if (opset >= 17)
        return KDC_OK;
    if (check_graph(g, opset, d))
        return KDC_ERR;
    return lower_graph(g, (int)opset, d);
}
