/* op_control.c - runtime entries of the control-flow ops: If (then_branch /
 * else_branch), Loop (trip count M, condition, loop-carried values, scan
 * outputs stacked along a new axis 0) and Scan (opset 9+: scan inputs and
 * outputs along any axis, either direction). Forward only, any fixed-size
 * element type. If branches and Loop-carried values may be sequences or
 * optionals: those are computed when the plan is built (op_sequence.c), so
 * such an If needs its condition and such a Loop all its inputs then, and
 * the Loop runs on the per-iteration path of op_control_dynamic.c with
 * every body input bound. Scan takes tensors only. Also the helpers the
 * control-flow files share (op_control.h).
 *
 * Prepare plans each body graph as a child plan of the step's plan (which
 * owns it): the body's own inputs get buffers of their own that the forward
 * fills before each run, and values of enclosing graphs are read in place
 * through the parents' tensors. Those outer values are appended to the
 * step's inputs so the enclosing plan keeps them alive (and treats the step
 * as constant only when they are). If plans just the chosen branch when the
 * condition is known at build time; a branch that needs a run-time value
 * fails the build asking for bound inputs (Plan.wanted_values), which
 * resolves it when the enclosing graph is a top-level plan built with
 * values or a Loop body planned per iteration. This file's path has fixed
 * per-iteration shapes: a loop-carried value keeps its shape, and scan
 * outputs need the number of iterations when planning. Loop-carried values
 * go through the step's scratch between iterations, so a body that swaps
 * them reads the old values, and nothing is allocated while running. A Loop
 * body without one such plan (a shape needs the iteration number or a
 * carried value, or a carried value changes shape) goes to
 * op_control_dynamic.c.
 */
#include "runtime/op_control.h"
#include "runtime/op_data.h"

#include "ir/container.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ctl_bytes(const RtTensor *t)
{
    return (size_t)t->numel * dtype_size(t->dtype);
}

void ctl_shape_text(const RtTensor *t, char *buf, size_t n)
{
    if (t->holds != HOLDS_TENSOR) {
        snprintf(buf, n, "%s of %s", holds_name(t->holds), dtype_name(t->dtype));
        return;
    }
    size_t k = (size_t)snprintf(buf, n, "%s[", dtype_name(t->dtype));
    for (int i = 0; i < t->shape.rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)t->shape.dims[i].value);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

bool ctl_same_type(const RtTensor *a, const RtTensor *b)
{
    if (a->holds != b->holds || a->dtype != b->dtype || a->shape.rank != b->shape.rank)
        return false;
    for (int i = 0; i < a->shape.rank; i++)
        if (a->shape.dims[i].value != b->shape.dims[i].value)
            return false;
    return true;
}

void ctl_set_output(RtTensor *out, DType dt, const Shape *s)
{
    if (!out)
        return;
    out->holds = HOLDS_TENSOR;
    out->dtype = dt;
    out->shape = *s;
    out->numel = shape_numel(s);
}

/* ---- bodies ---- */

static Status body_attr(const Step *s, const char *name, Graph **g, Diag *d)
{
    const Attr *a = node_attr(s->node, name);
    if (!a || a->kind != ATTR_GRAPH || !a->g)
        return rt_op_error(s, d, "attribute '%s' (a graph) is required", name);
    *g = a->g;
    return KDC_OK;
}

static bool defined_within(const Graph *g, const Graph *body)
{
    for (; g; g = g->parent)
        if (g == body)
            return true;
    return false;
}

static Status add_implicit_input(Step *s, Plan *p, const Value *v, Diag *d)
{
    RtTensor *t = rt_plan_tensor(p, v);
    if (!t)
        return rt_op_error(s, d, "the body reads '%s', which no enclosing graph defines", v->name);
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i] == t)
            return KDC_OK;
    RtTensor **grown = realloc(s->in, (size_t)(s->n_in + 2) * sizeof *grown);
    if (!grown)
        return diag_error(d, "out of memory");
    s->in = grown;
    s->in[s->n_in++] = t;
    s->in[s->n_in] = NULL;
    return KDC_OK;
}

/* Appends to the step's inputs every value that g (a body or a graph nested
 * in it) reads from outside `body`. */
Status ctl_add_outer_values(Step *s, Plan *p, const Graph *g, const Graph *body, Diag *d)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const Node *n = g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] && !defined_within(n->inputs[k]->graph, body) && add_implicit_input(s, p, n->inputs[k], d))
                return KDC_ERR;
        for (int a = 0; a < n->n_attrs; a++) {
            const Attr *at = &n->attrs[a];
            if (at->kind == ATTR_GRAPH && at->g && ctl_add_outer_values(s, p, at->g, body, d))
                return KDC_ERR;
            for (int j = 0; at->kind == ATTR_GRAPHS && j < at->n; j++)
                if (ctl_add_outer_values(s, p, at->graphs[j], body, d))
                    return KDC_ERR;
        }
    }
    for (int k = 0; k < g->n_outputs; k++)
        if (!defined_within(g->outputs[k]->graph, body) && add_implicit_input(s, p, g->outputs[k], d))
            return KDC_ERR;
    return KDC_OK;
}

/* Plans body g whose inputs have the given types, after checking that it
 * has `n_in` tensor inputs and `n_out` outputs. */
static Status plan_body(Step *s, Plan *p, Graph *g, int n_in, const DType *dts, const Shape *shapes, int n_out,
                        Plan **out, Diag *d)
{
    if (g->n_inputs != n_in || g->n_outputs != n_out)
        return rt_op_error(s, d, "the body '%s' has %d inputs and %d outputs; the node needs %d and %d",
                           g->name ? g->name : "", g->n_inputs, g->n_outputs, n_in, n_out);
    for (int k = 0; k < n_in; k++) {
        if (g->inputs[k]->init)
            return rt_op_error(s, d, "body input '%s' has an initializer; the node gives every body input",
                               g->inputs[k]->name);
    }
    if (ctl_add_outer_values(s, p, g, g, d))
        return KDC_ERR;
    if (rt_plan_child(p, g, dts, shapes, out, d))
        return diag_prefix(d, "node '%s' (%s), body '%s'", s->node->name, s->node->op_type, g->name ? g->name : "");
    return KDC_OK;
}

/* Body tensors that view a value of an enclosing plan take its storage now:
 * the enclosing plan lays out its buffers after the body is planned. */
Status ctl_run_body(Plan *body, Diag *d)
{
    for (int i = 0; i < body->n_tensors; i++) {
        RtTensor *t = &body->tensors[i];
        if (t->alias_of && (t->alias_of < body->tensors || t->alias_of >= body->tensors + body->n_tensors))
            t->data = t->alias_of->data;
    }
    return plan_forward(body, d);
}

/* A shape of rank `rank` whose elements are all 1 when the body declares
 * one like that (exporters write [1] for scalars), else a scalar. */
Shape ctl_scalar_like(const Value *declared)
{
    Shape s = {.rank = 0};
    if (declared->kind == TYPE_TENSOR && declared->shape.rank > 0 && shape_numel(&declared->shape) == 1)
        s = declared->shape;
    return s;
}

Status ctl_read_flag(const Step *s, const RtTensor *t, const char *what, bool *out, Diag *d)
{
    if (t->numel != 1 || (t->dtype != DT_BOOL && t->dtype != DT_UINT8))
        return rt_op_error(s, d, "%s is %s of %lld elements; it must be one bool", what, dtype_name(t->dtype),
                           (long long)t->numel);
    *out = t->data && *(const uint8_t *)t->data != 0;
    return KDC_OK;
}

/* ---- If ---- */

typedef struct IfState {
    Plan *branch[2]; /* else, then; NULL when the condition rules it out at build time */
} IfState;

static Status if_check_branches(const Step *s, const IfState *st, Diag *d)
{
    for (int k = 0; k < s->n_out; k++) {
        const RtTensor *a = st->branch[1]->outputs[k], *b = st->branch[0]->outputs[k];
        if (ctl_same_type(a, b))
            continue;
        char at[128], bt[128];
        ctl_shape_text(a, at, sizeof at);
        ctl_shape_text(b, bt, sizeof bt);
        return rt_op_error(s, d,
                           "output %d is %s in then_branch but %s in else_branch; both branches must give "
                           "one type and shape",
                           k, at, bt);
    }
    return KDC_OK;
}

/* A branch giving a sequence or optional needs the condition when planning. */
static Status if_check_containers(const Step *s, Plan *p, const IfState *st, Diag *d)
{
    for (int k = 0; k < s->n_out; k++)
        for (int b = 0; b < 2; b++)
            if (st->branch[b]->outputs[k]->holds != HOLDS_TENSOR) {
                p->wanted_values = true;
                return rt_op_error(s, d,
                                   "output %d is %s, computed when the plan is built, but the condition is "
                                   "known only when it runs",
                                   k, holds_name(st->branch[b]->outputs[k]->holds));
            }
    return KDC_OK;
}

static Status if_prepare(Step *s, Plan *p, Diag *d)
{
    IfState *st = rt_state_alloc(s, sizeof *st, d);
    Graph *g[2] = {NULL, NULL};
    bool cond = false;
    if (!st || body_attr(s, "else_branch", &g[0], d) || body_attr(s, "then_branch", &g[1], d) ||
        ctl_read_flag(s, s->in[0], "the condition", &cond, d))
        return KDC_ERR;
    bool known = s->in[0]->is_const && s->in[0]->data;
    for (int b = 0; b < 2; b++)
        if ((!known || cond == (b == 1)) && plan_body(s, p, g[b], 0, NULL, NULL, s->n_out, &st->branch[b], d))
            return KDC_ERR;
    if (!known && (if_check_containers(s, p, st, d) || if_check_branches(s, st, d)))
        return KDC_ERR;
    const Plan *shown = st->branch[1] ? st->branch[1] : st->branch[0];
    for (int k = 0; k < s->n_out; k++) {
        const RtTensor *from = shown->outputs[k];
        ctl_set_output(s->out[k], from->dtype, &from->shape);
        if (s->out[k] && from->holds != HOLDS_TENSOR) /* the branch plan lives with the step */
            rt_share_container(s->out[k], rt_container(from));
    }
    return KDC_OK;
}

static Status if_forward(Step *s, Plan *p, Diag *d)
{
    (void)p;
    const IfState *st = s->state;
    bool cond;
    if (ctl_read_flag(s, s->in[0], "the condition", &cond, d))
        return KDC_ERR;
    Plan *body = st->branch[cond];
    if (!body)
        return rt_op_error(s, d, "the condition changed from its build-time value");
    if (ctl_run_body(body, d))
        return KDC_ERR;
    for (int k = 0; k < s->n_out; k++)
        if (s->out[k] && s->out[k]->holds == HOLDS_TENSOR) /* prepare handed containers on */
            memcpy(s->out[k]->data, body->outputs[k]->data, ctl_bytes(s->out[k]));
    return KDC_OK;
}

const RtOp rt_op_If = {if_prepare, if_forward, NULL, ~0u, RT_OWN_TYPES};

/* ---- shared by Loop and Scan: carried values and scanned slices ---- */

/* Gives each of the n carried values (typed like body[k]) a scratch slot;
 * returns the scratch floats needed. */
static size_t carry_slots(Item *items, RtTensor *const *body, int n)
{
    size_t at = 0;
    for (int k = 0; k < n; k++) {
        items[k].slot = at;
        items[k].batch_stride = ctl_bytes(body[k]);
        at += (ctl_bytes(body[k]) + 63) & ~(size_t)63;
    }
    return (at + sizeof(float) - 1) / sizeof(float) + 1;
}

/* Copies batch entry b of each carried value into its slot (b = 0 for the
 * body's own tensors and unbatched steps). */
static void carry_store(void *ws, const Item *items, RtTensor *const *from, int n, int64_t b)
{
    for (int k = 0; k < n; k++)
        memcpy((char *)ws + items[k].slot, (const char *)from[k]->data + (size_t)b * items[k].batch_stride,
               items[k].batch_stride);
}

static void carry_load(const void *ws, const Item *items, RtTensor *const *to, int n, int64_t b)
{
    for (int k = 0; k < n; k++)
        if (to[k])
            memcpy((char *)to[k]->data + (size_t)b * items[k].batch_stride, (const char *)ws + items[k].slot,
                   items[k].batch_stride);
}

/* Element layout of t scanned along axis: `len` slices of outer x inner bytes. */
static void scan_geometry(Item *it, const RtTensor *t, int axis, bool reverse)
{
    it->outer = rt_data_span(t, 0, axis);
    it->inner = (size_t)rt_data_span(t, axis + 1, t->shape.rank) * dtype_size(t->dtype);
    it->reverse = reverse;
    it->batch_stride = 0;
}

static void slice_read(const Item *it, int64_t len, int64_t i, const void *whole, void *slice)
{
    int64_t at = it->reverse ? len - 1 - i : i;
    for (int64_t o = 0; o < it->outer; o++)
        memcpy((char *)slice + (size_t)o * it->inner, (const char *)whole + ((size_t)(o * len + at)) * it->inner,
               it->inner);
}

static void slice_write(const Item *it, int64_t len, int64_t i, const void *slice, void *whole)
{
    int64_t at = it->reverse ? len - 1 - i : i;
    for (int64_t o = 0; o < it->outer; o++)
        memcpy((char *)whole + ((size_t)(o * len + at)) * it->inner, (const char *)slice + (size_t)o * it->inner,
               it->inner);
}

Status ctl_carried_error(const Step *s, int k, const RtTensor *in, const RtTensor *out, const char *rule, Diag *d)
{
    char a[128], b[128];
    ctl_shape_text(in, a, sizeof a);
    ctl_shape_text(out, b, sizeof b);
    return rt_op_error(s, d, "loop-carried value %d ('%s') enters the body as %s and leaves it as %s; %s", k,
                       out->value->name, a, b, rule);
}

/* Body output out[k] must keep the type of the carried value in[k]. */
static Status check_carried(const Step *s, RtTensor *const *in, RtTensor *const *out, int n, Diag *d)
{
    for (int k = 0; k < n; k++)
        if (!ctl_same_type(in[k], out[k]))
            return ctl_carried_error(s, k, in[k], out[k], "kdc needs loop-carried types and shapes fixed", d);
    return KDC_OK;
}

/* Output shape of a scanned body output: its shape with len inserted at axis. */
Shape ctl_stacked_shape(const RtTensor *per_iter, int axis, int64_t len)
{
    Shape s = {.rank = per_iter->shape.rank + 1};
    for (int i = 0, j = 0; i < s.rank; i++)
        s.dims[i] = i == axis ? (Dim){len, NULL} : per_iter->shape.dims[j++];
    return s;
}

/* ---- Loop ---- */

static Status loop_trips(Step *s, Plan *p, LoopState *st, Diag *d)
{
    const RtTensor *m = s->in[0];
    st->trips = -1;
    if (m && (m->numel != 1 || m->dtype != DT_INT64))
        return rt_op_error(s, d, "the trip count M is %s of %lld elements; it must be one int64", dtype_name(m->dtype),
                           (long long)m->numel);
    if (!st->n_scan)
        return KDC_OK;
    if (!m)
        return rt_op_error(s, d, "has scan outputs but no trip count M; kdc needs M to size them");
    if (!m->is_const || !m->data) {
        p->wanted_values = true;
        return rt_op_error(s, d,
                           "the trip count M is computed at run time, so the size of the scan outputs is not "
                           "known when planning");
    }
    st->trips = *(const int64_t *)m->data > 0 ? *(const int64_t *)m->data : 0;
    return KDC_OK;
}

Status ctl_loop_start(const Step *s, int64_t *trips, bool *cond, Diag *d)
{
    *trips = s->in[0] ? *(const int64_t *)s->in[0]->data : INT64_MAX;
    *cond = true;
    return s->in[1] ? ctl_read_flag(s, s->in[1], "the condition", cond, d) : KDC_OK;
}

/* Types of the body's inputs for the first iteration. */
static Status loop_body_types(Step *s, const LoopState *st, const Graph *g, DType *dts, Shape *shapes, Diag *d)
{
    int n = st->n_carried + 2;
    if (g->n_inputs != n)
        return rt_op_error(s, d, "the body has %d inputs; with %d loop-carried values it needs %d", g->n_inputs,
                           st->n_carried, n);
    dts[0] = DT_INT64;
    dts[1] = DT_BOOL;
    shapes[0] = ctl_scalar_like(g->inputs[0]);
    shapes[1] = ctl_scalar_like(g->inputs[1]);
    for (int k = 0; k < st->n_carried; k++) {
        if (!s->in[2 + k])
            return rt_op_error(s, d, "loop-carried value %d has no initial value", k);
        dts[2 + k] = s->in[2 + k]->dtype;
        shapes[2 + k] = s->in[2 + k]->shape;
    }
    return KDC_OK;
}

/* Carried values keep their type; from opset 11 their shape may change,
 * which *varies reports. */
static Status loop_check_carried(const Step *s, const LoopState *st, bool *varies, Diag *d)
{
    RtTensor *const *in = st->body->inputs + 2, *const *out = st->body->outputs + 1;
    for (int k = 0; k < st->n_carried; k++) {
        if (in[k]->dtype != out[k]->dtype)
            return ctl_carried_error(s, k, in[k], out[k], "a loop-carried value keeps its type", d);
        if (ctl_same_type(in[k], out[k]))
            continue;
        if (s->node->opset < 11)
            return ctl_carried_error(s, k, in[k], out[k], "Loop before opset 11 keeps loop-carried shapes fixed", d);
        *varies = true;
    }
    return KDC_OK;
}

/* Plans the body once for fixed shapes. *dynamic when it has no such plan
 * but may have one per iteration: a shape in it needs a run-time value
 * (st->body stays NULL), or a carried value changes shape (st->body is the
 * plan for the first iteration). */
static Status loop_plan_body(Step *s, Plan *p, LoopState *st, bool *dynamic, Diag *d)
{
    int n = st->n_carried + 2;
    DType dts[n];
    Shape shapes[n];
    if (loop_body_types(s, st, st->graph, dts, shapes, d))
        return KDC_ERR;
    bool wanted_before = p->wanted_values;
    p->wanted_values = false;
    Status rc = plan_body(s, p, st->graph, n, dts, shapes, 1 + st->n_carried + st->n_scan, &st->body, d);
    bool wants = p->wanted_values;
    p->wanted_values = wanted_before;
    if (rc) {
        *dynamic = wants;
        st->level = LOOP_BIND_ITER;
        return wants ? KDC_OK : KDC_ERR;
    }
    bool unused;
    if (ctl_read_flag(s, st->body->outputs[0], "the body's condition output", &unused, d) ||
        loop_check_carried(s, st, dynamic, d))
        return KDC_ERR;
    return KDC_OK;
}

static bool loop_carries_containers(const Step *s)
{
    for (int i = 2; i < s->node->n_inputs; i++)
        if (s->in[i] && s->in[i]->holds != HOLDS_TENSOR)
            return true;
    return false;
}

/* Sequences and optionals are computed when planning: the whole loop runs
 * then, each body planned with all its inputs bound (op_control_dynamic.c). */
static Status loop_prepare_containers(Step *s, Plan *p, LoopState *st, Diag *d)
{
    if (ctl_add_outer_values(s, p, st->graph, st->graph, d) || rt_inputs_known(s, p, d))
        return KDC_ERR;
    st->level = LOOP_BIND_ALL;
    return ctl_loop_prepare_dynamic(s, p, st, d);
}

static Status loop_prepare(Step *s, Plan *p, Diag *d)
{
    int n_carried = s->node->n_inputs - 2, n_scan = s->n_out - n_carried;
    if (n_carried < 0)
        return rt_op_error(s, d, "%d inputs; Loop takes M, cond and the loop-carried values", s->node->n_inputs);
    if (n_scan < 0)
        return rt_op_error(s, d, "%d outputs for %d loop-carried values", s->n_out, n_carried);
    LoopState *st = rt_state_alloc(s, sizeof *st + (size_t)s->n_out * sizeof(Item), d);
    if (!st || body_attr(s, "body", &st->graph, d))
        return KDC_ERR;
    st->n_carried = n_carried;
    st->n_scan = n_scan;
    bool dynamic = false;
    if ((s->in[1] && ctl_read_flag(s, s->in[1], "the condition", &(bool){false}, d)) || loop_trips(s, p, st, d))
        return KDC_ERR;
    if (loop_carries_containers(s))
        return loop_prepare_containers(s, p, st, d);
    if (loop_plan_body(s, p, st, &dynamic, d))
        return KDC_ERR;
    if (dynamic)
        return ctl_loop_prepare_dynamic(s, p, st, d);
    for (int k = 0; k < n_carried; k++)
        ctl_set_output(s->out[k], s->in[2 + k]->dtype, &s->in[2 + k]->shape);
    for (int j = 0; j < n_scan; j++) {
        const RtTensor *per_iter = st->body->outputs[1 + n_carried + j];
        Shape sh = ctl_stacked_shape(per_iter, 0, st->trips);
        ctl_set_output(s->out[n_carried + j], per_iter->dtype, &sh);
        st->items[n_carried + j] = (Item){.outer = 1, .inner = ctl_bytes(per_iter)};
    }
    s->ws_floats = carry_slots(st->items, st->body->inputs + 2, n_carried);
    return KDC_OK;
}

static void loop_emit_scans(Step *s, const LoopState *st, int64_t i)
{
    for (int j = 0; j < st->n_scan; j++) {
        RtTensor *out = s->out[st->n_carried + j];
        if (out)
            slice_write(&st->items[st->n_carried + j], st->trips, i, st->body->outputs[1 + st->n_carried + j]->data,
                        out->data);
    }
}

static Status loop_forward(Step *s, Plan *p, Diag *d)
{
    const LoopState *st = s->state;
    if (st->dynamic)
        return ctl_loop_forward_dynamic(s, p, d);
    Plan *body = st->body;
    int64_t trips;
    bool cond;
    if (ctl_loop_start(s, &trips, &cond, d))
        return KDC_ERR;
    if (st->trips >= 0 && trips != st->trips)
        return rt_op_error(s, d, "the trip count is %lld but the plan was built for %lld", (long long)trips,
                           (long long)st->trips);
    carry_store(p->ws, st->items, s->in + 2, st->n_carried, 0);
    int64_t i = 0;
    for (; i < trips && cond; i++) {
        *(int64_t *)body->inputs[0]->data = i;
        *(uint8_t *)body->inputs[1]->data = cond;
        carry_load(p->ws, st->items, body->inputs + 2, st->n_carried, 0);
        if (ctl_run_body(body, d))
            return KDC_ERR;
        cond = *(const uint8_t *)body->outputs[0]->data != 0;
        carry_store(p->ws, st->items, body->outputs + 1, st->n_carried, 0);
        loop_emit_scans(s, st, i);
    }
    if (st->n_scan && i < st->trips)
        return rt_op_error(s, d,
                           "the condition stopped the loop after %lld of %lld iterations; the scan outputs "
                           "were planned for all of them",
                           (long long)i, (long long)st->trips);
    carry_load(p->ws, st->items, s->out, st->n_carried, 0);
    return KDC_OK;
}

const RtOp rt_op_Loop = {loop_prepare, loop_forward, NULL, ~0u, RT_OWN_TYPES | RT_CONTAINERS};

/* ---- Scan ---- */

/* From opset 9 Scan runs along any axis of whole tensors. Before, input 0
 * is sequence_lens, states and scan inputs carry a batch dim 0, the scan
 * runs along dim 1 and the body runs once per batch entry. */
typedef struct ScanState {
    Plan *body;
    int first;                /* 1 before opset 9: input 0 is sequence_lens */
    int n_state, n_in, n_out; /* states, scan inputs, scan outputs */
    int64_t batch, len;
    Item items[]; /* states, then scan inputs, then scan outputs */
} ScanState;

/* Attribute list `name` entry k (default 0), normalized against rank. */
static Status scan_axis(const Step *s, const char *name, int k, int rank, int *axis, Diag *d)
{
    int count = 0;
    const int64_t *v = node_attr_ints(s->node, name, &count);
    int64_t a = v && k < count ? v[k] : 0;
    if (a < -rank || a >= rank)
        return rt_op_error(s, d, "%s[%d] = %lld is out of range for rank %d", name, k, (long long)a, rank);
    *axis = (int)(a < 0 ? a + rank : a);
    return KDC_OK;
}

static bool scan_reversed(const Step *s, const char *name, int k)
{
    int count = 0;
    const int64_t *v = node_attr_ints(s->node, name, &count);
    return v && k < count && v[k] == 1;
}

/* Shape of one batch entry of step input t (all of t when not batched). */
static Status scan_entry_shape(const Step *s, const ScanState *st, const RtTensor *t, Shape *out, Diag *d)
{
    *out = t->shape;
    if (!st->first)
        return KDC_OK;
    if (t->shape.rank < 1 || t->shape.dims[0].value != st->batch)
        return rt_op_error(s, d, "input '%s' does not have the batch size %lld as dim 0", t->value->name,
                           (long long)st->batch);
    out->rank--;
    memmove(out->dims, out->dims + 1, (size_t)out->rank * sizeof out->dims[0]);
    return KDC_OK;
}

/* Scan input j's slice type and its geometry; all scan inputs share one length. */
static Status scan_input_slice(Step *s, ScanState *st, int j, DType *dt, Shape *slice, Diag *d)
{
    const RtTensor *t = s->in[st->first + st->n_state + j];
    RtTensor entry = {.dtype = t->dtype};
    int axis = 0;
    if (scan_entry_shape(s, st, t, &entry.shape, d) ||
        (!st->first && scan_axis(s, "scan_input_axes", j, t->shape.rank, &axis, d)))
        return KDC_ERR;
    if (entry.shape.rank < 1)
        return rt_op_error(s, d, "scan input %d has no axis to scan", j);
    int64_t len = entry.shape.dims[axis].value;
    if (j > 0 && len != st->len)
        return rt_op_error(s, d, "scan input %d has %lld slices along its axis but scan input 0 has %lld", j,
                           (long long)len, (long long)st->len);
    st->len = len;
    entry.numel = shape_numel(&entry.shape);
    Item *it = &st->items[st->n_state + j];
    scan_geometry(it, &entry, axis, scan_reversed(s, st->first ? "directions" : "scan_input_directions", j));
    it->batch_stride = ctl_bytes(&entry);
    *dt = t->dtype;
    slice->rank = entry.shape.rank - 1;
    for (int i = 0, k = 0; i < entry.shape.rank; i++)
        if (i != axis)
            slice->dims[k++] = entry.shape.dims[i];
    return KDC_OK;
}

static Status scan_plan_body(Step *s, Plan *p, ScanState *st, Diag *d)
{
    Graph *g = NULL;
    int n = st->n_state + st->n_in;
    DType dts[n];
    Shape shapes[n];
    if (body_attr(s, "body", &g, d))
        return KDC_ERR;
    for (int k = 0; k < st->n_state; k++) {
        dts[k] = s->in[st->first + k]->dtype;
        if (scan_entry_shape(s, st, s->in[st->first + k], &shapes[k], d))
            return KDC_ERR;
    }
    for (int j = 0; j < st->n_in; j++)
        if (scan_input_slice(s, st, j, &dts[st->n_state + j], &shapes[st->n_state + j], d))
            return KDC_ERR;
    if (plan_body(s, p, g, n, dts, shapes, st->n_state + st->n_out, &st->body, d))
        return KDC_ERR;
    return check_carried(s, st->body->inputs, st->body->outputs, st->n_state, d);
}

/* Scan output j: the body's per-iteration output stacked along its axis
 * (dim 1 after the batch dim when batched). */
static Status scan_output(Step *s, ScanState *st, int j, Diag *d)
{
    const RtTensor *per_iter = st->body->outputs[st->n_state + j];
    int axis = 0;
    if (!st->first && scan_axis(s, "scan_output_axes", j, per_iter->shape.rank + 1, &axis, d))
        return KDC_ERR;
    RtTensor entry = {.dtype = per_iter->dtype, .shape = ctl_stacked_shape(per_iter, axis, st->len)};
    entry.numel = shape_numel(&entry.shape);
    Item *it = &st->items[st->n_state + st->n_in + j];
    scan_geometry(it, &entry, axis, !st->first && scan_reversed(s, "scan_output_directions", j));
    it->batch_stride = ctl_bytes(&entry);
    Shape full = entry.shape;
    if (st->first) {
        if (full.rank + 1 > IR_MAX_RANK)
            return rt_op_error(s, d, "scan output %d has more than %d dims", j, IR_MAX_RANK);
        memmove(full.dims + 1, full.dims, (size_t)full.rank * sizeof full.dims[0]);
        full.dims[0] = (Dim){st->batch, NULL};
        full.rank++;
    }
    ctl_set_output(s->out[st->n_state + j], per_iter->dtype, &full);
    return KDC_OK;
}

static Status scan_counts(Step *s, int *first, int *n_state, int *n_in, Diag *d)
{
    *first = s->node->opset < 9;
    *n_in = (int)node_attr_int(s->node, "num_scan_inputs", 0);
    *n_state = s->node->n_inputs - *first - *n_in;
    if (*n_in < 1 || *n_state < 0 || s->n_out < *n_state)
        return rt_op_error(s, d, "num_scan_inputs %d does not fit %d inputs and %d outputs", *n_in, s->node->n_inputs,
                           s->n_out);
    for (int i = *first; i < s->node->n_inputs; i++)
        if (!s->in[i])
            return rt_op_error(s, d, "input %d is empty", i);
    const RtTensor *lens = *first ? s->in[0] : NULL;
    if (lens && lens->dtype != DT_INT64)
        return rt_op_error(s, d, "sequence_lens has type %s; it must be int64", dtype_name(lens->dtype));
    return KDC_OK;
}

static Status scan_prepare(Step *s, Plan *p, Diag *d)
{
    int first, n_state, n_in;
    if (scan_counts(s, &first, &n_state, &n_in, d))
        return KDC_ERR;
    ScanState *st = rt_state_alloc(s, sizeof *st + (size_t)(n_state + n_in + s->n_out) * sizeof(Item), d);
    if (!st)
        return KDC_ERR;
    *st = (ScanState){.first = first, .n_state = n_state, .n_in = n_in, .n_out = s->n_out - n_state, .batch = 1};
    const RtTensor *x0 = s->in[first + n_state];
    if (first)
        st->batch = x0->shape.rank > 0 ? x0->shape.dims[0].value : 0;
    if (first && s->in[0] && s->in[0]->numel != st->batch)
        return rt_op_error(s, d, "sequence_lens has %lld entries for a batch of %lld", (long long)s->in[0]->numel,
                           (long long)st->batch);
    if (scan_plan_body(s, p, st, d))
        return KDC_ERR;
    for (int k = 0; k < n_state; k++)
        ctl_set_output(s->out[k], s->in[first + k]->dtype, &s->in[first + k]->shape);
    for (int j = 0; j < st->n_out; j++)
        if (scan_output(s, st, j, d))
            return KDC_ERR;
    s->ws_floats = carry_slots(st->items, st->body->inputs, n_state);
    return KDC_OK;
}

/* Runs the scan over batch entry b. */
static Status scan_entry(Step *s, const ScanState *st, void *ws, int64_t b, Diag *d)
{
    Plan *body = st->body;
    const Item *in_items = st->items + st->n_state, *out_items = in_items + st->n_in;
    carry_store(ws, st->items, s->in + st->first, st->n_state, b);
    for (int64_t i = 0; i < st->len; i++) {
        carry_load(ws, st->items, body->inputs, st->n_state, 0);
        for (int j = 0; j < st->n_in; j++)
            slice_read(&in_items[j], st->len, i,
                       (const char *)s->in[st->first + st->n_state + j]->data + (size_t)b * in_items[j].batch_stride,
                       body->inputs[st->n_state + j]->data);
        if (ctl_run_body(body, d))
            return KDC_ERR;
        carry_store(ws, st->items, body->outputs, st->n_state, 0);
        for (int j = 0; j < st->n_out; j++)
            if (s->out[st->n_state + j])
                slice_write(&out_items[j], st->len, i, body->outputs[st->n_state + j]->data,
                            (char *)s->out[st->n_state + j]->data + (size_t)b * out_items[j].batch_stride);
    }
    carry_load(ws, st->items, s->out, st->n_state, b);
    return KDC_OK;
}

static Status scan_forward(Step *s, Plan *p, Diag *d)
{
    const ScanState *st = s->state;
    const RtTensor *lens = st->first ? s->in[0] : NULL;
    for (int64_t b = 0; lens && b < st->batch; b++)
        if (((const int64_t *)lens->data)[b] != st->len)
            return rt_op_error(s, d, "sequence_lens[%lld] is %lld; kdc scans full-length sequences (%lld) only",
                               (long long)b, (long long)((const int64_t *)lens->data)[b], (long long)st->len);
    for (int64_t b = 0; b < st->batch; b++)
        if (scan_entry(s, st, p->ws, b, d))
            return KDC_ERR;
    return KDC_OK;
}

const RtOp rt_op_Scan = {scan_prepare, scan_forward, NULL, ~0u, RT_OWN_TYPES};
