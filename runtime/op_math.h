/* op_math.h - what the elementwise math op files share (op_math.c,
 * op_math_binary.c, op_compare.c): element types for the typed kernels and
 * broadcasting set up from plan tensors. Private to runtime/. */
#ifndef KDC_OP_MATH_H
#define KDC_OP_MATH_H

#include "runtime/kernels.h"
#include "runtime/rt.h"

/* Input k's element type; fails naming the node when kdc cannot compute it. */
Status rt_math_input_elem(const Step *s, int k, KElem *out, Diag *d);
/* Fails naming the node unless inputs i and j have the same dtype. */
Status rt_math_same_dtype(const Step *s, int i, int j, Diag *d);
/* numpy broadcasting of tensors a and b; errors name the node. */
Status rt_math_broadcast(const Step *s, const RtTensor *a, const RtTensor *b, BroadcastDims *bd, Diag *d);

#endif
