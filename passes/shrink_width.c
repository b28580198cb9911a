/* shrink_width.c - the width shrink (pass_shrink_width): entry point, chain
 * discovery and the structural checks.
 *
 * kdc's first width shrink handles a plain chain of Conv / Gemm / MatMul
 * layers from the graph's one computed input to its output, with
 * BatchNormalization, activations, pooling, Dropout, Identity, Flatten,
 * Reshape and constant elementwise operands between them. Every hidden layer
 * (each layer but the last) keeps max(1, round(width * units)) of its output
 * units, those whose teacher weights have the largest L1 norm; everything
 * that reads those units is sliced to match. Anything else (residual joins,
 * Concat/Split, grouped convolutions, forks, unknown ops) is refused with one
 * line naming the node, and the graph is left unchanged: the whole chain is
 * planned and validated before the first tensor is touched.
 *
 * Owns: finding the chain (this file); see shrink_width_plan.h for the rest.
 */
#include "passes/shrink_width_plan.h"

#include "ir/ops.h"

#include <stdlib.h>
#include <string.h>

#define CHAIN_ONLY "kdc's width shrink handles plain chains only so far"

const char *shrink_node_label(const Node *n)
{
    if (n->name && *n->name)
        return n->name;
    return n->n_outputs > 0 && n->outputs[0] ? n->outputs[0]->name : "?";
}

const Tensor *shrink_const_input(const Node *n, int slot)
{
    return slot < n->n_inputs && n->inputs[slot] ? n->inputs[slot]->init : NULL;
}

static bool op_type_is(const Node *n, const char *op_type)
{
    bool dflt = !n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx");
    return dflt && !strcmp(n->op_type, op_type);
}

static bool is_layer(const Node *n)
{
    return n->op == OP_Conv || n->op == OP_Gemm || n->op == OP_MatMul;
}

static bool is_elementwise_binary(const Node *n)
{
    return n->op == OP_Add || n->op == OP_Sub || n->op == OP_Mul || n->op == OP_Div;
}

static bool is_known_on_chain(const Node *n)
{
    switch (n->op) {
    case OP_Conv:
    case OP_Gemm:
    case OP_MatMul:
    case OP_BatchNormalization:
    case OP_Relu:
    case OP_Sigmoid:
    case OP_Tanh:
    case OP_Dropout:
    case OP_Identity:
    case OP_MaxPool:
    case OP_AveragePool:
    case OP_GlobalAveragePool:
    case OP_Flatten:
    case OP_Reshape:
    case OP_Softmax:
    case OP_LogSoftmax:
    case OP_Add:
    case OP_Sub:
    case OP_Mul:
    case OP_Div: return true;
    default: return false;
    }
}

static bool value_is_graph_output(const Graph *g, const Value *v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

static Status find_data_input(ShrinkPlan *p, Diag *d)
{
    int count = 0;
    for (int i = 0; i < p->g->n_inputs; i++)
        if (!p->g->inputs[i]->init) {
            p->input = p->g->inputs[i];
            count++;
        }
    if (count != 1)
        return diag_error(
            d, "the graph has %d computed inputs; kdc's width shrink handles single-input chains only so far", count);
    return KDC_OK;
}

/* ---- branches: joins, Concat/Split, grouped convolutions ---- */

static Status check_branching(const Node *n, int n_reached, Diag *d)
{
    const char *label = shrink_node_label(n);
    if (n->op == OP_Concat)
        return diag_error(d, "node '%s' (Concat) concatenates computed values; " CHAIN_ONLY, label);
    if (op_type_is(n, "Split"))
        return diag_error(d, "node '%s' (Split) splits a computed value into branches; " CHAIN_ONLY, label);
    if (n_reached >= 2) {
        bool residual = n->op == OP_Add || n->op == OP_Sub || op_type_is(n, "Sum");
        return diag_error(d, "node '%s' (%s) joins two computed branches%s; " CHAIN_ONLY, label, n->op_type,
                          residual ? " (a residual connection)" : "");
    }
    if (n->op == OP_Conv && node_attr_int(n, "group", 1) != 1)
        return diag_error(d,
                          "node '%s' (Conv) is a grouped or depthwise convolution (group %lld); kdc's width shrink "
                          "handles group 1 only so far",
                          label, (long long)node_attr_int(n, "group", 1));
    return KDC_OK;
}

/* Looks at every node the input's data flows into (Shape only reads its
 * metadata), so that a residual network is refused at its join rather than
 * at the fork that starts it. */
static Status check_branches(const ShrinkPlan *p, Diag *d)
{
    const Graph *g = p->g;
    Status st = KDC_ERR;
    bool *reached = calloc((size_t)g->n_values + 1, sizeof *reached);
    if (!reached)
        return diag_error(d, "out of memory");
    reached[p->input->id] = true;
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        int n_reached = 0;
        for (int j = 0; j < n->n_inputs; j++)
            n_reached += n->inputs[j] && n->inputs[j]->graph == g && reached[n->inputs[j]->id];
        if (!n_reached)
            continue;
        if (check_branching(n, n_reached, d))
            goto fail;
        for (int k = 0; n->op != OP_Shape && k < n->n_outputs; k++)
            if (n->outputs[k])
                reached[n->outputs[k]->id] = true;
    }
    st = KDC_OK;
fail:
    free(reached);
    return st;
}

/* ---- the chain ---- */

static Node *sole_consumer(const Graph *g, const Value *v, int *slot)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_inputs; j++)
            if (g->nodes[i]->inputs[j] == v) {
                *slot = j;
                return g->nodes[i];
            }
    return NULL;
}

static const Node *shape_reader(const Graph *g, const Value *v)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == OP_Shape && g->nodes[i]->inputs[0] == v)
            return g->nodes[i];
    return NULL;
}

static Status refuse_fork(const Graph *g, const Value *v, int uses, Diag *d)
{
    const Node *shape = uses > 1 ? shape_reader(g, v) : NULL;
    if (shape) /* an unfolded x.view(x.size(0), -1) looks like a fork */
        return diag_error(d,
                          "node '%s' (Shape) reads the shape of '%s' at run time; run fold_constants and "
                          "eliminate_dead first so that kdc's width shrink sees a plain chain",
                          shrink_node_label(shape), v->name);
    if (uses == 0)
        return diag_error(d, "value '%s' reaches no graph output; run eliminate_dead first", v->name);
    if (uses == 1)
        return diag_error(d, "value '%s' is read inside a subgraph; " CHAIN_ONLY, v->name);
    if (!v->producer)
        return diag_error(d, "graph input '%s' is used %d times (a fork); " CHAIN_ONLY, v->name, uses);
    return diag_error(d, "node '%s' (%s): its output '%s' is used %d times (a fork); " CHAIN_ONLY,
                      shrink_node_label(v->producer), v->producer->op_type, v->name, uses);
}

static Status check_layer_weights(const Node *n, Diag *d)
{
    const Tensor *w = n->inputs[1]->init, *b = shrink_const_input(n, 2);
    const char *label = shrink_node_label(n), *wname = n->inputs[1]->name;
    if (w->dtype != DT_FLOAT && w->dtype != DT_DOUBLE)
        return diag_error(d, "node '%s' (%s): weight '%s' is %s; kdc's width shrink ranks float weights only", label,
                          n->op_type, wname, dtype_name(w->dtype));
    if (n->op == OP_Conv ? w->rank < 3 : w->rank != 2)
        return diag_error(d, "node '%s' (%s): weight '%s' has rank %d; kdc's width shrink needs %s", label, n->op_type,
                          wname, w->rank, n->op == OP_Conv ? "3 or more" : "2");
    if (n->op == OP_Conv && b && (b->rank != 1 || b->dims[0] != w->dims[0]))
        return diag_error(d, "node '%s' (Conv): bias '%s' does not have one entry per output channel", label,
                          n->inputs[2]->name);
    return KDC_OK;
}

static Status check_batchnorm_params(const Node *n, Diag *d)
{
    for (int j = 1; j < 5; j++) {
        const Tensor *t = n->inputs[j]->init;
        if (t->rank != 1 || t->dims[0] != n->inputs[1]->init->dims[0])
            return diag_error(d, "node '%s' (BatchNormalization): '%s' is not a vector of one entry per channel",
                              shrink_node_label(n), n->inputs[j]->name);
    }
    return KDC_OK;
}

/* Checks what does not depend on channel bookkeeping: the op is known, the
 * chain enters by the data input, all other inputs are initializers, and
 * only the first output is used. */
static Status check_path_node(const ShrinkPlan *p, const Node *n, int slot, Diag *d)
{
    const char *label = shrink_node_label(n);
    if (!is_known_on_chain(n))
        return diag_error(d,
                          "node '%s' (%s) is an op kdc's width shrink does not know; it handles chains of Conv, Gemm "
                          "and MatMul layers with BatchNormalization, activations, pooling, Dropout, Flatten and "
                          "Reshape between them",
                          label, n->op_type);
    if (n->n_inputs < op_table[n->op].min_inputs || n->n_outputs < 1)
        return diag_error(d, "node '%s' (%s) has %d inputs and %d outputs, fewer than the op needs", label, n->op_type,
                          n->n_inputs, n->n_outputs);
    for (int j = 0; j < op_table[n->op].min_inputs; j++)
        if (!n->inputs[j])
            return diag_error(d, "node '%s' (%s) lacks required input %d", label, n->op_type, j);
    if (slot != 0 && !is_elementwise_binary(n))
        return diag_error(d, "node '%s' (%s) takes the chain as input %d; kdc's width shrink needs it as input 0",
                          label, n->op_type, slot);
    for (int j = 0; j < n->n_inputs; j++)
        if (j != slot && n->inputs[j] && !n->inputs[j]->init)
            return diag_error(d,
                              "node '%s' (%s): input %d ('%s') is computed; kdc's width shrink needs it to be an "
                              "initializer (run fold_constants first)",
                              label, n->op_type, j, n->inputs[j]->name);
    for (int k = 1; k < n->n_outputs; k++)
        if (n->outputs[k] && graph_count_uses(p->g, n->outputs[k]) > 0)
            return diag_error(d,
                              "node '%s' (%s): output %d ('%s') is used; kdc's width shrink follows first outputs only",
                              label, n->op_type, k, n->outputs[k]->name);
    if (!n->outputs[0])
        return diag_error(d, "node '%s' (%s) has no first output", label, n->op_type);
    if (is_layer(n))
        return check_layer_weights(n, d);
    if (n->op == OP_BatchNormalization)
        return check_batchnorm_params(n, d);
    return KDC_OK;
}

static Status walk_chain(ShrinkPlan *p, Diag *d)
{
    const Graph *g = p->g;
    p->path = malloc(((size_t)g->n_nodes + 1) * sizeof *p->path);
    p->path_slot = malloc(((size_t)g->n_nodes + 1) * sizeof *p->path_slot);
    p->path_shrinks = calloc((size_t)g->n_nodes + 1, sizeof *p->path_shrinks);
    if (!p->path || !p->path_slot || !p->path_shrinks)
        return diag_error(d, "out of memory");
    for (Value *cur = p->input;;) {
        int uses = graph_count_uses(g, cur), slot = 0;
        if (uses == 1 && value_is_graph_output(g, cur))
            return KDC_OK;
        Node *next = sole_consumer(g, cur, &slot);
        if (uses != 1 || !next)
            return refuse_fork(g, cur, uses, d);
        if (check_path_node(p, next, slot, d))
            return KDC_ERR;
        if (p->n_path == g->n_nodes) /* cannot happen in a topologically sorted graph */
            return diag_error(d, "node '%s' (%s) is part of a cycle", shrink_node_label(next), next->op_type);
        p->path[p->n_path] = next;
        p->path_slot[p->n_path++] = slot;
        cur = next->outputs[0];
    }
}

static int64_t layer_units(const Node *n)
{
    const Tensor *w = n->inputs[1]->init;
    if (n->op == OP_Conv)
        return w->dims[0];
    if (n->op == OP_Gemm)
        return node_attr_int(n, "transB", 0) ? w->dims[0] : w->dims[1];
    return w->dims[1];
}

static Status collect_layers(ShrinkPlan *p, Diag *d)
{
    for (int i = 0; i < p->n_path; i++)
        p->n_layers += is_layer(p->path[i]);
    if (!p->n_layers)
        return diag_error(d,
                          "found no Conv, Gemm or MatMul layer between the graph input and output; nothing to shrink");
    p->layers = calloc((size_t)p->n_layers, sizeof *p->layers);
    if (!p->layers)
        return diag_error(d, "out of memory");
    for (int i = 0, k = 0; i < p->n_path; i++) {
        if (!is_layer(p->path[i]))
            continue;
        p->layers[k].node = p->path[i];
        p->layers[k].units = layer_units(p->path[i]);
        p->layers[k].hidden = k < p->n_layers - 1;
        k++;
    }
    return KDC_OK;
}

static void plan_free(ShrinkPlan *p)
{
    for (int i = 0; p->layers && i < p->n_layers; i++)
        free(p->layers[i].kept);
    free(p->layers);
    free(p->path);
    free(p->path_slot);
    free(p->path_shrinks);
    free(p->cuts);
    free(p->edits);
}

Status pass_shrink_width_report(Graph *g, const StudentOptions *o, WidthReport *report, Diag *d)
{
    ShrinkPlan p = {.g = g, .width = o->width};
    Status st = KDC_ERR;
    if (!(o->width > 0 && o->width <= 1)) {
        diag_error(d, "student width %g is outside (0, 1]", o->width);
        goto fail;
    }
    if (find_data_input(&p, d) || check_branches(&p, d) || walk_chain(&p, d) || collect_layers(&p, d) ||
        shrink_plan_layout(&p, d) || shrink_rank_layers(&p, d))
        goto fail;
    if (shrink_apply(&p, d))
        goto fail;
    if (report)
        shrink_fill_report(&p, report);
    st = KDC_OK;
fail:
    plan_free(&p);
    return st;
}

Status pass_shrink_width(Graph *g, const StudentOptions *o, Diag *d)
{
    return pass_shrink_width_report(g, o, NULL, d);
}
