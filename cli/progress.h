/* progress.h - training progress on stderr: a live bar redrawn in place on a
 * terminal, one line per epoch everywhere. */
#ifndef KDC_PROGRESS_H
#define KDC_PROGRESS_H

#include "train/trainer.h"

typedef struct Progress {
    bool tty;
    double last_draw;
} Progress;

void progress_init(Progress *p);
TrainHooks progress_hooks(Progress *p);

#endif
