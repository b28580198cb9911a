/* kernels_sample.h - kernels of the sampling ops: GridSample (k_gridsample.c)
 * and Unique (k_unique.c).
 *
 * Same conventions as runtime/kernels.h: dense row-major tensors, backward
 * kernels accumulate (+=) into d-prefixed float gradients, argument shapes in
 * the comment above each function, scratch from the caller.
 */
#ifndef KDC_KERNELS_SAMPLE_H
#define KDC_KERNELS_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/kernels.h"

/* ---------------------------------------------------------- GridSample */

typedef enum KGridMode { KG_BILINEAR, KG_NEAREST, KG_BICUBIC } KGridMode;
typedef enum KGridPad { KG_ZEROS, KG_BORDER, KG_REFLECTION } KGridPad;

/* x: [n, c, h, w], grid: [n, ho, wo, 2] holding (x, y) in [-1, 1] -> y: [n, c, ho, wo] */
typedef struct KGridSample {
    int64_t n, c, h, w, ho, wo;
    KGridMode mode;
    KGridPad pad;
    bool align_corners;
} KGridSample;

/* Follows the ONNX reference: a grid point is mapped to pixel coordinates
 * (align_corners: -1 and 1 are the centres of the corner pixels, else their
 * outer edges); nearest rounds half to even first; a point outside the
 * border box is clamped (border) or reflected (reflection); every tap that
 * falls outside the image reads 0 (zeros), the nearest edge pixel (border)
 * or its reflection (reflection). Bicubic uses a = -0.75. */
void k_gridsample_forward(const KGridSample *gs, const float *x, const float *grid, float *y);
/* x, grid, dy -> dx, dgrid (either may be NULL). Nearest sampling is
 * piecewise constant in the grid: its grid gradient is 0. */
void k_gridsample_backward(const KGridSample *gs, const float *x, const float *grid, const float *dy, float *dx,
                           float *dgrid);

/* -------------------------------------------------------------- Unique */

/* x: [outer, n, inner] of t; the n slices x[:, i, :] are compared whole
 * (lexicographically in row-major order; NaN after every number, NaNs equal). */
typedef struct KUnique {
    int64_t outer, n, inner;
    KElem t;
    bool sorted; /* ascending order, else order of first occurrence */
} KUnique;

/* Scratch of the kernels below, in int64 entries. */
int64_t k_unique_ws_ints(const KUnique *u);
/* Number of distinct slices. ws: [k_unique_ws_ints] */
int64_t k_unique_count(const KUnique *u, const void *x, int64_t *ws);
/* x -> y: [outer, m, inner] of t, indices: [m] (first occurrence of each),
 * inverse: [n] (position in y of each input slice), counts: [m], where m is
 * k_unique_count; any output may be NULL. ws: [k_unique_ws_ints] */
void k_unique(const KUnique *u, const void *x, void *y, int64_t *indices, int64_t *inverse, int64_t *counts,
              int64_t *ws);

#endif
