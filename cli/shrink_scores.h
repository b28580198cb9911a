/* shrink_scores.h - the width shrink ranked by importance measured on calibration data
 * (activation, taylor), and the depth shrink scored the same way: shared by `kdc shrink`
 * and `kdc compress`.
 *
 * The passes take measured scores as data (passes stay graph rewrites); this is where the
 * runtime measures them (train/calibrate.h) and hands them to pass_shrink_width_scored.
 */
#ifndef KDC_CLI_SHRINK_SCORES_H
#define KDC_CLI_SHRINK_SCORES_H

#include "ir/ir.h"
#include "passes/passes.h"
#include "passes/shrink_depth.h"
#include "train/calibrate.h"

/* Builds g's channel groups (o's free outputs may shrink), measures o->importance, which
 * must be IMPORTANCE_ACTIVATION or IMPORTANCE_TAYLOR, by running g on data, and shrinks g
 * keeping the highest-scored units. report may be NULL. Graph unchanged on error. */
Status cli_shrink_width_measured(Graph *g, const StudentOptions *o, const CalibData *data, WidthReport *report,
                                 Diag *d);

/* The depth shrink o asks for (depth / drop / drop_alternate; nothing when none is set):
 * with o->depth, the blocks are scored by 1 - cosine(entry, exit) on data (which must then
 * be given). Fills *report. Graph unchanged on error. */
Status cli_shrink_depth(Graph *g, const StudentOptions *o, const CalibData *data, DepthReport *report, Diag *d);

#endif
