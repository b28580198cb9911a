/* test_kernels_conv.c - 2-D convolution, forward and backward.
 *
 * Forward against a direct 7-loop convolution in double; dX, dW and dB
 * against central finite differences (tests/unit/gradcheck.h) over groups,
 * depthwise, asymmetric pads, dilation, strides and the 1x1 direct path;
 * one thread against two (forward and dX bit for bit, dW/dB to rounding);
 * and rejection of bad attributes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels.h"
#include "runtime/threads.h"

static const GcTol conv_tol = {1e-2, 2e-3, 1e-2};

typedef struct ConvCase {
    ConvDims cd;
    bool has_bias;
    float *x, *w, *b, *y, *dyw, *ws;
    size_t nx, nw, ny, nws;
} ConvCase;

static double conv_loss(void *ctx)
{
    ConvCase *c = ctx;
    k_conv2d_forward(&c->cd, c->x, c->w, c->has_bias ? c->b : NULL, c->y, c->ws, c->nws);
    return gc_weighted_sum(c->y, c->dyw, c->ny);
}

/* Direct convolution, one output element, in double. */
static double conv_ref(const ConvCase *c, int n, int m, int oh, int ow)
{
    const ConvDims *d = &c->cd;
    int Cg = d->C / d->groups, g = m / (d->M / d->groups);
    double s = c->has_bias ? c->b[m] : 0.0;
    for (int ci = 0; ci < Cg; ci++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                int ih = oh * d->stride_h - d->pad_top + kh * d->dil_h;
                int iw = ow * d->stride_w - d->pad_left + kw * d->dil_w;
                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W)
                    continue;
                int c_in = g * Cg + ci;
                s += (double)c->x[((n * d->C + c_in) * d->H + ih) * d->W + iw] *
                     c->w[((m * Cg + ci) * d->KH + kh) * d->KW + kw];
            }
    return s;
}

static void conv_case_init(ConvCase *c, ConvDims cd, bool has_bias, KRng *rng, int nthreads)
{
    Diag d;
    *c = (ConvCase){.cd = cd, .has_bias = has_bias};
    if (k_conv2d_prepare(&c->cd, &d) != KDC_OK)
        fail_msg("%s", d.msg);
    c->nx = (size_t)cd.N * cd.C * cd.H * cd.W;
    c->nw = (size_t)cd.M * (cd.C / cd.groups) * cd.KH * cd.KW;
    c->ny = (size_t)cd.N * cd.M * c->cd.OH * c->cd.OW;
    c->nws = k_conv2d_workspace_floats(&c->cd, nthreads);
    c->x = gc_uniform(rng, c->nx, -1, 1);
    c->w = gc_uniform(rng, c->nw, -1, 1);
    c->b = gc_uniform(rng, (size_t)cd.M, -1, 1);
    c->y = gc_alloc(c->ny);
    c->dyw = gc_uniform(rng, c->ny, -1, 1);
    c->ws = gc_alloc(c->nws);
}

static void conv_case_free(ConvCase *c)
{
    free(c->x), free(c->w), free(c->b), free(c->y), free(c->dyw), free(c->ws);
}

static void conv_check_forward(const ConvCase *c)
{
    const ConvDims *d = &c->cd;
    size_t i = 0;
    for (int n = 0; n < d->N; n++)
        for (int m = 0; m < d->M; m++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++, i++)
                    assert_float_equal(c->y[i], conv_ref(c, n, m, oh, ow), 1e-4);
}

static void conv_case_run(ConvDims cd, bool has_bias, KRng *rng)
{
    ConvCase c;
    conv_case_init(&c, cd, has_bias, rng, threads_count());
    conv_loss(&c);
    conv_check_forward(&c);
    float *dx = gc_grad_buffer(c.nx), *dw = gc_grad_buffer(c.nw);
    float *db = gc_grad_buffer((size_t)cd.M);
    k_conv2d_backward(&c.cd, c.x, c.w, c.dyw, dx, dw, has_bias ? db : NULL, c.ws, c.nws);
    int bad = gc_check("conv dx", c.x, c.nx, dx, conv_loss, &c, conv_tol);
    bad += gc_check("conv dw", c.w, c.nw, dw, conv_loss, &c, conv_tol);
    if (has_bias)
        bad += gc_check("conv db", c.b, (size_t)cd.M, db, conv_loss, &c, conv_tol);
    if (bad)
        fprintf(stderr, "  in conv N%d C%d %dx%d M%d k%dx%d s%d,%d d%d,%d p%d,%d,%d,%d g%d\n",
                cd.N, cd.C, cd.H, cd.W, cd.M, cd.KH, cd.KW, cd.stride_h, cd.stride_w, cd.dil_h,
                cd.dil_w, cd.pad_top, cd.pad_left, cd.pad_bottom, cd.pad_right, cd.groups);
    assert_int_equal(bad, 0);
    conv_case_free(&c);
    free(dx), free(dw), free(db);
}

/* Argument order: N C H W M KH KW stride_h stride_w dil_h dil_w pad_top
 * pad_left pad_bottom pad_right groups. */
static ConvDims cdims(int N, int C, int H, int W, int M, int KH, int KW, int sh, int sw, int dh,
                      int dw, int pt, int pl, int pb, int pr, int groups)
{
    return (ConvDims){.N = N, .C = C, .H = H, .W = W, .M = M, .KH = KH, .KW = KW,
                      .stride_h = sh, .stride_w = sw, .dil_h = dh, .dil_w = dw, .pad_top = pt,
                      .pad_left = pl, .pad_bottom = pb, .pad_right = pr, .groups = groups};
}

static int rand_in(KRng *rng, int lo, int hi)
{
    return lo + (int)(k_rng_next(rng) % (uint64_t)(hi - lo + 1));
}

/* The attribute mixes under test, on random small images. */
static void conv_grad_cases(KRng *rng)
{
    for (int rep = 0; rep < 2; rep++) {
        int N = rand_in(rng, 1, 3), H = rand_in(rng, 5, 8), W = rand_in(rng, 5, 8);
        /* plain 3x3, pad 1 */
        conv_case_run(cdims(N, 3, H, W, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), true, rng);
        /* groups=2, 3x2 kernel, stride 2, asymmetric pads */
        conv_case_run(cdims(N, 4, H, W, 6, 3, 2, 2, 2, 1, 1, 1, 0, 2, 1, 2), true, rng);
        /* depthwise, dilation 2 */
        conv_case_run(cdims(N, 4, H, W, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 4), true, rng);
        /* depthwise with channel multiplier 2, stride 2 */
        conv_case_run(cdims(N, 3, H, W, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3), false, rng);
        /* 1x1 stride 1 unpadded: the direct GEMM path */
        conv_case_run(cdims(N, 5, H, W, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1), true, rng);
        conv_case_run(cdims(N, 4, H, W, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2), false, rng);
        /* 1x1 stride 2: im2col again */
        conv_case_run(cdims(N, 3, H, W, 2, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1), true, rng);
        /* one input channel per group but many outputs: im2col again */
        conv_case_run(cdims(N, 2, H, W, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2), true, rng);
        /* depthwise with unequal strides: im2col too */
        conv_case_run(cdims(N, 3, H, W, 3, 3, 3, 2, 1, 1, 1, 1, 0, 0, 1, 3), true, rng);
        /* a single-channel image with two filters takes the depthwise loops */
        conv_case_run(cdims(N, 1, H, W, 2, 3, 3, 1, 1, 1, 1, 0, 1, 2, 0, 1), true, rng);
        /* dilation 2 with stride 2 and lopsided pads, no bias */
        conv_case_run(cdims(N, 2, H, W, 3, 2, 3, 2, 1, 2, 2, 0, 2, 1, 0, 1), false, rng);
    }
}

static void test_conv_grads_one_thread(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 31);
    conv_grad_cases(&rng);
}

static void test_conv_grads_two_threads(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    k_rng_seed(&rng, 32);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    conv_grad_cases(&rng);
    threads_shutdown();
}

/* Runs forward and backward of c with the given thread count into fresh
 * outputs (gradients start from GC_PREFILL). */
static void conv_run_threads(ConvCase *c, int nthreads, float *y, float *dx, float *dw,
                             float *db)
{
    Diag d;
    assert_int_equal(threads_init(nthreads, &d), KDC_OK);
    k_conv2d_forward(&c->cd, c->x, c->w, c->b, y, c->ws, c->nws);
    k_conv2d_backward(&c->cd, c->x, c->w, c->dyw, dx, dw, db, c->ws, c->nws);
    threads_shutdown();
}

static void conv_compare_threads(ConvDims cd, bool full_workspace, KRng *rng)
{
    ConvCase c;
    conv_case_init(&c, cd, true, rng, full_workspace ? 2 : 1);
    float *y1 = gc_alloc(c.ny), *y2 = gc_alloc(c.ny);
    float *dx1 = gc_grad_buffer(c.nx), *dx2 = gc_grad_buffer(c.nx);
    float *dw1 = gc_grad_buffer(c.nw), *dw2 = gc_grad_buffer(c.nw);
    float *db1 = gc_grad_buffer((size_t)cd.M), *db2 = gc_grad_buffer((size_t)cd.M);
    conv_run_threads(&c, 1, y1, dx1, dw1, db1);
    conv_run_threads(&c, 2, y2, dx2, dw2, db2);
    assert_memory_equal(y1, y2, sizeof *y1 * c.ny);
    assert_memory_equal(dx1, dx2, sizeof *dx1 * c.nx);
    for (size_t i = 0; i < c.nw; i++)
        assert_float_equal(dw1[i], dw2[i], 1e-5 * (1 + fabsf(dw1[i])));
    for (int m = 0; m < cd.M; m++)
        assert_float_equal(db1[m], db2[m], 1e-5 * (1 + fabsf(db1[m])));
    conv_case_free(&c);
    free(y1), free(y2), free(dx1), free(dx2), free(dw1), free(dw2), free(db1), free(db2);
}

static void test_conv_one_vs_two_threads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 33);
    conv_compare_threads(cdims(5, 4, 9, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2), true, &rng);
    conv_compare_threads(cdims(3, 6, 8, 8, 6, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, 6), true, &rng);
    conv_compare_threads(cdims(4, 8, 6, 5, 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1), true, &rng);
    /* A one-thread workspace must still work on a two-thread pool. */
    conv_compare_threads(cdims(4, 3, 6, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1), false, &rng);
}

static void test_conv_rejects_bad_attributes(void **state)
{
    (void)state;
    Diag d;
    ConvDims groups = cdims(1, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 2);
    assert_int_equal(k_conv2d_prepare(&groups, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "group"));
    ConvDims big = cdims(1, 2, 4, 4, 2, 3, 3, 1, 1, 3, 3, 0, 0, 0, 0, 1);
    assert_int_equal(k_conv2d_prepare(&big, &d), KDC_ERR);
    assert_non_null(strstr(d.msg, "larger"));
    ConvDims stride = cdims(1, 2, 4, 4, 2, 3, 3, 0, 1, 1, 1, 0, 0, 0, 0, 1);
    assert_int_equal(k_conv2d_prepare(&stride, &d), KDC_ERR);
    ConvDims ok = cdims(1, 2, 4, 4, 2, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 1);
    assert_int_equal(k_conv2d_prepare(&ok, &d), KDC_OK);
    assert_int_equal(ok.OH, 2);
    assert_int_equal(ok.OW, 2);
}

/* At batch 1 a large conv is split inside the image across threads, by
 * output positions or, when channels outnumber them, by output channels. */
static void test_conv_batch1_split(void **state)
{
    (void)state;
    KRng rng;
    Diag d;
    k_rng_seed(&rng, 73);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    const ConvDims cases[] = {
        cdims(1, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),  /* positions >= channels */
        cdims(1, 64, 4, 4, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),   /* channels > positions */
        cdims(1, 64, 17, 15, 96, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1),  /* 1x1, read directly */
        cdims(1, 48, 18, 18, 64, 3, 3, 2, 2, 1, 1, 1, 0, 1, 0, 2),  /* strided, grouped */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ConvCase c;
        conv_case_init(&c, cases[k], true, &rng, 2);
        k_conv2d_forward(&c.cd, c.x, c.w, c.b, c.y, c.ws, c.nws);
        conv_check_forward(&c);
        conv_case_free(&c);
    }
    threads_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_grads_one_thread),
        cmocka_unit_test(test_conv_grads_two_threads),
        cmocka_unit_test(test_conv_one_vs_two_threads),
        cmocka_unit_test(test_conv_rejects_bad_attributes),
        cmocka_unit_test(test_conv_batch1_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
