/* graph_build.h - helpers the unit tests share to build IR graphs in memory.
 *
 * A test writes its graph the way an importer would leave it: typed inputs,
 * initializers (a Tensor named after its value), nodes bound to the op
 * registry with an explicit opset, attributes, and the graph's input, output
 * and initializer lists grown in the graph's arena. Node outputs are fresh
 * values named <node>_out, <node>_out1, ... unless the test names them
 * (gb_node_to). Random weights come from one generator that the test seeds
 * (gb_rng_seed, in main or before each graph), so every run sees the same
 * numbers. Header-only (static inline) so each test binary takes what it
 * uses; a test that builds something no helper here fits keeps its own
 * builder (convolution stacks, shape-spec parsing) on top of these.
 */
#ifndef KDC_TEST_GRAPH_BUILD_H
#define KDC_TEST_GRAPH_BUILD_H

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ir/ir.h"
#include "ir/ops.h"

/* ---- deterministic random numbers ---- */

static uint64_t gb_rng_state;

static inline void gb_rng_seed(uint64_t seed)
{
    gb_rng_state = seed;
}

/* Uniform in [-1, 1): 24 high bits of a 64-bit LCG. */
static inline float gb_frand(void)
{
    gb_rng_state = gb_rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((gb_rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static inline void gb_fill_random(float *p, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * (gb_frand() + 1.0f) / 2.0f;
}

/* ---- the IR's text ---- */

/* What ir_print writes for m, as a malloc'd string the test frees. */
static inline char *gb_ir_text(const Model *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert(f);
    ir_print(m, f);
    fclose(f);
    return text;
}

/* ---- the graph's lists ---- */

/* The graph owns its lists in its arena, so growing one means a new copy there. */
static inline Value **gb_append(Arena *a, Value **list, int n, Value *v)
{
    Value **grown = arena_alloc(a, (size_t)(n + 1) * sizeof *grown);
    if (n)
        memcpy(grown, list, (size_t)n * sizeof *grown);
    grown[n] = v;
    return grown;
}

static inline void gb_append_input(Graph *g, Value *v)
{
    g->inputs = gb_append(g->arena, g->inputs, g->n_inputs++, v);
}

static inline void gb_append_output(Graph *g, Value *v)
{
    g->outputs = gb_append(g->arena, g->outputs, g->n_outputs++, v);
}

static inline void gb_append_init(Graph *g, Value *v)
{
    g->inits = gb_append(g->arena, g->inits, g->n_inits++, v);
}

/* ---- values ---- */

static inline Value *gb_input_shaped(Graph *g, const char *name, DType dt, Shape shape)
{
    Value *v = graph_add_value(g, name, NULL);
    v->kind = TYPE_TENSOR;
    v->dtype = dt;
    v->shape = shape;
    gb_append_input(g, v);
    return v;
}

/* An input of known dims (-1 for an unknown one). */
static inline Value *gb_input(Graph *g, const char *name, DType dt, int rank, const int64_t *dims)
{
    return gb_input_shaped(g, name, dt, shape_from_dims(rank, dims));
}

/* A float input whose dim 0 is the symbolic batch "N" (dims[0] is ignored). */
static inline Value *gb_batch_input(Graph *g, const char *name, int rank, const int64_t *dims)
{
    Shape s = shape_from_dims(rank, dims);
    s.dims[0] = (Dim){-1, "N"};
    return gb_input_shaped(g, name, DT_FLOAT, s);
}

/* An initializer of zeros. */
static inline Value *gb_init(Graph *g, const char *name, DType dt, int rank, const int64_t *dims)
{
    Value *v = graph_add_value(g, name, NULL);
    Tensor *t = tensor_new(g->arena, dt, rank, dims);
    t->name = v->name;
    v->init = t;
    v->kind = TYPE_TENSOR;
    v->dtype = dt;
    v->shape = shape_from_dims(rank, dims);
    gb_append_init(g, v);
    return v;
}

/* A float initializer with values uniform in [lo, hi). */
static inline Value *gb_param(Graph *g, const char *name, int rank, const int64_t *dims, float lo, float hi)
{
    Value *v = gb_init(g, name, DT_FLOAT, rank, dims);
    gb_fill_random(v->init->data, tensor_numel(v->init), lo, hi);
    return v;
}

/* An initializer holding a copy of data (as many bytes as the tensor has). */
static inline Value *gb_init_copy(Graph *g, const char *name, DType dt, int rank, const int64_t *dims, const void *data)
{
    Value *v = gb_init(g, name, dt, rank, dims);
    memcpy(v->init->data, data, v->init->nbytes);
    return v;
}

/* A 1-D int64 initializer of n values; n < 0 makes a scalar holding v[0]. */
static inline Value *gb_ints(Graph *g, const char *name, int n, const int64_t *v)
{
    return gb_init_copy(g, name, DT_INT64, n < 0 ? 0 : 1, (int64_t[]){n}, v);
}

/* ---- nodes ---- */

/* A node of the default domain with its inputs but no outputs yet. */
static inline Node *gb_node_bare(Graph *g, const char *op, int opset, const char *name, int n_in, Value *const *in,
                                 int n_out)
{
    Node *n = graph_add_node(g, op, "", n_in, n_out);
    n->name = arena_strdup(g->arena, name);
    n->opset = opset;
    for (int i = 0; i < n_in; i++)
        n->inputs[i] = in[i];
    op_bind(n);
    return n;
}

/* A node whose n_out outputs are fresh values <name>_out, <name>_out1, ... */
static inline Node *gb_node(Graph *g, const char *op, int opset, const char *name, int n_in, Value *const *in,
                            int n_out)
{
    Node *n = gb_node_bare(g, op, opset, name, n_in, in, n_out);
    for (int k = 0; k < n_out; k++) {
        char out[64];
        int len = snprintf(out, sizeof out, k ? "%s_out%d" : "%s_out", name, k);
        assert(len > 0 && (size_t)len < sizeof out);
        node_set_output(n, k, graph_add_value(g, out, NULL));
    }
    return n;
}

/* A node with one output, the fresh value `out`, for graphs whose value names
 * are part of what is tested. */
static inline Node *gb_node_to(Graph *g, const char *op, int opset, const char *name, int n_in, Value *const *in,
                               const char *out)
{
    Node *n = gb_node_bare(g, op, opset, name, n_in, in, 1);
    node_set_output(n, 0, graph_add_value(g, out, NULL));
    return n;
}

static inline Value *gb_op1(Graph *g, const char *op, int opset, const char *name, Value *x)
{
    return gb_node(g, op, opset, name, 1, &x, 1)->outputs[0];
}

static inline Value *gb_op2(Graph *g, const char *op, int opset, const char *name, Value *a, Value *b)
{
    return gb_node(g, op, opset, name, 2, (Value *[]){a, b}, 1)->outputs[0];
}

/* ---- attributes ---- */

static inline void gb_set_int(Node *n, const char *name, int64_t v)
{
    node_add_attr(n, name, ATTR_INT)->i = v;
}

static inline void gb_set_float(Node *n, const char *name, float v)
{
    node_add_attr(n, name, ATTR_FLOAT)->f = v;
}

static inline void gb_set_ints(Node *n, const char *name, int count, const int64_t *v)
{
    Attr *a = node_add_attr(n, name, ATTR_INTS);
    a->n = count;
    a->ints = arena_memdup(n->graph->arena, v, (size_t)count * sizeof *v);
}

static inline void gb_set_str(Node *n, const char *name, const char *s)
{
    node_add_attr(n, name, ATTR_STRING)->s = (Bytes){(const uint8_t *)s, strlen(s)};
}

#endif
