/* onnx_build.h - helpers for frontend tests: build ONNX models in memory
 * with protobuf-c, pack them and import them. Every builder allocation lives
 * in the arena A, created and freed around each test by setup/teardown.
 * Included by tests/unit/test_frontend*.c only (each is its own program).
 */
#ifndef KDC_TEST_ONNX_BUILD_H
#define KDC_TEST_ONNX_BUILD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/onnx_import.h"
#include "onnx.pb-c.h"

static Arena *A; /* builder memory, reset per test */

static inline int setup(void **state)
{
    (void)state;
    A = arena_new();
    return A ? 0 : -1;
}

static inline int teardown(void **state)
{
    (void)state;
    arena_free(A);
    A = NULL;
    return 0;
}

static inline void *alloc(size_t n)
{
    return arena_alloc(A, n);
}

static inline char *S(const char *s)
{
    return arena_strdup(A, s);
}

/* Appends item to a protobuf-c repeated pointer field. */
static inline void push(void *field, size_t *n, void *item)
{
    void ***arr = field;
    void **grown = alloc((*n + 1) * sizeof *grown);
    if (*n)
        memcpy(grown, *arr, *n * sizeof *grown);
    grown[(*n)++] = item;
    *arr = grown;
}

/* Splits "a,b,,c" into strings ("" entries kept); "" gives no entries. */
static inline char **split(const char *list, size_t *n)
{
    char **out = alloc(64 * sizeof *out);
    *n = 0;
    for (const char *p = list; *list;) {
        size_t len = strcspn(p, ",");
        out[(*n)++] = arena_strndup(A, p, len);
        if (!p[len])
            break;
        p += len + 1;
    }
    return out;
}

static inline Onnx__TypeProto *tensor_type(int elem, const char *dims /* "N,3,?" or NULL: no shape */)
{
    Onnx__TypeProto *tp = alloc(sizeof *tp);
    Onnx__TypeProto__Tensor *tt = alloc(sizeof *tt);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    if (!dims)
        return tp;
    tt->shape = alloc(sizeof *tt->shape);
    onnx__tensor_shape_proto__init(tt->shape);
    size_t n;
    char **parts = split(dims, &n);
    for (size_t i = 0; i < n; i++) {
        Onnx__TensorShapeProto__Dimension *d = alloc(sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if ((parts[i][0] >= '0' && parts[i][0] <= '9') || parts[i][0] == '-') {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = atoll(parts[i]);
        } else if (strcmp(parts[i], "?")) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = parts[i];
        }
        push(&tt->shape->dim, &tt->shape->n_dim, d);
    }
    return tp;
}

static inline Onnx__ValueInfoProto *vinfo(const char *name, Onnx__TypeProto *type)
{
    Onnx__ValueInfoProto *vi = alloc(sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = S(name);
    vi->type = type;
    return vi;
}

static inline Onnx__GraphProto *new_graph(const char *name)
{
    Onnx__GraphProto *g = alloc(sizeof *g);
    onnx__graph_proto__init(g);
    g->name = S(name);
    return g;
}

static inline Onnx__ModelProto *new_model(void)
{
    Onnx__ModelProto *mp = alloc(sizeof *mp);
    onnx__model_proto__init(mp);
    mp->has_ir_version = 1;
    mp->ir_version = 8;
    Onnx__OperatorSetIdProto *o = alloc(sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = S("");
    o->has_version = 1;
    o->version = 13;
    push(&mp->opset_import, &mp->n_opset_import, o);
    mp->graph = new_graph("main");
    return mp;
}

static inline Onnx__NodeProto *add_node(Onnx__GraphProto *g, const char *op, const char *name, const char *ins,
                                        const char *outs)
{
    Onnx__NodeProto *n = alloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = S(op);
    n->name = S(name);
    n->input = split(ins, &n->n_input);
    n->output = split(outs, &n->n_output);
    push(&g->node, &g->n_node, n);
    return n;
}

static inline Onnx__AttributeProto *add_attr(Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = alloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = S(name);
    a->has_type = 1;
    a->type = (Onnx__AttributeProto__AttributeType)type;
    push(&n->attribute, &n->n_attribute, a);
    return a;
}

static inline Onnx__TensorProto *raw_tensor(const char *name, int dtype, const char *dims, const void *raw, size_t len)
{
    Onnx__TensorProto *t = alloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = name ? S(name) : NULL;
    t->has_data_type = 1;
    t->data_type = dtype;
    size_t n;
    char **parts = split(dims, &n);
    t->dims = alloc((n + 1) * sizeof *t->dims);
    for (size_t i = 0; i < n; i++)
        t->dims[i] = atoll(parts[i]);
    t->n_dims = n;
    if (raw) {
        t->has_raw_data = 1;
        t->raw_data.data = arena_memdup(A, raw, len);
        t->raw_data.len = len;
    }
    return t;
}

static inline uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = alloc(*len);
    protobuf_c_message_pack(m, buf);
    return buf;
}

static inline Status import_mp(const Onnx__ModelProto *mp, Model **m, Diag *d)
{
    size_t len;
    uint8_t *buf = pack(&mp->base, &len);
    return onnx_import_buffer(buf, len, "test.onnx", NULL, m, d);
}

static inline Model *import_ok(const Onnx__ModelProto *mp)
{
    Model *m = NULL;
    Diag d = {{0}};
    if (import_mp(mp, &m, &d))
        fail_msg("import failed: %s", d.msg);
    return m;
}

/* Imports a model that must fail; the message must name the file, hold
 * `expect` and be one line. */
static inline void import_fails(const Onnx__ModelProto *mp, const char *expect)
{
    Model *m = (Model *)1;
    Diag d = {{0}};
    if (import_mp(mp, &m, &d) == KDC_OK)
        fail_msg("import succeeded, expected an error with '%s'", expect);
    assert_null(m);
    if (strncmp(d.msg, "test.onnx: ", 11) || !strstr(d.msg, expect) || strchr(d.msg, '\n'))
        fail_msg("message '%s' does not name the file or lacks '%s'", d.msg, expect);
}

/* x(float[N,3,?]) -> Relu -> t -> Add(w) -> y */
static inline Onnx__ModelProto *small_model(void)
{
    Onnx__ModelProto *mp = new_model();
    Onnx__GraphProto *g = mp->graph;
    push(&g->input, &g->n_input, vinfo("x", tensor_type(1, "N,3,?")));
    push(&g->output, &g->n_output, vinfo("y", tensor_type(1, "N,3,?")));
    float w[3] = {1, 2, 3};
    push(&g->initializer, &g->n_initializer, raw_tensor("w", 1, "3", w, sizeof w));
    add_node(g, "Relu", "r", "x", "t");
    add_node(g, "Add", "a", "t,w", "y");
    return mp;
}

static inline Onnx__TypeProto *sequence_type(void)
{
    Onnx__TypeProto *tp = alloc(sizeof *tp);
    Onnx__TypeProto__Sequence *seq = alloc(sizeof *seq);
    onnx__type_proto__init(tp);
    onnx__type_proto__sequence__init(seq);
    seq->elem_type = tensor_type(1, "?");
    tp->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    tp->sequence_type = seq;
    return tp;
}

static inline Onnx__SparseTensorProto *sparse_tensor(void)
{
    Onnx__SparseTensorProto *sp = alloc(sizeof *sp);
    onnx__sparse_tensor_proto__init(sp);
    float v[1] = {5};
    int64_t idx[1] = {2};
    sp->values = raw_tensor("sv", 1, "1", v, sizeof v);
    sp->indices = raw_tensor("si", 7, "1", idx, sizeof idx);
    sp->dims = alloc(sizeof(int64_t));
    sp->dims[0] = 4;
    sp->n_dims = 1;
    return sp;
}

/* then-branch uses the outer "x"; else-branch defines its own "y". */
static inline Onnx__GraphProto *branch(const char *name, const char *op)
{
    Onnx__GraphProto *b = new_graph(name);
    push(&b->output, &b->n_output, vinfo("b_out", NULL));
    add_node(b, op, "", "x", "b_out");
    return b;
}

static inline void add_every_attr(Onnx__NodeProto *n)
{
    static float fl[2] = {0.5f, -1};
    static int64_t in[3] = {1, -2, 3};
    int32_t one = 1;
    Onnx__AttributeProto *a = add_attr(n, "f", 1);
    a->has_f = 1, a->f = 2.5f;
    a = add_attr(n, "i", 2);
    a->has_i = 1, a->i = -7;
    Onnx__AttributeProto *s = add_attr(n, "s", 3);
    s->has_s = 1;
    s->s = (ProtobufCBinaryData){3, (uint8_t *)S("a\001b")};
    s->doc_string = S("attr doc");
    add_attr(n, "t", 4)->t = raw_tensor("tv", 6, "", &one, 4);
    add_attr(n, "g", 5)->g = branch("then", "Relu");
    a = add_attr(n, "floats", 6);
    a->floats = fl, a->n_floats = 2;
    a = add_attr(n, "ints", 7);
    a->ints = in, a->n_ints = 3;
    a = add_attr(n, "strings", 8);
    a->strings = alloc(2 * sizeof *a->strings), a->n_strings = 2;
    a->strings[0] = (ProtobufCBinaryData){1, (uint8_t *)S("p")};
    a->strings[1] = (ProtobufCBinaryData){0, NULL};
    a = add_attr(n, "tensors", 9);
    push(&a->tensors, &a->n_tensors, raw_tensor(NULL, 6, "1", &one, 4));
    a = add_attr(n, "graphs", 10);
    push(&a->graphs, &a->n_graphs, branch("b0", "Neg"));
    push(&a->graphs, &a->n_graphs, branch("b1", "Abs"));
    add_attr(n, "sparse", 11)->sparse_tensor = sparse_tensor();
    a = add_attr(n, "sparses", 12);
    push(&a->sparse_tensors, &a->n_sparse_tensors, sparse_tensor());
    add_attr(n, "tp", 13)->tp = sequence_type();
    a = add_attr(n, "tps", 14);
    push(&a->type_protos, &a->n_type_protos, sequence_type());
    push(&a->type_protos, &a->n_type_protos, tensor_type(7, "3"));
}

typedef enum { F_FLOAT, F_INT32, F_INT64, F_DOUBLE, F_UINT64 } Field;

static inline void set_typed(Onnx__TensorProto *t, Field f, const void *vals, size_t n)
{
    void *copy = arena_memdup(A, vals, n * (f == F_FLOAT || f == F_INT32 ? 4 : 8));
    switch (f) {
    case F_FLOAT: t->float_data = copy, t->n_float_data = n; break;
    case F_INT32: t->int32_data = copy, t->n_int32_data = n; break;
    case F_INT64: t->int64_data = copy, t->n_int64_data = n; break;
    case F_DOUBLE: t->double_data = copy, t->n_double_data = n; break;
    case F_UINT64: t->uint64_data = copy, t->n_uint64_data = n; break;
    }
}

/* A model whose only content is initializer `t`, also the graph output. */
static inline Onnx__ModelProto *init_model(Onnx__TensorProto *t)
{
    Onnx__ModelProto *mp = new_model();
    push(&mp->graph->initializer, &mp->graph->n_initializer, t);
    push(&mp->graph->output, &mp->graph->n_output, vinfo(t->name, NULL));
    return mp;
}

static inline void add_external(Onnx__TensorProto *t, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = alloc(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = S(key);
    e->value = S(value);
    push(&t->external_data, &t->n_external_data, e);
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

#endif
