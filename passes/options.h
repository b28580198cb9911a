/* passes/options.h - options of the passes that derive the student from the teacher.
 *
 * Plain option structs, no behaviour. recipes/ fills them from a recipe file (and checks
 * ranges and applies defaults there, see recipes/recipe_schema.c); cli/ fills them from
 * flags; tests may fill them by hand. Zero means "default" for every field but width.
 */
#ifndef KDC_PASSES_OPTIONS_H
#define KDC_PASSES_OPTIONS_H

#include <stdint.h>

/* How the units of a channel group are ranked before the lowest are removed. */
typedef enum {
    IMPORTANCE_L1 = 0,     /* L1 norm of the group's weights (the default) */
    IMPORTANCE_L2,         /* L2 norm (squared) of the group's weights */
    IMPORTANCE_BN_SCALE,   /* |gamma| of the group's BatchNormalization; L1 where it has none */
    IMPORTANCE_ACTIVATION, /* mean |activation| over calibration batches (measured by the caller) */
    IMPORTANCE_TAYLOR,     /* |weight x gradient| over calibration batches (measured by the caller) */
    IMPORTANCE_RANDOM,     /* a baseline: a seeded random order */
} ImportanceKind;

/* A width for the channel groups created by nodes whose name matches a glob. */
typedef struct WidthOverride {
    const char *pattern;
    double width;
} WidthOverride;

typedef struct StudentOptions {
    /* Fraction of the teacher's channels each prunable channel group keeps, in (0, 1];
     * 1 keeps the teacher's width. With a budget, the width is searched instead. */
    double width;
    /* Budgets, fractions of the teacher's parameters or MACs (0: none; at most one). */
    double params;
    double macs;
    int round_to;                   /* kept counts are multiples of this (0 or 1: any) */
    ImportanceKind importance;
    uint64_t seed;                  /* IMPORTANCE_RANDOM */
    const char *const *protect;     /* globs of node names whose channel groups keep full width */
    int n_protect;
    const WidthOverride *overrides; /* first match wins */
    int n_overrides;
    const char *const *free_outputs; /* graph outputs whose channels may shrink (default: none) */
    int n_free_outputs;
    /* Depth (passes/shrink_depth.h), before the width; at most one way. */
    int depth;                /* keep this many residual blocks/layers, dropping the most
                                 redundant (1 - cosine(input, output) on calibration data); 0: no */
    const char *const *drop;  /* blocks to drop by name */
    int n_drop;
    int drop_alternate;       /* 1: drop every other block (as DistilBERT initialises its student) */
} StudentOptions;

#endif
