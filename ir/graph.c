/* graph.c - construction and editing of models and graphs (see ir.h).
 *
 * Owns the name table of each graph (an open-addressing hash from name to
 * Value), node insertion and removal, use replacement, and topological
 * sorting. All memory comes from the model's arena.
 */
#include "ir/ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Model *model_new(void)
{
    Arena *a = arena_new();
    if (!a)
        return NULL;
    Model *m = arena_alloc(a, sizeof *m);
    m->arena = a;
    m->graph = graph_new(a, NULL);
    return m;
}

void model_free(Model *m)
{
    if (m)
        arena_free(m->arena);
}

int64_t model_opset(const Model *m, const char *domain)
{
    bool dflt = !domain || !*domain || !strcmp(domain, "ai.onnx");
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = m->opsets[i].domain;
        bool odflt = !d || !*d || !strcmp(d, "ai.onnx");
        if ((dflt && odflt) || (!dflt && !odflt && !strcmp(d, domain)))
            return m->opsets[i].version;
    }
    return 0;
}

Graph *graph_new(Arena *a, Graph *parent)
{
    Graph *g = arena_alloc(a, sizeof *g);
    g->arena = a;
    g->parent = parent;
    return g;
}

/* ---- growable arrays inside the arena (old blocks are simply abandoned) ---- */

static void *grow(Arena *a, void *old, int count, int *cap, size_t elem)
{
    if (count < *cap)
        return old;
    int ncap = *cap ? *cap * 2 : 16;
    void *p = arena_alloc(a, (size_t)ncap * elem);
    if (old)
        memcpy(p, old, (size_t)count * elem);
    *cap = ncap;
    return p;
}

/* ---- name hash ---- */

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void hash_insert(Graph *g, Value *v)
{
    if ((g->n_values + 1) * 2 > g->hash_cap) {
        int ncap = g->hash_cap ? g->hash_cap * 2 : 64;
        Value **nh = arena_alloc(g->arena, (size_t)ncap * sizeof *nh);
        for (int i = 0; i < g->hash_cap; i++) {
            Value *o = g->hash[i];
            if (!o)
                continue;
            size_t j = name_hash(o->name) & (size_t)(ncap - 1);
            while (nh[j])
                j = (j + 1) & (size_t)(ncap - 1);
            nh[j] = o;
        }
        g->hash = nh;
        g->hash_cap = ncap;
    }
    size_t j = name_hash(v->name) & (size_t)(g->hash_cap - 1);
    while (g->hash[j])
        j = (j + 1) & (size_t)(g->hash_cap - 1);
    g->hash[j] = v;
}

static Value *hash_find(const Graph *g, const char *name)
{
    if (!g->hash_cap)
        return NULL;
    size_t j = name_hash(name) & (size_t)(g->hash_cap - 1);
    for (Value *v; (v = g->hash[j]); j = (j + 1) & (size_t)(g->hash_cap - 1))
        if (!strcmp(v->name, name))
            return v;
    return NULL;
}

Value *graph_find_value(const Graph *g, const char *name)
{
    for (; g; g = g->parent) {
        Value *v = hash_find(g, name);
        if (v)
            return v;
    }
    return NULL;
}

Value *graph_add_value(Graph *g, const char *name, Diag *d)
{
    if (!name || !*name) {
        diag_error(d, "a value has an empty name");
        return NULL;
    }
    if (graph_find_value(g, name)) {
        diag_error(d, "value '%s' is defined more than once", name);
        return NULL;
    }
    Value *v = arena_alloc(g->arena, sizeof *v);
    v->name = arena_strdup(g->arena, name);
    v->graph = g;
    v->shape.rank = -1;
    v->id = g->n_values;
    g->values = grow(g->arena, g->values, g->n_values, &g->cap_values, sizeof *g->values);
    hash_insert(g, v);
    g->values[g->n_values++] = v;
    return v;
}

Value *graph_new_value(Graph *g, const char *prefix)
{
    /* sized for any prefix: a truncated name would never become free */
    size_t cap = strlen(prefix) + 16;
    char *name = arena_alloc(g->arena, cap);
    snprintf(name, cap, "%s", prefix);
    for (int k = 1; graph_find_value(g, name); k++)
        snprintf(name, cap, "%s_%d", prefix, k);
    return graph_add_value(g, name, NULL);
}

Node *graph_add_node(Graph *g, const char *op_type, const char *domain, int n_inputs, int n_outputs)
{
    Node *n = arena_alloc(g->arena, sizeof *n);
    n->op = OP_OPAQUE;
    n->op_type = arena_strdup(g->arena, op_type);
    n->domain = arena_strdup(g->arena, domain ? domain : "");
    n->name = arena_strdup(g->arena, "");
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    n->inputs = arena_alloc(g->arena, (size_t)(n_inputs + 1) * sizeof *n->inputs);
    n->outputs = arena_alloc(g->arena, (size_t)(n_outputs + 1) * sizeof *n->outputs);
    n->graph = g;
    g->nodes = grow(g->arena, g->nodes, g->n_nodes, &g->cap_nodes, sizeof *g->nodes);
    g->nodes[g->n_nodes++] = n;
    return n;
}

/* list with v appended, in the arena (NULL when out of memory) */
static Value **appended(Arena *a, Value **list, int n, Value *v)
{
    Value **grown = arena_alloc(a, (size_t)(n + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    if (n)
        memcpy(grown, list, (size_t)n * sizeof *grown);
    grown[n] = v;
    return grown;
}

bool graph_set_init(Graph *g, Value *v, Tensor *t)
{
    Value **inits = appended(g->arena, g->inits, g->n_inits, v);
    if (!inits)
        return false;
    t->name = v->name;
    v->init = t;
    v->kind = TYPE_TENSOR;
    v->dtype = t->dtype;
    v->shape = shape_from_dims(t->rank, t->dims);
    g->inits = inits;
    g->n_inits++;
    return true;
}

bool graph_append_output(Graph *g, Value *v)
{
    Value **outs = appended(g->arena, g->outputs, g->n_outputs, v);
    if (!outs)
        return false;
    g->outputs = outs;
    g->n_outputs++;
    return true;
}

void node_set_output(Node *n, int k, Value *v)
{
    n->outputs[k] = v;
    if (v) {
        v->producer = n;
        v->producer_output = k;
    }
}

Attr *node_add_attr(Node *n, const char *name, AttrKind kind)
{
    if (n->n_attrs >= n->cap_attrs) { /* grow by doubling: adding k attributes costs O(k) */
        int cap = n->n_attrs ? 2 * n->n_attrs : 4;
        Attr *na = arena_alloc(n->graph->arena, (size_t)cap * sizeof *na);
        if (n->n_attrs)
            memcpy(na, n->attrs, (size_t)n->n_attrs * sizeof *na);
        n->attrs = na;
        n->cap_attrs = cap;
    }
    Attr *a = &n->attrs[n->n_attrs++];
    a->name = arena_strdup(n->graph->arena, name);
    a->kind = kind;
    return a;
}

Tensor *tensor_new(Arena *a, DType dtype, int rank, const int64_t *dims)
{
    Tensor *t = arena_alloc(a, sizeof *t);
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    int64_t numel = tensor_numel(t);
    if (dtype == DT_STRING) {
        t->strings = arena_alloc(a, (size_t)(numel ? numel : 1) * sizeof *t->strings);
    } else {
        t->nbytes = (size_t)numel * dtype_size(dtype);
        t->data = arena_alloc_aligned(a, t->nbytes, 64);
    }
    return t;
}

void graph_remove_nodes(Graph *g, const bool *drop)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        if (!drop[i]) {
            g->nodes[k++] = n;
            continue;
        }
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] && n->outputs[j]->producer == n)
                n->outputs[j]->producer = NULL;
    }
    g->n_nodes = k;
}

static void replace_in_graph(Graph *g, Value *from, Value *to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] == from)
                n->inputs[j] = to;
        for (int j = 0; j < n->n_attrs; j++) {
            Attr *a = &n->attrs[j];
            if (a->kind == ATTR_GRAPH)
                replace_in_graph(a->g, from, to);
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                replace_in_graph(a->graphs[k], from, to);
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from)
            g->outputs[i] = to;
}

void graph_replace_uses(Graph *g, Value *from, Value *to)
{
    replace_in_graph(g, from, to);
}

bool graph_has_input(const Graph *g, const Value *v)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v)
            return true;
    return false;
}

bool graph_has_output(const Graph *g, const Value *v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

const char *node_display_name(const Node *n)
{
    if (n->name && *n->name)
        return n->name;
    return n->n_outputs && n->outputs[0] ? n->outputs[0]->name : n->op_type;
}

int graph_count_uses(const Graph *g, const Value *v)
{
    int uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            uses += n->inputs[j] == v;
        for (int j = 0; j < n->n_attrs; j++) {
            const Attr *a = &n->attrs[j];
            if (a->kind == ATTR_GRAPH)
                uses += graph_count_uses(a->g, v);
            for (int k = 0; a->kind == ATTR_GRAPHS && k < a->n; k++)
                uses += graph_count_uses(a->graphs[k], v);
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        uses += g->outputs[i] == v;
    return uses;
}
