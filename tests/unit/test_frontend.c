/* test_frontend.c - unit tests of the ONNX frontend (frontend/onnx_import.h).
 *
 * Models are built in memory with protobuf-c (all builder memory in one
 * arena), packed and imported from the buffer; external data and the bad
 * fixtures in tests/bad/ are read from files. Covers model fields, symbolic
 * dims, every attribute kind, every data type through raw and typed fields,
 * opaque parts, outer-scope names, node order, and every validation error.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend/onnx_import.h"
#include "ir/ops.h"
#include "onnx.pb-c.h"

static Arena *A; /* builder memory, reset per test */

static int setup(void **state)
{
    (void)state;
    A = arena_new();
    return A ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    arena_free(A);
    A = NULL;
    return 0;
}

/* ---- protobuf-c builders ---- */

static void *alloc(size_t n)
{
    return arena_alloc(A, n);
}

static char *S(const char *s)
{
    return arena_strdup(A, s);
}

/* Appends item to a protobuf-c repeated pointer field. */
static void push(void *field, size_t *n, void *item)
{
    void ***arr = field;
    void **grown = alloc((*n + 1) * sizeof *grown);
    if (*n)
        memcpy(grown, *arr, *n * sizeof *grown);
    grown[(*n)++] = item;
    *arr = grown;
}

/* Splits "a,b,,c" into strings ("" entries kept); "" gives no entries. */
static char **split(const char *list, size_t *n)
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

static Onnx__TypeProto *tensor_type(int elem, const char *dims /* "N,3,?" or NULL: no shape */)
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

static Onnx__ValueInfoProto *vinfo(const char *name, Onnx__TypeProto *type)
{
    Onnx__ValueInfoProto *vi = alloc(sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = S(name);
    vi->type = type;
    return vi;
}

static Onnx__GraphProto *new_graph(const char *name)
{
    Onnx__GraphProto *g = alloc(sizeof *g);
    onnx__graph_proto__init(g);
    g->name = S(name);
    return g;
}

static Onnx__ModelProto *new_model(void)
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

static Onnx__NodeProto *add_node(Onnx__GraphProto *g, const char *op, const char *name, const char *ins,
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

static Onnx__AttributeProto *add_attr(Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = alloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = S(name);
    a->has_type = 1;
    a->type = (Onnx__AttributeProto__AttributeType)type;
    push(&n->attribute, &n->n_attribute, a);
    return a;
}

static Onnx__TensorProto *raw_tensor(const char *name, int dtype, const char *dims, const void *raw, size_t len)
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

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = alloc(*len);
    protobuf_c_message_pack(m, buf);
    return buf;
}

static Status import_mp(const Onnx__ModelProto *mp, Model **m, Diag *d)
{
    size_t len;
    uint8_t *buf = pack(&mp->base, &len);
    return onnx_import_buffer(buf, len, "test.onnx", NULL, m, d);
}

static Model *import_ok(const Onnx__ModelProto *mp)
{
    Model *m = NULL;
    Diag d = {{0}};
    if (import_mp(mp, &m, &d))
        fail_msg("import failed: %s", d.msg);
    return m;
}

/* Imports a model that must fail; the message must name the file, hold
 * `expect` and be one line. */
static void import_fails(const Onnx__ModelProto *mp, const char *expect)
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
static Onnx__ModelProto *small_model(void)
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

/* ---- model fields, values, types ---- */

static void test_model_fields(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    mp->producer_name = S("pytorch");
    mp->producer_version = S("1.13");
    mp->domain = S("org.example");
    mp->has_model_version = 1;
    mp->model_version = 7;
    mp->doc_string = S("model doc");
    mp->graph->doc_string = S("graph doc");
    mp->graph->node[0]->doc_string = S("node doc");
    mp->graph->input[0]->doc_string = S("input doc");
    Onnx__OperatorSetIdProto *o = alloc(sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = S("com.microsoft");
    o->has_version = 1;
    o->version = 1;
    push(&mp->opset_import, &mp->n_opset_import, o);
    Onnx__StringStringEntryProto *e = alloc(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = S("author");
    e->value = S("kdc");
    push(&mp->metadata_props, &mp->n_metadata_props, e);
    Onnx__NodeProto *custom = add_node(mp->graph, "FusedThing", "f", "y", "z");
    custom->domain = S("com.microsoft");

    Model *m = import_ok(mp);
    assert_int_equal(m->ir_version, 8);
    assert_string_equal(m->producer_name, "pytorch");
    assert_string_equal(m->producer_version, "1.13");
    assert_string_equal(m->domain, "org.example");
    assert_int_equal(m->model_version, 7);
    assert_string_equal(m->doc, "model doc");
    assert_int_equal(m->n_opsets, 2);
    assert_int_equal(model_opset(m, "com.microsoft"), 1);
    assert_int_equal(m->n_metadata, 1);
    assert_string_equal(m->metadata[0].key, "author");
    assert_string_equal(m->metadata[0].value, "kdc");
    Graph *g = m->graph;
    assert_string_equal(g->name, "main");
    assert_string_equal(g->doc, "graph doc");
    assert_int_equal(g->n_nodes, 3);
    assert_string_equal(g->nodes[0]->doc, "node doc");
    assert_int_equal(g->nodes[0]->op, OP_Relu);
    assert_int_equal(g->nodes[0]->opset, 13);
    assert_int_equal(g->nodes[2]->op, OP_OPAQUE);
    assert_string_equal(g->nodes[2]->domain, "com.microsoft");
    assert_int_equal(g->nodes[2]->opset, 1);
    assert_string_equal(g->inputs[0]->doc, "input doc");
    model_free(m);
}

static void test_shapes_and_value_info(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    Onnx__GraphProto *g = mp->graph;
    push(&g->value_info, &g->n_value_info, vinfo("t", tensor_type(1, "N,3,5")));
    push(&g->value_info, &g->n_value_info, vinfo("ghost", tensor_type(7, "")));
    push(&g->output, &g->n_output, vinfo("t", NULL));
    Model *m = import_ok(mp);
    Value *x = m->graph->inputs[0];
    assert_int_equal(x->kind, TYPE_TENSOR);
    assert_int_equal(x->dtype, DT_FLOAT);
    assert_int_equal(x->shape.rank, 3);
    assert_string_equal(x->shape.dims[0].param, "N");
    assert_int_equal(x->shape.dims[0].value, -1);
    assert_int_equal(x->shape.dims[1].value, 3);
    assert_null(x->shape.dims[2].param);
    assert_int_equal(x->shape.dims[2].value, -1);
    Value *t = graph_find_value(m->graph, "t");
    assert_true(t->in_value_info);
    assert_ptr_equal(t->producer, m->graph->nodes[0]);
    assert_int_equal(t->shape.dims[2].value, 5);
    assert_ptr_equal(m->graph->outputs[1], t);
    Value *ghost = graph_find_value(m->graph, "ghost");
    assert_non_null(ghost);
    assert_true(ghost->in_value_info);
    assert_null(ghost->producer);
    assert_int_equal(ghost->dtype, DT_INT64);
    assert_int_equal(ghost->shape.rank, 0);
    Value *w = graph_find_value(m->graph, "w");
    assert_int_equal(w->kind, TYPE_TENSOR); /* typed from its tensor */
    assert_int_equal(w->shape.rank, 1);
    assert_int_equal(w->shape.dims[0].value, 3);
    model_free(m);
}

static void test_initializer_as_input(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    mp->ir_version = 3;
    push(&mp->graph->input, &mp->graph->n_input, vinfo("w", tensor_type(1, "K")));
    Model *m = import_ok(mp);
    Graph *g = m->graph;
    assert_int_equal(g->n_inputs, 2);
    assert_int_equal(g->n_inits, 1);
    assert_ptr_equal(g->inputs[1], g->inits[0]);
    assert_string_equal(g->inputs[1]->shape.dims[0].param, "K"); /* the input's type wins */
    assert_ptr_equal(g->nodes[1]->inputs[1], g->inputs[1]);
    model_free(m);
}

static void test_unsorted_nodes_and_optional_io(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = new_model();
    Onnx__GraphProto *g = mp->graph;
    push(&g->input, &g->n_input, vinfo("x", tensor_type(1, "2")));
    push(&g->output, &g->n_output, vinfo("z", tensor_type(1, "2")));
    add_node(g, "Neg", "second", "y", "z");
    add_node(g, "Dropout", "first", "x,,", "y,"); /* empty optional input and output */
    Model *m = import_ok(mp);
    assert_string_equal(m->graph->nodes[0]->name, "first");
    assert_string_equal(m->graph->nodes[1]->name, "second");
    Node *drop = m->graph->nodes[0];
    assert_int_equal(drop->n_inputs, 3);
    assert_null(drop->inputs[1]);
    assert_int_equal(drop->n_outputs, 2);
    assert_null(drop->outputs[1]);
    model_free(m);
}

/* ---- attributes ---- */

static Onnx__TypeProto *sequence_type(void)
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

static Onnx__SparseTensorProto *sparse_tensor(void)
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
static Onnx__GraphProto *branch(const char *name, const char *op)
{
    Onnx__GraphProto *b = new_graph(name);
    push(&b->output, &b->n_output, vinfo("b_out", NULL));
    add_node(b, op, "", "x", "b_out");
    return b;
}

static void add_every_attr(Onnx__NodeProto *n)
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

static bool blob_is(Bytes b, const ProtobufCMessage *msg)
{
    size_t len;
    uint8_t *want = pack(msg, &len);
    return b.len == len && !memcmp(b.data, want, len);
}

static void check_every_attr(const Node *n, const Graph *g)
{
    assert_int_equal(n->n_attrs, 14);
    assert_true(node_attr_float(n, "f", 0) == 2.5f);
    assert_int_equal(node_attr_int(n, "i", 0), -7);
    const Attr *s = node_attr(n, "s");
    assert_int_equal(s->s.len, 3);
    assert_memory_equal(s->s.data, "a\001b", 3);
    assert_string_equal(s->doc, "attr doc");
    const Attr *t = node_attr(n, "t");
    assert_int_equal(t->t->rank, 0);
    assert_string_equal(t->t->name, "tv");
    assert_int_equal(tensor_get_int(t->t, 0), 1);
    const Attr *sub = node_attr(n, "g");
    assert_ptr_equal(sub->g->parent, g);
    assert_ptr_equal(sub->g->nodes[0]->inputs[0], g->inputs[0]); /* outer "x" */
    int cnt;
    const float *fl = node_attr_floats(n, "floats", &cnt);
    assert_int_equal(cnt, 2);
    assert_true(fl[0] == 0.5f && fl[1] == -1);
    const int64_t *in = node_attr_ints(n, "ints", &cnt);
    assert_int_equal(cnt, 3);
    assert_int_equal(in[1], -2);
    const Attr *strs = node_attr(n, "strings");
    assert_int_equal(strs->n, 2);
    assert_int_equal(strs->strings[1].len, 0);
    const Attr *ts = node_attr(n, "tensors");
    assert_int_equal(ts->n, 1);
    assert_null(ts->tensors[0]->name);
    const Attr *gs = node_attr(n, "graphs");
    assert_int_equal(gs->n, 2);
    assert_string_equal(gs->graphs[1]->nodes[0]->op_type, "Abs");
    assert_ptr_equal(gs->graphs[1]->parent, g);
    assert_true(blob_is(node_attr(n, "sparse")->blobs[0], &sparse_tensor()->base));
    assert_int_equal(node_attr(n, "sparse")->n, 1);
    assert_int_equal(node_attr(n, "sparses")->n, 1);
    assert_true(blob_is(node_attr(n, "tp")->blobs[0], &sequence_type()->base));
    assert_int_equal(node_attr(n, "tps")->n, 2);
    assert_true(blob_is(node_attr(n, "tps")->blobs[1], &tensor_type(7, "3")->base));
}

static void test_every_attribute_kind(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    Onnx__NodeProto *n = add_node(mp->graph, "Custom", "c", "y", "z");
    n->domain = S("test.domain");
    add_every_attr(n);
    Model *m = import_ok(mp);
    for (int i = 0; i < m->graph->n_nodes; i++)
        if (!strcmp(m->graph->nodes[i]->op_type, "Custom"))
            check_every_attr(m->graph->nodes[i], m->graph);
    model_free(m);
}

static void test_opaque_parts(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    Onnx__GraphProto *g = mp->graph;
    push(&g->input, &g->n_input, vinfo("seq", sequence_type()));
    push(&g->sparse_initializer, &g->n_sparse_initializer, sparse_tensor());
    Onnx__TensorAnnotation *qa = alloc(sizeof *qa);
    onnx__tensor_annotation__init(qa);
    qa->tensor_name = S("w");
    push(&g->quantization_annotation, &g->n_quantization_annotation, qa);
    Onnx__FunctionProto *fn = alloc(sizeof *fn);
    onnx__function_proto__init(fn);
    fn->name = S("MyFn");
    fn->domain = S("local");
    push(&mp->functions, &mp->n_functions, fn);
    Onnx__TrainingInfoProto *ti = alloc(sizeof *ti);
    onnx__training_info_proto__init(ti);
    ti->algorithm = new_graph("train");
    push(&mp->training_info, &mp->n_training_info, ti);
    Model *m = import_ok(mp);
    Value *seq = graph_find_value(m->graph, "seq");
    assert_int_equal(seq->kind, TYPE_OPAQUE);
    assert_true(blob_is(seq->opaque_type, &sequence_type()->base));
    assert_int_equal(m->graph->n_sparse_inits, 1);
    assert_true(blob_is(m->graph->sparse_inits[0], &sparse_tensor()->base));
    assert_int_equal(m->graph->n_quant_annotations, 1);
    assert_true(blob_is(m->graph->quant_annotations[0], &qa->base));
    assert_int_equal(m->n_functions, 1);
    assert_true(blob_is(m->functions[0], &fn->base));
    assert_int_equal(m->n_training_info, 1);
    assert_true(blob_is(m->training_info[0], &ti->base));
    model_free(m);
}

/* ---- tensor data: every dtype through its typed field and raw_data ---- */

typedef enum { F_FLOAT, F_INT32, F_INT64, F_DOUBLE, F_UINT64 } Field;

typedef struct DataCase {
    int dtype;
    Field field;
    const char *dims;
    const void *typed;
    size_t n_typed;
    const void *expect; /* little-endian element bytes */
    size_t expect_len;
} DataCase;

static void set_typed(Onnx__TensorProto *t, Field f, const void *vals, size_t n)
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
static Onnx__ModelProto *init_model(Onnx__TensorProto *t)
{
    Onnx__ModelProto *mp = new_model();
    push(&mp->graph->initializer, &mp->graph->n_initializer, t);
    push(&mp->graph->output, &mp->graph->n_output, vinfo(t->name, NULL));
    return mp;
}

static void check_case(const DataCase *c)
{
    Onnx__TensorProto *typed = raw_tensor("w", c->dtype, c->dims, NULL, 0);
    set_typed(typed, c->field, c->typed, c->n_typed);
    Model *m = import_ok(init_model(typed));
    const Tensor *t = m->graph->inits[0]->init;
    assert_int_equal(t->dtype, c->dtype);
    assert_int_equal(t->nbytes, c->expect_len);
    assert_memory_equal(t->data, c->expect, c->expect_len);
    model_free(m);
    m = import_ok(init_model(raw_tensor("w", c->dtype, c->dims, c->expect, c->expect_len)));
    assert_memory_equal(m->graph->inits[0]->init->data, c->expect, c->expect_len);
    model_free(m);
}

static void test_typed_and_raw_data(void **state)
{
    (void)state;
    static const float f32[] = {1.5f, -2, 3, 4};
    static const double f64[] = {0.25, -8, 1, 2};
    static const int32_t i32[] = {-5, 7};
    static const int32_t i16[] = {-3, 300}, u16[] = {65535, 1}, i8[] = {-3, 127}, u8[] = {255, 0};
    static const int32_t b[] = {2, 0}, h[] = {0x3C00, 0xC000}, bf[] = {0x3F80, 0x4000};
    static const int64_t i64[] = {-1, INT64_MAX};
    static const uint64_t u32[] = {4000000000u, 1}, u64[] = {UINT64_MAX, 2};
    static const int16_t i16_le[] = {-3, 300};
    static const uint16_t u16_le[] = {65535, 1}, h_le[] = {0x3C00, 0xC000}, bf_le[] = {0x3F80, 0x4000};
    static const uint8_t i8_le[] = {0xFD, 0x7F}, u8_le[] = {255, 0}, b_le[] = {1, 0};
    static const uint32_t u32_le[] = {4000000000u, 1};
    const DataCase cases[] = {
        {DT_FLOAT, F_FLOAT, "2,2", f32, 4, f32, 16},
        {DT_COMPLEX64, F_FLOAT, "2", f32, 4, f32, 16},
        {DT_DOUBLE, F_DOUBLE, "4", f64, 4, f64, 32},
        {DT_COMPLEX128, F_DOUBLE, "1,2", f64, 4, f64, 32},
        {DT_INT32, F_INT32, "2", i32, 2, i32, 8},
        {DT_INT16, F_INT32, "2", i16, 2, i16_le, 4},
        {DT_UINT16, F_INT32, "2", u16, 2, u16_le, 4},
        {DT_INT8, F_INT32, "2", i8, 2, i8_le, 2},
        {DT_UINT8, F_INT32, "2", u8, 2, u8_le, 2},
        {DT_BOOL, F_INT32, "2", b, 2, b_le, 2},
        {DT_FLOAT16, F_INT32, "2", h, 2, h_le, 4},
        {DT_BFLOAT16, F_INT32, "2", bf, 2, bf_le, 4},
        {DT_INT64, F_INT64, "2", i64, 2, i64, 16},
        {DT_UINT32, F_UINT64, "2", u32, 2, u32_le, 8},
        {DT_UINT64, F_UINT64, "2,1", u64, 2, u64, 16},
        {DT_FLOAT, F_FLOAT, "0,3", f32, 0, f32, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

static void test_string_tensor(void **state)
{
    (void)state;
    Onnx__TensorProto *t = raw_tensor("s", DT_STRING, "2", NULL, 0);
    t->string_data = alloc(2 * sizeof *t->string_data);
    t->string_data[0] = (ProtobufCBinaryData){2, (uint8_t *)S("ab")};
    t->string_data[1] = (ProtobufCBinaryData){0, NULL};
    t->n_string_data = 2;
    t->doc_string = S("strings");
    Model *m = import_ok(init_model(t));
    const Tensor *it = m->graph->inits[0]->init;
    assert_int_equal(it->dtype, DT_STRING);
    assert_int_equal(it->strings[0].len, 2);
    assert_memory_equal(it->strings[0].data, "ab", 2);
    assert_int_equal(it->strings[1].len, 0);
    assert_string_equal(it->doc, "strings");
    model_free(m);
}

/* ---- external data ---- */

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void add_external(Onnx__TensorProto *t, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = alloc(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = S(key);
    e->value = S(value);
    push(&t->external_data, &t->n_external_data, e);
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static void test_external_data(void **state)
{
    (void)state;
    char dir[] = "/tmp/kdc_test_frontend_XXXXXX", path[256], sub[256];
    assert_non_null(mkdtemp(dir));
    float w[6] = {1, 2, 3, 4, 5, 6};
    uint8_t blob[8 + sizeof w + 4] = {0};
    memcpy(blob + 8, w, sizeof w);
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    write_bytes(path, blob, sizeof blob);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/sub/b.bin", dir);
    write_bytes(path, w, 8);

    Onnx__ModelProto *mp = new_model();
    Onnx__TensorProto *a = raw_tensor("a", DT_FLOAT, "2,3", NULL, 0);
    add_external(a, "location", "weights.bin");
    add_external(a, "offset", "8");
    add_external(a, "length", "24");
    add_external(a, "checksum", "ignored");
    Onnx__TensorProto *b = raw_tensor("b", DT_FLOAT, "2", NULL, 0);
    add_external(b, "location", "./sub/b.bin");
    push(&mp->graph->initializer, &mp->graph->n_initializer, a);
    push(&mp->graph->initializer, &mp->graph->n_initializer, b);
    push(&mp->graph->output, &mp->graph->n_output, vinfo("a", NULL));
    push(&mp->graph->output, &mp->graph->n_output, vinfo("b", NULL));
    size_t len;
    uint8_t *buf = pack(&mp->base, &len);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    write_bytes(path, buf, len);

    Model *m = NULL;
    Diag d = {{0}};
    if (onnx_import_file(path, &m, &d))
        fail_msg("%s", d.msg);
    assert_memory_equal(m->graph->inits[0]->init->data, w, 24);
    assert_memory_equal(m->graph->inits[1]->init->data, w, 8);
    model_free(m);
    /* from a buffer there is no folder to look in */
    assert_int_equal(onnx_import_buffer(buf, len, "mem.onnx", NULL, &m, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "mem.onnx: initializer 'a': uses external data 'weights.bin'"));

    unlink(path);
    snprintf(path, sizeof path, "%s/sub/b.bin", dir);
    unlink(path);
    rmdir(sub);
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- validation errors built in memory ---- */

static void test_tensor_errors(void **state)
{
    (void)state;
    float f[4] = {0};
    Onnx__TensorProto *t = raw_tensor("w", DT_FLOAT, "4", f, sizeof f);
    set_typed(t, F_FLOAT, f, 4);
    import_fails(init_model(t), "initializer 'w': holds both raw_data and float_data");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    set_typed(t, F_INT64, f, 1);
    import_fails(init_model(t), "initializer 'w': int64_data cannot hold float values");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    set_typed(t, F_INT64, f, 1);
    set_typed(t, F_DOUBLE, f, 1);
    import_fails(init_model(t), "initializer 'w': holds both int64_data and double_data");
    import_fails(init_model(raw_tensor("w", DT_STRING, "1", "x", 1)), "string tensors must use string_data");
    t = raw_tensor("w", DT_COMPLEX64, "2", NULL, 0);
    set_typed(t, F_FLOAT, f, 2);
    import_fails(init_model(t), "initializer 'w': float_data holds 2 values but dims [2] of complex64 need 4");
    import_fails(init_model(raw_tensor("w", DT_UNDEFINED, "1", f, 4)), "initializer 'w': unknown data_type 0");
    t = raw_tensor("w", DT_FLOAT, "1", f, 4);
    t->segment = alloc(sizeof *t->segment);
    onnx__tensor_proto__segment__init(t->segment);
    import_fails(init_model(t), "segmented tensors are not supported");
    t = raw_tensor("w", DT_FLOAT, "1", f, 4);
    add_external(t, "location", "w.bin");
    import_fails(init_model(t), "initializer 'w': holds both external and inline data");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    add_external(t, "location", "a/../../w.bin");
    import_fails(init_model(t), "leaves the model's folder");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    add_external(t, "location", "/etc/passwd");
    import_fails(init_model(t), "leaves the model's folder");
    t = raw_tensor("w", DT_FLOAT, "1", NULL, 0);
    add_external(t, "location", "w.bin");
    add_external(t, "offset", "-4");
    import_fails(init_model(t), "external data offset '-4' is not a byte count");
}

static void test_graph_errors(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    push(&mp->graph->output, &mp->graph->n_output, vinfo("q", NULL));
    import_fails(mp, "graph output 'q' is not defined");

    mp = small_model();
    mp->graph->node[1]->op_type = S("");
    import_fails(mp, "node 'a' (): node has no op_type");

    mp = small_model();
    push(&mp->graph->input, &mp->graph->n_input, vinfo("x", NULL));
    import_fails(mp, "graph input 'x': value 'x' is defined more than once");

    mp = small_model();
    push(&mp->graph->input, &mp->graph->n_input, vinfo("v", tensor_type(1, "2,-1")));
    import_fails(mp, "graph input 'v': negative dimension -1 in its shape");

    mp = small_model();
    push(&mp->graph->input, &mp->graph->n_input, vinfo("v", tensor_type(42, "2")));
    import_fails(mp, "graph input 'v': unknown data_type 42");

    mp = small_model();
    add_attr(add_node(mp->graph, "Constant", "k", "", "kv"), "value", 4);
    import_fails(mp, "node 'k' (Constant) attribute 'value': attribute of type 4 carries no value");

    mp = small_model();
    Onnx__GraphProto *then = branch("then", "Relu");
    then->node[0]->input[0] = S("missing");
    add_attr(add_node(mp->graph, "If", "if", "x", "o"), "then_branch", 5)->g = then;
    import_fails(mp, "subgraph 'then': node #0 (Relu): input 'missing' is not defined");

    mp = small_model();
    then = branch("then", "Relu");
    push(&then->value_info, &then->n_value_info, vinfo("x", NULL));
    add_attr(add_node(mp->graph, "If", "if", "x", "o"), "then_branch", 5)->g = then;
    import_fails(mp, "subgraph 'then': value_info 'x' describes a value of an enclosing graph");

    mp = small_model();
    then = branch("then", "Relu");
    then->node[0]->output[0] = S("t"); /* shadows the outer "t" */
    add_attr(add_node(mp->graph, "If", "if", "x", "o"), "then_branch", 5)->g = then;
    import_fails(mp, "value 't' is defined more than once");
}

/* ---- the committed bad fixtures (tests/bad, written by make_bad_models.py) ---- */

static void bad_dir(char *buf, size_t cap)
{
    /* __FILE__ is tests/unit/test_frontend.c as given to the compiler */
    const char *unit = strstr(__FILE__, "unit/test_frontend.c");
    snprintf(buf, cap, "%.*sbad", unit ? (int)(unit - __FILE__) : 0, __FILE__);
}

static void check_fixture(const char *dir, const char *file, const char *expect)
{
    char path[2048];
    Model *m = (Model *)1;
    Diag d = {{0}};
    snprintf(path, sizeof path, "%s/%s", dir, file);
    assert_int_equal(onnx_import_file(path, &m, &d), KDC_ERR);
    assert_null(m);
    size_t plen = strlen(path);
    if (strncmp(d.msg, path, plen) || strncmp(d.msg + plen, ": ", 2) || !strstr(d.msg, expect) ||
        strchr(d.msg, '\n'))
        fail_msg("%s: got '%s', want the file name and '%s' on one line", file, d.msg, expect);
}

static void test_bad_fixtures(void **state)
{
    (void)state;
    char dir[900], list[1024], line[1024];
    bad_dir(dir, sizeof dir);
    snprintf(list, sizeof list, "%s/expected.txt", dir);
    FILE *f = fopen(list, "r");
    if (!f)
        fail_msg("cannot open %s (run the tests from the project root)", list);
    char seen[64][128];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = 0;
        check_fixture(dir, line, tab + 1);
        if (n < 64 && strlen(line) < sizeof seen[0])
            memcpy(seen[n++], line, strlen(line) + 1);
    }
    fclose(f);
    assert_true(n >= 20);
    /* every .onnx fixture must have an expected message */
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    for (struct dirent *e; (e = readdir(dp));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".onnx"))
            continue;
        bool listed = false;
        for (int i = 0; i < n && !listed; i++)
            listed = !strcmp(seen[i], e->d_name);
        if (!listed)
            fail_msg("%s/%s has no line in expected.txt", dir, e->d_name);
    }
    closedir(dp);
}

/* ---- robustness: mutated and truncated files never crash ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void import_any(const uint8_t *buf, size_t len)
{
    Model *m = NULL;
    Diag d = {{0}};
    if (onnx_import_buffer(buf, len, "fuzz.onnx", NULL, &m, &d) == KDC_OK)
        model_free(m);
    else if (strncmp(d.msg, "fuzz.onnx: ", 11) || strchr(d.msg, '\n'))
        fail_msg("bad message: '%s'", d.msg);
}

static void test_mutations_never_crash(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = small_model();
    add_every_attr(add_node(mp->graph, "Custom", "c", "y", "z"));
    push(&mp->graph->input, &mp->graph->n_input, vinfo("seq", sequence_type()));
    size_t len;
    uint8_t *good = pack(&mp->base, &len);
    uint8_t *buf = malloc(len);
    for (size_t cut = 0; cut < len; cut++)
        import_any(good, cut);
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, good, len);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++)
            buf[rng() % len] = (uint8_t)rng();
        import_any(buf, len);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shapes_and_value_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initializer_as_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsorted_nodes_and_optional_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_attribute_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opaque_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_and_raw_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_external_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tensor_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fixtures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutations_never_crash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
