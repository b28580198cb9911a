/* passes.h - the graph passes: declarations of every pass and of what they report.
 *
 * A pass is a pure rewrite of one Graph (it may include only ir/): it returns
 * KDC_OK, or KDC_ERR with one line in the Diag naming the node and the problem.
 * Passes that refuse a graph leave it unchanged. Each pass lives in its own
 * file, passes/<name>.c.
 */
#ifndef KDC_PASSES_H
#define KDC_PASSES_H

#include "ir/ir.h"
#include "passes/options.h"

/* Fills dtype and shape of every node output from the op registry. */
Status pass_infer_shapes(Graph *g, Diag *d);
/* The same for one node (its inputs' shapes as they are now); n->op must not be OP_OPAQUE. */
Status pass_infer_node(Node *n, Diag *d);

/* Evaluates the shape-computing subgraphs exporters emit (Constant, Shape,
 * Gather, Slice, Unsqueeze, Squeeze, Concat, Cast, Identity, integer Add/Sub/Mul/Div)
 * into initializers, and turns the Reshape(x, Concat(Shape(x)[i], ...)) pattern
 * into a constant shape with 0 ("copy this dim") at the symbolic positions.
 * Folded nodes are left dead for pass_eliminate_dead. */
Status pass_fold_constants(Graph *g, Diag *d);

/* Removes nodes none of whose outputs reach a graph output (uses inside
 * subgraphs count) and initializers nothing uses (unless they are graph
 * inputs), in g and in its subgraphs. Keeps order. */
Status pass_eliminate_dead(Graph *g, Diag *d);

/* What the width shrink did to one Conv / Gemm / MatMul layer of the chain. */
typedef struct WidthLayer {
    const char *name;    /* the node's name, or its output's name when it has none */
    const char *op_type; /* "Conv", "Gemm" or "MatMul" */
    bool hidden;         /* false for the last layer, which keeps its outputs */
    int64_t units;       /* output channels/units in the teacher */
    int64_t kept_units;  /* output channels/units in the student */
    const int64_t *kept; /* kept_units teacher unit indices, ascending (graph arena) */
} WidthLayer;

typedef struct WidthReport {
    WidthLayer *layers; /* in chain order, in the graph's arena */
    int n_layers;
} WidthReport;

/* Shrinks every hidden layer of a plain Conv/Gemm/MatMul chain to
 * max(1, round(width * units)) output units, keeping the units whose teacher
 * weights have the largest L1 norm, and slices every tensor that depends on
 * those units. Refuses (graph unchanged) what is not a plain chain. Fills
 * *report when report is not NULL. */
Status pass_shrink_width_report(Graph *g, const StudentOptions *o, WidthReport *report, Diag *d);
Status pass_shrink_width(Graph *g, const StudentOptions *o, Diag *d);

#endif
