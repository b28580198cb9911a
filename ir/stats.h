/* stats.h - static size and cost of a graph: parameters, MACs per sample,
 * op counts. Symbolic dims (the batch) count as 1. */
#ifndef KDC_STATS_H
#define KDC_STATS_H

#include "ir/ir.h"

typedef struct GraphStats {
    int64_t params;       /* elements of float initializers */
    int64_t param_bytes;  /* bytes of all initializers */
    int64_t macs;         /* multiply-accumulates of Conv, Gemm, MatMul for one sample */
    int n_nodes;
    int n_op_types;
    const char *op_types[128];
    int op_counts[128];
} GraphStats;

void graph_stats(const Graph *g, GraphStats *s);

#endif
