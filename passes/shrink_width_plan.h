/* shrink_width_plan.h - private to passes/shrink_width*.c: the plan the width
 * shrink builds (and fully validates) before it changes anything.
 *
 *   shrink_width.c         entry point, chain discovery and structural checks
 *   shrink_width_layout.c  follows each hidden layer's channels through the
 *                          chain and lists every tensor entry they select
 *   shrink_width_apply.c   ranking by L1 norm, slicing, report
 */
#ifndef KDC_SHRINK_WIDTH_PLAN_H
#define KDC_SHRINK_WIDTH_PLAN_H

#include "passes/passes.h"

typedef struct ShrinkLayer {
    Node *node;
    int64_t units;
    bool hidden;
    int64_t *kept; /* malloc'd, ascending; all units for the last layer */
    int64_t n_kept;
} ShrinkLayer;

/* Where a hidden layer's units sit along one axis of a value: the entry for
 * unit c is (o * units + c) * inner + i for every o < outer, i < inner
 * (outer/inner > 1 after a Flatten or Reshape merged neighbouring dims). */
typedef struct ChannelTrack {
    int layer; /* index into Plan.layers, -1 when no hidden layer's units are live */
    int axis;
    int64_t outer, inner;
} ChannelTrack;

/* Constant input `slot` of `node` loses, along `axis`, the entries of the
 * units of track.layer that are not kept. */
typedef struct ShrinkCut {
    Node *node;
    int slot;
    int axis;
    ChannelTrack track;
} ShrinkCut;

/* Entry `entry` of the constant shape of Reshape `node` counts the units of
 * `layer` (times other dims) and scales with the kept fraction. */
typedef struct ShapeEdit {
    Node *node;
    int entry;
    int layer;
} ShapeEdit;

typedef struct ShrinkPlan {
    Graph *g;
    double width;
    Value *input;       /* the graph's one computed input */
    Node **path;        /* nodes from the input to the output, in order */
    int *path_slot;     /* which input of path[i] the chain enters by */
    bool *path_shrinks; /* path[i]'s output carries a hidden layer's units */
    int n_path;
    ShrinkLayer *layers;
    int n_layers;
    ShrinkCut *cuts;
    int n_cuts, cap_cuts;
    ShapeEdit *edits;
    int n_edits, cap_edits;
} ShrinkPlan;

/* The node's name, or its first output's name when it has none. */
const char *shrink_node_label(const Node *n);
/* The constant behind input `slot` of n, NULL when absent or computed. */
const Tensor *shrink_const_input(const Node *n, int slot);

/* shrink_width_layout.c: fills cuts and edits, or refuses naming the node. */
Status shrink_plan_layout(ShrinkPlan *p, Diag *d);

/* shrink_width_apply.c */
/* Ranks the units of every hidden layer and fills kept. */
Status shrink_rank_layers(ShrinkPlan *p, Diag *d);
/* Slices every cut tensor and rewrites every edited shape: the only step
 * that changes the graph. */
Status shrink_apply(ShrinkPlan *p, Diag *d);
/* Copies the per-layer outcome into the graph's arena. */
void shrink_fill_report(const ShrinkPlan *p, WidthReport *report);

#endif
