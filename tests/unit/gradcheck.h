/* gradcheck.h - shared helpers for the kernel unit tests.
 *
 * Central finite differences of a scalar loss (the caller's forward, summed
 * in double against fixed random weights, i.e. sum(dy * y)) compared with
 * the analytic gradients of the backward kernels, with per-op tolerances.
 * Gradient buffers start at GC_PREFILL rather than zero so every check also
 * proves that the backward kernels accumulate (+=) instead of overwriting.
 * Header-only (static inline) so each test binary takes what it uses.
 */
#ifndef KDC_TEST_GRADCHECK_H
#define KDC_TEST_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kernels.h"

#define GC_PREFILL 0.375f

/* Step and tolerances of one check: pass when
 * |numeric - analytic| <= atol + rtol * max(|numeric|, |analytic|). */
typedef struct GcTol {
    double eps, atol, rtol;
} GcTol;

/* The loss at the current inputs; the test's forward behind a context. */
typedef double (*GcLossFn)(void *ctx);

static inline float *gc_alloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "gradcheck: out of memory for %zu floats\n", n);
        abort();
    }
    return p;
}

static inline float *gc_uniform(KRng *rng, size_t n, float lo, float hi)
{
    float *p = gc_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * k_rng_uniform(rng);
    return p;
}

/* Values with |v| in [lo, hi] and random sign: keeps inputs off kinks
 * (Relu at 0) and poles (Div by 0). */
static inline float *gc_away_from_zero(KRng *rng, size_t n, float lo, float hi)
{
    float *p = gc_uniform(rng, n, lo, hi);
    for (size_t i = 0; i < n; i++)
        if (k_rng_next(rng) & 1)
            p[i] = -p[i];
    return p;
}

/* A shuffled grid spaced `gap` apart: no two values within a FD step, so a
 * max never changes its winner under perturbation. */
static inline float *gc_distinct(KRng *rng, size_t n, float gap)
{
    float *p = gc_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = gap * ((float)i - (float)n / 2);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(k_rng_next(rng) % i);
        float t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

static inline float *gc_grad_buffer(size_t n)
{
    float *p = gc_alloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = GC_PREFILL;
    return p;
}

static inline double gc_weighted_sum(const float *y, const float *w, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)y[i] * w[i];
    return s;
}

/* Checks analytic - GC_PREFILL against central differences of loss along
 * each of the n entries of x (restored afterwards). Returns the number of
 * mismatches and prints the first few. */
static inline int gc_check(const char *what, float *x, size_t n, const float *analytic,
                           GcLossFn loss, void *ctx, GcTol tol)
{
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float saved = x[i];
        x[i] = (float)(saved + tol.eps);
        double up = loss(ctx);
        double step_up = (double)x[i] - saved;
        x[i] = (float)(saved - tol.eps);
        double down = loss(ctx);
        double step_down = saved - (double)x[i];
        x[i] = saved;
        double numeric = (up - down) / (step_up + step_down);
        double ana = (double)analytic[i] - GC_PREFILL;
        double err = fabs(numeric - ana), scale = fmax(fabs(numeric), fabs(ana));
        if (err > worst)
            worst = err;
        if (err > tol.atol + tol.rtol * scale && bad++ < 5)
            fprintf(stderr, "gradcheck %s[%zu]: numeric %.6g analytic %.6g\n", what, i, numeric,
                    ana);
    }
    if (bad)
        fprintf(stderr, "gradcheck %s: %d of %zu entries off (worst abs error %.3g)\n", what,
                bad, n, worst);
    return bad;
}

/* Largest |a - b| relative to 1 + |b|, for forward checks against references. */
static inline double gc_max_rel_diff(const float *a, const double *b, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]) / (1.0 + fabs(b[i]));
        worst = e > worst ? e : worst;
    }
    return worst;
}

#endif
