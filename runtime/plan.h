/* plan.h - the interpreter's execution plan: a graph compiled once for one
 * set of concrete input shapes (one batch size), then run many times.
 *
 * Building a plan resolves every value's concrete shape with the op
 * registry's shape functions, evaluates shape arithmetic (Shape, Gather,
 * Concat... on integers) once at build time, lays out every buffer in a few
 * large blocks and prepares each node's kernel arguments. Running allocates
 * nothing.
 *
 * Inference plans reuse a buffer after its value's last use. Training plans
 * keep every activation for backward, give a gradient buffer to every value
 * on a path from a trainable parameter, run BatchNormalization with batch
 * statistics (updating the running statistics) and Dropout with a mask.
 * Parameters are the graph's float initializers: plans read and training
 * updates them in place (Tensor.data), so the IR always holds the current
 * weights and several plans over one graph share them.
 */
#ifndef KDC_PLAN_H
#define KDC_PLAN_H

#include "ir/ir.h"

typedef enum { PLAN_INFERENCE, PLAN_TRAINING } PlanMode;

typedef struct Plan Plan;

/* A trainable parameter of a training plan: data lives in the IR tensor. */
typedef struct PlanParam {
    const Value *value;
    float *data;
    float *grad;
    int64_t numel;
} PlanParam;

/* Concrete shapes for the graph's inputs (those without initializers), in
 * graph-input order; they must agree with the declared shapes. */
Status plan_build(Graph *g, PlanMode mode, const Shape *input_shapes, uint64_t seed, Plan **out, Diag *d);
/* Like plan_build for a given set of input values (input_values[k] for
 * graph input k, in the order of input_shapes). Where a shape depends on the
 * VALUE of an input (a Reshape target, Slice bounds or Resize scales fed as
 * graph inputs), the inputs are bound at build time: shape arithmetic reads
 * them and the plan computes for those values only (plan_inputs_bound).
 * Inputs are bound only when a shape needs them. */
Status plan_build_with_values(Graph *g, PlanMode mode, const Shape *input_shapes, const Tensor *const *input_values,
                              uint64_t seed, Plan **out, Diag *d);
bool plan_inputs_bound(const Plan *p);
/* Input shapes for a batch: dim 0 of every input becomes `batch`, other dims
 * must be known. Writes g's input count into *n (shapes has room for it). */
Status plan_input_shapes_for_batch(const Graph *g, int64_t batch, Shape *shapes, int max, int *n, Diag *d);
void plan_free(Plan *p);

int plan_n_inputs(const Plan *p);
int plan_n_outputs(const Plan *p);
/* Buffers of graph input k / output k (dtype and dims through the *_info calls). */
void *plan_input(Plan *p, int k);
const void *plan_output(const Plan *p, int k);
void plan_input_info(const Plan *p, int k, DType *dtype, Shape *shape);
void plan_output_info(const Plan *p, int k, DType *dtype, Shape *shape);
/* What input / output k carries. Sequences and optionals (ir/container.h)
 * are computed when the plan is built: such an input is bound by
 * plan_build_with_values (plan_build fails asking for its value), and for
 * them plan_input / plan_output return the value's const Tensor *. */
Holds plan_input_holds(const Plan *p, int k);
Holds plan_output_holds(const Plan *p, int k);

Status plan_forward(Plan *p, Diag *d);

/* Training plans only. Zeroes every gradient, then the caller writes dLoss
 * into plan_output_grad and calls plan_backward. */
void plan_zero_grads(Plan *p);
float *plan_output_grad(Plan *p, int k);
void plan_backward(Plan *p);
int plan_params(Plan *p, PlanParam **params);

/* Per-op time profile of the forward runs so far (kdc run --profile). */
void plan_print_profile(const Plan *p, void *file /* FILE* */);
void plan_set_profiling(Plan *p, bool on);

#endif
