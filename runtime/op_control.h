/* op_control.h - what the runtime entries of the control-flow ops share:
 * runtime/op_control.c (If, Loop with fixed per-iteration shapes, Scan) and
 * runtime/op_control_dynamic.c (Loop bodies planned per iteration). Owns the
 * Loop step's state layout. Private to runtime/.
 */
#ifndef KDC_OP_CONTROL_H
#define KDC_OP_CONTROL_H

#include "runtime/rt.h"

/* One carried value (slot in the step's scratch, cap bytes of it) or one
 * scanned tensor (outer blocks of `inner` bytes, `len` of them per block
 * along the axis). batch_stride: bytes between batch entries of the step's
 * tensor (Scan before opset 9 runs the body per batch entry). */
typedef struct Item {
    size_t slot;
    int64_t outer;
    size_t inner;
    size_t batch_stride;
    bool reverse;
    size_t cap;
} Item;

/* Body plans a dynamic Loop keeps for reuse (op_control_dynamic.c). */
enum { LOOP_CACHE = 16 };

/* Body inputs a dynamic Loop binds to their values when it plans the body
 * for an iteration; each level binds those of the levels below as well. */
enum { LOOP_BIND_COND, LOOP_BIND_ITER, LOOP_BIND_ALL };

typedef struct LoopState {
    Plan *body; /* the one body plan with fixed shapes; NULL when dynamic */
    Graph *graph;
    int n_carried, n_scan;
    int64_t trips; /* scan rows planned, -1 without scan outputs */
    bool dynamic;  /* bodies planned per iteration */
    int level;     /* dynamic: LOOP_BIND_*, which body inputs a new plan binds */
    int n_cached, victim;
    Plan *cache[LOOP_CACHE];
    Item items[]; /* carried values, then scan outputs */
} LoopState;

size_t ctl_bytes(const RtTensor *t);
/* "float[2,3]" */
void ctl_shape_text(const RtTensor *t, char *buf, size_t n);
bool ctl_same_type(const RtTensor *a, const RtTensor *b);
void ctl_set_output(RtTensor *out, DType dt, const Shape *s); /* out may be NULL */
/* The concrete shape a scalar body input (iteration number, condition) gets. */
Shape ctl_scalar_like(const Value *declared);
/* t must be one bool (or uint8); *out its value (false while t has no data). */
Status ctl_read_flag(const Step *s, const RtTensor *t, const char *what, bool *out, Diag *d);
Status ctl_run_body(Plan *body, Diag *d);
/* Appends to the step's inputs every value that g (a body or a graph nested
 * in it) reads from outside `body`, so the enclosing plan keeps them alive. */
Status ctl_add_outer_values(Step *s, Plan *p, const Graph *g, const Graph *body, Diag *d);
/* per_iter's shape with len inserted at axis. */
Shape ctl_stacked_shape(const RtTensor *per_iter, int axis, int64_t len);
/* The error for carried value k entering the body as `in` and leaving it as
 * `out`; `rule` says what is required. */
Status ctl_carried_error(const Step *s, int k, const RtTensor *in, const RtTensor *out, const char *rule, Diag *d);
/* The run's trip count (INT64_MAX without M) and first condition. */
Status ctl_loop_start(const Step *s, int64_t *trips, bool *cond, Diag *d);

/* Loop whose body has no plan with fixed shapes (loop_prepare found it
 * needs run-time values, st->body NULL, or that a carried value changes
 * shape, st->body its plan for the first iteration): measures the output
 * shapes and sizes the scratch. */
Status ctl_loop_prepare_dynamic(Step *s, Plan *p, LoopState *st, Diag *d);
Status ctl_loop_forward_dynamic(Step *s, Plan *p, Diag *d);

#endif
