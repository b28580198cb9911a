/* fold_norm.c - pass_fold_batchnorm: folds inference-mode BatchNormalization into the
 * layer in front of it, so an emitted student is as lean as its teacher.
 *
 * y = s * (layer(x) - mean) + B with s = scale / sqrt(var + eps) is the same layer with
 * output channel c's weights times s_c and bias (b_c - mean_c) * s_c + B_c. Owns the
 * matching (which BatchNormalizations fold; the others are counted as kept) and the
 * rewrite, for these layers:
 *
 *   Conv (any group)         W [M, C/group, k...]  channel c owns W[c]
 *   ConvTranspose (group 1)  W [C_in, M, k...]     channel c owns W[:, c]
 *   Gemm                     B [K, N], or [N, K] with transB: channel c owns column c of
 *                            B'; C absent, one value, [N] or [1, N] (a per-row C keeps
 *                            the BN); beta is folded into the new C and set to 1
 *   MatMul [M, K] x W [K, N] column c of W; bias from its Add of a constant [N] / [1, N],
 *                            or from an Add created when it had none
 *
 * The weights must be float32 initializers only this layer reads and that are not graph
 * inputs (a caller could feed those): they are rewritten in place, and so is a bias of
 * one value per channel. A missing bias, or a Gemm C of one value, gets a new initializer
 * (named after the weight: fc.weight -> fc.bias). The layer's last node (its bias Add,
 * the created Add, or the layer itself) takes over the BN's output value, so graph
 * outputs and downstream uses keep their names; that node sits where the BN was or
 * before it, so the order stays topological without a re-sort. The BN's parameters (and
 * a replaced Gemm C) stay behind as unused initializers for pass_eliminate_dead.
 * Arithmetic is in double, stored as float.
 */
#include "passes/passes.h"

#include "ir/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One BatchNormalization and the layer it folds into. */
typedef struct Fold {
    Node *bn;
    Node *layer; /* Conv, ConvTranspose, Gemm or MatMul */
    Node *last;  /* the node whose output the BN reads: the layer, or the MatMul's bias Add */
    Value *weight;
    int64_t outer, channels, inner; /* the weight seen as [outer, channels, inner] */
    Value *bias;                    /* NULL when the layer has none yet */
    int bias_slot;                  /* input of `last` for the bias; -1: a bias Add is created */
    bool bias_scalar;               /* a Gemm C of one value for every column */
    double beta;                    /* Gemm's beta, 1 for the others */
} Fold;

/* ---- matching ---- */

/* Float32 data fixed at compile time: an initializer no caller can override. */
static bool constant_float(const Graph *g, const Value *v)
{
    return v && v->init && v->init->holds == HOLDS_TENSOR && v->init->dtype == DT_FLOAT &&
           (v->init->data || tensor_numel(v->init) == 0) && !graph_has_input(g, v);
}

/* A constant this layer alone reads, so rewriting it changes nothing else. */
static bool owned_float(const Graph *g, const Value *v)
{
    return constant_float(g, v) && graph_count_uses(g, v) == 1;
}

/* [C], [1, C] or (C = 1) a scalar: one value per channel, broadcast along the last axis. */
static bool is_channel_vector(const Tensor *t, int64_t channels)
{
    if (tensor_numel(t) != channels)
        return false;
    return t->rank == 0 ? channels == 1 : t->dims[t->rank - 1] == channels;
}

/* Inference mode, and nothing reads the statistics outputs of training mode. */
static bool bn_is_inference(const Graph *g, const Node *bn)
{
    if (node_attr_int(bn, "training_mode", 0) != 0 || bn->n_inputs < 5 || !bn->outputs[0])
        return false;
    if (bn->opset < 9 && node_attr_int(bn, "spatial", 1) == 0)
        return false;
    for (int k = 1; k < bn->n_outputs; k++)
        if (bn->outputs[k] && graph_count_uses(g, bn->outputs[k]) > 0)
            return false;
    return true;
}

static bool bn_params_fit(const Graph *g, const Node *bn, int64_t channels)
{
    for (int k = 1; k < 5; k++)
        if (!constant_float(g, bn->inputs[k]) || tensor_numel(bn->inputs[k]->init) != channels)
            return false;
    return true;
}

/* The bias at input `slot` of f->last: absent, or owned with one value per channel. */
static bool match_bias(const Graph *g, const Node *n, int slot, Fold *f)
{
    Value *b = slot < n->n_inputs ? n->inputs[slot] : NULL;
    f->bias = b;
    f->bias_slot = slot;
    return !b || (owned_float(g, b) && is_channel_vector(b->init, f->channels));
}

static bool match_conv(const Graph *g, Node *n, Fold *f)
{
    bool transpose = n->op == OP_ConvTranspose;
    Value *w = n->n_inputs > 1 ? n->inputs[1] : NULL;
    if (!owned_float(g, w) || w->init->rank < 3)
        return false;
    if (transpose && node_attr_int(n, "group", 1) != 1)
        return false; /* channel c's weights are spread over the groups' slices */
    const Tensor *t = w->init;
    f->weight = w;
    f->outer = transpose ? t->dims[0] : 1;
    f->channels = t->dims[transpose ? 1 : 0];
    if (f->outer <= 0 || f->channels <= 0)
        return false;
    f->inner = tensor_numel(t) / (f->outer * f->channels);
    return match_bias(g, n, 2, f);
}

static bool match_gemm(const Graph *g, Node *n, Fold *f)
{
    Value *w = n->inputs[1], *c = n->n_inputs > 2 ? n->inputs[2] : NULL;
    if (!owned_float(g, w) || w->init->rank != 2)
        return false;
    bool trans_b = node_attr_int(n, "transB", 0) != 0;
    const int64_t *dims = w->init->dims;
    f->weight = w;
    f->outer = trans_b ? 1 : dims[0];
    f->channels = trans_b ? dims[0] : dims[1];
    f->inner = trans_b ? dims[1] : 1;
    f->beta = node_attr_float(n, "beta", 1.0f);
    if (match_bias(g, n, 2, f))
        return true;
    /* one value broadcast to every element becomes a per-column C */
    f->bias_scalar = owned_float(g, c) && c->init->rank <= 2 && tensor_numel(c->init) == 1;
    return f->bias_scalar;
}

/* A value known to be rank 2, so the BN's channel axis 1 is the MatMul's last axis. */
static bool is_rank2(const Value *v)
{
    return v && v->kind == TYPE_TENSOR && v->shape.rank == 2;
}

/* MatMul(x [M, K], W [K, N]); add is its bias Add, or NULL when a bias Add is to be created. */
static bool match_matmul(const Graph *g, Node *mm, Node *add, Fold *f)
{
    Value *w = mm->inputs[1];
    if (!owned_float(g, w) || w->init->rank != 2 || !(is_rank2(mm->outputs[0]) || is_rank2(mm->inputs[0])))
        return false;
    f->layer = mm;
    f->weight = w;
    f->outer = w->init->dims[0];
    f->channels = w->init->dims[1];
    f->inner = 1;
    if (!add) {
        f->bias_slot = -1;
        return mm->opset >= 7; /* an Add that broadcasts */
    }
    return true;
}

/* Add(MatMul(x, W), bias) in either operand order, the MatMul's output read by it alone. */
static bool match_bias_add(const Graph *g, Node *add, Fold *f)
{
    if (add->n_inputs != 2 || add->opset < 7)
        return false;
    for (int k = 0; k < 2; k++) {
        Value *x = add->inputs[k], *bias = add->inputs[1 - k];
        Node *mm = x ? x->producer : NULL;
        if (!mm || mm->op != OP_MatMul || graph_count_uses(g, x) != 1 || !owned_float(g, bias))
            continue;
        if (match_matmul(g, mm, add, f) && match_bias(g, add, 1 - k, f))
            return true;
    }
    return false;
}

static bool fold_match(const Graph *g, Node *bn, Fold *f)
{
    *f = (Fold){.bn = bn, .beta = 1, .bias_slot = -1};
    Value *x = bn->n_inputs > 0 ? bn->inputs[0] : NULL;
    if (!bn_is_inference(g, bn) || !x || !x->producer || x->producer->graph != g || graph_count_uses(g, x) != 1)
        return false;
    Node *p = x->producer;
    f->layer = f->last = p;
    bool ok = false;
    switch (p->op) {
    case OP_Conv:
    case OP_ConvTranspose: ok = match_conv(g, p, f); break;
    case OP_Gemm: ok = match_gemm(g, p, f); break;
    case OP_MatMul: ok = match_matmul(g, p, NULL, f); break;
    case OP_Add: ok = match_bias_add(g, p, f); break;
    default: break;
    }
    return ok && f->channels > 0 && bn_params_fit(g, bn, f->channels);
}

/* s[c] and the folded bias shift[c]; false when the BN's numbers are not finite
 * (var + eps <= 0 gives NaN): folding would only move the NaN. */
static bool fold_factors(const Fold *f, double *s, double *shift)
{
    const float *scale = f->bn->inputs[1]->init->data, *b = f->bn->inputs[2]->init->data;
    const float *mean = f->bn->inputs[3]->init->data, *var = f->bn->inputs[4]->init->data;
    const float *bias = f->bias ? f->bias->init->data : NULL;
    double eps = node_attr_float(f->bn, "epsilon", 1e-5f);
    for (int64_t c = 0; c < f->channels; c++) {
        double v = (double)var[c] + eps;
        if (!(v > 0))
            return false;
        double old_bias = bias ? bias[f->bias_scalar ? 0 : c] : 0.0;
        s[c] = scale[c] / sqrt(v);
        shift[c] = (f->beta * old_bias - mean[c]) * s[c] + b[c];
        if (!isfinite(s[c]) || !isfinite(shift[c]))
            return false;
    }
    return true;
}

/* ---- rewriting ---- */

/* fc.weight -> fc.bias, else <weight>_bias; graph_new_value makes it unique. */
static Value *new_bias_value(Graph *g, const Value *weight)
{
    size_t len = strlen(weight->name);
    char *name = arena_alloc(g->arena, len + 8);
    if (!name)
        return NULL;
    if (len > 6 && !strcmp(weight->name + len - 6, "weight")) {
        memcpy(name, weight->name, len - 6);
        strcpy(name + len - 6, "bias");
    } else {
        memcpy(name, weight->name, len);
        strcpy(name + len, "_bias");
    }
    return graph_new_value(g, name);
}

static Status out_of_memory(const Fold *f, Diag *d)
{
    return diag_error(d, "node '%s' (BatchNormalization): out of memory while folding it into '%s'", node_display_name(f->bn),
                      node_display_name(f->layer));
}

static Status add_bias_init(Graph *g, const Fold *f, Value **out, Diag *d)
{
    Value *v = new_bias_value(g, f->weight);
    Tensor *t = v ? tensor_new(g->arena, DT_FLOAT, 1, &f->channels) : NULL;
    if (!t || !t->data || !graph_set_init(g, v, t))
        return out_of_memory(f, d);
    *out = v;
    return KDC_OK;
}

/* n's inputs array with room for `count` inputs (the new ones empty). */
static bool grow_inputs(Graph *g, Node *n, int count)
{
    Value **in = arena_alloc(g->arena, (size_t)(count + 1) * sizeof *in);
    if (!in)
        return false;
    memcpy(in, n->inputs, (size_t)n->n_inputs * sizeof *in);
    n->inputs = in;
    n->n_inputs = count;
    return true;
}

/* Add(MatMul output, bias), appended to the node list; its output is set by the caller. */
static Node *new_bias_add(Graph *g, const Fold *f, Value *bias)
{
    const char *label = node_display_name(f->layer);
    char *name = arena_alloc(g->arena, strlen(label) + 10);
    Node *add = name ? graph_add_node(g, "Add", "", 2, 1) : NULL;
    if (!add)
        return NULL;
    strcpy(name, label);
    strcat(name, "_bias_add");
    add->name = name;
    add->opset = f->layer->opset;
    add->inputs[0] = f->layer->outputs[0];
    add->inputs[1] = bias;
    op_bind(add);
    return add;
}

static void scale_weight(const Fold *f, const double *s)
{
    float *w = f->weight->init->data;
    for (int64_t o = 0; o < f->outer; o++)
        for (int64_t c = 0; c < f->channels; c++) {
            float *slice = w + (o * f->channels + c) * f->inner;
            for (int64_t i = 0; i < f->inner; i++)
                slice[i] = (float)(slice[i] * s[c]);
        }
}

static void set_beta_one(Node *gemm)
{
    for (int j = 0; j < gemm->n_attrs; j++)
        if (!strcmp(gemm->attrs[j].name, "beta") && gemm->attrs[j].kind == ATTR_FLOAT)
            gemm->attrs[j].f = 1.0f;
}

/* `last` writes the BN's output value; its own old output is left defined by nothing. */
static void take_bn_output(Node *last, const Node *bn)
{
    Value *old = last->outputs[0];
    node_set_output(last, 0, bn->outputs[0]);
    old->producer = NULL;
    old->in_value_info = false;
}

/* Removes the BN at position pos (drop: all false, room for every node). */
static void remove_bn(Graph *g, Node *bn, int pos, bool *drop)
{
    for (int k = 1; k < bn->n_outputs; k++)
        if (bn->outputs[k])
            bn->outputs[k]->in_value_info = false;
    drop[pos] = true;
    graph_remove_nodes(g, drop);
    drop[pos] = false;
    graph_index_nodes(g);
}

/* Everything that can fail (allocations) comes before the layer or the BN changes. */
static Status fold_apply(Graph *g, const Fold *f, int pos, const double *s, const double *shift, bool *drop, Diag *d)
{
    Value *bias = f->bias;
    Node *add = NULL;
    if ((!bias || f->bias_scalar) && add_bias_init(g, f, &bias, d))
        return KDC_ERR;
    if (f->bias_slot >= f->last->n_inputs && !grow_inputs(g, f->last, f->bias_slot + 1))
        return out_of_memory(f, d);
    if (f->bias_slot < 0 && !(add = new_bias_add(g, f, bias)))
        return out_of_memory(f, d);
    scale_weight(f, s);
    float *b = bias->init->data;
    for (int64_t c = 0; c < f->channels; c++)
        b[c] = (float)shift[c];
    if (f->layer->op == OP_Gemm)
        set_beta_one(f->layer);
    if (!add) {
        f->last->inputs[f->bias_slot] = bias;
        take_bn_output(f->last, f->bn);
        remove_bn(g, f->bn, pos, drop);
        return KDC_OK;
    }
    /* the new Add takes the BN's place in the order; the BN goes to the end and out */
    node_set_output(add, 0, f->bn->outputs[0]);
    g->nodes[g->n_nodes - 1] = f->bn;
    g->nodes[pos] = add;
    remove_bn(g, f->bn, g->n_nodes - 1, drop);
    return KDC_OK;
}

/* Room for s and shift of `channels` channels. */
static bool reserve(double **buf, int64_t *cap, int64_t channels)
{
    if (channels <= *cap)
        return true;
    double *grown = realloc(*buf, (size_t)channels * 2 * sizeof *grown);
    if (!grown)
        return false;
    *buf = grown;
    *cap = channels;
    return true;
}

Status pass_fold_batchnorm(Graph *g, int *folded, int *kept, Diag *d)
{
    Status st = KDC_ERR;
    double *factors = NULL;
    int64_t cap = 0;
    bool *drop = calloc((size_t)g->n_nodes + 2, sizeof *drop); /* one more while an Add is placed */
    *folded = *kept = 0;
    if (!drop) {
        diag_error(d, "out of memory while folding BatchNormalization");
        goto fail;
    }
    graph_index_nodes(g);
    for (int i = 0; i < g->n_nodes;) {
        Node *n = g->nodes[i];
        Fold f;
        if (n->op != OP_BatchNormalization) {
            i++;
            continue;
        }
        bool foldable = fold_match(g, n, &f);
        if (foldable && !reserve(&factors, &cap, f.channels)) {
            diag_error(d, "node '%s' (BatchNormalization): out of memory while folding it", node_display_name(n));
            goto fail;
        }
        if (!foldable || !fold_factors(&f, factors, factors + f.channels)) {
            (*kept)++;
            i++;
            continue;
        }
        /* position i now holds the BN's replacement or its successor: look at it next */
        if (fold_apply(g, &f, i, factors, factors + f.channels, drop, d))
            goto fail;
        (*folded)++;
    }
    st = KDC_OK;
fail:
    free(factors);
    free(drop);
    return st;
}
