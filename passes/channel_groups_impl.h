/* channel_groups_impl.h - private to passes/channel_groups*.c: the classes the
 * analysis unifies, and what it records for the rewrite.
 *
 *   channel_groups.c        classes: union-find with structure (unify, refine,
 *                           freeze), groups, index masks, scores
 *   channel_groups_rules.c  per-op rules: how each op couples the axes of its
 *                           inputs and outputs
 *   channel_groups_layout.c the rules of ops that re-lay axes out (Reshape,
 *                           Concat, Split, Slice, Expand, Resize, Shape)
 *   channel_groups_members.c constants that follow groups: sizes, slicing
 *   channel_groups_apply.c  shape-constant rewrites, cost model, the apply
 *
 * Every axis that carries channels refers to a class. A class is an atom
 * (units pruned as one group once it is a root), a concatenation of classes
 * (Concat, Split, Slice) or a row-major product of classes (Flatten, heads:
 * a Reshape that splits an axis). Unifying two classes makes them one; an
 * atom unified with a structured class takes its structure; structures that
 * disagree freeze (keep every unit of) everything involved.
 */
#ifndef KDC_CHANNEL_GROUPS_IMPL_H
#define KDC_CHANNEL_GROUPS_IMPL_H

#include "passes/channel_groups.h"

#include "ir/ops.h"

#define CG_NONE (-1) /* an axis that carries no channels */

typedef enum { CLS_ATOM, CLS_CONCAT, CLS_PRODUCT } ClassKind;

typedef struct ChClass {
    int parent; /* union-find link; itself at a root */
    ClassKind kind;
    int64_t size;
    int *parts; /* CONCAT / PRODUCT: child classes (malloc'd) */
    int n_parts;
    bool frozen;        /* atoms */
    const char *why;    /* the first reason it was frozen */
    const Node *origin; /* the node that created the atom, NULL for fixed ones */
} ChClass;

/* Axis `axis` of constant `tensor`, as input `slot` of node `reader` reads
 * it, follows class `cls`. A constant shared by readers that slice it alike
 * is sliced in place; otherwise each reader gets its own sliced copy (and
 * readers that do not follow its channels keep the original). */
typedef struct ChMember {
    Value *tensor;
    Node *reader;
    int slot;
    int axis;
    int cls;
} ChMember;

typedef enum {
    RW_SIZE,   /* the entry becomes the kept size of cls */
    RW_OFFSET, /* the entry (a position along cls) becomes the number of kept units before it */
} RewriteKind;

/* An int64 entry of a constant input (attr == NULL) or an int attribute of a node. */
typedef struct ChRewrite {
    Node *node;
    int slot;         /* input slot, when attr is NULL */
    const char *attr; /* attribute name, or NULL */
    int entry;        /* -1: a scalar int attribute */
    RewriteKind kind;
    int cls;
    int64_t position; /* RW_OFFSET: the original position */
} ChRewrite;

/* A value axis whose activations measure a class (outputs of creators). */
typedef struct ChProbe {
    const Node *layer;   /* the node that creates the units */
    const Value *value;  /* where they are measured: its output, or after its BN/activation */
    int axis;
    int cls;
} ChProbe;

struct ChannelGroups {
    Graph *g;
    ChClass *cls;
    int n_cls, cap_cls;
    int **axes; /* per value id: class of each axis (CG_NONE), NULL for untracked values */
    int n_values;
    ChMember *members;
    int n_members, cap_members;
    ChRewrite *rewrites;
    int n_rewrites, cap_rewrites;
    ChProbe *probes;
    int n_probes, cap_probes;
    /* Filled by cg_finish: public groups = root atoms. */
    int *group_cls; /* group index -> class id */
    int *cls_group; /* root atom class id -> group index, else -1 */
    ChannelGroup *groups;
    int n_groups;
    bool failed; /* out of memory during the analysis */
    Node *at; /* the node whose rule is running: the reader of new members */
    const char *const *free_outputs; /* graph outputs that may change width */
    int n_free;
};

/* channel_groups.c */
int cg_new_atom(ChannelGroups *cg, int64_t size, const Node *origin);
int cg_new_fixed(ChannelGroups *cg, int64_t size, const char *why); /* a frozen atom */
int cg_new_struct(ChannelGroups *cg, ClassKind kind, const int *parts, int n);
int cg_find(ChannelGroups *cg, int c);
void cg_unify(ChannelGroups *cg, int a, int b, const Node *at);
void cg_freeze(ChannelGroups *cg, int c, const char *why);
/* Splits class c into consecutive pieces of the given sizes (Split, Slice):
 * writes the piece classes, or returns false (c is frozen) when its structure
 * does not allow it. */
bool cg_refine_concat(ChannelGroups *cg, int c, const int64_t *sizes, int n, int *pieces, const Node *at);
/* Splits class c into row-major factors of the given sizes (a Reshape that
 * splits an axis): the last factor is frozen, the others stay prunable
 * (attention heads and normalization groups are kept or dropped whole). */
bool cg_refine_product(ChannelGroups *cg, int c, const int64_t *sizes, int n, int *factors, const Node *at);
/* Per-index kept mask of class c given per-root-atom masks. */
void cg_mask(ChannelGroups *cg, int c, bool *const *atom_keep, bool *mask);
int64_t cg_kept_size(ChannelGroups *cg, int c, const int64_t *n_kept);
/* Adds per-index scores of class c to its atoms' units. */
void cg_spread_scores(ChannelGroups *cg, int c, const double *per_index, double *const *scores);
const char *cg_node_label(const Node *n);
char *cg_reason(ChannelGroups *cg, const Node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void cg_add_member(ChannelGroups *cg, Value *tensor, int axis, int cls);
void cg_add_rewrite(ChannelGroups *cg, ChRewrite rw);
void cg_add_probe(ChannelGroups *cg, const Value *v, int axis, int cls);
/* Axis classes of a value (NULL: none tracked yet); cg_set_axis allocates. */
int cg_axis(const ChannelGroups *cg, const Value *v, int axis);
void cg_set_axis(ChannelGroups *cg, const Value *v, int axis, int cls);

/* channel_groups_members.c */
/* The class axis `axis` of input `slot` of n follows, CG_NONE when none. */
int cg_member_class(ChannelGroups *cg, const Node *n, int slot, int axis);
/* Elements of constant v after the choice (every copy counted). */
int64_t cg_constant_params(ChannelGroups *cg, const Value *v, const int64_t *n_kept);
/* Slices every member constant (in place or per reader). */
Status cg_slice_members(ChannelGroups *cg, bool *const *keep, Diag *d);

/* channel_groups_rules.c: walks the graph and applies every node's rule. */
void cg_analyse(ChannelGroups *cg);
void cg_default_rule(ChannelGroups *cg, Node *n); /* freezes what n reads */
/* Output axis j of a broadcasting op (or a Concat's other axes): unifies the
 * classes of the inputs with the full dim there; constants become members. */
void cg_join_axis(ChannelGroups *cg, Node *n, const Value *out, int j);

/* channel_groups_layout.c */
void cg_reshape_rule(ChannelGroups *cg, Node *n); /* also Flatten, Squeeze, Unsqueeze */
void cg_concat_rule(ChannelGroups *cg, Node *n);
void cg_split_rule(ChannelGroups *cg, Node *n);
void cg_slice_rule(ChannelGroups *cg, Node *n);
void cg_expand_rule(ChannelGroups *cg, Node *n); /* also Resize */
void cg_shape_rule(ChannelGroups *cg, Node *n);

#endif
