/* kernels_random.h - the MT19937 generator (runtime/k_random.c) and the
 * Dropout kernels that draw from it or compute on types other than float
 * (runtime/k_dropout.c; the float training kernels and their splitmix64
 * generator are in runtime/kernels.h, whose Dropout section comes before
 * KElem is declared).
 *
 * Why MT19937: a Dropout node that carries a `seed` attribute makes its
 * masks part of the model's meaning, and the ONNX reference (which produced
 * the backend test data) draws them with NumPy's legacy generator:
 * np.random.seed(seed); keep = np.random.uniform(0, 1, shape) >= ratio.
 * kdc draws the same numbers, so a seeded node gives the reference's masks.
 */
#ifndef KDC_KERNELS_RANDOM_H
#define KDC_KERNELS_RANDOM_H

#include <stdint.h>

#include "runtime/kernels.h"

/* ---------------------------------------------------------- MT19937 */

#define K_MT_STATE_WORDS 624

/* Matsumoto & Nishimura's Mersenne Twister, 32-bit words. */
typedef struct KMt19937 {
    uint32_t mt[K_MT_STATE_WORDS];
    int next; /* index of the next word to temper; K_MT_STATE_WORDS: regenerate first */
} KMt19937;

/* init_genrand(seed): numpy.random.seed(seed) for a seed in [0, 2^32). */
void k_mt_seed(KMt19937 *g, uint32_t seed);
/* init_by_array(key, n_key), n_key >= 1: numpy.random.seed(key) for an array key. */
void k_mt_seed_key(KMt19937 *g, const uint32_t *key, int n_key);
/* kdc's rule for a 64-bit seed (an ONNX `seed` attribute is any int64): a
 * seed below 2^32 is k_mt_seed(seed), exactly numpy.random.seed(seed); a
 * wider one (a negative int64 counts as its two's complement) is
 * k_mt_seed_key({low 32 bits, high 32 bits}), numpy.random.seed([lo, hi]),
 * so distinct seeds never share a stream. */
void k_mt_seed_u64(KMt19937 *g, uint64_t seed);
/* The next tempered 32-bit output (genrand_int32). */
uint32_t k_mt_next(KMt19937 *g);
/* Uniform in [0, 1) with 53 random bits from two draws a, b:
 * ((a >> 5) * 2^26 + (b >> 6)) / 2^53, NumPy's random_sample (genrand_res53). */
double k_mt_uniform(KMt19937 *g);

/* ------------------------------------------------- Dropout, any float type */

/* The draws of np.random.uniform(0, 1, n) >= ratio: keep: [n] of 0/1,
 * g advanced by 2n words. */
void k_dropout_mask_mt(KMt19937 *g, double ratio, uint8_t *keep, int64_t n);
/* y[i] = keep[i] ? x[i] * scale : 0 with scale = 1/(1-ratio) computed in
 * double: double data multiplies in double; float data by the scale rounded
 * to float (as NumPy's mask * x * scale on float32); float16 and bfloat16
 * likewise in float, rounded once to their type. t is KE_FLOAT, KE_DOUBLE, KE_FLOAT16 or KE_BFLOAT16;
 * 0 <= ratio < 1 (validated by the caller). y may alias x.
 * x: [n] of t, keep: [n] -> y: [n] of t */
void k_dropout_apply(KElem t, const void *x, const uint8_t *keep, double ratio, void *y, int64_t n);

#endif
