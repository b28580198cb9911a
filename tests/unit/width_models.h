/* width_models.h - what the width-shrink tests (test_shrink_width*.c,
 * test_channel_groups.c) share: layer builders with predictable weight names
 * ("<layer>.weight", "<layer>.bias", BatchNormalization "<bn>.scale/.B/.mean/
 * .var"), the teachers several tests shrink (a residual CNN with BN, a
 * depthwise conv, an SE gate and a Concat; a multi-head attention block; an
 * MLP with a residual and LayerNormalization), the preparation kdc applies
 * before shrinking (infer, fold, eliminate, infer), running a graph with the
 * interpreter and comparing teacher and student outputs, and ways to see
 * which units survived: a tensor whose entries are numbered (entry e holds
 * e) tells, in the student, which teacher index each slice came from.
 * Header-only (static inline) on top of graph_build.h; include after
 * <cmocka.h>.
 */
#ifndef KDC_TEST_WIDTH_MODELS_H
#define KDC_TEST_WIDTH_MODELS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/stats.h"
#include "passes/channel_groups.h"
#include "passes/passes.h"
#include "runtime/plan.h"
#include "tests/unit/graph_build.h"

#define WM_OPSET 17

/* ---- names and lookups ---- */

/* "<layer>.<part>" in one of a few rotating buffers (graph_add_value copies it). */
static inline const char *wm_name(const char *layer, const char *part)
{
    static char buf[8][96];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s.%s", layer, part);
    return buf[k];
}

static inline Value *wm_find(const Graph *g, const char *name)
{
    Value *v = graph_find_value(g, name);
    if (!v)
        fail_msg("no value '%s'", name);
    return v;
}

static inline Node *wm_node(const Graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->name && !strcmp(g->nodes[i]->name, name))
            return g->nodes[i];
    fail_msg("no node '%s'", name);
    return NULL;
}

/* ---- layers ---- */

/* Uniform weights of variance 1/fan_in, so activations stay near 1 deep in a net. */
static inline Value *wm_weight(Graph *g, const char *name, int rank, const int64_t *dims, int64_t fan_in)
{
    float a = sqrtf(3.0f / (float)fan_in);
    return gb_param(g, name, rank, dims, -a, a);
}

/* k x k Conv with "same" padding; `group` 1 for a plain conv. */
static inline Value *wm_conv(Graph *g, const char *name, Value *x, int64_t cin, int64_t cout, int64_t k, int64_t group)
{
    Value *w = wm_weight(g, wm_name(name, "weight"), 4, (int64_t[]){cout, cin / group, k, k}, cin / group * k * k);
    Value *b = gb_param(g, wm_name(name, "bias"), 1, &cout, -0.5f, 0.5f);
    Node *n = gb_node(g, "Conv", WM_OPSET, name, 3, (Value *[]){x, w, b}, 1);
    gb_set_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    gb_set_ints(n, "pads", 4, (int64_t[]){k / 2, k / 2, k / 2, k / 2});
    if (group != 1)
        gb_set_int(n, "group", group);
    return n->outputs[0];
}

static inline Value *wm_bn(Graph *g, const char *name, Value *x, int64_t ch)
{
    Value *in[5] = {x, gb_param(g, wm_name(name, "scale"), 1, &ch, 0.5f, 1.5f),
                    gb_param(g, wm_name(name, "B"), 1, &ch, -0.5f, 0.5f),
                    gb_param(g, wm_name(name, "mean"), 1, &ch, -0.5f, 0.5f),
                    gb_param(g, wm_name(name, "var"), 1, &ch, 0.5f, 1.5f)};
    return gb_node(g, "BatchNormalization", WM_OPSET, name, 5, in, 1)->outputs[0];
}

static inline Value *wm_op1(Graph *g, const char *op, const char *name, Value *x)
{
    return gb_op1(g, op, WM_OPSET, name, x);
}

static inline Value *wm_op2(Graph *g, const char *op, const char *name, Value *a, Value *b)
{
    return gb_op2(g, op, WM_OPSET, name, a, b);
}

/* conv -> bn -> relu, the three named <name>, <name>_bn, <name>_relu. */
static inline Value *wm_cbr(Graph *g, const char *name, Value *x, int64_t cin, int64_t cout, int64_t k, int64_t group)
{
    char bn[96], relu[96];
    snprintf(bn, sizeof bn, "%s_bn", name);
    snprintf(relu, sizeof relu, "%s_relu", name);
    return wm_op1(g, "Relu", relu, wm_bn(g, bn, wm_conv(g, name, x, cin, cout, k, group), cout));
}

/* Gemm with B stored [units, features] (transB = 1, as PyTorch exports nn.Linear). */
static inline Value *wm_gemm(Graph *g, const char *name, Value *x, int64_t features, int64_t units)
{
    Value *w = wm_weight(g, wm_name(name, "weight"), 2, (int64_t[]){units, features}, features);
    Value *b = gb_param(g, wm_name(name, "bias"), 1, &units, -0.5f, 0.5f);
    Node *n = gb_node(g, "Gemm", WM_OPSET, name, 3, (Value *[]){x, w, b}, 1);
    gb_set_int(n, "transB", 1);
    return n->outputs[0];
}

/* MatMul "<name>" by a [din, dout] weight, then Add "<name>_add" of the bias. */
static inline Value *wm_linear(Graph *g, const char *name, Value *x, int64_t din, int64_t dout)
{
    char add[96];
    snprintf(add, sizeof add, "%s_add", name);
    Value *w = wm_weight(g, wm_name(name, "weight"), 2, (int64_t[]){din, dout}, din);
    Value *h = wm_op2(g, "MatMul", name, x, w);
    return wm_op2(g, "Add", add, h, gb_param(g, wm_name(name, "bias"), 1, &dout, -0.5f, 0.5f));
}

static inline Value *wm_layernorm(Graph *g, const char *name, Value *x, int64_t dim)
{
    Value *in[3] = {x, gb_param(g, wm_name(name, "scale"), 1, &dim, 0.5f, 1.5f),
                    gb_param(g, wm_name(name, "B"), 1, &dim, -0.5f, 0.5f)};
    Node *n = gb_node(g, "LayerNormalization", WM_OPSET, name, 3, in, 1);
    gb_set_int(n, "axis", -1);
    return n->outputs[0];
}

static inline Value *wm_concat(Graph *g, const char *name, int n, Value *const *in, int64_t axis)
{
    Node *c = gb_node(g, "Concat", WM_OPSET, name, n, in, 1);
    gb_set_int(c, "axis", axis);
    return c->outputs[0];
}

static inline Value *wm_reshape(Graph *g, const char *name, Value *x, int n, const int64_t *target)
{
    return wm_op2(g, "Reshape", name, x, gb_ints(g, wm_name(name, "shape"), n, target));
}

static inline Value *wm_transpose(Graph *g, const char *name, Value *x, int n, const int64_t *perm)
{
    Node *t = gb_node(g, "Transpose", WM_OPSET, name, 1, &x, 1);
    gb_set_ints(t, "perm", n, perm);
    return t->outputs[0];
}

/* ---- weights with a meaning ---- */

/* Multiplies every entry of a float initializer whose index along axis is unit. */
static inline void wm_scale_unit(Graph *g, const char *name, int axis, int64_t unit, float factor)
{
    Tensor *t = wm_find(g, name)->init;
    int64_t inner = 1;
    for (int i = axis + 1; i < t->rank; i++)
        inner *= t->dims[i];
    for (int64_t e = 0; e < tensor_numel(t); e++)
        if ((e / inner) % t->dims[axis] == unit)
            ((float *)t->data)[e] *= factor;
}

static inline void wm_zero_unit(Graph *g, const char *name, int axis, int64_t unit)
{
    wm_scale_unit(g, name, axis, unit, 0.0f);
}

/* Entry e of the float initializer holds e: its slices in the student say
 * where they came from (wm_kept_along). */
static inline void wm_number(Graph *g, const char *name)
{
    Tensor *t = wm_find(g, name)->init;
    for (int64_t e = 0; e < tensor_numel(t); e++)
        ((float *)t->data)[e] = (float)e;
}

/* For a tensor numbered in the teacher (teacher dims given): the teacher
 * indices along `axis` of the student's slices, checked on every entry so
 * that the student is a true selection. Returns how many there are. */
static inline int64_t wm_kept_along(const Graph *student, const char *name, int rank, const int64_t *teacher_dims,
                                    int axis, int64_t *kept)
{
    const Tensor *t = wm_find(student, name)->init;
    assert_non_null(t);
    assert_int_equal(t->rank, rank);
    int64_t inner = 1, s_inner = 1;
    for (int i = axis + 1; i < rank; i++) {
        inner *= teacher_dims[i];
        s_inner *= t->dims[i];
    }
    bool seen[256] = {false};
    assert_true(t->dims[axis] <= 256);
    for (int64_t e = 0; e < tensor_numel(t); e++) {
        int64_t src = (int64_t)((const float *)t->data)[e], at = src / inner % teacher_dims[axis];
        int64_t j = e / s_inner % t->dims[axis];
        if (!seen[j])
            kept[j] = at;
        else if (kept[j] != at)
            fail_msg("'%s' entry %lld came from index %lld along axis %d, its slice from %lld", name, (long long)e,
                     (long long)at, axis, (long long)kept[j]);
        seen[j] = true;
    }
    return t->dims[axis];
}

static inline void wm_assert_kept_along(const Graph *student, const char *name, int rank, const int64_t *teacher_dims,
                                        int axis, int64_t n, const int64_t *want)
{
    int64_t got[256];
    assert_true(teacher_dims[axis] <= 256);
    int64_t k = wm_kept_along(student, name, rank, teacher_dims, axis, got);
    if (k != n)
        fail_msg("'%s' keeps %lld along axis %d, expected %lld", name, (long long)k, axis, (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("'%s' axis %d slice %lld is teacher index %lld, expected %lld", name, axis, (long long)i,
                     (long long)got[i], (long long)want[i]);
}

/* The student's initializer holds exactly the teacher's entries at indices
 * idx[a][0..n[a]) along each axis a (idx[a] NULL: the whole axis). */
static inline void wm_assert_selected(const Graph *teacher, const Graph *student, const char *name,
                                      const int64_t *const *idx, const int64_t *n)
{
    const Tensor *t = wm_find(teacher, name)->init, *s = wm_find(student, name)->init;
    assert_int_equal(s->rank, t->rank);
    for (int a = 0; a < t->rank; a++)
        if (s->dims[a] != (idx[a] ? n[a] : t->dims[a]))
            fail_msg("'%s' dim %d is %lld, expected %lld", name, a, (long long)s->dims[a],
                     (long long)(idx[a] ? n[a] : t->dims[a]));
    for (int64_t e = 0; e < tensor_numel(s); e++) {
        int64_t rest = e, src = 0, stride = 1;
        for (int a = t->rank - 1; a >= 0; a--) {
            int64_t j = rest % s->dims[a];
            rest /= s->dims[a];
            src += (idx[a] ? idx[a][j] : j) * stride;
            stride *= t->dims[a];
        }
        if (memcmp((const float *)s->data + e, (const float *)t->data + src, sizeof(float)))
            fail_msg("'%s' entry %lld is not the teacher's entry %lld", name, (long long)e, (long long)src);
    }
}

/* The units of [0, size) not listed in drop (ascending); returns their count. */
static inline int64_t wm_complement(const int64_t *drop, int n_drop, int64_t size, int64_t *kept)
{
    int64_t n = 0;
    for (int64_t u = 0; u < size; u++) {
        bool dropped = false;
        for (int i = 0; i < n_drop; i++)
            dropped = dropped || drop[i] == u;
        if (!dropped)
            kept[n++] = u;
    }
    return n;
}

static inline void wm_assert_dims(const Graph *g, const char *name, int rank, const int64_t *dims)
{
    const Value *v = wm_find(g, name);
    const int64_t *have = v->init ? v->init->dims : NULL;
    assert_int_equal(v->shape.rank, rank);
    for (int i = 0; i < rank; i++) {
        if (v->shape.dims[i].value != dims[i] || (have && have[i] != dims[i]))
            fail_msg("'%s' dim %d is %lld, expected %lld", name, i, (long long)v->shape.dims[i].value,
                     (long long)dims[i]);
    }
}

/* Int entries of a node's constant input (a Reshape target, Split sizes, Slice bounds). */
static inline void wm_assert_ints(const Node *n, int slot, int count, const int64_t *want)
{
    const Tensor *t = n->inputs[slot]->init;
    assert_non_null(t);
    assert_int_equal(tensor_numel(t), count);
    for (int i = 0; i < count; i++)
        if (tensor_get_int(t, i) != want[i])
            fail_msg("'%s' input %d entry %d is %lld, expected %lld", n->name, slot, i, (long long)tensor_get_int(t, i),
                     (long long)want[i]);
}

/* ---- preparation and shrinking ---- */

/* What kdc runs on a teacher before any student pass (cli/main.c). */
static inline void wm_prepare(Model *m)
{
    Diag d = {{0}};
    Graph *g = m->graph;
    if (pass_infer_shapes(g, &d) || pass_fold_constants(g, &d) || pass_eliminate_dead(g, &d) ||
        pass_infer_shapes(g, &d) || ir_verify(m, &d))
        fail_msg("preparing the teacher: %s", d.msg);
}

/* Shrinks with o (and a report when r is not NULL); the result must verify. */
static inline Status wm_shrink(Model *m, const StudentOptions *o, WidthReport *r, Diag *d)
{
    Status st = pass_shrink_width_report(m->graph, o, r, d);
    if (st == KDC_OK && ir_verify(m, d))
        fail_msg("the student does not verify: %s", d->msg);
    return st;
}

static inline void wm_shrink_ok(Model *m, const StudentOptions *o, WidthReport *r)
{
    Diag d = {{0}};
    if (wm_shrink(m, o, r, &d))
        fail_msg("shrink: %s", d.msg);
}

static inline void wm_shrink_width(Model *m, double width, WidthReport *r)
{
    StudentOptions o = {.width = width};
    wm_shrink_ok(m, &o, r);
}

/* The group created (among others) by the node named `origin` with `size`
 * units, or -1. */
static inline int wm_group_of(const ChannelGroups *cg, const char *origin, int64_t size)
{
    for (int i = 0; i < channel_groups_count(cg); i++) {
        const Node *nodes[64];
        int n = channel_groups_origins(cg, i, nodes, 64);
        for (int k = 0; k < n; k++)
            if (nodes[k]->name && !strcmp(nodes[k]->name, origin) && channel_groups_get(cg, i)->size == size)
                return i;
    }
    return -1;
}

/* Scores for the group of (origin, size): units listed in `high` score 1, the others 0. */
typedef struct WmPick {
    const char *origin;
    int64_t size;
    int n_high;
    int64_t high[32];
} WmPick;

/* Shrinks with hand-given scores (the units each test wants kept). */
static inline void wm_shrink_picked(Model *m, const StudentOptions *o, int n_picks, const WmPick *picks, WidthReport *r)
{
    ChannelGroups *cg = NULL;
    Diag d = {{0}};
    if (channel_groups_build(m->graph, &cg, &d))
        fail_msg("channel groups: %s", d.msg);
    int n = channel_groups_count(cg);
    double **scores = calloc((size_t)n + 1, sizeof *scores);
    assert_non_null(scores);
    for (int i = 0; i < n; i++)
        assert_non_null(scores[i] = calloc((size_t)channel_groups_get(cg, i)->size, sizeof **scores));
    for (int k = 0; k < n_picks; k++) {
        int grp = wm_group_of(cg, picks[k].origin, picks[k].size);
        if (grp < 0)
            fail_msg("no channel group of %lld units created by '%s'", (long long)picks[k].size, picks[k].origin);
        for (int u = 0; u < picks[k].n_high; u++)
            scores[grp][picks[k].high[u]] = 1;
    }
    Status st = pass_shrink_width_scored(m->graph, cg, o, scores, r, &d);
    for (int i = 0; i < n; i++)
        free(scores[i]);
    free(scores);
    channel_groups_free(cg);
    if (st || ir_verify(m, &d))
        fail_msg("shrink: %s", d.msg);
}

/* ---- running ---- */

typedef struct WmOut {
    float *data;
    Shape shape;
    int64_t n;
} WmOut;

/* Runs g on batch `batch` with every float input uniform in [-1, 1) drawn
 * from `seed`; copies the float outputs (at most max) into outs. */
static inline int wm_run(Graph *g, int64_t batch, uint64_t seed, WmOut *outs, int max)
{
    Shape shapes[8];
    int n_in = 0;
    Plan *p = NULL;
    Diag d = {{0}};
    if (plan_input_shapes_for_batch(g, batch, shapes, 8, &n_in, &d) || plan_build(g, PLAN_INFERENCE, shapes, 0, &p, &d))
        fail_msg("plan: %s", d.msg);
    gb_rng_seed(seed);
    for (int k = 0; k < n_in; k++) {
        DType dt;
        Shape s;
        plan_input_info(p, k, &dt, &s);
        assert_int_equal(dt, DT_FLOAT);
        gb_fill_random(plan_input(p, k), shape_numel(&s), -1, 1);
    }
    if (plan_forward(p, &d))
        fail_msg("forward: %s", d.msg);
    int n_out = plan_n_outputs(p) < max ? plan_n_outputs(p) : max;
    for (int k = 0; k < n_out; k++) {
        DType dt;
        plan_output_info(p, k, &dt, &outs[k].shape);
        assert_int_equal(dt, DT_FLOAT);
        outs[k].n = shape_numel(&outs[k].shape);
        outs[k].data = malloc((size_t)outs[k].n * sizeof(float) + 1);
        assert_non_null(outs[k].data);
        memcpy(outs[k].data, plan_output(p, k), (size_t)outs[k].n * sizeof(float));
    }
    plan_free(p);
    return n_out;
}

static inline void wm_free_outs(WmOut *outs, int n)
{
    for (int k = 0; k < n; k++)
        free(outs[k].data);
}

/* Teacher and student on the same inputs: same output shapes, and values
 * within tol (tol 0: the same bits). */
static inline void wm_assert_same_outputs(Graph *teacher, Graph *student, int64_t batch, float tol)
{
    WmOut a[4], b[4];
    int na = wm_run(teacher, batch, 1234, a, 4), nb = wm_run(student, batch, 1234, b, 4);
    assert_int_equal(na, nb);
    for (int k = 0; k < na; k++) {
        assert_int_equal(a[k].shape.rank, b[k].shape.rank);
        for (int i = 0; i < a[k].shape.rank; i++)
            assert_int_equal(a[k].shape.dims[i].value, b[k].shape.dims[i].value);
        if (tol == 0 && memcmp(a[k].data, b[k].data, (size_t)a[k].n * sizeof(float)))
            fail_msg("output %d differs from the teacher's bits", k);
        for (int64_t i = 0; tol > 0 && i < a[k].n; i++)
            if (!(fabsf(a[k].data[i] - b[k].data[i]) <= tol))
                fail_msg("output %d entry %lld: teacher %.9g, student %.9g", k, (long long)i, a[k].data[i],
                         b[k].data[i]);
    }
    wm_free_outs(a, na);
    wm_free_outs(b, nb);
}

/* ---- teachers ---- */

/* The residual CNN's groups: which units zero_half makes irrelevant. */
static const int64_t wm_drop_a[] = {0, 3, 4, 7}, wm_drop_b[] = {1, 2, 4, 7}, wm_drop_s[] = {1, 2},
                     wm_drop_d[] = {0, 2, 3}, wm_drop_e[] = {2, 3, 5, 6};

/* Zeroes, for each listed unit, every weight that produces it (conv rows and
 * bias, and the BatchNormalization's beta and mean so BN maps 0 to 0). */
static inline void wm_zero_units(Graph *g, const char *const *convs, const char *const *bns, int n_layers,
                                 const int64_t *units, int n_units)
{
    for (int u = 0; u < n_units; u++) {
        for (int l = 0; l < n_layers; l++) {
            wm_zero_unit(g, wm_name(convs[l], "weight"), 0, units[u]);
            wm_zero_unit(g, wm_name(convs[l], "bias"), 0, units[u]);
        }
        for (int l = 0; bns && l < n_layers && bns[l]; l++) {
            wm_zero_unit(g, wm_name(bns[l], "B"), 0, units[u]);
            wm_zero_unit(g, wm_name(bns[l], "mean"), 0, units[u]);
        }
    }
}

/* x[N,3,8,8] -> stem (conv-bn-relu, C: group A) -> block: b1 conv-bn-relu (C:
 * group B), b2 conv-bn, Add with the stem (A), Relu -> depthwise dw conv-bn-
 * relu (A) -> SE gate: GlobalAveragePool, se1 1x1 conv (C/2: group S), Relu,
 * se2 1x1 conv (C), Sigmoid, Mul (A) -> side conv-relu (3C/4: group D) ->
 * Concat(gated, side) -> head 1x1 conv-relu (C: group E) -> pool, Flatten,
 * fc Gemm (5) = "logits". With zero_half (C = 8), the units wm_drop_* of
 * each group are zero in every weight that produces them. */
static inline void wm_rescnn(Model *m, int64_t C, bool zero_half)
{
    Graph *g = m->graph;
    gb_rng_seed(42);
    Value *x = gb_batch_input(g, "x", 4, (int64_t[]){1, 3, 8, 8});
    Value *a = wm_cbr(g, "stem", x, 3, C, 3, 1);
    Value *h = wm_cbr(g, "b1", a, C, C, 3, 1);
    h = wm_bn(g, "b2_bn", wm_conv(g, "b2", h, C, C, 3, 1), C);
    a = wm_op1(g, "Relu", "add_relu", wm_op2(g, "Add", "add", a, h));
    a = wm_cbr(g, "dw", a, C, C, 3, C);
    Value *s = wm_op1(g, "GlobalAveragePool", "se_pool", a);
    s = wm_op1(g, "Relu", "se_relu", wm_conv(g, "se1", s, C, C / 2, 1, 1));
    s = wm_op1(g, "Sigmoid", "se_gate", wm_conv(g, "se2", s, C / 2, C, 1, 1));
    a = wm_op2(g, "Mul", "se_mul", a, s);
    Value *side = wm_op1(g, "Relu", "side_relu", wm_conv(g, "side", a, C, 3 * C / 4, 3, 1));
    h = wm_concat(g, "cat", 2, (Value *[]){a, side}, 1);
    h = wm_op1(g, "Relu", "head_relu", wm_conv(g, "head", h, C + 3 * C / 4, C, 1, 1));
    h = wm_op1(g, "Flatten", "flatten", wm_op1(g, "GlobalAveragePool", "pool", h));
    Node *fc = gb_node_to(g, "Gemm", WM_OPSET, "fc", 3,
                          (Value *[]){h, wm_weight(g, "fc.weight", 2, (int64_t[]){5, C}, C),
                                      gb_param(g, "fc.bias", 1, (int64_t[]){5}, -0.5f, 0.5f)},
                          "logits");
    gb_set_int(fc, "transB", 1);
    gb_append_output(g, fc->outputs[0]);
    if (zero_half) {
        assert_int_equal(C, 8);
        wm_zero_units(g, (const char *[]){"stem", "b2", "dw", "se2"},
                      (const char *[]){"stem_bn", "b2_bn", "dw_bn", NULL}, 4, wm_drop_a, 4);
        wm_zero_units(g, (const char *[]){"b1"}, (const char *[]){"b1_bn"}, 1, wm_drop_b, 4);
        wm_zero_units(g, (const char *[]){"se1"}, NULL, 1, wm_drop_s, 2);
        wm_zero_units(g, (const char *[]){"side"}, NULL, 1, wm_drop_d, 3);
        wm_zero_units(g, (const char *[]){"head"}, NULL, 1, wm_drop_e, 4);
    }
    wm_prepare(m);
}

/* x[N,L,D] with D = H*dh -> q, k, v linear -> Reshape [0,L,H,dh] ->
 * Transpose -> q k^T * scale -> Softmax -> (.) v -> Transpose -> Reshape
 * [0,L,D] -> o linear -> + x = "y". */
static inline void wm_attention(Model *m, int64_t L, int64_t H, int64_t dh)
{
    Graph *g = m->graph;
    int64_t D = H * dh;
    gb_rng_seed(11);
    Value *x = gb_batch_input(g, "x", 3, (int64_t[]){1, L, D});
    Value *qkv[3];
    for (int i = 0; i < 3; i++) {
        char name[8], rs[16], tr[16];
        snprintf(name, sizeof name, "%c", "qkv"[i]);
        snprintf(rs, sizeof rs, "%c_heads", "qkv"[i]);
        snprintf(tr, sizeof tr, "%c_t", "qkv"[i]);
        Value *h = wm_reshape(g, rs, wm_linear(g, name, x, D, D), 4, (int64_t[]){0, L, H, dh});
        qkv[i] = wm_transpose(g, tr, h, 4, i == 1 ? (int64_t[]){0, 2, 3, 1} : (int64_t[]){0, 2, 1, 3});
    }
    float scale = 1.0f / sqrtf((float)dh);
    Value *s = wm_op2(g, "MatMul", "scores", qkv[0], qkv[1]);
    s = wm_op2(g, "Mul", "scaled", s, gb_init_copy(g, "scale", DT_FLOAT, 0, NULL, &scale));
    Node *sm = gb_node(g, "Softmax", WM_OPSET, "softmax", 1, &s, 1);
    gb_set_int(sm, "axis", -1);
    Value *o = wm_op2(g, "MatMul", "context", sm->outputs[0], qkv[2]);
    o = wm_transpose(g, "context_t", o, 4, (int64_t[]){0, 2, 1, 3});
    o = wm_reshape(g, "merge", o, 3, (int64_t[]){0, L, D});
    o = wm_linear(g, "o", o, D, D);
    Node *y = gb_node_to(g, "Add", WM_OPSET, "residual", 2, (Value *[]){x, o}, "y");
    gb_append_output(g, y->outputs[0]);
    wm_prepare(m);
}

/* x[N,8] -> inp linear (8: group R) -> ln1 -> fc1 linear (16: group H) ->
 * Relu -> fc2 linear (8, R) -> + ln1 -> ln2 -> out linear (3) = "y". The
 * units of fc1 listed in drop_h are zero in fc1's weight and bias. */
static inline void wm_mlp_ln(Model *m, int n_drop, const int64_t *drop_h)
{
    Graph *g = m->graph;
    gb_rng_seed(3);
    Value *x = gb_batch_input(g, "x", 2, (int64_t[]){1, 8});
    Value *r = wm_layernorm(g, "ln1", wm_linear(g, "inp", x, 8, 8), 8);
    Value *h = wm_op1(g, "Relu", "fc1_relu", wm_linear(g, "fc1", r, 8, 16));
    r = wm_op2(g, "Add", "residual", r, wm_linear(g, "fc2", h, 16, 8));
    r = wm_layernorm(g, "ln2", r, 8);
    Node *out = gb_node_to(g, "MatMul", WM_OPSET, "out", 2,
                           (Value *[]){r, wm_weight(g, "out.weight", 2, (int64_t[]){8, 3}, 8)}, "y");
    gb_append_output(g, out->outputs[0]);
    for (int i = 0; i < n_drop; i++) {
        wm_zero_unit(g, "fc1.weight", 1, drop_h[i]);
        wm_zero_unit(g, "fc1.bias", 0, drop_h[i]);
    }
    wm_prepare(m);
}

#endif
