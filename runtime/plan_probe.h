/* plan_probe.h - reading a plan's tensors by IR Value from outside runtime/:
 * the measurements a caller takes while running a model (calibration:
 * activation statistics, block similarity, Taylor importance).
 *
 * An inference plan reuses a value's buffer once the value's last reader has
 * run, so after plan_forward only some buffers still hold their value: graph
 * inputs and outputs, initializers, build-time constants, every value of a
 * training plan (each activation keeps its storage for backward), and the
 * values an inference plan was asked to keep (plan_probe_build).
 * plan_probe_value refuses every other value rather than hand out a buffer
 * that may hold something else.
 */
#ifndef KDC_PLAN_PROBE_H
#define KDC_PLAN_PROBE_H

#include "runtime/plan.h"

/* A value's run-time tensor: concrete dtype and shape, and its buffer. */
typedef struct ProbeView {
    const Value *value;
    DType dtype;
    Shape shape; /* concrete */
    int64_t numel;
    const void *data;
} ProbeView;

/* plan_build, except that the buffers of keep[0..n_keep) are never reused,
 * so those values can be read after each plan_forward. Every kept value must
 * be defined in g itself (not in a subgraph). The plan's outputs are g's. */
Status plan_probe_build(Graph *g, PlanMode mode, const Shape *input_shapes, const Value *const *keep, int n_keep,
                        uint64_t seed, Plan **out, Diag *d);

/* The tensor of v as the last plan_forward left it. Fails naming v when v
 * is not a value of the plan's graph, is not computed by the plan, or is an
 * intermediate value of an inference plan that was not kept. */
Status plan_probe_value(Plan *p, const Value *v, ProbeView *out, Diag *d);

/* Training plans: the gradient of the loss with respect to v as the last
 * plan_backward left it (*numel floats). v is a trainable parameter or a
 * value on a path from one; fails naming v otherwise. */
Status plan_probe_grad(Plan *p, const Value *v, const float **grad, int64_t *numel, Diag *d);

#endif
