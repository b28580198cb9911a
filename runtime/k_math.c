/* k_math.c - float32 elementwise math kernels: the unary math functions and
 * activations of ONNX (Abs ... Gelu) forward and backward, Clip, and the
 * parallel-range helper the elementwise math files share.
 *
 * Owns the unary op table: each op is one UNARY_KERNEL line giving its
 * forward expression in x and its derivative in x and y (the forward
 * output), with the op's attributes at hand as al, be, ga. The macro makes a
 * forward and a backward range function per op, so the op switch is outside
 * the element loop. Piecewise-constant ops (Ceil, Floor, Round, Sign) have no
 * backward row: their gradient is zero and adds nothing.
 */
#include "runtime/kernels.h"

#include <math.h>

#include "runtime/threads.h"

/* Below this many elements a parallel loop costs more than it saves. */
#define K_MATH_PARALLEL_MIN (1L << 15)

typedef void (*KRangeFn)(const void *args, int64_t begin, int64_t end);

typedef struct RangeJob {
    KRangeFn fn;
    const void *args;
    int64_t n;
    int parts;
} RangeJob;

static void range_part(void *ctx, int part, int thread)
{
    const RangeJob *j = ctx;
    (void)thread;
    j->fn(j->args, j->n * part / j->parts, j->n * (part + 1) / j->parts);
}

void k_run_ranges(int64_t n, KRangeFn fn, const void *args)
{
    int T = threads_count();
    if (n <= 0)
        return;
    if (T == 1 || n < K_MATH_PARALLEL_MIN) {
        fn(args, 0, n);
        return;
    }
    RangeJob j = {fn, args, n, T};
    threads_parallel_for(T, range_part, &j);
}

/* ------------------------------------------------------------ scalar helpers */

static inline float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* log(1 + e^x) without overflow for large x. */
static inline float softplusf(float x)
{
    return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

static inline float signf(float x)
{
    return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; /* keeps 0 and NaN */
}

#define GELU_TANH_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_TANH_K 0.044715f

static inline float gelu_tanh_inner(float x)
{
    return GELU_TANH_C * (x + GELU_TANH_K * x * x * x);
}

static inline float gelu_tanh_grad(float x)
{
    float t = tanhf(gelu_tanh_inner(x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_TANH_C * (1.0f + 3.0f * GELU_TANH_K * x * x);
}

static inline float mish_grad(float x)
{
    float t = tanhf(softplusf(x));
    return t + x * (1.0f - t * t) * sigmoidf(x);
}

/* HardSigmoid of v = alpha*x + beta; NaN stays NaN. */
static inline float unit_clamp(float v)
{
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

/* ------------------------------------------------------------- the op table */

typedef struct UnaryMathArgs {
    KUnaryParams pr;
    const float *x, *y, *dy;
    float *out;
} UnaryMathArgs;

#define UNARY_FORWARD(name, fwd)                                                                                       \
    static void name##_fwd(const void *args, int64_t begin, int64_t end)                                               \
    {                                                                                                                  \
        const UnaryMathArgs *u = args;                                                                                 \
        const float al = u->pr.alpha, be = u->pr.beta, ga = u->pr.gamma;                                               \
        (void)al, (void)be, (void)ga;                                                                                  \
        for (int64_t i = begin; i < end; i++) {                                                                        \
            float x = u->x[i];                                                                                         \
            u->out[i] = (fwd);                                                                                         \
        }                                                                                                              \
    }

#define UNARY_KERNEL(name, fwd, deriv)                                                                                 \
    UNARY_FORWARD(name, fwd)                                                                                           \
    static void name##_bwd(const void *args, int64_t begin, int64_t end)                                               \
    {                                                                                                                  \
        const UnaryMathArgs *u = args;                                                                                 \
        const float al = u->pr.alpha, be = u->pr.beta, ga = u->pr.gamma;                                               \
        (void)al, (void)be, (void)ga;                                                                                  \
        for (int64_t i = begin; i < end; i++) {                                                                        \
            float x = u->x[i], y = u->y[i];                                                                            \
            (void)x, (void)y;                                                                                          \
            u->out[i] += u->dy[i] * (deriv);                                                                           \
        }                                                                                                              \
    }

/* clang-format reads these rows as declarations and would mangle them */
/* clang-format off */
UNARY_KERNEL(abs, fabsf(x), x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f)
UNARY_KERNEL(acos, acosf(x), -1.0f / sqrtf(1.0f - x * x))
UNARY_KERNEL(acosh, acoshf(x), 1.0f / sqrtf(x * x - 1.0f))
UNARY_KERNEL(asin, asinf(x), 1.0f / sqrtf(1.0f - x * x))
UNARY_KERNEL(asinh, asinhf(x), 1.0f / sqrtf(x * x + 1.0f))
UNARY_KERNEL(atan, atanf(x), 1.0f / (1.0f + x * x))
UNARY_KERNEL(atanh, atanhf(x), 1.0f / (1.0f - x * x))
UNARY_FORWARD(ceil, ceilf(x))
UNARY_KERNEL(cos, cosf(x), -sinf(x))
UNARY_KERNEL(cosh, coshf(x), sinhf(x))
UNARY_KERNEL(erf, erff(x), 1.1283791670955126f * expf(-x * x))
UNARY_KERNEL(exp, expf(x), y)
UNARY_FORWARD(floor, floorf(x))
UNARY_KERNEL(log, logf(x), 1.0f / x)
UNARY_KERNEL(neg, -x, -1.0f)
UNARY_KERNEL(reciprocal, 1.0f / x, -(y * y))
UNARY_FORWARD(round, nearbyintf(x)) /* the default rounding mode: half to even */
UNARY_FORWARD(sign, signf(x))
UNARY_KERNEL(sin, sinf(x), cosf(x))
UNARY_KERNEL(sinh, sinhf(x), coshf(x))
UNARY_KERNEL(sqrt, sqrtf(x), 0.5f / y)
UNARY_KERNEL(tan, tanf(x), 1.0f + y * y)
UNARY_KERNEL(softplus, softplusf(x), sigmoidf(x))
UNARY_KERNEL(softsign, x / (1.0f + fabsf(x)), 1.0f / ((1.0f + fabsf(x)) * (1.0f + fabsf(x))))
UNARY_KERNEL(elu, x < 0.0f ? al * expm1f(x) : x, x > 0.0f ? 1.0f : al * expf(x))
UNARY_KERNEL(selu, x > 0.0f ? ga * x : ga * al * expm1f(x), x > 0.0f ? ga : ga * al * expf(x))
UNARY_KERNEL(celu, x > 0.0f ? x : al * expm1f(x / al), x > 0.0f ? 1.0f : expf(x / al))
UNARY_KERNEL(leaky_relu, x < 0.0f ? al * x : x, x > 0.0f ? 1.0f : al)
UNARY_KERNEL(hard_sigmoid, unit_clamp(al * x + be),
             al * x + be > 0.0f && al * x + be < 1.0f ? al : 0.0f)
UNARY_KERNEL(hard_swish, x * unit_clamp(x * (1.0f / 6.0f) + 0.5f),
             x < -3.0f ? 0.0f : x <= 3.0f ? x / 3.0f + 0.5f : 1.0f)
UNARY_KERNEL(thresholded_relu, x > al ? x : 0.0f, x > al ? 1.0f : 0.0f)
UNARY_KERNEL(mish, x * tanhf(softplusf(x)), mish_grad(x))
UNARY_KERNEL(gelu, 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)),
             0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
                 x * 0.3989422804014327f * expf(-0.5f * x * x))
UNARY_KERNEL(gelu_tanh, 0.5f * x * (1.0f + tanhf(gelu_tanh_inner(x))), gelu_tanh_grad(x))
/* clang-format on */

typedef struct UnaryEntry {
    KRangeFn fwd, bwd; /* bwd NULL: zero gradient */
} UnaryEntry;

static const UnaryEntry unary_table[KU_COUNT] = {
    [KU_ABS] = {abs_fwd, abs_bwd},
    [KU_ACOS] = {acos_fwd, acos_bwd},
    [KU_ACOSH] = {acosh_fwd, acosh_bwd},
    [KU_ASIN] = {asin_fwd, asin_bwd},
    [KU_ASINH] = {asinh_fwd, asinh_bwd},
    [KU_ATAN] = {atan_fwd, atan_bwd},
    [KU_ATANH] = {atanh_fwd, atanh_bwd},
    [KU_CEIL] = {ceil_fwd, NULL},
    [KU_COS] = {cos_fwd, cos_bwd},
    [KU_COSH] = {cosh_fwd, cosh_bwd},
    [KU_ERF] = {erf_fwd, erf_bwd},
    [KU_EXP] = {exp_fwd, exp_bwd},
    [KU_FLOOR] = {floor_fwd, NULL},
    [KU_LOG] = {log_fwd, log_bwd},
    [KU_NEG] = {neg_fwd, neg_bwd},
    [KU_RECIPROCAL] = {reciprocal_fwd, reciprocal_bwd},
    [KU_ROUND] = {round_fwd, NULL},
    [KU_SIGN] = {sign_fwd, NULL},
    [KU_SIN] = {sin_fwd, sin_bwd},
    [KU_SINH] = {sinh_fwd, sinh_bwd},
    [KU_SQRT] = {sqrt_fwd, sqrt_bwd},
    [KU_TAN] = {tan_fwd, tan_bwd},
    [KU_SOFTPLUS] = {softplus_fwd, softplus_bwd},
    [KU_SOFTSIGN] = {softsign_fwd, softsign_bwd},
    [KU_ELU] = {elu_fwd, elu_bwd},
    [KU_SELU] = {selu_fwd, selu_bwd},
    [KU_CELU] = {celu_fwd, celu_bwd},
    [KU_LEAKY_RELU] = {leaky_relu_fwd, leaky_relu_bwd},
    [KU_HARD_SIGMOID] = {hard_sigmoid_fwd, hard_sigmoid_bwd},
    [KU_HARD_SWISH] = {hard_swish_fwd, hard_swish_bwd},
    [KU_THRESHOLDED_RELU] = {thresholded_relu_fwd, thresholded_relu_bwd},
    [KU_MISH] = {mish_fwd, mish_bwd},
    [KU_GELU] = {gelu_fwd, gelu_bwd},
    [KU_GELU_TANH] = {gelu_tanh_fwd, gelu_tanh_bwd},
};

_Static_assert(sizeof unary_table / sizeof unary_table[0] == KU_COUNT, "one row per KUnaryOp");

void k_unary_forward(KUnaryOp op, const KUnaryParams *pr, const float *x, float *y, int64_t n)
{
    UnaryMathArgs u = {.pr = *pr, .x = x, .out = y};
    k_run_ranges(n, unary_table[op].fwd, &u);
}

void k_unary_backward(KUnaryOp op, const KUnaryParams *pr, const float *x, const float *y, const float *dy, float *dx,
                      int64_t n)
{
    if (!dx || !unary_table[op].bwd)
        return;
    UnaryMathArgs u = {.pr = *pr, .x = x, .y = y, .dy = dy, .out = dx};
    k_run_ranges(n, unary_table[op].bwd, &u);
}

/* ------------------------------------------------------------ Clip, scale */

typedef struct ClipArgs {
    const float *x, *dy;
    float *out;
    float lo, hi, s;
} ClipArgs;

static void clip_forward_range(const void *args, int64_t begin, int64_t end)
{
    const ClipArgs *c = args;
    for (int64_t i = begin; i < end; i++) {
        float v = c->x[i] < c->lo ? c->lo : c->x[i];
        c->out[i] = v > c->hi ? c->hi : v;
    }
}

static void clip_backward_range(const void *args, int64_t begin, int64_t end)
{
    const ClipArgs *c = args;
    for (int64_t i = begin; i < end; i++)
        c->out[i] += c->x[i] >= c->lo && c->x[i] <= c->hi ? c->dy[i] : 0.0f;
}

static void scale_range(const void *args, int64_t begin, int64_t end)
{
    const ClipArgs *c = args;
    for (int64_t i = begin; i < end; i++)
        c->out[i] *= c->s;
}

void k_clip_forward(const float *x, float lo, float hi, float *y, int64_t n)
{
    k_run_ranges(n, clip_forward_range, &(ClipArgs){.x = x, .out = y, .lo = lo, .hi = hi});
}

void k_clip_backward(const float *x, float lo, float hi, const float *dy, float *dx, int64_t n)
{
    if (dx)
        k_run_ranges(n, clip_backward_range, &(ClipArgs){.x = x, .dy = dy, .out = dx, .lo = lo, .hi = hi});
}

void k_scale(float *y, float s, int64_t n)
{
    k_run_ranges(n, scale_range, &(ClipArgs){.out = y, .s = s});
}
