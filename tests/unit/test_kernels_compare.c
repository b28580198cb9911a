/* test_kernels_compare.c - the typed elementwise kernels (k_compare.c):
 * comparisons (NaN included), logic, integer arithmetic (Mod's two sign
 * rules, exact integer Pow, division by zero refused), float16 and bfloat16
 * rounding, saturating stores, the typed unary ops and Clip, and the float
 * functions computed for double and float16 through float. Every expected
 * value is written out by hand or computed here in double.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kernels.h"
#include "runtime/threads.h"

static BroadcastDims same_shape(int64_t n)
{
    BroadcastDims bd;
    Diag d;
    assert_int_equal(k_broadcast_init(&bd, &n, 1, &n, 1, NULL, &d), KDC_OK);
    return bd;
}

static void run_binary(KTypedOp op, KElem ta, const void *a, KElem tb, const void *b, KElem ty, void *y, int64_t n)
{
    BroadcastDims bd = same_shape(n);
    Diag d;
    if (k_typed_binary(op, &bd, ta, a, tb, b, ty, y, &d))
        fail_msg("typed op %d: %s", op, d.msg);
}

static void expect_bools(const uint8_t *got, const char *want)
{
    for (size_t i = 0; want[i]; i++)
        if (got[i] != (want[i] == '1'))
            fail_msg("element %zu: got %d, expected %c", i, got[i], want[i]);
}

/* ----------------------------------------------------------- comparisons */

static void test_compare_float_nan(void **state)
{
    (void)state;
    float a[] = {NAN, 1, NAN, 2, 1, 3}, b[] = {1, NAN, NAN, 2, 3, 1};
    uint8_t y[6];
    struct {
        KTypedOp op;
        const char *want;
    } cases[] = {
        {KT_EQUAL, "000100"}, {KT_GREATER, "000001"},    {KT_GREATER_EQUAL, "000101"},
        {KT_LESS, "000010"},  {KT_LESS_EQUAL, "000110"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_binary(cases[i].op, KE_FLOAT, a, KE_FLOAT, b, KE_BOOL, y, 6);
        expect_bools(y, cases[i].want);
    }
}

static void test_compare_int_broadcast(void **state)
{
    (void)state;
    int64_t a[] = {1, 5, -3, 7, 0, 2}, b[] = {1, 0, 2}; /* [2,3] against [3] */
    int64_t ad[] = {2, 3}, bdims[] = {3};
    BroadcastDims bd;
    Diag d;
    uint8_t y[6];
    assert_int_equal(k_broadcast_init(&bd, ad, 2, bdims, 1, NULL, &d), KDC_OK);
    assert_int_equal(k_typed_binary(KT_GREATER, &bd, KE_INT64, a, KE_INT64, b, KE_BOOL, y, &d), KDC_OK);
    expect_bools(y, "010100");
    assert_int_equal(k_typed_binary(KT_EQUAL, &bd, KE_INT64, a, KE_INT64, b, KE_BOOL, y, &d), KDC_OK);
    expect_bools(y, "100011");
    uint8_t p[] = {1, 1, 0, 0}, q[] = {1, 0, 1, 0};
    run_binary(KT_AND, KE_BOOL, p, KE_BOOL, q, KE_BOOL, y, 4);
    expect_bools(y, "1000");
    run_binary(KT_OR, KE_BOOL, p, KE_BOOL, q, KE_BOOL, y, 4);
    expect_bools(y, "1110");
    run_binary(KT_XOR, KE_BOOL, p, KE_BOOL, q, KE_BOOL, y, 4);
    expect_bools(y, "0110");
    uint64_t big[] = {3000000000u, 7}, small[] = {7, 3000000000u};
    run_binary(KT_GREATER, KE_UINT64, big, KE_UINT64, small, KE_BOOL, y, 2);
    expect_bools(y, "10");
}

/* ------------------------------------------------------- integer math */

static void test_mod_sign_rules(void **state)
{
    (void)state;
    int64_t a[] = {-4, 4, -4, 4, 5, -5, 0, 7, INT64_MIN}, b[] = {3, -3, -3, 3, 5, 5, 3, -1, -1};
    int64_t mod[9], fmod_[9];
    const int64_t want_mod[] = {2, -2, -1, 1, 0, 0, 0, 0, 0}, want_fmod[] = {-1, 1, -1, 1, 0, 0, 0, 0, 0};
    run_binary(KT_MOD, KE_INT64, a, KE_INT64, b, KE_INT64, mod, 9);
    run_binary(KT_FMOD, KE_INT64, a, KE_INT64, b, KE_INT64, fmod_, 9);
    assert_memory_equal(mod, want_mod, sizeof mod);
    assert_memory_equal(fmod_, want_fmod, sizeof fmod_);
    int8_t a8[] = {-4, 4, -128}, b8[] = {3, -3, 7}, y8[3];
    run_binary(KT_MOD, KE_INT8, a8, KE_INT8, b8, KE_INT8, y8, 3);
    assert_int_equal(y8[0], 2);
    assert_int_equal(y8[1], -2);
    assert_int_equal(y8[2], 5); /* -128 = -19*7 + 5 */
    double fa[] = {-4.5, 4.5, 5.25}, fb[] = {2, -2, 0.5}, fy[3];
    run_binary(KT_FMOD, KE_DOUBLE, fa, KE_DOUBLE, fb, KE_DOUBLE, fy, 3);
    assert_float_equal(fy[0], -0.5, 0);
    assert_float_equal(fy[1], 0.5, 0);
    assert_float_equal(fy[2], 0.25, 0);
    run_binary(KT_MOD, KE_DOUBLE, fa, KE_DOUBLE, fb, KE_DOUBLE, fy, 3);
    assert_float_equal(fy[0], 1.5, 0);
    assert_float_equal(fy[1], -1.5, 0);
}

static void test_integer_division_by_zero(void **state)
{
    (void)state;
    BroadcastDims bd = same_shape(3);
    Diag d;
    int32_t a[] = {1, 2, 3}, b[] = {1, 0, 2}, y[3];
    assert_int_equal(k_typed_binary(KT_DIV, &bd, KE_INT32, a, KE_INT32, b, KE_INT32, y, &d), KDC_ERR);
    assert_string_equal(d.msg, "integer division by zero");
    assert_int_equal(k_typed_binary(KT_MOD, &bd, KE_INT32, a, KE_INT32, b, KE_INT32, y, &d), KDC_ERR);
    assert_string_equal(d.msg, "integer modulo by zero");
    int32_t c[] = {-7, 7, INT32_MIN}, e[] = {2, -2, -1};
    run_binary(KT_DIV, KE_INT32, c, KE_INT32, e, KE_INT32, y, 3);
    assert_int_equal(y[0], -3); /* truncation */
    assert_int_equal(y[1], -3);
    assert_int_equal(y[2], INT32_MIN); /* wraps like the hardware would, without trapping */
    double fa[] = {1, -1}, fb[] = {0, 0}, fy[2];
    run_binary(KT_DIV, KE_DOUBLE, fa, KE_DOUBLE, fb, KE_DOUBLE, fy, 2);
    assert_true(isinf(fy[0]) && fy[0] > 0 && isinf(fy[1]) && fy[1] < 0);
}

static void test_integer_pow(void **state)
{
    (void)state;
    int64_t a[] = {3, -2, 2, 1, -1, 0, 5, -1}, b[] = {5, 3, -1, -3, -3, 0, 0, 4}, y[8];
    const int64_t want[] = {243, -8, 0, 1, -1, 1, 1, 1};
    run_binary(KT_POW, KE_INT64, a, KE_INT64, b, KE_INT64, y, 8);
    assert_memory_equal(y, want, sizeof want);
    /* An integer base with a float exponent truncates the real power. */
    int32_t ai[] = {2, 3, 10}, yi[3];
    float bf[] = {0.5f, 2, 30};
    run_binary(KT_POW, KE_INT32, ai, KE_FLOAT, bf, KE_INT32, yi, 3);
    assert_int_equal(yi[0], 1);
    assert_int_equal(yi[1], 9);
    assert_int_equal(yi[2], INT32_MAX); /* saturated */
    int64_t wide[1];
    double nan_exp[] = {NAN};
    run_binary(KT_POW, KE_INT64, a, KE_DOUBLE, nan_exp, KE_INT64, wide, 1);
    assert_int_equal(wide[0], 0); /* NaN stores as 0 */
}

static void test_unsigned_and_small_types(void **state)
{
    (void)state;
    uint8_t a[] = {200, 3}, b[] = {100, 250}, y[2];
    run_binary(KT_MAX, KE_UINT8, a, KE_UINT8, b, KE_UINT8, y, 2);
    assert_int_equal(y[0], 200);
    assert_int_equal(y[1], 250);
    run_binary(KT_ADD, KE_UINT8, a, KE_UINT8, b, KE_UINT8, y, 2);
    assert_int_equal(y[0], 44); /* 300 wraps */
    uint32_t c[] = {4000000000u, 17}, e[] = {7, 5}, z[2];
    run_binary(KT_MOD, KE_UINT32, c, KE_UINT32, e, KE_UINT32, z, 2);
    assert_int_equal(z[0], 4000000000u % 7);
    assert_int_equal(z[1], 2);
    int16_t s[] = {-300, 300}, t[] = {200, -200}, u[2];
    run_binary(KT_MIN, KE_INT16, s, KE_INT16, t, KE_INT16, u, 2);
    assert_int_equal(u[0], -300);
    assert_int_equal(u[1], -200);
}

/* -------------------------------------------------- float16, bfloat16 */

static uint16_t half_sum(uint16_t a, uint16_t b)
{
    uint16_t y;
    run_binary(KT_ADD, KE_FLOAT16, &a, KE_FLOAT16, &b, KE_FLOAT16, &y, 1);
    return y;
}

static void test_float16_rounding(void **state)
{
    (void)state;
    const uint16_t one = 0x3C00, ulp_half = 0x1000;       /* 1.0 and 2^-11 */
    assert_int_equal(half_sum(one, ulp_half), 0x3C00);    /* tie: stays even */
    assert_int_equal(half_sum(0x3C01, ulp_half), 0x3C02); /* tie: up to even */
    assert_int_equal(half_sum(0x7BFF, 0x4800), 0x7BFF);   /* 65504 + 8 */
    assert_int_equal(half_sum(0x7BFF, 0x4C00), 0x7C00);   /* 65504 + 16 overflows */
    assert_int_equal(half_sum(0x0001, 0x0001), 0x0002);   /* subnormals */
    assert_int_equal(half_sum(0x03FF, 0x0001), 0x0400);   /* into the normals */
    assert_int_equal(half_sum(0xBC00, one), 0x0000);
    assert_int_equal(half_sum(0x7E00, one) & 0x7E00, 0x7E00); /* NaN */
    uint16_t h[] = {0x3C00, 0xC000, 0x7C00, 0x0001, 0x7BFF, 0x8000, 0x3555};
    float f[7];
    k_convert_to_float(KE_FLOAT16, h, f, 7);
    assert_float_equal(f[0], 1, 0);
    assert_float_equal(f[1], -2, 0);
    assert_true(isinf(f[2]));
    assert_float_equal(f[3], ldexpf(1, -24), 0);
    assert_float_equal(f[4], 65504, 0);
    assert_true(f[5] == 0 && signbit(f[5]));
    assert_float_equal(f[6], 0.333251953125f, 0);
    uint16_t bf[] = {0x3F80, 0x3F80}, b8[] = {0x3B80, 0x3C40}, bs[2]; /* 1 + (2^-8, 3*2^-8) */
    run_binary(KT_ADD, KE_BFLOAT16, bf, KE_BFLOAT16, b8, KE_BFLOAT16, bs, 2);
    assert_int_equal(bs[0], 0x3F80); /* tie: stays even */
    assert_int_equal(bs[1], 0x3F82); /* tie: up to even */
}

/* ------------------------------------------------------------ typed unary */

static void test_typed_unary(void **state)
{
    (void)state;
    int32_t x[] = {-5, 0, 7, INT32_MIN}, y[4];
    k_typed_unary(KT_ABS, KE_INT32, NULL, x, y, 4);
    assert_int_equal(y[0], 5);
    assert_int_equal(y[3], INT32_MIN); /* wraps, as numpy does */
    k_typed_unary(KT_NEG, KE_INT32, NULL, x, y, 4);
    assert_int_equal(y[0], 5);
    assert_int_equal(y[2], -7);
    k_typed_unary(KT_SIGN, KE_INT32, NULL, x, y, 4);
    assert_int_equal(y[0] * 100 + y[1] * 10 + y[2], -99);
    uint8_t b[] = {1, 0, 1}, nb[3];
    k_typed_unary(KT_NOT, KE_BOOL, NULL, b, nb, 3);
    expect_bools(nb, "010");
    int8_t c[] = {-128, -3, 0, 5, 127}, cy[5];
    KClipBounds none = {INT64_MIN, INT64_MAX, -INFINITY, INFINITY}, some = {-2, 4, 0, 0};
    k_typed_unary(KT_CLIP, KE_INT8, &none, c, cy, 5);
    assert_memory_equal(c, cy, 5);
    k_typed_unary(KT_CLIP, KE_INT8, &some, c, cy, 5);
    const int8_t want[] = {-2, -2, 0, 4, 4};
    assert_memory_equal(cy, want, 5);
    double dx[] = {-1, 0.5, 9}, dy[3];
    KClipBounds crossed = {0, 0, 3, 1}; /* min > max: everything becomes max */
    k_typed_unary(KT_CLIP, KE_DOUBLE, &crossed, dx, dy, 3);
    for (int i = 0; i < 3; i++)
        assert_float_equal(dy[i], 1, 0);
}

static void test_typed_unary_through_float(void **state)
{
    (void)state;
    double x[] = {0, 1, -2.5}, y[3];
    KUnaryParams pr = {0};
    k_typed_unary_float(KU_EXP, &pr, KE_DOUBLE, x, y, 3);
    for (int i = 0; i < 3; i++)
        assert_float_equal(y[i], exp(x[i]), 1e-6 * exp(x[i]));
    uint16_t h[] = {0x4000, 0x3C00}, hy[2]; /* 2, 1 */
    k_typed_unary_float(KU_SQRT, &pr, KE_FLOAT16, h, hy, 2);
    assert_int_equal(hy[0], 0x3DA8); /* sqrt(2) = 1.4140625 in half */
    assert_int_equal(hy[1], 0x3C00);
}

static void test_typed_two_threads(void **state)
{
    (void)state;
    const int64_t n = 200003;
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    uint8_t *y1 = malloc((size_t)n), *y2 = malloc((size_t)n);
    assert_true(a && b && y1 && y2);
    for (int64_t i = 0; i < n; i++) {
        a[i] = (float)((i * 7919) % 1000);
        b[i] = (float)((i * 104729) % 1000);
    }
    Diag d;
    run_binary(KT_LESS_EQUAL, KE_FLOAT, a, KE_FLOAT, b, KE_BOOL, y1, n);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    run_binary(KT_LESS_EQUAL, KE_FLOAT, a, KE_FLOAT, b, KE_BOOL, y2, n);
    threads_shutdown();
    assert_memory_equal(y1, y2, (size_t)n);
    for (int64_t i = 0; i < n; i += 997)
        assert_int_equal(y1[i], a[i] <= b[i]);
    free(a), free(b), free(y1), free(y2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_float_nan),
        cmocka_unit_test(test_compare_int_broadcast),
        cmocka_unit_test(test_mod_sign_rules),
        cmocka_unit_test(test_integer_division_by_zero),
        cmocka_unit_test(test_integer_pow),
        cmocka_unit_test(test_unsigned_and_small_types),
        cmocka_unit_test(test_float16_rounding),
        cmocka_unit_test(test_typed_unary),
        cmocka_unit_test(test_typed_unary_through_float),
        cmocka_unit_test(test_typed_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
