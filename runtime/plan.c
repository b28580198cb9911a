/* plan.c - building and running execution plans (see plan.h).
 *
 * plan_build walks the nodes once: concrete shapes from the registry's shape
 * functions, kernel preparation (rt_ops), build-time evaluation of constant
 * integer arithmetic, then gradient marking (training) and buffer layout
 * (plan_layout.c). Forward and backward are plain loops over the steps.
 */
#include "runtime/rt.h"

#include "ir/container.h"

#include "runtime/blas.h"
#include "runtime/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Status rt_op_error(const Step *s, Diag *d, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return diag_error(d, "node '%s' (%s): %s", s->node->name, s->node->op_type, msg);
}

void rt_dims(const RtTensor *t, int64_t *dims)
{
    for (int i = 0; i < t->shape.rank; i++)
        dims[i] = t->shape.dims[i].value;
}

Status plan_build_layout(Plan *p, Diag *d); /* plan_layout.c */

/* ---- inputs and initializers ---- */

static bool shape_matches_declared(const Value *v, const Shape *s)
{
    if (v->kind != TYPE_TENSOR || v->shape.rank < 0)
        return true;
    if (v->shape.rank != s->rank)
        return false;
    for (int i = 0; i < s->rank; i++)
        if (v->shape.dims[i].value >= 0 && v->shape.dims[i].value != s->dims[i].value)
            return false;
    return true;
}

static void format_shape(const Shape *s, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)s->dims[i].value);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

void *rt_const_block(Plan *p, size_t bytes)
{
    void **blocks = realloc(p->const_blocks, (size_t)(p->n_const_blocks + 1) * sizeof *blocks);
    if (!blocks)
        return NULL;
    p->const_blocks = blocks;
    return blocks[p->n_const_blocks++] = calloc(bytes + 1, 1);
}

/* A string value bound as one block: its Bytes entries, then its
 * characters, so that the plan does not depend on the caller's tensor. */
static Status bind_strings(Plan *p, RtTensor *t, const Tensor *value, Diag *d)
{
    int64_t n = tensor_numel(value);
    size_t chars = 0;
    for (int64_t i = 0; i < n; i++)
        chars += value->strings[i].len;
    Bytes *entries = rt_const_block(p, (size_t)n * sizeof(Bytes) + chars);
    if (!(t->data = entries))
        return diag_error(d, "out of memory");
    uint8_t *at = (uint8_t *)(entries + n);
    for (int64_t i = 0; i < n; i++) {
        if (value->strings[i].len)
            memcpy(at, value->strings[i].data, value->strings[i].len);
        entries[i] = (Bytes){at, value->strings[i].len};
        at += value->strings[i].len;
    }
    return KDC_OK;
}

/* Makes input t a build-time constant holding value's data. */
static Status bind_input_value(Plan *p, RtTensor *t, const Tensor *value, Diag *d)
{
    if (!value)
        return KDC_OK;
    size_t bytes = (size_t)t->numel * plan_elem_bytes(t->dtype);
    size_t held = value->dtype == DT_STRING ? (size_t)tensor_numel(value) * sizeof(Bytes) : value->nbytes;
    if (value->dtype != t->dtype || held != bytes)
        return diag_error(d, "input '%s': the value to bind is %s of %zu bytes, the input takes %s of %zu",
                          t->value->name, dtype_name(value->dtype), held, dtype_name(t->dtype), bytes);
    t->is_const = true;
    if (t->dtype == DT_STRING)
        return bind_strings(p, t, value, d);
    if (!(t->data = rt_const_block(p, bytes)))
        return diag_error(d, "out of memory");
    memcpy(t->data, value->data, bytes);
    return KDC_OK;
}

/* A sequence or optional input: planned from its value, so it must be bound. */
static Status bind_container_input(Plan *p, RtTensor *t, const Tensor *value, Diag *d)
{
    t->is_input = true;
    if (value && value->holds != HOLDS_TENSOR)
        return rt_set_container(p, t, value, d);
    p->wanted_values = true;
    if (value)
        return diag_error(d, "input '%s' is declared a sequence or optional but the value given is a tensor",
                          t->value->name);
    return diag_error(d, "input '%s' is not a tensor (a sequence, optional or map): kdc plans such inputs from "
                         "their values, which must be given when the plan is built", t->value->name);
}

static Status bind_inputs(Plan *p, const Shape *shapes, Diag *d)
{
    Graph *g = p->graph;
    p->inputs = calloc((size_t)g->n_inputs + 1, sizeof *p->inputs);
    if (!p->inputs)
        return diag_error(d, "out of memory");
    for (int i = 0; i < g->n_inputs; i++) {
        const Value *v = g->inputs[i];
        if (v->init)
            continue;
        RtTensor *t = &p->tensors[v->id];
        const Shape *s = &shapes[p->n_inputs];
        const Tensor *bound = p->bind_values ? p->bind_values[p->n_inputs] : NULL;
        if ((bound && bound->holds != HOLDS_TENSOR) || v->kind == TYPE_OPAQUE) {
            if (bind_container_input(p, t, bound, d))
                return KDC_ERR;
            p->inputs[p->n_inputs++] = t;
            continue;
        }
        if (!shape_known(s) || !shape_matches_declared(v, s)) {
            char got[128];
            format_shape(s, got, sizeof got);
            return diag_error(d, "input '%s': shape %s does not match the model's declared shape", v->name, got);
        }
        t->dtype = p->input_dtypes ? p->input_dtypes[p->n_inputs] : v->kind == TYPE_TENSOR ? v->dtype : DT_FLOAT;
        t->shape = *s;
        t->numel = shape_numel(s);
        t->is_input = true;
        if (p->bind_values && bind_input_value(p, t, p->bind_values[p->n_inputs], d))
            return KDC_ERR;
        p->inputs[p->n_inputs++] = t;
    }
    return KDC_OK;
}

static void bind_initializers(Plan *p)
{
    for (int i = 0; i < p->graph->n_inits; i++) {
        const Value *v = p->graph->inits[i];
        RtTensor *t = &p->tensors[v->id];
        t->dtype = v->init->dtype;
        t->shape = shape_from_dims(v->init->rank, v->init->dims);
        t->numel = tensor_numel(v->init);
        t->data = t->dtype == DT_STRING ? (void *)v->init->strings : v->init->data; /* entries in the IR */
        t->is_const = t->dtype != DT_FLOAT;
    }
}

Status plan_input_shapes_for_batch(const Graph *g, int64_t batch, Shape *shapes, int max, int *n, Diag *d)
{
    *n = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        const Value *v = g->inputs[i];
        if (v->init)
            continue;
        if (*n >= max)
            return diag_error(d, "the model has more than %d inputs", max);
        if (v->kind != TYPE_TENSOR || v->shape.rank < 1)
            return diag_error(d, "input '%s' has no declared shape; kdc needs it to plan a batch", v->name);
        Shape s = v->shape;
        s.dims[0] = (Dim){batch, NULL};
        for (int k = 1; k < s.rank; k++)
            if (s.dims[k].value < 0)
                return diag_error(d, "input '%s': dim %d is not fixed ('%s'); only the batch dim may vary", v->name,
                                  k, s.dims[k].param ? s.dims[k].param : "?");
        shapes[(*n)++] = s;
    }
    return KDC_OK;
}

/* ---- steps ---- */

static Status step_infer(Plan *p, Step *s, Diag *d)
{
    const Node *n = s->node;
    DType in_dt[s->n_in + 1], out_dt[s->n_out + 1];
    Shape in_sh[s->n_in + 1], out_sh[s->n_out + 1];
    Tensor views[s->n_in + 1];
    const Tensor *in_val[s->n_in + 1];
    for (int i = 0; i < s->n_in; i++) {
        RtTensor *t = s->in[i];
        in_dt[i] = t ? t->dtype : DT_UNDEFINED;
        in_sh[i] = t ? t->shape : (Shape){.rank = -1};
        in_val[i] = NULL;
        if (t && (t->is_const || t->value->init) && t->data) { /* initializers have data from the start */
            views[i] = rt_tensor_view(t);
            in_val[i] = &views[i];
        }
    }
    for (int k = 0; k < s->n_out; k++)
        out_sh[k].rank = -1;
    InferCtx c = {n, s->n_in, s->n_out, in_dt, in_sh, in_val, out_dt, out_sh};
    if (op_table[n->op].infer(&c, d))
        return KDC_ERR;
    for (int k = 0; k < s->n_out; k++) {
        RtTensor *t = s->out[k];
        if (!t)
            continue;
        if (!shape_known(&out_sh[k])) {
            p->wanted_values = true;
            return rt_op_error(s, d, "output '%s' has no concrete shape (an input that decides it is computed at "
                                     "run time, which kdc does not support yet)", t->value->name);
        }
        t->dtype = out_dt[k];
        t->shape = out_sh[k];
        t->numel = shape_numel(&out_sh[k]);
    }
    return KDC_OK;
}

static int container_input(const Step *s)
{
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i] && s->in[i]->holds != HOLDS_TENSOR)
            return i;
    return -1;
}

/* Output types from the shape functions, or from prepare: control-flow ops
 * plan their bodies there, container ops compute their values there. */
static Status step_types(Plan *p, Step *s, Diag *d)
{
    unsigned flags = rt_ops[s->node->op]->flags;
    int c = container_input(s);
    if (c >= 0 && !(flags & RT_CONTAINERS))
        return rt_op_error(s, d, "input %d ('%s') is %s; this op takes tensors", c, s->in[c]->value->name,
                           holds_name(s->in[c]->holds));
    if ((flags & RT_OWN_TYPES) || c >= 0)
        return KDC_OK;
    return step_infer(p, s, d) || rt_dtype_adapt(p, s, d) ? KDC_ERR : KDC_OK;
}

static bool step_is_const(const Step *s, const Plan *p)
{
    int op = s->node->op;
    if (op == OP_Constant || op == OP_Shape || op == OP_Size) /* depend on shapes only */
        return true;
    if (op == OP_Dropout && p->mode == PLAN_TRAINING)
        return false;
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i] && !s->in[i]->is_const)
            return false;
    return true;
}

/* Evaluates a constant step now, into blocks owned by the plan. */
static Status step_eval_const(Step *s, Plan *p, Diag *d)
{
    for (int k = 0; k < s->n_out; k++) {
        RtTensor *t = s->out[k];
        if (!t)
            continue;
        t->is_const = true;
        if (t->alias_of || t->holds != HOLDS_TENSOR) /* containers: prepare gave them their values */
            continue;
        if (!(t->data = rt_const_block(p, ((size_t)t->numel + 1) * (plan_elem_bytes(t->dtype) + 1))))
            return diag_error(d, "out of memory");
    }
    if (rt_dtype_const_outputs(p, s, d))
        return KDC_ERR;
    for (int k = 0; k < s->n_out; k++)
        if (s->out[k] && s->out[k]->alias_of)
            s->out[k]->data = s->out[k]->alias_of->data;
    void *ws = NULL;
    if (s->ws_floats && !(ws = calloc(s->ws_floats, sizeof(float))))
        return diag_error(d, "out of memory");
    float *saved_ws = p->ws;
    p->ws = ws;
    Status st = rt_step_forward(s, p, d);
    p->ws = saved_ws;
    free(ws);
    return st;
}

static Status step_build(Plan *p, Step *s, const Node *n, Diag *d)
{
    s->node = n;
    if (n->op == OP_OPAQUE)
        return diag_error(d, "node '%s' (%s%s%s): kdc cannot compute this op yet", n->name, *n->domain ? n->domain : "",
                          *n->domain ? "." : "", n->op_type);
    const OpInfo *op = &op_table[n->op];
    for (int i = 0; i < op->min_inputs && i < n->n_inputs; i++)
        if (!n->inputs[i])
            return diag_error(d, "node '%s' (%s) lacks required input %d", n->name, n->op_type, i);
    s->n_in = n->n_inputs;
    s->n_out = n->n_outputs;
    s->in = calloc((size_t)s->n_in + 1, sizeof *s->in);
    s->out = calloc((size_t)s->n_out + 1, sizeof *s->out);
    if (!s->in || !s->out)
        return diag_error(d, "out of memory");
    for (int i = 0; i < s->n_in; i++) {
        const Value *v = n->inputs[i];
        s->in[i] = v ? rt_plan_tensor(p, v) : NULL;
        if (v && !s->in[i])
            return diag_error(d, "node '%s' (%s): uses an outer-scope value", n->name, n->op_type);
    }
    for (int k = 0; k < s->n_out; k++)
        s->out[k] = n->outputs[k] ? &p->tensors[n->outputs[k]->id] : NULL;
    if (step_types(p, s, d) || rt_ops[n->op]->prepare(s, p, d))
        return KDC_ERR;
    for (int k = 0; k < s->n_out; k++)
        if (s->out[k] && s->out[k]->alias_of)
            while (s->out[k]->alias_of->alias_of)
                s->out[k]->alias_of = s->out[k]->alias_of->alias_of;
    if (step_is_const(s, p))
        return step_eval_const(s, p, d);
    return KDC_OK;
}

static Status build_steps(Plan *p, Diag *d)
{
    Graph *g = p->graph;
    p->steps = calloc((size_t)g->n_nodes + 1, sizeof *p->steps);
    if (!p->steps)
        return diag_error(d, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        p->n_steps = i + 1;
        if (step_build(p, &p->steps[i], g->nodes[i], d))
            return KDC_ERR;
        for (int k = 0; k < p->steps[i].n_out; k++)
            if (p->steps[i].out[k])
                p->steps[i].out[k]->def_step = i;
    }
    return KDC_OK;
}

static Status bind_outputs(Plan *p, Diag *d)
{
    Graph *g = p->graph;
    p->outputs = calloc((size_t)g->n_outputs + 1, sizeof *p->outputs);
    if (!p->outputs)
        return diag_error(d, "out of memory");
    for (int k = 0; k < g->n_outputs; k++)
        if (!(p->outputs[p->n_outputs++] = rt_plan_tensor(p, g->outputs[k])))
            return diag_error(d, "output '%s' is not defined in the graph or an enclosing one", g->outputs[k]->name);
    return KDC_OK;
}

/* The run-time tensor of v: from p, or from the enclosing plan whose graph defines it. */
RtTensor *rt_plan_tensor(Plan *p, const Value *v)
{
    for (; p; p = p->parent)
        if (v->graph == p->graph)
            return &p->tensors[v->id];
    return NULL;
}

static Status build_in(Plan *parent, const DType *input_dtypes, Graph *g, PlanMode mode, const Shape *input_shapes,
                       const Tensor *const *values, uint64_t seed, Plan **out, bool *wanted_values, Diag *d)
{
    blas_init();
    Plan *p = calloc(1, sizeof *p);
    if (!p)
        return diag_error(d, "out of memory");
    p->parent = parent;
    p->input_dtypes = input_dtypes;
    p->graph = g;
    p->mode = mode;
    p->seed = seed;
    p->bind_values = values;
    p->n_tensors = g->n_values;
    p->tensors_cap = g->n_values + rt_dtype_room(g);
    p->tensors = calloc((size_t)p->tensors_cap + 1, sizeof *p->tensors);
    if (!p->tensors) {
        diag_error(d, "out of memory");
        goto fail;
    }
    for (int i = 0; i < g->n_values; i++) {
        p->tensors[i].value = g->values[i];
        p->tensors[i].def_step = -1;
        p->tensors[i].last_use = -1;
    }
    bind_initializers(p);
    if (bind_inputs(p, input_shapes, d) || build_steps(p, d) || bind_outputs(p, d) || plan_build_layout(p, d))
        goto fail;
    p->bind_values = NULL;
    p->input_dtypes = NULL;
    *out = p;
    return KDC_OK;
fail:
    if (wanted_values)
        *wanted_values = p->wanted_values;
    plan_free(p);
    return KDC_ERR;
}

static Status build(Graph *g, PlanMode mode, const Shape *input_shapes, const Tensor *const *values, uint64_t seed,
                    Plan **out, bool *wanted_values, Diag *d)
{
    return build_in(NULL, NULL, g, mode, input_shapes, values, seed, out, wanted_values, d);
}

Status plan_build(Graph *g, PlanMode mode, const Shape *input_shapes, uint64_t seed, Plan **out, Diag *d)
{
    return build(g, mode, input_shapes, NULL, seed, out, NULL, d);
}

Status plan_build_with_values(Graph *g, PlanMode mode, const Shape *input_shapes, const Tensor *const *input_values,
                              uint64_t seed, Plan **out, Diag *d)
{
    bool wanted = false;
    if (!build(g, mode, input_shapes, NULL, seed, out, &wanted, d))
        return KDC_OK;
    if (!wanted)
        return KDC_ERR;
    if (build(g, mode, input_shapes, input_values, seed, out, NULL, d))
        return KDC_ERR;
    (*out)->bound = true;
    return KDC_OK;
}

Status rt_plan_child(Plan *parent, Graph *g, const DType *input_dtypes, const Shape *input_shapes, Plan **out,
                     Diag *d)
{
    return rt_plan_child_bound(parent, g, input_dtypes, input_shapes, NULL, out, d);
}

Status rt_plan_child_bound(Plan *parent, Graph *g, const DType *input_dtypes, const Shape *input_shapes,
                           const Tensor *const *values, Plan **out, Diag *d)
{
    Plan **grown = realloc(parent->children, (size_t)(parent->n_children + 1) * sizeof *grown);
    if (!grown)
        return diag_error(d, "out of memory");
    parent->children = grown;
    bool wanted = false;
    Status st = build_in(parent, input_dtypes, g, PLAN_INFERENCE, input_shapes, values, parent->seed, out, &wanted, d);
    parent->wanted_values |= wanted;
    if (st)
        return KDC_ERR;
    parent->children[parent->n_children++] = *out;
    return KDC_OK;
}

void rt_plan_child_free(Plan *parent, Plan *child)
{
    for (int i = 0; i < parent->n_children; i++)
        if (parent->children[i] == child) {
            parent->children[i] = parent->children[--parent->n_children];
            break;
        }
    plan_free(child);
}

bool plan_inputs_bound(const Plan *p)
{
    return p->bound;
}

void plan_free(Plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_steps; i++) {
        free(p->steps[i].in);
        free(p->steps[i].out);
        free(p->steps[i].state);
        rt_dtype_free(&p->steps[i]);
    }
    for (int i = 0; i < p->n_children; i++)
        plan_free(p->children[i]);
    free(p->children);
    for (int i = 0; i < p->n_const_blocks; i++)
        free(p->const_blocks[i]);
    free(p->const_blocks);
    free(p->steps);
    free(p->tensors);
    free(p->inputs);
    free(p->outputs);
    free(p->act);
    free(p->grads);
    free(p->ws);
    free(p->saves);
    free(p->params);
    free(p);
}

/* ---- running ---- */

static bool step_skipped(const Step *s)
{
    for (int k = 0; k < s->n_out; k++)
        if (s->out[k] && !s->out[k]->is_const)
            return false;
    return true;
}

Status plan_forward(Plan *p, Diag *d)
{
    for (int i = 0; i < p->n_steps; i++) {
        Step *s = &p->steps[i];
        if (step_skipped(s))
            continue;
        double t0 = p->profiling ? clock_seconds() : 0;
        if (rt_step_forward(s, p, d))
            return KDC_ERR;
        if (p->profiling) {
            s->seconds += clock_seconds() - t0;
            s->calls++;
        }
    }
    return KDC_OK;
}

void plan_zero_grads(Plan *p)
{
    if (p->grads)
        memset(p->grads, 0, p->grad_floats * sizeof(float));
}

void plan_backward(Plan *p)
{
    for (int i = p->n_steps - 1; i >= 0; i--) {
        Step *s = &p->steps[i];
        if (step_skipped(s) || !rt_ops[s->node->op]->backward)
            continue;
        bool any = false;
        for (int k = 0; k < s->n_out; k++)
            any |= s->out[k] && s->out[k]->grad;
        if (any)
            rt_ops[s->node->op]->backward(s, p);
    }
}

int plan_n_inputs(const Plan *p) { return p->n_inputs; }
int plan_n_outputs(const Plan *p) { return p->n_outputs; }
void *plan_input(Plan *p, int k) { return p->inputs[k]->data; }
const void *plan_output(const Plan *p, int k) { return p->outputs[k]->data; }
float *plan_output_grad(Plan *p, int k) { return p->outputs[k]->grad; }

void plan_input_info(const Plan *p, int k, DType *dtype, Shape *shape)
{
    *dtype = p->inputs[k]->dtype;
    *shape = p->inputs[k]->shape;
}

void plan_output_info(const Plan *p, int k, DType *dtype, Shape *shape)
{
    *dtype = p->outputs[k]->dtype;
    *shape = p->outputs[k]->shape;
}

Holds plan_input_holds(const Plan *p, int k) { return p->inputs[k]->holds; }
Holds plan_output_holds(const Plan *p, int k) { return p->outputs[k]->holds; }

int plan_params(Plan *p, PlanParam **params)
{
    *params = p->params;
    return p->n_params;
}

void plan_set_profiling(Plan *p, bool on) { p->profiling = on; }

void plan_print_profile(const Plan *p, void *file)
{
    FILE *f = file;
    double by_op[OP_COUNT] = {0}, total = 0;
    int64_t calls[OP_COUNT] = {0};
    for (int i = 0; i < p->n_steps; i++) {
        by_op[p->steps[i].node->op] += p->steps[i].seconds;
        calls[p->steps[i].node->op] += p->steps[i].calls;
        total += p->steps[i].seconds;
    }
    fprintf(f, "%-20s %10s %8s %7s\n", "op", "ms total", "calls", "share");
    for (int o = 0; o < OP_COUNT; o++)
        if (calls[o])
            fprintf(f, "%-20s %10.3f %8lld %6.1f%%\n", op_table[o].name, 1e3 * by_op[o], (long long)calls[o],
                    total > 0 ? 100.0 * by_op[o] / total : 0.0);
    fprintf(f, "%-20s %10.3f\n", "total", 1e3 * total);
}
