/* passes/reinit.c - pass_reinit_weights: keep the student's architecture, forget the
 * teacher's weights.
 *
 * The baseline that shows what slicing the teacher is worth: the same layers, drawn
 * afresh as PyTorch initialises a new layer. Exactly these float32 initializers change,
 * in the graph and in every subgraph (If/Loop/Scan bodies):
 *
 *   Conv, ConvTranspose   W (input 1)  U(-b, b), b = 1/sqrt(fan_in), fan_in = numel(W) / W.dims[0]
 *                         B (input 2)  0
 *   Gemm                  B (input 1)  U(-b, b), fan_in = B's contracted dim (dims[1] if transB, else dims[0])
 *                         A (input 0)  the same when A is the constant (dims[0] if transA, else dims[1])
 *                         C (input 2)  0
 *   MatMul                a constant operand: U(-b, b), fan_in = its contracted dim
 *                         (A: its last dim; B: dims[rank-2], or dims[0] when 1-D)
 *                         the bias of an Add that alone reads the MatMul's output, when that bias
 *                         is a constant of shape [N] or [1, ..., N] (N the output's last dim, from
 *                         shape inference or a constant B): 0
 *   BatchNormalization    scale 1, B 0, input_mean 0, input_var 1
 *   InstanceNormalization, LayerNormalization, GroupNormalization: scale 1, bias 0
 *
 * b = 1/sqrt(fan_in) is PyTorch's default, kaiming_uniform_(a = sqrt(5)), with fan_in counted
 * as PyTorch counts it (for ConvTranspose, too, numel / dims[0]). Biases start at zero rather
 * than PyTorch's uniform draw. Everything else keeps the teacher's values: integer tensors
 * (shape constants, indices), float constants of other ops (PReLU slopes, Add/Mul constants
 * not behind a MatMul), and weights that are not initializers (computed, or graph inputs
 * without data).
 *
 * Each tensor's numbers come from its own stream, seeded by the seed and the tensor's name,
 * so they do not depend on the order of the nodes. An initializer of another dtype in one
 * of these places is an error, found before anything changes.
 */
#include "passes/passes.h"

#include "ir/ops.h"

#include <math.h>
#include <stdlib.h>

typedef enum { FILL_UNIFORM, FILL_ZERO, FILL_ONE } FillKind;

/* One initializer to overwrite, and how. */
typedef struct Target {
    Value *value;
    FillKind fill;
    double bound; /* FILL_UNIFORM: draws lie in [-bound, bound] */
} Target;

typedef struct TargetList {
    Target *items;
    int n, cap;
} TargetList;

/* ---- collecting the targets ---- */

static bool listed(const TargetList *l, const Value *v)
{
    for (int i = 0; i < l->n; i++)
        if (l->items[i].value == v)
            return true;
    return false;
}

/* Adds input k of n unless it is absent, not an initializer, or already listed (a tensor
 * shared by several layers is drawn once, by its first user). */
static Status add_target(TargetList *l, const Node *n, int k, FillKind fill, int64_t fan_in, Diag *d)
{
    Value *v = k < n->n_inputs ? n->inputs[k] : NULL;
    if (!v || !v->init || listed(l, v))
        return KDC_OK;
    if (v->init->dtype != DT_FLOAT)
        return diag_error(d, "node '%s' (%s): '%s' is %s; random initialisation handles float32 weights only",
                          node_display_name(n), n->op_type, v->name, dtype_name(v->init->dtype));
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        Target *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown)
            return diag_error(d, "out of memory while listing the weights to re-initialise");
        l->items = grown;
        l->cap = cap;
    }
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0;
    l->items[l->n++] = (Target){v, fill, bound};
    return KDC_OK;
}

/* The rank a weight input must have for its fan-in to mean something. */
static Status check_rank(const Node *n, int k, int min_rank, int max_rank, Diag *d)
{
    const Value *v = k < n->n_inputs ? n->inputs[k] : NULL;
    if (!v || !v->init)
        return KDC_OK;
    int r = v->init->rank;
    if (r >= min_rank && r <= max_rank)
        return KDC_OK;
    return diag_error(d, "node '%s' (%s): weight '%s' has rank %d, expected %d..%d", node_display_name(n), n->op_type, v->name,
                      r, min_rank, max_rank);
}

static const Tensor *input_init(const Node *n, int k)
{
    return k < n->n_inputs && n->inputs[k] ? n->inputs[k]->init : NULL;
}

static Status collect_conv(TargetList *l, const Node *n, Diag *d)
{
    const Tensor *w = input_init(n, 1);
    if (check_rank(n, 1, 1, IR_MAX_RANK, d))
        return KDC_ERR;
    int64_t fan_in = w && w->dims[0] > 0 ? tensor_numel(w) / w->dims[0] : 0;
    return add_target(l, n, 1, FILL_UNIFORM, fan_in, d) || add_target(l, n, 2, FILL_ZERO, 0, d) ? KDC_ERR : KDC_OK;
}

static Status collect_gemm(TargetList *l, const Node *n, Diag *d)
{
    const Tensor *a = input_init(n, 0), *b = input_init(n, 1);
    if (check_rank(n, 0, 2, 2, d) || check_rank(n, 1, 2, 2, d))
        return KDC_ERR;
    int64_t fan_a = a ? a->dims[node_attr_int(n, "transA", 0) ? 0 : 1] : 0;
    int64_t fan_b = b ? b->dims[node_attr_int(n, "transB", 0) ? 1 : 0] : 0;
    return add_target(l, n, 0, FILL_UNIFORM, fan_a, d) || add_target(l, n, 1, FILL_UNIFORM, fan_b, d) ||
                   add_target(l, n, 2, FILL_ZERO, 0, d)
               ? KDC_ERR
               : KDC_OK;
}

static Status collect_matmul(TargetList *l, const Node *n, Diag *d)
{
    const Tensor *a = input_init(n, 0), *b = input_init(n, 1);
    if (check_rank(n, 0, 1, IR_MAX_RANK, d) || check_rank(n, 1, 1, IR_MAX_RANK, d))
        return KDC_ERR;
    int64_t fan_a = a ? a->dims[a->rank - 1] : 0;
    int64_t fan_b = b ? b->dims[b->rank >= 2 ? b->rank - 2 : 0] : 0;
    return add_target(l, n, 0, FILL_UNIFORM, fan_a, d) || add_target(l, n, 1, FILL_UNIFORM, fan_b, d) ? KDC_ERR
                                                                                                      : KDC_OK;
}

/* Fills each listed input of n with the matching entry of fills (-1: leave it). */
static Status collect_norm(TargetList *l, const Node *n, const int *fills, int n_fills, Diag *d)
{
    for (int k = 0; k < n_fills; k++)
        if (fills[k] >= 0 && add_target(l, n, k, (FillKind)fills[k], 0, d))
            return KDC_ERR;
    return KDC_OK;
}

/* [N] or [1, ..., 1, N]: one value per output unit, as exporters write a Linear's bias. */
static bool is_bias_of(const Tensor *t, int64_t units)
{
    if (t->rank < 1 || t->dims[t->rank - 1] != units)
        return false;
    for (int i = 0; i < t->rank - 1; i++)
        if (t->dims[i] != 1)
            return false;
    return true;
}

/* The last dim of a MatMul's output: from shape inference, else from a constant 2-D+ B;
 * -1 when neither tells. */
static int64_t matmul_units(const Node *mm)
{
    const Value *y = mm->outputs[0];
    if (y && y->shape.rank > 0 && y->shape.dims[y->shape.rank - 1].value >= 0)
        return y->shape.dims[y->shape.rank - 1].value;
    const Tensor *b = input_init(mm, 1);
    return b && b->rank >= 2 ? b->dims[b->rank - 1] : -1;
}

/* The bias of a MatMul layer is the constant of the Add that alone reads its output; a
 * MatMul of two activations (attention scores) is no layer, so its Add is left alone. */
static Status collect_matmul_bias(TargetList *l, const Graph *g, const Node *add, Diag *d)
{
    for (int k = 0; k < 2 && k < add->n_inputs; k++) {
        const Value *x = add->inputs[k], *bias = add->inputs[1 - k];
        const Node *mm = x ? x->producer : NULL;
        if (!mm || mm->op != OP_MatMul || !bias || !bias->init || bias->init->dtype != DT_FLOAT)
            continue;
        if (!input_init(mm, 0) && !input_init(mm, 1))
            continue;
        if (is_bias_of(bias->init, matmul_units(mm)) && graph_count_uses(g, x) == 1)
            return add_target(l, add, 1 - k, FILL_ZERO, 0, d);
    }
    return KDC_OK;
}

static const int BN_FILLS[] = {-1, FILL_ONE, FILL_ZERO, FILL_ZERO, FILL_ONE};
static const int SCALE_BIAS_FILLS[] = {-1, FILL_ONE, FILL_ZERO};

static Status collect_node(TargetList *l, const Graph *g, const Node *n, Diag *d)
{
    switch (n->op) {
    case OP_Conv:
    case OP_ConvTranspose: return collect_conv(l, n, d);
    case OP_Gemm: return collect_gemm(l, n, d);
    case OP_MatMul: return collect_matmul(l, n, d);
    case OP_Add: return collect_matmul_bias(l, g, n, d);
    case OP_BatchNormalization: return collect_norm(l, n, BN_FILLS, 5, d);
    case OP_InstanceNormalization:
    case OP_LayerNormalization:
    case OP_GroupNormalization: return collect_norm(l, n, SCALE_BIAS_FILLS, 3, d);
    default: return KDC_OK;
    }
}

static Status collect_graph(TargetList *l, const Graph *g, Diag *d);

static Status collect_subgraphs(TargetList *l, const Node *n, Diag *d)
{
    for (int a = 0; a < n->n_attrs; a++) {
        const Attr *at = &n->attrs[a];
        if (at->kind == ATTR_GRAPH && at->g && collect_graph(l, at->g, d))
            return KDC_ERR;
        for (int i = 0; at->kind == ATTR_GRAPHS && i < at->n; i++)
            if (at->graphs[i] && collect_graph(l, at->graphs[i], d))
                return KDC_ERR;
    }
    return KDC_OK;
}

static Status collect_graph(TargetList *l, const Graph *g, Diag *d)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (collect_node(l, g, g->nodes[i], d) || collect_subgraphs(l, g->nodes[i], d))
            return KDC_ERR;
    return KDC_OK;
}

/* ---- drawing ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* FNV-1a: ties a tensor's stream to its name, not to where the walk met it. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = UINT64_C(0xCBF29CE484222325);
    for (; s && *s; s++)
        h = (h ^ (uint8_t)*s) * UINT64_C(0x100000001B3);
    return h;
}

void pass_fill_uniform(Tensor *t, const char *name, double bound, uint64_t seed)
{
    float *x = t->data;
    int64_t n = tensor_numel(t);
    uint64_t state = seed ^ name_hash(name);
    splitmix64(&state); /* one step first, so neighbouring seeds do not share a prefix */
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(&state) >> 11) * 0x1.0p-53; /* [0, 1) */
        x[i] = (float)(bound * (2 * u - 1));
    }
}

static void fill_target(const Target *t, uint64_t seed)
{
    float *x = t->value->init->data;
    int64_t n = tensor_numel(t->value->init);
    if (t->fill != FILL_UNIFORM) {
        for (int64_t i = 0; i < n; i++)
            x[i] = t->fill == FILL_ONE ? 1.0f : 0.0f;
        return;
    }
    pass_fill_uniform(t->value->init, t->value->name, t->bound, seed);
}

Status pass_reinit_weights(Graph *g, uint64_t seed, Diag *d)
{
    TargetList l = {0};
    Status st = KDC_ERR;
    if (collect_graph(&l, g, d))
        goto fail;
    for (int i = 0; i < l.n; i++)
        fill_target(&l.items[i], seed);
    st = KDC_OK;
fail:
    free(l.items);
    return st;
}
