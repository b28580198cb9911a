/* probes.h - feature probes for distillation losses: passes that tap named
 * values of a teacher or student graph (making them graph outputs), put a
 * trainable adapter after a student tap where its shape differs from the
 * teacher's, pair teacher and student stages automatically, cut a teacher
 * down to what the losses read, and strip every tap and adapter again so
 * that the emitted student is exactly the untapped one.
 *
 * Adapters are ordinary nodes and float initializers of the student's
 * training graph (trained with it); their nodes and initializers are named
 * "kdc.adapter/<tapped value>/..." ("<tapped value>#2/..." for a second one),
 * which is how the strip pass finds them.
 */
#ifndef KDC_PASSES_PROBES_H
#define KDC_PASSES_PROBES_H

#include "ir/ir.h"

#define PROBE_ADAPTER_PREFIX "kdc.adapter/"

/* What tapping changed in one graph, for pass_probe_strip. */
typedef struct ProbeSet {
    int n_outputs_before; /* -1 until the first tap */
    int n_taps;
} ProbeSet;

#define PROBE_SET_INIT {-1, 0}

/* Values of g whose names match pattern (an exact name, or a glob with * ? [ ]
 * as fnmatch reads it): node outputs and graph inputs, in graph order. Up to
 * max are written; *n is how many matched. No match is an error naming the
 * pattern. */
Status pass_probe_find(const Graph *g, const char *pattern, Value **found, int max, int *n, Diag *d);

/* Makes v (a value of g) a graph output, once; *index is its output index. */
Status pass_probe_tap(Graph *g, ProbeSet *ps, Value *v, int *index, Diag *d);

/* Adds to student graph g an adapter taking s (shape [N, Cs, Hs, Ws],
 * [N, Ds] or [N, L, Ds]) to the shape of teacher value t: a 1x1 Conv for
 * channels and a linear Resize for spatial size, a Gemm for vectors, a
 * MatMul plus bias for token sequences. Weights U(+-1/sqrt(fan in)) drawn
 * from seed, biases 0. *out is s itself when the shapes already agree. */
Status pass_probe_adapter(Graph *g, Value *s, const Value *t, uint64_t seed, Value **out, Diag *d);

/* Undoes the taps recorded in ps and removes every adapter node and
 * initializer; dead nodes are eliminated. */
Status pass_probe_strip(Graph *g, const ProbeSet *ps, Diag *d);

/* Cuts teacher g down to keep[0..n): they become its outputs, in that
 * order, and every node no output needs is removed. */
Status pass_probe_cut(Graph *g, Value *const *keep, int n, Diag *d);

/* A teacher and a student value at the same stage. */
typedef struct ProbePair {
    Value *teacher, *student;
} ProbePair;

/* pairs: auto. A stage is a spatial size: the last feature map ([N, C, H, W],
 * produced by a node) of each size, in node order, in each graph; stages of
 * one size in both graphs are paired, in the teacher's order. Graphs
 * without feature maps are an error asking for names. */
Status pass_probe_pairs_auto(const Graph *teacher, const Graph *student, ProbePair *pairs, int max, int *n,
                             Diag *d);

#endif
