/* probe_adapter.c - the trainable adapters that bring a student feature to
 * its teacher's shape for a hint loss (pass_probe_adapter, see probes.h):
 * feature maps get a 1x1 Conv when the channels differ and a linear Resize
 * when the spatial size does (resized first when that shrinks the map, so
 * the Conv runs on the smaller one); vectors get a Gemm; token sequences
 * [N, L, D] a MatMul and a bias Add. Every node and initializer is named
 * PROBE_ADAPTER_PREFIX<student value>/... (<student value>#2/... for a second
 * adapter of the same value), so pass_probe_strip finds them.
 */
#include "passes/probes.h"

#include "ir/ops.h"
#include "passes/passes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct Adapter {
    Graph *g;
    const char *base; /* PROBE_ADAPTER_PREFIX<student value> */
    uint64_t seed;
    int opset;
} Adapter;

static const char *adapter_name(const Adapter *a, const char *part)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", a->base, part);
    return arena_strdup(a->g->arena, buf);
}

static Status add_init(Adapter *a, const char *part, DType dt, int rank, const int64_t *dims, Value **out, Diag *d)
{
    Graph *g = a->g;
    Value *v = graph_add_value(g, adapter_name(a, part), d);
    if (!v)
        return KDC_ERR;
    Tensor *t = tensor_new(g->arena, dt, rank, dims); /* zeroed */
    if (!t || !graph_set_init(g, v, t))
        return diag_error(d, "out of memory");
    *out = v;
    return KDC_OK;
}

/* The node's output type, once its attributes are set. */
static Status typed(Node *n, Value **out, Diag *d)
{
    if (pass_infer_node(n, d))
        return KDC_ERR;
    *out = n->outputs[0];
    return KDC_OK;
}

/* A weight U(+-1/sqrt(fan_in)), as a freshly built PyTorch layer starts. */
static Status add_weight(Adapter *a, int rank, const int64_t *dims, int64_t fan_in, Value **out, Diag *d)
{
    if (add_init(a, "weight", DT_FLOAT, rank, dims, out, d))
        return KDC_ERR;
    pass_fill_uniform((*out)->init, (*out)->name, 1.0 / sqrt((double)fan_in), a->seed);
    return KDC_OK;
}

static Status add_node(Adapter *a, const char *op, const char *part, int n_in, Value *const *in, Node **out, Diag *d)
{
    Graph *g = a->g;
    Node *n = graph_add_node(g, op, "", n_in, 1);
    n->name = adapter_name(a, part);
    n->opset = a->opset;
    for (int i = 0; i < n_in; i++)
        n->inputs[i] = in[i];
    Value *y = graph_add_value(g, adapter_name(a, part), d);
    if (!y)
        return KDC_ERR;
    node_set_output(n, 0, y);
    op_bind(n);
    *out = n;
    return KDC_OK;
}

static Status conv_1x1(Adapter *a, Value *x, int64_t c_out, Value **out, Diag *d)
{
    int64_t c_in = x->shape.dims[1].value;
    Value *w, *b;
    Node *n;
    if (add_weight(a, 4, (int64_t[]){c_out, c_in, 1, 1}, c_in, &w, d) ||
        add_init(a, "bias", DT_FLOAT, 1, (int64_t[]){c_out}, &b, d) ||
        add_node(a, "Conv", "conv", 3, (Value *[]){x, w, b}, &n, d))
        return KDC_ERR;
    return typed(n, out, d);
}

/* floor(in * scale) must give want exactly, as Resize computes it. */
static float exact_scale(int64_t in, int64_t want)
{
    float s = (float)want / (float)in;
    while ((int64_t)floorf((float)in * s) < want)
        s = nextafterf(s, INFINITY);
    return s;
}

static Status resize_to(Adapter *a, Value *x, int64_t h, int64_t w, Value **out, Diag *d)
{
    Value *scales;
    Node *n;
    if (add_init(a, "scales", DT_FLOAT, 1, (int64_t[]){4}, &scales, d))
        return KDC_ERR;
    float *sc = scales->init->data;
    sc[0] = sc[1] = 1;
    sc[2] = exact_scale(x->shape.dims[2].value, h);
    sc[3] = exact_scale(x->shape.dims[3].value, w);
    if (add_node(a, "Resize", "resize", 3, (Value *[]){x, NULL, scales}, &n, d))
        return KDC_ERR;
    node_add_attr(n, "mode", ATTR_STRING)->s = (Bytes){(const uint8_t *)"linear", 6};
    return typed(n, out, d);
}

static Status adapt_map(Adapter *a, Value *s, const Value *t, Value **out, Diag *d)
{
    int64_t ct = t->shape.dims[1].value, ht = t->shape.dims[2].value, wt = t->shape.dims[3].value;
    bool conv = s->shape.dims[1].value != ct;
    bool resize = s->shape.dims[2].value != ht || s->shape.dims[3].value != wt;
    bool shrinks = ht * wt < s->shape.dims[2].value * s->shape.dims[3].value;
    Value *x = s;
    if (resize && shrinks && resize_to(a, x, ht, wt, &x, d))
        return KDC_ERR;
    if (conv && conv_1x1(a, x, ct, &x, d))
        return KDC_ERR;
    if (resize && !shrinks && resize_to(a, x, ht, wt, &x, d))
        return KDC_ERR;
    *out = x;
    return KDC_OK;
}

static Status adapt_vector(Adapter *a, Value *s, const Value *t, Value **out, Diag *d)
{
    int64_t ds = s->shape.dims[1].value, dt = t->shape.dims[1].value;
    Value *w, *b;
    Node *n;
    if (add_weight(a, 2, (int64_t[]){dt, ds}, ds, &w, d) || add_init(a, "bias", DT_FLOAT, 1, (int64_t[]){dt}, &b, d))
        return KDC_ERR;
    if (add_node(a, "Gemm", "gemm", 3, (Value *[]){s, w, b}, &n, d))
        return KDC_ERR;
    node_add_attr(n, "transB", ATTR_INT)->i = 1;
    return typed(n, out, d);
}

static Status adapt_tokens(Adapter *a, Value *s, const Value *t, Value **out, Diag *d)
{
    int64_t ds = s->shape.dims[2].value, dt = t->shape.dims[2].value;
    Value *w, *b;
    Node *mm, *add;
    if (add_weight(a, 2, (int64_t[]){ds, dt}, ds, &w, d) || add_init(a, "bias", DT_FLOAT, 1, (int64_t[]){dt}, &b, d) ||
        add_node(a, "MatMul", "matmul", 2, (Value *[]){s, w}, &mm, d) || typed(mm, out, d) ||
        add_node(a, "Add", "add", 2, (Value *[]){*out, b}, &add, d))
        return KDC_ERR;
    return typed(add, out, d);
}

/* Dims 1.. of both are known and the ranks can be adapted. */
static Status check_shapes(const Value *s, const Value *t, Diag *d)
{
    bool ok = s->kind == TYPE_TENSOR && t->kind == TYPE_TENSOR && s->shape.rank == t->shape.rank &&
              s->shape.rank >= 2 && s->shape.rank <= 4 && s->dtype == DT_FLOAT;
    for (int i = 1; ok && i < s->shape.rank; i++)
        ok = s->shape.dims[i].value > 0 && t->shape.dims[i].value > 0;
    if (ok && s->shape.rank == 3)
        ok = s->shape.dims[1].value == t->shape.dims[1].value;
    if (!ok)
        return diag_error(d,
                          "cannot adapt student value '%s' to teacher value '%s': kdc adapts float feature maps "
                          "[N,C,H,W], vectors [N,D] and token sequences [N,L,D] of the same length, with known dims",
                          s->name, t->name);
    return KDC_OK;
}

static bool same_dims(const Value *s, const Value *t)
{
    for (int i = 1; i < s->shape.rank; i++)
        if (s->shape.dims[i].value != t->shape.dims[i].value)
            return false;
    return true;
}

static bool prefix_taken(const Graph *g, const char *base)
{
    size_t n = strlen(base);
    for (int i = 0; i < g->n_values; i++)
        if (!strncmp(g->values[i]->name, base, n) && g->values[i]->name[n] == '/')
            return true;
    return false;
}

/* PROBE_ADAPTER_PREFIX<s>, or <s>#2, #3... when s already has an adapter. */
static void adapter_base(const Graph *g, const Value *s, char *base, size_t cap)
{
    snprintf(base, cap, PROBE_ADAPTER_PREFIX "%s", s->name);
    for (int k = 2; prefix_taken(g, base); k++)
        snprintf(base, cap, PROBE_ADAPTER_PREFIX "%s#%d", s->name, k);
}

Status pass_probe_adapter(Graph *g, Value *s, const Value *t, uint64_t seed, Value **out, Diag *d)
{
    if (check_shapes(s, t, d))
        return KDC_ERR;
    *out = s;
    if (same_dims(s, t))
        return KDC_OK;
    char base[400];
    adapter_base(g, s, base, sizeof base);
    Adapter a = {g, base, seed, 13};
    int r = s->shape.rank;
    Status st = r == 4 ? adapt_map(&a, s, t, out, d) : r == 2 ? adapt_vector(&a, s, t, out, d)
                                                             : adapt_tokens(&a, s, t, out, d);
    return st ? diag_prefix(d, "adapter for '%s'", s->name) : KDC_OK;
}
