/* shrink_depth.h - the depth shrink: which blocks of a teacher can be removed
 * (depth_blocks_find) and the pass that removes the chosen ones
 * (pass_shrink_depth).
 *
 * A block is a single-entry single-exit region of the graph: one entry value x
 * and one exit value y such that every value the region computes is used only
 * inside it or is y (it may also read constants and values computed before it,
 * e.g. an attention mask). Removing a block replaces every use of y by x, so
 * only blocks whose x and y have the same dtype and shape can be removed.
 *
 * How blocks are found: the residual stream is followed from each graph input
 * through immediate post-dominators (Shape/Size reads do not count: they see
 * shapes, which a removable block keeps). Each step is a segment; a segment
 * whose exit is an Add/Sum of two values computed from its entry is a
 * residual segment (x + f(x), or a projection shortcut). Segments then form
 * blocks:
 *  - Residual blocks and transformer layers. When node names carry module
 *    paths (PyTorch: "/layer1/layer1.0/conv1/Conv"), a segment's scope is the
 *    longest common module path of its nodes ("/layer1/layer1.0"). A residual
 *    segment starts a block; the next segments join it while their scope is
 *    the block's scope or inside it, and a residual segment also joins when
 *    its scope encloses the block's (the block then takes that scope). So a
 *    ResNet bottleneck is its residual segment plus the ReLU after the Add; a
 *    post-norm (BERT) layer is x -> LN(x + attn(x)) -> LN(. + mlp(.)), with
 *    LayerNormalization or its opset<17 decomposition; a pre-norm (ViT, GPT)
 *    layer is its two residual segments. Without module paths (or at the
 *    top-level scope) a residual segment absorbs the shape-keeping
 *    activation/normalization segments that follow it, and each residual
 *    segment is its own block (a pre-norm layer then shows as two blocks).
 *  - Plain layers: a Conv/Gemm/MatMul segment and the shape-keeping
 *    activation/normalization/bias segments after it. Removed only by name.
 * Blocks nested inside a larger residual region (a global skip around the
 * whole body) are not found: the outer region is the block.
 *
 * Names (what --drop takes): the last component of the block's scope
 * ("layer1.0", "layers.3"); more components when that is ambiguous
 * ("encoder/layer.0"); without a scope the name of the block's first node (its
 * first output's name when it has none); remaining duplicates get "#2", "#3".
 * depth_report_print lists them.
 */
#ifndef KDC_SHRINK_DEPTH_H
#define KDC_SHRINK_DEPTH_H

#include <stdio.h>

#include "ir/ir.h"

typedef enum {
    DEPTH_RESIDUAL = 1, /* one residual addition (plus what follows it in its scope) */
    DEPTH_LAYER,        /* two or more: a transformer encoder layer */
    DEPTH_PLAIN,        /* Conv/Gemm/MatMul and its activation/normalization */
} DepthKind;

/* "residual", "layer", "plain". */
const char *depth_kind_name(DepthKind k);

typedef struct DepthBlock {
    const char *name;
    DepthKind kind;
    int n_residuals;               /* residual additions inside */
    Value *entry, *exit;           /* x and y: what 1 - cosine(x, y) scores are measured on */
    Shape entry_shape, exit_shape; /* as found (the values change when blocks are removed) */
    DType dtype;                   /* of the entry */
    Node **nodes;                  /* the computing nodes removal deletes, graph order */
    int n_nodes;
    int64_t params; /* elements of float initializers the block reads (shared ones included) */
    bool removable;
    const char *why_not; /* when not removable, e.g. "changes the shape [1,64,16,16] -> [1,128,8,8]" */
    bool dropped;        /* set by pass_shrink_depth */
} DepthBlock;

/* Finds the blocks of g in graph order. Needs dtypes and shapes (run
 * pass_infer_shapes first); unknown shapes make a block not removable. The
 * array, names and node lists live in g's arena and die with it. Fails only
 * when out of memory. */
Status depth_blocks_find(Graph *g, DepthBlock **blocks, int *n, Diag *d);

/* Which blocks to remove: at most one of the three ways. Setting none removes
 * nothing (the report still lists the blocks). */
typedef struct DepthOptions {
    /* by name (any kind, plain layers included) */
    const char *const *drop;
    int n_drop;
    /* by score: the student keeps `keep` residual blocks/layers (counting those
     * that cannot be removed), or drops `drop_count` of them, the lowest-scored
     * first (ties: the later block first). <= 0 means not used, so a zeroed
     * DepthOptions removes nothing. scores[i] belongs to block i of
     * depth_blocks_find (e.g. 1 - cosine(entry, exit) over calibration
     * batches); n_scores must equal the number of blocks; only the scores of
     * removable residual blocks/layers are read. */
    int keep;
    int drop_count;
    const double *scores;
    int n_scores;
    /* every other residual block/layer, as DistilBERT initialises its student:
     * positions count from 0 along each run of consecutive residual blocks;
     * a run restarts at a block that cannot be removed (a ResNet stage's
     * downsampling block, which stays at position 0) or after anything that
     * is not such a block; odd positions are dropped. 12 layers keep 0,2,..,10;
     * ResNet-50 keeps blocks 0 and 2 of each stage, and 4 of layer3. */
    bool alternate;
} DepthOptions;

typedef struct DepthReport {
    DepthBlock *blocks; /* every block found, in g's arena; dropped ones flagged */
    int n_blocks;
    int n_dropped;
    int64_t params_dropped; /* sum of the dropped blocks' params */
} DepthReport;

/* Removes the chosen blocks: every use of a block's exit reads its entry (a
 * graph output keeps its name through an Identity node), the block's nodes and
 * what only they used go (pass_eliminate_dead), the graph is verified and
 * shapes are re-inferred. Like depth_blocks_find it needs known shapes: run
 * pass_infer_shapes and pass_fold_constants first (fold infers each node as
 * it goes, so one round resolves exported transformers' reshape targets).
 * Refuses (graph unchanged) an unknown or non-removable name, a count that
 * cannot be met, missing scores, or more than one way of choosing. Fills
 * *report when report is not NULL. */
Status pass_shrink_depth(Graph *g, const DepthOptions *o, DepthReport *report, Diag *d);

/* One line per block: name, kind, entry -> exit shape, params, dropped/kept
 * (and why a block cannot be removed). */
void depth_report_print(const DepthReport *r, FILE *f);

/* "[batch,64,16,16]" into buf; "?" for an unknown dim, "[?]" for an unknown rank. */
const char *depth_shape_text(const Shape *s, char *buf, size_t n);

#endif
