/* shrink_depth_find.c - the dataflow analysis behind the depth shrink: which
 * node reads which value, what is live, and the segments of the residual
 * stream (see passes/shrink_depth.h for how they become blocks).
 *
 * Owns the post-dominator walk. Values are vertices, a node links each value
 * it reads to each value it writes, graph outputs link to a virtual sink.
 * Only "dynamic" values take part: those computed from a graph input other
 * than through Shape/Size (which read shapes, not data). The immediate
 * post-dominator ipdom(x) is the first value every path from x to the sink
 * passes through, so nothing computed between x and ipdom(x) is used after
 * ipdom(x): removing the region replaces ipdom(x) by x. Following ipdom from
 * each graph input gives the segments; a region's nodes are those on full-edge
 * paths from x to y (Shape reads included, so shape arithmetic goes with its
 * block). Where chains from several inputs overlap (an attention mask feeding
 * every layer makes one huge segment), the smaller segments win.
 */
#include "passes/shrink_depth_internal.h"

#include <stdlib.h>
#include <string.h>

#define NONE (-1)

typedef struct IntVec {
    int *v;
    int n, cap;
} IntVec;

static bool vec_push(IntVec *x, int value)
{
    if (x->n == x->cap) {
        int cap = x->cap ? 2 * x->cap : 64;
        int *p = realloc(x->v, (size_t)cap * sizeof *p);
        if (!p)
            return false;
        x->v = p;
        x->cap = cap;
    }
    x->v[x->n++] = value;
    return true;
}

bool depth_node_is(const Node *n, const char *op)
{
    bool default_domain = !n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx");
    return default_domain && n->op_type && !strcmp(n->op_type, op);
}

static bool reads_only_shape(const Node *n)
{
    return depth_node_is(n, "Shape") || depth_node_is(n, "Size");
}

/* ---- reads and uses ---- */

static bool push_subgraph_refs(const Graph *g, const Graph *sub, IntVec *out);

static bool push_attr_refs(const Graph *g, const Node *n, IntVec *out)
{
    for (int j = 0; j < n->n_attrs; j++) {
        const Attr *at = &n->attrs[j];
        if (at->kind == ATTR_GRAPH && !push_subgraph_refs(g, at->g, out))
            return false;
        for (int k = 0; at->kind == ATTR_GRAPHS && k < at->n; k++)
            if (!push_subgraph_refs(g, at->graphs[k], out))
                return false;
    }
    return true;
}

/* Values of g that a subgraph (at any depth) reads by name count as reads of
 * the node holding it: removing their producer would break the subgraph. */
static bool push_subgraph_refs(const Graph *g, const Graph *sub, IntVec *out)
{
    for (int i = 0; i < sub->n_nodes; i++) {
        const Node *n = sub->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] && n->inputs[j]->graph == g && !vec_push(out, n->inputs[j]->id))
                return false;
        if (!push_attr_refs(g, n, out))
            return false;
    }
    for (int i = 0; i < sub->n_outputs; i++)
        if (sub->outputs[i] && sub->outputs[i]->graph == g && !vec_push(out, sub->outputs[i]->id))
            return false;
    return true;
}

static bool build_reads(DepthAnalysis *a)
{
    IntVec r = {0};
    a->read_start = malloc(((size_t)a->nn + 1) * sizeof *a->read_start);
    if (!a->read_start || !vec_push(&r, 0)) /* never empty, so reads is never NULL */
        goto fail;
    r.n = 0;
    for (int i = 0; i < a->nn; i++) {
        const Node *n = a->g->nodes[i];
        a->read_start[i] = r.n;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] && n->inputs[j]->graph == a->g && !vec_push(&r, n->inputs[j]->id))
                goto fail;
        if (!push_attr_refs(a->g, n, &r))
            goto fail;
    }
    a->read_start[a->nn] = r.n;
    a->reads = r.v;
    return true;
fail:
    free(r.v);
    return false;
}

static bool build_uses(DepthAnalysis *a)
{
    int *cursor = calloc((size_t)a->nv + 1, sizeof *cursor);
    a->use_start = calloc((size_t)a->nv + 1, sizeof *a->use_start);
    a->uses = malloc(((size_t)a->read_start[a->nn] + 1) * sizeof *a->uses);
    if (!cursor || !a->use_start || !a->uses) {
        free(cursor);
        return false;
    }
    for (int k = 0; k < a->read_start[a->nn]; k++)
        a->use_start[a->reads[k] + 1]++;
    for (int v = 0; v < a->nv; v++)
        a->use_start[v + 1] += a->use_start[v];
    for (int i = 0; i < a->nn; i++)
        for (int k = a->read_start[i]; k < a->read_start[i + 1]; k++) {
            int v = a->reads[k];
            a->uses[a->use_start[v] + cursor[v]++] = i;
        }
    free(cursor);
    return true;
}

/* ---- dynamic values, liveness, post-dominators ---- */

static void mark_dynamic(const DepthAnalysis *a, bool *dyn)
{
    const Graph *g = a->g;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i]->graph == g && !g->inputs[i]->init)
            dyn[g->inputs[i]->id] = true;
    for (int i = 0; i < a->nn; i++) {
        const Node *n = g->nodes[i];
        bool any = false;
        for (int k = a->read_start[i]; k < a->read_start[i + 1] && !reads_only_shape(n); k++)
            any = any || dyn[a->reads[k]];
        for (int j = 0; j < n->n_outputs && any; j++)
            if (n->outputs[j] && n->outputs[j]->graph == g)
                dyn[n->outputs[j]->id] = true;
    }
}

static void mark_live(DepthAnalysis *a, bool *value_live)
{
    const Graph *g = a->g;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] && g->outputs[i]->graph == g)
            value_live[g->outputs[i]->id] = a->is_output[g->outputs[i]->id] = true;
    for (int i = a->nn - 1; i >= 0; i--) {
        const Node *n = g->nodes[i];
        for (int j = 0; j < n->n_outputs; j++)
            a->live[i] = a->live[i] || (n->outputs[j] && n->outputs[j]->graph == g && value_live[n->outputs[j]->id]);
        for (int k = a->read_start[i]; k < a->read_start[i + 1] && a->live[i]; k++)
            value_live[a->reads[k]] = true;
    }
}

static int lca(const int *ipdom, const int *depth, int u, int w)
{
    while (u != w) {
        while (depth[u] > depth[w])
            u = ipdom[u];
        while (depth[w] > depth[u])
            w = ipdom[w];
        if (u != w) {
            u = ipdom[u];
            w = ipdom[w];
        }
    }
    return u;
}

/* Successors of v are the outputs of the nodes that read v (Shape/Size
 * excepted), and the sink when v is a graph output. They are all done:
 * values are visited in reverse topological order. */
static void post_dominate(const DepthAnalysis *a, int v, int *ipdom, int *depth)
{
    int acc = a->is_output[v] ? a->nv : NONE;
    for (int k = a->use_start[v]; k < a->use_start[v + 1]; k++) {
        const Node *c = a->g->nodes[a->uses[k]];
        for (int j = 0; j < c->n_outputs && !reads_only_shape(c); j++) {
            const Value *o = c->outputs[j];
            if (!o || o->graph != a->g || ipdom[o->id] == NONE)
                continue;
            acc = acc == NONE ? o->id : lca(ipdom, depth, acc, o->id);
        }
    }
    ipdom[v] = acc;
    depth[v] = acc == NONE ? 0 : depth[acc] + 1;
}

static void compute_ipdom(const DepthAnalysis *a, const bool *dyn, int *ipdom, int *depth)
{
    const Graph *g = a->g;
    for (int v = 0; v < a->nv; v++)
        ipdom[v] = NONE;
    ipdom[a->nv] = a->nv;
    depth[a->nv] = 0;
    for (int i = a->nn - 1; i >= 0; i--) {
        const Node *n = g->nodes[i];
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] && n->outputs[j]->graph == g && dyn[n->outputs[j]->id])
                post_dominate(a, n->outputs[j]->id, ipdom, depth);
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i]->graph == g && dyn[g->inputs[i]->id])
            post_dominate(a, g->inputs[i]->id, ipdom, depth);
}

/* ---- segments ---- */

/* Stamps (the segment number) mark what the current region walk has seen,
 * so nothing needs clearing between segments. */
typedef struct Marks {
    int *vf, *vb; /* values reached forward from x / backward from y */
    int *nf, *nr; /* nodes reached forward / in the region */
} Marks;

static bool node_reads_marked(const DepthAnalysis *a, int i, const int *mark, int stamp)
{
    for (int k = a->read_start[i]; k < a->read_start[i + 1]; k++)
        if (mark[a->reads[k]] == stamp)
            return true;
    return false;
}

static bool node_writes_marked(const Node *n, const int *mark, int stamp)
{
    for (int j = 0; j < n->n_outputs; j++)
        if (n->outputs[j] && n->outputs[j]->graph == n->graph && mark[n->outputs[j]->id] == stamp)
            return true;
    return false;
}

static void mark_outputs(const Node *n, int *mark, int stamp)
{
    for (int j = 0; j < n->n_outputs; j++)
        if (n->outputs[j] && n->outputs[j]->graph == n->graph)
            mark[n->outputs[j]->id] = stamp;
}

/* The nodes on paths from x to y, ascending: reached forward from x, and
 * reaching y backward. */
static bool segment_region(const DepthAnalysis *a, DepthSegment *s, int stamp, Marks *m)
{
    int x = s->entry->id, hi = s->exit->producer->index, lo = hi;
    for (int k = a->use_start[x]; k < a->use_start[x + 1]; k++)
        lo = a->uses[k] < lo ? a->uses[k] : lo;
    m->vf[x] = stamp;
    for (int i = lo; i <= hi; i++)
        if (node_reads_marked(a, i, m->vf, stamp)) {
            m->nf[i] = stamp;
            mark_outputs(a->g->nodes[i], m->vf, stamp);
        }
    m->vb[s->exit->id] = stamp;
    for (int i = hi; i >= lo; i--) {
        if (m->nf[i] != stamp || !node_writes_marked(a->g->nodes[i], m->vb, stamp))
            continue;
        m->nr[i] = stamp;
        s->n_nodes++;
        for (int k = a->read_start[i]; k < a->read_start[i + 1]; k++)
            m->vb[a->reads[k]] = stamp;
    }
    s->nodes = malloc(((size_t)s->n_nodes + 1) * sizeof *s->nodes);
    if (!s->nodes)
        return false;
    for (int i = lo, k = 0; i <= hi; i++)
        if (m->nr[i] == stamp)
            s->nodes[k++] = i;
    return true;
}

static bool shapes_equal(const Value *x, const Value *y)
{
    if (x->kind != TYPE_TENSOR || y->kind != TYPE_TENSOR || x->dtype != y->dtype || x->shape.rank < 0 ||
        x->shape.rank != y->shape.rank)
        return false;
    for (int i = 0; i < x->shape.rank; i++) {
        const Dim *p = &x->shape.dims[i], *q = &y->shape.dims[i];
        bool same = p->value >= 0 ? p->value == q->value : p->param && q->param && !strcmp(p->param, q->param);
        if (!same)
            return false;
    }
    return true;
}

/* Ops that may follow a layer or a residual addition without making it a
 * different layer: activations, normalizations (and the pieces PyTorch
 * decomposes LayerNormalization into before opset 17), bias arithmetic. */
static bool follower_op(const Node *n)
{
    static const char ops[] = " Relu LeakyRelu PRelu Elu Selu Celu Sigmoid HardSigmoid HardSwish Tanh Softplus "
                              "Softsign Gelu Mish Clip Erf Identity Dropout BatchNormalization LayerNormalization "
                              "InstanceNormalization GroupNormalization ReduceMean Add Sub Mul Div Pow Sqrt "
                              "Reciprocal Neg ";
    char key[64];
    int len = snprintf(key, sizeof key, " %s ", n->op_type ? n->op_type : "");
    return len > 0 && (size_t)len < sizeof key && strstr(ops, key) && depth_node_is(n, n->op_type);
}

static bool residual_input(const DepthSegment *s, const Value *u, const Marks *m, int stamp)
{
    return u && (u == s->entry || (u->producer && u->graph == s->exit->graph && m->nr[u->producer->index] == stamp));
}

/* Length of the common module path of two "a/b/c" prefixes, cut at a '/'. */
static size_t common_dir(const char *p, size_t lp, const char *q, size_t lq)
{
    size_t i = 0, cut = 0;
    for (; i < lp && i < lq && p[i] == q[i]; i++)
        if (p[i] == '/')
            cut = i;
    if ((i == lp || p[i] == '/') && (i == lq || q[i] == '/'))
        cut = i;
    return cut;
}

static void segment_scope(const Graph *g, DepthSegment *s)
{
    s->scope = NULL;
    s->scope_len = 0;
    for (int k = 0; k < s->n_nodes; k++) {
        const char *name = g->nodes[s->nodes[k]]->name;
        const char *slash = name ? strrchr(name, '/') : NULL;
        if (!slash)
            continue;
        size_t len = (size_t)(slash - name);
        s->scope_len = s->scope ? common_dir(s->scope, s->scope_len, name, len) : len;
        s->scope = s->scope ? s->scope : name;
    }
    bool named = false; /* the top-level scope ("/Add") says nothing */
    for (size_t i = 0; s->scope && i < s->scope_len; i++)
        named = named || s->scope[i] != '/';
    if (!named)
        s->scope = NULL;
}

static void classify_segment(const DepthAnalysis *a, DepthSegment *s, const Marks *m, int stamp)
{
    const Node *y = s->exit->producer;
    int from_x = 0;
    for (int j = 0; (depth_node_is(y, "Add") || depth_node_is(y, "Sum")) && j < y->n_inputs; j++)
        from_x += residual_input(s, y->inputs[j], m, stamp);
    s->residual = from_x >= 2;
    const Node *first = a->g->nodes[s->nodes[0]];
    s->plain_head = s->n_nodes == 1 &&
                    (depth_node_is(first, "Conv") || depth_node_is(first, "Gemm") || depth_node_is(first, "MatMul"));
    s->follower = shapes_equal(s->entry, s->exit);
    for (int k = 0; k < s->n_nodes && s->follower; k++)
        s->follower = follower_op(a->g->nodes[s->nodes[k]]);
    segment_scope(a->g, s);
}

/* Entries of the chains followed from every dynamic graph input; chains that
 * meet stop at the first value already seen. */
static bool collect_entries(const DepthAnalysis *a, const bool *dyn, const int *ipdom, IntVec *entries)
{
    bool ok = true, *seen = calloc((size_t)a->nv + 1, sizeof *seen);
    for (int i = 0; ok && seen && i < a->g->n_inputs; i++) {
        const Value *s = a->g->inputs[i];
        if (s->graph != a->g || !dyn[s->id])
            continue;
        for (int v = s->id; ok && ipdom[v] != NONE && ipdom[v] != a->nv && !seen[v]; v = ipdom[v]) {
            seen[v] = true;
            ok = vec_push(entries, v);
        }
    }
    ok = ok && seen;
    free(seen);
    return ok;
}

static bool build_segments(DepthAnalysis *a, const IntVec *entries, const int *ipdom, Marks *m)
{
    a->segs = calloc((size_t)entries->n + 1, sizeof *a->segs);
    if (!a->segs)
        return false;
    for (int k = 0; k < entries->n; k++) {
        DepthSegment *s = &a->segs[a->n_segs++];
        s->entry = a->g->values[entries->v[k]];
        s->exit = a->g->values[ipdom[entries->v[k]]];
        if (!segment_region(a, s, k + 1, m))
            return false;
        classify_segment(a, s, m, k + 1);
    }
    return true;
}

/* Graph order of the exits; segments that end at the same value (chains
 * meeting there) by entry, so the order never depends on qsort. */
static int by_exit(const void *p, const void *q)
{
    const DepthSegment *s = p, *t = q;
    int i = s->exit->producer->index, j = t->exit->producer->index;
    if (i != j)
        return i < j ? -1 : 1;
    if (s->exit != t->exit)
        return s->exit->id < t->exit->id ? -1 : 1;
    return s->entry->id - t->entry->id;
}

static int by_size(const void *p, const void *q)
{
    const DepthSegment *s = p, *t = q;
    if (s->n_nodes != t->n_nodes)
        return s->n_nodes < t->n_nodes ? -1 : 1;
    return by_exit(p, q);
}

/* Keeps, of segments that share nodes, the smallest; then sorts by exit and
 * links each segment to the one that starts where it ends. */
static bool settle_segments(DepthAnalysis *a)
{
    int *owner = calloc((size_t)a->nn + 1, sizeof *owner), *starts = malloc(((size_t)a->nv + 1) * sizeof *starts);
    bool ok = owner && starts;
    int kept = 0;
    qsort(a->segs, (size_t)a->n_segs, sizeof *a->segs, by_size);
    for (int k = 0; ok && k < a->n_segs; k++) {
        DepthSegment *s = &a->segs[k];
        bool free_nodes = true;
        for (int j = 0; j < s->n_nodes && free_nodes; j++)
            free_nodes = !owner[s->nodes[j]];
        for (int j = 0; j < s->n_nodes && free_nodes; j++)
            owner[s->nodes[j]] = 1;
        if (free_nodes)
            a->segs[kept++] = *s;
        else
            free(s->nodes);
    }
    a->n_segs = ok ? kept : a->n_segs;
    qsort(a->segs, (size_t)a->n_segs, sizeof *a->segs, by_exit);
    for (int v = 0; ok && v < a->nv; v++)
        starts[v] = NONE;
    for (int k = 0; ok && k < a->n_segs; k++)
        starts[a->segs[k].entry->id] = k;
    for (int k = 0; ok && k < a->n_segs; k++)
        a->segs[k].next = starts[a->segs[k].exit->id];
    free(owner);
    free(starts);
    return ok;
}

static bool find_segments(DepthAnalysis *a)
{
    size_t nv1 = (size_t)a->nv + 1, nn1 = (size_t)a->nn + 1;
    bool ok = false, *dyn = calloc(nv1, sizeof *dyn), *value_live = calloc(nv1, sizeof *value_live);
    int *ipdom = malloc(nv1 * sizeof *ipdom), *depth = malloc(nv1 * sizeof *depth);
    Marks m = {calloc(nv1, sizeof(int)), calloc(nv1, sizeof(int)), calloc(nn1, sizeof(int)), calloc(nn1, sizeof(int))};
    IntVec entries = {0};
    if (!dyn || !value_live || !ipdom || !depth || !m.vf || !m.vb || !m.nf || !m.nr)
        goto fail;
    mark_dynamic(a, dyn);
    mark_live(a, value_live);
    compute_ipdom(a, dyn, ipdom, depth);
    ok = collect_entries(a, dyn, ipdom, &entries) && build_segments(a, &entries, ipdom, &m) && settle_segments(a);
fail:
    free(dyn);
    free(value_live);
    free(ipdom);
    free(depth);
    free(m.vf);
    free(m.vb);
    free(m.nf);
    free(m.nr);
    free(entries.v);
    return ok;
}

Status depth_analysis_build(Graph *g, DepthAnalysis *a, Diag *d)
{
    memset(a, 0, sizeof *a);
    graph_index_nodes(g);
    a->g = g;
    a->nv = g->n_values;
    a->nn = g->n_nodes;
    a->is_output = calloc((size_t)a->nv + 1, sizeof *a->is_output);
    a->live = calloc((size_t)a->nn + 1, sizeof *a->live);
    if (!a->is_output || !a->live || !build_reads(a) || !build_uses(a) || !find_segments(a)) {
        depth_analysis_free(a);
        return diag_error(d, "out of memory while looking for removable blocks");
    }
    return KDC_OK;
}

void depth_analysis_free(DepthAnalysis *a)
{
    for (int k = 0; k < a->n_segs; k++)
        free(a->segs[k].nodes);
    free(a->segs);
    free(a->read_start);
    free(a->reads);
    free(a->use_start);
    free(a->uses);
    free(a->is_output);
    free(a->live);
    memset(a, 0, sizeof *a);
}
