/* op_table.c - the runtime half of the op registry: kernels by OpId. */
#include "runtime/rt.h"

const RtOp *const rt_ops[OP_COUNT] = {
#define OP(id, name, min_in, max_in, min_out, max_out) [OP_##id] = &rt_op_##id,
#include "ir/ops.def"
#undef OP
};

_Static_assert(sizeof rt_ops / sizeof rt_ops[0] == OP_COUNT, "one runtime entry per op");
