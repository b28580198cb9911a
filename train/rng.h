/* rng.h - a small seeded pseudo-random generator for reproducible training.
 *
 * xoshiro256** (Blackman and Vigna), seeded through splitmix64 so that any 64-bit
 * seed, including 0 and consecutive integers, gives a well-mixed state. Used for
 * data shuffling and weight initialisation; the same seed gives the same stream
 * on every machine.
 */
#ifndef KDC_TRAIN_RNG_H
#define KDC_TRAIN_RNG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
    bool has_spare; /* normal() makes values in pairs */
    double spare;
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next_u64(Rng *r);
/* Uniform in [0, 1), 53 bits of resolution. */
double rng_uniform_double(Rng *r);
/* Uniform in [0, 1), 24 bits of resolution. */
float rng_uniform(Rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Standard normal (mean 0, standard deviation 1), Box-Muller. */
double rng_normal(Rng *r);
/* perm = a uniformly random permutation of 0..n-1 (Fisher-Yates). */
void rng_permutation(Rng *r, int64_t *perm, int64_t n);
/* Shuffles perm[0..n) in place (Fisher-Yates). */
void rng_shuffle(Rng *r, int64_t *perm, int64_t n);

#endif
