/* infer.h - shape functions of the op registry (one per row of ops.def) and
 * the small helpers they share. Private to ir/. */
#ifndef KDC_INFER_H
#define KDC_INFER_H

#include "ir/ops.h"

#define OP(id, name, min_in, max_in, min_out, max_out) Status infer_##id(InferCtx *c, Diag *d);
#include "ir/ops.def"
#undef OP

/* Output k gets input k's dtype and shape. */
void infer_same_as(InferCtx *c, int out, int in);
/* Numpy broadcasting of two shapes; fails naming the node when incompatible. */
Status infer_broadcast(const Node *n, const Shape *a, const Shape *b, Shape *out, Diag *d);
/* Normalizes a possibly negative axis against rank; fails naming the node. */
Status infer_axis(const Node *n, int64_t axis, int rank, int *out, Diag *d);
/* Reads the int64 list of constant input k (or attribute `attr` when the
 * input is absent); returns the count, -1 when not known. */
int infer_int_list(const InferCtx *c, int k, const char *attr, int64_t *out, int max);
Status infer_error(const Node *n, Diag *d, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
