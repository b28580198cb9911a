/* shrink_depth_internal.h - what the files of the depth shrink share: the
 * dataflow analysis of one graph (shrink_depth_find.c) and the segments of
 * its residual stream, which shrink_depth_blocks.c turns into DepthBlocks.
 * Not a public API: include passes/shrink_depth.h instead.
 */
#ifndef KDC_SHRINK_DEPTH_INTERNAL_H
#define KDC_SHRINK_DEPTH_INTERNAL_H

#include "passes/shrink_depth.h"

/* One step of the residual stream: entry x, exit y = immediate
 * post-dominator of x, and the nodes on paths from x to y. */
typedef struct DepthSegment {
    Value *entry, *exit;
    int *nodes; /* node indices, ascending (malloc'd) */
    int n_nodes;
    bool residual;     /* y is Add/Sum of two values computed from x (or x itself) */
    bool follower;     /* shape-keeping activation/normalization/bias arithmetic only */
    bool plain_head;   /* a single Conv/Gemm/MatMul */
    const char *scope; /* common module path of its nodes: scope[0..scope_len), NULL if none */
    size_t scope_len;
    int next; /* the segment whose entry is this one's exit, or -1 */
} DepthSegment;

typedef struct DepthAnalysis {
    Graph *g;
    int nv, nn;      /* values, nodes */
    int *read_start; /* node i reads reads[read_start[i] .. read_start[i+1]) (value ids, subgraph refs included) */
    int *reads;
    int *use_start; /* value v is read by nodes uses[use_start[v] .. use_start[v+1]) */
    int *uses;
    bool *is_output;    /* per value: a graph output */
    bool *live;         /* per node: an output reaches a graph output */
    DepthSegment *segs; /* in graph order of their exits */
    int n_segs;
} DepthAnalysis;

/* Builds the analysis and the segments of g (nodes indexed first). */
Status depth_analysis_build(Graph *g, DepthAnalysis *a, Diag *d);
void depth_analysis_free(DepthAnalysis *a);

/* True for a node of the default domain whose op_type is `op`. */
bool depth_node_is(const Node *n, const char *op);

#endif
