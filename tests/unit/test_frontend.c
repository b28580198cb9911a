/* test_frontend.c - unit tests of the ONNX frontend (frontend/onnx_import.h)
 * on valid models.
 *
 * Models are built in memory with protobuf-c (tests/unit/onnx_build.h),
 * packed and imported from the buffer; external data is read from files.
 * Covers model fields, symbolic dims, value_info, initializers that are graph
 * inputs, node order, every attribute kind, outer-scope names in subgraphs,
 * every data type through raw and typed fields, and the opaque parts kept as
 * packed bytes. Errors are in test_frontend_errors.c.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "ir/ops.h"
#include "tests/unit/onnx_build.h"

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

typedef struct DataCase {
    int dtype;
    Field field;
    const char *dims;
    const void *typed;
    size_t n_typed;
    const void *expect; /* little-endian element bytes */
    size_t expect_len;
} DataCase;

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
        {DT_FLOAT, F_FLOAT, "2,2", f32, 4, f32, 16},   {DT_COMPLEX64, F_FLOAT, "2", f32, 4, f32, 16},
        {DT_DOUBLE, F_DOUBLE, "4", f64, 4, f64, 32},   {DT_COMPLEX128, F_DOUBLE, "1,2", f64, 4, f64, 32},
        {DT_INT32, F_INT32, "2", i32, 2, i32, 8},      {DT_INT16, F_INT32, "2", i16, 2, i16_le, 4},
        {DT_UINT16, F_INT32, "2", u16, 2, u16_le, 4},  {DT_INT8, F_INT32, "2", i8, 2, i8_le, 2},
        {DT_UINT8, F_INT32, "2", u8, 2, u8_le, 2},     {DT_BOOL, F_INT32, "2", b, 2, b_le, 2},
        {DT_FLOAT16, F_INT32, "2", h, 2, h_le, 4},     {DT_BFLOAT16, F_INT32, "2", bf, 2, bf_le, 4},
        {DT_INT64, F_INT64, "2", i64, 2, i64, 16},     {DT_UINT32, F_UINT64, "2", u32, 2, u32_le, 8},
        {DT_UINT64, F_UINT64, "2,1", u64, 2, u64, 16}, {DT_FLOAT, F_FLOAT, "0,3", f32, 0, f32, 0},
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
