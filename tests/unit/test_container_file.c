/* test_container_file.c - frontend/container_file.h: SequenceProto and
 * OptionalProto files read back into sequences and optionals, and the
 * declared kind of opaque graph values.
 *
 * The byte images are built here: element TensorProtos packed by protobuf-c,
 * wrapped in hand-written tags with the field numbers of onnx-data.proto
 * (which Debian's onnx.proto, and so protobuf-c, does not have). Bad images
 * must fail with one line naming the file; every prefix of a good image must
 * read or fail, never crash. One real file of Debian's libonnx-testdata per
 * kind is read too when the package is installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend/container_file.h"
#include "ir/container.h"
#include "onnx.pb-c.h"
#include "tests/unit/temp_dir.h"

#define TESTDATA "/usr/share/libonnx-testdata/data/node/"

/* Field numbers shared by SequenceProto and OptionalProto, and their DataType. */
enum { F_NAME = 1, F_ELEM_TYPE = 2, F_TENSOR = 3, F_SPARSE = 4, F_SEQUENCE = 5, F_MAP = 6, F_OPTIONAL = 7 };
enum { ELEM_UNDEFINED, ELEM_TENSOR, ELEM_SPARSE, ELEM_SEQUENCE, ELEM_MAP, ELEM_OPTIONAL };

typedef struct Image {
    uint8_t bytes[4096];
    size_t len;
} Image;

/* ---- building images ---- */

static void put_byte(Image *im, uint8_t b)
{
    assert_true(im->len < sizeof im->bytes);
    im->bytes[im->len++] = b;
}

static void put_varint(Image *im, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        put_byte(im, (uint8_t)(v | 0x80));
    put_byte(im, (uint8_t)v);
}

static void put_int(Image *im, unsigned field, uint64_t v)
{
    put_varint(im, (uint64_t)field << 3 | 0);
    put_varint(im, v);
}

static void put_bytes(Image *im, unsigned field, const void *p, size_t n)
{
    put_varint(im, (uint64_t)field << 3 | 2);
    put_varint(im, n);
    assert_true(im->len + n <= sizeof im->bytes);
    memcpy(im->bytes + im->len, p, n);
    im->len += n;
}

static void put_image(Image *im, unsigned field, const Image *inner)
{
    put_bytes(im, field, inner->bytes, inner->len);
}

/* A TensorProto with raw data, packed by protobuf-c, as field `field`. */
static void put_tensor(Image *im, unsigned field, DType dt, int rank, const int64_t *dims, const void *raw,
                       size_t nbytes)
{
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = (size_t)rank;
    tp.dims = (int64_t *)dims;
    tp.has_data_type = 1;
    tp.data_type = dt;
    tp.has_raw_data = 1;
    tp.raw_data = (ProtobufCBinaryData){nbytes, (uint8_t *)raw};
    uint8_t packed[1024];
    size_t n = onnx__tensor_proto__get_packed_size(&tp);
    assert_true(n <= sizeof packed);
    assert_int_equal(onnx__tensor_proto__pack(&tp, packed), n);
    put_bytes(im, field, packed, n);
}

static const float f6[6] = {1, 2, 3, 4, 5, 6};
static const float f4[4] = {-1, -2, -3, -4};
static const int64_t i3[3] = {7, 8, 9};
static const int32_t i2[2] = {10, 11};

/* name "seq", elem_type TENSOR, a float[2,3] and a float[4]. */
static void two_float_sequence(Image *im)
{
    *im = (Image){0};
    put_bytes(im, F_NAME, "seq", 3);
    put_int(im, F_ELEM_TYPE, ELEM_TENSOR);
    put_tensor(im, F_TENSOR, DT_FLOAT, 2, (int64_t[]){2, 3}, f6, sizeof f6);
    put_tensor(im, F_TENSOR, DT_FLOAT, 1, (int64_t[]){4}, f4, sizeof f4);
}

/* An optional named "opt" holding a sequence of two int32[1]. */
static void optional_of_sequence(Image *im)
{
    Image seq = {0};
    put_int(&seq, F_ELEM_TYPE, ELEM_TENSOR);
    put_tensor(&seq, F_TENSOR, DT_INT32, 1, (int64_t[]){1}, &i2[0], 4);
    put_tensor(&seq, F_TENSOR, DT_INT32, 1, (int64_t[]){1}, &i2[1], 4);
    *im = (Image){0};
    put_bytes(im, F_NAME, "opt", 3);
    put_int(im, F_ELEM_TYPE, ELEM_SEQUENCE);
    put_image(im, F_SEQUENCE, &seq);
}

/* ---- reading them back ---- */

typedef struct Read {
    Model *m;
    Tensor *v;
    Diag d;
    char path[128];
    Status st;
} Read;

static Read read_image(const Image *im, Holds expect, const char *file)
{
    Read r = {.m = model_new()};
    assert_non_null(r.m);
    temp_path(r.path, sizeof r.path, file);
    temp_write_file(r.path, im->bytes, im->len);
    r.st = container_file_read(r.path, r.m, expect, &r.v, &r.d);
    return r;
}

static Tensor *read_ok(Read *r)
{
    if (r->st != KDC_OK)
        fail_msg("%s", r->d.msg);
    assert_non_null(r->v);
    assert_int_equal(r->v->rank, 0);
    assert_null(r->v->data);
    return r->v;
}

/* Fails unless reading gives one line naming the file and saying `needle`. */
static void read_fails(const Image *im, Holds expect, const char *needle)
{
    Read r = read_image(im, expect, "bad.pb");
    assert_int_equal(r.st, KDC_ERR);
    if (strncmp(r.d.msg, r.path, strlen(r.path)) || !strstr(r.d.msg, needle))
        fail_msg("message \"%s\" should start with %s and say \"%s\"", r.d.msg, r.path, needle);
    assert_null(strchr(r.d.msg, '\n'));
    model_free(r.m);
}

static void assert_tensor(const Tensor *t, DType dt, int rank, const int64_t *dims, const void *data, size_t n)
{
    assert_int_equal(t->holds, HOLDS_TENSOR);
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->rank, rank);
    assert_memory_equal(t->dims, dims, (size_t)rank * sizeof *dims);
    assert_int_equal(t->nbytes, n);
    assert_memory_equal(t->data, data, n);
}

static void test_sequence_of_two_shapes(void **state)
{
    (void)state;
    Image im;
    two_float_sequence(&im);
    Read r = read_image(&im, HOLDS_SEQUENCE, "seq.pb");
    Tensor *v = read_ok(&r);
    assert_int_equal(v->holds, HOLDS_SEQUENCE);
    assert_string_equal(v->name, "seq");
    assert_int_equal(v->dtype, DT_FLOAT);
    assert_int_equal(v->n_items, 2);
    assert_tensor(&v->items[0], DT_FLOAT, 2, (int64_t[]){2, 3}, f6, sizeof f6);
    assert_tensor(&v->items[1], DT_FLOAT, 1, (int64_t[]){4}, f4, sizeof f4);
    char text[128];
    container_describe(v, text, sizeof text);
    assert_string_equal(text, "sequence of 2 float tensors");
    model_free(r.m);
}

static void test_sequence_empty(void **state)
{
    (void)state;
    Image im = {0};
    put_bytes(&im, F_NAME, "none", 4);
    put_int(&im, F_ELEM_TYPE, ELEM_TENSOR);
    Read r = read_image(&im, HOLDS_SEQUENCE, "empty.pb");
    Tensor *v = read_ok(&r);
    assert_int_equal(v->holds, HOLDS_SEQUENCE);
    assert_int_equal(v->n_items, 0);
    assert_int_equal(v->dtype, DT_UNDEFINED);
    model_free(r.m);
}

/* Fields a newer ONNX might add, of every wire type, are skipped. */
static void test_sequence_skips_unknown_fields(void **state)
{
    (void)state;
    Image im;
    two_float_sequence(&im);
    put_int(&im, 9, 12345);
    put_varint(&im, 10u << 3 | 1);
    for (int i = 0; i < 8; i++)
        put_byte(&im, 0xff);
    put_varint(&im, 11u << 3 | 5);
    for (int i = 0; i < 4; i++)
        put_byte(&im, 0xee);
    put_bytes(&im, 300, "later", 5);
    Read r = read_image(&im, HOLDS_SEQUENCE, "unknown.pb");
    assert_int_equal(read_ok(&r)->n_items, 2);
    model_free(r.m);
}

static void test_optional_empty(void **state)
{
    (void)state;
    Image im = {0};
    put_bytes(&im, F_NAME, "opt", 3);
    put_int(&im, F_ELEM_TYPE, ELEM_UNDEFINED);
    Read r = read_image(&im, HOLDS_OPTIONAL, "empty_opt.pb");
    Tensor *v = read_ok(&r);
    assert_int_equal(v->holds, HOLDS_OPTIONAL);
    assert_string_equal(v->name, "opt");
    assert_int_equal(v->n_items, 0);
    model_free(r.m);
}

static void test_optional_tensor(void **state)
{
    (void)state;
    Image im = {0};
    put_int(&im, F_ELEM_TYPE, ELEM_TENSOR);
    put_tensor(&im, F_TENSOR, DT_INT64, 1, (int64_t[]){3}, i3, sizeof i3);
    Read r = read_image(&im, HOLDS_OPTIONAL, "opt_tensor.pb");
    Tensor *v = read_ok(&r);
    assert_int_equal(v->holds, HOLDS_OPTIONAL);
    assert_null(v->name);
    assert_int_equal(v->n_items, 1);
    assert_int_equal(v->dtype, DT_INT64);
    assert_tensor(&v->items[0], DT_INT64, 1, (int64_t[]){3}, i3, sizeof i3);
    model_free(r.m);
}

static void test_optional_sequence(void **state)
{
    (void)state;
    Image im;
    optional_of_sequence(&im);
    Read r = read_image(&im, HOLDS_OPTIONAL, "opt_seq.pb");
    Tensor *v = read_ok(&r);
    assert_int_equal(v->holds, HOLDS_OPTIONAL);
    assert_int_equal(v->n_items, 1);
    assert_int_equal(v->dtype, DT_INT32);
    const Tensor *seq = &v->items[0];
    assert_int_equal(seq->holds, HOLDS_SEQUENCE);
    assert_int_equal(seq->n_items, 2);
    assert_int_equal(seq->dtype, DT_INT32);
    assert_tensor(&seq->items[1], DT_INT32, 1, (int64_t[]){1}, &i2[1], 4);
    char text[128];
    container_describe(v, text, sizeof text);
    assert_string_equal(text, "optional (sequence of 2 int32 tensors)");
    model_free(r.m);
}

/* ---- errors ---- */

static void test_malformed(void **state)
{
    (void)state;
    Image im;
    two_float_sequence(&im);
    im.len -= 5; /* inside the last tensor's bytes */
    read_fails(&im, HOLDS_SEQUENCE, "not a valid SequenceProto: malformed or truncated protobuf at byte");
    im = (Image){0};
    for (int i = 0; i < 11; i++)
        put_byte(&im, 0xff); /* a varint that never ends */
    read_fails(&im, HOLDS_OPTIONAL, "not a valid OptionalProto: malformed or truncated");
    im = (Image){0};
    put_int(&im, F_NAME, 3);
    read_fails(&im, HOLDS_SEQUENCE, "field 1 at byte 0 has wire type 0, not 2");
    im = (Image){0};
    put_int(&im, F_ELEM_TYPE, ELEM_TENSOR);
    put_varint(&im, 9u << 3 | 3); /* a group */
    read_fails(&im, HOLDS_SEQUENCE, "malformed or truncated protobuf at byte 3");
    im = (Image){0};
    put_int(&im, 0, 1);
    read_fails(&im, HOLDS_OPTIONAL, "malformed");
    im = (Image){0};
    put_bytes(&im, F_TENSOR, "\xff\xff\xff", 3);
    read_fails(&im, HOLDS_SEQUENCE, "sequence element 0: not a valid TensorProto");
    im = (Image){0};
    put_tensor(&im, F_TENSOR, DT_FLOAT, 1, (int64_t[]){4}, f4, 8);
    read_fails(&im, HOLDS_OPTIONAL, "the optional's tensor");
    Model *m = model_new();
    Tensor *v = NULL;
    Diag d = {{0}};
    assert_int_equal(container_file_read("/nonexistent/x.pb", m, HOLDS_SEQUENCE, &v, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "/nonexistent/x.pb: cannot open"));
    model_free(m);
}

static void test_sequence_unsupported(void **state)
{
    (void)state;
    Image im, inner = {0};
    put_int(&inner, F_ELEM_TYPE, ELEM_TENSOR);
    two_float_sequence(&im);
    put_image(&im, F_SEQUENCE, &inner);
    read_fails(&im, HOLDS_SEQUENCE, "a sequence of sequences: kdc's sequences hold tensors only");
    im = (Image){0};
    put_int(&im, F_ELEM_TYPE, ELEM_SEQUENCE);
    read_fails(&im, HOLDS_SEQUENCE, "a sequence of sequences");
    im = (Image){0};
    put_image(&im, F_SPARSE, &inner);
    read_fails(&im, HOLDS_SEQUENCE, "a sequence of sparse tensors");
    im = (Image){0};
    put_image(&im, F_MAP, &inner);
    read_fails(&im, HOLDS_SEQUENCE, "a sequence of maps");
    im = (Image){0};
    put_image(&im, F_OPTIONAL, &inner);
    read_fails(&im, HOLDS_SEQUENCE, "a sequence of optionals");
    im = (Image){0};
    put_int(&im, F_ELEM_TYPE, 17);
    read_fails(&im, HOLDS_SEQUENCE, "SequenceProto: unknown elem_type 17");
    two_float_sequence(&im);
    put_tensor(&im, F_TENSOR, DT_INT64, 1, (int64_t[]){3}, i3, sizeof i3);
    read_fails(&im, HOLDS_SEQUENCE, "sequence element 2 is int64 but element 0 is float");
}

static void test_optional_unsupported(void **state)
{
    (void)state;
    Image im = {0}, inner = {0};
    put_int(&im, F_ELEM_TYPE, ELEM_OPTIONAL);
    put_image(&im, F_OPTIONAL, &inner);
    read_fails(&im, HOLDS_OPTIONAL, "an optional of optionals: kdc's optionals hold a tensor or a sequence");
    im = (Image){0};
    put_int(&im, F_ELEM_TYPE, ELEM_MAP);
    read_fails(&im, HOLDS_OPTIONAL, "an optional of maps");
    im = (Image){0};
    put_image(&im, F_SPARSE, &inner);
    read_fails(&im, HOLDS_OPTIONAL, "an optional of sparse tensors");
    im = (Image){0};
    put_tensor(&im, F_TENSOR, DT_INT64, 1, (int64_t[]){3}, i3, sizeof i3);
    put_image(&im, F_SEQUENCE, &inner);
    read_fails(&im, HOLDS_OPTIONAL, "an OptionalProto holding more than one value");
    im = (Image){0};
    put_int(&im, F_ELEM_TYPE, ELEM_SEQUENCE);
    put_tensor(&im, F_TENSOR, DT_INT64, 1, (int64_t[]){3}, i3, sizeof i3);
    read_fails(&im, HOLDS_OPTIONAL, "an OptionalProto of elem_type SEQUENCE holding a tensor_value");
    Image seq;
    two_float_sequence(&seq);
    put_image(&seq, F_SEQUENCE, &inner);
    im = (Image){0};
    put_image(&im, F_SEQUENCE, &seq);
    read_fails(&im, HOLDS_OPTIONAL, "a sequence of sequences");
}

/* Every prefix of a good image reads or fails cleanly (ASan checks the reads). */
static void test_every_prefix(void **state)
{
    (void)state;
    Image whole, cut;
    optional_of_sequence(&whole);
    int failed = 0;
    for (size_t n = 0; n < whole.len; n++) {
        cut = whole;
        cut.len = n;
        Read r = read_image(&cut, HOLDS_OPTIONAL, "prefix.pb");
        if (r.st == KDC_ERR) {
            failed++;
            assert_int_equal(strncmp(r.d.msg, r.path, strlen(r.path)), 0);
        } else {
            assert_int_equal(r.v->holds, HOLDS_OPTIONAL);
        }
        model_free(r.m);
    }
    assert_true(failed > (int)whole.len / 2);
}

/* ---- declared kinds ---- */

static Holds declared(const Onnx__TypeProto *tp, bool *container)
{
    uint8_t packed[256];
    size_t n = onnx__type_proto__get_packed_size(tp);
    assert_true(n <= sizeof packed);
    onnx__type_proto__pack(tp, packed);
    Value v = {.name = "v", .kind = TYPE_OPAQUE, .opaque_type = {packed, n}};
    Holds h = HOLDS_TENSOR;
    *container = container_declared_holds(&v, &h);
    return h;
}

static void test_declared_holds(void **state)
{
    (void)state;
    Onnx__TypeProto__Tensor tensor = ONNX__TYPE_PROTO__TENSOR__INIT;
    tensor.has_elem_type = 1;
    tensor.elem_type = DT_FLOAT;
    Onnx__TypeProto elem = ONNX__TYPE_PROTO__INIT, tp = ONNX__TYPE_PROTO__INIT;
    elem.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    elem.tensor_type = &tensor;
    Onnx__TypeProto__Sequence seq = ONNX__TYPE_PROTO__SEQUENCE__INIT;
    Onnx__TypeProto__Optional opt = ONNX__TYPE_PROTO__OPTIONAL__INIT;
    Onnx__TypeProto__Map map = ONNX__TYPE_PROTO__MAP__INIT;
    seq.elem_type = opt.elem_type = map.value_type = &elem;
    bool container;
    tp.value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    tp.sequence_type = &seq;
    tp.denotation = "TEXT"; /* packed before the value: the kind is not the first byte */
    assert_int_equal(declared(&tp, &container), HOLDS_SEQUENCE);
    assert_true(container);
    tp.value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE;
    tp.optional_type = &opt;
    assert_int_equal(declared(&tp, &container), HOLDS_OPTIONAL);
    assert_true(container);
    tp.value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE;
    tp.map_type = &map;
    declared(&tp, &container);
    assert_false(container);
    declared(&elem, &container);
    assert_false(container);
    Value plain = {.name = "x", .kind = TYPE_TENSOR, .dtype = DT_FLOAT};
    Value garbage = {.name = "g", .kind = TYPE_OPAQUE, .opaque_type = {(const uint8_t *)"\xff\xff", 2}};
    Holds h;
    assert_false(container_declared_holds(&plain, &h));
    assert_false(container_declared_holds(&garbage, &h));
}

/* ---- real files from the ONNX test data ---- */

static bool have(const char *path)
{
    if (access(path, R_OK) == 0)
        return true;
    printf("note: %s is missing (libonnx-testdata not installed): skipped\n", path);
    return false;
}

static Tensor *read_real(Model *m, const char *path, Holds expect)
{
    Diag d = {{0}};
    Tensor *v = NULL;
    if (container_file_read(path, m, expect, &v, &d))
        fail_msg("%s", d.msg);
    return v;
}

static void test_real_files(void **state)
{
    (void)state;
    const char *seq_path = TESTDATA "test_sequence_insert_at_back/test_data_set_0/input_0.pb";
    const char *opt_path = TESTDATA "test_optional_get_element_sequence/test_data_set_0/input_0.pb";
    const char *empty_path = TESTDATA "test_optional_has_element_empty/test_data_set_0/input_0.pb";
    Model *m = model_new();
    if (have(seq_path)) {
        const Tensor *v = read_real(m, seq_path, HOLDS_SEQUENCE);
        assert_string_equal(v->name, "sequence");
        assert_int_equal(v->n_items, 3);
        assert_int_equal(v->dtype, DT_INT64);
        int64_t want[] = {5, 6, 7};
        assert_tensor(&v->items[1], DT_INT64, 1, (int64_t[]){3}, want, sizeof want);
    }
    if (have(opt_path)) {
        const Tensor *v = read_real(m, opt_path, HOLDS_OPTIONAL);
        assert_int_equal(v->n_items, 1);
        assert_int_equal(v->items[0].holds, HOLDS_SEQUENCE);
        int32_t want[] = {1, 2, 3, 4};
        assert_tensor(&v->items[0].items[0], DT_INT32, 1, (int64_t[]){4}, want, sizeof want);
    }
    if (have(empty_path))
        assert_int_equal(read_real(m, empty_path, HOLDS_OPTIONAL)->n_items, 0);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_of_two_shapes),
        cmocka_unit_test(test_sequence_empty),
        cmocka_unit_test(test_sequence_skips_unknown_fields),
        cmocka_unit_test(test_optional_empty),
        cmocka_unit_test(test_optional_tensor),
        cmocka_unit_test(test_optional_sequence),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sequence_unsupported),
        cmocka_unit_test(test_optional_unsupported),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_declared_holds),
        cmocka_unit_test(test_real_files),
    };
    return cmocka_run_group_tests(tests, temp_dir_setup, temp_dir_teardown);
}
