/* test_kernels_nn_norm.c - the normalization and Resize kernels of
 * kernels_nn.h: LayerNormalization, Group/InstanceNormalization,
 * LpNormalization, LRN and Resize.
 *
 * Normalizations: forward against their formulas in double, every
 * gradient against central finite differences (gradcheck.h), including a
 * Scale that broadcasts and affine parameters per group. Resize: small
 * cases computed by hand for every coordinate transformation, nearest
 * rounding, cubic, exclude_outside, antialias and tf_crop_and_resize's
 * extrapolation; N-d results against a direct (non-separable) reference;
 * gradients of every mode against finite differences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels_nn.h"
#include "runtime/threads.h"

static const GcTol norm_tol = {1e-2, 1e-3, 1e-2};

/* --------------------------------------------------------- LayerNorm */

typedef struct LnCase {
    int64_t rows, D, n_scale;
    const int32_t *idx;
    float *x, *scale, *bias, *y, *dyw, *mean, *invstd;
} LnCase;

static double ln_loss(void *ctx)
{
    LnCase *c = ctx;
    k_layernorm_forward(c->rows, c->D, c->x, c->scale, c->bias, c->idx, 1e-5f, c->y, c->mean, c->invstd);
    return gc_weighted_sum(c->y, c->dyw, (size_t)(c->rows * c->D));
}

static void ln_check_forward(const LnCase *c)
{
    for (int64_t r = 0; r < c->rows; r++) {
        const float *x = c->x + r * c->D;
        double m = 0, v = 0;
        for (int64_t d = 0; d < c->D; d++)
            m += x[d] / (double)c->D;
        for (int64_t d = 0; d < c->D; d++)
            v += (x[d] - m) * (x[d] - m) / (double)c->D;
        for (int64_t d = 0; d < c->D; d++) {
            int64_t a = c->idx ? c->idx[d] : d;
            double want = (x[d] - m) / sqrt(v + 1e-5) * c->scale[a] + (c->bias ? c->bias[a] : 0);
            assert_float_equal(c->y[r * c->D + d], want, 1e-4);
        }
        assert_float_equal(c->mean[r], m, 1e-5);
    }
}

static void ln_run(int64_t rows, int64_t D, int64_t n_scale, const int32_t *idx, bool bias, KRng *rng)
{
    LnCase c = {.rows = rows, .D = D, .n_scale = n_scale, .idx = idx};
    size_t n = (size_t)(rows * D);
    c.x = gc_uniform(rng, n, -2, 2);
    c.scale = gc_uniform(rng, (size_t)n_scale, 0.5f, 1.5f);
    c.bias = bias ? gc_uniform(rng, (size_t)n_scale, -1, 1) : NULL;
    c.y = gc_alloc(n);
    c.dyw = gc_uniform(rng, n, -1, 1);
    c.mean = gc_alloc((size_t)rows);
    c.invstd = gc_alloc((size_t)rows);
    ln_loss(&c);
    ln_check_forward(&c);
    float *dx = gc_grad_buffer(n), *ds = gc_grad_buffer((size_t)n_scale), *db = gc_grad_buffer((size_t)n_scale);
    k_layernorm_backward(rows, D, c.x, c.scale, idx, c.mean, c.invstd, c.dyw, dx, ds, bias ? db : NULL);
    int bad = gc_check("layernorm dx", c.x, n, dx, ln_loss, &c, norm_tol);
    bad += gc_check("layernorm dscale", c.scale, (size_t)n_scale, ds, ln_loss, &c, norm_tol);
    if (bias)
        bad += gc_check("layernorm dbias", c.bias, (size_t)n_scale, db, ln_loss, &c, norm_tol);
    assert_int_equal(bad, 0);
    free(c.x), free(c.scale), free(c.bias), free(c.y), free(c.dyw), free(c.mean), free(c.invstd);
    free(dx), free(ds), free(db);
}

static void test_layernorm(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 21);
    ln_run(5, 8, 8, NULL, true, &rng);
    ln_run(3, 12, 12, NULL, false, &rng);
    /* normalized dims [3, 4] with a Scale of shape [4]: element d reads d % 4 */
    int32_t idx[12];
    for (int d = 0; d < 12; d++)
        idx[d] = d % 4;
    ln_run(4, 12, 4, idx, true, &rng);
}

/* --------------------------------------------------------- GroupNorm */

typedef struct GnCase {
    GroupNormDims gd;
    float *x, *scale, *bias, *y, *dyw, *mean, *invstd;
    size_t n, n_param;
} GnCase;

static double gn_loss(void *ctx)
{
    GnCase *c = ctx;
    k_groupnorm_forward(&c->gd, c->x, c->scale, c->bias, 1e-5f, c->y, c->mean, c->invstd);
    return gc_weighted_sum(c->y, c->dyw, c->n);
}

static void gn_check_forward(const GnCase *c)
{
    const GroupNormDims *g = &c->gd;
    int64_t len = g->Cg * g->S;
    for (int64_t u = 0; u < (int64_t)g->N * g->G; u++) {
        const float *x = c->x + u * len;
        double m = 0, v = 0;
        for (int64_t i = 0; i < len; i++)
            m += x[i] / (double)len;
        for (int64_t i = 0; i < len; i++)
            v += (x[i] - m) * (x[i] - m) / (double)len;
        for (int64_t i = 0; i < len; i++) {
            int ch = (int)(u % g->G) * g->Cg + (int)(i / g->S), p = g->affine_per_group ? ch / g->Cg : ch;
            assert_float_equal(c->y[u * len + i], (x[i] - m) / sqrt(v + 1e-5) * c->scale[p] + c->bias[p], 1e-4);
        }
    }
}

static void gn_run(GroupNormDims gd, KRng *rng)
{
    GnCase c = {.gd = gd};
    c.n = (size_t)gd.N * gd.G * gd.Cg * (size_t)gd.S;
    c.n_param = gd.affine_per_group ? (size_t)gd.G : (size_t)gd.G * gd.Cg;
    c.x = gc_uniform(rng, c.n, -2, 2);
    c.scale = gc_uniform(rng, c.n_param, 0.5f, 1.5f);
    c.bias = gc_uniform(rng, c.n_param, -1, 1);
    c.y = gc_alloc(c.n);
    c.dyw = gc_uniform(rng, c.n, -1, 1);
    c.mean = gc_alloc((size_t)gd.N * gd.G);
    c.invstd = gc_alloc((size_t)gd.N * gd.G);
    gn_loss(&c);
    gn_check_forward(&c);
    float *dx = gc_grad_buffer(c.n), *ds = gc_grad_buffer(c.n_param), *db = gc_grad_buffer(c.n_param);
    k_groupnorm_backward(&gd, c.x, c.scale, c.mean, c.invstd, c.dyw, dx, ds, db);
    int bad = gc_check("groupnorm dx", c.x, c.n, dx, gn_loss, &c, norm_tol);
    bad += gc_check("groupnorm dscale", c.scale, c.n_param, ds, gn_loss, &c, norm_tol);
    bad += gc_check("groupnorm dbias", c.bias, c.n_param, db, gn_loss, &c, norm_tol);
    assert_int_equal(bad, 0);
    free(c.x), free(c.scale), free(c.bias), free(c.y), free(c.dyw), free(c.mean), free(c.invstd);
    free(dx), free(ds), free(db);
}

static void test_groupnorm(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 22);
    gn_run((GroupNormDims){.N = 2, .G = 3, .Cg = 2, .S = 5}, &rng);                           /* per channel */
    gn_run((GroupNormDims){.N = 2, .G = 2, .Cg = 3, .S = 4, .affine_per_group = true}, &rng); /* opset 18 */
    gn_run((GroupNormDims){.N = 3, .G = 4, .Cg = 1, .S = 6}, &rng);                           /* instance */
}

/* --------------------------------------------------- LpNorm and LRN */

typedef struct VecCase {
    int64_t outer, n, inner;
    int p;
    LrnParams lrn;
    bool is_lrn;
    float *x, *y, *dyw;
} VecCase;

static double vec_loss(void *ctx)
{
    VecCase *c = ctx;
    if (c->is_lrn)
        k_lrn_forward(c->outer, c->n, c->inner, &c->lrn, c->x, c->y);
    else
        k_lpnorm_forward(c->outer, c->n, c->inner, c->p, c->x, c->y);
    return gc_weighted_sum(c->y, c->dyw, (size_t)(c->outer * c->n * c->inner));
}

/* Element (o, k, i) by its formula. */
static double vec_ref(const VecCase *c, int64_t o, int64_t k, int64_t i)
{
    const float *x = c->x + o * c->n * c->inner + i;
    double acc = 0;
    if (c->is_lrn) {
        int64_t lo = k - (c->lrn.size - 1) / 2, hi = k + c->lrn.size / 2;
        for (int64_t j = lo < 0 ? 0 : lo; j <= hi && j < c->n; j++)
            acc += (double)x[j * c->inner] * x[j * c->inner];
        return x[k * c->inner] / pow(c->lrn.bias + c->lrn.alpha / c->lrn.size * acc, c->lrn.beta);
    }
    for (int64_t j = 0; j < c->n; j++)
        acc += c->p == 1 ? fabs(x[j * c->inner]) : (double)x[j * c->inner] * x[j * c->inner];
    return x[k * c->inner] / (c->p == 1 ? acc : sqrt(acc));
}

static void vec_run(VecCase c, KRng *rng)
{
    size_t n = (size_t)(c.outer * c.n * c.inner);
    c.x = gc_away_from_zero(rng, n, 0.2f, 1.5f);
    c.y = gc_alloc(n);
    c.dyw = gc_uniform(rng, n, -1, 1);
    vec_loss(&c);
    size_t at = 0;
    for (int64_t o = 0; o < c.outer; o++)
        for (int64_t k = 0; k < c.n; k++)
            for (int64_t i = 0; i < c.inner; i++, at++)
                assert_float_equal(c.y[at], vec_ref(&c, o, k, i), 1e-5);
    float *dx = gc_grad_buffer(n);
    if (c.is_lrn)
        k_lrn_backward(c.outer, c.n, c.inner, &c.lrn, c.x, c.dyw, dx);
    else
        k_lpnorm_backward(c.outer, c.n, c.inner, c.p, c.x, c.dyw, dx);
    assert_int_equal(gc_check(c.is_lrn ? "lrn dx" : "lpnorm dx", c.x, n, dx, vec_loss, &c, norm_tol), 0);
    free(c.x), free(c.y), free(c.dyw), free(dx);
}

static void test_lpnorm_and_lrn(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 23);
    vec_run((VecCase){.outer = 3, .n = 4, .inner = 2, .p = 2}, &rng);
    vec_run((VecCase){.outer = 2, .n = 5, .inner = 1, .p = 1}, &rng);
    vec_run((VecCase){.outer = 2, .n = 5, .inner = 3, .lrn = {3, 0.3f, 0.75f, 1.0f}, .is_lrn = true}, &rng);
    vec_run((VecCase){.outer = 1, .n = 6, .inner = 2, .lrn = {4, 0.5f, 0.5f, 2.0f}, .is_lrn = true}, &rng);
    float zero[3] = {0}, out[3] = {1, 1, 1};
    k_lpnorm_forward(1, 3, 1, 2, zero, out);
    for (int i = 0; i < 3; i++)
        assert_float_equal(out[i], 0, 0);
}

/* ------------------------------------------------------------- Resize */

/* Tables for a tensor of `rank` dims, owned by the test. */
typedef struct ResizeCase {
    KResizeParams rp;
    KResizeDims rd;
    KResizeAxis axes[KN_MAX_RANK];
    float *ws;
} ResizeCase;

/* in/out/scale per axis; roi per axis where given (tf_crop_and_resize). */
static void resize_case_init(ResizeCase *c, KResizeParams rp, int rank, const int64_t *in, const int64_t *out,
                             const double *scale, const double *roi)
{
    *c = (ResizeCase){.rp = rp, .rd = {.rank = rank, .axes = c->axes, .extrapolation = 10.0f}};
    for (int a = 0; a < rank; a++) {
        KResizeAxis *ax = &c->axes[a];
        *ax = (KResizeAxis){.in = in[a],
                            .out = out[a],
                            .scale = scale[a],
                            .roi_start = roi ? roi[a] : 0,
                            .roi_end = roi ? roi[rank + a] : 1};
        ax->taps = k_resize_axis_taps(&rp, scale[a]);
        ax->idx = calloc((size_t)(out[a] * ax->taps), sizeof *ax->idx);
        ax->w = calloc((size_t)(out[a] * ax->taps), sizeof *ax->w);
        ax->outside = calloc((size_t)out[a], 1);
        k_resize_axis_build(&rp, ax);
    }
    c->ws = gc_alloc(k_resize_workspace_floats(&c->rd));
}

static void resize_case_free(ResizeCase *c)
{
    for (int a = 0; a < c->rd.rank; a++)
        free(c->axes[a].idx), free(c->axes[a].w), free(c->axes[a].outside);
    free(c->ws);
}

/* A 1-D resize of x[in] to out values at scale, compared with want. */
static void resize_1d(KResizeParams rp, const float *x, int64_t in, int64_t out, double scale, const double *roi,
                      const float *want)
{
    ResizeCase c;
    float y[16];
    resize_case_init(&c, rp, 1, &in, &out, &scale, roi);
    k_resize_forward(&c.rd, x, y, c.ws);
    for (int64_t j = 0; j < out; j++)
        if (fabsf(y[j] - want[j]) > 1e-5f)
            fail_msg("resize mode %d coord %d: y[%lld] = %g, want %g", rp.mode, rp.coord, (long long)j, y[j], want[j]);
    resize_case_free(&c);
}

static KResizeParams params(KResizeMode mode, KResizeCoord coord, KResizeNearest nearest)
{
    return (KResizeParams){.mode = mode, .coord = coord, .nearest = nearest, .cubic_a = -0.75f};
}

static void test_resize_coordinate_modes(void **state)
{
    (void)state;
    const float x[4] = {1, 2, 3, 4};
    /* half_pixel, 2x: (j + 0.5) / 2 - 0.5, clamped at the edges */
    resize_1d(params(KR_LINEAR, KC_HALF_PIXEL, 0), x, 4, 8, 2.0, NULL,
              (float[]){1, 1.25f, 1.75f, 2.25f, 2.75f, 3.25f, 3.75f, 4});
    /* align_corners, 4 -> 7: j * 3 / 6 */
    resize_1d(params(KR_LINEAR, KC_ALIGN_CORNERS, 0), x, 4, 7, 7.0 / 4, NULL, (float[]){1, 1.5f, 2, 2.5f, 3, 3.5f, 4});
    /* asymmetric, 2x: j / 2 */
    resize_1d(params(KR_LINEAR, KC_ASYMMETRIC, 0), x, 4, 8, 2.0, NULL, (float[]){1, 1.5f, 2, 2.5f, 3, 3.5f, 4, 4});
    /* pytorch_half_pixel to one value: x_original 0 */
    resize_1d(params(KR_LINEAR, KC_PYTORCH_HALF_PIXEL, 0), x, 4, 1, 0.25, NULL, (float[]){1});
    /* pytorch_half_pixel 4 -> 3: (j + 0.5) * 4/3 - 0.5 = 1/6, 3/2, 17/6 */
    resize_1d(params(KR_LINEAR, KC_PYTORCH_HALF_PIXEL, 0), x, 4, 3, 0.75, NULL,
              (float[]){1 + 1.0f / 6, 2.5f, 1 + 17.0f / 6});
    /* half_pixel_symmetric, scale 0.6 -> 2 values: offset 2 * (1 - 2/2.4) */
    resize_1d(params(KR_LINEAR, KC_HALF_PIXEL_SYMMETRIC, 0), x, 4, 2, 0.6, NULL, (float[]){5.0f / 3, 10.0f / 3});
    /* tf_crop_and_resize, roi [0, 1.5] -> 3 values: 0, 2.25, 4.5 (outside: the extrapolation value 10) */
    resize_1d(params(KR_LINEAR, KC_TF_CROP_AND_RESIZE, 0), x, 4, 3, 0.75, (double[]){0, 1.5}, (float[]){1, 3.25f, 10});
    /* tf_half_pixel_for_nn, 4 -> 3: (j + 0.5) / 0.75 = 2/3, 2, 10/3 */
    resize_1d(params(KR_NEAREST, KC_TF_HALF_PIXEL_FOR_NN, KN_ROUND_PREFER_FLOOR), x, 4, 3, 0.75, NULL,
              (float[]){2, 3, 4});
}

static void test_resize_nearest_modes(void **state)
{
    (void)state;
    const float x[2] = {1, 2}, x4[4] = {1, 2, 3, 4};
    /* asymmetric 2x: x_original 0, 0.5, 1, 1.5 */
    resize_1d(params(KR_NEAREST, KC_ASYMMETRIC, KN_ROUND_PREFER_FLOOR), x, 2, 4, 2.0, NULL, (float[]){1, 1, 2, 2});
    resize_1d(params(KR_NEAREST, KC_ASYMMETRIC, KN_ROUND_PREFER_CEIL), x, 2, 4, 2.0, NULL, (float[]){1, 2, 2, 2});
    resize_1d(params(KR_NEAREST, KC_ASYMMETRIC, KN_FLOOR), x, 2, 4, 2.0, NULL, (float[]){1, 1, 2, 2});
    resize_1d(params(KR_NEAREST, KC_ASYMMETRIC, KN_CEIL), x, 2, 4, 2.0, NULL, (float[]){1, 2, 2, 2});
    /* Upsample's rounding: floor up, ceil down (0, 4/3, 8/3 -> 0, 2, 3) */
    resize_1d(params(KR_NEAREST, KC_ASYMMETRIC, KN_SIMPLE), x, 2, 6, 3.0, NULL, (float[]){1, 1, 1, 2, 2, 2});
    resize_1d(params(KR_NEAREST, KC_ASYMMETRIC, KN_SIMPLE), x4, 4, 3, 0.75, NULL, (float[]){1, 3, 4});
    /* half_pixel 3x upsample: (j + 0.5) / 3 - 0.5 */
    resize_1d(params(KR_NEAREST, KC_HALF_PIXEL, KN_ROUND_PREFER_FLOOR), x, 2, 6, 3.0, NULL,
              (float[]){1, 1, 1, 2, 2, 2});
}

/* The reference's 1-D interpolation, written from the spec: the n nearest
 * positions (ties to the lower) on an edge-padded axis. */
static double cubic_ref(const float *x, int64_t in, double xo, double A, bool exclude)
{
    double base = ceil(xo) - 1, w[4], sum = 0, acc = 0;
    for (int t = 0; t < 4; t++) {
        double d = fabs(base - 1 + t - xo);
        w[t] = d <= 1 ? ((A + 2) * d - (A + 3)) * d * d + 1 : d < 2 ? ((A * d - 5 * A) * d + 8 * A) * d - 4 * A : 0;
        int64_t pos = (int64_t)base - 1 + t;
        if (exclude && (pos < 0 || pos >= in))
            w[t] = 0;
        sum += w[t];
    }
    for (int t = 0; t < 4; t++) {
        int64_t pos = (int64_t)base - 1 + t;
        acc += w[t] / (exclude ? sum : 1.0) * x[pos < 0 ? 0 : pos >= in ? in - 1 : pos];
    }
    return acc;
}

static void test_resize_cubic_and_antialias(void **state)
{
    (void)state;
    const float x[5] = {1, -2, 3, 0.5f, 4};
    for (int exclude = 0; exclude < 2; exclude++) {
        KResizeParams rp = params(KR_CUBIC, KC_HALF_PIXEL, 0);
        rp.exclude_outside = exclude;
        rp.cubic_a = exclude ? -0.5f : -0.75f;
        float want[8];
        for (int j = 0; j < 8; j++)
            want[j] = (float)cubic_ref(x, 5, (j + 0.5) / 1.6 - 0.5, rp.cubic_a, exclude);
        resize_1d(rp, x, 5, 8, 1.6, NULL, want);
    }
    /* linear antialias, half of [1,2,3,4]: triangle of width 4 around 0.5 and 2.5 */
    KResizeParams aa = params(KR_LINEAR, KC_HALF_PIXEL, 0);
    aa.antialias = true;
    assert_int_equal(k_resize_axis_taps(&aa, 0.5), 4);
    resize_1d(aa, (float[]){1, 2, 3, 4}, 4, 2, 0.5, NULL, (float[]){1.625f, 3.375f});
    /* above 1 antialias changes nothing */
    resize_1d(aa, (float[]){1, 2, 3, 4}, 4, 8, 2.0, NULL, (float[]){1, 1.25f, 1.75f, 2.25f, 2.75f, 3.25f, 3.75f, 4});
}

/* Bilinear 2x of [[1,2],[3,4]] (ONNX's own example), with identity N, C axes. */
static void test_resize_2d_linear(void **state)
{
    (void)state;
    ResizeCase c;
    int64_t in[4] = {1, 1, 2, 2}, out[4] = {1, 1, 4, 4};
    double scale[4] = {1, 1, 2, 2};
    resize_case_init(&c, params(KR_LINEAR, KC_HALF_PIXEL, 0), 4, in, out, scale, NULL);
    assert_true(c.axes[0].identity && c.axes[1].identity && !c.axes[2].identity);
    float x[4] = {1, 2, 3, 4}, y[16];
    const float want[16] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
    k_resize_forward(&c.rd, x, y, c.ws);
    for (int i = 0; i < 16; i++)
        assert_float_equal(y[i], want[i], 1e-6);
    resize_case_free(&c);
}

typedef struct ResizeGrad {
    ResizeCase c;
    float *x, *y, *dyw;
    size_t nx, ny;
} ResizeGrad;

static double resize_loss(void *ctx)
{
    ResizeGrad *g = ctx;
    k_resize_forward(&g->c.rd, g->x, g->y, g->c.ws);
    return gc_weighted_sum(g->y, g->dyw, g->ny);
}

static void resize_grad_run(KResizeParams rp, int rank, const int64_t *in, const int64_t *out, const double *scale,
                            const double *roi, KRng *rng)
{
    ResizeGrad g = {.nx = 1, .ny = 1};
    resize_case_init(&g.c, rp, rank, in, out, scale, roi);
    for (int a = 0; a < rank; a++)
        g.nx *= (size_t)in[a], g.ny *= (size_t)out[a];
    g.x = gc_uniform(rng, g.nx, -1, 1);
    g.y = gc_alloc(g.ny);
    g.dyw = gc_uniform(rng, g.ny, -1, 1);
    float *dx = gc_grad_buffer(g.nx);
    k_resize_backward(&g.c.rd, g.dyw, dx, g.c.ws);
    assert_int_equal(gc_check("resize dx", g.x, g.nx, dx, resize_loss, &g, norm_tol), 0);
    resize_case_free(&g.c);
    free(g.x), free(g.y), free(g.dyw), free(dx);
}

static void test_resize_gradients(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 24);
    Diag d;
    assert_int_equal(threads_init(2, &d), KDC_OK);
    int64_t in3[3] = {3, 4, 5}, up3[3] = {5, 8, 7}, down3[3] = {2, 3, 3};
    double s_up[3] = {5.0 / 3, 2, 1.4}, s_down[3] = {2.0 / 3, 0.75, 0.6};
    /* three passes: the ping-pong buffers */
    resize_grad_run(params(KR_NEAREST, KC_HALF_PIXEL, KN_ROUND_PREFER_FLOOR), 3, in3, up3, s_up, NULL, &rng);
    resize_grad_run(params(KR_LINEAR, KC_HALF_PIXEL, 0), 3, in3, up3, s_up, NULL, &rng);
    resize_grad_run(params(KR_CUBIC, KC_ALIGN_CORNERS, 0), 3, in3, down3, s_down, NULL, &rng);
    KResizeParams aa = params(KR_CUBIC, KC_HALF_PIXEL, 0);
    aa.antialias = aa.exclude_outside = true;
    resize_grad_run(aa, 3, in3, down3, s_down, NULL, &rng);
    /* extrapolated outputs carry no gradient */
    double roi[6] = {-0.2, 0.1, 0, 1.3, 0.8, 1};
    resize_grad_run(params(KR_LINEAR, KC_TF_CROP_AND_RESIZE, 0), 3, in3, up3, s_up, roi, &rng);
    /* two identity axes and one pass */
    int64_t in4[4] = {2, 3, 4, 4}, out4[4] = {2, 3, 4, 8};
    resize_grad_run(params(KR_LINEAR, KC_ASYMMETRIC, 0), 4, in4, out4, (double[]){1, 1, 1, 2}, NULL, &rng);
    threads_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_groupnorm),
        cmocka_unit_test(test_lpnorm_and_lrn),
        cmocka_unit_test(test_resize_coordinate_modes),
        cmocka_unit_test(test_resize_nearest_modes),
        cmocka_unit_test(test_resize_cubic_and_antialias),
        cmocka_unit_test(test_resize_2d_linear),
        cmocka_unit_test(test_resize_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
