/* rng.c - splitmix64 seeding, xoshiro256** generation and the derived
 * distributions (uniform, normal, bounded integers, permutations). See rng.h.
 */
#include "train/rng.h"

#include <assert.h>
#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_seed(Rng *r, uint64_t seed)
{
    /* splitmix64 never yields four zero words, the one state xoshiro must avoid. */
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
    r->has_spare = false;
    r->spare = 0;
}

uint64_t rng_next_u64(Rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform_double(Rng *r)
{
    return (double)(rng_next_u64(r) >> 11) * 0x1.0p-53;
}

float rng_uniform(Rng *r)
{
    return (float)(rng_next_u64(r) >> 40) * 0x1.0p-24f;
}

uint64_t rng_below(Rng *r, uint64_t n)
{
    assert(n > 0);
    /* Reject the top partial copy of [0, n) so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = rng_next_u64(r);
    while (v >= limit);
    return v % n;
}

double rng_normal(Rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u1 = 1.0 - rng_uniform_double(r); /* (0, 1]: log stays finite */
    double u2 = rng_uniform_double(r);
    double radius = sqrt(-2.0 * log(u1)), angle = 2.0 * M_PI * u2;
    r->spare = radius * sin(angle);
    r->has_spare = true;
    return radius * cos(angle);
}

void rng_shuffle(Rng *r, int64_t *perm, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void rng_permutation(Rng *r, int64_t *perm, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    rng_shuffle(r, perm, n);
}
