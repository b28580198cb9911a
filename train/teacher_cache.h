/* teacher_cache.h - a frozen teacher's outputs on a whole dataset, computed once.
 *
 * When the teacher neither learns nor sees augmented inputs, its outputs (logits and any
 * tapped features) on the training split are the same every epoch: the cache runs the
 * teacher once over the split in file order and keeps every output in a temporary file
 * on disk (unlinked at once, mapped into memory), so later epochs gather rows instead of
 * running the teacher. Features can be large (a 64x7x7 map is 12.5 KB per sample); the
 * file lets the kernel page them as memory allows.
 */
#ifndef KDC_TRAIN_TEACHER_CACHE_H
#define KDC_TRAIN_TEACHER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"
#include "train/dataset.h"
#include "train/loss_terms.h"

typedef struct TeacherCache {
    int64_t n;      /* samples cached */
    int n_outputs;
    int64_t width[LOSS_MAX_OUTPUTS]; /* floats per sample of each output */
    Shape shape[LOSS_MAX_OUTPUTS];   /* each output's shape, dims[0] the batch */
    size_t offset[LOSS_MAX_OUTPUTS]; /* of output k's [n, width] block, in floats */
    float *map;                      /* the mapped file */
    size_t bytes;
    float *rows[LOSS_MAX_OUTPUTS];   /* [max_batch, width] gathered for a batch */
    int64_t max_batch;
} TeacherCache;

/* Runs teacher g over ds (batches of up to 256) and stores its outputs. The temporary file
 * goes to $TMPDIR (default /tmp); errors name it. On failure c is left empty. */
Status teacher_cache_build(TeacherCache *c, Graph *g, const Dataset *ds, int64_t max_batch, Diag *d);

/* Gathers the rows of the samples index[0..count) into c's batch buffers and points out
 * at them (shapes with dims[0] = count, no gradients). */
void teacher_cache_gather(TeacherCache *c, const int64_t *index, int64_t count, ModelOutputs *out);

void teacher_cache_free(TeacherCache *c);

#endif
