/* augment.c - batch augmentation (random crop with zero padding, horizontal flip, mixup)
 * and the Beta sampler mixup needs; see augment.h.
 *
 * Everything works in place on the caller's batch: a crop shifts the image through one
 * example of scratch, and mixup walks the permutation's cycles so that each example is
 * read before it is overwritten, needing only one saved example per cycle rather than a
 * copy of the whole batch.
 */
#include "train/augment.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static Status check_options(const AugmentOptions *o, int64_t channels, int64_t height,
                            int64_t width, Diag *d)
{
    if (o->crop_padding < 0)
        return diag_error(d, "augment: crop_padding must be >= 0, got %d", o->crop_padding);
    if (channels == 0 && (o->crop_padding > 0 || o->flip))
        return diag_error(d, "augment: crop_padding and flip need image inputs [N, C, H, W]; the "
                          "model's input is [N, %lld]", (long long)(height * width));
    if (o->crop_padding >= height || o->crop_padding >= width)
        return diag_error(d, "augment: crop_padding %d must be smaller than the image height "
                          "%lld and width %lld", o->crop_padding, (long long)height,
                          (long long)width);
    if (!(o->mixup >= 0 && isfinite(o->mixup)))
        return diag_error(d, "augment: mixup must be a finite number >= 0, got %g", o->mixup);
    return KDC_OK;
}

static Status check_sizes(int64_t max_batch, int64_t channels, int64_t height, int64_t width,
                          Diag *d)
{
    int64_t limit = INT64_MAX / (int64_t)sizeof(float);
    bool bad = max_batch < 1 || channels < 0 || height < 1 || width < 1;
    /* Every product a batch needs must fit, including the batch's own float count. */
    if (!bad && (height > limit / width || (channels > 0 && height * width > limit / channels)))
        bad = true;
    if (!bad && max_batch > limit / (height * width * (channels > 0 ? channels : 1)))
        bad = true;
    if (bad)
        return diag_error(d, "augment: bad input size (batch %lld, channels %lld, height %lld, "
                          "width %lld)", (long long)max_batch, (long long)channels,
                          (long long)height, (long long)width);
    return KDC_OK;
}

/* calloc of count * size bytes, or NULL with the error set. */
static void *scratch_alloc(size_t count, size_t size, Diag *d)
{
    void *p = calloc(count, size);
    if (!p)
        diag_error(d, "augment: out of memory for %zu bytes of scratch", count * size);
    return p;
}

Status augment_init(Augment *a, const AugmentOptions *o, int64_t max_batch, int64_t channels,
                    int64_t height, int64_t width, Diag *d)
{
    assert(a && o);
    memset(a, 0, sizeof *a);
    if (check_sizes(max_batch, channels, height, width, d) ||
        check_options(o, channels, height, width, d))
        return KDC_ERR;
    a->options = *o;
    a->max_batch = max_batch;
    a->channels = channels;
    a->height = height;
    a->width = width;
    a->example_size = (channels > 0 ? channels : 1) * height * width;
    size_t n = (size_t)max_batch;
    if (!(a->scratch = scratch_alloc((size_t)a->example_size, sizeof(float), d)) ||
        !(a->mixed = scratch_alloc(n, sizeof(bool), d)) ||
        !(a->crop_y = scratch_alloc(n, sizeof(int64_t), d)) ||
        !(a->crop_x = scratch_alloc(n, sizeof(int64_t), d)) ||
        !(a->flipped = scratch_alloc(n, sizeof(bool), d)) ||
        !(a->perm = scratch_alloc(n, sizeof(int64_t), d)))
        goto fail;
    return KDC_OK;
fail:
    augment_free(a);
    return KDC_ERR;
}

void augment_free(Augment *a)
{
    free(a->scratch);
    free(a->mixed);
    free(a->crop_y);
    free(a->crop_x);
    free(a->flipped);
    free(a->perm);
    memset(a, 0, sizeof *a);
}

bool augment_active(const AugmentOptions *o)
{
    return o->crop_padding > 0 || o->flip || o->mixup > 0;
}

/* ---- crop and flip ---- */

/* dst [W] = src shifted left by dx (src[j + dx]), zero where that falls outside. */
static void shift_row(float *dst, const float *src, int64_t width, int64_t dx)
{
    int64_t lo = dx < 0 ? -dx : 0, hi = dx > 0 ? width - dx : width;
    memset(dst, 0, (size_t)lo * sizeof *dst);
    memcpy(dst + lo, src + lo + dx, (size_t)(hi - lo) * sizeof *dst);
    memset(dst + hi, 0, (size_t)(width - hi) * sizeof *dst);
}

void augment_crop_image(Augment *a, float *image, int64_t offset_y, int64_t offset_x)
{
    int64_t pad = a->options.crop_padding, h = a->height, w = a->width;
    assert(a->channels > 0 && offset_y >= 0 && offset_y <= 2 * pad && offset_x >= 0 &&
           offset_x <= 2 * pad);
    /* Window row i of the padded image is source row i + offset - pad. */
    int64_t dy = offset_y - pad, dx = offset_x - pad;
    memcpy(a->scratch, image, (size_t)a->example_size * sizeof *image);
    for (int64_t c = 0; c < a->channels; c++)
        for (int64_t i = 0; i < h; i++) {
            float *dst = image + (c * h + i) * w;
            int64_t src_row = i + dy;
            if (src_row < 0 || src_row >= h)
                memset(dst, 0, (size_t)w * sizeof *dst);
            else
                shift_row(dst, a->scratch + (c * h + src_row) * w, w, dx);
        }
}

void augment_flip_image(const Augment *a, float *image)
{
    assert(a->channels > 0);
    int64_t w = a->width;
    for (int64_t r = 0; r < a->channels * a->height; r++) {
        float *row = image + r * w;
        for (int64_t j = 0; j < w / 2; j++) {
            float t = row[j];
            row[j] = row[w - 1 - j];
            row[w - 1 - j] = t;
        }
    }
}

/* ---- mixup ---- */

/* x = lam * x + (1 - lam) * partner, rounded once. */
static void mix_example(float *x, const float *partner, int64_t n, double lam)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lam * x[i] + (1 - lam) * partner[i]);
}

void augment_mix_batch(Augment *a, float *x, int64_t batch, double lam)
{
    int64_t n = a->example_size;
    assert(batch >= 1 && batch <= a->max_batch);
    memset(a->mixed, 0, (size_t)batch * sizeof *a->mixed);
    for (int64_t start = 0; start < batch; start++) {
        if (a->mixed[start])
            continue;
        /* Along the cycle start -> perm[start] -> ..., each partner is still unmixed,
         * except start itself when the cycle closes: keep its original. */
        memcpy(a->scratch, x + start * n, (size_t)n * sizeof *x);
        for (int64_t b = start;;) {
            int64_t next = a->perm[b];
            assert(next >= 0 && next < batch && (next == start || !a->mixed[next]));
            a->mixed[b] = true;
            mix_example(x + b * n, next == start ? a->scratch : x + next * n, n, lam);
            if (next == start)
                break;
            b = next;
        }
    }
}

/* log of a Gamma(shape, 1) draw, by Marsaglia and Tsang (2000). In logs because the
 * shape < 1 boost, Gamma(a) = Gamma(a + 1) * U^(1/a), underflows for small a. */
static double log_gamma_draw(Rng *rng, double shape)
{
    if (shape < 1) {
        double u = 1.0 - rng_uniform_double(rng); /* (0, 1]: log stays finite */
        return log_gamma_draw(rng, shape + 1) + log(u) / shape;
    }
    double dd = shape - 1.0 / 3, c = 1 / sqrt(9 * dd);
    for (;;) {
        double z = rng_normal(rng), v = 1 + c * z;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = 1.0 - rng_uniform_double(rng);
        if (u < 1 - 0.0331 * z * z * z * z || log(u) < 0.5 * z * z + dd * (1 - v + log(v)))
            return log(dd * v);
    }
}

double augment_sample_beta(Rng *rng, double a)
{
    assert(a > 0 && isfinite(a));
    double log_x = log_gamma_draw(rng, a), log_y = log_gamma_draw(rng, a);
    /* X / (X + Y) without forming X or Y. */
    return 1 / (1 + exp(log_y - log_x));
}

/* ---- the batch ---- */

static void crop_and_flip(Augment *a, Rng *rng, float *x, int64_t batch)
{
    int64_t pad = a->options.crop_padding;
    for (int64_t b = 0; b < batch; b++) {
        float *image = x + b * a->example_size;
        a->crop_y[b] = a->crop_x[b] = pad;
        a->flipped[b] = false;
        if (pad > 0) {
            a->crop_y[b] = (int64_t)rng_below(rng, (uint64_t)(2 * pad + 1));
            a->crop_x[b] = (int64_t)rng_below(rng, (uint64_t)(2 * pad + 1));
            augment_crop_image(a, image, a->crop_y[b], a->crop_x[b]);
        }
        if (a->options.flip && rng_below(rng, 2)) {
            a->flipped[b] = true;
            augment_flip_image(a, image);
        }
    }
}

void augment_batch(Augment *a, Rng *rng, float *x, const int32_t *y, int64_t batch, int32_t *y2,
                   double *lam)
{
    assert(a && rng && x && lam && batch >= 1 && batch <= a->max_batch);
    crop_and_flip(a, rng, x, batch);
    *lam = 1;
    if (!(a->options.mixup > 0)) {
        for (int64_t b = 0; b < batch; b++)
            a->perm[b] = b;
        return;
    }
    assert(y && y2);
    *lam = augment_sample_beta(rng, a->options.mixup);
    rng_permutation(rng, a->perm, batch);
    augment_mix_batch(a, x, batch, *lam);
    for (int64_t b = 0; b < batch; b++)
        y2[b] = y[a->perm[b]];
}
