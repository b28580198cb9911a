/* fuse_layernorm.c - recognises LayerNormalization that an exporter wrote out
 * as elementwise ops because the model's opset predates it (pass_fuse_layernorm).
 *
 * Owns the pattern and its matcher. Over the trailing axes a.. of x:
 *   mean = ReduceMean(x)            keepdims 1 (axes attribute, or input from opset 18)
 *   dev  = Sub(x, mean)
 *   sq   = Pow(dev, 2) | Mul(dev, dev)
 *   var  = ReduceMean(sq)           the same axes, keepdims 1
 *   ve   = Add(var, eps)            either order; eps a constant scalar
 *   sd   = Sqrt(ve)
 *   norm = Div(dev, sd)
 *  [sc   = Mul(norm, gamma)]        either order; gamma constant, covering the normalized shape
 *  [y    = Add(sc, beta)]           either order; beta constant, gamma's shape
 * Every value but x and the last one is used only by the next op of the
 * pattern (dev by the square and the Div) and is no graph output, so
 * nothing outside sees the rewrite. A match becomes one
 * LayerNormalization(x, gamma or ones, beta) writing the pattern's last
 * value, placed where the pattern's last node was: the order stays
 * topological and whatever reads that value (graph outputs too) is untouched.
 * Only float tensors of known rank are matched, which is what the runtime's
 * LayerNormalization computes. Constants that become unused (eps, the 2) are
 * left for pass_eliminate_dead. Subgraphs are rewritten the same way.
 */
#include "passes/passes.h"

#include "ir/ops.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dev has the most uses of the pattern's values: Mul(dev, dev) and the Div */
enum { MAX_USERS = 3 };

/* Uses of the values of one graph, by value id: count is every read (node
 * input slots, reads from subgraphs, graph outputs); users[id][k] is the
 * node of read k < MAX_USERS, NULL for a read that is not a node of g. */
typedef struct Uses {
    const Graph *g;
    int *count;
    Node *(*users)[MAX_USERS];
} Uses;

typedef struct LnMatch {
    Node *mean, *sub, *square, *var, *add_eps, *sqrt, *div, *mul, *add_bias;
    Value *x, *gamma, *beta, *y;
    int first; /* the first normalized axis (non-negative) */
    double eps;
} LnMatch;

/* ---- use counts ---- */

static void uses_add(Uses *u, const Value *v, Node *user)
{
    if (!v || v->graph != u->g)
        return;
    int k = u->count[v->id]++;
    if (k < MAX_USERS)
        u->users[v->id][k] = user;
}

static void uses_add_subgraph(Uses *u, const Graph *sub);

/* Reads of outer values inside n's subgraphs count as uses by no node of g. */
static void uses_add_subgraphs_of(Uses *u, const Node *n)
{
    for (int j = 0; j < n->n_attrs; j++) {
        const Attr *a = &n->attrs[j];
        if (a->kind == ATTR_GRAPH)
            uses_add_subgraph(u, a->g);
        for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
            uses_add_subgraph(u, a->graphs[k]);
    }
}

static void uses_add_subgraph(Uses *u, const Graph *sub)
{
    for (int i = 0; i < sub->n_nodes; i++) {
        const Node *n = sub->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            uses_add(u, n->inputs[j], NULL);
        uses_add_subgraphs_of(u, n);
    }
    for (int i = 0; i < sub->n_outputs; i++)
        uses_add(u, sub->outputs[i], NULL);
}

static Status uses_build(Graph *g, Uses *u, Diag *d)
{
    u->g = g;
    u->count = calloc((size_t)g->n_values + 1, sizeof *u->count);
    u->users = calloc((size_t)g->n_values + 1, sizeof *u->users);
    if (!u->count || !u->users)
        return diag_error(d, "out of memory while fusing LayerNormalization");
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            uses_add(u, n->inputs[j], n);
        uses_add_subgraphs_of(u, n);
    }
    for (int i = 0; i < g->n_outputs; i++)
        uses_add(u, g->outputs[i], NULL);
    return KDC_OK;
}

static void uses_free(Uses *u)
{
    free(u->count);
    free(u->users);
}

/* The one node reading v, when nothing else (no other node, subgraph or graph output) does. */
static Node *sole_user(const Uses *u, const Value *v)
{
    if (!v || v->graph != u->g || u->count[v->id] != 1)
        return NULL;
    return u->users[v->id][0];
}

/* ---- constants and axes ---- */

/* The data of v when it is an initializer nobody can feed, else NULL. */
static const Tensor *constant(const Value *v)
{
    if (!v || !v->init)
        return NULL;
    for (int i = 0; i < v->graph->n_inputs; i++)
        if (v->graph->inputs[i] == v)
            return NULL;
    return v->init;
}

/* A constant of one element that does not broadcast x to a higher rank. */
static bool scalar_constant(const Value *v, const Value *x, double *out)
{
    const Tensor *t = constant(v);
    if (!t || tensor_numel(t) != 1 || t->rank > x->shape.rank || t->holds != HOLDS_TENSOR)
        return false;
    if (t->dtype != DT_FLOAT && t->dtype != DT_DOUBLE && t->dtype != DT_INT32 && t->dtype != DT_INT64)
        return false;
    *out = tensor_get_double(t, 0);
    return true;
}

/* The operand of binary node n that is not v; false unless exactly one is v. */
static bool other_operand(const Node *n, const Value *v, Value **other)
{
    if (n->n_inputs != 2 || (n->inputs[0] == v) == (n->inputs[1] == v))
        return false;
    *other = n->inputs[0] == v ? n->inputs[1] : n->inputs[0];
    return true;
}

/* ReduceMean's axes (attribute below opset 18, constant input from it); count, or -1. */
static int mean_axes(const Node *n, int64_t *axes)
{
    if (n->opset < 18) {
        int count = 0;
        const int64_t *list = node_attr_ints(n, "axes", &count);
        if (n->n_inputs > 1 || count > IR_MAX_RANK)
            return -1;
        memcpy(axes, list, (size_t)count * sizeof *axes);
        return count;
    }
    const Tensor *t = n->n_inputs > 1 ? constant(n->inputs[1]) : NULL;
    if (!t || (t->dtype != DT_INT64 && t->dtype != DT_INT32) || tensor_numel(t) > IR_MAX_RANK)
        return -1;
    for (int64_t i = 0; i < tensor_numel(t); i++)
        axes[i] = tensor_get_int(t, i);
    return (int)tensor_numel(t);
}

/* A ReduceMean with keepdims over exactly the axes first.. of a rank-r input. */
static bool trailing_mean(const Node *n, int rank, int *first)
{
    int64_t axes[IR_MAX_RANK];
    if (n->op != OP_ReduceMean || n->n_outputs != 1 || node_attr_int(n, "keepdims", 1) != 1)
        return false;
    int count = mean_axes(n, axes);
    if (count <= 0)
        return false; /* no axes: every axis, or none with noop_with_empty_axes; not matched */
    bool seen[IR_MAX_RANK] = {false};
    int lo = rank;
    for (int i = 0; i < count; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a < 0 || a >= rank || seen[a])
            return false;
        seen[a] = true;
        lo = a < lo ? (int)a : lo;
    }
    *first = lo;
    return count == rank - lo; /* distinct axes in [lo, rank): contiguous up to the last */
}

/* A scale or bias LayerNormalization can take: a constant of x's dtype that covers
 * the normalized dims exactly, with 1 on any axis before them. */
static bool affine_param(const Value *p, const Value *x, int first)
{
    const Tensor *t = constant(p);
    int r = x->shape.rank;
    if (!t || t->dtype != x->dtype || t->rank < r - first || t->rank > r)
        return false;
    for (int a = 0; a < t->rank; a++) {
        int xa = a + r - t->rank;
        int64_t want = xa < first ? 1 : x->shape.dims[xa].value;
        if (t->dims[a] != want)
            return false;
    }
    return true;
}

static bool same_dims(const Tensor *a, const Tensor *b)
{
    return a->rank == b->rank && !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]);
}

static bool normalized_dims_known(const Value *x, int first)
{
    for (int a = first; a < x->shape.rank; a++)
        if (x->shape.dims[a].value < 0)
            return false;
    return true;
}

/* ---- matching ---- */

static bool is_square_of(const Node *n, const Value *dev)
{
    double e;
    if (n->op == OP_Mul)
        return n->inputs[0] == dev && n->inputs[1] == dev;
    return n->op == OP_Pow && n->inputs[0] == dev && n->inputs[1] != dev && scalar_constant(n->inputs[1], dev, &e) &&
           e == 2.0;
}

/* dev is read by the square and by Div(dev, .), nothing else. */
static bool match_dev_users(const Uses *u, const Value *dev, LnMatch *m)
{
    int count = dev->graph == u->g ? u->count[dev->id] : 0;
    if (count != 2 && count != 3)
        return false;
    m->square = m->div = NULL;
    for (int k = 0; k < count; k++) {
        Node *n = u->users[dev->id][k];
        if (!n)
            return false;
        Node **slot = n->op == OP_Div ? &m->div : &m->square;
        bool fits = n->op == OP_Div ? n->inputs[0] == dev && n->inputs[1] != dev : is_square_of(n, dev);
        if (!fits || (*slot && *slot != n))
            return false;
        *slot = n;
    }
    return m->square && m->div && count == (m->square->op == OP_Mul ? 3 : 2);
}

/* mean .. Div: the normalization itself. */
static bool match_core(const Uses *u, Node *mean, LnMatch *m)
{
    Value *x = mean->inputs[0], *eps;
    int first2;
    if (!x || x->kind != TYPE_TENSOR || x->dtype != DT_FLOAT || x->shape.rank < 1 ||
        !trailing_mean(mean, x->shape.rank, &m->first))
        return false;
    m->x = x;
    m->mean = mean;
    m->sub = sole_user(u, mean->outputs[0]);
    if (!m->sub || m->sub->op != OP_Sub || m->sub->opset < 7 || m->sub->inputs[0] != x ||
        m->sub->inputs[1] != mean->outputs[0] || !match_dev_users(u, m->sub->outputs[0], m))
        return false;
    m->var = sole_user(u, m->square->outputs[0]);
    if (!m->var || m->var->inputs[0] != m->square->outputs[0] || !trailing_mean(m->var, x->shape.rank, &first2) ||
        first2 != m->first)
        return false;
    m->add_eps = sole_user(u, m->var->outputs[0]);
    if (!m->add_eps || m->add_eps->op != OP_Add || !other_operand(m->add_eps, m->var->outputs[0], &eps) ||
        !scalar_constant(eps, x, &m->eps) || eps->init->dtype != x->dtype)
        return false;
    m->sqrt = sole_user(u, m->add_eps->outputs[0]);
    return m->sqrt && m->sqrt->op == OP_Sqrt && sole_user(u, m->sqrt->outputs[0]) == m->div &&
           m->div->inputs[1] == m->sqrt->outputs[0];
}

/* The optional Mul by gamma and Add of beta after the Div. */
static void match_affine(const Uses *u, LnMatch *m)
{
    Value *y = m->div->outputs[0], *p;
    Node *n = sole_user(u, y);
    if (n && n->op == OP_Mul && other_operand(n, y, &p) && affine_param(p, m->x, m->first)) {
        m->mul = n;
        m->gamma = p;
        y = n->outputs[0];
        n = sole_user(u, y);
    }
    if (n && n->op == OP_Add && other_operand(n, y, &p) && affine_param(p, m->x, m->first) &&
        (!m->gamma || same_dims(constant(p), constant(m->gamma)))) {
        m->add_bias = n;
        m->beta = p;
        y = n->outputs[0];
    }
    m->y = y;
}

static int match_nodes(const LnMatch *m, Node **nodes)
{
    Node *all[] = {m->mean, m->sub, m->square, m->var, m->add_eps, m->sqrt, m->div, m->mul, m->add_bias};
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i])
            nodes[n++] = all[i];
    return n;
}

/* A whole pattern starting at mean. Matches never share a node: every node
 * after the mean reads a value only the pattern reads, and of the two
 * ReduceMeans the second is read by an Add, not a Sub, so it starts none. */
static bool match_at(const Uses *u, Node *mean, bool *claimed, LnMatch *m)
{
    Node *nodes[9];
    memset(m, 0, sizeof *m);
    if (!match_core(u, mean, m))
        return false;
    match_affine(u, m);
    if (!m->gamma && !m->beta && !normalized_dims_known(m->x, m->first))
        return false; /* the scale of ones needs the normalized shape */
    int n = match_nodes(m, nodes);
    for (int i = 0; i < n; i++) {
        assert(!claimed[nodes[i]->index]);
        claimed[nodes[i]->index] = true;
    }
    return true;
}

/* ---- the rewrite ---- */

/* "/enc/ln/Div_3" -> "/enc/ln/LayerNormalization_3", as exporters name the op at
 * opset 17; other names get "_LayerNormalization" (the Div's output's name when
 * the Div has none). */
static const char *fused_name(Graph *g, const Node *div)
{
    char buf[1024];
    const char *base = div->name && *div->name ? div->name : div->outputs[0]->name;
    const char *slash = strrchr(base, '/'), *last = slash ? slash + 1 : base;
    if (!strncmp(last, "Div", 3) && (last[3] == '\0' || last[3] == '_'))
        snprintf(buf, sizeof buf, "%.*sLayerNormalization%s", (int)(last - base), base, last + 3);
    else
        snprintf(buf, sizeof buf, "%s_LayerNormalization", base);
    return arena_strdup(g->arena, buf);
}

/* A scale of ones: beta's shape, or the normalized dims when there is no beta. */
static Value *ones_scale(Graph *g, const LnMatch *m, const char *ln_name)
{
    char prefix[1100];
    int64_t dims[IR_MAX_RANK];
    int rank = m->x->shape.rank - m->first;
    for (int a = 0; a < rank; a++)
        dims[a] = m->x->shape.dims[m->first + a].value;
    const Tensor *like = m->beta ? constant(m->beta) : NULL;
    Tensor *t =
        like ? tensor_new(g->arena, DT_FLOAT, like->rank, like->dims) : tensor_new(g->arena, DT_FLOAT, rank, dims);
    snprintf(prefix, sizeof prefix, "%s.scale", ln_name);
    Value *v = graph_new_value(g, prefix);
    if (!t || !v || !graph_set_init(g, v, t))
        return NULL;
    float *one = t->data;
    for (int64_t i = 0; i < tensor_numel(t); i++)
        one[i] = 1.0f;
    return v;
}

/* Puts ln in the slot of the pattern's last node (ln was appended at the end)
 * and marks the other nodes of the pattern to be removed. */
static void replace_nodes(Graph *g, const LnMatch *m, Node *ln, bool *drop)
{
    Node *nodes[9], *last = m->y->producer;
    int n = match_nodes(m, nodes);
    assert(g->nodes[g->n_nodes - 1] == ln);
    g->n_nodes--;
    g->nodes[last->index] = ln;
    ln->index = last->index;
    node_set_output(ln, 0, m->y);
    for (int i = 0; i < n; i++) {
        if (nodes[i] == last)
            continue;
        drop[nodes[i]->index] = true;
        nodes[i]->outputs[0]->in_value_info = false; /* no longer computed */
    }
}

static Status fuse_one(Graph *g, const LnMatch *m, bool *drop, Diag *d)
{
    const char *name = fused_name(g, m->div);
    Value *scale = m->gamma ? m->gamma : ones_scale(g, m, name);
    if (!scale)
        return diag_error(d, "node '%s': out of memory while fusing LayerNormalization", m->div->name);
    Node *ln = graph_add_node(g, "LayerNormalization", "", m->beta ? 3 : 2, 1);
    ln->name = name;
    ln->opset = m->div->opset > 17 ? m->div->opset : 17; /* where the op exists */
    ln->inputs[0] = m->x;
    ln->inputs[1] = scale;
    if (m->beta)
        ln->inputs[2] = m->beta;
    node_add_attr(ln, "axis", ATTR_INT)->i = m->first - m->x->shape.rank;
    node_add_attr(ln, "epsilon", ATTR_FLOAT)->f = (float)m->eps;
    op_bind(ln);
    replace_nodes(g, m, ln, drop);
    return KDC_OK;
}

static Status fuse_graph(Graph *g, int *fused, Diag *d);

static Status fuse_subgraphs(Graph *g, int *fused, Diag *d)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i]->n_attrs; j++) {
            const Attr *a = &g->nodes[i]->attrs[j];
            if (a->kind == ATTR_GRAPH && fuse_graph(a->g, fused, d))
                return KDC_ERR;
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                if (fuse_graph(a->graphs[k], fused, d))
                    return KDC_ERR;
        }
    return KDC_OK;
}

/* Matches everything first (nothing changes until every pattern is known),
 * then rewrites; node indices stay valid because each rewrite keeps the count. */
static Status fuse_graph(Graph *g, int *fused, Diag *d)
{
    Status st = KDC_ERR;
    Uses u = {0};
    int n_found = 0;
    LnMatch *found = calloc((size_t)g->n_nodes + 1, sizeof *found);
    bool *claimed = calloc((size_t)g->n_nodes + 1, sizeof *claimed);
    bool *drop = calloc((size_t)g->n_nodes + 1, sizeof *drop);
    if (!found || !claimed || !drop) {
        diag_error(d, "out of memory while fusing LayerNormalization");
        goto fail;
    }
    graph_index_nodes(g);
    if (uses_build(g, &u, d))
        goto fail;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == OP_ReduceMean && match_at(&u, g->nodes[i], claimed, &found[n_found]))
            n_found++;
    for (int i = 0; i < n_found; i++)
        if (fuse_one(g, &found[i], drop, d))
            goto fail;
    graph_remove_nodes(g, drop);
    graph_index_nodes(g);
    *fused += n_found;
    st = fuse_subgraphs(g, fused, d);
fail:
    uses_free(&u);
    free(found);
    free(claimed);
    free(drop);
    return st;
}

Status pass_fuse_layernorm(Graph *g, int *fused, Diag *d)
{
    *fused = 0;
    return fuse_graph(g, fused, d);
}
