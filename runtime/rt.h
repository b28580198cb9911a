/* rt.h - what the executor and the per-op-family runtime files share: the
 * runtime view of a value, a plan step, and the op entry table. Private to
 * runtime/. */
#ifndef KDC_RT_H
#define KDC_RT_H

#include "ir/ops.h"
#include "runtime/kernels.h"
#include "runtime/plan.h"

typedef struct RtTensor {
    const Value *value;
    /* HOLDS_SEQUENCE / HOLDS_OPTIONAL: a value known when the plan is built,
     * data its const Tensor * (ir/container.h, immutable, owned by a plan),
     * dtype the element type, rank 0, numel 0 (rt_container) */
    Holds holds;
    DType dtype;
    Shape shape;    /* concrete */
    int64_t numel;
    void *data;
    float *grad;    /* training plans: values on a path from a parameter */
    bool is_const;  /* known at build time (integers, shape arithmetic) */
    bool is_param;  /* trainable float initializer */
    bool is_input;  /* graph input: filled by the caller */
    struct RtTensor *alias_of; /* views (Reshape, Flatten...) share storage */
    int def_step, last_use;    /* lifetime in steps, for buffer reuse */
    size_t offset, grad_offset, bytes;
} RtTensor;

typedef struct Step {
    const Node *node;
    RtTensor **in;
    RtTensor **out;
    int n_in, n_out;
    void *state;        /* op-specific, malloc'd by prepare, freed with the plan */
    size_t ws_floats;   /* scratch needed during forward/backward */
    size_t save_bytes;  /* per-step storage kept from forward to backward */
    void *save;
    double seconds;     /* profile */
    int64_t calls;
    /* dtype adapter (plan_dtype.c): in[i] / out[k] are float stand-ins for
     * these declared tensors, converted at the step's edges; NULL (the
     * arrays or an entry) where the step reads or writes its tensors directly */
    RtTensor **edge_in, **edge_out;
} Step;

struct Plan {
    Graph *graph;
    PlanMode mode;
    RtTensor *tensors; /* by Value id of the graph, then the dtype adapter's float stand-ins */
    int n_tensors;
    int tensors_cap;   /* room in tensors for the stand-ins */
    Step *steps;
    int n_steps;
    RtTensor **inputs, **outputs;
    int n_inputs, n_outputs;
    unsigned char *act;   /* activations */
    float *grads;         /* gradients, one block, zeroed per step */
    size_t grad_floats;
    float *ws;            /* shared scratch */
    size_t ws_floats;
    unsigned char *saves; /* per-step saved state */
    void **const_blocks;  /* build-time constant data */
    int n_const_blocks;
    PlanParam *params;
    int n_params;
    uint64_t seed;
    uint64_t rng_calls;
    const Tensor *const *bind_values; /* plan_build_with_values: input data to bind, or NULL */
    bool wanted_values;                /* a shape needed the value of a run-time input */
    bool bound;                        /* built with bound input values */
    bool profiling;
    /* Control flow: body plans of If/Loop/Scan steps are children of the
     * plan of the graph that holds the node; they read values of enclosing
     * graphs through their parents' tensors. */
    Plan *parent;
    Plan **children;
    int n_children;
    const DType *input_dtypes; /* during build of a body plan: its input dtypes */
};

typedef struct RtOp {
    /* Validates attributes and shapes, fills step->state, ws_floats and
     * save_bytes. Output shapes are already set. May set out[k]->alias_of. */
    Status (*prepare)(Step *s, Plan *p, Diag *d);
    Status (*forward)(Step *s, Plan *p, Diag *d);
    /* NULL when the op has no gradient. Accumulates into in[i]->grad where set. */
    void (*backward)(Step *s, Plan *p);
    unsigned nondiff_inputs; /* bit i: input i never receives a gradient (inputs 32+ of variadic ops always may) */
    unsigned flags;          /* RT_* below */
} RtOp;

enum {
    RT_OWN_TYPES = 1u,  /* prepare sets the output types itself (no shape function, no dtype adapter) */
    RT_CONTAINERS = 2u, /* takes sequences and optionals as inputs */
};

/* One entry per OpId, defined in the op-family files (rt_op_<Id>). */
#define OP(id, name, min_in, max_in, min_out, max_out) extern const RtOp rt_op_##id;
#include "ir/ops.def"
#undef OP
extern const RtOp *const rt_ops[OP_COUNT];

/* The run-time tensor of v in p or in the enclosing plan whose graph defines
 * it; NULL when no plan in the chain holds v's graph. */
RtTensor *rt_plan_tensor(Plan *p, const Value *v);
/* Builds an inference plan for body graph g of a step of `parent` (which
 * owns and frees it), its inputs of the given dtypes and concrete shapes.
 * Sets parent->wanted_values when a shape in the body needs a run-time value. */
Status rt_plan_child(Plan *parent, Graph *g, const DType *input_dtypes, const Shape *input_shapes, Plan **out,
                     Diag *d);
/* The same with body input k bound to values[k] where that is not NULL
 * (plan_build_with_values for one body run: shapes may read those values). */
Status rt_plan_child_bound(Plan *parent, Graph *g, const DType *input_dtypes, const Shape *input_shapes,
                           const Tensor *const *values, Plan **out, Diag *d);
/* Frees a child plan of parent before parent itself goes. */
void rt_plan_child_free(Plan *parent, Plan *child);

/* Bytes of one element in a plan buffer: strings hold a Bytes entry (plan_layout.c). */
size_t plan_elem_bytes(DType t);

/* Build-time constant storage owned by the plan (zeroed, one spare byte). */
void *rt_const_block(Plan *p, size_t bytes);

/* The dtype adapter (plan_dtype.c): float-only ops on double, float16 and
 * bfloat16 tensors compute in float, converted at the step's edges. */
bool rt_dtype_float_only(int op);   /* the op's kernels compute float32 only */
int rt_dtype_room(const Graph *g);  /* stand-in tensors a plan of g may need */
/* After shape inference, before prepare: swaps such a step's converted
 * inputs and outputs for float stand-ins (constant inputs converted now).
 * Training plans refuse parameters of those types instead. */
Status rt_dtype_adapt(Plan *p, Step *s, Diag *d);
/* A constant adapted step is about to be evaluated: gives its declared outputs storage. */
Status rt_dtype_const_outputs(Plan *p, Step *s, Diag *d);
/* Runs a step's forward, converting at its edges when it is adapted. */
Status rt_step_forward(Step *s, Plan *p, Diag *d);
void rt_dtype_free(Step *s);

/* ---- sequences and optionals (runtime/op_sequence.c) ---- */
/* The value a container tensor holds, NULL for a plain tensor. */
static inline const Tensor *rt_container(const RtTensor *t)
{
    return t && t->holds != HOLDS_TENSOR ? (const Tensor *)t->data : NULL;
}
/* Makes out hold a packed copy of v (a container), owned by p. */
Status rt_set_container(Plan *p, RtTensor *out, const Tensor *v, Diag *d);
/* Makes out hold v itself: v must live as long as p (p's blocks, or a plan p owns). */
void rt_share_container(RtTensor *out, const Tensor *v);
/* Containers are computed when the plan is built: every present input of
 * the step must be known then. Otherwise fails asking the enclosing build
 * to bind input values (Plan.wanted_values). */
Status rt_inputs_known(const Step *s, Plan *p, Diag *d);
/* An IR view of t's data: its container value, or a tensor over t->data. */
Tensor rt_tensor_view(const RtTensor *t);

/* Helpers for the op files. */
static inline float *rt_f(const RtTensor *t) { return (float *)t->data; }
Status rt_op_error(const Step *s, Diag *d, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Dims of a concrete shape as int64 (shape.dims[i].value). */
void rt_dims(const RtTensor *t, int64_t *dims);

/* Shared pieces of op entries (runtime/op_common.c). */
Status rt_require_float(const Step *s, Diag *d);   /* every present input is float */
void *rt_state_alloc(Step *s, size_t size, Diag *d); /* zeroed step->state */
Status rt_float_prepare(Step *s, Plan *p, Diag *d);  /* stateless prepare: the data input (0) is float */
Status rt_no_prepare(Step *s, Plan *p, Diag *d);
Status rt_view_prepare(Step *s, Plan *p, Diag *d);   /* output 0 aliases input 0 */
Status rt_nothing_forward(Step *s, Plan *p, Diag *d);
/* Views share their root's gradient buffer, so their backward has nothing to do. */
void rt_view_backward(Step *s, Plan *p);
/* The kernels' element type of a stored dtype; false for strings and complex. */
bool rt_kelem(DType t, KElem *out);

#endif
