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

/* ---- normalization (passes/insert_norm.c, fold_norm.c, fuse_layernorm.c, lower_layernorm.c) ---- */

/* A layer that pass_insert_batchnorm gave a BatchNormalization for training. */
typedef struct NormSite {
    const char *layer; /* the layer node's name (its output's name when it has none) */
    Value *x;          /* what the BatchNormalization normalizes: the layer's output */
    Node *bn;          /* the inserted node: inputs x, scale, B, input_mean, input_var */
    int64_t channels;
} NormSite;

typedef struct NormInsertReport {
    NormSite *sites; /* in graph order, in the graph's arena */
    int n_sites;
} NormInsertReport;

/* Inserts a BatchNormalization (epsilon 1e-5, momentum 0.9) after every hidden Conv of g
 * whose output is not already normalized (its only use a Batch/Instance/Group/Layer-
 * Normalization) and, with dense, after every hidden Gemm, and MatMul with a constant 2-D
 * weight (after its bias Add), whose output is [N, C]. Hidden: another weighted layer
 * (Conv, ConvTranspose, Gemm, MatMul with a constant weight) reads its output, directly or
 * not, and it is no graph output; only layers whose weights and bias are their own
 * initializers (no graph inputs), so that pass_fold_batchnorm can fold the node back. The
 * layer writes a fresh <y>/pre_norm and the new node writes y, so value names stay. The
 * new parameters are scale 1, B 0, mean 0, var 1 - eps (the identity) until
 * pass_batchnorm_identity sets them from measurements. Fails only when out of memory. */
Status pass_insert_batchnorm(Graph *g, bool dense, NormInsertReport *report, Diag *d);
/* Sets each site's BatchNormalization to the identity on data whose per-channel mean and
 * (population) variance of site i's input are mean[i][c], var[i][c]: running statistics
 * mean and var, scale sqrt(var + eps), B mean. */
void pass_batchnorm_identity(const NormInsertReport *report, const double *const *mean, const double *const *var);
/* v is the <y>/pre_norm value of a node pass_insert_batchnorm added: internal to training,
 * so names and globs that a recipe writes for the teacher's values never pick it. */
bool pass_is_pre_norm(const Value *v);
/* g has a Batch-, Instance-, Group- or LayerNormalization node (student.train_norm auto
 * adds nothing to students of such teachers). */
bool pass_has_normalization(const Graph *g);

/* Folds every inference-mode BatchNormalization (training_mode 0) whose input is the
 * output, used only by it, of a Conv, ConvTranspose (group 1), Gemm, or MatMul with a
 * constant 2-D weight (with or without a constant bias Add after it), whose weights and
 * bias are float32 initializers used by that layer alone, into that layer's weight and
 * bias (created when the layer had none). *folded counts them, *kept the BatchNormalizations
 * left in place (with no error: they are valid ONNX). In g only, not in subgraphs. */
Status pass_fold_batchnorm(Graph *g, int *folded, int *kept, Diag *d);

/* Recognises LayerNormalization that an exporter decomposed (below opset 17):
 * ReduceMean(x) -> Sub -> Pow 2 (or Mul by itself) -> ReduceMean -> Add eps -> Sqrt -> Div,
 * then an optional Mul by a constant scale and Add of a constant bias, over trailing axes,
 * every intermediate used only inside the pattern, and replaces each instance by one
 * LayerNormalization node (node opset 17; scale of ones when there was none). *fused counts
 * them. Graph unchanged on error. */
Status pass_fuse_layernorm(Graph *g, int *fused, Diag *d);
/* For a model whose default-domain opset is below 17, expands every LayerNormalization
 * of g (and its subgraphs) back into the decomposed form valid at that opset; at 17 and
 * above, leaves g alone. */
Status pass_lower_layernorm(Graph *g, int64_t opset, Diag *d);

#endif
