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

/* What the width shrink did to one layer: a node that creates units (Conv,
 * ConvTranspose, Gemm, MatMul with a constant weight, a Gather embedding). */
typedef struct WidthLayer {
    const char *name;    /* the node's name, or its output's name when it has none */
    const char *op_type;
    bool hidden;         /* false when its units keep full width (frozen or protected) */
    const char *why;     /* !hidden: why (names the node that forces it), or NULL */
    int64_t units;       /* output channels/units in the teacher */
    int64_t kept_units;  /* output channels/units in the student */
    int64_t params, kept_params; /* elements of its constant float inputs */
    int64_t macs, kept_macs;     /* per sample */
} WidthLayer;

typedef struct WidthReport {
    WidthLayer *layers; /* in graph order, in the graph's arena */
    int n_layers;
    int64_t params, kept_params; /* the whole graph (as ir/stats.h counts them) */
    int64_t macs, kept_macs;
    double width;        /* the global width used (searched under a budget) */
} WidthReport;

/* Shrinks every channel group of g (passes/channel_groups.h) to the width the
 * options ask for (global width, overrides, protect lists, round_to, or a
 * params/MACs budget met by searching the width), keeping the units ranked
 * highest by o->importance, and slices the teacher's weights. g must have
 * inferred shapes and folded constants. IMPORTANCE_ACTIVATION and TAYLOR need
 * measured scores: use pass_shrink_width_scored. Graph unchanged on error. */
Status pass_shrink_width_report(Graph *g, const StudentOptions *o, WidthReport *report, Diag *d);
Status pass_shrink_width(Graph *g, const StudentOptions *o, Diag *d);

typedef struct ChannelGroups ChannelGroups;
/* The same with groups built by the caller and scores[i][u] for unit u of
 * group i (NULL: ranked from weights as o->importance says). */
Status pass_shrink_width_scored(Graph *g, const ChannelGroups *cg, const StudentOptions *o, double *const *scores,
                                WidthReport *report, Diag *d);

/* Re-initialises the learned tensors of g and its subgraphs as a fresh network starts:
 * float32 initializers that are weights of Conv/ConvTranspose/Gemm/MatMul get
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default), their biases (and the bias Add
 * after a MatMul) 0, Batch/Instance/Layer/GroupNormalization scale 1 and bias 0,
 * BatchNormalization running mean 0 and variance 1; everything else is left alone
 * (passes/reinit.c lists exactly which inputs). Deterministic for a seed. A weight of
 * another dtype is an error, and the graph is then unchanged. */
Status pass_reinit_weights(Graph *g, uint64_t seed, Diag *d);
/* Fills float tensor t with U(-bound, bound) from the stream of (seed, name),
 * the numbers pass_reinit_weights draws for a tensor of that name. */
void pass_fill_uniform(Tensor *t, const char *name, double bound, uint64_t seed);

#endif
