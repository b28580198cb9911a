/* test_kernels_pool.c - MaxPool, AveragePool and GlobalAveragePool kernels.
 *
 * Forwards against naive loops that visit every tap and test bounds
 * (including ceil_mode output sizes and count_include_pad both ways);
 * backwards against central finite differences (tests/unit/gradcheck.h),
 * max pooling on inputs spaced wider than the step so no winner changes;
 * rejection of windows that lie in the padding alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels.h"
#include "runtime/threads.h"

static const GcTol pool_tol = {1e-2, 1e-3, 1e-2};

/* Output size as an ONNX caller computes it, ceil_mode included. */
static int out_size(int in, int k, int s, int d, int p0, int p1, bool ceil_mode)
{
    int span = in + p0 + p1 - d * (k - 1) - 1;
    int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p0) /* the last window may not start in padding */
        o--;
    return o;
}

/* Argument order: N C H W KH KW stride_h stride_w dil_h dil_w pad_top
 * pad_left pad_bottom pad_right ceil_mode count_include_pad. */
static PoolDims pdims(int N, int C, int H, int W, int KH, int KW, int sh, int sw, int dh, int dw,
                      int pt, int pl, int pb, int pr, bool ceil_mode, bool cip)
{
    return (PoolDims){.N = N, .C = C, .H = H, .W = W, .KH = KH, .KW = KW, .stride_h = sh,
                      .stride_w = sw, .dil_h = dh, .dil_w = dw, .pad_top = pt, .pad_left = pl,
                      .pad_bottom = pb, .pad_right = pr, .count_include_pad = cip,
                      .OH = out_size(H, KH, sh, dh, pt, pb, ceil_mode),
                      .OW = out_size(W, KW, sw, dw, pl, pr, ceil_mode)};
}

typedef struct PoolCase {
    PoolDims pd;
    bool max;
    float *x, *y, *w;
    int32_t *argmax;
    size_t nx, ny;
} PoolCase;

static double pool_loss(void *ctx)
{
    PoolCase *c = ctx;
    if (c->max)
        k_maxpool2d_forward(&c->pd, c->x, c->y, c->argmax);
    else
        k_avgpool2d_forward(&c->pd, c->x, c->y);
    return gc_weighted_sum(c->y, c->w, c->ny);
}

/* Naive window at output (oh, ow) of plane p. */
static double pool_ref(const PoolCase *c, int p, int oh, int ow, int32_t *arg)
{
    const PoolDims *d = &c->pd;
    double best = -INFINITY, sum = 0;
    int inside = 0, padded = 0;
    for (int kh = 0; kh < d->KH; kh++)
        for (int kw = 0; kw < d->KW; kw++) {
            int ih = oh * d->stride_h - d->pad_top + kh * d->dil_h;
            int iw = ow * d->stride_w - d->pad_left + kw * d->dil_w;
            if (ih >= -d->pad_top && ih < d->H + d->pad_bottom && iw >= -d->pad_left &&
                iw < d->W + d->pad_right)
                padded++;
            if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W)
                continue;
            float v = c->x[((size_t)p * d->H + ih) * d->W + iw];
            inside++;
            sum += v;
            if (v > best) {
                best = v;
                *arg = ih * d->W + iw;
            }
        }
    if (c->max)
        return best;
    return sum / (d->count_include_pad ? padded : inside);
}

static void pool_check_forward(const PoolCase *c)
{
    const PoolDims *d = &c->pd;
    size_t i = 0;
    for (int p = 0; p < d->N * d->C; p++)
        for (int oh = 0; oh < d->OH; oh++)
            for (int ow = 0; ow < d->OW; ow++, i++) {
                int32_t arg = -1;
                assert_float_equal(c->y[i], pool_ref(c, p, oh, ow, &arg), 1e-5);
                if (c->max)
                    assert_int_equal(c->argmax[i], arg);
            }
}

static void pool_case_run(PoolDims pd, bool max, KRng *rng)
{
    PoolCase c = {.pd = pd, .max = max};
    Diag d;
    if (k_pool2d_check(&pd, &d) != KDC_OK)
        fail_msg("%s", d.msg);
    c.nx = (size_t)pd.N * pd.C * pd.H * pd.W;
    c.ny = (size_t)pd.N * pd.C * pd.OH * pd.OW;
    c.x = max ? gc_distinct(rng, c.nx, 0.1f) : gc_uniform(rng, c.nx, -1, 1);
    c.y = gc_alloc(c.ny);
    c.w = gc_uniform(rng, c.ny, -1, 1);
    c.argmax = calloc(c.ny, sizeof *c.argmax);
    pool_loss(&c);
    pool_check_forward(&c);
    float *dx = gc_grad_buffer(c.nx);
    if (max)
        k_maxpool2d_backward(&pd, c.argmax, c.w, dx);
    else
        k_avgpool2d_backward(&pd, c.w, dx);
    int bad = gc_check(max ? "maxpool dx" : "avgpool dx", c.x, c.nx, dx, pool_loss, &c, pool_tol);
    if (bad)
        fprintf(stderr, "  in pool %dx%d -> %dx%d k%dx%d s%d,%d d%d,%d p%d,%d,%d,%d cip%d\n",
                pd.H, pd.W, pd.OH, pd.OW, pd.KH, pd.KW, pd.stride_h, pd.stride_w, pd.dil_h,
                pd.dil_w, pd.pad_top, pd.pad_left, pd.pad_bottom, pd.pad_right,
                pd.count_include_pad);
    assert_int_equal(bad, 0);
    free(c.x), free(c.y), free(c.w), free(c.argmax), free(dx);
}

static void pool_cases(bool max, bool cip, KRng *rng)
{
    pool_case_run(pdims(2, 3, 6, 7, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, cip), max, rng);
    pool_case_run(pdims(1, 2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, cip), max, rng);
    pool_case_run(pdims(2, 2, 6, 5, 3, 2, 1, 2, 1, 1, 0, 1, 1, 0, false, cip), max, rng);
    pool_case_run(pdims(1, 3, 8, 7, 2, 3, 1, 1, 2, 2, 1, 0, 2, 1, false, cip), max, rng);
    /* ceil_mode: the last windows run past the padded input */
    pool_case_run(pdims(2, 2, 6, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, cip), max, rng);
    pool_case_run(pdims(1, 2, 8, 6, 3, 2, 3, 2, 1, 1, 0, 0, 0, 0, true, cip), max, rng);
}

static void test_maxpool(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 51);
    pool_cases(true, false, &rng);
}

static void test_avgpool_both_pad_counts(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 52);
    pool_cases(false, false, &rng);
    pool_cases(false, true, &rng);
}

typedef struct GapCase {
    float *x, *y, *w;
    int64_t nc, s;
} GapCase;

static double gap_loss(void *ctx)
{
    GapCase *c = ctx;
    k_global_avgpool_forward(c->nc, c->s, c->x, c->y);
    return gc_weighted_sum(c->y, c->w, (size_t)c->nc);
}

static void test_global_avgpool(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 53);
    GapCase c = {.nc = 6, .s = 10};
    c.x = gc_uniform(&rng, 60, -1, 1);
    c.y = gc_alloc(6);
    c.w = gc_uniform(&rng, 6, -1, 1);
    gap_loss(&c);
    for (int i = 0; i < 6; i++) {
        double s = 0;
        for (int j = 0; j < 10; j++)
            s += c.x[i * 10 + j];
        assert_float_equal(c.y[i], s / 10, 1e-6);
    }
    float *dx = gc_grad_buffer(60);
    k_global_avgpool_backward(6, 10, c.w, dx);
    assert_int_equal(gc_check("gap dx", c.x, 60, dx, gap_loss, &c, pool_tol), 0);
    free(c.x), free(c.y), free(c.w), free(dx);
}

/* Large enough to be split over planes: each plane's work is identical. */
static void test_pool_one_vs_two_threads(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    k_rng_seed(&rng, 54);
    PoolDims pd = pdims(4, 16, 24, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, false);
    size_t nx = (size_t)4 * 16 * 24 * 24, ny = (size_t)4 * 16 * pd.OH * pd.OW;
    float *x = gc_uniform(&rng, nx, -1, 1), *y1 = gc_alloc(ny), *y2 = gc_alloc(ny);
    float *dx1 = gc_alloc(nx), *dx2 = gc_alloc(nx);
    int32_t *a1 = calloc(ny, sizeof *a1), *a2 = calloc(ny, sizeof *a2);
    k_maxpool2d_forward(&pd, x, y1, a1);
    k_avgpool2d_backward(&pd, y1, dx1);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    k_maxpool2d_forward(&pd, x, y2, a2);
    k_avgpool2d_backward(&pd, y2, dx2);
    threads_shutdown();
    assert_memory_equal(y1, y2, sizeof *y1 * ny);
    assert_memory_equal(a1, a2, sizeof *a1 * ny);
    assert_memory_equal(dx1, dx2, sizeof *dx1 * nx);
    free(x), free(y1), free(y2), free(dx1), free(dx2), free(a1), free(a2);
}

static void test_pool_rejects_padding_only_windows(void **state)
{
    (void)state;
    Diag d;
    PoolDims pd = pdims(1, 1, 4, 4, 2, 2, 1, 1, 1, 1, 2, 0, 0, 0, false, false);
    assert_int_equal(k_pool2d_check(&pd, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "padding"));
    pd = pdims(1, 1, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, false, false);
    pd.stride_h = 0;
    assert_int_equal(k_pool2d_check(&pd, &d), KDC_ERR);
}

static void test_maxpool_nan_propagates(void **state)
{
    (void)state;
    float x[4] = {1.0f, NAN, 3.0f, 2.0f}, y[1];
    int32_t arg[1];
    PoolDims pd = pdims(1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, false, false);
    k_maxpool2d_forward(&pd, x, y, arg);
    assert_true(isnan(y[0]));
    assert_int_equal(arg[0], 1);
}

/* Inference asks for no argmax and takes a vectorized path for window
 * interiors: it must give exactly the argmax path's values, NaN included. */
static void maxpool_paths_agree(PoolDims pd, KRng *rng)
{
    size_t nx = (size_t)pd.N * pd.C * pd.H * pd.W, ny = (size_t)pd.N * pd.C * pd.OH * pd.OW;
    float *x = gc_uniform(rng, nx, -1, 1), *y1 = gc_alloc(ny), *y2 = gc_alloc(ny);
    int32_t *arg = calloc(ny, sizeof *arg);
    for (size_t i = 0; i < nx; i += 17)
        x[i] = (i / 17) % 3 == 0 ? NAN : -INFINITY;
    k_maxpool2d_forward(&pd, x, y1, arg);
    k_maxpool2d_forward(&pd, x, y2, NULL);
    for (size_t i = 0; i < ny; i++)
        if (!(y1[i] == y2[i] || (isnan(y1[i]) && isnan(y2[i]))))
            fail_msg("output %zu: %g with argmax, %g without", i, y1[i], y2[i]);
    free(x), free(y1), free(y2), free(arg);
}

static void test_maxpool_without_argmax(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    k_rng_seed(&rng, 55);
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(threads_init(threads, &d), KDC_OK);
        maxpool_paths_agree(pdims(2, 3, 13, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, false), &rng);
        maxpool_paths_agree(pdims(1, 4, 20, 20, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, false), &rng);
        maxpool_paths_agree(pdims(2, 2, 16, 19, 3, 2, 1, 1, 2, 2, 2, 1, 0, 1, false, false), &rng);
        maxpool_paths_agree(pdims(1, 8, 33, 31, 5, 5, 3, 2, 1, 1, 2, 2, 2, 2, true, false), &rng);
    }
    threads_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_avgpool_both_pad_counts),
        cmocka_unit_test(test_global_avgpool),
        cmocka_unit_test(test_pool_one_vs_two_threads),
        cmocka_unit_test(test_pool_rejects_padding_only_windows),
        cmocka_unit_test(test_maxpool_nan_propagates),
        cmocka_unit_test(test_maxpool_without_argmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
