/* channel_groups.h - channel dependency groups: which channels of a graph must
 * be kept or removed together, and the rewrite that removes them.
 *
 * A group is a set of units (conv channels, hidden units, attention heads)
 * that one kept-index set governs everywhere it appears: the output channels
 * of a Conv and every residual Add, BatchNormalization, depthwise Conv, SE
 * gate and next-layer weight they flow into share one group. Groups are
 * found from op semantics (channel_groups_rules.c); anything the analysis
 * cannot follow freezes the groups involved (they keep every unit), so the
 * rewrite is always valid and only ever shrinks what it understands. Every
 * group that reaches a graph output is frozen: the student keeps the
 * teacher's interface.
 *
 * Typical use (passes/shrink_width.c):
 *   channel_groups_build -> scores (channel_groups_score_weights, or
 *   activations measured by the caller on channel_groups_probe values and
 *   added with channel_groups_add_probe_scores) -> kept sets -> optional
 *   cost checks (channel_groups_cost) -> channel_groups_apply.
 */
#ifndef KDC_CHANNEL_GROUPS_H
#define KDC_CHANNEL_GROUPS_H

#include "ir/ir.h"

typedef struct ChannelGroups ChannelGroups;

typedef struct ChannelGroup {
    int64_t size;          /* units in the teacher */
    bool frozen;           /* keeps every unit */
    const char *why;       /* frozen: the reason, naming the node (NULL otherwise) */
    const Node *origin;    /* the node whose outputs created the group */
    int n_origins;         /* how many nodes created units merged into this group */
} ChannelGroup;

/* Analyses g, which must have inferred shapes (pass_infer_shapes) and folded
 * shape arithmetic (pass_fold_constants). The graph is not changed. */
Status channel_groups_build(Graph *g, ChannelGroups **out, Diag *d);
/* The same, but the graph outputs named in free_outputs may change width
 * (the student's interface differs there: e.g. a hidden-state output of an
 * encoder distilled on its logits only). Unknown names are an error. */
Status channel_groups_build_free(Graph *g, const char *const *free_outputs, int n_free, ChannelGroups **out,
                                 Diag *d);
void channel_groups_free(ChannelGroups *cg);

int channel_groups_count(const ChannelGroups *cg);
const ChannelGroup *channel_groups_get(const ChannelGroups *cg, int i);
/* Every node that created units of group i (its origin first), for name matching. */
int channel_groups_origins(const ChannelGroups *cg, int i, const Node **nodes, int max);

/* Zeroed score arrays, scores[i][u] for unit u of group i (NULL when out of
 * memory), and their release. */
double **channel_groups_scores_new(const ChannelGroups *cg);
void channel_groups_scores_free(const ChannelGroups *cg, double **scores);

/* Importance from weights: adds to scores[i][u] (group i, unit u) the
 * norm (p = 1 or 2) of every constant entry that belongs to the unit, each
 * member tensor normalised by its largest unit score so that weights of
 * different scales count alike. bn_only: only BatchNormalization scales
 * (|gamma|) count; groups without one get nothing (the caller decides). */
void channel_groups_score_weights(const ChannelGroups *cg, int p, bool bn_only, double *const *scores);
/* Values whose activations measure the groups: the outputs of the nodes
 * that create them (after the BatchNormalization and activation that follow
 * them, where those are their only readers), with the axis that carries the
 * group. One per creating node (the layers of the report). */
int channel_groups_probe_count(const ChannelGroups *cg);
void channel_groups_probe(const ChannelGroups *cg, int k, const Value **value, int *axis);
const Node *channel_groups_probe_layer(const ChannelGroups *cg, int k);
/* Adds per-index scores measured along probe k's axis to the groups'
 * units (normalised by their largest entry). */
void channel_groups_add_probe_scores(const ChannelGroups *cg, int k, const double *per_index, double *const *scores);
/* Per-element scores of a constant (e.g. |w * grad|): each entry's score
 * goes to the units it belongs to; values that are no member are ignored. */
void channel_groups_add_tensor_scores(const ChannelGroups *cg, const Value *tensor, const double *per_element,
                                      double *const *scores);

/* Parameters (elements of float initializers read by nodes) and MACs per
 * sample (Conv, ConvTranspose, Gemm, MatMul) of the graph after keeping
 * n_kept[i] units of each group (NULL: the teacher's). */
void channel_groups_cost(const ChannelGroups *cg, const int64_t *n_kept, int64_t *params, int64_t *macs);
/* The same for one node: its constant float inputs and its MACs. */
void channel_groups_node_cost(const ChannelGroups *cg, const Node *n, const int64_t *n_kept, int64_t *params,
                              int64_t *macs);
/* Units along probe k's axis after the choice (NULL: the teacher's), and
 * whether any of them can shrink (else *why says what keeps them). */
int64_t channel_groups_probe_units(const ChannelGroups *cg, int k, const int64_t *n_kept);
bool channel_groups_probe_prunable(const ChannelGroups *cg, int k, const char **why);

/* Keeps kept[i][0..n_kept[i]) (ascending unit indices) of every group:
 * slices every member constant (copies; the teacher's tensors are never
 * changed in place), rewrites shape constants and attributes (Reshape,
 * Split, Slice, Expand, Resize sizes, Conv group) and re-infers shapes.
 * Frozen groups must keep all their units. */
Status channel_groups_apply(Graph *g, const ChannelGroups *cg, int64_t *const *kept, const int64_t *n_kept, Diag *d);

#endif
