/* insert_norm.c - pass_insert_batchnorm and pass_batchnorm_identity: normalization for
 * training a student whose teacher arrived without it.
 *
 * Exporters fold BatchNormalization into the Conv before it, so a student sliced from an
 * exported ResNet has none and trains slowly. This pass gives each hidden layer back a
 * BatchNormalization for training: the layer writes a fresh value <y>/pre_norm and the new
 * node <y>/train_norm writes y itself, so every use of y, and every name a recipe may
 * pair, stays as it was. A layer is hidden when another weighted layer (Conv,
 * ConvTranspose, Gemm, MatMul with a constant weight) follows it somewhere downstream:
 * the classifier and any layer that writes an output keep their raw scale.
 *
 * The parameters start as placeholders (scale 1, B 0, mean 0, var 1 - eps: the identity);
 * pass_batchnorm_identity then turns each node into the identity on calibration data:
 * running statistics the measured mean and variance, scale sqrt(var + eps) and B the
 * mean. In inference mode that is the identity exactly (up to rounding); in training mode
 * on batches like the calibration ones, nearly so. The emission folds the nodes back into
 * their layers (passes/fold_norm.c).
 */
#include "passes/passes.h"

#include "ir/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRAIN_NORM_EPSILON 1e-5f
#define TRAIN_NORM_MOMENTUM 0.9f

static bool is_norm(const Node *n)
{
    return n->op == OP_BatchNormalization || n->op == OP_InstanceNormalization || n->op == OP_GroupNormalization ||
           n->op == OP_LayerNormalization;
}

static bool constant_2d(const Value *v)
{
    return v && v->init && v->init->rank == 2;
}

/* A layer with weights of its own: what "hidden" counts downstream. */
static bool is_weighted_layer(const Node *n)
{
    switch (n->op) {
    case OP_Conv:
    case OP_ConvTranspose: return true;
    case OP_Gemm: return n->n_inputs > 1 && n->inputs[1] && n->inputs[1]->init;
    case OP_MatMul: return n->n_inputs > 1 && constant_2d(n->inputs[1]);
    default: return false;
    }
}

/* The constant inputs of n (weights, bias) are its own and no graph inputs, as
 * pass_fold_batchnorm needs to fold the node back: otherwise inserting would leave it in
 * the emitted student. */
static bool weights_private(const Graph *g, const Node *n)
{
    for (int k = 1; k < n->n_inputs; k++) {
        const Value *v = n->inputs[k];
        if (!v || !v->init)
            continue;
        if (graph_count_uses(g, v) != 1 || graph_has_input(g, v))
            return false;
    }
    return true;
}

/* feeds[i]: a weighted layer reads, directly or through other nodes, an output of node i. */
static bool *feeds_a_layer(const Graph *g)
{
    bool *feeds = calloc((size_t)g->n_nodes + 1, sizeof *feeds);
    if (!feeds)
        return NULL;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const Node *n = g->nodes[i];
        if (!is_weighted_layer(n) && !feeds[i])
            continue;
        for (int k = 0; k < n->n_inputs; k++) {
            const Value *v = n->inputs[k];
            if (v && v->producer && v->graph == g)
                feeds[v->producer->index] = true;
        }
    }
    return feeds;
}

/* The only node reading v in g, or NULL when there are none or several. */
static Node *only_reader(const Graph *g, const Value *v)
{
    if (graph_count_uses(g, v) != 1)
        return NULL;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_inputs; k++)
            if (g->nodes[i]->inputs[k] == v)
                return g->nodes[i];
    return NULL; /* the use is a graph output or inside a subgraph */
}

/* The value a normalization would follow for layer n, or NULL: a Conv's output; with
 * dense, a Gemm's [N, C] output, or a MatMul's (its bias Add's when it has one). */
static Value *site_value(const Graph *g, const Node *n, bool dense)
{
    Value *y = n->outputs[0];
    if (!y || y->dtype != DT_FLOAT || !weights_private(g, n))
        return NULL;
    if (n->op == OP_Conv)
        return y->shape.rank >= 3 && y->shape.dims[1].value > 0 ? y : NULL;
    if (!dense || (n->op != OP_Gemm && n->op != OP_MatMul) || !is_weighted_layer(n))
        return NULL;
    if (n->op == OP_MatMul) {
        Node *add = only_reader(g, y);
        if (add && add->op == OP_Add && add->n_inputs == 2 && (add->inputs[0]->init || add->inputs[1]->init)) {
            if (!weights_private(g, add))
                return NULL;
            y = add->outputs[0];
        }
    }
    return y->shape.rank == 2 && y->shape.dims[1].value > 0 ? y : NULL;
}

/* y already normalized, unused, or an output of the graph: leave it alone. */
static bool needs_norm(const Graph *g, const Value *y)
{
    if (!y || graph_has_output(g, y) || graph_count_uses(g, y) == 0)
        return false;
    const Node *reader = only_reader(g, y);
    return !(reader && is_norm(reader));
}

static Value *add_param(Graph *g, const char *base, const char *part, int64_t channels, float fill)
{
    char name[512];
    snprintf(name, sizeof name, "%s/%s", base, part);
    Value *v = graph_new_value(g, name);
    Tensor *t = v ? tensor_new(g->arena, DT_FLOAT, 1, (int64_t[]){channels}) : NULL;
    if (!t || !graph_set_init(g, v, t))
        return NULL;
    for (int64_t c = 0; c < channels; c++)
        ((float *)t->data)[c] = fill;
    return v;
}

/* Moves y's producer onto a fresh <y>/pre_norm and makes a BatchNormalization write y. */
static Status insert_after(Graph *g, const Node *layer, Value *y, NormSite *site, Diag *d)
{
    char base[512], pre[512];
    snprintf(base, sizeof base, "%s/train_norm", y->name);
    snprintf(pre, sizeof pre, "%s/pre_norm", y->name);
    int64_t c = y->shape.dims[1].value;
    Value *x = graph_new_value(g, pre);
    /* var 1 - eps: the placeholder is the identity, so later sites measure what they will see */
    Value *p[4] = {add_param(g, base, "scale", c, 1), add_param(g, base, "B", c, 0),
                   add_param(g, base, "mean", c, 0), add_param(g, base, "var", c, 1 - TRAIN_NORM_EPSILON)};
    Node *bn = graph_add_node(g, "BatchNormalization", "", 5, 1);
    const char *label = node_display_name(layer);
    if (!x || !p[0] || !p[1] || !p[2] || !p[3] || !bn || !(bn->name = arena_strdup(g->arena, base)))
        return diag_error(d, "out of memory");
    Node *producer = y->producer;
    x->kind = TYPE_TENSOR;
    x->dtype = y->dtype;
    x->shape = y->shape;
    node_set_output(producer, y->producer_output, x);
    bn->opset = producer->opset;
    bn->inputs[0] = x;
    for (int i = 0; i < 4; i++)
        bn->inputs[i + 1] = p[i];
    node_set_output(bn, 0, y);
    Attr *eps = node_add_attr(bn, "epsilon", ATTR_FLOAT), *momentum = node_add_attr(bn, "momentum", ATTR_FLOAT);
    if (!eps || !momentum)
        return diag_error(d, "out of memory");
    eps->f = TRAIN_NORM_EPSILON;
    momentum->f = TRAIN_NORM_MOMENTUM;
    op_bind(bn);
    *site = (NormSite){label, x, bn, c};
    return KDC_OK;
}

/* The layers to normalize, as (layer, value) pairs in graph order. */
static int find_sites(const Graph *g, bool dense, const bool *feeds, const Node **layers, Value **ys)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *layer = g->nodes[i];
        Value *y = is_weighted_layer(layer) ? site_value(g, layer, dense) : NULL;
        if (!y || !feeds[y->producer->index] || !needs_norm(g, y))
            continue;
        layers[n] = layer;
        ys[n++] = y;
    }
    return n;
}

Status pass_insert_batchnorm(Graph *g, bool dense, NormInsertReport *report, Diag *d)
{
    Status st = KDC_ERR;
    *report = (NormInsertReport){0};
    graph_index_nodes(g);
    bool *feeds = feeds_a_layer(g);
    const Node **layers = calloc((size_t)g->n_nodes + 1, sizeof *layers);
    Value **ys = calloc((size_t)g->n_nodes + 1, sizeof *ys);
    if (!feeds || !layers || !ys) {
        diag_error(d, "out of memory");
        goto fail;
    }
    int n = find_sites(g, dense, feeds, layers, ys);
    report->sites = arena_alloc(g->arena, (size_t)(n + 1) * sizeof *report->sites);
    if (!report->sites) {
        diag_error(d, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++)
        if (insert_after(g, layers[i], ys[i], &report->sites[i], d))
            goto fail;
    report->n_sites = n;
    st = graph_toposort(g, d);
fail:
    free(feeds);
    free(layers);
    free(ys);
    return st;
}

void pass_batchnorm_identity(const NormInsertReport *report, const double *const *mean, const double *const *var)
{
    for (int i = 0; i < report->n_sites; i++) {
        const NormSite *s = &report->sites[i];
        double eps = node_attr_float(s->bn, "epsilon", TRAIN_NORM_EPSILON);
        float *scale = s->bn->inputs[1]->init->data, *bias = s->bn->inputs[2]->init->data;
        float *run_mean = s->bn->inputs[3]->init->data, *run_var = s->bn->inputs[4]->init->data;
        for (int64_t c = 0; c < s->channels; c++) {
            double v = var[i][c] > 0 ? var[i][c] : 0;
            scale[c] = (float)sqrt(v + eps);
            bias[c] = (float)mean[i][c];
            run_mean[c] = (float)mean[i][c];
            run_var[c] = (float)v;
        }
    }
}

bool pass_is_pre_norm(const Value *v)
{
    static const char suffix[] = "/pre_norm";
    size_t n = v && v->name ? strlen(v->name) : 0;
    if (n <= sizeof suffix - 1 || strcmp(v->name + n - (sizeof suffix - 1), suffix))
        return false;
    const Graph *g = v->graph;
    for (int i = 0; g && i < g->n_nodes; i++) {
        const Node *bn = g->nodes[i];
        if (bn->op != OP_BatchNormalization || bn->n_inputs < 1 || bn->inputs[0] != v || !bn->outputs[0])
            continue;
        const char *y = bn->outputs[0]->name;
        return strlen(y) == n - (sizeof suffix - 1) && !strncmp(y, v->name, strlen(y));
    }
    return false;
}

bool pass_has_normalization(const Graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (is_norm(g->nodes[i]))
            return true;
    return false;
}
