/* op_sequence.h - what the runtime files of the sequence and optional ops
 * share (runtime/op_sequence.c, runtime/op_sequence_map.c): the frame that
 * computes such an op when its plan is built, and values in a plan's
 * blocks. Private to runtime/. */
#ifndef KDC_OP_SEQUENCE_H
#define KDC_OP_SEQUENCE_H

#include "runtime/rt.h"

/* A container op's computation: the values of its inputs (NULL where
 * absent) to those of its outputs, element data in p's blocks. */
typedef Status (*SeqEval)(const Step *s, Plan *p, const Tensor *const *in, Tensor *out, Diag *d);

/* Prepare: every input must be known (rt_inputs_known); runs eval, keeps the
 * outputs in the step's state and types the output tensors. */
Status seq_prepare(Step *s, Plan *p, SeqEval eval, Diag *d);
/* Forward: the kept tensor outputs into the output buffers (prepare
 * already handed the containers on). */
Status seq_forward(Step *s, Plan *p, Diag *d);

/* A tensor of the given type whose data (or string entries) lives in p, zeroed. */
Status seq_new_tensor(Plan *p, DType dt, int rank, const int64_t *dims, Tensor *out, Diag *d);
/* A copy of tensor src (not a container) in p's blocks. */
Status seq_copy_tensor(Plan *p, const Tensor *src, Tensor *out, Diag *d);
/* A sequence of n elements of dtype dt (elements to be filled in). */
Status seq_new_sequence(Plan *p, DType dt, int n, Tensor *out, Diag *d);

/* The runtime entry of a container op computed by eval. */
#define SEQ_OP(Id, eval)                                                                                            \
    static Status Id##_prepare(Step *s, Plan *p, Diag *d) { return seq_prepare(s, p, eval, d); }                   \
    const RtOp rt_op_##Id = {Id##_prepare, seq_forward, NULL, ~0u, RT_OWN_TYPES | RT_CONTAINERS};

#endif
