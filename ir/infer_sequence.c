/* infer_sequence.c - shape functions of the sequence and optional ops. The
 * IR types values as tensors only, so a sequence or optional output is left
 * untyped here (the model's declarations stand) and so are tensors taken
 * out of one, whose shapes depend on the elements. SequenceLength and
 * OptionalHasElement give scalars whatever the values. The planner computes
 * all of them from the values when it builds a plan (runtime/op_sequence.c).
 */
#include "ir/infer.h"

/* Outputs whose types depend on values the IR does not model. */
static Status untyped(InferCtx *c, Diag *d)
{
    (void)d;
    for (int k = 0; k < c->n_out; k++) {
        c->out_dtype[k] = DT_UNDEFINED;
        c->out_shape[k].rank = -1;
    }
    return KDC_OK;
}

static Status scalar_of(InferCtx *c, DType dt)
{
    c->out_dtype[0] = dt;
    c->out_shape[0] = (Shape){.rank = 0};
    return KDC_OK;
}

Status infer_SequenceEmpty(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_SequenceConstruct(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_SequenceInsert(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_SequenceAt(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_SequenceErase(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_SplitToSequence(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_ConcatFromSequence(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_SequenceMap(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_Optional(InferCtx *c, Diag *d) { return untyped(c, d); }
Status infer_OptionalGetElement(InferCtx *c, Diag *d) { return untyped(c, d); }

Status infer_SequenceLength(InferCtx *c, Diag *d)
{
    (void)d;
    return scalar_of(c, DT_INT64);
}

Status infer_OptionalHasElement(InferCtx *c, Diag *d)
{
    (void)d;
    return scalar_of(c, DT_BOOL);
}
