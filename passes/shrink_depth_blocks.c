/* shrink_depth_blocks.c - from the segments of the residual stream to the
 * blocks users see (depth_blocks_find): grouping segments into residual
 * blocks, transformer layers and plain layers, naming them, counting their
 * parameters, and deciding whether each can be removed (and why not).
 * The rules are documented once, in passes/shrink_depth.h.
 */
#include "passes/shrink_depth_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct Group {
    int first, count; /* segments first, next(first), ... (count of them) */
    int n_residuals;
    bool plain;
    const char *scope; /* NULL: none */
    size_t scope_len;
} Group;

const char *depth_kind_name(DepthKind k)
{
    switch (k) {
    case DEPTH_RESIDUAL: return "residual";
    case DEPTH_LAYER: return "layer";
    case DEPTH_PLAIN: return "plain";
    }
    return "?";
}

const char *depth_shape_text(const Shape *s, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; s->rank < 0 ? i < 1 : i < s->rank; i++) {
        const Dim *dm = &s->dims[i];
        const char *sep = i ? "," : "";
        if (used >= n)
            break;
        if (s->rank >= 0 && dm->value >= 0)
            used += (size_t)snprintf(buf + used, n - used, "%s%lld", sep, (long long)dm->value);
        else
            used += (size_t)snprintf(buf + used, n - used, "%s%s", sep, s->rank >= 0 && dm->param ? dm->param : "?");
    }
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

/* ---- grouping ---- */

/* inner lies in (or is) the module path scope[0..len) */
static bool path_within(const char *inner, size_t inner_len, const char *scope, size_t len)
{
    return inner && scope && inner_len >= len && !memcmp(inner, scope, len) && (inner_len == len || inner[len] == '/');
}

/* Whether segment t continues the residual block of group gr (which then
 * takes t's scope when t's residual encloses it). */
static bool joins_residual_block(const DepthSegment *t, Group *gr)
{
    if (!gr->scope || !t->scope)
        return !t->residual && t->follower;
    if (path_within(t->scope, t->scope_len, gr->scope, gr->scope_len))
        return true;
    if (t->residual && path_within(gr->scope, gr->scope_len, t->scope, t->scope_len)) {
        gr->scope = t->scope;
        gr->scope_len = t->scope_len;
        return true;
    }
    return false;
}

static void grow_group(const DepthAnalysis *a, Group *gr, bool *used)
{
    int last = gr->first;
    used[last] = true;
    for (int k = a->segs[last].next; k >= 0 && !used[k]; k = a->segs[k].next) {
        const DepthSegment *t = &a->segs[k];
        bool joins = gr->plain ? t->follower && !t->residual : joins_residual_block(t, gr);
        if (!joins)
            break;
        used[k] = true;
        gr->count++;
        gr->n_residuals += t->residual;
    }
}

static int form_groups(const DepthAnalysis *a, Group *groups)
{
    int n = 0;
    bool *used = calloc((size_t)a->n_segs + 1, sizeof *used);
    if (!used)
        return -1;
    for (int k = 0; k < a->n_segs; k++) {
        const DepthSegment *s = &a->segs[k];
        if (used[k] || (!s->residual && !s->plain_head))
            continue;
        Group *gr = &groups[n++];
        *gr = (Group){k, 1, s->residual, !s->residual, s->scope, s->scope_len};
        grow_group(a, gr, used);
    }
    free(used);
    return n;
}

/* ---- one block ---- */

static int by_index(const void *p, const void *q)
{
    return (*(Node *const *)p)->index - (*(Node *const *)q)->index;
}

static bool collect_nodes(const DepthAnalysis *a, const Group *gr, DepthBlock *b)
{
    int seg = gr->first;
    for (int c = 0; c < gr->count; c++, seg = a->segs[seg].next)
        b->n_nodes += a->segs[seg].n_nodes;
    b->nodes = arena_alloc(a->g->arena, ((size_t)b->n_nodes + 1) * sizeof *b->nodes);
    if (!b->nodes)
        return false;
    seg = gr->first;
    for (int c = 0, k = 0; c < gr->count; c++, seg = a->segs[seg].next)
        for (int j = 0; j < a->segs[seg].n_nodes; j++)
            b->nodes[k++] = a->g->nodes[a->segs[seg].nodes[j]];
    qsort(b->nodes, (size_t)b->n_nodes, sizeof *b->nodes, by_index);
    return true;
}

static bool float_dtype(DType t)
{
    return t == DT_FLOAT || t == DT_DOUBLE || t == DT_FLOAT16 || t == DT_BFLOAT16;
}

/* Weights reach a node as initializers, Constant nodes, or (PyTorch's
 * shared parameters) Identity nodes over either. */
static int64_t weight_params(const Value *v, int *seen, int stamp)
{
    if (!v || seen[v->id] == stamp)
        return 0;
    seen[v->id] = stamp;
    if (v->init)
        return float_dtype(v->init->dtype) ? tensor_numel(v->init) : 0;
    const Node *p = v->producer;
    if (p && depth_node_is(p, "Identity") && p->n_inputs == 1)
        return weight_params(p->inputs[0], seen, stamp);
    const Attr *t = p && depth_node_is(p, "Constant") ? node_attr(p, "value") : NULL;
    return t && t->kind == ATTR_TENSOR && float_dtype(t->t->dtype) ? tensor_numel(t->t) : 0;
}

static int64_t block_params(const DepthBlock *b, int *seen, int stamp)
{
    int64_t params = 0;
    for (int i = 0; i < b->n_nodes; i++)
        for (int j = 0; j < b->nodes[i]->n_inputs; j++) {
            const Value *v = b->nodes[i]->inputs[j];
            if (v && v->graph == b->nodes[i]->graph)
                params += weight_params(v, seen, stamp);
        }
    return params;
}

static bool dims_known(const Shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i].value < 0 && !s->dims[i].param)
            return false;
    return s->rank >= 0;
}

static bool same_dims(const Shape *s, const Shape *t)
{
    if (s->rank != t->rank)
        return false;
    for (int i = 0; i < s->rank; i++) {
        const Dim *p = &s->dims[i], *q = &t->dims[i];
        if (p->value >= 0 ? p->value != q->value : !q->param || strcmp(p->param, q->param))
            return false;
    }
    return true;
}

static const char *shape_problem(const DepthBlock *b, char *buf, size_t n)
{
    char s[160], t[160];
    depth_shape_text(&b->entry_shape, s, sizeof s);
    depth_shape_text(&b->exit_shape, t, sizeof t);
    if (b->entry->kind != TYPE_TENSOR || b->exit->kind != TYPE_TENSOR || !dims_known(&b->entry_shape) ||
        !dims_known(&b->exit_shape))
        snprintf(buf, n, "has unknown shapes %s -> %s (run shape inference first)", s, t);
    else if (b->entry->dtype != b->exit->dtype)
        snprintf(buf, n, "changes the element type %s -> %s", dtype_name(b->entry->dtype), dtype_name(b->exit->dtype));
    else if (!same_dims(&b->entry_shape, &b->exit_shape))
        snprintf(buf, n, "changes the shape %s -> %s", s, t);
    else
        return NULL;
    return buf;
}

/* A value computed inside and read outside (by a live node: dead readers go
 * with the dead code) would lose its producer. Reads through Shape count. */
static const char *escape_problem(const DepthAnalysis *a, const DepthBlock *b, const int *in_block, int stamp,
                                  char *buf, size_t n)
{
    for (int i = 0; i < b->n_nodes; i++)
        for (int j = 0; j < b->nodes[i]->n_outputs; j++) {
            const Value *o = b->nodes[i]->outputs[j];
            if (!o || o == b->exit || o->graph != a->g)
                continue;
            if (a->is_output[o->id]) {
                snprintf(buf, n, "computes '%s', which is a graph output", o->name);
                return buf;
            }
            for (int k = a->use_start[o->id]; k < a->use_start[o->id + 1]; k++) {
                const Node *u = a->g->nodes[a->uses[k]];
                if (a->live[u->index] && in_block[u->index] != stamp) {
                    const char *who = u->name && *u->name             ? u->name
                                      : u->n_outputs && u->outputs[0] ? u->outputs[0]->name
                                                                      : "";
                    snprintf(buf, n, "computes '%s', which node '%s' outside it also reads", o->name, who);
                    return buf;
                }
            }
        }
    return NULL;
}

static bool fill_block(const DepthAnalysis *a, const Group *gr, DepthBlock *b, int *in_block, int *seen, int stamp)
{
    int last = gr->first;
    for (int c = 1; c < gr->count; c++)
        last = a->segs[last].next;
    b->entry = a->segs[gr->first].entry;
    b->exit = a->segs[last].exit;
    b->entry_shape = b->entry->shape;
    b->exit_shape = b->exit->shape;
    b->dtype = b->entry->dtype;
    b->n_residuals = gr->n_residuals;
    b->kind = gr->plain ? DEPTH_PLAIN : gr->n_residuals >= 2 ? DEPTH_LAYER : DEPTH_RESIDUAL;
    if (!collect_nodes(a, gr, b))
        return false;
    for (int i = 0; i < b->n_nodes; i++)
        in_block[b->nodes[i]->index] = stamp;
    b->params = block_params(b, seen, stamp);
    char buf[512];
    const char *why = shape_problem(b, buf, sizeof buf);
    why = why ? why : escape_problem(a, b, in_block, stamp, buf, sizeof buf);
    b->removable = !why;
    b->why_not = why ? arena_strdup(a->g->arena, why) : NULL;
    return !why || b->why_not;
}

/* ---- names ---- */

typedef struct Span {
    const char *p;
    size_t len;
} Span;

static int path_components(const char *p, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += p[i] != '/' && (i == 0 || p[i - 1] == '/');
    return n;
}

/* The last k components of a module path, without the leading '/'. */
static Span path_suffix(const char *p, size_t len, int k)
{
    size_t start = len;
    for (int seen = 0; start > 0; start--)
        if (p[start - 1] == '/' && p[start] != '/' && ++seen == k)
            break;
    while (start < len && p[start] == '/')
        start++;
    return (Span){p + start, len - start};
}

static Span unscoped_name(const DepthBlock *b)
{
    const Node *first = b->nodes[0];
    const char *name = first->name && *first->name             ? first->name
                       : first->n_outputs && first->outputs[0] ? first->outputs[0]->name
                                                               : "";
    return (Span){name, strlen(name)};
}

/* Block j's name candidate at k components (its whole path when shorter). */
static Span name_at(const DepthBlock *blocks, const Group *groups, int j, int k)
{
    if (!groups[j].scope)
        return unscoped_name(&blocks[j]);
    return path_suffix(groups[j].scope, groups[j].scope_len, k);
}

static bool span_equal(Span s, Span t)
{
    return s.len == t.len && !memcmp(s.p, t.p, s.len);
}

/* The shortest suffix of the block's module path that no other block's
 * path ends with (so "layer1.0" stays short even when other names must grow). */
static Span scoped_name(const DepthBlock *blocks, const Group *groups, int n, int i)
{
    int most = path_components(groups[i].scope, groups[i].scope_len);
    for (int k = 1;; k++) {
        Span mine = name_at(blocks, groups, i, k);
        bool clash = false;
        for (int j = 0; j < n && !clash; j++)
            clash = j != i && span_equal(mine, name_at(blocks, groups, j, k));
        if (!clash || k >= most)
            return mine;
    }
}

static bool name_blocks(Arena *ar, DepthBlock *blocks, const Group *groups, int n)
{
    for (int i = 0; i < n; i++) {
        Span s = groups[i].scope ? scoped_name(blocks, groups, n, i) : unscoped_name(&blocks[i]);
        if (!(blocks[i].name = arena_strndup(ar, s.p, s.len)))
            return false;
    }
    for (int i = 0; i < n; i++) { /* what still clashes is numbered: name#2, name#3 */
        int same = 0;
        for (int j = 0; j < i; j++)
            same += !strcmp(blocks[i].name, blocks[j].name);
        char buf[512];
        if (same && snprintf(buf, sizeof buf, "%s#%d", blocks[i].name, same + 1) > 0 &&
            !(blocks[i].name = arena_strdup(ar, buf)))
            return false;
    }
    return true;
}

/* ---- all blocks ---- */

static int by_first_node(const void *p, const void *q)
{
    const DepthBlock *s = p, *t = q;
    return s->nodes[0]->index - t->nodes[0]->index;
}

static Status make_blocks(const DepthAnalysis *a, DepthBlock **out, int *n_out, Diag *d)
{
    Status st = KDC_ERR;
    Group *groups = malloc(((size_t)a->n_segs + 1) * sizeof *groups);
    int *in_block = calloc((size_t)a->nn + 1, sizeof *in_block), *seen = calloc((size_t)a->nv + 1, sizeof *seen);
    int n = groups ? form_groups(a, groups) : -1;
    DepthBlock *blocks = n >= 0 ? arena_alloc(a->g->arena, ((size_t)n + 1) * sizeof *blocks) : NULL;
    if (!in_block || !seen || !blocks)
        goto fail;
    for (int i = 0; i < n; i++)
        if (!fill_block(a, &groups[i], &blocks[i], in_block, seen, i + 1))
            goto fail;
    if (!name_blocks(a->g->arena, blocks, groups, n))
        goto fail;
    /* groups come in the order of their first segment's exit; users read graph order */
    qsort(blocks, (size_t)n, sizeof *blocks, by_first_node);
    *out = blocks;
    *n_out = n;
    st = KDC_OK;
fail:
    if (st)
        diag_error(d, "out of memory while looking for removable blocks");
    free(groups);
    free(in_block);
    free(seen);
    return st;
}

Status depth_blocks_find(Graph *g, DepthBlock **blocks, int *n, Diag *d)
{
    DepthAnalysis a;
    *blocks = NULL;
    *n = 0;
    if (depth_analysis_build(g, &a, d))
        return KDC_ERR;
    Status st = make_blocks(&a, blocks, n, d);
    depth_analysis_free(&a);
    return st;
}
