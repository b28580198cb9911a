/* compare.h - the conformance runner's output comparison (compare.c). */
#ifndef KDC_CONFORMANCE_COMPARE_H
#define KDC_CONFORMANCE_COMPARE_H

#include "runtime/plan.h"

/* Output k of plan p (graph output gv) against the value read from
 * output_K.pb: same name, kind, dtype and dims, values within tolerance. */
Status compare_output(const Plan *p, int k, const Value *gv, const Tensor *want, Diag *d);
/* A data file's dtype stands for the model's (the ONNX 1.12 data store
 * bfloat16 as uint16: the same bits). */
bool same_bits(DType file, DType model);

#endif
