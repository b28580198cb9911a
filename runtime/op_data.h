/* op_data.h - what the runtime entries of the data-movement and reduction
 * ops share (runtime/op_data.c, op_index.c, op_reduce.c). Private to runtime/. */
#ifndef KDC_OP_DATA_H
#define KDC_OP_DATA_H

#include "ir/data_geom.h"
#include "runtime/kernels_data.h"
#include "runtime/rt.h"

/* The values of the step's inputs that are known now (build-time constants
 * and integer initializers) as ir/data_geom.h's resolvers take them: vals[k]
 * points into views[k] or is NULL. Both arrays hold s->n_in entries. */
void rt_data_known_inputs(const Step *s, Tensor *views, const Tensor **vals);


/* Input k's element size, failing (naming the node) on types that cannot
 * be moved: strings, undefined. */
Status rt_data_elem_size(const Step *s, int k, size_t *elem, Diag *d);

/* Input k's type for the computing kernels, failing on strings, complex and
 * 16-bit floats, which they do not compute. */
Status rt_data_typed(const Step *s, int k, KElem *e, Diag *d);

/* Product of dims [lo, hi) of t's shape. */
int64_t rt_data_span(const RtTensor *t, int lo, int hi);

/* Element 0 of an integer input (a scalar or one-element tensor). */
int64_t rt_data_scalar_int(const RtTensor *t);

#endif
