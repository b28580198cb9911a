/* test_inflate.c - unit tests for train/inflate.c (gzip + DEFLATE decoder).
 *
 * Round trips through the system gzip at -1 and -9 (dynamic blocks), raw streams
 * made by Python's zlib (fixed and stored blocks), hand-assembled fixed blocks for
 * the distance and symbol checks, multi-member files, header flags, and damaged
 * input: every truncation of a small file, a bad CRC and ISIZE, trailing garbage,
 * random bytes. Decodes the Fashion-MNIST training images when they are installed
 * and prints the time taken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "train/inflate.h"
#include "tests/unit/temp_dir.h"

static bool have_gzip(void)
{
    return system("gzip --version >/dev/null 2>&1") == 0;
}

/* Mixed content: text with repeats (long matches), a ramp and noise (literals). */
static uint8_t *make_sample(size_t n)
{
    uint8_t *p = malloc(n);
    uint32_t x = 12345;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        size_t zone = (i / 5000) % 3;
        p[i] = zone == 0 ? (uint8_t)("the quick brown fox "[i % 20])
             : zone == 1 ? (uint8_t)(i & 0xff)
                         : (uint8_t)(x >> 24);
    }
    return p;
}

static void assert_inflates_to(const uint8_t *gz, size_t gz_len, const uint8_t *want,
                               size_t want_len)
{
    Diag d = {{0}};
    uint8_t *out = NULL;
    size_t out_len = 0;
    Status st = gz_inflate_buffer(gz, gz_len, "t.gz", &out, &out_len, &d);
    if (st)
        fail_msg("%s", d.msg);
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, want_len);
    free(out);
}

static void assert_fails(const uint8_t *gz, size_t gz_len, const char *needle)
{
    Diag d = {{0}};
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(gz_inflate_buffer(gz, gz_len, "bad.gz", &out, &out_len, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "bad.gz"));
    if (needle && !strstr(d.msg, needle))
        fail_msg("expected '%s' in: %s", needle, d.msg);
}

static void test_crc32_check_value(void **state)
{
    (void)state;
    const uint8_t digits[] = "123456789";
    assert_int_equal(gz_crc32(0, digits, 9), 0xCBF43926u);
    /* Incremental use matches one shot. */
    assert_int_equal(gz_crc32(gz_crc32(0, digits, 4), digits + 4, 5), 0xCBF43926u);
    assert_int_equal(gz_crc32(0, digits, 0), 0);
}

static void gzip_round_trip(const char *level)
{
    char plain[128], gz[160], cmd[400];
    size_t n = 200000;
    uint8_t *data = make_sample(n), *out = NULL;
    size_t out_len = 0;
    Diag d = {{0}};
    temp_path(plain, sizeof plain, "sample.bin");
    snprintf(gz, sizeof gz, "%s.gz", plain);
    temp_write_file(plain, data, n);
    snprintf(cmd, sizeof cmd, "gzip -f %s '%s'", level, plain);
    assert_int_equal(system(cmd), 0);
    if (gz_inflate_file(gz, &out, &out_len, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(out_len, n);
    assert_memory_equal(out, data, n);
    free(out);
    free(data);
    unlink(gz);
}

static void test_system_gzip_levels(void **state)
{
    (void)state;
    if (!have_gzip())
        skip();
    gzip_round_trip("-1");
    gzip_round_trip("-9");
}

/* Two concatenated members decode to the concatenation, and so does gzip of
 * incompressible data (stored blocks) and of an empty file. */
static void test_system_gzip_members_stored_empty(void **state)
{
    (void)state;
    if (!have_gzip())
        skip();
    char a[128], b[128], both[128], cmd[1024];
    uint8_t noise[3000];
    uint32_t x = 99;
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)((x = x * 1664525u + 1013904223u) >> 24);
    temp_path(a, sizeof a, "a.bin");
    temp_path(b, sizeof b, "b.bin");
    temp_path(both, sizeof both, "both.gz");
    temp_write_file(a, noise, sizeof noise);
    temp_write_file(b, (const uint8_t *)"", 0);
    snprintf(cmd, sizeof cmd,
             "gzip -c -9 '%s' > '%s' && gzip -c '%s' >> '%s' && gzip -c '%s' >> '%s'", a, both, b,
             both, a, both);
    assert_int_equal(system(cmd), 0);
    uint8_t *out = NULL;
    size_t out_len = 0;
    Diag d = {{0}};
    if (gz_inflate_file(both, &out, &out_len, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(out_len, 2 * sizeof noise);
    assert_memory_equal(out, noise, sizeof noise);
    assert_memory_equal(out + sizeof noise, noise, sizeof noise);
    free(out);
}

/* A file without the gzip magic comes back unchanged, an empty one as 0 bytes. */
static void test_plain_and_empty_files(void **state)
{
    (void)state;
    char path[128];
    uint8_t *out = NULL;
    size_t out_len = 99;
    Diag d = {{0}};
    temp_path(path, sizeof path, "plain.txt");
    temp_write_file(path, (const uint8_t *)"\x1f not gzip", 10);
    assert_int_equal(gz_inflate_file(path, &out, &out_len, &d), KDC_OK);
    assert_int_equal(out_len, 10);
    assert_memory_equal(out, "\x1f not gzip", 10);
    free(out);
    temp_path(path, sizeof path, "empty");
    temp_write_file(path, (const uint8_t *)"", 0);
    assert_int_equal(gz_inflate_file(path, &out, &out_len, &d), KDC_OK);
    assert_non_null(out);
    assert_int_equal(out_len, 0);
    free(out);
    assert_int_equal(gz_inflate_file("/nonexistent/x.gz", &out, &out_len, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "/nonexistent/x.gz"));
    assert_fails((const uint8_t *)"", 0, "not gzip");
}

/* Raw DEFLATE streams from Python's zlib: a fixed-Huffman block and a stored block. */
static const uint8_t FIXED_RAW[] = {0x4b, 0x4c, 0x2a, 0x4a, 0x4c, 0x4e, 0x4c, 0x49, 0x04,
                                    0x52, 0x0a, 0x89, 0xd8, 0xd9, 0x8a, 0x5c, 0x00};
static const char FIXED_TEXT[] = "abracadabra abracadabra abracadabra!\n";
static const uint8_t STORED_RAW[] = {0x01, 0x07, 0x00, 0xf8, 0xff, 0x73,
                                     0x74, 0x6f, 0x72, 0x65, 0x64, 0x21};

static void test_raw_fixed_and_stored(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t out_len = 0, used = 0;
    Diag d = {{0}};
    assert_int_equal(gz_inflate_raw(FIXED_RAW, sizeof FIXED_RAW, "f", &out, &out_len, &used, &d),
                     KDC_OK);
    assert_int_equal(out_len, strlen(FIXED_TEXT));
    assert_memory_equal(out, FIXED_TEXT, out_len);
    assert_int_equal(used, sizeof FIXED_RAW);
    free(out);
    assert_int_equal(gz_inflate_raw(STORED_RAW, sizeof STORED_RAW, "s", &out, &out_len, &used, &d),
                     KDC_OK);
    assert_int_equal(out_len, 7);
    assert_memory_equal(out, "stored!", 7);
    assert_int_equal(used, sizeof STORED_RAW);
    free(out);
}

/* Wraps a raw stream in a gzip member with the given header flags and fields. */
static size_t wrap_gzip(uint8_t *dst, const uint8_t *raw, size_t raw_len, const uint8_t *plain,
                        size_t plain_len, uint8_t flags)
{
    size_t n = 0;
    const uint8_t head[10] = {0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3};
    memcpy(dst, head, 10);
    n = 10;
    if (flags & 4) { /* FEXTRA: 3 bytes */
        memcpy(dst + n, "\x03\x00xyz", 5);
        n += 5;
    }
    if (flags & 8) {
        memcpy(dst + n, "name.txt", 9);
        n += 9;
    }
    if (flags & 16) {
        memcpy(dst + n, "a comment", 10);
        n += 10;
    }
    if (flags & 2) {
        uint32_t hcrc = gz_crc32(0, dst, n);
        dst[n++] = (uint8_t)hcrc;
        dst[n++] = (uint8_t)(hcrc >> 8);
    }
    memcpy(dst + n, raw, raw_len);
    n += raw_len;
    uint32_t crc = gz_crc32(0, plain, plain_len), size = (uint32_t)plain_len;
    for (int i = 0; i < 4; i++)
        dst[n++] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        dst[n++] = (uint8_t)(size >> (8 * i));
    return n;
}

static void test_header_flags(void **state)
{
    (void)state;
    uint8_t gz[256];
    const uint8_t *text = (const uint8_t *)FIXED_TEXT;
    size_t text_len = strlen(FIXED_TEXT);
    size_t n = wrap_gzip(gz, FIXED_RAW, sizeof FIXED_RAW, text, text_len, 2 | 4 | 8 | 16);
    assert_inflates_to(gz, n, text, text_len);
    gz[12] ^= 1; /* inside FEXTRA: the header CRC must catch it */
    assert_fails(gz, n, "header CRC");
    n = wrap_gzip(gz, FIXED_RAW, sizeof FIXED_RAW, text, text_len, 0x20);
    assert_fails(gz, n, "reserved");
    n = wrap_gzip(gz, STORED_RAW, sizeof STORED_RAW, (const uint8_t *)"stored!", 7, 0);
    assert_inflates_to(gz, n, (const uint8_t *)"stored!", 7);
    gz[2] = 7;
    assert_fails(gz, n, "compression method");
}

static void test_crc_isize_and_trailing_garbage(void **state)
{
    (void)state;
    uint8_t gz[256];
    const uint8_t *text = (const uint8_t *)FIXED_TEXT;
    size_t text_len = strlen(FIXED_TEXT);
    size_t n = wrap_gzip(gz, FIXED_RAW, sizeof FIXED_RAW, text, text_len, 8);
    gz[n - 8] ^= 0x40;
    assert_fails(gz, n, "CRC-32 mismatch");
    gz[n - 8] ^= 0x40;
    gz[n - 4] ^= 1;
    assert_fails(gz, n, "size does not match");
    gz[n - 4] ^= 1;
    gz[n] = 0;
    assert_fails(gz, n + 1, "trailing garbage");
    assert_inflates_to(gz, n, text, text_len);
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    uint8_t gz[256];
    const uint8_t *text = (const uint8_t *)FIXED_TEXT;
    size_t n = wrap_gzip(gz, FIXED_RAW, sizeof FIXED_RAW, text, strlen(FIXED_TEXT), 2 | 4 | 8 | 16);
    for (size_t cut = 0; cut < n; cut++) {
        /* A copy of exactly cut bytes so ASan sees any read past the end. */
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, gz, cut);
        assert_fails(part, cut, NULL);
        free(part);
    }
}

/* Hand-assembled fixed-Huffman blocks for checks no encoder will produce. */
typedef struct BitWriter {
    uint8_t buf[64];
    size_t nbits;
} BitWriter;

static void put_bits(BitWriter *w, uint32_t value, unsigned n) /* LSB first */
{
    for (unsigned i = 0; i < n; i++, w->nbits++)
        if (value >> i & 1)
            w->buf[w->nbits / 8] |= (uint8_t)(1u << (w->nbits % 8));
}

static void put_code(BitWriter *w, uint32_t code, unsigned len) /* Huffman codes: MSB first */
{
    for (unsigned i = len; i-- > 0;)
        put_bits(w, code >> i & 1, 1);
}

static void put_fixed_literal(BitWriter *w, unsigned sym)
{
    if (sym < 144)
        put_code(w, 0x30 + sym, 8);
    else if (sym < 256)
        put_code(w, 0x190 + sym - 144, 9);
    else if (sym < 280)
        put_code(w, sym - 256, 7);
    else
        put_code(w, 0xc0 + sym - 280, 8);
}

static Status inflate_bits(const BitWriter *w, uint8_t **out, size_t *out_len, Diag *d)
{
    size_t used;
    return gz_inflate_raw(w->buf, (w->nbits + 7) / 8, "hand", out, out_len, &used, d);
}

static void test_hand_built_fixed_blocks(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t out_len = 0;
    Diag d = {{0}};
    BitWriter w = {{0}, 0};
    put_bits(&w, 1, 1); /* final */
    put_bits(&w, 1, 2); /* fixed */
    put_fixed_literal(&w, 'a');
    put_fixed_literal(&w, 258); /* length 4 */
    put_code(&w, 0, 5);         /* distance 1: overlapping copy */
    put_fixed_literal(&w, 256);
    assert_int_equal(inflate_bits(&w, &out, &out_len, &d), KDC_OK);
    assert_int_equal(out_len, 5);
    assert_memory_equal(out, "aaaaa", 5);
    free(out);

    memset(&w, 0, sizeof w);
    put_bits(&w, 3, 3);
    put_fixed_literal(&w, 'a');
    put_fixed_literal(&w, 257);
    put_code(&w, 1, 5); /* distance 2 > 1 byte of history */
    put_fixed_literal(&w, 256);
    assert_int_equal(inflate_bits(&w, &out, &out_len, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "distance"));

    memset(&w, 0, sizeof w);
    put_bits(&w, 3, 3);
    put_fixed_literal(&w, 286);
    assert_int_equal(inflate_bits(&w, &out, &out_len, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "length symbol"));

    memset(&w, 0, sizeof w);
    put_bits(&w, 3, 3);
    put_fixed_literal(&w, 'a');
    put_fixed_literal(&w, 257);
    put_code(&w, 30, 5);
    assert_int_equal(inflate_bits(&w, &out, &out_len, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "distance symbol"));

    memset(&w, 0, sizeof w);
    put_bits(&w, 7, 3); /* block type 3 */
    assert_int_equal(inflate_bits(&w, &out, &out_len, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "block type"));
}

static void test_stored_length_complement(void **state)
{
    (void)state;
    uint8_t bad[sizeof STORED_RAW];
    uint8_t *out = NULL;
    size_t out_len = 0, used = 0;
    Diag d = {{0}};
    memcpy(bad, STORED_RAW, sizeof bad);
    bad[3] ^= 1;
    assert_int_equal(gz_inflate_raw(bad, sizeof bad, "s", &out, &out_len, &used, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "complement"));
}

/* Random bytes behind a gzip header, and bit flips of a valid member: whatever
 * happens must be a clean status (ASan/UBSan runs catch the rest). */
static void test_random_and_flipped_input(void **state)
{
    (void)state;
    uint32_t x = 7;
    uint8_t buf[300], gz[256];
    for (int round = 0; round < 3000; round++) {
        size_t n = 10 + (size_t)(round % 290);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)((x = x * 1664525u + 1013904223u) >> 24);
        memcpy(buf, "\x1f\x8b\x08\x00", 4);
        uint8_t *out = NULL;
        size_t out_len = 0;
        Diag d = {{0}};
        if (gz_inflate_buffer(buf, n, "r", &out, &out_len, &d) == KDC_OK)
            free(out);
        size_t used;
        if (gz_inflate_raw(buf + 10, n - 10, "r", &out, &out_len, &used, &d) == KDC_OK) {
            assert_true(used <= n - 10);
            free(out);
        }
    }
    const uint8_t *text = (const uint8_t *)FIXED_TEXT;
    size_t text_len = strlen(FIXED_TEXT);
    size_t n = wrap_gzip(gz, FIXED_RAW, sizeof FIXED_RAW, text, text_len, 0);
    for (size_t bit = 10 * 8; bit < (n - 8) * 8; bit++) { /* flips in the compressed data */
        uint8_t *out = NULL;
        size_t out_len = 0;
        Diag d = {{0}};
        gz[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (gz_inflate_buffer(gz, n, "flip", &out, &out_len, &d) == KDC_OK) {
            /* Only acceptable if the output is still right (CRC-32 agreed). */
            assert_int_equal(out_len, text_len);
            assert_memory_equal(out, text, text_len);
            free(out);
        }
        gz[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

static void test_fashion_mnist_speed(void **state)
{
    (void)state;
    const char *path = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    if (access(path, R_OK) != 0)
        skip();
    uint8_t *out = NULL;
    size_t out_len = 0;
    Diag d = {{0}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (gz_inflate_file(path, &out, &out_len, &d))
        fail_msg("%s", d.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    print_message("fashion-mnist train images: %zu bytes in %.3f s\n", out_len, secs);
    assert_int_equal(out_len, 16 + 60000u * 28 * 28);
    assert_memory_equal(out, "\x00\x00\x08\x03\x00\x00\xea\x60", 8);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_system_gzip_levels),
        cmocka_unit_test(test_system_gzip_members_stored_empty),
        cmocka_unit_test(test_plain_and_empty_files),
        cmocka_unit_test(test_raw_fixed_and_stored),
        cmocka_unit_test(test_header_flags),
        cmocka_unit_test(test_crc_isize_and_trailing_garbage),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_hand_built_fixed_blocks),
        cmocka_unit_test(test_stored_length_complement),
        cmocka_unit_test(test_random_and_flipped_input),
        cmocka_unit_test(test_fashion_mnist_speed),
    };
    return cmocka_run_group_tests(tests, temp_dir_setup, temp_dir_teardown);
}
