/* ops.c - the op registry table built from ops.def, and op lookup. */
#include "ir/ops.h"

#include "ir/infer.h"

#include <string.h>

const OpInfo op_table[OP_COUNT] = {
#define OP(id, name, min_in, max_in, min_out, max_out) \
    [OP_##id] = {name, min_in, max_in, min_out, max_out, infer_##id},
#include "ir/ops.def"
#undef OP
};

_Static_assert(sizeof op_table / sizeof op_table[0] == OP_COUNT, "op table matches ops.def");

int op_lookup(const char *domain, const char *op_type)
{
    if (domain && *domain && strcmp(domain, "ai.onnx") != 0)
        return OP_OPAQUE;
    for (int i = 0; i < OP_COUNT; i++)
        if (!strcmp(op_table[i].name, op_type))
            return i;
    return OP_OPAQUE;
}

void op_bind(Node *n)
{
    n->op = op_lookup(n->domain, n->op_type);
}
