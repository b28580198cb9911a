/* test_augment.c - unit tests for train/augment.c.
 *
 * The Beta sampler's mean and variance for shapes below, at and above 1; crops against
 * a hand-computed case and against a reference that really pads and takes the window;
 * flips (twice is identity, once mirrors); mixup against the formula with the returned
 * lam and permutation, including in-place mixing along permutation cycles; the draws of
 * augment_batch (offsets in range, about half the images flipped, y2 = y[perm]);
 * determinism from the seed; and every init error with its exact message.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "train/augment.h"

/* The out-of-memory test asks for more than ASan allows; let malloc fail instead. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void init_ok(Augment *a, AugmentOptions o, int64_t batch, int64_t c, int64_t h, int64_t w)
{
    Diag d = {{0}};
    if (augment_init(a, &o, batch, c, h, w, &d))
        fail_msg("%s", d.msg);
}

static void fill_distinct(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i + 1) * 0.5f;
}

static void test_beta_moments(void **state)
{
    (void)state;
    enum { N = 200000 };
    const double shapes[] = {0.2, 1.0, 3.0};
    Rng rng;
    rng_seed(&rng, 11);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        double a = shapes[s], sum = 0, sum_sq = 0;
        for (int i = 0; i < N; i++) {
            double v = augment_sample_beta(&rng, a);
            assert_true(v >= 0 && v <= 1);
            sum += v;
            sum_sq += v * v;
        }
        double mean = sum / N, var = sum_sq / N - mean * mean, want_var = 1 / (4 * (2 * a + 1));
        /* Five standard errors of the mean; the variance is off by under 3e-4 in practice. */
        if (fabs(mean - 0.5) > 5 * sqrt(want_var / N) || fabs(var - want_var) > 1.5e-3)
            fail_msg("Beta(%g, %g): mean %.5f (want 0.5), variance %.5f (want %.5f)", a, a, mean,
                     var, want_var);
    }
}

/* out [C, H, W] = the window at (oy, ox) of in padded by p zeros, built explicitly. */
static void reference_crop(const float *in, float *out, int64_t c, int64_t h, int64_t w, int64_t p,
                           int64_t oy, int64_t ox)
{
    int64_t ph = h + 2 * p, pw = w + 2 * p;
    float *padded = calloc((size_t)(c * ph * pw), sizeof *padded);
    assert_non_null(padded);
    for (int64_t k = 0; k < c; k++)
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++)
                padded[(k * ph + i + p) * pw + j + p] = in[(k * h + i) * w + j];
    for (int64_t k = 0; k < c; k++)
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++)
                out[(k * h + i) * w + j] = padded[(k * ph + i + oy) * pw + j + ox];
    free(padded);
}

static void test_crop_hand_computed(void **state)
{
    (void)state;
    Augment a;
    init_ok(&a, (AugmentOptions){1, false, 0}, 1, 1, 3, 3);
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    /* Window at row 0, column 2 of the 5x5 padded image: one zero row on top, the
     * image shifted left by one with a zero column on the right. */
    const float want[9] = {0, 0, 0, 2, 3, 0, 5, 6, 0};
    augment_crop_image(&a, x, 0, 2);
    assert_memory_equal(x, want, sizeof want);
    augment_free(&a);
}

static void test_crop_matches_padded_window(void **state)
{
    (void)state;
    enum { C = 2, H = 4, W = 5, P = 2, N = C * H * W };
    Augment a;
    init_ok(&a, (AugmentOptions){P, false, 0}, 1, C, H, W);
    float x0[N], x[N], want[N];
    fill_distinct(x0, N);
    for (int64_t oy = 0; oy <= 2 * P; oy++)
        for (int64_t ox = 0; ox <= 2 * P; ox++) {
            memcpy(x, x0, sizeof x);
            augment_crop_image(&a, x, oy, ox);
            reference_crop(x0, want, C, H, W, P, oy, ox);
            if (memcmp(x, want, sizeof x) != 0)
                fail_msg("crop at offsets (%lld, %lld) differs", (long long)oy, (long long)ox);
        }
    /* The centre window is the image itself. */
    memcpy(x, x0, sizeof x);
    augment_crop_image(&a, x, P, P);
    assert_memory_equal(x, x0, sizeof x);
    augment_free(&a);
}

/* Padding 0 is no crop, and options that ask for nothing change nothing. */
static void test_nothing_to_do_is_identity(void **state)
{
    (void)state;
    enum { B = 3, C = 2, H = 3, W = 4, N = B * C * H * W };
    AugmentOptions none = {0, false, 0};
    assert_false(augment_active(&none));
    assert_true(augment_active(&(AugmentOptions){1, false, 0}));
    assert_true(augment_active(&(AugmentOptions){0, true, 0}));
    assert_true(augment_active(&(AugmentOptions){0, false, 0.2}));
    Augment a;
    init_ok(&a, none, B, C, H, W);
    Rng rng;
    rng_seed(&rng, 3);
    float x0[N], x[N];
    fill_distinct(x0, N);
    memcpy(x, x0, sizeof x);
    augment_crop_image(&a, x, 0, 0);
    assert_memory_equal(x, x0, sizeof x);
    int32_t y2[B] = {-5, -5, -5};
    double lam = 0;
    augment_batch(&a, &rng, x, NULL, B, y2, &lam);
    assert_memory_equal(x, x0, sizeof x);
    assert_true(lam == 1.0);
    for (int b = 0; b < B; b++)
        assert_true(y2[b] == -5 && a.perm[b] == b && !a.flipped[b] && a.crop_y[b] == 0);
    augment_free(&a);
}

static void test_flip(void **state)
{
    (void)state;
    Augment odd, even;
    init_ok(&odd, (AugmentOptions){0, true, 0}, 1, 2, 1, 3);
    init_ok(&even, (AugmentOptions){0, true, 0}, 1, 1, 2, 2);
    float x[6] = {1, 2, 3, 4, 5, 6};
    const float mirrored[6] = {3, 2, 1, 6, 5, 4}, x0[6] = {1, 2, 3, 4, 5, 6};
    augment_flip_image(&odd, x);
    assert_memory_equal(x, mirrored, sizeof x);
    augment_flip_image(&odd, x);
    assert_memory_equal(x, x0, sizeof x);
    float y[4] = {1, 2, 3, 4};
    const float y_mirrored[4] = {2, 1, 4, 3};
    augment_flip_image(&even, y);
    assert_memory_equal(y, y_mirrored, sizeof y);
    augment_free(&odd);
    augment_free(&even);
}

/* augment_batch with crop and flip: each image is the reference crop of its original,
 * mirrored when the recorded flip says so; offsets cover [0, 2P]; about half flip. */
static void test_batch_crop_and_flip(void **state)
{
    (void)state;
    enum { B = 8, C = 2, H = 4, W = 5, P = 1, N = C * H * W, ROUNDS = 200 };
    Augment a;
    init_ok(&a, (AugmentOptions){P, true, 0}, B, C, H, W);
    Rng rng;
    rng_seed(&rng, 5);
    float x0[B * N], x[B * N], want[N];
    int offsets_seen[2 * P + 1] = {0}, flips = 0;
    fill_distinct(x0, B * N);
    for (int round = 0; round < ROUNDS; round++) {
        double lam = 0;
        memcpy(x, x0, sizeof x);
        augment_batch(&a, &rng, x, NULL, B, NULL, &lam);
        assert_true(lam == 1.0);
        for (int b = 0; b < B; b++) {
            assert_true(a.crop_y[b] >= 0 && a.crop_y[b] <= 2 * P);
            assert_true(a.crop_x[b] >= 0 && a.crop_x[b] <= 2 * P);
            offsets_seen[a.crop_y[b]]++;
            reference_crop(x0 + b * N, want, C, H, W, P, a.crop_y[b], a.crop_x[b]);
            if (a.flipped[b]) {
                augment_flip_image(&a, want);
                flips++;
            }
            assert_memory_equal(x + b * N, want, sizeof want);
        }
    }
    for (int k = 0; k <= 2 * P; k++)
        assert_true(offsets_seen[k] > ROUNDS * B / (2 * P + 1) / 2);
    assert_true(flips > ROUNDS * B * 2 / 5 && flips < ROUNDS * B * 3 / 5);
    augment_free(&a);
}

/* x[b] = lam * x0[b] + (1 - lam) * x0[perm[b]], computed out of place. */
static void expect_mixed(const float *x, const float *x0, const int64_t *perm, int64_t batch,
                         int64_t n, double lam)
{
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < n; i++) {
            double want = lam * x0[b * n + i] + (1 - lam) * x0[perm[b] * n + i];
            if (fabs(x[b * n + i] - want) > 1e-6 * (1 + fabs(want)))
                fail_msg("example %lld, element %lld: %.9g, want %.9g", (long long)b,
                         (long long)i, (double)x[b * n + i], want);
        }
}

static void test_mix_batch(void **state)
{
    (void)state;
    enum { B = 6, N = 5 };
    Augment a;
    init_ok(&a, (AugmentOptions){0, false, 0.4}, B, 0, 1, N);
    float x0[B * N], x[B * N];
    fill_distinct(x0, B * N);
    /* The identity permutation mixes each example with itself: nothing changes. */
    for (int b = 0; b < B; b++)
        a.perm[b] = b;
    memcpy(x, x0, sizeof x);
    augment_mix_batch(&a, x, B, 0.3);
    expect_mixed(x, x0, a.perm, B, N, 0.3);
    /* Cycles of length 3, 2 and 1, so in-place mixing must read each original in time. */
    const int64_t perm[B] = {2, 0, 1, 4, 3, 5};
    memcpy(a.perm, perm, sizeof perm);
    memcpy(x, x0, sizeof x);
    augment_mix_batch(&a, x, B, 0.25);
    expect_mixed(x, x0, perm, B, N, 0.25);
    augment_free(&a);
}

/* A permutation of 0..n-1: every index exactly once. */
static void expect_permutation(const int64_t *perm, int64_t n)
{
    bool seen[64] = {false};
    assert_true(n <= 64);
    for (int64_t b = 0; b < n; b++) {
        assert_true(perm[b] >= 0 && perm[b] < n && !seen[perm[b]]);
        seen[perm[b]] = true;
    }
}

/* augment_batch with mixup, on images and on vectors: the formula with the returned lam
 * and the recorded permutation, and y2 = y[perm]. */
static void test_batch_mixup(void **state)
{
    (void)state;
    enum { B = 7, N = 12 };
    const int64_t shapes[2][3] = {{3, 2, 2}, {0, 1, 12}};
    for (int s = 0; s < 2; s++) {
        Augment a;
        init_ok(&a, (AugmentOptions){0, false, 0.5}, B, shapes[s][0], shapes[s][1], shapes[s][2]);
        Rng rng;
        rng_seed(&rng, 9);
        float x0[B * N], x[B * N];
        const int32_t y[B] = {0, 1, 2, 3, 4, 5, 6};
        int32_t y2[B];
        fill_distinct(x0, B * N);
        for (int round = 0; round < 20; round++) {
            double lam = -1;
            memcpy(x, x0, sizeof x);
            augment_batch(&a, &rng, x, y, B, y2, &lam);
            assert_true(lam >= 0 && lam <= 1);
            expect_permutation(a.perm, B);
            expect_mixed(x, x0, a.perm, B, N, lam);
            for (int b = 0; b < B; b++)
                assert_int_equal(y2[b], y[a.perm[b]]);
        }
        augment_free(&a);
    }
}

typedef struct Draws {
    float x[4 * 2 * 3 * 3];
    int32_t y2[4];
    double lam;
} Draws;

static Draws draw_all(uint64_t seed, int rounds)
{
    Augment a;
    init_ok(&a, (AugmentOptions){1, true, 0.3}, 4, 2, 3, 3);
    Rng rng;
    rng_seed(&rng, seed);
    const int32_t y[4] = {10, 11, 12, 13};
    Draws out;
    for (int r = 0; r < rounds; r++) {
        fill_distinct(out.x, 4 * 2 * 3 * 3);
        augment_batch(&a, &rng, out.x, y, 4, out.y2, &out.lam);
    }
    augment_free(&a);
    return out;
}

static void test_deterministic_from_seed(void **state)
{
    (void)state;
    Draws first = draw_all(123, 3), again = draw_all(123, 3), other = draw_all(124, 3);
    assert_memory_equal(first.x, again.x, sizeof first.x);
    assert_memory_equal(first.y2, again.y2, sizeof first.y2);
    assert_true(first.lam == again.lam);
    assert_true(first.lam != other.lam);
    assert_memory_not_equal(first.x, other.x, sizeof first.x);
}

static void expect_init_error(AugmentOptions o, int64_t batch, int64_t c, int64_t h, int64_t w,
                              const char *message)
{
    Augment a;
    Diag d = {{0}};
    assert_int_equal(augment_init(&a, &o, batch, c, h, w, &d), KDC_ERR);
    assert_string_equal(d.msg, message);
    assert_null(a.scratch);
    assert_null(a.perm);
    augment_free(&a);
}

static void test_init_errors(void **state)
{
    (void)state;
    expect_init_error((AugmentOptions){-1, false, 0}, 4, 3, 8, 8,
                      "augment: crop_padding must be >= 0, got -1");
    expect_init_error((AugmentOptions){2, false, 0}, 4, 0, 1, 784,
                      "augment: crop_padding and flip need image inputs [N, C, H, W]; the model's "
                      "input is [N, 784]");
    expect_init_error((AugmentOptions){0, true, 0.2}, 4, 0, 1, 784,
                      "augment: crop_padding and flip need image inputs [N, C, H, W]; the model's "
                      "input is [N, 784]");
    expect_init_error((AugmentOptions){4, false, 0}, 4, 1, 4, 8,
                      "augment: crop_padding 4 must be smaller than the image height 4 and width 8");
    expect_init_error((AugmentOptions){4, false, 0}, 4, 1, 8, 3,
                      "augment: crop_padding 4 must be smaller than the image height 8 and width 3");
    expect_init_error((AugmentOptions){0, false, -0.5}, 4, 1, 8, 8,
                      "augment: mixup must be a finite number >= 0, got -0.5");
    expect_init_error((AugmentOptions){0, false, INFINITY}, 4, 1, 8, 8,
                      "augment: mixup must be a finite number >= 0, got inf");
    expect_init_error((AugmentOptions){0, false, NAN}, 4, 1, 8, 8,
                      "augment: mixup must be a finite number >= 0, got nan");
    expect_init_error((AugmentOptions){0, true, 0}, 0, 1, 8, 8,
                      "augment: bad input size (batch 0, channels 1, height 8, width 8)");
    expect_init_error((AugmentOptions){0, true, 0}, 2, 1, 8, 0,
                      "augment: bad input size (batch 2, channels 1, height 8, width 0)");
    expect_init_error((AugmentOptions){0, true, 0}, 2, 1 << 30, 1 << 30, 1 << 30,
                      "augment: bad input size (batch 2, channels 1073741824, height 1073741824, "
                      "width 1073741824)");
    expect_init_error((AugmentOptions){0, false, 0.2}, INT64_C(100000000000000000), 0, 1, 1,
                      "augment: out of memory for 100000000000000000 bytes of scratch");
    /* Mixup alone works on vectors. */
    Augment a;
    init_ok(&a, (AugmentOptions){0, false, 0.2}, 4, 0, 1, 784);
    assert_int_equal(a.example_size, 784);
    augment_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beta_moments),
        cmocka_unit_test(test_crop_hand_computed),
        cmocka_unit_test(test_crop_matches_padded_window),
        cmocka_unit_test(test_nothing_to_do_is_identity),
        cmocka_unit_test(test_flip),
        cmocka_unit_test(test_batch_crop_and_flip),
        cmocka_unit_test(test_mix_batch),
        cmocka_unit_test(test_batch_mixup),
        cmocka_unit_test(test_deterministic_from_seed),
        cmocka_unit_test(test_init_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
