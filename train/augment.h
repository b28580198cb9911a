/* augment.h - random changes to each training batch: crop with zero padding, horizontal
 * flip and mixup, drawn from the training Rng so that a seed reproduces a run.
 *
 * Inputs are x [B, C, H, W] (float, row-major) images, or, for models whose input is
 * [N, D] (an MLP), plain vectors: then only mixup applies. An Augment owns the scratch
 * it needs for a batch of up to max_batch examples, allocated once by augment_init;
 * augment_batch allocates nothing. It also keeps what the last batch drew (crop offsets,
 * flips, mixup permutation) so that logs and tests can see it.
 */
#ifndef KDC_TRAIN_AUGMENT_H
#define KDC_TRAIN_AUGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/diag.h"
#include "train/options.h"
#include "train/rng.h"

typedef struct Augment {
    AugmentOptions options;
    int64_t max_batch;
    int64_t channels, height, width; /* channels 0: examples are vectors of height * width */
    int64_t example_size;            /* floats per example */
    float *scratch;                  /* one example */
    bool *mixed;                     /* [max_batch]: done marks while mixing in place */
    /* Drawn by the last augment_batch, [max_batch] each (first `batch` entries valid): */
    int64_t *crop_y, *crop_x; /* window offsets into the padded image, in [0, 2P]; P: none */
    bool *flipped;
    int64_t *perm; /* mixup partner of each example; identity without mixup */
} Augment;

/* Prepares a for batches of up to max_batch examples of [channels, height, width]; pass
 * channels = 0 (and height 1, width D) when the model's input is [N, D] rather than
 * images. Errors: sizes < 1, crop_padding < 0 or >= height or >= width, crop or flip on
 * inputs that are not images, mixup negative or not finite, out of memory. On error a is
 * left empty (augment_free is still safe). */
Status augment_init(Augment *a, const AugmentOptions *o, int64_t max_batch, int64_t channels,
                    int64_t height, int64_t width, Diag *d);

/* Frees what augment_init allocated and empties a; safe on an empty Augment. */
void augment_free(Augment *a);

/* Whether o asks for any augmentation at all. */
bool augment_active(const AugmentOptions *o);

/* Augments x [batch, C, H, W] in place, batch <= max_batch, in this order:
 *  - crop (crop_padding P > 0): pad each side by P zeros, take an H x W window at offsets
 *    drawn uniformly from [0, 2P] in each direction, per image;
 *  - flip: mirror each image left-right with probability 1/2;
 *  - mixup (a = mixup > 0): lam ~ Beta(a, a), perm a random permutation of the batch,
 *    x[b] = lam * x[b] + (1 - lam) * x[perm[b]] and y2[b] = y[perm[b]]; the loss is then
 *    lam * CE(s, y) + (1 - lam) * CE(s, y2) (loss_ce).
 * *lam receives lam, or 1 without mixup (then y and y2 may be NULL and y2 is untouched). */
void augment_batch(Augment *a, Rng *rng, float *x, const int32_t *y, int64_t batch, int32_t *y2,
                   double *lam);

/* The steps of augment_batch on their own, on one image [C, H, W] or a whole batch. */
/* Shifts the image as the window at (offset_y, offset_x) of its zero-padded copy would. */
void augment_crop_image(Augment *a, float *image, int64_t offset_y, int64_t offset_x);
/* Mirrors the image left-right. */
void augment_flip_image(const Augment *a, float *image);
/* x[b] = lam * x[b] + (1 - lam) * x[a->perm[b]] for b < batch, in place. */
void augment_mix_batch(Augment *a, float *x, int64_t batch, double lam);

/* A Beta(a, a) draw (a > 0) as X / (X + Y) of two Gamma(a, 1) draws. */
double augment_sample_beta(Rng *rng, double a);

#endif
