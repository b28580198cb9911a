/* k_dropout.c - Dropout's kernels: the float training forward and backward
 * with the splitmix64 generator that draws their masks (kernels.h), and the
 * NumPy-compatible pieces (kernels_random.h): a mask drawn from MT19937 as
 * np.random.uniform(0, 1, n) >= ratio, and the masked scaling on float,
 * double, float16 and bfloat16 data.
 *
 * Owns nothing but the caller's generator state: the same seed gives the
 * same mask, run after run, which keeps training reproducible. Masks are
 * drawn sequentially (one generator, one stream), so these kernels are not
 * threaded.
 */
#include "runtime/kernels.h"
#include "runtime/kernels_misc.h"
#include "runtime/kernels_random.h"

#include <assert.h>

void k_rng_seed(KRng *rng, uint64_t seed)
{
    rng->state = seed;
}

uint64_t k_rng_next(KRng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

float k_rng_uniform(KRng *rng)
{
    return (float)(k_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

/* 1/(1-ratio) in double rounded once, the scale NumPy applies to float32
 * data; forward and backward share it so the gradient is the exact slope. */
static float float_scale(double ratio)
{
    return (float)(1.0 / (1.0 - ratio));
}

Status k_dropout_forward(const float *x, float *y, uint8_t *mask, int64_t n, float ratio, KRng *rng, Diag *d)
{
    if (!(ratio >= 0.0f && ratio < 1.0f))
        return diag_error(d, "Dropout: ratio %g is outside [0, 1)", (double)ratio);
    float scale = float_scale(ratio);
    for (int64_t i = 0; i < n; i++) {
        mask[i] = k_rng_uniform(rng) >= ratio;
        y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
    return KDC_OK;
}

void k_dropout_backward(const uint8_t *mask, const float *dy, float *dx, int64_t n, double ratio)
{
    float scale = float_scale(ratio);
    for (int64_t i = 0; dx && i < n; i++)
        if (mask[i])
            dx[i] += dy[i] * scale;
}

void k_dropout_mask_mt(KMt19937 *g, double ratio, uint8_t *keep, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        keep[i] = k_mt_uniform(g) >= ratio;
}

static void apply_float(const float *x, const uint8_t *keep, float scale, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = keep[i] ? x[i] * scale : 0.0f;
}

/* float16 and bfloat16 go through a float block on the stack, so a value is
 * rounded to its type once, after the multiply. */
static void apply_half(KElem t, const void *x, const uint8_t *keep, float scale, void *y, int64_t n)
{
    enum { BLOCK = 256 };
    float block[BLOCK];
    const uint8_t *xb = x;
    uint8_t *yb = y;
    for (int64_t at = 0; at < n; at += BLOCK) {
        int64_t len = n - at < BLOCK ? n - at : BLOCK;
        k_convert_to_float(t, xb + at * 2, block, len);
        apply_float(block, keep + at, scale, block, len);
        k_convert(KE_FLOAT, block, t, yb + at * 2, len);
    }
}

void k_dropout_apply(KElem t, const void *x, const uint8_t *keep, double ratio, void *y, int64_t n)
{
    if (t == KE_DOUBLE) {
        const double *xd = x;
        double *yd = y, scale = 1.0 / (1.0 - ratio);
        for (int64_t i = 0; i < n; i++)
            yd[i] = keep[i] ? xd[i] * scale : 0.0;
    } else if (t == KE_FLOAT) {
        apply_float(x, keep, float_scale(ratio), y, n);
    } else {
        assert(t == KE_FLOAT16 || t == KE_BFLOAT16);
        apply_half(t, x, keep, float_scale(ratio), y, n);
    }
}
