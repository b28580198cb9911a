/* batcher.c - epoch ordering and batch copies for Datasets (see batcher.h). */
#include "train/batcher.h"

#include <stdlib.h>
#include <string.h>

#include "train/rng.h"

Status batcher_init(Batcher *b, const Dataset *ds, int64_t batch_size, bool shuffle,
                    uint64_t seed, Diag *d)
{
    memset(b, 0, sizeof *b);
    if (batch_size <= 0)
        return diag_error(d, "batcher: batch size must be positive, got %lld",
                          (long long)batch_size);
    if (ds->n <= 0 || !ds->x)
        return diag_error(d, "batcher: the dataset is empty");
    b->order = malloc((size_t)ds->n * sizeof *b->order);
    if (!b->order)
        return diag_error(d, "batcher: out of memory for %lld indices", (long long)ds->n);
    b->ds = ds;
    b->batch_size = batch_size;
    b->shuffle = shuffle;
    b->seed = seed;
    batcher_start_epoch(b, 0);
    return KDC_OK;
}

void batcher_free(Batcher *b)
{
    free(b->order);
    memset(b, 0, sizeof *b);
}

void batcher_start_epoch(Batcher *b, int64_t epoch)
{
    b->epoch = epoch;
    b->next = b->first = b->count = 0;
    for (int64_t i = 0; i < b->ds->n; i++)
        b->order[i] = i;
    if (b->shuffle) {
        /* The order depends on (seed, epoch) only, never on earlier epochs, so
         * resuming at any epoch reproduces the original run. */
        Rng rng;
        rng_seed(&rng, b->seed + (uint64_t)epoch * UINT64_C(0x9E3779B97F4A7C15));
        rng_shuffle(&rng, b->order, b->ds->n);
    }
}

int64_t batcher_num_batches(const Batcher *b)
{
    return (b->ds->n + b->batch_size - 1) / b->batch_size;
}

int64_t batcher_next(Batcher *b, float *x, int32_t *y)
{
    const Dataset *ds = b->ds;
    int64_t count = ds->n - b->next;
    if (count > b->batch_size)
        count = b->batch_size;
    b->first = b->next;
    b->count = count;
    size_t row_bytes = (size_t)ds->sample_size * sizeof *ds->x;
    for (int64_t i = 0; i < count; i++) {
        int64_t s = b->order[b->first + i];
        memcpy(x + i * ds->sample_size, ds->x + s * ds->sample_size, row_bytes);
        if (y)
            y[i] = ds->y[s];
    }
    b->next += count;
    return count;
}

void batcher_gather(const Batcher *b, const float *rows, int64_t width, float *out)
{
    for (int64_t i = 0; i < b->count; i++)
        memcpy(out + i * width, rows + b->order[b->first + i] * width,
               (size_t)width * sizeof *rows);
}

const int64_t *batcher_indices(const Batcher *b, int64_t *count)
{
    *count = b->count;
    return b->order + b->first;
}
