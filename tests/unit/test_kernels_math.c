/* test_kernels_math.c - the float32 elementwise math kernels (k_math.c,
 * k_math_binary.c): unary math and activations, Clip, Pow, Max, Min,
 * PRelu, fmod, the variadic pieces and Where.
 *
 * Every forward is compared with a double-precision reference (libm or the
 * ONNX formula) on random data plus edge values (Round's halves, Sign(0),
 * HardSwish's breakpoints, Clip without bounds, NaN through Max/Min/Clip);
 * every backward is checked against central finite differences
 * (tests/unit/gradcheck.h) with the data kept off the op's kinks. The
 * piecewise-constant ops must leave the gradient untouched. Large cases run
 * on one and two threads and must agree bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>

#include "gradcheck.h"
#include "runtime/kernels.h"
#include "runtime/threads.h"

static const GcTol smooth_tol = {1e-3, 1e-3, 1e-2};

/* ------------------------------------------------------------ references */

static double ref_hard_sigmoid(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static double ref_unary(KUnaryOp op, const KUnaryParams *pr, double x)
{
    double a = pr->alpha, b = pr->beta, g = pr->gamma;
    switch (op) {
    case KU_ABS: return fabs(x);
    case KU_ACOS: return acos(x);
    case KU_ACOSH: return acosh(x);
    case KU_ASIN: return asin(x);
    case KU_ASINH: return asinh(x);
    case KU_ATAN: return atan(x);
    case KU_ATANH: return atanh(x);
    case KU_CEIL: return ceil(x);
    case KU_COS: return cos(x);
    case KU_COSH: return cosh(x);
    case KU_ERF: return erf(x);
    case KU_EXP: return exp(x);
    case KU_FLOOR: return floor(x);
    case KU_LOG: return log(x);
    case KU_NEG: return -x;
    case KU_RECIPROCAL: return 1 / x;
    case KU_ROUND: return nearbyint(x);
    case KU_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case KU_SIN: return sin(x);
    case KU_SINH: return sinh(x);
    case KU_SQRT: return sqrt(x);
    case KU_TAN: return tan(x);
    case KU_SOFTPLUS: return log(exp(x) + 1);
    case KU_SOFTSIGN: return x / (1 + fabs(x));
    case KU_ELU: return x < 0 ? a * (exp(x) - 1) : x;
    case KU_SELU: return x <= 0 ? g * (a * exp(x) - a) : g * x;
    case KU_CELU: return fmax(0, x) + fmin(0, a * (exp(x / a) - 1));
    case KU_LEAKY_RELU: return x < 0 ? a * x : x;
    case KU_HARD_SIGMOID: return ref_hard_sigmoid(a * x + b);
    case KU_HARD_SWISH: return x * ref_hard_sigmoid(x / 6 + 0.5);
    case KU_THRESHOLDED_RELU: return x > a ? x : 0;
    case KU_MISH: return x * tanh(log(1 + exp(x)));
    case KU_GELU: return 0.5 * x * (1 + erf(x / sqrt(2)));
    case KU_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case KU_COUNT: break;
    }
    return NAN;
}

/* Where each op is checked: data in [lo, hi], |x| >= min_abs, and at least
 * 0.01 away from the kinks. flat: piecewise constant (zero gradient). */
typedef struct UnaryDomain {
    KUnaryOp op;
    const char *name;
    float lo, hi, min_abs;
    float kinks[2];
    int n_kinks;
    bool flat;
    KUnaryParams pr;
} UnaryDomain;

#define DOMAIN(o, nm, l, h, m, f) .op = o, .name = nm, .lo = l, .hi = h, .min_abs = m, .flat = f

static const UnaryDomain domains[] = {
    {DOMAIN(KU_ABS, "abs", -2, 2, 0.05f, false)},
    {DOMAIN(KU_ACOS, "acos", -0.9f, 0.9f, 0, false)},
    {DOMAIN(KU_ACOSH, "acosh", 1.1f, 3, 0, false)},
    {DOMAIN(KU_ASIN, "asin", -0.9f, 0.9f, 0, false)},
    {DOMAIN(KU_ASINH, "asinh", -3, 3, 0, false)},
    {DOMAIN(KU_ATAN, "atan", -3, 3, 0, false)},
    {DOMAIN(KU_ATANH, "atanh", -0.9f, 0.9f, 0, false)},
    {DOMAIN(KU_CEIL, "ceil", -3, 3, 0, true)},
    {DOMAIN(KU_COS, "cos", -3, 3, 0, false)},
    {DOMAIN(KU_COSH, "cosh", -3, 3, 0, false)},
    {DOMAIN(KU_ERF, "erf", -3, 3, 0, false)},
    {DOMAIN(KU_EXP, "exp", -3, 3, 0, false)},
    {DOMAIN(KU_FLOOR, "floor", -3, 3, 0, true)},
    {DOMAIN(KU_LOG, "log", 0.1f, 3, 0, false)},
    {DOMAIN(KU_NEG, "neg", -3, 3, 0, false)},
    {DOMAIN(KU_RECIPROCAL, "reciprocal", -3, 3, 0.3f, false)},
    {DOMAIN(KU_ROUND, "round", -3, 3, 0, true)},
    {DOMAIN(KU_SIGN, "sign", -3, 3, 0, true)},
    {DOMAIN(KU_SIN, "sin", -3, 3, 0, false)},
    {DOMAIN(KU_SINH, "sinh", -3, 3, 0, false)},
    {DOMAIN(KU_SQRT, "sqrt", 0.1f, 3, 0, false)},
    {DOMAIN(KU_TAN, "tan", -1.2f, 1.2f, 0, false)},
    {DOMAIN(KU_SOFTPLUS, "softplus", -4, 4, 0, false)},
    {DOMAIN(KU_SOFTSIGN, "softsign", -3, 3, 0.05f, false)},
    {DOMAIN(KU_ELU, "elu", -3, 3, 0.05f, false), .pr = {.alpha = 0.7f}},
    {DOMAIN(KU_SELU, "selu", -3, 3, 0.05f, false), .pr = {.alpha = 1.6732632f, .gamma = 1.0507010f}},
    {DOMAIN(KU_CELU, "celu", -3, 3, 0.05f, false), .pr = {.alpha = 1.5f}},
    {DOMAIN(KU_LEAKY_RELU, "leaky_relu", -3, 3, 0.05f, false), .pr = {.alpha = 0.1f}},
    {DOMAIN(KU_HARD_SIGMOID, "hard_sigmoid", -3, 3, 0, false), .kinks = {-4.0f / 3, 2}, .n_kinks = 2,
     .pr = {.alpha = 0.3f, .beta = 0.4f}},
    {DOMAIN(KU_HARD_SWISH, "hard_swish", -4, 4, 0, false), .kinks = {-3, 3}, .n_kinks = 2},
    {DOMAIN(KU_THRESHOLDED_RELU, "thresholded_relu", -3, 3, 0, false), .kinks = {0.5f}, .n_kinks = 1,
     .pr = {.alpha = 0.5f}},
    {DOMAIN(KU_MISH, "mish", -3, 3, 0, false)},
    {DOMAIN(KU_GELU, "gelu", -3, 3, 0, false)},
    {DOMAIN(KU_GELU_TANH, "gelu_tanh", -3, 3, 0, false)},
};

_Static_assert(sizeof domains / sizeof domains[0] == KU_COUNT, "every unary op is tested");

static bool in_domain(const UnaryDomain *dm, float v)
{
    if (fabsf(v) < dm->min_abs)
        return false;
    for (int k = 0; k < dm->n_kinks; k++)
        if (fabsf(v - dm->kinks[k]) < 0.01f)
            return false;
    return true;
}

static float *domain_sample(const UnaryDomain *dm, KRng *rng, size_t n)
{
    float *x = gc_alloc(n);
    for (size_t i = 0; i < n; i++)
        do
            x[i] = dm->lo + (dm->hi - dm->lo) * k_rng_uniform(rng);
        while (!in_domain(dm, x[i]));
    return x;
}

/* ----------------------------------------------------------------- unary */

typedef struct UnaryCase {
    const UnaryDomain *dm;
    float *x, *y, *w;
    size_t n;
} UnaryCase;

static double unary_loss(void *ctx)
{
    UnaryCase *c = ctx;
    k_unary_forward(c->dm->op, &c->dm->pr, c->x, c->y, (int64_t)c->n);
    return gc_weighted_sum(c->y, c->w, c->n);
}

static void unary_case_run(const UnaryDomain *dm, KRng *rng)
{
    UnaryCase c = {.dm = dm, .n = 96};
    c.x = domain_sample(dm, rng, c.n);
    c.y = gc_alloc(c.n);
    c.w = gc_uniform(rng, c.n, -1, 1);
    unary_loss(&c);
    for (size_t i = 0; i < c.n; i++) {
        double want = ref_unary(dm->op, &dm->pr, c.x[i]);
        if (fabs(c.y[i] - want) > 2e-6 * (1 + fabs(want)))
            fail_msg("%s(%.9g) = %.9g, expected %.9g", dm->name, c.x[i], c.y[i], want);
    }
    float *dx = gc_grad_buffer(c.n);
    k_unary_backward(dm->op, &dm->pr, c.x, c.y, c.w, dx, (int64_t)c.n);
    k_unary_backward(dm->op, &dm->pr, c.x, c.y, c.w, NULL, (int64_t)c.n);
    if (dm->flat)
        for (size_t i = 0; i < c.n; i++)
            assert_float_equal(dx[i], GC_PREFILL, 0);
    else
        assert_int_equal(gc_check(dm->name, c.x, c.n, dx, unary_loss, &c, smooth_tol), 0);
    unary_loss(&c);                                           /* y again at the unperturbed x */
    k_unary_forward(dm->op, &dm->pr, c.x, c.x, (int64_t)c.n); /* in place */
    if (memcmp(c.x, c.y, c.n * sizeof *c.y))
        fail_msg("%s in place differs", dm->name);
    free(c.x), free(c.y), free(c.w), free(dx);
}

static void test_unary_forward_and_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 31);
    for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
        assert_int_equal(domains[i].op, (KUnaryOp)i);
        unary_case_run(&domains[i], &rng);
    }
}

static void expect_unary(KUnaryOp op, KUnaryParams pr, const float *x, const float *want, int n)
{
    float y[16];
    k_unary_forward(op, &pr, x, y, n);
    for (int i = 0; i < n; i++)
        if (!(y[i] == want[i] || (isnan(y[i]) && isnan(want[i]))))
            fail_msg("op %d at %g: got %.9g, expected %.9g", op, x[i], y[i], want[i]);
}

static void test_unary_edge_values(void **state)
{
    (void)state;
    KUnaryParams none = {0};
    /* Round: halves go to the even neighbour. */
    expect_unary(KU_ROUND, none, (float[]){0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.3f, -4.5f, 0.9f},
                 (float[]){0, 2, 2, -0.0f, -2, -2, 2, -4, 1}, 9);
    expect_unary(KU_SIGN, none, (float[]){0, -0.0f, 3, -2, NAN}, (float[]){0, 0, 1, -1, NAN}, 5);
    /* HardSwish: 0 up to -3, x from 3, x*(x+3)/6 between. */
    expect_unary(KU_HARD_SWISH, none, (float[]){-4, -3, 0, 3, 4}, (float[]){0, 0, 0, 3, 4}, 5);
    float hs;
    k_unary_forward(KU_HARD_SWISH, &none, (float[]){1}, &hs, 1);
    assert_float_equal(hs, 2.0f / 3, 1e-6);
    /* Softplus neither overflows nor loses large inputs. */
    expect_unary(KU_SOFTPLUS, none, (float[]){100, -100}, (float[]){100, expf(-100)}, 2);
    expect_unary(KU_CEIL, none, (float[]){-1.5f, 1.2f, 2}, (float[]){-1, 2, 2}, 3);
    expect_unary(KU_FLOOR, none, (float[]){-1.5f, 1.2f, 2}, (float[]){-2, 1, 2}, 3);
    expect_unary(KU_ACOS, none, (float[]){1, -1}, (float[]){0, acosf(-1)}, 2);
    expect_unary(KU_THRESHOLDED_RELU, (KUnaryParams){1, 0, 0}, (float[]){1, 1.5f, -2}, (float[]){0, 1.5f, 0}, 3);
    /* The tanh approximation stays close to the exact Gelu. */
    float x[] = {-3, -1, -0.3f, 0, 0.5f, 2}, exact[6], approx[6];
    k_unary_forward(KU_GELU, &none, x, exact, 6);
    k_unary_forward(KU_GELU_TANH, &none, x, approx, 6);
    for (int i = 0; i < 6; i++)
        assert_float_equal(exact[i], approx[i], 2e-3);
}

static void test_unary_two_threads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 32);
    Diag d;
    const int64_t n = 100003;
    float *x = gc_uniform(&rng, (size_t)n, -2, 2), *y1 = gc_alloc((size_t)n), *y2 = gc_alloc((size_t)n);
    float *d1 = gc_grad_buffer((size_t)n), *d2 = gc_grad_buffer((size_t)n);
    KUnaryParams pr = {0};
    k_unary_forward(KU_GELU, &pr, x, y1, n);
    k_unary_backward(KU_GELU, &pr, x, y1, x, d1, n);
    assert_int_equal(threads_init(2, &d), KDC_OK);
    k_unary_forward(KU_GELU, &pr, x, y2, n);
    k_unary_backward(KU_GELU, &pr, x, y2, x, d2, n);
    threads_shutdown();
    assert_memory_equal(y1, y2, (size_t)n * sizeof *y1);
    assert_memory_equal(d1, d2, (size_t)n * sizeof *d1);
    free(x), free(y1), free(y2), free(d1), free(d2);
}

/* ------------------------------------------------------------------ Clip */

typedef struct ClipCase {
    float *x, *y, *w, lo, hi;
    size_t n;
} ClipCase;

static double clip_loss(void *ctx)
{
    ClipCase *c = ctx;
    k_clip_forward(c->x, c->lo, c->hi, c->y, (int64_t)c->n);
    return gc_weighted_sum(c->y, c->w, c->n);
}

static void test_clip(void **state)
{
    (void)state;
    float x[] = {-INFINITY, -1e30f, -2, 0.5f, 3, 1e30f, INFINITY, NAN}, y[8];
    /* Without bounds: the float range, so only infinities move. */
    k_clip_forward(x, -FLT_MAX, FLT_MAX, y, 8);
    assert_float_equal(y[0], -FLT_MAX, 0);
    for (int i = 1; i < 6; i++)
        assert_float_equal(y[i], x[i], 0);
    assert_float_equal(y[6], FLT_MAX, 0);
    assert_true(isnan(y[7]));
    k_clip_forward(x, -1, 1, y, 8);
    const float want[] = {-1, -1, -1, 0.5f, 1, 1, 1};
    for (int i = 0; i < 7; i++)
        assert_float_equal(y[i], want[i], 0);
    assert_true(isnan(y[7]));
    k_clip_forward(x, 2, 1, y, 7); /* min > max: everything becomes max */
    for (int i = 0; i < 7; i++)
        assert_float_equal(y[i], 1, 0);
    KRng rng;
    k_rng_seed(&rng, 33);
    ClipCase c = {.lo = -0.5f, .hi = 0.7f, .n = 64};
    c.x = gc_uniform(&rng, c.n, -2, 2);
    for (size_t i = 0; i < c.n; i++) /* off the corners */
        if (fabsf(c.x[i] - c.lo) < 0.01f || fabsf(c.x[i] - c.hi) < 0.01f)
            c.x[i] += 0.05f;
    c.y = gc_alloc(c.n);
    c.w = gc_uniform(&rng, c.n, -1, 1);
    float *dx = gc_grad_buffer(c.n);
    k_clip_backward(c.x, c.lo, c.hi, c.w, dx, (int64_t)c.n);
    assert_int_equal(gc_check("clip", c.x, c.n, dx, clip_loss, &c, smooth_tol), 0);
    free(c.x), free(c.y), free(c.w), free(dx);
}

/* ------------------------------------------------------ binary math ops */

/* Flat index into an operand for output element i, numpy rules. */
static size_t operand_index(const int64_t *dims, int rank, const int64_t *y_dims, int y_rank, int64_t i)
{
    size_t off = 0, stride = 1;
    for (int ax = y_rank - 1; ax >= 0; ax--) {
        int64_t k = i % y_dims[ax];
        i /= y_dims[ax];
        int oa = ax - (y_rank - rank);
        if (oa < 0)
            continue;
        if (dims[oa] != 1)
            off += (size_t)k * stride;
        stride *= (size_t)dims[oa];
    }
    return off;
}

static double ref_math(KMathBinaryOp op, double a, double b)
{
    switch (op) {
    case KM_POW: return pow(a, b);
    case KM_MAX: return a > b || isnan(a) ? a : b;
    case KM_MIN: return a < b || isnan(a) ? a : b;
    case KM_PRELU: return a < 0 ? a * b : a;
    case KM_FMOD: return fmod(a, b);
    }
    return NAN;
}

typedef struct MathCase {
    KMathBinaryOp op;
    BroadcastDims bd;
    float *a, *b, *y, *w;
} MathCase;

static double math_loss(void *ctx)
{
    MathCase *c = ctx;
    k_math_binary_forward(c->op, &c->bd, c->a, c->b, c->y);
    return gc_weighted_sum(c->y, c->w, (size_t)c->bd.n);
}

static void math_case_run(KMathBinaryOp op, int ar, const int64_t *ad, int br, const int64_t *bdims, KRng *rng)
{
    MathCase c = {.op = op};
    Diag d;
    int64_t yd[K_MAX_RANK];
    int yr = ar > br ? ar : br;
    assert_int_equal(k_broadcast_init(&c.bd, ad, ar, bdims, br, yd, &d), KDC_OK);
    /* Pow: a positive base (the exponent gradient needs ln a); PRelu: x off 0. */
    c.a = op == KM_POW ? gc_uniform(rng, (size_t)c.bd.a_n, 0.5f, 2) : gc_away_from_zero(rng, (size_t)c.bd.a_n, 0.1f, 2);
    c.b = op == KM_FMOD ? gc_away_from_zero(rng, (size_t)c.bd.b_n, 0.3f, 1) : gc_uniform(rng, (size_t)c.bd.b_n, -2, 2);
    c.y = gc_alloc((size_t)c.bd.n);
    c.w = gc_uniform(rng, (size_t)c.bd.n, -1, 1);
    math_loss(&c);
    for (int64_t i = 0; i < c.bd.n; i++) {
        double want = ref_math(op, c.a[operand_index(ad, ar, yd, yr, i)], c.b[operand_index(bdims, br, yd, yr, i)]);
        assert_float_equal(c.y[i], want, 2e-6 * (1 + fabs(want)));
    }
    if (op == KM_POW || op == KM_PRELU) {
        float *da = gc_grad_buffer((size_t)c.bd.a_n), *db = gc_grad_buffer((size_t)c.bd.b_n);
        k_math_binary_backward(op, &c.bd, c.a, c.b, c.y, c.w, da, db);
        int bad = gc_check("math da", c.a, (size_t)c.bd.a_n, da, math_loss, &c, smooth_tol);
        bad += gc_check("math db", c.b, (size_t)c.bd.b_n, db, math_loss, &c, smooth_tol);
        assert_int_equal(bad, 0);
        free(da), free(db);
    }
    free(c.a), free(c.b), free(c.y), free(c.w);
}

static void test_math_binary(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 34);
    struct {
        int ar, br;
        int64_t a[4], b[4];
    } cases[] = {
        {2, 2, {3, 4}, {3, 4}}, {3, 1, {2, 3, 4}, {4}},    {4, 3, {2, 3, 2, 2}, {3, 1, 1}},
        {2, 0, {3, 5}, {0}},    {2, 3, {4, 1}, {3, 1, 5}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int op = KM_POW; op <= KM_FMOD; op++)
            math_case_run((KMathBinaryOp)op, cases[i].ar, cases[i].a, cases[i].br, cases[i].b, &rng);
}

static void test_max_min_nan(void **state)
{
    (void)state;
    BroadcastDims bd;
    Diag d;
    int64_t n[] = {4};
    assert_int_equal(k_broadcast_init(&bd, n, 1, n, 1, NULL, &d), KDC_OK);
    float a[] = {NAN, 1, 2, NAN}, b[] = {1, NAN, 3, NAN}, y[4];
    k_math_binary_forward(KM_MAX, &bd, a, b, y);
    assert_true(isnan(y[0]) && isnan(y[1]) && isnan(y[3]));
    assert_float_equal(y[2], 3, 0);
    k_math_binary_forward(KM_MIN, &bd, a, b, y);
    assert_true(isnan(y[0]) && isnan(y[1]) && isnan(y[3]));
    assert_float_equal(y[2], 2, 0);
}

/* ------------------------------------------------------- variadic pieces */

enum { VAR_MAX, VAR_MIN, VAR_SUM, VAR_MEAN };

typedef struct VarCase {
    int kind, n_in;
    BroadcastDims bd[3]; /* output against input k */
    float *x[3], *y, *w;
    int64_t n;
} VarCase;

static double var_loss(void *ctx)
{
    VarCase *c = ctx;
    k_broadcast_copy(&c->bd[0], sizeof(float), c->x[0], c->y);
    for (int k = 1; k < c->n_in; k++) {
        if (c->kind == VAR_MAX || c->kind == VAR_MIN)
            k_math_binary_forward(c->kind == VAR_MAX ? KM_MAX : KM_MIN, &c->bd[k], c->y, c->x[k], c->y);
        else
            k_binary_forward(K_ADD, &c->bd[k], c->y, c->x[k], c->y);
    }
    if (c->kind == VAR_MEAN)
        k_scale(c->y, 1.0f / (float)c->n_in, c->n);
    return gc_weighted_sum(c->y, c->w, (size_t)c->n);
}

static void var_backward(VarCase *c, float **dx)
{
    if (c->kind == VAR_SUM || c->kind == VAR_MEAN) {
        for (int k = 0; k < c->n_in; k++)
            k_broadcast_reduce(&c->bd[k], c->kind == VAR_MEAN ? 1.0f / (float)c->n_in : 1.0f, c->w, dx[k]);
        return;
    }
    uint8_t *claimed = calloc((size_t)c->n, 1);
    for (int k = 0; k < c->n_in; k++)
        k_select_backward(&c->bd[k], c->x[k], c->y, c->w, claimed, dx[k]);
    free(claimed);
}

/* Max, Min, Sum, Mean of [2,3,4], [3,1] and [4]: values distinct, so no
 * finite-difference step changes a winner. */
static void test_variadic_max_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 35);
    Diag d;
    int64_t y_dims[] = {2, 3, 4}, dims[3][3] = {{2, 3, 4}, {3, 1}, {4}};
    int ranks[] = {3, 2, 1};
    for (int kind = VAR_MAX; kind <= VAR_MEAN; kind++) {
        VarCase c = {.kind = kind, .n_in = 3, .n = 24};
        for (int k = 0; k < 3; k++)
            assert_int_equal(k_broadcast_init(&c.bd[k], y_dims, 3, dims[k], ranks[k], NULL, &d), KDC_OK);
        float *all = gc_distinct(&rng, 24 + 3 + 4, 0.05f), *dx[3];
        c.x[0] = all, c.x[1] = all + 24, c.x[2] = all + 27;
        c.y = gc_alloc(24);
        c.w = gc_uniform(&rng, 24, -1, 1);
        for (int k = 0; k < 3; k++)
            dx[k] = gc_grad_buffer((size_t)c.bd[k].b_n);
        var_loss(&c);
        var_backward(&c, dx);
        int bad = 0;
        for (int k = 0; k < 3; k++)
            bad += gc_check("variadic dx", c.x[k], (size_t)c.bd[k].b_n, dx[k], var_loss, &c, smooth_tol);
        if (bad)
            fail_msg("variadic kind %d: %d gradient entries off", kind, bad);
        for (int k = 0; k < 3; k++)
            free(dx[k]);
        free(all), free(c.y), free(c.w);
    }
}

static void test_select_ties_go_first(void **state)
{
    (void)state;
    BroadcastDims bd;
    Diag d;
    int64_t n[] = {3};
    assert_int_equal(k_broadcast_init(&bd, n, 1, n, 1, NULL, &d), KDC_OK);
    float x0[] = {1, 5, 3}, x1[] = {1, 6, 3}, x2[] = {1, 6, 9}, y[] = {1, 6, 9}, dy[] = {1, 2, 3};
    float dx0[3] = {0}, dx1[3] = {0}, dx2[3] = {0};
    uint8_t claimed[3] = {0};
    k_select_backward(&bd, x0, y, dy, claimed, dx0);
    k_select_backward(&bd, x1, y, dy, claimed, dx1);
    k_select_backward(&bd, x2, y, dy, claimed, dx2);
    const float w0[] = {1, 0, 0}, w1[] = {0, 2, 0}, w2[] = {0, 0, 3};
    assert_memory_equal(dx0, w0, sizeof w0);
    assert_memory_equal(dx1, w1, sizeof w1);
    assert_memory_equal(dx2, w2, sizeof w2);
    /* A NULL gradient still claims: the tie at element 0 stays with input 0. */
    memset(claimed, 0, 3);
    memset(dx1, 0, sizeof dx1);
    k_select_backward(&bd, x0, y, dy, claimed, NULL);
    k_select_backward(&bd, x1, y, dy, claimed, dx1);
    assert_memory_equal(dx1, w1, sizeof w1);
}

static void test_broadcast_copy_and_reduce(void **state)
{
    (void)state;
    BroadcastDims bd;
    Diag d;
    int64_t yd[] = {2, 3, 4}, xd[] = {3, 1};
    assert_int_equal(k_broadcast_init(&bd, yd, 3, xd, 2, NULL, &d), KDC_OK);
    uint64_t x[3] = {0x0102030405060708ull, 0x1112131415161718ull, 0x2122232425262728ull}, y[24];
    for (size_t elem = 1; elem <= 8; elem *= 2) {
        memset(y, 0, sizeof y);
        unsigned char src[24];
        for (int i = 0; i < 3; i++)
            memcpy(src + (size_t)i * elem, &x[i], elem);
        k_broadcast_copy(&bd, elem, src, y);
        for (int64_t i = 0; i < 24; i++)
            assert_memory_equal((unsigned char *)y + (size_t)i * elem, src + operand_index(xd, 2, yd, 3, i) * elem,
                                elem);
    }
    float dy[24], dx[3] = {1, 1, 1};
    double want[3] = {1, 1, 1};
    for (int i = 0; i < 24; i++) {
        dy[i] = (float)i - 10.0f;
        want[operand_index(xd, 2, yd, 3, i)] += 0.5 * dy[i];
    }
    k_broadcast_reduce(&bd, 0.5f, dy, dx);
    for (int i = 0; i < 3; i++)
        assert_float_equal(dx[i], want[i], 1e-5);
}

/* ------------------------------------------------------------------ Where */

static void where_setup(NaryBroadcast *nb, int64_t (*dims)[3], int *ranks)
{
    const int64_t *dp[3] = {dims[0], dims[1], dims[2]};
    Diag d;
    assert_int_equal(k_nary_broadcast_init(nb, 3, dp, ranks, NULL, &d), KDC_OK);
}

static void test_where_forward(void **state)
{
    (void)state;
    NaryBroadcast nb;
    int64_t dims[3][3] = {{2, 1, 4}, {3, 1}, {2, 3, 4}}, yd[] = {2, 3, 4};
    int ranks[] = {3, 2, 3};
    where_setup(&nb, dims, ranks);
    assert_int_equal(nb.n, 24);
    uint8_t cond[8];
    for (int i = 0; i < 8; i++)
        cond[i] = (uint8_t)(i * 5 % 3 == 0);
    int64_t xi[3] = {-1, -2, -3}, yi[24], oi[24];
    float xf[3] = {0.5f, 1.5f, 2.5f}, yf[24], of[24];
    uint8_t xb[3] = {1, 1, 1}, yb[24], ob[24];
    for (int i = 0; i < 24; i++)
        yi[i] = i, yf[i] = (float)-i, yb[i] = 0;
    k_where_forward(&nb, 8, cond, xi, yi, oi);
    k_where_forward(&nb, 4, cond, xf, yf, of);
    k_where_forward(&nb, 1, cond, xb, yb, ob);
    for (int64_t i = 0; i < 24; i++) {
        bool c = cond[operand_index(dims[0], 3, yd, 3, i)];
        size_t xk = operand_index(dims[1], 2, yd, 3, i);
        assert_int_equal(oi[i], c ? xi[xk] : yi[i]);
        assert_float_equal(of[i], c ? xf[xk] : yf[i], 0);
        assert_int_equal(ob[i], c ? 1 : 0);
    }
}

typedef struct WhereCase {
    NaryBroadcast nb;
    uint8_t *cond;
    float *x, *y, *out, *w;
} WhereCase;

static double where_loss(void *ctx)
{
    WhereCase *c = ctx;
    k_where_forward(&c->nb, sizeof(float), c->cond, c->x, c->y, c->out);
    return gc_weighted_sum(c->out, c->w, (size_t)c->nb.n);
}

static void test_where_grads(void **state)
{
    (void)state;
    KRng rng;
    k_rng_seed(&rng, 36);
    int64_t dims[3][3] = {{4}, {3, 1}, {2, 1, 1}};
    int ranks[] = {1, 2, 3};
    WhereCase c;
    where_setup(&c.nb, dims, ranks);
    assert_int_equal(c.nb.n, 24);
    uint8_t cond[4] = {1, 0, 1, 1};
    c.cond = cond;
    c.x = gc_uniform(&rng, 3, -1, 1);
    c.y = gc_uniform(&rng, 2, -1, 1);
    c.out = gc_alloc(24);
    c.w = gc_uniform(&rng, 24, -1, 1);
    float *dx = gc_grad_buffer(3), *dy = gc_grad_buffer(2);
    where_loss(&c);
    k_where_backward(&c.nb, c.cond, c.w, dx, dy);
    int bad = gc_check("where dx", c.x, 3, dx, where_loss, &c, smooth_tol);
    bad += gc_check("where dy", c.y, 2, dy, where_loss, &c, smooth_tol);
    assert_int_equal(bad, 0);
    free(c.x), free(c.y), free(c.out), free(c.w), free(dx), free(dy);
}

static void test_nary_broadcast_init(void **state)
{
    (void)state;
    NaryBroadcast nb;
    Diag d;
    int64_t a[] = {2, 3, 4}, b[] = {3, 1}, bad[] = {2, 4};
    const int64_t *same[3] = {a, a, a}, *mixed[3] = {a, b, a}, *clash[3] = {a, bad, a};
    int ranks[] = {3, 3, 3}, mixed_ranks[] = {3, 2, 3};
    assert_int_equal(k_nary_broadcast_init(&nb, 3, same, ranks, NULL, &d), KDC_OK);
    assert_int_equal(nb.rank, 1); /* one flat axis */
    assert_int_equal(nb.dims[0], 24);
    int64_t y[3];
    assert_int_equal(k_nary_broadcast_init(&nb, 3, mixed, mixed_ranks, y, &d), KDC_OK);
    assert_int_equal(y[0] * 100 + y[1] * 10 + y[2], 234);
    assert_int_equal(nb.in_n[1], 3);
    assert_int_equal(k_nary_broadcast_init(&nb, 3, clash, mixed_ranks, y, &d), KDC_ERR);
    assert_string_equal(d.msg, "broadcast: the operands disagree at dim 1");
    int64_t empty[] = {0, 4};
    const int64_t *with_empty[3] = {empty, b + 1, empty};
    int er[] = {2, 1, 2};
    assert_int_equal(k_nary_broadcast_init(&nb, 3, with_empty, er, NULL, &d), KDC_OK);
    assert_int_equal(nb.n, 0);
    k_where_forward(&nb, 4, NULL, NULL, NULL, NULL); /* nothing to touch */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_forward_and_grads),
        cmocka_unit_test(test_unary_edge_values),
        cmocka_unit_test(test_unary_two_threads),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_math_binary),
        cmocka_unit_test(test_max_min_nan),
        cmocka_unit_test(test_variadic_max_grads),
        cmocka_unit_test(test_select_ties_go_first),
        cmocka_unit_test(test_broadcast_copy_and_reduce),
        cmocka_unit_test(test_where_forward),
        cmocka_unit_test(test_where_grads),
        cmocka_unit_test(test_nary_broadcast_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
