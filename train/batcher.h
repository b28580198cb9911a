/* batcher.h - mini-batch iteration over a Dataset.
 *
 * Each epoch visits every sample once, in an order shuffled from (seed, epoch)
 * alone, so a run (or a resumed run) reproduces exactly; evaluation uses the
 * file order. Samples are copied into caller-provided batch buffers: nothing is
 * allocated per step. The last, partial batch is included. Per-sample auxiliary
 * rows (e.g. cached teacher logits [n, K]) can be gathered in the same order.
 */
#ifndef KDC_TRAIN_BATCHER_H
#define KDC_TRAIN_BATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/diag.h"
#include "train/dataset.h"

typedef struct Batcher {
    const Dataset *ds;
    int64_t batch_size;
    bool shuffle;
    uint64_t seed;
    int64_t epoch;
    int64_t *order; /* [ds->n] sample indices for the current epoch */
    int64_t next;   /* position in order of the next batch */
    int64_t first;  /* position in order of the current (last returned) batch */
    int64_t count;  /* samples in the current batch */
} Batcher;

/* ds must outlive the batcher. Starts epoch 0. */
Status batcher_init(Batcher *b, const Dataset *ds, int64_t batch_size, bool shuffle,
                    uint64_t seed, Diag *d);
void batcher_free(Batcher *b);

/* Restarts at the beginning of the given epoch (reshuffled when shuffling). */
void batcher_start_epoch(Batcher *b, int64_t epoch);

/* Batches per epoch, counting the partial last one. */
int64_t batcher_num_batches(const Batcher *b);

/* Copies the next batch: x [count, sample_size] and y [count] (y may be NULL).
 * Returns count, between 1 and batch_size, or 0 when the epoch is done. */
int64_t batcher_next(Batcher *b, float *x, int32_t *y);

/* Gathers rows [n, width] of per-sample data for the current batch into
 * out [count, width], in the order batcher_next returned the samples. */
void batcher_gather(const Batcher *b, const float *rows, int64_t width, float *out);

/* Dataset indices of the current batch ([count] entries). */
const int64_t *batcher_indices(const Batcher *b, int64_t *count);

#endif
