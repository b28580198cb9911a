/* train_norm.h - normalization around training in `kdc compress`: BatchNormalization
 * added to the student for training (student.train_norm) and folded away before it is
 * written (output.fold_norm).
 *
 * The passes (passes/insert_norm.c, passes/fold_norm.c) rewrite graphs; the statistics
 * that make each new node the identity are measured here, on calibration data, by the
 * runtime (train/calibrate.h).
 */
#ifndef KDC_CLI_TRAIN_NORM_H
#define KDC_CLI_TRAIN_NORM_H

#include "ir/ir.h"
#include "recipes/recipe.h"
#include "train/calibrate.h"

/* Adds what r->train_norm asks for to student (auto: only when teacher has no
 * normalization layer), each new BatchNormalization the identity on data, and says on
 * stderr what it did. *added counts the new nodes. With batchnorm, the statistics of the
 * BatchNormalization nodes the student already has are first measured anew on data
 * (train/norm_stats.h). */
Status cli_train_norm(Graph *student, const Graph *teacher, const Recipe *r, const CalibData *data, int *added,
                      Diag *d);

/* Folds every inference BatchNormalization of g that follows a Conv/Gemm/MatMul into it
 * and removes what that leaves unused; says on stderr how many it folded and kept. */
Status cli_fold_norm(Graph *g, Diag *d);

#endif
