/* sgd.h - SGD with momentum and weight decay (PyTorch semantics) and
 * learning-rate schedules.
 *
 * Per step, for each parameter p with gradient g (torch.optim.SGD, dampening 0):
 *   g' = g + weight_decay * p
 *   buf = g' on the first step, else momentum * buf + g'
 *   p -= lr * buf            (nesterov: p -= lr * (g' + momentum * buf))
 * The optimizer works on a fixed list of entries given once; momentum buffers
 * not supplied by the caller are carved from one allocation made at init, so a
 * step allocates nothing.
 */
#ifndef KDC_TRAIN_SGD_H
#define KDC_TRAIN_SGD_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/diag.h"

typedef struct SgdEntry {
    float *param;
    const float *grad;
    float *momentum; /* [n]; NULL at init means "allocate one" */
    int64_t n;
} SgdEntry;

typedef struct Sgd {
    SgdEntry *entries; /* owned copy; momentum pointers filled in */
    int count;
    float *momentum_block; /* owned storage behind the buffers sgd_init allocated */
    double momentum, weight_decay;
    bool nesterov;
    int64_t steps; /* steps taken; a checkpoint restore sets it with the buffers */
} Sgd;

/* Errors: negative or non-finite momentum or weight decay, nesterov without
 * momentum, an entry with NULL pointers or a negative size. With momentum 0 no
 * buffers are used or allocated. */
Status sgd_init(Sgd *opt, const SgdEntry *entries, int count, double momentum,
                double weight_decay, bool nesterov, Diag *d);
void sgd_step(Sgd *opt, double lr);
void sgd_free(Sgd *opt);

typedef enum { SGD_SCHEDULE_CONSTANT, SGD_SCHEDULE_COSINE } SgdSchedule;

/* Learning rate for step (0-based) of total_steps:
 *   constant: lr;  cosine: lr * 0.5 * (1 + cos(pi * step / total_steps)),
 * with step clamped to [0, total_steps]. */
double sgd_schedule_lr(SgdSchedule schedule, double lr, int64_t step, int64_t total_steps);

#endif
