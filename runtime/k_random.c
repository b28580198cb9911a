/* k_random.c - the MT19937 generator (Matsumoto & Nishimura, 1998) with
 * its two published seeding routines and NumPy's 53-bit uniform double.
 *
 * Owns nothing but the caller's KMt19937. Written from the published
 * definition: the recurrence x[k+n] = x[k+m] ^ ((x[k]_upper | x[k+1]_lower) A)
 * with n = 624, m = 397, r = 31 and the twist matrix's last row a =
 * 0x9908b0df, then the tempering shifts and masks. See kernels_random.h for
 * why kdc needs this generator at all (seeded Dropout masks).
 */
#include "runtime/kernels_random.h"

#include <assert.h>

enum { MT_N = K_MT_STATE_WORDS, MT_M = 397 };

#define MT_TWIST_A 0x9908b0dfu
#define MT_UPPER_BIT 0x80000000u
#define MT_LOWER_BITS 0x7fffffffu

void k_mt_seed(KMt19937 *g, uint32_t seed)
{
    g->mt[0] = seed;
    for (uint32_t i = 1; i < MT_N; i++)
        g->mt[i] = 1812433253u * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + i;
    g->next = MT_N;
}

/* The key mixing of init_by_array: mt[i] = (mt[i] ^ f(mt[i-1])) + key[j] + j
 * over max(n, len) steps, then a second pass without the key, wrapping i
 * from the end back to 1 with mt[0] = mt[n-1] each time. */
void k_mt_seed_key(KMt19937 *g, const uint32_t *key, int n_key)
{
    assert(n_key >= 1);
    k_mt_seed(g, 19650218u);
    uint32_t *mt = g->mt;
    int i = 1, j = 0;
    for (int k = n_key > MT_N ? n_key : MT_N; k > 0; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
        if (j >= n_key)
            j = 0;
    }
    for (int k = MT_N - 1; k > 0; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
    }
    mt[0] = MT_UPPER_BIT; /* a non-zero state whatever the key */
    g->next = MT_N;
}

void k_mt_seed_u64(KMt19937 *g, uint64_t seed)
{
    if (seed <= UINT32_MAX) {
        k_mt_seed(g, (uint32_t)seed);
        return;
    }
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    k_mt_seed_key(g, key, 2);
}

/* One twist of the whole state: word k becomes word k+m xor the upper bit
 * of word k joined to the lower bits of word k+1, times A. */
static void mt_regenerate(KMt19937 *g)
{
    uint32_t *mt = g->mt;
    for (int k = 0; k < MT_N; k++) {
        uint32_t y = (mt[k] & MT_UPPER_BIT) | (mt[(k + 1) % MT_N] & MT_LOWER_BITS);
        mt[k] = mt[(k + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? MT_TWIST_A : 0u);
    }
    g->next = 0;
}

uint32_t k_mt_next(KMt19937 *g)
{
    if (g->next >= MT_N)
        mt_regenerate(g);
    uint32_t y = g->mt[g->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

double k_mt_uniform(KMt19937 *g)
{
    uint32_t a = k_mt_next(g) >> 5, b = k_mt_next(g) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}
