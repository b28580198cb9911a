/* plan_layout.c - gradient marking and buffer layout of a plan.
 *
 * Training: a value gets a gradient when it lies downstream of a trainable
 * parameter through differentiable inputs; an op without a backward on such
 * a path is reported now, naming the node, rather than mid-run. Every
 * activation keeps its own storage, gradients live in one block zeroed per
 * step. Inference: a value's buffer is reused once its last reader has run
 * (first fit over offsets). Views share their root's storage and gradient.
 * A string value's buffer holds numel Bytes entries; the characters they
 * point at belong to whoever wrote the entries (the caller for graph
 * inputs, the producing step's state otherwise), never to the layout.
 */
#include "runtime/rt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN_BYTES 64

static size_t align_up(size_t n)
{
    return (n + ALIGN_BYTES - 1) & ~(size_t)(ALIGN_BYTES - 1);
}

/* Bytes of one element in a plan buffer: strings hold a Bytes entry. */
size_t plan_elem_bytes(DType t)
{
    return t == DT_STRING ? sizeof(Bytes) : dtype_size(t);
}

static RtTensor *root(RtTensor *t)
{
    return t->alias_of ? t->alias_of : t;
}

static bool step_is_runtime(const Step *s)
{
    for (int k = 0; k < s->n_out; k++)
        if (s->out[k] && !s->out[k]->is_const)
            return true;
    return false;
}

/* ---- gradients ---- */

static bool input_carries_grad(const Step *s, int i, bool *is_param_slot)
{
    RtTensor *t = s->in[i];
    *is_param_slot = false;
    if (!t || t->dtype != DT_FLOAT || (i < 32 && (rt_ops[s->node->op]->nondiff_inputs >> i & 1u)))
        return false;
    if (t->value->init && !t->is_const) {
        *is_param_slot = true;
        return true;
    }
    return t->grad != NULL; /* marked (non-NULL sentinel) on an earlier step */
}

static Status mark_grads(Plan *p, Diag *d)
{
    static float marker;
    for (int i = 0; i < p->n_steps; i++) {
        Step *s = &p->steps[i];
        if (!step_is_runtime(s))
            continue;
        bool any = false;
        for (int k = 0; k < s->n_in; k++) {
            bool param_slot;
            if (input_carries_grad(s, k, &param_slot)) {
                any = true;
                if (param_slot) {
                    s->in[k]->is_param = true;
                    s->in[k]->grad = &marker;
                }
            }
        }
        if (!any)
            continue;
        if (!rt_ops[s->node->op]->backward)
            return rt_op_error(s, d, "has no gradient but lies between trainable parameters and the loss");
        for (int k = 0; k < s->n_out; k++)
            if (s->out[k] && s->out[k]->dtype == DT_FLOAT)
                s->out[k]->grad = &marker;
    }
    return KDC_OK;
}

static Status assign_grads(Plan *p, Diag *d)
{
    size_t floats = 0;
    for (int i = 0; i < p->n_tensors; i++) {
        RtTensor *t = &p->tensors[i];
        if (t->grad && !t->alias_of) {
            t->grad_offset = floats;
            floats += align_up((size_t)t->numel * sizeof(float)) / sizeof(float);
        }
    }
    p->grad_floats = floats;
    if (floats && !(p->grads = aligned_alloc(ALIGN_BYTES, floats * sizeof(float))))
        return diag_error(d, "out of memory for %zu gradient values", floats);
    int n_params = 0;
    for (int i = 0; i < p->n_tensors; i++) {
        RtTensor *t = &p->tensors[i];
        if (t->grad)
            t->grad = p->grads + root(t)->grad_offset;
        n_params += t->is_param;
    }
    p->params = calloc((size_t)n_params + 1, sizeof *p->params);
    if (!p->params)
        return diag_error(d, "out of memory");
    for (int i = 0; i < p->n_tensors; i++) {
        RtTensor *t = &p->tensors[i];
        if (t->is_param)
            p->params[p->n_params++] = (PlanParam){t->value, t->data, t->grad, t->numel};
    }
    plan_zero_grads(p);
    return KDC_OK;
}

/* ---- activations ---- */

/* Body plans read tensors of enclosing plans, whose lifetimes those plans
 * measure themselves (the control step lists them as inputs). */
static bool owns(const Plan *p, const RtTensor *t)
{
    return t >= p->tensors && t < p->tensors + p->n_tensors;
}

static void extend_lifetime(const Plan *p, RtTensor *t, int step)
{
    if (owns(p, root(t)) && root(t)->last_use < step)
        root(t)->last_use = step;
}

static void compute_lifetimes(Plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        Step *s = &p->steps[i];
        if (!step_is_runtime(s))
            continue;
        for (int k = 0; k < s->n_in; k++)
            if (s->in[k])
                extend_lifetime(p, s->in[k], i);
        for (int k = 0; k < s->n_out; k++)
            if (s->out[k])
                extend_lifetime(p, s->out[k], i);
        for (int k = 0; s->edge_in && k < s->n_in; k++) /* the dtype adapter converts these here */
            if (s->edge_in[k])
                extend_lifetime(p, s->edge_in[k], i);
        for (int k = 0; s->edge_out && k < s->n_out; k++)
            if (s->edge_out[k])
                extend_lifetime(p, s->edge_out[k], i);
    }
    for (int k = 0; k < p->n_outputs; k++)
        extend_lifetime(p, p->outputs[k], INT_MAX);
    /* the caller writes inputs once and may run forward again: never reuse them */
    for (int k = 0; k < p->n_inputs; k++) {
        p->inputs[k]->def_step = -1;
        p->inputs[k]->last_use = INT_MAX;
    }
}

static bool needs_buffer(const RtTensor *t)
{
    return !t->alias_of && !t->is_const && !t->value->init && (t->is_input || t->def_step >= 0);
}

typedef struct Live {
    size_t offset, bytes;
    int last_use;
} Live;

/* Lowest offset where `bytes` fits between the live blocks (sorted by offset). */
static size_t first_fit(const Live *live, int n, size_t bytes)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (live[i].offset >= at + bytes)
            return at;
        if (live[i].offset + live[i].bytes > at)
            at = live[i].offset + live[i].bytes;
    }
    return at;
}

static int live_cmp(const void *a, const void *b)
{
    const Live *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static Status place_tensor(RtTensor *t, Live *live, int *n_live, size_t *total, bool reuse)
{
    t->bytes = align_up((size_t)t->numel * plan_elem_bytes(t->dtype) + 1);
    if (!reuse) {
        t->offset = *total;
        *total += t->bytes;
        return KDC_OK;
    }
    int k = 0;
    for (int i = 0; i < *n_live; i++) /* retire blocks whose last reader ran before this definition */
        if (live[i].last_use >= t->def_step)
            live[k++] = live[i];
    *n_live = k;
    t->offset = first_fit(live, k, t->bytes);
    live[k] = (Live){t->offset, t->bytes, t->last_use};
    (*n_live)++;
    qsort(live, (size_t)*n_live, sizeof *live, live_cmp);
    if (t->offset + t->bytes > *total)
        *total = t->offset + t->bytes;
    return KDC_OK;
}

static int by_def_step(const void *a, const void *b)
{
    const RtTensor *x = *(RtTensor *const *)a, *y = *(RtTensor *const *)b;
    return x->def_step != y->def_step ? (x->def_step < y->def_step ? -1 : 1) : (x->value->id - y->value->id);
}

static Status assign_activations(Plan *p, Diag *d)
{
    Status st = KDC_ERR;
    RtTensor **order = calloc((size_t)p->n_tensors + 1, sizeof *order);
    Live *live = calloc((size_t)p->n_tensors + 1, sizeof *live);
    int n = 0, n_live = 0;
    size_t total = 0;
    if (!order || !live) {
        diag_error(d, "out of memory");
        goto fail;
    }
    for (int i = 0; i < p->n_tensors; i++)
        if (needs_buffer(&p->tensors[i]))
            order[n++] = &p->tensors[i];
    qsort(order, (size_t)n, sizeof *order, by_def_step);
    for (int i = 0; i < n; i++)
        place_tensor(order[i], live, &n_live, &total, p->mode == PLAN_INFERENCE);
    if (!(p->act = aligned_alloc(ALIGN_BYTES, align_up(total + 1)))) {
        diag_error(d, "out of memory for %zu bytes of activations", total);
        goto fail;
    }
    memset(p->act, 0, align_up(total + 1));
    for (int i = 0; i < n; i++)
        order[i]->data = p->act + order[i]->offset;
    for (int i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].alias_of)
            p->tensors[i].data = p->tensors[i].alias_of->data;
    st = KDC_OK;
fail:
    free(order);
    free(live);
    return st;
}

static Status assign_scratch(Plan *p, Diag *d)
{
    size_t ws = 0, saves = 0;
    for (int i = 0; i < p->n_steps; i++) {
        Step *s = &p->steps[i];
        if (s->ws_floats > ws)
            ws = s->ws_floats;
        saves += align_up(s->save_bytes);
    }
    p->ws_floats = ws;
    if (ws && !(p->ws = aligned_alloc(ALIGN_BYTES, align_up(ws * sizeof(float)))))
        return diag_error(d, "out of memory for scratch");
    if (saves && !(p->saves = aligned_alloc(ALIGN_BYTES, saves)))
        return diag_error(d, "out of memory for saved state");
    size_t at = 0;
    for (int i = 0; i < p->n_steps; i++) {
        Step *s = &p->steps[i];
        if (s->save_bytes) {
            s->save = p->saves + at;
            memset(s->save, 0, s->save_bytes);
            at += align_up(s->save_bytes);
        }
    }
    return KDC_OK;
}

Status plan_build_layout(Plan *p, Diag *d)
{
    if (p->mode == PLAN_TRAINING && mark_grads(p, d))
        return KDC_ERR;
    compute_lifetimes(p);
    if (assign_activations(p, d) || assign_scratch(p, d))
        return KDC_ERR;
    return p->mode == PLAN_TRAINING ? assign_grads(p, d) : KDC_OK;
}
