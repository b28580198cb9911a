/* test_backend.c - unit tests of the ONNX backend (backend/onnx_export.h)
 * and of crash-safe writes (backend/atomic_file.h).
 *
 * Models are built with ir/graph.c calls, exported, and the bytes read back
 * with protobuf-c to check every field; export -> import must print the same
 * IR; files must appear whole or not at all.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/atomic_file.h"
#include "backend/onnx_export.h"
#include "frontend/onnx_import.h"
#include "onnx.pb-c.h"

#ifndef KDC_VERSION
#define KDC_VERSION "dev"
#endif

/* ---- building IR ---- */

static Bytes pack_msg(Arena *a, const ProtobufCMessage *msg)
{
    Bytes b = {NULL, protobuf_c_message_get_packed_size(msg)};
    uint8_t *p = arena_alloc(a, b.len);
    protobuf_c_message_pack(msg, p);
    b.data = p;
    return b;
}

static Bytes sequence_type_blob(Arena *a)
{
    Onnx__TypeProto tp, elem;
    Onnx__TypeProto__Sequence seq;
    Onnx__TypeProto__Tensor tt;
    onnx__type_proto__init(&tp);
    onnx__type_proto__init(&elem);
    onnx__type_proto__sequence__init(&seq);
    onnx__type_proto__tensor__init(&tt);
    tt.has_elem_type = 1;
    tt.elem_type = DT_FLOAT;
    elem.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    elem.tensor_type = &tt;
    seq.elem_type = &elem;
    tp.value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    tp.sequence_type = &seq;
    return pack_msg(a, &tp.base);
}

static Bytes sparse_blob(Arena *a)
{
    Onnx__SparseTensorProto sp;
    onnx__sparse_tensor_proto__init(&sp);
    int64_t dims[1] = {5};
    sp.dims = dims;
    sp.n_dims = 1;
    return pack_msg(a, &sp.base);
}

static Value *tensor_value(Graph *g, const char *name, DType dt, int rank, const char *const *dims)
{
    Value *v = graph_add_value(g, name, NULL);
    v->kind = TYPE_TENSOR;
    v->dtype = dt;
    v->shape.rank = rank;
    for (int i = 0; i < rank; i++) {
        v->shape.dims[i].value = dims[i][0] >= '0' && dims[i][0] <= '9' ? atoll(dims[i]) : -1;
        v->shape.dims[i].param = dims[i][0] >= 'A' ? arena_strdup(g->arena, dims[i]) : NULL;
    }
    return v;
}

static Value *float_init(Graph *g, const char *name, int64_t n)
{
    Value *v = graph_add_value(g, name, NULL);
    v->init = tensor_new(g->arena, DT_FLOAT, 1, &n);
    for (int64_t i = 0; i < n; i++)
        ((float *)v->init->data)[i] = (float)i + 0.5f;
    v->init->name = v->name;
    v->kind = TYPE_TENSOR;
    v->dtype = DT_FLOAT;
    v->shape = shape_from_dims(1, &n);
    return v;
}

/* A subgraph reading the outer "x". */
static Graph *branch(Graph *parent, const char *name)
{
    Graph *b = graph_new(parent->arena, parent);
    b->name = arena_strdup(parent->arena, name);
    Node *n = graph_add_node(b, "Neg", "", 1, 1);
    n->inputs[0] = graph_find_value(b, "x");
    node_set_output(n, 0, graph_add_value(b, "b_out", NULL));
    b->outputs = arena_alloc(b->arena, sizeof *b->outputs);
    b->outputs[b->n_outputs++] = n->outputs[0];
    return b;
}

static void add_every_attr(Node *n, Graph *g)
{
    Arena *a = g->arena;
    static float fl[2] = {0.5f, -1};
    static int64_t in[2] = {4, -4};
    int64_t one = 1;
    node_add_attr(n, "f", ATTR_FLOAT)->f = 0.25f;
    node_add_attr(n, "i", ATTR_INT)->i = -3;
    Attr *at = node_add_attr(n, "s", ATTR_STRING);
    at->s = (Bytes){(const uint8_t *)"abc", 3};
    at->doc = "attr doc";
    node_add_attr(n, "t", ATTR_TENSOR)->t = tensor_new(a, DT_INT64, 1, &one);
    node_add_attr(n, "g", ATTR_GRAPH)->g = branch(g, "then");
    at = node_add_attr(n, "floats", ATTR_FLOATS);
    at->floats = fl, at->n = 2;
    at = node_add_attr(n, "ints", ATTR_INTS);
    at->ints = in, at->n = 2;
    at = node_add_attr(n, "strings", ATTR_STRINGS);
    at->strings = arena_alloc(a, 2 * sizeof *at->strings), at->n = 2;
    at->strings[0] = (Bytes){(const uint8_t *)"p", 1};
    at = node_add_attr(n, "tensors", ATTR_TENSORS);
    at->tensors = arena_alloc(a, sizeof *at->tensors), at->n = 1;
    at->tensors[0] = tensor_new(a, DT_FLOAT16, 1, &one);
    at = node_add_attr(n, "graphs", ATTR_GRAPHS);
    at->graphs = arena_alloc(a, 2 * sizeof *at->graphs), at->n = 2;
    at->graphs[0] = branch(g, "b0");
    at->graphs[1] = branch(g, "b1");
    AttrKind blob_kinds[4] = {ATTR_SPARSE_TENSOR, ATTR_SPARSE_TENSORS, ATTR_TYPE_PROTO, ATTR_TYPE_PROTOS};
    const char *blob_names[4] = {"sparse", "sparses", "tp", "tps"};
    for (int k = 0; k < 4; k++) {
        at = node_add_attr(n, blob_names[k], blob_kinds[k]);
        at->n = 1;
        at->blobs = arena_alloc(a, sizeof *at->blobs);
        at->blobs[0] = k < 2 ? sparse_blob(a) : sequence_type_blob(a);
    }
}

static void add_opaque_parts(Model *m)
{
    Arena *a = m->arena;
    Graph *g = m->graph;
    Onnx__FunctionProto fn;
    onnx__function_proto__init(&fn);
    fn.name = "Fn";
    fn.domain = "local";
    m->functions = arena_alloc(a, sizeof *m->functions);
    m->functions[m->n_functions++] = pack_msg(a, &fn.base);
    Onnx__TrainingInfoProto ti;
    onnx__training_info_proto__init(&ti);
    m->training_info = arena_alloc(a, sizeof *m->training_info);
    m->training_info[m->n_training_info++] = pack_msg(a, &ti.base);
    g->sparse_inits = arena_alloc(a, sizeof *g->sparse_inits);
    g->sparse_inits[g->n_sparse_inits++] = sparse_blob(a);
    Onnx__TensorAnnotation qa;
    onnx__tensor_annotation__init(&qa);
    qa.tensor_name = "w";
    g->quant_annotations = arena_alloc(a, sizeof *g->quant_annotations);
    g->quant_annotations[g->n_quant_annotations++] = pack_msg(a, &qa.base);
}

static void set_model_fields(Model *m)
{
    Arena *a = m->arena;
    m->ir_version = 8;
    m->opsets = arena_alloc(a, 2 * sizeof *m->opsets);
    m->opsets[0] = (OpsetImport){"", 13};
    m->opsets[1] = (OpsetImport){"com.x", 2};
    m->n_opsets = 2;
    m->producer_name = "someone";
    m->producer_version = "9";
    m->domain = "org.test";
    m->model_version = 3;
    m->doc = "model doc";
    m->metadata = arena_alloc(a, sizeof *m->metadata);
    m->metadata[0] = (StringPair){"k", "v"};
    m->n_metadata = 1;
}

/* x[N,3], w (initializer and input), seq (opaque) -> Relu -> t -> Add(w) -> y
 *   -> Custom{every attribute} -> z; Dropout with an omitted output. */
static Model *build_model(void)
{
    Model *m = model_new();
    Graph *g = m->graph;
    set_model_fields(m);
    g->name = "main";
    g->doc = "graph doc";
    const char *nx[2] = {"N", "3"};
    Value *x = tensor_value(g, "x", DT_FLOAT, 2, nx);
    x->doc = "input doc";
    Value *w = float_init(g, "w", 3);
    Value *seq = graph_add_value(g, "seq", NULL);
    seq->kind = TYPE_OPAQUE;
    seq->opaque_type = sequence_type_blob(m->arena);
    g->inputs = arena_alloc(m->arena, 3 * sizeof *g->inputs);
    g->inputs[g->n_inputs++] = x;
    g->inputs[g->n_inputs++] = w;
    g->inputs[g->n_inputs++] = seq;
    g->inits = arena_alloc(m->arena, sizeof *g->inits);
    g->inits[g->n_inits++] = w;
    Node *relu = graph_add_node(g, "Relu", "", 1, 1);
    relu->name = "relu";
    relu->doc = "node doc";
    relu->inputs[0] = x;
    node_set_output(relu, 0, tensor_value(g, "t", DT_FLOAT, 2, nx));
    relu->outputs[0]->in_value_info = true;
    Node *add = graph_add_node(g, "Add", "", 2, 1);
    add->inputs[0] = relu->outputs[0];
    add->inputs[1] = w;
    node_set_output(add, 0, tensor_value(g, "y", DT_FLOAT, 2, nx));
    Node *custom = graph_add_node(g, "Custom", "com.x", 1, 1);
    custom->inputs[0] = add->outputs[0];
    node_set_output(custom, 0, graph_add_value(g, "z", NULL));
    add_every_attr(custom, g);
    Node *drop = graph_add_node(g, "Dropout", "", 1, 2);
    drop->inputs[0] = add->outputs[0];
    node_set_output(drop, 0, graph_add_value(g, "d", NULL));
    g->outputs = arena_alloc(m->arena, 3 * sizeof *g->outputs);
    g->outputs[g->n_outputs++] = add->outputs[0];
    g->outputs[g->n_outputs++] = custom->outputs[0];
    g->outputs[g->n_outputs++] = drop->outputs[0];
    add_opaque_parts(m);
    return m;
}

static Onnx__ModelProto *export_and_parse(const Model *m)
{
    uint8_t *buf;
    size_t len;
    Diag d = {{0}};
    if (onnx_export_buffer(m, &buf, &len, &d))
        fail_msg("export failed: %s", d.msg);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(mp);
    return mp;
}

static bool same_bytes(const ProtobufCMessage *msg, Bytes want)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *p = malloc(len ? len : 1);
    protobuf_c_message_pack(msg, p);
    bool same = len == want.len && !memcmp(p, want.data, len);
    free(p);
    return same;
}

/* ---- export: every field ---- */

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    fail_msg("attribute %s missing", name);
    return NULL;
}

static void check_model_fields(const Onnx__ModelProto *mp)
{
    assert_int_equal(mp->ir_version, 8);
    assert_string_equal(mp->producer_name, "kdc");
    assert_string_equal(mp->producer_version, KDC_VERSION);
    assert_string_equal(mp->domain, "org.test");
    assert_int_equal(mp->model_version, 3);
    assert_string_equal(mp->doc_string, "model doc");
    assert_int_equal(mp->n_opset_import, 2);
    assert_string_equal(mp->opset_import[1]->domain, "com.x");
    assert_int_equal(mp->opset_import[1]->version, 2);
    assert_int_equal(mp->n_metadata_props, 1);
    assert_string_equal(mp->metadata_props[0]->value, "v");
    assert_int_equal(mp->n_functions, 1);
    assert_string_equal(mp->functions[0]->name, "Fn");
    assert_int_equal(mp->n_training_info, 1);
}

static void check_graph_fields(const Onnx__GraphProto *g, Arena *a)
{
    assert_string_equal(g->name, "main");
    assert_string_equal(g->doc_string, "graph doc");
    assert_int_equal(g->n_input, 3);
    assert_string_equal(g->input[0]->doc_string, "input doc");
    const Onnx__TensorShapeProto *s = g->input[0]->type->tensor_type->shape;
    assert_int_equal(s->n_dim, 2);
    assert_int_equal(s->dim[0]->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
    assert_string_equal(s->dim[0]->dim_param, "N");
    assert_int_equal(s->dim[1]->dim_value, 3);
    assert_string_equal(g->input[1]->name, "w"); /* initializer stays a graph input */
    assert_true(same_bytes(&g->input[2]->type->base, sequence_type_blob(a)));
    assert_int_equal(g->n_initializer, 1);
    const Onnx__TensorProto *w = g->initializer[0];
    assert_string_equal(w->name, "w");
    assert_true(w->has_raw_data);
    assert_int_equal(w->raw_data.len, 12);
    assert_int_equal(w->n_float_data, 0);
    assert_int_equal(g->n_value_info, 1);
    assert_string_equal(g->value_info[0]->name, "t");
    assert_int_equal(g->n_output, 3);
    assert_null(g->output[1]->type); /* z has no type */
    assert_int_equal(g->n_sparse_initializer, 1);
    assert_true(same_bytes(&g->sparse_initializer[0]->base, sparse_blob(a)));
    assert_int_equal(g->n_quantization_annotation, 1);
    assert_string_equal(g->quantization_annotation[0]->tensor_name, "w");
    assert_int_equal(g->n_node, 4);
    assert_string_equal(g->node[0]->name, "relu");
    assert_string_equal(g->node[0]->doc_string, "node doc");
    assert_string_equal(g->node[2]->domain, "com.x");
    assert_int_equal(g->node[3]->n_output, 2);
    assert_string_equal(g->node[3]->output[1], "");
}

static void check_attrs(const Onnx__NodeProto *n, Arena *a)
{
    assert_int_equal(n->n_attribute, 14);
    const Onnx__AttributeProto *at = find_attr(n, "f");
    assert_true(at->has_type && at->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT && at->has_f);
    assert_true(at->f == 0.25f);
    assert_int_equal(find_attr(n, "i")->i, -3);
    assert_memory_equal(find_attr(n, "s")->s.data, "abc", 3);
    assert_string_equal(find_attr(n, "s")->doc_string, "attr doc");
    assert_int_equal(find_attr(n, "t")->t->data_type, DT_INT64);
    assert_int_equal(find_attr(n, "t")->t->raw_data.len, 8);
    const Onnx__GraphProto *then = find_attr(n, "g")->g;
    assert_string_equal(then->name, "then");
    assert_string_equal(then->node[0]->input[0], "x");
    assert_int_equal(find_attr(n, "floats")->n_floats, 2);
    assert_int_equal(find_attr(n, "ints")->ints[1], -4);
    assert_int_equal(find_attr(n, "strings")->n_strings, 2);
    assert_int_equal(find_attr(n, "strings")->strings[1].len, 0);
    assert_int_equal(find_attr(n, "tensors")->tensors[0]->raw_data.len, 2);
    assert_int_equal(find_attr(n, "graphs")->n_graphs, 2);
    assert_string_equal(find_attr(n, "graphs")->graphs[1]->name, "b1");
    assert_true(same_bytes(&find_attr(n, "sparse")->sparse_tensor->base, sparse_blob(a)));
    assert_int_equal(find_attr(n, "sparses")->n_sparse_tensors, 1);
    assert_true(same_bytes(&find_attr(n, "tp")->tp->base, sequence_type_blob(a)));
    assert_int_equal(find_attr(n, "tps")->n_type_protos, 1);
}

static void test_export_fields(void **state)
{
    (void)state;
    Model *m = build_model();
    Onnx__ModelProto *mp = export_and_parse(m);
    check_model_fields(mp);
    check_graph_fields(mp->graph, m->arena);
    check_attrs(mp->graph->node[2], m->arena);
    onnx__model_proto__free_unpacked(mp, NULL);
    model_free(m);
}

/* Every dtype is written as raw_data of numel * size bytes; strings as string_data. */
static void test_export_every_dtype(void **state)
{
    (void)state;
    Model *m = model_new();
    Graph *g = m->graph;
    m->ir_version = 8;
    int64_t dims[2] = {2, 3};
    g->inits = arena_alloc(m->arena, DT_COUNT_ * sizeof *g->inits);
    for (int dt = DT_FLOAT; dt < DT_COUNT_; dt++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", dt);
        Value *v = graph_add_value(g, name, NULL);
        v->init = tensor_new(m->arena, (DType)dt, 2, dims);
        g->inits[g->n_inits++] = v;
    }
    Value *sv = graph_find_value(g, "t8");
    sv->init->strings[5] = (Bytes){(const uint8_t *)"hello", 5};
    Onnx__ModelProto *mp = export_and_parse(m);
    assert_int_equal(mp->graph->n_initializer, DT_COUNT_ - 1);
    for (size_t i = 0; i < mp->graph->n_initializer; i++) {
        const Onnx__TensorProto *t = mp->graph->initializer[i];
        assert_int_equal(t->n_dims, 2);
        if (t->data_type == DT_STRING) {
            assert_false(t->has_raw_data);
            assert_int_equal(t->n_string_data, 6);
            assert_memory_equal(t->string_data[5].data, "hello", 5);
        } else {
            assert_true(t->has_raw_data);
            assert_int_equal(t->raw_data.len, 6 * dtype_size((DType)t->data_type));
        }
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    model_free(m);
}

static char *print_without_producer(const Model *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ir_print(m, f);
    fclose(f);
    char *p = strstr(text, "\nproducer ");
    assert_non_null(p);
    char *eol = strchr(p + 1, '\n');
    memmove(p, eol, strlen(eol) + 1);
    return text;
}

static void test_export_import_same_ir(void **state)
{
    (void)state;
    Model *m = build_model(), *back = NULL;
    uint8_t *buf;
    size_t len;
    Diag d = {{0}};
    assert_int_equal(onnx_export_buffer(m, &buf, &len, &d), KDC_OK);
    if (onnx_import_buffer(buf, len, "mem.onnx", NULL, &back, &d))
        fail_msg("re-import failed: %s", d.msg);
    free(buf);
    assert_string_equal(back->producer_name, "kdc");
    char *a = print_without_producer(m), *b = print_without_producer(back);
    assert_string_equal(a, b);
    free(a);
    free(b);
    model_free(m);
    model_free(back);
}

static void test_export_errors(void **state)
{
    (void)state;
    Diag d = {{0}};
    uint8_t *buf;
    size_t len;
    Model *m = build_model();
    m->graph->inits[0]->init->nbytes = 8;
    assert_int_equal(onnx_export_buffer(m, &buf, &len, &d), KDC_ERR);
    assert_string_equal(d.msg, "tensor 'w': holds 8 bytes but its dims need 12");
    model_free(m);
    m = build_model();
    Value *seq = graph_find_value(m->graph, "seq");
    seq->opaque_type = (Bytes){(const uint8_t *)"\xff\xff", 2};
    assert_int_equal(onnx_export_buffer(m, &buf, &len, &d), KDC_ERR);
    assert_string_equal(d.msg, "value 'seq': the kept onnx.TypeProto bytes do not parse");
    model_free(m);
}

/* ---- files: whole or not at all ---- */

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    for (struct dirent *e; (e = readdir(dp));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(dp);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *buf = malloc(*len + 1);
    assert_int_equal(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void test_export_file_atomic(void **state)
{
    (void)state;
    char dir[] = "/tmp/kdc_test_backend_XXXXXX", path[256], bad[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/student.onnx", dir);
    Model *m = build_model(), *back = NULL;
    Diag d = {{0}};
    assert_int_equal(onnx_export_file(m, path, &d), KDC_OK);
    assert_int_equal(onnx_export_file(m, path, &d), KDC_OK); /* replaces */
    assert_int_equal(count_entries(dir), 1);
    if (onnx_import_file(path, &back, &d))
        fail_msg("%s", d.msg);
    model_free(back);
    size_t len0, len1;
    char *before = slurp(path, &len0);
    m->graph->inits[0]->init->nbytes = 4; /* export now fails */
    assert_int_equal(onnx_export_file(m, path, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "student.onnx: tensor 'w'"));
    char *after = slurp(path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    assert_int_equal(count_entries(dir), 1);
    snprintf(bad, sizeof bad, "%s/missing/student.onnx", dir);
    m->graph->inits[0]->init->nbytes = 12;
    assert_int_equal(onnx_export_file(m, bad, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, bad));
    free(before);
    free(after);
    model_free(m);
    unlink(path);
    rmdir(dir);
}

static void test_atomic_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/kdc_test_atomic_XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ckpt.bin", dir);
    Diag d = {{0}};
    AtomicFile af;
    assert_int_equal(atomic_file_open(&af, path, &d), KDC_OK);
    fputs("partial", af.f);
    atomic_file_abort(&af);
    assert_int_equal(count_entries(dir), 0);
    assert_int_equal(atomic_file_write(path, "old", 3, &d), KDC_OK);
    assert_int_equal(atomic_file_open(&af, path, &d), KDC_OK);
    fputs("new but abandoned", af.f);
    atomic_file_abort(&af);
    size_t len;
    char *text = slurp(path, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(text, "old", 3);
    free(text);
    assert_int_equal(atomic_file_open(&af, path, &d), KDC_OK);
    fputs("new", af.f);
    fputs(" and whole", af.f);
    assert_int_equal(atomic_file_commit(&af, &d), KDC_OK);
    text = slurp(path, &len);
    assert_int_equal(len, 13);
    assert_memory_equal(text, "new and whole", 13);
    free(text);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(atomic_file_open(&af, dir, &d), KDC_OK); /* a folder as target: rename fails */
    assert_int_equal(atomic_file_commit(&af, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "rename failed"));
    assert_int_equal(count_entries(dir), 1);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_fields),         cmocka_unit_test(test_export_every_dtype),
        cmocka_unit_test(test_export_import_same_ir), cmocka_unit_test(test_export_errors),
        cmocka_unit_test(test_export_file_atomic),    cmocka_unit_test(test_atomic_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
