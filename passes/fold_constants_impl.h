/* fold_constants_impl.h - private to passes/fold_constants.c (concrete
 * evaluation, the driver) and passes/fold_symbolic.c (partial evaluation of
 * shape vectors with symbolic elements). */
#ifndef KDC_FOLD_CONSTANTS_IMPL_H
#define KDC_FOLD_CONSTANTS_IMPL_H

#include "passes/passes.h"

#include "ir/ops.h"

#define SYM_MAX 16

/* One element of a partly known integer vector: the number `num` when
 * `of` is NULL, else dim `dim` of value `of`. */
typedef struct SymElem {
    const Value *of;
    int dim;
    int64_t num;
} SymElem;

typedef struct SymVec {
    DType dtype; /* DT_INT64 or DT_INT32 */
    int rank;    /* 0 (scalar) or 1 */
    int n;
    SymElem e[SYM_MAX];
} SymVec;

typedef struct Folder {
    Graph *g;
    SymVec **sym; /* by value id, for node outputs known only partly */
    int n_sym;
    Value **new_inits; /* appended to g->inits at the end, in creation order */
    int n_new, cap_new;
} Folder;

/* The value's data when it is a constant nobody can feed, else NULL. */
const Tensor *const_of(const Value *v);
bool is_int_dtype(DType t);
/* A new initializer holding t, named after `like`, appended at the end of the pass. */
Value *new_init(Folder *F, const char *like, Tensor *t);
/* Replaces node output `out` by the constant t everywhere it is used. */
Status fold_output(Folder *F, Value *out, Tensor *t, Diag *d);
/* Axes of Unsqueeze/Squeeze (count, 0 when absent, -1 when not constant). */
int node_axes(const Node *n, int64_t *axes);
void store_int(Tensor *t, int64_t i, int64_t v);

/* fold_symbolic.c */
Status fold_symbolic(Folder *F, Node *n, Diag *d);
Status fold_reshape_target(Folder *F, Node *n, Diag *d);
Status fold_expand_shape(Folder *F, Node *n, Diag *d);

#endif
