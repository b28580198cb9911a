/* op_control_dynamic.c - Loop bodies without one plan of fixed shapes: a
 * shape in the body depends on a value known only when the loop runs (a
 * Slice bounded by the iteration number, a Reshape to a loop-carried shape
 * tensor), or a loop-carried value changes shape from one iteration to the
 * next (allowed from opset 11).
 *
 * Such a body is planned per iteration with some of its inputs BOUND to
 * their values (rt_plan_child_bound, plan_build_with_values for a body):
 * the condition (always true when the body runs) from LOOP_BIND_COND on,
 * the iteration number from LOOP_BIND_ITER, the loop-carried values at
 * LOOP_BIND_ALL. A build that still needs a run-time value raises the
 * step's level for good. Plans stay in a small cache in the step's state
 * (LOOP_CACHE, round-robin eviction), found again by what they were built
 * for: the types and shapes of the body inputs and the data of the bound
 * ones, so one plan serves every iteration it fits, across runs.
 *
 * The enclosing plan lays out fixed buffers, so the Loop's output shapes
 * must be known when it is planned. Prepare measures them by walking the
 * loop: with the data when every input of the step (implicit outer values
 * included) is known at build time - constants, initializers, or graph
 * inputs bound by plan_build_with_values, the case of a Loop at the top
 * level fed by graph inputs - or else on shapes alone, which needs a
 * build-time trip count and a body whose shapes follow from the iteration
 * number and the carried shapes. Otherwise it fails asking the enclosing
 * build to bind values (Plan.wanted_values). Forward runs the loop again
 * and refuses an iteration count or a shape that differs from the planned
 * one; scan outputs keep one type and shape in every iteration, as ONNX
 * requires. Carried values live in the step's scratch, each in a slot as
 * large as the largest value measured. Unlike the fixed-shape path of
 * op_control.c this one allocates while running: a plan on a cache miss.
 */
#include "runtime/op_control.h"

#include "ir/container.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One walk over the loop, in prepare (measuring) or forward. */
typedef struct LoopRun {
    Step *s;
    Plan *p;
    LoopState *st;
    RtTensor *carried; /* current values (bytes: the room at data) */
    RtTensor *scans;   /* per-iteration type of each scan output, from iteration 0 */
    bool measuring;
    bool known;   /* values flow; else a walk over shapes (carried data NULL), bodies not run */
    int64_t done; /* iterations run */
} LoopRun;

static Tensor tensor_view(DType dt, const Shape *s, void *data)
{
    Tensor t = {.dtype = dt, .rank = s->rank, .data = data};
    for (int i = 0; i < s->rank; i++)
        t.dims[i] = s->dims[i].value;
    t.nbytes = (size_t)shape_numel(s) * dtype_size(dt);
    return t;
}

/* The body's input types and values for iteration *iter. */
static void body_inputs(const LoopRun *r, int64_t *iter, uint8_t *yes, DType *dts, Shape *shapes, Tensor *vals)
{
    const Graph *g = r->st->graph;
    dts[0] = DT_INT64;
    dts[1] = DT_BOOL;
    shapes[0] = ctl_scalar_like(g->inputs[0]);
    shapes[1] = ctl_scalar_like(g->inputs[1]);
    vals[0] = tensor_view(DT_INT64, &shapes[0], iter);
    vals[1] = tensor_view(DT_BOOL, &shapes[1], yes);
    for (int k = 0; k < r->st->n_carried; k++) {
        const RtTensor *c = &r->carried[k];
        dts[2 + k] = c->dtype;
        shapes[2 + k] = c->shape;
        vals[2 + k] = c->holds != HOLDS_TENSOR ? *rt_container(c) : tensor_view(c->dtype, &c->shape, c->data);
    }
}

/* A plan fits when its inputs have these types and its bound inputs hold these values. */
static bool plan_fits(const Plan *b, const Tensor *vals, int n)
{
    for (int k = 0; k < n; k++) {
        const RtTensor *t = b->inputs[k];
        if (t->holds != vals[k].holds)
            return false;
        if (t->holds != HOLDS_TENSOR) {
            if (!container_equal(rt_container(t), &vals[k]))
                return false;
            continue;
        }
        if (t->dtype != vals[k].dtype || t->shape.rank != vals[k].rank)
            return false;
        for (int i = 0; i < t->shape.rank; i++)
            if (t->shape.dims[i].value != vals[k].dims[i])
                return false;
        if (t->is_const && (!vals[k].data || memcmp(t->data, vals[k].data, vals[k].nbytes)))
            return false;
    }
    return true;
}

static void cache_put(LoopState *st, Plan *p, Plan *b)
{
    if (st->n_cached < LOOP_CACHE) {
        st->cache[st->n_cached++] = b;
        return;
    }
    rt_plan_child_free(p, st->cache[st->victim]);
    st->cache[st->victim] = b;
    st->victim = (st->victim + 1) % LOOP_CACHE;
}

/* Plans the body binding the inputs of `level`; *wants: it failed for lack
 * of a run-time value (the enclosing plan's flag is left as it was). */
static Status build_at(LoopRun *r, int level, const DType *dts, const Shape *shapes, const Tensor *vals, Plan **out,
                       bool *wants, Diag *d)
{
    int n = r->st->n_carried + 2;
    const Tensor *bind[n];
    for (int k = 0; k < n; k++) {
        int needs = k == 1 ? LOOP_BIND_COND : k == 0 ? LOOP_BIND_ITER : LOOP_BIND_ALL;
        bind[k] = level >= needs ? &vals[k] : NULL;
    }
    bool before = r->p->wanted_values;
    r->p->wanted_values = false;
    Status rc = rt_plan_child_bound(r->p, r->st->graph, dts, shapes, bind, out, d);
    *wants = r->p->wanted_values;
    r->p->wanted_values = before;
    return rc;
}

/* The body plan for iteration i: cached, or built at the lowest level that
 * resolves every shape (LOOP_BIND_ALL only when the carried data is known). */
static Status plan_for(LoopRun *r, int64_t i, const DType *dts, const Shape *shapes, const Tensor *vals, Plan **out,
                       Diag *d)
{
    LoopState *st = r->st;
    int n = st->n_carried + 2;
    for (int c = 0; c < st->n_cached; c++)
        if (plan_fits(st->cache[c], vals, n)) {
            *out = st->cache[c];
            return KDC_OK;
        }
    int top = r->known ? LOOP_BIND_ALL : LOOP_BIND_ITER;
    for (;;) {
        bool wants = false;
        if (!build_at(r, st->level, dts, shapes, vals, out, &wants, d))
            break;
        if (!wants || st->level >= top) {
            r->p->wanted_values |= wants;
            return diag_prefix(d, "node '%s' (%s), body '%s', iteration %lld", r->s->node->name, r->s->node->op_type,
                               st->graph->name ? st->graph->name : "", (long long)i);
        }
        st->level++;
    }
    cache_put(st, r->p, *out);
    return KDC_OK;
}

/* Plans iteration i and, when the values are known, runs it. */
static Status run_iteration(LoopRun *r, int64_t i, Plan **out, Diag *d)
{
    int n = r->st->n_carried + 2;
    int64_t iter = i;
    uint8_t yes = 1;
    DType dts[n];
    Shape shapes[n];
    Tensor vals[n];
    body_inputs(r, &iter, &yes, dts, shapes, vals);
    if (plan_for(r, i, dts, shapes, vals, out, d))
        return KDC_ERR;
    if (!r->known)
        return KDC_OK;
    for (int k = 0; k < n; k++)
        if (!(*out)->inputs[k]->is_const)
            memcpy((*out)->inputs[k]->data, vals[k].data, vals[k].nbytes);
    return ctl_run_body(*out, d);
}

/* The condition for the next iteration; walking shapes only, a condition
 * computed at run time counts as true (forward checks the count). */
static Status next_cond(const LoopRun *r, const Plan *b, bool *cond, Diag *d)
{
    const RtTensor *c = b->outputs[0];
    if (ctl_read_flag(r->s, c, "the body's condition output", cond, d))
        return KDC_ERR;
    if (!r->known && !c->is_const)
        *cond = true;
    return KDC_OK;
}

/* A carried sequence or optional after the body: a copy of its new value
 * (the body's plan may leave the cache). */
static Status take_container(LoopRun *r, int k, const RtTensor *out, Diag *d)
{
    RtTensor *c = &r->carried[k];
    if (out->holds == HOLDS_TENSOR || c->holds == HOLDS_TENSOR)
        return ctl_carried_error(r->s, k, c, out, "a loop-carried value stays a tensor or stays a container", d);
    Tensor *v = container_copy(rt_container(out));
    if (!v)
        return diag_error(d, "out of memory");
    free(c->data);
    c->data = v;
    c->holds = out->holds;
    c->dtype = out->dtype;
    return KDC_OK;
}

/* Carried value k after the body: out's type, a copy of its data. */
static Status take_carried(LoopRun *r, int k, const RtTensor *out, Diag *d)
{
    RtTensor *c = &r->carried[k];
    if (out->holds != HOLDS_TENSOR || c->holds != HOLDS_TENSOR)
        return take_container(r, k, out, d);
    if (out->dtype != c->dtype)
        return ctl_carried_error(r->s, k, c, out, "a loop-carried value keeps its type", d);
    if (!ctl_same_type(c, out) && r->s->node->opset < 11)
        return ctl_carried_error(r->s, k, c, out, "Loop before opset 11 keeps loop-carried shapes fixed", d);
    size_t bytes = ctl_bytes(out);
    if (c->data && bytes > c->bytes && !r->measuring)
        return rt_op_error(r->s, d, "loop-carried value %d grew to %zu bytes, more than the %zu measured when planning",
                           k, bytes, c->bytes);
    if (c->data && bytes > c->bytes) {
        void *grown = realloc(c->data, bytes);
        if (!grown)
            return diag_error(d, "out of memory");
        c->data = grown;
        c->bytes = bytes;
    }
    if (c->data)
        memcpy(c->data, out->data, bytes);
    c->shape = out->shape;
    c->numel = out->numel;
    if (r->measuring && bytes > r->st->items[k].cap)
        r->st->items[k].cap = bytes;
    return KDC_OK;
}

/* The planned output `whole` has one row of type `row` per iteration. */
static bool row_fits(const RtTensor *whole, const RtTensor *row)
{
    if (whole->dtype != row->dtype || whole->shape.rank != row->shape.rank + 1)
        return false;
    for (int i = 0; i < row->shape.rank; i++)
        if (whole->shape.dims[i + 1].value != row->shape.dims[i].value)
            return false;
    return true;
}

/* Scan output j of iteration i: same type as in iteration 0; forward writes its row. */
static Status take_scan(LoopRun *r, int j, const RtTensor *out, int64_t i, Diag *d)
{
    RtTensor *first = &r->scans[j];
    char a[128], b[128];
    if (i == 0)
        *first = (RtTensor){.value = out->value, .dtype = out->dtype, .shape = out->shape, .numel = out->numel};
    if (!ctl_same_type(first, out)) {
        ctl_shape_text(first, a, sizeof a);
        ctl_shape_text(out, b, sizeof b);
        return rt_op_error(r->s, d,
                           "scan output %d ('%s') is %s in iteration 0 but %s in iteration %lld; a scan output "
                           "keeps one type and shape in every iteration",
                           j, out->value->name, a, b, (long long)i);
    }
    RtTensor *whole = r->s->out[r->st->n_carried + j];
    if (r->measuring || !whole)
        return KDC_OK;
    if (!row_fits(whole, out) || i >= r->st->trips) {
        ctl_shape_text(out, a, sizeof a);
        ctl_shape_text(whole, b, sizeof b);
        return rt_op_error(r->s, d, "scan output %d gets %s in iteration %lld but the plan was built for %s", j, a,
                           (long long)i, b);
    }
    memcpy((char *)whole->data + (size_t)i * ctl_bytes(out), out->data, ctl_bytes(out));
    return KDC_OK;
}

static Status iterate(LoopRun *r, int64_t trips, bool cond, Diag *d)
{
    int nc = r->st->n_carried;
    for (int64_t i = 0; i < trips && cond; i++) {
        Plan *b;
        if (run_iteration(r, i, &b, d) || next_cond(r, b, &cond, d))
            return KDC_ERR;
        for (int j = 0; j < r->st->n_scan; j++)
            if (take_scan(r, j, b->outputs[1 + nc + j], i, d))
                return KDC_ERR;
        for (int k = 0; k < nc; k++)
            if (take_carried(r, k, b->outputs[1 + k], d))
                return KDC_ERR;
        r->done = i + 1;
    }
    return KDC_OK;
}

/* ---- prepare ---- */

/* Every input of the step has its data now (constants, initializers). */
static bool inputs_known(const Step *s)
{
    for (int i = 0; i < s->n_in; i++) {
        const RtTensor *t = s->in[i];
        if (t && !(t->data && (t->is_const || t->value->init)))
            return false;
    }
    return true;
}

/* Trip count and first condition of the measuring walk. */
static Status measure_bounds(const Step *s, Plan *p, bool known, int64_t *trips, bool *cond, Diag *d)
{
    const RtTensor *m = s->in[0], *c = s->in[1];
    if (!known && (!m || !m->is_const || !m->data)) {
        p->wanted_values = true;
        return rt_op_error(s, d,
                           "the body's shapes depend on values computed at run time and the trip count is not "
                           "known when planning, so neither are the loop's output shapes");
    }
    *trips = m ? *(const int64_t *)m->data : INT64_MAX;
    *cond = true;
    if (c && c->is_const && c->data)
        return ctl_read_flag(s, c, "the condition", cond, d);
    return KDC_OK;
}

/* After a loop of no iteration: the scan outputs' types from the plan of iteration 0. */
static Status probe_scans(LoopRun *r, Diag *d)
{
    int n = r->st->n_carried + 2;
    int64_t iter = 0;
    uint8_t yes = 1;
    DType dts[n];
    Shape shapes[n];
    Tensor vals[n];
    Plan *b;
    body_inputs(r, &iter, &yes, dts, shapes, vals);
    if (plan_for(r, 0, dts, shapes, vals, &b, d))
        return KDC_ERR;
    for (int j = 0; j < r->st->n_scan; j++)
        r->scans[j] = *b->outputs[1 + r->st->n_carried + j];
    return KDC_OK;
}

/* Output types from the measuring walk; slots for the carried values. */
static Status set_outputs(LoopRun *r, Diag *d)
{
    Step *s = r->s;
    LoopState *st = r->st;
    int nc = st->n_carried;
    size_t at = 0;
    for (int k = 0; k < nc; k++) {
        ctl_set_output(s->out[k], r->carried[k].dtype, &r->carried[k].shape);
        /* a container is known when planning: the measured value is the output */
        if (s->out[k] && r->carried[k].holds != HOLDS_TENSOR &&
            rt_set_container(r->p, s->out[k], rt_container(&r->carried[k]), d))
            return KDC_ERR;
        st->items[k].slot = at;
        at += (st->items[k].cap + 63) & ~(size_t)63;
    }
    for (int j = 0; j < st->n_scan; j++) {
        if (r->scans[j].shape.rank + 1 > IR_MAX_RANK)
            return rt_op_error(s, d, "scan output %d has more than %d dims", j, IR_MAX_RANK);
        Shape sh = ctl_stacked_shape(&r->scans[j], 0, r->done);
        ctl_set_output(s->out[nc + j], r->scans[j].dtype, &sh);
    }
    st->trips = st->n_scan ? r->done : -1;
    s->ws_floats = (at + sizeof(float) - 1) / sizeof(float) + 1;
    return KDC_OK;
}

/* Carried value k starts as a copy of the container `in` holds. */
static Status start_container(RtTensor *c, const RtTensor *in, Diag *d)
{
    *c = (RtTensor){.value = in->value, .holds = in->holds, .dtype = in->dtype, .shape = in->shape};
    if (!(c->data = container_copy(rt_container(in))))
        return diag_error(d, "out of memory");
    return KDC_OK;
}

/* The carried values' first types and, when known, a copy of their data. */
static Status measure_start(LoopRun *r, Diag *d)
{
    for (int k = 0; k < r->st->n_carried; k++) {
        const RtTensor *in = r->s->in[2 + k];
        RtTensor *c = &r->carried[k];
        if (in->holds != HOLDS_TENSOR) {
            if (start_container(c, in, d))
                return KDC_ERR;
            continue;
        }
        *c = (RtTensor){.value = in->value, .dtype = in->dtype, .shape = in->shape, .numel = in->numel};
        c->bytes = ctl_bytes(in);
        r->st->items[k].cap = c->bytes;
        if (!r->known)
            continue;
        if (!(c->data = malloc(c->bytes + 1)))
            return diag_error(d, "out of memory");
        memcpy(c->data, in->data, c->bytes);
    }
    return KDC_OK;
}

Status ctl_loop_prepare_dynamic(Step *s, Plan *p, LoopState *st, Diag *d)
{
    int nc = st->n_carried;
    RtTensor carried[nc + 1], scans[st->n_scan + 1];
    LoopRun r = {.s = s, .p = p, .st = st, .carried = carried, .scans = scans, .measuring = true};
    memset(carried, 0, sizeof carried);
    st->dynamic = true;
    if (st->body) {
        cache_put(st, p, st->body);
        st->body = NULL;
    }
    r.known = inputs_known(s);
    bool cond = true;
    int64_t trips = 0;
    Status rc = KDC_ERR;
    if (measure_bounds(s, p, r.known, &trips, &cond, d) || measure_start(&r, d) || iterate(&r, trips, cond, d))
        goto fail;
    if (r.done == 0 && st->n_scan && probe_scans(&r, d))
        goto fail;
    rc = set_outputs(&r, d);
fail:
    for (int k = 0; k < nc; k++)
        free(carried[k].data);
    return rc;
}

/* ---- forward ---- */

/* The carried values of a run: tensors in their scratch slots, containers copied. */
static Status forward_start(const Step *s, Plan *p, RtTensor *carried, Diag *d)
{
    const LoopState *st = s->state;
    for (int k = 0; k < st->n_carried; k++) {
        const RtTensor *in = s->in[2 + k];
        if (in->holds != HOLDS_TENSOR) {
            if (start_container(&carried[k], in, d))
                return KDC_ERR;
            continue;
        }
        carried[k] = (RtTensor){.value = in->value, .dtype = in->dtype, .shape = in->shape, .numel = in->numel};
        carried[k].data = (char *)p->ws + st->items[k].slot;
        carried[k].bytes = st->items[k].cap;
        memcpy(carried[k].data, in->data, ctl_bytes(in));
    }
    return KDC_OK;
}

/* The loop's outputs from the final carried values. */
static Status forward_finish(Step *s, const RtTensor *carried, Diag *d)
{
    for (int k = 0; k < ((const LoopState *)s->state)->n_carried; k++) {
        RtTensor *out = s->out[k];
        if (!out)
            continue;
        if (!ctl_same_type(out, &carried[k])) {
            char a[128], b[128];
            ctl_shape_text(&carried[k], a, sizeof a);
            ctl_shape_text(out, b, sizeof b);
            return rt_op_error(s, d, "loop-carried value %d ends as %s but the plan was built for %s", k, a, b);
        }
        if (out->holds == HOLDS_TENSOR) /* prepare gave containers their values */
            memcpy(out->data, carried[k].data, ctl_bytes(out));
    }
    return KDC_OK;
}

Status ctl_loop_forward_dynamic(Step *s, Plan *p, Diag *d)
{
    LoopState *st = s->state;
    int nc = st->n_carried;
    RtTensor carried[nc + 1], scans[st->n_scan + 1];
    memset(carried, 0, sizeof carried);
    LoopRun r = {.s = s, .p = p, .st = st, .carried = carried, .scans = scans, .known = true};
    int64_t trips;
    bool cond;
    Status rc = KDC_ERR;
    if (ctl_loop_start(s, &trips, &cond, d) || forward_start(s, p, carried, d) || iterate(&r, trips, cond, d))
        goto fail;
    if (st->n_scan && r.done != st->trips) {
        rt_op_error(s, d,
                    "the condition stopped the loop after %lld of %lld iterations; the scan outputs "
                    "were planned for all of them",
                    (long long)r.done, (long long)st->trips);
        goto fail;
    }
    rc = forward_finish(s, carried, d);
fail:
    for (int k = 0; k < nc; k++)
        if (carried[k].holds != HOLDS_TENSOR)
            free(carried[k].data);
    return rc;
}
