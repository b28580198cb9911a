/* test_npy.c - unit tests for ir/npy.c, the .npy header reader, and for the
 * frontend's npy_parse built on it.
 *
 * Builds .npy images in memory the way numpy.lib.format lays them out (magic,
 * version, little-endian header length, a dict padded with spaces to a 64-byte
 * boundary and ended by '\n', then the elements) and checks the header fields
 * for v1, v2 and v3 files and every shape form, then a catalogue of broken
 * images whose single-line errors must name the file and the problem.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/tensor_file.h"
#include "ir/npy.h"

#define PATH "t.npy"

/* A .npy image of the given version with dict as the header, padded as NumPy
 * pads it or (for hand-made files) not at all, and payload_len bytes of
 * counting data; returns its length. */
static size_t npy_image_as(uint8_t *buf, size_t cap, int major, const char *dict, bool padded, size_t payload_len)
{
    size_t prefix = major == 1 ? 10 : 12, dict_len = strlen(dict);
    size_t header_len = dict_len + padded;
    while (padded && (prefix + header_len) % 64)
        header_len++;
    assert_true(prefix + header_len + payload_len <= cap);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++)
        buf[8 + i] = (uint8_t)(header_len >> (8 * i));
    memcpy(buf + prefix, dict, dict_len);
    if (padded) {
        memset(buf + prefix + dict_len, ' ', header_len - dict_len - 1);
        buf[prefix + header_len - 1] = '\n';
    }
    for (size_t i = 0; i < payload_len; i++)
        buf[prefix + header_len + i] = (uint8_t)i;
    return prefix + header_len + payload_len;
}

static size_t npy_image(uint8_t *buf, size_t cap, int major, const char *dict, size_t payload_len)
{
    return npy_image_as(buf, cap, major, dict, true, payload_len);
}

static void expect_error(Status st, const Diag *d, const char *needle)
{
    assert_int_equal(st, KDC_ERR);
    if (!strstr(d->msg, needle))
        fail_msg("expected '%s' in: %s", needle, d->msg);
    if (strncmp(d->msg, PATH ": ", strlen(PATH) + 2) != 0 || strchr(d->msg, '\n'))
        fail_msg("expected one line starting with the path: %s", d->msg);
}

/* Reads the header of dict in a v1 image and checks descr and shape. */
static void expect_header(int major, const char *dict, const char *descr, int ndims, const int64_t *shape)
{
    uint8_t buf[512];
    size_t len = npy_image(buf, sizeof buf, major, dict, 0);
    NpyHeader h;
    Diag d = {{0}};
    if (npy_header_read(buf, len, PATH, &h, &d))
        fail_msg("%s: %s", dict, d.msg);
    assert_string_equal(h.descr, descr);
    assert_int_equal(h.ndims, ndims);
    for (int i = 0; i < ndims; i++)
        assert_int_equal(h.shape[i], shape[i]);
    assert_int_equal(h.data_offset, len);
    assert_int_equal(h.data_offset % 64, 0);
}

static void test_versions(void **state)
{
    (void)state;
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    for (int major = 1; major <= 3; major++)
        expect_header(major, dict, "<f4", 2, (int64_t[]){2, 3});
}

static void test_shape_forms(void **state)
{
    (void)state;
    expect_header(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", "<f8", 0, NULL);
    expect_header(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", "|u1", 1, (int64_t[]){3});
    expect_header(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3)}", "<i8", 2, (int64_t[]){2, 3});
    expect_header(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3,),}", "<i8", 2, (int64_t[]){2, 3});
    expect_header(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 5L)}", "<i4", 2, (int64_t[]){0, 5});
    expect_header(2, "{\"shape\":(1,2,3,4,5,6,7,8),\"fortran_order\":False,\"descr\":\"|b1\"}", "|b1", 8,
                  (int64_t[]){1, 2, 3, 4, 5, 6, 7, 8});
}

/* Header dicts that must be refused, and a fragment of each error. */
static const struct {
    const char *dict;
    const char *needle;
} BAD_DICTS[] = {
    {"{'descr': '<f4', 'shape': (2, 3), }", "lacks 'descr', 'fortran_order' or 'shape'"},
    {"{'fortran_order': False, 'shape': (2,), }", "lacks"},
    {"{'descr': '<f4', 'fortran_order': False}", "lacks"},
    {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "Fortran-order .npy arrays are not supported"},
    {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", "expected True or False"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}",
     "expected a non-negative integer at header offset 54"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')' in the shape"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", "expected '(' starting the shape"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", "more than 8 dims"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "dimension overflows"},
    {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", "structured .npy dtypes"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unexpected key 'x'"},
    {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", "expected ',' or '}'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", "only padding after the dict"},
    {"{'descr': '<f4", "closing quote"},
    {"'descr': '<f4'", "expected '{'"},
    {"{descr: '<f4'}", "expected a quoted string"},
    {"{'descr' '<f4'}", "expected ':'"},
    {"{'descr': '<f4 and a very long dtype string'}", "a shorter string"},
};

static void test_bad_dicts(void **state)
{
    (void)state;
    uint8_t buf[512];
    NpyHeader h;
    Diag d = {{0}};
    for (size_t i = 0; i < sizeof BAD_DICTS / sizeof BAD_DICTS[0]; i++) {
        size_t len = npy_image_as(buf, sizeof buf, 1, BAD_DICTS[i].dict, false, 0);
        expect_error(npy_header_read(buf, len, PATH, &h, &d), &d, BAD_DICTS[i].needle);
    }
}

static void test_bad_preamble(void **state)
{
    (void)state;
    uint8_t buf[512];
    NpyHeader h;
    Diag d = {{0}};
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    size_t len = npy_image(buf, sizeof buf, 1, dict, 8);
    buf[1] = 'n';
    expect_error(npy_header_read(buf, len, PATH, &h, &d), &d, "not a .npy file (bad magic)");
    expect_error(npy_header_read(buf, 0, PATH, &h, &d), &d, "bad magic");
    len = npy_image(buf, sizeof buf, 1, dict, 8);
    expect_error(npy_header_read(buf, 7, PATH, &h, &d), &d, "truncated .npy header");
    expect_error(npy_header_read(buf, 9, PATH, &h, &d), &d, "truncated .npy header");
    expect_error(npy_header_read(buf, 40, PATH, &h, &d), &d, "bytes claimed, 30 present)");
    buf[6] = 4;
    expect_error(npy_header_read(buf, len, PATH, &h, &d), &d, "unsupported .npy version 4.0");
    buf[6] = 0;
    expect_error(npy_header_read(buf, len, PATH, &h, &d), &d, "unsupported .npy version 0.0");
    buf[6] = 1;
    buf[7] = 1;
    expect_error(npy_header_read(buf, len, PATH, &h, &d), &d, "unsupported .npy version 1.1");
    len = npy_image(buf, sizeof buf, 2, dict, 8);
    expect_error(npy_header_read(buf, 11, PATH, &h, &d), &d, "truncated .npy header");
    buf[11] = 1; /* a v2 header length of 16 MiB and more */
    expect_error(npy_header_read(buf, len, PATH, &h, &d), &d, "bytes claimed");
}

static void test_data_check(void **state)
{
    (void)state;
    uint8_t buf[512];
    NpyHeader h;
    Diag d = {{0}};
    int64_t count = -1;
    size_t len = npy_image(buf, sizeof buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
    assert_int_equal(npy_header_read(buf, len, PATH, &h, &d), KDC_OK);
    assert_int_equal(npy_data_check(&h, len, 4, PATH, &count, &d), KDC_OK);
    assert_int_equal(count, 6);
    expect_error(npy_data_check(&h, len - 1, 4, PATH, &count, &d), &d,
                 "header claims 6 elements of 4 bytes but the file has only 23 bytes of data (truncated?)");
    expect_error(npy_data_check(&h, len, 2, PATH, &count, &d), &d,
                 "12 bytes of unexpected data after the .npy elements");
    h.ndims = 3;
    h.shape[0] = h.shape[1] = h.shape[2] = INT64_C(4294967296);
    expect_error(npy_data_check(&h, len, 4, PATH, &count, &d), &d, ".npy shape overflows");
    h.ndims = 1;
    h.shape[0] = INT64_MAX / 2;
    expect_error(npy_data_check(&h, len, 8, PATH, &count, &d), &d, "header claims");

    len = npy_image(buf, sizeof buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8);
    assert_int_equal(npy_header_read(buf, len, PATH, &h, &d), KDC_OK);
    assert_int_equal(npy_data_check(&h, len, 8, PATH, &count, &d), KDC_OK);
    assert_int_equal(count, 1);
    len = npy_image(buf, sizeof buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3), }", 0);
    assert_int_equal(npy_header_read(buf, len, PATH, &h, &d), KDC_OK);
    assert_int_equal(npy_data_check(&h, len, 8, PATH, &count, &d), KDC_OK);
    assert_int_equal(count, 0);
}

/* The frontend keeps its dtype table and copies elements; the header is ours. */
static void test_frontend_parse(void **state)
{
    (void)state;
    uint8_t buf[512];
    Diag d = {{0}};
    Model *m = model_new();
    Tensor *t = NULL;
    size_t len = npy_image(buf, sizeof buf, 2, "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }", 12);
    if (npy_parse(buf, len, PATH, m->arena, &t, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(t->dtype, DT_INT16);
    assert_int_equal(t->rank, 2);
    assert_int_equal(t->dims[1], 3);
    assert_memory_equal(t->data, buf + len - 12, 12);
    len = npy_image(buf, sizeof buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }", 1);
    assert_int_equal(npy_parse(buf, len, PATH, m->arena, &t, &d), KDC_OK);
    assert_int_equal(t->dtype, DT_BOOL);
    assert_int_equal(t->rank, 0);
    len = npy_image(buf, sizeof buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", 0);
    assert_int_equal(npy_parse(buf, len, PATH, m->arena, &t, &d), KDC_OK);
    assert_int_equal(t->dims[0], 0);

    len = npy_image(buf, sizeof buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8);
    expect_error(npy_parse(buf, len, PATH, m->arena, &t, &d), &d, ".npy dtype '>f4' is not supported");
    len = npy_image(buf, sizeof buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
    expect_error(npy_parse(buf, len, PATH, m->arena, &t, &d), &d, "Fortran-order");
    len = npy_image(buf, sizeof buf, 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 2), }", 7);
    expect_error(npy_parse(buf, len, PATH, m->arena, &t, &d), &d, "header claims 4 elements of 2 bytes");
    len = npy_image(buf, sizeof buf, 1, "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }", 17);
    expect_error(npy_parse(buf, len, PATH, m->arena, &t, &d), &d, "1 bytes of unexpected data");
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),     cmocka_unit_test(test_shape_forms), cmocka_unit_test(test_bad_dicts),
        cmocka_unit_test(test_bad_preamble), cmocka_unit_test(test_data_check),  cmocka_unit_test(test_frontend_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
