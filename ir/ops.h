/* ops.h - the op registry: which ops kdc computes, their arity and shape
 * inference. Kernels live in runtime/ in a table indexed by the same OpId.
 */
#ifndef KDC_OPS_H
#define KDC_OPS_H

#include "ir/ir.h"

typedef enum {
#define OP(id, name, min_in, max_in, min_out, max_out) OP_##id,
#include "ir/ops.def"
#undef OP
    OP_COUNT
} OpId;

/* What a shape function sees: per-input dtype and shape (DT_UNDEFINED for an
 * omitted optional input), constant data where the input is known (an
 * initializer or folded constant, else NULL); it writes every output's dtype
 * and shape (rank -1 where it cannot tell). */
typedef struct InferCtx {
    const Node *node;
    int n_in, n_out;
    const DType *in_dtype;
    const Shape *in_shape;
    const Tensor *const *in_value;
    DType *out_dtype;
    Shape *out_shape;
} InferCtx;

typedef Status (*OpInferFn)(InferCtx *c, Diag *d);

typedef struct OpInfo {
    const char *name;
    int min_inputs, max_inputs, min_outputs, max_outputs;
    OpInferFn infer;
} OpInfo;

extern const OpInfo op_table[OP_COUNT];

/* OpId for (domain, op_type), or OP_OPAQUE when kdc cannot compute it. */
int op_lookup(const char *domain, const char *op_type);
/* Sets node->op from its domain and op_type. */
void op_bind(Node *n);

#endif
