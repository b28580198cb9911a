/* test_kernels_quant.c - the kernels of runtime/k_quant.c against references
 * computed by hand: Hann, Hamming and Blackman windows (periodic and
 * symmetric); ReverseSequence with the batch on either axis; MVN on a channel
 * whose variance is zero; QuantizeLinear's round-half-even and saturation
 * (uint8, int8, per axis); DequantizeLinear; DynamicQuantizeLinear's scale
 * and zero point. The backwards of ReverseSequence and MVN (default axes
 * and one axis) are checked against central finite differences. Det on
 * matrices that need a row swap, a singular one and a batch in double;
 * MaxUnpool into an output larger than the unpooled tensor, its index check,
 * and its backward by finite differences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels_quant.h"

static void expect_near(const double *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tol)
            fail_msg("entry %d: got %.9g, want %.9g", i, got[i], want[i]);
}

/* ---- windows ---- */

static void test_windows(void **state)
{
    (void)state;
    double y[5];
    k_window(KW_HANN, true, 4, y);
    expect_near(y, (double[]){0, 0.5, 1, 0.5}, 4, 1e-12);
    k_window(KW_HANN, false, 5, y);
    expect_near(y, (double[]){0, 0.5, 1, 0.5, 0}, 5, 1e-12);
    k_window(KW_HAMMING, true, 4, y);
    expect_near(y, (double[]){4.0 / 46, 25.0 / 46, 1, 25.0 / 46}, 4, 1e-12);
    k_window(KW_BLACKMAN, false, 3, y);
    expect_near(y, (double[]){0, 1, 0}, 3, 1e-12);
    k_window(KW_BLACKMAN, true, 4, y);
    expect_near(y, (double[]){0, 0.34, 1, 0.34}, 4, 1e-12);
    k_window(KW_HANN, false, 1, y); /* no period: the peak */
    expect_near(y, (double[]){1}, 1, 1e-12);
}

/* ---- ReverseSequence ---- */

static void test_reverse_sequence(void **state)
{
    (void)state;
    float x[6] = {0, 1, 2, 3, 4, 5}, y[6];
    /* batch on axis 0: [2 batch, 3 time] */
    KReverseSeq rs = {2, 3, 1, 0};
    k_reverse_sequence_forward(&rs, (int64_t[]){2, 3}, sizeof(float), x, y);
    const float want_b[6] = {1, 0, 2, 5, 4, 3};
    assert_memory_equal(y, want_b, sizeof y);
    /* time on axis 0: [3 time, 2 batch] */
    rs = (KReverseSeq){3, 2, 1, 1};
    k_reverse_sequence_forward(&rs, (int64_t[]){3, 1}, sizeof(float), x, y);
    const float want_t[6] = {4, 1, 2, 3, 0, 5};
    assert_memory_equal(y, want_t, sizeof y);
}

typedef struct SeqCtx {
    KReverseSeq rs;
    const int64_t *lens;
    float *x, *y, *w;
    size_t n;
} SeqCtx;

static double seq_loss(void *ctx)
{
    SeqCtx *c = ctx;
    k_reverse_sequence_forward(&c->rs, c->lens, sizeof(float), c->x, c->y);
    return gc_weighted_sum(c->y, c->w, c->n);
}

static void test_reverse_sequence_gradient(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 5);
    const int64_t lens[4] = {3, 0, 1, 2};
    SeqCtx c = {{3, 4, 2, 1}, lens, NULL, NULL, NULL, 24};
    c.x = gc_uniform(&rng, c.n, -1, 1), c.w = gc_uniform(&rng, c.n, -1, 1), c.y = gc_alloc(c.n);
    float *dx = gc_grad_buffer(c.n);
    k_reverse_sequence_backward(&c.rs, lens, c.w, dx);
    assert_int_equal(gc_check("reverse_sequence", c.x, c.n, dx, seq_loss, &c, (GcTol){1e-2, 1e-4, 1e-3}), 0);
    free(c.x), free(c.w), free(c.y), free(dx);
}

/* ---- MVN ---- */

typedef struct MvnCtx {
    KMvn km;
    int64_t *group;
    float *x, *y, *w;
    double *mean, *std;
} MvnCtx;

static double mvn_loss(void *ctx)
{
    MvnCtx *c = ctx;
    k_mvn_forward(&c->km, c->group, c->x, c->y, c->mean, c->std);
    return gc_weighted_sum(c->y, c->w, (size_t)c->km.n);
}

static void test_mvn_forward(void **state)
{
    (void)state;
    /* [1, 2, 1, 2], axes 0, 2, 3: channel 0 holds {1, 3}, channel 1 {2, 2} */
    const float x[4] = {1, 3, 2, 2};
    float y[4];
    int64_t group[4];
    double mean[2], std[2];
    KMvn km;
    k_mvn_groups(4, (int64_t[]){1, 2, 1, 2}, (bool[]){true, false, true, true}, &km, group);
    assert_true(km.n == 4 && km.n_groups == 2 && km.group_size == 2);
    k_mvn_forward(&km, group, x, y, mean, std);
    assert_true(mean[0] == 2 && std[0] == 1 && mean[1] == 2 && std[1] == 0);
    assert_true(fabsf(y[0] + 1) < 1e-6f && fabsf(y[1] - 1) < 1e-6f && y[2] == 0 && y[3] == 0);
}

static void mvn_gradcheck(const int64_t *dims, const bool *reduced)
{
    KRng rng;
    k_rng_seed(&rng, 9);
    MvnCtx c;
    int64_t n = dims[0] * dims[1] * dims[2] * dims[3];
    c.group = malloc((size_t)n * sizeof *c.group);
    k_mvn_groups(4, dims, reduced, &c.km, c.group);
    c.x = gc_uniform(&rng, (size_t)n, -2, 2), c.w = gc_uniform(&rng, (size_t)n, -1, 1), c.y = gc_alloc((size_t)n);
    c.mean = malloc((size_t)c.km.n_groups * sizeof *c.mean), c.std = malloc((size_t)c.km.n_groups * sizeof *c.std);
    double *ws = malloc(2 * (size_t)c.km.n_groups * sizeof *ws);
    float *dx = gc_grad_buffer((size_t)n);
    mvn_loss(&c);
    k_mvn_backward(&c.km, c.group, c.x, c.mean, c.std, c.w, dx, ws);
    assert_int_equal(gc_check("mvn", c.x, (size_t)n, dx, mvn_loss, &c, (GcTol){1e-3, 2e-3, 1e-2}), 0);
    free(c.group), free(c.x), free(c.w), free(c.y), free(c.mean), free(c.std), free(ws), free(dx);
}

static void test_mvn_gradient(void **state)
{
    (void)state;
    mvn_gradcheck((int64_t[]){2, 3, 2, 2}, (bool[]){true, false, true, true});
    mvn_gradcheck((int64_t[]){2, 3, 2, 2}, (bool[]){false, true, false, false});
}

/* ---- quantization ---- */

static void test_quantize(void **state)
{
    (void)state;
    const float x[7] = {0, 2, 3, -3, 1000, -1000, 5};
    uint8_t yu[7];
    int8_t yi[7];
    KQuantAxis qa = {7, 1, 1};
    /* x / 2 = 0, 1, 1.5, -1.5, 500, -500, 2.5: halves round to even */
    k_quantize(&qa, x, (float[]){2}, (uint8_t[]){128}, KE_UINT8, yu);
    const uint8_t want_u[7] = {128, 129, 130, 126, 255, 0, 130};
    assert_memory_equal(yu, want_u, sizeof yu);
    k_quantize(&qa, x, (float[]){2}, (int8_t[]){-1}, KE_INT8, yi);
    const int8_t want_i[7] = {-1, 0, 1, -3, 127, -128, 1};
    assert_memory_equal(yi, want_i, sizeof yi);
    k_quantize(&qa, x, (float[]){2}, NULL, KE_UINT8, yu);
    const uint8_t want_nozp[7] = {0, 1, 2, 0, 255, 0, 2};
    assert_memory_equal(yu, want_nozp, sizeof yu);
    /* per axis 1 of [1, 2, 2]: channel scales 1 and 4, zero points 0 and 10 */
    qa = (KQuantAxis){4, 2, 2};
    k_quantize(&qa, (float[]){1, 2, 8, -6}, (float[]){1, 4}, (uint8_t[]){0, 10}, KE_UINT8, yu);
    assert_true(yu[0] == 1 && yu[1] == 2 && yu[2] == 12 && yu[3] == 8);
}

static void test_dequantize(void **state)
{
    (void)state;
    float y[4];
    KQuantAxis qa = {4, 2, 2};
    k_dequantize(&qa, KE_UINT8, (uint8_t[]){1, 2, 12, 8}, (float[]){1, 4}, (uint8_t[]){0, 10}, y);
    assert_true(y[0] == 1 && y[1] == 2 && y[2] == 8 && y[3] == -8);
    qa = (KQuantAxis){3, 1, 1};
    k_dequantize(&qa, KE_INT8, (int8_t[]){-128, 0, 127}, (float[]){0.5f}, (int8_t[]){-1}, y);
    assert_true(y[0] == -63.5f && y[1] == 0.5f && y[2] == 64);
    k_dequantize(&qa, KE_INT32, (int32_t[]){-100000, 0, 7}, (float[]){2}, NULL, y);
    assert_true(y[0] == -200000 && y[1] == 0 && y[2] == 14);
}

static void test_dynamic_quantize(void **state)
{
    (void)state;
    uint8_t y[4], zp;
    float scale;
    k_dynamic_quantize(4, (float[]){0, 2, -3, 1}, y, &scale, &zp);
    assert_true(fabsf(scale - 5.0f / 255) < 1e-9f);
    assert_int_equal(zp, 153);
    assert_true(y[0] == 153 && y[1] == 255 && y[2] == 0 && y[3] == 204);
    /* all positive: the range still includes 0, so zp is 0; 1 / (2 / 255)
     * is 127.49999 in float */
    k_dynamic_quantize(2, (float[]){1, 2}, y, &scale, &zp);
    assert_true(zp == 0 && y[1] == 255 && y[0] == 127);
    k_dynamic_quantize(2, (float[]){0, 0}, y, &scale, &zp);
    assert_true(scale == 0 && zp == 0 && y[0] == 0 && y[1] == 0);
}

/* ---- Det ---- */

static void test_det(void **state)
{
    (void)state;
    double ws[9];
    float y[3];
    /* [[0, 1], [2, 3]] needs a row swap: det -2; [[1, 2], [2, 4]] is singular */
    const float x2[8] = {0, 1, 2, 3, 1, 2, 2, 4};
    k_det(2, 2, KE_FLOAT, x2, y, ws);
    assert_true(fabsf(y[0] + 2) < 1e-6f && y[1] == 0);
    /* [[2, 0, 1], [1, 3, 2], [1, 1, 1]]: 2 * (3 - 2) - 0 + 1 * (1 - 3) = 0;
     * [[4, 3, 0], [6, 3, 1], [0, 2, 5]]: 4 * 13 - 3 * 30 = -38 */
    const double x3[18] = {2, 0, 1, 1, 3, 2, 1, 1, 1, 4, 3, 0, 6, 3, 1, 0, 2, 5};
    double yd[2];
    k_det(2, 3, KE_DOUBLE, x3, yd, ws);
    assert_true(fabs(yd[0]) < 1e-12 && fabs(yd[1] + 38) < 1e-12);
}

/* ---- MaxUnpool ---- */

/* unpooled [1, 1, 2, 2] inside an output [1, 1, 3, 3] */
static const KUnpool unpool_2in3 = {4, {1, 1, 2, 2}, {1, 1, 3, 3}, 4, 9};

static void test_max_unpool(void **state)
{
    (void)state;
    float y[9];
    Diag d = {{0}};
    assert_int_equal(k_max_unpool_forward(&unpool_2in3, 2, (float[]){5, 7}, (int64_t[]){3, 1}, y, &d), KDC_OK);
    const float want[9] = {0, 7, 0, 0, 5, 0, 0, 0, 0};
    assert_memory_equal(y, want, sizeof want);
    assert_int_equal(k_max_unpool_forward(&unpool_2in3, 2, (float[]){5, 7}, (int64_t[]){3, 4}, y, &d), KDC_ERR);
    assert_string_equal(d.msg, "index 4 at position 1 is outside the unpooled tensor's 4 elements");
}

typedef struct UnpoolCtx {
    const int64_t *idx;
    float *x, *y, *w;
} UnpoolCtx;

static double unpool_loss(void *ctx)
{
    UnpoolCtx *c = ctx;
    Diag d;
    k_max_unpool_forward(&unpool_2in3, 3, c->x, c->idx, c->y, &d);
    return gc_weighted_sum(c->y, c->w, 9);
}

static void test_max_unpool_gradient(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 13);
    const int64_t idx[3] = {0, 3, 2};
    UnpoolCtx c = {idx, gc_uniform(&rng, 3, -1, 1), gc_alloc(9), gc_uniform(&rng, 9, -1, 1)};
    float *dx = gc_grad_buffer(3);
    k_max_unpool_backward(&unpool_2in3, 3, idx, c.w, dx);
    assert_int_equal(gc_check("max_unpool", c.x, 3, dx, unpool_loss, &c, (GcTol){1e-2, 1e-4, 1e-3}), 0);
    free(c.x), free(c.y), free(c.w), free(dx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_reverse_sequence),
        cmocka_unit_test(test_reverse_sequence_gradient),
        cmocka_unit_test(test_mvn_forward),
        cmocka_unit_test(test_mvn_gradient),
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_dequantize),
        cmocka_unit_test(test_dynamic_quantize),
        cmocka_unit_test(test_det),
        cmocka_unit_test(test_max_unpool),
        cmocka_unit_test(test_max_unpool_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
