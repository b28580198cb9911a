/* k_dropout.c - training Dropout, forward and backward, and the splitmix64
 * generator that draws its mask.
 *
 * Owns nothing but the caller's RNG state: the same seed gives the same
 * mask, run after run, which keeps training reproducible. The mask is drawn
 * sequentially (one generator, one stream), so this kernel is not threaded.
 */
#include "runtime/kernels.h"

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

Status k_dropout_forward(const float *x, float *y, uint8_t *mask, int64_t n, float ratio,
                         KRng *rng, Diag *d)
{
    if (!(ratio >= 0.0f && ratio < 1.0f))
        return diag_error(d, "Dropout: ratio %g is outside [0, 1)", (double)ratio);
    float scale = 1.0f / (1.0f - ratio);
    for (int64_t i = 0; i < n; i++) {
        mask[i] = k_rng_uniform(rng) >= ratio;
        y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
    return KDC_OK;
}

void k_dropout_backward(const uint8_t *mask, const float *dy, float *dx, int64_t n,
                        float ratio)
{
    float scale = 1.0f / (1.0f - ratio);
    for (int64_t i = 0; dx && i < n; i++)
        if (mask[i])
            dx[i] += dy[i] * scale;
}
