/* norm_stats.h - re-estimates the running statistics of a graph's BatchNormalization nodes
 * on calibration data (BN recalibration).
 *
 * A student sliced from a teacher keeps the teacher's running mean and variance, measured
 * when every input channel of the layer before was there: with half of them gone, or a
 * block dropped upstream, what reaches the node has another mean and spread, and the
 * untrained student loses accuracy it need not lose. Measuring the statistics anew on a
 * few hundred samples gives most of it back (bench/norm_stats.sh).
 *
 * Each node's statistics are measured on inputs that the nodes before it already
 * normalize with their new statistics: the nodes go in rounds, a node in the round after
 * the last node upstream of it, one pass over the data per round. After the call, every
 * node re-estimated normalizes its input over the calibration data to mean 0 and
 * variance 1 before its scale and bias (population variance, as the node's epsilon adds
 * to it). The scale and bias stay the teacher's, and so do the statistics of a channel
 * that is constant on the data (variance 0).
 *
 * Left as they are (counted in `kept`): nodes whose mean or variance is no float
 * initializer of their own with one value per channel (shared with another node or input,
 * a graph input, computed), nodes with training_mode=1 (they normalize with batch
 * statistics anyway), nodes whose input is not float or has no fixed channel dim. Nodes
 * inside subgraphs (If, Loop, Scan) are not visited. Each round is one pass over the data
 * (two plans built), and there are as many rounds as the longest chain of nodes.
 */
#ifndef KDC_TRAIN_NORM_STATS_H
#define KDC_TRAIN_NORM_STATS_H

#include "ir/ir.h"
#include "train/calibrate.h"

typedef struct NormStatsReport {
    int set;    /* nodes re-estimated */
    int kept;   /* top-level BatchNormalization nodes left as they were */
    int rounds; /* passes over the calibration data */
} NormStatsReport;

/* On error every node's statistics are as they were. */
Status calib_norm_stats(Graph *g, const CalibData *data, NormStatsReport *report, Diag *d);

#endif
