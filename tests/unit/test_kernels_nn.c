/* test_kernels_nn.c - the N-d window kernels of kernels_nn.h: 3-D
 * convolution, ConvTranspose (1-D, 2-D, 3-D through the padded form) and
 * the 3-D / Lp / global pools, forward and backward.
 *
 * Forward against direct loops in double (a gather loop for convolution, a
 * scatter loop for ConvTranspose, window loops for the pools); every
 * backward against central finite differences (gradcheck.h) over strides,
 * asymmetric and negative pads, dilations, groups and the direct GEMM
 * paths, on one thread and on two; rejection of bad geometry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "runtime/kernels_nn.h"
#include "runtime/threads.h"

static const GcTol conv_tol = {1e-2, 2e-3, 1e-2};
static const GcTol pool_tol = {1e-3, 1e-3, 1e-2};

static int rand_in(KRng *rng, int lo, int hi)
{
    return lo + (int)(k_rng_next(rng) % (uint64_t)(hi - lo + 1));
}

static int64_t prod3(const int *v)
{
    return (int64_t)v[0] * v[1] * v[2];
}

/* ------------------------------------------------------------ Conv 3-D */

typedef struct Conv3Case {
    ConvNdDims cd;
    float *x, *w, *b, *y, *dyw, *ws;
    size_t nx, nw, ny, nws;
} Conv3Case;

static double conv3_loss(void *ctx)
{
    Conv3Case *c = ctx;
    k_conv3d_forward(&c->cd, c->x, c->w, c->b, c->y, c->ws, c->nws);
    return gc_weighted_sum(c->y, c->dyw, c->ny);
}

static double conv3_ref(const Conv3Case *c, int n, int m, const int *o)
{
    const ConvNdDims *d = &c->cd;
    int Cg = d->C / d->groups, g = m / (d->M / d->groups);
    double s = c->b ? c->b[m] : 0.0;
    for (int ci = 0; ci < Cg; ci++)
        for (int kd = 0; kd < d->k[0]; kd++)
            for (int kh = 0; kh < d->k[1]; kh++)
                for (int kw = 0; kw < d->k[2]; kw++) {
                    int i0 = o[0] * d->stride[0] - d->pad_begin[0] + kd * d->dil[0];
                    int i1 = o[1] * d->stride[1] - d->pad_begin[1] + kh * d->dil[1];
                    int i2 = o[2] * d->stride[2] - d->pad_begin[2] + kw * d->dil[2];
                    if (i0 < 0 || i0 >= d->in[0] || i1 < 0 || i1 >= d->in[1] || i2 < 0 || i2 >= d->in[2])
                        continue;
                    int64_t xi = (((int64_t)n * d->C + g * Cg + ci) * d->in[0] + i0) * d->in[1] * d->in[2] +
                                 (int64_t)i1 * d->in[2] + i2;
                    int64_t wi = (((int64_t)m * Cg + ci) * d->k[0] + kd) * d->k[1] * d->k[2] + kh * d->k[2] + kw;
                    s += (double)c->x[xi] * c->w[wi];
                }
    return s;
}

static void conv3_check_forward(const Conv3Case *c)
{
    const ConvNdDims *d = &c->cd;
    size_t i = 0;
    int o[3];
    for (int n = 0; n < d->N; n++)
        for (int m = 0; m < d->M; m++)
            for (o[0] = 0; o[0] < d->out[0]; o[0]++)
                for (o[1] = 0; o[1] < d->out[1]; o[1]++)
                    for (o[2] = 0; o[2] < d->out[2]; o[2]++, i++)
                        assert_float_equal(c->y[i], conv3_ref(c, n, m, o), 1e-4);
}

static void conv3_run(ConvNdDims cd, bool bias, KRng *rng)
{
    Conv3Case c = {.cd = cd};
    Diag d;
    if (k_conv3d_prepare(&c.cd, &d))
        fail_msg("%s", d.msg);
    c.nx = (size_t)(cd.N * cd.C * prod3(cd.in));
    c.nw = (size_t)(cd.M * (cd.C / cd.groups) * prod3(cd.k));
    c.ny = (size_t)(cd.N * cd.M * prod3(c.cd.out));
    c.nws = k_conv3d_workspace_floats(&c.cd, threads_count());
    c.x = gc_uniform(rng, c.nx, -1, 1);
    c.w = gc_uniform(rng, c.nw, -1, 1);
    c.b = bias ? gc_uniform(rng, (size_t)cd.M, -1, 1) : NULL;
    c.y = gc_alloc(c.ny);
    c.dyw = gc_uniform(rng, c.ny, -1, 1);
    c.ws = gc_alloc(c.nws);
    conv3_loss(&c);
    conv3_check_forward(&c);
    float *dx = gc_grad_buffer(c.nx), *dw = gc_grad_buffer(c.nw), *db = gc_grad_buffer((size_t)cd.M);
    k_conv3d_backward(&c.cd, c.x, c.w, c.dyw, dx, dw, bias ? db : NULL, c.ws, c.nws);
    int bad = gc_check("conv3d dx", c.x, c.nx, dx, conv3_loss, &c, conv_tol);
    bad += gc_check("conv3d dw", c.w, c.nw, dw, conv3_loss, &c, conv_tol);
    if (bias)
        bad += gc_check("conv3d db", c.b, (size_t)cd.M, db, conv3_loss, &c, conv_tol);
    assert_int_equal(bad, 0);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.dyw), free(c.ws), free(dx), free(dw), free(db);
}

#define V3(a, b, c)                                                                                                    \
    {                                                                                                                  \
        a, b, c                                                                                                        \
    }

static void conv3_cases(KRng *rng)
{
    int N = rand_in(rng, 1, 2);
    /* plain 3x3x3, pad 1 */
    conv3_run((ConvNdDims){.N = N,
                           .C = 2,
                           .M = 3,
                           .groups = 1,
                           .in = V3(4, 5, 4),
                           .k = V3(3, 3, 3),
                           .stride = V3(1, 1, 1),
                           .dil = V3(1, 1, 1),
                           .pad_begin = V3(1, 1, 1),
                           .pad_end = V3(1, 1, 1)},
              true, rng);
    /* groups, strides, asymmetric pads, a 2x3x1 kernel */
    conv3_run((ConvNdDims){.N = N,
                           .C = 4,
                           .M = 4,
                           .groups = 2,
                           .in = V3(5, 4, 6),
                           .k = V3(2, 3, 1),
                           .stride = V3(2, 1, 2),
                           .dil = V3(1, 1, 1),
                           .pad_begin = V3(0, 1, 1),
                           .pad_end = V3(1, 0, 0)},
              true, rng);
    /* dilation */
    conv3_run((ConvNdDims){.N = N,
                           .C = 2,
                           .M = 2,
                           .groups = 1,
                           .in = V3(5, 5, 5),
                           .k = V3(2, 2, 2),
                           .stride = V3(1, 2, 1),
                           .dil = V3(2, 1, 2),
                           .pad_begin = V3(1, 0, 0),
                           .pad_end = V3(0, 0, 1)},
              false, rng);
    /* 1x1x1: the direct GEMM path */
    conv3_run((ConvNdDims){.N = N,
                           .C = 3,
                           .M = 2,
                           .groups = 1,
                           .in = V3(2, 3, 3),
                           .k = V3(1, 1, 1),
                           .stride = V3(1, 1, 1),
                           .dil = V3(1, 1, 1)},
              true, rng);
}

/* ------------------------------------------------------- ConvTranspose */

typedef struct ConvTCase {
    ConvTDims ct;
    float *x, *w, *b, *y, *dyw, *ws;
    size_t nx, nw, ny, nws;
} ConvTCase;

static double convt_loss(void *ctx)
{
    ConvTCase *c = ctx;
    k_convtranspose_forward(&c->ct, c->x, c->w, c->b, c->y, c->ws, c->nws);
    return gc_weighted_sum(c->y, c->dyw, c->ny);
}

/* Every input value scattered through every tap, in double. */
static double *convt_ref(const ConvTCase *c)
{
    const ConvTDims *t = &c->ct;
    int Cg = t->C / t->groups, Mg = t->M / t->groups;
    int64_t Q = prod3(t->out), P = prod3(t->in), K = prod3(t->k);
    double *y = calloc((size_t)(t->N * t->M * Q), sizeof *y);
    for (int n = 0; n < t->N; n++)
        for (int m = 0; m < t->M; m++)
            for (int64_t q = 0; q < Q; q++)
                y[(n * t->M + m) * Q + q] = c->b ? c->b[m] : 0.0;
    for (int n = 0; n < t->N; n++)
        for (int ch = 0; ch < t->C; ch++)
            for (int64_t p = 0; p < P; p++)
                for (int64_t k = 0; k < K; k++)
                    for (int mi = 0; mi < Mg; mi++) {
                        int ip[3] = {(int)(p / (t->in[1] * t->in[2])), (int)(p / t->in[2] % t->in[1]),
                                     (int)(p % t->in[2])};
                        int kp[3] = {(int)(k / (t->k[1] * t->k[2])), (int)(k / t->k[2] % t->k[1]), (int)(k % t->k[2])};
                        int op[3];
                        bool inside = true;
                        for (int a = 0; a < 3; a++) {
                            op[a] = ip[a] * t->stride[a] + kp[a] * t->dil[a] - t->pad_begin[a];
                            inside &= op[a] >= 0 && op[a] < t->out[a];
                        }
                        if (!inside)
                            continue;
                        int m = ch / Cg * Mg + mi;
                        int64_t q = ((int64_t)op[0] * t->out[1] + op[1]) * t->out[2] + op[2];
                        y[(n * t->M + m) * Q + q] +=
                            (double)c->x[(n * t->C + ch) * P + p] * c->w[((int64_t)ch * Mg + mi) * K + k];
                    }
    return y;
}

static void convt_run(ConvTDims ct, bool bias, KRng *rng)
{
    ConvTCase c = {.ct = ct};
    Diag d;
    if (k_convtranspose_check(&c.ct, &d))
        fail_msg("%s", d.msg);
    c.nx = (size_t)(ct.N * ct.C * prod3(ct.in));
    c.nw = (size_t)(ct.C * (ct.M / ct.groups) * prod3(ct.k));
    c.ny = (size_t)(ct.N * ct.M * prod3(ct.out));
    c.nws = k_convtranspose_workspace_floats(&c.ct, threads_count());
    c.x = gc_uniform(rng, c.nx, -1, 1);
    c.w = gc_uniform(rng, c.nw, -1, 1);
    c.b = bias ? gc_uniform(rng, (size_t)ct.M, -1, 1) : NULL;
    c.y = gc_alloc(c.ny);
    c.dyw = gc_uniform(rng, c.ny, -1, 1);
    c.ws = gc_alloc(c.nws);
    convt_loss(&c);
    double *ref = convt_ref(&c);
    assert_true(gc_max_rel_diff(c.y, ref, c.ny) < 1e-5);
    free(ref);
    float *dx = gc_grad_buffer(c.nx), *dw = gc_grad_buffer(c.nw), *db = gc_grad_buffer((size_t)ct.M);
    k_convtranspose_backward(&c.ct, c.x, c.w, c.dyw, dx, dw, bias ? db : NULL, c.ws, c.nws);
    int bad = gc_check("convT dx", c.x, c.nx, dx, convt_loss, &c, conv_tol);
    bad += gc_check("convT dw", c.w, c.nw, dw, convt_loss, &c, conv_tol);
    if (bias)
        bad += gc_check("convT db", c.b, (size_t)ct.M, db, convt_loss, &c, conv_tol);
    assert_int_equal(bad, 0);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.dyw), free(c.ws), free(dx), free(dw), free(db);
}

static void convt_cases(KRng *rng)
{
    int N = rand_in(rng, 1, 2);
    /* 2-D, stride 2, 3x3, pad 1, output_padding-like extra row (out 8 for in 4) */
    convt_run((ConvTDims){.N = N,
                          .C = 3,
                          .M = 2,
                          .groups = 1,
                          .in = V3(1, 4, 4),
                          .out = V3(1, 8, 8),
                          .k = V3(1, 3, 3),
                          .stride = V3(1, 2, 2),
                          .dil = V3(1, 1, 1),
                          .pad_begin = V3(0, 1, 1)},
              true, rng);
    /* 1-D with dilation and groups */
    convt_run((ConvTDims){.N = N,
                          .C = 4,
                          .M = 6,
                          .groups = 2,
                          .in = V3(1, 1, 5),
                          .out = V3(1, 1, 9),
                          .k = V3(1, 1, 3),
                          .stride = V3(1, 1, 1),
                          .dil = V3(1, 1, 2),
                          .pad_begin = V3(0, 0, 0)},
              false, rng);
    /* 3-D, strides 3,2,1 */
    convt_run((ConvTDims){.N = N,
                          .C = 2,
                          .M = 3,
                          .groups = 1,
                          .in = V3(2, 3, 2),
                          .out = V3(6, 7, 4),
                          .k = V3(2, 3, 3),
                          .stride = V3(3, 2, 1),
                          .dil = V3(1, 1, 1),
                          .pad_begin = V3(0, 1, 1)},
              true, rng);
    /* a negative begin pad (output_shape larger than the taps cover) */
    convt_run((ConvTDims){.N = N,
                          .C = 2,
                          .M = 2,
                          .groups = 1,
                          .in = V3(1, 3, 3),
                          .out = V3(1, 9, 8),
                          .k = V3(1, 3, 3),
                          .stride = V3(1, 2, 2),
                          .dil = V3(1, 1, 1),
                          .pad_begin = V3(0, -1, 0)},
              true, rng);
    /* 1x1 stride 1: the direct GEMM path */
    convt_run((ConvTDims){.N = N,
                          .C = 3,
                          .M = 4,
                          .groups = 1,
                          .in = V3(1, 3, 4),
                          .out = V3(1, 3, 4),
                          .k = V3(1, 1, 1),
                          .stride = V3(1, 1, 1),
                          .dil = V3(1, 1, 1)},
              true, rng);
}

/* ------------------------------------------------------------- Pool 3-D */

typedef enum { POOL_MAX, POOL_AVG, POOL_LP } PoolKind;

typedef struct PoolCase {
    PoolNdDims pd;
    PoolKind kind;
    float *x, *y, *dyw;
    int32_t *arg;
    size_t nx, ny;
} PoolCase;

static double pool_loss(void *ctx)
{
    PoolCase *c = ctx;
    if (c->kind == POOL_MAX)
        k_maxpool3d_forward(&c->pd, c->x, c->y, c->arg);
    else if (c->kind == POOL_AVG)
        k_avgpool3d_forward(&c->pd, c->x, c->y);
    else
        k_lppool3d_forward(&c->pd, c->x, c->y);
    return gc_weighted_sum(c->y, c->dyw, c->ny);
}

/* One output of the pool, by direct loops over the window. */
static double pool_ref(const PoolCase *c, int64_t plane, const int *o)
{
    const PoolNdDims *pd = &c->pd;
    double acc = c->kind == POOL_MAX ? -INFINITY : 0.0;
    int taps = 1, t[3], inside = 0;
    for (t[0] = 0; t[0] < pd->k[0]; t[0]++)
        for (t[1] = 0; t[1] < pd->k[1]; t[1]++)
            for (t[2] = 0; t[2] < pd->k[2]; t[2]++) {
                int pos[3];
                bool in = true, in_padded = true;
                for (int a = 0; a < 3; a++) {
                    pos[a] = o[a] * pd->stride[a] - pd->pad_begin[a] + t[a] * pd->dil[a];
                    in &= pos[a] >= 0 && pos[a] < pd->in[a];
                    in_padded &= pos[a] < pd->in[a] + pd->pad_end[a];
                }
                taps += in_padded && !in;
                if (!in)
                    continue;
                inside++;
                double v = c->x[plane * prod3(pd->in) + ((int64_t)pos[0] * pd->in[1] + pos[1]) * pd->in[2] + pos[2]];
                acc = c->kind == POOL_MAX ? fmax(acc, v) : acc + (c->kind == POOL_LP ? pow(fabs(v), pd->p) : v);
            }
    if (c->kind == POOL_LP)
        return pow(acc, 1.0 / pd->p);
    if (c->kind == POOL_AVG)
        return acc / (pd->count_include_pad ? taps - 1 + inside : inside);
    return acc;
}

static void pool_check_forward(PoolCase *c)
{
    pool_loss(c);
    int o[3];
    size_t i = 0;
    for (int64_t pl = 0; pl < c->pd.planes; pl++)
        for (o[0] = 0; o[0] < c->pd.out[0]; o[0]++)
            for (o[1] = 0; o[1] < c->pd.out[1]; o[1]++)
                for (o[2] = 0; o[2] < c->pd.out[2]; o[2]++, i++)
                    assert_float_equal(c->y[i], pool_ref(c, pl, o), 1e-4);
}

static void pool_run(PoolNdDims pd, PoolKind kind, KRng *rng)
{
    PoolCase c = {.pd = pd, .kind = kind};
    Diag d;
    if (k_pool3d_check(&pd, &d))
        fail_msg("%s", d.msg);
    c.nx = (size_t)(pd.planes * prod3(pd.in));
    c.ny = (size_t)(pd.planes * prod3(pd.out));
    /* max: distinct values, so no tie flips under a step; Lp: away from 0 */
    c.x = kind == POOL_MAX ? gc_distinct(rng, c.nx, 0.05f) : gc_away_from_zero(rng, c.nx, 0.2f, 1.0f);
    c.y = gc_alloc(c.ny);
    c.dyw = gc_uniform(rng, c.ny, -1, 1);
    c.arg = calloc(c.ny, sizeof *c.arg);
    pool_check_forward(&c);
    float *dx = gc_grad_buffer(c.nx);
    if (kind == POOL_MAX)
        k_maxpool3d_backward(&pd, c.arg, c.dyw, dx);
    else if (kind == POOL_AVG)
        k_avgpool3d_backward(&pd, c.dyw, dx);
    else
        k_lppool3d_backward(&pd, c.x, c.y, c.dyw, dx);
    assert_int_equal(gc_check("pool3d dx", c.x, c.nx, dx, pool_loss, &c, pool_tol), 0);
    free(c.x), free(c.y), free(c.dyw), free(c.arg), free(dx);
}

static void pool_cases(KRng *rng)
{
    PoolNdDims a = {.planes = 3,
                    .in = V3(4, 5, 5),
                    .out = V3(2, 3, 3),
                    .k = V3(2, 3, 3),
                    .stride = V3(2, 2, 2),
                    .dil = V3(1, 1, 1),
                    .pad_begin = V3(0, 1, 1),
                    .pad_end = V3(0, 1, 1),
                    .p = 2.0f};
    PoolNdDims b = {.planes = 2,
                    .in = V3(5, 4, 6),
                    .out = V3(3, 2, 3),
                    .k = V3(2, 2, 3),
                    .stride = V3(2, 1, 2),
                    .dil = V3(1, 2, 1),
                    .pad_begin = V3(1, 0, 1),
                    .pad_end = V3(0, 0, 0),
                    .p = 3.0f};
    for (int kind = POOL_MAX; kind <= POOL_LP; kind++) {
        pool_run(a, (PoolKind)kind, rng);
        pool_run(b, (PoolKind)kind, rng);
    }
    a.count_include_pad = true;
    pool_run(a, POOL_AVG, rng);
    b.p = 1.0f;
    pool_run(b, POOL_LP, rng);
}

typedef struct GlobalCase {
    int64_t NC, S;
    float p;
    bool max;
    float *x, *y, *dyw;
    int32_t *arg;
} GlobalCase;

static double global_loss(void *ctx)
{
    GlobalCase *c = ctx;
    if (c->max)
        k_global_maxpool_forward(c->NC, c->S, c->x, c->y, c->arg);
    else
        k_global_lppool_forward(c->NC, c->S, c->p, c->x, c->y);
    return gc_weighted_sum(c->y, c->dyw, (size_t)c->NC);
}

static void global_run(bool max, float p, KRng *rng)
{
    GlobalCase c = {.NC = 4, .S = 7, .p = p, .max = max};
    c.x = max ? gc_distinct(rng, 28, 0.05f) : gc_away_from_zero(rng, 28, 0.2f, 1.0f);
    c.y = gc_alloc(4);
    c.dyw = gc_uniform(rng, 4, -1, 1);
    c.arg = calloc(4, sizeof *c.arg);
    global_loss(&c);
    for (int i = 0; i < 4; i++) {
        double ref = max ? -INFINITY : 0.0;
        for (int s = 0; s < 7; s++)
            ref = max ? fmax(ref, c.x[i * 7 + s]) : ref + pow(fabs(c.x[i * 7 + s]), p);
        assert_float_equal(c.y[i], max ? ref : pow(ref, 1.0 / p), 1e-5);
    }
    float *dx = gc_grad_buffer(28);
    if (max)
        k_global_maxpool_backward(4, 7, c.arg, c.dyw, dx);
    else
        k_global_lppool_backward(4, 7, p, c.x, c.y, c.dyw, dx);
    assert_int_equal(gc_check("global pool dx", c.x, 28, dx, global_loss, &c, pool_tol), 0);
    free(c.x), free(c.y), free(c.dyw), free(c.arg), free(dx);
}

/* ---------------------------------------------------------------- tests */

static void with_threads(int n)
{
    Diag d;
    if (n == 1)
        threads_shutdown();
    else if (threads_init(n, &d))
        fail_msg("%s", d.msg);
}

static void test_conv3d_one_thread(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 11);
    with_threads(1);
    conv3_cases(&rng);
}

static void test_conv3d_two_threads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 12);
    with_threads(2);
    conv3_cases(&rng);
    threads_shutdown();
}

static void test_convtranspose_one_thread(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 13);
    with_threads(1);
    convt_cases(&rng);
}

static void test_convtranspose_two_threads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 14);
    with_threads(2);
    convt_cases(&rng);
    threads_shutdown();
}

static void test_pools_3d(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 15);
    with_threads(2);
    pool_cases(&rng);
    threads_shutdown();
}

static void test_global_pools(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 16);
    global_run(true, 0, &rng);
    global_run(false, 2.0f, &rng);
    global_run(false, 3.0f, &rng);
}

/* NaN wins a max window and stays, as in the ONNX reference. */
static void test_maxpool3d_nan(void **state)
{
    (void)state;
    PoolNdDims pd = {.planes = 1,
                     .in = V3(1, 1, 4),
                     .out = V3(1, 1, 2),
                     .k = V3(1, 1, 2),
                     .stride = V3(1, 1, 2),
                     .dil = V3(1, 1, 1)};
    float x[4] = {1, NAN, 3, 2}, y[2];
    int32_t arg[2];
    k_maxpool3d_forward(&pd, x, y, arg);
    assert_true(isnan(y[0]));
    assert_int_equal(arg[0], 1);
    assert_float_equal(y[1], 3, 0);
}

static void test_rejects_bad_geometry(void **state)
{
    (void)state;
    Diag d;
    ConvNdDims cd = {.N = 1,
                     .C = 3,
                     .M = 2,
                     .groups = 2,
                     .in = V3(3, 3, 3),
                     .k = V3(1, 1, 1),
                     .stride = V3(1, 1, 1),
                     .dil = V3(1, 1, 1)};
    assert_int_equal(k_conv3d_prepare(&cd, &d), KDC_ERR);
    cd.groups = 1;
    cd.k[0] = 5;
    assert_int_equal(k_conv3d_prepare(&cd, &d), KDC_ERR);
    ConvTDims ct = {.N = 1,
                    .C = 2,
                    .M = 3,
                    .groups = 2,
                    .in = V3(1, 2, 2),
                    .out = V3(1, 3, 3),
                    .k = V3(1, 2, 2),
                    .stride = V3(1, 1, 1),
                    .dil = V3(1, 1, 1)};
    assert_int_equal(k_convtranspose_check(&ct, &d), KDC_ERR);
    PoolNdDims pd = {.planes = 1,
                     .in = V3(1, 1, 2),
                     .out = V3(1, 1, 3),
                     .k = V3(1, 1, 1),
                     .stride = V3(1, 1, 1),
                     .dil = V3(1, 1, 1),
                     .pad_begin = V3(0, 0, 1)};
    assert_int_equal(k_pool3d_check(&pd, &d), KDC_ERR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv3d_one_thread),
        cmocka_unit_test(test_conv3d_two_threads),
        cmocka_unit_test(test_convtranspose_one_thread),
        cmocka_unit_test(test_convtranspose_two_threads),
        cmocka_unit_test(test_pools_3d),
        cmocka_unit_test(test_global_pools),
        cmocka_unit_test(test_maxpool3d_nan),
        cmocka_unit_test(test_rejects_bad_geometry),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    threads_shutdown();
    return rc;
}
